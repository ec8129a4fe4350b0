"""Meter readings over MQTT: a subscriber that stores readings in batches, and a meter simulator.

Topic and payload
-----------------
Each meter publishes with **QoS 1** on ``peergrid/<community id>/<meter serial>/reading``
a JSON object (or, for a backlog, a JSON array of up to :data:`MAX_ITEMS` objects)::

    {"ts": "2026-06-01T12:00:00Z", "import_wh": 120, "export_wh": 0, "pv_wh": 35,
     "seq": 1780315200000, "sig": "3vjgsHa4f3Pz5DGigmYMB-GK9RtMg_zRabiGj6tspKY"}

``ts`` is the aware start of the metering period (whole seconds); ``import_wh``/``export_wh``
are the integer Wh that flowed from/to the grid in that period (sign convention of
:mod:`peergrid.service.metering`: net = import − export); ``pv_wh`` (optional) is the PV
generation; ``seq`` is the meter's sequence number (an integer 1..2⁶³−1, strictly increasing
per meter: a millisecond Unix time works); ``sig`` signs all of it. Unknown keys are an
error, and so is the old ``token`` field (a secret that travelled in every message).

Signature
---------
A meter's signing key is ``HMAC-SHA256(secret, "sign/<community id>/<serial>")``
(:func:`meter_signing_key`, 32 bytes; ``peergrid meters tokens`` prints it in URL-safe
base64 without padding) with the service secret kept in the ``service_config`` table
(:data:`SECRET_KEY`). The key never travels over MQTT. ``sig`` is the URL-safe base64 (no
padding, 43 characters) of ``HMAC-SHA256(key, canonical)`` where ``canonical`` is the
UTF-8 text (:func:`canonical_reading`)::

    v1|<community id>|<serial>|<ts as Unix seconds>|<import_wh>|<export_wh>|<pv_wh or ->|<seq>

integers in decimal without sign (except a negative time), leading zeros or spaces, ``-``
when there is no ``pv_wh``. Example: secret ``"example-secret"``, community 7, serial
``M-01``, ``ts`` 2026-06-01T12:00:00Z, 120 Wh imported, 0 exported, PV 35 Wh, seq
1780315200000::

    key       = KvKAwEHcGmPKSUoMJcbpqctxabRzk76Ww3j_WA7Uh-Q
    canonical = v1|7|M-01|1780315200|120|0|35|1780315200000
    sig       = 3vjgsHa4f3Pz5DGigmYMB-GK9RtMg_zRabiGj6tspKY

The MQTT password of the meter (broker authentication) is a different value,
:func:`meter_token`. Rotating the secret revokes every key and password at once.

Delivery guarantees
-------------------
* A message that fails to parse, carries a bad signature, replays a sequence number, or
  raises anywhere is **counted** (:attr:`Ingestor.stats`), **kept** in the
  ``mqtt_dead_letters`` table for the operator (rate-limited, truncated, bounded in rows),
  **acknowledged**, and ingestion goes on. Readings of unknown meters, older than the
  out-of-order window, in the future, of already-settled intervals or breaking the
  plausibility rules of :func:`peergrid.service.metering.store_readings` are rejected and
  counted, never stored.
* Replays: a reading is accepted only if its ``seq`` is above the highest accepted one of
  its meter (``meters.mqtt_seq``, advanced in the transaction that stores the readings).
* Messages are read with :mod:`peergrid.service.mqttwire` (a lean MQTT 5 client that hands
  over every PUBLISH of a socket read as one batch) and stored by
  :func:`peergrid.service.metering.store_readings` (the storage behind every transport;
  COPY on PostgreSQL) in **batches** (up to ``batch_size`` readings or
  ``flush_s`` seconds), one database transaction per batch.
* The broker's QoS 1 message is acknowledged only **after** the batch is committed
  (manual acks, MQTT 5 with a persistent session and a large receive maximum): a
  crash between receipt and commit makes the broker deliver the message again (its
  ``seq`` was not advanced, so it is accepted); a redelivery of a committed message is
  refused as a ``replay``.
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
import ssl
import threading
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from peergrid.core.errors import ConfigError, DataError
from peergrid.service.timeutil import EPOCH

log = logging.getLogger("peergrid.mqtt")

TOPIC_PREFIX = "peergrid"
#: Subscription filter of the ingestor.
TOPIC_FILTER = f"{TOPIC_PREFIX}/+/+/reading"
_TOPIC_RE = re.compile(r"^peergrid/([0-9]{1,12})/([A-Za-z0-9_.:\-]{1,100})/reading$")
#: ``service_config`` key of the HMAC secret of meter keys and passwords.
SECRET_KEY = "mqtt_meter_secret"
#: Most readings in one message (a meter's backlog).
MAX_ITEMS = 1000
MAX_PAYLOAD = 256 * 1024
MAX_WH = 10**9
#: Largest sequence number (it is stored in a 64-bit signed column).
MAX_SEQ = 2**63 - 1
_FIELDS = frozenset({"ts", "import_wh", "export_wh", "pv_wh", "seq", "sig"})
#: Rejection reasons counted in :attr:`IngestStats.rejected` (readings; a message rejected as a whole
#: counts once per reading it carried, or once if it did not parse).
REASONS = ("bad_topic", "bad_payload", "bad_signature", "replay", "unknown_meter", "too_old", "future", "settled",
           "invalid")
#: Reasons whose messages are kept in ``mqtt_dead_letters``.
DEAD_LETTER_REASONS = frozenset({"bad_topic", "bad_payload", "bad_signature", "replay", "invalid"})
#: Plausibility rules of :func:`peergrid.service.metering.store_readings` counted as ``invalid``
#: (each also in :attr:`IngestStats.rules`).
INVALID_RULES = ("capacity", "no_generation", "future", "conflict")


class PayloadError(DataError):
    """An MQTT message that is not a valid reading (bad topic, JSON, values or signature).

    ``reason`` is the counter it goes to: ``bad_topic``, ``bad_payload`` or ``bad_signature``.
    """

    def __init__(self, message: str, reason: str = "bad_payload") -> None:
        super().__init__(message)
        self.reason = reason


# --------------------------------------------------------------------------- parsing


def topic_for(community_id: int, serial: str) -> str:
    """The topic a meter publishes its readings on."""
    return f"{TOPIC_PREFIX}/{int(community_id)}/{serial}/reading"


def parse_topic(topic: str) -> tuple[int, str]:
    """``(community id, meter serial)`` of a reading topic.

    Raises
    ------
    PayloadError
        If the topic is not ``peergrid/<community id>/<serial>/reading`` (reason ``bad_topic``).
    """
    m = _TOPIC_RE.match(topic) if isinstance(topic, str) else None
    if m is None:
        raise PayloadError(f"topic {str(topic)[:200]!r} is not peergrid/<community id>/<meter serial>/reading",
                           "bad_topic")
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
            raise PayloadError(f"{name} must be an integer number of Wh, got {str(v)[:40]!r}")
    if not 0 <= v <= MAX_WH:
        raise PayloadError(f"{name} must be in 0..{MAX_WH} Wh, got {str(v)[:40]}")
    return v


def _seq(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise PayloadError("seq must be an integer (strictly increasing per meter)")
    if not 1 <= v <= MAX_SEQ:
        raise PayloadError(f"seq must be in 1..{MAX_SEQ}")
    return v


_decode = json.JSONDecoder().decode
_TS_CACHE: dict[str, tuple[dt.datetime, int]] = {}


def _ts(v: Any) -> tuple[dt.datetime, int]:
    """``(aware UTC time, Unix seconds)`` of an ISO 8601 text with a time zone, whole seconds."""
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
    try:
        t = t.astimezone(dt.UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+05:00 is before year 1 in UTC
        raise PayloadError(f"ts {v[:40]!r} is out of range") from None
    if t.microsecond:
        raise PayloadError(f"ts {v[:40]!r} must be a whole second")
    hit = (t, (t - EPOCH) // dt.timedelta(seconds=1))
    if len(_TS_CACHE) >= 8192:
        _TS_CACHE.clear()
    _TS_CACHE[v] = hit
    return hit


@dataclass(slots=True)
class MeterReading:
    """One validated reading (energy in the period starting at ``ts``, Wh) and its signature.

    ``epoch`` is ``ts`` in Unix seconds, ``seq`` the meter's sequence number, ``sig`` the
    signature as received (verified by :func:`verify_reading`).
    """

    community_id: int
    serial: str
    ts: dt.datetime
    import_wh: int
    export_wh: int
    pv_wh: int | None
    seq: int
    sig: str
    epoch: int = 0


def parse_message(topic: str, payload: bytes | str) -> list[MeterReading]:
    """Validate one MQTT message into readings (signatures not yet verified).

    Parameters
    ----------
    topic : str
        ``peergrid/<community id>/<meter serial>/reading``.
    payload : bytes or str
        UTF-8 JSON: one reading object or an array of 1..:data:`MAX_ITEMS` of them, each with
        ``ts`` (aware ISO 8601, whole seconds), ``import_wh``, ``export_wh`` (integer Wh ≥ 0),
        optional ``pv_wh``, ``seq`` (strictly increasing within the message) and ``sig``.
        Unknown keys are an error.

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

    Never raises anything but :class:`PayloadError`, whatever the payload (deep nesting,
    huge numbers, dates out of range, any bytes).

    Raises
    ------
    PayloadError
        Anything malformed; the whole message is rejected.
    """
    try:
        return _parse_payload(community_id, serial, payload)
    except PayloadError:
        raise
    except RecursionError:
        raise PayloadError("payload is nested too deeply") from None
    except Exception as exc:  # whatever the content, one message fails alone
        raise PayloadError(f"payload is not a valid reading ({type(exc).__name__})") from None


def _parse_payload(community_id: int, serial: str, payload: bytes | str) -> list[MeterReading]:
    # the fast path of every test is ``type(x) is int`` / ``str``: ~1 µs less per reading than isinstance
    # chains; anything else goes to the helpers that name the problem
    if len(payload) > MAX_PAYLOAD:
        raise PayloadError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    try:
        obj = _decode(payload.decode() if isinstance(payload, bytes | bytearray) else payload)
    except (ValueError, UnicodeDecodeError):
        raise PayloadError("payload is not UTF-8 JSON") from None
    items = obj if type(obj) is list else [obj]
    if not items or len(items) > MAX_ITEMS:
        raise PayloadError(f"a message carries 1..{MAX_ITEMS} readings, got {len(items)}")
    out = []
    last_seq = 0
    for it in items:
        if type(it) is not dict:
            raise PayloadError("a reading must be a JSON object")
        if not it.keys() <= _FIELDS:
            if "token" in it:
                raise PayloadError("the token field is refused (it exposed the meter's secret): sign the reading "
                                   "with seq and sig")
            raise PayloadError(f"unknown field(s) {[str(k)[:40] for k in sorted(it.keys() - _FIELDS)[:5]]}")
        get = it.get
        sig = get("sig")
        if type(sig) is not str or not sig:
            raise PayloadError("sig is missing", "bad_signature")
        seq = get("seq")
        if type(seq) is not int or not 0 < seq <= MAX_SEQ:
            seq = _seq(seq)
        if seq <= last_seq:
            raise PayloadError("seq must increase from one reading of a message to the next")
        last_seq = seq
        imp = get("import_wh")
        if type(imp) is not int or not 0 <= imp <= MAX_WH:
            imp = _wh(it, "import_wh")
        exp = get("export_wh")
        if type(exp) is not int or not 0 <= exp <= MAX_WH:
            exp = _wh(it, "export_wh")
        pv = get("pv_wh")
        if pv is not None and (type(pv) is not int or not 0 <= pv <= MAX_WH):
            pv = _wh(it, "pv_wh", False)
        ts = get("ts")
        hit = _TS_CACHE.get(ts) if type(ts) is str else None
        ts, epoch = hit if hit is not None else _ts(ts)
        out.append(MeterReading(community_id, serial, ts, imp, exp, pv, seq, sig, epoch))  # type: ignore[arg-type]
    return out


# --------------------------------------------------------------------------- credentials and signatures


def meter_token(secret: str, community_id: int, serial: str) -> str:
    """The MQTT password of meter ``serial`` in community ``community_id`` (32 URL-safe characters).

    ``HMAC-SHA256(secret, "<community id>/<serial>")``, URL-safe base64, first 32 characters.
    Used for broker authentication only; readings are signed with :func:`meter_signing_key`.
    """
    mac = hmac.new(secret.encode(), f"{int(community_id)}/{serial}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode()[:32]


def meter_signing_key(secret: str, community_id: int, serial: str) -> bytes:
    """The key meter ``serial`` signs its readings with: ``HMAC-SHA256(secret, "sign/<cid>/<serial>")``, 32 bytes."""
    return hmac.digest(secret.encode(), f"sign/{int(community_id)}/{serial}".encode(), "sha256")


def encode_key(key: bytes) -> str:
    """A signing key as printed for provisioning: URL-safe base64 without padding (43 characters)."""
    return base64.urlsafe_b64encode(key).rstrip(b"=").decode()


def decode_key(text: str) -> bytes:
    """Inverse of :func:`encode_key`; :class:`ConfigError` if it is not a 32-byte key."""
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise ConfigError("signing key is not URL-safe base64") from None
    if len(key) != 32:
        raise ConfigError(f"signing key must be 32 bytes, got {len(key)}")
    return key


def canonical_reading(community_id: int, serial: str, epoch: int, import_wh: int, export_wh: int,
                      pv_wh: int | None, seq: int) -> bytes:
    """The bytes a reading's signature covers: ``v1|cid|serial|unix s|import|export|pv or -|seq`` (UTF-8)."""
    pv = "-" if pv_wh is None else pv_wh
    return f"v1|{community_id}|{serial}|{epoch}|{import_wh}|{export_wh}|{pv}|{seq}".encode()


def sign_reading(key: bytes, community_id: int, serial: str, ts: dt.datetime, import_wh: int, export_wh: int,
                 pv_wh: int | None, seq: int) -> str:
    """``sig`` of a reading: URL-safe base64 (no padding) of HMAC-SHA256(key, :func:`canonical_reading`).

    Parameters
    ----------
    key : bytes
        The meter's :func:`meter_signing_key`.
    community_id : int
    serial : str
    ts : datetime
        Aware start of the period, whole seconds.
    import_wh, export_wh : int
        Energy from / to the grid (Wh).
    pv_wh : int or None
        PV generation (Wh), ``None`` if not reported.
    seq : int
        The meter's sequence number (strictly increasing).
    """
    epoch = (ts - EPOCH) // dt.timedelta(seconds=1)
    mac = hmac.digest(key, canonical_reading(community_id, serial, epoch, import_wh, export_wh, pv_wh, seq), "sha256")
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def reading_payload(key: bytes, community_id: int, serial: str, ts: dt.datetime, import_wh: int, export_wh: int,
                    pv_wh: int | None, seq: int) -> dict[str, Any]:
    """The signed JSON object of one reading (see :func:`sign_reading` for the parameters)."""
    d: dict[str, Any] = {"ts": iso(ts), "import_wh": import_wh, "export_wh": export_wh}
    if pv_wh is not None:
        d["pv_wh"] = pv_wh
    d["seq"] = seq
    d["sig"] = sign_reading(key, community_id, serial, ts, import_wh, export_wh, pv_wh, seq)
    return d


_b64 = base64.urlsafe_b64encode


def verify_reading(key: bytes, r: MeterReading) -> bool:
    """Whether ``r.sig`` is the signature of ``r`` under ``key`` (constant-time comparison)."""
    sig = r.sig
    if len(sig) != 43 or not sig.isascii():
        return False
    pv = "-" if r.pv_wh is None else r.pv_wh  # canonical_reading, inlined (this runs for every reading)
    text = f"v1|{r.community_id}|{r.serial}|{r.epoch}|{r.import_wh}|{r.export_wh}|{pv}|{r.seq}"
    return hmac.compare_digest(_b64(hmac.digest(key, text.encode(), "sha256"))[:43], sig.encode())


def meter_secret(session: Session, create: bool = True) -> str | None:
    """The service's meter secret from ``service_config`` (created on first use).

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


def _serials(session: Session, community_id: int) -> list[str]:
    from peergrid.service.models import Meter

    return list(session.execute(
        sa.select(Meter.serial).where(Meter.community_id == community_id).order_by(Meter.id)
    ).scalars())


def meter_tokens(session: Session, community_id: int) -> dict[str, str]:
    """``{serial: MQTT password}`` of every meter of a community (creates the secret if needed)."""
    secret = meter_secret(session)
    assert secret is not None
    return {s: meter_token(secret, community_id, s) for s in _serials(session, community_id)}


def meter_credentials(session: Session, community_id: int) -> dict[str, dict[str, str]]:
    """``{serial: {"password": MQTT password, "signing_key": key (base64url)}}`` of a community's meters."""
    secret = meter_secret(session)
    assert secret is not None
    return {s: {"password": meter_token(secret, community_id, s),
                "signing_key": encode_key(meter_signing_key(secret, community_id, s))}
            for s in _serials(session, community_id)}


def ingestor_client_id(secret: str, database: str) -> str:
    """The MQTT client id of the ingestor of a database: stable across restarts, not guessable.

    ``"peergrid-ingest-"`` + the first 24 hex digits of ``HMAC-SHA256(secret, "ingestor/<database>")``:
    the same for every restart (the persistent session resumes) but unknown to anyone without the
    service secret, so nobody can take the ingestor's session over by connecting with its id.
    """
    mac = hmac.new(secret.encode(), f"ingestor/{database}".encode(), hashlib.sha256)
    return "peergrid-ingest-" + mac.hexdigest()[:24]


# --------------------------------------------------------------------------- broker URL


#: Environment variables: CA file of ``mqtts://`` URLs, password of a URL that names only the user.
MQTT_CA_ENV, MQTT_PASSWORD_ENV = "PEERGRID_MQTT_CA", "PEERGRID_MQTT_PASSWORD"


@dataclass(frozen=True)
class BrokerURL:
    """``mqtt://[user:password@]host[:port]`` or ``mqtts://[user:password@]host[:port][?ca=/path/ca.crt]`` parsed.

    ``mqtts://`` (default port 8883) connects with TLS and verifies the broker's certificate
    and host name against the CA file of ``?ca=`` or ``$PEERGRID_MQTT_CA`` (default: the
    system's CA certificates). User name and password may be percent-encoded; a user name
    without a password takes the password from ``$PEERGRID_MQTT_PASSWORD`` (keeps it out of
    command lines).
    """

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerURL:
        """Parse a broker URL; :class:`ConfigError` names the problem."""
        import os
        from urllib.parse import parse_qs, unquote

        p = urlparse(url if "://" in url else f"mqtt://{url}")
        shown = p._replace(netloc=p.netloc.rpartition("@")[2]).geturl()  # never echo a password
        if p.scheme not in ("mqtt", "tcp", "mqtts", "ssl"):
            raise ConfigError(f"MQTT URL {shown!r}: scheme must be mqtt:// or mqtts:// (TLS)")
        tls = p.scheme in ("mqtts", "ssl")
        if not p.hostname:
            raise ConfigError(f"MQTT URL {shown!r} has no host")
        try:
            port = p.port or (8883 if tls else 1883)
        except ValueError:
            raise ConfigError(f"MQTT URL {shown!r} has a bad port") from None
        query = parse_qs(p.query, keep_blank_values=True)
        if set(query) - {"ca"} or len(query.get("ca", [])) > 1:
            raise ConfigError(f"MQTT URL {shown!r}: the only query parameter is ca=/path/ca.crt (mqtts://)")
        ca = query["ca"][0] if "ca" in query else (os.environ.get(MQTT_CA_ENV) or None) if tls else None
        if ca is not None and not tls:
            raise ConfigError(f"MQTT URL {shown!r}: ca= needs mqtts:// (TLS)")
        if ca is not None and not os.path.isfile(ca):
            raise ConfigError(f"MQTT URL {shown!r}: CA file {ca} does not exist")
        user = unquote(p.username) if p.username is not None else None
        password = unquote(p.password) if p.password is not None else None
        if user is not None and password is None:
            password = os.environ.get(MQTT_PASSWORD_ENV) or None
        return cls(p.hostname, port, user, password, tls, ca)

    def ssl_context(self) -> ssl.SSLContext | None:
        """TLS context verifying the broker's certificate and host name (``None`` for ``mqtt://``)."""
        if not self.tls:
            return None
        try:
            ctx = ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"CA file {self.ca_file}: not a PEM certificate ({exc})") from None
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :class:`peergrid.service.mqttwire.Client`: credentials and TLS context."""
        return {"username": self.username, "password": self.password, "ssl_context": self.ssl_context()}


# --------------------------------------------------------------------------- ingestor

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
    url : str
        Broker, ``mqtt://host:port``.
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
        dead_letters_per_min: int = 120,
        max_dead_letters: int = 10_000,
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


# --------------------------------------------------------------------------- app hook


class _SingleIngestor:
    """Run one :class:`Ingestor` per database on this host, even with several server workers.

    ``peergrid serve --workers N`` starts N processes, each mounting this extension; two
    MQTT clients with the same client id would take the session from each other in a loop.
    Each worker therefore competes for an exclusive ``flock`` on a lock file named after a
    hash of the ingestor's client id; the holder runs the ingestor, the others retry every
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
        # the lock file is named after a hash of the client id: /tmp is listable, the client id is a secret
        digest = hashlib.sha256(ing.client_id.encode()).hexdigest()[:16]
        path = os.path.join(tempfile.gettempdir(), f"peergrid-ingest-{digest}.lock")
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
    disconnects at shutdown. Adds ``GET /mqtt/stats`` and ``GET /mqtt/dead-letters``
    (operators and admins).
    """
    import os

    from fastapi import Depends, Query

    from peergrid.service import rbac
    from peergrid.service.api import current_user, get_db
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

    @app.get("/mqtt/dead-letters", tags=["mqtt"], summary="Rejected MQTT messages, newest first (operators, admins)")
    def mqtt_dead_letters(
        db: Any = Depends(get_db, scope="function"), user: Any = Depends(current_user),  # noqa: B008
        community_id: int | None = Query(None, ge=1, le=2**31 - 1),
        limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=10**9),
    ) -> dict[str, Any]:
        """Admins see every dead letter (also those whose topic named no community); operators those of the
        communities they belong to. The payload is given as escaped text and as base64."""
        from peergrid.service.models import Membership

        if user.role not in ("admin", "operator"):
            raise Forbidden("only operators and admins see dead letters")
        if community_id is not None:
            rbac.community_for(db, user, community_id, rbac.ADMIN, rbac.OPERATOR)
            communities: list[int] | None = [community_id]
        elif user.role == "admin":
            communities = None
        else:
            communities = list(db.execute(sa.select(Membership.community_id)
                                          .where(Membership.user_id == user.id)).scalars())
        return list_dead_letters(db, communities, limit=limit, offset=offset)


def list_dead_letters(session: Session, community_ids: list[int] | None = None, *, limit: int = 100,
                      offset: int = 0) -> dict[str, Any]:
    """Dead letters, newest first: ``{"items": [...], "total", "limit", "offset"}``.

    Parameters
    ----------
    session : Session
    community_ids : list of int, optional
        Only those of these communities (``None``: all, also those without a community).
    limit, offset : int
        Page.

    Each item has ``id``, ``received_at`` (ISO 8601 UTC), ``topic``, ``reason``, ``detail``,
    ``community_id``, ``payload_text`` (UTF-8 with undecodable bytes escaped as ``\\xNN``),
    ``payload_base64`` and ``payload_bytes`` (length kept).
    """
    from peergrid.service.models import MqttDeadLetter as D

    q = sa.select(D)
    if community_ids is not None:
        q = q.where(D.community_id.in_(community_ids))
    total = session.scalar(sa.select(sa.func.count()).select_from(q.subquery()))
    items = [{
        "id": d.id, "received_at": d.received_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "topic": d.topic, "reason": d.reason, "detail": d.detail, "community_id": d.community_id,
        "payload_text": bytes(d.payload).decode("utf-8", "backslashreplace"),
        "payload_base64": base64.b64encode(bytes(d.payload)).decode(), "payload_bytes": len(d.payload),
    } for d in session.execute(q.order_by(D.id.desc()).limit(limit).offset(offset)).scalars()]
    return {"items": items, "total": int(total or 0), "limit": limit, "offset": offset}


def purge_dead_letters(session: Session, before: dt.datetime) -> int:
    """Delete the dead letters received before ``before`` (aware); returns how many."""
    from peergrid.service.models import MqttDeadLetter as D

    res = session.execute(sa.delete(D).where(D.received_at < before))
    return int(res.rowcount or 0)  # type: ignore[attr-defined]


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
                             **self.broker.client_kwargs(), keepalive=30, receive_maximum=65535)
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

    @property
    def refused(self) -> int:
        """Messages the broker refused (PUBACK with a failure reason, e.g. not authorised by its ACL)."""
        return self.client.refused

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
    url: str,
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
    url : str
        Broker.
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
