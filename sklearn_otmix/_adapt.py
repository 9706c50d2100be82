"""Proportions on a new batch: a fitted model's weights re-estimated or imposed,
its components frozen (prior shift)."""

import copy
import math
import warnings
from numbers import Integral, Real

import numpy as np
import ot
from sklearn.base import BaseEstimator, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from sklearn.utils._param_validation import Interval, Options
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._backend import asarray, get_namespace, to_numpy
from ._base import BaseOTMixture, keeps_state_on_error
from ._classifier import OTGaussianMixtureClassifier
from ._data import is_dask_collection
from ._estimator import OTGaussianMixture
from ._fit import warn_unsolved
from ._gaussian import check_simplex, precision_cholesky
from ._online import fit_weights
from ._step import Mixture, mixture_problem


def _has(name):
    return lambda adapter: hasattr(adapter.estimator, name)


class PriorShiftAdapter(BaseEstimator):
    r"""A fitted mixture or classifier applied to a batch whose proportions
    have shifted: the weights re-estimated, imposed or pulled toward a prior,
    the components frozen.

    On the batch (masses :math:`a`) the components' costs
    :math:`C_{ik} = -\log \mathcal{N}(x_i; \mu_k, \Sigma_k)` of the fitted
    ``estimator`` are fixed, and only the plan and the weights move:

    .. math::

        \min_{P \geq 0,\ P 1 = a,\ \pi} \langle C, P \rangle
            + \varepsilon\, \mathrm{KL}(P \,|\, a \otimes \pi)
            + \rho\, \mathrm{KL}(P^\top 1 \,|\, t).

    - ``reg_m=0``: the batch's weights are estimated, by EM on the weights
      alone (Saerens, Latinne & Decaestecker, 2002).
    - ``reg_m=np.inf``: the weights are imposed, ``pi = t``; :meth:`fit_predict`
      then returns the balanced assignment whose label counts match ``t``.
    - ``0 < reg_m < inf``: estimated, and pulled toward ``t``.

    The adapted posteriors and labels are those of the fitted components with
    the batch's weights: :meth:`predict_proba` and :meth:`predict` of
    ``estimator_``, a copy of ``estimator`` whose ``weights_`` are the batch's.

    Parameters
    ----------
    estimator : OTGaussianMixture, OTGaussianMixtureClassifier or GaussianMixture
        A fitted estimator; it is not modified. A
        :class:`sklearn.mixture.GaussianMixture` is adapted as the same
        mixture in an :class:`OTGaussianMixture` would be: its components
        frozen from ``means_`` and ``covariances_``.
    reg_m : float, default=0.0
        Strength :math:`\rho \in [0, \infty]` of the pull toward
        ``target_weights``.
    target_weights : array-like, default=None
        :math:`t`: one proportion per class for a classifier (each class's
        components keep their fitted ratio within it), one per component for
        a mixture; positive, summing to one. The fitted weights when None.
    reg : float, default=1.0
        Entropic temperature :math:`\varepsilon`; ``1`` is maximum likelihood.
    tol : float, default=1e-6
        The weights' iterations stop when the lower bound changes by less.
    max_iter : int, default=1000
        Number of iterations on the weights.
    sinkhorn_max_iter : int, default=1000
        Iteration budget of each transport solver in one E-step (Sinkhorn
        iterations or Newton steps, as in :class:`OTGaussianMixture`).
    sinkhorn_tol : float, default=1e-9
        Largest optimality residual of an E-step's transport plan (see
        ``transport_residuals_``).

    Attributes
    ----------
    estimator_ : OTGaussianMixture, OTGaussianMixtureClassifier or GaussianMixture
        A copy of ``estimator`` with the batch's ``weights_``.
    weights_ : ndarray of shape (n_components,)
        The batch's mixing weights.
    proportions_ : ndarray
        The batch's proportions: of each class, shape (n_classes,), for a
        classifier; the weights for a mixture.
    n_iter_ : int
        Number of iterations on the weights.
    converged_ : bool
        Whether they converged within ``max_iter``.
    lower_bound_ : float
        :math:`-F` after the last E-step.
    transport_residuals_ : list of float
        The optimality residual of each E-step's transport plan, as
        :class:`OTGaussianMixture`'s.

    References
    ----------
    .. [1] M. Saerens, P. Latinne, C. Decaestecker. Adjusting the outputs of a
       classifier to new a priori probabilities: a simple procedure. Neural
       Computation 14(1), 2002.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_otmix import OTGaussianMixtureClassifier, PriorShiftAdapter
    >>> rng = np.random.RandomState(0)
    >>> X = np.concatenate([rng.randn(100, 1), rng.randn(100, 1) + 3])
    >>> y = np.repeat([0, 1], 100)
    >>> clf = OTGaussianMixtureClassifier().fit(X, y)
    >>> batch = np.concatenate([rng.randn(180, 1), rng.randn(20, 1) + 3])
    >>> PriorShiftAdapter(clf).fit(batch).proportions_.round(1)
    array([0.9, 0.1])
    """

    _parameter_constraints: dict = {
        # Checked by fit, with a TypeError that says what it accepts.
        "estimator": "no_validation",
        "reg_m": [Interval(Real, 0.0, None, closed="left"), Options(Real, {math.inf})],
        "target_weights": ["array-like", None],
        "reg": [Interval(Real, 0.0, None, closed="neither")],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "sinkhorn_max_iter": [Interval(Integral, 1, None, closed="left")],
        "sinkhorn_tol": [Interval(Real, 0.0, None, closed="left")],
    }

    def __init__(
        self,
        estimator,
        *,
        reg_m=0.0,
        target_weights=None,
        reg=1.0,
        tol=1e-6,
        max_iter=1000,
        sinkhorn_max_iter=1000,
        sinkhorn_tol=1e-9,
    ):
        self.estimator = estimator
        self.reg_m = reg_m
        self.target_weights = target_weights
        self.reg = reg
        self.tol = tol
        self.max_iter = max_iter
        self.sinkhorn_max_iter = sinkhorn_max_iter
        self.sinkhorn_tol = sinkhorn_tol

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Missing entries (NaN) where the adapted mixture takes them (one of
        # the package's; GaussianMixture's predictions refuse NaN).
        tags.input_tags.allow_nan = (
            isinstance(self.estimator, BaseOTMixture)
            and self.estimator._missing_refusal() is None
        )
        return tags

    @_fit_context(prefer_skip_nested_validation=False)
    @keeps_state_on_error
    def fit(self, X, y=None, sample_weight=None):
        """Estimate (or impose) the weights of the batch ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The batch: numpy, an array-API array, or a Dask array.
        y : Ignored
            Not used: the batch is unlabelled.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the batch's samples.

        Returns
        -------
        self : PriorShiftAdapter
            The fitted adapter.
        """
        estimator = self.estimator
        fitted = fitted_mixture(estimator)
        samples = fitted._fitted_samples(X, "fit", sample_weight)
        mixture = fitted._mixture()
        xp, device = get_namespace(mixture.weights)
        target = self._target(estimator)
        problem = mixture_problem(
            fitted.covariance_type,
            mixture.weights.shape[0],
            fitted.reg_covar,
            reg=self.reg,
            reg_m=self.reg_m,
            target=asarray(target, xp, device, dtype=mixture.weights.dtype),
            max_iter=self.sinkhorn_max_iter,
            tol=self.sinkhorn_tol,
        )
        result = fit_weights(samples, mixture, problem, self.tol, self.max_iter)
        warn_unsolved(result.unsolved, result.residuals, problem.transport, 5)
        if not result.converged:
            warnings.warn(
                f"The batch's weights did not converge within max_iter="
                f"{self.max_iter} iterations (tol={self.tol}): increase max_iter "
                "or tol.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.estimator_ = copy.deepcopy(estimator)
        self.estimator_.weights_ = result.mixture.weights
        self.weights_ = result.mixture.weights
        self.proportions_ = self._proportions(to_numpy(result.mixture.weights))
        self.n_iter_ = result.n_iter
        self.converged_ = result.converged
        self.lower_bound_ = result.lower_bound
        self.transport_residuals_ = result.residuals
        return self

    def _classifier(self):
        return isinstance(self.estimator, OTGaussianMixtureClassifier)

    def _target(self, estimator):
        """``t`` per component, on the host."""
        weights = to_numpy(estimator.weights_).astype(np.float64)
        if self.target_weights is None:
            return weights
        if not self._classifier():
            target = check_simplex(
                np.asarray(self.target_weights), weights.shape[0], "target_weights"
            )
        else:
            n_classes = estimator.classes_.shape[0]
            per_class = check_simplex(
                np.asarray(self.target_weights), n_classes, "target_weights"
            )
            member = to_numpy(estimator.component_class_)
            within = weights / np.bincount(member, weights)[member]
            target = per_class[member] * within
        if np.any(target == 0):
            raise ValueError(
                "target_weights should be positive: a component or class with "
                "target 0 cannot be represented; give it a small positive "
                "proportion."
            )
        return target

    def _proportions(self, weights):
        if not self._classifier():
            return weights
        member = to_numpy(self.estimator.component_class_)
        return np.bincount(member, weights, minlength=len(self.estimator.classes_))

    @available_if(_has("predict_proba"))
    def predict_proba(self, X):
        """Posteriors of the fitted components (classes, for a classifier) with
        the batch's weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_components or n_classes)
            ``estimator_.predict_proba(X)``.
        """
        check_is_fitted(self)
        return self.estimator_.predict_proba(X)

    @available_if(_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Log-posteriors of the classes with the batch's weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            ``estimator_.predict_log_proba(X)``.
        """
        check_is_fitted(self)
        return self.estimator_.predict_log_proba(X)

    def predict(self, X):
        """Most probable component (class, for a classifier) of each sample with
        the batch's weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            ``estimator_.predict(X)``.
        """
        check_is_fitted(self)
        return self.estimator_.predict(X)

    def score_samples(self, X):
        """Log-density of the mixture with the batch's weights.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            ``estimator_.score_samples(X)``.
        """
        check_is_fitted(self)
        return self.estimator_.score_samples(X)

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit on the batch ``X`` and label it.

        With ``reg_m=np.inf`` the labels are the balanced assignment of the
        batch's rows to the components (classes, for a classifier) whose counts
        match the imposed proportions, rounded to whole rows (largest
        remainders): the exact transport plan between the rows and those counts
        for the cost ``-log`` of the posteriors, whose vertices are
        assignments. Otherwise they are :meth:`predict`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The batch; in memory for ``reg_m=np.inf``.
        y : Ignored
            Not used.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the batch's samples (only for the weights
            with ``reg_m=np.inf``: every row counts once in the assignment).

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Labels of the batch's rows.
        """
        self.fit(X, sample_weight=sample_weight)
        if self.reg_m != math.inf:
            return self.predict(X)
        if is_dask_collection(X):
            raise ValueError(
                "fit_predict with reg_m=np.inf assigns every row of the batch at "
                "once and needs it in memory: pass X.compute(), or use predict for "
                "each row's most probable label."
            )
        if self._classifier():
            log_proba = to_numpy(self.estimator_.predict_log_proba(X))
            names = self.estimator_.classes_
        else:
            log_proba = np.log(np.maximum(to_numpy(self.predict_proba(X)), 1e-300))
            names = np.arange(log_proba.shape[1])
        counts = _whole_counts(self.proportions_, log_proba.shape[0])
        plan = ot.emd(
            np.ones(log_proba.shape[0]), counts.astype(np.float64), -log_proba
        )
        return names[np.argmax(plan, axis=1)]


def fitted_mixture(estimator):
    """``estimator`` as a fitted mixture of the package: itself, or a
    :class:`~sklearn.mixture.GaussianMixture`'s components frozen in an
    :class:`OTGaussianMixture` (its precisions' factors computed from its
    ``covariances_``)."""
    if not isinstance(estimator, (BaseOTMixture, GaussianMixture)):
        raise TypeError(
            "PriorShiftAdapter adapts a fitted OTGaussianMixture, "
            "OTGaussianMixtureClassifier or sklearn.mixture.GaussianMixture; got "
            f"{type(estimator).__name__}. For a search, pass its best_estimator_."
        )
    check_is_fitted(estimator)
    if hasattr(estimator, "noise_weight_"):
        raise ValueError(
            "PriorShiftAdapter re-estimates the weights of Gaussian components; "
            "this mixture has a noise component (noise="
            f"{estimator.noise!r}), whose weight it does not adapt. Fit the "
            "estimator with noise=False."
        )
    if isinstance(estimator, BaseOTMixture):
        return estimator
    frozen = OTGaussianMixture(
        estimator.n_components,
        covariance_type=estimator.covariance_type,
        reg_covar=estimator.reg_covar,
    )
    weights, means, covariances = (
        np.asarray(to_numpy(array), dtype=np.float64)
        for array in (estimator.weights_, estimator.means_, estimator.covariances_)
    )
    frozen._set_mixture(
        Mixture(
            weights,
            means,
            covariances,
            precision_cholesky(covariances, estimator.covariance_type),
        )
    )
    frozen.n_features_in_ = estimator.n_features_in_
    if hasattr(estimator, "feature_names_in_"):
        frozen.feature_names_in_ = estimator.feature_names_in_
    return frozen


def _whole_counts(proportions, n_rows):
    """``proportions * n_rows`` rounded to integers that sum to ``n_rows``: the
    largest remainders round up."""
    exact = np.asarray(proportions, dtype=np.float64) * n_rows
    counts = np.floor(exact).astype(np.int64)
    short = n_rows - counts.sum()
    counts[np.argsort(counts - exact, kind="stable")[:short]] += 1
    return counts
