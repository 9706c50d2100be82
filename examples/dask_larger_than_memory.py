"""
Larger than memory: ten million samples on a Dask cluster
=========================================================

``OTGaussianMixture.fit`` takes a :class:`dask.array.Array`: each EM iteration
(and, for ``reg_m > 0``, each Newton step of the E-step) is one Dask computation
over the chunks of ``X``, which returns their sufficient statistics, a few
kilobytes; the chunks stay on the workers. The initialisation (k-means here) runs
on a sample of 100,000 rows.

This example generates a 10,000,000 x 10 array chunk by chunk on the workers of a
local cluster (the client never holds it), fits a five-component mixture, and
compares the fit with the in-memory fit from the same initial parameters.

It needs ``pip install "sklearn-otmix[dask]"`` and a few minutes; it is not run
when the documentation is built. On a real cluster, pass the scheduler's address
to :class:`distributed.Client` instead of starting a :class:`LocalCluster`.
"""

import resource
import time

import dask.array as da
import numpy as np
from distributed import Client, LocalCluster

from sklearn_otmix import OTGaussianMixture

N_SAMPLES, N_FEATURES, N_COMPONENTS = 10_000_000, 10, 5
CHUNK_ROWS = 500_000


def make_chunk(block_id=None):
    """One chunk of a mixture of five Gaussians, seeded by its position."""
    centres = np.random.default_rng(0).uniform(-5, 5, (N_COMPONENTS, N_FEATURES))
    rng = np.random.default_rng([1, block_id[0]])
    labels = rng.integers(N_COMPONENTS, size=CHUNK_ROWS)
    noise = rng.standard_normal((CHUNK_ROWS, N_FEATURES))
    return centres[labels] + noise * (1 + labels[:, np.newaxis] / N_COMPONENTS)


def peak_rss_mib():
    """Peak resident memory of this (client) process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1") as cluster,
        Client(cluster) as client,
    ):
        X = da.map_blocks(
            make_chunk,
            chunks=((CHUNK_ROWS,) * (N_SAMPLES // CHUNK_ROWS), (N_FEATURES,)),
            dtype=np.float64,
        )
        # Generated once and kept by the workers (800 MB in all): the fit's
        # passes read the chunks where they are. Without persist(), each pass
        # would generate them again.
        X = X.persist()
        print(f"X: {X.shape[0]:,} x {X.shape[1]} on {len(client.nthreads())} workers")
        print(f"client peak memory before the fit: {peak_rss_mib():.0f} MiB")

        start = time.perf_counter()
        model = OTGaussianMixture(N_COMPONENTS, random_state=0).fit(X)
        elapsed = time.perf_counter() - start
        print(
            f"fit: {elapsed:.1f} s, {model.n_iter_} iterations "
            f"({elapsed / model.n_iter_:.2f} s each, initialisation included), "
            f"converged={model.converged_}"
        )
        print(f"client peak memory after the fit: {peak_rss_mib():.0f} MiB")
        print("weights:", np.round(model.weights_, 4))

        # Predictions are lazy Dask arrays, chunked like X.
        labels = model.predict(X)
        counts = np.bincount(labels.compute(), minlength=N_COMPONENTS)
        print("samples per component:", counts)
        print(f"mean log-likelihood: {model.score(X):.6f}")

        # The same fit in memory, from the Dask fit's initial parameters, to
        # compare: this gathers X into the client (800 MB), as a check only.
        explicit = OTGaussianMixture(
            N_COMPONENTS,
            weights_init=model.weights_,
            means_init=model.means_,
            precisions_init=model.precisions_,
            max_iter=5,
            tol=0,
        )
        on_dask = explicit.__sklearn_clone__().fit(X)
        in_memory = explicit.__sklearn_clone__().fit(X.compute())
        difference = max(
            np.max(np.abs(getattr(on_dask, name) - getattr(in_memory, name)))
            / np.max(np.abs(getattr(in_memory, name)))
            for name in ("weights_", "means_", "covariances_")
        )
        print(f"Dask fit vs in-memory fit, 5 iterations: {difference:.1e}")
