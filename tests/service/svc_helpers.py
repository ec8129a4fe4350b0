"""Helpers shared by the service tests (imported as a plain module: tests/ has no packages)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi.testclient import TestClient

from peergrid.service.testing import TEST_PASSWORD, make_community, make_user


def login(client: TestClient, email: str, password: str = TEST_PASSWORD) -> dict[str, str]:
    r = client.post("/api/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    client.cookies.clear()  # tests authenticate explicitly with the bearer header
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@dataclass
class World:
    """A fresh community with one user per role (plus a second prosumer) and their auth headers."""

    community_id: int
    users: dict[str, object] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def uid(self, name: str) -> int:
        return self.users[name].id  # type: ignore[attr-defined]


def make_world(app, client, **settings) -> World:
    f = app.state.sessions
    c = make_community(f, **settings)
    w = World(c.id)
    admin = make_user(f, "admin")
    w.users["admin"] = admin
    for name, role in (("operator", "operator"), ("prosumer", "prosumer"), ("prosumer2", "prosumer"),
                       ("consumer", "consumer")):
        w.users[name] = make_user(f, role, communities=[c.id])
    w.users["outsider"] = make_user(f, "prosumer")  # member of no community
    w.users["other_operator"] = make_user(f, "operator")  # operator of another community
    for name, u in w.users.items():
        w.headers[name] = login(client, u.email)
    return w


