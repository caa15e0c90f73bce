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
