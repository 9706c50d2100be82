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
- ``0 < reg_m < inf`` (penalised): POT's unbalanced Sinkhorn where the plan is
  in memory and POT takes the arrays, from the previous E-step's potentials;
  then, wherever its answer misses the certificate (Dask chunks and
  ``array_api_strict`` always start there), Newton's method on the dual.
- bounded weights (``weight_bounds``): an active-set Newton method on the dual.

The dual solvers read the plan's kernel on the stored costs
(:class:`DualKernel`): one pass of exponentials per E-step, then matrix
products.

Certified: every solver leaves a :class:`Transport`, what each block needs to
form its rows of the plan, which the fit reads in one more pass (with the
M-step's statistics); as the blocks are formed they measure the plan's
:class:`Marginals`, from which :func:`certificate` gives the optimality residual
of the plan handed to the M-step, whichever solver produced it:

========================  =====================================================
regime                    residual (L1 norms, masses normalised to sum to one)
========================  =====================================================
``reg_m = 0``             rows ``|P 1 - a|``
``reg_m = inf``           rows, and columns ``|P^T 1 - t|``
``0 < reg_m < inf``       rows, and the dual gradient ``|t e^{-g/rho} - P^T 1|``
bounded weights           rows, and complementarity (see :func:`_bounds_residual`)
========================  =====================================================

The residual is the larger of the two; the E-step has converged when it is at
most ``sinkhorn_tol`` (or the round-off of the plan's dtype, if larger).

References
----------
.. [1] T. Vayer, E. Lasalle. A note on the relations between mixture models,
   maximum-likelihood and entropic optimal transport. arXiv:2501.12005, 2025.
.. [2] G. Mena, A. Nejatbakhsh, E. Varol, J. Niles-Weed. Sinkhorn EM: an
   expectation-maximization algorithm based on entropic optimal transport.
   arXiv:2006.16548, 2020.
.. [3] L. Chizat, G. Peyré, B. Schmitzer, F.-X. Vialard. Scaling algorithms for
   unbalanced optimal transport problems. Math. Comp. 87, 2018.
"""

import functools
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
    finfo,
    least_squares,
    namespace_of,
    on_device_of,
    row_max,
    row_sum,
    to_numpy,
    xlogy,
)
from ._memory import LABELS


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
        the unit of ``mass``), its terms of ``F`` (times the total mass,
        without the column term ``rho KL(P^T 1 | t)``) and its
        :class:`Marginals`; ``costs()`` computes the block's costs, for the
        solvers that do not keep them.
    state : tuple
        Per-block parts (see the data layer's ``map``) passed to ``block``.
    optimality : callable
        ``optimality(columns)``: the regime's condition on the column marginal
        ``P^T 1`` (normalised, float64), as an L1 residual (see the module).
    potentials : ndarray of shape (n_components,) or None
        The components' potentials, which warm-start the next E-step.
    """

    block: Callable
    state: tuple
    optimality: Callable
    potentials: np.ndarray | None = None


class Marginals(NamedTuple):
    """What a block of the plan measures of itself as it is formed, in the unit
    of the sample masses (blocks merge: sums, and the largest round-off).

    Attributes
    ----------
    rows : float
        ``sum_i |(P 1)_i - a_i|``.
    columns : ndarray of shape (n_components,) or float
        ``P^T 1`` in float64; 0 where the regime sets no condition on it.
    round_off : float
        ``n_components * eps``, ``eps`` that of the plan's dtype: how far, as
        a share of the mass, the rows may be off by round-off alone.
    """

    rows: float
    columns: np.ndarray | float
    round_off: float

    def merge(self, other):
        return Marginals(
            self.rows + other.rows,
            self.columns + other.columns,
            max(self.round_off, other.round_off),
        )


class Certificate(NamedTuple):
    """An E-step's optimality residual and whether it meets the tolerance."""

    residual: float
    converged: bool


def certificate(transport, marginals, total, tol):
    """The :class:`Certificate` of a plan from its merged :class:`Marginals`
    (``total``: the sum of the sample masses): the larger of the rows'
    residual and the regime's own, against ``tol`` or, if larger, the
    round-off of the plan's dtype."""
    rows = float(marginals.rows) / total
    residual = max(rows, transport.optimality(marginals.columns / total))
    return Certificate(residual, residual <= max(tol, marginals.round_off))


def measure(plan, mass, with_columns=True):
    """The :class:`Marginals` of a block of the plan (``mass``: its rows'
    masses, in the plan's unit)."""
    if isinstance(plan, np.ndarray):
        # Once per block of every E-step: numpy's own calls, in place.
        rows = plan @ _ones(plan.shape[1], plan.dtype)
        np.subtract(rows, mass, out=rows)
        rows = float(np.abs(rows, out=rows).sum())
        columns = plan.sum(axis=0, dtype=np.float64) if with_columns else 0.0
        return Marginals(rows, columns, plan.shape[1] * float(np.finfo(plan.dtype).eps))
    xp = namespace_of(plan)
    rows = xp.sum(xp.abs(row_sum(plan) - astype(mass, plan.dtype)))
    columns = xp.sum(astype(plan, xp.float64), axis=0) if with_columns else 0.0
    return Marginals(rows, columns, plan.shape[1] * float(finfo(plan).eps))


@functools.lru_cache(maxsize=8)
def _ones(n_columns, dtype):
    ones = np.ones(n_columns, dtype=dtype)
    ones.flags.writeable = False
    return ones


def _no_condition(columns):
    """``reg_m = 0``: the column marginal is free."""
    return 0.0


def _column_residual(columns, target):
    """``reg_m = inf``: ``|P^T 1 - t|_1``."""
    xp = namespace_of(columns)
    return float(xp.sum(xp.abs(columns - target)))


def _penalised_residual(columns, target, potentials, reg_m):
    """``0 < reg_m < inf``: the dual gradient ``|t e^{-g/rho} - P^T 1|_1``."""
    xp = namespace_of(columns)
    return float(xp.sum(xp.abs(target * xp.exp(-potentials / reg_m) - columns)))


def _bounds_residual(columns, low, high, side):
    """Bounded weights: complementarity, summed over the components. A
    component held at its lower bound (``side`` +1, a positive potential) must
    sit on it, one held at its upper bound (-1) on that one, and a free one
    (0) within the bounds."""
    columns = to_numpy(columns)
    bound = np.where(side > 0, low, high)
    held = np.abs(columns - bound)
    free = np.maximum(np.maximum(low - columns, columns - high), 0.0)
    return float(np.sum(np.where(side != 0, held, free)))


def solve_transport(samples, cost_of, weights, problem, warm=None):
    """E-step: the plan ``argmin F(P)`` over ``P >= 0`` with ``P 1 = a``.

    Parameters
    ----------
    samples : data layer
        The samples' blocks and masses (see :mod:`sklearn_otmix._data`).
    cost_of : callable
        ``cost_of(x, labels)`` returns the costs ``C`` of a block of rows and
        their labels (see :data:`sklearn_otmix._memory.LABELS`), shape (n_rows,
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
        return Transport(block, (), _no_condition)
    if problem.reg_m == math.inf:
        return _balanced(samples, cost_of, problem, warm)
    return _penalised(samples, cost_of, weights, problem, warm)


def column_term(column_mass, target_weights, reg_m):
    """``rho KL(P^T 1 | t)`` for a normalised column marginal; 0 for ``rho`` 0 or
    infinity (where the column marginal is free, or ``t`` by construction)."""
    if not 0.0 < reg_m < math.inf:
        return 0.0
    xp = namespace_of(column_mass)
    return reg_m * float(xp.sum(xlogy(column_mass, column_mass / target_weights)))


def _float64_target(target_weights):
    """``t`` in float64, normalised: float32 targets sum to one only within
    1e-7, and the columns could not come within ``sinkhorn_tol`` of them."""
    xp = namespace_of(target_weights)
    t = astype(target_weights, xp.float64, copy=True)
    return t / xp.sum(t)


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
    the weighted negative log-likelihood for ``reg = 1``. Its certificate is
    its rows alone.
    """
    logits = costs() / -reg
    logits += log_weights
    plan, log_norm = row_softmax(logits, mass)
    return plan, -reg * (mass @ log_norm), measure(plan, mass, with_columns=False)


def _shifted_block(x, mass, labels, cost_of):
    """Float64 costs of a block minus their row minima, and the minima: what the
    dual solvers' passes re-read."""
    xp = namespace_of(x)
    cost = astype(cost_of(x, labels), xp.float64, copy=True)
    shift = -row_max(-cost)
    cost -= shift
    return cost, shift[:, 0]


#: How far, in units of the temperature, the potentials may move from the
#: kernel's reference before the kernel is formed again: its entries' ratios
#: then change by at most ``e^{2 KERNEL_REACH}``, far from over- and underflow.
KERNEL_REACH = 30.0


class DualKernel:
    r"""The plan's kernel on every block, which the dual solvers' passes read.

    At reference potentials ``h`` (which include the reference measure, e.g.
    ``reg log pi``) and temperature ``T``, block ``b`` keeps

    .. math::

        E_{ik} = e^{(h_k - C'_{ik}) / T - r_i}, \qquad
        r_i = \max_k (h_k - C'_{ik}) / T,

    formed in one pass of exponentials over the stored row-shifted costs
    ``C'`` (each row's largest entry is one; entries below the normal range,
    and infinite costs, are exact zeros). At potentials ``g`` within
    :data:`KERNEL_REACH` ``T`` of ``h``, with ``w = e^{(g - h) / T}``, the
    plan and the rows' log-normalisers are

    .. math::

        P_{ik} = a_i \frac{E_{ik} w_k}{(E w)_i}, \qquad
        l_i = \log \sum_k e^{(g_k - C'_{ik}) / T} = r_i + \log (E w)_i,

    matrix products with no exponential over the plan: a Newton step costs a
    few reads of the kernel. Further away, or at another temperature, the
    kernel is formed again at ``g``.
    """

    def __init__(self, samples, shifted):
        self.samples = samples
        self.shifted = shifted
        self.reference = self.temperature = self.parts = None

    def at(self, potentials, temperature):
        """The blocks' kernels for ``potentials`` (formed again where they
        are too far from the reference) and the scaling ``w``."""
        xp = namespace_of(potentials)
        if (
            self.parts is None
            or temperature != self.temperature
            or float(xp.max(xp.abs(potentials - self.reference)))
            > KERNEL_REACH * temperature
        ):
            block = partial(
                _kernel_block, reference=potentials, temperature=temperature
            )
            self.parts = self.samples.map(block, self.shifted)
            self.reference, self.temperature = potentials, temperature
        return self.parts, xp.exp((potentials - self.reference) / temperature)

    def sums(self, potentials, temperature, with_gram=True):
        r"""The semi-dual's share :math:`-T \sum_i a_i l_i`, the plan's column
        sums ``P^T 1`` and (Newton's method) its Gram matrix
        ``P^T diag(1/a) P`` at ``potentials``, in one pass."""
        parts, scaling = self.at(potentials, temperature)
        block = partial(
            _kernel_sums,
            scaling=scaling,
            temperature=temperature,
            total=self.samples.total,
            with_gram=with_gram,
        )
        return self.samples.sum(block, parts)

    def transport(self, potentials, log_weights, temperature, optimality):
        """The :class:`Transport` whose blocks form the plan at
        ``potentials`` (which include ``temperature * log_weights``)."""
        parts, scaling = self.at(potentials, temperature)
        block = partial(
            _kernel_plan_block,
            scaling=scaling,
            potentials=potentials,
            log_weights=log_weights,
            reg=temperature,
            total=self.samples.total,
        )
        return Transport(block, (parts,), optimality)


def _kernel_block(x, mass, part, reference, temperature):
    """A block's kernel at ``reference`` (see :class:`DualKernel`): ``E``,
    ``r`` and the row shifts ``s`` of the costs."""
    shifted, shift = part
    exponent = (reference - shifted) / temperature
    largest = row_max(exponent)
    exponent -= largest
    return exp(exponent), largest[:, 0], shift


def _kernel_row_sums(mass, part, scaling, total):
    """``(E w)_i`` of a block's rows, and ``a = mass / total`` (float64)."""
    kernel = part[0]
    xp = namespace_of(kernel)
    return kernel @ scaling, astype(mass, xp.float64) / total


def _kernel_sums(x, mass, part, scaling, temperature, total, with_gram):
    """A block's share of :meth:`DualKernel.sums`: matrix-vector products with
    the kernel, and (Newton's method) one scaled copy of it."""
    kernel, largest, _ = part
    row_sums, a = _kernel_row_sums(mass, part, scaling, total)
    xp = namespace_of(kernel)
    log_norm = largest + xp.log(row_sums)
    column = ((a / row_sums) @ kernel) * scaling
    gram = 0.0
    if with_gram:
        # P^T diag(1/a) P = diag(w) B^T B diag(w), B = diag(sqrt(a) / E w) E.
        root = kernel * (xp.sqrt(a) / row_sums)[:, None]
        gram = (xp.matrix_transpose(root) @ root) * (scaling[:, None] * scaling)
    return -temperature * (a @ log_norm), column, gram


def _kernel_plan_block(costs, mass, part, scaling, potentials, log_weights, reg, total):
    r"""A block of the plan at the final potentials (``potentials`` include the
    reference ``reg log pi``), its terms of ``F`` and its :class:`Marginals`
    (measured in float64, before the plan goes to the data's dtype). The
    terms are read off the dual: with
    ``log P_ik = log a_i + (g_k - C'_ik) / reg - l_i`` for the row-shifted costs
    ``C' = C - s`` and the rows' log-normalisers ``l``,

    .. math::

        \langle C, P \rangle + \varepsilon \mathrm{KL}(P | a \otimes \pi)
            = \sum_i a_i (s_i - \varepsilon l_i)
            + \sum_k (g_k - \varepsilon \log \pi_k) (P^\top 1)_k,

    exact for the plan formed, in a pass of ``n_samples`` numbers rather than
    one of logarithms over the plan."""
    row_sums, a = _kernel_row_sums(mass, part, scaling, total)
    xp = namespace_of(row_sums)
    plan = part[0] * scaling
    plan *= (a / row_sums)[:, None]
    marginals = measure(plan, a)
    log_norm = part[1] + xp.log(row_sums)
    terms = a @ (part[2] - reg * log_norm) + marginals.columns @ (
        potentials - reg * log_weights
    )
    marginals = marginals._replace(
        rows=total * marginals.rows, columns=total * marginals.columns
    )
    return astype(total * plan, mass.dtype), total * terms, marginals


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

    Newton steps on :math:`\phi` then take the residual ``|P^T 1 - t|_1`` below
    ``tol`` (:func:`newton`), along decreasing temperatures where the semi-dual
    is nearly piecewise linear (:func:`newton_continuation`).
    """
    reg, tol, max_iter = problem.reg, problem.tol, problem.max_iter
    t = _float64_target(problem.target_weights)
    xp = namespace_of(t)
    shifted = samples.map(partial(_shifted_block, cost_of=cost_of), LABELS)
    kernel = DualKernel(samples, shifted)

    def evaluate(potentials, temperature):
        value, column, gram = kernel.sums(potentials, temperature)
        return balanced_point(
            float(t @ potentials) + float(value), column, gram, t, temperature
        )

    if warm is None:
        # The semi-relaxed plan with pi = t: one closed-form step from the
        # balanced one, which the sweep below takes most of.
        warm = reg * xp.log(t)
    potentials = None
    if samples.holds_plan:
        a = astype(samples.sample_mass, xp.float64) / samples.total
        # POT takes the samples second (see below), best as contiguous rows.
        transposed = xp.concat(
            [xp.matrix_transpose(part[0]) for part in shifted], axis=1
        )
        potentials = _pot_sinkhorn_sweep(transposed, a, t, reg, warm)
    if potentials is None:
        _, column, _ = kernel.sums(warm, reg, with_gram=False)
        potentials = column_sweep(warm, column, t, reg)
    _, potentials, residual = newton(evaluate, reg, potentials, tol, max_iter)
    if residual > tol:
        spread = samples.sum(_largest_block, shifted).value
        _, potentials, _ = newton_continuation(
            evaluate, reg, spread, tol, max_iter, like=t
        )
    optimality = partial(_column_residual, target=t)
    transport = kernel.transport(potentials, xp.log(t), reg, optimality)
    return transport._replace(potentials=potentials)


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
# Penalised column marginal (0 < reg_m < inf)


def _penalised(samples, cost_of, weights, problem, warm):
    r"""``0 < reg_m < inf``: the penalised problem through its dual in the
    components' potentials ``g``,

    .. math::

        \max_g \ \psi(g) = -\varepsilon \sum_i a_i \log \sum_k \pi_k
            e^{(g_k - C_{ik}) / \varepsilon}
            + \rho \sum_k t_k (1 - e^{-g_k / \rho}),

    strictly concave, with gradient ``t e^{-g / rho} - P^T 1`` for the plan
    ``P_ik = a_i softmax_k(log pi_k + (g_k - C_ik) / epsilon)`` (rows exact):
    at its root the column marginal is ``t e^{-g / rho}``, the fixed point of
    the unbalanced Sinkhorn iterations [3]_.

    POT solves first where the plan is in memory (:func:`_pot_unbalanced`),
    from the previous E-step's potentials. Its answer is judged by the dual
    gradient of the plan that its potentials give, not by its own stopping
    rule (the change of its scalings, which can be far below the plan's
    residual). Where the gradient misses ``tol`` (and where POT cannot take
    the arrays, on Dask chunks and ``array_api_strict``), Newton's method on
    ``psi`` finishes, each evaluation a few reads of the plan's kernel
    (:class:`DualKernel`).
    """
    reg, reg_m = problem.reg, problem.reg_m
    t = _float64_target(problem.target_weights)
    xp = namespace_of(t)
    log_weights = xp.log(astype(weights, xp.float64))
    shifted = samples.map(partial(_shifted_block, cost_of=cost_of), LABELS)
    kernel = DualKernel(samples, shifted)

    def evaluate(potentials, temperature):
        value, column, gram = kernel.sums(
            potentials + temperature * log_weights, temperature
        )
        target = t * xp.exp(-potentials / reg_m)

        def curvature():
            eye = xp.eye(t.shape[0], dtype=t.dtype, **on_device_of(t))
            return (column * eye - gram) / temperature + (target / reg_m) * eye

        value = float(value) + reg_m * float(xp.sum(t - target))
        return DualPoint(value, target - column, curvature)

    potentials = xp.zeros_like(t) if warm is None else warm
    if samples.holds_plan:
        potentials = _pot_unbalanced(
            shifted, samples, t, log_weights, problem, potentials
        )
    _, potentials, _ = newton(
        evaluate, reg, potentials, problem.tol, problem.max_iter, shift_invariant=False
    )
    optimality = partial(
        _penalised_residual, target=t, potentials=potentials, reg_m=reg_m
    )
    transport = kernel.transport(
        potentials + reg * log_weights, log_weights, reg, optimality
    )
    return transport._replace(potentials=potentials)


def _pot_unbalanced(shifted, samples, t, log_weights, problem, start):
    r"""POT's unbalanced Sinkhorn from the potentials ``start``, and the
    potentials of its answer (``start`` where those are not finite).

    POT's last iteration scales the columns, ending on
    ``v = (t / K^T u)^{rho / (rho + reg)}`` for the rows' scaling ``u``: the
    plan it returns has the column sums ``P^T 1 = v K^T u = t v^{-reg/rho}``,
    so its potentials ``g = reg log v = -rho log(P^T 1 / t)`` are read off the
    plan (no logarithm over it, which POT's ``log=True`` would take). POT
    starts from ``v = e^{start / reg}``, or from ones where that would leave
    the floating-point range.

    The reference passed is ``1 (x) pi`` rather than ``a (x) pi``: a row factor
    of the reference is absorbed by the hard row constraint, and this one
    keeps the kernel's row sums near one, far above POT's ``1e-16`` safeguard
    (the costs are shifted by their row minima for the same reason). POT's
    warnings are dropped: its answer is judged by the plan's residual.
    """
    xp = namespace_of(t)
    cost = xp.concat([part[0] for part in shifted], axis=0)
    a = astype(samples.sample_mass, xp.float64) / samples.total
    reg = problem.reg
    warmstart = None
    if float(xp.max(xp.abs(start))) < 300 * reg:
        warmstart = (xp.zeros_like(a), start / reg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plan = ot.unbalanced.sinkhorn_unbalanced(
            a,
            t,
            cost,
            reg,
            reg_m=(math.inf, problem.reg_m),
            method="sinkhorn",
            c=xp.broadcast_to(xp.exp(log_weights), cost.shape),
            warmstart=warmstart,
            numItermax=problem.max_iter,
            stopThr=problem.tol,
        )
        potentials = -problem.reg_m * xp.log(xp.sum(plan, axis=0) / t)
    return potentials if bool(xp.all(xp.isfinite(potentials))) else start


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
    component at a time, until the complementarity residual
    (:func:`_bounds_residual`) is within ``tol``.
    """
    reg, tol = problem.reg, problem.tol
    xp = namespace_of(weights)
    log_weights = xp.log(astype(weights, xp.float64))
    low, high = (to_numpy(bound) for bound in problem.bounds)
    n_components = low.shape[0]
    shifted = samples.map(partial(_shifted_block, cost_of=cost_of), LABELS)
    kernel = DualKernel(samples, shifted)
    device = on_device_of(log_weights)

    def sums(potentials):
        value, column, gram = kernel.sums(
            xp.asarray(potentials, **device) + reg * log_weights, reg
        )
        return float(value), to_numpy(column), to_numpy(gram)

    potentials = np.zeros(n_components) if warm is None else to_numpy(warm)
    side = np.sign(potentials).astype(np.int64)
    _, column, _ = sums(potentials)
    error = _bounds_residual(column, low, high, side)
    for _ in range(4 * n_components + 4):
        if error <= tol:
            break
        # The free component furthest out of its bounds joins the held ones:
        # one at a time, since holding every violator at once can ask for
        # more (or less) mass than there is.
        out = np.maximum(np.maximum(low - column, column - high), 0.0)
        out[side != 0] = 0.0
        joining = int(np.argmax(out))
        if out[joining] > tol / n_components:
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
        error = _bounds_residual(column, low, high, side)
    optimality = partial(_bounds_residual, low=low, high=high, side=side)
    final = xp.asarray(potentials, **device)
    transport = kernel.transport(
        final + reg * log_weights, log_weights, reg, optimality
    )
    return transport._replace(potentials=final)


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


def _l1(vector):
    return float(namespace_of(vector).sum(namespace_of(vector).abs(vector)))


#: Armijo's fraction of the ascent that a step's linear model promises.
_SUFFICIENT_ASCENT = 1e-4


def newton(evaluate, reg, potentials, tol, max_steps, *, shift_invariant=True):
    r"""Damped Newton steps on a concave dual until its gradient is within
    ``tol`` (L1 norm).

    On the semi-dual :math:`\phi` the gradient is the column residual
    ``r = t - P^T 1`` and the negated Hessian
    ``H = (diag(P^T 1) - P^T diag(1/a) P) / reg`` is positive semi-definite with
    kernel ``1`` (``phi`` ignores a common shift of ``g``), so the step solves
    ``(H + 1 1^T) delta = r`` in the least-squares sense, within a trust radius.

    The line search guarantees ascent: a step is halved until the objective
    rises by at least a fraction of what its linear model promises (Armijo's
    rule), so the iterates cannot cycle. Only where that promise is below the
    round-off of the objective (near the solution, where the objective is flat
    to working precision) does a decrease of the gradient decide instead. Near
    the solution each step squares the gradient. At most ``max_steps`` steps
    (``sinkhorn_max_iter``).

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
        ``|gradient|_1``, e.g. ``|P^T 1 - t|_1``.
    """
    xp = namespace_of(potentials)
    point = evaluate(potentials, reg)
    error = _l1(point.gradient)
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
        slope = float(xp.sum(point.gradient * step))
        # The objective's round-off: a sum of terms of its own size.
        noise = 64 * np.finfo(np.float64).eps * (1.0 + abs(point.value))
        for _ in range(60):
            trial = evaluate(potentials + step, reg)
            trial_error = _l1(trial.gradient)
            gain = trial.value - point.value
            if gain > 0 and gain >= _SUFFICIENT_ASCENT * slope:
                break
            if _SUFFICIENT_ASCENT * slope <= noise and trial_error < error:
                break
            step /= 2
            slope /= 2
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
