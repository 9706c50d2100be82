"""Time the three parts of one default iteration, each on the whole data.

The Gaussian costs, POT's semi-relaxed E-step (plan and value) and the M-step,
for n=100,000, d=20, K=10, from the benchmark's data and initial parameters:
where an iteration's time goes. Run ``python benchmarks/bench_phases.py [TYPE ...]``.
"""

import statistics
import sys
from pathlib import Path
from time import perf_counter

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_fit import initial_parameters, make_data  # noqa: E402

from sklearn_otmix._gaussian import (  # noqa: E402
    gaussian_cost,
    precision_cholesky_from_precisions,
    weighted_gaussian_mle,
)
from sklearn_otmix._transport import transport_plan  # noqa: E402


def _median_ms(function, repeats=7):
    function()
    times = []
    for _ in range(repeats):
        start = perf_counter()
        function()
        times.append(perf_counter() - start)
    return 1e3 * statistics.median(times)


def main(covariance_types):
    n_samples, n_features, n_components = 100_000, 20, 10
    X, means = make_data(n_samples, n_features, n_components, np.float64)
    weights = np.full(n_components, 1.0 / n_components)
    sample_mass = np.ones(n_samples)
    for covariance_type in covariance_types:
        precisions = initial_parameters(X, means, covariance_type)["precisions_init"]
        factor = precision_cholesky_from_precisions(precisions, covariance_type)

        def e_step(cost):
            return transport_plan(
                cost,
                sample_mass,
                weights,
                reg=1.0,
                reg_m=0.0,
                target_weights=weights,
                max_iter=1,
                tol=0.0,
            )

        cost = gaussian_cost(X, means, factor, covariance_type)
        plan = e_step(cost).plan
        timings = {
            "cost": lambda: gaussian_cost(X, means, factor, covariance_type),
            "E-step (POT)": lambda: e_step(cost),
            "M-step": lambda: weighted_gaussian_mle(
                X, plan, sample_mass, 1e-6, covariance_type
            ),
        }
        parts = ", ".join(
            f"{name} {_median_ms(f):.0f} ms" for name, f in timings.items()
        )
        print(f"{covariance_type}: {parts}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["full", "tied", "diag", "spherical"])
