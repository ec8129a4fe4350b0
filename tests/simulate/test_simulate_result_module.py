"""``Result`` and ``Comparison`` live in ``simulate/result.py``; ``peergrid.simulate`` exports them."""

import importlib

import peergrid

# ``peergrid.simulate`` is also the function peergrid.simulate(...): reach the package through importlib
sim = importlib.import_module("peergrid.simulate")
engine = importlib.import_module("peergrid.simulate.engine")
result = importlib.import_module("peergrid.simulate.result")


def test_result_types_come_from_result_py():
    assert sim.Result is result.Result and sim.Comparison is result.Comparison
    assert sim.Result.__module__ == "peergrid.simulate.result"
    assert peergrid.Result is result.Result and peergrid.Comparison is result.Comparison
    assert sim.HEADLINE_METRICS is result.HEADLINE_METRICS
    assert not any(name in vars(engine) and vars(engine)[name].__module__ == "peergrid.simulate.engine"
                   for name in ("Result", "Comparison"))


def test_result_dirs_orders_markets(tmp_path):
    for name in ("sdr", "baseline", "zzz"):
        (tmp_path / "results" / name).mkdir(parents=True)
        (tmp_path / "results" / name / "result.json").write_text("{}")
    assert [p.name for p in result.result_dirs(tmp_path)] == ["baseline", "sdr", "zzz"]
