"""Scheduled clearing and settlement of trading intervals — exactly once, all or nothing.

Every interval of a community goes through up to two **phases**, each settled in one
database transaction and recorded as one ``clearing_runs`` row whose unique
constraint (community, interval, phase) makes it exactly-once even with several
server processes (the second one's insert fails or finds the row → no-op):

Each phase is **load → call the settlement core → store**: this module reads the interval
(orders, wallets, readings, positions, the tariff's λb / λs, the feeder) with SQL, calls the pure
functions of :mod:`peergrid.market.settle` — every amount, rounding and posting comes from them —
and writes what they return (ledger entries, trades, order states, positions, the run's summary),
with the concurrency checks (a cancelled order rolls the phase back).

``market`` (order-book mechanisms: uniform, pay-as-bid, McAfee, bilateral), at gate closure
    The interval's open orders are re-checked against the wallets with
    :func:`peergrid.market.settle.admit_orders` (:func:`peergrid.market.check_wallets`; balances
    may have changed since placement) and
    settled by :func:`peergrid.market.settle.settle_market` around the community's mechanism
    (:func:`peergrid.market.settle.order_clearer`: reputation pricing, score 1 changes nothing;
    with a feeder :func:`peergrid.grid.clear_on_feeder`): buyers pay into the ``clearing``
    account, sellers are paid out of it, spreads go to ``fees``, eq. 12 line fees to ``network``.
``metered`` (every mechanism), after the interval ends plus the metering grace
    * order-book communities: the **imbalance** between metered net energy and the traded
      position (bought − sold) is settled with the grid at the interval's λb (import) or λs
      (export; only up to the tariff's export limit) by
      :func:`peergrid.market.settle.settle_orders_metered` (:func:`peergrid.market.settle_imbalance`
      per member), and reputation scores are updated from delivery
      (:func:`peergrid.market.settle.delivery_reputation`);
    * pool communities (``bs``, ``mmr``, ``sdr``, ``baseline``): metered net positions are
      settled by :func:`peergrid.market.settle.settle_pool` — each member's bill against the
      ``grid`` account; with a feeder, members also pay the simulator's network charges (eq. 12
      line fees, losses; :func:`_pool_network`) to the ``network`` account.
    Settlement of metered energy is mandatory and may overdraw a wallet (debt shown on
    the invoice); market trades never can.

Money is rounded to integer minor units by the one rule stated in :mod:`peergrid.market.settle`:
once per party and interval, never per trade, so a buyer never pays more than the commitment its
wallet check admitted. Should a buyer's settlement exceed its funds anyway, its bids are rejected
with a reason and the rest of the interval clears; one member cannot block an interval. Every
transfer goes through :func:`peergrid.service.ledger.post`, so Σ over a community's accounts
stays zero. Writes are bulk (one multi-row insert per table, one set-based balance update), so
an interval with 10,000 participants settles in about a second.

The scheduler (:class:`Scheduler`) retries a phase that fails as a whole with exponential
back-off (:class:`Backoff`) and records each failure in the log and the audit log.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from peergrid.market import OrderBook, clear_with_reputation
from peergrid.market.mechanisms import takes_option
from peergrid.market.settle import (
    Cleared,
    admit_orders,
    delivery_reputation,
    export_limit_wh,
    order_clearer,
    settle_market,
    settle_orders_metered,
    settle_pool,
)
from peergrid.service import bulk, feeders, ledger, tariffs
from peergrid.service.directory import audit, get_community, system_accounts
from peergrid.service.errors import Conflict, Invalid
from peergrid.service.models import (
    ORDER_MECHANISMS,
    Account,
    ClearingRun,
    Community,
    Membership,
    Meter,
    Order,
    Position,
    Reading,
    Trade,
    utcnow,
)
from peergrid.service.timeutil import check_aligned

log = logging.getLogger("peergrid.service.clearing")
_ORD = Order.__table__
_MEM = Membership.__table__
_CHUNK = 5000
#: Fault injection of the crash tests, ``(file, pause in s)`` or ``None`` (off): set by :func:`set_fault_pause`.
_FAULT_PAUSE: tuple[str, float] | None = None


@dataclass
class Outcome:
    """Result of settling one phase of one interval."""

    community_id: int
    interval_start: dt.datetime
    phase: str
    mechanism: str
    status: str  # settled | already_settled | nothing_to_settle
    run_id: int | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.run_id,
            "community_id": self.community_id,
            "interval_start": self.interval_start,
            "phase": self.phase,
            "mechanism": self.mechanism,
            "status": self.status,
            "summary": self.summary,
        }


def set_fault_pause(path: str | None, seconds: float = 60.0) -> None:
    """Arm (``path`` set) or disarm (``None``) the crash tests' fault point of this process.

    ``create_app`` calls it with the service settings' ``fault_pause_file`` and ``fault_pause_s``
    (``$PEERGRID_FAULT_PAUSE_FILE``, ``$PEERGRID_FAULT_PAUSE_S``; :mod:`peergrid.service.settings`).
    """
    global _FAULT_PAUSE
    _FAULT_PAUSE = (str(path), float(seconds)) if path else None


def _fault_point(stage: str) -> None:
    """Fault injection for the crash tests: pause inside the open settlement transaction.

    Only active when :func:`set_fault_pause` named a file: the file is written (with ``stage``)
    and the process sleeps, so a test can SIGKILL it mid-settlement.
    """
    if _FAULT_PAUSE is not None:
        from peergrid.core.output import atomic_file

        path, seconds = _FAULT_PAUSE
        # atomic: a test polling for the file must never read it created but still empty
        atomic_file(path, stage, label="fault pause file", ours=lambda _: True)
        time.sleep(seconds)


def _existing(session: Session, community_id: int, interval_start: dt.datetime, phase: str) -> ClearingRun | None:
    return session.execute(
        sa.select(ClearingRun).where(
            ClearingRun.community_id == community_id,
            ClearingRun.interval_start == interval_start,
            ClearingRun.phase == phase,
        )
    ).scalar_one_or_none()


def _wallets(session: Session, community_id: int) -> dict[int, tuple[int, int, int]]:
    """user id → (wallet account id, balance minor, credit limit minor)."""
    rows = session.execute(
        sa.select(Account.user_id, Account.id, Account.balance_minor, Account.credit_limit_minor).where(
            Account.community_id == community_id, Account.kind == "wallet"
        )
    ).all()
    return {int(u): (int(a), int(b), int(c)) for u, a, b, c in rows}


def _reputation(session: Session, community_id: int) -> dict[int, float]:
    rows = session.execute(
        sa.select(Membership.user_id, Membership.reputation).where(Membership.community_id == community_id)
    ).all()
    return {int(u): float(r) for u, r in rows}


def settle(
    factory: sessionmaker[Session],
    community_id: int,
    interval_start: dt.datetime,
    phase: str = "market",
    now: dt.datetime | None = None,
) -> Outcome:
    """Settle one phase of one interval in one transaction (idempotent).

    Parameters
    ----------
    factory : sessionmaker
    community_id : int
    interval_start : datetime
        Aligned start of the interval (aware).
    phase : {"market", "metered"}
    now : datetime, optional
        The current time (default: the clock); the market phase needs the gate
        closed, the metered phase the interval ended.

    Returns
    -------
    Outcome
        ``status`` is ``"already_settled"`` when the phase was settled before (by this
        or another process): nothing is changed.
    """
    if phase not in ("market", "metered"):
        raise Invalid(f"phase must be 'market' or 'metered', got {phase!r}")
    now = now or utcnow()
    try:
        with factory() as session, session.begin():
            community = get_community(session, community_id)
            t = check_aligned(interval_start, community.interval_minutes)
            prior = _existing(session, community_id, t, phase)
            if prior is not None:
                return Outcome(community_id, t, phase, prior.mechanism, "already_settled", prior.id, prior.summary)
            if phase == "market":
                return _settle_market(session, community, t, now)
            return _settle_metered(session, community, t, now)
    except IntegrityError:
        with factory() as session:
            prior = _existing(session, community_id, interval_start, phase)
        if prior is None:
            raise
        return Outcome(community_id, interval_start, phase, prior.mechanism, "already_settled", prior.id, prior.summary)


def _grid_prices(community: Community, t: dt.datetime) -> tuple[float, float]:
    """λb and λs of the interval starting at ``t`` (the community's tariff, TOU in its local time)."""
    buy, sell = tariffs.grid_prices(community, [t])
    return float(buy[0]), float(sell[0])


def _new_run(session: Session, community: Community, t: dt.datetime, phase: str) -> ClearingRun:
    run = ClearingRun(
        community_id=community.id, interval_start=t, phase=phase, mechanism=community.mechanism, summary={}
    )
    session.add(run)
    session.flush()  # claims (community, interval, phase): a concurrent settlement fails here
    return run


def _clearer(
    community: Community,
    scores: np.ndarray,
    prices: tuple[float, float],
    network: tuple[Any, float] | None = None,
) -> Callable[[OrderBook], Any]:
    """The community's clearing function for :func:`peergrid.market.settle.settle_market`.

    ``prices`` are the interval's grid prices (λb, λs), currency/kWh, from the community's tariff.
    ``network`` — (:class:`peergrid.grid.FeederLimits`, τ_L) of the community's feeder — clears with
    :func:`peergrid.grid.clear_on_feeder` instead (eq. 12 fees, curtailment, re-matching, losses).
    """
    if network is None:
        return order_clearer(community.mechanism, prices[0], prices[1], k=community.k, scores=scores)
    from peergrid.grid import clear_on_feeder

    limits, tau = network
    kwargs: dict[str, Any] = {"retail": prices[0], "feed_in": prices[1]}
    if takes_option(community.mechanism, "k"):
        kwargs["k"] = community.k

    def clear_book(book: OrderBook) -> Cleared:  # the same network-aware clearing as `peergrid clear --network`
        cleared: list[Any] = []

        def mechanism(b: OrderBook, **kw: Any) -> Any:
            c = clear_on_feeder(b, limits, community.mechanism, tau=tau, k=community.k, retail=kw.get("retail"),
                                feed_in=kw.get("feed_in"), quantum_kwh=0.001)  # whole Wh, as settled; fmt: skip
            cleared.append(c)
            t = c.result.trades  # energy prices here; reputation pricing must not scale the line fee
            return replace(c.result, trades=replace(t, price_buy=t.price_buy - c.fee_per_kwh))

        result = clear_with_reputation(book, mechanism, scores=scores, **kwargs)
        c = cleared[0]
        return Cleared(result, c.fee_per_kwh, c.summary())

    return clear_book


def _settle_market(session: Session, community: Community, t: dt.datetime, now: dt.datetime) -> Outcome:
    if community.mechanism not in ORDER_MECHANISMS:
        raise Invalid(
            f"community {community.id} uses the pool mechanism {community.mechanism!r}: settle the 'metered' phase"
        )
    if now < t - dt.timedelta(minutes=community.gate_closure_minutes):
        raise Conflict(f"gate for interval {t.isoformat()} is not closed yet")
    run = _new_run(session, community, t, "market")
    q = (
        sa.select(_ORD.c.id, _ORD.c.user_id, _ORD.c.side, _ORD.c.quantity_wh, _ORD.c.price)
        .where(_ORD.c.community_id == community.id, _ORD.c.interval_start == t, _ORD.c.status == "open")
        .order_by(_ORD.c.created_at, _ORD.c.id)
    )
    rows = session.execute(q).all()
    if not rows:
        run.summary = {"n_orders": 0, "n_trades": 0, "traded_kwh": 0.0}
        return Outcome(community.id, t, "market", community.mechanism, "settled", run.id, run.summary)
    oid = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    uid = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
    side = np.fromiter((1 if r[2] == "buy" else -1 for r in rows), dtype=np.int8, count=len(rows))
    qwh = np.fromiter((r[3] for r in rows), dtype=np.int64, count=len(rows))
    price = np.fromiter((r[4] for r in rows), dtype=np.float64, count=len(rows))
    users, code = np.unique(uid, return_inverse=True)
    n_users = len(users)
    wallets = _wallets(session, community.id)
    has_wallet = np.array([int(u) in wallets for u in users], dtype=bool)
    w = np.array([wallets.get(int(u), (0, 0, 0)) for u in users], dtype=np.int64).reshape(-1, 3)
    other = dict(
        session.execute(
            sa.select(_ORD.c.user_id, sa.func.sum(_ORD.c.committed_minor))
            .where(_ORD.c.community_id == community.id, _ORD.c.status == "open", _ORD.c.interval_start != t)
            .group_by(_ORD.c.user_id)
        ).all()
    )
    committed = np.array([int(other.get(int(u), 0) or 0) for u in users], dtype=np.int64)
    rep = _reputation(session, community.id)
    scores = np.array([rep.get(int(u), 1.0) for u in users], dtype=np.float64)
    book = OrderBook.from_arrays(
        participant=code.astype(np.int64), side=side, quantity=qwh / 1000.0, price=price, id=oid
    )
    adm = admit_orders(book, w[:, 1], committed, w[:, 2], has_wallet)  # no wallet → the order is rejected
    admitted, reason, funds = adm.admitted, adm.reason, adm.funds_minor
    # A community with a feeder clears on it; orders of members not mapped to a bus cannot be placed on it.
    network = None
    feeder = feeders.feeder_limits(session, community.id, users.tolist(), community.interval_minutes / 60.0)
    if feeder is not None:
        limits, mapped, tau = feeder
        off = admitted & ~np.isin(uid, np.fromiter(mapped, dtype=np.int64, count=len(mapped)))
        admitted[off] = False
        reason[off] = "not on the community's feeder: an operator must map the member to a bus"
        network = (limits, tau) if limits is not None else None
    # Clear, price in minor units and post (peergrid.market.settle): a buyer whose settlement would exceed
    # its funds has its bids rejected on their own and the rest of the interval is cleared again.
    prices = _grid_prices(community, t)
    st = settle_market(book, _clearer(community, scores, prices, network), funds=funds, admitted=admitted,
                       reason=reason, n_members=n_users)  # fmt: skip
    over = np.unique(code[admitted & ~st.admitted])
    if len(over):
        log.warning(
            "community %s, interval %s: bids of user(s) %s rejected at settlement (cost above funds)",
            community.id, t.isoformat(), ", ".join(str(int(users[c])) for c in over),
        )
    # ---- money: buyers → clearing → sellers, spreads → fees, line fees → network
    sysacc = system_accounts(session, community.id)
    ref = f"clearing:{run.id}"
    transfers = [
        ledger.Transfer(d, c, a, k, ref, interval_start=t) for d, c, a, k in st.postings.resolve(w[:, 0], sysacc)
    ]
    ledger.post(session, community.id, transfers, accounts_checked=True)
    # ---- trades, orders, positions
    if st.n_trades:
        trade_rows = [
            {
                "clearing_run_id": run.id,
                "community_id": community.id,
                "interval_start": t,
                "buy_order_id": bo,
                "sell_order_id": so,
                "buyer_id": bu,
                "seller_id": su,
                "quantity_wh": qq,
                "price_buy": a,
                "price_sell": b,
                "payment_minor": p,
                "receipt_minor": r,
                "line_fee_minor": lf,
            }
            for bo, so, bu, su, qq, a, b, p, r, lf in zip(
                oid[st.buy_order].tolist(),
                oid[st.sell_order].tolist(),
                uid[st.buy_order].tolist(),
                uid[st.sell_order].tolist(),
                st.quantity_wh.tolist(),
                st.price_buy.tolist(),
                st.price_sell.tolist(),
                st.payment_minor.tolist(),
                st.receipt_minor.tolist(),
                st.line_fee_minor.tolist(),
                strict=True,
            )
        ]
        bulk.insert_rows(session, Trade.__table__, trade_rows)
    order_rows = [
        {"id": o, "status": s, "filled_wh": f, "committed_minor": 0, "reason": r[:200]}
        for o, s, f, r in zip(
            oid.tolist(), st.status.tolist(), st.filled_wh.tolist(), st.reason.tolist(), strict=True
        )
    ]
    changed = bulk.update_rows(session, _ORD, order_rows, ("status", "filled_wh", "committed_minor", "reason"),
                               only_if={"status": "open"})
    if changed != len(order_rows):  # an order was cancelled while we cleared: roll back, retry next tick
        raise Conflict(f"orders of {t.isoformat()} changed during clearing; retry")
    active = st.active  # members whose orders all stayed unfilled have nothing to settle
    pos_rows = [
        {
            "clearing_run_id": run.id,
            "community_id": community.id,
            "user_id": u,
            "interval_start": t,
            "bought_wh": bw,
            "sold_wh": sw,
            "grid_import_wh": 0,
            "grid_export_wh": 0,
            "metered_net_wh": None,
            "paid_minor": p,
            "received_minor": r,
            "fee_minor": f,
            "grid_paid_minor": 0,
            "grid_received_minor": 0,
        }
        for u, bw, sw, p, r, f in zip(
            users[active].tolist(),
            st.bought_wh[active].tolist(),
            st.sold_wh[active].tolist(),
            st.paid_minor[active].tolist(),
            st.received_minor[active].tolist(),
            st.fee_minor[active].tolist(),
            strict=True,
        )
    ]
    bulk.insert_rows(session, Position.__table__, pos_rows)
    summary = st.summary(*prices, network=feeder is not None)
    run.summary = summary
    session.flush()
    _fault_point("market")
    return Outcome(community.id, t, "market", community.mechanism, "settled", run.id, summary)


def _metered_net(session: Session, community_id: int, t: dt.datetime) -> dict[int, tuple[int, int]]:
    """user id → (Σ import Wh, Σ export Wh) of the interval's readings."""
    rows = session.execute(
        sa.select(Meter.user_id, sa.func.sum(Reading.import_wh), sa.func.sum(Reading.export_wh))
        .join(Meter, Meter.id == Reading.meter_id)
        .where(Meter.community_id == community_id, Reading.interval_start == t)
        .group_by(Meter.user_id)
    ).all()
    return {int(u): (int(i or 0), int(e or 0)) for u, i, e in rows}


def _pool_network(
    session: Session,
    community: Community,
    users: np.ndarray,
    net_wh: np.ndarray,
    bought_wh: np.ndarray,
    sold_wh: np.ndarray,
    price_buy: float,
) -> tuple[tuple[np.ndarray, np.ndarray], dict[str, Any]] | None:
    """Network charges of a pool interval on the community's feeder, or ``None`` without a feeder.

    The same rules as the simulator's ``[grid]`` step (:mod:`peergrid.grid.charges`): the metered
    net positions of the members mapped to a bus go on the feeder (:func:`peergrid.grid.sweep_flow`,
    three-phase when a member sits on one phase); each buyer pays the eq. 12 line fee
    (:func:`peergrid.grid.line_fee_money`, sellers and buyers paired pro rata) and every member its
    share of the losses (:func:`peergrid.grid.allocate_losses`, pro rata to |net energy|) at the
    interval's λb — each rounded once per member by :func:`peergrid.market.settle.settle_pool`. Metered energy already
    flowed: nothing is curtailed. Users without a bus are left off the feeder and pay neither; an
    interval whose flow does not converge is charged nothing (``network_converged: false``).

    Returns
    -------
    tuple
        ``((line fee currency (n,), loss kWh (n,)), summary entries)``.
    """
    from peergrid.grid import FeederTopology, allocate_losses, line_fee_money, sweep_flow

    fd = feeders.pool_feeder(session, community.id, users.tolist())
    if fd is None:
        return None
    n = len(users)
    fee_all = np.zeros(n)
    loss_all = np.zeros(n)
    out: dict[str, Any] = {
        "network": True,
        "curtailed_kwh": 0.0,
        "curtailment": "none: metered energy already flowed",
        "network_unmapped_users": fd.unmapped,
        "network_converged": True,
        "line_fees": 0.0,
        "losses_kwh": 0.0,
        "loss_charge": 0.0,
        "max_line_loading_pct": None,
        "min_voltage_pu": None,
        "max_vim_pct": None,
    }
    if fd.net is not None:
        c = fd.cols
        dt_h = community.interval_minutes / 60.0
        x = (net_wh[c] / 1000.0)[None, :]  # (1, N) kWh, + import
        flow = sweep_flow(fd.net, x / dt_h, dt=dt_h, unbalanced=fd.unbalanced)
        if not bool(np.all(flow.converged)):
            out["network_converged"] = False
        else:
            topo = FeederTopology.of(fd.net)
            fee = line_fee_money((bought_wh[c] / 1000.0)[None, :], (sold_wh[c] / 1000.0)[None, :],
                                 np.asarray(flow.line_p_kw, dtype=np.float64), topo, fd.tau)[0]  # fmt: skip
            losses_kwh = np.nan_to_num(np.asarray(flow.losses_kw, dtype=np.float64) * dt_h)
            loss_kwh = allocate_losses(x, losses_kwh)[0]
            fee_all[c] = fee
            loss_all[c] = loss_kwh
            vm = np.asarray(flow.vm_pu, dtype=np.float64)
            vim = getattr(flow, "vim_pct", None)
            loading = np.asarray(flow.loading_pct, dtype=np.float64)
            out.update({
                "line_fees": float(fee.sum()),
                "losses_kwh": float(losses_kwh.sum()),
                "loss_charge": float((loss_kwh * price_buy).sum()),
                "max_line_loading_pct": float(loading.max()) if loading.size else 0.0,
                "min_voltage_pu": float(vm.min()),
                "max_vim_pct": float(np.max(vim)) if vim is not None and np.size(vim) else None,
            })  # fmt: skip
    return (fee_all, loss_all), out


def _settle_metered(session: Session, community: Community, t: dt.datetime, now: dt.datetime) -> Outcome:
    end = t + dt.timedelta(minutes=community.interval_minutes)
    if now < end:
        raise Conflict(f"interval {t.isoformat()} has not ended yet")
    pool = community.mechanism not in ORDER_MECHANISMS
    if not pool:
        market = _existing(session, community.id, t, "market")
        if market is None:
            has_open = session.execute(
                sa.select(_ORD.c.id)
                .where(_ORD.c.community_id == community.id, _ORD.c.interval_start == t, _ORD.c.status == "open")
                .limit(1)
            ).first()
            if has_open is not None:
                raise Conflict(f"settle the market phase of {t.isoformat()} first (open orders)")
    run = _new_run(session, community, t, "metered")
    metered = _metered_net(session, community.id, t)
    wallets = _wallets(session, community.id)
    sysacc = system_accounts(session, community.id)
    ref = f"clearing:{run.id}"
    limit_wh = export_limit_wh(community.tariff.get("export_limit_kw"), community.interval_minutes)
    buy_price, sell_price = _grid_prices(community, t)
    if pool:
        users = np.array(sorted(u for u in metered if u in wallets), dtype=np.int64)
        contracted: dict[int, int] = {}
    else:
        pos = session.execute(
            sa.select(Position.user_id, Position.bought_wh, Position.sold_wh)
            .join(ClearingRun, ClearingRun.id == Position.clearing_run_id)
            .where(
                ClearingRun.community_id == community.id, ClearingRun.interval_start == t, ClearingRun.phase == "market"
            )
        ).all()
        contracted = {int(u): int(b) - int(s) for u, b, s in pos}
        users = np.array(sorted((set(metered) | set(contracted)) & set(wallets)), dtype=np.int64)
    if len(users) == 0:
        run.summary = {"n_participants": 0}
        return Outcome(community.id, t, "metered", community.mechanism, "settled", run.id, run.summary)
    imp = np.array([metered.get(int(u), (0, 0))[0] for u in users], dtype=np.int64)
    exp = np.array([metered.get(int(u), (0, 0))[1] for u in users], dtype=np.int64)
    net_wh = imp - exp
    if pool:
        st = settle_pool(net_wh, buy_price, sell_price, community.mechanism, export_limit_wh=limit_wh)
        # a feeder: eq. 12 line fees and loss charges of the metered positions (the simulator's rules)
        charges = _pool_network(session, community, users, net_wh, st.bought_wh, st.sold_wh, buy_price)
        summary = st.summary
        if charges is not None:
            st = settle_pool(net_wh, buy_price, sell_price, community.mechanism, export_limit_wh=limit_wh,
                             network=charges[0])  # fmt: skip
            summary = {**st.summary, **charges[1], "line_fees_minor": int(st.line_fee_minor.sum()),
                       "loss_charge_minor": int(st.loss_charge_minor.sum())}  # fmt: skip
            summary = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in summary.items()}
    else:
        con = np.array([contracted.get(int(u), 0) for u in users], dtype=np.int64)
        st = settle_orders_metered(net_wh, con, buy_price, sell_price, export_limit_wh=limit_wh)
        summary = st.summary
        # reputation from delivery: promised |contracted|, delivered the metered energy in that direction
        has = con != 0
        if has.any():
            rep = _reputation(session, community.id)
            r0 = np.array([rep.get(int(u), 1.0) for u in users])
            r1 = delivery_reputation(r0, con, net_wh)
            changed = np.flatnonzero(has & (r1 != r0))
            if len(changed):
                mids = dict(
                    session.execute(
                        sa.select(Membership.user_id, Membership.id).where(Membership.community_id == community.id)
                    ).all()
                )
                bulk.update_rows(
                    session,
                    _MEM,
                    [{"id": mids[int(users[i])], "reputation": float(r1[i])} for i in changed.tolist()],
                    ("reputation",),
                )
    wal = np.array([wallets[int(u)][0] for u in users], dtype=np.int64)
    transfers = [ledger.Transfer(d, c, a, k, ref, interval_start=t) for d, c, a, k in st.postings.resolve(wal, sysacc)]
    ledger.post(session, community.id, transfers, allow_overdraft=True, accounts_checked=True)
    pos_rows = [
        {
            "clearing_run_id": run.id,
            "community_id": community.id,
            "user_id": u,
            "interval_start": t,
            "bought_wh": bw,
            "sold_wh": sw,
            "grid_import_wh": gi,
            "grid_export_wh": ge,
            "metered_net_wh": n,
            "paid_minor": p,
            "received_minor": r,
            "fee_minor": f,
            "grid_paid_minor": gp,
            "grid_received_minor": gr,
        }
        for u, bw, sw, gi, ge, n, p, r, f, gp, gr in zip(
            users.tolist(),
            st.bought_wh.tolist(),
            st.sold_wh.tolist(),
            st.grid_import_wh.tolist(),
            st.grid_export_wh.tolist(),
            st.metered_net_wh.tolist(),
            st.paid_minor.tolist(),
            st.received_minor.tolist(),
            st.fee_minor.tolist(),
            st.grid_paid_minor.tolist(),
            st.grid_received_minor.tolist(),
            strict=True,
        )
    ]
    bulk.insert_rows(session, Position.__table__, pos_rows)
    run.summary = summary
    session.flush()
    _fault_point("metered")
    return Outcome(community.id, t, "metered", community.mechanism, "settled", run.id, summary)


# ------------------------------------------------------------------ scheduler
#: How far back the scheduler looks for unsettled metered intervals (bounded scan of readings);
#: older ones are settled on request (``POST /api/communities/{id}/clearing``).
LOOKBACK = dt.timedelta(days=7)


def due(
    session: Session, community: Community, now: dt.datetime, limit: int = 1000, lookback: dt.timedelta = LOOKBACK
) -> list[tuple[dt.datetime, str]]:
    """Phases of ``community`` whose time has come and that are not settled, oldest first.

    Market phases: intervals with open orders whose gate has closed. Metered phases: intervals
    with readings in the last ``lookback`` (or with a settled market phase) that ended at least
    ``metering_grace_minutes`` ago.
    """
    out: list[tuple[dt.datetime, str]] = []
    if community.mechanism in ORDER_MECHANISMS:
        horizon = now + dt.timedelta(minutes=community.gate_closure_minutes)
        settled_market = sa.select(ClearingRun.interval_start).where(
            ClearingRun.community_id == community.id, ClearingRun.phase == "market"
        )
        rows = session.execute(
            sa.select(_ORD.c.interval_start)
            .distinct()
            .where(
                _ORD.c.community_id == community.id,
                _ORD.c.status == "open",
                _ORD.c.interval_start <= horizon,
                _ORD.c.interval_start.not_in(settled_market),
            )
            .order_by(_ORD.c.interval_start)
            .limit(limit)
        ).scalars()
        out += [(t, "market") for t in rows]
    cut = now - dt.timedelta(minutes=community.interval_minutes + community.metering_grace_minutes)
    settled = sa.select(ClearingRun.interval_start).where(
        ClearingRun.community_id == community.id, ClearingRun.phase == "metered"
    )
    metered = set(
        session.execute(
            sa.select(Reading.interval_start)
            .distinct()
            .join(Meter, Meter.id == Reading.meter_id)
            .where(
                Meter.community_id == community.id,
                Reading.interval_start <= cut,
                Reading.interval_start >= now - lookback,
                Reading.interval_start.not_in(settled),
            )
            .order_by(Reading.interval_start)
            .limit(limit)
        ).scalars()
    )
    if community.mechanism in ORDER_MECHANISMS:
        metered |= set(
            session.execute(
                sa.select(ClearingRun.interval_start)
                .where(
                    ClearingRun.community_id == community.id,
                    ClearingRun.phase == "market",
                    ClearingRun.interval_start <= cut,
                    ClearingRun.interval_start.not_in(settled),
                )
                .limit(limit)
            ).scalars()
        )
    out += [(t, "metered") for t in sorted(metered)]
    out.sort(key=lambda x: (x[0], x[1] != "market"))
    return out


@dataclass
class _Failure:
    attempts: int
    retry_at: float
    error: str


class Backoff:
    """Exponential back-off for phases that keep failing (kept by the scheduler, per process).

    After the n-th consecutive failure of a phase (community, interval, phase) it is not
    tried again for ``min(base_s · 2^(n−1), max_s)`` seconds; a success forgets it.

    Parameters
    ----------
    base_s : float
        Delay after the first failure, seconds (the scheduler uses its period).
    max_s : float
        Longest delay, seconds.
    clock : callable
        Monotonic seconds (default :func:`time.monotonic`).
    """

    def __init__(self, base_s: float = 10.0, max_s: float = 3600.0, clock: Callable[[], float] = time.monotonic):
        if not (base_s > 0 and max_s >= base_s):
            raise Invalid(f"back-off needs 0 < base_s <= max_s, got {base_s} and {max_s}")
        self.base_s = float(base_s)
        self.max_s = float(max_s)
        self.clock = clock
        self._failed: dict[tuple[int, dt.datetime, str], _Failure] = {}
        self._lock = threading.Lock()

    def ready(self, key: tuple[int, dt.datetime, str]) -> bool:
        """Whether the phase ``key`` may be tried now."""
        with self._lock:
            f = self._failed.get(key)
            return f is None or self.clock() >= f.retry_at

    def failed(self, key: tuple[int, dt.datetime, str], error: str) -> _Failure:
        """Record a failure of ``key``; returns its count and the time of the next try."""
        with self._lock:
            prev = self._failed.get(key)
            n = (prev.attempts if prev else 0) + 1
            delay = min(self.base_s * 2.0 ** min(n - 1, 60), self.max_s)
            f = _Failure(n, self.clock() + delay, error)
            self._failed[key] = f
            return f

    def succeeded(self, key: tuple[int, dt.datetime, str]) -> None:
        """Forget the failures of ``key``."""
        with self._lock:
            self._failed.pop(key, None)

    def failures(self) -> list[dict[str, Any]]:
        """The phases failing now: community_id, interval_start, phase, attempts, retry_in_s, error."""
        now = self.clock()
        with self._lock:
            return [
                {
                    "community_id": cid,
                    "interval_start": t,
                    "phase": ph,
                    "attempts": f.attempts,
                    "retry_in_s": max(0.0, f.retry_at - now),
                    "error": f.error,
                }
                for (cid, t, ph), f in sorted(self._failed.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2]))
            ]


def _record_failure(factory: sessionmaker[Session], cid: int, t: dt.datetime, phase: str, f: _Failure,
                    retry_in_s: float) -> None:
    """Log a failed phase and write it to the audit log (``clearing.failed``, no actor)."""
    log.warning(
        "settling %s of community %s at %s failed (attempt %d, next try in %.0f s): %s",
        phase, cid, t.isoformat(), f.attempts, retry_in_s, f.error,
    )
    try:
        with factory() as session, session.begin():
            audit(session, None, "clearing.failed", cid, f"{phase}:{t.isoformat()}", phase=phase,
                  interval_start=t.isoformat(), attempt=f.attempts, retry_in_s=round(retry_in_s, 1),
                  error=f.error[:500])
    except Exception as exc:  # pragma: no cover - database down: the log line above remains
        log.warning("could not record the clearing failure in the audit log: %s", exc)


def run_due(
    factory: sessionmaker[Session], now: dt.datetime | None = None, backoff: Backoff | None = None
) -> list[Outcome]:
    """Settle every due phase of every community (one transaction each).

    Failures of one phase are logged and do not stop the others. With ``backoff`` (the
    scheduler's), a phase that failed is skipped until its back-off expired, and every
    failure is also written to the audit log (``clearing.failed``); without it every due
    phase is tried (a manual run).
    """
    now = now or utcnow()
    with factory() as session:
        communities = session.execute(sa.select(Community)).scalars().all()
        todo = [(c.id, t, ph) for c in communities for t, ph in due(session, c, now)]
    outcomes = []
    for cid, t, ph in todo:
        key = (cid, t, ph)
        if backoff is not None and not backoff.ready(key):
            continue
        try:
            outcomes.append(settle(factory, cid, t, ph, now))
        except Exception as exc:  # keep the scheduler alive; the phase is retried later
            error = f"{type(exc).__name__}: {exc}"
            if backoff is None:
                log.warning("settling %s of community %s at %s failed: %s", ph, cid, t.isoformat(), error)
                continue
            f = backoff.failed(key, error)
            _record_failure(factory, cid, t, ph, f, f.retry_at - backoff.clock())
        else:
            if backoff is not None:
                backoff.succeeded(key)
    return outcomes


class Scheduler:
    """Background thread calling :func:`run_due` every ``period_s`` seconds (gate closure timer).

    A phase that fails is retried with exponential back-off (``period_s``, 2·``period_s``, …
    up to ``max_backoff_s``; :class:`Backoff`), logged and written to the audit log each time;
    :meth:`failures` lists the phases failing now.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        period_s: float = 10.0,
        clock: Callable[[], dt.datetime] = utcnow,
        max_backoff_s: float = 3600.0,
    ) -> None:
        self.factory = factory
        self.period_s = period_s
        self.clock = clock
        self.backoff = Backoff(base_s=period_s, max_s=max(max_backoff_s, period_s))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="peergrid-clearing", daemon=True)
        self._thread.start()

    def failures(self) -> list[dict[str, Any]]:
        """Phases failing now (see :meth:`Backoff.failures`)."""
        return self.backoff.failures()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                run_due(self.factory, self.clock(), backoff=self.backoff)
            except Exception as exc:  # pragma: no cover - database down etc.
                log.warning("clearing scheduler tick failed: %s", exc)
            self._stop.wait(self.period_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
