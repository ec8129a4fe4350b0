"""Operating limits: which slots, lines and buses of a flow overload or leave the voltage band.

Defaults follow EN 50160 (supply voltage within ±5 % is the usual planning band for LV
feeders; the standard itself allows ±10 %) and the thermal rating of the cables and the
transformer (100 % loading).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from peergrid.core.errors import DataError
from peergrid.core.types import BoolArray, IndexArray, IntArray
from peergrid.grid.flow import FlowResult, FlowResult3ph


@dataclass(frozen=True)
class Violations:
    """Limit violations of a :class:`~peergrid.grid.FlowResult`, as boolean masks.

    Attributes
    ----------
    slots, bus, line, trafo : numpy.ndarray
        Labels of the rows (slot numbers) and columns (pandapower indices), copied from the flow.
    overloaded : numpy.ndarray
        ``(T, L)`` line loading above ``max_loading_pct``.
    trafo_overloaded : numpy.ndarray
        ``(T, K)`` transformer loading above ``max_loading_pct``.
    undervoltage, overvoltage : numpy.ndarray
        ``(T, B)`` some phase below ``v_min`` / above ``v_max``.
    unbalanced : numpy.ndarray
        ``(T, B)`` VIM above ``max_vim_pct`` (all False unless a 3-phase flow and a limit are given).
    not_converged : numpy.ndarray
        ``(T,)`` slots whose power flow failed (usually a voltage collapse): always a violation.
    limits : dict
        The limits used.
    """

    slots: IndexArray
    bus: IntArray
    line: IntArray
    trafo: IntArray
    overloaded: BoolArray
    trafo_overloaded: BoolArray
    undervoltage: BoolArray
    overvoltage: BoolArray
    unbalanced: BoolArray
    not_converged: BoolArray
    limits: dict[str, Any] = field(default_factory=dict)

    @property
    def slot_mask(self) -> BoolArray:
        """``(T,)`` slots with at least one violation."""
        return (
            self.overloaded.any(axis=1)
            | self.trafo_overloaded.any(axis=1)
            | self.undervoltage.any(axis=1)
            | self.overvoltage.any(axis=1)
            | self.unbalanced.any(axis=1)
            | self.not_converged
        )

    @property
    def any(self) -> bool:
        """Whether any limit is violated in any slot."""
        return bool(self.slot_mask.any())

    @property
    def bad_slots(self) -> IndexArray:
        """Slot numbers with at least one violation."""
        return self.slots[self.slot_mask]

    @property
    def lines(self) -> IntArray:
        """pandapower indices of lines overloaded in some slot."""
        return self.line[self.overloaded.any(axis=0)]

    @property
    def buses(self) -> IntArray:
        """pandapower indices of buses outside the voltage band (or the VIM limit) in some slot."""
        return self.bus[(self.undervoltage | self.overvoltage | self.unbalanced).any(axis=0)]

    def counts(self) -> dict[str, int]:
        """Number of (slot, element) violations per kind (JSON-friendly)."""
        return {
            "overloaded_lines": int(self.overloaded.sum()),
            "overloaded_trafos": int(self.trafo_overloaded.sum()),
            "undervoltage": int(self.undervoltage.sum()),
            "overvoltage": int(self.overvoltage.sum()),
            "unbalanced": int(self.unbalanced.sum()),
            "not_converged": int(self.not_converged.sum()),
            "slots": int(self.slot_mask.sum()),
        }

    def to_frame(self, flow: FlowResult | None = None) -> pd.DataFrame:
        """One row per violation: ``slot``, ``kind``, ``element`` (pandapower index), ``value``, ``limit``.

        Parameters
        ----------
        flow : FlowResult, optional
            The flow the violations came from, to fill ``value`` (NaN otherwise).
        """
        lim = self.limits
        parts = []
        specs = [
            ("line_overload", self.overloaded, self.line, lim.get("max_loading_pct"), "loading_pct"),
            ("trafo_overload", self.trafo_overloaded, self.trafo, lim.get("max_loading_pct"), "trafo_loading_pct"),
            ("undervoltage", self.undervoltage, self.bus, lim.get("v_min"), "vm_min_pu"),
            ("overvoltage", self.overvoltage, self.bus, lim.get("v_max"), "vm_max_pu"),
            ("unbalance", self.unbalanced, self.bus, lim.get("max_vim_pct"), "vim_pct"),
        ]
        for kind, mask, labels, limit, attr in specs:
            t, e = np.nonzero(mask)
            values = getattr(flow, attr)[t, e] if flow is not None and hasattr(flow, attr) else np.full(len(t), np.nan)
            parts.append(
                pd.DataFrame(
                    {"slot": self.slots[t], "kind": kind, "element": labels[e], "value": values, "limit": limit}
                )
            )
        t = np.flatnonzero(self.not_converged)
        parts.append(pd.DataFrame({"slot": self.slots[t], "kind": "not_converged", "element": -1,
                                   "value": np.nan, "limit": np.nan}))  # fmt: skip
        parts = [p for p in parts if len(p)]
        if not parts:
            return pd.DataFrame({"slot": [], "kind": [], "element": [], "value": [], "limit": []})
        return pd.concat(parts, ignore_index=True).sort_values(["slot", "kind", "element"], ignore_index=True)


def check_limits(
    flow: FlowResult,
    *,
    max_loading_pct: float = 100.0,
    v_min: float = 0.95,
    v_max: float = 1.05,
    max_vim_pct: float | None = None,
) -> Violations:
    """Flag slots, lines, transformers and buses that overload or leave the voltage band.

    Parameters
    ----------
    flow : FlowResult or FlowResult3ph
        Output of :func:`~peergrid.grid.power_flow` or :func:`~peergrid.grid.power_flow_3ph`.
    max_loading_pct : float
        Highest allowed line and transformer loading, % of the rated current.
    v_min, v_max : float
        Voltage band, per unit (every phase for 3-phase results).
    max_vim_pct : float, optional
        Highest allowed voltage imbalance (VIM, Tooki et al. eq. 13), %; only for
        3-phase results (e.g. 2 %, the EN 50160 limit for the unbalance factor).

    Returns
    -------
    Violations

    Raises
    ------
    DataError
        Limits that are not positive or ``v_min >= v_max``.
    """
    if not (max_loading_pct > 0 and 0 < v_min < v_max):
        raise DataError(f"need max_loading_pct > 0 and 0 < v_min < v_max, got {max_loading_pct}, {v_min}, {v_max}")
    if max_vim_pct is not None and not max_vim_pct > 0:
        raise DataError(f"max_vim_pct must be > 0, got {max_vim_pct}")
    with np.errstate(invalid="ignore"):
        unbalanced = (
            flow.vim_pct > max_vim_pct
            if isinstance(flow, FlowResult3ph) and max_vim_pct is not None
            else np.zeros(flow.vm_min_pu.shape, dtype=bool)
        )
        return Violations(
            slots=flow.slots,
            bus=flow.bus,
            line=flow.line,
            trafo=flow.trafo,
            overloaded=flow.loading_pct > max_loading_pct,
            trafo_overloaded=flow.trafo_loading_pct > max_loading_pct,
            undervoltage=flow.vm_min_pu < v_min,
            overvoltage=flow.vm_max_pu > v_max,
            unbalanced=unbalanced,
            not_converged=~flow.converged,
            limits={"max_loading_pct": max_loading_pct, "v_min": v_min, "v_max": v_max, "max_vim_pct": max_vim_pct},
        )
