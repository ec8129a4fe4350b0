"""Kill the server with SIGKILL in the middle of a settlement: the interval is settled fully or not at all,
and exactly once after a restart (real server processes, SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from peergrid.service import directory, ledger, orders
from peergrid.service.models import Account, ClearingRun, LedgerEntry, Order, Trade, User
from peergrid.service.testing import TEST_PASSWORD, make_community, make_user

T0 = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)  # long past: the gate is closed in real time
IV = T0 + dt.timedelta(minutes=15)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(url: str, port: int, env_extra: dict[str, str]) -> subprocess.Popen:
    env = {**os.environ, **env_extra}
    cmd = [sys.executable, "-c", "from peergrid.cli.main import run; run()", "serve", "--db", url, "--port",
           str(port), "--tick", "0.5"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait(cond, timeout: float, what: str, proc: subprocess.Popen | None = None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"server exited while waiting for {what}: {proc.stderr.read()[-2000:]}")
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _state(factory, cid):
    with factory() as s:
        runs = s.execute(sa.select(ClearingRun.phase).where(ClearingRun.community_id == cid)).scalars().all()
        trades = s.execute(sa.select(sa.func.count()).select_from(Trade).where(Trade.community_id == cid)).scalar()
        entries = s.execute(sa.select(sa.func.count()).select_from(LedgerEntry)
                            .where(LedgerEntry.community_id == cid)).scalar()
        balances = dict(s.execute(sa.select(Account.key, Account.balance_minor)
                                  .where(Account.community_id == cid)).all())
        statuses = sorted(s.execute(sa.select(Order.status).where(Order.community_id == cid)).scalars())
        ok = ledger.verify(s).ok
    return {"runs": sorted(runs), "trades": trades, "entries": entries, "balances": balances, "statuses": statuses,
            "ledger_ok": ok}


def test_sigkill_mid_settlement(app, db_url, tmp_path):
    f = app.state.sessions
    c = make_community(f, mechanism="pay-as-bid", interval_minutes=15, gate_closure_minutes=5)
    op = make_user(f, "operator", communities=[c.id])
    buyers = [make_user(f, "consumer", communities=[c.id]) for _ in range(4)]
    sellers = [make_user(f, "prosumer", communities=[c.id]) for _ in range(4)]
    with f() as s, s.begin():
        comm = directory.get_community(s, c.id)
        for i, (b, sl) in enumerate(zip(buyers, sellers, strict=True)):
            directory.topup(s, c.id, b.id, 5_000)
            orders.place_order(s, comm, s.get(User, b.id), "buy", IV, 1000 + 100 * i, 0.30, T0)
            orders.place_order(s, comm, s.get(User, sl.id), "sell", IV, 900 + 100 * i, 0.10 + 0.01 * i, T0)
    before = _state(f, c.id)
    assert before["runs"] == [] and before["ledger_ok"]

    pause = tmp_path / "paused"
    port = _free_port()
    proc = _serve(db_url, port, {"PEERGRID_FAULT_PAUSE_FILE": str(pause), "PEERGRID_FAULT_PAUSE_S": "120"})
    try:
        _wait(pause.exists, 90, "the settlement to reach the fault point", proc)
        assert pause.read_text() == "market"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    after_kill = _state(f, c.id)
    assert after_kill == before  # nothing half-applied: no run, no trade, no entry, balances and orders unchanged

    port = _free_port()
    proc = _serve(db_url, port, {})
    try:
        _wait(lambda: "metered" in _state(f, c.id)["runs"], 90, "the restarted scheduler to settle", proc)
        settled = _state(f, c.id)
        assert settled["runs"] == ["market", "metered"] and settled["ledger_ok"]
        assert settled["trades"] > 0 and set(settled["statuses"]) <= {"filled", "partial", "unfilled"}
        # pay-as-bid: buyers pay their bids, sellers get their asks, the spread is the fee
        assert settled["balances"]["fees"] > 0 and settled["balances"]["clearing"] == 0
        base = f"http://127.0.0.1:{port}/api"
        tok = httpx.post(f"{base}/auth/login", json={"email": op.email, "password": TEST_PASSWORD}).json()
        h = {"Authorization": f"Bearer {tok['access_token']}"}
        for phase in ("market", "metered"):
            r = httpx.post(f"{base}/communities/{c.id}/clearing", headers=h,
                           json={"interval_start": IV.isoformat(), "phase": phase})
            assert r.status_code == 200 and r.json()["status"] == "already_settled"
        time.sleep(1.5)  # a few more scheduler ticks change nothing
        assert _state(f, c.id) == settled
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
    assert Path(pause).exists()
