"""Optional PV generation per reading (Wh), e.g. from MQTT meter payloads.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 07:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pv_wh", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.drop_column("pv_wh")
