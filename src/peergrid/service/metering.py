"""Meter readings: batch ingestion, idempotent on (meter, timestamp).

A reading is the energy that flowed through a meter in the period starting at ``ts``:
``import_wh`` from the grid side and ``export_wh`` to it (integers ≥ 0). Net energy
follows peergrid's sign convention, ``net = import − export`` (+ consumer, − producer).
Each reading is filed under the trading interval that contains ``ts``; readings of an
interval whose metered settlement already ran are rejected (settlement is final).

:func:`ingest_readings` is the entry point for untrusted input (HTTP batch upload here):
it validates every reading, then stores the valid ones with :func:`store_readings`, which
transports that validate themselves (MQTT in :mod:`peergrid.service.mqtt`) call directly.

Storage is bulk and bypasses the ORM: on PostgreSQL the rows go by ``COPY`` into a
per-connection temporary staging table and from there by one ``INSERT … SELECT … ON
CONFLICT DO NOTHING`` into ``readings``; on SQLite by one DB-API ``executemany``. Both
write timestamps as naive UTC exactly as :class:`~peergrid.service.models.UTCDateTime`
does, and run in the caller's transaction (savepoints included).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from peergrid.service.db import is_postgres
from peergrid.service.directory import get_community
from peergrid.service.errors import Forbidden, Invalid, ServiceError
from peergrid.service.models import Meter, utcnow
from peergrid.service.timeutil import EPOCH, parse_time

MAX_BATCH = 50_000
MAX_WH = 10**9  # 1 GWh per reading: anything larger is a unit error

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
# the batch's serials go as one JSON array parameter, whatever their number
_PG_METERS = (
    "SELECT serial, id FROM meters WHERE community_id = %s AND serial IN (SELECT json_array_elements_text(%s::json))"
)
_SQLITE_METERS = "SELECT serial, id FROM meters WHERE community_id = ? AND serial IN (SELECT value FROM json_each(?))"
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
        Readings whose (meter, ts) was already stored or repeated in the batch (ignored).
    rejected : list of dict
        ``{"index": i, "reason": "..."}`` for readings that were not stored.
    """

    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}


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
) -> IngestResult:
    """Validate and store a batch of readings (bulk insert; duplicates ignored).

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

    Returns
    -------
    IngestResult
        Indexes in ``rejected`` refer to ``readings``.
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
        try:
            if not isinstance(r, Mapping):
                raise ValueError("a reading must be an object")
            if r.get("meter_id") is not None:
                m = by_id.get(r["meter_id"]) if isinstance(r["meter_id"], int) else None
                if m is None:
                    raise ValueError(f"unknown meter id {r['meter_id']!r} in this community")
            else:
                m = by_serial.get(str(r.get("meter", "")))
                if m is None:
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
            rejected.append({"index": i, "reason": str(exc)})
            continue
        valid.append((m.serial, ts, imp, exp, pv))
        origin.append(i)
    result = store_readings(session, community_id, valid) if valid else IngestResult()
    for rej in result.rejected:
        rej["index"] = origin[rej["index"]]
    result.rejected = sorted(rejected + result.rejected, key=lambda d: d["index"])
    return result


def store_readings(session: Session, community_id: int, readings: Sequence[ReadingTuple]) -> IngestResult:
    """Store a batch of already validated readings (bulk; duplicates ignored).

    The readings are not validated again: energies must be integers in 0..``MAX_WH`` Wh
    (a negative one fails the whole statement on the table's check constraint). The
    storage costs about 1–2 µs of Python per reading (see ``docs/service.md``).

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

    Returns
    -------
    IngestResult
        ``accepted`` new rows; ``duplicates`` readings whose (meter, ts) repeats an
        earlier one of the batch or a stored one; ``rejected`` (sorted by index into
        ``readings``) readings of meters not in the community (``"unknown meter 'S' in
        this community"``) or of intervals whose metered settlement ran (``"interval
        … is already settled"``). Each reading counts in exactly one of the three.
    """
    community = get_community(session, community_id)
    result = IngestResult()
    if not readings:
        return result
    step = community.interval_minutes * 60
    pg = is_postgres(session)
    session.flush()  # the raw queries below must see the session's pending meters and clearing runs
    raw = session.connection().connection.driver_connection  # the DB-API connection, in the session's transaction
    with closing(raw.cursor()) as cur:
        cur.execute(_PG_METERS if pg else _SQLITE_METERS, (community_id, json.dumps(list({r[0] for r in readings}))))
        ids: dict[str, int] = dict(cur.fetchall())

        # One pass: resolve the meter, drop repeats, group by timestamp. Per distinct timestamp (few
        # in a batch: meters report on the same grid) the texts and the interval are computed once.
        # Entry of a timestamp: [texts of ts and interval start, interval start (s since epoch), rows, indexes].
        by_ts: dict[dt.datetime, list[Any]] = {}
        get_ts = by_ts.get
        get_id = ids.get
        seen: set[tuple[int, dt.datetime]] = set()
        add_seen = seen.add
        unknown: list[int] = []
        duplicates = 0
        received = utcnow().replace(tzinfo=None)  # one arrival time for the batch
        received_text = received.isoformat(" ", "microseconds")
        null = _PG_NULL
        for i, (serial, ts, imp, exp, pv) in enumerate(readings):
            mid = get_id(serial)
            if mid is None:
                unknown.append(i)
                continue
            key = (mid, ts)
            if key in seen:
                duplicates += 1
                continue
            add_seen(key)
            e = get_ts(ts)
            if e is None:
                e = by_ts[ts] = _ts_entry(ts, step, pg)
            if pg:
                e[2].append(f"{mid}\t{e[0]}\t{imp}\t{exp}\t{null if pv is None else pv}\n")
            else:
                e[2].append((mid, e[0][0], e[0][1], imp, exp, pv, received_text))
            e[3].append(i)

        rejected = [{"index": i, "reason": f"unknown meter {readings[i][0]!r} in this community"} for i in unknown]
        settled = _settled(cur, pg, community_id, {e[1] for e in by_ts.values()}) if by_ts else set()
        if settled:
            for e in by_ts.values():
                if e[1] in settled:
                    reason = f"interval {(EPOCH + dt.timedelta(seconds=e[1])).isoformat()} is already settled"
                    rejected.extend({"index": i, "reason": reason} for i in e[3])
            rejected.sort(key=lambda d: d["index"])
        entries = [e for e in by_ts.values() if e[1] not in settled]
        count = sum(len(e[2]) for e in entries)
        result.rejected = rejected
        result.duplicates = duplicates
        if not count:
            return result
        if pg:
            cur.execute(_PG_STAGE)
            with cur.copy(_PG_COPY) as copy:
                copy.write("".join(chain.from_iterable(e[2] for e in entries)))
            cur.execute(_PG_INSERT, (received,))
        else:
            cur.executemany(_SQLITE_INSERT, chain.from_iterable(e[2] for e in entries))
        accepted = cur.rowcount
    result.accepted = accepted
    result.duplicates += count - accepted
    return result


def _ts_entry(ts: dt.datetime, step: int, pg: bool) -> list[Any]:
    """Texts of ``ts`` and its interval start as stored (naive UTC), the start in s since the epoch."""
    if not isinstance(ts, dt.datetime) or ts.utcoffset() is None:
        raise ValueError(f"reading time {ts!r} is not an aware datetime")
    secs = (ts - EPOCH) // _SECOND  # exact integer floor, also before 1970
    start = secs // step * step
    ts_text = ts.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    iv_text = (_NAIVE_EPOCH + dt.timedelta(seconds=start)).isoformat(" ", "microseconds")
    texts: Any = f"{ts_text}\t{iv_text}" if pg else (ts_text, iv_text)
    return [texts, start, [], []]


def _settled(cur: Any, pg: bool, community_id: int, starts: set[int]) -> set[int]:
    """Those of the interval ``starts`` (s since the epoch) whose metered settlement ran."""
    lo, hi = (_NAIVE_EPOCH + dt.timedelta(seconds=s) for s in (min(starts), max(starts)))
    if pg:
        cur.execute(_PG_SETTLED, (community_id, lo, hi))
    else:  # SQLite compares the stored text
        cur.execute(_SQLITE_SETTLED, (community_id, *(t.isoformat(" ", "microseconds") for t in (lo, hi))))
    runs = (dt.datetime.fromisoformat(t) if isinstance(t, str) else t for (t,) in cur.fetchall())
    return {(t - _NAIVE_EPOCH) // _SECOND for t in runs} & starts
