"""OTGaussianMixtureSearch: the grid, its criteria and table, the cells it
skips or refuses, and delegation (the agreement with R's Mclust is in
tests/test_mclust_models.py)."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris, make_blobs

from sklearn_otmix import OTGaussianMixture, OTGaussianMixtureSearch
from sklearn_otmix._hierarchy import cut, merge_tree, whiten
from sklearn_otmix._models import MODELS


@pytest.fixture(scope="module")
def blobs():
    X, _ = make_blobs(300, centers=3, cluster_std=1.0, random_state=0)
    return X


@pytest.fixture(scope="module")
def blobs_search(blobs):
    return OTGaussianMixtureSearch(n_components=range(1, 6)).fit(blobs)


def test_search_picks_the_generating_model(blobs_search):
    """Three spherical clusters of equal variance: 3 components and a
    spherical model, and the table holds every cell."""
    search = blobs_search
    assert search.best_params_["n_components"] == 3
    assert search.best_params_["covariance_type"] in ("EII", "VII")
    assert len(search.cv_results_["bic"]) == 5 * 14
    i = search.best_index_
    assert search.cv_results_["params"][i] == search.best_params_
    assert search.cv_results_["bic"][i] == search.best_criterion_
    assert search.cv_results_["rank_bic"][i] == 1
    assert search.best_criterion_ == np.nanmin(search.cv_results_["bic"])


def test_criteria_recomputed_from_the_fitted_estimator(blobs, blobs_search):
    """BIC is the estimator's own ``bic``; ICL adds twice the entropy of its
    ``predict_proba`` rows, computed here independently."""
    best = blobs_search.best_estimator_
    bic = blobs_search.cv_results_["bic"][blobs_search.best_index_]
    assert bic == pytest.approx(best.bic(blobs), rel=1e-12)
    proba = best.predict_proba(blobs)
    entropy = -np.sum(proba * np.log(np.where(proba > 0, proba, 1.0)))
    icl = blobs_search.cv_results_["icl"][blobs_search.best_index_]
    assert icl == pytest.approx(bic + 2 * entropy, rel=1e-10)
    log_likelihood = blobs_search.cv_results_["log_likelihood"][
        blobs_search.best_index_
    ]
    assert log_likelihood == pytest.approx(best.score(blobs) * len(blobs), rel=1e-12)
    assert blobs_search.cv_results_["n_parameters"][blobs_search.best_index_] == (
        best._n_parameters()
    )
    # The public criterion is the search's.
    assert best.icl(blobs) == pytest.approx(icl, rel=1e-12)


@pytest.mark.parametrize("covariance_type", ["spherical", "VEV"])
def test_icl_is_bic_plus_twice_the_posteriors_entropy(covariance_type):
    X, _ = make_blobs(300, centers=3, cluster_std=2.5, random_state=3)
    mixture = OTGaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(
        X
    )
    proba = mixture.predict_proba(X)
    entropy = -np.sum(proba * np.log(np.where(proba > 0, proba, 1.0)))
    assert entropy > 1.0  # overlapping clusters: the penalty is not nothing
    assert mixture.icl(X) == pytest.approx(mixture.bic(X) + 2 * entropy, rel=1e-12)


def test_table_reads_as_a_data_frame(blobs_search):
    pd = pytest.importorskip("pandas")
    table = pd.DataFrame(blobs_search.cv_results_)
    assert len(table) == 5 * 14
    assert set(table["param_covariance_type"]) == set(MODELS)
    assert (table["status"] == "fitted").sum() == np.isfinite(table["bic"]).sum()
    ranks = table.loc[np.isfinite(table["bic"]), "rank_bic"]
    assert sorted(ranks) == list(range(1, len(ranks) + 1))


def test_icl_prefers_separated_clusters():
    """Two clusters drawn as a mixture of three, two of which overlap: BIC
    finds the three components, ICL merges the overlapping pair."""
    rng = np.random.RandomState(0)
    X = np.vstack(
        [
            rng.normal([0, 0], 1.0, (300, 2)),
            rng.normal([1.5, 0], 1.0, (300, 2)),
            rng.normal([12, 0], 1.0, (300, 2)),
        ]
    )
    kwargs = dict(n_components=range(1, 5), covariance_types=["VII"])
    bic = OTGaussianMixtureSearch(**kwargs).fit(X)
    icl = OTGaussianMixtureSearch(criterion="icl", **kwargs).fit(X)
    assert icl.best_params_["n_components"] == 2
    assert bic.best_params_["n_components"] >= icl.best_params_["n_components"]
    i = icl.best_index_
    assert icl.cv_results_["icl"][i] == icl.best_criterion_


def test_sample_weight_counts_as_repeated_rows():
    """Integer weights: the same criteria as the rows repeated, n in the BIC
    being the total weight."""
    X = load_iris().data
    weights = np.random.RandomState(0).randint(1, 4, len(X))
    # To convergence: the weighted rows and the repeated ones start from
    # different trees (the tree is unweighted), and mclust's stopping rule
    # (the default template's) leaves each a few 1e-6 from the optimum.
    template = OTGaussianMixture(
        init_params="hierarchical", reg_covar=0.0, tol=1e-10, max_iter=1000
    )
    kwargs = dict(
        estimator=template, n_components=[1, 2, 3], covariance_types=["VVI", "EEE"]
    )
    weighted = OTGaussianMixtureSearch(**kwargs).fit(X, sample_weight=weights)
    repeated = OTGaussianMixtureSearch(**kwargs).fit(np.repeat(X, weights, axis=0))
    assert weighted.best_params_ == repeated.best_params_
    np.testing.assert_allclose(
        weighted.cv_results_["bic"], repeated.cv_results_["bic"], rtol=1e-6
    )


def test_the_template_passes_its_parameters():
    """A template with fixed weights selects a fixed-weights model: every
    cell keeps reg_m=inf and counts no weight parameters."""
    X, _ = make_blobs(200, centers=2, random_state=1)
    template = OTGaussianMixture(reg_m=np.inf, init_params="hierarchical")
    search = OTGaussianMixtureSearch(
        template, n_components=[1, 2, 3], covariance_types=["VII", "EEE"]
    ).fit(X)
    best = search.best_estimator_
    assert best.reg_m == np.inf
    np.testing.assert_allclose(best.weights_, 1 / best.n_components)
    free = OTGaussianMixture(best.n_components, covariance_type=best.covariance_type)
    free.fit(X)
    assert best._n_parameters() == free._n_parameters() - (best.n_components - 1)
    assert template.n_components == 1  # the template itself is left alone


def test_delegation(blobs, blobs_search):
    best = blobs_search.best_estimator_
    for method in ("predict", "predict_proba", "score_samples"):
        np.testing.assert_array_equal(
            getattr(blobs_search, method)(blobs), getattr(best, method)(blobs)
        )
    assert blobs_search.score(blobs) == best.score(blobs)
    X_new, y_new = blobs_search.sample(7)
    assert X_new.shape == (7, 2) and y_new.shape == (7,)
    assert blobs_search.n_features_in_ == 2


def test_parallel_fits_give_the_same_table():
    X = load_iris().data
    kwargs = dict(n_components=[2, 3], covariance_types=["EEI", "VEV", "EVE"])
    one = OTGaussianMixtureSearch(**kwargs).fit(X)
    two = OTGaussianMixtureSearch(n_jobs=2, **kwargs).fit(X)
    np.testing.assert_array_equal(one.cv_results_["bic"], two.cv_results_["bic"])
    assert one.best_params_ == two.best_params_


def test_unsupported_models_are_skipped_with_the_reason():
    """A cell with more free parameters than the data have values is skipped,
    not fitted, with the reason; the others are fitted (12 samples, 2
    features: VVV with 5 components has 5 x 5 + 4 = 29 > 24 parameters)."""
    X = np.random.RandomState(0).normal(size=(12, 2))
    search = OTGaussianMixtureSearch(
        n_components=[1, 5], covariance_types=["EII", "VVV"]
    ).fit(X)
    table = search.cv_results_
    status = dict(
        zip(
            zip(table["param_covariance_type"], table["param_n_components"]),
            table["status"],
        )
    )
    assert status[("VVV", 5)].startswith("skipped")
    assert "29 free parameters" in status[("VVV", 5)]
    assert status[("EII", 1)] == status[("VVV", 1)] == "fitted"
    skipped = np.array([s.startswith("skipped") for s in table["status"]])
    assert np.all(np.isnan(table["bic"][skipped]))
    assert np.all(np.isfinite(table["bic"][table["status"] == "fitted"]))


def test_nothing_fitted_is_an_error_that_says_why():
    """No more samples than features: no model can be fitted, and the error
    gives each cell's reason."""
    X = np.random.RandomState(0).normal(size=(12, 15))
    search = OTGaussianMixtureSearch(n_components=[1, 2], covariance_types=["VVV"])
    with pytest.raises(ValueError, match="No cell of the grid.*more samples than"):
        search.fit(X)


def test_collapsed_fits_are_not_candidates():
    """iris, VEE with 5 components and no regularisation: a component
    collapses onto repeated rows (mclust has no BIC there either), and its
    likelihood would grow without bound. Its covariance is what round-off and
    the plan's vanishing mass on other rows leave: zero (the fit fails with
    the ill-defined covariance error) or a positive volume far below what
    the data's values resolve (the fit is degenerate). Either way the cell
    is not a candidate."""
    X = load_iris().data
    search = OTGaussianMixtureSearch(n_components=[2, 5], covariance_types=["VEE"]).fit(
        X
    )
    status = search.cv_results_["status"][1]
    assert status.startswith(("failed: Fitting the mixture", "degenerate: component"))
    assert np.isnan(search.cv_results_["bic"][1])
    assert search.best_params_ == {"n_components": 2, "covariance_type": "VEE"}
    collapsed = OTGaussianMixture(
        5,
        covariance_type="VEE",
        init_params="hierarchical",
        reg_covar=0.0,
        tol=1e-6,
        max_iter=1000,
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            collapsed.fit(X)
    except ValueError as error:
        assert "ill-defined empirical covariance" in str(error)
        return
    # The spacing of float64 values at iris's scale is about 1e-15: a
    # standard deviation below it is a collapse onto identical rows.
    volumes = np.linalg.eigvalsh(collapsed.covariances_).max(axis=1)
    assert volumes.min() < (np.finfo(float).eps * np.abs(X).max()) ** 2


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_components": []}, "n_components should be a non-empty"),
        ({"n_components": [0, 1]}, "n_components should be a non-empty"),
        ({"covariance_types": ["VVV", "XYZ"]}, "covariance_types should be"),
        ({"covariance_types": []}, "covariance_types should be"),
    ],
)
def test_bad_grids(params, match):
    with pytest.raises(ValueError, match=match):
        OTGaussianMixtureSearch(**params).fit(load_iris().data)


def test_hierarchical_init_starts_from_the_tree_partition():
    """``init_params='hierarchical'`` with ``max_iter=0``... the initial
    means are those of the tree's partition into K groups."""
    X = load_iris().data
    labels = cut(merge_tree(whiten(X)), 3)
    expected = np.array([X[labels == k].mean(axis=0) for k in range(3)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = OTGaussianMixture(
            3, init_params="hierarchical", max_iter=0, reg_covar=0.0
        ).fit(X)
    np.testing.assert_allclose(model.means_, expected, rtol=1e-12)
    np.testing.assert_allclose(model.weights_, np.bincount(labels) / len(X), rtol=1e-12)


def test_hierarchical_subset(monkeypatch):
    """Beyond HIERARCHY_SUBSET rows the tree is built on a random subset; the
    initial M-step is the subset's (weights summing to one), and the same
    seed gives the same fit."""
    from sklearn_otmix import _hierarchy

    monkeypatch.setattr(_hierarchy, "HIERARCHY_SUBSET", 60)
    X, _ = make_blobs(400, centers=3, random_state=2)
    fits = [
        OTGaussianMixture(3, init_params="hierarchical", random_state=0).fit(X)
        for _ in range(2)
    ]
    np.testing.assert_allclose(fits[0].weights_.sum(), 1.0)
    np.testing.assert_array_equal(fits[0].means_, fits[1].means_)
    labels = _hierarchy.hierarchical_labels(X, 3, np.random.RandomState(0))
    assert (labels >= 0).sum() == 60
    assert set(labels[labels >= 0]) == {0, 1, 2}


def test_tree_cache_under_threads(monkeypatch):
    """Threads asking for the trees of several data sets at once, more than
    the cache keeps: each gets its own data's partition."""
    from concurrent.futures import ThreadPoolExecutor

    from sklearn_otmix import _hierarchy

    monkeypatch.setattr(_hierarchy, "TREES", _hierarchy.TreeCache(size=2))
    data = [make_blobs(80, centers=3, random_state=seed)[0] for seed in range(5)]
    expected = [cut(merge_tree(whiten(X)), 3) for X in data]

    def labels(index):
        rng = np.random.RandomState(0)
        return index, _hierarchy.hierarchical_labels(data[index], 3, rng)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(labels, [i % len(data) for i in range(60)]))
    for index, found in results:
        np.testing.assert_array_equal(found, expected[index])
    assert len(_hierarchy.TREES._trees) <= 2


def test_merge_tree_separates_far_groups():
    """Two far groups of different shapes: the last merge joins them."""
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(0, 1, (40, 3)), rng.normal(50, [1, 3, 0.2], (30, 3))])
    labels = cut(merge_tree(whiten(X)), 2)
    assert set(labels[:40]) == {0} and set(labels[40:]) == {1}
    assert merge_tree(whiten(X)).shape == (69, 2)


def test_search_builds_the_tree_once(monkeypatch):
    """Beyond HIERARCHY_SUBSET rows every cell draws its subset with the
    search's seed: one tree for the whole grid, and the same seed gives the
    same table; another seed another subset."""
    from sklearn_otmix import _hierarchy

    monkeypatch.setattr(_hierarchy, "HIERARCHY_SUBSET", 60)
    monkeypatch.setattr(_hierarchy, "TREES", _hierarchy.TreeCache(size=4))
    built = []
    merge_tree_ = _hierarchy.merge_tree
    monkeypatch.setattr(
        _hierarchy, "merge_tree", lambda Z: built.append(Z) or merge_tree_(Z)
    )
    X, _ = make_blobs(400, centers=3, random_state=2)
    grid = dict(n_components=[2, 3, 4], covariance_types=["EII", "VVV"])
    first = OTGaussianMixtureSearch(**grid, random_state=0).fit(X)
    assert len(built) == 1
    again = OTGaussianMixtureSearch(**grid, random_state=0).fit(X)
    assert len(built) == 1  # the cached tree
    np.testing.assert_array_equal(first.cv_results_["bic"], again.cv_results_["bic"])
    OTGaussianMixtureSearch(**grid, random_state=1).fit(X)
    assert len(built) == 2
    # A template's own random_state is kept: its subset, not the search's.
    template = OTGaussianMixture(init_params="hierarchical", random_state=5)
    OTGaussianMixtureSearch(template, **grid, random_state=0).fit(X)
    assert len(built) == 3
    assert not np.array_equal(built[0], built[2])
