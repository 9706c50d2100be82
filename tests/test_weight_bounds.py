"""weight_bounds: the estimated weights kept within bounds in every E-step."""

import warnings

import numpy as np
import pytest
from conftest import COVARIANCE_TYPES, assert_close_to_scale
from numpy.testing import assert_allclose
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

from sklearn_otmix import OTGaussianMixture, OTGaussianMixtureClassifier
from helpers import transport_plan

TOL = 1e-9


@pytest.fixture(scope="module")
def unequal():
    """Blobs of 60%, 25%, 10% and 5% of the rows."""
    X, _ = make_blobs(
        [600, 250, 100, 50],
        centers=[[0, 0], [5, 0], [0, 5], [5, 5]],
        random_state=0,
    )
    return X


def _fit(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the E-steps' solver must converge
        return OTGaussianMixture(4, random_state=0, max_iter=1000, **params).fit(X)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_bounds_hold_after_every_iteration(unequal, covariance_type):
    """The weights are the E-step's column masses: within the bounds (to the
    solver's tolerance) after 1, 2, 5 iterations and at the end, and the
    objective never increases."""
    low, high = 0.15, 0.4
    for max_iter in (1, 2, 5, 100):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            model = OTGaussianMixture(
                4,
                covariance_type=covariance_type,
                weight_bounds=(low, high),
                max_iter=max_iter,
                tol=1e-6,
                random_state=0,
            ).fit(unequal)
        assert np.all(model.weights_ >= low - 1e-8)
        assert np.all(model.weights_ <= high + 1e-8)
    assert np.all(np.diff(model.lower_bounds_) >= -1e-9)
    if covariance_type == "full":
        # The bound binds: unbounded, the smallest component takes 5% of the rows.
        assert np.isclose(model.weights_.min(), low)


def test_inactive_bounds_are_the_unbounded_fit(unequal):
    free = _fit(unequal, tol=1e-6)
    bounded = _fit(unequal, tol=1e-6, weight_bounds=(0.0, 1.0))
    assert bounded.n_iter_ == free.n_iter_
    for name in ("weights_", "means_", "covariances_"):
        assert_close_to_scale(getattr(bounded, name), getattr(free, name), 1e-8, name)
    assert_allclose(bounded.lower_bounds_, free.lower_bounds_, rtol=1e-10)


def test_equal_bounds_are_fixed_weights(unequal):
    target = np.array([0.4, 0.3, 0.2, 0.1])
    fixed = _fit(
        unequal, reg_m=np.inf, target_weights=target, target_order="given", tol=1e-6
    )
    bounded = _fit(unequal, weight_bounds=(target, target), tol=1e-6)
    assert_allclose(bounded.weights_, target, atol=1e-8)
    for name in ("means_", "covariances_"):
        assert_close_to_scale(getattr(bounded, name), getattr(fixed, name), 1e-8, name)


def test_per_component_bounds_and_the_solver_alone():
    """Per-component bounds on a cost matrix: the column marginal is within
    them to sinkhorn_tol, and the rows are exact."""
    rng = np.random.RandomState(0)
    cost = rng.uniform(0, 5, (300, 4))
    cost[:, 0] -= 2  # component 0 wants most of the mass
    weights = np.full(4, 0.25)
    low = np.array([0.0, 0.1, 0.2, 0.3])
    high = np.array([0.3, 0.5, 0.5, 1.0])
    result = transport_plan(
        cost,
        np.ones(300),
        weights,
        reg=1.0,
        reg_m=0.0,
        target_weights=weights,
        max_iter=1000,
        tol=TOL,
        bounds=(low, high),
    )
    assert result.converged and result.residual <= TOL
    plan = result.plan / 300
    column = plan.sum(axis=0)
    assert np.all(column >= low - TOL) and np.all(column <= high + TOL)
    assert_allclose(plan.sum(axis=1), 1 / 300, rtol=1e-12)
    # Complementarity: a held component has a non-zero potential.
    potentials = np.asarray(result.potentials)
    at_bound = np.isclose(column, low, atol=1e-8) | np.isclose(column, high, atol=1e-8)
    assert np.all((potentials != 0) <= at_bound)


def test_lower_bound_cures_a_collapse_on_duplicates():
    """Ten copies of one point beside two clusters: unbounded, a component
    collapses onto them in most initialisations (its covariance vanishes, or
    with reg_covar=0 the fit fails); a lower bound of 0.2 forbids a component
    that small."""
    rng = np.random.RandomState(0)
    X = np.vstack(
        [rng.randn(150, 2), rng.randn(150, 2) + [4, 0], np.tile([[2.0, 3.0]], (10, 1))]
    )

    def collapsed(**params):
        count = 0
        for seed in range(10):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    model = OTGaussianMixture(
                        3, random_state=seed, max_iter=300, **params
                    ).fit(X)
            except ValueError:
                count += 1
                continue
            smallest = min(np.linalg.eigvalsh(c).min() for c in model.covariances_)
            count += smallest < 1e-3
        return count

    assert collapsed() >= 5
    assert collapsed(weight_bounds=(0.2, 1.0)) == 0
    assert collapsed(reg_covar=0.0, weight_bounds=(0.2, 1.0)) == 0


def test_size_constrained_clustering_against_k_means(unequal):
    """Every cluster between 15% and 40% of the data, where k-means and EM
    follow the blobs (60% ... 5%)."""
    model = _fit(unequal, weight_bounds=(0.15, 0.4))
    sizes = np.bincount(model.predict(unequal), minlength=4) / len(unequal)
    kmeans = KMeans(4, n_init=10, random_state=0).fit(unequal)
    kmeans_sizes = np.bincount(kmeans.labels_, minlength=4) / len(unequal)
    assert kmeans_sizes.max() > 0.5 and kmeans_sizes.min() < 0.1
    assert np.all(model.weights_ >= 0.15 - 1e-8) and np.all(
        model.weights_ <= 0.4 + 1e-8
    )
    # Hard labels follow the soft masses closely here.
    assert np.all(sizes > 0.1) and np.all(sizes < 0.45)


def test_classifier_with_bounds():
    X, y = make_blobs(400, centers=[[0, 0], [4, 0]], random_state=0)
    y_partial = np.where(np.random.RandomState(0).rand(len(y)) < 0.2, y, -1)
    model = OTGaussianMixtureClassifier(
        2,
        covariance_type="diag",
        weight_bounds=(0.15, 0.35),
        unlabelled_weight=1.0,
        random_state=0,
    ).fit(X, y_partial)
    assert np.all(model.weights_ >= 0.15 - 1e-8) and np.all(
        model.weights_ <= 0.35 + 1e-8
    )


@pytest.mark.parametrize(
    ("bounds", "match"),
    [
        ((-0.1, 0.5), r"\[0, 1\]"),
        ((0.1, 1.5), r"\[0, 1\]"),
        ((0.5, 0.4), "low > high"),
        ((0.3, 1.0), "lower bounds sum to 1.2"),
        ((0.0, 0.2), "upper bounds sum to 0.8"),
        (([0.1, 0.1], 1.0), "one bound per component"),
        ((0.1,), "pair"),
        ((np.nan, 1.0), "finite"),
    ],
)
def test_bad_bounds(unequal, bounds, match):
    with pytest.raises(ValueError, match=match):
        OTGaussianMixture(4, weight_bounds=bounds).fit(unequal)


def test_bounds_need_estimated_weights(unequal):
    with pytest.raises(ValueError, match="reg_m=0"):
        OTGaussianMixture(4, reg_m=np.inf, weight_bounds=(0.1, 0.5)).fit(unequal)


def test_bounds_with_sample_weight_and_float32(unequal):
    """Integer weights act as repeated rows, and float32 data gives float32
    weights within the bounds."""
    rng = np.random.RandomState(0)
    weight = rng.randint(1, 3, len(unequal))
    params = {
        "weight_bounds": (0.15, 0.4),
        "weights_init": np.full(4, 0.25),
        "means_init": unequal[[0, 700, 900, 980]],
        "precisions_init": np.repeat(np.eye(2)[None], 4, axis=0),
        "tol": 1e-8,
    }
    weighted = OTGaussianMixture(4, max_iter=1000, **params).fit(
        unequal, sample_weight=weight
    )
    repeated = OTGaussianMixture(4, max_iter=1000, **params).fit(
        np.repeat(unequal, weight, axis=0)
    )
    assert_close_to_scale(weighted.means_, repeated.means_, 1e-6, "means")
    assert_allclose(weighted.weights_, repeated.weights_, atol=1e-7)
    single = OTGaussianMixture(4, weight_bounds=(0.15, 0.4), random_state=0)
    single.fit(unequal.astype(np.float32))
    assert single.weights_.dtype == np.float32
    assert np.all(single.weights_ >= 0.15 - 1e-6) and np.all(
        single.weights_ <= 0.4 + 1e-6
    )


def test_solver_converges_from_every_initialisation(unequal):
    """Regression: the active set once held every component at once (one at its
    upper bound, three at their lower ones: bounds summing to 0.85, no plan),
    and Newton's method stalled; components now join one at a time."""
    for seed in range(12):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            OTGaussianMixture(
                4, weight_bounds=(0.15, 0.4), tol=1e-6, max_iter=1000, random_state=seed
            ).fit(unequal)
        assert not [w for w in caught if "sinkhorn_tol" in str(w.message)], seed


def test_classifier_bounds_that_cannot_hold_the_labels():
    X, y = make_blobs(400, centers=[[0, 0], [4, 0]], random_state=0)
    y_partial = np.where(np.arange(len(y)) < 300, y, -1)  # 300 labelled rows
    share = np.mean(y_partial == 0)
    with pytest.raises(ValueError, match="class 0 take 0.2"):
        OTGaussianMixtureClassifier(weight_bounds=(0.0, [0.2, 1.0])).fit(X, y_partial)
    with pytest.raises(ValueError, match="at least 0.9"):
        OTGaussianMixtureClassifier(weight_bounds=([0.9, 0.0], 1.0)).fit(X, y_partial)
    assert share > 0.2  # the first case is infeasible
