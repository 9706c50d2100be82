"""Sphinx configuration of the sklearn-otmix documentation."""

import sklearn_otmix

project = "sklearn-otmix"
copyright = "2026, the sklearn-otmix developers"
release = sklearn_otmix.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
]
autosummary_generate = True
exclude_patterns = ["_build"]
intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "sklearn": ("https://scikit-learn.org/stable", None),
}
