"""The words of scikit-learn's ``GaussianMixture`` where this package warns or
fails for the same reason.

A user's ``warnings.filterwarnings(message=...)`` or ``pytest.raises(match=...)``
written for ``GaussianMixture`` then keeps working: each message starts with
``GaussianMixture``'s text (scikit-learn 1.4 to 1.9), and the package's own
advice follows it. ``tests/test_messages.py`` compares them with the messages
that ``GaussianMixture`` gives at test time.

The numbers are the right ones where ``GaussianMixture`` prints others: its
range message swaps the smallest and the largest weight, and its message for
``sample(n_samples)`` shows ``n_components`` as the value of ``n_samples``.
"""

#: ConvergenceWarning of a fit whose best initialisation did not converge.
NOT_CONVERGED = (
    "Best performing initialization did not converge. Try different init "
    "parameters, or increase max_iter, tol, or check for degenerate data."
)

#: ValueError of a covariance that is not positive definite.
ILL_DEFINED_COVARIANCE = (
    "Fitting the mixture model failed because some components have ill-defined "
    "empirical covariance (for instance caused by singleton or collapsed "
    "samples). Try to decrease the number of components, increase reg_covar, "
    "or scale the input data."
)
FLOAT32_ADVICE = (
    " The numerical accuracy can also be improved by passing float64 data "
    "instead of float32."
)


def wrong_shape(name, shape, got):
    """A ``*_init`` of the wrong shape (``name``: 'weights', 'means', or
    '<covariance_type> precision', as GaussianMixture names them)."""
    return f"The parameter '{name}' should have the shape of {shape}, but got {got}"


def weights_out_of_range(name, low, high):
    return (
        f"The parameter '{name}' should be in the range [0, 1], but got max "
        f"value {high:.5f}, min value {low:.5f}"
    )


def weights_not_normalized(name, total):
    return (
        f"The parameter '{name}' should be normalized, but got sum({name}) = "
        f"{total:.5f}"
    )


def precision_not_positive(covariance_type):
    """Diagonal or spherical precisions with a non-positive entry."""
    return f"'{covariance_type} precision' should be positive"


def precision_not_definite(covariance_type):
    """Full or tied precisions not symmetric positive definite."""
    return f"'{covariance_type} precision' should be symmetric, positive-definite"


def invalid_n_samples(n_samples):
    """``sample(n_samples)`` with fewer than one sample."""
    return (
        f"Invalid value for 'n_samples': {n_samples} . The sampling requires at "
        "least one sample."
    )
