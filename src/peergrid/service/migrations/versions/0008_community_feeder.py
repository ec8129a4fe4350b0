"""A community can carry a feeder: pandapower net, limits, members on buses and phases; eq. 12 line fees.

New tables ``community_feeders`` and ``feeder_members``; ``trades.line_fee_minor`` (0 for every
existing trade); a ``network`` system account (the network operator, who receives the line fees)
for every existing community.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 02:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "community_feeders",
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("net_json", sa.Text(), nullable=False),
        sa.Column("n_buses", sa.Integer(), nullable=False),
        sa.Column("n_lines", sa.Integer(), nullable=False),
        sa.Column("max_loading_pct", sa.Float(), nullable=False),
        sa.Column("v_min_pu", sa.Float(), nullable=False),
        sa.Column("v_max_pu", sa.Float(), nullable=False),
        sa.Column("max_vim_pct", sa.Float(), nullable=False),
        sa.Column("fee_per_kwh", sa.Float(), nullable=False),
        sa.Column("uploaded_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("max_loading_pct > 0 AND max_vim_pct > 0 AND fee_per_kwh >= 0",
                           name=op.f("ck_community_feeders_limits")),
        sa.CheckConstraint("v_min_pu > 0 AND v_min_pu < v_max_pu", name=op.f("ck_community_feeders_band")),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"],
                                name=op.f("fk_community_feeders_community_id_communities"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["uploaded_by"], ["users.id"], name=op.f("fk_community_feeders_uploaded_by_users"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("community_id", name=op.f("pk_community_feeders")),
    )
    op.create_table(
        "feeder_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("bus", sa.BigInteger(), nullable=False),
        sa.Column("phase", sa.String(length=3), nullable=False),
        sa.CheckConstraint("phase IN ('a','b','c','abc')", name=op.f("ck_feeder_members_phase")),
        sa.ForeignKeyConstraint(["community_id"], ["communities.id"],
                                name=op.f("fk_feeder_members_community_id_communities"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_feeder_members_user_id_users"),
                                ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feeder_members")),
        sa.UniqueConstraint("community_id", "user_id", name=op.f("uq_feeder_members_community_id_user_id")),
    )
    op.create_index(op.f("ix_feeder_members_community_id"), "feeder_members", ["community_id"], unique=False)
    op.add_column("trades", sa.Column("line_fee_minor", sa.BigInteger(), nullable=False, server_default="0"))
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":  # rows inserted with explicit ids leave the id sequence behind
        conn.execute(sa.text("SELECT setval(pg_get_serial_sequence('accounts', 'id'), "
                             "(SELECT COALESCE(MAX(id), 0) + 1 FROM accounts), false)"))
    conn.execute(sa.text(
        "INSERT INTO accounts (community_id, user_id, key, kind, balance_minor, credit_limit_minor) "
        "SELECT c.id, NULL, 'network', 'network', 0, 0 FROM communities c WHERE NOT EXISTS "
        "(SELECT 1 FROM accounts a WHERE a.community_id = c.id AND a.key = 'network')"
    ))


def downgrade() -> None:
    conn = op.get_bind()
    used = conn.execute(sa.text(
        "SELECT count(*) FROM ledger_entries e JOIN accounts a ON a.id IN (e.debit_account_id, e.credit_account_id) "
        "WHERE a.kind = 'network'"
    )).scalar()
    if used:
        raise RuntimeError("cannot downgrade below 0008: the ledger has entries on network accounts")
    conn.execute(sa.text("DELETE FROM accounts WHERE kind = 'network'"))
    op.drop_column("trades", "line_fee_minor")
    op.drop_index(op.f("ix_feeder_members_community_id"), table_name="feeder_members")
    op.drop_table("feeder_members")
    op.drop_table("community_feeders")
