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
    for row in rows:
        assert row["gm_s"] > 0 and row["ot_s"] > 0 and row["ot_mib"] > 0
        # Same problem, same initial parameters: the same fit (NaN where the
        # case solves another problem, reg_m=inf).
        assert np.isnan(row["difference"]) or row["difference"] < 1e-5, row
    assert rows[-1]["dtype"] == "float32"
    assert "GM/OT" in capsys.readouterr().out


def test_dask_benchmark_runs(capsys):
    pytest.importorskip("dask.array")
    pytest.importorskip("distributed")
    row = _benchmark_module("bench_dask").main(["--quick", "--iterations", "2"])
    assert row["n"] == 20_000 and row["chunks"] == 4
    assert row["dask_s"] > 0 and row["client_traced_mib"] > 0
    assert row["vs_in_memory"] < 1e-8
    assert "Dask fit" in capsys.readouterr().out
