"""Array namespaces: numpy, or any array-API library under scikit-learn's dispatch.

With ``sklearn.set_config(array_api_dispatch=True)``, arrays of another namespace
(torch tensors on any device, CuPy arrays, ``array_api_strict`` arrays) are fitted
in that namespace and on that device. Without dispatch, or for numpy input, the
namespace is the ``numpy`` module itself, and the numpy code path runs unchanged.

The namespaces come from ``array_api_compat``, as vendored by scikit-learn.
"""

import numpy as np
from sklearn import get_config
from sklearn.externals import array_api_compat

# Bytes of temporaries per block of rows: a few megabytes keep a block in a CPU's
# cache; on an accelerator, blocks that large would be too many small kernels.
_CPU_BLOCK_BYTES = 2**23
_ACCELERATOR_BLOCK_BYTES = 2**28


def get_namespace(*arrays):
    """Namespace and device of ``arrays``: ``(numpy, None)`` on the numpy path.

    Parameters
    ----------
    *arrays : array-like or None
        Arrays other than array-API objects (lists, data frames, None) do not
        count.

    Returns
    -------
    xp : module
        ``numpy`` without dispatch or for numpy arrays; otherwise the
        ``array_api_compat`` namespace of the arrays.
    device : object or None
        Their device, None on the numpy path.
    """
    if not get_config()["array_api_dispatch"]:
        return np, None
    arrays = [
        array
        for array in arrays
        if array_api_compat.is_array_api_obj(array)
        and not array_api_compat.is_numpy_array(array)
    ]
    if not arrays:
        return np, None
    return array_api_compat.array_namespace(*arrays), array_api_compat.device(arrays[0])


def namespace_of(array):
    """Namespace of one array computed on: ``numpy`` for numpy arrays."""
    if array_api_compat.is_numpy_array(array):
        return np
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


def asarray(array, xp, device, dtype=None):
    """``array`` (numpy or array-like) in namespace ``xp`` on ``device``."""
    if xp is np:
        return np.asarray(array, dtype=dtype)
    return xp.asarray(array, dtype=dtype, device=device)


def astype(array, dtype, copy=False):
    """``array`` as ``dtype``, a copy only where needed unless ``copy``."""
    if array_api_compat.is_numpy_array(array):
        return array.astype(dtype, copy=copy)
    return namespace_of(array).astype(array, dtype, copy=copy)


def on_device_of(array):
    """Keywords that create an array on ``array``'s device: none for numpy."""
    if array_api_compat.is_numpy_array(array):
        return {}
    return {"device": array_api_compat.device(array)}


def block_bytes(array):
    """Bytes of temporaries per block of rows for computations on ``array``."""
    device = array_api_compat.device(array)
    on_cpu = getattr(device, "type", "cpu") == "cpu"  # torch's, or another CPU
    if array_api_compat.is_cupy_array(array) or not on_cpu:
        return _ACCELERATOR_BLOCK_BYTES
    return _CPU_BLOCK_BYTES


def logsumexp(values, axis, xp):
    """``log sum exp`` along ``axis``, stable: the largest entry is taken out."""
    largest = xp.max(values, axis=axis, keepdims=True)
    # A row of -inf only (all components infinitely far) stays -inf.
    largest = xp.where(xp.isfinite(largest), largest, xp.zeros_like(largest))
    total = xp.sum(xp.exp(values - largest), axis=axis, keepdims=True)
    return xp.squeeze(xp.log(total) + largest, axis=axis)


def xlogy(x, y, xp):
    """``x log y``, zero where ``x`` is zero."""
    positive = x > 0
    return xp.where(positive, x * xp.log(xp.where(positive, y, 1.0)), 0.0)


def check_same_namespace(X, estimator, attribute, method):
    """Raise when ``X`` is not in the namespace and on the device of the fit.

    Raises
    ------
    ValueError
        Naming the method, and saying how to move ``X``.
    """
    if not get_config()["array_api_dispatch"]:
        return
    fitted = getattr(estimator, attribute)
    xp_fit, device_fit = get_namespace(fitted)
    xp_X, device_X = get_namespace(X)
    if xp_fit is xp_X and device_fit == device_X:
        return
    name = f"{type(estimator).__name__}.{method}()"
    raise ValueError(
        f"Inputs passed to {name} must use the same namespace and the same device "
        f"as those passed to fit(): fitted in {xp_fit.__name__} on {device_fit}, "
        f"got {xp_X.__name__} on {device_X}. Move X there first, or fit again."
    )
