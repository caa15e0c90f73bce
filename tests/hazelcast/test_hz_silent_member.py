"""A "member" that accepts connections and never answers: a frozen JVM (SIGSTOP), or the
address of another service. The client's blocking start waited for its reply for ever, so
every command hung though the docs promise exit 3 after the connect timeout."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from hz_helpers import run_dita

from dita.projection.hazelcast import HazelcastError, connect_client
from dita.services.hazelcast import client_can_connect

CONNECT_S = 1.0
# The wait, the half-connected client's shutdown (bounded at 2 s) and a Python start, with room
# for a loaded machine; a command that hangs runs into the subprocess timeout instead.
WITHIN_S = 15.0


@pytest.fixture()
def silent_address() -> Iterator[str]:
    """host:port of a listener that accepts every connection, reads nothing and never replies."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(conn)  # held open, never answered

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    for conn in accepted:
        conn.close()
    server.close()
    assert accepted, "nothing connected to the silent listener: the test tested nothing"


@pytest.mark.parametrize(
    "command",
    [
        ["status", "--hazelcast", "{address}"],
        ["orders", "--hazelcast", "{address}", "--json"],
        ["pnl", "--hazelcast", "{address}"],
        ["control", "show", "--cluster", "{address}"],
        ["control", "set", "--mode", "HALTED", "--cluster", "{address}"],
    ],
)
def test_a_member_that_never_answers_exits_3_naming_it(silent_address: str, command: list[str]) -> None:
    args = [part.format(address=silent_address) for part in command]
    took, done = run_dita(args, connect_s=CONNECT_S, within=WITHIN_S)
    assert done.returncode == 3, (done.returncode, done.stdout, done.stderr)
    assert f"error: cannot reach Hazelcast cluster 'dita' at {silent_address}" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert took >= CONNECT_S  # it did wait for the member


def test_connect_client_gives_up_on_a_member_that_never_answers(silent_address: str) -> None:
    started = time.monotonic()
    with pytest.raises(HazelcastError, match=f"no member at {silent_address} let this client into"):
        connect_client([silent_address], "dita", block=True, connect_timeout=CONNECT_S)
    assert time.monotonic() - started < WITHIN_S


def test_a_member_that_never_answers_is_not_one_clients_can_connect_to(silent_address: str) -> None:
    """`dita services hazelcast status` asks this: it hung on a frozen member too."""
    started = time.monotonic()
    assert client_can_connect(silent_address, "dita", timeout=CONNECT_S) is False
    assert time.monotonic() - started < WITHIN_S
