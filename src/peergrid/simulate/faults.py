"""Node failure: inject controller and meter faults into a simulation (Lange).

Lange (2025) reports that the cloud-coordinated P2P community "maintains stable
operation under node failure": "even if several nodes fail, the remaining nodes are
able to carry the burden of the failing subsystem". peergrid injects two kinds of
failure of one participant over a window of steps ``[start, end)``:

* ``"controller"`` — the participant's controller is down: its battery stays idle
  in the window (no charge, no discharge). The other controllers keep their
  set-points; after the window the battery resumes its set-points from the state of
  charge it actually has (set-points are clipped to what the battery can do).
* ``"meter"`` — the participant's readings are missing: the market settles the
  window on an estimate (``"persistence"``: the last good reading, held; ``"zero"``:
  nothing). Physics does not care: the grid connection delivers the true net energy,
  so the estimation error is an **imbalance** the community settles with its supplier
  at grid prices. Per slot, imbalance cost = bill at the point of common coupling
  with true readings − bill with the settled readings
  (:func:`peergrid.market.settle_imbalance`, ``at="connection"``).

Member bills are cleared on the settled readings, so every market invariant (energy:
Σ settled net = import − export; money: Σ member bills = grid bill) holds on what is
settled; adding the imbalance gives the community's true grid bill. Served demand
is unaffected: the grid connection covers whatever the community cannot.

:func:`peergrid.simulate` and :func:`peergrid.compare` take ``faults=[Fault(...), ...]``;
:func:`fault_study` runs a case with and without the faults and reports served
demand, cost and the balance checks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from peergrid.control._common import participant_columns
from peergrid.control.greedy import BatterySchedule
from peergrid.core.community import Community
from peergrid.core.errors import ConfigError
from peergrid.market.settle import settle_imbalance
from peergrid.market.sharing import Clearing
from peergrid.metrics import self_sufficiency

__all__ = ["Fault", "FaultOutcome", "apply_controller_faults", "apply_faults", "fault_study", "meter_estimate"]

FaultKind = Literal["controller", "meter"]


@dataclass(frozen=True)
class Fault:
    """One participant's controller or meter out of service over ``[start, end)``.

    Attributes
    ----------
    participant : int or str
        Position (0 … N−1) or id.
    start, end : int, str or pandas.Timestamp
        First step of the window and one past its last step: step numbers, or
        timestamps (naive = UTC) that are looked up in the community's index.
    kind : {"controller", "meter"}
        What fails.
    estimate : {"persistence", "zero"}
        Meter faults: how the missing readings are estimated.
    """

    participant: int | str
    start: int | str | pd.Timestamp
    end: int | str | pd.Timestamp
    kind: FaultKind = "controller"
    estimate: Literal["persistence", "zero"] = "persistence"

    def __post_init__(self) -> None:
        if self.kind not in ("controller", "meter"):
            raise ConfigError(f"fault kind must be 'controller' or 'meter', got {self.kind!r}")
        if self.estimate not in ("persistence", "zero"):
            raise ConfigError(f"fault estimate must be 'persistence' or 'zero', got {self.estimate!r}")

    def window(self, community: Community) -> tuple[int, int, int]:
        """Participant column and step window ``(column, start, end)`` in ``community``."""
        col = int(participant_columns(community, self.participant, "faulty participant")[0])
        t0, t1 = _step(community, self.start, "start"), _step(community, self.end, "end")
        if not 0 <= t0 < t1 <= community.T:
            raise ConfigError(f"fault window [{self.start}, {self.end}) must satisfy 0 <= start < end <= {community.T}")
        return col, t0, t1


def _step(community: Community, value: object, what: str) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"fault {what} must be a step number or a timestamp, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    try:
        ts = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ConfigError(f"fault {what} {value!r} is neither a step number nor a timestamp") from None
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    idx = community.index
    if ts == idx[-1] + idx.freq:
        return community.T
    pos = idx.get_indexer([ts])[0]
    if pos < 0:
        raise ConfigError(f"fault {what} {ts.isoformat()} is not a step of {community.name}")
    return int(pos)


def _resolve(community: Community, faults: Iterable[Fault]) -> list[tuple[Fault, int, int, int]]:
    out = []
    for f in faults:
        if not isinstance(f, Fault):
            raise ConfigError(f"faults must be peergrid.simulate.faults.Fault objects, got {type(f).__name__}")
        out.append((f, *f.window(community)))
    return out


def apply_controller_faults(
    community: Community, schedule: BatterySchedule, faults: Iterable[Fault]
) -> BatterySchedule:
    """Battery schedule with the faulty controllers' batteries idle in their windows.

    Parameters
    ----------
    community : Community
    schedule : BatterySchedule
        Set-points of the healthy run.
    faults : iterable of Fault
        Only ``kind="controller"`` faults act here.

    Returns
    -------
    BatterySchedule
        Same type as ``schedule``. Affected batteries are re-simulated from the first
        fault on: idle in the windows, afterwards their set-points clipped to the
        power and SOC limits of the state of charge they really have.
    """
    items = [(c, t0, t1) for f, c, t0, t1 in _resolve(community, faults) if f.kind == "controller"]
    if not items or schedule.owners.size == 0:
        return schedule
    T = community.T
    col_of = {int(o): j for j, o in enumerate(schedule.owners)}
    idle = np.zeros((T, schedule.owners.size), dtype=bool)
    for c, t0, t1 in items:  # a handful of faults
        if c in col_of:
            idle[t0:t1, col_of[c]] = True
    hit = np.flatnonzero(idle.any(axis=0))
    if hit.size == 0:
        return schedule
    sel = community.participants.iloc[schedule.owners[hit]]
    cap = schedule.capacity[hit]
    e_min = sel["soc_min"].to_numpy(np.float64) * cap
    e_max = sel["soc_max"].to_numpy(np.float64) * cap
    eta_c = sel["battery_eff_charge"].to_numpy(np.float64)
    eta_d = sel["battery_eff_discharge"].to_numpy(np.float64)
    step = sel["battery_kw"].to_numpy(np.float64) * community.dt
    first = int(np.argmax(idle[:, hit].any(axis=1)))
    charge = schedule.charge.copy()
    discharge = schedule.discharge.copy()
    energy = schedule.energy.copy()
    if first > 0:
        e = energy[first - 1, hit].copy()
    else:
        e = np.clip(sel["soc_init"].to_numpy(np.float64) * cap, e_min, e_max)
    for t in range(first, T):
        off = idle[t, hit]
        room = np.minimum(step, np.maximum(e_max - e, 0.0) / eta_c)
        avail = np.minimum(step, np.maximum(e - e_min, 0.0) * eta_d)
        c = np.where(off, 0.0, np.minimum(charge[t, hit], room))
        d = np.where(off, 0.0, np.minimum(discharge[t, hit], avail))
        e = np.clip(e + eta_c * c - d / eta_d, e_min, e_max)
        charge[t, hit], discharge[t, hit], energy[t, hit] = c, d, e
    return dataclasses.replace(schedule, charge=charge, discharge=discharge, energy=energy)


def meter_estimate(community: Community, net: np.ndarray, faults: Iterable[Fault]) -> np.ndarray:
    """Net readings the settlement sees, ``(T, N)`` kWh, with meter faults estimated.

    Parameters
    ----------
    community : Community
    net : numpy.ndarray
        ``(T, N)`` true net energy after control, kWh.
    faults : iterable of Fault
        Only ``kind="meter"`` faults act here.

    Returns
    -------
    numpy.ndarray
        ``net`` itself when there is no meter fault, else a copy where each faulty
        window holds the estimate: persistence repeats the last settled reading before
        the window (the first reading after it when the window starts at step 0,
        0 when it covers the horizon); ``"zero"`` settles nothing.
    """
    items = sorted(
        ((t0, t1, c, f.estimate) for f, c, t0, t1 in _resolve(community, faults) if f.kind == "meter"),
    )
    if not items:
        return net
    settled = np.array(net, dtype=np.float64, copy=True)
    T = settled.shape[0]
    for t0, t1, c, how in items:  # a handful of faults, in time order
        if how == "zero":
            value = 0.0
        elif t0 > 0:
            value = settled[t0 - 1, c]
        else:
            value = net[t1, c] if t1 < T else 0.0
        settled[t0:t1, c] = value
    return settled


def apply_faults(
    community: Community, schedule: BatterySchedule, faults: Iterable[Fault]
) -> tuple[BatterySchedule, np.ndarray, np.ndarray]:
    """Apply controller and meter faults.

    Parameters
    ----------
    community : Community
    schedule : BatterySchedule
        Healthy set-points.
    faults : iterable of Fault

    Returns
    -------
    schedule : BatterySchedule
        With controller faults applied.
    true_net : numpy.ndarray
        ``(T, N)`` net energy that really flows, kWh.
    settled_net : numpy.ndarray
        ``(T, N)`` net energy the market settles (``true_net`` itself without meter faults).
    """
    faults = list(faults)
    schedule = apply_controller_faults(community, schedule, faults)
    true_net = schedule.apply(community.net, inplace=True)
    return schedule, true_net, meter_estimate(community, true_net, faults)


@dataclass(frozen=True)
class FaultOutcome:
    """What the faults did to one market's result.

    Attributes
    ----------
    faults : tuple of Fault
    true_clearing : Clearing
        The market cleared on the true readings (what the grid connection sees).
    imbalance_kwh : numpy.ndarray
        Σ_i (true − settled) net energy per step, kWh (+ = more import than settled).
    controller_fault_steps, meter_fault_steps : int
        Participant-steps out of service.
    """

    faults: tuple[Fault, ...]
    true_clearing: Clearing
    imbalance_kwh: np.ndarray
    controller_fault_steps: int
    meter_fault_steps: int

    def metrics(self, settled: Clearing, load_kwh: float) -> dict[str, float]:
        """Fault metrics of a result (currency, kWh).

        Keys: ``imbalance_kwh`` (Σ|imbalance|), ``imbalance_net_kwh`` (signed),
        ``imbalance_cost`` (true grid bill − settled grid bill), ``true_community_cost``,
        ``settled_community_cost``, ``served_demand_kwh`` (= load: the grid backs the
        community up), ``locally_served_kwh`` (load − true grid import),
        ``true_self_sufficiency``, ``controller_fault_steps``, ``meter_fault_steps``.
        """
        true, c = self.true_clearing, settled
        true_cost = float(true.grid_bill.sum())
        settled_cost = float(settled.grid_bill.sum())
        imp = float(true.grid_import.sum())
        # the one imbalance rule, at the connection point: what the connection really exchanged − what was settled
        imbalance = settle_imbalance((true.grid_import, true.grid_export), (c.grid_import, c.grid_export),
                                     c.retail, c.feed_in, at="connection")  # fmt: skip
        return {
            "imbalance_kwh": float(np.abs(self.imbalance_kwh).sum()),
            "imbalance_net_kwh": float(self.imbalance_kwh.sum()),
            "imbalance_cost": float(imbalance.charge.sum()),
            "true_community_cost": true_cost,
            "settled_community_cost": settled_cost,
            "served_demand_kwh": load_kwh,
            "locally_served_kwh": load_kwh - imp,
            "true_self_sufficiency": self_sufficiency(load_kwh, imp),
            "controller_fault_steps": float(self.controller_fault_steps),
            "meter_fault_steps": float(self.meter_fault_steps),
        }


def fault_steps(community: Community, faults: Sequence[Fault]) -> tuple[int, int]:
    """Participant-steps with a controller and with a meter fault (overlaps counted once)."""
    ctrl = np.zeros((community.T, community.N), dtype=bool)
    meter = np.zeros_like(ctrl)
    for f, c, t0, t1 in _resolve(community, faults):
        (ctrl if f.kind == "controller" else meter)[t0:t1, c] = True
    return int(ctrl.sum()), int(meter.sum())


def fault_study(
    community: Community,
    faults: Sequence[Fault],
    market: str = "sdr",
    control: object = "greedy",
) -> pd.DataFrame:
    """Run a case with and without faults: served demand, cost and balance checks.

    Parameters
    ----------
    community : Community
    faults : sequence of Fault
    market : str
        Market mechanism.
    control : str or callable
        Controller.

    Returns
    -------
    pandas.DataFrame
        Rows ``"no fault"`` and ``"fault"``; columns ``served_demand_kwh``,
        ``locally_served_kwh``, ``self_sufficiency`` (true), ``community_cost`` (true
        grid bill), ``settled_cost`` (Σ member bills), ``imbalance_kwh``,
        ``imbalance_cost``, ``energy_balance_error_kwh`` (largest per-slot
        |Σ net − (import − export)| over the settled and the true readings) and
        ``money_balance_error`` (largest per-slot |Σ member bills − grid bill − operator fees|).
    """
    from peergrid.simulate.engine import simulate

    rows = {}
    for name, fs in (("no fault", None), ("fault", list(faults))):
        res = simulate(community, market=market, control=control, faults=fs)
        c = res.clearing
        true = res.faults.true_clearing if res.faults is not None else c
        m = res.metrics
        load = m["load_kwh"]
        true_imp = float(true.grid_import.sum())
        imbalance = res.faults.imbalance_kwh if res.faults is not None else np.zeros(community.T)
        energy_err = np.abs(res.net.sum(axis=1) - (c.grid_import - c.grid_export)).max()
        true_net_sum = res.net.sum(axis=1) + imbalance
        true_err = np.abs(true_net_sum - (true.grid_import - true.grid_export)).max()
        money_err = np.abs(c.member_bill - c.grid_bill - c.fees).max()
        rows[name] = {
            "served_demand_kwh": load,
            "locally_served_kwh": load - true_imp,
            "self_sufficiency": self_sufficiency(load, true_imp),
            "community_cost": float(true.grid_bill.sum()),
            "settled_cost": float(c.member_bill.sum()),
            "imbalance_kwh": float(np.abs(imbalance).sum()),
            "imbalance_cost": float(settle_imbalance(
                (true.grid_import, true.grid_export), (c.grid_import, c.grid_export), c.retail, c.feed_in,
                at="connection").charge.sum()),
            "energy_balance_error_kwh": float(max(energy_err, true_err)),
            "money_balance_error": float(money_err),
        }
    return pd.DataFrame.from_dict(rows, orient="index")
