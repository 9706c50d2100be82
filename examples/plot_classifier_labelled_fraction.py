"""
======================================================================
Semi-supervised classification: accuracy against the labelled fraction
======================================================================

:class:`~sklearn_otmix.OTGaussianMixtureClassifier` fits one Gaussian mixture
to all the rows it is given, labelled or not: a labelled row may only go to its
class's components, an unlabelled row (``y = -1``) to any. With unlabelled rows
this is semi-supervised EM: they take part in estimating the means, the
covariances and the weights, through their posterior.

Whether that helps depends on how well the mixture describes the data. This
example hides the labels of a growing part of two data sets and measures the
accuracy on the hidden rows of four classifiers:

- ``OTGaussianMixtureClassifier(covariance_type="tied", unlabelled_weight=1)``
  fitted on all rows, the hidden ones marked ``-1`` (plain semi-supervised
  EM: every hidden row weighs as much as a labelled one);
- the same with its default ``unlabelled_weight="auto"``: the hidden rows'
  weight chosen by cross-validation on the labelled rows, among 0, 0.01, 0.1,
  0.3 and 1;
- the same, fitted on the labelled rows only: with one component per class
  and a tied covariance this is linear discriminant analysis, with the
  maximum-likelihood covariance and no shrinkage;
- :class:`sklearn.semi_supervised.LabelSpreading` with its ``kernel="knn"``,
  a graph method that makes no Gaussian assumption.
"""

# %%
# Data
# ----
# - Wine: 178 wines, 3 cultivars, 13 chemical measurements, standardised.
# - Digits: 1797 images of 8x8 pixels, 10 digits, projected on their first 30
#   principal components (96% of the variance). The projection uses every
#   image but no label.

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits, load_wine
from sklearn.decomposition import PCA
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading

from sklearn_otmix import OTGaussianMixtureClassifier

X_wine, y_wine = load_wine(return_X_y=True)
X_wine = StandardScaler().fit_transform(X_wine)

X_digits, y_digits = load_digits(return_X_y=True)
pca = PCA(n_components=30, random_state=0).fit(X_digits)
X_digits = pca.transform(X_digits)
print(f"digits: {pca.explained_variance_ratio_.sum():.0%} of the variance kept")

datasets = {
    "wine (13 features)": (X_wine, y_wine),
    "digits (30 principal components)": (X_digits, y_digits),
}

# %%
# Protocol
# --------
# For each labelled fraction, ``StratifiedShuffleSplit`` draws the labelled rows
# ten times (the same draws for the three methods); every other row is hidden.
# The score is the accuracy on the hidden rows: ``predict`` for the two
# mixtures, the transductive labels ``transduction_`` for ``LabelSpreading``.
# The error bars are the standard deviation over the draws.

fractions = [0.02, 0.05, 0.1, 0.25, 0.5]
n_draws = 10
methods = [
    "semi-supervised EM",
    "default (weight 'auto')",
    "labelled rows only",
    "LabelSpreading (knn)",
]


def hidden_accuracies(X, y, fraction):
    """Accuracy on the hidden rows of each method, one per draw, and the number
    of labelled rows."""
    scores = {method: [] for method in methods}
    splitter = StratifiedShuffleSplit(
        n_splits=n_draws, train_size=fraction, random_state=0
    )
    for labelled, _ in splitter.split(X, y):
        y_partial = np.full_like(y, -1)
        y_partial[labelled] = y[labelled]
        hidden = y_partial == -1

        semi = OTGaussianMixtureClassifier(covariance_type="tied", unlabelled_weight=1)
        semi.fit(X, y_partial)
        auto = OTGaussianMixtureClassifier(covariance_type="tied", random_state=0)
        auto.fit(X, y_partial)
        supervised = OTGaussianMixtureClassifier(covariance_type="tied")
        supervised.fit(X[labelled], y[labelled])
        spreading = LabelSpreading(kernel="knn").fit(X, y_partial)

        predictions = {
            "semi-supervised EM": semi.predict(X[hidden]),
            "default (weight 'auto')": auto.predict(X[hidden]),
            "labelled rows only": supervised.predict(X[hidden]),
            "LabelSpreading (knn)": spreading.transduction_[hidden],
        }
        for method, predicted in predictions.items():
            scores[method].append(np.mean(predicted == y[hidden]))
    return scores, len(labelled)


accuracies, n_labelled = {}, {}
for name, (X, y) in datasets.items():
    runs = [hidden_accuracies(X, y, fraction) for fraction in fractions]
    accuracies[name] = {
        method: np.array([scores[method] for scores, _ in runs]) for method in methods
    }
    n_labelled[name] = [count for _, count in runs]

    print(f"\n{name}: mean accuracy on the hidden rows (std over {n_draws} draws)")
    print(f"{'labelled':>12}" + "".join(f"{method:>24}" for method in methods))
    for row, fraction in enumerate(fractions):
        cells = "".join(
            f"{accuracies[name][method][row].mean():>16.3f} "
            f"({accuracies[name][method][row].std():.3f})"
            for method in methods
        )
        print(f"{fraction:>5.0%} ({n_labelled[name][row]:>4})" + cells)

# %%
# Results
# -------

fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
for ax, name in zip(axes, datasets):
    for method, marker in zip(methods, ["o", "D", "s", "^"]):
        scores = accuracies[name][method]
        ax.errorbar(
            fractions,
            scores.mean(axis=1),
            yerr=scores.std(axis=1),
            marker=marker,
            capsize=3,
            label=method,
        )
    ax.set_xscale("log")
    ax.set_xticks(fractions)
    ax.set_xticklabels([f"{f:.0%}\n({n})" for f, n in zip(fractions, n_labelled[name])])
    ax.minorticks_off()
    ax.set_xlabel("labelled fraction (number of labelled rows)")
    ax.set_title(name, fontsize=10)
axes[0].set_ylabel("accuracy on the hidden rows")
axes[0].legend(fontsize=8, loc="lower right")
fig.tight_layout()
plt.show()

# %%
# What the figure shows
# ---------------------
# **Wine.** Plain semi-supervised EM has the highest mean accuracy at every
# labelled fraction, about 0.97 or more from 5% (8 labelled rows) on. With a
# single labelled wine per cultivar (2%) its mean is lower and its spread over
# the draws is wide: the draw of the three labelled rows matters. A plausible
# reading: the three cultivars are well described by Gaussians with a shared
# covariance, and the hidden rows bring what the labelled rows lack, an
# estimate of that covariance from all 178 rows. The default keeps that gain:
# its cross-validation gives the hidden rows weight, and its means stay within
# 0.004 of plain EM's (at 2%, where no labelled row can be held out, it is
# plain EM).
#
# The fit on the labelled rows alone is not monotone: it gets worse from 2% to
# 10% before it improves. Its pooled covariance has ``n - 3`` degrees of
# freedom for 13 features: with 3 rows it is ``reg_covar`` times the identity
# (the rule is then the nearest class mean), with 8 it is singular, held only
# by ``reg_covar``, and with 17 it has full rank but is poorly estimated. This
# is the unregularised maximum-likelihood estimate; a shrunk covariance (the
# classifier's ``shrinkage="auto"``, LDA's Ledoit-Wolf estimate, not shown)
# would be the fairer supervised baseline at these sizes. ``LabelSpreading``
# improves steadily with the labels but stays below semi-supervised EM
# throughout.
#
# **Digits.** Plain semi-supervised EM helps only while the labels are very
# few. At 2% (35 labelled rows, fewer than the 40 that a full-rank pooled
# covariance needs in 30 dimensions with 10 classes) the labelled-only fit
# fails, and semi-supervised EM is as accurate as ``LabelSpreading``. From 10%
# on it is no better than the labelled rows alone, and at 25% and 50% it is
# worse (0.927 and 0.943 against 0.945 and 0.950). A likely reason is that one
# Gaussian per digit with a shared covariance is a rough model of the digits:
# the hidden rows, fitted by likelihood, move the components toward a better
# fit of the density rather than of the class boundaries, and once the labels
# suffice to estimate the mixture this costs more than it brings. The default
# follows the better of the two: plain EM's 0.893 at 2%, the labelled rows'
# 0.945 and 0.950 at 25% and 50%, and a little above both at 5% and 10%.
# ``LabelSpreading``, which makes no Gaussian assumption, is the most accurate
# from 5% on, by a wide margin.
#
# In short: the hidden rows help the mixture most when the labelled rows are
# too few to estimate it, and plain EM gains at every fraction tried only on
# the data set that the mixture seems to describe well; the default weight
# takes the gain where there is one and otherwise stays with the labelled
# rows.
