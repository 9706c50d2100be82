r"""The Gaussian family: transport costs (negative log-densities) and the M-step.

A component ``k`` is a Gaussian ``N(mu_k, Sigma_k)`` stored through the Cholesky
factor of its precision, ``L_k L_k^T = Sigma_k^{-1}`` (``L_k`` upper triangular, as
in scikit-learn). Its transport cost is

.. math::

    C_{ik} = -\log \mathcal{N}(x_i; \mu_k, \Sigma_k)
           = \tfrac12 \lVert (x_i - \mu_k) L_k \rVert^2
             + \tfrac{d}{2}\log(2\pi) - \log\det L_k,

and the M-step ``phi <- argmin_phi <C(phi), P>`` is the Gaussian maximum-likelihood
estimate with weights ``P``. Each covariance type (``full``, ``tied``, ``diag``,
``spherical``) has its own function for both, dispatched by dictionaries; all
work through the data in cache-sized blocks of rows.
"""

import math
from typing import NamedTuple

import numpy as np
from sklearn.utils import check_array

from ._array_api import block_bytes, namespace_of, on_device_of

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


# --------------------------------------------------------------------------------
# Work in blocks of rows

# Rows per block: about a thousand keeps a block's temporaries in the processor's
# cache while the matrix products still run at full speed; fewer when rows are
# wide, so that a block's temporaries stay under _BLOCK_BYTES.
_BLOCK_ROWS = 1024
_BLOCK_BYTES = 2**23


def row_blocks(n_samples, row_bytes, max_rows=_BLOCK_ROWS, *, budget=_BLOCK_BYTES):
    """Slices of at most ``max_rows`` consecutive rows, whose temporaries take
    ``row_bytes`` each, ``budget`` bytes at most per block."""
    size = max(1, min(max_rows, budget // max(1, row_bytes)))
    return [slice(start, start + size) for start in range(0, n_samples, size)]


def _block_sums(n_components, n_features, dtype):
    """(n_components * n_features, n_components) 0/1 matrix summing blocks of columns.

    ``Y @ _block_sums(...)`` adds each run of ``n_features`` columns of ``Y``: a
    matrix product, much faster than a reduction over a short trailing axis.
    """
    return np.repeat(np.eye(n_components, dtype=dtype), n_features, axis=0)


# --------------------------------------------------------------------------------
# Costs


def _cost_full(X, means, precisions_chol, constant, out):
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    # One matrix product for all components: column block k of X @ stacked is X L_k.
    stacked = precisions_chol.transpose(1, 0, 2).reshape(
        n_features, n_components * n_features
    )
    offset = np.einsum("kd,kde->ke", means, precisions_chol).reshape(-1)
    halves = 0.5 * _block_sums(n_components, n_features, X.dtype)
    for rows in row_blocks(n_samples, stacked.shape[1] * X.itemsize):
        y = X[rows] @ stacked
        y -= offset
        np.square(y, out=y)
        np.matmul(y, halves, out=out[rows])
        out[rows] += constant


def _cost_tied(X, means, precisions_chol, constant, out):
    n_samples, n_features = X.shape
    n_components = means.shape[0]
    offset = means @ precisions_chol
    halves = 0.5 * _block_sums(n_components, n_features, X.dtype)
    for rows in row_blocks(n_samples, n_components * n_features * X.itemsize):
        y = (X[rows] @ precisions_chol)[:, np.newaxis, :] - offset
        np.square(y, out=y)
        np.matmul(y.reshape(len(y), -1), halves, out=out[rows])
        out[rows] += constant


def _cost_diag(X, means, precisions_chol, constant, out):
    # 1/2 sum_d p_kd (x_d - mu_kd)^2, expanded into two matrix products.
    precisions = precisions_chol**2
    quadratic = 0.5 * precisions.T
    linear = -(means * precisions).T
    constant = constant + 0.5 * np.sum(means**2 * precisions, axis=1)
    for rows in row_blocks(X.shape[0], X.shape[1] * X.itemsize):
        x = X[rows]
        np.matmul(x * x, quadratic, out=out[rows])
        out[rows] += x @ linear + constant


def _cost_spherical(X, means, precisions_chol, constant, out):
    precisions = precisions_chol**2
    linear = -(means * precisions[:, np.newaxis]).T
    constant = constant + 0.5 * np.sum(means**2, axis=1) * precisions
    for rows in row_blocks(X.shape[0], X.shape[1] * X.itemsize):
        x = X[rows]
        np.matmul(x, linear, out=out[rows])
        squared_norms = np.einsum("nd,nd->n", x, x)
        out[rows] += 0.5 * squared_norms[:, np.newaxis] * precisions + constant


_COSTS = {
    "full": _cost_full,
    "tied": _cost_tied,
    "diag": _cost_diag,
    "spherical": _cost_spherical,
}


# The same costs in any array namespace (torch, CuPy, ...), as whole-array
# expressions per block of rows: no ``out=`` or ``einsum`` in the array API.
# Each returns the cost of a block ``x`` from parameters prepared once.


def _xp_cost_full(xp, means, precisions_chol, constant):
    n_components, n_features = means.shape
    stacked = xp.reshape(
        xp.permute_dims(precisions_chol, (1, 0, 2)),
        (n_features, n_components * n_features),
    )
    offset = xp.reshape(means[:, xp.newaxis, :] @ precisions_chol, (-1,))

    def block_cost(x):
        y = x @ stacked - offset
        squares = xp.reshape(y * y, (x.shape[0], n_components, n_features))
        return 0.5 * xp.sum(squares, axis=2) + constant

    return block_cost, n_components * n_features


def _xp_cost_tied(xp, means, precisions_chol, constant):
    n_components, n_features = means.shape
    offset = means @ precisions_chol

    def block_cost(x):
        y = (x @ precisions_chol)[:, xp.newaxis, :] - offset
        return 0.5 * xp.sum(y * y, axis=2) + constant

    return block_cost, n_components * n_features


def _xp_cost_diag(xp, means, precisions_chol, constant):
    precisions = precisions_chol**2
    quadratic = 0.5 * precisions.T
    linear = -(means * precisions).T
    constant = constant + 0.5 * xp.sum(means**2 * precisions, axis=1)

    def block_cost(x):
        return (x * x) @ quadratic + (x @ linear + constant)

    return block_cost, means.shape[1]


def _xp_cost_spherical(xp, means, precisions_chol, constant):
    precisions = precisions_chol**2
    linear = -(means * precisions[:, xp.newaxis]).T
    constant = constant + 0.5 * xp.sum(means**2, axis=1) * precisions

    def block_cost(x):
        squared_norms = xp.sum(x * x, axis=1)
        return x @ linear + (0.5 * squared_norms[:, xp.newaxis] * precisions + constant)

    return block_cost, means.shape[1]


_XP_COSTS = {
    "full": _xp_cost_full,
    "tied": _xp_cost_tied,
    "diag": _xp_cost_diag,
    "spherical": _xp_cost_spherical,
}


def _xp_gaussian_cost(xp, X, means, precisions_chol, constant, covariance_type):
    block_cost, row_width = _XP_COSTS[covariance_type](
        xp, means, precisions_chol, constant
    )
    itemsize = xp.finfo(X.dtype).bits // 8
    blocks = row_blocks(
        X.shape[0], row_width * itemsize, max_rows=X.shape[0], budget=block_bytes(X)
    )
    return xp.concat([block_cost(X[rows, :]) for rows in blocks], axis=0)


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
    if xp is not np and covariance_type in ("full", "tied"):
        return xp.sum(xp.log(xp.linalg.diagonal(precisions_chol)), axis=-1)
    if covariance_type == "full":
        return np.sum(np.log(np.diagonal(precisions_chol, axis1=1, axis2=2)), axis=1)
    if covariance_type == "tied":
        return np.sum(np.log(np.diag(precisions_chol)))
    if covariance_type == "diag":
        return xp.sum(xp.log(precisions_chol), axis=1)
    return n_features * xp.log(precisions_chol)


def gaussian_cost(X, means, precisions_chol, covariance_type):
    """Transport cost ``C_ik = -log N(x_i; mu_k, Sigma_k)``.

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
    n_samples, n_features = X.shape
    log_det = log_det_cholesky(precisions_chol, covariance_type, n_features)
    constant = 0.5 * n_features * math.log(2 * math.pi) - log_det
    xp = namespace_of(X)
    if xp is not np:
        return _xp_gaussian_cost(
            xp, X, means, precisions_chol, constant, covariance_type
        )
    cost = np.empty((n_samples, means.shape[0]), dtype=X.dtype)
    constant = np.broadcast_to(constant, means.shape[:1]).astype(X.dtype)
    _COSTS[covariance_type](X, means, precisions_chol, constant, out=cost)
    return cost


# --------------------------------------------------------------------------------
# M-step: weighted maximum likelihood from sufficient statistics


class Statistics(NamedTuple):
    """Sufficient statistics of a plan: sums over samples.

    The statistics of blocks of rows, or of chunks on different machines, add up
    to those of the whole data. Second moments are taken about given centres:
    for ``full``, each component's own (its mean, from a first pass), as
    scikit-learn does; about the origin for the other types, as scikit-learn does
    too, so that both round alike (this matters from initial plans that hold one
    point per component, whose covariance is then just ``reg_covar``).

    Attributes
    ----------
    mass : ndarray of shape (n_components,)
        ``sum_i P_ik``.
    first : ndarray of shape (n_components, n_features)
        ``sum_i P_ik (x_i - c_k)``.
    second : ndarray
        ``sum_i P_ik (x_i - c_k)(x_i - c_k)^T`` of shape (n_components,
        n_features, n_features) for ``full``; ``sum_i a_i x_i x_i^T`` of shape
        (n_features, n_features) for ``tied``; ``sum_i P_ik x_i^2`` of shape
        (n_components, n_features) for ``diag`` and ``spherical``.
    """

    mass: np.ndarray
    first: np.ndarray
    second: np.ndarray


def _second_moments_full(x, plan, sample_mass, centres, second):
    centred = np.empty_like(x)
    for k in range(plan.shape[1]):
        np.subtract(x, centres[k], out=centred)
        second[k] += (centred * plan[:, k, np.newaxis]).T @ centred


def _second_moments_tied(x, plan, sample_mass, centres, second):
    # sum_ik P_ik x_i x_i^T = X^T diag(a) X, as P 1 = a. scikit-learn uses this
    # form for its initial one-point plans too (whose rows do not sum to a).
    second += (x * sample_mass[:, np.newaxis]).T @ x


def _second_moments_diag(x, plan, sample_mass, centres, second):
    second += plan.T @ (x * x)


_SECOND_MOMENTS = {
    "full": _second_moments_full,
    "tied": _second_moments_tied,
    "diag": _second_moments_diag,
    "spherical": _second_moments_diag,
}


def sufficient_statistics(X, plan, sample_mass, centres, covariance_type):
    """Mass, first and second moments of a plan, computed block by block.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    plan : ndarray of shape (n_samples, n_components)
    sample_mass : ndarray of shape (n_samples,)
        Row marginal ``a`` of the plan.
    centres : ndarray of shape (n_components, n_features)
        Points ``c_k`` about which the moments are taken; only ``full`` uses
        them (the others take theirs about the origin: pass zeros).
    covariance_type : {'full', 'tied', 'diag', 'spherical'}

    Returns
    -------
    statistics : Statistics
    """
    xp = namespace_of(X)
    if xp is not np:
        return _xp_sufficient_statistics(
            xp, X, plan, sample_mass, centres, covariance_type
        )
    n_samples, n_features = X.shape
    n_components = plan.shape[1]
    second = np.zeros(
        {
            "full": (n_components, n_features, n_features),
            "tied": (n_features, n_features),
            "diag": (n_components, n_features),
            "spherical": (n_components, n_features),
        }[covariance_type],
        dtype=X.dtype,
    )
    first = np.zeros((n_components, n_features), dtype=X.dtype)
    accumulate = _SECOND_MOMENTS[covariance_type]
    for rows in row_blocks(n_samples, n_features * X.itemsize):
        x = X[rows]
        first += plan[rows].T @ x
        accumulate(x, plan[rows], sample_mass[rows], centres, second)
    mass = np.sum(plan, axis=0)
    return Statistics(mass, first - mass[:, np.newaxis] * centres, second)


def _scatter(centred, weights):
    """``sum_i w_i c_i c_i^T`` for the rows ``c_i`` of ``centred``."""
    return (centred * weights).T @ centred


def _xp_sufficient_statistics(xp, X, plan, sample_mass, centres, covariance_type):
    """:func:`sufficient_statistics` in another namespace, in whole-array products
    (whose temporaries are the size of ``X``)."""
    mass = xp.sum(plan, axis=0)
    first = plan.T @ X - mass[:, xp.newaxis] * centres
    if covariance_type == "full":
        # One component at a time: one centred copy of X exists at once.
        second = xp.stack(
            [
                _scatter(X - centres[k, :], plan[:, k : k + 1])
                for k in range(plan.shape[1])
            ]
        )
    elif covariance_type == "tied":
        second = (X * sample_mass[:, xp.newaxis]).T @ X
    else:
        second = plan.T @ (X * X)
    return Statistics(mass, first, second)


def gaussian_mle(statistics, centres, reg_covar, covariance_type):
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
        Of the plan, about ``centres``.
    centres : ndarray of shape (n_components, n_features)
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
    mass = statistics.mass + 10 * xp.finfo(statistics.mass.dtype).eps
    offsets = statistics.first / mass[:, np.newaxis]  # mu_k - c_k
    means = centres + offsets
    second = statistics.second
    if covariance_type == "full":
        covariances = second / mass[:, np.newaxis, np.newaxis] - (
            offsets[:, :, np.newaxis] * offsets[:, np.newaxis, :]
        )
        covariances = _add_to_diagonal(covariances, reg_covar, xp)
    elif covariance_type == "tied":
        covariances = (second - (mass * means.T) @ means) / xp.sum(mass)
        covariances = _add_to_diagonal(covariances, reg_covar, xp)
    else:
        covariances = second / mass[:, np.newaxis] - means**2 + reg_covar
        if covariance_type == "spherical":
            covariances = xp.mean(covariances, axis=1)
    return mass, means, covariances


def _add_to_diagonal(matrices, value, xp):
    """``value`` added to the diagonal of each matrix (in place for numpy)."""
    n_features = matrices.shape[-1]
    if xp is np:
        diagonal = np.arange(n_features)
        matrices[..., diagonal, diagonal] += value
        return matrices
    identity = xp.eye(n_features, dtype=matrices.dtype, **on_device_of(matrices))
    return matrices + value * identity


def weighted_gaussian_mle(X, plan, sample_mass, reg_covar, covariance_type):
    """M-step on in-memory data: :func:`gaussian_mle` of the plan's statistics.

    For ``full`` a first pass gives the means, about which the second pass takes
    the second moments.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    plan : ndarray of shape (n_samples, n_components)
        Transport plan, in any unit of mass (the estimates do not depend on it).
    sample_mass : ndarray of shape (n_samples,)
        Row marginal ``a`` of the plan, in the same unit.
    reg_covar : float
    covariance_type : {'full', 'tied', 'diag', 'spherical'}

    Returns
    -------
    mass, means, covariances
        As :func:`gaussian_mle`.
    """
    xp = namespace_of(X)
    shape = (plan.shape[1], X.shape[1])
    centres = xp.zeros(shape, dtype=X.dtype, **on_device_of(X))
    if covariance_type == "full":
        mass = xp.sum(plan, axis=0) + 10 * xp.finfo(plan.dtype).eps
        centres = (plan.T @ X) / mass[:, np.newaxis]
    statistics = sufficient_statistics(X, plan, sample_mass, centres, covariance_type)
    return gaussian_mle(statistics, centres, reg_covar, covariance_type)


# --------------------------------------------------------------------------------
# Precision Cholesky factors


def _not_positive_definite(dtype):
    message = (
        "Fitting the mixture model failed: the covariance of some component is "
        "not positive definite (for instance a component that holds a single "
        "point or collapsed samples). Increase reg_covar, use fewer components, "
        "or scale the input data."
    )
    if dtype == np.float32:
        message += " Passing float64 data instead of float32 also helps."
    return ValueError(message)


def precision_cholesky(covariances, covariance_type):
    """Upper-triangular ``L_k`` with ``L_k L_k^T = Sigma_k^{-1}``.

    Parameters
    ----------
    covariances : ndarray
        Shape as returned by :func:`weighted_gaussian_mle`.
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
    if xp is not np:
        return _xp_precision_cholesky(xp, covariances, covariance_type)
    if covariance_type in ("diag", "spherical"):
        if np.any(covariances <= 0.0):
            raise _not_positive_definite(covariances.dtype)
        return 1.0 / np.sqrt(covariances)
    stack = covariances if covariance_type == "full" else covariances[np.newaxis]
    try:
        lower = np.linalg.cholesky(stack)
    except np.linalg.LinAlgError:
        raise _not_positive_definite(covariances.dtype) from None
    identity = np.eye(stack.shape[-1], dtype=stack.dtype)
    # Sigma = C C^T gives Sigma^{-1} = C^{-T} C^{-1}: the factor is C^{-T}, upper
    # triangular (one batched solve; triu clears its round-off below the diagonal).
    result = np.triu(np.swapaxes(np.linalg.solve(lower, identity), -1, -2))
    return result if covariance_type == "full" else result[0]


def _xp_precision_cholesky(xp, covariances, covariance_type):
    """:func:`precision_cholesky` in another namespace.

    A failed factorisation raises in torch and ``array_api_strict`` but gives
    NaN in CuPy: both are caught.
    """
    error = _not_positive_definite(
        np.float32 if covariances.dtype == xp.float32 else np.float64
    )
    if covariance_type in ("diag", "spherical"):
        if bool(xp.any(covariances <= 0.0)):
            raise error
        return 1.0 / xp.sqrt(covariances)
    try:
        lower = xp.linalg.cholesky(covariances)
    except (ValueError, RuntimeError):  # numpy's and torch's LinAlgError
        raise error from None
    if not bool(xp.all(xp.isfinite(lower))):
        raise error
    # An identity per component: CuPy's batched solve does not broadcast.
    identity = xp.zeros_like(lower) + xp.eye(
        covariances.shape[-1], dtype=covariances.dtype, **on_device_of(covariances)
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
    if xp is not np:
        return precisions_chol @ xp.matrix_transpose(precisions_chol)
    return precisions_chol @ np.swapaxes(precisions_chol, -1, -2)


def covariances_from_precisions(precisions, covariance_type):
    """``Sigma_k = Lambda_k^{-1}``."""
    if covariance_type in ("diag", "spherical"):
        return 1.0 / precisions
    return namespace_of(precisions).linalg.inv(precisions)


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


def _check_shape(array, shape, name):
    if array.shape != shape:
        raise ValueError(
            f"The parameter '{name}' should have the shape {shape}, "
            f"but got {array.shape}."
        )


def check_simplex(weights, n_components, name):
    """Validate a vector of ``n_components`` non-negative weights summing to one."""
    weights = check_array(
        weights, dtype=[np.float64, np.float32], ensure_2d=False, input_name=name
    )
    _check_shape(weights, (n_components,), name)
    if np.any(weights < 0.0) or np.any(weights > 1.0):
        raise ValueError(
            f"The parameter '{name}' should be in the range [0, 1], but got "
            f"min value {weights.min():.5f}, max value {weights.max():.5f}."
        )
    atol = 1e-6 if weights.dtype == np.float32 else 1e-8
    if abs(1.0 - float(np.sum(weights))) > atol:
        raise ValueError(
            f"The parameter '{name}' should sum to 1, but got "
            f"sum({name}) = {float(np.sum(weights)):.10f}."
        )
    return weights


def check_means(means, n_components, n_features):
    """Validate user-given means of shape (n_components, n_features)."""
    means = check_array(
        means, dtype=[np.float64, np.float32], ensure_2d=False, input_name="means_init"
    )
    _check_shape(means, (n_components, n_features), "means_init")
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
    _check_shape(precisions, shape, "precisions_init")
    if covariance_type in ("diag", "spherical"):
        if np.any(precisions <= 0.0):
            raise ValueError(f"'{covariance_type}' precisions_init should be positive.")
        return precisions
    symmetric = np.allclose(precisions, np.swapaxes(precisions, -1, -2))
    if not symmetric or np.any(np.linalg.eigvalsh(precisions) <= 0.0):
        raise ValueError(
            f"'{covariance_type}' precisions_init should be symmetric, "
            "positive-definite."
        )
    return precisions
