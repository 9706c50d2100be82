"""With its defaults, OTGaussianMixture gives GaussianMixture's answers."""

import warnings

import numpy as np
import pytest
from conftest import (
    COVARIANCE_TYPES,
    DATASETS,
    INIT_PARAMS,
    assert_close_to_scale,
    assert_same_mixture,
)
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from sklearn_otmix import OTGaussianMixture


def _fit_both(X, **params):
    with warnings.catch_warnings():
        # Both estimators warn alike on the runs that stop at max_iter; the
        # tests below compare converged_ instead.
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = GaussianMixture(**params).fit(X)
        ours = OTGaussianMixture(**params).fit(X)
    return ours, theirs


@pytest.mark.parametrize("init_params", INIT_PARAMS)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_same_fit_as_gaussian_mixture(dataset, covariance_type, init_params):
    X, n_components = DATASETS[dataset]
    ours, theirs = _fit_both(
        X,
        n_components=n_components,
        covariance_type=covariance_type,
        init_params=init_params,
        random_state=0,
    )
    assert_same_mixture(ours, theirs)
    assert_array_equal(ours.predict(X), theirs.predict(X))
    assert_close_to_scale(ours.predict_proba(X), theirs.predict_proba(X), 1e-7)
    assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=1e-7)
    assert_allclose(ours.bic(X), theirs.bic(X), rtol=1e-7)
    assert_allclose(ours.aic(X), theirs.aic(X), rtol=1e-7)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_fit_with_several_initialisations(covariance_type):
    X, n_components = DATASETS["wine"]
    ours, theirs = _fit_both(
        X,
        n_components=n_components,
        covariance_type=covariance_type,
        init_params="random_from_data",
        n_init=3,
        random_state=2,
    )
    assert_same_mixture(ours, theirs)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_warm_start(covariance_type):
    X, n_components = DATASETS["digits"]
    params = dict(
        n_components=n_components,
        covariance_type=covariance_type,
        warm_start=True,
        max_iter=3,
        random_state=0,
    )
    ours, theirs = OTGaussianMixture(**params), GaussianMixture(**params)
    for _ in range(3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            theirs.fit(X)
            ours.fit(X)
        assert_same_mixture(ours, theirs)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_fit_from_explicit_initial_parameters(covariance_type):
    X, n_components = DATASETS["breast_cancer"]
    rng = np.random.RandomState(0)
    n_features = X.shape[1]
    precisions = {
        "full": np.stack([np.eye(n_features) * s for s in (0.5, 2.0)]),
        "tied": np.eye(n_features),
        "diag": rng.uniform(0.5, 2.0, size=(n_components, n_features)),
        "spherical": np.array([0.5, 2.0]),
    }[covariance_type]
    ours, theirs = _fit_both(
        X,
        n_components=n_components,
        covariance_type=covariance_type,
        weights_init=[0.3, 0.7],
        means_init=X[[0, 1]],
        precisions_init=precisions,
    )
    assert_same_mixture(ours, theirs)


@pytest.mark.parametrize("init_params", INIT_PARAMS)
def test_partial_explicit_initial_parameters(init_params):
    X, n_components = DATASETS["iris"]
    ours, theirs = _fit_both(
        X,
        n_components=n_components,
        init_params=init_params,
        means_init=X[[0, 60, 120]],
        random_state=0,
    )
    assert_same_mixture(ours, theirs)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dataset", ["iris", "blobs"])
def test_float32_stays_float32_and_agrees(dataset, covariance_type):
    X, n_components = DATASETS[dataset]
    X = X.astype(np.float32)
    ours, theirs = _fit_both(
        X, n_components=n_components, covariance_type=covariance_type, random_state=0
    )
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert getattr(ours, name).dtype == np.float32, name
        # float32 carries 7 digits; the uncentred second moments of the
        # diag/spherical/tied M-steps (E[x^2] - mu^2, scikit-learn's form too)
        # lose some to cancellation, and the two estimators round differently:
        # 5e-5 of the scale is the largest difference measured (iris, diag).
        assert_close_to_scale(getattr(ours, name), getattr(theirs, name), 2e-4, name)
    assert ours.n_iter_ == theirs.n_iter_
    assert_array_equal(ours.predict(X), theirs.predict(X))
    assert ours.predict_proba(X).dtype == np.float32


def test_max_iter_zero_returns_the_initialisation():
    X, n_components = DATASETS["iris"]
    ours, theirs = _fit_both(
        X, n_components=n_components, max_iter=0, n_init=2, random_state=0
    )
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert_close_to_scale(getattr(ours, name), getattr(theirs, name), 1e-12, name)
    assert ours.n_iter_ == 0 and not ours.converged_


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fit_predict_equals_fit_then_predict(covariance_type):
    X, n_components = DATASETS["digits"]
    params = dict(
        n_components=n_components,
        covariance_type=covariance_type,
        max_iter=2,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = OTGaussianMixture(**params).fit_predict(X)
        model = OTGaussianMixture(**params).fit(X)
    assert_array_equal(labels, model.predict(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_samples(covariance_type):
    X, n_components = DATASETS["wine"]
    ours, theirs = _fit_both(
        X, n_components=n_components, covariance_type=covariance_type, random_state=3
    )
    X_ours, y_ours = ours.sample(500)
    X_theirs, y_theirs = theirs.sample(500)
    assert_array_equal(y_ours, y_theirs)
    assert_close_to_scale(X_ours, X_theirs, 1e-6)
    assert X_ours.shape == (500, X.shape[1])


def test_convergence_warning_when_the_best_run_stops_early():
    X, n_components = DATASETS["digits"]
    with pytest.warns(ConvergenceWarning, match="did not converge within max_iter=2"):
        OTGaussianMixture(n_components, max_iter=2, random_state=0).fit(X)


def test_verbose_output(capsys):
    X, n_components = DATASETS["iris"]
    for verbose in (1, 2):
        OTGaussianMixture(
            n_components, verbose=verbose, verbose_interval=1, random_state=0
        ).fit(X)
        out = capsys.readouterr().out
        assert "Initialization 0" in out
        assert "Iteration 1" in out
        assert "Initialization converged" in out
        assert ("lower bound change" in out) == (verbose == 2)
