"""``peergrid reproduce PAPER`` — a paper's headline claims next to peergrid's figures, with verdicts.

Thin command in the style of :mod:`peergrid.cli.main`: errors are one line and exit
code 2, ``--json`` prints exactly one JSON object (the claims) and writes nothing unless
``--out`` is given; otherwise the report (``report.html``, ``report.md``,
``claims.json``, figures) goes atomically into ``--out`` (default
``out/reproduce-PAPER``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from peergrid.cli._common import default_out, handle_errors
from peergrid.core.output import OUT_HELP

__all__ = ["app", "reproduce_cmd"]

app = typer.Typer(pretty_exceptions_enable=False)
"""``peergrid reproduce`` alone (one command: invoked without its name)."""


@app.command("reproduce")
@handle_errors
def reproduce_cmd(
    paper: Annotated[str, typer.Argument(metavar="PAPER", help="lange, tooki, petri or anoh.")],
    quick: Annotated[bool, typer.Option("--quick", help="Reduced sizes: seconds instead of minutes.")] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Output directory (default out/reproduce-PAPER; none under --json). " + OUT_HELP),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (paper, claims, …); no progress.")
    ] = False,
    seed: Annotated[int, typer.Option(min=0, help="Root seed of the study's random choices.")] = 0,
) -> None:
    """Run a paper's study on its stated case; each headline claim: agrees, disagrees or not comparable."""
    from rich.table import Table

    from peergrid.cli.ui import Stages, out_console
    from peergrid.core.output import check_output_dir, output_dir
    from peergrid.reproduce import paper as find_paper
    from peergrid.reproduce import run_paper, write_reproduction

    p = find_paper(paper)
    target = out if out is not None else (None if as_json else default_out(f"reproduce-{p.key}"))
    if target is not None:
        check_output_dir(target)
    with Stages(enabled=not as_json) as stages:
        rep = run_paper(p.key, quick=quick, seed=seed, progress=lambda name: stages.start(name))
        if target is not None:
            stages.start("writing the report")
            with output_dir(target, command="peergrid reproduce") as tmp:
                write_reproduction(rep, tmp)
    payload = rep.to_dict()
    if target is not None:
        payload["out"] = str(target)
    if as_json:
        sys.stdout.write(json.dumps(payload, indent=2, allow_nan=False) + "\n")
        return
    con = out_console()
    counts = ", ".join(f"{n} {v}" for v, n in rep.counts().items())
    table = Table(title=f"peergrid reproduce {p.key}{' --quick' if quick else ''}: {counts} ({rep.seconds:.1f} s)")
    for col in ("id", "verdict", "paper", "peergrid"):
        table.add_column(col, overflow="fold")
    style = {"agrees": "green", "disagrees": "red", "not comparable": "yellow"}
    for c in rep.claims:
        table.add_row(c.id, f"[{style[c.verdict]}]{c.verdict}[/]", c.paper_value, c.peergrid_value)
    con.print(table)
    for c in rep.claims:  # the claim and the reason of each verdict, from the same records
        con.print(f"{c.id}: {c.claim}. Verdict: {c.verdict} ({c.reason}).", highlight=False, markup=False)
    con.print(f"case: {rep.case}", highlight=False, markup=False)
    if target is not None:
        con.print(f"report: {target}/report.html   claims: {target}/claims.json", highlight=False, markup=False)
