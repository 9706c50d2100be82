"""A small run of the benchmark, so that it cannot rot (timings are not checked)."""

import re

import numpy as np
import pytest
from helpers import benchmark_module


def test_benchmark_runs_every_case(capsys):
    bench = benchmark_module("bench_fit")
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
    row = benchmark_module("bench_dask").main(["--quick", "--iterations", "2"])
    assert row["n"] == 20_000 and row["chunks"] == 4
    assert row["dask_s"] > 0 and row["client_traced_mib"] > 0
    assert row["vs_in_memory"] < 1e-8
    assert "Dask fit" in capsys.readouterr().out


def test_phase_benchmark_adds_up(capsys):
    bench = benchmark_module("bench_phases")
    results = bench.main(["--quick", "full", "diag"])
    assert sorted(results) == ["diag", "full"]
    for phases in results.values():
        timed = ["moments", "cost product", "plan", "statistics product", "M-step"]
        assert all(phases[name] > 0 for name in timed)
        assert phases["iteration"] > 0 and phases["rate"] > 0
    assert "% of dgemm" in capsys.readouterr().out


def test_fixed_weights_benchmark_runs(capsys):
    bench = benchmark_module("bench_fixed_weights")
    rows = bench.main(["--quick", "--repeats", "1", "--iterations", "3"])
    assert [row[1] for row in rows] == ["separated", "overlapping"]
    for _, _, median, passes in rows:
        assert len(passes) == 3 and all(p >= 1 for p in passes)
        assert all(seconds > 0 for seconds in median.values())
    assert "passes per E-step" in capsys.readouterr().out


def test_semi_supervised_benchmark_runs(capsys):
    results = benchmark_module("bench_semi_supervised").main(["--quick"])
    scores = results["wine"]
    assert sorted(scores) == [0.1, 0.25]
    for table in scores.values():
        # Every method, two draws: accuracies of fits that succeeded.
        assert table.shape == (8, 2)
        assert np.all((table >= 0) & (table <= 1))
    out = capsys.readouterr().out
    assert "accuracy on the unlabelled rows" in out and "LabelSpreading" in out
    assert "the default against the labelled rows alone" in out
    assert "every cell holds:" in out


def test_discriminant_parity_table(capsys):
    rows = benchmark_module("discriminant_parity").main()
    assert len(rows) == 4
    for cells in rows.values():
        # The LDA columns: numbers within the tests' 1e-8.
        assert all(float(cell) < 1e-8 for cell in cells[:3])
    assert "LDA covariance" in capsys.readouterr().out


def test_weight_bounds_benchmark_runs(capsys):
    rows = benchmark_module("bench_weight_bounds").main(
        ["--n", "300", "--repeats", "1"]
    )
    _, excess, row_error, _ = rows["dual (package)"]
    assert excess < 1e-9 and row_error < 1e-12
    assert "POT partial" in capsys.readouterr().out


def _mclust_side(seconds, model, G, bic):
    return {"seconds": seconds, "choice": (model, G), "bic": bic, "error": None}


def _rst_cells(table):
    """The cells of an RST simple table, read off the spans of its borders."""
    lines = table.splitlines()
    border = lines[0]
    assert lines[2] == border and lines[-1] == border
    assert set(border) == {"=", " "}
    spans = [(m.start(), m.end()) for m in re.finditer("=+", border)]
    rows = []
    for line in [lines[1], *lines[3:-1]]:
        line = line.ljust(len(border))
        # Between the columns: blanks only, so no cell spills into the next.
        gaps = zip([end for _, end in spans[:-1]], [start for start, _ in spans[1:]])
        assert all(not line[a:b].strip() for a, b in gaps), line
        rows.append([line[a:b].strip() for a, b in spans])
    return rows


def test_mclust_benchmark_data_and_table():
    bench = benchmark_module("bench_mclust")
    # The generated mixture: fixed seed, four components of the stated
    # weights, means SEPARATION apart, full covariances.
    X, labels = bench.mixture(20_000)
    assert X.shape == (20_000, 5)
    np.testing.assert_array_equal(bench.mixture(20_000)[0], X)
    assert not np.allclose(bench.mixture(20_000, seed=1)[0], X)
    np.testing.assert_allclose(np.bincount(labels) / len(X), bench.WEIGHTS, atol=0.01)
    means = np.array([X[labels == k].mean(axis=0) for k in range(4)])
    gaps = np.linalg.norm(means[:, None] - means[None], axis=-1)[np.triu_indices(4, 1)]
    np.testing.assert_allclose(gaps, bench.SEPARATION, rtol=0.05)
    for k in range(4):
        correlations = np.corrcoef(X[labels == k].T)[np.triu_indices(5, 1)]
        assert np.abs(correlations).max() > 0.1  # not diagonal
        spread = np.linalg.eigvalsh(np.cov(X[labels == k].T))
        assert 0.2 < spread.min() and spread.max() < 2.2

    # Ours on a small grid, without R: its choice, R's columns "n/a".
    X, _ = bench.mixture(400)
    result = bench.measure(
        X,
        with_r=False,
        with_parallel=False,
        n_components=[3, 4, 5],
        covariance_types=["VVV"],
    )
    assert result["mclust"] is None and result["ours2"] is None
    assert result["ours"]["choice"] == ("VVV", 4) and result["ours"]["error"] is None
    row = bench.table_row("gen400", result)
    assert row[:4] == ["gen400", "400", "5", "n/a"]
    assert row[5:8] == ["n/a", "n/a", "n/a (ours: VVV,4)"]
    assert float(row[4]) > 0 and float(row[9]) == pytest.approx(result["ours"]["bic"])

    # Rows from known results: the ratio, the choices, the BICs.
    differ = {
        "n": 150,
        "d": 4,
        "mclust": _mclust_side(2.0, "VEV", 3, -580.0),
        "ours": _mclust_side(5.0, "VVV", 4, -590.12345),
        "ours2": _mclust_side(3.0, "VVV", 4, -590.12345),
    }
    same = dict(differ, ours=_mclust_side(1.0, "VEV", 3, -580.0004))
    rows = [bench.table_row("differ", differ), bench.table_row("same", same)]
    assert rows[0] == [
        "differ",
        "150",
        "4",
        "2.00",
        "5.00",
        "2.50",
        "3.00",
        "no: VEV,3 vs VVV,4",
        "-580.000",
        "-590.123",
    ]
    assert rows[1][5] == "0.50" and rows[1][7] == "yes: VEV,3"

    plain = bench.format_table(rows).splitlines()
    assert re.split(r"\s{2,}", plain[0]) == bench.HEADER
    assert set(plain[1]) == {"-"}
    for line, cells in zip(plain[2:], rows, strict=True):
        assert re.split(r"\s{2,}", line.strip()) == cells
    assert _rst_cells(bench.format_table(rows, rst=True)) == [bench.HEADER, *rows]


def test_mclust_benchmark_against_r():
    bench = benchmark_module("bench_mclust")
    if not bench.agreement.has_mclust():
        pytest.skip("Rscript with R's mclust is missing")
    X, _ = bench.mixture(300, n_features=3)
    result = bench.measure(X, with_parallel=False, n_components=[1])
    theirs = result["mclust"]
    assert theirs["error"] is None and theirs["seconds"] > 0
    model, G = theirs["choice"]
    assert G == 4  # the generated mixture has four components
    # Ours, on Mclust's model alone: the same choice, the same BIC.
    search = dict(n_components=[3, 4, 5], covariance_types=[model])
    result["ours"] = bench.measure(X, with_r=False, with_parallel=False, **search)[
        "ours"
    ]
    row = bench.table_row("gen300", result)
    assert row[7] == f"yes: {model},4"
    assert float(row[8]) == pytest.approx(float(row[9]), rel=1e-3)


def test_discriminant_table_runs(capsys):
    results = benchmark_module("discriminant_table").main(["--data", "iris", "wine"])
    assert list(results) == ["iris", "wine"]
    for table in results.values():
        assert len(table) == 6
        # Every row labelled, tied with Ledoit-Wolf shrinkage is LDA's
        # shrinkage='auto', fold by fold.
        np.testing.assert_allclose(
            table["OT tied, shrinkage auto"], table["LDA, shrinkage auto"]
        )
        for scores in table.values():
            assert np.all((scores >= 0.8) & (scores <= 1))
    assert "5-fold cross-validated accuracy" in capsys.readouterr().out
