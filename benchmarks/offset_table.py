"""Digits kept far from the origin: fits of shifted data against the fit of the
same rows shifted back.

3,000 rows of unit spread in three clusters (3 features) are shifted by 1e6,
1e7 and 1e8 (the rows shifted back are the same numbers, the subtraction being
exact). For each covariance type, ``OTGaussianMixture`` and scikit-learn's
``GaussianMixture`` (same ``random_state``, default k-means initialisation) fit
the shifted rows and the rows at the origin; the table gives, for each
estimator, the largest difference of the covariances (relative to their scale)
and of ``score_samples`` (absolute) between the two fits, or the error raised.

Run ``python benchmarks/offset_table.py``.
"""

import argparse
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from sklearn_otmix import OTGaussianMixture

OFFSETS = (1e6, 1e7, 1e8)
TYPES = ("full", "tied", "diag", "spherical")


def make_rows(n_samples=3000, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [3.0, 1.0, -1.0], [-1.0, 3.5, 2.0]])
    return centres[rng.integers(3, size=n_samples)] + rng.normal(size=(n_samples, 3))


def differences(estimator, far, near):
    """Largest relative difference of the covariances and absolute one of
    ``score_samples`` between the fits of ``far`` and ``near``, or the error."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            shifted = estimator(random_state=0).fit(far)
        except ValueError as error:
            return f"ValueError: {str(error)[:40]}..."
        origin = estimator(random_state=0).fit(near)
    scale = np.max(np.abs(origin.covariances_))
    covariances = np.max(np.abs(shifted.covariances_ - origin.covariances_)) / scale
    scores = np.max(np.abs(shifted.score_samples(far) - origin.score_samples(near)))
    return f"{covariances:9.1e} {scores:9.1e}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    X = make_rows()
    print(
        "3000 rows, unit spread, 3 clusters, d=3; differences from the fit at the "
        "origin: covariances (relative) and score_samples (absolute)"
    )
    header = (
        f"{'offset':>7} {'type':<10} {'OTGaussianMixture':>19}   {'GaussianMixture'}"
    )
    print(header)
    print("-" * 70)
    for offset in OFFSETS:
        shift = offset * np.array([1.0, -0.5, 0.25])
        far = X + shift
        near = far - shift
        for covariance_type in TYPES:
            ours = differences(
                lambda **p: OTGaussianMixture(3, covariance_type=covariance_type, **p),
                far,
                near,
            )
            theirs = differences(
                lambda **p: GaussianMixture(3, covariance_type=covariance_type, **p),
                far,
                near,
            )
            print(f"{offset:>7.0e} {covariance_type:<10} {ours:>19}   {theirs}")


if __name__ == "__main__":
    main()
