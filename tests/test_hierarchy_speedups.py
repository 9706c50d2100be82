"""``merge_tree`` against the plain algorithm it speeds up.

``merge_tree`` keeps the least cost of each row of pairs and leaves a pair's
log-determinant out until the pair could be the least; neither may change a
merge, ties included. The plain algorithm below keeps every pair's exact cost
in one array and scans all of it at every step.
"""

import numpy as np
import pytest

from sklearn_otmix import _hierarchy
from sklearn_otmix._hierarchy import _cost, _log_det, merge_tree, whiten


def plain_merge_tree(Z):
    """The merges of :func:`merge_tree`, by a full scan of all pair costs at
    every step; ties go to the last pair in mclust's order."""
    n_groups, n_features = Z.shape
    alpha = np.sum((Z - Z.mean(axis=0)) ** 2) / (n_groups * n_features)
    alpha = max(alpha, np.finfo(np.float64).eps)
    size = np.ones(n_groups)
    mean = Z.copy()
    scatter = np.zeros((n_groups, n_features, n_features))
    trace = np.zeros(n_groups)
    cost = _cost(size, trace, np.full(n_groups, -np.inf), alpha, n_features)
    label = np.arange(n_groups)

    def merged(a, others):
        n_ab = size[a] + size[others]
        gap = mean[others] - mean[a]
        shrink = size[a] * size[others] / n_ab
        trace_ab = trace[a] + trace[others] + shrink * np.einsum("ij,ij->i", gap, gap)
        scatter_ab = (
            scatter[a]
            + scatter[others]
            + shrink[:, None, None] * gap[:, :, None] * gap[:, None, :]
        )
        log_det = np.full(others.size, -np.inf)
        big = (n_ab > n_features) & (n_ab != 2)
        if big.any():
            log_det[big] = _log_det(scatter_ab[big], n_ab[big])
        return (
            n_ab,
            trace_ab,
            scatter_ab,
            _cost(n_ab, trace_ab, log_det, alpha, n_features),
        )

    # delta[q, p], p < q: the cost of merging slots p and q (a = q at first,
    # then the slot just merged, as the subtractions' order matters).
    delta = np.full((n_groups, n_groups), np.nan)
    for q in range(1, n_groups):
        others = np.arange(q)
        delta[q, :q] = merged(q, others)[3] - cost[q] - cost[others]
    merges = []
    for m in range(n_groups, 1, -1):
        # mclust's order: (0, 1), (0, 2), (1, 2), (0, 3), ...; the last least.
        order = [(q, p) for q in range(1, m) for p in range(q)]
        costs = np.array([delta[q, p] for q, p in order])
        j, i = order[costs.size - 1 - int(np.argmin(costs[::-1]))]
        merges.append(sorted((label[i], label[j])))
        n_ij, trace_ij, scatter_ij, cost_ij = merged(i, np.array([j]))
        mean[i] = (size[i] * mean[i] + size[j] * mean[j]) / n_ij[0]
        size[i], trace[i], scatter[i], cost[i] = (
            n_ij[0],
            trace_ij[0],
            scatter_ij[0],
            cost_ij[0],
        )
        label[i] = min(label[i], label[j])
        last = m - 1
        if j != last:
            for array in (size, mean, scatter, trace, cost, label):
                array[j] = array[last]
            between = slice(j + 1, last)
            delta[j, :j] = delta[last, :j]
            delta[between, j] = delta[last, between]
        others = np.array([k for k in range(last) if k != i], dtype=np.intp)
        if others.size:
            costs = merged(i, others)[3] - cost[i] - cost[others]
            for k, value in zip(others, costs):
                delta[max(i, k), min(i, k)] = value
    return np.array(merges, dtype=np.intp).reshape(-1, 2)


def _data(name):
    rng = np.random.RandomState(0)
    if name == "normal":
        return whiten(rng.normal(size=(90, 3)))
    if name == "integer ties":
        return rng.randint(0, 3, size=(90, 3)).astype(float)
    if name == "duplicated rows":
        return whiten(np.repeat(rng.normal(size=(30, 4)), 3, axis=0))
    if name == "one column":
        return whiten(rng.normal(size=(90, 1)))
    if name == "large scale":
        return rng.normal(size=(90, 2)) * 100
    if name == "clusters":
        return np.vstack([rng.normal(size=(30, 3)) + 4 * k for k in range(3)])
    if name == "fewer rows than columns":
        return rng.normal(size=(6, 9))
    if name == "identical rows":
        return np.ones((12, 2))
    if name == "a row not finite":
        X = rng.normal(size=(20, 3))
        X[4, 1] = np.nan
        return X
    raise ValueError(name)


DATA = [
    "normal",
    "integer ties",
    "duplicated rows",
    "one column",
    "large scale",
    "clusters",
    "fewer rows than columns",
    "identical rows",
    "a row not finite",
]


@pytest.mark.parametrize("name", DATA)
@pytest.mark.parametrize("loose_bounds", [None, -1, np.inf])
def test_merge_tree_is_the_plain_algorithm(name, loose_bounds, monkeypatch):
    # -1: compute log-determinants with the bounds from the first lazy round
    # on; inf: never.
    if loose_bounds is not None:
        monkeypatch.setattr(_hierarchy, "_LOOSE_BOUNDS", loose_bounds)
    Z = _data(name)
    with np.errstate(all="ignore"):
        expected = plain_merge_tree(Z)
        merges = merge_tree(Z)
    np.testing.assert_array_equal(merges, expected)


def test_plain_algorithm_keeps_the_last_of_tied_pairs():
    # Four equally spaced points on a line: the pairs (0, 1), (1, 2) and
    # (2, 3) tie, and mclust's Fortran keeps the last.
    Z = np.array([[0.0], [1.0], [2.0], [3.0]])
    np.testing.assert_array_equal(plain_merge_tree(Z)[0], [2, 3])
    np.testing.assert_array_equal(merge_tree(Z)[0], [2, 3])
