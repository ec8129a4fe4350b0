"""``peergrid.control.lp`` is a package: the model (``lp/model.py``) and its solution over time (``lp/dispatch.py``)."""

import ast
import inspect

import peergrid.control.lp as lp
import peergrid.control.lp.dispatch as dispatch
import peergrid.control.lp.model as model


def test_public_names_are_the_same_objects_through_the_package():
    for name in lp.__all__:
        obj = getattr(lp, name)
        home = model if hasattr(model, name) and getattr(model, name) is obj else dispatch
        assert getattr(home, name) is obj, name
    assert lp.HorizonLP.__module__ == "peergrid.control.lp.model"
    assert lp.lp_schedule.__module__ == "peergrid.control.lp.dispatch"
    assert lp.optimal_dispatch.__module__ == "peergrid.control.lp.dispatch"


def test_the_model_does_not_import_the_dispatch():
    tree = ast.parse(inspect.getsource(model))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "peergrid.control.lp.dispatch" not in imported and "peergrid.control.lp" not in imported
