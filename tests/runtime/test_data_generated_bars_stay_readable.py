"""generate_bars refuses arguments whose walk makes bars no reader takes (a low at or below 0,
a close rounding to 0.00), naming them, instead of writing such bars without a word."""

from __future__ import annotations

import numpy as np
import pytest

from dita.data import generate_bars
from dita.risk import KERNEL_MAX


@pytest.mark.parametrize(
    ("kwargs", "said"),
    [
        # The wick takes a share of the price up to 0.6 x volatility per standard deviation.
        ({"volatility": 1.0}, r"price=42000.0 with volatility=1.0 \(seed=7\) makes bar 3 with low -945.67"),
        # The walk from one cent reaches half a cent, which rounds to 0.00.
        (
            {"price": 0.01, "volatility": 0.01},
            r"price=0.01 with volatility=0.01 \(seed=7\) makes bar \d+ with low 0.0 ",
        ),
    ],
)
def test_arguments_making_a_price_at_or_below_zero_are_refused(kwargs: dict[str, float], said: str) -> None:
    with pytest.raises(ValueError, match=said):
        generate_bars(days=1, **kwargs)


@pytest.mark.parametrize("kwargs", [{}, {"volatility": 0.05}, {"price": 0.05}])
def test_the_bars_made_are_ones_every_reader_takes(kwargs: dict[str, float]) -> None:
    bars = generate_bars(days=1, **kwargs)
    assert (bars["low"] > 0).all() and (bars["high"] <= KERNEL_MAX).all()
    assert (bars["low"] <= np.minimum(bars["open"], bars["close"])).all()
