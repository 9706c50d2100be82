"""The package's modules import one another without a circle: imports flow one
way (estimators, fit loop, transport and Gaussian family, data layer, backend),
and the data layer chooses its implementation without either implementation
importing the chooser. Imports inside functions count too."""

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import sklearn_otmix

PACKAGE = Path(sklearn_otmix.__file__).parent


def _imports():
    """Each module's package-internal imports, at any depth of its code."""
    graph = {}
    for path in sorted(PACKAGE.glob("*.py")):
        module = path.stem
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module is not None:
                    imported.add(node.module)
                else:
                    imported.update(alias.name for alias in node.names)
        graph[module] = imported - {module}
    return graph


def test_no_circle_of_imports():
    graph = _imports()
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as error:
        raise AssertionError(f"a circle of imports: {error.args[1]}") from None
    assert order.index("_memory") < order.index("_dask") < order.index("_data")


def test_the_data_layer_chooses_its_implementation():
    graph = _imports()
    assert {"_memory", "_dask"} <= graph["_data"]
    assert "_data" not in graph["_dask"] and "_data" not in graph["_memory"]


#: What the search and the adapter may use of another estimator: the protected
#: methods that the base class declares and documents for them.
CONTRACT = {
    "_fitted_samples",
    "_mixture",
    "_set_mixture",
    "_form",
    "_criteria",
    "_n_parameters",
    "_missing_refusal",
}


def test_estimators_meet_through_the_base_class_contract():
    """The search and the adapter reach no private attribute of the
    estimators they hold but the base class's contract."""
    from sklearn_otmix._base import BaseOTMixture

    assert all(hasattr(BaseOTMixture, name) for name in CONTRACT)
    for module in ("_selection", "_adapt"):
        tree = ast.parse((PACKAGE / f"{module}.py").read_text())
        reached = {
            node.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and not (isinstance(node.value, ast.Name) and node.value.id == "self")
        }
        assert reached <= CONTRACT, (module, reached - CONTRACT)
