"""``peergrid reproduce tooki --quick``: the 246 + 14 case at 150 min against the paper's 15 % bill reduction."""

from __future__ import annotations

from pathlib import Path

import pytest

from peergrid.reproduce import run_paper
from peergrid.reproduce.tooki import SCENARIO, _community
from peergrid.simulate import simulate
from peergrid.simulate.scenario import load_scenario, scenario_from_dict

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rep():
    return run_paper("tooki", quick=True, seed=0)


def test_contract_and_prose(rep, check):
    d = check(rep, "tooki")
    assert [c["id"] for c in d["claims"]] == [
        "bill_reduction",
        "bill_reduction_consumers",
        "reliability",
        "qualitative_ratings",
    ]
    assert rep.claim("bill_reduction").verdict == "disagrees" and "at most" in rep.claim("bill_reduction").reason
    assert rep.claim("reliability").verdict == "not comparable"


def test_the_case_is_the_shipped_scenario():
    ship = load_scenario(ROOT / "scenarios" / "tooki-260.toml")
    assert scenario_from_dict(SCENARIO).model_dump() == ship.model_dump()
    com = _community(15)
    roles = com.participants["role"].value_counts().to_dict()
    assert roles == {"consumer": 246, "prosumer": 14} and com.dt == 2.5


def test_known_full_year_bill_reduction():
    """The issue's figure: the one-year 246 + 14 case reduces the community net bill by only 2.55 %."""
    res = simulate(_community(365), market="bilateral", control="greedy")
    assert res.metrics["community_cost_reduction"] == pytest.approx(0.02552, abs=5e-5)
