"""The reproduction framework: claim records, verdict vocabulary, prose == JSON, the CLI contract."""

from __future__ import annotations

import json
import re
import sys
import types

import pytest
from typer.testing import CliRunner

from peergrid.cli.main import app
from peergrid.core.errors import ConfigError
from peergrid.reproduce import (
    CLAIM_KEYS,
    PAPERS,
    VERDICTS,
    Claim,
    Paper,
    Reproduction,
    ReproTable,
    Stopwatch,
    run_paper,
    to_html,
    to_markdown,
    write_reproduction,
)
from peergrid.reproduce.render import markdown_claims_table


def _claim(verdict: str = "agrees", cid: str = "c1") -> Claim:
    return Claim(cid, "the cost falls | with size", "−40 %", "−3.0 %", verdict, "flat cost per kWh")


def _rep(progress=None) -> Reproduction:
    sw = Stopwatch(progress)
    with sw.stage("run"):
        pass
    return Reproduction(
        "fake",
        "A. Author (2024), A paper.",
        "10 homes, one day",
        [_claim("agrees", "a"), _claim("disagrees", "b"), _claim("not comparable", "c")],
        assumptions=["PV share 50 %"],
        timings=sw.timings,
        tables=[ReproTable("t", ["x", "y"], [["1", "2"]], "cap")],
    )


def test_verdict_vocabulary_is_enforced() -> None:
    assert VERDICTS == ("agrees", "disagrees", "not comparable")
    for bad in ("agrees (trivially)", "yes", True):
        with pytest.raises(ConfigError):
            _claim(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        Claim("x", "claim", "", "1", "agrees", "why")


def test_json_round_trip_and_keys() -> None:
    rep = _rep()
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["paper"] == "fake"
    assert all(set(CLAIM_KEYS) <= set(c) for c in d["claims"])
    assert d["verdicts"] == {"agrees": 1, "disagrees": 1, "not comparable": 1}
    back = Reproduction.from_dict(d)
    assert back.claims == rep.claims and back.tables == rep.tables


def test_prose_is_rendered_from_the_claims() -> None:
    rep = _rep()
    md, page = to_markdown(rep), to_html(rep)
    table = markdown_claims_table(rep)
    assert table.count("\n") == 1 + len(rep.claims)
    for c in rep.claims:
        assert f"**{c.verdict}**" in table
        assert f"Verdict: {c.verdict} (" in c.sentence()
    assert "the cost falls \\| with size" in md  # pipes escaped: the table keeps its columns
    assert page.count("Verdict: ") == len(rep.claims)
    assert "1 agree, 1 disagree, 1 not comparable" in md


def test_stopwatch_reports_stages() -> None:
    seen: list[str] = []
    rep = _rep(seen.append)
    assert seen == ["run"] and set(rep.timings) == {"run"}


def test_write_reproduction(tmp_path) -> None:
    files = write_reproduction(_rep(), tmp_path)
    assert {"json", "md", "html"} <= set(files)
    assert json.loads((tmp_path / "claims.json").read_text())["paper"] == "fake"
    assert "<!DOCTYPE html>" in (tmp_path / "report.html").read_text()


@pytest.fixture
def fake_paper(monkeypatch):
    mod = types.ModuleType("peergrid_fake_repro")
    mod.run = lambda quick, seed, progress: _rep(progress)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "peergrid_fake_repro", mod)
    monkeypatch.setitem(PAPERS, "fake", Paper("fake", "peergrid_fake_repro", "A. Author (2024)"))
    return "fake"


def test_cli_json_is_one_object(fake_paper) -> None:
    r = CliRunner().invoke(app, ["reproduce", fake_paper, "--quick", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert [c["verdict"] for c in d["claims"]] == list(VERDICTS)


def test_cli_writes_the_report(fake_paper, tmp_path) -> None:
    out = tmp_path / "rep"
    r = CliRunner().invoke(app, ["reproduce", fake_paper, "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert (out / "report.html").exists() and (out / "claims.json").exists()
    assert "disagrees" in r.stdout


def test_cli_unknown_and_missing_paper(monkeypatch) -> None:
    r = CliRunner().invoke(app, ["reproduce", "nobody", "--json"])
    assert r.exit_code == 2 and "unknown paper" in r.stderr and r.stderr.count("\n") == 1
    monkeypatch.setitem(PAPERS, "ghost", Paper("ghost", "peergrid.reproduce.ghost", "G. Host (2020)"))
    r = CliRunner().invoke(app, ["reproduce", "ghost", "--json"])
    assert r.exit_code == 2 and "not available" in r.stderr and r.stderr.count("\n") == 1
    with pytest.raises(ConfigError, match="not available"):
        run_paper("ghost")


def test_cli_json_writes_nothing_and_default_out_is_per_paper(fake_paper, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(app, ["reproduce", fake_paper, "--json"])
    assert r.exit_code == 0 and list(tmp_path.iterdir()) == []
    r = CliRunner().invoke(app, ["reproduce", fake_paper])
    assert r.exit_code == 0 and (tmp_path / "out" / "reproduce-fake" / "claims.json").is_file()


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\\"), min_size=1,
                max_size=40).filter(str.strip)


@settings(max_examples=60, deadline=None)
@given(texts=st.lists(_text, min_size=5, max_size=5), verdict=st.sampled_from(VERDICTS))
def test_any_claim_renders_its_verdict_and_round_trips(texts, verdict):
    claim = Claim("x1", texts[0], texts[1], texts[2], verdict, texts[3], assumptions=texts[4])
    rep = Reproduction("p", "cite", "case", [claim])
    row = [line for line in markdown_claims_table(rep).splitlines() if line.startswith("| x1 |")]
    assert len(row) == 1 and len(re.split(r"(?<!\\)\|", row[0])) == 8  # 6 cells: pipes in the text are escaped
    assert f"**{verdict}**" in row[0]
    assert len(to_markdown(rep).split("| x1 |")) == 2  # the claim's row is one line whatever its text
    assert Reproduction.from_dict(json.loads(json.dumps(rep.to_dict()))).claims == [claim]
