"""A journal DSN whose server takes the connection and never answers (a stalled or overloaded
ClickHouse, a proxy, a wrong port behind a load balancer) does not hold the kernel's start: the
first open gives up after FIRST_OPEN_TIMEOUT_SECONDS and the kernel is attached unchecked at
once, the journal knowing the server does not answer."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from dita import ExecutionKernel
from dita.journal.clickhouse import ClickHouseJournal
from dita.journal.dsn import FIRST_OPEN_TIMEOUT_SECONDS


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that takes connections and never answers; its port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for c in held:
            c.close()
        listener.close()


def test_a_kernel_on_a_journal_whose_server_never_answers_starts_within_the_first_open_timeout(
    silent_server: int,
) -> None:
    start = time.monotonic()
    journal = ClickHouseJournal(f"http://127.0.0.1:{silent_server}/dita", close_timeout=2)
    try:
        opened = time.monotonic() - start
        kernel = ExecutionKernel(max_slots=2, journal=journal, kernel_id="silent")
        started = time.monotonic() - start
        assert journal.stats().extra["connected"] is False
        closing = time.monotonic()
        kernel.close()
        journal.close()
        closed = time.monotonic() - closing
    finally:
        journal.close()
    assert opened < FIRST_OPEN_TIMEOUT_SECONDS + 3, f"the journal opened after {opened:.1f} s"
    assert started - opened < 1, f"the kernel started {started - opened:.1f} s after the journal opened"
    assert closed < 2 + 3, f"closing took {closed:.1f} s (close_timeout 2)"
