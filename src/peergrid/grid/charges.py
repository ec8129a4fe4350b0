"""Network charges from flows: Tooki et al. (2025) eq. 12 line fees and loss allocation.

The one implementation of eq. 12, the line-utilisation fee per kWh of a trade

    H_ab = Σ_{L ∈ path(a, b)} τ_L · |P_L| / P_max,L          (currency/kWh)

(:func:`line_weights` per line, :func:`utilisation_fee` over any incidence,
:func:`fee_matrix` / :func:`radial_fee_matrix` for all seller–buyer pairs; the market layer
takes these from here: ``peergrid.market.bilateral(book, fees=H)``), and of the charges built
on it for every path that charges a feeder's use from the flows of members' net positions:
the simulator's network step (:mod:`peergrid.simulate.network`, scenario ``[grid]``) and the
service's metered settlement of a pool community with a feeder (:mod:`peergrid.service.clearing`).
Typical use::

    from peergrid.grid import FeederTopology, allocate_losses, line_fee_money, sweep_flow
    topo = FeederTopology.of(net)                     # members of net["peergrid_participants"]
    flow = sweep_flow(net, net_kwh / dt, dt=dt)
    fees = line_fee_money(bought, sold, flow.line_p_kw, topo, tau)          # (T, N) currency
    loss_charge = allocate_losses(net_kwh, flow.losses_kw * dt) * retail[:, None]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from peergrid.core.errors import DataError
from peergrid.core.types import ArrayLike, FloatArray, IndexArray, IntArray

if TYPE_CHECKING:
    from pandapower.auxiliary import pandapowerNet


def line_weights(flow: ArrayLike, capacity: ArrayLike, tau: ArrayLike) -> FloatArray:
    """Per-line fee per kWh at the current loading, τ_L·|P_L|/P_max,L (Tooki et al. eq. 12 summand).

    Parameters
    ----------
    flow : array-like
        Line flow P_L (kW; sign ignored): ``(L,)``, or ``(T, L)`` for T slots.
    capacity : array-like
        Line capacity P_max,L in the unit of ``flow``, > 0: a scalar or ``(L,)``.
    tau : array-like
        Utilisation fee of each line at full loading, currency/kWh, ≥ 0: a scalar or ``(L,)``.

    Returns
    -------
    numpy.ndarray
        currency/kWh per line, ``(L,)`` (or ``(T, L)`` for 2-D flows).
    """
    t = np.asarray(tau, dtype=np.float64)
    f = np.abs(np.asarray(flow, dtype=np.float64))
    c = np.asarray(capacity, dtype=np.float64)
    if t.ndim > 1 or c.ndim > 1 or f.ndim > 2:
        raise DataError(
            f"tau and capacity must be scalars or 1-D per-line arrays and flow (L,) or (T, L), "
            f"got shapes {t.shape}, {c.shape}, {f.shape}"
        )
    for name, arr in (("tau", t), ("flow", f), ("capacity", c)):
        if not np.all(np.isfinite(arr)):
            raise DataError(f"{name} contains NaN or infinite values")
    if np.any(t < 0):
        raise DataError("tau (line utilisation fee) must be >= 0")
    if np.any(c <= 0):
        raise DataError(f"line capacity must be > 0 (line {int(np.argmax(np.ravel(c) <= 0))})")
    try:
        w = t * f / c
    except ValueError:
        raise DataError(
            f"tau {t.shape}, flow {f.shape} and capacity {c.shape} need one entry per line (the last axis of flow)"
        ) from None
    return np.atleast_1d(w)


def utilisation_fee(incidence: Any, flow: ArrayLike, capacity: ArrayLike, tau: ArrayLike) -> FloatArray:
    """Line-utilisation fee H of trades (Tooki et al. eq. 12): H = Σ_L τ_L·|P_L|/P_max,L over used lines.

    The one implementation of eq. 12 in peergrid (:func:`peergrid.grid.line_utilisation_fee`
    is an adapter over it that checks its arguments against a feeder's lines).

    Parameters
    ----------
    incidence : array-like or scipy sparse matrix
        ``(..., L)``: non-zero where the trade (or trade pair) uses line L — e.g.
        ``(P, L)`` for P trades or ``(N, N, L)`` for all seller–buyer pairs. Signed
        incidences (±1 for the flow direction, as :func:`peergrid.grid.paths.line_paths`
        returns) are accepted: only ``|entries|`` count.
    flow : array-like
        Line flows P_L, ``(L,)``, or ``(T, L)`` for T slots (sign ignored).
    capacity, tau : array-like
        Per line (or one value for all lines), see :func:`line_weights`.

    Returns
    -------
    numpy.ndarray
        currency/kWh: ``|incidence| @ w``, shape ``incidence.shape[:-1]``, or
        ``(T,) + incidence.shape[:-1]`` for 2-D flows.
    """
    w = line_weights(flow, capacity, tau)
    n_lines = w.shape[-1]
    if hasattr(incidence, "tocsr"):  # scipy.sparse: (P, L)
        if incidence.shape[-1] != n_lines:
            raise DataError(f"incidence has {incidence.shape[-1]} lines, line data has {n_lines}")
        out = np.asarray(abs(incidence).astype(np.float64) @ w.T)
        return out.T if w.ndim == 2 else out.ravel()
    inc = np.abs(np.asarray(incidence, dtype=np.float64))
    if inc.shape[-1:] != (n_lines,):
        raise DataError(f"incidence has {inc.shape[-1] if inc.ndim else 0} lines, line data has {n_lines}")
    if w.ndim == 1:
        return inc @ w
    return np.moveaxis(inc @ w.T, -1, 0)


def _slot_weights(flow: ArrayLike, capacity: ArrayLike, tau: ArrayLike) -> FloatArray:
    """:func:`line_weights` of one slot (1-D flows only)."""
    w = line_weights(flow, capacity, tau)
    if w.ndim != 1:
        raise DataError(f"flow must hold one value per line (one slot), got shape {np.shape(flow)}")
    return w


def fee_matrix(
    paths: Mapping[tuple[Any, Any], Iterable[int]],
    flow: ArrayLike,
    capacity: ArrayLike,
    tau: ArrayLike,
    n_participants: int,
    default: float = 0.0,
) -> FloatArray:
    """Seller × buyer matrix of line-utilisation fees from a trade-pair → lines mapping (eq. 12).

    Parameters
    ----------
    paths : Mapping
        ``{(seller, buyer): [line indices]}`` with participant codes; the grid
        module supplies it from the feeder topology.
    flow, capacity, tau : array-like
        Per line, see :func:`line_weights`.
    n_participants : int
        Matrix size N.
    default : float
        Fee of pairs not in ``paths`` (``numpy.inf`` forbids them), currency/kWh.

    Returns
    -------
    numpy.ndarray
        ``(N, N)``, ``H[seller, buyer]`` in currency/kWh.
    """
    w = _slot_weights(flow, capacity, tau)
    H = np.full((n_participants, n_participants), float(default))
    for (a, b), lines in paths.items():
        idx = np.asarray(list(lines), dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= w.shape[0]):
            raise DataError(f"path of pair ({a}, {b}) names a line outside 0..{w.shape[0] - 1}")
        if not (0 <= a < n_participants and 0 <= b < n_participants):
            raise DataError(f"pair ({a}, {b}) outside participants 0..{n_participants - 1}")
        H[a, b] = w[np.unique(idx)].sum()
    return H


def radial_fee_matrix(head_paths: Any, flow: ArrayLike, capacity: ArrayLike, tau: ArrayLike) -> FloatArray:
    """Fees of all pairs on a radial feeder from each participant's path to the feeder head.

    On a tree the lines between a and b are those on exactly one of the two head
    paths, so H_ab = c_a + c_b − 2·Σ_L A_aL·A_bL·w_L with c = A·w (eq. 12).

    Parameters
    ----------
    head_paths : array-like or scipy sparse matrix
        ``(N, L)`` incidence: non-zero where line L lies between participant i and
        the head (0/1, or the signed root-path matrix of ``peergrid.grid``, rows
        taken at each participant's bus).
    flow, capacity, tau : array-like
        Per line, see :func:`line_weights`.

    Returns
    -------
    numpy.ndarray
        ``(N, N)`` symmetric, zero diagonal, currency/kWh.
    """
    dense = head_paths.toarray() if hasattr(head_paths, "toarray") else np.asarray(head_paths)
    A: FloatArray = (np.abs(np.asarray(dense, dtype=np.float64)) > 0).astype(np.float64)
    w = _slot_weights(flow, capacity, tau)
    if A.ndim != 2 or A.shape[1] != w.shape[0]:
        raise DataError(f"head_paths must be (N, {w.shape[0]}), got {A.shape}")
    c = A @ w
    H = c[:, None] + c[None, :] - 2.0 * (A * w) @ A.T
    return np.maximum(H, 0.0)


@dataclass(frozen=True)
class FeederTopology:
    """What curtailment and fees need of a radial feeder, in participant / bus / line positions.

    Attributes
    ----------
    below : numpy.ndarray
        ``(N, L)`` 1.0 where line L lies between member i and the slack.
    sens : numpy.ndarray
        ``(B, N)`` voltage rise at bus k per kW injected by member i, pu.
    down : numpy.ndarray
        ``(L,)`` +1 when power flowing away from the slack runs from_bus -> to_bus.
    member_bus : numpy.ndarray
        ``(N,)`` bus position of each member.
    phase : numpy.ndarray
        ``(N,)`` 0, 1, 2 for phases a, b, c; -1 for three-phase members.
    p_max_kw : numpy.ndarray
        ``(L,)`` line capacity (:func:`peergrid.grid.line_capacity_kw`), kW.
    line_vn_kv : numpy.ndarray
        ``(L,)`` nominal voltage of each line, kV.
    bus, line : numpy.ndarray
        ``(B,)`` / ``(L,)`` pandapower bus / line index of each position.
    """

    below: FloatArray
    sens: FloatArray
    down: FloatArray
    member_bus: IndexArray
    phase: IntArray
    p_max_kw: FloatArray
    line_vn_kv: FloatArray
    bus: IntArray
    line: IntArray

    @classmethod
    def of(cls, net: pandapowerNet) -> FeederTopology:
        """The topology of ``net`` (a radial feeder with ``net["peergrid_participants"]``).

        Raises
        ------
        DataError
            The net is not radial, has no participants, or a participant's bus is unknown.
        """
        from peergrid.grid.feeder import line_capacity_kw, participant_table
        from peergrid.grid.paths import radial_tree

        tree = radial_tree(net)
        table = participant_table(net)
        pos = tree.positions(table["bus"].to_numpy(), "participant bus")
        R = tree.root_paths
        below_bus = (abs(R) > 0).astype(np.float64).toarray()  # (B, L)
        below = below_bus[pos]
        down = np.sign(np.asarray(R.sum(axis=0)).ravel())
        down[down == 0] = 1.0
        r_trafo = trafo_r_ohm(net)
        shared = (below_bus * tree.line_r_ohm) @ below.T + r_trafo  # (B, N) Ω shared with the slack path
        vn_v = net.bus["vn_kv"].reindex(tree.bus).to_numpy(dtype=np.float64) * 1000.0
        sens = shared * 1000.0 / vn_v[:, None] ** 2
        phase = table["phase"].map({"a": 0, "b": 1, "c": 2}).fillna(-1).to_numpy(dtype=np.int64)
        line_vn = net.bus["vn_kv"].reindex(net.line["from_bus"]).to_numpy(dtype=np.float64)
        return cls(below, sens, down, pos, phase, line_capacity_kw(net), line_vn, tree.bus, tree.line)


def trafo_r_ohm(net: pandapowerNet) -> float:
    """Series resistance of the (single) distribution transformer seen from LV, Ω (0 otherwise)."""
    tr = net.trafo[net.trafo["in_service"].astype(bool)] if len(net.trafo) else net.trafo
    if len(tr) != 1:
        return 0.0
    row = tr.iloc[0]
    return float(row["vkr_percent"]) / 100.0 * float(row["vn_lv_kv"]) ** 2 / float(row["sn_mva"])


def line_fee_money(
    bought: FloatArray, sold: FloatArray, line_p_kw: FloatArray, topo: FeederTopology, tau: float
) -> FloatArray:
    """Each buyer's line-utilisation fee per slot (Tooki et al. (2025) eqs. 11-12), currency.

    Sellers and buyers are paired pro rata (seller s sells ``q_s q_b / V`` to buyer b); buyer b
    pays ``Σ_s q_s q_b / V · H_sb`` with ``H_sb = Σ_{L on path(s,b)} u_L``,
    ``u_L = τ |P_L| / P_max,L`` (:func:`line_weights`). On a tree
    this is ``q_b / V · Σ_L u_L [a_bL (S − S_L) + (1 − a_bL) S_L]`` with ``a_bL = 1`` when b is
    below line L and ``S_L`` the volume sold below L: no pair is enumerated.

    Parameters
    ----------
    bought, sold : numpy.ndarray
        ``(T, N)`` energy each member bought from / sold to peers, kWh.
    line_p_kw : numpy.ndarray
        ``(T, L)`` line flows, kW.
    topo : FeederTopology
        Feeder topology.
    tau : float
        τ_L, currency/kWh at full utilisation.

    Returns
    -------
    numpy.ndarray
        ``(T, N)`` fee paid by each member, currency (0 for non-buyers).
    """
    T, N = bought.shape
    if tau == 0 or topo.below.shape[1] == 0:
        return np.zeros((T, N))
    u = line_weights(line_p_kw, topo.p_max_kw, tau)  # (T, L) currency/kWh
    A = topo.below
    S = sold.sum(axis=1)
    B = bought.sum(axis=1)
    V = 0.5 * (S + B)
    S_L = sold @ A  # (T, L)
    base = (u * S_L).sum(axis=1)  # buyers above every line: Σ u_L S_L
    per = (u * (S[:, None] - 2.0 * S_L)) @ A.T  # (T, N)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        scale = np.where(V > 0, 1.0 / V, 0.0)
        fee: FloatArray = bought * scale[:, None] * (base[:, None] + per)
        tiny = np.isinf(scale)  # a subnormal volume V: 1/V overflows, divide instead (bought ≤ 2V stays finite)
        if tiny.any():
            fee[tiny] = bought[tiny] / V[tiny, None] * (base[tiny, None] + per[tiny])
    return fee


def allocate_losses(net_kwh: FloatArray, losses_kwh: FloatArray) -> FloatArray:
    """Feeder losses per member, kWh: pro rata to ``|net energy|`` (equally when all are 0).

    Parameters
    ----------
    net_kwh : numpy.ndarray
        ``(T, N)`` members' net energy, kWh.
    losses_kwh : numpy.ndarray
        ``(T,)`` feeder losses, kWh.

    Returns
    -------
    numpy.ndarray
        ``(T, N)``; rows sum to ``losses_kwh``.
    """
    a = np.abs(net_kwh)
    tot = a.sum(axis=1, keepdims=True)
    N = net_kwh.shape[1]
    share = np.where(tot > 0, a / np.where(tot > 0, tot, 1.0), 1.0 / max(N, 1))
    out: FloatArray = share * losses_kwh[:, None]
    return out


