"""IbkrVenue: positions TWS does not give in time, like every question the venue cannot get
answered, are a VenueUnavailable naming them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

pytest.importorskip("ib_async")

import test_venues_ibkr
from tws_server import REQ_POSITIONS, TwsServer

from dita.venues import VenueUnavailable
from dita.venues.ibkr import IbkrVenue

tws = test_venues_ibkr.tws
make_venue = test_venues_ibkr.make_venue


def test_positions_tws_does_not_give_in_time_are_a_venue_not_reached(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], monkeypatch: pytest.MonkeyPatch
) -> None:
    venue = make_venue(connect_timeout_s=0.3)
    answer = tws._answer
    monkeypatch.setattr(tws, "_answer", lambda f: None if int(f[0]) == REQ_POSITIONS else answer(f))
    with pytest.raises(VenueUnavailable, match=r"TWS gave no positions within 0.3 s \(TimeoutError\)"):
        venue.positions()
