"""Attack review: replay the issue-15 attacks (and those that already held) against a live server.

Starts ``peergrid serve --demo`` (real argon2 costs, real HTTP on 127.0.0.1, SQLite or PostgreSQL)
and, if the secured local Mosquitto of ``scripts/services.sh`` is there, with ``--mqtt``; then
tries each attack as an outsider or a malicious member would, over the wire, and checks that it
*held* (the attack failed and nothing was stored or paid). Every HTTP request is counted, and so
is every 5xx answer (there must be none).

Usage::

    python benchmarks/attack_review.py                 # SQLite
    python benchmarks/attack_review.py --db postgresql # a temporary PostgreSQL database
    python benchmarks/attack_review.py --quick         # fewer timing samples

Prints one line per attack (``held`` / ``FAILED``) and, last, one JSON object:
``{"db", "attacks", "held", "failed": [...], "requests", "server_errors", "mqtt", "seconds"}``.
The exit code is 1 if an attack did not hold or a 5xx was seen.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures as cf
import contextlib
import datetime as dt
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

DEMO_PASSWORD = "peergrid-demo"
CREDENTIALS = Path("/etc/peergrid/mosquitto/service-credentials.json")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Counted(httpx.Client):
    """An httpx client that counts requests and 5xx answers."""

    requests = 0
    server_errors: list[str] = []  # noqa: RUF012 - shared across clients on purpose

    def send(self, request: httpx.Request, **kwargs):  # type: ignore[override]
        response = super().send(request, **kwargs)
        Counted.requests += 1
        if response.status_code >= 500:
            Counted.server_errors.append(f"{request.method} {request.url.path} → {response.status_code}")
        return response


@contextlib.contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="pg-attack-") as d:
            yield str(Path(d) / "attack.db")
    else:
        from peergrid.service.testing import temp_database

        with temp_database("postgresql") as url:
            yield url


@contextlib.contextmanager
def server(db: str, mqtt: str | None, env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    cmd = [sys.executable, "-c", "from peergrid.cli.main import run; run()", "serve", "--db", db,
           "--port", str(port), "--demo", "--tick", "1", "--trusted-proxy", "127.0.0.1"]
    if mqtt:
        cmd += ["--mqtt", mqtt]
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, env={**os.environ, **env})
    base = f"http://127.0.0.1:{port}"
    try:
        end = time.time() + 180
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(base + "/api/health", timeout=2).status_code == 200:
                    break
            if proc.poll() is not None or time.time() > end:
                log.seek(0)
                raise SystemExit(f"server did not start: {log.read().decode(errors='replace')[-2000:]}")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.seek(0)
        tail = log.read().decode(errors="replace")
        if "Traceback" in tail:
            print("server log has a traceback:\n" + tail[-3000:], file=sys.stderr)


class Review:
    """The demo world as an attacker sees it, and the list of attack outcomes."""

    def __init__(self, base: str, quick: bool) -> None:
        self.base = base
        self.quick = quick
        self.api = Counted(base_url=base + "/api", timeout=60)
        self.results: list[tuple[str, bool, str]] = []
        self.op = self.login("operator@demo.peergrid")
        self.admin = self.login("admin@demo.peergrid")
        self.cid = self.api.get("/communities", headers=self.op).json()["items"][0]["id"]
        members = self.api.get(f"/communities/{self.cid}/members", headers=self.op, params={"limit": 100}).json()
        self.members = {m["email"]: m for m in members["items"]}
        meters = self.api.get(f"/communities/{self.cid}/meters", headers=self.op, params={"limit": 100}).json()
        self.meters = {m["user_id"]: m for m in meters["items"]}
        self.consumer = next(e for e, m in sorted(self.members.items()) if m.get("role") == "consumer")
        self.prosumer = next(e for e, m in sorted(self.members.items()) if m.get("role") == "prosumer")

    # ---- helpers -----------------------------------------------------------------------
    def login(self, email: str, password: str = DEMO_PASSWORD, addr: str | None = None) -> dict[str, str]:
        headers = {"X-Forwarded-For": addr} if addr else {}
        r = self.api.post("/auth/login", json={"email": email, "password": password}, headers=headers)
        r.raise_for_status()
        self.api.cookies.clear()
        return {"Authorization": "Bearer " + r.json()["access_token"]}

    def uid(self, email: str) -> int:
        return self.members[email]["user_id"]

    def record(self, name: str, held: bool, detail: str) -> None:
        self.results.append((name, held, detail))
        print(f"{'held  ' if held else 'FAILED'}  {name}: {detail}", flush=True)

    def attack(self, name: str, fn: Callable[[], tuple[bool, str]]) -> None:
        try:
            held, detail = fn()
        except Exception as exc:  # an attack that crashes the review is reported, not hidden
            held, detail = False, f"review error {type(exc).__name__}: {exc}"
        self.record(name, held, detail)

    # ---- metering ---------------------------------------------------------------------
    def _readings_total(self, headers: dict[str, str], meter_id: int) -> int:
        r = self.api.get(f"/communities/{self.cid}/meters/{meter_id}/readings", headers=headers,
                         params={"limit": 1000})
        return len(r.json()["items"]) if r.status_code == 200 else -1

    def mint_with_readings(self) -> tuple[bool, str]:
        me = self.login(self.consumer)
        meter = self.meters[self.uid(self.consumer)]
        now = dt.datetime.now(dt.UTC)
        start = now.replace(minute=0, second=0, microsecond=0)
        before = self._readings_total(me, meter["id"])
        fake = [{"meter": meter["serial"], "ts": (start + dt.timedelta(seconds=i)).isoformat(), "import_wh": 0,
                 "export_wh": 10**9} for i in range(3)]
        r = self.api.post(f"/communities/{self.cid}/readings", headers=me, json={"readings": fake})
        after = self._readings_total(me, meter["id"])
        return (400 <= r.status_code < 500 and after == before,
                f"3 × 1 GWh export on a consumer meter → {r.status_code} {r.json().get('rule')}, "
                f"stored {after - before}")

    def capacity(self) -> tuple[bool, str]:
        me = self.login(self.prosumer)
        meter = self.meters[self.uid(self.prosumer)]
        start = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
        r = self.api.post(f"/communities/{self.cid}/readings", headers=me, json={"readings": [
            {"meter": meter["serial"], "ts": (start + dt.timedelta(seconds=i)).isoformat(), "import_wh": 0,
             "export_wh": 20_000} for i in range(3)]})
        return 400 <= r.status_code < 500, f"3 × 20 kWh export in one hour on a 30 kW connection → {r.status_code} " \
                                           f"{r.json().get('rule')}"

    def future_reading(self) -> tuple[bool, str]:
        me = self.login(self.prosumer)
        meter = self.meters[self.uid(self.prosumer)]
        ts = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
        r = self.api.post(f"/communities/{self.cid}/readings", headers=me, json={"readings": [
            {"meter": meter["serial"], "ts": ts.isoformat(), "import_wh": 100, "export_wh": 0}]})
        return 400 <= r.status_code < 500, f"reading 3 h ahead → {r.status_code} {r.json().get('rule')}"

    def conflicting_reading(self) -> tuple[bool, str]:
        me = self.login(self.prosumer)
        meter = self.meters[self.uid(self.prosumer)]
        # in the current hour (the demo settles every completed hour at start-up), off the seed's timestamps
        ts = dt.datetime.now(dt.UTC).replace(minute=0, second=17, microsecond=0)
        one = {"meter": meter["serial"], "ts": ts.isoformat(), "import_wh": 100, "export_wh": 0}
        first = self.api.post(f"/communities/{self.cid}/readings", headers=me, json={"readings": [one]})
        second = self.api.post(f"/communities/{self.cid}/readings", headers=me,
                               json={"readings": [{**one, "import_wh": 0, "export_wh": 5000}]})
        same = self.api.post(f"/communities/{self.cid}/readings", headers=me, json={"readings": [one]})
        ok = first.status_code == 200 and 400 <= second.status_code < 500 and same.status_code == 200
        return ok, f"first {first.status_code}, different second reading {second.status_code} " \
                   f"{second.json().get('rule')}, identical repeat {same.status_code} (idempotent)"

    # ---- login -------------------------------------------------------------------------
    def login_timing(self) -> tuple[bool, str]:
        n = 3 if self.quick else 7

        def timed(email: str, i: int) -> float:
            t = time.perf_counter()  # a fresh address per try: the throttle must not be what is timed
            r = self.api.post("/auth/login", json={"email": email, "password": "wrong-password-x1"},
                              headers={"X-Forwarded-For": f"203.0.{113 + len(email) % 2}.{i + 1}"})
            assert r.status_code == 401, r.status_code
            return time.perf_counter() - t

        known = statistics.median(timed("home09@demo.peergrid", i) for i in range(n))
        unknown = statistics.median(timed(f"nobody{i}@demo.peergrid", i) for i in range(n))
        ratio = unknown / known
        return 0.5 <= ratio <= 2.0, f"wrong password {known * 1000:.0f} ms, unknown email {unknown * 1000:.0f} ms " \
                                    f"(median of {n}; ratio {ratio:.2f})"

    def lockout(self) -> tuple[bool, str]:
        statuses = []
        for _ in range(8):
            r = self.api.post("/auth/login", json={"email": "home10@demo.peergrid", "password": "guess-guess-1"},
                              headers={"X-Forwarded-For": "198.51.100.7"})
            statuses.append(r.status_code)
        owner = self.api.post("/auth/login", json={"email": "home10@demo.peergrid", "password": DEMO_PASSWORD},
                              headers={"X-Forwarded-For": "192.0.2.10"})
        self.api.cookies.clear()
        throttled = 429 in statuses
        return throttled and owner.status_code == 200, \
            f"attacker's 8 guesses → {statuses}; owner from another address → {owner.status_code}"

    def token_after_password_change(self) -> tuple[bool, str]:
        email = "home11@demo.peergrid"
        old = self.login(email)
        r = self.api.patch(f"/users/{self.uid(email)}", headers=self.admin,
                           json={"password": "a-new-long-passphrase-11"})
        me = self.api.get("/auth/me", headers=old)
        return r.status_code == 200 and me.status_code == 401, \
            f"password changed ({r.status_code}); old token → {me.status_code}"

    def weak_passwords(self) -> tuple[bool, str]:
        codes = []
        for i, pw in enumerate(("password", " " * 8, "\x00" * 8, "password123", "qwertyuiop")):
            r = self.api.post("/users", headers=self.admin, json={
                "email": f"weak{i}@attack.test", "name": "Weak", "password": pw, "role": "consumer"})
            codes.append(r.status_code)
        return all(c == 422 for c in codes), f"5 weak passwords → {codes}"

    def jwt_forgery(self) -> tuple[bool, str]:
        def b64(obj: dict) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

        claims = {"sub": "1", "jti": "x", "exp": int(time.time()) + 3600, "ver": 0}
        none_tok = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
        import warnings

        import jwt

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the short key is the point
            weak_tok = jwt.encode(claims, "secret", algorithm="HS256")
        codes = [self.api.get("/auth/me", headers={"Authorization": f"Bearer {t}"}).status_code
                 for t in (none_tok, weak_tok, "garbage", "a.b.c")]
        return all(c == 401 for c in codes), f"alg none, guessed key, garbage → {codes}"

    # ---- access control and injection -------------------------------------------------
    def rbac(self) -> tuple[bool, str]:
        me = self.login(self.consumer)
        other = self.uid(self.prosumer)
        codes = [
            self.api.get(f"/communities/{self.cid}/wallets/{other}", headers=me).status_code,
            self.api.get(f"/communities/{self.cid}/audit", headers=me).status_code,
            self.api.post(f"/communities/{self.cid}/wallets/{self.uid(self.consumer)}/topup", headers=me,
                          json={"amount_minor": 10**6}).status_code,
            self.api.get("/users", headers=me).status_code,
            self.api.get(f"/communities/{self.cid + 999}/orders", headers=me).status_code,
        ]
        return all(c in (403, 404) for c in codes), f"cross-member and privileged reads/writes → {codes}"

    def injection(self) -> tuple[bool, str]:
        me = self.login(self.consumer)
        probes = ["' OR 1=1 --", "1; DROP TABLE users", "../../etc/passwd", "%00", "<script>alert(1)</script>"]
        codes = []
        for p in probes:
            codes.append(self.api.get(f"/communities/{self.cid}/orders", headers=me, params={"status": p}).status_code)
            codes.append(self.api.get(f"/communities/{self.cid}/invoices/{p}", headers=me).status_code)
        return all(400 <= c < 500 for c in codes), f"{len(codes)} SQL/path/XSS probes → {sorted(set(codes))}"

    def nul_memo(self) -> tuple[bool, str]:
        r = self.api.post(f"/communities/{self.cid}/wallets/{self.uid(self.consumer)}/topup", headers=self.op,
                          json={"amount_minor": 1, "memo": "bank\x00transfer"})
        after = self.api.get("/health")
        return r.status_code == 422 and after.status_code == 200, f"NUL in memo → {r.status_code}; next request " \
                                                                   f"{after.status_code}"

    def double_spend(self) -> tuple[bool, str]:
        email = "home12@demo.peergrid"
        me = self.login(email)
        wallet = self.api.get(f"/communities/{self.cid}/wallets/{self.uid(email)}", headers=me).json()
        funds = wallet["available_minor"]
        start = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
        # each order commits just over a tenth of the funds: ⌈kWh × price⌉ in currency, funds in cents
        qty = max(1, int(funds / 10 / 100 / 0.5 * 1000) + 10)

        def order(i: int) -> int:
            return self.api.post(f"/communities/{self.cid}/orders", headers={**me, "Idempotency-Key": f"ds-{i}"},
                                 json={"side": "buy", "interval_start": start.isoformat(), "quantity_wh": qty,
                                       "price": 0.5}).status_code

        with cf.ThreadPoolExecutor(10) as pool:
            codes = list(pool.map(order, range(50)))
        after = self.api.get(f"/communities/{self.cid}/wallets/{self.uid(email)}", headers=me).json()
        placed = codes.count(201)
        return after["available_minor"] >= 0 and 0 < placed < 10, \
            f"50 parallel orders of just over 1/10 of the funds each → {placed} placed " \
            f"(answers {sorted(set(codes))}), available {after['available_minor']} of {funds} cents"

    # ---- the web surface ----------------------------------------------------------------
    def _browser_session(self, email: str) -> httpx.Client:
        web = Counted(base_url=self.base, timeout=30, follow_redirects=False)
        r = web.post("/api/auth/login", json={"email": email, "password": DEMO_PASSWORD})
        r.raise_for_status()
        return web

    def csrf(self) -> tuple[bool, str]:
        email = "home13@demo.peergrid"
        web = self._browser_session(email)
        start = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
        body = {"side": "buy", "interval_start": start.isoformat(), "quantity_wh": 1000, "price": 0.2}
        evil = {"Origin": "http://127.0.0.1:9"}
        api = web.post(f"/api/communities/{self.cid}/orders", json=body, headers=evil).status_code
        form = web.post(f"/dashboard/c/{self.cid}/orders", headers=evil, data={
            "side": "buy", "interval_start": start.isoformat(), "quantity_kwh": "1", "price": "0.2"}).status_code
        no_token = web.post(f"/dashboard/c/{self.cid}/orders", headers={"Origin": self.base}, data={
            "side": "buy", "interval_start": start.isoformat(), "quantity_kwh": "1", "price": "0.2"}).status_code
        mine = self.login(email)
        n_open = self.api.get(f"/communities/{self.cid}/orders", headers=mine,
                              params={"status": "open", "limit": 1000}).json()["items"]
        placed = [o for o in n_open if o["interval_start"].startswith(start.strftime("%Y-%m-%dT%H")) and
                  o["quantity_wh"] == 1000]
        return (api == 403 and form == 403 and no_token == 403 and not placed,
                f"cookie + foreign Origin: API {api}, form {form}; form without token {no_token}; orders placed "
                f"{len(placed)}")

    def form_limits(self) -> tuple[bool, str]:
        email = "home14@demo.peergrid"
        web = self._browser_session(email)
        page = web.get(f"/dashboard/c/{self.cid}/me")
        m = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        token = m.group(1) if m else ""
        start = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
        codes = []
        for qty, price in (("1", "1e300"), ("1000000", "0.2"), ("nan", "0.2"), ("1", "-1")):
            codes.append(web.post(f"/dashboard/c/{self.cid}/orders", headers={"Origin": self.base}, data={
                "side": "buy", "interval_start": start.isoformat(), "quantity_kwh": qty, "price": price,
                "csrf_token": token}).status_code)
        return bool(token) and all(400 <= c < 500 for c in codes), f"form with price 1e300, 10^9 Wh, NaN, −1 → {codes}"

    def headers(self) -> tuple[bool, str]:
        web = self._browser_session("home15@demo.peergrid")
        page = web.get(f"/dashboard/c/{self.cid}/me")
        me = self.api.get("/auth/me", headers=self.login("home15@demo.peergrid"))
        need = {"content-security-policy": "frame-ancestors 'none'", "x-content-type-options": "nosniff",
                "x-frame-options": "DENY", "referrer-policy": "", "cache-control": "no-store"}
        missing = [f"{where}:{h}" for where, r in (("page", page), ("api", me)) for h, v in need.items()
                   if v not in r.headers.get(h, "\0")]
        csp = page.headers.get("content-security-policy", "")
        inline = "'unsafe-inline'" in csp.split("script-src")[-1].split(";")[0] if "script-src" in csp else True
        return not missing and not inline, f"missing {missing or 'none'}; inline script allowed: {inline}"

    def body_limit(self) -> tuple[bool, str]:
        host, port = self.base.removeprefix("http://").split(":")
        sent = 0
        with socket.create_connection((host, int(port)), timeout=30) as s:
            s.sendall(b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 104857600\r\n\r\n")
            chunk = b"{" * 65536
            try:
                while sent < 104857600:
                    s.sendall(chunk)
                    sent += len(chunk)
                    if sent >= 16 * 2**20:
                        break
            except OSError:
                pass
            s.settimeout(10)
            head = b""
            with contextlib.suppress(OSError):
                head = s.recv(200)
        Counted.requests += 1
        status = head.split(b" ")[1].decode() if head.startswith(b"HTTP/") else "closed"
        return status == "413", f"100 MB login body → {status} after {sent / 2**20:.1f} MiB sent"

    # ---- MQTT ------------------------------------------------------------------------------
    def mqtt_anonymous(self, url: str) -> tuple[bool, str]:
        from peergrid.service.mqtt.wire import Client, MQTTError

        host, port = url.split("@")[-1].split(":")
        c = Client(host, int(port), "attacker-anon")
        try:
            c.connect(5)
        except (MQTTError, OSError) as exc:
            return True, f"anonymous CONNECT → refused ({exc})"
        c.stop()
        return False, "anonymous CONNECT accepted"

    def mqtt_poison(self, gateway: str) -> tuple[bool, str]:
        from peergrid.service.mqtt.payload import topic_for
        from peergrid.service.mqtt.publisher import Publisher

        meter = self.meters[self.uid(self.prosumer)]
        topic = topic_for(self.cid, meter["serial"])
        poison = [b"[" * 200000, b'{"ts": "0001-01-01T00:00:00+05:00", "import_wh": 1}',
                  '{"token": "\u00e9\u00e9", "ts": "2026-01-01T00:00:00Z"}'.encode(), b"\xff\xfe", b"{}",
                  b'{"ts": "2026-01-01T00:00:00Z", "import_wh": 1e400}']
        pub = Publisher(gateway).connect()
        try:
            for p in poison:
                pub.publish(topic, p)
            pub.flush(10)
        finally:
            pub.close()
        time.sleep(3)
        stats = Counted(base_url=self.base, timeout=30).get("/mqtt/stats", headers=self.op).json()
        alive = stats.get("enabled") and stats.get("connected")
        return bool(alive) and stats.get("messages", 0) >= len(poison), \
            f"{len(poison)} poison messages → ingestor connected {stats.get('connected')}, " \
            f"rejected {stats.get('rejected_total')}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default="sqlite", help="sqlite | postgresql")
    ap.add_argument("--quick", action="store_true", help="fewer timing samples")
    ap.add_argument("--no-mqtt", action="store_true", help="skip the MQTT attacks")
    args = ap.parse_args()
    t0 = time.time()
    mqtt = gateway = None
    env: dict[str, str] = {}
    if not args.no_mqtt and CREDENTIALS.exists():
        with contextlib.suppress(Exception):
            creds = json.loads(CREDENTIALS.read_text())
            ing, gw = creds["peergrid-ingest"], creds["peergrid-gateway"]
            mqtt = "mqtt://peergrid-ingest@127.0.0.1:1883"
            env["PEERGRID_MQTT_PASSWORD"] = ing if isinstance(ing, str) else ing["password"]
            gateway = f"mqtt://peergrid-gateway:{gw if isinstance(gw, str) else gw['password']}@127.0.0.1:1883"
    with database(args.db) as db, server(db, mqtt, env) as base:
        rv = Review(base, args.quick)
        attacks: list[tuple[str, Callable[[], tuple[bool, str]]]] = [
            ("mint money with meter readings", rv.mint_with_readings),
            ("readings beyond connection capacity", rv.capacity),
            ("reading with a future timestamp", rv.future_reading),
            ("second, different reading for a read period", rv.conflicting_reading),
            ("account enumeration by login timing", rv.login_timing),
            ("lock the owner out by failed logins", rv.lockout),
            ("token still valid after a password change", rv.token_after_password_change),
            ("weak passwords", rv.weak_passwords),
            ("JWT forgery", rv.jwt_forgery),
            ("cross-member access (RBAC)", rv.rbac),
            ("SQL injection / path traversal / XSS probes", rv.injection),
            ("NUL byte in a memo", rv.nul_memo),
            ("double spend with 50 parallel orders", rv.double_spend),
            ("CSRF from another port of the same host", rv.csrf),
            ("dashboard form bypasses the API limits", rv.form_limits),
            ("missing security headers", rv.headers),
            ("100 MB unauthenticated body", rv.body_limit),
        ]
        if mqtt and gateway:
            attacks += [("anonymous MQTT client", lambda: rv.mqtt_anonymous(mqtt)),
                        ("poison MQTT messages stop ingestion", lambda: rv.mqtt_poison(gateway))]
        for name, fn in attacks:
            rv.attack(name, fn)
    failed = [n for n, held, _ in rv.results if not held]
    out = {"db": args.db, "attacks": len(rv.results), "held": len(rv.results) - len(failed), "failed": failed,
           "requests": Counted.requests, "server_errors": len(Counted.server_errors), "mqtt": bool(mqtt),
           "seconds": round(time.time() - t0, 1)}
    for e in Counted.server_errors[:10]:
        print("5xx:", e, file=sys.stderr)
    print(json.dumps(out))
    sys.exit(1 if failed or Counted.server_errors else 0)


if __name__ == "__main__":
    main()
