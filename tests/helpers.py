"""Helpers of the tests: the E-step on an in-memory cost matrix, the
objective at a given plan, the costs of a mixture and the plan of an E-step as
whole arrays. The package never forms these whole (its E-step reads the plan
block by block into statistics); the tests compare them with independent
computations."""

import importlib.util
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np

from sklearn_otmix._backend import namespace_of, xlogy
from sklearn_otmix._gaussian import gaussian_cost_of
from sklearn_otmix._memory import LABELS, InMemory, add
from sklearn_otmix._step import _costs
from sklearn_otmix._transport import (
    TransportProblem,
    certificate,
    column_term,
    solve_transport,
)

#: Why the tests against R's mclust skip.
MCLUST_MISSING = "Rscript with R's mclust is missing (apt-get install r-cran-mclust)"


def benchmark_module(name):
    """``benchmarks/<name>.py`` as a module (the benchmarks are scripts, not a
    package): ``mclust_agreement``'s calls to R and their reading, or a
    benchmark to run."""
    path = Path(__file__).parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def gaussian_cost(X, means, precisions_chol, form):
    """Transport cost ``C_ik = -log N(x_i; mu_k, Sigma_k)``.

    Its temporaries are the moments of ``X`` (see :class:`GaussianCost`): callers
    pass blocks of rows (see :mod:`sklearn_otmix._data`).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    means : ndarray of shape (n_components, n_features)
    precisions_chol : ndarray
        See :func:`log_det_cholesky` for the shape of each covariance type.
    form : {'full', 'tied', 'diag', 'spherical'}

    Returns
    -------
    cost : ndarray of shape (n_samples, n_components)
    """
    return gaussian_cost_of(means, precisions_chol, form).cost_of(X)


def plan_of(samples, mixture, problem):
    """The E-step's plan at ``mixture`` as one array, in the unit of the sample
    masses, for in-memory ``samples``."""
    gaussian = mixture.gaussian(problem.form)
    cost_of = partial(_costs, cost_of=gaussian.cost_of, classes=problem.component_class)
    transport = solve_transport(samples, cost_of, mixture.weights, problem.transport)

    def block(x, mass, labels, *state):
        costs = partial(cost_of, x, labels)
        return transport.block(costs, gaussian.working(mass), *state)[0]

    return samples.concat(samples.map(block, LABELS, *transport.state))


class TransportResult(NamedTuple):
    """An E-step on an in-memory cost matrix (:func:`transport_plan`)."""

    plan: np.ndarray
    value: float
    residual: float
    converged: bool
    potentials: np.ndarray | None = None


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
    bounds=None,
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
    - otherwise (penalised): the column marginal is pulled toward ``t``.

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
        Tolerance of the solver's certificate.
    bounds : tuple (low, high) of float64 arrays, default=None
        Bounds on the column marginal (with ``reg_m = 0``).
    warm : ndarray of shape (n_components,), default=None
        The previous E-step's ``potentials``.

    Returns
    -------
    result : TransportResult
        ``plan`` of shape (n_samples, n_components), finite, with row sums
        ``sample_mass``; ``value``, the objective ``F`` there (see
        :func:`objective`); its certificate's ``residual`` and whether it
        ``converged``; ``potentials``.
    """
    samples = InMemory(cost, sample_mass, row_width=cost.shape[1])
    problem = TransportProblem(reg, reg_m, target_weights, max_iter, tol, bounds)
    transport = solve_transport(samples, lambda x, labels: x, weights, problem, warm)
    blocks = samples.map(
        lambda x, *rest: transport.block(lambda: x, *rest), *transport.state
    )
    plan = samples.concat([plan for plan, _, _ in blocks])
    value = float(add(*[terms for _, terms, _ in blocks])) / samples.total
    column = namespace_of(plan).sum(plan, axis=0) / samples.total
    value += column_term(column, target_weights, reg_m)
    marginals = add(*[marginals for _, _, marginals in blocks])
    residual, converged = certificate(transport, marginals, samples.total, tol)
    return TransportResult(plan, value, residual, converged, transport.potentials)


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


def weighted_scatter(X, z):
    """The masses ``n_k`` and scatter matrices ``W_k = sum_i z_ik (x_i -
    mu_k)(x_i - mu_k)^T`` about the weighted means of responsibilities ``z``
    (n, K): the statistics of an M-step, from the rows."""
    mass = z.sum(axis=0)
    means = (z.T @ X) / mass[:, None]
    centred = X[None] - means[:, None]
    return mass, np.einsum("nk,kni,knj->kij", z, centred, centred)


def m_step_objective(mass, scatter, covariances):
    """What the M-step maximises over the covariances:
    ``-1/2 sum_k (n_k log det Sigma_k + tr(W_k Sigma_k^-1))``."""
    log_det = np.linalg.slogdet(covariances)[1]
    trace = np.einsum("kij,kji->k", scatter, np.linalg.inv(covariances))
    return -0.5 * float(np.sum(mass * log_det + trace))
