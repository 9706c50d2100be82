"""Time of the search against R's ``Mclust(X, G = 1:9)``, data set by data set.

Both sides do the whole of mclust's default: 1 to 9 components times the 14
covariance models, each fit started from the model-based hierarchical
clustering, the pair of highest BIC kept.

- R: ``Mclust(X, G = 1:9, verbose = FALSE)``, timed inside R
  (``system.time(...)[["elapsed"]]``): neither R's start-up nor the reading
  of the CSV file is counted. Needs ``Rscript`` with mclust
  (``apt-get install r-cran-mclust``); without it R's columns read "n/a" and
  faithful (which comes from R) is skipped.
- ours: ``OTGaussianMixtureSearch(n_jobs=1, random_state=0).fit(X)``, wall
  time (``time.perf_counter``), and the same with ``n_jobs=2``. Before each
  timed ``n_jobs=2`` run an untimed search of two cells on 20 rows starts
  joblib's worker processes (or finds them running), so that their start-up
  (seconds: each imports the package) is not counted, as R's is not.

With ``--repeat N`` each side runs N times, interleaved (Mclust, ours with
``n_jobs=1``, ours with ``n_jobs=2``, Mclust, ...), and the table gives the
median times. Its columns: the data set, n, d, the seconds of ``Mclust()``, of
ours, their ratio (ours / Mclust, ``n_jobs=1``: above 1 means slower), the
seconds of ours with ``n_jobs=2``, whether both chose the same model and
number of components ("yes: VEV,2", or "no: Mclust's vs ours", e.g.
"no: VVV,4 vs VEV,3"), and the BIC of each choice (mclust's sign: higher is
better). Warnings from the fits are silenced. With more than 2,000 rows
``Mclust()`` builds its hierarchical tree on a random subset of 2,000 rows,
drawn after ``set.seed(0)``; ours draws its subset from ``random_state=0``
(another subset: the two BICs may differ a little there).

The data sets: iris (``load_iris().data``), faithful (R's
``datasets::faithful``, 272 x 2), wine standardised
(``StandardScaler().fit_transform(load_wine().data)``) and ``gen5000``,
``gen20000``: :func:`mixture` with n = 5,000 and 20,000 (d = 5).

Run: ``python benchmarks/bench_mclust.py`` (every data set; n = 20,000 takes
many minutes), ``--quick`` (iris and faithful), ``--data wine gen5000`` (those
only), ``--repeat 3`` (median of 3), ``--rst`` (the table as an RST simple
table, to paste into README.rst).
"""

import argparse
import importlib.util
import platform
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_iris, load_wine
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info

from sklearn_otmix import OTGaussianMixtureSearch


def _load_agreement():
    """``benchmarks/mclust_agreement.py``: its calls to R (``has_mclust``,
    ``mclust_search``, ``datasets``), loaded from the file next to this one."""
    if "mclust_agreement" in sys.modules:
        return sys.modules["mclust_agreement"]
    path = Path(__file__).resolve().with_name("mclust_agreement.py")
    spec = importlib.util.spec_from_file_location("mclust_agreement", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


agreement = _load_agreement()

HEADER = [
    "data",
    "n",
    "d",
    "Mclust s",
    "ours s",
    "ratio",
    "ours n_jobs=2 s",
    "same choice",
    "Mclust BIC",
    "ours BIC",
]
# Right-aligned (numbers) in the plain table.
NUMERIC = {"n", "d", "Mclust s", "ours s", "ratio", "ours n_jobs=2 s"}
NUMERIC |= {"Mclust BIC", "ours BIC"}

# The generated mixture (see ``mixture``).
WEIGHTS = (0.4, 0.3, 0.2, 0.1)
SEPARATION = 5.0
EIGENVALUES = (0.25, 2.0)


def mixture(n_samples, n_features=5, seed=0):
    """A mixture of four Gaussians with unequal weights and full covariances.

    The weights are 0.4, 0.3, 0.2 and 0.1. The means are the vertices of a
    regular simplex, randomly rotated, so that every pair of means is
    ``SEPARATION`` (5) apart. Each covariance is ``Q diag(l) Q^T`` with ``Q``
    a random rotation and the variances ``l`` uniform in [0.25, 2] (standard
    deviations from 0.5 to 1.4, in directions of their own): well separated,
    but not trivially: with d = 5 the classifier of the true parameters
    labels about 98% of the rows right (94% with a separation of 4).

    Parameters
    ----------
    n_samples : int
        Number of rows; each row's component is drawn with the weights.
    n_features : int, default=5
        Dimension, at least 3 (the simplex of four means needs it).
    seed : int, default=0
        Seed of ``numpy.random.default_rng``: the same seed, the same data.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        The samples.
    labels : ndarray of shape (n_samples,)
        The component of each row, 0 to 3.
    """
    n_components = len(WEIGHTS)
    if n_features < n_components - 1:
        raise ValueError(f"n_features should be at least 3, got {n_features}.")
    rng = np.random.default_rng(seed)
    rotation, _ = np.linalg.qr(rng.standard_normal((n_features, n_features)))
    vertices = np.eye(n_components, n_features)
    vertices -= vertices.mean(axis=0)
    # Vertices of the standard simplex are sqrt(2) apart.
    means = vertices * (SEPARATION / np.sqrt(2)) @ rotation.T
    factors = []
    for _ in range(n_components):
        q, _ = np.linalg.qr(rng.standard_normal((n_features, n_features)))
        variances = rng.uniform(*EIGENVALUES, size=n_features)
        factors.append(q * np.sqrt(variances))  # covariance q diag(l) q^T
    labels = rng.choice(n_components, size=n_samples, p=WEIGHTS)
    noise = rng.standard_normal((n_samples, n_features))
    X = means[labels] + np.einsum("nj,nij->ni", noise, np.stack(factors)[labels])
    return X, labels


def _faithful():
    return agreement.datasets(("faithful",))["faithful"]


DATASETS = {
    "iris": lambda: load_iris().data,
    "faithful": _faithful,
    "wine": lambda: StandardScaler().fit_transform(load_wine().data),
    "gen5000": lambda: mixture(5_000)[0],
    "gen20000": lambda: mixture(20_000)[0],
}
QUICK = ("iris", "faithful")
NEEDS_R = {"faithful"}
SIDES = {"mclust": "Mclust", "ours": "ours n_jobs=1", "ours2": "ours n_jobs=2"}


def _mclust_once(X):
    model, G, bic, seconds, _ = agreement.mclust_search(X)
    return seconds, (model, G), bic


def _ours_once(X, n_jobs, search_params):
    search = OTGaussianMixtureSearch(n_jobs=n_jobs, random_state=0, **search_params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if n_jobs > 1:
            _start_workers(X, n_jobs)
        begin = time.perf_counter()
        search.fit(X)
        seconds = time.perf_counter() - begin
    best = search.best_params_
    choice = (best["covariance_type"], best["n_components"])
    return seconds, choice, -search.best_criterion_


def _start_workers(X, n_jobs):
    """An untimed search of two cells on a few rows: it starts joblib's worker
    processes (or keeps them: they stop after some minutes idle), so that the
    timed search does not count their start-up, as R's is not counted."""
    grid = dict(n_components=[1], covariance_types=["EII", "VII"])
    OTGaussianMixtureSearch(n_jobs=n_jobs, **grid).fit(X[:20])


def measure(X, repeat=1, with_r=True, with_parallel=True, **search_params):
    """Time ``Mclust()`` and the search on ``X``, ``repeat`` times each,
    interleaved.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The data.
    repeat : int, default=1
        Runs of each side; the times reported are their medians.
    with_r : bool, default=True
        Whether to run ``Mclust()`` (False: R's entries are None).
    with_parallel : bool, default=True
        Whether to run the search with ``n_jobs=2`` too (False: its entries
        are None). Each of its timed runs follows an untimed search of two
        cells on 20 rows, which starts joblib's workers.
    **search_params : dict
        Passed to ``OTGaussianMixtureSearch`` (for the tests: a smaller grid);
        none for the benchmark, which runs the defaults (mclust's grid).

    Returns
    -------
    result : dict
        ``n``, ``d``; for each side (``"mclust"``, ``"ours"`` with
        ``n_jobs=1``, ``"ours2"`` with ``n_jobs=2``) a dict with ``seconds``
        (median, None if every run failed), ``choice`` (model, G), ``bic``
        (mclust's sign) and ``error`` (the message of the last failed run, or
        None); ``"mclust"`` is None without R, ``"ours2"`` without
        ``with_parallel``.
    """
    runs = {}
    if with_r:
        runs["mclust"] = lambda: _mclust_once(X)
    runs["ours"] = lambda: _ours_once(X, 1, search_params)
    if with_parallel:
        runs["ours2"] = lambda: _ours_once(X, 2, search_params)
    sides = {
        side: {"times": [], "choice": None, "bic": None, "error": None} for side in runs
    }
    for _ in range(repeat):
        for side, run in runs.items():
            try:
                seconds, choice, bic = run()
            except Exception as error:  # reported under the table
                message = str(error).strip().splitlines() or [""]
                if isinstance(error, subprocess.CalledProcessError):
                    message = (error.stderr or "").strip().splitlines() or message
                sides[side]["error"] = f"{type(error).__name__}: {message[-1]}"
                continue
            sides[side]["times"].append(seconds)
            sides[side]["choice"], sides[side]["bic"] = choice, bic
    result = {"n": X.shape[0], "d": X.shape[1], "mclust": None, "ours2": None}
    for side, record in sides.items():
        times = record.pop("times")
        record["seconds"] = statistics.median(times) if times else None
        result[side] = record
    return result


def _choice(choice):
    return "n/a" if choice is None else f"{choice[0]},{choice[1]}"


def _number(value, digits):
    return "n/a" if value is None else f"{value:.{digits}f}"


def table_row(name, result):
    """The cells of one data set's row of the table (strings, in the order
    of ``HEADER``).

    Parameters
    ----------
    name : str
        The data set.
    result : dict
        What :func:`measure` returned for it.

    Returns
    -------
    cells : list of str
    """
    missing = {"seconds": None, "choice": None, "bic": None}
    theirs, ours = result["mclust"] or missing, result["ours"]
    ours2 = result["ours2"] or missing
    ratio = None
    if theirs["seconds"] and ours["seconds"] is not None:
        ratio = ours["seconds"] / theirs["seconds"]
    if theirs["choice"] is None or ours["choice"] is None:
        same = "n/a"
        if ours["choice"] is not None:
            same = f"n/a (ours: {_choice(ours['choice'])})"
    elif theirs["choice"] == ours["choice"]:
        same = f"yes: {_choice(ours['choice'])}"
    else:
        same = f"no: {_choice(theirs['choice'])} vs {_choice(ours['choice'])}"
    return [
        name,
        str(result["n"]),
        str(result["d"]),
        _number(theirs["seconds"], 2),
        _number(ours["seconds"], 2),
        _number(ratio, 2),
        _number(ours2["seconds"], 2),
        same,
        _number(theirs["bic"], 3),
        _number(ours["bic"], 3),
    ]


def format_table(rows, rst=False):
    """The table: a header and one line per row, columns as wide as their
    widest cell.

    Parameters
    ----------
    rows : list of list of str
        The cells, in the order of ``HEADER`` (see :func:`table_row`).
    rst : bool, default=False
        False: plain text, numbers right-aligned. True: an RST simple table
        (``=`` borders above and below the header and at the end).

    Returns
    -------
    table : str
        Its lines, without a final newline.
    """
    widths = [
        max(len(cell) for cell in column) for column in zip(HEADER, *rows, strict=True)
    ]

    def line(cells):
        padded = [
            cell.rjust(width) if title in NUMERIC and not rst else cell.ljust(width)
            for cell, width, title in zip(cells, widths, HEADER, strict=True)
        ]
        return "  ".join(padded).rstrip()

    if rst:
        border = "  ".join("=" * width for width in widths)
        lines = [border, line(HEADER), border, *map(line, rows), border]
    else:
        lines = [line(HEADER), "-" * len(line(HEADER)), *map(line, rows)]
    return "\n".join(lines)


def _versions(with_r):
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    threads = max((pool["num_threads"] for pool in blas), default=1)
    ours = (
        f"{platform.processor() or platform.machine()}, numpy {np.__version__}, "
        f"{threads} BLAS thread(s)"
    )
    if not with_r:
        return ours + "; R's mclust: not found (Rscript with mclust is missing)"
    check = subprocess.run(
        [
            "Rscript",
            "-e",
            'cat(R.version.string, "mclust", '
            'as.character(packageVersion("mclust")))',
        ],
        capture_output=True,
        text=True,
    )
    return f"{ours}; {check.stdout.strip()}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="iris and faithful")
    parser.add_argument(
        "--data",
        nargs="+",
        choices=list(DATASETS),
        help="the data sets to run (default: all of them)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each side, median (1)"
    )
    parser.add_argument(
        "--rst", action="store_true", help="also print the table in RST"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat should be at least 1")
    names = args.data or (QUICK if args.quick else list(DATASETS))
    with_r = agreement.has_mclust()
    if not with_r:
        skipped = [name for name in names if name in NEEDS_R]
        names = [name for name in names if name not in NEEDS_R]
        if skipped:
            print(f"Rscript with mclust not found: {', '.join(skipped)} skipped")
    print(_versions(with_r))
    print(
        f"Mclust(X, G = 1:9) against OTGaussianMixtureSearch(random_state=0); "
        f"median of {args.repeat} run(s), seconds",
        flush=True,
    )

    results, rows, failures = {}, [], []
    for name in names:
        X = DATASETS[name]()
        result = measure(X, repeat=args.repeat, with_r=with_r)
        results[name] = result
        rows.append(table_row(name, result))
        for side, label in SIDES.items():
            if result[side] is not None and result[side]["error"] is not None:
                failures.append(f"{name}, {label}: {result[side]['error']}")
        print(f"  {name}: done", file=sys.stderr, flush=True)

    print(format_table(rows))
    for failure in failures:
        print(f"failed: {failure}")
    if args.rst:
        print()
        print(format_table(rows, rst=True))
    return results


if __name__ == "__main__":
    main()
