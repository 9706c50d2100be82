"""The fit loop: block-coordinate descent on the transport objective.

Each iteration is an E-step and an M-step (:mod:`sklearn_otmix._step`); the
loop runs them from the initial mixtures (:mod:`sklearn_otmix._init`), keeps
the best of ``n_init`` runs or continues a warm start, raises the warnings
of a fit that did not converge, and prints the verbose output."""

import math
import warnings
from time import perf_counter
from typing import NamedTuple

from sklearn.exceptions import ConvergenceWarning

from ._backend import namespace_of
from ._init import initialize
from ._messages import NOT_CONVERGED
from ._step import Mixture, e_step, m_step, matched_order, with_target


class FitLoop(NamedTuple):
    """The loop's settings, as the estimator's parameters of the same names."""

    tol: float
    convergence: str
    max_iter: int
    n_init: int
    init_params: str
    verbose: int
    verbose_interval: int


class FitResult(NamedTuple):
    """The best run: its mixture, ``-F`` after its last E-step and after each,
    its number of iterations, whether it converged, and the optimality
    residual of each E-step's plan with the number of those above
    ``sinkhorn_tol``."""

    mixture: Mixture
    lower_bound: float
    lower_bounds: list
    n_iter: int
    converged: bool
    residuals: list
    unsolved: int


def fit(samples, problem, init, loop, random_state, start=None):
    """Run the fit ``n_init`` times (once from ``start``); keep the best.

    Parameters
    ----------
    samples : data layer
    problem : MixtureProblem
    init : dict
        From :func:`checked_initial_parameters`, with ``noise`` (the rows
        that start in the noise component) where there is one.
    loop : FitLoop
    random_state : RandomState
    start : tuple (Mixture, float) or None
        A fitted mixture and its lower bound to continue from (warm start).

    Returns
    -------
    result : FitResult
    """
    progress = _Progress(loop.verbose, loop.verbose_interval)
    n_init = loop.n_init if start is None else 1
    sample = None
    if start is None and (
        any(init[key] is None for key in ("weights", "means", "precisions"))
        or init.get("noise") is not None
    ):
        sample = samples.initialization_sample(random_state)
    best = None
    for init_index in range(n_init):
        progress.init_begin(init_index)
        if start is None:
            mixture = initialize(sample, problem, init, loop.init_params, random_state)
            run = _fit_one(samples, problem, loop, mixture, -math.inf, progress)
        else:
            run = _fit_one(samples, problem, loop, *start, progress)
        # Without iterations (max_iter=0) every run has bound -inf: keep the last.
        if (
            best is None
            or run.lower_bound > best.lower_bound
            or best.lower_bound == -math.inf
        ):
            best = run
    _warn(best, problem, loop, n_init)
    return best


def _fit_one(samples, problem, loop, mixture, lower_bound, progress):
    """One run of block-coordinate descent from ``mixture``."""
    lower_bounds, residuals = [], []
    converged = False
    n_iter = unsolved = 0
    warm = None
    if problem.target_groups is not None:
        # The targets in the order the mixture carries them (a warm start
        # continues in the order it found).
        problem = with_target(problem, mixture.weights)
    for n_iter in range(1, loop.max_iter + 1):
        previous = lower_bound
        step = e_step(samples, mixture, problem, warm)
        if problem.target_groups is not None:
            problem, step = _better_order(samples, mixture, problem, step)
        unsolved += not step.converged
        residuals.append(step.residual)
        lower_bound = -step.value
        lower_bounds.append(lower_bound)
        change = lower_bound - previous
        progress.iteration(n_iter, change, step.residual)
        converged = abs(change) < _threshold(loop, lower_bound, samples.total)
        if converged and loop.convergence == "relative":
            # mclust's EM ends at the parameters its last E-step evaluated.
            break
        # The models with iterative M-steps continue from the current
        # covariances (as mclust's EM does from its second M-step): their
        # updates never increase F from there.
        mixture = m_step(
            step.statistics,
            problem,
            mixture.covariances,
            step.estimate,
            step.noise_mass,
            step.shrinkage_moments,
        )
        warm = step.potentials
        if converged:
            break
    if loop.max_iter > 0:
        progress.init_end(lower_bound, converged)
    return FitResult(
        mixture, lower_bound, lower_bounds, n_iter, converged, residuals, unsolved
    )


def _threshold(loop, lower_bound, total):
    """The change of the lower bound below which the fit has converged:
    ``tol``, or, relative (mclust's rule on the total log-likelihood ``L``,
    ``|L - L_previous| <= tol (1 + |L|)``), ``tol (1 / total + |lower_bound|)``."""
    if loop.convergence == "absolute":
        return loop.tol
    return loop.tol * (1.0 / float(total) + abs(lower_bound))


def _better_order(samples, mixture, problem, step):
    r"""Known weights without an order: the E-step's targets, re-ordered where
    that lowers :math:`F`.

    With ``reg_m=inf`` the E-step is the balanced problem with column marginal
    ``t``; which component carries which target is unknown (within each of
    ``problem.target_groups``). The E-step's potentials ``g`` price the mass
    of each component: ``F`` at the optimal plan is the dual's maximum over
    ``g`` of ``sum_k t_k g_k - eps sum_i a_i log sum_k e^{(g_k - C_ik) / eps}``
    (up to terms that do not depend on the order). At the current prices, the
    order that gives the largest targets to the cheapest components makes the
    first sum smallest (the rearrangement inequality): that order is the
    candidate. Its E-step is solved, warm-started from ``g``, and kept only if
    its ``F`` is lower, so that the objective never increases.
    """
    target = problem.transport.target_weights
    # The cheapest component is the one whose potential is lowest.
    proposal = matched_order(target, -step.potentials, problem.target_groups)
    if bool(namespace_of(target).all(proposal == target)):
        return problem, step
    candidate = with_target(problem, proposal)
    other = e_step(samples, mixture, candidate, step.potentials)
    if other.value < step.value:
        return candidate, other
    return problem, step


def warn_unsolved(unsolved, residuals, transport, stacklevel=5):
    """The transport warning: raised when, and only when, some of the E-steps
    whose ``residuals`` are given missed their certificate (``unsolved`` of
    them; see :func:`sklearn_otmix._transport.certificate`)."""
    if not unsolved:
        return
    warnings.warn(
        f"In {unsolved} of {len(residuals)} E-steps the transport "
        f"plan's optimality residual stayed above sinkhorn_tol={transport.tol} "
        f"(largest {max(residuals):.3g}) after sinkhorn_max_iter="
        f"{transport.max_iter} solver iterations: increase sinkhorn_max_iter or "
        "sinkhorn_tol, or reg.",
        ConvergenceWarning,
        stacklevel=stacklevel,
    )


def _warn(result, problem, loop, n_init):
    warn_unsolved(result.unsolved, result.residuals, problem.transport)
    if not result.converged and loop.max_iter > 0:
        warnings.warn(
            f"{NOT_CONVERGED} (The best of {n_init} initialisation(s) did not "
            f"converge within max_iter={loop.max_iter} iterations, tol="
            f"{loop.tol}.)",
            ConvergenceWarning,
            stacklevel=4,
        )


class _Progress:
    """The lines printed with ``verbose`` 1 (iterations, with the E-step's
    transport residual) or 2 (also times and the change of the lower bound),
    every ``verbose_interval`` iterations."""

    def __init__(self, verbose, interval):
        self.verbose = verbose
        self.interval = interval

    def init_begin(self, init_index):
        if self.verbose >= 1:
            print(f"Initialization {init_index}")
            self.init_start = self.iter_start = perf_counter()

    def iteration(self, n_iter, change, residual):
        if self.verbose < 1 or n_iter % self.interval:
            return
        if self.verbose == 1:
            print(f"  Iteration {n_iter}\t transport residual {residual:.2e}")
        else:
            now = perf_counter()
            print(
                f"  Iteration {n_iter}\t time lapse {now - self.iter_start:.5f}s"
                f"\t lower bound change {change:.5f}"
                f"\t transport residual {residual:.2e}"
            )
            self.iter_start = now

    def init_end(self, lower_bound, converged):
        status = "converged" if converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {status}.")
        elif self.verbose >= 2:
            elapsed = perf_counter() - self.init_start
            print(
                f"Initialization {status}. time lapse {elapsed:.5f}s\t "
                f"lower bound {lower_bound:.5f}."
            )
