"""Bad input gets a clear error that names the problem."""

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import DATASETS
from sklearn.exceptions import NotFittedError

from sklearn_otmix import OTGaussianMixture

X_IRIS, _ = DATASETS["iris"]


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_non_finite_input(bad):
    X = X_IRIS.copy()
    X[3, 1] = bad
    with pytest.raises(ValueError, match="infinity"):
        OTGaussianMixture(2).fit(X)
    # Beside missing entries too.
    X[5, 2] = np.nan
    with pytest.raises(ValueError, match="infinity"):
        OTGaussianMixture(2).fit(X)


def test_sparse_input():
    with pytest.raises(TypeError, match="[Ss]parse"):
        OTGaussianMixture(2).fit(sp.csr_matrix(X_IRIS))


def test_one_dimensional_input():
    with pytest.raises(ValueError, match="2D array|reshape"):
        OTGaussianMixture(2).fit(X_IRIS[:, 0])


def test_fewer_samples_than_components():
    with pytest.raises(ValueError, match="n_samples >= n_components"):
        OTGaussianMixture(5).fit(X_IRIS[:4])


def test_single_sample():
    with pytest.raises(ValueError, match="minimum of 2"):
        OTGaussianMixture(1).fit(X_IRIS[:1])


def test_object_data():
    X = np.array([["a", "b"], ["c", "d"], ["e", "f"]], dtype=object)
    with pytest.raises(ValueError, match="convert|could not"):
        OTGaussianMixture(1).fit(X)


def test_complex_data():
    with pytest.raises(ValueError, match="[Cc]omplex"):
        OTGaussianMixture(1).fit(X_IRIS + 1j)


def test_wrong_number_of_features_at_predict_time():
    model = OTGaussianMixture(2, random_state=0).fit(X_IRIS)
    for method in ("predict", "predict_proba", "score_samples", "score", "bic", "aic"):
        with pytest.raises(ValueError, match="4 features"):
            getattr(model, method)(X_IRIS[:, :3])


@pytest.mark.parametrize(
    "method", ["predict", "predict_proba", "score_samples", "score", "bic", "aic"]
)
def test_not_fitted(method):
    with pytest.raises(NotFittedError):
        getattr(OTGaussianMixture(2), method)(X_IRIS)


def test_sample_before_fit_and_bad_sample_size():
    with pytest.raises(NotFittedError):
        OTGaussianMixture(2).sample(3)
    model = OTGaussianMixture(2, random_state=0).fit(X_IRIS)
    for bad in (0, -1, 2.5):
        with pytest.raises(ValueError, match="n_samples must be a positive integer"):
            model.sample(bad)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_components": 0}, "n_components"),
        ({"covariance_type": "banana"}, "covariance_type"),
        ({"tol": -1.0}, "tol"),
        ({"reg_covar": -1e-6}, "reg_covar"),
        ({"max_iter": -1}, "max_iter"),
        ({"n_init": 0}, "n_init"),
        ({"init_params": "kmedoids"}, "init_params"),
        ({"verbose_interval": 0}, "verbose_interval"),
        ({"reg": 0.0}, "reg"),
        ({"reg": -1.0}, "reg"),
        ({"reg_m": -0.5}, "reg_m"),
        ({"reg_m": np.nan}, "reg_m"),
        ({"sinkhorn_max_iter": 0}, "sinkhorn_max_iter"),
        ({"sinkhorn_tol": -1e-9}, "sinkhorn_tol"),
    ],
)
def test_bad_parameter_values(params, match):
    with pytest.raises(ValueError, match=f"'{match}' parameter"):
        OTGaussianMixture(**params).fit(X_IRIS)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"weights_init": [0.5, 0.6]}, "weights_init should sum to 1"),
        (
            {"weights_init": [1.5, -0.5]},
            r"'weights' should be in the range \[0, 1\].*weights_init",
        ),
        (
            {"weights_init": [0.5, 0.3, 0.2]},
            "'weights' should have the shape.*weights_init",
        ),
        ({"means_init": np.zeros((3, 4))}, "'means' should have the shape.*means_init"),
        (
            {"precisions_init": np.ones((2, 4, 3))},
            "'full precision' should have the shape.*precisions_init",
        ),
        (
            {"precisions_init": np.stack([np.eye(4), -np.eye(4)])},
            "symmetric, positive-definite",
        ),
        (
            {"precisions_init": np.ones((2, 4)), "covariance_type": "diag"}
            | {"precisions_init": -np.ones((2, 4))},
            "should be positive",
        ),
    ],
)
def test_bad_initial_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        OTGaussianMixture(2, **params).fit(X_IRIS)


def test_collapsed_component_says_what_to_do():
    # Two distinct points for two components: each component holds one point and
    # its covariance is exactly zero without reg_covar.
    X = np.array([[0.0, 0.0], [1.0, 1.0], [0.0, 0.0], [1.0, 1.0]])
    with pytest.raises(
        ValueError, match="ill-defined empirical covariance.*increase reg_covar"
    ):
        OTGaussianMixture(2, reg_covar=0.0, random_state=0).fit(X)
