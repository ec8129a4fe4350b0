"""Mosquitto material for a broker nobody anonymous can use: password file, ACL file, configuration.

Meters and services authenticate to Mosquitto 2 with a user name and a password; the ACL
file limits what each user may do:

* meter serial ``S`` of community ``C``: password :func:`peergrid.service.mqtt.credentials.meter_token`
  (an HMAC of the service secret); may publish on ``peergrid/C/S/reading`` only and read nothing;
* :data:`INGEST_USER`: random password (:data:`CREDENTIALS_FILE`); may subscribe to
  ``peergrid/+/+/reading`` (also as ``$share/<group>/...``) and publish nothing;
* :data:`GATEWAY_USER`: random password; may publish on ``peergrid/+/+/reading`` (a trusted
  concentrator forwarding many meters' signed readings) and read nothing.

Anything not granted is denied (Mosquitto 2 ACL files are allow lists): a meter that
subscribes to ``peergrid/#`` receives nothing, a message a meter publishes on another
meter's topic is dropped by the broker.

:func:`hash_password`, :func:`password_file`, :func:`acl_file` and :func:`mosquitto_conf` are
pure functions building file contents; :func:`provision` writes them (through
:func:`write_private`: mode 0600, atomically), :func:`generate_certificates` runs ``openssl``,
:func:`reload_broker` signals the broker and :func:`meter_passwords` reads the database.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peergrid.core.errors import ConfigError

#: The ingestor's broker user (reads every reading topic, publishes nothing).
INGEST_USER = "peergrid-ingest"
#: A trusted gateway's broker user (publishes on every reading topic, reads nothing).
GATEWAY_USER = "peergrid-gateway"
SERVICE_USERS = (INGEST_USER, GATEWAY_USER)
#: File names inside a provisioning directory.
PASSWD_FILE, ACL_FILE, CONF_FILE, CREDENTIALS_FILE = "passwd", "acl", "mosquitto.conf", "service-credentials.json"
#: Where ``scripts/services.sh`` puts the local broker's material (override with ``$PEERGRID_MQTT_DIR``).
LOCAL_DIR = Path("/etc/peergrid/mosquitto")
#: Topic filter every reading matches (``peergrid/<community id>/<serial>/reading``).
READING_FILTER = "peergrid/+/+/reading"
#: PBKDF2 iterations of Mosquitto 2's ``$7$`` hashes (``mosquitto_passwd``'s default). The passwords
#: are 192-bit random HMACs and 256-bit random strings, so stretching adds nothing against
#: guessing while every meter connection pays for it at the broker.
PBKDF2_ITERATIONS = 101
_SALT_BYTES = 12  # what mosquitto_passwd uses
#: What a broker user name — a meter serial — may be (the service's meter schema uses it too).
USERNAME_PATTERN = r"[A-Za-z0-9_.\-]{1,100}"
_USERNAME_RE = re.compile(USERNAME_PATTERN)


# --------------------------------------------------------------------------- names and hashes


def check_username(name: str) -> str:
    """Return ``name`` if it can be a broker user; :class:`ConfigError` otherwise.

    Allowed: 1..100 of ``A-Z a-z 0-9 _ . -``. This excludes the MQTT wildcards ``+`` and
    ``#`` and ``/`` (an ACL pattern or topic built from the name could otherwise match other
    meters' topics), ``:`` (the field separator of the password file) and white space
    (the separator of ACL lines).
    """
    if not isinstance(name, str) or not _USERNAME_RE.fullmatch(name):
        raise ConfigError(f"{str(name)[:120]!r} cannot be an MQTT user name: use 1-100 of A-Z a-z 0-9 _ . -")
    return name


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """Mosquitto 2 password hash ``$7$<iterations>$<base64 salt>$<base64 PBKDF2-HMAC-SHA512>``.

    Parameters
    ----------
    password : str
        The clear-text password (UTF-8).
    salt : bytes, optional
        12 random bytes by default.
    iterations : int
        PBKDF2 iterations.

    Returns
    -------
    str
        The hash as ``mosquitto_passwd`` writes it (64-byte SHA-512 derived key).
    """
    if not password:
        raise ConfigError("an MQTT password must not be empty")
    salt = secrets.token_bytes(_SALT_BYTES) if salt is None else salt
    dk = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(iterations), 64)
    return f"$7${int(iterations)}${base64.b64encode(salt).decode()}${base64.b64encode(dk).decode()}"


def check_password(hashed: str, password: str) -> bool:
    """Whether ``password`` matches a ``$7$`` hash of :func:`hash_password` or ``mosquitto_passwd``."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7" or not parts[2].isdigit():
        return False
    try:
        salt, want = base64.b64decode(parts[3], validate=True), base64.b64decode(parts[4], validate=True)
    except ValueError:
        return False
    got = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(parts[2]), len(want))
    return hmac.compare_digest(got, want)


def password_file(credentials: Mapping[str, str], *, iterations: int = PBKDF2_ITERATIONS) -> str:
    """Text of a Mosquitto password file, one ``user:$7$...`` line per ``{user: password}``.

    Raises
    ------
    ConfigError
        A user name that :func:`check_username` refuses.
    """
    return "".join(f"{check_username(u)}:{hash_password(p, iterations=iterations)}\n"
                   for u, p in sorted(credentials.items()))


def acl_file(meters: Iterable[tuple[int, str]], *, ingest_users: Iterable[str] = (INGEST_USER,),
             gateway_users: Iterable[str] = (GATEWAY_USER,)) -> str:
    """Text of a Mosquitto ACL file.

    Parameters
    ----------
    meters : iterable of (int, str)
        ``(community id, serial)``: user ``serial`` may publish on
        ``peergrid/<community id>/<serial>/reading`` and nothing else (no read access).
        One ``user``/``topic write`` pair per meter pins the community as well as the
        serial (an ACL ``pattern`` with ``%u`` would allow any community).
    ingest_users, gateway_users : iterable of str
        Users that may read (subscribe to), respectively write (publish on), every reading topic.

    Notes
    -----
    Mosquitto 2 checks a subscription ``$share/<group>/<filter>`` against the ACL of
    ``<filter>`` and checks every delivered message against ``read`` access, so the one
    ``topic read`` line covers shared subscriptions too.
    """
    lines = ["# peergrid broker ACL, written by `peergrid meters provision` (do not edit: it is rewritten)",
             "# anything not granted here is denied", ""]
    for u in ingest_users:
        lines += [f"user {check_username(u)}", f"topic read {READING_FILTER}", ""]
    for u in gateway_users:
        lines += [f"user {check_username(u)}", f"topic write {READING_FILTER}", ""]
    for cid, serial in meters:
        lines += [f"user {check_username(serial)}", f"topic write peergrid/{int(cid)}/{serial}/reading"]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class TLSFiles:
    """Certificate files of a TLS listener (PEM paths)."""

    cafile: Path
    certfile: Path
    keyfile: Path


def generate_certificates(directory: Path | str, hosts: Iterable[str] = ("127.0.0.1", "localhost"),
                          days: int = 825) -> TLSFiles:
    """A private CA and a server certificate signed by it, with the ``openssl`` command line tool.

    Runs the commands of docs/service.md ("TLS") and ``scripts/services.sh``: ``ca.key`` and
    ``server.key`` (RSA 2048, 0600), ``ca.crt`` (give it to clients), ``server.crt`` with
    ``hosts`` as subject alternative names (IP addresses as ``IP:``, names as ``DNS:``; clients
    verify the host name against them).

    Parameters
    ----------
    directory : Path or str
        Created if missing; existing files are overwritten.
    hosts : iterable of str
        Names and addresses clients connect to.
    days : int
        Validity of both certificates (days).

    Returns
    -------
    TLSFiles
    """
    import ipaddress
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        raise ConfigError("the openssl command is needed to make certificates (apt-get install openssl)")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    hosts = list(hosts)
    san = []
    for h in hosts:
        try:
            ipaddress.ip_address(h)
            san.append(f"IP:{h}")
        except ValueError:
            san.append(f"DNS:{h}")
    (d / "server.ext").write_text(f"subjectAltName={','.join(san)}\nextendedKeyUsage=serverAuth\n")
    steps = [
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", str(days),
         "-subj", "/CN=peergrid MQTT CA", "-keyout", "ca.key", "-out", "ca.crt"],
        ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-sha256", "-subj", f"/CN={hosts[0]}",
         "-keyout", "server.key", "-out", "server.csr"],
        ["openssl", "x509", "-req", "-sha256", "-days", str(days), "-in", "server.csr", "-CA", "ca.crt",
         "-CAkey", "ca.key", "-CAcreateserial", "-extfile", "server.ext", "-out", "server.crt"],
    ]
    old = os.umask(0o077)
    try:
        for cmd in steps:
            r = subprocess.run(cmd, cwd=d, capture_output=True, text=True)
            if r.returncode:
                raise ConfigError(f"{' '.join(cmd[:2])} failed: {r.stderr.strip().splitlines()[-1:]}")
    finally:
        os.umask(old)
    (d / "ca.crt").chmod(0o644)
    (d / "server.crt").chmod(0o644)
    return TLSFiles(d / "ca.crt", d / "server.crt", d / "server.key")


def mosquitto_conf(directory: Path | str, *, host: str = "127.0.0.1", port: int = 1883, tls: TLSFiles | None = None,
                   tls_port: int = 8883, tls_host: str | None = None, plain: bool = True,
                   pid_file: Path | str | None = None, tls_client_id_is_user: bool = True, extra: str = "") -> str:
    """A mosquitto.conf for the password and ACL files of ``directory``.

    Parameters
    ----------
    directory : Path or str
        Where :data:`PASSWD_FILE` and :data:`ACL_FILE` are.
    host : str
        Listen address of the plain listener (keep it on the loopback: passwords cross it in clear).
    port : int
        Port of the plain listener (``plain=False`` leaves it out: TLS only).
    tls : TLSFiles, optional
        Adds a TLS listener on ``tls_host:tls_port`` with these files (TLS 1.2 or newer).
    tls_host : str, optional
        Listen address of the TLS listener (default ``host``; ``0.0.0.0`` for meters on the network).
    pid_file : Path or str, optional
        Where Mosquitto writes its pid (for ``peergrid meters provision --reload``).
    tls_client_id_is_user : bool
        ``use_username_as_clientid`` on the TLS listener (the one meters reach over the
        network): the broker replaces every client id there by the user name, so a meter can
        only ever resume or replace its own session, never another client's (e.g. the
        ingestor's persistent session with its queued readings). One connection per user on
        that listener; the ingestor and gateways on the broker host use the local listener.
    extra : str
        Further global lines (persistence, logging, ...).

    Returns
    -------
    str
        Global settings first (``per_listener_settings false``: authentication applies to
        every listener), then the listeners.
    """
    d = Path(directory).resolve()
    out = ["# peergrid broker: authentication and ACL on every listener, nobody anonymous",
           "per_listener_settings false", "allow_anonymous false",
           f"password_file {d / PASSWD_FILE}", f"acl_file {d / ACL_FILE}"]
    if pid_file is not None:
        out.append(f"pid_file {pid_file}")
    if extra:
        out.append(extra.rstrip("\n"))
    if plain:
        out += ["", f"listener {int(port)} {host}"]
    if tls is not None:
        out += ["", f"listener {int(tls_port)} {tls_host or host}", f"cafile {tls.cafile}", f"certfile {tls.certfile}",
                f"keyfile {tls.keyfile}", "tls_version tlsv1.2"]
        if tls_client_id_is_user:
            out.append("use_username_as_clientid true")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- files


def write_private(path: Path | str, text: str, mode: int = 0o600) -> None:
    """Write ``text`` to ``path`` atomically (temporary file in the same directory, then rename), mode 0600.

    A reader (Mosquitto reloading on SIGHUP) sees the old or the new file, never half of one.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def new_service_credentials() -> dict[str, str]:
    """Random passwords (43 URL-safe characters, 256 bits) of the service users."""
    return {u: secrets.token_urlsafe(32) for u in SERVICE_USERS}


def load_service_credentials(path: Path | str) -> dict[str, str]:
    """``{user: password}`` of a credentials file written by :func:`provision` or ``scripts/services.sh``.

    Raises
    ------
    ConfigError
        The file is missing, unreadable or not a JSON object of strings.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist (run `peergrid meters provision` or scripts/services.sh)") from None
    except PermissionError:
        raise ConfigError(f"{path}: permission denied (service credentials are readable by their owner only)") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read service credentials ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in data.items()):
        raise ConfigError(f"{path}: expected a JSON object {{user: password}}")
    return data


def broker_url(user: str, password: str, *, host: str = "127.0.0.1", port: int = 1883,
               ca_file: Path | str | None = None) -> str:
    """``mqtt://user:password@host:port`` (``mqtts://...?ca=...`` with a CA file), percent-encoded."""
    from urllib.parse import quote

    cred = f"{quote(user, safe='')}:{quote(password, safe='')}"
    if ca_file is None:
        return f"mqtt://{cred}@{host}:{int(port)}"
    return f"mqtts://{cred}@{host}:{int(port)}?ca={quote(str(ca_file))}"


@dataclass
class Provisioned:
    """What :func:`provision` wrote."""

    directory: Path
    meters: int
    skipped: list[str] = field(default_factory=list)
    service_credentials: dict[str, str] = field(default_factory=dict)

    @property
    def passwd(self) -> Path:
        """The password file."""
        return self.directory / PASSWD_FILE

    @property
    def acl(self) -> Path:
        """The ACL file."""
        return self.directory / ACL_FILE

    @property
    def credentials(self) -> Path:
        """The service credentials file (0600)."""
        return self.directory / CREDENTIALS_FILE


def provision(directory: Path | str, meters: Mapping[tuple[int, str], str], *,
              service_credentials: Mapping[str, str] | None = None, owner: str | None = None) -> Provisioned:
    """Write the password file, the ACL file and the service credentials into ``directory`` (all 0600).

    Parameters
    ----------
    directory : Path or str
        Created (0700) if missing.
    meters : mapping of (int, str) to str
        ``{(community id, serial): password}``. Serials that cannot be broker users
        (:func:`check_username`) or that are service user names are skipped and listed in
        :attr:`Provisioned.skipped`.
    service_credentials : mapping, optional
        Passwords of :data:`SERVICE_USERS`; by default those of an existing
        :data:`CREDENTIALS_FILE` in ``directory`` are kept, missing ones are generated.
    owner : str, optional
        System user the broker runs as (Mosquitto started as root drops to ``mosquitto``
        before it reads these files): the password and ACL files are given to it and the
        directory becomes traversable (0711); the credentials file stays the caller's.

    Returns
    -------
    Provisioned
    """
    d = Path(directory)
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    if service_credentials is None:
        cred_path = d / CREDENTIALS_FILE
        old = load_service_credentials(cred_path) if cred_path.exists() else {}
        creds = {**new_service_credentials(), **{u: p for u, p in old.items() if u in SERVICE_USERS}}
    else:
        creds = dict(service_credentials)
    ok: dict[tuple[int, str], str] = {}
    skipped: list[str] = []
    seen: set[str] = set()
    for (cid, serial), pw in meters.items():
        if serial in creds or serial in seen or not _USERNAME_RE.fullmatch(serial):
            skipped.append(serial)
            continue
        seen.add(serial)
        ok[(cid, serial)] = pw
    users = {**creds, **{serial: pw for (_, serial), pw in ok.items()}}
    write_private(d / CREDENTIALS_FILE, json.dumps(creds, indent=2, sort_keys=True) + "\n")
    write_private(d / PASSWD_FILE, password_file(users))
    write_private(d / ACL_FILE, acl_file(sorted(ok), ingest_users=[INGEST_USER], gateway_users=[GATEWAY_USER]))
    if owner is not None:
        import pwd

        try:
            pw = pwd.getpwnam(owner)
        except KeyError:
            raise ConfigError(f"no system user {owner!r} (the user the broker runs as, e.g. mosquitto)") from None
        try:
            for name in (PASSWD_FILE, ACL_FILE):
                os.chown(d / name, pw.pw_uid, pw.pw_gid)
        except PermissionError:
            raise ConfigError(f"not allowed to give {d / PASSWD_FILE} to {owner!r} (run as root)") from None
        d.chmod(0o711)
    return Provisioned(d, len(ok), skipped, creds)


def meter_passwords(session: Any, community_id: int | None = None) -> dict[tuple[int, str], str]:
    """``{(community id, serial): MQTT password}`` of every meter of the database (or of one community).

    The password is :func:`peergrid.service.mqtt.credentials.meter_token` of the service secret (created on
    first use), so provisioning twice gives the same passwords.
    """
    import sqlalchemy as sa

    from peergrid.service.models import Meter
    from peergrid.service.mqtt.credentials import meter_secret, meter_token

    secret = meter_secret(session)
    assert secret is not None
    q = sa.select(Meter.community_id, Meter.serial).order_by(Meter.community_id, Meter.id)
    if community_id is not None:
        q = q.where(Meter.community_id == community_id)
    return {(cid, serial): meter_token(secret, cid, serial) for cid, serial in session.execute(q)}


def reload_broker(pid_file: Path | str) -> int:
    """Send SIGHUP to the Mosquitto whose pid is in ``pid_file`` (it re-reads password and ACL files).

    Returns
    -------
    int
        The pid signalled.

    Raises
    ------
    ConfigError
        No such file, not a pid, or no such process.
    """
    path = Path(pid_file)
    try:
        pid = int(path.read_text().strip())
    except FileNotFoundError:
        raise ConfigError(f"pid file {path} does not exist (is the broker running with pid_file {path}?)") from None
    except (OSError, ValueError):
        raise ConfigError(f"pid file {path} does not hold a process id") from None
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise ConfigError(f"no broker process {pid} (stale pid file {path})") from None
    except PermissionError:
        raise ConfigError(f"not allowed to signal broker process {pid} (run as its owner or root)") from None
    return pid
