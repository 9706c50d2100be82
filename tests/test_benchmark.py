"""A small run of the benchmark, so that it cannot rot (timings are not checked)."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest


def _benchmark_module(name="bench_fit"):
    path = Path(__file__).parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_runs_every_case(capsys):
    bench = _benchmark_module()
    rows = bench.main(["--quick", "--repeats", "1", "--iterations", "2"])
    assert [row["case"] for row in rows] == [case[0] for case in bench.CASES]
    out = capsys.readouterr().out
    for row in rows:
        # The ratio column is the ratio of the two medians, as printed.
        assert row["speedup"] == pytest.approx(row["gm_s"] / row["ot_s"])
        line = next(
            line for line in out.splitlines() if line.startswith(f"{row['case']:<24}")
        )
        assert f"{row['speedup']:.2f}" in line.split()
        # Peak memory of a fit of 2,000 rows or fewer: traced, and small.
        assert 0 < row["ot_mib"] < 64 and 0 < row["gm_mib"] < 64
        # Same problem, same initial parameters: the same fit (NaN where the
        # case solves another problem, reg_m=inf).
        assert np.isnan(row["difference"]) or row["difference"] < 1e-5, row
    assert rows[-1]["dtype"] == "float32"
    assert "GM/OT" in out


def test_dask_benchmark_runs(capsys):
    pytest.importorskip("dask.array")
    pytest.importorskip("distributed")
    row = _benchmark_module("bench_dask").main(["--quick", "--iterations", "2"])
    assert row["n"] == 20_000 and row["chunks"] == 4
    assert row["dask_s"] > 0 and row["client_traced_mib"] > 0
    assert row["vs_in_memory"] < 1e-8
    assert "Dask fit" in capsys.readouterr().out


def test_phase_benchmark_adds_up(capsys):
    bench = _benchmark_module("bench_phases")
    results = bench.main(["--quick", "full", "diag"])
    assert sorted(results) == ["diag", "full"]
    for phases in results.values():
        timed = ["moments", "cost product", "plan", "statistics product", "M-step"]
        assert all(phases[name] > 0 for name in timed)
        assert phases["iteration"] > 0 and phases["rate"] > 0
    assert "% of dgemm" in capsys.readouterr().out


def test_fixed_weights_benchmark_runs(capsys):
    bench = _benchmark_module("bench_fixed_weights")
    rows = bench.main(["--quick", "--repeats", "1", "--iterations", "3"])
    assert [row[1] for row in rows] == ["separated", "overlapping"]
    for _, _, median, passes in rows:
        assert len(passes) == 3 and all(p >= 1 for p in passes)
        assert all(seconds > 0 for seconds in median.values())
    assert "passes per E-step" in capsys.readouterr().out


def test_semi_supervised_benchmark_runs(capsys):
    results = _benchmark_module("bench_semi_supervised").main(["--quick"])
    scores = results["wine"]
    assert sorted(scores) == [0.1, 0.25]
    for table in scores.values():
        # Every method, two draws: accuracies of fits that succeeded.
        assert table.shape == (6, 2)
        assert np.all((table >= 0) & (table <= 1))
    out = capsys.readouterr().out
    assert "accuracy on the unlabelled rows" in out and "LabelSpreading" in out


def test_discriminant_parity_table(capsys):
    rows = _benchmark_module("discriminant_parity").main()
    assert len(rows) == 4
    for cells in rows.values():
        # The LDA columns: numbers within the tests' 1e-8.
        assert all(float(cell) < 1e-8 for cell in cells[:3])
    assert "LDA covariance" in capsys.readouterr().out


def test_weight_bounds_benchmark_runs(capsys):
    rows = _benchmark_module("bench_weight_bounds").main(
        ["--n", "300", "--repeats", "1"]
    )
    _, excess, row_error, _ = rows["dual (package)"]
    assert excess < 1e-9 and row_error < 1e-12
    assert "POT partial" in capsys.readouterr().out
