"""The data layer: the samples' side of the transport problem.

The fit sees the samples only through a small interface, which in-memory arrays
(numpy or any array namespace) and Dask arrays implement alike:

- ``sum(function, *parts)``: ``sum_b function(x_b, mass_b, *parts_b)`` over the
  blocks ``b`` of rows: sufficient statistics, the dual's value, gradient and
  curvature, the objective. Results add up (arrays, numbers, tuples of them, or
  objects with a ``merge`` method).
- ``map(function, *parts)``: the per-block results themselves, kept where the
  blocks live (persisted on a Dask cluster), to be passed as ``parts`` later.
- ``rows(function)``: per-row outputs (``predict``, ``predict_proba``,
  ``score_samples``), lazily for Dask.
- ``initialization_sample(random_state)``: rows in memory to initialise on.
- ``holds_plan``: whether the whole plan may be formed in memory and handed to
  POT (then ``concat`` and ``split`` move between blocks and whole arrays).
- ``one_block``: whether the rows are one block in memory, ``X`` and their
  masses ``sample_mass`` (then an E-step may form all its temporaries at once).
- ``missing``: whether some entries are missing (NaN); ``layouts``, a dict in
  which the E-step keeps where they are in each block
  (:func:`~sklearn_otmix._missing.layout_of`), or None.
- ``like``: an array of ``n_features`` columns in whose namespace, on whose
  device and of whose dtype the mixture's parameters live; ``total``, the sum of
  the masses; ``n_samples``.

Samples may carry labels (a classifier's ``y``, as class indices, ``-1`` for an
unlabelled row): a function asks for a block's labels by passing :data:`LABELS`
among its ``parts`` (it gets None where the samples carry none).

Rows of zero weight are left out; ``mass_b`` are the sample weights of the rows
(ones without weights, or where the positive weights are all equal).

The implementations: :mod:`sklearn_otmix._memory` (arrays of any namespace,
and what the layers share: :func:`~sklearn_otmix._memory.add`,
:data:`~sklearn_otmix._memory.LABELS` and the input validation) and
:mod:`sklearn_otmix._dask` (Dask arrays, each chunk handed to the in-memory
layer). This module chooses between them; neither imports it.
"""

from numbers import Integral

from ._dask import dask_labels, dask_samples
from ._memory import memory_labels, memory_samples
from ._messages import invalid_n_samples


def is_dask_collection(X):
    """Whether ``X`` comes from Dask (checked without importing Dask)."""
    return type(X).__module__.partition(".")[0] == "dask"


def samples_of(
    estimator,
    X,
    sample_weight=None,
    *,
    reset,
    n_components,
    fit=False,
    labels=None,
):
    """Validated samples of ``X`` in the data layer that holds them.

    Every layer raises the same errors for the same bad input: ``X`` not 2D or
    not finite, the wrong number of features, bad sample weights, and (with
    ``fit``) too few samples.

    Parameters
    ----------
    estimator : estimator
        Records or checks ``n_features_in_`` and ``feature_names_in_``.
    X : array-like, or Dask array, of shape (n_samples, n_features)
    sample_weight : array-like of shape (n_samples,) or None
    reset : bool
        Whether ``X`` is training data (the features are recorded).
    n_components : int
        Of the mixture: the blocks of rows are sized for its temporaries.
    fit : bool, default=False
        Whether ``X`` is fitted on: then check that there are enough samples.
    labels : integer array of shape (n_samples,), default=None
        Validated class indices of the rows (``-1`` where unlabelled), in
        ``X``'s namespace, or a Dask array for a Dask ``X``.

    Returns
    -------
    samples : InMemory or sklearn_otmix._dask.DaskSamples
    """
    if is_dask_collection(X):
        return dask_samples(
            estimator,
            X,
            sample_weight,
            reset=reset,
            n_components=n_components,
            fit=fit,
            labels=labels,
        )
    return memory_samples(
        estimator,
        X,
        sample_weight,
        reset=reset,
        n_components=n_components,
        fit=fit,
        labels=labels,
    )


def check_labels(y):
    """A classifier's validated ``y``: its classes and the rows' class indices.

    ``-1`` marks an unlabelled row (scikit-learn's semi-supervised convention),
    unless ``y`` has exactly one other value: a fit needs two classes to be
    semi-supervised, and ``{-1, 1}`` are then two classes (binary labels).

    Parameters
    ----------
    y : array-like of shape (n_samples,), or a Dask array
        Class labels.

    Returns
    -------
    classes : ndarray of shape (n_classes,)
        The sorted labels of the labelled rows.
    indices : integer ndarray of shape (n_samples,), or a Dask array
        Each row's index in ``classes``, ``-1`` where unlabelled.
    """
    if y is None:
        raise ValueError(
            "OTGaussianMixtureClassifier requires y to be passed, but the target y "
            "is None: give each row's class, -1 for an unlabelled row (for data "
            "without labels, use OTGaussianMixture)."
        )
    if is_dask_collection(y):
        return dask_labels(y)
    return memory_labels(y)


def check_n_samples(n_samples):
    """``n_samples`` of :meth:`sample`: a positive integer."""
    if not isinstance(n_samples, Integral):
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
    if n_samples < 1:
        raise ValueError(
            f"{invalid_n_samples(n_samples)} n_samples must be a positive integer."
        )
