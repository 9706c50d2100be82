"""The fitted mixture as a density, on blocks of rows: the functions that
the data layer maps over the rows for ``predict``, ``predict_proba``,
``score_samples`` and the information criteria, and the classifier's
posteriors of its classes."""

from functools import partial
from typing import NamedTuple

import numpy as np

from ._backend import astype, fill_where, namespace_of, on_device_of, to_numpy
from ._memory import LABELS
from ._transport import row_softmax


def component_of(x, mixture, form):
    """Most probable component of each row; ``-1`` where it is the noise
    component (scikit-learn's mark of noise, as ``DBSCAN``'s)."""
    log_prob = mixture.weighted_log_prob(x, form)
    xp = namespace_of(log_prob)
    component = xp.argmax(log_prob, axis=1)
    if mixture.noise is None:
        return component
    noise = mixture.weights.shape[0]
    return xp.where(component == noise, xp.full_like(component, -1), component)


def posterior(x, mixture, form):
    """Bayes posterior of each component given each row (the noise
    component's last, where there is one)."""
    return row_softmax(mixture.weighted_log_prob(x, form))[0]


def log_density(x, mixture, form):
    """``log sum_k pi_k N(x_i; mu_k, Sigma_k)`` of each row (plus ``pi_0 / V``
    inside the logarithm, with a noise component)."""
    return row_softmax(mixture.weighted_log_prob(x, form))[1]


def class_log_posterior(x, mixture, form, groups):
    """``log P(class c | x_i)``: the log-sum of the posteriors of each class's
    components, ``groups[c]`` (an integer array of component indices), computed
    without leaving the logarithms."""
    log_prob = mixture.weighted_log_prob(x, form)
    xp = namespace_of(log_prob)
    joint = xp.stack(
        [row_softmax(xp.take(log_prob, group, axis=1))[1] for group in groups],
        axis=1,
    )
    return joint - row_softmax(xp.asarray(joint, copy=True))[1][:, None]


def class_of(x, mixture, form, groups, classes=None):
    """The most probable class of each row: its index, or its label in
    ``classes`` when given."""
    log_posterior = class_log_posterior(x, mixture, form, groups)
    xp = namespace_of(log_posterior)
    index = xp.argmax(log_posterior, axis=1)
    return index if classes is None else xp.take(classes, index, axis=0)


def class_posterior(x, mixture, form, groups):
    """``P(class c | x_i)``; rows sum to one."""
    log_posterior = class_log_posterior(x, mixture, form, groups)
    return namespace_of(log_posterior).exp(log_posterior)


class ClassSums(NamedTuple):
    """The labelled rows of each class: their mass and their number."""

    mass: np.ndarray
    count: np.ndarray


def _class_sums_block(x, mass, labels, n_classes):
    xp = namespace_of(mass)
    index = xp.arange(n_classes, **on_device_of(labels))
    member = astype(labels[:, None] == index[None, :], xp.float64)
    return ClassSums(astype(mass, xp.float64) @ member, xp.sum(member, axis=0))


def class_sums(samples, n_classes):
    """:class:`ClassSums` of the samples' labelled rows, in numpy (one pass)."""
    sums = samples.sum(partial(_class_sums_block, n_classes=n_classes), LABELS)
    return ClassSums(to_numpy(sums.mass), to_numpy(sums.count).astype(np.int64))


def weighted_log_likelihood(x, mass, mixture, form):
    """``sum_i w_i log p(x_i)`` over a block."""
    return mass @ log_density(x, mixture, form)


def likelihood_and_entropy(x, mass, mixture, form):
    """``sum_i w_i log p(x_i)`` and the entropy of the posteriors,
    ``-sum_i w_i sum_k z_ik log z_ik``, over a block (for BIC and ICL)."""
    log_prob = mixture.weighted_log_prob(x, form)
    xp = namespace_of(log_prob)
    proba, log_norm = row_softmax(xp.asarray(log_prob, copy=True))
    # z log z is 0 where z is: no 0 * -inf.
    z_log_z = fill_where(proba * (log_prob - log_norm[:, None]), proba == 0, 0.0)
    return xp.stack([mass @ log_norm, -(mass @ xp.sum(z_log_z, axis=1))])
