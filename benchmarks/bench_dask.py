"""OTGaussianMixture on a Dask array: time, and memory of the client process.

A ``n x d`` array of ``K`` Gaussian clusters is generated chunk by chunk on the
workers of a local cluster (loopback, worker processes) and persisted there. From
explicit initial parameters, with a fixed number of iterations (``tol=0``):

1. the Dask fit: its time, the peak resident memory of the client process
   (``ru_maxrss``, the whole process since it started) and the peak of what the
   fit itself allocates in the client (``tracemalloc``, in a second run);
2. then, as references, the same data gathered into the client: the in-memory
   fit and ``GaussianMixture``'s, their times, and the largest relative
   difference between the Dask fit and each.

Run ``python benchmarks/bench_dask.py`` (10,000,000 x 10, full, K=5) or
``--quick`` (20,000 rows, for the tests).
"""

import argparse
import gc
import resource
import sys
import tracemalloc
from pathlib import Path

import numpy as np
from sklearn.mixture import GaussianMixture

sys.path.insert(0, str(Path(__file__).parent))
from bench_fit import _difference, _fit  # noqa: E402

from sklearn_otmix import OTGaussianMixture  # noqa: E402


def make_chunk(n_features, n_components, block_info=None):
    """One chunk of the clusters, seeded by its position (so it can be made on
    any worker, any number of times, alike)."""
    n_rows = block_info[None]["chunk-shape"][0]
    position = block_info[None]["chunk-location"][0]
    centres = np.random.default_rng(0).uniform(-5, 5, (n_components, n_features))
    rng = np.random.default_rng([1, position])
    labels = rng.integers(n_components, size=n_rows)
    noise = rng.standard_normal((n_rows, n_features))
    return centres[labels] + noise * (1 + labels[:, np.newaxis] / n_components)


def initial_parameters(n_features, n_components):
    """Means off the centres by one unit, unit covariances, equal weights."""
    centres = np.random.default_rng(0).uniform(-5, 5, (n_components, n_features))
    shift = np.random.default_rng(2).standard_normal(centres.shape)
    return {
        "weights_init": np.full(n_components, 1.0 / n_components),
        "means_init": centres + shift,
        "precisions_init": np.stack([np.eye(n_features)] * n_components),
    }


def _peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed_fit(estimator, X):
    gc.collect()
    return _fit(estimator, X)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 rows")
    parser.add_argument("--n-samples", type=int, default=10_000_000)
    parser.add_argument("--n-features", type=int, default=10)
    parser.add_argument("--n-components", type=int, default=5)
    parser.add_argument("--chunk-rows", type=int, default=500_000)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    if args.quick:
        args.n_samples, args.chunk_rows = 20_000, 5_000

    import dask.array as da
    from distributed import Client, LocalCluster

    n, d, k = args.n_samples, args.n_features, args.n_components
    params = {
        "n_components": k,
        "max_iter": args.iterations,
        "tol": 0.0,
        **initial_parameters(d, k),
    }
    with (
        LocalCluster(
            n_workers=args.workers,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=":0",
        ) as cluster,
        Client(cluster),
    ):
        n_chunks = -(-n // args.chunk_rows)
        rows = (args.chunk_rows,) * (n_chunks - 1) + (
            n - (n_chunks - 1) * args.chunk_rows,
        )
        X = da.map_blocks(
            make_chunk, d, k, chunks=(rows, (d,)), dtype=np.float64
        ).persist()
        rss_before = _peak_rss_mib()
        on_dask = OTGaussianMixture(**params)
        dask_s = _timed_fit(on_dask, X)
        rss_after = _peak_rss_mib()
        tracemalloc.start()
        _timed_fit(OTGaussianMixture(**params), X)
        traced_mib = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        X_memory = X.compute()

    in_memory = OTGaussianMixture(**params)
    memory_s = _timed_fit(in_memory, X_memory)
    gaussian = GaussianMixture(**params)
    gm_s = _timed_fit(gaussian, X_memory)
    row = {
        "n": n,
        "d": d,
        "K": k,
        "iterations": args.iterations,
        "chunks": n_chunks,
        "workers": args.workers,
        "dask_s": dask_s,
        "memory_s": memory_s,
        "gm_s": gm_s,
        "client_rss_before_mib": rss_before,
        "client_rss_peak_mib": rss_after,
        "client_traced_mib": traced_mib,
        "data_mib": X_memory.nbytes / 2**20,
        "vs_in_memory": _difference(on_dask, in_memory, True),
        "vs_gaussian_mixture": _difference(on_dask, gaussian, True),
    }
    print(
        f"{n:,} x {d}, K={k}, full, {args.iterations} iterations, {n_chunks} chunks "
        f"on {args.workers} worker processes\n"
        f"  Dask fit             {dask_s:8.2f} s\n"
        f"  in-memory fit        {memory_s:8.2f} s (data gathered: "
        f"{row['data_mib']:.0f} MiB)\n"
        f"  GaussianMixture      {gm_s:8.2f} s\n"
        f"  client peak RSS      {rss_before:8.0f} MiB before the fit, "
        f"{rss_after:.0f} MiB after it\n"
        f"  client allocations   {traced_mib:8.1f} MiB at most during the fit "
        "(tracemalloc)\n"
        f"  Dask vs in-memory    {row['vs_in_memory']:8.1e} (largest relative "
        "difference of weights, means, covariances)\n"
        f"  Dask vs GaussianMixture {row['vs_gaussian_mixture']:.1e}"
    )
    return row


if __name__ == "__main__":
    main()
