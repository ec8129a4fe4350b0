"""Invoices per member and billing period: JSON, HTML (jinja2) and PDF (reportlab).

Lines come from the member's settled positions in [period_start, period_end) (by
delivery interval): energy bought and sold P2P, market fees, energy imported from and
exported to the grid, and the amounts. The total is reconciled to the ledger to the
cent before an invoice is issued: Σ of the member's wallet movements for the same
delivery intervals (top-ups excluded) must equal it, else nothing is issued.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import jinja2
import sqlalchemy as sa
from markupsafe import escape as esc
from sqlalchemy.orm import Session

from peergrid.service.directory import get_community, is_member, wallet
from peergrid.service.errors import Conflict, Invalid, NotFound
from peergrid.service.models import ORDER_MECHANISMS, Invoice, LedgerEntry, Position, User
from peergrid.service.reports import position_totals
from peergrid.service.timeutil import parse_time


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


def build(session: Session, community_id: int, user_id: int, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """The invoice document (JSON-ready) for one member and period, reconciled to the ledger.

    Raises
    ------
    Conflict
        When positions and ledger disagree (the invoice is not issued).
    """
    c = get_community(session, community_id)
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    p = position_totals(session, community_id, user_id, start, end)
    pool = c.mechanism not in ORDER_MECHANISMS
    market = "community pool (" + c.mechanism + ")" if pool else "P2P market (" + c.mechanism + ")"
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
            + (" (in the pool price)" if pool else f" at {c.retail_price:.4f}/kWh"),
            "energy_kwh": p["grid_import_wh"] / 1000.0,
            "amount_minor": p["grid_paid_minor"],
        },
        {
            "item": "Energy exported to the grid"
            + (" (in the pool price)" if pool else f" at {c.feed_in_price:.4f}/kWh"),
            "energy_kwh": p["grid_export_wh"] / 1000.0,
            "amount_minor": -p["grid_received_minor"],
        },
    ]
    total = sum(line["amount_minor"] for line in lines)
    booked = ledger_total(session, community_id, user_id, start, end)
    if booked != total:
        raise Conflict(f"invoice for user {user_id} does not reconcile: positions {total}, ledger {booked} minor units")
    acc = wallet(session, community_id, user_id)
    return {
        "community": {"id": c.id, "name": c.name, "currency": c.currency, "mechanism": c.mechanism},
        "user": {"id": user.id, "name": user.name, "email": user.email},
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "lines": lines,
        "total_minor": total,
        "ledger_total_minor": booked,
        "reconciled": True,
        "balance_minor_at_issue": acc.balance_minor,
    }


def issue(
    session: Session, community_id: int, start: dt.datetime, end: dt.datetime, user_id: int | None = None
) -> list[Invoice]:
    """Issue (or return the already issued) invoices for the period.

    Parameters
    ----------
    session : Session
    community_id : int
    start, end : datetime
        Billing period [start, end), aware.
    user_id : int, optional
        One member; default every member with a settled position in the period.
    """
    start, end = parse_time(start, "period_start"), parse_time(end, "period_end")
    if end <= start:
        raise Invalid("period_end must be after period_start")
    if end - start > dt.timedelta(days=400):
        raise Invalid("a billing period may be at most 400 days")
    c = get_community(session, community_id)
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
    out = []
    for u in users:
        existing = session.execute(
            sa.select(Invoice).where(
                Invoice.community_id == community_id,
                Invoice.user_id == u,
                Invoice.period_start == start,
                Invoice.period_end == end,
            )
        ).scalar_one_or_none()
        if existing is not None:
            out.append(existing)
            continue
        data = build(session, community_id, u, start, end)
        number = f"INV-{c.id}-{u}-{start:%Y%m%d%H%M}-{end:%Y%m%d%H%M}"
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
table{border-collapse:collapse;width:100%}td,th{padding:.35em .6em;border-bottom:1px solid #ddd}
td.num,th.num{text-align:right}tfoot td{font-weight:bold;border-top:2px solid #222}</style></head>
<body><h1>Invoice {{ d.number }}</h1>
<p>{{ d.community.name }} &middot; billed to {{ d.user.name }} &lt;{{ d.user.email }}&gt;</p>
<p>Period {{ d.period.start }} to {{ d.period.end }}</p>
<table><thead><tr><th>Item</th><th class="num">Energy (kWh)</th><th class="num">Amount</th></tr></thead>
<tbody>{% for line in d.lines %}<tr><td>{{ line.item }}</td>
<td class="num">{{ "%.3f"|format(line.energy_kwh) if line.energy_kwh is not none else "" }}</td>
<td class="num">{{ money(line.amount_minor) }}</td></tr>{% endfor %}</tbody>
<tfoot><tr><td>Total (positive: you pay)</td><td></td><td class="num">{{ money(d.total_minor) }}</td></tr></tfoot>
</table>
<p>Reconciled with the ledger: {{ money(d.ledger_total_minor) }}. Wallet balance at issue:
{{ money(d.balance_minor_at_issue) }}.</p></body></html>""")


def render_html(inv: Invoice) -> str:
    """The invoice as a standalone HTML page."""
    cur = inv.data["community"]["currency"]
    return _HTML.render(d=inv.data, money=lambda m: _money(int(m), cur))


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
                Paragraph(line["item"], styles["Normal"]),
                "" if e is None else f"{e:.3f}",
                _money(int(line["amount_minor"]), cur),
            ]
        )
    rows.append(["Total (positive: you pay)", "", _money(int(d["total_minor"]), cur)])
    table = Table(rows, colWidths=[250, 90, 110])
    table.setStyle(
        TableStyle(
            [
                ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
                ("LINEBELOW", (0, 0), (-1, 0), 1, colors.black),
                ("LINEABOVE", (0, -1), (-1, -1), 1, colors.black),
                ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold"),
            ]
        )
    )
    story = [
        Paragraph(f"Invoice {esc(d['number'])}", styles["Title"]),
        Paragraph(
            f"{esc(d['community']['name'])} - billed to {esc(d['user']['name'])} ({esc(d['user']['email'])})",
            styles["Normal"],
        ),
        Paragraph(f"Period {esc(d['period']['start'])} to {esc(d['period']['end'])}", styles["Normal"]),
        Spacer(1, 12),
        table,
        Spacer(1, 12),
        Paragraph(f"Reconciled with the ledger: {_money(int(d['ledger_total_minor']), cur)}.", styles["Normal"]),
    ]
    doc.build(story)
    return buf.getvalue()
