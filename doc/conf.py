"""Sphinx configuration of the sklearn-otmix documentation.

Build with ``python -m sphinx -W --keep-going -b html doc doc/_build/html``; the
examples in ``examples/`` are run on the way (sphinx-gallery). Nothing is fetched
from the network at build time: no intersphinx inventories.
"""

import sklearn_otmix

project = "sklearn-otmix"
copyright = "2026, the sklearn-otmix developers"
release = sklearn_otmix.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build"]
default_role = "literal"

# -- API reference ------------------------------------------------------------
autosummary_generate = True
# The class template lists the methods itself (autoclass :members:).
numpydoc_show_class_members = False
# Fail the build (-W) on a public object without a docstring or summary, a
# parameter left undocumented or documented but absent, or a missing Returns.
numpydoc_validation_checks = {"PR01", "PR02", "PR03", "PR10", "RT01", "GL08", "SS01"}
# Methods inherited from scikit-learn's BaseEstimator: their docstrings are
# scikit-learn's, not this package's. (The class template leaves out the
# metadata-routing methods and set_output, whose docstrings link into
# scikit-learn's own docs.)
numpydoc_validation_exclude = {r"\.get_params$", r"\.set_params$"}

# -- HTML -----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-otmix {release}"
html_static_path = ["_static"]
html_theme_options = {
    "github_url": "https://github.com/sklearn-otmix/sklearn-otmix",
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
# The left sidebar lists the pages of a section: only the gallery has several.
html_sidebars = {
    page: []
    for page in (
        "index",
        "user_guide",
        "api",
        "cli",
        "install",
        "citing",
        "changelog",
        "generated/*",
        "sg_execution_times",
    )
}
html_show_sourcelink = False

# -- Gallery --------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "sphinx_gallery.sorting.FileNameSortKey",
    # "Examples using OTGaussianMixture" on the API page.
    "doc_module": ("sklearn_otmix",),
    "backreferences_dir": "gen_modules/backreferences",
    "reference_url": {"sklearn_otmix": None},
    "remove_config_comments": True,
    "min_reported_time": 1,
    "show_memory": False,
}
