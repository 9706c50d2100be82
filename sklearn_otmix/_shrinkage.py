"""Shrunk covariances: the M-step of linear discriminant analysis's ``shrinkage``.

With ``shrinkage = s`` in [0, 1], each covariance ``S`` estimated from the plan
becomes ``(1 - s) S + s (tr S / d) I``, as
:func:`sklearn.covariance.shrunk_covariance`; a ``tied`` covariance is the
pooled one shrunk, which is the pool of the shrunk ones (the map is linear).
With ``'auto'``, each component's ``s_k`` is Ledoit and Wolf's (2004) for its
rows standardised by its own means and variances, the plan's mass in the
place of the number of rows, and its covariance is shrunk toward its own
diagonal: ``(1 - s_k) S_k + s_k diag(S_k)``; a ``tied`` covariance pools the
shrunk ones with the components' masses. That is
:class:`~sklearn.discriminant_analysis.LinearDiscriminantAnalysis`'s estimate,
class by class, when the plan is the labels.

Ledoit and Wolf's ``s_k`` reads the fourth moments of the standardised rows,
``sum_i P_ik z_ij^2 z_il^2``: one more pass over the rows, with the plan of
the E-step formed again (:func:`moments_about` of each block).

``'auto'`` leaves ``diag`` and ``spherical`` covariances as they are (they
are their own Ledoit-Wolf target); a float ``s`` pulls a ``diag`` covariance
toward the mean of its diagonal, and leaves a ``spherical`` one as it is.
"""

from typing import NamedTuple

from ._backend import astype, namespace_of, on_device_of


class ShrinkageMoments(NamedTuple):
    """Per-component sums of a plan about given means ``mu_k``, with
    ``y = x - mu_k``: ``scatter = sum_i P_ik y y^T`` and
    ``fourth = sum_i P_ik (y * y)(y * y)^T``; both of shape
    (n_components, n_features, n_features). They add over blocks of rows."""

    scatter: object
    fourth: object


def moments_about(x, plan, means):
    """:class:`ShrinkageMoments` of a block's rows ``x`` and plan about
    ``means``."""
    xp = namespace_of(x)
    scatter, fourth = [], []
    for k in range(means.shape[0]):
        y = x - means[k, :]
        weighted = y * plan[:, k : k + 1]
        scatter.append(xp.matrix_transpose(weighted) @ y)
        squares = y * y
        fourth.append(xp.matrix_transpose(squares * plan[:, k : k + 1]) @ squares)
    return ShrinkageMoments(xp.stack(scatter), xp.stack(fourth))


def _eye_like(matrices):
    xp = namespace_of(matrices)
    return xp.eye(matrices.shape[-1], dtype=matrices.dtype, **on_device_of(matrices))


def _diagonals(matrices):
    """The diagonals of stacked matrices, shape (..., n_features)."""
    return namespace_of(matrices).sum(matrices * _eye_like(matrices), axis=-1)


def _with_diagonal(matrices, diagonals):
    """``matrices`` plus the diagonal matrices of ``diagonals`` (shape
    (..., n_features); a new array)."""
    return matrices + diagonals[..., :, None] * _eye_like(matrices)


def shrunk_fixed(covariances, form, shrinkage):
    """Covariances of any ``form`` (their ``reg_covar`` included: the map
    keeps it, since ``tr(S + r I) / d = tr(S) / d + r``) shrunk by the float
    ``shrinkage``: toward the mean of the diagonal."""
    if shrinkage == 0.0 or form == "spherical":
        return covariances
    xp = namespace_of(covariances)
    if form == "diag":
        mu = xp.mean(covariances, axis=1)
        return (1.0 - shrinkage) * covariances + shrinkage * mu[:, None]
    mu = xp.mean(_diagonals(covariances), axis=-1)
    target = xp.broadcast_to(shrinkage * mu[..., None], covariances.shape[:-1])
    return _with_diagonal((1.0 - shrinkage) * covariances, target)


def ledoit_wolf(moments, mass):
    """Each component's Ledoit-Wolf covariance from its
    :class:`ShrinkageMoments` about its mean and its ``mass``: the
    coefficient of :func:`sklearn.covariance.ledoit_wolf_shrinkage` for the
    standardised rows (with the mass as their number; a constant feature is
    left unscaled, as :class:`~sklearn.preprocessing.StandardScaler` leaves
    it), applied on the original scale.

    Returns
    -------
    covariances : array of shape (n_components, n_features, n_features)
        Without ``reg_covar``.
    """
    xp = namespace_of(moments.scatter)
    d = moments.scatter.shape[-1]
    covariances = moments.scatter / mass[:, None, None]
    variances = _diagonals(covariances)
    scale = xp.where(variances > 0, xp.sqrt(variances), xp.ones_like(variances))
    outer = scale[:, :, None] * scale[:, None, :]
    correlation = covariances / outer
    fourth = moments.fourth / (outer * outer)
    mu = xp.mean(_diagonals(correlation), axis=-1)  # 1 but for constant features
    squared = xp.sum(correlation * correlation, axis=(1, 2))
    beta = (xp.sum(fourth, axis=(1, 2)) / mass - squared) / (d * mass)
    delta = (squared - 2 * mu * (d * mu) + d * mu**2) / d
    beta = xp.minimum(beta, delta)
    positive = delta > 0
    coefficients = xp.where(
        positive, beta / xp.where(positive, delta, xp.ones_like(delta)), 0 * delta
    )
    s = coefficients[:, None]
    # (1 - s) R + s mu I on the standardised scale; the target scaled back is
    # mu times the variances (of the unscaled features: mu).
    return _with_diagonal(
        (1.0 - s[:, :, None]) * covariances, s * mu[:, None] * scale**2
    )


def shrunk(covariances, mass, form, shrinkage, reg_covar, moments=None):
    """The M-step's ``covariances`` (of ``form``, ``reg_covar`` on their
    diagonals) shrunk: by the float ``shrinkage``, or with ``'auto'`` by
    Ledoit and Wolf's coefficients from the E-step's ``moments``
    (:class:`ShrinkageMoments` about the new means; ``mass``: the
    components' masses)."""
    if shrinkage != "auto":
        return shrunk_fixed(covariances, form, float(shrinkage))
    if form in ("diag", "spherical"):
        return covariances  # their own Ledoit-Wolf target
    xp = namespace_of(covariances)
    dtype = moments.scatter.dtype
    fitted = ledoit_wolf(moments, astype(mass, dtype))
    if form == "tied":
        share = astype(mass / xp.sum(mass), dtype)
        fitted = xp.sum(fitted * share[:, None, None], axis=0)
    eye = _eye_like(fitted)
    return astype(fitted + reg_covar * eye, covariances.dtype)
