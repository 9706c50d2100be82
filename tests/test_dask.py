"""Fits on Dask arrays, through a real local cluster of worker processes."""

import sys
import warnings

import numpy as np
import pytest
from conftest import COVARIANCE_TYPES, assert_close_to_scale
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning

from sklearn_otmix import OTGaussianMixture, OTGaussianMixtureClassifier, _dask

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

# (reg, reg_m): EM, Sinkhorn EM at two temperatures, the penalised weights.
REGIMES = [(1.0, 0.0), (1.0, np.inf), (0.3, np.inf), (1.0, 1.0)]


@pytest.fixture(scope="module")
def client():
    """Two worker processes on the loopback interface: chunks and tasks cross
    process boundaries, as on a real cluster."""
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def weighted_blobs():
    X, _ = make_blobs(
        1500, n_features=3, centers=3, cluster_std=[1.0, 2.0, 0.7], random_state=0
    )
    weights = np.random.default_rng(0).uniform(0.0, 2.0, len(X))
    weights[:20] = 0.0
    return X, weights


def _explicit_init(X, covariance_type, reg_m):
    """Initial parameters from one EM iteration, passed as ``*_init``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = OTGaussianMixture(
            3, covariance_type=covariance_type, max_iter=1, random_state=0
        ).fit(X)
    return {
        "weights_init": None if reg_m == np.inf else start.weights_,
        "means_init": start.means_,
        "precisions_init": start.precisions_,
    }


def _assert_same_fit(dask_fit, memory_fit, rtol):
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert_close_to_scale(getattr(dask_fit, name), getattr(memory_fit, name), rtol)
    assert dask_fit.n_iter_ == memory_fit.n_iter_
    assert dask_fit.converged_ == memory_fit.converged_
    assert dask_fit.lower_bound_ == pytest.approx(memory_fit.lower_bound_, abs=1e-9)
    assert isinstance(dask_fit.weights_, np.ndarray)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize(("reg", "reg_m"), REGIMES)
def test_fit_equals_in_memory_fit(client, weighted_blobs, covariance_type, reg, reg_m):
    X, weights = weighted_blobs
    # Sample weights in half of the cases, zeros included.
    sample_weight = weights if covariance_type in ("full", "diag") else None
    estimator = OTGaussianMixture(
        3,
        covariance_type=covariance_type,
        reg=reg,
        reg_m=reg_m,
        tol=1e-6,
        max_iter=50,
        **_explicit_init(X, covariance_type, reg_m),
    )
    memory_fit = estimator.fit(X, sample_weight=sample_weight)
    # Chunks held by the workers, as a user would persist them: each pass of the
    # fit then reads them where they are.
    X_dask = da.from_array(X, chunks=(400, 3)).persist()
    w_dask = None
    if sample_weight is not None:
        w_dask = da.from_array(weights, chunks=400).persist()
    dask_fit = estimator.__sklearn_clone__()
    labels = dask_fit.fit_predict(X_dask, sample_weight=w_dask)
    _assert_same_fit(dask_fit, memory_fit, rtol=1e-8)
    assert isinstance(labels, da.Array)
    np.testing.assert_array_equal(labels.compute(), memory_fit.predict(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("reg_m", [0.0, np.inf])
def test_data_far_from_the_origin_keep_their_digits(client, covariance_type, reg_m):
    """Rows shifted by 1e8 (unit spread), in chunks on the workers: the fit is
    the in-memory fit of the same rows shifted back to the origin (the
    subtraction is exact), covariances to 1e-6 relative and score_samples to
    1e-6 absolute, as tests/test_offsets.py asks in memory."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0, 0.0], [3.0, 1.0, -1.0], [-1.0, 3.5, 2.0]])
    near = centres[rng.integers(3, size=900)] + rng.normal(size=(900, 3))
    shift = 1e8 * np.array([1.0, -0.5, 0.25])
    far = near + shift
    near = far - shift
    estimator = OTGaussianMixture(
        3, covariance_type=covariance_type, reg_m=reg_m, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        near_fit = estimator.fit(near)
        far_fit = estimator.__sklearn_clone__().fit(da.from_array(far, chunks=300))
    assert far_fit.n_iter_ == near_fit.n_iter_
    np.testing.assert_allclose(far_fit.means_ - shift, near_fit.means_, atol=1e-6)
    assert_close_to_scale(far_fit.covariances_, near_fit.covariances_, 1e-6)
    np.testing.assert_allclose(
        far_fit.score_samples(far), near_fit.score_samples(near), atol=1e-6
    )


@pytest.mark.parametrize("reg_m", [100.0, 1000.0])
def test_penalised_weights_far_from_the_balance_point(client, reg_m):
    """The regime whose in-memory E-step used to stop short (three blobs of
    unequal sizes, a large reg_m): on Dask, Newton's method alone; in memory,
    POT then Newton. Both reach the certificate, hence the same fit and -F
    after every iteration (which tests/test_regimes.py holds to an independent
    reference)."""
    rng = np.random.default_rng(4)
    X = np.vstack(
        [rng.normal(c, 1.0, size=(m, 2)) for c, m in zip([0, 4, 8], [60, 30, 10])]
    )
    estimator = OTGaussianMixture(
        3, reg_m=reg_m, tol=0.0, max_iter=9, **_explicit_init(X, "full", reg_m)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.filterwarnings("error", message=".*sinkhorn_tol.*")
        memory_fit = estimator.fit(X)
        dask_fit = estimator.__sklearn_clone__().fit(da.from_array(X, chunks=40))
    _assert_same_fit(dask_fit, memory_fit, rtol=1e-8)
    np.testing.assert_allclose(
        dask_fit.lower_bounds_, memory_fit.lower_bounds_, rtol=1e-10
    )
    assert max(dask_fit.transport_residuals_) <= dask_fit.sinkhorn_tol


@pytest.mark.parametrize("random_state", [0, 1])
def test_initialisation_from_dask_equals_in_memory_when_small(
    client, weighted_blobs, random_state
):
    """With at most INIT_SAMPLE_SIZE rows the initialisation sample is the data:
    k-means and all, the fit is the in-memory fit. (One start per fit: where
    several reach the same optimum, which of them wins is a matter of the last
    bit of their objectives, summed in another order on Dask.)"""
    X, _ = weighted_blobs
    estimator = OTGaussianMixture(3, random_state=random_state)
    memory_fit = estimator.fit(X)
    dask_fit = estimator.__sklearn_clone__().fit(da.from_array(X, chunks=500))
    _assert_same_fit(dask_fit, memory_fit, rtol=1e-8)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random_from_data"])
def test_initialisation_on_a_sample(client, monkeypatch, init_params):
    """Beyond INIT_SAMPLE_SIZE rows the initialisation sees a sample only; the fit
    still finds the clusters, and is reproducible."""
    monkeypatch.setattr(_dask, "INIT_SAMPLE_SIZE", 300)
    X, _ = make_blobs(6000, n_features=2, centers=3, random_state=1)
    X_dask = da.from_array(X, chunks=1000).persist()
    estimator = OTGaussianMixture(3, init_params=init_params, tol=1e-8, random_state=0)
    dask_fit = estimator.fit(X_dask)
    again = estimator.__sklearn_clone__().fit(X_dask)
    np.testing.assert_array_equal(dask_fit.means_, again.means_)
    memory_fit = estimator.__sklearn_clone__().fit(X)
    order = np.argsort(dask_fit.means_[:, 0])
    memory_order = np.argsort(memory_fit.means_[:, 0])
    assert_close_to_scale(
        dask_fit.means_[order], memory_fit.means_[memory_order], rtol=1e-5
    )


def test_float32_stays_float32(client, weighted_blobs):
    X, _ = weighted_blobs
    X32 = X.astype(np.float32)
    estimator = OTGaussianMixture(3, random_state=0, reg_m=np.inf)
    dask_fit = estimator.fit(da.from_array(X32, chunks=500))
    memory_fit = estimator.__sklearn_clone__().fit(X32)
    assert dask_fit.means_.dtype == np.float32
    # Sums of float32 statistics in another order: float32 round-off, amplified
    # by the iterations.
    assert_close_to_scale(dask_fit.means_, memory_fit.means_, rtol=1e-4)


def test_predictions_are_lazy_dask_arrays(client, weighted_blobs):
    X, _ = weighted_blobs
    fitted = OTGaussianMixture(3, covariance_type="diag", random_state=0).fit(X)
    X_dask = da.from_array(X, chunks=(300, 3))
    for method, expected in [
        ("predict", fitted.predict(X)),
        ("predict_proba", fitted.predict_proba(X)),
        ("score_samples", fitted.score_samples(X)),
    ]:
        result = getattr(fitted, method)(X_dask)
        assert isinstance(result, da.Array), method
        assert result.chunks[0] == X_dask.chunks[0]
        np.testing.assert_allclose(result.compute(), expected, rtol=1e-12)
    assert fitted.score(X_dask) == pytest.approx(fitted.score(X), rel=1e-12)
    weights = np.arange(len(X), dtype=float)
    assert fitted.score(X_dask, sample_weight=weights) == pytest.approx(
        fitted.score(X, sample_weight=weights), rel=1e-12
    )
    assert fitted.bic(X_dask) == pytest.approx(fitted.bic(X), rel=1e-12)


def test_chunks_of_columns_and_integer_input(client):
    X, _ = make_blobs(400, n_features=4, centers=2, random_state=0)
    X = np.round(X * 10).astype(np.int64)
    estimator = OTGaussianMixture(2, random_state=0)
    dask_fit = estimator.fit(da.from_array(X, chunks=(150, 2)))
    memory_fit = estimator.__sklearn_clone__().fit(X)
    _assert_same_fit(dask_fit, memory_fit, rtol=1e-8)


def test_bad_dask_input(client):
    estimator = OTGaussianMixture(2)
    with pytest.raises(ValueError, match="2D Dask array"):
        estimator.fit(da.ones(10, chunks=5))
    X = np.ones((20, 2))
    X[3, 1] = np.inf
    with pytest.raises(ValueError, match="Input X contains infinity"):
        estimator.fit(da.from_array(X, chunks=5))
    # A NaN is a missing entry; a row of them is an error.
    X[3] = np.nan
    with pytest.raises(ValueError, match="1 row.*no observed entry.*index 3"):
        estimator.fit(da.from_array(X, chunks=5))
    X = np.random.default_rng(0).normal(size=(20, 2))
    with pytest.raises(ValueError, match="non-negative"):
        estimator.fit(da.from_array(X, chunks=5), sample_weight=-np.ones(20))
    with pytest.raises(ValueError, match=r"shape \(20,\)"):
        estimator.fit(da.from_array(X, chunks=5), sample_weight=np.ones(3))
    fitted = estimator.fit(da.from_array(X, chunks=5))
    with pytest.raises(ValueError, match="expecting 2 features"):
        fitted.predict(da.ones((5, 3), chunks=5))


def test_missing_distributed_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"sklearn-otmix\[dask\]"):
        OTGaussianMixture(2).fit(da.ones((10, 2), chunks=5))


@pytest.mark.parametrize("n_samples", [1001, 5000, 10**7])
def test_initialisation_rows_are_distinct_and_uniform(n_samples):
    rng = np.random.RandomState(0)
    rows = _dask._distinct_rows(n_samples, 1000, rng)
    assert rows.shape == (1000,)
    assert np.all(np.diff(rows) > 0)
    assert 0 <= rows[0] and rows[-1] < n_samples
    # Uniform: the mean position is that of the whole range, within 4 standard
    # errors of a sample of 1000 (without replacement: a little less).
    assert abs(rows.mean() - (n_samples - 1) / 2) < 4 * n_samples / np.sqrt(12e3)


def test_dask_dataframe_is_refused_with_advice(client):
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    frame = dd.from_pandas(pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.0, 1.0, 0.5]}))
    with pytest.raises(TypeError, match="to_dask_array"):
        OTGaussianMixture(2).fit(frame)


@pytest.mark.parametrize(("reg", "reg_m"), REGIMES)
def test_classifier_fit_equals_in_memory_fit(client, weighted_blobs, reg, reg_m):
    """Labels chunked like X reach every chunk's blocks: the Dask fit is the
    in-memory one, sample weights and several components per class included."""
    X, weights = weighted_blobs
    _, y = make_blobs(
        1500, n_features=3, centers=3, cluster_std=[1.0, 2.0, 0.7], random_state=0
    )
    y = np.where(np.random.default_rng(1).random(len(y)) < 0.1, y, -1)
    params = {
        "n_components_per_class": [1, 2, 1],
        "covariance_type": "full",
        "unlabelled_weight": 1.0,
        "reg": reg,
        "reg_m": reg_m,
        "random_state": 0,
        "sinkhorn_tol": 1e-12,
        "sinkhorn_max_iter": 5000,
    }
    reference = OTGaussianMixtureClassifier(**params).fit(X, y, sample_weight=weights)
    X_dask = da.from_array(X, chunks=(400, 3))
    ours = OTGaussianMixtureClassifier(**params).fit(
        X_dask,
        da.from_array(y, chunks=400),
        sample_weight=da.from_array(weights, chunks=400),
    )
    for name in ("weights_", "means_", "covariances_"):
        assert_close_to_scale(getattr(ours, name), getattr(reference, name), 1e-8, name)
    assert ours.n_iter_ == reference.n_iter_
    labels = ours.predict(X_dask)
    proba = ours.predict_proba(X_dask)
    assert isinstance(labels, da.Array) and isinstance(proba, da.Array)
    np.testing.assert_array_equal(labels.compute(), reference.predict(X))
    np.testing.assert_allclose(proba.compute(), reference.predict_proba(X), atol=1e-8)
    # y chunked unlike X (or in memory) is rechunked to X's rows.
    again = OTGaussianMixtureClassifier(**params).fit(
        X_dask, da.from_array(y, chunks=700), sample_weight=weights
    )
    np.testing.assert_allclose(again.means_, ours.means_, rtol=1e-12)


def test_classifier_rejects_bad_dask_labels(client):
    X = da.from_array(np.random.default_rng(0).normal(size=(100, 2)), chunks=50)
    y = da.from_array(np.arange(100) % 2, chunks=50)
    with pytest.raises(ValueError, match="y should have one entry per row"):
        OTGaussianMixtureClassifier().fit(X, y[:-1])
    with pytest.raises(ValueError, match="Unknown label type"):
        OTGaussianMixtureClassifier().fit(X, y + 0.5)
    with pytest.raises(ValueError, match="use OTGaussianMixture"):
        OTGaussianMixtureClassifier().fit(X, y * 0 - 1)


def test_proportions_on_dask_equal_in_memory(client, weighted_blobs):
    """Bounded weights, known weights without an order, and the weights of a
    shifted batch: the Dask fits are the in-memory ones."""
    from sklearn_otmix import PriorShiftAdapter

    X, weights = weighted_blobs
    X_dask = da.from_array(X, chunks=(500, 3))
    w_dask = da.from_array(weights, chunks=500)
    for params in (
        {"weight_bounds": (0.2, 0.4)},
        {"reg_m": np.inf, "target_weights": [0.5, 0.3, 0.2], "target_order": "free"},
    ):
        params = {"covariance_type": "full", "random_state": 0, **params}
        reference = OTGaussianMixture(3, **params).fit(X, sample_weight=weights)
        ours = OTGaussianMixture(3, **params).fit(X_dask, sample_weight=w_dask)
        for name in ("weights_", "means_", "covariances_"):
            assert_close_to_scale(
                getattr(ours, name), getattr(reference, name), 1e-8, name
            )
    model = OTGaussianMixture(3, random_state=0).fit(X)
    batch = X[np.argsort(X[:, 0])[:900]]  # a shifted batch
    reference = PriorShiftAdapter(model).fit(batch)
    ours = PriorShiftAdapter(model).fit(da.from_array(batch, chunks=300))
    np.testing.assert_allclose(ours.weights_, reference.weights_, rtol=1e-10)


def test_classifier_initialisation_sample_holds_the_rare_labelled_rows(
    client, monkeypatch
):
    """Beyond INIT_SAMPLE_SIZE rows the initialisation sees a sample, plus
    every labelled row: a class with two components and 4 labelled rows of
    6000 is still placed (a uniform sample of 300 would hold none of them)."""
    from sklearn_otmix._memory import LABELS

    monkeypatch.setattr(_dask, "INIT_SAMPLE_SIZE", 300)
    X, blob = make_blobs(6000, n_features=2, centers=4, random_state=1)
    y = np.full(len(X), -1)
    for b in range(4):
        y[np.flatnonzero(blob == b)[:2]] = b // 2  # two classes of two blobs
    samples = _dask.dask_samples(
        OTGaussianMixtureClassifier(),
        da.from_array(X, chunks=1000),
        None,
        reset=True,
        n_components=4,
        fit=True,
        labels=da.from_array(y, chunks=1000),
    )
    sample = samples.initialization_sample(np.random.RandomState(0))
    labels = np.concatenate(sample.map(lambda x, mass, labels: labels, LABELS))
    assert np.sum(labels >= 0) == 8 and 300 <= len(labels) <= 308
    model = OTGaussianMixtureClassifier(2, unlabelled_weight=1.0, random_state=0).fit(
        da.from_array(X, chunks=1000), da.from_array(y, chunks=1000)
    )
    assert model.score(X, blob // 2) > 0.9


def test_classifier_shrinkage_and_unlabelled_weight_on_dask(client):
    """Ledoit-Wolf shrinkage (its extra pass over the chunks) and the
    unlabelled rows' weight chosen by cross-validation: the in-memory fit and
    choice."""
    X, y_true = make_blobs(
        400, n_features=3, centers=3, cluster_std=[1.0, 2.0, 0.7], random_state=0
    )
    y = np.where(np.random.default_rng(1).random(len(y_true)) < 0.1, y_true, -1)
    params = {"covariance_type": "full", "shrinkage": "auto", "random_state": 0}
    reference = OTGaussianMixtureClassifier(**params).fit(X, y)
    ours = OTGaussianMixtureClassifier(**params).fit(
        da.from_array(X, chunks=(150, 3)), da.from_array(y, chunks=150)
    )
    for name in ("weights_", "means_", "covariances_"):
        assert_close_to_scale(getattr(ours, name), getattr(reference, name), 1e-8, name)
    assert ours.unlabelled_weight_ == reference.unlabelled_weight_
    np.testing.assert_allclose(
        ours.unlabelled_weight_cv_["brier"],
        reference.unlabelled_weight_cv_["brier"],
        rtol=1e-8,
    )
    # A covariance estimator is fitted on each class's rows in memory.
    from sklearn.covariance import OAS

    with pytest.raises(ValueError, match="not a Dask array"):
        OTGaussianMixtureClassifier(covariance_estimator=OAS()).fit(
            da.from_array(X, chunks=(150, 3)), da.from_array(y_true, chunks=150)
        )
