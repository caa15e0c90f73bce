"""``run_columns`` checks float64 arrays whole, before their rows are taken: a replay of arrays
hears and refuses the same rows, with the same error, as the same columns given as lists,
whose rows are checked one by one as they come."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from dita import ExecutionKernel
from dita.runtime import TradingRuntime
from dita.venues.paper import PaperVenue

from .points import Keeps

BARS = {
    "ts": [60.0, 120.0, 180.0, 240.0, 300.0],
    "open": [100.0] * 5,
    "high": [101.0] * 5,
    "low": [99.0] * 5,
    "close": [100.5] * 5,
    "volume": [2.0] * 5,
}
QUOTES = {
    "ts": [60.0, 61.0, 62.0, 63.0, 64.0],
    "bid": [100.0] * 5,
    "ask": [100.5] * 5,
    "bid_size": [1.0] * 5,
    "ask_size": [1.0] * 5,
}


def replay(kind: str, rows: dict[str, list[Any]], assets: Any, arrays: bool) -> tuple[list[Any], str, int]:
    """What a strategy heard, the error the replay raised ('' for none), the rows taken."""
    venue = PaperVenue(taker_rate=0.001, maker_rate=0.001, slippage_bps=0.0, bar_volume_share=1.0)
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="cols")
    kernel.set_seed_capital(10_000.0)
    runtime = TradingRuntime(kernel, [venue])
    hears = Keeps(name="h")
    runtime.add_strategy(hears)
    runtime.start()
    ts, *columns = (np.array(c, dtype=np.float64) if arrays else list(c) for c in rows.values())
    try:
        runtime.run_columns(ts, assets if arrays else list(assets), columns, kind)
    except ValueError as exc:
        error = str(exc)
    else:
        error = ""
    return hears.seen, error, runtime.data_points


SPOILED = [
    ("bars", None, None),
    ("bars", "open", math.nan),
    ("bars", "high", 98.0),  # below the low
    ("bars", "close", 101.5),  # above the high
    ("bars", "low", 1e-310),  # subnormal: below the kernel's least price
    ("bars", "high", 2e15),  # above the kernel's bound
    ("bars", "volume", -1.0),
    ("bars", "volume", math.inf),
    ("bars", "ts", math.nan),
    ("bars", "ts", math.inf),
    ("bars", "ts", 150.0),  # before the row ahead of it
    ("bars", "ts", 1.7e12),  # milliseconds: past the kernel's last time
    ("bars", "asset", ""),
    ("bars", "asset", " "),
    ("quotes", None, None),
    ("quotes", "bid", math.nan),
    ("quotes", "ask", 99.0),  # crossed
    ("quotes", "bid_size", -1.0),
    ("quotes", "ask_size", math.inf),
    ("quotes", "ts", 61.5),
    ("quotes", "ts", 1.7e12),
]


@pytest.mark.parametrize("str_array", [False, True], ids=["asset-list", "asset-array"])
@pytest.mark.parametrize(("kind", "field", "value"), SPOILED)
def test_a_replay_of_arrays_takes_and_refuses_the_rows_a_replay_of_lists_does(
    kind: str, field: str | None, value: Any, str_array: bool
) -> None:
    rows = {k: list(v) for k, v in (BARS if kind == "bars" else QUOTES).items()}
    assets = ["BTCUSDT"] * 5
    if field == "asset":
        assets[3] = value
    elif field is not None:
        rows[field][3] = value
    given: Any = np.array(assets) if str_array else assets
    by_row = replay(kind, rows, assets, arrays=False)
    whole = replay(kind, rows, given, arrays=True)
    assert (whole[1] != "") is (field is not None), whole[1]
    assert whole[2] == by_row[2] == (5 if field is None else 3)
    assert whole == by_row


@pytest.mark.parametrize("name", [7, ["BTCUSDT"], b"BTCUSDT"], ids=["int", "list", "bytes"])
def test_a_replay_of_arrays_with_an_asset_name_that_is_no_str_refuses_its_row_as_a_replay_of_lists(
    name: Any,
) -> None:
    rows = {k: list(v) for k, v in BARS.items()}
    assets: list[Any] = ["BTCUSDT"] * 5
    assets[3] = name
    by_row = replay("bars", rows, assets, arrays=False)
    whole = replay("bars", rows, assets, arrays=True)
    assert by_row[2] == 3 and "asset" in by_row[1]
    assert whole == by_row
