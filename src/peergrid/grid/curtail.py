"""Network-aware curtailment of bilateral trades (issue 4, "network-aware" bilateral mode).

Model
-----
A trade of ``q`` kW from seller bus ``s`` to buyer bus ``b`` is treated as a *flexible*
pair of injections: the seller injects ``q`` at ``s`` and the buyer draws ``q`` at ``b``
on top of a fixed background (``base_p_kw``: everything the participants do that is not
one of the candidate trades). Curtailing the trade removes both injections (the seller's
surplus is not exported — it is stored or spilled — and the buyer's flexible demand is
not served). Note that merely re-labelling a trade as grid supply would not change any
flow: physical flows depend on net injections only.

Method (iterative pro-rata curtailment on the worst violation)
--------------------------------------------------------------
1. Run a balanced AC power flow with background + accepted trades; stop when
   :func:`~peergrid.grid.check_limits` finds nothing. The flow is
   :func:`~peergrid.grid.sweep_flow`'s backward/forward sweep by default (``flow="sweep"``; the
   feeder's model is built or looked up once per call, limits are checked with the guard band
   of :data:`peergrid.grid.slotflow.SWEEP_GUARD`) or pandapower's ``runpp``
   (``flow="pandapower"``, also the fallback on nets the sweep refuses).
2. Take the violated element with the largest relative excess (line: loading / limit − 1;
   bus: distance to the voltage band / band limit).
3. Linear sensitivities of that element to every trade:

   - line ``l``: the trade's lossless flow on ``l`` is ``q · A[p, l]`` (incidence from
     :func:`~peergrid.grid.line_paths`); trades whose flow has the sign of the current
     line flow *contribute* to the overload;
   - bus ``k``: on a radial feeder ``∂V_k/∂P_j ≈ R_kj / V_n²`` (per unit per W) with
     ``R_kj`` the resistance of the part of the slack→k path shared with the slack→j path.
     A trade moves ``V_k`` by ``q · (R_ks − R_kb) / V_n²``; for undervoltage the trades
     that lower ``V_k`` contribute, for overvoltage those that raise it.

4. Scale all contributing trades down by one common factor so that the linear estimate
   removes the excess, plus ``margin`` (default 5 %) to cover losses and non-linearity;
   if the contributors cannot remove it, they go to zero. Repeat from 1.
5. Once the feeder is within limits, give back what the last step cut too much: heavy
   overloads make the linear estimate overshoot (line losses and voltage sag grow faster
   than the trades — a 600 kW trade on a 98 kVA cable would be cut to zero), so the last
   step is bisected between its infeasible start and its feasible end on the AC power
   flow itself (at most 12 more flows, to 0.1 % of the largest trade).

Violations that no trade contributes to (the background alone overloads a line, or the
transformer, which intra-feeder trades do not load) cannot be fixed by curtailment; the
loop stops when only those remain and reports them (``feasible`` is False).

Market use: :class:`FeederLimits` is the network check of the bilateral market's
network-aware mode (``peergrid.market.bilateral(book, network=FeederLimits(net))``,
``peergrid clear ORDERS.csv --mechanism bilateral --network-aware``): it places the
matched trades of every slot on the feeder and returns what each may deliver.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import sparse

from peergrid.core.errors import DataError
from peergrid.core.types import AnyArray, ArrayLike, BoolArray, FloatArray, IndexArray, IntArray
from peergrid.grid._pp import PARTICIPANTS_KEY
from peergrid.grid.feeder import participant_table
from peergrid.grid.flow import FlowResult
from peergrid.grid.limits import Violations, check_limits
from peergrid.grid.paths import line_paths, radial_tree
from peergrid.grid.slotflow import SlotFlows, check_flow

if TYPE_CHECKING:
    from pandapower.auxiliary import pandapowerNet

    from peergrid.market.orders import OrderBook, Trades

#: Bisection steps and tolerance (share of the largest trade) of the last curtailment step.
_BISECTIONS = 12
_BISECT_TOL = 1e-3


@dataclass(frozen=True)
class Curtailment:
    """Result of :func:`curtail_to_limits`.

    Attributes
    ----------
    trade_kw : numpy.ndarray
        ``(P,)`` requested trade power, kW.
    accepted_kw : numpy.ndarray
        ``(P,)`` trade power that the feeder can carry, kW (``≤ trade_kw``).
    scale : numpy.ndarray
        ``(P,)`` accepted share of each trade, in [0, 1].
    flow : FlowResult
        One-slot balanced flow with the accepted trades.
    violations : Violations
        Remaining violations (those the trades do not cause).
    violations_before : Violations
        Violations with the requested trades.
    iterations : int
        Curtailment steps taken.
    flow_method : str
        Solver used: ``"sweep"``, ``"pandapower"`` or ``"sweep+pandapower"``
        (:class:`~peergrid.grid.slotflow.SlotFlows`).
    """

    trade_kw: FloatArray
    accepted_kw: FloatArray
    scale: FloatArray
    flow: FlowResult
    violations: Violations
    violations_before: Violations
    iterations: int
    flow_method: str = "sweep"

    @property
    def curtailed_kw(self) -> FloatArray:
        """``(P,)`` power removed from each trade, kW."""
        return self.trade_kw - self.accepted_kw

    @property
    def feasible(self) -> bool:
        """Whether the accepted trades leave the feeder within all limits."""
        return not self.violations.any


def curtail_to_limits(
    net: pandapowerNet,
    seller_bus: ArrayLike,
    buyer_bus: ArrayLike,
    trade_kw: ArrayLike,
    *,
    base_p_kw: ArrayLike | None = None,
    base_q_kvar: ArrayLike | None = None,
    max_loading_pct: float = 100.0,
    v_min: float = 0.95,
    v_max: float = 1.05,
    margin: float = 0.05,
    max_iter: int = 100,
    numba: bool | None = None,
    max_vim_pct: float | None = None,
    seller_member: ArrayLike | None = None,
    buyer_member: ArrayLike | None = None,
    flow: str | SlotFlows = "sweep",
) -> Curtailment:
    """Scale down the trades that overload lines, push voltages out of the band or unbalance them (one slot).

    See the module docstring for the model and the method. With ``max_vim_pct`` a
    second stage follows the balanced one: the unbalanced flow
    (:func:`~peergrid.grid.power_flow_3ph`, every trade on its members' phases) is
    checked against all limits including VIM (Tooki et al. eq. 13), and while it
    violates one, the trades that can cause it are halved (those with an end on a
    single-phase connection whose slack path shares a line with a violated bus or
    line; all trades sharing such a line if none is single-phase; every active trade
    if no path is shared, as when a neutral-point shift raises another branch's phase
    voltage) are halved; the last step is bisected on the unbalanced
    flow as in step 5. The stage is skipped when no member on a single phase injects
    (background or trades): balanced injections on a symmetric feeder cause no unbalance.

    Parameters
    ----------
    net : pandapowerNet
        Radial feeder (not modified); with ``net["peergrid_participants"]`` if
        ``base_p_kw`` is given.
    seller_bus, buyer_bus : int or array-like of int
        pandapower bus indices of each trade's seller and buyer, ``(P,)``.
    trade_kw : float or array-like
        ``(P,)`` requested trade power, kW (≥ 0; energy per slot / dt).
    base_p_kw, base_q_kvar : numpy.ndarray, optional
        ``(N,)`` background net power of the participants (order of the participants
        table), kW / kvar, + = consumption; zero if omitted.
    max_loading_pct, v_min, v_max : float
        Limits, as in :func:`~peergrid.grid.check_limits`.
    margin : float
        Extra fraction of the linearly estimated excess removed per step (≥ 0).
    max_iter : int
        Most curtailment steps (0: only check the requested trades).
    numba : bool, optional
        Use pandapower's numba kernels (default as in :func:`~peergrid.grid.power_flow`).
    max_vim_pct : float, optional
        Highest allowed voltage imbalance, % (e.g. 2.0); ``None`` skips the unbalanced stage.
    seller_member, buyer_member : array-like of int, optional
        ``(P,)`` positions of each trade's seller and buyer in the participants table
        (required with ``max_vim_pct``: they give the phases).
    flow : {"sweep", "pandapower"} or SlotFlows
        Power flow: :func:`~peergrid.grid.sweep_flow`'s sweep (default; pandapower where the
        sweep refuses the net) or pandapower's Newton–Raphson; a
        :class:`~peergrid.grid.slotflow.SlotFlows` of ``net`` reuses its model across calls.
        With the sweep, limits are checked :data:`~peergrid.grid.slotflow.SWEEP_GUARD` tighter
        (the reported ``violations`` use the limits as given).

    Returns
    -------
    Curtailment
        ``flow`` is the unbalanced :class:`~peergrid.grid.FlowResult3ph` when the
        unbalanced stage ran.

    Raises
    ------
    DataError
        Unknown buses, mismatched lengths, negative or NaN trades, background of the wrong shape.
    ModelError
        The feeder is not radial.
    ConfigError
        Unknown ``flow``.
    """
    flows = flow if isinstance(flow, SlotFlows) else SlotFlows(net, check_flow(flow), numba=numba)
    if flows.net is not net:
        raise DataError("curtail_to_limits: the SlotFlows given as flow belong to another net")
    tree = radial_tree(net)
    seller = np.atleast_1d(np.asarray(seller_bus))
    buyer = np.atleast_1d(np.asarray(buyer_bus))
    q0 = np.atleast_1d(np.asarray(trade_kw, dtype=np.float64))
    if not (seller.ndim == buyer.ndim == q0.ndim == 1 and len(seller) == len(buyer) == len(q0)):
        shapes = f"{seller.shape}, {buyer.shape}, {q0.shape}"
        raise DataError(f"seller_bus, buyer_bus and trade_kw need one entry per trade, got {shapes}")
    if not np.all(np.isfinite(q0)) or np.any(q0 < 0):
        raise DataError("trade_kw: trades must be finite and >= 0 kW")
    if not (margin >= 0 and max_iter >= 0):
        raise DataError(f"need margin >= 0 and max_iter >= 0, got {margin}, {max_iter}")
    inc = line_paths(tree, seller, buyer).tocsc()
    spos, bpos = tree.positions(seller, "seller_bus"), tree.positions(buyer, "buyer_bus")

    table = net.get(PARTICIPANTS_KEY) if hasattr(net, "get") else None
    n_part = len(table) if isinstance(table, pd.DataFrame) else 0
    base_p = _base(base_p_kw, n_part, "base_p_kw")
    base_q = _base(base_q_kvar, n_part, "base_q_kvar")

    nb = len(tree.bus)
    to_net = net.bus.index.get_indexer(tree.bus)  # tree positions -> rows of net.bus
    rabs = abs(tree.root_paths).tocsr()
    vn_v = net.bus["vn_kv"].to_numpy(dtype=np.float64) * 1000.0
    limits = {"max_loading_pct": max_loading_pct, "v_min": v_min, "v_max": v_max}
    guarded = flows.limits(limits)  # the guard band of the sweep

    def solve(scale: FloatArray) -> tuple[bool, FlowResult, Violations]:
        q = q0 * scale
        bus_kw = np.zeros(len(net.bus))
        np.add.at(bus_kw, to_net, np.bincount(bpos, q, nb) - np.bincount(spos, q, nb))
        flow = flows(base_p, base_q, bus_kw=bus_kw)
        return bool(flow.converged[0]), flow, check_limits(flow, **guarded)

    scale = np.ones(len(q0))
    previous = scale
    ok, res, viol = solve(scale)
    before = check_limits(res, **limits)
    it = 0
    while viol.any and it < max_iter:
        previous = scale.copy()
        if not ok:  # no voltages to linearise around: halve every trade that uses a line
            uses = np.diff(inc.tocsr().indptr) > 0
            if not uses.any():
                break
            scale[uses] *= 0.5
        else:
            step = _worst_fixable(res, viol, inc, q0 * scale, spos, bpos, rabs, tree.line_r_ohm, vn_v, guarded, margin)
            if step is None:
                break
            who, factor = step
            scale[who] *= factor
        it += 1
        ok, res, viol = solve(scale)
    if it and not viol.any:
        # The linear step can overshoot (line losses and voltage sag grow faster than the trades):
        # give back what the last step took too much, by bisection between its infeasible start and
        # its feasible end, on the AC power flow itself.
        good, bad = scale, previous
        for _ in range(_BISECTIONS):
            if np.max(np.abs(bad - good) * q0) <= _BISECT_TOL * max(float(q0.max()), 1e-9):
                break
            mid = 0.5 * (good + bad)
            mid_ok, mid_flow, mid_viol = solve(mid)
            if mid_ok and not mid_viol.any:
                good, res, viol = mid, mid_flow, mid_viol
            else:
                bad = mid
        scale = good
    if max_vim_pct is not None:
        phases = table["phase"].astype(str).to_numpy() if n_part and table is not None else np.zeros(0, dtype=object)
        if seller_member is None or buyer_member is None:
            raise DataError("max_vim_pct needs seller_member and buyer_member (positions in the participants table)")
        sm = np.atleast_1d(np.asarray(seller_member, dtype=np.int64))
        bm = np.atleast_1d(np.asarray(buyer_member, dtype=np.int64))
        if (
            sm.shape != q0.shape
            or bm.shape != q0.shape
            or (len(sm) and (min(sm.min(), bm.min()) < 0 or max(sm.max(), bm.max()) >= n_part))
        ):
            raise DataError("seller_member and buyer_member need one participants-table position per trade")
        one_phase = phases != "abc"
        busy = base_p != 0
        busy[sm[q0 > 0]] = True
        busy[bm[q0 > 0]] = True
        if np.any(one_phase & busy):  # some single-phase member injects: the flow is unbalanced
            limits3 = {**limits, "max_vim_pct": max_vim_pct}
            scale, res, viol, extra = _unbalanced_stage(
                flows, q0, scale, sm, bm, base_p, base_q, phases, spos, bpos, tree, limits3, max_iter
            )
            it += extra
            limits = limits3
    return Curtailment(
        trade_kw=q0,
        accepted_kw=q0 * scale,
        scale=scale,
        flow=res,
        violations=check_limits(res, **limits),  # reported against the limits as given
        violations_before=before,
        iterations=it,
        flow_method=flows.method,
    )


def _unbalanced_stage(
    flows: SlotFlows,
    q0: FloatArray,
    scale: FloatArray,
    sm: IntArray,
    bm: IntArray,
    base_p: FloatArray,
    base_q: FloatArray,
    phases: AnyArray,
    spos: IndexArray,
    bpos: IndexArray,
    tree: object,
    limits: dict[str, float],
    max_iter: int,
) -> tuple[FloatArray, FlowResult, Violations, int]:
    """Halve the trades behind unbalanced-flow violations (VIM, phase voltages, loading), then bisect back."""
    n = len(base_p)
    rows = tree.root_paths  # type: ignore[attr-defined]
    single = (phases[sm] != "abc") | (phases[bm] != "abc")
    guarded = flows.limits(limits, unbalanced=True)

    def solve(sc: FloatArray) -> tuple[FlowResult, Violations]:
        q = q0 * sc
        p = base_p + np.bincount(bm, q, n) - np.bincount(sm, q, n)
        flow = flows(p, base_q, unbalanced=True)
        return flow, check_limits(flow, **guarded)

    def culprits(viol: Violations) -> BoolArray:
        active = q0 * scale > 1e-12
        if viol.not_converged[0]:  # no voltages to look at: every active trade, single-phase ones first
            return active & single if (active & single).any() else active
        lines = set(np.flatnonzero(viol.overloaded[0]).tolist())
        for k in np.flatnonzero((viol.undervoltage | viol.overvoltage | viol.unbalanced)[0]):
            lines |= set(rows[k].indices.tolist())  # lines on the slack→k path
        if lines:
            cols = np.zeros(rows.shape[1])
            cols[sorted(lines)] = 1.0
            touches = (abs(rows[spos]) @ cols > 0) | (abs(rows[bpos]) @ cols > 0)
            if (touches & active).any():
                active = touches & active
        # none on the paths (a neutral-point shift raises another branch's phase voltage): every active trade
        return active & single if (active & single).any() else active

    flow, viol = solve(scale)
    it = 0
    previous = scale
    while viol.any and it < max_iter:
        who = culprits(viol)
        if not who.any():
            break
        previous = scale.copy()
        scale = scale.copy()
        scale[who] *= 0.5
        scale[scale * q0 < _BISECT_TOL * max(float(q0.max()), 1e-9)] = 0.0
        it += 1
        flow, viol = solve(scale)
    if it and not viol.any:
        good, bad = scale, previous
        for _ in range(_BISECTIONS // 3):
            if np.max(np.abs(bad - good) * q0) <= 10 * _BISECT_TOL * max(float(q0.max()), 1e-9):
                break
            mid = 0.5 * (good + bad)
            mid_flow, mid_viol = solve(mid)
            if not mid_viol.any:
                good, flow, viol = mid, mid_flow, mid_viol
            else:
                bad = mid
        scale = good
    return scale, flow, viol, it


def _base(values: ArrayLike | None, n: int, what: str) -> FloatArray:
    if values is None:
        return np.zeros(n)
    arr = np.asarray(values, dtype=np.float64)
    if n == 0:
        raise DataError(f"{what}: the net has no participants table; build it with build_feeder/feeder_from_net")
    if arr.shape != (n,):
        raise DataError(f"{what}: expected shape ({n},) (one value per participant), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{what}: contains NaN or infinite values")
    return arr


def _worst_fixable(
    flow: FlowResult,
    viol: Violations,
    inc: sparse.csc_matrix,
    q: FloatArray,
    spos: IndexArray,
    bpos: IndexArray,
    rabs: sparse.csr_matrix,
    r_ohm: FloatArray,
    vn_v: FloatArray,
    limits: dict[str, float],
    margin: float,
) -> tuple[IndexArray, float] | None:
    """Contributing trades of the most severe violation that trades can fix, and their common scale factor."""
    cands: list[tuple[float, str, int]] = []
    load = flow.loading_pct[0]
    vm = flow.vm_pu[0]
    for l_ in np.flatnonzero(viol.overloaded[0]):
        cands.append((load[l_] / limits["max_loading_pct"] - 1.0, "line", int(l_)))
    for k in np.flatnonzero(viol.undervoltage[0]):
        cands.append(((limits["v_min"] - vm[k]) / limits["v_min"], "under", int(k)))
    for k in np.flatnonzero(viol.overvoltage[0]):
        cands.append(((vm[k] - limits["v_max"]) / limits["v_max"], "over", int(k)))
    cands.sort(key=lambda c: -c[0])
    for _, kind, e in cands:
        if kind == "line":
            col = inc[:, e].toarray().ravel()
            f = flow.line_p_kw[0, e]
            own = q * col
            direction = np.sign(f) if f != 0 else np.sign(own.sum())
            contrib = own * direction
            excess = abs(f) * (1.0 - limits["max_loading_pct"] / load[e])
        else:
            w = rabs[e].toarray().ravel() * r_ohm  # Ω of each line on the slack→e path
            shared_s = rabs[spos] @ w
            shared_b = rabs[bpos] @ w
            sens = (shared_s - shared_b) * 1000.0 / vn_v[e] ** 2  # pu per kW of trade
            if kind == "under":
                contrib = -sens * q
                excess = limits["v_min"] - vm[e]
            else:
                contrib = sens * q
                excess = vm[e] - limits["v_max"]
        who = np.flatnonzero(contrib > 1e-12)
        if not who.size:
            continue
        total = float(contrib[who].sum())
        need = excess * (1.0 + margin)
        return who, (1.0 - need / total if total > need else 0.0)
    return None


@dataclass(frozen=True)
class FeederLimits:
    """Network check for the bilateral market: curtail trades that a feeder cannot carry.

    ``bilateral(book, network=FeederLimits(net))`` calls it with the matched trades;
    for every slot it runs :func:`curtail_to_limits` on the slot's trades (seller →
    buyer transfers of ``quantity / dt`` kW on top of ``base_p_kw``) and returns the
    kWh each trade may deliver. Participants are matched to the feeder's
    participants table by label (``str(label) == id``).

    Attributes
    ----------
    net : pandapowerNet
        Radial feeder with a participants table (:func:`~peergrid.grid.build_feeder`,
        :func:`~peergrid.grid.feeder_from_net`).
    dt : float
        Slot length, hours (> 0): a trade of q kWh is q / dt kW.
    base_p_kw : numpy.ndarray, optional
        Background net power of the feeder's participants (+ = consumption), kW:
        ``(N,)`` for every slot, or ``(T, N)`` indexed by slot number. Default:
        none — only the trades load the feeder.
    max_loading_pct, v_min, v_max, margin, max_iter, numba, max_vim_pct
        As in :func:`curtail_to_limits` (``max_vim_pct`` None: no VIM limit).
    flow : {"sweep", "pandapower"}
        Power flow of the curtailment (and of :func:`~peergrid.grid.clear_on_feeder`):
        :func:`~peergrid.grid.sweep_flow`'s sweep (default; pandapower on nets it refuses)
        or pandapower's Newton–Raphson. The feeder's model is looked up once per call.
    """

    net: pandapowerNet = field(repr=False)
    dt: float = 1.0
    base_p_kw: FloatArray | None = field(default=None, repr=False)
    max_loading_pct: float = 100.0
    v_min: float = 0.95
    v_max: float = 1.05
    margin: float = 0.05
    max_iter: int = 100
    numba: bool | None = None
    max_vim_pct: float | None = None
    flow: str = "sweep"

    def __post_init__(self) -> None:
        object.__setattr__(self, "flow", check_flow(self.flow))
        if not (np.isfinite(self.dt) and self.dt > 0):
            raise DataError(f"dt must be > 0 hours, got {self.dt}")
        if not len(participant_table(self.net)):  # a DataError now rather than at the first trade
            raise DataError("the feeder has no participants: place them with feeder_from_net")

    def __call__(self, trades: Trades, book: OrderBook) -> FloatArray:
        """kWh each trade may deliver (the network check protocol of ``peergrid.market.bilateral``)."""
        return self.curtail(trades, book)[0]

    def curtail(self, trades: Trades, book: OrderBook) -> tuple[FloatArray, dict[int, Curtailment]]:
        """Deliverable kWh per trade and the :class:`Curtailment` of every slot with trades.

        Raises
        ------
        DataError
            A trading participant is not on the feeder, or ``base_p_kw`` does not
            cover a slot.
        """
        table = participant_table(self.net)
        bus_of = dict(zip(table["id"].astype(str), table["bus"].to_numpy(dtype=np.int64), strict=True))
        row_of = {str(x): i for i, x in enumerate(table["id"].astype(str))}
        labels = book.participant_label(np.arange(book.n_participants))
        missing = [str(x) for x in labels if str(x) not in bus_of]
        codes_bus = np.array([bus_of.get(str(x), -1) for x in labels], dtype=np.int64)
        codes_row = np.array([row_of.get(str(x), -1) for x in labels], dtype=np.int64)
        used = np.unique(np.concatenate([trades.seller, trades.buyer]))
        absent = used[codes_bus[used] < 0] if used.size else used
        if absent.size:
            raise DataError(
                f"participant {str(labels[absent[0]])!r} is not on the feeder "
                f"({len(missing)} of {len(labels)} participants missing; map them with feeder_from_net)"
            )
        base = None if self.base_p_kw is None else np.asarray(self.base_p_kw, dtype=np.float64)
        accepted = np.zeros(len(trades))
        outcomes: dict[int, Curtailment] = {}
        flows = SlotFlows(self.net, self.flow, numba=self.numba)  # one model look-up for every slot
        for s in np.unique(trades.slot).tolist():  # one power flow problem per slot
            rows = np.flatnonzero(trades.slot == s)
            slot_base = base
            if base is not None and base.ndim == 2:
                if not 0 <= s < base.shape[0]:
                    raise DataError(f"base_p_kw has {base.shape[0]} rows (slots), trades use slot {s}")
                slot_base = base[s]
            cur = curtail_to_limits(
                self.net,
                codes_bus[trades.seller[rows]],
                codes_bus[trades.buyer[rows]],
                trades.quantity[rows] / self.dt,
                base_p_kw=slot_base,
                max_loading_pct=self.max_loading_pct,
                v_min=self.v_min,
                v_max=self.v_max,
                margin=self.margin,
                max_iter=self.max_iter,
                numba=self.numba,
                max_vim_pct=self.max_vim_pct,
                seller_member=codes_row[trades.seller[rows]],
                buyer_member=codes_row[trades.buyer[rows]],
                flow=flows,
            )
            accepted[rows] = np.minimum(cur.accepted_kw * self.dt, trades.quantity[rows])
            outcomes[int(s)] = cur
        return accepted, outcomes
