"""The operator page's set-based aggregates equal the per-figure queries they replace (SQLite and PostgreSQL).

:func:`queries.metered_intervals` feeds the 24-hour and 7-day series and reports of the
operator page from one pass over the readings; here it is checked against
:func:`queries.net_series` and :func:`peergrid.service.reports.community_report` on
communities that exercise every path: members with one meter reporting on the interval
boundary (no regrouping), members with several meters, meters reporting every 5 minutes,
readings ahead of "now", settled positions, meter ids shared contiguously or interleaved
with another community (range filter or join).
"""

from __future__ import annotations

import datetime as dt
import re
import warnings

import numpy as np
import pytest
import sqlalchemy as sa

from peergrid.service import directory
from peergrid.service.auth import FAST_AUTH, hash_password
from peergrid.service.dashboard import queries as Q
from peergrid.service.db import make_engine, migrate, session_factory
from peergrid.service.models import ClearingRun, Community, Meter, Position, Reading, User
from peergrid.service.reports import community_report
from peergrid.service.testing import TEST_PASSWORD, postgres_unavailable, temp_database
from peergrid.service.timeutil import floor_interval

NOW = dt.datetime(2026, 6, 1, 12, 7, tzinfo=dt.UTC)  # not on an interval boundary
STEP = dt.timedelta(minutes=15)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db_url(request, tmp_path_factory):
    if request.param == "postgresql" and (reason := postgres_unavailable()):
        pytest.skip(reason)
    with temp_database(request.param, tmp_path_factory.mktemp("db")) as url:
        yield url


def _community(s, name: str, members: int) -> tuple[Community, list[int]]:
    c = directory.create_community(s, name, mechanism="uniform", interval_minutes=15, retail_price=0.31,
                                   feed_in_price=0.07)
    s.execute(sa.insert(User), [{"email": f"{name}-{i}@test.peergrid", "name": f"{name} {i}", "password_hash": "h",
                                 "role": "prosumer", "is_active": True} for i in range(members)])
    ids = list(s.execute(sa.select(User.id).where(User.email.like(f"{name}-%")).order_by(User.id)).scalars())
    directory.add_members(s, c.id, ids)
    return c, ids


def _readings(s, rng: np.random.Generator, meter_ids: list[int], days: float, every_5_min: set[int] = frozenset(),
              ahead: int = 0) -> None:
    """15-minute readings of the last ``days`` (some missing) and ``ahead`` intervals after NOW; the meters in
    ``every_5_min`` report every 5 minutes during the last 10 hours (several readings per interval)."""
    first = floor_interval(NOW - dt.timedelta(days=days), 15)
    rows = []
    for m in meter_ids:
        t = first
        while t < floor_interval(NOW, 15) + ahead * STEP:
            fine = m in every_5_min and t >= NOW - dt.timedelta(hours=10)
            for k in range(3 if fine else 1):
                if rng.random() < 0.1:
                    continue
                ts = t + k * dt.timedelta(minutes=5)
                rows.append({"meter_id": m, "ts": ts, "interval_start": t, "import_wh": int(rng.integers(0, 400)),
                             "export_wh": int(rng.integers(0, 400)) if rng.random() < 0.5 else 0, "received_at": ts})
            t += STEP
    s.execute(sa.insert(Reading), rows)


def _meters(s, c: Community, owners: list[int], tag: str) -> list[int]:
    out = []
    for i, u in enumerate(owners):
        out.append(directory.add_meter(s, c.id, u, f"{tag}-{i}").id)
    return out


@pytest.fixture(scope="module")
def world(db_url):
    """Four communities: A (multi-meter members, 5-minute meters, positions, readings ahead), B (one meter each,
    on the boundary: no regrouping), C and D (meter ids interleaved: the join path)."""
    engine = make_engine(db_url)
    migrate(engine)
    f = session_factory(engine)
    rng = np.random.default_rng(7)
    with f() as s, s.begin():
        a, ua = _community(s, "qa", 8)
        ma = _meters(s, a, [*ua, ua[6], ua[7], ua[7]], "QA")  # member 6: two meters, member 7: three
        b, ub = _community(s, "qb", 5)
        mb = _meters(s, b, ub, "QB")
        c, uc = _community(s, "qc", 4)
        d, ud = _community(s, "qd", 4)
        mc, md = [], []
        for i in range(4):
            mc += _meters(s, c, [uc[i]], f"QC{i}")
            md += _meters(s, d, [ud[i]], f"QD{i}")
        _readings(s, rng, ma, days=9, every_5_min={ma[1], ma[6]}, ahead=2)
        _readings(s, rng, mb, days=3)
        _readings(s, rng, mc, days=2, every_5_min={mc[0]})
        _readings(s, rng, md, days=2)
        t = floor_interval(NOW - dt.timedelta(days=8), 15)
        while t < NOW:  # settled positions of A, every third interval
            run = ClearingRun(community_id=a.id, interval_start=t, phase="metered", mechanism="uniform", summary={})
            s.add(run)
            s.flush()
            s.execute(sa.insert(Position), [
                {"clearing_run_id": run.id, "community_id": a.id, "user_id": u, "interval_start": t,
                 **{k: int(rng.integers(0, 500)) for k in ("bought_wh", "sold_wh", "grid_import_wh", "grid_export_wh",
                                                           "paid_minor", "received_minor", "fee_minor",
                                                           "grid_paid_minor", "grid_received_minor")}}
                for u in ua])
            t += 3 * STEP
        ids = {"A": a.id, "B": b.id, "C": c.id, "D": d.id}
    yield f, ids
    engine.dispose()


WINDOWS = [dt.timedelta(hours=24), dt.timedelta(days=7), dt.timedelta(hours=3)]


@pytest.mark.parametrize("name", ["A", "B", "C", "D"])
def test_metered_intervals_match_the_series_and_reports(world, name):
    f, ids = world
    with f() as s:
        c = s.get(Community, ids[name])
        totals = Q.metered_intervals(s, c, NOW - dt.timedelta(days=7))
        assert totals
        for w in WINDOWS:
            since = NOW - w
            assert Q.series_of(totals, c, since) == Q.net_series(s, c, since)
            assert Q.community_summary(s, c, totals, since, NOW) == community_report(s, c.id, since, NOW)
        if name == "A":  # readings ahead of NOW (series only) and settled positions (reports) were covered
            assert Q.series_of(totals, c, NOW)
            assert community_report(s, c.id, NOW - dt.timedelta(days=7), NOW)["bought_p2p_kwh"] > 0


def test_many_intervals_off_the_boundary(world, monkeypatch):
    """Past the listed-interval bound the search for meters off the boundary scans a range: same figures."""
    f, ids = world
    monkeypatch.setattr(Q, "_MAX_LISTED_INTERVALS", 1)
    with f() as s:
        for name in ("A", "C"):
            c = s.get(Community, ids[name])
            totals = Q.metered_intervals(s, c, NOW - dt.timedelta(days=7))
            since = NOW - dt.timedelta(days=7)
            assert Q.community_summary(s, c, totals, since, NOW) == community_report(s, c.id, since, NOW)


def test_a_community_without_readings(world):
    f, _ = world
    with f() as s, s.begin():
        c = directory.create_community(s, "q-empty", mechanism="uniform", interval_minutes=15)
    with f() as s:
        c = s.get(Community, c.id)
        assert Q.metered_intervals(s, c, NOW - dt.timedelta(days=7)) == []
        since = NOW - dt.timedelta(hours=24)
        assert Q.community_summary(s, c, [], since, NOW) == community_report(s, c.id, since, NOW)


def _silent_reference(s, c: Community, now: dt.datetime, intervals: int) -> list[dict]:
    """The former query: latest reading per meter over all readings, then filter."""
    cutoff = now - dt.timedelta(minutes=c.interval_minutes * intervals)
    last = sa.select(Reading.meter_id, sa.func.max(Reading.ts).label("last")).group_by(Reading.meter_id).subquery()
    rows = s.execute(
        sa.select(Meter.serial, User.name, User.email, last.c.last)
        .join(User, User.id == Meter.user_id)
        .outerjoin(last, last.c.meter_id == Meter.id)
        .where(Meter.community_id == c.id, sa.or_(last.c.last.is_(None), last.c.last < cutoff))
        .order_by(last.c.last.is_(None).desc(), last.c.last, Meter.serial)
        .limit(500)
    ).all()
    return [{"serial": a, "member": n or e, "last": t.isoformat() if t else None} for a, n, e, t in rows]


def test_silent_meters_match_the_former_query(world):
    f, ids = world
    with f() as s, s.begin():
        a = s.get(Community, ids["A"])
        directory.add_meter(s, a.id, s.execute(sa.select(Meter.user_id).where(Meter.community_id == a.id)).scalar(),
                            "QA-never")
    with f() as s:
        for name in ids:
            c = s.get(Community, ids[name])
            for later, n in ((dt.timedelta(0), 1), (dt.timedelta(days=1), 4), (dt.timedelta(days=3), 10_000)):
                got = Q.silent_meters(s, c, NOW + later, n)
                assert got == _silent_reference(s, c, NOW + later, n)
        assert any(m["serial"] == "QA-never" and m["last"] is None for m in
                   Q.silent_meters(s, s.get(Community, ids["A"]), NOW, 4))


def test_operator_page_statements_do_not_grow_with_members(db_url):
    """No query per member: the page runs as many statements for 3 members as for 40."""
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
    from fastapi.testclient import TestClient

    from peergrid.service.app import create_app

    app = create_app(db_url, auth=FAST_AUTH, extensions=("peergrid.service.dashboard",), clock=lambda: NOW)
    f = app.state.sessions
    rng = np.random.default_rng(3)
    with f() as s, s.begin():
        c, users = _community(s, "qpage", 3)
        _readings(s, rng, _meters(s, c, users, "QP"), days=1)
        op = directory.create_user(s, "qpage-op@test.peergrid", "Op", hash_password(FAST_AUTH, TEST_PASSWORD),
                                   "operator")
        directory.add_members(s, c.id, [op.id])
    statements: list[str] = []
    sa.event.listen(app.state.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    counts = []
    with TestClient(app) as client:
        r = client.post("/login", data={"email": "qpage-op@test.peergrid", "password": TEST_PASSWORD},
                        follow_redirects=False)
        assert r.status_code == 303
        for more in (0, 37):
            if more:
                with f() as s, s.begin():
                    _, extra = _community(s, "qpage-more", more)
                    directory.add_members(s, c.id, extra)
                    _readings(s, rng, _meters(s, c, extra, "QPM"), days=1)
            statements.clear()
            r = client.get(f"/dashboard/c/{c.id}/community")
            assert r.status_code == 200
            counts.append(len(statements))
            assert re.search(r'id="members-table"', r.text)
    assert counts[0] == counts[1], counts
    app.state.engine.dispose()
