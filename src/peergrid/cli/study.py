"""``peergrid demo|simulate|compare|report``: market studies of a scenario's community and their reports.

Thin commands (parse, call, print) on the module-level typer app :data:`app`, composed into
``peergrid`` by :mod:`peergrid.cli.main`; ``CliRunner().invoke(app, ["simulate", ...])`` runs
them alone. Conventions (one-line errors, ``--json``, ``--out DIR``) as in :mod:`peergrid.cli.main`.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from peergrid.cli._common import (
    QUICK_DAYS,
    BiddingOpt,
    DpiOpt,
    FormatOpt,
    JsonOpt,
    MarketsOpt,
    QuickOpt,
    ScenarioArg,
    SeedOpt,
    handle_errors,
    jsonable,
    load_community,
    out_name,
    parse_markets,
    print_json,
    quick_community,
    resolve_out,
    scenario_markets,
    with_bidding,
)
from peergrid.cli.ui import Stages, err_console, out_console, print_fitted
from peergrid.core.errors import ConfigError
from peergrid.core.output import OUT_HELP, check_output_dir, output_dir, update_dir

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
"""The study commands (``demo``, ``simulate``, ``compare``, ``report``)."""

DEMO_NOTE = (
    "Flagship study: the 17 measured CityLearn 2022 homes, one year, greedy batteries, "
    "no-P2P baseline vs bill sharing, mid-market rate and supply-demand ratio."
)



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
    from peergrid.metrics import METRICS, NETWORK_METRICS

    info = next((m["grid"] for m in summary.values() if isinstance(m.get("grid"), dict)), None)
    if info is None:
        return
    keys = NETWORK_METRICS
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
            "community": jsonable(community.summary()),
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
        print_json(payload)
    else:
        print_metrics(payload["markets"], community.currency)
        print_coordination(payload["markets"], community.currency)
        print_forecast(payload["markets"], community.currency)
        print_grid(payload["markets"], community.currency)
        if out is not None:
            report = f"   report: {out}/report.html" if write_report else ""
            out_console().print(f"results: {out}/results{report}")
    return payload



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

    target = resolve_out(out, "demo", as_json)
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
        community = quick_community(community)
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
    }  # --seed is applied to the scenario already (reseed); only the seeds that apply
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
    sc, community = load_community(scenario, seed, as_json)
    names = scenario_markets(sc) if markets is None else parse_markets(markets)
    sc = with_bidding(sc, bidding, names)
    target = resolve_out(out, out_name(sc, scenario), as_json)
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
    names = parse_markets(markets) if markets is not None else None
    if out is not None:
        check_output_dir(out)
    sc, community = load_community(scenario, seed, as_json)
    names = names or scenario_markets(sc)
    sc = with_bidding(sc, bidding, names)
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
    from peergrid.simulate.result import result_dirs

    if not result_dirs(directory):
        raise ConfigError(f"{directory}: no peergrid results found (expected */result.json)")
    with Stages(enabled=not as_json) as stages:

        def stage(name: str) -> None:
            stages.start(name if name.startswith("reading") else f"report: {name}")

        with update_dir(directory, command="peergrid report", obsolete=_other_formats) as tmp:
            rebuild_report(directory, tmp, format=figure_format, dpi=dpi, on_stage=stage)
    html = directory / "report.html"
    if as_json:
        markets = json.loads((directory / "summary.json").read_text(encoding="utf-8"))["markets"]
        print_json({"report": str(html), "markets": markets})
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
