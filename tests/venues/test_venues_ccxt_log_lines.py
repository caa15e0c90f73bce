"""The log lines of a fill's whole path through the ccxt venue, against the local Binance of
``binance_streams.py`` at DEBUG (ccxt's request log with its headers, urllib3's request lines
included): every line parses as JSON, the venue's order and fill lines carry the kernel, the
trade and the order ids, and the API key and secret show in none."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from binance_streams import streaming
from test_venues_ccxt_streams import entry, settle, start_session
from venue_helpers import API_KEY, API_SECRET

from dita.logs import configure_logging, log_context, reset_logging


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DITA_TEST_BINANCE_KEY", API_KEY)
    monkeypatch.setenv("DITA_TEST_BINANCE_SECRET", API_SECRET)


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    out = io.StringIO()
    configure_logging("json", {"dita": "DEBUG", "urllib3": "DEBUG"}, stream=out)
    yield out
    reset_logging()


def test_a_ccxt_fill_s_lines_carry_its_ids_and_no_key(captured: io.StringIO) -> None:
    with streaming() as server:
        session = start_session(server)
        # A venue serves any kernel: the caller names the kernel its calls are for.
        with log_context(kernel_id=session.kernel.kernel_id):
            try:
                session.bring_up()
                sent, client_id = entry(session, 1)
                assert sent, client_id
                server.fill(client_id)
                settle(session, 0.02)
            finally:
                session.kernel.close()
                session.venue.close()
    text = captured.getvalue()
    assert API_KEY not in text and API_SECRET not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert any(line["component"].startswith("dita.venues.ccxt.wire") for line in lines)  # headers logged
    placed = [line for line in lines if ": placed " in line["message"]]
    fills = [line for line in lines if ": fill " in line["message"]]
    assert len(placed) == 1 and fills
    for line in placed + fills:
        assert line["component"] == "dita.venues.ccxt" and line["level"] == "DEBUG"
        assert line["kernel_id"] == "k" and line["trade_id"] == "tr-1" and line["slot_id"] == 0
        assert line["client_order_id"] == client_id and line["venue_order_id"].startswith("BTCUSDT:")
    assert all(line["fill_id"] for line in fills)
    assert logging.getLogger("dita").level == logging.DEBUG
