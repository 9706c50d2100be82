"""Costs and statistics of rows with missing entries, against a row-by-row
implementation of the incomplete-data Gaussian (each row's observed
marginal and conditional distribution formed from the covariance itself)."""

import contextlib
import warnings

import numpy as np
import pytest
import sklearn
from conftest import DATASETS
from scipy.stats import multivariate_normal
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning

from sklearn_otmix import (
    OTGaussianMixture,
    OTGaussianMixtureClassifier,
    OTGaussianMixtureSearch,
    PriorShiftAdapter,
)
from sklearn_otmix import _missing, _step
from sklearn_otmix._backend import to_numpy

from sklearn_otmix._gaussian import (
    centred_on_means,
    own_mean_cost,
    precision_cholesky,
    statistics_of_plan,
)
from sklearn_otmix._missing import (
    UNROLLED_BATCH,
    _inverse_and_log_det,
    _inverse_by_entry,
    missing_cost,
    missing_cost_of,
    missing_statistics,
)
from sklearn_otmix._models import model_covariances

FORMS = ("full", "tied", "diag", "spherical")


def _covariances(form, n_components, n_features, rng):
    """Random covariances in the storage ``form``."""
    if form == "full":
        A = rng.standard_normal((n_components, n_features, n_features))
        return A @ A.transpose(0, 2, 1) / n_features + 0.3 * np.eye(n_features)
    if form == "tied":
        A = rng.standard_normal((n_features, n_features))
        return A @ A.T / n_features + 0.3 * np.eye(n_features)
    if form == "diag":
        return rng.uniform(0.2, 3.0, (n_components, n_features))
    return rng.uniform(0.2, 3.0, n_components)


def _as_full(covariances, form, n_components, n_features):
    if form == "full":
        return covariances
    if form == "tied":
        return np.broadcast_to(covariances, (n_components, n_features, n_features))
    if form == "diag":
        return np.stack([np.diag(c) for c in covariances])
    return covariances[:, None, None] * np.eye(n_features)


def _data(n_samples, n_features, rng, rate=0.3):
    """Rows with entries missing at random, each row one observed entry at
    least, complete rows and rows with all but one missing among them."""
    X = rng.standard_normal((n_samples, n_features)) * 2 + 1
    missing = rng.uniform(size=X.shape) < rate
    missing[0] = False
    missing[1] = True
    keep = rng.integers(n_features, size=n_samples)
    missing[np.arange(n_samples), keep] = False
    X[missing] = np.nan
    return X


def _reference(X, means, full):
    """Per row and component: the observed log-density, the completed row and
    the conditional covariance embedded in a d x d zero matrix."""
    n, d = X.shape
    K = means.shape[0]
    log_density = np.empty((n, K))
    completed = np.empty((K, n, d))
    conditional = np.zeros((K, n, d, d))
    for i in range(n):
        o = ~np.isnan(X[i])
        m = ~o
        for k in range(K):
            S, mu = full[k], means[k]
            S_oo = S[np.ix_(o, o)]
            log_density[i, k] = multivariate_normal(mu[o], S_oo).logpdf(X[i, o])
            row = X[i].copy()
            if m.any():
                S_mo = S[np.ix_(m, o)]
                gain = np.linalg.solve(S_oo, S_mo.T).T
                row[m] = mu[m] + gain @ (X[i, o] - mu[o])
                conditional[k, i][np.ix_(m, m)] = S[np.ix_(m, m)] - gain @ S_mo.T
            completed[k, i] = row
    return log_density, completed, conditional


@pytest.mark.parametrize("form", FORMS)
def test_missing_cost_and_statistics_equal_the_row_by_row_ones(form):
    rng = np.random.default_rng(0)
    n, d, K = 60, 5, 3
    X = _data(n, d, rng)
    means = rng.standard_normal((K, d))
    covariances = _covariances(form, K, d, rng)
    precisions_chol = precision_cholesky(covariances, form)
    full = _as_full(covariances, form, K, d)
    log_density, completed, conditional = _reference(X, means, full)

    cost = missing_cost(X, means, precisions_chol, form)
    np.testing.assert_allclose(cost, -log_density, rtol=1e-10, atol=1e-12)

    plan = rng.dirichlet(np.ones(K), size=n) * rng.uniform(0.5, 2, (n, 1))
    statistics = missing_statistics(X, plan, means, precisions_chol, form)
    centred = completed - means[:, None, :]
    np.testing.assert_allclose(statistics.mass, plan.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(
        statistics.first, np.einsum("nk,knd->kd", plan, centred), rtol=1e-10
    )
    scatter = np.einsum("nk,kni,knj->kij", plan, centred, centred) + np.einsum(
        "nk,knij->kij", plan, conditional
    )
    if form == "tied":
        expected = scatter.sum(axis=0)
    elif form in ("diag", "spherical"):
        expected = np.einsum("kii->ki", scatter)
    else:
        expected = scatter
    np.testing.assert_allclose(statistics.second, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(statistics.centres, means)


def _moved(statistics, centres):
    """``statistics`` about other ``centres`` (the parallel-axis theorem)."""
    offset = statistics.centres - centres
    first = statistics.first + statistics.mass[:, None] * offset
    cross = np.einsum("ki,kj->kij", offset, statistics.first)
    second = (
        np.einsum("k,ki,kj->kij", statistics.mass, offset, offset)
        + cross
        + cross.transpose(0, 2, 1)
    )
    if statistics.form == "tied":
        second = second.sum(axis=0)
    return first, statistics.second + second


def _assert_filled_rows_exact(X, means, covariances, form, plan):
    """The E-step's costs and statistics of the rows ``X`` under a full or
    tied mixture (:func:`missing_cost_of`) against the row-by-row ones;
    returns the block's moments."""
    K, d = means.shape
    precisions_chol = precision_cholesky(covariances, form)
    log_density, completed, conditional = _reference(
        X, means, _as_full(covariances, form, K, d)
    )
    cost_object = missing_cost_of(means, precisions_chol, form, np.full(K, 1 / K))
    moments = cost_object.moments(X)
    np.testing.assert_allclose(
        cost_object.cost(moments), -log_density, rtol=1e-10, atol=1e-10
    )
    statistics = cost_object.statistics(
        cost_object.moment_sums(moments, plan, plan.sum(axis=1))
    )
    first, second = _moved(statistics, means)
    centred = completed - means[:, None, :]
    np.testing.assert_allclose(statistics.mass, plan.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(
        first, np.einsum("nk,knd->kd", plan, centred), rtol=1e-9, atol=1e-9
    )
    scatter = np.einsum("nk,kni,knj->kij", plan, centred, centred) + np.einsum(
        "nk,knij->kij", plan, conditional
    )
    expected = scatter.sum(axis=0) if form == "tied" else scatter
    np.testing.assert_allclose(second, expected, rtol=1e-9, atol=1e-9)
    return moments


@pytest.mark.parametrize("apart", [0.0, 1e3])
@pytest.mark.parametrize("offset", [0.0, 1e4])
@pytest.mark.parametrize("form, d", [("full", 6), ("tied", 6), ("full", 20)])
def test_filled_rows_give_the_row_by_row_cost_and_statistics(form, d, offset, apart):
    """The E-step's costs and statistics of full and tied mixtures: the
    complete-data ones of the rows filled at a centre, corrected in each
    missing block; equal to the row-by-row ones however far the data lie
    from the origin, with components far apart (each group of them about
    its own centre), and with the whitened costs of many features."""
    rng = np.random.default_rng(3)
    n, K = 80, 3
    X = _data(n, d, rng, rate=0.4) + offset
    means = rng.standard_normal((K, d)) + offset
    X[n // 2 :] += apart
    means[-1] += apart
    covariances = _covariances(form, K, d, rng)
    plan = rng.dirichlet(np.ones(K), size=n) * rng.uniform(0.5, 2, (n, 1))
    _assert_filled_rows_exact(X, means, covariances, form, plan)


@pytest.mark.parametrize("form", ["full", "tied"])
def test_few_patterns_are_multiplied_pattern_by_pattern(form):
    """Whole columns missing in blocks of rows (a few patterns, each with
    many rows, some of the same number of missing entries): the filled
    rows' costs and statistics equal the row-by-row ones."""
    rng = np.random.default_rng(5)
    n, d, K = 90, 6, 2
    X = rng.standard_normal((n, d)) + 3
    X[:30, [0, 2]] = np.nan
    X[30:60, [1, 4]] = np.nan
    X[60:75, [5]] = np.nan
    X[75:, :3] = np.nan
    means = rng.standard_normal((K, d)) + 3
    covariances = _covariances(form, K, d, rng)
    plan = rng.dirichlet(np.ones(K), size=n)
    moments = _assert_filled_rows_exact(X, means, covariances, form, plan)
    assert all(group.runs is not None for group in moments.layout.groups)


def _concentrated_plan(n, K, rng, share=0.05):
    """A plan whose rows each weigh on one component, on a second one for a
    ``share`` of them (from 1e-8 to 1), and are below ``eps`` times each
    component's mean entry elsewhere (from 1e-300 to 1e-17)."""
    plan = 10.0 ** rng.uniform(-300, -17, (n, K))
    rows = np.arange(n)
    plan[rows, rng.integers(K, size=n)] = rng.uniform(0.5, 2, n)
    second = rng.uniform(size=n) < share
    plan[rows[second], rng.integers(K, size=second.sum())] = 10.0 ** rng.uniform(
        -8, 0, second.sum()
    )
    return plan


@pytest.mark.parametrize("apart", [0.0, 1e3])
@pytest.mark.parametrize("form", ["full", "tied"])
def test_pairs_below_round_off_are_left_out_exactly(monkeypatch, form, apart):
    """A plan concentrated on few components per row: the missing entries'
    terms are summed over the pairs that weigh (the others' weights add up
    to less than one rounding of each component's mass), and the statistics
    still equal the row-by-row ones over all pairs, and those of the sum
    over all pairs, entry by entry; rows of a few patterns, of patterns
    shared and of their own, with components together and far apart."""
    rng = np.random.default_rng(7)
    n, d, K = 400, 8, 8
    X = _data(n, d, rng, rate=0.35) + 2
    X[:40, :3] = np.nan
    X[n // 2 :] += apart
    means = rng.standard_normal((K, d)) + 2
    means[K // 2 :] += apart
    covariances = _covariances(form, K, d, rng)
    plan = _concentrated_plan(n, K, rng)
    kept = []
    pruned = _missing._kept_pairs_correction

    def spy(filled, plan):
        correction = pruned(filled, plan)
        kept.append(correction is not None)
        return correction

    monkeypatch.setattr(_missing, "_kept_pairs_correction", spy)
    moments = _assert_filled_rows_exact(X, means, covariances, form, plan)
    assert kept and all(kept)
    layout = moments.layout if apart == 0 else moments[0].layout
    kinds = {(g.runs is not None, g.pattern is not None) for g in layout.groups}
    assert kinds == {(True, True), (False, True), (False, False)}

    # The same statistics as the sum over all pairs (entry by entry).
    precisions_chol = precision_cholesky(covariances, form)
    cost_object = missing_cost_of(means, precisions_chol, form, np.full(K, 1 / K))
    moments = cost_object.moments(X)
    kept.clear()
    pruned_statistics = cost_object.statistics(
        cost_object.moment_sums(moments, plan, plan.sum(axis=1))
    )
    monkeypatch.setattr(_missing, "KEPT_SHARE", 0.0)
    every_statistics = cost_object.statistics(
        cost_object.moment_sums(moments, plan, plan.sum(axis=1))
    )
    # Pair by pair, then entry by entry (each group of components once).
    calls = len(kept) // 2
    assert calls and kept == [True] * calls + [False] * calls
    for field in ("mass", "first", "second"):
        np.testing.assert_allclose(
            getattr(pruned_statistics, field),
            getattr(every_statistics, field),
            rtol=1e-12,
            atol=1e-12 * np.abs(getattr(every_statistics, field)).max(),
        )


@pytest.mark.parametrize("d, m", [(20, 3), (6, 6), (100, 9), (100, 12)])
def test_patterns_are_numpys_unique_rows(d, m):
    """The distinct patterns of a group and each row's, through one integer
    per row (or numpy's unique rows where that would overflow, d=100 and
    m=12): those of ``np.unique(axis=0)``, in its order."""
    rng = np.random.default_rng(d + m)
    columns = np.sort([rng.choice(d, m, replace=False) for _ in range(300)], axis=1)
    columns = np.concatenate([columns, columns[::3]])
    patterns, pattern = _missing._patterns(columns, d)
    expected, inverse = np.unique(columns, axis=0, return_inverse=True)
    np.testing.assert_array_equal(patterns, expected)
    np.testing.assert_array_equal(pattern, inverse.ravel())


@pytest.mark.parametrize("m", range(1, 8))
@pytest.mark.parametrize("batch", [3, UNROLLED_BATCH])
def test_inverses_of_each_size_equal_lapack(m, batch):
    """The missing blocks' inverses and log-determinants: closed forms, an
    unrolled Cholesky factorisation and LAPACK, whichever the size and the
    batch choose, against numpy's."""
    rng = np.random.default_rng(m)
    A = rng.standard_normal((batch, m, m))
    matrices = A @ A.transpose(0, 2, 1) + 0.1 * np.eye(m)
    inverse, log_det = _inverse_and_log_det(matrices)
    np.testing.assert_allclose(inverse, np.linalg.inv(matrices), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(log_det, np.linalg.slogdet(matrices)[1], rtol=1e-12)
    # Laid out entry by entry, in two sets: (2, m, m, batch).
    sets = np.stack([matrices, matrices[::-1]])
    inverse, log_det = _inverse_by_entry(
        np.ascontiguousarray(sets.transpose(0, 2, 3, 1))
    )
    np.testing.assert_allclose(
        inverse.transpose(0, 3, 1, 2), np.linalg.inv(sets), rtol=1e-9, atol=1e-12
    )
    np.testing.assert_allclose(log_det, np.linalg.slogdet(sets)[1], rtol=1e-12)


@pytest.mark.parametrize("form", FORMS)
def test_complete_rows_have_the_complete_data_cost_and_statistics(form):
    rng = np.random.default_rng(1)
    n, d, K = 40, 4, 3
    X = rng.standard_normal((n, d))
    means = rng.standard_normal((K, d))
    precisions_chol = precision_cholesky(_covariances(form, K, d, rng), form)
    expected = own_mean_cost(centred_on_means(X, means), precisions_chol, form)
    np.testing.assert_allclose(
        missing_cost(X, means, precisions_chol, form), expected, rtol=1e-12
    )
    plan = rng.dirichlet(np.ones(K), size=n)
    statistics = missing_statistics(X, plan, means, precisions_chol, form)
    reference = statistics_of_plan(X, plan, form)
    # Both about their own centres: compare the scatter about the new means.
    for stats in (statistics, reference):
        offsets = stats.first / stats.mass[:, None]
        stats_means = stats.centres + offsets
        np.testing.assert_allclose(
            stats_means, reference.centres + reference.first / reference.mass[:, None]
        )
    offsets = statistics.first / statistics.mass[:, None]
    if form in ("diag", "spherical"):
        about_mean = statistics.second - statistics.mass[:, None] * offsets**2
    else:
        shift = np.einsum("k,ki,kj->kij", statistics.mass, offsets, offsets)
        about_mean = statistics.second - (
            shift.sum(axis=0) if form == "tied" else shift
        )
    np.testing.assert_allclose(about_mean, reference.second, rtol=1e-10, atol=1e-12)


def test_rows_of_one_pattern_and_rows_of_many_agree():
    """Rows grouped by their number of missing entries: the same costs as
    each row alone."""
    rng = np.random.default_rng(2)
    n, d, K = 30, 6, 2
    X = _data(n, d, rng, rate=0.5)
    means = rng.standard_normal((K, d))
    precisions_chol = precision_cholesky(_covariances("full", K, d, rng), "full")
    together = missing_cost(X, means, precisions_chol, "full")
    alone = np.vstack(
        [missing_cost(X[i : i + 1], means, precisions_chol, "full") for i in range(n)]
    )
    np.testing.assert_allclose(together, alone, rtol=1e-12)


def _reference_em(X, weights, means, full, n_iter, reg_covar, form):
    """Incomplete-data EM, row by row: each E-step from the observed
    marginals, each M-step from the rows completed under each component."""
    n, d = X.shape
    for _ in range(n_iter):
        log_density, completed, conditional = _reference(X, means, full)
        log_joint = np.log(weights) + log_density
        top = log_joint.max(axis=1, keepdims=True)
        resp = np.exp(log_joint - top)
        resp /= resp.sum(axis=1, keepdims=True)
        mass = resp.sum(axis=0) + 10 * np.finfo(float).eps
        weights = mass / n
        means = np.einsum("nk,knd->kd", resp, completed) / mass[:, None]
        centred = completed - means[:, None, :]
        scatter = np.einsum("nk,kni,knj->kij", resp, centred, centred) + np.einsum(
            "nk,knij->kij", resp, conditional
        )
        if form == "full":
            full = scatter / mass[:, None, None]
        elif form == "tied":
            full = np.broadcast_to(scatter.sum(axis=0) / mass.sum(), scatter.shape)
        elif form == "diag":
            full = (
                np.stack([np.diag(np.diag(s)) for s in scatter]) / mass[:, None, None]
            )
        else:
            variances = np.einsum("kii->k", scatter) / (mass * d)
            full = variances[:, None, None] * np.eye(d)
        full = full + reg_covar * np.eye(d)
    return weights, means, full


@pytest.mark.parametrize("n_components", [1, 3])
@pytest.mark.parametrize("form", FORMS)
def test_fit_equals_row_by_row_incomplete_data_em(form, n_components):
    rng = np.random.default_rng(3)
    n, d, K = 80, 4, n_components
    X = _data(n, d, rng, rate=0.2)
    weights = np.full(K, 1.0 / K)
    means = rng.standard_normal((K, d))
    covariances = _covariances(form, K, d, rng) + (
        0.5 if form in ("diag", "spherical") else 0.5 * np.eye(d)
    )
    precisions = (
        np.linalg.inv(covariances) if form in ("full", "tied") else 1 / covariances
    )
    n_iter = 6
    model = OTGaussianMixture(
        K,
        covariance_type=form,
        weights_init=weights,
        means_init=means,
        precisions_init=precisions,
        max_iter=n_iter,
        tol=0.0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X)
    full = _as_full(covariances, form, K, d)
    expected = _reference_em(X, weights, means, full, n_iter, model.reg_covar, form)
    np.testing.assert_allclose(model.weights_, expected[0], rtol=1e-8)
    np.testing.assert_allclose(model.means_, expected[1], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(
        _as_full(model.covariances_, form, K, d), expected[2], rtol=1e-8, atol=1e-10
    )
    # The observed-data log-likelihood never decreases.
    assert np.all(np.diff(model.lower_bounds_) >= -1e-12 * np.abs(model.lower_bound_))


def _iris_with_holes(rate=0.15, seed=0, name="iris"):
    X = DATASETS[name][0].copy()
    rng = np.random.default_rng(seed)
    holes = rng.uniform(size=X.shape) < rate
    holes[np.arange(len(X)), rng.integers(X.shape[1], size=len(X))] = False
    X[holes] = np.nan
    return X


@pytest.mark.parametrize("model", ["VEI", "EVI", "VEE", "EVE", "VVE", "EEV", "VEV"])
def test_mclust_models_take_the_completed_scatter(model):
    """One iteration from a given start: the M-step of an mclust model is its
    M-step (model_covariances) of the row-by-row completed scatter."""
    X = _iris_with_holes()
    rng = np.random.default_rng(4)
    K, d = 3, X.shape[1]
    weights = np.full(K, 1 / K)
    means = np.nanmean(X, axis=0) + rng.standard_normal((K, d))
    full = _covariances("full", K, d, rng) + np.eye(d)
    model_fit = OTGaussianMixture(
        K,
        covariance_type=model,
        weights_init=weights,
        means_init=means,
        precisions_init=np.linalg.inv(full),
        max_iter=1,
        tol=0.0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model_fit.fit(X)
    log_density, completed, conditional = _reference(X, means, full)
    log_joint = np.log(weights) + log_density
    resp = np.exp(log_joint - log_joint.max(axis=1, keepdims=True))
    resp /= resp.sum(axis=1, keepdims=True)
    mass = resp.sum(axis=0) + 10 * np.finfo(float).eps
    new_means = np.einsum("nk,knd->kd", resp, completed) / mass[:, None]
    centred = completed - new_means[:, None, :]
    scatter = np.einsum("nk,kni,knj->kij", resp, centred, centred) + np.einsum(
        "nk,knij->kij", resp, conditional
    )
    # The iterative models start from the previous covariances, as mclust's
    # EM does.
    ridge = model_fit.reg_covar * np.eye(d)
    expected = model_covariances(mass, scatter, model, start=full - ridge) + ridge
    np.testing.assert_allclose(model_fit.means_, new_means, rtol=1e-9)
    np.testing.assert_allclose(model_fit.covariances_, expected, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("form", FORMS)
def test_two_pass_statistics_equal_the_one_pass_ones(monkeypatch, form):
    """Where the E-step's digit check asks for the statistics once more about
    each component's own mean (the two-pass scheme), rows with missing
    entries are completed as in the one pass: the same fit."""
    rng = np.random.default_rng(4)
    X = _data(300, 4, rng, rate=0.2)
    settings = dict(n_components=3, covariance_type=form, random_state=0, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one_pass = OTGaussianMixture(**settings).fit(X)
        monkeypatch.setattr(_step, "digit_checked_mle", lambda *args: None)
        two_pass = OTGaussianMixture(**settings).fit(X)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(
            getattr(two_pass, name), getattr(one_pass, name), rtol=1e-9, atol=1e-12
        )


def test_sample_weights_are_repeated_rows():
    X = _iris_with_holes()
    counts = np.random.default_rng(5).integers(1, 4, size=len(X))
    common = dict(n_components=3, covariance_type="full", random_state=0, tol=1e-10)
    start = OTGaussianMixture(**common).fit(X)
    init = dict(
        weights_init=start.weights_,
        means_init=start.means_,
        precisions_init=start.precisions_,
    )
    weighted = OTGaussianMixture(**common, **init).fit(X, sample_weight=counts)
    repeated = OTGaussianMixture(**common, **init).fit(np.repeat(X, counts, axis=0))
    np.testing.assert_allclose(weighted.means_, repeated.means_, rtol=1e-8)
    np.testing.assert_allclose(weighted.covariances_, repeated.covariances_, rtol=1e-8)
    assert weighted.n_iter_ == repeated.n_iter_


@pytest.mark.parametrize(
    "regime",
    [
        dict(reg_m=np.inf, target_weights=[0.2, 0.3, 0.5]),
        dict(reg_m=5.0),
        dict(reg=0.5),
        dict(weight_bounds=(0.25, 0.5)),
    ],
    ids=["fixed", "penalised", "temperature", "bounds"],
)
def test_every_regime_fits_incomplete_data(regime):
    X = _iris_with_holes()
    model = OTGaussianMixture(3, random_state=0, **regime).fit(X)
    assert model.converged_
    assert np.all(np.diff(model.lower_bounds_) >= -1e-9 * abs(model.lower_bound_))
    if "target_weights" in regime:
        np.testing.assert_allclose(np.sort(model.weights_), [0.2, 0.3, 0.5], atol=1e-6)
    if "weight_bounds" in regime:
        assert np.all(model.weights_ >= 0.25 - 1e-6)
        assert np.all(model.weights_ <= 0.5 + 1e-6)


@pytest.mark.parametrize(
    "init_params", ["kmeans", "k-means++", "random", "random_from_data", "hierarchical"]
)
def test_each_initialisation_starts_from_mean_imputed_rows(init_params):
    X = _iris_with_holes()
    imputed = np.where(np.isnan(X), np.nanmean(X, axis=0), X)
    missing = OTGaussianMixture(3, init_params=init_params, random_state=0, max_iter=0)
    complete = OTGaussianMixture(3, init_params=init_params, random_state=0, max_iter=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        missing.fit(X)
        complete.fit(imputed)
    np.testing.assert_allclose(missing.means_, complete.means_, rtol=1e-12)
    fitted = OTGaussianMixture(3, init_params=init_params, random_state=0).fit(X)
    assert np.isfinite(fitted.lower_bound_)


def test_predictions_of_rows_with_holes():
    X = _iris_with_holes()
    model = OTGaussianMixture(3, random_state=0).fit(X)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.predict(X), proba.argmax(axis=1))
    np.testing.assert_allclose(model.score(X), model.score_samples(X).mean())
    # The observed-data likelihood in the criteria.
    n_parameters = model._n_parameters()
    log_likelihood = model.score_samples(X).sum()
    np.testing.assert_allclose(
        model.bic(X), -2 * log_likelihood + n_parameters * np.log(len(X))
    )
    np.testing.assert_allclose(model.aic(X), -2 * log_likelihood + 2 * n_parameters)
    # A row's density is that of its observed entries (a marginal).
    row = X[:1].copy()
    row[0, 2:] = np.nan
    full = _as_full(model.covariances_, "full", 3, 4)
    expected = np.log(
        sum(
            w * multivariate_normal(m[:2], c[:2, :2]).pdf(row[0, :2])
            for w, m, c in zip(model.weights_, model.means_, full)
        )
    )
    np.testing.assert_allclose(model.score_samples(row), [expected])


def test_partial_fit_takes_incomplete_chunks():
    X = _iris_with_holes()
    rng = np.random.default_rng(6)
    model = OTGaussianMixture(3, random_state=0)
    for chunk in np.array_split(X[rng.permutation(len(X))], 3):
        model.partial_fit(chunk)
    assert np.all(np.isfinite(model.means_))
    assert np.isfinite(model.score(X))


def test_classifier_search_and_adapter_take_incomplete_data():
    X = _iris_with_holes()
    y = load_iris().target
    classifier = OTGaussianMixtureClassifier().fit(X, y)
    assert classifier.score(X, y) > 0.9
    semi = y.copy()
    semi[np.random.default_rng(7).uniform(size=len(y)) < 0.7] = -1
    assert OTGaussianMixtureClassifier().fit(X, semi).score(X, y) > 0.85
    search = OTGaussianMixtureSearch(
        n_components=[1, 2, 3], covariance_types=["VVV", "EEE", "VEV"]
    ).fit(X)
    assert search.best_estimator_.bic(X) == pytest.approx(search.best_criterion_)
    adapter = PriorShiftAdapter(classifier).fit(X[:50])
    assert adapter.proportions_[0] > 0.9


def test_incomplete_rows_and_columns_are_errors():
    X = _iris_with_holes()
    X[7] = np.nan
    X[9] = np.nan
    with pytest.raises(ValueError, match="2 row.*no observed entry.*index 7"):
        OTGaussianMixture(2).fit(X)
    X = _iris_with_holes()
    X[:, 2] = np.nan
    with pytest.raises(ValueError, match="1 column.*no observed entry.*index 2"):
        OTGaussianMixture(2).fit(X)
    X = _iris_with_holes()
    with pytest.raises(ValueError, match="noise=True it does not"):
        OTGaussianMixture(2, noise=True).fit(X)
    with pytest.raises(ValueError, match="prior='mclust' it does not"):
        OTGaussianMixture(2, prior="mclust").fit(X)
    assert not OTGaussianMixture(noise=True).__sklearn_tags__().input_tags.allow_nan
    assert OTGaussianMixture().__sklearn_tags__().input_tags.allow_nan


def _layers():
    layers = []
    for name in ("torch", "array_api_strict"):
        try:
            module = __import__(name)
        except ImportError:
            continue
        layers.append(pytest.param(module.asarray, True, id=name))
    try:
        import dask.array as da

        layers.append(
            pytest.param(lambda a: da.from_array(a, chunks=40), False, id="dask")
        )
    except ImportError:
        pass
    return layers


@pytest.mark.parametrize("name", ["iris", "wine"])
@pytest.mark.parametrize("form", ["full", "diag", "VEV"])
@pytest.mark.parametrize("move, dispatch", _layers())
def test_every_layer_fits_as_numpy(move, dispatch, form, name):
    """Iris's rows with holes come in a few patterns for each number of
    missing entries, standardised wine's in many."""
    X = _iris_with_holes(name=name)
    expected = OTGaussianMixture(3, covariance_type=form, random_state=0).fit(X)
    context = (
        sklearn.config_context(array_api_dispatch=True)
        if dispatch
        else contextlib.nullcontext()
    )
    try:
        with context:
            model = OTGaussianMixture(3, covariance_type=form, random_state=0)
            model.fit(move(X))
            log_density = model.score_samples(move(X))
    except RuntimeError as error:  # array_api_dispatch without SCIPY_ARRAY_API
        pytest.skip(str(error))
    if hasattr(log_density, "compute"):
        log_density = log_density.compute()
    assert model.n_iter_ == expected.n_iter_
    np.testing.assert_allclose(
        to_numpy(model.means_), expected.means_, rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(
        to_numpy(log_density), expected.score_samples(X), rtol=1e-10
    )
