"""Proportions: known weights without an order (``target_order``)."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import linear_sum_assignment

from sklearn_otmix import OTGaussianMixture, OTGaussianMixtureClassifier

TRUE_WEIGHTS = np.array([0.6, 0.3, 0.1])
TRUE_MEANS = np.array([[0.0, 0.0], [4.5, 0.0], [2.25, 3.75]])


@pytest.fixture(scope="module")
def unequal():
    """Setting (b) of the fixed-weights example: 500 points, 0.6/0.3/0.1."""
    rng = np.random.default_rng(0)
    labels = rng.choice(3, size=500, p=TRUE_WEIGHTS)
    return TRUE_MEANS[labels] + rng.standard_normal((500, 2)), labels


def _mean_error(means):
    distances = np.linalg.norm(means[:, None] - TRUE_MEANS[None], axis=2)
    rows, cols = linear_sum_assignment(distances)
    return distances[rows, cols].max(), cols


def _fit(X, **params):
    model = OTGaussianMixture(3, reg_m=np.inf, target_weights=TRUE_WEIGHTS, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X)


def test_free_order_finds_the_labelling_from_k_means(unequal):
    """From k-means initialisations the targets are matched to the clusters:
    every seed reaches the truth, where the order given fails in most."""
    X, _ = unequal
    free = [_mean_error(_fit(X, random_state=s).means_)[0] for s in range(10)]
    given = [
        _mean_error(_fit(X, target_order="given", random_state=s).means_)[0]
        for s in range(10)
    ]
    assert np.all(np.array(free) < 0.5)
    assert np.sum(np.array(given) < 0.5) < 10


def test_each_component_carries_the_weight_of_its_cluster(unequal):
    X, _ = unequal
    model = _fit(X, random_state=0)
    _, cluster = _mean_error(model.means_)
    assert_array_equal(model.weights_, TRUE_WEIGHTS[cluster])


@pytest.mark.parametrize("seed", range(6))
def test_re_matching_never_increases_the_objective(unequal, seed):
    """From random single points the potentials propose orders; each is kept
    only where it lowers F, so the lower bound never decreases."""
    X, _ = unequal
    model = _fit(X, init_params="random_from_data", random_state=seed, tol=1e-6)
    assert np.all(np.diff(model.lower_bounds_) >= -1e-9)
    assert_array_equal(np.sort(model.weights_), np.sort(TRUE_WEIGHTS))


def test_potentials_correct_a_wrong_order(unequal):
    """Components placed at the truth with the targets in the reverse order:
    the first E-step's potentials propose the right order, and it is kept."""
    X, _ = unequal
    model = OTGaussianMixture(
        3,
        reg_m=np.inf,
        target_weights=TRUE_WEIGHTS[::-1],
        target_order="free",
        means_init=TRUE_MEANS,
        precisions_init=np.repeat(np.eye(2)[None], 3, axis=0),
    ).fit(X)
    assert_array_equal(model.weights_, TRUE_WEIGHTS)
    given = OTGaussianMixture(
        3,
        reg_m=np.inf,
        target_weights=TRUE_WEIGHTS[::-1],
        means_init=TRUE_MEANS,  # 'auto' keeps the order when the means are given
        precisions_init=np.repeat(np.eye(2)[None], 3, axis=0),
        max_iter=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        given.fit(X)
    assert_array_equal(given.weights_, TRUE_WEIGHTS[::-1])
    assert model.lower_bound_ > given.lower_bound_


def test_free_order_is_the_given_one_for_other_regimes(unequal):
    """Only fixed weights have an order to find: reg_m=0 and finite reg_m are
    unchanged by target_order."""
    X, _ = unequal
    for reg_m in (0.0, 1.0):
        fits = [
            OTGaussianMixture(
                3,
                reg_m=reg_m,
                target_weights=TRUE_WEIGHTS,
                target_order=order,
                random_state=0,
            ).fit(X)
            for order in ("given", "free")
        ]
        assert_allclose(fits[0].means_, fits[1].means_)


def test_classifier_exchanges_targets_within_a_class_only(unequal):
    """Two components per class: the targets move between a class's own
    components, so each class keeps its total."""
    X, labels = unequal
    y = np.where(labels == 0, 0, 1)  # class 1: the two smaller clusters
    y_partial = np.where(np.random.RandomState(0).rand(len(y)) < 0.3, y, -1)
    target = np.array([0.3, 0.3, 0.3, 0.1])[[0, 1, 3, 2]]  # class 1: 0.1, 0.3
    model = OTGaussianMixtureClassifier(
        2,
        covariance_type="full",
        reg_m=np.inf,
        target_weights=target,
        unlabelled_weight=1.0,
        random_state=0,
    ).fit(X, y_partial)
    assert_allclose(model.weights_[:2].sum(), 0.6)
    assert_allclose(np.sort(model.weights_[2:]), [0.1, 0.3])
    # The class-1 component near the small cluster carries 0.1.
    small = np.argmin(np.linalg.norm(model.means_[2:] - TRUE_MEANS[2], axis=1))
    assert model.weights_[2 + small] == pytest.approx(0.1)
