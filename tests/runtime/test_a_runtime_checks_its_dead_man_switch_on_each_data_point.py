"""A ``TradingRuntime`` given a dead-man switch checks it on each data point: a strategy that hears
the data and sends nothing for longer than its limit trips it (docs/guides/operations.md)."""

from __future__ import annotations

import pytest

from dita import ExecutionKernel
from dita.runtime import TradingRuntime
from dita.runtime.dead_man import DeadManSettings, DeadManSwitch
from dita.strategy import Bar, Quote, Strategy


class Silent(Strategy):
    data = ("bars", "quotes")

    def on_bar(self, bar: Bar) -> None:  # hears the data, never sends an intent
        pass

    def on_quote(self, quote: Quote) -> None:
        pass


def test_a_silent_strategy_trips_the_switch_on_the_next_bar() -> None:
    now = [1_000.0]
    kernel = ExecutionKernel(max_slots=2)
    try:
        switch = DeadManSwitch(kernel, DeadManSettings(strategy_silence_s=60), clock=lambda: now[0])
        runtime = TradingRuntime(kernel, dead_man=switch)
        runtime.add_strategy(Silent())
        runtime.on_bar(Bar("BTCUSDT", 1_700_000_000.0, 100.0, 101.0, 99.0, 100.5, 1.0))
        assert switch.trips == []  # heard from within its limit
        now[0] += 3_600.0  # an hour of silence
        runtime.on_bar(Bar("BTCUSDT", 1_700_000_060.0, 100.0, 101.0, 99.0, 100.5, 1.0))
        assert [t.source for t in switch.trips] == ["strategy"]
        assert kernel.control()["mode"] == "REDUCE_ONLY"
    finally:
        kernel.close()


def test_a_quote_is_a_data_point_too() -> None:
    now = [1_000.0]
    kernel = ExecutionKernel(max_slots=2)
    try:
        switch = DeadManSwitch(kernel, DeadManSettings(strategy_silence_s=60), clock=lambda: now[0])
        runtime = TradingRuntime(kernel, dead_man=switch)
        runtime.add_strategy(Silent())
        now[0] += 3_600.0
        runtime.on_quote(Quote("BTCUSDT", 1_700_000_000.0, 100.0, 100.5, 1.0, 1.0))
        assert [t.source for t in switch.trips] == ["strategy"]
    finally:
        kernel.close()


def test_a_runtime_without_a_switch_changes_no_mode() -> None:
    kernel = ExecutionKernel(max_slots=2)
    try:
        runtime = TradingRuntime(kernel)
        runtime.add_strategy(Silent())
        runtime.on_bar(Bar("BTCUSDT", 1_700_000_000.0, 100.0, 101.0, 99.0, 100.5, 1.0))
        assert kernel.control()["mode"] != "REDUCE_ONLY"
    finally:
        kernel.close()


def test_a_switch_on_another_kernel_is_refused_naming_dead_man() -> None:
    """A trip of a switch on another kernel would set that kernel's mode, not the runtime's."""
    kernel, other = ExecutionKernel(max_slots=2), ExecutionKernel(max_slots=2)
    try:
        switch = DeadManSwitch(other, DeadManSettings(strategy_silence_s=60))
        with pytest.raises(ValueError, match=r"dead_man=.* must be a DeadManSwitch on this runtime's kernel"):
            TradingRuntime(kernel, dead_man=switch)
    finally:
        kernel.close()
        other.close()


def test_the_settings_given_for_the_switch_are_refused_naming_dead_man() -> None:
    """Taken, every data point would raise after the strategies heard it."""
    kernel = ExecutionKernel(max_slots=2)
    try:
        with pytest.raises(ValueError, match="dead_man=DeadManSettings"):
            TradingRuntime(kernel, dead_man=DeadManSettings(strategy_silence_s=60))  # type: ignore[arg-type]
    finally:
        kernel.close()
