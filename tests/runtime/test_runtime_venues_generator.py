"""The venues handed to ``TradingRuntime`` as a generator each take the market data their
methods take: the generator was read once for the bar venues, and the quote venues and the
venues polled were left without them (a paper venue given so never filled a quote)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dita import ArgumentReadError
from dita.kernel import ExecutionKernel
from dita.runtime import TradingRuntime
from dita.venues import PaperVenue


def test_venues_given_as_a_generator_take_bars_and_quotes() -> None:
    venue = PaperVenue()
    with ExecutionKernel(venue=venue, kernel_id="k") as kernel:
        runtime = TradingRuntime(kernel, (v for v in [venue]))
        assert (runtime.bar_venues, runtime.quote_venues) == ([venue], [venue])


def test_venues_whose_generator_raises_are_named() -> None:
    def venues() -> Iterator[Any]:
        yield PaperVenue()
        raise LookupError("no such venue")

    with ExecutionKernel(kernel_id="k") as kernel:
        with pytest.raises(
            ArgumentReadError, match=r"^TradingRuntime\(\): reading venues item 1 raised LookupError"
        ):
            TradingRuntime(kernel, venues())
