"""Meter readings over MQTT: a subscriber that stores readings in batches, and a meter simulator.

Topic and payload
-----------------
Each meter publishes with **QoS 1** on ``peergrid/<community id>/<meter serial>/reading``
a JSON object (or, for a backlog, a JSON array of up to :data:`MAX_ITEMS` objects)::

    {"ts": "2026-12-01T06:15:00Z", "import_wh": 120, "export_wh": 0, "pv_wh": 35, "token": "..."}

``ts`` is the aware UTC start of the metering period; ``import_wh``/``export_wh`` are the
integer Wh that flowed from/to the grid in that period (sign convention of
:mod:`peergrid.service.metering`: net = import − export); ``pv_wh`` (optional) is the PV
generation; ``token`` is the meter's credential, :func:`meter_token`.

Credentials
-----------
A meter's token is ``HMAC-SHA256(secret, "<community id>/<serial>")`` (URL-safe base64,
32 characters) with a service secret kept in the ``service_config`` table
(:data:`SECRET_KEY`), so every server process verifies tokens without a database round
trip; ``peergrid meters tokens`` prints them for provisioning. Rotating the secret
revokes every token at once.

Delivery guarantees
-------------------
* Bad payloads, bad tokens, unknown meters, readings older than the out-of-order window
  or in the future, and readings of already-settled intervals are **rejected and
  counted** (:attr:`Ingestor.stats`), never stored.
* Messages are read with :mod:`peergrid.service.mqttwire` (a lean MQTT 5 client that hands
  over every PUBLISH of a socket read as one batch) and stored by
  :func:`peergrid.service.metering.store_readings` (the storage behind every transport;
  COPY on PostgreSQL) in **batches** (up to ``batch_size`` readings or
  ``flush_s`` seconds), one database transaction per batch.
* The broker's QoS 1 message is acknowledged only **after** the batch is committed
  (manual acks, MQTT 5 with a persistent session and a large receive maximum): a
  crash between receipt and commit makes the broker deliver the message again, and the
  store is idempotent on (meter, ts), so redeliveries become ``duplicates``.
* The client reconnects after a broker restart (exponential back-off up to
  ``reconnect_max_s``); the broker keeps the session's unacknowledged and queued QoS 1
  messages (with ``persistence true`` also across its own restart) and delivers them.
* Backpressure: when more than ``max_pending`` readings wait for the database the
  network thread blocks, TCP flow control slows the broker down, and no message is
  dropped by the ingestor.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from peergrid.core.errors import ConfigError, DataError

log = logging.getLogger("peergrid.mqtt")

TOPIC_PREFIX = "peergrid"
#: Subscription filter of the ingestor.
TOPIC_FILTER = f"{TOPIC_PREFIX}/+/+/reading"
_TOPIC_RE = re.compile(r"^peergrid/([0-9]{1,12})/([A-Za-z0-9_.:\-]{1,100})/reading$")
#: ``service_config`` key of the HMAC secret of meter tokens.
SECRET_KEY = "mqtt_meter_secret"
#: Most readings in one message (a meter's backlog).
MAX_ITEMS = 1000
MAX_PAYLOAD = 256 * 1024
MAX_WH = 10**9
_FIELDS = frozenset({"ts", "import_wh", "export_wh", "pv_wh", "token"})
#: Rejection reasons counted in :attr:`IngestStats.rejected`.
REASONS = ("bad_topic", "bad_payload", "bad_token", "unknown_meter", "too_old", "future", "settled", "invalid")


class PayloadError(DataError):
    """An MQTT message that is not a valid reading (bad topic, JSON or values)."""


# --------------------------------------------------------------------------- parsing


def topic_for(community_id: int, serial: str) -> str:
    """The topic a meter publishes its readings on."""
    return f"{TOPIC_PREFIX}/{int(community_id)}/{serial}/reading"


def parse_topic(topic: str) -> tuple[int, str]:
    """``(community id, meter serial)`` of a reading topic.

    Raises
    ------
    PayloadError
        If the topic is not ``peergrid/<community id>/<serial>/reading``.
    """
    m = _TOPIC_RE.match(topic)
    if m is None:
        raise PayloadError(f"topic {topic[:200]!r} is not peergrid/<community id>/<meter serial>/reading")
    return int(m.group(1)), m.group(2)


def _wh(obj: Mapping[str, Any], name: str, required: bool = True) -> int | None:
    v = obj.get(name)
    if v is None:
        if required:
            raise PayloadError(f"{name} is missing")
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        else:
            raise PayloadError(f"{name} must be an integer number of Wh, got {v!r}")
    if not 0 <= v <= MAX_WH:
        raise PayloadError(f"{name} must be in 0..{MAX_WH} Wh, got {v}")
    return v


_TS_CACHE: dict[str, dt.datetime] = {}


def _ts(v: Any) -> dt.datetime:
    if not isinstance(v, str):
        raise PayloadError("ts must be an ISO 8601 UTC time string")
    hit = _TS_CACHE.get(v)  # meters report the same period starts: parse each once
    if hit is not None:
        return hit
    try:
        t = dt.datetime.fromisoformat(v)  # Python ≥ 3.11 understands "Z"
    except ValueError:
        raise PayloadError(f"ts {v[:40]!r} is not an ISO 8601 time") from None
    if t.tzinfo is None or t.utcoffset() is None:
        raise PayloadError(f"ts {v[:40]!r} has no timezone (use e.g. 2026-01-01T12:00:00Z)")
    t = t.astimezone(dt.UTC)
    if len(_TS_CACHE) >= 8192:
        _TS_CACHE.clear()
    _TS_CACHE[v] = t
    return t


@dataclass(slots=True)
class MeterReading:
    """One validated reading (energy in the period starting at ``ts``, Wh)."""

    community_id: int
    serial: str
    ts: dt.datetime
    import_wh: int
    export_wh: int
    pv_wh: int | None
    token: str


def parse_message(topic: str, payload: bytes | str) -> list[MeterReading]:
    """Validate one MQTT message into readings (token not yet verified).

    Parameters
    ----------
    topic : str
        ``peergrid/<community id>/<meter serial>/reading``.
    payload : bytes or str
        UTF-8 JSON: one reading object or an array of 1..:data:`MAX_ITEMS` of them, each with
        ``ts`` (aware ISO 8601), ``import_wh``, ``export_wh`` (integer Wh ≥ 0), optional
        ``pv_wh`` and ``token``. Unknown keys are an error.

    Returns
    -------
    list of MeterReading

    Raises
    ------
    PayloadError
        Anything malformed; the whole message is rejected.
    """
    cid, serial = parse_topic(topic)
    return parse_payload(cid, serial, payload)


def parse_payload(community_id: int, serial: str, payload: bytes | str) -> list[MeterReading]:
    """Validate the payload of a message on the topic of meter ``serial`` (see :func:`parse_message`).

    Raises
    ------
    PayloadError
        Anything malformed; the whole message is rejected.
    """
    if len(payload) > MAX_PAYLOAD:
        raise PayloadError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise PayloadError("payload is not UTF-8 JSON") from None
    items = obj if isinstance(obj, list) else [obj]
    if not items or len(items) > MAX_ITEMS:
        raise PayloadError(f"a message carries 1..{MAX_ITEMS} readings, got {len(items)}")
    out = []
    for it in items:
        if not isinstance(it, dict):
            raise PayloadError("a reading must be a JSON object")
        if not it.keys() <= _FIELDS:
            raise PayloadError(f"unknown field(s) {sorted(it.keys() - _FIELDS)[:5]}")
        token = it.get("token")
        if not isinstance(token, str) or not token:
            raise PayloadError("token is missing")
        out.append(MeterReading(community_id, serial, _ts(it.get("ts")), _wh(it, "import_wh"),
                                _wh(it, "export_wh"), _wh(it, "pv_wh", False), token))
    return out


# --------------------------------------------------------------------------- credentials


def meter_token(secret: str, community_id: int, serial: str) -> str:
    """The credential of meter ``serial`` in community ``community_id`` (32 URL-safe characters)."""
    mac = hmac.new(secret.encode(), f"{int(community_id)}/{serial}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode()[:32]


def meter_secret(session: Session, create: bool = True) -> str | None:
    """The service's meter-token secret from ``service_config`` (created on first use).

    Returns ``None`` if it does not exist and ``create`` is false.
    """
    from peergrid.service.models import ServiceConfig

    row = session.get(ServiceConfig, SECRET_KEY)
    if row is not None:
        return row.value
    if not create:
        return None
    key = secrets.token_urlsafe(48)
    try:
        with session.begin_nested():
            session.add(ServiceConfig(key=SECRET_KEY, value=key))
    except IntegrityError:  # another process created it first
        row = session.get(ServiceConfig, SECRET_KEY)
        assert row is not None
        return row.value
    return key


def meter_tokens(session: Session, community_id: int) -> dict[str, str]:
    """``{serial: token}`` of every meter of a community (creates the secret if needed)."""
    from peergrid.service.models import Meter

    secret = meter_secret(session)
    assert secret is not None
    serials = session.execute(
        sa.select(Meter.serial).where(Meter.community_id == community_id).order_by(Meter.id)
    ).scalars()
    return {s: meter_token(secret, community_id, s) for s in serials}


# --------------------------------------------------------------------------- broker URL


@dataclass(frozen=True)
class BrokerURL:
    """``mqtt://[user:password@]host[:port]`` parsed."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerURL:
        """Parse a broker URL; :class:`ConfigError` names the problem."""
        p = urlparse(url if "://" in url else f"mqtt://{url}")
        if p.scheme not in ("mqtt", "tcp"):
            raise ConfigError(f"MQTT URL {url!r}: scheme must be mqtt:// (TLS is not supported)")
        if not p.hostname:
            raise ConfigError(f"MQTT URL {url!r} has no host")
        try:
            port = p.port or 1883
        except ValueError:
            raise ConfigError(f"MQTT URL {url!r} has a bad port") from None
        return cls(p.hostname, port, p.username, p.password)


# --------------------------------------------------------------------------- ingestor


@dataclass
class IngestStats:
    """Counters of an :class:`Ingestor` (readings, not messages, unless named so)."""

    messages: int = 0
    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: Counter = field(default_factory=Counter)
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


def _reason_of(text: str) -> str:
    if text.startswith("unknown meter"):
        return "unknown_meter"
    if "already settled" in text:
        return "settled"
    return "invalid"


class Ingestor:
    """Subscribe to meter readings and store them in batches.

    Parameters
    ----------
    factory : sessionmaker
        Sessions of the service database (``app.state.sessions``).
    url : str
        Broker, ``mqtt://host:port``.
    clock : callable, optional
        Current aware UTC time (``app.state.clock``); bounds future/late readings.
    client_id : str, optional
        MQTT client id of the persistent session (default derived from the database URL,
        so a restarted service resumes the same session and gets the messages the broker kept).
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
        ``client_id``), e.g. one per CPU core. Out-of-order windows are then per ingestor.
    """

    def __init__(
        self,
        factory: sessionmaker[Session],
        url: str,
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
    ) -> None:
        from peergrid.service.mqttwire import Client

        self.factory = factory
        self.broker = BrokerURL.parse(url)
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.batch_size = int(batch_size)
        self.flush_s = float(flush_s)
        self.out_of_order = dt.timedelta(seconds=out_of_order_s)
        self.max_future = dt.timedelta(seconds=max_future_s)
        self.max_pending = int(max_pending)
        self.session_expiry_s = int(session_expiry_s)
        self.on_commit = on_commit
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
        self._secret: str | None = None
        self._expected: dict[tuple[int, str], str] = {}
        self._topics: dict[bytes, tuple[int, str] | str] = {}
        if client_id is None:
            db = str(factory.kw["bind"].url) if factory.kw.get("bind") is not None else "peergrid"
            client_id = "peergrid-ingest-" + hashlib.sha256(db.encode()).hexdigest()[:12]
        self.client_id = client_id
        # a persistent session with a large receive maximum: unacknowledged QoS 1 messages stay in flight
        # until their batch commits, and the broker keeps them while the service is away
        self.client = Client(
            self.broker.host, self.broker.port, client_id, username=self.broker.username,
            password=self.broker.password, keepalive=15, clean_start=False, session_expiry_s=self.session_expiry_s,
            receive_maximum=65535, subscriptions=[(self.topic_filter, 1)], on_messages=self._on_messages,
            on_connect=self._on_connect, on_disconnect=self._on_disconnect,
            reconnect_min_s=min(1.0, float(reconnect_max_s)), reconnect_max_s=float(reconnect_max_s),
        )
        self.connected = self.client.connected

    # ---- lifecycle -------------------------------------------------------------------
    def start(self) -> Ingestor:
        """Connect (asynchronously; retried until the broker answers) and start the writer."""
        with self.factory() as sess, sess.begin():
            self._secret = meter_secret(sess)
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

    def _verify(self, r: MeterReading) -> bool:
        key = (r.community_id, r.serial)
        exp = self._expected.get(key)
        if exp is None:
            exp = meter_token(self._secret or "", r.community_id, r.serial)
            if len(self._expected) < 1_000_000:
                self._expected[key] = exp
        return hmac.compare_digest(exp, r.token)

    def _topic(self, raw: bytes) -> tuple[int, str]:
        """Parsed topic, cached per meter (a :class:`PayloadError` is cached as its message)."""
        hit = self._topics.get(raw)
        if hit is None:
            try:
                hit = parse_topic(raw.decode())
            except (PayloadError, UnicodeDecodeError) as exc:
                hit = str(exc) if isinstance(exc, PayloadError) else "topic is not UTF-8"
            if len(self._topics) < 1_000_000:
                self._topics[raw] = hit
        if isinstance(hit, str):
            raise PayloadError(hit)
        return hit

    def _on_messages(self, messages: list[tuple[bytes, bytes, int, int]], generation: int) -> None:
        """Validate the messages of one socket read and queue them for the writer (network thread)."""
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
            try:
                cid, serial = self._topic(topic)
                readings = parse_payload(cid, serial, payload)
            except PayloadError as exc:
                rejected["bad_topic" if str(exc).startswith("topic") else "bad_payload"] += 1
                st.received += 1
                if qos:
                    ack_now.append(mid)
                continue
            st.received += len(readings)
            first = readings[0]
            if not self._verify(first) or any(r.token != first.token for r in readings[1:]):
                rejected["bad_token"] += len(readings)
                if qos:
                    ack_now.append(mid)
                continue
            newest = self._newest.get((cid, serial))
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
            queued.append(_Pending(keep, mid, qos, generation, now))
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
            batch = self._take()
            if not batch:
                if self._stop.is_set():
                    return
                continue
            delay = 0.2
            failures = 0
            while True:
                try:
                    self._store(batch)
                    break
                except (OperationalError, DBAPIError) as exc:  # database down or busy: keep, retry, do not ack
                    self.stats.db_errors += 1
                    log.warning("storing %d MQTT messages failed (%s); retrying", len(batch), type(exc).__name__)
                except Exception:  # a bug, not the data's fault: retry a few times, then give the batch up
                    self.stats.db_errors += 1
                    failures += 1
                    log.exception("storing %d MQTT messages failed", len(batch))
                    if failures >= 3:
                        with self._stats_lock:
                            self.stats.rejected["invalid"] += sum(len(p.readings) for p in batch)
                        break
                if self._stop.wait(delay):
                    return  # not acknowledged: the broker redelivers them to the next session
                delay = min(delay * 2, 5.0)
            self._ack(batch)

    def _store(self, batch: list[_Pending]) -> None:
        from peergrid.service.errors import ServiceError
        from peergrid.service.metering import store_readings

        by_c: dict[int, list[MeterReading]] = defaultdict(list)
        for p in batch:
            by_c[p.readings[0].community_id].extend(p.readings)
        accepted = duplicates = 0
        rejected: Counter = Counter()
        with self.factory() as s, s.begin():
            for cid, rows in by_c.items():
                try:
                    with s.begin_nested():
                        res = store_readings(  # validated by parse_payload
                            s, cid, [(r.serial, r.ts, r.import_wh, r.export_wh, r.pv_wh) for r in rows]
                        )
                except ServiceError:  # e.g. the community does not exist
                    rejected["unknown_meter"] += len(rows)
                    continue
                accepted += res.accepted
                duplicates += res.duplicates
                for rej in res.rejected:
                    rejected[_reason_of(rej["reason"])] += 1
                bad = {rej["index"] for rej in res.rejected}
                newest = self._newest
                for i, r in enumerate(rows):
                    if i not in bad:
                        key = (cid, r.serial)
                        last = newest.get(key)
                        if last is None or r.ts > last:
                            newest[key] = r.ts
        t = time.time()
        st = self.stats
        st.accepted += accepted
        st.duplicates += duplicates
        with self._stats_lock:
            st.rejected.update(rejected)
        st.batches += 1
        st.last_lag_s = t - min(p.received for p in batch)
        st.max_lag_s = max(st.max_lag_s, st.last_lag_s)
        st.last_commit = t
        if self.on_commit is not None:
            self.on_commit(sum(len(p.readings) for p in batch), t)


# --------------------------------------------------------------------------- app hook


class _SingleIngestor:
    """Run one :class:`Ingestor` per database on this host, even with several server workers.

    ``peergrid serve --workers N`` starts N processes, each mounting this extension; two
    MQTT clients with the same client id would take the session from each other in a loop.
    Each worker therefore competes for an exclusive ``flock`` on a lock file named after
    the ingestor's client id; the holder runs the ingestor, the others retry every
    :attr:`retry_s` seconds and take over when the holder exits (the kernel releases the
    lock of a dead process).
    """

    retry_s = 2.0

    def __init__(self, app: Any, url: str) -> None:
        self.app = app
        self.url = url
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peergrid-mqtt-leader", daemon=True)
        self._lock_fd: int | None = None

    def start(self) -> None:
        self._try_start()
        if self.app.state.mqtt is None:
            self._thread.start()

    def _try_start(self) -> bool:
        import fcntl
        import os
        import tempfile

        opts = dict(getattr(self.app.state, "mqtt_options", {}) or {})
        ing = Ingestor(self.app.state.sessions, self.url, clock=lambda: self.app.state.clock(), **opts)
        path = os.path.join(tempfile.gettempdir(), f"{ing.client_id}.lock")
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        ing.start()
        self.app.state.mqtt = ing
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.retry_s):
            if self._try_start():
                return

    def stop(self) -> None:
        import os

        self._stop.set()
        ing: Ingestor | None = self.app.state.mqtt
        if ing is not None:
            ing.stop()
            self.app.state.mqtt = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

MQTT_ENV = "PEERGRID_MQTT_URL"


def mount(app: Any) -> None:
    """Start an :class:`Ingestor` with the app when ``app.state.mqtt_url`` (or ``$PEERGRID_MQTT_URL``) is set.

    Wraps the app's lifespan: the ingestor connects at startup and flushes and
    disconnects at shutdown. Adds ``GET /mqtt/stats`` (operators and admins).
    """
    import os

    from fastapi import Depends

    from peergrid.service.api import current_user
    from peergrid.service.errors import Forbidden

    if not hasattr(app.state, "mqtt_url"):
        app.state.mqtt_url = None
    app.state.mqtt = None
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with inner(a) as state:
            url = getattr(app.state, "mqtt_url", None) or os.environ.get(MQTT_ENV)
            runner = None
            if url:
                BrokerURL.parse(url)  # a bad URL fails the start-up with a clear message
                runner = _SingleIngestor(app, url)
                runner.start()
            try:
                yield state
            finally:
                if runner is not None:
                    runner.stop()

    app.router.lifespan_context = lifespan

    @app.get("/mqtt/stats", tags=["mqtt"], summary="MQTT ingestion counters (operators, admins)")
    def mqtt_stats(user: Any = Depends(current_user)) -> dict[str, Any]:  # noqa: B008
        if user.role not in ("admin", "operator"):
            raise Forbidden("only operators and admins see ingestion counters")
        ing: Ingestor | None = app.state.mqtt
        if ing is None:
            return {"enabled": False}
        return {"enabled": True, "connected": ing.connected.is_set(), "broker": f"{ing.broker.host}:{ing.broker.port}",
                **ing.stats.as_dict()}


def new_client_id(prefix: str = "peergrid-pub") -> str:
    """A unique MQTT client id."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# --------------------------------------------------------------------------- meter simulator


class MeterProfiles:
    """Realistic per-meter energy for any number of meters from the shipped CityLearn data.

    Meter ``i`` follows home ``i mod 17`` of the CityLearn 2022 data set (measured load
    and PV of 17 homes in Fontana, CA; :func:`peergrid.data.load_citylearn`), scaled by a
    seeded factor in [0.8, 1.2] for load and for PV so that meters differ. Faulty PV
    (:attr:`CityLearnData.faulty_pv`) is dropped. A time ``t`` maps onto the data hour
    with the same position in the year (the data are periodic), so PV shows at daytime.

    Parameters
    ----------
    n : int
        Number of meters.
    from_data : bool
        ``False`` uses a synthetic profile instead (a flat 0.5 kW load with seeded
        gamma noise and no PV), for tests that do not care about realism.
    seed : int
        Seed of the scaling factors and noise.
    """

    def __init__(self, n: int, from_data: bool = True, seed: int = 0) -> None:
        import numpy as np

        if n < 1:
            raise ConfigError(f"meters must be ≥ 1, got {n}")
        self.n = n
        self.from_data = from_data
        self.rng = np.random.default_rng(seed)
        if from_data:
            from peergrid.data import load_citylearn

            d = load_citylearn()
            pv = d.pv_per_kwp.to_numpy() * d.pv_kwp.to_numpy()[None, :]
            pv[:, [d.load.columns.get_loc(h) for h in d.faulty_pv]] = 0.0
            home = np.arange(n) % d.load.shape[1]
            self._load = d.load.to_numpy()[:, home] * self.rng.uniform(0.8, 1.2, n)[None, :]  # kWh/h, (T, n)
            self._pv = pv[:, home] * self.rng.uniform(0.8, 1.2, n)[None, :]
            self._start = d.index[0]
            self._hours = len(d.index)

    def energy_wh(self, t: dt.datetime, period_s: float) -> tuple[Any, Any, Any]:
        """``(import_wh, export_wh, pv_wh)`` integer arrays ``(n,)`` of the period starting at ``t``.

        Energy of a period = hourly energy (kWh/h) × period length (h) × 1000 Wh/kWh;
        net = load − PV, import = max(net, 0), export = max(−net, 0) (DESIGN sign convention).
        """
        import numpy as np

        hours = period_s / 3600.0
        if self.from_data:
            h = int((t - self._start.to_pydatetime()).total_seconds() // 3600) % self._hours
            load = self._load[h] * hours * 1000.0
            pv = self._pv[h] * hours * 1000.0
        else:
            load = self.rng.gamma(4.0, 0.125, self.n) * hours * 1000.0
            pv = np.zeros(self.n)
        net = load - pv
        return (np.rint(np.maximum(net, 0)).astype(np.int64), np.rint(np.maximum(-net, 0)).astype(np.int64),
                np.rint(pv).astype(np.int64))


def parse_rate(text: str) -> float:
    """Messages per second from ``"10/s"``, ``"600/min"``, ``"36000/h"`` or ``"10"``."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(?:/\s*(s|sec|min|h))?\s*", text)
    if m is None:
        raise ConfigError(f"rate {text!r}: use e.g. 10/s, 600/min or 36000/h")
    v = float(m.group(1)) / {"s": 1, "sec": 1, None: 1, "min": 60, "h": 3600}[m.group(2)]
    if not v > 0:
        raise ConfigError(f"rate must be > 0, got {text!r}")
    return v


def iso(t: dt.datetime) -> str:
    """``2026-12-01T06:15:00Z``."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Publisher:
    """A QoS 1 publisher (what a meter or a meter gateway runs).

    Parameters
    ----------
    url : str
        Broker, ``mqtt://host:port``.
    max_inflight : int
        Unacknowledged QoS 1 messages allowed in flight; 0 (default) = as many as the broker's
        receive maximum allows.
    client_id : str, optional
        MQTT client id (default: a new unique one).
    """

    def __init__(self, url: str, max_inflight: int = 0, client_id: str | None = None) -> None:
        from peergrid.service.mqttwire import Client

        self.broker = BrokerURL.parse(url)
        self.client = Client(self.broker.host, self.broker.port, client_id or new_client_id(),
                             username=self.broker.username, password=self.broker.password, keepalive=30,
                             receive_maximum=65535)
        self.max_inflight = int(max_inflight)
        self.published = 0

    def connect(self, timeout: float = 10.0) -> Publisher:
        """Connect and start the network thread; :class:`ConfigError` if the broker does not answer."""
        from peergrid.service.mqttwire import MQTTError

        try:
            self.client.connect(timeout)
        except OSError as exc:
            raise ConfigError(f"cannot connect to MQTT broker {self.broker.host}:{self.broker.port}: "
                              f"{getattr(exc, 'strerror', None) or exc}") from None
        except MQTTError as exc:
            raise ConfigError(f"MQTT broker {self.broker.host}:{self.broker.port}: {exc}") from None
        if self.max_inflight and self.client.session is not None:
            self.client.session.receive_maximum = min(self.client.session.receive_maximum, self.max_inflight)
        return self

    def publish(self, topic: str, payload: bytes | str) -> None:
        """Send one QoS 1 message (waits while the broker's receive maximum is in flight)."""
        self.client.publish_many([(topic, payload)])
        self.published += 1

    def publish_many(self, messages: Iterable[tuple[str, bytes | str]]) -> None:
        """Send several QoS 1 messages in one socket write (a gateway forwarding a burst)."""
        self.published += self.client.publish_many(messages)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until the broker acknowledged every message; ``False`` on timeout."""
        return self.client.wait_acked(timeout)

    def close(self) -> None:
        """Flush, disconnect and stop the network thread."""
        self.flush(10.0)
        self.client.stop()


@dataclass
class SimulationResult:
    """What :func:`simulate_meters` published."""

    meters: int
    messages: int
    rounds: int
    first_ts: str | None
    last_ts: str | None
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-able."""
        return dict(self.__dict__)


def simulate_meters(
    url: str,
    community_id: int,
    tokens: Mapping[str, str],
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
) -> SimulationResult:
    """Publish readings of simulated meters, paced at ``rate`` messages per second.

    Every round publishes one reading per meter for one completed metering period.
    The first ``backfill`` rounds catch up the most recent completed periods; after
    that each round reports the period that just ended and then waits for the next
    one to end (a real meter reports each period once, after it is over).

    Parameters
    ----------
    url : str
        Broker.
    community_id : int
        Community of the meters (topic ``peergrid/<community_id>/<serial>/reading``).
    tokens : mapping
        ``{serial: token}`` of the meters to simulate (:func:`meter_tokens`).
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

    Returns
    -------
    SimulationResult
    """
    clock = clock or (lambda: dt.datetime.now(dt.UTC))
    stop = stop or threading.Event()
    serials = list(tokens)
    if not serials:
        raise ConfigError("no meters to simulate")
    if period_s <= 0 or rate <= 0:
        raise ConfigError("rate and period must be > 0")
    profiles = MeterProfiles(len(serials), from_data=from_data, seed=seed)
    topics = [topic_for(community_id, s) for s in serials]
    toks = [tokens[s] for s in serials]
    step = dt.timedelta(seconds=period_s)
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

    def last_completed(now: dt.datetime) -> dt.datetime:
        k = int((now - epoch).total_seconds() // period_s)
        return epoch + dt.timedelta(seconds=(k - 1) * period_s)

    pub = Publisher(url).connect()
    t_start = time.monotonic()
    first = last = None
    n_round = 0
    ts = last_completed(clock()) - step * max(backfill - 1, 0)
    sent = 0
    try:
        while not stop.is_set():
            if rounds is not None and n_round >= rounds:
                break
            if duration_s is not None and time.monotonic() - t_start >= duration_s:
                break
            while ts > last_completed(clock()):  # live: wait until the period is over
                if stop.wait(0.2) or (duration_s is not None and time.monotonic() - t_start >= duration_s):
                    break
            if ts > last_completed(clock()):
                break
            imp, exp, pv = profiles.energy_wh(ts, period_s)
            stamp = iso(ts)
            t_round = time.monotonic()
            for i, topic in enumerate(topics):
                due = t_round + i / rate
                delay = due - time.monotonic()
                if delay > 0 and stop.wait(delay):
                    break
                payload = (f'{{"ts":"{stamp}","import_wh":{int(imp[i])},"export_wh":{int(exp[i])},'
                           f'"pv_wh":{int(pv[i])},"token":"{toks[i]}"}}')
                pub.publish(topic, payload)
                sent += 1
            first = first or stamp
            last = stamp
            n_round += 1
            ts = ts + step
    finally:
        pub.close()
    return SimulationResult(len(serials), sent, n_round, first, last, round(time.monotonic() - t_start, 3))
