"""WORK IN PROGRESS (issue 15): the covariance models' M-steps against R's
mclust ``mstep`` from the same responsibilities. Skipped without Rscript and
mclust (``apt-get install r-cran-mclust``)."""

import shutil
import subprocess

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
