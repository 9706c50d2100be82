"""The estimator: scikit-learn API, initialisation and the block-coordinate fit loop."""

import math
import warnings
from functools import partial
from numbers import Integral, Real
from time import perf_counter
from typing import NamedTuple

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning
from sklearn.externals import array_api_compat
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _dask
from ._array_api import (
    asarray,
    astype,
    check_same_namespace,
    get_namespace,
    namespace_of,
    on_device_of,
    to_numpy,
)
from ._array_api import logsumexp as _xp_logsumexp
from ._dask import is_dask_array
from ._gaussian import (
    COVARIANCE_TYPES,
    Statistics,
    check_means,
    check_precisions,
    check_simplex,
    covariances_from_precisions,
    gaussian_cost,
    gaussian_mle,
    n_parameters,
    precision_cholesky,
    precision_cholesky_from_precisions,
    precisions_from_cholesky,
    sufficient_statistics,
    weighted_gaussian_mle,
)
from ._transport import semi_relaxed_in_blocks, transport_plan


class _Mixture(NamedTuple):
    """The parameters ``(pi, phi)`` that the fit loop updates."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_chol: np.ndarray

    def weighted_log_prob(self, X, covariance_type):
        """``log pi_k + log N(x_i; mu_k, Sigma_k)``: (n_samples, n_components)."""
        cost = gaussian_cost(X, self.means, self.precisions_chol, covariance_type)
        return namespace_of(self.weights).log(self.weights) - cost


class OTGaussianMixture(DensityMixin, BaseEstimator):
    r"""Gaussian mixture fitted by entropic optimal transport.

    Maximum-likelihood estimation of a mixture is an entropic optimal-transport
    problem between the data (masses :math:`a_i`) and the components (masses
    :math:`\pi_k`), with cost :math:`C_{ik} = -\log \mathcal{N}(x_i; \mu_k, \Sigma_k)`.
    The estimator minimises, by block-coordinate descent,

    .. math::

        F(P, \phi, \pi) = \langle C(\phi), P \rangle
            + \varepsilon\, \mathrm{KL}(P \,|\, a \otimes \pi)
            + \rho\, \mathrm{KL}(P^\top 1 \,|\, t)
        \quad \text{over } P \geq 0,\ P 1 = a,

    alternating an E-step (the transport plan :math:`P`, computed by POT) and a
    closed-form M-step (weighted Gaussian maximum likelihood, :math:`\pi = P^\top 1`).
    With the defaults ``reg=1`` (:math:`\varepsilon`) and ``reg_m=0``
    (:math:`\rho`) this is exactly the EM algorithm, and the estimator gives the
    answers of :class:`sklearn.mixture.GaussianMixture`.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        Form of the covariance matrices: one full matrix per component, one full
        matrix shared by all components, one diagonal matrix per component, or
        one variance per component.
    tol : float, default=1e-3
        The fit stops when the lower bound (``-F``) changes by less than ``tol``
        between two iterations.
    reg_covar : float, default=1e-6
        Non-negative value added to the diagonal of every covariance, so that
        they stay positive definite.
    max_iter : int, default=100
        Number of block-coordinate (EM) iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the one with the largest lower bound is kept.
    init_params : str, default='kmeans'
        How the initial plan is chosen: ``'kmeans'``, hard assignments from
        k-means; ``'k-means++'`` or ``'random_from_data'``, one point per
        component picked by k-means++ seeding or uniformly at random;
        ``'random'``, random responsibilities.
    weights_init : array-like of shape (n_components,), default=None
        Initial mixing weights; computed from ``init_params`` when None.
    means_init : array-like of shape (n_components, n_features), default=None
        Initial means; computed from ``init_params`` when None.
    precisions_init : array-like, default=None
        Initial precisions (inverse covariances), of shape (n_components,) for
        'spherical', (n_features, n_features) for 'tied', (n_components,
        n_features) for 'diag' and (n_components, n_features, n_features) for
        'full'; computed from ``init_params`` when None.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation and of :meth:`sample`.
    warm_start : bool, default=False
        If True, each call to :meth:`fit` starts from the previous solution and
        ``n_init`` is ignored after the first call.
    verbose : int, default=0
        1 prints the initialisations and iterations, 2 also the time and the
        change of the lower bound.
    verbose_interval : int, default=10
        Number of iterations between two printed lines.
    reg : float, default=1.0
        Entropic temperature :math:`\varepsilon > 0`. ``1`` is maximum likelihood;
        smaller values make the assignments harder.
    reg_m : float, default=0.0
        Strength :math:`\rho \in [0, \infty]` of the penalty pulling the mixing
        weights toward ``target_weights``. ``0`` is EM, ``np.inf`` fixes the
        weights to ``target_weights`` (Sinkhorn EM).
    target_weights : array-like of shape (n_components,), default=None
        Target mixing weights :math:`t` (uniform when None); only used when
        ``reg_m > 0``.
    sinkhorn_max_iter : int, default=1000
        Iteration budget of the transport solver in one E-step (``reg_m > 0``):
        Sinkhorn iterations for ``0 < reg_m < inf``; L-BFGS-B iterations and
        Newton steps for ``reg_m=np.inf``.
    sinkhorn_tol : float, default=1e-9
        Tolerance of the transport solver (``reg_m > 0``): POT's stopping
        threshold for ``0 < reg_m < inf``; the largest allowed error
        ``max_k |(P^T 1)_k - t_k|`` of the column marginal for ``reg_m=np.inf``.
    learning_decay : float, default=0.7
        Step-size schedule of :meth:`partial_fit`: the ``s``-th chunk's
        statistics enter the running ones with weight ``s ** -learning_decay``
        (the first replaces them). In ``(0.5, 1]``; ``1`` averages all chunks
        alike, smaller values forget the early ones, computed from earlier
        parameters, faster.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Mixing weights :math:`\pi`.
    means_ : ndarray of shape (n_components, n_features)
        Component means.
    covariances_ : ndarray
        Component covariances; shape as ``precisions_init``.
    precisions_ : ndarray
        Inverses of ``covariances_``.
    precisions_cholesky_ : ndarray
        Upper-triangular Cholesky factors :math:`L_k` of the precisions,
        :math:`L_k L_k^\top = \Sigma_k^{-1}`.
    converged_ : bool
        Whether the best initialisation converged.
    n_iter_ : int
        Number of iterations of the best initialisation.
    lower_bound_ : float
        :math:`-F` after the last E-step of the best initialisation: the mean
        log-likelihood for ``reg=1, reg_m=0``, a lower bound of it for any other
        setting with ``reg >= 1``.
    lower_bounds_ : list of float
        :math:`-F` after each E-step of the best initialisation.
    n_steps_ : int
        Number of chunks seen by :meth:`partial_fit`.
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :meth:`fit`, when ``X`` has string column
        names.

    See Also
    --------
    sklearn.mixture.GaussianMixture : The EM estimator this one reproduces by default.

    References
    ----------
    .. [1] T. Vayer, E. Lasalle. A note on the relations between mixture models,
       maximum-likelihood and entropic optimal transport. arXiv:2501.12005, 2025.
    .. [2] G. Mena, A. Nejatbakhsh, E. Varol, J. Niles-Weed. Sinkhorn EM: an
       expectation-maximization algorithm based on entropic optimal transport.
       arXiv:2006.16548, 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_otmix import OTGaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> gm = OTGaussianMixture(n_components=2, random_state=0).fit(X)
    >>> gm.means_
    array([[10.,  2.],
           [ 1.,  2.]])
    >>> gm.predict([[0, 0], [12, 3]])
    array([1, 0])
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions(set(COVARIANCE_TYPES))],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [
            StrOptions({"kmeans", "k-means++", "random", "random_from_data"})
        ],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "reg": [Interval(Real, 0.0, None, closed="neither")],
        "reg_m": [Interval(Real, 0.0, None, closed="left"), Options(Real, {math.inf})],
        "target_weights": ["array-like", None],
        "sinkhorn_max_iter": [Interval(Integral, 1, None, closed="left")],
        "sinkhorn_tol": [Interval(Real, 0.0, None, closed="left")],
        "learning_decay": [Interval(Real, 0.5, 1.0, closed="right")],
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        reg=1.0,
        reg_m=0.0,
        target_weights=None,
        sinkhorn_max_iter=1000,
        sinkhorn_tol=1e-9,
        learning_decay=0.7,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.reg = reg
        self.reg_m = reg_m
        self.target_weights = target_weights
        self.sinkhorn_max_iter = sinkhorn_max_iter
        self.sinkhorn_tol = sinkhorn_tol
        self.learning_decay = learning_decay

    # ----------------------------------------------------------------------------
    # Fitting

    def fit(self, X, y=None, sample_weight=None):
        """Fit the mixture by block-coordinate descent on the transport objective.

        The fit is run ``n_init`` times and the parameters with the largest lower
        bound are kept. Each run alternates E-step and M-step until the lower
        bound changes by less than ``tol`` or ``max_iter`` iterations are done
        (a :class:`~sklearn.exceptions.ConvergenceWarning` then).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples; None gives every sample weight 1.

        Returns
        -------
        self : OTGaussianMixture
            The fitted estimator.
        """
        self.fit_predict(X, y, sample_weight=sample_weight)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit the mixture and return the most probable component of each sample.

        Equivalent to ``fit(X).predict(X)``, computed with one pass less.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples; None gives every sample weight 1.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels; a lazy Dask array for a Dask ``X``.
        """
        if is_dask_array(X):
            return _dask.fit(self, X, sample_weight)
        xp, _ = get_namespace(X)
        X = validate_data(self, X, dtype=[xp.float64, xp.float32], ensure_min_samples=2)
        if X.shape[0] < self.n_components:
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = "
                f"{self.n_components}, n_samples = {X.shape[0]}: use fewer "
                "components or more samples."
            )
        sample_weight = _check_sample_weight(sample_weight, X.shape[0], X.dtype, like=X)
        X_fit, sample_mass, sample_weight = _mass_of_samples(X, sample_weight)
        if X_fit.shape[0] < self.n_components:
            raise ValueError(
                f"Only {X_fit.shape[0]} samples have a positive sample_weight, "
                f"fewer than n_components = {self.n_components}."
            )
        init = self._initial_parameters_like(X)
        self._fit_runs(
            partial(self._initialize, X_fit, sample_mass, sample_weight, init),
            partial(self._em_step, X_fit, sample_mass, init["target"]),
            check_random_state(self.random_state),
        )
        # Labels from the final parameters, so fit_predict(X) == fit(X).predict(X).
        return xp.argmax(self._weighted_log_prob(X), axis=1)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the mixture with one chunk of a stream: a step of online EM.

        Stepwise EM (Cappé & Moulines, 2009; Liang & Klein, 2009): the chunk's
        transport plan at the current parameters gives sufficient statistics
        (per unit of mass), which are mixed into running ones with step size
        ``s ** -learning_decay`` at the ``s``-th chunk; the parameters are the
        M-step of the running statistics. The first call initialises the
        mixture from its chunk with ``init_params`` (and the ``*_init``), unless
        the estimator is already fitted, in which case it starts from the fitted
        parameters. On a shuffled stream the result approaches the batch fit.

        With ``reg_m=np.inf`` each chunk's plan is balanced on its own: the
        columns of every chunk carry the mass ``target_weights``. This is the
        batch plan when the proportions of the components are the same in every
        chunk, as in a shuffled stream of large enough chunks; a stream sorted by
        cluster breaks it. The same holds for the penalty of ``0 < reg_m < inf``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            One chunk of training data; the first one needs at least
            ``n_components`` samples.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the chunk's samples; None gives every sample
            weight 1.

        Returns
        -------
        self : OTGaussianMixture
            The updated estimator.

        References
        ----------
        .. [1] O. Cappé, E. Moulines. On-line expectation-maximization algorithm
           for latent data models. JRSS B 71(3), 2009.
        .. [2] P. Liang, D. Klein. Online EM for unsupervised models. NAACL, 2009.
        """
        fitted = hasattr(self, "weights_")
        xp, _ = get_namespace(X)
        X = validate_data(self, X, dtype=[xp.float64, xp.float32], reset=not fitted)
        sample_weight = _check_sample_weight(sample_weight, X.shape[0], X.dtype, like=X)
        X, sample_mass, sample_weight = _mass_of_samples(X, sample_weight)
        init = self._initial_parameters_like(X)
        if fitted:
            mixture = self._fitted_mixture()
        elif X.shape[0] < self.n_components:
            raise ValueError(
                f"The first chunk given to partial_fit initialises the mixture and "
                f"needs at least n_components = {self.n_components} samples with "
                f"a positive weight; got {X.shape[0]}."
            )
        else:
            mixture = self._initialize(
                X,
                sample_mass,
                sample_weight,
                init,
                check_random_state(self.random_state),
            )
        if not hasattr(self, "n_steps_"):
            self.n_steps_ = 0
            # Second moments about fixed centres (see Statistics): the first
            # means for 'full', the origin otherwise.
            self._stream_centres = mixture.means
            if self.covariance_type != "full":
                self._stream_centres = xp.zeros_like(mixture.means)
            self._stream_statistics = self._stream_potentials = None
            self.lower_bounds_ = []

        transport = self._e_step(
            X, sample_mass, mixture, init["target"], self._stream_potentials
        )
        centres = astype(self._stream_centres, X.dtype)
        statistics = sufficient_statistics(
            X, transport.plan, sample_mass, centres, self.covariance_type
        )
        self.n_steps_ += 1
        step = self.n_steps_**-self.learning_decay
        scale = step / float(xp.sum(sample_mass))
        running = self._stream_statistics
        if running is None:
            running = Statistics(*(scale * new for new in statistics))
        else:
            running = Statistics(
                *(
                    (1 - step) * old + scale * new
                    for old, new in zip(running, statistics, strict=True)
                )
            )
        self._stream_statistics = running
        self._stream_potentials = transport.potentials
        self._set_mixture(
            self._mixture_from_statistics(running, centres, init["target"])
        )
        self.lower_bound_ = -transport.value
        self.lower_bounds_.append(self.lower_bound_)
        return self

    def _fit_runs(self, initialize, step, random_state):
        """Run the fit ``n_init`` times (once with a warm start); keep the best.

        Parameters
        ----------
        initialize : callable
            ``initialize(random_state)`` returns the initial :class:`_Mixture`.
        step : callable
            ``step(mixture, warm)``: one iteration, E-step then M-step, from
            ``mixture``; returns the new mixture and the E-step's
            :class:`~sklearn_otmix._transport.TransportResult` (whose plan may be
            None where the data are not in memory).
        random_state : RandomState
        """
        # With warm_start, a fitted model is the single starting point.
        do_init = not (self.warm_start and hasattr(self, "lower_bound_"))
        n_init = self.n_init if do_init else 1
        best = None
        for init_index in range(n_init):
            self._print_verbose_init_begin(init_index)
            mixture = initialize(random_state) if do_init else self._fitted_mixture()
            run = self._fit_one(step, mixture, do_init)
            # Without iterations (max_iter=0) every run has bound -inf: keep the last.
            if best is None or run[1] > best[1] or best[1] == -math.inf:
                best = run
        mixture, lower_bound, lower_bounds, n_iter, converged, unsolved = best

        if unsolved:
            warnings.warn(
                f"In {unsolved} of {n_iter} E-steps the optimal-transport solver "
                f"did not reach sinkhorn_tol={self.sinkhorn_tol} within "
                f"sinkhorn_max_iter={self.sinkhorn_max_iter} iterations: increase "
                "sinkhorn_max_iter or sinkhorn_tol, or reg.",
                ConvergenceWarning,
                stacklevel=3,
            )
        if not converged and self.max_iter > 0:
            warnings.warn(
                f"The best of {n_init} initialisation(s) did not converge within "
                f"max_iter={self.max_iter} iterations (tol={self.tol}). Increase "
                "max_iter or tol, try other initial parameters, or check the data "
                "for degenerate clusters.",
                ConvergenceWarning,
                stacklevel=3,
            )
        self._set_mixture(mixture)
        # A fit starts partial_fit's stream afresh.
        for name in ("n_steps_", "_stream_statistics"):
            self.__dict__.pop(name, None)
        self.converged_ = converged
        self.n_iter_ = n_iter
        self.lower_bound_ = lower_bound
        self.lower_bounds_ = lower_bounds

    def _fit_one(self, step, mixture, do_init):
        """One run of block-coordinate descent from ``mixture``.

        Returns
        -------
        mixture, lower_bound, lower_bounds, n_iter, converged, unsolved
            ``unsolved`` counts the E-steps whose Sinkhorn loop did not converge.
        """
        lower_bound = -math.inf if do_init else self.lower_bound_
        lower_bounds = []
        converged = False
        n_iter = unsolved = 0
        transport = None
        for n_iter in range(1, self.max_iter + 1):
            previous = lower_bound
            warm = None if transport is None else transport.potentials
            mixture, transport = step(mixture, warm)
            unsolved += not transport.converged
            lower_bound = -transport.value
            lower_bounds.append(lower_bound)
            change = lower_bound - previous
            self._print_verbose_iteration(n_iter, change)
            if abs(change) < self.tol:
                converged = True
                break
        if self.max_iter > 0:
            self._print_verbose_init_end(lower_bound, converged)
        return mixture, lower_bound, lower_bounds, n_iter, converged, unsolved

    def _em_step(self, X, sample_mass, target_weights, mixture, warm=None):
        """E-step then M-step on in-memory data; see :meth:`_fit_runs`."""
        transport = self._e_step(X, sample_mass, mixture, target_weights, warm)
        return self._m_step(X, sample_mass, transport.plan, target_weights), transport

    def _e_step(self, X, sample_mass, mixture, target_weights, warm=None):
        """The transport plan for the current parameters, and ``F`` there.

        With ``reg_m = 0`` the problem separates over samples: it is solved block
        by block of rows, so that the costs never exist as a whole.

        Returns
        -------
        transport : TransportResult
        """
        cost = partial(
            gaussian_cost,
            means=mixture.means,
            precisions_chol=mixture.precisions_chol,
            covariance_type=self.covariance_type,
        )
        # Other namespaces (accelerators) solve the whole problem at once.
        if self.reg_m == 0.0 and namespace_of(X) is np:
            return semi_relaxed_in_blocks(
                cost, X, sample_mass, mixture.weights, self.reg
            )
        return transport_plan(
            cost(X),
            sample_mass,
            mixture.weights,
            reg=self.reg,
            reg_m=self.reg_m,
            target_weights=target_weights,
            max_iter=self.sinkhorn_max_iter,
            tol=self.sinkhorn_tol,
            warm=warm,
        )

    def _m_step(self, X, sample_mass, plan, target_weights):
        """Weighted Gaussian maximum likelihood; ``pi = P^T 1`` (``t`` if fixed)."""
        estimates = weighted_gaussian_mle(
            X, plan, sample_mass, self.reg_covar, self.covariance_type
        )
        return self._mixture_from_estimates(*estimates, target_weights)

    def _mixture_from_statistics(self, statistics, centres, target_weights):
        """M-step from sufficient statistics (streams, chunks of Dask arrays)."""
        estimates = gaussian_mle(
            statistics, centres, self.reg_covar, self.covariance_type
        )
        return self._mixture_from_estimates(*estimates, target_weights)

    def _mixture_from_estimates(self, mass, means, covariances, target_weights):
        weights = (
            target_weights
            if self.reg_m == math.inf
            else mass / namespace_of(mass).sum(mass)
        )
        return _Mixture(
            weights,
            means,
            covariances,
            precision_cholesky(covariances, self.covariance_type),
        )

    def _checked_initial_parameters(self, n_features, dtype):
        """Validated copies of ``*_init`` and ``target_weights`` (left as given)."""
        init = {"weights": None, "means": None, "precisions": None}
        if self.weights_init is not None:
            if self.reg_m == math.inf:
                raise ValueError(
                    "weights_init has no effect with reg_m=inf, where the mixing "
                    "weights are fixed: pass them as target_weights instead."
                )
            init["weights"] = check_simplex(
                _host(self.weights_init), self.n_components, "weights_init"
            )
        if self.means_init is not None:
            init["means"] = check_means(
                _host(self.means_init), self.n_components, n_features
            )
        if self.precisions_init is not None:
            init["precisions"] = check_precisions(
                _host(self.precisions_init),
                self.covariance_type,
                self.n_components,
                n_features,
            )
        if self.target_weights is None:
            target = np.full(self.n_components, 1.0 / self.n_components)
        else:
            target = check_simplex(
                _host(self.target_weights), self.n_components, "target_weights"
            )
            if np.any(target == 0):
                raise ValueError(
                    "target_weights should be positive: a component with target "
                    "weight 0 would stay empty; use fewer components instead."
                )
        init["target"] = target
        # The fit computes in the data's dtype: float32 stays float32.
        init = {
            key: None if value is None else value.astype(dtype, copy=False)
            for key, value in init.items()
        }
        if self.reg_m == math.inf:
            init["weights"] = init["target"]
        return init

    def _initial_parameters_like(self, X):
        """:meth:`_checked_initial_parameters` in the namespace, on the device and
        of the dtype of ``X`` (validated on the host)."""
        init = self._checked_initial_parameters(X.shape[1], _host_dtype(X))
        xp, device = get_namespace(X)
        return {
            key: None if value is None else asarray(value, xp, device)
            for key, value in init.items()
        }

    def _initialize(self, X, sample_mass, sample_weight, init, random_state):
        """Initial parameters: the M-step of an initial plan, then the user's ones.

        The initial plan is ``a_i`` times the responsibilities that ``init_params``
        gives: hard k-means labels, one point per component (k-means++ seeding or a
        uniform draw), or uniform random responsibilities. It is skipped when all
        three ``*_init`` are given.
        """
        weights = init["weights"]
        means = init["means"]
        covariances = None
        if weights is None or means is None or init["precisions"] is None:
            plan = self._initial_plan(X, sample_mass, sample_weight, random_state)
            mass, fitted_means, covariances = weighted_gaussian_mle(
                X, plan, sample_mass, self.reg_covar, self.covariance_type
            )
            total = namespace_of(sample_mass).sum(sample_mass)
            weights = mass / total if weights is None else weights
            means = fitted_means if means is None else means
        if init["precisions"] is None:
            precisions_chol = precision_cholesky(covariances, self.covariance_type)
        else:
            precisions_chol = precision_cholesky_from_precisions(
                init["precisions"], self.covariance_type
            )
            covariances = covariances_from_precisions(
                init["precisions"], self.covariance_type
            )
        return _Mixture(weights, means, covariances, precisions_chol)

    def _initial_plan(self, X, sample_mass, sample_weight, random_state):
        """The plan of ``init_params``: responsibilities times the sample masses.

        Random draws are made on the host by numpy; k-means and k-means++ are
        scikit-learn's numpy code, given a host copy of ``X`` (and of the
        weights). Only labels, indices or draws go to ``X``'s namespace and
        device, so that every namespace starts from the same plan.
        """
        xp = namespace_of(X)
        device = on_device_of(X)
        n_samples = X.shape[0]
        n_components = self.n_components
        if self.init_params == "random":
            draws = random_state.uniform(size=(n_samples, n_components))
            responsibilities = xp.asarray(draws, dtype=X.dtype, **device)
            responsibilities /= xp.sum(responsibilities, axis=1, keepdims=True)
            return responsibilities * sample_mass[:, np.newaxis]
        host_weight = None if sample_weight is None else to_numpy(sample_weight)
        if self.init_params == "kmeans":
            labels = (
                KMeans(n_clusters=n_components, n_init=1, random_state=random_state)
                .fit(to_numpy(X), sample_weight=host_weight)
                .labels_
            )
            sample_keys = xp.asarray(labels, **device)
            component_keys = xp.arange(n_components, **device)
        else:
            if self.init_params == "k-means++":
                _, indices = kmeans_plusplus(
                    to_numpy(X),
                    n_components,
                    sample_weight=host_weight,
                    random_state=random_state,
                )
            else:  # random_from_data
                probabilities = (
                    None if sample_weight is None else host_weight / np.sum(host_weight)
                )
                indices = random_state.choice(
                    n_samples, size=n_components, replace=False, p=probabilities
                )
            sample_keys = xp.arange(n_samples, **device)
            component_keys = xp.asarray(indices, **device)
        # One-hot: sample i belongs to component k where their keys match.
        responsibilities = astype(
            sample_keys[:, np.newaxis] == component_keys[np.newaxis, :], X.dtype
        )
        return responsibilities * sample_mass[:, np.newaxis]

    def _fitted_mixture(self):
        return _Mixture(
            self.weights_, self.means_, self.covariances_, self.precisions_cholesky_
        )

    def _set_mixture(self, mixture):
        self.weights_ = mixture.weights
        self.means_ = mixture.means
        self.covariances_ = mixture.covariances
        self.precisions_cholesky_ = mixture.precisions_chol
        self.precisions_ = precisions_from_cholesky(
            mixture.precisions_chol, self.covariance_type
        )

    # ----------------------------------------------------------------------------
    # The fitted mixture as a density

    def _weighted_log_prob(self, X):
        """The fitted mixture's :meth:`_Mixture.weighted_log_prob` at ``X``."""
        return self._fitted_mixture().weighted_log_prob(X, self.covariance_type)

    def _validate_predict_input(self, X, method):
        check_is_fitted(self)
        if is_dask_array(X):
            return _dask.check_array(self, X, reset=False)
        check_same_namespace(X, self, "means_", method)
        xp, _ = get_namespace(X)
        return validate_data(self, X, dtype=[xp.float64, xp.float32], reset=False)

    def score_samples(self, X):
        """Log-density of the fitted mixture at each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
            ``log sum_k pi_k N(x_i; mu_k, Sigma_k)``.
        """
        X = self._validate_predict_input(X, "score_samples")
        if is_dask_array(X):
            return _dask.density(self, X, "log_density")
        return _log_sum_exp_rows(self._weighted_log_prob(X))

    def score(self, X, y=None, sample_weight=None):
        """Mean log-likelihood of ``X`` under the fitted mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the mean; None weighs every sample equally.

        Returns
        -------
        log_likelihood : float
            Weighted mean of :meth:`score_samples`.
        """
        log_density = self.score_samples(X)
        if is_dask_array(log_density):
            return _dask.mean(log_density, sample_weight)
        xp = namespace_of(log_density)
        if sample_weight is None:
            return float(xp.mean(log_density))
        sample_weight = _check_sample_weight(
            sample_weight, log_density.shape[0], log_density.dtype, like=log_density
        )
        if xp is not np:
            return float(sample_weight @ log_density / xp.sum(sample_weight))
        return float(np.average(log_density, weights=sample_weight))

    def predict(self, X):
        """Most probable component of each sample under the fitted mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels.
        """
        X = self._validate_predict_input(X, "predict")
        if is_dask_array(X):
            return _dask.density(self, X, "labels")
        weighted_log_prob = self._weighted_log_prob(X)
        return namespace_of(weighted_log_prob).argmax(weighted_log_prob, axis=1)

    def predict_proba(self, X):
        """Posterior probability of each component given each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_components)
            Bayes posterior of the fitted mixture; rows sum to one.
        """
        X = self._validate_predict_input(X, "predict_proba")
        if is_dask_array(X):
            return _dask.density(self, X, "proba")
        weighted_log_prob = self._weighted_log_prob(X)
        log_norm = _log_sum_exp_rows(weighted_log_prob)
        xp = namespace_of(weighted_log_prob)
        return xp.exp(weighted_log_prob - log_norm[:, np.newaxis])

    def sample(self, n_samples=1):
        """Draw samples from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to draw.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Samples, grouped by component.
        y : ndarray of shape (n_samples,)
            Component of each sample.
        """
        check_is_fitted(self)
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(
                f"n_samples must be a positive integer, got {n_samples!r}."
            )
        rng = check_random_state(self.random_state)
        # Drawn on the host by numpy, from host copies of the parameters.
        weights, means, covariances = (
            to_numpy(self.weights_),
            to_numpy(self.means_),
            to_numpy(self.covariances_),
        )
        counts = rng.multinomial(n_samples, weights)
        n_features = means.shape[1]
        if self.covariance_type in ("full", "tied"):
            if self.covariance_type == "tied":
                covariances = [covariances] * self.n_components
            blocks = [
                rng.multivariate_normal(mean, covariance, int(count))
                for mean, covariance, count in zip(
                    means, covariances, counts, strict=True
                )
            ]
        else:
            blocks = [
                mean + rng.standard_normal(size=(count, n_features)) * np.sqrt(variance)
                for mean, variance, count in zip(
                    means, covariances, counts, strict=True
                )
            ]
        labels = np.repeat(np.arange(self.n_components), counts)
        X = np.vstack(blocks).astype(np.float64, copy=False)
        xp, device = get_namespace(self.means_)
        return asarray(X, xp, device), asarray(labels, xp, device)

    def bic(self, X):
        """Bayesian information criterion of the fitted mixture on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        bic : float
            ``-2 log L + p log n``, ``p`` the number of estimated parameters
            (the weights are not, with ``reg_m=inf``); lower is better.
        """
        X = self._validate_predict_input(X, "bic")
        return -2 * self.score(X) * X.shape[0] + self._n_parameters() * math.log(
            X.shape[0]
        )

    def aic(self, X):
        """Akaike information criterion of the fitted mixture on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        aic : float
            ``-2 log L + 2 p``, ``p`` as in :meth:`bic`; lower is better.
        """
        X = self._validate_predict_input(X, "aic")
        return -2 * self.score(X) * X.shape[0] + 2 * self._n_parameters()

    def _n_parameters(self):
        n_features = self.means_.shape[1]
        count = n_parameters(self.n_components, n_features, self.covariance_type)
        # With reg_m=inf the weights are given, not estimated.
        return count - (self.n_components - 1) * (self.reg_m == math.inf)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.array_api_support = True
        return tags

    # ----------------------------------------------------------------------------
    # Verbose output

    def _print_verbose_init_begin(self, init_index):
        if self.verbose >= 1:
            print(f"Initialization {init_index}")
            self._init_start = self._iter_start = perf_counter()

    def _print_verbose_iteration(self, n_iter, change):
        if self.verbose < 1 or n_iter % self.verbose_interval:
            return
        if self.verbose == 1:
            print(f"  Iteration {n_iter}")
        else:
            now = perf_counter()
            print(
                f"  Iteration {n_iter}\t time lapse {now - self._iter_start:.5f}s"
                f"\t lower bound change {change:.5f}"
            )
            self._iter_start = now

    def _print_verbose_init_end(self, lower_bound, converged):
        status = "converged" if converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {status}.")
        elif self.verbose >= 2:
            elapsed = perf_counter() - self._init_start
            print(
                f"Initialization {status}. time lapse {elapsed:.5f}s\t "
                f"lower bound {lower_bound:.5f}."
            )


def _log_sum_exp_rows(values):
    """``log sum_k exp(values_ik)`` of each row, in the namespace of ``values``."""
    xp = namespace_of(values)
    if xp is not np:
        return _xp_logsumexp(values, axis=1, xp=xp)
    return logsumexp(values, axis=1)


def _check_sample_weight(sample_weight, n_samples, dtype, *, like=None):
    """Validated sample weights: finite, non-negative, not all zero, one per row.

    They are validated on the host, then take ``dtype`` and the namespace and
    device of ``like`` (numpy when None). Returns None when ``sample_weight``
    is None.
    """
    if sample_weight is None:
        return None
    xp, device = get_namespace(like)
    sample_weight = check_array(
        _host(sample_weight),
        dtype=[np.float64, np.float32],
        ensure_2d=False,
        input_name="sample_weight",
    )
    if sample_weight.shape != (n_samples,):
        raise ValueError(
            f"sample_weight should have shape ({n_samples},) to match X, "
            f"but got {sample_weight.shape}."
        )
    if np.any(sample_weight < 0):
        raise ValueError("sample_weight should be non-negative; got negative values.")
    if not np.any(sample_weight > 0):
        raise ValueError(
            "sample_weight sums to zero: at least one sample needs a positive weight."
        )
    return asarray(sample_weight, xp, device, dtype=dtype)


def _host(array):
    """A host (numpy) copy of an array of another namespace; others as given."""
    if array_api_compat.is_array_api_obj(array):
        return to_numpy(array)
    return array


def _host_dtype(X):
    """The numpy dtype of ``X``'s floating type."""
    return np.float32 if X.dtype == namespace_of(X).float32 else np.float64


def _mass_of_samples(X, sample_weight):
    """Rows that carry mass and their masses ``w_i`` (``a = w / sum(w)``).

    A zero weight removes its row; uniform weights are no weights at all, so that
    the initialisation draws the same random numbers as an unweighted fit.

    The plans of the fit carry these masses unnormalised (row sums ``w_i``; ones
    without sample weights): the normalised plan of the objective times
    ``sum(w)``. Every step is invariant to that scale, and unweighted plans are
    then scikit-learn's responsibilities, bit for bit at the initialisation.

    Returns
    -------
    X : ndarray of shape (n_kept, n_features)
    sample_mass : ndarray of shape (n_kept,)
    sample_weight : ndarray of shape (n_kept,) or None
    """
    xp = namespace_of(X)
    if sample_weight is not None:
        kept = sample_weight > 0
        X, sample_weight = X[kept], sample_weight[kept]
        if xp.all(sample_weight == sample_weight[0]):
            sample_weight = None
    if sample_weight is None:
        return X, xp.ones(X.shape[0], dtype=X.dtype, **on_device_of(X)), None
    return X, sample_weight, sample_weight
