"""A stop of ``dita live`` leaves the book for a restart to take back, and says so: each order
still working at the exchange is named on stderr once the kernel closed, so an operator knows
what works on with no process following it."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from binance_streams import BinanceStreamServer
from live_process import dita, ended, wait_for

from dita import ExecutionKernel, InMemoryJournal, KernelIntent
from dita.cli._common import mock_venue
from dita.cli.live_run import LiveRun

STRATEGY = '''
from pydantic import BaseModel

from dita.strategy import Bar, Strategy


class NoParams(BaseModel):
    pass


class RestingBuyer(Strategy[NoParams]):
    """Rests one limit buy at half the first bar's close: it never fills."""

    Params = NoParams
    data = ("bars",)

    def on_start(self) -> None:
        self.sent = False

    def on_bar(self, bar: Bar) -> None:
        if not self.sent:
            self.sent = True
            self.buy(bar.asset, 0.01, price=bar.close, limit=round(bar.close / 2, 2))
'''

CONFIG = """
mode = "live"
kernel_id = "left-working"
state_dir = "{state}"

[venue]
exchange = "binance"
base_url = "{url}"
symbols = ["BTC/USDT"]
bar_interval = "1s"
api_key_env = "DITA_TEST_LIVE_KEY"
secret_env = "DITA_TEST_LIVE_SECRET"

[[strategies]]
strategy = "{strategy}:RestingBuyer"
source_run = "research-1"

[journal]
enabled = false

[gateway]
enabled = false
"""


ENV = {"DITA_TEST_LIVE_KEY": "fake-key", "DITA_TEST_LIVE_SECRET": "fake-secret"}


def resting_buyer(
    exchange: BinanceStreamServer, tmp_path: Path
) -> tuple[Path, Path, subprocess.Popen[bytes]]:
    """``dita live --live`` on ``exchange`` whose strategy rests one buy: its config, its log, and
    the process, once the order rests at the exchange (the caller ends the process)."""
    strategy = tmp_path / "resting_buyer.py"
    strategy.write_text(STRATEGY)
    config = tmp_path / "run.toml"
    config.write_text(CONFIG.format(state=tmp_path / "state", url=exchange.url, strategy=strategy))
    log = tmp_path / "run.log"
    run = dita(log, "live", "--config", str(config), "--live", env=ENV)
    try:
        wait_for("the resting order at the exchange", lambda: len(exchange.orders) == 1, 30, log, run)
    except BaseException:
        ended(run)
        raise
    return config, log, run


def test_a_stop_names_each_order_it_leaves_working_at_the_exchange(
    exchange: BinanceStreamServer, tmp_path: Path
) -> None:
    config, log, run = resting_buyer(exchange, tmp_path)
    try:
        (order,) = exchange.orders.values()
        run.send_signal(signal.SIGTERM)
        assert run.wait(15) == 0, log.read_text()
    finally:
        ended(run)
    said = log.read_text()
    assert order.status == "NEW", said  # left working, as a restart takes it back
    (line,) = [line for line in said.splitlines() if line.startswith("stop: ")]
    wal = (tmp_path / "state" / "wal" / "left-working").resolve()
    assert line.startswith(
        f"stop: 1 order left working at binance, taken back by a restart on {config} with its log in {wal}: "
        f"{order.client_id} BUY 0.01 BTCUSDT LIMIT at "
    ), said
    assert said.index("terminated") < said.index("stop: ") and "Traceback" not in said


class _JournalRefusedAtTheStop(InMemoryJournal):
    def release(self, kernel: ExecutionKernel) -> None:
        super().release(kernel)
        raise RuntimeError("journal: 12 rows not written (the database refused them)")


def test_the_orders_left_working_are_told_though_the_kernels_close_failed(tmp_path: Path) -> None:
    """A close that raises (its log's disk full, a journal refusing its last rows) left the
    operator without the list, though the orders work on at the exchange all the same."""
    kernel = ExecutionKernel(
        max_slots=1, kernel_id="left", venue=mock_venue(fill_rate=0.0), journal=_JournalRefusedAtTheStop()
    )
    kernel.set_seed_capital(1e6)
    kernel.process_intent(
        KernelIntent(
            intent_id="i1", trade_id="t1", slot_id=0, asset="BTCUSDT", side="LONG", action="ENTER",
            reference_price=100.0, target_size=1.0, timestamp=1_700_000_000.0,
        )
    )  # fmt: skip
    assert len(kernel.open_orders()) == 1
    said: list[str] = []
    run = LiveRun.__new__(LiveRun)  # the close alone, not a run's set-up
    run.say, run.kernel, run.market_source = said.append, kernel, SimpleNamespace(close=lambda: None)
    run._left_told, run.dead_man = False, None
    run.config = SimpleNamespace(
        mode="live", venue=SimpleNamespace(exchange="binance"), wal_dir=lambda: tmp_path / "wal"
    )
    run.config_path = tmp_path / "live.toml"
    with pytest.raises(RuntimeError, match="rows not written"):
        run.close()
    assert [line for line in said if line.startswith("stop: 1 order left working at binance")], said
