"""The bills section of the HTML report: the community's bill by tariff component, per market.

One function for :func:`peergrid.report.write_report` (and anyone building their own page):
:func:`bills_section_html` renders :meth:`peergrid.simulate.Result.bill_summary` of every
market of a comparison as a table, with the tariff it was computed under.
"""

from __future__ import annotations

import html
import math

from peergrid.simulate.result import Comparison

__all__ = ["BILL_TABLE_COLUMNS", "bills_section_html", "bills_table_html"]

#: Columns of the bills table: key of :meth:`~peergrid.simulate.Result.bill_summary`, header, unit kind.
BILL_TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("energy", "Energy", "money"),
    ("network", "Network", "money"),
    ("local_network", "Local network", "money"),
    ("standing", "Standing", "money"),
    ("demand", "Demand", "money"),
    ("tax", "Tax", "money"),
    ("vat", "VAT", "money"),
    ("feed_in_credit", "Feed-in credit", "money"),
    ("p2p", "Peer payments", "money"),
    ("total", "Total", "money"),
    ("spilled_kwh", "Spilled export", "kwh"),
)


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _cell(value: object, kind: str) -> str:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        v = math.nan
    if not math.isfinite(v):
        return "–"
    text = f"{v:,.1f}" if kind == "kwh" else f"{v:,.2f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.,") else text  # no "-0.00" from rounding noise


def bills_table_html(comparison: Comparison) -> str:
    """The community's bill by component (rows = markets) as an HTML ``<table>`` fragment.

    Parameters
    ----------
    comparison : Comparison

    Returns
    -------
    str
        ``<div class="scroll"><table class="bills">…</table></div>``; every row's cells carry
        ``data-bill="<column key>"``.
    """
    from peergrid.report.plots import market_label

    bills = {name: res.bill_summary() for name, res in comparison.items()}
    cur = str(next(iter(bills.values()))["currency"])
    columns = list(BILL_TABLE_COLUMNS)
    imbalance = any("imbalance" in b for b in bills.values())
    if imbalance:  # trading on forecasts: metered deviations from the plan at grid prices
        columns.insert([k for k, _, _ in columns].index("total"), ("imbalance", "Imbalance", "money"))
    head = "".join(
        f'<th scope="col">{_esc(label)} ({"kWh" if kind == "kwh" else _esc(cur)})</th>' for _, label, kind in columns
    )
    rows = []
    for name, b in bills.items():
        cells = "".join(f'<td data-bill="{k}">{_cell(b.get(k), kind)}</td>' for k, _, kind in columns)
        rows.append(f'<tr data-market="{_esc(name)}"><th scope="row">{_esc(market_label(name))}</th>{cells}</tr>')
    return (
        '<div class="scroll"><table class="metrics bills">'
        "<caption>Members' bills summed over the community, by tariff component. Total = energy + network + "
        "local network + standing + demand + tax + VAT − feed-in credit + peer payments; peer payments sum to "
        "the operator's fees (0 for the pool rules). Spilled export exceeded the export limit and was not paid."
        + (
            " Imbalance: each member's metered deviation from its day-ahead plan, extra import at the retail "
            "price and extra export at the feed-in price (added to the total)."
            if imbalance
            else ""
        )
        + "</caption>"
        f'<thead><tr><th scope="col">Market</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def bills_section_html(comparison: Comparison) -> str:
    """The report's "Bills" section: the tariff in one line and :func:`bills_table_html`.

    Parameters
    ----------
    comparison : Comparison

    Returns
    -------
    str
        ``<section id="bills">…</section>``.
    """
    from peergrid.market.tariff import community_tariff

    t = community_tariff(comparison.community)
    facts = [f"currency {t.currency}"]
    if t.vat:
        facts.append(f"VAT {t.vat:.0%}")
    if t.standing_per_day:
        facts.append(f"standing charge {t.standing_per_day:g} {t.currency}/day")
    if t.demand_per_kw_month:
        facts.append(f"demand charge {t.demand_per_kw_month:g} {t.currency}/kW per month")
    if t.export_limit_kw is not None:
        facts.append(f"export limit {t.export_limit_kw:g} kW")
    about = f"Tariff <strong>{_esc(t.name)}</strong>" + (f": {_esc(t.description)}" if t.description else "")
    return (
        '<section id="bills" aria-labelledby="h-bills"><h2 id="h-bills">Bills</h2>'
        f"<p>{about} ({_esc(', '.join(facts))}; prices net of VAT).</p>"
        + bills_table_html(comparison)
        + "</section>"
    )
