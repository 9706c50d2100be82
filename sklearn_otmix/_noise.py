r"""The noise component: mclust's uniform density over the data's hypervolume.

mclust models background noise (``Mclust(X, initialization = list(noise =
...))``; Banfield & Raftery, 1993) with one more component, uniform over the
region the data fill, of density :math:`1 / V`, whose weight :math:`\pi_0`
is estimated with the Gaussians':

.. math::

    p(x) = \sum_{k=1}^K \pi_k \mathcal{N}(x; \mu_k, \Sigma_k) + \frac{\pi_0}{V},
    \qquad \pi_0 + \sum_k \pi_k = 1.

In the transport view it is one more column of the plan, of constant cost
:math:`C_{i0} = \log V` (:class:`NoiseCost`), whose mass the M-step reads as
:math:`\pi_0`. This module holds what is particular to it: the hypervolume
(mclust's ``hypvol``), the rows it starts with (the user's, or the clutter
of nearest-neighbour distances), and its column of the costs.

References
----------
.. [1] J. D. Banfield, A. E. Raftery. Model-based Gaussian and non-Gaussian
   clustering. Biometrics 49(3), 1993.
.. [2] S. Byers, A. E. Raftery. Nearest-neighbor clutter removal for
   estimating features in spatial point processes. JASA 93(442), 1998.
"""

import math
from typing import NamedTuple

import numpy as np
from sklearn.neighbors import NearestNeighbors
from sklearn.utils import check_array

from ._backend import namespace_of, on_device_of, row_sum, to_numpy

#: The neighbour whose distance measures a row's clutter (Byers & Raftery's
#: and ``prabclus::NNclean``'s usual ``k``, as mclust's documentation uses it).
CLUTTER_NEIGHBOURS = 5


class Noise(NamedTuple):
    """The noise component of a mixture: its weight ``pi_0``, an array of
    shape (1,) in the namespace of the Gaussians' weights, and its
    hypervolume ``V``."""

    weight: np.ndarray
    volume: float


def noise_on(noise):
    """Whether an estimator's ``noise`` asks for a noise component (True,
    or a hypervolume)."""
    return not (isinstance(noise, (bool, np.bool_)) and not noise)


def check_noise_settings(noise, noise_init, reg_m, on_dask):
    """An estimator's ``noise`` and ``noise_init`` refused where they do not
    go with its other settings (``reg_m``) or with the data (``on_dask``:
    whether ``X`` is a Dask array)."""
    if not noise_on(noise):
        if noise_init is not None:
            raise ValueError(
                "noise_init gives the rows that start in the noise component, "
                "but noise=False: set noise=True, or drop noise_init."
            )
        return
    if reg_m != 0.0:
        raise ValueError(
            f"noise={noise!r} with reg_m={reg_m}: the noise component's weight "
            "is estimated with the Gaussians', with free weights (reg_m=0) only. "
            "Set reg_m=0, or noise=False."
        )
    if on_dask:
        raise ValueError(
            f"noise={noise!r} needs the data in memory (its hypervolume and its "
            "start look at every row); got a Dask array. Fit on a numpy array, "
            "or set noise=False."
        )


def hypervolume(noise, X):
    """``V`` and ``log V`` of an estimator's ``noise`` (on): mclust's
    ``hypvol`` of the rows ``X`` for True, or the hypervolume given."""
    if isinstance(noise, (bool, np.bool_)):
        log_volume = log_hypervolume(X)
        return math.exp(log_volume), log_volume
    return float(noise), math.log(noise)


def log_hypervolume(X):
    """``log V`` of mclust's ``hypvol(X)``: the smaller of the volumes of the
    data's bounding box and of its box along the principal axes (the scores
    of ``princomp``; only with more rows than columns, as ``princomp``).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)

    Returns
    -------
    log_volume : float
        Finite: a ``ValueError`` says where the box is flat.
    """
    X = np.asarray(X, dtype=np.float64)
    volumes = [_log_box(X)]
    n_samples, n_features = X.shape
    if n_samples > n_features:
        centred = X - X.mean(axis=0)
        axes = np.linalg.svd(centred, full_matrices=False)[2]
        volumes.append(_log_box(centred @ axes.T))
    log_volume = min(volumes)
    if not math.isfinite(log_volume) or abs(log_volume) > math.log(
        np.finfo(np.float64).max
    ):
        raise ValueError(
            "The noise component's hypervolume, that of the data's bounding box "
            f"(mclust's hypvol), is {math.exp(min(log_volume, 709.0)):g}: the "
            "data are flat along some direction (a constant feature), or spread "
            "beyond float64's range. Scale or drop those features, or pass the "
            "hypervolume itself as noise=V."
        )
    return log_volume


def _log_box(Y):
    """``sum_j log(max_i Y_ij - min_i Y_ij)``: the log-volume of the box."""
    with np.errstate(divide="ignore"):
        return float(np.sum(np.log(np.ptp(Y, axis=0))))


def clutter_of(noise, samples):
    """``V`` of an estimator's ``noise`` (on) for the rows of positive weight
    of ``samples`` (in memory), and those of the rows that start in the noise
    without a ``noise_init``, their :func:`clutter` (host booleans)."""
    X = to_numpy(samples.X)
    volume, log_volume = hypervolume(noise, X)
    weight = samples.sample_weight
    return volume, clutter(X, log_volume, None if weight is None else to_numpy(weight))


def clutter(X, log_volume, sample_weight=None, n_neighbors=CLUTTER_NEIGHBOURS):
    """The rows that start in the noise component when none are given: those
    whose neighbourhood is no denser than the noise.

    A row's density is estimated from the distance ``D`` to its ``k``-th
    nearest neighbour (Byers & Raftery's statistic of clutter, as
    ``prabclus::NNclean``'s): ``k`` rows in a ball of radius ``D``, a share
    ``k / n`` of the data in the ball's volume. Where that is below the
    uniform density ``1 / V``, the row is clutter: at least one row (the most
    isolated), at most half of them (the most isolated half), the background
    being the minority. (Byers & Raftery fit a mixture of two Poisson
    processes to the distances instead; with clusters of different
    densities, its sparse process takes the sparser clusters' rows too.)

    A row of ``sample_weight`` ``w`` counts as ``w`` rows at the same place
    (``w - 1`` of its neighbours at distance zero), so that integer weights
    give the clutter of the repeated rows.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    log_volume : float
        ``log V``.
    sample_weight : ndarray of shape (n_samples,) or None
    n_neighbors : int

    Returns
    -------
    noise : bool ndarray of shape (n_samples,)
    """
    X = np.asarray(X, dtype=np.float64)
    n_samples, n_features = X.shape
    weight = (
        np.ones(n_samples)
        if sample_weight is None
        else np.asarray(sample_weight, dtype=np.float64)
    )
    distances = _neighbour_distances(X, weight, n_neighbors)
    # log of the share of the data per unit volume of the ball, against 1 / V.
    log_ball = 0.5 * n_features * math.log(math.pi) - math.lgamma(0.5 * n_features + 1)
    with np.errstate(divide="ignore"):
        log_radius = np.log(distances)
    log_density = (
        math.log(n_neighbors / weight.sum()) - log_ball - n_features * log_radius
    )
    # The most isolated first: at least one, at most half of the mass.
    order = np.argsort(log_density, kind="stable")
    before = np.cumsum(weight[order]) - weight[order]
    kept = (log_density[order] < -log_volume) & (before < 0.5 * weight.sum())
    kept[0] = True
    noise = np.zeros(n_samples, dtype=bool)
    noise[order[kept]] = True
    return noise


def _neighbour_distances(X, weight, k):
    """Each row's distance to its ``k``-th neighbour, counting a row of
    weight ``w`` as ``w`` rows: the smallest radius within which the others'
    weights, plus ``w_i - 1`` of its own, reach ``k`` (the largest distance
    if they never do)."""
    n_samples = X.shape[0]
    if n_samples < 2:
        return np.zeros(n_samples)
    own = np.maximum(weight - 1.0, 0.0)
    index = NearestNeighbors().fit(X)
    n_neighbors = min(k, n_samples - 1)
    while True:
        distances, neighbours = index.kneighbors(n_neighbors=n_neighbors)
        mass = own[:, None] + np.cumsum(weight[neighbours], axis=1)
        reached = mass >= k - 1e-9
        if reached[:, -1].all() or n_neighbors == n_samples - 1:
            break
        n_neighbors = min(2 * n_neighbors, n_samples - 1)
    first = np.where(reached.any(axis=1), reached.argmax(axis=1), n_neighbors - 1)
    return np.where(own >= k - 1e-9, 0.0, distances[np.arange(n_samples), first])


def _weighted_median(values, weight):
    """The smallest value below which lies at least half of the weight."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weight[order])
    return values[order][np.searchsorted(cumulative, 0.5 * cumulative[-1])]


def checked_noise_rows(noise_init, n_samples, sample_weight, n_components):
    """``noise_init`` validated: booleans, one per row of ``X``, some of them
    True and at least ``n_components`` False; then restricted to the rows of
    positive ``sample_weight``, the rows that the fit sees.

    Returns
    -------
    noise : bool ndarray of shape (n_kept,)
    """
    noise = check_array(
        noise_init,
        ensure_2d=False,
        dtype=None,
        ensure_all_finite=False,
        input_name="noise_init",
    )
    if noise.dtype != np.bool_:
        raise ValueError(
            "noise_init should be an array of booleans, True for the rows that "
            f"start in the noise component; got dtype {noise.dtype}. For row "
            "indices, pass np.isin(np.arange(n_samples), indices)."
        )
    if noise.shape != (n_samples,):
        raise ValueError(
            "noise_init should have one boolean per row of X, shape "
            f"({n_samples},), but got {noise.shape}."
        )
    if sample_weight is not None:
        noise = noise[np.asarray(sample_weight) > 0]
    check_noise_start(noise, n_components)
    return noise


def check_noise_start(noise, n_components):
    """A start of the noise component that EM can move from: some rows in it
    (without any, its weight would start and stay at zero), and enough out
    of it for the Gaussians' initialisation."""
    if not noise.any():
        raise ValueError(
            "noise_init marks no row (of positive sample_weight) as noise: the "
            "noise component's weight would start, and stay, at zero. Mark "
            "some rows, or pass noise_init=None for the nearest-neighbour "
            "clutter, or set noise=False."
        )
    n_left = int(np.sum(~noise))
    if n_left < n_components:
        raise ValueError(
            f"The noise component's start (noise_init, or with None the "
            f"clutter) leaves {n_left} row(s) (of positive sample_weight) out "
            f"of it, fewer than n_components = {n_components}: the Gaussians "
            "start from the other rows. Mark fewer rows as noise, or use fewer "
            "components."
        )


class NoiseCost(NamedTuple):
    """The costs of a mixture's Gaussians (:class:`GaussianCost` or its
    kin) with the noise component's column last: the constant ``log V``.
    Same interface as those, its statistics the Gaussians' alone; the mass
    of the noise column comes with them (:meth:`noise_mass`).

    Attributes
    ----------
    gaussian : GaussianCost, WhitenedCost or GroupedCost
    log_volume : float
    """

    gaussian: object
    log_volume: float

    def working(self, array):
        return self.gaussian.working(array)

    def moments(self, x):
        return self.gaussian.moments(x)

    def cost(self, moments):
        cost = self.gaussian.cost(moments)
        xp = namespace_of(cost)
        column = xp.full(
            (cost.shape[0], 1), self.log_volume, dtype=cost.dtype, **on_device_of(cost)
        )
        return xp.concat([cost, column], axis=1)

    def cost_of(self, x):
        return self.cost(self.moments(x))

    def gaussian_plan(self, plan):
        """The Gaussians' columns of a block of the plan."""
        return plan[:, :-1]

    def moment_sums(self, moments, plan, row_mass):
        """The Gaussians' sums (their rows' mass is theirs alone, for
        ``tied``), and the noise column's mass, shape (1,)."""
        gaussian = self.gaussian_plan(plan)
        sums = self.gaussian.moment_sums(moments, gaussian, row_sum(gaussian))
        return NoiseSums(sums, namespace_of(plan).sum(plan[:, -1:], axis=0))

    def statistics(self, moment_sums):
        return self.gaussian.statistics(moment_sums.gaussian)

    def noise_mass(self, moment_sums):
        """The plan's mass on the noise column, shape (1,)."""
        return moment_sums.noise


class NoiseSums(NamedTuple):
    """The Gaussians' moment sums and the noise column's mass (they add up
    over blocks as the data layer adds tuples)."""

    gaussian: object
    noise: np.ndarray
