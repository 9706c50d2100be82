"""The common orientation of EVE and VVE: Newton's method on the profile
criterion, checked against finite differences of that criterion and
against the majorise-minimise iterations run to their fixed point."""

import numpy as np
import pytest
from helpers import m_step_objective, weighted_scatter
from scipy.linalg import expm
from sklearn.datasets import load_iris, load_wine
from sklearn.preprocessing import StandardScaler

from sklearn_otmix import _models
from sklearn_otmix._models import (
    Segments,
    _newton_terms,
    _pair_layout,
    _profile,
    model_covariances,
)


def _skew(coordinates, d):
    first, second, _ = _pair_layout(d)
    skew = np.zeros((d, d))
    skew[first, second] = coordinates
    skew[second, first] = -coordinates
    return skew


@pytest.mark.parametrize("variable_volume", [True, False])
def test_newton_terms_are_the_derivatives_of_the_criterion(variable_volume):
    """The gradient and Hessian of ``h(exp(A) O)`` in the entries of ``A``
    above the diagonal, at ``A = 0``, are central differences' (two cells of
    3 and 2 components, 5 features, a random orientation each)."""
    rng = np.random.default_rng(0)
    d, sizes = 5, [3, 2]
    K, M = sum(sizes), d * (d - 1) // 2
    factors = rng.standard_normal((K, d, d))
    scatter = factors @ factors.swapaxes(1, 2) + 0.1 * np.eye(d)
    mass = rng.uniform(5, 50, K)
    segments = Segments(sizes)
    orientation = np.linalg.qr(rng.standard_normal((2, d, d)))[0]
    _, diagonal, rotated = _profile(
        orientation, scatter, mass, segments, variable_volume
    )
    gradient, hessian = _newton_terms(
        diagonal, rotated, mass, segments, variable_volume
    )

    def h(g, coordinates):
        turned = orientation.copy()
        turned[g] = expm(_skew(coordinates, d)) @ orientation[g]
        return _profile(turned, scatter, mass, segments, variable_volume)[0][g]

    basis = np.eye(M)
    for g in range(2):
        step = 1e-5
        numerical = [(h(g, step * e) - h(g, -step * e)) / (2 * step) for e in basis]
        np.testing.assert_allclose(
            gradient[g], numerical, rtol=1e-6, atol=1e-7 * np.abs(numerical).max()
        )
        step = 1e-4
        second = np.array(
            [
                [
                    h(g, step * (p + q))
                    - h(g, step * (p - q))
                    - h(g, step * (q - p))
                    + h(g, -step * (p + q))
                    for q in basis
                ]
                for p in basis
            ]
        ) / (4 * step**2)
        np.testing.assert_allclose(hessian[g], second, atol=1e-5 * np.abs(second).max())


def _cases():
    wine = StandardScaler().fit_transform(load_wine().data)
    return {"iris": load_iris().data, "wine": wine}


@pytest.mark.parametrize("name", ["iris", "wine"])
@pytest.mark.parametrize("model", ["EVE", "VVE"])
def test_orientation_is_the_fixed_point_of_the_majorise_minimise_steps(
    monkeypatch, name, model
):
    """Finished by Newton's method, the M-step is where the majorise-minimise
    iterations alone get to when run until their criterion no longer changes
    in float64: the covariances within 1e-6 of their largest entry, and the
    objective at least theirs. (The iterations stop there with the gradient
    in the orientation near 1e-5 on wine, where Newton's ends below 1e-7.)
    Soft responsibilities (a Dirichlet draw) make the components overlap,
    where those iterations are slowest."""
    X = _cases()[name]
    z = np.random.RandomState(0).dirichlet(np.ones(3), size=len(X))
    mass, scatter = weighted_scatter(X, z)
    ours = model_covariances(mass, scatter, model)
    monkeypatch.setattr(_models, "MM_STEPS", 10**9)
    fixed_point = model_covariances(mass, scatter, model, tol=0.0, max_iter=200_000)
    scale = np.abs(fixed_point).max()
    np.testing.assert_allclose(ours, fixed_point, rtol=0, atol=1e-6 * scale)
    theirs = m_step_objective(mass, scatter, fixed_point)
    assert m_step_objective(mass, scatter, ours) >= theirs - 1e-12 * abs(theirs)


@pytest.mark.parametrize("model", ["EVE", "VVE"])
def test_newton_goes_on_from_where_the_steps_stop_early(model):
    """mclust's stopping rule on the majorise-minimise iterations alone
    (the criterion's change below sqrt(eps), relative) leaves the M-step
    short of its maximum where they are slow: the objective that Newton's
    finish reaches is at least theirs, and higher on wine."""
    X = _cases()["wine"]
    z = np.random.RandomState(1).dirichlet(np.ones(3), size=len(X))
    mass, scatter = weighted_scatter(X, z)
    ours = m_step_objective(mass, scatter, model_covariances(mass, scatter, model))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_models, "MM_STEPS", 10**9)
        steps_alone = model_covariances(mass, scatter, model)
    assert ours > m_step_objective(mass, scatter, steps_alone)
