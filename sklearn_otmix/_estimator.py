"""The mixture estimator: scikit-learn's API over the fit loop
(:mod:`sklearn_otmix._fit`), with stepwise EM for streams."""

from functools import partial
from numbers import Integral, Real

import numpy as np
from sklearn.base import DensityMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._backend import asarray, get_namespace, host, to_numpy
from ._base import BaseOTMixture, keeps_state_on_error
from ._data import check_n_samples, is_dask_collection
from ._density import component_of, posterior, weighted_log_likelihood
from ._fit import warn_unsolved
from ._gaussian import draw_samples
from ._init import checked_initial_parameters, initialize
from ._noise import (
    check_noise_settings,
    check_noise_start,
    checked_noise_rows,
    clutter_of,
    hypervolume,
    noise_on,
)
from ._online import Stream, stream_step
from ._prior import PRIOR_MODELS, UNSUPPORTED_MODELS
from ._step import data_prior, free_order_groups


def _streams(estimator):
    """Whether ``partial_fit`` is available: not with a noise component."""
    if noise_on(estimator.noise) or estimator.noise_init is not None:
        raise AttributeError(
            "partial_fit does not fit a noise component (got noise="
            f"{estimator.noise!r}): its hypervolume and its start come from the "
            "whole data, and partial_fit sees one chunk. Use fit, or noise=False."
        )
    return True


class OTGaussianMixture(DensityMixin, BaseOTMixture):
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
    covariance_type : str, default='full'
        Form of the covariance matrices: one full matrix per component, one full
        matrix shared by all components, one diagonal matrix per component, or
        one variance per component (``'full'``, ``'tied'``, ``'diag'``,
        ``'spherical'``: scikit-learn's four, mclust's VVV, EEE, VVI, VII, of
        which they are aliases). Or one of mclust's other ten models, ``'EII'``,
        ``'EEI'``, ``'VEI'``, ``'EVI'``, ``'VEE'``, ``'EVE'``, ``'VVE'``,
        ``'EEV'``, ``'VEV'``, ``'EVV'``: each component's covariance is
        ``lambda_k D_k A_k D_k^T``, its volume, shape and orientation Equal
        across components, Variable, or the Identity (see :ref:`models`).
        Their ``covariances_`` and ``precisions_`` have the full form,
        (n_components, n_features, n_features). A model with orientations
        needs more samples than features, and no mclust model may have more
        free parameters than the data have values (a ``ValueError`` says so).
    tol : float, default=1e-3
        The fit stops when the lower bound (``-F``) changes by less than ``tol``
        between two iterations (see ``convergence``).
    convergence : {'absolute', 'relative'}, default='absolute'
        How ``tol`` is read. ``'absolute'``, scikit-learn's rule: the change of
        the lower bound (per unit of sample weight) is below ``tol``.
        ``'relative'``, mclust's rule (``emControl(tol)``): the change of the
        total lower bound (``n`` times it, ``n`` the total sample weight) is
        below ``tol`` times one plus its magnitude, that is the change is below
        ``tol * (1 / n + |lower bound|)``; and, as mclust's EM, the fit ends at
        the parameters that its last E-step evaluated, so that
        ``lower_bound_`` is the objective there (``'absolute'`` ends with one
        more M-step, as :class:`~sklearn.mixture.GaussianMixture`).
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
        ``'random'``, random responsibilities; ``'hierarchical'``, the
        partition of model-based agglomerative clustering, mclust's default
        (its ``hc``, VVV criterion on SVD-whitened data; built on a random
        subset of 2000 rows when there are more, the other rows joining at
        the first E-step; ``sample_weight`` does not enter the tree).
    weights_init : array-like of shape (n_components,), default=None
        Initial mixing weights; computed from ``init_params`` when None.
        With ``noise``, the Gaussians' shares of what the noise's initial
        weight leaves (they are scaled by one minus it).
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
    target_order : {'auto', 'given', 'free'}, default='auto'
        With ``reg_m=np.inf``, whether ``target_weights`` are known in the
        order of the components (``'given'``), or as proportions without an
        order (``'free'``): then each E-step gives the largest targets to the
        components whose mass is cheapest (its transport potentials), keeping
        the new order only where it lowers the objective. ``'auto'`` is
        ``'given'`` when ``means_init`` places the components, ``'free'``
        otherwise. ``partial_fit`` keeps the order given.
    weight_bounds : tuple (low, high), default=None
        Bounds on the weights that the fit estimates (``reg_m=0``): in every
        E-step each component's mass :math:`(P^\top 1)_k` is kept within
        ``[low, high]`` (numbers, or arrays of shape (n_components,)), so that
        no component empties or swallows the data. None: no bounds.
    sinkhorn_max_iter : int, default=1000
        Iteration budget of each transport solver in one E-step, whichever
        solves it (the name is POT's Sinkhorn's): with ``0 < reg_m < inf``,
        POT's unbalanced Sinkhorn iterations, then at most as many Newton steps
        on the dual where its plan misses ``sinkhorn_tol``; with
        ``reg_m=np.inf``, Newton steps on the dual (and as many again at each
        temperature of the continuation where those miss); with
        ``weight_bounds``, Newton steps on the bounded dual. Unused with
        ``reg_m=0`` and no bounds, whose E-step is closed-form.
    sinkhorn_tol : float, default=1e-9
        The largest optimality residual an E-step's transport plan may have
        (``transport_residuals_``, see :ref:`certificate`), and POT's
        stopping threshold with ``0 < reg_m < inf``.
    learning_decay : float, default=0.7
        Step-size schedule of :meth:`partial_fit`: the ``s``-th chunk's
        statistics enter the running ones with weight ``s ** -learning_decay``
        (the first replaces them). In ``(0.5, 1]``; ``1`` averages all chunks
        alike, smaller values forget the early ones, computed from earlier
        parameters, faster.
    prior : None, 'mclust' or dict, default=None
        mclust's conjugate prior (``priorControl()``; Fraley & Raftery, 2007):
        the M-step takes the posterior mode of the means and covariances
        under a normal-inverse-Wishart prior (inverse gamma for the spherical
        and diagonal models) instead of their maximum likelihood, as
        ``Mclust(X, prior = priorControl())`` does. ``'mclust'``: mclust's
        default hyperparameters, from the data: shrinkage ``0.01`` towards
        the data's mean, ``n_features + 2`` degrees of freedom, and scale the
        data's covariance divided by ``n_components ** (2 / n_features)``
        (the mean of its variances so divided for the spherical and diagonal
        models). A dict overrides them with mclust's keywords
        ``'shrinkage'``, ``'mean'``, ``'scale'`` (and ``'dof'``, which mclust
        itself ignores). mclust has such a prior for ten of the 14 models:
        not for VEE, EVE, VVE and EVV (a ``ValueError``). The weights keep
        their maximum likelihood, the lower bound and :meth:`bic` stay those
        of the likelihood (mclust's BIC with a prior), and ``fit`` computes
        the prior from the data it is given (:meth:`partial_fit` refuses a
        prior). See :ref:`mclust_prior`.
    noise : bool or float, default=False
        mclust's noise component (``Mclust(X, initialization = list(noise =
        ...))``): one more component, uniform over the data's hypervolume
        :math:`V`, of density :math:`1 / V` everywhere, whose weight
        ``noise_weight_`` is estimated with the Gaussians'. In the transport
        view it is one more column of the plan, of constant cost
        :math:`\log V`. True: :math:`V` is mclust's ``hypvol`` of the data
        that ``fit`` is given (the smaller of the volumes of their bounding
        box and of their box along the principal axes); a positive float:
        :math:`V` itself (mclust's ``Vinv = 1 / V``). Then :meth:`predict`
        marks the rows most probably noise with ``-1``,
        :meth:`predict_proba` has one more column, the noise's last, and
        the criteria count two more parameters, as mclust does (the noise's
        weight and :math:`V`). With free weights only (``reg_m=0``); not
        with :meth:`partial_fit`, Dask arrays or :meth:`sample`. See
        :ref:`mclust_noise`.
    noise_init : array-like of bool of shape (n_samples,), default=None
        With ``noise``, the rows that start in the noise component
        (mclust's ``initialization = list(noise = ...)``): the noise's
        initial weight is their share, and the Gaussians start from
        ``init_params`` on the other rows. None: the rows whose
        neighbourhood is no denser than the noise, those where the data's
        density estimated from the distance to the 5th nearest neighbour
        (the statistic of Byers & Raftery's clutter removal, as
        ``prabclus::NNclean``'s, which mclust's documentation suggests) is
        below :math:`1 / V`; at least one row, at most half of them.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        Mixing weights :math:`\pi` of the Gaussian components.
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
        :math:`-F` after each E-step of the best initialisation (after each
        chunk, for :meth:`partial_fit`).
    transport_residuals_ : list of float
        The optimality residual of each of those E-steps' transport plans
        (L1 norms): the rows' ``|P 1 - a|``, and the columns' ``|P^T 1 - t|``
        (``reg_m=np.inf``), the dual gradient ``|t exp(-g/reg_m) - P^T 1|``
        (``0 < reg_m < inf``) or the bounds' complementarity
        (``weight_bounds``), whichever is larger (see :ref:`certificate`). An
        E-step converged when it is at most ``sinkhorn_tol``; a
        :class:`~sklearn.exceptions.ConvergenceWarning` says when one did not.
    n_steps_ : int
        Number of chunks seen by :meth:`partial_fit`.
    noise_weight_ : float
        The noise component's weight :math:`\pi_0` (``weights_`` then sum
        to ``1 - noise_weight_``). Only with ``noise``.
    hypervolume_ : float
        The noise component's hypervolume :math:`V`, its density
        :math:`1 / V`. Only with ``noise``.
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
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "learning_decay": [Interval(Real, 0.5, 1.0, closed="right")],
        "prior": [None, StrOptions({"mclust"}), dict],
        "noise": ["boolean", Interval(Real, 0.0, None, closed="neither")],
        "noise_init": ["array-like", None],
        **BaseOTMixture._parameter_constraints,
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        convergence="absolute",
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
        target_order="auto",
        weight_bounds=None,
        sinkhorn_max_iter=1000,
        sinkhorn_tol=1e-9,
        learning_decay=0.7,
        prior=None,
        noise=False,
        noise_init=None,
    ):
        super().__init__(
            covariance_type=covariance_type,
            tol=tol,
            convergence=convergence,
            reg_covar=reg_covar,
            max_iter=max_iter,
            n_init=n_init,
            init_params=init_params,
            random_state=random_state,
            warm_start=warm_start,
            verbose=verbose,
            verbose_interval=verbose_interval,
            reg=reg,
            reg_m=reg_m,
            target_weights=target_weights,
            target_order=target_order,
            weight_bounds=weight_bounds,
            sinkhorn_max_iter=sinkhorn_max_iter,
            sinkhorn_tol=sinkhorn_tol,
        )
        self.n_components = n_components
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.learning_decay = learning_decay
        self.prior = prior
        self.noise = noise
        self.noise_init = noise_init

    # ----------------------------------------------------------------------------
    # Fitting

    @_fit_context(prefer_skip_nested_validation=True)
    @keeps_state_on_error
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
        self._fit(X, sample_weight)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    @keeps_state_on_error
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
        samples = self._fit(X, sample_weight)
        # Labels from the final parameters, so fit_predict(X) == fit(X).predict(X).
        return self._rows(samples, component_of, dtype="int64")

    def _fit(self, X, sample_weight):
        """The fit of :meth:`fit` and :meth:`fit_predict`; returns its
        samples (:meth:`fit` reads no labels from them)."""
        check_noise_settings(
            self.noise, self.noise_init, self.reg_m, is_dask_collection(X)
        )
        samples = self._fit_samples(X, sample_weight, self.n_components)
        hypervolume, noise_rows = self._noise_start(samples, sample_weight)
        problem, init = self._problem(samples.like, hypervolume)
        if noise_rows is not None:
            init["noise"] = noise_rows
        if self.prior is not None:
            overrides = self._prior_overrides(problem)
            problem = problem._replace(prior=data_prior(samples, problem, overrides))
        self._fit_problem(samples, problem, init)
        # A fit starts partial_fit's stream afresh.
        for name in ("n_steps_", "_stream"):
            self.__dict__.pop(name, None)
        return samples

    @available_if(_streams)
    @_fit_context(prefer_skip_nested_validation=True)
    @keeps_state_on_error
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
        if self.prior is not None:
            raise ValueError(
                f"partial_fit does not take a prior (got prior={self.prior!r}): "
                "mclust's prior is computed from the whole data, and partial_fit "
                "sees one chunk. Use fit, or prior=None."
            )
        fitted = hasattr(self, "weights_")
        samples = self._samples(
            X, sample_weight, reset=not fitted, n_components=self.n_components
        )
        if not samples.total > 0:
            raise ValueError(
                "partial_fit needs a chunk with at least one sample of positive "
                f"weight; got {samples.n_samples} samples and a total weight of "
                f"{samples.total}."
            )
        problem, init = self._problem(samples.like)
        if fitted:
            mixture = self._mixture()
        else:
            random_state = check_random_state(self.random_state)
            sample = samples.initialization_sample(random_state)
            if sample.X.shape[0] < self.n_components:
                raise ValueError(
                    "The first chunk given to partial_fit initialises the mixture "
                    f"and needs at least n_components = {self.n_components} samples "
                    f"with a positive weight; got {sample.X.shape[0]}."
                )
            mixture = initialize(
                sample,
                problem,
                init,
                self.init_params,
                random_state,
            )
        if not hasattr(self, "n_steps_"):
            self._stream = Stream()
            self.lower_bounds_ = []
            self.transport_residuals_ = []
        mixture, self._stream, step = stream_step(
            samples, mixture, problem, self._stream, self.learning_decay
        )
        self._set_mixture(mixture)
        self.n_steps_ = self._stream.n_steps
        self.lower_bound_ = -step.value
        self.lower_bounds_ = [*self.lower_bounds_, self.lower_bound_]
        self.transport_residuals_ = [*self.transport_residuals_, step.residual]
        warn_unsolved(
            not step.converged, [step.residual], problem.transport, stacklevel=4
        )
        return self

    def _prior_overrides(self, problem):
        """mclust's overrides of its default prior in ``prior`` (checked),
        once the covariance model is checked to have a prior."""
        model = problem.mclust_model
        if model in UNSUPPORTED_MODELS:
            raise ValueError(
                f"prior={self.prior!r} with covariance_type={self.covariance_type!r}: "
                f"mclust has no conjugate prior for {model}; it fits "
                f"{', '.join(PRIOR_MODELS)} with one. Choose one of those models, "
                "or prior=None."
            )
        if self.prior == "mclust":
            return {}
        unknown = sorted(set(self.prior) - {"shrinkage", "mean", "dof", "scale"})
        if unknown:
            raise ValueError(
                f"prior has unknown keys {unknown}: mclust's priorControl() takes "
                "'shrinkage', 'mean', 'scale' (and 'dof'); or pass prior='mclust'."
            )
        return dict(self.prior)

    def _noise_start(self, samples, sample_weight):
        """The noise component's hypervolume and the rows (of positive
        weight) that start in it (host booleans); (None, None) without one."""
        if not noise_on(self.noise):
            return None, None
        if self.noise_init is None:
            volume, rows = clutter_of(self.noise, samples)
            check_noise_start(rows, self.n_components)
            return volume, rows
        volume, _ = hypervolume(self.noise, to_numpy(samples.X))
        rows = checked_noise_rows(
            host(self.noise_init),
            samples.all_rows.shape[0],
            None if sample_weight is None else np.asarray(host(sample_weight)),
            self.n_components,
        )
        return volume, rows

    def _problem(self, like, hypervolume=None):
        """The numerics' view of the parameters, and the validated ``*_init``, in
        the namespace, on the device and of the dtype of ``like`` (an array of
        ``n_features`` columns: see the data layer); ``hypervolume``: the
        noise component's, or None."""
        init = checked_initial_parameters(
            like,
            n_components=self.n_components,
            form=self._form,
            reg_m=self.reg_m,
            weights_init=self.weights_init,
            means_init=self.means_init,
            precisions_init=self.precisions_init,
            target_weights=self.target_weights,
        )
        problem = self._mixture_problem(
            self.n_components,
            init["target"],
            hypervolume,
            target_groups=free_order_groups(
                self.target_order,
                self.reg_m,
                self.means_init is not None,
                [np.arange(self.n_components)],
            ),
        )
        return problem, init

    # ----------------------------------------------------------------------------
    # The fitted mixture as a density

    def _score(self, samples):
        """Weighted mean log-likelihood of ``samples``."""
        total = samples.sum(
            partial(weighted_log_likelihood, mixture=self._mixture(), form=self._form)
        )
        return float(total) / samples.total

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
        return self._score(self._fitted_samples(X, "score", sample_weight))

    def predict(self, X):
        """Most probable component of each sample under the fitted mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels, ``-1`` where the noise component is the most
            probable (with ``noise``); a lazy Dask array for a Dask ``X``.
        """
        return self._rows(
            self._fitted_samples(X, "predict"), component_of, dtype="int64"
        )

    def predict_proba(self, X):
        """Posterior probability of each component given each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_components)
            Bayes posterior of the fitted mixture; rows sum to one. With
            ``noise``, of shape (n_samples, n_components + 1): the last column
            is the noise component's. A lazy Dask array for a Dask ``X``.
        """
        samples = self._fitted_samples(X, "predict_proba")
        columns = self.weights_.shape[0] + hasattr(self, "noise_weight_")
        return self._rows(samples, posterior, columns=columns, dtype=samples.like.dtype)

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
        check_n_samples(n_samples)
        if hasattr(self, "noise_weight_"):
            raise ValueError(
                "sample() draws from the Gaussian components; this mixture has a "
                "noise component, uniform over a hypervolume whose region is not "
                "kept. Fit with noise=False to sample."
            )
        # Drawn on the host by numpy, from host copies of the parameters.
        X, y = draw_samples(
            to_numpy(self.weights_),
            to_numpy(self.means_),
            to_numpy(self.covariances_),
            self._form,
            n_samples,
            check_random_state(self.random_state),
        )
        xp, device = get_namespace(self.means_)
        return asarray(X, xp, device), asarray(y, xp, device)

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
            (the weights are not, with ``reg_m=inf``; with ``noise``, two
            more, as mclust counts: the noise's weight and its hypervolume);
            lower is better.
        """
        return self._criteria(X, method="bic").bic

    def icl(self, X):
        """Integrated completed likelihood of the fitted mixture on ``X``
        (Biernacki, Celeux & Govaert, 2000): the criterion of
        :class:`OTGaussianMixtureSearch` with ``criterion='icl'``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        icl : float
            :meth:`bic` plus twice the entropy of the posteriors,
            ``-2 sum_i sum_k z_ik log z_ik``: the BIC of the classification
            likelihood, which penalises overlapping components; lower is better.
        """
        return self._criteria(X, method="icl").icl

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
        return self._criteria(X, method="aic").aic
