"""The identities the package rests on, and the E-step's numerics, in every regime."""

import warnings

import numpy as np
import pytest
from conftest import DATASETS
from numpy.testing import assert_allclose
from scipy.special import logsumexp
from sklearn.exceptions import ConvergenceWarning

from sklearn_otmix import OTGaussianMixture
from helpers import gaussian_cost
from helpers import objective, transport_plan

REGIMES = [0.0, 0.3, 5.0, np.inf]


def _fitted_cost(X, n_components, covariance_type="full", **params):
    model = OTGaussianMixture(
        n_components, covariance_type=covariance_type, random_state=0, **params
    ).fit(X)
    cost = gaussian_cost(X, model.means_, model.precisions_cholesky_, covariance_type)
    return model, cost


def _solve(cost, sample_mass, weights, reg, reg_m, target, tol=1e-10):
    result = transport_plan(
        cost,
        sample_mass,
        weights,
        reg=reg,
        reg_m=reg_m,
        target_weights=target,
        max_iter=10_000,
        tol=tol,
    )
    assert result.converged
    return result


def _plan_and_value(cost, sample_mass, weights, reg, reg_m, target, tol=1e-10):
    plan = _solve(cost, sample_mass, weights, reg, reg_m, target, tol).plan
    return plan, objective(cost, plan, sample_mass, weights, reg, reg_m, target)


def _negative_log_likelihood(cost, sample_mass, weights):
    log_density = logsumexp(np.log(weights) - cost, axis=1)
    return -np.sum(sample_mass * log_density) / np.sum(sample_mass)


@pytest.mark.parametrize("dataset", ["iris", "wine", "digits", "blobs"])
@pytest.mark.parametrize("weighted", [False, True])
def test_semi_relaxed_value_is_the_negative_log_likelihood(dataset, weighted):
    """Gibbs variational principle: min_P F = -sum_i a_i log sum_k pi_k N(x_i)."""
    X, n_components = DATASETS[dataset]
    model, cost = _fitted_cost(X, n_components)
    rng = np.random.RandomState(0)
    sample_mass = rng.uniform(0.1, 3.0, len(X)) if weighted else np.ones(len(X))
    target = np.full(n_components, 1.0 / n_components)
    _, value = _plan_and_value(cost, sample_mass, model.weights_, 1.0, 0.0, target)
    expected = _negative_log_likelihood(cost, sample_mass, model.weights_)
    assert abs(value - expected) <= 1e-10 * max(1.0, abs(expected))


@pytest.mark.parametrize("dataset", ["iris", "wine", "blobs"])
def test_balanced_value_bounds_the_negative_log_likelihood(dataset):
    """Pi(a, t) is a subset of {P 1 = a}: the balanced minimum is the larger."""
    X, n_components = DATASETS[dataset]
    _, cost = _fitted_cost(X, n_components)
    sample_mass = np.full(len(X), 1.0 / len(X))
    for target in (
        np.full(n_components, 1.0 / n_components),
        np.arange(1.0, n_components + 1) / np.sum(np.arange(1.0, n_components + 1)),
    ):
        plan, value = _plan_and_value(cost, sample_mass, target, 1.0, np.inf, target)
        assert value >= _negative_log_likelihood(cost, sample_mass, target) - 1e-12
        assert_allclose(plan.sum(axis=0), target, atol=1e-10)


@pytest.mark.parametrize("reg_m", REGIMES)
@pytest.mark.parametrize("reg", [1.0, 0.2])
def test_plan_marginals_and_value(reg, reg_m):
    X, n_components = DATASETS["wine"]
    _, cost = _fitted_cost(X, n_components)
    sample_mass = np.random.RandomState(1).uniform(0.5, 2.0, len(X))
    target = np.array([0.5, 0.3, 0.2])
    weights = np.array([0.2, 0.2, 0.6])
    result = _solve(cost, sample_mass, weights, reg, reg_m, target)
    plan = result.plan
    assert np.all(np.isfinite(plan)) and np.all(plan >= 0)
    assert_allclose(plan.sum(axis=1), sample_mass, rtol=1e-12)
    if reg_m == np.inf:
        column = plan.sum(axis=0) / sample_mass.sum()
        assert np.max(np.abs(column - target)) <= 1e-10
    # The reported value (Gibbs' closed form for reg_m = 0) is F at the plan.
    pi = target if reg_m == np.inf else weights
    expected = objective(cost, plan, sample_mass, pi, reg, reg_m, target)
    assert abs(result.value - expected) <= 1e-10 * max(1.0, abs(expected))


@pytest.mark.parametrize("reg_m", REGIMES)
@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied"])
@pytest.mark.parametrize("dataset", ["iris", "wine", "blobs"])
def test_objective_never_increases(dataset, covariance_type, reg_m):
    X, n_components = DATASETS[dataset]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # only the objective's path matters here
        model = OTGaussianMixture(
            n_components,
            covariance_type=covariance_type,
            reg_m=reg_m,
            init_params="random_from_data",
            max_iter=20,
            tol=0.0,
            random_state=0,
        ).fit(X)
    bounds = np.array(model.lower_bounds_)
    # -F increases at every step, up to the E-step solver's tolerance.
    assert np.all(np.diff(bounds) >= -1e-8 * np.maximum(1.0, np.abs(bounds[1:])))


def test_small_temperature_on_costs_in_the_thousands(blobs):
    X, y = blobs
    # Unit-variance clusters 100 apart: costs between clusters in the thousands.
    X = X + 15.0 * np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])[y]
    for reg_m in REGIMES:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            # At this temperature the semi-dual of the balanced problem is nearly
            # piecewise linear: its solver may stop ~1e-3 short of the marginal
            # and say so; what matters here is that nothing degenerates.
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = OTGaussianMixture(3, reg=0.01, reg_m=reg_m, random_state=0).fit(X)
        cost = gaussian_cost(X, model.means_, model.precisions_cholesky_, "full")
        assert cost.max() > 1000
        for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
            assert np.all(np.isfinite(getattr(model, name))), (reg_m, name)
        assert np.all(np.isfinite(model.lower_bounds_))
        target = np.full(3, 1.0 / 3.0)
        plan, _ = _plan_and_value(
            cost, np.ones(len(X)), model.weights_, 0.01, reg_m, target, tol=1e-9
        )
        # No row or column of the plan underflowed to nothing.
        assert np.all(plan.sum(axis=1) > 0) and np.all(plan.sum(axis=0) > 0)


def test_semi_relaxed_plan_survives_a_component_far_from_all_data():
    X, _ = DATASETS["iris"]
    cost = np.column_stack([np.zeros(len(X)), np.full(len(X), 5e3)])
    cost += np.random.RandomState(0).uniform(size=cost.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan, _ = _plan_and_value(
            cost, np.ones(len(X)), np.array([0.5, 0.5]), 1.0, 0.0, np.full(2, 0.5)
        )
    assert_allclose(plan[:, 0], 1.0)
    assert np.all(plan[:, 1] < 1e-300)
