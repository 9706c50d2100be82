"""Command line: ``python -m sklearn_otmix [DATA] [options]``.

Without ``DATA`` it runs the demo: ``GaussianMixture`` and ``OTGaussianMixture``
side by side on the wine data that ships with scikit-learn. With a ``.csv`` or
``.npy`` file it clusters that file: one mixture (any covariance model, any
regime), or mclust's search over models and numbers of components
(``--search``); it writes the labels and, on request, the probabilities
(``--output``, ``--proba``), saves the fitted model with skops (``--save``),
and predicts a new file with a saved model (``--model``).

The data file is only ever parsed as numbers: a ``.npy`` file by NumPy's
format reader without pickles (an array of Python objects is refused from its
header), a CSV file cell by cell with ``float``; nothing is unpickled or
evaluated. A saved model is read by ``skops.io``, which builds no object of a
type it is not told to trust, and is told to trust the package's own
estimators only. Paths that are not regular files (directories, FIFOs,
devices) are refused before they are opened. Every problem with the files or
the options is reported in one line on stderr, with exit status 2.
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
from ._models import MODELS
from ._selection import OTGaussianMixtureSearch, mclust_template


class InputError(Exception):
    """A problem with the user's file or options, reported in one line."""


#: The covariance models: scikit-learn's four and mclust's 14.
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical", *MODELS)

#: The types that a model saved by ``--save`` holds beyond skops' defaults
#: (see the user guide, "Saving and loading models"): ``--model`` trusts
#: these and refuses a file that holds any other.
TRUSTED_TYPES = (
    "sklearn_otmix._estimator.OTGaussianMixture",
    "sklearn_otmix._selection.OTGaussianMixtureSearch",
    "sklearn_otmix._online.Stream",
    "sklearn_otmix._gaussian.Statistics",
)

EXAMPLES = """\
examples:
  python -m sklearn_otmix
      the demo: GaussianMixture and OTGaussianMixture on scikit-learn's wine data
  python -m sklearn_otmix data.csv --n-components 4 --covariance-type VEV \\
      --output labels.csv
      one mixture of mclust's VEV model, its labels written to labels.csv
  python -m sklearn_otmix data.csv --search --criterion icl --save model.skops
      mclust's search (1 to 9 components, the 14 models) and its table; the
      fitted search, which predicts with its best mixture, saved with skops
  python -m sklearn_otmix new.csv --model model.skops --output out.csv --proba
      labels and probabilities of new rows under the saved model
  python -m sklearn_otmix data.csv --n-components 3 --reg-m inf \\
      --target-weights 0.5,0.3,0.2
      known mixing weights (Sinkhorn EM)
"""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in one line (exit status 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {_one_line(message)}\n")


def _parser():
    parser = _Parser(
        prog="python -m sklearn_otmix",
        description=(
            "Gaussian mixtures fitted as entropic optimal transport. Without DATA,\n"
            "compare GaussianMixture and OTGaussianMixture on scikit-learn's wine\n"
            "data; with DATA, cluster that file, or predict it with a saved model."
        ),
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "data",
        nargs="?",
        help="a .csv file (numeric columns, optional header row) or a .npy array "
        "of shape (n_samples, n_features)",
    )
    mixture = parser.add_argument_group("the mixture")
    mixture.add_argument(
        "--n-components",
        type=_components,
        default=None,
        metavar="K",
        help="number of components (3); with --search, a range or a list "
        "(1-9 or 2,4,6; default 1-9)",
    )
    mixture.add_argument(
        "--covariance-type",
        choices=COVARIANCE_TYPES,
        default="full",
        metavar="MODEL",
        help="covariance model: full, tied, diag, spherical, or one of mclust's "
        f"{', '.join(MODELS)} (full)",
    )
    mixture.add_argument(
        "--random-state", type=int, default=0, help="seed of the initialisation (0)"
    )
    regimes = parser.add_argument_group("the regime (see the user guide)")
    regimes.add_argument(
        "--reg-m",
        type=float,
        default=0.0,
        help="penalty on the mixing weights: 0 is EM, inf fixes them to the "
        "target weights (0)",
    )
    regimes.add_argument(
        "--reg",
        type=float,
        default=1.0,
        help="entropic temperature: 1 is maximum likelihood, smaller values make "
        "harder assignments (1)",
    )
    regimes.add_argument(
        "--target-weights",
        type=_numbers,
        metavar="W1,W2,...",
        help="target mixing weights, one per component (uniform); used with "
        "--reg-m > 0",
    )
    regimes.add_argument(
        "--weight-bounds",
        type=_numbers,
        metavar="LOW,HIGH",
        help="bounds on each estimated weight (with --reg-m 0)",
    )
    search = parser.add_argument_group("model selection (mclust's Mclust)")
    search.add_argument(
        "--search",
        action="store_true",
        help="choose the model and the number of components by BIC or ICL, and "
        "print the table",
    )
    search.add_argument(
        "--models",
        type=_names,
        metavar="M1,M2,...",
        help="the covariance models tried by --search (mclust's 14)",
    )
    search.add_argument(
        "--criterion", choices=["bic", "icl"], default="bic", help="(bic)"
    )
    search.add_argument(
        "--n-jobs", type=int, default=None, help="fits run in parallel (1)"
    )
    files = parser.add_argument_group("output and saved models")
    files.add_argument(
        "--output",
        metavar="FILE.csv",
        help="write one label per line (with a 'label' header) to this .csv",
    )
    files.add_argument(
        "--proba",
        action="store_true",
        help="with --output, also each component's probability (columns proba_0, "
        "proba_1, ...)",
    )
    files.add_argument(
        "--save",
        metavar="FILE.skops",
        help="save the fitted model (or search) with skops (pip install skops)",
    )
    files.add_argument(
        "--model",
        metavar="FILE.skops",
        help="predict DATA with a model saved by --save instead of fitting one",
    )
    return parser


def _components(text):
    """``--n-components``: ``K``, ``A-B`` or ``A,B,...`` as a tuple of ints."""
    try:
        if "-" in text.strip().lstrip("-"):
            low, high = (int(part) for part in text.split("-"))
            values = tuple(range(low, high + 1))
        else:
            values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number, a range (1-9) or a list (2,4,6), got {text!r}"
        ) from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"numbers of components must be at least 1, got {text!r}"
        )
    return values


def _numbers(text):
    """A comma-separated list of finite numbers."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas, got {text!r}"
        ) from None
    if not all(math.isfinite(value) for value in values):
        raise argparse.ArgumentTypeError(f"expected finite numbers, got {text!r}")
    return values


def _names(text):
    """A comma-separated list of covariance models."""
    names = tuple(part.strip() for part in text.split(","))
    unknown = [name for name in names if name not in COVARIANCE_TYPES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown covariance model(s) {', '.join(unknown)}; choose among "
            f"{', '.join(COVARIANCE_TYPES)}"
        )
    return names


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
    n_components = _single(args)
    print(
        f"wine (scikit-learn): {n_samples} samples, {n_features} standardised "
        f"features, {len(data.target_names)} cultivars; "
        f"n_components={n_components}, covariance_type={args.covariance_type!r}"
    )
    shared = dict(
        n_components=n_components,
        covariance_type=args.covariance_type,
        random_state=args.random_state,
    )
    models = [
        ("OTGaussianMixture", OTGaussianMixture(**shared)),
        ("OTGaussianMixture(reg_m=inf)", OTGaussianMixture(reg_m=np.inf, **shared)),
    ]
    if args.covariance_type in ("full", "tied", "diag", "spherical"):
        models.insert(0, ("GaussianMixture", GaussianMixture(**shared)))
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


def _single(args):
    """The one number of components of a fit (3 by default)."""
    if args.n_components is None:
        return 3
    if len(args.n_components) > 1:
        raise InputError(
            "--n-components takes a range or a list with --search only; give one "
            "number to fit one mixture"
        )
    return args.n_components[0]


def _mixture(args, n_components):
    """The estimator that the options describe."""
    settings = dict(
        n_components=n_components,
        covariance_type=args.covariance_type,
        reg=args.reg,
        reg_m=args.reg_m,
        random_state=args.random_state,
    )
    if args.target_weights is not None:
        settings["target_weights"] = np.asarray(args.target_weights)
    if args.weight_bounds is not None:
        if len(args.weight_bounds) != 2:
            raise InputError("--weight-bounds takes two numbers: LOW,HIGH")
        settings["weight_bounds"] = tuple(args.weight_bounds)
    if not args.search:
        return OTGaussianMixture(**settings)
    # The search's template: mclust's start and stopping rule (the search's
    # default estimator), with the regime of the options.
    template = mclust_template()
    settings.pop("n_components")
    settings.pop("covariance_type")
    random_state = settings.pop("random_state")
    return OTGaussianMixtureSearch(
        template.set_params(**settings),
        n_components=args.n_components,
        covariance_types=args.models,
        criterion=args.criterion,
        n_jobs=args.n_jobs,
        random_state=random_state,
    )


def _cluster(args):
    X = load_data(args.data)
    n_components = None if args.search else _single(args)
    model = _mixture(args, n_components)
    try:
        with warnings.catch_warnings():
            if args.search:
                # The search reports its cells' warnings in its table.
                warnings.simplefilter("ignore")
            model.fit(X)
        mixture = model.best_estimator_ if args.search else model
        labels = mixture.predict(X)
        score, bic = mixture.score(X), mixture.bic(X)
    except (ValueError, ArithmeticError) as error:  # LinAlgError is a ValueError
        raise InputError(f"{_shown(args.data)}: {_one_line(error)}") from None
    print(f"{_shown(args.data)}: {X.shape[0]} samples, {X.shape[1]} features")
    if args.search:
        _print_table(model)
    print(
        f"{mixture.covariance_type}, {mixture.n_components} components: "
        f"mean log-likelihood {score:.6f}, BIC {bic:.2f}, "
        f"{mixture.n_iter_} iterations, converged: {mixture.converged_}"
    )
    sizes = np.bincount(labels, minlength=mixture.n_components)
    for k in range(mixture.n_components):
        print(f"  component {k}: weight {mixture.weights_[k]:.4f}, {sizes[k]} samples")
    _write(args, mixture, X, labels)
    if args.save:
        _save(model, args.save)


def _print_table(search):
    """The search's criterion for each model (rows) and number of components
    (columns), lower is better; ``-`` where a cell was not fitted."""
    results = search.cv_results_
    criterion = search.criterion
    models = list(dict.fromkeys(results["param_covariance_type"]))
    counts = sorted(set(results["param_n_components"]))
    value = {
        (model, count): score
        for model, count, score in zip(
            results["param_covariance_type"],
            results["param_n_components"],
            results[criterion],
            strict=True,
        )
    }
    print(f"{criterion.upper()} (lower is better; minus mclust's) by model and K:")
    print("     " + "".join(f"{count:>12}" for count in counts))
    for model in models:
        cells = []
        for count in counts:
            score = value.get((model, count), math.nan)
            cells.append(f"{score:>12.2f}" if math.isfinite(score) else f"{'-':>12}")
        print(f"{model:<5}" + "".join(cells))
    best = search.best_params_
    print(
        f"best: {best['covariance_type']} with {best['n_components']} components, "
        f"{criterion.upper()} {search.best_criterion_:.2f}"
    )


def _write(args, model, X, labels):
    """``--output``: the labels, and with ``--proba`` the probabilities (as
    ``repr`` writes them: read back, they are the same floats)."""
    if not args.output:
        return
    proba = model.predict_proba(X) if args.proba else np.empty((len(labels), 0))
    header = ["label"] + [f"proba_{k}" for k in range(proba.shape[1])]
    try:
        with open(args.output, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            for label, row in zip(labels, proba, strict=True):
                writer.writerow([int(label)] + [repr(float(p)) for p in row])
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or _one_line(error)
        raise InputError(f"cannot write {_shown(args.output)}: {reason}") from None
    what = "labels and probabilities" if args.proba else "labels"
    print(f"{what} written to {_shown(args.output)}")


def _skops():
    try:
        import skops.io
    except ImportError:
        raise InputError(
            "saving and loading models needs skops: pip install skops"
        ) from None
    return skops.io


def _save(model, path):
    """``--save``: the fitted model in skops' format (no pickle)."""
    sio = _skops()
    try:
        sio.dump(model, path)
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or _one_line(error)
        raise InputError(f"cannot write {_shown(path)}: {reason}") from None
    print(f"model saved to {_shown(path)}")


def load_model(path):
    """A model saved by ``--save``, or raise InputError: read by skops, which
    is told to trust :data:`TRUSTED_TYPES` only (a file that holds another
    type is refused, and nothing is unpickled)."""
    sio = _skops()
    shown = _shown(path)
    _check_path(path)
    data = _read_regular_file(path)
    try:
        untrusted = sio.get_untrusted_types(data=data)
    except Exception as error:  # skops reports a bad file in many ways
        raise InputError(
            f"cannot read {shown}: not a model saved by skops ({_one_line(error)})"
        ) from None
    refused = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if refused:
        raise InputError(
            f"{shown}: refused to load types that are not sklearn-otmix's "
            f"estimators: {', '.join(refused)}"
        )
    try:
        model = sio.loads(data, trusted=untrusted)
    except Exception as error:
        raise InputError(f"cannot read {shown}: {_one_line(error)}") from None
    if not isinstance(model, (OTGaussianMixture, OTGaussianMixtureSearch)):
        raise InputError(
            f"{shown}: holds a {type(model).__name__}, not a model saved by "
            "python -m sklearn_otmix --save"
        )
    return model


def _predict(args):
    """``--model``: the labels (and probabilities) of DATA under a saved model."""
    model = load_model(args.model)
    X = load_data(args.data)
    mixture = getattr(model, "best_estimator_", model)
    try:
        labels = model.predict(X)
        score = model.score(X)
    except (ValueError, ArithmeticError) as error:
        raise InputError(f"{_shown(args.data)}: {_one_line(error)}") from None
    print(
        f"{_shown(args.data)}: {X.shape[0]} samples, {X.shape[1]} features; model "
        f"{_shown(args.model)}: {mixture.covariance_type}, "
        f"{mixture.n_components} components"
    )
    print(f"mean log-likelihood {score:.6f}")
    sizes = np.bincount(labels, minlength=mixture.n_components)
    for k in range(mixture.n_components):
        print(f"  component {k}: {sizes[k]} samples")
    _write(args, model, X, labels)


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
        if args.reg_m < 0 or math.isnan(args.reg_m):
            raise InputError("--reg-m must be non-negative")
        if not args.reg > 0 or math.isinf(args.reg):
            raise InputError("--reg must be a positive number")
        if args.proba and not args.output:
            raise InputError("--proba adds columns to --output: give --output too")
        if args.model and (args.search or args.save):
            raise InputError("--model predicts with a saved model: it fits nothing")
        if args.data is None:
            if args.model or args.output or args.save or args.search:
                raise InputError("give a DATA file (.csv or .npy)")
            _demo(args)
        elif args.model:
            _predict(args)
        else:
            _cluster(args)
    except InputError as error:
        print(f"python -m sklearn_otmix: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("python -m sklearn_otmix: interrupted", file=sys.stderr)
        return 130
    return 0
