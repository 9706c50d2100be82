"""Upper bounds on the weights: POT's entropic partial transport against the
package's dual solver, on one E-step.

An entropic transport problem with rows of mass ``1/n`` and the column
marginal bounded above by ``high`` (0.3 for each of 4 components), where the
unconstrained plan gives the first component more than that. POT's
``ot.partial.entropic_partial_wasserstein`` with total mass one solves it (its
constraint ``P 1 <= a`` is then ``P 1 = a``), as does the package's active-set
Newton method on the dual (``weight_bounds``). The script prints, for each, the
time (median of ``--repeats``), the largest column excess over ``high`` and
the largest row error, and their largest difference.

Run ``python benchmarks/bench_weight_bounds.py`` (``--n``, ``--repeats``).
"""

import argparse
import statistics
import sys
from pathlib import Path
from time import perf_counter

import numpy as np
import ot

# The E-step on a cost matrix in memory: a helper of the tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from helpers import transport_plan  # noqa: E402


def pot_plan(cost, weights, high, reg):
    """POT's entropic partial transport, the reference ``pi`` in the cost."""
    n = cost.shape[0]
    shifted = cost - reg * np.log(weights)
    return ot.partial.entropic_partial_wasserstein(
        np.full(n, 1.0 / n),
        high,
        shifted - shifted.min(),
        reg,
        m=1.0,
        numItermax=1000,
        stopThr=1e-12,
    )


def dual_plan(cost, weights, high, reg):
    """The package's E-step with ``weight_bounds=(0, high)``."""
    n, n_components = cost.shape
    result = transport_plan(
        cost,
        np.ones(n),
        weights,
        reg=reg,
        reg_m=0.0,
        target_weights=weights,
        max_iter=1000,
        tol=1e-10,
        bounds=(np.zeros(n_components), high),
    )
    return result.plan / n


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rng = np.random.RandomState(0)
    cost = rng.uniform(0, 5, (args.n, 4))
    cost[:, 0] -= 2  # the first component wants more than its bound
    weights, high, reg = np.full(4, 0.25), np.full(4, 0.3), 1.0
    rows = {}
    for name, solver in (("POT partial", pot_plan), ("dual (package)", dual_plan)):
        times = []
        for _ in range(args.repeats):
            start = perf_counter()
            plan = solver(cost, weights, high, reg)
            times.append(perf_counter() - start)
        excess = float(np.max(plan.sum(axis=0) - high))
        row_error = float(np.abs(plan.sum(axis=1) - 1.0 / args.n).max())
        rows[name] = (statistics.median(times), excess, row_error, plan)
        print(
            f"{name:<16} {rows[name][0]:9.4f} s   column excess {excess:9.2e}   "
            f"row error {row_error:9.2e}"
        )
    difference = np.abs(rows["POT partial"][3] - rows["dual (package)"][3]).max()
    print(f"largest difference between the plans: {difference:.2e}")
    return rows


if __name__ == "__main__":
    main()
