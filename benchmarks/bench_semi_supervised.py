"""Semi-supervised accuracy: OTGaussianMixtureClassifier with unlabelled rows,
against the same classifier on the labelled rows only and against scikit-learn's
semi-supervised learners.

Data sets shipped with scikit-learn: wine and breast_cancer (standardised) and
digits (reduced to 10 dimensions by a PCA fitted on all rows, which uses no
label). For each labelled fraction (2%, 5%, 10%, 25%), ten draws of
``StratifiedShuffleSplit(n_splits=10, train_size=fraction, random_state=0)`` pick
the labelled rows; every other row is unlabelled (``y = -1``). The methods are
scored by their accuracy on the unlabelled rows (transductive setting):

- ``OTGaussianMixtureClassifier`` with ``covariance_type="tied"`` and
  ``"diag"``, each three ways: its default (``unlabelled_weight='auto'``, the
  unlabelled rows' weight chosen by cross-validation on the labelled rows),
  plain semi-supervised EM (``unlabelled_weight=1``), and fitted on the
  labelled rows only (which is linear discriminant analysis for ``tied``).
  Their ``random_state`` is the draw's index.
- ``SelfTrainingClassifier(LinearDiscriminantAnalysis())`` on all rows.
- ``LabelSpreading(kernel="knn", n_neighbors=7)`` on all rows, scored by its
  ``transduction_`` (the labels it spreads to the unlabelled rows).

The first table of each data set gives the median accuracy over the draws and,
in brackets, the lowest and highest; a fit that raises is a failure, left out
and counted. The "no harm" table compares, for each covariance type and
fraction, the default with the labelled rows alone and with plain EM: their
medians, the median of the paired differences (default minus labelled-only,
draw by draw), and the noise of an accuracy measured on that many unlabelled
rows, one binomial standard error ``sqrt(p (1 - p) / n)`` at the labelled-only
median ``p``. "no harm" holds where the default's median is at least the
labelled-only median less that noise; "keeps the gain" is asked where plain EM
beats the labelled rows alone by more than the noise, and holds where the
default is at least plain EM's median less the noise.

The warnings of each fit are recorded, not silenced: the number of fits that
warned and failed, per method and fraction, and each distinct message once with
its count. Last, the number of draws in which the default tied classifier is
strictly more accurate than SelfTraining(LDA) and LabelSpreading, out of the
draws in which both fits succeeded.

Run ``python benchmarks/bench_semi_supervised.py`` (three data sets, four
fractions, ten draws: half a minute) or ``--quick`` (wine, 10% and 25%, two
draws: seconds); ``--threads`` sets the BLAS threads (1 by default);
``--covariance-types full`` (or any of the four) fits the classifier with
those covariance types in place of ``tied`` and ``diag``.
"""

import argparse
import shlex
import sys
import warnings
from collections import Counter
from dataclasses import dataclass, field
from time import perf_counter

import numpy as np
import sklearn
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.metrics import accuracy_score
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import LabelSpreading, SelfTrainingClassifier
from threadpoolctl import threadpool_limits

import sklearn_otmix
from sklearn_otmix import OTGaussianMixtureClassifier

FRACTIONS = (0.02, 0.05, 0.10, 0.25)
QUICK_FRACTIONS = (0.10, 0.25)
UNLABELLED = -1


# --------------------------------------------------------------------------------
# Data and methods


def load(name):
    """The features and labels of a data set, preprocessed without the labels.

    Parameters
    ----------
    name : {'wine', 'breast_cancer', 'digits'}
        The data set.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    """
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        return PCA(n_components=10, random_state=0).fit_transform(X), y
    loader = {"wine": load_wine, "breast_cancer": load_breast_cancer}[name]
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@dataclass(frozen=True)
class Method:
    """One way of labelling the unlabelled rows.

    Attributes
    ----------
    name : str
        Column title.
    make : callable
        ``make(draw)`` returns the unfitted estimator for a draw.
    semi_supervised : bool
        Fitted on all rows with ``-1`` for the unlabelled ones; else on the
        labelled rows only.
    transductive : bool
        Scored by ``transduction_`` rather than by ``predict``.
    """

    name: str
    make: object
    semi_supervised: bool = True
    transductive: bool = False


def _ot(covariance_type, unlabelled_weight="auto"):
    def make(draw):
        return OTGaussianMixtureClassifier(
            covariance_type=covariance_type,
            unlabelled_weight=unlabelled_weight,
            random_state=draw,
        )

    return make


def methods_for(covariance_types):
    """The methods compared, the classifier's three for each covariance type
    then scikit-learn's two; and for each type, the indices of its default,
    plain EM and labelled-only methods."""
    methods, triples = [], []
    for form in covariance_types:
        triples.append((form, len(methods), len(methods) + 1, len(methods) + 2))
        methods += [
            Method(f"OT default (auto), {form}", _ot(form)),
            Method(f"OT EM (weight 1), {form}", _ot(form, 1.0)),
            Method(f"OT labelled only, {form}", _ot(form), semi_supervised=False),
        ]
    methods += [
        Method(
            "SelfTraining(LDA)",
            lambda draw: SelfTrainingClassifier(estimator=LinearDiscriminantAnalysis()),
        ),
        Method(
            "LabelSpreading(knn, 7)",
            lambda draw: LabelSpreading(kernel="knn", n_neighbors=7),
            transductive=True,
        ),
    ]
    return tuple(methods), tuple(triples)


REFERENCE = 0  # the method compared with the scikit-learn learners
COVARIANCE_TYPES = ("tied", "diag")


# --------------------------------------------------------------------------------
# Fits, warnings and failures


@dataclass
class Tally:
    """Warnings and failures of one method's fits.

    ``warned`` and ``failed`` count fits per labelled fraction; ``messages``
    counts each distinct ``(category, message)`` over all fits.
    """

    warned: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)
    messages: Counter = field(default_factory=Counter)


def _one_line(text):
    return " ".join(str(text).split())


def accuracy(method, X, y, labelled, draw, fraction, tally):
    """Fit ``method`` on one draw and score it on the unlabelled rows.

    Parameters
    ----------
    method : Method
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        The true labels of all rows.
    labelled : ndarray of bool of shape (n_samples,)
        The rows whose label the method sees.
    draw : int
        Index of the draw, the seed of the estimator.
    fraction : float
        Key of the counts in ``tally``.
    tally : Tally
        Updated with the fit's warnings or failure.

    Returns
    -------
    accuracy : float
        Accuracy on the rows not in ``labelled``; NaN when the fit raised.
    """
    estimator = method.make(draw)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if method.semi_supervised:
                estimator.fit(X, np.where(labelled, y, UNLABELLED))
            else:
                estimator.fit(X[labelled], y[labelled])
            if method.transductive:
                predicted = estimator.transduction_[~labelled]
            else:
                predicted = estimator.predict(X[~labelled])
            score = accuracy_score(y[~labelled], predicted)
        except Exception as error:  # noqa: BLE001 - a failure is a result here
            tally.failed[fraction] += 1
            tally.messages[("raised " + type(error).__name__, _one_line(error))] += 1
            score = np.nan
    if caught:
        tally.warned[fraction] += 1
        for record in caught:
            tally.messages[(record.category.__name__, _one_line(record.message))] += 1
    return score


def run(X, y, fractions, n_draws, methods):
    """All ``methods`` on all draws of all fractions of one data set.

    Returns
    -------
    scores : dict
        ``scores[fraction]`` is an array of shape ``(len(methods), n_draws)``.
    n_labelled : dict
        Number of labelled rows of each fraction.
    tallies : list of Tally
        One per method.
    """
    scores, n_labelled = {}, {}
    tallies = [Tally() for _ in methods]
    for fraction in fractions:
        splitter = StratifiedShuffleSplit(
            n_splits=n_draws, train_size=fraction, random_state=0
        )
        scores[fraction] = np.empty((len(methods), n_draws))
        for draw, (train, _) in enumerate(splitter.split(X, y)):
            labelled = np.zeros(y.shape[0], dtype=bool)
            labelled[train] = True
            n_labelled[fraction] = train.shape[0]
            for index, method in enumerate(methods):
                scores[fraction][index, draw] = accuracy(
                    method, X, y, labelled, draw, fraction, tallies[index]
                )
    return scores, n_labelled, tallies


# --------------------------------------------------------------------------------
# Report


def list_table(title, header, rows):
    """A reStructuredText ``list-table``, as a string."""
    lines = [f".. list-table:: {title}", "   :header-rows: 1", ""]
    for row in (header, *rows):
        lines.append(f"   * - {row[0]}")
        lines.extend(f"     - {cell}" for cell in row[1:])
    return "\n".join(lines)


def _median_range(values):
    valid = values[~np.isnan(values)]
    if valid.size == 0:
        return "failed"
    cell = f"{np.median(valid):.3f} ({valid.min():.3f}-{valid.max():.3f})"
    if valid.size < values.size:
        cell += f" ({valid.size} ok)"
    return cell


def no_harm(scores, n_unlabelled, triples):
    """The rows of the "no harm" table (see the module's docstring), and
    whether every cell holds."""
    rows, holds = [], True
    for form, default, plain, alone in triples:
        for fraction, table in scores.items():
            ours, em, only = (np.nanmedian(table[i]) for i in (default, plain, alone))
            difference = np.nanmedian(table[default] - table[alone])
            noise = np.sqrt(only * (1 - only) / n_unlabelled[fraction])
            harmless = ours >= only - noise
            gain = em > only + noise
            kept = ours >= em - noise
            holds &= harmless and (kept or not gain)
            rows.append(
                [
                    form,
                    f"{fraction:.0%}",
                    f"{ours:.3f}",
                    f"{only:.3f}",
                    f"{em:.3f}",
                    f"{difference:+.3f}",
                    f"{noise:.3f}",
                    "yes" if harmless else "NO",
                    ("yes" if kept else "NO") if gain else "-",
                ]
            )
    return rows, holds


def report(name, X, scores, n_labelled, tallies, n_draws, seconds, methods, triples):
    fractions = list(scores)
    print(f"\n{name}: {X.shape[0]} rows, {X.shape[1]} features ({seconds:.1f} s)\n")
    header = ["labelled", "n labelled", *(method.name for method in methods)]
    rows = [
        [
            f"{fraction:.0%}",
            n_labelled[fraction],
            *(_median_range(values) for values in scores[fraction]),
        ]
        for fraction in fractions
    ]
    title = (
        f"{name}: accuracy on the unlabelled rows, median (lowest-highest) over "
        f"{n_draws} draws"
    )
    print(list_table(title, header, rows))

    print()
    n_unlabelled = {f: X.shape[0] - n for f, n in n_labelled.items()}
    rows, holds = no_harm(scores, n_unlabelled, triples)
    header = [
        "covariance",
        "labelled",
        "default",
        "labelled only",
        "plain EM",
        "median difference",
        "noise",
        "no harm",
        "keeps the gain",
    ]
    title = f"{name}: the default against the labelled rows alone (medians)"
    print(list_table(title, header, rows))
    print(f"\n{name}: every cell holds: {'yes' if holds else 'NO'}")

    print()
    header = ["method", *(f"{fraction:.0%}" for fraction in fractions)]
    rows = [
        [
            method.name,
            *(
                f"{tally.warned[fraction]} warned, {tally.failed[fraction]} failed"
                for fraction in fractions
            ),
        ]
        for method, tally in zip(methods, tallies, strict=True)
    ]
    title = f"{name}: fits that warned or failed, of {n_draws} per fraction"
    print(list_table(title, header, rows))
    for method, tally in zip(methods, tallies, strict=True):
        for (category, message), count in tally.messages.most_common():
            print(f"\n- {method.name}: {category} x{count}: {message}")

    print()
    rivals = (len(methods) - 2, len(methods) - 1)
    reference = methods[REFERENCE].name
    header = ["labelled", *(f"beats {methods[rival].name}" for rival in rivals)]
    rows = []
    for fraction in fractions:
        ours = scores[fraction][REFERENCE]
        cells = []
        for rival in rivals:
            theirs = scores[fraction][rival]
            both = ~np.isnan(ours) & ~np.isnan(theirs)
            wins = np.sum(ours[both] > theirs[both])
            ties = np.sum(ours[both] == theirs[both])
            cell = f"{wins} of {both.sum()} ({ties} tied)"
            if both.sum() < n_draws:
                cell += f", {n_draws - both.sum()} draw(s) with a failed fit"
            cells.append(cell)
        rows.append([f"{fraction:.0%}", *cells])
    title = f"{name}: draws in which {reference} is strictly more accurate"
    print(list_table(title, header, rows))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="wine, 10%% and 25%%, two draws"
    )
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads")
    parser.add_argument(
        "--covariance-types",
        nargs="+",
        default=list(COVARIANCE_TYPES),
        choices=["full", "tied", "diag", "spherical"],
        help="the classifier's covariance types (default: tied diag)",
    )
    args = parser.parse_args(argv)
    methods, triples = methods_for(args.covariance_types)
    if args.quick:
        names, fractions, n_draws = ("wine",), QUICK_FRACTIONS, 2
    else:
        names, fractions, n_draws = ("wine", "breast_cancer", "digits"), FRACTIONS, 10
    print(
        f"scikit-learn {sklearn.__version__}, sklearn_otmix "
        f"{sklearn_otmix.__version__}, numpy {np.__version__}; "
        f"{args.threads} BLAS thread(s)"
    )
    start = perf_counter()
    results = {}
    with threadpool_limits(args.threads):
        for name in names:
            X, y = load(name)
            began = perf_counter()
            scores, n_labelled, tallies = run(X, y, fractions, n_draws, methods)
            seconds = perf_counter() - began
            report(
                name, X, scores, n_labelled, tallies, n_draws, seconds, methods, triples
            )
            results[name] = scores
    print(f"\nTotal wall time: {perf_counter() - start:.1f} s")
    print(f"Command: {shlex.join(['python', *sys.argv])}")
    return results


if __name__ == "__main__":
    main()
