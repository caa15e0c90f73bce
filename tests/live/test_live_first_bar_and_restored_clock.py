"""The bars a paper ``dita live`` run hands its strategies: the first is the period in progress
when the stream starts (the exchange's closing kline covers all of it), not dropped; a run
continued on its log hands no bar stamped at or before its paper venue's restored clock, which
refuses earlier data, even when that clock is ahead of this host's."""

from __future__ import annotations

import json
import time
from pathlib import Path

from binance_streams import BinanceStreamServer
from paper_runs import run_file

from dita.cli.live_run import LiveRun
from dita.live.config import load_config

RECORDER = """
from dita.strategy import Strategy


class BarRecorder(Strategy):
    data = ("bars",)
    bar_times: list[float] = []

    def on_bar(self, bar):
        BarRecorder.bar_times.append(bar.ts)
"""


def _run(tmp_path: Path, exchange: BinanceStreamServer, said: list[str]) -> tuple[LiveRun, list[float]]:
    # A module of its own per test: one name imported from two folders is refused.
    module = tmp_path / f"bar_recorder_{tmp_path.name}.py"
    module.write_text(RECORDER)
    path = tmp_path / "run.toml"
    table = f'[[strategies]]\nstrategy = "{module}:BarRecorder"'
    path.write_text(run_file("bars", tmp_path / "state", exchange.url, table))
    run = LiveRun(load_config(path), path, said.append)
    bar_times: list[float] = type(run.strategies[0][0]).bar_times
    bar_times.clear()
    return run, bar_times


def _bars_of(run: LiveRun, bar_times: list[float], count: int) -> list[float]:
    """The bars' times once ``count`` came, the run stopped and closed."""
    try:
        deadline = time.monotonic() + 30
        while len(bar_times) < count and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        run.stop()
        run.close()
    assert run.failure is None, run.failure
    return list(bar_times)


def _stream_start(run: LiveRun) -> list[float]:
    """Filled with the time the run's market stream starts: its first reading of its clock, after
    the exchange's markets loaded, which sets its first period. A loaded host may take past the
    next period's open to get there from ``run.start()``."""
    stream = run.feed.stream
    clock = stream._clock
    read: list[float] = []

    def reading() -> float:
        now = clock()
        read.append(now)
        return now

    stream._clock = reading
    return read


def test_the_first_bar_is_the_period_in_progress_at_the_start(
    tmp_path: Path, exchange: BinanceStreamServer
) -> None:
    run, bar_times = _run(tmp_path, exchange, [])
    started = _stream_start(run)
    run.start()
    bars = _bars_of(run, bar_times, 2)
    assert len(bars) >= 2, bars
    # The period the stream started in: opened before the start, closed after it.
    assert started, "the stream never read its clock"
    assert bars[0] <= started[0] < bars[0] + 1.0, (bars, started[0])
    assert bars[1] == bars[0] + 1.0, bars


def test_a_continued_run_hands_no_bar_at_or_before_its_restored_venue_clock(
    tmp_path: Path, exchange: BinanceStreamServer
) -> None:
    run, bar_times = _run(tmp_path, exchange, [])
    run.start()
    assert _bars_of(run, bar_times, 2), "the first run took no bar"
    # The venue's clock ahead of this host's (the state moved from a host whose clock ran ahead):
    # the bars of the next seconds are stamped before it.
    state_file = tmp_path / "state" / "bars.json"
    snap = json.loads(state_file.read_text())
    restored = snap["venue"]["now"] + 5.0
    snap["venue"]["now"] = restored
    snap["data_time"] = max(snap["data_time"], restored)
    state_file.write_text(json.dumps(snap))

    said: list[str] = []
    run, bar_times = _run(tmp_path, exchange, said)
    assert run.continued
    run.start()
    bars = _bars_of(run, bar_times, 2)
    assert bars and all(ts > restored for ts in bars), (bars, restored)
    assert any("restored paper venue's clock is" in line for line in said), said
