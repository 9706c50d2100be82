"""The initial mixture of a fit: the validated ``*_init``, ``target_weights``
and ``weight_bounds``, and the M-step of the initial plan that ``init_params``
gives (for a classifier, within each class's labelled rows)."""

import math
from functools import partial
from typing import NamedTuple

import numpy as np
from sklearn.cluster import KMeans, kmeans_plusplus

from ._backend import asarray, astype, get_namespace, host, namespace_of, to_numpy
from ._gaussian import (
    check_means,
    check_precisions,
    check_simplex,
    covariances_from_precisions,
    initial_centre,
    precision_cholesky,
    precision_cholesky_from_precisions,
    sufficient_statistics,
)
from ._hierarchy import hierarchical_labels
from ._noise import Noise
from ._step import Mixture, matched_order, mle


def checked_initial_parameters(
    like,
    *,
    n_components,
    form,
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
    n_components, form, reg_m : as the estimator's parameters
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
            form,
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


def _initial_plan(sample, init_params, n_components, random_state, noise=None):
    """The plan of ``init_params``: responsibilities times the sample masses;
    with ``noise`` (a boolean host array, True for the rows that start in the
    noise component), those of ``init_params`` on the other rows, and none on
    the noise rows."""
    if noise is None:
        responsibilities = _responsibilities(
            sample, init_params, n_components, random_state
        )
        return responsibilities * sample.sample_mass[:, None]
    xp, device = get_namespace(sample.X)
    kept = asarray(np.flatnonzero(~noise), xp, device)
    weight = sample.sample_weight
    rows = _Rows(
        xp.take(sample.X, kept, axis=0),
        None if weight is None else xp.take(weight, kept, axis=0),
    )
    responsibilities = np.zeros((noise.shape[0], n_components))
    responsibilities[~noise] = to_numpy(
        _responsibilities(rows, init_params, n_components, random_state)
    )
    responsibilities = asarray(responsibilities, xp, device, dtype=sample.X.dtype)
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
        (
            np.broadcast_to(np.asarray(host(bound), dtype=np.float64), (n_components,))
            if np.ndim(host(bound)) == 0 or np.shape(host(bound)) == (n_components,)
            else None
        )
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


def _at_labelled_centres(sample, plan, mass, means, covariances, form):
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
    if form == "full":
        covariances = covariances + shift[:, :, None] * shift[:, None, :]
    elif form == "tied":
        share = astype(mass / xp.sum(mass), covariances.dtype)
        covariances = covariances + xp.matrix_transpose(shift * share[:, None]) @ shift
    elif form == "diag":
        covariances = covariances + shift**2
    else:
        covariances = covariances + xp.mean(shift**2, axis=1)
    return centres, covariances


def _statistics_of(x, mass, plan, row_mass, form, centre):
    """Statistics of a block's rows of a given plan, about ``centre`` (see
    :func:`~sklearn_otmix._gaussian.sufficient_statistics`); ``row_mass``:
    the rows' masses, which count in a ``tied`` scatter where the plan
    leaves a row out."""
    return sufficient_statistics(x, plan, row_mass, form, centre)


def initialize(sample, problem, init, init_params, random_state):
    """Initial parameters: the M-step of an initial plan, then the user's ones.

    The initial plan is ``a_i`` times the responsibilities that ``init_params``
    gives: hard k-means labels, one point per component (k-means++ seeding or a
    uniform draw), uniform random responsibilities, or a partition of mclust's
    merge tree (``'hierarchical'``). It is skipped when all
    three ``*_init`` are given (``sample`` may then be None, unless there is a
    noise component).

    With a noise component (``init["noise"]``: True for the sample's rows
    that start in it), those rows make the noise's initial weight, as mclust
    starts it, and the Gaussians start from ``init_params`` on the other rows
    (``weights_init`` then shares out the rest of the weight).
    """
    weights, means, precisions = init["weights"], init["means"], init["precisions"]
    noise_rows = init.get("noise")
    form = problem.form
    covariances = None
    noise = noise_mass = None
    if noise_rows is not None:
        noise_mass = float(np.sum(to_numpy(sample.sample_mass)[noise_rows]))
    if weights is None or means is None or precisions is None:
        if sample.X.shape[0] < problem.n_components:
            raise ValueError(
                f"Only {sample.X.shape[0]} samples of the initialisation sample "
                "have a positive sample_weight, fewer than n_components = "
                f"{problem.n_components}."
            )
        if problem.component_class is None:
            plan = _initial_plan(
                sample, init_params, problem.n_components, random_state, noise_rows
            )
        else:
            plan = _labelled_plan(
                sample, init_params, problem.component_class, random_state
            )
        # The rows that a tied scatter counts where the plan leaves them out,
        # as scikit-learn's initialisations do; mclust's M-step on the tree's
        # subset leaves them out, and no Gaussian counts the noise's rows.
        if init_params == "hierarchical":
            row_mass = namespace_of(plan).sum(plan, axis=1)
        else:
            row_mass = sample.sample_mass
            if noise_rows is not None:
                kept = (~noise_rows).astype(np.float64)
                row_mass = row_mass * asarray(
                    kept, *get_namespace(plan), dtype=plan.dtype
                )
        statistics = sample.sum(
            partial(
                _statistics_of,
                form=form,
                centre=initial_centre(sample.X, form),
            ),
            sample.split(plan),
            sample.split(row_mass),
        )
        mass, fitted_means, covariances = mle(statistics, problem)
        if problem.component_class is not None:
            fitted_means, covariances = _at_labelled_centres(
                sample, plan, mass, fitted_means, covariances, form
            )
        if problem.target_groups is not None:
            # Known proportions without an order: each group's largest targets
            # to its components of the largest initial mass.
            weights = matched_order(weights, mass, problem.target_groups)
        if weights is None:
            # The hierarchical plan may leave rows out: its mass is the total.
            hierarchical = init_params == "hierarchical"
            total = namespace_of(mass).sum(mass) if hierarchical else sample.total
            if hierarchical and noise_mass is not None:
                total = total + noise_mass
            weights = mass / total
            if noise_mass is not None:
                noise = noise_mass / float(total)
        means = fitted_means if means is None else means
    if noise_mass is not None:
        if noise is None:
            # weights_init, or all three *_init: the noise rows' share.
            noise = noise_mass / sample.total
            weights = weights * (1.0 - noise)
        xp, device = get_namespace(weights)
        noise = Noise(
            asarray([noise], xp, device, dtype=weights.dtype), problem.hypervolume
        )
    if precisions is None:
        precisions_chol = precision_cholesky(covariances, form)
    else:
        precisions_chol = precision_cholesky_from_precisions(precisions, form)
        covariances = covariances_from_precisions(precisions, form)
    return Mixture(weights, means, covariances, precisions_chol, noise)
