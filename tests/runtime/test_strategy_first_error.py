"""The error a strategy's status shows is the one that put it in ERROR."""

from __future__ import annotations

from typing import Any

from dita import ExecutionKernel
from dita._kernel import MockVenueAdapter
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Fill, Strategy

BAR = Bar("AAA", 1.7e9, 100.0, 101.0, 99.0, 100.0, 10.0)


class FailsInOnFill(Strategy[Any]):
    def on_bar(self, bar: Bar) -> None:
        self.buy(bar.asset, 1.0, price=bar.close)
        self.buy(bar.asset, 1.0, price=bar.close)  # after on_fill failed: refused by the runtime

    def on_fill(self, fill: Fill) -> None:
        raise KeyError("boom in on_fill")


def test_the_error_reported_is_the_one_that_stopped_the_strategy() -> None:
    kernel = ExecutionKernel(max_slots=4, venue=MockVenueAdapter(), kernel_id="rev-err")
    kernel.set_seed_capital(100_000.0)
    runtime = TradingRuntime(kernel, [])
    runtime.add_strategy(FailsInOnFill(name="f"))
    runtime.start()
    runtime.on_bar(BAR)
    status = runtime.status()[0]
    assert status["status"] == "ERROR"
    assert status["error"] == "KeyError: 'boom in on_fill'"
    assert status["error_callback"] == "on_fill"


def test_the_error_is_logged_with_its_traceback_once(caplog: Any) -> None:
    # status() keeps "KeyError: ..." only: without the traceback in the log, the author of a
    # long strategy cannot tell which line raised.
    kernel = ExecutionKernel(max_slots=4, venue=MockVenueAdapter(), kernel_id="rev-err-log")
    kernel.set_seed_capital(100_000.0)
    runtime = TradingRuntime(kernel, [])
    runtime.add_strategy(FailsInOnFill(name="f"))
    runtime.start()
    with caplog.at_level("ERROR", logger="dita.runtime"):
        runtime.on_bar(BAR)
    records = [r for r in caplog.records if r.name == "dita.runtime"]
    assert len(records) == 1
    record = records[0]
    assert "strategy 'f' failed in on_fill" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is KeyError
    assert "in on_fill" in caplog.text and "boom in on_fill" in caplog.text
