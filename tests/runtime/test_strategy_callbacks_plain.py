"""A callback the runtime could never run (an ``async def``, or a ``def`` holding a ``yield``)
is refused when the class is loaded or instantiated, naming it.

The runtime calls callbacks and goes on: such a callback returned a coroutine or a generator
and its body never ran. The strategy read RUNNING and never traded (a RuntimeWarning about
an unawaited coroutine the only sign; a generator gave none), and an ``on_fill`` that would
raise never put it in ERROR.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from dita.strategy import Bar, Fill, Strategy, StrategyLoadError, load_strategy_class


class _Async(Strategy[Any]):
    async def on_bar(self, bar: Bar) -> None:  # type: ignore[override]
        self.buy(bar.asset, 1.0, price=bar.close)


class _Generator(Strategy[Any]):
    def on_bar(self, bar: Bar) -> Iterator[None]:  # type: ignore[override]
        self.buy(bar.asset, 1.0, price=bar.close)
        yield


class _AsyncGenerator(Strategy[Any]):
    async def on_fill(self, fill: Fill) -> AsyncIterator[None]:  # type: ignore[override]
        yield


class _AsyncStart(Strategy[Any]):
    async def on_start(self) -> None:  # type: ignore[override]
        pass


@pytest.mark.parametrize(
    ("cls", "callback", "said"),
    [
        (_Async, "on_bar", "an async def"),
        (_Generator, "on_bar", "a generator"),
        (_AsyncGenerator, "on_fill", "an async generator"),
        (_AsyncStart, "on_start", "an async def"),
    ],
)
def test_a_callback_the_runtime_cannot_run_is_refused_naming_it(
    cls: type[Strategy[Any]], callback: str, said: str
) -> None:
    with pytest.raises(StrategyLoadError, match=rf"{cls.__qualname__}\.{callback} is {said}"):
        cls()


def test_loading_such_a_class_refuses_it(tmp_path: Path) -> None:
    path = tmp_path / "async_strategy.py"
    path.write_text(
        "from dita.strategy import Strategy\n\n"
        "class Waits(Strategy):\n"
        "    async def on_quote(self, quote):\n"
        "        pass\n"
    )
    with pytest.raises(StrategyLoadError, match=r"Waits\.on_quote is an async def: .* plain def"):
        load_strategy_class(f"{path}:Waits")
