"""A run without a gateway stopped (SIGTERM, Ctrl-C) while the exchange takes its time over a
submit: the main thread takes the signal and stops the run, the strategies' thread books the
submit's answer and ends, and the stop says so without a traceback; the order it placed is named
as left working."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web
from binance_market import BinanceMarket
from binance_streams import BinanceStreamServer
from live_process import dita, ended, wait_for
from test_live_stop_names_the_orders_left_working import CONFIG, STRATEGY

SUBMIT_TAKES_S = 3.0


class SlowToPlace(BinanceStreamServer):
    """Answers a new order ``SUBMIT_TAKES_S`` late."""

    async def _new_order(self, request: web.Request) -> web.Response:
        await asyncio.sleep(SUBMIT_TAKES_S)
        return await super()._new_order(request)


@pytest.fixture
def slow_exchange() -> Iterator[SlowToPlace]:
    server = SlowToPlace(market=BinanceMarket(wave_s=3.0))
    try:
        yield server
    finally:
        server.close()


@pytest.mark.parametrize(("sent", "said"), [(signal.SIGTERM, "terminated"), (signal.SIGINT, "interrupted")])
def test_a_signal_during_a_slow_submit_stops_the_run_without_a_traceback(
    slow_exchange: SlowToPlace, tmp_path: Path, sent: signal.Signals, said: str
) -> None:
    strategy = tmp_path / f"resting_buyer_of_the_{said}_test.py"
    strategy.write_text(STRATEGY)
    config = tmp_path / "run.toml"
    config.write_text(CONFIG.format(state=tmp_path / "state", url=slow_exchange.url, strategy=strategy))
    log = tmp_path / "run.log"
    env = {"DITA_TEST_LIVE_KEY": "fake-key", "DITA_TEST_LIVE_SECRET": "fake-secret"}
    run = dita(log, "live", "--config", str(config), "--live", env=env)
    try:
        placing = lambda: "POST /api/v3/order" in slow_exchange.requests  # noqa: E731
        wait_for("the submit at the exchange", placing, 30, log, run)
        time.sleep(0.5)  # the strategies' thread waits in the submit
        run.send_signal(sent)
        assert run.wait(30) == 0, log.read_text()
    finally:
        ended(run)
    out = log.read_text()
    assert "Traceback" not in out and "Exception in thread" not in out, out
    assert said in out.splitlines(), out
    (order,) = slow_exchange.orders.values()
    wal = (tmp_path / "state" / "wal" / "left-working").resolve()
    assert (
        f"stop: 1 order left working at binance, taken back by a restart on {config} with its log in {wal}: "
        f"{order.client_id} BUY" in out
    )
