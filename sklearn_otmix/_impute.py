"""An imputer made from a Gaussian mixture: each missing entry filled by its
conditional expectation given the row's observed entries, or drawn from the
conditional distribution (multiple imputation)."""

from functools import partial

from sklearn.base import (
    BaseEstimator,
    OneToOneFeatureMixin,
    TransformerMixin,
    _fit_context,
    clone,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import check_is_fitted

from ._base import BaseOTMixture
from ._estimator import OTGaussianMixture
from ._missing import conditional_fill


class OTGaussianMixtureImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Impute missing values (NaN) with a Gaussian mixture fitted to the
    incomplete rows.

    The mixture is fitted by exact EM on the observed entries (missing at
    random, see :class:`OTGaussianMixture`). Each missing entry of a row is
    then filled with its conditional expectation given the row's observed
    entries, ``sum_k P(k | x_o) E_k[x_m | x_o]``; or, with
    ``sample_posterior=True``, drawn from that conditional distribution (a
    component from the posterior, then a Gaussian draw from its conditional),
    so that several imputers with different ``random_state`` give multiple
    imputations.

    Parameters
    ----------
    estimator : OTGaussianMixture or OTGaussianMixtureSearch, default=None
        The mixture to fit (cloned); ``OTGaussianMixture(n_components=1)``
        (one Gaussian: the classical EM imputation) when None. Its number of
        components can be tuned as ``estimator__n_components`` in
        :class:`~sklearn.model_selection.GridSearchCV`, or chosen by BIC with
        an :class:`OTGaussianMixtureSearch`.
    sample_posterior : bool, default=False
        Draw each row's missing entries from their conditional distribution
        rather than filling them with its mean.
    random_state : int, RandomState instance or None, default=None
        Seeds the draws of ``sample_posterior``: each call to
        :meth:`transform` draws afresh from it (in-memory data).

    Attributes
    ----------
    estimator_ : estimator
        The fitted mixture (or search).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features seen during fit, where ``X`` has feature names.

    See Also
    --------
    sklearn.impute.IterativeImputer : Imputation by chained regressions.
    sklearn.impute.KNNImputer : Imputation by nearest neighbours.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_otmix import OTGaussianMixture, OTGaussianMixtureImputer
    >>> X = np.array([[1.0, 2.0], [2.0, 4.1], [3.0, np.nan], [4.0, 8.2], [5.0, 9.9]])
    >>> imputer = OTGaussianMixtureImputer().fit(X)
    >>> bool(abs(imputer.transform(X)[2, 1] - 6.0) < 0.2)
    True
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "score_samples"]), None],
        "sample_posterior": ["boolean"],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, *, sample_posterior=False, random_state=None):
        self.estimator = estimator
        self.sample_posterior = sample_posterior
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, sample_weight=None):
        """Fit the mixture to the incomplete rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data, NaN where an entry is missing.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples.

        Returns
        -------
        self : OTGaussianMixtureImputer
            The fitted imputer.
        """
        estimator = (
            OTGaussianMixture(n_components=1)
            if self.estimator is None
            else clone(self.estimator)
        )
        estimator.fit(X, sample_weight=sample_weight)
        self.estimator_ = estimator
        mixture = self._mixture()
        self.n_features_in_ = mixture.n_features_in_
        if hasattr(mixture, "feature_names_in_"):
            self.feature_names_in_ = mixture.feature_names_in_
        return self

    def _mixture(self):
        """The fitted mixture of ``estimator_`` (a search's best)."""
        mixture = getattr(self.estimator_, "best_estimator_", self.estimator_)
        if not isinstance(mixture, BaseOTMixture):
            raise TypeError(
                "OTGaussianMixtureImputer fits an OTGaussianMixture or an "
                f"OTGaussianMixtureSearch; got {type(mixture).__name__}."
            )
        return mixture

    def transform(self, X):
        """Fill the missing entries of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NaN where an entry is missing; every row needs an observed entry.

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features)
            ``X`` with its missing entries filled (a lazy Dask array for a
            Dask ``X``).
        """
        check_is_fitted(self)
        mixture = self._mixture()
        samples = mixture._fitted_samples(X, "transform")
        rng = check_random_state(self.random_state) if self.sample_posterior else None
        return mixture._rows(
            samples,
            partial(_fill, rng=rng),
            columns=samples.like.shape[1],
            dtype=samples.like.dtype,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


def _fill(x, mixture, form, rng):
    return conditional_fill(x, mixture, form, rng)
