"""The transport problem: the E-step of the mixture as entropic optimal transport.

Data points carry the masses ``a`` (the normalised sample weights) and mixture
components the masses ``pi``. With the cost ``C_ik = -log p_k(x_i)`` the E-step is

.. math::

    \\min_{P \\geq 0,\\ P 1 = a} F(P) = \\langle C, P \\rangle
        + \\varepsilon \\, \\mathrm{KL}(P \\,|\\, a \\otimes \\pi)
        + \\rho \\, \\mathrm{KL}(P^\\top 1 \\,|\\, t)

with ``reg`` = :math:`\\varepsilon`, ``reg_m`` = :math:`\\rho` and
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

import numpy as np
import ot
from scipy.special import xlogy
from sklearn.exceptions import ConvergenceWarning


def _shifted_cost(cost, log_weights, reg):
    """Cost minus its row-wise minimum after the reference weights are folded in.

    Subtracting ``s_i = min_k (C_ik - reg * log pi_k)`` from row ``i`` changes no
    plan (a row shift is absorbed by the row scaling, which the constraint
    ``P 1 = a`` fixes), but it makes the largest kernel entry of each row
    ``a_i * exp(0)``, so that costs in the thousands never underflow a whole row.

    Parameters
    ----------
    cost : ndarray of shape (n_samples, n_components)
    log_weights : ndarray of shape (n_components,)
    reg : float

    Returns
    -------
    shifted : ndarray of shape (n_samples, n_components)
        ``C - s[:, None]``, every entry >= ``reg * log pi_k``.
    """
    shift = np.min(cost - reg * log_weights, axis=1)
    return cost - shift[:, np.newaxis]


def _floor_kernel(shifted, log_reference, reg):
    """Clip the shifted cost so that no kernel entry underflows to zero.

    An entry clipped here stands for a plan entry below the smallest normal
    float of the dtype, zero to working precision either way; POT's scaling
    loop, however, stops on a column whose kernel is exactly zero.
    """
    log_tiny = math.log(np.finfo(shifted.dtype).tiny)
    return np.minimum(shifted, reg * (log_reference - log_tiny), out=shifted)


def semi_relaxed_plan(cost, sample_mass, weights, reg):
    """Plan of the semi-relaxed problem (``reg_m = 0``): EM's E-step when ``reg = 1``.

    .. math::

        P_{ik} = a_i \\frac{\\pi_k e^{-C_{ik}/\\varepsilon}}
                          {\\sum_l \\pi_l e^{-C_{il}/\\varepsilon}}

    solved by POT's unbalanced Sinkhorn with ``reg_m = (inf, 0)`` and reference
    ``a (x) pi``: with no penalty on the column marginal the column scaling is
    identically one, and the single row scaling is exact.

    Parameters
    ----------
    cost : ndarray of shape (n_samples, n_components)
        ``C_ik = -log p_k(x_i)``.
    sample_mass : ndarray of shape (n_samples,)
        ``a``, positive; any positive multiple of it gives the same plan times
        that multiple.
    weights : ndarray of shape (n_components,)
        Mixing weights ``pi``, positive.
    reg : float
        Entropic temperature ``epsilon > 0``.

    Returns
    -------
    plan : ndarray of shape (n_samples, n_components)
        Row sums equal ``sample_mass``.
    """
    log_weights = np.log(weights)
    reference = sample_mass[:, np.newaxis] * weights
    shifted = _shifted_cost(cost, log_weights, reg)
    _floor_kernel(shifted, np.log(sample_mass)[:, np.newaxis] + log_weights, reg)
    target = np.full_like(weights, 1.0 / weights.shape[0])
    return ot.unbalanced.sinkhorn_knopp_unbalanced(
        sample_mass,
        target,
        shifted,
        reg,
        reg_m=(math.inf, 0.0),
        c=reference,
        numItermax=1,
    )


def objective(cost, plan, sample_mass, weights, reg, reg_m, target_weights):
    """Value of the transport objective ``F`` at a plan.

    .. math::

        F(P) = \\langle C, P \\rangle + \\varepsilon\\, \\mathrm{KL}(P | a \\otimes \\pi)
               + \\rho\\, \\mathrm{KL}(P^\\top 1 | t),
        \\qquad \\mathrm{KL}(p | q) = \\sum p \\log(p / q).

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
    total = float(np.sum(sample_mass))
    log_reference = np.log(sample_mass)[:, np.newaxis] + np.log(weights)
    terms = plan * cost + reg * (xlogy(plan, plan) - plan * log_reference)
    value = float(np.sum(terms)) / total
    if 0.0 < reg_m < math.inf:
        column_mass = np.sum(plan, axis=0) / total
        value += reg_m * float(np.sum(xlogy(column_mass, column_mass / target_weights)))
    return value
