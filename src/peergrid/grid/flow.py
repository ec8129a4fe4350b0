"""Power flow per time slot on a feeder: balanced (pandapower ``runpp``) and unbalanced (``runpp_3ph``).

Both flows take the participants' net power ``p_kw`` as a ``(T, N)`` array (kW, + =
consumption, − = feed-in; the peergrid sign convention) and set it on the loads of
``net["peergrid_participants"]`` slot by slot. They never modify the caller's net:
they work on one deep copy, reused for all slots.

Speed (balanced): the copy is converted to pandapower's internal case once; every
further slot only rewrites the load column with numpy and calls
``pp.runpp(..., init="results", recycle={"bus_pq": True})``, pandapower's documented
time-series fast path, which reuses the admittance matrix and warm-starts Newton–Raphson
from the previous slot's voltages. Measured on a 100-bus feeder x 96 slots (2 shared
cores): plain ``runpp`` per slot ~2.5 s, ``init="results"`` ~1.5 s, recycle ~0.7–1.0 s
without numba and ~0.4–0.7 s with numba (after its one-off ~2–3 s JIT compilation);
``pandapower.timeseries.run_timeseries`` (which recycles the same way, plus a
``ConstControl`` and an ``OutputWriter``) gave identical voltages in 0.90 s / 0.72 s
(no numba / numba) against 0.85 s / 0.59 s here. About half of the remaining time is
pandapower writing its result tables.

Speed (unbalanced): ``runpp_3ph`` has no recycle path, so each slot rebuilds the three
sequence networks (~40–50 ms per slot for 100 buses, i.e. ~4–5 s for 96 slots); slots
are warm-started with ``init="results"`` (2.5x faster than a flat start). Its inner
loop multiplies small dense complex matrices (``Y.todense() @ V``); multi-threaded
OpenBLAS burns ~3x the CPU spinning on such tiny products (17 s instead of 5 s for
100 buses x 96 slots on 2 shared cores), so the loop runs with BLAS limited to one
thread via threadpoolctl when it is installed.

Voltage imbalance (VIM, Tooki et al. eq. 13) is computed per bus and slot by :func:`vim`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from peergrid.core.community import Community
from peergrid.core.errors import DataError, ModelError
from peergrid.core.types import ArrayLike, BoolArray, FloatArray, IndexArray, IntArray
from peergrid.grid._common import PHASE_SHARE, flow_inputs, single_threaded_blas, use_numba
from peergrid.grid._pp import pandapower
from peergrid.grid.feeder import add_zero_sequence

if TYPE_CHECKING:
    from pandapower.auxiliary import pandapowerNet

#: pandapower's time-series recycle switches: only load P/Q change between slots.
_RECYCLE = {"bus_pq": True, "trafo": False, "gen": False}


def _nanmax(a: FloatArray, default: float = 0.0) -> float:
    return float(np.nanmax(a)) if a.size and not np.all(np.isnan(a)) else (default if a.size == 0 else float("nan"))


def _nanmin(a: FloatArray, default: float = 0.0) -> float:
    return float(np.nanmin(a)) if a.size and not np.all(np.isnan(a)) else (default if a.size == 0 else float("nan"))


@dataclass(frozen=True)
class FlowResult:
    """Balanced power-flow results for T slots.

    Attributes
    ----------
    slots : numpy.ndarray
        ``(T,)`` row numbers of the input power array the rows below belong to.
    bus, line, trafo : numpy.ndarray
        pandapower indices of the buses ``(B,)``, lines ``(L,)`` and transformers ``(K,)``
        (the column order of the arrays below).
    vm_pu : numpy.ndarray
        ``(T, B)`` bus voltage magnitude, per unit.
    va_degree : numpy.ndarray
        ``(T, B)`` bus voltage angle, degrees.
    loading_pct : numpy.ndarray
        ``(T, L)`` line loading, % of the thermal current ``max_i_ka · df · parallel``
        (pandapower: ``max(I_from, I_to)``; ``I = S / (√3 · V)``).
    line_p_kw : numpy.ndarray
        ``(T, L)`` active power entering each line at its from bus, kW (+ = flow
        ``from_bus → to_bus``) — the ``P_L`` of Tooki et al. eq. 12.
    line_i_ka : numpy.ndarray
        ``(T, L)`` line current (larger end), kA.
    line_loss_kw : numpy.ndarray
        ``(T, L)`` active losses of each line, kW (≈ 3 I² R).
    trafo_loading_pct : numpy.ndarray
        ``(T, K)`` transformer loading, % of rated current.
    losses_kw : numpy.ndarray
        ``(T,)`` active losses in lines and transformers, kW.
    grid_kw : numpy.ndarray
        ``(T,)`` power drawn from the upstream grid at the slack, kW (+ = import).
    converged : numpy.ndarray
        ``(T,)`` whether Newton–Raphson converged; rows of failed slots are NaN.
    dt : float
        Slot length, hours (turns kW into kWh).
    """

    slots: IndexArray
    bus: IntArray
    line: IntArray
    trafo: IntArray
    vm_pu: FloatArray
    va_degree: FloatArray
    loading_pct: FloatArray
    line_p_kw: FloatArray
    line_i_ka: FloatArray
    line_loss_kw: FloatArray
    trafo_loading_pct: FloatArray
    losses_kw: FloatArray
    grid_kw: FloatArray
    converged: BoolArray
    dt: float

    @property
    def T(self) -> int:
        """Number of slots computed."""
        return len(self.slots)

    @property
    def losses_kwh(self) -> FloatArray:
        """``(T,)`` network losses per slot, kWh."""
        return self.losses_kw * self.dt

    @property
    def vm_min_pu(self) -> FloatArray:
        """``(T, B)`` lowest voltage at each bus (over phases for 3-phase results), per unit."""
        return self.vm_pu

    @property
    def vm_max_pu(self) -> FloatArray:
        """``(T, B)`` highest voltage at each bus (over phases for 3-phase results), per unit."""
        return self.vm_pu

    @property
    def max_loading_pct(self) -> float:
        """Highest line loading over all slots and lines, % (0 without lines)."""
        return _nanmax(self.loading_pct)

    @property
    def v_min_pu(self) -> float:
        """Lowest bus voltage over all slots, buses (and phases), per unit."""
        return _nanmin(self.vm_min_pu, 1.0)

    @property
    def v_max_pu(self) -> float:
        """Highest bus voltage over all slots, buses (and phases), per unit."""
        return _nanmax(self.vm_max_pu, 1.0)

    def summary(self) -> dict[str, float | int]:
        """Headline figures with stable keys (JSON-friendly)."""
        return {
            "slots": self.T,
            "converged": int(self.converged.sum()),
            "max_loading_pct": self.max_loading_pct,
            "max_trafo_loading_pct": _nanmax(self.trafo_loading_pct),
            "v_min_pu": self.v_min_pu,
            "v_max_pu": self.v_max_pu,
            "losses_kwh": float(np.nansum(self.losses_kwh)),
            "grid_import_kwh": float(np.nansum(np.clip(self.grid_kw, 0, None)) * self.dt),
        }

    def loading_frame(self) -> pd.DataFrame:
        """Line loading as a DataFrame (slot x pandapower line index), %."""
        return pd.DataFrame(self.loading_pct, index=pd.Index(self.slots, name="slot"), columns=self.line)

    def voltage_frame(self) -> pd.DataFrame:
        """Lowest bus voltage as a DataFrame (slot x pandapower bus index), per unit."""
        return pd.DataFrame(self.vm_min_pu, index=pd.Index(self.slots, name="slot"), columns=self.bus)


@dataclass(frozen=True)
class FlowResult3ph(FlowResult):
    """Unbalanced (three-phase) power-flow results; as :class:`FlowResult` plus per-phase data.

    ``vm_pu`` and ``va_degree`` are ``(T, B, 3)`` (phases a, b, c; phase-to-neutral, per unit
    of ``vn_kv/√3``); ``line_i_ka`` is ``(T, L, 3)``; ``loading_pct`` is the most loaded phase.

    Attributes
    ----------
    line_in_ka : numpy.ndarray
        ``(T, L)`` neutral-conductor current, kA.
    vim_pct : numpy.ndarray
        ``(T, B)`` voltage imbalance metric, % (Tooki et al. eq. 13, :func:`vim`, line voltages).
    vuf_pct : numpy.ndarray
        ``(T, B)`` voltage unbalance factor ``|V2| / |V1| · 100`` (IEC 61000-4-30), as
        pandapower reports it (``unbalance_percent``).
    """

    line_in_ka: FloatArray
    vim_pct: FloatArray
    vuf_pct: FloatArray

    @property
    def vm_min_pu(self) -> FloatArray:
        out: FloatArray = self.vm_pu.min(axis=2)
        return out

    @property
    def vm_max_pu(self) -> FloatArray:
        out: FloatArray = self.vm_pu.max(axis=2)
        return out

    @property
    def max_vim_pct(self) -> float:
        """Highest VIM over all slots and buses, %."""
        return _nanmax(self.vim_pct)

    def summary(self) -> dict[str, float | int]:
        out = super().summary()
        out["max_vim_pct"] = self.max_vim_pct
        out["max_vuf_pct"] = _nanmax(self.vuf_pct)
        return out


# ---- VIM -------------------------------------------------------------------------------


def vim(voltages: ArrayLike, *, kind: Literal["line", "phase"] = "line") -> FloatArray:
    """Voltage imbalance metric, % (Tooki et al. eq. 13; NEMA MG-1 / IEEE 112 unbalance rate).

    Eq. 13 reads *VIM (%) = maximum deviation from the average voltage / average voltage*;
    peergrid implements it as the NEMA **line voltage unbalance rate (LVUR)**::

        V̄ = (|V_ab| + |V_bc| + |V_ca|) / 3
        VIM = 100 · max(|V_ab| − V̄, |V_bc| − V̄, |V_ca| − V̄ in absolute value) / V̄

    with ``kind="phase"`` the same formula on the phase-to-neutral magnitudes
    ``|V_a|, |V_b|, |V_c|`` (IEEE phase voltage unbalance rate, PVUR). VIM is 0 for a
    symmetric system. It differs from the IEC unbalance factor ``|V2|/|V1|`` (reported
    separately as ``FlowResult3ph.vuf_pct``); both agree to within ~15 % for small unbalance.

    Parameters
    ----------
    voltages : numpy.ndarray
        ``(..., 3)``. Complex: phase-to-neutral phasors ``V_a, V_b, V_c`` (any unit); the
        line voltages are formed as ``V_a − V_b``, ``V_b − V_c``, ``V_c − V_a`` for
        ``kind="line"``. Real: three voltage magnitudes used as given (then ``kind`` only
        documents what they are).
    kind : {"line", "phase"}
        Line-to-line (NEMA LVUR, default) or phase-to-neutral (IEEE PVUR) voltages.

    Returns
    -------
    numpy.ndarray
        ``(...)`` VIM, %.

    Raises
    ------
    DataError
        Last axis not of length 3, NaN, or a zero average voltage.
    """
    v = np.asarray(voltages)
    if v.ndim == 0 or v.shape[-1] != 3:
        raise DataError(f"vim: expected voltages with a last axis of length 3 (phases), got shape {v.shape}")
    if kind not in ("line", "phase"):
        raise DataError(f"vim: kind must be 'line' or 'phase', got {kind!r}")
    if np.iscomplexobj(v):
        mags = np.abs(v - np.roll(v, -1, axis=-1)) if kind == "line" else np.abs(v)
    else:
        mags = np.abs(v.astype(np.float64))
    if not np.all(np.isfinite(mags)):
        raise DataError("vim: NaN or infinite voltages")
    avg = mags.mean(axis=-1)
    if np.any(avg <= 0):
        raise DataError("vim: average voltage is zero")
    out: FloatArray = 100.0 * np.abs(mags - avg[..., None]).max(axis=-1) / avg
    return out


# ---- inputs ----------------------------------------------------------------------------


def net_power_kw(community: Community) -> FloatArray:
    """``(T, N)`` net power of a community, kW: ``(load − generation) / dt`` (+ = import)."""
    return community.net / community.dt


# ---- balanced --------------------------------------------------------------------------


class BalancedRuns:
    """A private copy of a net whose chosen loads get new P/Q every slot (recycled runpp).

    The engine of :func:`power_flow`, also used by :class:`peergrid.grid.slotflow.SlotFlows`.
    """

    def __init__(self, net: pandapowerNet, loads: FloatArray, numba: bool) -> None:
        self.pp = pandapower()
        self.net = net
        self.pos = net.load.index.get_indexer(loads)
        self.numba = bool(numba)
        self.warm = False
        self.p = net.load["p_mw"].to_numpy(dtype=np.float64, copy=True)
        self.q = net.load["q_mvar"].to_numpy(dtype=np.float64, copy=True)
        self.rows: dict[str, list[FloatArray]] = {}

    def run(self, p_kw: FloatArray, q_kvar: FloatArray) -> bool:
        self.p[self.pos] = p_kw / 1000.0
        self.q[self.pos] = q_kvar / 1000.0
        self.net.load["p_mw"] = self.p
        self.net.load["q_mvar"] = self.q
        try:
            if self.warm:
                self.pp.runpp(self.net, init="results", recycle=_RECYCLE, numba=self.numba)
            else:
                self.pp.runpp(self.net, init="auto", recycle=_RECYCLE, numba=self.numba)
            self.warm = True
            return True
        except self.pp.LoadflowNotConverged:
            self.warm = False
            self.net["_ppc"] = None  # next slot rebuilds the internal case from scratch
            return False

    def collect(self, ok: bool) -> None:
        net = self.net
        nan = np.nan
        shapes = {"vm": len(net.bus), "va": len(net.bus), "ld": len(net.line), "pl": len(net.line),
                  "il": len(net.line), "ll": len(net.line), "tl": len(net.trafo)}  # fmt: skip
        if ok:
            values = {
                "vm": net.res_bus["vm_pu"].to_numpy(dtype=np.float64, copy=True),
                "va": net.res_bus["va_degree"].to_numpy(dtype=np.float64, copy=True),
                "ld": net.res_line["loading_percent"].to_numpy(dtype=np.float64, copy=True),
                "pl": net.res_line["p_from_mw"].to_numpy(dtype=np.float64, copy=True) * 1000.0,
                "il": net.res_line["i_ka"].to_numpy(dtype=np.float64, copy=True),
                "ll": net.res_line["pl_mw"].to_numpy(dtype=np.float64, copy=True) * 1000.0,
                "tl": net.res_trafo["loading_percent"].to_numpy(dtype=np.float64, copy=True),
                "loss": np.array(
                    [(net.res_line["pl_mw"].sum() + net.res_trafo["pl_mw"].sum()) * 1000.0], dtype=np.float64
                ),
                "grid": np.array([net.res_ext_grid["p_mw"].sum() * 1000.0], dtype=np.float64),
            }
        else:
            values = {k: np.full(n, nan) for k, n in shapes.items()}
            values["loss"] = values["grid"] = np.array([nan])
        for key, val in values.items():
            self.rows.setdefault(key, []).append(val)

    def result(self, slots: IndexArray, converged: BoolArray, dt: float) -> FlowResult:
        net = self.net
        stack = {k: np.vstack(v) if v else None for k, v in self.rows.items()}

        def get(key: str, width: int) -> FloatArray:
            arr = stack.get(key)
            return arr if arr is not None else np.zeros((0, width))

        return FlowResult(
            slots=slots,
            bus=net.bus.index.to_numpy(),
            line=net.line.index.to_numpy(),
            trafo=net.trafo.index.to_numpy(),
            vm_pu=get("vm", len(net.bus)),
            va_degree=get("va", len(net.bus)),
            loading_pct=get("ld", len(net.line)),
            line_p_kw=get("pl", len(net.line)),
            line_i_ka=get("il", len(net.line)),
            line_loss_kw=get("ll", len(net.line)),
            trafo_loading_pct=get("tl", len(net.trafo)),
            losses_kw=get("loss", 1).ravel(),
            grid_kw=get("grid", 1).ravel(),
            converged=converged,
            dt=dt,
        )


def power_flow(
    net: pandapowerNet,
    p_kw: ArrayLike,
    q_kvar: ArrayLike | None = None,
    *,
    slots: ArrayLike | slice | None = None,
    dt: float = 1.0,
    numba: bool | None = None,
) -> FlowResult:
    """Balanced AC power flow (Newton–Raphson, pandapower ``runpp``) for every slot.

    Parameters
    ----------
    net : pandapowerNet
        A feeder from :func:`~peergrid.grid.build_feeder` or
        :func:`~peergrid.grid.feeder_from_net` (not modified).
    p_kw : numpy.ndarray
        ``(T, N)`` net active power per participant, kW (+ = consumption, − = feed-in),
        columns in the order of ``net["peergrid_participants"]``. A ``(N,)`` vector is one slot.
    q_kvar : numpy.ndarray, optional
        ``(T, N)`` reactive power, kvar (+ = inductive consumption); zero if omitted.
    slots : array-like of int, bool mask or slice, optional
        Rows of ``p_kw`` to compute (default: all).
    dt : float
        Slot length, hours (for ``losses_kwh``). Use :func:`net_power_kw` to turn a
        community's kWh per step into kW.
    numba : bool, optional
        Use pandapower's numba kernels (~2x faster per slot on 100 buses). The first use in
        a process pays ~2–3 s of JIT compilation, so the default uses numba only when it is
        installed and buses × slots ≥ :data:`NUMBA_MIN_BUS_SLOTS`.

    Returns
    -------
    FlowResult
        Rows follow ``slots``. Slots that do not converge are NaN with ``converged=False``
        (flagged by :func:`~peergrid.grid.check_limits`).

    Raises
    ------
    DataError
        Wrong shape, NaN, bad slots, net without participants.
    """
    table, p, q, rows, dt = flow_inputs(net, p_kw, q_kvar, slots, dt)
    engine = BalancedRuns(copy.deepcopy(net), table["load"].to_numpy(), use_numba(numba, len(net.bus), len(rows)))
    converged = np.zeros(len(rows), dtype=bool)
    for k, t in enumerate(rows):
        converged[k] = engine.run(p[t], q[t])
        engine.collect(bool(converged[k]))
    return engine.result(rows, converged, dt)


# ---- unbalanced ------------------------------------------------------------------------




def _add_asymmetric_loads(net: pandapowerNet, buses: IntArray, names: list[str]) -> IndexArray:
    """Append one zero asymmetric load per bus with one vectorised table write (no per-row creator)."""
    table = net.asymmetric_load
    start = int(table.index.max()) + 1 if len(table) else 0
    index = np.arange(start, start + len(buses))
    n = len(buses)
    new = pd.DataFrame(
        {
            "name": pd.Series(names, index=index, dtype=object),
            "bus": pd.Series(buses, index=index).astype(table["bus"].dtype if "bus" in table else np.uint32),
            **{c: np.zeros(n) for c in ("p_a_mw", "q_a_mvar", "p_b_mw", "q_b_mvar", "p_c_mw", "q_c_mvar")},
            **{c: np.full(n, np.nan) for c in ("sn_a_mva", "sn_b_mva", "sn_c_mva", "sn_mva")},
            "scaling": np.ones(n),
            "in_service": np.ones(n, dtype=bool),
            "type": pd.Series(["wye"] * n, index=index, dtype=object),
        },
        index=index,
    )
    cols = [c for c in table.columns if c in new.columns] + [c for c in new.columns if c not in table.columns]
    net.asymmetric_load = pd.concat([table, new[cols]]) if len(table) else new[cols]
    return index


def power_flow_3ph(
    net: pandapowerNet,
    p_kw: ArrayLike,
    q_kvar: ArrayLike | None = None,
    *,
    slots: ArrayLike | slice | None = None,
    dt: float = 1.0,
    numba: bool | None = None,
) -> FlowResult3ph:
    """Unbalanced three-phase power flow (pandapower ``runpp_3ph``) with each participant on its phase.

    Every participant becomes an asymmetric wye load that draws its whole power on its
    ``phase`` (``"abc"``: a third on each). Missing zero-sequence data are filled on the
    private copy with :func:`~peergrid.grid.add_zero_sequence`. VIM per bus and slot is
    computed from the line-to-line voltages (:func:`vim`, Tooki et al. eq. 13).

    Parameters
    ----------
    net, p_kw, q_kvar, slots, dt, numba
        As in :func:`power_flow`.

    Returns
    -------
    FlowResult3ph

    Raises
    ------
    DataError
        Wrong shape, NaN, bad slots, net without participants.
    ModelError
        pandapower rejects the net's zero-sequence model (e.g. an unsupported vector group).
    """
    pp = pandapower()
    table, p, q, rows, dt = flow_inputs(net, p_kw, q_kvar, slots, dt)
    work = copy.deepcopy(net)
    add_zero_sequence(work)
    work.load.loc[table["load"].to_numpy(), "in_service"] = False
    asym = _add_asymmetric_loads(work, table["bus"].to_numpy(), [f"peergrid {i}" for i in table["id"]])
    pos = work.asymmetric_load.index.get_indexer(asym)
    share = np.array([PHASE_SHARE[ph] for ph in table["phase"]], dtype=np.float64).reshape(len(table), 3)
    numba_on = use_numba(numba, len(work.bus), len(rows))
    cols_p = ["p_a_mw", "p_b_mw", "p_c_mw"]
    cols_q = ["q_a_mvar", "q_b_mvar", "q_c_mvar"]
    base_p = work.asymmetric_load[cols_p].to_numpy(dtype=np.float64, copy=True)
    base_q = work.asymmetric_load[cols_q].to_numpy(dtype=np.float64, copy=True)

    nb, nl, nt, ns = len(work.bus), len(work.line), len(work.trafo), len(rows)
    vm = np.full((ns, nb, 3), np.nan)
    va = np.full((ns, nb, 3), np.nan)
    vuf = np.full((ns, nb), np.nan)
    loading = np.full((ns, nl), np.nan)
    line_p = np.full((ns, nl), np.nan)
    line_i = np.full((ns, nl, 3), np.nan)
    line_in = np.full((ns, nl), np.nan)
    line_loss = np.full((ns, nl), np.nan)
    trafo_loading = np.full((ns, nt), np.nan)
    losses = np.full(ns, np.nan)
    grid = np.full(ns, np.nan)
    converged = np.zeros(ns, dtype=bool)
    warm = False
    phases = ("a", "b", "c")
    with single_threaded_blas():
        for k, t in enumerate(rows):
            base_p[pos] = p[t][:, None] * share / 1000.0
            base_q[pos] = q[t][:, None] * share / 1000.0
            for j in range(3):
                work.asymmetric_load[cols_p[j]] = base_p[:, j]
                work.asymmetric_load[cols_q[j]] = base_q[:, j]
            try:
                pp.runpp_3ph(work, init="results" if warm else "auto", numba=numba_on)
            except pp.LoadflowNotConverged:
                warm = False
                continue
            except (ValueError, KeyError, UserWarning) as exc:
                raise ModelError(f"power_flow_3ph: pandapower rejected the zero-sequence model: {exc}") from None
            warm = converged[k] = True
            rb, rl, rt = work.res_bus_3ph, work.res_line_3ph, work.res_trafo_3ph
            for j, ph in enumerate(phases):
                vm[k, :, j] = rb[f"vm_{ph}_pu"].to_numpy(dtype=np.float64)
                va[k, :, j] = rb[f"va_{ph}_degree"].to_numpy(dtype=np.float64)
                line_i[k, :, j] = rl[f"i_{ph}_ka"].to_numpy(dtype=np.float64)
            vuf[k] = rb["unbalance_percent"].to_numpy(dtype=np.float64)
            loading[k] = rl["loading_percent"].to_numpy(dtype=np.float64)
            line_in[k] = rl["i_n_ka"].to_numpy(dtype=np.float64)
            line_p[k] = rl[[f"p_{ph}_from_mw" for ph in phases]].to_numpy(dtype=np.float64).sum(axis=1) * 1000.0
            trafo_loading[k] = rt["loading_percent"].to_numpy(dtype=np.float64)
            pl_cols = [f"pl_{ph}_mw" for ph in phases]
            line_loss[k] = rl[pl_cols].to_numpy(dtype=np.float64).sum(axis=1) * 1000.0
            losses[k] = line_loss[k].sum() + rt[pl_cols].to_numpy(dtype=np.float64).sum() * 1000.0
            grid[k] = work.res_ext_grid_3ph[[f"p_{ph}_mw" for ph in phases]].to_numpy().sum() * 1000.0
    phasors = vm * np.exp(1j * np.deg2rad(np.nan_to_num(va)))
    vim_pct = np.full((ns, nb), np.nan)
    ok = converged[:, None] & np.isfinite(phasors).all(axis=2)  # buses the slack does not supply stay NaN
    if ok.any():
        vim_pct[ok] = vim(phasors[ok], kind="line")
    return FlowResult3ph(
        slots=rows,
        bus=work.bus.index.to_numpy(),
        line=work.line.index.to_numpy(),
        trafo=work.trafo.index.to_numpy(),
        vm_pu=vm,
        va_degree=va,
        loading_pct=loading,
        line_p_kw=line_p,
        line_i_ka=line_i,
        line_loss_kw=line_loss,
        trafo_loading_pct=trafo_loading,
        losses_kw=losses,
        grid_kw=grid,
        converged=converged,
        dt=dt,
        line_in_ka=line_in,
        vim_pct=vim_pct,
        vuf_pct=vuf,
    )
