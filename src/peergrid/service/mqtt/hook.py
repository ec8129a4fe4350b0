"""The app hook: run one ingestor with the service app, and the operators' MQTT routes."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa

from peergrid.service.mqtt.dead_letters import list_dead_letters
from peergrid.service.mqtt.ingest import Ingestor
from peergrid.service.mqtt.url import BrokerURL


class _SingleIngestor:
    """Run one :class:`Ingestor` per database on this host, even with several server workers.

    ``peergrid serve --workers N`` starts N processes, each mounting this extension; two
    MQTT clients with the same client id would take the session from each other in a loop.
    Each worker therefore competes for an exclusive ``flock`` on a lock file named after a
    hash of the ingestor's client id; the holder runs the ingestor, the others retry every
    :attr:`retry_s` seconds and take over when the holder exits (the kernel releases the
    lock of a dead process).
    """

    retry_s = 2.0

    def __init__(self, app: Any, broker: BrokerURL) -> None:
        self.app = app
        self.broker = broker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peergrid-mqtt-leader", daemon=True)
        self._lock_fd: int | None = None

    def start(self) -> None:
        self._try_start()
        if self.app.state.mqtt is None:
            self._thread.start()

    def _try_start(self) -> bool:
        import fcntl
        import os
        import tempfile

        opts = dict(getattr(self.app.state, "mqtt_options", {}) or {})
        ing = Ingestor(self.app.state.sessions, self.broker, clock=lambda: self.app.state.clock(), **opts)
        # the lock file is named after a hash of the client id: /tmp is listable, the client id is a secret
        digest = hashlib.sha256(ing.client_id.encode()).hexdigest()[:16]
        path = os.path.join(tempfile.gettempdir(), f"peergrid-ingest-{digest}.lock")
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_fd = fd
        ing.start()
        self.app.state.mqtt = ing
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.retry_s):
            if self._try_start():
                return

    def stop(self) -> None:
        import os

        self._stop.set()
        ing: Ingestor | None = self.app.state.mqtt
        if ing is not None:
            ing.stop()
            self.app.state.mqtt = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def mount(app: Any) -> None:
    """Start an :class:`Ingestor` with the app when it has a broker URL.

    The URL is ``app.state.mqtt_url`` if set (tests), else the ``mqtt_url`` of the app's settings
    (``app.state.settings``, :class:`~peergrid.service.settings.ServiceSettings`: ``--mqtt`` or
    ``$PEERGRID_MQTT_URL``), with their CA file and password.

    Wraps the app's lifespan: the ingestor connects at startup and flushes and
    disconnects at shutdown. Adds ``GET /mqtt/stats`` and ``GET /mqtt/dead-letters``
    (operators and admins).
    """
    from fastapi import Depends, Query

    from peergrid.service import rbac
    from peergrid.service.api import current_user, get_db
    from peergrid.service.errors import Forbidden

    if not hasattr(app.state, "mqtt_url"):
        app.state.mqtt_url = None
    app.state.mqtt = None
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        async with inner(a) as state:
            url = getattr(app.state, "mqtt_url", None)
            settings = getattr(app.state, "settings", None)
            # a bad URL fails the start-up with a clear message
            broker = settings.broker(url) if settings is not None else BrokerURL.parse(url) if url else None
            runner = None
            if broker is not None:
                runner = _SingleIngestor(app, broker)
                runner.start()
            try:
                yield state
            finally:
                if runner is not None:
                    runner.stop()

    app.router.lifespan_context = lifespan

    @app.get("/mqtt/stats", tags=["mqtt"], summary="MQTT ingestion counters (operators, admins)")
    def mqtt_stats(user: Any = Depends(current_user)) -> dict[str, Any]:  # noqa: B008
        if user.role not in ("admin", "operator"):
            raise Forbidden("only operators and admins see ingestion counters")
        ing: Ingestor | None = app.state.mqtt
        if ing is None:
            return {"enabled": False}
        return {"enabled": True, "connected": ing.connected.is_set(), "broker": f"{ing.broker.host}:{ing.broker.port}",
                **ing.stats.as_dict()}

    @app.get("/mqtt/dead-letters", tags=["mqtt"], summary="Rejected MQTT messages, newest first (operators, admins)")
    def mqtt_dead_letters(
        db: Any = Depends(get_db, scope="function"), user: Any = Depends(current_user),  # noqa: B008
        community_id: int | None = Query(None, ge=1, le=2**31 - 1),
        limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0, le=10**9),
    ) -> dict[str, Any]:
        """Admins see every dead letter (also those whose topic named no community); operators those of the
        communities they belong to. The payload is given as escaped text and as base64."""
        from peergrid.service.models import Membership

        if user.role not in ("admin", "operator"):
            raise Forbidden("only operators and admins see dead letters")
        if community_id is not None:
            rbac.community_for(db, user, community_id, rbac.ADMIN, rbac.OPERATOR)
            communities: list[int] | None = [community_id]
        elif user.role == "admin":
            communities = None
        else:
            communities = list(db.execute(sa.select(Membership.community_id)
                                          .where(Membership.user_id == user.id)).scalars())
        return list_dead_letters(db, communities, limit=limit, offset=offset)
