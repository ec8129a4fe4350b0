"""``peergrid zoom experiment NAME`` — LoRaWAN cluster zooming experiments (Anoh et al. 2026).

Thin command in the style of :mod:`peergrid.cli.main`: errors become one line and
exit code 2 (``handle_errors``), the output directory is written atomically
(:func:`peergrid.core.output.output_dir`: CSV + PNG + summary.json; never over files
peergrid did not write), ``--json`` prints exactly one JSON
object and writes nothing unless ``--out`` is given; on a terminal the run and the
writing show as progress steps with their elapsed time.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from peergrid.cli._common import handle_errors
from peergrid.core.output import OUT_HELP, check_output_dir, output_dir

__all__ = ["app", "experiment_cmd"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object with stable keys.")]


def _default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    return str(o)


app = typer.Typer(
    name="zoom",
    help="LoRaWAN cluster zooming: virtual microgrids, gateway agents, federated forecasting (Anoh et al.).",
    no_args_is_help=True,
)
"""The ``peergrid zoom`` group (``experiment``)."""


@app.command("experiment")
@handle_errors
def experiment_cmd(
    name: Annotated[str, typer.Argument(help="sf-share, network-size, opex, island, forecast or distance.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Output directory (default out/zoom/NAME; none under --json). " + OUT_HELP),
    ] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Small sizes (seconds instead of minutes).")] = False,
    seed: Annotated[int, typer.Option(min=0, help="Seed of households, placement and radio.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Run one experiment; write NAME.csv, NAME.png and summary.json; report agreement with the paper."""
    from rich.table import Table

    from peergrid.cli.ui import Stages, out_console
    from peergrid.core.errors import ConfigError
    from peergrid.zoom.experiments import EXPERIMENTS, run_experiment, write_experiment

    key = name.strip().lower()
    if key not in EXPERIMENTS:
        raise ConfigError(f"unknown zoom experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
    target = out if out is not None else (None if as_json else Path("out/zoom") / key)
    if target is not None:
        check_output_dir(target)
    files: dict[str, str] = {}
    with Stages(enabled=not as_json) as stages:
        stages.start(f"zoom experiment {key}" + (" (quick)" if quick else ""))
        exp = run_experiment(name, quick=quick, seed=seed)
        if target is not None:
            stages.start("writing results")
            with output_dir(target, command="peergrid zoom experiment") as tmp:
                files = write_experiment(exp, tmp)
    payload = exp.payload()
    payload["files"] = {k: str(target / Path(v).name) for k, v in files.items()} if target is not None else {}
    if as_json:
        sys.stdout.write(json.dumps(payload, indent=2, allow_nan=False, default=_default) + "\n")
        return
    con = out_console()
    table = Table(title=f"zoom experiment {exp.name} ({exp.seconds:.1f} s)")
    for col in ("claim", "paper", "peergrid", "verdict", "reason"):
        table.add_column(col)
    for c in exp.claims:
        table.add_row(c["claim"], c["paper"], c["measured"], c["verdict"], c["reason"])
    con.print(table)
    for c in exp.claims:
        con.print(f"baseline ({c['claim']}): {c['baseline']}", highlight=False)
    con.print(f"files: {target}")
