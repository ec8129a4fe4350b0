"""A pool community's feeder: eq. 12 line fees and loss charges at metered settlement, to the cent.

The same rules as the simulator's ``[grid]`` step (``peergrid.grid.charges``, called by both).
Runs on SQLite and PostgreSQL (the service fixtures). Issue 17, part poolfee.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import sqlalchemy as sa
from svc_helpers import login, make_world

from peergrid.market import clear, to_minor
from peergrid.service import clearing, directory, invoices, ledger
from peergrid.service.metering import ingest_readings
from peergrid.service.models import Account, LedgerEntry, Position
from peergrid.service.testing import make_user

pp = pytest.importorskip("pandapower")

from peergrid.grid import build_feeder, feeder_from_net, line_capacity_kw, power_flow  # noqa: E402

T = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
STEP = dt.timedelta(minutes=15)
TAU = 2.5  # currency/kWh at full utilisation: large, so that the fees are whole cents worth checking
RETAIL = 0.30
#: 3 members on a 4-bus feeder (MV, busbar 0, nodes 1 and 2 on one cable): name → (bus, metered net Wh)
MEMBERS = {"prosumer": (2, -2000), "consumer": (1, 1500), "prosumer2": (0, 1000)}


def _net():
    """MV bus, LV busbar 0, nodes 1 and 2: 50 m sections of NAYY 4x50 SE (≈ 98 kW)."""
    return build_feeder(n_buses=3, n_feeders=1, line_type="NAYY 4x50 SE", length_km=0.05)


@pytest.fixture
def pool(app, client, clock):
    clock.now = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)
    w = make_world(app, client, interval_minutes=15, mechanism="sdr", retail_price=RETAIL, feed_in_price=0.10)
    w.users["unmapped"] = make_user(app.state.sessions, "consumer", communities=[w.community_id])
    w.headers["unmapped"] = login(client, w.users["unmapped"].email)
    with app.state.sessions() as s, s.begin():
        for name in (*MEMBERS, "unmapped"):
            directory.add_meter(s, w.community_id, w.uid(name), f"pf-{w.community_id}-{name}")
    return w


def _setup(client, w, members=MEMBERS, phases=("abc", "abc", "abc")):
    r = client.put(f"/api/communities/{w.community_id}/feeder", headers=w.headers["operator"],
                   params={"fee_per_kwh": TAU}, content=pp.to_json(_net()).encode())  # fmt: skip
    assert r.status_code == 200, r.text
    rows = [{"user_id": w.uid(n), "bus": b, "phase": phases[i]} for i, (n, (b, _)) in enumerate(members.items())]
    r = client.put(f"/api/communities/{w.community_id}/feeder/members", headers=w.headers["operator"],
                   json={"members": rows})  # fmt: skip
    assert r.status_code == 200, r.text


def _meter(app, w, readings):
    with app.state.sessions() as s, s.begin():
        ingest_readings(s, w.community_id, [{"meter": f"pf-{w.community_id}-{n}", "ts": T, "net_wh": v}
                                            for n, v in readings.items()])  # fmt: skip


def _balances(factory, cid):
    with factory() as db:
        rows = db.execute(sa.select(Account.kind, Account.user_id, Account.balance_minor)
                          .where(Account.community_id == cid)).all()  # fmt: skip
    return {(k, u): b for k, u, b in rows}


def _entries(factory, cid, kind):
    with factory() as db:
        acc = dict(db.execute(sa.select(Account.id, Account.user_id).where(Account.community_id == cid)).all())
        rows = db.execute(sa.select(LedgerEntry).where(LedgerEntry.community_id == cid,
                                                       LedgerEntry.kind == kind)).scalars().all()  # fmt: skip
        return {acc[e.debit_account_id]: e.amount_minor for e in rows}


def _ac_flow(mapping, net_wh):
    """pandapower's own AC flow (runpp, independent of sweep_flow) of the metered positions: line P, losses (kW)."""
    net = feeder_from_net(_net(), {n: b for n, (b, _) in mapping.items()})
    ids = list(net["peergrid_participants"]["id"])
    flow = power_flow(net, np.array([[net_wh[n] / 1000.0 / 0.25 for n in ids]]))
    return np.abs(flow.line_p_kw[0]), float(flow.losses_kw[0]), line_capacity_kw(net)


def test_pool_settles_eq12_fees_and_losses_to_the_cent(app, client, pool):
    w, cid, factory = pool, pool.community_id, app.state.sessions
    _setup(client, w)
    _meter(app, w, {n: v for n, (_, v) in MEMBERS.items()})
    before = _balances(factory, cid)
    out = clearing.settle(factory, cid, T, "metered", now=T + STEP)
    s = out.summary
    assert out.status == "settled" and s["network"] is True and s["network_converged"] is True
    assert s["curtailed_kwh"] == 0.0 and "already flowed" in s["curtailment"]
    # SDR: 2 kWh supply meets 2.5 kWh demand pro rata: consumer buys 1.2, prosumer2 0.8 kWh.
    # Pro-rata pairs: seller (bus 2) → consumer (bus 1) over line 1; → prosumer2 (bus 0) over lines 0 and 1.
    # Lossless flows at 15 min: line 1 carries 8 kW, line 0 carries 8 − 6 = 2 kW; P_max = √3·0.4·0.142 kW.
    p_max = np.sqrt(3) * 0.4 * 0.142 * 1000.0
    hand = {"consumer": 1.2 * TAU * 8 / p_max, "prosumer2": 0.8 * TAU * (2 + 8) / p_max}
    assert {k: round(v * 100) for k, v in hand.items()} == {"consumer": 24, "prosumer2": 20}
    fees = _entries(factory, cid, "line_fee")
    assert fees == {w.uid("consumer"): 24, w.uid("prosumer2"): 20}
    assert s["line_fees_minor"] == 44
    # with pandapower's AC flow (losses included) the same cents
    net_wh = {n: v for n, (_, v) in MEMBERS.items()}
    line_p, losses_kw, cap = _ac_flow(MEMBERS, net_wh)
    u = TAU * line_p / cap
    ac = {"consumer": 1.2 * u[1], "prosumer2": 0.8 * (u[0] + u[1])}
    assert {w.uid(k): int(to_minor(v)) for k, v in ac.items()} == fees
    # losses pro rata to |net| (2 : 1.5 : 1) at λb, each rounded once
    share = {n: abs(v) / 4500.0 for n, v in net_wh.items()}
    loss = {w.uid(n): int(to_minor(losses_kw * 0.25 * share[n] * RETAIL)) for n in MEMBERS}
    charged = _entries(factory, cid, "loss_charge")
    assert charged == {u: m for u, m in loss.items() if m > 0} and sum(charged.values()) > 0
    assert s["loss_charge_minor"] == sum(charged.values())
    assert s["losses_kwh"] == pytest.approx(losses_kw * 0.25, rel=0.02)
    # balanced double entry: the network operator keeps the line fees and buys the losses from the supplier
    after = _balances(factory, cid)
    assert sum(after.values()) == 0
    assert after[("network", None)] - before[("network", None)] == 44
    purchase = _entries(factory, cid, "loss_purchase")
    assert list(purchase.values()) == [s["loss_charge_minor"]]
    with factory() as db:
        assert ledger.verify(db).ok
        pos = {p.user_id: p for p in db.execute(sa.select(Position).where(Position.community_id == cid)).scalars()}
    for name in MEMBERS:  # positions carry the charges in paid_minor and fee_minor; invoices reconcile
        u = w.uid(name)
        assert pos[u].fee_minor == fees.get(u, 0) + charged.get(u, 0)
        with factory() as db, db.begin():
            (inv,) = invoices.issue(db, cid, T, T + STEP, user_id=u)
        assert inv.data["reconciled"] and inv.total_minor == before[("wallet", u)] - after[("wallet", u)]
        fees_line = next(line for line in inv.data["lines"] if line["item"] == "Market fees")
        assert fees_line["amount_minor"] == pos[u].fee_minor


def test_the_simulator_functions_give_the_same_cents(app, client, pool):
    """The same inputs through the simulator's network step (peergrid.simulate.network) → the same minor units."""
    from peergrid.grid import FeederTopology
    from peergrid.simulate.network import GridOptions, _physical, line_fee_money

    w, cid, factory = pool, pool.community_id, app.state.sessions
    _setup(client, w)
    _meter(app, w, {n: v for n, (_, v) in MEMBERS.items()})
    clearing.settle(factory, cid, T, "metered", now=T + STEP)
    names = sorted(MEMBERS, key=w.uid)  # the service settles users in id order
    net = feeder_from_net(_net(), {n: MEMBERS[n][0] for n in names})
    x = np.array([[MEMBERS[n][1] / 1000.0 for n in names]])
    c = clear(x, RETAIL, 0.10, "sdr")
    alloc = c.allocate(x)
    topo = FeederTopology.of(net)
    grid = GridOptions(max_line_loading_pct=1e4, v_min_pu=0.5, v_max_pu=1.5, fee_per_kwh=TAU)
    phys = _physical(net, topo, x, 0.25, grid)
    assert not phys.curtailed.spilled.any()
    fee = line_fee_money(alloc.bought, alloc.sold, phys.curtailed.flows.line_p, topo, TAU)[0]
    loss = phys.losses_member[0] * RETAIL
    sim_fee = {w.uid(n): int(m) for n, m in zip(names, to_minor(fee), strict=True) if m > 0}
    sim_loss = {w.uid(n): int(m) for n, m in zip(names, to_minor(loss), strict=True) if m > 0}
    assert _entries(factory, cid, "line_fee") == sim_fee
    assert _entries(factory, cid, "loss_charge") == sim_loss


def test_unmapped_member_is_settled_off_the_feeder(app, client, clock, pool):
    """A member with readings but no bus: the interval still settles (never a 500); that member is left off
    the feeder and pays no network charges; the mapped members pay theirs; the summary names the member."""
    w, cid, factory = pool, pool.community_id, app.state.sessions
    _setup(client, w)
    _meter(app, w, {**{n: v for n, (_, v) in MEMBERS.items()}, "unmapped": 800})
    clock.now = T + STEP
    r = client.post(f"/api/communities/{cid}/clearing", headers=w.headers["operator"],
                    json={"interval_start": T.isoformat(), "phase": "metered"})  # fmt: skip
    assert r.status_code == 200, r.text
    s = r.json()["summary"]
    assert s["network_unmapped_users"] == [w.uid("unmapped")] and s["network"] is True
    fees, losses = _entries(factory, cid, "line_fee"), _entries(factory, cid, "loss_charge")
    assert w.uid("unmapped") not in fees and w.uid("unmapped") not in losses
    assert fees and set(fees) <= {w.uid("consumer"), w.uid("prosumer2")}
    with factory() as db:
        assert ledger.verify(db).ok
        pos = db.execute(sa.select(Position).where(Position.user_id == w.uid("unmapped"))).scalar_one()
    assert pos.bought_wh > 0 and pos.fee_minor == 0  # settled in the pool as usual
    assert sum(_balances(factory, cid).values()) == 0


def test_nobody_mapped_and_no_feeder(app, client, pool):
    w, cid, factory = pool, pool.community_id, app.state.sessions
    _setup(client, w, members={})
    _meter(app, w, {n: v for n, (_, v) in MEMBERS.items()})
    s = clearing.settle(factory, cid, T, "metered", now=T + STEP).summary
    assert s["line_fees_minor"] == 0 and s["loss_charge_minor"] == 0 and len(s["network_unmapped_users"]) == 3
    # a second pool community without a feeder: the settlement is as before (no network keys, no charges)
    w2 = make_world(app, client, interval_minutes=15, mechanism="sdr", retail_price=RETAIL, feed_in_price=0.10)
    with factory() as db, db.begin():
        for name in MEMBERS:
            directory.add_meter(db, w2.community_id, w2.uid(name), f"pf-{w2.community_id}-{name}")
    _meter(app, w2, {n: v for n, (_, v) in MEMBERS.items()})
    s2 = clearing.settle(factory, w2.community_id, T, "metered", now=T + STEP).summary
    assert "network" not in s2 and not _entries(factory, w2.community_id, "line_fee")


@pytest.mark.parametrize("mechanism", ["bs", "mmr", "sdr"])
def test_pool_communities_take_a_feeder(app, client, mechanism):
    w = make_world(app, client, interval_minutes=15, mechanism=mechanism, retail_price=0.3, feed_in_price=0.1)
    r = client.put(f"/api/communities/{w.community_id}/feeder", headers=w.headers["operator"],
                   content=pp.to_json(_net()).encode())  # fmt: skip
    assert r.status_code == 200, r.text


def test_a_flow_that_does_not_converge_charges_nothing(app, client, pool, monkeypatch):
    """Voltage collapse (the sweep's NaN slot): the interval settles, no network charge, said in the summary."""
    import dataclasses

    import peergrid.grid as G

    real = G.sweep_flow

    def collapsed(*args, **kwargs):
        f = real(*args, **kwargs)
        nan = np.full_like(f.line_p_kw, np.nan)
        return dataclasses.replace(f, line_p_kw=nan, losses_kw=np.full_like(f.losses_kw, np.nan),
                                   converged=np.zeros_like(f.converged))  # fmt: skip

    monkeypatch.setattr(G, "sweep_flow", collapsed)
    w, cid, factory = pool, pool.community_id, app.state.sessions
    _setup(client, w)
    _meter(app, w, {n: v for n, (_, v) in MEMBERS.items()})
    out = clearing.settle(factory, cid, T, "metered", now=T + STEP)
    assert out.status == "settled" and out.summary["network_converged"] is False
    assert out.summary["line_fees_minor"] == 0 and out.summary["loss_charge_minor"] == 0
    assert not _entries(factory, cid, "line_fee") and not _entries(factory, cid, "loss_charge")
    assert sum(_balances(factory, cid).values()) == 0


def test_single_phase_members_settle_on_the_three_phase_flow(app, client, pool):
    w, cid, factory = pool, pool.community_id, app.state.sessions
    _setup(client, w, phases=("a", "b", "c"))
    _meter(app, w, {n: v for n, (_, v) in MEMBERS.items()})
    s = clearing.settle(factory, cid, T, "metered", now=T + STEP).summary
    assert s["network_converged"] is True and s["max_vim_pct"] is not None and s["max_vim_pct"] > 0
    assert s["line_fees_minor"] > 0 and s["loss_charge_minor"] > 0
    with factory() as db:
        assert ledger.verify(db).ok
