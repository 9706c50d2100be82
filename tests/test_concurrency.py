"""Under load: a fitted estimator predicting from many threads at once, and
model selection fitting in several processes, give the sequential results."""

import copy
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import assert_close_to_scale
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_blobs
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score

from sklearn_otmix import OTGaussianMixture, OTGaussianMixtureClassifier

N_THREADS = 16
N_ROUNDS = 8  # calls of each method by each thread, each on its own slice
TIMEOUT = 120.0  # for the barrier and the threads' results


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(
        5000,
        n_features=5,
        centers=4,
        cluster_std=[1.0, 1.5, 0.7, 2.0],
        random_state=0,
    )
    return X, y


def _slices(n_samples):
    """A different slice of the rows for each (thread, round): various sizes
    and offsets, some small, one of all the rows."""
    rng = np.random.default_rng(0)
    slices = {}
    for thread in range(N_THREADS):
        for round_ in range(N_ROUNDS):
            start = int(rng.integers(0, n_samples - 1))
            stop = int(rng.integers(start + 1, n_samples + 1))
            slices[thread, round_] = slice(start, stop)
    slices[0, 0] = slice(0, n_samples)
    return slices


def _deep_equal(after, before):
    """The fitted attributes are unchanged by the predictions."""
    assert sorted(after) == sorted(before)
    for name, value in before.items():
        if isinstance(value, np.ndarray):
            assert_array_equal(after[name], value, err_msg=name, strict=True)
        elif isinstance(value, (list, tuple)):
            assert len(after[name]) == len(value), name
            for a, b in zip(after[name], value):
                assert_array_equal(a, b, err_msg=name)
        else:
            assert type(after[name]) is type(value), name


def _concurrent_calls(estimator, X, methods):
    """``methods`` of ``estimator`` called from N_THREADS threads that start
    together, on the slices of ``_slices``, against the same calls made one
    after the other."""
    slices = _slices(len(X))
    expected = {
        (method, key): getattr(estimator, method)(X[rows])
        for key, rows in slices.items()
        for method in methods
    }
    before = copy.deepcopy(vars(estimator))
    barrier = threading.Barrier(N_THREADS, timeout=TIMEOUT)

    def work(thread):
        barrier.wait()
        results = {}
        for round_ in range(N_ROUNDS):
            rows = slices[thread, round_]
            # Each thread runs the methods in its own order.
            shift = (thread + round_) % len(methods)
            for method in methods[shift:] + methods[:shift]:
                results[method, (thread, round_)] = getattr(estimator, method)(X[rows])
        return results

    with ThreadPoolExecutor(N_THREADS) as pool:
        futures = [pool.submit(work, thread) for thread in range(N_THREADS)]
        results = {}
        for future in futures:
            results.update(future.result(timeout=TIMEOUT))

    assert sorted(results) == sorted(expected)
    for key, value in expected.items():
        assert results[key].dtype == value.dtype, key
        assert_array_equal(results[key], value, err_msg=str(key), strict=True)
    _deep_equal(vars(estimator), before)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_predictions_from_many_threads(blobs, covariance_type):
    X, _ = blobs
    estimator = OTGaussianMixture(
        4, covariance_type=covariance_type, random_state=0
    ).fit(X)
    _concurrent_calls(estimator, X, ["predict", "predict_proba", "score_samples"])


def test_classifier_predictions_from_many_threads(blobs):
    X, y = blobs
    # Two classes of two blobs each, a tenth of the rows labelled.
    labels = np.where(np.random.default_rng(0).random(len(y)) < 0.1, y // 2, -1)
    classifier = OTGaussianMixtureClassifier(
        2, unlabelled_weight=1.0, random_state=0
    ).fit(X, labels)
    _concurrent_calls(classifier, X, ["predict", "predict_proba", "predict_log_proba"])


@pytest.fixture(scope="module")
def small_blobs():
    X, y = make_blobs(
        600, n_features=3, centers=3, cluster_std=[1.0, 2.0, 0.7], random_state=0
    )
    return X, y


def test_grid_search_in_two_processes_equals_one(small_blobs):
    X, _ = small_blobs
    param_grid = {
        "n_components": [1, 2, 3],
        "covariance_type": ["full", "tied", "diag", "spherical"],
    }
    cv = KFold(3, shuffle=True, random_state=0)
    searches = {
        n_jobs: GridSearchCV(
            OTGaussianMixture(random_state=0), param_grid, cv=cv, n_jobs=n_jobs
        ).fit(X)
        for n_jobs in (1, 2)
    }
    one, two = searches[1].cv_results_, searches[2].cv_results_
    # The same computations in other processes: equal, up to a BLAS that
    # would add in another order with another number of threads.
    assert two["params"] == one["params"]
    assert_array_equal(two["rank_test_score"], one["rank_test_score"], strict=True)
    names = ["mean_test_score", "std_test_score"]
    names += [f"split{i}_test_score" for i in range(3)]
    for name in names:
        assert_allclose(two[name], one[name], rtol=1e-12, atol=0, err_msg=name)
    assert searches[2].best_params_ == searches[1].best_params_
    for name in ("weights_", "means_", "covariances_"):
        assert_close_to_scale(
            getattr(searches[2].best_estimator_, name),
            getattr(searches[1].best_estimator_, name),
            1e-12,
            name,
        )


def test_classifier_cross_validation_in_two_processes_equals_one(small_blobs):
    X, y = small_blobs
    classifier = OTGaussianMixtureClassifier(
        [1, 2, 1], covariance_type="diag", random_state=0
    )
    scores = {
        n_jobs: cross_val_score(classifier, X, y, cv=5, n_jobs=n_jobs)
        for n_jobs in (1, 2)
    }
    assert scores[1].shape == (5,) and np.all(scores[1] > 0.5)
    assert_array_equal(scores[2], scores[1], strict=True)
