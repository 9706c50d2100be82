"""OTGaussianMixtureClassifier: labels as constraints on the transport plan.

Anchors: LinearDiscriminantAnalysis and QuadraticDiscriminantAnalysis (every row
labelled, one component per class), the constrained likelihood written out with
SciPy, the exact zeros of the plan, and scikit-learn's common checks.
"""

import warnings
from functools import partial

import numpy as np
import pytest
from conftest import COVARIANCE_TYPES, assert_close_to_scale
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_blobs,
)
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import (
    LinearDiscriminantAnalysis,
    QuadraticDiscriminantAnalysis,
)
from sklearn.exceptions import DataConversionWarning
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_otmix import OTGaussianMixture, OTGaussianMixtureClassifier
from sklearn_otmix._data import check_labels, samples_of
from helpers import plan_of
from helpers import transport_plan

REGIMES = [(1.0, 0.0), (1.0, 1.0), (1.0, np.inf), (0.5, np.inf)]

#: Plain semi-supervised EM, every unlabelled row of weight one: these tests
#: check its fit (the weight's choice, ``unlabelled_weight='auto'``, is
#: tested in test_classifier_shrinkage.py).
PlainEM = partial(OTGaussianMixtureClassifier, unlabelled_weight=1.0)


def _labelled_datasets():
    X, y = load_digits(return_X_y=True)
    return {
        "iris": load_iris(return_X_y=True),
        "wine": load_wine(return_X_y=True),
        "breast_cancer": (
            StandardScaler().fit_transform(load_breast_cancer().data),
            load_breast_cancer().target,
        ),
        "digits": (PCA(n_components=20, random_state=0).fit_transform(X), y),
    }


LABELLED = _labelled_datasets()


def _hide_labels(y, fraction, seed=0):
    """``y`` with all but ``fraction`` of the rows set to -1, at least two
    labelled rows per class."""
    rng = np.random.RandomState(seed)
    kept = rng.rand(y.shape[0]) < fraction
    for label in np.unique(y):
        kept[np.flatnonzero(y == label)[:2]] = True
    return np.where(kept, y, -1)


def _semi_supervised_wine(fraction=0.2):
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return X, y, _hide_labels(y, fraction)


def _mixture_log_prob(model, X):
    """``log pi_k + log N(x_i; mu_k, Sigma_k)`` with SciPy, from the fitted
    attributes."""
    covariances = model.covariances_
    K, d = model.means_.shape
    if model.covariance_type == "tied":
        covariances = np.broadcast_to(covariances, (K, d, d))
    elif model.covariance_type == "diag":
        covariances = [np.diag(c) for c in covariances]
    elif model.covariance_type == "spherical":
        covariances = [c * np.eye(d) for c in covariances]
    return np.column_stack(
        [
            np.log(w) + multivariate_normal(m, c).logpdf(X)
            for w, m, c in zip(model.weights_, model.means_, covariances, strict=True)
        ]
    )


# --------------------------------------------------------------------------------
# The anchors: LDA and QDA


@pytest.mark.parametrize("name", LABELLED)
def test_tied_with_every_row_labelled_is_lda(name):
    X, y = LABELLED[name]
    lda = LinearDiscriminantAnalysis(solver="lsqr", store_covariance=True).fit(X, y)
    ours = PlainEM(covariance_type="tied", reg_covar=0).fit(X, y)
    assert_array_equal(ours.classes_, lda.classes_)
    assert_close_to_scale(ours.means_, lda.means_, 1e-8, "means")
    assert_close_to_scale(ours.covariances_, lda.covariance_, 1e-8, "covariance")
    assert_allclose(ours.weights_, lda.priors_, rtol=1e-12)
    assert_allclose(ours.predict_proba(X), lda.predict_proba(X), atol=1e-8)
    assert_array_equal(ours.predict(X), lda.predict(X))
    # The plan of a fully labelled fit does not depend on the parameters.
    assert ours.converged_ and ours.n_iter_ == 2


@pytest.mark.parametrize("name", ["iris", "wine", "digits"])
def test_full_with_every_row_labelled_is_qda(name):
    X, y = LABELLED[name]
    qda = QuadraticDiscriminantAnalysis(store_covariance=True).fit(X, y)
    ours = PlainEM(covariance_type="full", reg_covar=0).fit(X, y)
    assert_close_to_scale(ours.means_, qda.means_, 1e-8, "means")
    # QDA normalises each class's scatter by n_k in scikit-learn 1.9, by n_k - 1
    # in earlier versions; ours is the maximum-likelihood n_k. The ratio of the
    # first entries says which, and then every entry must follow.
    counts = np.bincount(np.searchsorted(qda.classes_, y))
    ratio = qda.covariance_[0][0, 0] / ours.covariances_[0][0, 0]
    normalisations = [np.ones(len(counts)), counts / (counts - 1)]
    matches = [
        factors
        for factors in normalisations
        if np.isclose(ratio, factors[0], rtol=1e-9)
    ]
    assert len(matches) == 1, ratio
    (factors,) = matches
    for k, factor in enumerate(factors):
        assert_close_to_scale(
            ours.covariances_[k] * factor, qda.covariance_[k], 1e-8, f"class {k}"
        )
    # With QDA's normalisation in our mixture, the same posteriors.
    ours.covariances_ = ours.covariances_ * factors[:, None, None]
    ours.precisions_ = np.linalg.inv(ours.covariances_)
    # Upper-triangular factors U with U U^T = precision, as scikit-learn's.
    ours.precisions_cholesky_ = np.linalg.inv(
        np.linalg.cholesky(ours.covariances_)
    ).transpose(0, 2, 1)
    assert_allclose(ours.predict_proba(X), qda.predict_proba(X), atol=1e-8)
    assert_array_equal(ours.predict(X), qda.predict(X))


def test_lower_bound_is_the_constrained_log_likelihood():
    """-F at reg=1, reg_m=0: log p(x_i) for unlabelled rows, the log of their
    class's components' share for labelled ones (mclust's ``MclustSSC``)."""
    X, _, y = _semi_supervised_wine()
    model = PlainEM(2, covariance_type="diag", max_iter=3, tol=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    # The bound of the last E-step is at the parameters before the last
    # M-step: refit with one iteration less and read them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        before = PlainEM(
            2, covariance_type="diag", max_iter=2, tol=0, random_state=0
        ).fit(X, y)
    log_prob = _mixture_log_prob(before, X)
    allowed = (y[:, None] == -1) | (before.component_class_[None, :] == y[:, None])
    expected = logsumexp(np.where(allowed, log_prob, -np.inf), axis=1).mean()
    assert_allclose(model.lower_bound_, expected, rtol=1e-10)


# --------------------------------------------------------------------------------
# The plan


def _plan(model, X, y):
    """The E-step's plan of a fitted classifier at its parameters."""
    classes, labels = check_labels(y)
    per_class = np.bincount(model.component_class_)
    samples = samples_of(
        model, X, reset=False, n_components=model.n_components_, labels=labels
    )
    problem, _ = model._problem(samples, classes, per_class)
    return plan_of(samples, model._mixture(), problem)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize(("reg", "reg_m"), REGIMES)
def test_plan_is_exactly_zero_off_the_class(covariance_type, reg, reg_m):
    X, _, y = _semi_supervised_wine()
    # A labelled row of class 0 placed in the middle of class 2.
    X = np.vstack([X, X[y == 2].mean(axis=0)])
    y = np.append(y, 0)
    model = PlainEM(
        2, covariance_type=covariance_type, reg=reg, reg_m=reg_m, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    plan = _plan(model, X, y)
    forbidden = (y[:, None] != -1) & (model.component_class_[None, :] != y[:, None])
    assert np.all(plan[forbidden] == 0.0)
    assert_allclose(plan.sum(axis=1), 1.0, rtol=1e-12)
    # Unconstrained, the far row would go to class 2: the constraint moved it.
    assert model.predict(X[-1:])[0] == 2
    assert plan[-1, model.component_class_ == 0].sum() == pytest.approx(1.0)
    if reg_m == np.inf:
        assert_allclose(plan.sum(axis=0) / len(X), model.weights_, atol=1e-8)


# --------------------------------------------------------------------------------
# Several components per class, semi-supervised EM


def test_several_components_per_class_fit_multimodal_classes():
    """Two blobs per class on the corners of a square (exclusive or): one
    Gaussian per class with a shared covariance (LDA) cannot separate them, two
    can (Hastie and Tibshirani's mixture discriminant analysis)."""
    centres = [[0, 0], [6, 6], [0, 6], [6, 0]]
    X, blob = make_blobs(800, centers=centres, cluster_std=1.0, random_state=0)
    y = blob // 2  # class 0: blobs (0, 0) and (6, 6); class 1: the other two
    params = {"covariance_type": "tied", "random_state": 0}
    one = cross_val_score(PlainEM(1, **params), X, y, cv=5)
    two = cross_val_score(PlainEM(2, **params), X, y, cv=5)
    assert two.mean() > 0.95
    assert two.mean() > one.mean() + 0.2


def test_unlabelled_rows_help_when_labels_are_few():
    """Well separated classes, two labelled rows each: semi-supervised EM
    recovers the classes, the labelled rows alone do not pin them down."""
    X, y = make_blobs(600, centers=3, n_features=4, cluster_std=1.0, random_state=3)
    accuracy = {"semi": [], "labelled": []}
    for seed in range(5):
        rng = np.random.RandomState(seed)
        labelled = np.concatenate(
            [rng.choice(np.flatnonzero(y == c), 2, replace=False) for c in range(3)]
        )
        partial = np.full_like(y, -1)
        partial[labelled] = y[labelled]
        unlabelled = partial == -1
        model = PlainEM(covariance_type="diag", random_state=0)
        semi = model.fit(X, partial).score(X[unlabelled], y[unlabelled])
        only = model.fit(X[labelled], y[labelled]).score(X[unlabelled], y[unlabelled])
        accuracy["semi"].append(semi)
        accuracy["labelled"].append(only)
    assert np.mean(accuracy["semi"]) > 0.99
    assert np.mean(accuracy["semi"]) > np.mean(accuracy["labelled"]) + 0.02


def test_initial_components_start_on_their_labelled_rows():
    """With max_iter=0 the model is the initial one: each component's mean is
    that of its class's labelled rows; its weight and its covariance about that
    mean count its labelled rows and every unlabelled row spread evenly."""
    X, _, y = _semi_supervised_wine()
    model = PlainEM(covariance_type="diag", max_iter=0, reg_covar=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    K = model.n_components_
    unlabelled = y == -1
    for k in range(K):
        rows = y == model.classes_[model.component_class_[k]]
        mean = X[rows].mean(axis=0)
        mass = rows.sum() + unlabelled.sum() / K
        scatter = ((X[rows] - mean) ** 2).sum(0)
        scatter += ((X[unlabelled] - mean) ** 2).sum(0) / K
        assert_allclose(model.means_[k], mean, rtol=1e-12)
        assert_allclose(model.covariances_[k], scatter / mass, rtol=1e-10)
        assert_allclose(model.weights_[k], mass / len(X), rtol=1e-12)


def test_several_components_of_a_class_start_apart():
    """Four blobs in a cross, two per class, five labelled rows each: the
    components start on k-means centres of their class's labelled rows, and
    the fit finds one component per blob (the unlabelled rows spread evenly
    would start every component near the mean of the data)."""
    centres = np.array([[-3, 0], [3, 0], [0, -3], [0, 3]], dtype=float)
    found = 0
    for seed in range(5):
        X, blob = make_blobs(240, centers=centres, cluster_std=0.8, random_state=seed)
        rng = np.random.RandomState(seed)
        labelled = np.concatenate(
            [rng.choice(np.flatnonzero(blob == b), 5, replace=False) for b in range(4)]
        )
        y = np.full(len(X), -1)
        y[labelled] = blob[labelled] // 2
        model = PlainEM(2, random_state=0).fit(X, y)
        distance = np.linalg.norm(centres[:, None] - model.means_[None], axis=2)
        found += np.all(distance.min(axis=1) < 0.5)
    assert found == 5


# --------------------------------------------------------------------------------
# Every regime, sample weights, restarts


@pytest.mark.parametrize(("reg", "reg_m"), REGIMES)
def test_integer_sample_weights_repeat_rows(reg, reg_m):
    X, _, y = _semi_supervised_wine(0.3)
    weight = np.random.RandomState(0).randint(0, 3, len(X))
    weight[np.flatnonzero(y >= 0)[:6]] = 1  # keep labelled rows of every class
    params = {"covariance_type": "diag", "reg": reg, "reg_m": reg_m, "tol": 1e-8}
    weighted = PlainEM(**params).fit(X, y, sample_weight=weight)
    rows = np.repeat(np.arange(len(X)), weight)
    repeated = PlainEM(**params).fit(X[rows], y[rows])
    assert weighted.n_iter_ == repeated.n_iter_
    for name in ("weights_", "means_", "covariances_"):
        assert_close_to_scale(
            getattr(weighted, name), getattr(repeated, name), 1e-7, name
        )


def test_n_init_keeps_the_best_and_warm_start_continues():
    X, _, y = _semi_supervised_wine()
    params = {"n_components_per_class": 2, "covariance_type": "diag"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = PlainEM(**params, random_state=0).fit(X, y)
        best = PlainEM(**params, n_init=3, random_state=0).fit(X, y)
    # The first of the three runs is the one run: the best is no worse.
    assert best.lower_bound_ >= one.lower_bound_ - 1e-12
    model = PlainEM(**params, max_iter=2, warm_start=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
        first = model.lower_bound_
        model.fit(X, y)
    assert model.lower_bound_ >= first - 1e-12
    model.set_params(n_components_per_class=1)
    with pytest.raises(ValueError, match="warm_start"):
        model.fit(X, y)


def test_known_class_proportions_with_reg_m_inf():
    X, y, partial = _semi_supervised_wine(0.1)
    truth = np.bincount(y) / len(y)
    model = PlainEM(covariance_type="diag", reg_m=np.inf, target_weights=truth).fit(
        X, partial
    )
    assert_allclose(model.weights_, truth)
    assert_allclose(model.predict_proba(X).sum(axis=1), 1.0)


def test_default_target_is_the_labelled_class_shares():
    X, _, y = _semi_supervised_wine(0.2)
    model = PlainEM(
        [1, 2, 1], covariance_type="diag", reg_m=np.inf, random_state=0
    ).fit(X, y)
    shares = np.bincount(y[y >= 0]) / np.sum(y >= 0)
    assert_allclose(model.weights_, np.repeat(shares / [1, 2, 1], [1, 2, 1]))
    assert_array_equal(model.component_class_, [0, 1, 1, 2])


# --------------------------------------------------------------------------------
# Predictions


def test_posteriors_are_the_mixture_posteriors_summed_over_each_class():
    X, _, y = _semi_supervised_wine()
    model = PlainEM([2, 1, 2], covariance_type="full", random_state=0).fit(X, y)
    log_prob = _mixture_log_prob(model, X)
    joint = np.column_stack(
        [
            logsumexp(log_prob[:, model.component_class_ == c], axis=1)
            for c in model.classes_
        ]
    )
    expected = joint - logsumexp(joint, axis=1, keepdims=True)
    assert_allclose(model.predict_log_proba(X), expected, rtol=1e-9, atol=1e-9)
    assert_allclose(model.predict_proba(X), np.exp(expected), atol=1e-12)
    assert_allclose(model.score_samples(X), logsumexp(log_prob, axis=1), rtol=1e-10)
    assert_array_equal(model.predict(X), model.classes_[expected.argmax(axis=1)])


def test_log_proba_stays_finite_where_the_probability_underflows():
    X = np.array([[0.0], [0.1], [-0.1], [50.0], [50.1], [49.9]])
    y = np.array([0, 0, 0, 1, 1, 1])
    model = PlainEM().fit(X, y)
    log_proba = model.predict_log_proba(np.array([[0.0]]))
    assert model.predict_proba(np.array([[0.0]]))[0, 1] == 0.0
    assert np.isfinite(log_proba).all() and log_proba[0, 1] < -1000


def test_string_labels_and_the_unlabelled_marker():
    X, y, partial = _semi_supervised_wine()
    names = np.array(["barolo", "grignolino", "barbera"], dtype=object)
    labels = np.where(partial >= 0, names[np.maximum(partial, 0)], -1)
    model = PlainEM(covariance_type="diag").fit(X, labels)
    reference = PlainEM(covariance_type="diag").fit(X, partial)
    assert_array_equal(model.classes_, np.sort(names.astype(str)).astype(object))
    order = np.searchsorted(np.sort(names.astype(str)), names.astype(str))
    assert_allclose(model.means_[order], reference.means_)
    assert_array_equal(model.predict(X), names[reference.predict(X)])


def test_minus_one_is_a_class_when_only_one_other_label():
    X, y = make_blobs(60, centers=2, random_state=0)
    labels = np.where(y == 0, -1, 1)
    model = PlainEM().fit(X, labels)
    reference = PlainEM().fit(X, y)
    assert_array_equal(model.classes_, [-1, 1])
    assert_allclose(model.means_, reference.means_)
    assert_array_equal(model.predict(X), np.where(reference.predict(X) == 0, -1, 1))


# --------------------------------------------------------------------------------
# Errors, one by one


@pytest.fixture
def wine_partial():
    X, _, y = _semi_supervised_wine()
    return X, y


@pytest.mark.parametrize(
    ("y", "error", "match"),
    [
        (lambda y: y[:-1], ValueError, "y should have one entry per row"),
        (lambda y: np.column_stack([y, y]), ValueError, "1d array"),
        (lambda y: np.where(y == 1, np.nan, y), ValueError, "NaN"),
        (lambda y: y + 0.5, ValueError, "Unknown label type"),
        (lambda y: np.full_like(y, -1), ValueError, "use OTGaussianMixture"),
        (lambda y: None, ValueError, "requires y"),
    ],
    ids=["length", "2d", "nan", "continuous", "unlabelled", "none"],
)
def test_bad_labels(wine_partial, y, error, match):
    X, labels = wine_partial
    with pytest.raises(error, match=match):
        PlainEM().fit(X, y(labels.astype(float)))


def test_column_labels_warn_and_fit(wine_partial):
    X, y = wine_partial
    with pytest.warns(DataConversionWarning):
        model = PlainEM(covariance_type="diag").fit(X, y[:, None])
    reference = PlainEM(covariance_type="diag").fit(X, y)
    assert_allclose(model.means_, reference.means_)


def test_class_without_weighted_labelled_rows(wine_partial):
    X, y = wine_partial
    weight = np.where(y == 1, 0.0, 1.0)
    with pytest.raises(ValueError, match="class 1 has no labelled row"):
        PlainEM().fit(X, y, sample_weight=weight)


def test_more_components_than_labelled_rows(wine_partial):
    X, y = wine_partial
    n_rows = int(np.sum(y == 2))
    with pytest.raises(ValueError, match=f"class 2 has {n_rows} labelled row"):
        PlainEM([1, 1, n_rows + 1]).fit(X, y)


def test_components_per_class_of_the_wrong_length(wine_partial):
    X, y = wine_partial
    with pytest.raises(ValueError, match="one number per class: y has 3"):
        PlainEM([1, 2]).fit(X, y)
    with pytest.raises(ValueError, match="positive integers"):
        PlainEM([1, 0, 1]).fit(X, y)


def test_fixed_weights_that_cannot_take_the_labelled_rows():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="cannot place them"):
        PlainEM(reg_m=np.inf, target_weights=[0.5, 0.25, 0.25]).fit(X, y)


def test_labels_are_not_taken_at_predict_time(wine_partial):
    X, y = wine_partial
    model = PlainEM(covariance_type="diag").fit(X, y)
    with pytest.raises(TypeError):
        model.predict(X, y)
    with pytest.raises(ValueError, match="unlabelled"):
        model.score(X, y)


# --------------------------------------------------------------------------------
# scikit-learn's checks, and the mixture's own estimator alongside


@parametrize_with_checks(
    [
        OTGaussianMixtureClassifier(),
        OTGaussianMixtureClassifier(reg_m=np.inf),
        OTGaussianMixtureClassifier(reg_m=1.0, reg=0.5),
        OTGaussianMixtureClassifier(covariance_type="diag"),
    ]
)
def test_scikit_learn_common_checks(estimator, check):
    check(estimator)


def test_mixture_of_one_class_is_the_mixture():
    """One class, every row labelled: the classifier is OTGaussianMixture."""
    X, _ = make_blobs(300, centers=3, random_state=0)
    ours = PlainEM(3, covariance_type="diag", random_state=0)
    ours.fit(X, np.zeros(len(X), dtype=int))
    mixture = OTGaussianMixture(3, covariance_type="diag", random_state=0).fit(X)
    assert_allclose(ours.means_, mixture.means_, rtol=1e-10)
    assert_allclose(ours.score_samples(X), mixture.score_samples(X), rtol=1e-10)


@pytest.mark.parametrize(("reg", "reg_m"), REGIMES)
def test_infinite_costs_give_exact_zeros_in_every_solver(reg, reg_m):
    """The solvers on a cost matrix with forbidden entries: zeros exactly
    there, the row marginal exact, and (balanced) the column marginal the
    target; the same plan as the problem restricted to the allowed entries
    solved with a huge finite cost instead."""
    rng = np.random.RandomState(0)
    cost = rng.uniform(0, 5, size=(40, 4))
    forbidden = rng.rand(40, 4) < 0.4
    forbidden[np.arange(40), rng.randint(0, 4, 40)] = False  # one allowed per row
    mass = rng.uniform(0.5, 1.5, 40)
    weights = np.full(4, 0.25)
    solver = {"max_iter": 5000, "tol": 1e-12, "target_weights": weights}
    plan = transport_plan(
        np.where(forbidden, np.inf, cost), mass, weights, reg=reg, reg_m=reg_m, **solver
    ).plan
    assert np.all(plan[forbidden] == 0.0)
    assert_allclose(plan.sum(axis=1), mass, rtol=1e-12)
    if reg_m == np.inf:
        assert_allclose(plan.sum(axis=0) / mass.sum(), weights, atol=1e-10)
    # A cost of 1e3 / reg: its weight e^-1000 is below double precision's range.
    finite = transport_plan(
        np.where(forbidden, 1e3 / reg, cost),
        mass,
        weights,
        reg=reg,
        reg_m=reg_m,
        **solver,
    ).plan
    assert_allclose(plan, finite, rtol=1e-8, atol=1e-300)


def test_grid_search_scores_accuracy():
    """In GridSearchCV the classifier is scored by accuracy (ClassifierMixin),
    and its components per class are a parameter like any other."""
    X, y = load_iris(return_X_y=True)
    search = GridSearchCV(
        PlainEM(random_state=0),
        {"covariance_type": ["full", "tied"], "n_components_per_class": [1, 2]},
        cv=3,
    ).fit(X, y)
    best = search.best_estimator_
    assert search.best_score_ > 0.9
    assert_allclose(
        search.cv_results_["mean_test_score"][search.best_index_],
        cross_val_score(best, X, y, cv=3).mean(),
    )
