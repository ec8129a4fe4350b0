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

import contextlib
import functools
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

try:  # recent typer vendors click as typer._click
    from typer._click import exceptions as click_exceptions  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - older typer uses click itself
    from click import exceptions as click_exceptions  # type: ignore[no-redef]

from peergrid.cli.ui import Stages, err_console, out_console, print_fitted
from peergrid.core.errors import ConfigError, PeergridError
from peergrid.core.output import OUT_HELP, check_output_dir, output_dir, update_dir


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


def _print_json(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, allow_nan=False) + "\n")


def _metric_columns() -> tuple[tuple[str, str], ...]:
    from peergrid.metrics import METRICS

    keys = ("self_sufficiency", "self_consumption", "community_cost", "cost_reduction", "pm")
    keys += ("peak_import_kw", "jain_fairness", "emissions_kg")
    return tuple((METRICS[k].heading("{currency}"), k) for k in keys)


METRIC_COLUMNS: tuple[tuple[str, str], ...] = _metric_columns()
"""(heading, key) of the results table: the labels and units of :data:`peergrid.metrics.METRICS`."""


def print_metrics(summary: dict[str, dict], currency: str) -> None:
    """Print the results table (markets × metrics), transposed or split to fit the terminal.

    Parameters
    ----------
    summary : dict
        ``{market: {metric key: value}}`` as in :meth:`peergrid.simulate.Comparison.summary`
        (shares as fractions, shown in %; costs in ``currency``; peak import in kW).
    currency : str
        Currency code shown in the cost header.
    """
    from peergrid.metrics import METRICS

    fields = [label.format(currency=currency) for label, _ in METRIC_COLUMNS]
    records = [
        (market, [METRICS[key].format(m.get(key), currency, unit=False) for _, key in METRIC_COLUMNS])
        for market, m in summary.items()
    ]
    print_fitted("Community results", "market", fields, records)


def print_coordination(summary: dict[str, dict], currency: str) -> None:
    """One line per market of a price-response run: iterations, convergence, cost of the kept iterate.

    Parameters
    ----------
    summary : dict
        ``{market: {..., "coordination": {...}}}`` (:meth:`peergrid.simulate.Result.summary`);
        markets without ``"coordination"`` are skipped.
    currency : str
        Currency code of the costs.
    """
    from peergrid.core.numfmt import unsigned_zero

    for market, m in summary.items():
        info = m.get("coordination")
        if not isinstance(info, dict):
            continue
        cost = info["cost"]
        state = "converged" if info["converged"] else "not converged"
        kept = info["kept"]
        out_console().print(
            f"price response {market}: {info['iterations']} iteration(s), {state}; planned community cost "
            f"{unsigned_zero(f'{cost[0]:,.2f}')} → {unsigned_zero(f'{cost[kept]:,.2f}')} {currency} (iterate {kept})",
            highlight=False,
        )


def print_forecast(summary: dict[str, dict], currency: str) -> None:
    """One line of a run on forecasts: forecaster, forecast error and imbalance (the same in every market).

    Parameters
    ----------
    summary : dict
        ``{market: {..., "forecast": {...}}}`` (:meth:`peergrid.simulate.Result.summary`);
        nothing is printed when no market has ``"forecast"``.
    currency : str
        Currency code of the imbalance cost.
    """
    info = next((m["forecast"] for m in summary.values() if isinstance(m.get("forecast"), dict)), None)
    if info is None:
        return
    out_console().print(
        f"forecaster {info['forecaster']}: net forecast error (MAE) {info['forecast_mae_kwh']:.3f} kWh per member "
        f"and step; imbalance {info['imbalance_kwh']:,.1f} kWh settled at grid prices, "
        f"{info['imbalance_cost']:,.2f} {currency} (in the bills)",
        highlight=False,
    )


def print_grid(summary: dict[str, dict], currency: str) -> None:
    """The feeder table of a network-aware run: one row per market, the six grid metrics.

    Parameters
    ----------
    summary : dict
        ``{market: {..., "grid": {...}}}`` (:meth:`peergrid.simulate.Result.summary`); nothing is
        printed when no market has ``"grid"``.
    currency : str
        Currency code of the fees.
    """
    from peergrid.metrics import METRICS

    info = next((m["grid"] for m in summary.values() if isinstance(m.get("grid"), dict)), None)
    if info is None:
        return
    keys = GRID_METRICS
    fields = [METRICS[k].heading(currency) for k in keys]
    records = [
        (market, [METRICS[k].format(m.get(k), currency, unit=False) for k in keys])
        for market, m in summary.items()
        if isinstance(m.get("grid"), dict)
    ]
    print_fitted("Feeder", "market", fields, records)
    out_console().print(
        f"feeder {info['feeder']}: {info['buses']} buses, {info['lines']} lines, flow {info['flow']}"
        f"{' (unbalanced)' if info['unbalanced'] else ''}; slots breaking a limit: "
        f"{info['violating_slots_before']} before curtailment, {info['violating_slots_after']} after "
        "(those left cannot be removed by spilling exports: import causes them)",
        highlight=False,
    )


#: The per-market metrics of a network-aware run (``print_grid``).
GRID_METRICS = ("line_fees", "curtailed_kwh", "losses_kwh", "max_line_loading_pct", "min_voltage_pu", "max_vim_pct")


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
    coordination: dict | None = None,
    forecast: dict | None = None,
    grid: dict | None = None,
    objective: dict | None = None,
    command: str = "peergrid",
    figure_format: str = "png",
    dpi: int | None = None,
    provenance: dict | None = None,
) -> dict:
    from peergrid.report import DEFAULT_DPI, check_format
    from peergrid.simulate import compare

    figure_format, dpi = check_format(figure_format, DEFAULT_DPI if dpi is None else dpi)  # fail before the work

    if out is not None:
        check_output_dir(out)  # refuse before the long work, touching nothing
    coordination = dict(coordination or {})
    step = "price response" if coordination.get("coordination", "none") != "none" else "clearing"
    with Stages(enabled=not as_json) as stages:
        stages.start(f"control ({control}): {community.N} participants × {community.T} steps", total=community.T)
        comparison = compare(
            community, markets=markets, control=control, progress=stages.advance,
            on_market=lambda name: stages.start(f"{step} {name}"), **(market_options or {}), **coordination,
            **(forecast or {}), **(objective or {}), **(grid or {}),
        )  # fmt: skip
        stages.start("computing metrics")
        payload: dict[str, Any] = {
            "scenario": scenario.get("name") if scenario else title,
            "community": _jsonable(community.summary()),
            "control": control,
            "coordination": coordination.get("coordination", "none"),
            **({"forecaster": forecast["forecaster"]} if forecast else {}),
            **(dict(objective) if objective else {}),
            "markets": comparison.summary(),
        }
        if out is not None:
            from peergrid.report import summary_json
            from peergrid.report import write_report as _write_report

            record = {"command": command, **(provenance or {})}
            with output_dir(out, command=command) as tmp:
                stages.start("writing results")
                comparison.to_parquet(tmp / "results")
                if write_report:  # report.html, figures and summary.json
                    _write_report(
                        comparison, tmp, title=title, scenario=scenario, notes=notes, format=figure_format, dpi=dpi,
                        provenance=record, on_stage=lambda name: stages.start(f"report: {name}"),
                    )  # fmt: skip
                else:
                    summary = summary_json(comparison, scenario, title=title, notes=notes, provenance=record)
                    (tmp / "summary.json").write_text(json.dumps(summary, indent=2, allow_nan=False))
            payload["out"] = str(out)
    if as_json:
        _print_json(payload)
    else:
        print_metrics(payload["markets"], community.currency)
        print_coordination(payload["markets"], community.currency)
        print_forecast(payload["markets"], community.currency)
        print_grid(payload["markets"], community.currency)
        if out is not None:
            report = f"   report: {out}/report.html" if write_report else ""
            out_console().print(f"results: {out}/results{report}")
    return payload


def _jsonable(d: dict) -> dict:
    return json.loads(json.dumps(d, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def _parse_markets(markets: str) -> list[str]:
    from peergrid.market import check_market

    names = [check_market(m) for m in markets.split(",") if m.strip()]
    if not names:
        raise ConfigError("--markets is empty")
    return _with_baseline(names)


def _with_baseline(names: Sequence[str]) -> list[str]:
    """``names`` without duplicates, the baseline first (every saving is measured against it)."""
    names = list(dict.fromkeys(names))
    if "baseline" not in names:
        names.insert(0, "baseline")
    return names


QUICK_DAYS = 2
"""``--quick`` keeps the first this many days of a study."""

JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON object with stable keys; no progress; nothing written unless --out."),
]
QuickOpt = Annotated[bool, typer.Option("--quick", help=f"Only the first {QUICK_DAYS} days (a fast check).")]
SeedOpt = Annotated[int | None, typer.Option(min=0, help="Replace the scenario's seeds (synthetic members, bidding).")]
MarketsOpt = Annotated[
    str | None,
    typer.Option(
        "--markets",
        help="Comma-separated markets (baseline, bs, mmr, sdr, uniform, pay-as-bid, mcafee, bilateral); "
        "default: the scenario's. The baseline is always added.",
    ),
]
BiddingOpt = Annotated[
    str | None,
    typer.Option(
        "--bidding",
        help="Bidding strategy of the order-book markets (truthful, zero-intelligence, zic, zip); "
        "replaces the scenario's [market] bidding.",
    ),
]
ScenarioArg = Annotated[Path, typer.Argument(metavar="SCENARIO", help="Scenario TOML file.")]
FormatOpt = Annotated[
    str, typer.Option("--format", metavar="png|svg|pdf", help="File format of the report's figures.")
]
DpiOpt = Annotated[int, typer.Option("--dpi", min=10, max=2400, help="Resolution of raster figures, dots per inch.")]


def default_out(name: str) -> Path:
    """The default output directory of a study, relative to the current directory.

    Parameters
    ----------
    name : str
        Scenario or command name; every run of characters other than ``A-Z a-z 0-9 . _ -``
        becomes one ``-`` so that it is a single path component.

    Returns
    -------
    pathlib.Path
        ``out/<name>``, e.g. ``out/small-community`` for ``"small community"``.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "peergrid"
    return Path("out") / safe


def _resolve_out(out: Path | None, name: str, as_json: bool) -> Path | None:
    """``--out`` as given; else ``out/<name>``, except under ``--json`` (nothing written)."""
    if out is not None:
        return out
    return None if as_json else default_out(name)


def _quick(community: Any) -> Any:
    """The first :data:`QUICK_DAYS` days of ``community`` (its ``wind_generation`` series too, when it has one)."""
    steps = max(1, round(24 * QUICK_DAYS / community.dt))
    if community.T <= steps:
        return community
    out = community.select(steps=slice(0, steps))
    wind = getattr(community, "wind_generation", None)
    if wind is not None:  # (T, N) kWh of the scenario's turbines: peergrid.economics splits PV and wind with it
        out.wind_generation = wind[:steps]
    return out


@app.command()
@handle_errors
def demo(
    out: Annotated[
        Path | None, typer.Option(help="Output directory (default out/demo; none under --json). " + OUT_HELP)
    ] = None,
    days: Annotated[int, typer.Option(min=1, max=365, help="Days of the data year to simulate.")] = 365,
    quick: QuickOpt = False,
    figure_format: FormatOpt = "png",
    dpi: DpiOpt = 110,
    as_json: JsonOpt = False,
) -> None:
    """Run the flagship study on shipped real data and write a report."""
    from peergrid.data import citylearn_community

    target = _resolve_out(out, "demo", as_json)
    if target is not None:
        check_output_dir(target)
    days = min(days, QUICK_DAYS) if quick else days
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
        target,
        title="peergrid demo: P2P sharing in a real community",
        scenario=scenario,
        notes=[DEMO_NOTE],
        as_json=as_json,
        command="peergrid demo",
        figure_format=figure_format,
        dpi=dpi,
        provenance={"data": {"files": []}, "seeds": {}},
    )


def _load(scenario_path: Path, seed: int | None = None, as_json: bool = True) -> tuple[Any, Any]:
    from peergrid.simulate.scenario import build, load_scenario

    sc = load_scenario(scenario_path)
    if sc.region is not None:
        raise ConfigError(f"{scenario_path}: a [region] scenario runs with peergrid simulate (docs/region.md)")
    if seed is not None:
        sc = _reseed(sc, seed)
    with Stages(enabled=not as_json) as stages:
        stages.start(f"building the community of {scenario_path.name}")
        community = build(sc, str(scenario_path))
    return sc, community


def _reseed(sc: Any, seed: int) -> Any:
    """``sc`` with every seed replaced by ``seed`` (synthetic members; order-book bidding; FedAvg client draws;
    the wind-turbine owners drawn by ``[wind] share``)."""
    update: dict[str, Any] = {}
    if sc.community.source == "synthetic":
        update["community"] = sc.community.model_copy(update={"seed": seed})
    if "market" in sc.model_fields_set:
        update["market"] = sc.market.model_copy(update={"seed": seed})
    if sc.simulation.forecaster == "fedavg":
        update["forecast"] = sc.forecast.model_copy(update={"seed": seed})
    if sc.wind.share is not None:  # the members drawn to own a wind turbine
        update["wind"] = sc.wind.model_copy(update={"seed": seed})
    return sc.model_copy(update=update)


def _with_bidding(sc: Any, bidding: str | None, markets: list[str]) -> Any:
    """``sc`` with ``[market] bidding`` replaced (``--bidding``); the markets must include an order book."""
    if bidding is None:
        return sc
    from peergrid.market import MARKETS, check_bidding, is_order_market

    name = check_bidding(bidding)
    if not any(is_order_market(m) for m in markets):
        books = ", ".join(m for m in MARKETS if is_order_market(m))
        raise ConfigError(f"--bidding applies to the order-book markets; add one of {books} to --markets")
    return sc.model_copy(update={"market": sc.market.model_copy(update={"bidding": name})})


def _scenario_markets(sc: Any) -> list[str]:
    """The markets a scenario asks for: ``[simulation].market`` if set, else ``markets``; baseline added."""
    from peergrid.market import check_market

    if sc.simulation.market:
        return _with_baseline([check_market(sc.simulation.market)])
    return _with_baseline(sc.markets)


def _out_name(sc: Any, path: Path) -> str:
    """The default output name of a scenario: its ``name``, else the file's stem."""
    return sc.name if "name" in sc.model_fields_set else path.stem


def _run_scenario(
    sc: Any,
    community: Any,
    markets: list[str],
    out: Path | None,
    as_json: bool,
    command: str,
    *,
    quick: bool = False,
    seed: int | None = None,
    scenario_path: Path | None = None,
    figure_format: str = "png",
    dpi: int | None = None,
) -> dict:
    from peergrid.simulate.scenario import recorded_scenario

    notes = [sc.description] if sc.description else []
    if quick:
        community = _quick(community)
        notes.append(f"--quick: only the first {QUICK_DAYS} days of the scenario were simulated.")
    if "invest" in sc.model_fields_set:  # the report's investment section: a currency mismatch fails now
        sc.invest.factor(community.currency)
    scenario = recorded_scenario(sc, community, markets)  # as run: reruns to the same results
    if quick:  # the window that ran: reruns to the same results as the --quick run
        tm = scenario["time"]
        tm.pop("days", None)
        tm["periods"] = int(community.T)
    provenance = _provenance(sc, scenario_path, community)
    provenance["seeds"] = {
        f"{section}.seed": v["seed"] for section, v in scenario.items() if isinstance(v, dict) and "seed" in v
    }  # --seed is applied to the scenario already (_reseed); only the seeds that apply
    return _run_study(
        community,
        markets,
        sc.simulation.control,
        out,
        title=sc.name,
        scenario=scenario,
        notes=notes,
        as_json=as_json,
        market_options=sc.market.options(),
        coordination={k: getattr(sc.simulation, k) for k in ("coordination", "max_iterations", "tolerance")},
        forecast=sc.forecast_options(),
        grid=sc.grid_options(scenario_path.parent if scenario_path is not None else "."),
        objective=sc.objective_options(),
        command=command,
        figure_format=figure_format,
        dpi=dpi,
        provenance=provenance,
    )


@app.command()
@handle_errors
def simulate(
    scenario: ScenarioArg,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Output directory for Parquet results, report and summary.json (default out/<scenario name>; "
            "none under --json). " + OUT_HELP
        ),
    ] = None,
    markets: MarketsOpt = None,
    market: Annotated[str | None, typer.Option("--market", hidden=True, help="Deprecated: use --markets.")] = None,
    quick: QuickOpt = False,
    seed: SeedOpt = None,
    bidding: BiddingOpt = None,
    figure_format: FormatOpt = "png",
    dpi: DpiOpt = 110,
    as_json: JsonOpt = False,
    backend: Annotated[
        str,
        typer.Option(
            metavar="local|dask",
            help="\\[region] scenarios: simulate the communities here or on Dask (docs/region.md).",
        ),
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(metavar="ADDR", help="Dask scheduler address (tcp://host:8786); default: a local cluster."),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, max=1024, help="Worker processes of the local Dask cluster (default 2).")
    ] = None,
) -> None:
    """Simulate a scenario with its markets and write results, a report and summary.json to OUT.

    A scenario with a \\[region] table simulates many communities (docs/region.md): locally or
    sharded by community over Dask workers (--backend dask), writing tidy tables to OUT.
    """
    if market is not None:
        if markets is not None:
            raise ConfigError("--market is the old name of --markets; give only --markets")
        if not as_json:
            err_console.print("[yellow]note:[/] --market is deprecated; use --markets", highlight=False)
        markets = market
    if out is not None:
        check_output_dir(out)
    from peergrid.cli.region import check_backend, run_region
    from peergrid.simulate.scenario import load_scenario

    check_backend(backend, scheduler, workers)
    if load_scenario(scenario).region is not None:
        run_region(
            scenario, out=out, markets=markets, quick=quick, seed=seed, bidding=bidding, as_json=as_json,
            backend=backend, scheduler=scheduler, workers=workers,
        )  # fmt: skip
        return
    if backend != "local" or scheduler is not None or workers is not None:
        raise ConfigError(f"--backend, --scheduler and --workers apply to scenarios with a [region] table "
                          f"(docs/region.md); {scenario} has none")
    sc, community = _load(scenario, seed, as_json)
    names = _scenario_markets(sc) if markets is None else _parse_markets(markets)
    sc = _with_bidding(sc, bidding, names)
    target = _resolve_out(out, _out_name(sc, scenario), as_json)
    _run_scenario(
        sc, community, names, target, as_json, "peergrid simulate", quick=quick, seed=seed,
        scenario_path=scenario, figure_format=figure_format, dpi=dpi,
    )  # fmt: skip


@app.command()
@handle_errors
def compare(
    scenario: ScenarioArg,
    markets: MarketsOpt = None,
    out: Annotated[
        Path | None, typer.Option(help="Also write results, a report and summary.json here. " + OUT_HELP)
    ] = None,
    quick: QuickOpt = False,
    seed: SeedOpt = None,
    bidding: BiddingOpt = None,
    figure_format: FormatOpt = "png",
    dpi: DpiOpt = 110,
    as_json: JsonOpt = False,
) -> None:
    """Compare markets on a scenario's community (its markets and [market] options) and print the metrics."""
    names = _parse_markets(markets) if markets is not None else None
    if out is not None:
        check_output_dir(out)
    sc, community = _load(scenario, seed, as_json)
    names = names or _scenario_markets(sc)
    sc = _with_bidding(sc, bidding, names)
    _run_scenario(
        sc, community, names, out, as_json, "peergrid compare", quick=quick, seed=seed,
        scenario_path=scenario, figure_format=figure_format, dpi=dpi,
    )  # fmt: skip


@app.command()
@handle_errors
def report(
    directory: Annotated[Path, typer.Argument(help="A directory written by simulate/compare/demo.")],
    figure_format: Annotated[
        str | None,
        typer.Option("--format", metavar="png|svg|pdf", help="Figure format (default: the original run's)."),
    ] = None,
    dpi: Annotated[
        int | None, typer.Option("--dpi", min=10, max=2400, help="Figure resolution (default: the original run's).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """(Re)write report.html from saved results in DIRECTORY, as the original run wrote it.

    Title, scenario parameters, notes and provenance come from DIRECTORY/summary.json.
    Only files peergrid wrote there (listed in DIRECTORY/.peergrid-output) are replaced;
    with a new --format, its figures in the old format are removed (files you edited are kept).
    """
    from peergrid.report import check_format, rebuild_report

    if not directory.is_dir():
        raise ConfigError(f"{directory}: no such directory")
    if figure_format is not None or dpi is not None:
        check_format(figure_format or "png", dpi or 110)
    from peergrid.simulate.engine import _result_dirs

    if not _result_dirs(directory):
        raise ConfigError(f"{directory}: no peergrid results found (expected */result.json)")
    with Stages(enabled=not as_json) as stages:

        def stage(name: str) -> None:
            stages.start(name if name.startswith("reading") else f"report: {name}")

        with update_dir(directory, command="peergrid report", obsolete=_other_formats) as tmp:
            rebuild_report(directory, tmp, format=figure_format, dpi=dpi, on_stage=stage)
    html = directory / "report.html"
    if as_json:
        markets = json.loads((directory / "summary.json").read_text(encoding="utf-8"))["markets"]
        _print_json({"report": str(html), "markets": markets})
    else:
        out_console().print(f"report: {html}")


def _other_formats(names: list[str]) -> list[str]:
    """The same figures in the other formats (``prices.svg`` → ``prices.png``, ``prices.pdf``)."""
    from peergrid.report import FORMATS

    out: list[str] = []
    for name in names:
        stem, _, ext = name.rpartition(".")
        if stem and ext in FORMATS:
            out += [f"{stem}.{other}" for other in FORMATS if other != ext]
    return out


def _provenance(sc: Any, scenario_path: Path | None, community: Any) -> dict:
    """``summary.json`` facts of a scenario run: seeds, data files (SHA-256), scenario file, tariff."""
    from peergrid.report import file_provenance

    dump = sc.model_dump(mode="json")
    seeds = {f"{section}.seed": v["seed"] for section, v in dump.items() if isinstance(v, dict) and "seed" in v}
    base = scenario_path.parent if scenario_path is not None else Path(".")
    files: list[Path] = []

    def walk(value: Any) -> None:  # every string value naming an existing file (data, participants, prices …)
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str) and value and len(value) < 4096:
            path = base / value
            with contextlib.suppress(OSError, ValueError):
                if path.is_file() and path not in files:
                    files.append(path)

    for section in ("community", "tariff", "data"):
        walk(dump.get(section))
    tariff = getattr(community, "tariff", None)
    return {
        "scenario_file": file_provenance([scenario_path])[0] if scenario_path is not None else None,
        "seeds": seeds,
        "data": {"files": file_provenance(files)},
        "tariff": {"name": tariff.name, "definition": tariff.to_dict()} if tariff is not None else dump.get("tariff"),
    }


def _register_subcommands() -> None:
    from peergrid.cli import clear, control, data, federation, invest, meters, reproduce, service, zoom

    for module in (clear, control, federation, zoom, reproduce, service, meters, data, invest):
        module.register(app)


_register_subcommands()


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
