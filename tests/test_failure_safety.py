"""Nothing lost on failure, nothing modified: a fit, partial_fit or warm-start
refit that raises leaves a fitted estimator exactly as it was, a stream with
bad chunks mixed in ends where the clean stream does, and no input is ever
written to (read-only, memory-mapped, Fortran-ordered, float32, pandas)."""

import copy
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_blobs

from sklearn_otmix import (
    OTGaussianMixture,
    OTGaussianMixtureClassifier,
    OTGaussianMixtureSearch,
    PriorShiftAdapter,
)

X_IRIS, Y_IRIS = load_iris(return_X_y=True)


def _state(estimator):
    """A deep copy of every attribute."""
    return copy.deepcopy(vars(estimator))


def _assert_same(value, other, name):
    if isinstance(value, dict):
        assert set(other) == set(value), name
        for key in value:
            _assert_same(value[key], other[key], f"{name}[{key!r}]")
    elif isinstance(value, np.ndarray) and value.dtype == object:
        assert list(other) == list(value), name
    elif isinstance(value, (np.ndarray, list)):
        np.testing.assert_array_equal(other, value, err_msg=name)
    elif hasattr(value, "get_params"):
        # A fitted nested estimator: its own attributes.
        _assert_same(vars(value), vars(other), name)
    elif hasattr(value, "_fields"):
        # A named tuple (of arrays).
        for field in value._fields:
            _assert_same(getattr(value, field), getattr(other, field), name)
    else:
        assert other == value or other is value, name


def _assert_same_state(before, estimator):
    _assert_same(before, vars(estimator), type(estimator).__name__)


def _nan(X):
    """A row with no observed entry (a NaN entry alone is a missing one)."""
    X = X.copy()
    X[3] = np.nan
    return X


def _collapsed():
    """Two points repeated: with three components and no regularisation a
    component holds one point, and its covariance is ill-defined."""
    return np.array([[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]] * 10)


BAD = {
    "NaN": lambda: _nan(X_IRIS[:40]),
    "wrong number of features": lambda: X_IRIS[:40, :3],
    "degenerate component": _collapsed,
}


@pytest.mark.parametrize(
    "how, bad",
    [
        (how, bad)
        for how in ("fit", "warm_start", "partial_fit")
        for bad in BAD
        # Stepwise EM blends a chunk into the running statistics, so no
        # component is left on one point: the degenerate case is a refit's.
        if not (how == "partial_fit" and bad == "degenerate component")
    ],
)
def test_a_failed_refit_keeps_the_fitted_model(how, bad):
    estimator = OTGaussianMixture(
        3,
        reg_covar=0.0 if bad == "degenerate component" else 1e-6,
        random_state=0,
        warm_start=how == "warm_start",
        means_init=X_IRIS[[0, 50, 100]],
    )
    if how == "partial_fit":
        for chunk in np.array_split(X_IRIS, 3):
            estimator.partial_fit(chunk)
    else:
        estimator.fit(X_IRIS)
    before = _state(estimator)
    method = estimator.partial_fit if how == "partial_fit" else estimator.fit
    with pytest.raises(ValueError):
        if bad == "degenerate component":
            # Its own start: the iris means do not fit these rows.
            estimator.set_params(means_init=_collapsed()[[0, 1, 1]] + [0, 0, 0.5])
        method(BAD[bad]())
    _assert_same_state(before, estimator)


def test_a_stream_with_bad_chunks_ends_as_the_clean_stream():
    """100 chunks, 12 bad ones mixed in (NaN, a wrong number of features,
    negative weights, an empty chunk): each raises, and the model at the end
    is the clean stream's, exactly."""
    X, _ = make_blobs(5000, centers=3, n_features=2, random_state=0)
    chunks = np.array_split(X, 100)
    clean = OTGaussianMixture(3, random_state=0)
    for chunk in chunks:
        clean.partial_fit(chunk)
    noisy = OTGaussianMixture(3, random_state=0)
    bad_chunks = [
        (_nan(chunks[0]), None),
        (chunks[0][:, :1], None),
        (chunks[0], -np.ones(len(chunks[0]))),
        (chunks[0][:0], None),
    ]
    n_bad = 0
    for i, chunk in enumerate(chunks):
        if i % 8 == 4:
            bad, weight = bad_chunks[(i // 8) % len(bad_chunks)]
            with pytest.raises(ValueError):
                noisy.partial_fit(bad, sample_weight=weight)
            n_bad += 1
        noisy.partial_fit(chunk)
    assert n_bad == 12
    for name in ("weights_", "means_", "covariances_", "lower_bounds_"):
        np.testing.assert_array_equal(getattr(noisy, name), getattr(clean, name))
    assert noisy.n_steps_ == clean.n_steps_ == 100


@pytest.mark.parametrize(
    "estimator, y",
    [
        (OTGaussianMixtureClassifier(reg_covar=0.0), True),
        (
            OTGaussianMixtureSearch(
                n_components=[2, 3], covariance_types=["VVV", "EEE"]
            ),
            False,
        ),
    ],
    ids=["classifier", "search"],
)
def test_other_estimators_keep_their_model(estimator, y):
    estimator.fit(X_IRIS, Y_IRIS if y else None)
    before = _state(estimator)
    with pytest.raises(ValueError):
        estimator.fit(_nan(X_IRIS), Y_IRIS if y else None)
    _assert_same_state(before, estimator)


def test_prior_shift_adapter_keeps_its_model():
    adapter = PriorShiftAdapter(OTGaussianMixture(3, random_state=0).fit(X_IRIS))
    adapter.fit(X_IRIS[:100])
    before = _state(adapter)
    with pytest.raises(ValueError):
        adapter.fit(X_IRIS[:100, :3])
    _assert_same_state(before, adapter)


# --------------------------------------------------------------------------------
# Inputs are never written to


def _read_only(array):
    array = np.array(array)
    array.setflags(write=False)
    return array


def _variants(tmp_path):
    X = X_IRIS.copy()
    path = tmp_path / "X.dat"
    memmap = np.memmap(path, dtype=np.float64, mode="w+", shape=X.shape)
    memmap[:] = X
    memmap.flush()
    variants = {
        "read-only": _read_only(X),
        "memory-mapped read-only": np.memmap(
            path, dtype=np.float64, mode="r", shape=X.shape
        ),
        "Fortran-ordered": np.asfortranarray(X),
        "float32": X.astype(np.float32),
    }
    pd = pytest.importorskip("pandas")
    variants["pandas"] = pd.DataFrame(X, columns=[f"f{i}" for i in range(4)])
    return variants


def _snapshot(value):
    return np.array(value, copy=True)


@pytest.mark.parametrize(
    "variant",
    [
        "read-only",
        "memory-mapped read-only",
        "Fortran-ordered",
        "float32",
        "pandas",
    ],
)
def test_no_input_is_modified(tmp_path, variant):
    X = _variants(tmp_path)[variant]
    weight = _read_only(np.linspace(0.5, 2.0, len(X_IRIS)))
    inits = {
        "weights_init": _read_only(np.full(3, 1 / 3)),
        "means_init": _read_only(X_IRIS[[0, 50, 100]]),
        "precisions_init": _read_only(np.stack([np.eye(4)] * 3)),
    }
    y = _read_only(Y_IRIS)
    before = [_snapshot(value) for value in (X, weight, y, *inits.values())]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = OTGaussianMixture(3, random_state=0, **inits)
        model.fit(X, sample_weight=weight)
        model.fit_predict(X, sample_weight=weight)
        model.partial_fit(X, sample_weight=weight)
        for method in ("predict", "predict_proba", "score_samples"):
            getattr(model, method)(X)
        model.score(X, sample_weight=weight)
        OTGaussianMixture(3, reg_m=np.inf, random_state=0).fit(X, sample_weight=weight)
        classifier = OTGaussianMixtureClassifier().fit(X, y, sample_weight=weight)
        classifier.predict_proba(X)
        classifier.score(X, y)
        OTGaussianMixtureSearch(n_components=[2], covariance_types=["VEV"]).fit(X)

    after = (X, weight, y, *inits.values())
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(np.asarray(new), old)
