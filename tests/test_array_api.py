"""Array API: the same fits from torch (CPU, CUDA), CuPy and array_api_strict arrays.

Under ``array_api_dispatch`` a fit computes in the namespace and on the device of
``X``; its results must be those of the numpy code path (float64: to 1e-10 of
each array's scale), and its fitted arrays must stay there.
"""

import warnings

import numpy as np
import pytest
import sklearn
from conftest import COVARIANCE_TYPES, DATASETS, INIT_PARAMS, assert_close_to_scale
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.externals import array_api_compat

from sklearn_otmix import OTGaussianMixture, OTGaussianMixtureClassifier

ARRAYS = ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_")


def _cuda_available():
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def _cupy_device_available():
    try:
        import cupy
    except ImportError:
        return False
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except cupy.cuda.runtime.CUDARuntimeError:
        return False


NAMESPACES = [
    pytest.param(("array_api_strict", None), id="array_api_strict"),
    pytest.param(("torch", "cpu"), id="torch-cpu"),
    pytest.param(
        ("torch", "cuda"),
        id="torch-cuda",
        marks=pytest.mark.skipif(not _cuda_available(), reason="no CUDA device"),
    ),
    pytest.param(
        ("cupy", None),
        id="cupy",
        marks=pytest.mark.skipif(
            not _cupy_device_available(), reason="CuPy or its device missing"
        ),
    ),
]

# (reg, reg_m): EM, Sinkhorn EM (fixed weights), penalised weights at another
# temperature. The transport solvers run to a tight tolerance: where the two
# paths iterate differently (both start a fit from reg log t; numpy, torch and
# CuPy take one sweep of POT's Sinkhorn, array_api_strict the column
# update; then Newton's method), both are then converged well below 1e-10.
REGIMES = {"em": (1.0, 0.0), "fixed_weights": (1.0, np.inf), "penalised": (0.5, 1.0)}
SOLVER = {"sinkhorn_tol": 1e-12, "sinkhorn_max_iter": 5000}


@pytest.fixture(params=NAMESPACES)
def namespace(request):
    """``(xp, device, to_xp)``: the namespace, its device and a numpy-to-xp move."""
    name, device_name = request.param
    module = pytest.importorskip(name)
    xp = array_api_compat.array_namespace(module.asarray(1.0))
    device = module.device(device_name) if name == "torch" else None

    def to_xp(array):
        return xp.asarray(array, device=device)

    return xp, device, to_xp


def _to_numpy(array):
    if array_api_compat.is_torch_array(array):
        return array.cpu().numpy()
    if array_api_compat.is_cupy_array(array):
        return array.get()
    return np.asarray(array)


def _fit_both(X, to_xp, sample_weight=None, **params):
    numpy_model = OTGaussianMixture(**params).fit(X, sample_weight=sample_weight)
    xp_weight = None if sample_weight is None else to_xp(sample_weight)
    with sklearn.config_context(array_api_dispatch=True):
        xp_model = OTGaussianMixture(**params).fit(to_xp(X), sample_weight=xp_weight)
    return numpy_model, xp_model


def _assert_lives_in(model, X_xp, dtype):
    """Every fitted array is in the namespace, on the device and of ``dtype``."""
    xp = array_api_compat.array_namespace(X_xp)
    for name in ARRAYS:
        attribute = getattr(model, name)
        assert array_api_compat.array_namespace(attribute) is xp, name
        assert array_api_compat.device(attribute) == array_api_compat.device(X_xp)
        assert attribute.dtype == dtype, name


def _assert_same_fit(ours, reference, rtol):
    for name in ARRAYS:
        actual = _to_numpy(getattr(ours, name))
        assert_close_to_scale(actual, getattr(reference, name), rtol, name)
    assert ours.n_iter_ == reference.n_iter_
    assert ours.converged_ == reference.converged_
    assert_allclose(ours.lower_bounds_, reference.lower_bounds_, rtol=rtol)


@pytest.mark.parametrize("regime", REGIMES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_fit_and_predictions_as_numpy(namespace, regime, covariance_type):
    xp, _, to_xp = namespace
    X, n_components = DATASETS["blobs"]
    reg, reg_m = REGIMES[regime]
    reference, ours = _fit_both(
        X,
        to_xp,
        n_components=n_components,
        covariance_type=covariance_type,
        reg=reg,
        reg_m=reg_m,
        random_state=0,
        **SOLVER,
    )
    X_xp = to_xp(X)
    _assert_lives_in(ours, X_xp, xp.float64)
    _assert_same_fit(ours, reference, rtol=1e-10)
    with sklearn.config_context(array_api_dispatch=True):
        labels = ours.predict(X_xp)
        proba = ours.predict_proba(X_xp)
        log_density = ours.score_samples(X_xp)
        scores = [ours.score(X_xp), ours.bic(X_xp), ours.aic(X_xp)]
        drawn, drawn_labels = ours.sample(7)
    for output in (labels, proba, log_density, drawn, drawn_labels):
        assert array_api_compat.array_namespace(output) is xp
        assert array_api_compat.device(output) == array_api_compat.device(X_xp)
    assert_array_equal(_to_numpy(labels), reference.predict(X))
    assert_close_to_scale(_to_numpy(proba), reference.predict_proba(X), 1e-10)
    assert_allclose(_to_numpy(log_density), reference.score_samples(X), rtol=1e-10)
    assert_allclose(
        scores, [reference.score(X), reference.bic(X), reference.aic(X)], rtol=1e-10
    )
    assert_array_equal(_to_numpy(drawn_labels), reference.sample(7)[1])


@pytest.mark.parametrize("init_params", INIT_PARAMS)
def test_every_initialisation_with_sample_weight(namespace, init_params):
    _, _, to_xp = namespace
    X, n_components = DATASETS["iris"]
    sample_weight = np.random.RandomState(0).randint(0, 3, size=len(X)).astype(float)
    reference, ours = _fit_both(
        X,
        to_xp,
        sample_weight=sample_weight,
        n_components=n_components,
        init_params=init_params,
        random_state=0,
    )
    _assert_same_fit(ours, reference, rtol=1e-10)


# Largest difference measured between the float32 fits of the two paths in the
# test below, as a fraction of each array's scale: 9.4e-5 (torch, EM, diag,
# covariances_). float32 carries 7 digits; the paths sum in different orders,
# and the uncentred second moments (E[x^2] - mu^2) lose digits to cancellation,
# which the iterations carry on. The numpy path's own float32 parity with
# GaussianMixture is held to the same 2e-4 (tests/test_parity.py).
FLOAT32_RTOL = 2e-4


@pytest.mark.parametrize("regime", REGIMES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_stays_float32(namespace, regime, covariance_type):
    xp, _, to_xp = namespace
    X, n_components = DATASETS["iris"]
    X = X.astype(np.float32)
    reg, reg_m = REGIMES[regime]
    reference, ours = _fit_both(
        X,
        to_xp,
        n_components=n_components,
        covariance_type=covariance_type,
        reg=reg,
        reg_m=reg_m,
        random_state=0,
    )
    _assert_lives_in(ours, to_xp(X), xp.float32)
    for name in ARRAYS:
        actual = _to_numpy(getattr(ours, name))
        assert_close_to_scale(actual, getattr(reference, name), FLOAT32_RTOL, name)
    with sklearn.config_context(array_api_dispatch=True):
        assert ours.predict_proba(to_xp(X)).dtype == xp.float32


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_warm_start_continues_in_the_namespace(namespace):
    xp, _, to_xp = namespace
    X, n_components = DATASETS["wine"]
    params = {"n_components": n_components, "max_iter": 2, "warm_start": True}
    reference = OTGaussianMixture(**params, random_state=0)
    ours = OTGaussianMixture(**params, random_state=0)
    for _ in range(3):
        reference.fit(X)
        with sklearn.config_context(array_api_dispatch=True):
            ours.fit(to_xp(X))
    _assert_lives_in(ours, to_xp(X), xp.float64)
    _assert_same_fit(ours, reference, rtol=1e-10)


@pytest.mark.parametrize("reg_m", [0.0, np.inf])
def test_partial_fit_streams_in_the_namespace(namespace, reg_m):
    xp, _, to_xp = namespace
    X, n_components = DATASETS["blobs"]
    params = {"n_components": n_components, "reg_m": reg_m, "random_state": 0}
    reference, ours = OTGaussianMixture(**params), OTGaussianMixture(**params)
    for chunk in np.array_split(np.random.RandomState(0).permutation(X), 4):
        reference.partial_fit(chunk)
        with sklearn.config_context(array_api_dispatch=True):
            ours.partial_fit(to_xp(chunk))
    _assert_lives_in(ours, to_xp(X), xp.float64)
    for name in ARRAYS:
        actual = _to_numpy(getattr(ours, name))
        assert_close_to_scale(actual, getattr(reference, name), 1e-10, name)


@pytest.mark.parametrize("init_params", ["kmeans", "hierarchical"])
def test_noise_component_in_the_namespace(namespace, init_params):
    """mclust's noise component: the same fit, predictions (``-1`` for the
    noise), posteriors (its column last) and criteria as numpy's."""
    xp, _, to_xp = namespace
    X, n_components = DATASETS["blobs"]
    X = np.vstack([X, np.random.RandomState(0).uniform(-15, 15, size=(60, 5))])
    reference, ours = _fit_both(
        X,
        to_xp,
        n_components=n_components,
        noise=True,
        init_params=init_params,
        random_state=0,
    )
    X_xp = to_xp(X)
    _assert_lives_in(ours, X_xp, xp.float64)
    _assert_same_fit(ours, reference, rtol=1e-10)
    assert ours.noise_weight_ == pytest.approx(reference.noise_weight_, rel=1e-10)
    assert ours.hypervolume_ == reference.hypervolume_
    with sklearn.config_context(array_api_dispatch=True):
        labels = ours.predict(X_xp)
        proba = ours.predict_proba(X_xp)
        bic = ours.bic(X_xp)
    assert array_api_compat.array_namespace(proba) is xp
    assert_array_equal(_to_numpy(labels), reference.predict(X))
    assert -1 in reference.predict(X)
    assert_close_to_scale(_to_numpy(proba), reference.predict_proba(X), 1e-10)
    assert bic == pytest.approx(reference.bic(X), rel=1e-10)


def test_predict_in_another_namespace_raises(namespace):
    _, _, to_xp = namespace
    X, n_components = DATASETS["blobs"]
    with sklearn.config_context(array_api_dispatch=True):
        model = OTGaussianMixture(n_components, random_state=0).fit(to_xp(X))
        with pytest.raises(ValueError, match=r"predict\(\) must use the same"):
            model.predict(X)


def test_without_dispatch_arrays_are_converted_to_numpy():
    torch = pytest.importorskip("torch")
    X, n_components = DATASETS["blobs"]
    model = OTGaussianMixture(n_components, random_state=0).fit(torch.asarray(X))
    reference = OTGaussianMixture(n_components, random_state=0).fit(X)
    assert isinstance(model.means_, np.ndarray)
    assert_array_equal(model.means_, reference.means_)


@pytest.mark.parametrize("regime", ["fixed_weights", "penalised"])
def test_pot_receives_the_namespace_arrays(namespace, regime, monkeypatch):
    """Where POT has a backend for the arrays (torch, CuPy), the E-steps of
    ``reg_m > 0`` call POT's solvers with them as they are: no numpy in between.
    (``reg_m=0`` is the closed form in the namespace, see _xp_semi_relaxed_plan.)"""
    import ot

    xp, _, to_xp = namespace
    X = DATASETS["iris"][0]
    reg, reg_m = REGIMES[regime]
    try:
        ot.backend.get_backend(to_xp(X))
    except ValueError:
        pytest.skip("POT has no backend for this namespace")
    seen = []

    def spy(solver):
        def call(*args, **kwargs):
            seen.append(array_api_compat.array_namespace(args[2]))
            return solver(*args, **kwargs)

        return call

    for module, name in [
        (ot.unbalanced, "sinkhorn_knopp_unbalanced"),
        (ot.unbalanced, "sinkhorn_unbalanced"),
        (ot, "sinkhorn"),
    ]:
        monkeypatch.setattr(module, name, spy(getattr(module, name)))
    with sklearn.config_context(array_api_dispatch=True), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=5, tol=0
        model = OTGaussianMixture(
            3, reg=reg, reg_m=reg_m, max_iter=5, tol=0.0, random_state=0, **SOLVER
        ).fit(to_xp(X))
    # One call per E-step at least (the balanced one's first E-step is Newton's
    # from zero potentials, without POT).
    assert len(seen) >= model.n_iter_ - (reg_m == np.inf)
    assert all(space is xp for space in seen)


@pytest.mark.parametrize("regime", REGIMES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_classifier_same_fit_and_predictions_as_numpy(
    namespace, regime, covariance_type
):
    """The classifier's labels reach the namespace's blocks: the same
    semi-supervised fit, its arrays and predictions in the namespace."""
    xp, _, to_xp = namespace
    X, n_components = DATASETS["blobs"]
    y = np.random.RandomState(0).randint(0, 3, len(X))
    y[np.random.RandomState(1).rand(len(X)) < 0.8] = -1
    reg, reg_m = REGIMES[regime]
    params = {
        "n_components_per_class": [1, 2, 1],
        "covariance_type": covariance_type,
        "unlabelled_weight": 1.0,
        "reg": reg,
        "reg_m": reg_m,
        "random_state": 0,
        **SOLVER,
    }
    reference = OTGaussianMixtureClassifier(**params).fit(X, y)
    X_xp = to_xp(X)
    with sklearn.config_context(array_api_dispatch=True):
        ours = OTGaussianMixtureClassifier(**params).fit(X_xp, to_xp(y))
        labels = ours.predict(X_xp)
        proba = ours.predict_proba(X_xp)
        log_proba = ours.predict_log_proba(X_xp)
    _assert_lives_in(ours, X_xp, xp.float64)
    _assert_same_fit(ours, reference, rtol=1e-10)
    for output in (labels, proba, log_proba, ours.component_class_):
        assert array_api_compat.array_namespace(output) is xp
        assert array_api_compat.device(output) == array_api_compat.device(X_xp)
    assert_array_equal(_to_numpy(labels), reference.predict(X))
    assert_close_to_scale(_to_numpy(proba), reference.predict_proba(X), 1e-10)


@pytest.mark.parametrize("regime", REGIMES)
def test_classifier_plan_is_exactly_zero_off_the_class(namespace, regime):
    """The support constraint in the namespace: forbidden entries of the plan
    are exact zeros, also for a labelled row placed inside another class."""
    from sklearn_otmix._data import check_labels, samples_of
    from helpers import plan_of

    _, _, to_xp = namespace
    X, _ = DATASETS["blobs"]
    y = np.random.RandomState(0).randint(0, 3, len(X))
    y[np.random.RandomState(1).rand(len(X)) < 0.8] = -1
    X = np.vstack([X, X[y == 2].mean(axis=0)])
    y = np.append(y, 0)
    reg, reg_m = REGIMES[regime]
    with sklearn.config_context(array_api_dispatch=True):
        model = OTGaussianMixtureClassifier(
            covariance_type="diag",
            reg=reg,
            reg_m=reg_m,
            unlabelled_weight=1.0,
            random_state=0,
        ).fit(to_xp(X), to_xp(y))
        classes, labels = check_labels(y)
        samples = samples_of(
            model, to_xp(X), reset=False, n_components=3, labels=labels
        )
        problem, _ = model._problem(samples, classes, np.ones(3, dtype=int))
        plan = _to_numpy(plan_of(samples, model._mixture(), problem))
    forbidden = (y[:, None] >= 0) & (np.arange(3)[None, :] != y[:, None])
    assert np.all(plan[forbidden] == 0.0)
    assert_allclose(plan.sum(axis=1), 1.0, rtol=1e-12)


def test_proportions_in_the_namespace(namespace):
    """Bounded weights, known weights without an order, and PriorShiftAdapter:
    the numpy results, from arrays of the namespace."""
    from sklearn_otmix import PriorShiftAdapter

    xp, _, to_xp = namespace
    X, n_components = DATASETS["blobs"]
    for params in (
        {"weight_bounds": (0.2, 0.3)},
        {
            "reg_m": np.inf,
            "target_weights": [0.4, 0.3, 0.2, 0.1],
            "target_order": "free",
        },
    ):
        reference, ours = _fit_both(
            X, to_xp, n_components=n_components, random_state=0, **SOLVER, **params
        )
        _assert_same_fit(ours, reference, rtol=1e-10)
    with sklearn.config_context(array_api_dispatch=True):
        adapted = PriorShiftAdapter(ours).fit(to_xp(X[:300]))
        assert array_api_compat.array_namespace(adapted.weights_) is xp
    expected = PriorShiftAdapter(reference).fit(X[:300]).weights_
    assert_allclose(_to_numpy(adapted.weights_), expected, rtol=1e-10)


@pytest.mark.parametrize(
    "covariance_type, shrinkage",
    [("full", "auto"), ("tied", "auto"), ("tied", 0.3), ("diag", 0.3)],
)
def test_classifier_shrinkage_and_unlabelled_weight_in_the_namespace(
    namespace, covariance_type, shrinkage
):
    """Shrinkage in every M-step (Ledoit-Wolf's extra pass, or a float) and
    the unlabelled rows' weight chosen by cross-validation: the numpy fit and
    choice, from arrays of the namespace."""
    xp, _, to_xp = namespace
    X, _ = DATASETS["blobs"]
    X = X[:300]
    y = np.random.RandomState(0).randint(0, 3, len(X))
    y[np.random.RandomState(1).rand(len(X)) < 0.8] = -1
    params = {
        "covariance_type": covariance_type,
        "shrinkage": shrinkage,
        "random_state": 0,
        **SOLVER,
    }
    reference = OTGaussianMixtureClassifier(**params).fit(X, y)
    with sklearn.config_context(array_api_dispatch=True):
        ours = OTGaussianMixtureClassifier(**params).fit(to_xp(X), to_xp(y))
    _assert_lives_in(ours, to_xp(X), xp.float64)
    _assert_same_fit(ours, reference, rtol=1e-10)
    assert ours.unlabelled_weight_ == reference.unlabelled_weight_
    for key in ("brier", "accuracy"):
        assert_allclose(
            ours.unlabelled_weight_cv_[key],
            reference.unlabelled_weight_cv_[key],
            rtol=1e-10,
        )
