"""Command line: ``python -m sklearn_otmix [DATA] [options]``.

Without ``DATA`` it runs the demo: ``GaussianMixture`` and ``OTGaussianMixture``
side by side on the wine data that ships with scikit-learn. With a ``.csv`` or
``.npy`` file it clusters that file.
"""

import argparse
import csv
import sys
from pathlib import Path
from time import perf_counter

import numpy as np

from ._estimator import OTGaussianMixture


class InputError(Exception):
    """A problem with the user's file or options, reported in one line."""


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_otmix",
        description=(
            "Gaussian mixtures fitted as entropic optimal transport. Without DATA, "
            "compare GaussianMixture and OTGaussianMixture on scikit-learn's wine "
            "data; with DATA, cluster that file."
        ),
    )
    parser.add_argument(
        "data",
        nargs="?",
        help="a .csv file (numeric columns, optional header row) or a .npy array "
        "of shape (n_samples, n_features)",
    )
    parser.add_argument(
        "--n-components", type=int, default=3, help="number of components (3)"
    )
    parser.add_argument(
        "--covariance-type",
        choices=["full", "tied", "diag", "spherical"],
        default="full",
        help="covariance type (full)",
    )
    parser.add_argument(
        "--reg-m",
        type=float,
        default=0.0,
        help="penalty on the mixing weights: 0 is EM, inf fixes them uniform (0)",
    )
    parser.add_argument(
        "--random-state", type=int, default=0, help="seed of the initialisation (0)"
    )
    parser.add_argument(
        "--output", help="write one label per line (with a 'label' header) to this .csv"
    )
    return parser


def _read_csv(path):
    with open(path, newline="") as handle:
        rows = [row for row in csv.reader(handle) if row]
    if rows and not _is_numeric(rows[0]):
        rows = rows[1:]  # a header row
    if not rows:
        raise InputError(f"{path} holds no data rows")
    width = len(rows[0])
    values = np.empty((len(rows), width))
    for line, row in enumerate(rows, start=1):
        if len(row) != width:
            raise InputError(
                f"{path}: data row {line} has {len(row)} columns, expected {width}"
            )
        for column, cell in enumerate(row, start=1):
            try:
                values[line - 1, column - 1] = float(cell)
            except ValueError:
                raise InputError(
                    f"{path}: non-numeric value {cell!r} in data row {line}, "
                    f"column {column}; keep only numeric columns"
                ) from None
    return values


def _is_numeric(row):
    try:
        [float(cell) for cell in row]
    except ValueError:
        return False
    return True


def load_data(path):
    """Read a .csv or .npy file as a 2-D float array, or raise InputError."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".npy"):
        raise InputError(f"{path}: expected a .csv or .npy file")
    try:
        if suffix == ".csv":
            X = _read_csv(path)
        else:
            X = np.load(path, allow_pickle=False)
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise InputError(f"cannot read {path}: {error}") from None
    if X.ndim != 2 or not np.issubdtype(X.dtype, np.number):
        raise InputError(
            f"{path}: expected a numeric array of shape (n_samples, n_features), "
            f"got dtype {X.dtype} and shape {X.shape}"
        )
    return X.astype(np.float64, copy=False)


def _demo(args):
    from sklearn.datasets import load_wine
    from sklearn.metrics import adjusted_rand_score
    from sklearn.mixture import GaussianMixture
    from sklearn.preprocessing import StandardScaler

    data = load_wine()
    X = StandardScaler().fit_transform(data.data)
    n_samples, n_features = X.shape
    print(
        f"wine (scikit-learn): {n_samples} samples, {n_features} standardised "
        f"features, {len(data.target_names)} cultivars; "
        f"n_components={args.n_components}, covariance_type={args.covariance_type!r}"
    )
    shared = dict(
        n_components=args.n_components,
        covariance_type=args.covariance_type,
        random_state=args.random_state,
    )
    models = [
        ("GaussianMixture", GaussianMixture(**shared)),
        ("OTGaussianMixture", OTGaussianMixture(**shared)),
        ("OTGaussianMixture(reg_m=inf)", OTGaussianMixture(reg_m=np.inf, **shared)),
    ]
    header = f"{'model':<30}{'mean log-lik':>14}{'BIC':>12}{'ARI':>8}{'fit (ms)':>10}"
    print(header)
    print("-" * len(header))
    for name, model in models:
        start = perf_counter()
        labels = model.fit_predict(X)
        elapsed = perf_counter() - start
        print(
            f"{name:<30}{model.score(X):>14.6f}{model.bic(X):>12.2f}"
            f"{adjusted_rand_score(data.target, labels):>8.3f}{1e3 * elapsed:>10.1f}"
        )
    print(
        "The first two rows agree: by default OTGaussianMixture is EM. The last "
        "fixes the weights to be uniform (Sinkhorn EM)."
    )


def _cluster(args):
    X = load_data(args.data)
    model = OTGaussianMixture(
        n_components=args.n_components,
        covariance_type=args.covariance_type,
        reg_m=args.reg_m,
        random_state=args.random_state,
    )
    try:
        labels = model.fit_predict(X)
    except ValueError as error:
        raise InputError(str(error)) from None
    sizes = np.bincount(labels, minlength=args.n_components)
    print(f"{args.data}: {X.shape[0]} samples, {X.shape[1]} features")
    print(
        f"mean log-likelihood {model.score(X):.6f}, BIC {model.bic(X):.2f}, "
        f"{model.n_iter_} iterations, converged: {model.converged_}"
    )
    for k in range(args.n_components):
        print(f"  component {k}: weight {model.weights_[k]:.4f}, {sizes[k]} samples")
    if args.output:
        try:
            with open(args.output, "w", newline="") as handle:
                handle.write("label\n")
                handle.writelines(f"{label}\n" for label in labels)
        except OSError as error:
            raise InputError(f"cannot write {args.output}: {error.strerror}") from None
        print(f"labels written to {args.output}")


def main(argv=None):
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.n_components < 1:
            raise InputError("--n-components must be at least 1")
        if args.reg_m < 0:
            raise InputError("--reg-m must be non-negative")
        if args.data is None:
            _demo(args)
        else:
            _cluster(args)
    except InputError as error:
        print(f"python -m sklearn_otmix: error: {error}", file=sys.stderr)
        return 2
    return 0
