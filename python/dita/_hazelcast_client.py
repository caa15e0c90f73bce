"""The Hazelcast client as dita uses it: the one place the client package is imported (with its
Python 3.11 warning muted, and its I/O thread's idle wake-ups slowed), the cluster's name and
members, and a client that connects and shuts down without ever blocking a kernel.

Shared by the local member service (whose start checks that a client can join), the
projection and the control plane; it imports none of them.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

with warnings.catch_warnings():
    # The client's reactor imports asyncore, deprecated (still present) on Python 3.11.
    warnings.filterwarnings("ignore", message=r"The asyncore module", category=DeprecationWarning)
    from hazelcast.client import HazelcastClient
    from hazelcast.core import HazelcastJsonValue
    from hazelcast.errors import HazelcastError, HazelcastSerializationError, IllegalStateError
    from hazelcast.future import Future, combine_futures
    from hazelcast.lifecycle import LifecycleState
    from hazelcast.predicate import Predicate, and_, equal, greater_or_equal, instance_of
    from hazelcast.proxy.map import BlockingMap, Map

    from hazelcast import reactor as _hz_reactor

from dita._text import is_utf8

__all__ = [
    "DEFAULT_CLUSTER_MEMBERS",
    "DEFAULT_CLUSTER_NAME",
    "MEMBER_LIST_WAIT_S",
    "REACTOR_POLL_S",
    "SHUTDOWN_WAIT_S",
    "BlockingMap",
    "Future",
    "HazelcastClient",
    "HazelcastError",
    "HazelcastJsonValue",
    "HazelcastSerializationError",
    "IllegalStateError",
    "LifecycleState",
    "Map",
    "Predicate",
    "and_",
    "cluster_settings",
    "combine_futures",
    "connect_client",
    "default_cluster_name",
    "equal",
    "greater_or_equal",
    "instance_of",
    "shutdown_client",
]

DEFAULT_CLUSTER_NAME = "dita"
DEFAULT_CLUSTER_MEMBERS: tuple[str, ...] = ("127.0.0.1:5701",)


REACTOR_POLL_S = 0.1
"""How long the client's I/O thread blocks in poll() when nothing happens (the client's own: 10 ms)."""


def _quiet_reactor() -> None:
    """Let the client's I/O thread sleep 100 ms instead of 10 ms when nothing happens.

    Each wake-up takes the GIL from the strategy thread, and on a loaded machine handing it
    back can stall the strategy for a scheduler slice; 100 idle wake-ups a second show as
    outliers of 1.6x in bench_hazelcast's throughput pairs. Sockets and the client's waker
    still wake the thread at once (sends, replies, entry events); only its timers
    (heartbeats, retries, on a 1 s scale) may run up to 100 ms late. Another client version
    without this loop class is left alone.
    """
    loop_cls = getattr(_hz_reactor, "_WakeableLoop", None)
    poller = getattr(_hz_reactor, "asyncore", None)
    if loop_cls is None or poller is None or getattr(loop_cls, "_dita_poll_s", None) is not None:
        return

    def run_loop(self: Any) -> None:
        poller.loop(timeout=REACTOR_POLL_S, use_poll=True, map=self._map, count=1)

    loop_cls.run_loop = run_loop
    loop_cls._dita_poll_s = REACTOR_POLL_S


_quiet_reactor()


def default_cluster_name() -> str:
    """The cluster every command takes when none is given: $DITA_HAZELCAST_CLUSTER, else
    ``dita``."""
    return os.environ.get("DITA_HAZELCAST_CLUSTER", DEFAULT_CLUSTER_NAME)


def cluster_settings(
    members: str | Sequence[str] | None = None, name: str | None = None
) -> tuple[tuple[str, ...], str]:
    """Cluster addresses and name: the arguments, else $DITA_HAZELCAST_MEMBERS (comma-separated
    host:port) and $DITA_HAZELCAST_CLUSTER, else 127.0.0.1:5701 and ``dita``."""
    raw = members if members is not None else os.environ.get("DITA_HAZELCAST_MEMBERS")
    if raw is None:
        addresses = DEFAULT_CLUSTER_MEMBERS
    elif isinstance(raw, str):
        addresses = tuple(a.strip() for a in raw.split(",") if a.strip())
    elif isinstance(raw, Sequence) and not isinstance(raw, bytes | bytearray):
        # As the text's entries are: " 10.0.0.5:5701" would be taken as a host named with a space.
        addresses = tuple(a.strip() if isinstance(a, str) else a for a in raw)
    else:
        raise ValueError(f"cluster members must be host:port text or a list of them, got {raw!r}")
    for address in addresses:
        # Text the client can send: an argument byte that is not UTF-8 (read as a lone
        # surrogate) would fail only at the connect timeout, taken for a cluster that is down.
        if not isinstance(address, str) or not is_utf8(address):
            raise ValueError(f"cluster member must be host:port text, got {address!r}")
        if "/" in address:
            # A URL's scheme and path would be taken as part of the host, and the connect time
            # waited out as if the cluster name were wrong.
            raise ValueError(f"cluster member must be host:port, not a URL or path, got {address!r}")
        host, sep, port = address.rpartition(":")
        if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"cluster member must be host:port, got {address!r}")
    if not addresses:
        raise ValueError(f"cluster members must list at least one host:port, got {raw!r}")
    cluster = name if name is not None else default_cluster_name()
    if not isinstance(cluster, str) or not is_utf8(cluster):
        raise ValueError(f"cluster name must be UTF-8 text, got {cluster!r}")
    if not cluster.strip():
        raise ValueError(f"cluster name must not be empty, got {cluster!r}")
    return addresses, cluster


def connect_client(
    cluster_members: Sequence[str] = DEFAULT_CLUSTER_MEMBERS,
    cluster_name: str = DEFAULT_CLUSTER_NAME,
    *,
    lifecycle_listener: Callable[[str], None] | None = None,
    invocation_timeout: float = 5.0,
    block: bool = False,
    connect_timeout: float = -1,
) -> HazelcastClient:
    """A client that never blocks a kernel: it starts and reconnects in the background.

    With ``block`` the call waits until connected (for the CLI and tests), giving up after
    ``connect_timeout`` seconds (-1: never) with ``IllegalStateError`` naming the members.
    """
    if isinstance(cluster_members, str) or not cluster_members:
        raise ValueError(f"cluster_members must be a non-empty list of 'host:port', got {cluster_members!r}")
    connected = threading.Event()

    def on_lifecycle(state: str) -> None:
        if state == LifecycleState.CONNECTED:
            connected.set()

    listeners: list[Callable[[str], None]] = [on_lifecycle] if block else []
    if lifecycle_listener is not None:
        listeners.append(lifecycle_listener)
    client = HazelcastClient(
        cluster_name=cluster_name,
        cluster_members=list(cluster_members),
        # Always in the background, also with ``block``: the client's own blocking start waits
        # for the member's authentication reply without a timeout, so a member that accepts the
        # connection and never answers (a frozen JVM, another service on that port) would hang
        # the caller for good, cluster_connect_timeout notwithstanding. The wait is ours below.
        async_start=True,
        # ASYNC: calls fail fast with ClientOfflineError while away instead of hanging.
        reconnect_mode="ASYNC",
        cluster_connect_timeout=connect_timeout,
        retry_initial_backoff=0.1,
        retry_max_backoff=1.0,
        retry_multiplier=1.5,
        connection_timeout=2.0,
        heartbeat_interval=1.0,
        heartbeat_timeout=6.0,
        invocation_timeout=invocation_timeout,
        statistics_enabled=False,
        lifecycle_listeners=listeners,
    )
    if block and not _wait_connected(client, connected, connect_timeout):
        shutdown_client(client)
        within = (
            f"within {connect_timeout:g}s"
            if connect_timeout >= 0
            else f"with its member list (none came within {MEMBER_LIST_WAIT_S:g}s of connecting)"
        )
        raise IllegalStateError(
            f"Unable to connect to any cluster: no member at {', '.join(cluster_members)} let this "
            f"client into cluster {cluster_name!r} {within}"
        )
    return client


MEMBER_LIST_WAIT_S = 120.0
"""How long a connected client waits for the member list (as the client's own blocking start
does), even with no limit on connecting."""


def _wait_connected(client: HazelcastClient, connected: threading.Event, timeout: float) -> bool:
    """Whether ``client`` connected within ``timeout`` seconds (negative: no limit) and has the
    member list, as the client's own blocking start waits for it (SQL needs it), at most
    MEMBER_LIST_WAIT_S once connected. It polls every 50 ms, never spinning: a member that let
    the client in and froze before sending its members must not cost a CPU core."""
    deadline = None if timeout < 0 else time.monotonic() + timeout
    members_by: float | None = None
    while True:
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return False
        step = 0.05 if deadline is None else min(deadline - now, 0.05)
        if not connected.is_set():
            connected.wait(step)
        elif client.cluster_service.get_members():
            return True
        else:
            members_by = members_by or now + MEMBER_LIST_WAIT_S
            if now >= members_by:
                return False
            time.sleep(step)
        if not client.lifecycle_service.is_running():
            return False  # the client gave up on its own (its cluster_connect_timeout passed)


SHUTDOWN_WAIT_S = 2.0
"""How long a caller waits for a client's shutdown before leaving it to finish in the background."""


def shutdown_client(client: HazelcastClient, timeout: float = SHUTDOWN_WAIT_S) -> None:
    """Shut ``client`` down, waiting at most ``timeout`` seconds: a member that stopped answering
    must not hang a command on its way out. The client's threads are daemons, so one left
    behind does not keep the process alive."""
    done = threading.Thread(target=client.shutdown, name="dita-hazelcast-shutdown", daemon=True)
    done.start()
    done.join(timeout)
