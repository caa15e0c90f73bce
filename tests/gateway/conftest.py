from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.helpers import LiveServer, start_server


@pytest.fixture
def live() -> Iterator[LiveServer]:
    """A fresh kernel behind a real gateway server on a loopback port."""
    srv = start_server()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def shared() -> Iterator[LiveServer]:
    """One server for a module's cases whose requests change nothing (refused, or a cancel of an
    idle slot; those that must leave the kernel as it was check so after their own request): a
    server apiece spent about 0.2 s on its real stop (uvicorn looks every 0.1 s whether to stop),
    and some 100 parametrized cases took one each."""
    srv = start_server()
    try:
        yield srv
    finally:
        srv.stop()
