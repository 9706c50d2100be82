"""The command line grown to the package, run as processes: every covariance
model, mclust's search and its table, the regimes, labels and probabilities,
saving with skops and predicting a new file with the saved model; every error
in one line with exit status 2, and nothing of a refused file ever built."""

import csv
import subprocess
import sys

import numpy as np
import pytest
from sklearn.datasets import load_iris

from sklearn_otmix import OTGaussianMixture, OTGaussianMixtureSearch
from sklearn_otmix._cli import COVARIANCE_TYPES, TRUSTED_TYPES
from sklearn_otmix._models import MODELS
from sklearn_otmix._selection import mclust_template

X = load_iris().data
NEW = X[::7] + 0.05


def _run_all(commands, timeout=600):
    """Each argument list run as ``python -m sklearn_otmix ...``, all at once:
    [(returncode, stdout, stderr)] in the same order."""
    running = [
        subprocess.Popen(
            [sys.executable, "-m", "sklearn_otmix", *map(str, command)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    results = []
    for process in running:
        out, err = process.communicate(timeout=timeout)
        results.append((process.returncode, out, err))
    return results


def _is_row(line):
    """Whether ``line`` is a row of the search's table."""
    words = line.split()
    return bool(words) and words[0] in MODELS


def _read(path):
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], np.array(rows[1:], dtype=float)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    data, new = root / "iris.csv", root / "new.csv"
    np.savetxt(data, X, delimiter=",", header="a,b,c,d", comments="")
    np.savetxt(new, NEW, delimiter=",")
    return root, data, new


def test_help_lists_the_options_and_examples():
    ((status, out, err),) = _run_all([["--help"]])
    assert status == 0, err
    for option in (
        "--covariance-type",
        "--search",
        "--criterion",
        "--models",
        "--reg-m",
        "--reg",
        "--target-weights",
        "--weight-bounds",
        "--output",
        "--proba",
        "--save",
        "--model",
        "examples:",
    ):
        assert option in out, option
    for model in MODELS:
        assert model in out


def test_every_covariance_model(files):
    """One process per model; each prints the fit of that model, as the
    estimator gives it in this process."""
    root, data, _ = files
    results = _run_all(
        [
            [data, "--n-components", "2", "--covariance-type", model]
            for model in COVARIANCE_TYPES
        ]
    )
    for model, (status, out, err) in zip(COVARIANCE_TYPES, results, strict=True):
        assert status == 0, (model, err)
        fitted = OTGaussianMixture(2, covariance_type=model, random_state=0).fit(X)
        assert f"{model}, 2 components" in out
        assert f"BIC {fitted.bic(X):.2f}" in out, (model, out)


def test_search_prints_the_table_and_saves_what_predicts_new_rows(files):
    """``--search`` makes the search's choice, prints its table (a row per
    model, a column per number of components), writes labels and
    probabilities and saves the search; ``--model`` predicts a new file with
    it, as the search fitted here does."""
    root, data, new = files
    model, fitted_out, new_out = root / "m.skops", root / "o.csv", root / "n.csv"
    ((status, out, err),) = _run_all(
        [
            [data, "--search", "--n-components", "1-4", "--save", model]
            + ["--output", fitted_out, "--proba"]
        ]
    )
    assert status == 0, err
    search = OTGaussianMixtureSearch(n_components=range(1, 5), random_state=0).fit(X)
    best = search.best_params_
    assert (
        f"best: {best['covariance_type']} with {best['n_components']} components" in out
    )
    table = [line.split() for line in out.splitlines() if _is_row(line)]
    assert [row[0] for row in table] == list(MODELS)
    for row in table:
        assert len(row) == 5  # the model, then K = 1 to 4
    rank = search.cv_results_["rank_bic"]
    first = list(rank).index(1)
    assert search.cv_results_["param_covariance_type"][first] in out

    header, written = _read(fitted_out)
    K = search.best_estimator_.n_components
    assert header == ["label"] + [f"proba_{k}" for k in range(K)]
    np.testing.assert_array_equal(written[:, 0], search.predict(X))
    np.testing.assert_allclose(written[:, 1:], search.predict_proba(X), rtol=1e-9)
    np.testing.assert_allclose(written[:, 1:].sum(axis=1), 1.0, rtol=1e-12)

    ((status, out, err),) = _run_all(
        [[new, "--model", model, "--output", new_out, "--proba"]]
    )
    assert status == 0, err
    assert "22 samples, 4 features" in out
    header, written = _read(new_out)
    np.testing.assert_array_equal(written[:, 0], search.predict(NEW))
    np.testing.assert_allclose(written[:, 1:], search.predict_proba(NEW), rtol=1e-9)


def test_search_takes_models_criterion_and_the_template_regime(files):
    root, data, _ = files
    ((status, out, err),) = _run_all(
        [
            [data, "--search", "--n-components", "2,3", "--models", "EEE,VVV"]
            + ["--criterion", "icl", "--reg-m", "inf"]
        ]
    )
    assert status == 0, err
    template = mclust_template().set_params(reg_m=np.inf)
    search = OTGaussianMixtureSearch(
        template,
        n_components=[2, 3],
        covariance_types=["EEE", "VVV"],
        criterion="icl",
        random_state=0,
    ).fit(X)
    assert "ICL (lower is better" in out
    best = search.best_params_
    assert f"best: {best['covariance_type']} with {best['n_components']}" in out
    assert f"ICL {search.best_criterion_:.2f}" in out
    assert [line.split()[0] for line in out.splitlines() if _is_row(line)] == [
        "EEE",
        "VVV",
    ]


def test_regimes(files):
    """Known weights (Sinkhorn EM), a temperature, bounded weights: the
    printed weights are the estimator's."""
    root, data, _ = files
    cases = [
        (["--reg-m", "inf", "--target-weights", "0.5,0.3,0.2"], dict(reg_m=np.inf)),
        (["--reg", "0.5"], dict(reg=0.5)),
        (["--weight-bounds", "0.3,0.4"], dict(weight_bounds=(0.3, 0.4))),
        (["--reg-m", "2", "--target-weights", "0.2,0.3,0.5"], dict(reg_m=2.0)),
    ]
    results = _run_all([[data, "--n-components", "3", *argv] for argv, _ in cases])
    for (argv, settings), (status, out, err) in zip(cases, results, strict=True):
        assert status == 0, (argv, err)
        if "--target-weights" in argv:
            settings["target_weights"] = np.array(
                [float(w) for w in argv[argv.index("--target-weights") + 1].split(",")]
            )
        fitted = OTGaussianMixture(3, random_state=0, **settings).fit(X)
        printed = [
            float(line.split("weight ")[1].split(",")[0])
            for line in out.splitlines()
            if line.strip().startswith("component")
        ]
        np.testing.assert_allclose(printed, fitted.weights_, atol=5e-5)
    # Sinkhorn EM keeps the targets exactly; the bounds hold.
    assert "weight 0.5000" in results[0][1] and "weight 0.2000" in results[0][1]


class _Marked:
    """A type outside the package: building it would leave a mark."""

    def __init__(self, path):
        self.path = path

    def __setstate__(self, state):
        open(state["path"], "w").close()


def test_errors_are_one_line_with_status_2(files):
    """Bad options and bad model files: one line each, exit status 2, and a
    file holding a type the package does not trust is never built."""
    sio = pytest.importorskip("skops.io")
    root, data, new = files
    foreign, marker = root / "foreign.skops", root / "built"
    sio.dump(_Marked(str(marker)), foreign)
    scaler = root / "scaler.skops"
    from sklearn.preprocessing import StandardScaler

    sio.dump(StandardScaler().fit(X), scaler)
    not_skops = root / "not.skops"
    not_skops.write_bytes(b"PK\x03\x04 not a zip")
    cases = [
        ([data, "--n-components", "0"], "at least 1"),
        ([data, "--n-components", "a"], "expected a number"),
        ([data, "--n-components", "2-4"], "with --search only"),
        ([data, "--search", "--models", "EEE,XYZ"], "unknown covariance model"),
        ([data, "--covariance-type", "XYZ"], "invalid choice"),
        ([data, "--proba"], "--output"),
        ([data, "--weight-bounds", "0.1"], "two numbers"),
        ([data, "--target-weights", "a,b"], "expected numbers"),
        ([data, "--reg", "0"], "--reg"),
        ([new, "--model", foreign], "refused to load types"),
        ([new, "--model", scaler], "StandardScaler"),
        ([new, "--model", not_skops], "not a model saved by skops"),
        ([new, "--model", root / "absent.skops"], "No such file"),
        ([new, "--model", data], "not a model saved by skops"),
        (["--save", root / "x.skops"], "give a DATA file"),
    ]
    results = _run_all([argv for argv, _ in cases])
    for (argv, words), (status, out, err) in zip(cases, results, strict=True):
        assert status == 2, (argv, err)
        assert err.count("\n") == 1 and err.endswith("\n"), (argv, err)
        assert err.startswith("python -m sklearn_otmix: error: "), err
        assert words in err, (argv, err)
        assert "Traceback" not in err
    assert not marker.exists()


def test_trusted_types_are_what_a_saved_search_holds(files, tmp_path):
    """``--model`` trusts exactly the types that a saved mixture or search
    holds beyond skops' defaults (a new one fails here, not for users)."""
    sio = pytest.importorskip("skops.io")
    root, data, _ = files
    model = tmp_path / "m.skops"
    results = _run_all(
        [
            [data, "--n-components", "2", "--save", model],
            [data, "--search", "--n-components", "1-2", "--save", tmp_path / "s.skops"],
        ]
    )
    assert all(status == 0 for status, _, _ in results), results
    found = set(sio.get_untrusted_types(file=model)) | set(
        sio.get_untrusted_types(file=tmp_path / "s.skops")
    )
    assert found <= set(TRUSTED_TYPES)
    assert "sklearn_otmix._selection.OTGaussianMixtureSearch" in found
