"""Samples in a Dask array: the data layer's interface over row chunks.

Every ``sum`` is one Dask computation: each chunk is handed, where it lives, to
the in-memory layer (:func:`sklearn_otmix._memory.in_memory`), which works through
it block by block; the chunks' results are added in a tree, and only their sum
(``n_components``-sized quantities: statistics, marginals, values) reaches the
client. ``map`` keeps its per-chunk results persisted on the workers (the costs
of the balanced and unbalanced E-steps, re-read by each of their iterations).
``rows`` gives lazy per-row outputs chunked like ``X``. The initialisation runs
in memory on a uniform sample of at most ``INIT_SAMPLE_SIZE`` rows, drawn with
``random_state``; with fewer rows than that, the sample is the data, and the fit
is the in-memory fit.

``X.persist()`` is the caller's choice: each pass reads every chunk.
"""

import math
import warnings
from functools import partial

import numpy as np
from sklearn.exceptions import DataConversionWarning

from ._memory import (
    LABELS,
    WeightSummary,
    _classes_of,
    add,
    check_2d,
    check_features,
    check_finite,
    check_observed,
    check_row_shape,
    check_sample_counts,
    in_memory,
    label_indices,
    row_width,
    takes_missing,
)

INIT_SAMPLE_SIZE = 100_000

# Number of partial results added by one task of the reduction tree.
_FAN_IN = 8


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


def _chunk_map(x, w, y, spec, function, *parts):
    return in_memory(x, w, labels=y, **spec).map(function, *parts)


def _chunk_sum(x, w, y, spec, function, *parts):
    return in_memory(x, w, labels=y, **spec).sum(function, *parts)


def _chunk_rows(x, spec, function):
    return in_memory(x, **spec).rows(function)


class DaskSamples:
    """Samples in a validated Dask array: see :mod:`sklearn_otmix._data`.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        One chunk of columns, known chunk sizes.
    sample_weight : dask.array.Array of shape (n_samples,) or None
        Chunked like the rows of ``X``.
    summary : WeightSummary or None
    total : float
        ``sum(w)`` over the rows that carry mass.
    labels : dask.array.Array of shape (n_samples,) or None
        Class indices of the rows (``-1`` where unlabelled), chunked like the
        rows of ``X``.
    row_width : int
        See :class:`sklearn_otmix._memory.InMemory`.
    missing : bool, default=False
        Whether some entries of ``X`` are missing (NaN).
    """

    holds_plan = False
    one_block = False
    #: The chunks are formed anew on the workers for each pass: where their
    #: entries are missing is found each time (see :class:`InMemory`).
    layouts = None

    def __init__(
        self, X, sample_weight, summary, total, row_width, labels=None, missing=False
    ):
        self.X = X
        self.missing = missing
        self.sample_weight = sample_weight
        self.labels = labels
        self.total = total
        # The parameters of the mixture live on the client, in numpy.
        self.like = np.empty((0, X.shape[1]), dtype=X.dtype)
        self._spec = {
            "uniform": summary is None or summary.uniform,
            "row_width": row_width,
        }
        self._chunks = list(X.to_delayed().ravel())
        self._weights = (
            [None] * len(self._chunks)
            if sample_weight is None
            else list(sample_weight.to_delayed().ravel())
        )
        self._labels = (
            [None] * len(self._chunks)
            if labels is None
            else list(labels.to_delayed().ravel())
        )

    @property
    def n_samples(self):
        return self.X.shape[0]

    def _tasks(self, job, function, parts):
        dask, _ = _import_dask()
        chunks = zip(self._chunks, self._weights, self._labels, strict=True)
        return [
            dask.delayed(job)(
                x,
                w,
                y,
                self._spec,
                function,
                *[part if part is LABELS else part[i] for part in parts],
            )
            for i, (x, w, y) in enumerate(chunks)
        ]

    def map(self, function, *parts):
        """Per-chunk lists of per-block results, persisted on the workers."""
        dask, _ = _import_dask()
        return list(dask.persist(*self._tasks(_chunk_map, function, parts)))

    def sum(self, function, *parts):
        """One pass: the chunks' sums, added in a tree, computed."""
        dask, _ = _import_dask()
        tasks = self._tasks(_chunk_sum, function, parts)
        while len(tasks) > 1:
            tasks = [
                dask.delayed(add)(*tasks[start : start + _FAN_IN])
                for start in range(0, len(tasks), _FAN_IN)
            ]
        (total,) = dask.compute(tasks[0])
        return total

    def rows(self, function, *, columns=None, dtype=None):
        """Lazy per-row outputs, chunked like the rows of ``X``."""
        chunk = partial(_chunk_rows, spec=self._spec, function=function)
        if columns is None:
            return self.X.map_blocks(chunk, dtype=dtype, drop_axis=1)
        return self.X.map_blocks(
            chunk, dtype=dtype, chunks=(self.X.chunks[0], (columns,))
        )

    def initialization_sample(self, random_state):
        """In-memory rows: all of them if there are at most ``INIT_SAMPLE_SIZE``,
        else a uniform sample of that many, in their order. With labels, the
        sample also holds every labelled row when there are at most
        ``INIT_SAMPLE_SIZE`` of them: a class's components start from its
        labelled rows, which a uniform sample may miss when labels are rare."""
        dask, da = _import_dask()
        X, w, y = self.X, self.sample_weight, self.labels
        if X.shape[0] > INIT_SAMPLE_SIZE:
            rows = _distinct_rows(X.shape[0], INIT_SAMPLE_SIZE, random_state)
            if y is not None:
                labelled = da.flatnonzero(y >= 0)
                labelled = labelled.compute_chunk_sizes()
                if labelled.shape[0] <= INIT_SAMPLE_SIZE:
                    rows = np.union1d(rows, labelled.compute())
            X = X[rows]
            w = None if w is None else w[rows]
            y = None if y is None else y[rows]
        x, w, y = dask.compute(X, w, y)
        sample = in_memory(x, w, labels=y, missing=self.missing, **self._spec)
        # Missing entries: the sample's column means fill them (see InMemory).
        return sample.initialization_sample(random_state)


def dask_samples(estimator, X, sample_weight, *, reset, n_components, fit, labels=None):
    """Validated :class:`DaskSamples`: the checks of
    :func:`sklearn_otmix._data.samples_of`, with X's finiteness and the weights'
    reductions computed in one pass."""
    dask, da = _import_dask()
    if not isinstance(X, da.Array):
        raise TypeError(
            f"OTGaussianMixture takes Dask arrays (dask.array.Array), got "
            f"{type(X).__name__}: convert a Dask DataFrame with "
            "`.to_dask_array(lengths=True)`."
        )
    check_2d(X.shape)
    if X.dtype.kind not in "biuf":
        raise TypeError(
            f"Expected a Dask array of numbers, got dtype {X.dtype}: convert it "
            "to float64 or float32."
        )
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if any(math.isnan(size) for size in X.chunks[0]):
        X = X.compute_chunk_sizes()
    check_features(estimator, X.shape[1], X.dtype, reset=reset)
    X = X.rechunk({1: -1})
    checks = {"finite": da.isfinite(X).all()}
    takes_nan = takes_missing(estimator)
    if takes_nan:
        checks["infinite"] = da.isinf(X).any()
    if sample_weight is not None:
        sample_weight = da.asarray(sample_weight).astype(X.dtype)
        check_row_shape(sample_weight, X.shape[0], "sample_weight")
        sample_weight = sample_weight.rechunk((X.chunks[0],))
        checks["weights"] = WeightSummary.reductions(da, sample_weight)
        checks["total"] = sample_weight.sum(dtype=np.float64)
    (checks,) = dask.compute(checks)
    missing = takes_nan and not checks["finite"] and not checks["infinite"]
    if missing:
        nan = da.isnan(X)
        empty_rows, empty_columns = dask.compute(
            da.flatnonzero(nan.all(axis=1)), da.flatnonzero(nan.all(axis=0))
        )
        # A column never observed in new rows is only missing there.
        check_observed(empty_rows, empty_columns if reset else empty_columns[:0])
    else:
        check_finite(
            checks["finite"],
            lambda: not checks.get("infinite") and bool(da.isnan(X).any().compute()),
            X.dtype,
            estimator,
        )
    summary, total = None, float(X.shape[0])
    if sample_weight is not None:
        summary = WeightSummary(*checks["weights"])
        summary.check()
        total = summary.n_positive if summary.uniform else float(checks["total"])
    if fit:
        n_positive = X.shape[0] if summary is None else summary.n_positive
        check_sample_counts(
            X.shape[0], n_positive, n_components, X.shape, type(estimator).__name__
        )
    if labels is not None:
        labels = da.asarray(labels)
        check_row_shape(labels, X.shape[0], "y")
        labels = labels.rechunk((X.chunks[0],))
    width = row_width(X, n_components)
    return DaskSamples(X, sample_weight, summary, float(total), width, labels, missing)


def dask_labels(y):
    """:func:`sklearn_otmix._data.check_labels` of a Dask ``y``: its distinct
    values are computed (one pass), the rows' class indices stay lazy."""
    _, da = _import_dask()
    y = da.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected. Please "
            "change the shape of y to (n_samples,), for example using ravel().",
            DataConversionWarning,
            stacklevel=4,
        )
        y = y[:, 0]
    if y.ndim != 1:
        raise ValueError(
            f"y should be a 1d array of labels, got an array of shape {y.shape} "
            "instead."
        )
    if any(math.isnan(size) for size in y.chunks[0]):
        y = y.compute_chunk_sizes()
    classes, marker = _classes_of(da.unique(y).compute())
    indices = y.map_blocks(label_indices, classes, marker, dtype=np.int64)
    return classes, indices
