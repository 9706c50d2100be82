import os

# scikit-learn's array_api_dispatch (tests/test_array_api.py, and the array-API
# common checks) needs SciPy's array-API mode, which SciPy reads when first
# imported: pytest loads this file before any test module imports SciPy.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_blobs,
)
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler


def _datasets():
    """Data sets shipped with scikit-learn, and generated blobs: (X, n_components)."""
    blobs, _ = make_blobs(
        n_samples=600, centers=4, n_features=5, cluster_std=1.5, random_state=1
    )
    return {
        "iris": (load_iris().data, 3),
        "wine": (StandardScaler().fit_transform(load_wine().data), 3),
        "breast_cancer": (StandardScaler().fit_transform(load_breast_cancer().data), 2),
        "digits": (
            PCA(n_components=10, random_state=0).fit_transform(load_digits().data),
            10,
        ),
        "blobs": (blobs, 4),
    }


DATASETS = _datasets()
COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
INIT_PARAMS = ["kmeans", "k-means++", "random", "random_from_data"]


@pytest.fixture
def blobs():
    """Three well separated, unequally weighted 2-D clusters."""
    rng = np.random.RandomState(0)
    sizes = (300, 150, 50)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    X = np.vstack([rng.randn(m, 2) + c for m, c in zip(sizes, centres)])
    y = np.repeat(np.arange(3), sizes)
    return X, y


def assert_close_to_scale(actual, desired, rtol, name=""):
    """Entry-wise agreement within ``rtol`` of each entry or of the array's scale.

    Off-diagonal covariance entries can be tiny next to the diagonal: relative to
    themselves their round-off is meaningless, relative to the matrix it is not.
    """
    desired = np.asarray(desired)
    scale = np.max(np.abs(desired))
    assert_allclose(actual, desired, rtol=rtol, atol=rtol * scale, err_msg=name)


def assert_same_mixture(ours, theirs, rtol=1e-7):
    """Same fitted mixture as a scikit-learn GaussianMixture, to ``rtol``."""
    for name in (
        "weights_",
        "means_",
        "covariances_",
        "precisions_cholesky_",
        "precisions_",
    ):
        assert_close_to_scale(getattr(ours, name), getattr(theirs, name), rtol, name)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    assert_allclose(ours.lower_bound_, theirs.lower_bound_, rtol=rtol)
    assert_allclose(ours.lower_bounds_, theirs.lower_bounds_, rtol=rtol)


# Hypothesis profiles of the property-based tests (tests/test_properties.py):
# "ci", the default (HYPOTHESIS_PROFILE unset): 120 examples per test, 840 in all,
# the same on every run (derandomize; no example database), about 40 s on two
# cores; "long", twenty times as many, freshly random, for a manual run:
#     HYPOTHESIS_PROFILE=long python -m pytest tests/test_properties.py
# (a failure prints the seed and the @reproduce_failure blob that replay it).
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "ci",
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "long",
    settings.get_profile("ci"),
    max_examples=2400,
    derandomize=False,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
