r"""
===========================================
Clustering with background noise
===========================================

Clusters in a background of scattered points: a Gaussian mixture must spend
components, or widen them, to cover the background. R's mclust adds one
more component instead, uniform over the region that the data fill (of
density :math:`1 / V`, :math:`V` the data's hypervolume), whose weight is
estimated with the Gaussians' (``Mclust(X, initialization = list(noise =
...))``). :class:`~sklearn_otmix.OTGaussianMixture` and
:class:`~sklearn_otmix.OTGaussianMixtureSearch` take it as ``noise=True``;
``predict`` then marks the background's rows with ``-1``.

This example draws the BIC curves of a few covariance models with and
without the noise component on three clusters in 15% uniform background
noise, then the two selected clusterings. See :ref:`mclust_noise` in the
user guide.
"""

# %%
# The data
# --------
# Three clusters of different spreads (340 rows) and 60 rows drawn uniformly
# over their bounding box, widened by a tenth on each side.

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import make_blobs

from sklearn_otmix import OTGaussianMixtureSearch

clusters, _ = make_blobs(
    n_samples=[150, 110, 80],
    centers=[[0.0, 0.0], [5.0, 4.0], [6.0, -2.0]],
    cluster_std=[1.0, 0.6, 0.8],
    random_state=0,
)
rng = np.random.RandomState(0)
low, high = clusters.min(axis=0), clusters.max(axis=0)
pad = 0.1 * (high - low)
background = rng.uniform(low - pad, high + pad, size=(60, 2))
X = np.vstack([clusters, background])
is_background = np.r_[np.zeros(len(clusters), bool), np.ones(len(background), bool)]

# %%
# Two searches
# ------------
# The same grid, four models and 1 to 7 components, fitted as mclust's
# ``Mclust`` does (EM from its hierarchical initialisation), once without and
# once with the noise component. With ``noise=True`` every cell starts from
# the same noise set: the rows whose neighbourhood is no denser than the
# noise's :math:`1 / V` (``noise_init=None``), computed once.

grid = {"n_components": range(1, 8), "covariance_types": ["EII", "VII", "EEE", "VVV"]}
searches = {
    "without noise": OTGaussianMixtureSearch(**grid, random_state=0).fit(X),
    "with noise": OTGaussianMixtureSearch(**grid, noise=True, random_state=0).fit(X),
}
pd.DataFrame(
    {
        name: {
            "model": search.best_params_["covariance_type"],
            "components": search.best_params_["n_components"],
            "BIC (mclust's sign)": -search.best_criterion_,
        }
        for name, search in searches.items()
    }
)

# %%
# The BIC curves
# --------------
# BIC in mclust's sign (higher is better) against the number of Gaussian
# components, one line per model. Without the noise component the BIC rises
# past three components: a fourth, wide component takes the background. With
# it, three components win, and every model's curve lies higher here: the
# uniform component describes the background better than a Gaussian does.
# (The two searches' BICs are those of models of the same data, and compare;
# a noise model counts two more parameters, the noise's weight and :math:`V`,
# as mclust does.)

fig, ax = plt.subplots(figsize=(8, 5))
for (name, search), style in zip(searches.items(), ["--", "-"]):
    results = pd.DataFrame(search.cv_results_)
    for k, model in enumerate(grid["covariance_types"]):
        rows = results[results["param_covariance_type"] == model]
        ax.plot(
            rows["param_n_components"],
            -rows["bic"],
            linestyle=style,
            marker="o",
            markersize=4,
            color=f"C{k}",
            label=f"{model}, {name}",
        )
    best = results.loc[search.best_index_]
    ax.plot(
        best["param_n_components"],
        -best["bic"],
        marker="o",
        markersize=16,
        markerfacecolor="none",
        markeredgecolor="k",
        linestyle="none",
    )
ax.set_xlabel("number of Gaussian components")
ax.set_ylabel("BIC, mclust's sign (higher is better)")
ax.set_title("Dashed: without the noise component; solid: with it", fontsize=10)
ax.legend(ncol=2, fontsize=8)
ax.grid(alpha=0.3)
fig.tight_layout()

# %%
# The clusterings
# ---------------
# Each search's selected mixture, coloured by its ``predict``; with the
# noise component the rows it marks ``-1`` are the grey crosses. The table
# counts how the rows drawn as background are labelled.

fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), sharex=True, sharey=True)
for ax, (name, search) in zip(axes, searches.items()):
    labels = search.predict(X)
    noise = labels == -1
    if noise.any():
        ax.scatter(*X[noise].T, marker="x", s=18, color="0.5", label="noise (-1)")
    for k in np.unique(labels[~noise]):
        ax.scatter(*X[labels == k].T, s=12, color=f"C{k}", label=f"component {k}")
    best = search.best_params_
    ax.set_title(
        f"{name}: {best['covariance_type']}, {best['n_components']} components",
        fontsize=10,
    )
    ax.legend(fontsize=7, loc="lower left")
fig.tight_layout()
plt.show()

labels = searches["with noise"].predict(X)
pd.crosstab(
    np.where(is_background, "background", "cluster"),
    np.where(labels == -1, "noise (-1)", "a component"),
    rownames=["drawn as"],
    colnames=["predicted"],
)

# %%
# Background rows that fall inside a cluster are, reasonably, the cluster's:
# the uniform density is low there next to the Gaussian's. The fitted
# noise weight estimates the background's share of the data.

mixture = searches["with noise"].best_estimator_
print(f"noise weight {mixture.noise_weight_:.3f} (drawn: {is_background.mean():.3f})")
print(f"hypervolume V = {mixture.hypervolume_:.1f}")
