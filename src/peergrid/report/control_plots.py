"""Figures and a small HTML report comparing control strategies on one community.

The figures follow Petri et al. (2020), Fig. 7 (optimisation vs rule-based control):
battery state of charge and community grid exchange per step, with the TOU tariff on
a secondary axis. Every function takes a mapping ``run name -> Result`` (one market,
one controller per run, the same community) and returns a
:class:`matplotlib.figure.Figure` built without :mod:`matplotlib.pyplot`, like
:mod:`peergrid.report.plots`.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from peergrid.core.errors import DataError
from peergrid.report._common import new_figure, report_css, time_axis, time_values
from peergrid.report.page import save_figure, to_jsonable
from peergrid.report.plots import display_tz
from peergrid.simulate.result import Result

__all__ = [
    "RUN_LABELS",
    "plot_control_costs",
    "plot_grid_exchange",
    "plot_grid_exchange_comparison",
    "plot_run_soc",
    "write_control_report",
]

#: Display names of the usual runs.
RUN_LABELS: dict[str, str] = {
    "none": "No control (Scenario 1)",
    "rule": "Rule-based control, Petri et al. Algorithm 1 (Scenario 2)",
    "optimal": "LP optimisation (Scenario 3)",
}
_RUN_COLORS = {"none": "#7f7f7f", "rule": "#ff7f0e", "optimal": "#2ca02c"}
_EXTRA = ("#1f77b4", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def _label(name: str) -> str:
    return RUN_LABELS.get(name, name)


def market_color(name: str, names: Sequence[str]) -> str:
    if name in _RUN_COLORS:
        return _RUN_COLORS[name]
    extra = [n for n in names if n not in _RUN_COLORS]
    return _EXTRA[extra.index(name) % len(_EXTRA)]


def _check(results: Mapping[str, Result]) -> Result:
    if not results:
        raise DataError("no control runs to plot")
    first = next(iter(results.values()))
    for name, res in results.items():
        if res.community.T != first.community.T:
            raise DataError(f"run {name!r} has {res.community.T} steps, expected {first.community.T}")
    return first


def _legend(ax, tx, **kwargs) -> None:
    """One legend for the series on ``ax`` and the tariffs on its twin axis ``tx``."""
    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = tx.get_legend_handles_labels()
    ax.legend(handles + h2, labels + l2, loc="upper left", fontsize=8, frameon=False, **kwargs)


def _tariff_axis(ax, result: Result):
    com = result.community
    tx = ax.twinx()
    x = time_values(com.index)
    tx.plot(x, com.retail, color="black", lw=1.2, ls=":", drawstyle="steps-post", label="retail (TOU)")
    tx.plot(x, com.feed_in, color="black", lw=0.9, ls="-.", alpha=0.6, drawstyle="steps-post", label="feed-in")
    tx.set_ylabel(f"price ({com.currency}/kWh)")
    tx.set_ylim(0, max(float(com.retail.max()) * 1.15, 1e-6))
    return tx


def plot_run_soc(result: Result, name: str = "") -> Figure:
    """State of charge of every battery (and of secondary storage, dashed) in one run.

    Parameters
    ----------
    result : Result
    name : str
        Run name for the title.

    Returns
    -------
    matplotlib.figure.Figure
        SOC (fraction) per step, the TOU tariff on the right axis.
    """
    com = result.community
    tz = display_tz(com)
    fig, (ax,) = new_figure(10, 4.2)
    x = time_values(com.index)
    sched = result.battery
    if sched.owners.size:
        cap = np.where(sched.capacity > 0, sched.capacity, 1.0)
        soc = sched.energy / cap
        for j, owner in enumerate(sched.owners):
            ax.plot(x, soc[:, j], lw=1.3, drawstyle="steps-post", label=str(com.ids[owner]))
        ax.plot(x, soc.mean(axis=1), color="black", lw=2.4, drawstyle="steps-post", label="mean")
    secondary = getattr(sched, "secondary", None)
    if secondary is not None and secondary.owners.size:
        cap2 = np.where(secondary.capacity > 0, secondary.capacity, 1.0)
        for j, owner in enumerate(secondary.owners):
            ax.plot(
                x,
                secondary.energy[:, j] / cap2[j],
                lw=1.3,
                ls="--",
                drawstyle="steps-post",
                label=f"{com.ids[owner]} boats",
            )
    if not sched.owners.size and secondary is None:
        ax.text(0.5, 0.5, "no batteries", transform=ax.transAxes, ha="center", va="center")
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("state of charge")
    time_axis(ax, tz)
    tx = _tariff_axis(ax, result)
    ax.grid(alpha=0.3)
    _legend(ax, tx, bbox_to_anchor=(1.08, 1.0))
    ax.set_title(f"Battery state of charge – {_label(name) if name else result.control}")
    return fig


def plot_grid_exchange(result: Result, name: str = "") -> Figure:
    """Community load, generation and grid exchange per step in one run (kW).

    Grid import is drawn above zero, export below; load includes the controller's
    ``load_delta`` and battery charging is shown as the difference between the
    community's net and load − generation.

    Returns
    -------
    matplotlib.figure.Figure
    """
    com = result.community
    tz = display_tz(com)
    st = result.steps
    dt = com.dt
    x = time_values(com.index)
    fig, (ax,) = new_figure(10, 4.2)
    width = np.timedelta64(int(dt * 3600 * 0.9), "s")
    imp = st["grid_import_kwh"].to_numpy() / dt
    exp = st["grid_export_kwh"].to_numpy() / dt
    ax.bar(x, imp, width=width, align="edge", color="#d62728", alpha=0.75, label="grid import")
    ax.bar(x, -exp, width=width, align="edge", color="#1f77b4", alpha=0.75, label="grid export")
    ax.plot(x, st["load_kwh"].to_numpy() / dt, color="black", lw=1.6, drawstyle="steps-post", label="load")
    ax.plot(x, st["generation_kwh"].to_numpy() / dt, color="#e6a700", lw=1.6, drawstyle="steps-post", label="PV")
    batt = (st["battery_charge_kwh"] - st["battery_discharge_kwh"]).to_numpy() / dt
    ax.plot(x, batt, color="#2ca02c", lw=1.3, ls="--", drawstyle="steps-post", label="battery (+ charge)")
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_ylabel("community power (kW)")
    time_axis(ax, tz)
    tx = _tariff_axis(ax, result)
    ax.grid(alpha=0.3)
    _legend(ax, tx, bbox_to_anchor=(1.08, 1.0))
    cost = result.metrics["community_cost"]
    ax.set_title(f"Grid exchange – {_label(name) if name else result.control}: cost {cost:,.2f} {com.currency}")
    return fig


def plot_grid_exchange_comparison(results: Mapping[str, Result]) -> Figure:
    """Net community grid exchange (import − export, kW) of every run, with the TOU tariff (cf. Petri Fig. 7).

    Returns
    -------
    matplotlib.figure.Figure
    """
    first = _check(results)
    com = first.community
    names = list(results)
    fig, (ax,) = new_figure(10, 4.6)
    x = time_values(com.index)
    for name, res in results.items():
        st = res.steps
        net = (st["grid_import_kwh"] - st["grid_export_kwh"]).to_numpy() / com.dt
        ax.plot(x, net, lw=1.8, drawstyle="steps-post", color=market_color(name, names), label=_label(name))
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_ylabel("grid import − export (kW)")
    time_axis(ax, display_tz(com))
    tx = _tariff_axis(ax, first)
    ax.grid(alpha=0.3)
    _legend(ax, tx)
    ax.set_title("Community grid exchange per strategy")
    return fig


def plot_control_costs(results: Mapping[str, Result]) -> Figure:
    """Bar chart of the community cost of every run (currency over the horizon).

    Returns
    -------
    matplotlib.figure.Figure
    """
    first = _check(results)
    names = list(results)
    costs = [results[n].metrics["community_cost"] for n in names]
    fig, (ax,) = new_figure(7, 4.0)
    bars = ax.bar(np.arange(len(names)), costs, color=[market_color(n, names) for n in names], width=0.6)
    ax.bar_label(bars, labels=[f"{c:,.2f}" for c in costs], fontsize=9)
    ax.set_xticks(np.arange(len(names)), [_label(n).split(" (")[0].replace(", ", "\n") for n in names], fontsize=8)
    ax.set_ylabel(f"community cost ({first.community.currency})")
    ax.axhline(0.0, color="black", lw=0.8)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("Net cost of electricity over the horizon (Petri et al. eq. 4)")
    return fig


def write_control_report(
    results: Mapping[str, Result],
    out_dir: str | Path,
    *,
    title: str = "peergrid control comparison",
    summary: Mapping | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """Write PNGs and a self-contained ``report.html`` comparing control runs.

    Files: ``costs.png``, ``grid_comparison.png``, ``soc_<run>.png`` and
    ``grid_<run>.png`` per run, ``summary.json`` (``summary`` or the run costs) and
    ``report.html`` (PNG data URIs, inline CSS, no external resources).

    Parameters
    ----------
    results : mapping of str to Result
    out_dir : str or pathlib.Path
    title : str
    summary : mapping, optional
        JSON-ready figures to store and show.
    notes : sequence of str
        Free-text notes.

    Returns
    -------
    pathlib.Path
        Path of ``report.html``.
    """
    first = _check(results)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figs: list[tuple[str, Figure, str]] = [
        ("costs", plot_control_costs(results), "Community cost per strategy."),
        ("grid_comparison", plot_grid_exchange_comparison(results), "Grid exchange of every strategy, TOU tariff."),
    ]
    for name, res in results.items():
        stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
        figs.append((f"soc_{stem}", plot_run_soc(res, name), f"Battery state of charge – {_label(name)}."))
        figs.append((f"grid_{stem}", plot_grid_exchange(res, name), f"Load, PV and grid exchange – {_label(name)}."))
    payload = to_jsonable(
        dict(summary)
        if summary is not None
        else {"costs": {n: r.metrics["community_cost"] for n, r in results.items()}}
    )
    (out / "summary.json").write_text(json.dumps(payload, indent=2, allow_nan=False), encoding="utf-8")
    blocks = []
    for stem, fig, caption in figs:
        buf = io.BytesIO()
        save_figure(fig, buf, "png")
        data = buf.getvalue()
        (out / f"{stem}.png").write_bytes(data)
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        blocks.append(
            f'<figure id="fig-{stem}"><img src="{uri}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)} <span class=muted>(<code>{stem}.png</code>)</span>"
            "</figcaption></figure>"
        )
    com = first.community
    rows = "".join(
        f"<tr><th scope=row>{html.escape(_label(n))}</th><td>{r.metrics['community_cost']:,.2f}</td>"
        f"<td>{r.metrics['grid_import_kwh']:,.1f}</td><td>{r.metrics['grid_export_kwh']:,.1f}</td>"
        f"<td>{r.metrics['peak_import_kw']:,.1f}</td></tr>"
        for n, r in results.items()
    )
    table = (
        f"<table><caption>Runs on {html.escape(com.name)} ({com.N} participants, {com.T} steps)</caption>"
        f"<thead><tr><th>strategy</th><th>cost ({html.escape(com.currency)})</th><th>grid import (kWh)</th>"
        f"<th>grid export (kWh)</th><th>peak import (kW)</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    note_html = "".join(f"<li>{html.escape(n)}</li>" for n in [*notes, f"Data: {com.source}"])
    generated = _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()
    page = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}</title>"
        f"<style>{report_css()}</style></head><body><main><h1>{html.escape(title)}</h1>"
        f"<p class=muted>generated {generated}</p><section><h2>Notes</h2><ul>{note_html}</ul></section>"
        f"<section><h2>Costs</h2>{table}</section><section><h2>Figures</h2>{''.join(blocks)}</section>"
        "</main></body></html>"
    )
    path = out / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
