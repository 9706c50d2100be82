"""python -m sklearn_otmix: the demo and the clustering of a file."""

import subprocess
import sys

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
