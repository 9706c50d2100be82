"""OTGaussianMixtureClassifier against LDA and QDA, every row labelled.

With one component per class and ``reg_covar=0`` the classifier's fit is one
M-step on the labels: ``covariance_type="tied"`` is
``LinearDiscriminantAnalysis(solver="lsqr", store_covariance=True)`` and
``"full"`` is ``QuadraticDiscriminantAnalysis(store_covariance=True)`` (whose
covariances scikit-learn 1.9 normalises by ``n_k``, as the classifier does).
The table gives, on data shipped with scikit-learn, the largest difference of
the means and covariances relative to the largest entry, and the largest
absolute difference of ``predict_proba``; QDA refuses data where a class's
covariance is singular, and the row says so.

Run ``python benchmarks/discriminant_parity.py``.
"""

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import (
    LinearDiscriminantAnalysis,
    QuadraticDiscriminantAnalysis,
)
from sklearn.preprocessing import StandardScaler

from sklearn_otmix import OTGaussianMixtureClassifier


def datasets():
    """(name, X, y) of the data sets compared."""
    yield "iris", *load_iris(return_X_y=True)
    yield "wine", *load_wine(return_X_y=True)
    X, y = load_breast_cancer(return_X_y=True)
    yield "breast_cancer (standardised)", StandardScaler().fit_transform(X), y
    X, y = load_digits(return_X_y=True)
    yield "digits (PCA 20)", PCA(20, random_state=0).fit_transform(X), y


def relative(actual, desired):
    """Largest difference relative to the largest entry of ``desired``."""
    desired = np.asarray(desired)
    return np.abs(np.asarray(actual) - desired).max() / np.abs(desired).max()


def compare(X, y):
    """The differences of one data set: LDA's three, then QDA's four (or the
    error QDA raised)."""
    lda = LinearDiscriminantAnalysis(solver="lsqr", store_covariance=True).fit(X, y)
    tied = OTGaussianMixtureClassifier(covariance_type="tied", reg_covar=0).fit(X, y)
    row = [
        f"{relative(tied.means_, lda.means_):.1e}",
        f"{relative(tied.covariances_, lda.covariance_):.1e}",
        f"{np.abs(tied.predict_proba(X) - lda.predict_proba(X)).max():.1e}",
    ]
    try:
        qda = QuadraticDiscriminantAnalysis(store_covariance=True).fit(X, y)
    except np.linalg.LinAlgError as error:
        return row + [f"QDA raised: {error}"]
    full = OTGaussianMixtureClassifier(covariance_type="full", reg_covar=0).fit(X, y)
    covariances = max(
        relative(ours, theirs)
        for ours, theirs in zip(full.covariances_, qda.covariance_, strict=True)
    )
    return row + [
        f"{relative(full.means_, qda.means_):.1e}",
        f"{covariances:.1e}",
        f"{np.abs(full.predict_proba(X) - qda.predict_proba(X)).max():.1e}",
        "yes" if np.array_equal(full.predict(X), qda.predict(X)) else "NO",
    ]


def main():
    header = [
        "data",
        "LDA means",
        "LDA covariance",
        "LDA predict_proba",
        "QDA means",
        "QDA covariances",
        "QDA predict_proba",
        "QDA predict equal",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    rows = {}
    for name, X, y in datasets():
        rows[name] = compare(X, y)
        print(f"| {name} | " + " | ".join(rows[name]) + " |")
    return rows


if __name__ == "__main__":
    main()
