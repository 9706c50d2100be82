"""mclust's conjugate prior (``priorControl()``): :mod:`sklearn_otmix._prior`
against R's mclust. The hyperparameters of ``defaultPrior``, the MAP M-steps
of ``mstep()``, of ``me()`` (its EM) and of ``mvn()`` (one component), and EM
to convergence with the log-likelihood and BIC that ``me()``, ``bic()`` and
``mclustBIC()`` report. Skipped, with the reason, without Rscript and mclust
(``apt-get install r-cran-mclust``), but for the two that need no R; one
Rscript per data set computes all of R's side.
"""

import shutil
import subprocess

import numpy as np
import pytest
from sklearn.datasets import load_iris, load_wine
from sklearn.preprocessing import StandardScaler

from sklearn_otmix._models import n_model_parameters
from sklearn_otmix._prior import (
    PRIOR_MODELS,
    UNSUPPORTED_MODELS,
    Prior,
    bic_with_prior,
    default_prior,
    map_m_step,
)


def _has_mclust():
    """Whether ``Rscript`` runs and loads mclust."""
    if shutil.which("Rscript") is None:
        return False
    check = subprocess.run(["Rscript", "-e", "library(mclust)"], capture_output=True)
    return check.returncode == 0


#: mclust's EM to convergence: its outer (log-likelihood) and inner (VEI,
#: VEV) tolerances, tightened.
TIGHT = (1e-11, 1e-13)

#: mclust's defaults: emControl()$tol.
DEFAULT = (1e-5, np.sqrt(np.finfo(float).eps))

R_SCRIPT = r"""
suppressMessages(library(mclust))
args <- commandArgs(trailingOnly = TRUE)
X <- as.matrix(read.csv(args[1], header = FALSE))
z <- as.matrix(read.csv(args[2], header = FALSE))
out <- file(args[3], "w")
put <- function(tag, v) {
  v <- as.double(v)
  writeLines(paste(tag, paste(ifelse(is.na(v), "nan", sprintf("%.17g", v)),
                              collapse = " ")), out)
}
n <- nrow(X); d <- ncol(X); G <- ncol(z)
supported <- strsplit(args[4], ",")[[1]]
unsupported <- strsplit(args[5], ",")[[1]]
one <- emControl(itmax = c(1, .Machine$integer.max))
tight <- emControl(tol = c(1e-11, 1e-13))
for (m in c(supported, unsupported)) {
  ellipsoidal <- substr(m, 3, 3) != "I"
  priors <- list(
    default = priorControl(),
    override = priorControl(shrinkage = 1, mean = colMeans(X) + 1,
                            scale = if (ellipsoidal) diag(0.5, d) else 0.5))
  for (pn in names(priors)) {
    pc <- priors[[pn]]
    hp <- do.call(defaultPrior, c(list(data = X, G = G, modelName = m),
                                  pc[names(pc) != "functionName"]))
    tag <- paste(m, pn, sep = ":")
    put(paste0(tag, ":prior"), c(hp$shrinkage, hp$dof, hp$mean, hp$scale))
    ms <- mstep(modelName = m, data = X, z = z, prior = pc)
    put(paste0(tag, ":mstep:mean"), ms$parameters$mean)
    put(paste0(tag, ":mstep:sigma"), ms$parameters$variance$sigma)
    put(paste0(tag, ":mstep:pro"), ms$parameters$pro)
    if (!(m %in% supported)) next
    es <- me(modelName = m, data = X, z = z, prior = pc, control = one)
    put(paste0(tag, ":me:mean"), es$parameters$mean)
    put(paste0(tag, ":me:sigma"), es$parameters$variance$sigma)
    fit <- me(modelName = m, data = X, z = z, prior = pc, control = tight)
    put(paste0(tag, ":em"), c(fit$loglik, bic(m, fit$loglik, n, d, G)))
  }
  put(paste0(m, ":ignored_dof"), defaultPrior(X, G, m, dof = 50)$dof)
  fit <- me(modelName = m, data = X, z = z, prior = priorControl())
  put(paste0(m, ":me_default_loglik"), fit$loglik)
  if (!(m %in% supported)) next
  mv <- mvn(modelName = m, data = X, prior = priorControl())
  put(paste0(m, ":mvn"), c(mv$loglik, mv$parameters$mean,
                           mv$parameters$variance$sigma))
}
# mclustBIC() and Mclust() with the prior, G = 1 (mvn) and 3 (me from the
# hierarchical partition), all models.
BIC <- mclustBIC(X, G = c(1, 3), prior = priorControl(), verbose = FALSE)
writeLines(paste("bic:models", paste(colnames(BIC), collapse = " ")), out)
put("bic:1", BIC["1", ]); put("bic:3", BIC["3", ])
put("bic:z", unmap(hclass(attr(BIC, "initialization")$hcPairs, 3)))
fit <- Mclust(X, G = 3, prior = priorControl(), verbose = FALSE)
writeLines(paste("mclust:model", fit$modelName), out)
put("mclust:fit", c(fit$loglik, fit$bic, fit$df))
close(out)
"""


def _data():
    X_wine = StandardScaler().fit_transform(load_wine().data)
    return {"iris": load_iris().data, "wine": X_wine}


def _responsibilities(X):
    return np.random.RandomState(0).dirichlet(np.ones(3), size=len(X))


_CACHE = {}


@pytest.fixture(scope="module")
def mclust(tmp_path_factory):
    """R's results per data set, each from one Rscript: ``{tag: values}``;
    the tests that use it are skipped without Rscript and mclust."""
    if not _has_mclust():
        pytest.skip(
            "Rscript with R's mclust is missing (apt-get install r-cran-mclust)"
        )

    def compute(name):
        if name not in _CACHE:
            X = _data()[name]
            folder = tmp_path_factory.mktemp(name)
            np.savetxt(folder / "X.csv", X, delimiter=",", fmt="%.17g")
            np.savetxt(
                folder / "z.csv", _responsibilities(X), delimiter=",", fmt="%.17g"
            )
            (folder / "prior.R").write_text(R_SCRIPT)
            subprocess.run(
                [
                    "Rscript",
                    str(folder / "prior.R"),
                    str(folder / "X.csv"),
                    str(folder / "z.csv"),
                    str(folder / "out.txt"),
                    ",".join(PRIOR_MODELS),
                    ",".join(UNSUPPORTED_MODELS),
                ],
                check=True,
                capture_output=True,
            )
            results = {}
            for line in (folder / "out.txt").read_text().splitlines():
                tag, *values = line.split()
                if tag in ("bic:models", "mclust:model"):
                    results[tag] = values
                else:
                    results[tag] = np.array(values, dtype=float)
            _CACHE[name] = results
        return _CACHE[name]

    return compute


def _statistics(X, z):
    """``n_k``, ``xbar_k`` and the scatter about ``xbar_k``."""
    mass = z.sum(axis=0)
    means = (z.T @ X) / mass[:, None]
    centred = X[None] - means[:, None]
    scatter = np.einsum("nk,kni,knj->kij", z, centred, centred)
    return mass, means, scatter


def _priors(X, model):
    """Ours for R's two: priorControl() and the overrides."""
    d = X.shape[1]
    return {
        "default": default_prior(X, 3, model),
        "override": default_prior(
            X,
            3,
            model,
            shrinkage=1,
            mean=X.mean(axis=0) + 1,
            scale=0.5 * np.eye(d) if model[2] != "I" else 0.5,
        ),
    }


def _r_parameters(results, tag, d, G=3):
    means = results[f"{tag}:mean"].reshape(d, G, order="F").T
    sigma = results[f"{tag}:sigma"].reshape(d, d, G, order="F").transpose(2, 0, 1)
    return means, sigma


def _assert_close(ours, theirs, rtol=1e-10, scale=None):
    """Equal to ``rtol`` of the largest entry of R's (or of ``scale``); the
    largest relative difference."""
    if scale is None:
        scale = np.max(np.abs(theirs))
    difference = np.max(np.abs(ours - theirs)) / scale
    assert difference <= rtol, f"relative difference {difference:.3g}"
    return difference


@pytest.mark.parametrize("name", ["iris", "wine"])
@pytest.mark.parametrize("model", PRIOR_MODELS + UNSUPPORTED_MODELS)
def test_default_prior_equals_mclust(mclust, name, model):
    """``defaultPrior(X, 3, model)`` with priorControl()'s defaults and with
    overrides: shrinkage, dof, mean and scale (a scalar for the spherical and
    diagonal models); a dof given to mclust is ignored (``d + 2``)."""
    X = _data()[name]
    results = mclust(name)
    d = X.shape[1]
    for kind, prior in _priors(X, model).items():
        shrinkage, dof, mean, scale = np.split(
            results[f"{model}:{kind}:prior"], [1, 2, 2 + d]
        )
        assert shrinkage[0] == prior.shrinkage
        assert dof[0] == prior.dof == d + 2
        # Relative to the data's spread: wine's mean is about zero.
        _assert_close(prior.mean, mean, scale=np.max(np.abs(X)))
        assert np.size(prior.scale) == (d * d if model[2] != "I" else 1)
        _assert_close(np.ravel(prior.scale), scale)
    assert results[f"{model}:ignored_dof"][0] == d + 2
    assert default_prior(X, 3, model, dof=50).dof == 50


@pytest.mark.parametrize("name", ["iris", "wine"])
@pytest.mark.parametrize("model", PRIOR_MODELS)
@pytest.mark.parametrize("kind", ["default", "override"])
@pytest.mark.parametrize("routine", ["mstep", "me"])
def test_map_m_step_equals_mclust(mclust, name, model, kind, routine):
    """From the same responsibilities (Dirichlet), the weights, means and
    covariances of ``routine="mstep"`` equal R's ``mstep(model, X, z,
    prior)``, and those of ``routine="me"`` the parameters after one M-step
    of R's ``me()`` (``itmax = 1``), both to 1e-10 of the largest entry."""
    X = _data()[name]
    z = _responsibilities(X)
    d = X.shape[1]
    results = mclust(name)
    prior = _priors(X, model)[kind]
    ours = map_m_step(*_statistics(X, z), prior, model, routine=routine)
    means, sigma = _r_parameters(results, f"{model}:{kind}:{routine}", d)
    _assert_close(ours.means, means)
    _assert_close(ours.covariances, sigma)
    _assert_close(ours.weights, results[f"{model}:{kind}:mstep:pro"])


@pytest.mark.parametrize("name", ["iris", "wine"])
@pytest.mark.parametrize("model", ["EII", "EEI", "EVI", "EEV"])
def test_mstep_and_me_differ_where_mclust_does(name, model):
    """mclust's mstep() and me() M-steps differ for these four (EII: scatter
    about the shrunk means; EEI, EVI: degrees of freedom; EEV: mstep drops the
    shrinkage): with the overrides the two differ by far more than the
    tolerance, each equal to its own R routine (above)."""
    X = _data()[name]
    statistics = _statistics(X, _responsibilities(X))
    prior = _priors(X, model)["override"]
    mstep = map_m_step(*statistics, prior, model, routine="mstep")
    me = map_m_step(*statistics, prior, model, routine="me")
    scale = np.max(np.abs(me.covariances))
    assert np.max(np.abs(mstep.covariances - me.covariances)) > 1e-6 * scale


@pytest.mark.parametrize("name", ["iris", "wine"])
@pytest.mark.parametrize("model", PRIOR_MODELS)
def test_one_component_equals_mvn(mclust, name, model):
    """``routine="mvn"`` (Mclust's G = 1) equals R's ``mvn(model, X,
    prior)``: mean and covariance to 1e-10 (the mean relative to the data's
    spread: wine's is about zero), log-likelihood to 1e-12."""
    X = _data()[name]
    n, d = X.shape
    theirs = mclust(name)[f"{model}:mvn"]
    ours = map_m_step(
        *_statistics(X, np.ones((n, 1))),
        default_prior(X, 1, model),
        model,
        routine="mvn",
    )
    loglik_r, mean, sigma = np.split(theirs, [1, 1 + d])
    _assert_close(ours.means[0], mean, scale=np.max(np.abs(X)))
    _assert_close(ours.covariances[0], sigma.reshape(d, d))
    loglik = _e_step(X, ours)[1]
    assert abs(loglik - loglik_r[0]) <= 1e-12 * abs(loglik_r[0])


@pytest.mark.parametrize("model", UNSUPPORTED_MODELS)
def test_models_mclust_refuses(mclust, model):
    """VEE, EVE, VVE and EVV: ours raises; mclust's mstep() returns zero (or
    missing) covariances, its me() no log-likelihood, and mclustBIC() leaves
    them out."""
    X = load_iris().data
    statistics = _statistics(X, _responsibilities(X))
    prior = default_prior(X, 3, model)
    for routine in ("me", "mstep"):
        with pytest.raises(ValueError, match=f"no conjugate prior.*{model}"):
            map_m_step(*statistics, prior, model, routine=routine)
    with pytest.raises(ValueError, match=model):
        bic_with_prior(-100.0, model, 3, 150, 4)
    results = mclust("iris")
    sigma = results[f"{model}:default:mstep:sigma"]
    assert np.all((sigma == 0) | np.isnan(sigma))
    assert np.isnan(results[f"{model}:me_default_loglik"][0])
    assert model not in results["bic:models"]


def test_default_prior_refusals():
    """mclust's refusals: negative shrinkage, a mean without shrinkage, a NaN
    mean with shrinkage; and a scale of the wrong kind for the model."""
    X = load_iris().data
    with pytest.raises(ValueError, match="negative"):
        default_prior(X, 3, "VVV", shrinkage=-1)
    with pytest.raises(ValueError, match="not shrinkage"):
        default_prior(X, 3, "VVV", shrinkage=0, mean=np.zeros(4))
    with pytest.raises(ValueError, match="no prior mean"):
        default_prior(X, 3, "VVV", mean=np.full(4, np.nan))
    assert default_prior(X, 3, "VVV", shrinkage=np.nan).shrinkage == 0
    assert default_prior(X, 3, "VVV", shrinkage=False).shrinkage == 0
    with pytest.raises(ValueError, match="scalar"):
        default_prior(X, 3, "VVI", scale=np.eye(4))
    with pytest.raises(ValueError, match=r"\(4, 4\) matrix"):
        default_prior(X, 3, "VVV", scale=1.0)
    prior = default_prior(X, 3, "EEE")
    assert isinstance(prior, Prior) and prior.scale.shape == (4, 4)


def _e_step(X, estimate):
    """Standard Gaussian posteriors and the log-likelihood."""
    log_density = []
    for mean, covariance in zip(estimate.means, estimate.covariances, strict=True):
        factor = np.linalg.cholesky(covariance)
        solved = np.linalg.solve(factor, (X - mean).T)
        log_det = 2 * np.sum(np.log(np.diag(factor)))
        log_density.append(
            -0.5
            * (np.sum(solved**2, axis=0) + log_det + X.shape[1] * np.log(2 * np.pi))
        )
    joint = np.log(estimate.weights) + np.array(log_density).T
    top = joint.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(joint - top).sum(axis=1))
    return np.exp(joint - log_norm[:, None]), float(log_norm.sum())


def _em(X, z, prior, model, tolerances, max_iter=100_000):
    """mclust's ``me()`` with our MAP M-step: M-step, then E-step, until the
    log-likelihood changes by at most ``tol`` relative to ``1 + |loglik|``;
    VEI and VEV start their inner updates from the previous iteration's."""
    tol, inner_tol = tolerances
    previous, covariances = np.inf, None
    for iteration in range(1, max_iter + 1):
        estimate = map_m_step(
            *_statistics(X, z), prior, model, tol=inner_tol, start=covariances
        )
        covariances = estimate.covariances
        z, loglik = _e_step(X, estimate)
        change = abs(previous - loglik) / (1 + abs(loglik))
        previous = loglik
        if change <= tol:
            break
    return loglik, iteration


@pytest.mark.parametrize("name", ["iris", "wine"])
@pytest.mark.parametrize("model", PRIOR_MODELS)
@pytest.mark.parametrize("kind", ["default", "override"])
def test_em_equals_mclust_me(mclust, name, model, kind):
    """EM from the same responsibilities, run to convergence on both sides:
    the log-likelihood at the MAP and the BIC equal R's ``me(model, X, z,
    prior, control = emControl(tol = c(1e-11, 1e-13)))`` and its ``bic()``
    to 1e-6 (relative)."""
    X = _data()[name]
    n, d = X.shape
    prior = _priors(X, model)[kind]
    loglik, _ = _em(X, _responsibilities(X), prior, model, TIGHT)
    loglik_r, bic_r = mclust(name)[f"{model}:{kind}:em"]
    assert abs(loglik - loglik_r) <= 1e-6 * abs(loglik_r)
    bic = bic_with_prior(loglik, model, 3, n, d)
    assert abs(bic - bic_r) <= 1e-6 * abs(bic_r)


@pytest.mark.parametrize("name", ["iris", "wine"])
def test_bic_table_equals_mclust_bic(mclust, name):
    """``mclustBIC(X, G = c(1, 3), prior = priorControl())``: G = 1 from the
    ``mvn`` M-step, G = 3 from EM with mclust's default tolerances from its
    hierarchical partition; each of the ten models' BIC to 1e-6, and the
    model and BIC that ``Mclust(X, G = 3, prior = priorControl())`` reports
    are the best of them (its loglik that of the best model's EM, its count
    of parameters that without a prior)."""
    X = _data()[name]
    n, d = X.shape
    results = mclust(name)
    assert results["bic:models"] == list(PRIOR_MODELS)
    z = results["bic:z"].reshape(n, 3, order="F")
    ours = {}
    for model, bic_1, bic_3 in zip(
        PRIOR_MODELS, results["bic:1"], results["bic:3"], strict=True
    ):
        one = map_m_step(
            *_statistics(X, np.ones((n, 1))),
            default_prior(X, 1, model),
            model,
            routine="mvn",
        )
        bic = bic_with_prior(_e_step(X, one)[1], model, 1, n, d)
        assert abs(bic - bic_1) <= 1e-6 * abs(bic_1)
        loglik, _ = _em(X, z, default_prior(X, 3, model), model, DEFAULT)
        ours[model] = loglik, bic_with_prior(loglik, model, 3, n, d)
        assert abs(ours[model][1] - bic_3) <= 1e-6 * abs(bic_3)
    best = max(ours, key=lambda model: ours[model][1])
    assert results["mclust:model"] == [best]
    loglik_r, bic_r, df_r = results["mclust:fit"]
    # The prior adds no parameters to the count.
    assert df_r == n_model_parameters(best, 3, d)
    assert abs(ours[best][0] - loglik_r) <= 1e-6 * abs(loglik_r)
    assert abs(ours[best][1] - bic_r) <= 1e-6 * abs(bic_r)


# ------------------------------------------------------------------------------
# The estimator's ``prior`` and ``convergence`` (no R needed)


def _mclust_fit(X, covariance_type, n_components=3, **params):
    from sklearn_otmix import OTGaussianMixture

    params = {
        "init_params": "hierarchical",
        "reg_covar": 0.0,
        "tol": 1e-5,
        "convergence": "relative",
        "max_iter": 1000,
        "prior": "mclust",
        **params,
    }
    return OTGaussianMixture(
        n_components, covariance_type=covariance_type, **params
    ).fit(X)


def test_prior_m_step_is_the_posterior_mode():
    """The fit's last M-step is map_m_step of its responsibilities (the fit
    ends, as mclust's EM, at the parameters its last E-step evaluated)."""
    X = load_iris().data
    fit = _mclust_fit(X, "VEV", max_iter=5)
    z = fit.predict_proba(X)
    mass, xbar, scatter = _statistics(X, z)
    prior = default_prior(X, 3, "VEV")
    step = map_m_step(mass, xbar, scatter, prior, "VEV", start=fit.covariances_)
    again = fit.set_params(warm_start=True, max_iter=1, tol=0.0).fit(X)
    np.testing.assert_allclose(again.means_, step.means, rtol=1e-10)
    np.testing.assert_allclose(again.covariances_, step.covariances, rtol=1e-8)


def test_prior_with_integer_weights_is_repeated_rows():
    """The prior's data moments, and the fit, count a weight as repeated rows."""
    X = load_iris().data
    weights = np.random.RandomState(0).randint(1, 4, len(X))
    repeated = np.repeat(X, weights, axis=0)
    from sklearn_otmix import OTGaussianMixture

    params = dict(covariance_type="VVI", tol=1e-12, prior="mclust", random_state=0)
    start = OTGaussianMixture(3, random_state=0).fit(X)
    init = dict(weights_init=start.weights_, means_init=start.means_)
    weighted = OTGaussianMixture(3, **params, **init).fit(X, sample_weight=weights)
    plain = OTGaussianMixture(3, **params, **init).fit(repeated)
    np.testing.assert_allclose(weighted.means_, plain.means_, rtol=1e-8)
    np.testing.assert_allclose(weighted.covariances_, plain.covariances_, rtol=1e-8)


@pytest.mark.parametrize("model", UNSUPPORTED_MODELS)
def test_prior_refuses_the_models_mclust_refuses(model):
    from sklearn_otmix import OTGaussianMixture

    with pytest.raises(ValueError, match=f"mclust has no conjugate prior for {model}"):
        OTGaussianMixture(2, covariance_type=model, prior="mclust").fit(
            load_iris().data
        )


def test_prior_refusals():
    from sklearn_otmix import OTGaussianMixture

    X = load_iris().data
    with pytest.raises(ValueError, match=r"unknown keys \['shrink'\]"):
        OTGaussianMixture(2, prior={"shrink": 0.1}).fit(X)
    with pytest.raises(ValueError, match="partial_fit does not take a prior"):
        OTGaussianMixture(2, prior="mclust").partial_fit(X)
    with pytest.raises(ValueError, match="prior"):
        OTGaussianMixture(2, prior="jeffreys").fit(X)
    # mclust's own refusal of a mean without shrinkage, through the estimator.
    with pytest.raises(ValueError, match="prior mean specified but not shrinkage"):
        OTGaussianMixture(2, prior={"mean": X.mean(0), "shrinkage": 0}).fit(X)


def test_prior_overrides_reach_the_m_step():
    """A larger shrinkage pulls the means towards the prior mean."""
    X = load_iris().data
    centre = X.mean(axis=0)
    spread = [
        np.abs(
            _mclust_fit(X, "VVV", prior={"shrinkage": shrinkage}).means_ - centre
        ).sum()
        for shrinkage in (0.01, 100.0)
    ]
    assert spread[1] < 0.7 * spread[0]


@pytest.mark.parametrize("covariance_type", ["full", "VEV"])
def test_relative_convergence_is_mclusts_rule(covariance_type):
    """``convergence='relative'``: the fit stops at the first change of the
    total lower bound within ``tol`` of one plus its magnitude, and ends at the
    parameters its last E-step evaluated (``lower_bound_`` is their mean
    log-likelihood); ``'absolute'`` takes one more M-step."""
    from sklearn_otmix import OTGaussianMixture

    X = load_iris().data
    n = len(X)
    params = dict(init_params="hierarchical", reg_covar=0.0, max_iter=1000, tol=1e-5)
    fit = OTGaussianMixture(
        3, covariance_type=covariance_type, convergence="relative", **params
    ).fit(X)
    total = n * np.asarray(fit.lower_bounds_)
    relative = np.abs(np.diff(total)) / (1 + np.abs(total[1:]))
    assert fit.converged_
    assert relative[-1] <= 1e-5 and np.all(relative[:-1] > 1e-5)
    np.testing.assert_allclose(fit.score(X), fit.lower_bound_, rtol=1e-12)
    absolute = OTGaussianMixture(
        3, covariance_type=covariance_type, **{**params, "tol": 1e-5 / n}
    ).fit(X)
    # The same path; one more M-step from the same last E-step.
    assert fit.lower_bounds_ == absolute.lower_bounds_[: fit.n_iter_]
    assert absolute.score(X) > absolute.lower_bound_
