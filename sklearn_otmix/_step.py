"""The problem and one iteration of the fit: the E-step (the transport plan,
:mod:`sklearn_otmix._transport`, read in one pass into sufficient statistics)
and the M-step (weighted Gaussian maximum likelihood,
:mod:`sklearn_otmix._gaussian`, in the covariance model of
:mod:`sklearn_otmix._models`), on any data layer (:mod:`sklearn_otmix._data`)."""

import math
from functools import partial
from typing import NamedTuple

import numpy as np

from ._backend import (
    asarray,
    astype,
    fill_where,
    get_namespace,
    namespace_of,
    row_sum,
    to_numpy,
)
from ._gaussian import (
    Statistics,
    _not_positive_definite,
    centred_on_means,
    own_mean_cost,
    statistics_of_plan,
    gaussian_cost_of,
    gaussian_mle,
    digit_checked_mle,
    precision_cholesky,
    sufficient_statistics,
)
from ._memory import LABELS
from ._missing import MissingCost, missing_cost_of
from ._models import covariance_form, covariances_in_model, mclust_name
from ._noise import Noise, NoiseCost
from ._prior import map_m_step, prior_from_moments
from ._shrinkage import ShrinkageMoments, moments_about, shrunk
from ._transport import (
    TransportProblem,
    certificate,
    column_term,
    solve_transport,
)


class Mixture(NamedTuple):
    """The parameters ``(pi, phi)`` that the fit loop updates: the Gaussians'
    weights, means, covariances and precisions' Cholesky factors, and the
    noise component (:class:`~sklearn_otmix._noise.Noise`, or None), whose
    weight completes the Gaussians' to one; ``layouts``, where the costs of
    :meth:`weighted_log_prob` find the missing entries of the rows that a fit
    met (its samples' cache, see :func:`~sklearn_otmix._missing.layout_of`),
    or None."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_chol: np.ndarray
    noise: Noise | None = None
    layouts: dict | None = None

    def gaussian(self, form, missing=False, layouts=None):
        """The components' costs ``C_ik = -log N(x_i; mu_k, Sigma_k)``, about
        centres near them (:func:`~sklearn_otmix._gaussian.centre_groups`);
        of the observed entries where some are ``missing`` (NaN, see
        :mod:`sklearn_otmix._missing`; ``layouts``: the samples' cache of
        where they are, or None)."""
        if missing:
            return missing_cost_of(
                self.means, self.precisions_chol, form, self.weights, layouts
            )
        return gaussian_cost_of(self.means, self.precisions_chol, form, self.weights)

    def costs(self, form, missing=False, layouts=None):
        """The costs of the plan's columns: the Gaussians', then, with a noise
        component, its constant ``log V``
        (:class:`~sklearn_otmix._noise.NoiseCost`)."""
        gaussian = self.gaussian(form, missing, layouts)
        if self.noise is None:
            return gaussian
        return NoiseCost(gaussian, math.log(self.noise.volume))

    @property
    def column_weights(self):
        """The weights of the plan's columns: ``pi``, then the noise's."""
        if self.noise is None:
            return self.weights
        xp = namespace_of(self.weights)
        return xp.concat([self.weights, self.noise.weight])

    def weighted_log_prob(self, X, form):
        """``log pi_k + log N(x_i; mu_k, Sigma_k)``, then ``log pi_0 - log V``
        with a noise component: (n_samples, n_columns)."""
        xp = namespace_of(X)
        missing = bool(xp.any(xp.isnan(X)))
        cost = astype(self.costs(form, missing, self.layouts).cost_of(X), X.dtype)
        weights = self.column_weights
        return namespace_of(weights).log(weights) - cost


class MixtureProblem(NamedTuple):
    """What the numerics need of the estimator's parameters: the storage
    ``form`` of the covariances (scikit-learn's four), the mclust ``model``
    whose M-step constrains full covariances (None for the four), and the
    E-step's transport problem; for a classifier, the class index of each
    component (a labelled row sends its mass only to its class's components);
    with known weights without an order, the groups of components whose target
    weights the fit may exchange; mclust's conjugate prior, whose posterior
    mode replaces the M-step's maximum likelihood (a
    :class:`~sklearn_otmix._prior.Prior`, or None); the noise component's
    hypervolume ``V`` (None without one); the covariances' ``shrinkage``
    (None, a float or ``'auto'``, see :mod:`sklearn_otmix._shrinkage`).
    (The estimators' ``covariance_type`` names either;
    :func:`mixture_problem` splits it.)"""

    n_components: int
    form: str
    reg_covar: float
    transport: TransportProblem
    component_class: np.ndarray | None = None
    target_groups: tuple | None = None
    model: str | None = None
    prior: object | None = None
    hypervolume: float | None = None
    shrinkage: object | None = None

    @property
    def mclust_model(self):
        """The mclust name of the covariance model, the four forms' included."""
        return mclust_name(self.model or self.form)


def mixture_problem(
    covariance_type,
    n_components,
    reg_covar,
    *,
    reg,
    reg_m,
    target,
    max_iter,
    tol,
    bounds=None,
    component_class=None,
    target_groups=None,
    prior=None,
    hypervolume=None,
    shrinkage=None,
):
    """The :class:`MixtureProblem` of an estimator's parameters: its
    ``covariance_type`` split into form and model, and the transport problem
    of ``reg``, ``reg_m``, the validated ``target`` weights and ``bounds``
    (``max_iter`` and ``tol``: the estimator's ``sinkhorn_max_iter`` and
    ``sinkhorn_tol``); ``hypervolume``: the noise component's, or None;
    ``shrinkage``: the covariances', or None."""
    form, model = covariance_form(covariance_type)
    return MixtureProblem(
        n_components,
        form,
        reg_covar,
        TransportProblem(reg, reg_m, target, max_iter, tol, bounds),
        component_class=component_class,
        target_groups=target_groups,
        model=model,
        prior=prior,
        hypervolume=hypervolume,
        shrinkage=shrinkage,
    )


def _data_moments(x, mass):
    return sufficient_statistics(x, mass[:, None], mass, "full")


def data_prior(samples, problem, overrides):
    """mclust's conjugate prior for ``problem``'s model and number of
    components, from the data's weighted mean and sample covariance (one pass
    over ``samples``) and mclust's ``overrides`` (``priorControl``'s
    shrinkage, mean, dof, scale)."""
    statistics = samples.sum(_data_moments)
    mass, mean, covariance = (
        to_numpy(array).astype(np.float64)
        for array in gaussian_mle(statistics, 0.0, "full")
    )
    n = float(mass[0])
    if n > 1:
        covariance = covariance[0] * n / (n - 1)
    else:
        covariance = np.zeros_like(covariance[0])
    return prior_from_moments(
        n, mean[0], covariance, problem.n_components, problem.mclust_model, **overrides
    )


def free_order_groups(target_order, reg_m, means_given, groups):
    """The groups of components whose targets the fit may exchange
    (``target_order``, see the estimator), or None where the order is given."""
    if reg_m != math.inf or target_order == "given":
        return None
    if target_order == "auto" and means_given:
        return None
    return tuple(np.asarray(group) for group in groups)


def matched_order(target, masses, groups):
    """``target`` re-ordered within each group so that the larger targets go
    to the components of larger ``masses`` (an assignment problem whose
    solution, for any convex cost of the difference, is this sorted matching)."""
    xp, device = get_namespace(target)
    host_target, host_masses = to_numpy(target), to_numpy(masses)
    ordered = host_target.copy()
    for group in groups:
        largest_first = group[np.argsort(-host_masses[group], kind="stable")]
        ordered[largest_first] = np.sort(host_target[group])[::-1]
    return asarray(ordered, xp, device, dtype=target.dtype)


def with_target(problem, target):
    """``problem`` with other target weights."""
    return problem._replace(transport=problem.transport._replace(target_weights=target))


class EStep(NamedTuple):
    """An E-step read through: the plan's statistics, ``F`` there, the plan's
    optimality residual and whether it meets ``sinkhorn_tol`` (its
    :class:`~sklearn_otmix._transport.Certificate`), the potentials that
    warm-start the next one, the M-step that the statistics' digits allow,
    the plan's mass on the noise column (shape (1,); None without one), and
    with ``shrinkage='auto'`` the plan's moments about the new means that
    Ledoit and Wolf's coefficients read (None otherwise)."""

    statistics: Statistics
    value: float
    residual: float
    converged: bool
    potentials: np.ndarray | None
    estimate: tuple | None = None
    noise_mass: np.ndarray | None = None
    shrinkage_moments: ShrinkageMoments | None = None


def forbid_other_classes(costs, labels, classes):
    """The support constraint of labels: ``+inf`` costs (an exactly zero plan)
    where a labelled row meets a component of another class.

    Parameters
    ----------
    costs : array of shape (n_rows, n_components)
        Overwritten in numpy.
    labels : integer array of shape (n_rows,) or None
        Class indices of the rows, ``-1`` where unlabelled (no constraint).
    classes : integer array of shape (n_components,) or None
        Class index of each component.
    """
    if labels is None or classes is None:
        return costs
    labels = labels[:, None]
    forbidden = (labels >= 0) & (labels != classes[None, :])
    return fill_where(costs, forbidden, math.inf)


def _costs(x, labels, cost_of, classes):
    return forbid_other_classes(cost_of(x), labels, classes)


def _plan_statistics(x, mass, labels, *state, block, gaussian, classes):
    """A block's rows of the plan read into its terms of ``F``, statistics and
    marginals: the block's moments give both its costs and its statistics."""
    moments = gaussian.moments(x)
    mass = gaussian.working(mass)

    def costs():
        return forbid_other_classes(gaussian.cost(moments), labels, classes)

    plan, terms, marginals = block(costs, mass, *state)
    return terms, gaussian.moment_sums(moments, plan, mass), marginals


def _exact_statistics(
    x, mass, labels, *state, block, gaussian, classes, form, completion=None
):
    """A block's rows of the plan formed again, and their statistics about
    each component's weighted mean in the block: exact however far the
    components lie from the centres of the costs' moments (``completion``:
    the :class:`~sklearn_otmix._missing.MissingCost` that completes rows
    with missing entries, or None)."""
    mass = gaussian.working(mass)
    costs = partial(_costs, x, labels, cost_of=gaussian.cost_of, classes=classes)
    plan, _, _ = block(costs, mass, *state)
    if completion is not None:
        return completion.exact_statistics(x, plan)
    x, plan = gaussian.working(x), gaussian.working(plan)
    if isinstance(gaussian, NoiseCost):
        # The Gaussians' columns, and their rows' mass.
        plan = gaussian.gaussian_plan(plan)
        mass = row_sum(plan)
    return sufficient_statistics(x, plan, mass, form)


def _moments_for_shrinkage(x, mass, labels, *state, block, gaussian, classes, means):
    """A block's rows of the plan formed again, and their
    :class:`~sklearn_otmix._shrinkage.ShrinkageMoments` about ``means``."""
    mass = gaussian.working(mass)
    costs = partial(_costs, x, labels, cost_of=gaussian.cost_of, classes=classes)
    plan, _, _ = block(costs, mass, *state)
    x, plan = gaussian.working(x), gaussian.working(plan)
    return moments_about(x, plan, astype(means, x.dtype))


#: The most entries ``n K`` of a plan whose E-step is formed over all rows at
#: once (:func:`_whole_e_step`): below it the per-block machinery costs more
#: than the arithmetic (0.4 to 0.9 times the blocks' time on iris, faithful and
#: wine); above it the ``K n d`` temporaries cost more than the moments.
WHOLE_PLAN = 2**12


def _whole(samples, mixture, problem):
    """Whether the E-step is one closed form over all rows at once: rows in
    one block in float64, ``reg_m = 0`` without bounds, labels, noise or
    Ledoit-Wolf shrinkage (its second pass), and a plan within
    :data:`WHOLE_PLAN` entries."""
    transport = problem.transport
    if not samples.one_block or samples.labels is not None or samples.missing:
        return False
    if problem.shrinkage == "auto":
        return False
    if mixture.noise is not None:
        return False
    X = samples.X
    return (
        transport.reg_m == 0.0
        and transport.bounds is None
        and problem.component_class is None
        and X.dtype == namespace_of(X).float64
        and problem.n_components * X.shape[0] <= WHOLE_PLAN
    )


def _whole_e_step(samples, mixture, problem):
    """:func:`e_step` of small problems: the costs of the rows about each
    component's own mean and the plan's statistics about its new means, each
    in a few operations on all rows (the per-block machinery of the moments
    costs more than the arithmetic there)."""
    X, mass = samples.X, samples.sample_mass
    centred = centred_on_means(X, mixture.means)
    costs = own_mean_cost(centred, mixture.precisions_chol, problem.form)
    transport = solve_transport(samples, None, mixture.weights, problem.transport)
    plan, terms, marginals = transport.block(lambda: costs, mass)
    statistics = statistics_of_plan(X, plan, problem.form)
    residual, converged = certificate(
        transport, marginals, samples.total, problem.transport.tol
    )
    value = float(terms) / samples.total
    return EStep(statistics, value, residual, converged, None)


def e_step(samples, mixture, problem, warm=None):
    """The transport plan at ``mixture``, read in one pass into its statistics.

    Returns
    -------
    e_step : EStep
    """
    if _whole(samples, mixture, problem):
        return _whole_e_step(samples, mixture, problem)
    gaussian = mixture.costs(problem.form, samples.missing, samples.layouts)
    cost_of = partial(_costs, cost_of=gaussian.cost_of, classes=problem.component_class)
    transport = solve_transport(
        samples, cost_of, mixture.column_weights, problem.transport, warm
    )
    read = partial(
        _plan_statistics,
        block=transport.block,
        gaussian=gaussian,
        classes=problem.component_class,
    )
    terms, moment_sums, marginals = samples.sum(read, LABELS, *transport.state)
    statistics = gaussian.statistics(moment_sums)
    noise_mass = None
    if mixture.noise is not None:
        noise_mass = gaussian.noise_mass(moment_sums)
    estimate = digit_checked_mle(statistics, problem.reg_covar, problem.form)
    if estimate is None:
        # A component shrank far from its centre: its moments once more,
        # each about its own mean in each block (the two-pass scheme).
        completion = None
        if samples.missing:
            completion = MissingCost(
                mixture.means, mixture.precisions_chol, problem.form, samples.layouts
            )
        exact = partial(
            _exact_statistics,
            block=transport.block,
            gaussian=gaussian,
            classes=problem.component_class,
            form=problem.form,
            completion=completion,
        )
        statistics = samples.sum(exact, LABELS, *transport.state)
    shrinkage_moments = None
    if problem.shrinkage == "auto" and problem.form in ("full", "tied"):
        fitted = estimate
        if fitted is None:
            fitted = gaussian_mle(statistics, problem.reg_covar, problem.form)
        read = partial(
            _moments_for_shrinkage,
            block=transport.block,
            gaussian=gaussian,
            classes=problem.component_class,
            means=fitted[1],
        )
        shrinkage_moments = samples.sum(read, LABELS, *transport.state)
    value = float(terms) / samples.total + column_term(
        statistics.mass / samples.total,
        problem.transport.target_weights,
        problem.transport.reg_m,
    )
    residual, converged = certificate(
        transport, marginals, samples.total, problem.transport.tol
    )
    return EStep(
        statistics,
        value,
        residual,
        converged,
        transport.potentials,
        estimate,
        noise_mass,
        shrinkage_moments,
    )


def mle(statistics, problem, previous=None, estimate=None):
    """Weighted maximum likelihood, in the problem's covariance model
    (``previous``: the covariances that start an iterative model's updates;
    ``estimate``: the E-step's :func:`~sklearn_otmix._gaussian.gaussian_mle`
    of the same ``statistics``, where it formed one); the posterior mode under
    the problem's prior where it has one."""
    if estimate is None:
        estimate = gaussian_mle(statistics, problem.reg_covar, problem.form)
    mass, means, covariances = estimate[:3]
    if problem.prior is not None:
        return _posterior_mode(mass, means, covariances, problem, previous)
    if problem.model is not None:
        xp, device = get_namespace(covariances)
        host_covariances = covariances_in_model(
            to_numpy(mass).astype(np.float64),
            to_numpy(covariances).astype(np.float64),
            problem.model,
            problem.reg_covar,
            None if previous is None else to_numpy(previous).astype(np.float64),
        )
        covariances = asarray(host_covariances, xp, device, dtype=covariances.dtype)
    return mass, means, covariances


def _posterior_mode(mass, means, covariances, problem, previous):
    """mclust's MAP M-step (:func:`~sklearn_otmix._prior.map_m_step`: that of
    its EM, ``mvn()``'s for one component without a noise component) from
    the maximum-likelihood ``covariances`` of the problem's form,
    ``reg_covar`` kept on their diagonals."""
    xp, device = get_namespace(covariances)
    host = [to_numpy(a).astype(np.float64) for a in (mass, means, covariances)]
    mass_h, means_h, covariances_h = host
    K, d = means_h.shape
    ridge = problem.reg_covar
    form = problem.form
    # Each component's scatter about its mean, W_k, as far as the form keeps
    # it: the pooled scatter shared out (EEE reads only its sum), diagonals
    # (VVI), or their mean (VII reads only the traces).
    if form == "full":
        scatter = (covariances_h - ridge * np.eye(d)) * mass_h[:, None, None]
    elif form == "tied":
        pooled = (covariances_h - ridge * np.eye(d)) * mass_h.sum()
        scatter = np.broadcast_to(pooled / K, (K, d, d))
    else:
        variances = covariances_h - ridge
        if form == "spherical":
            variances = np.repeat(variances[:, None], d, axis=1)
        scatter = np.zeros((K, d, d))
        scatter[:, np.arange(d), np.arange(d)] = variances * mass_h[:, None]
    start = None
    if previous is not None and form == "full":
        start = to_numpy(previous).astype(np.float64) - ridge * np.eye(d)
    estimate = map_m_step(
        mass_h,
        means_h,
        scatter,
        problem.prior,
        problem.mclust_model,
        routine="mvn" if K == 1 and problem.hypervolume is None else "me",
        start=start,
    )
    fitted = estimate.covariances
    if form == "tied":
        fitted = fitted[0]
    elif form == "diag":
        fitted = np.einsum("kii->ki", fitted)
    elif form == "spherical":
        fitted = fitted[:, 0, 0]
    if not np.all(np.isfinite(fitted)):
        raise _not_positive_definite(np.float64)
    fitted = fitted + (ridge if form in ("diag", "spherical") else ridge * np.eye(d))
    dtype = covariances.dtype
    return (
        mass,
        asarray(estimate.means, xp, device, dtype=dtype),
        asarray(fitted, xp, device, dtype=dtype),
    )


def m_step(
    statistics,
    problem,
    previous=None,
    estimate=None,
    noise_mass=None,
    shrinkage_moments=None,
):
    """Weighted Gaussian maximum likelihood; ``pi = P^T 1`` (``t`` if fixed);
    ``previous``: the covariances that start an iterative model's updates;
    ``estimate``: the E-step's M-step of the same ``statistics`` with its
    Cholesky factors (:attr:`EStep.estimate`), taken as it is where nothing
    changes it (no covariance model, prior or shrinkage, the data's dtype);
    ``noise_mass``: the plan's mass on the noise column, whose share is the
    noise's weight; ``shrinkage_moments``: those of :attr:`EStep`, read by
    ``shrinkage='auto'``."""
    weights = problem.transport.target_weights
    if (
        estimate is not None
        and problem.model is None
        and problem.prior is None
        and problem.shrinkage is None
        and estimate[2].dtype == weights.dtype
    ):
        mass, means, covariances, precisions_chol = estimate
    else:
        # In the data's dtype, whatever the E-step computed in (see
        # GaussianCost).
        mass, means, covariances = (
            astype(array, weights.dtype)
            for array in mle(statistics, problem, previous, estimate)
        )
        if problem.shrinkage is not None:
            covariances = shrunk(
                covariances,
                mass,
                problem.form,
                problem.shrinkage,
                problem.reg_covar,
                shrinkage_moments,
            )
        precisions_chol = precision_cholesky(covariances, problem.form)
    noise = None
    if problem.transport.reg_m != math.inf:
        total = namespace_of(mass).sum(mass)
        if noise_mass is not None:
            noise_mass = astype(noise_mass, mass.dtype)
            total = total + noise_mass[0]
            noise = Noise(noise_mass / total, problem.hypervolume)
        weights = mass / total
    return Mixture(weights, means, covariances, precisions_chol, noise)
