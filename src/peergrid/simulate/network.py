"""Network-aware simulation: the community's feeder shapes what the markets settle.

After the markets clear, :func:`apply_network` puts the members' net power of every slot on
the feeder (``grid=`` of :func:`peergrid.compare`, scenario table ``[grid]``) and, per slot:

1. **Flows.** Line loading, bus voltages (and VIM, Tooki et al. (2025) eq. 13, when
   ``max_vim_pct`` is set and members sit on single phases) from a vectorised power flow over
   all slots at once (:func:`peergrid.grid.sweep_flow`, balanced or three-phase).
2. **Curtailment of exports.** Loads are inflexible: trading cannot change what a member
   imports, only where its surplus goes, so the only lever the network step has is to *spill*
   export. On every slot with a violation that exports cause (reverse flow above the loading
   limit on a line or the transformer, overvoltage, VIM), the exporters that contribute to the
   worst violation — those below the line, or sharing resistance with the bus on its path to the
   slack, on the violated phase — have their export cut by one common fraction estimated from
   linear sensitivities (line: kW of export below the line; bus: ``R_shared / V_n²`` pu per kW,
   ×6 for a single-phase member on its own phase in an unbalanced flow), plus a margin; the flow
   is re-run on those slots only, until the slot is within limits (tightened by a small safety
   margin, :data:`SAFETY`); a cut that does not lower the slot's worst excess is undone and the
   slot left alone. ``curtailed_kwh`` is the spilled energy. Violations that inflexible
   import causes (undervoltage, forward overloads) cannot be fixed this way: they are counted and
   reported (``summary()["grid"]``), never hidden.
3. **Re-matching.** Markets whose net positions changed are cleared again on the curtailed
   positions (:func:`peergrid.simulate.engine.clear_market`), so the freed volume is re-matched
   with other sellers or the grid. Flows depend only on net injections, so the curtailment is the
   same for every market of a comparison and is computed once.
4. **Line-utilisation fees** (Tooki et al. (2025), eq. 12): the trade from seller s to buyer b
   pays ``H_sb = Σ_{L on path(s,b)} τ · |P_L| / P_max,L`` per kWh, ``P_L`` the slot's line flow.
   Pool rules and order books report per-member volumes only, so sellers and buyers are paired
   pro rata (``q_s q_b / V``, V the traded volume). On a tree a line lies between s and b when
   exactly one of them is below it, so the slot's fee money is, without enumerating pairs,
   ``Σ_L u_L [S_L (B − B_L) + (S − S_L) B_L] / V`` (``u_L = τ |P_L| / P_max,L``, ``S_L`` / ``B_L``
   sold / bought volume below line L). Buyers pay it (Tooki et al. (2025), eq. 11) to the network
   operator.
5. **Losses.** The feeder's losses of each slot are allocated to the members pro rata to
   ``|net energy|`` (equally when nobody exchanges) and valued at the retail price λb: members
   pay them to the network operator, who buys them from the supplier. Per slot
   ``Σ members' net + losses = transformer import`` and
   ``Σ members' bills = supplier's bill + operator fees + line fees + loss charges``.

Combinations: price-response coordination (the network step runs after each market's final
clearing, on that market's own schedule) and every bidding strategy are supported; faults
and imperfect forecasters are refused (the physical positions would differ from those the
market settled).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from peergrid.core.errors import ConfigError
from peergrid.grid.charges import FeederTopology, allocate_losses, line_fee_money

if TYPE_CHECKING:
    from pandapower.auxiliary import pandapowerNet

    from peergrid.core.community import Community
    from peergrid.market.sharing import Clearing
    from peergrid.simulate.result import Result

#: Safety margins the curtailment targets inside the configured limits (they cover the
#: error of the vectorised flow against pandapower's AC flow): loading percentage points,
#: voltage per unit, VIM percentage points.
SAFETY = {"loading_pp": 0.5, "voltage_pu": 0.002, "vim_pp": 0.05}
#: Extra share of the linearly estimated excess removed per curtailment step.
MARGIN = 0.1
#: Most curtailment iterations (each one flow on the slots still violating).
MAX_ITER = 40
#: Smallest share of the contributors' export removed per step (keeps progress when the
#: linear estimate is far too optimistic).
MIN_STEP = 0.02
#: Voltage sensitivity of a single-phase member on its own phase relative to a balanced one
#: (current on one phase and its return in the neutral, ``Z_n ≈ Z_ph``: 2 x 3).
SINGLE_PHASE_FACTOR = 6.0

#: Keys of the ``[grid]`` table / ``grid=`` mapping.
GRID_KEYS = ("feeder", "max_line_loading_pct", "v_min_pu", "v_max_pu", "max_vim_pct", "fee_per_kwh")


@dataclass(frozen=True)
class GridOptions:
    """Feeder and limits of a network-aware simulation (scenario table ``[grid]``).

    Attributes
    ----------
    feeder : str
        ``"default"``: :func:`peergrid.grid.build_feeder` of the community (members on their
        ``node`` and ``phase``); or a pandapower JSON file (relative paths against
        ``base_dir``) read by ``peergrid.grid.read_feeder`` with the members' ``node`` as bus.
    max_line_loading_pct : float
        Highest allowed line and transformer loading, % of the rated current (> 0).
    v_min_pu, v_max_pu : float
        Voltage band, per unit (0 < v_min < v_max).
    max_vim_pct : float, optional
        Highest allowed voltage imbalance (Tooki et al. (2025), eq. 13), % (> 0); when set and
        members sit on single phases the flow is unbalanced (three-phase).
    fee_per_kwh : float
        τ_L of Tooki et al. (2025) eq. 12: the fee of a fully utilised line, currency/kWh (≥ 0).
    base_dir : str
        Directory a relative ``feeder`` path is resolved against.
    """

    feeder: str = "default"
    max_line_loading_pct: float = 100.0
    v_min_pu: float = 0.95
    v_max_pu: float = 1.05
    max_vim_pct: float | None = None
    fee_per_kwh: float = 0.0
    base_dir: str = field(default=".", compare=False)

    def __post_init__(self) -> None:
        def num(name: str, value: object) -> float:
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ConfigError(f"[grid] {name} must be a number, got {value!r}")
            v = float(value)
            if not math.isfinite(v):
                raise ConfigError(f"[grid] {name} must be finite, got {value!r}")
            return v

        if not isinstance(self.feeder, (str, Path)) or not str(self.feeder).strip():
            raise ConfigError(f"[grid] feeder must be \"default\" or a pandapower JSON file, got {self.feeder!r}")
        object.__setattr__(self, "feeder", str(self.feeder))
        loading = num("max_line_loading_pct", self.max_line_loading_pct)
        if loading <= 0:
            raise ConfigError(f"[grid] max_line_loading_pct must be > 0, got {loading}")
        lo, hi = num("v_min_pu", self.v_min_pu), num("v_max_pu", self.v_max_pu)
        if not 0 < lo < hi:
            raise ConfigError(f"[grid] need 0 < v_min_pu < v_max_pu, got v_min_pu = {lo}, v_max_pu = {hi}")
        if self.max_vim_pct is not None and num("max_vim_pct", self.max_vim_pct) <= 0:
            raise ConfigError(f"[grid] max_vim_pct must be > 0, got {self.max_vim_pct}")
        fee = num("fee_per_kwh", self.fee_per_kwh)
        if fee < 0:
            raise ConfigError(f"[grid] fee_per_kwh must be >= 0, got {fee}")
        for name, value in (("max_line_loading_pct", loading), ("v_min_pu", lo), ("v_max_pu", hi),
                            ("fee_per_kwh", fee)):  # fmt: skip
            object.__setattr__(self, name, value)
        if self.max_vim_pct is not None:
            object.__setattr__(self, "max_vim_pct", float(self.max_vim_pct))

    def to_dict(self) -> dict[str, object]:
        """The ``[grid]`` keys (JSON-ready; ``max_vim_pct`` left out when unset)."""
        d: dict[str, object] = {k: getattr(self, k) for k in GRID_KEYS}
        if d["max_vim_pct"] is None:
            d.pop("max_vim_pct")
        return d


def check_grid(grid: GridOptions | Mapping[str, object] | None, base_dir: str | Path = ".") -> GridOptions | None:
    """Validate the ``grid=`` option of :func:`peergrid.simulate` / :func:`peergrid.compare`.

    Parameters
    ----------
    grid : GridOptions, mapping or None
        None: no network (today's behaviour). A mapping with the keys of :data:`GRID_KEYS`.
    base_dir : str or pathlib.Path
        Directory a relative feeder file is resolved against (mappings only).

    Returns
    -------
    GridOptions or None

    Raises
    ------
    ConfigError
        Unknown keys, wrong types or out-of-range limits (one line).
    """
    if grid is None or isinstance(grid, GridOptions):
        return grid
    if not isinstance(grid, Mapping):
        raise ConfigError(f"grid must be a mapping of {', '.join(GRID_KEYS)} or GridOptions, got {type(grid).__name__}")
    unknown = sorted(set(map(str, grid)) - set(GRID_KEYS))
    if unknown:
        raise ConfigError(f"[grid] unknown key(s) {', '.join(unknown)}; known: {', '.join(GRID_KEYS)}")
    return GridOptions(**{str(k): v for k, v in grid.items()}, base_dir=str(base_dir))


def check_combination(grid: GridOptions | None, *, faults: bool, forecaster: str) -> None:
    """Refuse what the network step does not combine with (ConfigError, one line)."""
    if grid is None:
        return
    if faults:
        raise ConfigError(
            "grid= cannot be combined with injected faults: the feeder carries the true positions while "
            "the market settles the faulty readings; run them separately"
        )
    if forecaster != "perfect":
        raise ConfigError(
            f"grid= cannot be combined with forecaster = {forecaster!r}: the feeder carries the realised "
            "positions while the market settles the planned ones; use forecaster = \"perfect\""
        )


def build_grid_feeder(community: Community, grid: GridOptions) -> pandapowerNet:
    """The feeder of ``grid`` with the community's members on it.

    Raises
    ------
    ConfigError
        A missing feeder file.
    DataError
        Members on unknown buses or phases (from the feeder builders).
    """
    from peergrid import grid as G

    if grid.feeder.strip().lower() == "default":
        return G.build_feeder(community)
    path = Path(grid.feeder)
    if not path.is_absolute():
        path = Path(grid.base_dir) / path
    if not path.is_file():
        raise ConfigError(f"[grid] feeder file {str(path)!r} not found")
    return G.read_feeder(path, mapping=community)


# ---- flows -------------------------------------------------------------------------------------


def run_flow(net: pandapowerNet, p_kw: np.ndarray, dt: float, unbalanced: bool) -> Any:
    """Power flow of every row of ``p_kw`` (kW, + = consumption) on ``net``.

    :func:`peergrid.grid.sweep_flow`, vectorised over slots (three-phase when ``unbalanced``).

    Returns
    -------
    FlowResult or FlowResult3ph
    """
    from peergrid.grid import sweep_flow

    return sweep_flow(net, p_kw, dt=dt, unbalanced=unbalanced)


#: Name of the flow the network step uses (recorded in ``summary()["grid"]["flow"]``).
FLOW_METHOD = "sweep_flow"


@dataclass
class _Flows:
    """Per-slot flow arrays of the whole horizon (rows updated in place as slots are curtailed)."""

    line_p: np.ndarray  # (T, L) kW
    loading: np.ndarray  # (T, L) %
    vm: np.ndarray  # (T, B) or (T, B, 3) pu
    vim: np.ndarray | None  # (T, B) %
    trafo_loading: np.ndarray  # (T, K) %
    losses_kw: np.ndarray  # (T,)
    grid_kw: np.ndarray  # (T,)
    converged: np.ndarray  # (T,)
    line_i3: np.ndarray | None = None  # (T, L, 3) phase currents of unbalanced flows, kA

    @classmethod
    def of(cls, flow: Any) -> _Flows:
        vim = getattr(flow, "vim_pct", None)
        i3 = np.asarray(flow.line_i_ka, dtype=np.float64)
        return cls(
            np.asarray(flow.line_p_kw, dtype=np.float64),
            np.asarray(flow.loading_pct, dtype=np.float64),
            np.asarray(flow.vm_pu, dtype=np.float64),
            None if vim is None else np.asarray(vim, dtype=np.float64),
            np.asarray(flow.trafo_loading_pct, dtype=np.float64),
            np.asarray(flow.losses_kw, dtype=np.float64),
            np.asarray(flow.grid_kw, dtype=np.float64),
            np.asarray(flow.converged, dtype=bool),
            i3 if i3.ndim == 3 else None,
        )

    def put(self, rows: np.ndarray, other: _Flows) -> None:
        for f in fields(self):
            mine = getattr(self, f.name)
            if mine is not None:
                mine[rows] = getattr(other, f.name)

    def take(self, rows: np.ndarray) -> _Flows:
        return _Flows(*(None if (a := getattr(self, f.name)) is None else a[rows] for f in fields(self)))

    @property
    def vm_min(self) -> np.ndarray:
        return self.vm if self.vm.ndim == 2 else self.vm.min(axis=2)

    @property
    def vm_max(self) -> np.ndarray:
        return self.vm if self.vm.ndim == 2 else self.vm.max(axis=2)


# ---- curtailment ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Curtailed:
    """Outcome of :func:`curtail_exports` (arrays over the horizon).

    Attributes
    ----------
    net : numpy.ndarray
        ``(T, N)`` net energy after curtailment, kWh (+ import).
    spilled : numpy.ndarray
        ``(T, N)`` export spilled, kWh (≥ 0).
    flows : _Flows
        Flow arrays of the curtailed positions.
    violating_before, violating_after : numpy.ndarray
        ``(T,)`` slots breaking a configured limit before / after curtailment.
    iterations : int
        Curtailment iterations run.
    unbalanced : bool
        Whether the flow was three-phase.
    """

    net: np.ndarray
    spilled: np.ndarray
    flows: _Flows
    violating_before: np.ndarray
    violating_after: np.ndarray
    iterations: int
    unbalanced: bool


def _violating(fl: _Flows, grid: GridOptions, slack: float = 0.0) -> np.ndarray:
    """``(T,)`` slots breaking a limit (tightened by ``slack`` times :data:`SAFETY`)."""
    lim = grid.max_line_loading_pct - slack * SAFETY["loading_pp"]
    dv = slack * SAFETY["voltage_pu"]
    with np.errstate(invalid="ignore"):
        bad = ~fl.converged
        bad |= (fl.loading > lim).any(axis=1) if fl.loading.shape[1] else False
        bad |= (fl.trafo_loading > lim).any(axis=1) if fl.trafo_loading.shape[1] else False
        bad |= (fl.vm_min < grid.v_min_pu + dv).any(axis=1) | (fl.vm_max > grid.v_max_pu - dv).any(axis=1)
        if fl.vim is not None and grid.max_vim_pct is not None:
            bad |= (fl.vim > grid.max_vim_pct - slack * SAFETY["vim_pp"]).any(axis=1)
    return np.asarray(bad, dtype=bool)


def _severity(fl: _Flows, grid: GridOptions) -> np.ndarray:
    """``(T,)`` largest relative excess over the (tightened) limits of each slot; ``inf`` if not converged."""
    lim = grid.max_line_loading_pct - SAFETY["loading_pp"]
    vmax = grid.v_max_pu - SAFETY["voltage_pu"]
    vmin = grid.v_min_pu + SAFETY["voltage_pu"]
    parts = [fl.vm_max / vmax - 1.0, 1.0 - fl.vm_min / vmin]
    if fl.loading.shape[1]:
        parts.append(fl.loading / lim - 1.0)
    if fl.trafo_loading.shape[1]:
        parts.append(fl.trafo_loading / lim - 1.0)
    if fl.vim is not None and grid.max_vim_pct is not None:
        parts.append(fl.vim / (grid.max_vim_pct - SAFETY["vim_pp"]) - 1.0)
    with np.errstate(invalid="ignore"):
        sev = np.max(np.concatenate(parts, axis=1), axis=1)
    return np.where(fl.converged & np.isfinite(sev), sev, np.inf)


def _curtail_step(
    p: np.ndarray, fl: _Flows, topo: FeederTopology, grid: GridOptions
) -> tuple[np.ndarray, np.ndarray]:
    """One curtailment step on rows ``p`` (kW): (share of export removed per member (R, N), rows acted on)."""
    R, N = p.shape
    exports = np.maximum(-p, 0.0)
    lim = grid.max_line_loading_pct - SAFETY["loading_pp"]
    vmax = grid.v_max_pu - SAFETY["voltage_pu"]
    neg = -np.inf
    parts: list[np.ndarray] = []
    with np.errstate(invalid="ignore", divide="ignore"):
        # reverse (export-driven) line overloads with exporters below the line
        if topo.below.shape[1]:
            e_below = exports @ topo.below
            reverse = fl.line_p * topo.down < 0
            rel = fl.loading / lim - 1.0
            parts.append(np.where(reverse & (e_below > 1e-9) & (rel > 0), rel, neg))
        else:
            parts.append(np.zeros((R, 0)))
        # reverse power through the transformer
        k = fl.trafo_loading.shape[1]
        rel_t = fl.trafo_loading / lim - 1.0 if k else np.zeros((R, 0))
        ok_t = (fl.grid_kw < 0)[:, None] & (exports.sum(axis=1) > 1e-9)[:, None]
        parts.append(np.where(ok_t & (rel_t > 0), rel_t, neg) if k else np.zeros((R, 0)))
        # overvoltage with exporters sharing the bus's path to the slack
        e_sens = exports @ topo.sens.T  # (R, B) linear voltage rise from exports, pu
        rel_v = fl.vm_max / vmax - 1.0
        parts.append(np.where((e_sens > 1e-12) & (rel_v > 0), rel_v, neg))
        # voltage imbalance with single-phase exporters sharing the path
        B = topo.sens.shape[0]
        if fl.vim is not None and grid.max_vim_pct is not None:
            one = exports * (topo.phase >= 0)
            e1 = one @ topo.sens.T
            vlim = grid.max_vim_pct - SAFETY["vim_pp"]
            rel_u = fl.vim / vlim - 1.0
            parts.append(np.where((e1 > 1e-12) & (rel_u > 0), rel_u, neg))
        else:
            parts.append(np.full((R, B), neg))
    excess = np.concatenate(parts, axis=1)
    excess = np.where(np.isnan(excess), neg, excess)
    act = np.isfinite(excess).any(axis=1) if excess.shape[1] else np.zeros(R, dtype=bool)
    share = np.zeros((R, N))
    rows = np.flatnonzero(act)
    if not rows.size:
        return share, rows
    worst = np.argmax(excess[rows], axis=1)
    L = topo.below.shape[1]
    K = k
    spans = (("line", 0, L), ("trafo", L, L + K), ("over", L + K, L + K + B), ("vim", L + K + B, L + K + 2 * B))
    for kind, lo, hi in spans:
        sel = (worst >= lo) & (worst < hi)
        if not sel.any():
            continue
        r = rows[sel]
        e = worst[sel] - lo
        ex = exports[r]
        if kind == "line":
            w = ex * topo.below.T[e]  # kW of export below the line
            need = np.abs(fl.line_p[r, e]) * (1.0 - lim / fl.loading[r, e])
            if fl.line_i3 is not None:  # the most loaded phase: its own single-phase exporters, a third of the others
                cur = fl.line_i3[r, e]  # (n, 3) kA
                ph = np.argmax(cur, axis=1)
                wph = np.where(topo.phase[None, :] < 0, 1.0 / 3.0, (topo.phase[None, :] == ph[:, None]) * 1.0)
                if ((w * wph) > 1e-9).any(axis=1).all():
                    w = w * wph
                    p_phase = cur[np.arange(len(r)), ph] * topo.line_vn_kv[e] * 1000.0 / np.sqrt(3.0)
                    need = p_phase * (1.0 - lim / fl.loading[r, e])
        elif kind == "trafo":
            w = ex
            need = np.abs(fl.grid_kw[r]) * (1.0 - lim / fl.trafo_loading[r, e])
        else:
            sens = topo.sens[e]  # (n, N) pu per kW
            if fl.vm.ndim == 3:  # the violated phase: the highest voltage (exports raise their own phase)
                ph = np.argmax(fl.vm[r, e], axis=1)
                own = topo.phase[None, :] == ph[:, None]
                factor = np.where(topo.phase[None, :] < 0, 1.0, np.where(own, SINGLE_PHASE_FACTOR, 0.0))
                if kind == "vim":
                    factor = np.where(topo.phase[None, :] < 0, 0.0, factor)
                if not ((ex * sens * factor) > 1e-12).any(axis=1).all():  # no exporter on that phase: all of them
                    fallback = ~((ex * sens * factor) > 1e-12).any(axis=1)
                    factor[fallback] = np.where(topo.phase[None, :] < 0, 1.0, SINGLE_PHASE_FACTOR)
                sens = sens * factor
            w = ex * sens
            if kind == "over":
                need = fl.vm_max[r, e] - vmax
            else:
                need = None
        total = w.sum(axis=1)
        if need is None:  # VIM: roughly proportional to the unbalanced export
            vlim = grid.max_vim_pct - SAFETY["vim_pp"]  # type: ignore[operator]
            frac = (1.0 - vlim / fl.vim[r, e]) * (1.0 + MARGIN)  # type: ignore[index]
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                frac = need * (1.0 + MARGIN) / total
        frac = np.clip(np.nan_to_num(frac, nan=1.0, posinf=1.0), MIN_STEP, 1.0)
        share[r] = np.where(w > 0, frac[:, None], 0.0)
    return share, rows


#: Slots per block of a curtailment step (bounds the (slots x members) working arrays).
_BLOCK = 2048


def _curtail_blocks(
    p: np.ndarray, fl: _Flows, topo: FeederTopology, grid: GridOptions
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_curtail_step` in blocks of :data:`_BLOCK` slots."""
    if len(p) <= _BLOCK:
        return _curtail_step(p, fl, topo, grid)
    share = np.zeros_like(p)
    acted = []
    for start in range(0, len(p), _BLOCK):
        idx = np.arange(start, min(start + _BLOCK, len(p)))
        sh, rows = _curtail_step(p[idx], fl.take(idx), topo, grid)
        share[idx] = sh
        acted.append(idx[rows])
    return share, np.concatenate(acted)


def curtail_exports(
    feeder: pandapowerNet,
    net_kwh: np.ndarray,
    dt: float,
    grid: GridOptions,
    *,
    topology: FeederTopology | None = None,
    flow: Callable[[np.ndarray], Any] | None = None,
) -> Curtailed:
    """Spill exports until no slot breaks a limit that exports cause (see the module docstring).

    Parameters
    ----------
    feeder : pandapowerNet
        Radial feeder with the members (``net["peergrid_participants"]``).
    net_kwh : numpy.ndarray
        ``(T, N)`` members' net energy, kWh (+ import, − export).
    dt : float
        Step length, hours.
    grid : GridOptions
        Limits.
    topology : optional
        Precomputed feeder topology.
    flow : callable, optional
        ``flow(p_kw) -> FlowResult`` (default :func:`run_flow` with the unbalanced switch of
        :func:`needs_unbalanced`).

    Returns
    -------
    Curtailed
    """
    topo = topology or FeederTopology.of(feeder)
    unbalanced = needs_unbalanced(feeder, grid)
    if flow is None:
        def flow(p: np.ndarray) -> Any:
            return run_flow(feeder, p, dt, unbalanced)

    x = np.array(net_kwh, dtype=np.float64, copy=True)
    p = x / dt
    fl = _Flows.of(flow(p))
    before = _violating(fl, grid)
    rows = np.flatnonzero(_violating(fl, grid, slack=1.0))
    spilled_kw = np.zeros_like(p)
    it = 0
    while rows.size and it < MAX_ITER:
        sub = fl.take(rows)
        share, acted = _curtail_blocks(p[rows], sub, topo, grid)
        if not acted.size:
            break
        r = rows[acted]
        old = sub.take(acted)
        cut = share[acted] * np.maximum(-p[r], 0.0)
        p[r] += cut
        new = _Flows.of(flow(p[r]))
        # a cut that does not lower the slot's worst excess (e.g. an export that was easing the
        # imbalance import causes) is undone, and the slot is left as it was
        worse = _severity(new, grid) >= _severity(old, grid) - 1e-12
        p[r[worse]] -= cut[worse]
        cut[worse] = 0.0
        spilled_kw[r] += cut
        fl.put(r[~worse], new.take(~worse))
        it += 1
        keep = r[~worse]
        rows = keep[_violating(fl.take(keep), grid, slack=1.0)]
    after = _violating(fl, grid)
    spilled = spilled_kw * dt
    return Curtailed(x + spilled, spilled, fl, before, after, it, unbalanced)


def needs_unbalanced(feeder: pandapowerNet, grid: GridOptions) -> bool:
    """Three-phase flow: a VIM limit is set and some member sits on a single phase."""
    if grid.max_vim_pct is None:
        return False
    from peergrid.grid import participant_table

    return bool(participant_table(feeder)["phase"].isin(["a", "b", "c"]).any())


# ---- fees and losses: peergrid.grid.charges (line_fee_money, allocate_losses; shared with the service) ----


# ---- the outcome attached to a Result ------------------------------------------------------------------


#: Per-slot columns the network step adds to ``Result.steps`` (and reads back).
SLOT_COLUMNS = (
    "curtailed_kwh",
    "grid_losses_kwh",
    "transformer_import_kwh",
    "line_fees",
    "loss_charge",
    "max_line_loading_pct",
    "min_voltage_pu",
    "max_voltage_pu",
    "max_vim_pct",
    "violation_before",
    "violation_after",
)
#: Per-member columns the network step adds to ``Result.participants`` (and reads back).
MEMBER_COLUMNS = ("curtailed_kwh", "line_fees", "grid_losses_kwh", "loss_charge")


@dataclass
class NetworkOutcome:
    """What the feeder did to one market's result (``Result.network``).

    Attributes
    ----------
    options : GridOptions
        Feeder and limits.
    slot : dict of numpy.ndarray
        ``(T,)`` series of :data:`SLOT_COLUMNS` (kWh, currency, %, pu; flags as 0/1).
    member : dict of numpy.ndarray
        ``(N,)`` totals of :data:`MEMBER_COLUMNS` (kWh, currency).
    info : dict
        Flow method, unbalanced, iterations, violation counts (JSON-ready).
    feeder : pandapowerNet, optional
        The feeder (members on it).
    bus_kw : numpy.ndarray, optional
        ``(T, B)`` net power injected per bus (+ = consumption, the load convention), kW.
    bus_phase_kw : numpy.ndarray, optional
        ``(T, B, 3)`` the same per phase (three-phase members split equally); unbalanced runs.
    line_loading : numpy.ndarray, optional
        ``(T, L)`` line loading of the settled positions, %.
    """

    options: GridOptions
    slot: dict[str, np.ndarray]
    member: dict[str, np.ndarray]
    info: dict[str, object]
    feeder: Any = field(default=None, repr=False)
    bus_kw: np.ndarray | None = field(default=None, repr=False)
    bus_phase_kw: np.ndarray | None = field(default=None, repr=False)
    line_loading: np.ndarray | None = field(default=None, repr=False)
    bus: np.ndarray | None = field(default=None, repr=False)
    line: np.ndarray | None = field(default=None, repr=False)

    @property
    def line_fees(self) -> float:
        """Σ line-utilisation fees, currency."""
        return float(self.member["line_fees"].sum())

    @property
    def loss_charge(self) -> float:
        """Σ loss charges, currency."""
        return float(self.member["loss_charge"].sum())

    def metrics(self) -> dict[str, float]:
        """The per-market network metrics of :data:`peergrid.metrics.NETWORK_METRICS`."""
        s = self.slot

        def ext(key: str, fn: Callable[[np.ndarray], float]) -> float:
            a = s[key]
            return float(fn(a)) if a.size and not np.all(np.isnan(a)) else math.nan

        return {
            "line_fees": self.line_fees,
            "curtailed_kwh": float(self.member["curtailed_kwh"].sum()),
            "losses_kwh": float(s["grid_losses_kwh"].sum()),
            "max_line_loading_pct": ext("max_line_loading_pct", np.nanmax),
            "min_voltage_pu": ext("min_voltage_pu", np.nanmin),
            "max_vim_pct": ext("max_vim_pct", np.nanmax),
        }

    def summary(self) -> dict[str, object]:
        """JSON-ready: options, flow method, violation counts, loss charge."""
        return {
            **self.options.to_dict(),
            **self.info,
            "loss_charge": self.loss_charge,
        }

    # ---- persistence -----------------------------------------------------------------------------
    def write(self, d: Path) -> None:
        """Write ``feeder.json`` (pandapower JSON), ``bus_injections.parquet`` (T x buses, kW)
        and ``line_loading.parquet`` (T x lines, %) into result directory ``d``."""
        from peergrid.grid._pp import pandapower

        if self.feeder is not None:
            (d / "feeder.json").write_text(pandapower().to_json(self.feeder))
        if self.bus_kw is not None and self.bus is not None:
            frame = pd.DataFrame(self.bus_kw, columns=[str(b) for b in self.bus])
            if self.bus_phase_kw is not None:
                for j, ph in enumerate("abc"):
                    frame = frame.join(pd.DataFrame(self.bus_phase_kw[:, :, j],
                                                    columns=[f"{b}/{ph}" for b in self.bus]))  # fmt: skip
            frame.to_parquet(d / "bus_injections.parquet", compression="zstd")
        if self.line_loading is not None and self.line is not None:
            pd.DataFrame(self.line_loading.astype(np.float32), columns=[str(x) for x in self.line]).to_parquet(
                d / "line_loading.parquet", compression="zstd"
            )

    def meta(self) -> dict[str, object]:
        """The ``"grid"`` entry of ``result.json``."""
        return {"options": self.options.to_dict(), "info": self.info}

    @classmethod
    def restore(cls, meta: Mapping[str, Any], steps: pd.DataFrame, bills: pd.DataFrame | None,
                parts: pd.DataFrame | None, d: Path | None) -> NetworkOutcome:  # fmt: skip
        """Rebuild from ``result.json``'s ``"grid"``, ``steps``, ``participants`` and the grid files."""
        opts = GridOptions(**meta["options"])
        slot = {k: steps[k].to_numpy(dtype=np.float64) for k in SLOT_COLUMNS if k in steps}
        member: dict[str, np.ndarray] = {}
        if parts is not None:
            member = {k: parts[k].to_numpy(dtype=np.float64) for k in MEMBER_COLUMNS if k in parts}
        out = cls(opts, slot, member, dict(meta.get("info", {})))
        if d is not None:
            out.read_files(d)
        return out

    def read_files(self, d: Path) -> None:
        """Read ``feeder.json``, ``bus_injections.parquet`` and ``line_loading.parquet`` when present."""
        if (d / "feeder.json").is_file():
            self.feeder = read_result_feeder(d / "feeder.json")
        if (d / "bus_injections.parquet").is_file():
            frame = pd.read_parquet(d / "bus_injections.parquet")
            cols = [c for c in frame.columns if "/" not in c]
            self.bus = np.array([int(c) for c in cols])
            self.bus_kw = frame[cols].to_numpy(dtype=np.float64)
            if any("/" in c for c in frame.columns):
                self.bus_phase_kw = np.stack(
                    [frame[[f"{b}/{ph}" for b in cols]].to_numpy(dtype=np.float64) for ph in "abc"], axis=2
                )
        if (d / "line_loading.parquet").is_file():
            frame = pd.read_parquet(d / "line_loading.parquet")
            self.line = np.array([int(c) for c in frame.columns])
            self.line_loading = frame.to_numpy(dtype=np.float64)


def read_result_feeder(path: Path) -> pandapowerNet:
    """The feeder of a result directory, through the safe reader :func:`peergrid.grid.read_feeder`."""
    from peergrid.grid import read_feeder

    return read_feeder(path)


# ---- orchestration -------------------------------------------------------------------------------


@dataclass
class _Physical:
    """The market-independent part of the network step for one ``(T, N)`` net array."""

    curtailed: Curtailed
    losses_member: np.ndarray  # (T, N) kWh
    bus_kw: np.ndarray
    bus_phase_kw: np.ndarray | None
    info: dict[str, object]


def _physical(
    feeder: pandapowerNet, topo: FeederTopology, net_kwh: np.ndarray, dt: float, grid: GridOptions
) -> _Physical:
    cur = curtail_exports(feeder, net_kwh, dt, grid, topology=topo)
    fl = cur.flows
    losses = np.nan_to_num(fl.losses_kw * dt)  # a slot whose flow failed (voltage collapse) counts no losses
    p = cur.net / dt
    B = len(topo.bus)
    onehot = np.zeros((p.shape[1], B))
    onehot[np.arange(p.shape[1]), topo.member_bus] = 1.0
    bus_kw = p @ onehot
    bus_phase = None
    if cur.unbalanced:
        bus_phase = np.zeros((p.shape[0], B, 3))
        for j in range(3):
            w = np.where(topo.phase == j, 1.0, np.where(topo.phase < 0, 1.0 / 3.0, 0.0))
            bus_phase[:, :, j] = (p * w) @ onehot
    after = cur.violating_after
    info = {
        "flow": FLOW_METHOD,
        "unbalanced": cur.unbalanced,
        "buses": int(B),
        "lines": int(topo.below.shape[1]),
        "iterations": int(cur.iterations),
        "violating_slots_before": int(cur.violating_before.sum()),
        "violating_slots_after": int(after.sum()),
        "curtailed_slots": int((cur.spilled.sum(axis=1) > 0).sum()),
        "not_converged_slots": int((~fl.converged).sum()),
        "safety_margins": dict(SAFETY),
    }
    return _Physical(cur, allocate_losses(cur.net, losses), bus_kw, bus_phase, info)


def apply_network(
    community: Community,
    results: dict[str, Result],
    grid: GridOptions,
    clear: Callable[[str, np.ndarray, Any], Clearing],
) -> dict[str, Result]:
    """Run the network step on every market's result (see the module docstring).

    Parameters
    ----------
    community : Community
        The simulated community (prices, step).
    results : dict
        ``{market: Result}`` after the final clearing.
    grid : GridOptions
        Feeder and limits.
    clear : callable
        ``clear(market, net, schedule) -> Clearing``: clears a market again on curtailed positions.

    Returns
    -------
    dict
        ``{market: Result}`` with curtailed ``net``, re-matched ``clearing`` and ``network`` set.
    """
    from peergrid.market.sharing import no_p2p

    feeder = build_grid_feeder(community, grid)
    topo = FeederTopology.of(feeder)
    dt = community.dt
    cache: dict[int, _Physical] = {}
    out: dict[str, Result] = {}
    for name, res in results.items():
        key = id(res.net)
        if key not in cache:
            cache[key] = _physical(feeder, topo, res.net, dt, grid)
        phys = cache[key]
        cur = phys.curtailed
        changed = bool(cur.spilled.any())
        x = cur.net if changed else res.net
        if changed:
            if name == "baseline":
                from peergrid.market.sharing import demand_supply

                d, g = demand_supply(x)
                clearing = no_p2p(d, g, community.retail, community.feed_in)
            else:
                clearing = clear(name, x, res.battery)
        else:
            clearing = res.clearing
        fl = cur.flows
        alloc = clearing.allocate(x)
        fees = (
            line_fee_money(alloc.bought, alloc.sold, fl.line_p, topo, grid.fee_per_kwh)
            if name != "baseline"
            else np.zeros_like(x)
        )
        loss_kwh = phys.losses_member
        loss_charge = loss_kwh * community.retail[:, None]
        vim = fl.vim.max(axis=1) if fl.vim is not None and fl.vim.shape[1] else np.full(len(x), np.nan)
        slot = {
            "curtailed_kwh": cur.spilled.sum(axis=1),
            "grid_losses_kwh": np.nan_to_num(fl.losses_kw * dt),
            "transformer_import_kwh": fl.grid_kw * dt,
            "line_fees": fees.sum(axis=1),
            "loss_charge": loss_charge.sum(axis=1),
            "max_line_loading_pct": _rowmax(fl.loading),
            "min_voltage_pu": fl.vm_min.min(axis=1),
            "max_voltage_pu": fl.vm_max.max(axis=1),
            "max_vim_pct": vim,
            "violation_before": cur.violating_before.astype(np.float64),
            "violation_after": cur.violating_after.astype(np.float64),
        }
        member = {
            "curtailed_kwh": cur.spilled.sum(axis=0),
            "line_fees": fees.sum(axis=0),
            "grid_losses_kwh": loss_kwh.sum(axis=0),
            "loss_charge": loss_charge.sum(axis=0),
        }
        outcome = NetworkOutcome(
            grid, slot, member, dict(phys.info), feeder=feeder, bus_kw=phys.bus_kw, bus_phase_kw=phys.bus_phase_kw,
            line_loading=fl.loading, bus=topo.bus, line=topo.line,
        )  # fmt: skip
        new = replace(res, net=x, clearing=clearing, baseline=None) if changed else replace(res)  # type: ignore[arg-type]
        new.network = outcome
        for cached in ("participants", "steps", "_bills", "metrics", "_participant_sums", "_baseline_total_bill"):
            new.__dict__.pop(cached, None)
        out[name] = new
    return out


def _rowmax(a: np.ndarray) -> np.ndarray:
    if a.shape[1] == 0:
        return np.zeros(a.shape[0])
    with np.errstate(invalid="ignore"):
        return np.nanmax(np.where(np.isnan(a), -np.inf, a), axis=1)
