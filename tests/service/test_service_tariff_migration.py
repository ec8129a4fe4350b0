"""Migration 0007: communities of revision 0006 keep their flat prices as a flat tariff in their currency."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from peergrid.service import clearing, directory, tariffs
from peergrid.service.db import alembic_config, current_revision, make_engine, migrate, session_factory
from peergrid.service.metering import ingest_readings
from peergrid.service.models import Base, Community
from peergrid.service.testing import make_user, temp_database

NAIVE = dt.datetime(2026, 6, 1, 8, 0)


def test_upgrade_from_0006_keeps_prices(backend, tmp_path):
    with temp_database(backend, tmp_path) as url:
        engine = make_engine(url)
        migrate(engine, "0006")
        with engine.begin() as conn:
            old = ((1, "old-eur", "EUR", 0.31, 0.07), (2, "old-chf", "CHF", 0.25, 0.1))
            for cid, name, cur, retail, feed_in in old:
                conn.execute(sa.text(
                    "INSERT INTO communities (id, name, currency, interval_minutes, gate_closure_minutes, "
                    "metering_grace_minutes, mechanism, retail_price, feed_in_price, k, meter_import_w, "
                    "meter_export_w, member_readings, created_at) VALUES (:id, :n, :c, 60, 5, 30, 'uniform', :r, :f, "
                    "0.5, 43000, 30000, true, :t)"), {"id": cid, "n": name, "c": cur, "r": retail, "f": feed_in,
                                                     "t": NAIVE})
                for kind in directory.SYSTEM_ACCOUNTS:
                    conn.execute(sa.text("INSERT INTO accounts (community_id, key, kind, balance_minor, "
                                         "credit_limit_minor) VALUES (:c, :k, :k, 0, 0)"), {"c": cid, "k": kind})
        migrate(engine)
        assert current_revision(engine) == "0009"
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, tz, tariff FROM communities ORDER BY id")).all()
            assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata) == []
            cols = {c["name"] for c in sa.inspect(conn).get_columns("communities")}
        assert "retail_price" not in cols and "feed_in_price" not in cols  # one source of prices: the tariff
        stored = {cid: (tz, json.loads(t) if isinstance(t, str) else t) for cid, tz, t in rows}
        assert stored[1][0] == stored[2][0] == "UTC"
        assert stored[1][1]["energy"] == 0.31 and stored[1][1]["feed_in"] == 0.07 and stored[1][1]["currency"] == "EUR"
        assert stored[2][1]["energy"] == 0.25 and stored[2][1]["feed_in"] == 0.1 and stored[2][1]["currency"] == "CHF"
        factory = session_factory(engine)
        with factory() as s:
            c = s.get(Community, 2)
            assert (c.retail_price, c.feed_in_price) == (0.25, 0.1)  # the flat prices, read from the tariff
            # the migrated JSON is the canonical form the service writes itself
            assert tariffs.normalise(c.tariff, "CHF") == {**c.tariff, "description": c.tariff["description"]}
        # settlement of the migrated community bills 1 kWh at its old retail price
        u = make_user(factory, "consumer", communities=[2])
        with factory() as s, s.begin():
            directory.add_meter(s, 2, u.id, "MIG-1")
            ingest_readings(s, 2, [{"meter": "MIG-1", "ts": NAIVE.replace(tzinfo=dt.UTC), "import_wh": 1000,
                                    "export_wh": 0}], now=NAIVE.replace(tzinfo=dt.UTC) + dt.timedelta(hours=2))
        out = clearing.settle(factory, 2, NAIVE.replace(tzinfo=dt.UTC), "metered",
                              NAIVE.replace(tzinfo=dt.UTC) + dt.timedelta(hours=2))
        assert out.summary["grid_paid_minor"] == 25
        # and back: downgrade restores the columns with the prices
        cfg = alembic_config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0006")
        with engine.connect() as conn:
            prices = conn.execute(sa.text("SELECT retail_price, feed_in_price FROM communities ORDER BY id")).all()
        assert [tuple(p) for p in prices] == [(0.31, 0.07), (0.25, 0.1)]
        engine.dispose()
