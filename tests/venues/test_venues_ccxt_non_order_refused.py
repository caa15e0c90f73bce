"""CcxtVenue refuses anything but a VenueOrder where it takes one with ``require_order``'s
TypeError naming the call and the value, as the paper, shadow and IBKR venues do, before it
counts or asks anything; ``order_status`` names a client order id that is not a str."""

from __future__ import annotations

import pytest

from dita.venues import CcxtVenue


@pytest.mark.parametrize("method", ["submit", "cancel", "watch"])
def test_a_ccxt_venue_given_something_other_than_an_order_raises_the_type_error_naming_it(
    method: str,
) -> None:
    with CcxtVenue(exchange="gate") as venue:
        with pytest.raises(TypeError, match=rf"{method} takes a VenueOrder, got 's1-entry-1'"):
            getattr(venue, method)("s1-entry-1")
        assert venue.submitted == 0


def test_a_ccxt_order_status_of_a_client_order_id_not_a_str_names_it() -> None:
    with CcxtVenue(exchange="gate") as venue:
        with pytest.raises(TypeError, match="client_order_id=123 must be a str"):
            venue.order_status(123)  # type: ignore[arg-type]
