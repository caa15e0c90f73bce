"""A live run polls the exchange every ``[venue] poll_interval`` seconds of its file, between bars
too: without the user stream each poll asks REST about each working order, so the file sets
what its resting orders weigh against the exchange's request budget."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from binance_streams import BinanceStreamServer

from dita.cli.live_run import LiveRun
from dita.live.config import POLL_INTERVAL_S, load_config

STRATEGY = """
from dita.strategy import Bar, Strategy


class RestsOneBuy(Strategy):
    \"\"\"A limit buy at half the first bar's close: it rests, and is asked about at each poll.\"\"\"

    sent = False

    def on_bar(self, bar: Bar) -> None:
        if not self.sent:
            self.sent = True
            limit = float(round(bar.close / 2))
            self.buy(bar.asset, 0.01, price=limit, limit=limit)
"""


def live_run(tmp_path: Path, exchange: BinanceStreamServer, venue: str) -> LiveRun:
    """A live run of ``RestsOneBuy`` on the local exchange, ``venue`` added to its [venue]."""
    module = tmp_path / f"resting_{tmp_path.name}.py"  # a module name of its own in the process
    module.write_text(STRATEGY)
    path = tmp_path / "run.toml"
    path.write_text(
        f"""
mode = "live"
kernel_id = "poll-interval"
state_dir = "{tmp_path / "state"}"
[venue]
exchange = "binance"
base_url = "{exchange.url}"
symbols = ["BTC/USDT"]
bar_interval = "1s"
api_key_env = "DITA_TEST_LIVE_KEY"
secret_env = "DITA_TEST_LIVE_SECRET"
{venue}
[[strategies]]
strategy = "{module}:RestsOneBuy"
source_run = "poll-interval-research"
[risk]
max_notional_total = 10000
[journal]
enabled = false
[gateway]
enabled = false
"""
    )
    return LiveRun(load_config(path), path, lambda line: None)


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DITA_TEST_LIVE_KEY", "fake-key")
    monkeypatch.setenv("DITA_TEST_LIVE_SECRET", "fake-secret")


@pytest.mark.parametrize(("venue", "seconds"), [("poll_interval = 7.5", 7.5), ("", POLL_INTERVAL_S)])
def test_the_files_poll_interval_is_the_live_runtimes(
    tmp_path: Path, exchange: BinanceStreamServer, venue: str, seconds: float
) -> None:
    run = live_run(tmp_path, exchange, venue)
    try:
        assert run.runtime.poll_interval == seconds
    finally:
        run.close()


def test_without_the_user_stream_a_resting_order_is_asked_about_once_a_poll_interval(
    tmp_path: Path, exchange: BinanceStreamServer
) -> None:
    run = live_run(tmp_path, exchange, "user_stream = false\npoll_interval = 3")
    try:
        run.start()
        deadline = time.monotonic() + 30
        while not run.kernel.open_orders() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert run.kernel.open_orders(), "the buy never rested"
        time.sleep(1.0)  # past the submit's own questions
        asked_before = exchange.rest_calls("GET", "/api/v3/order")
        time.sleep(6.0)
        asked = exchange.rest_calls("GET", "/api/v3/order") - asked_before
        # Every 3 s: 2 polls in 6 s, one more at a window's edge. At the runtime's 1 s, 6.
        assert 1 <= asked <= 3, f"{asked} order queries in 6 s at poll_interval 3"
    finally:
        run.stop()
        run.close()
