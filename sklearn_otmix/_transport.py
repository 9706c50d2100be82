r"""The transport problem: the E-step of the mixture as entropic optimal transport.

Data points carry the masses ``a`` (the normalised sample weights) and mixture
components the masses ``pi``. With the cost ``C_ik = -log p_k(x_i)`` the E-step is

.. math::

    \min_{P \geq 0,\ P 1 = a} F(P) = \langle C, P \rangle
        + \varepsilon \, \mathrm{KL}(P \,|\, a \otimes \pi)
        + \rho \, \mathrm{KL}(P^\top 1 \,|\, t)

with ``reg`` = :math:`\varepsilon`, ``reg_m`` = :math:`\rho` and
``target_weights`` = :math:`t`. Every plan is computed by a POT solver; this module
holds those calls and the value of :math:`F`.

References
----------
.. [1] T. Vayer, E. Lasalle. A note on the relations between mixture models,
   maximum-likelihood and entropic optimal transport. arXiv:2501.12005, 2025.
.. [2] G. Mena, A. Nejatbakhsh, E. Varol, J. Niles-Weed. Sinkhorn EM: an
   expectation-maximization algorithm based on entropic optimal transport.
   arXiv:2006.16548, 2020.
"""

import math
import warnings
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import numpy as np
import ot
from scipy.special import xlogy

from ._array_api import astype, logsumexp, namespace_of, on_device_of
from ._array_api import xlogy as _xp_xlogy
from ._gaussian import row_blocks


def _shifted_cost(cost, log_weights, reg):
    """Cost minus its row-wise minimum after the reference weights are folded in.

    Subtracting ``s_i = min_k (C_ik - reg * log pi_k)`` from row ``i`` changes no
    plan (a row shift is absorbed by the row scaling, which the constraint
    ``P 1 = a`` fixes), but it makes the largest entry of each row of the kernel
    ``a_i pi_k exp(-(C_ik - s_i) / reg)`` equal to ``a_i``, at the minimiser
    ``k = nearest_i``, so that costs in the thousands never underflow a row.

    Parameters
    ----------
    cost : ndarray of shape (n_samples, n_components)
    log_weights : ndarray of shape (n_components,)
    reg : float

    Returns
    -------
    shifted : ndarray of shape (n_samples, n_components)
        ``C - s[:, None]``.
    shift : ndarray of shape (n_samples,)
        ``s``.
    nearest : ndarray of shape (n_samples,)
        The minimisers.
    """
    xp = namespace_of(cost)
    folded = cost - reg * log_weights
    nearest = xp.argmin(folded, axis=1)
    if xp is np:  # a gather: faster than a second reduction
        shift = folded[np.arange(folded.shape[0]), nearest]
    else:  # no integer-array indexing in the array API
        shift = xp.min(folded, axis=1)
    return cost - shift[:, np.newaxis], shift, nearest


def _floor_kernel(shifted, log_mass, log_weights, reg):
    """Clip the shifted cost so that no kernel entry underflows to zero.

    The kernel is ``a_i pi_k exp(-shifted_ik / reg)``. An entry clipped here
    stands for a plan entry below the smallest normal float of the dtype, zero to
    working precision either way; POT's scaling loop, however, stops on a column
    whose kernel is exactly zero. The clip is skipped when no entry comes near
    underflow.
    """
    log_tiny = math.log(np.finfo(shifted.dtype).tiny)
    smallest_reference = np.min(log_mass) + np.min(log_weights)
    if np.max(shifted) / reg - smallest_reference < -0.9 * log_tiny:
        return shifted
    log_reference = log_mass[:, np.newaxis] + log_weights
    return np.minimum(shifted, reg * (log_reference - log_tiny), out=shifted)


# Rows per block where a computation would otherwise make (n_samples, n_components)
# temporaries: about a megabyte each for ten components.
_BLOCK_ROWS = 16384


def _row_slices(n_samples):
    return [slice(i, i + _BLOCK_ROWS) for i in range(0, n_samples, _BLOCK_ROWS)]


class TransportResult(NamedTuple):
    """An E-step: the plan, the objective ``F`` there, whether the solver reached
    ``sinkhorn_tol``, and the components' potentials (balanced problem), which
    warm-start the next E-step."""

    plan: np.ndarray
    value: float
    converged: bool
    potentials: np.ndarray | None = None


def _semi_relaxed_plan(cost, sample_mass, weights, reg):
    r"""``reg_m = 0``: the closed form, as POT's unbalanced Sinkhorn.

    With no penalty on the column marginal (``reg_m = (inf, 0)``) the column
    scaling is identically one and a single row scaling is exact. The optimal
    value is Gibbs' free energy,

    .. math::

        F^\star = -\varepsilon \sum_i a_i \log \sum_k \pi_k e^{-C_{ik}/\varepsilon}
                = \sum_i a_i \left(s_i + \varepsilon \log \frac{P_{i k_i}}{a_i}\right),

    read off the plan at ``k_i = nearest_i``, where the kernel entry is ``a_i``
    (see :func:`_shifted_cost`).
    """
    log_weights = np.log(weights)
    shifted, shift, nearest = _shifted_cost(cost, log_weights, reg)
    log_mass = np.log(sample_mass)
    _floor_kernel(shifted, log_mass, log_weights, reg)
    # With no penalty on the column marginal its target plays no role.
    target = np.full_like(weights, 1.0 / weights.shape[0])
    plan = ot.unbalanced.sinkhorn_knopp_unbalanced(
        sample_mass,
        target,
        shifted,
        reg,
        reg_m=(math.inf, 0.0),
        c=sample_mass[:, np.newaxis] * weights,
        numItermax=1,
    )
    nearest_plan = plan[np.arange(len(plan)), nearest]
    value = np.sum(sample_mass * (shift + reg * (np.log(nearest_plan) - log_mass)))
    return TransportResult(plan, float(value) / float(np.sum(sample_mass)), True)


def _xp_semi_relaxed_plan(cost, sample_mass, weights, reg):
    r"""``reg_m = 0`` in another namespace: the closed form itself,

    .. math::

        P_{ik} = a_i \operatorname{softmax}_k(\log \pi_k - C_{ik} / \varepsilon),
        \qquad F^\star = -\varepsilon \sum_i a_i
            \log \sum_k \pi_k e^{-C_{ik}/\varepsilon},

    in log-sum-exp form (no entry underflows a row), which is what POT's single
    scaling computes on numpy arrays. Passing the arrays to that POT call instead
    was measured on an H200 (n=1,000,000, d=32, K=16, diag): 1.5 times the time
    and 1.8 times the memory of this form, and slower than GaussianMixture.
    """
    xp = namespace_of(cost)
    logits = xp.log(weights) - cost / reg
    log_norm = logsumexp(logits, axis=1, xp=xp)
    plan = sample_mass[:, np.newaxis] * xp.exp(logits - log_norm[:, np.newaxis])
    value = -reg * float(sample_mass @ log_norm) / float(xp.sum(sample_mass))
    return TransportResult(plan, value, True)


def _balanced_plan(cost, sample_mass, target_weights, reg, max_iter, tol, warm):
    r"""``reg_m = inf``: the balanced problem through its semi-dual, with POT.

    Eliminating the potentials of the samples leaves a smooth concave problem in
    the ``n_components`` potentials ``g`` of the components,

    .. math::

        \max_g \ \phi(g) = \sum_k t_k g_k - \varepsilon \sum_i a_i
            \log \sum_k e^{(g_k - C_{ik}) / \varepsilon},

    whose gradient is the column residual ``t - P^T 1`` of the plan
    ``P_ik = a_i softmax_k((g_k - C_ik) / epsilon)`` (its row marginal is exact).

    - Without a warm start (the first E-step), POT's ``smooth_ot_semi_dual``
      (negative-entropy regulariser: the entropic problem) solves it with
      L-BFGS-B, to ``sqrt(tol)``: L-BFGS-B stops on the relative decrease of
      :math:`\phi`, which on well separated clusters comes long before the
      residual is small, where Sinkhorn's scalings would need thousands of
      iterations.
    - From the previous E-step's potentials, one sweep of POT's log-domain
      Sinkhorn re-solves rows and then columns exactly.

    Newton steps on :math:`\phi` then take the residual below ``tol``
    (:func:`newton`), along decreasing temperatures where the semi-dual is
    nearly piecewise linear (:func:`newton_continuation`).

    In other array namespaces (torch, CuPy, ...) the first E-step goes straight
    to the continuation from zero potentials (L-BFGS-B is SciPy's, on numpy),
    and the Newton systems are solved in the namespace.
    """
    xp = namespace_of(cost)
    # In float64 whatever the data: float32 masses sum to one only within 1e-7,
    # and the columns cannot then come within sinkhorn_tol of t.
    a = astype(sample_mass, xp.float64, copy=True)
    total = float(xp.sum(a))
    a /= total
    t = astype(target_weights, xp.float64, copy=True)
    t /= xp.sum(t)
    shifted = astype(cost, xp.float64, copy=True)  # a copy, shifted in place
    shifted -= xp.min(shifted, axis=1, keepdims=True)
    evaluate = _in_memory_semi_dual(shifted, a, t)
    if warm is None and xp is not np:
        # L-BFGS-B runs on numpy only: Newton's method from zero potentials.
        residual = math.inf
    else:
        potentials = (
            _lbfgs_potentials(shifted, a, t, reg, max_iter, tol)
            if warm is None
            else _sinkhorn_sweep(shifted, a, t, reg, warm)
        )
        point, potentials, residual = newton(evaluate, reg, potentials, tol, max_iter)
    if residual > tol:
        point, potentials, residual = newton_continuation(
            evaluate, reg, float(xp.max(shifted)), t.shape[0], tol, max_iter, like=t
        )
    plan = total * astype(point.plan, cost.dtype)
    value = objective(cost, plan, sample_mass, target_weights, reg, math.inf, None)
    return TransportResult(plan, value, bool(residual <= tol), potentials)


def _lbfgs_potentials(shifted, a, t, reg, max_iter, tol):
    """Components' potentials from POT's ``smooth_ot_semi_dual`` (numpy only)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence is measured on the plan
        # POT keeps the second marginal exact: the problem is passed transposed,
        # samples second.
        _, log = ot.smooth.smooth_ot_semi_dual(
            t,
            a,
            shifted.T,
            reg,
            reg_type="kl",
            numItermax=max_iter,
            stopThr=math.sqrt(tol),
            log=True,
        )
    return log["alpha"]


def _sinkhorn_sweep(shifted, a, t, reg, warm):
    """One Sinkhorn sweep from the components' potentials ``warm``: the rows
    exact, then the columns; by POT's log-domain Sinkhorn where POT takes the
    arrays, as the column update ``g + reg (log t - log P^T 1)`` otherwise."""
    xp = namespace_of(shifted)
    if _pot_backend(shifted) is None:
        plan, _ = _semi_dual(shifted, a, t, warm, reg)
        return column_sweep(warm, xp.sum(plan, axis=0), t, reg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence is measured on the plan
        # POT updates the second marginal first: passed transposed, as above.
        _, log = ot.sinkhorn(
            t,
            a,
            shifted.T,
            reg,
            method="sinkhorn_log",
            numItermax=1,
            warmstart=(warm / reg, xp.zeros_like(a)),
            log=True,
        )
    return reg * log["log_u"]


def column_sweep(potentials, column, t, reg):
    """Sinkhorn's column update of the components' potentials: with the rows
    exact, ``g + reg (log t - log P^T 1)`` makes the column marginal ``t``."""
    xp = namespace_of(column)
    return potentials + reg * (xp.log(t) - xp.log(column))


def _pot_backend(*arrays):
    """POT's backend for ``arrays``; None where POT has none (``array_api_strict``)."""
    try:
        return ot.backend.get_backend(*arrays)
    except ValueError:
        return None


def _semi_dual(shifted, a, t, potentials, reg):
    r"""The semi-dual's plan ``P_ik = a_i softmax_k((g_k - C_ik) / reg)`` and value.

    Returns
    -------
    plan : ndarray of shape (n_samples, n_components)
    value : float
        :math:`\phi(g)`.
    """
    xp = namespace_of(shifted)
    plan = potentials - shifted  # logits, times reg
    plan /= reg
    largest = xp.max(plan, axis=1, keepdims=True)
    plan -= largest
    plan = np.exp(plan, out=plan) if xp is np else xp.exp(plan)
    row_sums = xp.sum(plan, axis=1)
    plan *= (a / row_sums)[:, np.newaxis]
    log_partition = largest[:, 0] + xp.log(row_sums)
    return plan, float(t @ potentials - reg * (a @ log_partition))


class DualPoint(NamedTuple):
    r"""A concave dual objective at some potentials ``g`` of the components, as
    Newton's method needs it.

    Attributes
    ----------
    value : float
        The objective, e.g. the semi-dual :math:`\phi(g)`.
    gradient : ndarray of shape (n_components,)
        Its gradient, e.g. the column residual ``t - P^T 1``.
    curvature : callable
        Returns minus its Hessian, shape (n_components, n_components), positive
        semi-definite: only the points where a step is taken need it.
    plan : ndarray of shape (n_samples, n_components) or None
        The plan itself, where it is held in memory.
    """

    value: float
    gradient: np.ndarray
    curvature: Callable[[], np.ndarray]
    plan: np.ndarray | None = None


def balanced_point(value, column, gram, t, reg, plan=None):
    """The semi-dual's :class:`DualPoint` from sums over the plan.

    ``column`` is ``P^T 1`` and ``gram()`` returns ``P^T diag(1/a) P``: the
    negated Hessian is ``(diag(P^T 1) - P^T diag(1/a) P) / reg``.
    """

    def curvature():
        xp = namespace_of(column)
        if xp is np:
            return (np.diag(column) - gram()) / reg
        return (column * xp.eye(column.shape[0], **on_device_of(column)) - gram()) / reg

    return DualPoint(value, t - column, curvature, plan)


def _in_memory_semi_dual(shifted, a, t):
    """The semi-dual of in-memory costs: ``evaluate(potentials, reg)``."""

    def evaluate(potentials, reg):
        plan, value = _semi_dual(shifted, a, t, potentials, reg)
        gram = partial(_weighted_gram, plan, 1.0 / a)
        column = namespace_of(plan).sum(plan, axis=0)
        return balanced_point(value, column, gram, t, reg, plan)

    return evaluate


def newton(evaluate, reg, potentials, tol, max_steps, *, shift_invariant=True):
    r"""Newton steps on a concave dual until its gradient is within ``tol``.

    On the semi-dual :math:`\phi` the gradient is the column residual
    ``r = t - P^T 1`` and the negated Hessian
    ``H = (diag(P^T 1) - P^T diag(1/a) P) / reg`` is positive semi-definite with
    kernel ``1`` (``phi`` ignores a common shift of ``g``), so the step solves
    ``(H + 1 1^T) delta = r`` in the least-squares sense, within a trust radius.
    A step is halved until it increases the objective or decreases the
    gradient (the latter decides near the solution, where the objective is flat
    to round-off). Near the solution each step squares the gradient. At most
    ``max_steps`` steps (``sinkhorn_max_iter``).

    Parameters
    ----------
    evaluate : callable
        ``evaluate(potentials, reg)`` returns the :class:`DualPoint` there: the
        samples' side of the problem (in memory, or chunks of a Dask array) is
        only seen through it.
    reg : float
        Temperature passed to ``evaluate``; the trust radius starts at ten times
        it.
    potentials : ndarray of shape (n_components,)
        Starting point.
    tol : float
    max_steps : int
    shift_invariant : bool, default=True
        Whether the objective ignores a common shift of the potentials (the
        balanced semi-dual); otherwise the Hessian is taken as definite.

    Returns
    -------
    point : DualPoint
        At the final potentials.
    potentials : ndarray of shape (n_components,)
    residual : float
        ``max |gradient|``, e.g. ``max |P^T 1 - t|``.
    """
    xp = namespace_of(potentials)
    point = evaluate(potentials, reg)
    error = float(xp.max(xp.abs(point.gradient)))
    n_components = potentials.shape[0]
    kernel = 0.0
    if shift_invariant:
        kernel = xp.ones(
            (n_components, n_components),
            dtype=potentials.dtype,
            **on_device_of(potentials),
        )
    radius = 10.0 * reg
    for _ in range(max_steps):
        if error <= tol:
            break
        step = _least_squares(point.curvature() + kernel, point.gradient)
        # Where H is nearly singular the step can be huge: within a trust radius,
        # which grows after each full step taken and shrinks after each halving.
        length = float(xp.max(xp.abs(step)))
        if length > radius:
            step *= radius / length
        for _ in range(40):
            trial = evaluate(potentials + step, reg)
            trial_error = float(xp.max(xp.abs(trial.gradient)))
            if trial.value > point.value or trial_error < error:
                break
            step /= 2
            radius /= 2
        else:
            break  # no progress left at working precision
        radius = max(radius, 2 * float(xp.max(xp.abs(step))))
        potentials = potentials + step
        point, error = trial, trial_error
    return point, potentials, error


def _least_squares(matrix, vector):
    """Least-squares solution of ``matrix @ x = vector``: a cluster that no other
    component reaches leaves the Hessian singular, and its potential undetermined,
    to working precision."""
    xp = namespace_of(matrix)
    if xp is np:
        return np.linalg.lstsq(matrix, vector, rcond=None)[0]
    return xp.linalg.pinv(matrix) @ vector


def _weighted_gram(plan, row_weights):
    """``P^T diag(w) P``, block by block of rows (no full-size temporary)."""
    xp = namespace_of(plan)
    if xp is not np:
        return plan.T @ (plan * row_weights[:, np.newaxis])
    gram = np.zeros((plan.shape[1], plan.shape[1]))
    for rows in _row_slices(len(plan)):
        gram += plan[rows].T @ (plan[rows] * row_weights[rows, np.newaxis])
    return gram


def newton_continuation(
    evaluate, reg, spread, n_components, tol, max_steps, *, like=None
):
    """Newton's method along decreasing temperatures, down to ``reg``.

    When ``reg`` is small next to the spread of the costs, the semi-dual is nearly
    piecewise linear: its Hessian vanishes wherever no sample sits on the fence
    between two components, and neither L-BFGS-B nor Newton's method moves far
    enough. At a temperature above the spread it is smooth; dividing the
    temperature by four at a time, each problem starts in the quadratic basin of
    the previous one's solution.

    Parameters
    ----------
    evaluate, reg, tol, max_steps
        As :func:`newton`.
    spread : float
        The largest entry of the row-shifted cost.
    n_components : int
    like : array, default=None
        The potentials start at zero in its namespace, on its device and of its
        dtype; numpy float64 when None.

    Returns
    -------
    point, potentials, residual
        As :func:`newton`.
    """
    temperatures = [reg]
    while temperatures[-1] < spread:
        temperatures.append(4.0 * temperatures[-1])
    if like is None:
        potentials = np.zeros(n_components)
    else:
        potentials = namespace_of(like).zeros(
            n_components, dtype=like.dtype, **on_device_of(like)
        )
    for temperature in reversed(temperatures):
        point, potentials, residual = newton(
            evaluate, temperature, potentials, tol, max_steps
        )
    return point, potentials, residual


def _exact_rows(plan, sample_mass):
    """Rescale the rows to sum to ``sample_mass`` exactly: Sinkhorn's row update.

    POT's loops end on a column update, which leaves the row marginal off by up
    to their tolerance; the M-step and the objective rely on ``P 1 = a``.
    """
    xp = namespace_of(plan)
    return plan * (sample_mass / xp.sum(plan, axis=1))[:, np.newaxis]


def _unbalanced_plan(
    cost, sample_mass, weights, target_weights, reg, reg_m, max_iter, tol
):
    """``0 < reg_m < inf``: POT's stabilised unbalanced Sinkhorn.

    The reference passed is ``1 (x) pi`` rather than ``a (x) pi``: a row factor of
    the reference is absorbed by the hard row constraint, and this one keeps the
    kernel's row sums near one, far above POT's ``1e-16`` safeguard.
    """
    xp = namespace_of(cost)
    total = xp.sum(sample_mass)
    shifted, _, _ = _shifted_cost(cost, xp.log(weights), reg)
    reference = xp.broadcast_to(weights, cost.shape)
    solver = (
        ot.unbalanced.sinkhorn_unbalanced
        if _pot_backend(cost) is not None
        else _log_sinkhorn_unbalanced
    )
    plan, converged = _quietly(
        solver,
        sample_mass / total,
        target_weights,
        shifted,
        reg,
        reg_m=(math.inf, reg_m),
        method="sinkhorn_stabilized",
        c=reference,
        numItermax=max_iter,
        stopThr=tol,
    )
    plan = _exact_rows(plan, sample_mass)
    value = objective(cost, plan, sample_mass, weights, reg, reg_m, target_weights)
    return TransportResult(plan, value, converged)


def _log_sinkhorn_unbalanced(a, b, M, reg, reg_m, method, c, numItermax, stopThr):
    r"""Log-domain unbalanced Sinkhorn with a hard row marginal, in any namespace.

    POT has no backend for some array-API namespaces (``array_api_strict``): this
    is the iteration of POT's ``sinkhorn_unbalanced`` for ``reg_m=(inf, rho)``,
    written with array-API operations and taking POT's arguments. With potentials
    ``f`` (samples) and ``g`` (components) and ``K = c e^{-M / reg}``,

    .. math::

        f_i = \varepsilon \log a_i
              - \varepsilon \log \sum_k K_{ik} e^{g_k/\varepsilon},
        \qquad
        g_k = \frac{\rho}{\rho + \varepsilon} \Bigl(\varepsilon \log b_k
              - \varepsilon \log \sum_i K_{ik} e^{f_i/\varepsilon}\Bigr),

    until ``g / reg`` moves by less than ``stopThr``; a ``UserWarning`` if not
    within ``numItermax`` sweeps, as POT's.
    """
    xp = namespace_of(M)
    rho = reg_m[1]
    log_kernel = xp.log(c) - M / reg
    g = xp.zeros_like(b)
    for _ in range(numItermax):
        f = reg * (xp.log(a) - logsumexp(log_kernel + g / reg, axis=1, xp=xp))
        column = logsumexp(log_kernel + f[:, np.newaxis] / reg, axis=0, xp=xp)
        previous, g = g, rho / (rho + reg) * reg * (xp.log(b) - column)
        if float(xp.max(xp.abs(g - previous))) / reg < stopThr:
            break
    else:
        warnings.warn("Sinkhorn did not converge", UserWarning, stacklevel=2)
    return xp.exp(log_kernel + (f[:, np.newaxis] + g) / reg)


def _quietly(solver, *args, **kwargs):
    """Call a POT solver; its ``UserWarning`` (not converged, numerical errors)
    becomes a flag, which the estimator reports once in its own terms.

    Returns
    -------
    plan, converged
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan = solver(*args, **kwargs)
    return plan, not any(issubclass(w.category, UserWarning) for w in caught)


def transport_plan(
    cost,
    sample_mass,
    weights,
    *,
    reg,
    reg_m,
    target_weights,
    max_iter,
    tol,
    warm=None,
):
    r"""E-step: ``P = argmin F(P)`` over plans with row marginal ``sample_mass``.

    .. math::

        \min_{P \geq 0,\ P 1 = a} \langle C, P \rangle
            + \varepsilon\, \mathrm{KL}(P | a \otimes \pi)
            + \rho\, \mathrm{KL}(P^\top 1 | t)

    - ``reg_m = 0`` (semi-relaxed): :math:`P_{ik} = a_i \pi_k e^{-C_{ik}/\varepsilon}
      / \sum_l \pi_l e^{-C_{il}/\varepsilon}`; EM's E-step when ``reg = 1``.
    - ``reg_m = inf`` (balanced): :math:`P \in \Pi(a, t)`, Sinkhorn EM.
    - otherwise (unbalanced): the column marginal is pulled toward ``t``.

    Parameters
    ----------
    cost : ndarray of shape (n_samples, n_components)
        ``C_ik = -log p_k(x_i)``, finite.
    sample_mass : ndarray of shape (n_samples,)
        Row marginal ``a``, positive, in any unit: the plan comes in the same unit.
    weights : ndarray of shape (n_components,)
        Current mixing weights ``pi``, positive.
    reg : float
        Entropic temperature ``epsilon > 0``.
    reg_m : float
        Marginal penalty ``rho`` in ``[0, inf]``.
    target_weights : ndarray of shape (n_components,)
        ``t``, summing to one.
    max_iter : int
        Maximum number of Sinkhorn iterations (``reg_m > 0``).
    tol : float
        Stopping tolerance of the Sinkhorn iterations (``reg_m > 0``).
    warm : ndarray of shape (n_components,), default=None
        The previous E-step's ``potentials`` (balanced problem).

    Returns
    -------
    result : TransportResult
        ``plan`` of shape (n_samples, n_components), finite, with row sums
        ``sample_mass``; ``value``, the objective ``F`` there (see
        :func:`objective`); ``converged``.
    """
    if reg_m == 0.0:
        if namespace_of(cost) is not np:
            return _xp_semi_relaxed_plan(cost, sample_mass, weights, reg)
        return _semi_relaxed_plan(cost, sample_mass, weights, reg)
    if reg_m == math.inf:
        return _balanced_plan(
            cost, sample_mass, target_weights, reg, max_iter, tol, warm
        )
    return _unbalanced_plan(
        cost, sample_mass, weights, target_weights, reg, reg_m, max_iter, tol
    )


def semi_relaxed_in_blocks(cost, X, sample_mass, weights, reg):
    """``reg_m = 0`` on in-memory data, block by block of rows.

    The problem separates over samples: each block's plan is solved on its own
    (:func:`transport_plan`), so that the costs never exist as a whole.

    Parameters
    ----------
    cost : callable
        ``cost(X[rows])`` returns the costs of those rows.
    X : ndarray of shape (n_samples, n_features)
    sample_mass : ndarray of shape (n_samples,)
    weights : ndarray of shape (n_components,)
    reg : float

    Returns
    -------
    result : TransportResult
    """
    n_samples = X.shape[0]
    n_components = weights.shape[0]
    plan = np.empty((n_samples, n_components), dtype=X.dtype)
    value = 0.0
    # Blocks of (n_samples, n_components) temporaries about a megabyte: in
    # cache, and large enough that the solver's per-call overhead is small.
    row_bytes = 16 * n_components * X.itemsize
    for rows in row_blocks(n_samples, row_bytes, max_rows=n_samples):
        block = _semi_relaxed_plan(cost(X[rows]), sample_mass[rows], weights, reg)
        plan[rows] = block.plan
        value += block.value * float(np.sum(sample_mass[rows]))
    return TransportResult(plan, value / float(np.sum(sample_mass)), True)


def objective(cost, plan, sample_mass, weights, reg, reg_m, target_weights):
    r"""Value of the transport objective ``F`` at a plan.

    .. math::

        F(P) = \langle C, P \rangle + \varepsilon\, \mathrm{KL}(P | a \otimes \pi)
               + \rho\, \mathrm{KL}(P^\top 1 | t),
        \qquad \mathrm{KL}(p | q) = \sum p \log(p / q).

    The last term is left out for ``reg_m`` 0 and infinity (where the plan's column
    marginal is ``t`` by construction). For ``reg = 1`` and ``reg_m = 0`` the value
    at the optimal plan is the weighted negative log-likelihood (Gibbs variational
    principle), which the tests check.

    Parameters
    ----------
    cost, plan : ndarray of shape (n_samples, n_components)
    sample_mass : ndarray of shape (n_samples,)
    weights, target_weights : ndarray of shape (n_components,)
    reg, reg_m : float

    Returns
    -------
    value : float
    """
    # Plans carry unnormalised masses w (a = w / W): F is homogeneous of degree one
    # in (P, w), so the value is that of the unnormalised pair divided by W.
    xp = namespace_of(plan)
    if xp is not np:
        return _xp_objective(
            xp, cost, plan, sample_mass, weights, reg, reg_m, target_weights
        )
    total = float(np.sum(sample_mass))
    log_weights = np.log(weights)
    value = 0.0
    for rows in _row_slices(len(plan)):
        block = plan[rows]
        log_reference = np.log(sample_mass[rows])[:, np.newaxis] + log_weights
        terms = xlogy(block, block) - block * log_reference
        terms *= reg
        terms += block * cost[rows]
        value += float(np.sum(terms))
    value /= total
    if 0.0 < reg_m < math.inf:
        column_mass = np.sum(plan, axis=0) / total
        value += reg_m * float(np.sum(xlogy(column_mass, column_mass / target_weights)))
    return value


def _xp_objective(xp, cost, plan, sample_mass, weights, reg, reg_m, target_weights):
    """:func:`objective` in another namespace, in whole-array operations."""
    total = float(xp.sum(sample_mass))
    log_reference = xp.log(sample_mass)[:, np.newaxis] + xp.log(weights)
    terms = reg * (_xp_xlogy(plan, plan, xp) - plan * log_reference) + plan * cost
    value = float(xp.sum(terms)) / total
    if 0.0 < reg_m < math.inf:
        column_mass = xp.sum(plan, axis=0) / total
        divergence = _xp_xlogy(column_mass, column_mass / target_weights, xp)
        value += reg_m * float(xp.sum(divergence))
    return value
