"""The same bad input gets the same error, whatever holds the data.

One table of bad inputs runs through every public method that takes data, with
numpy arrays, arrays of other namespaces under ``array_api_dispatch`` (torch,
``array_api_strict``) and Dask arrays: the exception's type and message must be
those of the numpy input.
"""

import contextlib

import numpy as np
import pytest
import sklearn
from conftest import DATASETS

from sklearn_otmix import OTGaussianMixture

X_IRIS, _ = DATASETS["iris"]
N = len(X_IRIS)


def _with(value, row=3, column=1):
    X = X_IRIS.copy()
    X[row, column] = value
    return X


def _nan_row(row=3):
    """A row with no observed entry (a NaN entry alone is a missing one)."""
    X = X_IRIS.copy()
    X[row] = np.nan
    return X


def _weights(*head):
    return np.r_[np.array(head, dtype=float), np.ones(N - len(head))]


# (method, X, sample_weight, n_components): the method of a fitted estimator
# (fitted on iris) or, for 'fit' and a first 'partial_fit', of a new one.
BAD_INPUTS = {
    "fit, a row of NaN in X": ("fit", _nan_row(), None, 2),
    "fit, infinity in X": ("fit", _with(np.inf), None, 2),
    "fit, 1-D X": ("fit", X_IRIS[:, 0], None, 2),
    "fit, 3-D X": ("fit", X_IRIS.reshape(N, 2, 2), None, 2),
    "fit, one sample": ("fit", X_IRIS[:1], None, 1),
    "fit, fewer samples than components": ("fit", X_IRIS[:4], None, 5),
    "fit, negative weight": ("fit", X_IRIS, _weights(-1.0), 2),
    "fit, NaN weight": ("fit", X_IRIS, _weights(np.nan), 2),
    "fit, infinite weight": ("fit", X_IRIS, _weights(np.inf), 2),
    "fit, weights sum to zero": ("fit", X_IRIS, np.zeros(N), 2),
    "fit, weights of the wrong length": ("fit", X_IRIS, np.ones(N - 1), 2),
    "fit, weights of the wrong shape": ("fit", X_IRIS, np.ones((N, 1)), 2),
    "fit, too few positive weights": (
        "fit",
        X_IRIS,
        np.r_[1.0, 1.0, np.zeros(N - 2)],
        3,
    ),
    "partial_fit, a row of NaN in X": ("partial_fit", _nan_row(), None, 2),
    "partial_fit, negative weight": ("partial_fit", X_IRIS, _weights(-1.0), 2),
    "partial_fit, wrong number of features": ("partial_fit", X_IRIS[:, :3], None, 2),
    "score, negative weight": ("score", X_IRIS, _weights(-1.0), 2),
    "score, NaN weight": ("score", X_IRIS, _weights(np.nan), 2),
    "score, weights of the wrong length": ("score", X_IRIS, np.ones(N - 1), 2),
    "score, a row of NaN in X": ("score", _nan_row(), None, 2),
    "predict, wrong number of features": ("predict", X_IRIS[:, :3], None, 2),
    "predict, infinity in X": ("predict", _with(-np.inf), None, 2),
    "predict, 1-D X": ("predict", X_IRIS[:, 0], None, 2),
    "predict_proba, wrong number of features": (
        "predict_proba",
        X_IRIS[:, :3],
        None,
        2,
    ),
    "score_samples, a row of NaN in X": ("score_samples", _nan_row(), None, 2),
    "bic, wrong number of features": ("bic", X_IRIS[:, :3], None, 2),
    "aic, a row of NaN in X": ("aic", _nan_row(), None, 2),
}


def _numpy():
    return (lambda array: array), contextlib.nullcontext


def _namespace(name):
    module = pytest.importorskip(name)

    def move(array):
        return module.asarray(array)

    return move, lambda: sklearn.config_context(array_api_dispatch=True)


def _dask():
    da = pytest.importorskip("dask.array")
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")

    def move(array):
        return da.from_array(array, chunks=40)

    return move, lambda: dask.config.set(scheduler="synchronous")


LAYERS = {
    "numpy": _numpy,
    "array_api_strict": lambda: _namespace("array_api_strict"),
    "torch": lambda: _namespace("torch"),
    "dask": _dask,
}


def _error(layer, case):
    """The type and message of what ``case`` raises with data held by ``layer``."""
    method, X, sample_weight, n_components = BAD_INPUTS[case]
    move, context = LAYERS[layer]()
    estimator = OTGaussianMixture(n_components, random_state=0)
    fitted = method not in ("fit", "partial_fit") or case.endswith("features")
    weighted = method in ("fit", "partial_fit", "score")
    with context():
        if fitted:
            estimator.fit(move(X_IRIS))
        arguments = {
            "sample_weight": None if sample_weight is None else move(sample_weight)
        }
        with pytest.raises((ValueError, TypeError)) as caught:
            getattr(estimator, method)(move(X), **(arguments if weighted else {}))
    return caught.type, str(caught.value)


@pytest.mark.parametrize("layer", [name for name in LAYERS if name != "numpy"])
@pytest.mark.parametrize("case", BAD_INPUTS)
def test_same_error_as_numpy(case, layer):
    assert _error(layer, case) == _error("numpy", case)


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_numpy_errors_say_what_is_wrong(case):
    """Each message names the problem (a bad table would compare nothing)."""
    kind, message = _error("numpy", case)
    topic = case.partition(", ")[2]
    words = {
        "a row of NaN in X": "no observed entry",
        "infinity in X": "infinity",
        "1-D X": "Reshape your data",
        "3-D X": "Reshape your data",
        "one sample": "minimum of 2",
        "fewer samples than components": "n_samples >= n_components",
        "negative weight": "non-negative",
        "NaN weight": "NaN",
        "infinite weight": "infinity",
        "weights sum to zero": "sums to zero",
        "weights of the wrong length": "shape (150,)",
        "weights of the wrong shape": "shape (150,)",
        "too few positive weights": "positive sample_weight",
        "wrong number of features": "4 features",
    }
    assert kind is ValueError
    assert words[topic] in message, message
