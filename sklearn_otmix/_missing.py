r"""Gaussian costs and statistics of rows with missing entries (NaN).

Under missing at random, the cost of row ``i`` for component ``k`` is the
negative log-density of its observed entries ``o``,

.. math::

    C_{ik} = -\log \mathcal{N}(x_{i,o}; \mu_{k,o}, \Sigma_{k,oo}),

and the M-step reads the completed rows: each missing block replaced by its
conditional mean ``E[x_m | x_o, k]``, its conditional covariance added to
the scatter (Ghahramani & Jordan, 1994).

Nothing here factorises ``Sigma_{k,oo}``, whose size is the number of
*observed* entries and which differs from row to row. With the precision
``Lambda_k = Sigma_k^{-1}`` and ``y`` the row about ``mu_k`` with its
missing entries set to zero, ``b = Lambda_k y`` and ``M = Lambda_{k,mm}`` (the
missing rows and columns),

.. math::

    (x_o - \mu_o)^\top \Sigma_{oo}^{-1} (x_o - \mu_o)
        = y^\top \Lambda y - b_m^\top M^{-1} b_m, \qquad
    \log\det \Sigma_{oo} = \log\det \Sigma + \log\det M,

    E[x_m | x_o] = \mu_m - M^{-1} b_m, \qquad
    \operatorname{Cov}[x_m | x_o] = M^{-1}:

one complete-data quadratic form and a system of the size of the *missing*
block, which rows with the same number of missing entries solve together
(:func:`_by_missing_count`), whatever their patterns. With ``diag`` and
``spherical`` covariances the entries are independent: the observed ones'
terms alone, and the missing ones completed by the means.

Rows of one missing pattern share their block's inverse (whole columns
missing in blocks of rows cost a few inverses). Written once over the array
namespace of the rows: the missing entries' positions are gathered with
``take`` on flat indices; numpy writes the completions at their positions,
other namespaces through products by 0/1 matrices (the array API has no
scatter; see :mod:`sklearn_otmix._backend`).
"""

import math
from typing import NamedTuple

import numpy as np

from ._backend import (
    asarray,
    embedded_sums,
    entries_added,
    fill_where,
    row_dots,
    in_rows,
    namespace_of,
    on_device_of,
    rows_added,
    to_numpy,
)
from ._noise import noise_on
from ._transport import row_softmax
from ._gaussian import (
    Statistics,
    _floored,
    log_det_cholesky,
    precisions_from_cholesky,
)

_LOG_2PI = math.log(2 * math.pi)


def _by_missing_count(missing):
    """The rows with missing entries, grouped by how many: for each count
    ``m``, the rows (shape (n_m,)) and their missing columns (shape (n_m, m),
    ascending); numpy, from the host mask ``missing``."""
    counts = np.count_nonzero(missing, axis=1)
    groups = []
    for m in np.unique(counts[counts > 0]):
        rows = np.flatnonzero(counts == m)
        columns = np.nonzero(missing[rows])[1].reshape(rows.size, m)
        groups.append((rows, columns))
    return groups


class _Group(NamedTuple):
    """Rows with the same number ``m`` of missing entries: their indices and
    missing columns (on the host); on the rows' device, their indices, the
    flat indices of their missing ``(m, m)`` blocks in a ``(d, d)`` matrix
    and of their missing entries in the block's ``(n_rows, d)`` rows, ``E``
    (n_m, m, d), which puts a row's ``m`` values in its missing columns, and
    the distinct patterns among them: each row's, and each pattern's
    ``(m, m)`` block (rows of one pattern share ``Lambda_mm``, factorised
    once: few patterns, as whole columns missing in blocks of rows, cost
    little)."""

    host_rows: np.ndarray
    host_columns: np.ndarray
    rows: object
    pairs: object
    entries: object
    spread: object
    pattern: object
    pattern_pairs: object


def _groups(missing, like):
    """:func:`_by_missing_count` as :class:`_Group`s on ``like``'s device."""
    xp = namespace_of(like)
    d = missing.shape[1]
    groups = []
    for rows, columns in _by_missing_count(missing):
        patterns, pattern = np.unique(columns, axis=0, return_inverse=True)
        # The missing entries' flat indices in the block's (n_rows, d) rows.
        entries = (rows[:, None] * d + columns).ravel()
        spread = (columns[:, :, None] == np.arange(d)).astype(np.float64)
        groups.append(
            _Group(
                rows,
                columns,
                asarray(rows, xp, **on_device_of(like)),
                asarray(_pairs(columns, d), xp, **on_device_of(like)),
                asarray(entries, xp, **on_device_of(like)),
                asarray(spread, xp, dtype=like.dtype, **on_device_of(like)),
                asarray(pattern.ravel(), xp, **on_device_of(like)),
                asarray(_pairs(patterns, d), xp, **on_device_of(like)),
            )
        )
    return groups


def _pairs(columns, d):
    """The flat indices in a ``(d, d)`` matrix of the ``(m, m)`` blocks of
    ``columns`` (n, m): shape (n m m,)."""
    return (columns[:, :, None] * d + columns[:, None, :]).ravel()


def _precisions(precisions_chol, form):
    """``Lambda_k`` of shape (n_components, d, d) for ``full``, (1, d, d) for
    ``tied`` (every component's), the diagonal (n_components, d) for
    ``diag`` and (n_components, 1) for ``spherical``."""
    precisions = precisions_from_cholesky(precisions_chol, form)
    if form == "tied":
        return precisions[None, ...]
    if form == "spherical":
        return precisions[:, None]
    return precisions


def _inverse_and_log_det(matrices):
    """The inverses and log-determinants of positive definite matrices
    ``(..., m, m)``: closed forms (the adjugate) up to ``m = 3`` (the rows
    with a few entries missing, most of them where few are), else
    Gauss-Jordan elimination over the whole batch at once (LAPACK, through
    numpy, costs a call per small matrix)."""
    xp = namespace_of(matrices)
    m = matrices.shape[-1]
    if m == 1:
        return 1.0 / matrices, xp.log(matrices[..., 0, 0])
    if m == 2:
        a, b, c = matrices[..., 0, 0], matrices[..., 0, 1], matrices[..., 1, 1]
        determinant = a * c - b * b
        adjugate = xp.stack(
            [xp.stack([c, -b], axis=-1), xp.stack([-b, a], axis=-1)], axis=-2
        )
        return adjugate / determinant[..., None, None], xp.log(determinant)
    if m == 3:
        # The cofactors of a symmetric 3 x 3 matrix.
        a, b, c = matrices[..., 0, 0], matrices[..., 0, 1], matrices[..., 0, 2]
        e, f, i = matrices[..., 1, 1], matrices[..., 1, 2], matrices[..., 2, 2]
        c00, c01, c02 = e * i - f * f, c * f - b * i, b * f - c * e
        c11, c12, c22 = a * i - c * c, b * c - a * f, a * e - b * b
        determinant = a * c00 + b * c01 + c * c02
        adjugate = xp.stack(
            [
                xp.stack([c00, c01, c02], axis=-1),
                xp.stack([c01, c11, c12], axis=-1),
                xp.stack([c02, c12, c22], axis=-1),
            ],
            axis=-2,
        )
        return adjugate / determinant[..., None, None], xp.log(determinant)
    # Gauss-Jordan elimination, all the matrices at once (positive definite:
    # no pivoting), its pivots the log-determinant.
    inverse = xp.asarray(matrices, copy=True)
    log_det = 0.0
    for k in range(m):
        pivot = xp.asarray(inverse[..., k, k], copy=True)
        log_det = log_det + xp.log(pivot)
        row = inverse[..., k, :] / pivot[..., None]
        column = xp.asarray(inverse[..., :, k], copy=True)
        inverse -= column[..., :, None] * row[..., None, :]
        inverse[..., k, :] = row
        inverse[..., :, k] = -column / pivot[..., None]
        inverse[..., k, k] = 1.0 / pivot
    return inverse, log_det


class _Completion:
    """What the costs and the statistics of a block share: the rows about
    each component's mean with the missing entries completed, ``x_hat - mu_k``
    (n_components, n_rows, n_features), the costs (n_components, n_rows),
    and each group's conditional covariances."""

    def __init__(self, x, means, precisions_chol, form):
        xp = namespace_of(x)
        n_components, d = means.shape
        missing = xp.isnan(x)
        host_missing = to_numpy(missing)
        self.form = form
        self.groups = _groups(host_missing, x)
        observed = xp.astype(~missing, x.dtype)
        centred = fill_where(x[None, ...] - means[:, None, :], missing, 0.0)
        precisions = _precisions(precisions_chol, form)
        constant = 0.5 * _LOG_2PI * xp.sum(observed, axis=1)
        if form in ("diag", "spherical"):
            # Entries independent: the missing ones complete to the means
            # (centred 0 there), with their variances as conditional ones.
            precisions = xp.broadcast_to(precisions, (n_components, d))
            quadratic = xp.sum(centred * centred * precisions[:, None, :], axis=2)
            log_det = 0.5 * (xp.log(precisions) @ xp.matrix_transpose(observed))
            self.cost = 0.5 * quadratic + constant[None, :] - log_det
            self.variances = 1.0 / precisions
            self.missing = xp.astype(missing, x.dtype)
            self.centred = centred
            return
        # b = Lambda_k y, and y^T Lambda_k y.
        products = centred @ precisions
        quadratic = row_dots(products, centred)
        log_det = log_det_cholesky(precisions_chol, form, d)
        cost = 0.5 * quadratic + constant[None, :] - xp.reshape(log_det, (-1, 1))
        flat = xp.reshape(precisions, (precisions.shape[0], d * d))
        flat_products = xp.reshape(products, (n_components, -1))
        self.conditional = []
        corrections, shifts = [], []
        for group in self.groups:
            n_m, m = group.spread.shape[:2]
            # M = Lambda_mm of each pattern (., n_patterns, m, m), inverted
            # once, and b_m (n_components, n_m, m).
            n_patterns = group.pattern_pairs.shape[0] // (m * m)
            block = xp.reshape(
                xp.take(flat, group.pattern_pairs, axis=1),
                (flat.shape[0], n_patterns, m, m),
            )
            covariance, log_det_block = _inverse_and_log_det(block)
            covariance = xp.take(covariance, group.pattern, axis=1)
            log_det_block = xp.take(log_det_block, group.pattern, axis=1)
            b = xp.reshape(
                xp.take(flat_products, group.entries, axis=1), (n_components, n_m, m)
            )
            solved = (covariance @ b[..., None])[..., 0]
            correction = 0.5 * (log_det_block - xp.sum(b * solved, axis=2))
            corrections.append((group.host_rows, correction))
            # E[x_m | x_o] - mu_m = -M^{-1} b_m, in the missing columns.
            shifts.append((group.host_rows, group.host_columns, -solved, group.spread))
            self.conditional.append(covariance)
        self.cost = rows_added(cost, corrections)
        self.centred = entries_added(centred, shifts)


def missing_cost(x, means, precisions_chol, form):
    """``-log N(x_o; mu_o, Sigma_oo)`` of each row ``x`` (NaN where missing)
    for each component: shape (n_rows, n_components).

    Parameters
    ----------
    x : array of shape (n_rows, n_features)
        At least one observed entry per row.
    means : array of shape (n_components, n_features)
    precisions_chol : array
        The precisions' Cholesky factors in the storage ``form``.
    form : {'full', 'tied', 'diag', 'spherical'}
    """
    cost = _Completion(x, means, precisions_chol, form).cost
    return namespace_of(cost).matrix_transpose(cost)


def missing_statistics(x, plan, means, precisions_chol, form):
    """The :class:`~sklearn_otmix._gaussian.Statistics` of ``plan`` on the
    completed rows, about the components' current means: ``sum_i P_ik
    (x_hat_ik - mu_k)`` and ``sum_i P_ik [(x_hat_ik - mu_k)(x_hat_ik -
    mu_k)^T + Cov_ik]``, where ``x_hat_ik`` is row ``i`` with its missing
    entries replaced by their conditional mean under component ``k`` and
    ``Cov_ik`` their conditional covariance (zero on the observed entries).

    Parameters
    ----------
    x : array of shape (n_rows, n_features)
    plan : array of shape (n_rows, n_components)
    means, precisions_chol, form
        The mixture that completes the rows (see :func:`missing_cost`).
    """
    completion = _Completion(x, means, precisions_chol, form)
    return completion_statistics(completion, plan, means)


def completion_statistics(completion, plan, means, centres=None):
    """:func:`missing_statistics` of a :class:`_Completion`, about ``centres``
    (default: the ``means`` that completed the rows)."""
    xp = namespace_of(plan)
    n_components, d = means.shape
    centred, form = completion.centred, completion.form
    if centres is None:
        centres = means
    else:
        centred = centred - (centres - means)[:, None, :]
    mass = xp.sum(plan, axis=0)
    weights = in_rows(xp.matrix_transpose(plan))  # (n_components, n_rows)
    weighted = centred * weights[:, :, None]
    first = (weights[:, None, :] @ centred)[:, 0, :]
    if form in ("diag", "spherical"):
        second = xp.sum(weighted * centred, axis=1)
        second = second + (weights @ completion.missing) * completion.variances
        return Statistics(mass, first, second, centres, form)
    second = xp.matrix_transpose(weighted) @ centred
    for group, covariance in zip(
        completion.groups, completion.conditional, strict=True
    ):
        # sum_i P_ik E_i^T Cov_ik E_i: each row's weighted conditional
        # covariance in its missing block.
        weight = xp.take(weights, group.rows, axis=1)
        second = second + embedded_sums(
            weight[:, :, None, None] * covariance, group.spread, group.pairs, d
        )
    if form == "tied":
        second = xp.sum(second, axis=0)
    return Statistics(mass, first, second, centres, form)


class MissingCost(NamedTuple):
    """The costs of a mixture on rows with missing entries, with the
    interface of :class:`~sklearn_otmix._gaussian.GaussianCost`: a block's
    "moments" are its :class:`_Completion`, which gives both its costs and
    its statistics (about the components' current means)."""

    means: np.ndarray
    precisions_chol: np.ndarray
    form: str

    def working(self, array):
        return array

    def moments(self, x):
        return _Completion(x, self.means, self.precisions_chol, self.form)

    def cost(self, completion):
        return completion.cost.T

    def cost_of(self, x):
        return self.cost(self.moments(x))

    def moment_sums(self, completion, plan, row_mass):
        return completion_statistics(completion, plan, self.means)

    def statistics(self, statistics):
        return statistics

    def exact_statistics(self, x, plan):
        """The statistics of a block about each component's weighted mean of
        its completed rows there (the two-pass scheme of
        :func:`~sklearn_otmix._step.e_step`)."""
        completion = self.moments(x)
        about_means = completion_statistics(completion, plan, self.means)
        mass = _floored(about_means.mass)
        centres = self.means + about_means.first / mass[:, None]
        return completion_statistics(completion, plan, self.means, centres)


def missing_refusal(noise, prior):
    """Why a fit with these ``noise`` and ``prior`` settings takes no missing
    entries (a sentence for the error), or None where it takes them."""
    if noise_on(noise):
        return (
            f"with noise={noise!r} it does not: the noise component's "
            "hypervolume is that of complete rows (set noise=False to fit with "
            "missing entries)"
        )
    if prior is not None:
        return (
            f"with prior={prior!r} it does not: mclust's prior is computed from "
            "complete rows (set prior=None to fit with missing entries)"
        )
    return None


def conditional_fill(x, mixture, form, rng=None):
    """``x`` with each missing entry filled under the fitted ``mixture``: by
    ``E[x_m | x_o] = sum_k P(k | x_o) E_k[x_m | x_o]`` (the posterior given
    the observed entries), or, with a numpy ``rng``, by a draw from the
    conditional (a component from the posterior, then a Gaussian draw from
    its conditional; multiple imputation).
    """
    xp = namespace_of(x)
    missing = xp.isnan(x)
    if not bool(xp.any(missing)):
        return x
    completion = _Completion(x, mixture.means, mixture.precisions_chol, form)
    log_prob = xp.log(mixture.weights)[None, :] - xp.matrix_transpose(completion.cost)
    posterior = xp.matrix_transpose(row_softmax(log_prob)[0])
    completed = completion.centred + mixture.means[:, None, :]
    if rng is None:
        filled = xp.sum(posterior[:, :, None] * completed, axis=0)
    else:
        filled = asarray(
            _draw(completion, to_numpy(posterior), to_numpy(completed), rng),
            xp,
            dtype=x.dtype,
            **on_device_of(x),
        )
    return xp.where(missing, filled, x)


def _draw(completion, posterior, completed, rng):
    """A draw of each row's missing entries (numpy): a component from its
    ``posterior`` (n_components, n_rows), then its conditional Gaussian
    about ``completed`` (the conditional means, n_components, n_rows, d)."""
    n_components, n_rows, d = completed.shape
    cumulative = np.cumsum(posterior, axis=0)
    uniform = rng.uniform(size=n_rows) * cumulative[-1]
    component = np.minimum((cumulative < uniform).sum(axis=0), n_components - 1)
    rows = np.arange(n_rows)
    drawn = completed[component, rows]
    if completion.form in ("diag", "spherical"):
        deviations = np.sqrt(to_numpy(completion.variances))[component]
        noise = rng.standard_normal((n_rows, d)) * deviations
        return drawn + noise * to_numpy(completion.missing)
    for group, covariance in zip(
        completion.groups, completion.conditional, strict=True
    ):
        n_m, m = group.spread.shape[:2]
        part = group.host_rows
        covariance = to_numpy(covariance)
        # The conditional covariance of each row's drawn component (tied: one).
        chosen = covariance[
            component[part] if covariance.shape[0] > 1 else 0, np.arange(n_m)
        ]
        lower = np.linalg.cholesky(chosen)
        noise = (lower @ rng.standard_normal((n_m, m, 1)))[..., 0]
        drawn[part] += (noise[:, None, :] @ to_numpy(group.spread))[:, 0, :]
    return drawn
