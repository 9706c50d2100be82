"""Fit time and peak memory of OTGaussianMixture against GaussianMixture.

Both estimators fit the same data from the same explicit initial parameters for a
fixed number of iterations (``tol=0``); their runs alternate, and the table gives
medians, the time ratios (GaussianMixture / OTGaussianMixture: above 1 means faster;
and its inverse OT/GM), the time per iteration of each, the peak memory that each
fit allocates (tracemalloc, one separate run each) and the largest relative
difference between the fitted parameters.

Run ``python benchmarks/bench_fit.py`` (the main cases) or ``--quick`` (tiny sizes);
``--cases scaling`` for n = 1e4, 1e5, 1e6 and d = 5, 20, 100; ``--threads 1`` to
limit BLAS to one thread (threadpoolctl).

``--device cpu`` or ``--device cuda`` fits torch tensors on that device instead,
both estimators under scikit-learn's ``array_api_dispatch`` (memory: the peak that
torch allocates on a CUDA device); ``--cases gpu`` selects the large GPU cases.
"""

import argparse
import gc
import os
import platform
import statistics
import tracemalloc
import warnings
from contextlib import nullcontext
from time import perf_counter

# scikit-learn's array_api_dispatch needs SciPy's array-API mode, read when SciPy
# is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_info, threadpool_limits

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
    (
        "full, reg_m=inf, overlap",
        100_000,
        20,
        10,
        "full",
        {"reg_m": np.inf, "spread": 1.0},
        np.float64,
    ),
    ("full, reg_m=1", 100_000, 20, 10, "full", {"reg_m": 1.0}, np.float64),
    ("diag, float32", 100_000, 20, 10, "diag", {}, np.float32),
    ("full, float32", 100_000, 20, 10, "full", {}, np.float32),
]
# How the time grows with n and with d (``--cases scaling``).
SCALING_CASES = [
    (f"{kind}, n={n:.0e} d={d}", n, d, 10, kind, {}, np.float64)
    for kind in ("full", "diag")
    for n, d in [
        (10_000, 20),
        (100_000, 20),
        (1_000_000, 20),
        (100_000, 5),
        (100_000, 100),
    ]
]
# For an accelerator (``--device cuda --cases gpu``).
GPU_CASES = [
    ("gpu full", 1_000_000, 32, 16, "full", {}, np.float64),
    ("gpu diag", 1_000_000, 32, 16, "diag", {}, np.float64),
    ("gpu full, float32", 1_000_000, 32, 16, "full", {}, np.float32),
    ("gpu diag, float32", 1_000_000, 32, 16, "diag", {}, np.float32),
]


def make_data(n_samples, n_features, n_components, dtype, seed=0, spread=4.0):
    """Gaussian clusters with random covariances, and initial parameters near them;
    centres uniform in ``[-spread, spread]`` (4: well separated; 1: overlapping)."""
    rng = np.random.RandomState(seed)
    centres = rng.uniform(-spread, spread, size=(n_components, n_features))
    labels = rng.randint(n_components, size=n_samples)
    X = (
        centres[labels]
        + rng.standard_normal((n_samples, n_features))
        * rng.uniform(0.5, 1.5, size=(n_components, n_features))[labels]
    )
    means = centres + rng.standard_normal(centres.shape) * spread / 4
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


class Device:
    """Where the fits run: numpy arrays (``name`` None), or torch tensors on
    device ``name`` under ``array_api_dispatch``."""

    def __init__(self, name=None):
        self.name = name
        if name is not None:
            import torch

            self.torch = torch
            self.cuda = torch.device(name).type == "cuda"

    def put(self, array):
        if self.name is None:
            return array
        return self.torch.asarray(array, device=self.name)

    def get(self, array):
        if isinstance(array, np.ndarray):
            return array
        return array.cpu().numpy()

    def dispatch(self):
        if self.name is None:
            return nullcontext()
        return sklearn.config_context(array_api_dispatch=True)

    def synchronize(self):
        if self.name is not None and self.cuda:
            self.torch.cuda.synchronize()


HOST = Device()  # numpy arrays


def _estimators(case, X, means, n_iter, device=HOST):
    _, _, _, n_components, covariance_type, extra, _ = case
    initial = initial_parameters(X, means, covariance_type)
    if device.name is not None:
        # GaussianMixture does not cast its *_init under dispatch: in X's dtype.
        initial = {key: device.put(v.astype(X.dtype)) for key, v in initial.items()}
    shared = dict(
        n_components=n_components,
        covariance_type=covariance_type,
        max_iter=n_iter,
        tol=0.0,
        **initial,
    )
    if device.name is not None:
        # GaussianMixture refuses k-means based initialisations under dispatch;
        # with all three *_init given, neither uses its own.
        shared["init_params"] = "random_from_data"
    ours = dict(shared, **{k: v for k, v in extra.items() if k != "spread"})
    if extra.get("reg_m") == np.inf:
        del ours["weights_init"]
    return GaussianMixture(**shared), OTGaussianMixture(**ours)


def _fit(estimator, X, device=HOST):
    with warnings.catch_warnings(), device.dispatch():
        warnings.simplefilter("ignore", ConvergenceWarning)
        device.synchronize()
        start = perf_counter()
        estimator.fit(X)
        device.synchronize()
        return perf_counter() - start


def _peak_memory(estimator, X, device=HOST):
    gc.collect()
    if device.name is not None:
        if not device.cuda:
            _fit(estimator, X, device)
            return float("nan")  # torch's CPU allocations are not traced
        device.torch.cuda.reset_peak_memory_stats()
        base = device.torch.cuda.memory_allocated()
        _fit(estimator, X, device)
        return device.torch.cuda.max_memory_allocated() - base
    tracemalloc.start()
    _fit(estimator, X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def _difference(ours, theirs, same_problem, device=HOST):
    if not same_problem:
        return float("nan")
    worst = 0.0
    for name in ("weights_", "means_", "covariances_"):
        a = device.get(getattr(ours, name))
        b = device.get(getattr(theirs, name))
        worst = max(worst, float(np.max(np.abs(a - b)) / np.max(np.abs(b))))
    return worst


def run_case(case, n_iter, repeats, scale=1.0, device=HOST):
    name, n_samples, n_features, n_components, _, extra, dtype = case
    n_samples = max(int(n_samples * scale), 20 * n_components)
    spread = extra.get("spread", 4.0)
    X, means = make_data(n_samples, n_features, n_components, dtype, spread=spread)
    X_fit = device.put(X)
    # A first fit of each, untimed: CUDA kernels load on first use.
    if device.name is not None:
        for estimator in _estimators(case, X, means, 1, device):
            _fit(estimator, X_fit, device)
    times = {"GaussianMixture": [], "OTGaussianMixture": []}
    for _ in range(repeats):
        for estimator in _estimators(case, X, means, n_iter, device):
            times[type(estimator).__name__].append(_fit(estimator, X_fit, device))
    theirs, ours = _estimators(case, X, means, n_iter, device)
    memory = {type(e).__name__: _peak_memory(e, X_fit, device) for e in (theirs, ours)}
    median = {key: statistics.median(value) for key, value in times.items()}
    return {
        "case": name,
        "n": n_samples,
        "gm_s": median["GaussianMixture"],
        "ot_s": median["OTGaussianMixture"],
        "speedup": median["GaussianMixture"] / median["OTGaussianMixture"],
        "ratio": median["OTGaussianMixture"] / median["GaussianMixture"],
        "gm_ms_iter": 1e3 * median["GaussianMixture"] / n_iter,
        "ot_ms_iter": 1e3 * median["OTGaussianMixture"] / n_iter,
        "gm_mib": memory["GaussianMixture"] / 2**20,
        "ot_mib": memory["OTGaussianMixture"] / 2**20,
        "difference": _difference(ours, theirs, not set(extra) - {"spread"}, device),
        "dtype": str(ours.means_.dtype).removeprefix("torch."),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=10, help="EM iterations (10)")
    parser.add_argument("--repeats", type=int, default=3, help="timed fits of each (3)")
    parser.add_argument(
        "--quick", action="store_true", help="tiny sizes: checks that it runs"
    )
    parser.add_argument(
        "--cases",
        nargs="*",
        help="names of the cases to run (the main ones by default); 'gpu': the "
        "GPU ones; 'scaling': the scaling ones",
    )
    parser.add_argument(
        "--threads", type=int, help="BLAS threads (threadpoolctl); the default's"
    )
    parser.add_argument(
        "--device",
        help="fit torch tensors on this device (cpu, cuda) under array_api_dispatch",
    )
    args = parser.parse_args(argv)
    scale = 0.002 if args.quick else 1.0
    if args.cases == ["gpu"]:
        cases = GPU_CASES
    elif args.cases == ["scaling"]:
        cases = SCALING_CASES
    else:
        every = CASES + SCALING_CASES + GPU_CASES
        cases = [c for c in every if c[0] in (args.cases or [])]
        cases = cases or ([] if args.cases else CASES)
    limits = threadpool_limits(args.threads) if args.threads else nullcontext()
    with limits:
        return _run(cases, args, scale)


def _run(cases, args, scale):
    device = Device(args.device)
    where = "numpy"
    if args.device is not None:
        where = f"torch {device.torch.__version__} on {args.device}"
        if device.cuda:
            where += f" ({device.torch.cuda.get_device_name()})"
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    threads = max((pool["num_threads"] for pool in blas), default=1)
    print(
        f"{platform.processor() or platform.machine()}, numpy {np.__version__}, "
        f"{where}, {threads} BLAS thread(s); {args.iterations} iterations, "
        f"median of {args.repeats}"
    )
    header = (
        f"{'case':<28}{'n':>9}{'GM s':>9}{'OT s':>9}{'GM/OT':>7}{'OT/GM':>7}"
        f"{'GM ms/it':>10}{'OT ms/it':>10}"
        f"{'GM MiB':>9}{'OT MiB':>9}{'max rel diff':>14}{'dtype':>9}"
    )
    print(header)
    print("-" * len(header))
    rows = []
    for case in cases:
        row = run_case(case, args.iterations, args.repeats, scale, device)
        rows.append(row)
        print(
            f"{row['case']:<28}{row['n']:>9}{row['gm_s']:>9.3f}{row['ot_s']:>9.3f}"
            f"{row['speedup']:>7.2f}{row['ratio']:>7.2f}"
            f"{row['gm_ms_iter']:>10.1f}{row['ot_ms_iter']:>10.1f}"
            f"{row['gm_mib']:>9.1f}{row['ot_mib']:>9.1f}"
            f"{row['difference']:>14.1e}{row['dtype']:>9}",
            flush=True,
        )
    return rows


if __name__ == "__main__":
    main()
