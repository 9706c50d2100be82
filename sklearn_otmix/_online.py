"""A fitted mixture on new data: the weights re-estimated on a batch, the
components frozen (prior shift, :class:`~sklearn_otmix.PriorShiftAdapter`),
and the step of stepwise EM (``partial_fit``)."""

import math
from typing import NamedTuple

import numpy as np

from ._backend import astype, namespace_of
from ._fit import FitResult
from ._gaussian import Statistics
from ._step import e_step, m_step


def fit_weights(samples, mixture, problem, tol, max_iter):
    """Block-coordinate descent on the weights alone: E-steps at the frozen
    components, each followed by ``pi = P^T 1`` (with ``reg_m=0`` this is
    Saerens, Latinne & Decaestecker's EM on the priors); with ``reg_m=inf``
    the weights are the target and one E-step gives the plan.

    Returns
    -------
    result : FitResult
    """
    xp = namespace_of(mixture.weights)
    fixed = problem.transport.reg_m == math.inf
    if fixed:
        mixture = mixture._replace(weights=problem.transport.target_weights)
    lower_bound, lower_bounds, residuals = -math.inf, [], []
    converged, warm, unsolved, n_iter = False, None, 0, 0
    for n_iter in range(1, max_iter + 1):
        step = e_step(samples, mixture, problem, warm)
        warm, unsolved = step.potentials, unsolved + (not step.converged)
        residuals.append(step.residual)
        change = -step.value - lower_bound
        lower_bound = -step.value
        lower_bounds.append(lower_bound)
        if fixed or abs(change) < tol:
            converged = True
            break
        # Floored as the M-step's masses: an empty component keeps a weight.
        mass = astype(step.statistics.mass, mixture.weights.dtype)
        mass = mass + 10 * xp.finfo(mass.dtype).eps
        mixture = mixture._replace(weights=mass / xp.sum(mass))
    return FitResult(
        mixture, lower_bound, lower_bounds, n_iter, converged, residuals, unsolved
    )


class Stream(NamedTuple):
    """The state of stepwise EM: running statistics per unit of mass, the
    number of chunks seen, and the last E-step's potentials."""

    statistics: Statistics | None = None
    n_steps: int = 0
    potentials: np.ndarray | None = None


def stream_step(samples, mixture, problem, stream, learning_decay):
    """One step of stepwise EM on a chunk (Cappé & Moulines, 2009).

    The chunk's statistics per unit of mass enter the running ones with step
    size ``s ** -learning_decay`` at the ``s``-th chunk (the first replaces
    them); the new mixture is the M-step of the running statistics.

    Returns
    -------
    mixture : Mixture
    stream : Stream
    step : EStep
        The chunk's E-step (``F`` there, its certificate).
    """
    step = e_step(samples, mixture, problem, stream.potentials)
    n_steps = stream.n_steps + 1
    rate = n_steps**-learning_decay
    statistics = step.statistics.scaled(rate / samples.total)
    if stream.statistics is not None:
        statistics = stream.statistics.scaled(1 - rate).merge(statistics)
    stream = Stream(statistics, n_steps, step.potentials)
    return m_step(statistics, problem), stream, step
