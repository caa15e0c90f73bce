"""A live run's stop ends the strategies on their own thread: their ``on_stop`` never runs beside
a data point's callbacks, and the run's end takes the venue's last news (``finish``) first. A
thread that does not end within the stop's wait is said, and its strategies are not stopped
from under it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from bare_run import bare_run

from dita import ExecutionKernel
from dita.cli import live_run
from dita.cli.live_run import LiveRun
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Strategy

THREAD = "dita-live-strategies"


class SlowOnBars(Strategy[Any]):
    """Its ``on_bar`` waits for ``go`` once a bar came (a slow callback); says where ``on_stop``
    runs."""

    def on_start(self) -> None:
        self.in_bar = threading.Event()
        self.go = threading.Event()
        self.busy = False
        self.stopped: list[tuple[str, bool]] = []

    def on_bar(self, bar: Bar) -> None:
        self.busy = True
        self.in_bar.set()
        self.go.wait(10)
        self.busy = False

    def on_stop(self) -> None:
        self.stopped.append((threading.current_thread().name, self.busy))


class Bars:
    """A bar a second's worth apart until the run is asked to stop."""

    def items(self, should_stop: Callable[[], bool], not_before: float) -> Iterator[Bar]:
        ts = 1.7e9
        while not should_stop():
            ts += 1.0
            yield Bar("AAA", ts, 100.0, 101.0, 99.0, 100.0, 1.0)

    def close(self) -> None:
        return None


def a_run(said: list[str]) -> tuple[LiveRun, SlowOnBars, list[str], ExecutionKernel]:
    """A LiveRun around a runtime and a feed of its own (the stack a config builds left out)."""
    kernel = ExecutionKernel(max_slots=2, kernel_id="live-stop")
    kernel.set_seed_capital(10_000.0)
    runtime = TradingRuntime(kernel, [])
    strategy = SlowOnBars(name="slow")
    runtime.add_strategy(strategy)
    finished: list[str] = []
    finish = runtime.finish

    def finish_heard() -> None:
        finished.append(threading.current_thread().name)
        finish()

    runtime.finish = finish_heard  # type: ignore[method-assign]
    return bare_run(runtime, said, Bars()), strategy, finished, kernel


def test_a_stop_ends_the_strategies_on_their_thread_after_the_last_poll() -> None:
    said: list[str] = []
    run, strategy, finished, kernel = a_run(said)
    with kernel:
        run.start()
        assert strategy.in_bar.wait(10)
        threading.Timer(0.3, strategy.go.set).start()  # the callback ends after the stop began
        run.stop()
        assert strategy.stopped == [(THREAD, False)]
        assert finished == [THREAD]
        assert not said


def test_a_thread_that_does_not_end_in_time_is_said_and_not_stopped_under(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(live_run, "STOP_WAIT_S", 0.2)
    said: list[str] = []
    run, strategy, finished, kernel = a_run(said)
    with kernel:
        run.start()
        assert strategy.in_bar.wait(10)
        run.stop()
        assert strategy.stopped == []
        assert any("did not end within 0.2s" in line for line in said), said
        strategy.go.set()
        assert run._thread is not None
        run._thread.join(10)
        assert strategy.stopped == [(THREAD, False)]
        assert finished == [THREAD]


class StuckOnStop(Strategy[Any]):
    """Its ``on_stop`` waits for ``go`` (a stop stuck in a strategy)."""

    def on_start(self) -> None:
        self.go = threading.Event()
        self.stopped_on: list[str] = []

    def on_stop(self) -> None:
        self.go.wait(10)
        self.stopped_on.append(threading.current_thread().name)


def test_a_run_stopped_before_it_traded_waits_for_a_stuck_on_stop_no_longer_than_a_trading_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stopped while its strategies started (no strategies' thread yet), the run ran each
    ``on_stop`` on the caller's thread, with no limit: a stuck one held the stop for good, while
    `dita live` told the operator the strategies had at most STOP_WAIT_S."""
    monkeypatch.setattr(live_run, "STOP_WAIT_S", 0.2)
    said: list[str] = []
    kernel = ExecutionKernel(max_slots=2, kernel_id="live-stop")
    runtime = TradingRuntime(kernel, [])
    strategy = StuckOnStop(name="stuck")
    runtime.add_strategy(strategy)
    run = bare_run(runtime, said, Bars())
    with kernel:
        strategy.on_start()  # started, as run.start() would, then the signal: no thread yet
        run.stop()
        assert strategy.stopped_on == []  # still inside it: the stop did not wait for good
        assert any("did not end within 0.2s" in line for line in said), said
        strategy.go.set()
        deadline = time.monotonic() + 5
        while not strategy.stopped_on and time.monotonic() < deadline:
            time.sleep(0.02)
        assert strategy.stopped_on == ["dita-live-stop"]
