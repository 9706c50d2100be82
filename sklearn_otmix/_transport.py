r"""The transport problem: the E-step of the mixture as entropic optimal transport.

Data points carry the masses ``a`` (the normalised sample weights) and mixture
components the masses ``pi``. With the cost ``C_ik = -log p_k(x_i)`` the E-step is

.. math::

    \min_{P \geq 0,\ P 1 = a} F(P) = \langle C, P \rangle
        + \varepsilon \, \mathrm{KL}(P \,|\, a \otimes \pi)
        + \rho \, \mathrm{KL}(P^\top 1 \,|\, t)

with ``reg`` = :math:`\varepsilon`, ``reg_m`` = :math:`\rho` and
``target_weights`` = :math:`t`. The samples are seen through the data layer
(:mod:`sklearn_otmix._data`): block by block, in memory or in the chunks of a
Dask array. How each regime is solved:

- ``reg_m = 0`` (semi-relaxed): the closed form, block by block.
- ``reg_m = inf`` (balanced): the semi-dual in the components' potentials,
  started by one Sinkhorn sweep (POT's where the plan is in memory) from the
  previous E-step's potentials, or from the semi-relaxed plan, and finished by
  Newton's method.
- ``0 < reg_m < inf`` (unbalanced): POT's stabilised unbalanced Sinkhorn where
  the plan is in memory and POT takes the arrays; otherwise (Dask chunks,
  ``array_api_strict``) Newton's method on the dual.

Every solver leaves a :class:`Transport`: what each block needs to form its rows
of the plan, which the fit reads in one more pass (with the M-step's statistics).

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

from ._backend import (
    astype,
    exp,
    least_squares,
    namespace_of,
    on_device_of,
    row_max,
    row_sum,
    to_numpy,
    xlogy,
)
from ._data import LABELS, InMemory, add


class TransportProblem(NamedTuple):
    """The E-step's settings: ``reg`` (epsilon), ``reg_m`` (rho), the target
    weights ``t`` (an array summing to one), the solver's ``max_iter`` and
    ``tol`` (``sinkhorn_max_iter``, ``sinkhorn_tol``), and the bounds
    ``(low, high)`` on the column marginal (``weight_bounds``, with
    ``reg_m=0``; float64 arrays) or None."""

    reg: float
    reg_m: float
    target_weights: np.ndarray
    max_iter: int
    tol: float
    bounds: tuple | None = None


class Transport(NamedTuple):
    """A solved E-step, read block by block.

    Attributes
    ----------
    block : callable
        ``block(costs, mass, *state_b)`` returns the block's rows of the plan (in
        the unit of ``mass``) and its terms of ``F`` (times the total mass,
        without the column term ``rho KL(P^T 1 | t)``); ``costs()`` computes the
        block's costs, for the solvers that do not keep them.
    state : tuple
        Per-block parts (see the data layer's ``map``) passed to ``block``.
    converged : bool
        Whether the solver reached its tolerance.
    potentials : ndarray of shape (n_components,) or None
        The components' potentials, which warm-start the next E-step.
    """

    block: Callable
    state: tuple
    converged: bool
    potentials: np.ndarray | None = None


class TransportResult(NamedTuple):
    """An E-step on an in-memory cost matrix (:func:`transport_plan`)."""

    plan: np.ndarray
    value: float
    converged: bool
    potentials: np.ndarray | None = None


def solve_transport(samples, cost_of, weights, problem, warm=None):
    """E-step: the plan ``argmin F(P)`` over ``P >= 0`` with ``P 1 = a``.

    Parameters
    ----------
    samples : data layer
        The samples' blocks and masses (see :mod:`sklearn_otmix._data`).
    cost_of : callable
        ``cost_of(x, labels)`` returns the costs ``C`` of a block of rows and
        their labels (see :data:`sklearn_otmix._data.LABELS`), shape (n_rows,
        n_components): finite, or ``+inf`` where a row may send no mass (the
        plan is exactly zero there); every row has a finite entry.
    weights : ndarray of shape (n_components,)
        Current mixing weights ``pi``, positive.
    problem : TransportProblem
    warm : ndarray of shape (n_components,), default=None
        The previous E-step's potentials.

    Returns
    -------
    transport : Transport
    """
    if problem.bounds is not None:
        return _bounded(samples, cost_of, weights, problem, warm)
    if problem.reg_m == 0.0:
        log_weights = namespace_of(weights).log(weights)
        block = partial(_semi_relaxed_block, log_weights=log_weights, reg=problem.reg)
        return Transport(block, (), True)
    if problem.reg_m == math.inf:
        return _balanced(samples, cost_of, problem, warm)
    if samples.holds_plan:
        return _unbalanced_pot(samples, cost_of, weights, problem)
    return _unbalanced_dual(samples, cost_of, weights, problem, warm)


def column_term(column_mass, target_weights, reg_m):
    """``rho KL(P^T 1 | t)`` for a normalised column marginal; 0 for ``rho`` 0 or
    infinity (where the column marginal is free, or ``t`` by construction)."""
    if not 0.0 < reg_m < math.inf:
        return 0.0
    xp = namespace_of(column_mass)
    return reg_m * float(xp.sum(xlogy(column_mass, column_mass / target_weights)))


# --------------------------------------------------------------------------------
# Blocks of the plan


def row_softmax(logits, row_mass=None):
    """``P_ik = a_i softmax_k(logits_ik)`` and ``log sum_k exp(logits_ik)``.

    ``logits`` is overwritten; the largest entry of each row is taken out first,
    so that costs in the thousands never underflow a row. Rows sum to one when
    ``row_mass`` is None.
    """
    xp = namespace_of(logits)
    largest = row_max(logits)
    logits -= largest
    plan = exp(logits)
    row_sums = row_sum(plan)
    scale = 1.0 / row_sums if row_mass is None else row_mass / row_sums
    plan *= scale[:, None]
    return plan, largest[:, 0] + xp.log(row_sums)


def _semi_relaxed_block(costs, mass, log_weights, reg):
    r"""``reg_m = 0``: the closed form on a block,

    .. math::

        P_{ik} = a_i \operatorname{softmax}_k(\log \pi_k - C_{ik} / \varepsilon),
        \qquad F^\star = -\varepsilon \sum_i a_i
            \log \sum_k \pi_k e^{-C_{ik}/\varepsilon},

    the solution of POT's unbalanced problem with ``reg_m = (inf, 0)`` (where one
    row scaling is exact), in log-sum-exp form; its value is Gibbs' free energy,
    the weighted negative log-likelihood for ``reg = 1``.
    """
    logits = costs() / -reg
    logits += log_weights
    plan, log_norm = row_softmax(logits, mass)
    return plan, -reg * (mass @ log_norm)


def objective_terms(cost, plan, sample_mass, log_weights, reg):
    """``<C, P> + reg KL(P | a (x) pi)`` summed over the rows given (unnormalised
    masses: ``P`` and ``a`` in the same unit); an infinite cost where the plan
    is zero adds nothing."""
    xp = namespace_of(plan)
    log_reference = xp.log(sample_mass)[:, None] + log_weights
    terms = xlogy(plan, plan) - plan * log_reference
    terms *= reg
    terms += plan * xp.where(plan > 0, cost, xp.zeros_like(cost))
    return xp.sum(terms)


def _given_plan_block(costs, mass, cost, plan, log_weights, reg):
    """A block of a plan solved whole (by POT), and its terms of ``F``."""
    return plan, objective_terms(cost, plan, mass, log_weights, reg)


def _shifted_block(x, mass, labels, cost_of):
    """Float64 costs of a block minus their row minima, and the minima: what the
    dual solvers' passes re-read."""
    xp = namespace_of(x)
    cost = astype(cost_of(x, labels), xp.float64, copy=True)
    shift = -row_max(-cost)
    cost -= shift
    return cost, shift[:, 0]


def _dual_plan(shifted, mass, potentials, reg, total):
    """``P_ik = a_i softmax_k((g_k - C_ik) / reg)`` on a block, in float64 with
    ``a = mass / total``; also ``log sum_k e^{(g_k - C_ik) / reg}`` and ``a``."""
    xp = namespace_of(shifted)
    a = astype(mass, xp.float64) / total
    logits = shifted / -reg
    logits += potentials / reg
    plan, log_norm = row_softmax(logits, a)
    return plan, log_norm, a


def _semi_dual_block(x, mass, part, potentials, reg, total, with_gram=True):
    r"""A block's share of the semi-dual at the components' potentials ``g``:

    .. math::

        -\varepsilon \sum_i a_i \log \sum_k e^{(g_k - C_{ik}) / \varepsilon},

    the plan's column sums, and (Newton's method) its Gram matrix
    ``P^T diag(1/a) P``."""
    shifted, _ = part
    plan, log_norm, a = _dual_plan(shifted, mass, potentials, reg, total)
    gram = plan.T @ (plan / a[:, None]) if with_gram else 0.0
    return -reg * (a @ log_norm), namespace_of(plan).sum(plan, axis=0), gram


def _dual_plan_block(costs, mass, part, potentials, log_weights, reg, total):
    r"""A block of the plan at the final potentials (``potentials`` include the
    reference ``reg log pi``), and its terms of ``F``, read off the dual: with
    ``log P_ik = log a_i + (g_k - C'_ik) / reg - l_i`` for the row-shifted costs
    ``C' = C - s`` and the rows' log-normalisers ``l``,

    .. math::

        \langle C, P \rangle + \varepsilon \mathrm{KL}(P | a \otimes \pi)
            = \sum_i a_i (s_i - \varepsilon l_i)
            + \sum_k (g_k - \varepsilon \log \pi_k) (P^\top 1)_k,

    exact for the plan formed, in a pass of ``n_samples`` numbers rather than
    one of logarithms over the plan."""
    shifted, shift = part
    plan, log_norm, a = _dual_plan(shifted, mass, potentials, reg, total)
    column = namespace_of(plan).sum(plan, axis=0)
    terms = a @ (shift - reg * log_norm) + column @ (potentials - reg * log_weights)
    return astype(total * plan, mass.dtype), total * terms


class _Largest(NamedTuple):
    """The largest entry over blocks: merges by ``max``."""

    value: float

    def merge(self, other):
        return _Largest(max(self.value, other.value))


def _largest_block(x, mass, part):
    """The largest finite entry of the block's shifted costs."""
    shifted, _ = part
    if shifted.shape[0] == 0:
        return _Largest(0.0)
    xp = namespace_of(shifted)
    finite = xp.where(xp.isfinite(shifted), shifted, xp.zeros_like(shifted))
    return _Largest(float(xp.max(finite)))


# --------------------------------------------------------------------------------
# Balanced problem (reg_m = inf)


def _balanced(samples, cost_of, problem, warm):
    r"""``reg_m = inf``: the balanced problem through its semi-dual.

    Eliminating the potentials of the samples leaves a smooth concave problem in
    the ``n_components`` potentials ``g`` of the components,

    .. math::

        \max_g \ \phi(g) = \sum_k t_k g_k - \varepsilon \sum_i a_i
            \log \sum_k e^{(g_k - C_{ik}) / \varepsilon},

    whose gradient is the column residual ``t - P^T 1`` of the plan
    ``P_ik = a_i softmax_k((g_k - C_ik) / epsilon)`` (its row marginal is exact).

    - The start: the previous E-step's potentials, or in the first E-step
      ``reg log t``, where the plan is the semi-relaxed one with ``pi = t``
      (the closed form of ``reg_m = 0``).
    - One Sinkhorn sweep from there re-solves rows and then columns exactly:
      POT's Sinkhorn where the plan is in memory, the column update
      ``g + reg (log t - log P^T 1)`` otherwise (or where POT's scalings
      underflow).

    Newton steps on :math:`\phi` then take the residual below ``tol``
    (:func:`newton`), along decreasing temperatures where the semi-dual is
    nearly piecewise linear (:func:`newton_continuation`).
    """
    reg, tol, max_iter = problem.reg, problem.tol, problem.max_iter
    # In float64 whatever the data: float32 masses sum to one only within 1e-7,
    # and the columns cannot then come within sinkhorn_tol of t.
    xp = namespace_of(problem.target_weights)
    t = astype(problem.target_weights, xp.float64, copy=True)
    t /= xp.sum(t)
    total = samples.total
    shifted = samples.map(partial(_shifted_block, cost_of=cost_of), LABELS)

    def sums(potentials, temperature, with_gram=False):
        block = partial(
            _semi_dual_block,
            potentials=potentials,
            reg=temperature,
            total=total,
            with_gram=with_gram,
        )
        value, column, gram = samples.sum(block, shifted)
        return float(t @ potentials) + float(value), column, gram

    def evaluate(potentials, temperature):
        value, column, gram = sums(potentials, temperature, with_gram=True)
        return balanced_point(value, column, gram, t, temperature)

    if warm is None:
        # The semi-relaxed plan with pi = t: one closed-form step from the
        # balanced one, which the sweep below takes most of.
        warm = reg * xp.log(t)
    potentials = None
    if samples.holds_plan:
        a = astype(samples.sample_mass, xp.float64) / total
        # POT takes the samples second (see below), best as contiguous rows.
        transposed = xp.concat(
            [xp.matrix_transpose(part[0]) for part in shifted], axis=1
        )
        potentials = _pot_sinkhorn_sweep(transposed, a, t, reg, warm)
    if potentials is None:
        _, column, _ = sums(warm, reg)
        potentials = column_sweep(warm, column, t, reg)
    _, potentials, residual = newton(evaluate, reg, potentials, tol, max_iter)
    if residual > tol:
        spread = samples.sum(_largest_block, shifted).value
        _, potentials, residual = newton_continuation(
            evaluate, reg, spread, tol, max_iter, like=t
        )
    block = partial(
        _dual_plan_block,
        potentials=potentials,
        log_weights=xp.log(t),
        reg=reg,
        total=total,
    )
    return Transport(block, (shifted,), bool(residual <= tol), potentials)


def _pot_sinkhorn_sweep(transposed, a, t, reg, warm):
    """One sweep of POT's Sinkhorn from the components' potentials ``warm``:
    the rows exact, then the columns. ``transposed`` is the shifted cost with
    the samples second: POT updates the second marginal first. The potentials
    are shifted to a largest of zero (the semi-dual ignores a common shift), so
    that the scalings ``exp(g / reg)`` cannot overflow; None where they
    underflow all the same (far clusters at a small ``reg``)."""
    xp = namespace_of(transposed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence is measured on the plan
        _, log = ot.sinkhorn(
            t,
            a,
            transposed,
            reg,
            method="sinkhorn",
            numItermax=1,
            warmstart=((warm - xp.max(warm)) / reg, xp.zeros_like(a)),
            log=True,
        )
        potentials = reg * xp.log(log["u"])  # -inf where u underflows
    return potentials if bool(xp.all(xp.isfinite(potentials))) else None


def column_sweep(potentials, column, t, reg):
    """Sinkhorn's column update of the components' potentials: with the rows
    exact, ``g + reg (log t - log P^T 1)`` makes the column marginal ``t``."""
    xp = namespace_of(column)
    smallest = xp.finfo(column.dtype).smallest_normal
    return potentials + reg * (xp.log(t) - xp.log(xp.maximum(column, smallest)))


# --------------------------------------------------------------------------------
# Unbalanced problem (0 < reg_m < inf)


def _unbalanced_pot(samples, cost_of, weights, problem):
    """``0 < reg_m < inf`` in memory: POT's stabilised unbalanced Sinkhorn.

    The reference passed is ``1 (x) pi`` rather than ``a (x) pi``: a row factor of
    the reference is absorbed by the hard row constraint, and this one keeps the
    kernel's row sums near one, far above POT's ``1e-16`` safeguard. The cost is
    shifted by the row minima of ``C - reg log pi`` for the same reason.
    """
    xp = namespace_of(weights)
    reg = problem.reg
    costs = samples.map(lambda x, mass, labels: cost_of(x, labels), LABELS)
    cost = samples.concat(costs)
    log_weights = xp.log(weights)
    shifted = cost - xp.min(cost - reg * log_weights, axis=1, keepdims=True)
    mass = samples.sample_mass
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plan = ot.unbalanced.sinkhorn_unbalanced(
            mass / samples.total,
            problem.target_weights,
            shifted,
            reg,
            reg_m=(math.inf, problem.reg_m),
            method="sinkhorn_stabilized",
            c=xp.broadcast_to(weights, cost.shape),
            numItermax=problem.max_iter,
            stopThr=problem.tol,
        )
    # POT's loop ends on a column update, which leaves the row marginal off by up
    # to its tolerance: the M-step and the objective rely on P 1 = a.
    plan = plan * (mass / xp.sum(plan, axis=1))[:, None]
    converged = not any(issubclass(w.category, UserWarning) for w in caught)
    block = partial(_given_plan_block, log_weights=log_weights, reg=reg)
    return Transport(block, (costs, samples.split(plan)), converged)


def _unbalanced_dual(samples, cost_of, weights, problem, warm):
    r"""``0 < reg_m < inf`` where POT cannot take the plan: Newton's method on
    the dual in the components' potentials ``g``,

    .. math::

        \psi(g) = -\varepsilon \sum_i a_i \log \sum_k \pi_k
            e^{(g_k - C_{ik}) / \varepsilon}
            + \rho \sum_k t_k (1 - e^{-g_k / \rho}),

    strictly concave, with gradient ``t exp(-g / rho) - P^T 1``: at its root the
    column marginal is ``t exp(-g / rho)``, the fixed point of POT's unbalanced
    Sinkhorn. Each evaluation is one pass over the blocks, and Newton's method
    takes a handful where Sinkhorn's iterations take tens. It starts from the
    previous E-step's potentials."""
    reg, reg_m = problem.reg, problem.reg_m
    xp = namespace_of(weights)
    t = astype(problem.target_weights, xp.float64, copy=True)
    t /= xp.sum(t)
    log_weights = xp.log(astype(weights, xp.float64))
    total = samples.total
    shifted = samples.map(partial(_shifted_block, cost_of=cost_of), LABELS)

    def evaluate(potentials, temperature):
        block = partial(
            _semi_dual_block,
            potentials=potentials + temperature * log_weights,
            reg=temperature,
            total=total,
        )
        value, column, gram = samples.sum(block, shifted)
        target = t * xp.exp(-potentials / reg_m)

        def curvature():
            eye = xp.eye(t.shape[0], dtype=t.dtype, **on_device_of(t))
            return (column * eye - gram) / temperature + (target / reg_m) * eye

        value = float(value) + reg_m * float(xp.sum(t - target))
        return DualPoint(value, target - column, curvature)

    potentials = xp.zeros_like(t) if warm is None else warm
    _, potentials, residual = newton(
        evaluate, reg, potentials, problem.tol, problem.max_iter, shift_invariant=False
    )
    block = partial(
        _dual_plan_block,
        potentials=potentials + reg * log_weights,
        log_weights=log_weights,
        reg=reg,
        total=total,
    )
    return Transport(block, (shifted,), bool(residual <= problem.tol), potentials)


# --------------------------------------------------------------------------------
# Bounded column marginal (weight_bounds)


def _bounded(samples, cost_of, weights, problem, warm):
    r"""Bounded weights: the column marginal kept within ``[low, high]``.

    .. math::

        \min_{P \geq 0,\ P 1 = a,\ l \leq P^\top 1 \leq h}
            \langle C, P \rangle + \varepsilon\, \mathrm{KL}(P | a \otimes \pi)

    Its dual in the components' potentials ``g`` is concave,

    .. math::

        \psi(g) = -\varepsilon \sum_i a_i \log \sum_k \pi_k
            e^{(g_k - C_{ik}) / \varepsilon}
            + \sum_k \min(l_k g_k, h_k g_k),

    smooth but for its second sum, whose kink at ``g_k = 0`` is the
    complementarity of the bounds: at the optimum ``g_k > 0`` holds the
    component at its lower bound, ``g_k < 0`` at its upper bound, and
    ``g_k = 0`` leaves it free between them. ``g = 0`` is the semi-relaxed
    plan (EM's E-step): when it satisfies the bounds, nothing else is done.
    Otherwise an active-set method: the free component furthest out of its
    bounds joins the held ones, which Newton's method on ``psi`` restricted
    to their potentials (the others at zero) holds at their bounds; a
    potential of the wrong sign releases its component; and so on, one
    component at a time, until the column marginal is within the bounds to
    ``tol``.
    """
    reg, tol = problem.reg, problem.tol
    xp = namespace_of(weights)
    log_weights = xp.log(astype(weights, xp.float64))
    low, high = (to_numpy(bound) for bound in problem.bounds)
    n_components = low.shape[0]
    total = samples.total
    shifted = samples.map(partial(_shifted_block, cost_of=cost_of), LABELS)
    device = on_device_of(log_weights)

    def sums(potentials):
        block = partial(
            _semi_dual_block,
            potentials=xp.asarray(potentials, **device) + reg * log_weights,
            reg=reg,
            total=total,
        )
        value, column, gram = samples.sum(block, shifted)
        return float(value), to_numpy(column), to_numpy(gram)

    def violation(side, column):
        """How far the column marginal is from optimality: off its bound where
        held (``side`` +1 at the lower, -1 at the upper), out of the bounds
        where free."""
        bound = np.where(side > 0, low, high)
        held = np.abs(column - bound)[side != 0]
        free = np.maximum(np.maximum(low - column, column - high), 0.0)[side == 0]
        return float(np.concatenate([held, free]).max(initial=0.0))

    potentials = np.zeros(n_components) if warm is None else to_numpy(warm)
    side = np.sign(potentials).astype(np.int64)
    _, column, _ = sums(potentials)
    error = violation(side, column)
    for _ in range(4 * n_components + 4):
        if error <= tol:
            break
        # The free component furthest out of its bounds joins the held ones:
        # one at a time, since holding every violator at once can ask for
        # more (or less) mass than there is.
        out = np.maximum(np.maximum(low - column, column - high), 0.0)
        out[side != 0] = 0.0
        joining = int(np.argmax(out))
        if out[joining] > tol:
            side[joining] = 1 if column[joining] < low[joining] else -1
        held = np.flatnonzero(side)
        bound = np.where(side > 0, low, high)[held]
        every = held.shape[0] == n_components
        if every and abs(bound.sum() - 1.0) > 1e-12:
            break  # no plan holds every component at these bounds

        def evaluate(part, temperature, held=held, bound=bound):
            full = np.zeros(n_components)
            full[held] = to_numpy(part)
            value, column, gram = sums(full)

            def curvature():
                hessian = (np.diag(column) - gram) / temperature
                return xp.asarray(hessian[np.ix_(held, held)], **device)

            gradient = xp.asarray(bound - column[held], **device)
            return DualPoint(value + float(bound @ full[held]), gradient, curvature)

        _, part, _ = newton(
            evaluate,
            reg,
            xp.asarray(potentials[held], **device),
            tol,
            problem.max_iter,
            shift_invariant=every,
        )
        potentials = np.zeros(n_components)
        potentials[held] = to_numpy(part)
        # A potential of the wrong sign releases its bound.
        wrong = side * potentials < 0
        potentials[wrong], side[wrong] = 0.0, 0
        _, column, _ = sums(potentials)
        error = violation(side, column)
    final = xp.asarray(potentials, **device) + reg * log_weights
    block = partial(
        _dual_plan_block,
        potentials=final,
        log_weights=log_weights,
        reg=reg,
        total=total,
    )
    return Transport(block, (shifted,), error <= tol, xp.asarray(potentials, **device))


# --------------------------------------------------------------------------------
# Newton's method on a concave dual


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
        semi-definite.
    """

    value: float
    gradient: np.ndarray
    curvature: Callable[[], np.ndarray]


def balanced_point(value, column, gram, t, reg):
    """The semi-dual's :class:`DualPoint` from sums over the plan.

    ``column`` is ``P^T 1`` and ``gram`` is ``P^T diag(1/a) P``: the negated
    Hessian is ``(diag(P^T 1) - P^T diag(1/a) P) / reg``.
    """

    def curvature():
        xp = namespace_of(column)
        eye = xp.eye(column.shape[0], dtype=column.dtype, **on_device_of(column))
        return (column * eye - gram) / reg

    return DualPoint(value, t - column, curvature)


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
        samples are only seen through it.
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
        step = least_squares(point.curvature() + kernel, point.gradient)
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


def newton_continuation(evaluate, reg, spread, tol, max_steps, *, like):
    """Newton's method along decreasing temperatures, down to ``reg``.

    When ``reg`` is small next to the spread of the costs, the semi-dual is nearly
    piecewise linear: its Hessian vanishes wherever no sample sits on the fence
    between two components, and Newton's method does not move far enough. At a
    temperature above the spread it is smooth; dividing the temperature by four
    at a time, each problem starts in the quadratic basin of the previous one's
    solution.

    Parameters
    ----------
    evaluate, reg, tol, max_steps
        As :func:`newton`.
    spread : float
        The largest entry of the row-shifted cost.
    like : ndarray of shape (n_components,)
        The potentials start at zero in its namespace, on its device and of its
        dtype.

    Returns
    -------
    point, potentials, residual
        As :func:`newton`.
    """
    temperatures = [reg]
    while temperatures[-1] < spread:
        temperatures.append(4.0 * temperatures[-1])
    potentials = namespace_of(like).zeros_like(like)
    for temperature in reversed(temperatures):
        point, potentials, residual = newton(
            evaluate, temperature, potentials, tol, max_steps
        )
    return point, potentials, residual


# --------------------------------------------------------------------------------
# On a cost matrix in memory


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
    r"""E-step on an in-memory cost matrix: ``P = argmin F(P)``, ``P 1 = a``.

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
        ``C_ik = -log p_k(x_i)``: finite, or ``+inf`` where the plan must be
        zero (every row has a finite entry).
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
        Iteration budget of the solver (``reg_m > 0``).
    tol : float
        Tolerance of the solver (``reg_m > 0``).
    warm : ndarray of shape (n_components,), default=None
        The previous E-step's ``potentials`` (balanced problem).

    Returns
    -------
    result : TransportResult
        ``plan`` of shape (n_samples, n_components), finite, with row sums
        ``sample_mass``; ``value``, the objective ``F`` there (see
        :func:`objective`); ``converged``; ``potentials``.
    """
    samples = InMemory(cost, sample_mass, row_width=cost.shape[1])
    problem = TransportProblem(reg, reg_m, target_weights, max_iter, tol)
    transport = solve_transport(samples, lambda x, labels: x, weights, problem, warm)
    blocks = samples.map(
        lambda x, *rest: transport.block(lambda: x, *rest), *transport.state
    )
    plan = samples.concat([plan for plan, _ in blocks])
    value = float(add(*[terms for _, terms in blocks])) / samples.total
    column = namespace_of(plan).sum(plan, axis=0) / samples.total
    value += column_term(column, target_weights, reg_m)
    return TransportResult(plan, value, transport.converged, transport.potentials)


def objective(cost, plan, sample_mass, weights, reg, reg_m, target_weights):
    r"""Value of the transport objective ``F`` at a plan.

    .. math::

        F(P) = \langle C, P \rangle + \varepsilon\, \mathrm{KL}(P | a \otimes \pi)
               + \rho\, \mathrm{KL}(P^\top 1 | t),
        \qquad \mathrm{KL}(p | q) = \sum p \log(p / q).

    The last term is left out for ``reg_m`` 0 and infinity (where the plan's column
    marginal is free, or ``t`` by construction). For ``reg = 1`` and ``reg_m = 0``
    the value at the optimal plan is the weighted negative log-likelihood (Gibbs
    variational principle), which the tests check.

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
    total = float(xp.sum(sample_mass))
    terms = objective_terms(cost, plan, sample_mass, xp.log(weights), reg)
    column = xp.sum(plan, axis=0) / total
    return float(terms) / total + column_term(column, target_weights, reg_m)
