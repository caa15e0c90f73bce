"""A paper ``dita live`` run stopped with a trade open and started again on its log with its
strategy renamed (another class name): trades are taken back by the strategy's name, so that
trade is nobody's. The start is refused naming the trade and its strategy; started again under
the old name (the table's ``name``), the run takes the trade back."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from binance_streams import BinanceStreamServer

from dita.cli.live_run import LiveRun, RunRefused
from dita.live.config import load_config

RUN = """
kernel_id = "renamed"
state_dir = "{state}"
[journal]
enabled = false
[gateway]
enabled = false
[venue]
exchange = "binance"
base_url = "{url}"
symbols = ["BTC/USDT"]
bar_interval = "1s"
[[strategies]]
strategy = "{strategy}"
{name}
params = {{ fast = 1, slow = 2, trade_size = 0.01, allow_short = false }}
"""

STRATEGIES = """
from dita.examples.crossover import SmaCrossover


class Trend(SmaCrossover):
    pass


class TrendV2(SmaCrossover):
    pass
"""


def _run(
    tmp_path: Path, exchange: BinanceStreamServer, strategy: str, said: list[str], name: str = ""
) -> LiveRun:
    path = tmp_path / "run.toml"
    path.write_text(RUN.format(state=tmp_path / "state", url=exchange.url, strategy=strategy, name=name))
    return LiveRun(load_config(path), path, said.append)


def _open_trades(run: LiveRun) -> list[str]:
    return [s["trade_id"] for s in run.kernel.slots() if s.get("fsm_state") not in ("IDLE", "CLOSED")]


def test_a_restart_with_the_strategy_renamed_is_refused_naming_its_open_trades(
    tmp_path: Path, exchange: BinanceStreamServer
) -> None:
    module = tmp_path / "renamed_strategies.py"
    module.write_text(STRATEGIES)
    said: list[str] = []
    run = _run(tmp_path, exchange, f"{module}:Trend", said)
    run.start()
    deadline = time.monotonic() + 60
    try:
        while not _open_trades(run) and time.monotonic() < deadline:
            time.sleep(0.2)
        open_before = _open_trades(run)
        assert open_before, said
    finally:
        run.stop()
        run.close()

    run = _run(tmp_path, exchange, f"{module}:TrendV2", said)
    try:
        with pytest.raises(RunRefused) as refused:
            run.start()
    finally:
        run.stop()
        run.close()
    still_open = [t for t in _open_trades(run) if t in open_before]
    assert still_open, "the trade ended across the restart"
    assert all(t in str(refused.value) for t in still_open), refused.value
    assert "of strategy 'Trend'" in str(refused.value), refused.value
    assert "runs 'TrendV2'" in str(refused.value), refused.value
    assert 'name = "Trend"' in str(refused.value), refused.value

    # The renamed class under the old name (the table's ``name``) takes the trade back.
    run = _run(tmp_path, exchange, f"{module}:TrendV2", said, name='name = "Trend"')
    try:
        run.start()
        assert all(run.runtime.trade_owner(t) == "Trend" for t in still_open)
    finally:
        run.stop()
        run.close()
