"""``peergrid clear ORDERS.csv``: mechanisms, JSON keys, --out DIR, one-line errors with the line number."""

import json

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from peergrid.cli import clear as clear_cli

runner = CliRunner()
SUMMARY = {"mechanism", "traded_kwh", "clearing_price", "welfare", "n_trades"}
ORDERS = """id,participant,side,quantity_kwh,price
1,alice,buy,2,0.30
2,bob,buy,1,0.20
3,carol,sell,1.5,0.10
4,dave,sell,3,0.25
"""


def make_app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)

    @app.callback()
    def main() -> None:
        """Test app with the clear command."""

    app.add_typer(clear_cli.app)
    return app


APP = make_app()


def run(*args):
    result = runner.invoke(APP, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def orders(tmp_path):
    p = tmp_path / "orders.csv"
    p.write_text(ORDERS)
    return p


def test_uniform_json(orders):
    code, out, err = run("clear", orders, "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert SUMMARY <= set(payload)
    assert payload["mechanism"] == "uniform" and payload["n_trades"] == 2
    assert payload["traded_kwh"] == pytest.approx(2.0)
    assert payload["clearing_price"] == pytest.approx(0.275)
    assert payload["welfare"] == pytest.approx(0.325)
    assert payload["trades"][0] | {"quantity_kwh": 1.5} == {
        "slot": 0,
        "buy_id": 1,
        "sell_id": 3,
        "buyer": "alice",
        "seller": "carol",
        "quantity_kwh": 1.5,
        "price_buy": pytest.approx(0.275),
        "price_sell": pytest.approx(0.275),
        "fee": 0.0,
    }


@pytest.mark.parametrize(
    ("mechanism", "traded", "price"),
    [("uniform", 2.0, 0.30), ("pay-as-bid", 2.0, None), ("mcafee", 0.0, None), ("bilateral", 2.0, None)],
)
def test_mechanisms(orders, mechanism, traded, price):
    code, out, err = run("clear", orders, "--mechanism", mechanism, "--k", "1", "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["mechanism"] == mechanism
    assert payload["traded_kwh"] == pytest.approx(traded)
    assert payload["clearing_price"] == (pytest.approx(price) if price is not None else None)


def test_slots_tariffs_and_out(tmp_path):
    p = tmp_path / "o.csv"
    p.write_text("id,participant,side,quantity_kwh,price,slot\n1,a,buy,1,0.3,0\n2,b,sell,1,0.1,0\n3,a,buy,1,0.3,1\n")
    out_dir = tmp_path / "sub" / "clear"
    code, out, err = run("clear", p, "--retail", 0.4, "--feed-in", 0.05, "--out", out_dir, "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert [s["slot"] for s in payload["slots"]] == [0, 1]
    assert payload["slots"][1]["clearing_price"] is None
    assert payload["grid_bill"] == pytest.approx(0.4)
    df = pd.read_csv(out_dir / "trades.csv")
    assert df.columns.tolist()[:5] == ["slot", "buy_id", "sell_id", "buyer", "seller"] and len(df) == 1
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["trades"] == "trades.csv" and summary["grid_bill"] == pytest.approx(0.4)
    assert sorted(f.name for f in out_dir.iterdir()) == [".peergrid-output", "summary.json", "trades.csv"]
    assert [f.name for f in out_dir.parent.iterdir()] == ["clear"]  # no temporary directory left


def test_bilateral_fees(tmp_path, orders):
    fees = tmp_path / "fees.csv"
    fees.write_text("seller,buyer,fee\ncarol,alice,0.05\ndave,alice,0.0\n")
    code, out, err = run("clear", orders, "--mechanism", "bilateral", "--fees", fees, "--json")
    assert code == 0, err
    payload = json.loads(out)
    # alice trades with dave (no fee) although carol's ask is cheaper; bob buys from carol (no fee listed)
    pairs = {(t["buyer"], t["seller"]): t["quantity_kwh"] for t in payload["trades"]}
    assert pairs == {("alice", "dave"): 2.0, ("bob", "carol"): 1.0}
    assert payload["fees"] == 0.0


def test_human_output(orders):
    code, out, _ = run("clear", orders, "--mechanism", "pay-as-bid")
    assert code == 0
    assert "Trades (pay-as-bid)" in out and "traded" in out and "2.000 kWh" in out
    assert "{" not in out  # a readable summary, not JSON (that is --json)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,participant,side,quantity_kwh,price\n1,a,buy,2,0.3\n2,b,sel,1,0.2\n", "line 3: side must be"),
        ("id,participant,side,quantity_kwh,price\n1,a,buy,2,0.3\n\n2,b,sell,abc,0.2\n", "line 4: quantity_kwh 'abc'"),
        ("id,participant,side,quantity_kwh,price\n1,a,buy,2\n", "line 2: expected 5 fields, got 4"),
        ("id,participant,side,price\n1,a,buy,2\n", "line 1: header lacks column(s) quantity_kwh"),
    ],
)
def test_malformed_rows_one_line_exit_2_nothing_written(tmp_path, text, message):
    p = tmp_path / "orders.csv"
    p.write_text(text)
    out_dir = tmp_path / "trades"
    code, out, err = run("clear", p, "--out", out_dir, "--json")
    assert code == 2
    assert out == ""
    assert message in err and "orders.csv" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert sorted(f.name for f in tmp_path.iterdir()) == ["orders.csv"]


def test_usage_errors(orders, tmp_path):
    code, _, err = run("clear", tmp_path / "missing.csv")
    assert code == 2 and "missing.csv" in err and len(err.strip().splitlines()) == 1
    code, _, err = run("clear", orders, "--retail", 0.3)
    assert code == 2 and "--feed-in" in err
    code, _, err = run("clear", orders, "--fees", orders)
    assert code == 2 and "bilateral only" in err
    code, _, _ = run("clear", orders, "--k", 1.5)
    assert code == 2
    code, _, _ = run("clear", orders, "--mechanism", "dutch")
    assert code == 2


NETWORK_ORDERS = """id,participant,side,quantity_kwh,price,slot
1,a,sell,300,0.10,0
2,b,buy,300,0.30,0
3,a,sell,5,0.10,1
4,b,buy,5,0.30,1
"""


@pytest.fixture
def network_orders(tmp_path):
    pytest.importorskip("pandapower")
    p = tmp_path / "net_orders.csv"
    p.write_text(NETWORK_ORDERS)
    return p


def test_network_aware_curtails_the_overloading_trade(network_orders, tmp_path):
    # default feeder: a on node 1, b on node 2 (NAYY 4x150 SE, ~187 kVA): 300 kW from a to b overloads line 1-2
    code, out, err = run("clear", network_orders, "--mechanism", "bilateral", "--json")
    assert code == 0, err
    plain = json.loads(out)
    assert plain["traded_kwh"] == pytest.approx(305.0) and plain["curtailed_kwh"] is None
    assert plain["network_aware"] is False
    code, out, err = run("clear", network_orders, "--mechanism", "bilateral", "--network-aware", "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["network_aware"] is True
    slot0, slot1 = payload["slots"]
    assert 150.0 < slot0["traded_kwh"] < 190.0 and slot0["curtailed_kwh"] == pytest.approx(300 - slot0["traded_kwh"])
    assert slot1["traded_kwh"] == pytest.approx(5.0) and slot1["curtailed_kwh"] == 0.0
    assert payload["curtailed_kwh"] == pytest.approx(slot0["curtailed_kwh"])
    # a feeder file, a weaker cable and half-hour slots (kWh -> kW doubles) curtail more
    feeder = tmp_path / "feeder.csv"
    feeder.write_text("participant,node\na,1\nb,3\n")
    code, out, err = run(
        "clear", network_orders, "--mechanism", "bilateral", "--network-aware", "--feeder", feeder,
        "--line-type", "NAYY 4x50 SE", "--dt", 0.5, "--json",
    )  # fmt: skip
    assert code == 0, err
    weak = json.loads(out)
    assert 0 < weak["slots"][0]["traded_kwh"] < 0.5 * slot0["traded_kwh"]


@pytest.mark.parametrize(
    ("feeder_text", "args", "message"),
    [
        ("participant,node\na,1\n", (), "feeder.csv: no node for participant 'b'"),
        ("participant,bus\na,1\nb,2\n", (), "feeder.csv line 1: header must be participant,node[,phase]"),
        ("participant,node\na,1\nb,x\n", (), "feeder.csv line 3: node 'x' is not an integer"),
        ("participant,node\na,1\na,2\n", (), "feeder.csv line 3: participant 'a' listed twice"),
        ("participant,node\na,1\nb,2\n", ("--line-type", "copper"), "--line-type 'copper'"),
        ("participant,node\na,1\nb,2\n", ("--v-min", 1.1), "--v-min"),
    ],
)
def test_network_aware_errors(network_orders, tmp_path, feeder_text, args, message):
    feeder = tmp_path / "feeder.csv"
    feeder.write_text(feeder_text)
    out_dir = tmp_path / "trades"
    code, out, err = run(
        "clear", network_orders, "--mechanism", "bilateral", "--network-aware", "--feeder", feeder, *args,
        "--out", out_dir,
    )  # fmt: skip
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out_dir.exists()


def test_feeder_map_needs_network_mode(orders, tmp_path):
    code, _, err = run("clear", orders, "--mechanism", "bilateral", "--feeder", orders)
    assert code == 2 and "need --network FEEDER.json or --network-aware" in err
