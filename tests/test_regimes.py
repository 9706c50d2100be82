"""Fixed, penalised and tempered weights, against an independent reference."""

import warnings

import numpy as np
import pytest
from conftest import DATASETS, assert_close_to_scale
from numpy.testing import assert_allclose, assert_array_equal
from scipy import optimize
from scipy.special import logsumexp, xlogy
from scipy.stats import multivariate_normal
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

from sklearn_otmix import (
    OTGaussianMixture,
    OTGaussianMixtureClassifier,
    PriorShiftAdapter,
)
from helpers import gaussian_cost
from helpers import transport_plan

# --------------------------------------------------------------------------------
# An independent reference: log-domain Sinkhorn with scipy's logsumexp, and a
# full-covariance M-step, written from the equations of SPEC section 1.


def _reference_plan(cost, a, pi, t, reg, reg_m, n_iter=20_000, tol=1e-13):
    """argmin <C,P> + reg KL(P|a x pi) + reg_m KL(P^T 1|t) subject to P 1 = a.

    Log-domain Sinkhorn; for 0 < reg_m < inf, whose iterations contract only
    by reg_m / (reg_m + reg), polished by scipy's root finder (MINPACK) on the
    dual gradient ``t exp(-g/reg_m) - P^T 1`` in the column potentials."""
    log_kernel = np.log(a)[:, None] + np.log(pi)[None, :] - cost / reg
    exponent = 1.0 if reg_m == np.inf else reg_m / (reg_m + reg)
    polish = 0 < reg_m < np.inf
    g = np.zeros(len(pi))  # column potentials divided by reg
    for _ in range(100 if polish else n_iter):
        f = np.log(a) - logsumexp(log_kernel + g, axis=1)  # rows: P 1 = a
        column = logsumexp(log_kernel + f[:, None], axis=0)
        g_new = exponent * (np.log(t) - column)
        if np.max(np.abs(g_new - g)) < tol:
            g = g_new
            break
        g = g_new

    def plan(g):
        f = np.log(a) - logsumexp(log_kernel + g, axis=1)
        return np.exp(log_kernel + f[:, None] + g[None, :])

    if polish:

        def gradient(g):
            return t * np.exp(-reg * g / reg_m) - plan(g).sum(axis=0)

        def jacobian(g):
            P = plan(g)
            curvature = np.diag(P.sum(axis=0)) - P.T @ (P / a[:, None])
            return -np.diag(t * np.exp(-reg * g / reg_m)) * reg / reg_m - curvature

        g = optimize.root(gradient, g, jac=jacobian, tol=1e-15).x
    return plan(g)


def _reference_value(cost, plan, a, pi, t, reg, reg_m):
    """F(P) = <C, P> + reg KL(P | a x pi) + reg_m KL(P^T 1 | t) (SPEC, section 1;
    the last term only for 0 < reg_m < inf)."""
    value = np.sum(plan * cost) + reg * np.sum(
        xlogy(plan, plan) - plan * np.log(a[:, None] * pi[None, :])
    )
    if 0 < reg_m < np.inf:
        column = plan.sum(axis=0)
        value += reg_m * np.sum(xlogy(column, column / t))
    return value


def _reference_fit(X, weights, means, covariances, reg, reg_m, t, n_iter, reg_covar):
    """Block-coordinate descent from the given parameters: the fitted weights,
    means and covariances, and -F after each E-step."""
    a = np.full(len(X), 1.0 / len(X))
    lower_bounds = []
    for _ in range(n_iter):
        cost = -np.column_stack(
            [multivariate_normal(m, c).logpdf(X) for m, c in zip(means, covariances)]
        )
        plan = _reference_plan(cost, a, weights, t, reg, reg_m)
        lower_bounds.append(-_reference_value(cost, plan, a, weights, t, reg, reg_m))
        mass = plan.sum(axis=0)
        weights = t if reg_m == np.inf else mass / mass.sum()
        means = plan.T @ X / mass[:, None]
        covariances = np.stack(
            [
                (plan[:, k, None] * (X - means[k])).T @ (X - means[k]) / mass[k]
                + reg_covar * np.eye(X.shape[1])
                for k in range(len(mass))
            ]
        )
    return weights, means, covariances, lower_bounds


@pytest.mark.parametrize(
    "reg, reg_m", [(1.0, np.inf), (1.0, 0.5), (1.0, 5.0), (0.5, 0.0), (0.5, np.inf)]
)
@pytest.mark.parametrize("dataset", ["iris", "blobs"])
def test_agrees_with_an_independent_log_domain_sinkhorn(dataset, reg, reg_m):
    X, n_components = DATASETS[dataset]
    X = X[:, :3]
    t = np.linspace(1.0, 2.0, n_components)
    t /= t.sum()
    weights = np.full(n_components, 1.0 / n_components)
    means = X[np.linspace(0, len(X) - 1, n_components).astype(int)]
    covariances = np.stack([np.cov(X.T)] * n_components)
    n_iter = 8
    expected = _reference_fit(
        X,
        t if reg_m == np.inf else weights,
        means,
        covariances,
        reg,
        reg_m,
        t,
        n_iter,
        1e-6,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0: exactly n_iter
        model = OTGaussianMixture(
            n_components,
            reg=reg,
            reg_m=reg_m,
            target_weights=t,
            weights_init=None if reg_m == np.inf else weights,
            means_init=means,
            precisions_init=np.linalg.inv(covariances),
            max_iter=n_iter,
            tol=0.0,
            sinkhorn_tol=1e-12,
            sinkhorn_max_iter=10_000,
        ).fit(X)
    for actual, desired, name in zip(
        (model.weights_, model.means_, model.covariances_),
        expected[:3],
        ("weights", "means", "covariances"),
    ):
        assert_close_to_scale(actual, desired, 1e-7, name)
    assert_allclose(model.lower_bounds_, expected[3], rtol=1e-9)


# --------------------------------------------------------------------------------
# Penalised weights: the descent of the exact E-steps


def _unequal_blobs(n_features, sizes, seed):
    rng = np.random.default_rng(seed)
    centres = 4.0 * np.arange(len(sizes))[:, None] * np.ones(n_features)
    return np.vstack(
        [rng.normal(c, 1.0, size=(m, n_features)) for c, m in zip(centres, sizes)]
    )


def _kmeans_start(X, n_components):
    """Weights, means and covariances of a k-means partition (as init_params=
    'kmeans' starts), computed here."""
    labels = KMeans(n_components, n_init=1, random_state=0).fit(X).labels_
    members = [X[labels == k] for k in range(n_components)]
    weights = np.array([len(m) for m in members]) / len(X)
    means = np.stack([m.mean(axis=0) for m in members])
    covariances = np.stack(
        [
            np.atleast_2d(np.cov(m.T, bias=True)) + 1e-6 * np.eye(X.shape[1])
            for m in members
        ]
    )
    return weights, means, covariances


def _penalised_fits(X, start, reg_m, n_iter, **params):
    """Our fit and the reference descent, ``n_iter`` iterations from ``start``."""
    weights, means, covariances = start
    t = np.full(len(weights), 1.0 / len(weights))
    expected = _reference_fit(
        X, weights, means, covariances, 1.0, reg_m, t, n_iter, 1e-6
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0: n_iter
        warnings.filterwarnings("error", message=".*sinkhorn_tol.*")
        model = OTGaussianMixture(
            len(weights),
            reg_m=reg_m,
            weights_init=weights,
            means_init=means,
            precisions_init=np.linalg.inv(covariances),
            max_iter=n_iter,
            tol=0.0,
            **params,
        ).fit(X)
    return model, expected


def test_penalised_reproduction_climbs_with_the_exact_descent():
    """The reproduction of the penalised E-step that stopped short (three blobs
    of 60, 30 and 10 points, reg_m=100, from the k-means start): POT's
    stabilised Sinkhorn stopped on its absorbed scalings and -F cycled near
    -23.56. Certified, the fit climbs with the exact descent (log-domain
    Sinkhorn polished by scipy, no POT) at every iteration."""
    rng = np.random.default_rng(4)
    X = np.vstack(
        [rng.normal(c, 1.0, size=(m, 2)) for c, m in zip([0, 4, 8], [60, 30, 10])]
    )
    model, expected = _penalised_fits(X, _kmeans_start(X, 3), 100.0, 9)
    assert np.all(np.diff(model.lower_bounds_) >= 0)
    assert_allclose(model.lower_bounds_, expected[3], rtol=1e-9)
    assert max(model.transport_residuals_) <= model.sinkhorn_tol


@pytest.mark.parametrize("reg_m", [100.0, 1000.0])
@pytest.mark.parametrize("n_features", [2, 3])
def test_penalised_fit_is_the_exact_descent(n_features, reg_m):
    """Blobs of unequal sizes, 15 iterations from an explicit start: the same
    parameters and -F as the exact block-coordinate descent, in memory (POT,
    then Newton where it misses) and on the dual path alone (array_api_strict
    and Dask take it; here numpy through the same function)."""
    X = _unequal_blobs(n_features, [150, 60, 20], seed=n_features)
    rng = np.random.default_rng(0)
    start = (
        np.full(3, 1.0 / 3),
        X[rng.choice(len(X), 3, replace=False)],
        np.stack([np.eye(n_features)] * 3),
    )
    model, expected = _penalised_fits(X, start, reg_m, 15)
    for actual, desired, name in zip(
        (model.weights_, model.means_, model.covariances_),
        expected[:3],
        ("weights", "means", "covariances"),
    ):
        assert_close_to_scale(actual, desired, 1e-7, name)
    assert_allclose(model.lower_bounds_, expected[3], rtol=1e-9)


# --------------------------------------------------------------------------------
# Fixed weights


@pytest.mark.parametrize("init_params", ["kmeans", "random", "random_from_data"])
@pytest.mark.parametrize("target_order", ["given", "free"])
def test_fixed_weights_are_the_target_from_the_start(blobs, init_params, target_order):
    """The weights are the targets exactly, from the start: in the order given,
    or (``'free'``) in some order."""
    X, _ = blobs
    target = np.array([0.6, 0.3, 0.1])
    for max_iter in (0, 1, 50):
        model = OTGaussianMixture(
            3,
            reg_m=np.inf,
            target_weights=target,
            target_order=target_order,
            init_params=init_params,
            max_iter=max_iter,
            random_state=0,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X)
        if target_order == "given":
            assert_array_equal(model.weights_, target)
        else:
            assert_array_equal(np.sort(model.weights_), np.sort(target))


def test_fixed_true_weights_recover_the_clusters(blobs):
    X, y = blobs
    model = OTGaussianMixture(
        3, reg_m=np.inf, target_weights=[0.6, 0.3, 0.1], random_state=0
    ).fit(X)
    assert adjusted_rand_score(y, model.predict(X)) > 0.95


def test_lower_bound_of_fixed_weights_bounds_the_likelihood(blobs):
    X, _ = blobs
    model = OTGaussianMixture(3, reg_m=np.inf, random_state=0).fit(X)
    # -F <= mean log-likelihood of the fitted mixture (before the last M-step, the
    # bound belongs to the previous parameters: compare at a converged fit).
    assert model.lower_bound_ <= model.score(X) + 1e-6


def test_information_criteria_do_not_count_fixed_weights(blobs):
    X, _ = blobs
    free = OTGaussianMixture(3, covariance_type="diag", random_state=0).fit(X)
    fixed = OTGaussianMixture(3, covariance_type="diag", reg_m=np.inf, random_state=0)
    fixed.fit(X)
    # diag: 3 * 2 variances + 3 * 2 means, plus 2 free weights for EM only.
    assert_allclose(free.bic(X), -2 * free.score(X) * len(X) + 14 * np.log(len(X)))
    assert_allclose(fixed.bic(X), -2 * fixed.score(X) * len(X) + 12 * np.log(len(X)))
    assert_allclose(fixed.aic(X), -2 * fixed.score(X) * len(X) + 2 * 12)


def test_weights_init_with_fixed_weights_is_an_error(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match="pass them as target_weights"):
        OTGaussianMixture(3, reg_m=np.inf, weights_init=[0.2, 0.3, 0.5]).fit(X)


# --------------------------------------------------------------------------------
# Penalised weights: between EM and fixed weights


def test_penalty_interpolates_between_em_and_fixed_weights():
    # Overlapping clusters, so that the column marginal can move at a moderate cost.
    rng = np.random.RandomState(0)
    centres = np.array([[0.0, 0.0], [2.5, 0.0], [0.0, 2.5]])
    X = np.vstack([rng.randn(m, 2) + c for m, c in zip((300, 150, 50), centres)])
    target = np.full(3, 1.0 / 3.0)
    params = dict(
        target_weights=target,
        means_init=centres,
        random_state=0,
        max_iter=500,
        sinkhorn_tol=1e-10,
        sinkhorn_max_iter=5000,
    )
    em = OTGaussianMixture(3, **params).fit(X)
    fixed = OTGaussianMixture(3, reg_m=np.inf, **params).fit(X)
    to_target, to_fixed = [], []
    for reg_m in (1e-6, 0.01, 0.1, 1.0, 10.0, 100.0):
        model = OTGaussianMixture(3, reg_m=reg_m, **params).fit(X)
        to_target.append(np.abs(model.weights_ - target).sum())
        to_fixed.append(np.abs(model.means_ - fixed.means_).max())
        if reg_m == 1e-6:
            assert_allclose(model.means_, em.means_, atol=1e-4)
            assert_allclose(model.weights_, em.weights_, atol=1e-5)
    # The stronger the penalty, the closer the weights to the target and the fit to
    # the fixed-weights fit.
    assert np.all(np.diff(to_target) < 0)
    assert np.all(np.diff(to_fixed) < 0)
    assert to_target[-1] < 1e-3 * to_target[0]
    assert to_fixed[-1] < 1e-2 * to_fixed[0]


# --------------------------------------------------------------------------------
# Temperature


def test_lower_temperature_gives_harder_assignments():
    X, _ = DATASETS["iris"]
    entropies = []
    for reg in (4.0, 1.0, 0.5, 0.1, 0.01):
        model = OTGaussianMixture(3, reg=reg, random_state=0).fit(X)
        assert np.all(np.isfinite(model.means_))
        cost = gaussian_cost(X, model.means_, model.precisions_cholesky_, "full")
        plan = transport_plan(
            cost,
            np.ones(len(X)),
            model.weights_,
            reg=reg,
            reg_m=0.0,
            target_weights=model.weights_,
            max_iter=1,
            tol=0.0,
        ).plan
        entropies.append(-np.mean(np.sum(xlogy(plan, plan), axis=1)))
    # Row entropy of the plan: soft assignments at high temperature, hard at low.
    assert np.all(np.diff(entropies) < 0)
    assert entropies[-1] < 1e-3 < 0.1 < entropies[0]


# --------------------------------------------------------------------------------
# Warnings and validation


@pytest.mark.parametrize("reg_m", [1.0, np.inf])
def test_unconverged_solver_gives_one_clear_warning(reg_m):
    """One warning for the fit, which counts the E-steps that miss."""
    X, n_components = DATASETS["wine"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = OTGaussianMixture(
            n_components,
            reg=0.05,
            reg_m=reg_m,
            sinkhorn_max_iter=1,
            sinkhorn_tol=1e-14,
            max_iter=5,
            random_state=0,
        ).fit(X)
    messages = [str(w.message) for w in caught]
    assert all(issubclass(w.category, ConvergenceWarning) for w in caught), messages
    solver = [m for m in messages if "sinkhorn_max_iter" in m]
    assert len(solver) == 1, messages
    assert "sinkhorn_tol" in solver[0]
    # It counts the E-steps whose residual misses, and gives the largest.
    residuals = np.asarray(model.transport_residuals_)
    missed = int(np.sum(residuals > 1e-14))
    assert missed > 0
    assert solver[0].startswith(f"In {missed} of {len(residuals)} E-steps")
    assert f"{residuals.max():.3g}" in solver[0]


# --------------------------------------------------------------------------------
# The certificate


def _independent_residual(result, mass, t, reg_m):
    """The certificate of an E-step's plan computed here from the plan and its
    potentials: the rows' L1 residual and the regime's own."""
    plan = result.plan / mass.sum()
    a = mass / mass.sum()
    rows = np.abs(plan.sum(axis=1) - a).sum()
    column = plan.sum(axis=0)
    if reg_m == np.inf:
        return max(rows, np.abs(column - t).sum())
    if reg_m > 0:
        target = t * np.exp(-np.asarray(result.potentials) / reg_m)
        return max(rows, np.abs(target - column).sum())
    return rows


@pytest.mark.parametrize("reg_m", [0.0, 0.5, 100.0, np.inf])
@pytest.mark.parametrize("max_iter", [1, 1000])
def test_certificate_is_measured_on_the_plan(reg_m, max_iter):
    """The residual that an E-step reports is that of the plan it returns,
    whichever solver produced it, and converged means residual <= tol (one
    solver step leaves it above tol, a thousand bring it below)."""
    rng = np.random.default_rng(0)
    cost = rng.uniform(0.0, 8.0, size=(400, 4))
    cost[:150, 0] -= 3.0
    mass = rng.uniform(0.5, 2.0, size=400)
    pi = np.array([0.1, 0.2, 0.3, 0.4])
    t = np.array([0.4, 0.3, 0.2, 0.1])
    result = transport_plan(
        cost,
        mass,
        pi,
        reg=0.5,
        reg_m=reg_m,
        target_weights=t,
        max_iter=max_iter,
        tol=1e-10,
    )
    expected = _independent_residual(result, mass, t, reg_m)
    assert_allclose(result.residual, expected, rtol=1e-6, atol=1e-14)
    assert result.converged == (result.residual <= 1e-10)
    if max_iter == 1000 or reg_m == 0:
        assert result.converged
    elif reg_m == np.inf:
        assert not result.converged


@pytest.mark.parametrize("reg_m", [100.0, 1000.0])
def test_no_false_alarm_where_the_plans_are_optimal(reg_m):
    """iris with reg_m=100 and 1000: POT's own test of its scalings warned in
    every E-step while the fit was the exact one; the plans' residuals are
    within sinkhorn_tol, and nothing is said."""
    X, n_components = DATASETS["iris"]
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*sinkhorn_tol.*")
        model = OTGaussianMixture(n_components, reg_m=reg_m, random_state=0).fit(X)
    assert len(model.transport_residuals_) == model.n_iter_
    assert max(model.transport_residuals_) <= model.sinkhorn_tol


def test_residuals_are_printed_and_kept_by_every_estimator(capsys):
    X, y = DATASETS["iris"][0], load_iris().target
    model = OTGaussianMixture(3, reg_m=np.inf, verbose=1, verbose_interval=1)
    model.fit(X)
    out = capsys.readouterr().out
    assert out.count("transport residual") == model.n_iter_
    classifier = OTGaussianMixtureClassifier(reg_m=1.0).fit(X, y)
    assert len(classifier.transport_residuals_) == classifier.n_iter_
    adapter = PriorShiftAdapter(classifier, reg_m=1.0).fit(X[:60])
    assert len(adapter.transport_residuals_) == adapter.n_iter_
    stream = OTGaussianMixture(3, reg_m=1.0, random_state=0)
    for rows in np.array_split(np.random.default_rng(0).permutation(150), 3):
        stream.partial_fit(X[rows])
    assert len(stream.transport_residuals_) == 3
    assert max(stream.transport_residuals_) <= stream.sinkhorn_tol


@pytest.mark.parametrize(
    "target_weights, match",
    [
        ([0.5, 0.5], "should have the shape"),
        ([0.7, 0.5, -0.2], r"should be in the range \[0, 1\]"),
        ([0.5, 0.3, 0.3], "should sum to 1"),
        ([0.5, 0.5, 0.0], "should be positive"),
    ],
)
def test_bad_target_weights(target_weights, match):
    X, _ = DATASETS["iris"]
    with pytest.raises(ValueError, match=f"target_weights'? {match}"):
        OTGaussianMixture(3, reg_m=np.inf, target_weights=target_weights).fit(X)


def test_fixed_weights_on_float32_data_reach_sinkhorn_tol(blobs):
    """float32 masses and targets sum to one within 1e-7 only: the balanced
    E-step works in float64, so the columns still come within 1e-9 of t."""
    X, _ = blobs
    X32 = X.astype(np.float32)
    target = np.array([0.5, 0.3, 0.2], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        fitted = OTGaussianMixture(
            3, reg_m=np.inf, target_weights=target, random_state=0
        ).fit(X32)
    assert fitted.means_.dtype == np.float32
    cost = gaussian_cost(
        X32, fitted.means_, fitted.precisions_cholesky_, fitted.covariance_type
    )
    mass = np.ones(len(X32), dtype=np.float32)
    result = transport_plan(
        cost,
        mass,
        fitted.weights_,
        reg=1.0,
        reg_m=np.inf,
        target_weights=target,
        max_iter=1000,
        tol=1e-9,
    )
    assert result.converged
    column = np.sum(result.plan.astype(np.float64), axis=0) / len(X32)
    assert_allclose(column, target.astype(np.float64) / target.sum(), atol=1e-6)
