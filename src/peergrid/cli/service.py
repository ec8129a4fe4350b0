"""``peergrid serve`` and ``peergrid ledger verify``: run the trading platform, check its ledger.

``serve`` is on the module-level typer app :data:`serve_app` (one command), the ``ledger`` group
is :data:`ledger_app`; :mod:`peergrid.cli.main` composes both into ``peergrid``.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from peergrid.cli._common import handle_errors
from peergrid.cli.ui import err_console

DB_HELP = "Database: a SQLite file (default peergrid.db) or postgresql+psycopg://user:pw@host/db"


serve_app = typer.Typer(pretty_exceptions_enable=False)
"""``peergrid serve`` alone (one command: invoked without its name)."""

ledger_app = typer.Typer(help="The tamper-evident ledger.", no_args_is_help=True)
"""The ``peergrid ledger`` group (``verify``)."""


@serve_app.command()
@handle_errors
def serve(
    db: Annotated[str | None, typer.Option("--db", help=DB_HELP)] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port")] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="Seed a demo community on an empty database")] = False,
    tick: Annotated[
        float | None,
        typer.Option(min=0.5, help="Seconds between clearing scheduler ticks (default 10, or "
                     "$PEERGRID_SCHEDULER_TICK)"),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Server processes (PostgreSQL recommended)")] = 1,
    mqtt: Annotated[
        str | None,
        typer.Option(
            help="MQTT broker for meter readings: mqtt://peergrid-ingest@host:1883 or "
            "mqtts://peergrid-ingest@host:8883?ca=ca.crt (password from $PEERGRID_MQTT_PASSWORD); "
            "topic peergrid/<community id>/<meter serial>/reading"
        ),
    ] = None,
    trusted_proxy: Annotated[
        list[str] | None,
        typer.Option(
            "--trusted-proxy",
            help="Reverse proxy (IP address or CIDR network) whose X-Forwarded-For names the client; "
            "repeatable (or $PEERGRID_TRUSTED_PROXIES, comma-separated). Default none: the socket peer is the client.",
        ),
    ] = None,
) -> None:
    """Run the trading platform (API at /api, docs at /docs); migrates the database first."""
    import uvicorn

    from peergrid.service.app import create_app
    from peergrid.service.db import make_engine
    from peergrid.service.settings import load_settings, worker_environment

    # one validated model: these options over the $PEERGRID_* variables (docs/service.md, "Settings");
    # a bad value is a one-line ConfigError naming it (exit 2)
    given = {"db": db, "scheduler_tick": tick, "mqtt_url": mqtt, "trusted_proxies": trusted_proxy}
    names = {"db": "--db", "scheduler_tick": "--tick", "mqtt_url": "--mqtt", "trusted_proxies": "--trusted-proxy"}
    settings = load_settings(options={k: names[k] for k, v in given.items() if v is not None}, **given)
    engine = make_engine(settings.database_url)
    safe = engine.url.render_as_string(hide_password=True)
    if workers == 1:
        app = create_app(engine=engine, settings=settings, demo=demo)
    else:  # migrate and seed once here, then every worker process builds its own app from the same settings
        create_app(engine=engine, settings=settings, scheduler=False, demo=demo, extensions=())
        engine.dispose()
    err_console.print(
        f"peergrid service on http://{host}:{port}  (docs /docs, database {safe}, "
        f"{workers} worker{'s' if workers > 1 else ''})",
        highlight=False,
    )
    if demo:
        from peergrid.service.seed import DEMO_ADMIN, DEMO_OPERATOR, DEMO_PASSWORD

        err_console.print(
            f"demo logins: {DEMO_ADMIN}, {DEMO_OPERATOR}, home01..home17@demo.peergrid; password {DEMO_PASSWORD}",
            highlight=False,
        )
    # uvicorn's own proxy-header handling is off: it would believe X-Forwarded-For from any
    # local client; the app reads it only from --trusted-proxy peers (peergrid.service.auth)
    if workers == 1:
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False, proxy_headers=False)
    else:  # uvicorn's workers start from an import string: the settings travel as one JSON variable
        with worker_environment(settings):
            uvicorn.run(
                "peergrid.service.app:app_from_env",
                factory=True,
                workers=workers,
                host=host,
                port=port,
                log_level="info",
                access_log=False,
                proxy_headers=False,
            )


@ledger_app.command("verify")
@handle_errors
def verify(
    db: Annotated[str | None, typer.Option("--db", help=DB_HELP)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Recompute the hash chain and account balances; exit 1 at the first bad entry."""
    from peergrid.core.errors import ConfigError
    from peergrid.service import ledger
    from peergrid.service.db import current_revision, make_engine, normalise_url

    url = normalise_url(db)
    if url.startswith("sqlite:///"):
        from pathlib import Path

        path = Path(url[len("sqlite:///") :])
        if not path.is_file():
            raise ConfigError(f"database file {path} does not exist")
    engine = make_engine(url)
    if current_revision(engine) is None:
        raise ConfigError("the database has no peergrid schema (start it once with peergrid serve)")
    with engine.connect() as conn:
        from sqlalchemy.orm import Session

        result = ledger.verify(Session(bind=conn))
    engine.dispose()
    if as_json:
        sys.stdout.write(json.dumps(result.as_dict()) + "\n")
    elif result.ok:
        typer.echo(f"ledger OK: {result.entries} entries, head {result.head_hash}")
    else:
        typer.echo(f"ledger BROKEN at entry {result.first_bad_seq}: {result.problem}")
    if not result.ok:
        raise typer.Exit(1)
