r"""The Gaussian family: transport costs (negative log-densities) and the M-step.

A component ``k`` is a Gaussian ``N(mu_k, Sigma_k)`` stored through the Cholesky
factor of its precision, ``L_k L_k^T = Sigma_k^{-1}`` (``L_k`` upper triangular, as
in scikit-learn). Its transport cost is

.. math::

    C_{ik} = -\log \mathcal{N}(x_i; \mu_k, \Sigma_k)
           = \tfrac12 \lVert (x_i - \mu_k) L_k \rVert^2
             + \tfrac{d}{2}\log(2\pi) - \log\det L_k,

and the M-step ``phi <- argmin_phi <C(phi), P>`` is the Gaussian maximum-likelihood
estimate with weights ``P``, computed from sufficient statistics that the blocks
of the data compute on their own and that add up (:func:`merge_statistics`).
Costs and statistics are taken about centres near the components
(:func:`centre_groups`), so that data far from the origin lose no digits.
Each storage form of the covariances (``form``: ``full``, ``tied``, ``diag``,
``spherical``, scikit-learn's four covariance types; mclust's other models are
stored ``full``, see :mod:`sklearn_otmix._models`) has its own function for
both, dispatched by dictionaries. Everything here is written once
over the array namespace of its inputs.
"""

import functools
import math
from typing import NamedTuple

import numpy as np
from sklearn.utils import check_array

from ._backend import (
    add_to_diagonal,
    asarray,
    astype,
    cholesky,
    inverse_transposed,
    finfo,
    moment_rows,
    namespace_of,
    on_device_of,
    row_sum,
    to_numpy,
)
from ._memory import costs_whitened
from ._messages import (
    FLOAT32_ADVICE,
    ILL_DEFINED_COVARIANCE,
    precision_not_definite,
    precision_not_positive,
    weights_not_normalized,
    weights_out_of_range,
    wrong_shape,
)

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


# --------------------------------------------------------------------------------
# Costs: one matrix product with the moments of the data

# The second-order moments of each covariance type (see ``moment_rows``).
_PRODUCTS = {"full": "upper", "tied": None, "diag": "squares", "spherical": "squares"}


def log_det_cholesky(precisions_chol, form, n_features):
    """Log-determinant of each component's precision Cholesky factor.

    Parameters
    ----------
    precisions_chol : ndarray
        Shape (n_components, n_features, n_features) for ``full``,
        (n_features, n_features) for ``tied``, (n_components, n_features) for
        ``diag``, (n_components,) for ``spherical``.
    form : {'full', 'tied', 'diag', 'spherical'}
    n_features : int

    Returns
    -------
    log_det : ndarray of shape (n_components,) or scalar (``tied``)
        ``log det L_k = -1/2 log det Sigma_k``.
    """
    xp = namespace_of(precisions_chol)
    if form in ("full", "tied"):
        return xp.sum(xp.log(xp.linalg.diagonal(precisions_chol)), axis=-1)
    if form == "diag":
        return xp.sum(xp.log(precisions_chol), axis=1)
    return n_features * xp.log(precisions_chol)


@functools.lru_cache(maxsize=8)
def _upper_pairs(n_features):
    """Flat indices ``a d + b`` of the pairs ``a <= b`` (row by row), whether each
    is on the diagonal, and for each entry of a (d, d) matrix the position of its
    pair in that list (numpy arrays)."""
    rows, cols = np.triu_indices(n_features)
    position = np.empty((n_features, n_features), dtype=np.int64)
    position[rows, cols] = position[cols, rows] = np.arange(rows.shape[0])
    return rows * n_features + cols, rows == cols, position.ravel()


class GaussianCost(NamedTuple):
    r"""The costs of components as one matrix product with the data's moments.

    A Gaussian log-density is linear in the first and second moments of its
    argument. With ``y = x - c`` for a centre ``c`` and ``nu_k = mu_k - c``,

    .. math::

        C_{ik} = \tfrac12 y_i^\top \Lambda_k y_i - y_i^\top \Lambda_k \nu_k
            + \tfrac12 \nu_k^\top \Lambda_k \nu_k
            + \tfrac{d}{2}\log(2\pi) - \log\det L_k,

    so that ``C = T^T W`` for the moments ``T = [1; y; y_a y_b (a <= b)]`` of
    each row (:meth:`moments`, shape (m, n_rows)) and coefficients ``W`` of
    shape (m, n_components). The M-step's statistics are the same moments
    against the plan, ``T P`` (:meth:`statistics`): formed once per block of
    rows, they serve both, and every product is a matrix product of the
    machine's BLAS. ``diag`` and ``spherical`` take the squares ``y_a^2`` as
    second moments; ``tied`` none, its quadratic term ``1/2 |L^T y|^2`` being
    the same for all components.

    The centre is chosen near the components (:func:`gaussian_cost_of`): the
    expanded form rounds to about ``eps |y|^2 |Lambda_k|`` where the direct
    one, ``|(x - mu_k) L_k|^2``, rounds to ``eps |(x - mu_k) L_k|^2``, and the
    statistics lose ``|nu_k|^2 / sigma_k^2`` to cancellation in the M-step:
    a few digits of sixteen when ``nu_k`` is a few standard deviations,
    whatever the offset of the data. In float32 that can leave a
    near-singular component's covariance indefinite, so ``full`` and ``tied``
    compute in float64 from float32 data (``dtype``), and the M-step returns
    parameters in the data's dtype.

    Attributes
    ----------
    coefficients : ndarray of shape (m, n_components)
    centre : ndarray of shape (n_features,)
    form : {'full', 'tied', 'diag', 'spherical'}
    tied_factor : ndarray of shape (n_features, n_features) or None
        ``L`` for ``tied``.

    All four arrays are of the dtype the E-step computes in (see above).
    """

    coefficients: np.ndarray
    centre: np.ndarray
    form: str
    tied_factor: np.ndarray | None = None

    def working(self, array):
        """``array`` in the dtype that the E-step computes in."""
        return astype(array, self.coefficients.dtype)

    def moments(self, x):
        """The moments ``T`` of a block of rows: shape (m, n_rows)."""
        x = self.working(x)
        return moment_rows(x, self.centre, _PRODUCTS[self.form])

    def cost_of(self, x):
        """The costs of a block of rows: shape (n_rows, n_components)."""
        return self.cost(self.moments(x))

    def cost(self, moments):
        """``C = T^T W`` from the moments of a block: (n_rows, n_components).

        Computed as ``(W^T T)^T``: the product with the long rows of ``T`` on the
        right runs faster, and the plan's rows are read as well either way.
        """
        xp = namespace_of(moments)
        cost = xp.matrix_transpose(xp.matrix_transpose(self.coefficients) @ moments)
        if self.tied_factor is not None:
            y = self.tied_factor.T @ moments[1:, :]
            y *= y
            cost += 0.5 * xp.sum(y, axis=0)[:, None]
        return cost

    def moment_sums(self, moments, plan, row_mass):
        """The sums ``T P`` that make the plan's :class:`Statistics`: they add up
        over blocks of rows, and :meth:`statistics` reads them once.
        ``row_mass`` is ``P 1``, for ``tied``."""
        sums = moments @ self.working(plan)
        if self.tied_factor is None:
            return MomentSums(sums)
        # sum_ik P_ik y_i y_i^T = Y^T diag(P 1) Y.
        y = moments[1:, :]
        scatter = (y * self.working(row_mass)) @ namespace_of(y).matrix_transpose(y)
        return MomentSums(sums, scatter)

    def statistics(self, moment_sums):
        """The :class:`Statistics` of a plan from its :class:`MomentSums`, about
        the centre."""
        xp = namespace_of(moment_sums.sums)
        sums = moment_sums.sums
        n_features = self.centre.shape[0]
        mass = sums[0, :]
        first = xp.matrix_transpose(sums[1 : 1 + n_features, :])
        centres = xp.broadcast_to(self.centre, first.shape)
        if self.form == "tied":
            second = moment_sums.scatter
        else:
            second = xp.matrix_transpose(sums[1 + n_features :, :])
        if self.form == "full":
            position = _upper_pairs(n_features)[2]
            second = xp.take(
                second, asarray(position, xp, **on_device_of(second)), axis=1
            )
            second = xp.reshape(second, (mass.shape[0], n_features, n_features))
        return Statistics(mass, first, second, centres, self.form)


class MomentSums(NamedTuple):
    """``T P`` summed over blocks (shape (m, n_components)), and for ``tied`` the
    scatter ``Y^T diag(P 1) Y``: a tuple of sums, as the data layer adds them."""

    sums: np.ndarray
    scatter: np.ndarray | float = 0.0


class WhitenedCost(NamedTuple):
    r"""The costs of ``full`` components when the data have many features next
    to the number of components (``n_features > 6 n_components``, see
    :func:`sklearn_otmix._memory.costs_whitened`), where the
    ``d (d + 1) / 2`` moments of a row outnumber the ``K d`` entries of its
    whitened residuals ``(x - mu_k) L_k``: those, all components in one matrix
    product ``[x - c, 1] @ S`` (``c`` a centre near the components, as for
    :class:`GaussianCost`), squared and summed in runs of ``d`` columns (a
    product with ``halves``, a 0/1 matrix times 1/2). The statistics are those
    of :func:`sufficient_statistics`, about each block's own means. Same
    interface as :class:`GaussianCost`.
    """

    stacked: np.ndarray
    halves: np.ndarray
    constant: np.ndarray
    centre: np.ndarray

    def working(self, array):
        return array

    def moments(self, x):
        return x

    def cost(self, x):
        xp = namespace_of(x)
        ones = xp.ones((x.shape[0], 1), dtype=x.dtype, **on_device_of(x))
        y = xp.concat([x - self.centre, ones], axis=1) @ self.stacked
        y *= y
        cost = y @ self.halves
        cost += self.constant
        return cost

    def cost_of(self, x):
        return self.cost(x)

    def moment_sums(self, x, plan, row_mass):
        return sufficient_statistics(x, plan, row_mass, "full")

    def statistics(self, statistics):
        return statistics


class GroupedCost(NamedTuple):
    """The costs of components far apart (next to their spread): one cost per
    group of nearby components, each about its own centre, the columns put
    back in the components' order. Same interface as :class:`GaussianCost`.

    Attributes
    ----------
    members : tuple of GaussianCost or WhitenedCost
        Each group's costs.
    groups : tuple of integer arrays
        The components of each group, in the order of its member's columns.
    order : integer array of shape (n_components,)
        Where each component's column is among the groups' columns.
    """

    members: tuple
    groups: tuple
    order: np.ndarray

    def working(self, array):
        return self.members[0].working(array)

    def moments(self, x):
        return tuple(member.moments(x) for member in self.members)

    def cost(self, moments):
        xp = namespace_of(self.order)
        parts = [
            member.cost(part)
            for member, part in zip(self.members, moments, strict=True)
        ]
        return xp.take(xp.concat(parts, axis=1), self.order, axis=1)

    def cost_of(self, x):
        return self.cost(self.moments(x))

    def moment_sums(self, moments, plan, row_mass):
        xp = namespace_of(plan)
        sums = []
        for member, group, part in zip(self.members, self.groups, moments, strict=True):
            share = xp.take(plan, group, axis=1)
            sums.append(member.moment_sums(part, share, row_sum(share)))
        return tuple(sums)

    def statistics(self, moment_sums):
        parts = [
            member.statistics(sums)
            for member, sums in zip(self.members, moment_sums, strict=True)
        ]
        return _concatenated(parts, self.order)


def _concatenated(parts, order):
    """The :class:`Statistics` of groups of components as those of all of
    them, in the components' order (``tied`` pools its scatter)."""
    xp = namespace_of(order)
    form = parts[0].form

    def joined(field):
        return xp.take(
            xp.concat([getattr(part, field) for part in parts], axis=0), order, axis=0
        )

    if form == "tied":
        second = parts[0].second
        for part in parts[1:]:
            second = second + part.second
    else:
        second = joined("second")
    return Statistics(joined("mass"), joined("first"), second, joined("centres"), form)


def _normalising_constant(precisions_chol, form, n_features):
    """``d/2 log(2 pi) - log det L_k``: each component's cost at its mean."""
    log_det = log_det_cholesky(precisions_chol, form, n_features)
    return 0.5 * n_features * math.log(2 * math.pi) - log_det


#: How far (in standard deviations of its own metric) a component's mean may
#: lie from the centre of its costs' moments: the statistics then lose at most
#: about ``eps * CENTRE_RADIUS**2`` relative to cancellation (2e-12 in float64).
CENTRE_RADIUS = 100.0


def _whitened_norms(offsets, precisions_chol, form):
    """``|offsets[k, j] L_k|^2``, the squared length of each offset in
    component ``k``'s own metric: shape (n_components, m) from offsets of
    shape (n_components, m, n_features)."""
    xp = namespace_of(offsets)
    if form in ("full", "tied"):
        whitened = offsets @ precisions_chol
    elif form == "diag":
        whitened = offsets * precisions_chol[:, None, :]
    else:
        whitened = offsets * precisions_chol[:, None, None]
    whitened *= whitened
    ones = xp.ones(offsets.shape[-1], dtype=offsets.dtype, **on_device_of(offsets))
    return whitened @ ones


def initial_centre(X, form):
    """The common centre of an initial plan's statistics, or None for each
    component's weighted mean (exact at any offset).

    The origin where scikit-learn sums about it (``tied``, ``diag``,
    ``spherical``) and the rows lie within :data:`CENTRE_RADIUS` standard
    deviations of it in every feature: both then round alike, which matters
    for the initial plans of one point per component (their variance is
    ``reg_covar`` plus GaussianMixture's round-off).
    """
    if form == "full" or X.shape[0] == 0:
        return None
    xp = namespace_of(X)
    mean = xp.mean(X, axis=0)
    spread = xp.mean((X - mean) ** 2, axis=0)
    if bool(xp.all(mean**2 <= CENTRE_RADIUS**2 * spread)):
        return xp.zeros_like(mean)
    return None


def centre_groups(means, precisions_chol, form, weights=None):
    """Groups of components and the centre of each group's moments.

    One group, centred at the weighted mean of the means, when every component
    lies within :data:`CENTRE_RADIUS` of it in its own metric (the usual case,
    whatever the offset of the data). Otherwise, taking the components by
    decreasing weight, each joins the first group whose leader and itself are
    within that radius of each other in both their metrics, or leads a new
    one; a group is centred at its leader's mean.

    Parameters
    ----------
    means : ndarray of shape (n_components, n_features)
    precisions_chol : ndarray
        See :func:`log_det_cholesky`.
    form : {'full', 'tied', 'diag', 'spherical'}
    weights : ndarray of shape (n_components,), default=None
        Mixing weights; equal when None.

    Returns
    -------
    groups : list of (ndarray or None, ndarray)
        Each group's components (a numpy integer array; None for a single
        group of all of them, in their order) and its centre, of shape
        (n_features,).
    """
    xp = namespace_of(means)
    n_components = means.shape[0]
    if weights is None:
        centre = xp.mean(means, axis=0)
    else:
        centre = astype(weights, means.dtype) @ means
    spread = _whitened_norms((means - centre)[:, None, :], precisions_chol, form)
    if bool(xp.all(spread <= CENTRE_RADIUS**2)):
        return [(None, centre)]
    pairwise = _whitened_norms(
        means[None, :, :] - means[:, None, :], precisions_chol, form
    )
    near = to_numpy(pairwise) <= CENTRE_RADIUS**2
    near &= near.T
    host_weights = np.ones(n_components) if weights is None else to_numpy(weights)
    members = {}
    for k in np.argsort(-host_weights, kind="stable"):
        leader = next((lead for lead in members if near[lead, k]), None)
        if leader is None:
            members[int(k)] = [int(k)]
        else:
            members[leader].append(int(k))
    return [
        (np.sort(np.asarray(group)), means[leader, :])
        for leader, group in members.items()
    ]


def gaussian_cost_of(means, precisions_chol, form, weights=None):
    """The costs of a mixture's components, about centres near them.

    Parameters
    ----------
    means : ndarray of shape (n_components, n_features)
    precisions_chol : ndarray
        See :func:`log_det_cholesky` for the shape of each covariance type.
    form : {'full', 'tied', 'diag', 'spherical'}
    weights : ndarray of shape (n_components,), default=None
        Mixing weights, which place the centre (see :func:`centre_groups`).

    Returns
    -------
    cost : GaussianCost, WhitenedCost or GroupedCost
    """
    xp = namespace_of(means)
    n_components, n_features = means.shape
    whiten = form == "full" and costs_whitened(n_features, n_components)
    if form in ("full", "tied") and not whiten:
        means = astype(means, xp.float64)
        precisions_chol = astype(precisions_chol, xp.float64)
    groups = centre_groups(means, precisions_chol, form, weights)
    if len(groups) == 1:
        return _group_cost(means, precisions_chol, form, groups[0][1], whiten)
    members = []
    for group, centre in groups:
        index = asarray(group, xp, **on_device_of(means))
        members.append(
            _group_cost(
                xp.take(means, index, axis=0),
                (
                    precisions_chol
                    if form == "tied"
                    else xp.take(precisions_chol, index, axis=0)
                ),
                form,
                centre,
                whiten,
            )
        )
    stacked = np.concatenate([group for group, _ in groups])
    order = np.empty_like(stacked)
    order[stacked] = np.arange(n_components)
    return GroupedCost(
        tuple(members),
        tuple(asarray(group, xp, **on_device_of(means)) for group, _ in groups),
        asarray(order, xp, **on_device_of(means)),
    )


def _group_cost(means, precisions_chol, form, centre, whiten):
    """The :class:`GaussianCost` (or :class:`WhitenedCost`) of components
    about ``centre``."""
    xp = namespace_of(means)
    n_components, n_features = means.shape
    device = on_device_of(means)
    offsets = means - centre  # nu_k
    constant = _normalising_constant(precisions_chol, form, n_features)
    if whiten:
        width = n_components * n_features
        stacked = xp.concat(
            [
                xp.reshape(
                    xp.permute_dims(precisions_chol, (1, 0, 2)), (n_features, width)
                ),
                -xp.reshape(offsets[:, None, :] @ precisions_chol, (1, width)),
            ],
            axis=0,
        )
        eye = xp.eye(n_components, dtype=means.dtype, **device)
        runs = xp.broadcast_to(
            eye[:, None, :], (n_components, n_features, n_components)
        )
        halves = 0.5 * xp.reshape(runs, (width, n_components))
        return WhitenedCost(stacked, halves, constant, centre)
    tied_factor = None
    if form == "full":
        precisions = precisions_chol @ xp.matrix_transpose(precisions_chol)
        linear = (precisions @ offsets[:, :, None])[:, :, 0]
        flat, diagonal, _ = _upper_pairs(n_features)
        quadratic = xp.take(
            xp.reshape(precisions, (n_components, n_features * n_features)),
            asarray(flat, xp, **device),
            axis=1,
        ) * asarray(np.where(diagonal, 0.5, 1.0), xp, dtype=means.dtype, **device)
    elif form == "tied":
        linear = offsets @ (precisions_chol @ xp.matrix_transpose(precisions_chol))
        quadratic = None
        tied_factor = precisions_chol
    else:
        precisions = precisions_chol**2
        if form == "spherical":
            precisions = xp.broadcast_to(precisions[:, None], offsets.shape)
        linear = precisions * offsets
        quadratic = 0.5 * precisions
    constant = constant + 0.5 * xp.sum(offsets * linear, axis=1)
    columns = [constant[:, None], -linear]
    if quadratic is not None:
        columns.append(quadratic)
    coefficients = xp.matrix_transpose(xp.concat(columns, axis=1))
    return GaussianCost(coefficients, centre, form, tied_factor)


def centred_on_means(X, means):
    """The rows about each component's mean, ``x_i - mu_k``: shape
    (n_components, n_samples, n_features)."""
    return X[None, :, :] - means[:, None, :]


def own_mean_cost(centred, precisions_chol, form):
    """The costs ``C_ik = |(x_i - mu_k) L_k|^2 / 2 + d/2 log(2 pi) - log det L_k``
    of rows about each component's own mean (:func:`centred_on_means`): no
    digits lost however far the components lie from each other, in the
    ``K n d`` temporaries that a small problem affords.

    Returns
    -------
    cost : ndarray of shape (n_samples, n_components)
    """
    xp = namespace_of(centred)
    n_features = centred.shape[-1]
    cost = 0.5 * xp.matrix_transpose(_whitened_norms(centred, precisions_chol, form))
    return cost + _normalising_constant(precisions_chol, form, n_features)


def statistics_of_plan(X, plan, form):
    """The :class:`Statistics` of ``plan`` about each component's weighted
    mean, all components at once (:func:`sufficient_statistics` one at a
    time, for blocks of rows): exact, in ``K n d`` temporaries.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    plan : ndarray of shape (n_samples, n_components)
    form : {'full', 'tied', 'diag', 'spherical'}
    """
    xp = namespace_of(plan)
    mass = xp.sum(plan, axis=0)
    transposed = xp.matrix_transpose(plan)
    means = (transposed @ X) / _floored(mass)[:, None]
    centred = centred_on_means(X, means)
    weighted = centred * transposed[:, :, None]
    first = xp.sum(weighted, axis=1)
    if form in ("full", "tied"):
        second = xp.matrix_transpose(weighted) @ centred
        if form == "tied":
            second = xp.sum(second, axis=0)
    else:
        second = xp.sum(weighted * centred, axis=1)
    return Statistics(mass, first, second, means, form)


# --------------------------------------------------------------------------------
# M-step: weighted maximum likelihood from sufficient statistics


class Statistics(NamedTuple):
    """Sufficient statistics of a plan: sums over samples, about centres near
    the components.

    Each component's moments are taken about a centre ``c_k`` close to it (its
    group's centre in an E-step, see :func:`centre_groups`; its weighted mean
    in a block's :func:`sufficient_statistics`), so that no digits are lost to
    ``E[x x^T] - mu mu^T`` however far the data lie from the origin. The
    statistics of blocks of rows, or of chunks on different machines, merge
    into those of the whole data (:func:`merge_statistics`): they add where
    their centres agree, and are otherwise moved to common centres by the
    parallel-axis theorem (Chan, Golub & LeVeque, 1979).

    Attributes
    ----------
    mass : ndarray of shape (n_components,)
        ``m_k = sum_i P_ik``.
    first : ndarray of shape (n_components, n_features)
        ``sum_i P_ik (x_i - c_k)``.
    second : ndarray
        ``sum_i P_ik (x_i - c_k)(x_i - c_k)^T`` of shape (n_components,
        n_features, n_features) for ``full``; its sum over the components, of
        shape (n_features, n_features), for ``tied``; its diagonal,
        ``sum_i P_ik (x_i - c_k)^2`` of shape (n_components, n_features), for
        ``diag`` and ``spherical``.
    centres : ndarray of shape (n_components, n_features)
        ``c_k``.
    form : {'full', 'tied', 'diag', 'spherical'}
    """

    mass: np.ndarray
    first: np.ndarray
    second: np.ndarray
    centres: np.ndarray
    form: str

    def merge(self, other):
        """See :func:`merge_statistics`."""
        return merge_statistics(self, other)

    def scaled(self, factor):
        """The statistics of the plan times ``factor``."""
        return self._replace(
            mass=factor * self.mass,
            first=factor * self.first,
            second=factor * self.second,
        )


def _floored(mass):
    """Column masses plus ``10 eps``, so that an empty component keeps finite
    parameters (scikit-learn's floor on responsibility counts)."""
    return mass + 10 * finfo(mass).eps


def _outer(weighted, centred):
    return namespace_of(centred).matrix_transpose(weighted) @ centred


def _squares(weighted, centred):
    return namespace_of(centred).sum(weighted * centred, axis=0)


# A component's second moment from its centred rows and those times the plan.
_SCATTER = {"full": _outer, "tied": _outer, "diag": _squares, "spherical": _squares}


def sufficient_statistics(X, plan, sample_mass, form, centre=None):
    """Mass, first and second moments of a plan on one block of rows, each
    component's about its weighted mean in the block, or all about ``centre``.

    For ``tied`` the rows that the plan leaves out (a zero row: the initial
    plans of one point per component) count as scikit-learn counts them,
    ``sum_i a_i x_i x_i^T`` (about ``centre``, or the origin), so that the
    initial covariance is GaussianMixture's; pass the plan's row sums as
    ``sample_mass`` to leave them out.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    plan : ndarray of shape (n_samples, n_components)
    sample_mass : ndarray of shape (n_samples,)
        Row marginal ``a`` of the plan.
    form : {'full', 'tied', 'diag', 'spherical'}
    centre : ndarray of shape (n_features,), default=None
        A common centre of the moments (scikit-learn takes those of ``tied``,
        ``diag`` and ``spherical`` about the origin); None: each component's
        weighted mean.

    Returns
    -------
    statistics : Statistics
    """
    xp = namespace_of(plan)
    mass = xp.sum(plan, axis=0)
    if centre is not None and form != "full":
        # One centre: matrix products, as scikit-learn's about the origin.
        y = X - centre
        first = xp.matrix_transpose(plan) @ y
        if form == "tied":
            # sum_ik P_ik y_i y_i^T = Y^T diag(a) Y where the rows sum to a.
            second = _outer(y * sample_mass[:, None], y)
        else:
            second = xp.matrix_transpose(plan) @ (y * y)
        centres = xp.broadcast_to(centre, first.shape)
        return Statistics(mass, first, second, centres, form)
    centres = (xp.matrix_transpose(plan) @ X) / _floored(mass)[:, None]
    if centre is not None:
        centres = xp.broadcast_to(centre, centres.shape)
    scatter = _SCATTER[form]
    first, second = [], []
    for k in range(plan.shape[1]):
        centred = X - centres[k, :]
        weighted = centred * plan[:, k : k + 1]
        first.append(plan[:, k] @ centred)
        second.append(scatter(weighted, centred))
    if form == "tied":
        left_out = astype(row_sum(plan) == 0, X.dtype) * sample_mass
        second = _outer(X * left_out[:, None], X) + sum(second[1:], second[0])
    else:
        second = xp.stack(second)
    return Statistics(mass, xp.stack(first), second, centres, form)


def _recentred_full(second, first, mass, shift):
    xp = namespace_of(second)
    cross = first[:, :, None] * shift[:, None, :]
    return (
        second
        + cross
        + xp.matrix_transpose(cross)
        + mass[:, None, None] * (shift[:, :, None] * shift[:, None, :])
    )


def _recentred_tied(second, first, mass, shift):
    xp = namespace_of(second)
    cross = xp.matrix_transpose(first) @ shift
    return (
        second
        + cross
        + xp.matrix_transpose(cross)
        + xp.matrix_transpose(shift * mass[:, None]) @ shift
    )


def _recentred_diag(second, first, mass, shift):
    return second + 2 * first * shift + mass[:, None] * shift**2


# Second moments about ``c'`` from those about ``c`` (shift ``c - c'``).
_RECENTRED = {
    "full": _recentred_full,
    "tied": _recentred_tied,
    "diag": _recentred_diag,
    "spherical": _recentred_diag,
}


def _recentred(statistics, centres):
    """``statistics`` taken about other ``centres``: with the shift
    ``s_k = c_k - c'_k``, ``sum P (x - c') = first + m s`` and
    ``sum P (x - c')(x - c')^T = second + first s^T + s first^T + m s s^T``."""
    mass, first, second, old, form = statistics
    shift = old - centres
    second = _RECENTRED[form](second, first, mass, shift)
    return Statistics(mass, first + mass[:, None] * shift, second, centres, form)


def merge_statistics(left, right):
    """The statistics of two blocks of rows as those of their union.

    About the same centres, they add up; otherwise both sides are first taken
    about the weighted means of the union (an empty component: about the
    left side's centre), by the parallel-axis theorem.
    """
    xp = namespace_of(left.mass)
    if left.centres is not right.centres and not bool(
        xp.all(left.centres == right.centres)
    ):
        mass = left.mass + right.mass
        raw = (
            left.first
            + left.mass[:, None] * left.centres
            + right.first
            + right.mass[:, None] * right.centres
        )
        centres = xp.where(
            (mass > 0)[:, None], raw / _floored(mass)[:, None], left.centres
        )
        left, right = _recentred(left, centres), _recentred(right, centres)
    return Statistics(
        left.mass + right.mass,
        left.first + right.first,
        left.second + right.second,
        left.centres,
        left.form,
    )


def gaussian_mle(statistics, reg_covar, form):
    r"""M-step: the Gaussian parameters that minimise ``<C(phi), P>``.

    .. math::

        m_k = \sum_i P_{ik}, \quad
        \mu_k = \frac{1}{m_k} \sum_i P_{ik} x_i, \quad
        \Sigma_k = \frac{1}{m_k} \sum_i P_{ik} (x_i - \mu_k)(x_i - \mu_k)^\top
                    + \lambda I,

    with the covariance pooled over components (``tied``), restricted to its
    diagonal (``diag``) or to a multiple of the identity (``spherical``).
    From moments about ``c_k``, with ``o_k = mu_k - c_k``, the scatter about the
    mean is the scatter about ``c_k`` minus ``m_k o_k o_k^T``.

    Parameters
    ----------
    statistics : Statistics
    reg_covar : float
        ``lambda``, added to the diagonal of every covariance.
    form : {'full', 'tied', 'diag', 'spherical'}

    Returns
    -------
    mass : ndarray of shape (n_components,)
        Column sums ``m_k`` of the plan plus ``10 eps``, so that an empty component
        keeps finite parameters (scikit-learn's floor on responsibility counts).
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray
        Shape (n_components, n_features, n_features) for ``full``,
        (n_features, n_features) for ``tied``, (n_components, n_features) for
        ``diag``, (n_components,) for ``spherical``.
    """
    xp = namespace_of(statistics.mass)
    mass = _floored(statistics.mass)
    offsets = statistics.first / mass[:, None]  # o_k = mu_k - c_k
    means = statistics.centres + offsets
    second = statistics.second
    if form == "full":
        covariances = second / mass[:, None, None] - (
            offsets[:, :, None] * offsets[:, None, :]
        )
        return mass, means, add_to_diagonal(covariances, reg_covar)
    if form == "tied":
        covariances = (second - (mass * offsets.T) @ offsets) / xp.sum(mass)
        return mass, means, add_to_diagonal(covariances, reg_covar)
    covariances = second / mass[:, None] - offsets**2 + reg_covar
    if form == "spherical":
        covariances = xp.mean(covariances, axis=1)
    return mass, means, covariances


def digit_checked_mle(statistics, reg_covar, form):
    """The M-step of ``statistics`` (mass, means, covariances and the
    precisions' Cholesky factors, see :func:`gaussian_mle`) where it loses no
    more than about ``eps * CENTRE_RADIUS**2`` to cancellation; None where
    it may lose more.

    The statistics are about centres chosen near the components before the
    M-step; a component that shrinks (collapsing onto a few rows) can find its
    new mean many of its *new* standard deviations from its centre, where
    ``sum P (x - c)^2 / m - (mu - c)^2`` keeps few digits, and the order of the
    rows then decides them. None where some new mean lies further than
    :data:`CENTRE_RADIUS` from its centre in its new metric, or where the
    covariances are not positive definite (which cancellation can cause): the
    E-step then sums the statistics again, each component's about its own
    mean (see :func:`sklearn_otmix._step.e_step`). The estimate returned
    serves the M-step, which would otherwise form it again.
    """
    mass, means, covariances = gaussian_mle(statistics, reg_covar, form)
    try:
        precisions_chol = precision_cholesky(covariances, form)
    except ValueError:
        return None
    offsets = means - statistics.centres
    distances = _whitened_norms(offsets[:, None, :], precisions_chol, form)
    xp = namespace_of(distances)
    if not bool(xp.all(distances <= CENTRE_RADIUS**2)):
        return None
    return mass, means, covariances, precisions_chol


# --------------------------------------------------------------------------------
# Precision Cholesky factors


def _not_positive_definite(dtype):
    message = ILL_DEFINED_COVARIANCE
    if str(dtype).endswith("float32"):
        message += FLOAT32_ADVICE
    message += (
        " (The covariance of some component is not positive definite: with "
        "reg_covar=0 a component that holds fewer points than features has "
        "none.)"
    )
    return ValueError(message)


def precision_cholesky(covariances, form):
    """Upper-triangular ``L_k`` with ``L_k L_k^T = Sigma_k^{-1}``.

    Parameters
    ----------
    covariances : ndarray
        Shape as returned by :func:`gaussian_mle`.
    form : {'full', 'tied', 'diag', 'spherical'}

    Returns
    -------
    precisions_chol : ndarray of the same shape as ``covariances``

    Raises
    ------
    ValueError
        When a covariance is not positive definite, with what to do about it.
    """
    xp = namespace_of(covariances)
    if form in ("diag", "spherical"):
        if bool(xp.any(covariances <= 0.0)):
            raise _not_positive_definite(covariances.dtype)
        return 1.0 / xp.sqrt(covariances)
    lower = cholesky(covariances)
    if lower is None:
        raise _not_positive_definite(covariances.dtype)
    # Sigma = C C^T gives Sigma^{-1} = C^{-T} C^{-1}: the factor is C^{-T}.
    return inverse_transposed(lower)


def precision_cholesky_from_precisions(precisions, form):
    """Upper-triangular ``L`` with ``L L^T = Lambda`` for user-given precisions.

    For ``J`` the exchange matrix, ``J Lambda J = (J L J)(J L J)^T`` with ``J L J``
    lower triangular: the factor is a flipped ordinary Cholesky factor.
    """
    xp = namespace_of(precisions)
    if form in ("diag", "spherical"):
        return xp.sqrt(precisions)
    flipped = xp.flip(precisions, axis=(-2, -1))
    return xp.flip(xp.linalg.cholesky(flipped), axis=(-2, -1))


def precisions_from_cholesky(precisions_chol, form):
    """``Lambda_k = L_k L_k^T`` (``L_k**2`` for ``diag``/``spherical``)."""
    if form in ("diag", "spherical"):
        return precisions_chol**2
    xp = namespace_of(precisions_chol)
    return precisions_chol @ xp.matrix_transpose(precisions_chol)


def covariances_from_precisions(precisions, form):
    """``Sigma_k = Lambda_k^{-1}``."""
    if form in ("diag", "spherical"):
        return 1.0 / precisions
    return namespace_of(precisions).linalg.inv(precisions)


def draw_samples(weights, means, covariances, form, n_samples, rng):
    """Samples of the mixture, grouped by component, and their components.

    Parameters
    ----------
    weights, means, covariances : numpy arrays
        Host copies of the mixture's parameters.
    form : {'full', 'tied', 'diag', 'spherical'}
    n_samples : int
    rng : RandomState

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
    labels : ndarray of shape (n_samples,)
    """
    n_components, n_features = means.shape
    counts = rng.multinomial(n_samples, weights)
    if form in ("full", "tied"):
        if form == "tied":
            covariances = [covariances] * n_components
        blocks = [
            rng.multivariate_normal(mean, covariance, int(count))
            for mean, covariance, count in zip(means, covariances, counts, strict=True)
        ]
    else:
        blocks = [
            mean + rng.standard_normal(size=(count, n_features)) * np.sqrt(variance)
            for mean, variance, count in zip(means, covariances, counts, strict=True)
        ]
    labels = np.repeat(np.arange(n_components), counts)
    return np.vstack(blocks).astype(np.float64, copy=False), labels


def n_parameters(n_components, n_features, form):
    """Number of free parameters of the mixture (for BIC and AIC)."""
    covariance_parameters = {
        "full": n_components * n_features * (n_features + 1) // 2,
        "tied": n_features * (n_features + 1) // 2,
        "diag": n_components * n_features,
        "spherical": n_components,
    }[form]
    return covariance_parameters + n_components * n_features + n_components - 1


# --------------------------------------------------------------------------------
# User-given initial parameters


def _check_shape(array, shape, name, gaussian_mixture_name):
    """``name``'s shape, in GaussianMixture's words (where it names the
    parameter ``gaussian_mixture_name``), then ours."""
    if array.shape != shape:
        raise ValueError(
            f"{wrong_shape(gaussian_mixture_name, shape, array.shape)}: pass "
            f"{name} of shape {shape}."
        )


def check_simplex(weights, n_components, name):
    """Validate a vector of ``n_components`` non-negative weights summing to one."""
    weights = check_array(
        weights, dtype=[np.float64, np.float32], ensure_2d=False, input_name=name
    )
    # GaussianMixture calls its weights_init 'weights'.
    short = "weights" if name == "weights_init" else name
    _check_shape(weights, (n_components,), name, short)
    if np.any(weights < 0.0) or np.any(weights > 1.0):
        raise ValueError(
            f"{weights_out_of_range(short, weights.min(), weights.max())}: "
            f"{name} are shares of the mass."
        )
    atol = 1e-6 if weights.dtype == np.float32 else 1e-8
    if abs(1.0 - float(np.sum(weights))) > atol:
        raise ValueError(
            f"{weights_not_normalized(short, float(np.sum(weights)))}: {name} "
            f"should sum to 1 (got {float(np.sum(weights)):.10f}); divide them "
            "by their sum."
        )
    return weights


def check_means(means, n_components, n_features):
    """Validate user-given means of shape (n_components, n_features)."""
    means = check_array(
        means, dtype=[np.float64, np.float32], ensure_2d=False, input_name="means_init"
    )
    _check_shape(means, (n_components, n_features), "means_init", "means")
    return means


def check_precisions(precisions, form, n_components, n_features):
    """Validate user-given precisions: shape, symmetry and positive definiteness."""
    precisions = check_array(
        precisions,
        dtype=[np.float64, np.float32],
        ensure_2d=False,
        allow_nd=form == "full",
        input_name="precisions_init",
    )
    shape = {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[form]
    _check_shape(precisions, shape, "precisions_init", f"{form} precision")
    if form in ("diag", "spherical"):
        if np.any(precisions <= 0.0):
            raise ValueError(
                f"{precision_not_positive(form)}: precisions_init "
                "holds inverse variances, all positive."
            )
        return precisions
    symmetric = np.allclose(precisions, np.swapaxes(precisions, -1, -2))
    if not symmetric or np.any(np.linalg.eigvalsh(precisions) <= 0.0):
        raise ValueError(
            f"{precision_not_definite(form)}: precisions_init holds "
            "inverse covariance matrices."
        )
    return precisions
