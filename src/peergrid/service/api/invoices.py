"""Invoices: issue, list, read as JSON, HTML or PDF (tag ``invoices``)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from peergrid.service import directory, rbac
from peergrid.service import invoices as invoicemod
from peergrid.service import schemas as S
from peergrid.service.api.deps import DB, ERRORS, Limit, Me, Offset, PId, only_own, owned, paginate
from peergrid.service.models import Invoice, User

router = APIRouter(tags=["invoices"], responses=ERRORS)


def _invoice_out(inv: Invoice) -> dict[str, Any]:
    return {
        "id": inv.id,
        "number": inv.number,
        "community_id": inv.community_id,
        "user_id": inv.user_id,
        "period_start": inv.period_start,
        "period_end": inv.period_end,
        "total_minor": inv.total_minor,
        "data": inv.data,
    }


@router.post("/communities/{community_id}/invoices", status_code=201, response_model=list[S.InvoiceOut])
def issue_invoices(community_id: PId, body: S.InvoiceIn, user: Me, db: DB) -> list[dict[str, Any]]:
    """Issue invoices for a billing period (operator): one member, or every member with activity.

    Re-issuing the same period returns the existing invoices.
    """
    rbac.community_for(db, user, community_id, rbac.OPERATOR)
    invs = invoicemod.issue(db, community_id, body.period_start, body.period_end, body.user_id)
    directory.audit(
        db,
        user,
        "invoice.issue",
        community_id,
        f"invoices:{len(invs)}",
        period_start=body.period_start.isoformat(),
        period_end=body.period_end.isoformat(),
    )
    db.commit()
    return [_invoice_out(i) for i in invs]


@router.get("/communities/{community_id}/invoices", response_model=S.Page[S.InvoiceOut])
def list_invoices(community_id: PId, user: Me, db: DB, limit: Limit = 100, offset: Offset = 0) -> dict[str, Any]:
    """Invoices (yours; admins and operators: all), newest first."""
    rbac.community_for(db, user, community_id)
    stmt = sa.select(Invoice).where(Invoice.community_id == community_id).order_by(Invoice.id.desc())
    stmt = only_own(stmt, user, Invoice.user_id)
    return paginate(db, stmt, limit, offset, _invoice_out)


def _invoice(db: Session, user: User, community_id: PId, invoice_id: int) -> Invoice:
    return owned(db, user, community_id, Invoice, invoice_id, "invoice")


@router.get("/communities/{community_id}/invoices/{invoice_id}", response_model=S.InvoiceOut)
def get_invoice(community_id: PId, invoice_id: PId, user: Me, db: DB) -> dict[str, Any]:
    """An invoice as JSON (owner, operator, admin)."""
    return _invoice_out(_invoice(db, user, community_id, invoice_id))


@router.get("/communities/{community_id}/invoices/{invoice_id}/html", response_class=HTMLResponse)
def invoice_html(community_id: PId, invoice_id: PId, user: Me, db: DB) -> HTMLResponse:
    """An invoice as an HTML page (its own CSP: no script at all, the page's inline stylesheet)."""
    return HTMLResponse(
        invoicemod.render_html(_invoice(db, user, community_id, invoice_id)),
        headers={"Content-Security-Policy": INVOICE_CSP},
    )


#: The invoice page has one inline <style> and nothing else: no script, no requests, no forms, no framing.
INVOICE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


@router.get(
    "/communities/{community_id}/invoices/{invoice_id}/pdf",
    responses={200: {"content": {"application/pdf": {}}}},
)
def invoice_pdf(community_id: PId, invoice_id: PId, user: Me, db: DB) -> Response:
    """An invoice as a PDF document."""
    inv = _invoice(db, user, community_id, invoice_id)
    return Response(
        invoicemod.render_pdf(inv),
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{inv.number}.pdf"'},
    )
