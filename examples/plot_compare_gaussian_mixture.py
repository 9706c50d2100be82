"""
=======================================================
OTGaussianMixture versus scikit-learn's GaussianMixture
=======================================================

With its default parameters (``reg=1``, ``reg_m=0``) the E-step of
:class:`~sklearn_otmix.OTGaussianMixture` is a semi-relaxed entropic
optimal-transport problem whose solution is exactly EM's responsibilities, so the
estimator is a drop-in replacement for :class:`sklearn.mixture.GaussianMixture`:
from the same ``random_state`` it finds the same mixture.

This example checks that on the iris data, projected on its first two principal
components, and shows what changes when the mixing weights are instead fixed to
uniform values with ``reg_m=np.inf`` (Sinkhorn EM).
"""

# %%
# Data
# ----
# The four iris measurements are projected on their first two principal
# components. The mixtures are fitted on these 2-D points, the ones we plot.

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse
from sklearn.datasets import load_iris
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture

from sklearn_otmix import OTGaussianMixture

iris = load_iris()
X = PCA(n_components=2).fit_transform(iris.data)

# %%
# Fit both estimators
# -------------------
# Three full-covariance components, default k-means initialisation and the same
# ``random_state``: the two fits should agree to floating-point round-off.

params = dict(n_components=3, covariance_type="full", random_state=0)
sk_gmm = GaussianMixture(**params).fit(X)
ot_gmm = OTGaussianMixture(**params).fit(X)

print("max |means_ difference|       :", np.max(np.abs(sk_gmm.means_ - ot_gmm.means_)))
print(
    "max |covariances_ difference| :",
    np.max(np.abs(sk_gmm.covariances_ - ot_gmm.covariances_)),
)
print(
    "max |weights_ difference|     :",
    np.max(np.abs(sk_gmm.weights_ - ot_gmm.weights_)),
)
print(
    "same predictions              :",
    np.array_equal(sk_gmm.predict(X), ot_gmm.predict(X)),
)
print("n_iter_ (sklearn, otmix)      :", sk_gmm.n_iter_, ot_gmm.n_iter_)
print("lower_bound_ (sklearn, otmix) :", sk_gmm.lower_bound_, ot_gmm.lower_bound_)

# %%
# Fixed uniform weights
# ---------------------
# With ``reg_m=np.inf`` the E-step becomes a balanced entropic transport problem:
# every component receives exactly its target weight (uniform by default, the
# true class proportions of iris). The weights never move; the means and
# covariances adapt to this constraint.

fixed_gmm = OTGaussianMixture(reg_m=np.inf, **params).fit(X)
print("EM weights_           :", np.round(ot_gmm.weights_, 3))
print("fixed-weight weights_ :", np.round(fixed_gmm.weights_, 3))
print("max |means_ change|   :", np.max(np.abs(fixed_gmm.means_ - ot_gmm.means_)))


# %%
# Plot the components
# -------------------
# Each component is drawn as the ellipse at two standard deviations of its
# covariance (the eigenvectors give the axes, the square roots of the
# eigenvalues their half-lengths); points are coloured by the model's
# prediction.


def draw_ellipses(ax, model):
    colors = ["tab:blue", "tab:orange", "tab:green"]
    for mean, covariance, color in zip(model.means_, model.covariances_, colors):
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        angle = np.degrees(np.arctan2(eigenvectors[1, -1], eigenvectors[0, -1]))
        width, height = 2 * 2 * np.sqrt(eigenvalues[::-1])  # 2-sigma diameters
        ax.add_patch(
            Ellipse(
                mean,
                width,
                height,
                angle=angle,
                facecolor=color,
                alpha=0.25,
                edgecolor=color,
                linewidth=2,
            )
        )
        ax.plot(*mean, marker="x", color="k")
    labels = model.predict(X)
    ax.scatter(
        X[:, 0], X[:, 1], c=np.array(colors)[labels], s=12, edgecolor="k", linewidth=0.3
    )


models = [
    ("GaussianMixture", sk_gmm),
    ("OTGaussianMixture (EM, defaults)", ot_gmm),
    ("OTGaussianMixture(reg_m=np.inf)\nfixed uniform weights", fixed_gmm),
]
fig, axes = plt.subplots(1, 3, figsize=(13, 4.3), sharex=True, sharey=True)
for ax, (title, model) in zip(axes, models):
    draw_ellipses(ax, model)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("PC 1")
axes[0].set_ylabel("PC 2")
fig.tight_layout()
plt.show()
