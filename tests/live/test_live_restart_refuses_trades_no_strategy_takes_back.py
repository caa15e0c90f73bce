"""A paper ``dita live`` run stopped with a trade open and started again on its log with its
strategy renamed (another class name): trades are taken back by the strategy's name, so that
trade is nobody's. The start is refused naming the trade and its strategy; started again under
the old name (the table's ``name``), the run takes the trade back."""

from __future__ import annotations

from pathlib import Path

import pytest
from binance_streams import BinanceStreamServer
from paper_runs import open_trades, run_file, started_until_a_trade_opens

from dita.cli.live_run import LiveRun, RunRefused
from dita.live.config import load_config

TABLE = """
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
    table = TABLE.format(strategy=strategy, name=name)
    path.write_text(run_file("renamed", tmp_path / "state", exchange.url, table))
    return LiveRun(load_config(path), path, said.append)


def test_a_restart_with_the_strategy_renamed_is_refused_naming_itsopen_trades(
    tmp_path: Path, exchange: BinanceStreamServer
) -> None:
    module = tmp_path / "renamed_strategies.py"
    module.write_text(STRATEGIES)
    said: list[str] = []
    run = _run(tmp_path, exchange, f"{module}:Trend", said)
    try:
        open_before = started_until_a_trade_opens(run)
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
    still_open = [t for t in open_trades(run) if t in open_before]
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
