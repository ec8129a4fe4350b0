"""Bulk storage of validated readings (:func:`peergrid.service.metering.store_readings`) on SQLite and PostgreSQL.

PostgreSQL stores through COPY into a per-connection temporary staging table, SQLite through one
``executemany``; both must behave exactly like the ORM: same stored timestamps (the unique
(meter, ts) constraint sees an ORM-written row as a duplicate), same counts, same reasons and rule
codes (the plausibility rules themselves: tests/security/test_sec_metering.py).
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from peergrid.service import directory
from peergrid.service.errors import NotFound
from peergrid.service.metering import ingest_readings, store_readings
from peergrid.service.models import ClearingRun, Reading
from peergrid.service.testing import make_community, make_user
from peergrid.service.timeutil import floor_interval

T0 = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)


def _site(factory, interval_minutes: int = 15, n_meters: int = 2, without_generation: int = 0
          ) -> tuple[int, list[str]]:
    """A fresh community with ``n_meters`` meters (the last ``without_generation`` of them without
    generation); returns its id and the serials."""
    c = make_community(factory, interval_minutes=interval_minutes)
    u = make_user(factory, "prosumer", communities=[c.id])
    tag = uuid.uuid4().hex[:8]
    serials = [f"S-{tag}-{k}" for k in range(n_meters)]
    with factory() as s, s.begin():
        for k, serial in enumerate(serials):
            directory.add_meter(s, c.id, u.id, serial, has_generation=k < n_meters - without_generation)
    return c.id, serials


def _rows(s: Session, community_id: int) -> dict[tuple[str, dt.datetime], tuple]:
    """Stored readings of the community: ``{(serial, ts): (interval_start, import, export, pv)}``."""
    from peergrid.service.models import Meter

    q = (
        sa.select(Meter.serial, Reading.ts, Reading.interval_start, Reading.import_wh, Reading.export_wh,
                  Reading.pv_wh)
        .join(Meter, Meter.id == Reading.meter_id)
        .where(Meter.community_id == community_id)
    )
    return {(r[0], r[1]): tuple(r[2:]) for r in s.execute(q)}


def _settle(s: Session, community_id: int, start: dt.datetime) -> None:
    """Mark the interval settled (not flushed: storing must see the session's pending objects)."""
    s.add(ClearingRun(community_id=community_id, interval_start=start, phase="metered", mechanism="uniform"))


def test_duplicates_in_batch_and_against_stored(factory):
    cid, (a, b) = _site(factory)
    batch = [(a, T0, 100, 0, None), (b, T0, 0, 50, 70), (a, T0, 999, 0, None),
             (a, T0 + dt.timedelta(minutes=15), 1, 2, 3)]
    with factory() as s, s.begin():
        res = store_readings(s, cid, batch)
    # a different repeat of (meter, ts) is a conflict, not a silent duplicate
    assert (res.accepted, res.duplicates, [(r["index"], r["rule"]) for r in res.rejected]) == (3, 0, [(2, "conflict")])
    assert res.rejected[0]["reason"] == (
        f"meter {a!r} has a different reading at 2026-06-01T08:00:00+00:00 earlier in this batch "
        "(import, export, pv = (100, 0, None))")
    with factory() as s, s.begin():
        res = store_readings(s, cid, [*batch, (b, T0 + dt.timedelta(minutes=5), 4, 0, None)])
        assert (res.accepted, res.duplicates) == (1, 3)
        assert [(r["index"], r["rule"]) for r in res.rejected] == [(2, "conflict")]
        assert "stored" in res.rejected[0]["reason"]
        rows = _rows(s, cid)
    assert rows[(a, T0)] == (T0, 100, 0, None)  # the first occurrence wins, a stored row is never replaced
    assert rows[(b, T0)] == (T0, 0, 50, 70)
    assert rows[(b, T0 + dt.timedelta(minutes=5))] == (T0, 4, 0, None)
    assert len(rows) == 4


def test_row_written_by_the_orm_is_a_duplicate(factory):
    """Timestamps are stored in the same form as the ORM's (SQLite compares text)."""
    cid, (a, _) = _site(factory)
    ts = T0 + dt.timedelta(seconds=7, microseconds=123456)
    with factory() as s, s.begin():
        mid = s.execute(sa.text("SELECT id FROM meters WHERE serial = :s"), {"s": a}).scalar_one()
        s.add(Reading(meter_id=mid, ts=ts, interval_start=T0, import_wh=1, export_wh=0))
        s.add(Reading(meter_id=mid, ts=T0, interval_start=T0, import_wh=1, export_wh=0))
    with factory() as s, s.begin():
        res = store_readings(s, cid, [(a, ts, 1, 0, None), (a, T0, 1, 0, None),
                                      (a, T0 + dt.timedelta(microseconds=1), 6, 0, None)])
        assert (res.accepted, res.duplicates) == (1, 2)
        # the ORM finds the new row by its aware timestamp, and reads it back aware
        r = s.execute(sa.select(Reading).where(Reading.meter_id == mid,
                                               Reading.ts == T0 + dt.timedelta(microseconds=1))).scalar_one()
        assert (r.import_wh, r.interval_start, r.ts.tzinfo) == (6, T0, dt.UTC)
        assert r.received_at.tzinfo == dt.UTC
        assert abs(r.received_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)


def test_unknown_meter_and_settled_interval_are_rejected(factory):
    cid, (a, b) = _site(factory)
    _, (foreign, _) = _site(factory)
    late = T0 + dt.timedelta(minutes=20)
    with factory() as s, s.begin():
        _settle(s, cid, T0)
        res = store_readings(s, cid, [(a, late, 1, 0, None), ("nope", T0, 1, 0, None), (a, T0, 1, 0, None),
                                      (foreign, late, 1, 0, None), (b, T0 + dt.timedelta(minutes=14), 1, 0, None),
                                      (a, T0, 2, 0, None)])
        assert res.accepted == 1 and res.duplicates == 0
        settled = "interval 2026-06-01T08:00:00+00:00 is already settled"
        assert res.rejected == [
            {"index": 1, "reason": "unknown meter 'nope' in this community", "rule": "unknown_meter"},
            {"index": 2, "reason": settled, "rule": "settled"},
            {"index": 3, "reason": f"unknown meter {foreign!r} in this community", "rule": "unknown_meter"},
            {"index": 4, "reason": settled, "rule": "settled"},
            {"index": 5, "reason": settled, "rule": "settled"},
        ]
        assert set(_rows(s, cid)) == {(a, late)}


def test_empty_batch_and_unknown_community(factory):
    cid, _ = _site(factory)
    with factory() as s, s.begin():
        assert store_readings(s, cid, []).as_dict() == {"accepted": 0, "duplicates": 0, "rejected": []}
        with pytest.raises(NotFound):
            store_readings(s, 10**9, [("x", T0, 1, 0, None)])


def test_savepoint_rollback_leaves_nothing(factory):
    cid, (a, b) = _site(factory)
    with factory() as s, s.begin():
        store_readings(s, cid, [(b, T0, 1, 0, None)])
        try:
            with s.begin_nested():
                res = store_readings(s, cid, [(a, T0, 1, 0, None), (a, T0 + dt.timedelta(hours=1), 1, 0, None)])
                assert res.accepted == 2
                raise RuntimeError("roll back the savepoint")
        except RuntimeError:
            pass
        assert set(_rows(s, cid)) == {(b, T0)}
        # the staging table (possibly created inside the savepoint) works again in the same transaction
        with s.begin_nested():
            res = store_readings(s, cid, [(a, T0, 7, 0, None), (b, T0, 1, 0, None)])
        assert (res.accepted, res.duplicates) == (1, 1)
    with factory() as s:
        assert _rows(s, cid) == {(a, T0): (T0, 7, 0, None), (b, T0): (T0, 1, 0, None)}


def test_two_batches_in_one_transaction_and_rollback(factory, backend):
    cid, (a, b) = _site(factory)
    with factory() as s, s.begin():
        r1 = store_readings(s, cid, [(a, T0, 1, 0, None), (b, T0, 2, 0, None)])
        if backend == "postgresql":  # the staging table is emptied by each batch, not only at commit
            assert s.execute(sa.text("SELECT count(*) FROM pg_temp.peergrid_readings_stage")).scalar() == 0
        r2 = store_readings(s, cid, [(a, T0 + dt.timedelta(minutes=15), 3, 0, None), (b, T0, 2, 0, None)])
        assert (r1.accepted, r1.duplicates, r2.accepted, r2.duplicates) == (2, 0, 1, 1)
        assert len(_rows(s, cid)) == 3
    # a rolled-back transaction stores nothing, and the connection keeps working afterwards
    with factory() as s:
        with s.begin():
            store_readings(s, cid, [(a, T0 + dt.timedelta(hours=2), 1, 0, None)])
            s.rollback()
        with s.begin():
            res = store_readings(s, cid, [(a, T0 + dt.timedelta(hours=3), 1, 0, None)])
            assert res.accepted == 1
        assert len(_rows(s, cid)) == 4


def test_same_connection_after_rollback_of_the_creating_transaction(app, factory):
    """The staging table vanishes with the transaction that created it; the next batch recreates it."""
    cid, (a, _) = _site(factory)
    engine = app.state.engine
    with engine.connect() as conn:
        # recreated by every batch until one commits, also past psycopg's threshold for preparing statements
        for k, commit in enumerate([False] * 7 + [True, False, True]):
            with Session(bind=conn) as s:
                s.begin()
                res = store_readings(s, cid, [(a, T0 + dt.timedelta(hours=k), 1, 0, None)] * 2)
                assert (res.accepted, res.duplicates) == (1, 1)
                s.commit() if commit else s.rollback()
    with factory() as s:
        assert set(_rows(s, cid)) == {(a, T0 + dt.timedelta(hours=k)) for k in (7, 9)}


def test_two_connections_at_once(app, factory, backend):
    """Each pooled connection has its own staging table (PostgreSQL: both transactions open together).

    Two communities: batches of one community are serialised by an advisory lock (the second
    transaction would wait for the first; see test_sec_metering.py).
    """
    if backend != "postgresql":
        pytest.skip("SQLite serialises write transactions")
    cid, (a, _) = _site(factory)
    cid2, (b, _) = _site(factory)
    with factory() as s1, s1.begin(), factory() as s2, s2.begin():
        assert store_readings(s1, cid, [(a, T0, 1, 0, None)]).accepted == 1
        assert store_readings(s2, cid2, [(b, T0, 2, 0, None), (b, T0 + dt.timedelta(minutes=15), 2, 0, None)]
                              ).accepted == 2
        assert store_readings(s1, cid, [(a, T0 + dt.timedelta(minutes=15), 1, 0, None)]).accepted == 1
    with factory() as s:
        assert len(_rows(s, cid)) == 2 and len(_rows(s, cid2)) == 2


@pytest.mark.parametrize("minutes", [15, 60])
def test_interval_start(factory, minutes):
    cid, (a, _) = _site(factory, interval_minutes=minutes)
    cet = dt.timezone(dt.timedelta(hours=2))
    times = [T0, T0 + dt.timedelta(minutes=14, seconds=59, microseconds=999999), T0 + dt.timedelta(minutes=15),
             T0 + dt.timedelta(minutes=59, seconds=30), T0 + dt.timedelta(hours=1), T0 - dt.timedelta(seconds=1),
             dt.datetime(2026, 6, 1, 12, 37, 5, tzinfo=cet), dt.datetime(1969, 12, 31, 23, 59, 59, tzinfo=dt.UTC)]
    with factory() as s, s.begin():
        res = store_readings(s, cid, [(a, t, 1, 0, None) for t in times])
        assert res.accepted == len(times)
        rows = _rows(s, cid)
    assert set(rows) == {(a, t.astimezone(dt.UTC)) for t in times}
    for t in times:
        assert rows[(a, t)][0] == floor_interval(t.astimezone(dt.UTC), minutes), t
    assert rows[(a, dt.datetime(2026, 6, 1, 10, 37, 5, tzinfo=dt.UTC))][0] == (
        dt.datetime(2026, 6, 1, 10, 30 if minutes == 15 else 0, tzinfo=dt.UTC)
    )


def test_ingest_readings_maps_indexes_back(factory):
    cid, (a, b) = _site(factory)
    with factory() as s, s.begin():
        _settle(s, cid, T0 + dt.timedelta(minutes=15))
        res = ingest_readings(s, cid, [
            {"meter": a, "ts": "2026-06-01T08:00:00Z", "import_wh": 1, "export_wh": 0},
            {"meter": a, "ts": "2026-06-01T08:00:00Z", "import_wh": -1, "export_wh": 0},
            {"meter": "ghost", "ts": "2026-06-01T08:00:00Z", "import_wh": 1, "export_wh": 0},
            {"meter": b, "ts": "2026-06-01T08:15:00Z", "net_wh": -5},
            {"meter": a, "ts": "2026-06-01T10:00:00+02:00", "import_wh": 1, "export_wh": 0},
            {"meter": b, "ts": "2026-06-01T08:05:00Z", "net_wh": -5, "pv_wh": 9},
        ])
        assert (res.accepted, res.duplicates) == (2, 1)
        assert res.rejected == [
            {"index": 1, "reason": "import_wh must be in 0..1000000000 Wh, got -1", "rule": "invalid"},
            {"index": 2, "reason": "unknown meter 'ghost' in this community", "rule": "unknown_meter"},
            {"index": 3, "reason": "interval 2026-06-01T08:15:00+00:00 is already settled", "rule": "settled"},
        ]
        assert _rows(s, cid)[(b, T0 + dt.timedelta(minutes=5))] == (T0, 0, 5, 9)


# ----------------------------------------------------------------------------------- property

_reading = st.tuples(
    st.sampled_from([0, 1, 2, -1]),  # meter (2: without generation; −1: a serial the community does not have)
    st.integers(0, 9),  # timestamp: 10 five-minute steps over four 15-minute intervals (6..9: in the future)
    st.sampled_from([0, 1, 2500, 6000]),  # import, Wh (limit 10,750 Wh per 15 minutes: 43 kW)
    st.sampled_from([0, 1, 2500, 6000]),  # export, Wh (limit 7,500 Wh per 15 minutes: 30 kW)
    st.none() | st.sampled_from([0, 7]),
)
NOW = T0 + dt.timedelta(minutes=20)  # + 5 minutes of clock skew: readings from T0 + 30 min are in the future
LIMIT = {"import": 43_000 * 15 // 60, "export": 30_000 * 15 // 60}


@pytest.fixture(scope="module")
def prop_site(app):
    return _site(app.state.sessions, n_meters=3, without_generation=1)


def _model(model: dict, items: list, settled: set, serials: list) -> tuple[int, int, list[tuple[int, str]]]:
    """What store_readings should do with ``items`` given the stored ``model`` (updated in place)."""
    accepted = duplicates = 0
    rejected = []
    pending = []
    for i, (serial, ts, _imp, exp, pv) in enumerate(items):  # pass 1: rules of the reading alone
        if serial == "unknown":
            rejected.append((i, "unknown_meter"))
        elif ts > NOW + dt.timedelta(minutes=5):
            rejected.append((i, "future"))
        elif serial == serials[2] and (exp or pv):
            rejected.append((i, "no_generation"))
        else:
            pending.append(i)
    for i in pending:  # pass 2, in batch order
        serial, ts, imp, exp, pv = items[i]
        start = floor_interval(ts, 15)
        if start in settled:
            rejected.append((i, "settled"))
        elif (serial, ts) in model:
            if model[(serial, ts)][1:] == (imp, exp, pv):
                duplicates += 1
            else:
                rejected.append((i, "conflict"))
        else:
            same = [v for (m, _), v in model.items() if m == serial and v[0] == start]
            if sum(v[1] for v in same) + imp > LIMIT["import"] or sum(v[2] for v in same) + exp > LIMIT["export"]:
                rejected.append((i, "capacity"))
            else:
                model[(serial, ts)] = (start, imp, exp, pv)
                accepted += 1
    return accepted, duplicates, sorted(rejected)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(stored=st.lists(_reading, max_size=15), batch=st.lists(_reading, max_size=40),
       settled=st.sets(st.integers(0, 3), max_size=2))
def test_counts_add_up_and_table_holds_first_accepted(factory, prop_site, stored, batch, settled):
    cid, serials = prop_site

    def tup(r):
        m, k, imp, exp, pv = r
        return (serials[m] if m >= 0 else "unknown", T0 + dt.timedelta(minutes=5 * k), imp, exp, pv)

    def check(res, expected):
        assert res.accepted + res.duplicates + len(res.rejected) == sum(expected[:2]) + len(expected[2])
        assert (res.accepted, res.duplicates, [(r["index"], r["rule"]) for r in res.rejected]) == expected

    with factory() as s, s.begin():
        assert _rows(s, cid) == {}
        model: dict = {}
        items = [tup(r) for r in stored]
        check(store_readings(s, cid, items, now=NOW), _model(model, items, set(), serials))
        for i in settled:
            _settle(s, cid, T0 + dt.timedelta(minutes=15 * i))
        items = [tup(r) for r in batch]
        starts = {T0 + dt.timedelta(minutes=15 * k) for k in settled}
        check(store_readings(s, cid, items, now=NOW), _model(model, items, starts, serials))
        assert _rows(s, cid) == model
        s.rollback()  # every example starts from an empty table
