"""Benchmark: trading platform clearing + settlement and order API load (issue: trading platform service).

1. Clearing + settlement of one interval for N participants (default 10,000; half bid, half offer,
   all with topped-up wallets): ``clearing.settle`` re-checks every wallet with
   ``peergrid.market.check_wallets``, clears with the uniform-price auction and writes trades, orders,
   positions and hash-chained ledger entries in one transaction -> ``clear_settle_seconds``.
2. Order submission under bounded local load: a ``peergrid`` API server in a subprocess on 127.0.0.1,
   ``--clients`` concurrent HTTP clients (default 50) placing orders for ``--duration`` seconds
   (default 60) -> ``orders_per_s``, ``p50_ms``, ``p99_ms``.

Prints progress lines, then as its last line one JSON object:
{"participants", "db", "clear_settle_seconds", "orders_per_s", "p50_ms", "p99_ms", ...}.

Run:  python benchmarks/service_clearing.py [--db URL] [--participants N] [--quick]
      (default database: a temporary SQLite file; PostgreSQL: --db postgresql+psycopg://user:pw@host/db)
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import numpy as np

T0 = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)
PASSWORD = "bench-password-1"


def _setup(factory, n: int, seed: int = 1):
    """A community of n members with wallets, top-ups and one order each for one interval (bulk inserts)."""
    import sqlalchemy as sa

    from peergrid.service import directory, ledger
    from peergrid.service.auth import FAST_AUTH, hash_password
    from peergrid.service.models import Order, User

    rng = np.random.default_rng(seed)
    tag = uuid.uuid4().hex[:8]
    pw = hash_password(FAST_AUTH, PASSWORD)
    iv = T0 + dt.timedelta(minutes=15)
    with factory() as s, s.begin():
        c = directory.create_community(
            s,
            f"bench-{tag}",
            mechanism="uniform",
            interval_minutes=15,
            gate_closure_minutes=5,
            retail_price=0.30,
            feed_in_price=0.08,
        )
        rows = [
            {
                "email": f"b{tag}-{i}@bench.peergrid",
                "name": f"member {i}",
                "password_hash": pw,
                "role": "prosumer",
                "is_active": True,
                "created_at": T0,
            }
            for i in range(n)
        ]
        s.execute(sa.insert(User.__table__), rows)
        uids = list(s.execute(sa.select(User.id).where(User.email.like(f"b{tag}-%")).order_by(User.id)).scalars())
        directory.add_members(s, c.id, uids)
        wal = directory.wallet_ids(s, c.id)
        ext = directory.system_accounts(s, c.id)["external"]
        ledger.post(s, c.id, [ledger.Transfer(ext, wal[u], 100_000, "topup") for u in uids])
        buy = rng.random(n) < 0.5
        qty = rng.integers(200, 3000, n)
        price = np.where(buy, rng.uniform(0.12, 0.30, n), rng.uniform(0.08, 0.26, n)).round(4)
        s.execute(
            sa.insert(Order.__table__),
            [
                {
                    "community_id": c.id,
                    "user_id": u,
                    "interval_start": iv,
                    "side": "buy" if b else "sell",
                    "quantity_wh": int(q),
                    "price": float(p),
                    "status": "open",
                    "filled_wh": 0,
                    "committed_minor": int(np.ceil(q * p / 10)) if b else 0,
                    "idempotency_key": None,
                    "reason": "",
                    "created_at": T0 + dt.timedelta(microseconds=i),
                }
                for i, (u, b, q, p) in enumerate(zip(uids, buy.tolist(), qty.tolist(), price.tolist(), strict=True))
            ],
        )
    return c.id, iv, uids


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SERVER = """
import sys, uvicorn
from peergrid.service.app import create_app
from peergrid.service.auth import FAST_AUTH
app = create_app(sys.argv[1], auth=FAST_AUTH, extensions=(), migrate_db=False)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", access_log=False)
"""


async def _load(port: int, cid: int, emails: list[str], clients: int, duration: float) -> dict:
    import httpx

    base = f"http://127.0.0.1:{port}/api"
    lat: list[float] = []
    errors = 0
    statuses: dict = {}
    day = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=clients)) as http:
        tokens = []
        for e in emails[:clients]:
            r = await http.post("/auth/login", json={"email": e, "password": PASSWORD})
            r.raise_for_status()
            tokens.append({"Authorization": f"Bearer {r.json()['access_token']}"})
        stop = time.perf_counter() + duration

        async def worker(k: int) -> None:
            nonlocal errors
            rng = np.random.default_rng(k)
            while time.perf_counter() < stop:
                side = "buy" if rng.random() < 0.5 else "sell"
                body = {
                    "side": side,
                    "interval_start": (day + dt.timedelta(minutes=15 * int(rng.integers(0, 96)))).isoformat(),
                    "quantity_wh": int(rng.integers(10, 500)),
                    "price": 0.1,
                }
                t = time.perf_counter()
                try:
                    r = await http.post(f"/communities/{cid}/orders", json=body, headers=tokens[k])
                    ok = r.status_code == 201
                    if not ok:
                        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                except httpx.HTTPError as exc:
                    ok = False
                    statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
                lat.append(time.perf_counter() - t)
                if not ok:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(clients)))
        elapsed = time.perf_counter() - t0
    ms = np.array(lat) * 1000
    return {
        "requests": len(lat),
        "errors": errors,
        "error_statuses": {str(k): v for k, v in statuses.items()},
        "load_seconds": round(elapsed, 2),
        "orders_per_s": round((len(lat) - errors) / elapsed, 1),
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None, help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--participants", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=50, help="concurrent HTTP clients in the load test")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--quick", action="store_true", help="small sizes for the test suite (a few seconds)")
    args = parser.parse_args(argv)
    if args.quick:
        args.participants, args.clients, args.duration = 1000, 8, 2.0
    from peergrid.service import clearing, ledger
    from peergrid.service.db import make_engine, migrate, session_factory

    tmp = None
    url = args.db
    if url is None:
        tmp = tempfile.TemporaryDirectory()
        url = f"sqlite:///{tmp.name}/bench.db"
    engine = make_engine(url)
    migrate(engine)
    factory = session_factory(engine)
    backend = engine.dialect.name
    t = time.perf_counter()
    cid, iv, uids = _setup(factory, args.participants)
    print(
        f"setup: {args.participants} participants with wallets and orders on {backend} in "
        f"{time.perf_counter() - t:.1f} s",
        flush=True,
    )
    t = time.perf_counter()
    out = clearing.settle(factory, cid, iv, "market", T0 + dt.timedelta(minutes=10))
    clear_s = time.perf_counter() - t
    print(
        f"clearing + settlement: {clear_s:.3f} s, {out.summary['n_trades']} trades, "
        f"{out.summary['traded_wh'] / 1000:.0f} kWh at {out.summary['clearing_price']:.4f}/kWh",
        flush=True,
    )
    with factory() as s:
        t = time.perf_counter()
        v = ledger.verify(s)
        verify_s = time.perf_counter() - t
    assert v.ok, v.problem
    print(f"ledger verify: {v.entries} entries in {verify_s:.2f} s", flush=True)
    engine.dispose()
    # bounded load against a real server process
    port = _free_port()
    server_log = tempfile.TemporaryFile(mode="w+")  # never a pipe: a full pipe would stall the server
    if args.workers > 1:  # several processes: the app factory reads the database from the environment
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "peergrid.service.app:app_from_env",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        env = {**os.environ, "PEERGRID_DB": url, "PEERGRID_SCHEDULER_TICK": "0", "PEERGRID_FAST_AUTH": "1"}
    else:
        cmd, env = [sys.executable, "-c", SERVER, url, str(port)], {**os.environ}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=server_log, text=True, env=env)
    try:
        import httpx

        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None:
                server_log.seek(0)
                raise SystemExit(f"server failed: {server_log.read()[-1000:]}")
            time.sleep(0.1)
        import sqlalchemy as sa

        from peergrid.service.models import User

        engine = make_engine(url)
        with session_factory(engine)() as s:
            emails = list(s.execute(sa.select(User.email).where(User.id.in_(uids[: args.clients]))).scalars())
        engine.dispose()
        load = asyncio.run(_load(port, cid, emails, args.clients, args.duration))
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    print(
        f"load: {args.clients} clients x {load['load_seconds']} s: {load['requests']} orders, "
        f"{load['orders_per_s']} orders/s, p50 {load['p50_ms']} ms, p99 {load['p99_ms']} ms, "
        f"{load['errors']} errors",
        flush=True,
    )
    if tmp is not None:
        tmp.cleanup()
    figures = {
        "participants": args.participants,
        "db": backend,
        "clear_settle_seconds": round(clear_s, 3),
        "orders_per_s": load["orders_per_s"],
        "p50_ms": load["p50_ms"],
        "p99_ms": load["p99_ms"],
        "trades": out.summary["n_trades"],
        "ledger_entries": v.entries,
        "ledger_verify_seconds": round(verify_s, 3),
        "load_clients": args.clients,
        "server_workers": args.workers,
        "load_seconds": load["load_seconds"],
        "requests": load["requests"],
        "errors": load["errors"],
        "error_statuses": load["error_statuses"],
    }
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
