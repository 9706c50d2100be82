"""The E-step's kernels: costs as products with the data's moments (or with the
whitened residuals when the features outnumber the components), checked against
SciPy's Gaussian log-density and against the plan-given statistics."""

import numpy as np
import pytest
from conftest import COVARIANCE_TYPES, assert_close_to_scale
from scipy.stats import multivariate_normal
from sklearn.datasets import make_blobs
from sklearn.mixture import GaussianMixture

from sklearn_otmix import OTGaussianMixture
from sklearn_otmix._gaussian import (
    GaussianCost,
    GroupedCost,
    WhitenedCost,
    covariances_from_precisions,
    gaussian_cost_of,
    gaussian_mle,
    precisions_from_cholesky,
    sufficient_statistics,
)


def _mixture(n_components, n_features, covariance_type, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((300, n_features)) * 3 + 10  # offset data
    means = rng.standard_normal((n_components, n_features)) * 2 + 10
    factors = {
        "full": np.triu(rng.uniform(-0.3, 0.3, (n_components, n_features, n_features)))
        + 2 * np.eye(n_features),
        "tied": np.triu(rng.uniform(-0.3, 0.3, (n_features, n_features)))
        + 2 * np.eye(n_features),
        "diag": rng.uniform(0.5, 2, (n_components, n_features)),
        "spherical": rng.uniform(0.5, 2, n_components),
    }
    return X, means, factors[covariance_type]


def _scipy_cost(X, means, factor, covariance_type):
    precisions = precisions_from_cholesky(factor, covariance_type)
    covariances = covariances_from_precisions(precisions, covariance_type)
    n_components, n_features = means.shape
    columns = []
    for k in range(n_components):
        if covariance_type == "full":
            covariance = covariances[k]
        elif covariance_type == "tied":
            covariance = covariances
        elif covariance_type == "diag":
            covariance = np.diag(covariances[k])
        else:
            covariance = covariances[k] * np.eye(n_features)
        columns.append(-multivariate_normal(means[k], covariance).logpdf(X))
    return np.stack(columns, axis=1)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("shape", [(4, 6), (2, 30)])
def test_costs_are_the_gaussian_log_density(covariance_type, shape):
    X, means, factor = _mixture(*shape, covariance_type)
    cost = gaussian_cost_of(means, factor, covariance_type)
    expected = (
        WhitenedCost if covariance_type == "full" and shape == (2, 30) else GaussianCost
    )
    assert isinstance(cost, expected)
    assert_close_to_scale(
        cost.cost_of(X), _scipy_cost(X, means, factor, covariance_type), 1e-12
    )


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_statistics_from_moments_equal_those_of_the_plan(covariance_type):
    X, means, factor = _mixture(4, 6, covariance_type)
    weights = np.array([0.1, 0.2, 0.3, 0.4])
    cost = gaussian_cost_of(means, factor, covariance_type, weights)
    assert isinstance(cost, GaussianCost)
    _assert_statistics_of_the_plan(cost, X, covariance_type, 1e-12)


def _assert_statistics_of_the_plan(cost, X, covariance_type, rtol):
    """The statistics that ``cost``'s moments give of a random plan, about
    its centres, and those of :func:`sufficient_statistics`, about each
    component's weighted mean: the M-step reads the same mixture from both."""
    plan = np.random.RandomState(1).dirichlet(np.ones(4), size=X.shape[0])
    mass = plan.sum(axis=1)
    ours = cost.statistics(cost.moment_sums(cost.moments(X), plan, mass))
    theirs = sufficient_statistics(X, plan, mass, covariance_type)
    for a, b in zip(
        gaussian_mle(ours, 1e-6, covariance_type),
        gaussian_mle(theirs, 1e-6, covariance_type),
        strict=True,
    ):
        assert_close_to_scale(a, b, rtol)


def test_many_features_few_components_same_fit_as_gaussian_mixture():
    # d > 6 K: the whitened residuals' path.
    rng = np.random.RandomState(0)
    X = np.concatenate(
        [rng.standard_normal((200, 30)), rng.standard_normal((200, 30)) + 3]
    )
    params = dict(n_components=2, covariance_type="full", random_state=0)
    ours = OTGaussianMixture(**params).fit(X)
    theirs = GaussianMixture(**params).fit(X)
    for name in ("means_", "covariances_", "precisions_cholesky_"):
        assert_close_to_scale(getattr(ours, name), getattr(theirs, name), 1e-7, name)
    assert ours.n_iter_ == theirs.n_iter_


def _far_apart(covariance_type, n_features, offset, seed=0):
    """Four unit-scale components, two of them ``offset`` away from the
    others (e.g. sites a hundred kilometres apart, measured in metres), and
    rows around each."""
    X, means, factor = _mixture(4, n_features, covariance_type, seed)
    shift = np.zeros((4, n_features))
    shift[2:, 0] = offset
    means = means + shift
    X = X + shift[np.arange(len(X)) % 4]
    return X, means, factor


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("shape", [(4, 6), (4, 30)])
def test_components_far_apart_are_costed_about_their_own_centres(
    covariance_type, shape
):
    """Components 1e6 standard deviations apart are grouped, each group about
    its own centre: the costs are SciPy's log-densities (to 1e-12 of each
    row's scale, where about one centre they would lose about 1e-4), and the
    statistics those of the plan."""
    n_features = shape[1]
    X, means, factor = _far_apart(covariance_type, n_features, 1e6)
    cost = gaussian_cost_of(means, factor, covariance_type, np.full(4, 0.25))
    assert isinstance(cost, GroupedCost) and len(cost.groups) == 2
    expected = _scipy_cost(X, means, factor, covariance_type)
    actual = cost.cost_of(X)
    own = np.abs(expected).min(axis=1, keepdims=True)  # each row's own component
    np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12 * own.max())
    _assert_statistics_of_the_plan(cost, X, covariance_type, 1e-9)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES + ["VEV"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_m_step_from_the_e_steps_estimate_is_the_m_step(
    monkeypatch, covariance_type, dtype
):
    """The E-step's checked MLE, handed to the M-step, gives the mixture that
    the M-step forms from the statistics alone, to the last bit (the blocks'
    E-step: the whole-rows one hands none)."""
    from sklearn_otmix import _step
    from sklearn_otmix._data import samples_of
    from sklearn_otmix._step import e_step, m_step

    monkeypatch.setattr(_step, "WHOLE_PLAN", 0)

    X, _ = make_blobs(300, centers=3, n_features=4, random_state=0)
    X = X.astype(dtype)
    model = OTGaussianMixture(3, covariance_type=covariance_type, max_iter=2)
    model.fit(X)
    samples = samples_of(model, X, reset=False, n_components=3)
    problem, _ = model._problem(samples.like)
    mixture = model._mixture()
    step = e_step(samples, mixture, problem)
    assert step.estimate is not None
    handed = m_step(step.statistics, problem, mixture.covariances, step.estimate)
    formed = m_step(step.statistics, problem, mixture.covariances)
    assert handed.noise is None and formed.noise is None
    for a, b in zip(handed[:4], formed[:4], strict=True):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(a, b)
