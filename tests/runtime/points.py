"""Data points of one asset, ``AAA``, a minute apart: what the runtime's dispatch tests feed."""

from __future__ import annotations

from dita.strategy import Bar, Quote

T0 = 1.7e9


def bar(minute: int) -> Bar:
    return Bar("AAA", T0 + 60 * minute, 100.0, 101.0, 99.0, 100.0, 10.0)


def quote(minute: int) -> Quote:
    return Quote("AAA", T0 + 60 * minute, 99.0, 101.0, 1.0, 1.0)
