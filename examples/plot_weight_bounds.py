r"""
======================
Bounded cluster sizes
======================

With ``weight_bounds=(low, high)`` (and the default ``reg_m=0``)
:class:`~sklearn_otmix.OTGaussianMixture` still estimates the mixing weights,
but keeps every component's mass within ``[low, high]`` in every E-step. The
E-step is then the entropic transport problem

.. math::

    \min_{P \geq 0,\ P 1 = a,\ \mathrm{low} \leq P^\top 1 \leq \mathrm{high}}
        \langle C, P \rangle + \varepsilon\, \mathrm{KL}(P \,|\, a \otimes \pi),

solved through its dual in one potential :math:`g_k` per component:
:math:`g_k > 0` holds component :math:`k` at its lower bound, :math:`g_k < 0` at
its upper bound, and :math:`g_k = 0` leaves it free. When EM's E-step already
satisfies the bounds, nothing changes; the bounds act only where a component
would get too small or too large. The M-step then sets the weights to the
masses :math:`P^\top 1`, so ``weights_`` lies within the bounds.

Two uses are shown: clustering with every cluster between 15% and 40% of the
data, and a lower bound that prevents a component from collapsing onto a few
duplicated points.
"""

# %%
# Size-constrained clustering
# ---------------------------
# Four blobs of 600, 250, 100 and 50 points (60%, 25%, 10% and 5% of the data).
# We compare k-means, EM (``OTGaussianMixture(4)``) and the bounded fit
# ``OTGaussianMixture(4, weight_bounds=(0.15, 0.40))``. Both mixtures use
# ``n_init=10`` and ``tol=1e-6`` so that each ends at its best optimum among
# ten initialisations. Cluster sizes are fractions of the hard labels
# (k-means' ``labels_``, the mixtures' ``predict``), sorted from largest to
# smallest; the table below them shows which blob each cluster takes.
#
# Every fit runs under ``warnings.catch_warnings``: warnings are not hidden but
# counted, and the counts are printed.

import warnings

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

from sklearn_otmix import OTGaussianMixture

blob_sizes = [600, 250, 100, 50]
X, blob = make_blobs(
    blob_sizes, centers=[[0, 0], [5, 0], [0, 5], [5, 5]], random_state=0
)
low, high = 0.15, 0.40
MIXTURE_PARAMS = dict(n_init=10, tol=1e-6, max_iter=1000, random_state=0)

models = {
    "k-means": KMeans(4, n_init=10, random_state=0),
    "EM": OTGaussianMixture(4, **MIXTURE_PARAMS),
    "bounded [0.15, 0.40]": OTGaussianMixture(
        4, weight_bounds=(low, high), **MIXTURE_PARAMS
    ),
}
labels = {}
n_warnings = 0
for name, model in models.items():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X)
    n_warnings += len(caught)
    labels[name] = model.labels_ if name == "k-means" else model.predict(X)
print(f"warnings raised by the three fits: {n_warnings}")


def by_size(label):
    """Cluster ids from the largest to the smallest, and their size fractions."""
    sizes = np.bincount(label, minlength=4) / len(label)
    order = np.argsort(sizes)[::-1]
    return order, sizes[order]


print("\ncluster sizes (fractions of the rows), largest first")
for name, label in labels.items():
    sizes = by_size(label)[1]
    print(f"  {name:<22}" + "  ".join(f"{size:.4f}" for size in sizes))
print("weights_, in the same order")
for name in ("EM", "bounded [0.15, 0.40]"):
    model = models[name]
    order = by_size(labels[name])[0]
    print(
        f"  {name:<22}"
        + "  ".join(f"{weight:.4f}" for weight in model.weights_[order])
        + f"   mean log-likelihood {model.score(X):.4f}"
    )

# %%
# Which blob the hard labels of the bounded fit put in each cluster (rows: the
# blobs; columns: the clusters, largest first as above), and how far the
# weights and the hard sizes are from the bounds:

bounded = models["bounded [0.15, 0.40]"]
order = by_size(labels["bounded [0.15, 0.40]"])[0]
print(f"{'blob (size)':<12}" + "".join(f"{'cluster ' + str(k):>11}" for k in range(4)))
for b, size in enumerate(blob_sizes):
    in_blob = labels["bounded [0.15, 0.40]"][blob == b]
    counts = np.bincount(in_blob, minlength=4)[order]
    print(f"{b} ({size:>3})".ljust(12) + "".join(f"{c:>11d}" for c in counts))

hard = by_size(labels["bounded [0.15, 0.40]"])[1]
print(
    f"\nweights_:          min - low = {bounded.weights_.min() - low:+.1e}, "
    f"max - high = {bounded.weights_.max() - high:+.1e}"
)
print(
    f"hard-label sizes:  min - low = {hard.min() - low:+.1e}, "
    f"max - high = {hard.max() - high:+.1e}"
)

# %%
# k-means and EM find the four blobs, with sizes close to 60/25/10/5%. The
# bounds rule that answer out twice: the 600-point blob is more than 40% of the
# data, and the two small blobs are less than 15% each. The bounded fit splits
# the large blob between two clusters (367 and 230 of its points) and puts the
# 100-point blob and 48 of the 50-point blob in one cluster. Together those two
# blobs are 150 points, 15% of the data, and that cluster's weight is held at
# the lower bound, 0.1500; the other weights end strictly inside the bounds
# (the upper bound is not active at the end: the largest weight is 0.37). The
# constraint costs likelihood: the mean log-likelihood of the bounded fit is
# lower than EM's.
#
# The weights, the soft masses :math:`P^\top 1`, satisfy the bounds to the
# solver's tolerance. The hard labels of ``predict`` need not: they give each
# point to the component of highest Bayes posterior at the fitted parameters,
# where the bounds play no part. Here the merged cluster gets 148 points, 0.148
# of the data, just below the lower bound, while its weight is 0.1500.
#
# The panels show the hard labels of the three methods, with the sizes in the
# titles.

fig, axes = plt.subplots(1, 3, figsize=(13, 4.4), sharex=True, sharey=True)
for ax, (name, label) in zip(axes, labels.items()):
    order, sizes = by_size(label)
    rank = np.argsort(order)  # cluster id -> rank by size, for stable colours
    ax.scatter(X[:, 0], X[:, 1], c=rank[label], cmap="tab10", vmin=0, vmax=9, s=8)
    ax.set_title(f"{name}\n" + " / ".join(f"{s:.0%}" for s in sizes), fontsize=10)
    ax.set_xlabel("feature 1")
axes[0].set_ylabel("feature 2")
fig.tight_layout()

# %%
# A collapse cured by a lower bound
# ---------------------------------
# Two clusters of 150 points, at (0, 0) and (4, 0), and ten copies of the
# point (2, 3). A three-component mixture can put its third component on the
# duplicates alone: its covariance degenerates (an eigenvalue shrinks to
# ``reg_covar``) and the likelihood grows without bound as ``reg_covar`` goes
# to 0. That component carries
# 10 / 310 = 3.2% of the data. A lower bound of 0.2 forbids a component that
# small.
#
# For ten seeds we fit the mixture with and without ``weight_bounds=(0.2,
# 1.0)``, with the default ``reg_covar=1e-6`` and with ``reg_covar=0``, and
# count the fits where a component collapsed (smallest covariance eigenvalue
# below ``1e-3``) and those that raised a ``ValueError`` (a covariance that is
# not positive definite, possible with ``reg_covar=0``).

rng = np.random.RandomState(0)
X2 = np.vstack(
    [rng.randn(150, 2), rng.randn(150, 2) + [4, 0], np.tile([[2.0, 3.0]], (10, 1))]
)
settings = {
    "unbounded": {},
    "bounded [0.2, 1]": dict(weight_bounds=(0.2, 1.0)),
    "unbounded, reg_covar=0": dict(reg_covar=0.0),
    "bounded [0.2, 1], reg_covar=0": dict(reg_covar=0.0, weight_bounds=(0.2, 1.0)),
}
fitted = {}
print(f"\n{'setting':<30} {'collapsed':>9} {'ValueError':>10} {'warnings':>8}")
for name, params in settings.items():
    n_collapsed = n_errors = n_warnings = 0
    for seed in range(10):
        model = OTGaussianMixture(3, max_iter=300, random_state=seed, **params)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                model.fit(X2)
            except ValueError:
                n_errors += 1
                continue
            finally:
                n_warnings += len(caught)
        smallest = min(np.linalg.eigvalsh(c).min() for c in model.covariances_)
        n_collapsed += smallest < 1e-3
        fitted[name, seed] = model
    print(f"{name:<30} {n_collapsed:>6d}/10 {n_errors:>7d}/10 {n_warnings:>8d}")

SEED = 1
print(f"\nseed {SEED}: weight and covariance eigenvalues of each component")
for name in ("unbounded", "bounded [0.2, 1]"):
    model = fitted[name, SEED]
    print(
        f"  {name:<18}"
        + "   ".join(
            f"{w:.3f} ({e[0]:.1e}, {e[1]:.1e})"
            for w, e in zip(model.weights_, np.linalg.eigvalsh(model.covariances_))
        )
    )

# Where the mass of the smallest component of seed 1 is: its responsibilities
# (``predict_proba``) summed over the duplicates and over the other points, and
# the other point it takes most of.
for name in ("unbounded", "bounded [0.2, 1]"):
    model = fitted[name, SEED]
    responsibility = model.predict_proba(X2)[:, np.argmin(model.weights_)]
    top = np.argmax(responsibility[:300])
    print(
        f"  {name:<18}smallest component: {responsibility[300:].sum():.2f} on the "
        f"duplicates, {responsibility[:300].sum():.2f} on the other points; "
        f"most on ({X2[top, 0]:.2f}, {X2[top, 1]:.2f}): {responsibility[top]:.2f}"
    )

# %%
# Without bounds, 8 of the 10 fits end with a collapsed component. With
# ``reg_covar=0``, 7 fits fail with a ``ValueError`` and 1 more collapses. With
# the lower bound, no fit collapses and none fails, with either ``reg_covar``.
# No fit raised a warning.
#
# The plot shows seed 1, unbounded and bounded: each component's mean (a cross)
# and its ellipse at two standard deviations. Unbounded, the third component
# has weight 0.035, about the ten duplicates' 10 / 310, and a covariance with
# eigenvalues 1e-6 (``reg_covar``) and 0.18: a needle of zero width. Its
# mass is the ten duplicates and, for 0.91, one other point, (1.92, 1.48):
# eleven points on a line, which a flat Gaussian fits with a density limited
# only by ``reg_covar``.
# Bounded, that component's weight is 0.2, 62 points' worth, far more than
# the duplicates: it sits between the two clusters, its smallest covariance
# eigenvalue is 0.70, and its posterior probabilities put 49.65 points' worth
# on points of the clusters besides the 10 on the duplicates. (``predict_proba``
# is the Bayes posterior at the fitted parameters, without the bounds, so it
# need not add up to the weight.)


def draw_mixture(ax, model, colors=("tab:blue", "tab:orange", "tab:green")):
    for mean, covariance, weight, color in zip(
        model.means_, model.covariances_, model.weights_, colors
    ):
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        angle = np.degrees(np.arctan2(eigenvectors[1, -1], eigenvectors[0, -1]))
        width, height = 4 * np.sqrt(eigenvalues[::-1])
        ax.add_patch(
            Ellipse(mean, width, height, angle=angle, fill=False, edgecolor=color, lw=2)
        )
        ax.plot(*mean, "x", color=color, ms=10, mew=2, label=f"weight {weight:.3f}")


fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), sharex=True, sharey=True)
for ax, name in zip(axes, ("unbounded", "bounded [0.2, 1]")):
    ax.scatter(X2[:300, 0], X2[:300, 1], s=8, color="grey", alpha=0.6)
    ax.scatter(*X2[300], s=40, color="k", marker="s", label="10 duplicates")
    draw_mixture(ax, fitted[name, SEED])
    ax.set_title(f"{name}, seed {SEED}", fontsize=10)
    ax.set_xlabel("feature 1")
    ax.legend(loc="lower left", fontsize=8)
axes[0].set_ylabel("feature 2")
fig.tight_layout()
plt.show()
