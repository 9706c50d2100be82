"""The classifier's shrinkage and the unlabelled rows' weight.

Anchors: LinearDiscriminantAnalysis and QuadraticDiscriminantAnalysis with
shrinkage, a covariance estimator or QDA's reg_param (every row labelled);
Ledoit and Wolf's coefficient written out row by row here for soft plans; the
labelled rows alone (``unlabelled_weight=0``) and scaled sample weights.
"""

import warnings

import numpy as np
import pytest
from conftest import assert_close_to_scale
from numpy.testing import assert_allclose
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.base import BaseEstimator
from sklearn.covariance import OAS, LedoitWolf, shrunk_covariance
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
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from sklearn_otmix import OTGaussianMixtureClassifier
from sklearn_otmix._classifier import BRIER_TIE, UNLABELLED_WEIGHTS


def _datasets():
    digits = load_digits()
    blobs, blob_labels = make_blobs(
        400, n_features=6, centers=3, cluster_std=[1.0, 2.5, 0.5], random_state=3
    )
    # Correlated features, so that the shrinkage has something to undo.
    blobs = blobs @ np.random.RandomState(0).normal(size=(6, 6))
    return {
        "iris": load_iris(return_X_y=True),
        "wine": (
            StandardScaler().fit_transform(load_wine().data),
            load_wine().target,
        ),
        "breast_cancer": (
            StandardScaler().fit_transform(load_breast_cancer().data),
            load_breast_cancer().target,
        ),
        "digits": (
            PCA(n_components=10, random_state=0).fit_transform(digits.data),
            digits.target,
        ),
        "blobs": (blobs, blob_labels),
    }


DATA = _datasets()
SHRINKAGES = [0.0, 0.3, 1.0, "auto"]


def _hidden(y, fraction, seed=0):
    """``y`` with about ``1 - fraction`` of the rows unlabelled (-1), three
    labelled rows per class at least."""
    rng = np.random.RandomState(seed)
    kept = rng.rand(y.shape[0]) < fraction
    for label in np.unique(y):
        kept[np.flatnonzero(y == label)[:3]] = True
    return np.where(kept, y, -1)


# --------------------------------------------------------------------------------
# Every row labelled: LDA and QDA


@pytest.mark.parametrize("shrinkage", SHRINKAGES)
@pytest.mark.parametrize("name", DATA)
def test_tied_shrinkage_is_lda_lsqr(name, shrinkage):
    X, y = DATA[name]
    lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage=shrinkage).fit(X, y)
    ours = OTGaussianMixtureClassifier(
        covariance_type="tied", shrinkage=shrinkage, reg_covar=0.0
    ).fit(X, y)
    assert_close_to_scale(ours.covariances_, lda.covariance_, 1e-8, "covariance")
    assert_allclose(ours.means_, lda.means_, rtol=1e-10, atol=1e-12)
    assert_allclose(ours.predict_proba(X), lda.predict_proba(X), atol=1e-8)
    assert_allclose(
        ours.predict_log_proba(X)[lda.predict_proba(X) > 1e-6],
        lda.predict_log_proba(X)[lda.predict_proba(X) > 1e-6],
        atol=1e-7,
    )


@pytest.mark.parametrize("shrinkage", SHRINKAGES)
@pytest.mark.parametrize("name", ["iris", "wine", "blobs"])
def test_full_shrinkage_is_qda_eigen(name, shrinkage):
    X, y = DATA[name]
    qda = QuadraticDiscriminantAnalysis(
        solver="eigen", shrinkage=shrinkage, store_covariance=True
    ).fit(X, y)
    ours = OTGaussianMixtureClassifier(
        covariance_type="full", shrinkage=shrinkage, reg_covar=0.0
    ).fit(X, y)
    assert_close_to_scale(ours.covariances_, np.stack(qda.covariance_), 1e-8)
    assert_allclose(ours.predict_proba(X), qda.predict_proba(X), atol=1e-8)


def test_integer_sample_weights_are_repeated_rows():
    """Weighted Ledoit-Wolf: integer weights are repeated rows (the mass in
    the place of the number of rows)."""
    X, y = DATA["wine"]
    counts = np.random.RandomState(0).randint(1, 4, size=y.shape[0])
    lda = LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto").fit(
        np.repeat(X, counts, axis=0), np.repeat(y, counts)
    )
    ours = OTGaussianMixtureClassifier(
        covariance_type="tied", shrinkage="auto", reg_covar=0.0
    ).fit(X, y, sample_weight=counts)
    assert_close_to_scale(ours.covariances_, lda.covariance_, 1e-8)


class RegParamCovariance(BaseEstimator):
    """QDA's ``reg_param``: ``(1 - r) S + r I``, ``S`` the maximum-likelihood
    covariance."""

    def __init__(self, reg_param=0.0):
        self.reg_param = reg_param

    def fit(self, X):
        scatter = np.cov(X, rowvar=False, bias=True)
        r = self.reg_param
        self.covariance_ = (1 - r) * scatter + r * np.eye(X.shape[1])
        return self


@pytest.mark.parametrize("reg_param", [0.05, 0.5])
@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer"])
def test_qda_reg_param_through_a_covariance_estimator(name, reg_param):
    X, y = DATA[name]
    qda = QuadraticDiscriminantAnalysis(reg_param=reg_param).fit(X, y)
    ours = OTGaussianMixtureClassifier(
        covariance_type="full",
        covariance_estimator=RegParamCovariance(reg_param),
        reg_covar=0.0,
    ).fit(X, y)
    assert_allclose(ours.predict_proba(X), qda.predict_proba(X), atol=1e-8)
    assert np.isfinite(ours.lower_bound_)


@pytest.mark.parametrize("estimator", [OAS(), LedoitWolf()])
def test_covariance_estimator_is_lda_and_qda(estimator):
    X, y = DATA["wine"]
    lda = LinearDiscriminantAnalysis(solver="lsqr", covariance_estimator=estimator).fit(
        X, y
    )
    tied = OTGaussianMixtureClassifier(
        covariance_type="tied", covariance_estimator=estimator, reg_covar=0.0
    ).fit(X, y)
    assert_close_to_scale(tied.covariances_, lda.covariance_, 1e-10)
    assert_allclose(tied.predict_proba(X), lda.predict_proba(X), atol=1e-8)
    qda = QuadraticDiscriminantAnalysis(
        solver="eigen", covariance_estimator=estimator
    ).fit(X, y)
    full = OTGaussianMixtureClassifier(
        covariance_type="full", covariance_estimator=estimator, reg_covar=0.0
    ).fit(X, y)
    assert_allclose(full.predict_proba(X), qda.predict_proba(X), atol=1e-8)
    # The lower bound is the labelled log-likelihood at these parameters.
    log_prob = [
        np.log(w) + multivariate_normal(m, c).logpdf(X)
        for w, m, c in zip(full.weights_, full.means_, full.covariances_, strict=True)
    ]
    expected = np.mean(np.column_stack(log_prob)[np.arange(len(y)), y])
    assert_allclose(full.lower_bound_, expected, rtol=1e-10)


def test_diag_and_spherical_shrinkage():
    """A float pulls a diagonal toward its mean; 'auto' (whose target is the
    diagonal) and any shrinkage of a spherical variance change nothing."""
    X, y = DATA["wine"]
    base = {"reg_covar": 0.0}
    for form in ("diag", "spherical"):
        plain = OTGaussianMixtureClassifier(covariance_type=form, **base).fit(X, y)
        auto = OTGaussianMixtureClassifier(
            covariance_type=form, shrinkage="auto", **base
        ).fit(X, y)
        assert_allclose(auto.covariances_, plain.covariances_, rtol=1e-12)
    plain = OTGaussianMixtureClassifier(covariance_type="diag", **base).fit(X, y)
    half = OTGaussianMixtureClassifier(
        covariance_type="diag", shrinkage=0.5, **base
    ).fit(X, y)
    expected = 0.5 * plain.covariances_ + 0.5 * plain.covariances_.mean(axis=1)[:, None]
    assert_allclose(half.covariances_, expected, rtol=1e-12)
    spherical = OTGaussianMixtureClassifier(
        covariance_type="spherical", shrinkage=0.7, **base
    ).fit(X, y)
    plain = OTGaussianMixtureClassifier(covariance_type="spherical", **base).fit(X, y)
    assert_allclose(spherical.covariances_, plain.covariances_, rtol=1e-12)


# --------------------------------------------------------------------------------
# Semi-supervised: the shrunk M-step in every iteration


def _plan(model, X, y):
    """The E-step's plan of a fitted classifier (``reg_m = 0``): each row's
    posterior over the components its label allows."""
    K, d = model.means_.shape
    covariances = model.covariances_
    if model.covariance_type == "tied":
        covariances = np.broadcast_to(covariances, (K, d, d))
    log_prob = np.column_stack(
        [
            np.log(w) + multivariate_normal(m, c).logpdf(X)
            for w, m, c in zip(model.weights_, model.means_, covariances, strict=True)
        ]
    )
    allowed = (y[:, None] == -1) | (model.component_class_[None, :] == y[:, None])
    log_prob = np.where(allowed, log_prob, -np.inf)
    return np.exp(log_prob - logsumexp(log_prob, axis=1, keepdims=True))


def _weighted_ledoit_wolf(X, weights):
    """Ledoit and Wolf's shrunk covariance of rows with real weights, row by
    row: the rows standardised by their weighted mean and variances, the
    total weight in the place of the number of rows."""
    n = weights.sum()
    mean = weights @ X / n
    centred = X - mean
    covariance = (centred * weights[:, None]).T @ centred / n
    scale = np.sqrt(np.diag(covariance))
    Z = centred / scale
    d = X.shape[1]
    correlation = covariance / np.outer(scale, scale)
    mu = np.trace(correlation) / d
    fourth = sum(w * np.outer(z**2, z**2) for w, z in zip(weights, Z, strict=True))
    beta = (fourth.sum() / n - np.sum(correlation**2)) / (d * n)
    delta = np.sum((correlation - mu * np.eye(d)) ** 2) / d
    s = min(beta, delta) / delta
    shrunk = (1 - s) * correlation + s * mu * np.eye(d)
    return shrunk * np.outer(scale, scale)


@pytest.mark.parametrize("shrinkage", [0.4, "auto"])
@pytest.mark.parametrize("form", ["full", "tied"])
def test_semi_supervised_m_step_is_shrunk(form, shrinkage):
    """The last M-step's covariances are the shrunk estimates of the plan of
    the fit one iteration shorter, as written out here."""
    X, y_true = DATA["wine"]
    y = _hidden(y_true, 0.2)
    params = {
        "covariance_type": form,
        "shrinkage": shrinkage,
        "unlabelled_weight": 1.0,
        "tol": 0.0,
        "random_state": 0,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = OTGaussianMixtureClassifier(max_iter=3, **params).fit(X, y)
        before = OTGaussianMixtureClassifier(max_iter=2, **params).fit(X, y)
    plan = _plan(before, X, y)
    reg = before.reg_covar
    d = X.shape[1]
    estimates = []
    for k in range(plan.shape[1]):
        if shrinkage == "auto":
            estimates.append(_weighted_ledoit_wolf(X, plan[:, k]))
        else:
            mean = plan[:, k] @ X / plan[:, k].sum()
            centred = X - mean
            mle = (centred * plan[:, k, None]).T @ centred / plan[:, k].sum()
            estimates.append(shrunk_covariance(mle, shrinkage))
    estimates = np.stack(estimates)
    if form == "tied":
        share = plan.sum(axis=0) / plan.sum()
        estimates = np.tensordot(share, estimates, axes=1)
    assert_close_to_scale(model.covariances_, estimates + reg * np.eye(d), 1e-7)


def test_shrinkage_helps_where_classes_have_few_rows():
    """Wine with three labelled rows per class and the rest unlabelled: the
    shrunk semi-supervised fits stay well conditioned and accurate."""
    X, y_true = DATA["wine"]
    y = _hidden(y_true, 0.0)
    unlabelled = y == -1
    for shrinkage in ("auto", 0.2):
        model = OTGaussianMixtureClassifier(
            covariance_type="full",
            shrinkage=shrinkage,
            unlabelled_weight=1.0,
            random_state=0,
        ).fit(X, y)
        accuracy = np.mean(model.predict(X[unlabelled]) == y_true[unlabelled])
        assert accuracy > 0.9, (shrinkage, accuracy)
        assert np.all(np.linalg.eigvalsh(model.covariances_) > 1e-3)


# --------------------------------------------------------------------------------
# The unlabelled rows' weight


@pytest.mark.parametrize("form", ["tied", "diag"])
def test_weight_zero_is_the_labelled_rows_alone(form):
    X, y_true = DATA["breast_cancer"]
    y = _hidden(y_true, 0.05)
    labelled = y != -1
    ours = OTGaussianMixtureClassifier(
        covariance_type=form, unlabelled_weight=0.0, random_state=0
    ).fit(X, y)
    alone = OTGaussianMixtureClassifier(covariance_type=form, random_state=0).fit(
        X[labelled], y[labelled]
    )
    for name in ("weights_", "means_", "covariances_"):
        assert_allclose(getattr(ours, name), getattr(alone, name), rtol=1e-10)
    assert ours.unlabelled_weight_ == 0.0 and ours.unlabelled_weight_cv_ is None


def test_weight_scales_the_unlabelled_sample_weights():
    X, y_true = DATA["wine"]
    y = _hidden(y_true, 0.2)
    weights = np.random.RandomState(1).uniform(0.5, 2.0, size=y.shape[0])
    ours = OTGaussianMixtureClassifier(
        covariance_type="tied", unlabelled_weight=0.3, random_state=0
    ).fit(X, y, sample_weight=weights)
    scaled = np.where(y == -1, 0.3, 1.0) * weights
    plain = OTGaussianMixtureClassifier(
        covariance_type="tied", unlabelled_weight=1.0, random_state=0
    ).fit(X, y, sample_weight=scaled)
    for name in ("weights_", "means_", "covariances_"):
        assert_allclose(getattr(ours, name), getattr(plain, name), rtol=1e-10)


def test_auto_without_unlabelled_rows_is_the_plain_fit():
    X, y = DATA["iris"]
    auto = OTGaussianMixtureClassifier(random_state=0).fit(X, y)
    one = OTGaussianMixtureClassifier(unlabelled_weight=1.0, random_state=0).fit(X, y)
    assert auto.unlabelled_weight_ == 1.0 and auto.unlabelled_weight_cv_ is None
    assert_allclose(auto.covariances_, one.covariances_, rtol=0)


def test_auto_picks_the_best_held_out_brier_score():
    """The table's choice is its rule: the least Brier score up to the tie,
    the largest weight among ties; the final fit is that weight's fit."""
    X, y_true = DATA["breast_cancer"]
    y = _hidden(y_true, 0.05, seed=2)
    model = OTGaussianMixtureClassifier(covariance_type="tied", random_state=0).fit(
        X, y
    )
    table = model.unlabelled_weight_cv_
    assert_allclose(table["unlabelled_weight"], UNLABELLED_WEIGHTS)
    brier = table["brier"]
    assert np.all((brier >= 0) & (brier <= 2)) and np.all(
        (table["accuracy"] >= 0) & (table["accuracy"] <= 1)
    )
    chosen = max(
        w for w, b in zip(UNLABELLED_WEIGHTS, brier) if b <= brier.min() + BRIER_TIE
    )
    assert model.unlabelled_weight_ == chosen
    again = OTGaussianMixtureClassifier(
        covariance_type="tied", unlabelled_weight=chosen, random_state=0
    ).fit(X, y)
    assert_allclose(model.means_, again.means_, rtol=1e-12)
    # The same seed, the same folds and choice.
    twin = OTGaussianMixtureClassifier(covariance_type="tied", random_state=0).fit(X, y)
    assert_allclose(twin.unlabelled_weight_cv_["brier"], brier, rtol=1e-12)


def _misleading(seed):
    """Two classes that are not Gaussian: each a pair of blobs 8 apart along
    the second axis, the classes 3 apart along the first. Spherical
    components fitted to the unlabelled rows split the data along the second
    axis, not by class."""
    rng = np.random.RandomState(seed)
    centres = np.array([[0.0, 0.0], [0.0, 8.0], [3.0, 0.0], [3.0, 8.0]])
    X = np.vstack([rng.normal(size=(150, 2)) * 0.6 + c for c in centres])
    return X, np.repeat([0, 0, 1, 1], 150)


def _accuracy(X, y, y_true, **params):
    model = OTGaussianMixtureClassifier(random_state=0, **params).fit(X, y)
    unlabelled = y == -1
    return np.mean(model.predict(X[unlabelled]) == y_true[unlabelled]), model


def test_auto_does_no_harm_where_the_model_is_wrong():
    """Where plain semi-supervised EM falls below the labelled rows alone,
    'auto' gives the unlabelled rows less weight and keeps the accuracy of
    the labelled rows."""
    for seed in range(3):
        X, y_true = _misleading(seed)
        y = _hidden(y_true, 0.02, seed)
        params = {"covariance_type": "spherical"}
        alone, _ = _accuracy(X, y, y_true, unlabelled_weight=0.0, **params)
        plain, _ = _accuracy(X, y, y_true, unlabelled_weight=1.0, **params)
        auto, model = _accuracy(X, y, y_true, **params)
        assert plain < alone - 0.1  # the case this is about
        assert auto >= alone - 0.01
        assert model.unlabelled_weight_ < 1.0


def test_auto_keeps_the_gain_where_the_model_is_right():
    """Gaussian classes with correlated features and three labelled rows
    each: 'auto' uses the unlabelled rows, and gains what plain
    semi-supervised EM gains over the labelled rows alone."""
    for seed in range(3):
        X, y_true = make_blobs(
            600, n_features=8, centers=3, cluster_std=3.0, random_state=seed
        )
        X = X @ np.random.RandomState(seed).normal(size=(8, 8))
        y = _hidden(y_true, 0.0, seed)
        params = {"covariance_type": "tied"}
        alone, _ = _accuracy(X, y, y_true, unlabelled_weight=0.0, **params)
        plain, _ = _accuracy(X, y, y_true, unlabelled_weight=1.0, **params)
        auto, _ = _accuracy(X, y, y_true, **params)
        assert plain > alone + 0.1  # the case this is about
        assert auto >= plain - 0.01


# --------------------------------------------------------------------------------
# Errors


def test_errors():
    X, y = DATA["iris"]
    y_semi = _hidden(y, 0.3)
    with pytest.raises(ValueError, match="not those of mclust's model 'VVE'"):
        OTGaussianMixtureClassifier(covariance_type="VVE", shrinkage=0.1).fit(X, y)
    with pytest.raises(ValueError, match="set only one of them"):
        OTGaussianMixtureClassifier(shrinkage=0.1, covariance_estimator=OAS()).fit(X, y)
    with pytest.raises(ValueError, match="for covariance_type 'full' or 'tied'"):
        OTGaussianMixtureClassifier(
            covariance_type="diag", covariance_estimator=OAS()
        ).fit(X, y)
    with pytest.raises(ValueError, match="set unlabelled_weight=0"):
        OTGaussianMixtureClassifier(covariance_estimator=OAS()).fit(X, y_semi)
    with pytest.raises(ValueError, match="n_components_per_class=1"):
        OTGaussianMixtureClassifier(2, covariance_estimator=OAS()).fit(X, y)
    with pytest.raises(ValueError, match="cannot take unequal sample weights"):
        OTGaussianMixtureClassifier(covariance_estimator=OAS()).fit(
            X, y, sample_weight=np.arange(1, 151)
        )

    class NoCovariance(BaseEstimator):
        def fit(self, X):
            return self

    with pytest.raises(ValueError, match="gave no finite covariance_ of shape"):
        OTGaussianMixtureClassifier(covariance_estimator=NoCovariance()).fit(X, y)
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="shrinkage='auto' reads the fourth"):
        OTGaussianMixtureClassifier(shrinkage="auto").fit(X_nan, y)
    for bad in (-0.1, 1.5, "ledoit"):
        with pytest.raises(ValueError, match="shrinkage"):
            OTGaussianMixtureClassifier(shrinkage=bad).fit(X, y)
    for bad in (-0.5, 2.0, "all"):
        with pytest.raises(ValueError, match="unlabelled_weight"):
            OTGaussianMixtureClassifier(unlabelled_weight=bad).fit(X, y)
    # Bad sample weights keep the data layer's message, whatever the weight.
    for weight in (0.0, 0.5, "auto"):
        with pytest.raises(ValueError, match="sample_weight"):
            OTGaussianMixtureClassifier(unlabelled_weight=weight).fit(
                X, y_semi, sample_weight=-np.ones(150)
            )


def test_float_shrinkage_with_missing_values():
    """A float shrinkage is linear in the covariance: it shrinks the
    incomplete-data M-step as it does the complete one."""
    X, y = DATA["wine"]
    X = X.copy()
    X[np.random.RandomState(0).rand(*X.shape) < 0.05] = np.nan
    plain = OTGaussianMixtureClassifier(covariance_type="tied", reg_covar=0.0).fit(X, y)
    with warnings.catch_warnings():
        # One iteration: the fits stop before they converge.
        warnings.simplefilter("ignore", ConvergenceWarning)
        shrunk = OTGaussianMixtureClassifier(
            covariance_type="tied", reg_covar=0.0, shrinkage=0.3, max_iter=1
        ).fit(X, y)
        once = OTGaussianMixtureClassifier(
            covariance_type="tied", reg_covar=0.0, max_iter=1
        ).fit(X, y)
    assert_allclose(shrunk.covariances_, shrunk_covariance(once.covariances_, 0.3))
    assert not np.allclose(shrunk.covariances_, plain.covariances_)
