"""Time the parts of one iteration, each a pass over the data's blocks.

The Gaussian costs, the E-step's plan (with its value) and the M-step's
sufficient statistics, for n=100,000, d=20, K=10, from the benchmark's data and
initial parameters: where an iteration's time goes. Each part is timed alone, so
the E-step and the statistics include the costs they need. Run
``python benchmarks/bench_phases.py [TYPE ...]`` (types: full, tied, diag,
spherical; ``--reg-m inf`` for the balanced E-step).
"""

import argparse
import statistics
import sys
from functools import partial
from pathlib import Path
from time import perf_counter

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_fit import initial_parameters, make_data  # noqa: E402

from sklearn_otmix._data import in_memory, row_width  # noqa: E402
from sklearn_otmix._fit import Mixture, MixtureProblem, e_step  # noqa: E402
from sklearn_otmix._gaussian import (  # noqa: E402
    gaussian_cost,
    precision_cholesky_from_precisions,
    sufficient_statistics,
)
from sklearn_otmix._transport import TransportProblem  # noqa: E402


def _median_ms(function, repeats=7):
    function()
    times = []
    for _ in range(repeats):
        start = perf_counter()
        function()
        times.append(perf_counter() - start)
    return 1e3 * statistics.median(times)


def _statistics_of_posterior(x, mass, mixture, covariance_type):
    log_prob = mixture.weighted_log_prob(x, covariance_type)
    plan = np.exp(log_prob - log_prob.max(axis=1, keepdims=True))
    plan *= (mass / plan.sum(axis=1))[:, np.newaxis]
    return sufficient_statistics(x, plan, mass, covariance_type)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "types", nargs="*", default=["full", "tied", "diag", "spherical"]
    )
    parser.add_argument("--reg-m", type=float, default=0.0, help="reg_m (0)")
    args = parser.parse_args(argv)
    n_samples, n_features, n_components = 100_000, 20, 10
    X, means = make_data(n_samples, n_features, n_components, np.float64)
    samples = in_memory(X, row_width=row_width(X, n_components))
    weights = np.full(n_components, 1.0 / n_components)
    for covariance_type in args.types:
        precisions = initial_parameters(X, means, covariance_type)["precisions_init"]
        factor = precision_cholesky_from_precisions(precisions, covariance_type)
        mixture = Mixture(weights, means, None, factor)
        transport = TransportProblem(1.0, args.reg_m, weights, 1000, 1e-9)
        problem = MixtureProblem(n_components, covariance_type, 1e-6, transport)
        cost_of = partial(
            gaussian_cost,
            means=means,
            precisions_chol=factor,
            covariance_type=covariance_type,
        )
        timings = {
            "costs": lambda: samples.map(lambda x, mass: cost_of(x)),
            "E-step and statistics": lambda: e_step(samples, mixture, problem),
            "statistics": lambda: samples.sum(
                partial(
                    _statistics_of_posterior,
                    mixture=mixture,
                    covariance_type=covariance_type,
                )
            ),
        }
        parts = ", ".join(
            f"{name} {_median_ms(f):.0f} ms" for name, f in timings.items()
        )
        print(f"{covariance_type}: {parts}")


if __name__ == "__main__":
    main()
