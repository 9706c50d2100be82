r"""mclust's conjugate prior: ``priorControl()`` (Fraley & Raftery, 2007).

Fraley, C. and Raftery, A. E. (2007), "Bayesian regularization for normal
mixture estimation and model-based clustering", *Journal of Classification*
24, 155-181. With ``Mclust(X, prior = priorControl())`` mclust replaces the
maximum-likelihood M-step of EM by the posterior mode (MAP) under a
normal-inverse-Wishart prior on each component's mean and covariance (the
weights get no prior):

- ``mu_k | Sigma_k ~ N(mu_P, Sigma_k / kappa_P)``, ``kappa_P`` the *shrinkage*;
- ``Sigma_k ~ inverse-Wishart(nu_P, Lambda_P)`` (*dof* and *scale*), an
  inverse gamma on the variance(s) of the spherical and diagonal models, whose
  scale ``varsigma_P`` is a scalar.

Three pure functions:

- :func:`default_prior`: the hyperparameters of mclust's ``defaultPrior`` (what
  ``priorControl()`` uses), overrides included;
- :func:`map_m_step`: the MAP M-step of each model that mclust fits with a prior
  (:data:`PRIOR_MODELS`), as mclust computes it: its ``mstep()`` and its EM
  (``me()``, which ``Mclust()`` runs) differ for EII, EEI, EVI and EEV, and
  ``Mclust()`` fits one component by yet another routine (``mvn()``);
- :func:`bic_with_prior`: the BIC that mclust reports with a prior.

Notation: ``n_k`` the mass of component ``k``, ``xbar_k`` its weighted mean,
``W_k = sum_i z_ik (x_i - xbar_k)(x_i - xbar_k)^T`` its scatter about that mean,
``n = sum_k n_k``, ``d`` the features, ``G`` the components, and

- ``c_k = n_k kappa_P / (n_k + kappa_P)``, ``delta_k = xbar_k - mu_P``;
- ``mu_k = (n_k xbar_k + kappa_P mu_P) / (n_k + kappa_P)`` (the posterior mean);
- ``B_k = Lambda_P + W_k + c_k delta_k delta_k^T`` (ellipsoidal models), and
  ``b_kj = varsigma_P + W_k[j, j] + c_k delta_kj^2`` (diagonal models);
- ``e = 1`` if ``kappa_P > 0``, else 0 (mclust adds some degrees of freedom
  only with a positive shrinkage).
"""

import math
from typing import NamedTuple

import numpy as np

from ._models import MODELS, n_model_parameters

#: The models that mclust does not fit with a prior (mclust 6: their
#: ``mstep()`` returns zero or missing covariances, with no error and, for
#: EVV, a return code of 0; their ``me()`` a missing log-likelihood).
UNSUPPORTED_MODELS = ("VEE", "EVE", "VVE", "EVV")

#: The models that mclust fits with a prior, in its order. Its ``Mclust()``
#: and ``mclustBIC()`` drop the other four from the search when a prior is
#: given.
PRIOR_MODELS = tuple(model for model in MODELS if model not in UNSUPPORTED_MODELS)

#: mclust's routines whose MAP M-steps :func:`map_m_step` reproduces.
ROUTINES = ("me", "mstep", "mvn")


class Prior(NamedTuple):
    """The hyperparameters of mclust's conjugate prior.

    Attributes
    ----------
    shrinkage : float
        ``kappa_P``: the prior mean counts as this many observations.
    mean : ndarray of shape (n_features,)
        ``mu_P``.
    dof : float
        ``nu_P``, the degrees of freedom of the (inverse-Wishart or inverse
        gamma) prior on the covariances.
    scale : float or ndarray of shape (n_features, n_features)
        ``Lambda_P`` (ellipsoidal models), or the scalar ``varsigma_P``
        (spherical and diagonal models).
    """

    shrinkage: float
    mean: np.ndarray
    dof: float
    scale: object


def _check_model(model):
    if model in UNSUPPORTED_MODELS:
        raise ValueError(
            f"mclust has no conjugate prior for covariance model {model!r}: "
            f"it fits {', '.join(PRIOR_MODELS)} with a prior, and drops "
            f"{', '.join(UNSUPPORTED_MODELS)} from Mclust() when one is given."
        )
    if model not in MODELS:
        raise ValueError(f"Unknown covariance model {model!r}.")


def _ellipsoidal(model):
    return model[2] != "I"


def default_prior(
    X, n_components, model, *, shrinkage=None, mean=None, dof=None, scale=None
):
    """mclust's ``defaultPrior(X, G, modelName, ...)``: the hyperparameters
    that ``priorControl()`` gives, with its overrides.

    - shrinkage: 0.01; ``0``, ``False`` or NaN give 0; negative is refused;
    - mean: the data's mean (``colMeans``); a mean given with zero shrinkage,
      or a NaN mean with a positive one, is refused, as mclust does;
    - dof: ``d + 2``;
    - scale: ``var(X) / G^(2/d)`` (the sample covariance, divisor ``n - 1``)
      for the ellipsoidal models, ``diag(var(X)) / G^(2/d)`` when
      ``n <= d``; for the spherical and diagonal models the scalar
      ``mean_j(var(X[:, j])) / G^(2/d)``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    n_components : int
        ``G``.
    model : str
        One of the 14 models of :data:`~sklearn_otmix._models.MODELS`
        (``defaultPrior`` has a prior for each, though only
        :data:`PRIOR_MODELS` can be fitted with it).
    shrinkage, mean, scale : optional
        mclust's overrides (``priorControl(shrinkage=..., mean=...,
        scale=...)``). ``scale``: a scalar for the spherical and diagonal
        models, a ``(d, d)`` symmetric positive semi-definite matrix for the
        ellipsoidal ones.
    dof : float, optional
        mclust's ``defaultPrior`` ignores a ``dof`` passed to
        ``priorControl()`` (it is always ``d + 2``); given here it replaces
        ``d + 2``, as a prior function of one's own would in mclust.

    Returns
    -------
    prior : Prior
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError("X must be a 2-D array (n_samples, n_features).")
    n, d = X.shape
    covariance = np.cov(X, rowvar=False, ddof=1).reshape(d, d)
    return prior_from_moments(
        n,
        X.mean(axis=0),
        covariance,
        n_components,
        model,
        shrinkage=shrinkage,
        mean=mean,
        dof=dof,
        scale=scale,
    )


def prior_from_moments(
    n_samples,
    data_mean,
    data_covariance,
    n_components,
    model,
    *,
    shrinkage=None,
    mean=None,
    dof=None,
    scale=None,
):
    """:func:`default_prior` from the data's size, mean and sample covariance
    (divisor ``n_samples - 1``), which any data layer can sum in one pass
    (``n_samples``: the total sample weight where the rows are weighted)."""
    if model not in MODELS:
        raise ValueError(f"Unknown covariance model {model!r}.")
    n = n_samples
    data_mean = np.asarray(data_mean, dtype=float)
    data_covariance = np.asarray(data_covariance, dtype=float)
    d = data_mean.shape[0]
    if shrinkage is None:
        shrinkage = 0.01
    elif shrinkage is False or np.isnan(shrinkage) or shrinkage == 0:
        shrinkage = 0.0
    elif shrinkage < 0:
        raise ValueError("negative value given for shrinkage")
    shrinkage = float(shrinkage)
    if mean is None or np.any(np.isnan(np.asarray(mean, dtype=float))):
        if mean is not None and shrinkage > 0:
            raise ValueError("positive shrinkage with no prior mean specified")
        mean = data_mean.copy()
    else:
        if shrinkage == 0:
            raise ValueError("prior mean specified but not shrinkage")
        mean = np.broadcast_to(np.asarray(mean, dtype=float), (d,)).copy()
    dof = float(d + 2 if dof is None else dof)
    factor = (1.0 / n_components) ** (2.0 / d)
    variances = np.diagonal(data_covariance)
    if scale is None:
        if not _ellipsoidal(model):
            scale = factor * float(variances.mean())
        elif n > d:
            scale = factor * data_covariance
        else:
            scale = factor * np.diag(variances)
    else:
        scale = _check_scale(scale, model, d)
    return Prior(shrinkage, mean, dof, scale)


def _check_scale(scale, model, d):
    scale = np.asarray(scale, dtype=float)
    if not _ellipsoidal(model):
        if scale.size != 1:
            raise ValueError(
                f"the prior scale of covariance model {model!r} is a scalar "
                f"(varsigma_P); got an array of shape {scale.shape}."
            )
        return float(scale.reshape(()))
    if scale.shape != (d, d):
        raise ValueError(
            f"the prior scale of covariance model {model!r} is a ({d}, {d}) "
            f"matrix (Lambda_P); got shape {scale.shape}."
        )
    return scale


class MapEstimate(NamedTuple):
    """A MAP M-step's parameters.

    Attributes
    ----------
    weights : ndarray of shape (n_components,)
        ``n_k / n``: the prior leaves the weights to maximum likelihood.
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray of shape (n_components, n_features, n_features)
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray


def _geometric_mean(values):
    """Along the last axis."""
    return np.exp(np.mean(np.log(values), axis=-1))


def map_m_step(
    mass,
    means,
    scatter,
    prior,
    model,
    *,
    routine="me",
    tol=np.sqrt(np.finfo(float).eps),
    max_iter=10_000,
    start=None,
):
    r"""mclust's MAP M-step with a conjugate prior (see the module's notation).

    Per model (``e = [kappa_P > 0]``; means ``mu_k`` unless said otherwise):

    - EII: ``sigma^2 = sum_k (tr W_k + c_k |delta_k|^2) / (nu_P + (n + G) d
      + 2)`` (``me``, Fortran ``meeiip``); ``mstep`` (``mseiip``) takes the
      scatter about ``mu_k``, ``tr W_k + n_k |xbar_k - mu_k|^2``, and
      ``+ e G d``. Neither adds ``varsigma_P`` (mclust leaves it out).
    - VII: ``sigma_k^2 = (varsigma_P + tr W_k + c_k |delta_k|^2) /
      (nu_P + n_k d + 2 + e d)`` (``meviip``, ``msviip``).
    - EEI: ``Sigma = diag(b) / (nu_P + n + 1 + e)`` with
      ``b_j = varsigma_P + sum_k (W_k[j, j] + c_k delta_kj^2)`` (``meeeip``;
      ``mstep``, ``mseeip``: ``nu_P + n + 2 + e G``). The means are **not**
      shrunk: ``xbar_k``.
    - VEI: ``Sigma_k = lambda_k diag(a)``, ``det diag(a) = 1``, alternating
      ``lambda_k = sum_j b_kj / a_j / (nu_P + n_k d + 2 + e)`` and
      ``a ∝ sum_k b_k / lambda_k`` from ``a = 1, lambda = 1`` until both
      change by at most ``tol`` (relative to ``1 + value``) (``meveip``,
      ``msveip``).
    - EVI: ``Sigma_k = lambda diag(b_k) / gm(b_k)`` (``gm`` the geometric
      mean), ``lambda = sum_k gm(b_k) / (nu_P + n + 1 + e)`` (``meevip``;
      ``mstep``, ``msevip``: ``nu_P + n + 2 + e G``).
    - VVI: ``Sigma_k = diag(b_k) / (nu_P + n_k + 2 + e)`` (``mevvip``,
      ``msvvip``).
    - EEE: ``Sigma = (Lambda_P + sum_k (W_k + c_k delta_k delta_k^T)) /
      (nu_P + n + d + 1 + e G)`` (``meeeep``, ``mseeep``).
    - EEV: ``B_k = O_k^T diag(omega_k) O_k`` (eigenvalues descending),
      ``Sigma_k = lambda O_k^T diag(a) O_k`` with ``a = sum_k omega_k /
      gm(sum_k omega_k)`` and ``lambda = gm(sum_k omega_k) / (nu_P + n + d +
      1 + e)`` (``meeevp``). ``mstep`` (``mseevp``) sets the shrinkage to
      zero: means ``xbar_k``, ``B_k = Lambda_P + W_k``, ``e = 0``.
    - VEV: ``B_k`` decomposed as for EEV, then alternating
      ``lambda_k = sum_j omega_kj / a_j / (n_k d)`` and
      ``a ∝ sum_k omega_k / lambda_k``, from ``a ∝ sum_k omega_k``,
      ``lambda_k = gm(sum_k omega_k) / n_k``; ``nu_P`` does not enter
      (``mevevp``, ``msvevp``).
    - VVV: ``Sigma_k = B_k / (nu_P + n_k + d + 2)`` (``mevvvp``; ``mstep``,
      ``msvvvp``: ``nu_P + n_k + d + 1 + e``).

    One component (``routine="mvn"``, what ``Mclust()`` and ``mclustBIC()``
    fit for ``G = 1``): spherical models ``sigma^2 = (varsigma_P + tr W + c
    |delta|^2) / (nu_P + n d + 2 + e d)`` (``mnxiip``); diagonal ``Sigma =
    diag(b) / (nu_P + n + 2 + e)`` (``mnxxip``); ellipsoidal ``Sigma = B /
    (nu_P + n + d + 1 + e)`` (``mnxxxp``); the means shrunk in all three.

    Parameters
    ----------
    mass : ndarray of shape (n_components,)
        ``n_k = sum_i z_ik``.
    means : ndarray of shape (n_components, n_features)
        ``xbar_k = sum_i z_ik x_i / n_k``.
    scatter : ndarray of shape (n_components, n_features, n_features)
        ``W_k = sum_i z_ik (x_i - xbar_k)(x_i - xbar_k)^T``.
    prior : Prior
        From :func:`default_prior`.
    model : str
        One of :data:`PRIOR_MODELS`; VEE, EVE, VVE and EVV raise a
        ``ValueError``, as mclust fits none of them with a prior.
    routine : {"me", "mstep", "mvn"}, default="me"
        Which of mclust's M-steps: that of its EM (``me()``, run by
        ``Mclust()``, ``mclustBIC()`` and, in mclust < 6.1, ``em()``); that
        of ``mstep()`` (also, from mclust 6.1's source, the final step of
        ``em()`` in mclust >= 6.1, and an extra step that ``Mclust()`` takes,
        keeping ``me()``'s log-likelihood, when the EM's weights and the
        column means of its responsibilities differ by more than
        ``sqrt(eps)`` in squares); or, for one component only, that of
        ``mvn()``, by which ``Mclust()`` fits ``G = 1``.
    tol, max_iter : float, int
        VEI and VEV: the alternating updates stop when the volumes and the
        shape change by at most ``tol`` (VEI) or less than ``tol`` (VEV)
        relative to ``1 + value`` (mclust's rules; its default is
        ``sqrt(eps)``, ``emControl()$tol[2]``), or after ``max_iter``
        iterations.
    start : ndarray of shape (n_components, n_features, n_features), optional
        VEI and VEV: covariances whose volumes and shape start the
        alternating updates, as mclust's EM starts each from the previous
        iteration's. None: mclust's first start (``mstep()``'s always).

    Returns
    -------
    estimate : MapEstimate
        The weights ``n_k / n``, the means and the covariances.
    """
    _check_model(model)
    if routine not in ROUTINES:
        raise ValueError(f"routine must be one of {ROUTINES}; got {routine!r}.")
    mass = np.asarray(mass, dtype=float)
    xbar = np.asarray(means, dtype=float)
    scatter = np.asarray(scatter, dtype=float)
    K, d = xbar.shape
    if mass.shape != (K,) or scatter.shape != (K, d, d):
        raise ValueError(
            "mass, means and scatter must have shapes (K,), (K, d) and (K, d, d)."
        )
    if routine == "mvn" and K != 1:
        raise ValueError(f"routine='mvn' fits one component; got {K}.")
    kappa, mu_p, nu = prior.shrinkage, np.asarray(prior.mean, dtype=float), prior.dof
    scale = _check_scale(prior.scale, model, d)
    if kappa < 0:  # as mclust's Fortran
        kappa = 0.0
    if model == "EEV" and routine == "mstep":
        # mclust's mseevp zeroes any positive shrinkage ("if (pshrnk .gt.
        # zero) pshrnk = zero").
        kappa = 0.0
    e = 1.0 if kappa > 0 else 0.0
    n = mass.sum()
    weights = mass / n
    delta = xbar - mu_p  # (K, d)
    c = mass * kappa / (mass + kappa)  # (K,)
    shrunk = (mass[:, None] * xbar + kappa * mu_p) / (mass + kappa)[:, None]
    diagonals = np.einsum("kjj->kj", scatter)
    if not _ellipsoidal(model):
        b = scale + diagonals + c[:, None] * delta**2  # (K, d)

    if routine == "mvn":
        if model[1] == "I":
            # One varsigma_P, not one per feature.
            variance = (b[0].sum() - (d - 1) * scale) / (nu + n * d + 2 + e * d)
            covariances = variance * np.eye(d)[None]
        elif model[2] == "I":
            covariances = np.diag(b[0] / (nu + n + 2 + e))[None]
        else:
            B = _posterior_scatter(scale, scatter, c, delta)
            covariances = B / (nu + n + d + 1 + e)
        return MapEstimate(weights, shrunk, covariances)

    means_out = shrunk
    if model == "EII":
        trace = diagonals.sum(axis=1) + c * np.sum(delta**2, axis=1)
        if routine == "mstep":
            trace = trace + mass * np.sum((xbar - shrunk) ** 2, axis=1)
            denominator = nu + n * d + 2 + e * K * d
        else:
            denominator = nu + (n + K) * d + 2
        covariances = np.broadcast_to(
            trace.sum() / denominator * np.eye(d), (K, d, d)
        ).copy()
    elif model == "VII":
        variances = b.sum(axis=1) - (d - 1) * scale  # one varsigma_P
        variances = variances / (nu + mass * d + 2 + e * d)
        covariances = variances[:, None, None] * np.eye(d)
    elif model == "EEI":
        means_out = xbar  # mclust does not shrink EEI's means
        common = scale + (b - scale).sum(axis=0)  # one varsigma_P
        if routine == "mstep":
            denominator = nu + n + 2 + e * K
        else:
            denominator = nu + n + 1 + e
        covariances = np.broadcast_to(np.diag(common / denominator), (K, d, d)).copy()
    elif model == "VVI":
        covariances = np.stack([np.diag(v) for v in b / (nu + mass + 2 + e)[:, None]])
    elif model == "EVI":
        roots = _geometric_mean(b)
        if routine == "mstep":
            volume = roots.sum() / (nu + n + 2 + e * K)
        else:
            volume = roots.sum() / (nu + n + 1 + e)
        covariances = np.stack([np.diag(v) for v in volume * b / roots[:, None]])
    elif model == "VEI":
        volumes, shape = _alternate(
            b,
            1.0 / (nu + mass * d + 2 + e),
            np.ones(K),
            np.ones(d),
            tol,
            max_iter,
            strict=True,
            start=None if start is None else np.einsum("kjj->kj", start),
        )
        covariances = np.stack([np.diag(v * shape) for v in volumes])
    elif model == "EEE":
        B = _posterior_scatter(scale, scatter, c, delta).sum(axis=0)
        B = B + (1 - K) * scale  # one Lambda_P
        covariances = np.broadcast_to(B / (nu + n + d + 1 + e * K), (K, d, d)).copy()
    elif model == "VVV":
        B = _posterior_scatter(scale, scatter, c, delta)
        extra = 1 + e if routine == "mstep" else 2.0
        covariances = B / (nu + mass + d + extra)[:, None, None]
    elif model in ("EEV", "VEV"):
        if model == "EEV" and routine == "mstep":
            means_out = xbar
        B = _posterior_scatter(scale, scatter, c, delta)
        values, vectors = np.linalg.eigh(B)
        values, vectors = values[:, ::-1], vectors[:, :, ::-1]  # descending
        if model == "EEV":
            total = values.sum(axis=0)
            root = _geometric_mean(total)
            volumes = np.full(K, root / (nu + n + d + 1 + e))
            shape = total / root
        else:
            total = values.sum(axis=0)
            root = _geometric_mean(total)
            volumes, shape = _alternate(
                values,
                1.0 / (mass * d),
                root / mass,
                total / root,
                tol,
                max_iter,
                strict=False,
                start=None if start is None else np.linalg.eigvalsh(start)[:, ::-1],
            )
        covariances = np.stack(
            [v * (vec * shape) @ vec.T for v, vec in zip(volumes, vectors, strict=True)]
        )
    return MapEstimate(weights, np.array(means_out), covariances)


def _posterior_scatter(scale, scatter, c, delta):
    """``B_k = Lambda_P + W_k + c_k delta_k delta_k^T``."""
    return scale + scatter + c[:, None, None] * np.einsum("ki,kj->kij", delta, delta)


def _alternate(values, factor, volumes, shape, tol, max_iter, strict, start):
    """mclust's alternating updates of VEI (``strict``) and VEV.

    ``lambda_k = factor_k sum_j values_kj / a_j``, then ``a_j = sum_k
    values_kj / lambda_k`` scaled to a unit product, until the largest change
    ``|old - new| / (1 + new)`` of the volumes and the shape is at most
    ``tol`` (VEI: ``msveip``'s ``err > tol`` continues; VEV: ``msvevp``'s
    ``err >= tol``).
    """
    if start is not None:
        # Each start's volume (geometric mean) and the first one's shape.
        volumes = _geometric_mean(start)
        shape = start[0] / volumes[0]
    for _ in range(max_iter):
        previous_volumes, previous_shape = volumes, shape
        volumes = factor * np.sum(values / shape, axis=1)
        shape = np.sum(values / volumes[:, None], axis=0)
        shape = shape / _geometric_mean(shape)
        change = max(
            np.max(np.abs(previous_volumes - volumes) / (1 + volumes)),
            np.max(np.abs(previous_shape - shape) / (1 + shape)),
        )
        if change < tol or (strict and change == tol):
            break
    return volumes, shape


def bic_with_prior(log_likelihood, model, n_components, n_samples, n_features):
    """The BIC that mclust reports for a fit with a prior: exactly its BIC
    without one, ``2 log L - p log n`` (larger is better).

    mclust's EM with a prior (``me()``, hence ``mclustBIC()`` and
    ``Mclust()``) returns as ``loglik`` the plain mixture log-likelihood
    ``sum_i log sum_k pi_k N(x_i; mu_k, Sigma_k)`` at the last M-step's MAP
    parameters (computed by the E-step that follows it), with no log-prior
    term; its Fortran computes the log prior density and the R code drops it.
    ``bic()`` then counts the free parameters ``p`` of the model as without
    a prior (``nMclustParams``: weights, means, covariances); the prior's
    hyperparameters are not counted. Its EM stops on the relative change of
    this log-likelihood, not of the log posterior.

    Parameters
    ----------
    log_likelihood : float
        The log-likelihood at the MAP parameters.
    model : str
        One of :data:`PRIOR_MODELS`.
    n_components, n_samples, n_features : int

    Returns
    -------
    bic : float
    """
    _check_model(model)
    count = n_model_parameters(model, n_components, n_features)
    return 2.0 * log_likelihood - count * math.log(n_samples)
