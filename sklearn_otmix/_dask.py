r"""Fitting on Dask arrays: every pass over the data is a Dask computation.

The samples' side of the transport problem only enters the fit through sums over
samples: the sufficient statistics of the M-step, and, for the balanced and
unbalanced E-steps, the column marginal ``P^T 1`` (and a ``K x K`` Gram matrix
for Newton's method) at given potentials of the components. Each of these is a
sum over the chunks of rows of ``X``, computed where the chunk lives and added
up in a tree; only ``K``-sized quantities (potentials, marginals, parameters)
travel to the client, which runs the iterations:

- ``reg_m = 0``: one pass per EM iteration. Each chunk solves its rows' plans
  (the problem separates over samples) and returns its statistics.
- ``reg_m = inf`` and ``0 < reg_m < inf``: the costs of the current parameters
  are persisted chunk by chunk; each Newton or Sinkhorn iteration of the
  E-step is one pass over them; a last pass returns the statistics.

For ``full`` covariances the second moments are taken about the current means
rather than the new ones, so that a single pass serves the M-step.

The initialisation runs in memory on a uniform sample of at most
``INIT_SAMPLE_SIZE`` rows, drawn with ``random_state``; with fewer rows than
that, the sample is the data, and the fit is the in-memory fit.
"""

import math
from functools import partial

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp, xlogy
from sklearn.utils import check_random_state

from ._gaussian import gaussian_cost, sufficient_statistics
from ._transport import (
    DualPoint,
    TransportResult,
    _semi_dual,
    _weighted_gram,
    balanced_point,
    column_sweep,
    newton,
    newton_continuation,
    objective,
    semi_relaxed_in_blocks,
)

INIT_SAMPLE_SIZE = 100_000

# Number of partial sums added by one task of the reduction tree.
_FAN_IN = 8


def is_dask_array(X):
    """Whether ``X`` comes from Dask (checked without importing Dask)."""
    return type(X).__module__.partition(".")[0] == "dask"


def _import_dask():
    try:
        import dask
        import dask.array as da
        import distributed  # noqa: F401  (the cluster side the fit runs on)
    except ImportError as error:
        raise ImportError(
            "OTGaussianMixture was given a Dask array, but Dask's array and "
            f"distributed modules are not available ({error}). Install them with "
            "`pip install 'sklearn-otmix[dask]'`."
        ) from error
    return dask, da


# --------------------------------------------------------------------------------
# Input


def check_array(estimator, X, *, reset):
    """A 2D floating Dask array with one chunk of columns and known chunk sizes."""
    _, da = _import_dask()
    if not isinstance(X, da.Array):
        raise TypeError(
            f"OTGaussianMixture takes Dask arrays (dask.array.Array), got "
            f"{type(X).__name__}: convert a Dask DataFrame with "
            "`.to_dask_array(lengths=True)`."
        )
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2D Dask array of shape (n_samples, n_features), got "
            f"shape {X.shape}: reshape it, for one feature with X.reshape(-1, 1)."
        )
    if X.dtype.kind not in "biuf":
        raise TypeError(
            f"Expected a Dask array of numbers, got dtype {X.dtype}: convert it "
            "to float64 or float32."
        )
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if any(math.isnan(size) for size in X.chunks[0]):
        X = X.compute_chunk_sizes()
    n_features = X.shape[1]
    if reset:
        estimator.n_features_in_ = n_features
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    elif n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {n_features} features, but OTGaussianMixture is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    return X.rechunk({1: -1})


def _checked_sample_weight(sample_weight, X):
    """Sample weights as a Dask array chunked like the rows of ``X``, validated
    in one pass together with the finiteness of ``X``.

    Returns
    -------
    sample_weight : dask.array.Array or None
        None when every sample has weight one; the indicator of positive
        weights when those are all equal (as in memory, uniform weights are no
        weights at all).
    total : float
        ``sum(w)``.
    uniform : bool
        Whether the positive weights are all equal.
    """
    dask, da = _import_dask()
    checks = {"finite": da.isfinite(X).all()}
    if sample_weight is not None:
        if is_dask_array(sample_weight):
            sample_weight = sample_weight.astype(X.dtype)
        else:
            sample_weight = np.asarray(sample_weight, dtype=X.dtype)
        if sample_weight.shape != (X.shape[0],):
            raise ValueError(
                f"sample_weight should have shape ({X.shape[0]},) to match X, "
                f"but got {sample_weight.shape}."
            )
        sample_weight = da.asarray(sample_weight).rechunk((X.chunks[0],))
        checks.update(
            weights_finite=da.isfinite(sample_weight).all(),
            smallest=sample_weight.min(),
            largest=sample_weight.max(),
            smallest_positive=da.where(sample_weight > 0, sample_weight, np.inf).min(),
            total=sample_weight.sum(dtype=np.float64),
        )
    (checks,) = dask.compute(checks)
    if not checks["finite"]:
        raise ValueError(
            "Input X contains NaN or infinity: remove or impute those values "
            "first (for example with sklearn.impute.SimpleImputer)."
        )
    if sample_weight is None:
        return None, float(X.shape[0]), True
    if not checks["weights_finite"]:
        raise ValueError("sample_weight contains NaN or infinity.")
    if checks["smallest"] < 0:
        raise ValueError("sample_weight should be non-negative; got negative values.")
    if not checks["largest"] > 0:
        raise ValueError(
            "sample_weight sums to zero: at least one sample needs a positive weight."
        )
    if checks["smallest_positive"] == checks["largest"]:
        if checks["smallest"] > 0:
            return None, float(X.shape[0]), True
        kept = (sample_weight > 0).astype(X.dtype)
        return kept, float(kept.sum(dtype=np.float64).compute()), True
    return sample_weight, float(checks["total"]), False


def _kept_rows(x, w):
    """The rows of a chunk that carry mass, and their masses (ones if ``w`` is
    None): a zero weight removes its row, as in memory."""
    if w is None:
        return x, np.ones(x.shape[0], dtype=x.dtype)
    kept = w > 0
    if np.all(kept):
        return x, w
    return x[kept], w[kept]


def _distinct_rows(n_samples, size, random_state):
    """``size`` distinct rows out of ``n_samples``, uniformly, sorted.

    Without an ``n_samples``-long permutation: the distinct values of uniform
    draws form a uniform subset given their number, and a uniform subset of
    that is one of the whole.
    """
    rows = np.empty(0, dtype=np.intp)
    while rows.size < size:
        rows = np.union1d(rows, random_state.randint(n_samples, size=size))
    return np.sort(random_state.choice(rows, size, replace=False))


def _initial_sample(X, sample_weight, uniform, random_state):
    """In-memory rows on which to initialise: all of them if there are at most
    ``INIT_SAMPLE_SIZE``, else a uniform sample of that many, in their order."""
    dask, _ = _import_dask()
    n_samples = X.shape[0]
    if n_samples > INIT_SAMPLE_SIZE:
        rows = _distinct_rows(n_samples, INIT_SAMPLE_SIZE, random_state)
        X = X[rows]
        sample_weight = None if sample_weight is None else sample_weight[rows]
    x, w = dask.compute(X, sample_weight)
    x, w = _kept_rows(x, w)
    return x, w, None if uniform else w


# --------------------------------------------------------------------------------
# Passes over the chunks


def _add(*parts):
    """Sum of partial results: numbers, arrays, or (named) tuples of them."""
    first = parts[0]
    if isinstance(first, tuple):
        sums = [_add(*items) for items in zip(*parts, strict=True)]
        return type(first)(*sums) if hasattr(first, "_fields") else tuple(sums)
    total = first
    for part in parts[1:]:
        total = total + part
    return total


def _reduce(parts):
    """Add delayed partial results in a tree and compute the sum."""
    dask, _ = _import_dask()
    while len(parts) > 1:
        parts = [
            dask.delayed(_add)(*parts[start : start + _FAN_IN])
            for start in range(0, len(parts), _FAN_IN)
        ]
    (total,) = dask.compute(parts[0])
    return total


def _semi_relaxed_chunk(x, w, mixture, centres, reg, covariance_type):
    """``reg_m = 0``: the chunk's plan, then its ``F`` (times its mass) and its
    statistics."""
    x, w = _kept_rows(x, w)
    cost = partial(
        gaussian_cost,
        means=mixture.means,
        precisions_chol=mixture.precisions_chol,
        covariance_type=covariance_type,
    )
    if x.shape[0] == 0:
        plan, value = np.zeros((0, len(mixture.weights)), dtype=x.dtype), 0.0
    else:
        transport = semi_relaxed_in_blocks(cost, x, w, mixture.weights, reg)
        plan, value = transport.plan, transport.value * float(np.sum(w))
    return value, sufficient_statistics(x, plan, w, centres, covariance_type)


def _shifted_cost_chunk(x, w, mixture, covariance_type):
    """The chunk's costs minus their row minima (float64), the minima, and the
    masses of its rows: what the E-step's passes need, persisted."""
    x, w = _kept_rows(x, w)
    cost = gaussian_cost(x, mixture.means, mixture.precisions_chol, covariance_type)
    shifted = cost.astype(np.float64)
    shift = np.min(shifted, axis=1)
    shifted -= shift[:, np.newaxis]
    return shifted, shift, w


def _dual_chunk(chunk, total, potentials, reg, with_gram):
    """The chunk's share of the semi-dual at ``potentials``: its term of
    :math:`\\phi`, its column sums and (Newton) its Gram matrix."""
    shifted, _, w = chunk
    a = w.astype(np.float64) / total
    plan, value = _semi_dual(shifted, a, np.zeros_like(potentials), potentials, reg)
    gram = _weighted_gram(plan, 1.0 / a) if with_gram else 0.0
    return value, np.sum(plan, axis=0), gram


def _plan_statistics_chunk(x, w, chunk, total, potentials, reg, reference, spec):
    """The chunk's plan at the final potentials: its ``F`` (times the total
    mass, without the column term) and its statistics."""
    centres, covariance_type = spec
    shifted, shift, mass = chunk
    x, _ = _kept_rows(x, w)
    a = mass.astype(np.float64) / total
    plan, _ = _semi_dual(shifted, a, np.zeros_like(potentials), potentials, reg)
    plan = total * plan.astype(x.dtype)
    cost = shifted + shift[:, np.newaxis]
    value = 0.0
    if x.shape[0]:
        value = objective(cost, plan, mass, reference, reg, 0.0, None)
        value *= float(np.sum(mass))
    return value, sufficient_statistics(x, plan, mass, centres, covariance_type)


class DaskStep:
    """One iteration of the fit on a Dask array: ``step(mixture, warm)`` as the
    estimator's fit loop calls it (see ``OTGaussianMixture._fit_runs``)."""

    def __init__(self, estimator, X, sample_weight, total, target_weights):
        self.estimator = estimator
        self.blocks = list(X.to_delayed().ravel())
        self.masses = (
            [None] * len(self.blocks)
            if sample_weight is None
            else list(sample_weight.to_delayed().ravel())
        )
        self.total = total
        self.target_weights = target_weights

    def __call__(self, mixture, warm):
        dask, _ = _import_dask()
        estimator = self.estimator
        covariance_type = estimator.covariance_type
        centres = mixture.means
        if covariance_type != "full":
            centres = np.zeros_like(mixture.means)
        if estimator.reg_m == 0.0:
            chunk = partial(
                _semi_relaxed_chunk,
                mixture=mixture,
                centres=centres,
                reg=estimator.reg,
                covariance_type=covariance_type,
            )
            value, statistics = _reduce(
                [dask.delayed(chunk)(*pair) for pair in self._pairs()]
            )
            transport = TransportResult(None, value / self.total, True)
        else:
            transport, statistics = self._transport_step(mixture, centres, warm)
        mixture = estimator._mixture_from_statistics(
            statistics, centres, self.target_weights
        )
        return mixture, transport

    def _pairs(self):
        return zip(self.blocks, self.masses, strict=True)

    def _transport_step(self, mixture, centres, warm):
        dask, _ = _import_dask()
        estimator = self.estimator
        reg = estimator.reg
        chunks = dask.persist(
            *[
                dask.delayed(_shifted_cost_chunk)(
                    x, w, mixture, estimator.covariance_type
                )
                for x, w in self._pairs()
            ]
        )
        t = self.target_weights.astype(np.float64)
        t /= np.sum(t)  # to one in float64, as in memory
        if estimator.reg_m == math.inf:
            potentials, converged = self._balanced(chunks, t, warm)
            reference, logit_potentials = t, potentials
        else:
            log_weights = np.log(mixture.weights.astype(np.float64))
            potentials, converged = self._unbalanced(chunks, t, log_weights, warm)
            # Logits (g_k + reg log pi_k - C_ik) / reg: the reference pi in the
            # potentials.
            reference = mixture.weights
            logit_potentials = potentials + reg * log_weights
        chunk = partial(
            _plan_statistics_chunk,
            total=self.total,
            potentials=logit_potentials,
            reg=reg,
            reference=reference,
            spec=(centres, estimator.covariance_type),
        )
        value, statistics = _reduce(
            [
                dask.delayed(chunk)(x, w, persisted)
                for (x, w), persisted in zip(self._pairs(), chunks, strict=True)
            ]
        )
        value /= self.total
        if estimator.reg_m != math.inf:
            column = statistics.mass / self.total
            value += estimator.reg_m * float(
                np.sum(xlogy(column, column / self.target_weights))
            )
        return TransportResult(None, value, converged, potentials), statistics

    def _sums(self, chunks, potentials, reg, with_gram):
        """One pass: the chunks' sums of :func:`_dual_chunk`."""
        dask, _ = _import_dask()
        chunk = partial(
            _dual_chunk,
            total=self.total,
            potentials=potentials,
            reg=reg,
            with_gram=with_gram,
        )
        return _reduce([dask.delayed(chunk)(c) for c in chunks])

    def _balanced(self, chunks, t, warm):
        """``reg_m = inf``: as in memory (``_transport._balanced_plan``), L-BFGS-B
        on the semi-dual for the first E-step, else one Sinkhorn sweep from the
        previous potentials; then Newton's method."""
        estimator = self.estimator
        reg, tol = estimator.reg, estimator.sinkhorn_tol
        max_iter = estimator.sinkhorn_max_iter

        def evaluate(potentials, reg):
            value, column, gram = self._sums(chunks, potentials, reg, True)
            return balanced_point(t @ potentials + value, column, lambda: gram, t, reg)

        if warm is None:

            def negated(potentials):
                value, column, _ = self._sums(chunks, potentials, reg, False)
                return -(t @ potentials + value), column - t

            potentials = minimize(
                negated,
                np.zeros_like(t),
                method="L-BFGS-B",
                jac=True,
                tol=math.sqrt(tol),
                options={"maxiter": max_iter},
            ).x
        else:
            _, column, _ = self._sums(chunks, warm, reg, False)
            potentials = column_sweep(warm, _positive(column), t, reg)
        _, potentials, residual = newton(evaluate, reg, potentials, tol, max_iter)
        if residual > tol:
            _, potentials, residual = newton_continuation(
                evaluate, reg, self._spread(chunks), len(t), tol, max_iter
            )
        return potentials, bool(residual <= tol)

    def _unbalanced(self, chunks, t, log_weights, warm):
        r"""``0 < reg_m < inf``: Newton's method on the dual in the components'
        potentials ``g``,

        .. math::

            \psi(g) = -\varepsilon \sum_i a_i \log \sum_k \pi_k
                e^{(g_k - C_{ik}) / \varepsilon}
                + \rho \sum_k t_k (1 - e^{-g_k / \rho}),

        strictly concave, with gradient ``t exp(-g / rho) - P^T 1``: at its root
        the column marginal is ``t exp(-g / rho)``, Sinkhorn's fixed point (in
        memory POT's Sinkhorn iterations find it; over chunks each iteration is
        a pass, and Newton's method takes a handful of passes where Sinkhorn's
        takes tens). It starts from the previous E-step's potentials."""
        estimator = self.estimator
        reg, reg_m = estimator.reg, estimator.reg_m

        def evaluate(potentials, reg):
            logits = potentials + reg * log_weights
            value, column, gram = self._sums(chunks, logits, reg, True)
            target = t * np.exp(-potentials / reg_m)

            def curvature():
                return (np.diag(column) - gram) / reg + np.diag(target / reg_m)

            value += reg_m * np.sum(t - target)
            return DualPoint(value, target - column, curvature)

        potentials = np.zeros_like(t) if warm is None else warm
        _, potentials, residual = newton(
            evaluate,
            reg,
            potentials,
            estimator.sinkhorn_tol,
            estimator.sinkhorn_max_iter,
            shift_invariant=False,
        )
        return potentials, bool(residual <= estimator.sinkhorn_tol)

    @staticmethod
    def _spread(chunks):
        dask, _ = _import_dask()
        largest = [dask.delayed(np.max)(chunk[0], initial=0.0) for chunk in chunks]
        return max(dask.compute(*largest))


def _positive(column):
    return np.maximum(column, np.finfo(column.dtype).tiny)


# --------------------------------------------------------------------------------
# The estimator's entry points


def fit(estimator, X, sample_weight):
    """Fit ``estimator`` on the Dask array ``X``; returns lazy labels."""
    X = check_array(estimator, X, reset=True)
    n_samples = X.shape[0]
    if n_samples < max(2, estimator.n_components):
        raise ValueError(
            f"Expected n_samples >= max(2, n_components) but got n_components = "
            f"{estimator.n_components}, n_samples = {n_samples}: use fewer "
            "components or more samples."
        )
    sample_weight, total, uniform = _checked_sample_weight(sample_weight, X)
    init = estimator._checked_initial_parameters(X.shape[1], X.dtype)
    random_state = check_random_state(estimator.random_state)
    if all(init[name] is not None for name in ("weights", "means", "precisions")):
        # Explicit initial parameters: the initialisation needs no data.
        x = mass = weights = None
    else:
        x, mass, weights = _initial_sample(X, sample_weight, uniform, random_state)
    if x is not None and x.shape[0] < estimator.n_components:
        raise ValueError(
            f"Only {x.shape[0]} samples of the initialisation sample have a "
            f"positive sample_weight, fewer than n_components = "
            f"{estimator.n_components}."
        )
    estimator._fit_runs(
        partial(estimator._initialize, x, mass, weights, init),
        DaskStep(estimator, X, sample_weight, total, init["target"]),
        random_state,
    )
    return density(estimator, X, "labels")


def _density_chunk(x, mixture, covariance_type, output):
    log_prob = mixture.weighted_log_prob(x, covariance_type)
    if output == "labels":
        return np.argmax(log_prob, axis=1)
    log_density = logsumexp(log_prob, axis=1, keepdims=True)
    if output == "proba":
        return np.exp(log_prob - log_density)
    return log_density[:, 0]


def density(estimator, X, output):
    """Lazy ``output`` of the fitted mixture on the checked Dask array ``X``:
    ``'labels'``, ``'proba'`` or ``'log_density'``, chunked like its rows."""
    chunk = partial(
        _density_chunk,
        mixture=estimator._fitted_mixture(),
        covariance_type=estimator.covariance_type,
        output=output,
    )
    if output == "proba":
        return X.map_blocks(
            chunk,
            dtype=X.dtype,
            chunks=(X.chunks[0], (estimator.n_components,)),
        )
    dtype = np.intp if output == "labels" else X.dtype
    return X.map_blocks(chunk, dtype=dtype, drop_axis=1)


def mean(log_density, sample_weight):
    """(Weighted) mean of a Dask array, computed."""
    _, da = _import_dask()
    if sample_weight is None:
        return float(log_density.mean().compute())
    if np.shape(sample_weight) != log_density.shape:
        raise ValueError(
            f"sample_weight should have shape {log_density.shape} to match X, "
            f"but got {np.shape(sample_weight)}."
        )
    sample_weight = da.asarray(sample_weight).rechunk((log_density.chunks[0],))
    return float(((log_density * sample_weight).sum() / sample_weight.sum()).compute())
