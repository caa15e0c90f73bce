"""A paced replay (``run(speed=...)``) asks ``should_stop`` while it waits for the next data
point's time, not only once per point: asked once per point, a gap in the data (hourly bars, a
weekend, an exchange outage) at ``--speed 60`` would wait a minute or hours before ``dita paper
--duration`` (or every strategy in ERROR) is looked at again, and then handle one more row past
the stop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import dita.runtime.feeds
from dita import ExecutionKernel
from dita.cli import app
from dita.runtime import TradingRuntime
from dita.venues import ShadowVenue
from runtime.points import T0, bar

CROSSOVER = "dita.examples.crossover:SmaCrossover"


class FakeClock:
    """``time`` as the runtime reads it, with a sleep that moves the clock at once."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return T0 + self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_stop_during_a_paced_wait_ends_the_run_before_the_next_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(dita.runtime.feeds, "time", clock)
    kernel = ExecutionKernel(max_slots=2, venue=ShadowVenue(), kernel_id="paced-stop")
    runtime = TradingRuntime(kernel)
    asked: list[float] = []

    def should_stop() -> bool:
        asked.append(clock.now)
        return clock.now >= 5.0  # --duration 5

    # Bars an hour apart at 60x: 60 s of wall time between two of them.
    feed = [bar(0), bar(60), bar(120)]
    assert runtime.run(feed, speed=60.0, should_stop=should_stop) == 1
    assert runtime.data_points == 1  # the bar after the stop was not handled
    # Stopped within a second of the stop, not at the end of the minute's wait.
    assert 5.0 <= clock.now <= 6.0, clock.slept
    assert len(asked) > 2


def test_a_paced_wait_without_a_stop_keeps_the_data_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    """Waited in steps, the pace is the data's all the same."""
    clock = FakeClock()
    monkeypatch.setattr(dita.runtime.feeds, "time", clock)
    kernel = ExecutionKernel(max_slots=2, venue=ShadowVenue(), kernel_id="paced-on")
    runtime = TradingRuntime(kernel)
    assert runtime.run([bar(0), bar(60), bar(120)], speed=60.0, should_stop=lambda: False) == 3
    assert clock.now == pytest.approx(120.0)


def test_paper_duration_stops_a_paced_replay_in_a_gap_between_rows(tmp_path: Path) -> None:
    """Ten-minute bars at --speed 60 are 10 s apart: --duration 3 ran for 10 s and two rows.
    (3 s, not less: the deadline runs from before the first row, which a loaded machine delays.)"""
    lines = [f"{int(T0) + 600 * i},{100 + i},{101 + i},{99 + i},{100 + i},10\n" for i in range(5)]
    data = tmp_path / "bars_10m.csv"
    data.write_text("timestamp,open,high,low,close,volume\n" + "".join(lines))
    state = tmp_path / "state"
    args = ["paper", "--strategy", CROSSOVER, "--data", str(data), "--speed", "60", "--duration", "3"]
    result = CliRunner().invoke(app, [*args, "--state-dir", str(state), "--kernel-id", "gap"])
    assert result.exit_code == 0, result.output
    assert json.loads((state / "gap.json").read_text())["rows"] == 1
