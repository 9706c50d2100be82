"""Fixed and penalised weights against the default fit: whole fits, first E-step
included, and the inner solver's passes per E-step.

For each size and cluster layout (well separated: centres uniform in [-4, 4]^d;
overlapping: in [-1, 1]^d), ``OTGaussianMixture`` fits the same data from the same
initial means and precisions for 10 iterations with ``reg_m=0`` (the default),
``reg_m=np.inf`` (fixed uniform weights) and ``reg_m=1``; the table gives the
median times and their ratios to the default fit, and for ``reg_m=inf`` the
passes of the balanced solver over the stored costs in each E-step (POT's
Sinkhorn sweep, each kernel formed and each evaluation of Newton's method; the
instrumentation wraps private functions of the package and is for this
benchmark only).

Run ``python benchmarks/bench_fixed_weights.py`` (n = 1e5 and 1e6) or
``--quick``; ``--threads`` limits the BLAS threads.
"""

import argparse
import statistics
import sys
import warnings
from contextlib import nullcontext
from pathlib import Path
from time import perf_counter

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).parent))
from bench_fit import initial_parameters, make_data  # noqa: E402

from sklearn_otmix import OTGaussianMixture  # noqa: E402
from sklearn_otmix import _fit, _transport  # noqa: E402


class PassCounter:
    """Counts the balanced solver's passes over the stored costs, per E-step:
    POT's sweep, the kernels formed (a pass of exponentials each) and the
    evaluations of the semi-dual (a few reads of the kernel each)."""

    def __init__(self):
        self.per_e_step = []
        self._blocks = 0

    def __enter__(self):
        self._originals = (
            _transport._kernel_sums,
            _transport._kernel_block,
            _fit.e_step,
            _transport.ot.sinkhorn,
        )

        def counted(original):
            def block(*args, **kwargs):
                self._blocks += 1
                return original(*args, **kwargs)

            return block

        def e_step(samples, *args, **kwargs):
            self._blocks, self._sweeps = 0, 0
            result = self._originals[2](samples, *args, **kwargs)
            n_blocks = len(samples.map(lambda x, mass: None))
            self.per_e_step.append(self._sweeps + self._blocks // n_blocks)
            return result

        def sinkhorn(*args, **kwargs):
            self._sweeps += 1
            return self._originals[3](*args, **kwargs)

        _transport._kernel_sums = counted(self._originals[0])
        _transport._kernel_block = counted(self._originals[1])
        _fit.e_step = e_step
        _transport.ot.sinkhorn = sinkhorn
        return self

    def __exit__(self, *exc):
        (
            _transport._kernel_sums,
            _transport._kernel_block,
            _fit.e_step,
            _transport.ot.sinkhorn,
        ) = self._originals


def _fit_seconds(X, initial, reg_m, n_iter):
    params = dict(initial)
    if reg_m == np.inf:
        del params["weights_init"]
    model = OTGaussianMixture(
        initial["means_init"].shape[0],
        reg_m=reg_m,
        max_iter=n_iter,
        tol=0.0,
        **params,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = perf_counter()
        model.fit(X)
        return perf_counter() - start


def run(n_samples, spread, n_iter, repeats):
    X, means = make_data(n_samples, 20, 10, np.float64, spread=spread)
    initial = initial_parameters(X, means, "full")
    times = {0.0: [], np.inf: [], 1.0: []}
    for _ in range(repeats):
        for reg_m in times:
            times[reg_m].append(_fit_seconds(X, initial, reg_m, n_iter))
    with PassCounter() as counter:
        _fit_seconds(X, initial, np.inf, n_iter)
    median = {reg_m: statistics.median(value) for reg_m, value in times.items()}
    return median, counter.per_e_step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="BLAS threads (threadpoolctl)")
    args = parser.parse_args(argv)
    sizes = [2_000] if args.quick else [100_000, 1_000_000]
    limits = threadpool_limits(args.threads) if args.threads else nullcontext()
    print(f"d=20, K=10, full; {args.iterations} iterations, median of {args.repeats}")
    header = (
        f"{'n':>9} {'clusters':<12}{'EM s':>8}{'inf s':>8}{'inf/EM':>8}"
        f"{'rho=1 s':>9}{'rho=1/EM':>10}  passes per E-step (reg_m=inf)"
    )
    print(header)
    print("-" * len(header))
    rows = []
    with limits:
        for n_samples in sizes:
            for name, spread in (("separated", 4.0), ("overlapping", 1.0)):
                median, passes = run(n_samples, spread, args.iterations, args.repeats)
                rows.append((n_samples, name, median, passes))
                print(
                    f"{n_samples:>9} {name:<12}{median[0.0]:>8.2f}"
                    f"{median[np.inf]:>8.2f}{median[np.inf] / median[0.0]:>8.2f}"
                    f"{median[1.0]:>9.2f}{median[1.0] / median[0.0]:>10.2f}  "
                    f"{' '.join(map(str, passes))}",
                    flush=True,
                )
    return rows


if __name__ == "__main__":
    main()
