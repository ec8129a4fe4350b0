"""One-slot AC flows on one feeder, many times: the flow behind curtailment and network-aware clearing.

:func:`~peergrid.grid.curtail_to_limits`, :class:`~peergrid.grid.FeederLimits` and
:func:`~peergrid.grid.clear_on_feeder` solve the same feeder again and again with other
injections (every curtailment step, bisection step, matching round and settled slot).
:class:`SlotFlows` is the one place that picks the solver:

- ``flow="sweep"`` (default): :func:`~peergrid.grid.sweep_flow`'s backward/forward sweep,
  balanced or three-phase. The feeder's sweep model is looked up once per
  :class:`SlotFlows` (one content fingerprint, one pandapower run to build it if it is not
  cached) and reused by every call; injections are passed as arrays, the net is never edited.
- ``flow="pandapower"``: pandapower's Newton–Raphson (``runpp`` / ``runpp_3ph``, as
  :func:`~peergrid.grid.power_flow` and :func:`~peergrid.grid.power_flow_3ph`).

When the sweep refuses a net (more than one slack, PV generators, three-winding
transformers, DC lines, voltage-dependent or delta loads: it raises a
:class:`~peergrid.core.errors.DataError` naming them), pandapower is used for that kind of
flow and :attr:`SlotFlows.fallback` says why.

Limits with the sweep are checked with a guard band (:data:`SWEEP_GUARD`) a few times
wider than the sweep's measured disagreement with pandapower (docs/grid.md), so that a
state the sweep accepts is also within the limits on pandapower's own flow.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from peergrid.core.errors import ConfigError, DataError
from peergrid.core.types import ArrayLike, FloatArray
from peergrid.grid._pp import PARTICIPANTS_KEY, pandapower

if TYPE_CHECKING:
    from pandapower.auxiliary import pandapowerNet

    from peergrid.grid.flow import FlowResult

#: Flow solvers of curtailment and network-aware clearing; the first is the default.
FLOWS = ("sweep", "pandapower")
#: How much stricter the limits are checked on the sweep than configured: line/transformer loading
#: (percentage points), voltage (pu) and VIM (percentage points); the sweep agrees with pandapower to
#: ≤ 6e-3 pp, 6e-6 pu and 1e-4 pp on the feeders measured (docs/grid.md).
SWEEP_GUARD = {"loading_pct": 0.01, "v_pu": 1e-5, "vim_pct": 1e-3}


def check_flow(flow: str) -> str:
    """The normalised flow name (``"sweep"`` or ``"pandapower"``).

    Raises
    ------
    ConfigError
        Any other name.
    """
    name = str(flow).strip().lower()
    if name not in FLOWS:
        raise ConfigError(f"flow must be one of {', '.join(FLOWS)}; got {flow!r}")
    return name


class SlotFlows:
    """Repeated one-slot AC flows on one (unmodified) feeder with the chosen solver.

    Parameters
    ----------
    net : pandapowerNet
        Radial feeder; a participants table is optional (``bus_kw`` injections only without one).
    flow : {"sweep", "pandapower"}
        Solver (module docstring); the sweep falls back to pandapower on nets it refuses.
    numba : bool, optional
        pandapower's numba kernels (pandapower only).

    Attributes
    ----------
    flow : str
        The requested solver.
    fallback : str or None
        Why pandapower replaced the sweep (the sweep's error message), if it did.
    """

    def __init__(self, net: pandapowerNet, flow: str = "sweep", *, numba: bool | None = None) -> None:
        self.net = net
        self.flow = check_flow(flow)
        self.numba = numba
        self.fallback: str | None = None
        table = net.get(PARTICIPANTS_KEY) if hasattr(net, "get") else None
        self.table = table if isinstance(table, pd.DataFrame) else pd.DataFrame(
            {"id": pd.Series(dtype=str), "bus": pd.Series(dtype=np.int64), "phase": pd.Series(dtype=str),
             "load": pd.Series(dtype=np.int64)}
        )  # fmt: skip
        self._models: dict[bool, Any] = {}
        self._pp_bus: Any = None

    @property
    def method(self) -> str:
        """The solver in use: ``"sweep"``, ``"pandapower"`` or ``"sweep+pandapower"`` (partial fallback)."""
        if self.flow == "pandapower":
            return "pandapower"
        swept = [m is not None for m in self._models.values()]
        if all(swept):
            return "sweep"
        return "sweep+pandapower" if any(swept) else "pandapower"

    def _model(self, unbalanced: bool) -> Any:
        """The sweep model (None: use pandapower), looked up once per kind."""
        if self.flow == "pandapower":
            return None
        if unbalanced not in self._models:
            from peergrid.grid.sweep import cached_model

            try:
                self._models[unbalanced] = cached_model(self.net, self.table, unbalanced)
            except DataError as exc:
                self._models[unbalanced] = None
                self.fallback = str(exc)
        return self._models[unbalanced]

    def uses_sweep(self, unbalanced: bool = False) -> bool:
        """Whether flows of this kind run on the sweep."""
        return self._model(unbalanced) is not None

    def limits(self, limits: dict[str, Any], unbalanced: bool = False) -> dict[str, Any]:
        """``limits`` (``check_limits`` keywords) tightened by :data:`SWEEP_GUARD` when the sweep solves."""
        if not self.uses_sweep(unbalanced):
            return dict(limits)
        out = dict(limits)
        cap = limits["max_loading_pct"]
        out["max_loading_pct"] = max(cap - SWEEP_GUARD["loading_pct"], 0.5 * cap)
        out["v_min"] = limits["v_min"] + SWEEP_GUARD["v_pu"]
        out["v_max"] = limits["v_max"] - SWEEP_GUARD["v_pu"]
        if out["v_min"] >= out["v_max"]:
            out["v_min"], out["v_max"] = limits["v_min"], limits["v_max"]
        if limits.get("max_vim_pct") is not None:
            vim = limits["max_vim_pct"]
            out["max_vim_pct"] = max(vim - SWEEP_GUARD["vim_pct"], 0.5 * vim)
        return out

    def __call__(
        self,
        p_kw: ArrayLike,
        q_kvar: ArrayLike | None = None,
        *,
        bus_kw: FloatArray | None = None,
        unbalanced: bool = False,
    ) -> FlowResult:
        """One slot's flow.

        Parameters
        ----------
        p_kw, q_kvar : numpy.ndarray
            ``(N,)`` participants' net power, kW / kvar (+ = consumption), participants-table order.
        bus_kw : numpy.ndarray, optional
            ``(B,)`` extra balanced loads at the buses of ``net.bus`` (in its order), kW; balanced flow only.
        unbalanced : bool
            Three-phase flow with every participant on its phase (:class:`~peergrid.grid.FlowResult3ph`).

        Returns
        -------
        FlowResult or FlowResult3ph
            One row (``slots == [0]``); a slot without a solution is NaN with ``converged`` False.
        """
        p = np.asarray(p_kw, dtype=np.float64).reshape(1, -1)
        q = np.zeros_like(p) if q_kvar is None else np.asarray(q_kvar, dtype=np.float64).reshape(1, -1)
        if unbalanced and bus_kw is not None:
            raise DataError("SlotFlows: bus_kw injections are balanced-flow only")
        model = self._model(unbalanced)
        rows = np.array([0])
        if model is not None:
            from peergrid.grid.sweep import DEFAULT_MAX_ITER, DEFAULT_TOL, sweep_balanced, sweep_unbalanced

            f64 = np.dtype(np.float64)
            if unbalanced:
                return sweep_unbalanced(
                    self.net, self.table, p, q, rows, 1.0, DEFAULT_TOL, DEFAULT_MAX_ITER, f64, model
                )
            extra = None if bus_kw is None else np.asarray(bus_kw, dtype=np.float64).reshape(1, -1)
            return sweep_balanced(
                self.net, self.table, p, q, rows, 1.0, DEFAULT_TOL, DEFAULT_MAX_ITER, f64, model, extra
            )
        from peergrid.grid.flow import power_flow, power_flow_3ph

        if unbalanced:
            return power_flow_3ph(self.net, p, q, numba=self.numba)
        if bus_kw is None:
            return power_flow(self.net, p, q, numba=self.numba)
        return self._pandapower_bus(p[0], q[0], np.asarray(bus_kw, dtype=np.float64))

    def _pandapower_bus(self, p: FloatArray, q: FloatArray, bus_kw: FloatArray) -> FlowResult:
        """pandapower's ``runpp`` on a private copy with one extra load per bus (recycled between calls)."""
        from peergrid.grid._common import use_numba
        from peergrid.grid.flow import BalancedRuns

        if self._pp_bus is None:
            pp = pandapower()
            work = copy.deepcopy(self.net)
            buses = self.net.bus.index.to_numpy()
            extra = pp.create_loads(work, buses, 0.0, q_mvar=0.0, name=[f"peergrid trades @{b}" for b in buses])
            loads = np.concatenate([self.table["load"].to_numpy(dtype=np.int64), np.asarray(extra, dtype=np.int64)])
            self._pp_bus = BalancedRuns(work, loads, use_numba(self.numba, len(buses), 100))
        engine = self._pp_bus
        ok = engine.run(np.concatenate([p, bus_kw]), np.concatenate([q, np.zeros(len(bus_kw))]))
        engine.rows = {}
        engine.collect(ok)
        out: FlowResult = engine.result(np.array([0]), np.array([ok]), 1.0)
        return out
