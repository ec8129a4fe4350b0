"""An index of each user's open orders: the wallet check sums their commitments on every order placement.

``ix_orders_open_user`` on ``orders (user_id, community_id) WHERE status = 'open'`` (a partial index
on PostgreSQL and SQLite): the sum of open commitments reads the user's open orders only, not every
order the user ever placed (with the plain ``user_id`` index its cost grew with the order history).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 08:15:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_orders_open_user", "orders", ["user_id", "community_id"],
                    postgresql_where=sa.text("status = 'open'"), sqlite_where=sa.text("status = 'open'"))


def downgrade() -> None:
    op.drop_index("ix_orders_open_user", table_name="orders")
