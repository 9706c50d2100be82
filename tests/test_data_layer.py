"""The data layer: how the rows are cut into blocks does not change the fit."""

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import COVARIANCE_TYPES, DATASETS, assert_close_to_scale
import sklearn
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import ThreadpoolController, threadpool_limits

from sklearn_otmix import OTGaussianMixture, _backend, _memory, _step
from sklearn_otmix._memory import block_threads, in_memory, on_threads
from sklearn_otmix._gaussian import (
    gaussian_mle,
    statistics_of_plan,
    sufficient_statistics,
)

X_BLOBS, K_BLOBS = DATASETS["blobs"]


def _plan(X, n_components, seed=0):
    plan = np.random.default_rng(seed).dirichlet(np.ones(n_components), len(X))
    return X, plan


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_statistics_of_blocks_merge_into_those_of_the_whole(covariance_type):
    X, plan = _plan(X_BLOBS, K_BLOBS)
    if covariance_type == "full":
        # Far from the origin, where second moments about the origin would lose
        # digits (the other types take them there, as scikit-learn does).
        X = X + 1e4
    mass = np.ones(len(X))
    whole = sufficient_statistics(X, plan, mass, covariance_type)
    cuts = [0, 1, 7, 300, 301, len(X)]  # blocks of 1, 6, 293, 1 and 299 rows
    merged = None
    for start, stop in zip(cuts[:-1], cuts[1:], strict=True):
        rows = slice(start, stop)
        block = sufficient_statistics(X[rows], plan[rows], mass[rows], covariance_type)
        merged = block if merged is None else merged.merge(block)
    for expected, actual in zip(
        gaussian_mle(whole, 0.0, covariance_type),
        gaussian_mle(merged, 0.0, covariance_type),
        strict=True,
    ):
        assert_close_to_scale(actual, expected, 1e-12)
    # The covariances themselves, computed here about the weighted means.
    if covariance_type == "full":
        means = plan.T @ X / plan.sum(axis=0)[:, np.newaxis]
        for k, covariance in enumerate(gaussian_mle(merged, 0.0, "full")[2]):
            centred = X - means[k]
            expected = (centred * plan[:, k : k + 1]).T @ centred / plan[:, k].sum()
            assert_close_to_scale(covariance, expected, 1e-10)


def test_an_empty_block_adds_nothing():
    X, plan = _plan(X_BLOBS, K_BLOBS)
    mass = np.ones(len(X))
    whole = sufficient_statistics(X, plan, mass, "full")
    empty = sufficient_statistics(X[:0], plan[:0], mass[:0], "full")
    for expected, actual in zip(
        gaussian_mle(whole, 1e-6, "full"),
        gaussian_mle(empty.merge(whole), 1e-6, "full"),
        strict=True,
    ):
        assert_close_to_scale(actual, expected, 1e-14)


@pytest.mark.parametrize("reg_m", [0.0, 1.0, np.inf])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fit_does_not_depend_on_the_block_size(monkeypatch, covariance_type, reg_m):
    params = dict(
        n_components=K_BLOBS,
        covariance_type=covariance_type,
        reg_m=reg_m,
        random_state=0,
        sinkhorn_tol=1e-12,
    )
    one_block = OTGaussianMixture(**params).fit(X_BLOBS)
    assert len(in_memory(X_BLOBS, row_width=20)._blocks) == 1
    # Blocks of 7 rows: a hundred blocks and more.
    monkeypatch.setattr(_backend, "_CPU_BLOCK_BYTES", 7 * 8 * 20)
    assert len(in_memory(X_BLOBS, row_width=20)._blocks) == 86
    many_blocks = OTGaussianMixture(**params).fit(X_BLOBS)
    for name in ("weights_", "means_", "covariances_"):
        assert_close_to_scale(
            getattr(many_blocks, name), getattr(one_block, name), 1e-10, name
        )
    assert many_blocks.n_iter_ == one_block.n_iter_
    assert many_blocks.lower_bound_ == pytest.approx(one_block.lower_bound_, rel=1e-12)
    np.testing.assert_array_equal(
        many_blocks.predict(X_BLOBS), one_block.predict(X_BLOBS)
    )


def test_zero_weights_leave_their_rows_out_but_not_the_predictions():
    weights = np.ones(len(X_BLOBS))
    weights[::3] = 0.0
    samples = in_memory(X_BLOBS, weights, row_width=20)
    assert samples.X.shape[0] == len(X_BLOBS) - len(X_BLOBS[::3])
    assert samples.total == weights.sum()
    # Every row gets an output, zero weights too.
    assert samples.rows(lambda x: x[:, 0]).shape == (len(X_BLOBS),)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_statistics_of_a_whole_plan_are_those_of_its_blocks(covariance_type):
    X, plan = _plan(X_BLOBS + 1e4, K_BLOBS)
    mass = np.ones(len(X))
    blocks = sufficient_statistics(X, plan, mass, covariance_type)
    whole = statistics_of_plan(X, plan, covariance_type)
    for expected, actual in zip(
        gaussian_mle(blocks, 1e-6, covariance_type),
        gaussian_mle(whole, 1e-6, covariance_type),
        strict=True,
    ):
        assert_close_to_scale(actual, expected, 1e-12)


@pytest.mark.parametrize("covariance_type", [*COVARIANCE_TYPES, "VEV", "EVI"])
def test_the_whole_e_step_is_the_blocks_e_step(monkeypatch, covariance_type):
    # Components far apart next to their spread (the blocks' costs then take
    # groups of them about different centres), sample weights, an offset.
    rng = np.random.default_rng(3)
    X = np.concatenate([X_BLOBS, 1e3 * X_BLOBS[:50]]) + 1e4
    weights = rng.uniform(0.5, 2.0, len(X))
    params = dict(
        n_components=K_BLOBS + 1,
        covariance_type=covariance_type,
        random_state=0,
        max_iter=30,
        tol=0.0,
    )
    taken = []
    whole_e_step = _step._whole_e_step
    monkeypatch.setattr(
        _step, "_whole_e_step", lambda *args: taken.append(1) or whole_e_step(*args)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        whole = OTGaussianMixture(**params).fit(X, sample_weight=weights)
        assert len(taken) == 30  # one per iteration
        monkeypatch.setattr(_step, "WHOLE_PLAN", 0)
        blocks = OTGaussianMixture(**params).fit(X, sample_weight=weights)
    assert whole.n_iter_ == blocks.n_iter_ == 30
    assert whole.lower_bound_ == pytest.approx(blocks.lower_bound_, rel=1e-12)
    for name in ("weights_", "means_", "covariances_"):
        assert_close_to_scale(getattr(whole, name), getattr(blocks, name), 1e-9, name)


def test_the_whole_e_step_is_taken_only_where_it_applies():
    problem = OTGaussianMixture(3)._problem(X_BLOBS)[0]
    mixture = OTGaussianMixture(3, max_iter=1).fit(X_BLOBS[:100])._mixture()
    assert _step._whole(in_memory(X_BLOBS[:100]), mixture, problem)
    larger = in_memory(np.tile(X_BLOBS, (3, 1)))  # a plan of 1800 x 3 > 4096
    assert larger.one_block and not _step._whole(larger, mixture, problem)
    float32 = in_memory(X_BLOBS[:100].astype(np.float32))
    assert not _step._whole(float32, mixture, problem)
    labels = np.zeros(100, dtype=int)
    assert not _step._whole(in_memory(X_BLOBS[:100], labels=labels), mixture, problem)
    penalised = problem._replace(transport=problem.transport._replace(reg_m=1.0))
    assert not _step._whole(in_memory(X_BLOBS[:100]), mixture, penalised)
    noisy = OTGaussianMixture(3, max_iter=1, noise=True).fit(X_BLOBS[:100])
    assert not _step._whole(in_memory(X_BLOBS[:100]), noisy._mixture(), problem)


def _with_holes(X, rate=0.1, seed=0):
    X = X.copy()
    holes = np.random.default_rng(seed).uniform(size=X.shape) < rate
    holes[:, 0] &= ~holes[:, 1:].all(axis=1)  # a row keeps an entry
    X[holes] = np.nan
    return X


@pytest.mark.parametrize("reg_m", [0.0, 1.0, np.inf])
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_blocks_on_threads_add_up_as_on_one_thread(monkeypatch, covariance_type, reg_m):
    """Rows with missing entries, on three threads (blocks of 7 rows), give
    the fit, its predictions and its scores of one thread, to the last digit
    (BLAS on one thread in both: its own threads may round otherwise)."""
    X = _with_holes(np.tile(X_BLOBS, (2, 1)))
    params = dict(
        n_components=K_BLOBS,
        covariance_type=covariance_type,
        reg_m=reg_m,
        random_state=0,
        max_iter=20,
    )
    monkeypatch.setattr(_backend, "_CPU_BLOCK_BYTES", 7 * 8 * 20)
    threaded = []
    monkeypatch.setattr(
        _memory,
        "on_threads",
        lambda *args: threaded.append(args[2]) or on_threads(*args),
    )
    fits = {}
    with threadpool_limits(1, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for threads in (1, 3):
            monkeypatch.setattr(_memory, "block_threads", lambda X, m, t=threads: t)
            model = OTGaussianMixture(**params).fit(X)
            fits[threads] = (
                model,
                model.predict_proba(X),
                model.score_samples(X),
                model.bic(X),
            )
            assert bool(threaded) == (threads == 3)
    one, three = fits[1], fits[3]
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(three[0], name), getattr(one[0], name))
    assert three[0].n_iter_ == one[0].n_iter_
    assert three[0].lower_bound_ == one[0].lower_bound_
    for a, b in zip(three[1:], one[1:]):
        np.testing.assert_array_equal(a, b)


def test_rows_with_missing_entries_come_in_larger_blocks(monkeypatch):
    monkeypatch.setattr(_backend, "_CPU_BLOCK_BYTES", 7 * 8 * 20)
    X = _with_holes(X_BLOBS)
    complete = in_memory(X_BLOBS, row_width=20)._blocks
    holes = in_memory(X, row_width=20, missing=True)._blocks
    assert [b.stop - b.start for b in complete[:-1]] == [7] * (len(complete) - 1)
    assert [b.stop - b.start for b in holes[:-1]] == [14] * (len(holes) - 1)
    assert holes[-1].stop == len(X)


def test_block_threads_are_blas_threads_for_missing_entries():
    """One thread for complete rows; for rows with missing entries, as many
    as BLAS may use (one under ``threadpool_limits(1)``), on the main
    thread."""
    X = _with_holes(X_BLOBS)
    blas = ThreadpoolController().select(user_api="blas").info()
    assert block_threads(X_BLOBS, False) == 1
    assert block_threads(X, True) == min(info["num_threads"] for info in blas)
    with threadpool_limits(1, user_api="blas"):
        assert block_threads(X, True) == 1
    with threadpool_limits(3, user_api="blas"):
        assert block_threads(X, True) == 3
        # Off the main thread (a search's fits on joblib's threads), one:
        # they would set and restore each other's BLAS limits.
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(block_threads, X, True).result() == 1


def test_threads_work_in_the_callers_settings():
    """Each call on a thread sees the caller's scikit-learn configuration and
    numpy error state, and BLAS on one thread; its errors reach the
    caller, and the results come in the arguments' order."""

    def settings(i):
        blas = ThreadpoolController().select(user_api="blas").info()
        return (
            i,
            sklearn.get_config()["assume_finite"],
            {b["num_threads"] for b in blas},
        )

    with sklearn.config_context(assume_finite=True):
        results = on_threads(settings, [(i,) for i in range(6)], 3)
    assert [r[0] for r in results] == list(range(6))
    assert all(r[1] for r in results)
    assert all(r[2] <= {1} for r in results)
    with np.errstate(divide="raise"):
        with pytest.raises(FloatingPointError):
            on_threads(lambda a: a / 0.0, [(np.ones(2),)] * 3, 2)
