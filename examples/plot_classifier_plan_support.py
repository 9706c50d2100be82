r"""
============================================
Labels as constraints on the transport plan
============================================

In the transport view, fitting a Gaussian mixture is an entropic
optimal-transport problem between the samples, with masses :math:`a_i` (their
sample weights, 1 by default), and the components, with masses :math:`\pi_k`,
for the cost :math:`C_{ik} = -\log \mathcal{N}(x_i; \mu_k, \Sigma_k)`.
:class:`~sklearn_otmix.OTGaussianMixtureClassifier` gives every class one or
more components and adds one constraint: the row of the plan :math:`P` of a
labelled sample is zero outside its class's components (an infinite cost
there). An unlabelled sample (``y = -1``) may go to any component.

With the default ``reg=1`` and ``reg_m=0`` the E-step has a closed form: with
:math:`A_i` the components that sample :math:`i` may use (its class's
components if it is labelled, all of them otherwise),

.. math::

    P_{ik} = a_i\, \frac{\pi_k\, \mathcal{N}(x_i; \mu_k, \Sigma_k)}
                        {\sum_{l \in A_i} \pi_l\, \mathcal{N}(x_i; \mu_l, \Sigma_l)}
    \quad \text{for } k \in A_i, \qquad P_{ik} = 0 \text{ otherwise}.

For an unlabelled row this is the Bayes posterior of the components, EM's
responsibilities; for a labelled row it is the posterior restricted to, and
renormalised over, the components of its class. This example computes that
plan from the attributes of a fitted classifier, draws it, and looks at a
labelled point that lies among the other class's points.
"""

# %%
# Data
# ----
# Two classes, each made of two blobs of 60 points, in a cross: class 0 on the
# horizontal axis, class 1 on the vertical one. No single Gaussian per class
# describes this well, so each class gets two components. Five points per blob
# are labelled, the other 220 are not. We add one labelled point of class 1 at
# ``(-1.8, 0.6)``, close to the left blob of class 0: a label that the geometry
# alone would contradict.

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import to_rgba
from matplotlib.patches import Ellipse
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from sklearn_otmix import OTGaussianMixtureClassifier

rng = np.random.RandomState(2)
centres = np.array([[-3.0, 0.0], [3.0, 0.0], [0.0, 3.0], [0.0, -3.0]])
blob_class = np.array([0, 0, 1, 1])
n_per_blob, n_labelled_per_blob = 60, 5

X = np.vstack([centre + 0.8 * rng.randn(n_per_blob, 2) for centre in centres])
y_true = np.repeat(blob_class, n_per_blob)
y = np.full(X.shape[0], -1)
for blob in range(len(centres)):
    rows = blob * n_per_blob + rng.choice(n_per_blob, n_labelled_per_blob, False)
    y[rows] = y_true[rows]

placed = np.array([-1.8, 0.6])
X = np.vstack([X, placed])
y = np.append(y, 1)
y_true = np.append(y_true, 1)
i_placed = X.shape[0] - 1
labelled = y != -1
print(f"{labelled.sum()} labelled rows, {(~labelled).sum()} unlabelled rows")

# %%
# Fit
# ---
# The two components of each class start on the k-means centres of the
# class's labelled points; the unlabelled points start spread evenly over all
# four components, which widens their initial covariances. The printed
# distances, from each blob centre to the nearest component mean, show that
# the fit puts one component on each blob.

clf = OTGaussianMixtureClassifier(
    n_components_per_class=2, covariance_type="full", random_state=0
).fit(X, y)

distances = np.linalg.norm(centres[:, None, :] - clf.means_[None], axis=2)
accuracy = np.mean(clf.predict(X[~labelled]) == y_true[~labelled])
print(
    "blob centre to nearest component mean: "
    f"{np.array2string(distances.min(axis=1), precision=2)}"
)
print(f"accuracy on the unlabelled rows: {accuracy:.3f}")

# %%
# The plan, from the fitted attributes
# ------------------------------------
# The log-numerator of the plan is :math:`\log \pi_k + \log \mathcal{N}(x_i;
# \mu_k, \Sigma_k)`, from ``weights_``, ``means_`` and ``covariances_``. Where a
# labelled row meets a component of another class (``component_class_`` indexes
# ``classes_``) it is set to :math:`-\infty`, and each row is normalised in the
# log domain. Here :math:`a_i = 1`, so each row of the plan sums to one.

log_joint = np.log(clf.weights_) + np.column_stack(
    [
        multivariate_normal(mean, covariance).logpdf(X)
        for mean, covariance in zip(clf.means_, clf.covariances_)
    ]
)
component_label = clf.classes_[clf.component_class_]
forbidden = labelled[:, None] & (component_label[None, :] != y[:, None])

constrained = np.where(forbidden, -np.inf, log_joint)
plan = np.exp(constrained - logsumexp(constrained, axis=1, keepdims=True))
posterior = np.exp(log_joint - logsumexp(log_joint, axis=1, keepdims=True))

print(f"forbidden entries: {forbidden.sum()} of {forbidden.size}")
print(f"largest plan entry on a forbidden entry: {plan[forbidden].max()}")
print(f"all forbidden entries exactly 0.0: {bool(np.all(plan[forbidden] == 0.0))}")

# %%
# On an unlabelled row nothing is forbidden, and the plan summed over each
# class's components is the class posterior that ``predict_proba`` returns.

class_mass = np.column_stack(
    [plan[:, clf.component_class_ == c].sum(axis=1) for c in range(2)]
)
gap = np.abs(class_mass[~labelled] - clf.predict_proba(X[~labelled])).max()
print(f"unlabelled rows: largest gap to predict_proba: {gap:.1e}")

# %%
# The placed point
# ----------------
# For the labelled point of class 1 near the left blob of class 0, the
# unconstrained posterior of the mixture (the E-step it would get without its
# label) sends nearly all its mass to the components of class 0. The
# constraint sends all of it to the components of class 1, practically all to
# the nearer, top one. The label constrains the fit, not the prediction:
# ``predict_proba`` and ``predict`` are the fitted mixture's Bayes posterior,
# and still give this point to class 0.

rounded_means = np.round(clf.means_, 1) + 0.0  # + 0.0 turns -0.0 into 0.0
names = [
    f"comp. {k}, class {label}, mean ({mean[0]:.1f}, {mean[1]:.1f})"
    for k, (label, mean) in enumerate(zip(component_label, rounded_means))
]
print(f"point {placed.tolist()}, label {y[i_placed]}")
print(f"{'component':<36} {'plan row':>9} {'posterior':>9}")
for name, p, q in zip(names, plan[i_placed], posterior[i_placed]):
    print(f"{name:<36} {p:>9.2e} {q:>9.2e}")
print(f"predict_proba: {np.round(clf.predict_proba(X[[i_placed]])[0], 4)}")
print(f"predict: {clf.predict(X[[i_placed]])[0]}")

# %%
# The figure
# ----------
# Left, the plan: each point is joined to every component it sends mass to,
# with a width and an opacity proportional to the entry of the plan. Labelled
# points (coloured by class) are joined only to their class's components,
# with thick segments; unlabelled points (grey) to all four, with thin ones.
# The ellipses are the components at two standard deviations. Right, the row of
# the placed point (circled on the left), with and without its label.

class_colors = np.array([to_rgba("tab:blue"), to_rgba("tab:orange")])
component_colors = class_colors[clf.component_class_]


def segments(rows, max_width, max_alpha):
    """Segments from ``X[rows]`` to every component, scaled by the plan."""
    ends = np.stack(np.broadcast_arrays(X[rows][:, None], clf.means_[None]), axis=2)
    weight = plan[rows].ravel()
    colors = np.tile(component_colors, (len(rows), 1))
    colors[:, 3] = max_alpha * weight
    keep = weight > 1e-3
    return LineCollection(
        ends.reshape(-1, 2, 2)[keep],
        colors=colors[keep],
        linewidths=max_width * weight[keep],
        zorder=1,
    )


fig, (ax, ax_row) = plt.subplots(
    1, 2, figsize=(12, 5.6), gridspec_kw=dict(width_ratios=[1.6, 1])
)
ax.add_collection(segments(np.flatnonzero(~labelled), 1.0, 0.35))
ax.add_collection(segments(np.flatnonzero(labelled), 3.0, 0.9))
ax.scatter(*X[~labelled].T, s=9, color="0.6", zorder=2, label="unlabelled")
for c, label in enumerate(clf.classes_):
    rows = y == label
    ax.scatter(
        *X[rows].T,
        s=40,
        color=class_colors[c],
        edgecolor="k",
        zorder=3,
        label=f"labelled, class {label}",
    )
ax.scatter(*placed, s=220, facecolor="none", edgecolor="k", linewidth=1.5, zorder=3)
for mean, covariance, color in zip(clf.means_, clf.covariances_, component_colors):
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
            linewidth=2,
            zorder=4,
        )
    )
    ax.scatter(*mean, marker="X", s=120, color=color, edgecolor="k", zorder=5)
ax.set_aspect("equal")
ax.set_xlabel("feature 1")
ax.set_ylabel("feature 2")
ax.set_title("Plan: segment width and opacity proportional to $P_{ik}$", fontsize=10)
ax.legend(loc="upper left", fontsize=8)

positions = np.arange(len(names))
ax_row.bar(
    positions - 0.2,
    plan[i_placed],
    width=0.4,
    color=component_colors,
    edgecolor="k",
    label="plan row (label as constraint)",
)
ax_row.bar(
    positions + 0.2,
    posterior[i_placed],
    width=0.4,
    color=component_colors,
    edgecolor="k",
    hatch="//",
    alpha=0.5,
    label="posterior (label ignored)",
)
ax_row.set_xticks(positions)
ax_row.set_xticklabels([name.replace(", ", "\n", 2) for name in names], fontsize=8)
ax_row.set_ylim(0, 1.05)
ax_row.set_ylabel("share of the point's mass")
ax_row.set_title(f"Row of the placed point {placed.tolist()}, class 1", fontsize=10)
ax_row.legend(fontsize=8)
fig.tight_layout()
plt.show()
