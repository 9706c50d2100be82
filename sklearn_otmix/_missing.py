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
missing in blocks of rows cost a few inverses). Where the rows' entries are
missing (their :class:`Layout`) is found once per block and fit: the
in-memory samples keep it from one E-step to the next.

Two ways compute the same numbers. The E-step of ``full`` and ``tied``
mixtures (:class:`FilledCost`) reads the complete-data cost object
(:mod:`sklearn_otmix._gaussian`: its moments and matrix products) on the
rows with their missing entries filled at its centre, and corrects each
row in its missing block only: the Schur complement identity holds whatever
the filling. :class:`MissingCost` (``diag``, ``spherical``, the two-pass
statistics about each component's mean, the imputer) completes the rows
about each component's mean, ``n_components`` times the rows.

Written once over the array namespace of the rows: the missing entries'
positions are gathered with ``take`` on flat indices; numpy writes at
positions, other namespaces through products by 0/1 matrices (the array API
has no scatter; see :mod:`sklearn_otmix._backend`).
"""

import math
from typing import NamedTuple

import numpy as np
import scipy.sparse

from ._backend import (
    added_at,
    asarray,
    astype,
    embedded_sums,
    in_rows,
    is_host_array,
    matrix_vector,
    namespace_of,
    on_device_of,
    put_entries,
    row_dots,
    rows_added,
    to_numpy,
)
from ._noise import noise_on
from ._transport import row_softmax
from ._gaussian import (
    GroupedCost,
    Statistics,
    _floored,
    gaussian_cost_of,
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


#: The most distinct patterns of missing entries among the rows with the same
#: number of them that :class:`FilledCost` multiplies pattern by pattern.
FEW_PATTERNS = 16


class _Group(NamedTuple):
    """Rows with the same number ``m`` of missing entries.

    ``host_rows`` (n_m,) and ``host_columns`` (n_m, m) on the host; on the
    rows' device: ``rows``; ``entries``, the flat indices of their missing
    entries in the block's ``(n_rows, d)`` rows; ``pairs``, those of each
    row's missing ``(m, m)`` block in a ``(d, d)`` matrix; ``spread`` (n_m, m,
    d), the 0/1 matrices that put a row's ``m`` values in its missing columns
    (None in numpy, which writes at the positions); and the blocks to invert:
    where few patterns repeat (whole columns missing in blocks of rows),
    each distinct pattern's once, ``pattern`` giving each row's, else each
    row's own (``pattern`` None), ``inverted`` their flat indices in a
    ``(d, d)`` matrix. Where the patterns are few (at most
    :data:`FEW_PATTERNS`), the rows come pattern after pattern, ``runs``
    giving where each pattern's start (host integers), and ``pattern_spread``
    (n_patterns, m, d) is the patterns' ``spread`` (None in numpy): their
    products are then matrix products, pattern by pattern.
    ``inverted_by_entry`` and ``pairs_by_entry`` are ``inverted`` and
    ``pairs`` entry by entry, ``(m, m, n)`` flattened (see
    :func:`_inverse_by_entry`)."""

    host_rows: np.ndarray
    host_columns: np.ndarray
    rows: object
    entries: object
    pairs: object
    spread: object
    pattern: object
    inverted: object
    runs: tuple | None = None
    pattern_spread: object = None
    inverted_by_entry: object = None
    pairs_by_entry: object = None


class Layout(NamedTuple):
    """Where a block's entries are missing (:func:`layout_of`): the mask
    (n_rows, d) and each row's number of observed entries, on the rows'
    device; the flat indices of all missing entries in the ``(n_rows, d)``
    rows, group after group; the :class:`_Group` of each number of missing
    entries; and the missing entries column after column: their rows
    (``column_rows``, on the device), where each column's run starts
    (``column_starts``, d + 1 host integers), and the permutations between
    the two orders (``to_columns`` takes values in group order to column
    order; ``to_groups`` back, each group's entries entry by entry, ``(m,
    n_m)`` flattened, as :class:`_Filled` lays out ``r``); the column order
    leaves out the groups of a few patterns (:attr:`_Group.runs`), which go
    pattern by pattern. ``holed``: the rows with missing entries, group
    after group (host integers)."""

    missing: object
    observed: object
    entries: object
    groups: tuple
    column_rows: object
    column_starts: tuple
    to_columns: object
    to_groups: object
    holed: np.ndarray


def layout_of(x, cache=None):
    """The :class:`Layout` of the missing entries (NaN) of the rows ``x``;
    from ``cache`` (a dict, keyed by the mask's bits) where a fit met the same
    block before: grouping the rows costs more than an E-step's arithmetic."""
    xp = namespace_of(x)
    missing = xp.isnan(x)
    host = to_numpy(missing)
    if cache is None:
        return _layout(host, missing, x)
    key = (host.shape, np.packbits(host).tobytes())
    layout = cache.get(key)
    if layout is None:
        layout = cache[key] = _layout(host, missing, x)
    return layout


def _layout(host_missing, missing, like):
    """The :class:`Layout` of the host mask ``host_missing`` (``missing`` on
    the device of the rows ``like``)."""
    xp = namespace_of(like)
    n, d = host_missing.shape
    numpy = is_host_array(like)

    def on_device(array, **dtype):
        return asarray(array, xp, **dtype, **on_device_of(like))

    groups = []
    for rows, columns in _by_missing_count(host_missing):
        patterns, pattern = _patterns(columns, d)
        few = patterns.shape[0] <= FEW_PATTERNS
        shared = few or 2 * patterns.shape[0] <= rows.size
        runs = None
        if few:
            # The rows of each pattern one after another.
            order = np.argsort(pattern, kind="stable")
            rows, columns, pattern = rows[order], columns[order], pattern[order]
            starts = np.searchsorted(pattern, np.arange(patterns.shape[0] + 1))
            runs = tuple(int(start) for start in starts)
        spread = pattern_spread = None
        if not numpy:
            spread = on_device(_spread(columns, d), dtype=like.dtype)
            pattern_spread = on_device(_spread(patterns, d), dtype=like.dtype)
        inverted = _pairs(patterns if shared else columns, d)
        pairs = _pairs(columns, d)
        m = columns.shape[1]
        groups.append(
            _Group(
                rows,
                columns,
                on_device(rows),
                on_device((rows[:, None] * d + columns).ravel()),
                on_device(pairs),
                spread,
                on_device(pattern) if shared else None,
                on_device(inverted),
                runs,
                pattern_spread,
                on_device(_by_entry(inverted, m)),
                on_device(_by_entry(pairs, m)),
            )
        )
    entries = [
        (group.host_rows[:, None] * d + group.host_columns).ravel() for group in groups
    ]
    # The column order: the entries of the groups of many patterns (those
    # of a few go pattern by pattern).
    by_column = [
        flat for flat, group in zip(entries, groups, strict=True) if group.runs is None
    ]
    entries = np.concatenate(entries or [np.zeros(0, np.int64)])
    by_column = np.concatenate(by_column or [np.zeros(0, np.int64)])
    observed = (d - np.count_nonzero(host_missing, axis=1)).astype(np.float64)
    rows, columns = np.divmod(by_column, d)
    to_columns = np.argsort(columns * n + rows)
    starts = np.searchsorted(columns[to_columns], np.arange(d + 1))
    to_groups = np.empty_like(to_columns)
    to_groups[to_columns] = np.arange(to_columns.size)
    # Each group's entries, entry by entry: (m, n_m) in place of (n_m, m).
    by_entry, start = [], 0
    for group in groups:
        if group.runs is None:
            n_m, m = group.host_columns.shape
            by_entry.append(to_groups[start : start + n_m * m].reshape(n_m, m).T)
            start += n_m * m
    to_groups = np.concatenate([part.ravel() for part in by_entry] or [to_groups])
    holed = [group.host_rows for group in groups]
    return Layout(
        missing,
        on_device(observed, dtype=like.dtype),
        on_device(entries),
        tuple(groups),
        on_device(rows[to_columns]),
        tuple(int(start) for start in starts),
        on_device(to_columns),
        on_device(to_groups),
        np.concatenate(holed or [np.zeros(0, np.int64)]),
    )


def _patterns(columns, d):
    """The distinct rows of ``columns`` (n, m), ascending columns in each,
    in lexicographic order, and the index of each row's: through one
    integer per row (the columns as the digits of a number in base ``d``,
    which orders as the rows do) where it fits in 63 bits."""
    n, m = columns.shape
    if m * math.log2(max(d, 2)) >= 63:
        patterns, pattern = np.unique(columns, axis=0, return_inverse=True)
        return patterns, pattern.ravel()
    code = columns @ (d ** np.arange(m - 1, -1, -1, dtype=np.int64))
    _, first, pattern = np.unique(code, return_index=True, return_inverse=True)
    return columns[first], pattern.ravel()


def _spread(columns, d):
    """The 0/1 matrices ``(n, m, d)`` that put ``m`` values in the
    ``columns`` (n, m) of a row of ``d``."""
    return (columns[:, :, None] == np.arange(d)).astype(np.float64)


def _by_entry(pairs, m):
    """Flat indices ``(n, m, m)`` (flattened) reordered ``(m, m, n)``."""
    return pairs.reshape(-1, m, m).transpose(1, 2, 0).ravel()


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


#: The fewest matrices of four rows or more that :func:`_inverse_and_log_det`
#: inverts through its unrolled Cholesky factorisation; fewer go to LAPACK
#: one by one (below it the unrolled loop's per-entry operations cost more).
UNROLLED_BATCH = 200


def _inverse_and_log_det(matrices):
    """The inverses and log-determinants of positive definite matrices
    ``(..., m, m)``: closed forms (the adjugate) up to ``m = 3`` (the rows
    with a few entries missing, most of them where few are); above, a
    Cholesky factorisation unrolled over the entries, each an array of the
    whole batch (LAPACK, through numpy, costs a call per small matrix), or
    LAPACK itself for fewer than :data:`UNROLLED_BATCH` matrices."""
    xp = namespace_of(matrices)
    m = matrices.shape[-1]
    if m > 3 and math.prod(matrices.shape[:-2]) < UNROLLED_BATCH:
        return xp.linalg.inv(matrices), xp.linalg.slogdet(matrices)[1]
    inverse, log_det = _inverse_entries(lambda i, j: matrices[..., i, j], m, xp)
    rows = [xp.stack(row, axis=-1) for row in inverse]
    return xp.stack(rows, axis=-2), log_det


def _inverse_by_entry(blocks):
    """:func:`_inverse_and_log_det` of matrices laid out entry by entry,
    ``(n_sets, m, m, n)``: entry ``(i, j)`` of the ``n`` matrices of each set
    along the last axis, so that each operation of the closed forms and of
    the unrolled factorisation runs along ``n`` (along ``m``, numpy's loops
    are a few entries long and cost several times more). Returns the
    inverses in the same layout and the log-determinants ``(n_sets, n)``."""
    xp = namespace_of(blocks)
    n_sets, m, _, n = blocks.shape
    if m > 3 and n_sets * n < UNROLLED_BATCH:
        inverse, log_det = _inverse_and_log_det(xp.permute_dims(blocks, (0, 3, 1, 2)))
        return xp.permute_dims(inverse, (0, 2, 3, 1)), log_det
    inverse, log_det = _inverse_entries(lambda i, j: blocks[:, i, j, :], m, xp)
    flat = xp.stack([entry for row in inverse for entry in row], axis=1)
    return xp.reshape(flat, (n_sets, m, m, n)), log_det


def _inverse_entries(entry, m, xp):
    """The entries of the inverses (a list of ``m`` lists of ``m`` arrays) and
    the log-determinants of the positive definite matrices whose entry
    ``(i, j)`` is ``entry(i, j)`` (arrays of one shape, the batch's):
    adjugates up to ``m = 3``, else an unrolled Cholesky factorisation."""
    if m == 1:
        a = entry(0, 0)
        return [[1.0 / a]], xp.log(a)
    if m == 2:
        a, b, c = entry(0, 0), entry(0, 1), entry(1, 1)
        determinant = a * c - b * b
        scale = 1.0 / determinant
        off = -b * scale
        return [[c * scale, off], [off, a * scale]], xp.log(determinant)
    if m == 3:
        # The cofactors of a symmetric 3 x 3 matrix.
        a, b, c = entry(0, 0), entry(0, 1), entry(0, 2)
        e, f, i = entry(1, 1), entry(1, 2), entry(2, 2)
        c00, c01, c02 = e * i - f * f, c * f - b * i, b * f - c * e
        c11, c12, c22 = a * i - c * c, b * c - a * f, a * e - b * b
        determinant = a * c00 + b * c01 + c * c02
        scale = 1.0 / determinant
        c00, c01, c02 = c00 * scale, c01 * scale, c02 * scale
        c11, c12, c22 = c11 * scale, c12 * scale, c22 * scale
        inverse = [[c00, c01, c02], [c01, c11, c12], [c02, c12, c22]]
        return inverse, xp.log(determinant)
    return _unrolled_inverse(entry, m, xp)


def _unrolled_inverse(entry, m, xp):
    """:func:`_inverse_entries` through ``M = L L^T``, ``W = L^{-1}`` and
    ``M^{-1} = W^T W``, each entry an array of the batch (``m^3 / 2``
    operations on arrays of the batch's size, exploiting the symmetry)."""
    lower = [[None] * m for _ in range(m)]
    log_det = 0.0
    for j in range(m):
        pivot = entry(j, j)
        for k in range(j):
            pivot = pivot - lower[j][k] * lower[j][k]
        log_det = log_det + xp.log(pivot)
        lower[j][j] = xp.sqrt(pivot)
        for i in range(j + 1, m):
            value = entry(i, j)
            for k in range(j):
                value = value - lower[i][k] * lower[j][k]
            lower[i][j] = value / lower[j][j]
    inverse_lower = [[None] * m for _ in range(m)]
    for i in range(m):
        inverse_lower[i][i] = 1.0 / lower[i][i]
        for j in range(i):
            value = lower[i][j] * inverse_lower[j][j]
            for k in range(j + 1, i):
                value = value + lower[i][k] * inverse_lower[k][j]
            inverse_lower[i][j] = -value * inverse_lower[i][i]
    inverse = [[None] * m for _ in range(m)]
    for i in range(m):
        for j in range(i, m):
            value = inverse_lower[j][i] * inverse_lower[j][j]
            for k in range(j + 1, m):
                value = value + inverse_lower[k][i] * inverse_lower[k][j]
            inverse[i][j] = inverse[j][i] = value
    return inverse, log_det


def _inverted_blocks(flat, group):
    """The inverses and log-determinants of ``group``'s missing blocks
    ``M = Lambda_mm`` (``flat``: the precisions, shape (K or 1, d * d)), once
    for each of the blocks it inverts (:attr:`_Group.inverted`: each pattern
    or each row); :func:`_per_row` spreads them to the rows."""
    xp = namespace_of(flat)
    m = group.host_columns.shape[1]
    block = xp.take(flat, group.inverted, axis=1)
    return _inverse_and_log_det(xp.reshape(block, (flat.shape[0], -1, m, m)))


def _inverted_by_entry(flat, group):
    """:func:`_inverted_blocks` laid out entry by entry (see
    :func:`_inverse_by_entry`): ``(K or 1, m, m, n_blocks)`` and the
    log-determinants ``(K or 1, n_blocks)``."""
    xp = namespace_of(flat)
    m = group.host_columns.shape[1]
    block = xp.take(flat, group.inverted_by_entry, axis=1)
    return _inverse_by_entry(xp.reshape(block, (flat.shape[0], m, m, -1)))


def _per_row(array, group, axis=1):
    """``array`` of ``group``'s inverted blocks (along ``axis``), one entry
    per row of the group."""
    if group.pattern is None:
        return array
    return namespace_of(array).take(array, group.pattern, axis=axis)


class _Completion:
    """What the costs and the statistics of a block share: the rows about
    each component's mean with the missing entries completed, ``x_hat - mu_k``
    (n_components, n_rows, n_features), the costs (n_components, n_rows),
    and each group's conditional covariances (``layout``: the block's
    :class:`Layout`, found where None)."""

    def __init__(self, x, means, precisions_chol, form, layout=None):
        xp = namespace_of(x)
        n_components, d = means.shape
        if layout is None:
            layout = layout_of(x)
        self.form = form
        self.groups = layout.groups
        centred = x[None, ...] - means[:, None, :]
        centred = put_entries(centred, layout.entries, layout.missing, 0.0)
        precisions = _precisions(precisions_chol, form)
        constant = 0.5 * _LOG_2PI * layout.observed
        if form in ("diag", "spherical"):
            # Entries independent: the missing ones complete to the means
            # (centred 0 there), with their variances as conditional ones.
            observed = xp.astype(~layout.missing, x.dtype)
            precisions = xp.broadcast_to(precisions, (n_components, d))
            quadratic = xp.sum(centred * centred * precisions[:, None, :], axis=2)
            log_det = 0.5 * (xp.log(precisions) @ xp.matrix_transpose(observed))
            self.cost = 0.5 * quadratic + constant[None, :] - log_det
            self.variances = 1.0 / precisions
            self.missing = 1.0 - observed
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
            n_m, m = group.host_columns.shape
            # M^{-1} = Lambda_mm^{-1} of each row, and b_m (n_components,
            # n_m, m).
            covariance, log_det_block = (
                _per_row(array, group) for array in _inverted_blocks(flat, group)
            )
            b = xp.reshape(
                xp.take(flat_products, group.entries, axis=1), (n_components, n_m, m)
            )
            solved = matrix_vector(covariance, b)
            correction = 0.5 * (log_det_block - row_dots(b, solved))
            corrections.append((group.host_rows, correction))
            # E[x_m | x_o] - mu_m = -M^{-1} b_m, in the missing columns.
            shifts.append((group.host_rows, -solved, group.spread))
            self.conditional.append(covariance)
        self.cost = rows_added(cost, corrections)
        self.centred = put_entries(centred, layout.entries, layout.missing, shifts)


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
    if form == "tied":
        # One covariance, and one conditional covariance per row: weighted
        # by the row's mass.
        second = xp.sum(second, axis=0, keepdims=True)
        weights = xp.sum(weights, axis=0, keepdims=True)
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
        second = second[0, ...]
    return Statistics(mass, first, second, centres, form)


class MissingCost(NamedTuple):
    """The costs of a mixture on rows with missing entries, with the
    interface of :class:`~sklearn_otmix._gaussian.GaussianCost`: a block's
    "moments" are its :class:`_Completion`, which gives both its costs and
    its statistics (about the components' current means). ``layouts``: a
    dict that keeps the blocks' :class:`Layout` from one E-step to the next
    (see :func:`layout_of`), or None."""

    means: np.ndarray
    precisions_chol: np.ndarray
    form: str
    layouts: dict | None = None

    def working(self, array):
        return array

    def moments(self, x):
        layout = layout_of(x, self.layouts)
        return _Completion(x, self.means, self.precisions_chol, self.form, layout)

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


class _Correction(NamedTuple):
    """What the missing entries add to a block's statistics about the centre
    ``c`` of :class:`FilledCost`: ``sum_i P_ik s_ik`` (n_components, d) and
    ``sum_i P_ik [y_i s_ik^T + s_ik y_i^T + s_ik s_ik^T + Cov_ik]``
    (n_components, d, d), with ``y_i`` the row filled at ``c``, less ``c``,
    and ``s_ik`` its completion's shift (see :class:`_Filled`)."""

    first: np.ndarray
    second: np.ndarray


class _Filled:
    r"""A block's rows with each missing entry set to the centre ``c`` of
    :class:`FilledCost`: their complete-data moments, and the terms that
    turn those into the observed entries' costs (:attr:`cost`) and the
    completed rows' statistics (:meth:`FilledCost.moment_sums`).

    With ``r = [Lambda_k (x_tilde - mu_k)]_m`` (``x_tilde`` the filled row)
    and ``M = Lambda_{k,mm}``, whatever the filling,

    .. math::

        (x_o - \mu_o)^\top \Sigma_{oo}^{-1} (x_o - \mu_o)
            = (\tilde x - \mu)^\top \Lambda (\tilde x - \mu)
            - r^\top M^{-1} r, \qquad
        E[x_m | x_o] = \tilde x_m - M^{-1} r:

    the complete-data cost of the filled row, less a term of the size of its
    missing block; the completed row is the filled one shifted by
    ``s = -M^{-1} r`` in its missing entries (``c`` there: ``s`` is the
    completion less ``c``).
    """

    def __init__(self, x, cost, layout):
        complete, centre = cost.complete, cost.centre
        xp = namespace_of(centre)
        x = complete.working(x)
        d = x.shape[1]
        self.layout = layout
        filled = xp.where(layout.missing, centre, x)
        self.moments = complete.moments(filled)
        # r, column after column: y Lambda_k[:, j] - [Lambda_k (mu_k - c)]_j,
        # with y the rows filled at c, less c.
        self.centred = filled - centre
        starts = layout.column_starts
        runs = [
            cost.columns[j, ...]
            @ xp.matrix_transpose(
                xp.take(
                    self.centred, layout.column_rows[starts[j] : starts[j + 1]], axis=0
                )
            )
            - cost.offsets[:, j : j + 1]
            for j in range(d)
        ]
        # (n_components, n_missing)
        r = xp.concat(runs, axis=1)
        n_components = cost.offsets.shape[0]
        flat = xp.reshape(cost.precisions, (cost.precisions.shape[0], d * d))
        self.conditional, self.shifts = [], []
        corrections = []
        start = 0
        for group in layout.groups:
            n_m, m = group.host_columns.shape
            # M^-1 (n_components or 1, m, m, n_blocks) and log det M, and r
            # and the shifts (n_components, m, n_m), entry by entry (see
            # _inverse_by_entry).
            covariance, log_det_block = _inverted_by_entry(flat, group)
            if group.runs is not None:
                # A few patterns: r and the shifts are matrix products,
                # pattern by pattern.
                shift, quadratic = _pattern_shifts(
                    self.centred, cost, group, covariance
                )
            else:
                order = layout.to_groups[start : start + n_m * m]
                start += n_m * m
                part = xp.reshape(xp.take(r, order, axis=1), (n_components, m, n_m))
                shift = -_entry_product(_per_row(covariance, group, axis=3), part)
                quadratic = _entry_dots(part, shift)
            log_det_block = _per_row(log_det_block, group)
            corrections.append(
                (
                    group.host_rows,
                    0.5 * (log_det_block + quadratic - m * _LOG_2PI),
                )
            )
            self.conditional.append(covariance)
            self.shifts.append(shift)
        # The corrections added to the complete-data costs in their rows (in
        # place in numpy: the costs are this block's own product).
        cost = xp.matrix_transpose(complete.cost(self.moments))
        self.cost = xp.matrix_transpose(rows_added(cost, corrections))

    def column_shifts(self):
        """The shifts ``s`` of the missing entries in the column order of
        the layout: (n_components, n_entries)."""
        layout = self.layout
        xp = namespace_of(layout.entries)
        flat = []
        for group, shift in zip(layout.groups, self.shifts, strict=True):
            if group.runs is None:
                shift = xp.permute_dims(shift, (0, 2, 1))
                flat.append(xp.reshape(shift, (shift.shape[0], -1)))
        if not flat:
            return None
        return xp.take(xp.concat(flat, axis=1), layout.to_columns, axis=1)


def _pattern_shifts(centred, cost, group, covariance):
    """The shifts ``s = -M^{-1} r`` (n_components, m, n_m) and the
    terms ``r^T s = -r^T M^{-1} r`` (n_components, n_m) of a group of a few
    patterns, rows ``centred`` (filled at the centre, less it): for each
    pattern, ``r`` is one matrix product, ``Lambda_k[J, :] y - [Lambda_k
    (mu_k - c)]_J`` for its missing columns ``J``."""
    xp = namespace_of(centred)
    runs = group.runs
    shifts, quadratics = [], []
    for p in range(len(runs) - 1):
        columns = group.host_columns[runs[p], :]
        index = asarray(columns, xp, **on_device_of(centred))
        rows = xp.take(centred, group.rows[runs[p] : runs[p + 1]], axis=0)
        block = xp.take(cost.precisions, index, axis=1)
        offsets = xp.take(cost.offsets, index, axis=1)
        r = block @ xp.matrix_transpose(rows) - offsets[:, :, None]
        shift = -(covariance[:, :, :, p] @ r)
        shifts.append(shift)
        quadratics.append(xp.sum(r * shift, axis=1))
    return xp.concat(shifts, axis=2), xp.concat(quadratics, axis=1)


def _entry_product(matrices, vectors):
    """``matrices @ vectors`` entry by entry: ``(K, m, m, n)`` by ``(K, m,
    n)``, the ``n`` products along the last axis."""
    if is_host_array(matrices):
        return np.einsum("...abi,...bi->...ai", matrices, vectors)
    return namespace_of(matrices).sum(matrices * vectors[:, None, :, :], axis=2)


def _entry_dots(left, right):
    """``sum_a left[:, a, i] right[:, a, i]``: ``(K, m, n)`` to ``(K, n)``."""
    if is_host_array(left):
        return np.einsum("...ai,...ai->...i", left, right)
    return namespace_of(left).sum(left * right, axis=1)


def _embedded_by_entry(values, group, d, patterns=False):
    """:func:`~sklearn_otmix._backend.embedded_sums` of ``values`` laid out
    entry by entry, ``(K, m, m, n)``: one per row of ``group``, or one per
    pattern where ``patterns`` (numpy only)."""
    if is_host_array(values):
        pairs = group.inverted_by_entry if patterns else group.pairs_by_entry
        return added_at(values, pairs, d)
    xp = namespace_of(values)
    return embedded_sums(
        xp.permute_dims(values, (0, 3, 1, 2)), group.spread, group.pairs, d
    )


#: The largest share of a block's pairs of a row with holes and a component
#: that :func:`_kept_pairs_correction` takes pair by pair; above it (a plan
#: spread over the components, in a fit's first iterations), the missing
#: entries' terms are summed over all pairs, entry by entry (the two took
#: about as long at 0.4 on ``bench_missing.py``'s blocks).
KEPT_SHARE = 0.4


def _kept_pairs_correction(filled, plan):
    """The :class:`_Correction` of a block (numpy) from the pairs of a row
    with holes and a component that weigh in it, or None where those are
    more than :data:`KEPT_SHARE` of them.

    A component's pairs whose plan entry is below ``eps`` times its mean
    entry in the block weigh, all together, less than one rounding of its
    mass there: each is read as its row filled at the centre (all its terms
    left out together, so that the row's contribution stays a scatter).
    Those are most pairs once the components have found their rows: a row
    is near few of them. The kept pairs' terms: ``P_ik (s s^T + Cov_ik)``
    added at their missing blocks' entries (one ``bincount`` per group),
    ``P_ik s`` at their missing entries, and the cross terms ``sum_i P_ik
    s_ik y_i^T`` as one sparse product: the weighted shifts, a row per
    component and missing column, a column per row with holes, by those
    rows filled at the centre (``y``)."""
    n, K = plan.shape
    layout = filled.layout
    d = layout.missing.shape[1]
    if not layout.groups:
        return None
    threshold = np.finfo(plan.dtype).eps * np.sum(plan, axis=0) / max(n, 1)
    holed = layout.holed
    weights = plan[holed, :]
    keep = weights > threshold
    if np.count_nonzero(keep) > KEPT_SHARE * keep.size:
        return None
    # The kept pairs, row after row (rows in the groups' order).
    row, k = np.nonzero(keep)
    weights = weights[row, k]
    second = np.zeros(K * d * d, dtype=plan.dtype)
    places, values, counts = [], [], []
    start = 0
    for group, covariance, shift in zip(
        layout.groups, filled.conditional, filled.shifts, strict=True
    ):
        n_m, m = group.host_columns.shape
        lo, hi = np.searchsorted(row, (start, start + n_m))
        i, kk, w = row[lo:hi] - start, k[lo:hi], weights[lo:hi]
        start += n_m
        own = kk if covariance.shape[0] > 1 else np.zeros_like(kk)
        block = i if group.pattern is None else group.pattern[i]
        s, cov = shift[kk, :, i], covariance[own, :, :, block]
        weighted = s * w[:, None]
        cov *= w[:, None, None]
        cov += weighted[:, :, None] * s[:, None, :]
        pairs = group.pairs.reshape(n_m, m * m)[i] + (kk * d * d)[:, None]
        second += np.bincount(pairs.ravel(), weights=cov.ravel(), minlength=K * d * d)
        places.append((group.host_columns[i] + (kk * d)[:, None]).ravel())
        values.append(weighted.ravel())
        counts.append(np.full(n_m, m))
    second = second.reshape(K, d, d)
    places, values = np.concatenate(places), np.concatenate(values)
    first = np.bincount(places, weights=values, minlength=K * d).reshape(K, d)
    # Column i of the weighted shifts: row i's kept pairs, m entries each.
    per_row = np.bincount(row, minlength=holed.shape[0]) * np.concatenate(counts)
    starts = np.concatenate([[0], np.cumsum(per_row)])
    shifts = scipy.sparse.csc_array(
        (values, places, starts), shape=(K * d, holed.shape[0])
    )
    cross = (shifts @ filled.centred[holed, :]).reshape(K, d, d)
    second += cross
    second += cross.transpose(0, 2, 1)
    return _Correction(first, second)


def _placed(rows, group, p, first):
    """Pattern ``p``'s ``rows`` (K, m, d) and ``first`` (K, m) of ``group``,
    in its missing columns of (K, d, d) and (K, d) zeros."""
    xp = namespace_of(rows)
    K, m, d = rows.shape
    if is_host_array(rows):
        columns = group.host_columns[group.runs[p], :]
        placed = np.zeros((K, d, d), dtype=rows.dtype)
        flat = np.zeros((K, d), dtype=rows.dtype)
        placed[:, columns, :] = rows
        flat[:, columns] = first
        return placed, flat
    spread = group.pattern_spread[p, ...]
    return xp.matrix_transpose(spread) @ rows, first @ spread


def _pattern_sums(covariance, weight, group, d):
    """``sum_i P_ik Cov_ik`` embedded in ``(d, d)`` matrices, numpy, for a
    ``group`` whose rows share their patterns' conditional covariances
    (``covariance``, one per pattern, entry by entry: (K or 1, m, m,
    n_patterns); ``weight``, the rows' plan (K, n_m)): each pattern's rows'
    weights summed first (one ``bincount``), the patterns of a few missing
    entries being far fewer than the rows."""
    K, n_patterns = weight.shape[0], covariance.shape[-1]
    index = group.pattern[None, :] + (np.arange(K) * n_patterns)[:, None]
    totals = np.bincount(
        index.ravel(), weights=weight.ravel(), minlength=K * n_patterns
    ).reshape(K, n_patterns)
    values = covariance * totals[:, None, None, :]
    return _embedded_by_entry(values, group, d, patterns=True)


class FilledCost(NamedTuple):
    """The costs of ``full`` and ``tied`` mixtures on rows with missing
    entries, from those of the complete-data cost object (``complete``, see
    :func:`~sklearn_otmix._gaussian.gaussian_cost_of`) on the rows filled at
    its centre ``c`` (near the components), corrected in each row's missing
    block (:class:`_Filled`): the complete data's matrix products, and work
    of the size of the missing entries. Same interface as
    :class:`MissingCost`; ``precisions`` (K or 1, d, d), ``offsets``
    ``Lambda_k (mu_k - c)`` (K, d) and ``columns``, the precisions' columns
    as matrices ``(K, d)`` (shape (d, K, d): ``Lambda_k[:, j]`` as row ``k``
    of ``columns[j]``), in the E-step's dtype."""

    complete: object
    centre: np.ndarray
    precisions: np.ndarray
    offsets: np.ndarray
    columns: np.ndarray
    form: str
    layouts: dict | None = None

    def working(self, array):
        return array

    def moments(self, x):
        return _Filled(x, self, layout_of(x, self.layouts))

    def cost(self, filled):
        return filled.cost

    def cost_of(self, x):
        return self.cost(self.moments(x))

    def moment_sums(self, filled, plan, row_mass):
        """The complete-data cost object's sums of the filled rows, and the
        :class:`_Correction` of their missing entries."""
        xp = namespace_of(self.centre)
        layout = filled.layout
        sums = self.complete.moment_sums(filled.moments, plan, row_mass)
        plan = self.complete.working(plan)
        if is_host_array(plan):
            correction = _kept_pairs_correction(filled, plan)
            if correction is not None:
                return sums, correction
        n_components, d = self.offsets.shape
        # sum_i P_ik s_ik (K, d), sum_i P_ik s_ik y_i^T (K, d, d) and the
        # second-order terms.
        first = xp.zeros_like(self.offsets)
        across = first[:, :, None] * first[:, None, :]
        second = across
        shifts = filled.column_shifts()
        if shifts is not None:
            # P_ik s_ik at each missing entry, column after column: (n, K).
            weighted = xp.take(plan, layout.column_rows, axis=0) * (
                xp.matrix_transpose(shifts)
            )
            starts = layout.column_starts
            runs = [slice(starts[j], starts[j + 1]) for j in range(d)]
            across = xp.stack(
                [
                    xp.matrix_transpose(weighted[run, :])
                    @ xp.take(filled.centred, layout.column_rows[run], axis=0)
                    for run in runs
                ],
                axis=1,
            )
            first = xp.matrix_transpose(
                xp.stack([xp.sum(weighted[run, :], axis=0) for run in runs])
            )
        weights = xp.matrix_transpose(plan)
        for group, covariance, shift in zip(
            layout.groups, filled.conditional, filled.shifts, strict=True
        ):
            weight = xp.take(weights, group.rows, axis=1)
            weighted = shift * weight[:, None, :]
            if group.runs is not None:
                # Pattern by pattern: sum_i P_ik s_ik y_i^T = (S P) Y, and
                # (sum_i P_ik) Cov_k + (S P) S^T.
                bounds, values = group.runs, []
                for p in range(len(bounds) - 1):
                    run = slice(bounds[p], bounds[p + 1])
                    rows = xp.take(filled.centred, group.rows[run], axis=0)
                    part = _placed(
                        weighted[:, :, run] @ rows,
                        group,
                        p,
                        xp.sum(weighted[:, :, run], axis=2),
                    )
                    across, first = across + part[0], first + part[1]
                    values.append(
                        xp.sum(weight[:, run], axis=1)[:, None, None]
                        * covariance[:, :, :, p]
                        + weighted[:, :, run] @ xp.matrix_transpose(shift[:, :, run])
                    )
                second = second + embedded_sums(
                    xp.stack(values, axis=1), group.pattern_spread, group.inverted, d
                )
                continue
            # sum_i P_ik (s_ik s_ik^T + Cov_ik), entry by entry: the
            # covariances' part pattern by pattern where the rows share them
            # (numpy).
            values = weighted[:, :, None, :] * shift[:, None, :, :]
            if group.pattern is None or not is_host_array(values):
                per_row = _per_row(covariance, group, axis=3)
                values = values + per_row * weight[:, None, None, :]
            else:
                second = second + _pattern_sums(covariance, weight, group, d)
            second = second + _embedded_by_entry(values, group, d)
        second = second + across + xp.matrix_transpose(across)
        return sums, _Correction(first, second)

    def statistics(self, moment_sums):
        """The complete-data statistics of the filled rows, with the missing
        entries' correction moved to each component's centre ``c_k``."""
        sums, correction = moment_sums
        statistics = self.complete.statistics(sums)
        xp = namespace_of(self.centre)
        offset = statistics.centres - self.centre
        moved = offset[:, :, None] * correction.first[:, None, :]
        second = correction.second - moved - xp.matrix_transpose(moved)
        if self.form == "tied":
            second = xp.sum(second, axis=0)
        return statistics._replace(
            first=statistics.first + correction.first,
            second=statistics.second + second,
        )


def missing_cost_of(means, precisions_chol, form, weights=None, layouts=None):
    """The costs of a mixture on rows with missing entries (``layouts``: see
    :class:`MissingCost`): for ``full`` and ``tied``, a :class:`FilledCost`
    of the complete-data cost object, or of each of its groups of nearby
    components (:class:`~sklearn_otmix._gaussian.GroupedCost`, so that each
    row is filled near the components whose costs it reads to the last
    digits); for ``diag`` and ``spherical``, a :class:`MissingCost`."""
    if form not in ("full", "tied"):
        return MissingCost(means, precisions_chol, form, layouts)
    complete = gaussian_cost_of(means, precisions_chol, form, weights)
    if not isinstance(complete, GroupedCost):
        return _filled_cost(complete, means, precisions_chol, form, layouts)
    xp = namespace_of(means)
    members = []
    for member, group in zip(complete.members, complete.groups, strict=True):
        index = asarray(group, xp, **on_device_of(means))
        if form == "full":
            chol = xp.take(precisions_chol, index, axis=0)
        else:
            chol = precisions_chol
        members.append(
            _filled_cost(member, xp.take(means, index, axis=0), chol, form, layouts)
        )
    return complete._replace(members=tuple(members))


def _filled_cost(complete, means, precisions_chol, form, layouts):
    """The :class:`FilledCost` of ``complete``, filled at its centre."""
    centre = complete.centre
    means = astype(means, centre.dtype)
    precisions = astype(_precisions(precisions_chol, form), centre.dtype)
    offsets = (precisions @ (means - centre)[:, :, None])[..., 0]
    xp = namespace_of(precisions)
    # Column j of each precision, (K, d) for each j: Lambda_k[:, j] as row k.
    shape = (precisions.shape[2], offsets.shape[0], precisions.shape[1])
    columns = xp.broadcast_to(xp.permute_dims(precisions, (2, 0, 1)), shape)
    columns = xp.asarray(columns, copy=True)
    return FilledCost(complete, centre, precisions, offsets, columns, form, layouts)


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
        part, columns = group.host_rows, group.host_columns
        n_m, m = columns.shape
        covariance = to_numpy(covariance)
        # The conditional covariance of each row's drawn component (tied: one).
        chosen = covariance[
            component[part] if covariance.shape[0] > 1 else 0, np.arange(n_m)
        ]
        lower = np.linalg.cholesky(chosen)
        noise = (lower @ rng.standard_normal((n_m, m, 1)))[..., 0]
        drawn[part[:, None], columns] += noise
    return drawn
