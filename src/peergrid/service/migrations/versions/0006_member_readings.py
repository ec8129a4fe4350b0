"""Per community: may members upload their own meters' readings over HTTP?

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 17:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN: no batch table copy on SQLite (communities is referenced by most tables)
    op.add_column("communities", sa.Column("member_readings", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.drop_column("member_readings")
