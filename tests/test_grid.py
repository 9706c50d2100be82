"""The cells of one model fitted together (sklearn_otmix._grid): the same
table as the search's cells fitted one at a time, the stacked M-step the
same as one M-step per cell, and the cases it leaves to the fits of one
cell."""

import numpy as np
import pytest
from sklearn.datasets import load_iris, load_wine, make_blobs
from sklearn.preprocessing import StandardScaler

from sklearn_otmix import OTGaussianMixture, OTGaussianMixtureSearch
from sklearn_otmix import _selection
from sklearn_otmix._grid import GRID_ROWS, grid_applies
from sklearn_otmix._models import MODELS, Segments, model_covariances
from sklearn_otmix._selection import mclust_template


def _one_at_a_time(monkeypatch, search, X):
    """``search`` fitted with every cell on its own."""
    with monkeypatch.context() as patch:
        patch.setattr(_selection, "grid_applies", lambda *args: False)
        return search.fit(X)


def _blobs():
    X, _ = make_blobs(240, centers=3, n_features=3, random_state=1)
    return X * [1.0, 3.0, 0.5]


CASES = {
    # All 14 models; iris's degenerate cells (a collapsing component) are
    # degenerate either way.
    "iris": (lambda: load_iris().data, {}),
    # Beyond four components some of wine's components hold fewer rows than
    # its 13 features: EEV's and VEV's M-steps then pair shapes with the
    # eigenvectors of repeated zero eigenvalues, which round-off chooses.
    "wine": (
        lambda: StandardScaler().fit_transform(load_wine().data),
        {"n_components": range(1, 5)},
    ),
    "blobs, reg_covar and absolute tol": (
        _blobs,
        {
            "estimator": mclust_template().set_params(
                reg_covar=1e-4, convergence="absolute", tol=1e-6
            )
        },
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_stacked_cells_are_the_fits_of_one_cell(monkeypatch, case):
    """Every cell: the same status, iterations, parameter count and
    criteria (to round-off) as when fitted on its own; the same choice, and
    the chosen estimator scores as the table says."""
    data, params = CASES[case]
    X = data()
    template = params.get("estimator", mclust_template())
    assert grid_applies(template, X, None, False)
    stacked = OTGaussianMixtureSearch(random_state=0, **params).fit(X)
    alone = _one_at_a_time(
        monkeypatch, OTGaussianMixtureSearch(random_state=0, **params), X
    )
    ours, theirs = stacked.cv_results_, alone.cv_results_
    fitted, also = (
        np.array([s == "fitted" for s in t["status"]]) for t in (ours, theirs)
    )
    np.testing.assert_array_equal(fitted, also)
    assert fitted.sum() > 20
    # A cell whose component collapses is no candidate either way, but the
    # collapse is the round-off's: how many iterations it takes, and whether
    # the covariance ends singular (degenerate) or without a value (failed).
    for key in ("n_iter", "n_parameters", "converged"):
        np.testing.assert_array_equal(ours[key][fitted], theirs[key][fitted])
    for key in ("bic", "icl", "log_likelihood"):
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-9)
    assert stacked.best_params_ == alone.best_params_
    best = stacked.best_estimator_
    assert isinstance(best, OTGaussianMixture) and best.converged_
    assert best.bic(X) == pytest.approx(stacked.best_criterion_, rel=1e-12)
    np.testing.assert_allclose(best.means_, alone.best_estimator_.means_, rtol=1e-9)


def test_failed_and_unfinished_cells_are_fitted_alone(monkeypatch):
    """Cells that do not converge within ``max_iter`` leave the stack: their
    rows (warnings included) are those of their own fits."""
    X = load_iris().data
    params = dict(
        estimator=mclust_template().set_params(max_iter=8),
        n_components=range(1, 6),
        covariance_types=["EII", "VEV", "EVV", "VVE"],
        random_state=0,
    )
    stacked = OTGaussianMixtureSearch(**params).fit(X)
    alone = _one_at_a_time(monkeypatch, OTGaussianMixtureSearch(**params), X)
    ours, theirs = stacked.cv_results_, alone.cv_results_
    assert not ours["converged"].all()
    np.testing.assert_array_equal(ours["status"], theirs["status"])
    np.testing.assert_array_equal(ours["warnings"], theirs["warnings"])
    np.testing.assert_array_equal(ours["converged"], theirs["converged"])
    np.testing.assert_allclose(ours["bic"], theirs["bic"], rtol=1e-9)


def test_failed_cells_fail_with_their_own_fits_error(monkeypatch):
    """A cell whose covariance has no value (four copies of one row, which
    the merge tree's cut into 3 makes a component of its own, without a
    spread) fails in the stack with the error of its own fit, and is not
    fitted again: the one fit of a cell on its own is the chosen one's (its
    estimator)."""
    X, _ = make_blobs(120, centers=[[0, 0], [6, 0]], random_state=0)
    X = np.vstack([X, np.tile([[3.0, 9.0]], (4, 1))])
    params = dict(n_components=[2, 3], covariance_types=["EVV"], random_state=0)
    alone = _one_at_a_time(monkeypatch, OTGaussianMixtureSearch(**params), X)
    refits = []
    fit_cell = _selection._fit_cell
    monkeypatch.setattr(
        _selection,
        "_fit_cell",
        lambda *args: refits.append(args[4:]) or fit_cell(*args),
    )
    stacked = OTGaussianMixtureSearch(**params).fit(X)
    assert refits == [(2, "EVV")]
    statuses = stacked.cv_results_["status"]
    assert [status.startswith("failed: ") for status in statuses] == [0, 1]
    np.testing.assert_array_equal(statuses, alone.cv_results_["status"])


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("warm", [False, True])
def test_stacked_m_step_is_each_cells(model, warm):
    """``model_covariances`` of cells stacked along one axis equals the
    M-step of each cell alone, from a start or without."""
    rng = np.random.default_rng(0)
    d, sizes = 3, [2, 3, 4]
    K = sum(sizes)
    factors = rng.standard_normal((K, d, 2 * d))
    scatter = factors @ factors.swapaxes(1, 2)
    mass = rng.uniform(5, 20, K)
    start = None
    if warm:
        start = model_covariances(mass, scatter * 1.1, model, segments=Segments(sizes))
    stacked = model_covariances(
        mass, scatter, model, start=start, segments=Segments(sizes)
    )
    first = 0
    for size in sizes:
        part = slice(first, first + size)
        alone = model_covariances(
            mass[part],
            scatter[part],
            model,
            start=None if start is None else start[part],
        )
        np.testing.assert_allclose(stacked[part], alone, rtol=1e-10, atol=1e-12)
        first += size


def test_grid_applies_to_mclust_em_alone():
    """Only mclust's plain EM on numpy float64 rows is stacked; every other
    setting is fitted one cell at a time."""
    X = load_iris().data
    template = mclust_template()
    assert grid_applies(template, X, None, False)
    others = [
        dict(init_params="kmeans"),
        dict(reg_m=1.0),
        dict(reg=0.5),
        dict(prior="mclust"),
        dict(n_init=2),
        dict(target_weights=[0.5, 0.5]),
        dict(weight_bounds=(0.1, 0.9)),
        dict(max_iter=0),
        dict(verbose=1),
    ]
    for params in others:
        assert not grid_applies(clone_with(template, params), X, None, False)
    assert not grid_applies(template, X, np.ones(len(X)), False)
    assert not grid_applies(template, X, None, True)
    assert not grid_applies(template, X.astype(np.float32), None, False)
    assert not grid_applies(
        template, np.tile(X, (GRID_ROWS // 150 + 1, 1)), None, False
    )


def clone_with(template, params):
    from sklearn.base import clone

    return clone(template).set_params(**params)
