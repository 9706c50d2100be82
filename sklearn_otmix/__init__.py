"""Gaussian mixtures fitted as entropic optimal transport, for scikit-learn."""

from ._adapt import PriorShiftAdapter
from ._classifier import OTGaussianMixtureClassifier
from ._estimator import OTGaussianMixture
from ._impute import OTGaussianMixtureImputer
from ._selection import OTGaussianMixtureSearch

__all__ = [
    "OTGaussianMixture",
    "OTGaussianMixtureClassifier",
    "OTGaussianMixtureImputer",
    "OTGaussianMixtureSearch",
    "PriorShiftAdapter",
]
__version__ = "0.1.0"
