"""Cross-validated accuracy of the classifier with Ledoit-Wolf shrinkage,
against scikit-learn's classifiers, every row labelled.

Data sets shipped with scikit-learn: iris, wine, breast_cancer and digits. Each
method is a pipeline fitted on the training folds only: wine and
breast_cancer standardised (``StandardScaler``), digits reduced to 10
dimensions (``PCA(n_components=10, random_state=0)``), iris as it is. The
methods:

- ``OTGaussianMixtureClassifier(covariance_type="tied", shrinkage="auto")``
  and the same with ``"full"``;
- ``LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")``;
- ``QuadraticDiscriminantAnalysis`` with ``reg_param`` chosen by an inner
  5-fold ``GridSearchCV`` over 0, 0.001, 0.01, 0.1, 0.3, 0.5 and 0.9 (nested
  cross-validation: the choice sees the training folds only);
- ``GaussianNB()``;
- ``LogisticRegression(max_iter=5000)`` after a ``StandardScaler``.

The accuracy is that of ``cross_val_score`` over
``StratifiedKFold(5, shuffle=True, random_state=0)``: the table gives its mean
and standard deviation over the five folds (``ddof=0``); a fold whose fit
raised is counted and left out. Warnings are recorded: each distinct first
line once per data set and method, with its count.

Run ``python benchmarks/discriminant_table.py`` (a few seconds; ``--rst``
prints the table as reStructuredText for the user guide).
"""

import argparse
import shlex
import sys
import warnings
from collections import Counter
from pathlib import Path
from time import perf_counter

import numpy as np
import sklearn
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import (
    LinearDiscriminantAnalysis,
    QuadraticDiscriminantAnalysis,
)
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import sklearn_otmix
from sklearn_otmix import OTGaussianMixtureClassifier

sys.path.insert(0, str(Path(__file__).parent))
from bench_semi_supervised import list_table  # noqa: E402

REG_PARAMS = [0.0, 0.001, 0.01, 0.1, 0.3, 0.5, 0.9]


def datasets():
    """(name, X, y, preprocessing step or None) of each data set."""
    yield "iris", *load_iris(return_X_y=True), None
    yield "wine", *load_wine(return_X_y=True), StandardScaler()
    yield "breast_cancer", *load_breast_cancer(return_X_y=True), StandardScaler()
    yield "digits (PCA 10)", *load_digits(return_X_y=True), PCA(10, random_state=0)


METHODS = {
    "OT tied, shrinkage auto": lambda: OTGaussianMixtureClassifier(
        covariance_type="tied", shrinkage="auto"
    ),
    "OT full, shrinkage auto": lambda: OTGaussianMixtureClassifier(
        covariance_type="full", shrinkage="auto"
    ),
    "LDA, shrinkage auto": lambda: LinearDiscriminantAnalysis(
        solver="lsqr", shrinkage="auto"
    ),
    "QDA, reg_param by CV": lambda: GridSearchCV(
        QuadraticDiscriminantAnalysis(), {"reg_param": REG_PARAMS}, cv=5
    ),
    "GaussianNB": GaussianNB,
    "LogisticRegression": lambda: make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=5000)
    ),
}


def scores_of(make, X, y, step):
    """The five folds' accuracies of a method (NaN where a fold raised) and
    the warnings of its fits."""
    model = make() if step is None else make_pipeline(sklearn.clone(step), make())
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = cross_val_score(model, X, y, cv=folds, error_score=np.nan)
    return scores, Counter(
        f"{w.category.__name__}: {_first_line(w.message)}" for w in caught
    )


def _first_line(message, width=60):
    line = str(message).strip().splitlines()[0]
    return line if len(line) <= width else line[: width - 3] + "..."


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rst", action="store_true", help="a reST list-table")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads")
    parser.add_argument(
        "--data", nargs="*", help="data sets to run (default: all four)"
    )
    args = parser.parse_args(argv)
    print(
        f"scikit-learn {sklearn.__version__}, sklearn_otmix "
        f"{sklearn_otmix.__version__}, numpy {np.__version__}; "
        f"{args.threads} BLAS thread(s)"
    )
    start = perf_counter()
    results, notes = {}, []
    with threadpool_limits(args.threads):
        for name, X, y, step in datasets():
            if args.data and name.split()[0] not in args.data:
                continue
            results[name] = {}
            for method, make in METHODS.items():
                scores, caught = scores_of(make, X, y, step)
                results[name][method] = scores
                notes.extend(
                    f"{name}, {method}: {message} (x{count})"
                    for message, count in caught.items()
                )
    header = ["data", *METHODS]
    rows = []
    for name, table in results.items():
        cells = []
        for scores in table.values():
            valid = scores[~np.isnan(scores)]
            cell = f"{valid.mean():.3f} ± {valid.std():.3f}" if valid.size else "-"
            if valid.size < scores.size:
                cell += f" ({scores.size - valid.size} fold(s) failed)"
            cells.append(cell)
        rows.append([name, *cells])
    title = "5-fold cross-validated accuracy, mean ± std over the folds"
    if args.rst:
        print(list_table(title, header, rows))
    else:
        print(title)
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    for note in notes:
        print(f"- {note}")
    print(f"\nTotal wall time: {perf_counter() - start:.1f} s")
    print(f"Command: {shlex.join(['python', *sys.argv])}")
    return results


if __name__ == "__main__":
    main()
