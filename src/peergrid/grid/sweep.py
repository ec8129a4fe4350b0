"""A year of power flows at once: backward/forward sweep on a radial feeder (balanced and three-phase).

:func:`sweep_flow` solves the same AC power flow as :func:`~peergrid.grid.power_flow`
(pandapower ``runpp``) for every slot of a ``(T, N)`` power array, without pandapower in
the loop, and returns the same :class:`~peergrid.grid.FlowResult` (or
:class:`~peergrid.grid.FlowResult3ph` with VIM for ``unbalanced=True``), so
:func:`~peergrid.grid.check_limits`, curtailment and reports accept either.
:func:`validate_flow` compares it with pandapower on sampled slots.

Method (balanced)
-----------------
The branch data come from pandapower itself: one ``runpp`` of the feeder with the
participants at zero builds pandapower's internal per-unit case (``net._ppc``), whose
branches are the exact two-port models pandapower solves — lines as π sections, the
MV/LV transformer as pandapower's T model (``vk``, ``vkr``, ``pfe``, ``i0``, ``sn``, tap
position and phase shift) turned into a π equivalent — and whose bus table carries the
net's own loads, static generators, storage and shunts as a fixed background. Each
branch between an upstream bus ``p`` and a downstream bus ``c`` is written as
``I_p = Y_pp V_p + Y_pc V_c``, ``I_c = Y_cp V_p + Y_cc V_c`` (currents into the branch),
so that with ``J_c`` the current the subtree below ``c`` draws (``I_c = −J_c``)::

    forward:   V_c = b_c V_p + z_c J_c          b_c = −Y_cp / Y_cc,  z_c = −1 / Y_cc
    backward:  J_p = conj(S_p / V_p) + y_p V_p + Σ_children a_c J_c
               a_c = −Y_pc / Y_cc,  y_p = bus shunt + Σ_children (Y_pp − Y_pc Y_cp / Y_cc)

with ``S_p`` the constant-power load of bus ``p`` (participants + background). For a
line without shunt capacitance this is the textbook sweep ``V_c = V_p − Z J_c``,
``J_p = I_p + Σ J_c`` (Kersting 2017; Shirmohammadi et al. 1988). Starting from the previous slot's
voltages (no-load voltages for the first slot), backward and forward sweeps alternate
until no bus voltage moves by more than ``tol`` (per unit); the fixed point satisfies
Kirchhoff's laws on pandapower's own branch models, so the result equals ``runpp``'s to
within both solvers' tolerances. The sweep runs slot by slot in a compiled numba kernel
(no Python loop over slots), in blocks of slots so that working memory stays bounded.

Method (unbalanced)
-------------------
pandapower's cables have positive- and zero-sequence impedances ``Z1``, ``Z0``; their phase
impedance matrix (self ``Zs = (Z0 + 2 Z1) / 3``, mutual ``Zm = (Z0 − Z1) / 3``) is
diagonalised by symmetrical components, so the zero, positive and negative sequence
networks of ``runpp_3ph`` (``net._ppc0/1/2``: the Dyn transformer shifting the positive
sequence by +shift and the negative by −shift and blocking the zero sequence, the
ext_grid's short-circuit impedance grounding the negative and zero sequences at the slack)
are independent and only the constant-power phase loads couple them. Each sweep turns the
phase loads into currents ``I_abc = −conj(S_abc / V_abc)``, maps them to ``I_012 = A⁻¹ I_abc``,
solves each sequence network exactly by a tree factorisation (leaves-first Gaussian
elimination of a radial admittance matrix has no fill-in: a backward pass of subtree
currents and a forward pass of voltages, pivots computed once per feeder; the slack fixes
the positive-sequence voltage) and forms ``V_abc = A V_012``. VIM (Tooki et al. eq. 13)
comes from :func:`~peergrid.grid.vim` on the line voltages.

Limits: radial nets with one slack; constant-power loads; no PV generators, three-winding
transformers, DC lines or FACTS; no delta loads in the three-phase sweep; taps fixed.

References
----------
W. H. Kersting, *Distribution System Modeling and Analysis*, 4th ed., CRC Press, 2017.
D. Shirmohammadi, H. W. Hong, A. Semlyen, G. X. Luo, "A compensation-based power flow method
for weakly meshed distribution and transmission networks", IEEE Trans. Power Systems 3(2), 1988.
"""

from __future__ import annotations

import copy
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import breadth_first_order

from peergrid.core.errors import DataError
from peergrid.core.types import AnyArray, ArrayLike, BoolArray, ComplexArray, FloatArray, IndexArray, IntArray
from peergrid.grid._common import PHASE_SHARE, flow_inputs, single_threaded_blas
from peergrid.grid._pp import pandapower
from peergrid.grid.feeder import add_zero_sequence
from peergrid.grid.flow import (
    FlowResult,
    FlowResult3ph,
    power_flow,
    power_flow_3ph,
    vim,
)

if TYPE_CHECKING:
    from pandapower.auxiliary import pandapowerNet

try:  # numba is a core dependency; the pure-Python fallback only keeps imports working without it
    from numba import njit
except ImportError:  # pragma: no cover - numba is a core dependency

    def njit(*args: Any, **kwargs: Any) -> Any:  # type: ignore[no-redef]
        def wrap(fn: Any) -> Any:
            return fn

        return wrap


#: Default convergence tolerance: largest bus-voltage change between two sweeps, per unit.
DEFAULT_TOL = 1e-9
#: Default iteration limit per slot.
DEFAULT_MAX_ITER = 100
#: Slots per block: working arrays are (block, buses) complex; results go straight into the outputs.
BLOCK_SLOTS = 4096
#: Tables whose in-service rows the sweep cannot model (they make PV buses, extra slacks or controllers).
_UNSUPPORTED = ("gen", "trafo3w", "xward", "dcline", "svc", "tcsc", "ssc", "vsc", "b2b_vsc", "source_dc")
_FALLBACK = "use peergrid.grid.power_flow (pandapower) instead"

# pandapower/pypower case column numbers (pandapower.pypower.idx_bus / idx_brch)
_PD, _QD, _GS, _BS, _BASE_KV, _BUS_TYPE = 2, 3, 4, 5, 9, 1
_F_BUS, _T_BUS, _BR_R, _BR_X, _BR_B, _TAP, _SHIFT, _BR_STATUS = 0, 1, 2, 3, 4, 8, 9, 10
_BR_R_ASYM, _BR_X_ASYM, _BR_G, _BR_G_ASYM, _BR_B_ASYM = 21, 22, 23, 24, 25


# ---- the radial model ------------------------------------------------------------------


@dataclass(frozen=True)
class _Radial:
    """A radial feeder in per unit, buses in breadth-first order from the slack (position 0).

    ``parent[k]`` is the upstream position of position ``k`` (−1 for the slack); the
    branch to the parent has the sweep coefficients ``a``, ``b``, ``z`` (module docstring)
    and its two-port ``y_pp``, ``y_pc``, ``y_cp``, ``y_cc``; ``ysh`` is the bus shunt
    including the branches' upstream shunt terms; ``s_bg`` the background load, pu.
    """

    order: IntArray  # (n,) ppc bus of each position
    parent: IntArray  # (n,) int64
    a: ComplexArray  # (n,) complex
    b: ComplexArray
    z: ComplexArray
    y_pp: ComplexArray
    y_pc: ComplexArray
    ysh: ComplexArray
    s_bg: ComplexArray  # (n,) complex, pu (consumption +)
    v0: complex  # slack voltage, pu
    base_mva: float
    base_kv: FloatArray  # (n,) kV
    branch: IntArray  # (n,) ppc branch to the parent (−1 at the root)
    parent_is_from: BoolArray  # (n,) bool: the parent is the branch's from bus
    bus_pos: IntArray  # (B,) position of each pandapower bus (−1: not supplied)
    line_range: tuple[int, int]
    trafo_range: tuple[int, int]
    branch_pos: IntArray  # (n_branch,) position whose parent branch it is (−1: not in the tree)
    part_pos: IntArray  # (N,) position of each participant's bus
    part_scale: FloatArray  # (N,) load scaling x in_service of each participant's load


def _refuse_unsupported(net: pandapowerNet) -> None:
    for name in _UNSUPPORTED:
        table = net.get(name) if hasattr(net, "get") else None
        if isinstance(table, pd.DataFrame) and len(table):
            used = table["in_service"].astype(bool) if "in_service" in table else pd.Series(True, index=table.index)
            if used.any():
                which = table.index[used.to_numpy()][:5].tolist()
                raise DataError(
                    f"sweep_flow: the net has in-service {name} element(s) {which}, "
                    f"which the sweep does not model; {_FALLBACK}"
                )
    eg = net.ext_grid[net.ext_grid["in_service"].astype(bool)]
    if len(eg) != 1:
        raise DataError(
            f"sweep_flow: needs exactly one in-service ext_grid (slack), the net has {len(eg)}; {_FALLBACK}"
        )
    load = net.load[net.load["in_service"].astype(bool)]
    zip_cols = [c for c in ("const_z_p_percent", "const_i_p_percent", "const_z_q_percent", "const_i_q_percent")
                if c in load]  # fmt: skip
    if zip_cols and np.any(load[zip_cols].to_numpy(dtype=np.float64) != 0):
        raise DataError(f"sweep_flow: voltage-dependent (ZIP) loads are not modelled (constant P/Q only); {_FALLBACK}")


def _branch_names(branches: IntArray, ranges: dict[str, tuple[int, int]], net: pandapowerNet) -> list[str]:
    """pandapower element names (``line 12``, ``trafo 0``) of pandapower-case branch rows."""
    names = []
    for k in branches:
        kind = next((name for name, (lo, hi) in ranges.items() if lo <= k < hi), None)
        table = net.get(kind) if kind else None
        if kind is not None and isinstance(table, pd.DataFrame) and k - ranges[kind][0] < len(table):
            names.append(f"{kind} {table.index[k - ranges[kind][0]]}")
        else:
            names.append(f"{kind or 'branch'} (internal branch {k})")
    return names


def _tree(ppc: dict[str, Any], ranges: dict[str, tuple[int, int]], net: pandapowerNet) -> tuple[AnyArray, ...]:
    """Breadth-first order from the slack of a pandapower case's in-service branches.

    Returns ``order`` (ppc bus of each position), ``pos`` (position of each ppc bus, −1 if
    not supplied), ``parent`` (position), ``branch`` (ppc branch to the parent, −1 at the
    root) and ``p_from`` (the parent is the branch's from bus, per non-root position).
    """
    bus, br = ppc["bus"], ppc["branch"]
    nb = bus.shape[0]
    ref = np.flatnonzero(bus[:, _BUS_TYPE].real == 3)
    if len(ref) != 1:  # pragma: no cover - guarded by the ext_grid check
        raise DataError(f"sweep_flow: expected one slack bus, found {len(ref)}; {_FALLBACK}")
    live = br[:, _BR_STATUS].real > 0
    f = br[:, _F_BUS].real.astype(np.int64)
    t = br[:, _T_BUS].real.astype(np.int64)
    idx = np.flatnonzero(live & (f != t))
    graph = sparse.coo_matrix((np.ones(len(idx)), (f[idx], t[idx])), shape=(nb, nb)).tocsr()
    order, pred = breadth_first_order(graph, int(ref[0]), directed=False, return_predecessors=True)
    reached = np.zeros(nb, dtype=bool)
    reached[order] = True
    used = idx[reached[f[idx]] & reached[t[idx]]]
    n = len(order)
    pos = np.full(nb, -1, dtype=np.int64)
    pos[order] = np.arange(n)
    parent = np.full(n, -1, dtype=np.int64)
    parent[1:] = pos[pred[order[1:]]]
    # branch to the parent of every non-root position, by (min, max) bus-pair keys
    lo, hi = np.minimum(f[used], t[used]), np.maximum(f[used], t[used])
    keys = lo * nb + hi
    srt = np.argsort(keys, kind="stable")
    child_bus, parent_bus = order[1:], pred[order[1:]]
    ckeys = np.minimum(child_bus, parent_bus) * nb + np.maximum(child_bus, parent_bus)
    branch = np.full(n, -1, dtype=np.int64)
    branch[1:] = used[srt[np.searchsorted(keys[srt], ckeys)]]
    if len(used) != n - 1:
        loops = _branch_names(np.setdiff1d(used, branch[1:]), ranges, net)
        raise DataError(
            f"sweep_flow: the net is meshed ({len(used)} branches for {n} connected buses; "
            f"closing a loop: {', '.join(loops[:5])}) but the sweep needs a radial feeder; {_FALLBACK}"
        )
    p_from = f[branch[1:]] == order[parent[1:]]
    return order, pos, parent, branch, p_from


def _two_ports(br: AnyArray, branch: IntArray, p_from: BoolArray) -> tuple[ComplexArray, ...]:
    """``(y_pp, y_pc, y_cp, y_cc)`` per position: the branch to the parent seen from its upstream end.

    Per-unit branch admittances as pypower's ``makeYbus`` (``branch_vectors``) builds them,
    with pandapower's asymmetric columns (T-model transformers); position 0 (the root) has
    none (``y_cc = 1`` keeps divisions finite).
    """
    ncol = br.shape[1]

    def col(c: int) -> FloatArray:
        return br[:, c].real.astype(np.float64) if c < ncol else np.zeros(br.shape[0])

    with np.errstate(divide="ignore", invalid="ignore"):
        ysf = 1.0 / (col(_BR_R) + 1j * col(_BR_X))
        yst = 1.0 / (col(_BR_R) + col(_BR_R_ASYM) + 1j * (col(_BR_X) + col(_BR_X_ASYM)))
    bcf = col(_BR_G) + 1j * col(_BR_B)
    bct = col(_BR_G) + col(_BR_G_ASYM) + 1j * (col(_BR_B) + col(_BR_B_ASYM))
    tap = np.where(col(_TAP) != 0, col(_TAP), 1.0) * np.exp(1j * np.deg2rad(col(_SHIFT)))
    ytt = yst + bct / 2
    yff = (ysf + bcf / 2) / (tap * np.conj(tap))
    yft = -ysf / np.conj(tap)
    ytf = -yst / tap
    n = len(branch)
    k = branch[1:]
    y_pp = np.zeros(n, dtype=complex)
    y_pc = np.zeros(n, dtype=complex)
    y_cp = np.zeros(n, dtype=complex)
    y_cc = np.ones(n, dtype=complex)
    y_pp[1:] = np.where(p_from, yff[k], ytt[k])
    y_pc[1:] = np.where(p_from, yft[k], ytf[k])
    y_cp[1:] = np.where(p_from, ytf[k], yft[k])
    y_cc[1:] = np.where(p_from, ytt[k], yff[k])
    return y_pp, y_pc, y_cp, y_cc


def _participant_positions(
    table: pd.DataFrame, pos: IntArray, lookups: dict[str, Any]
) -> tuple[IntArray, BoolArray]:
    """Position of each participant's bus and whether the slack supplies it.

    A participant on a bus the slack does not reach (behind an open switch or an
    out-of-service line) draws nothing, as in pandapower, whose flows leave such buses out.
    """
    part_pos = pos[np.asarray(lookups["bus"])[table["bus"].to_numpy(dtype=np.int64)]]
    supplied = part_pos >= 0
    return np.where(supplied, part_pos, 0), supplied


def _radial_model(net: pandapowerNet, table: pd.DataFrame) -> _Radial:
    """pandapower's own per-unit case of ``net`` (participants at zero), as a radial sweep model."""
    pp = pandapower()
    _refuse_unsupported(net)
    work = copy.deepcopy(net)
    loads = table["load"].to_numpy()
    work.load.loc[loads, ["p_mw", "q_mvar"]] = 0.0
    try:
        pp.runpp(work, numba=False)
    except pp.LoadflowNotConverged:
        raise DataError(
            f"sweep_flow: pandapower finds no power flow for the net's fixed background; {_FALLBACK}"
        ) from None
    ppc = work["_ppc"]
    lookups = work["_pd2ppc_lookups"]
    bus, br = ppc["bus"], ppc["branch"]
    order, pos, parent, branch, p_from = _tree(ppc, lookups["branch"], work)
    n = len(order)
    y_pp, y_pc, y_cp, y_cc = _two_ports(br, branch, p_from)
    a = -y_pc / y_cc
    b = -y_cp / y_cc
    z = -1.0 / y_cc
    a[0] = b[0] = z[0] = 0.0
    base_mva = float(ppc["baseMVA"])
    ysh = (bus[order, _GS].real + 1j * bus[order, _BS].real) / base_mva
    up = y_pp - y_pc * y_cp / y_cc
    np.add.at(ysh, parent[1:], up[1:])
    s_bg = (bus[order, _PD].real + 1j * bus[order, _QD].real) / base_mva

    eg = work.ext_grid[work.ext_grid["in_service"].astype(bool)].iloc[0]
    v0 = complex(float(eg["vm_pu"]) * np.exp(1j * np.deg2rad(float(eg["va_degree"]))))

    bus_lookup = np.asarray(lookups["bus"])
    pp_bus = net.bus.index.to_numpy()
    bus_pos = pos[bus_lookup[pp_bus]]
    branch_pos = np.full(br.shape[0], -1, dtype=np.int64)
    branch_pos[branch[1:]] = np.arange(1, n)
    ranges = lookups["branch"]
    lt = net.load.loc[loads]
    scale = lt["scaling"].to_numpy(dtype=np.float64) * lt["in_service"].to_numpy(dtype=bool)
    part_pos, part_supplied = _participant_positions(table, pos, lookups)
    return _Radial(
        order=order,
        parent=parent,
        a=a,
        b=b,
        z=z,
        y_pp=y_pp,
        y_pc=y_pc,
        ysh=ysh,
        s_bg=s_bg,
        v0=v0,
        base_mva=base_mva,
        base_kv=bus[order, _BASE_KV].real.astype(np.float64),
        branch=branch,
        parent_is_from=np.concatenate([[False], p_from]),
        bus_pos=bus_pos,
        line_range=tuple(ranges.get("line", (0, 0))),
        trafo_range=tuple(ranges.get("trafo", (0, 0))),
        branch_pos=branch_pos,
        part_pos=part_pos,
        part_scale=np.where(part_supplied, scale, 0.0),
    )


# ---- model cache ---------------------------------------------------------------------------

#: Tables whose content defines the sweep model (topology, branch data, background, participants).
_MODEL_TABLES = ("bus", "line", "trafo", "ext_grid", "switch", "load", "sgen", "storage", "shunt", "ward",
                 "impedance", "asymmetric_load", "asymmetric_sgen", "motor", "peergrid_participants")  # fmt: skip
#: Models kept per process (feeder, kind); callers that iterate on one feeder reuse its model.
_CACHE_SIZE = 8
_cache: dict[tuple[int, bool], tuple[weakref.ref[Any], tuple[object, ...], object]] = {}


def _fingerprint(net: pandapowerNet) -> tuple[object, ...]:
    """Content hash of the tables the model is built from (a few ms for 100 buses)."""
    parts: list[object] = [float(net.get("sn_mva", 1.0)), float(net.get("f_hz", 50.0))]
    for name in _MODEL_TABLES:
        table = net.get(name) if hasattr(net, "get") else None
        if not isinstance(table, pd.DataFrame):
            parts.append(None)
            continue
        try:
            h = pd.util.hash_pandas_object(table, index=True).to_numpy()
        except TypeError:  # unhashable cells (lists, dicts): hash their text
            h = pd.util.hash_pandas_object(table.astype(str), index=True).to_numpy()
        parts.append((table.shape, tuple(table.columns), int(h.sum(dtype=np.uint64)), int(np.bitwise_xor.reduce(h))))
    return tuple(parts)


@overload
def cached_model(net: pandapowerNet, table: pd.DataFrame, unbalanced: Literal[False]) -> _Radial: ...
@overload
def cached_model(net: pandapowerNet, table: pd.DataFrame, unbalanced: Literal[True]) -> _Radial3: ...
@overload
def cached_model(net: pandapowerNet, table: pd.DataFrame, unbalanced: bool) -> _Radial | _Radial3: ...
def cached_model(net: pandapowerNet, table: pd.DataFrame, unbalanced: bool) -> _Radial | _Radial3:
    """The sweep model of ``net``, rebuilt only when one of its tables changed since the last call."""
    key = (id(net), bool(unbalanced))
    fp = _fingerprint(net)
    hit = _cache.get(key)
    if hit is not None and hit[0]() is net and hit[1] == fp:
        return hit[2]  # type: ignore[return-value]
    model = _radial_model_3ph(net, table) if unbalanced else _radial_model(net, table)
    try:
        ref = weakref.ref(net)
    except TypeError:  # pragma: no cover - pandapowerNet supports weak references
        return model
    if len(_cache) >= _CACHE_SIZE:
        _cache.pop(next(iter(_cache)))
    _cache[key] = (ref, fp, model)
    return model


# ---- the kernel ------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _sweep_kernel(parent, a, b, z, ysh, s_load, v_init, tol, max_iter, v_out, j_out, iters):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Backward/forward sweep for every row of ``s_load`` (T, n), warm-started from the previous row.

    Writes voltages and subtree currents (pu) into ``v_out`` / ``j_out`` and the number of
    sweeps into ``iters`` (−1: no convergence; the row is then NaN and the next row
    restarts from ``v_init``).
    """
    n_slots, n = s_load.shape
    v = v_init.copy()
    j = np.zeros(n, dtype=np.complex128)
    for t in range(n_slots):
        done = False
        for it in range(max_iter):
            for k in range(n):  # conj(S / V) = conj(S) V / |V|^2
                vk = v[k]
                j[k] = np.conj(s_load[t, k]) * vk / (vk.real**2 + vk.imag**2) + ysh[k] * vk
            for k in range(n - 1, 0, -1):
                j[parent[k]] += a[k] * j[k]
            worst = 0.0
            for k in range(1, n):
                new = b[k] * v[parent[k]] + z[k] * j[k]
                d = abs(new - v[k])
                if d > worst:
                    worst = d
                v[k] = new
            if not (worst < 1e30) or abs(v[n - 1]) < 1e-3:
                break
            if worst < tol:
                done = True
                iters[t] = it + 1
                break
        if done:
            # currents consistent with the final voltages
            for k in range(n):
                j[k] = np.conj(s_load[t, k] / v[k]) + ysh[k] * v[k]
            for k in range(n - 1, 0, -1):
                j[parent[k]] += a[k] * j[k]
            for k in range(n):
                v_out[t, k] = v[k]
                j_out[t, k] = j[k]
        else:
            iters[t] = -1
            for k in range(n):
                v_out[t, k] = np.nan
                j_out[t, k] = np.nan
                v[k] = v_init[k]


def _no_load_voltages(m: _Radial) -> ComplexArray:
    v = np.zeros(len(m.order), dtype=complex)
    v[0] = m.v0
    for k in range(1, len(v)):  # once per feeder (not per slot), positions are in BFS order
        v[k] = m.b[k] * v[m.parent[k]]
    return v


# ---- balanced flow ---------------------------------------------------------------------


def _participant_matrix(pos: IntArray, scale: FloatArray, n: int) -> sparse.csr_matrix:
    """(N, n) sparse map from participants to bus positions, with load scaling."""
    return sparse.csr_matrix((scale, (np.arange(len(pos)), pos)), shape=(len(pos), n))


@njit(cache=True, nogil=True)
def _results_kernel(  # type: ignore[no-untyped-def]  # numba: typed by the arrays it is called with
    parent, y_pp, y_pc, v, j, i_base, kw, v0, line_col, line_from_up, i_max, trafo_col, trafo_hv_up,
    trafo_vn_hv, trafo_vn_lv, trafo_rating, loading, line_p, line_i, line_loss, trafo_loading, losses, grid,
):  # pragma: no cover - numba  # fmt: skip
    """Branch currents, flows, losses and loadings of solved balanced slots (kA, kW, %), pandapower's formulas."""
    n_slots, n = v.shape
    for t in range(n_slots):
        total = 0.0
        for k in range(1, n):
            pk = parent[k]
            ip = y_pp[k] * v[t, pk] + y_pc[k] * v[t, k]  # into the branch at the upstream end
            ic = -j[t, k]  # into the branch at the downstream end
            pp_ = (v[t, pk] * np.conj(ip)).real * kw
            pc_ = (v[t, k] * np.conj(ic)).real * kw
            up = abs(ip) * i_base[pk]
            down = abs(ic) * i_base[k]
            col = line_col[k]
            if col >= 0:
                i_ka = max(up, down)
                line_i[t, col] = i_ka
                loading[t, col] = 100.0 * i_ka / i_max[col] if i_max[col] > 0 else np.inf
                line_p[t, col] = pp_ if line_from_up[k] else pc_
                line_loss[t, col] = pp_ + pc_
                total += pp_ + pc_
            col = trafo_col[k]
            if col >= 0:
                if trafo_hv_up[k]:
                    ld = max(up * trafo_vn_hv[col], down * trafo_vn_lv[col])
                else:
                    ld = max(down * trafo_vn_hv[col], up * trafo_vn_lv[col])
                trafo_loading[t, col] = ld * np.sqrt(3.0) / trafo_rating[col] * 100.0
                total += pp_ + pc_
        losses[t] = total
        grid[t] = (v0 * np.conj(j[t, 0])).real * kw


def _branch_columns(m: _Radial | _Radial3, net: pandapowerNet) -> tuple[AnyArray, ...]:
    """Per position: its line column and transformer column in the result arrays (−1: none), and their ratings."""
    n = len(m.order)
    cols = []
    for lo, hi in (m.line_range, m.trafo_range):
        col = np.full(n, -1, dtype=np.int64)
        k = m.branch_pos[lo:hi]
        col[k[k >= 1]] = np.flatnonzero(k >= 1)
        cols.append(col)
    i_max = (net.line["max_i_ka"] * net.line["df"] * net.line["parallel"]).to_numpy(dtype=np.float64)
    td = net.trafo
    vn_hv = td["vn_hv_kv"].to_numpy(dtype=np.float64)
    vn_lv = td["vn_lv_kv"].to_numpy(dtype=np.float64)
    rating = (td["sn_mva"] * td["parallel"] * td["df"]).to_numpy(dtype=np.float64)
    return cols[0], cols[1], i_max, vn_hv, vn_lv, rating


def sweep_balanced(
    net: pandapowerNet, table: pd.DataFrame, p: FloatArray, q: FloatArray, rows: IndexArray, dt: float,
    tol: float, max_iter: int, dtype: np.dtype, model: _Radial | None = None, bus_kw: FloatArray | None = None,
) -> FlowResult:  # fmt: skip
    """Balanced sweep of ``rows``; ``model`` skips the cache look-up (callers that solve one feeder
    many times, :mod:`peergrid.grid.slotflow`); ``bus_kw`` ``(T, B)`` adds balanced loads, kW, at
    the buses of ``net.bus`` (+ = consumption)."""
    m = model if model is not None else cached_model(net, table, False)
    n = len(m.order)
    ns = len(rows)
    nbus, nline, ntrafo = len(net.bus), len(net.line), len(net.trafo)
    vm = np.empty((ns, nbus), dtype=dtype)  # every column written below (NaN where not supplied)
    va = np.empty((ns, nbus), dtype=dtype)
    loading = np.zeros((ns, nline), dtype=dtype)
    line_p = np.zeros((ns, nline), dtype=dtype)
    line_i = np.zeros((ns, nline), dtype=dtype)
    line_loss = np.zeros((ns, nline), dtype=dtype)
    trafo_loading = np.zeros((ns, ntrafo), dtype=dtype)
    losses = np.zeros(ns, dtype=dtype)
    grid = np.zeros(ns, dtype=dtype)
    iters = np.zeros(ns, dtype=np.int64)

    to_pos = _participant_matrix(m.part_pos, m.part_scale / (1000.0 * m.base_mva), n)
    if bus_kw is not None:  # buses the slack does not reach draw nothing, as participants there
        on = m.bus_pos >= 0
        to_bus = _participant_matrix(m.bus_pos[on], np.full(int(on.sum()), 1.0 / (1000.0 * m.base_mva)), n)
        bus_kw = np.asarray(bus_kw, dtype=np.float64)[:, on]
    v_init = _no_load_voltages(m)
    supplied = m.bus_pos >= 0
    bus_pos = np.where(supplied, m.bus_pos, 0)
    i_base = m.base_mva / (np.sqrt(3.0) * m.base_kv)  # kA per pu current at each position
    line_col, trafo_col, i_max, vn_hv, vn_lv, rating = _branch_columns(m, net)
    for start in range(0, ns, BLOCK_SLOTS):  # blocks of slots bound the working memory
        sel = rows[start : start + BLOCK_SLOTS]
        blk = slice(start, start + len(sel))
        s = np.asarray((to_pos.T @ (p[sel] + 1j * q[sel]).T).T) + m.s_bg[None, :]
        if bus_kw is not None:
            s += np.asarray((to_bus.T @ bus_kw[sel].T).T)
        v = np.empty((len(sel), n), dtype=complex)
        j = np.empty((len(sel), n), dtype=complex)
        it = np.zeros(len(sel), dtype=np.int64)
        _sweep_kernel(m.parent, m.a, m.b, m.z, m.ysh, s, v_init, float(tol), int(max_iter), v, j, it)
        iters[blk] = it
        ok = it > 0
        if ok.any():
            v_init = v[np.flatnonzero(ok)[-1]].copy()
        v_bus = v[:, bus_pos]  # (blk, B); unsupplied buses read position 0 and are NaN-ed below
        vm[blk] = np.abs(v_bus)
        va[blk] = np.rad2deg(np.angle(v_bus))
        _results_kernel(
            m.parent, m.y_pp, m.y_pc, v, j, i_base, m.base_mva * 1000.0, m.v0, line_col, m.parent_is_from, i_max,
            trafo_col, m.parent_is_from, vn_hv, vn_lv, rating, loading[blk], line_p[blk], line_i[blk],
            line_loss[blk], trafo_loading[blk], losses[blk], grid[blk],
        )  # fmt: skip
    vm[:, ~supplied] = va[:, ~supplied] = np.nan
    line_k = m.branch_pos[m.line_range[0] : m.line_range[1]]
    absent = line_k < 1  # out of service or between unsupplied buses: no current, as pandapower (NaN)
    loading[:, absent] = line_i[:, absent] = np.nan
    converged = iters > 0
    bad = ~converged
    if bad.any():
        for arr in (loading, line_p, line_i, line_loss, trafo_loading):
            arr[bad] = np.nan
        losses[bad] = grid[bad] = np.nan
    return FlowResult(
        slots=rows,
        bus=net.bus.index.to_numpy(),
        line=net.line.index.to_numpy(),
        trafo=net.trafo.index.to_numpy(),
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
    )


def sweep_flow(
    net: pandapowerNet,
    p_kw: ArrayLike,
    *,
    dt: float = 1.0,
    q_kvar: ArrayLike | None = None,
    unbalanced: bool = False,
    slots: ArrayLike | slice | None = None,
    tol: float = DEFAULT_TOL,
    max_iter: int = DEFAULT_MAX_ITER,
    dtype: str | np.dtype = "float64",
) -> FlowResult | FlowResult3ph:
    """AC power flow of every slot at once on a radial feeder (backward/forward sweep).

    Parameters
    ----------
    net : pandapowerNet
        A radial feeder from :func:`~peergrid.grid.build_feeder` or
        :func:`~peergrid.grid.feeder_from_net` (not modified): one in-service ``ext_grid``,
        lines, two-winding transformers, switches, loads, static generators, storage,
        shunts and wards.
    p_kw : numpy.ndarray
        ``(T, N)`` net active power per participant, kW (+ = consumption, − = feed-in),
        columns in the order of ``net["peergrid_participants"]`` (as
        :func:`~peergrid.grid.power_flow`); a ``(N,)`` vector is one slot. Constant power.
    dt : float
        Slot length, hours (for ``losses_kwh``).
    q_kvar : numpy.ndarray, optional
        ``(T, N)`` reactive power, kvar (+ = inductive consumption); zero if omitted.
    unbalanced : bool
        Three-phase sweep with each participant on its phase; returns a
        :class:`~peergrid.grid.FlowResult3ph` with VIM (Tooki et al. eq. 13).
    slots : array-like of int, bool mask or slice, optional
        Rows of ``p_kw`` to compute (default: all).
    tol : float
        Convergence: largest change of any bus voltage between two sweeps, per unit.
    max_iter : int
        Sweeps per slot before the slot is declared not converged (NaN row,
        ``converged=False``, as pandapower's failed slots).
    dtype : {"float64", "float32"}
        Storage of the result arrays (the sweep always computes in complex128). float32
        halves the memory of a year (a three-phase year of 100 buses: ~210 instead of
        ~420 MB) and adds at most ~1e-7 relative rounding (6e-8 pu on voltages).

    Returns
    -------
    FlowResult or FlowResult3ph
        Same fields, units and column order as :func:`~peergrid.grid.power_flow`
        (:func:`~peergrid.grid.power_flow_3ph` when ``unbalanced``).

    Notes
    -----
    The per-unit model comes from one pandapower run of the net with the participants at
    zero (0.1–0.2 s) and is reused by later calls on the same net until one of its tables
    changes. Participants on buses the slack does not reach draw nothing and those buses
    are NaN (as in pandapower). Agreement with pandapower (docs/grid.md, measured by
    :func:`validate_flow`): ≤ 1e-4 percentage points of loading and 1e-7 pu balanced;
    three-phase ≤ 1e-3 pp, 1e-6 pu and 1e-4 pp of VIM on the test feeders, up to 6e-3 pp
    and 6e-6 pu on pandapower's 907-bus IEEE European LV feeder (``runpp_3ph``'s own
    convergence, not the model).

    Raises
    ------
    DataError
        Wrong shape, NaN, bad slots or tolerances; a meshed net, more than one slack, PV
        generators, three-winding transformers, DC lines or voltage-dependent loads
        (pandapower's :func:`~peergrid.grid.power_flow` is the fallback for those).
    """
    table, p, q, rows, dt = flow_inputs(net, p_kw, q_kvar, slots, dt)
    if not (np.isfinite(tol) and tol > 0) or int(max_iter) < 1:
        raise DataError(f"sweep_flow: need tol > 0 and max_iter >= 1, got {tol}, {max_iter}")
    try:
        out = np.dtype(dtype)
    except TypeError:
        out = None
    if out is None or out not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise DataError(f"sweep_flow: dtype must be float64 or float32, got {dtype!r}")
    if unbalanced:
        return sweep_unbalanced(net, table, p, q, rows, dt, tol, int(max_iter), out)
    return sweep_balanced(net, table, p, q, rows, dt, tol, int(max_iter), out)


# ---- unbalanced flow -------------------------------------------------------------------

#: Symmetrical components: ``V_abc = A @ V_012`` (zero, positive, negative sequence).
_ALPHA = np.exp(2j * np.pi / 3)
_A = np.array([[1, 1, 1], [1, _ALPHA**2, _ALPHA], [1, _ALPHA, _ALPHA**2]], dtype=complex)
_A_INV = np.linalg.inv(_A)
#: Slots per block of the three-phase sweep (its working arrays are (block, buses, 3) complex).
BLOCK_SLOTS_3PH = 2048


@dataclass(frozen=True)
class _Radial3:
    """Three sequence networks of a radial feeder (pandapower's ``runpp_3ph`` cases), per-phase per unit.

    Arrays indexed ``[sequence, position]`` with sequences 0 (zero), 1 (positive), 2
    (negative). ``d`` is the tree-LU pivot of each position (its own admittance after its
    subtree is eliminated), ``g = −y_pc / d`` carries a subtree's currents upstream.
    """

    order: IntArray
    parent: IntArray
    y_pp: ComplexArray  # (3, n)
    y_pc: ComplexArray
    y_cp: ComplexArray
    y_cc: ComplexArray
    d: ComplexArray
    g: ComplexArray
    ysh_load: ComplexArray  # (3, n) bus shunts without the ext_grid's own impedance (for the slack power)
    s_bg: ComplexArray  # (n, 3) background wye loads per phase, pu (consumption +)
    v0: complex
    base_mva: float
    base_kv: FloatArray
    parent_is_from: BoolArray
    bus_pos: IntArray
    line_range: tuple[int, int]
    trafo_range: tuple[int, int]
    branch_pos: IntArray
    part_pos: IntArray
    part_supplied: BoolArray


def _background_3ph(net: pandapowerNet, skip_loads: IntArray) -> pd.DataFrame:
    """Per-phase constant-power wye loads of the net's own elements as ``runpp_3ph`` reads them, MW/Mvar.

    Symmetric loads and static generators split equally over the phases; asymmetric loads
    and static generators per phase; generators count negative. Delta-connected ones are refused.
    """
    rows = []
    for element, sign in (("load", 1.0), ("sgen", -1.0), ("asymmetric_load", 1.0), ("asymmetric_sgen", -1.0)):
        table = net.get(element) if hasattr(net, "get") else None
        if not isinstance(table, pd.DataFrame) or table.empty:
            continue
        if element == "load":
            table = table.drop(index=pd.Index(skip_loads), errors="ignore")
        table = table[table["in_service"].astype(bool)]
        if "type" in table and (table["type"].astype(str) == "delta").any():
            raise DataError(f"sweep_flow: delta-connected {element} elements are not modelled; use power_flow_3ph")
        scale = sign * table["scaling"].to_numpy(dtype=np.float64)
        out = pd.DataFrame({"bus": table["bus"].to_numpy(dtype=np.int64)})
        for ph in "abc":
            if element.startswith("asymmetric"):
                out[f"p_{ph}"] = table[f"p_{ph}_mw"].to_numpy(dtype=np.float64) * scale
                out[f"q_{ph}"] = table[f"q_{ph}_mvar"].to_numpy(dtype=np.float64) * scale
            else:
                out[f"p_{ph}"] = table["p_mw"].to_numpy(dtype=np.float64) * scale / 3.0
                out[f"q_{ph}"] = table["q_mvar"].to_numpy(dtype=np.float64) * scale / 3.0
        rows.append(out)
    if not rows:
        return pd.DataFrame(columns=["bus", "p_a", "q_a", "p_b", "q_b", "p_c", "q_c"])
    return pd.concat(rows, ignore_index=True)


def _radial_model_3ph(net: pandapowerNet, table: pd.DataFrame) -> _Radial3:
    """pandapower's sequence networks of ``net`` (participants removed) as a radial three-phase model."""
    pp = pandapower()
    _refuse_unsupported(net)
    work = copy.deepcopy(net)
    add_zero_sequence(work)
    loads = table["load"].to_numpy()
    work.load.loc[loads, "in_service"] = False
    background = _background_3ph(work, loads)
    try:
        with single_threaded_blas():
            pp.runpp_3ph(work, numba=False)
    except pp.LoadflowNotConverged:
        raise DataError(
            f"sweep_flow: pandapower finds no 3-phase flow for the net's fixed background; {_FALLBACK}"
        ) from None
    except (ValueError, KeyError, UserWarning) as exc:
        raise DataError(f"sweep_flow: pandapower rejected the zero-sequence model: {exc}") from None
    ppcs = [work["_ppc0"], work["_ppc1"], work["_ppc2"]]
    lookups = work["_pd2ppc_lookups"]
    order, pos, parent, branch, p_from = _tree(ppcs[1], lookups["branch"], work)
    n = len(order)
    part_pos, part_supplied = _participant_positions(table, pos, lookups)
    base_mva = float(ppcs[1]["baseMVA"])
    y = np.array([_two_ports(c["branch"], branch, p_from) for c in ppcs])  # (3 seq, 4 ports, n)
    y_pp, y_pc, y_cp, y_cc = (y[:, j, :] for j in range(4))
    ysh = np.array([(c["bus"][order, _GS].real + 1j * c["bus"][order, _BS].real) / base_mva for c in ppcs])
    # tree LU: eliminate every subtree into its root, deepest positions first
    d = ysh + y_cc * (np.arange(n) > 0)
    for k in range(n - 1, 0, -1):  # once per feeder, not per slot
        d[:, parent[k]] += y_pp[:, k] - y_pc[:, k] * y_cp[:, k] / d[:, k]
    g = np.zeros_like(d)
    g[:, 1:] = -y_pc[:, 1:] / d[:, 1:]
    # the ext_grid's negative- and zero-sequence impedance sits on the slack bus as a shunt
    eg = work.ext_grid[work.ext_grid["in_service"].astype(bool)].iloc[0]
    v0 = complex(float(eg["vm_pu"]) * np.exp(1j * np.deg2rad(float(eg["va_degree"]))))
    ysh_load = ysh.copy()
    ysh_load[:, 0] = 0.0
    bus_lookup = np.asarray(lookups["bus"])
    s_bg = np.zeros((n, 3), dtype=complex)
    if len(background):
        bpos = pos[bus_lookup[background["bus"].to_numpy(dtype=np.int64)]]
        ok = bpos >= 0
        for j, ph in enumerate("abc"):
            vals = background[f"p_{ph}"].to_numpy() + 1j * background[f"q_{ph}"].to_numpy()
            np.add.at(s_bg[:, j], bpos[ok], vals[ok] / base_mva)
    branch_pos = np.full(ppcs[1]["branch"].shape[0], -1, dtype=np.int64)
    branch_pos[branch[1:]] = np.arange(1, n)
    ranges = lookups["branch"]
    return _Radial3(
        order=order,
        parent=parent,
        y_pp=y_pp,
        y_pc=y_pc,
        y_cp=y_cp,
        y_cc=y_cc,
        d=d,
        g=g,
        ysh_load=ysh_load,
        s_bg=s_bg,
        v0=v0,
        base_mva=base_mva,
        base_kv=ppcs[1]["bus"][order, _BASE_KV].real.astype(np.float64),
        parent_is_from=np.concatenate([[False], p_from]),
        bus_pos=pos[bus_lookup[net.bus.index.to_numpy()]],
        line_range=tuple(ranges.get("line", (0, 0))),
        trafo_range=tuple(ranges.get("trafo", (0, 0))),
        branch_pos=branch_pos,
        part_pos=part_pos,
        part_supplied=part_supplied,
    )


@njit(cache=True, nogil=True)
def _no_load_012(parent, y_cp, d, v0, v):  # type: ignore[no-untyped-def]  # pragma: no cover - numba
    n = parent.shape[0]
    for s in range(3):
        v[0, s] = v0 if s == 1 else 0.0
        for k in range(1, n):
            v[k, s] = -y_cp[s, k] * v[parent[k], s] / d[s, k]


@njit(cache=True, nogil=True)
def _sweep3_kernel(parent, y_cp, d, g, a_mat, a_inv, s_load, v0, tol, max_iter, v_out, iters):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Three-phase sweep in sequence components for every row of ``s_load`` (T, n, 3 phases).

    Each sweep turns the phase loads into injected currents, maps them to sequence
    currents, and solves the three sequence networks exactly by the precomputed tree LU
    (backward: subtree currents; forward: voltages); the slack fixes the positive-sequence
    voltage, the ext_grid's impedance grounds the other two. Writes sequence voltages
    (T, n, 3) and sweeps per row (−1: not converged, row NaN).
    """
    n_slots, n, _ = s_load.shape
    dinv = 1.0 / d
    v = np.zeros((n, 3), dtype=np.complex128)
    _no_load_012(parent, y_cp, d, v0, v)
    r = np.zeros((n, 3), dtype=np.complex128)
    vabc = np.zeros(3, dtype=np.complex128)
    iabc = np.zeros(3, dtype=np.complex128)
    for t in range(n_slots):
        done = False
        for it in range(max_iter):
            for k in range(n):
                for ph in range(3):
                    sl = s_load[t, k, ph]
                    if sl.real == 0.0 and sl.imag == 0.0:
                        iabc[ph] = 0.0
                    else:  # -conj(S / V) = -conj(S) V / |V|^2
                        vabc[ph] = a_mat[ph, 0] * v[k, 0] + a_mat[ph, 1] * v[k, 1] + a_mat[ph, 2] * v[k, 2]
                        iabc[ph] = -np.conj(sl) * vabc[ph] / (vabc[ph].real ** 2 + vabc[ph].imag ** 2)
                for s in range(3):
                    r[k, s] = a_inv[s, 0] * iabc[0] + a_inv[s, 1] * iabc[1] + a_inv[s, 2] * iabc[2]
            for k in range(n - 1, 0, -1):
                for s in range(3):
                    r[parent[k], s] += g[s, k] * r[k, s]
            worst = 0.0
            for s in range(3):
                new = v0 if s == 1 else r[0, s] * dinv[s, 0]
                dv = abs(new - v[0, s])
                if dv > worst:
                    worst = dv
                v[0, s] = new
            for k in range(1, n):
                for s in range(3):
                    new = (r[k, s] - y_cp[s, k] * v[parent[k], s]) * dinv[s, k]
                    dv = abs(new - v[k, s])
                    if dv > worst:
                        worst = dv
                    v[k, s] = new
            if not (worst < 1e30) or abs(v[n - 1, 1]) < 1e-3:
                break
            if worst < tol:
                done = True
                iters[t] = it + 1
                break
        if done:
            for k in range(n):
                for s in range(3):
                    v_out[t, k, s] = v[k, s]
        else:
            iters[t] = -1
            for k in range(n):
                for s in range(3):
                    v_out[t, k, s] = np.nan
            _no_load_012(parent, y_cp, d, v0, v)


@njit(cache=True, nogil=True)
def _results3_kernel(  # type: ignore[no-untyped-def]  # numba: typed by the arrays it is called with
    parent, y_pp, y_pc, y_cp, y_cc, a_mat, v012, s_load, ysh_root, i_base, kw,
    line_col, line_from_up, i_max, trafo_col, trafo_hv_up, trafo_vn_hv, trafo_vn_lv, trafo_rating,
    vabc_out, loading, line_p, line_i, line_in, line_loss, trafo_loading, losses, grid,
):  # pragma: no cover - numba  # fmt: skip
    """Phase voltages, branch currents, powers, losses and the slack's power of solved slots (kA, kW, %)."""
    n_slots, n, _ = v012.shape
    ip = np.zeros(3, dtype=np.complex128)
    ic = np.zeros(3, dtype=np.complex128)
    ip_s = np.zeros(3, dtype=np.complex128)
    ic_s = np.zeros(3, dtype=np.complex128)
    iroot = np.zeros(3, dtype=np.complex128)
    for t in range(n_slots):
        for k in range(n):
            for ph in range(3):
                vabc_out[t, k, ph] = (
                    a_mat[ph, 0] * v012[t, k, 0] + a_mat[ph, 1] * v012[t, k, 1] + a_mat[ph, 2] * v012[t, k, 2]
                )
        total_loss = 0.0
        for s in range(3):
            iroot[s] = ysh_root[s] * v012[t, 0, s]
        for k in range(1, n):
            pk = parent[k]
            for s in range(3):
                ip_s[s] = y_pp[s, k] * v012[t, pk, s] + y_pc[s, k] * v012[t, k, s]
                ic_s[s] = y_cp[s, k] * v012[t, pk, s] + y_cc[s, k] * v012[t, k, s]
                if pk == 0:
                    iroot[s] += ip_s[s]
            pp_ = 0.0
            pc_ = 0.0
            for ph in range(3):
                ip[ph] = a_mat[ph, 0] * ip_s[0] + a_mat[ph, 1] * ip_s[1] + a_mat[ph, 2] * ip_s[2]
                ic[ph] = a_mat[ph, 0] * ic_s[0] + a_mat[ph, 1] * ic_s[1] + a_mat[ph, 2] * ic_s[2]
                pp_ += (vabc_out[t, pk, ph] * np.conj(ip[ph])).real * kw
                pc_ += (vabc_out[t, k, ph] * np.conj(ic[ph])).real * kw
            loss = pp_ + pc_
            col = line_col[k]
            if col >= 0:
                worst = 0.0
                for ph in range(3):
                    i_ph = max(abs(ip[ph]) * i_base[pk], abs(ic[ph]) * i_base[k])
                    line_i[t, col, ph] = i_ph
                    if i_ph > worst:
                        worst = i_ph
                loading[t, col] = 100.0 * worst / i_max[col] if i_max[col] > 0 else np.inf
                line_in[t, col] = max(abs(ip[0] + ip[1] + ip[2]) * i_base[pk], abs(ic[0] + ic[1] + ic[2]) * i_base[k])
                line_p[t, col] = pp_ if line_from_up[k] else pc_
                line_loss[t, col] = loss
                total_loss += loss
            col = trafo_col[k]
            if col >= 0:
                worst = 0.0
                for ph in range(3):
                    up = abs(ip[ph]) * i_base[pk]
                    down = abs(ic[ph]) * i_base[k]
                    if trafo_hv_up[k]:
                        ld = max(up * trafo_vn_hv[col], down * trafo_vn_lv[col])
                    else:
                        ld = max(down * trafo_vn_hv[col], up * trafo_vn_lv[col])
                    if ld > worst:
                        worst = ld
                trafo_loading[t, col] = worst * np.sqrt(3.0) / trafo_rating[col] * 100.0
                total_loss += loss
        losses[t] = total_loss
        g = 0.0
        for ph in range(3):
            i_ph = a_mat[ph, 0] * iroot[0] + a_mat[ph, 1] * iroot[1] + a_mat[ph, 2] * iroot[2]
            g += (vabc_out[t, 0, ph] * np.conj(i_ph)).real + s_load[t, 0, ph].real
        grid[t] = g * kw


def sweep_unbalanced(
    net: pandapowerNet, table: pd.DataFrame, p: FloatArray, q: FloatArray, rows: IndexArray, dt: float,
    tol: float, max_iter: int, dtype: np.dtype, model: _Radial3 | None = None,
) -> FlowResult3ph:  # fmt: skip
    """Unbalanced (per-phase) sweep of ``rows``; ``model`` skips the cache look-up (:func:`cached_model`)."""
    m = model if model is not None else cached_model(net, table, True)
    n = len(m.order)
    ns = len(rows)
    nbus, nline, ntrafo = len(net.bus), len(net.line), len(net.trafo)
    vm = np.empty((ns, nbus, 3), dtype=dtype)  # every column written below (NaN where not supplied)
    va = np.empty((ns, nbus, 3), dtype=dtype)
    vim_pct = np.empty((ns, nbus), dtype=dtype)
    vuf = np.empty((ns, nbus), dtype=dtype)
    loading = np.zeros((ns, nline), dtype=dtype)
    line_p = np.zeros((ns, nline), dtype=dtype)
    line_i = np.zeros((ns, nline, 3), dtype=dtype)
    line_in = np.zeros((ns, nline), dtype=dtype)
    line_loss = np.zeros((ns, nline), dtype=dtype)
    trafo_loading = np.zeros((ns, ntrafo), dtype=dtype)
    losses = np.zeros(ns, dtype=dtype)
    grid = np.zeros(ns, dtype=dtype)
    iters = np.zeros(ns, dtype=np.int64)

    share = np.array([PHASE_SHARE[ph] for ph in table["phase"]], dtype=np.float64).reshape(len(table), 3)
    share = share * m.part_supplied[:, None]
    # (N, n*3) map: participant -> (position, phase), kW -> per-phase pu
    cols = (m.part_pos[:, None] * 3 + np.arange(3)[None, :]).ravel()
    vals = (share / (1000.0 * m.base_mva)).ravel()
    to_pos = sparse.csr_matrix((vals, (np.repeat(np.arange(len(table)), 3), cols)), shape=(len(table), 3 * n))
    supplied = m.bus_pos >= 0
    bus_pos = np.where(supplied, m.bus_pos, 0)
    i_base = m.base_mva / (m.base_kv / np.sqrt(3.0))  # kA per per-phase pu current
    line_col, trafo_col, i_max, vn_hv, vn_lv, rating = _branch_columns(m, net)
    lf, lt_ = m.line_range
    for start in range(0, ns, BLOCK_SLOTS_3PH):
        sel = rows[start : start + BLOCK_SLOTS_3PH]
        blk = slice(start, start + len(sel))
        nb_ = len(sel)
        s = np.asarray((to_pos.T @ (p[sel] + 1j * q[sel]).T).T).reshape(nb_, n, 3) + m.s_bg[None, :, :]
        v012 = np.empty((nb_, n, 3), dtype=complex)
        it = np.zeros(nb_, dtype=np.int64)
        _sweep3_kernel(m.parent, m.y_cp, m.d, m.g, _A, _A_INV, s, m.v0, float(tol), int(max_iter), v012, it)
        iters[blk] = it
        vabc = np.empty_like(v012)
        _results3_kernel(
            m.parent, m.y_pp, m.y_pc, m.y_cp, m.y_cc, _A, v012, s, m.ysh_load[:, 0].copy(), i_base,
            m.base_mva * 1000.0, line_col, m.parent_is_from, i_max, trafo_col, m.parent_is_from, vn_hv, vn_lv,
            rating, vabc, loading[blk], line_p[blk], line_i[blk], line_in[blk], line_loss[blk],
            trafo_loading[blk], losses[blk], grid[blk],
        )  # fmt: skip
        v_bus = vabc[:, bus_pos]  # (blk, B, 3); unsupplied buses read position 0 and are NaN-ed below
        vm[blk] = np.abs(v_bus)
        va[blk] = np.rad2deg(np.angle(v_bus))
        ok = it > 0
        vim_pct[blk] = np.nan
        if ok.any():
            vim_pct[blk][ok] = vim(v_bus[ok], kind="line")
        with np.errstate(divide="ignore", invalid="ignore"):
            vuf[blk] = 100.0 * np.abs(v012[:, bus_pos, 2]) / np.abs(v012[:, bus_pos, 1])
    vm[:, ~supplied] = va[:, ~supplied] = np.nan
    vim_pct[:, ~supplied] = vuf[:, ~supplied] = np.nan
    absent = m.branch_pos[lf:lt_] < 1  # out of service or between unsupplied buses: NaN, as pandapower
    loading[:, absent] = line_in[:, absent] = np.nan
    line_i[:, absent] = np.nan
    converged = iters > 0
    bad = ~converged
    if bad.any():
        for arr in (loading, line_p, line_i, line_in, line_loss, trafo_loading):
            arr[bad] = np.nan
        losses[bad] = grid[bad] = np.nan
    return FlowResult3ph(
        slots=rows,
        bus=net.bus.index.to_numpy(),
        line=net.line.index.to_numpy(),
        trafo=net.trafo.index.to_numpy(),
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


# ---- validation ------------------------------------------------------------------------


#: Slots :func:`validate_flow` samples by default.
DEFAULT_VALIDATION_SLOTS = 50


@dataclass(frozen=True)
class FlowValidation:
    """Largest differences between :func:`sweep_flow` and pandapower's AC flow on sampled slots.

    Attributes
    ----------
    slots : numpy.ndarray
        Slot numbers compared.
    unbalanced : bool
        Whether the three-phase flows (``runpp_3ph``) were compared.
    loading_pct : float
        Max abs error of line loading, percentage points.
    trafo_loading_pct : float
        Max abs error of transformer loading, percentage points.
    voltage_pu : float
        Max abs error of bus voltage magnitude (every phase when unbalanced), per unit.
    losses_kwh : float
        Max abs error of the network losses of one slot, kWh.
    losses_rel : float
        Abs error of the total losses over the compared slots, relative to pandapower's total.
    grid_kwh : float
        Max abs error of the energy drawn at the slack in one slot, kWh.
    vim_pct : float
        Max abs error of VIM, percentage points (NaN for balanced flows).
    not_converged : int
        Compared slots where either flow did not converge (excluded from the errors).
    seconds_sweep, seconds_pandapower : float
        Wall time of the two flows on the compared slots, s.
    """

    slots: IndexArray
    unbalanced: bool
    loading_pct: float
    trafo_loading_pct: float
    voltage_pu: float
    losses_kwh: float
    losses_rel: float
    grid_kwh: float
    vim_pct: float
    not_converged: int
    seconds_sweep: float
    seconds_pandapower: float

    def summary(self) -> dict[str, float | int | bool]:
        """Errors with stable keys (JSON-friendly)."""
        return {
            "slots": len(self.slots),
            "unbalanced": self.unbalanced,
            "max_abs_loading_error_pct": self.loading_pct,
            "max_abs_trafo_loading_error_pct": self.trafo_loading_pct,
            "max_abs_voltage_error_pu": self.voltage_pu,
            "max_abs_losses_error_kwh": self.losses_kwh,
            "losses_rel_error": self.losses_rel,
            "max_abs_grid_error_kwh": self.grid_kwh,
            "max_abs_vim_error_pct": self.vim_pct,
            "not_converged": self.not_converged,
            "seconds_sweep": self.seconds_sweep,
            "seconds_pandapower": self.seconds_pandapower,
        }


def _sample(slots: ArrayLike | None, n: int, seed: int) -> IntArray:
    if slots is None or np.isscalar(slots):
        k = DEFAULT_VALIDATION_SLOTS if slots is None else slots
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise DataError(f"validate_flow: slots must be a positive number of slots or slot numbers, got {slots!r}")
        k = min(int(k), n)
        return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))
    return np.asarray(slots)


def _maxabs(a: FloatArray, b: FloatArray) -> float:
    d = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
    d = d[np.isfinite(d)]
    return float(d.max()) if d.size else 0.0


def validate_flow(
    net: pandapowerNet,
    p_kw: ArrayLike,
    *,
    slots: ArrayLike | None = None,
    dt: float = 1.0,
    q_kvar: ArrayLike | None = None,
    unbalanced: bool = False,
    seed: int = 0,
) -> FlowValidation:
    """Compare :func:`sweep_flow` with pandapower's AC flow on sampled slots.

    Parameters
    ----------
    net, p_kw, dt, q_kvar, unbalanced
        As in :func:`sweep_flow`; pandapower runs :func:`~peergrid.grid.power_flow`
        (``runpp``) or :func:`~peergrid.grid.power_flow_3ph` (``runpp_3ph``).
    slots : int or array-like of int, optional
        A number of slots drawn at random without replacement (default
        :data:`DEFAULT_VALIDATION_SLOTS`), or the slot numbers to compare.
    seed : int
        Seed of the random draw.

    Returns
    -------
    FlowValidation

    Raises
    ------
    DataError
        As :func:`sweep_flow`, or a bad ``slots``.
    """
    import time

    n = np.asarray(p_kw).shape[0] if np.ndim(p_kw) == 2 else 1
    rows = _sample(slots, n, seed)
    t0 = time.perf_counter()
    ours = sweep_flow(net, p_kw, dt=dt, q_kvar=q_kvar, unbalanced=unbalanced, slots=rows)
    t1 = time.perf_counter()
    ref = (power_flow_3ph if unbalanced else power_flow)(net, p_kw, q_kvar, slots=ours.slots, dt=dt)
    t2 = time.perf_counter()
    ok = ours.converged & ref.converged
    vim_err = float("nan")
    if isinstance(ours, FlowResult3ph) and isinstance(ref, FlowResult3ph):  # unbalanced
        vim_err = _maxabs(ours.vim_pct[ok], ref.vim_pct[ok])
    total = float(np.nansum(ref.losses_kw[ok]))
    rel = abs(float(np.nansum(ours.losses_kw[ok])) - total) / total if total > 0 else 0.0
    return FlowValidation(
        slots=ours.slots,
        unbalanced=bool(unbalanced),
        loading_pct=_maxabs(ours.loading_pct[ok], ref.loading_pct[ok]),
        trafo_loading_pct=_maxabs(ours.trafo_loading_pct[ok], ref.trafo_loading_pct[ok]),
        voltage_pu=_maxabs(ours.vm_pu[ok], ref.vm_pu[ok]),
        losses_kwh=_maxabs(ours.losses_kwh[ok], ref.losses_kwh[ok]),
        losses_rel=rel,
        grid_kwh=_maxabs(ours.grid_kw[ok] * dt, ref.grid_kw[ok] * dt),
        vim_pct=vim_err,
        not_converged=int((~ok).sum()),
        seconds_sweep=t1 - t0,
        seconds_pandapower=t2 - t1,
    )
