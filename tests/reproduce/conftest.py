"""Shared checks of a reproduction: JSON schema, verdict vocabulary, prose == JSON."""

from __future__ import annotations

import json

import pytest

from peergrid.reproduce import CLAIM_KEYS, VERDICTS, Reproduction, to_html, to_markdown


def check_reproduction(rep: Reproduction, paper: str) -> dict:
    """Assert the contract of ``peergrid reproduce --json`` and that the prose renders the same claims."""
    d = json.loads(json.dumps(rep.to_dict(), allow_nan=False))
    assert d["paper"] == paper and d["citation"] and d["case"]
    assert d["claims"], "no claims"
    ids = [c["id"] for c in d["claims"]]
    assert len(set(ids)) == len(ids)
    for c in d["claims"]:
        assert set(CLAIM_KEYS) <= set(c)
        assert c["verdict"] in VERDICTS
        assert all(isinstance(c[k], str) and c[k].strip() for k in CLAIM_KEYS)
    assert sum(d["verdicts"].values()) == len(d["claims"])
    md, page = to_markdown(rep), to_html(rep)
    for c in rep.claims:
        row = [x for x in md.splitlines() if x.startswith(f"| {c.id} |")]
        assert len(row) == 1 and f"**{c.verdict}**" in row[0], c.id
        assert c.peergrid_value.replace("|", "\\|") in row[0]
        import html

        assert html.escape(c.sentence(), quote=True) in page
    assert Reproduction.from_dict(d).claims == rep.claims
    return d


@pytest.fixture
def check():
    return check_reproduction
