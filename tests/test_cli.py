"""python -m sklearn_otmix: the demo and the clustering of a file."""

import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import DATASETS

from sklearn_otmix._cli import main


def test_demo_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_otmix"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines if line[:1].isupper()}
    # By default the two estimators agree on every reported figure but the time.
    assert rows["GaussianMixture"][:3] == rows["OTGaussianMixture"][:3]
    assert "OTGaussianMixture(reg_m=inf)" in rows
    assert "Traceback" not in result.stderr


def test_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in ("--n-components", "--covariance-type", "--output"):
        assert option in out


@pytest.mark.parametrize("suffix", [".csv", ".npy"])
def test_cluster_a_file(tmp_path, capsys, suffix):
    X, _ = DATASETS["iris"]
    path = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        header = "sepal_l,sepal_w,petal_l,petal_w\n"
        path.write_text(header + "\n".join(",".join(map(str, row)) for row in X))
    else:
        np.save(path, X)
    output = tmp_path / "labels.csv"
    status = main(
        [
            str(path),
            "--n-components",
            "3",
            "--covariance-type",
            "diag",
            "--output",
            str(output),
        ]
    )
    assert status == 0
    assert "150 samples, 4 features" in capsys.readouterr().out
    labels = output.read_text().split()
    assert labels[0] == "label" and len(labels) == 151
    assert set(labels[1:]) == {"0", "1", "2"}


def _error_of(argv, capsys):
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 2
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_an_error_is_one_line_without_traceback(tmp_path):
    """As a process: what an uncaught exception would print is seen there."""
    path = tmp_path / "tiny.csv"
    path.write_text("1,2\n3,4\n")
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_otmix", str(path), "--n-components", "3"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr and "n_components" in result.stderr


def test_missing_file(tmp_path, capsys):
    err = _error_of([str(tmp_path / "nope.csv")], capsys)
    assert "No such file" in err


def test_unreadable_npy(tmp_path, capsys):
    path = tmp_path / "broken.npy"
    path.write_bytes(b"not an array")
    assert "cannot read" in _error_of([str(path)], capsys)


def test_non_numeric_columns(tmp_path, capsys):
    path = tmp_path / "mixed.csv"
    path.write_text("a,b\n1.0,x\n2.0,y\n3.0,z\n")
    err = _error_of([str(path)], capsys)
    assert "non-numeric value 'x'" in err and "column 2" in err


def test_unsupported_extension(tmp_path, capsys):
    path = tmp_path / "data.txt"
    path.write_text("1,2\n")
    assert "expected a .csv or .npy file" in _error_of([str(path)], capsys)


def test_too_few_samples_for_the_components(tmp_path, capsys):
    path = tmp_path / "tiny.csv"
    path.write_text("1,2\n3,4\n")
    assert "n_components" in _error_of([str(path), "--n-components", "3"], capsys)


# --------------------------------------------------------------------------------
# Files that are not data: refused in one line (exit status 2), never opened when
# they are not regular files, never unpickled or evaluated.

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no os.mkfifo")


class _Payload:
    """Unpickling this creates the directory ``marker``: a pickle that acts."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.mkdir, (self.marker,)


def _valid_npy(path, X=None):
    np.save(path, np.arange(60.0).reshape(20, 3) if X is None else X)
    return path.read_bytes()


def _write(path, content):
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


def _case(tmp_path, name):
    """(path, words the one-line error must hold) of a refused input."""
    if name == "directory":
        path = tmp_path / "folder"
        path.mkdir()
        return path, ["is a directory", "not a regular file"]
    if name == "directory-named-csv":
        path = tmp_path / "data.csv"
        path.mkdir()
        return path, ["is a directory", "not a regular file"]
    if name == "fifo":
        path = tmp_path / "pipe.csv"
        os.mkfifo(path)
        return path, ["named pipe (FIFO)", "not a regular file"]
    if name == "dev-null":
        return Path(os.devnull), ["character device", "not a regular file"]
    if name == "missing":
        return tmp_path / "nope.npy", ["No such file"]
    if name == "broken-symlink":
        path = tmp_path / "dangling.csv"
        path.symlink_to(tmp_path / "gone.csv")
        return path, ["broken symbolic link"]
    if name == "symlink-to-directory":
        (tmp_path / "folder").mkdir()
        path = tmp_path / "link.csv"
        path.symlink_to(tmp_path / "folder", target_is_directory=True)
        return path, ["symbolic link to a directory", "not a regular file"]
    if name == "npz":
        path = tmp_path / "arrays.npz"
        np.savez(path, X=np.ones((5, 2)))
        return path, ["expected a .csv or .npy file", "never loaded"]
    if name == "pkl":
        path = _write(tmp_path / "model.pkl", pickle.dumps(np.ones((5, 2))))
        return path, ["expected a .csv or .npy file", "never loaded"]
    if name == "object-npy":
        path = tmp_path / "objects.npy"
        np.save(path, np.array([{"a": 1}, [2, 3]], dtype=object), allow_pickle=True)
        return path, ["Python objects", "dtype object"]
    if name == "npz-named-npy":
        path = tmp_path / "archive.npy"
        with open(path, "wb") as handle:
            np.savez(handle, X=np.ones((5, 2)))
        return path, ["not a .npy file", "zip archive"]
    if name == "pickle-named-npy":
        path = _write(tmp_path / "pickled.npy", pickle.dumps(np.ones((5, 2))))
        return path, ["not a .npy file", "pickle"]
    if name == "text-named-npy":
        path = _write(tmp_path / "text.npy", "1,2\n3,4\n5,6\n")
        return path, ["not a .npy file", "magic string"]
    if name == "empty-npy":
        return _write(tmp_path / "empty.npy", b""), ["not a .npy file", "empty"]
    if name.startswith("truncated-npy-"):
        path = tmp_path / "cut.npy"
        data = _valid_npy(path)
        cut = {"magic": 4, "version": 7, "header": 40, "data": len(data) - 9}
        path.write_bytes(data[: cut[name.rsplit("-", 1)[1]]])
        return path, ["truncated" if name.endswith(("magic", "data")) else "EOF"]
    if name == "trailing-bytes-npy":
        path = tmp_path / "long.npy"
        path.write_bytes(_valid_npy(path) + b"\0" * 16)
        return path, ["corrupt .npy file", "the file holds"]
    if name == "corrupt-header-npy":
        path = tmp_path / "header.npy"
        data = _valid_npy(path)
        path.write_bytes(data.replace(b"'descr'", b"'dxscr'"))
        return path, ["not a valid .npy file"]
    if name == "complex-npy":
        path = tmp_path / "complex.npy"
        _valid_npy(path, np.ones((5, 2)) + 1j)
        return path, ["expected a numeric array", "complex128"]
    if name == "1d-npy":
        path = tmp_path / "flat.npy"
        _valid_npy(path, np.arange(10.0))
        return path, ["expected a numeric array", "shape (10,)"]
    if name == "nan-npy":
        path = tmp_path / "nan.npy"
        X = np.arange(20.0).reshape(10, 2)
        X[3, 1] = np.nan
        _valid_npy(path, X)
        return path, ["entry [3, 1] is nan", "finite"]
    if name == "non-numeric-csv":
        path = _write(tmp_path / "mixed.csv", "a,b\n1.0,x\n2.0,y\n3.0,z\n")
        return path, ["non-numeric value 'x'", "data row 1, column 2"]
    if name == "expression-csv":  # looks like code: read as text, never run
        marker = tmp_path / "evaluated"
        code = f"__import__('os').mkdir({str(marker)!r})"
        return _write(tmp_path / "code.csv", f"1,2\n3,{code}\n"), ["non-numeric"]
    if name == "ragged-csv":
        path = _write(tmp_path / "ragged.csv", "x,y\n1,2\n3,4\n5\n7,8\n")
        return path, ["data row 3 has 1 columns, expected 2"]
    if name == "empty-csv":
        return _write(tmp_path / "empty.csv", ""), ["no data rows", "empty"]
    if name == "blank-csv":
        return _write(tmp_path / "blank.csv", "\n  \n\n"), ["no data rows", "empty"]
    if name == "header-only-csv":
        path = _write(tmp_path / "header.csv", "a,b,c\n")
        return path, ["no data rows", "only a header row"]
    if name == "nan-csv":
        path = _write(tmp_path / "nan.csv", "1,2\n3,nan\n5,6\n7,8\n")
        return path, ["data row 2, column 2 is nan", "finite"]
    if name == "inf-csv":
        path = _write(tmp_path / "inf.csv", "1,2\n3,4\n-inf,6\n7,1e999\n")
        return path, ["data row 3, column 1 is -inf", "2 NaN or infinite"]
    if name == "binary-csv":
        path = _write(tmp_path / "binary.csv", b"1,2\n3,\xff\xfe\n")
        return path, ["not UTF-8 text", "line 2"]
    if name == "nul-csv":
        path = _write(tmp_path / "nul.csv", b"1,2\n3\x00,4\n")
        return path, ["NUL bytes"]
    raise ValueError(name)


CASES = [
    "directory",
    "directory-named-csv",
    pytest.param("fifo", marks=needs_fifo),
    pytest.param(
        "dev-null", marks=pytest.mark.skipif(os.name != "posix", reason="POSIX")
    ),
    "missing",
    "broken-symlink",
    "symlink-to-directory",
    "npz",
    "pkl",
    "object-npy",
    "npz-named-npy",
    "pickle-named-npy",
    "text-named-npy",
    "empty-npy",
    "truncated-npy-magic",
    "truncated-npy-version",
    "truncated-npy-header",
    "truncated-npy-data",
    "trailing-bytes-npy",
    "corrupt-header-npy",
    "complex-npy",
    "1d-npy",
    "nan-npy",
    "non-numeric-csv",
    "expression-csv",
    "ragged-csv",
    "empty-csv",
    "blank-csv",
    "header-only-csv",
    "nan-csv",
    "inf-csv",
    "binary-csv",
    "nul-csv",
]


def _main_in_thread(argv, timeout=60):
    """main(argv) in a thread: a call that blocks (on a FIFO, say) fails the
    test instead of hanging it."""
    outcome = {}

    def target():
        try:
            outcome["status"] = main(argv)
        except BaseException as error:  # noqa: BLE001 - reported below
            outcome["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    return thread.is_alive(), outcome


@pytest.mark.parametrize("name", CASES)
def test_refused_in_one_line(tmp_path, capsys, name):
    path, words = _case(tmp_path, name)
    blocked, outcome = _main_in_thread([str(path)])
    if blocked and name == "fifo":  # release the reader before failing
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    assert not blocked, f"main({path}) blocked"
    assert "error" not in outcome, repr(outcome.get("error"))
    captured = capsys.readouterr()
    assert outcome["status"] == 2
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and captured.err.endswith("\n"), captured.err
    (line,) = lines
    assert line.startswith("python -m sklearn_otmix: error: "), line
    assert "Traceback" not in line
    assert str(path) in line, line  # names the path
    for word in words:  # and what is wrong with it
        assert word in line, line
    assert not (tmp_path / "evaluated").exists()


SUBPROCESS_CASES = [
    pytest.param("fifo", marks=needs_fifo),
    pytest.param(
        "dev-null", marks=pytest.mark.skipif(os.name != "posix", reason="POSIX")
    ),
    "symlink-to-directory",
    "object-npy",
    "truncated-npy-data",
    "nan-csv",
]


@pytest.fixture(scope="module")
def processes(tmp_path_factory):
    """Every case of SUBPROCESS_CASES run as ``python -m sklearn_otmix PATH``,
    all at once: {name: (path, words, returncode, stdout, stderr)}. (A few: each
    process imports scikit-learn; test_refused_in_one_line runs every case.)"""
    running = {}
    for param in SUBPROCESS_CASES:
        name = getattr(param, "values", (param,))[0]
        if name == "fifo" and not hasattr(os, "mkfifo"):
            continue
        path, words = _case(tmp_path_factory.mktemp(name), name)
        process = subprocess.Popen(
            [sys.executable, "-m", "sklearn_otmix", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        running[name] = (path, words, process)
    results = {}
    for name, (path, words, process) in running.items():
        try:
            out, err = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            results[name] = (path, words, "timed out", out, err)
            continue
        results[name] = (path, words, process.returncode, out, err)
    return results


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_refused_in_one_line_as_a_process(processes, name):
    path, words, returncode, out, err = processes[name]
    assert returncode == 2, (returncode, err)
    assert out == ""
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    assert err.startswith("python -m sklearn_otmix: error: ")
    assert str(path) in err
    for word in words:
        assert word in err, err


@pytest.mark.parametrize("suffix", [".npy", ".pkl", ".csv"])
def test_pickles_are_never_loaded(tmp_path, capsys, suffix):
    """A pickle that would create a directory when loaded, under three names,
    and inside an object array: refused, and the directory never appears."""
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(_Payload(marker))
    pickle.loads(payload)  # the payload works ...
    assert marker.is_dir()
    marker.rmdir()
    path = _write(tmp_path / f"payload{suffix}", payload)
    assert _error_of([str(path)], capsys).count(str(path)) == 1
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([_Payload(marker), 1], dtype=object), allow_pickle=True)
    assert "Python objects" in _error_of([str(objects)], capsys)
    assert not marker.exists()  # ... and none was run


def test_symlink_to_a_file_is_read(tmp_path, capsys):
    X, _ = DATASETS["iris"]
    np.save(tmp_path / "iris.npy", X)
    link = tmp_path / "link.npy"
    link.symlink_to(tmp_path / "iris.npy")
    assert main([str(link), "--n-components", "2"]) == 0
    assert "150 samples, 4 features" in capsys.readouterr().out


@pytest.mark.parametrize("kind", ["fortran", "big-endian", "int32", "float32"])
def test_numeric_npy_variants_are_read(tmp_path, capsys, kind):
    X, _ = DATASETS["iris"]
    X = {
        "fortran": np.asfortranarray(X),
        "big-endian": X.astype(">f8"),
        "int32": (10 * X).astype(np.int32),
        "float32": X.astype(np.float32),
    }[kind]
    np.save(tmp_path / "data.npy", X)
    assert main([str(tmp_path / "data.npy"), "--n-components", "2"]) == 0
    assert "150 samples, 4 features" in capsys.readouterr().out


def test_a_path_with_a_line_break_stays_on_one_line(tmp_path, capsys):
    path = _write(tmp_path / "two\nlines.csv", "a,b\n1,x\n")
    err = _error_of([str(path)], capsys)
    assert "two\\nlines.csv" in err and "non-numeric" in err


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="permissions do not bind root",
)
def test_unreadable_file(tmp_path, capsys):
    path = _write(tmp_path / "secret.csv", "1,2\n3,4\n")
    path.chmod(0)
    try:
        err = _error_of([str(path)], capsys)
    finally:
        path.chmod(0o600)
    assert "cannot read" in err and "Permission denied" in err


def test_estimator_errors_are_one_line_and_name_the_file(tmp_path, capsys):
    """The estimator's own messages may span lines; the command joins them."""
    path = tmp_path / "empty_rows.npy"
    np.save(path, np.ones((0, 3)))
    err = _error_of([str(path)], capsys)
    assert err.startswith(f"python -m sklearn_otmix: error: {path}: ")
    assert "0 sample(s)" in err


def test_warnings_are_one_line_each(tmp_path, capsys):
    """Warnings of the fit keep to one line each, without source lines."""
    path = _write(tmp_path / "same.csv", "1,1\n" * 10)
    assert main([str(path), "--n-components", "2"]) == 0
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines and "Traceback" not in err
    assert all(
        line.startswith("python -m sklearn_otmix: warning: ") for line in lines
    ), err
    assert any("ConvergenceWarning" in line for line in lines), err
