"""Trust no input: meter connection capacities and generation flag, MQTT sequence numbers,
a dead-letter table for poison MQTT messages, and a per-user token version (revocation on
password change).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 16:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (no batch table copy on SQLite: rebuilding a referenced table would cascade deletes)
    op.add_column("communities", sa.Column("meter_import_w", sa.BigInteger(), nullable=False, server_default="43000"))
    op.add_column("communities", sa.Column("meter_export_w", sa.BigInteger(), nullable=False, server_default="30000"))
    op.add_column("meters", sa.Column("import_capacity_w", sa.BigInteger(), nullable=True))
    op.add_column("meters", sa.Column("export_capacity_w", sa.BigInteger(), nullable=True))
    op.add_column("meters", sa.Column("has_generation", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("meters", sa.Column("mqtt_seq", sa.BigInteger(), nullable=False, server_default="0"))
    # meters of prosumers existing before this revision generate (they could export until now)
    op.execute(
        "UPDATE meters SET has_generation = "
        + ("true" if op.get_bind().dialect.name == "postgresql" else "1")
        + " WHERE user_id IN (SELECT id FROM users WHERE role = 'prosumer')"
    )
    op.add_column("users", sa.Column("token_version", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "mqtt_dead_letters",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("topic", sa.String(300), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("detail", sa.String(300), nullable=False, server_default=""),
        sa.Column("community_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mqtt_dead_letters")),
    )
    op.create_index(op.f("ix_mqtt_dead_letters_received_at"), "mqtt_dead_letters", ["received_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_mqtt_dead_letters_received_at"), table_name="mqtt_dead_letters")
    op.drop_table("mqtt_dead_letters")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("token_version")
    with op.batch_alter_table("meters", schema=None) as batch_op:
        for col in ("mqtt_seq", "has_generation", "export_capacity_w", "import_capacity_w"):
            batch_op.drop_column(col)
    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.drop_column("meter_export_w")
        batch_op.drop_column("meter_import_w")
