"""EV charging control: immediate ("plug and charge") vs smart (price-driven) charging.

Both controllers respect arrival and departure (the plugged-in mask of
:func:`peergrid.assets.ev.ev_availability`) and deliver each session's required
energy by departure:

* **immediate** charges at full power from plug-in until the requirement is met
  (:func:`peergrid.assets.ev.ev_immediate_charging`);
* **smart** charges in the cheapest plugged-in steps of each session (ties: the
  earliest step first), at full power except in the last step it needs. It is
  vectorised over all sessions of all EVs by one lexicographic sort of the
  plugged-in steps by (session, price, time) and a cumulative sum within sessions.
  For every session this is the optimum of the LP "min Σ price·e subject to
  Σ e = requirement, 0 ≤ e ≤ P·Δt", so its cost never exceeds immediate charging.

A requirement above what the charger can deliver in a complete session
(n plugged-in steps × P·Δt) raises :class:`~peergrid.ModelError` naming the EV and
the session. Sessions cut by the start or end of the horizon receive at most what
fits into their part of the horizon (their true length is unknown).

An EV is modelled as a load with an energy requirement per plug-in session (Tooki
et al., Fig. 3: prosumers buy energy for storage in ESS/EVs); charging has no
losses, as in :mod:`peergrid.assets.ev`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from peergrid.assets._common import availability_mask, positive_dt
from peergrid.assets.ev import ev_availability, ev_immediate_charging
from peergrid.control._common import participant_columns
from peergrid.control.greedy import BatterySchedule
from peergrid.core.community import Community
from peergrid.core.errors import ConfigError, DataError, ModelError

__all__ = [
    "EVSessions",
    "ev_charging",
    "ev_controller",
    "ev_immediate",
    "ev_immediate_control",
    "ev_sessions",
    "ev_smart",
    "ev_smart_control",
]

_TOL = 1e-9


@dataclass(frozen=True)
class EVSessions:
    """Plug-in sessions of N EVs over T steps.

    Attributes
    ----------
    id : numpy.ndarray of int64, shape (T, N)
        Session number of every plugged-in step, −1 when unplugged. Sessions are
        numbered EV by EV, in time order.
    ev, start, stop : numpy.ndarray of int64, shape (K,)
        EV column, first step and one past the last step of each session.
    cut : numpy.ndarray of bool, shape (K,)
        True when the session touches the start or the end of the horizon.
    """

    id: np.ndarray
    ev: np.ndarray
    start: np.ndarray
    stop: np.ndarray
    cut: np.ndarray

    @property
    def steps(self) -> np.ndarray:
        """Plugged-in steps per session."""
        return self.stop - self.start

    @property
    def count(self) -> int:
        """Number of sessions K."""
        return int(self.ev.size)


def ev_sessions(availability: np.ndarray) -> EVSessions:
    """Split a plugged-in mask into sessions (contiguous plugged-in blocks).

    Parameters
    ----------
    availability : array-like of bool, shape (T, N)

    Returns
    -------
    EVSessions
    """
    avail = availability_mask(availability)
    T, N = avail.shape
    starts = avail.copy()
    starts[1:] &= ~avail[:-1]
    flat = starts.T.ravel()  # EV by EV, time order
    sid = (np.cumsum(flat) - 1).reshape(N, T).T
    sid = np.where(avail, sid, -1).astype(np.int64)
    first = np.flatnonzero(flat)
    ev, start = first // T, first % T
    length = np.bincount(sid[avail], minlength=first.size)
    stop = start + length
    cut = (start == 0) | (stop == T)
    return EVSessions(sid, ev.astype(np.int64), start.astype(np.int64), stop.astype(np.int64), cut)


def _targets(
    sessions: EVSessions,
    required: float | np.ndarray,
    step_kwh: np.ndarray,
    shape: tuple[int, int],
    dt: float,
    ids: np.ndarray | None,
    index: pd.DatetimeIndex | None,
) -> np.ndarray:
    """Energy to deliver in each session, kWh; raises on infeasible complete sessions."""
    req = np.asarray(required, dtype=np.float64)
    if not np.all(np.isfinite(req)):
        raise DataError("required energy has NaN or infinite values")
    if np.any(req < 0):
        raise ModelError(f"required energy must be >= 0 kWh, got {req.min()}")
    N = shape[1]
    if req.ndim == 2:
        if req.shape != shape:
            raise DataError(f"required energy of shape {req.shape} must be (T, N) = {shape}")
        per_session = req[sessions.start, sessions.ev]
    elif req.ndim <= 1 and req.size in (1, N):
        per_session = np.broadcast_to(req.ravel() if req.ndim else req, (N,))[sessions.ev]
    else:
        raise DataError(f"required energy must be a scalar, (N={N},) or (T, N), got {req.shape}")
    deliverable = sessions.steps * step_kwh[sessions.ev]
    short = (per_session > deliverable * (1 + 1e-12) + _TOL) & ~sessions.cut
    if np.any(short):
        k = int(np.argmax(short))
        i = int(sessions.ev[k])
        nth = int(np.sum(sessions.ev[:k] == i)) + 1
        name = str(ids[i]) if ids is not None else f"{i}"
        when = (
            f"{index[sessions.start[k]].isoformat()} to {(index[sessions.stop[k] - 1] + index.freq).isoformat()}"
            if index is not None
            else f"steps {sessions.start[k]}-{sessions.stop[k] - 1}"
        )
        raise ModelError(
            f"EV {name!r}, session {nth} ({when}): required {per_session[k]:.3f} kWh exceeds the "
            f"{deliverable[k]:.3f} kWh its {step_kwh[i] / dt:g} kW charger can deliver in "
            f"{int(sessions.steps[k])} plugged-in steps"
        )
    return np.minimum(per_session, deliverable)


def _power(power_kw: float | np.ndarray, n: int) -> np.ndarray:
    power = np.atleast_1d(np.asarray(power_kw, dtype=np.float64))
    if power.shape not in ((1,), (n,)) or power.ndim != 1:
        raise DataError(f"power_kw must be a scalar or have length N={n}, got {power.shape}")
    if not np.all(np.isfinite(power)) or np.any(power < 0):
        raise ModelError(f"power_kw must be finite and >= 0 kW, got {power_kw!r}")
    return np.broadcast_to(power, (n,)).copy()


def ev_immediate(
    availability: np.ndarray,
    required_kwh: float | np.ndarray,
    power_kw: float | np.ndarray,
    dt_hours: float,
    *,
    ids: np.ndarray | None = None,
    index: pd.DatetimeIndex | None = None,
) -> np.ndarray:
    """Immediate ("plug and charge") charging that meets every session's requirement.

    Parameters
    ----------
    availability : array-like of bool, shape (T, N)
        Plugged-in mask.
    required_kwh : float or array-like, shape (N,) or (T, N)
        Energy per session, kWh (``(T, N)``: the value at a session's first step).
    power_kw : float or array-like, shape (N,)
        Charger power, kW.
    dt_hours : float
        Step length, h.
    ids : array-like of str, optional
        EV names for error messages.
    index : pandas.DatetimeIndex, optional
        Time index for error messages.

    Returns
    -------
    numpy.ndarray, shape (T, N)
        Energy charged per step, kWh.

    Raises
    ------
    ModelError
        A complete session needs more than its charger can deliver.
    """
    dt = positive_dt(dt_hours)
    avail = availability_mask(availability)
    power = _power(power_kw, avail.shape[1])
    sessions = ev_sessions(avail)
    target = _targets(sessions, required_kwh, power * dt, avail.shape, dt, ids, index)
    req = np.zeros(avail.shape)
    req[sessions.start, sessions.ev] = target
    return ev_immediate_charging(avail, req, power, dt)


def ev_smart(
    availability: np.ndarray,
    required_kwh: float | np.ndarray,
    power_kw: float | np.ndarray,
    dt_hours: float,
    price: np.ndarray,
    *,
    ids: np.ndarray | None = None,
    index: pd.DatetimeIndex | None = None,
) -> np.ndarray:
    """Price-driven charging: each session charges in its cheapest plugged-in steps.

    Parameters
    ----------
    availability, required_kwh, power_kw, dt_hours, ids, index
        As :func:`ev_immediate`.
    price : array-like, shape (T,) or (T, N)
        Price of charging energy per step, currency/kWh.

    Returns
    -------
    numpy.ndarray, shape (T, N)
        Energy charged per step, kWh; per session it sums to the requirement.

    Raises
    ------
    ModelError
        A complete session needs more than its charger can deliver.
    """
    dt = positive_dt(dt_hours)
    avail = availability_mask(availability)
    T, N = avail.shape
    power = _power(power_kw, N)
    p = np.asarray(price, dtype=np.float64)
    if p.ndim == 1:
        p = p[:, None]
    if p.shape not in ((T, 1), (T, N)):
        raise DataError(f"price must have shape (T,) or (T, N) = {(T, N)}, got {np.shape(price)}")
    if not np.all(np.isfinite(p)):
        raise DataError("price has NaN or infinite values")
    sessions = ev_sessions(avail)
    target = _targets(sessions, required_kwh, power * dt, (T, N), dt, ids, index)
    t_idx, i_idx = np.nonzero(avail)
    sid = sessions.id[t_idx, i_idx]
    order = np.lexsort((t_idx, np.broadcast_to(p, (T, N))[t_idx, i_idx], sid))
    t_s, i_s, sid_s = t_idx[order], i_idx[order], sid[order]
    cap = power[i_s] * dt
    before = np.cumsum(cap) - cap  # energy that earlier entries could take (global)
    first = np.searchsorted(sid_s, np.arange(sessions.count))  # first sorted entry of each session
    before -= before[first][sid_s]
    out = np.zeros((T, N))
    out[t_s, i_s] = np.clip(target[sid_s] - before, 0.0, cap)
    return out


def _fleet_columns(community: Community, fleet: pd.DataFrame) -> np.ndarray:
    if "participant" in fleet:
        return participant_columns(community, fleet["participant"].to_numpy(), "EV participant")
    if len(fleet) > community.N:
        raise ConfigError(f"{len(fleet)} EVs but {community.N} participants: give the fleet a 'participant' column")
    return np.arange(len(fleet), dtype=np.int64)


def ev_charging(
    community: Community,
    fleet: pd.DataFrame,
    mode: Literal["smart", "immediate"] = "smart",
    *,
    price: np.ndarray | None = None,
    tz: str | None = None,
) -> np.ndarray:
    """EV charging of a fleet as extra consumption of its owners, ``(T, N)`` kWh per step.

    Parameters
    ----------
    community : Community
    fleet : pandas.DataFrame
        One row per EV with ``arrival_hour``, ``departure_hour`` (local h),
        ``required_kwh`` (kWh per session) and ``charger_kw`` (kW), as from
        :func:`peergrid.assets.ev.synthetic_ev_fleet`; optional ``id`` and
        ``participant`` (id or position of the owner; default: EV k belongs to
        participant k).
    mode : {"smart", "immediate"}
    price : array-like, shape (T,), optional
        Charging price for ``"smart"``; default the community's retail tariff.
    tz : str, optional
        Time zone of the hours; default the community's :attr:`~peergrid.Community.tz`.

    Returns
    -------
    numpy.ndarray, shape (T, N)
    """
    missing = {"arrival_hour", "departure_hour", "required_kwh", "charger_kw"} - set(fleet.columns)
    if missing:
        raise ConfigError(f"EV fleet lacks columns {sorted(missing)}")
    if mode not in ("smart", "immediate"):
        raise ConfigError(f"EV charging mode must be 'smart' or 'immediate', got {mode!r}")
    cols = _fleet_columns(community, fleet)
    out = np.zeros((community.T, community.N))
    if len(fleet) == 0:
        return out
    if tz is None:
        tz = community.tz
    avail = ev_availability(
        community.index,
        fleet["arrival_hour"].to_numpy(np.float64),
        fleet["departure_hour"].to_numpy(np.float64),
        tz=tz,
    )
    ids = fleet["id"].astype(str).to_numpy() if "id" in fleet else None
    args = (avail, fleet["required_kwh"].to_numpy(np.float64), fleet["charger_kw"].to_numpy(np.float64), community.dt)
    if mode == "smart":
        energy = ev_smart(*args, community.retail if price is None else price, ids=ids, index=community.index)
    else:
        energy = ev_immediate(*args, ids=ids, index=community.index)
    np.add.at(out.T, cols, energy.T)
    return out


def ev_controller(
    fleet: pd.DataFrame,
    mode: Literal["smart", "immediate"] = "smart",
    *,
    base: str | Callable[..., BatterySchedule] = "none",
    price: np.ndarray | None = None,
    tz: str | None = None,
) -> Callable[..., BatterySchedule]:
    """A controller that charges a fleet of EVs and runs ``base`` on the batteries.

    Parameters
    ----------
    fleet : pandas.DataFrame
        See :func:`ev_charging`.
    mode : {"smart", "immediate"}
    base : str or callable
        Battery controller applied to the community with the EV load added
        (``"none"``, ``"greedy"``, …).
    price, tz
        See :func:`ev_charging`.

    Returns
    -------
    callable
        ``f(community, progress=None) -> BatterySchedule`` whose ``load_delta`` is the
        EV charging (plus the base controller's own ``load_delta``).
    """

    def control(community: Community, progress: Callable[[int], None] | None = None) -> BatterySchedule:
        from peergrid.control import get_controller  # lazy: peergrid.control imports this module

        ev = ev_charging(community, fleet, mode, price=price, tz=tz)
        with_ev = replace(  # a validated copy of the community with the EV charging in its load
            community,
            participants=community.participants.drop(columns=["role"]),
            load=community.load + ev,
            meta=dict(community.meta),
        )
        sched = get_controller(base)(with_ev, progress=progress)
        delta = ev if sched.load_delta is None else ev + sched.load_delta
        return BatterySchedule(sched.owners, sched.charge, sched.discharge, sched.energy, sched.capacity, delta)

    control.__name__ = f"ev-{mode}"
    return control


def _meta_fleet(community: Community) -> pd.DataFrame:
    fleet = community.meta.get("ev_fleet") if isinstance(community.meta, dict) else None
    if fleet is None:
        raise ConfigError(f"{community.name}: no EV fleet (set community.meta['ev_fleet'] or use ev_controller)")
    return pd.DataFrame(fleet)


def ev_smart_control(community: Community, progress: Callable[[int], None] | None = None) -> BatterySchedule:
    """Smart charging of ``community.meta["ev_fleet"]``, batteries idle (registry ``"ev-smart"``)."""
    return ev_controller(_meta_fleet(community), "smart")(community, progress)


def ev_immediate_control(community: Community, progress: Callable[[int], None] | None = None) -> BatterySchedule:
    """Immediate charging of ``community.meta["ev_fleet"]``, batteries idle (registry ``"ev-immediate"``)."""
    return ev_controller(_meta_fleet(community), "immediate")(community, progress)
