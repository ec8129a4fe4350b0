"""Invoices per member and billing period: JSON, HTML (jinja2) and PDF (reportlab).

Lines come from the member's settled positions in [period_start, period_end) (by
delivery interval): energy bought and sold P2P, market fees, energy imported from and
exported to the grid (settled per interval at the tariff's λb/λs), and the periodic
charges of the community's tariff posted when the invoice is issued — standing charge,
demand charge on the member's peak grid import in each local calendar month, local
network charge on energy bought from peers, and the VAT on these — all computed by
:func:`peergrid.market.tariff.bill_components` and rounded by :func:`peergrid.market.to_minor`.
The total is reconciled to the ledger to the cent before an invoice is issued: Σ of the
member's wallet movements for the same delivery intervals (top-ups excluded) must equal
it, else nothing is issued.

``components`` breaks the grid part of the bill down by the tariff (energy, network,
local network, electricity tax, standing, demand, VAT, feed-in credit, in minor units)
with the per-interval rounding of the settled amounts as its own row, so that the
components add up to the grid part of the lines exactly. Money is in the community's
currency; the period is labelled in the community's local time (``period.label``).
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import jinja2
import numpy as np
import pandas as pd
import sqlalchemy as sa
from markupsafe import escape as esc
from sqlalchemy.orm import Session

from peergrid.market import to_minor
from peergrid.service import ledger, tariffs
from peergrid.service.directory import get_community, is_member, system_accounts, wallet
from peergrid.service.errors import Conflict, Invalid, NotFound
from peergrid.service.models import ORDER_MECHANISMS, Community, Invoice, LedgerEntry, Position, User
from peergrid.service.reports import position_totals
from peergrid.service.timeutil import check_aligned, parse_time


def ledger_total(session: Session, community_id: int, user_id: int, start: dt.datetime, end: dt.datetime) -> int:
    """Net money that left the member's wallet for deliveries in [start, end), minor units (top-ups excluded)."""
    acc = wallet(session, community_id, user_id).id
    amount = sa.func.coalesce(
        sa.func.sum(
            sa.case((LedgerEntry.debit_account_id == acc, LedgerEntry.amount_minor), else_=-LedgerEntry.amount_minor)
        ),
        0,
    )
    return int(
        session.execute(
            sa.select(amount).where(
                LedgerEntry.community_id == community_id,
                sa.or_(LedgerEntry.debit_account_id == acc, LedgerEntry.credit_account_id == acc),
                LedgerEntry.kind != "topup",
                LedgerEntry.interval_start >= start,
                LedgerEntry.interval_start < end,
            )
        ).scalar_one()
    )


#: Members billed per call of :func:`tariff_bills` (its arrays are intervals × members).
_BILL_CHUNK = 256
#: Ledger entry kinds of the periodic tariff charges posted when an invoice is issued.
CHARGE_KINDS: dict[str, str] = {
    "standing": "standing_charge",
    "demand": "demand_charge",
    "local_network": "local_network",
    "vat": "vat",
}


def _period_series(
    session: Session, c: Community, user_ids: list[int], start: dt.datetime, end: dt.datetime
) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray, np.ndarray]:
    """The period's trading intervals and each member's grid import, grid export and P2P purchases (kWh, (T, N))."""
    index = pd.date_range(start, end, freq=f"{c.interval_minutes}min", inclusive="left")
    T, N = len(index), len(user_ids)
    imp, exp, loc = np.zeros((T, N)), np.zeros((T, N)), np.zeros((T, N))
    col = {u: i for i, u in enumerate(user_ids)}
    rows = session.execute(
        sa.select(
            Position.user_id,
            Position.interval_start,
            sa.func.sum(Position.grid_import_wh),
            sa.func.sum(Position.grid_export_wh),
            sa.func.sum(Position.bought_wh),
        )
        .where(
            Position.community_id == c.id,
            Position.user_id.in_(user_ids),
            Position.interval_start >= start,
            Position.interval_start < end,
        )
        .group_by(Position.user_id, Position.interval_start)
    ).all()
    if rows:
        at = index.get_indexer(pd.DatetimeIndex([r[1] for r in rows]))
        who = np.array([col[int(r[0])] for r in rows])
        ok = at >= 0  # positions of intervals off the community's grid (interval length changed) are skipped
        for arr, k in ((imp, 2), (exp, 3), (loc, 4)):
            arr[at[ok], who[ok]] = np.array([int(r[k] or 0) for r in rows], dtype=np.float64)[ok] / 1000.0
    return index, imp, exp, loc


def tariff_bills(
    session: Session, c: Community, user_ids: list[int], start: dt.datetime, end: dt.datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The members' grid bills over [start, end) by :func:`peergrid.market.tariff.bill_components`.

    Returns
    -------
    components, charges : pandas.DataFrame
        One row per member (index: user id). ``components``: the whole grid bill by the
        community's tariff from settled grid import, grid export and P2P purchases (local
        exchange) per interval — for pool mechanisms only the charges below, since grid energy
        is in the pool price. ``charges``: the part not settled per interval — standing
        charge, demand charge on the peak grid import of each local calendar month, local
        network charge on P2P purchases, and the VAT on them (the tariff with its per-kWh
        grid prices set to zero).
    """
    from peergrid.market.tariff import bill_components

    tariff = tariffs.tariff_of(c)
    index, imp, exp, loc = _period_series(session, c, user_ids, start, end)
    periodic = tariff.with_(energy=0.0, network=0.0, tax_per_kwh=0.0, feed_in=0.0,
                            local_network=tariff.local_network_rate)
    charges = bill_components(periodic, index, c.tz, imp, exp, loc, ids=user_ids)
    if c.mechanism in ORDER_MECHANISMS:
        components = bill_components(tariff, index, c.tz, imp, exp, loc, ids=user_ids)
    else:
        components = charges
    return components, charges


def post_charges(
    session: Session, c: Community, user_id: int, charges: pd.Series, start: dt.datetime, ref: str
) -> dict[str, int]:
    """Post a member's periodic charges of one invoice (wallet → ``grid``), each rounded by :func:`to_minor`.

    Returns the amounts posted per component (minor units).
    """
    amounts = {k: int(to_minor(float(charges[k]))) for k in CHARGE_KINDS}
    acc = wallet(session, c.id, user_id).id
    grid = system_accounts(session, c.id)["grid"]
    ledger.post(
        session,
        c.id,
        [ledger.Transfer(acc, grid, amounts[k], kind, ref, memo=f"{k.replace('_', ' ')} charge", interval_start=start)
         for k, kind in CHARGE_KINDS.items() if amounts[k] > 0],
        allow_overdraft=True,
        accounts_checked=True,
    )
    return amounts


def _period(c: Community, start: dt.datetime, end: dt.datetime) -> dict[str, str]:
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "tz": c.tz,
        "start_local": tariffs.local(start, c.tz).isoformat(),
        "end_local": tariffs.local(end, c.tz).isoformat(),
        "label": f"{tariffs.local_label(start, c.tz)} to {tariffs.local_label(end, c.tz)}",
    }


def build(
    session: Session,
    community_id: int,
    user_id: int,
    start: dt.datetime,
    end: dt.datetime,
    components: pd.Series | None = None,
    charges_minor: dict[str, int] | None = None,
    charges: pd.Series | None = None,
) -> dict[str, Any]:
    """The invoice document (JSON-ready) for one member and period, reconciled to the ledger.

    Parameters
    ----------
    session : Session
    community_id, user_id : int
    start, end : datetime.datetime
        The period [start, end), aware, on trading-interval boundaries.
    components, charges : pandas.Series, optional
        The member's rows of :func:`tariff_bills` (computed here when not given).
    charges_minor : dict, optional
        The periodic charges posted for this invoice (:func:`post_charges`); default: none.

    Raises
    ------
    Conflict
        When positions and ledger disagree (the invoice is not issued).
    """
    c = get_community(session, community_id)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    if components is None or charges is None:
        comp_df, charge_df = tariff_bills(session, c, [user_id], start, end)
        components, charges = comp_df.loc[user_id], charge_df.loc[user_id]
    charges_minor = charges_minor or dict.fromkeys(CHARGE_KINDS, 0)
    p = position_totals(session, community_id, user_id, start, end)
    pool = c.mechanism not in ORDER_MECHANISMS
    market = "community pool (" + c.mechanism + ")" if pool else "P2P market (" + c.mechanism + ")"
    buy, sell = c.retail_price, c.feed_in_price
    lines = [
        {
            "item": f"Energy bought, {market}",
            "energy_kwh": p["bought_wh"] / 1000.0,
            "amount_minor": p["paid_minor"] - p["fee_minor"],
        },
        {"item": "Market fees", "energy_kwh": None, "amount_minor": p["fee_minor"]},
        {"item": f"Energy sold, {market}", "energy_kwh": p["sold_wh"] / 1000.0, "amount_minor": -p["received_minor"]},
        {
            "item": "Energy imported from the grid"
            + (" (in the pool price)" if pool else " at the tariff's import price" +
               (f" {buy:.4f}/kWh" if buy is not None else " of each interval (energy, network, tax, VAT)")),
            "energy_kwh": p["grid_import_wh"] / 1000.0,
            "amount_minor": p["grid_paid_minor"],
        },
        {
            "item": "Energy exported to the grid"
            + (" (in the pool price)" if pool else " at the tariff's feed-in price" +
               (f" {sell:.4f}/kWh" if sell is not None else " of each interval")),
            "energy_kwh": p["grid_export_wh"] / 1000.0,
            "amount_minor": -p["grid_received_minor"],
        },
        {
            "item": f"Standing charge ({float(charges['standing']):.4f} for the period)",
            "energy_kwh": None,
            "amount_minor": charges_minor["standing"],
        },
        {
            "item": f"Demand charge (peak grid import {float(charges['billed_peak_kw']):.3f} kW, "
            "summed over local calendar months)",
            "energy_kwh": None,
            "amount_minor": charges_minor["demand"],
        },
        {
            "item": "Local network charge on energy bought from peers",
            "energy_kwh": float(charges["local_kwh"]),
            "amount_minor": charges_minor["local_network"],
        },
        {"item": "VAT on the charges above", "energy_kwh": None, "amount_minor": charges_minor["vat"]},
    ]
    total = sum(line["amount_minor"] for line in lines)
    booked = ledger_total(session, community_id, user_id, start, end)
    if booked != total:
        raise Conflict(f"invoice for user {user_id} does not reconcile: positions {total}, ledger {booked} minor units")
    # the grid bill by the tariff's components; "rounding" is the per-interval rounding of the settled amounts
    comp = {k: int(to_minor(float(components[k]))) for k in COMPONENTS}
    grid_total = sum(line["amount_minor"] for line in lines[3:])  # pool: lines 3 and 4 are in the pool price (0)
    comp["rounding"] = grid_total - (sum(comp[k] for k in COMPONENTS if k != "feed_in_credit") - comp["feed_in_credit"])
    comp["total"] = grid_total
    acc = wallet(session, community_id, user_id)
    return {
        "community": {"id": c.id, "name": c.name, "currency": c.currency, "mechanism": c.mechanism, "tz": c.tz},
        "user": {"id": user.id, "name": user.name, "email": user.email},
        "period": _period(c, start, end),
        "lines": lines,
        "components": comp,
        "tariff": {
            "name": c.tariff.get("name", ""),
            "vat": c.tariff.get("vat", 0.0),
            "import_kwh": float(components["import_kwh"]),
            "export_kwh": float(components["export_kwh"]),
            "spilled_kwh": float(components["spilled_kwh"]),
            "local_kwh": float(components["local_kwh"]),
            "billed_peak_kw": float(charges["billed_peak_kw"]),
            "grid_energy_in_pool_price": pool,
        },
        "total_minor": total,
        "ledger_total_minor": booked,
        "reconciled": True,
        "balance_minor_at_issue": acc.balance_minor,
    }


#: The tariff components an invoice shows (minor units), in order; ``feed_in_credit`` is subtracted.
COMPONENTS: tuple[str, ...] = (
    "energy", "network", "local_network", "tax", "standing", "demand", "vat", "feed_in_credit",
)  # fmt: skip
#: Labels of the components (and of ``rounding`` and ``total``).
COMPONENT_LABELS: dict[str, str] = {
    "energy": "Energy",
    "network": "Network charge",
    "local_network": "Local network charge",
    "tax": "Electricity tax",
    "standing": "Standing charge",
    "demand": "Demand charge",
    "vat": "VAT",
    "feed_in_credit": "Feed-in credit",
    "rounding": "Rounding (per-interval settlement)",
    "total": "Grid bill",
}


def issue(
    session: Session, community_id: int, start: dt.datetime, end: dt.datetime, user_id: int | None = None
) -> list[Invoice]:
    """Issue (or return the already issued) invoices for the period.

    Issuing posts each member's periodic tariff charges of the period (standing, demand, local
    network and their VAT; :func:`tariff_bills`) to the ledger, once: a member's invoice
    periods may not overlap (409), and issuing the same period again returns the invoice.

    Parameters
    ----------
    session : Session
    community_id : int
    start, end : datetime
        Billing period [start, end), aware, on trading-interval boundaries. Use local calendar
        months (e.g. ``2026-06-01T00:00:00+02:00``) for the demand charge of whole months.
    user_id : int, optional
        One member; default every member with a settled position in the period.
    """
    start, end = parse_time(start, "period_start"), parse_time(end, "period_end")
    if end <= start:
        raise Invalid("period_end must be after period_start")
    if end - start > dt.timedelta(days=400):
        raise Invalid("a billing period may be at most 400 days")
    if not (1900 <= start.year and end.year <= 2200):
        raise Invalid("a billing period must lie between the years 1900 and 2200")
    c = get_community(session, community_id)
    check_aligned(start, c.interval_minutes, "period_start")
    check_aligned(end, c.interval_minutes, "period_end")
    if user_id is not None:
        if not is_member(session, community_id, user_id):
            raise NotFound(f"user {user_id} is not a member of community {community_id}")
        users = [user_id]
    else:
        users = list(
            session.execute(
                sa.select(Position.user_id)
                .distinct()
                .where(
                    Position.community_id == community_id,
                    Position.interval_start >= start,
                    Position.interval_start < end,
                )
                .order_by(Position.user_id)
            ).scalars()
        )
    existing = {
        inv.user_id: inv
        for inv in session.execute(
            sa.select(Invoice).where(
                Invoice.community_id == community_id,
                Invoice.user_id.in_(users),
                Invoice.period_start < end,
                Invoice.period_end > start,
            )
        ).scalars()
    }
    for u, inv in existing.items():
        if (inv.period_start, inv.period_end) != (start, end):
            raise Conflict(
                f"user {u} already has invoice {inv.number} for {inv.period_start.isoformat()} to "
                f"{inv.period_end.isoformat()}, which overlaps this period (periodic charges are billed once)"
            )
    new = [u for u in users if u not in existing]
    bills: dict[int, tuple[pd.Series, pd.Series]] = {}
    for i in range(0, len(new), _BILL_CHUNK):  # (T, N) arrays per chunk of members: bounded memory
        part = new[i : i + _BILL_CHUNK]
        components, charges = tariff_bills(session, c, part, start, end)
        bills.update({u: (components.loc[u], charges.loc[u]) for u in part})
    out = []
    for u in users:
        if u in existing:
            out.append(existing[u])
            continue
        components_u, charges_u = bills[u]
        number = f"INV-{c.id}-{u}-{start:%Y%m%d%H%M}-{end:%Y%m%d%H%M}"
        posted = post_charges(session, c, u, charges_u, start, f"invoice:{number}")
        data = build(session, community_id, u, start, end, components_u, posted, charges_u)
        data["number"] = number
        inv = Invoice(
            number=number,
            community_id=community_id,
            user_id=u,
            period_start=start,
            period_end=end,
            total_minor=data["total_minor"],
            data=data,
        )
        session.add(inv)
        out.append(inv)
    session.flush()
    return out


def _money(minor: int, currency: str) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d} {currency}"


_HTML = jinja2.Environment(autoescape=True).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Invoice {{ d.number }}</title>
<style>body{font-family:sans-serif;max-width:46em;margin:2em auto;color:#222}
table{border-collapse:collapse;width:100%;margin-bottom:1.5em}td,th{padding:.35em .6em;border-bottom:1px solid #ddd}
td.num,th.num{text-align:right}tfoot td{font-weight:bold;border-top:2px solid #222}</style></head>
<body><h1>Invoice {{ d.number }}</h1>
<p>{{ d.community.name }} &middot; billed to {{ d.user.name }} &lt;{{ d.user.email }}&gt;</p>
<p>Period {{ period_label }}{% if d.period.tz %} ({{ d.period.tz }}){% endif %}</p>
<table><thead><tr><th>Item</th><th class="num">Energy (kWh)</th><th class="num">Amount</th></tr></thead>
<tbody>{% for line in d.lines %}<tr><td>{{ line.item }}</td>
<td class="num">{{ "%.3f"|format(line.energy_kwh) if line.energy_kwh is not none else "" }}</td>
<td class="num">{{ money(line.amount_minor) }}</td></tr>{% endfor %}</tbody>
<tfoot><tr><td>Total (positive: you pay)</td><td></td><td class="num">{{ money(d.total_minor) }}</td></tr></tfoot>
</table>
{% if components %}<h2>Grid bill by tariff component</h2>
<table><thead><tr><th>Component</th><th class="num">Amount</th></tr></thead>
<tbody>{% for label, minor in components %}<tr><td>{{ label }}</td>
<td class="num">{{ money(minor) }}</td></tr>{% endfor %}</tbody>
<tfoot><tr><td>{{ grid_label }}</td><td class="num">{{ money(d.components.total) }}</td></tr></tfoot>
</table>{% endif %}
<p>Reconciled with the ledger: {{ money(d.ledger_total_minor) }}. Wallet balance at issue:
{{ money(d.balance_minor_at_issue) }}.</p></body></html>""")


def component_rows(data: dict[str, Any]) -> list[tuple[str, int]]:
    """(label, signed minor units) of an invoice's tariff components (the feed-in credit negative)."""
    comp = data.get("components")
    if not comp:
        return []
    rows = [(COMPONENT_LABELS[k], -int(comp[k]) if k == "feed_in_credit" else int(comp[k]))
            for k in COMPONENTS if comp.get(k)]
    if comp.get("rounding"):
        rows.append((COMPONENT_LABELS["rounding"], int(comp["rounding"])))
    return rows


def period_label(data: dict[str, Any]) -> str:
    """The invoice period in the community's local time (older invoices: their UTC bounds)."""
    p = data["period"]
    return p.get("label") or f"{p['start']} to {p['end']}"


def render_html(inv: Invoice) -> str:
    """The invoice as a standalone HTML page."""
    cur = inv.data["community"]["currency"]
    return _HTML.render(d=inv.data, money=lambda m: _money(int(m), cur), components=component_rows(inv.data),
                        period_label=period_label(inv.data), grid_label=COMPONENT_LABELS["total"])


def render_pdf(inv: Invoice) -> bytes:
    """The invoice as a PDF (reportlab)."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    d = inv.data
    cur = d["community"]["currency"]
    styles = getSampleStyleSheet()
    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, title=f"Invoice {d['number']}", author="peergrid", invariant=1)
    rows = [["Item", "Energy (kWh)", "Amount"]]
    for line in d["lines"]:
        e = line["energy_kwh"]
        rows.append(
            [
                Paragraph(esc(line["item"]), styles["Normal"]),
                "" if e is None else f"{e:.3f}",
                _money(int(line["amount_minor"]), cur),
            ]
        )
    rows.append(["Total (positive: you pay)", "", _money(int(d["total_minor"]), cur)])
    style = TableStyle(
        [
            ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
            ("LINEBELOW", (0, 0), (-1, 0), 1, colors.black),
            ("LINEABOVE", (0, -1), (-1, -1), 1, colors.black),
            ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold"),
        ]
    )
    table = Table(rows, colWidths=[250, 90, 110])
    table.setStyle(style)
    tz = d["period"].get("tz")
    story = [
        Paragraph(f"Invoice {esc(d['number'])}", styles["Title"]),
        Paragraph(
            f"{esc(d['community']['name'])} - billed to {esc(d['user']['name'])} ({esc(d['user']['email'])})",
            styles["Normal"],
        ),
        Paragraph(f"Period {esc(period_label(d))}" + (f" ({esc(tz)})" if tz else ""), styles["Normal"]),
        Spacer(1, 12),
        table,
        Spacer(1, 12),
    ]
    comp = component_rows(d)
    if comp:
        crow = [["Grid bill by tariff component", "Amount"]] + [[label, _money(m, cur)] for label, m in comp]
        crow.append([COMPONENT_LABELS["total"], _money(int(d["components"]["total"]), cur)])
        ctable = Table(crow, colWidths=[340, 110])
        ctable.setStyle(style)
        story += [ctable, Spacer(1, 12)]
    story.append(Paragraph(f"Reconciled with the ledger: {_money(int(d['ledger_total_minor']), cur)}.",
                           styles["Normal"]))
    doc.build(story)
    return buf.getvalue()
