"""The classifier: labels as constraints on the transport plan."""

import math
import warnings
from functools import partial
from numbers import Integral, Real

import numpy as np
from sklearn.base import ClassifierMixin, _fit_context, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from ._backend import asarray, get_namespace, host, is_host_array, to_numpy
from ._base import BaseOTMixture, keeps_state_on_error
from ._dask import _import_dask
from ._data import check_labels, is_dask_collection
from ._density import class_log_posterior, class_of, class_posterior, class_sums
from ._init import checked_initial_parameters
from ._gaussian import COVARIANCE_TYPES, precision_cholesky
from ._step import e_step, free_order_groups

#: The unlabelled rows' weights among which ``unlabelled_weight='auto'``
#: chooses: from the labelled rows alone to plain semi-supervised EM.
UNLABELLED_WEIGHTS = (0.0, 0.01, 0.1, 0.3, 1.0)

#: The folds of ``unlabelled_weight='auto'``'s cross-validation.
CV_FOLDS = 5

#: Held-out Brier scores (means per row) closer than this are a tie.
BRIER_TIE = 0.002


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
    - Some rows unlabelled: semi-supervised EM, with the unlabelled rows'
      mass scaled by ``unlabelled_weight`` (EM-lambda [2]_), chosen by
      cross-validation by default so that they do not pull the fit below the
      labelled rows alone.
    - ``shrinkage``: linear discriminant analysis's shrunk covariances, in
      every M-step.

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
    shrinkage : None, 'auto' or float in [0, 1], default=None
        Shrinkage of the covariances in every M-step, as
        :class:`~sklearn.discriminant_analysis.LinearDiscriminantAnalysis`'s
        (scikit-learn's four covariance types only). A float ``s``: each
        covariance ``S`` becomes ``(1 - s) S + s (tr S / d) I``
        (:func:`sklearn.covariance.shrunk_covariance`). ``'auto'``: each
        component's ``S_k`` becomes ``(1 - s_k) S_k + s_k diag(S_k)``, with
        Ledoit and Wolf's coefficient ``s_k`` for its rows standardised by
        its means and variances (weighted by the plan, its mass as the number
        of rows; one more pass over the data per iteration). A ``'tied'``
        covariance pools the components' shrunk ones with their masses, as
        LDA pools its classes'. Every row labelled, one component per class
        and ``reg_covar=0``: ``'tied'`` is
        ``LinearDiscriminantAnalysis(solver='lsqr', shrinkage=shrinkage)``
        and ``'full'`` is
        ``QuadraticDiscriminantAnalysis(solver='eigen', shrinkage=shrinkage)``.
        ``'diag'`` and ``'spherical'`` are their own Ledoit-Wolf targets
        (``'auto'`` leaves them as they are); a float pulls ``'diag'``
        toward the mean variance. ``reg_covar`` is added after shrinking.
    covariance_estimator : estimator, default=None
        As LDA's: an object with a ``fit`` method and a ``covariance_``
        attribute (those of :mod:`sklearn.covariance`), fitted on each
        class's rows in place of the maximum-likelihood covariance
        (``'full'``), or pooled with the classes' shares of the rows
        (``'tied'``); ``reg_covar`` is added. It needs the rows of each class
        known: every row of positive weight labelled (or
        ``unlabelled_weight=0``), one component per class, no unequal
        ``sample_weight``, ``X`` in memory; not with ``shrinkage``.
        ``lower_bound_`` is then ``-F`` at these covariances.
        QuadraticDiscriminantAnalysis's ``reg_param = r`` is the estimator
        whose ``covariance_`` is ``(1 - r) S + r I``, ``S`` the
        maximum-likelihood covariance.
    unlabelled_weight : float in [0, 1] or 'auto', default='auto'
        The weight ``lambda`` of the unlabelled rows (``y = -1``): their
        sample weights (their mass in the plan) are multiplied by it. ``1``
        is plain semi-supervised EM; ``0`` fits the labelled rows alone.
        ``'auto'`` chooses among :data:`UNLABELLED_WEIGHTS` by
        cross-validation on the labelled rows (see Notes); it is ``1`` when
        no labelled row can be held out, and without unlabelled rows.
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
    unlabelled_weight_ : float
        The weight of the unlabelled rows in the fit (``unlabelled_weight``,
        or the one ``'auto'`` chose).
    unlabelled_weight_cv_ : dict or None
        ``'auto'``'s cross-validation: ``'unlabelled_weight'`` (the weights
        tried), ``'brier'`` and ``'accuracy'`` (the held-out rows' mean Brier
        score and accuracy of each; NaN where a fit failed); None when
        nothing was cross-validated.
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
    ``unlabelled_weight='auto'`` holds out labelled rows in 5 folds (each
    class keeps as many labelled rows as it has components in every fold;
    the others are drawn into folds by ``random_state``). In each fold the
    held-out rows join the unlabelled ones, and a fit for each weight predicts
    their classes. The weight with the lowest mean Brier score over the
    held-out rows wins; weights within :data:`BRIER_TIE` of it are a tie,
    won by the largest. The Brier score is a proper scoring rule, so it
    separates fits that the accuracy of a few held-out rows cannot (the
    accuracy moves in steps of one row); it is bounded, so that one
    over-confident mistake of a near-singular fit on few labelled rows
    costs at most 2, where the log-loss lets that one row decide. A tie goes
    to the larger weight: when the held-out rows cannot tell, the fit uses
    the unlabelled rows, as plain EM would. The fits of the cross-validation
    are silent (their ConvergenceWarning is not shown); a weight whose fit
    fails in some fold is not chosen.

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
        "shrinkage": [
            Interval(Real, 0.0, 1.0, closed="both"),
            StrOptions({"auto"}),
            None,
        ],
        "covariance_estimator": [HasMethods("fit"), None],
        "unlabelled_weight": [
            Interval(Real, 0.0, 1.0, closed="both"),
            StrOptions({"auto"}),
        ],
        **BaseOTMixture._parameter_constraints,
    }

    def __init__(
        self,
        n_components_per_class=1,
        *,
        covariance_type="full",
        shrinkage=None,
        covariance_estimator=None,
        unlabelled_weight="auto",
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
        self.shrinkage = shrinkage
        self.covariance_estimator = covariance_estimator
        self.unlabelled_weight = unlabelled_weight

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
        self._check_covariance_options()
        weight, self.unlabelled_weight_cv_ = self.unlabelled_weight, None
        if weight == "auto" and self.covariance_estimator is not None:
            weight = 1.0  # nothing to choose: the estimator takes labelled rows
        elif weight == "auto":
            # The data, labels and constraints checked once before the
            # cross-validation's fits, which assume them.
            samples = self._fit_samples(
                X, sample_weight, int(per_class.sum()), labels=labels
            )
            self._problem(samples, classes, per_class)
            weight, self.unlabelled_weight_cv_ = self._cross_validated_weight(
                X, classes, labels, per_class, sample_weight
            )
        self._fit_labels(
            X,
            classes,
            labels,
            per_class,
            unlabelled_scaled(sample_weight, labels, weight),
        )
        self.unlabelled_weight_ = float(weight)
        return self

    def _fit_labels(self, X, classes, labels, per_class, sample_weight):
        """The fit of :meth:`fit` for validated class indices ``labels`` and
        the final ``sample_weight`` (the unlabelled rows' scaled)."""
        n_components = int(per_class.sum())
        samples = self._fit_samples(X, sample_weight, n_components, labels=labels)
        if samples.missing and self.shrinkage == "auto":
            raise ValueError(
                "shrinkage='auto' reads the fourth moments of complete rows, but X "
                "has missing values (NaN): give a float shrinkage, or impute X "
                "first."
            )
        problem, init = self._problem(samples, classes, per_class)
        if self.warm_start and hasattr(self, "lower_bound_"):
            self._check_continues(classes, per_class)
        if self.covariance_estimator is not None:
            _check_rows_known(samples, per_class)
        self._fit_problem(samples, problem, init)
        self.classes_ = classes
        self.n_components_ = n_components
        self.component_class_ = problem.component_class
        if self.covariance_estimator is not None:
            self._estimated_covariances(samples, problem, per_class)
        return self

    def _check_covariance_options(self):
        """``shrinkage`` and ``covariance_estimator`` are for scikit-learn's
        four covariance types, one at a time."""
        if self.shrinkage is not None and self.covariance_type not in COVARIANCE_TYPES:
            raise ValueError(
                f"shrinkage shrinks the covariances of scikit-learn's covariance "
                f"types {COVARIANCE_TYPES}, not those of mclust's model "
                f"{self.covariance_type!r}: use one of the four, or shrinkage=None."
            )
        if self.covariance_estimator is None:
            return
        if self.shrinkage is not None and self.shrinkage != 0:
            raise ValueError(
                "covariance_estimator and shrinkage are both set: the estimator "
                "gives the covariances, so set only one of them (as in "
                "LinearDiscriminantAnalysis)."
            )
        if self.covariance_type not in ("full", "tied"):
            raise ValueError(
                "covariance_estimator gives each class a full covariance, for "
                f"covariance_type 'full' or 'tied', not {self.covariance_type!r}."
            )

    def _cross_validated_weight(self, X, classes, labels, per_class, sample_weight):
        """``unlabelled_weight='auto'``: the weight of
        :data:`UNLABELLED_WEIGHTS` whose fits predict held-out labelled rows
        best (see the class's Notes), and the table of its scores (None when
        there is nothing to choose: no unlabelled row, or no labelled row that
        a fold can hold out)."""
        host_labels = _host(labels).astype(np.int64)
        host_weight = None if sample_weight is None else _host(sample_weight)
        positive = np.ones(host_labels.shape[0], dtype=bool)
        if host_weight is not None:  # validated by fit, one per row
            positive = host_weight > 0
        if not np.any((host_labels < 0) & positive):
            return 1.0, None
        random_state = check_random_state(self.random_state)
        rng = np.random.RandomState(random_state.randint(np.iinfo(np.int32).max))
        folds = np.full(host_labels.shape[0], -1)
        for index, kept in enumerate(per_class):
            # A class keeps as many labelled rows as it has components in
            # every fold; the others are held out in turn.
            rows = rng.permutation(np.flatnonzero((host_labels == index) & positive))
            rows = rows[int(kept) :]
            folds[rows] = np.arange(rows.shape[0]) % CV_FOLDS
        if not np.any(folds >= 0):
            return 1.0, None
        mass = np.ones(host_labels.shape[0]) if host_weight is None else host_weight
        accuracy, brier = [], []
        for weight in UNLABELLED_WEIGHTS:
            hits = squares = held_mass = 0.0
            for fold in range(int(folds.max()) + 1):
                held = folds == fold
                fold_labels = _hidden(labels, held)
                model = clone(self).set_params(
                    unlabelled_weight=weight, warm_start=False, verbose=0
                )
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        model._fit_labels(
                            X,
                            classes,
                            fold_labels,
                            per_class,
                            unlabelled_scaled(sample_weight, fold_labels, weight),
                        )
                        proba = _host_rows(model.predict_proba(X), held)
                except (ValueError, np.linalg.LinAlgError):
                    hits = squares = math.nan
                    break
                true = host_labels[held]
                w = mass[held]
                hits += float(w @ (np.argmax(proba, axis=1) == true))
                proba[np.arange(true.shape[0]), true] -= 1.0
                squares += float(w @ np.sum(proba**2, axis=1))
                held_mass += float(w.sum())
            accuracy.append(hits / held_mass if held_mass > 0 else math.nan)
            brier.append(squares / held_mass if held_mass > 0 else math.nan)
        accuracy, brier = np.asarray(accuracy), np.asarray(brier)
        valid = np.isfinite(brier)
        if not np.any(valid):
            return 1.0, None
        # The best Brier score, up to BRIER_TIE; among the tied, the most
        # unlabelled weight.
        tied = valid & (brier <= np.min(brier[valid]) + BRIER_TIE)
        best = int(np.flatnonzero(tied)[-1])
        table = {
            "unlabelled_weight": np.asarray(UNLABELLED_WEIGHTS),
            "brier": brier,
            "accuracy": accuracy,
        }
        return UNLABELLED_WEIGHTS[best], table

    def _estimated_covariances(self, samples, problem, per_class):
        """The covariances of ``covariance_estimator``, fitted on each
        class's rows, in place of the fit's (pooled with the classes' masses
        for ``'tied'``), ``reg_covar`` added; ``lower_bound_`` is ``-F`` there."""
        labels = to_numpy(samples.labels)
        X = to_numpy(samples.X).astype(np.float64)
        d = X.shape[1]
        covariances, counts = [], []
        for index in range(per_class.shape[0]):
            rows = X[labels == index]
            estimator = clone(self.covariance_estimator).fit(rows)
            covariance = np.asarray(getattr(estimator, "covariance_", None))
            if covariance.shape != (d, d) or not np.all(np.isfinite(covariance)):
                raise ValueError(
                    f"covariance_estimator {type(estimator).__name__} gave no "
                    f"finite covariance_ of shape ({d}, {d}) for class "
                    f"{self.classes_[index]!r}: give an estimator with a fit "
                    "method that sets covariance_, as those of sklearn.covariance."
                )
            covariances.append(covariance)
            counts.append(rows.shape[0])
        covariances = np.stack(covariances)
        if problem.form == "tied":
            share = np.asarray(counts, dtype=np.float64) / sum(counts)
            covariances = np.tensordot(share, covariances, axes=1)
        covariances = covariances + self.reg_covar * np.eye(d)
        mixture = self._mixture()
        xp, device = get_namespace(mixture.means)
        covariances = asarray(covariances, xp, device, dtype=mixture.means.dtype)
        mixture = mixture._replace(
            covariances=covariances,
            precisions_chol=precision_cholesky(covariances, problem.form),
        )
        self._set_mixture(mixture)
        self.lower_bound_ = -e_step(samples, mixture, problem).value

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
            shrinkage=self.shrinkage,
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


def _check_rows_known(samples, per_class):
    """``covariance_estimator`` needs each class's rows known: in memory,
    every row of positive weight labelled, one component per class, no
    unequal sample weights."""
    if is_dask_collection(samples.X):
        raise ValueError(
            "covariance_estimator is fitted on each class's rows in memory: "
            "X must be an in-memory array, not a Dask array."
        )
    labels = to_numpy(samples.labels)
    if np.any(labels < 0) or np.any(per_class != 1):
        raise ValueError(
            "covariance_estimator is fitted on each class's rows, so every row "
            "of positive weight must be labelled and each class must have one "
            "component: set unlabelled_weight=0 to fit on the labelled rows "
            "only, and n_components_per_class=1."
        )
    if samples.sample_weight is not None:
        raise ValueError(
            "covariance_estimator fits unweighted rows: it cannot take unequal "
            "sample weights. Fit without sample_weight, or use shrinkage."
        )


def unlabelled_scaled(sample_weight, labels, weight):
    """The sample weights with the unlabelled rows' (``labels < 0``) times
    ``weight`` (``sample_weight`` itself with ``weight = 1``). Weights that
    are not one finite, non-negative number per row are left as they are,
    for the data layer to refuse them with its message."""
    if weight == 1.0:
        return sample_weight
    if is_dask_collection(labels):
        _, da = _import_dask()
        factor = da.where(labels < 0, weight, 1.0)
        return factor if sample_weight is None else da.asarray(sample_weight) * factor
    factor = np.where(to_numpy(labels) < 0, weight, 1.0)
    if sample_weight is None:
        return factor
    host_weight = _host(sample_weight)
    if (
        host_weight.shape != factor.shape
        or host_weight.dtype.kind not in "iuf"
        or not np.all(np.isfinite(host_weight))
        or np.any(host_weight < 0)
    ):
        return sample_weight
    return host_weight * factor


def _host(array):
    """A numpy copy of labels or weights of any layer (Dask computed)."""
    if is_dask_collection(array):
        return np.asarray(array.compute())
    return np.asarray(host(array))


def _hidden(labels, held):
    """``labels`` with the rows of the boolean numpy mask ``held`` unlabelled."""
    if is_dask_collection(labels):
        _, da = _import_dask()
        return da.where(da.from_array(held, chunks=labels.chunks), -1, labels)
    return np.where(held, -1, to_numpy(labels))


def _host_rows(array, rows):
    """The rows ``rows`` (a boolean numpy mask) of per-row outputs, in numpy."""
    if is_dask_collection(array):
        return np.asarray(array[np.flatnonzero(rows)].compute())
    return to_numpy(array)[rows]


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
