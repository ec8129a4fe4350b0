"""The ``peergrid`` command line (typer + rich): thin — parse, call, print.

Every :class:`~peergrid.PeergridError` and every usage error (unknown or missing option)
becomes one line on stderr and exit code 2; ``--json`` prints exactly one JSON object on
stdout and nothing else (no progress) and writes nothing unless ``--out`` is given.

One flag vocabulary across commands: ``--out DIR`` (a directory; default
``out/<scenario or command name>``), ``--json``, ``--markets a,b,c``, ``--quick``,
``--seed N``. Tables fit the terminal (:mod:`peergrid.cli.ui`); steps over a few
seconds show their progress on a terminal.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

try:  # recent typer vendors click as typer._click
    from typer._click import exceptions as click_exceptions  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as click_exceptions  # type: ignore[no-redef]

from peergrid.cli import clear, control, data, federation, invest, meters, reproduce, service, study, zoom
from peergrid.cli.ui import err_console


class OneLineErrors(TyperGroup):
    """The top-level group: usage errors (unknown option, missing argument …) as one line, exit 2."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """Run the CLI; click's usage errors become ``error: <message> (see <command> --help)``."""
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except click_exceptions.ClickException as exc:
            if not standalone_mode:
                raise
            if type(exc).__name__ == "NoArgsIsHelpError":  # `peergrid` or a group alone: the help was shown
                exc.show()
                sys.exit(exc.exit_code)
            ctx = getattr(exc, "ctx", None)
            hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
            message = " ".join(exc.format_message().split()).rstrip(".")
            err_console.print(f"[bold red]error:[/] {escape(message)}{escape(hint)}", highlight=False, soft_wrap=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            if not standalone_mode:
                raise
            err_console.print("[bold red]error:[/] interrupted", highlight=False)
            sys.exit(130)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    name="peergrid",
    cls=OneLineErrors,
    help="Peer-to-peer energy trading for local energy communities.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# Composition: each command module has its own module-level typer app (importable and runnable
# alone); single commands merge into the top level (add_typer without a name), groups get theirs.
# Top-level commands first, then the groups: the order of ``peergrid --help``.
for _commands in (study.app, clear.app, federation.sweep_app, reproduce.app, service.serve_app, invest.app):
    app.add_typer(_commands)
for _group, _name in ((control.app, "control"), (federation.app, "federation"), (zoom.app, "zoom"),
                      (service.ledger_app, "ledger"), (meters.app, "meters"), (data.app, "data")):
    app.add_typer(_group, name=_name)


def _version(value: bool) -> None:
    if value:
        from peergrid import __version__

        typer.echo(f"peergrid {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the peergrid version and exit."),
    ] = None,
) -> None:
    """peergrid: markets, control and simulation for P2P energy communities.

    Shell completion: peergrid --install-completion (bash, zsh, fish, PowerShell).
    """


def run() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    run()
