"""Finding 6: summary.json records the run; ``rebuild_report`` reproduces the original report.

Finding 5 (report part): rebuilding reads only the columns it needs, once, and reports
its stages.
"""

from __future__ import annotations

import json
import re
import tracemalloc

import numpy as np
import pytest

import peergrid
from peergrid.report import file_provenance, rebuild_report, write_report
from peergrid.simulate import Comparison

STAMP = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\dZ?( UTC)?")
SCENARIO = {
    "name": "berlin-test",
    "time": {"start": "2022-08-01", "days": 3, "freq": "15min", "tz": "Europe/Berlin"},
    "community": {"source": "csv", "households": None, "seed": 7},
    "simulation": {"control": "greedy", "markets": ["baseline", "bs", "mmr", "sdr"]},
}


@pytest.fixture(scope="module")
def written(comparison, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    data = out / "meters.csv"
    data.write_text("timestamp,meter,kwh\n2022-08-01 00:00,H1,0.5\n", encoding="utf-8")
    comparison.to_parquet(out / "results")
    write_report(
        comparison,
        out,
        title="Berlin <test>",
        scenario=SCENARIO,
        notes=["a note", "second note"],
        format="png",
        dpi=80,
        provenance={
            "command": "peergrid simulate",
            "seeds": {"community.seed": 7},
            "data": {"files": file_provenance([data])},
            "tariff": {"name": "flat", "retail": 0.3},
        },
    )
    return out


def _strip_stamps(text: str) -> str:
    return STAMP.sub("<time>", text)


def test_summary_json_keys(written, comparison, source):
    s = json.loads((written / "summary.json").read_text(encoding="utf-8"))
    assert s["peergrid_version"] == peergrid.__version__
    assert s["title"] == "Berlin <test>"
    assert s["scenario"] == SCENARIO
    assert s["notes"] == ["a note", "second note"]
    assert s["seeds"] == {"community.seed": 7}
    assert s["data"]["source"] == source
    (f,) = s["data"]["files"]
    assert f["path"].endswith("meters.csv") and f["bytes"] == 44 and re.fullmatch(r"[0-9a-f]{64}", f["sha256"])
    assert s["tz"] == comparison.community.tz == s["data"]["tz"]
    assert s["tariff"] == {"name": "flat", "retail": 0.3}
    assert s["figures"] == {"format": "png", "dpi": 80}
    assert s["command"] == "peergrid simulate"
    assert s["control"] == "greedy"
    assert s["markets"]["sdr"] == comparison["sdr"].summary()


def test_file_provenance_hash():
    import hashlib

    (entry,) = file_provenance([__file__])
    data = open(__file__, "rb").read()
    assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["bytes"] == len(data)
    assert file_provenance(["/no/such/file"]) == [{"path": "/no/such/file", "bytes": None, "sha256": None}]


def test_rebuilt_report_equals_the_original(written, tmp_path):
    stages = []
    path = rebuild_report(written, tmp_path, on_stage=stages.append)
    original = (written / "report.html").read_text(encoding="utf-8")
    rebuilt = path.read_text(encoding="utf-8")
    assert "a note" in rebuilt and "berlin-test" in rebuilt and "time.tz" in rebuilt
    assert _strip_stamps(rebuilt) == _strip_stamps(original)
    assert json.loads((tmp_path / "summary.json").read_text()) | {"generated": None} == json.loads(
        (written / "summary.json").read_text()
    ) | {"generated": None}
    for stem in ("daily_profiles", "prices", "savings", "soc", "energy_flows"):
        assert (tmp_path / f"{stem}.png").read_bytes() == (written / f"{stem}.png").read_bytes()
    assert stages[0].startswith("reading results") and stages[-1] == "page"
    assert "figure: prices" in stages


def test_rebuild_can_change_format(written, tmp_path):
    rebuild_report(written, tmp_path, format="svg", dpi=200)
    assert (tmp_path / "prices.svg").read_bytes().lstrip().startswith((b"<?xml", b"<svg"))
    assert json.loads((tmp_path / "summary.json").read_text())["figures"] == {"format": "svg", "dpi": 200}


def test_from_parquet_shares_arrays_and_keeps_metrics(written, comparison):
    back = Comparison.from_parquet(written)
    assert list(back) == list(comparison)
    first = back["baseline"]
    for name, res in back.items():
        assert res.community is first.community and res.net is first.net  # read once
        assert res.metrics.keys() == comparison[name].metrics.keys()
        for k, v in comparison[name].metrics.items():
            assert res.metrics[k] == pytest.approx(v, nan_ok=True), (name, k)
        np.testing.assert_array_equal(res.steps.to_numpy(), comparison[name].steps.to_numpy())
        np.testing.assert_allclose(res.participants["savings"], comparison[name].participants["savings"], atol=1e-9)


def test_from_parquet_does_not_build_the_long_table(tmp_path, make_community):
    """The long table (T·N rows × 14 columns) is never materialised: peak memory stays below it."""
    com = make_community(96 * 7, 60, batteries=10, seed=4)
    peergrid.compare(com).to_parquet(tmp_path / "results")
    long_table = com.T * com.N * 14 * 8  # 4.5 MB of floats, before strings and pandas copies
    tracemalloc.start()
    try:
        Comparison.from_parquet(tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.6 * long_table, (peak, long_table)


def test_from_parquet_mixed_runs_are_read_in_full(tmp_path, make_community):
    a = peergrid.compare(make_community(96, 4, seed=1), markets=["baseline"])
    b = peergrid.compare(make_community(96, 4, seed=2), markets=["sdr"])
    a.to_parquet(tmp_path / "results")
    b.to_parquet(tmp_path / "results")
    back = Comparison.from_parquet(tmp_path)
    assert back["baseline"].community is not back["sdr"].community
    np.testing.assert_array_equal(back["sdr"].net, b["sdr"].net)


def test_old_summary_json_with_scenario_name_only(written, tmp_path):
    import shutil

    shutil.copytree(written / "results", tmp_path / "results")
    (tmp_path / "summary.json").write_text(json.dumps({"scenario": "old-run", "markets": {}}))
    text = rebuild_report(tmp_path).read_text(encoding="utf-8")
    assert "old-run" in text
