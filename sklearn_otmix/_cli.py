"""Command line: ``python -m sklearn_otmix [DATA] [options]``.

Without ``DATA`` it runs the demo: ``GaussianMixture`` and ``OTGaussianMixture``
side by side on the wine data that ships with scikit-learn. With a ``.csv`` or
``.npy`` file it clusters that file.

The file is only ever parsed as numbers: a ``.npy`` file by NumPy's format
reader without pickles (an array of Python objects is refused from its header),
a CSV file cell by cell with ``float``; nothing is unpickled or evaluated. Paths
that are not regular files (directories, FIFOs, devices) are refused before
they are opened. Every problem with the file is reported in one line on
stderr, with exit status 2.
"""

import argparse
import csv
import io
import math
import os
import stat
import sys
import warnings
from pathlib import Path
from time import perf_counter

import numpy as np

from ._estimator import OTGaussianMixture


class InputError(Exception):
    """A problem with the user's file or options, reported in one line."""


def _parser():
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_otmix",
        description=(
            "Gaussian mixtures fitted as entropic optimal transport. Without DATA, "
            "compare GaussianMixture and OTGaussianMixture on scikit-learn's wine "
            "data; with DATA, cluster that file."
        ),
    )
    parser.add_argument(
        "data",
        nargs="?",
        help="a .csv file (numeric columns, optional header row) or a .npy array "
        "of shape (n_samples, n_features)",
    )
    parser.add_argument(
        "--n-components", type=int, default=3, help="number of components (3)"
    )
    parser.add_argument(
        "--covariance-type",
        choices=["full", "tied", "diag", "spherical"],
        default="full",
        help="covariance type (full)",
    )
    parser.add_argument(
        "--reg-m",
        type=float,
        default=0.0,
        help="penalty on the mixing weights: 0 is EM, inf fixes them uniform (0)",
    )
    parser.add_argument(
        "--random-state", type=int, default=0, help="seed of the initialisation (0)"
    )
    parser.add_argument(
        "--output", help="write one label per line (with a 'label' header) to this .csv"
    )
    return parser


# What the command line reads, and how it refuses the rest. It only ever reads
# numbers: never a pickle (``.npy`` files are parsed by NumPy's format reader
# with ``allow_pickle=False``, their header by ``ast.literal_eval``), never
# ``eval``. Every problem with the file is an InputError: one line on stderr.

_MAX_NPY_HEADER = 10_000  # NumPy's own limit on a .npy header (bytes)

_NOT_REGULAR = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _shown(path):
    """``path`` as text that is safe to print on one line: repr-escaped when it
    holds control characters or bytes undecodable in the file-system encoding."""
    text = str(path)
    return text if text.isprintable() else ascii(text)


def _one_line(text):
    """A message on one line, whatever line breaks it holds."""
    return " ".join(str(text).split())


def _check_path(path):
    """Refuse ``path`` unless it is a regular file (or a link to one), from its
    metadata alone: opening a FIFO would block, opening a device may act on it."""
    shown = _shown(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.lexists(path):
            raise InputError(
                f"cannot read {shown}: a broken symbolic link (its target does not "
                "exist)"
            ) from None
        raise InputError(f"cannot read {shown}: No such file or directory") from None
    except OSError as error:
        raise InputError(f"cannot read {shown}: {error.strerror or error}") from None
    except ValueError as error:  # an embedded null byte
        raise InputError(f"cannot read {shown}: {error}") from None
    _check_regular(path, info.st_mode)


def _read_regular_file(path):
    """The bytes of ``path``, checked by :func:`_check_path`. The descriptor is
    opened without blocking and checked again, so that a path swapped in
    meanwhile cannot make the command hang or read a device either."""
    shown = _shown(path)
    flags = os.O_RDONLY
    for name in ("O_NONBLOCK", "O_NOCTTY", "O_BINARY"):
        flags |= getattr(os, name, 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as error:
        raise InputError(f"cannot read {shown}: {error.strerror or error}") from None
    with os.fdopen(descriptor, "rb") as handle:
        _check_regular(path, os.fstat(handle.fileno()).st_mode)
        try:
            return handle.read()
        except OSError as error:
            raise InputError(
                f"cannot read {shown}: {error.strerror or error}"
            ) from None


def _check_regular(path, mode):
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _NOT_REGULAR if test(mode)), "not a file")
    if os.path.islink(path):
        kind = f"a symbolic link to {kind}"
    raise InputError(f"cannot read {_shown(path)}: it is {kind}, not a regular file")


def _read_csv(path, data):
    shown = _shown(path)
    if not data.strip():
        raise InputError(f"{shown} holds no data rows: the file is empty")
    if b"\0" in data:
        raise InputError(f"cannot read {shown}: NUL bytes: binary data, not CSV text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise InputError(
            f"cannot read {shown}: not UTF-8 text (undecodable byte on line "
            f"{line}); expected a CSV file of numbers"
        ) from None
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    except csv.Error as error:
        raise InputError(f"cannot read {shown}: malformed CSV ({error})") from None
    header = bool(rows) and not _is_numeric(rows[0])
    if header:
        rows = rows[1:]
    if not rows:
        what = "only a header row" if header else "no rows"
        raise InputError(f"{shown} holds no data rows ({what})")
    width = len(rows[0])
    values = np.empty((len(rows), width))
    for line, row in enumerate(rows, start=1):
        if len(row) != width:
            raise InputError(
                f"{shown}: data row {line} has {len(row)} columns, expected {width}"
            )
        for column, cell in enumerate(row, start=1):
            try:
                values[line - 1, column - 1] = float(cell)
            except ValueError:
                raise InputError(
                    f"{shown}: non-numeric value {cell[:40]!r} in data row {line}, "
                    f"column {column}; keep only numeric columns"
                ) from None
    return values


def _is_numeric(row):
    try:
        [float(cell) for cell in row]
    except ValueError:
        return False
    return True


def _read_npy(path, data):
    """A numeric array from the bytes of a .npy file, or InputError. Nothing is
    unpickled: object arrays are refused from their header, before any data."""
    shown = _shown(path)
    handle = io.BytesIO(data)
    fmt = np.lib.format
    if not data.startswith(fmt.MAGIC_PREFIX):
        if data and fmt.MAGIC_PREFIX.startswith(data):
            what = f"truncated to {len(data)} bytes"
        elif data.startswith(b"PK\x03\x04"):
            what = "a zip archive (.npz?); save one array with numpy.save"
        elif data[:1] == b"\x80":
            what = "a pickle, which the command line never loads"
        elif not data:
            what = "an empty file"
        else:
            what = "missing NumPy's magic string"
        raise InputError(f"cannot read {shown}: not a .npy file ({what})")
    try:
        version = fmt.read_magic(handle)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"unsupported .npy format version {version}")
        size_bytes = 2 if version == (1, 0) else 4
        header_size = int.from_bytes(data[8 : 8 + size_bytes], "little")
        if header_size > _MAX_NPY_HEADER:
            raise ValueError(f"a header of {header_size} bytes is too long")
        read_header = getattr(fmt, f"read_array_header_{version[0]}_0")
        shape, _, dtype = read_header(handle)
    except (ValueError, SyntaxError, RecursionError, MemoryError) as error:
        raise InputError(
            f"cannot read {shown}: not a valid .npy file ({_one_line(error)})"
        ) from None
    if dtype.hasobject:
        raise InputError(
            f"cannot read {shown}: it holds an array of Python objects (dtype "
            f"{dtype}), which would need unpickling; the command line reads "
            "numeric arrays only"
        )
    if len(shape) != 2 or dtype.kind not in "iuf":
        raise InputError(
            f"{shown}: expected a numeric array of shape (n_samples, n_features), "
            f"got dtype {dtype} and shape {shape}"
        )
    if any(n < 0 for n in shape):
        raise InputError(f"cannot read {shown}: not a valid .npy file (shape {shape})")
    expected = math.prod(shape) * dtype.itemsize
    held = len(data) - handle.tell()
    if held != expected:
        problem = "truncated" if held < expected else "corrupt"
        raise InputError(
            f"cannot read {shown}: {problem} .npy file: its header describes "
            f"{expected} bytes of data (shape {shape}, dtype {dtype}), the file "
            f"holds {held}"
        )
    handle.seek(0)
    try:
        X = fmt.read_array(handle, allow_pickle=False)
    except (ValueError, MemoryError) as error:
        raise InputError(
            f"cannot read {shown}: not a valid .npy file ({_one_line(error)})"
        ) from None
    return X


def load_data(path):
    """Read a .csv or .npy file as a 2-D float array, or raise InputError.

    Only regular files are read; their contents are parsed as numbers, never
    evaluated or unpickled.
    """
    path = Path(path)
    shown = _shown(path)
    _check_path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".npy"):
        why = ""
        if suffix in (".npz", ".pkl", ".pickle", ".joblib", ".skops"):
            why = " (archives and pickles are never loaded)"
        raise InputError(f"{shown}: expected a .csv or .npy file{why}")
    data = _read_regular_file(path)
    if suffix == ".csv":
        X = _read_csv(path, data)
    else:
        X = _read_npy(path, data)
    X = X.astype(np.float64, copy=False)
    finite = np.isfinite(X)
    if not finite.all():
        row, column = np.argwhere(~finite)[0]
        where = (
            f"data row {row + 1}, column {column + 1}"
            if suffix == ".csv"
            else f"entry [{row}, {column}]"
        )
        raise InputError(
            f"{shown}: {where} is {X[row, column]} ({np.count_nonzero(~finite)} "
            "NaN or infinite value(s) in all); the mixture needs finite values: "
            "remove or impute them"
        )
    return X


def _demo(args):
    from sklearn.datasets import load_wine
    from sklearn.metrics import adjusted_rand_score
    from sklearn.mixture import GaussianMixture
    from sklearn.preprocessing import StandardScaler

    data = load_wine()
    X = StandardScaler().fit_transform(data.data)
    n_samples, n_features = X.shape
    print(
        f"wine (scikit-learn): {n_samples} samples, {n_features} standardised "
        f"features, {len(data.target_names)} cultivars; "
        f"n_components={args.n_components}, covariance_type={args.covariance_type!r}"
    )
    shared = dict(
        n_components=args.n_components,
        covariance_type=args.covariance_type,
        random_state=args.random_state,
    )
    models = [
        ("GaussianMixture", GaussianMixture(**shared)),
        ("OTGaussianMixture", OTGaussianMixture(**shared)),
        ("OTGaussianMixture(reg_m=inf)", OTGaussianMixture(reg_m=np.inf, **shared)),
    ]
    header = f"{'model':<30}{'mean log-lik':>14}{'BIC':>12}{'ARI':>8}{'fit (ms)':>10}"
    print(header)
    print("-" * len(header))
    for name, model in models:
        start = perf_counter()
        labels = model.fit_predict(X)
        elapsed = perf_counter() - start
        print(
            f"{name:<30}{model.score(X):>14.6f}{model.bic(X):>12.2f}"
            f"{adjusted_rand_score(data.target, labels):>8.3f}{1e3 * elapsed:>10.1f}"
        )
    print(
        "The first two rows agree: by default OTGaussianMixture is EM. The last "
        "fixes the weights to be uniform (Sinkhorn EM)."
    )


def _cluster(args):
    X = load_data(args.data)
    model = OTGaussianMixture(
        n_components=args.n_components,
        covariance_type=args.covariance_type,
        reg_m=args.reg_m,
        random_state=args.random_state,
    )
    try:
        labels = model.fit_predict(X)
        score, bic = model.score(X), model.bic(X)
    except (ValueError, ArithmeticError) as error:  # LinAlgError is a ValueError
        raise InputError(f"{_shown(args.data)}: {_one_line(error)}") from None
    sizes = np.bincount(labels, minlength=args.n_components)
    print(f"{_shown(args.data)}: {X.shape[0]} samples, {X.shape[1]} features")
    print(
        f"mean log-likelihood {score:.6f}, BIC {bic:.2f}, "
        f"{model.n_iter_} iterations, converged: {model.converged_}"
    )
    for k in range(args.n_components):
        print(f"  component {k}: weight {model.weights_[k]:.4f}, {sizes[k]} samples")
    if args.output:
        try:
            with open(args.output, "w", newline="") as handle:
                handle.write("label\n")
                handle.writelines(f"{label}\n" for label in labels)
        except (OSError, ValueError) as error:
            reason = getattr(error, "strerror", None) or _one_line(error)
            raise InputError(f"cannot write {_shown(args.output)}: {reason}") from None
        print(f"labels written to {_shown(args.output)}")


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings on one line each, without the source line."""
    print(
        f"python -m sklearn_otmix: warning: {category.__name__}: "
        f"{_one_line(message)}",
        file=sys.stderr if file is None else file,
    )


def main(argv=None):
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        return _run(args)


def _run(args):
    try:
        if args.n_components < 1:
            raise InputError("--n-components must be at least 1")
        if args.reg_m < 0:
            raise InputError("--reg-m must be non-negative")
        if args.data is None:
            _demo(args)
        else:
            _cluster(args)
    except InputError as error:
        print(f"python -m sklearn_otmix: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("python -m sklearn_otmix: interrupted", file=sys.stderr)
        return 130
    return 0
