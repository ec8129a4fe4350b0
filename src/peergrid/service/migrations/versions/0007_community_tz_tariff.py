"""Per community: an IANA time zone and a tariff definition (replacing the flat retail/feed-in prices).

Every existing community keeps its prices: its ``retail_price`` and ``feed_in_price`` become a
flat tariff (energy at the retail price, feed-in at the feed-in price, no other component) in
the community's currency; its time zone is UTC (what the service used before).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 18:00:00
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def flat_tariff(retail: float, feed_in: float, currency: str) -> dict:
    """The flat tariff of the old prices, in the JSON form of ``peergrid.market.tariff.Tariff.to_dict``
    (written out here so that the migration does not change when the module does)."""
    return {
        "name": "flat",
        "description": "the community's flat retail and feed-in prices before tariffs (revision 0007)",
        "currency": currency,
        "energy": float(retail),
        "network": 0.0,
        "local_network": 0.0,
        "tax_per_kwh": 0.0,
        "vat": 0.0,
        "standing_per_day": 0.0,
        "demand_per_kw_month": 0.0,
        "feed_in": float(feed_in),
        "export_limit_kw": None,
    }


def upgrade() -> None:
    # plain ADD/DROP COLUMN: no batch table copy on SQLite (communities is referenced by most tables,
    # and dropping it in a copy would cascade with foreign keys on)
    op.add_column("communities", sa.Column("tz", sa.String(64), nullable=False, server_default="UTC"))
    op.add_column("communities", sa.Column("tariff", sa.JSON(), nullable=False, server_default="{}"))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, currency, retail_price, feed_in_price FROM communities")).all()
    update = sa.text("UPDATE communities SET tariff = :t WHERE id = :id").bindparams(sa.bindparam("t", type_=sa.JSON))
    for cid, currency, retail, feed_in in rows:
        conn.execute(update, {"t": flat_tariff(retail, feed_in, currency), "id": cid})
    op.drop_column("communities", "retail_price")
    op.drop_column("communities", "feed_in_price")


def downgrade() -> None:
    op.add_column("communities", sa.Column("retail_price", sa.Float(), nullable=False, server_default="0.3"))
    op.add_column("communities", sa.Column("feed_in_price", sa.Float(), nullable=False, server_default="0.08"))
    conn = op.get_bind()
    for cid, tariff in conn.execute(sa.text("SELECT id, tariff FROM communities")).all():
        t = json.loads(tariff) if isinstance(tariff, str) else tariff
        energy, feed_in = t.get("energy"), t.get("feed_in")
        if isinstance(energy, int | float) and isinstance(feed_in, int | float):
            conn.execute(sa.text("UPDATE communities SET retail_price = :r, feed_in_price = :f WHERE id = :id"),
                         {"r": float(energy), "f": float(feed_in), "id": cid})
    op.drop_column("communities", "tariff")
    op.drop_column("communities", "tz")
