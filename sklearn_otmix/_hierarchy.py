"""Model-based agglomerative clustering: mclust's default initialisation.

mclust starts EM from the partitions of one merge tree: ``hc(data,
modelName="VVV", use="SVD")``. The rows are standardised and rotated onto
their principal axes, each scaled by the inverse square root of its singular
value. Then, starting from one group per row, the two groups whose
merge increases the VVV criterion least are merged, until one group is left.

A group of ``n`` rows with scatter matrix ``W`` (trace ``t``) costs

    n log(t_alpha / n)                          when n <= d (or n == 2),
    n log(det(W / n) + t_alpha / n)             otherwise,

with ``t_alpha = t + alpha`` and ``alpha`` the data's total scatter divided by
``n_samples * n_features`` (Fraley, 1998; mclust's ``hcVVV`` with its default
``alpha = beta = 1``). A merge costs its group's cost minus its two parts'.
Ties go to the pair that mclust's Fortran finds last, and the merged group
keeps the smaller label, so that the partitions are mclust's own.
"""

import threading
from collections import OrderedDict

import numpy as np
from joblib import hash as joblib_hash

#: mclust's ``mclust.options("subset")``: larger data build the tree on a
#: random subset of this many rows.
HIERARCHY_SUBSET = 2000

#: When one search for the least pair of :func:`merge_tree` makes more than
#: this many lower bounds exact, the bounds are too loose for laziness to pay
#: (one column, or rows far from whitened): the tree computes every
#: log-determinant with the bounds from then on.
_LOOSE_BOUNDS = 64


class TreeCache:
    """The merge trees of the few most recent data, by the hash of their rows,
    so that a grid of models and numbers of components on the same rows
    builds one. Safe under threads (a search with a threading backend): the
    lock guards the table, not the building, so that two threads never wait
    for each other's tree; both may build the same one, and keep one."""

    def __init__(self, size):
        self.size = size
        self._trees = OrderedDict()
        self._lock = threading.Lock()

    def tree(self, rows):
        """The merges of :func:`merge_tree` on the whitened ``rows``."""
        key = joblib_hash(rows)
        with self._lock:
            if key in self._trees:
                self._trees.move_to_end(key)
                return self._trees[key]
        merges = merge_tree(whiten(rows))
        with self._lock:
            self._trees[key] = merges
            while len(self._trees) > self.size:
                self._trees.popitem(last=False)
        return merges


#: The process's trees (each worker process of a parallel search has its own).
TREES = TreeCache(size=4)


def whiten(X):
    """mclust's ``use="SVD"`` transformation of the rows ``X``.

    Columns are centred and divided by their standard deviation (``ddof=1``);
    constant columns are dropped; the result is rotated onto its right
    singular vectors, each divided by the square root of its singular value
    (directions of zero singular value are dropped too).
    """
    X = np.asarray(X, dtype=np.float64)
    centred = X - X.mean(axis=0)
    scale = centred.std(axis=0, ddof=1) if X.shape[0] > 1 else np.zeros(X.shape[1])
    standardised = centred[:, scale > 0] / scale[scale > 0]
    if standardised.shape[1] == 0:
        return standardised
    _, singular, right = np.linalg.svd(standardised, full_matrices=False)
    keep = singular > singular[0] * np.finfo(np.float64).eps * max(X.shape)
    return standardised @ right[keep].T / np.sqrt(singular[keep])


def _cost(size, trace, log_det, alpha, n_features):
    """The criterion of groups of ``size`` rows (arrays, broadcast)."""
    log_trace = np.log((trace + alpha) / size)
    use_det = (size > n_features) & (size != 2)
    with np.errstate(invalid="ignore"):
        combined = np.logaddexp(log_det, log_trace)
    return size * np.where(use_det, combined, log_trace)


def _log_det(scatter, size):
    """``log det(scatter / size)``, ``-inf`` where not positive definite."""
    sign, log_det = np.linalg.slogdet(scatter / size[:, None, None])
    return np.where(sign > 0, log_det, -np.inf)


def _nan_least(costs):
    """``costs`` with NaN (from rows that are not finite) replaced by
    ``-inf``, in place: a NaN is the least cost, as for :func:`numpy.argmin`,
    and no cost is ``-inf`` otherwise."""
    np.copyto(costs, -np.inf, where=np.isnan(costs))
    return costs


def merge_tree(Z):
    """The merges of model-based agglomerative clustering of the rows ``Z``.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_features)
        Rows already transformed (see :func:`whiten`).

    Returns
    -------
    merges : ndarray of shape (n_samples - 1, 2)
        The merges in order. A group is labelled by its smallest row index;
        each pair ``(a, b)``, ``a < b``, says that group ``b`` joins group ``a``.
    """
    # Each merge changes the merged group's costs of pairs with all others,
    # so that n^2 / 2 pair costs are computed in all. Two things make this
    # fast: the least pair is found from the least cost of each row of pairs,
    # kept up to date, rather than by a scan of all pairs at every step; and
    # the costly part of a pair's cost, its log-determinant, waits until the
    # pair could be the least, the pair holding a lower bound until then.
    # Every cost is computed by the same floating-point operations on the same
    # numbers as by the plain algorithm (all pair costs in one array, updated
    # and scanned at every step), so that the merges, ties included, are the
    # same.
    n_samples, n_features = Z.shape
    n_groups = n_samples

    alpha = np.sum((Z - Z.mean(axis=0)) ** 2) / (n_samples * n_features)
    alpha = max(alpha, np.finfo(np.float64).eps)

    # Slot s holds a group: its size, mean, scatter matrix, trace, cost, label
    # and the step that formed it (-1 for a single row).
    size = np.ones(n_groups)
    mean = Z.copy()
    scatter = np.zeros((n_groups, n_features, n_features))
    trace = np.zeros(n_groups)
    cost = _cost(size, trace, np.full(n_groups, -np.inf), alpha, n_features)
    label = np.arange(n_groups)
    formed = np.full(n_groups, -1)

    def bounds(a, b):
        """The merge costs of slots ``a`` with slots ``b`` (index arrays or
        slices, broadcast), ``a`` the more recently formed (the order of the
        subtractions matters to the last bit), but for the log-determinant of
        the merged groups that have one (``big``): their costs are lower
        bounds, in floating point too, as ``logaddexp(log_det, x) >= x`` and
        rounding is monotone; the others are exact."""
        n_ab = size[a] + size[b]
        gap = mean[b] - mean[a]
        shrink = size[a] * size[b] / n_ab
        rows = gap.reshape(n_ab.size, n_features)
        sum_squares = np.einsum("ij,ij->i", rows, rows).reshape(n_ab.shape)
        trace_ab = trace[a] + trace[b] + shrink * sum_squares
        big = (n_ab > n_features) & (n_ab != 2)
        cost_ab = n_ab * np.log((trace_ab + alpha) / n_ab)
        return _nan_least(cost_ab - cost[a] - cost[b]), big

    def exact_costs(a, b):
        """The exact merge costs of slots ``a`` with slots ``b`` (index
        arrays, ``a`` the more recently formed) whose merged groups are
        ``big``: the operations of ``_cost`` and ``_log_det`` that apply."""
        n_ab = size[a] + size[b]
        gap = mean[b] - mean[a]
        shrink = size[a] * size[b] / n_ab
        trace_ab = trace[a] + trace[b] + shrink * np.einsum("ij,ij->i", gap, gap)
        scatter_ab = (
            scatter[a]
            + scatter[b]
            + shrink[:, None, None] * gap[:, :, None] * gap[:, None, :]
        )
        log_det = _log_det(scatter_ab, n_ab)
        log_trace = np.log((trace_ab + alpha) / n_ab)
        cost_ab = n_ab * np.logaddexp(log_det, log_trace)
        return _nan_least(cost_ab - cost[a] - cost[b])

    def merge(i, j):
        """Merge the group of slot ``j`` into that of slot ``i``, by the
        operations of ``exact_costs`` on one pair (the log-determinant only
        where the merged group is big)."""
        n_ij = size[i] + size[j]
        gap = mean[j] - mean[i]
        shrink = size[i] * size[j] / n_ij
        sum_squares = np.einsum("ij,ij->i", gap[None], gap[None])[0]
        trace_ij = trace[i] + trace[j] + shrink * sum_squares
        scatter[i] = scatter[i] + scatter[j] + shrink * gap[:, None] * gap[None, :]
        log_trace = np.log((trace_ij + alpha) / n_ij)
        cost[i] = n_ij * log_trace
        if n_ij > n_features and n_ij != 2:
            sign, log_det = np.linalg.slogdet(scatter[i] / n_ij)
            if sign > 0:
                cost[i] = n_ij * np.logaddexp(log_det, log_trace)
        mean[i] = (size[i] * mean[i] + size[j] * mean[j]) / n_ij
        size[i], trace[i] = n_ij, trace_ij
        label[i] = min(label[i], label[j])

    # delta[q, p] is the cost of the pair of slots (p, q), p < q: row q holds
    # the pairs of slot q with the slots before it, and inf elsewhere (a
    # square rather than a triangle, so that rows and columns are slices).
    # It is a view of ``stored``, whose rows run the other way, so that the
    # first least entry of a row of ``stored`` is the row's last pair of
    # least cost, in mclust's order. A cost is exact, or, where ``bound``, a
    # lower bound (see ``bounds``), made exact when it could be the least;
    # or at once, once ``eager`` (see :data:`_LOOSE_BOUNDS`).
    stored = np.full((n_groups, n_groups), np.inf)
    delta = stored[:, ::-1]
    bound = np.zeros((n_groups, n_groups), dtype=bool)
    eager = False
    # The least cost of each row (but row 0, empty) and the last slot with it.
    row_min = np.full(n_groups, np.inf)
    row_arg = np.zeros(n_groups, dtype=np.intp)

    def rescan(rows, m):
        """Find the least cost of each of the ``rows`` (an index array of rows
        of the first ``m`` slots, none of them 0) again."""
        costs = stored[rows, -m:]
        # (The maximum guards against rows all of whose costs are inf.)
        first = np.maximum(costs.argmin(axis=1), m - rows)
        row_min[rows] = costs[np.arange(rows.size), first]
        row_arg[rows] = m - 1 - first

    def offer(rows, p, costs):
        """Take the new ``costs`` of the pairs of slot ``p`` with the slots
        ``rows`` (a slice of rows after ``p``) into the rows' least, their
        other costs being unchanged."""
        least, arg = row_min[rows], row_arg[rows]
        better = (costs < least) | ((costs == least) & (arg < p))
        least[better] = costs[better]
        arg[better] = p

    def settle(q, p):
        """Make exact the costs of the pairs of slots ``p`` with slots ``q``
        (index arrays, ``p < q``), bounds."""
        newer = formed[p] > formed[q]
        a, b = np.where(newer, p, q), np.where(newer, q, p)
        delta[q, p] = exact_costs(a, b)
        bound[q, p] = False

    def least_pair(m):
        """The slots ``(i, j)``, ``i < j < m``, of the pair of least cost, the
        last one in mclust's order among ties."""
        nonlocal eager
        while True:
            least = row_min[1:m].min()
            # Of the pairs of least cost, the last is the first least of the
            # last row with one: no other pair matters, unless it is a bound.
            q = (row_min[1:m] == least).nonzero()[0][-1] + 1
            p = row_arg[q]
            if not bound[q, p]:
                return int(p), int(q)
            # Its exact cost, ``most``, is no less than the least exact cost:
            # make exact, in one go, every bound that does not exceed it, so
            # that the next round finds the least pair. The rows whose least
            # was such a bound are scanned again; the least of the others
            # stays.
            settle(np.array([q]), np.array([p]))
            most = delta[q, p]
            rows = (row_min[1:m] <= most).nonzero()[0] + 1
            stale = rows[bound[rows, row_arg[rows]]]
            at, slot = ((delta[rows, :m] <= most) & bound[rows, :m]).nonzero()
            if at.size:
                settle(rows[at], slot)
            rescan(np.append(stale, q), m)
            # Bounds this loose make a lazy log-determinant cost more than it
            # saves: from now on, compute it with the bounds.
            eager = eager or at.size > _LOOSE_BOUNDS

    # The pairs of two rows, whose costs are exact, in blocks of rows.
    block = max(1, 2**16 // n_groups)
    for first in range(1, n_groups, block):
        rows = np.arange(first, min(first + block, n_groups))
        width = rows[-1]
        costs, _ = bounds(rows[:, None], slice(0, width))
        costs[np.arange(width) >= rows[:, None]] = np.inf
        delta[rows, :width] = costs
        rescan(rows, width + 1)

    merges = np.empty((n_groups - 1, 2), dtype=np.intp)
    for step, m in enumerate(range(n_groups, 1, -1)):
        i, j = least_pair(m)
        merges[step] = sorted((label[i], label[j]))
        merge(i, j)
        formed[i] = step

        last = m - 1
        # Rows after i hold a pair with i, rows after j one with j. Those whose
        # least was one of these, and row j, which takes the last slot's
        # pairs, are scanned again; the others take the new pairs into their
        # least.
        row_arg[j] = i
        tail = slice(i + 1, last)
        stale = ((row_arg[tail] == i) | (row_arg[tail] == j)).nonzero()[0] + (i + 1)
        if j < last:
            # The last slot moves to slot j, its pairs with it.
            for array in (size, mean, scatter, trace, cost, label, formed):
                array[j] = array[last]
            between = slice(j + 1, last)
            for array in (delta, bound):
                array[j, :j] = array[last, :j]
                array[between, j] = array[last, between]
            offer(between, j, delta[between, j])
        m = last
        if m > 1:
            # Slot i's pairs with the slots [0, m), but with itself.
            costs, big = bounds(i, slice(0, m))
            if eager and big.any():
                others = big.nonzero()[0]
                costs[others] = exact_costs(np.full(others.size, i), others)
                big[:] = False
            after = slice(i + 1, m)
            delta[i, :i], bound[i, :i] = costs[:i], big[:i]
            delta[after, i], bound[after, i] = costs[after], big[after]
            offer(after, i, costs[after])
        rescan(np.append(stale, i) if i > 0 else stale, m)
    return merges


def cut(merges, n_clusters):
    """The partition of the tree into ``n_clusters`` groups, labelled 0, 1, ...
    in the order of first appearance (mclust's ``hclass``)."""
    n_samples = merges.shape[0] + 1
    labels = np.arange(n_samples)
    for a, b in merges[: n_samples - n_clusters]:
        labels[labels == b] = a
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty_like(first)
    rank[np.argsort(first)] = np.arange(first.size)
    return rank[np.reshape(inverse, -1)]


def hierarchical_labels(X, n_clusters, random_state):
    """Labels of the rows ``X`` from mclust's merge tree, or -1 for rows
    outside the subset of :data:`HIERARCHY_SUBSET` rows that builds the tree
    when there are more rows than that (drawn with ``random_state``).

    Trees are kept for the few most recent data (:data:`TREES`).
    """
    X = np.asarray(X, dtype=np.float64)
    n_samples = X.shape[0]
    rows = np.arange(n_samples)
    if n_samples > HIERARCHY_SUBSET:
        rows = np.sort(random_state.choice(n_samples, HIERARCHY_SUBSET, replace=False))
    labels = np.full(n_samples, -1, dtype=np.intp)
    labels[rows] = cut(TREES.tree(X[rows]), n_clusters)
    return labels
