"""Meter readings: batch ingestion, idempotent on (meter, timestamp), physically plausible.

A reading is the energy that flowed through a meter in the period starting at ``ts``:
``import_wh`` from the grid side and ``export_wh`` to it (integers ≥ 0). Net energy
follows peergrid's sign convention, ``net = import − export`` (+ consumer, − producer).
Each reading is filed under the trading interval that contains ``ts``; meters may report
more often than the trading interval (several readings per interval add up).

Every transport stores through :func:`store_readings`, which enforces the rules of
:data:`RULES` (one place for HTTP, MQTT and the demo seed). A reading is rejected, and
never stored or settled, if

* ``unknown_meter`` — its meter is not registered in the community;
* ``future`` — ``ts`` is more than :data:`MAX_CLOCK_SKEW` ahead of the service clock;
* ``no_generation`` — it exports (``export_wh`` > 0) or reports PV (``pv_wh`` > 0) on a
  meter without generation (:attr:`~peergrid.service.models.Meter.has_generation`);
* ``settled`` — the metered settlement of its interval already ran (settlement is final);
* ``conflict`` — a *different* reading of the same (meter, ts) is stored or came earlier in
  the batch (an identical one is a harmless duplicate: redeliveries are idempotent);
* ``capacity`` — the meter's Σ import or Σ export in the trading interval (stored readings
  plus the batch's accepted ones) would exceed its connection capacity × the interval's
  length (capacity in W from the meter, else the community's default).

A stored reading changes only through :func:`correct_reading` (operators, audited by the
caller), and only before the interval's metered settlement.

:func:`ingest_readings` is the entry point for untrusted, unparsed input (HTTP batch upload
here): it parses every reading, then calls :func:`store_readings`; transports that parse
themselves (MQTT in :mod:`peergrid.service.mqtt`) call :func:`store_readings` directly.

Storage is bulk and bypasses the ORM: on PostgreSQL the rows go by ``COPY`` into a
per-connection temporary staging table and from there by one ``INSERT … SELECT … ON
CONFLICT DO NOTHING`` into ``readings``; on SQLite by one DB-API ``executemany``. Both
write timestamps as naive UTC exactly as :class:`~peergrid.service.models.UTCDateTime`
does, and run in the caller's transaction (savepoints included). The rules cost one query
for the meters (with their capacities), one for the interval sums and same-timestamp rows
already stored, one for settled intervals; batches of one community are serialised by a
transaction-level advisory lock on PostgreSQL (SQLite serialises writers anyway), so two
concurrent uploads cannot together exceed a capacity.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from peergrid.service.db import is_postgres
from peergrid.service.directory import get_community
from peergrid.service.errors import Conflict, Forbidden, Invalid, NotFound, ServiceError
from peergrid.service.models import Meter, Reading, utcnow
from peergrid.service.timeutil import EPOCH, parse_time

MAX_BATCH = 50_000
MAX_WH = 10**9  # 1 GWh per reading: anything larger is a unit error
#: How far a reading's timestamp may be ahead of the service clock (meters' clocks drift).
MAX_CLOCK_SKEW = dt.timedelta(seconds=300)
#: Largest connection capacity a meter or community default may be given (W): 10 MW.
MAX_CAPACITY_W = 10_000_000

#: Machine codes of rejected readings (``IngestResult.rejected[i]["rule"]``): ``invalid`` (not a
#: well-formed reading; :func:`ingest_readings` only) and the rules of :func:`store_readings`.
RULES: tuple[str, ...] = ("invalid", "unknown_meter", "future", "no_generation", "settled", "conflict", "capacity")
#: The rules that make an HTTP upload fail as a whole (422, nothing stored): the reading is not
#: physically plausible, or contradicts one already stored.
PLAUSIBILITY_RULES: frozenset[str] = frozenset({"future", "no_generation", "conflict", "capacity"})

#: A validated reading for :func:`store_readings`:
#: ``(serial, ts (aware UTC datetime), import_wh, export_wh, pv_wh or None)``.
ReadingTuple = tuple[str, dt.datetime, int, int, int | None]

_SECOND = dt.timedelta(seconds=1)
_NAIVE_EPOCH = EPOCH.replace(tzinfo=None)
_STAGE = "peergrid_readings_stage"
_COLUMNS = "meter_id, ts, interval_start, import_wh, export_wh, pv_wh"
# Created once per PostgreSQL connection (again if the transaction that created it rolled back);
# the DO block avoids the notice "relation already exists" that CREATE … IF NOT EXISTS sends.
_PG_STAGE = (
    f"DO $$ BEGIN IF to_regclass('pg_temp.{_STAGE}') IS NULL THEN "
    f"CREATE TEMPORARY TABLE {_STAGE} (meter_id integer NOT NULL, ts timestamp NOT NULL, "
    "interval_start timestamp NOT NULL, import_wh bigint NOT NULL, export_wh bigint NOT NULL, pv_wh bigint) "
    "ON COMMIT DELETE ROWS; END IF; END $$"
)
_PG_COPY = f"COPY {_STAGE} ({_COLUMNS}) FROM STDIN"
# Emptying the stage in the same statement keeps it empty for the next batch of this transaction.
_PG_INSERT = (
    f"WITH staged AS (DELETE FROM {_STAGE} RETURNING {_COLUMNS}) "
    f"INSERT INTO readings ({_COLUMNS}, received_at) SELECT {_COLUMNS}, %s FROM staged "
    "ON CONFLICT (meter_id, ts) DO NOTHING"
)
_SQLITE_INSERT = (
    f"INSERT INTO readings ({_COLUMNS}, received_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (meter_id, ts) DO NOTHING"
)
_PG_NULL = "\\N"
# Serialises the storing of readings per community (key space: two int4 keys, class 0x5052 'PR').
_PG_LOCK = "SELECT pg_advisory_xact_lock(20562, %s)"
# the batch's serials go as one array parameter, whatever their number; PostgreSQL looks each one up in
# the unique index (``serial IN (SELECT json_array_elements_text(…))`` became a quadratic nested loop
# whenever the planner had no statistics for the community's meters: 130 ms for 1,000 meters)
_METER_COLS = "serial, id, import_capacity_w, export_capacity_w, has_generation"
_PG_METERS = (
    "SELECT m.serial, m.id, m.import_capacity_w, m.export_capacity_w, m.has_generation "
    "FROM unnest(%s::text[]) AS k(serial) JOIN meters m ON m.serial = k.serial WHERE m.community_id = %s"
)
_SQLITE_METERS = (
    f"SELECT {_METER_COLS} FROM meters WHERE community_id = ? AND serial IN (SELECT value FROM json_each(?))"
)
# What is stored for the batch's (meter, interval) pairs, in one index scan per pair: Σ import and
# Σ export of the interval, and the rows at one of the batch's timestamps (duplicates or conflicts).
_PG_STORED = (
    "WITH k AS (SELECT m, s, s + make_interval(secs => %s) AS e FROM unnest(%s::int[], %s::timestamp[]) AS k(m, s)) "
    "SELECT k.m, k.s, sum(r.import_wh)::bigint, sum(r.export_wh)::bigint, "
    "json_agg(json_build_array(r.ts, r.import_wh, r.export_wh, r.pv_wh)) FILTER (WHERE r.ts = ANY(%s::timestamp[])) "
    "FROM k JOIN readings r ON r.meter_id = k.m AND r.ts >= k.s AND r.ts < k.e GROUP BY k.m, k.s"
)
_SQLITE_STORED = (
    "WITH k(m, s, e) AS (SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), "
    "json_extract(value, '$[2]') FROM json_each(?)) "
    "SELECT k.m, k.s, sum(r.import_wh), sum(r.export_wh), "
    "json_group_array(json_array(r.ts, r.import_wh, r.export_wh, r.pv_wh)) "
    "FILTER (WHERE r.ts IN (SELECT value FROM json_each(?))) "
    "FROM k CROSS JOIN readings r ON r.meter_id = k.m AND r.ts >= k.s AND r.ts < k.e GROUP BY k.m, k.s"
)
_PG_SETTLED = (
    "SELECT interval_start FROM clearing_runs WHERE community_id = %s AND phase = 'metered' "
    "AND interval_start BETWEEN %s AND %s"
)
_SQLITE_SETTLED = _PG_SETTLED.replace("%s", "?")


@dataclass
class IngestResult:
    """Outcome of one batch.

    Attributes
    ----------
    accepted : int
        New readings stored.
    duplicates : int
        Readings identical to one already stored or earlier in the batch (ignored).
    rejected : list of dict
        ``{"index": i, "reason": "<one line>", "rule": code}`` for readings that were not
        stored, sorted by index; ``rule`` is one of :data:`RULES`.
    """

    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


class ReadingRejected(Invalid):
    """A reading breaks one of the rules (:attr:`rule`, one of :data:`RULES`): 422."""

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{name} must be an integer number of Wh")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{name} must be a whole number of Wh, got {value}")
        value = int(value)
    if not isinstance(value, int):
        raise ValueError(f"{name} must be an integer number of Wh")
    if not 0 <= value <= MAX_WH:
        raise ValueError(f"{name} must be in 0..{MAX_WH} Wh, got {value}")
    return value


def ingest_readings(
    session: Session,
    community_id: int,
    readings: Iterable[Mapping[str, Any]],
    owner_id: int | None = None,
    *,
    now: dt.datetime | None = None,
    atomic: bool = False,
) -> IngestResult:
    """Parse and store a batch of readings (bulk insert; identical duplicates ignored).

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Runs in the caller's transaction (commit afterwards).
    community_id : int
    readings : iterable of mapping
        Each ``{"meter": serial (str) | "meter_id": int, "ts": aware datetime or ISO
        string, "import_wh": int ≥ 0, "export_wh": int ≥ 0}``; ``"net_wh"`` (signed
        int) may replace import/export; optional ``"pv_wh"`` (int ≥ 0) is stored alongside.
    owner_id : int, optional
        Only meters of this user are allowed (a prosumer/consumer uploading their own
        readings); a reading of another user's meter is :class:`Forbidden`.
    now : datetime, optional
        The service clock (aware), for the ``future`` rule; default the system clock.
    atomic : bool
        As in :func:`store_readings`: store nothing if any reading breaks one of
        :data:`PLAUSIBILITY_RULES`.

    Returns
    -------
    IngestResult
        Indexes in ``rejected`` refer to ``readings``; malformed readings have rule ``invalid``.
    """
    get_community(session, community_id)
    items = list(readings)
    if len(items) > MAX_BATCH:
        raise Invalid(f"at most {MAX_BATCH} readings per batch, got {len(items)}")
    meters = session.execute(
        sa.select(Meter.id, Meter.serial, Meter.user_id).where(Meter.community_id == community_id)
    ).all()
    by_serial = {m.serial: m for m in meters}
    by_id = {m.id: m for m in meters}
    rejected: list[dict[str, Any]] = []
    valid: list[ReadingTuple] = []
    origin: list[int] = []  # index in ``items`` of each entry of ``valid``
    for i, r in enumerate(items):
        rule = "invalid"
        try:
            if not isinstance(r, Mapping):
                raise ValueError("a reading must be an object")
            if r.get("meter_id") is not None:
                m = by_id.get(r["meter_id"]) if isinstance(r["meter_id"], int) else None
                if m is None:
                    rule = "unknown_meter"
                    raise ValueError(f"unknown meter id {r['meter_id']!r} in this community")
            else:
                m = by_serial.get(str(r.get("meter", "")))
                if m is None:
                    rule = "unknown_meter"
                    raise ValueError(f"unknown meter {r.get('meter')!r} in this community")
            if owner_id is not None and m.user_id != owner_id:
                raise Forbidden(f"meter {m.serial!r} belongs to another user")
            try:
                ts = parse_time(r.get("ts"), "ts")
            except ServiceError as exc:
                raise ValueError(str(exc)) from None
            if "net_wh" in r and r["net_wh"] is not None:
                net = r["net_wh"]
                if isinstance(net, bool) or not isinstance(net, int | float) or not float(net).is_integer():
                    raise ValueError("net_wh must be an integer number of Wh")
                imp, exp = _int(max(int(net), 0), "net_wh"), _int(max(-int(net), 0), "net_wh")
            else:
                imp, exp = _int(r.get("import_wh"), "import_wh"), _int(r.get("export_wh"), "export_wh")
            pv = None if r.get("pv_wh") is None else _int(r.get("pv_wh"), "pv_wh")
        except ValueError as exc:
            rejected.append({"index": i, "reason": str(exc), "rule": rule})
            continue
        valid.append((m.serial, ts, imp, exp, pv))
        origin.append(i)
    result = store_readings(session, community_id, valid, now=now, atomic=atomic) if valid else IngestResult()
    for rej in result.rejected:
        rej["index"] = origin[rej["index"]]
    result.rejected = sorted(rejected + result.rejected, key=lambda d: d["index"])
    return result


def store_readings(
    session: Session,
    community_id: int,
    readings: Sequence[ReadingTuple],
    *,
    now: dt.datetime | None = None,
    atomic: bool = False,
) -> IngestResult:
    """Store a batch of parsed readings (bulk) that pass the rules of :data:`RULES`.

    The energies must be integers in 0..``MAX_WH`` Wh (not checked again: a negative one
    fails the whole statement on the table's check constraint). Readings are judged in
    batch order: of two different readings of one (meter, ts) the first is stored and the
    second is a ``conflict``; the capacity of an interval is filled in batch order. The
    storage costs about 2–3 µs of Python per reading (see ``docs/service.md``).

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Runs in the caller's transaction, or savepoint (commit afterwards). Pending ORM
        changes are flushed first.
    community_id : int
        :class:`~peergrid.service.errors.NotFound` if there is no such community.
    readings : sequence of tuple
        ``(serial, ts, import_wh, export_wh, pv_wh)``: meter serial (str), start of the
        reading's period (aware datetime, UTC or any offset), energy imported and exported
        (int, Wh), PV generation behind the meter (int Wh or ``None``).
    now : datetime, optional
        The service clock (aware); a ``ts`` later than ``now`` + :data:`MAX_CLOCK_SKEW` is
        rejected (``future``). Default: the system clock.
    atomic : bool
        If any reading breaks one of :data:`PLAUSIBILITY_RULES`, store nothing: the result
        has ``accepted`` 0 and lists every rejected reading (the HTTP upload's all-or-nothing).

    Returns
    -------
    IngestResult
        ``accepted`` new rows; ``duplicates`` readings identical to a stored one or an
        earlier one of the batch; ``rejected`` (sorted by index into ``readings``)
        ``{"index", "reason", "rule"}`` with ``rule`` one of ``unknown_meter``, ``future``,
        ``no_generation``, ``settled``, ``conflict``, ``capacity``. Each reading counts in
        exactly one of the three.
    """
    community = get_community(session, community_id)
    result = IngestResult()
    if not readings:
        return result
    minutes = community.interval_minutes
    step = minutes * 60
    horizon = (now if now is not None else utcnow()) + MAX_CLOCK_SKEW
    pg = is_postgres(session)
    session.flush()  # the raw queries below must see the session's pending meters and clearing runs
    raw = session.connection().connection.driver_connection  # the DB-API connection, in the session's transaction
    with closing(raw.cursor()) as cur:
        if pg:
            cur.execute(_PG_LOCK, (community_id,))
        serials = list({r[0] for r in readings})
        if pg:
            cur.execute(_PG_METERS, (serials, community_id))
        else:
            cur.execute(_SQLITE_METERS, (community_id, json.dumps(serials)))
        # serial -> (meter id, import limit (Wh per interval), export limit, has generation)
        meters: dict[str, tuple[int, int, int, bool]] = {
            serial: (
                mid,
                (community.meter_import_w if imp_w is None else imp_w) * minutes // 60,
                (community.meter_export_w if exp_w is None else exp_w) * minutes // 60,
                bool(gen),
            )
            for serial, mid, imp_w, exp_w, gen in cur.fetchall()
        }

        # Pass 1: the rules a reading breaks on its own (meter, clock, generation). Per distinct
        # timestamp (few in a batch: meters report on the same grid) the texts, the interval and
        # the future check are computed once.
        # Entry of a timestamp: [texts of ts and interval start, interval start (s since epoch), in the future].
        by_ts: dict[dt.datetime, list[Any]] = {}
        get_ts = by_ts.get
        get_meter = meters.get
        rejected: list[dict[str, Any]] = []
        candidates: list[tuple[int, tuple[int, int, int, bool], list[Any]]] = []
        add = candidates.append
        for i, (serial, ts, _imp, exp, pv) in enumerate(readings):
            m = get_meter(serial)
            if m is None:
                rejected.append(_reject(i, "unknown_meter", f"unknown meter {serial!r} in this community"))
                continue
            e = get_ts(ts)
            if e is None:
                e = by_ts[ts] = _ts_entry(ts, step, pg, horizon)
            if e[2]:
                rejected.append(_reject(i, "future", f"ts {ts.isoformat()} is more than {_skew()} ahead of the "
                                        f"service clock ({(horizon - MAX_CLOCK_SKEW).isoformat()})"))
            elif (exp or pv) and not m[3]:
                rejected.append(_reject(i, "no_generation", f"meter {serial!r} has no generation: export_wh and "
                                        f"pv_wh must be 0, got {exp} and {pv or 0}"))
            else:
                add((i, m, e))

        entries = {id(e): e for _, _, e in candidates}.values()
        settled = _settled(cur, pg, community_id, {e[1] for e in entries}) if candidates else set()
        # Σ import and Σ export stored per (meter id, interval start), and the stored rows at the batch's timestamps
        sums: dict[tuple[int, int], list[int]] = {}
        stored: dict[tuple[int, dt.datetime], tuple[int, int, int | None]] = {}
        if settled:
            pairs = {(m[0], e[1]): e[3] for _, m, e in candidates if e[1] not in settled}
        else:
            pairs = {(m[0], e[1]): e[3] for _, m, e in candidates}
        if pairs:
            _stored(cur, pg, step, pairs, {ts for ts, e in by_ts.items() if e[1] not in settled}, sums, stored)

        # Pass 2, in batch order: settled, repeats (identical: duplicate, different: conflict), capacity.
        seen: dict[tuple[int, dt.datetime], int] = {}  # (meter id, ts) -> index of the accepted reading
        for pair in pairs:
            sums.setdefault(pair, [0, 0])
        rows: list[Any] = []
        append = rows.append
        duplicates = 0
        received = utcnow().replace(tzinfo=None)  # one arrival time for the batch
        received_text = received.isoformat(" ", "microseconds")
        null = _PG_NULL
        for i, m, e in candidates:
            start = e[1]
            if settled and start in settled:
                rejected.append(_reject(i, "settled", f"interval {_iso(start)} is already settled"))
                continue
            serial, ts, imp, exp, pv = readings[i]
            mid = m[0]
            key = (mid, ts)
            if key in seen or (stored and key in stored):
                if key in seen:
                    prev, where = tuple(readings[seen[key]][2:]), "earlier in this batch"
                else:
                    prev, where = stored[key], "stored"
                if prev == (imp, exp, pv):
                    duplicates += 1
                else:
                    rejected.append(_reject(i, "conflict", f"meter {serial!r} has a different reading at "
                                            f"{ts.isoformat()} {where} (import, export, pv = {prev})"))
                continue
            total = sums[(mid, start)]
            if total[0] + imp > m[1] or total[1] + exp > m[2]:
                which, have, limit = ("import", total[0] + imp, m[1]) if total[0] + imp > m[1] else (
                    "export", total[1] + exp, m[2])
                rejected.append(_reject(i, "capacity", f"meter {serial!r}: {which} of {have} Wh in interval "
                                        f"{_iso(start)} exceeds its connection capacity ({limit} Wh per "
                                        f"{minutes}-minute interval)"))
                continue
            total[0] += imp
            total[1] += exp
            seen[key] = i
            if pg:
                append(f"{mid}\t{e[0]}\t{imp}\t{exp}\t{null if pv is None else pv}\n")
            else:
                append((mid, e[0][0], e[0][1], imp, exp, pv, received_text))

        rejected.sort(key=lambda d: d["index"])
        result.rejected = rejected
        result.duplicates = duplicates
        if atomic and any(r["rule"] in PLAUSIBILITY_RULES for r in rejected):
            result.duplicates = 0
            return result
        if not rows:
            return result
        if pg:
            cur.execute(_PG_STAGE)
            with cur.copy(_PG_COPY) as copy:
                copy.write("".join(rows))
            cur.execute(_PG_INSERT, (received,))
        else:
            cur.executemany(_SQLITE_INSERT, rows)
        accepted = cur.rowcount
    result.accepted = accepted
    result.duplicates += len(rows) - accepted  # stored meanwhile by a transaction that committed first
    return result


def _reject(index: int, rule: str, reason: str) -> dict[str, Any]:
    return {"index": index, "reason": reason, "rule": rule}


def _skew() -> str:
    return f"{int(MAX_CLOCK_SKEW.total_seconds())} s"


def _iso(start: int) -> str:
    return (EPOCH + dt.timedelta(seconds=start)).isoformat()


def _ts_entry(ts: dt.datetime, step: int, pg: bool, horizon: dt.datetime) -> list[Any]:
    """Texts of ``ts`` and its interval start as stored (naive UTC), the start in s since the epoch, future?,
    the interval start's text."""
    if not isinstance(ts, dt.datetime) or ts.utcoffset() is None:
        raise ValueError(f"reading time {ts!r} is not an aware datetime")
    secs = (ts - EPOCH) // _SECOND  # exact integer floor, also before 1970
    start = secs // step * step
    ts_text = ts.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    iv_text = (_NAIVE_EPOCH + dt.timedelta(seconds=start)).isoformat(" ", "microseconds")
    texts: Any = f"{ts_text}\t{iv_text}" if pg else (ts_text, iv_text)
    return [texts, start, ts > horizon, iv_text]


def _naive_text(start: int) -> str:
    return (_NAIVE_EPOCH + dt.timedelta(seconds=start)).isoformat(" ", "microseconds")


def _stored(
    cur: Any,
    pg: bool,
    step: int,
    pairs: dict[tuple[int, int], str],
    stamps: set[dt.datetime],
    sums: dict[tuple[int, int], list[int]],
    stored: dict[tuple[int, dt.datetime], tuple[int, int, int | None]],
) -> None:
    """Fill ``sums`` (Σ import, Σ export per (meter id, interval start)) and ``stored`` (rows at ``stamps``).

    ``pairs`` maps (meter id, interval start in s since the epoch) to the start's stored text.
    """
    ts_texts = [t.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds") for t in stamps]
    if pg:
        mids = "{" + ",".join([str(m) for m, _ in pairs]) + "}"
        starts = '{"' + '","'.join(pairs.values()) + '"}'
        cur.execute(_PG_STORED, (step, mids, starts, '{"' + '","'.join(ts_texts) + '"}'))
    else:
        ends = {s: _naive_text(s + step) for s in {s for _, s in pairs}}
        keys = [[m, text, ends[s]] for (m, s), text in pairs.items()]
        cur.execute(_SQLITE_STORED, (json.dumps(keys), json.dumps(ts_texts)))
    for mid, start, imp, exp, rows in cur.fetchall():
        if isinstance(start, str):  # SQLite
            start = dt.datetime.fromisoformat(start)
        sums[(mid, (start - _NAIVE_EPOCH) // _SECOND)] = [int(imp), int(exp)]
        if rows is not None:
            for t, i, e, pv in json.loads(rows) if isinstance(rows, str) else rows:
                stored[(mid, dt.datetime.fromisoformat(t).replace(tzinfo=dt.UTC))] = (i, e, pv)


def _settled(cur: Any, pg: bool, community_id: int, starts: set[int]) -> set[int]:
    """Those of the interval ``starts`` (s since the epoch) whose metered settlement ran."""
    lo, hi = (_NAIVE_EPOCH + dt.timedelta(seconds=s) for s in (min(starts), max(starts)))
    if pg:
        cur.execute(_PG_SETTLED, (community_id, lo, hi))
    else:  # SQLite compares the stored text
        cur.execute(_SQLITE_SETTLED, (community_id, *(t.isoformat(" ", "microseconds") for t in (lo, hi))))
    runs = (dt.datetime.fromisoformat(t) if isinstance(t, str) else t for (t,) in cur.fetchall())
    return {(t - _NAIVE_EPOCH) // _SECOND for t in runs} & starts


def correct_reading(
    session: Session,
    community_id: int,
    meter_id: int,
    ts: dt.datetime | str,
    import_wh: int,
    export_wh: int,
    pv_wh: int | None = None,
    *,
    now: dt.datetime | None = None,
) -> tuple[Reading, dict[str, Any] | None]:
    """Replace (or add) the reading of a meter at ``ts`` before its interval is settled.

    The operator's tool for a wrong stored reading (the caller checks the role and writes
    the audit entry with the returned old values). The new values obey the same rules as
    any reading: :class:`ReadingRejected` (422) with rule ``invalid``, ``future``,
    ``no_generation`` or ``capacity`` (the interval's other readings plus the new one).
    After the interval's metered settlement: :class:`~peergrid.service.errors.Conflict`
    (409) — settlement is final; a correction would then be an adjusting ledger entry,
    which the service does not make.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Runs in the caller's transaction (commit afterwards).
    community_id, meter_id : int
        :class:`~peergrid.service.errors.NotFound` unless the meter is in the community.
    ts : datetime or str
        Start of the reading's period (aware, or ISO 8601 with a timezone).
    import_wh, export_wh : int
        Energy imported and exported in the period (Wh, 0..``MAX_WH``).
    pv_wh : int, optional
        PV generation behind the meter (Wh).
    now : datetime, optional
        The service clock (aware), for the ``future`` rule; default the system clock.

    Returns
    -------
    (Reading, dict or None)
        The stored reading and the replaced values ``{"import_wh", "export_wh", "pv_wh"}``
        (``None`` if there was no reading at ``ts``).
    """
    get_community(session, community_id)
    meter = session.get(Meter, meter_id)
    if meter is None or meter.community_id != community_id:
        raise NotFound(f"meter {meter_id} not found")
    try:
        ts = parse_time(ts, "ts")
        imp, exp = _int(import_wh, "import_wh"), _int(export_wh, "export_wh")
        pv = None if pv_wh is None else _int(pv_wh, "pv_wh")
    except (ValueError, ServiceError) as exc:
        raise ReadingRejected(str(exc), "invalid") from None
    if is_postgres(session):  # before reading the stored row: store_readings takes the same lock again
        session.execute(sa.text(_PG_LOCK.replace("%s", ":c")), {"c": community_id})
    reading = session.execute(
        sa.select(Reading).where(Reading.meter_id == meter.id, Reading.ts == ts)
    ).scalar_one_or_none()
    old = None if reading is None else {"import_wh": reading.import_wh, "export_wh": reading.export_wh,
                                        "pv_wh": reading.pv_wh}
    # The old row goes, and the new one is judged by store_readings' rules as any reading (the
    # interval's other readings count towards capacity); a rejection restores the old row.
    with session.begin_nested():
        if reading is not None:
            session.delete(reading)
        result = store_readings(session, community_id, [(meter.serial, ts, imp, exp, pv)], now=now)
        if result.rejected:
            rej = result.rejected[0]
            if rej["rule"] == "settled":
                raise Conflict(f"{rej['reason']}: settlement is final (a later correction would be an "
                               "adjusting ledger entry, which the service does not make)")
            raise ReadingRejected(rej["reason"], rej["rule"])
    stored = session.execute(
        sa.select(Reading).where(Reading.meter_id == meter.id, Reading.ts == ts)
    ).scalar_one()
    return stored, old
