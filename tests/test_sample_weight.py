"""Sample weights: integer weights repeat rows, zero weights remove them."""

import warnings

import numpy as np
import pytest
from conftest import COVARIANCE_TYPES, DATASETS, assert_close_to_scale
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning

from sklearn_otmix import OTGaussianMixture

FITTED = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def _explicit_init(X, n_components, covariance_type):
    """Initial parameters that do not depend on the rows' multiplicities."""
    precisions = {
        "full": np.stack([np.linalg.inv(np.cov(X.T))] * n_components),
        "tied": np.linalg.inv(np.cov(X.T)),
        "diag": np.tile(1.0 / X.var(axis=0), (n_components, 1)),
        "spherical": np.full(n_components, 1.0 / X.var()),
    }[covariance_type]
    return dict(
        weights_init=np.full(n_components, 1.0 / n_components),
        means_init=X[np.linspace(0, len(X) - 1, n_components).astype(int)],
        precisions_init=precisions,
        covariance_type=covariance_type,
    )


def _fit(X, sample_weight=None, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return OTGaussianMixture(**params).fit(X, sample_weight=sample_weight)


@pytest.mark.parametrize("reg_m", [0.0, 1.0, np.inf])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_weights_equal_repeated_rows(covariance_type, reg_m):
    X, n_components = DATASETS["iris"]
    counts = np.random.RandomState(0).randint(1, 4, size=len(X))
    params = _explicit_init(X, n_components, covariance_type)
    if reg_m == np.inf:
        del params["weights_init"]
    params.update(
        n_components=n_components, reg_m=reg_m, max_iter=20, tol=0.0, sinkhorn_tol=1e-10
    )
    weighted = _fit(X, counts, **params)
    repeated = _fit(np.repeat(X, counts, axis=0), **params)
    for name in FITTED:
        assert_close_to_scale(
            getattr(weighted, name), getattr(repeated, name), 1e-8, name
        )
    assert_allclose(weighted.lower_bounds_, repeated.lower_bounds_, rtol=1e-8)


@pytest.mark.parametrize(
    "init_params", ["kmeans", "k-means++", "random", "random_from_data"]
)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_zero_weight_equals_removed_row(covariance_type, init_params):
    X, n_components = DATASETS["wine"]
    sample_weight = np.ones(len(X))
    removed = np.arange(0, len(X), 7)
    sample_weight[removed] = 0.0
    params = dict(
        n_components=n_components,
        covariance_type=covariance_type,
        init_params=init_params,
        random_state=0,
    )
    weighted = _fit(X, sample_weight, **params)
    without = _fit(np.delete(X, removed, axis=0), **params)
    for name in FITTED:
        assert_close_to_scale(
            getattr(weighted, name), getattr(without, name), 1e-8, name
        )
    assert weighted.n_iter_ == without.n_iter_


def test_uniform_weights_are_no_weights():
    X, n_components = DATASETS["wine"]
    params = dict(
        n_components=n_components, init_params="random_from_data", random_state=0
    )
    weighted = _fit(X, np.full(len(X), 2.5), **params)
    unweighted = _fit(X, **params)
    for name in FITTED:
        assert_close_to_scale(getattr(weighted, name), getattr(unweighted, name), 1e-12)


def test_kmeans_initialisation_uses_the_weights():
    X, n_components = DATASETS["iris"]
    sample_weight = np.random.RandomState(0).uniform(0.1, 5.0, len(X))
    model = _fit(
        X, sample_weight, n_components=n_components, max_iter=0, random_state=3
    )
    kmeans = KMeans(n_components, n_init=1, random_state=np.random.RandomState(3)).fit(
        X, sample_weight=sample_weight
    )
    expected = np.stack(
        [
            np.average(
                X[kmeans.labels_ == k],
                axis=0,
                weights=sample_weight[kmeans.labels_ == k],
            )
            for k in range(n_components)
        ]
    )
    assert_allclose(model.means_, expected, rtol=1e-10)


@pytest.mark.parametrize("init_params", ["k-means++", "random_from_data"])
def test_point_initialisations_pick_heavy_points(init_params):
    X, n_components = DATASETS["iris"]
    heavy = np.array([10, 75, 140])
    sample_weight = np.full(len(X), 1e-9)
    sample_weight[heavy] = 1.0
    for seed in range(5):
        model = _fit(
            X,
            sample_weight,
            n_components=n_components,
            max_iter=0,
            init_params=init_params,
            random_state=seed,
        )
        order = np.argsort(model.means_[:, 0])
        assert_allclose(
            model.means_[order], X[heavy][np.argsort(X[heavy, 0])], rtol=1e-10
        )


def test_random_initialisation_weighs_the_responsibilities():
    X, n_components = DATASETS["iris"]
    sample_weight = np.random.RandomState(0).uniform(0.1, 5.0, len(X))
    model = _fit(
        X,
        sample_weight,
        n_components=n_components,
        max_iter=0,
        init_params="random",
        random_state=7,
    )
    responsibilities = np.random.RandomState(7).uniform(size=(len(X), n_components))
    responsibilities /= responsibilities.sum(axis=1, keepdims=True)
    mass = responsibilities * sample_weight[:, None]
    assert_allclose(model.means_, mass.T @ X / mass.sum(axis=0)[:, None], rtol=1e-10)


def test_weighted_score_and_fit_predict():
    X, n_components = DATASETS["wine"]
    sample_weight = np.random.RandomState(1).uniform(0.0, 3.0, len(X))
    model = _fit(X, sample_weight, n_components=n_components, random_state=0)
    assert_allclose(
        model.score(X, sample_weight=sample_weight),
        np.sum(sample_weight * model.score_samples(X)) / np.sum(sample_weight),
    )
    labels = OTGaussianMixture(n_components, random_state=0).fit_predict(
        X, sample_weight=sample_weight
    )
    assert_array_equal(labels, model.predict(X))
    # For the default regime the lower bound is the weighted mean log-likelihood
    # of the parameters before the last M-step: close to the final score at convergence.
    assert model.lower_bound_ == pytest.approx(
        model.score(X, sample_weight=sample_weight), abs=1e-3
    )


@pytest.mark.parametrize(
    "sample_weight, match",
    [
        (-np.ones(150), "non-negative"),
        (np.zeros(150), "sums to zero"),
        (np.ones(149), r"shape \(150,\)"),
        (np.ones((150, 1)), r"shape \(150,\)"),
        (np.r_[np.nan, np.ones(149)], "NaN"),
        (np.r_[np.inf, np.ones(149)], "infinity"),
    ],
)
def test_bad_sample_weight(sample_weight, match):
    X, _ = DATASETS["iris"]
    model = OTGaussianMixture(2)
    with pytest.raises(ValueError, match=match):
        model.fit(X, sample_weight=sample_weight)
    with pytest.raises(ValueError, match=match):
        model.fit(X).score(X, sample_weight=sample_weight)


def test_too_few_weighted_samples():
    X, _ = DATASETS["iris"]
    sample_weight = np.zeros(len(X))
    sample_weight[:2] = 1.0
    with pytest.raises(
        ValueError, match="Only 2 samples have a positive sample_weight"
    ):
        OTGaussianMixture(3).fit(X, sample_weight=sample_weight)
