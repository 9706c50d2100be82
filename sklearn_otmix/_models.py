"""mclust's parsimonious covariance models (Celeux & Govaert, 1995).

A component's covariance is ``lambda_k D_k A_k D_k^T``: its volume
``lambda_k`` (``|Sigma_k|^(1/d)``), its shape ``A_k`` (diagonal, determinant 1)
and its orientation ``D_k`` (orthogonal). A model's name gives, in this order,
whether the volume, the shape and the orientation are Equal across components,
Variable, or the Identity (I: spherical shape, or axis-aligned orientation).
"""

import math

import numpy as np
from scipy.linalg import lapack

from ._gaussian import _not_positive_definite

#: (volume, shape, orientation) of each model, in mclust's order.
MODELS = {
    name: tuple(name)
    for name in (
        "EII",
        "VII",
        "EEI",
        "VEI",
        "EVI",
        "VVI",
        "EEE",
        "VEE",
        "EVE",
        "VVE",
        "EEV",
        "VEV",
        "EVV",
        "VVV",
    )
}


#: Spreads within this many units of their round-off are zero (see
#: :func:`_spread`): sums round once per term, in an order of their own, and
#: a component singular along an axis is left with a few units of either sign
#: there.
ROUND_OFFS = 2**8

_EPS = np.finfo(np.float64).eps


def _unit_determinant(matrix_or_diagonal):
    """The argument divided by its determinant's ``d``-th root, and that root."""
    values = np.asarray(matrix_or_diagonal)
    d = values.shape[-1]
    if values.ndim == 1:
        log_det = np.sum(np.log(values))
    else:
        log_det = np.linalg.slogdet(values)[1]
    root = np.exp(log_det / d)
    return values / root, root


def _unit_determinants(values, matrices):
    """:func:`_unit_determinant` of each of ``values``: diagonals of shape
    ``(K, d)``, or matrices of shape ``(K, d, d)`` where ``matrices``."""
    d = values.shape[-1]
    if matrices:
        log_det = np.linalg.slogdet(values)[1]
        roots = np.exp(log_det / d)
        return values / roots[:, None, None], roots
    roots = np.exp(np.add.reduce(np.log(values), axis=1) / d)
    return values / roots[:, None], roots


def _diagonal_matrices(diagonals):
    """Diagonal matrices ``(K, d, d)`` of the rows of ``diagonals``."""
    K, d = diagonals.shape
    matrices = np.zeros((K, d, d))
    matrices[:, np.arange(d), np.arange(d)] = diagonals
    return matrices


def _oriented(volumes, shapes, orientations):
    """``lambda_k D_k A_k D_k^T`` from the volumes ``(K,)``, the shapes'
    diagonals ``(K, d)`` and the orientations ``(K, d, d)``, their columns
    the axes (or one ``(d, d)`` shared by all)."""
    scaled = orientations * (volumes[:, None] * shapes)[:, None, :]
    return scaled @ orientations.swapaxes(-1, -2)


def model_covariances(
    mass,
    scatter,
    model,
    *,
    tol=np.sqrt(np.finfo(float).eps),
    max_iter=1000,
    start=None,
):
    """The covariances of ``model`` that maximise the weighted likelihood.

    Parameters
    ----------
    mass : ndarray of shape (n_components,)
        ``n_k = sum_i P_ik``.
    scatter : ndarray of shape (n_components, n_features, n_features)
        ``W_k = sum_i P_ik (x_i - mu_k)(x_i - mu_k)^T``.
    model : str
        One of :data:`MODELS`.
    tol, max_iter : float, int
        The alternating updates of the models without a closed form stop when
        the volumes change by less than ``tol`` (relative).
    start : ndarray of shape (n_components, n_features, n_features), default=None
        VEI, VEE, VEV, EVE and VVE: covariances of the model whose volumes,
        shapes and orientations start the updates (the previous M-step's, as
        mclust's EM does); unit volumes and the identity when None.

    Returns
    -------
    covariances : ndarray of shape (n_components, n_features, n_features)
    """
    K, d, _ = scatter.shape
    if K == 1:
        # One component: Equal and Variable are the same, and the closed forms
        # (EII, EEI, EEE) of its three letters' kinds are exact.
        model = model.replace("V", "E")
    n = mass.sum()
    diagonals = np.einsum("kii->ki", scatter)
    total = scatter.sum(axis=0)
    if model == "EII":
        variance = np.trace(total) / (n * d)
        return np.broadcast_to(variance * np.eye(d), (K, d, d)).copy()
    if model == "VII":
        variances = np.einsum("kii->k", scatter) / (mass * d)
        return variances[:, None, None] * np.eye(d)
    if model == "EEI":
        return np.broadcast_to(np.diag(total.diagonal() / n), (K, d, d)).copy()
    if model == "VVI":
        return _diagonal_matrices(diagonals / mass[:, None])
    if model == "EVI":
        shapes, roots = _unit_determinants(diagonals, matrices=False)
        return _diagonal_matrices(np.sum(roots) / n * shapes)
    if model == "EEE":
        return np.broadcast_to(total / n, (K, d, d)).copy()
    if model == "VVV":
        return scatter / mass[:, None, None]
    if model == "EVV":
        shapes, roots = _unit_determinants(scatter, matrices=True)
        return np.sum(roots) / n * shapes
    if model == "EEV":
        values, vectors = np.linalg.eigh(scatter)  # ascending, per component
        shape, root = _unit_determinant(values.sum(axis=0))
        return _oriented(np.full(K, root / n), np.broadcast_to(shape, (K, d)), vectors)
    # VEI, VEE and VEV alternate their volumes and their common shape (or
    # matrix): from the previous M-step's, where given, as mclust's EM does,
    # their updates need a step or two where EM is near its end.
    warm = start is not None and model in ("VEI", "VEE", "VEV")
    if warm:
        volumes = np.exp(np.linalg.slogdet(start)[1] / d)
        warm = bool(np.all(np.isfinite(volumes)) and np.all(volumes > 0))
    if not warm:
        volumes = np.ones(K)
    if model == "VEI":
        shape = np.diagonal(start[0]) / volumes[0] if warm else np.ones(d)
        for _ in range(max_iter):
            previous = volumes
            volumes = (diagonals / shape).sum(axis=1) / (d * mass)
            shape, _ = _unit_determinant((diagonals / volumes[:, None]).sum(axis=0))
            if np.max(np.abs(volumes - previous) / volumes) < tol:
                break
        return _diagonal_matrices(volumes[:, None] * shape)
    if model == "VEE":
        common = start[0] / volumes[0] if warm else np.eye(d)
        for _ in range(max_iter):
            previous = volumes
            inverse = np.linalg.inv(common)
            volumes = np.einsum("kij,ji->k", scatter, inverse) / (d * mass)
            common, _ = _unit_determinant(
                (scatter / volumes[:, None, None]).sum(axis=0)
            )
            if np.max(np.abs(volumes - previous) / volumes) < tol:
                break
        return volumes[:, None, None] * common
    if model == "VEV":
        values, vectors = np.linalg.eigh(scatter)
        # The shape pairs with each component's eigenvalues in ascending order.
        shape = np.linalg.eigvalsh(start[0]) / volumes[0] if warm else np.ones(d)
        for _ in range(max_iter):
            previous = volumes
            volumes = (values / shape).sum(axis=1) / (d * mass)
            shape, _ = _unit_determinant((values / volumes[:, None]).sum(axis=0))
            if np.max(np.abs(volumes - previous) / volumes) < tol:
                break
        return _oriented(volumes, np.broadcast_to(shape, (K, d)), vectors)
    if model in ("EVE", "VVE"):
        return _common_orientation(mass, scatter, model == "VVE", tol, max_iter, start)
    raise ValueError(f"Unknown covariance model {model!r}.")


def _lapack_error(routine, info):
    """The ``LinAlgError`` that numpy raises where LAPACK's ``routine`` returns
    ``info != 0``: :func:`_nearest_rotation` and the EVE and VVE start call
    LAPACK (:mod:`scipy.linalg.lapack`) directly, the routines of
    :func:`numpy.linalg.svd` and :func:`numpy.linalg.eigh`, whose wrappers
    cost several times the decomposition of a small matrix."""
    return np.linalg.LinAlgError(f"LAPACK's {routine} failed (info={info}).")


def _nearest_rotation(matrix):
    """The orthogonal matrix nearest ``matrix`` (polar factor), transposed."""
    left, _, right, info = lapack.dgesdd(matrix)
    if info:
        raise _lapack_error("gesdd", info)
    return (left @ right).T


def _round_off_bound(matrices):
    """``2 ROUND_OFFS eps d max_kjl |S_kjl|``: :data:`ROUND_OFFS` times twice
    a bound of the round-off of any spread of the ``S_k`` (see
    :func:`_spread`)."""
    d = matrices.shape[-1]
    return 2 * ROUND_OFFS * _EPS * d * np.maximum.reduce(np.abs(matrices), axis=None)


def _spread(orientation, matrices, round_off_bound=None):
    """``diag(O S_k O^T)`` for each ``S_k``: zero where it is within
    :data:`ROUND_OFFS` round-offs of the products it sums (an axis along
    which ``S_k`` is singular: the sign of what is left is the rounding's).

    The round-off of the ``i``-th is ``eps sum_jl |O_ij| |S_kjl| |O_il|``,
    at most ``eps d max_jl |S_kjl|`` (``O``'s rows are unit vectors): it is
    computed only when a spread is below :func:`_round_off_bound`, which
    only a component singular next to the others' scale comes near.

    Parameters
    ----------
    orientation : ndarray of shape (n_features, n_features)
        ``O``, its rows the axes.
    matrices : ndarray of shape (n_components, n_features, n_features)
    round_off_bound : float, default=None
        :func:`_round_off_bound` of ``matrices``, computed when None; 0
        where no spread can come near it (no test).

    Returns
    -------
    spread : ndarray of shape (n_components, n_features)
    """
    spread = np.add.reduce((orientation @ matrices) * orientation, axis=2)
    if round_off_bound is None:
        round_off_bound = _round_off_bound(matrices)
    if not round_off_bound or np.minimum.reduce(spread, axis=None) > round_off_bound:
        return spread
    magnitude = np.abs(orientation)
    rounding = _EPS * np.einsum("ij,kjl,il->ki", magnitude, np.abs(matrices), magnitude)
    return np.where(spread <= ROUND_OFFS * rounding, 0.0, spread)


def _common_orientation(mass, scatter, variable_volume, tol, max_iter, start=None):
    """EVE and VVE: one orientation ``O`` (rows: the axes) shared by all
    components, with shapes (and, for VVE, volumes) per component.

    For fixed shapes and volumes the orientation minimises
    ``sum_k tr(O W_k O^T A_k^-1) / lambda_k`` over orthogonal ``O``; each
    iteration takes two majorise-minimise steps on it (Browne & McNicholas,
    2014), each the polar factor of a linear majoriser, then the shapes (and
    volumes) in closed form, so that no step lowers the likelihood. It starts
    from ``O = I`` and unit shapes, as mclust does, and stops when the
    criterion changes by less than ``tol`` relative to ``1 + |criterion|``.

    mclust 6's VVE leaves the volumes out of the orientation steps: its
    M-step then need not maximise the likelihood (EM can go down), and ours
    differs from it for VVE alone.

    The iterations are a few dozen operations on ``d x d`` matrices, where
    numpy's call overhead is most of the time: what they share is computed
    once, and sums are ufunc reductions (no Python wrapper).
    """
    K, d, _ = scatter.shape
    eigenvalues = np.linalg.eigvalsh(scatter)  # ascending
    largest = eigenvalues[:, -1]
    orientation = np.eye(d)
    # W_k - largest_k I, stacked for the row step's one product.
    shifted = (scatter - largest[:, None, None] * orientation).reshape(K * d, d)
    # A spread is at least the smallest eigenvalue of its W_k, less round-offs
    # far below the bound: where these are above twice the bound, no spread
    # needs the round-off test.
    round_off_bound = _round_off_bound(scatter)
    if np.minimum.reduce(eigenvalues[:, 0]) > 2 * round_off_bound:
        round_off_bound = 0.0
    masses = mass[:, None]
    # (lambda_k A_k)^-1: with variable volumes each component's part of the
    # criterion is divided by its volume (mclust's VVE leaves it out).
    inverse = np.ones((K, d))
    if start is not None:
        # The common axes of the start, and each component's shape on them.
        _, axes, info = lapack.dsyevd(start[0], lower=1)
        if info:
            raise _lapack_error("syevd", info)
        orientation = axes.T
        shapes, roots = _unit_determinants(_spread(orientation, start), matrices=False)
        inverse = 1.0 / (roots[:, None] * shapes if variable_volume else shapes)
    previous = np.inf
    for _ in range(max_iter):
        # Majoriser in O's rows: W_k's largest eigenvalue bounds its quadratic.
        # sum_k (lambda_k A_k)^-1 O (W_k - largest_k I), as one product.
        weighted = inverse.T[:, :, None] * orientation[:, None, :]
        orientation = _nearest_rotation(weighted.reshape(d, K * d) @ shifted)
        # And in its columns, through W_k O: the largest entry of the inverse
        # bounds it, sum_k W_k O (diag(inverse_k) - max(inverse_k) I) in one
        # product, exactly zero from unit shapes (the first iteration without
        # a start) as mclust's: the polar factor of zero is then the identity,
        # not that of a difference's round-off.
        rotated = scatter @ orientation  # W_k O
        excess = inverse - np.maximum.reduce(inverse, axis=1)[:, None]
        orientation = _nearest_rotation(np.einsum("kij,kj->ij", rotated, excess))
        # Shapes (and volumes) in closed form for this orientation:
        # A_k = spread_k / root_k, and lambda_k = root_k (VVE) or 1 (EVE).
        spread = _spread(orientation, scatter, round_off_bound)
        if variable_volume:
            spread = spread / masses
        # sum_i log spread_ki = d log(root_k).
        log_spread = np.add.reduce(np.log(spread), axis=1)
        if variable_volume:
            inverse = 1.0 / spread
            # -2 log L, up to constants: sum_k n_k d log(lambda_k).
            criterion = mass @ log_spread
        else:
            roots = np.exp(log_spread / d)
            inverse = roots[:, None] / spread
            # sum_k tr(A_k^-1 diag(spread_k)) = d sum_k root_k.
            criterion = d * np.add.reduce(roots)
        if abs(criterion - previous) / (1.0 + abs(criterion)) <= tol:
            break
        previous = criterion
    roots = np.exp(log_spread / d)
    shapes = spread / roots[:, None]
    volumes = roots if variable_volume else np.full(K, criterion / (mass.sum() * d))
    return _oriented(volumes, shapes, orientation.T)


#: The models that scikit-learn's four covariance types are, by their names.
ALIASES = {"VII": "spherical", "VVI": "diag", "EEE": "tied", "VVV": "full"}


def covariance_form(covariance_type):
    """How a ``covariance_type`` is stored and fitted: the form of its
    covariances (one of scikit-learn's four) and, for the other ten mclust
    models, the model whose M-step constrains the full covariances."""
    covariance_type = ALIASES.get(covariance_type, covariance_type)
    if covariance_type in MODELS:
        return "full", covariance_type
    return covariance_type, None


def mclust_name(covariance_type):
    """mclust's name of a ``covariance_type``, scikit-learn's four included."""
    form, model = covariance_form(covariance_type)
    return model or _FORM_MODELS[form]


#: mclust's names of scikit-learn's four forms.
_FORM_MODELS = {form: model for model, form in ALIASES.items()}


def covariances_in_model(mass, covariances, model, reg_covar, start=None):
    """Full covariances (``reg_covar`` on their diagonals) replaced by the
    M-step of ``model`` from the same weighted scatter matrices (``start``:
    see :func:`model_covariances`)."""
    d = covariances.shape[-1]
    ridge = reg_covar * np.eye(d)
    scatter = (covariances - ridge) * mass[:, None, None]
    if start is not None:
        start = start - ridge
    with np.errstate(divide="ignore", invalid="ignore"):
        try:
            fitted = model_covariances(mass, scatter, model, start=start)
        except np.linalg.LinAlgError:
            fitted = np.full_like(scatter, np.nan)
    if not np.all(np.isfinite(fitted)):
        # A scatter matrix of lower rank than the model needs (a component of
        # too few points): the model's volume or shape has no finite value.
        raise _not_positive_definite(np.float64)
    return fitted + ridge


def n_covariance_parameters(model, n_components, n_features):
    """Free parameters of ``model``'s covariances (mclust's counts)."""
    K, d = n_components, n_features
    orientation = d * (d - 1) // 2
    volume = {"E": 1, "V": K}[model[0]]
    shape = {"E": d - 1, "V": K * (d - 1), "I": 0}[model[1]]
    rotation = {"E": orientation, "V": K * orientation, "I": 0}[model[2]]
    return volume + shape + rotation


def n_model_parameters(model, n_components, n_features):
    """Free parameters of a mixture of ``model``: weights, means, covariances."""
    K, d = n_components, n_features
    return K - 1 + K * d + n_covariance_parameters(model, K, d)


def support_error(covariance_type, n_samples, n_features, n_components):
    """Why ``n_samples`` rows cannot fit ``covariance_type`` (an mclust name)
    with ``n_components``, or None. scikit-learn's four names are never
    refused here: ``reg_covar`` lets them fit, as in GaussianMixture.

    - A model with orientations (the last letter not I) needs more samples
      than features, as mclust asks (it fits only the six diagonal models
      otherwise): a covariance of rank ``n_samples - 1`` or less is singular;
    - no model can have more free parameters than the data have values,
      ``n_samples * n_features``.
    """
    if covariance_type not in MODELS or not math.isfinite(n_samples):
        return None
    if covariance_type[2] != "I" and n_samples <= n_features:
        return (
            f"covariance_type={covariance_type!r} estimates orientations, which "
            f"needs more samples than features; got n_samples={n_samples} <= "
            f"n_features={n_features}. Use a diagonal model (EII, VII, EEI, VEI, "
            "EVI, VVI), or 'full' with reg_covar > 0."
        )
    count = n_model_parameters(covariance_type, n_components, n_features)
    if count > n_samples * n_features:
        return (
            f"covariance_type={covariance_type!r} with n_components={n_components} "
            f"has {count} free parameters, more than the {n_samples} x "
            f"{n_features} values of the data; use fewer components or a more "
            "constrained model."
        )
    return None


def check_supported(covariance_type, n_samples, n_features, n_components):
    """A ``ValueError`` saying why, where :func:`support_error` finds a reason."""
    reason = support_error(covariance_type, n_samples, n_features, n_components)
    if reason is not None:
        raise ValueError(reason)
