"""OTGaussianMixtureImputer: conditional expectations and draws under the
fitted mixture, against their row-by-row formulas."""

import numpy as np
import pytest
from scipy.stats import multivariate_normal
from sklearn.datasets import load_iris, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_otmix import (
    OTGaussianMixture,
    OTGaussianMixtureImputer,
    OTGaussianMixtureSearch,
)


def _holes(X, rate, seed=0):
    rng = np.random.default_rng(seed)
    holes = rng.uniform(size=X.shape) < rate
    holes[np.arange(len(X)), rng.integers(X.shape[1], size=len(X))] = False
    incomplete = X.copy()
    incomplete[holes] = np.nan
    return incomplete, holes


def _full(model):
    K, d = model.means_.shape
    covariances, form = model.covariances_, model.covariance_type
    if form == "tied":
        return np.broadcast_to(covariances, (K, d, d))
    if form == "diag":
        return np.stack([np.diag(c) for c in covariances])
    if form == "spherical":
        return covariances[:, None, None] * np.eye(d)
    return covariances


def _expected_fill(X, model):
    """sum_k P(k | x_o) E_k[x_m | x_o], row by row."""
    full = _full(model)
    filled = X.copy()
    for i, row in enumerate(X):
        o = ~np.isnan(row)
        m = ~o
        if not m.any():
            continue
        log_joint, means = [], []
        for w, mu, S in zip(model.weights_, model.means_, full):
            S_oo = S[np.ix_(o, o)]
            log_joint.append(
                np.log(w) + multivariate_normal(mu[o], S_oo).logpdf(row[o])
            )
            means.append(
                mu[m] + S[np.ix_(m, o)] @ np.linalg.solve(S_oo, row[o] - mu[o])
            )
        posterior = np.exp(np.array(log_joint) - max(log_joint))
        posterior /= posterior.sum()
        filled[i, m] = posterior @ np.array(means)
    return filled


@pytest.mark.parametrize("form", ["full", "tied", "diag", "spherical", "VEV"])
def test_transform_is_the_conditional_expectation(form):
    X, holes = _holes(load_iris().data, 0.2)
    imputer = OTGaussianMixtureImputer(
        OTGaussianMixture(3, covariance_type=form, random_state=0)
    ).fit(X)
    imputed = imputer.transform(X)
    np.testing.assert_allclose(
        imputed, _expected_fill(X, imputer.estimator_), rtol=1e-10
    )
    np.testing.assert_array_equal(imputed[~holes], X[~holes])
    assert not np.isnan(imputed).any()


def test_draws_follow_the_conditional_distribution():
    """One Gaussian: the draws of a row's missing entries have the
    conditional mean and covariance (to their standard errors)."""
    X, _ = _holes(StandardScaler().fit_transform(load_wine().data[:, :5]), 0.1)
    imputer = OTGaussianMixtureImputer(sample_posterior=True, random_state=0).fit(X)
    model = imputer.estimator_
    row = X[0].copy()
    row[[1, 3]] = np.nan
    n_draws = 20000
    draws = imputer.transform(np.tile(row, (n_draws, 1)))[:, [1, 3]]
    S, mu = model.covariances_[0], model.means_[0]
    o, m = np.array([0, 2, 4]), np.array([1, 3])
    gain = S[np.ix_(m, o)] @ np.linalg.inv(S[np.ix_(o, o)])
    mean = mu[m] + gain @ (row[o] - mu[o])
    covariance = S[np.ix_(m, m)] - gain @ S[np.ix_(o, m)]
    error = np.sqrt(np.diag(covariance) / n_draws)
    assert np.all(np.abs(draws.mean(axis=0) - mean) < 4 * error)
    np.testing.assert_allclose(np.cov(draws.T), covariance, rtol=0.05, atol=0.02)
    # Seeded: the same draws again; another seed, others.
    again = imputer.transform(np.tile(row, (5, 1)))
    np.testing.assert_array_equal(again, imputer.transform(np.tile(row, (5, 1))))
    other = imputer.set_params(random_state=1).transform(np.tile(row, (5, 1)))
    assert not np.array_equal(again, other)


def test_mixture_draws_pick_components_by_posterior():
    """Two far-apart clusters: a row observed in one draws from that one."""
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (200, 2)), rng.normal(10, 1, (200, 2))])
    X[rng.uniform(size=400) < 0.2, 1] = np.nan
    imputer = OTGaussianMixtureImputer(
        OTGaussianMixture(2, random_state=0), sample_posterior=True, random_state=0
    ).fit(X)
    rows = np.array([[0.0, np.nan]] * 100 + [[10.0, np.nan]] * 100)
    drawn = imputer.transform(rows)[:, 1]
    assert np.all(drawn[:100] < 5) and np.all(drawn[100:] > 5)


def test_pipeline_and_model_selection():
    data = load_wine()
    X = StandardScaler().fit_transform(data.data)
    X, _ = _holes(X, 0.2)
    pipeline = make_pipeline(
        OTGaussianMixtureImputer(OTGaussianMixture(random_state=0)),
        LogisticRegression(max_iter=1000),
    )
    grid = GridSearchCV(
        pipeline, {"otgaussianmixtureimputer__estimator__n_components": [1, 2]}, cv=3
    ).fit(X, data.target)
    assert grid.best_score_ > 0.85
    searched = OTGaussianMixtureImputer(
        OTGaussianMixtureSearch(n_components=[1, 2], covariance_types=["VVV", "EEE"])
    ).fit(X)
    assert searched.estimator_.best_params_["n_components"] in (1, 2)
    assert not np.isnan(searched.transform(X)).any()


def test_dask_transform_is_lazy_and_equal():
    da = pytest.importorskip("dask.array")
    pytest.importorskip("distributed")
    X, _ = _holes(load_iris().data, 0.2)
    imputer = OTGaussianMixtureImputer(OTGaussianMixture(2, random_state=0)).fit(X)
    lazy = imputer.transform(da.from_array(X, chunks=40))
    assert isinstance(lazy, da.Array)
    np.testing.assert_allclose(lazy.compute(), imputer.transform(X), rtol=1e-12)


def test_errors():
    X, _ = _holes(load_iris().data, 0.2)
    imputer = OTGaussianMixtureImputer().fit(X)
    bad = X.copy()
    bad[4] = np.nan
    with pytest.raises(ValueError, match="no observed entry"):
        imputer.transform(bad)
    with pytest.raises(ValueError, match="4 features"):
        imputer.transform(X[:, :3])
    with pytest.raises(ValueError, match="estimator"):
        OTGaussianMixtureImputer(estimator="kmeans").fit(X)
