"""A bar the paper venue cannot take is refused naming the field and its value, and changes
nothing; one of other real numbers than floats (ints, numpy's) is taken as floats."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from venue_helpers import make_order

from dita.venues import PaperVenue

GOOD = {"asset": "BTCUSDT", "open": 100.0, "high": 101.0, "low": 99.0, "close": 100.0, "volume": 1.0}


def _bar(venue: PaperVenue, ts: float, **changes: Any) -> Any:
    fields = {**GOOD, **changes}
    return venue.on_bar(
        fields["asset"], fields["open"], fields["high"], fields["low"], fields["close"], fields["volume"], ts
    )


@pytest.mark.parametrize(
    ("changes", "error", "said"),
    [
        ({"asset": ""}, ValueError, "asset must be a non-empty string, got ''"),
        ({"asset": 7}, ValueError, "asset must be a non-empty string, got 7"),
        ({"open": math.nan}, ValueError, "open must be finite, got nan"),
        ({"high": math.inf}, ValueError, "high must be finite, got inf"),
        ({"low": 0.0}, ValueError, "low must be positive, got 0.0"),
        ({"close": -1.0}, ValueError, "close must be positive, got -1.0"),
        ({"volume": -1.0}, ValueError, "volume must not be negative, got -1.0"),
        ({"volume": math.nan}, ValueError, "volume must be finite, got nan"),
        ({"open": True}, TypeError, "open must be a number, got True"),
        ({"close": "100"}, TypeError, "close must be a number, got '100'"),
        ({"high": 99.5}, ValueError, "bar for 'BTCUSDT' is inconsistent: open=100.0 high=99.5"),
        ({"low": 100.5}, ValueError, "bar for 'BTCUSDT' is inconsistent: open=100.0 high=101.0 low=100.5"),
        ({"ts": -60.0}, ValueError, "ts must not be negative, got -60.0"),
        ({"ts": math.nan}, ValueError, "ts must be finite, got nan"),
    ],
)
def test_a_bar_the_venue_cannot_take_is_refused_naming_the_field_and_changes_nothing(
    changes: dict[str, Any], error: type[Exception], said: str
) -> None:
    venue = PaperVenue(slippage_bps=0, latency_ms=0, bar_volume_share=1.0)
    venue.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 1.0, 0.0)
    venue.submit(make_order("c1", size=0.5, reference_price=100.0))
    ts = changes.pop("ts", 60.0)
    with pytest.raises(error, match=f"^{said}".replace("(", r"\(").replace(")", r"\)")):
        _bar(venue, ts, **changes)
    assert venue.data_time == 0.0
    (working,) = venue.open_orders()
    assert working.filled_size == 0.0
    fills = [e for e in _bar(venue, 60.0) if e.kind.name == "FILL"]
    assert [(e.price, e.size) for e in fills] == [(100.0, 0.5)]  # the next good bar fills it


def test_a_bar_of_ints_or_numpy_numbers_is_taken_as_floats() -> None:
    venue = PaperVenue(slippage_bps=0, latency_ms=0, bar_volume_share=1.0)
    venue.on_bar("BTCUSDT", 100, 101, 99, 100, 1, 0)
    venue.submit(make_order("c1", size=0.5, reference_price=100.0))
    (fill,) = venue.on_bar("BTCUSDT", np.float32(98.5), 101, 98, 100, np.int64(2), np.float64(60.0))
    assert fill.kind.name == "FILL" and type(fill.price) is float and fill.price == 98.5
    assert fill.timestamp_s == 60.0 and venue.data_time == 60.0
