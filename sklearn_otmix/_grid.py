"""The cells of one covariance model fitted together: mclust's grid on small
data.

On a few hundred rows one EM iteration of one cell is a few dozen numpy
calls on arrays of a few thousand entries, and the calls' overhead is most of
its time. Here the components of every number of components of one model
are stacked along one axis, each cell a segment of it, so that one call
serves all cells: the E-step normalises each segment's columns on its own
(``ufunc.reduceat``), the M-step shares a model's equal volumes, shapes or
orientations within each segment, and a cell leaves the stack when it has
converged. Each cell runs the iterations that its own fit would run, from
the same start (the cut of mclust's merge tree), to the same stopping rule;
they differ from one fit at a time only by the round-off of the order of the
sums.

Only the plain case is fitted here (see :func:`grid_applies`). A cell whose
covariance has no value or is not positive definite fails with the error of
its own fit; one that does not converge is left to its own fit, which says
so in the search's table.
"""

import math
from typing import NamedTuple

import numpy as np

from ._backend import is_host_array, moment_rows
from ._estimator import OTGaussianMixture
from ._gaussian import CENTRE_RADIUS, _upper_pairs
from ._models import Segments, model_covariances
from ._noise import noise_on

#: The most rows fitted here: above, the blocks of one fit at a time take
#: less time (a 4-component mixture in 5 dimensions, the 126 cells: 6.3 s
#: stacked against 10.5 s one at a time at 1,000 rows, 9.7 against 11.5 at
#: 2,000, 19.8 against 13.4 at 5,000).
GRID_ROWS = 2000
#: ``log(2 pi) / 2``.
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
#: The floor on a column's mass (:func:`~sklearn_otmix._gaussian.gaussian_mle`).
_FLOOR = 10 * np.finfo(np.float64).eps
#: The least sum of a cell's ``exp(log_prob - top)`` with each row's largest
#: log-probability over all cells as ``top``: far above float64's subnormals,
#: where it would lose digits.
_TINY = 1e-280


def grid_applies(template, X, sample_weight, noise):
    """Whether the cells of ``template`` on ``X`` are fitted here: mclust's
    EM (an :class:`~sklearn_otmix.OTGaussianMixture` with the hierarchical
    start, ``reg=1``, free weights, no prior, noise, bounds or given start),
    numpy float64 rows without sample weights, at most :data:`GRID_ROWS`."""
    params = template.get_params()
    plain = {
        "init_params": "hierarchical",
        "n_init": 1,
        "reg": 1.0,
        "reg_m": 0.0,
        "warm_start": False,
        "verbose": 0,
    }
    unset = (
        "prior",
        "target_weights",
        "weight_bounds",
        "weights_init",
        "means_init",
        "precisions_init",
    )
    return (
        type(template) is OTGaussianMixture
        and all(params[key] == value for key, value in plain.items())
        and all(params[key] is None for key in unset)
        and not noise_on(params["noise"])
        and not noise_on(noise)
        and params["max_iter"] >= 1
        and sample_weight is None
        and X.shape[0] <= GRID_ROWS
        and is_host_array(X)
        and X.dtype == np.float64
    )


class CellFit(NamedTuple):
    """One cell's fit: its mixture, iterations and criteria's terms."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    n_iter: int
    log_likelihood: float
    entropy: float


class _Moments(NamedTuple):
    """The rows' moments about the data's mean ``c``, ``T = [1; y; y_a y_b
    (a <= b)]`` with ``y = x - c`` (shape ``(m, n)``), formed once: every
    E-step's log-densities and every M-step's statistics are then one matrix
    product with them (as :class:`~sklearn_otmix._gaussian.GaussianCost`'s
    are). Where the direct forms make ``(K, d, n)`` temporaries and a small
    product per component, on a few hundred rows these cost a third as much.

    The expanded forms round to about ``eps |y|^2 / sigma_k^2`` and lose
    ``|mu_k - c|^2 / sigma_k^2`` to cancellation in the scatter. About the
    data's mean, which is the mixture's mean in every cell (the weights'
    average of the means, in mclust's EM), that is a few digits of sixteen
    where a component's mean is a few of its standard deviations away; a
    component more than :data:`~sklearn_otmix._gaussian.CENTRE_RADIUS` of
    them away (one collapsing onto a few rows) is taken in the direct forms,
    about its own mean, as :func:`~sklearn_otmix._gaussian.gaussian_cost_of`
    centres its own group.
    """

    centre: np.ndarray
    rows: np.ndarray
    flat: np.ndarray
    halves: np.ndarray
    position: np.ndarray

    @classmethod
    def of(cls, X):
        centre = X.mean(axis=0)
        flat, diagonal, position = _upper_pairs(X.shape[1])
        return cls(
            centre,
            moment_rows(X, centre, "upper"),
            flat,
            np.where(diagonal, 0.5, 1.0),
            position,
        )

    def about(self, offsets):
        """The rows about each of ``offsets`` (means less the centre):
        ``(k, d, n)``."""
        d = self.centre.shape[0]
        return self.rows[None, 1 : 1 + d, :] - offsets[:, :, None]


def _log_posteriors(moments, stack):
    """``log(pi_k N(x_i; mu_k, Sigma_k))`` and its normalisation within each
    cell: the plan (its rows per cell sum to one) and the rows' log-density
    per cell, ``(K, n)`` and ``(G, n)``; and the log-probabilities.

    The negative log-density of component ``k`` is ``w_k^T T`` with
    ``w_k = [d/2 log(2 pi) - log det L_k + nu_k^T Lambda_k nu_k / 2;
    -Lambda_k nu_k; Lambda_k,ab (halved on the diagonal)]``, ``nu_k =
    mu_k - c`` (see :class:`_Moments`), and the log-probabilities are
    ``log pi_k - w_k^T T``, one product for all components; with
    ``(x - mu_k)^T Lambda_k (x - mu_k) / 2`` in place of the quadratic part
    where ``nu_k^T Lambda_k nu_k`` exceeds ``CENTRE_RADIUS**2``."""
    weights, means, _, precisions, log_det, segments = stack
    K, d = means.shape
    offsets = means - moments.centre
    linear = np.einsum("kab,kb->ka", precisions, offsets)
    constant = np.log(weights) + log_det - d * _HALF_LOG_2PI
    quadratic = precisions.reshape(K, d * d)[:, moments.flat] * moments.halves
    # nu_k^T Lambda_k nu_k: the squared distance of the centre in k's metric.
    distance = np.add.reduce(offsets * linear, axis=1)
    coefficients = np.concatenate(
        [(constant - 0.5 * distance)[:, None], linear, -quadratic], axis=1
    )
    log_prob = coefficients @ moments.rows
    far = ~(distance <= CENTRE_RADIUS**2)
    if far.any():
        centred = moments.about(offsets[far])
        squares = np.einsum("kan,kab,kbn->kn", centred, precisions[far], centred)
        log_prob[far] = constant[far, None] - 0.5 * squares
    # Each row's largest log-probability over all cells, or where a cell's
    # would underflow with it, over each cell's own.
    top = np.maximum.reduce(log_prob, axis=0)
    plan = np.exp(log_prob - top)
    norm = segments.indicator @ plan
    if not norm.min() >= _TINY:
        top = np.maximum.reduceat(log_prob, segments.starts, axis=0)
        plan = np.exp(log_prob - top[segments.cell])
        norm = segments.indicator @ plan
    plan /= norm[segments.cell]
    return plan, np.log(norm) + top, log_prob


def _scatter(moments, plan):
    """Column masses (floored), weighted means and scatter matrices about
    them, each component's, of a plan ``(K, n)``: from its sums of the
    moments (see :class:`_Moments`), or about its own mean where those
    would lose more than ``CENTRE_RADIUS**2`` to cancellation in a
    variance."""
    d = moments.centre.shape[0]
    sums = plan @ moments.rows.T
    mass = sums[:, 0] + _FLOOR
    offsets = sums[:, 1 : 1 + d] / mass[:, None]
    second = sums[:, 1 + d :][:, moments.position].reshape(-1, d, d)
    centre = mass[:, None] * offsets
    scatter = second - centre[:, :, None] * offsets[:, None, :]
    lost = centre * offsets
    kept = lost <= CENTRE_RADIUS**2 * np.einsum("kii->ki", scatter)
    far = ~np.logical_and.reduce(kept, axis=1)
    if far.any():
        centred = moments.about(offsets[far])
        weighted = centred * plan[far, None, :]
        scatter[far] = weighted @ centred.swapaxes(1, 2)
    return mass, moments.centre + offsets, scatter


class _Stack(NamedTuple):
    """The mixtures of the cells still iterating, stacked: with each
    component's precision matrix ``Lambda_k`` and ``log det L_k``
    (``L_k L_k^T = Lambda_k``, that is ``-log det`` of the covariance's
    Cholesky factor)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions: np.ndarray
    log_det: np.ndarray
    segments: Segments


def _model_step(mass, scatter, model, segments, start):
    """:func:`~sklearn_otmix._models.model_covariances` of the stack; where
    a decomposition fails (a cell without finite values), cell by cell, NaN
    for those that fail."""
    try:
        return model_covariances(mass, scatter, model, start=start, segments=segments)
    except np.linalg.LinAlgError:
        pass
    covariances = np.full_like(scatter, np.nan)
    for first, size in zip(segments.starts, segments.sizes):
        part = slice(first, first + size)
        try:
            covariances[part] = model_covariances(
                mass[part],
                scatter[part],
                model,
                start=None if start is None else start[part],
                segments=Segments([size]),
            )
        except np.linalg.LinAlgError:
            pass
    return covariances


def _m_step(moments, plan, model, segments, reg_covar, previous):
    """The stacked M-step of ``plan``; and which cells it failed (a
    covariance without a finite value or not positive definite)."""
    d = moments.centre.shape[0]
    mass, means, scatter = _scatter(moments, plan)
    ridge = reg_covar * np.eye(d)
    start = previous if previous is None or not reg_covar else previous - ridge
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        covariances = _model_step(mass, scatter, model, segments, start)
    if reg_covar:
        covariances = covariances + ridge
    failed = ~np.logical_and.reduceat(
        np.isfinite(covariances).all(axis=(1, 2)), segments.starts
    )
    safe = covariances
    if failed.any():
        safe = np.where(failed[segments.cell, None, None], np.eye(d), covariances)
    try:
        lower = np.linalg.cholesky(safe)
    except np.linalg.LinAlgError:
        lower = np.empty_like(safe)
        for k, matrix in enumerate(safe):
            try:
                lower[k] = np.linalg.cholesky(matrix)
            except np.linalg.LinAlgError:
                failed[segments.cell[k]] = True
                lower[k] = np.eye(d)
    inverse = np.linalg.inv(lower)
    precisions = inverse.swapaxes(1, 2) @ inverse
    log_det = -np.add.reduce(np.log(np.einsum("kii->ki", lower)), axis=1)
    weights = mass / segments.sum(mass)[segments.cell]
    stack = _Stack(weights, means, covariances, precisions, log_det, segments)
    return stack, failed


def fit_cells(X, labels, model, *, tol, convergence, max_iter, reg_covar):
    """Fit ``model`` for each number of components ``k`` of ``labels``
    (``{k: the tree's cut into k groups}``) from the M-step of its cut, by
    EM to the stopping rule of :func:`~sklearn_otmix._fit._fit_one`.

    Returns
    -------
    fits : dict
        ``{k: CellFit}`` for the cells that converged (to a degenerate
        mixture, it may be: the search judges), ``{k: None}`` for those that
        failed (a covariance without a value, or not positive definite);
        those that did not converge within ``max_iter`` are left out, for
        their own fits to say so.
    """
    settings = dict(
        tol=tol, convergence=convergence, max_iter=max_iter, reg_covar=reg_covar
    )
    counts = sorted(labels)
    if 1 in counts and len(counts) > 1:
        # One component apart: there Equal and Variable are the same (as in
        # model_covariances).
        fits = fit_cells(X, {1: labels[1]}, model, **settings)
        rest = {k: labels[k] for k in counts if k != 1}
        return {**fits, **fit_cells(X, rest, model, **settings)}
    n = X.shape[0]
    moments = _Moments.of(X)
    segments = Segments(counts)
    plan = np.concatenate([labels[k] == np.arange(k)[:, None] for k in counts]).astype(
        np.float64
    )
    stack, failed = _m_step(moments, plan, model, segments, reg_covar, None)
    cells = np.asarray(counts)
    lower_bound = np.full(cells.size, -np.inf)
    fits = {}
    for n_iter in range(1, max_iter + 1):
        if failed.any():
            for k in cells[failed]:
                fits.setdefault(int(k), None)
            stack, cells, lower_bound = _kept(stack, ~failed, cells, lower_bound)
        if cells.size == 0:
            break
        posteriors = _log_posteriors(moments, stack)
        plan, log_norm, _ = posteriors
        previous, lower_bound = lower_bound, np.add.reduce(log_norm, axis=1) / n
        if convergence == "absolute":
            threshold = tol
        else:
            threshold = tol * (1.0 / n + np.abs(lower_bound))
        converged = np.abs(lower_bound - previous) < threshold
        if convergence == "relative" and converged.any():
            # mclust's EM ends at the parameters its last E-step evaluated.
            fits.update(_finished(moments, stack, converged, cells, n_iter, posteriors))
            plan = plan[~converged[stack.segments.cell]]
            stack, cells, lower_bound = _kept(stack, ~converged, cells, lower_bound)
            converged = np.zeros(cells.size, dtype=bool)
            if cells.size == 0:
                break
        stack, failed = _m_step(
            moments, plan, model, stack.segments, reg_covar, stack.covariances
        )
        if converged.any():
            fits.update(_finished(moments, stack, converged & ~failed, cells, n_iter))
            failed |= converged
    return fits


def _kept(stack, keep, cells, lower_bound):
    """The cells of ``stack`` where ``keep``, their numbers of components and
    lower bounds."""
    segments, components = stack.segments.kept(keep)
    arrays = (array[components] for array in stack[:5])
    return _Stack(*arrays, segments), cells[keep], lower_bound[keep]


def _finished(moments, stack, done, cells, n_iter, posteriors=None):
    """The :class:`CellFit` of the cells where ``done``, their criteria's
    terms evaluated at their mixtures (``posteriors``: those of the whole
    ``stack``, where the E-step has just formed them)."""
    components = done[stack.segments.cell]
    stack, cells, _ = _kept(stack, done, cells, cells)
    if cells.size == 0:
        return {}
    if posteriors is None:
        plan, log_norm, log_prob = _log_posteriors(moments, stack)
    else:
        plan, log_norm, log_prob = posteriors
        plan, log_norm, log_prob = (
            plan[components],
            log_norm[done],
            log_prob[components],
        )
    segments = stack.segments
    # z log z is 0 where z is.
    z_log_z = np.where(plan > 0, plan * (log_prob - log_norm[segments.cell]), 0.0)
    entropy = -segments.sum(np.add.reduce(z_log_z, axis=1))
    log_likelihood = np.add.reduce(log_norm, axis=1)
    fits = {}
    for g, k in enumerate(cells):
        part = slice(segments.starts[g], segments.starts[g] + k)
        fits[int(k)] = CellFit(
            stack.weights[part],
            stack.means[part],
            stack.covariances[part],
            n_iter,
            float(log_likelihood[g]),
            float(entropy[g]),
        )
    return fits
