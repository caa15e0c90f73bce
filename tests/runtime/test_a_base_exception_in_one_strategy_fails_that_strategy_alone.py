"""A strategy's callback raising a BaseException that is no operator's stop (an
asyncio.CancelledError from a task cancelled under it) puts that strategy alone in ERROR, as an
exception does, and the run goes on: the strategies after it hear the data point. Only a
KeyboardInterrupt (Ctrl-C; SIGTERM as its subclass Terminated) and a GeneratorExit end the run."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dita import ExecutionKernel
from dita._signals import Terminated
from dita.cli import app
from dita.runtime import StrategyStatus, TradingRuntime
from dita.strategy import Bar, Fill, Strategy
from dita.venues.paper import PaperVenue


class Raises(Strategy[Any]):
    """Raises ``raised`` from the callback named ``where`` (at the bar of ts 120 for on_bar)."""

    raised: BaseException = asyncio.CancelledError("the strategy's HTTP task was cancelled")
    where = "on_bar"

    def on_start(self) -> None:
        if self.where == "on_start":
            raise self.raised

    def on_bar(self, bar: Bar) -> None:
        if bar.ts == 60 and self.where == "on_fill":
            self.buy(bar.asset, 0.01, price=bar.close)
        if bar.ts == 120 and self.where == "on_bar":
            raise self.raised

    def on_fill(self, fill: Fill) -> None:
        if self.where == "on_fill":
            raise self.raised


class Hears(Strategy[Any]):
    def on_start(self) -> None:
        self.seen: list[float] = []

    def on_bar(self, bar: Bar) -> None:
        self.seen.append(bar.ts)


def _run(bad: Raises) -> tuple[TradingRuntime, Hears, ExecutionKernel]:
    venue = PaperVenue()
    kernel = ExecutionKernel(max_slots=4, venue=venue, kernel_id="base-exception")
    kernel.set_seed_capital(1_000.0)
    runtime = TradingRuntime(kernel, [venue])
    good = Hears(name="good")
    runtime.add_strategy(bad)
    runtime.add_strategy(good)
    return runtime, good, kernel


BARS = [Bar("BTCUSDT", t, 100.0, 101.0, 99.0, 100.0, 1.0) for t in (60, 120, 180)]


@pytest.mark.parametrize("where", ["on_start", "on_bar", "on_fill"])
def test_a_cancelled_error_in_one_strategy_fails_that_strategy_alone(where: str) -> None:
    bad = Raises(name="bad")
    bad.where = where
    runtime, good, kernel = _run(bad)
    with kernel:
        runtime.run(BARS)
        assert good.seen == [60, 120, 180]
        (failed, heard) = runtime.status()
        assert (failed["status"], failed["error_callback"]) == (StrategyStatus.ERROR.name, where), failed
        assert failed["error"].startswith("CancelledError: the strategy's HTTP task was cancelled")
        assert heard["status"] == StrategyStatus.RUNNING.name


@pytest.mark.parametrize("raised", [KeyboardInterrupt(), Terminated(), GeneratorExit()])
def test_an_operators_stop_raised_in_a_callback_still_ends_the_run(raised: BaseException) -> None:
    bad = Raises(name="bad")
    bad.raised = raised
    runtime, good, kernel = _run(bad)
    with kernel:
        with pytest.raises(type(raised)):
            runtime.run(BARS)
        assert good.seen == [60] and runtime.status()[0]["status"] == StrategyStatus.RUNNING.name


STRATEGY = """
import asyncio
from typing import Any
from dita.strategy import Strategy

class Cancels(Strategy[Any]):
    def on_start(self):
        self.n = 0

    def on_bar(self, bar):
        self.n += 1
        if self.n == 50:
            raise asyncio.CancelledError("the strategy's HTTP task was cancelled")
"""


def test_dita_paper_records_a_strategy_failed_by_a_cancelled_error_in_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As for any exception: the strategy in ERROR in the run's state file with its error, and the
    run, its only strategy failed, stopped saying so."""
    (tmp_path / "cancels_in_a_callback.py").write_text(STRATEGY)
    monkeypatch.syspath_prepend(str(tmp_path))
    state = tmp_path / "state"
    result = CliRunner().invoke(
        app,
        ["paper", "--strategy", "cancels_in_a_callback:Cancels", "--data", "sample", "--max-speed",
         "--state-dir", str(state), "--kernel-id", "base-exception-paper"],
    )  # fmt: skip
    assert not isinstance(result.exception, asyncio.CancelledError), result.output
    (strategy,) = json.loads((state / "base-exception-paper.json").read_text())["strategies"]
    assert strategy["status"] == "ERROR", strategy
    assert strategy["error"].startswith("CancelledError: the strategy's HTTP task was cancelled"), strategy
    assert "every strategy is in ERROR: the run was stopped" in result.output
