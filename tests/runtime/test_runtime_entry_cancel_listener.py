"""A listener raising on the answer to the runtime's cancel of a failed (or stopped) strategy's
working entry: the kernel took the cancel and the venue acknowledged it, yet the runtime logged
that the cancel raised, that the order "may still fill (a position the strategy will not exit)",
and counted it in ``error_cancels_failed``. The cancel is judged by the kernel's answer; the
listener's error is logged on its own, naming it."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from dita import ExecutionKernel, VenueEvent
from dita._kernel import MockVenueAdapter
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Strategy

BAR = Bar("AAA", 1.7e9, 100.0, 101.0, 99.0, 100.0, 1_000.0)


class Rests(Strategy[Any]):
    def on_bar(self, bar: Bar) -> None:
        self.buy("AAA", 1.0, price=100.0, limit=90.0)


class RestsThenFails(Rests):
    def on_bar(self, bar: Bar) -> None:
        super().on_bar(bar)
        raise ValueError("strategy bug")


def broken_on_cancel_ack(event: VenueEvent) -> None:
    if event.kind.name == "CANCEL_ACK":
        raise RuntimeError("dashboard listener broke")


@pytest.mark.parametrize("how", ["error", "stop"])
def test_a_listener_raising_on_the_cancels_answer_does_not_make_the_cancel_a_failure(
    how: str, caplog: pytest.LogCaptureFixture
) -> None:
    kernel = ExecutionKernel(max_slots=4, venue=MockVenueAdapter(fill_rate=0.0), kernel_id="cancel-listener")
    kernel.set_seed_capital(1_000_000.0)
    runtime = TradingRuntime(kernel, [])
    runtime.add_strategy(Rests(name="s") if how == "stop" else RestsThenFails(name="s"))
    runtime.event_listeners.append(broken_on_cancel_ack)
    with caplog.at_level(logging.WARNING, logger="dita.runtime"):
        runtime.on_bar(BAR)
        if how == "stop":
            runtime.stop("s")
    assert [kernel.slot_state(i).fsm_state.name for i in range(4)] == ["IDLE"] * 4
    assert runtime.stats[f"{how}_cancels"] == 1
    assert runtime.stats[f"{how}_cancels_failed"] == 0
    assert "may still fill" not in caplog.text
    assert "cancel sent for its working entry order cancel-listener-1" in caplog.text
    said = [r for r in caplog.records if "dashboard listener broke" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.ERROR
    assert "listener" in said[0].getMessage()
