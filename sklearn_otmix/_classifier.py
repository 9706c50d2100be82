"""The classifier: labels as constraints on the transport plan."""

import math
from functools import partial
from numbers import Integral

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval

from ._backend import asarray, get_namespace, host, is_host_array, to_numpy
from ._base import BaseOTMixture, keeps_state_on_error
from ._data import check_labels
from ._density import class_log_posterior, class_of, class_posterior, class_sums
from ._init import checked_initial_parameters
from ._step import free_order_groups


class OTGaussianMixtureClassifier(ClassifierMixin, BaseOTMixture):
    r"""Gaussian-mixture classifier: labels as constraints on the transport plan.

    Each class is modelled by one or more Gaussian components, all in one
    mixture fitted by the transport objective of :class:`OTGaussianMixture`,

    .. math::

        F(P, \phi, \pi) = \langle C(\phi), P \rangle
            + \varepsilon\, \mathrm{KL}(P \,|\, a \otimes \pi)
            + \rho\, \mathrm{KL}(P^\top 1 \,|\, t)
        \quad \text{over } P \geq 0,\ P 1 = a,\
            P_{ik} = 0 \text{ where } y_i \neq -1,\ c(k) \neq y_i,

    where :math:`c(k)` is the class of component :math:`k`: a labelled sample
    sends its mass only to its class's components (an infinite cost elsewhere:
    the plan is exactly zero there), an unlabelled sample (``y = -1``) to any.

    - Every row labelled, one component per class: the fit is quadratic
      discriminant analysis (``'full'``), or linear discriminant analysis
      (``'tied'``), with maximum-likelihood covariances.
    - Several components per class: mixture discriminant analysis.
    - Some rows unlabelled: semi-supervised EM.

    ``predict_proba`` is the Bayes posterior of the classes under the fitted
    mixture: the sum of the posteriors of each class's components.

    Parameters
    ----------
    n_components_per_class : int or array-like of int, default=1
        Number of components of each class: one number for all, or one per
        class in the order of ``classes_``.
    covariance_type : str, default='full'
        Form of the covariance matrices: scikit-learn's four or mclust's 14
        models, as in :class:`OTGaussianMixture`.
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
        Non-negative value added to the diagonal of every covariance.
    max_iter : int, default=100
        Number of block-coordinate (EM) iterations per initialisation.
    n_init : int, default=1
        Number of initialisations; the one with the largest lower bound is kept.
    init_params : str, default='kmeans'
        How the components of a class with several are placed among its
        labelled rows: ``'kmeans'``, ``'k-means++'``, ``'random_from_data'``,
        ``'random'`` or ``'hierarchical'``, as in :class:`OTGaussianMixture`.
        A class's one component starts from all its labelled rows. An
        unlabelled row starts on every component evenly: it counts in the
        initial weights and covariances, while each initial mean is that of
        the component's labelled rows.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation.
    warm_start : bool, default=False
        If True, each call to :meth:`fit` starts from the previous solution
        (for the same classes and components) and ``n_init`` is ignored.
    verbose : int, default=0
        1 prints the initialisations and iterations, 2 also the time and the
        change of the lower bound.
    verbose_interval : int, default=10
        Number of iterations between two printed lines.
    reg : float, default=1.0
        Entropic temperature :math:`\varepsilon > 0`; ``1`` is maximum likelihood.
    reg_m : float, default=0.0
        Strength :math:`\rho \in [0, \infty]` of the penalty pulling the mixing
        weights toward ``target_weights``; ``np.inf`` fixes them (known class
        proportions, Sinkhorn EM).
    target_weights : array-like of shape (`n_components_`,), default=None
        Target mixing weights :math:`t`, in the order of the components
        (``component_class_``); used when ``reg_m > 0``. When None, each class
        gets its share of the labelled rows' mass, split evenly among its
        components. With ``reg_m=np.inf`` a class's components must be able to
        take its labelled rows: their targets sum to at least the class's share
        of the total mass.
    target_order : {'auto', 'given', 'free'}, default='auto'
        With ``reg_m=np.inf``, whether the targets of a class's components are
        known in their order (``'given'``) or as proportions without an order
        (``'free'``, the same as ``'auto'``): as in
        :class:`OTGaussianMixture`, within each class.
    weight_bounds : tuple (low, high), default=None
        Bounds on each component's weight with ``reg_m=0``, as in
        :class:`OTGaussianMixture` (one bound, or one per component in the
        order of ``component_class_``).
    sinkhorn_max_iter : int, default=1000
        Iteration budget of each transport solver in one E-step (Sinkhorn
        iterations or Newton steps, as in :class:`OTGaussianMixture`).
    sinkhorn_tol : float, default=1e-9
        The largest optimality residual an E-step's transport plan may have
        (``transport_residuals_``).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels.
    n_components_ : int
        Number of components, over all classes.
    component_class_ : ndarray of shape (`n_components_`,)
        The class of each component, as its index in ``classes_``
        (``classes_[component_class_]`` are the labels); the components of a
        class are consecutive.
    weights_ : ndarray of shape (`n_components_`,)
        Mixing weights :math:`\pi`; a class's prior is the sum of its
        components' weights.
    means_ : ndarray of shape (`n_components_`, n_features)
        Component means.
    covariances_ : ndarray
        Component covariances, of the shapes of :class:`OTGaussianMixture`.
    precisions_ : ndarray
        Inverses of ``covariances_``.
    precisions_cholesky_ : ndarray
        Cholesky factors of the precisions.
    converged_ : bool
        Whether the best initialisation converged.
    n_iter_ : int
        Number of iterations of the best initialisation.
    lower_bound_ : float
        :math:`-F` after the last E-step of the best initialisation.
    lower_bounds_ : list of float
        :math:`-F` after each E-step of the best initialisation.
    transport_residuals_ : list of float
        The optimality residual of each of those E-steps' transport plans, as
        :class:`OTGaussianMixture`'s.
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :meth:`fit`, when ``X`` has string column
        names.

    See Also
    --------
    OTGaussianMixture : The mixture without labels.
    sklearn.discriminant_analysis.QuadraticDiscriminantAnalysis : ``'full'``,
        every row labelled, one component per class (up to its ``n_k - 1``).
    sklearn.discriminant_analysis.LinearDiscriminantAnalysis : ``'tied'``,
        every row labelled, one component per class.
    sklearn.semi_supervised.SelfTrainingClassifier : Another semi-supervised
        learner, around any classifier.

    Notes
    -----
    ``-1`` in ``y`` marks an unlabelled row, as in :mod:`sklearn.semi_supervised`,
    when ``y`` has at least two other values. With one other value only
    (binary labels ``{-1, 1}``) ``-1`` is a class: a fit with one class cannot
    be semi-supervised.

    References
    ----------
    .. [1] T. Hastie, R. Tibshirani. Discriminant analysis by Gaussian
       mixtures. JRSS B 58(1), 1996.
    .. [2] K. Nigam, A. McCallum, S. Thrun, T. Mitchell. Text classification
       from labeled and unlabeled documents using EM. Machine Learning 39, 2000.
    .. [3] T. Vayer, E. Lasalle. A note on the relations between mixture
       models, maximum-likelihood and entropic optimal transport.
       arXiv:2501.12005, 2025.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_otmix import OTGaussianMixtureClassifier
    >>> X = np.array([[0., 0.], [0., 1.], [1., 0.], [5., 5.], [5., 6.], [6., 5.]])
    >>> y = np.array([0, -1, 0, 1, 1, -1])
    >>> clf = OTGaussianMixtureClassifier(covariance_type="spherical").fit(X, y)
    >>> clf.predict([[0.5, 0.5], [5.5, 5.5]])
    array([0, 1])
    """

    _parameter_constraints: dict = {
        "n_components_per_class": [
            Interval(Integral, 1, None, closed="left"),
            "array-like",
        ],
        **BaseOTMixture._parameter_constraints,
    }

    def __init__(
        self,
        n_components_per_class=1,
        *,
        covariance_type="full",
        tol=1e-3,
        convergence="absolute",
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
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
        self.n_components_per_class = n_components_per_class

    # ----------------------------------------------------------------------------
    # Fitting

    @_fit_context(prefer_skip_nested_validation=True)
    @keeps_state_on_error
    def fit(self, X, y, sample_weight=None):
        """Fit the mixture with the labels as constraints on the plan.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data: numpy, an array-API array, or a Dask array.
        y : array-like of shape (n_samples,)
            Class of each row; ``-1`` for an unlabelled row. A Dask array
            (chunked like ``X``) for a Dask ``X``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples; None gives every sample weight 1.

        Returns
        -------
        self : OTGaussianMixtureClassifier
            The fitted estimator.
        """
        classes, labels = check_labels(y)
        per_class = self._per_class(classes.shape[0])
        n_components = int(per_class.sum())
        samples = self._fit_samples(X, sample_weight, n_components, labels=labels)
        problem, init = self._problem(samples, classes, per_class)
        if self.warm_start and hasattr(self, "lower_bound_"):
            self._check_continues(classes, per_class)
        self._fit_problem(samples, problem, init)
        self.classes_ = classes
        self.n_components_ = n_components
        self.component_class_ = problem.component_class
        return self

    def _problem(self, samples, classes, per_class):
        """The numerics' view of the parameters, for labelled ``samples``: the
        transport problem with each component's class, and the validated
        target weights (see :func:`sklearn_otmix._init.checked_initial_parameters`)."""
        sums = class_sums(samples, classes.shape[0])
        _check_classes(classes, sums, per_class)
        n_components = int(per_class.sum())
        init = checked_initial_parameters(
            samples.like,
            n_components=n_components,
            form=self._form,
            reg_m=self.reg_m,
            weights_init=None,
            means_init=None,
            precisions_init=None,
            target_weights=self._target(classes, sums, per_class, samples.total),
        )
        xp, device = get_namespace(samples.like)
        component_class = np.repeat(np.arange(classes.shape[0]), per_class)
        problem = self._mixture_problem(
            n_components,
            init["target"],
            component_class=asarray(component_class, xp, device),
            target_groups=free_order_groups(
                self.target_order,
                self.reg_m,
                False,
                [np.flatnonzero(component_class == c) for c in range(len(classes))],
            ),
        )
        bounds = problem.transport.bounds
        if bounds is not None:
            _check_bounds_hold_labels(classes, sums, samples.total, bounds, per_class)
        return problem, init

    def _per_class(self, n_classes):
        """The number of components of each class, validated."""
        per_class = self.n_components_per_class
        if isinstance(per_class, Integral):
            return np.full(n_classes, int(per_class))
        per_class = np.asarray(per_class)
        if per_class.shape != (n_classes,):
            raise ValueError(
                "n_components_per_class should be an integer or give one number "
                f"per class: y has {n_classes} classes, got shape "
                f"{per_class.shape}."
            )
        if per_class.dtype.kind not in "iu" or np.any(per_class < 1):
            raise ValueError(
                "n_components_per_class should hold positive integers, got "
                f"{per_class.tolist()}."
            )
        return per_class.astype(np.int64)

    def _target(self, classes, sums, per_class, total):
        """``t``: the given target weights, checked to be within the labels'
        reach with ``reg_m=inf``; else each class's share of the labelled mass,
        split evenly among its components."""
        share = sums.mass / total  # labelled mass of each class, of all mass
        if self.target_weights is None:
            return np.repeat(share / share.sum() / per_class, per_class)
        target = self.target_weights
        if self.reg_m == math.inf:
            target = np.asarray(host(target), dtype=np.float64)
            if target.shape == (int(per_class.sum()),):
                # A class's components take at least its labelled rows' mass.
                ends = np.cumsum(per_class)
                class_target = np.add.reduceat(target / target.sum(), ends - per_class)
                excess = share - class_target
                if np.any(excess > max(self.sinkhorn_tol, 1e-12)):
                    worst = int(np.argmax(excess))
                    raise ValueError(
                        f"target_weights give class {classes[worst]!r} "
                        f"{class_target[worst]:.6g} of the mass, but its labelled "
                        f"rows alone carry {share[worst]:.6g}: with reg_m=inf the "
                        "plan cannot place them. Give its components more target "
                        "weight, or use a finite reg_m."
                    )
        return target

    def _check_continues(self, classes, per_class):
        """A warm start continues a fit of the same classes and components."""
        previous = np.bincount(to_numpy(self.component_class_))
        if not (
            np.array_equal(self.classes_, classes)
            and np.array_equal(previous, per_class)
        ):
            raise ValueError(
                "warm_start=True continues the previous fit, whose classes and "
                "components differ from this one's: fit with warm_start=False."
            )

    # ----------------------------------------------------------------------------
    # Prediction

    def _groups(self):
        """Each class's components, as integer arrays in the parameters'
        namespace and on their device."""
        xp, device = get_namespace(self.means_)
        component_class = to_numpy(self.component_class_)
        return [
            asarray(np.flatnonzero(component_class == index), xp, device)
            for index in range(self.classes_.shape[0])
        ]

    def _class_columns(self, X, function, method):
        """``function`` of the classes' components at each row of ``X``: one
        column per class (lazy for Dask)."""
        samples = self._fitted_samples(X, method)
        return self._rows(
            samples,
            partial(function, groups=self._groups()),
            columns=self.classes_.shape[0],
            dtype=samples.like.dtype,
        )

    def predict_log_proba(self, X):
        """Log-posterior of each class given each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            ``log P(class | x)`` under the fitted mixture, computed in the
            log domain (finite where the probability underflows); a lazy Dask
            array for a Dask ``X``.
        """
        return self._class_columns(X, class_log_posterior, "predict_log_proba")

    def predict_proba(self, X):
        """Posterior probability of each class given each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            The sum of the posteriors of each class's components under the
            fitted mixture; rows sum to one. A lazy Dask array for a Dask
            ``X``.
        """
        return self._class_columns(X, class_posterior, "predict_proba")

    def predict(self, X):
        """Most probable class of each sample under the fitted mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Labels from ``classes_``; in ``X``'s namespace where the labels are
            numbers, a lazy Dask array for a Dask ``X``.
        """
        samples = self._fitted_samples(X, "predict")
        classes = self.classes_
        if is_host_array(samples.like) or classes.dtype.kind in "biuf":
            # Labels on the rows' side: numpy (also in Dask's chunks), or
            # numbers in the rows' namespace.
            labels = asarray(classes, *get_namespace(samples.like))
            function = partial(class_of, groups=self._groups(), classes=labels)
            return self._rows(samples, function, dtype=classes.dtype)
        # Strings from rows of another namespace: the indices, then the host.
        function = partial(class_of, groups=self._groups())
        return classes[to_numpy(self._rows(samples, function, dtype="int64"))]

    def score(self, X, y, sample_weight=None):
        """Accuracy of :meth:`predict` on ``X`` against the true classes ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.
        y : array-like of shape (n_samples,)
            Their true classes: every row labelled (no ``-1`` marking an
            unlabelled row, unless ``-1`` is one of ``classes_``).
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the mean.

        Returns
        -------
        score : float
            The (weighted) fraction of rows whose class is predicted.
        """
        y_host = np.asarray(to_numpy(y) if hasattr(y, "__array_namespace__") else y)
        if -1 not in set(self.classes_.tolist()) and np.any(
            np.asarray([value == -1 for value in y_host.ravel().tolist()], dtype=bool)
        ):
            raise ValueError(
                "score compares predictions with true classes, but y marks rows "
                "as unlabelled (-1): score on labelled rows only, e.g. "
                "X[y != -1], y[y != -1]."
            )
        return super().score(X, y, sample_weight=sample_weight)


def _check_classes(classes, sums, per_class):
    """Every class has labelled rows of positive weight, and as many at least
    as its components."""
    for label, mass, count, wanted in zip(
        classes.tolist(), sums.mass, sums.count, per_class, strict=True
    ):
        if not mass > 0:
            raise ValueError(
                f"The class {label!r} has no labelled row of positive "
                "sample_weight: nothing places its components. Give it weighted "
                "labelled rows, or relabel its rows -1 (unlabelled)."
            )
        if count < wanted:
            raise ValueError(
                f"The class {label!r} has {count} labelled row(s) of positive "
                f"weight, fewer than its {wanted} components: each component starts "
                "from at least one labelled row. Lower n_components_per_class "
                "for this class, or label more of its rows."
            )


def _check_bounds_hold_labels(classes, sums, total, bounds, per_class):
    """With weight_bounds, each class's components can take its labelled rows
    (their upper bounds) and need no more than it and the unlabelled rows can
    give (their lower bounds)."""
    starts = np.cumsum(per_class) - per_class
    low, high = (np.add.reduceat(bound, starts) for bound in bounds)
    share = sums.mass / total
    unlabelled = 1.0 - share.sum()
    for label, labelled, lowest, highest in zip(
        classes.tolist(), share, low, high, strict=True
    ):
        if labelled > highest + 1e-12:
            raise ValueError(
                f"weight_bounds let the components of class {label!r} take "
                f"{highest:.6g} of the mass, but its labelled rows alone carry "
                f"{labelled:.6g}: raise their upper bounds."
            )
        if lowest > labelled + unlabelled + 1e-12:
            raise ValueError(
                f"weight_bounds ask the components of class {label!r} for at "
                f"least {lowest:.6g} of the mass, but its labelled rows and all "
                f"the unlabelled ones carry {labelled + unlabelled:.6g}: lower "
                "their lower bounds."
            )
