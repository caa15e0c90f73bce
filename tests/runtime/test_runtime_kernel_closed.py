"""A strategy that submits after its runtime's kernel was closed (a shutdown from another
thread, a write-ahead log that failed) is refused with ``KernelClosed`` naming why, and is
stopped (its ``on_stop`` called), not put in ERROR. Were the kernel's RuntimeError to escape
its callback, each strategy in turn would go to ERROR with a traceback: an operator would read
that every strategy had failed, when none had done anything wrong."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dita import ExecutionKernel
from dita.runtime import KernelClosed, StrategyStatus, TradingRuntime
from dita.runtime.orders import OrderSubmission
from dita.strategy import Bar, Strategy


class Buyer(Strategy[Any]):
    def on_start(self) -> None:
        self.refusals: list[str] = []
        self.stopped = False

    def on_bar(self, bar: Bar) -> None:
        self.buy(bar.asset, 0.01, price=bar.close)

    def on_stop(self) -> None:
        self.stopped = True


class Careful(Buyer):
    """Catches the refusal itself and goes on hearing data."""

    def on_bar(self, bar: Bar) -> None:
        try:
            super().on_bar(bar)
        except KernelClosed as exc:
            self.refusals.append(str(exc))


class Edgy(Buyer):
    def on_bar(self, bar: Bar) -> None:
        self.report_edge(bar.asset, 5.0)


def bar(minute: int) -> Bar:
    return Bar("BTCUSDT", 1_704_067_200.0 + 60 * minute, 100.0, 101.0, 99.0, 100.0, 1.0)


def test_strategies_submitting_to_a_closed_kernel_are_stopped_not_errored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kernel = ExecutionKernel(max_slots=8, kernel_id="closed-k")
    runtime = TradingRuntime(kernel)
    a, b, c, e = Buyer(name="a"), Buyer(name="b"), Careful(name="c"), Edgy(name="e")
    for s in (a, b, c, e):
        runtime.add_strategy(s)
    runtime.on_bar(bar(0))
    assert [h.status for h in runtime.handles.values()] == [StrategyStatus.RUNNING] * 4
    kernel.close()

    with caplog.at_level("WARNING", logger="dita.runtime"):
        runtime.on_bar(bar(1))
        runtime.on_bar(bar(2))

    by_name = {row["name"]: row for row in runtime.status()}
    for name in ("a", "b", "e"):
        assert by_name[name]["status"] == "STOPPED", by_name[name]
        assert by_name[name]["error"] == ""
    assert a.stopped and b.stopped and e.stopped
    # One that catches the refusal runs on: refused at each submit, with the kernel's reason.
    assert by_name["c"]["status"] == "RUNNING"
    assert len(c.refusals) == 2
    assert 'kernel "closed-k" is closed' in c.refusals[0]
    assert not any(r.levelname == "ERROR" for r in caplog.records)
    stopped = [r.getMessage() for r in caplog.records if "stopped" in r.getMessage()]
    assert len(stopped) == 3
    assert all('kernel "closed-k" is closed' in m for m in stopped)


def test_a_submit_refused_so_is_a_runtime_error() -> None:
    """Code that caught the RuntimeError of a closed kernel still catches it."""
    assert issubclass(KernelClosed, RuntimeError)


def test_a_kernel_closed_between_the_check_and_the_submit_still_stops_the_strategy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another thread closes the kernel after the runtime's look at it and before the intent
    reaches it: the kernel's own RuntimeError stands for a closed kernel, and stops the strategy
    rather than putting it in ERROR."""
    kernel = ExecutionKernel(max_slots=8, kernel_id="race-k")
    runtime = TradingRuntime(kernel)
    a = Buyer(name="a")
    runtime.add_strategy(a)
    runtime.on_bar(bar(0))
    looked = OrderSubmission._refuse_on_closed_kernel
    looks: list[Callable[[], str]] = []

    def look_then_close(self: OrderSubmission, what: Callable[[], str]) -> None:
        looked(self, what)  # open: passes
        looks.append(what)
        if len(looks) == 2:  # the submit's last look, before sync_marks and the intent
            kernel.close()  # the shutdown on another thread lands here

    monkeypatch.setattr(OrderSubmission, "_refuse_on_closed_kernel", look_then_close)
    runtime.on_bar(bar(1))
    (row,) = runtime.status()
    assert row["status"] == "STOPPED" and row["error"] == "", row
    assert a.stopped
