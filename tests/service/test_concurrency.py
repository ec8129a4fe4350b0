"""Many concurrent requests with few pooled connections complete (no thread-pool / connection-pool deadlock)."""

from __future__ import annotations

import asyncio
import concurrent.futures

import httpx

from peergrid.service import auth as authmod
from peergrid.service.app import create_app
from peergrid.service.auth import FAST_AUTH
from peergrid.service.db import make_engine
from peergrid.service.models import User
from peergrid.service.testing import make_community, make_user


def test_more_requests_than_connections(db_url):
    engine = make_engine(db_url, pool_size=2, max_overflow=0, pool_timeout=5)
    app = create_app(engine=engine, auth=FAST_AUTH, extensions=())
    c = make_community(app.state.sessions)
    u = make_user(app.state.sessions, "prosumer", communities=[c.id])
    with app.state.sessions() as s:
        token = authmod.issue_token(s, app.state.auth, s.get(User, u.id)).token
    h = {"Authorization": f"Bearer {token}"}

    async def run() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            calls = [client.get(f"/api/communities/{c.id}/wallets/{u.id}", headers=h) for _ in range(60)]
            responses = await asyncio.wait_for(asyncio.gather(*calls), timeout=60)
        return [r.status_code for r in responses]

    # in a thread of its own: a session-wide Playwright browser may own this thread's event loop
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, run()).result() == [200] * 60
    engine.dispose()
