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

from ._backend import namespace_of, on_device_of, row_sum

#: The neighbour whose distance measures a row's clutter (Byers & Raftery's
#: and ``prabclus::NNclean``'s usual ``k``, as mclust's documentation uses it).
CLUTTER_NEIGHBOURS = 5


class Noise(NamedTuple):
    """The noise component of a mixture: its weight ``pi_0``, an array of
    shape (1,) in the namespace of the Gaussians' weights, and its
    hypervolume ``V``."""

    weight: np.ndarray
    volume: float


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


def clutter(X, sample_weight=None, n_neighbors=CLUTTER_NEIGHBOURS, max_iter=500):
    """The rows that start in the noise component when none are given:
    Byers & Raftery's nearest-neighbour clutter (``prabclus::NNclean``).

    Seen from a row, the distance ``D`` to its ``k``-th nearest neighbour in
    a Poisson process of intensity ``lambda`` in ``d`` dimensions makes
    ``Y = D^d`` Gamma distributed, of shape ``k`` and rate ``lambda`` times
    the volume of the unit ball. Clusters in a uniform background are two
    such processes, a dense one and a sparse one: EM fits that mixture of two
    Gamma laws (the same shape, two rates) to the rows' ``Y``, from the split
    at their median, and the rows more probably of the sparse process are
    the clutter. At least one row is (the most isolated one); a row's
    ``sample_weight`` counts it that many times in the EM.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or None
    n_neighbors : int
    max_iter : int

    Returns
    -------
    noise : bool ndarray of shape (n_samples,)
    """
    X = np.asarray(X, dtype=np.float64)
    n_samples, n_features = X.shape
    k = min(n_neighbors, n_samples - 1)
    distances = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X)[0][:, -1]
    # Y = D^d, in logs and scaled by its median: d in the hundreds stays finite.
    log_y = n_features * np.log(np.maximum(distances, np.finfo(np.float64).tiny))
    log_y -= np.median(log_y)
    y = np.exp(np.minimum(log_y, 700.0))
    weight = np.ones(n_samples) if sample_weight is None else sample_weight
    sparse = (y > np.median(y)).astype(np.float64)
    previous = -math.inf
    for _ in range(max_iter):
        # M-step: each process's share and rate (rate = k / mean of Y).
        share = np.clip(np.average(sparse, weights=weight), 1e-12, 1 - 1e-12)
        rates = [
            k * np.sum(weight * z) / max(np.sum(weight * z * y), 1e-300)
            for z in (1.0 - sparse, sparse)
        ]
        # E-step: the Gamma(k, rate) log-densities, y^(k-1) / Gamma(k) left out.
        log_dense, log_sparse = (
            math.log(p) + k * math.log(rate) - rate * y
            for p, rate in zip((1 - share, share), rates, strict=True)
        )
        top = np.maximum(log_dense, log_sparse)
        log_norm = top + np.log(np.exp(log_dense - top) + np.exp(log_sparse - top))
        sparse = np.exp(log_sparse - log_norm)
        value = float(np.sum(weight * log_norm))
        if value - previous <= 1e-10 * abs(value):
            break
        previous = value
    if rates[1] > rates[0]:  # the labels crossed: the sparse one is the other
        sparse = 1.0 - sparse
    noise = sparse > 0.5
    if not noise.any():
        noise[np.argmax(log_y)] = True
    return noise


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
            f"noise_init leaves {n_left} row(s) (of positive sample_weight) out "
            f"of the noise component, fewer than n_components = {n_components}: "
            "the Gaussians start from the other rows. Mark fewer rows as noise."
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
