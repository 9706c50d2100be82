"""Fit time and peak memory of OTGaussianMixture against GaussianMixture.

Both estimators fit the same data from the same explicit initial parameters for a
fixed number of iterations (``tol=0``); their runs alternate, and the table gives
medians, the time ratio (GaussianMixture / OTGaussianMixture: above 1 means faster),
the peak memory that each fit allocates (tracemalloc, one separate run each) and the
largest relative difference between the fitted parameters.

Run ``python benchmarks/bench_fit.py`` (all cases) or ``--quick`` (tiny sizes).
"""

import argparse
import gc
import platform
import statistics
import tracemalloc
import warnings
from time import perf_counter

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from sklearn_otmix import OTGaussianMixture

# name, n_samples, n_features, n_components, covariance_type, extra parameters, dtype
CASES = [
    ("full", 100_000, 20, 10, "full", {}, np.float64),
    ("tied", 100_000, 20, 10, "tied", {}, np.float64),
    ("diag", 100_000, 20, 10, "diag", {}, np.float64),
    ("spherical", 100_000, 20, 10, "spherical", {}, np.float64),
    ("diag, n=1M d=5 K=5", 1_000_000, 5, 5, "diag", {}, np.float64),
    ("full, n=20k d=100 K=5", 20_000, 100, 5, "full", {}, np.float64),
    ("full, reg_m=inf", 100_000, 20, 10, "full", {"reg_m": np.inf}, np.float64),
    ("full, float32", 100_000, 20, 10, "full", {}, np.float32),
]


def make_data(n_samples, n_features, n_components, dtype, seed=0):
    """Gaussian clusters with random covariances, and initial parameters near them."""
    rng = np.random.RandomState(seed)
    centres = rng.uniform(-4, 4, size=(n_components, n_features))
    labels = rng.randint(n_components, size=n_samples)
    X = (
        centres[labels]
        + rng.standard_normal((n_samples, n_features))
        * rng.uniform(0.5, 1.5, size=(n_components, n_features))[labels]
    )
    means = centres + rng.standard_normal(centres.shape)
    return X.astype(dtype), means.astype(dtype)


def initial_parameters(X, means, covariance_type):
    n_components, n_features = means.shape
    variance = X.var(axis=0).astype(np.float64)
    precisions = {
        "full": np.stack([np.diag(1.0 / variance)] * n_components),
        "tied": np.diag(1.0 / variance),
        "diag": np.tile(1.0 / variance, (n_components, 1)),
        "spherical": np.full(n_components, 1.0 / variance.mean()),
    }[covariance_type]
    return dict(
        weights_init=np.full(n_components, 1.0 / n_components),
        means_init=means,
        precisions_init=precisions,
    )


def _estimators(case, X, means, n_iter):
    _, _, _, n_components, covariance_type, extra, _ = case
    shared = dict(
        n_components=n_components,
        covariance_type=covariance_type,
        max_iter=n_iter,
        tol=0.0,
        **initial_parameters(X, means, covariance_type),
    )
    ours = dict(shared, **extra)
    if extra.get("reg_m") == np.inf:
        del ours["weights_init"]
    return GaussianMixture(**shared), OTGaussianMixture(**ours)


def _fit(estimator, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = perf_counter()
        estimator.fit(X)
        return perf_counter() - start


def _peak_memory(estimator, X):
    gc.collect()
    tracemalloc.start()
    _fit(estimator, X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def _difference(ours, theirs, same_problem):
    if not same_problem:
        return float("nan")
    worst = 0.0
    for name in ("weights_", "means_", "covariances_"):
        a, b = getattr(ours, name), getattr(theirs, name)
        worst = max(worst, float(np.max(np.abs(a - b)) / np.max(np.abs(b))))
    return worst


def run_case(case, n_iter, repeats, scale=1.0):
    name, n_samples, n_features, n_components, _, extra, dtype = case
    n_samples = max(int(n_samples * scale), 20 * n_components)
    X, means = make_data(n_samples, n_features, n_components, dtype)
    times = {"GaussianMixture": [], "OTGaussianMixture": []}
    for _ in range(repeats):
        for estimator in _estimators(case, X, means, n_iter):
            times[type(estimator).__name__].append(_fit(estimator, X))
    theirs, ours = _estimators(case, X, means, n_iter)
    memory = {type(e).__name__: _peak_memory(e, X) for e in (theirs, ours)}
    median = {key: statistics.median(value) for key, value in times.items()}
    return {
        "case": name,
        "n": n_samples,
        "gm_s": median["GaussianMixture"],
        "ot_s": median["OTGaussianMixture"],
        "speedup": median["GaussianMixture"] / median["OTGaussianMixture"],
        "gm_mib": memory["GaussianMixture"] / 2**20,
        "ot_mib": memory["OTGaussianMixture"] / 2**20,
        "difference": _difference(ours, theirs, not extra),
        "dtype": np.dtype(ours.means_.dtype).name,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10, help="EM iterations (10)")
    parser.add_argument("--repeats", type=int, default=3, help="timed fits of each (3)")
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: checks that it runs"
    )
    parser.add_argument("--cases", nargs="*", help="names of the cases to run (all)")
    args = parser.parse_args(argv)
    scale = 0.002 if args.quick else 1.0
    cases = [c for c in CASES if not args.cases or c[0] in args.cases]
    print(
        f"{platform.processor() or platform.machine()}, numpy {np.__version__}; "
        f"{args.iterations} iterations, median of {args.repeats}"
    )
    header = (
        f"{'case':<24}{'n':>9}{'GM s':>9}{'OT s':>9}{'GM/OT':>7}"
        f"{'GM MiB':>9}{'OT MiB':>9}{'max rel diff':>14}{'dtype':>9}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for case in cases:
        row = run_case(case, args.iterations, args.repeats, scale)
        rows.append(row)
        print(
            f"{row['case']:<24}{row['n']:>9}{row['gm_s']:>9.3f}{row['ot_s']:>9.3f}"
            f"{row['speedup']:>7.2f}{row['gm_mib']:>9.1f}{row['ot_mib']:>9.1f}"
            f"{row['difference']:>14.1e}{row['dtype']:>9}",
            flush=True,
        )
    return rows


if __name__ == "__main__":
    main()
