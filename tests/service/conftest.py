"""Fixtures: every service test module runs once on SQLite and once on a real PostgreSQL.

Each (module, backend) gets a fresh database (a SQLite file / a new PostgreSQL database that
is dropped afterwards), migrated by ``create_app``; tests isolate themselves by creating
their own community and users (:func:`world`). The fixtures live in ``svc_fixtures`` (shared
with tests/security).
"""

from svc_fixtures import BACKENDS, app, backend, client, clock, db_url, factory, world  # noqa: F401
