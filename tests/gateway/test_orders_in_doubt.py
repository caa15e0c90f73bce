"""An order in doubt (rate limited before its ack, with a cancel asked: it may still work at the
venue) is shown wherever the book's orders are: GET /v1/orders marks it ``in_doubt``, `dita
orders` lists it from the slot that keeps it, and /metrics counts it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dita.cli import app
from dita.cli._state import write_state_file
from gateway.helpers import (
    LimitsRest,
    LiveServer,
    enter,
    serving_an_order_in_doubt,
    start_server,
)
from gateway.test_trading_gauges import gauge, scraped


@pytest.fixture
def in_doubt() -> Iterator[tuple[LiveServer, str]]:
    with serving_an_order_in_doubt() as (live, _, coid):
        yield live, coid


def test_v1_orders_lists_an_order_in_doubt_marked_in_doubt(in_doubt: tuple[LiveServer, str]) -> None:
    live, coid = in_doubt
    (order,) = live.client.get("/v1/orders").json()
    assert (order["client_order_id"], order["slot_id"], order["in_doubt"]) == (coid, 0, True)
    assert (order["asset"], order["size"], order["cancel_requested"]) == ("BTCUSDT", 0.5, True)


def test_v1_orders_marks_a_working_order_not_in_doubt() -> None:
    live = start_server(max_slots=2, venue=LimitsRest)
    try:
        rest = enter(live.client, order_type="LIMIT", limit_price=49_000.0)
        assert rest["state"] == "ENTRY_WORKING"
        (order,) = live.client.get("/v1/orders").json()
        assert order["in_doubt"] is False
    finally:
        live.stop()


def test_dita_orders_lists_an_order_in_doubt(in_doubt: tuple[LiveServer, str], tmp_path: Path) -> None:
    live, coid = in_doubt
    kernel = live.app.state.kernel
    write_state_file(tmp_path, {"kernel_id": kernel.kernel_id, "running": False, "slots": kernel.slots()})
    runner = CliRunner()
    shown = runner.invoke(app, ["orders", "--state-dir", str(tmp_path), "--json"])
    assert shown.exit_code == 0, shown.output
    (row,) = [o for o in json.loads(shown.stdout) if o["client_order_id"] == coid]
    assert (row["slot_id"], row["asset"], row["status"], row["in_doubt"]) == (0, "BTCUSDT", "IN_DOUBT", True)
    table = runner.invoke(app, ["orders", "--state-dir", str(tmp_path)], terminal_width=200)
    assert table.exit_code == 0 and "IN_DOUBT" in table.stdout and coid in table.stdout, table.stdout


def test_metrics_count_the_orders_in_doubt(in_doubt: tuple[LiveServer, str]) -> None:
    live, _coid = in_doubt
    kernel_id = live.app.state.kernel.kernel_id
    assert gauge(scraped(live), "dita_kernel_orders_in_doubt", kernel_id) == 1.0
