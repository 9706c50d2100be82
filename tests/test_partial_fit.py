"""partial_fit: stepwise EM over a stream of chunks."""

import warnings

import numpy as np
import pytest
from conftest import DATASETS, assert_close_to_scale
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning

from sklearn_otmix import OTGaussianMixture


def _shuffled_chunks(X, size, epochs, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(X))
        for start in range(0, len(X), size):
            yield X[order[start : start + size]]


def _stream_fit(estimator, chunks):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for chunk in chunks:
            estimator.partial_fit(chunk)
    return estimator


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_stream_of_generated_data_reaches_the_batch_likelihood(covariance_type):
    X, _ = make_blobs(20000, n_features=5, centers=4, random_state=0)
    params = {"n_components": 4, "covariance_type": covariance_type}
    batch = OTGaussianMixture(**params, random_state=0).fit(X)
    online = _stream_fit(
        OTGaussianMixture(**params, random_state=0), _shuffled_chunks(X, 1000, 1)
    )
    assert online.n_steps_ == 20
    assert abs(online.score(X) - batch.score(X)) <= 0.01 * abs(batch.score(X))


@pytest.mark.parametrize("reg_m", [0.0, np.inf])
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_stream_of_digits_reaches_the_batch_likelihood(covariance_type, reg_m):
    """scikit-learn's digits (PCA to 10 dimensions), in chunks of 100, 10 epochs.

    With ``reg_m=inf`` each chunk's plan is balanced on its own: the batch
    Sinkhorn-EM plan where every chunk holds the components in the proportions
    ``target_weights``, which shuffled chunks of overlapping clusters do nearly.
    """
    X = DATASETS["digits"][0]
    params = {"n_components": 4, "covariance_type": covariance_type, "reg_m": reg_m}
    batch = OTGaussianMixture(**params, random_state=0).fit(X)
    online = _stream_fit(
        OTGaussianMixture(**params, random_state=0), _shuffled_chunks(X, 100, 10)
    )
    assert abs(online.score(X) - batch.score(X)) <= 0.01 * abs(batch.score(X))
    if reg_m == np.inf:
        np.testing.assert_array_equal(online.weights_, batch.weights_)


def test_first_call_initialises_from_its_chunk_then_steps():
    X, _ = make_blobs(600, n_features=2, centers=3, random_state=0)
    chunk = X[:200]
    online = OTGaussianMixture(3, random_state=0).partial_fit(chunk)
    # One chunk, step size one: one EM iteration on it from its initialisation.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        batch = OTGaussianMixture(3, random_state=0, max_iter=1).fit(chunk)
    for name in ("weights_", "means_", "covariances_"):
        assert_close_to_scale(getattr(online, name), getattr(batch, name), 1e-10)
    assert online.n_steps_ == 1
    assert online.lower_bound_ == pytest.approx(batch.lower_bound_)


@pytest.mark.parametrize("learning_decay", [0.6, 1.0])
def test_step_sizes_follow_the_schedule(learning_decay):
    """Second step: running statistics ``(1 - r) s_A + r s_B`` with
    ``r = 2 ** -learning_decay``, where ``s_A`` are the first chunk's statistics
    per unit of mass at the initial parameters and ``s_B`` the second chunk's at
    the parameters after the first step; recomputed here from EM's
    responsibilities (``predict_proba``) of those parameters."""
    X, _ = make_blobs(600, n_features=2, centers=3, random_state=0)
    first, second = X[:300], X[300:]
    online = OTGaussianMixture(3, random_state=0, learning_decay=learning_decay)
    online.partial_fit(first)
    after_first = online.means_.copy(), online.weights_.copy()
    online.partial_fit(second)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        initial = OTGaussianMixture(3, random_state=0, max_iter=0).fit(first)
        one_step = OTGaussianMixture(3, random_state=0, max_iter=1).fit(first)
    assert_close_to_scale(one_step.means_, after_first[0], 1e-12)

    def statistics(model, chunk):
        responsibilities = model.predict_proba(chunk)
        return responsibilities.mean(axis=0), responsibilities.T @ chunk / len(chunk)

    rate = 2.0**-learning_decay
    mass_a, first_a = statistics(initial, first)
    mass_b, first_b = statistics(one_step, second)
    mass = (1 - rate) * mass_a + rate * mass_b
    means = ((1 - rate) * first_a + rate * first_b) / mass[:, np.newaxis]
    assert_close_to_scale(online.means_, means, 1e-10)
    assert_close_to_scale(online.weights_, mass / mass.sum(), 1e-10)
    assert online.n_steps_ == 2


def test_partial_fit_continues_a_fit_and_sample_weights_count():
    X, _ = make_blobs(400, n_features=2, centers=2, random_state=0)
    fitted = OTGaussianMixture(2, tol=1e-12, max_iter=1000, random_state=0).fit(X)
    means = fitted.means_.copy()
    fitted.partial_fit(X)
    # From the fitted parameters, a fixed point of EM on X, one step on X with
    # step size one stays there.
    assert fitted.n_steps_ == 1
    assert_close_to_scale(fitted.means_, means, 1e-5)
    weights = np.r_[np.ones(200), np.zeros(200)]
    weighted = OTGaussianMixture(2, random_state=0).partial_fit(
        X, sample_weight=weights
    )
    kept = OTGaussianMixture(2, random_state=0).partial_fit(X[:200])
    assert_close_to_scale(weighted.means_, kept.means_, 1e-10)


def test_partial_fit_errors():
    X = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(ValueError, match="first chunk.*n_components = 5"):
        OTGaussianMixture(5).partial_fit(X[:3])
    online = OTGaussianMixture(2, random_state=0).partial_fit(X)
    with pytest.raises(ValueError, match="3 features"):
        online.partial_fit(X[:, :2])
    with pytest.raises(ValueError, match="learning_decay"):
        OTGaussianMixture(2, learning_decay=0.4).partial_fit(X)


def test_dask_ml_incremental_streams_the_blocks():
    dask_ml_wrappers = pytest.importorskip("dask_ml.wrappers")
    da = pytest.importorskip("dask.array")
    X, _ = make_blobs(20000, n_features=3, centers=3, random_state=0)
    rng = np.random.default_rng(0)
    X_dask = da.from_array(X[rng.permutation(len(X))], chunks=(1000, 3))
    batch = OTGaussianMixture(3, random_state=0).fit(X)
    # Incremental shuffles the blocks; a fixed order keeps the test deterministic.
    # The first block initialises the mixture: k-means on 1,000 rows can merge two
    # of the three blobs (one order in 40 starts from such a block), a local
    # optimum the stream does not leave, as batch EM would not either.
    incremental = dask_ml_wrappers.Incremental(
        OTGaussianMixture(3, random_state=0), random_state=0
    )
    incremental.fit(X_dask)
    online = incremental.estimator_
    assert online.n_steps_ == 20
    assert abs(online.score(X) - batch.score(X)) <= 0.01 * abs(batch.score(X))
    labels = incremental.predict(X_dask)
    assert isinstance(labels, da.Array)
    np.testing.assert_array_equal(labels.compute(), online.predict(X_dask).compute())


def test_fit_restarts_the_stream():
    X, _ = make_blobs(400, n_features=2, centers=2, random_state=0)
    model = OTGaussianMixture(2, random_state=0).partial_fit(X[:200])
    model.partial_fit(X[200:])
    model.fit(X)
    assert not hasattr(model, "n_steps_")
    fitted_means = model.means_.copy()
    model.partial_fit(X)
    assert model.n_steps_ == 1
    # Step size one from the fitted parameters: the old stream is forgotten.
    fresh = OTGaussianMixture(2, random_state=0).fit(X).partial_fit(X)
    assert_close_to_scale(model.means_, fresh.means_, 1e-12)
    assert not np.array_equal(model.means_, fitted_means)
