"""The report's "Investment" section: Tooki et al. (2025) eqs. 6–9 and the cost–benefit analysis.

Shown when the scenario has an ``[invest]`` table (its cost assumptions are then the
user's own): one row per market with the community's CAPEX, yearly savings, NPV, paybacks,
LCOE and investment boundary (eq. 9), the platform's communication cost (eq. 6), and a
figure of the community's cumulative discounted cash flow per market
(:func:`plot_cash_flow`). See docs/economics.md.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from peergrid.economics import Appraisal, CostAssumptions, appraise
from peergrid.simulate.result import Comparison

__all__ = ["appraisals", "invest_section_html", "plot_cash_flow"]


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def appraisals(
    comparison: Comparison, invest: Mapping[str, Any] | CostAssumptions | None = None
) -> dict[str, Appraisal]:
    """:func:`peergrid.economics.appraise` of every market of a comparison.

    Parameters
    ----------
    comparison : Comparison
    invest : mapping or CostAssumptions, optional
        The scenario's ``[invest]`` table (as in ``summary.json``) or the assumptions; default
        :class:`~peergrid.economics.CostAssumptions()`.

    Returns
    -------
    dict
        Market → :class:`~peergrid.economics.Appraisal`, in the comparison's order.
    """
    a = invest if isinstance(invest, CostAssumptions) else CostAssumptions(**dict(invest or {}))
    return {name: appraise(res, a) for name, res in comparison.items()}


def plot_cash_flow(appraisals: Mapping[str, Appraisal], discounted: bool = True) -> Figure:
    """The community's cumulative (discounted) cash flow over the horizon, one line per market.

    Parameters
    ----------
    appraisals : mapping
        Market (or any label) → :class:`~peergrid.economics.Appraisal`.
    discounted : bool
        Discounted cumulative cash flow (its end value is the NPV) or undiscounted.

    Returns
    -------
    matplotlib.figure.Figure
        Years against cumulative cash flow in the community's currency; the year where a
        line crosses zero is its (discounted) payback.
    """
    from peergrid.report._common import market_color
    from peergrid.report.plots import market_label

    fig = Figure(figsize=(7.5, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    names = list(appraisals)
    currency = ""
    for name, a in appraisals.items():
        table = a.cash_flow_table()
        col = "cumulative_discounted" if discounted else "cumulative"
        color = market_color(name, names) if name in _known_markets() else None
        ax.plot(table.index, table[col], marker="o", ms=2.5, lw=1.5, color=color, label=market_label(name))
        currency = a.currency
    ax.axhline(0.0, color="0.3", lw=0.8)
    ax.set_xlabel("year")
    ax.set_ylabel(f"cumulative {'discounted ' if discounted else ''}cash flow ({currency})")
    ax.set_title("Community investment: cumulative " + ("discounted " if discounted else "") + "cash flow")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def _known_markets() -> set[str]:
    from peergrid.market import MARKETS

    return set(MARKETS)


def _money(v: float) -> str:
    return "–" if not np.isfinite(v) else f"{v:,.0f}"


def _years(v: float) -> str:
    return "never" if not np.isfinite(v) else f"{v:.1f}"


def _installed(capacity: float, unit: str) -> str:
    return "" if not np.isfinite(capacity) else f"{capacity:,.1f} {_esc(unit)}"


def _price(v: float) -> str:
    return "–" if not np.isfinite(v) else f"{v:.3f}"


def invest_section_html(comparison: Comparison, invest: Mapping[str, Any] | None, dpi: int = 110) -> str:
    """``<section id="invest">``: the cost–benefit analysis of every market, with a cash-flow figure.

    Parameters
    ----------
    comparison : Comparison
    invest : mapping or None
        The scenario's ``[invest]`` table; None or empty: no section.
    dpi : int
        Resolution of the embedded PNG.

    Returns
    -------
    str
        HTML, empty when ``invest`` is None.
    """
    if invest is None:
        return ""
    from peergrid.report.plots import market_label

    results = appraisals(comparison, invest)
    first = next(iter(results.values()))
    cur = first.currency
    a = first.assumptions
    rows = []
    for name, ap in results.items():
        c = ap.community()
        comm = ap.traffic.summary(ap.annual_factor)
        rows.append(
            f'<tr data-market="{_esc(name)}"><th scope="row">{_esc(market_label(name))}</th>'
            f"<td>{_money(c['capex'])}</td><td>{_money(c['savings'])}</td><td>{_money(c['opex'])}</td>"
            f"<td>{_money(c['npv'])}</td><td>{_years(c['payback'])}</td><td>{_years(c['discounted_payback'])}</td>"
            f"<td>{_price(c['lcoe'])}</td><td>{_price(c['ib'])}</td><td>{100 * c['members_positive_npv']:.0f} %</td>"
            f"<td>{comm['cost']:,.2f}</td></tr>"
        )
    fig = plot_cash_flow(results)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    w, h = (round(float(v) * 110) for v in fig.get_size_inches())
    focus = next((ap for name, ap in results.items() if name != "baseline"), first)
    tech = focus.technology_table()
    trows = "".join(
        f"<tr><th scope=row>{_esc(t)}</th><td>{_installed(r['capacity'], r['unit'])}"
        f"</td><td>{_money(r['capex'])}</td><td>{_money(r['npv'])}</td><td>{_years(r['payback'])}</td>"
        f"<td>{_price(r['lcoe'])}</td><td>{_price(r['ib'])}</td></tr>"
        for t, r in tech.iterrows()
    )
    window = (
        f"{first.window_days:g} simulated days extrapolated to a year (×{first.annual_factor:.3g})"
        if abs(first.annual_factor - 1.0) > 1e-9 else "one simulated year"
    )
    return (
        '<section id="invest" aria-labelledby="h-invest"><h2 id="h-invest">Investment</h2>'
        f"<p>Cost–benefit analysis of the members' PV, batteries and wind turbines and of the trading platform "
        f"over {a.lifetime} years at a real discount rate of {100 * a.discount_rate:g} %/yr, from the "
        f"scenario's <code>[invest]</code> cost assumptions (in {_esc(a.currency)}"
        + (f", × {a.exchange_rate:g} {_esc(cur)} per {_esc(a.currency)}" if a.exchange_rate else "")
        + f"). Benefits are the members' bill savings against buying all their consumption from the grid, "
        f"from {window}. The platform's costs include its communication cost (Tooki et al. (2025), eqs. 6–8) "
        "and are shared equally; the baseline has no platform. LCOE: all costs per kWh generated; IB: the "
        "investment boundary of Tooki et al. (2025), eq. 9, of the generation (undiscounted).</p>"
        '<div class="scroll"><table class="metrics"><caption>Community investment per market; money in '
        f"{_esc(cur)}, yearly figures of year 1, prices in {_esc(cur)}/kWh.</caption><thead><tr>"
        "<th scope=col>Market</th><th scope=col>CAPEX</th><th scope=col>Savings / yr</th>"
        "<th scope=col>OPEX / yr</th><th scope=col>NPV</th><th scope=col>Payback (yr)</th>"
        "<th scope=col>Discounted payback (yr)</th><th scope=col>LCOE</th><th scope=col>IB (eq. 9)</th>"
        "<th scope=col>Members with NPV &gt; 0</th><th scope=col>Communication cost / yr (eq. 6)</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        f'<div class="scroll"><table class="metrics"><caption>Per technology under '
        f"{_esc(market_label(focus.market))}; money in {_esc(cur)}.</caption><thead><tr><th scope=col>Technology</th>"
        "<th scope=col>Installed</th><th scope=col>CAPEX</th><th scope=col>NPV</th><th scope=col>Payback (yr)</th>"
        "<th scope=col>LCOE</th><th scope=col>IB (eq. 9)</th></tr></thead>"
        f"<tbody>{trows}</tbody></table></div>"
        f'<figure id="fig-invest"><img src="{uri}" alt="Line chart of the community\'s cumulative discounted cash '
        f'flow per market over the years of the horizon." width="{w}" height="{h}"><figcaption>Cumulative '
        f"discounted cash flow of the community ({_esc(cur)}); it crosses zero at the discounted payback and "
        "ends at the NPV.</figcaption></figure></section>"
    )
