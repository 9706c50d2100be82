"""Samples held in memory, and what the data layer's implementations share.

:class:`InMemory` implements the data layer's interface (see
:mod:`sklearn_otmix._data`) over arrays of any namespace; the Dask layer
(:mod:`sklearn_otmix._dask`) hands each of its chunks to it. What both layers
share lives here too: the interface's :func:`add` and :data:`LABELS`, and input
validation, written once, so that every layer raises the same errors for the
same bad input.

Rows of zero weight are left out; ``mass_b`` are the sample weights of the rows
(ones without weights, or where the positive weights are all equal).
"""

import contextvars
import math
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from sklearn import config_context, get_config
from sklearn.utils import check_array, column_or_1d
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data
from threadpoolctl import ThreadpoolController  # scikit-learn's requirement

from ._backend import (
    asarray,
    block_bytes,
    concat,
    finfo,
    float_dtypes,
    get_namespace,
    host,
    is_host_array,
    namespace_of,
    on_device_of,
    pot_takes,
    to_numpy,
)


def add(*parts):
    """Sum of partial results: numbers, arrays, objects with a ``merge`` method,
    or tuples of them (named tuples keep their type)."""
    first = parts[0]
    if hasattr(first, "merge"):
        total = first
        for part in parts[1:]:
            total = total.merge(part)
        return total
    if isinstance(first, tuple):
        sums = [add(*items) for items in zip(*parts, strict=True)]
        return type(first)(*sums) if hasattr(first, "_fields") else tuple(sums)
    total = first
    for part in parts[1:]:
        total = total + part
    return total


class _Labels:
    """The part that stands for each block's labels (see :data:`LABELS`)."""

    def __repr__(self):
        return "LABELS"

    def __reduce__(self):
        # Pickled by name: the one instance on every Dask worker too.
        return "LABELS"


#: Passed among the ``parts`` of ``sum`` or ``map``, it is replaced by each
#: block's labels: an integer array of class indices, ``-1`` for an unlabelled
#: row; None where the samples carry no labels.
LABELS = _Labels()


#: How many times larger the blocks of rows with missing entries are, in
#: numpy: their missing entries' work is a few hundred numpy operations on
#: each group of a block's rows with the same number of them (a few hundred
#: rows or fewer for most groups), each with a cost of its own whatever its
#: size. Ten iterations of ``benchmarks/bench_missing.py``'s MCAR 10% took
#: 7% less time in blocks twice as large (the median of nine runs, against
#: the complete-data fit in its blocks), as much at three or four times.
MISSING_BLOCKS = 2


class InMemory:
    """Samples held in memory, cut into blocks of rows whose temporaries fit in a
    processor's cache (or, on an accelerator, are large enough to keep it busy;
    :data:`MISSING_BLOCKS` times larger with missing entries in numpy).

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
        Rows that carry mass.
    sample_mass : array of shape (n_samples,)
        Their masses ``w_i``: positive, in any unit.
    sample_weight : array of shape (n_samples,) or None
        The weights the initialisation draws with; None where they are uniform.
    row_width : int
        Number of temporary entries per row that a block's computations make
        (see :func:`row_width`).
    all_rows : array of shape (n_all, n_features), default=None
        Every row, those of zero weight too, for :meth:`rows`; ``X`` when None.
    labels : integer array of shape (n_samples,), default=None
        The rows' class indices, ``-1`` where unlabelled (see :data:`LABELS`).
    missing : bool, default=False
        Whether some entries of ``X`` are missing (NaN, see
        :mod:`sklearn_otmix._missing`).
    threads : int, default=1
        Threads that work on the blocks side by side (see
        :func:`block_threads`); their results are added in the blocks'
        order, as on one thread.

    Attributes
    ----------
    layouts : dict or None
        Where the blocks' entries are missing, kept from one E-step to the
        next (:func:`sklearn_otmix._missing.layout_of`); None without missing
        entries.
    """

    def __init__(
        self,
        X,
        sample_mass,
        sample_weight=None,
        *,
        row_width=None,
        all_rows=None,
        labels=None,
        missing=False,
        threads=1,
    ):
        self.X = X
        self.missing = missing
        self.threads = threads
        self.layouts = {} if missing else None
        self._row_width = row_width
        self.sample_mass = sample_mass
        self.sample_weight = sample_weight
        self.labels = labels
        self.total = float(namespace_of(sample_mass).sum(sample_mass))
        self.holds_plan = pot_takes(X)
        self.all_rows = X if all_rows is None else all_rows
        self.like = X
        width = row_width or X.shape[1]
        item_bytes = finfo(X).bits // 8
        # A block's temporaries: within the budget of the device, and within
        # twice the data's own size (1 MiB at least), so that a fit of small
        # data needs no more memory than the data.
        data_bytes = math.prod(X.shape) * item_bytes
        budget = block_bytes(X)
        if missing and is_host_array(X):
            budget *= MISSING_BLOCKS
        budget = min(budget, max(2 * data_bytes, 2**20))
        self._size = max(1, budget // (item_bytes * width))
        self._blocks = self._slices(X.shape[0])
        self.one_block = len(self._blocks) == 1

    def _slices(self, n_rows):
        # One block at least, empty for no rows: every sum has a term.
        size = self._size
        return [slice(i, min(i + size, n_rows)) for i in range(0, max(n_rows, 1), size)]

    @property
    def n_samples(self):
        return self.X.shape[0]

    def _pieces(self, parts):
        labels = self.labels
        for i, rows in enumerate(self._blocks):
            more = [
                (
                    (None if labels is None else labels[rows])
                    if part is LABELS
                    else part[i]
                )
                for part in parts
            ]
            yield self.X[rows, :], self.sample_mass[rows], more

    def _each(self, function, arguments):
        """``function(*a)`` for each ``a`` of ``arguments``, in order: one after
        another (lazily), or on :attr:`threads` threads (see
        :func:`on_threads`)."""
        if self.threads > 1 and len(self._blocks) > 1:
            return on_threads(function, list(arguments), self.threads)
        return (function(*a) for a in arguments)

    def map(self, function, *parts):
        """``[function(x_b, mass_b, *parts_b)]`` for each block ``b``."""
        pieces = ((x, mass, *more) for x, mass, more in self._pieces(parts))
        return list(self._each(function, pieces))

    def sum(self, function, *parts):
        """``sum_b function(x_b, mass_b, *parts_b)`` (see :func:`add`), added as
        the blocks come, in their order: one block's terms alive at a time on
        one thread."""
        total = None
        pieces = ((x, mass, *more) for x, mass, more in self._pieces(parts))
        for term in self._each(function, pieces):
            total = term if total is None else add(total, term)
        return total

    def concat(self, parts):
        """The per-block arrays ``parts`` as one array."""
        return parts[0] if len(parts) == 1 else concat(parts)

    def split(self, array):
        """An array of one entry per row cut as the blocks."""
        return [array[rows, ...] for rows in self._blocks]

    def rows(self, function, **_):
        """``function(x_b)`` of each block of all rows, zero weights too,
        concatenated (the shape keywords are for lazy layers)."""
        rows = self.all_rows
        blocks = ((rows[b, :],) for b in self._slices(rows.shape[0]))
        return self.concat(list(self._each(function, blocks)))

    def initialization_sample(self, random_state):
        """Rows in memory to initialise on: all of them, each missing entry
        replaced by its column's mean (:func:`impute_means`)."""
        if not self.missing:
            return self
        X = impute_means(self.X, self.sample_mass)
        return InMemory(
            X,
            self.sample_mass,
            self.sample_weight,
            row_width=self._row_width,
            labels=self.labels,
        )


def block_threads(X, missing):
    """Threads for the blocks of in-memory rows: where entries are missing
    in numpy rows, as many as BLAS may use now (set by
    ``OPENBLAS_NUM_THREADS`` and the like, or ``threadpoolctl``), else one;
    one on any thread but the main one.

    The work on the missing entries is numpy's elementwise and indexing
    operations, on one thread each, while the complete data's is mostly
    BLAS's matrix products, which use its threads: the blocks on BLAS's
    threads take their place, BLAS on one thread meanwhile. BLAS's limits
    are the process's: fits on several threads at once (a search's on
    joblib's threads) would set and restore each other's, and they are
    parallel already."""
    main = threading.current_thread() is threading.main_thread()
    if not missing or not main or not is_host_array(X):
        return 1
    return _blas_threads()


def _blas_threads():
    """The fewest threads that a loaded BLAS library may use now."""
    blas = ThreadpoolController().select(user_api="blas").info()
    return max(1, min((info["num_threads"] for info in blas), default=1))


def on_threads(function, arguments, threads):
    """``[function(*a) for a in arguments]`` on ``threads`` threads, BLAS on
    one thread each meanwhile. Each call runs in a copy of the caller's
    context and its scikit-learn configuration (numpy's error state and
    scikit-learn's settings are the caller's)."""
    config = get_config()

    def configured(*a):
        with config_context(**config):
            return function(*a)

    blas = ThreadpoolController().limit(limits=1, user_api="blas")
    with blas, ThreadPoolExecutor(threads) as pool:
        futures = [
            pool.submit(contextvars.copy_context().run, configured, *a)
            for a in arguments
        ]
        return [future.result() for future in futures]


def impute_means(X, sample_mass):
    """``X`` with each missing entry replaced by its column's mean over the
    rows that observe it, weighted by ``sample_mass`` (the rows that the
    initialisations see)."""
    xp = namespace_of(X)
    missing = xp.isnan(X)
    zero = xp.zeros((), dtype=X.dtype, **on_device_of(X))
    totals = sample_mass @ xp.where(missing, zero, X)
    counts = sample_mass @ xp.astype(~missing, X.dtype)
    # A column that the sample never observes (a sample of a Dask array's
    # rows may miss them all): 0.
    means = xp.where(counts > 0, totals / xp.where(counts > 0, counts, 1.0), zero)
    return xp.where(missing, means[None, :], X)


def in_memory(
    X,
    sample_weight=None,
    *,
    uniform=False,
    row_width=None,
    labels=None,
    missing=False,
    threads=1,
):
    """:class:`InMemory` samples of ``X``: a zero weight removes its row (and its
    label), and uniform weights are no weights at all (the initialisation then
    draws the same random numbers as an unweighted fit).

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    sample_weight : array of shape (n_samples,) or None
        Validated weights, in ``X``'s namespace.
    uniform : bool
        Whether the positive weights are all equal.
    row_width : int
        See :class:`InMemory`.
    labels : integer array of shape (n_samples,), default=None
        See :class:`InMemory`.
    missing : bool, default=False
        See :class:`InMemory`.
    threads : int, default=1
        See :class:`InMemory`.
    """
    xp = namespace_of(X)
    all_rows = X
    if sample_weight is not None:
        kept = sample_weight > 0
        if not bool(xp.all(kept)):
            X, sample_weight = X[kept], sample_weight[kept]
            labels = None if labels is None else labels[kept]
    if sample_weight is None or uniform:
        sample_weight = None
        mass = xp.ones(X.shape[0], dtype=X.dtype, **on_device_of(X))
    else:
        mass = sample_weight
    return InMemory(
        X,
        mass,
        sample_weight,
        row_width=row_width,
        all_rows=all_rows,
        labels=labels,
        missing=missing,
        threads=threads,
    )


# --------------------------------------------------------------------------------
# Validation, once for every layer


def check_2d(shape):
    if len(shape) != 2:
        raise ValueError(
            "Expected a 2D array of shape (n_samples, n_features) (numpy, array-API "
            f"or a 2D Dask array), got shape {tuple(shape)}. Reshape your data: "
            "X.reshape(-1, 1) for one feature, X.reshape(1, -1) for one sample."
        )


def check_features(estimator, n_features, dtype, *, reset):
    """Record (``reset``) or check the number of features, with scikit-learn's
    own errors and feature-name bookkeeping, from an empty stand-in of ``X``."""
    validate_data(
        estimator,
        np.empty((0, n_features), dtype=dtype),
        reset=reset,
        ensure_min_samples=0,
        ensure_min_features=0,
    )


def check_finite(finite, has_nan, dtype, estimator=None):
    """X's values finite, else scikit-learn's first sentence (NaN, or
    infinity), then ours; ``has_nan`` is asked for on the error path only.
    NaN where ``estimator`` would take it as missing but for its settings:
    the error says which (its ``_missing_refusal``)."""
    if not finite:
        nan = has_nan()
        first = (
            "Input X contains NaN."
            if nan
            else "Input X contains infinity or a value too large for "
            f"{np.dtype(str(dtype).split('.')[-1])!r}."
        )
        refusal = getattr(estimator, "_missing_refusal", lambda: None)()
        if nan and refusal is not None:
            raise ValueError(
                f"{first}\n{type(estimator).__name__} takes NaN as a missing "
                f"entry, but {refusal}; or impute the missing entries first (for "
                "example with sklearn.impute.SimpleImputer)."
            )
        raise ValueError(
            f"{first}\nOTGaussianMixture needs finite values: remove or impute "
            "the NaN or infinite ones first (for example with "
            "sklearn.impute.SimpleImputer)."
        )


def takes_missing(estimator):
    """Whether ``estimator`` fits and scores rows with missing entries (NaN):
    its ``allow_nan`` input tag."""
    return estimator is not None and estimator.__sklearn_tags__().input_tags.allow_nan


def check_observed(empty_rows, empty_columns):
    """Every row and every column of X has an observed entry: the indices of
    those that have none (all NaN), host arrays, are empty."""
    if empty_rows.size:
        raise ValueError(
            f"{empty_rows.size} row(s) of X have no observed entry (all NaN), the "
            f"first at index {empty_rows[0]}: such a row carries no information; "
            "remove it."
        )
    if empty_columns.size:
        raise ValueError(
            f"{empty_columns.size} column(s) of X have no observed entry (all "
            f"NaN), the first at index {empty_columns[0]}: a feature never "
            "observed cannot be modelled; remove it."
        )


def missing_in(X):
    """The indices of X's rows and columns of NaN only (host arrays), for
    :func:`check_observed`."""
    xp = namespace_of(X)
    nan = xp.isnan(X)
    return (
        np.flatnonzero(to_numpy(xp.all(nan, axis=1))),
        np.flatnonzero(to_numpy(xp.all(nan, axis=0))),
    )


class WeightSummary:
    """What validation needs to know of sample weights: reductions that each
    layer computes its own way (in one pass with X's finiteness on Dask)."""

    def __init__(self, finite, smallest, largest, smallest_positive, n_positive):
        self.finite = bool(finite)
        self.smallest = float(smallest)
        self.largest = float(largest)
        self.smallest_positive = float(smallest_positive)
        self.n_positive = int(n_positive)

    @classmethod
    def reductions(cls, xp, sample_weight):
        """The reductions, in the order of the constructor's arguments."""
        positive = sample_weight > 0
        return (
            xp.all(xp.isfinite(sample_weight)),
            xp.min(sample_weight),
            xp.max(sample_weight),
            xp.min(xp.where(positive, sample_weight, math.inf)),
            xp.sum(positive),
        )

    @property
    def uniform(self):
        """Whether the positive weights are all equal."""
        return self.smallest_positive == self.largest

    def check(self):
        if not self.finite:
            raise ValueError(
                "sample_weight contains NaN or infinity: give every sample a "
                "finite, non-negative weight."
            )
        if self.smallest < 0:
            raise ValueError(
                "sample_weight should be non-negative; got negative values."
            )
        if not self.largest > 0:
            raise ValueError(
                "sample_weight sums to zero: at least one sample needs a positive "
                "weight."
            )


def check_row_shape(array, n_samples, name):
    """``array`` (``sample_weight``, ``y``) has one entry per row of ``X``."""
    shape = tuple(array.shape)
    if shape != (n_samples,):
        raise ValueError(
            f"{name} should have one entry per row of X, shape ({n_samples},), "
            f"but got {shape}."
        )


def check_sample_counts(n_samples, n_positive, n_components, shape, name):
    """Enough samples, and enough of positive weight, for ``n_components``
    (``shape`` of X and ``name`` of the estimator, for scikit-learn's words)."""
    if n_samples < 2:
        raise ValueError(
            f"Found array with {n_samples} sample(s) (shape={tuple(shape)}) while "
            f"a minimum of 2 is required by {name}. A mixture is fitted to 2 "
            "samples or more."
        )
    if n_samples < n_components:
        raise ValueError(
            f"Expected n_samples >= n_components but got n_components = "
            f"{n_components}, n_samples = {n_samples}: use fewer components or "
            "more samples."
        )
    if n_positive < n_components:
        raise ValueError(
            f"Only {n_positive} samples have a positive sample_weight, fewer than "
            f"n_components = {n_components}."
        )


def memory_samples(estimator, X, sample_weight, *, reset, n_components, fit, labels):
    """:func:`sklearn_otmix._data.samples_of` for in-memory ``X`` (numpy or
    any array namespace): validated :class:`InMemory` samples."""
    xp, device = get_namespace(X)
    if hasattr(X, "shape"):
        check_2d(X.shape)
    X = validate_data(
        estimator,
        X,
        reset=reset,
        dtype=float_dtypes(xp),
        ensure_all_finite=False,
        ensure_min_samples=0,
    )
    missing = False
    if not bool(xp.all(xp.isfinite(X))):
        takes_nan = takes_missing(estimator)
        infinite = takes_nan and bool(xp.any(xp.isinf(X)))
        missing = takes_nan and not infinite
        if missing:
            empty_rows, empty_columns = missing_in(X)
            # A column never observed in new rows is only missing there.
            check_observed(empty_rows, empty_columns if reset else empty_columns[:0])
        else:
            check_finite(
                False,
                lambda: not infinite and bool(xp.any(xp.isnan(X))),
                X.dtype,
                estimator,
            )
    if labels is not None:
        check_row_shape(labels, X.shape[0], "y")
        labels = asarray(labels, xp, device)
    summary = None
    if sample_weight is not None:
        sample_weight = check_array(
            host(sample_weight),
            dtype=[np.float64, np.float32],
            ensure_2d=False,
            ensure_all_finite=False,
            input_name="sample_weight",
        )
        check_row_shape(sample_weight, X.shape[0], "sample_weight")
        summary = WeightSummary(*WeightSummary.reductions(np, sample_weight))
        summary.check()
        sample_weight = xp.asarray(sample_weight, dtype=X.dtype, device=device)
    if fit:
        n_positive = X.shape[0] if summary is None else summary.n_positive
        check_sample_counts(
            X.shape[0], n_positive, n_components, X.shape, type(estimator).__name__
        )
    uniform = summary is None or summary.uniform
    return in_memory(
        X,
        sample_weight,
        uniform=uniform,
        row_width=row_width(X, n_components),
        labels=labels,
        missing=missing,
        threads=block_threads(X, missing),
    )


def costs_whitened(n_features, n_components):
    """Whether ``full`` components take their costs from the whitened residuals
    (``K d`` entries per row, :class:`sklearn_otmix._gaussian.WhitenedCost`)
    rather than from the moments (``d (d + 1) / 2``): with many features next to
    the components."""
    return n_features > 6 * n_components


def row_width(X, n_components):
    """Temporary entries per row of a fit's blocks: those of ``full``'s costs
    (its moments, or its whitened residuals, see :func:`costs_whitened`), and the
    costs and plan."""
    n_features = X.shape[1]
    if costs_whitened(n_features, n_components):
        return n_features * n_components + n_features + 2 * n_components
    return 1 + n_features + n_features * (n_features + 1) // 2 + 2 * n_components


def memory_labels(y):
    """:func:`sklearn_otmix._data.check_labels` for in-memory ``y``."""
    y = column_or_1d(host(y), warn=True)
    values = np.unique(y) if y.dtype != object else _unique_objects(y)
    classes, marker = _classes_of(values)
    return classes, label_indices(y, classes, marker)


def _unique_objects(y):
    # Sorted distinct values of an object array; -1 may sit among strings.
    unlabelled = np.fromiter((value == -1 for value in y), bool, count=y.shape[0])
    values = np.unique(y[~unlabelled])
    return np.concatenate([[-1], values]) if unlabelled.any() else values


def _classes_of(values):
    """The classes among the distinct values of ``y``, and whether ``-1``
    marks the unlabelled rows (see :func:`check_labels`)."""
    if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
        raise ValueError(
            "Input y contains NaN or infinity: mark an unlabelled row with -1, not NaN."
        )
    if values.dtype.kind in "OUS":
        is_marker = np.array([value == -1 for value in values], dtype=bool)
    else:
        is_marker = values == -1
    # {-1, one other value}: binary labels, -1 a class.
    marker = bool(is_marker.any()) and values.shape[0] != 2
    classes = values[~is_marker] if marker else values
    if classes.shape[0] == 0:
        raise ValueError(
            "y has no labelled row: every row is -1 (unlabelled). A classifier "
            "needs labelled rows of its classes; to fit a mixture to unlabelled "
            "data, use OTGaussianMixture."
        )
    check_classification_targets(classes)
    return classes, marker


def label_indices(y, classes, marker):
    """Index of each row's label in ``classes``, ``-1`` where unlabelled."""
    indices = (
        np.searchsorted(classes, y) if y.dtype != object else _object_index(y, classes)
    )
    if marker:
        unlabelled = (
            y == -1
            if y.dtype.kind not in "OUS"
            else np.fromiter((v == -1 for v in y), bool, count=y.shape[0])
        )
        indices[unlabelled] = -1
    return indices.astype(np.int64)


def _object_index(y, classes):
    position = {value: index for index, value in enumerate(classes.tolist())}
    return np.fromiter((position.get(v, -1) for v in y.tolist()), np.int64, len(y))
