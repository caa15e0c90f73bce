"""A strategy class whose ``__init__`` does not call ``Strategy.__init__`` is refused where the
instance is checked, naming the class and the call to add: ``add_strategy`` raised
``AttributeError: ... no attribute '_name'``, which says nothing of the cause."""

from __future__ import annotations

from typing import Any

import pytest

from dita import ExecutionKernel
from dita.backtest.engine import run_backtest
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Strategy

SAID = r"NoSuper whose __init__ does not call Strategy.__init__: call super\(\).__init__\(params, name=name\)"


class NoSuper(Strategy[Any]):
    def __init__(self, size: float = 1.0) -> None:
        self.size = size  # no super().__init__()


class WithSuper(Strategy[Any]):
    def __init__(self, size: float = 1.0, *, name: str | None = None) -> None:
        super().__init__(None, name=name)
        self.size = size


def test_add_strategy_refuses_a_strategy_that_skips_the_base_init_and_adds_nothing() -> None:
    runtime = TradingRuntime(ExecutionKernel(max_slots=1, kernel_id="skips-base-init"), [])
    with pytest.raises(TypeError, match=rf"add_strategy got a {SAID}"):
        runtime.add_strategy(NoSuper())
    assert runtime.status() == []
    runtime.add_strategy(WithSuper(name="ok"))
    runtime.on_bar(Bar("AAA", 1.7e9, 100.0, 101.0, 99.0, 100.0, 10.0))
    assert [s["status"] for s in runtime.status()] == ["RUNNING"]


def test_run_backtest_refuses_a_strategy_that_skips_the_base_init() -> None:
    with pytest.raises(TypeError, match=rf"run_backtest got a {SAID}"):
        run_backtest(NoSuper(), None)  # type: ignore[arg-type]
