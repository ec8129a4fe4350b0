"""Broker URLs: ``mqtt://`` / ``mqtts://`` parsed into host, port, credentials and TLS context."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from peergrid.core.errors import ConfigError


@dataclass(frozen=True)
class BrokerURL:
    """``mqtt://[user:password@]host[:port]`` or ``mqtts://[user:password@]host[:port][?ca=/path/ca.crt]`` parsed.

    ``mqtts://`` (default port 8883) connects with TLS and verifies the broker's certificate
    and host name against the CA file of ``?ca=`` or else the ``ca_file`` given to :meth:`parse`
    (default: the system's CA certificates). User name and password may be percent-encoded; a
    user name without a password takes the ``password`` given to :meth:`parse`. The service
    passes ``$PEERGRID_MQTT_CA`` and ``$PEERGRID_MQTT_PASSWORD`` there
    (:meth:`peergrid.service.settings.MqttSettings.broker`); nothing here reads the environment.
    """

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: str | None = None

    @classmethod
    def parse(cls, url: str, *, ca_file: str | None = None, password: str | None = None) -> BrokerURL:
        """Parse a broker URL; :class:`ConfigError` names the problem.

        Parameters
        ----------
        url : str
            ``mqtt://[user[:password]@]host[:port]`` or ``mqtts://...[?ca=/path/ca.crt]``.
        ca_file : str, optional
            CA file of an ``mqtts://`` URL without ``?ca=`` (ignored for ``mqtt://``).
        password : str, optional
            Password of a URL that names a user but no password.
        """
        import os
        from urllib.parse import parse_qs, unquote

        p = urlparse(url if "://" in url else f"mqtt://{url}")
        shown = p._replace(netloc=p.netloc.rpartition("@")[2]).geturl()  # never echo a password
        if p.scheme not in ("mqtt", "tcp", "mqtts", "ssl"):
            raise ConfigError(f"MQTT URL {shown!r}: scheme must be mqtt:// or mqtts:// (TLS)")
        tls = p.scheme in ("mqtts", "ssl")
        if not p.hostname:
            raise ConfigError(f"MQTT URL {shown!r} has no host")
        try:
            port = p.port or (8883 if tls else 1883)
        except ValueError:
            raise ConfigError(f"MQTT URL {shown!r} has a bad port") from None
        query = parse_qs(p.query, keep_blank_values=True)
        if set(query) - {"ca"} or len(query.get("ca", [])) > 1:
            raise ConfigError(f"MQTT URL {shown!r}: the only query parameter is ca=/path/ca.crt (mqtts://)")
        ca = query["ca"][0] if "ca" in query else (ca_file or None) if tls else None
        if ca is not None and not tls:
            raise ConfigError(f"MQTT URL {shown!r}: ca= needs mqtts:// (TLS)")
        if ca is not None and not os.path.isfile(ca):
            raise ConfigError(f"MQTT URL {shown!r}: CA file {ca} does not exist")
        user = unquote(p.username) if p.username is not None else None
        secret = unquote(p.password) if p.password is not None else None
        if user is not None and secret is None:
            secret = password or None
        return cls(p.hostname, port, user, secret, tls, ca)

    def ssl_context(self) -> ssl.SSLContext | None:
        """TLS context verifying the broker's certificate and host name (``None`` for ``mqtt://``)."""
        if not self.tls:
            return None
        try:
            ctx = ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"CA file {self.ca_file}: not a PEM certificate ({exc})") from None
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :class:`peergrid.service.mqtt.wire.Client`: credentials and TLS context."""
        return {"username": self.username, "password": self.password, "ssl_context": self.ssl_context()}
