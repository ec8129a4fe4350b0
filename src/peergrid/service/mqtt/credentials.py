"""Meter credentials and reading signatures: MQTT passwords, signing keys, the service secret.

See the *Signature* section of :mod:`peergrid.service.mqtt` for the scheme and a worked example.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from peergrid.core.errors import ConfigError
from peergrid.service.mqtt.payload import MeterReading, iso
from peergrid.service.timeutil import EPOCH

SECRET_KEY = "mqtt_meter_secret"


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
