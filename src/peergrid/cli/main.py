"""The ``peergrid`` command line (typer + rich): thin — parse, call, print.

Every :class:`~peergrid.PeergridError` becomes one line on stderr and exit code 2;
``--json`` prints exactly one JSON object on stdout and nothing else.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from peergrid.core.errors import ConfigError, PeergridError
from peergrid.core.output import OUT_HELP, check_output_dir, output_dir, update_dir

app = typer.Typer(
    name="peergrid",
    help="Peer-to-peer energy trading for local energy communities.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

err_console = Console(stderr=True)
DEMO_NOTE = (
    "Flagship study: the 17 measured CityLearn 2022 homes, one year, greedy batteries, "
    "no-P2P baseline vs bill sharing, mid-market rate and supply-demand ratio."
)


def _fail(message: str, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn peergrid and OS errors into one-line messages with exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except PeergridError as exc:
            _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
            _fail(f"{exc.strerror or exc}: {exc.filename}" if getattr(exc, "filename", None) else str(exc))
        except ModuleNotFoundError as exc:  # an optional extra (e.g. the service's) is not installed
            from peergrid.cli.extras import missing_extra_message

            hint = missing_extra_message(exc)
            if hint is None:
                if os.environ.get("PEERGRID_DEBUG"):
                    raise
                _fail(f"internal error ({type(exc).__name__}: {exc}); set PEERGRID_DEBUG=1 for a traceback", 1)
            _fail(hint)
        except MemoryError:
            _fail("out of memory: reduce households, the time span, or use a coarser freq", 1)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as exc:  # pragma: no cover - unexpected bugs
            if os.environ.get("PEERGRID_DEBUG"):
                raise
            _fail(f"internal error ({type(exc).__name__}: {exc}); set PEERGRID_DEBUG=1 for a traceback", 1)

    return wrapper


@contextlib.contextmanager
def progress_bar(label: str, total: int, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on a TTY; ``None`` (no output) otherwise."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as prog:
        task = prog.add_task(label, total=total)
        yield lambda done: prog.update(task, completed=done)


def _print_json(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, allow_nan=False) + "\n")


def _metrics_table(summary: dict[str, dict], currency: str) -> Table:
    table = Table(title="Community results", header_style="bold")
    cols = [
        ("market", None),
        ("self-sufficiency", "self_sufficiency"),
        ("self-consumption", "self_consumption"),
        (f"cost ({currency})", "community_cost"),
        ("purchase saving", "cost_reduction"),
        ("PM", "pm"),
        ("peak import (kW)", "peak_import_kw"),
        ("Jain index", "jain_fairness"),
    ]
    for name, _ in cols:
        table.add_column(name, justify="right" if _ else "left", min_width=min(len(name), 16))
    for market, m in summary.items():
        row = [market]
        for _, key in cols[1:]:
            v = m.get(key)
            if v is None:
                row.append("–")
            elif key in ("self_sufficiency", "self_consumption", "cost_reduction"):
                row.append(f"{100 * v:.1f} %")
            elif key in ("pm", "jain_fairness"):
                row.append(f"{v:.3f}")
            else:
                row.append(f"{v:,.1f}")
        table.add_row(*row)
    return table


def _run_study(
    community: Any,
    markets: list[str],
    control: str,
    out: Path | None,
    *,
    title: str,
    scenario: dict | None,
    notes: list[str],
    as_json: bool,
    write_report: bool = True,
    market_options: dict | None = None,
    command: str = "peergrid",
) -> dict:
    from peergrid.simulate import compare

    if out is not None:
        check_output_dir(out)  # refuse before the long work, touching nothing
    with progress_bar(f"simulating {community.N} participants × {community.T} steps", community.T, not as_json) as cb:
        comparison = compare(community, markets=markets, control=control, progress=cb, **(market_options or {}))
    payload: dict[str, Any] = {
        "scenario": scenario.get("name") if scenario else title,
        "community": _jsonable(community.summary()),
        "control": control,
        "markets": comparison.summary(),
    }
    if out is not None:
        with output_dir(out, command=command) as tmp:
            comparison.to_parquet(tmp / "results")
            if write_report:
                from peergrid.report import write_report as _write_report

                _write_report(comparison, tmp, title=title, scenario=scenario, notes=notes)
            (tmp / "summary.json").write_text(json.dumps(payload, indent=2, allow_nan=False))
        payload["out"] = str(out)
    if as_json:
        _print_json(payload)
    else:
        console = Console(width=None if sys.stdout.isatty() else 140)
        console.print(_metrics_table(payload["markets"], community.currency))
        if out is not None:
            console.print(f"results: {out}/results   report: {out}/report.html")
    return payload


def _jsonable(d: dict) -> dict:
    return json.loads(json.dumps(d, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def _parse_markets(markets: str) -> list[str]:
    from peergrid.market import check_market

    names = [check_market(m) for m in markets.split(",") if m.strip()]
    if not names:
        raise ConfigError("--markets is empty")
    if "baseline" not in names:
        names.insert(0, "baseline")  # every saving is measured against it
    return names


JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object with stable keys.")]


@app.command()
@handle_errors
def demo(
    out: Annotated[Path, typer.Option(help="Output directory. " + OUT_HELP)] = Path("out/demo"),
    days: Annotated[int, typer.Option(min=1, max=365, help="Days of the data year to simulate.")] = 365,
    as_json: JsonOpt = False,
) -> None:
    """Run the flagship study on shipped real data and write a report."""
    from peergrid.data import citylearn_community

    community = citylearn_community(periods=24 * days)
    community.name = "citylearn-2022 (17 measured homes)"
    scenario = {
        "name": "demo",
        "source": "citylearn",
        "days": days,
        "control": "greedy",
        "markets": "baseline, bs, mmr, sdr",
        "feed_in": float(community.feed_in[0]),
    }
    _run_study(
        community,
        ["baseline", "bs", "mmr", "sdr"],
        "greedy",
        out,
        title="peergrid demo: P2P sharing in a real community",
        scenario=scenario,
        notes=[DEMO_NOTE],
        as_json=as_json,
        command="peergrid demo",
    )


def _load(scenario_path: Path) -> tuple[Any, Any]:
    from peergrid.simulate.scenario import build, load_scenario

    sc = load_scenario(scenario_path)
    return sc, build(sc, str(scenario_path))


def _run_scenario(
    sc: Any, community: Any, markets: list[str], out: Path | None, as_json: bool, command: str
) -> dict:
    return _run_study(
        community,
        markets,
        sc.simulation.control,
        out,
        title=sc.name,
        scenario=_scenario_dict(sc),
        notes=[sc.description] if sc.description else [],
        as_json=as_json,
        market_options=sc.market.options(),
        command=command,
    )


@app.command()
@handle_errors
def simulate(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file.")],
    out: Annotated[Path, typer.Option(help="Output directory for Parquet results and report. " + OUT_HELP)],
    market: Annotated[
        str | None, typer.Option(help="Market(s), comma-separated (default: the scenario's); the baseline is added.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Simulate a scenario with its markets and write results and a report to OUT."""
    check_output_dir(out)
    sc, community = _load(scenario)
    markets = sc.markets if market is None else _parse_markets(market)
    if sc.simulation.market and market is None:
        markets = _parse_markets(sc.simulation.market)
    _run_scenario(sc, community, markets, out, as_json, "peergrid simulate")


@app.command()
@handle_errors
def compare(
    scenario: Annotated[Path, typer.Argument(help="Scenario TOML file.")],
    markets: Annotated[
        str,
        typer.Option(
            help="Comma-separated markets (bs, mmr, sdr, uniform, pay-as-bid, mcafee, bilateral); "
            "the baseline is always added."
        ),
    ] = "bs,mmr,sdr",
    out: Annotated[Path | None, typer.Option(help="Also write results and a report here. " + OUT_HELP)] = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare markets on a scenario's community and print the metrics."""
    names = _parse_markets(markets)
    sc, community = _load(scenario)
    _run_scenario(sc, community, names, out, as_json, "peergrid compare")


@app.command()
@handle_errors
def report(
    directory: Annotated[Path, typer.Argument(help="A directory written by simulate/compare/demo.")],
    as_json: JsonOpt = False,
) -> None:
    """(Re)write report.html from saved results in DIRECTORY.

    Only files peergrid wrote there (listed in DIRECTORY/.peergrid-output) are replaced.
    """
    from peergrid.report import write_report
    from peergrid.simulate import Comparison, Result

    if not directory.is_dir():
        raise ConfigError(f"{directory}: no such directory")
    base = directory / "results" if (directory / "results").is_dir() else directory
    subdirs = sorted(p for p in base.iterdir() if (p / "result.json").is_file()) if base.is_dir() else []
    if (base / "result.json").is_file():
        subdirs = [base]
    if not subdirs:
        raise ConfigError(f"{directory}: no peergrid results found (expected */result.json)")
    from peergrid.market import MARKETS

    order = {m: i for i, m in enumerate(MARKETS)}
    results = {
        r.market: r for r in sorted((Result.from_parquet(p) for p in subdirs), key=lambda r: order.get(r.market, 9))
    }
    comparison = Comparison(results)
    scenario = None
    summary_file = directory / "summary.json"
    if summary_file.is_file():
        with contextlib.suppress(ValueError, OSError):
            scenario = {"name": json.loads(summary_file.read_text()).get("scenario")}
    with update_dir(directory, command="peergrid report") as tmp:
        write_report(comparison, tmp, title=f"peergrid report: {comparison.community.name}", scenario=scenario)
    html = directory / "report.html"
    if as_json:
        _print_json({"report": str(html), "markets": comparison.summary()})
    else:
        Console().print(f"report: {html}")


def _scenario_dict(sc: Any) -> dict:
    d = sc.model_dump()
    flat = {"name": d["name"]}
    sections = ["time", "community", "tariff", "simulation"] + (["market"] if "market" in sc.model_fields_set else [])
    for section in sections:
        for k, v in d[section].items():
            if v is not None:
                flat[f"{section}.{k}"] = v if not isinstance(v, (list, tuple)) else ", ".join(map(str, v))
    if sc.reference:
        flat["reference"] = sc.reference
    return flat


def _register_subcommands() -> None:
    from peergrid.cli import clear, control, federation, meters, service, zoom

    for module in (clear, control, federation, zoom, service, meters):
        module.register(app)


_register_subcommands()


@app.callback()
def main() -> None:
    """peergrid: markets, control and simulation for P2P energy communities."""


def run() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":  # pragma: no cover
    run()
