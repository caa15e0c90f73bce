"""A feed or column of the caller's own that raises while the runtime reads it (a generator
reading a file, a column computed on demand) is raised as ``ArgumentReadError`` naming the
argument and the item or rows, the caller's error its cause: it came out bare, and a long
replay did not say which row it had reached. The rows before it stand, handled; nothing of
the failed one is: the clock is at the last row handled, and the replay continues from there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dita import ArgumentReadError
from dita.kernel import ExecutionKernel
from dita.runtime import ROWS_PER_CHUNK, TradingRuntime
from dita.strategy import Bar, Strategy
from dita.venues import PaperVenue


class _FileGone(OSError):
    """The caller's own error, as a generator reading a file would raise."""


class _Hears(Strategy[Any]):
    data = ("bars",)

    def __init__(self) -> None:
        super().__init__()
        self.heard: list[float] = []

    def on_bar(self, bar: Bar) -> None:
        self.heard.append(bar.ts)


def _bar(ts: float) -> Bar:
    return Bar("BTCUSDT", ts, 100.0, 101.0, 99.0, 100.0, 1_000.0)


def _bars_then(error: BaseException, rows: int) -> Iterator[Bar]:
    for n in range(rows):
        yield _bar(60.0 * (n + 1))
    raise error


def _runtime() -> tuple[ExecutionKernel, TradingRuntime, _Hears]:
    venue = PaperVenue()
    kernel = ExecutionKernel(venue=venue, kernel_id="k")
    runtime = TradingRuntime(kernel, [venue])
    strategy = _Hears()
    runtime.add_strategy(strategy)
    return kernel, runtime, strategy


@settings(max_examples=20, deadline=None)
@given(rows=st.integers(min_value=0, max_value=6))
def test_a_feed_raising_names_the_item_and_leaves_the_clock_at_the_last_row_handled(rows: int) -> None:
    kernel, runtime, strategy = _runtime()
    with pytest.raises(
        ArgumentReadError, match=rf"^run\(\): reading feed item {rows} raised _FileGone: gone"
    ) as info:
        runtime.run(_bars_then(_FileGone("gone"), rows))
    assert isinstance(info.value.__cause__, _FileGone)
    assert (info.value.argument, info.value.item) == ("feed", rows)
    assert runtime.row == rows - 1
    assert strategy.heard == [60.0 * (n + 1) for n in range(rows)]
    if rows:
        assert runtime.now() == 60.0 * rows
    # The replay continues from the row after the last one handled, as if it had not failed.
    assert runtime.run(_bar(60.0 * (n + 1)) for n in range(rows, rows + 2)) == 2
    assert strategy.heard == [60.0 * (n + 1) for n in range(rows + 2)]
    kernel.close()


@pytest.mark.parametrize("stop", [KeyboardInterrupt(), SystemExit(3)], ids=["ctrl-c", "exit"])
def test_an_interrupt_from_the_feed_passes_as_it_is(stop: BaseException) -> None:
    kernel, runtime, _ = _runtime()
    with pytest.raises(type(stop)) as info:
        runtime.run(_bars_then(stop, 2))
    assert info.value is stop and runtime.row == 1
    kernel.close()


class _Unreadable(list[float]):
    """A column whose rows past ``fails_at`` cannot be read (a store gone away)."""

    def __init__(self, values: list[float], fails_at: int) -> None:
        super().__init__(values)
        self.fails_at = fails_at

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice) and index.start >= self.fails_at:
            raise _FileGone("the store went away")
        return super().__getitem__(index)


def test_a_column_raising_names_it_and_its_rows_and_the_rows_before_stand() -> None:
    kernel, runtime, strategy = _runtime()
    n = ROWS_PER_CHUNK + 3
    ts = [60.0 * (i + 1) for i in range(n)]
    close = _Unreadable([100.0] * n, fails_at=ROWS_PER_CHUNK)
    columns = [[100.0] * n, [101.0] * n, [99.0] * n, close, [1_000.0] * n]
    rows = rf"rows {ROWS_PER_CHUNK:,} to {n - 1:,} of columns\[3\] \(close\)"
    with pytest.raises(
        ArgumentReadError, match=rf"^run_columns\(\): reading {rows} raised _FileGone"
    ) as info:
        runtime.run_columns(ts, ["BTCUSDT"] * n, columns, "bars")
    assert isinstance(info.value.__cause__, _FileGone)
    assert (info.value.argument, info.value.item) == ("columns[3] (close)", ROWS_PER_CHUNK)
    assert runtime.row == ROWS_PER_CHUNK - 1 and len(strategy.heard) == ROWS_PER_CHUNK
    kernel.close()


@pytest.mark.parametrize("which", ["ts", "asset", "columns", "columns[0] (open)"])
def test_a_generator_given_for_columns_is_refused_naming_it_before_any_row(which: str) -> None:
    kernel, runtime, strategy = _runtime()
    ts: Any = [60.0, 120.0]
    asset: Any = ["BTCUSDT"] * 2
    columns: Any = [[100.0] * 2, [101.0] * 2, [99.0] * 2, [100.0] * 2, [1.0] * 2]
    if which == "ts":
        ts = iter(ts)
    elif which == "asset":
        asset = iter(asset)
    elif which == "columns":
        columns = iter(columns)
    else:
        columns[0] = iter(columns[0])
    name = which.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")
    with pytest.raises(TypeError, match=rf"^{name}=<list_iterator .*> is a list_iterator, not a"):
        runtime.run_columns(ts, asset, columns, "bars")
    assert runtime.row == -1 and strategy.heard == []
    kernel.close()
