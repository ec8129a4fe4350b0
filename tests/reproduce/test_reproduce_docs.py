"""docs/reproduce.md, docs/federation.md and docs/zoom.md state the verdicts of the stored full runs."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from peergrid.reproduce import VERDICTS, Reproduction

ROOT = Path(__file__).resolve().parents[2]
STORE = ROOT / "docs" / "reproduce"


def _script():
    spec = importlib.util.spec_from_file_location("reproduce_all", ROOT / "scripts" / "reproduce_all.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _stored(paper: str) -> dict:
    path = STORE / f"{paper}.json"
    if not path.is_file():
        pytest.skip(f"no stored full run of {paper}")
    return json.loads(path.read_text())


def test_reproduce_page_matches_the_stored_records(capsys):
    assert _script().main(["--check"]) == 0, capsys.readouterr().err
    for path in STORE.glob("*.json"):
        rec = json.loads(path.read_text())
        assert rec["quick"] is False, f"{path.name} must be a full run"
        assert all(c.verdict in VERDICTS for c in Reproduction.from_dict(rec).claims)


def test_page_is_in_the_site_nav():
    assert "reproduce.md" in (ROOT / "mkdocs.yml").read_text()


def _doc_verdicts(doc: str, pattern: str) -> dict[str, str]:
    """{id: verdict} from table rows whose first cell names the claim id as `id` and whose last cell is bold."""
    out = {}
    for line in (ROOT / "docs" / doc).read_text().splitlines():
        if not line.startswith("|"):
            continue
        m = re.search(pattern, line)
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        v = re.match(r"\*\*(agrees|disagrees|not comparable)\*\*", cells[-1])
        if m and v:
            out[m.group(1)] = v.group(1)
    return out


def test_federation_doc_verdicts_are_the_machine_verdicts():
    """Experiment 5 said 'agrees (trivially)' while the cost rose; experiment 7 hid its failed part."""
    claims = {c["id"]: c["verdict"] for c in _stored("petri")["claims"]}
    doc = _doc_verdicts("federation.md", r"`(exp[0-9a-z_]+)`")
    assert doc, "no verdict rows found in docs/federation.md"
    exp = {k for k in claims if k.startswith("exp")}
    assert set(doc) == exp
    assert all(doc[k] == claims[k] for k in doc)
    assert claims["exp5"] == "disagrees" and claims["exp7_mixed"] == "disagrees"


def test_zoom_doc_verdicts_are_the_machine_verdicts():
    claims = {c["id"]: c["verdict"] for c in _stored("anoh")["claims"]}
    doc = _doc_verdicts("zoom.md", r"`([a-z_]+)`")
    assert set(doc) == set(claims)
    assert all(doc[k] == claims[k] for k in doc)
    assert claims["grid_vs_island"] != "agrees"
