"""read_feeder: pandapower JSON feeders as hostile input (issue 17, part netclear)."""

import copy
import importlib
import json
import sys
import uuid

import numpy as np
import pandas as pd
import pytest

from peergrid.core.errors import DataError
from peergrid.grid import build_feeder, feeder_from_net, power_flow, read_feeder
from peergrid.grid._pp import pandapower


@pytest.fixture(scope="module")
def feeder_doc():
    """A 6-bus default feeder as pandapower writes it (parsed JSON)."""
    return json.loads(pandapower().to_json(build_feeder(n_buses=6)))


def _dump(doc) -> bytes:
    return json.dumps(doc).encode()


def _table(doc, name):
    return json.loads(doc["_object"][name]["_object"])


def _set_table(doc, name, table):
    doc["_object"][name]["_object"] = json.dumps(table)


# ---- the happy path -------------------------------------------------------------------------------


def test_round_trip_gives_the_same_flows(feeder_doc, tmp_path):
    net = build_feeder(n_buses=6)
    path = tmp_path / "feeder.json"
    path.write_bytes(_dump(feeder_doc))
    mapping = {"a": 2, "b": 5}
    p = np.array([[5.0, -3.0], [1.0, 2.0]])
    want = power_flow(feeder_from_net(net, mapping), p)
    for source in (path, str(path), path.read_bytes(), path.read_text()):
        got = power_flow(read_feeder(source, mapping), p)
        np.testing.assert_allclose(got.loading_pct, want.loading_pct, rtol=1e-9)
        np.testing.assert_allclose(got.vm_pu, want.vm_pu, rtol=1e-12)


def test_mapping_with_phases_and_the_file_s_own_participants(community_factory):
    community = community_factory([1, 3, 3], phases=["a", "b", "abc"])
    text = pandapower().to_json(build_feeder(community))
    net = read_feeder(text)  # the participants table of the file is kept and checked
    table = net["peergrid_participants"]
    assert table["id"].tolist() == ["p0", "p1", "p2"]
    assert table["bus"].tolist() == [1, 3, 3]
    assert table["phase"].tolist() == ["a", "b", "abc"]
    mapped = read_feeder(text, pd.DataFrame({"id": ["x", "y"], "bus": [2, 4], "phase": ["c", "a"]}))
    assert mapped["peergrid_participants"]["id"].tolist() == ["x", "y"]
    assert len(mapped.load) == 2  # the file's participant loads are replaced, not kept as background


def test_member_mapped_to_unknown_bus(feeder_doc):
    with pytest.raises(DataError, match="bus 99"):
        read_feeder(_dump(feeder_doc), {"alice": 99})
    with pytest.raises(DataError, match="phase"):
        read_feeder(_dump(feeder_doc), pd.DataFrame({"id": ["a"], "bus": [1], "phase": ["d"]}))


# ---- malicious files: nothing is imported or run ---------------------------------------------------


@pytest.fixture
def evil_module(tmp_path, monkeypatch):
    """A module on sys.path that leaves a marker file when imported, and a spy on importlib."""
    name = f"pg_evil_{uuid.uuid4().hex[:8]}"
    marker = tmp_path / f"{name}.imported"
    (tmp_path / f"{name}.py").write_text(
        f"open({str(marker)!r}, 'w').write('imported')\n"
        "class Boom:\n    def __init__(self, *a, **k):\n        raise SystemExit('instantiated')\n"
        "def system(*a, **k):\n    raise SystemExit('called')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    imported: list[str] = []
    real = importlib.import_module

    def spy(mod, *args, **kwargs):
        imported.append(mod)
        return real(mod, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", spy)
    yield name, marker, imported
    sys.modules.pop(name, None)


def _payloads(doc, name, tmp_path):
    evil = {"_module": name, "_class": "Boom", "_object": "{}"}
    out = {}
    d = copy.deepcopy(doc)
    d["_module"] = name
    out["top level"] = d
    d = copy.deepcopy(doc)
    d["_object"]["bus"]["_module"] = name
    out["table module"] = d
    d = copy.deepcopy(doc)
    d["_object"]["evil"] = evil
    out["extra table"] = d
    d = copy.deepcopy(doc)
    d["_object"]["name"] = evil
    out["scalar field"] = d
    d = copy.deepcopy(doc)
    t = _table(d, "bus")
    t["data"][0][0] = evil
    _set_table(d, "bus", t)
    out["cell object"] = d
    d = copy.deepcopy(doc)
    t = _table(d, "bus")
    t["data"][0][0] = json.dumps(evil)
    _set_table(d, "bus", t)
    out["cell text"] = d
    d = copy.deepcopy(doc)
    d["_object"]["std_types"]["line"]["NAYY 4x150 SE"]["r_ohm_per_km"] = evil
    out["std type"] = d
    d = copy.deepcopy(doc)
    d["_object"]["bus"]["dtype"]["name"] = f"{name}.Boom"
    out["dtype"] = d
    d = copy.deepcopy(doc)
    d["_object"]["bus"]["storage_options"] = {"x": 1}
    out["read_json option"] = d
    d = copy.deepcopy(doc)
    secret = tmp_path / "secret.json"
    secret.write_text('{"columns":["x"],"index":[0],"data":[[1]]}')
    d["_object"]["bus"]["_object"] = str(secret)  # pandapower would open a local file
    out["path as table"] = d
    d = copy.deepcopy(doc)
    d["_object"]["controller"]["_object"] = json.dumps(
        {"columns": ["object", "in_service"], "index": [0], "data": [[evil, True]]}
    )
    out["controller"] = d
    d = copy.deepcopy(doc)
    d["_object"]["bus"] = {"_module": "os", "_class": "system", "_object": f"touch {tmp_path / 'pwned'}"}
    out["os.system"] = d
    d = copy.deepcopy(doc)
    d["_object"]["line"] = {"_module": "subprocess", "_class": "Popen", "_object": ["touch", str(tmp_path / "pwned")]}
    out["subprocess.Popen"] = d
    d = copy.deepcopy(doc)
    d["_object"]["load"]["_module"] = "pandas.io.pickle"
    d["_object"]["load"]["_class"] = "read_pickle"
    out["pandas pickle"] = d
    return out


def test_malicious_files_never_import_or_run(feeder_doc, evil_module, tmp_path):
    name, marker, imported = evil_module
    payloads = _payloads(feeder_doc, name, tmp_path)
    assert len(payloads) == 14
    for label, doc in payloads.items():
        with pytest.raises(DataError) as info:
            read_feeder(_dump(doc))
        message = str(info.value)
        assert "\n" not in message, label
    assert not marker.exists()
    assert name not in sys.modules
    assert not (tmp_path / "pwned").exists()
    assert not any(m in (name, "os", "subprocess", "pandas.io.pickle") for m in imported), imported


def test_the_payload_is_live_for_raw_pandapower(feeder_doc, evil_module, tmp_path):
    """Control: pandapower's own reader imports the module the file names (why read_feeder exists)."""
    name, marker, imported = evil_module
    doc = copy.deepcopy(feeder_doc)
    doc["_object"]["evil"] = {"_module": name, "_class": "Boom", "_object": "{}"}
    with pytest.raises(BaseException):  # noqa: B017 - Boom raises SystemExit when instantiated
        pandapower().from_json_string(json.dumps(doc))
    assert marker.exists() and name in imported
    marker.unlink()
    with pytest.raises(DataError, match="Boom is not allowed"):
        read_feeder(_dump(doc))
    assert not marker.exists()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["_object"].pop("bus"), "no 'bus' table"),
        (lambda d: d["_object"].__setitem__("bus", [1, 2]), "expected a pandas DataFrame"),
        (lambda d: d["_object"]["bus"].__setitem__("_object", "{not json"), "not valid JSON"),
        (lambda d: d["_object"]["bus"].__setitem__("orient", "records"), "orient"),
        (lambda d: d["_object"]["bus"].__setitem__("is_multiindex", True), "multi-indexed"),
        (lambda d: d["_object"].__setitem__("f_hz", "fifty"), "f_hz"),
        (lambda d: d["_object"].__setitem__("version", "3; rm -rf"), "version"),
        (lambda d: d.__setitem__("_object", []), "JSON object of tables"),
        (lambda d: d.pop("_module"), "'_module' and '_class'"),
    ],
)
def test_wrong_types_are_one_line_errors(feeder_doc, mutate, message):
    doc = copy.deepcopy(feeder_doc)
    mutate(doc)
    with pytest.raises(DataError, match=message) as info:
        read_feeder(_dump(doc))
    assert "\n" not in str(info.value)


def test_rows_columns_and_references(feeder_doc):
    doc = copy.deepcopy(feeder_doc)
    t = _table(doc, "line")
    t["data"][0] = t["data"][0][:-1]
    _set_table(doc, "line", t)
    with pytest.raises(DataError, match="row 0 must be an array"):
        read_feeder(_dump(doc))
    doc = copy.deepcopy(feeder_doc)
    t = _table(doc, "line")
    t["data"][0][t["columns"].index("to_bus")] = 42
    _set_table(doc, "line", t)
    with pytest.raises(DataError, match="bus 42"):
        read_feeder(_dump(doc))
    doc = copy.deepcopy(feeder_doc)
    t = _table(doc, "line")
    t["data"][0][t["columns"].index("length_km")] = -1.0
    _set_table(doc, "line", t)
    with pytest.raises(DataError, match="length_km"):
        read_feeder(_dump(doc))
    doc = copy.deepcopy(feeder_doc)
    t = _table(doc, "ext_grid")
    t["data"], t["index"] = [], []
    _set_table(doc, "ext_grid", t)
    with pytest.raises(DataError, match="ext_grid"):
        read_feeder(_dump(doc))


def test_meshed_feeder_is_refused_unless_radial_is_off():
    pp = pandapower()
    net = build_feeder(n_buses=5)
    pp.create_line(net, 1, 4, 0.05, "NAYY 4x150 SE")  # closes a loop
    text = pp.to_json(net)
    with pytest.raises(DataError, match=r"loop|radial|mesh"):
        read_feeder(text)
    assert len(read_feeder(text, radial=False).line) == 5


def test_truncated_empty_and_binary_input(feeder_doc, tmp_path):
    text = _dump(feeder_doc)
    for bad, message in [
        (text[: len(text) // 2], "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[1, 2]", "got a JSON array"),
        (b'{"bus": {}}', "not a pandapower JSON net"),
        (b"\xff\xfe\x00garbage", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply|not valid JSON"),
    ]:
        with pytest.raises(DataError, match=message):
            read_feeder(bad)
    with pytest.raises(DataError, match="no such feeder file"):
        read_feeder(tmp_path / "missing.json")
    with pytest.raises(DataError, match="source must be"):
        read_feeder(12)  # type: ignore[arg-type]


def test_huge_file_is_refused_before_it_is_read(feeder_doc, tmp_path, monkeypatch):
    path = tmp_path / "huge.json"
    with path.open("wb") as fh:  # a sparse 25 MB file: refused on its size alone
        fh.seek(25 * 1024 * 1024)
        fh.write(b"}")
    read_calls = []
    monkeypatch.setattr(json, "loads", lambda *a, **k: read_calls.append(1))
    with pytest.raises(DataError, match="more than the limit of 20,971,520"):
        read_feeder(path)
    with pytest.raises(DataError, match="more than the limit"):
        read_feeder(b" " * 1001 + b"{}", max_bytes=1000)
    assert read_calls == []
