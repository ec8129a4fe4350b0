"""``peergrid data check FILE`` — what peergrid finds in a meter export and what it would do.

Thin command in the style of :mod:`peergrid.cli.main`: an unusable file is one line on
stderr and exit code 2 (``handle_errors``); ``--json`` prints exactly one JSON object.
Exit codes: 0 the file is usable with these options, 1 it is readable but a scenario
with these options would stop (gaps under ``--gaps error``, negative values; the
report says why), 2 it is unusable (or a bad option).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from peergrid.cli._common import handle_errors
from peergrid.core.errors import ConfigError
from peergrid.data.meters import MeterReport, format_span

__all__ = ["app", "check", "parse_columns", "render_report", "toml_snippet"]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object with stable keys.")]


def _local(ts: pd.Timestamp, tz: str) -> str:
    return ts.tz_convert(tz).strftime("%Y-%m-%d %H:%M %Z")


def parse_columns(text: str) -> dict[str, str]:
    """``"time=Zeit,meter=Zähler,value=Wert"`` -> ``{"time": "Zeit", ...}`` (the scenario key ``columns``).

    Parameters
    ----------
    text : str
        Comma-separated ``ROLE=COLUMN`` pairs; roles ``time``, ``meter``, ``value``, ``kind``.

    Returns
    -------
    dict

    Raises
    ------
    ConfigError
        A pair without ``=``, an unknown or repeated role, or an empty column name.
    """
    out: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        role, sep, col = (x.strip() for x in pair.partition("="))
        if not sep or not col:
            raise ConfigError(f"--columns: {pair!r} is not ROLE=COLUMN (e.g. time=Zeit,meter=Zähler,value=Wert)")
        if role not in ("time", "meter", "value", "kind"):
            raise ConfigError(f"--columns: unknown role {role!r} (use time, meter, value, kind)")
        if role in out:
            raise ConfigError(f"--columns: {role!r} given twice")
        out[role] = col
    return out


def toml_snippet(r: MeterReport, gaps: str, columns: dict[str, str] | None = None) -> str:
    """The scenario lines that read this file as checked.

    Parameters
    ----------
    r : MeterReport
        Report of the file.
    gaps : str
        Gap policy to write (the suggested one when the file has gaps).
    columns : dict, optional
        Column names given with ``--columns`` (written as ``columns = {...}``).

    Returns
    -------
    str
        TOML text for ``[time]`` and ``[community]``, and a reminder of ``[tariff]``.
    """
    lines = ["[time]", f'tz = "{r.tz}"', "", "[community]", 'source = "csv"', f'load = "{Path(r.origin).name}"',
             f'format = "{r.format}"', f'units = "{r.units}"']
    if r.dayfirst:
        lines.append("dayfirst = true")
    if r.label != "start":
        lines.append(f'label = "{r.label}"')
    if columns:
        lines.append("columns = { " + ", ".join(f"{k} = {json.dumps(v, ensure_ascii=False)}"
                                                for k, v in columns.items()) + " }")
    if gaps != "error":
        lines.append(f'gaps = "{gaps}"')
    lines += ["", "# [tariff] is required with csv data (prices and currency): see docs/tariffs.md"]
    return "\n".join(lines)


def render_report(r: MeterReport, columns: dict[str, str] | None = None) -> str:
    """Plain-text report of :class:`MeterReport` (what was found, what peergrid would do).

    Parameters
    ----------
    r : MeterReport
    columns : dict, optional
        Column names given with ``--columns`` (repeated in the scenario lines).

    Returns
    -------
    str
    """
    hours = r.step.total_seconds() / 3600
    step = f"{r.step.total_seconds() / 60:g} min" if hours < 1 else f"{hours:g} h"
    ids = ", ".join(r.meters[:8]) + (f", … ({len(r.meters) - 8} more)" if len(r.meters) > 8 else "")
    cols = ", ".join(f"{k}={v!r}" for k, v in r.columns.items())
    stamps = (f"naive, read as {r.tz} local time" if r.timestamps == "naive"
              else "with UTC offsets (converted; tz only names the community zone)")
    out = [
        f"file        {r.origin}",
        f"format      {r.format} ({cols})",
        f"meters      {len(r.meters)}: {ids}",
        f"series      {', '.join(r.kinds)}",
        f"span        {_local(r.start, r.tz)} to {_local(r.end, r.tz)} ({format_span(r.end - r.start)}, "
        f"{r.steps} steps of {step})",
        f"            {r.start.isoformat()} to {r.end.isoformat()} (UTC)",
        f"timestamps  {stamps}",
        f"units       {r.units} ({r.units_source})",
        f"gaps        {r.missing_values} missing value(s), {r.missing_timestamps} step(s) without any row"
        + (f"; first at {r.first_gap}" if r.first_gap else "")
        + f"; policy {r.gaps!r}",
        f"duplicates  {r.duplicates} identical row(s)",
        "energy      " + ", ".join(f"{k} {v:,.1f} kWh" for k, v in r.energy_kwh.items()),
    ]
    for note in r.dst:
        out.append(f"DST         {note}")
    if not r.dst:
        out.append("DST         no daylight-saving change in the data" if r.timestamps == "naive" and r.tz != "UTC"
                   else "DST         not applicable (UTC or timestamps with offsets)")
    for note in r.notes:
        out.append(f"note        {note}")
    out.append("would do:")
    out += [f"  - {a}" for a in r.actions] or ["  - nothing: the values are kWh per step on a regular UTC grid"]
    if r.problems:
        out.append("problems:")
        out += [f"  - {p}" for p in r.problems]
    gaps = r.gaps if r.gaps != "error" or not r.missing_values else "interpolate"
    out.append("scenario lines" + (" (after fixing the problems)" if r.problems else "") + ":")
    out += ["  " + line if line else "" for line in toml_snippet(r, gaps, columns).splitlines()]
    return "\n".join(out)


app = typer.Typer(name="data", help="Your own meter data: check exports before simulating.",
                  no_args_is_help=True)
"""The ``peergrid data`` group (``check``)."""


@app.command("check")
@handle_errors
def check(
    file: Annotated[Path, typer.Argument(help="Meter export, CSV or Parquet, long or wide.")],
    format: Annotated[str, typer.Option("--format", help="long, wide or auto.")] = "auto",
    tz: Annotated[str, typer.Option("--tz", help="IANA zone of naive timestamps (the community's).")] = "UTC",
    units: Annotated[
        str | None, typer.Option("--units", help="Wh, kWh (per step), W or kW (mean power); default from the "
                                                 "value column's name, else kWh.")
    ] = None,
    dayfirst: Annotated[bool, typer.Option("--dayfirst/--no-dayfirst", help="Dates like 05.06.2023 are "
                                                                           "5 June.")] = False,
    gaps: Annotated[str, typer.Option("--gaps", help="error, interpolate or zero.")] = "error",
    label: Annotated[str, typer.Option("--label", help="start or end: the timestamps label the start "
                                                       "(default) or the end of their period.")] = "start",
    columns: Annotated[
        str | None, typer.Option("--columns", help="Column names instead of detection, e.g. "
                                                   "time=Zeit,meter=Zähler,value=Wert,kind=Richtung (roles "
                                                   "time, meter, value, kind; the scenario key columns).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Report meters, span, step, gaps, duplicates and DST issues of FILE, and what peergrid would do.

    Exit code 0: usable with these options; 1: a scenario with these options would stop
    (the problems are listed); 2: unusable (one line on stderr). See docs/data.md.
    """
    from peergrid.data.meters import read_meters

    cols = parse_columns(columns) if columns is not None else None
    md = read_meters(file, format=format, tz=tz, units=units, dayfirst=dayfirst, gaps=gaps,  # type: ignore[arg-type]
                     label=label, columns=cols, strict=False)  # type: ignore[arg-type]
    r = md.report
    if as_json:
        sys.stdout.write(json.dumps(r.to_dict(), indent=2, allow_nan=False) + "\n")
    else:
        typer.echo(render_report(r, cols))
    if r.problems:
        raise typer.Exit(1)
