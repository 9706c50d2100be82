"""Agreement with R's mclust: the M-steps of the 14 models, EM from the same
start, the hierarchical initialisation's partitions, and the choice of
``Mclust()``. Skipped, with the reason, without Rscript and mclust
(``apt-get install r-cran-mclust``; ``.ci/run`` installs them)."""

import subprocess

import numpy as np
import pytest
from helpers import (
    MCLUST_MISSING,
    benchmark_module,
    m_step_objective,
    weighted_scatter,
)
from sklearn.datasets import load_iris, load_wine
from sklearn.preprocessing import StandardScaler

from sklearn_otmix import OTGaussianMixture
from sklearn_otmix._hierarchy import cut, merge_tree, whiten
from sklearn_otmix._models import MODELS, model_covariances, support_error

R_SCRIPT = """
suppressMessages(library(mclust))
args <- commandArgs(trailingOnly = TRUE)
X <- as.matrix(read.csv(args[1], header = FALSE))
z <- as.matrix(read.csv(args[2], header = FALSE))
fit <- mstep(modelName = args[3], data = X, z = z,
             control = emControl(tol = c(1e-5, as.numeric(args[5]))))
writeLines(sprintf("%.17g", as.vector(fit$parameters$variance$sigma)), args[4])
"""


agreement = benchmark_module("mclust_agreement")

pytestmark = pytest.mark.skipif(
    not agreement.has_mclust(),
    reason=MCLUST_MISSING,
)


def _data():
    X_wine = StandardScaler().fit_transform(load_wine().data)
    return {"iris": load_iris().data, "wine": X_wine}


@pytest.mark.parametrize("name", ["iris", "wine"])
@pytest.mark.parametrize("model", MODELS)
def test_m_step_equals_mclust(tmp_path, name, model):
    """Each model's M-step is mclust's ``mstep`` from the same soft
    responsibilities. EVE's is compared with mclust's run to an inner
    tolerance of 1e-14: ours finishes the majorise-minimise iterations by
    Newton's method, at the maximum, where mclust's stop short of it at their
    default (tests/test_orientation.py)."""
    X = _data()[name]
    z = np.random.RandomState(0).dirichlet(np.ones(3), size=len(X))
    np.savetxt(tmp_path / "X.csv", X, delimiter=",", fmt="%.17g")
    np.savetxt(tmp_path / "z.csv", z, delimiter=",", fmt="%.17g")
    (tmp_path / "mstep.R").write_text(R_SCRIPT)
    subprocess.run(
        [
            "Rscript",
            str(tmp_path / "mstep.R"),
            str(tmp_path / "X.csv"),
            str(tmp_path / "z.csv"),
            model,
            str(tmp_path / "sigma.txt"),
            # mclust's inner tolerance, its default but for EVE (see below).
            "1e-14" if model == "EVE" else str(float(np.sqrt(np.finfo(float).eps))),
        ],
        check=True,
        capture_output=True,
    )
    d = X.shape[1]
    theirs = np.loadtxt(tmp_path / "sigma.txt").reshape(3, d, d)
    mass, scatter = weighted_scatter(X, z)
    ours = model_covariances(mass, scatter, model)
    if model == "VVE":
        # mclust 6 leaves the volumes out of VVE's orientation update, so its
        # M-step falls short of the maximum: ours must do at least as well.
        assert m_step_objective(mass, scatter, ours) >= m_step_objective(
            mass, scatter, theirs
        ) - 1e-9 * abs(m_step_objective(mass, scatter, theirs))
        return
    scale = np.abs(theirs).max()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5 * scale)


def test_vve_m_step_is_a_maximum():
    """Why VVE differs from mclust's: ours is a maximum of the M-step's
    objective along every small rotation of its common axes (iris, the
    species as responsibilities); test_m_step_equals_mclust finds mclust's
    no higher."""
    X, y = load_iris(return_X_y=True)
    z = np.eye(3)[y]
    mass, scatter = weighted_scatter(X, z)
    ours = model_covariances(mass, scatter, "VVE")
    best = m_step_objective(mass, scatter, ours)
    for i in range(4):
        for j in range(i + 1, 4):
            for angle in (-1e-3, 1e-3):
                rotation = np.eye(4)
                c, s = np.cos(angle), np.sin(angle)
                rotation[[i, i, j, j], [i, j, i, j]] = c, -s, s, c
                turned = rotation @ ours @ rotation.T
                assert m_step_objective(mass, scatter, turned) <= best + 1e-9


@pytest.mark.parametrize("model", ["EEE", "VEE", "EVE", "VVE", "EEV", "VEV", "EVV"])
def test_float32_covariances_are_positive_definite_as_stored(model):
    """float32 data whose columns range from 1e-5 to 8e5: a model with
    orientations either fits, with every covariance positive definite as
    stored (in float32), or raises the ill-defined covariance ValueError.

    Definiteness is read from ``D^-1/2 S D^-1/2`` (``D`` the diagonal of
    ``S``; congruence keeps the signs of the eigenvalues): an eigensolver is
    off by ``eps`` times the largest eigenvalue, 1e-4 at these scales, and on
    ``S`` itself reports eigenvalues down to -7e-5 where the smallest is about
    the ridge's 1e-6."""
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=4.0, size=(3, 6))
    X = centres[rng.integers(3, size=200)] + rng.normal(size=(200, 6))
    X = (X * np.geomspace(1e-5, 8e5, 6)).astype(np.float32)
    fit = OTGaussianMixture(3, covariance_type=model, random_state=0)
    try:
        fit.fit(X)
    except ValueError as error:
        assert "ill-defined empirical covariance" in str(error)
        return
    assert fit.covariances_.dtype == np.float32
    covariances = fit.covariances_.astype(np.float64).reshape(-1, 6, 6)
    scale = 1.0 / np.sqrt(np.einsum("kii->ki", covariances))
    scaled = covariances * scale[:, :, None] * scale[:, None, :]
    assert np.all(np.linalg.eigvalsh(scaled)[:, 0] > 0)
    # So the stored covariances have a Cholesky factor in float32 itself.
    np.linalg.cholesky(fit.covariances_.reshape(-1, 6, 6))


DATA = ("iris", "faithful", "wine")


@pytest.fixture(scope="module")
def mclust_em_fits():
    """mclust's em() of every model from the same start, once per data set."""
    data = agreement.datasets(DATA)
    return {
        name: (X, agreement.mclust_em(X, agreement.start(X)))
        for name, X in data.items()
    }


@pytest.mark.parametrize("name", DATA)
@pytest.mark.parametrize("model", MODELS)
def test_em_equals_mclust_from_the_same_start(mclust_em_fits, name, model):
    """From the M-step of the same responsibilities (the hierarchical
    partition into 3, softened), EM in each model reaches mclust's
    log-likelihood (rel 1e-6) and its weights, means and covariances (rel
    1e-5 of each one's largest entry), both run to convergence (mclust's
    inner tolerance tightened too: with its default sqrt(eps), VEE's M-step
    stops early enough to move the parameters by 2.6e-5)."""
    X, fits = mclust_em_fits[name]
    z = agreement.start(X)
    assert support_error(model, *X.shape, 3) is None
    assert fits[model] is not None, "mclust found no fit"
    if model == "VVE":
        # See test_vve_m_step_is_a_maximum: ours climbs higher.
        assert agreement.our_em(X, z, model)[0] >= fits[model][0]
        return
    loglik, parameters = agreement.differences(
        agreement.our_em(X, z, model), fits[model]
    )
    assert loglik < 1e-6
    assert parameters < 1e-5


@pytest.mark.parametrize("name", ["iris", "faithful", "wine", "breast_cancer"])
def test_hierarchical_partitions_equal_mclust(name):
    """The partitions into 1 to 9 clusters of the merge tree are those of
    mclust's ``hclass(hc(X, "VVV", use="SVD"), 1:9)``, labels included."""
    X = agreement.datasets((name,))[name]
    theirs = agreement.mclust_tree(X)
    tree = merge_tree(whiten(X))
    for n_clusters in range(1, 10):
        np.testing.assert_array_equal(
            cut(tree, n_clusters) + 1, theirs[:, n_clusters - 1]
        )


def _cells(search, theirs):
    """The cells of the grid where both have a BIC: (ours, mclust's), mclust's
    sign; and the cells where one of the two has none."""
    table = search.cv_results_
    both, one = {}, []
    for k, m, ours in zip(
        table["param_n_components"],
        table["param_covariance_type"],
        table["bic"],
        strict=True,
    ):
        if (k, m) not in theirs:
            continue  # skipped by mclust too (its prior's four)
        finite = np.isfinite(ours), np.isfinite(theirs[(k, m)])
        if all(finite):
            both[(k, m)] = (-ours, theirs[(k, m)])
        elif any(finite):
            one.append((k, m))
    return both, one


@pytest.mark.parametrize("name", DATA)
def test_search_reproduces_mclust(name):
    """With its defaults (mclust's initialisation and stopping rule), the
    search picks the model and the number of components of
    ``Mclust(X, G=1:9)`` with its BIC (rel 1e-6); most cells where both have
    a BIC agree to 1e-6 (all on iris and faithful: on raw wine, whose
    features' scales span 1e5, EVE and EEV reach other optima, and VVE is
    not mclust's, see above)."""
    X = agreement.datasets((name,))[name]
    model_r, G_r, bic_r, _, bics_r = agreement.mclust_search(X)
    model, G, bic, _, search = agreement.our_search(X)
    assert (model, G) == (model_r, G_r)
    if model == "VVE":
        # wine: mclust's VVE stops below the maximum likelihood (see above);
        # ours is higher, in mclust's sign.
        assert bic > bic_r
    else:
        assert abs(bic - bic_r) <= 1e-6 * abs(bic_r)
    both, _ = _cells(search, bics_r)
    close = [
        abs(ours - theirs) <= 1e-6 * abs(theirs)
        for (k, m), (ours, theirs) in both.items()
        if m != "VVE"
    ]
    assert np.mean(close) > (0.9 if name == "wine" else 0.99)


@pytest.mark.parametrize("name", DATA)
def test_search_with_prior_reproduces_mclust(name):
    """``prior='mclust'``: the search picks the model and the number of
    components of ``Mclust(X, G=1:9, prior=priorControl())`` with its BIC,
    and every cell agrees with mclust's (rel 1e-6), NaN where mclust has
    none (the ten models of mclust's prior: VEE, EVE, VVE, EVV skipped)."""
    X = agreement.datasets((name,))[name]
    model_r, G_r, bic_r, _, bics_r = agreement.mclust_search(X, prior=True)
    model, G, bic, _, search = agreement.our_search(X, prior="mclust")
    assert (model, G) == (model_r, G_r)
    assert abs(bic - bic_r) <= 1e-6 * abs(bic_r)
    both, one = _cells(search, bics_r)
    assert one == []
    for cell, (ours, theirs) in both.items():
        assert abs(ours - theirs) <= 1e-6 * abs(theirs), cell
    skipped = search.cv_results_["status"][
        np.isin(
            search.cv_results_["param_covariance_type"], ["VEE", "EVE", "VVE", "EVV"]
        )
    ]
    assert all(
        status.startswith("skipped: mclust has no conjugate prior")
        for status in skipped
    )
