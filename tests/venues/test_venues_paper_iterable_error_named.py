"""Rows handed to ``PaperVenue.pass_over``, and fills and orders to ``catch_up``, as a generator
of the caller's whose own code raises: ``ArgumentReadError`` names the call, the argument and
the item, the caller's error its cause. ``catch_up`` reads them all first and changes nothing;
``pass_over`` keeps the rows before the failed one taken, its clock at the last of them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dita import ArgumentReadError
from dita.strategy import Bar
from dita.venues.paper import PaperVenue

T0 = 1_704_067_200.0


class _Unreadable(Exception):
    """The caller's own error."""


def _then_raise(items: list[Any]) -> Iterator[Any]:
    yield from items
    raise _Unreadable("source closed")


def test_pass_over_names_the_row_its_points_raised_at_and_keeps_those_before() -> None:
    venue = PaperVenue()
    rows = [Bar("BTCUSDT", T0 + 60 * n, 100.0, 101.0, 99.0, 100.0, 1_000.0) for n in range(2)]
    with pytest.raises(
        ArgumentReadError, match=r"^pass_over\(\): reading points item 2 raised _Unreadable"
    ) as info:
        venue.pass_over(_then_raise(rows))
    assert isinstance(info.value.__cause__, _Unreadable)
    assert venue.book()["now"] == T0 + 60


@pytest.mark.parametrize("argument", ["fills", "working", "sent_after_save"])
def test_catch_up_names_what_raised_and_changes_nothing(argument: str) -> None:
    venue = PaperVenue()
    venue.on_bar("BTCUSDT", 100.0, 101.0, 99.0, 100.0, 1_000.0, T0)
    book = venue.book()
    given: dict[str, Any] = {"fills": [], "working": []}
    given[argument] = _then_raise([])
    with pytest.raises(
        ArgumentReadError, match=rf"^catch_up\(\): reading {argument} item 0 raised _Unreadable"
    ):
        venue.catch_up(**given)
    assert venue.book() == book
