"""``peergrid clear ORDERS.csv --network FEEDER.json``: eq. 12 fees, curtailment, VIM, re-matching, losses."""

import copy
import json

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from peergrid.cli import clear as clear_cli

pp = pytest.importorskip("pandapower")

from peergrid.grid import (  # noqa: E402
    FeederLimits,
    build_feeder,
    check_limits,
    clear_on_feeder,
    feeder_from_net,
    line_capacity_kw,
    power_flow,
    power_flow_3ph,
)
from peergrid.io import read_orders  # noqa: E402

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def main() -> None:
        """Test app."""

    app.add_typer(clear_cli.app)
    return app


APP = _app()
ORDERS = """id,participant,side,quantity_kwh,price,slot
1,alice,sell,40,0.10,0
2,bob,sell,30,0.12,0
3,carol,buy,50,0.25,0
4,dave,buy,30,0.20,0
5,alice,sell,5,0.10,1
6,carol,buy,5,0.30,1
"""
MAP = "participant,node,phase\nalice,2,a\nbob,3,abc\ncarol,11,b\ndave,10,abc\n"


def run(*args, env=None):
    result = runner.invoke(APP, [str(a) for a in args], env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def files(tmp_path):
    orders = tmp_path / "orders.csv"
    orders.write_text(ORDERS)
    feeder = tmp_path / "feeder.json"
    net = build_feeder(n_buses=12, n_feeders=1, line_type="NAYY 4x50 SE", length_km=0.05)
    feeder.write_text(pp.to_json(net))
    mapping = tmp_path / "map.csv"
    mapping.write_text(MAP)
    return orders, feeder, mapping, net


def _member_power(payload, slot, order):
    p = np.zeros(len(order))
    for t in payload["trades"]:
        if t["slot"] == slot:
            p[order.index(t["buyer"])] += t["quantity_kwh"]
            p[order.index(t["seller"])] -= t["quantity_kwh"]
    return p


@pytest.mark.parametrize("mechanism", ["bilateral", "uniform", "pay-as-bid", "mcafee"])
def test_settled_slots_are_within_limits_on_pandapower(files, mechanism):
    orders, feeder, mapping, net = files
    code, out, err = run("clear", orders, "--network", feeder, "--feeder", mapping, "--mechanism", mechanism, "--json")
    assert code == 0, err
    payload = json.loads(out)
    keys = ("line_fees", "curtailed_kwh", "losses_kwh", "max_line_loading_pct", "min_voltage_pu", "max_vim_pct")
    assert all(payload[k] is not None for k in keys)
    assert payload["feasible"] is True and payload["curtailed_kwh"] > 0
    members = ["alice", "bob", "carol", "dave"]
    table = pd.DataFrame({"id": members, "bus": [2, 3, 11, 10], "phase": ["a", "abc", "b", "abc"]})
    placed = feeder_from_net(net, table)
    for slot in (0, 1):  # pandapower's own unbalanced AC flow, not the clearing's flow
        flow = power_flow_3ph(placed, _member_power(payload, slot, members)[None, :])
        assert not check_limits(flow, max_vim_pct=2.0).any
        assert np.nanmax(flow.vim_pct) <= 2.0
    # money: buyers pay energy + eq. 12 fee; line fees add up per trade, per slot and in total
    fees = [t["fee_per_kwh"] * t["quantity_kwh"] for t in payload["trades"]]
    assert sum(t["line_fee"] for t in payload["trades"]) == pytest.approx(payload["line_fees"], abs=1e-12)
    assert sum(fees) == pytest.approx(payload["line_fees"], abs=1e-12)
    assert sum(s["line_fees"] for s in payload["slots"]) == pytest.approx(payload["line_fees"], abs=1e-12)
    # energy: allocated losses add up to the slot's incremental losses
    for s in payload["slots"]:
        alloc = sum(t["losses_kwh"] for t in payload["trades"] if t["slot"] == s["slot"])
        assert alloc == pytest.approx(s["losses_kwh"], abs=1e-12)


def test_eq12_fee_and_losses_by_hand(tmp_path):
    """One trade a (bus 1) -> b (bus 3): H = τ·(|P_1|/Pmax_1 + |P_2|/Pmax_2) on lines 1-2 and 2-3 from pandapower."""
    orders = tmp_path / "o.csv"
    orders.write_text("id,participant,side,quantity_kwh,price\n1,a,sell,20,0.1\n2,b,buy,20,0.3\n")
    net = build_feeder(n_buses=4, n_feeders=1)
    feeder = tmp_path / "f.json"
    feeder.write_text(pp.to_json(net))
    mapping = tmp_path / "m.csv"
    mapping.write_text("participant,node\na,1\nb,3\n")
    code, out, err = run("clear", orders, "--network", feeder, "--feeder", mapping, "--tau", 0.05, "--json")
    assert code == 0, err
    payload = json.loads(out)
    (trade,) = payload["trades"]
    assert trade["quantity_kwh"] == pytest.approx(20.0) and payload["curtailed_kwh"] == 0.0
    work = copy.deepcopy(net)
    pp.create_load(work, 1, p_mw=-0.020)
    pp.create_load(work, 3, p_mw=0.020)
    pp.runpp(work)
    p_line = work.res_line["p_from_mw"].to_numpy() * 1000.0
    cap = line_capacity_kw(net)
    want = 0.05 * (abs(p_line[1]) / cap[1] + abs(p_line[2]) / cap[2])  # line 0 (busbar-1) is not on the path
    assert trade["fee_per_kwh"] == pytest.approx(want, rel=1e-6)
    assert trade["price_buy"] - trade["price_sell"] == pytest.approx(want, rel=1e-6)
    assert payload["line_fees"] == pytest.approx(20.0 * want, rel=1e-6)
    base = copy.deepcopy(net)
    pp.runpp(base)
    losses = lambda n: (n.res_line["pl_mw"].sum() + n.res_trafo["pl_mw"].sum()) * 1000.0  # noqa: E731
    assert payload["losses_kwh"] == pytest.approx(losses(work) - losses(base), rel=1e-6)
    assert trade["losses_kwh"] == pytest.approx(payload["losses_kwh"])


def test_freed_volume_is_rematched_with_a_peer_the_feeder_can_carry(tmp_path):
    # far: cheap seller 600 m away on a thin cable; near: dearer seller next to the buyer
    orders = tmp_path / "o.csv"
    orders.write_text(
        "id,participant,side,quantity_kwh,price\n1,far,sell,60,0.05\n2,near,sell,60,0.15\n3,buyer,buy,60,0.30\n"
    )
    net = build_feeder(n_buses=14, n_feeders=1, line_type="NAYY 4x50 SE", length_km=0.05)
    feeder = tmp_path / "f.json"
    feeder.write_text(pp.to_json(net))
    mapping = tmp_path / "m.csv"
    mapping.write_text("participant,node\nfar,13\nnear,1\nbuyer,1\n")
    code, out, err = run("clear", orders, "--network", feeder, "--feeder", mapping, "--json")
    assert code == 0, err
    payload = json.loads(out)
    by_seller = {t["seller"]: t["quantity_kwh"] for t in payload["trades"]}
    assert 0 < by_seller["far"] < 60 and payload["curtailed_kwh"] == pytest.approx(60 - by_seller["far"])
    assert by_seller["near"] == pytest.approx(60 - by_seller["far"])  # the freed bid went to the near seller
    assert payload["rematched_kwh"] == pytest.approx(by_seller["near"])
    code, out, err = run("clear", orders, "--network", feeder, "--feeder", mapping, "--rounds", 1, "--json")
    assert code == 0, err
    assert {t["seller"] for t in json.loads(out)["trades"]} == {"far"}


def test_vim_limit_curtails_single_phase_trades(files):
    orders, feeder, mapping, _ = files
    got = {}
    for limit in (0.3, 5.0):
        code, out, err = run("clear", orders, "--network", feeder, "--feeder", mapping, "--max-vim", limit,
                             "--v-min", 0.8, "--json")  # fmt: skip
        assert code == 0, err
        got[limit] = json.loads(out)
    assert got[0.3]["max_vim_pct"] <= 0.3 < got[5.0]["max_vim_pct"] <= 5.0
    assert got[0.3]["traded_kwh"] < got[5.0]["traded_kwh"]


def test_network_aware_is_the_default_feeder_spelling(files):
    orders, *_ = files
    code, out, err = run("clear", orders, "--network-aware", "--mechanism", "uniform", "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["network"] == "default" and payload["network_aware"] is True
    book = read_orders(orders)
    members = ["alice", "bob", "carol", "dave"]
    net = feeder_from_net(build_feeder(n_buses=5), pd.DataFrame({"id": members, "bus": [1, 2, 3, 4], "phase": "abc"}))
    direct = clear_on_feeder(book, FeederLimits(net, max_vim_pct=2.0), "uniform")
    assert payload["line_fees"] == pytest.approx(direct.summary()["line_fees"])
    assert payload["max_vim_pct"] == 0.0  # every member on three phases: balanced flow
    flow = power_flow(net, _member_power(payload, 0, members)[None, :])
    assert payload["slots"][0]["max_line_loading_pct"] == pytest.approx(float(np.nanmax(flow.loading_pct)), rel=1e-6)


def test_help_says_how_network_and_network_aware_relate():
    code, out, _ = run("clear", "--help", env={"COLUMNS": "200"})
    assert code == 0
    out = " ".join(out.replace("│", " ").split())
    assert "--network" in out and "--network-aware" in out and "same clearing as --network" in out


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (
            lambda d: d.write_text('{"_module": "os", "_class": "system", "_object": "touch PWNED"}'),
            (),
            "object os.system is not allowed",
        ),
        (lambda d: d.write_text('{"_module": "pandapower.auxiliary"'), (), "not valid JSON"),
        (lambda d: d.write_bytes(b" " * (21 * 1024 * 1024)), (), "more than the limit"),
        (None, ("--fees", "FEES"), "exclude each other"),
        (None, ("--network-aware",), "drop --network-aware"),
        (None, ("--max-vim", 0), "--max-vim > 0"),
    ],
)
def test_one_line_errors(files, tmp_path, make, args, message):
    orders, feeder, mapping, _ = files
    if make is not None:
        feeder = tmp_path / "bad.json"
        make(feeder)
    args = tuple(str(mapping) if a == "FEES" else a for a in args)
    code, out, err = run("clear", orders, "--network", feeder, "--feeder", mapping, "--mechanism", "bilateral", *args)
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(
    ("map_text", "message"),
    [
        ("participant,node\nalice,2\nbob,3\ncarol,99\ndave,4\n", "bus 99"),
        ("participant,node\nalice,2\nbob,3\ncarol,4\n", "no bus for participant 'dave'"),
        ("participant,node,phase\nalice,2,q\nbob,3,a\ncarol,4,a\ndave,5,a\n", "phase"),
    ],
)
def test_mapping_errors(files, tmp_path, map_text, message):
    orders, feeder, _, _ = files
    mapping = tmp_path / "bad_map.csv"
    mapping.write_text(map_text)
    code, out, err = run("clear", orders, "--network", feeder, "--feeder", mapping)
    assert out == ""
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    code, _, err = run("clear", orders, "--network", feeder)
    assert code == 2 and "map them with --feeder" in err


def test_flow_option_picks_the_ac_flow_and_both_agree(files):
    """--flow sweep (default) and --flow pandapower clear the same book alike; the JSON says which ran."""
    orders, feeder, mapping, _ = files
    got = {}
    for flow in ("sweep", "pandapower"):
        code, out, err = run("clear", orders, "--network", feeder, "--feeder", mapping, "--flow", flow, "--json")
        assert code == 0, err
        got[flow] = json.loads(out)
        assert got[flow]["flow"] == flow
    assert got["sweep"]["traded_kwh"] == pytest.approx(got["pandapower"]["traded_kwh"], rel=0.01)
    assert got["sweep"]["max_vim_pct"] == pytest.approx(got["pandapower"]["max_vim_pct"], abs=0.01)
    code, out, err = run("clear", orders, "--network", feeder, "--feeder", mapping, "--flow", "newton")
    assert code == 2 and "newton" in err
    code, out, _ = run("clear", orders, "--json")
    assert json.loads(out)["flow"] is None
