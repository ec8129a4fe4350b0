"""Milford Haven reproduction (Petri et al. Section VI): data, scenario, rule vs LP vs none, CLI, report."""

import json
import sys
import types

import numpy as np
import pytest
import typer
from scipy import sparse
from scipy.optimize import linprog
from typer.testing import CliRunner

import peergrid
from peergrid import ConfigError
from peergrid.control.greedy import BatterySchedule
from peergrid.control.rule import rule_based
from peergrid.data.milford_haven import BATTERY_KWH, BUILDINGS, milford_haven_community
from peergrid.simulate.control_study import milford_haven_study
from peergrid.simulate.scenario import build, load_scenario, scenario_from_dict

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


# ---- an independent reference LP (scipy HiGHS), Petri et al. eqs. 4-6 ---------------------------
def _reference_lp(net: np.ndarray, retail, feed_in, cap, power, eta_c, eta_d, e0, e_lo, e_hi, dt):
    """min Σ λb g+ − λs g−  s.t.  Σ_m (c − d) + net = g+ − g−, SOC dynamics, bounds, e_T ≥ e_0; (T, M) schedules."""
    T, M = net.shape[0], cap.size
    one = sparse.kron(sparse.eye(T), np.ones((1, M)))
    eye_t = sparse.eye(T)
    zeros_t = sparse.csr_matrix((T, T * M))
    a_bal = sparse.hstack([one, -one, zeros_t, -eye_t, eye_t])
    shift = sparse.eye(T, k=-1)
    a_soc = sparse.hstack([
        -sparse.kron(sparse.eye(T), sparse.diags(eta_c)), sparse.kron(sparse.eye(T), sparse.diags(1 / eta_d)),
        sparse.eye(T * M) - sparse.kron(shift, sparse.eye(M)), sparse.csr_matrix((T * M, 2 * T)),
    ])
    b_soc = np.zeros(T * M)
    b_soc[:M] = e0
    cost = np.concatenate([np.zeros(3 * T * M), retail, -feed_in])
    step = np.tile(power * dt, T)
    lo = np.tile(e_lo, T)
    lo[-M:] = np.maximum(e_lo, e0)  # end no emptier than at the start (stored energy is not free)
    bounds = ([(0, s) for s in step] * 2 + list(zip(lo, np.tile(e_hi, T), strict=True))
              + [(0, None)] * (2 * T))
    res = linprog(cost, A_eq=sparse.vstack([a_bal, a_soc]).tocsr(), b_eq=np.concatenate([-net, b_soc]),
                  bounds=bounds, method="highs")
    assert res.status == 0
    x = res.x
    return (x[: T * M].reshape(T, M), x[T * M: 2 * T * M].reshape(T, M), x[2 * T * M: 3 * T * M].reshape(T, M))


def _fleet(com):
    p = com.participants
    owners = np.flatnonzero(p["battery_kwh"].to_numpy() > 0)
    s = p.iloc[owners]
    cap = s["battery_kwh"].to_numpy(float)
    return owners, dict(
        cap=cap, power=s["battery_kw"].to_numpy(float), eta_c=s["battery_eff_charge"].to_numpy(float),
        eta_d=s["battery_eff_discharge"].to_numpy(float), e0=s["soc_init"].to_numpy(float) * cap,
        e_lo=s["soc_min"].to_numpy(float) * cap, e_hi=s["soc_max"].to_numpy(float) * cap,
    )


def reference_lp_community(community, progress=None):
    owners, f = _fleet(community)
    c, d, e = _reference_lp(community.net.sum(axis=1), community.retail, community.feed_in, dt=community.dt, **f)
    return BatterySchedule(owners, c, d, e, f["cap"])


def reference_lp_individual(community, progress=None):
    owners, f = _fleet(community)
    parts = [_reference_lp(community.net[:, o], community.retail, community.feed_in, dt=community.dt,
                           **{k: v[j:j + 1] for k, v in f.items()}) for j, o in enumerate(owners)]
    c, d, e = (np.hstack([p[k] for p in parts]) for k in range(3))
    return BatterySchedule(owners, c, d, e, f["cap"])


@pytest.fixture
def reference_lp(monkeypatch):
    """Stand in for peergrid.control.lp with the scipy reference LP."""
    mod = types.ModuleType("peergrid.control.lp")
    mod.lp_community = reference_lp_community
    mod.lp_individual = reference_lp_individual
    monkeypatch.setitem(sys.modules, "peergrid.control.lp", mod)
    monkeypatch.setattr(peergrid.control, "lp", mod, raising=False)
    return mod


# ---- data ------------------------------------------------------------------------------------------
def test_community_matches_the_paper_description():
    com = milford_haven_community()
    assert com.T == 48 and com.dt == 0.5 and com.N == 5
    assert list(com.ids) == list(BUILDINGS) == ["Packaway", "K Shed", "M Shed", "F Shed", "J Shed"]
    p = com.participants
    assert (p["pv_kwp"] == 50.0).all()
    assert (p["battery_kwh"] == BATTERY_KWH).all() and (p["battery_kw"] * com.dt == 7.5).all()
    assert com.currency == "GBP" and com.meta["reconstructed"] and "reconstructed" in com.source
    local = com.index.tz_convert("Europe/London")
    assert local[0].hour == 0 and local[0].minute == 0  # 48 half-hour steps of one local day
    # PV: zero at night, below the 50 kW AC rating, peak around solar noon (about 13:20 BST)
    pv_kw = com.generation / com.dt
    assert pv_kw[:8].max() == 0 and pv_kw[-6:].max() == 0
    assert 30 < pv_kw.max() < 50
    assert 12 <= local[int(np.argmax(pv_kw[:, 0]))].hour <= 14
    # TOU: cheapest at night, peak price in steps 33-38 (16:00-19:00)
    assert com.retail[:10].max() == com.retail.min()
    assert np.flatnonzero(com.retail == com.retail.max()).tolist() == list(range(32, 38))
    load_kw = com.load / com.dt
    # Packaway: ice machine in the day, box washer 10-12 h; K Shed cold room runs all day and night
    assert load_kw[21, 0] > load_kw[26, 0] > load_kw[2, 0]
    assert load_kw[:, 1].min() > 15
    # the site exports around midday, imports at night (Petri Fig. 6a: grid power negative at midday)
    net = com.net.sum(axis=1)
    assert net[26] < 0 < net[2]


def test_other_days_steps_and_options():
    com = milford_haven_community("2019-07-01", days=2, freq="15min", boats=True, clearness=0.5, retail=0.2)
    assert com.T == 192 and np.all(com.retail == 0.2)
    assert com.meta["secondary_storage"]["participants"] == ["Packaway", "M Shed"]
    summer = milford_haven_community("2019-07-01").generation.sum()
    # half the irradiance, a little more than half the energy (cooler cells, no clipping)
    assert 0.5 * summer < com.generation[:96].sum() < 0.6 * summer
    with pytest.raises(ConfigError, match="freq"):
        milford_haven_community(freq="7min")
    with pytest.raises(ConfigError, match="clearness"):
        milford_haven_community(clearness=0)


def test_scenario_file_and_schema():
    path = ROOT / "scenarios" / "milford-haven.toml"
    sc = load_scenario(path)
    com = build(sc, str(path))
    ref = milford_haven_community()
    np.testing.assert_allclose(com.load, ref.load)
    np.testing.assert_allclose(com.retail, ref.retail)
    assert com.name == "milford-haven" and com.currency == "GBP" and com.feed_in[0] == 0.05
    assert sc.simulation.control == "rule"
    base = {"community": {"source": "milford-haven"}, "time": {"freq": "30min"}}
    default = scenario_from_dict(base).build_community()
    np.testing.assert_allclose(default.retail, ref.retail)  # TOU and GBP unless the file says otherwise
    assert default.currency == "GBP" and default.feed_in[0] == 0.05
    with pytest.raises(ConfigError, match="boats applies to source = 'milford-haven' only"):
        scenario_from_dict({"community": {"source": "synthetic", "households": 3, "boats": True}})
    with pytest.raises(ConfigError, match="whole days"):
        scenario_from_dict({**base, "time": {"freq": "30min", "periods": 30}}).build_community()
    with pytest.raises(ConfigError, match="citylearn"):
        scenario_from_dict({**base, "tariff": {"retail": "citylearn"}}).build_community()
    with pytest.raises(ConfigError, match="milford-haven"):
        scenario_from_dict({"community": {"source": "synthetic", "households": 3},
                            "tariff": {"retail": "milford-haven"}}).build_community()


# ---- the three scenarios -------------------------------------------------------------------------------
def test_rule_based_beats_no_control():
    com = milford_haven_community()
    none = peergrid.simulate(com, market="sdr", control="none").metrics["community_cost"]
    rule = peergrid.simulate(com, market="sdr", control=rule_based)
    assert rule.metrics["community_cost"] < none
    soc = rule.battery.energy / BATTERY_KWH
    assert soc.min() >= 0.2 - 1e-9 and soc.max() <= 0.95 + 1e-9  # Algorithm 1 band
    # with the electric boats as secondary storage the rule-based run is cheaper still
    boats = peergrid.simulate(milford_haven_community(boats=True), market="sdr", control=rule_based)
    assert boats.metrics["community_cost"] < rule.metrics["community_cost"]
    assert boats.battery.secondary.energy.max() <= 0.98 * 60 + 1e-9


def test_paper_ranking_with_reference_lp(reference_lp):
    study = milford_haven_study()
    c = study.costs
    assert c["optimal"] < c["rule"] < c["none"]
    assert study.paper_check() == {"optimal_cheapest": True, "rule_between": True, "reproduced": True}
    assert "optimal_individual" in study.reference
    # joint dispatch is at least as good as every building alone
    assert c["optimal"] <= study.reference["optimal_individual"].metrics["community_cost"] + 1e-6


def test_paper_ranking_with_peergrid_lp():
    pytest.importorskip("peergrid.control.lp")
    study = milford_haven_study()
    c = study.costs
    assert c["optimal"] < c["rule"] < c["none"], c
    # the LP optimum equals the scipy reference solution of the same LP (end SOC >= initial)
    ref = peergrid.simulate(study.community, market="sdr", control=reference_lp_community)
    assert c["optimal"] == pytest.approx(ref.metrics["community_cost"], abs=1e-6)
    end = study.results["optimal"].battery.energy[-1]
    assert np.all(end >= BATTERY_KWH * 0.2 - 1e-6)


# ---- CLI ---------------------------------------------------------------------------------------------
def cli_app():
    from peergrid.cli import control as control_cli

    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """test app"""

    app.add_typer(control_cli.app, name="control")
    return app


def test_cli_json_and_report(reference_lp, tmp_path):
    out = tmp_path / "mh"
    r = CliRunner().invoke(cli_app(), ["control", "milford-haven", "--json", "--out", str(out)])
    assert r.exit_code == 0, r.output
    payload = json.loads(r.stdout)
    assert payload["scenario"] == "milford-haven"
    assert set(payload["costs"]) == {"none", "rule", "optimal"}
    assert payload["costs"]["optimal"] < payload["costs"]["rule"] < payload["costs"]["none"]
    assert payload["paper_result"]["reproduced"] is True
    assert payload["currency"] == "GBP" and payload["reconstructed"] is True
    assert set(payload["runs"]) == {"none", "rule", "optimal"}
    for name in ("none", "rule", "optimal"):
        assert (out / f"soc_{name}.png").stat().st_size > 1000
        assert (out / f"grid_{name}.png").stat().st_size > 1000
    html = (out / "report.html").read_text()
    assert "data:image/png;base64," in html and "http" not in html.split("<body>")[1].replace("https", "")
    assert json.loads((out / "summary.json").read_text())["costs"] == payload["costs"]
    r = CliRunner().invoke(cli_app(), ["control", "milford-haven"])
    assert r.exit_code == 0 and "reproduced" in r.stdout


def test_cli_bad_input_one_line(reference_lp, tmp_path):
    r = CliRunner().invoke(cli_app(), ["control", "milford-haven", "--market", "auction-x"])
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
    bad = tmp_path / "bad.toml"
    bad.write_text('[community]\nsource = "milford-haven"\nboats = "many"\n')
    r = CliRunner().invoke(cli_app(), ["control", "milford-haven", "--scenario", str(bad)])
    assert r.exit_code == 2 and "boats" in r.stderr
