"""PriorShiftAdapter: a fitted model's proportions on a new batch."""

import copy
import warnings

import numpy as np
import pytest
from conftest import COVARIANCE_TYPES
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_digits, load_iris, load_wine, make_blobs
from sklearn.decomposition import PCA
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

from sklearn_otmix import (
    OTGaussianMixture,
    OTGaussianMixtureClassifier,
    OTGaussianMixtureSearch,
    PriorShiftAdapter,
)

WINE_SHIFT = np.array([0.7, 0.2, 0.1])
DIGITS_SHIFT = np.array([0.3, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05, 0.04, 0.03, 0.03])


def _shifted(X, y, n_train, proportions, n_batch, seed):
    """A balanced training sample of ``n_train`` rows per class, and a batch of
    the other rows drawn (with replacement) in ``proportions``."""
    rng = np.random.RandomState(seed)
    classes = np.unique(y)
    train = np.concatenate(
        [rng.choice(np.flatnonzero(y == c), n_train, replace=False) for c in classes]
    )
    rest = np.setdiff1d(np.arange(len(y)), train)
    counts = np.round(proportions * n_batch).astype(int)
    batch = np.concatenate(
        [
            rng.choice(rest[y[rest] == c], count, replace=True)
            for c, count in zip(classes, counts, strict=True)
        ]
    )
    return X[train], y[train], X[batch], y[batch], counts


def _wine():
    X, y = load_wine(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _digits():
    X, y = load_digits(return_X_y=True)
    return PCA(n_components=20, random_state=0).fit_transform(X), y


CASES = {
    "wine": (_wine, 30, WINE_SHIFT, 300),
    "digits": (_digits, 80, DIGITS_SHIFT, 1000),
}


@pytest.mark.parametrize("name", CASES)
def test_estimated_proportions_and_adapted_accuracy(name):
    """Three draws: the batch's proportions within 0.05 of the truth, and the
    adapted labels more accurate on average than the unadapted ones."""
    load, n_train, proportions, n_batch = CASES[name]
    X, y = load()
    before, after = [], []
    for seed in range(3):
        X_train, y_train, X_batch, y_batch, counts = _shifted(
            X, y, n_train, proportions, n_batch, seed
        )
        clf = OTGaussianMixtureClassifier(covariance_type="tied").fit(X_train, y_train)
        adapter = PriorShiftAdapter(clf).fit(X_batch)
        assert np.abs(adapter.proportions_ - counts / counts.sum()).max() < 0.05
        before.append(np.mean(clf.predict(X_batch) == y_batch))
        after.append(np.mean(adapter.predict(X_batch) == y_batch))
    assert np.mean(after) > np.mean(before)


@pytest.mark.parametrize("name", CASES)
def test_imposed_proportions_give_matching_label_counts(name):
    load, n_train, proportions, n_batch = CASES[name]
    X, y = load()
    X_train, y_train, X_batch, y_batch, counts = _shifted(
        X, y, n_train, proportions, n_batch, 0
    )
    clf = OTGaussianMixtureClassifier(covariance_type="tied").fit(X_train, y_train)
    adapter = PriorShiftAdapter(clf, reg_m=np.inf, target_weights=proportions)
    labels = adapter.fit_predict(X_batch)
    found = np.array([np.sum(labels == c) for c in clf.classes_])
    assert np.abs(found - proportions * len(X_batch)).max() <= 1
    assert_allclose(adapter.proportions_, proportions)
    assert np.mean(labels == y_batch) >= np.mean(clf.predict(X_batch) == y_batch)


def test_estimated_weights_are_the_fixed_point_of_the_posteriors():
    """EM on the priors stops where the weights are the mean posteriors
    (Saerens et al.), and the components do not move."""
    X, y = _wine()
    X_train, y_train, X_batch, _, _ = _shifted(X, y, 30, WINE_SHIFT, 300, 1)
    clf = OTGaussianMixtureClassifier(2, covariance_type="diag", random_state=0)
    clf.fit(X_train, y_train)
    adapter = PriorShiftAdapter(clf, tol=1e-12).fit(X_batch)
    assert adapter.converged_
    posteriors = adapter.estimator_.predict_proba(X_batch)
    assert_allclose(posteriors.mean(axis=0), adapter.proportions_, atol=1e-6)
    for name in ("means_", "covariances_", "precisions_cholesky_"):
        assert_array_equal(getattr(adapter.estimator_, name), getattr(clf, name))
    assert not np.allclose(clf.weights_, adapter.weights_)
    # The fitted classifier is left as it was.
    assert_allclose(clf.weights_.sum(), 1.0)
    assert adapter.estimator_ is not clf


def test_penalised_weights_lie_between_estimate_and_target():
    X, y = _wine()
    X_train, y_train, X_batch, _, _ = _shifted(X, y, 30, WINE_SHIFT, 300, 0)
    clf = OTGaussianMixtureClassifier(covariance_type="tied").fit(X_train, y_train)
    uniform = np.full(3, 1 / 3)
    free = PriorShiftAdapter(clf).fit(X_batch).proportions_
    pulled = PriorShiftAdapter(clf, reg_m=0.5, target_weights=uniform).fit(X_batch)
    gap_free = np.abs(free - uniform).sum()
    gap_pulled = np.abs(pulled.proportions_ - uniform).sum()
    assert 0 < gap_pulled < gap_free


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_mixture_weights_on_a_shifted_batch(covariance_type):
    """An unlabelled mixture: its components' weights re-estimated (per
    component), for every covariance type, with sample weights equivalent to
    repeated rows, and in float32."""
    centres = [[0, 0], [5, 0], [0, 5]]
    X, labels = make_blobs(900, centers=centres, random_state=0)
    model = OTGaussianMixture(3, covariance_type=covariance_type, random_state=0)
    model.fit(X)
    rng = np.random.RandomState(1)
    rows = np.concatenate(
        [
            rng.choice(np.flatnonzero(labels == k), n, replace=False)
            for k, n in enumerate([210, 60, 30])
        ]
    )
    adapter = PriorShiftAdapter(model).fit(X[rows])
    component = model.predict(np.array(centres, dtype=float))
    assert_allclose(adapter.proportions_[component], [0.7, 0.2, 0.1], atol=0.05)
    weight = rng.randint(1, 3, len(rows))
    weighted = PriorShiftAdapter(model).fit(X[rows], sample_weight=weight)
    repeated = PriorShiftAdapter(model).fit(np.repeat(X[rows], weight, axis=0))
    assert_allclose(weighted.weights_, repeated.weights_, rtol=1e-6)
    model32 = OTGaussianMixture(3, covariance_type=covariance_type, random_state=0)
    model32.fit(X.astype(np.float32))
    adapted32 = PriorShiftAdapter(model32).fit(X[rows].astype(np.float32))
    assert adapted32.weights_.dtype == np.float32
    assert_allclose(adapted32.weights_, adapter.weights_, atol=1e-3)


def test_bad_input():
    X, y = _wine()
    clf = OTGaussianMixtureClassifier(covariance_type="diag").fit(X, y)
    with pytest.raises(NotFittedError):
        PriorShiftAdapter(OTGaussianMixtureClassifier()).fit(X)
    for target, match in [
        ([0.5, 0.5], "shape"),
        ([0.5, 0.3, 0.1], "sum to 1"),
        ([1.0, 0.0, 0.0], "positive"),
        ([1.2, -0.1, -0.1], "range"),
    ]:
        with pytest.raises(ValueError, match=match):
            PriorShiftAdapter(clf, reg_m=np.inf, target_weights=target).fit(X)
    with pytest.raises(ValueError, match="features"):
        PriorShiftAdapter(clf).fit(X[:, :5])


def test_dask_batch_gives_the_in_memory_weights():
    da = pytest.importorskip("dask.array")
    X, y = _wine()
    X_train, y_train, X_batch, _, _ = _shifted(X, y, 30, WINE_SHIFT, 300, 0)
    clf = OTGaussianMixtureClassifier(covariance_type="tied").fit(X_train, y_train)
    reference = PriorShiftAdapter(clf).fit(X_batch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no cluster: Dask's local scheduler
        ours = PriorShiftAdapter(clf).fit(da.from_array(X_batch, chunks=100))
    assert_allclose(ours.weights_, reference.weights_, rtol=1e-10)
    with pytest.raises(ValueError, match="in memory"):
        PriorShiftAdapter(clf, reg_m=np.inf).fit_predict(
            da.from_array(X_batch, chunks=100)
        )


def test_solver_that_does_not_converge_warns():
    X, y = _wine()
    clf = OTGaussianMixtureClassifier(covariance_type="tied").fit(X, y)
    adapter = PriorShiftAdapter(
        clf,
        reg_m=np.inf,
        target_weights=WINE_SHIFT,
        sinkhorn_max_iter=1,
        sinkhorn_tol=0,
    )
    with pytest.warns(ConvergenceWarning, match="sinkhorn_tol"):
        adapter.fit(X)


@pytest.mark.parametrize("model", ["VEV", "EEI", "VVV"])
def test_mclust_models(model):
    """A mixture of one of mclust's models adapts as the same mixture stored
    as 'full' (its covariances have the full form)."""
    X, _ = load_iris(return_X_y=True)
    mixture = OTGaussianMixture(3, covariance_type=model, random_state=0).fit(X)
    as_full = copy.deepcopy(mixture).set_params(covariance_type="full")
    ours = PriorShiftAdapter(mixture).fit(X[:80])
    theirs = PriorShiftAdapter(as_full).fit(X[:80])
    np.testing.assert_allclose(ours.weights_, theirs.weights_, rtol=1e-12)
    assert not np.allclose(ours.weights_, mixture.weights_)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("reg_m", [0.0, 2.0, np.inf])
def test_gaussian_mixture_is_adapted_as_the_same_mixture(covariance_type, reg_m):
    # scikit-learn's GaussianMixture, and the same mixture (its weights,
    # means and precisions) in an OTGaussianMixture that does not iterate.
    X, y = make_blobs(600, centers=3, n_features=3, random_state=1)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    before = copy.deepcopy(gm.__dict__)
    same = OTGaussianMixture(
        3,
        covariance_type=covariance_type,
        weights_init=gm.weights_,
        means_init=gm.means_,
        precisions_init=gm.precisions_,
        max_iter=0,
    ).fit(X)
    # A batch of the same clusters, in other proportions.
    rng = np.random.RandomState(2)
    rows = [rng.choice(np.flatnonzero(y == k), n) for k, n in enumerate([150, 40, 10])]
    batch = X[np.concatenate(rows)]
    target = [0.5, 0.3, 0.2]
    adapted = PriorShiftAdapter(gm, reg_m=reg_m, target_weights=target).fit(batch)
    expected = PriorShiftAdapter(same, reg_m=reg_m, target_weights=target).fit(batch)
    assert_allclose(adapted.weights_, expected.weights_, rtol=1e-10, atol=1e-12)
    assert adapted.n_iter_ == expected.n_iter_
    assert_allclose(adapted.lower_bound_, expected.lower_bound_, rtol=1e-10)
    # The copy is a GaussianMixture with the batch's weights: its own
    # posteriors are the adapted ones.
    assert type(adapted.estimator_) is GaussianMixture
    assert_allclose(
        adapted.predict_proba(batch), expected.predict_proba(batch), atol=1e-10
    )
    assert_array_equal(adapted.fit_predict(batch), expected.fit_predict(batch))
    # The adapted GaussianMixture itself is left as it was.
    for name, value in before.items():
        assert_array_equal(getattr(gm, name), value)


@pytest.mark.parametrize(
    "estimator",
    [KMeans(2, n_init=1, random_state=0), LogisticRegression(), "search"],
    ids=["KMeans", "LogisticRegression", "search"],
)
def test_other_estimators_are_a_type_error(estimator):
    X, y = make_blobs(60, centers=2, n_features=2, random_state=0)
    if estimator == "search":
        estimator = OTGaussianMixtureSearch(
            n_components=[1, 2], covariance_types=["VVV"]
        ).fit(X)
    else:
        estimator = estimator.fit(X, y)
    with pytest.raises(TypeError, match="OTGaussianMixtureClassifier or sklearn"):
        PriorShiftAdapter(estimator).fit(X)


def test_unfitted_gaussian_mixture_is_not_fitted():
    X, _ = make_blobs(60, centers=2, n_features=2, random_state=0)
    with pytest.raises(NotFittedError):
        PriorShiftAdapter(GaussianMixture(2)).fit(X)
