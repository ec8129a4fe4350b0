"""``peergrid invest SCENARIO`` — cost–benefit analysis of a scenario's community (Tooki et al. (2025), eqs. 6–9).

Thin command in the style of :mod:`peergrid.cli.main`: runs the scenario's controller and
one market, appraises it (:func:`peergrid.economics.appraise`) with the scenario's
``[invest]`` cost assumptions (the documented defaults without one), and prints a
community table (per technology) and a per-member summary. ``--json`` prints exactly one
JSON object and writes nothing unless ``--out`` is given; ``--out DIR`` writes
``invest.json``, ``members.csv``, ``technologies.csv``, ``cash_flow.csv`` and
``cash_flow.png`` atomically. Errors are one line and exit code 2.
"""

import json
import sys  # no `from __future__ import annotations`: typer reads the options' annotations at definition
from pathlib import Path
from typing import Annotated, Any

import typer

from peergrid.cli._common import (
    QUICK_DAYS,
    JsonOpt,
    QuickOpt,
    ScenarioArg,
    SeedOpt,
    handle_errors,
    load_community,
    quick_community,
)
from peergrid.core.output import OUT_HELP

__all__ = ["app", "invest_cmd"]

app = typer.Typer(pretty_exceptions_enable=False)
"""``peergrid invest`` alone (one command: invoked without its name)."""

#: Members listed in the terminal table (all of them are in --json and members.csv).
MAX_MEMBER_ROWS = 25


def _market_of(sc: Any, market: str | None) -> str:
    """``--market``, else the scenario's first market other than the baseline (else the baseline)."""
    from peergrid.market import check_market

    if market is not None:
        return check_market(market)
    names = [check_market(m) for m in sc.simulation.all_markets]
    return next((m for m in names if m != "baseline"), "baseline")


def _fmt(v: float, kind: str) -> str:
    import math

    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if kind == "years":
        return "never" if math.isinf(v) else f"{v:.1f}"
    if kind == "price":
        return f"{v:.3f}"
    if kind == "cap":
        return f"{v:,.1f}"
    return f"{v:,.0f}"


@app.command("invest")
@handle_errors
def invest_cmd(
    scenario: ScenarioArg,
    market: Annotated[
        str | None,
        typer.Option(
            "--market",
            help="Market to appraise (default: the scenario's first market other than the baseline). "
            "The baseline has no platform.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Also write invest.json, members.csv, technologies.csv, cash_flow.csv/png. " + OUT_HELP),
    ] = None,
    quick: QuickOpt = False,
    seed: SeedOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Appraise PV, batteries, wind and the trading platform: CAPEX, OPEX, LCOE, NPV, payback, IB (eq. 9)."""
    from peergrid.cli.ui import Stages, out_console, print_fitted
    from peergrid.core.output import check_output_dir, output_dir
    from peergrid.economics import appraise
    from peergrid.simulate import compare

    if out is not None:
        check_output_dir(out)
    sc, community = load_community(scenario, seed, as_json)
    name = _market_of(sc, market)
    sc.invest.factor(community.currency)  # a currency mismatch fails before the simulation
    if quick:
        community = quick_community(community)
    coordination = {k: getattr(sc.simulation, k) for k in ("coordination", "max_iterations", "tolerance")}
    with Stages(enabled=not as_json) as stages:
        stages.start(f"control ({sc.simulation.control}): {community.N} participants × {community.T} steps",
                     total=community.T)  # fmt: skip
        result = compare(
            community, markets=[name], control=sc.simulation.control, progress=stages.advance,
            on_market=lambda m: stages.start(f"clearing {m}"), **sc.market.options(), **coordination,
            **sc.forecast_options(),
        )[name]  # fmt: skip
        stages.start("appraising")
        appraisal = appraise(result, sc.invest)
        payload: dict[str, Any] = {
            "scenario": sc.name if "name" in sc.model_fields_set else scenario.stem,
            "control": sc.simulation.control,
            **appraisal.to_dict(members=True),
        }
        if quick:
            payload["quick"] = f"only the first {QUICK_DAYS} days were simulated"
        if out is not None:
            from peergrid.report import save_figure
            from peergrid.report.invest_report import plot_cash_flow

            stages.start("writing")
            with output_dir(out, command="peergrid invest") as tmp:
                (tmp / "invest.json").write_text(json.dumps(payload, indent=2, allow_nan=False), encoding="utf-8")
                appraisal.member_table().to_csv(tmp / "members.csv")
                appraisal.technology_table().to_csv(tmp / "technologies.csv")
                appraisal.cash_flow_table().to_csv(tmp / "cash_flow.csv")
                save_figure(plot_cash_flow({name: appraisal}), tmp / "cash_flow.png", "png", 110)
            payload["out"] = str(out)
    if as_json:
        sys.stdout.write(json.dumps(payload, indent=2, allow_nan=False) + "\n")
        return
    con = out_console()
    a = appraisal.assumptions
    cur = appraisal.currency
    window = (
        f"{appraisal.window_days:g} simulated days × {appraisal.annual_factor:.3g} = a year"
        if abs(appraisal.annual_factor - 1.0) > 1e-9 else "one simulated year"
    )
    con.print(
        f"{payload['scenario']}: market {name}, {community.N} members, {window}; {a.lifetime} years at "
        f"{100 * a.discount_rate:g} %/yr; money in {cur}"
        + (f" (costs in {a.currency} × {a.exchange_rate:g})" if a.exchange_rate else ""),
        highlight=False, markup=False,
    )  # fmt: skip
    tech = appraisal.technology_table()
    fields = ["installed", f"CAPEX ({cur})", f"OPEX/yr ({cur})", f"savings/yr ({cur})", "energy/yr (kWh)",
              f"NPV ({cur})", "payback (yr)", "disc. payback (yr)", f"LCOE ({cur}/kWh)", f"IB ({cur}/kWh)"]
    records = [
        (str(t), [
            "" if r["unit"] == "" else f"{_fmt(r['capacity'], 'cap')} {r['unit']}", _fmt(r["capex"], "money"),
            _fmt(r["opex"], "money"), _fmt(r["savings"], "money"), _fmt(r["energy_kwh"], "money"),
            _fmt(r["npv"], "money"), _fmt(r["payback"], "years"), _fmt(r["discounted_payback"], "years"),
            _fmt(r["lcoe"], "price"), _fmt(r["ib"], "price"),
        ])
        for t, r in tech.iterrows()
    ]  # fmt: skip
    print_fitted("Community investment", "technology", fields, records)
    comm = payload["communication"]
    con.print(
        f"platform traffic (eqs. 6–8): {comm['messages']:,.0f} messages, {comm['megabytes']:,.1f} MB a year; "
        f"peak cloudlet utilisation {comm['peak_utilisation']:.2%} of {comm['capacity_bps'] / 1e6:.2f} Mbit/s"
        f"{', ' + str(comm['overloaded_slots']) + ' overloaded slot(s)' if comm['overloaded_slots'] else ''}; "
        f"communication cost {comm['cost']:,.2f} {cur}/yr",
        highlight=False, markup=False,
    )  # fmt: skip
    members = appraisal.member_table()
    mfields = [f"CAPEX ({cur})", f"savings/yr ({cur})", f"NPV ({cur})", "payback (yr)", "disc. payback (yr)",
               f"LCOE ({cur}/kWh)", f"IB ({cur}/kWh)"]  # fmt: skip
    mrecords = [
        (str(i), [_fmt(r["capex"], "money"), _fmt(r["savings"], "money"), _fmt(r["npv"], "money"),
                  _fmt(r["payback"], "years"), _fmt(r["discounted_payback"], "years"), _fmt(r["lcoe"], "price"),
                  _fmt(r["ib"], "price")])
        for i, r in members.head(MAX_MEMBER_ROWS).iterrows()
    ]  # fmt: skip
    print_fitted("Members", "member", mfields, mrecords)
    c = payload["community"]
    more = len(members) - MAX_MEMBER_ROWS
    con.print(
        (f"… and {more} more members (all of them in --json and --out DIR/members.csv). " if more > 0 else "")
        + f"Members with NPV > 0: {100 * c['members_positive_npv']:.0f} %.",
        highlight=False, markup=False,
    )  # fmt: skip
    if out is not None:
        con.print(f"results: {out}/invest.json, members.csv, technologies.csv, cash_flow.csv, cash_flow.png",
                  highlight=False, markup=False)  # fmt: skip
