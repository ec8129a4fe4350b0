"""Schema migrations: a database filled at the first revision upgrades to head with no data loss."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from peergrid.service import ledger
from peergrid.service.db import current_revision, make_engine, migrate, session_factory
from peergrid.service.models import Base
from peergrid.service.testing import temp_database

NOW = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)
NAIVE = NOW.replace(tzinfo=None)


def _fill_revision_0001(conn) -> dict[str, int]:
    """Rows written with plain SQL as the first revision's code would have (no reputation, no meter labels)."""
    ins = conn.execute
    ins(sa.text("INSERT INTO users (id, email, name, password_hash, role, is_active, created_at) VALUES "
                "(1, 'a@x.org', 'A', 'h', 'operator', true, :t), (2, 'b@x.org', 'B', 'h', 'prosumer', true, :t)"),
        {"t": NAIVE})
    ins(sa.text("INSERT INTO communities (id, name, currency, interval_minutes, gate_closure_minutes, "
                "metering_grace_minutes, mechanism, retail_price, feed_in_price, k, created_at) VALUES "
                "(1, 'old', 'EUR', 15, 5, 30, 'sdr', 0.3, 0.1, 0.5, :t)"), {"t": NAIVE})
    ins(sa.text("INSERT INTO memberships (id, user_id, community_id, created_at) VALUES (1, 1, 1, :t), (2, 2, 1, :t)"),
        {"t": NAIVE})
    ins(sa.text("INSERT INTO meters (id, community_id, user_id, serial, created_at) VALUES (1, 1, 2, 'OLD-1', :t)"),
        {"t": NAIVE})
    for k in range(4):
        ins(sa.text("INSERT INTO readings (meter_id, ts, interval_start, import_wh, export_wh, received_at) VALUES "
                    "(1, :ts, :ts, :i, 0, :t)"), {"ts": NAIVE + dt.timedelta(minutes=15 * k), "i": 100 * k, "t": NAIVE})
    accounts = [(1, None, "grid", "grid"), (2, None, "fees", "fees"), (3, None, "clearing", "clearing"),
                (4, None, "external", "external"), (5, 2, "wallet:2", "wallet")]
    for aid, uid, key, kind in accounts:
        ins(sa.text("INSERT INTO accounts (id, community_id, user_id, key, kind, balance_minor, credit_limit_minor) "
                    "VALUES (:id, 1, :u, :k, :kind, 0, 0)"), {"id": aid, "u": uid, "k": key, "kind": kind})
    # two hash-chained entries, computed with the ledger's own rule
    prev = ledger.GENESIS
    for seq, (debit, credit, amount) in enumerate([(4, 5, 1000), (5, 1, 250)], start=1):
        row = {"seq": seq, "tx_id": f"tx{seq}", "community_id": 1, "debit_account_id": debit,
               "credit_account_id": credit, "amount_minor": amount, "kind": "topup" if seq == 1 else "pool_buy",
               "interval_start": NOW if seq == 2 else None, "ref": "", "memo": "", "created_at": NOW,
               "prev_hash": prev}
        row["hash"] = ledger.entry_hash(prev, row)
        params = dict(row, interval_start=row["interval_start"] and NAIVE, created_at=NAIVE)
        ins(sa.text("INSERT INTO ledger_entries (seq, tx_id, community_id, debit_account_id, credit_account_id, "
                    "amount_minor, kind, interval_start, ref, memo, created_at, prev_hash, hash) VALUES (:seq, "
                    ":tx_id, :community_id, :debit_account_id, :credit_account_id, :amount_minor, :kind, "
                    ":interval_start, :ref, :memo, :created_at, :prev_hash, :hash)"), params)
        prev = row["hash"]
    ins(sa.text("UPDATE accounts SET balance_minor = -1000 WHERE id = 4"))
    ins(sa.text("UPDATE accounts SET balance_minor = 750 WHERE id = 5"))
    ins(sa.text("UPDATE accounts SET balance_minor = 250 WHERE id = 1"))
    ins(sa.text("UPDATE ledger_head SET seq = 2, hash = :h WHERE id = 1"), {"h": prev})
    tables = ("users", "communities", "memberships", "meters", "readings", "accounts", "ledger_entries")
    return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in tables}


def test_upgrade_with_data(backend, tmp_path):
    with temp_database(backend, tmp_path) as url:
        engine = make_engine(url)
        migrate(engine, "0001")
        assert current_revision(engine) == "0001"
        with engine.begin() as conn:
            counts = _fill_revision_0001(conn)
        with session_factory(engine)() as s:
            assert ledger.verify(s).ok
        migrate(engine)  # to head
        assert current_revision(engine) == "0009"
        counts["accounts"] += 1  # revision 0008 opens the network operator's account of the community
        with engine.connect() as conn:
            for table, n in counts.items():
                assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar() == n, table
            assert conn.execute(sa.text("SELECT reputation FROM memberships")).scalars().all() == [1.0, 1.0]
            assert conn.execute(sa.text("SELECT label FROM meters")).scalar() == "OLD-1"
            assert conn.execute(sa.text("SELECT sum(import_wh) FROM readings")).scalar() == 600
            assert conn.execute(sa.text("SELECT count(*) FROM invoices")).scalar() == 0
            assert conn.execute(sa.text("SELECT count(*) FROM readings WHERE pv_wh IS NULL")).scalar() == 4
            # the models match the migrated schema exactly
            assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata) == []
        with session_factory(engine)() as s:
            result = ledger.verify(s)
            assert result.ok and result.entries == 2
        migrate(engine)  # idempotent
        engine.dispose()
