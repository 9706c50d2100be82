r"""
===============================================================
Model selection: cross-validated likelihood, BIC and AIC
===============================================================

How many components, and which covariance structure? Two common answers for a
mixture:

- held-out likelihood: :class:`~sklearn_otmix.OTGaussianMixture` is a
  scikit-learn density estimator whose ``score`` is the mean log-likelihood,
  so :class:`~sklearn.model_selection.GridSearchCV` uses it as the score
  without any ``scoring`` argument;
- information criteria on the training data, ``bic`` and ``aic``: :math:`-2`
  times the log-likelihood plus a penalty on the number :math:`p` of free
  parameters (:math:`p \log n` and :math:`2p`).

Both are computed here over ``n_components`` from 1 to 6 and the four
``covariance_type`` values, on data drawn from a known mixture.
"""

# %%
# Data
# ----
# 600 points from three 2-D Gaussians with different, elongated covariances:
# the true model has 3 components and ``covariance_type="full"``.

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_otmix import OTGaussianMixture

rng = np.random.RandomState(0)
means = np.array([[0.0, 0.0], [4.0, 1.0], [1.0, 4.0]])
covariances = np.array(
    [[[1.0, 0.7], [0.7, 1.0]], [[0.5, -0.3], [-0.3, 0.4]], [[1.5, 0.0], [0.0, 0.2]]]
)
sizes = (250, 200, 150)
X = np.vstack(
    [
        rng.multivariate_normal(mean, covariance, size)
        for mean, covariance, size in zip(means, covariances, sizes)
    ]
)

# %%
# Cross-validated log-likelihood
# ------------------------------
# Five-fold cross-validation; each candidate is fitted on four folds and scored
# by its mean log-likelihood on the fifth (higher is better). The folds are
# shuffled since the rows are sorted by cluster.

param_grid = {
    "n_components": range(1, 7),
    "covariance_type": ["spherical", "tied", "diag", "full"],
}
search = GridSearchCV(
    OTGaussianMixture(random_state=0),
    param_grid,
    cv=KFold(n_splits=5, shuffle=True, random_state=0),
).fit(X)
print("best parameters:", search.best_params_)
print(f"best mean held-out log-likelihood: {search.best_score_:.3f}")

results = pd.DataFrame(search.cv_results_)[
    ["param_n_components", "param_covariance_type", "mean_test_score", "std_test_score"]
]
results.sort_values("mean_test_score", ascending=False).head(6)

# %%
# BIC and AIC
# -----------
# Each candidate is fitted once on all the data. BIC penalises the number of
# parameters more than AIC for more than :math:`e^2 \approx 7` samples, so it
# picks smaller models.

criteria = {"bic": {}, "aic": {}}
for covariance_type in param_grid["covariance_type"]:
    for name in criteria:
        criteria[name][covariance_type] = []
    for n_components in param_grid["n_components"]:
        model = OTGaussianMixture(
            n_components, covariance_type=covariance_type, random_state=0
        ).fit(X)
        criteria["bic"][covariance_type].append(model.bic(X))
        criteria["aic"][covariance_type].append(model.aic(X))

for name, values in criteria.items():
    table = pd.DataFrame(values, index=param_grid["n_components"])
    n_components, covariance_type = table.stack().idxmin()
    print(
        f"lowest {name.upper()}: n_components={n_components}, "
        f"covariance_type={covariance_type!r}"
    )

# %%
# Plot
# ----
# Left: mean held-out log-likelihood, with one standard deviation over the
# folds. Right: BIC (solid) and AIC (dashed); lower is better. All three
# criteria select the true model on these data, three full-covariance
# components; the held-out likelihood and AIC are flatter beyond it than BIC.

colors = dict(
    zip(
        param_grid["covariance_type"],
        ["tab:blue", "tab:orange", "tab:green", "tab:red"],
    )
)
n_range = np.array(list(param_grid["n_components"]))
fig, (ax_cv, ax_ic) = plt.subplots(1, 2, figsize=(11, 4.2))
for covariance_type, color in colors.items():
    rows = results[results["param_covariance_type"] == covariance_type]
    ax_cv.errorbar(
        rows["param_n_components"].astype(int)
        + 0.05 * (list(colors).index(covariance_type) - 1.5),
        rows["mean_test_score"],
        yerr=rows["std_test_score"],
        marker="o",
        color=color,
        capsize=3,
        label=covariance_type,
    )
    ax_ic.plot(
        n_range,
        criteria["bic"][covariance_type],
        marker="o",
        color=color,
        label=f"{covariance_type} BIC",
    )
    ax_ic.plot(
        n_range,
        criteria["aic"][covariance_type],
        marker="s",
        color=color,
        linestyle="--",
        label=f"{covariance_type} AIC",
    )
ax_cv.set_xlabel("n_components")
ax_cv.set_ylabel("mean held-out log-likelihood")
ax_cv.set_title("GridSearchCV, scored by OTGaussianMixture.score", fontsize=10)
ax_cv.legend(title="covariance_type", fontsize=8)
ax_ic.set_xlabel("n_components")
ax_ic.set_ylabel("criterion (lower is better)")
ax_ic.set_title("BIC and AIC on the training data", fontsize=10)
ax_ic.legend(fontsize=7, ncol=2)
fig.tight_layout()
plt.show()
