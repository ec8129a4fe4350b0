"""Network-aware clearing of order books: eq. 12 fees from flows, curtailment, re-matching, losses.

The one implementation behind ``peergrid clear ORDERS.csv --network FEEDER.json`` (and
``--network-aware``) and the service's scheduled clearing of a community with a feeder:
:func:`clear_on_feeder`.

Model
-----
Orders are flexible energy: a trade of ``q`` kWh in a slot of ``dt`` hours is a transfer
of ``q / dt`` kW from the seller's bus and phase to the buyer's, on top of a fixed
background (``FeederLimits.base_p_kw``, none by default). A curtailed trade removes both
injections (see :mod:`peergrid.grid.curtail`); its volume goes back to the book.

Method, slot by slot
--------------------
1. **Match.** Round 0 clears the slot's orders with the chosen mechanism. The auctions
   (uniform, pay-as-bid, McAfee) give executed volumes per order; they are paired
   **pro rata** — bid ``i`` and ask ``j`` exchange ``x_i · y_j / V`` kWh, with ``x``, ``y``
   the executed volumes and ``V`` the slot's traded volume — each pair at the bid's and the
   ask's own average auction prices (payments and receipts are unchanged by the pairing).
   Bilateral matching gives pairs directly.
2. **Curtail.** :func:`~peergrid.grid.curtail_to_limits` scales the round's pairs down until
   the feeder (background + trades accepted in earlier rounds + this round's) is within
   line loading and voltage band (balanced AC flow) and, when some member sits on a single
   phase, within loading, every phase's voltage band and VIM (Tooki et al. (2025), eq. 13)
   on the unbalanced AC flow. With every member on ``"abc"`` the balanced flow is used and
   VIM is 0. Every AC flow of the clearing (balanced and unbalanced) is
   :func:`~peergrid.grid.sweep_flow`'s backward/forward sweep by default
   (``FeederLimits(net, flow="sweep")``; the feeder's model is looked up once per call) or
   pandapower's ``runpp`` / ``runpp_3ph`` with ``flow="pandapower"`` — also the fallback on
   nets the sweep refuses (``FeederClearing.flow`` says which ran).
3. **Re-match.** Freed volume (each order's unfilled remainder) goes back to the book and is
   matched again bilaterally (at the k-price) among the pairs that were *not* curtailed,
   preferring pairs with low eq. 12 fees at the current flows; then step 2 again. At most
   ``max_rounds`` rounds; the loop ends when a round curtails nothing.
4. **Fees (Tooki et al. (2025), eq. 12).** From the slot's settled flow (step 5),
   ``H_p = Σ_{L ∈ path(p)} τ_L · |P_L| / P_max,L`` (currency/kWh) on the lines between the
   pair's buses (:func:`~peergrid.grid.line_utilisation_fee`); the buyer pays ``H_p · q_p`` on
   top of the energy price (``price_buy = energy price + H_p``, ``price_sell`` = energy price),
   so operator income = Σ fees exactly.
5. **Settled state.** One more AC flow per slot with the background and every accepted trade
   as settled (whole ``quantum_kwh`` if given) gives the fees, losses, loading, voltage and VIM
   reported, and ``slot_feasible``.
6. **Losses.** The slot's incremental losses ``ΔL = losses(with trades) − losses(background
   alone)`` (kWh, same flow model) are allocated to its trades in proportion to
   ``q_p · R_p``, kWh times the resistance of the lines the trade uses (the first-order
   share of each transfer in the I²R losses); pro rata to ``q_p`` when all ``R_p`` are 0.
   The allocations sum to ``ΔL`` in every slot. Losses are reported (kWh), not charged.

Limits: matching in round 0 does not see fees (flows are unknown before trades); the
fee a buyer pays is computed on the settled flows and can exceed the estimate a
re-matching round used, so a buyer can pay up to ``H_p`` above its bid.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from peergrid.core.errors import ConfigError, DataError
from peergrid.core.types import ArrayLike, BoolArray, FloatArray, IndexArray, IntArray
from peergrid.grid.curtail import FeederLimits, curtail_to_limits
from peergrid.grid.feeder import line_capacity_kw, participant_table
from peergrid.grid.limits import check_limits
from peergrid.grid.paths import RadialTree, line_paths, line_utilisation_fee, radial_tree
from peergrid.grid.slotflow import SlotFlows

if TYPE_CHECKING:
    from peergrid.grid.flow import FlowResult
    from peergrid.market.orders import MarketResult, OrderBook, Trades

#: Default τ_L of eq. 12 (fee at full line utilisation), currency/kWh (as the simulator's ``[grid] fee_per_kwh``).
DEFAULT_TAU = 0.01
_EPS = 1e-9


@dataclass(frozen=True)
class FeederClearing:
    """Result of :func:`clear_on_feeder`.

    Attributes
    ----------
    result : MarketResult
        The settled trades (``trades.fee`` is the eq. 12 fee of each trade, paid by the buyer;
        ``curtailed`` = kWh the network check removed per slot, summed over rounds).
    fee_per_kwh : numpy.ndarray
        ``(P,)`` eq. 12 fee ``H_p`` of each trade, currency/kWh.
    losses_kwh : numpy.ndarray
        ``(P,)`` losses allocated to each trade, kWh (negative where trades reduce losses).
    slot_line_fees, slot_losses_kwh, slot_curtailed_kwh, slot_rematched_kwh : numpy.ndarray
        ``(S,)`` per slot of ``result.slots``: fees (currency), incremental losses (kWh),
        volume cut by the network check (kWh), volume traded in re-matching rounds (kWh).
    slot_max_loading_pct, slot_min_voltage_pu, slot_max_vim_pct : numpy.ndarray
        ``(S,)`` worst line loading (%), lowest voltage of any phase (pu), largest VIM (%)
        of the settled flow (NaN for slots without trades and background).
    slot_rounds : numpy.ndarray
        ``(S,)`` matching rounds run.
    slot_feasible : numpy.ndarray
        ``(S,)`` the settled flow is within all limits.
    tau : float
        τ_L used, currency/kWh.
    flow : str
        The AC flow used: ``"sweep"``, ``"pandapower"`` or ``"sweep+pandapower"`` (partial fallback).
    """

    result: MarketResult
    fee_per_kwh: FloatArray
    losses_kwh: FloatArray
    slot_line_fees: FloatArray
    slot_losses_kwh: FloatArray
    slot_curtailed_kwh: FloatArray
    slot_rematched_kwh: FloatArray
    slot_max_loading_pct: FloatArray
    slot_min_voltage_pu: FloatArray
    slot_max_vim_pct: FloatArray
    slot_rounds: IntArray
    slot_feasible: BoolArray
    tau: float
    flow: str = "sweep"

    @property
    def line_fees(self) -> FloatArray:
        """``(P,)`` eq. 12 fee of each trade, currency (``fee_per_kwh · quantity``)."""
        fees: FloatArray = self.fee_per_kwh * self.result.trades.quantity
        return fees

    def summary(self) -> dict[str, Any]:
        """Network figures with stable keys (JSON-ready; NaN becomes None)."""

        def num(x: float) -> float | None:
            return float(x) if np.isfinite(x) else None

        def worst(a: FloatArray, fn: Any) -> float | None:
            ok = np.isfinite(a)
            return float(fn(a[ok])) if ok.any() else None

        return {
            "line_fees": float(self.slot_line_fees.sum()),
            "curtailed_kwh": float(self.slot_curtailed_kwh.sum()),
            "rematched_kwh": float(self.slot_rematched_kwh.sum()),
            "losses_kwh": float(self.slot_losses_kwh.sum()),
            "max_line_loading_pct": worst(self.slot_max_loading_pct, np.max),
            "min_voltage_pu": worst(self.slot_min_voltage_pu, np.min),
            "max_vim_pct": worst(self.slot_max_vim_pct, np.max),
            "tau": num(self.tau),
            "feasible": bool(self.slot_feasible.all()),
        }


def clear_on_feeder(
    book: OrderBook,
    feeder: FeederLimits,
    mechanism: str = "bilateral",
    *,
    tau: ArrayLike = DEFAULT_TAU,
    k: float = 0.5,
    retail: ArrayLike | None = None,
    feed_in: ArrayLike | None = None,
    max_rounds: int = 4,
    quantum_kwh: float | None = None,
) -> FeederClearing:
    """Clear an order book on a feeder (see the module docstring for the method).

    Parameters
    ----------
    book : OrderBook
        Bids and asks; participant labels must be ids of the feeder's participants table.
    feeder : FeederLimits
        The feeder and its limits (``net``, ``dt`` hours per slot, ``base_p_kw`` background,
        ``max_loading_pct``, ``v_min``, ``v_max``, ``max_vim_pct``).
    mechanism : str
        ``"bilateral"``, ``"uniform"``, ``"pay-as-bid"`` or ``"mcafee"`` (round 0).
    tau : float or numpy.ndarray
        τ_L of eq. 12: fee at full utilisation per line (scalar or ``(L,)``), currency/kWh, ≥ 0.
    k : float
        k of the uniform auction and of the bilateral contract price, in [0, 1].
    retail, feed_in : float or array-like, optional
        λb / λs for the residuals, as in the auctions.
    max_rounds : int
        Most matching rounds per slot (≥ 1; 1 = no re-matching).
    quantum_kwh : float, optional
        Settle whole multiples of this energy only (the service: 0.001 kWh = 1 Wh), each trade rounded
        down, so that rounding never pushes a settled slot over a limit.

    Returns
    -------
    FeederClearing

    Raises
    ------
    DataError
        A participant with orders is not on the feeder; bad τ.
    ConfigError
        Unknown mechanism, ``max_rounds < 1``.
    """
    from peergrid.market._common import slot_tariffs
    from peergrid.market.auction import slot_codes
    from peergrid.market.bilateral import bilateral
    from peergrid.market.mechanisms import get_order_mechanism, takes_option
    from peergrid.market.orders import MarketResult, OrderBook, Trades

    if not isinstance(book, OrderBook):
        raise DataError(f"expected an OrderBook, got {type(book).__name__}")
    if not isinstance(feeder, FeederLimits):
        raise DataError(f"feeder must be a FeederLimits, got {type(feeder).__name__}")
    if max_rounds < 1:
        raise ConfigError(f"max_rounds must be >= 1, got {max_rounds}")
    if quantum_kwh is not None and not (np.isfinite(quantum_kwh) and quantum_kwh > 0):
        raise ConfigError(f"quantum_kwh must be > 0, got {quantum_kwh}")
    name = str(mechanism).strip().lower().replace("_", "-")
    first = get_order_mechanism(name)
    net = feeder.net
    tree = radial_tree(net)
    tau_l = np.asarray(tau, dtype=np.float64)
    if tau_l.ndim > 1 or (tau_l.ndim == 1 and tau_l.shape != (len(net.line),)):
        raise DataError(f"tau: expected a scalar or one value per line ({len(net.line)}), got shape {tau_l.shape}")
    if not np.all(np.isfinite(tau_l) & (tau_l >= 0)):
        raise DataError("tau (line utilisation fee at full loading) must be finite and >= 0")
    cap = line_capacity_kw(net)

    table = participant_table(net)
    ids = table["id"].astype(str).tolist()
    row_of = {x: i for i, x in enumerate(ids)}
    labels = [str(x) for x in book.participant_label(np.arange(book.n_participants)).tolist()]
    codes_row = np.array([row_of.get(x, -1) for x in labels], dtype=np.int64)
    used = np.unique(book.participant) if len(book) else np.zeros(0, dtype=np.int64)
    absent = used[codes_row[used] < 0]
    if absent.size:
        raise DataError(f"participant {labels[int(absent[0])]!r} has orders but is not on the feeder")
    codes_bus = np.where(codes_row >= 0, table["bus"].to_numpy(dtype=np.int64)[np.maximum(codes_row, 0)], -1)
    n_rows = len(ids)
    # members on single phases: the unbalanced flow is the physics (VIM limit or not); all on "abc": balanced
    three_phase = bool(np.any(table["phase"].astype(str).to_numpy() != "abc"))
    vim_limit = feeder.max_vim_pct if feeder.max_vim_pct is not None else np.inf
    r_line = tree.line_r_ohm

    slots, codes = slot_codes(book.slot)
    lb, ls = slot_tariffs(slots, retail, feed_in)
    S = len(slots)
    out = {key: np.zeros(S) for key in ("fees", "losses", "cut", "rematched")}
    worst_loading = np.full(S, np.nan)
    worst_v = np.full(S, np.nan)
    worst_vim = np.full(S, np.nan)
    rounds = np.zeros(S, dtype=np.int64)
    feasible = np.ones(S, dtype=bool)
    clearing_price = np.full(S, np.nan)
    parts: list[Trades] = []
    fee_parts: list[FloatArray] = []
    loss_parts: list[FloatArray] = []
    options = {"k": k} if takes_option(name, "k") else {}
    base_all = None if feeder.base_p_kw is None else np.asarray(feeder.base_p_kw, dtype=np.float64)
    limits = {"max_loading_pct": feeder.max_loading_pct, "v_min": feeder.v_min, "v_max": feeder.v_max}
    flows = SlotFlows(net, feeder.flow, numba=feeder.numba)  # one model look-up for the whole book

    for si, s in enumerate(slots.tolist()):
        pos = np.flatnonzero(codes == si)
        base = _slot_base(base_all, n_rows, int(s))
        committed = base.copy()
        rem = book.quantity[pos].astype(np.float64).copy()
        forbidden = np.zeros((book.n_participants, book.n_participants), dtype=bool)
        H = np.zeros((book.n_participants, book.n_participants))
        slot_trades: list[Trades] = []
        flow: FlowResult | None = None
        cur = None
        for rnd in range(max_rounds):
            live = rem > _EPS * np.maximum(book.quantity[pos], 1.0)
            if not live.any():
                break
            lp = pos[live]
            rep = None if book.reputation is None else book.reputation[lp]
            sub = OrderBook(book.id[lp], book.participant[lp], book.side[lp], rem[live], book.price[lp],
                            book.slot[lp], rep, book.labels)  # fmt: skip
            if rnd == 0 and name != "bilateral":
                res = first(sub, **options)
                clearing_price[si] = res.clearing_price[0] if len(res.clearing_price) else np.nan
                pairs = _pro_rata(res)
            else:
                fees = np.where(forbidden, np.inf, H)
                with np.errstate(invalid="ignore"):  # 0 · inf of the seller's (zero) share of forbidden pairs
                    res = bilateral(sub, fees=fees, k=k, buyer_fee_share=1.0, seller_fee_share=0.0)
                pairs = replace(res.trades, price_buy=res.trades.price_sell)  # energy price; eq. 12 fee added below
            if not len(pairs):
                break
            rounds[si] = rnd + 1
            pairs = replace(pairs, buy=lp[pairs.buy], sell=lp[pairs.sell])
            sm, bm = codes_row[pairs.seller], codes_row[pairs.buyer]
            cur = curtail_to_limits(
                net, codes_bus[pairs.seller], codes_bus[pairs.buyer], pairs.quantity / feeder.dt,
                base_p_kw=committed, **limits, margin=feeder.margin, max_iter=feeder.max_iter, numba=feeder.numba,
                max_vim_pct=vim_limit if three_phase else None, seller_member=sm, buyer_member=bm, flow=flows,
            )  # fmt: skip
            acc = np.minimum(cur.accepted_kw * feeder.dt, pairs.quantity)
            if rnd and not cur.feasible:  # a re-matching round the feeder cannot carry: keep the earlier state
                acc = np.zeros_like(acc)
            if quantum_kwh is not None:  # settle in whole quanta (e.g. Wh), rounded down: never above what fits
                acc = np.minimum(np.floor(acc / quantum_kwh + 1e-6) * quantum_kwh, pairs.quantity)
            cut = pairs.quantity - acc
            out["cut"][si] += float(cut.sum())
            if rnd:
                out["rematched"][si] += float(acc.sum())
            keep = acc > _EPS * np.maximum(pairs.quantity, 1.0)
            slot_trades.append(replace(pairs.take(keep), quantity=acc[keep]))
            back, fwd = np.searchsorted(pos, pairs.buy), np.searchsorted(pos, pairs.sell)  # pos is sorted
            rem -= np.bincount(back, acc, len(pos)) + np.bincount(fwd, acc, len(pos))
            rem = np.maximum(rem, 0.0)
            committed = committed + (np.bincount(bm, acc, n_rows) - np.bincount(sm, acc, n_rows)) / feeder.dt
            flow = cur.flow
            flagged = cut > _EPS * np.maximum(pairs.quantity, 1.0)
            if not flagged.any():
                break
            forbidden[pairs.seller[flagged], pairs.buyer[flagged]] = True
            H = _fee_matrix(tree, codes_bus, flow, cap, tau_l)
        if cur is not None:  # the settled state, exactly: background + every accepted trade as settled
            flow = flows(committed, unbalanced=three_phase)
            vim_check = vim_limit if three_phase else None
            feasible[si] = not check_limits(flow, **limits, max_vim_pct=vim_check).any
        trades = Trades.concat(slot_trades)
        if flow is None and base_all is None:
            fee = np.zeros(len(trades))
            loss = np.zeros(len(trades))
        else:
            if flow is None:
                flow = flows(base, unbalanced=three_phase)
            worst_loading[si] = float(np.nanmax(flow.loading_pct[0])) if flow.loading_pct.size else 0.0
            worst_v[si] = float(np.nanmin(flow.vm_min_pu[0]))
            vim = getattr(flow, "vim_pct", None)
            worst_vim[si] = float(np.nanmax(vim[0])) if vim is not None else 0.0
            inc = line_paths(tree, codes_bus[trades.seller], codes_bus[trades.buyer])
            fee = (
                line_utilisation_fee(inc, np.nan_to_num(flow.line_p_kw[0]), cap, tau_l) if len(trades) else np.zeros(0)
            )
            background = flows(base, unbalanced=isinstance(vim, np.ndarray))
            delta = (float(flow.losses_kw[0]) - float(background.losses_kw[0])) * feeder.dt
            loss = _allocate_losses(delta, trades.quantity, abs(inc) @ r_line if len(trades) else np.zeros(0))
            out["losses"][si] = delta if len(trades) else 0.0
        trades = replace(trades, price_buy=trades.price_buy + fee)
        out["fees"][si] = float(np.sum(fee * trades.quantity))
        parts.append(trades)
        fee_parts.append(fee)
        loss_parts.append(loss)

    trades = Trades.concat(parts)
    result = MarketResult(name, book, trades, slots, clearing_price, lb, ls, out["cut"])
    return FeederClearing(
        result=result,
        fee_per_kwh=np.concatenate(fee_parts) if fee_parts else np.zeros(0),
        losses_kwh=np.concatenate(loss_parts) if loss_parts else np.zeros(0),
        slot_line_fees=out["fees"],
        slot_losses_kwh=out["losses"],
        slot_curtailed_kwh=out["cut"],
        slot_rematched_kwh=out["rematched"],
        slot_max_loading_pct=worst_loading,
        slot_min_voltage_pu=worst_v,
        slot_max_vim_pct=worst_vim,
        slot_rounds=rounds,
        slot_feasible=feasible,
        tau=float(np.max(tau_l)) if tau_l.size else 0.0,
        flow=flows.method,
    )


def _slot_base(base: FloatArray | None, n: int, slot: int) -> FloatArray:
    if base is None:
        return np.zeros(n)
    if base.ndim == 1:
        if base.shape != (n,):
            raise DataError(f"base_p_kw: expected ({n},) or (T, {n}), got {base.shape}")
        return base.copy()
    if not 0 <= slot < base.shape[0] or base.shape[1] != n:
        raise DataError(f"base_p_kw has shape {base.shape}; slot {slot} with {n} participants is not covered")
    row: FloatArray = base[slot].copy()
    return row


def _pro_rata(res: MarketResult) -> Trades:
    """Pairs ``x_i · y_j / V`` of an auction's executed volumes in one slot, at each order's average price."""
    from peergrid.market.orders import Trades

    t = res.trades
    n = len(res.book)
    if not len(t):
        return Trades.empty()
    x = np.bincount(t.buy, t.quantity, n)
    y = np.bincount(t.sell, t.quantity, n)
    pay = np.bincount(t.buy, t.payment, n)
    rec = np.bincount(t.sell, t.receipt, n)
    bi, ai = np.flatnonzero(x > 0), np.flatnonzero(y > 0)
    total = float(x.sum())
    B, A = (m.ravel() for m in np.meshgrid(bi, ai, indexing="ij"))
    q = x[B] * y[A] / total
    book = res.book
    return Trades(
        buy=B, sell=A, buyer=book.participant[B], seller=book.participant[A], quantity=q,
        price_buy=pay[B] / x[B], price_sell=rec[A] / y[A], slot=book.slot[B],
    )  # fmt: skip


def _fee_matrix(
    tree: RadialTree, codes_bus: IndexArray, flow: FlowResult, cap: FloatArray, tau: FloatArray
) -> FloatArray:
    """eq. 12 fee of every (seller code, buyer code) pair at the flow, currency/kWh (inf off the feeder)."""
    from peergrid.grid.charges import radial_fee_matrix

    n = len(codes_bus)
    on = codes_bus >= 0
    H = np.full((n, n), np.inf)
    if not on.any():
        return H
    rows = tree.root_paths[tree.positions(codes_bus[on], "participant bus")]
    sub = radial_fee_matrix(rows, np.nan_to_num(flow.line_p_kw[0]), cap, np.broadcast_to(tau, cap.shape))
    H[np.ix_(on, on)] = sub
    return H


def _allocate_losses(delta: float, q: FloatArray, r_path: FloatArray) -> FloatArray:
    """``delta`` kWh split over trades ∝ q·R (∝ q when every R is 0); sums to ``delta``."""
    if not len(q):
        return np.zeros(0)
    w = q * np.asarray(r_path, dtype=np.float64)
    if not w.sum() > 0:
        w = q.astype(np.float64)
    total = float(w.sum())
    return delta * w / total if total > 0 else np.zeros(len(q))
