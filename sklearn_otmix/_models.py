"""mclust's parsimonious covariance models (Celeux & Govaert, 1995).

A component's covariance is ``lambda_k D_k A_k D_k^T``: its volume
``lambda_k`` (``|Sigma_k|^(1/d)``), its shape ``A_k`` (diagonal, determinant 1)
and its orientation ``D_k`` (orthogonal). A model's name gives, in this order,
whether the volume, the shape and the orientation are Equal across components,
Variable, or the Identity (I: spherical shape, or axis-aligned orientation).
"""

import functools
import math

import numpy as np
import scipy.sparse
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


class Segments:
    """Components stacked along one axis in cells of their own: cell ``g``
    is the ``sizes[g]`` components from ``starts[g]`` (mclust's models share
    a volume, a shape or an orientation within a cell, never across cells).

    One fit's components are one cell; the search stacks the cells of one
    model (see :mod:`sklearn_otmix._grid`).
    """

    def __init__(self, sizes):
        self.sizes = np.asarray(sizes, dtype=np.intp)
        self.starts = np.concatenate(([0], np.cumsum(self.sizes)[:-1]))
        self.cell = np.repeat(np.arange(self.sizes.size), self.sizes)

    def sum(self, values, axis=0):
        """Each cell's sum of ``values`` along the components' ``axis``."""
        return np.add.reduceat(values, self.starts, axis=axis)

    @functools.cached_property
    def indicator(self):
        """The ``(n_cells, n_components)`` matrix of ones where a component is
        in a cell: its product with a ``(K, n)`` array sums each cell's rows
        (a matrix product, where ``reduceat`` along the first axis of long
        rows costs several times more)."""
        matrix = np.zeros((self.sizes.size, self.cell.size))
        matrix[self.cell, np.arange(self.cell.size)] = 1.0
        return matrix

    def first(self, values):
        """Each cell's first component's entry of ``values``."""
        return values[self.starts]

    def kept(self, keep):
        """The segments of the cells where ``keep``; and which components."""
        return Segments(self.sizes[keep]), keep[self.cell]


def _unit_determinants(values, matrices):
    """Each of ``values`` divided by its determinant's ``d``-th root, and
    that root: diagonals of shape ``(K, d)``, or matrices of shape
    ``(K, d, d)`` where ``matrices``."""
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
    the axes."""
    scaled = orientations * (volumes[:, None] * shapes)[:, None, :]
    return scaled @ orientations.swapaxes(-1, -2)


def _frozen(done, new, old):
    """``new`` but for the cells ``done``, which keep ``old`` (arrays with
    one entry per cell first)."""
    return np.where(done.reshape(done.shape + (1,) * (new.ndim - 1)), old, new)


def model_covariances(
    mass,
    scatter,
    model,
    *,
    tol=np.sqrt(np.finfo(float).eps),
    max_iter=1000,
    start=None,
    segments=None,
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
        the volumes change by less than ``tol`` (relative); each cell's where
        its own do.
    start : ndarray of shape (n_components, n_features, n_features), default=None
        VEI, VEE, VEV, EVE and VVE: covariances of the model whose volumes,
        shapes and orientations start the updates (the previous M-step's, as
        mclust's EM does); unit volumes and the identity when None.
    segments : Segments, default=None
        The cells of several fits, stacked: what a model shares, each cell
        shares within itself. None: one cell of all the components. Cells of
        one component (where Equal and Variable are the same, and the closed
        forms of EII, EEI and EEE are exact) are not stacked with others.

    Returns
    -------
    covariances : ndarray of shape (n_components, n_features, n_features)
    """
    K, d, _ = scatter.shape
    if segments is None:
        segments = Segments([K])
    if segments.sizes.max() == 1:
        model = model.replace("V", "E")
    n = segments.sum(mass)
    cell = segments.cell
    diagonals = np.einsum("kii->ki", scatter)
    if model == "VII":
        variances = np.einsum("kii->k", scatter) / (mass * d)
        return variances[:, None, None] * np.eye(d)
    if model == "VVI":
        return _diagonal_matrices(diagonals / mass[:, None])
    if model == "VVV":
        return scatter / mass[:, None, None]
    if model in ("EII", "EEI", "EEE"):
        total = segments.sum(scatter)
    if model == "EII":
        variances = np.einsum("gii->g", total) / (n * d)
        return variances[cell, None, None] * np.eye(d)
    if model == "EEI":
        return _diagonal_matrices((np.einsum("gii->gi", total) / n[:, None])[cell])
    if model == "EEE":
        return (total / n[:, None, None])[cell]
    if model in ("EVI", "EVV"):
        matrices = model == "EVV"
        shapes, roots = _unit_determinants(scatter if matrices else diagonals, matrices)
        volumes = (segments.sum(roots) / n)[cell]
        if matrices:
            return volumes[:, None, None] * shapes
        return _diagonal_matrices(volumes[:, None] * shapes)
    if model == "EEV":
        values, vectors = np.linalg.eigh(scatter)  # ascending, per component
        shapes, roots = _unit_determinants(segments.sum(values), matrices=False)
        return _oriented((roots / n)[cell], shapes[cell], vectors)
    if model in ("EVE", "VVE"):
        return _common_orientation(
            mass, scatter, model == "VVE", tol, max_iter, start, segments
        )
    if model in ("VEI", "VEE", "VEV"):
        return _common_shape(mass, scatter, model, tol, max_iter, start, segments)
    raise ValueError(f"Unknown covariance model {model!r}.")


def _common_shape(mass, scatter, model, tol, max_iter, start, segments):
    """VEI, VEE and VEV: a volume per component and a shape (VEE: a matrix)
    common to each cell, in alternation. From the previous M-step's, where
    given (as mclust's EM does), the updates need a step or two where EM is
    near its end."""
    K, d, _ = scatter.shape
    cell = segments.cell
    volumes = np.ones(K)
    warm = np.zeros(segments.sizes.size, dtype=bool)
    if start is not None:
        start_volumes = np.exp(np.linalg.slogdet(start)[1] / d)
        usable = np.isfinite(start_volumes) & (start_volumes > 0)
        warm = np.logical_and.reduceat(usable, segments.starts)
        volumes = np.where(warm[cell], start_volumes, 1.0)
    if model == "VEE":
        values = scatter
        common = np.broadcast_to(np.eye(d), (warm.size, d, d))
        if warm.any():
            first = segments.first(start) / segments.first(volumes)[:, None, None]
            common = _frozen(warm, common, first)
    else:
        if model == "VEV":
            # The shape pairs with each component's eigenvalues in ascending
            # order.
            values, vectors = np.linalg.eigh(scatter)
        else:
            values = np.einsum("kii->ki", scatter)
        common = np.ones((warm.size, d))
        if warm.any():
            first = segments.first(start)
            first = (
                np.linalg.eigvalsh(first)
                if model == "VEV"
                else np.einsum("gii->gi", first)
            )
            common = _frozen(warm, common, first / segments.first(volumes)[:, None])
    done = np.zeros(warm.size, dtype=bool)
    for _ in range(max_iter):
        if model == "VEE":
            inverse = np.linalg.inv(common)[cell]
            updated = np.einsum("kij,kji->k", scatter, inverse) / (d * mass)
            scaled = scatter / updated[:, None, None]
        else:
            updated = (values / common[cell]).sum(axis=1) / (d * mass)
            scaled = values / updated[:, None]
        change = np.maximum.reduceat(
            np.abs(updated - volumes) / updated, segments.starts
        )
        common = _frozen(
            done,
            _unit_determinants(segments.sum(scaled), model == "VEE")[0],
            common,
        )
        volumes = np.where(done[cell], volumes, updated)
        # A change that is not finite stays so (the cell has failed).
        done |= (change < tol) | ~np.isfinite(change)
        if done.all():
            break
    if model == "VEE":
        return volumes[:, None, None] * common[cell]
    if model == "VEI":
        return _diagonal_matrices(volumes[:, None] * common[cell])
    return _oriented(volumes, common[cell], vectors)


def _lapack_error(routine, info):
    """The ``LinAlgError`` that numpy raises where LAPACK's ``routine`` returns
    ``info != 0``: :func:`_nearest_rotations` calls LAPACK
    (:mod:`scipy.linalg.lapack`) directly for one matrix, the routine of
    :func:`numpy.linalg.svd`, whose wrapper costs several times the
    decomposition of a small matrix."""
    return np.linalg.LinAlgError(f"LAPACK's {routine} failed (info={info}).")


def _nearest_rotations(matrices):
    """The orthogonal matrix nearest each of ``matrices`` (polar factor),
    transposed."""
    if matrices.shape[0] == 1:
        left, _, right, info = lapack.dgesdd(matrices[0])
        if info:
            raise _lapack_error("gesdd", info)
        return (left @ right).T[None]
    left, _, right = np.linalg.svd(matrices)
    return (left @ right).swapaxes(-1, -2)


def _round_off_bounds(matrices, segments):
    """``2 ROUND_OFFS eps d max_kjl |S_kjl|`` of each cell: :data:`ROUND_OFFS`
    times twice a bound of the round-off of any spread of its ``S_k`` (see
    :func:`_spread`)."""
    d = matrices.shape[-1]
    largest = np.maximum.reduce(np.abs(matrices).reshape(matrices.shape[0], -1), axis=1)
    return 2 * ROUND_OFFS * _EPS * d * np.maximum.reduceat(largest, segments.starts)


def _spread(orientations, matrices, segments, round_off_bounds=None):
    """``diag(O S_k O^T)`` for each ``S_k``, ``O`` its cell's orientation:
    zero where it is within :data:`ROUND_OFFS` round-offs of the products it
    sums (an axis along which ``S_k`` is singular: the sign of what is left
    is the rounding's).

    The round-off of the ``i``-th is ``eps sum_jl |O_ij| |S_kjl| |O_il|``,
    at most ``eps d max_jl |S_kjl|`` (``O``'s rows are unit vectors): it is
    computed only in the cells with a spread below their
    :func:`_round_off_bounds`, which only a component singular next to the
    others' scale comes near.

    Parameters
    ----------
    orientations : ndarray of shape (n_cells, n_features, n_features)
        ``O`` of each cell, its rows the axes.
    matrices : ndarray of shape (n_components, n_features, n_features)
    segments : Segments
    round_off_bounds : ndarray of shape (n_cells,), default=None
        :func:`_round_off_bounds` of ``matrices``, computed when None; 0
        where no spread can come near it (no test).

    Returns
    -------
    spread : ndarray of shape (n_components, n_features)
    """
    orientation = orientations[segments.cell]
    spread = np.add.reduce((orientation @ matrices) * orientation, axis=2)
    if round_off_bounds is None:
        round_off_bounds = _round_off_bounds(matrices, segments)
    if not round_off_bounds.any():
        return spread
    lowest = np.minimum.reduceat(np.minimum.reduce(spread, axis=1), segments.starts)
    tested = (round_off_bounds > 0) & (lowest <= round_off_bounds)
    if not tested.any():
        return spread
    magnitude = np.abs(orientation)
    rounding = _EPS * np.einsum(
        "kij,kjl,kil->ki", magnitude, np.abs(matrices), magnitude
    )
    zero = (spread <= ROUND_OFFS * rounding) & tested[segments.cell, None]
    return np.where(zero, 0.0, spread)


def _common_orientation(mass, scatter, variable_volume, tol, max_iter, start, segments):
    """EVE and VVE: one orientation ``O`` (rows: the axes) shared by the
    components of each cell, with shapes (and, for VVE, volumes) per
    component.

    For fixed shapes and volumes the orientation minimises
    ``sum_k tr(O W_k O^T A_k^-1) / lambda_k`` over orthogonal ``O``; each
    iteration takes two majorise-minimise steps on it (Browne & McNicholas,
    2014), each the polar factor of a linear majoriser, then the shapes (and
    volumes) in closed form, so that no step lowers the likelihood. It starts
    from ``O = I`` and unit shapes, as mclust does, and stops when the
    criterion changes by less than ``tol`` relative to ``1 + |criterion|``.

    Where W_k's eigenvalues lie far apart the majorisers are loose and the
    steps slow (hundreds on wine's 13 features, and then they stop short of
    the maximum: their changes fall below ``tol`` while the gradient is
    still of order 1e-5). After :data:`MM_STEPS` of them (and, for VVE,
    after :data:`NEWTON_FIRST` where the criterion is convex about the
    orientation) the cells still iterating go to Newton's method on the
    profile criterion (:func:`_newton_orientation`), which ends at the
    maximum to round-off in a few steps. EVE's M-steps are mclust's where
    its steps converge within :data:`MM_STEPS`.

    mclust 6's VVE leaves the volumes out of the orientation steps: its
    M-step then need not maximise the likelihood (EM can go down), and ours
    differs from it for VVE.

    The iterations are a few dozen operations on ``d x d`` matrices, where
    numpy's call overhead is most of the time: what they share is computed
    once, the cells of a stack in the same calls, and sums are ufunc
    reductions (no Python wrapper).
    """
    K, d, _ = scatter.shape
    G, cell_of = segments.sizes.size, segments.cell
    # EVE's volume is the criterion over n_g d.
    scale = segments.sum(mass) * d
    eigenvalues = np.linalg.eigvalsh(scatter)  # ascending
    orientation = np.broadcast_to(np.eye(d), (G, d, d))
    # W_k - largest_k I: the majoriser of the row step.
    shifted = scatter - eigenvalues[:, -1, None, None] * np.eye(d)
    # A spread is at least the smallest eigenvalue of its W_k, less round-offs
    # far below the bound: where these are above twice the bound, no spread
    # needs the round-off test.
    bounds = _round_off_bounds(scatter, segments)
    smallest = np.minimum.reduceat(eigenvalues[:, 0], segments.starts)
    bounds = np.where(smallest > 2 * bounds, 0.0, bounds)
    # (lambda_k A_k)^-1: with variable volumes each component's part of the
    # criterion is divided by its volume (mclust's VVE leaves it out).
    inverse = np.ones((K, d))
    if start is not None:
        # The common axes of the start, and each component's shape on them.
        orientation = np.linalg.eigh(segments.first(start))[1].swapaxes(-1, -2)
        shapes, roots = _unit_determinants(
            _spread(orientation, start, segments), matrices=False
        )
        inverse = 1.0 / (roots[:, None] * shapes if variable_volume else shapes)
    # The cells still iterating (``live``, their components ``rows``) and
    # what the others converged to (``final_*``).
    final_orientation, final_spread = np.empty((G, d, d)), np.empty((K, d))
    final_criterion = np.empty(G)
    live, rows = np.arange(G), np.arange(K)
    spread, previous = np.ones((K, d)), np.full(G, np.inf)

    def finish(cells):
        kept = cells[segments.cell]
        final_orientation[live[cells]] = orientation[cells]
        final_spread[rows[kept]] = spread[kept]
        final_criterion[live[cells]] = previous[cells]

    for iteration in range(max_iter):
        cell = segments.cell
        # Majoriser in O's rows: W_k's largest eigenvalue bounds its quadratic.
        # sum_k (lambda_k A_k)^-1 O (W_k - largest_k I).
        weighted = inverse[:, :, None] * orientation[cell]
        turned = _nearest_rotations(segments.sum(weighted @ shifted))
        # And in its columns, through W_k O: the largest entry of the inverse
        # bounds it, sum_k W_k O (diag(inverse_k) - max(inverse_k) I), exactly
        # zero from unit shapes (the first iteration without a start) as
        # mclust's: the polar factor of zero is then the identity, not that of
        # a difference's round-off.
        rotated = scatter @ turned[cell]  # W_k O
        excess = inverse - np.maximum.reduce(inverse, axis=1)[:, None]
        orientation = _nearest_rotations(segments.sum(rotated * excess[:, None, :]))
        # Shapes (and volumes) in closed form for this orientation:
        # A_k = spread_k / root_k, and lambda_k = root_k (VVE) or 1 (EVE).
        spread, criterion, inverse = _shapes(
            orientation, scatter, mass, segments, bounds, variable_volume
        )
        converged = np.abs(criterion - previous) / (1.0 + np.abs(criterion)) <= tol
        previous = criterion
        steps = iteration + 1
        early = variable_volume and steps == NEWTON_FIRST
        if (early or steps % MM_STEPS == 0) and not converged.all():
            # Newton's method takes over where it can, and finishes: wherever
            # the steps are slow (the majorisers' bounds loose, W_k's
            # eigenvalues far apart); and for VVE (not mclust's M-step, whose
            # path there is nothing to keep) as soon as the criterion is
            # convex about the orientation, as it is near the previous
            # M-step's when EM nears its end.
            going = ~converged
            orientation = orientation.copy()
            orientation[going], solved = _newton_orientation(
                orientation[going],
                scatter[going[cell]],
                mass[going[cell]],
                segments.kept(going)[0],
                variable_volume,
                bounds[going],
                tol,
                NEWTON_STEPS,
                convex_only=early,
            )
            spread, previous, inverse = _shapes(
                orientation, scatter, mass, segments, bounds, variable_volume
            )
            converged[going] = solved
        if converged.any():
            # The cells that have converged leave the iterations.
            finish(converged)
            if converged.all():
                break
            segments, kept = segments.kept(~converged)
            live, rows = live[~converged], rows[kept]
            scatter, shifted, mass = scatter[kept], shifted[kept], mass[kept]
            inverse, spread = inverse[kept], spread[kept]
            orientation, previous = orientation[~converged], previous[~converged]
            bounds = bounds[~converged]
    else:
        finish(np.ones(live.size, dtype=bool))
    roots = np.exp(np.add.reduce(np.log(final_spread), axis=1) / d)
    shapes = final_spread / roots[:, None]
    if variable_volume:
        volumes = roots
    else:
        volumes = (final_criterion / scale)[cell_of]
    return _oriented(volumes, shapes, final_orientation.swapaxes(-1, -2)[cell_of])


def _shapes(orientation, scatter, mass, segments, bounds, variable_volume):
    """The closed-form step of :func:`_common_orientation` for its
    orientations: each component's spread (``lambda_k A_k`` for VVE, up to
    the volume for EVE), the criterion, and the inverse spreads that weight
    the next majoriser."""
    d = scatter.shape[-1]
    spread = _spread(orientation, scatter, segments, bounds)
    if variable_volume:
        spread = spread / mass[:, None]
    # sum_i log spread_ki = d log(root_k).
    log_spread = np.add.reduce(np.log(spread), axis=1)
    if variable_volume:
        # -2 log L, up to constants: sum_k n_k d log(lambda_k).
        return spread, segments.sum(mass * log_spread), 1.0 / spread
    roots = np.exp(log_spread / d)
    # sum_k tr(A_k^-1 diag(spread_k)) = d sum_k root_k.
    return spread, d * segments.sum(roots), roots[:, None] / spread


#: The majorise-minimise iterations of :func:`_common_orientation` after which
#: the cells still iterating are handed to :func:`_newton_orientation` (for at
#: most ``NEWTON_STEPS`` steps): whatever the criterion is like after each
#: ``MM_STEPS``; for VVE, where it is convex about their orientation, after
#: ``NEWTON_FIRST``. EVE's cells keep mclust's path where its steps converge
#: within ``MM_STEPS`` (most M-steps once EM is under way).
NEWTON_FIRST = 2
MM_STEPS = 20
NEWTON_STEPS = 20


@functools.lru_cache(maxsize=None)
def _pair_layout(d):
    """The pairs ``p = (i, j)``, ``i < j``, of ``d`` axes (the coordinates of
    a skew-symmetric ``A``), and the sparse matrix that assembles the
    Hessian of :func:`_newton_orientation` from its terms.

    Entry ``(p, q)``, ``q = (l, m)``, of the Hessian (beyond EVE's rank-one
    part) is a sum of Kronecker deltas times entries of three tensors of each
    cell: ``V_ijm = sum_k v_ki R_k,ij R_k,im``, ``P_ab = sum_k R_k,ab w_kb``
    and ``S_ijl = sum_k w_ki R_k,jl``, with ``w_k`` and ``v_k`` the first
    derivatives and the Hessian's diagonal of ``F_k`` in the entries of
    ``diag(R_k)``. Returns ``(first, second, assembly)``: the pairs' axes,
    and a sparse ``(M^2, d^3 + d^2 + d^3)`` matrix that maps the
    concatenated, flattened ``(V, P, S)`` to the flattened Hessian."""
    first, second = np.triu_indices(d, 1)
    M = first.size
    i, j = first[:, None], second[:, None]
    l, m = first[None, :], second[None, :]
    cube, square = d**3, d**2
    V = lambda a, b, c: a * square + b * d + c  # noqa: E731
    P = lambda a, b: cube + a * d + b  # noqa: E731
    S = lambda a, b, c: cube + square + a * square + b * d + c  # noqa: E731
    # (delta, source, coefficient, symmetrised): the second derivative of
    # r_k along the directions p and q contracted with w_k is
    # tr(P (E_p E_q + E_q E_p)) - tr(W (E_p R E_q + E_q R E_p)), half of it
    # listed and symmetrised; v_k's part is listed whole.
    terms = [
        (i == l, V(i, j, m), 4.0, False),
        (i == m, V(i, j, l), -4.0, False),
        (j == l, V(j, i, m), -4.0, False),
        (j == m, V(j, i, l), 4.0, False),
        (j == l, P(m, i), 1.0, True),
        (j == m, P(l, i), -1.0, True),
        (i == l, P(m, j), -1.0, True),
        (i == m, P(l, j), 1.0, True),
        (i == m, S(i, j, l), -1.0, True),
        (i == l, S(i, j, m), 1.0, True),
        (j == m, S(j, i, l), 1.0, True),
        (j == l, S(j, i, m), -1.0, True),
    ]
    rows, columns, data = [], [], []
    position = np.arange(M)[:, None] * M + np.arange(M)[None, :]
    for delta, source, coefficient, symmetrised in terms:
        where = np.nonzero(delta)
        source = np.broadcast_to(source, delta.shape)[where]
        targets = [position[where]]
        if symmetrised:
            targets.append(position.T[where])
        for target in targets:
            rows.append(target)
            columns.append(source)
            data.append(np.full(target.size, coefficient))
    assembly = scipy.sparse.csr_matrix(
        (np.concatenate(data), (np.concatenate(rows), np.concatenate(columns))),
        shape=(M * M, 2 * cube + square),
    )
    return first, second, assembly


def _profile(orientation, scatter, mass, segments, variable_volume):
    """The criterion that :func:`_common_orientation` minimises over the
    orientation, its volumes and shapes at their optimum for it; with the
    diagonals ``r_k = diag(O W_k O^T)`` and ``R_k = O W_k O^T``."""
    turned = orientation[segments.cell]
    rotated = turned @ scatter @ turned.swapaxes(-1, -2)
    diagonal = np.einsum("kii->ki", rotated)
    log_diagonal = np.log(diagonal)
    if variable_volume:
        # sum_k n_k sum_i log(r_ki / n_k) = sum_k n_k d log(lambda_k).
        criterion = segments.sum(
            mass * np.add.reduce(log_diagonal - np.log(mass)[:, None], axis=1)
        )
    else:
        # d sum_k root_k, root_k = (prod_i r_ki)^(1/d).
        d = scatter.shape[-1]
        criterion = d * segments.sum(np.exp(np.add.reduce(log_diagonal, axis=1) / d))
    return criterion, diagonal, rotated


def _newton_terms(diagonal, rotated, mass, segments, variable_volume):
    """The gradient and Hessian of :func:`_newton_orientation`'s criterion
    ``h(C(A) O)`` in the coordinates ``A_ij``, ``i < j``, at ``A = 0``.

    Parameters
    ----------
    diagonal : ndarray of shape (n_components, n_features)
        ``r_k = diag(R_k)`` (:func:`_profile`).
    rotated : ndarray of shape (n_components, n_features, n_features)
        ``R_k = O W_k O^T``.
    mass : ndarray of shape (n_components,)
    segments : Segments
    variable_volume : bool
        VVE's criterion, ``sum_k n_k sum_i log r_ki`` (up to a constant),
        or EVE's, ``d sum_k (prod_i r_ki)^(1/d)``.

    Returns
    -------
    gradient : ndarray of shape (n_cells, n_pairs)
    hessian : ndarray of shape (n_cells, n_pairs, n_pairs)
    """
    K, d = diagonal.shape
    G = segments.sizes.size
    first, second, assembly = _pair_layout(d)
    M = first.size
    # F_k's first derivatives (w) and its Hessian's diagonal (v); EVE's has
    # a rank-one part too, (d root_k / d^2) u_k u_k^T, u_k = 1 / r_k.
    if variable_volume:
        w = mass[:, None] / diagonal
    else:
        roots = np.exp(np.add.reduce(np.log(diagonal), axis=1) / d)
        w = roots[:, None] / diagonal
    v = -w / diagonal
    off = rotated[:, first, second]  # R_k,ij, (K, M)
    gradient = segments.sum(2 * off * (w[:, first] - w[:, second]))
    tensors = np.concatenate(
        [
            np.einsum("ki,kij,kim->kijm", v, rotated, rotated).reshape(K, -1),
            (rotated * w[:, None, :]).reshape(K, -1),
            (w[:, :, None, None] * rotated[:, None]).reshape(K, -1),
        ],
        axis=1,
    )
    hessian = (assembly @ segments.sum(tensors).T).T.reshape(G, M, M)
    if not variable_volume:
        slope = 2 * off * (1 / diagonal[:, first] - 1 / diagonal[:, second])
        scaled = (roots / d)[:, None] * slope
        own = segments.cell == np.arange(G)[:, None]
        hessian += (own[:, :, None] * scaled).swapaxes(1, 2) @ slope
    return gradient, hessian


def _descent(hessian, gradient):
    """The Newton step ``-H^-1 g`` of each cell, ``H``'s eigenvalues taken
    in absolute value where it is not positive definite (and floored at
    ``sqrt(eps)`` times the largest): a direction of descent, which where
    ``h`` curves down goes down its slope; and where ``H`` is positive
    definite."""
    try:
        np.linalg.cholesky(hessian)
        convex = np.ones(hessian.shape[0], dtype=bool)
    except np.linalg.LinAlgError:
        convex = np.array([_positive_definite(matrix) for matrix in hessian])
    step = np.empty_like(gradient)
    if convex.any():
        step[convex] = -np.linalg.solve(hessian[convex], gradient[convex, :, None])[
            ..., 0
        ]
    if not convex.all():
        values, vectors = np.linalg.eigh(hessian[~convex])
        values = np.abs(values)
        values = np.maximum(values, np.sqrt(_EPS) * values.max(axis=1, keepdims=True))
        along = np.einsum("gmp,gm->gp", vectors, gradient[~convex]) / values
        step[~convex] = -np.einsum("gmp,gp->gm", vectors, along)
    return step, convex


def _positive_definite(matrix):
    """Whether ``matrix`` has a Cholesky factor."""
    try:
        np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        return False
    return True


def _newton_orientation(
    orientation,
    scatter,
    mass,
    segments,
    variable_volume,
    bounds,
    tol,
    max_iter,
    convex_only=False,
):
    """Newton's method for the common orientation of EVE and VVE, on the
    profile criterion ``h(O)`` (:func:`_profile`), from ``orientation``.

    ``O`` moves as ``C(A) O``, ``C`` the Cayley transform of a skew-symmetric
    ``A`` (which agrees with ``exp(A)`` to second order), whose ``d (d - 1) /
    2`` entries above the diagonal are the coordinates. With
    ``h = sum_k F_k(r_k)`` and ``r_k = diag(e^A R_k e^-A)``, the gradient
    and Hessian at ``A = 0`` are exact:

    - ``dr_ki / dA_ij = 2 R_k,ij``, ``dr_kj / dA_ij = -2 R_k,ij``;
    - the second-order part of ``r_k`` is ``diag(A^2 R_k - A R_k A)``
      (see :func:`_newton_terms`).

    Where the Hessian is not positive definite, the step is Newton's with its
    eigenvalues in absolute value (:func:`_descent`). Each step turns no axis
    by more than half a radian, and halves until it lowers ``h`` by a part of
    what its quadratic model predicts (Armijo), so that ``h`` never rises. A
    cell is done when a step changes ``h`` by at most ``tol`` relative to
    ``1 + |h|``, the majorise-minimise iterations' rule: after a step of
    Newton's quadratic convergence, ``h`` is then at its least to
    round-off.

    Returns
    -------
    orientation : ndarray of shape (n_cells, n_features, n_features)
        Where each cell has got to.
    solved : ndarray of shape (n_cells,)
        Whether each cell is done. A cell is not, and the majorise-minimise
        iterations go on with it, where it is still moving after
        ``max_iter`` steps, and from where it was where its criterion,
        gradient or Hessian are not finite, where a spread comes within
        ``bounds`` (:func:`_round_off_bounds`; a component singular along an
        axis, where the criterion of VVE has no least value and its steps
        would go on to round-off), or with ``convex_only`` where its first
        Hessian is not positive definite.
    """
    d = scatter.shape[-1]
    G = orientation.shape[0]
    first, second, _ = _pair_layout(d)
    identity = np.eye(d)
    start = orientation
    criterion, diagonal, rotated = _profile(
        orientation, scatter, mass, segments, variable_volume
    )

    def singular():
        lowest = np.minimum.reduceat(
            np.minimum.reduce(diagonal, axis=1), segments.starts
        )
        return ~(lowest > bounds)

    active = np.isfinite(criterion) & ~singular()
    left = ~active
    solved = np.zeros(G, dtype=bool)
    for _ in range(max_iter):
        gradient, hessian = _newton_terms(
            diagonal, rotated, mass, segments, variable_volume
        )
        finite = np.isfinite(gradient).all(axis=1) & np.isfinite(hessian).all(
            axis=(1, 2)
        )
        left |= active & ~finite
        active &= finite
        hessian[~active] = np.eye(first.size)
        gradient[~active] = 0.0
        step, convex = _descent(hessian, gradient)
        if convex_only:
            left |= active & ~convex
            active &= convex
            convex_only = False
        predicted = np.einsum("gm,gm->g", gradient, step)  # < 0
        size = np.where(
            active, np.minimum(1.0, 0.5 / np.abs(step).max(axis=1, initial=_EPS)), 0.0
        )
        for _ in range(40):
            skew = np.zeros((G, d, d))
            skew[:, first, second] = 0.5 * size[:, None] * step
            skew[:, second, first] = -skew[:, first, second]
            trial = np.linalg.solve(identity - skew, identity + skew) @ orientation
            new, new_diagonal, new_rotated = _profile(
                trial, scatter, mass, segments, variable_volume
            )
            accepted = active & (new <= criterion + 1e-4 * size * predicted)
            retry = active & ~accepted
            if not retry.any():
                break
            size = np.where(retry, 0.5 * size, size)
        change = np.abs(new - criterion) / (1 + np.abs(criterion))
        keep = accepted[segments.cell]
        orientation = np.where(accepted[:, None, None], trial, orientation)
        diagonal = np.where(keep[:, None], new_diagonal, diagonal)
        rotated = np.where(keep[:, None, None], new_rotated, rotated)
        criterion = np.where(accepted, new, criterion)
        # A step that the line search cannot take is round-off's: done.
        solved |= active & ((accepted & (change <= tol)) | ~accepted)
        degenerate = active & singular()
        solved &= ~degenerate
        left |= degenerate
        active &= ~(solved | degenerate)
        if not active.any():
            break
    return np.where(left[:, None, None], start, orientation), solved


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
