"""``peergrid control …``: control-strategy studies (thin: parse, call, print).

``peergrid control milford-haven [--scenario FILE] [--market M] [--out DIR] [--json]``
reruns Petri et al.'s three scenarios on the Milford Haven harbour cluster — no
control, rule-based control (Algorithm 1) and LP optimisation — prints the three
costs, checks the paper's qualitative result (optimisation cheapest, rule-based in
between) and with ``--out`` writes SOC and grid-exchange plots of every run into a
self-contained ``report.html``.

JSON keys: ``scenario``, ``community``, ``market``, ``currency``, ``costs``
(``none``, ``rule``, ``optimal``), ``optimal_control``, ``paper_result``
(``optimal_cheapest``, ``rule_between``, ``reproduced``), ``runs`` (per-run figures),
``reference_runs``, ``reconstructed``, ``notes`` and, with ``--out``, ``out``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from peergrid.cli._common import handle_errors, jsonable, print_json
from peergrid.core.output import OUT_HELP

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object with stable keys.")]

app = typer.Typer(
    name="control",
    help="Battery and flexibility control studies (rule-based, LP, peak agents).",
    no_args_is_help=True,
)
"""The ``peergrid control`` group (``milford-haven``)."""

NOTES = (
    "Petri et al. (2020), Section VI: Scenario 1 no strategy, Scenario 2 rule-based control "
    "(Algorithm 1), Scenario 3 optimisation (LP, eqs. 4-6); the paper finds the optimisation cheapest.",
    "Profiles are reconstructed from the paper's description (its EnergyPlus models and site readings "
    "are not published); PV is the pvlib clear-sky model. Costs are therefore illustrative; the "
    "qualitative ranking is what is reproduced.",
    "Cost = community grid bill at the point of common coupling (Petri eq. 4), settled by a pool market.",
)


@app.command("milford-haven")
@handle_errors
def milford_haven(
    scenario: Annotated[
        Path | None, typer.Option(help="Scenario TOML building the community (default: the built-in case).")
    ] = None,
    market: Annotated[str, typer.Option(help="Pool market settling every run.")] = "sdr",
    out: Annotated[
        Path | None, typer.Option(help="Write plots, report.html and summary.json here. " + OUT_HELP)
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """No control vs rule-based (Petri Algorithm 1) vs LP optimum on the Milford Haven harbour."""
    from peergrid.cli.ui import Stages, out_console
    from peergrid.core.output import check_output_dir, output_dir
    from peergrid.market import get_mechanism

    if out is not None:
        check_output_dir(out)  # refuse before the long work, touching nothing
    from peergrid.simulate.control_study import ControlStudy, milford_haven_study

    market = market.strip().lower()
    get_mechanism(market)
    title = "milford-haven"
    with Stages(enabled=not as_json) as stages:
        stages.start("building the community")
        if scenario is not None:
            from peergrid.simulate.scenario import build, load_scenario

            sc = load_scenario(scenario)
            community = build(sc, str(scenario))
            title = sc.name
        else:
            from peergrid.data.milford_haven import milford_haven_community

            community = milford_haven_community()
        stages.start(f"three control runs (none, rule-based, LP) on {community.N} participants × {community.T} steps")
        study = milford_haven_study(community, market=market)
        payload: dict[str, Any] = {
            "scenario": title,
            "community": jsonable(community.summary()),
            "market": market,
            "currency": community.currency,
            "costs": study.costs,
            "optimal_control": "lp-community",
            "paper_result": study.paper_check(),
            "runs": {n: ControlStudy.run_summary(r) for n, r in study.results.items()},
            "reference_runs": {n: ControlStudy.run_summary(r) for n, r in study.reference.items()},
            "reconstructed": bool(community.meta.get("reconstructed", False)),
            "notes": list(NOTES),
        }
        if out is not None:
            from peergrid.report.control_plots import write_control_report

            stages.start("writing plots and report")
            with output_dir(out, command="peergrid control milford-haven") as tmp:
                write_control_report(
                    study.results, tmp, title=f"peergrid control: {title} (Petri et al. Section VI)",
                    summary=payload, notes=NOTES,
                )
                (tmp / "summary.json").write_text(json.dumps(payload, indent=2, allow_nan=False))
            payload["out"] = str(out)
    if as_json:
        print_json(payload)
        return
    console = out_console()
    table = Table(title=f"{title}: control strategies ({market.upper()} settlement)", header_style="bold")
    for col in ("run", f"cost ({community.currency})", "grid import (kWh)", "grid export (kWh)",
                "peak import (kW)", "battery end (kWh)"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for name, run in payload["runs"].items():
        table.add_row(
            name, f"{run['community_cost']:,.2f}", f"{run['grid_import_kwh']:,.1f}",
            f"{run['grid_export_kwh']:,.1f}", f"{run['peak_import_kw']:,.1f}", f"{run['battery_energy_end_kwh']:,.1f}",
        )
    console.print(table)
    check = payload["paper_result"]
    verdict = "reproduced" if check["reproduced"] else "NOT reproduced"
    console.print(f"Petri et al.: optimal cheapest, rule-based in between — {verdict}")
    if out is not None:
        console.print(f"report: {out}/report.html")
