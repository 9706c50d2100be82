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
Each covariance type (``full``, ``tied``, ``diag``, ``spherical``) has its own
function for both, dispatched by dictionaries. Everything here is written once
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
    finfo,
    moment_rows,
    namespace_of,
    on_device_of,
)
from ._data import whitened
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


def log_det_cholesky(precisions_chol, covariance_type, n_features):
    """Log-determinant of each component's precision Cholesky factor.

    Parameters
    ----------
    precisions_chol : ndarray
        Shape (n_components, n_features, n_features) for ``full``,
        (n_features, n_features) for ``tied``, (n_components, n_features) for
        ``diag``, (n_components,) for ``spherical``.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    n_features : int

    Returns
    -------
    log_det : ndarray of shape (n_components,) or scalar (``tied``)
        ``log det L_k = -1/2 log det Sigma_k``.
    """
    xp = namespace_of(precisions_chol)
    if covariance_type in ("full", "tied"):
        return xp.sum(xp.log(xp.linalg.diagonal(precisions_chol)), axis=-1)
    if covariance_type == "diag":
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
    r"""The costs of a mixture as one matrix product with the data's moments.

    A Gaussian log-density is linear in the first and second moments of its
    argument. With ``y = x - c`` for a centre ``c`` and ``nu_k = mu_k - c``,

    .. math::

        C_{ik} = \tfrac12 y_i^\top \Lambda_k y_i - y_i^\top \Lambda_k \nu_k
            + \tfrac12 \nu_k^\top \Lambda_k \nu_k
            + \tfrac{d}{2}\log(2\pi) - \log\det L_k,

    so that ``C = T^T W`` for the moments ``T = [1; y; y_a y_b (a <= b)]`` of
    each row (:meth:`moments`, shape (m, n_rows)) and weights ``W`` of shape
    (m, n_components). The M-step's statistics are the same moments against the
    plan, ``T P`` (:meth:`statistics`): formed once per block of rows, they serve
    both, and every product is a matrix product of the machine's BLAS.

    ``diag`` and ``spherical`` take the squares ``y_a^2`` as second moments;
    ``tied`` none, its quadratic term ``1/2 |L^T y|^2`` being the same for all
    components. ``full`` is centred at the mixture's mean, so that the expanded
    form loses no digits to an offset of the data; the other types at the
    origin, where scikit-learn takes their statistics.

    The expanded form rounds to about ``eps |y|^2 |Lambda_k|`` where the direct
    one, ``|(x - mu_k) L_k|^2``, rounds to ``eps |(x - mu_k) L_k|^2``, and its
    statistics lose ``|mu_k - c|^2 / sigma^2`` to cancellation in the M-step.
    In float64 that is a few digits of sixteen; in float32 it can leave a
    near-singular component's covariance indefinite, so ``full`` and ``tied``
    compute in float64 from float32 data (``dtype``), and the M-step returns
    parameters in the data's dtype.

    Attributes
    ----------
    weights : ndarray of shape (m, n_components)
    centre : ndarray of shape (n_features,)
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    tied_factor : ndarray of shape (n_features, n_features) or None
        ``L`` for ``tied``.

    All four arrays are of the dtype the E-step computes in (see above).
    """

    weights: np.ndarray
    centre: np.ndarray
    covariance_type: str
    tied_factor: np.ndarray | None = None

    def working(self, array):
        """``array`` in the dtype that the E-step computes in."""
        return astype(array, self.weights.dtype)

    def moments(self, x):
        """The moments ``T`` of a block of rows: shape (m, n_rows)."""
        x = self.working(x)
        return moment_rows(x, self.centre, _PRODUCTS[self.covariance_type])

    def cost_of(self, x):
        """The costs of a block of rows: shape (n_rows, n_components)."""
        return self.cost(self.moments(x))

    def cost(self, moments):
        """``C = T^T W`` from the moments of a block: (n_rows, n_components).

        Computed as ``(W^T T)^T``: the product with the long rows of ``T`` on the
        right runs faster, and the plan's rows are read as well either way.
        """
        xp = namespace_of(moments)
        cost = xp.matrix_transpose(xp.matrix_transpose(self.weights) @ moments)
        if self.tied_factor is not None:
            y = self.tied_factor.T @ moments[1:, :]
            y *= y
            cost += 0.5 * xp.sum(y, axis=0)[:, None]
        return cost

    def moment_sums(self, moments, plan, sample_mass):
        """The sums ``T P`` that make the plan's :class:`Statistics`: they add up
        over blocks of rows, and :meth:`statistics` reads them once."""
        sums = moments @ self.working(plan)
        if self.tied_factor is None:
            return MomentSums(sums)
        # sum_ik P_ik x_i x_i^T = X^T diag(a) X, as P 1 = a (see
        # _second_moments_tied).
        y = moments[1:, :]
        scatter = (y * self.working(sample_mass)) @ namespace_of(y).matrix_transpose(y)
        return MomentSums(sums, scatter)

    def statistics(self, moment_sums):
        """The :class:`Statistics` of a plan from its :class:`MomentSums`."""
        xp = namespace_of(moment_sums.sums)
        sums = moment_sums.sums
        n_features = self.centre.shape[0]
        mass = sums[0, :]
        first = xp.matrix_transpose(sums[1 : 1 + n_features, :])
        if self.covariance_type == "tied":
            return Statistics(mass, first, moment_sums.scatter)
        second = xp.matrix_transpose(sums[1 + n_features :, :])
        if self.covariance_type != "full":
            return Statistics(mass, first, second)
        position = _upper_pairs(n_features)[2]
        second = xp.take(second, asarray(position, xp, **on_device_of(second)), axis=1)
        second = xp.reshape(second, (mass.shape[0], n_features, n_features))
        return Statistics(
            mass, first, second, xp.broadcast_to(self.centre, first.shape)
        )


class MomentSums(NamedTuple):
    """``T P`` summed over blocks (shape (m, n_components)), and for ``tied`` the
    scatter ``X^T diag(a) X``: a tuple of sums, as the data layer adds them."""

    sums: np.ndarray
    scatter: np.ndarray | float = 0.0


class WhitenedCost(NamedTuple):
    r"""The costs of ``full`` components when the data have many features next
    to the number of components (``n_features > 6 n_components``, see
    :func:`sklearn_otmix._data.whitened`), where the
    ``d (d + 1) / 2`` moments of a row outnumber the ``K d`` entries of its
    whitened residuals ``(x - mu_k) L_k``: those, all components in one matrix
    product ``[x, 1] @ S``, squared and summed in runs of ``d`` columns (a product
    with ``halves``, a 0/1 matrix times 1/2). The statistics are those of
    :func:`sufficient_statistics`, centred at each block's own means. Same
    interface as :class:`GaussianCost`.
    """

    stacked: np.ndarray
    halves: np.ndarray
    constant: np.ndarray

    def working(self, array):
        return array

    def moments(self, x):
        return x

    def cost(self, x):
        xp = namespace_of(x)
        ones = xp.ones((x.shape[0], 1), dtype=x.dtype, **on_device_of(x))
        y = xp.concat([x, ones], axis=1) @ self.stacked
        y *= y
        cost = y @ self.halves
        cost += self.constant
        return cost

    def cost_of(self, x):
        return self.cost(x)

    def moment_sums(self, x, plan, sample_mass):
        return sufficient_statistics(x, plan, sample_mass, "full")

    def statistics(self, statistics):
        return statistics


def _normalising_constant(precisions_chol, covariance_type, n_features):
    """``d/2 log(2 pi) - log det L_k``: each component's cost at its mean."""
    log_det = log_det_cholesky(precisions_chol, covariance_type, n_features)
    return 0.5 * n_features * math.log(2 * math.pi) - log_det


def gaussian_cost_of(means, precisions_chol, covariance_type, centre=None):
    """The :class:`GaussianCost` of a mixture's components.

    Parameters
    ----------
    means : ndarray of shape (n_components, n_features)
    precisions_chol : ndarray
        See :func:`log_det_cholesky` for the shape of each covariance type.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    centre : ndarray of shape (n_features,), default=None
        Centre of the moments of ``full`` (the mean of the means by default);
        the other types are centred at the origin.

    Returns
    -------
    cost : GaussianCost
    """
    xp = namespace_of(means)
    n_components, n_features = means.shape
    device = on_device_of(means)
    if covariance_type == "full" and whitened(n_features, n_components):
        width = n_components * n_features
        stacked = xp.concat(
            [
                xp.reshape(
                    xp.permute_dims(precisions_chol, (1, 0, 2)), (n_features, width)
                ),
                -xp.reshape(means[:, None, :] @ precisions_chol, (1, width)),
            ],
            axis=0,
        )
        eye = xp.eye(n_components, dtype=means.dtype, **device)
        runs = xp.broadcast_to(
            eye[:, None, :], (n_components, n_features, n_components)
        )
        halves = 0.5 * xp.reshape(runs, (width, n_components))
        constant = _normalising_constant(precisions_chol, covariance_type, n_features)
        return WhitenedCost(stacked, halves, constant)
    if covariance_type in ("full", "tied"):
        means = astype(means, xp.float64)
        precisions_chol = astype(precisions_chol, xp.float64)
        centre = None if centre is None else astype(centre, xp.float64)
    constant = _normalising_constant(precisions_chol, covariance_type, n_features)
    if covariance_type != "full":
        centre = xp.zeros(n_features, dtype=means.dtype, **device)
    elif centre is None:
        centre = xp.mean(means, axis=0)
    offsets = means - centre  # nu_k
    tied_factor = None
    if covariance_type == "full":
        precisions = precisions_chol @ xp.matrix_transpose(precisions_chol)
        linear = (precisions @ offsets[:, :, None])[:, :, 0]
        flat, diagonal, _ = _upper_pairs(n_features)
        quadratic = xp.take(
            xp.reshape(precisions, (n_components, n_features * n_features)),
            asarray(flat, xp, **device),
            axis=1,
        ) * asarray(np.where(diagonal, 0.5, 1.0), xp, dtype=means.dtype, **device)
    elif covariance_type == "tied":
        linear = offsets @ (precisions_chol @ xp.matrix_transpose(precisions_chol))
        quadratic = None
        tied_factor = precisions_chol
    else:
        precisions = precisions_chol**2
        if covariance_type == "spherical":
            precisions = xp.broadcast_to(precisions[:, None], offsets.shape)
        linear = precisions * offsets
        quadratic = 0.5 * precisions
    constant = constant + 0.5 * xp.sum(offsets * linear, axis=1)
    columns = [constant[:, None], -linear]
    if quadratic is not None:
        columns.append(quadratic)
    weights = xp.matrix_transpose(xp.concat(columns, axis=1))
    return GaussianCost(weights, centre, covariance_type, tied_factor)


def gaussian_cost(X, means, precisions_chol, covariance_type):
    """Transport cost ``C_ik = -log N(x_i; mu_k, Sigma_k)``.

    Its temporaries are the moments of ``X`` (see :class:`GaussianCost`): callers
    pass blocks of rows (see :mod:`sklearn_otmix._data`).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    means : ndarray of shape (n_components, n_features)
    precisions_chol : ndarray
        See :func:`log_det_cholesky` for the shape of each covariance type.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}

    Returns
    -------
    cost : ndarray of shape (n_samples, n_components)
    """
    return gaussian_cost_of(means, precisions_chol, covariance_type).cost_of(X)


# --------------------------------------------------------------------------------
# M-step: weighted maximum likelihood from sufficient statistics


class Statistics(NamedTuple):
    """Sufficient statistics of a plan: sums over samples, about centres.

    The statistics of blocks of rows, or of chunks on different machines, merge
    into those of the whole data (:func:`merge_statistics`). For ``full`` the
    second moments are taken about each block's own weighted means, so that no
    digits are lost to ``E[x x^T] - mu mu^T`` and blocks merge by the
    parallel-axis theorem (Chan, Golub & LeVeque, 1979). The other types take
    theirs about the origin, as scikit-learn does, so that both round alike (this
    matters from initial plans that hold one point per component, whose
    covariance is then just ``reg_covar``).

    Attributes
    ----------
    mass : ndarray of shape (n_components,)
        ``m_k = sum_i P_ik``.
    first : ndarray of shape (n_components, n_features)
        ``sum_i P_ik (x_i - c_k)``.
    second : ndarray
        ``sum_i P_ik (x_i - c_k)(x_i - c_k)^T`` of shape (n_components,
        n_features, n_features) for ``full``; ``sum_i a_i x_i x_i^T`` of shape
        (n_features, n_features) for ``tied``; ``sum_i P_ik x_i^2`` of shape
        (n_components, n_features) for ``diag`` and ``spherical``.
    centres : ndarray of shape (n_components, n_features) or None
        ``c_k`` for ``full``; None (the origin) for the other types.
    """

    mass: np.ndarray
    first: np.ndarray
    second: np.ndarray
    centres: np.ndarray | None = None

    def merge(self, other):
        """See :func:`merge_statistics`."""
        return merge_statistics(self, other)

    def scaled(self, factor):
        """The statistics of the plan times ``factor``."""
        return Statistics(
            factor * self.mass, factor * self.first, factor * self.second, self.centres
        )


def _floored(mass):
    """Column masses plus ``10 eps``, so that an empty component keeps finite
    parameters (scikit-learn's floor on responsibility counts)."""
    return mass + 10 * finfo(mass).eps


def _second_moments_full(x, plan, sample_mass, centres):
    xp = namespace_of(x)
    scatters = []
    for k in range(plan.shape[1]):
        centred = x - centres[k, :]
        scatters.append((centred * plan[:, k : k + 1]).T @ centred)
    return xp.stack(scatters)


def _second_moments_tied(x, plan, sample_mass, centres):
    # sum_ik P_ik x_i x_i^T = X^T diag(a) X, as P 1 = a. scikit-learn uses this
    # form for its initial one-point plans too (whose rows do not sum to a).
    return (x * sample_mass[:, None]).T @ x


def _second_moments_diag(x, plan, sample_mass, centres):
    return plan.T @ (x * x)


_SECOND_MOMENTS = {
    "full": _second_moments_full,
    "tied": _second_moments_tied,
    "diag": _second_moments_diag,
    "spherical": _second_moments_diag,
}


def sufficient_statistics(X, plan, sample_mass, covariance_type):
    """Mass, first and second moments of a plan on one block of rows.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    plan : ndarray of shape (n_samples, n_components)
    sample_mass : ndarray of shape (n_samples,)
        Row marginal ``a`` of the plan.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}

    Returns
    -------
    statistics : Statistics
    """
    mass = namespace_of(plan).sum(plan, axis=0)
    first = plan.T @ X
    centres = None
    if covariance_type == "full":
        centres = first / _floored(mass)[:, None]
        first = first - mass[:, None] * centres
    second = _SECOND_MOMENTS[covariance_type](X, plan, sample_mass, centres)
    return Statistics(mass, first, second, centres)


def _recentred(statistics, centres):
    """``full`` statistics taken about other ``centres``."""
    xp = namespace_of(centres)
    mass, first, second, old = statistics
    shift = old - centres  # c_k - c'_k
    cross = first[:, :, None] * shift[:, None, :]
    second = (
        second
        + cross
        + xp.matrix_transpose(cross)
        + mass[:, None, None] * (shift[:, :, None] * shift[:, None, :])
    )
    return first + mass[:, None] * shift, second


def merge_statistics(left, right):
    """The statistics of two blocks of rows as those of their union.

    ``full`` statistics are taken about the weighted means of the union, both
    sides recentred by the parallel-axis theorem; the others add up.
    """
    mass = left.mass + right.mass
    if left.centres is None:
        return Statistics(mass, left.first + right.first, left.second + right.second)
    raw = (
        left.first
        + left.mass[:, None] * left.centres
        + right.first
        + right.mass[:, None] * right.centres
    )
    centres = raw / _floored(mass)[:, None]
    first_left, second_left = _recentred(left, centres)
    first_right, second_right = _recentred(right, centres)
    return Statistics(
        mass, first_left + first_right, second_left + second_right, centres
    )


def gaussian_mle(statistics, reg_covar, covariance_type):
    r"""M-step: the Gaussian parameters that minimise ``<C(phi), P>``.

    .. math::

        m_k = \sum_i P_{ik}, \quad
        \mu_k = \frac{1}{m_k} \sum_i P_{ik} x_i, \quad
        \Sigma_k = \frac{1}{m_k} \sum_i P_{ik} (x_i - \mu_k)(x_i - \mu_k)^\top
                    + \lambda I,

    with the covariance pooled over components (``tied``), restricted to its
    diagonal (``diag``) or to a multiple of the identity (``spherical``).

    Parameters
    ----------
    statistics : Statistics
    reg_covar : float
        ``lambda``, added to the diagonal of every covariance.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}

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
    offsets = statistics.first / mass[:, None]  # mu_k - c_k
    second = statistics.second
    if covariance_type == "full":
        means = statistics.centres + offsets
        covariances = second / mass[:, None, None] - (
            offsets[:, :, None] * offsets[:, None, :]
        )
        return mass, means, add_to_diagonal(covariances, reg_covar)
    means = offsets
    if covariance_type == "tied":
        covariances = (second - (mass * means.T) @ means) / xp.sum(mass)
        return mass, means, add_to_diagonal(covariances, reg_covar)
    covariances = second / mass[:, None] - means**2 + reg_covar
    if covariance_type == "spherical":
        covariances = xp.mean(covariances, axis=1)
    return mass, means, covariances


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


def precision_cholesky(covariances, covariance_type):
    """Upper-triangular ``L_k`` with ``L_k L_k^T = Sigma_k^{-1}``.

    Parameters
    ----------
    covariances : ndarray
        Shape as returned by :func:`gaussian_mle`.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}

    Returns
    -------
    precisions_chol : ndarray of the same shape as ``covariances``

    Raises
    ------
    ValueError
        When a covariance is not positive definite, with what to do about it.
    """
    xp = namespace_of(covariances)
    if covariance_type in ("diag", "spherical"):
        if bool(xp.any(covariances <= 0.0)):
            raise _not_positive_definite(covariances.dtype)
        return 1.0 / xp.sqrt(covariances)
    lower = cholesky(covariances)
    if lower is None:
        raise _not_positive_definite(covariances.dtype)
    # Sigma = C C^T gives Sigma^{-1} = C^{-T} C^{-1}: the factor is C^{-T}, upper
    # triangular (one batched solve, an identity per component as not every
    # library broadcasts it; triu clears the round-off below the diagonal).
    identity = xp.zeros_like(lower) + xp.eye(
        lower.shape[-1], dtype=lower.dtype, **on_device_of(lower)
    )
    return xp.triu(xp.matrix_transpose(xp.linalg.solve(lower, identity)))


def precision_cholesky_from_precisions(precisions, covariance_type):
    """Upper-triangular ``L`` with ``L L^T = Lambda`` for user-given precisions.

    For ``J`` the exchange matrix, ``J Lambda J = (J L J)(J L J)^T`` with ``J L J``
    lower triangular: the factor is a flipped ordinary Cholesky factor.
    """
    xp = namespace_of(precisions)
    if covariance_type in ("diag", "spherical"):
        return xp.sqrt(precisions)
    flipped = xp.flip(precisions, axis=(-2, -1))
    return xp.flip(xp.linalg.cholesky(flipped), axis=(-2, -1))


def precisions_from_cholesky(precisions_chol, covariance_type):
    """``Lambda_k = L_k L_k^T`` (``L_k**2`` for ``diag``/``spherical``)."""
    if covariance_type in ("diag", "spherical"):
        return precisions_chol**2
    xp = namespace_of(precisions_chol)
    return precisions_chol @ xp.matrix_transpose(precisions_chol)


def covariances_from_precisions(precisions, covariance_type):
    """``Sigma_k = Lambda_k^{-1}``."""
    if covariance_type in ("diag", "spherical"):
        return 1.0 / precisions
    return namespace_of(precisions).linalg.inv(precisions)


def draw_samples(weights, means, covariances, covariance_type, n_samples, rng):
    """Samples of the mixture, grouped by component, and their components.

    Parameters
    ----------
    weights, means, covariances : numpy arrays
        Host copies of the mixture's parameters.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    n_samples : int
    rng : RandomState

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
    labels : ndarray of shape (n_samples,)
    """
    n_components, n_features = means.shape
    counts = rng.multinomial(n_samples, weights)
    if covariance_type in ("full", "tied"):
        if covariance_type == "tied":
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


def n_parameters(n_components, n_features, covariance_type):
    """Number of free parameters of the mixture (for BIC and AIC)."""
    covariance_parameters = {
        "full": n_components * n_features * (n_features + 1) // 2,
        "tied": n_features * (n_features + 1) // 2,
        "diag": n_components * n_features,
        "spherical": n_components,
    }[covariance_type]
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


def check_precisions(precisions, covariance_type, n_components, n_features):
    """Validate user-given precisions: shape, symmetry and positive definiteness."""
    precisions = check_array(
        precisions,
        dtype=[np.float64, np.float32],
        ensure_2d=False,
        allow_nd=covariance_type == "full",
        input_name="precisions_init",
    )
    shape = {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]
    _check_shape(precisions, shape, "precisions_init", f"{covariance_type} precision")
    if covariance_type in ("diag", "spherical"):
        if np.any(precisions <= 0.0):
            raise ValueError(
                f"{precision_not_positive(covariance_type)}: precisions_init "
                "holds inverse variances, all positive."
            )
        return precisions
    symmetric = np.allclose(precisions, np.swapaxes(precisions, -1, -2))
    if not symmetric or np.any(np.linalg.eigvalsh(precisions) <= 0.0):
        raise ValueError(
            f"{precision_not_definite(covariance_type)}: precisions_init holds "
            "inverse covariance matrices."
        )
    return precisions
