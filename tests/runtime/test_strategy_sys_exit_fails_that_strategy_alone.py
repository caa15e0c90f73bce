"""A strategy calling ``sys.exit`` in a callback fails alone, as one raising an exception does:
the loader already refuses a module's sys.exit at import as the strategy's fault, but in a
callback it ended the whole data point, the strategies after it never hearing the bar and none
put in ERROR. A KeyboardInterrupt (Ctrl-C, a SIGTERM) is the operator's and still ends the run."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from dita import ExecutionKernel
from dita._kernel import MockVenueAdapter
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Fill, Strategy

BAR = Bar("AAA", 1.7e9, 100.0, 101.0, 99.0, 100.0, 10.0)


class Exits(Strategy[Any]):
    """Gives up the way a script does, in the callback ``exits_in``."""

    exits_in = "on_bar"

    def on_start(self) -> None:
        self._exit_if("on_start")

    def on_bar(self, bar: Bar) -> None:
        self._exit_if("on_bar")
        if self.exits_in == "on_fill":
            self.buy(bar.asset, 1.0, price=bar.close)

    def on_fill(self, fill: Fill) -> None:
        self._exit_if("on_fill")

    def on_stop(self) -> None:
        self._exit_if("on_stop")

    def _exit_if(self, callback: str) -> None:
        if self.exits_in == callback:
            sys.exit(1)


class Hears(Strategy[Any]):
    def on_start(self) -> None:
        self.bars: list[Bar] = []

    def on_bar(self, bar: Bar) -> None:
        self.bars.append(bar)


def runtime_with(exits_in: str) -> tuple[TradingRuntime, Hears]:
    kernel = ExecutionKernel(max_slots=4, venue=MockVenueAdapter(), kernel_id=f"sys-exit-{exits_in}")
    kernel.set_seed_capital(100_000.0)
    runtime = TradingRuntime(kernel, [])
    quits = Exits(name="quits")
    quits.exits_in = exits_in
    runtime.add_strategy(quits)
    other = Hears(name="other")
    runtime.add_strategy(other)
    return runtime, other


@pytest.mark.parametrize("callback", ["on_start", "on_bar", "on_fill"])
def test_a_strategy_calling_sys_exit_in_a_callback_fails_alone(callback: str) -> None:
    runtime, other = runtime_with(callback)
    runtime.on_bar(BAR)
    assert [b.ts for b in other.bars] == [BAR.ts]
    status = {s["name"]: s for s in runtime.status()}
    assert status["quits"]["status"] == "ERROR"
    assert (status["quits"]["error"], status["quits"]["error_callback"]) == ("SystemExit: 1", callback)
    assert status["other"]["status"] == "RUNNING"


def test_a_strategy_calling_sys_exit_in_on_stop_fails_alone() -> None:
    runtime, _ = runtime_with("on_stop")
    runtime.on_bar(BAR)
    runtime.stop()
    status = {s["name"]: s["status"] for s in runtime.status()}
    assert status == {"quits": "ERROR", "other": "STOPPED"}


def test_a_keyboard_interrupt_in_a_callback_still_ends_the_data_point() -> None:
    class Interrupted(Strategy[Any]):
        def on_bar(self, bar: Bar) -> None:
            raise KeyboardInterrupt

    kernel = ExecutionKernel(max_slots=4, venue=MockVenueAdapter(), kernel_id="sys-exit-ctrl-c")
    runtime = TradingRuntime(kernel, [])
    runtime.add_strategy(Interrupted(name="ctrl-c"))
    with pytest.raises(KeyboardInterrupt):
        runtime.on_bar(BAR)
    assert runtime.status()[0]["status"] == "RUNNING"
