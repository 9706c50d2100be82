"""The fit loop: block-coordinate descent on the transport objective.

One iteration is an E-step (the transport plan, :mod:`sklearn_otmix._transport`)
and an M-step (weighted Gaussian maximum likelihood from the plan's sufficient
statistics, :mod:`sklearn_otmix._gaussian`), through the data layer
(:mod:`sklearn_otmix._data`): the same loop fits numpy arrays, arrays of any
namespace and Dask arrays. The parameters travel as an immutable :class:`Mixture`.
Here too: the initialisation (``init_params`` and the ``*_init``), ``n_init``
restarts, warm starts, the step of stepwise EM (``partial_fit``), and the verbose
output.
"""

import math
import warnings
from functools import partial
from time import perf_counter
from typing import NamedTuple

import numpy as np
from sklearn.cluster import KMeans, kmeans_plusplus
from sklearn.exceptions import ConvergenceWarning

from ._backend import (
    asarray,
    astype,
    fill_where,
    get_namespace,
    host,
    namespace_of,
    on_device_of,
    to_numpy,
)
from ._gaussian import (
    Statistics,
    check_means,
    check_precisions,
    check_simplex,
    covariances_from_precisions,
    gaussian_cost_of,
    gaussian_mle,
    initial_centre,
    kept_their_digits,
    precision_cholesky,
    precision_cholesky_from_precisions,
    sufficient_statistics,
)
from ._hierarchy import hierarchical_labels
from ._memory import LABELS
from ._messages import NOT_CONVERGED
from ._models import constrained
from ._transport import (
    TransportProblem,
    certificate,
    column_term,
    row_softmax,
    solve_transport,
)


class Mixture(NamedTuple):
    """The parameters ``(pi, phi)`` that the fit loop updates."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_chol: np.ndarray

    def gaussian(self, covariance_type):
        """The components' costs ``C_ik = -log N(x_i; mu_k, Sigma_k)``, about
        centres near them (:func:`~sklearn_otmix._gaussian.centre_groups`)."""
        return gaussian_cost_of(
            self.means, self.precisions_chol, covariance_type, self.weights
        )

    def weighted_log_prob(self, X, covariance_type):
        """``log pi_k + log N(x_i; mu_k, Sigma_k)``: (n_samples, n_components)."""
        cost = astype(self.gaussian(covariance_type).cost_of(X), X.dtype)
        return namespace_of(self.weights).log(self.weights) - cost


class MixtureProblem(NamedTuple):
    """What the numerics need of the estimator's parameters: the mixture's form
    and the E-step's transport problem; for a classifier, the class index of each
    component (a labelled row sends its mass only to its class's components);
    with known weights without an order, the groups of components whose target
    weights the fit may exchange."""

    n_components: int
    covariance_type: str
    reg_covar: float
    transport: TransportProblem
    component_class: np.ndarray | None = None
    target_groups: tuple | None = None
    covariance_model: str | None = None


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


def _with_target(problem, target):
    return problem._replace(transport=problem.transport._replace(target_weights=target))


class FitLoop(NamedTuple):
    """The loop's settings, as the estimator's parameters of the same names."""

    tol: float
    max_iter: int
    n_init: int
    init_params: str
    verbose: int
    verbose_interval: int


class FitResult(NamedTuple):
    """The best run: its mixture, ``-F`` after its last E-step and after each,
    its number of iterations, whether it converged, and the optimality
    residual of each E-step's plan with the number of those above
    ``sinkhorn_tol``."""

    mixture: Mixture
    lower_bound: float
    lower_bounds: list
    n_iter: int
    converged: bool
    residuals: list
    unsolved: int


# --------------------------------------------------------------------------------
# One iteration


class EStep(NamedTuple):
    """An E-step read through: the plan's statistics, ``F`` there, the plan's
    optimality residual and whether it meets ``sinkhorn_tol`` (its
    :class:`~sklearn_otmix._transport.Certificate`), and the potentials that
    warm-start the next one."""

    statistics: Statistics
    value: float
    residual: float
    converged: bool
    potentials: np.ndarray | None


def constrain(costs, labels, classes):
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
    return constrain(cost_of(x), labels, classes)


def _plan_statistics(x, mass, labels, *state, block, gaussian, classes):
    """A block's rows of the plan read into its terms of ``F``, statistics and
    marginals: the block's moments give both its costs and its statistics."""
    moments = gaussian.moments(x)
    mass = gaussian.working(mass)

    def costs():
        return constrain(gaussian.cost(moments), labels, classes)

    plan, terms, marginals = block(costs, mass, *state)
    return terms, gaussian.moment_sums(moments, plan, mass), marginals


def _exact_statistics(
    x, mass, labels, *state, block, gaussian, classes, covariance_type
):
    """A block's rows of the plan formed again, and their statistics about
    each component's weighted mean in the block: exact however far the
    components lie from the centres of the costs' moments."""
    mass = gaussian.working(mass)
    costs = partial(_costs, x, labels, cost_of=gaussian.cost_of, classes=classes)
    plan, _, _ = block(costs, mass, *state)
    x, plan = gaussian.working(x), gaussian.working(plan)
    return sufficient_statistics(x, plan, mass, covariance_type)


def e_step(samples, mixture, problem, warm=None):
    """The transport plan at ``mixture``, read in one pass into its statistics.

    Returns
    -------
    e_step : EStep
    """
    gaussian = mixture.gaussian(problem.covariance_type)
    cost_of = partial(_costs, cost_of=gaussian.cost_of, classes=problem.component_class)
    transport = solve_transport(
        samples, cost_of, mixture.weights, problem.transport, warm
    )
    read = partial(
        _plan_statistics,
        block=transport.block,
        gaussian=gaussian,
        classes=problem.component_class,
    )
    terms, moment_sums, marginals = samples.sum(read, LABELS, *transport.state)
    statistics = gaussian.statistics(moment_sums)
    if not kept_their_digits(
        statistics, problem.reg_covar, problem.covariance_type
    ):
        # A component shrank far from its centre: its moments once more,
        # each about its own mean in each block (the two-pass scheme).
        exact = partial(
            _exact_statistics,
            block=transport.block,
            gaussian=gaussian,
            classes=problem.component_class,
            covariance_type=problem.covariance_type,
        )
        statistics = samples.sum(exact, LABELS, *transport.state)
    value = float(terms) / samples.total + column_term(
        statistics.mass / samples.total,
        problem.transport.target_weights,
        problem.transport.reg_m,
    )
    residual, converged = certificate(
        transport, marginals, samples.total, problem.transport.tol
    )
    return EStep(statistics, value, residual, converged, transport.potentials)


def plan_of(samples, mixture, problem):
    """The E-step's plan at ``mixture`` as one array, in the unit of the sample
    masses: the fit never forms it whole; this is for tests and inspection of
    in-memory samples."""
    gaussian = mixture.gaussian(problem.covariance_type)
    cost_of = partial(_costs, cost_of=gaussian.cost_of, classes=problem.component_class)
    transport = solve_transport(samples, cost_of, mixture.weights, problem.transport)

    def block(x, mass, labels, *state):
        costs = partial(cost_of, x, labels)
        return transport.block(costs, gaussian.working(mass), *state)[0]

    return samples.concat(samples.map(block, LABELS, *transport.state))


def _mle(statistics, problem, previous=None):
    """Weighted maximum likelihood, in the problem's covariance model
    (``previous``: the covariances that start an iterative model's updates)."""
    mass, means, covariances = gaussian_mle(
        statistics, problem.reg_covar, problem.covariance_type
    )
    if problem.covariance_model is not None:
        xp, device = get_namespace(covariances)
        host_covariances = constrained(
            to_numpy(mass).astype(np.float64),
            to_numpy(covariances).astype(np.float64),
            problem.covariance_model,
            problem.reg_covar,
            None if previous is None else to_numpy(previous).astype(np.float64),
        )
        covariances = asarray(host_covariances, xp, device, dtype=covariances.dtype)
    return mass, means, covariances


def m_step(statistics, problem, previous=None):
    """Weighted Gaussian maximum likelihood; ``pi = P^T 1`` (``t`` if fixed);
    ``previous``: the covariances that start an iterative model's updates."""
    weights = problem.transport.target_weights
    # In the data's dtype, whatever the E-step computed in (see GaussianCost).
    mass, means, covariances = (
        astype(array, weights.dtype) for array in _mle(statistics, problem, previous)
    )
    if problem.transport.reg_m != math.inf:
        weights = mass / namespace_of(mass).sum(mass)
    return Mixture(
        weights,
        means,
        covariances,
        precision_cholesky(covariances, problem.covariance_type),
    )


# --------------------------------------------------------------------------------
# Initialisation


def checked_initial_parameters(
    like,
    *,
    n_components,
    covariance_type,
    reg_m,
    weights_init,
    means_init,
    precisions_init,
    target_weights,
):
    """Validated ``*_init`` and ``target_weights``, in ``like``'s namespace, on
    its device and of its dtype (validated on the host; None stay None).

    Parameters
    ----------
    like : array of shape (n_samples, n_features)
        An array in the namespace, on the device and of the dtype of the fit.
    n_components, covariance_type, reg_m : as the estimator's parameters
    weights_init, means_init, precisions_init, target_weights : array-like or None
        As given to the estimator.

    Returns
    -------
    init : dict
        ``weights``, ``means``, ``precisions`` and ``target``; with
        ``reg_m=inf`` the weights are the target.
    """
    n_features = like.shape[1]
    fixed = reg_m == math.inf
    init = {"weights": None, "means": None, "precisions": None}
    if weights_init is not None:
        if fixed:
            raise ValueError(
                "weights_init has no effect with reg_m=inf, where the mixing "
                "weights are fixed: pass them as target_weights instead."
            )
        init["weights"] = check_simplex(
            host(weights_init), n_components, "weights_init"
        )
    if means_init is not None:
        init["means"] = check_means(host(means_init), n_components, n_features)
    if precisions_init is not None:
        init["precisions"] = check_precisions(
            host(precisions_init),
            covariance_type,
            n_components,
            n_features,
        )
    if target_weights is None:
        target = np.full(n_components, 1.0 / n_components)
    else:
        target = check_simplex(host(target_weights), n_components, "target_weights")
        if np.any(target == 0):
            raise ValueError(
                "target_weights should be positive: a component with target "
                "weight 0 would stay empty; use fewer components instead."
            )
    init["target"] = target
    if fixed:
        init["weights"] = target
    # The fit computes in the data's dtype: float32 stays float32.
    xp, device = get_namespace(like)
    return {
        key: None if value is None else asarray(value, xp, device, dtype=like.dtype)
        for key, value in init.items()
    }


def _initial_plan(sample, init_params, n_components, random_state):
    """The plan of ``init_params``: responsibilities times the sample masses."""
    responsibilities = _responsibilities(
        sample, init_params, n_components, random_state
    )
    return responsibilities * sample.sample_mass[:, None]


def checked_weight_bounds(weight_bounds, n_components, reg_m):
    """``weight_bounds`` as a pair of float64 arrays ``(low, high)`` of shape
    (n_components,), or None: each in [0, 1], ``low <= high``, and room for
    weights summing to one (``sum(low) <= 1 <= sum(high)``)."""
    if weight_bounds is None:
        return None
    if reg_m != 0.0:
        raise ValueError(
            "weight_bounds bound the weights that the fit estimates, with "
            f"reg_m=0; got reg_m={reg_m}. With reg_m=np.inf the weights are "
            "fixed to target_weights; drop weight_bounds or set reg_m=0."
        )
    try:
        low, high = weight_bounds
    except (TypeError, ValueError):
        raise ValueError(
            "weight_bounds should be a pair (low, high) of numbers or of arrays "
            f"of shape ({n_components},), got {weight_bounds!r}."
        ) from None
    low, high = (
        np.broadcast_to(np.asarray(host(bound), dtype=np.float64), (n_components,))
        if np.ndim(host(bound)) == 0 or np.shape(host(bound)) == (n_components,)
        else None
        for bound in (low, high)
    )
    if low is None or high is None:
        raise ValueError(
            "weight_bounds should be a pair (low, high) of numbers or of arrays "
            f"of shape ({n_components},), one bound per component."
        )
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        raise ValueError("weight_bounds should be finite numbers in [0, 1].")
    if np.any(low < 0) or np.any(high > 1):
        raise ValueError(
            "weight_bounds should lie in [0, 1]: a component's weight is a share "
            f"of the mass; got low in [{low.min():g}, {low.max():g}], high in "
            f"[{high.min():g}, {high.max():g}]."
        )
    if np.any(low > high):
        k = int(np.argmax(low > high))
        raise ValueError(
            f"weight_bounds: low > high for component {k} ({low[k]:g} > "
            f"{high[k]:g}); each lower bound should be at most its upper bound."
        )
    if low.sum() > 1.0 + 1e-12:
        raise ValueError(
            f"weight_bounds: the lower bounds sum to {low.sum():g} > 1, so no "
            "weights summing to one satisfy them; lower them."
        )
    if high.sum() < 1.0 - 1e-12:
        raise ValueError(
            f"weight_bounds: the upper bounds sum to {high.sum():g} < 1, so no "
            "weights summing to one satisfy them; raise them."
        )
    return np.array(low), np.array(high)


def _responsibilities(sample, init_params, n_components, random_state):
    """The initial responsibilities of ``init_params``, rows summing to one.

    Random draws are made on the host by numpy; k-means and k-means++ are
    scikit-learn's numpy code, given a host copy of the rows (and of the
    weights). Only labels, indices or draws go to the rows' namespace and
    device, so that every namespace starts from the same plan.
    """
    X = sample.X
    xp, device = get_namespace(X)
    n_samples = X.shape[0]
    if init_params == "random":
        draws = random_state.uniform(size=(n_samples, n_components))
        responsibilities = asarray(draws, xp, device, dtype=X.dtype)
        return responsibilities / xp.sum(responsibilities, axis=1, keepdims=True)
    weight = None if sample.sample_weight is None else to_numpy(sample.sample_weight)
    if init_params == "hierarchical":
        # Rows outside the subset that builds the tree (label -1) stay out of
        # the initial M-step, as in mclust.
        labels = (
            np.zeros(n_samples, dtype=np.intp)
            if n_components == 1
            else hierarchical_labels(to_numpy(X), n_components, random_state)
        )
        sample_keys = asarray(labels, xp, device)
        component_keys = xp.arange(n_components, device=device)
    elif init_params == "kmeans":
        labels = (
            KMeans(n_clusters=n_components, n_init=1, random_state=random_state)
            .fit(to_numpy(X), sample_weight=weight)
            .labels_
        )
        sample_keys = asarray(labels, xp, device)
        component_keys = xp.arange(n_components, device=device)
    else:
        if init_params == "k-means++":
            _, indices = kmeans_plusplus(
                to_numpy(X),
                n_components,
                sample_weight=weight,
                random_state=random_state,
            )
        else:  # random_from_data
            probabilities = None if weight is None else weight / np.sum(weight)
            indices = random_state.choice(
                n_samples, size=n_components, replace=False, p=probabilities
            )
        sample_keys = xp.arange(n_samples, device=device)
        component_keys = asarray(indices, xp, device)
    # One-hot: sample i belongs to component k where their keys match.
    return astype(sample_keys[:, None] == component_keys[None, :], X.dtype)


class _Rows(NamedTuple):
    """Some rows of an initialisation sample, and their weights."""

    X: np.ndarray
    sample_weight: np.ndarray | None


def _labelled_plan(sample, init_params, classes, random_state):
    """The initial plan of a classifier.

    A labelled row goes to its class's components: to the one component of
    its class, or to one of several as ``init_params`` places them among the
    class's labelled rows. An unlabelled row goes to every component evenly
    (as in mclust's ``MclustSSC``).
    """
    X, mass, labels = sample.X, sample.sample_mass, sample.labels
    xp, device = get_namespace(X)
    host_labels, host_classes = to_numpy(labels), to_numpy(classes)
    n_components = host_classes.shape[0]
    responsibilities = np.zeros((X.shape[0], n_components))
    responsibilities[host_labels < 0] = 1.0 / n_components
    for label in range(int(host_classes.max()) + 1):
        components = np.flatnonzero(host_classes == label)
        rows = np.flatnonzero(host_labels == label)
        if components.shape[0] == 1:
            responsibilities[rows, components[0]] = 1.0
            continue
        if rows.shape[0] < components.shape[0]:
            # Only on a sample of a Dask array: in memory, the estimator has
            # checked every class's rows.
            raise ValueError(
                f"The initialisation sample holds {rows.shape[0]} labelled row(s) "
                f"of the class of index {label}, fewer than its "
                f"{components.shape[0]} components: the sample of a large Dask "
                "array is uniform, and this class's labels are rare in it. Give "
                "the class fewer components, or fit on fewer rows."
            )
        keys = asarray(rows, xp, device)
        weight = sample.sample_weight
        class_rows = _Rows(
            xp.take(X, keys, axis=0),
            None if weight is None else xp.take(weight, keys, axis=0),
        )
        responsibilities[np.ix_(rows, components)] = to_numpy(
            _responsibilities(
                class_rows, init_params, components.shape[0], random_state
            )
        )
    return asarray(responsibilities, xp, device, dtype=X.dtype) * mass[:, None]


def _at_labelled_centres(sample, plan, mass, means, covariances, covariance_type):
    """A classifier's initial components centred on their labelled rows.

    The unlabelled rows, spread evenly over the components, would pull every
    mean toward the mean of the data, and with few labels all components would
    start nearly alike (the lower bound then moves little at first, and
    ``tol`` stops the fit there). Each mean is moved to the mean of its
    labelled rows, and its covariance is taken about that centre (the scatter
    about a point ``c`` is the covariance plus ``(mu - c)(mu - c)^T``): wide
    enough to hold the unlabelled rows, and positive definite however few the
    labelled rows. Without unlabelled rows nothing changes.
    """
    xp = namespace_of(plan)
    labelled = sample.labels >= 0
    if bool(xp.all(labelled)):
        return means, covariances
    labelled_plan = plan * astype(labelled, plan.dtype)[:, None]
    centres = (xp.matrix_transpose(labelled_plan) @ sample.X) / xp.sum(
        labelled_plan, axis=0
    )[:, None]
    centres = astype(centres, means.dtype)
    shift = astype(means - centres, covariances.dtype)
    if covariance_type == "full":
        covariances = covariances + shift[:, :, None] * shift[:, None, :]
    elif covariance_type == "tied":
        share = astype(mass / xp.sum(mass), covariances.dtype)
        covariances = covariances + xp.matrix_transpose(shift * share[:, None]) @ shift
    elif covariance_type == "diag":
        covariances = covariances + shift**2
    else:
        covariances = covariances + xp.mean(shift**2, axis=1)
    return centres, covariances


def _statistics_of(x, mass, plan, covariance_type, centre, rows_left_out):
    """Statistics of a block's rows of a given plan, about ``centre`` (see
    :func:`~sklearn_otmix._gaussian.sufficient_statistics`); ``rows_left_out``:
    whether the rows it leaves out count in a ``tied`` scatter, as in
    scikit-learn's initialisations."""
    if not rows_left_out:
        mass = namespace_of(plan).sum(plan, axis=1)
    return sufficient_statistics(x, plan, mass, covariance_type, centre)


def initialize(sample, problem, init, init_params, random_state):
    """Initial parameters: the M-step of an initial plan, then the user's ones.

    The initial plan is ``a_i`` times the responsibilities that ``init_params``
    gives: hard k-means labels, one point per component (k-means++ seeding or a
    uniform draw), uniform random responsibilities, or a partition of mclust's
    merge tree (``'hierarchical'``). It is skipped when all
    three ``*_init`` are given (``sample`` may then be None).
    """
    weights, means, precisions = init["weights"], init["means"], init["precisions"]
    covariance_type = problem.covariance_type
    covariances = None
    if weights is None or means is None or precisions is None:
        if sample.X.shape[0] < problem.n_components:
            raise ValueError(
                f"Only {sample.X.shape[0]} samples of the initialisation sample "
                "have a positive sample_weight, fewer than n_components = "
                f"{problem.n_components}."
            )
        if problem.component_class is None:
            plan = _initial_plan(
                sample, init_params, problem.n_components, random_state
            )
        else:
            plan = _labelled_plan(
                sample, init_params, problem.component_class, random_state
            )
        statistics = sample.sum(
            partial(
                _statistics_of,
                covariance_type=covariance_type,
                centre=initial_centre(sample.X, covariance_type),
                # mclust's M-step on the tree's subset leaves the others out.
                rows_left_out=init_params != "hierarchical",
            ),
            sample.split(plan),
        )
        mass, fitted_means, covariances = _mle(statistics, problem)
        if problem.component_class is not None:
            fitted_means, covariances = _at_labelled_centres(
                sample, plan, mass, fitted_means, covariances, covariance_type
            )
        if problem.target_groups is not None:
            # Known proportions without an order: each group's largest targets
            # to its components of the largest initial mass.
            weights = matched_order(weights, mass, problem.target_groups)
        if weights is None:
            # The hierarchical plan may leave rows out: its mass is the total.
            hierarchical = init_params == "hierarchical"
            total = namespace_of(mass).sum(mass) if hierarchical else sample.total
            weights = mass / total
        means = fitted_means if means is None else means
    if precisions is None:
        precisions_chol = precision_cholesky(covariances, covariance_type)
    else:
        precisions_chol = precision_cholesky_from_precisions(
            precisions, covariance_type
        )
        covariances = covariances_from_precisions(precisions, covariance_type)
    return Mixture(weights, means, covariances, precisions_chol)


# --------------------------------------------------------------------------------
# The loop


def fit(samples, problem, init, loop, random_state, start=None):
    """Run the fit ``n_init`` times (once from ``start``); keep the best.

    Parameters
    ----------
    samples : data layer
    problem : MixtureProblem
    init : dict
        From :func:`checked_initial_parameters`.
    loop : FitLoop
    random_state : RandomState
    start : tuple (Mixture, float) or None
        A fitted mixture and its lower bound to continue from (warm start).

    Returns
    -------
    result : FitResult
    """
    progress = _Progress(loop.verbose, loop.verbose_interval)
    n_init = loop.n_init if start is None else 1
    sample = None
    if start is None and any(
        init[key] is None for key in ("weights", "means", "precisions")
    ):
        sample = samples.initialization_sample(random_state)
    best = None
    for init_index in range(n_init):
        progress.init_begin(init_index)
        if start is None:
            mixture = initialize(sample, problem, init, loop.init_params, random_state)
            run = _fit_one(samples, problem, loop, mixture, -math.inf, progress)
        else:
            run = _fit_one(samples, problem, loop, *start, progress)
        # Without iterations (max_iter=0) every run has bound -inf: keep the last.
        if (
            best is None
            or run.lower_bound > best.lower_bound
            or best.lower_bound == -math.inf
        ):
            best = run
    _warn(best, problem, loop, n_init)
    return best


def _fit_one(samples, problem, loop, mixture, lower_bound, progress):
    """One run of block-coordinate descent from ``mixture``."""
    lower_bounds, residuals = [], []
    converged = False
    n_iter = unsolved = 0
    warm = None
    if problem.target_groups is not None:
        # The targets in the order the mixture carries them (a warm start
        # continues in the order it found).
        problem = _with_target(problem, mixture.weights)
    for n_iter in range(1, loop.max_iter + 1):
        previous = lower_bound
        step = e_step(samples, mixture, problem, warm)
        if problem.target_groups is not None:
            problem, step = _better_order(samples, mixture, problem, step)
        # The models with iterative M-steps continue from the current
        # covariances (as mclust's EM does from its second M-step): their
        # updates never increase F from there.
        mixture = m_step(step.statistics, problem, mixture.covariances)
        warm = step.potentials
        unsolved += not step.converged
        residuals.append(step.residual)
        lower_bound = -step.value
        lower_bounds.append(lower_bound)
        change = lower_bound - previous
        progress.iteration(n_iter, change, step.residual)
        if abs(change) < loop.tol:
            converged = True
            break
    if loop.max_iter > 0:
        progress.init_end(lower_bound, converged)
    return FitResult(
        mixture, lower_bound, lower_bounds, n_iter, converged, residuals, unsolved
    )


def _better_order(samples, mixture, problem, step):
    r"""Known weights without an order: the E-step's targets, re-ordered where
    that lowers :math:`F`.

    With ``reg_m=inf`` the E-step is the balanced problem with column marginal
    ``t``; which component carries which target is unknown (within each of
    ``problem.target_groups``). The E-step's potentials ``g`` price the mass
    of each component: ``F`` at the optimal plan is the dual's maximum over
    ``g`` of ``sum_k t_k g_k - eps sum_i a_i log sum_k e^{(g_k - C_ik) / eps}``
    (up to terms that do not depend on the order). At the current prices, the
    order that gives the largest targets to the cheapest components makes the
    first sum smallest (the rearrangement inequality): that order is the
    candidate. Its E-step is solved, warm-started from ``g``, and kept only if
    its ``F`` is lower, so that the objective never increases.
    """
    target = problem.transport.target_weights
    # The cheapest component is the one whose potential is lowest.
    proposal = matched_order(target, -step.potentials, problem.target_groups)
    if bool(namespace_of(target).all(proposal == target)):
        return problem, step
    candidate = _with_target(problem, proposal)
    other = e_step(samples, mixture, candidate, step.potentials)
    if other.value < step.value:
        return candidate, other
    return problem, step


def warn_unsolved(unsolved, residuals, transport, stacklevel=5):
    """The transport warning: raised when, and only when, some of the E-steps
    whose ``residuals`` are given missed their certificate (``unsolved`` of
    them; see :func:`sklearn_otmix._transport.certificate`)."""
    if not unsolved:
        return
    warnings.warn(
        f"In {unsolved} of {len(residuals)} E-steps the transport "
        f"plan's optimality residual stayed above sinkhorn_tol={transport.tol} "
        f"(largest {max(residuals):.3g}) after sinkhorn_max_iter="
        f"{transport.max_iter} solver iterations: increase sinkhorn_max_iter or "
        "sinkhorn_tol, or reg.",
        ConvergenceWarning,
        stacklevel=stacklevel,
    )


def _warn(result, problem, loop, n_init):
    warn_unsolved(result.unsolved, result.residuals, problem.transport)
    if not result.converged and loop.max_iter > 0:
        warnings.warn(
            f"{NOT_CONVERGED} (The best of {n_init} initialisation(s) did not "
            f"converge within max_iter={loop.max_iter} iterations, tol="
            f"{loop.tol}.)",
            ConvergenceWarning,
            stacklevel=4,
        )


# --------------------------------------------------------------------------------
# The weights on a new batch, the components frozen (prior shift)


def fit_weights(samples, mixture, problem, tol, max_iter):
    """Block-coordinate descent on the weights alone: E-steps at the frozen
    components, each followed by ``pi = P^T 1`` (with ``reg_m=0`` this is
    Saerens, Latinne & Decaestecker's EM on the priors); with ``reg_m=inf``
    the weights are the target and one E-step gives the plan.

    Returns
    -------
    result : FitResult
    """
    xp = namespace_of(mixture.weights)
    fixed = problem.transport.reg_m == math.inf
    if fixed:
        mixture = mixture._replace(weights=problem.transport.target_weights)
    lower_bound, lower_bounds, residuals = -math.inf, [], []
    converged, warm, unsolved, n_iter = False, None, 0, 0
    for n_iter in range(1, max_iter + 1):
        step = e_step(samples, mixture, problem, warm)
        warm, unsolved = step.potentials, unsolved + (not step.converged)
        residuals.append(step.residual)
        change = -step.value - lower_bound
        lower_bound = -step.value
        lower_bounds.append(lower_bound)
        if fixed or abs(change) < tol:
            converged = True
            break
        # Floored as the M-step's masses: an empty component keeps a weight.
        mass = astype(step.statistics.mass, mixture.weights.dtype)
        mass = mass + 10 * xp.finfo(mass.dtype).eps
        mixture = mixture._replace(weights=mass / xp.sum(mass))
    return FitResult(
        mixture, lower_bound, lower_bounds, n_iter, converged, residuals, unsolved
    )


# --------------------------------------------------------------------------------
# Stepwise EM (partial_fit)


class Stream(NamedTuple):
    """The state of stepwise EM: running statistics per unit of mass, the
    number of chunks seen, and the last E-step's potentials."""

    statistics: Statistics | None = None
    n_steps: int = 0
    potentials: np.ndarray | None = None


def stream_step(samples, mixture, problem, stream, learning_decay):
    """One step of stepwise EM on a chunk (Cappé & Moulines, 2009).

    The chunk's statistics per unit of mass enter the running ones with step
    size ``s ** -learning_decay`` at the ``s``-th chunk (the first replaces
    them); the new mixture is the M-step of the running statistics.

    Returns
    -------
    mixture : Mixture
    stream : Stream
    step : EStep
        The chunk's E-step (``F`` there, its certificate).
    """
    step = e_step(samples, mixture, problem, stream.potentials)
    n_steps = stream.n_steps + 1
    rate = n_steps**-learning_decay
    statistics = step.statistics.scaled(rate / samples.total)
    if stream.statistics is not None:
        statistics = stream.statistics.scaled(1 - rate).merge(statistics)
    stream = Stream(statistics, n_steps, step.potentials)
    return m_step(statistics, problem), stream, step


# --------------------------------------------------------------------------------
# The fitted mixture as a density, on blocks of rows


def labels(x, mixture, covariance_type):
    """Most probable component of each row."""
    log_prob = mixture.weighted_log_prob(x, covariance_type)
    return namespace_of(log_prob).argmax(log_prob, axis=1)


def posterior(x, mixture, covariance_type):
    """Bayes posterior of each component given each row."""
    return row_softmax(mixture.weighted_log_prob(x, covariance_type))[0]


def log_density(x, mixture, covariance_type):
    """``log sum_k pi_k N(x_i; mu_k, Sigma_k)`` of each row."""
    return row_softmax(mixture.weighted_log_prob(x, covariance_type))[1]


def class_log_posterior(x, mixture, covariance_type, groups):
    """``log P(class c | x_i)``: the log-sum of the posteriors of each class's
    components, ``groups[c]`` (an integer array of component indices), computed
    without leaving the logarithms."""
    log_prob = mixture.weighted_log_prob(x, covariance_type)
    xp = namespace_of(log_prob)
    joint = xp.stack(
        [row_softmax(xp.take(log_prob, group, axis=1))[1] for group in groups],
        axis=1,
    )
    return joint - row_softmax(xp.asarray(joint, copy=True))[1][:, None]


def class_of(x, mixture, covariance_type, groups, classes=None):
    """The most probable class of each row: its index, or its label in
    ``classes`` when given."""
    log_posterior = class_log_posterior(x, mixture, covariance_type, groups)
    xp = namespace_of(log_posterior)
    index = xp.argmax(log_posterior, axis=1)
    return index if classes is None else xp.take(classes, index, axis=0)


def class_posterior(x, mixture, covariance_type, groups):
    """``P(class c | x_i)``; rows sum to one."""
    log_posterior = class_log_posterior(x, mixture, covariance_type, groups)
    return namespace_of(log_posterior).exp(log_posterior)


class ClassSums(NamedTuple):
    """The labelled rows of each class: their mass and their number."""

    mass: np.ndarray
    count: np.ndarray


def _class_sums_block(x, mass, labels, n_classes):
    xp = namespace_of(mass)
    index = xp.arange(n_classes, **on_device_of(labels))
    member = astype(labels[:, None] == index[None, :], xp.float64)
    return ClassSums(astype(mass, xp.float64) @ member, xp.sum(member, axis=0))


def class_sums(samples, n_classes):
    """:class:`ClassSums` of the samples' labelled rows, in numpy (one pass)."""
    sums = samples.sum(partial(_class_sums_block, n_classes=n_classes), LABELS)
    return ClassSums(to_numpy(sums.mass), to_numpy(sums.count).astype(np.int64))


def weighted_log_likelihood(x, mass, mixture, covariance_type):
    """``sum_i w_i log p(x_i)`` over a block."""
    return mass @ log_density(x, mixture, covariance_type)


def likelihood_and_entropy(x, mass, mixture, covariance_type):
    """``sum_i w_i log p(x_i)`` and the entropy of the posteriors,
    ``-sum_i w_i sum_k z_ik log z_ik``, over a block (for BIC and ICL)."""
    log_prob = mixture.weighted_log_prob(x, covariance_type)
    xp = namespace_of(log_prob)
    proba, log_norm = row_softmax(xp.asarray(log_prob, copy=True))
    # z log z is 0 where z is: no 0 * -inf.
    z_log_z = fill_where(proba * (log_prob - log_norm[:, None]), proba == 0, 0.0)
    return xp.stack([mass @ log_norm, -(mass @ xp.sum(z_log_z, axis=1))])


# --------------------------------------------------------------------------------
# Verbose output


class _Progress:
    """The lines printed with ``verbose`` 1 (iterations, with the E-step's
    transport residual) or 2 (also times and the change of the lower bound),
    every ``verbose_interval`` iterations."""

    def __init__(self, verbose, interval):
        self.verbose = verbose
        self.interval = interval

    def init_begin(self, init_index):
        if self.verbose >= 1:
            print(f"Initialization {init_index}")
            self.init_start = self.iter_start = perf_counter()

    def iteration(self, n_iter, change, residual):
        if self.verbose < 1 or n_iter % self.interval:
            return
        if self.verbose == 1:
            print(f"  Iteration {n_iter}\t transport residual {residual:.2e}")
        else:
            now = perf_counter()
            print(
                f"  Iteration {n_iter}\t time lapse {now - self.iter_start:.5f}s"
                f"\t lower bound change {change:.5f}"
                f"\t transport residual {residual:.2e}"
            )
            self.iter_start = now

    def init_end(self, lower_bound, converged):
        status = "converged" if converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {status}.")
        elif self.verbose >= 2:
            elapsed = perf_counter() - self.init_start
            print(
                f"Initialization {status}. time lapse {elapsed:.5f}s\t "
                f"lower bound {lower_bound:.5f}."
            )
