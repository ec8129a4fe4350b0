"""A community's feeder: upload (hostile JSON), member mapping, network-aware clearing settled to the cent.

Runs on SQLite and PostgreSQL (the service fixtures). Issue 17, part netclear.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import sys

import numpy as np
import pytest
import sqlalchemy as sa
from svc_helpers import login, make_world

from peergrid.service import clearing, invoices, ledger
from peergrid.service.models import Account, ClearingRun, LedgerEntry, Order, Trade
from peergrid.service.testing import make_user

pp = pytest.importorskip("pandapower")

from peergrid.grid import build_feeder, check_limits, feeder_from_net, line_capacity_kw, power_flow  # noqa: E402

T = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
TAU = 0.05


def _net():
    """Six buses on one thin cable: 50 m sections of NAYY 4x50 SE (≈ 98 kVA)."""
    return build_feeder(n_buses=6, n_feeders=1, line_type="NAYY 4x50 SE", length_km=0.05)


@pytest.fixture
def grid_world(app, client, clock):
    clock.now = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)
    w = make_world(app, client, interval_minutes=15, gate_closure_minutes=5, mechanism="bilateral",
                   retail_price=0.30, feed_in_price=0.10)  # fmt: skip
    w.users["unmapped"] = make_user(app.state.sessions, "consumer", communities=[w.community_id])
    w.headers["unmapped"] = login(client, w.users["unmapped"].email)
    return w


def _upload(client, w, role="operator", body=None, **query):
    params = {"fee_per_kwh": TAU, **query}
    content = body if body is not None else pp.to_json(_net()).encode()
    return client.put(f"/api/communities/{w.community_id}/feeder", headers=w.headers[role], params=params,
                      content=content)  # fmt: skip


def _map(client, w, members, role="operator"):
    return client.put(f"/api/communities/{w.community_id}/feeder/members", headers=w.headers[role],
                      json={"members": members})  # fmt: skip


MAPPING = {"prosumer": (5, "abc"), "prosumer2": (1, "abc"), "consumer": (1, "abc")}


def test_clearing_on_the_feeder_settles_eq12_fees_to_the_cent(app, client, grid_world):
    w, cid, factory = grid_world, grid_world.community_id, app.state.sessions
    r = _upload(client, w)
    assert r.status_code == 200, r.text
    assert r.json()["n_buses"] == 7 and r.json()["fee_per_kwh"] == TAU
    r = _map(client, w, [{"user_id": w.uid(n), "bus": b, "phase": ph} for n, (b, ph) in MAPPING.items()])
    assert r.status_code == 200, r.text
    assert client.get(f"/api/communities/{cid}/feeder", headers=w.headers["consumer"]).json()["members"][0]["bus"]
    for name in ("consumer", "unmapped"):
        client.post(f"/api/communities/{cid}/wallets/{w.uid(name)}/topup", headers=w.headers["operator"],
                    json={"amount_minor": 100_000})  # fmt: skip
    orders = [("prosumer", "sell", 20_000, 0.10), ("prosumer2", "sell", 10_000, 0.15),
              ("consumer", "buy", 25_000, 0.30), ("unmapped", "buy", 1_000, 0.30)]  # fmt: skip
    for name, side, wh, price in orders:
        r = client.post(f"/api/communities/{cid}/orders", headers=w.headers[name],
                        json={"side": side, "interval_start": T.isoformat(), "quantity_wh": wh, "price": price})
        assert r.status_code in (200, 201), r.text  # fmt: skip
    before = _balances(factory, cid)
    out = clearing.settle(factory, cid, T, "market", now=T)
    s = out.summary
    assert s["network"] is True and s["feasible"] is True
    assert s["curtailed_kwh"] > 0 and s["line_fees_minor"] > 0 and s["losses_kwh"] > 0
    with factory() as db:
        trades = db.execute(sa.select(Trade).where(Trade.community_id == cid)).scalars().all()
        status = dict(db.execute(sa.select(Order.user_id, Order.status).where(Order.community_id == cid)).all())
        reason = db.execute(sa.select(Order.reason).where(Order.user_id == w.uid("unmapped"))).scalar_one()
        fee_entries = db.execute(sa.select(LedgerEntry).where(LedgerEntry.community_id == cid,
                                                              LedgerEntry.kind == "line_fee")).scalars().all()
        assert ledger.verify(db).ok
    after = _balances(factory, cid)
    assert sum(after.values()) == 0  # balanced double entry
    by_seller = {t.seller_id: t.quantity_wh for t in trades}
    assert 0 < by_seller[w.uid("prosumer")] < 20_000  # curtailed: the rest is not settled
    assert by_seller[w.uid("prosumer2")] > 0  # the freed bid volume went to the near seller
    assert status[w.uid("prosumer")] == "partial"
    assert status[w.uid("unmapped")] == "rejected" and "feeder" in reason
    # the network operator received exactly the line fees of the trades, all from the buyer
    network = after[("network", None)] - before[("network", None)]
    assert network == sum(t.line_fee_minor for t in trades) == s["line_fees_minor"] == sum(
        e.amount_minor for e in fee_entries)
    assert {e.debit_account_id for e in fee_entries} == {_wallet_id(factory, cid, w.uid("consumer"))}
    buyer_paid = before[("wallet", w.uid("consumer"))] - after[("wallet", w.uid("consumer"))]
    assert buyer_paid == sum(t.payment_minor for t in trades)
    for t in trades:  # the far seller's trade uses lines (fee > 0); the near one shares the buyer's bus (fee 0)
        far = t.seller_id == w.uid("prosumer")
        assert (t.line_fee_minor > 0 and t.price_buy > t.price_sell) if far else t.line_fee_minor == 0
    # to the cent, recomputed independently with pandapower's AC flow of the settled trades (eq. 12)
    net = feeder_from_net(_net(), {str(w.uid(n)): b for n, (b, _) in MAPPING.items()})
    ids = list(net["peergrid_participants"]["id"])
    p_kw = np.zeros(len(ids))
    for t in trades:
        p_kw[ids.index(str(t.buyer_id))] += t.quantity_wh / 1000.0 / 0.25
        p_kw[ids.index(str(t.seller_id))] -= t.quantity_wh / 1000.0 / 0.25
    flow = power_flow(net, p_kw[None, :])
    assert not check_limits(flow).any  # no settled slot breaks a limit (pandapower's own flow)
    cap = line_capacity_kw(net)
    util = np.abs(flow.line_p_kw[0]) / cap
    exact = 0.0
    for t in trades:  # lines between the sellers' bus and bus 1 (the buyer's): lines 1..bus-1 on the chain
        seller_bus = MAPPING["prosumer"][0] if t.seller_id == w.uid("prosumer") else 1
        exact += t.quantity_wh / 1000.0 * TAU * util[1:seller_bus].sum() * 100.0
    assert abs(network - exact) <= 0.5 + 1e-3
    # the buyer's invoice reconciles to the ledger with the line fees in it (market fees line)
    with factory() as db, db.begin():
        (inv,) = invoices.issue(db, cid, T, T + dt.timedelta(minutes=15), user_id=w.uid("consumer"))
    fees_line = next(line for line in inv.data["lines"] if line["item"] == "Market fees")
    assert fees_line["amount_minor"] >= network and inv.total_minor == buyer_paid


def _balances(factory, cid):
    with factory() as db:
        rows = db.execute(sa.select(Account.kind, Account.user_id, Account.balance_minor)
                          .where(Account.community_id == cid)).all()  # fmt: skip
    return {(k, u): b for k, u, b in rows}


def _wallet_id(factory, cid, uid):
    with factory() as db:
        return db.execute(sa.select(Account.id).where(Account.community_id == cid, Account.user_id == uid)).scalar()


def test_without_a_feeder_nothing_changes(app, client, grid_world):
    w, cid, factory = grid_world, grid_world.community_id, app.state.sessions
    client.post(f"/api/communities/{cid}/wallets/{w.uid('consumer')}/topup", headers=w.headers["operator"],
                json={"amount_minor": 10_000})  # fmt: skip
    for name, side, price in (("prosumer", "sell", 0.1), ("consumer", "buy", 0.3)):
        client.post(f"/api/communities/{cid}/orders", headers=w.headers[name],
                    json={"side": side, "interval_start": T.isoformat(), "quantity_wh": 20_000, "price": price})
    assert _upload(client, w).status_code == 200
    assert client.delete(f"/api/communities/{cid}/feeder", headers=w.headers["operator"]).status_code == 204
    out = clearing.settle(factory, cid, T, "market", now=T)
    assert "network" not in out.summary and out.summary["traded_kwh"] == pytest.approx(20.0)
    with factory() as db:
        assert db.execute(sa.select(sa.func.sum(Trade.line_fee_minor)).where(Trade.community_id == cid)).scalar() == 0
        run = db.execute(sa.select(ClearingRun).where(ClearingRun.community_id == cid)).scalar_one()
        assert run.summary["traded_kwh"] == pytest.approx(20.0)


# ---- attacks: always a 4xx JSON body, never a 500, nothing imported or run ----------------------------


def _evil_bodies(tmp_path):
    doc = json.loads(pp.to_json(_net()))
    meshed = _net()
    pp.create_line(meshed, 1, 4, 0.05, "NAYY 4x50 SE")
    bodies = {
        "os.system": json.dumps({"_module": "os", "_class": "system", "_object": f"touch {tmp_path / 'PWNED'}"})
        .encode(),
        "subprocess table": None,
        "evil module": None,
        "truncated": pp.to_json(_net()).encode()[:5000],
        "binary": b"\x00\xff" * 100,
        "wrong type": None,
        "meshed": pp.to_json(meshed).encode(),
        "not a net": b'{"bus": []}',
    }
    d = copy.deepcopy(doc)
    d["_object"]["line"] = {"_module": "subprocess", "_class": "Popen", "_object": ["touch", str(tmp_path / "PWNED")]}
    bodies["subprocess table"] = json.dumps(d).encode()
    d = copy.deepcopy(doc)
    d["_object"]["evil"] = {"_module": "pg_feeder_evil", "_class": "Boom", "_object": "{}"}
    bodies["evil module"] = json.dumps(d).encode()
    d = copy.deepcopy(doc)
    d["_object"]["bus"] = [1, 2, 3]
    bodies["wrong type"] = json.dumps(d).encode()
    return bodies


def test_hostile_uploads_are_422(client, grid_world, tmp_path, monkeypatch):
    (tmp_path / "pg_feeder_evil.py").write_text(f"open({str(tmp_path / 'IMPORTED')!r}, 'w').write('x')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for label, body in _evil_bodies(tmp_path).items():
        r = _upload(client, grid_world, body=body)
        assert r.status_code == 422, (label, r.status_code, r.text[:300])
        assert r.json()["error"] == "invalid" and "\n" not in r.json()["detail"], label
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "IMPORTED").exists()
    assert "pg_feeder_evil" not in sys.modules
    r = client.get(f"/api/communities/{grid_world.community_id}/feeder", headers=grid_world.headers["operator"])
    assert r.status_code == 404 and r.json()["error"] == "not_found"  # nothing was stored


def test_oversize_upload_is_413(client, grid_world):
    r = _upload(client, grid_world, body=b" " * (20 * 1024 * 1024 + 1))
    assert r.status_code == 413 and r.json()["error"] == "too_large"


@pytest.mark.parametrize(("role", "status"), [("prosumer", 403), ("consumer", 403), ("outsider", 404),
                                              ("other_operator", 404), ("admin", 200)])  # fmt: skip
def test_only_admins_and_the_community_s_operators_upload(client, grid_world, role, status):
    r = _upload(client, grid_world, role=role)
    assert r.status_code == status, r.text
    members = [{"user_id": grid_world.uid("consumer"), "bus": 1}]
    assert _map(client, grid_world, members, role=role).status_code == status


def test_bad_limits_and_mappings_are_422(client, grid_world):
    w = grid_world
    assert _map(client, w, [{"user_id": w.uid("consumer"), "bus": 1}]).status_code == 404  # no feeder yet
    r = _upload(client, w, v_min_pu=1.1, v_max_pu=1.05)
    assert r.status_code == 422 and "v_min_pu" in r.json()["detail"]
    assert _upload(client, w).status_code == 200
    cases = [
        ([{"user_id": w.uid("consumer"), "bus": 99}], "bus 99"),
        ([{"user_id": w.users["outsider"].id, "bus": 1}], "not a member"),
        ([{"user_id": w.uid("consumer"), "bus": 1}, {"user_id": w.uid("consumer"), "bus": 2}], "twice"),
        ([{"user_id": w.uid("consumer"), "bus": 1, "phase": "d"}], "phase"),
        ([{"user_id": w.uid("consumer"), "bus": -1}], "bus"),
    ]
    for members, text in cases:
        r = _map(client, w, members)
        assert r.status_code == 422 and text in r.text, (members, r.text)
    assert _map(client, w, [{"user_id": w.uid("consumer"), "bus": 5, "phase": "b"}]).status_code == 200
    small = build_feeder(n_buses=3)
    r = _upload(client, w, body=pp.to_json(small).encode())  # the mapped member's bus 5 would vanish
    assert r.status_code == 422 and "re-map" in r.json()["detail"]


def test_pool_communities_take_a_feeder(app, client, clock):
    """Pool communities carry a feeder too (network charges at metered settlement: test_poolfee_feeder.py)."""
    w = make_world(app, client, interval_minutes=15, mechanism="sdr", retail_price=0.3, feed_in_price=0.1)
    r = _upload(client, w)
    assert r.status_code == 200, r.text
