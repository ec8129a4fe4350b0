"""Network charges from flows: Tooki et al. (2025) eq. 12 line fees of pooled trades and loss allocation.

One implementation for every path that charges a feeder's use from the flows of members'
net positions: the simulator's network step (:mod:`peergrid.simulate.network`, scenario
``[grid]``) and the service's metered settlement of a pool community with a feeder
(:mod:`peergrid.service.clearing`). Typical use::

    from peergrid.grid import FeederTopology, allocate_losses, line_fee_money, sweep_flow
    topo = FeederTopology.of(net)                     # members of net["peergrid_participants"]
    flow = sweep_flow(net, net_kwh / dt, dt=dt)
    fees = line_fee_money(bought, sold, flow.line_p_kw, topo, tau)          # (T, N) currency
    loss_charge = allocate_losses(net_kwh, flow.losses_kw * dt) * retail[:, None]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from peergrid.core.types import FloatArray, IndexArray, IntArray

if TYPE_CHECKING:
    from pandapower.auxiliary import pandapowerNet


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
    ``u_L = τ |P_L| / P_max,L`` (:func:`peergrid.market.bilateral.line_weights`). On a tree
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
    from peergrid.market.bilateral import line_weights

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


