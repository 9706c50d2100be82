"""Persistence: every estimator survives pickle, joblib and skops.io unchanged.

A loaded model predicts exactly what the saved one did and holds exactly the
same fitted attributes; ``partial_fit`` continues after a round trip as it
would have without it. For skops the types it reports as untrusted are pinned
here (and documented in the user guide, "Saving and loading models"): a new
type among a fitted estimator's attributes fails these tests, so that the
documented list is kept up to date.
"""

import io
import pickle
import warnings

import joblib
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.base import BaseEstimator
from sklearn.datasets import load_iris

from sklearn_otmix import (
    OTGaussianMixture,
    OTGaussianMixtureClassifier,
    OTGaussianMixtureSearch,
    PriorShiftAdapter,
)

sio = pytest.importorskip("skops.io")
from skops.io.exceptions import UntrustedTypesFoundException  # noqa: E402

# The types skops.io reports as untrusted, i.e. the ``trusted`` list to pass to
# skops.io.load(s). Keep in sync with doc/user_guide.rst.
MIXTURE = "sklearn_otmix._estimator.OTGaussianMixture"
CLASSIFIER = "sklearn_otmix._classifier.OTGaussianMixtureClassifier"
SEARCH = "sklearn_otmix._selection.OTGaussianMixtureSearch"
ADAPTER = "sklearn_otmix._adapt.PriorShiftAdapter"
# The running statistics of partial_fit (the private attribute ``_stream``).
STREAM = "sklearn_otmix._online.Stream"
STATISTICS = "sklearn_otmix._gaussian.Statistics"
ALL_TRUSTED = {MIXTURE, CLASSIFIER, SEARCH, ADAPTER, STREAM, STATISTICS}

X, y = load_iris(return_X_y=True)
WEIGHTS = np.random.RandomState(0).uniform(0.2, 2.0, size=X.shape[0])
BATCH = X[np.r_[0:45, 50:60, 100:105]]  # a batch with shifted proportions
CHUNKS = np.array_split(X[np.random.RandomState(2).permutation(150)], 5)  # a stream


def _fit(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning is not the point
        return estimator.fit(*args, **kwargs)


def _mixture(covariance_type="full", **params):
    return OTGaussianMixture(
        3, covariance_type=covariance_type, random_state=0, **params
    )


def _partial(estimator, chunks):
    for chunk in chunks:
        estimator.partial_fit(chunk)
    return estimator


def _classifier(**params):
    return OTGaussianMixtureClassifier(random_state=0, **params)


# name: (a function returning a fitted estimator, the untrusted types skops reports)
CASES = {
    **{
        f"mixture-{ct}": (lambda ct=ct: _fit(_mixture(ct), X), {MIXTURE})
        for ct in ("full", "tied", "diag", "spherical", "VEV", "EEV", "VII")
    },
    "mixture-reg_m=inf": (lambda: _fit(_mixture(reg_m=np.inf), X), {MIXTURE}),
    "mixture-VEV-reg_m=inf": (
        lambda: _fit(_mixture("VEV", reg_m=np.inf), X),
        {MIXTURE},
    ),
    "mixture-sample_weight": (
        lambda: _fit(_mixture("diag"), X, sample_weight=WEIGHTS),
        {MIXTURE},
    ),
    "mixture-reg_m=inf-sample_weight": (
        lambda: _fit(_mixture(reg_m=np.inf), X, sample_weight=WEIGHTS),
        {MIXTURE},
    ),
    "mixture-reg_m=2-target_weights": (
        lambda: _fit(_mixture(reg_m=2.0, target_weights=[0.2, 0.3, 0.5]), X),
        {MIXTURE},
    ),
    "mixture-noise": (
        lambda: _fit(_mixture("VEV", noise=True, init_params="hierarchical"), X),
        {MIXTURE},
    ),
    "mixture-partial_fit": (
        lambda: _partial(_mixture(), CHUNKS[:3]),
        {MIXTURE, STREAM, STATISTICS},
    ),
    "classifier": (lambda: _fit(_classifier(), X, y), {CLASSIFIER}),
    "classifier-2-per-class-reg_m=inf-diag": (
        lambda: _fit(
            _classifier(n_components_per_class=2, reg_m=np.inf, covariance_type="diag"),
            X,
            y,
            sample_weight=WEIGHTS,
        ),
        {CLASSIFIER},
    ),
    "search": (
        lambda: _fit(
            OTGaussianMixtureSearch(
                n_components=[1, 2], covariance_types=["EII", "VVV"]
            ),
            X,
        ),
        {SEARCH, MIXTURE},
    ),
    "search-template-sample_weight": (
        lambda: _fit(
            OTGaussianMixtureSearch(
                _mixture(reg_m=np.inf, init_params="k-means++"),
                n_components=[1, 2],
                covariance_types=["EII", "VVV"],
                criterion="icl",
            ),
            X,
            sample_weight=WEIGHTS,
        ),
        {SEARCH, MIXTURE},
    ),
    "search-noise": (
        lambda: _fit(
            OTGaussianMixtureSearch(
                n_components=[1, 2], covariance_types=["EII", "VVV"], noise=True
            ),
            X,
        ),
        {SEARCH, MIXTURE},
    ),
    "adapter-classifier": (
        lambda: _fit(PriorShiftAdapter(_fit(_classifier(), X, y)), BATCH),
        {ADAPTER, CLASSIFIER},
    ),
    "adapter-mixture-reg_m=inf": (
        lambda: _fit(
            PriorShiftAdapter(
                _fit(_mixture(), X), reg_m=np.inf, target_weights=[0.5, 0.3, 0.2]
            ),
            BATCH,
        ),
        {ADAPTER, MIXTURE},
    ),
    "adapter-mixture-sample_weight": (
        lambda: _fit(
            PriorShiftAdapter(_fit(_mixture("diag"), X), reg_m=1.0),
            BATCH,
            sample_weight=WEIGHTS[: BATCH.shape[0]],
        ),
        {ADAPTER, MIXTURE},
    ),
}

_FITTED = {}


def fitted(name):
    """The fitted estimator of a case (fitted once; never modified by a test)."""
    if name not in _FITTED:
        _FITTED[name] = CASES[name][0]()
    return _FITTED[name]


METHODS = ("predict", "predict_proba", "predict_log_proba", "score_samples")


def outputs(estimator):
    """Everything the estimator computes from the data, as arrays."""
    result = {}
    for method in METHODS:
        if hasattr(estimator, method):
            result[method] = getattr(estimator, method)(X)
    if hasattr(estimator, "sample") and _seeded(estimator):
        result["sample"] = estimator.sample(20)  # the same seed draws the same
    for method in ("score", "bic", "aic"):
        if hasattr(estimator, method) and not hasattr(estimator, "classes_"):
            result[method] = getattr(estimator, method)(X)
    if hasattr(estimator, "classes_"):
        result["score"] = estimator.score(X, y)
    return result


def _seeded(estimator):
    """Whether ``sample`` draws from a fixed seed (not ``random_state=None``)
    and can (a mixture with a noise component does not sample)."""
    drawing = getattr(estimator, "best_estimator_", estimator)
    return drawing.random_state is not None and not hasattr(drawing, "noise_weight_")


def assert_same_state(a, b, where="estimator"):
    """The same value, entry for entry and type for type (NaN equals NaN)."""
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, BaseEstimator):
        assert_same_state(vars(a), vars(b), f"{where}.__dict__")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert_array_equal(a, b, err_msg=where, strict=True)
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            assert_same_state(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):  # NamedTuples (partial_fit's state) too
        assert len(a) == len(b), where
        for index, (left, right) in enumerate(zip(a, b)):
            assert_same_state(left, right, f"{where}[{index}]")
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), where
    else:
        assert a == b, where


def assert_same_outputs(a, b):
    expected, actual = outputs(a), outputs(b)
    assert list(expected) == list(actual)
    for method in expected:
        assert_same_state(expected[method], actual[method], method)


def via_pickle(estimator):
    return pickle.loads(pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL))


def via_joblib(estimator):
    buffer = io.BytesIO()
    joblib.dump(estimator, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


def via_skops(estimator):
    data = sio.dumps(estimator)
    return sio.loads(data, trusted=sorted(ALL_TRUSTED))


ROUND_TRIPS = {"pickle": via_pickle, "joblib": via_joblib, "skops": via_skops}


@pytest.mark.parametrize("round_trip", list(ROUND_TRIPS))
@pytest.mark.parametrize("name", list(CASES))
def test_round_trip_keeps_predictions_and_attributes(name, round_trip):
    estimator = fitted(name)
    loaded = ROUND_TRIPS[round_trip](estimator)
    assert loaded is not estimator
    assert_same_state(estimator, loaded)
    assert_same_outputs(estimator, loaded)


@pytest.mark.parametrize("name", list(CASES))
def test_skops_untrusted_types_are_the_documented_ones(name):
    expected = CASES[name][1]
    data = sio.dumps(fitted(name))
    untrusted = sio.get_untrusted_types(data=data)
    assert set(untrusted) == expected and len(untrusted) == len(expected)
    assert expected <= ALL_TRUSTED
    loaded = sio.loads(data, trusted=untrusted)
    assert_same_state(fitted(name), loaded)
    for trusted in (None, []):
        with pytest.raises(UntrustedTypesFoundException):
            sio.loads(data, trusted=trusted)
    # Each listed type is needed: trusting all but one is refused.
    for left_out in expected:
        with pytest.raises(UntrustedTypesFoundException, match=left_out):
            sio.loads(data, trusted=sorted(expected - {left_out}))


def test_skops_file_on_disk(tmp_path):
    """skops.io.dump / load through a file, with the documented list."""
    path = tmp_path / "model.skops"
    sio.dump(fitted("search"), path)
    assert set(sio.get_untrusted_types(file=path)) == {SEARCH, MIXTURE}
    loaded = sio.load(path, trusted=[SEARCH, MIXTURE])
    assert_same_outputs(fitted("search"), loaded)


def _plain(value, where):
    """Fitted attributes are numpy arrays, Python scalars and containers of them
    (or the package's estimators, themselves made of such)."""
    if isinstance(value, BaseEstimator):
        for key, item in vars(value).items():
            if not key.startswith("_"):
                _plain(item, f"{where}.{key}")
    elif isinstance(value, np.ndarray):
        if value.dtype == object:  # the search's table: strings
            assert all(isinstance(item, str) for item in value.ravel()), where
    elif isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, str), where
            _plain(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _plain(item, f"{where}[{index}]")
    else:
        assert value is None or type(value) in (bool, int, float, str), (
            f"{where}: {type(value)}"
        )


@pytest.mark.parametrize("name", list(CASES))
def test_fitted_attributes_are_plain(name):
    _plain(fitted(name), name)


@pytest.mark.parametrize("round_trip", ["pickle", "skops"])
@pytest.mark.parametrize(
    "start",
    ["stream", "after-fit", "after-fit-sample_weight", "VEV-reg_m=inf"],
)
def test_partial_fit_continues_after_a_round_trip(start, round_trip):
    def begin():
        if start == "stream":
            return _partial(_mixture(), CHUNKS[:2])
        if start == "after-fit":
            return _fit(_mixture("diag"), X).partial_fit(CHUNKS[0])
        if start == "after-fit-sample_weight":
            return _fit(_mixture("tied"), X, sample_weight=WEIGHTS)
        return _partial(_mixture("VEV", reg_m=np.inf), CHUNKS[:2])

    straight = begin()
    saved = ROUND_TRIPS[round_trip](begin())
    assert_same_state(straight, saved)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _partial(straight, CHUNKS[2:])
        _partial(saved, CHUNKS[2:])
    assert straight.n_steps_ == saved.n_steps_ >= 3
    assert_same_state(straight, saved)
    assert_same_outputs(straight, saved)
