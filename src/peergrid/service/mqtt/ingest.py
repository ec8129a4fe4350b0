"""The ingestor: subscribe to meter readings, verify them, store them in batches, keep dead letters.

Delivery guarantees are described in :mod:`peergrid.service.mqtt`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from peergrid.core.errors import ConfigError
from peergrid.service.mqtt.credentials import ingestor_client_id, meter_secret, meter_signing_key, verify_reading
from peergrid.service.mqtt.payload import TOPIC_FILTER, MeterReading, PayloadError, parse_payload, parse_topic
from peergrid.service.mqtt.url import BrokerURL

log = logging.getLogger("peergrid.mqtt")

#: Rejection reasons counted in :attr:`IngestStats.rejected` (readings; a message rejected as a whole
#: counts once per reading it carried, or once if it did not parse).
REASONS = ("bad_topic", "bad_payload", "bad_signature", "replay", "unknown_meter", "too_old", "future", "settled",
           "invalid")
#: Reasons whose messages are kept in ``mqtt_dead_letters``.
DEAD_LETTER_REASONS = frozenset({"bad_topic", "bad_payload", "bad_signature", "replay", "invalid"})
#: Plausibility rules of :func:`peergrid.service.metering.store_readings` counted as ``invalid``
#: (each also in :attr:`IngestStats.rules`).
INVALID_RULES = ("capacity", "no_generation", "future", "conflict")


#: Bytes of a dead letter's payload kept (the rest is cut; ``detail`` says how long it was).
DEAD_LETTER_BYTES = 4096


@dataclass
class IngestStats:
    """Counters of an :class:`Ingestor` (readings, not messages, unless named so).

    ``rejected`` counts by :data:`REASONS`; ``rules`` the plausibility rules of
    :data:`INVALID_RULES` behind ``rejected["invalid"]``; ``dead_letters`` messages kept in
    ``mqtt_dead_letters``, ``dead_letters_dropped`` those over the rate limit (counted only);
    ``errors`` exceptions contained (a message that raised, a batch that had to be split).
    """

    messages: int = 0
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: Counter = field(default_factory=Counter)
    rules: Counter = field(default_factory=Counter)
    dead_letters: int = 0
    dead_letters_dropped: int = 0
    errors: int = 0
    batches: int = 0
    db_errors: int = 0
    connects: int = 0
    max_lag_s: float = 0.0
    last_lag_s: float = 0.0
    last_commit: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able snapshot."""
        return {
            "messages": self.messages,
            "received": self.received,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": {r: int(self.rejected.get(r, 0)) for r in REASONS},
            "rejected_total": int(sum(self.rejected.values())),
            "rules": {r: int(self.rules.get(r, 0)) for r in INVALID_RULES},
            "dead_letters": self.dead_letters,
            "dead_letters_dropped": self.dead_letters_dropped,
            "errors": self.errors,
            "batches": self.batches,
            "db_errors": self.db_errors,
            "connects": self.connects,
            "max_lag_s": round(self.max_lag_s, 4),
            "last_lag_s": round(self.last_lag_s, 4),
        }


@dataclass(slots=True)
class _Pending:
    readings: list[MeterReading]
    mid: int
    qos: int
    generation: int
    received: float
    topic: bytes
    payload: bytes


class _SeqConflict(Exception):
    """Another process advanced the sequence number of one of the batch's meters (reload and retry)."""

    def __init__(self, keys: list[tuple[int, str]]) -> None:
        super().__init__(f"{len(keys)} meter sequence number(s) changed meanwhile")
        self.keys = keys


def _reason_of(rej: Mapping[str, Any]) -> str:
    """Counter of a reading :func:`~peergrid.service.metering.store_readings` rejected (by its ``rule``)."""
    rule = rej["rule"]
    return rule if rule in ("unknown_meter", "settled") else "invalid"


_PG_ADVANCE = (
    "UPDATE meters AS m SET mqtt_seq = v.new FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[]) AS v(new, id, old) "
    "WHERE m.id = v.id AND m.mqtt_seq = v.old"
)
_SQLITE_ADVANCE = "UPDATE meters SET mqtt_seq = ? WHERE id = ? AND mqtt_seq = ?"


class Ingestor:
    """Subscribe to meter readings, verify their signatures, and store them in batches.

    Parameters
    ----------
    factory : sessionmaker
        Sessions of the service database (``app.state.sessions``).
    url : str or BrokerURL
        Broker, ``mqtt://host:port`` (a string is parsed by :meth:`BrokerURL.parse`, which reads no environment).
    clock : callable, optional
        Current aware UTC time (``app.state.clock``); bounds future/late readings.
    client_id : str, optional
        MQTT client id of the persistent session (default :func:`ingestor_client_id`: derived
        from the service secret and the database, so a restarted service resumes the same
        session and gets the messages the broker kept, and nobody else can guess it).
    batch_size : int
        Readings per database transaction at most.
    flush_s : float
        A batch is written at the latest this long after its first reading arrived (s).
    out_of_order_s : float
        A reading may be this much older than the newest reading of its meter (s).
    max_future_s : float
        Readings more than this ahead of ``clock()`` are rejected (s).
    max_pending : int
        Readings waiting for the database before the network thread blocks.
    session_expiry_s : int
        How long the broker keeps the session (and its QoS 1 messages) while disconnected (s).
    reconnect_max_s : float
        Longest wait between reconnection attempts (s).
    on_commit : callable, optional
        Called after each committed batch with ``(n_readings, commit_time)`` (benchmarks).
    shared_group : str, optional
        Subscribe as a member of this MQTT 5 shared subscription (``$share/<group>/...``): the
        broker spreads the readings over every ingestor of the group (each with its own
        ``client_id``), e.g. one per CPU core. Out-of-order windows are then per ingestor, and
        a meter's next message must not be sent before the previous one was acknowledged
        (else it may be committed first and the earlier one refused as a replay).
    dead_letters_per_min : int
        Rejected messages written to ``mqtt_dead_letters`` per minute at most (the rest are
        counted in ``dead_letters_dropped``).
    max_dead_letters : int
        Rows kept in ``mqtt_dead_letters``; older ones are deleted whenever new ones are written.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        url: str | BrokerURL,
        *,
        clock: Callable[[], dt.datetime] | None = None,
        client_id: str | None = None,
        batch_size: int = 5000,
        flush_s: float = 0.1,
        out_of_order_s: float = 6 * 3600.0,
        max_future_s: float = 300.0,
        max_pending: int = 100_000,
        session_expiry_s: int = 7 * 24 * 3600,
        reconnect_max_s: float = 5.0,
        on_commit: Callable[[int, float], None] | None = None,
        shared_group: str | None = None,
        dead_letters_per_min: int = 120,
        max_dead_letters: int = 10_000,
    ) -> None:
        from peergrid.service.mqtt.wire import Client

        self.factory = factory
        self.broker = url if isinstance(url, BrokerURL) else BrokerURL.parse(url)
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.batch_size = int(batch_size)
        self.flush_s = float(flush_s)
        self.out_of_order = dt.timedelta(seconds=out_of_order_s)
        self.max_future = dt.timedelta(seconds=max_future_s)
        self.max_pending = int(max_pending)
        self.session_expiry_s = int(session_expiry_s)
        self.on_commit = on_commit
        self.dead_letters_per_min = int(dead_letters_per_min)
        self.max_dead_letters = int(max_dead_letters)
        if shared_group is not None and not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", shared_group):
            raise ConfigError(f"shared_group {shared_group!r}: use letters, digits, '_', '.', '-'")
        self.topic_filter = f"$share/{shared_group}/{TOPIC_FILTER}" if shared_group else TOPIC_FILTER
        self.stats = IngestStats()
        self._lock = threading.Condition()
        self._stats_lock = threading.Lock()
        self._pending: list[_Pending] = []
        self._n_pending = 0
        self._stop = threading.Event()
        self._writer: threading.Thread | None = None
        self._newest: dict[tuple[int, str], dt.datetime] = {}
        self._keys: dict[tuple[int, str], bytes] = {}
        self._topics: dict[bytes, tuple[int, str]] = {}
        # (community id, serial) -> (meter id, highest committed seq); written by the writer thread only
        self._seqs: dict[tuple[int, str], tuple[int, int]] = {}
        self._dead: deque[tuple[Any, ...]] = deque()
        self._dead_window = 0.0
        self._dead_in_window = 0
        self._dead_lock = threading.Lock()
        with factory() as sess, sess.begin():
            self._secret: str = meter_secret(sess) or ""
        if client_id is None:
            bind = factory.kw.get("bind")
            client_id = ingestor_client_id(self._secret, str(bind.url) if bind is not None else "peergrid")
        self.client_id = client_id
        # a persistent session with a large receive maximum: unacknowledged QoS 1 messages stay in flight
        # until their batch commits, and the broker keeps them while the service is away
        self.client = Client(
            self.broker.host, self.broker.port, client_id, **self.broker.client_kwargs(),
            keepalive=15, clean_start=False, session_expiry_s=self.session_expiry_s,
            receive_maximum=65535, subscriptions=[(self.topic_filter, 1)], on_messages=self._on_messages,
            on_connect=self._on_connect, on_disconnect=self._on_disconnect,
            reconnect_min_s=min(1.0, float(reconnect_max_s)), reconnect_max_s=float(reconnect_max_s),
        )
        self.connected = self.client.connected

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> Ingestor:
        """Connect (asynchronously; retried until the broker answers) and start the writer."""
        self._writer = threading.Thread(target=self._write_loop, name="peergrid-mqtt-writer", daemon=True)
        self._writer.start()
        self.client.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Flush what was received, acknowledge it, and disconnect."""
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        if self._writer is not None:
            self._writer.join(timeout)
        self.client.stop()

    def wait_connected(self, timeout: float = 10.0) -> bool:
        """Block until subscribed to the broker (``True``) or ``timeout`` s passed."""
        return self.connected.wait(timeout)

    def __enter__(self) -> Ingestor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- network thread ------------------------------------------------------------------
    def _on_connect(self, session: Any) -> None:
        self.stats.connects += 1
        log.info("MQTT connected to %s:%s (session present: %s)", self.broker.host, self.broker.port,
                 session.session_present)

    def _on_disconnect(self, reason: str) -> None:
        if not self._stop.is_set():
            log.warning("MQTT disconnected (%s); reconnecting", reason)

    def _key(self, cid: int, serial: str) -> bytes:
        k = (cid, serial)
        key = self._keys.get(k)
        if key is None:
            key = meter_signing_key(self._secret, cid, serial)
            if len(self._keys) < 1_000_000:
                self._keys[k] = key
        return key

    def _topic(self, raw: bytes) -> tuple[int, str]:
        """Parsed topic, cached per meter (bad topics are not cached: anyone could flood them)."""
        hit = self._topics.get(raw)
        if hit is None:
            try:
                text = raw.decode()
            except UnicodeDecodeError:
                raise PayloadError("topic is not UTF-8", "bad_topic") from None
            hit = parse_topic(text)
            if len(self._topics) < 1_000_000:
                self._topics[raw] = hit
        return hit

    def _dead_letter(self, topic: bytes, payload: bytes, reason: str, detail: str, cid: int | None) -> None:
        """Queue a rejected message for ``mqtt_dead_letters`` (at most ``dead_letters_per_min`` a minute)."""
        now = time.monotonic()
        with self._dead_lock:
            if now - self._dead_window >= 60.0:
                self._dead_window, self._dead_in_window = now, 0
            if self._dead_in_window >= self.dead_letters_per_min or len(self._dead) >= 10 * self.dead_letters_per_min:
                self.stats.dead_letters_dropped += 1
                return
            self._dead_in_window += 1
            cut = f" (payload of {len(payload)} bytes cut)" if len(payload) > DEAD_LETTER_BYTES else ""
            self._dead.append((dt.datetime.now(dt.UTC), bytes(topic[:1200]).decode("utf-8", "backslashreplace")[:300],
                               bytes(payload[:DEAD_LETTER_BYTES]), reason, (detail[:300 - len(cut)] + cut), cid))

    def _on_messages(self, messages: list[tuple[bytes, bytes, int, int]], generation: int) -> None:
        """Network thread callback: never raises (a failure is logged and counted)."""
        try:
            self._handle(messages, generation)
        except Exception:  # the network thread must survive anything (a bug: logged, counted)
            self.stats.errors += 1
            log.exception("handling %d MQTT messages failed", len(messages))

    def _handle(self, messages: list[tuple[bytes, bytes, int, int]], generation: int) -> None:
        """Validate and verify the messages of one socket read and queue them for the writer."""
        now = time.time()
        st = self.stats
        clock_now = self.clock()
        horizon = clock_now + self.max_future
        rejected: Counter = Counter()
        ack_now: list[int] = []
        queued: list[_Pending] = []
        n_queued = 0
        for topic, payload, mid, qos in messages:
            st.messages += 1
            cid: int | None = None
            n = 1
            try:
                cid, serial = self._topic(topic)
                readings = parse_payload(cid, serial, payload)
                n = len(readings)
                key = self._key(cid, serial)
                for r in readings:
                    if not verify_reading(key, r):
                        raise PayloadError(f"signature of the reading seq={r.seq} does not match", "bad_signature")
            except PayloadError as exc:
                reason, detail = exc.reason, str(exc)
            except Exception as exc:  # whatever the content, one message fails alone
                st.errors += 1
                reason, detail = "bad_payload", f"{type(exc).__name__} while parsing"
            else:
                reason = ""
            if reason:
                rejected[reason] += n
                st.received += n
                self._dead_letter(topic, payload, reason, detail, cid)
                if qos:
                    ack_now.append(mid)
                continue
            st.received += n
            newest = self._newest.get((cid, serial))  # type: ignore[arg-type]
            oldest = None if newest is None else newest - self.out_of_order
            keep = []
            for r in readings:
                if r.ts > horizon:
                    rejected["future"] += 1
                elif oldest is not None and r.ts < oldest:
                    rejected["too_old"] += 1
                else:
                    keep.append(r)
            if not keep:
                if qos:
                    ack_now.append(mid)
                continue
            queued.append(_Pending(keep, mid, qos, generation, now, topic, payload))
            n_queued += len(keep)
        if rejected:
            with self._stats_lock:
                st.rejected.update(rejected)
        if ack_now:
            self.client.ack(ack_now, generation)
        if not queued:
            return
        with self._lock:
            while self._n_pending >= self.max_pending and not self._stop.is_set():
                self._lock.wait(0.5)  # backpressure: stop reading from the socket
            self._pending.extend(queued)
            self._n_pending += n_queued
            if self._n_pending >= self.batch_size:
                self._lock.notify_all()

    def _ack(self, items: Iterable[_Pending]) -> None:
        """Acknowledge QoS 1 messages of the current connection, in one socket write."""
        gen = self.client.generation
        self.client.ack([p.mid for p in items if p.qos == 1 and p.generation == gen], gen)

    # ---- writer thread ------------------------------------------------------------------
    def _take(self) -> list[_Pending]:
        """Wait for a batch: ``batch_size`` readings, or the oldest waited ``flush_s``, or stopping."""
        with self._lock:
            if not self._pending:
                self._lock.wait(self.flush_s)
            if not self._pending:
                return []
            wait = self._pending[0].received + self.flush_s - time.time()
            if self._n_pending < self.batch_size and wait > 0 and not self._stop.is_set():
                self._lock.wait(wait)
            i = n = 0
            while i < len(self._pending) and n < self.batch_size:
                n += len(self._pending[i].readings)
                i += 1
            take, self._pending = self._pending[:i], self._pending[i:]
            self._n_pending -= n
            self._lock.notify_all()
            return take

    def _write_loop(self) -> None:
        while True:
            try:
                batch = self._take()
                if batch and not self._write(batch):
                    return  # stopping: not acknowledged, the broker redelivers them to the next session
                self._write_dead_letters()
                if not batch and self._stop.is_set():
                    return
            except Exception:  # the writer must survive anything (a bug: logged, counted)
                self.stats.errors += 1
                log.exception("MQTT writer failed")
                if self._stop.wait(0.5):
                    return

    def _write(self, batch: list[_Pending]) -> bool:
        """Store a batch and acknowledge it; ``False`` if stopping first.

        A database that is unavailable is retried (nothing acknowledged meanwhile); any other
        failure splits the batch in halves until the message that causes it is found, which
        goes to the dead letters, so one poison message never blocks the others.
        """
        delay = 0.2
        conflicts = 0
        while True:
            try:
                self._store(batch)
                self._ack(batch)
                return True
            except _SeqConflict as exc:  # another ingestor advanced a meter: reload its seq and redo
                for k in exc.keys:
                    self._seqs.pop(k, None)
                conflicts += 1
                if conflicts < 5:
                    continue
                return self._isolate(batch, exc)
            except (OperationalError, InterfaceError) as exc:  # database down or busy: keep, retry, do not ack
                self.stats.db_errors += 1
                log.warning("storing %d MQTT messages failed (%s); retrying", len(batch), type(exc).__name__)
            except Exception as exc:  # something in the data, or a bug: isolate the message that causes it
                return self._isolate(batch, exc)
            if self._stop.wait(delay):
                return False
            delay = min(delay * 2, 5.0)

    def _isolate(self, batch: list[_Pending], exc: Exception) -> bool:
        """Storing ``batch`` raised ``exc``: store its halves apart; a single message becomes a dead letter."""
        self.stats.errors += 1
        if len(batch) > 1:
            half = len(batch) // 2
            return self._write(batch[:half]) and self._write(batch[half:])
        p = batch[0]
        log.warning("an MQTT message could not be stored (%s): dead letter", type(exc).__name__)
        with self._stats_lock:
            self.stats.rejected["invalid"] += len(p.readings)
        cid = p.readings[0].community_id if p.readings else None
        self._dead_letter(p.topic, p.payload, "invalid", f"storing failed: {type(exc).__name__}: {exc}", cid)
        self._ack(batch)
        return True

    def _load_seqs(self, s: Session, cid: int, serials: set[str]) -> None:
        """Cache ``(meter id, mqtt_seq)`` of the meters not cached yet (one query per 500)."""
        from peergrid.service.models import Meter

        seqs = self._seqs
        missing = [x for x in serials if (cid, x) not in seqs]
        if len(seqs) + len(missing) > 1_000_000:
            seqs.clear()
            missing = list(serials)
        for i in range(0, len(missing), 500):
            q = sa.select(Meter.serial, Meter.id, Meter.mqtt_seq).where(
                Meter.community_id == cid, Meter.serial.in_(missing[i:i + 500]))
            for serial, mid, seq in s.execute(q):
                seqs[(cid, serial)] = (mid, int(seq or 0))

    def _advance(self, s: Session, cid: int, highest: dict[str, int]) -> dict[tuple[int, str], tuple[int, int]]:
        """Set ``mqtt_seq`` of the batch's meters, if nobody changed it since we read it (compare and set)."""
        from peergrid.service.db import is_postgres

        seqs = self._seqs
        keys = [(cid, serial) for serial in highest]
        new = [highest[k[1]] for k in keys]
        ids = [seqs[k][0] for k in keys]
        old = [seqs[k][1] for k in keys]
        cur = s.connection().connection.driver_connection.cursor()
        try:
            if is_postgres(s):
                cur.execute(_PG_ADVANCE, (new, ids, old))
            else:
                cur.executemany(_SQLITE_ADVANCE, list(zip(new, ids, old, strict=True)))
            if cur.rowcount != len(keys):
                raise _SeqConflict(keys)
        finally:
            cur.close()
        return {k: (i, n) for k, i, n in zip(keys, ids, new, strict=True)}

    def _store(self, batch: list[_Pending]) -> None:
        from peergrid.service.errors import NotFound, ServiceError
        from peergrid.service.metering import store_readings

        by_c: dict[int, list[tuple[MeterReading, _Pending]]] = defaultdict(list)
        for p in batch:
            cid = p.readings[0].community_id
            by_c[cid].extend((r, p) for r in p.readings)
        accepted = duplicates = 0
        rejected: Counter = Counter()
        rules: Counter = Counter()
        problems: dict[int, tuple[_Pending, list[tuple[str, str]]]] = {}  # id(pending) -> (pending, [(reason, detail)])
        seq_updates: dict[tuple[int, str], tuple[int, int]] = {}
        newest_updates: dict[tuple[int, str], dt.datetime] = {}
        now = self.clock()

        def problem(p: _Pending, reason: str, detail: str) -> None:
            rejected[reason] += 1
            problems.setdefault(id(p), (p, []))[1].append((reason, detail))

        with self.factory() as s, s.begin():
            # communities in ascending id: store_readings takes a per-community lock on PostgreSQL, and
            # ingestors of one shared subscription must take them in the same order (no deadlock)
            for cid, items in sorted(by_c.items()):
                self._load_seqs(s, cid, {r.serial for r, _ in items})
                highest: dict[str, int] = {}
                rows: list[tuple[str, dt.datetime, int, int, int | None]] = []
                origin: list[tuple[MeterReading, _Pending]] = []
                for r, p in items:
                    known = self._seqs.get((cid, r.serial))
                    if known is not None:
                        last = highest.get(r.serial, known[1])
                        if r.seq <= last:
                            problem(p, "replay", f"seq {r.seq} is not above the meter's last accepted seq {last}")
                            continue
                        highest[r.serial] = r.seq
                    rows.append((r.serial, r.ts, r.import_wh, r.export_wh, r.pv_wh))
                    origin.append((r, p))
                if not rows:
                    continue
                try:
                    with s.begin_nested():
                        res = store_readings(s, cid, rows, now=now)
                except ServiceError as exc:  # the community does not exist (NotFound), or the batch is refused
                    reason = "unknown_meter" if isinstance(exc, NotFound) else "invalid"
                    for _r, p in origin:
                        problem(p, reason, str(exc)[:200])
                    continue
                accepted += res.accepted
                duplicates += res.duplicates
                bad = set()
                for rej in res.rejected:
                    i = rej["index"]
                    bad.add(i)
                    reason = _reason_of(rej)
                    if reason == "invalid":
                        rules[rej["rule"]] += 1
                    problem(origin[i][1], reason, rej["reason"][:200])
                for i, (r, _p) in enumerate(origin):
                    if i not in bad:
                        key = (cid, r.serial)
                        last_ts = newest_updates.get(key) or self._newest.get(key)
                        if last_ts is None or r.ts > last_ts:
                            newest_updates[key] = r.ts
                if highest:
                    seq_updates.update(self._advance(s, cid, highest))
        # committed
        self._seqs.update(seq_updates)
        self._newest.update(newest_updates)
        t = time.time()
        st = self.stats
        st.accepted += accepted
        st.duplicates += duplicates
        with self._stats_lock:
            st.rejected.update(rejected)
            st.rules.update(rules)
        for p, reasons in problems.values():
            keep = [(r, d) for r, d in reasons if r in DEAD_LETTER_REASONS]
            if keep:
                reason, detail = keep[0]
                cid = p.readings[0].community_id
                self._dead_letter(p.topic, p.payload, reason,
                                  f"{len(reasons)} of {len(p.readings)} reading(s) rejected: {detail}", cid)
        st.batches += 1
        st.last_lag_s = t - min(p.received for p in batch)
        st.max_lag_s = max(st.max_lag_s, st.last_lag_s)
        st.last_commit = t
        if self.on_commit is not None:
            self.on_commit(sum(len(p.readings) for p in batch), t)

    def _write_dead_letters(self) -> None:
        """Insert the queued dead letters in a transaction of their own and keep the newest ``max_dead_letters``."""
        from peergrid.service.models import MqttDeadLetter

        with self._dead_lock:
            if not self._dead:
                return
            rows, self._dead = list(self._dead), deque()
        try:
            with self.factory() as s, s.begin():
                s.execute(sa.insert(MqttDeadLetter), [
                    {"received_at": t, "topic": topic, "payload": payload, "reason": reason, "detail": detail,
                     "community_id": cid if cid is not None and 0 < cid < 2**31 else None}
                    for t, topic, payload, reason, detail, cid in rows])
                top = s.scalar(sa.select(sa.func.max(MqttDeadLetter.id)))
                if top is not None and top > self.max_dead_letters:  # ids grow: older rows have smaller ones
                    s.execute(sa.delete(MqttDeadLetter).where(MqttDeadLetter.id <= top - self.max_dead_letters))
        except Exception as exc:  # never lose readings (or stop) over a dead letter
            self.stats.db_errors += 1
            log.warning("writing %d MQTT dead letters failed (%s); dropped", len(rows), type(exc).__name__)
            self.stats.dead_letters_dropped += len(rows)
            return
        self.stats.dead_letters += len(rows)
