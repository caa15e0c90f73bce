"""``free_port``: the port a test's own member or server binds, kept out of the system's way."""

from __future__ import annotations

import socket
from pathlib import Path

from dita.services.hazelcast import free_port


def test_a_free_port_is_below_the_ephemeral_range_so_no_outgoing_connection_takes_it() -> None:
    first_ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = {free_port() for _ in range(50)}
    assert all(1_024 <= port < first_ephemeral for port in ports), sorted(ports)
    assert len(ports) > 1, "the port is drawn at random, so two tests at once rarely meet"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports.pop()))
