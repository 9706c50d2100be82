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

Only the plain case is fitted here (see :func:`grid_applies`); a cell that
fails or does not converge is left to its own fit, which says why in the
search's table.
"""

import math
from typing import NamedTuple

import numpy as np

from ._backend import inverse_transposed, is_host_array
from ._estimator import OTGaussianMixture
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


def _log_posteriors(X, stack):
    """``log(pi_k N(x_i; mu_k, Sigma_k))`` and its normalisation within each
    cell: the plan (its rows per cell sum to one) and the rows' log-density
    per cell, ``(K, n)`` and ``(G, n)``; and the log-probabilities. Costs are
    taken about each component's own mean.

    The rows are features first, ``X.T``: the temporaries ``(K, d, n)`` then
    run along the samples, where numpy's loops are long (along ``d`` they
    cost ten times more on a few features)."""
    weights, means, _, precisions_chol, segments = stack
    d = X.shape[0]
    centred = X[None, :, :] - means[:, :, None]
    whitened = precisions_chol.swapaxes(1, 2) @ centred
    whitened *= whitened
    log_det = np.add.reduce(
        np.log(np.diagonal(precisions_chol, axis1=1, axis2=2)), axis=1
    )
    constant = np.log(weights) + log_det - d * _HALF_LOG_2PI
    log_prob = constant[:, None] - 0.5 * np.add.reduce(whitened, axis=1)
    top = np.maximum.reduceat(log_prob, segments.starts, axis=0)
    plan = np.exp(log_prob - top[segments.cell])
    norm = segments.sum(plan)
    plan /= norm[segments.cell]
    return plan, np.log(norm) + top, log_prob


def _scatter(X, plan):
    """Column masses (floored), weighted means and scatter matrices about
    them, each component's, of a plan ``(K, n)`` (``X`` features first)."""
    mass = np.add.reduce(plan, axis=1) + _FLOOR
    means = (plan @ X.T) / mass[:, None]
    centred = X[None, :, :] - means[:, :, None]
    weighted = centred * plan[:, None, :]
    return mass, means, weighted @ centred.swapaxes(1, 2)


class _Stack(NamedTuple):
    """The mixtures of the cells still iterating, stacked."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_chol: np.ndarray
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


def _m_step(X, plan, model, segments, reg_covar, previous):
    """The stacked M-step of ``plan`` (``X`` features first); and which cells
    it failed (a covariance without a finite value or not positive
    definite)."""
    d = X.shape[0]
    mass, means, scatter = _scatter(X, plan)
    start = None if previous is None else previous - reg_covar * np.eye(d)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        covariances = _model_step(mass, scatter, model, segments, start)
    covariances = covariances + reg_covar * np.eye(d)
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
    precisions_chol = inverse_transposed(lower)
    weights = mass / segments.sum(mass)[segments.cell]
    return _Stack(weights, means, covariances, precisions_chol, segments), failed


def fit_cells(X, labels, model, *, tol, convergence, max_iter, reg_covar):
    """Fit ``model`` for each number of components ``k`` of ``labels``
    (``{k: the tree's cut into k groups}``) from the M-step of its cut, by
    EM to the stopping rule of :func:`~sklearn_otmix._fit._fit_one`.

    Returns
    -------
    fits : dict
        ``{k: CellFit}`` for the cells that converged (to a degenerate
        mixture, it may be: the search judges); those that failed (a
        covariance without a value, or not positive definite) or did not
        converge within ``max_iter`` are left out, for their own fits to say
        what went wrong.
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
    X = np.ascontiguousarray(X.T)
    segments = Segments(counts)
    plan = np.concatenate([labels[k] == np.arange(k)[:, None] for k in counts]).astype(
        np.float64
    )
    stack, failed = _m_step(X, plan, model, segments, reg_covar, None)
    cells = np.asarray(counts)
    lower_bound = np.full(cells.size, -np.inf)
    fits = {}
    for n_iter in range(1, max_iter + 1):
        if failed.any():
            stack, cells, lower_bound = _kept(stack, ~failed, cells, lower_bound)
        if cells.size == 0:
            break
        posteriors = _log_posteriors(X, stack)
        plan, log_norm, _ = posteriors
        previous, lower_bound = lower_bound, np.add.reduce(log_norm, axis=1) / n
        if convergence == "absolute":
            threshold = tol
        else:
            threshold = tol * (1.0 / n + np.abs(lower_bound))
        converged = np.abs(lower_bound - previous) < threshold
        if convergence == "relative" and converged.any():
            # mclust's EM ends at the parameters its last E-step evaluated.
            fits.update(_finished(X, stack, converged, cells, n_iter, posteriors))
            plan = plan[~converged[stack.segments.cell]]
            stack, cells, lower_bound = _kept(stack, ~converged, cells, lower_bound)
            converged = np.zeros(cells.size, dtype=bool)
            if cells.size == 0:
                break
        stack, failed = _m_step(
            X, plan, model, stack.segments, reg_covar, stack.covariances
        )
        if converged.any():
            fits.update(_finished(X, stack, converged & ~failed, cells, n_iter))
            failed |= converged
    return fits


def _kept(stack, keep, cells, lower_bound):
    """The cells of ``stack`` where ``keep``, their numbers of components and
    lower bounds."""
    segments, components = stack.segments.kept(keep)
    arrays = (array[components] for array in stack[:4])
    return _Stack(*arrays, segments), cells[keep], lower_bound[keep]


def _finished(X, stack, done, cells, n_iter, posteriors=None):
    """The :class:`CellFit` of the cells where ``done``, their criteria's
    terms evaluated at their mixtures (``posteriors``: those of the whole
    ``stack``, where the E-step has just formed them)."""
    components = done[stack.segments.cell]
    stack, cells, _ = _kept(stack, done, cells, cells)
    if cells.size == 0:
        return {}
    if posteriors is None:
        plan, log_norm, log_prob = _log_posteriors(X, stack)
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
