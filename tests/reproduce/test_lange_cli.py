"""peergrid reproduce lange --quick: the command, its JSON and its report say the same thing."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from peergrid.cli.main import app
from peergrid.reproduce import VERDICTS, Reproduction, lange, run_paper, to_markdown


def test_run_returns_the_claims_of_the_study():
    stages = []
    rep = run_paper("lange", quick=True, seed=0, progress=stages.append)
    assert isinstance(rep, Reproduction) and rep.paper == "lange" and rep.quick
    assert stages[0] == "community" and "node failure" in stages
    s = lange.study(quick=True, seed=0)
    assert [c.to_dict()["verdict"] for c in rep.claims] == [c["verdict"] for c in lange.claims(s)]
    assert "IRES 2020" in " ".join(rep.assumptions)  # the missing data set is said, not hidden
    assert rep.tables[0].rows[0][0] == lange.RUN_LABELS["bs"]
    md = to_markdown(rep)
    for c in rep.claims:
        assert c.sentence().split(" — ")[0] in md or c.claim in md


def test_cli_quick_json_is_one_object_with_the_contract_keys():
    r = CliRunner().invoke(app, ["reproduce", "lange", "--quick", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["paper"] == "lange"
    for c in d["claims"]:
        assert {"id", "claim", "paper_value", "peergrid_value", "verdict", "reason"} <= set(c)
        assert c["verdict"] in VERDICTS
    assert {c["id"] for c in d["claims"]} >= {"consumer-saving", "performance-increase", "storage-utilisation"}
