"""What differs between array libraries, and nothing else.

Every computation of the package is written once over an array namespace ``xp``
(the array API standard). This module holds the few operations whose best or only
form depends on the library: where numpy has a faster kernel (in-place updates,
reductions over short rows, ``lstsq``), where libraries fail differently (a
Cholesky factorisation that raises or gives NaN), whether POT takes the arrays,
and the moves between host and device. No other module tests which library it
runs on.

With ``sklearn.set_config(array_api_dispatch=True)``, arrays of another namespace
(torch tensors on any device, CuPy arrays, ``array_api_strict`` arrays) are
computed on in that namespace and on that device. Without dispatch, or for numpy
input, the namespace is numpy's. The namespaces come from ``array_api_compat``,
as vendored by scikit-learn.
"""

import functools
import math

import numpy as np
import ot
from sklearn import get_config
from sklearn.externals import array_api_compat

# Bytes of temporaries per block of rows: on a CPU, enough rows that numpy's
# per-call overhead vanishes behind the matrix products (a block's moments then
# live in the last-level cache); on an accelerator, enough to keep it busy.
_CPU_BLOCK_BYTES = 2**24
_ACCELERATOR_BLOCK_BYTES = 2**28

_NUMPY = array_api_compat.array_namespace(np.zeros(0))


def get_namespace(*arrays):
    """Namespace and device that a computation on ``arrays`` runs in.

    Parameters
    ----------
    *arrays : array-like or None
        Arrays other than array-API objects (lists, data frames, None) do not
        count.

    Returns
    -------
    xp : module
        numpy's array-API namespace without dispatch or for numpy arrays;
        otherwise the namespace of the arrays.
    device : object or None
        Their device; None for numpy.
    """
    if not get_config()["array_api_dispatch"]:
        return _NUMPY, None
    arrays = [
        array
        for array in arrays
        if array_api_compat.is_array_api_obj(array)
        and not array_api_compat.is_numpy_array(array)
    ]
    if not arrays:
        return _NUMPY, None
    return array_api_compat.array_namespace(*arrays), array_api_compat.device(arrays[0])


def namespace_of(array):
    """Namespace of one array (numpy's array-API namespace for numpy arrays)."""
    if type(array) is np.ndarray:
        # Called many times per block: numpy's answer without the inspection.
        return _NUMPY
    return array_api_compat.array_namespace(array)


def to_numpy(array):
    """A numpy copy of ``array`` on the host (``array`` itself if numpy)."""
    if array_api_compat.is_numpy_array(array):
        return array
    if array_api_compat.is_torch_array(array):
        return array.detach().cpu().numpy()
    if array_api_compat.is_cupy_array(array):
        return array.get()
    return np.from_dlpack(array)


def host(array):
    """A host (numpy) copy of an array of another namespace; others as given."""
    if array_api_compat.is_array_api_obj(array):
        return to_numpy(array)
    return array


def asarray(array, xp, device=None, dtype=None):
    """``array`` (numpy or array-like) in namespace ``xp`` on ``device``."""
    return xp.asarray(array, dtype=dtype, device=device)


def astype(array, dtype, copy=False):
    """``array`` as ``dtype``, a copy only where needed unless ``copy``."""
    return namespace_of(array).astype(array, dtype, copy=copy)


def on_device_of(array):
    """Keywords that create an array on ``array``'s device."""
    return {"device": array_api_compat.device(array)}


def _on_cpu(array):
    device = array_api_compat.device(array)
    on_cpu = getattr(device, "type", "cpu") == "cpu"  # torch's, or another CPU
    return on_cpu and not array_api_compat.is_cupy_array(array)


def block_bytes(array):
    """Bytes of temporaries per block of rows for computations on ``array``."""
    return _CPU_BLOCK_BYTES if _on_cpu(array) else _ACCELERATOR_BLOCK_BYTES


def finfo(array):
    """Floating-point limits of ``array``'s dtype."""
    return namespace_of(array).finfo(array.dtype)


def concat(arrays):
    """The arrays, one after another along the first axis."""
    return namespace_of(arrays[0]).concat(arrays, axis=0)


def float_dtypes(xp):
    """The floating dtypes that the fit computes in: float64, then float32."""
    return [xp.float64, xp.float32]


def fill_where(values, mask, value):
    """``values`` with ``value`` where ``mask`` (of the shape of ``values``'
    last axes, broadcast over the first ones): in place in numpy."""
    if array_api_compat.is_numpy_array(values):
        values[(slice(None),) * (values.ndim - mask.ndim) + (mask,)] = value
        return values
    xp = namespace_of(values)
    filler = xp.asarray(value, dtype=values.dtype, **on_device_of(values))
    return xp.where(mask, filler, values)


def added_at(values, pairs, n_features):
    """numpy: for each leading index ``k``, the entries of ``values[k]`` (in
    C order) added into a ``(d, d)`` matrix at the flat ``pairs``, one per
    entry: one ``bincount``, shape (K, d, d)."""
    K, d = values.shape[0], n_features
    index = pairs[None, :] + (np.arange(K) * (d * d))[:, None]
    sums = np.bincount(index.ravel(), weights=values.ravel(), minlength=K * d * d)
    return sums.reshape(K, d, d)


def embedded_sums(values, spread, pairs, n_features):
    """``sum_i E_i^T V_ki E_i`` for each leading index ``k``: the ``(m, m)``
    matrices ``values`` (shape (K, n, m, m)) added into the ``(d, d)``
    positions that the 0/1 matrices ``spread`` (n, m, d) give them, whose flat
    indices ``pairs`` (n m m,) lists. numpy adds them at their positions
    (one ``bincount``, ``K n m^2`` additions); other libraries multiply by
    ``spread`` (no scatter in the array API; ``K n m d^2`` operations)."""
    K, n, m, _ = values.shape
    d = n_features
    if array_api_compat.is_numpy_array(values):
        return added_at(values, pairs, d)
    xp = namespace_of(values)
    placed = xp.reshape(values @ spread, (K, n * m, d))
    return xp.matrix_transpose(xp.reshape(spread, (n * m, d))) @ placed


def rows_added(array, parts):
    """``array`` with, for each ``(rows, values)`` of ``parts``, ``values``
    added to its ``rows`` along axis 1 (``rows``: host integer arrays, no
    row in two parts). numpy adds in place; the array API has no scatter, so
    elsewhere the parts' values are stacked and taken back in row order."""
    if not parts:
        return array
    if array_api_compat.is_numpy_array(array):
        for rows, values in parts:
            array[:, rows] += values
        return array
    xp = namespace_of(array)
    index = np.zeros(array.shape[1], dtype=np.int64)
    start = 1
    for rows, _ in parts:
        index[rows] = np.arange(start, start + rows.shape[0])
        start += rows.shape[0]
    zero = xp.zeros_like(array[:, :1, ...])
    stacked = xp.concat([zero] + [values for _, values in parts], axis=1)
    index = xp.asarray(index, **on_device_of(array))
    return array + xp.take(stacked, index, axis=1)


def put_entries(array, entries, mask, values):
    """``array`` (K, n_rows, d) with ``values`` at the positions of ``mask``
    (n_rows, d), whose flat indices ``entries`` lists: ``values`` a scalar,
    or parts ``(rows, values, spread)`` whose ``values`` (K, n_r, m) go to
    rows ``rows`` (host integers) at the columns that the 0/1 matrices
    ``spread`` (n_r, m, d) give, ``entries`` listing those positions part
    after part (zero there before). numpy writes in place at ``entries``;
    the array API has no scatter, so elsewhere a scalar is written through
    ``mask`` and the parts' values are spread over their rows
    (:func:`rows_added`)."""
    K, n, d = array.shape
    if isinstance(values, list) and not values:
        return array
    if array_api_compat.is_numpy_array(array):
        flat = array.reshape(K, n * d)
        if isinstance(values, list):
            values = np.concatenate(
                [np.reshape(part, (K, -1)) for _, part, _ in values], axis=1
            )
        flat[:, entries] = values
        return flat.reshape(K, n, d)
    if not isinstance(values, list):
        return fill_where(array, mask, values)
    return rows_added(
        array,
        [
            (rows, (part[..., None, :] @ spread)[..., 0, :])
            for rows, part, spread in values
        ],
    )


def matrix_vector(matrices, vectors):
    """``matrices @ vectors`` over the leading axes: ``(..., m, m)`` by
    ``(..., m)``; numpy's ``einsum`` is two to three times faster than its
    ``matmul`` on many small matrices."""
    if array_api_compat.is_numpy_array(matrices):
        return np.einsum("...ij,...j->...i", matrices, vectors)
    return (matrices @ vectors[..., None])[..., 0]


def row_dots(left, right):
    """``sum_d left[..., d] right[..., d]`` over the last axis, without the
    product's temporary where the library has ``einsum``."""
    if array_api_compat.is_numpy_array(left):
        return np.einsum("...d,...d->...", left, right)
    return namespace_of(left).sum(left * right, axis=-1)


def in_rows(array):
    """``array`` laid out row by row (C order): numpy's matrix products of a
    transposed view or of a product with one fall off their BLAS paths, ten
    times slower; other libraries as given."""
    if array_api_compat.is_numpy_array(array):
        return np.ascontiguousarray(array)
    return array


def is_host_array(array):
    """Whether ``array`` is a numpy array (also a Dask chunk's)."""
    return array_api_compat.is_numpy_array(array)


def exp(values):
    """``exp(values)``, overwriting ``values`` where the library allows it, with
    the results below the normal range flushed to zero.

    Below ``2.2e-308`` (``1.2e-38`` in float32) a number is subnormal, and a
    CPU's arithmetic on subnormals is tens of times slower: a plan holding them
    (the entries of far components) made the matrix products that read it
    twenty times slower (``diag``, d=100), and numpy's float32 ``exp`` of such
    arguments nine times slower. Those arguments are raised to the edge of the
    normal range first, where ``exp`` is fast, and their results set to zero
    (exact zeros, also for infinite costs): values below ``e`` times the smallest
    normal number, below any tolerance.
    """
    xp = namespace_of(values)
    # One above the logarithm of the smallest normal number: its own exp, once
    # rounded to the dtype, is normal.
    edge = math.log(xp.finfo(values.dtype).smallest_normal) + 1.0
    low = values < edge
    if array_api_compat.is_numpy_array(values):
        if not low.any():
            return np.exp(values, out=values)
        np.maximum(values, edge, out=values)
        np.exp(values, out=values)
        return np.multiply(values, ~low, out=values)
    floor = xp.asarray(edge, dtype=values.dtype, **on_device_of(values))
    values = xp.exp(xp.maximum(values, floor))
    return xp.where(low, xp.zeros_like(values), values)


def row_max(values):
    """Largest entry of each row of a matrix, shape (n_rows, 1).

    numpy reduces a short trailing axis slowly: a running maximum over the
    columns is four times faster for ten columns (``benchmarks/bench_phases.py``).
    """
    if not array_api_compat.is_numpy_array(values):
        return namespace_of(values).max(values, axis=1, keepdims=True)
    largest = values[:, 0].copy()
    for k in range(1, values.shape[1]):
        np.maximum(largest, values[:, k], out=largest)
    return largest[:, np.newaxis]


def row_sum(values):
    """Sum of each row of a matrix: a matrix product with ones, which numpy
    computes several times faster than a reduction over a short trailing axis."""
    xp = namespace_of(values)
    return values @ xp.ones(values.shape[1], dtype=values.dtype, **on_device_of(values))


def moment_rows(x, centre, products):
    """The rows ``[1; (x - c)^T; products of (x - c)^T]``, shape (m, n_rows).

    ``products`` is ``"upper"`` (``y_a y_b`` for ``a <= b``, row by row),
    ``"squares"`` (``y_a^2``) or None. numpy fills one array in place, a row
    against the rows below it at a time: long contiguous rows, no temporaries.
    """
    n_rows, n_features = x.shape
    n_products = {"upper": n_features * (n_features + 1) // 2, "squares": n_features}
    size = 1 + n_features + n_products.get(products, 0)
    if array_api_compat.is_numpy_array(x):
        out = np.empty((size, n_rows), dtype=x.dtype)
        centred = out[1 : 1 + n_features]
        np.subtract(x.T, centre[:, np.newaxis], out=centred)
    else:
        # Filled row by row, as numpy's: the same layout, the same products.
        xp = namespace_of(x)
        out = xp.empty((size, n_rows), dtype=x.dtype, **on_device_of(x))
        out[1 : 1 + n_features, :] = xp.matrix_transpose(x - centre)
        centred = out[1 : 1 + n_features, :]
    out[0, :] = 1.0
    start = 1 + n_features
    if products == "upper":
        for a in range(n_features):
            stop = start + n_features - a
            _multiply_into(out, start, stop, centred[a : a + 1, :], centred[a:, :])
            start = stop
    elif products == "squares":
        _multiply_into(out, start, size, centred, centred)
    return out


def _multiply_into(out, start, stop, left, right):
    """``out[start:stop] = left * right``, in place for numpy."""
    if array_api_compat.is_numpy_array(out):
        np.multiply(left, right, out=out[start:stop])
    else:
        out[start:stop, :] = left * right


def xlogy(x, y):
    """``x log y``, zero where ``x`` is zero."""
    xp = namespace_of(x)
    positive = x > 0
    return xp.where(positive, x * xp.log(xp.where(positive, y, 1.0)), 0.0)


def add_to_diagonal(matrices, value):
    """``value`` added to the diagonal of each matrix (in place for numpy)."""
    n_features = matrices.shape[-1]
    if array_api_compat.is_numpy_array(matrices):
        diagonal = np.arange(n_features)
        matrices[..., diagonal, diagonal] += value
        return matrices
    xp = namespace_of(matrices)
    identity = xp.eye(n_features, dtype=matrices.dtype, **on_device_of(matrices))
    return matrices + value * identity


def least_squares(matrix, vector):
    """Least-squares solution of ``matrix @ x = vector``: numpy's ``lstsq``, the
    pseudo-inverse elsewhere (not every namespace has ``lstsq``)."""
    if array_api_compat.is_numpy_array(matrix):
        return np.linalg.lstsq(matrix, vector, rcond=None)[0]
    return namespace_of(matrix).linalg.pinv(matrix) @ vector


def cholesky(matrices):
    """Lower Cholesky factors, or None where a matrix is not positive definite.

    A failed factorisation raises in numpy, torch and ``array_api_strict`` but
    gives NaN in CuPy: both count as failures.
    """
    xp = namespace_of(matrices)
    try:
        lower = xp.linalg.cholesky(matrices)
    except (np.linalg.LinAlgError, ValueError, RuntimeError):  # numpy's, torch's
        return None
    if not array_api_compat.is_numpy_array(lower) and not bool(
        xp.all(xp.isfinite(lower))
    ):
        return None
    return lower


def inverse_transposed(lower):
    """``C^{-T}`` of lower-triangular matrices ``C``: upper triangular, the
    round-off below the diagonal cleared (one batched inverse; elsewhere a
    solve against an identity per matrix, as not every library broadcasts
    one)."""
    if array_api_compat.is_numpy_array(lower):
        inverse = np.swapaxes(np.linalg.inv(lower), -1, -2)
        inverse *= _upper_mask(lower.shape[-1])
        return inverse
    xp = namespace_of(lower)
    identity = xp.zeros_like(lower) + xp.eye(
        lower.shape[-1], dtype=lower.dtype, **on_device_of(lower)
    )
    return xp.triu(xp.matrix_transpose(xp.linalg.solve(lower, identity)))


@functools.lru_cache(maxsize=8)
def _upper_mask(n_features):
    return np.triu(np.ones((n_features, n_features)))


def pot_takes(*arrays):
    """Whether POT has a backend for ``arrays`` (not for ``array_api_strict``)."""
    try:
        ot.backend.get_backend(*arrays)
    except ValueError:
        return False
    return True


def check_same_namespace(X, fitted, name):
    """Raise when ``X`` is not in the namespace and on the device of ``fitted``.

    Raises
    ------
    ValueError
        Naming the method, and saying how to move ``X``.
    """
    if not get_config()["array_api_dispatch"]:
        return
    xp_fit, device_fit = get_namespace(fitted)
    xp_X, device_X = get_namespace(X)
    if xp_fit is xp_X and device_fit == device_X:
        return
    raise ValueError(
        f"Inputs passed to {name} must use the same namespace and the same device "
        f"as those passed to fit(): fitted in {xp_fit.__name__} on {device_fit}, "
        f"got {xp_X.__name__} on {device_X}. Move X there first, or fit again."
    )
