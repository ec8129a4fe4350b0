"""A lean MQTT 5 client for high message rates (QoS 0 and 1), used by the meter ingestor.

General-purpose MQTT clients handle one packet at a time: several ``recv`` calls and a
callback per message, which caps a Python subscriber at a few thousand messages per
second. Meters send small messages at high aggregate rates, so this client reads the
socket in large chunks, splits every complete packet out of the buffer in one loop and
hands the PUBLISH packets of a chunk to the application as **one batch**; acknowledgements
go back as one socket write per batch (:func:`puback_packets`). It implements the subset
of MQTT 5.0 (OASIS Standard, 2019) that peergrid needs:

* CONNECT with clean start, session expiry interval (§3.1.2.11.2), receive maximum
  (§3.1.2.11.3) and optional user name/password; CONNACK with its properties (the server's
  receive maximum and keep alive are honoured);
* SUBSCRIBE (QoS ≤ 1 subscriptions, shared subscriptions ``$share/<group>/<filter>``);
* PUBLISH with QoS 0/1 in both directions, manual PUBACK by the application (a message is
  acknowledged only after it is stored), re-sending unacknowledged outgoing messages with
  the DUP flag after a reconnect (§4.4);
* PINGREQ keep-alive, DISCONNECT, automatic reconnection with exponential back-off;
* TLS (``ssl_context``): the socket is then non-blocking and every read or write of the TLS
  connection holds one lock (OpenSSL connections must not be read and written by two threads
  at once); a read drains every complete TLS record, so a batch is as large as over TCP.

QoS 2, retained-message handling, topic aliases and AUTH are not implemented (not used).
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

log = logging.getLogger("peergrid.mqtt")

#: ``(topic, payload, packet id, qos)`` of one received PUBLISH.
Message = tuple[bytes, bytes, int, int]

PINGREQ = b"\xc0\x00"
DISCONNECT = b"\xe0\x00"
_CONNECT, _CONNACK, _PUBLISH, _PUBACK, _SUBSCRIBE, _SUBACK = 1, 2, 3, 4, 8, 9
_PINGRESP, _DISCONNECT = 13, 14

# property identifier → value type (MQTT 5 §2.2.2.2): 1/2/4 byte integer, "v" varint, "s" string,
# "b" binary data, "p" string pair
_PROPERTY_TYPES = {
    0x01: 1, 0x02: 4, 0x03: "s", 0x08: "s", 0x09: "b", 0x0B: "v", 0x11: 4, 0x12: "s", 0x13: 2, 0x15: "s",
    0x16: "b", 0x17: 1, 0x18: 4, 0x19: 1, 0x1A: "s", 0x1C: "s", 0x1F: "s", 0x21: 2, 0x22: 2, 0x23: 2,
    0x24: 1, 0x25: 1, 0x26: "p", 0x27: 4, 0x28: 1, 0x29: 1, 0x2A: 1,
}
_CONNACK_REASONS = {
    0x80: "unspecified error", 0x81: "malformed packet", 0x82: "protocol error", 0x84: "unsupported protocol version",
    0x85: "client identifier not valid", 0x86: "bad user name or password", 0x87: "not authorized",
    0x88: "server unavailable", 0x89: "server busy", 0x8A: "banned", 0x8C: "bad authentication method",
    0x90: "topic name invalid", 0x95: "packet too large", 0x97: "quota exceeded", 0x99: "payload format invalid",
    0x9A: "retain not supported", 0x9B: "QoS not supported", 0x9C: "use another server", 0x9D: "server moved",
    0x9F: "connection rate exceeded",
}


class MQTTError(ConnectionError):
    """The broker refused or broke the protocol (the message says why)."""


# --------------------------------------------------------------------------- encoding


def varint(n: int) -> bytes:
    """MQTT variable byte integer (§1.5.5), 0 ≤ n < 2**28."""
    if not 0 <= n < 268_435_456:
        raise ValueError(f"{n} does not fit a variable byte integer")
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def read_varint(buf: bytes | bytearray | memoryview, pos: int) -> tuple[int, int]:
    """``(value, position after it)``; :class:`IndexError` if ``buf`` ends inside it."""
    value = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift > 21:
            raise MQTTError("malformed variable byte integer")


def _str(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    if len(b) > 65535:
        raise ValueError(f"MQTT string of {len(b)} bytes is longer than 65,535 bytes: {b[:40]!r}...")
    return struct.pack("!H", len(b)) + b


def _packet(first: int, body: bytes) -> bytes:
    return bytes((first,)) + varint(len(body)) + body


def connect_packet(
    client_id: str,
    *,
    keepalive: int = 15,
    clean_start: bool = True,
    session_expiry_s: int = 0,
    receive_maximum: int = 65535,
    username: str | None = None,
    password: str | None = None,
) -> bytes:
    """CONNECT packet (MQTT 5 §3.1)."""
    flags = 0x02 if clean_start else 0
    if username is not None:
        flags |= 0x80
    if password is not None:
        flags |= 0x40
    props = b""
    if session_expiry_s:
        props += b"\x11" + struct.pack("!I", session_expiry_s)
    if receive_maximum != 65535:
        props += b"\x21" + struct.pack("!H", receive_maximum)
    body = _str("MQTT") + bytes((5, flags)) + struct.pack("!H", keepalive) + varint(len(props)) + props
    body += _str(client_id)  # no will: no will properties, topic or payload
    if username is not None:
        body += _str(username)
    if password is not None:
        body += _str(password)
    return _packet(0x10, body)


def subscribe_packet(packet_id: int, topic_filter: str, qos: int = 1) -> bytes:
    """SUBSCRIBE to one filter with maximum QoS ``qos`` (MQTT 5 §3.8)."""
    return _packet(0x82, struct.pack("!H", packet_id) + b"\x00" + _str(topic_filter) + bytes((qos & 3,)))


def publish_packet(topic: bytes, payload: bytes, qos: int = 1, packet_id: int = 0, dup: bool = False) -> bytes:
    """PUBLISH (MQTT 5 §3.3) without properties; ``topic`` as UTF-8 bytes."""
    first = 0x30 | (qos << 1) | (0x08 if dup else 0)
    head = struct.pack("!H", len(topic)) + topic + (struct.pack("!H", packet_id) if qos else b"") + b"\x00"
    return bytes((first,)) + varint(len(head) + len(payload)) + head + payload


def puback_packets(packet_ids: Iterable[int]) -> bytes:
    """PUBACKs with reason "success" (4 bytes each; the reason code is omitted, §3.4.2.1)."""
    return b"".join(b"\x40\x02" + mid.to_bytes(2, "big") for mid in packet_ids)


def read_properties(buf: bytes | memoryview, pos: int) -> tuple[dict[int, object], int]:
    """Properties at ``pos`` → ``({identifier: value}, position after them)``."""
    length, pos = read_varint(buf, pos)
    end = pos + length
    props: dict[int, object] = {}
    while pos < end:
        pid = buf[pos]
        pos += 1
        kind = _PROPERTY_TYPES.get(pid)
        if kind is None:
            raise MQTTError(f"unknown MQTT property 0x{pid:02x}")
        if isinstance(kind, int):
            props[pid] = int.from_bytes(buf[pos:pos + kind], "big")
            pos += kind
        elif kind == "v":
            props[pid], pos = read_varint(buf, pos)
        else:
            for _ in range(2 if kind == "p" else 1):
                n = int.from_bytes(buf[pos:pos + 2], "big")
                props[pid] = bytes(buf[pos + 2:pos + 2 + n])
                pos += 2 + n
    return props, end


def split_packets(buf: bytearray) -> tuple[list[tuple[int, int, int]], int]:
    """Complete packets at the start of ``buf``: ``([(first byte, body start, body end)], bytes used)``."""
    out = []
    pos, n = 0, len(buf)
    while n - pos >= 2:
        i = pos + 1
        length = shift = 0
        while i < n:
            b = buf[i]
            i += 1
            length |= (b & 0x7F) << shift
            if b < 0x80:
                break
            shift += 7
            if shift > 21:
                raise MQTTError("malformed packet length")
        else:
            break  # the length itself is incomplete
        if i + length > n:
            break
        out.append((buf[pos], i, i + length))
        pos = i + length
    return out, pos


def parse_publish(buf: bytearray, first: int, start: int, end: int) -> Message:
    """One PUBLISH body → ``(topic, payload, packet id, qos)`` (properties skipped)."""
    qos = (first >> 1) & 3
    if end - start < 3 or qos == 3:
        raise MQTTError("malformed PUBLISH packet")
    tl = (buf[start] << 8) | buf[start + 1]
    j = start + 2 + tl
    if j + (3 if qos else 1) > end:  # the topic, packet id and property length must fit the packet
        raise MQTTError("malformed PUBLISH packet (topic longer than the packet)")
    topic = bytes(buf[start + 2:j])
    mid = 0
    if qos:
        mid = (buf[j] << 8) | buf[j + 1]
        j += 2
    plen = buf[j]
    if plen < 0x80:
        j += 1 + plen
    else:
        plen, j = read_varint(buf, j)
        j += plen
    if j > end:
        raise MQTTError("malformed PUBLISH packet (properties longer than the packet)")
    return topic, bytes(buf[j:end]), mid, qos


# --------------------------------------------------------------------------- client


@dataclass
class Session:
    """What the broker said in its CONNACK."""

    session_present: bool
    receive_maximum: int
    keepalive: int


class Client:
    """An MQTT 5 connection with a reader thread, automatic reconnection and batched callbacks.

    Parameters
    ----------
    host, port : str, int
        Broker address.
    client_id : str
        MQTT client identifier (the key of a persistent session).
    username, password : str, optional
    ssl_context : ssl.SSLContext, optional
        Connect with TLS; the server certificate is verified against the context's CA
        certificates and (if the context checks host names) ``host``.
    keepalive : int
        Keep-alive interval (s); a PINGREQ is sent when nothing else was sent for half of it.
    clean_start : bool
        ``False`` resumes the broker's session of ``client_id`` (its queued QoS 1 messages).
    session_expiry_s : int
        How long the broker keeps the session after a disconnection (s).
    receive_maximum : int
        Unacknowledged QoS 1 messages the broker may send before waiting for PUBACKs.
    subscriptions : sequence of (str, int)
        ``(topic filter, QoS)`` subscribed after every (re)connection.
    on_messages : callable, optional
        ``on_messages(messages, generation)`` with the PUBLISH packets of one socket read,
        called on the reader thread (blocking in it stops reading: TCP backpressure). QoS 1
        messages must be acknowledged with :meth:`ack` on the same ``generation``.
    on_connect, on_disconnect : callable, optional
        ``on_connect(session)`` after CONNACK and SUBACK; ``on_disconnect(reason)``.
    reconnect_min_s, reconnect_max_s : float
        Back-off between reconnection attempts (doubling, s).
    """

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        *,
        username: str | None = None,
        password: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        keepalive: int = 15,
        clean_start: bool = True,
        session_expiry_s: int = 0,
        receive_maximum: int = 65535,
        subscriptions: Sequence[tuple[str, int]] = (),
        on_messages: Callable[[list[Message], int], None] | None = None,
        on_connect: Callable[[Session], None] | None = None,
        on_disconnect: Callable[[str], None] | None = None,
        reconnect_min_s: float = 0.5,
        reconnect_max_s: float = 5.0,
    ) -> None:
        self.host, self.port, self.client_id = host, int(port), client_id
        self.username, self.password = username, password
        self.ssl_context = ssl_context
        self.keepalive = int(keepalive)
        self.clean_start = clean_start
        self.session_expiry_s = int(session_expiry_s)
        self.receive_maximum = int(receive_maximum)
        self.subscriptions = list(subscriptions)
        self.on_messages = on_messages
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.reconnect_min_s, self.reconnect_max_s = reconnect_min_s, max(reconnect_min_s, reconnect_max_s)
        self.connected = threading.Event()
        self.generation = 0
        self.session: Session | None = None
        self._sock: socket.socket | None = None
        self._send_lock = threading.Lock()
        self._tls_lock = threading.Lock()  # one TLS operation at a time (reader vs. writers)
        self._last_send = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # outgoing QoS 1: packet id → packet, waiting for PUBACK
        self._inflight: dict[int, bytes] = {}
        self._inflight_cv = threading.Condition()
        self._next_mid = 0
        #: PUBACKs with a failure reason (≥ 0x80, e.g. 0x87 "not authorized": the broker's ACL dropped
        #: the message) and the last such reason code.
        self.refused = 0
        self.last_refusal = 0

    # ---- connection ------------------------------------------------------------------
    def _open(self, timeout: float) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        if self.ssl_context is not None:
            sock = self._wrap(sock)
        clean = self.clean_start and self.generation == 0  # a reconnection resumes the session
        sock.sendall(connect_packet(self.client_id, keepalive=self.keepalive, clean_start=clean,
                                    session_expiry_s=self.session_expiry_s, receive_maximum=self.receive_maximum,
                                    username=self.username, password=self.password))
        buf = bytearray()
        packets: list[tuple[int, int, int]] = []
        while not packets:
            data = sock.recv(65536)
            if not data:
                raise MQTTError("the broker closed the connection before CONNACK")
            buf += data
            packets, _ = split_packets(buf)
        first, s, e = packets[0]
        if first >> 4 != _CONNACK:
            raise MQTTError(f"expected CONNACK, got packet type {first >> 4}")
        present, reason = buf[s] & 1, buf[s + 1]
        if reason >= 0x80:
            raise MQTTError(f"broker refused the connection: {_CONNACK_REASONS.get(reason, hex(reason))}")
        props, _ = read_properties(buf, s + 2) if e > s + 2 else ({}, e)
        keepalive = int(props.get(0x13, self.keepalive))  # type: ignore[call-overload]
        self.session = Session(bool(present), int(props.get(0x21, 65535)), keepalive)  # type: ignore[call-overload]
        self.keepalive = keepalive
        del buf[:e]
        for k, (flt, qos) in enumerate(self.subscriptions, start=1):
            sock.sendall(subscribe_packet(k, flt, qos))
        if isinstance(sock, ssl.SSLSocket):
            sock.setblocking(False)  # see _recv and _sendall
        else:
            sock.settimeout(None)
        self._leftover = buf
        return sock

    def _wrap(self, sock: socket.socket) -> ssl.SSLSocket:
        """TLS handshake (blocking, within the connect timeout); certificate problems say what to fix."""
        assert self.ssl_context is not None
        try:
            return self.ssl_context.wrap_socket(sock, server_hostname=self.host)
        except ssl.SSLCertVerificationError as exc:
            sock.close()
            raise MQTTError(f"TLS: the certificate of {self.host}:{self.port} is not trusted "
                            f"({exc.verify_message}): give the CA that signed it (mqtts://...?ca=/path/ca.crt "
                            f"or PEERGRID_MQTT_CA)") from None
        except (ssl.SSLError, ConnectionResetError) as exc:
            sock.close()
            raise MQTTError(f"TLS handshake with {self.host}:{self.port} failed "
                            f"({getattr(exc, 'reason', None) or exc.strerror or exc}): is it a TLS listener?") from None
        except OSError:
            sock.close()
            raise

    def _recv(self, sock: socket.socket) -> bytes | None:
        """What the socket has now: bytes, ``None`` (nothing complete yet), ``b""`` at end of stream."""
        if not isinstance(sock, ssl.SSLSocket):
            return sock.recv(1 << 18)
        chunks: list[bytes] = []
        size = 0
        with self._tls_lock:
            while size < 1 << 20:  # drain every complete record (≤ 16 KiB each)
                try:
                    data = sock.recv(1 << 18)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    break
                except ssl.SSLZeroReturnError:
                    data = b""
                if not data:
                    if not chunks:
                        return b""
                    break
                chunks.append(data)
                size += len(data)
        return b"".join(chunks) if chunks else None

    def _sendall(self, sock: socket.socket, data: bytes) -> None:
        """``sock.sendall(data)``; on TLS in non-blocking writes under the TLS lock, waiting outside it."""
        if not isinstance(sock, ssl.SSLSocket):
            sock.sendall(data)
            return
        view = memoryview(data)
        while view:
            with self._tls_lock:
                try:
                    n = sock.send(view)  # SSL_write: all of it or "want write"; retried with the same data
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                    n = 0
            view = view[n:]
            if view and not n:
                if sock.fileno() < 0:
                    raise OSError("connection closed")
                select.select([], [sock], [], 0.5)  # the reader keeps draining meanwhile

    def connect(self, timeout: float = 10.0) -> Client:
        """Connect now (raising :class:`OSError`/:class:`MQTTError` on failure) and start the reader."""
        self._sock = self._open(timeout)
        self._after_connect()
        self._start_thread(connected=True)
        return self

    def start(self) -> Client:
        """Connect in the background, retrying until the broker answers, and keep reconnecting."""
        self._start_thread(connected=False)
        return self

    def _start_thread(self, connected: bool) -> None:
        self._thread = threading.Thread(target=self._run, args=(connected,), daemon=True,
                                        name=f"peergrid-mqtt-{self.client_id[:40]}")
        self._thread.start()

    def _after_connect(self) -> None:
        self.generation += 1
        self._last_send = time.monotonic()
        with self._inflight_cv:  # re-send what the broker did not acknowledge, flagged DUP (§4.4)
            pending = [bytes((p[0] | 0x08,)) + p[1:] for p in self._inflight.values()]
        if pending:
            self.send(b"".join(pending))

    def _run(self, connected: bool) -> None:
        delay = self.reconnect_min_s
        while not self._stop.is_set():
            if not connected:
                try:
                    self._sock = self._open(timeout=5.0)
                except (OSError, MQTTError) as exc:
                    log.debug("MQTT connect to %s:%s failed: %s", self.host, self.port, exc)
                    if self._stop.wait(delay):
                        return
                    delay = min(delay * 2, self.reconnect_max_s)
                    continue
                self._after_connect()
            connected = False
            delay = self.reconnect_min_s
            reason = "connection lost"
            try:
                self._read_loop()
            except (OSError, MQTTError) as exc:
                reason = str(exc) or type(exc).__name__
            except Exception as exc:  # e.g. a malformed packet: drop the connection, never the thread
                log.exception("MQTT connection to %s:%s failed", self.host, self.port)
                reason = f"{type(exc).__name__}: {exc}"
            finally:
                self.connected.clear()
                self._close_socket()
            if self._stop.is_set():
                return
            if self.on_disconnect is not None:
                self.on_disconnect(reason)
            if self._stop.wait(delay):
                return

    def _close_socket(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def _read_loop(self) -> None:
        sock = self._sock
        assert sock is not None
        buf = self._leftover
        ping_after = max(self.keepalive / 2.0, 0.5) if self.keepalive else None
        waiting_ping = 0.0
        gen = self.generation
        suback_due = len(self.subscriptions)
        if not suback_due:
            self._ready()
        while not self._stop.is_set():
            if (isinstance(sock, ssl.SSLSocket) and sock.pending()) or select.select([sock], [], [], 0.5)[0]:
                data = self._recv(sock)
                if data is not None:
                    if not data:
                        raise MQTTError("the broker closed the connection")
                    buf += data
            if buf:
                packets, used = split_packets(buf)
                messages: list[Message] = []
                for first, s, e in packets:
                    kind = first >> 4
                    if kind == _PUBLISH:
                        messages.append(parse_publish(buf, first, s, e))
                    elif kind == _PUBACK:
                        if e - s > 2 and buf[s + 2] >= 0x80:
                            self._refused(buf[s + 2], (buf[s] << 8) | buf[s + 1])
                        self._acked((buf[s] << 8) | buf[s + 1])
                    elif kind == _PINGRESP:
                        waiting_ping = 0.0
                    elif kind == _SUBACK:
                        codes = buf[s + 2:e][self._props_len(buf, s + 2):]
                        if any(c >= 0x80 for c in codes):
                            raise MQTTError(f"broker refused the subscription (reason 0x{max(codes):02x})")
                        suback_due -= 1
                        if suback_due == 0:
                            self._ready()
                    elif kind == _DISCONNECT:
                        code = buf[s] if e > s else 0
                        raise MQTTError(f"broker disconnected (reason 0x{code:02x})")
                del buf[:used]
                if messages and self.on_messages is not None:
                    try:
                        self.on_messages(messages, gen)
                    except Exception:  # the application's fault: keep the connection (unacked messages stay)
                        log.exception("MQTT on_messages callback failed")
            if ping_after is not None:
                now = time.monotonic()
                if waiting_ping and now - waiting_ping > self.keepalive:
                    raise MQTTError("no PINGRESP from the broker")
                if now - self._last_send > ping_after and not waiting_ping:
                    self.send(PINGREQ)
                    waiting_ping = now

    def _ready(self) -> None:
        self.connected.set()
        if self.on_connect is not None and self.session is not None:
            self.on_connect(self.session)

    @staticmethod
    def _props_len(buf: bytearray, pos: int) -> int:
        length, after = read_varint(buf, pos)
        return after - pos + length

    # ---- sending -------------------------------------------------------------------------
    def send(self, data: bytes) -> bool:
        """Write raw packets (thread-safe); ``False`` when not connected (nothing sent)."""
        with self._send_lock:
            sock = self._sock
            if sock is None:
                return False
            try:
                self._sendall(sock, data)
            except OSError:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # the reader notices and reconnects
                return False
            self._last_send = time.monotonic()
            return True

    def ack(self, packet_ids: Sequence[int], generation: int) -> bool:
        """Acknowledge received QoS 1 messages of connection ``generation`` in one write.

        Packet ids of an earlier connection are not acknowledged (the broker re-sends
        those messages on the new connection); returns whether anything was sent.
        """
        if not packet_ids or generation != self.generation:
            return False
        return self.send(puback_packets(packet_ids))

    def publish_many(self, messages: Iterable[tuple[bytes | str, bytes | str]], qos: int = 1,
                     timeout: float | None = None) -> int:
        """Publish ``(topic, payload)`` pairs in one socket write; returns how many.

        With ``qos=1`` each message takes a packet id, waiting while the broker's receive
        maximum of unacknowledged messages is in flight (at most ``timeout`` s, then
        :class:`TimeoutError`); unacknowledged messages are re-sent after a reconnect.
        """
        out = []
        end = None if timeout is None else time.monotonic() + timeout
        for topic, payload in messages:
            t = topic.encode() if isinstance(topic, str) else topic
            p = payload.encode() if isinstance(payload, str) else payload
            if qos == 0:
                out.append(publish_packet(t, p, 0))
                continue
            with self._inflight_cv:
                limit = self.session.receive_maximum if self.session else 65535
                while len(self._inflight) >= min(limit, 65535):
                    if out:  # send what is ready before waiting for acknowledgements
                        self.send(b"".join(out))
                        out = []
                    left = None if end is None else end - time.monotonic()
                    if left is not None and left <= 0:
                        raise TimeoutError("the broker did not acknowledge messages in time")
                    self._inflight_cv.wait(0.5 if left is None else min(left, 0.5))
                mid = self._next_mid
                while True:
                    mid = mid % 65535 + 1
                    if mid not in self._inflight:
                        break
                self._next_mid = mid
                packet = publish_packet(t, p, 1, mid)
                self._inflight[mid] = packet
            out.append(packet)
        if out:
            self.send(b"".join(out))
        return len(out)

    def publish(self, topic: bytes | str, payload: bytes | str, qos: int = 1) -> None:
        """Publish one message (see :meth:`publish_many`)."""
        self.publish_many([(topic, payload)], qos=qos)

    def _refused(self, reason: int, mid: int) -> None:
        self.refused += 1
        self.last_refusal = reason
        log.warning("MQTT broker %s:%s refused message %d: %s", self.host, self.port, mid,
                    _CONNACK_REASONS.get(reason, hex(reason)))

    def _acked(self, mid: int) -> None:
        with self._inflight_cv:
            if self._inflight.pop(mid, None) is not None:
                self._inflight_cv.notify_all()

    @property
    def inflight(self) -> int:
        """Outgoing QoS 1 messages not yet acknowledged by the broker."""
        return len(self._inflight)

    def wait_acked(self, timeout: float = 30.0) -> bool:
        """Wait until every outgoing QoS 1 message is acknowledged; ``False`` on timeout."""
        end = time.monotonic() + timeout
        with self._inflight_cv:
            while self._inflight:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._inflight_cv.wait(min(left, 0.1))
        return True

    def stop(self, timeout: float = 5.0) -> None:
        """Send DISCONNECT (the session stays for ``session_expiry_s``), close and join the reader."""
        self._stop.set()
        self.send(DISCONNECT)
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self._close_socket()
        self.connected.clear()
