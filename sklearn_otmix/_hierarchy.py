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
    n_samples, n_features = Z.shape
    n_groups = n_samples

    alpha = np.sum((Z - Z.mean(axis=0)) ** 2) / (n_samples * n_features)
    alpha = max(alpha, np.finfo(np.float64).eps)

    # Slot s holds a group: its size, mean, scatter matrix, trace, cost, label.
    size = np.ones(n_groups)
    mean = Z.copy()
    scatter = np.zeros((n_groups, n_features, n_features))
    trace = np.zeros(n_groups)
    cost = _cost(size, trace, np.full(n_groups, -np.inf), alpha, n_features)
    label = np.arange(n_groups)

    def merged(a, others):
        """Size, mean, scatter, trace and cost of slot ``a`` merged with each
        slot of ``others``."""
        n_ab = size[a] + size[others]
        gap = mean[others] - mean[a]
        shrink = size[a] * size[others] / n_ab
        trace_ab = trace[a] + trace[others] + shrink * np.einsum("ij,ij->i", gap, gap)
        scatter_ab = None
        log_det = np.full(others.size, -np.inf)
        big = (n_ab > n_features) & (n_ab != 2)
        if big.any() or others.size == 1:
            scatter_ab = (
                scatter[a]
                + scatter[others]
                + shrink[:, None, None] * gap[:, :, None] * gap[:, None, :]
            )
            if big.any():
                log_det[big] = _log_det(scatter_ab[big], n_ab[big])
        cost_ab = _cost(n_ab, trace_ab, log_det, alpha, n_features)
        return n_ab, trace_ab, scatter_ab, cost_ab

    # The pair (i, j), i < j, sits at j (j - 1) / 2 + i: the pairs of the first
    # m slots come first, in mclust's order.
    delta = np.empty(n_groups * (n_groups - 1) // 2)
    for j in range(1, n_groups):
        others = np.arange(j)
        _, _, _, cost_ij = merged(j, others)
        delta[j * (j - 1) // 2 : j * (j + 1) // 2] = cost_ij - cost[j] - cost[others]

    merges = np.empty((n_groups - 1, 2), dtype=np.intp)
    for step, m in enumerate(range(n_groups, 1, -1)):
        active = delta[: m * (m - 1) // 2]
        # mclust keeps the last pair of least cost.
        at = active.size - 1 - int(np.argmin(active[::-1]))
        j = int((1 + np.sqrt(1 + 8 * at)) // 2)
        while j * (j - 1) // 2 > at:
            j -= 1
        while (j + 1) * j // 2 <= at:
            j += 1
        i = at - j * (j - 1) // 2

        merges[step] = sorted((label[i], label[j]))
        n_ij, trace_ij, scatter_ij, cost_ij = merged(i, np.array([j]))
        mean[i] = (size[i] * mean[i] + size[j] * mean[j]) / n_ij[0]
        size[i], trace[i], scatter[i] = n_ij[0], trace_ij[0], scatter_ij[0]
        cost[i] = cost_ij[0]
        label[i] = min(label[i], label[j])

        last = m - 1
        if j != last:
            # The last slot moves to slot j, its pairs with it.
            for array in (size, mean, scatter, trace, cost, label):
                array[j] = array[last]
            others = np.setdiff1d(np.arange(last), [j])
            low, high = np.minimum(others, j), np.maximum(others, j)
            delta[high * (high - 1) // 2 + low] = delta[last * (last - 1) // 2 + others]
        m = last
        if m > 1:
            others = np.setdiff1d(np.arange(m), [i])
            _, _, _, cost_io = merged(i, others)
            low, high = np.minimum(others, i), np.maximum(others, i)
            delta[high * (high - 1) // 2 + low] = cost_io - cost[i] - cost[others]
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
