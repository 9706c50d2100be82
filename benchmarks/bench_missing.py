"""Fit time on data with missing entries (NaN), against the complete-data fit.

The data: ``bench_fit.make_data``'s clusters, n = 100,000 rows, d = 20 features,
K = 10 components, full covariances. Entries are then deleted:

- ``MCAR 10%``, ``MCAR 30%``: each entry missing with that probability, on its
  own (almost every row has its own pattern);
- ``column blocks``: the rows in four blocks, each missing its own five
  columns (four patterns, a quarter of the entries).

A row left without an observed entry keeps its first one.

Each case is fitted three ways, from the same explicit initial parameters
(``bench_fit.initial_parameters``, the means near the clusters' centres):

- ``complete``: ``OTGaussianMixture`` on the complete data (the reference);
- ``ours``: ``OTGaussianMixture`` on the data with holes (exact EM on the
  observed entries);
- ``mean + GM``: ``SimpleImputer()`` then ``sklearn.mixture.GaussianMixture``.

Columns: the seconds of ``--iterations`` iterations (``tol=0``, the median of
``--repeat`` runs) and their ratio to the complete-data fit's; then fits to
convergence (``tol=1e-3``, at most 300 iterations; the median of
``--repeat``): their seconds, iterations and ratio to the complete-data fit's
seconds; and the mean log-likelihood of a held-out complete sample (20,000
more rows of the same draw) under the fitted mixture, so that speed is read
next to what each fit recovers.

The BLAS threads (``OPENBLAS_NUM_THREADS``, printed in the header) set the
complete-data fit's threads and, with missing entries, ours (the blocks of
rows on as many threads).

Run ``python benchmarks/bench_missing.py`` (minutes), ``--quick`` (n = 20,000),
``--n 50000`` for another size, ``--rst`` for an RST table.
"""

import argparse
import importlib.util
import platform
import statistics
import warnings
from pathlib import Path
from time import perf_counter

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.impute import SimpleImputer
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_info

from sklearn_otmix import OTGaussianMixture


def _load_bench_fit():
    path = Path(__file__).with_name("bench_fit.py")
    spec = importlib.util.spec_from_file_location("bench_fit", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench_fit = _load_bench_fit()

N_FEATURES, N_COMPONENTS = 20, 10
#: Complete rows of the same clusters, not fitted: the score's sample.
HELD_OUT = 20_000


def with_holes(X, case, seed=0):
    """``X`` with the entries of ``case`` deleted (NaN)."""
    rng = np.random.RandomState(seed)
    n, d = X.shape
    if case.startswith("MCAR"):
        rate = float(case.split()[1].rstrip("%")) / 100
        missing = rng.uniform(size=X.shape) < rate
    else:
        missing = np.zeros(X.shape, dtype=bool)
        blocks = np.array_split(rng.permutation(n), 4)
        for b, rows in enumerate(blocks):
            missing[np.ix_(rows, np.arange(5 * b, 5 * b + 5))] = True
    missing[missing.all(axis=1), 0] = False
    holes = X.copy()
    holes[missing] = np.nan
    return holes


def _timed(make, X, repeat):
    """The median seconds of ``repeat`` fits of ``make()``, and the last fit."""
    times = []
    for _ in range(repeat):
        estimator = make()
        start = perf_counter()
        estimator.fit(X)
        times.append(perf_counter() - start)
    return statistics.median(times), estimator


def _mixture(estimator):
    return estimator[-1] if hasattr(estimator, "steps") else estimator


def run(n_samples, iterations, repeat, cases):
    rows_and_held_out, means = bench_fit.make_data(
        n_samples + HELD_OUT, N_FEATURES, N_COMPONENTS, np.float64
    )
    X, held_out = rows_and_held_out[:n_samples], rows_and_held_out[n_samples:]
    init = bench_fit.initial_parameters(X, means, "full")

    def ours(**settings):
        return lambda: OTGaussianMixture(N_COMPONENTS, **init, **settings)

    def mean_then_gm(**settings):
        def make():
            from sklearn.pipeline import make_pipeline

            return make_pipeline(
                SimpleImputer(), GaussianMixture(N_COMPONENTS, **init, **settings)
            )

        return make

    fixed = dict(max_iter=iterations, tol=0.0)
    converge = dict(max_iter=300, tol=1e-3)
    rows = []
    reference = None
    for case in ["complete", *cases]:
        data = X if case == "complete" else with_holes(X, case)
        fits = (
            [("complete", ours)]
            if case == "complete"
            else [
                ("ours", ours),
                ("mean + GM", mean_then_gm),
            ]
        )
        for method, make in fits:
            seconds, _ = _timed(make(**fixed), data, repeat)
            converged_seconds, fitted = _timed(make(**converge), data, repeat)
            score = _mixture(fitted).score(held_out)
            if reference is None:
                reference = (seconds, converged_seconds)
            rows.append(
                dict(
                    case=case,
                    method=method,
                    missing=float(np.isnan(data).mean()),
                    seconds=seconds,
                    ratio=seconds / reference[0],
                    converged_seconds=converged_seconds,
                    n_iter=_mixture(fitted).n_iter_,
                    converged_ratio=converged_seconds / reference[1],
                    score=score,
                )
            )
            print(f"  {case}, {method}: done", flush=True)
    return rows


COLUMNS = [
    ("case", "{}"),
    ("method", "{}"),
    ("missing", "{:.1%}"),
    ("seconds", "{:.2f}"),
    ("ratio", "{:.2f}"),
    ("converged_seconds", "{:.2f}"),
    ("n_iter", "{}"),
    ("converged_ratio", "{:.2f}"),
    ("score", "{:.3f}"),
]
HEADERS = [
    "case",
    "method",
    "missing",
    "{iterations} it. s",
    "ratio",
    "to tol s",
    "n_iter",
    "ratio",
    "held-out log-lik",
]


def table(rows, iterations, rst=False):
    headers = [h.format(iterations=iterations) for h in HEADERS]
    cells = [[fmt.format(row[key]) for key, fmt in COLUMNS] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    if rst:
        rule = "  ".join("=" * w for w in widths)
        lines = [rule, "  ".join(h.ljust(w) for h, w in zip(headers, widths)), rule]
        lines += ["  ".join(c.ljust(w) for c, w in zip(cell, widths)) for cell in cells]
        return "\n".join(lines + [rule])
    lines = ["  ".join(h.rjust(w) for h, w in zip(headers, widths))]
    lines.append("-" * len(lines[0]))
    lines += ["  ".join(c.rjust(w) for c, w in zip(cell, widths)) for cell in cells]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="rows (100000)")
    parser.add_argument("--quick", action="store_true", help="n = 20,000")
    parser.add_argument("--iterations", type=int, default=10, help="fixed (10)")
    parser.add_argument("--repeat", type=int, default=3, help="median of (3)")
    parser.add_argument(
        "--cases",
        nargs="+",
        default=["MCAR 10%", "MCAR 30%", "column blocks"],
        help="of: 'MCAR <p>%%', 'column blocks'",
    )
    parser.add_argument("--rst", action="store_true", help="an RST table")
    args = parser.parse_args()
    n_samples = 20_000 if args.quick else args.n
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    threads = blas[0]["num_threads"] if blas else "?"
    print(
        f"{platform.machine()}, numpy {np.__version__}, {threads} BLAS thread(s); "
        f"n = {n_samples}, d = {N_FEATURES}, K = {N_COMPONENTS}, full"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        rows = run(n_samples, args.iterations, args.repeat, args.cases)
    print(table(rows, args.iterations, rst=args.rst))


if __name__ == "__main__":
    main()
