"""A QoS 1 publisher (what a meter or a meter gateway runs)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from peergrid.core.errors import ConfigError
from peergrid.service.mqtt.url import BrokerURL


def new_client_id(prefix: str = "peergrid-pub") -> str:
    """A unique MQTT client id."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class Publisher:
    """A QoS 1 publisher (what a meter or a meter gateway runs).

    Parameters
    ----------
    url : str or BrokerURL
        Broker, ``mqtt://host:port`` (a string is parsed by :meth:`BrokerURL.parse`).
    max_inflight : int
        Unacknowledged QoS 1 messages allowed in flight; 0 (default) = as many as the broker's
        receive maximum allows.
    client_id : str, optional
        MQTT client id (default: a new unique one).
    """

    def __init__(self, url: str | BrokerURL, max_inflight: int = 0, client_id: str | None = None) -> None:
        from peergrid.service.mqtt.wire import Client

        self.broker = url if isinstance(url, BrokerURL) else BrokerURL.parse(url)
        self.client = Client(self.broker.host, self.broker.port, client_id or new_client_id(),
                             **self.broker.client_kwargs(), keepalive=30, receive_maximum=65535)
        self.max_inflight = int(max_inflight)
        self.published = 0

    def connect(self, timeout: float = 10.0) -> Publisher:
        """Connect and start the network thread; :class:`ConfigError` if the broker does not answer."""
        from peergrid.service.mqtt.wire import MQTTError

        try:
            self.client.connect(timeout)
        except OSError as exc:
            raise ConfigError(f"cannot connect to MQTT broker {self.broker.host}:{self.broker.port}: "
                              f"{getattr(exc, 'strerror', None) or exc}") from None
        except MQTTError as exc:
            raise ConfigError(f"MQTT broker {self.broker.host}:{self.broker.port}: {exc}") from None
        if self.max_inflight and self.client.session is not None:
            self.client.session.receive_maximum = min(self.client.session.receive_maximum, self.max_inflight)
        return self

    def publish(self, topic: str, payload: bytes | str) -> None:
        """Send one QoS 1 message (waits while the broker's receive maximum is in flight)."""
        self.client.publish_many([(topic, payload)])
        self.published += 1

    def publish_many(self, messages: Iterable[tuple[str, bytes | str]]) -> None:
        """Send several QoS 1 messages in one socket write (a gateway forwarding a burst)."""
        self.published += self.client.publish_many(messages)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until the broker acknowledged every message; ``False`` on timeout."""
        return self.client.wait_acked(timeout)

    @property
    def refused(self) -> int:
        """Messages the broker refused (PUBACK with a failure reason, e.g. not authorised by its ACL)."""
        return self.client.refused

    def close(self) -> None:
        """Flush, disconnect and stop the network thread."""
        self.flush(10.0)
        self.client.stop()

