"""WORK IN PROGRESS (issue 15): the covariance models' M-steps against R's
mclust ``mstep`` from the same responsibilities. Skipped without Rscript and
mclust (``apt-get install r-cran-mclust``)."""

import shutil
import subprocess
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_iris, load_wine
from sklearn.preprocessing import StandardScaler

from sklearn_otmix._models import MODELS, model_covariances

R_SCRIPT = """
suppressMessages(library(mclust))
args <- commandArgs(trailingOnly = TRUE)
X <- as.matrix(read.csv(args[1], header = FALSE))
z <- as.matrix(read.csv(args[2], header = FALSE))
fit <- mstep(modelName = args[3], data = X, z = z)
writeLines(sprintf("%.17g", as.vector(fit$parameters$variance$sigma)), args[4])
"""

BUILT = list(MODELS)


def _has_mclust():
    if shutil.which("Rscript") is None:
        return False
    check = subprocess.run(
        ["Rscript", "-e", "library(mclust)"], capture_output=True, text=True
    )
    return check.returncode == 0


pytestmark = pytest.mark.skipif(not _has_mclust(), reason="Rscript with mclust missing")


def _data():
    X_wine = StandardScaler().fit_transform(load_wine().data)
    return {"iris": load_iris().data, "wine": X_wine}


@pytest.mark.parametrize("name", ["iris", "wine"])
@pytest.mark.parametrize("model", BUILT)
def test_m_step_equals_mclust(tmp_path, name, model):
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
        ],
        check=True,
        capture_output=True,
    )
    d = X.shape[1]
    theirs = np.loadtxt(tmp_path / "sigma.txt").reshape(3, d, d)
    mass = z.sum(axis=0)
    means = (z.T @ X) / mass[:, None]
    centred = X[None] - means[:, None]
    scatter = np.einsum("nk,kni,knj->kij", z, centred, centred)
    ours = model_covariances(mass, scatter, model)
    scale = np.abs(theirs).max()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5 * scale)


EM_SCRIPT = """
suppressMessages(library(mclust))
args <- commandArgs(trailingOnly = TRUE)
X <- as.matrix(read.csv(args[1], header = FALSE))
z <- as.matrix(read.csv(args[2], header = FALSE))
ms <- mstep(modelName = args[3], data = X, z = z)
fit <- em(modelName = args[3], data = X, parameters = ms$parameters,
          control = emControl(tol = c(1e-12, sqrt(.Machine$double.eps))))
writeLines(sprintf("%.17g", c(fit$loglik, as.vector(fit$parameters$mean))), args[4])
"""


@pytest.mark.parametrize("model", BUILT)
def test_em_equals_mclust_from_the_same_start(tmp_path, model):
    """From the M-step of the same responsibilities, EM in each model reaches
    mclust's log-likelihood (rel 1e-6) and means (rel 1e-5)."""
    from sklearn_otmix import OTGaussianMixture

    X = load_iris().data
    labels = np.repeat(np.arange(3), 50)
    z = np.full((150, 3), 0.1)
    z[np.arange(150), labels] = 0.8
    np.savetxt(tmp_path / "X.csv", X, delimiter=",", fmt="%.17g")
    np.savetxt(tmp_path / "z.csv", z, delimiter=",", fmt="%.17g")
    (tmp_path / "em.R").write_text(EM_SCRIPT)
    subprocess.run(
        [
            "Rscript",
            str(tmp_path / "em.R"),
            str(tmp_path / "X.csv"),
            str(tmp_path / "z.csv"),
            model,
            str(tmp_path / "out.txt"),
        ],
        check=True,
        capture_output=True,
    )
    out = np.loadtxt(tmp_path / "out.txt")
    loglik, means = out[0], out[1:].reshape(3, 4)
    mass = z.sum(axis=0)
    start_means = (z.T @ X) / mass[:, None]
    centred = X[None] - start_means[:, None]
    scatter = np.einsum("nk,kni,knj->kij", z, centred, centred)
    precisions = np.linalg.inv(model_covariances(mass, scatter, model))
    # scikit-learn's four take their own shapes of precisions.
    precisions = {
        "VII": precisions[:, 0, 0],
        "VVI": np.einsum("kii->ki", precisions),
        "EEE": precisions[0],
    }.get(model, precisions)
    model_fit = OTGaussianMixture(
        3,
        covariance_type=model,
        reg_covar=0.0,
        tol=1e-12,
        max_iter=10_000,
        weights_init=mass / mass.sum(),
        means_init=start_means,
        precisions_init=precisions,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model_fit.fit(X)
    np.testing.assert_allclose(model_fit.lower_bound_ * len(X), loglik, rtol=1e-6)
    np.testing.assert_allclose(model_fit.means_, means, rtol=1e-5, atol=1e-5)
