"""Sweeps: seeds from SeedSequence, identical numbers on the local and Dask backends, spec errors."""

import sys

import pandas as pd
import pytest

from peergrid import ConfigError
from peergrid.federation.sweep import ROW_METRICS, Point, build_tasks, execute, load_spec, make_seeds, run_spec

BASE = {
    "nodes": 60,
    "cycles": 12,
    "overlay": {"view": 4, "period": 4},
    "clusters": {"count": 3},
    "migration": {"strategy": "random", "period": 4},
}
POINTS = [
    Point("p=0.2", 0.2, "", {"demand.request_probability": 0.2}),
    Point("p=0.6", 0.6, "", {"demand.request_probability": 0.6}),
]


def test_seeds_are_spawned_and_stable():
    a = make_seeds(4, 0)
    assert a == make_seeds(4, 0) and len(set(a)) == 4 and a != make_seeds(4, 1)
    assert make_seeds(2, 0) == a[:2]
    with pytest.raises(ConfigError):
        make_seeds(0)


def test_dask_backend_equals_local_backend():
    pytest.importorskip("distributed")
    tasks = build_tasks(BASE, POINTS, make_seeds(2, 5), "tiny")
    local = pd.DataFrame(execute(tasks, "local"))
    dask = pd.DataFrame(execute(tasks, "dask", workers=2, processes=False))
    cols = ["point", "seed", *ROW_METRICS]
    pd.testing.assert_frame_equal(local[cols], dask[cols])
    assert local["exchanges"].nunique() > 1


def test_ray_missing_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    tasks = build_tasks(BASE, POINTS[:1], make_seeds(1), "tiny")
    with pytest.raises(ConfigError, match="ray backend needs Ray"):
        execute(tasks, "ray")


def test_unknown_backend():
    with pytest.raises(ConfigError, match="unknown backend"):
        execute([], "spark")


def test_bad_point_names_the_key():
    with pytest.raises(ConfigError, match=r"\[bad\].*demand.request_probability"):
        build_tasks(BASE, [Point("bad", 2, "", {"demand.request_probability": 2.0})], [1], "x")


def test_spec_grid_and_experiment(tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text(
        'name = "t"\nseeds = 2\nexperiments = ["3"]\nnodes = 80\ncycles = 6\n[grid]\n"energy.types" = [1, 3]\n'
    )
    sp, base = load_spec(spec)
    res = run_spec(sp, base, "local")
    assert res.tasks == 2 * 4 + 2 * 2
    assert set(res.summary["experiment"]) == {"3", "t"}
    assert {"exchanges_mean", "exchanges_ci_lo", "cost_ci_hi"} <= set(res.summary.columns)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("seeds = 0\n", "seeds"),
        ("colour = 1\n", "colour: unknown key"),
        ('experiments = ["9"]\n', "unknown experiment"),
        ('[grid]\n"overlay.view" = []\n', "has no values"),
        ('[grid]\n"overlay.colour" = [1]\n', "overlay.colour: unknown key"),
    ],
)
def test_bad_spec(tmp_path, text, needle):
    spec = tmp_path / "s.toml"
    spec.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        sp, base = load_spec(spec)
        run_spec(sp, base)
