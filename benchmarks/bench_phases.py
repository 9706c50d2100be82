"""Where an iteration goes: its phases, against the machine's matrix-product rate.

For n=100,000, d=20, K=10 (the benchmark's data and initial parameters), one
iteration of the default regime is replayed block by block as the fit runs it,
each phase timed: the moments of the block, the product that gives its costs,
the plan (a softmax of each row), the product that gives its statistics, then
the M-step. The fit itself is timed too (``(fit of 21 iterations - fit of 1) /
20``): the row "rest" is what the fit spends beyond the phases (Python, the
merging of block statistics), so that the table adds up to the measured
iteration. The machine's ``dgemm`` rate is measured in the same run (square
products of 2000), and the two product-shaped kernels print the fraction of it
that they reach (their flops: ``2 m K n`` for the ``m`` moments of a row; not
printed for ``tied``, whose products hold more than that).

Run ``python benchmarks/bench_phases.py [TYPE ...]`` (types: full, tied, diag,
spherical); ``--threads`` sets the BLAS threads (1 by default).
"""

import argparse
import statistics
import sys
import warnings
from pathlib import Path
from time import perf_counter

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).parent))
from bench_fit import initial_parameters, make_data  # noqa: E402

from sklearn_otmix import OTGaussianMixture  # noqa: E402
from sklearn_otmix._memory import add, in_memory, row_width  # noqa: E402
from sklearn_otmix._step import Mixture, MixtureProblem, m_step  # noqa: E402
from sklearn_otmix._gaussian import precision_cholesky_from_precisions  # noqa: E402
from sklearn_otmix._transport import TransportProblem, solve_transport  # noqa: E402

N_SAMPLES, N_FEATURES, N_COMPONENTS = 100_000, 20, 10


def dgemm_rate(size=2000, repeats=5):
    """The machine's ``dgemm`` rate in flop/s: median of square products."""
    a = np.random.RandomState(0).standard_normal((size, size))
    a @ a
    times = []
    for _ in range(repeats):
        start = perf_counter()
        a @ a
        times.append(perf_counter() - start)
    return 2 * size**3 / statistics.median(times)


def phases(samples, mixture, problem):
    """One iteration replayed block by block: seconds per phase and the
    flops of the two products."""
    seconds = dict.fromkeys(
        ["moments", "cost product", "plan", "statistics product"], 0.0
    )
    flops = 0
    gaussian = mixture.gaussian(problem.form)
    transport = solve_transport(
        samples, gaussian.cost_of, mixture.weights, problem.transport
    )
    total = None
    for rows in samples._blocks:
        x, mass = samples.X[rows], samples.sample_mass[rows]
        clock = perf_counter()
        moments = gaussian.moments(x)
        after_moments = perf_counter()
        cost = gaussian.cost(moments)
        after_cost = perf_counter()
        plan, _, _ = transport.block(lambda: cost, mass)
        after_plan = perf_counter()
        sums = gaussian.moment_sums(moments, plan, mass)
        after_sums = perf_counter()
        total = sums if total is None else add(total, sums)
        seconds["moments"] += after_moments - clock
        seconds["cost product"] += after_cost - after_moments
        seconds["plan"] += after_plan - after_cost
        seconds["statistics product"] += after_sums - after_plan
        flops += 2 * moments.shape[0] * moments.shape[1] * mixture.means.shape[0]
    clock = perf_counter()
    m_step(gaussian.statistics(total), problem)
    seconds["M-step"] = perf_counter() - clock
    return seconds, flops


def fit_seconds_per_iteration(X, covariance_type, initial, repeats=3):
    """Median over fits of ``(fit of 21 iterations - fit of 1) / 20``."""

    def fit(max_iter):
        model = OTGaussianMixture(
            N_COMPONENTS,
            covariance_type=covariance_type,
            max_iter=max_iter,
            tol=0.0,
            **initial,
        )
        start = perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X)
        return perf_counter() - start

    return statistics.median((fit(21) - fit(1)) / 20 for _ in range(repeats))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "types", nargs="*", default=["full", "tied", "diag", "spherical"]
    )
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (1)")
    parser.add_argument("--quick", action="store_true", help="n=2,000: that it runs")
    args = parser.parse_args(argv)
    with threadpool_limits(args.threads):
        return _run(args)


def _run(args):
    n_samples = 2_000 if args.quick else N_SAMPLES
    X, means = make_data(n_samples, N_FEATURES, N_COMPONENTS, np.float64)
    samples = in_memory(X, row_width=row_width(X, N_COMPONENTS))
    weights = np.full(N_COMPONENTS, 1.0 / N_COMPONENTS)
    rate = dgemm_rate()
    print(
        f"n={n_samples}, d={N_FEATURES}, K={N_COMPONENTS}, {args.threads} BLAS "
        f"thread(s); dgemm {rate / 1e9:.1f} GFLOP/s"
    )
    results = {}
    for covariance_type in args.types:
        initial = initial_parameters(X, means, covariance_type)
        factor = precision_cholesky_from_precisions(
            initial["precisions_init"], covariance_type
        )
        mixture = Mixture(weights, means, None, factor)
        transport = TransportProblem(1.0, 0.0, weights, 1000, 1e-9)
        problem = MixtureProblem(N_COMPONENTS, covariance_type, 1e-6, transport)
        runs = [phases(samples, mixture, problem) for _ in range(5)]
        seconds = {
            name: statistics.median(run[0][name] for run in runs) for name in runs[0][0]
        }
        flops = runs[0][1]
        iteration = fit_seconds_per_iteration(X, covariance_type, initial)
        seconds["rest"] = iteration - sum(seconds.values())
        print(f"\n{covariance_type}: {1e3 * iteration:.1f} ms per iteration")
        for name, value in seconds.items():
            line = (
                f"  {name:<20}{1e3 * value:>8.1f} ms{100 * value / iteration:>6.0f} %"
            )
            # tied's products also hold its shared quadratic term and scatter,
            # which the count of flops leaves out.
            if name.endswith("product") and covariance_type != "tied":
                achieved = flops / value
                line += (
                    f"   {achieved / 1e9:5.1f} GFLOP/s = "
                    f"{100 * achieved / rate:.0f} % of dgemm"
                )
            print(line)
        results[covariance_type] = dict(seconds, iteration=iteration, rate=rate)
    return results


if __name__ == "__main__":
    main()
