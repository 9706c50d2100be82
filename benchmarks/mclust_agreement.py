"""Agreement with R's mclust, and the time of a full grid against ``Mclust()``.

Needs ``Rscript`` with mclust (``apt-get install r-cran-mclust``). Prints two
tables:

1. EM from the same start, per model and data set: the difference of the
   log-likelihoods at convergence (relative), and of the parameters (weights,
   means, covariances; relative to the largest entry of each). Both run to
   convergence: mclust's outer and inner tolerances are tightened (1e-15,
   1e-14), ours is ``tol=1e-15``.
2. The search with its defaults against ``Mclust(X, G=1:9)``: the chosen
   model and number of components, their BIC (mclust's sign), and the
   seconds of each, in one run on this machine.
3. The noise component, on data with 5-20% uniform background noise: the
   search against ``Mclust(X, G=1:4, initialization = list(noise = ...))``
   from the same noise set (the background's rows), their choices and the
   largest relative difference of a cell's BIC and log-likelihood (VVE's
   left out, see 1.), and of the hypervolumes.

Run: ``python benchmarks/mclust_agreement.py`` (``--quick``: iris only).
``tests/test_mclust_models.py`` asserts the same with these functions.
"""

import argparse
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_iris, load_wine, make_blobs

from sklearn_otmix import OTGaussianMixture, OTGaussianMixtureSearch
from sklearn_otmix._selection import mclust_template
from sklearn_otmix._hierarchy import cut, merge_tree, whiten
from sklearn_otmix._models import MODELS, model_covariances, support_error

EM_SCRIPT = r"""
suppressMessages(library(mclust))
args <- commandArgs(trailingOnly = TRUE)
X <- as.matrix(read.csv(args[1], header = FALSE))
z <- as.matrix(read.csv(args[2], header = FALSE))
out <- file(args[3], "w")
for (model in strsplit(args[4], ",")[[1]]) {
  ms <- mstep(modelName = model, data = X, z = z)
  fit <- em(modelName = model, data = X, parameters = ms$parameters,
            control = emControl(tol = c(1e-15, 1e-14)))
  p <- fit$parameters
  writeLines(paste(model, paste(sprintf("%.17g", c(fit$loglik, p$pro,
    as.vector(p$mean), as.vector(p$variance$sigma))), collapse = " ")), out)
}
close(out)
"""

MCLUST_SCRIPT = r"""
suppressMessages(library(mclust))
args <- commandArgs(trailingOnly = TRUE)
X <- as.matrix(read.csv(args[1], header = FALSE))
prior <- if (length(args) > 3 && args[4] == "prior") priorControl() else NULL
set.seed(0)  # the subset of rows for the tree, beyond 2000
seconds <- system.time(
  fit <- Mclust(X, G = 1:9, prior = prior, verbose = FALSE))[["elapsed"]]
bic <- unclass(fit$BIC)
attributes(bic) <- attributes(bic)[c("dim", "dimnames")]
write.csv(bic, args[2])
writeLines(c(fit$modelName, fit$G, sprintf("%.17g", fit$bic), seconds), args[3])
"""

TREE_SCRIPT = r"""
suppressMessages(library(mclust))
args <- commandArgs(trailingOnly = TRUE)
X <- as.matrix(read.csv(args[1], header = FALSE))
tree <- hc(X, modelName = "VVV", use = "SVD")
write.table(hclass(tree, 1:9), args[2], sep = ",", row.names = FALSE,
            col.names = FALSE)
"""


NOISE_SCRIPT = r"""
suppressMessages(library(mclust))
args <- commandArgs(trailingOnly = TRUE)
X <- as.matrix(read.csv(args[1], header = FALSE))
noise <- as.logical(read.csv(args[2], header = FALSE)[[1]])
G <- as.integer(strsplit(args[3], ",")[[1]])
models <- strsplit(args[4], ",")[[1]]
prior <- if (length(args) > 7 && args[8] == "prior") priorControl() else NULL
set.seed(0)  # the subset of rows for the tree, beyond 2000
seconds <- system.time(fit <- Mclust(X, G = G, modelNames = models,
  prior = prior, initialization = list(noise = noise),
  verbose = FALSE))[["elapsed"]]
bic <- unclass(fit$BIC)
attributes(bic) <- attributes(bic)[c("dim", "dimnames")]
n <- nrow(X)
loglik <- bic
for (g in rownames(bic)) for (m in colnames(bic))
  loglik[g, m] <- (bic[g, m] + nMclustParams(m, ncol(X), as.integer(g),
    noise = TRUE) * log(n)) / 2
write.csv(bic, args[5])
write.csv(loglik, args[6])
writeLines(c(fit$modelName, fit$G, sprintf("%.17g", fit$bic),
  sprintf("%.17g", hypvol(X)), seconds), args[7])
"""


HYPVOL_SCRIPT = r"""
suppressMessages(library(mclust))
args <- commandArgs(trailingOnly = TRUE)
volumes <- sapply(args[-1], function(path)
  hypvol(as.matrix(read.csv(path, header = FALSE))))
writeLines(sprintf("%.17g", volumes), args[1])
"""


def has_mclust():
    """Whether ``Rscript`` runs and loads mclust."""
    if shutil.which("Rscript") is None:
        return False
    check = subprocess.run(["Rscript", "-e", "library(mclust)"], capture_output=True)
    return check.returncode == 0


def _rscript(script, *args):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "script.R"
        path.write_text(script)
        subprocess.run(
            ["Rscript", str(path), *map(str, args)],
            check=True,
            capture_output=True,
            text=True,
        )


def _write(folder, name, array):
    path = Path(folder) / f"{name}.csv"
    np.savetxt(path, array, delimiter=",", fmt="%.17g")
    return path


def datasets(names=("iris", "faithful", "wine", "breast_cancer")):
    """The data sets by name: R's ``faithful`` (exported by Rscript) and
    scikit-learn's, as they ship."""
    loaders = {
        "iris": lambda: load_iris().data,
        "wine": lambda: load_wine().data,
        "breast_cancer": lambda: load_breast_cancer().data,
        "faithful": _faithful,
    }
    return {name: loaders[name]() for name in names}


def _faithful():
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "faithful.csv"
        subprocess.run(
            [
                "Rscript",
                "-e",
                f"write.table(faithful, '{path}', sep = ',', row.names = FALSE, "
                "col.names = FALSE)",
            ],
            check=True,
            capture_output=True,
        )
        return np.loadtxt(path, delimiter=",")


def start(X, n_components=3):
    """Responsibilities to start from: the hierarchical partition, softened
    (0.8 on a row's cluster, the rest spread evenly)."""
    labels = cut(merge_tree(whiten(X)), n_components)
    z = np.full((len(X), n_components), 0.2 / (n_components - 1))
    z[np.arange(len(X)), labels] = 0.8
    return z


def mclust_tree(X):
    """mclust's ``hclass(hc(X, "VVV", use="SVD"), 1:9)``: one column of
    labels (from 1) per number of clusters."""
    with tempfile.TemporaryDirectory() as folder:
        data = _write(folder, "X", X)
        out = Path(folder) / "classes.csv"
        _rscript(TREE_SCRIPT, data, out)
        return np.loadtxt(out, delimiter=",", dtype=int)


def mclust_em(X, z, models=MODELS):
    """mclust's ``em()`` of each model from the M-step of ``z``: a dict of
    model -> (log-likelihood, weights, means, covariances), None where mclust
    returns no fit."""
    K, d = z.shape[1], X.shape[1]
    with tempfile.TemporaryDirectory() as folder:
        data, start_z = _write(folder, "X", X), _write(folder, "z", z)
        out = Path(folder) / "fits.txt"
        _rscript(EM_SCRIPT, data, start_z, out, ",".join(models))
        lines = out.read_text().splitlines()
    fits = {}
    for line in lines:
        model, *numbers = line.split()
        values = np.array([float(v) for v in numbers])
        if np.isnan(values[0]):
            fits[model] = None
            continue
        means = values[1 + K : 1 + K + K * d].reshape(K, d)
        # R writes each component's d x d matrix column-major, components last.
        covariances = values[1 + K + K * d :].reshape(K, d, d).transpose(0, 2, 1)
        fits[model] = (values[0], values[1 : 1 + K], means, covariances)
    return fits


def our_em(X, z, model):
    """Our EM of ``model`` from the M-step of ``z``, to mclust's tolerance:
    (log-likelihood, weights, means, full covariances)."""
    K = z.shape[1]
    # The M-step of z: one iteration of a fit from responsibilities.
    mass = z.sum(axis=0)
    means = (z.T @ X) / mass[:, None]
    centred = X[None] - means[:, None]
    scatter = np.einsum("nk,kni,knj->kij", z, centred, centred)
    precisions = np.linalg.inv(model_covariances(mass, scatter, model))
    # scikit-learn's four take their own shapes of precisions.
    precisions = {
        "VII": precisions[:, 0, 0],
        "VVI": np.einsum("kii->ki", precisions),
        "EEE": precisions[0],
    }.get(model, precisions)
    fit = OTGaussianMixture(
        K,
        covariance_type=model,
        reg_covar=0.0,
        tol=1e-15,
        max_iter=100_000,
        weights_init=mass / mass.sum(),
        means_init=means,
        precisions_init=precisions,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit.fit(X)
    covariances = np.asarray(fit.covariances_)
    d = X.shape[1]
    if model == "VII":
        covariances = covariances[:, None, None] * np.eye(d)
    elif model == "VVI":
        covariances = covariances[:, :, None] * np.eye(d)
    elif model == "EEE":
        covariances = np.broadcast_to(covariances, (K, d, d))
    return fit.lower_bound_ * len(X), fit.weights_, fit.means_, covariances


def differences(ours, theirs):
    """Relative differences: log-likelihood, then the largest of weights,
    means and covariances (each relative to its largest entry)."""
    loglik = abs(ours[0] - theirs[0]) / abs(theirs[0])
    parameters = max(
        np.max(np.abs(a - b)) / np.max(np.abs(b))
        for a, b in zip(ours[1:], theirs[1:], strict=True)
    )
    return loglik, parameters


def mclust_search(X, prior=False):
    """``Mclust(X, G=1:9)`` (``prior``: with ``prior = priorControl()``):
    (model, G, BIC in mclust's sign, seconds, the BIC table as a dict
    (G, model) -> BIC, NaN where mclust has none)."""
    with tempfile.TemporaryDirectory() as folder:
        data = _write(folder, "X", X)
        table, summary = Path(folder) / "bic.csv", Path(folder) / "best.txt"
        _rscript(MCLUST_SCRIPT, data, table, summary, "prior" if prior else "none")
        model, G, bic, seconds = summary.read_text().split()
        bics = _table(table)
    return model, int(G), float(bic), float(seconds), bics


def with_background(X, fraction, seed=0):
    """``X`` with uniform background noise, ``fraction`` of the rows, over
    its bounding box widened by a tenth on each side; and the noise rows."""
    rng = np.random.RandomState(seed)
    n_noise = int(round(fraction * len(X) / (1 - fraction)))
    low, high = X.min(axis=0), X.max(axis=0)
    pad = 0.1 * (high - low)
    background = rng.uniform(low - pad, high + pad, size=(n_noise, X.shape[1]))
    noise = np.r_[np.zeros(len(X), dtype=bool), np.ones(n_noise, dtype=bool)]
    return np.vstack([X, background]), noise


NOISY = ("blobs", "blobs3d", "faithful", "iris")


def noisy_datasets(names=NOISY):
    """Data sets with 5-20% uniform background noise, by name: (X, the
    noise rows). Generated clusters (fixed seeds) and R's faithful and iris."""
    makers = {
        "blobs": lambda: with_background(
            make_blobs(300, centers=3, cluster_std=[1.0, 0.5, 1.5], random_state=0)[0],
            0.1,
        ),
        "blobs3d": lambda: with_background(
            make_blobs(250, n_features=3, centers=2, cluster_std=0.8, random_state=1)[
                0
            ],
            0.2,
            seed=1,
        ),
        "faithful": lambda: with_background(_faithful(), 0.15, seed=2),
        "iris": lambda: with_background(load_iris().data, 0.05, seed=3),
    }
    return {name: makers[name]() for name in names}


def _table(path):
    """A table that R wrote, G by model, as a dict (G, model) -> value (NaN
    for R's NA)."""
    lines = path.read_text().splitlines()
    columns = [c.strip('"') for c in lines[0].split(",")[1:]]
    table = {}
    for line in lines[1:]:
        G_row, *values = line.split(",")
        for column, value in zip(columns, values, strict=True):
            table[(int(G_row.strip('"')), column)] = (
                np.nan if value == "NA" else float(value)
            )
    return table


def mclust_noise(X, noise, counts=range(1, 10), models=MODELS, prior=False):
    """``Mclust(X, G, modelNames, initialization = list(noise = noise))``
    (``prior``: with ``prior = priorControl()``): (model, G, BIC in mclust's
    sign, hypvol(X), seconds, the BIC and the log-likelihood tables as dicts
    (G, model) -> value, NaN where mclust has none)."""
    with tempfile.TemporaryDirectory() as folder:
        data = _write(folder, "X", X)
        rows = _write(folder, "noise", noise.astype(int))
        bic, loglik = Path(folder) / "bic.csv", Path(folder) / "loglik.csv"
        summary = Path(folder) / "best.txt"
        _rscript(
            NOISE_SCRIPT,
            data,
            rows,
            ",".join(map(str, counts)),
            ",".join(models),
            bic,
            loglik,
            summary,
            "prior" if prior else "none",
        )
        model, G, best, volume, seconds = summary.read_text().split()
        bics, logliks = _table(bic), _table(loglik)
    return model, int(G), float(best), float(volume), float(seconds), bics, logliks


def mclust_hypvol(*arrays):
    """mclust's ``hypvol`` of each array, in one run of R."""
    with tempfile.TemporaryDirectory() as folder:
        paths = [_write(folder, f"X{i}", X) for i, X in enumerate(arrays)]
        out = Path(folder) / "volumes.txt"
        _rscript(HYPVOL_SCRIPT, out, *paths)
        return [float(line) for line in out.read_text().split()]


def our_search(X, n_jobs=None, prior=None, **search):
    """The search with its defaults (``prior``: the template's; ``search``:
    the search's other parameters): (model, G, BIC in mclust's sign,
    seconds, the fitted search)."""
    template = mclust_template().set_params(prior=prior)
    begin = time.perf_counter()
    search = OTGaussianMixtureSearch(
        template, n_jobs=n_jobs, random_state=0, **search
    ).fit(X)
    seconds = time.perf_counter() - begin
    best = search.best_params_
    return (
        best["covariance_type"],
        best["n_components"],
        -search.best_criterion_,
        seconds,
        search,
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="iris only")
    args = parser.parse_args(argv)
    # breast_cancer (30 features) is left out: Mclust() took over 15 minutes.
    names = ("iris",) if args.quick else ("iris", "faithful", "wine")
    data = datasets(names)

    print("EM from the same start: |log L - mclust's| / |mclust's| (parameters)")
    print(f"{'model':<6}" + "".join(f"{name:>26}" for name in names))
    agreement = {}
    theirs = {name: mclust_em(X, start(X)) for name, X in data.items()}
    for model in MODELS:
        cells = []
        for name, X in data.items():
            fit = theirs[name][model]
            if support_error(model, *X.shape, 3) is not None:
                cells.append(f"{'refused: p > n':>26}")
                continue
            if fit is None:
                cells.append(f"{'mclust: no fit':>26}")
                continue
            loglik, parameters = differences(our_em(X, start(X), model), fit)
            agreement[model, name] = (loglik, parameters)
            cells.append(f"{loglik:>14.1e} ({parameters:.1e})")
        print(f"{model:<6}" + "".join(cells))

    print("\nFull grid (G = 1..9, every model): ours against Mclust()")
    print(
        f"{'data':<14}{'mclust':>10}{'ours':>10}{'BIC mclust':>14}{'BIC ours':>14}"
        f"{'rel':>10}{'s mclust':>10}{'s ours':>9}"
    )
    searches = {}
    for name, X in data.items():
        model_r, G_r, bic_r, seconds_r, _ = mclust_search(X)
        model, G, bic, seconds, _ = our_search(X)
        searches[name] = (model_r, G_r, bic_r, model, G, bic)
        print(
            f"{name:<14}{model_r + ',' + str(G_r):>10}{model + ',' + str(G):>10}"
            f"{bic_r:>14.4f}{bic:>14.4f}{abs(bic - bic_r) / abs(bic_r):>10.1e}"
            f"{seconds_r:>10.2f}{seconds:>9.2f}"
        )

    print("\nNoise component (G = 1..4, every model, the same noise set)")
    print(
        f"{'data':<10}{'noise':>7}{'mclust':>9}{'ours':>9}{'BIC rel':>10}"
        f"{'cells BIC':>11}{'cells logL':>11}{'hypvol':>9}"
    )
    noisy = noisy_datasets(("iris",) if args.quick else NOISY)
    for name, (X, noise) in noisy.items():
        model_r, G_r, bic_r, volume, _, bics, logliks = mclust_noise(
            X, noise, range(1, 5)
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model, G, bic, _, search = our_search(
                X, n_components=range(1, 5), noise=True, noise_init=noise
            )
        table = search.cv_results_
        cells = [
            (abs(-b - bics[k, m]) / abs(bics[k, m]), abs(l - logliks[k, m]) / abs(l))
            for k, m, b, l in zip(
                table["param_n_components"],
                table["param_covariance_type"],
                table["bic"],
                table["log_likelihood"],
                strict=True,
            )
            if m != "VVE" and np.isfinite(b) and np.isfinite(bics[k, m])
        ]
        worst_bic, worst_loglik = np.max(cells, axis=0)
        ours_volume = search.best_estimator_.hypervolume_
        print(
            f"{name:<10}{noise.mean():>7.2f}{model_r + ',' + str(G_r):>9}"
            f"{model + ',' + str(G):>9}{abs(bic - bic_r) / abs(bic_r):>10.1e}"
            f"{worst_bic:>11.1e}{worst_loglik:>11.1e}"
            f"{abs(ours_volume - volume) / volume:>9.1e}"
        )
    return agreement, searches


if __name__ == "__main__":
    main()
