"""Property-based tests (hypothesis) of :class:`OTGaussianMixture`.

Random data (``n`` from ``n_components`` to a few hundred rows, 1 to 6
features, column scales from 1e-6 to 1e6, duplicated rows, constant columns,
sample weights with zeros and a 1e12 dynamic range) and random parameters
(scikit-learn's four covariance types and some of mclust's models, ``reg`` in
[1e-3, 10], ``reg_m`` 0, finite or infinite, 1 to 6 components), checked against
invariants that hold whatever the data:

(a) a fit succeeds with finite fitted attributes, or raises a ``ValueError``
    with a message (no other exception, no ``RuntimeWarning``);
(b) the E-step's plan has rows summing to the sample masses;
(c) ``lower_bounds_`` (``-F`` after each E-step) never decreases;
(d) ``predict_proba`` has rows summing to one;
(e) a permutation of the rows (and of ``sample_weight``) gives the same model
    from the same explicit initial parameters;
(f) ``covariance_type='full'`` is affine equivariant;
(g) float32 and float64 fits from the same start agree to float32 precision.

The number of examples comes from the hypothesis profile loaded in
``conftest.py``: ``ci`` by default, ``HYPOTHESIS_PROFILE=long`` for a longer
manual run.
"""

import math
import warnings

import numpy as np
import pytest
from conftest import assert_close_to_scale
from hypothesis import assume, event, given, note
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose

from sklearn_otmix import OTGaussianMixture
from sklearn_otmix._backend import to_numpy
from sklearn_otmix._data import samples_of
from helpers import plan_of

SKLEARN_TYPES = ["full", "tied", "diag", "spherical"]
MCLUST_TYPES = ["EII", "VEI", "EVE", "VVE"]
COVARIANCE_TYPES = SKLEARN_TYPES + MCLUST_TYPES
FITTED = (
    "weights_",
    "means_",
    "covariances_",
    "precisions_",
    "precisions_cholesky_",
)


# --------------------------------------------------------------------------------
# Strategies


def log_uniform(low, high):
    """Floats whose base-10 logarithm is uniform in [log10 low, log10 high]."""
    return st.floats(math.log10(low), math.log10(high)).map(lambda e: 10.0**e)


@st.composite
def sample_weights(draw, n):
    """None, or weights with some zeros and a dynamic range up to 1e12."""
    kind = draw(st.sampled_from(["none", "positive", "with zeros"]))
    if kind == "none":
        return None
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    decades = draw(st.sampled_from([0.0, 3.0, 12.0]))
    weights = 10.0 ** (decades * rng.random(n))
    weights[rng.permutation(n)[:2]] = [1.0, 10.0**decades][: min(n, 2)]
    if kind == "with zeros":
        zeros = rng.random(n) < draw(st.sampled_from([0.1, 0.3, 0.6]))
        weights[zeros] = 0.0
    return weights


@st.composite
def raw_data(draw, n_components, *, max_samples=300, dtypes=(np.float64,)):
    """Clustered data with per-column scales in [1e-6, 1e6], duplicated rows and
    constant columns."""
    n_features = draw(st.integers(1, 6))
    n_samples = draw(st.integers(n_components, max_samples))
    n_clusters = draw(st.integers(1, 6))
    log_scales = draw(hnp.arrays(np.float64, n_features, elements=st.floats(-6.0, 6.0)))
    n_constant = min(n_features, draw(st.sampled_from([0, 0, 0, 1, 2])))
    duplicated = draw(st.sampled_from([0.0, 0.0, 0.2, 0.9]))
    dtype = draw(st.sampled_from(dtypes))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    centres = rng.normal(scale=4.0, size=(n_clusters, n_features))
    X = centres[rng.integers(n_clusters, size=n_samples)]
    X += rng.normal(size=X.shape)
    copies = rng.random(n_samples) < duplicated
    X[copies] = X[rng.integers(n_samples, size=int(copies.sum()))]
    constant = rng.permutation(n_features)[:n_constant]
    X[:, constant] = rng.normal(size=n_constant)
    X *= 10.0**log_scales
    return X.astype(dtype)


@st.composite
def random_fits(draw, *, dtypes=(np.float64, np.float64, np.float32)):
    """(X, sample_weight, estimator) with random data and parameters."""
    n_components = draw(st.integers(1, 6))
    X = draw(raw_data(n_components, dtypes=dtypes))
    weights = draw(sample_weights(len(X)))
    model = OTGaussianMixture(
        n_components,
        covariance_type=draw(st.sampled_from(COVARIANCE_TYPES)),
        reg=draw(log_uniform(1e-3, 10.0)),
        reg_m=draw(st.sampled_from([0.0, math.inf]) | log_uniform(1e-2, 1e2)),
        tol=draw(st.sampled_from([1e-3, 0.0])),
        max_iter=draw(st.integers(1, 25)),
        random_state=0,
    )
    return X, weights, model


# --------------------------------------------------------------------------------
# Helpers


def fit_or_error(model, X, sample_weight=None, messages=None):
    """Fit ``model``; the ValueError if it raises one (with a message, not a
    LinAlgError), None if it fits. RuntimeWarnings are errors (as in the
    project's pytest configuration); other warnings are allowed, and their
    messages appended to ``messages`` when given. Any other exception
    propagates and fails the test."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("error", RuntimeWarning)
        try:
            model.fit(X, sample_weight=sample_weight)
        except ValueError as error:
            if type(error) is not ValueError:
                raise AssertionError(
                    f"fit raised {type(error).__name__}, not a plain ValueError: "
                    f"{error}"
                ) from error
            assert str(error), "a ValueError without a message"
            event(f"fit raised ValueError: {str(error)[:50]}")
            return error
    if messages is not None:
        messages.extend(str(warning.message) for warning in caught)
    event("fit succeeded")
    return None


def fitted_or_reject(model, X, sample_weight=None, messages=None):
    """Fit ``model``; reject the example where the fit raises a ValueError (a
    valid outcome, (a), about which the other properties say nothing)."""
    error = fit_or_error(model, X, sample_weight, messages)
    assume(error is None)
    return model


def relative_tolerance(dtype):
    return 1e-5 if np.dtype(dtype) == np.float32 else 1e-12


# --------------------------------------------------------------------------------
# (a) - (d): random fits


@given(random_fits())
def test_fit_succeeds_with_finite_attributes_or_raises_a_value_error(case):
    """(a) A fit either succeeds with every fitted attribute finite, or raises a
    plain ``ValueError`` with a message (the package's documented errors):
    never a LinAlgError, FloatingPointError, RuntimeWarning (turned error) or
    any other exception. Warnings (ConvergenceWarning) are allowed."""
    X, sample_weight, model = case
    if fit_or_error(model, X, sample_weight) is not None:
        return
    for name in FITTED:
        value = getattr(model, name)
        assert np.all(np.isfinite(value)), name
    assert np.isfinite(model.lower_bound_)
    assert len(model.lower_bounds_) >= 1
    assert np.all(np.isfinite(model.lower_bounds_))


@given(random_fits())
def test_plan_rows_sum_to_the_sample_masses(case):
    """(b) The E-step's plan at the fitted mixture (``plan_of``, the whole plan
    the fit forms block by block) is finite, non-negative, and its rows sum to
    the sample masses: the rows of positive weight, in the unit of the data
    layer's ``sample_mass``, proportional to ``sample_weight`` (to 1e-12
    relative in float64, 1e-5 in float32)."""
    X, sample_weight, model = case
    fitted_or_reject(model, X, sample_weight)
    samples = samples_of(
        model, X, sample_weight, reset=False, n_components=model.n_components
    )
    problem, _ = model._problem(samples.like)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", RuntimeWarning)
        plan = np.asarray(
            to_numpy(plan_of(samples, model._mixture(), problem)), dtype=np.float64
        )
    rtol = relative_tolerance(X.dtype)
    kept = np.ones(len(X), bool) if sample_weight is None else sample_weight > 0
    assert plan.shape == (int(kept.sum()), model.n_components)
    assert np.all(np.isfinite(plan)) and np.all(plan >= 0)
    rows = plan.sum(axis=1)
    mass = np.asarray(to_numpy(samples.sample_mass), dtype=np.float64)
    assert_allclose(rows, mass, rtol=rtol)
    masses = np.ones(len(X)) if sample_weight is None else sample_weight
    a = masses[kept] / masses[kept].sum()
    assert_allclose(rows / rows.sum(), a, rtol=rtol)


def condition(model):
    """The largest condition number of the fitted covariances with
    off-diagonal entries (1 for diagonal ones, mclust's ``??I`` models
    included; infinite where one is not positive definite as stored, in
    float32 say)."""
    covariances = np.asarray(model.covariances_, dtype=np.float64)
    name = model.covariance_type
    if name in ("diag", "spherical") or (name in MCLUST_TYPES and name[2] == "I"):
        return 1.0
    eigenvalues = np.linalg.eigvalsh(
        covariances.reshape((-1,) + covariances.shape[-2:])
    )
    if np.any(eigenvalues[:, 0] <= 0):
        return math.inf  # singular at the data's precision: F is not known
    return float(np.max(eigenvalues[:, -1] / eigenvalues[:, 0]))


@given(st.data())
def test_lower_bounds_never_decrease(data):
    """(c) ``lower_bounds_`` (``-F`` after each E-step) never decreases: the
    fit is block-coordinate descent on ``F``, each E-step and M-step
    minimising it in its block (user guide, "EM is block-coordinate descent").

    Where ``F`` is a number the descent can be held to: separated clusters
    of at least 10 (d + 1) rows each (:func:`clustered`), explicit initial
    parameters, every covariance type, ``reg`` in [1e-3, 10], free or fixed
    weights, fixed or penalised (every ``reg_m``), ``reg_covar=0`` (the ridge
    is added after the M-step's minimisation: the user guide excepts it). On
    degenerate data, a component on one point has no covariance and ``F`` is
    unbounded: property (a) covers those fits. Every E-step's plan is
    certified to ``sinkhorn_tol``: the fits whose solver warns that it missed
    are left out, and that warning must agree with ``transport_residuals_``.

    Allowed decrease from one E-step to the next, the sum of:

    - ``1e-9 * max(1, |F|)``, the round-off of the parameters and of the sums
      that give ``F``;
    - for covariances with off-diagonal entries, ``10 d eps cond``, ``cond``
      the largest condition number of the fitted covariances: ``F`` through
      ``log det Sigma`` and ``Sigma^{-1}`` is known to about ``d eps cond``.
    """
    X, parameters = data.draw(initialised_fits(clustered, reg_covar=0.0))
    model = OTGaussianMixture(**parameters)
    messages = []
    assume(fit_or_error(model, X, None, messages) is None)
    missed = any("sinkhorn_tol" in message for message in messages)
    assert missed == (max(model.transport_residuals_) > model.sinkhorn_tol)
    if missed:
        event("an E-step missed sinkhorn_tol")
    assume(not missed)
    bounds = np.asarray(model.lower_bounds_, dtype=np.float64)
    if model.covariance_type not in ("full", "tied", "diag", "spherical"):
        # The full-form precisions_init of an mclust model need not belong to
        # the model (any covariance for EII): the first M-step projects onto
        # it, and the descent holds from there on.
        bounds = bounds[1:]
    slack = 1e-9 * np.maximum(1.0, np.abs(bounds[1:]))
    slack = slack + 10 * X.shape[1] * np.finfo(X.dtype).eps * condition(model)
    decrease = bounds[:-1] - bounds[1:]
    note(f"lower_bounds_ = {bounds.tolist()}")
    note(f"decrease - slack = {(decrease - slack).tolist()}")
    assert np.all(decrease <= slack)


@given(random_fits())
def test_predict_proba_rows_sum_to_one(case):
    """(d) ``predict_proba`` rows are probabilities summing to one, on the
    training rows (zero weights included) and on rows far from the data."""
    X, sample_weight, model = case
    fitted_or_reject(model, X, sample_weight)
    far = X + 100 * (np.abs(X).max(axis=0) + 1).astype(X.dtype)
    atol = 1e-5 if X.dtype == np.float32 else 1e-12
    for rows in (X, far):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            proba = model.predict_proba(rows)
        assert proba.shape == (len(rows), model.n_components)
        assert np.all(np.isfinite(proba))
        assert np.all((proba >= 0) & (proba <= 1))
        assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=atol)


# --------------------------------------------------------------------------------
# (e) - (g): fits from explicit initial parameters


def initial_parameters(X, n_components, covariance_type, reg_m, rng, labels=None):
    """Valid ``weights_init``, ``means_init`` and ``precisions_init`` for ``X``.

    Without ``labels``: means at random rows of ``X``, diagonal precisions
    from the column variances (a diagonal matrix is positive definite at any
    scale), random weights. With the rows' cluster ``labels`` (one cluster per
    component): each component starts near its cluster, at its mean, with the
    inverse of its covariance. Weights None with ``reg_m=inf`` (the weights are
    ``target_weights`` there).
    """
    n_samples, n_features = X.shape
    X = X.astype(np.float64)
    form = covariance_type if covariance_type in SKLEARN_TYPES else "full"
    weights = None
    if reg_m != math.inf:
        weights = rng.dirichlet(np.full(n_components, 20.0))
        weights /= weights.sum()
    if labels is None:
        rows = rng.choice(n_samples, n_components, replace=n_samples < n_components)
        means = X[rows]
        variances = np.tile(X.var(axis=0) + 1e-6, (n_components, 1))
        covariances = np.stack([np.diag(v) for v in variances])
    else:
        clusters = [X[labels == k] for k in range(n_components)]
        means = np.stack([rows.mean(axis=0) for rows in clusters])
        covariances = np.stack(
            [
                np.cov(rows.T, bias=True).reshape(n_features, n_features)
                for rows in clusters
            ]
        )
        variances = np.stack([np.diag(c) for c in covariances])
    if form == "spherical":
        precisions = 1.0 / variances.mean(axis=1)
    elif form == "diag":
        precisions = 1.0 / variances
    elif form == "tied":
        precisions = np.linalg.inv(covariances.mean(axis=0))
    else:
        precisions = np.linalg.inv(covariances)
    return dict(weights_init=weights, means_init=means, precisions_init=precisions)


@st.composite
def initialised_fits(draw, data, covariance_types=COVARIANCE_TYPES, **params):
    """(X, estimator parameters) for a fit of ``max_iter`` iterations
    (``tol=0``: no early stop whose threshold round-off could cross) from
    explicit initial parameters (see :func:`initial_parameters`; ``data``
    draws ``X``, or ``(X, labels)``)."""
    n_components = draw(st.integers(1, 6))
    drawn = draw(data(n_components))
    X, labels = drawn if isinstance(drawn, tuple) else (drawn, None)
    covariance_type = draw(st.sampled_from(covariance_types))
    reg_m = draw(st.sampled_from([0.0, math.inf]) | log_uniform(1e-2, 1e2))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    parameters = dict(
        n_components=n_components,
        covariance_type=covariance_type,
        reg=draw(log_uniform(1e-3, 10.0)),
        reg_m=reg_m,
        tol=0.0,
        max_iter=draw(st.integers(1, 10)),
        **initial_parameters(X, n_components, covariance_type, reg_m, rng, labels),
    )
    parameters.update(params)
    return X, parameters


def assert_same_model(actual, desired, rtol, name=""):
    for attribute in FITTED:
        assert_close_to_scale(
            getattr(actual, attribute),
            getattr(desired, attribute),
            rtol,
            f"{name}{attribute}",
        )


@given(
    initialised_fits(lambda k: raw_data(k)),
    st.data(),
)
def test_permuting_the_rows_gives_the_same_model(case, data):
    """(e) The objective is a sum over the rows: fitted from the same explicit
    initial parameters (``weights_init``, ``means_init``, ``precisions_init``;
    ``tol=0`` and a fixed number of iterations), the rows of ``X`` and of
    ``sample_weight`` permuted alike give the same model, or the same
    ValueError, wherever every E-step met its certificate (a fit that warns
    of a missed ``sinkhorn_tol`` claims no optimum to compare).

    Same to ``(1e-8 + 10 d eps cond) max(1, 1 / reg)`` relative (of each
    array's scale), ``cond`` the largest condition number of the fitted
    covariances with off-diagonal entries (see :func:`condition` and (c)):
    the order of the rows changes only the round-off of the sums, to which a
    covariance of condition number ``cond`` is sensitive that much (values
    are not compared where that exceeds 1: a covariance singular at float64
    precision), and the next plan, ``exp(-C / reg)``, ``1 / reg`` times more
    below ``reg = 1``. (The long profile found a penalised fit at reg=0.01,
    42 rows, 6 components, whose covariances moved by 1.5e-6 with two rows
    swapped, and by 7e-8 with every E-step solved to a residual of 4e-16
    (sinkhorn_tol=0): the sums' round-off, amplified by the temperature.)

    That bound is one pass's. A path can amplify round-off at every
    iteration: at ``reg`` near 1e-3, rows that lie between two components
    (two started at the same mean) move from one to the other on a change of
    their costs of ``reg`` times less. Where the bound is exceeded, the
    path's own amplification is measured (:func:`_round_off_sensitivity`: the
    same fit from rows moved by ``sqrt(n) eps``) and the row order may move
    the fit no more than ten times that. (The long profile found such a fit:
    reg=1.1e-3, 5 components of which two started alike, lower bounds 6e-5
    apart at the sixth iteration of ten and equal again at the end; rows
    moved by their round-off moved the fit by 5e-2.)"""
    X, parameters = case
    sample_weight = data.draw(sample_weights(len(X)))
    permutation = data.draw(st.permutations(range(len(X))))
    permutation = np.asarray(permutation, dtype=np.intp)
    original = OTGaussianMixture(**parameters)
    permuted = OTGaussianMixture(**parameters)
    messages = []
    error = fit_or_error(original, X, sample_weight, messages)
    other = fit_or_error(
        permuted,
        X[permutation],
        None if sample_weight is None else sample_weight[permutation],
        messages,
    )
    if error is not None or other is not None:
        assert str(error) == str(other)
        return
    if any("sinkhorn_tol" in message for message in messages):
        # An E-step whose plan missed its certificate, and said so: its answer
        # is the solver's path, which the row order may change (the long
        # profile: fixed weights at reg=0.017 with sample weights over 1e12,
        # a residual of 0.27 in both orders, means 4e-3 apart).
        event("an E-step missed sinkhorn_tol (warned): values not compared")
        return
    rtol = 1e-8 + 10 * X.shape[1] * np.finfo(X.dtype).eps * condition(original)
    rtol *= max(1.0, 1.0 / parameters["reg"])
    note(f"rtol = {rtol}")
    if not rtol < 1:
        event("covariances singular at float64 precision: values not compared")
        return
    assert permuted.n_iter_ == original.n_iter_
    try:
        assert_same_model(permuted, original, rtol)
        assert_close_to_scale(permuted.lower_bounds_, original.lower_bounds_, rtol)
    except AssertionError:
        # Beyond the bound of one pass: a path that amplifies round-off at
        # every iteration (each E-step by up to 1 / reg, at rows between two
        # components). Its amplification, measured: the same fit, in the
        # same order, from rows moved by their round-off.
        sensitivity = _round_off_sensitivity(original, X, sample_weight, parameters)
        if not distance(permuted, original) <= 10 * sensitivity:
            raise
        event("the path amplifies round-off as much as the row order changes it")


def distance(actual, desired):
    """The largest difference of two fits' attributes and lower bounds,
    relative to each array's scale."""
    return max(
        float(np.max(np.abs(np.subtract(a, b)))) / float(np.max(np.abs(b)))
        for a, b in [
            (getattr(actual, name), getattr(desired, name))
            for name in FITTED + ("lower_bounds_",)
        ]
    )


def _round_off_sensitivity(fitted, X, sample_weight, parameters):
    """How far the fit moves from ``fitted`` when each entry of ``X`` moves by
    its share of the round-off of a sum over the rows (``sqrt(n) eps``
    relative, random signs): what the row order can do to it, made
    measurable. Infinite where the moved rows make the fit fail."""
    rng = np.random.RandomState(0)
    size = np.sqrt(X.shape[0]) * np.finfo(X.dtype).eps
    moved = X * (1 + size * rng.choice([-1.0, 1.0], size=X.shape))
    again = OTGaussianMixture(**parameters)
    if fit_or_error(again, moved, sample_weight, []) is not None:
        return math.inf
    return distance(again, fitted)


#: Fits (e) found to depend on the row order, where a variance or a spread
#: the model needs positive was round-off. VEI: a component collapses onto
#: the row of weight 1e12, and its variances are what cancellation leaves of
#: its second moments about the centre of its statistics. One feature: 0 in
#: one order (no volume: the fit failed), -1.4 units of round-off in the other
#: (a negative volume, under the ridge: it fitted). Two features: 0 in one
#: order, +-1.3e-20 in the other (the volume's update overflowed). VVE: the
#: scatter of a component of five distinct rows is singular along an axis
#: the common orientation comes to, and its spread there, the shape's
#: logarithm with it, took the sign of the rounding.
ROW_ORDER_CASES = {
    "VEI, one feature": {
        "X": [
            -2096.738609624782,
            29691.933919174196,
            28943.72416749709,
            -7227.057212947843,
            -11491.892309312989,
            20289.55295403819,
            61588.69752526148,
            -26944.17751318654,
            157437.05736564394,
            -38102.90776920267,
            44673.69977976034,
            18774.43697003121,
            -22562.242511076627,
            45928.27690337602,
            70795.82088591318,
            55084.75293753683,
        ],
        "sample_weight": [
            1.0,
            707423181.8961388,
            1e12,
            21778.82874489585,
            4808978.353652606,
            6.554785213957487,
            2830047.4086566665,
            2.2781656741262903,
            137645.88549370065,
            2.7415015661467637,
            3803.2457300173905,
            725206894.2488558,
            130895964.1037334,
            1894262736.87099,
            4702614070.761386,
            123.92951762991618,
        ],
        "permutation": [11, 4, 0, 14, 10, 9, 12, 7, 1, 8, 6, 3, 5, 15, 13, 2],
        "parameters": {
            "n_components": 4,
            "covariance_type": "VEI",
            "reg": 1.0,
            "reg_m": 0.17459357388479246,
            "max_iter": 3,
            "weights_init": [
                0.2962959258621059,
                0.19086777004645625,
                0.27379325277100985,
                0.23904305132042802,
            ],
            "means_init": [
                [20289.55295403819],
                [45928.27690337602],
                [44673.69977976034],
                [-26944.17751318654],
            ],
            "precisions_init": [[[4.596031006312324e-10]]] * 4,
        },
    },
    "VEI, two features": {
        "X": [
            [14.50001848, -1.23215469],
            [12.96269131, -0.20367399],
            [26.03016581, -1.90543031],
            [23.42898938, -0.82631048],
            [18.29423247, -0.12465851],
        ],
        "sample_weight": [1.0, 1727.58954, 1e12, 1.57881639, 5744376150.0],
        "permutation": [0, 1, 3, 2, 4],
        "parameters": {
            "n_components": 2,
            "covariance_type": "VEI",
            "reg": 1.0,
            "reg_m": 0.0,
            "max_iter": 2,
            "weights_init": [0.47182364, 0.52817636],
            "means_init": [[14.50001848, -1.23215469], [18.29423247, -0.12465851]],
            "precisions_init": [np.diag([0.03961121, 2.26855883])] * 2,
        },
    },
    "VVE, six features": {
        "X": [
            [
                0.9745756197651162,
                70.90293634084506,
                15.652929288634457,
                -6.529773351037425,
                -0.8170711606013383,
                -5.7347857645479454e-05,
            ],
            [
                5.800132387096305,
                1031.1228891771525,
                5.2630023550563365,
                4.497227974660575,
                1.4699021695357004,
                0.0003308740707767759,
            ],
            [
                -4.014615860855675,
                -253.65693337481642,
                -14.146823308012587,
                -0.6517268592675414,
                4.19863255943604,
                1.6831968893669267e-05,
            ],
            [
                0.08422659835268786,
                -552.5776622115661,
                -2.6558645562827796,
                -1.4299077213740177,
                -1.046696938238116,
                2.4649595048978164e-05,
            ],
            [
                0.0866581491772197,
                135.70952942586734,
                27.19171660336696,
                -1.5533746291120654,
                -5.483723717561093,
                7.91408210688488e-05,
            ],
            [
                2.137753819943153,
                -105.13137506368031,
                6.829308051867896,
                -5.467903218471947,
                -4.582770726261411,
                -8.759645133638021e-05,
            ],
            [
                0.0866581491772197,
                135.70952942586734,
                27.19171660336696,
                -1.5533746291120654,
                -5.483723717561093,
                7.91408210688488e-05,
            ],
            [
                0.08422659835268786,
                -552.5776622115661,
                -2.6558645562827796,
                -1.4299077213740177,
                -1.046696938238116,
                2.4649595048978164e-05,
            ],
            [
                4.851157173642828,
                1049.9878895290517,
                14.071601086928744,
                2.971033230702094,
                -0.6870072379335044,
                0.00021550742428304214,
            ],
            [
                4.793459793413001,
                1014.9832414272521,
                12.40938566844033,
                2.69019375682278,
                1.0109305310598145,
                0.0002762941834722247,
            ],
            [
                -0.20882433321618366,
                22.862129837486574,
                6.802695814934722,
                -7.508277817233446,
                -2.7416313571160837,
                -7.729574075146406e-05,
            ],
            [
                5.800132387096305,
                1031.1228891771525,
                5.2630023550563365,
                4.497227974660575,
                1.4699021695357004,
                0.0003308740707767759,
            ],
            [
                0.039439360671808865,
                140.6362954667614,
                20.96064323382314,
                -1.9751526659574297,
                -5.5096664004214,
                0.00010555708829817166,
            ],
        ],
        "sample_weight": [
            436.5627915925975,
            1.0,
            32.77996961422078,
            66.68974418357833,
            18.1738230827915,
            1000.0,
            3.1438009280862333,
            53.467106810950185,
            47.75552989036873,
            203.1835268094074,
            591.790255785861,
            145.24120262321284,
            99.14085222760644,
        ],
        "permutation": [0, 11, 1, 9, 7, 5, 8, 10, 3, 4, 12, 6, 2],
        "parameters": {
            "n_components": 2,
            "covariance_type": "VVE",
            "reg": 1.0,
            "reg_m": 0.0,
            "max_iter": 4,
            "weights_init": [0.46090496845528794, 0.5390950315447122],
            "means_init": [
                [
                    4.793459793413001,
                    1014.9832414272521,
                    12.40938566844033,
                    2.69019375682278,
                    1.0109305310598145,
                    0.0002762941834722247,
                ],
                [
                    0.0866581491772197,
                    135.70952942586734,
                    27.19171660336696,
                    -1.5533746291120654,
                    -5.483723717561093,
                    7.91408210688488e-05,
                ],
            ],
            "precisions_init": [
                np.diag(
                    [
                        0.12605304863336297,
                        3.0698133057408846e-06,
                        0.007516872072393523,
                        0.0703603803945257,
                        0.11128613682827927,
                        980283.491347568,
                    ]
                )
            ]
            * 2,
        },
    },
}


@pytest.mark.parametrize("case", ROW_ORDER_CASES)
def test_a_degenerate_component_fails_in_any_row_order(case):
    """(e) where the row order decided: a variance or a spread within
    round-off of the products it comes from is zero, and a model that needs
    it positive fails in every order: the fit raises the ill-defined
    covariance ValueError (and no RuntimeWarning) with the rows as given and
    permuted."""
    case = ROW_ORDER_CASES[case]
    sample_weight = np.array(case["sample_weight"])
    X = np.array(case["X"]).reshape(len(sample_weight), -1)
    parameters = {
        name: np.array(value) if isinstance(value, list) else value
        for name, value in case["parameters"].items()
    }
    for rows in (np.arange(len(X)), case["permutation"]):
        model = OTGaussianMixture(tol=0.0, **parameters)
        with pytest.raises(ValueError, match="ill-defined empirical covariance"):
            model.fit(X[rows], sample_weight=sample_weight[rows])


@st.composite
def clustered(draw, n_components, *, separation=4.0):
    """Well-conditioned data and its clusters' labels: ``n_components``
    Gaussian clusters (random covariances of condition number at most 10), at
    least 10 (n_features + 1) rows each, centres ``separation`` standard
    deviations apart on average."""
    n_features = draw(st.integers(1, 6))
    size = 10 * (n_features + 1)
    per_cluster = draw(st.integers(size, size + 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    centres = rng.normal(scale=separation, size=(n_components, n_features))
    blocks = []
    for centre in centres:
        rotation = np.linalg.qr(rng.normal(size=(n_features, n_features)))[0]
        root = rotation * 10.0 ** rng.uniform(-0.5, 0.0, size=n_features)
        blocks.append(centre + rng.normal(size=(per_cluster, n_features)) @ root.T)
    order = rng.permutation(n_components * per_cluster)
    labels = np.repeat(np.arange(n_components), per_cluster)
    return np.vstack(blocks)[order], labels[order]


def well_conditioned_matrix(rng, n_features):
    """``Q1 diag(s) Q2``, ``s`` in [0.3, 3]: condition number at most 10."""
    q1 = np.linalg.qr(rng.normal(size=(n_features, n_features)))[0]
    q2 = np.linalg.qr(rng.normal(size=(n_features, n_features)))[0]
    return (q1 * 10.0 ** rng.uniform(-0.5, 0.5, size=n_features)) @ q2


@given(
    initialised_fits(clustered, covariance_types=["full"], reg_covar=0.0),
    st.integers(0, 2**32 - 1),
)
def test_full_covariances_are_affine_equivariant(case, seed):
    """(f) With ``covariance_type='full'`` and ``reg_covar=0`` the fit is
    affine equivariant: ``X -> X A^T + b`` (``A`` random, condition number at
    most 10), with the initial means ``A mu + b`` and precisions
    ``A^{-T} P A^{-1}``, gives the means ``A mu + b``, the covariances
    ``A Sigma A^T`` and the same weights, to 1e-6 relative. (The costs change
    by the constant ``log |det A|``, which moves no plan.)"""
    X, parameters = case
    rng = np.random.default_rng(seed)
    n_features = X.shape[1]
    A = well_conditioned_matrix(rng, n_features)
    b = rng.normal(scale=5.0, size=n_features)
    A_inv = np.linalg.inv(A)
    original = OTGaussianMixture(**parameters)
    assume(fit_or_error(original, X) is None)
    transformed = OTGaussianMixture(
        **{
            **parameters,
            "means_init": parameters["means_init"] @ A.T + b,
            "precisions_init": A_inv.T @ parameters["precisions_init"] @ A_inv,
        }
    )
    assert fit_or_error(transformed, X @ A.T + b) is None
    assert_close_to_scale(transformed.weights_, original.weights_, 1e-6, "weights_")
    assert_close_to_scale(transformed.means_, original.means_ @ A.T + b, 1e-6, "means_")
    assert_close_to_scale(
        transformed.covariances_,
        A @ original.covariances_ @ A.T,
        1e-6,
        "covariances_",
    )


@given(initialised_fits(clustered))
def test_float32_and_float64_fits_agree(case):
    """(g) On well-conditioned data (separated clusters), float32 and float64
    fits from the same explicit initial parameters agree to float32 precision:
    means and weights to 1e-3 relative (of their scale). The float32 fit
    keeps float32 parameters."""
    X, parameters = case
    fit64 = OTGaussianMixture(**parameters)
    assume(fit_or_error(fit64, X) is None)
    fit32 = OTGaussianMixture(**parameters)
    assert fit_or_error(fit32, X.astype(np.float32)) is None
    assert fit32.means_.dtype == np.float32
    assert_close_to_scale(fit32.means_, fit64.means_, 1e-3, "means_")
    assert_close_to_scale(fit32.weights_, fit64.weights_, 1e-3, "weights_")
