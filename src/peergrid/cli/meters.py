"""``peergrid meters``: meter credentials and a meter simulator publishing over MQTT.

* ``peergrid meters tokens --db URL --community C`` prints ``{serial: token}`` (JSON) of
  the community's meters, to provision real meters or gateways.
* ``peergrid meters simulate --community C --meters 1000 --rate 10/s --from-data``
  publishes readings of the first N meters of community C on
  ``peergrid/<C>/<serial>/reading`` (QoS 1) — realistic CityLearn profiles with
  ``--from-data`` — paced at ``--rate`` messages per second over all meters.

Registered on the main app by :func:`register` (``peergrid.cli.main`` calls it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from peergrid.cli.main import _print_json, err_console, handle_errors
from peergrid.core.errors import ConfigError

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


def _tokens_from_db(db: str | None, community: int) -> dict[str, str]:
    from peergrid.service.db import make_engine, normalise_url, session_factory
    from peergrid.service.directory import get_community
    from peergrid.service.errors import ServiceError
    from peergrid.service.mqtt import meter_tokens

    url = normalise_url(db)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).exists():
        raise ConfigError(f"database {url[len('sqlite:///'):]} does not exist (start `peergrid serve` once)")
    engine = make_engine(url)
    try:
        with session_factory(engine)() as s, s.begin():
            try:
                get_community(s, community)
            except ServiceError as exc:
                raise ConfigError(str(exc)) from None
            return meter_tokens(s, community)
    finally:
        engine.dispose()


def _tokens_from_file(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ConfigError(f"{path}: expected a JSON object {{serial: token}}")
    return data


def register(app: typer.Typer) -> None:
    """Add the ``meters`` command group to ``app``."""
    meters_app = typer.Typer(help="Smart meters: credentials and an MQTT meter simulator.", no_args_is_help=True)

    @meters_app.command("tokens")
    @handle_errors
    def tokens(
        community: Annotated[int, typer.Option("--community", min=1, help="Community id")],
        db: Annotated[str | None, typer.Option("--db", help=DB_HELP)] = None,
    ) -> None:
        """Print the MQTT tokens of the community's meters as one JSON object {serial: token}."""
        _print_json(_tokens_from_db(db, community))

    @meters_app.command("simulate")
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
        mqtt: Annotated[str, typer.Option("--mqtt", help="Broker URL")] = "mqtt://127.0.0.1:1883",
        db: Annotated[str | None, typer.Option("--db", help=DB_HELP + "; meters and tokens are read from it")] = None,
        tokens_file: Annotated[
            Path | None, typer.Option("--tokens", help="JSON {serial: token} instead of --db")
        ] = None,
        period: Annotated[float, typer.Option("--period", min=1.0, help="Metering period, s")] = 900.0,
        backfill: Annotated[int, typer.Option("--backfill", min=0, help="Completed periods to publish first")] = 1,
        rounds: Annotated[int | None, typer.Option("--rounds", min=1, help="Stop after this many periods")] = None,
        duration: Annotated[float | None, typer.Option("--duration", min=0.0, help="Stop after this many s")] = None,
        seed: Annotated[int, typer.Option("--seed", help="Seed of per-meter scaling")] = 0,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    ) -> None:
        """Publish readings of simulated meters over MQTT (QoS 1), one per meter per period."""
        from peergrid.service.mqtt import parse_rate, simulate_meters

        r = parse_rate(rate)
        toks = _tokens_from_file(tokens_file) if tokens_file is not None else _tokens_from_db(db, community)
        if len(toks) < meters:
            raise ConfigError(
                f"community {community} has {len(toks)} meters, asked to simulate {meters}: register more "
                f"(POST /api/communities/{community}/meters) or lower --meters"
            )
        toks = dict(list(toks.items())[:meters])
        if not as_json and sys.stderr.isatty():
            err_console.print(f"simulating {meters} meters at {r:g} msg/s -> {mqtt} (Ctrl-C stops)")
        try:
            res = simulate_meters(mqtt, community, toks, rate=r, period_s=period, from_data=from_data,
                                  rounds=rounds, backfill=backfill, duration_s=duration, seed=seed)
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        if as_json:
            _print_json(res.as_dict())
        else:
            typer.echo(f"published {res.messages} readings of {res.meters} meters over {res.rounds} period(s) "
                       f"({res.first_ts} .. {res.last_ts}) in {res.seconds:.1f} s")

    @meters_app.command("provision")
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
        broker.write_private(conf, broker.mosquitto_conf(directory, tls=tls_files, pid_file=pid_file), 0o644)
        pid = broker.reload_broker(pid_file) if reload and pid_file is not None else None
        for serial in res.skipped:
            err_console.print(f"skipped meter {serial!r}: not a valid MQTT user name (A-Z a-z 0-9 _ . -), "
                              "or a duplicate or reserved name")
        if as_json:
            _print_json({"dir": str(directory), "meters": res.meters, "skipped": res.skipped,
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

    app.add_typer(meters_app, name="meters")
