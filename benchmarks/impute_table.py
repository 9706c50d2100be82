"""Imputers compared: RMSE of the imputed entries, accuracy of a classifier after.

For each data set and pattern of missing values, each imputer gives the RMSE of
the entries it fills and the cross-validated accuracy of a logistic regression
trained after it.

Data sets shipped with scikit-learn, each standardised (``StandardScaler``
fitted to the complete data): wine (178 x 13), breast_cancer (569 x 30) and
digits (1797 x 64, less its 3 constant columns: 61 columns, then
standardised).

Missing values, drawn with ``numpy.random.default_rng([draw, i, code])`` (``i``
the data set's number: wine 0, breast_cancer 1, digits 2; ``code`` the rate in
thousandths, or 1001 for MAR; ``draw`` 0 to N - 1 with ``--repeat N``):

- MCAR at 10%, 30% and 50%: each entry missing with that probability,
  independently; then in a row left without an observed entry one entry
  (drawn uniformly) is observed again, and likewise in a column left without
  one.
- MAR: for every odd column ``2j + 1`` (0-based), an entry is missing with
  probability 0.45 where column ``2j`` of its row, which is never missing, is
  above that column's median, and 0.05 where it is not: about 25% of the odd
  columns are missing (9% to 12% of all entries; the table gives the fraction
  of all entries), the even columns are complete.

The imputers (the columns):

- ``mean``: ``SimpleImputer(strategy="mean")``;
- ``kNN``: ``KNNImputer()``;
- ``iterative``: ``IterativeImputer(random_state=0, max_iter=10,
  sample_posterior=False)``;
- ``OT 1 Gaussian``: ``OTGaussianMixtureImputer(OTGaussianMixture(
  random_state=0))``, the default imputer (one Gaussian fitted by exact EM,
  each missing entry its conditional expectation), its seed fixed;
- ``OT BIC``: ``OTGaussianMixtureImputer(OTGaussianMixtureSearch(
  OTGaussianMixture(random_state=0), n_components=[1, 2, 3, 4],
  covariance_types=["VVV", "EEE", "VVI"], random_state=0))``: the mixture of
  lowest BIC (cells that fail or collapse are skipped by the search). Its
  template is ``OTGaussianMixture``'s defaults (k-means start,
  ``reg_covar=1e-6``, ``tol=1e-3``, ``max_iter=100``), not the search's
  default (mclust's EM: hierarchical start, no regularisation, relative
  tolerance 1e-5, up to 1000 iterations), which was 3 to 7 times slower here
  (one search, 50% MCAR: wine 17 s against 3 s, breast_cancer 72 s against
  19 s; digits, 10% MCAR: 118 s against 18 s) and, on digits at 50% MCAR,
  collapsed or failed in every cell of ``VVV`` and ``EEE``. On digits the grid
  is ``covariance_types=["EEE", "VVI"]``: there ``VVV`` with 2 to 4 components
  collapsed at 10% MCAR and lost to ``VVI`` by BIC at 50%, while taking most of
  the search's time (150 of 221 s at 50%).

Two measures for each data set, missingness and imputer:

- RMSE: the imputer is fitted to all the incomplete rows and fills them; the
  root mean square of (imputed - true) over the missing entries, in
  standardised units (the mean imputer gives about 1);
- accuracy: ``cross_val_score(make_pipeline(imputer,
  LogisticRegression(max_iter=2000)), X_missing, y,
  cv=StratifiedKFold(5, shuffle=True, random_state=0))``, averaged over the
  folds: the imputer is fitted to the training folds only. The ``complete``
  column is the classifier alone on the complete data, same folds.

With ``--repeat N`` each cell draws N masks and reports the medians. The best
value of each row (at the printed precision, ties included) is marked ``*``
(in RST: bold). Then come the seconds per imputer (the RMSE fit and the 5
folds; median over the draws), the search's choice (``model,k``, one per
draw), the warnings silenced (counted by imputer and category, with one
message of each) and the fits that raised, if any. BLAS is limited to one
thread (``--threads``): on a small shared machine two threads per product were
many times slower, and the numbers do not depend on it.

Run ``python benchmarks/impute_table.py`` (wine and breast_cancer, the four
patterns: about 10 minutes on a shared 2-core machine), ``--data wine
breast_cancer digits`` (digits adds 6 to 30 minutes, two thirds of it at 50% MCAR),
``--rates 0.1 mar`` (the patterns: MCAR rates and ``mar``), ``--repeat 3``,
``--rst`` (the tables also as RST simple tables, for the user guide) or
``--quick`` (wine, 10% and 30% MCAR: under a minute).
"""

import argparse
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import sklearn
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

import sklearn_otmix
from sklearn_otmix import (
    OTGaussianMixture,
    OTGaussianMixtureImputer,
    OTGaussianMixtureSearch,
)

# The grid of the BIC search; on digits a smaller one (see the docstring).
SEARCH_COMPONENTS = [1, 2, 3, 4]
SEARCH_MODELS = ["VVV", "EEE", "VVI"]
SEARCH_MODELS_DIGITS = ["EEE", "VVI"]
# The MAR pattern: column 2j + 1 is missing with probability MAR_HIGH where
# column 2j is above its median, with MAR_LOW elsewhere.
MAR_HIGH, MAR_LOW = 0.45, 0.05
DEFAULT_DATA = ("wine", "breast_cancer")
DEFAULT_PATTERNS = ("0.1", "0.3", "0.5", "mar")


def _digits():
    X, y = load_digits(return_X_y=True)
    return X[:, np.ptp(X, axis=0) > 0], y


LOADERS = {
    "wine": lambda: load_wine(return_X_y=True),
    "breast_cancer": lambda: load_breast_cancer(return_X_y=True),
    "digits": _digits,
}


def load(name):
    """The data set ``name`` standardised (digits: its constant columns dropped
    first), and its labels."""
    X, y = LOADERS[name]()
    return StandardScaler().fit_transform(X), y


def search_template():
    """The template of the BIC search's fits: ``OTGaussianMixture``'s defaults
    (k-means start, ``reg_covar=1e-6``, ``tol=1e-3``, ``max_iter=100``)."""
    return OTGaussianMixture(random_state=0)


def imputers(name=None):
    """The imputers compared on the data set ``name``, by their column titles
    (unfitted)."""
    search = OTGaussianMixtureSearch(
        search_template(),
        n_components=SEARCH_COMPONENTS,
        covariance_types=SEARCH_MODELS_DIGITS if name == "digits" else SEARCH_MODELS,
        random_state=0,
    )
    return {
        "mean": SimpleImputer(strategy="mean"),
        "kNN": KNNImputer(),
        "iterative": IterativeImputer(
            random_state=0, max_iter=10, sample_posterior=False
        ),
        "OT 1 Gaussian": OTGaussianMixtureImputer(OTGaussianMixture(random_state=0)),
        "OT BIC": OTGaussianMixtureImputer(search),
    }


def mcar_mask(shape, rate, rng):
    """Each entry missing with probability ``rate``, independently; then in a
    row left without an observed entry one entry, drawn uniformly, is observed
    again, and likewise in a column left without one."""
    missing = rng.random(shape) < rate
    for i in np.flatnonzero(missing.all(axis=1)):
        missing[i, rng.integers(shape[1])] = False
    for j in np.flatnonzero(missing.all(axis=0)):
        missing[rng.integers(shape[0]), j] = False
    return missing


def mar_mask(X, rng):
    """Column ``2j + 1`` (0-based) missing with probability ``MAR_HIGH`` in the
    rows where column ``2j`` is above its median, ``MAR_LOW`` in the others,
    independently; the even columns are never missing."""
    n_samples, n_features = X.shape
    missing = np.zeros((n_samples, n_features), dtype=bool)
    for j in range(1, n_features, 2):
        driver = X[:, j - 1]
        probability = np.where(driver > np.median(driver), MAR_HIGH, MAR_LOW)
        missing[:, j] = rng.random(n_samples) < probability
    return missing


def make_mask(X, pattern, seed):
    """The mask (True: missing) of ``pattern``, ``"mar"`` or an MCAR rate as a
    string, drawn from ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    if pattern == "mar":
        return mar_mask(X, rng)
    return mcar_mask(X.shape, float(pattern), rng)


def mask_seed(name, pattern, draw):
    """The seed of a mask: the draw, the data set and the pattern."""
    code = 1001 if pattern == "mar" else round(1000 * float(pattern))
    return [draw, list(LOADERS).index(name), code]


def pattern_label(pattern):
    return "MAR" if pattern == "mar" else f"MCAR {float(pattern):.0%}"


def _error(error):
    lines = str(error).strip().splitlines() or [""]
    return f"{type(error).__name__}: {lines[0][:150]}"


def evaluate(imputer, X, y, missing):
    """One imputer on one mask.

    Parameters
    ----------
    imputer : estimator
        Cloned before each fit.
    X : ndarray of shape (n_samples, n_features)
        The complete (standardised) data.
    y : ndarray of shape (n_samples,)
        The classes.
    missing : ndarray of bool of shape (n_samples, n_features)
        The entries removed.

    Returns
    -------
    result : dict
        ``rmse``: of the imputer fitted to all the incomplete rows, over the
        missing entries; ``accuracy``: the mean over 5 stratified folds of
        ``make_pipeline(imputer, LogisticRegression(max_iter=2000))``; either
        None where a fit raised (its message in ``errors``); ``seconds``;
        ``choice``: a search's chosen model and number of components.
    """
    X_missing = np.where(missing, np.nan, X)
    result = {"rmse": None, "accuracy": None, "choice": None, "errors": []}
    start = time.perf_counter()
    try:
        fitted = clone(imputer).fit(X_missing)
        filled = fitted.transform(X_missing)
        result["rmse"] = float(np.sqrt(np.mean((filled - X)[missing] ** 2)))
        best = getattr(getattr(fitted, "estimator_", None), "best_params_", None)
        if best is not None:
            result["choice"] = f"{best['covariance_type']},{best['n_components']}"
    except Exception as error:  # reported under the tables
        result["errors"].append(f"imputation: {_error(error)}")
    pipeline = make_pipeline(clone(imputer), LogisticRegression(max_iter=2000))
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    try:
        scores = cross_val_score(pipeline, X_missing, y, cv=cv, error_score="raise")
        result["accuracy"] = float(np.mean(scores))
    except Exception as error:
        result["errors"].append(f"cross-validation: {_error(error)}")
    result["seconds"] = time.perf_counter() - start
    return result


def complete_accuracy(X, y):
    """The cross-validated accuracy of the classifier on the complete data."""
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    classifier = LogisticRegression(max_iter=2000)
    return float(np.mean(cross_val_score(classifier, X, y, cv=cv)))


def _median(values):
    values = [value for value in values if value is not None]
    return statistics.median(values) if values else None


def run_cell(name, X, y, pattern, titles, repeat, counts, examples, failures):
    """Every imputer on ``repeat`` masks of ``pattern``: the medians of each
    measure, the fraction missing, the searches' choices; the warnings are
    counted in ``counts`` (by imputer and category, the first message of each
    in ``examples``), the errors listed in ``failures``."""
    runs = {title: [] for title in titles}
    fractions = []
    for draw in range(repeat):
        missing = make_mask(X, pattern, mask_seed(name, pattern, draw))
        fractions.append(missing.mean())
        for title, imputer in imputers(name).items():
            if title not in titles:
                continue
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = evaluate(imputer, X, y, missing)
            for caught_warning in caught:
                key = (title, caught_warning.category.__name__)
                counts[key] += 1
                examples.setdefault(key, str(caught_warning.message))
            for error in result["errors"]:
                failures.append(
                    f"{name}, {pattern_label(pattern)}, draw {draw}, {title}: {error}"
                )
            runs[title].append(result)
    cell = {"missing": float(np.mean(fractions))}
    for title, results in runs.items():
        choices = [r["choice"] for r in results if r["choice"] is not None]
        cell[title] = {
            "rmse": _median(r["rmse"] for r in results),
            "accuracy": _median(r["accuracy"] for r in results),
            "seconds": _median(r["seconds"] for r in results),
            "choice": " ".join(choices) or None,
        }
    return cell


def table_rows(rows, titles, measure, rst, reference=None):
    """The header and the cells of one measure's table."""
    header = ["data set", "missing values"]
    if reference is not None:
        header.append("complete")
    header += list(titles)
    lines = []
    lower_better = measure == "rmse"
    for name, pattern, cell in rows:
        values = [cell[title][measure] for title in titles]
        texts = ["n/a" if v is None else f"{v:.3f}" for v in values]
        known = [float(t) for t in texts if t != "n/a"]
        if known:
            target = min(known) if lower_better else max(known)
            texts = [
                (
                    (f"**{t}**" if rst else f"{t}*")
                    if t != "n/a" and float(t) == target
                    else (t if rst else f"{t} ")
                )
                for t in texts
            ]
        label = pattern_label(pattern)
        if pattern == "mar":
            label += f" ({cell['missing']:.0%})"
        line = [name, label]
        if reference is not None:
            line.append(f"{reference[name]:.3f}" + ("" if rst else " "))
        lines.append(line + texts)
    return header, lines


def format_table(header, lines, rst=False):
    """Plain text (numbers right-aligned) or an RST simple table."""
    widths = [
        max(len(cell) for cell in column) for column in zip(header, *lines, strict=True)
    ]

    def line(cells):
        padded = [
            cell.ljust(width) if rst or i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    if rst:
        border = "  ".join("=" * width for width in widths)
        return "\n".join([border, line(header), border, *map(line, lines), border])
    return "\n".join([line(header), "-" * len(line(header)), *map(line, lines)])


def details_table(rows, titles):
    """Seconds per imputer (fit for the RMSE and the 5 folds) and the models
    chosen by the search."""
    header = ["data set", "missing values", *(f"{t} s" for t in titles), "OT BIC chose"]
    lines = []
    for name, pattern, cell in rows:
        seconds = [cell[t]["seconds"] for t in titles]
        line = [name, pattern_label(pattern)]
        line += ["n/a" if s is None else f"{s:.1f}" for s in seconds]
        line.append((cell.get("OT BIC") or {}).get("choice") or "n/a")
        lines.append(line)
    return header, lines


def package_version():
    """The package's version, and its git commit where it is a checkout
    ("+modified": its files differ from that commit)."""
    version = f"sklearn_otmix {sklearn_otmix.__version__}"
    package = Path(sklearn_otmix.__file__).parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=package,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "."],
            cwd=package,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return version
    return f"{version} (git {commit}{'+modified' if changed else ''})"


def missingness(text):
    """A pattern of ``--rates``: ``"mar"``, or an MCAR rate in (0, 1)."""
    if text.lower() == "mar":
        return "mar"
    try:
        rate = float(text)
    except ValueError:
        rate = None
    if rate is None or not 0 < rate < 1:
        raise argparse.ArgumentTypeError(f"a rate in (0, 1) or 'mar', got {text!r}")
    return f"{rate:g}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        nargs="+",
        choices=list(LOADERS),
        help=f"the data sets (default: {' '.join(DEFAULT_DATA)})",
    )
    parser.add_argument(
        "--rates",
        nargs="+",
        type=missingness,
        help="MCAR rates and/or 'mar' (default: 0.1 0.3 0.5 mar)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="masks drawn per cell, median (1)"
    )
    parser.add_argument(
        "--rst", action="store_true", help="also print the tables in RST"
    )
    parser.add_argument(
        "--quick", action="store_true", help="wine, MCAR 10%% and 30%% only"
    )
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (1)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat should be at least 1")
    names = args.data or (("wine",) if args.quick else DEFAULT_DATA)
    patterns = args.rates or (("0.1", "0.3") if args.quick else DEFAULT_PATTERNS)
    titles = list(imputers())

    begin = time.perf_counter()
    print(
        f"{package_version()}, scikit-learn {sklearn.__version__}, numpy "
        f"{np.__version__}, Python {platform.python_version()}, "
        f"{platform.machine()}, {args.threads} BLAS thread(s); median over "
        f"{args.repeat} mask(s)",
        flush=True,
    )
    rows, counts, examples, failures, reference = [], Counter(), {}, [], {}
    with threadpool_limits(args.threads):
        for name in names:
            X, y = load(name)
            reference[name] = complete_accuracy(X, y)
            for pattern in patterns:
                start = time.perf_counter()
                cell = run_cell(
                    name, X, y, pattern, titles, args.repeat, counts, examples, failures
                )
                rows.append((name, pattern, cell))
                print(
                    f"  {name}, {pattern_label(pattern)}: "
                    f"{time.perf_counter() - start:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
    elapsed = time.perf_counter() - begin

    tables = [
        ("RMSE of the imputed entries (standardised units; lower is better)", "rmse"),
        (
            "5-fold accuracy of imputer + LogisticRegression (higher is better)",
            "accuracy",
        ),
    ]
    for title, measure in tables:
        extra = reference if measure == "accuracy" else None
        print(f"\n{title}; * best")
        print(format_table(*table_rows(rows, titles, measure, False, extra)))
    print("\nSeconds (the RMSE fit and the 5 folds) and the search's choice")
    print(format_table(*details_table(rows, titles)))
    if counts:
        print("\nWarnings silenced (imputer, category: count):")
        for (title, category), count in sorted(counts.items()):
            example = " ".join(examples[title, category].split())
            print(f"  {title}, {category}: {count} (e.g. {example[:100]})")
    else:
        print("\nNo warnings.")
    for failure in failures:
        print(f"failed: {failure}")
    if args.rst:
        for title, measure in tables:
            extra = reference if measure == "accuracy" else None
            print(f"\n{title}; best in bold\n")
            print(
                format_table(*table_rows(rows, titles, measure, True, extra), rst=True)
            )
    print(f"\nTotal: {elapsed:.0f} s")


if __name__ == "__main__":
    main()
