"""Parity of OTGaussianMixture (defaults) with GaussianMixture, as a table.

For each data set, covariance type and init_params, both estimators are fitted
with random_state=0; the table gives the largest entry-wise relative difference
over weights_, means_, covariances_ and precisions_cholesky_, and whether n_iter_
and the predictions agree for all four initialisations.

Run ``python benchmarks/parity_table.py``.
"""

import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from sklearn_otmix import OTGaussianMixture

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
from conftest import COVARIANCE_TYPES, DATASETS, INIT_PARAMS  # noqa: E402

ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_cholesky_")


def relative_difference(ours, theirs):
    worst = 0.0
    for name in ATTRIBUTES:
        a, b = getattr(ours, name), getattr(theirs, name)
        scale = np.where(b != 0, np.abs(b), 1.0)
        worst = max(worst, float(np.max(np.abs(a - b) / scale)))
    return worst


def main():
    print(
        "| data set | covariance | "
        + " | ".join(INIT_PARAMS)
        + " | n_iter_ equal | predictions equal |"
    )
    print("|---" * (len(INIT_PARAMS) + 4) + "|")
    for dataset, (X, n_components) in DATASETS.items():
        for covariance_type in COVARIANCE_TYPES:
            cells, same_iter, same_labels = [], True, True
            for init_params in INIT_PARAMS:
                params = dict(
                    n_components=n_components,
                    random_state=0,
                    covariance_type=covariance_type,
                    init_params=init_params,
                )
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    theirs = GaussianMixture(**params).fit(X)
                    ours = OTGaussianMixture(**params).fit(X)
                cells.append(f"{relative_difference(ours, theirs):.1e}")
                same_iter &= ours.n_iter_ == theirs.n_iter_
                same_labels &= bool(np.all(ours.predict(X) == theirs.predict(X)))
            flags = ["yes" if flag else "NO" for flag in (same_iter, same_labels)]
            print(
                f"| {dataset} | {covariance_type} | " + " | ".join(cells + flags) + " |"
            )


if __name__ == "__main__":
    main()
