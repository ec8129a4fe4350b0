"""Benchmark: the trading API's order paths under a real load generator (issue 19, part 5).

1. ``peergrid serve --db URL --workers W`` is started on 127.0.0.1 (a real server: real argon2 logins,
   the scheduler on) for a fresh community of ``--clients`` prosumers with topped-up wallets.
2. locust (headless, ``FastHttpUser``) runs ``--clients`` users for ``--seconds``; each user places
   orders one after another on ``POST /api/communities/{id}/orders`` (closed loop, no think time:
   ``--clients`` requests in flight), random side, interval (the next day), quantity and price
   -> ``orders_per_s``, ``p50_ms``, ``p99_ms`` (locust's percentiles), ``errors`` (non-201 answers).
3. ``--batches`` batches of ``--batch-size`` orders (default 5 × 10,000) are posted one after another
   to ``POST /api/communities/{id}/orders/batch`` -> ``batch_orders_per_s`` = orders / wall time of the
   requests (JSON encoding of the body excluded, HTTP, validation and the database included).

The load generator runs on the same machine (and cores) as the server and the database.

Prints progress on stderr and, as its last stdout line, one JSON object:
{"db", "clients", "workers", "seconds", "orders_per_s", "p50_ms", "p99_ms", "requests", "errors",
 "cpu_ms_per_order": {"server", "postgres", "locust"}, "batch_orders_per_s", "batch_p50_ms", "load_avg", ...}.
``cpu_ms_per_order`` is the CPU time (user + system, from /proc) of the server processes, of every
``postgres`` process on the machine (0 for SQLite, where the database works inside the server) and
of locust during the load, per order: unlike orders/s it does not depend on what else runs on the
machine, and cores / Σ cpu_ms_per_order bounds the orders/s of an otherwise idle machine.

Run:  python benchmarks/service_orders.py [--db sqlite|postgresql|URL] [--clients 50] [--seconds 60] [--workers 2]
      [--quick]   (sqlite, postgresql: a temporary database, dropped after; the PostgreSQL server is
      $PEERGRID_TEST_PG_ADMIN, default postgresql+psycopg://peergrid:peergrid@127.0.0.1:5432/postgres)
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

PASSWORD = "bench-orders-pw-7"

LOCUSTFILE = '''
import itertools, json, os, random
import datetime as dt
from locust import FastHttpUser, constant, task

CFG = json.loads(open(os.environ["PEERGRID_BENCH_CFG"]).read())
_next = itertools.count()
DAY = dt.datetime.fromisoformat(CFG["day"])
TIMES = [(DAY + dt.timedelta(minutes=15 * k)).isoformat() for k in range(96)]


class Trader(FastHttpUser):
    wait_time = constant(0)

    def on_start(self):
        k = next(_next) % len(CFG["tokens"])
        self.headers = {"Authorization": "Bearer " + CFG["tokens"][k], "content-type": "application/json"}
        self.path = "/api/communities/%d/orders" % CFG["community"]
        self.rng = random.Random(k)

    @task
    def order(self):
        r = self.rng
        body = {"side": "buy" if r.random() < 0.5 else "sell", "interval_start": r.choice(TIMES),
                "quantity_wh": r.randint(10, 500), "price": round(r.uniform(0.05, 0.3), 4)}
        with self.client.post(self.path, data=json.dumps(body), headers=self.headers, name="POST order",
                              catch_response=True) as resp:
            if resp.status_code != 201:
                resp.failure("status %s" % resp.status_code)
'''


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _setup(url: str, n: int) -> tuple[int, list[str]]:
    """Migrate, then a community of n prosumers with wallets of 1,000,000.00 each (bulk inserts)."""
    import sqlalchemy as sa

    from peergrid.service import directory, ledger
    from peergrid.service.auth import AuthSettings, hash_password
    from peergrid.service.db import make_engine, migrate, session_factory
    from peergrid.service.models import User

    engine = make_engine(url)
    migrate(engine)
    factory = session_factory(engine)
    tag = uuid.uuid4().hex[:8]
    pw = hash_password(AuthSettings(), PASSWORD)  # the server's real argon2 costs
    emails = [f"o{tag}-{i}@bench.peergrid" for i in range(n)]
    with factory() as s, s.begin():
        c = directory.create_community(s, f"orders-{tag}", mechanism="uniform", interval_minutes=15,
                                       gate_closure_minutes=5, retail_price=0.30, feed_in_price=0.08)
        s.execute(sa.insert(User.__table__), [
            {"email": e, "name": e.split("@")[0], "password_hash": pw, "role": "prosumer", "is_active": True,
             "created_at": dt.datetime.now(dt.UTC)} for e in emails])
        uids = list(s.execute(sa.select(User.id).where(User.email.in_(emails)).order_by(User.id)).scalars())
        directory.add_members(s, c.id, uids)
        wal = directory.wallet_ids(s, c.id)
        ext = directory.system_accounts(s, c.id)["external"]
        ledger.post(s, c.id, [ledger.Transfer(ext, wal[u], 100_000_000, "topup") for u in uids])
        cid = c.id
    engine.dispose()
    return cid, emails


def _peergrid() -> list[str]:
    exe = Path(sys.executable).with_name("peergrid")
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "from peergrid.cli.main import run; run()"]


def _locust() -> str:
    exe = Path(sys.executable).with_name("locust")
    found = str(exe) if exe.exists() else shutil.which("locust")
    if not found:
        raise SystemExit("locust is not installed: pip install locust (the 'test' extra)")
    return found


def _wait_ready(proc: subprocess.Popen, port: int, log) -> None:
    import httpx

    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            log.seek(0)
            raise SystemExit(f"server failed: {log.read()[-2000:]}")
        time.sleep(0.1)
    raise SystemExit("server did not start in 60 s")


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of the processes ``pids`` (Linux /proc; 0 elsewhere)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 0.0


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux /proc)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return out


def _named(name: str) -> list[int]:
    """Processes whose command name is ``name`` (Linux /proc)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (d / "comm").read_text().strip() == name:
                    out.append(int(d.name))
            except OSError:
                continue
    return out


def _aggregated(prefix: str) -> dict:
    with open(prefix + "_stats.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return next(r for r in rows if r["Name"] == "Aggregated")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite",
                        help="sqlite | postgresql (a temporary database, dropped after) | a database URL")
    parser.add_argument("--clients", type=int, default=50, help="concurrent locust users")
    parser.add_argument("--seconds", type=int, default=60, help="seconds of load")
    parser.add_argument("--workers", type=int, default=2, help="server processes (peergrid serve --workers)")
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small sizes for the test suite (about 15 s)")
    args = parser.parse_args(argv)
    if args.quick:
        args.clients, args.seconds, args.workers, args.batch_size, args.batches = 4, 3, 1, 1000, 2
    with contextlib.ExitStack() as stack:
        if args.db in ("sqlite", "postgresql"):
            from peergrid.service.testing import temp_database

            url = stack.enter_context(temp_database(args.db))
        else:
            url = args.db
        figures = run(url, args)
    print(json.dumps(figures))
    return figures


def run(url: str, args: argparse.Namespace) -> dict:
    """Set up, serve, load, measure (see the module docstring); the figures."""
    tmp = tempfile.TemporaryDirectory(prefix="peergrid-orders-")
    t = time.perf_counter()
    cid, emails = _setup(url, args.clients + 1)
    backend = "postgresql" if url.startswith("postgres") else "sqlite"
    _log(f"setup: community {cid}, {len(emails)} prosumers on {backend} in {time.perf_counter() - t:.1f} s")
    port = _free_port()
    log = tempfile.TemporaryFile(mode="w+")  # never a pipe: a full pipe would stall the server
    cmd = [*_peergrid(), "serve", "--db", url, "--port", str(port), "--workers", str(args.workers)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, text=True)
    try:
        _wait_ready(server, port, log)
        import httpx

        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=120) as http:
            tokens = []
            for e in emails:
                r = http.post("/api/auth/login", json={"email": e, "password": PASSWORD})
                r.raise_for_status()
                tokens.append(r.json()["access_token"])
            http.cookies.clear()
            day = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
            cfg = Path(tmp.name) / "cfg.json"
            cfg.write_text(json.dumps({"tokens": tokens[:-1], "community": cid, "day": day.isoformat()}))
            locustfile = Path(tmp.name) / "orders_locust.py"
            locustfile.write_text(LOCUSTFILE)
            prefix = str(Path(tmp.name) / "run")
            _log(f"locust: {args.clients} users x {args.seconds} s on {base} ({args.workers} server workers)")
            import resource

            server_pids, pg_pids = _tree(server.pid), _named("postgres")
            cpu0 = (_cpu_seconds(server_pids), _cpu_seconds(pg_pids), resource.getrusage(resource.RUSAGE_CHILDREN))
            proc = subprocess.run(
                [_locust(), "-f", str(locustfile), "--headless", "-u", str(args.clients), "-r", str(args.clients),
                 "-t", f"{args.seconds}s", "--host", base, "--csv", prefix, "--only-summary", "--stop-timeout", "10",
                 "--loglevel", "WARNING"],
                env={**os.environ, "PEERGRID_BENCH_CFG": str(cfg)}, capture_output=True, text=True,
                timeout=args.seconds + 120,
            )
            if proc.returncode not in (0, 1):  # 1: some requests failed (counted below)
                raise SystemExit(f"locust failed ({proc.returncode}): {proc.stderr[-2000:]}")
            ru = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (_cpu_seconds(server_pids) - cpu0[0], _cpu_seconds(_named("postgres")) - cpu0[1],
                   ru.ru_utime + ru.ru_stime - cpu0[2].ru_utime - cpu0[2].ru_stime)
            agg = _aggregated(prefix)
            requests, failures = int(agg["Request Count"]), int(agg["Failure Count"])
            single = {
                "orders_per_s": round((requests - failures) / args.seconds, 1),
                "p50_ms": float(agg["50%"]), "p99_ms": float(agg["99%"]), "requests": requests,
                "errors": failures, "mean_ms": round(float(agg["Average Response Time"]), 1),
                # CPU per order of each party (load-independent: orders/s on idle cores ≈ cores / their sum)
                "cpu_ms_per_order": {k: round(1000 * v / max(requests, 1), 3)
                                     for k, v in zip(("server", "postgres", "locust"), cpu, strict=True)},
            }
            _log(f"single orders: {single}")
            # batches, sequentially from one client (the last prosumer)
            h = {"Authorization": "Bearer " + tokens[-1], "content-type": "application/json"}
            rng = np.random.default_rng(7)
            times = []
            stored = 0
            for b in range(args.batches):
                n = args.batch_size
                side = np.where(rng.random(n) < 0.5, "buy", "sell")
                slot = rng.integers(0, 96, n)
                qty = rng.integers(10, 500, n)
                price = rng.uniform(0.05, 0.3, n).round(4)
                body = json.dumps({"orders": [
                    {"side": s, "interval_start": (day + dt.timedelta(minutes=15 * int(k))).isoformat(),
                     "quantity_wh": int(q), "price": float(p)}
                    for s, k, q, p in zip(side.tolist(), slot.tolist(), qty.tolist(), price.tolist(), strict=True)]})
                t = time.perf_counter()
                r = http.post(f"/api/communities/{cid}/orders/batch", content=body, headers=h)
                times.append(time.perf_counter() - t)
                if r.status_code != 201:
                    raise SystemExit(f"batch {b} failed: {r.status_code} {r.text[:500]}")
                stored += r.json()["created"]
            batch = {
                "batch_orders_per_s": round(stored / sum(times), 0),
                "batch_p50_ms": round(float(np.median(times)) * 1000, 1),
                "batch_size": args.batch_size, "batches": args.batches,
            }
            _log(f"batches: {batch}")
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    load = os.getloadavg()
    figures = {
        "db": backend, "clients": args.clients, "workers": args.workers, "seconds": args.seconds, **single,
        **batch, "load_avg": [round(x, 2) for x in load], "cpus": os.cpu_count(),
        "load_generator": "locust FastHttpUser (headless, same machine)",
    }
    tmp.cleanup()
    return figures


if __name__ == "__main__":
    main()
