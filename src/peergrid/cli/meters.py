"""``peergrid meters``: meter credentials and a meter simulator publishing over MQTT.

* ``peergrid meters tokens --db URL --community C`` prints ``{serial: {"password": ...,
  "signing_key": ...}}`` (JSON) of the community's meters, to provision real meters or
  gateways: the MQTT password (broker authentication) and the key that signs readings.
* ``peergrid meters dead-letters --db URL`` lists rejected MQTT messages (``--purge-before``
  or ``--purge-days`` deletes old ones).
* ``peergrid meters simulate --community C --meters 1000 --rate 10/s --from-data``
  publishes readings of the first N meters of community C on
  ``peergrid/<C>/<serial>/reading`` (QoS 1) — realistic CityLearn profiles with
  ``--from-data`` — paced at ``--rate`` messages per second over all meters. It says what
  it does, prints a status line every :data:`STATUS_EVERY_S` seconds (readings sent,
  rejected by the broker, rate) and a summary when it ends or is stopped with Ctrl-C
  (stderr; under ``--json`` only the JSON summary on stdout). The first Ctrl-C stops
  after the reading in flight (summary, exit code 130); a second one aborts at once.

The commands are module-level functions on the module-level typer app :data:`app` (the
``meters`` group), composed into ``peergrid`` by :mod:`peergrid.cli.main`.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from peergrid.cli._common import handle_errors, print_json
from peergrid.cli.ui import err_console
from peergrid.core.errors import ConfigError

STATUS_EVERY_S = 10.0
"""Seconds between the status lines of ``peergrid meters simulate``."""

DB_HELP = "Service database: SQLite file/URL or postgresql://user:pw@host/db (default ./peergrid.db)"


def _open_db(db: str | None) -> tuple[Any, Any]:
    """``(engine, session factory)`` of an existing service database; :class:`ConfigError` if it is missing."""
    from peergrid.service.db import make_engine, normalise_url, session_factory

    url = normalise_url(db)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        raise ConfigError(f"database {url[len('sqlite:///'):]} does not exist (start `peergrid serve` once)")
    engine = make_engine(url)
    return engine, session_factory(engine)


def _check_community(session: Any, community: int) -> None:
    from peergrid.service.directory import get_community
    from peergrid.service.errors import ServiceError

    try:
        get_community(session, community)
    except ServiceError as exc:
        raise ConfigError(str(exc)) from None


def _credentials_from_db(db: str | None, community: int) -> dict[str, dict[str, str]]:
    """``{serial: {"password": ..., "signing_key": ...}}`` of a community's meters."""
    from peergrid.service.mqtt.credentials import meter_credentials

    engine, factory = _open_db(db)
    try:
        with factory() as s, s.begin():
            _check_community(s, community)
            return meter_credentials(s, community)
    finally:
        engine.dispose()


def _signing_from_db(db: str | None, community: int) -> tuple[dict[str, bytes], list[str]]:
    """``({serial: signing key}, [serials without generation])`` of a community's meters, in meter order."""
    import sqlalchemy as sa

    from peergrid.service.models import Meter
    from peergrid.service.mqtt.credentials import meter_secret, meter_signing_key

    engine, factory = _open_db(db)
    try:
        with factory() as s, s.begin():
            _check_community(s, community)
            secret = meter_secret(s)
            assert secret is not None
            rows = s.execute(sa.select(Meter.serial, Meter.has_generation)
                             .where(Meter.community_id == community).order_by(Meter.id)).all()
            return ({serial: meter_signing_key(secret, community, serial) for serial, _ in rows},
                    [serial for serial, generation in rows if not generation])
    finally:
        engine.dispose()


def _keys_from_file(path: Path) -> dict[str, bytes]:
    """``{serial: signing key}`` of a file written from ``peergrid meters tokens``."""
    from peergrid.service.mqtt.credentials import decode_key

    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, dict) and isinstance(v.get("signing_key"), str) for k, v in data.items()
    ):
        raise ConfigError(f"{path}: expected a JSON object {{serial: {{\"password\": ..., \"signing_key\": ...}}}} "
                          "(the output of `peergrid meters tokens`)")
    out = {}
    for serial, v in data.items():
        try:
            out[serial] = decode_key(v["signing_key"])
        except ConfigError as exc:
            raise ConfigError(f"{path}: meter {serial[:100]!r}: {exc}") from None
    return out


def _say(message: str) -> None:
    """One status line on stderr (no markup, no wrapping)."""
    err_console.print(message, markup=False, highlight=False, soft_wrap=True)


def _safe_url(url: str) -> str:
    """``url`` without a password."""
    import re

    return re.sub(r"(//[^:/@]+):[^@]*@", r"\1:***@", url)


class _Status:
    """A status line every few s (``progress`` of :func:`~peergrid.service.mqtt.simulator.simulate_meters`)."""

    def __init__(self, quiet: bool, rate: float, every_s: float | None = None) -> None:
        import time

        self.quiet, self.rate = quiet, rate
        self.every_s = STATUS_EVERY_S if every_s is None else every_s
        self.t0 = self.last = time.monotonic()

    def __call__(self, sent: int, refused: int, rounds: int) -> None:
        import time

        now = time.monotonic()
        if self.quiet or now - self.last < self.every_s:
            return
        self.last = now
        elapsed = now - self.t0
        _say(f"{time.strftime('%H:%M:%S')}  {sent:,} readings sent, {refused:,} rejected, "
             f"{sent / elapsed if elapsed > 0 else 0:.1f}/s (target {self.rate:g}/s), {rounds} period(s) done")


@contextlib.contextmanager
def _graceful_interrupt(stop: threading.Event) -> Iterator[None]:
    """First Ctrl-C sets ``stop`` (the simulator finishes with a summary); a second one interrupts."""
    import signal

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


app = typer.Typer(help="Smart meters: credentials and an MQTT meter simulator.", no_args_is_help=True)
"""The ``peergrid meters`` group (``tokens``, ``dead-letters``, ``simulate``, ``provision``)."""


@app.command("tokens")
@handle_errors
def tokens(
    community: Annotated[int, typer.Option("--community", min=1, help="Community id")],
    db: Annotated[str | None, typer.Option("--db", help=DB_HELP)] = None,
) -> None:
    """Print the meters' credentials as one JSON object {serial: {"password": ..., "signing_key": ...}}.

    password: the meter's MQTT password (user name = serial); signing_key: the key (URL-safe
    base64, 32 bytes) its readings are signed with (docs/dashboard.md, "Signed readings").
    """
    print_json(_credentials_from_db(db, community))


@app.command("dead-letters")
@handle_errors
def dead_letters(
    db: Annotated[str | None, typer.Option("--db", help=DB_HELP)] = None,
    community: Annotated[int | None, typer.Option("--community", min=1, help="Only this community's")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000, help="Newest N")] = 50,
    purge_before: Annotated[
        str | None, typer.Option("--purge-before", help="Delete those received before this ISO 8601 time")
    ] = None,
    purge_days: Annotated[
        float | None, typer.Option("--purge-days", min=0.0, help="Delete those older than this many days")
    ] = None,
) -> None:
    """List rejected MQTT messages (newest first, JSON), or delete old ones."""
    import datetime as dt

    from peergrid.service.mqtt.dead_letters import list_dead_letters, purge_dead_letters

    if purge_before is not None and purge_days is not None:
        raise ConfigError("give --purge-before or --purge-days, not both")
    before = None
    if purge_before is not None:
        try:
            before = dt.datetime.fromisoformat(purge_before)
        except ValueError:
            raise ConfigError(f"--purge-before {purge_before!r} is not an ISO 8601 time") from None
        if before.utcoffset() is None:
            raise ConfigError(f"--purge-before {purge_before!r} needs a time zone (e.g. 2026-06-01T00:00:00Z)")
    elif purge_days is not None:
        before = dt.datetime.now(dt.UTC) - dt.timedelta(days=purge_days)
    engine, factory = _open_db(db)
    try:
        with factory() as s, s.begin():
            if before is not None:
                print_json({"deleted": purge_dead_letters(s, before), "before": before.isoformat()})
                return
            if community is not None:
                _check_community(s, community)
            print_json(list_dead_letters(s, None if community is None else [community], limit=limit))
    finally:
        engine.dispose()


@app.command("simulate")
@handle_errors
def simulate(
    community: Annotated[int, typer.Option("--community", min=1, help="Community id")],
    meters: Annotated[int, typer.Option("--meters", min=1, help="Simulate the first N meters of the community")]
    = 1000,
    rate: Annotated[str, typer.Option("--rate", help="Messages per second over all meters: 10/s, 600/min")]
    = "10/s",
    from_data: Annotated[
        bool, typer.Option("--from-data/--synthetic", help="CityLearn 2022 measured load and PV, or synthetic")
    ] = True,
    mqtt: Annotated[str, typer.Option("--mqtt", help="Broker URL: mqtt://user[:password]@host:1883 or "
                                      "mqtts://...:8883?ca=ca.crt; password from $PEERGRID_MQTT_PASSWORD")]
    = "mqtt://peergrid-gateway@127.0.0.1:1883",
    db: Annotated[str | None, typer.Option("--db", help=DB_HELP + "; meters and keys are read from it")] = None,
    keys_file: Annotated[
        Path | None, typer.Option("--keys", "--tokens", help="The JSON of `peergrid meters tokens` instead of --db")
    ] = None,
    period: Annotated[float, typer.Option("--period", min=1.0, help="Metering period, s")] = 900.0,
    backfill: Annotated[int, typer.Option("--backfill", min=0, help="Completed periods to publish first")] = 1,
    rounds: Annotated[int | None, typer.Option("--rounds", min=1, help="Stop after this many periods")] = None,
    duration: Annotated[float | None, typer.Option("--duration", min=0.0, help="Stop after this many s")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of per-meter scaling")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Publish signed readings of simulated meters over MQTT (QoS 1), one per meter per period.

    Each reading is signed with its meter's key; seq is the Unix time in ms (so it keeps increasing
    across runs). Publish as a user allowed to publish for every meter (the gateway user of
    `peergrid meters provision`: --mqtt mqtt://peergrid-gateway:PASSWORD@host:1883).
    """
    from peergrid.service.mqtt.simulator import parse_rate, simulate_meters
    from peergrid.service.settings import load_mqtt_settings

    r = parse_rate(rate)
    nogen: list[str] = []
    if keys_file is not None:
        keys = _keys_from_file(keys_file)
    else:
        keys, nogen = _signing_from_db(db, community)
    if len(keys) < meters:
        raise ConfigError(
            f"community {community} has {len(keys)} meters, asked to simulate {meters}: register more "
            f"(POST /api/communities/{community}/meters) or lower --meters"
        )
    keys = dict(list(keys.items())[:meters])
    # the URL with $PEERGRID_MQTT_PASSWORD / $PEERGRID_MQTT_CA (peergrid.service.settings); one-line ConfigError
    broker = load_mqtt_settings(mqtt_url=mqtt, options={"mqtt_url": "--mqtt"}).broker()
    stop = threading.Event()
    status = _Status(as_json, r)
    if not as_json:
        until = (f"{rounds} period(s)" if rounds is not None else "") + (
            f"{' or ' if rounds is not None else ''}{duration:g} s" if duration is not None else "")
        profiles = "CityLearn 2022 profiles" if from_data else "synthetic"
        _say(f"meters simulate: {meters} meters of community {community} ({profiles}), one signed reading per "
             f"meter per {period:g} s period ({backfill} completed period(s) first), {r:g} msg/s to "
             f"{_safe_url(mqtt)}; "
             f"{'until ' + until if until else 'until stopped'} (Ctrl-C stops with a summary)")
    with _graceful_interrupt(stop):
        res = simulate_meters(broker, community, keys, rate=r, period_s=period, from_data=from_data,
                              rounds=rounds, backfill=backfill, duration_s=duration, seed=seed,
                              no_generation=nogen, stop=stop, progress=status)
    interrupted = stop.is_set()
    if as_json:
        print_json(res.as_dict() | {"rate": round(res.rate, 3), "interrupted": interrupted})
    else:
        _say(f"{'stopped (Ctrl-C)' if interrupted else 'done'}: published {res.messages:,} readings of "
             f"{res.meters} meters over {res.rounds} period(s) ({res.first_ts} .. {res.last_ts}) in "
             f"{res.seconds:.1f} s, {res.rate:.1f}/s; {res.refused:,} rejected by the broker")
    if interrupted:
        raise typer.Exit(130)


@app.command("provision")
@handle_errors
def provision_cmd(
    directory: Annotated[Path, typer.Option("--dir", help="Where to write passwd, acl, service-credentials.json, "
                                            "mosquitto.conf (created 0700)")],
    db: Annotated[str | None, typer.Option("--db", help=DB_HELP)] = None,
    community: Annotated[int | None, typer.Option("--community", min=1, help="Only this community's meters")]
    = None,
    owner: Annotated[str | None, typer.Option("--owner", help="System user the broker runs as (e.g. mosquitto): "
                                              "passwd and acl are given to it (needs root)")] = None,
    tls: Annotated[Path | None, typer.Option("--tls", help="Directory with ca.crt, server.crt, server.key: "
                                             "mosquitto.conf gets a TLS listener on 8883")] = None,
    pid_file: Annotated[Path | None, typer.Option("--pid-file", help="The broker's pid file (for --reload)")]
    = None,
    listen: Annotated[str, typer.Option("--listen", help="Address of the TLS listener (0.0.0.0: meters on the "
                                        "network); the plain one stays on 127.0.0.1")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Plain listener port")] = 1883,
    tls_port: Annotated[int, typer.Option("--tls-port", min=1, max=65535, help="TLS listener port")] = 8883,
    reload: Annotated[bool, typer.Option("--reload", help="SIGHUP the broker of --pid-file: it re-reads "
                                         "passwd and acl")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Write the broker's password file and ACL for every meter (and the service users), files 0600.

    Meter user = serial, password = the meter's MQTT password (`peergrid meters tokens`); it may
    publish on its own topic only. peergrid-ingest reads all readings, peergrid-gateway publishes
    them; their random passwords are kept in service-credentials.json across runs.
    """
    from peergrid.service import broker

    if reload and pid_file is None:
        raise ConfigError("--reload needs --pid-file (the pid_file of the broker's mosquitto.conf)")
    tls_files = None
    if tls is not None:
        tls_files = broker.TLSFiles(tls / "ca.crt", tls / "server.crt", tls / "server.key")
        for f in (tls_files.cafile, tls_files.certfile, tls_files.keyfile):
            if not f.is_file():
                raise ConfigError(f"--tls {tls}: {f.name} is missing (see docs/service.md, TLS)")
    engine, factory = _open_db(db)
    try:
        with factory() as s, s.begin():
            if community is not None:
                _check_community(s, community)
            meters = broker.meter_passwords(s, community)
    finally:
        engine.dispose()
    res = broker.provision(directory, meters, owner=owner)
    conf = directory / broker.CONF_FILE
    broker.write_private(conf, broker.mosquitto_conf(directory, port=port, tls=tls_files, tls_host=listen,
                                                     tls_port=tls_port, pid_file=pid_file), 0o644)
    pid = broker.reload_broker(pid_file) if reload and pid_file is not None else None
    for serial in res.skipped:
        err_console.print(f"skipped meter {serial!r}: not a valid MQTT user name (A-Z a-z 0-9 _ . -), "
                          "or a duplicate or reserved name")
    if as_json:
        print_json({"dir": str(directory), "meters": res.meters, "skipped": res.skipped,
                     "passwd": str(res.passwd), "acl": str(res.acl), "credentials": str(res.credentials),
                     "conf": str(conf), "reloaded": pid})
        return
    typer.echo(f"wrote {res.passwd} and {res.acl} ({res.meters} meters + {len(broker.SERVICE_USERS)} service "
               f"users), {res.credentials} (service passwords, 0600) and {conf}")
    if pid is not None:
        typer.echo(f"broker {pid} reloaded (SIGHUP)")
    else:
        typer.echo(f"start a broker with it: mosquitto -c {conf}   (or copy its lines into your mosquitto.conf;"
                   f" after changes: peergrid meters provision ... --pid-file PID --reload)")
