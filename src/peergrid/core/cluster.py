"""A Dask client for peergrid's cluster backends (federation sweeps, regions).

One helper opens the client the same way everywhere: the scheduler at ``address``
(``tcp://host:8786``, started with ``dask scheduler`` and ``dask worker``), or a
``LocalCluster`` of ``workers`` single-threaded worker processes when no address is
given (DESIGN.md: Dask is the default cluster backend). A malformed address fails at
once, an unreachable one after ``timeout``; both as one-line :class:`ConfigError`\\ s.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from peergrid.core.errors import ConfigError

__all__ = ["check_address", "dask_client"]

DEFAULT_TIMEOUT = "20s"
"""How long :func:`dask_client` tries to reach a scheduler."""


def check_address(address: str) -> str:
    """Validate a Dask scheduler address without connecting.

    Parameters
    ----------
    address : str
        ``tcp://host:port`` (also ``tls://``, ``ws://``, ``wss://``, ``ucx://``, ``inproc://``),
        or ``host:port`` (TCP).

    Returns
    -------
    str
        The address as given (stripped).

    Raises
    ------
    ConfigError
        Empty, unknown scheme, missing or out-of-range port.
    """
    text = str(address).strip()
    if not text or len(text) > 1000 or any(c.isspace() for c in text):
        raise ConfigError(f"--scheduler {address!r}: not a Dask scheduler address (e.g. tcp://10.0.0.1:8786)")
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.comm.registry import backends

    try:
        scheme, loc = parse_address(text)
        if scheme not in backends:
            raise ValueError(f"unknown scheme {scheme!r}; known: {', '.join(sorted(backends))}")
        if scheme in ("tcp", "tls", "ws", "wss", "ucx"):
            _, port = parse_host_port(loc)
            if not 0 < int(port) < 65536:
                raise ValueError(f"port {port} out of range")
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"--scheduler {text!r}: not a Dask scheduler address ({exc}; e.g. tcp://10.0.0.1:8786)"
        ) from None
    return text


@contextlib.contextmanager
def dask_client(
    address: str | None = None,
    workers: int = 2,
    *,
    processes: bool = True,
    timeout: str = DEFAULT_TIMEOUT,
    memory_limit: str | int | None = None,
) -> Iterator[Any]:
    """A :class:`distributed.Client` for the scheduler at ``address`` or a local cluster; closed on exit.

    Parameters
    ----------
    address : str, optional
        Scheduler address (``tcp://host:8786``); default: start a ``LocalCluster``.
    workers : int
        Worker processes (or threads, ``processes=False``) of the local cluster, one thread each.
    processes : bool
        Local cluster of worker processes (True) or threads in this process (False).
    timeout : str
        How long to try reaching the scheduler (Dask time string, e.g. ``"20s"``).
    memory_limit : str or int, optional
        Memory per local worker (``"4GiB"``); default Dask's (system memory / workers).

    Yields
    ------
    distributed.Client

    Raises
    ------
    ConfigError
        ``dask.distributed`` missing, a malformed address, or a scheduler that cannot be reached.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("the dask backend needs dask.distributed: pip install 'peergrid[dist]'") from None
    if workers < 1:
        raise ConfigError(f"workers = {workers} must be >= 1")
    cluster = None
    if address:
        address = check_address(address)
    try:
        if address:
            client = Client(address, timeout=timeout)
        else:
            kwargs: dict[str, Any] = {} if memory_limit is None else {"memory_limit": memory_limit}
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=processes,
                dashboard_address=None,
                silence_logs=logging.ERROR,
                **kwargs,
            )
            client = Client(cluster)
    except (OSError, ValueError) as exc:
        if cluster is not None:
            cluster.close()
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        where = f"the Dask scheduler at {address}" if address else "a local Dask cluster"
        raise ConfigError(f"cannot reach {where}: {first}") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
