"""The meter simulator: publish signed readings of simulated meters (:func:`simulate_meters`).

The energy of each meter comes from :class:`peergrid.data.meter_profiles.MeterProfiles`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from peergrid.core.errors import ConfigError
from peergrid.data.meter_profiles import MeterProfiles
from peergrid.service.mqtt.credentials import reading_payload
from peergrid.service.mqtt.payload import iso, topic_for
from peergrid.service.mqtt.publisher import Publisher
from peergrid.service.mqtt.url import BrokerURL
from peergrid.service.timeutil import EPOCH


def parse_rate(text: str) -> float:
    """Messages per second from ``"10/s"``, ``"600/min"``, ``"36000/h"`` or ``"10"``."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(?:/\s*(s|sec|min|h))?\s*", text)
    if m is None:
        raise ConfigError(f"rate {text!r}: use e.g. 10/s, 600/min or 36000/h")
    v = float(m.group(1)) / {"s": 1, "sec": 1, None: 1, "min": 60, "h": 3600}[m.group(2)]
    if not v > 0:
        raise ConfigError(f"rate must be > 0, got {text!r}")
    return v


@dataclass
class SimulationResult:
    """What :func:`simulate_meters` published."""

    meters: int
    messages: int
    rounds: int
    first_ts: str | None
    last_ts: str | None
    seconds: float
    refused: int = 0
    """Messages the broker acknowledged with a failure reason (not authorised, quota …)."""

    @property
    def rate(self) -> float:
        """Messages per second over the run."""
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-able."""
        return dict(self.__dict__)


def simulate_meters(
    url: str | BrokerURL,
    community_id: int,
    keys: Mapping[str, bytes],
    *,
    rate: float = 10.0,
    period_s: float = 900.0,
    from_data: bool = True,
    rounds: int | None = None,
    backfill: int = 0,
    duration_s: float | None = None,
    seed: int = 0,
    clock: Callable[[], dt.datetime] | None = None,
    stop: threading.Event | None = None,
    no_generation: Iterable[str] = (),
    progress: Callable[[int, int, int], None] | None = None,
) -> SimulationResult:
    """Publish readings of simulated meters, paced at ``rate`` messages per second.

    Every round publishes one reading per meter for one completed metering period.
    The first ``backfill`` rounds catch up the most recent completed periods; after
    that each round reports the period that just ended and then waits for the next
    one to end (a real meter reports each period once, after it is over).

    Parameters
    ----------
    url : str or BrokerURL
        Broker (see :class:`~peergrid.service.mqtt.publisher.Publisher`).
    community_id : int
        Community of the meters (topic ``peergrid/<community_id>/<serial>/reading``).
    keys : mapping
        ``{serial: signing key}`` of the meters to simulate (:func:`meter_signing_key`). Each
        reading is signed; its ``seq`` is the Unix time in ms when it is published (one more
        than the meter's previous one if the clock did not advance), so it keeps increasing
        across runs as long as the system clock does not go back.
    rate : float
        Messages per second over all meters.
    period_s : float
        Metering period (s); energy per reading = power × period.
    from_data : bool
        Realistic CityLearn profiles (:class:`MeterProfiles`), else synthetic.
    rounds : int, optional
        Stop after this many rounds (default: run until ``duration_s`` or ``stop``).
    backfill : int
        Completed periods to publish first, oldest first.
    duration_s : float, optional
        Stop after this many seconds.
    seed : int
    clock : callable, optional
        Current aware UTC time (default: the system clock).
    stop : threading.Event, optional
        Set it to stop.
    no_generation : iterable of str
        Serials of meters without generation behind them (``Meter.has_generation`` false): they
        report their load as import, no PV and no export (the service refuses exports of such meters).
    progress : callable, optional
        ``progress(sent, refused, rounds)``: messages sent, messages the broker refused so far and
        completed rounds; called about once a second (also while waiting for a period to end) and
        after every round.

    Returns
    -------
    SimulationResult
        Also when stopped through ``stop`` (what was published until then).
    """
    clock = clock or (lambda: dt.datetime.now(dt.UTC))
    stop = stop or threading.Event()
    serials = list(keys)
    if not serials:
        raise ConfigError("no meters to simulate")
    if period_s <= 0 or rate <= 0:
        raise ConfigError("rate and period must be > 0")
    profiles = MeterProfiles(len(serials), from_data=from_data, seed=seed)
    topics = [topic_for(community_id, s) for s in serials]
    mkeys = [keys[s] for s in serials]
    import numpy as np

    without = set(no_generation)
    nogen = np.array([s in without for s in serials])
    last_seq = [0] * len(serials)
    step = dt.timedelta(seconds=period_s)

    def last_completed(now: dt.datetime) -> dt.datetime:
        k = int((now - EPOCH).total_seconds() // period_s)
        return EPOCH + dt.timedelta(seconds=(k - 1) * period_s)

    pub = Publisher(url).connect()
    t_start = time.monotonic()
    first = last = None
    n_round = 0
    ts = last_completed(clock()) - step * max(backfill - 1, 0)
    sent = 0
    next_report = t_start + 1.0

    def report(now: float, force: bool = False) -> None:
        nonlocal next_report
        if progress is not None and (force or now >= next_report):
            next_report = now + 1.0
            progress(sent, pub.refused, n_round)

    try:
        while not stop.is_set():
            if rounds is not None and n_round >= rounds:
                break
            if duration_s is not None and time.monotonic() - t_start >= duration_s:
                break
            while ts > last_completed(clock()):  # live: wait until the period is over
                report(time.monotonic())
                if stop.wait(0.2) or (duration_s is not None and time.monotonic() - t_start >= duration_s):
                    break
            if ts > last_completed(clock()):
                break
            imp, exp, pv = profiles.energy_wh(ts, period_s)
            if nogen.any():  # no PV behind the meter: all of the load is imported
                imp = np.where(nogen, imp - exp + pv, imp)
                exp = np.where(nogen, 0, exp)
                pv = np.where(nogen, 0, pv)
            stamp = iso(ts)
            t_round = time.monotonic()
            for i, topic in enumerate(topics):
                due = t_round + i / rate
                now = time.monotonic()
                delay = due - now
                if stop.is_set() or (delay > 0 and stop.wait(delay)):
                    break
                seq = last_seq[i] = max(time.time_ns() // 1_000_000, last_seq[i] + 1)
                payload = reading_payload(mkeys[i], community_id, serials[i], ts, int(imp[i]), int(exp[i]),
                                          int(pv[i]), seq)
                pub.publish(topic, json.dumps(payload, separators=(",", ":")))
                sent += 1
                report(now)
            first = first or stamp
            last = stamp
            n_round += 1
            ts = ts + step
            report(time.monotonic(), force=True)
    finally:
        pub.close()
    return SimulationResult(len(serials), sent, n_round, first, last, round(time.monotonic() - t_start, 3),
                            refused=pub.refused)
