"""Time of the hierarchical tree, ``merge_tree(whiten(X))``, against mclust's
``hc(X, modelName = "VVV", use = "SVD")`` on the same rows.

Both run on the same data (random normal, 2000 x 5 and 2000 x 13, written
with ``%.17g``), interleaved, each timed by its own clock: ours around
``merge_tree(whiten(X))`` in this process, R's with ``system.time()`` around
``hc()`` inside R (neither R's start-up nor the reading of the data is
counted). Prints every run and the medians. Needs ``Rscript`` with mclust
(``apt-get install r-cran-mclust``).

Run: ``python benchmarks/bench_tree.py [repeats]`` (default 3).
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from sklearn_otmix._hierarchy import merge_tree, whiten

R_SCRIPT = """
suppressMessages(library(mclust))
X <- as.matrix(read.table(commandArgs(TRUE)[1]))
t <- system.time(h <- hc(X, modelName = "VVV", use = "SVD"))[["elapsed"]]
cat(sprintf("%.4f\\n", t))
"""


def time_ours(X):
    """Seconds of ``merge_tree(whiten(X))``."""
    start = time.perf_counter()
    merge_tree(whiten(X))
    return time.perf_counter() - start


def time_r(path, script):
    """Seconds of mclust's ``hc`` on the rows in ``path``, timed inside R."""
    out = subprocess.run(
        ["Rscript", str(script), str(path)], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def main(repeats=3):
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "hc.R"
        script.write_text(R_SCRIPT)
        rng = np.random.RandomState(1)
        for n, d in ((2000, 5), (2000, 13)):
            X = rng.normal(size=(n, d))
            path = Path(folder) / f"X_{n}x{d}.txt"
            np.savetxt(path, X, fmt="%.17g")
            ours, theirs = [], []
            for rep in range(repeats):
                ours.append(time_ours(X))
                theirs.append(time_r(path, script))
                print(f"{n}x{d} run {rep}: ours {ours[-1]:.3f}s  R {theirs[-1]:.3f}s")
            print(
                f"{n}x{d} median of {repeats}: ours {np.median(ours):.3f}s  "
                f"R hc {np.median(theirs):.3f}s  "
                f"ratio (R / ours) {np.median(theirs) / np.median(ours):.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
