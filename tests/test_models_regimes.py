"""mclust's ten other covariance models in every regime of the fit.

The models' constraints are checked from the fitted full covariances alone
(:func:`assert_model_structure`, written from the definition
``Sigma_k = lambda_k D_k A_k D_k^T``, not from the package's M-steps); the
objective of block-coordinate descent must not increase; and the fits on Dask
arrays and on arrays of other namespaces must be the in-memory numpy fits.
"""

import warnings

import numpy as np
import pytest
import sklearn
from conftest import assert_close_to_scale
from numpy.testing import assert_allclose
from sklearn.datasets import load_iris
from sklearn.externals import array_api_compat

from sklearn_otmix import OTGaussianMixture, OTGaussianMixtureClassifier, _hierarchy
from sklearn_otmix._hierarchy import cut, merge_tree, whiten

# The ten models stored in the full form; the other four are scikit-learn's.
TEN_MODELS = ["EII", "EEI", "VEI", "EVI", "VEE", "EVE", "VVE", "EEV", "VEV", "EVV"]
ALL_MODELS = TEN_MODELS + ["VII", "VVI", "EEE", "VVV"]

# Solvers run to a tight tolerance, so that the E-steps of reg_m > 0 are
# exact enough for the objective to be monotone to 1e-9.
SOLVER = {"sinkhorn_tol": 1e-12, "sinkhorn_max_iter": 5000}
REGIMES = {
    "em": {},
    "tempered": {"reg": 0.5},
    "penalised": {"reg_m": 1.0, **SOLVER},
    "fixed_weights": {"reg_m": np.inf, **SOLVER},
    "sample_weight": {},
}
FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")
N_COMPONENTS = 3

ignore_convergence = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning"
)


# --------------------------------------------------------------------------------
# The constraints of a model, from its full covariances alone


def assert_model_structure(covariances, model, rtol):
    """``covariances`` (n_components, d, d) satisfy ``model``'s constraints.

    With ``Sigma_k = lambda_k D_k A_k D_k^T`` and ``lambda_k = det(Sigma_k)^(1/d)``:

    - volume E: every ``lambda_k`` equal;
    - shape I: ``Sigma_k / lambda_k`` has all its eigenvalues equal (the
      identity up to rotation);
    - orientation I: every ``Sigma_k`` diagonal;
    - orientation E: the matrices commute pairwise (a common eigenbasis);
    - shape E with orientation E or I: every ``Sigma_k / lambda_k`` equal;
    - shape E with orientation V: the sorted eigenvalues of ``Sigma_k /
      lambda_k`` equal across components.

    ``rtol`` is relative to each quantity's scale.
    """
    covariances = np.asarray(covariances, dtype=np.float64)
    K, d, _ = covariances.shape
    volume, shape, orientation = model
    assert np.all(np.isfinite(covariances)), "covariances not finite"
    scale = np.abs(covariances).max()
    assert_allclose(covariances, np.swapaxes(covariances, 1, 2), atol=rtol * scale)
    sign, log_det = np.linalg.slogdet(covariances)
    assert np.all(sign > 0), f"{model}: covariances not positive definite"
    volumes = np.exp(log_det / d)
    normalised = covariances / volumes[:, None, None]
    eigenvalues = np.linalg.eigvalsh(normalised)  # ascending, per component
    if volume == "E":
        assert_allclose(volumes, volumes[0], rtol=rtol, err_msg=f"{model}: volumes")
    if shape == "I":
        assert_allclose(
            eigenvalues, 1.0, rtol=rtol, err_msg=f"{model}: not spherical"
        )
    if orientation == "I" or shape == "I":
        off_diagonal = covariances * (1 - np.eye(d))
        scale = np.einsum("kii->k", covariances).max()
        assert np.abs(off_diagonal).max() <= rtol * scale, f"{model}: not diagonal"
    if orientation == "E":
        scale = np.abs(covariances).max() ** 2
        for a in range(K):
            for b in range(a + 1, K):
                first, second = covariances[a], covariances[b]
                commutator = first @ second - second @ first
                assert np.abs(commutator).max() <= rtol * scale, (
                    f"{model}: components {a} and {b} do not share their axes"
                )
    if shape == "E" and orientation in ("E", "I"):
        assert_allclose(
            normalised,
            np.broadcast_to(normalised[0], normalised.shape),
            rtol=rtol,
            atol=rtol * np.abs(normalised).max(),
            err_msg=f"{model}: shapes differ",
        )
    if shape == "E" and orientation == "V":
        assert_allclose(
            eigenvalues,
            np.broadcast_to(eigenvalues[0], eigenvalues.shape),
            rtol=rtol,
            err_msg=f"{model}: shapes (sorted eigenvalues) differ",
        )


def _random_instance(model, rng, n_components=3, n_features=3):
    """Covariances ``lambda_k D_k A_k D_k^T`` drawn at random within ``model``
    (each letter's parameters shared or drawn per component)."""
    K, d = n_components, n_features

    def draw(letter, one):
        if letter == "V":
            return [one() for _ in range(K)]
        return [one()] * K

    def rotation():
        q, r = np.linalg.qr(rng.normal(size=(d, d)))
        return q * np.sign(np.diag(r))

    def unit_shape():
        values = rng.uniform(0.2, 5.0, d)
        return values / np.exp(np.mean(np.log(values)))

    volumes = draw(model[0], lambda: rng.uniform(0.5, 3.0))
    shapes = [np.ones(d)] * K if model[1] == "I" else draw(model[1], unit_shape)
    rotations = [np.eye(d)] * K if model[2] == "I" else draw(model[2], rotation)
    return np.stack(
        [v * (D * a) @ D.T for v, a, D in zip(volumes, shapes, rotations, strict=True)]
    )


def _is_submodel(inner, outer):
    """Whether every covariance of ``inner`` is one of ``outer``: each letter
    at least as constrained (I < E < V; a spherical shape has every
    orientation, the identity's included)."""
    order = {"I": 0, "E": 1, "V": 2}
    inner = inner[:2] + ("I" if inner[1] == "I" else inner[2])
    return all(order[a] <= order[b] for a, b in zip(inner, outer, strict=True))


@pytest.mark.parametrize("model", TEN_MODELS)
def test_structure_check_accepts_its_model_and_refuses_the_others(model):
    """The helper is a real check: random covariances of every model that is
    not a sub-model of ``model`` fail it; those of its sub-models pass."""
    rng = np.random.default_rng(0)
    for source in ALL_MODELS:
        for _ in range(3):
            covariances = _random_instance(source, rng)
            if _is_submodel(source, model):
                assert_model_structure(covariances, model, rtol=1e-10)
            else:
                with pytest.raises(AssertionError):
                    assert_model_structure(covariances, model, rtol=1e-6)


# --------------------------------------------------------------------------------
# Data and common checks


def _blobs(n_per_blob=100):
    """Three 3-D Gaussian blobs of different, oblique covariances."""
    rng = np.random.RandomState(0)
    centres = np.array([[0.0, 0.0, 0.0], [8.0, 0.0, 0.0], [0.0, 8.0, 0.0]])
    X = np.vstack(
        [rng.randn(n_per_blob, 3) @ (0.5 * rng.randn(3, 3)) + c for c in centres]
    )
    return X, np.repeat(np.arange(3), n_per_blob), centres


def _sample_weight(n_samples):
    """Random positive weights, some of them zero."""
    weights = np.random.RandomState(1).uniform(0.2, 2.0, n_samples)
    weights[::17] = 0.0
    return weights


def _explicit_start(X, reg_m=0.0):
    """Initial parameters chosen by hand: one row of each blob as a mean, the
    data's variance as every covariance (full-form precisions)."""
    precisions = np.stack([np.eye(X.shape[1]) / X.var()] * N_COMPONENTS)
    return {
        "weights_init": None if reg_m == np.inf else np.array([0.3, 0.3, 0.4]),
        "means_init": X[[3, 150, 250]] + 0.5,
        "precisions_init": precisions,
    }


def _assert_finite_fit(model):
    """Every fitted attribute finite; the covariances in the full form."""
    for name in FITTED:
        assert np.all(np.isfinite(np.asarray(getattr(model, name)))), name
    assert np.isfinite(model.lower_bound_)
    assert np.all(np.isfinite(model.lower_bounds_))
    d = model.means_.shape[1]
    assert model.covariances_.shape == (N_COMPONENTS, d, d)
    assert model.precisions_.shape == (N_COMPONENTS, d, d)


def _assert_monotone(lower_bounds):
    """The objective ``F = -lower bound`` never increases (1e-9, relative)."""
    lower_bounds = np.asarray(lower_bounds)
    change = np.diff(lower_bounds)
    allowed = 1e-9 * np.maximum(np.abs(lower_bounds[:-1]), 1.0)
    worst = int(np.argmin(change + allowed)) if change.size else 0
    assert np.all(change >= -allowed), (
        f"lower bound decreased at iteration {worst + 2}: from "
        f"{lower_bounds[worst]!r} to {lower_bounds[worst + 1]!r} "
        f"(change {change[worst]:.3e}; {np.sum(change < -allowed)} of "
        f"{change.size} changes negative)"
    )


def _fit_in_regime(X, model, regime, **params):
    """A fit of ``model`` in ``regime`` (``reg_covar=0``: the model exactly)."""
    sample_weight = _sample_weight(len(X)) if regime == "sample_weight" else None
    estimator = OTGaussianMixture(
        N_COMPONENTS, covariance_type=model, reg_covar=0.0, **REGIMES[regime], **params
    )
    return estimator.fit(X, sample_weight=sample_weight)


def _assert_regime_fit(fitted, model, regime):
    """What every fit in every regime must satisfy."""
    _assert_finite_fit(fitted)
    assert_allclose(fitted.weights_.sum(), 1.0, rtol=1e-12)
    if regime == "fixed_weights":
        assert_allclose(fitted.weights_, 1.0 / N_COMPONENTS, rtol=1e-12)
    assert_model_structure(fitted.covariances_, model, rtol=1e-9)
    # The inverse of lambda D A D^T is lambda^-1 D A^-1 D^T: the same model.
    assert_model_structure(fitted.precisions_, model, rtol=1e-8)
    assert_allclose(
        fitted.precisions_ @ fitted.covariances_,
        np.broadcast_to(np.eye(3), fitted.covariances_.shape),
        atol=1e-8,
    )
    _assert_monotone(fitted.lower_bounds_)


# --------------------------------------------------------------------------------
# Every regime


@ignore_convergence
@pytest.mark.parametrize("regime", REGIMES)
@pytest.mark.parametrize("model", TEN_MODELS)
def test_every_regime_keeps_the_model_and_descends(model, regime):
    """EM, a lower temperature, penalised and fixed weights, sample weights:
    finite attributes, weights on the simplex (uniform when fixed), the
    model's constraints, and a lower bound that never decreases. Random
    responsibilities start the fit, so that it runs many iterations."""
    X, _, _ = _blobs()
    fitted = _fit_in_regime(
        X, model, regime, tol=1e-8, max_iter=50, init_params="random", random_state=0
    )
    assert fitted.n_iter_ >= 5  # the monotonicity check is not vacuous
    _assert_regime_fit(fitted, model, regime)


@ignore_convergence
@pytest.mark.parametrize("model", TEN_MODELS)
def test_integer_sample_weights_are_repeated_rows(model):
    """A sample weight of ``m`` is the row ``m`` times (0: absent), from the
    same explicit start and for the same number of iterations."""
    X, _, _ = _blobs()
    counts = np.random.RandomState(2).randint(0, 4, len(X))
    params = {
        "covariance_type": model,
        "reg_covar": 0.0,
        "tol": 0.0,
        "max_iter": 30,
        **_explicit_start(X),
    }
    weighted = OTGaussianMixture(N_COMPONENTS, **params).fit(X, sample_weight=counts)
    X_repeated = np.repeat(X, counts, axis=0)
    repeated = OTGaussianMixture(N_COMPONENTS, **params).fit(X_repeated)
    for name in ("weights_", "means_", "covariances_"):
        actual, desired = getattr(weighted, name), getattr(repeated, name)
        assert_close_to_scale(actual, desired, 1e-8, name)
    assert_allclose(weighted.lower_bounds_, repeated.lower_bounds_, rtol=1e-8)


# --------------------------------------------------------------------------------
# Stepwise EM


@pytest.mark.parametrize("model", TEN_MODELS)
def test_partial_fit_keeps_the_model(model):
    """Ten chunks of a shuffled stream: finite attributes, the model's
    constraints, and one mean near each blob's centre."""
    X, _, centres = _blobs()
    X = np.random.RandomState(3).permutation(X)
    estimator = OTGaussianMixture(
        N_COMPONENTS, covariance_type=model, reg_covar=0.0, random_state=0
    )
    for chunk in np.array_split(X, 10):
        estimator.partial_fit(chunk)
    assert estimator.n_steps_ == 10
    _assert_finite_fit(estimator)
    assert_allclose(estimator.weights_.sum(), 1.0, rtol=1e-12)
    assert_model_structure(estimator.covariances_, model, rtol=1e-9)
    distance = np.linalg.norm(centres[:, None] - estimator.means_[None], axis=2)
    assert np.all(distance.min(axis=1) < 1.0), distance


# --------------------------------------------------------------------------------
# Dask


def _dask():
    da = pytest.importorskip("dask.array")
    pytest.importorskip("distributed")  # the package asks for it with Dask
    return da


def _assert_same_fit(ours, reference, rtol):
    for name in ("weights_", "means_", "covariances_"):
        actual = _to_numpy(getattr(ours, name))
        assert_close_to_scale(actual, getattr(reference, name), rtol, name)
    assert_allclose(ours.lower_bound_, reference.lower_bound_, rtol=rtol)


@ignore_convergence
@pytest.mark.parametrize("regime", ["em", "fixed_weights", "sample_weight"])
@pytest.mark.parametrize("model", ["VEI", "EVE", "VEV"])
def test_dask_fit_equals_in_memory_fit(model, regime):
    """Chunks of 100 rows (the default scheduler), from the same explicit
    start: the in-memory fit, to 1e-7; the model's constraints hold."""
    da = _dask()
    X, _, _ = _blobs()
    params = {
        "covariance_type": model,
        "reg_covar": 0.0,
        "tol": 1e-8,
        "max_iter": 50,
        **REGIMES[regime],
        **_explicit_start(X, REGIMES[regime].get("reg_m", 0.0)),
    }
    weights = _sample_weight(len(X)) if regime == "sample_weight" else None
    memory_fit = OTGaussianMixture(N_COMPONENTS, **params).fit(X, sample_weight=weights)
    dask_fit = OTGaussianMixture(N_COMPONENTS, **params).fit(
        da.from_array(X, chunks=(100, 3)),
        sample_weight=None if weights is None else da.from_array(weights, chunks=100),
    )
    assert isinstance(dask_fit.means_, np.ndarray)
    _assert_same_fit(dask_fit, memory_fit, rtol=1e-7)
    assert dask_fit.n_iter_ == memory_fit.n_iter_
    assert_model_structure(dask_fit.covariances_, model, rtol=1e-9)


# --------------------------------------------------------------------------------
# Array namespaces


NAMESPACES = [
    pytest.param(("array_api_strict", None), id="array_api_strict"),
    pytest.param(("torch", "cpu"), id="torch-cpu"),
]


@pytest.fixture(params=NAMESPACES)
def namespace(request):
    """``(xp, to_xp)``: the namespace and a numpy-to-xp move (float64 stays
    float64)."""
    name, device_name = request.param
    module = pytest.importorskip(name)
    xp = array_api_compat.array_namespace(module.asarray(1.0))
    device = module.device(device_name) if name == "torch" else None

    def to_xp(array):
        return xp.asarray(array, device=device)

    return xp, to_xp


def _to_numpy(array):
    if array_api_compat.is_torch_array(array):
        return array.cpu().numpy()
    return np.asarray(array)


def _assert_lives_in(model, X_xp):
    xp = array_api_compat.array_namespace(X_xp)
    for name in FITTED:
        attribute = getattr(model, name)
        assert array_api_compat.array_namespace(attribute) is xp, name
        assert array_api_compat.device(attribute) == array_api_compat.device(X_xp)
        assert attribute.dtype == xp.float64, name


@ignore_convergence
@pytest.mark.parametrize("regime", ["em", "penalised", "sample_weight"])
@pytest.mark.parametrize("model", ["VEE", "EVE"])
def test_namespace_fit_equals_numpy_fit(namespace, model, regime):
    """Under array_api_dispatch, from the same explicit start: the numpy fit
    to 1e-7, its arrays in the input's namespace."""
    xp, to_xp = namespace
    X, _, _ = _blobs()
    params = {
        "covariance_type": model,
        "reg_covar": 0.0,
        "tol": 1e-8,
        "max_iter": 50,
        **REGIMES[regime],
        **_explicit_start(X),
    }
    weights = _sample_weight(len(X)) if regime == "sample_weight" else None
    reference = OTGaussianMixture(N_COMPONENTS, **params).fit(X, sample_weight=weights)
    X_xp = to_xp(X)
    with sklearn.config_context(array_api_dispatch=True):
        ours = OTGaussianMixture(N_COMPONENTS, **params).fit(
            X_xp, sample_weight=None if weights is None else to_xp(weights)
        )
    _assert_lives_in(ours, X_xp)
    _assert_same_fit(ours, reference, rtol=1e-7)
    assert_model_structure(_to_numpy(ours.covariances_), model, rtol=1e-9)


# --------------------------------------------------------------------------------
# The hierarchical initialisation


HIERARCHICAL_MODEL = "VEV"


@ignore_convergence
@pytest.mark.parametrize("regime", REGIMES)
def test_hierarchical_initialisation_in_every_regime(regime):
    """mclust's merge tree starts the fit in every regime: finite attributes,
    the model's constraints, a lower bound that never decreases, and the
    blobs found."""
    X, _, centres = _blobs()
    fitted = _fit_in_regime(
        X, HIERARCHICAL_MODEL, regime, init_params="hierarchical", max_iter=50, tol=1e-8
    )
    _assert_regime_fit(fitted, HIERARCHICAL_MODEL, regime)
    distance = np.linalg.norm(centres[:, None] - fitted.means_[None], axis=2)
    assert np.all(distance.min(axis=1) < 1.0), distance


@ignore_convergence
@pytest.mark.parametrize("regime", ["em", "sample_weight"])
def test_hierarchical_initialisation_on_dask_and_array_api_strict(regime):
    """The tree is built on the host from the same rows: the fits on a Dask
    array and on array_api_strict arrays are the numpy fit."""
    da = _dask()
    strict = pytest.importorskip("array_api_strict")
    X, _, _ = _blobs()
    weights = _sample_weight(len(X)) if regime == "sample_weight" else None
    params = {
        "covariance_type": HIERARCHICAL_MODEL,
        "reg_covar": 0.0,
        "init_params": "hierarchical",
        "tol": 1e-8,
        "max_iter": 50,
    }
    reference = OTGaussianMixture(N_COMPONENTS, **params).fit(X, sample_weight=weights)
    dask_fit = OTGaussianMixture(N_COMPONENTS, **params).fit(
        da.from_array(X, chunks=(100, 3)),
        sample_weight=None if weights is None else da.from_array(weights, chunks=100),
    )
    _assert_same_fit(dask_fit, reference, rtol=1e-7)
    with sklearn.config_context(array_api_dispatch=True):
        strict_fit = OTGaussianMixture(N_COMPONENTS, **params).fit(
            strict.asarray(X),
            sample_weight=None if weights is None else strict.asarray(weights),
        )
    _assert_lives_in(strict_fit, strict.asarray(X))
    _assert_same_fit(strict_fit, reference, rtol=1e-7)


@ignore_convergence
def test_hierarchical_initialisation_on_a_subset(monkeypatch):
    """With HIERARCHY_SUBSET = 50 of 300 rows the tree labels 50 rows, the
    others join at the first E-step: the fit runs, its weights on the simplex."""
    monkeypatch.setattr(_hierarchy, "HIERARCHY_SUBSET", 50)
    X, _, _ = _blobs()
    labels = _hierarchy.hierarchical_labels(X, N_COMPONENTS, np.random.RandomState(0))
    assert np.sum(labels >= 0) == 50
    assert set(labels[labels >= 0].tolist()) == {0, 1, 2}
    fitted = OTGaussianMixture(
        N_COMPONENTS,
        covariance_type=HIERARCHICAL_MODEL,
        reg_covar=0.0,
        init_params="hierarchical",
        random_state=0,
        max_iter=50,
    ).fit(X)
    _assert_finite_fit(fitted)
    assert_allclose(fitted.weights_.sum(), 1.0, rtol=1e-12)
    assert_model_structure(fitted.covariances_, HIERARCHICAL_MODEL, rtol=1e-9)
    _assert_monotone(fitted.lower_bounds_)


def test_hierarchical_start_is_the_means_of_the_tree_groups():
    """Without iterations (max_iter=0) the mixture is the initial one: its
    means are those of the groups of the merge tree's partition into K
    (in any order), its weights their shares of the rows."""
    X, _, _ = _blobs()
    assert _hierarchy.HIERARCHY_SUBSET >= len(X)
    fitted = OTGaussianMixture(
        N_COMPONENTS,
        covariance_type=HIERARCHICAL_MODEL,
        reg_covar=0.0,
        init_params="hierarchical",
        max_iter=0,
    ).fit(X)
    groups = cut(merge_tree(whiten(X)), N_COMPONENTS)
    expected = np.stack([X[groups == k].mean(axis=0) for k in range(N_COMPONENTS)])
    shares = np.bincount(groups, minlength=N_COMPONENTS) / len(X)
    order, expected_order = np.argsort(fitted.means_[:, 0]), np.argsort(expected[:, 0])
    assert_allclose(
        fitted.means_[order], expected[expected_order], rtol=1e-10, atol=1e-12
    )
    assert_allclose(fitted.weights_[order], shares[expected_order], rtol=1e-12)
    assert_model_structure(fitted.covariances_, HIERARCHICAL_MODEL, rtol=1e-9)


# --------------------------------------------------------------------------------
# The classifier


@pytest.mark.parametrize("model", TEN_MODELS)
def test_classifier_on_iris_with_each_model(model):
    """Iris, half of the rows labelled: accuracy above 0.85 on all rows, and
    the model's constraints on the class components' covariances."""
    X, y = load_iris(return_X_y=True)
    partial = np.where(np.arange(len(y)) % 2 == 0, y, -1)
    classifier = OTGaussianMixtureClassifier(
        covariance_type=model, reg_covar=0.0, random_state=0
    ).fit(X, partial)
    assert classifier.covariances_.shape == (3, 4, 4)
    assert np.all(np.isfinite(classifier.covariances_))
    assert classifier.score(X, y) > 0.85
    assert_model_structure(classifier.covariances_, model, rtol=1e-9)


# --------------------------------------------------------------------------------
# Models the data cannot support


ORIENTED = [m for m in ALL_MODELS if m[2] != "I"]


@pytest.mark.parametrize("model", ORIENTED)
def test_orientations_need_more_samples_than_features(model):
    """n_samples <= n_features: each model with orientations, by its mclust
    name (EEE and VVV included), is refused, also by the classifier."""
    X = np.random.RandomState(0).normal(size=(4, 4))
    with pytest.raises(ValueError, match="more samples than features"):
        OTGaussianMixture(1, covariance_type=model).fit(X)
    with pytest.raises(ValueError, match="more samples than features"):
        OTGaussianMixtureClassifier(covariance_type=model).fit(X, [0, 0, 1, 1])


def _n_free_parameters(model, K, d):
    """mclust's count, from the letters: K - 1 weights, K d means, the volume
    (1 or K), the shape (0, d - 1 or K (d - 1)), the orientation (0,
    d (d - 1) / 2 or K d (d - 1) / 2)."""
    per = {"I": 0, "E": 1, "V": K}
    return (
        K - 1
        + K * d
        + per[model[0]]
        + per[model[1]] * (d - 1)
        + per[model[2]] * d * (d - 1) // 2
    )


@pytest.mark.parametrize("model", TEN_MODELS)
def test_more_free_parameters_than_data_values_is_refused(model):
    """A model may not have more free parameters (mclust's counts) than the
    data have values, ``n_samples * n_features``: one row fewer than the
    fewest rows that hold them is refused; those rows are not refused for
    that reason (nor for the orientations)."""
    K, d = 2, 3
    count = _n_free_parameters(model, K, d)
    fewest = -(-count // d)  # ceil(count / d)
    assert (fewest - 1) * d < count <= fewest * d
    if model[2] != "I":
        assert fewest - 1 > d  # the orientations' own rule does not answer
    rng = np.random.RandomState(0)
    X = rng.normal(size=(fewest, d))
    X[1::2] += 6.0  # two groups
    with pytest.raises(ValueError, match="free parameters"):
        OTGaussianMixture(K, covariance_type=model).fit(X[:-1])
    # Enough values: whatever else may go wrong with so few rows (a
    # singular covariance), the count does not refuse them.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            OTGaussianMixture(K, covariance_type=model, random_state=0).fit(X)
    except ValueError as error:
        assert "free parameters" not in str(error)
        assert "more samples than features" not in str(error)


@pytest.mark.parametrize("model", TEN_MODELS)
def test_few_rows_give_an_error_or_a_finite_fit(model):
    """The fewest rows that the checks accept, in two groups of at most d
    rows (singular scatter matrices), default reg_covar: the fit either
    raises a ValueError or gives finite parameters, never a silent NaN."""
    K, d = 2, 3
    fewest = -(-_n_free_parameters(model, K, d) // d)
    X = np.random.RandomState(0).normal(size=(fewest, d))
    X[1::2] += 6.0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted = OTGaussianMixture(K, covariance_type=model, random_state=0)
            fitted.fit(X)
    except ValueError:
        return
    for name in FITTED:
        assert np.all(np.isfinite(getattr(fitted, name))), (
            f"{model}: {name} not finite after a fit that raised nothing:\n"
            f"{getattr(fitted, name)}"
        )


@pytest.mark.parametrize("covariance_type", ["full", "tied"])
def test_scikit_learn_names_still_fit_with_few_samples(covariance_type):
    """scikit-learn's 'full' and 'tied' with n_samples <= n_features fit, as
    in GaussianMixture (reg_covar keeps them positive definite)."""
    X = np.random.RandomState(0).normal(size=(3, 4))
    fitted = OTGaussianMixture(1, covariance_type=covariance_type).fit(X)
    for name in FITTED:
        assert np.all(np.isfinite(getattr(fitted, name))), name
    assert_allclose(fitted.weights_, [1.0])
    assert_allclose(fitted.means_, X.mean(axis=0, keepdims=True), rtol=1e-12)
