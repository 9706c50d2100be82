"""The base of the package's mixture estimators, as ``BaseMixture`` is for
scikit-learn's two: the parameters they share, the fit template, and what a
fitted mixture does (the classifier overrides only what labels change).

Its protected methods are the contract between the estimators: the model
search (:mod:`sklearn_otmix._selection`) and the prior-shift adapter
(:mod:`sklearn_otmix._adapt`) use them and nothing else of a fitted mixture.
"""

import functools
import math
from functools import partial
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._backend import asarray, check_same_namespace, get_namespace, to_numpy
from ._data import samples_of
from ._missing import missing_refusal
from ._density import likelihood_and_entropy, log_density
from ._fit import FitLoop, fit
from ._gaussian import COVARIANCE_TYPES, n_parameters, precisions_from_cholesky
from ._init import checked_weight_bounds
from ._models import (
    MODELS,
    check_supported,
    covariance_form,
    n_covariance_parameters,
)
from ._noise import Noise
from ._step import Mixture, mixture_problem


def keeps_state_on_error(method):
    """A fitting method that raises leaves the estimator's attributes as they
    were: a failed refit, warm start or ``partial_fit`` never half-updates a
    fitted model. (The methods replace attributes, never change them in
    place, so keeping the old references is enough.)"""

    @functools.wraps(method)
    def keeping_state(self, *args, **kwargs):
        state = dict(self.__dict__)
        try:
            return method(self, *args, **kwargs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(state)
            raise

    return keeping_state


class Criteria(NamedTuple):
    """A fitted mixture's information criteria on some data (lower is better),
    and what they are made of."""

    log_likelihood: float  #: ``sum_i w_i log p(x_i)``
    entropy: float  #: of the posteriors, ``-sum_i w_i sum_k z_ik log z_ik``
    total: float  #: ``sum_i w_i``, the ``n`` of the penalties
    n_parameters: int  #: estimated parameters

    @property
    def bic(self):
        """``-2 log L + p log n``."""
        return -2.0 * self.log_likelihood + self.n_parameters * math.log(self.total)

    @property
    def icl(self):
        """The BIC plus twice the posteriors' entropy (Biernacki et al., 2000)."""
        return self.bic + 2.0 * self.entropy

    @property
    def aic(self):
        """``-2 log L + 2 p``."""
        return -2.0 * self.log_likelihood + 2 * self.n_parameters


class BaseOTMixture(BaseEstimator):
    """The package's mixture estimators: their shared parameters (see
    :class:`~sklearn_otmix.OTGaussianMixture` for each), the fit template,
    and the fitted mixture (``weights_``, ``means_``, ``covariances_``,
    ``precisions_``, ``precisions_cholesky_``) as a density.

    A subclass validates its data and builds its problem, then calls
    :meth:`_fit_problem`; it provides the number of components it fits, and
    everything else of a fitted mixture comes from here.
    """

    _parameter_constraints: dict = {
        "covariance_type": [StrOptions(set(COVARIANCE_TYPES) | set(MODELS))],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "convergence": [StrOptions({"absolute", "relative"})],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [
            StrOptions(
                {"kmeans", "k-means++", "random", "random_from_data", "hierarchical"}
            )
        ],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "reg": [Interval(Real, 0.0, None, closed="neither")],
        "reg_m": [Interval(Real, 0.0, None, closed="left"), Options(Real, {math.inf})],
        "target_weights": ["array-like", None],
        "target_order": [StrOptions({"auto", "given", "free"})],
        "weight_bounds": [tuple, list, None],
        "sinkhorn_max_iter": [Interval(Integral, 1, None, closed="left")],
        "sinkhorn_tol": [Interval(Real, 0.0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        covariance_type,
        tol,
        convergence,
        reg_covar,
        max_iter,
        n_init,
        init_params,
        random_state,
        warm_start,
        verbose,
        verbose_interval,
        reg,
        reg_m,
        target_weights,
        target_order,
        weight_bounds,
        sinkhorn_max_iter,
        sinkhorn_tol,
    ):
        self.covariance_type = covariance_type
        self.tol = tol
        self.convergence = convergence
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.reg = reg
        self.reg_m = reg_m
        self.target_weights = target_weights
        self.target_order = target_order
        self.weight_bounds = weight_bounds
        self.sinkhorn_max_iter = sinkhorn_max_iter
        self.sinkhorn_tol = sinkhorn_tol

    # ----------------------------------------------------------------------------
    # The fit template

    def _fit_samples(self, X, sample_weight, n_components, labels=None):
        """``X`` validated for a fit of ``n_components`` (see
        :mod:`sklearn_otmix._data`), the covariance model checked to be
        estimable from it."""
        samples = self._samples(
            X,
            sample_weight,
            reset=True,
            fit=True,
            n_components=n_components,
            labels=labels,
        )
        check_supported(
            self.covariance_type,
            samples.n_samples,
            samples.like.shape[1],
            n_components,
        )
        return samples

    def _mixture_problem(self, n_components, target, hypervolume=None, **constraints):
        """The numerics' view of the parameters for ``n_components``, with the
        validated ``target`` weights and the noise component's
        ``hypervolume`` (None: no noise; see
        :func:`~sklearn_otmix._step.mixture_problem` for ``constraints``)."""
        bounds = checked_weight_bounds(self.weight_bounds, n_components, self.reg_m)
        if bounds is not None and hypervolume is not None:
            # The bounds are the Gaussians'; the noise's weight is free.
            bounds = tuple(
                np.append(bound, value)
                for bound, value in zip(bounds, (0.0, 1.0), strict=True)
            )
        return mixture_problem(
            self.covariance_type,
            n_components,
            self.reg_covar,
            reg=self.reg,
            reg_m=self.reg_m,
            target=target,
            max_iter=self.sinkhorn_max_iter,
            tol=self.sinkhorn_tol,
            bounds=bounds,
            hypervolume=hypervolume,
            **constraints,
        )

    def _fit_problem(self, samples, problem, init):
        """Fit ``problem`` on ``samples`` from ``init`` (validated ``*_init``),
        or from the fitted mixture with ``warm_start``, and keep the result in
        the fitted attributes."""
        start = None
        if self.warm_start and hasattr(self, "lower_bound_"):
            mixture = self._mixture()
            if (mixture.noise is None) != (problem.hypervolume is None):
                raise ValueError(
                    "warm_start continues the fitted mixture, which has "
                    f"{'no' if mixture.noise is None else 'a'} noise component, "
                    f"with{'' if problem.hypervolume is not None else 'out'} one: "
                    "set warm_start=False to fit afresh, or keep noise as it was."
                )
            if mixture.noise is not None:
                # The hypervolume of the data given now.
                noise = mixture.noise._replace(volume=problem.hypervolume)
                mixture = mixture._replace(noise=noise)
            start = (mixture, self.lower_bound_)
        loop = FitLoop(
            self.tol,
            self.convergence,
            self.max_iter,
            self.n_init,
            self.init_params,
            self.verbose,
            self.verbose_interval,
        )
        result = fit(
            samples, problem, init, loop, check_random_state(self.random_state), start
        )
        self._set_mixture(result.mixture)
        self.converged_ = result.converged
        self.n_iter_ = result.n_iter
        self.lower_bound_ = result.lower_bound
        self.lower_bounds_ = result.lower_bounds
        self.transport_residuals_ = result.residuals

    def _samples(
        self, X, sample_weight=None, *, reset, fit=False, n_components=None, labels=None
    ):
        """``X`` validated, in its data layer (see :mod:`sklearn_otmix._data`);
        ``n_components`` sizes its blocks (the fitted number by default)."""
        if n_components is None:
            n_components = self.weights_.shape[0]
        return samples_of(
            self,
            X,
            sample_weight,
            reset=reset,
            n_components=n_components,
            fit=fit,
            labels=labels,
        )

    # ----------------------------------------------------------------------------
    # The fitted mixture (the contract with the search and the adapter)

    @property
    def _form(self):
        """The storage form of the covariances: scikit-learn's four
        (``'full'`` for mclust's other models)."""
        return covariance_form(self.covariance_type)[0]

    def _mixture(self):
        """The fitted parameters, as the fit loop carries them."""
        noise = None
        if hasattr(self, "noise_weight_"):
            xp, device = get_namespace(self.weights_)
            weight = asarray(
                [self.noise_weight_], xp, device, dtype=self.weights_.dtype
            )
            noise = Noise(weight, self.hypervolume_)
        return Mixture(
            self.weights_,
            self.means_,
            self.covariances_,
            self.precisions_cholesky_,
            noise,
        )

    def _set_mixture(self, mixture):
        """The fitted attributes from a :class:`~sklearn_otmix._step.Mixture`
        (``noise_weight_`` and ``hypervolume_`` only with a noise component)."""
        self.weights_ = mixture.weights
        self.means_ = mixture.means
        self.covariances_ = mixture.covariances
        self.precisions_cholesky_ = mixture.precisions_chol
        self.precisions_ = precisions_from_cholesky(mixture.precisions_chol, self._form)
        if mixture.noise is None:
            for name in ("noise_weight_", "hypervolume_"):
                self.__dict__.pop(name, None)
        else:
            self.noise_weight_ = float(to_numpy(mixture.noise.weight)[0])
            self.hypervolume_ = mixture.noise.volume

    def _fitted_samples(self, X, method, sample_weight=None):
        """``X`` validated against the fitted mixture, for ``method``'s errors."""
        check_is_fitted(self)
        check_same_namespace(X, self.means_, f"{type(self).__name__}.{method}()")
        return self._samples(X, sample_weight, reset=False)

    def _rows(self, samples, function, **shape):
        """Per-row ``function`` of the fitted mixture (lazy for Dask; see
        :mod:`sklearn_otmix._density`): where the rows miss entries, found
        from the samples' cache of where they are (the fit's, for its
        labels)."""
        mixture = self._mixture()._replace(layouts=samples.layouts)
        function = partial(function, mixture=mixture, form=self._form)
        return samples.rows(function, **shape)

    def _n_parameters(self):
        """The number of estimated parameters (the weights are not, with
        ``reg_m=inf``); with a noise component two more, as mclust's
        ``nMclustParams(..., noise = TRUE)`` counts: its weight and its
        hypervolume."""
        n_components, n_features = self.means_.shape
        form, model = covariance_form(self.covariance_type)
        count = n_parameters(n_components, n_features, form)
        if model is not None:
            # The full form's covariance parameters, replaced by the model's.
            count += n_covariance_parameters(
                model, n_components, n_features
            ) - n_covariance_parameters("VVV", n_components, n_features)
        count += 2 * hasattr(self, "noise_weight_")
        return count - (n_components - 1) * (self.reg_m == math.inf)

    def _criteria(self, X, sample_weight=None, method="bic"):
        """:class:`Criteria` of the fitted mixture on ``X``, in one pass."""
        samples = self._fitted_samples(X, method, sample_weight)
        terms = samples.sum(
            partial(likelihood_and_entropy, mixture=self._mixture(), form=self._form)
        )
        log_likelihood, entropy = (float(value) for value in to_numpy(terms))
        return Criteria(log_likelihood, entropy, samples.total, self._n_parameters())

    def score_samples(self, X):
        """Log-density of the fitted mixture at each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            ``log sum_k pi_k N(x_i; mu_k, Sigma_k)``; a lazy Dask array for a
            Dask ``X``.
        """
        samples = self._fitted_samples(X, "score_samples")
        return self._rows(samples, log_density, dtype=samples.like.dtype)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.array_api_support = True
        # NaN marks a missing entry (see sklearn_otmix._missing).
        tags.input_tags.allow_nan = self._missing_refusal() is None
        return tags

    def _missing_refusal(self):
        """Why this estimator takes no missing entries (NaN), or None where
        it does: a noise component or a prior needs complete rows."""
        return missing_refusal(
            getattr(self, "noise", False), getattr(self, "prior", None)
        )
