"""Data far from the origin (timestamps, coordinates in metres) lose no digits:
a shift of the data shifts the fit and changes nothing else.

Each fit of data shifted by 1e6, 1e7 or 1e8 (unit spread) is compared with the
fit of the same rows shifted back to the origin (the subtraction is exact):
covariances to 1e-6 relative, ``score_samples`` to 1e-6 absolute, for
scikit-learn's four covariance types and mclust's models, every regime, in
memory, on Dask and in ``partial_fit``.
"""

import warnings

import numpy as np
import pytest
from conftest import assert_close_to_scale
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning

from sklearn_otmix import OTGaussianMixture
from sklearn_otmix._models import MODELS

OFFSETS = [1e6, 1e7, 1e8]
TYPES = ["full", "tied", "diag", "spherical"]


def _rows(n_samples=600, seed=0):
    """Three overlapping unit-spread clusters in 3-D, at the origin."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [3.0, 1.0, -1.0], [-1.0, 3.5, 2.0]])
    labels = rng.integers(3, size=n_samples)
    return centres[labels] + rng.normal(size=(n_samples, 3))


def _shifted(X, offset):
    """``X`` shifted by ``offset`` (along a direction with unequal entries),
    and those rows shifted back: at the origin, the same numbers as far away."""
    shift = offset * np.array([1.0, -0.5, 0.25])
    far = X + shift
    return far, far - shift, shift


def _fit(X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return OTGaussianMixture(3, random_state=0, **params).fit(X)


def _assert_same_fit_shifted(far, near, shift, X_far, X_near):
    assert far.n_iter_ == near.n_iter_
    assert_close_to_scale(far.weights_, near.weights_, 1e-6, "weights_")
    assert_allclose(far.means_ - shift, near.means_, atol=1e-6, err_msg="means_")
    assert_close_to_scale(far.covariances_, near.covariances_, 1e-6, "covariances_")
    assert_allclose(far.score_samples(X_far), near.score_samples(X_near), atol=1e-6)
    assert_allclose(far.lower_bound_, near.lower_bound_, atol=1e-6)


@pytest.mark.parametrize("offset", OFFSETS)
@pytest.mark.parametrize("covariance_type", TYPES)
def test_shifted_data_give_the_shifted_fit(covariance_type, offset):
    X_far, X_near, shift = _shifted(_rows(), offset)
    far = _fit(X_far, covariance_type=covariance_type)
    near = _fit(X_near, covariance_type=covariance_type)
    _assert_same_fit_shifted(far, near, shift, X_far, X_near)


@pytest.mark.parametrize(
    "params",
    [
        {"reg_m": np.inf},
        {"reg_m": 1.0},
        {"reg": 0.5},
        {"weight_bounds": (0.2, 0.5)},
        {"init_params": "random"},
        {"init_params": "hierarchical"},
    ],
    ids=["fixed", "penalised", "tempered", "bounded", "random", "hierarchical"],
)
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_every_regime_and_initialisation_at_1e8(covariance_type, params):
    X_far, X_near, shift = _shifted(_rows(), 1e8)
    far = _fit(X_far, covariance_type=covariance_type, **params)
    near = _fit(X_near, covariance_type=covariance_type, **params)
    _assert_same_fit_shifted(far, near, shift, X_far, X_near)


@pytest.mark.parametrize(
    "model", [m for m in MODELS if m not in ("VII", "VVI", "EEE", "VVV")]
)
def test_mclust_models_at_1e8(model):
    X_far, X_near, shift = _shifted(_rows(), 1e8)
    far = _fit(X_far, covariance_type=model)
    near = _fit(X_near, covariance_type=model)
    _assert_same_fit_shifted(far, near, shift, X_far, X_near)


def test_sample_weights_at_1e7():
    X = _rows()
    weights = np.random.default_rng(1).uniform(0.0, 3.0, size=len(X))
    X_far, X_near, shift = _shifted(X, 1e7)
    far = OTGaussianMixture(3, covariance_type="tied", random_state=0)
    near = OTGaussianMixture(3, covariance_type="tied", random_state=0)
    far.fit(X_far, sample_weight=weights)
    near.fit(X_near, sample_weight=weights)
    _assert_same_fit_shifted(far, near, shift, X_far, X_near)


@pytest.mark.parametrize("covariance_type", TYPES)
def test_partial_fit_at_1e8(covariance_type):
    X_far, X_near, shift = _shifted(_rows(1200), 1e8)
    far = OTGaussianMixture(3, covariance_type=covariance_type, random_state=0)
    near = OTGaussianMixture(3, covariance_type=covariance_type, random_state=0)
    for rows in np.array_split(np.arange(len(X_far)), 6):
        far.partial_fit(X_far[rows])
        near.partial_fit(X_near[rows])
    assert_close_to_scale(far.covariances_, near.covariances_, 1e-6)
    assert_allclose(far.means_ - shift, near.means_, atol=1e-6)
    assert_allclose(far.score_samples(X_far), near.score_samples(X_near), atol=1e-6)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_components_far_apart_keep_their_digits(covariance_type):
    """Two sites 1e7 apart (metres), each of unit spread, 1e8 from the origin:
    each site's components are summed about their own centre. From the same
    start, the 6-component fit of both sites is the 3-component fit of each
    site alone brought to the origin (no row of one site reaches a component
    of the other; the weights are shared in proportion to the sites' rows)."""
    X = _rows()
    halves = (slice(None, 400), slice(400, None))
    site = np.zeros_like(X)
    site[halves[1], 0] = 1e7
    shift = 1e8 + site
    far = X + shift
    near = far - shift
    rng = np.random.default_rng(0)
    # The sites hold 2/3 and 1/3 of the rows: the weights start in proportion.
    starts = [near[half][rng.choice(200, 3, replace=False)] for half in halves]
    params = dict(covariance_type=covariance_type, tol=0.0, max_iter=10)
    precisions = {
        "full": np.stack([np.eye(3)] * 3),
        "diag": np.ones((3, 3)),
        "spherical": np.ones(3),
    }[covariance_type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        both = OTGaussianMixture(
            6,
            weights_init=np.repeat([2 / 9, 1 / 9], 3),
            means_init=np.concatenate([starts[0] + shift[0], starts[1] + shift[-1]]),
            precisions_init=np.concatenate([precisions, precisions]),
            **params,
        ).fit(far)
        for components, half in zip((slice(0, 3), slice(3, 6)), halves):
            alone = OTGaussianMixture(
                3,
                weights_init=np.full(3, 1 / 3),
                means_init=starts[components.start // 3],
                precisions_init=precisions,
                **params,
            ).fit(near[half])
            share = len(near[half]) / len(near)
            assert_close_to_scale(
                both.weights_[components] / share, alone.weights_, 1e-6
            )
            assert_allclose(
                both.means_[components] - shift[half][0], alone.means_, atol=1e-6
            )
            assert_close_to_scale(
                both.covariances_[components], alone.covariances_, 1e-6
            )


def test_a_component_collapsing_far_from_its_centre_keeps_its_digits():
    """Found by property (e) in the long hypothesis profile: from a broad
    start, a component collapses onto one row 15 units from the centre of the
    moments, a variance of 1e-6 (``reg_covar``) left by cancellation of terms
    of 225 (``(mu - c)^2``): its precision depended on the row order by 9e-7.
    Its statistics are summed again about its own mean (the two-pass scheme):
    every order gives the same precisions to round-off."""
    X = np.array(
        [-101.017, -11.169, 93.444, -11.169, -75.001, -6.280, 239.855, -94.668]
    )
    params = dict(
        n_components=3,
        reg=0.01,
        tol=0.0,
        max_iter=2,
        weights_init=np.array([0.34, 0.37, 0.29]),
        means_init=np.array([[-11.169], [-75.001], [-94.668]]),
        precisions_init=np.full((3, 1, 1), 8.77e-5),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference = OTGaussianMixture(**params).fit(X[:, None])
        assert reference.covariances_[1, 0, 0] < 1.001e-6  # collapsed
        rng = np.random.default_rng(0)
        for permutation in (rng.permutation(8) for _ in range(20)):
            permuted = OTGaussianMixture(**params).fit(X[permutation, None])
            assert_allclose(permuted.precisions_, reference.precisions_, rtol=1e-12)
