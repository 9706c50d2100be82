r"""
==========================================
Sample weights are repeated rows
==========================================

``fit(X, sample_weight=w)`` gives sample :math:`i` the mass
:math:`a_i = w_i / \sum_j w_j` in the transport problem. An integer weight
therefore acts exactly like repeating the row that many times, and a zero weight
like removing it: the objective, every E-step and every M-step are the same.

The equivalence holds given the same *initial parameters*. A random
initialisation (k-means, or random responsibilities) draws its random numbers
per row, so a data set with repeated rows gets other draws than the weighted
one; this example passes explicit ``weights_init``, ``means_init`` and
``precisions_init`` to both fits.
"""

# %%
# Data and weights
# ----------------
# Two clusters of 2-D points; each point gets an integer weight between 0 and 4.
# ``np.repeat`` builds the data set in which each row appears ``weight`` times
# (rows of weight 0 disappear).

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse

from sklearn_otmix import OTGaussianMixture

rng = np.random.RandomState(0)
X = np.vstack(
    [
        rng.randn(60, 2) @ np.array([[1.0, 0.4], [0.0, 0.6]]),
        rng.randn(40, 2) * 0.8 + [3.0, 2.0],
    ]
)
sample_weight = rng.randint(0, 5, size=len(X))
X_repeated = np.repeat(X, sample_weight, axis=0)
print(
    f"{len(X)} weighted rows, {len(X_repeated)} repeated rows, "
    f"{np.sum(sample_weight == 0)} rows of weight 0"
)

# %%
# Same explicit initial parameters
# --------------------------------

init = dict(
    weights_init=[0.5, 0.5],
    means_init=[[-1.0, 0.0], [2.0, 1.0]],
    precisions_init=[np.eye(2), np.eye(2)],
)

# %%
# Weighted fit against repeated rows
# ----------------------------------
# We compare the fitted parameters, the number of iterations and the lower
# bound, for EM (the defaults) and for the other regimes of the transport
# objective. The differences are at the level of floating-point round-off.

settings = {
    "EM (defaults)": {},
    "reg_m=1 (penalised weights)": dict(reg_m=1.0),
    "reg_m=inf (fixed weights)": dict(reg_m=np.inf, weights_init=None),
    "reg=0.5 (harder assignments)": dict(reg=0.5),
}
fits = {}
for name, params in settings.items():
    options = {**init, **params}
    weighted = OTGaussianMixture(2, **options).fit(X, sample_weight=sample_weight)
    repeated = OTGaussianMixture(2, **options).fit(X_repeated)
    fits[name] = weighted, repeated
    differences = [
        np.max(np.abs(getattr(weighted, attribute) - getattr(repeated, attribute)))
        for attribute in ("weights_", "means_", "covariances_")
    ]
    print(
        f"{name:<29} max |difference| weights {differences[0]:.1e}, "
        f"means {differences[1]:.1e}, covariances {differences[2]:.1e}; "
        f"n_iter_ {weighted.n_iter_} / {repeated.n_iter_}; "
        f"lower_bound_ {weighted.lower_bound_:.10f} / {repeated.lower_bound_:.10f}"
    )

# %%
# ``score`` accepts the same weights: the weighted mean log-likelihood of
# ``X`` equals the mean log-likelihood of the repeated rows.

weighted, repeated = fits["EM (defaults)"]
print("score, weighted:", weighted.score(X, sample_weight=sample_weight))
print("score, repeated:", repeated.score(X_repeated))

# %%
# Plot
# ----
# Left: the weighted data, each point drawn with an area proportional to its
# weight (weight-0 points as grey crosses), and the ellipses (two standard
# deviations) of the weighted fit. Middle: the repeated rows, drawn
# translucent so that a point looks darker the more copies it has, with the
# ellipses of their fit drawn as black dashes over the weighted fit's coloured
# ones: they coincide. Right: for contrast, the fit that ignores the weights.


def draw_ellipses(ax, model, colors=("tab:blue", "tab:orange"), **style):
    for mean, covariance, color in zip(model.means_, model.covariances_, colors):
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        angle = np.degrees(np.arctan2(eigenvectors[1, -1], eigenvectors[0, -1]))
        width, height = 4 * np.sqrt(eigenvalues[::-1])
        ax.add_patch(
            Ellipse(
                mean,
                width,
                height,
                angle=angle,
                fill=False,
                edgecolor=color,
                **{"linewidth": 2, **style},
            )
        )


unweighted = OTGaussianMixture(2, **init).fit(X)
kept = sample_weight > 0

fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), sharex=True, sharey=True)
axes[0].scatter(
    X[kept, 0], X[kept, 1], s=15 * sample_weight[kept], color="k", alpha=0.5
)
axes[0].scatter(X[~kept, 0], X[~kept, 1], marker="x", color="grey", s=20)
draw_ellipses(axes[0], weighted)
axes[0].set_title("fit(X, sample_weight=w)", fontsize=10)

axes[1].scatter(X_repeated[:, 0], X_repeated[:, 1], s=15, color="k", alpha=0.15)
draw_ellipses(axes[1], weighted)
draw_ellipses(axes[1], repeated, colors=("k", "k"), linestyle="--", linewidth=1)
axes[1].set_title("fit(np.repeat(X, w, axis=0)), dashed", fontsize=10)

axes[2].scatter(X[:, 0], X[:, 1], s=15, color="k", alpha=0.5)
draw_ellipses(axes[2], unweighted)
axes[2].set_title("fit(X), weights ignored", fontsize=10)
for ax in axes:
    ax.set_xlabel("feature 1")
axes[0].set_ylabel("feature 2")
fig.tight_layout()
plt.show()
