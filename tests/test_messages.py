"""Where OTGaussianMixture warns or fails for the same reason as scikit-learn's
GaussianMixture, it uses the same class and words (then its own advice), so
that filters written for GaussianMixture keep working. Every expected text is
GaussianMixture's own, captured here at test time."""

import re
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.mixture import GaussianMixture

from sklearn_otmix import OTGaussianMixture

X = load_iris().data


def _error(estimator, method, *args, error=ValueError):
    with pytest.raises(error) as caught:
        getattr(estimator, method)(*args)
    return str(caught.value)


def _warning(estimator, *args):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator.fit(*args)
    return [w for w in caught if issubclass(w.category, ConvergenceWarning)]


def _same_words(theirs, ours, names=True):
    """``ours`` starts with ``theirs``, numbers aside (``names``: the class
    name aside too)."""
    if names:
        theirs = theirs.replace("GaussianMixture", "OTGaussianMixture")
        theirs = theirs.replace("OTOTGaussianMixture", "OTGaussianMixture")
    digits = re.compile(r"-?\d+(\.\d+)?")
    theirs, ours = digits.sub("#", theirs), digits.sub("#", ours)
    assert ours.startswith(theirs), f"\n ours: {ours}\n GaussianMixture: {theirs}"
    return ours[len(theirs) :]


def test_did_not_converge():
    theirs = _warning(GaussianMixture(3, max_iter=2, random_state=0), X)
    ours = _warning(OTGaussianMixture(3, max_iter=2, random_state=0), X)
    assert len(theirs) == len(ours) == 1
    advice = _same_words(str(theirs[0].message), str(ours[0].message))
    assert "max_iter=#" in advice
    # A filter written for GaussianMixture silences ours.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "error", category=ConvergenceWarning, message="Best performing"
        )
        with pytest.raises(ConvergenceWarning):
            OTGaussianMixture(3, max_iter=2, random_state=0).fit(X)
        warnings.filterwarnings(
            "ignore", category=ConvergenceWarning, message=str(theirs[0].message)
        )
        OTGaussianMixture(3, max_iter=2, random_state=0).fit(X)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ill_defined_covariance(dtype):
    """Two points repeated, three components, no regularisation: a component
    holds one point."""
    data = np.array([[0.0, 0.0], [1.0, 1.0]] * 4, dtype=dtype)
    means = np.array([[0.0, 0.0], [1.0, 1.0], [0.5, 0.5]])
    kwargs = dict(n_components=3, reg_covar=0.0, means_init=means)
    theirs = _error(GaussianMixture(**kwargs), "fit", data)
    ours = _error(OTGaussianMixture(**kwargs), "fit", data)
    _same_words(theirs, ours)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize(
    "parameter, value",
    [
        ("weights_init", np.full(2, 0.5)),
        ("means_init", np.zeros((2, 4))),
        ("precisions_init", np.ones(7)),
    ],
)
def test_initial_parameters_of_the_wrong_shape(covariance_type, parameter, value):
    kwargs = dict(n_components=3, covariance_type=covariance_type, parameter=value)
    kwargs[parameter] = kwargs.pop("parameter")
    theirs = _error(GaussianMixture(**kwargs), "fit", X)
    ours = _error(OTGaussianMixture(**kwargs), "fit", X)
    assert parameter in _same_words(theirs, ours)


@pytest.mark.parametrize(
    "weights",
    [[0.5, 0.6, -0.1], [0.5, 0.6, 0.1]],
    ids=["out of range", "not normalised"],
)
def test_initial_weights(weights):
    """GaussianMixture's range message swaps its min and max values: the
    numbers are compared aside."""
    theirs = _error(GaussianMixture(3, weights_init=weights), "fit", X)
    ours = _error(OTGaussianMixture(3, weights_init=weights), "fit", X)
    _same_words(theirs, ours)


@pytest.mark.parametrize(
    "covariance_type, precisions",
    [
        ("spherical", -np.ones(3)),
        ("diag", -np.ones((3, 4))),
        ("full", np.stack([np.eye(4), -np.eye(4), np.eye(4)])),
        ("tied", -np.eye(4)),
    ],
)
def test_initial_precisions_not_positive(covariance_type, precisions):
    kwargs = dict(covariance_type=covariance_type, precisions_init=precisions)
    theirs = _error(GaussianMixture(3, **kwargs), "fit", X)
    ours = _error(OTGaussianMixture(3, **kwargs), "fit", X)
    _same_words(theirs, ours)


def test_sample_without_samples():
    """GaussianMixture prints n_components as the value of n_samples: the
    numbers are compared aside."""
    theirs = _error(GaussianMixture(2, random_state=0).fit(X), "sample", 0)
    ours = _error(OTGaussianMixture(2, random_state=0).fit(X), "sample", 0)
    _same_words(theirs, ours)


def test_fewer_samples_than_components():
    theirs = _error(GaussianMixture(5), "fit", X[:3])
    ours = _error(OTGaussianMixture(5), "fit", X[:3])
    _same_words(theirs, ours)


def test_one_sample():
    theirs = _error(GaussianMixture(1), "fit", X[:1])
    ours = _error(OTGaussianMixture(1), "fit", X[:1])
    _same_words(theirs, ours)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples"])
def test_not_fitted(method):
    theirs = _error(GaussianMixture(), method, X, error=NotFittedError)
    ours = _error(OTGaussianMixture(), method, X, error=NotFittedError)
    _same_words(theirs, ours)


def test_wrong_number_of_features():
    theirs = _error(GaussianMixture(2).fit(X), "predict", X[:, :3])
    ours = _error(OTGaussianMixture(2).fit(X), "predict", X[:, :3])
    _same_words(theirs, ours)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_not_finite(value):
    """The first line: scikit-learn's own (its NaN message goes on with
    generic advice on supervised learners, which ours replaces)."""
    bad = X.copy()
    bad[0, 0] = value
    theirs = _error(GaussianMixture(2), "fit", bad)
    # NaN is a missing entry, but with a noise component.
    ours = _error(OTGaussianMixture(2, noise=np.isnan(value)), "fit", bad)
    assert ours.splitlines()[0] == theirs.splitlines()[0]
