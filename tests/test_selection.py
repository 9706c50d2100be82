"""WIP (issue 15): the selection of the number of components and the model."""


def test_search_picks_the_generating_model():
    """WIP: three spherical clusters of equal variance: the search over K and
    the 14 models picks 3 components and a spherical model, and its table
    holds every cell."""
    from sklearn.datasets import make_blobs

    from sklearn_otmix._selection import OTGaussianMixtureSearch

    X, _ = make_blobs(600, centers=3, cluster_std=1.0, random_state=0)
    search = OTGaussianMixtureSearch(n_components=range(1, 6)).fit(X)
    assert search.best_params_["n_components"] == 3
    assert search.best_params_["covariance_type"] in ("EII", "VII")
    assert len(search.cv_results_["bic"]) == 5 * 14
    i = search.cv_results_["bic"].index(search.best_score_)
    assert (
        search.cv_results_["param_covariance_type"][i]
        == (search.best_params_["covariance_type"])
    )
