"""WORK IN PROGRESS (branch wip/issue-15): selection of the number of
components and of the covariance model by BIC or ICL, as mclust's ``Mclust``."""

import math
import warnings
from numbers import Integral

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, DensityMixin, _fit_context, clone
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._backend import to_numpy
from ._estimator import OTGaussianMixture
from ._models import MODELS


def _delegate(name):
    def check(search):
        estimator = getattr(search, "best_estimator_", search.estimator)
        return hasattr(estimator or OTGaussianMixture(), name)

    return check


def _fit_one(estimator, X, sample_weight, n_components, covariance_type, criterion):
    """One cell of the grid: the fitted estimator and its row of the table,
    or the reason it could not be fitted."""
    model = clone(estimator).set_params(
        n_components=n_components, covariance_type=covariance_type
    )
    row = {"param_n_components": n_components, "param_covariance_type": covariance_type}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(X, sample_weight=sample_weight)
    except ValueError as error:
        row.update(status=f"not fitted: {error}", bic=math.inf, icl=math.inf)
        return None, row
    bic = model.bic(X)
    proba = to_numpy(model.predict_proba(X))
    entropy = -float(np.sum(proba * np.log(np.maximum(proba, 1e-300))))
    row.update(
        status="fitted",
        bic=bic,
        icl=bic + 2 * entropy,
        lower_bound=model.lower_bound_,
        n_iter=model.n_iter_,
        converged=model.converged_,
        n_warnings=len(caught),
    )
    return model, row


class OTGaussianMixtureSearch(DensityMixin, BaseEstimator):
    """Choose the number of components and the covariance model by BIC or ICL.

    WORK IN PROGRESS: every pair of ``n_components`` and ``covariance_types``
    is fitted (in parallel with ``n_jobs``) from a clone of ``estimator``, and
    the one of lowest criterion is kept as ``best_estimator_``.

    Parameters
    ----------
    estimator : OTGaussianMixture, default=None
        The template: its other parameters (``reg``, ``reg_m``, ...) are kept.
    n_components : iterable of int, default=range(1, 10)
    covariance_types : iterable of str, default=None
        mclust's names or scikit-learn's; all 14 mclust models when None.
    criterion : {'bic', 'icl'}, default='bic'
        BIC (``-2 log L + p log n``, lower is better: minus mclust's), or ICL
        (BIC plus twice the entropy of the posteriors).
    n_jobs : int, default=None
        Fits run in parallel (joblib).

    Attributes
    ----------
    best_estimator_ : OTGaussianMixture
    best_params_ : dict
    best_score_ : float
        The criterion of ``best_estimator_``.
    cv_results_ : dict of lists
        One entry per grid cell, readable by ``pandas.DataFrame``.
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "bic"]), None],
        "n_components": ["array-like", range],
        "covariance_types": ["array-like", None],
        "criterion": [StrOptions({"bic", "icl"})],
        "n_jobs": [Interval(Integral, None, None, closed="neither"), None],
    }

    def __init__(
        self,
        estimator=None,
        *,
        n_components=range(1, 10),
        covariance_types=None,
        criterion="bic",
        n_jobs=None,
    ):
        self.estimator = estimator
        self.n_components = n_components
        self.covariance_types = covariance_types
        self.criterion = criterion
        self.n_jobs = n_jobs

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, sample_weight=None):
        """Fit every cell of the grid and keep the best.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : OTGaussianMixtureSearch
        """
        estimator = OTGaussianMixture() if self.estimator is None else self.estimator
        models = (
            list(MODELS)
            if self.covariance_types is None
            else list(self.covariance_types)
        )
        grid = [(k, m) for m in models for k in self.n_components]
        results = Parallel(n_jobs=self.n_jobs)(
            delayed(_fit_one)(estimator, X, sample_weight, k, m, self.criterion)
            for k, m in grid
        )
        rows = [row for _, row in results]
        scores = [row[self.criterion] for row in rows]
        if not np.isfinite(scores).any():
            reasons = {row["status"] for row in rows}
            raise ValueError(
                "No model of the grid could be fitted: " + "; ".join(sorted(reasons))
            )
        best = int(np.argmin(scores))
        self.best_estimator_ = results[best][0]
        self.best_params_ = {
            "n_components": rows[best]["param_n_components"],
            "covariance_type": rows[best]["param_covariance_type"],
        }
        self.best_score_ = scores[best]
        keys = sorted({key for row in rows for key in row})
        self.cv_results_ = {key: [row.get(key) for row in rows] for key in keys}
        self.n_features_in_ = self.best_estimator_.n_features_in_
        return self

    @available_if(_delegate("predict"))
    def predict(self, X):
        """``best_estimator_.predict(X)``."""
        check_is_fitted(self)
        return self.best_estimator_.predict(X)

    @available_if(_delegate("predict_proba"))
    def predict_proba(self, X):
        """``best_estimator_.predict_proba(X)``."""
        check_is_fitted(self)
        return self.best_estimator_.predict_proba(X)

    def score_samples(self, X):
        """``best_estimator_.score_samples(X)``."""
        check_is_fitted(self)
        return self.best_estimator_.score_samples(X)

    def score(self, X, y=None):
        """``best_estimator_.score(X)``."""
        check_is_fitted(self)
        return self.best_estimator_.score(X)

    def sample(self, n_samples=1):
        """``best_estimator_.sample(n_samples)``."""
        check_is_fitted(self)
        return self.best_estimator_.sample(n_samples)
