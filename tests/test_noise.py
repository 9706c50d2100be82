"""mclust's noise component: a uniform component over the data's hypervolume,
its weight estimated with the Gaussians'. The estimator's API and numerics
here; at the end, the agreement with R's mclust (``Mclust(X, initialization
= list(noise = ...))``, ``hypvol``), skipped without Rscript and mclust."""

import pickle
import warnings

import numpy as np
import pytest
from helpers import MCLUST_MISSING, benchmark_module
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.base import clone
from sklearn.datasets import load_iris, load_wine, make_blobs

from sklearn_otmix import (
    OTGaussianMixture,
    OTGaussianMixtureSearch,
    PriorShiftAdapter,
)
from sklearn_otmix import _hierarchy
from sklearn_otmix._noise import clutter, log_hypervolume
from sklearn_otmix._selection import mclust_template

agreement = benchmark_module("mclust_agreement")

needs_mclust = pytest.mark.skipif(
    not agreement.has_mclust(),
    reason=MCLUST_MISSING,
)


@pytest.fixture(scope="module")
def noisy():
    """Three clusters and 10% uniform background noise: (X, the noise rows)."""
    X, _ = make_blobs(300, centers=3, cluster_std=[1.0, 0.5, 1.5], random_state=0)
    return agreement.with_background(X, 0.1)


@pytest.fixture(scope="module")
def fitted(noisy):
    X, _ = noisy
    return OTGaussianMixture(3, noise=True, random_state=0).fit(X)


def _log_joint(model, X):
    """``log pi_k N(x; mu_k, Sigma_k)`` and ``log pi_0 - log V``, with scipy's
    densities: (n_samples, n_components + 1)."""
    columns = [
        np.log(weight) + multivariate_normal(mean, covariance).logpdf(X)
        for weight, mean, covariance in zip(
            model.weights_, model.means_, model.covariances_, strict=True
        )
    ]
    noise = np.log(model.noise_weight_) - np.log(model.hypervolume_)
    return np.column_stack([*columns, np.full(len(X), noise)])


# ------------------------------------------------------------------------------
# The estimator


def test_without_noise_nothing_changes(noisy):
    """noise=False is the default: the same fit, to the bit, and no noise
    attributes; a refit without noise drops them."""
    X, _ = noisy
    default = OTGaussianMixture(3, random_state=0).fit(X)
    off = OTGaussianMixture(3, noise=False, random_state=0).fit(X)
    for name in ("weights_", "means_", "covariances_", "lower_bounds_"):
        assert_array_equal(getattr(off, name), getattr(default, name))
    assert not hasattr(off, "noise_weight_") and not hasattr(off, "hypervolume_")
    assert off.predict_proba(X).shape == (len(X), 3)
    model = OTGaussianMixture(3, noise=True, random_state=0).fit(X)
    model.set_params(noise=False).fit(X)
    assert not hasattr(model, "noise_weight_") and not hasattr(model, "hypervolume_")
    assert_array_equal(model.means_, default.means_)


def test_weights_and_attributes(noisy, fitted):
    X, _ = noisy
    assert fitted.weights_.shape == (3,)
    assert 0 < fitted.noise_weight_ < 0.3
    assert fitted.weights_.sum() + fitted.noise_weight_ == pytest.approx(1, abs=1e-12)
    assert fitted.hypervolume_ == np.exp(log_hypervolume(X))
    given = OTGaussianMixture(3, noise=250.0, random_state=0).fit(X)
    assert given.hypervolume_ == 250.0


def test_predict_marks_noise_with_minus_one(noisy, fitted):
    X, truth = noisy
    labels = fitted.predict(X)
    assert set(np.unique(labels)) == {-1, 0, 1, 2}
    # Most of the background is marked, and few of the clusters' rows.
    # Background rows that fall within a cluster are the cluster's, and the
    # tails of the widest cluster (std 1.5) look like the background.
    assert np.mean(labels[truth] == -1) > 0.5
    assert np.mean(labels[~truth] == -1) < 0.15
    assert_array_equal(clone(fitted).fit_predict(X), labels)


def test_predict_proba_has_the_noise_column_last(noisy, fitted):
    X, _ = noisy
    proba = fitted.predict_proba(X)
    assert proba.shape == (len(X), 4)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    log_joint = _log_joint(fitted, X)
    assert_allclose(proba, np.exp(log_joint - logsumexp(log_joint, axis=1)[:, None]))
    labels = np.argmax(proba, axis=1)
    assert_array_equal(np.where(labels == 3, -1, labels), fitted.predict(X))


def test_score_samples_is_the_mixture_density_with_the_uniform(noisy, fitted):
    """``log(sum_k pi_k N_k(x) + pi_0 / V)``, far outside the training box
    too (the uniform density holds there, as in mclust)."""
    X, _ = noisy
    far = np.array([[100.0, -100.0], [1e3, 1e3]])
    for rows in (X, far):
        assert_allclose(
            fitted.score_samples(rows),
            logsumexp(_log_joint(fitted, rows), axis=1),
            rtol=1e-12,
        )
    assert_allclose(
        fitted.score_samples(far),
        np.log(fitted.noise_weight_ / fitted.hypervolume_),
        rtol=1e-12,
    )
    assert fitted.score(X) == pytest.approx(fitted.lower_bound_, abs=1e-3)


def test_criteria_count_two_more_parameters(noisy, fitted):
    """mclust's ``nMclustParams(..., noise = TRUE)``: the noise's weight and
    its hypervolume."""
    X, _ = noisy
    plain = OTGaussianMixture(3, random_state=0).fit(X)
    assert fitted._n_parameters() == plain._n_parameters() + 2 == 19
    log_likelihood = fitted.score(X) * len(X)
    p = fitted._n_parameters()
    assert fitted.bic(X) == pytest.approx(-2 * log_likelihood + p * np.log(len(X)))
    assert fitted.aic(X) == pytest.approx(-2 * log_likelihood + 2 * p)
    proba = fitted.predict_proba(X)
    entropy = -np.sum(proba * np.log(np.where(proba > 0, proba, 1.0)))
    assert fitted.icl(X) == pytest.approx(fitted.bic(X) + 2 * entropy)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "EII", "VEV"])
@pytest.mark.parametrize("init_params", ["kmeans", "hierarchical", "random"])
def test_lower_bound_never_decreases(noisy, covariance_type, init_params):
    """EM with the noise column is block-coordinate descent too: -F, the mean
    log-likelihood, rises at every iteration."""
    X, noise = noisy
    model = OTGaussianMixture(
        3,
        covariance_type=covariance_type,
        init_params=init_params,
        noise=True,
        noise_init=noise,
        tol=1e-8,
        max_iter=2000,
        random_state=0,
    ).fit(X)
    bounds = np.array(model.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))
    assert model.lower_bound_ == pytest.approx(model.score(X), abs=1e-7)


def test_noise_init_starts_the_noise_weight(noisy):
    """With max_iter=0 the fit stops at its start: the noise rows' share, the
    Gaussians' weights from the other rows (or weights_init scaled)."""
    X, noise = noisy
    start = OTGaussianMixture(
        3, noise=True, noise_init=noise, max_iter=0, init_params="kmeans"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start.fit(X)
    assert start.noise_weight_ == pytest.approx(noise.mean(), rel=1e-12)
    assert start.weights_.sum() == pytest.approx(1 - noise.mean(), rel=1e-12)
    start.set_params(weights_init=[0.5, 0.25, 0.25])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start.fit(X)
    assert_allclose(start.weights_, np.array([0.5, 0.25, 0.25]) * (1 - noise.mean()))


def _clutter(X, weight=None):
    """The default start, with mclust's hypervolume of ``X``."""
    return clutter(X, log_hypervolume(X), weight)


def test_default_start_is_the_nearest_neighbour_clutter(noisy):
    """The rows whose 5th-neighbour density is below the uniform's 1 / V:
    most of the background, few of the clusters' rows; at least one row, at
    most half."""
    X, truth = noisy
    rows = _clutter(X)
    assert np.mean(rows[truth]) > 0.7
    assert np.mean(rows[~truth]) < 0.2
    default = OTGaussianMixture(3, noise=True, random_state=0).fit(X)
    given = OTGaussianMixture(3, noise=True, noise_init=rows, random_state=0).fit(X)
    assert_array_equal(default.means_, given.means_)
    uniform = np.random.RandomState(0).uniform(size=(50, 2))
    assert 1 <= _clutter(uniform).sum() <= 25
    clusters, _ = make_blobs(100, centers=2, cluster_std=0.1, random_state=0)
    assert _clutter(clusters).sum() == 1


def test_integer_sample_weight_is_repeating_rows(noisy):
    """Integer weights are repeated rows, with the noise too: the same
    clutter start, hypervolume and fit; a zero weight removes the row."""
    X, _ = noisy
    weight = np.random.RandomState(0).randint(0, 3, size=len(X))
    repeated = np.repeat(X, weight, axis=0)
    kept = weight > 0
    assert_array_equal(
        np.repeat(
            clutter(X[kept], log_hypervolume(X[kept]), weight[kept]), weight[kept]
        ),
        _clutter(repeated),
    )
    params = dict(n_components=3, noise=True, init_params="random_from_data")
    means_init = X[[0, 120, 250]]
    weighted = OTGaussianMixture(**params, means_init=means_init, random_state=0)
    weighted.fit(X, sample_weight=weight)
    plain = OTGaussianMixture(**params, means_init=means_init, random_state=0)
    plain.fit(repeated)
    assert weighted.hypervolume_ == pytest.approx(plain.hypervolume_, rel=1e-12)
    assert weighted.noise_weight_ == pytest.approx(plain.noise_weight_, rel=1e-7)
    assert_allclose(weighted.means_, plain.means_, rtol=1e-7)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"noise_init": np.zeros(333)}, "array of booleans"),
        ({"noise_init": np.zeros(5, dtype=bool)}, r"shape \(333,\)"),
        ({"noise_init": np.zeros(333, dtype=bool)}, "marks no row"),
        ({"noise_init": np.ones(333, dtype=bool)}, "leaves 0 row"),
        ({"noise": False, "noise_init": np.ones(333, dtype=bool)}, "noise=False"),
        ({"reg_m": np.inf}, "free weights"),
        ({"reg_m": 1.0}, "free weights"),
    ],
)
def test_bad_settings_raise(noisy, params, match):
    X, _ = noisy
    model = OTGaussianMixture(3, random_state=0).set_params(**{"noise": True, **params})
    with pytest.raises(ValueError, match=match):
        model.fit(X)


def test_invalid_noise_parameter(noisy):
    X, _ = noisy
    for noise in (-1.0, 0.0, "yes"):
        with pytest.raises(ValueError, match="noise"):
            OTGaussianMixture(noise=noise).fit(X)


def test_what_a_noise_component_does_not_go_with(noisy, fitted):
    X, _ = noisy
    model = OTGaussianMixture(3, noise=True)
    assert not hasattr(model, "partial_fit")
    with pytest.raises(AttributeError, match="partial_fit"):
        model.partial_fit(X)
    with pytest.raises(ValueError, match="noise component"):
        fitted.sample(5)
    with pytest.raises(ValueError, match="noise component"):
        PriorShiftAdapter(fitted).fit(X)
    warm = clone(fitted).set_params(warm_start=True).fit(X)
    with pytest.raises(ValueError, match="warm_start"):
        warm.set_params(noise=False).fit(X)
    dd = pytest.importorskip("dask.array")
    with pytest.raises(ValueError, match="Dask"):
        OTGaussianMixture(3, noise=True).fit(dd.from_array(X, chunks=100))


def test_weight_bounds_bound_the_gaussians(noisy):
    X, _ = noisy
    model = OTGaussianMixture(
        3, noise=True, weight_bounds=(0.3, 1.0), random_state=0
    ).fit(X)
    assert np.all(model.weights_ >= 0.3 - 1e-8)
    assert model.weights_.sum() + model.noise_weight_ == pytest.approx(1, abs=1e-8)


def test_pickle_round_trip(noisy, fitted):
    X, _ = noisy
    restored = pickle.loads(pickle.dumps(fitted))
    assert restored.noise_weight_ == fitted.noise_weight_
    assert restored.hypervolume_ == fitted.hypervolume_
    assert_array_equal(restored.predict(X), fitted.predict(X))
    assert_array_equal(restored.predict_proba(X), fitted.predict_proba(X))
    assert_array_equal(restored.score_samples(X), fitted.score_samples(X))


def test_hypervolume_is_the_smaller_box():
    """The bounding box, or the box along the principal axes when smaller
    (a thin diagonal cloud)."""
    rng = np.random.RandomState(0)
    square = rng.uniform(size=(500, 2)) * [2.0, 3.0]
    assert np.exp(log_hypervolume(square)) == pytest.approx(
        np.prod(np.ptp(square, axis=0)), rel=1e-12
    )
    line = np.column_stack([np.arange(100.0), np.arange(100.0)])
    line += rng.uniform(-0.5, 0.5, size=line.shape)
    assert np.exp(log_hypervolume(line)) < 0.1 * np.prod(np.ptp(line, axis=0))
    with pytest.raises(ValueError, match="hypervolume"):
        OTGaussianMixture(noise=True).fit(np.c_[rng.randn(20), np.ones(20)])


# ------------------------------------------------------------------------------
# The search


def test_search_passes_the_noise_to_every_cell_and_builds_one_tree(noisy, monkeypatch):
    """Every cell has the noise component and the same start, computed once;
    as mclust, one hierarchical tree, on the rows out of the noise."""
    X, _ = noisy
    built = []
    original = _hierarchy.merge_tree

    def counted(Z):
        built.append(Z.shape[0])
        return original(Z)

    monkeypatch.setattr(_hierarchy, "merge_tree", counted)
    monkeypatch.setattr(_hierarchy, "TREES", _hierarchy.TreeCache(size=4))
    search = OTGaussianMixtureSearch(
        n_components=[1, 2, 3], covariance_types=["EII", "VVV"], noise=True
    ).fit(X)
    rows = _clutter(X)
    assert built == [int(np.sum(~rows))]
    best = search.best_estimator_
    assert_array_equal(best.noise_init, rows)
    assert best.noise is True and hasattr(best, "noise_weight_")
    assert search.predict_proba(X).shape == (len(X), best.n_components + 1)
    assert -1 in search.predict(X)
    fitted = search.cv_results_["status"] == "fitted"
    assert fitted.all()
    assert np.all(search.cv_results_["n_parameters"][fitted] > 0)


def test_search_refuses_a_template_noise_it_would_drop(noisy):
    X, _ = noisy
    template = mclust_template().set_params(noise=True)
    with pytest.raises(ValueError, match="set noise"):
        OTGaussianMixtureSearch(template, n_components=[1]).fit(X)
    with pytest.raises(ValueError, match="free weights"):
        OTGaussianMixtureSearch(
            OTGaussianMixture(reg_m=np.inf), n_components=[1], noise=True
        ).fit(X)


# ------------------------------------------------------------------------------
# Agreement with R's mclust


@needs_mclust
def test_hypervolume_equals_mclust():
    """``hypvol``: the bounding box or the principal axes' box, whichever is
    smaller, to 1e-12. On raw wine, whose variances span 1e7, the principal
    axes are determined only to about eps times that (R's from the
    covariance's eigenvectors, ours from the data's SVD): 1e-10 there."""
    data = {name: X for name, (X, _) in agreement.noisy_datasets().items()}
    data["iris_raw"] = load_iris().data
    data["wine_raw"] = load_wine().data
    theirs = agreement.mclust_hypvol(*data.values())
    for (name, X), volume in zip(data.items(), theirs, strict=True):
        rtol = 1e-10 if name == "wine_raw" else 1e-12
        assert np.exp(log_hypervolume(X)) == pytest.approx(volume, rel=rtol), name


@pytest.fixture(scope="module", params=["blobs", "blobs3d", "faithful", "iris"])
def mclust_noise_grid(request):
    """``Mclust(X, G = 1:4, initialization = list(noise = ...))`` with the
    background's rows as the noise set, and our search with the same."""
    if not agreement.has_mclust():
        pytest.skip("Rscript with R's mclust is missing")
    X, noise = agreement.noisy_datasets((request.param,))[request.param]
    theirs = agreement.mclust_noise(X, noise, range(1, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = agreement.our_search(
            X, n_components=range(1, 5), noise=True, noise_init=noise
        )
    return X, theirs, ours


@needs_mclust
def test_every_cell_equals_mclust_from_the_same_noise_set(mclust_noise_grid):
    """From the same noise set and the same hierarchical start, every cell's
    log-likelihood and BIC is mclust's (rel 1e-6), the 13 models whose
    M-step is mclust's (VVE's is not, see test_mclust_models.py)."""
    _, theirs, ours = mclust_noise_grid
    bics, logliks = theirs[5], theirs[6]
    table = ours[4].cv_results_
    compared = 0
    for k, model, bic, loglik in zip(
        table["param_n_components"],
        table["param_covariance_type"],
        table["bic"],
        table["log_likelihood"],
        strict=True,
    ):
        if model == "VVE":
            continue
        assert np.isfinite(bic) == np.isfinite(bics[(k, model)]), (k, model)
        if np.isfinite(bic):
            assert -bic == pytest.approx(bics[(k, model)], rel=1e-6), (k, model)
            assert loglik == pytest.approx(logliks[(k, model)], rel=1e-6)
            compared += 1
    assert compared >= 40


@needs_mclust
def test_search_picks_mclusts_model(mclust_noise_grid):
    """On 5-20% uniform background noise the search picks Mclust's model and
    number of components, with its BIC."""
    X, theirs, ours = mclust_noise_grid
    model_r, G_r, bic_r, volume = theirs[:4]
    model, G, bic, _, search = ours
    assert (model, G) == (model_r, G_r)
    assert bic == pytest.approx(bic_r, rel=1e-6)
    assert search.best_estimator_.hypervolume_ == pytest.approx(volume, rel=1e-12)


@needs_mclust
def test_search_from_the_clutter_start_picks_mclusts_model():
    """The default start (the nearest-neighbour clutter, computed once),
    given to Mclust as its noise set: the same choice and BIC."""
    X, _ = agreement.noisy_datasets(("blobs",))["blobs"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, G, bic, _, search = agreement.our_search(
            X, n_components=range(1, 5), noise=True
        )
    rows = search.best_estimator_.noise_init
    assert_array_equal(rows, _clutter(X))
    model_r, G_r, bic_r = agreement.mclust_noise(X, rows, range(1, 5))[:3]
    assert (model, G) == (model_r, G_r)
    assert bic == pytest.approx(bic_r, rel=1e-6)


@needs_mclust
def test_prior_with_noise_equals_mclust():
    """mclust's conjugate prior beside a noise component (one Gaussian is
    then fitted by mclust's me(), not mvn()): every cell of
    ``Mclust(X, G = 1:3, prior = priorControl(), initialization = list(noise
    = ...))``, to 1e-6."""
    X, noise = agreement.noisy_datasets(("iris",))["iris"]
    models = ["EII", "VEI", "EVI", "VVI", "EEE", "VEV", "VVV"]
    bics = agreement.mclust_noise(X, noise, range(1, 4), models, prior=True)[5]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search = agreement.our_search(
            X,
            prior="mclust",
            n_components=range(1, 4),
            covariance_types=models,
            noise=True,
            noise_init=noise,
        )[4]
    table = search.cv_results_
    for k, model, bic in zip(
        table["param_n_components"],
        table["param_covariance_type"],
        table["bic"],
        strict=True,
    ):
        assert np.isfinite(bic) == np.isfinite(bics[(k, model)]), (k, model)
        if np.isfinite(bic):
            assert -bic == pytest.approx(bics[(k, model)], rel=1e-6), (k, model)
