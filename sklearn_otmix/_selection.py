"""Choosing the number of components and the covariance model, as mclust's
``Mclust`` does: every pair fitted, the one of lowest BIC (or ICL) kept."""

import copy
import math
import time
import warnings
from numbers import Integral, Real

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, DensityMixin, _fit_context, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._backend import check_same_namespace, host, to_numpy
from ._data import is_dask_collection, samples_of
from ._estimator import OTGaussianMixture, keeps_state_on_error
from ._gaussian import COVARIANCE_TYPES, _not_positive_definite
from ._base import Criteria
from ._grid import fit_cells, grid_applies
from ._missing import missing_refusal
from ._hierarchy import hierarchical_labels
from ._models import MODELS, mclust_name, n_model_parameters, support_error
from ._noise import check_noise_settings, clutter_of, noise_on
from ._prior import UNSUPPORTED_MODELS

#: A covariance whose smallest eigenvalue is below this fraction of the
#: largest of the mixture's is singular: the component has collapsed.
SINGULAR = math.sqrt(np.finfo(np.float64).eps)


def mclust_template():
    """The estimator that the search clones by default: mclust's EM (the
    hierarchical initialisation, no regularisation) with mclust's stopping
    rule (``emControl()``: the log-likelihood's change relative to it below
    ``1e-5``)."""
    return OTGaussianMixture(
        init_params="hierarchical",
        reg_covar=0.0,
        tol=1e-5,
        convergence="relative",
        max_iter=1000,
    )


def _collapsed(model, total):
    """Why the fitted ``model`` is degenerate, or None: an empty component, or
    a covariance singular next to the others (``reg_covar`` taken off).

    A component is empty below the weight ``sqrt(eps)``. With a prior, whose
    scale keeps the covariances regular however little mass they have, below
    the mass ``sqrt(eps)`` (weight times the ``total`` sample weight), mclust's
    rule, and no covariance counts as singular.
    """
    weights = to_numpy(model.weights_).astype(np.float64)
    if getattr(model, "prior", None) is not None:
        # The prior's scale keeps every covariance positive definite.
        return _degenerate(weights * total, None)
    covariances = to_numpy(model.covariances_).astype(np.float64)
    d = model.n_features_in_
    eigenvalues = {
        "full": lambda c: np.linalg.eigvalsh(c),
        "tied": lambda c: np.linalg.eigvalsh(c)[None],
        "diag": lambda c: c,
        "spherical": lambda c: np.repeat(c[:, None], d, axis=1),
    }[model._form](covariances)
    return _degenerate(weights, eigenvalues - model.reg_covar)


def _degenerate(weights, eigenvalues):
    """:func:`_collapsed` of the components' ``weights`` (or masses) and
    their covariances' ``eigenvalues`` (one row per component; None where
    none can be singular)."""
    if weights.min() < SINGULAR:
        return f"component {int(np.argmin(weights))} is empty"
    if eigenvalues is None:
        return None
    smallest = eigenvalues.min(axis=1)
    if smallest.min() <= SINGULAR * eigenvalues.max():
        return (
            f"component {int(np.argmin(smallest))} has a singular covariance "
            "(collapsed onto fewer dimensions)"
        )
    return None


def _prior_error(template, covariance_type):
    """Why ``template``'s prior cannot fit ``covariance_type``, or None: mclust
    has no conjugate prior for four of its models, and its ``Mclust()`` leaves
    them out when given one."""
    if getattr(template, "prior", None) is None:
        return None
    model = mclust_name(covariance_type)
    if model in UNSUPPORTED_MODELS:
        return (
            f"mclust has no conjugate prior for {model} (prior={template.prior!r}); "
            "Mclust() leaves it out too"
        )
    return None


def _fit_cell(template, X, sample_weight, total, n_components, covariance_type):
    """Fit one cell of the grid (``total``: the sample weight of ``X``); its
    row of the table (and the model, or None where it could not be fitted)."""
    model = clone(template).set_params(
        n_components=n_components, covariance_type=covariance_type
    )
    row = {"status": "fitted", "warnings": ""}
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(X, sample_weight=sample_weight)
    except (ValueError, np.linalg.LinAlgError) as error:
        row["status"] = f"failed: {error}"
        return None, row
    row["fit_time"] = time.perf_counter() - start
    row["warnings"] = "; ".join(sorted({str(w.message) for w in caught}))
    row.update(n_iter=model.n_iter_, converged=model.converged_)
    reason = _collapsed(model, total)
    if reason is not None:
        row["status"] = f"degenerate: {reason}"
        return None, row
    criteria = model._criteria(X, sample_weight)
    row.update(
        log_likelihood=criteria.log_likelihood,
        n_parameters=criteria.n_parameters,
        bic=criteria.bic,
        icl=criteria.icl,
    )
    return model, row


def _stacked_rows(X, cells, template, n_jobs):
    """The rows of the ``cells`` that :func:`~sklearn_otmix._grid.fit_cells`
    fits, each model's cells together (its models in parallel with
    ``n_jobs``): ``{cell: row}``, without the cells it leaves to their own
    fits. The cells of one model that it fits share its time equally (those
    that failed have none, as their own fits' rows)."""
    n_samples, n_features = X.shape
    models = list(dict.fromkeys(m for _, m in cells))
    counts = sorted({k for k, _ in cells if k <= n_samples})
    # Each cell's start, as its own fit (of a clone of the template) draws
    # it.
    seed = template.random_state
    labels = {
        k: (
            np.zeros(n_samples, dtype=np.intp)
            if k == 1
            else hierarchical_labels(X, k, check_random_state(copy.deepcopy(seed)))
        )
        for k in counts
    }
    settings = {
        key: template.get_params()[key]
        for key in ("tol", "convergence", "max_iter", "reg_covar")
    }

    def fit_model(model):
        start = time.perf_counter()
        model_labels = {k: labels[k] for k, m in cells if m == model and k in labels}
        if not model_labels:
            return {}, 0.0
        fits = fit_cells(X, model_labels, model, **settings)
        fitted = sum(fit is not None for fit in fits.values())
        return fits, (time.perf_counter() - start) / max(fitted, 1)

    # One model per task: the models' times differ a hundredfold (EVE's and
    # VVE's against EII's), and joblib's batches of fast tasks would take the
    # slow ones together.
    parallel = Parallel(n_jobs=n_jobs, batch_size=1)
    rows = {}
    for model, (fits, seconds) in zip(
        models, parallel(delayed(fit_model)(m) for m in models)
    ):
        for k, fit in fits.items():
            if fit is None:
                # The error that the cell's own fit raises.
                failure = _not_positive_definite(np.float64)
                rows[(k, model)] = {"status": f"failed: {failure}", "warnings": ""}
                continue
            row = {"status": "fitted", "warnings": "", "fit_time": seconds}
            row.update(n_iter=fit.n_iter, converged=True)
            eigenvalues = np.linalg.eigvalsh(fit.covariances) - settings["reg_covar"]
            reason = _degenerate(fit.weights, eigenvalues)
            if reason is not None:
                row["status"] = f"degenerate: {reason}"
            else:
                criteria = Criteria(
                    fit.log_likelihood,
                    fit.entropy,
                    float(n_samples),
                    n_model_parameters(model, k, n_features),
                )
                row.update(
                    log_likelihood=criteria.log_likelihood,
                    n_parameters=criteria.n_parameters,
                    bic=criteria.bic,
                    icl=criteria.icl,
                )
            rows[(k, model)] = row
    return rows


class OTGaussianMixtureSearch(DensityMixin, BaseEstimator):
    """Choose the number of components and the covariance model by BIC or ICL.

    Every pair of a number of components and a covariance model is fitted by a
    clone of ``estimator`` (in parallel with ``n_jobs``), scored by BIC or ICL,
    and the pair of lowest criterion is kept as ``best_estimator_``; the whole
    grid is in ``cv_results_``. With its defaults this is mclust's ``Mclust``:
    1 to 9 components, the 14 models, EM from model-based hierarchical
    clustering. The estimator's other parameters are kept, so that the same
    search selects a model with fixed weights (``reg_m=np.inf``), penalised
    weights or another temperature.

    Read more in the :ref:`User Guide <model_selection>`.

    Parameters
    ----------
    estimator : OTGaussianMixture, default=None
        The template of every fit; its ``n_components`` and
        ``covariance_type`` are set by the grid. None is
        ``OTGaussianMixture(init_params="hierarchical", reg_covar=0.0,
        tol=1e-5, convergence="relative", max_iter=1000)``: mclust's
        initialisation and stopping rule, without regularisation.
    n_components : int or iterable of int, default=None
        The numbers of components tried; None tries 1 to 9, as mclust.
    covariance_types : iterable of str, default=None
        The models tried: mclust's names or scikit-learn's four; None tries
        the 14 mclust models. Those the data cannot support are skipped (see
        Notes).
    criterion : {'bic', 'icl'}, default='bic'
        ``'bic'``: ``-2 log L + p log n`` (``n`` the total sample weight), lower
        is better: minus mclust's BIC. ``'icl'``: BIC plus twice the entropy of
        the fitted posteriors (``-2 sum_i w_i sum_k z_ik log z_ik``), which
        favours well separated clusters.
    n_jobs : int, default=None
        Number of fits run in parallel by joblib; None is 1, -1 all CPUs.
    random_state : int, RandomState instance or None, default=None
        Seeds the fits of a template whose ``random_state`` is None, with
        one seed drawn from it for all cells: they start from the same draws,
        so that with more rows than mclust's subset (2000) every cell's
        hierarchical tree is built on the same rows, and built once per
        process. A template's own ``random_state`` is kept. Pass an int for
        reproducible output across multiple function calls.
    noise : bool or float, default=False
        mclust's noise component in every cell (see
        :class:`OTGaussianMixture`'s ``noise``): True for a uniform component
        over the data's hypervolume (mclust's ``hypvol``), a positive float
        for that hypervolume. Set on every cell in place of the template's.
    noise_init : array-like of bool of shape (n_samples,), default=None
        The rows that start in the noise component, in every cell; as
        mclust, each cell's hierarchical tree is built on the other rows
        (once for all cells). None: the nearest-neighbour clutter (see
        :class:`OTGaussianMixture`'s ``noise_init``), computed once.

    Attributes
    ----------
    best_estimator_ : OTGaussianMixture
        The fitted estimator of lowest criterion.
    best_params_ : dict
        Its ``n_components`` and ``covariance_type``.
    best_criterion_ : float
        Its criterion (BIC or ICL; lower is better).
    best_index_ : int
        Its row in ``cv_results_``.
    cv_results_ : dict of ndarray
        One entry per cell of the grid, models first then numbers of
        components; ``pandas.DataFrame(cv_results_)`` reads it. Keys:
        ``param_n_components``, ``param_covariance_type``, ``params``,
        ``status`` (``'fitted'``, or why not: ``'skipped: ...'`` for a model
        the data cannot support, ``'failed: ...'`` for a fit that raised,
        ``'degenerate: ...'`` for a collapsed component), ``bic``, ``icl``
        (NaN where not fitted), ``rank_bic``, ``rank_icl``,
        ``log_likelihood``, ``n_parameters``, ``n_iter``, ``converged``,
        ``fit_time`` (cells fitted together, see Notes, share their model's
        time equally) and ``warnings`` (the messages of the fit's warnings).
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :meth:`fit`, when ``X`` has string
        column names.

    See Also
    --------
    OTGaussianMixture : The estimator fitted in each cell.

    Notes
    -----
    A fit whose component has collapsed (weight below ``sqrt(eps)``, or a
    covariance whose smallest eigenvalue is below ``sqrt(eps)`` times the
    mixture's largest, after ``reg_covar``) is not a candidate: its
    likelihood is unbounded, and mclust reports no BIC for it either. A
    model that the data cannot support is skipped without a fit: one with
    orientations and no more samples than features, or one with more free
    parameters than the data have values (``n_samples * n_features``).
    With a template's ``prior`` (mclust's conjugate prior), VEE, EVE, VVE
    and EVV are skipped, as ``Mclust(X, prior = priorControl())`` skips them:
    mclust has no prior for them. With ``noise``, ``Mclust`` also tries
    ``G = 0``, the noise alone; the search fits one component at least (its
    BIC is ``2 n log V + log n``, in the search's sign, should it be
    wanted).

    With the default template (mclust's EM: the hierarchical start, no
    prior, noise, bounds or sample weights) on at most 2,000 rows of numpy
    float64, the cells of one model are fitted together: one E-step and one
    M-step call per iteration serve all its numbers of components, each a
    segment of one stack of components that leaves it when it converges.
    Each cell runs the iterations its own fit would, to the same stopping
    rule, and its criteria are those of its own fit to round-off (the order
    of the sums); a cell whose component collapses may collapse otherwise
    (its iterations, and whether its covariance ends singular or without a
    value, are the round-off's), but is no candidate either way. A cell
    that does not converge or fails there, and the chosen one (for
    ``best_estimator_``), are fitted on their own.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_otmix import OTGaussianMixtureSearch
    >>> X, _ = load_iris(return_X_y=True)
    >>> search = OTGaussianMixtureSearch(n_components=range(1, 4)).fit(X)
    >>> search.best_params_
    {'n_components': 2, 'covariance_type': 'VEV'}
    """

    _parameter_constraints: dict = {
        "estimator": [OTGaussianMixture, None],
        "n_components": [
            Interval(Integral, 1, None, closed="left"),
            "array-like",
            None,
        ],
        "covariance_types": ["array-like", None],
        "criterion": [StrOptions({"bic", "icl"})],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "noise": ["boolean", Interval(Real, 0.0, None, closed="neither")],
        "noise_init": ["array-like", None],
    }

    def __init__(
        self,
        estimator=None,
        *,
        n_components=None,
        covariance_types=None,
        criterion="bic",
        n_jobs=None,
        random_state=None,
        noise=False,
        noise_init=None,
    ):
        self.estimator = estimator
        self.n_components = n_components
        self.covariance_types = covariance_types
        self.criterion = criterion
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.noise = noise
        self.noise_init = noise_init

    def _grid(self):
        """The checked numbers of components and models of the grid."""
        counts = self.n_components
        if counts is None:
            counts = range(1, 10)
        elif isinstance(counts, Integral):
            counts = [counts]
        counts = list(counts)
        valid = Interval(Integral, 1, None, closed="left")
        if not counts or not all(valid.is_satisfied_by(k) for k in counts):
            raise ValueError(
                "n_components should be a non-empty list of positive integers, "
                f"got {self.n_components!r}."
            )
        if self.covariance_types is None:
            models = list(MODELS)
        else:
            models = list(self.covariance_types)
            unknown = sorted(
                {str(m) for m in models} - set(MODELS) - set(COVARIANCE_TYPES)
            )
            if not models or unknown:
                raise ValueError(
                    "covariance_types should be a non-empty list of mclust's "
                    f"model names ({', '.join(MODELS)}) or of {COVARIANCE_TYPES}; "
                    f"got {self.covariance_types!r}."
                )
        return list(dict.fromkeys(counts)), list(dict.fromkeys(models))

    @_fit_context(prefer_skip_nested_validation=False)
    @keeps_state_on_error
    def fit(self, X, y=None, sample_weight=None):
        """Fit every cell of the grid and keep the one of lowest criterion.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (numpy, an array-API namespace, or Dask).
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples, passed to every fit; ``n`` in
            the BIC is their sum.

        Returns
        -------
        self : OTGaussianMixtureSearch
            The fitted search.
        """
        samples = samples_of(
            self, X, sample_weight, reset=True, n_components=1, fit=True
        )
        n_samples, n_features = samples.n_samples, samples.like.shape[1]
        total = float(samples.total)
        counts, models = self._grid()
        template = mclust_template() if self.estimator is None else self.estimator
        if template.random_state is None:
            # One seed for every cell: the same initial draws (the same subset
            # of rows for the hierarchical tree, which the cells then share
            # through the tree cache).
            seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            template = clone(template).set_params(random_state=seed)
        template = self._with_noise(template, X, samples, sample_weight)
        grid = [(k, m) for m in models for k in counts]
        skipped = {
            cell: _prior_error(template, cell[1])
            or support_error(cell[1], n_samples, n_features, cell[0])
            for cell in grid
        }
        stacked = {}
        if not samples.missing and grid_applies(
            template, getattr(samples, "X", None), sample_weight, self.noise
        ):
            cells = [
                cell for cell in grid if skipped[cell] is None and cell[1] in MODELS
            ]
            stacked = _stacked_rows(samples.X, cells, template, self.n_jobs)
        own = [cell for cell in grid if skipped[cell] is None and cell not in stacked]
        fitted = dict(
            zip(
                own,
                Parallel(n_jobs=self.n_jobs)(
                    delayed(_fit_cell)(template, X, sample_weight, total, k, m)
                    for k, m in own
                ),
            )
        )
        estimators, rows = [], []
        for cell in grid:
            if cell in fitted:
                estimator, row = fitted[cell]
            elif cell in stacked:
                estimator, row = None, stacked[cell]
            else:
                estimator, row = None, {"status": f"skipped: {skipped[cell]}"}
            estimators.append(estimator)
            rows.append(row)
        while True:
            self.cv_results_ = _table(grid, rows)
            scores = self.cv_results_[self.criterion]
            if np.all(np.isnan(scores)):
                reasons = sorted({row["status"] for row in rows})
                raise ValueError(
                    f"No cell of the grid could be fitted ({len(grid)} tried): "
                    + "; ".join(reasons)
                )
            best = int(np.nanargmin(scores))
            if estimators[best] is not None:
                break
            # A stacked cell: its estimator, fitted on its own (the same fit
            # but for the round-off of the order of the sums), and its row.
            estimators[best], rows[best] = _fit_cell(
                template, X, sample_weight, total, *grid[best]
            )
        self.best_index_ = best
        self.best_estimator_ = estimators[best]
        self.best_params_ = dict(self.cv_results_["params"][best])
        self.best_criterion_ = float(scores[best])
        if not self.best_estimator_.converged_:
            warnings.warn(
                f"The selected model {self.best_params_} did not converge: "
                "increase the estimator's max_iter or tol.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def _with_noise(self, template, X, samples, sample_weight):
        """The template with the search's ``noise`` and ``noise_init``, the
        start of the noise computed once for every cell."""
        if noise_on(template.noise) and not noise_on(self.noise):
            raise ValueError(
                f"The template has noise={template.noise!r}, which the search "
                "replaces by its own noise=False: set noise (and noise_init) "
                "on the search."
            )
        check_noise_settings(
            self.noise, self.noise_init, template.reg_m, is_dask_collection(X)
        )
        template = clone(template).set_params(
            noise=self.noise, noise_init=self.noise_init
        )
        if not noise_on(self.noise) or self.noise_init is not None:
            return template
        # The clutter of the rows of positive weight, as each cell sees them.
        kept = np.ones(samples.all_rows.shape[0], dtype=bool)
        if sample_weight is not None:
            kept = np.asarray(host(sample_weight)) > 0
        rows = np.zeros_like(kept)
        rows[kept] = clutter_of(self.noise, samples)[1]
        return template.set_params(noise_init=rows)

    def _best(self, X, method):
        """``best_estimator_``, once ``X`` is checked to be in the namespace
        and on the device of the fit."""
        check_is_fitted(self)
        check_same_namespace(
            X, self.best_estimator_.means_, f"{type(self).__name__}.{method}()"
        )
        return self.best_estimator_

    def predict(self, X):
        """Most probable component of each sample under ``best_estimator_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels; ``-1`` for the noise component (with
            ``noise``).
        """
        return self._best(X, "predict").predict(X)

    def predict_proba(self, X):
        """Posterior probability of each component of ``best_estimator_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_components)
            Rows sum to one; with ``noise``, one more column, the noise
            component's last.
        """
        return self._best(X, "predict_proba").predict_proba(X)

    def score_samples(self, X):
        """Log-density of ``best_estimator_`` at each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_density : ndarray of shape (n_samples,)
        """
        return self._best(X, "score_samples").score_samples(X)

    def score(self, X, y=None, sample_weight=None):
        """Mean log-likelihood of ``X`` under ``best_estimator_``.

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
        """
        return self._best(X, "score").score(X, sample_weight=sample_weight)

    def sample(self, n_samples=1):
        """Draw samples from ``best_estimator_``.

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
        return self.best_estimator_.sample(n_samples)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.array_api_support = True
        tags.input_tags.allow_nan = self._missing_refusal() is None
        return tags

    def _missing_refusal(self):
        """Why the search takes no missing entries, or None (see
        :meth:`OTGaussianMixture._missing_refusal`): its noise, or its
        template's."""
        template = mclust_template() if self.estimator is None else self.estimator
        return missing_refusal(self.noise, None) or template._missing_refusal()


def _table(grid, rows):
    """The grid's rows as columns (``cv_results_``)."""
    numbers = ("bic", "icl", "log_likelihood", "fit_time")
    counts = ("n_parameters", "n_iter")
    table = {
        "param_n_components": np.array([k for k, _ in grid]),
        "param_covariance_type": np.array([m for _, m in grid], dtype=object),
        "params": [{"n_components": k, "covariance_type": m} for k, m in grid],
        "status": np.array([row["status"] for row in rows], dtype=object),
    }
    for key in numbers + counts:
        table[key] = np.array([row.get(key, np.nan) for row in rows], dtype=float)
    table["converged"] = np.array(
        [row.get("converged", False) for row in rows], dtype=bool
    )
    table["warnings"] = np.array(
        [row.get("warnings", "") for row in rows], dtype=object
    )
    for criterion in ("bic", "icl"):
        # 1 for the lowest; the cells not fitted rank last, together.
        values = np.where(np.isnan(table[criterion]), np.inf, table[criterion])
        order = np.argsort(values, kind="stable")
        rank = np.empty(len(grid), dtype=np.int64)
        rank[order] = np.arange(1, len(grid) + 1)
        rank[np.isinf(values)] = np.isfinite(values).sum() + 1
        table[f"rank_{criterion}"] = rank
    return table
