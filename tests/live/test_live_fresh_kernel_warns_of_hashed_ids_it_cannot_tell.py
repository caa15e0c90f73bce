"""A fresh live kernel checks the exchange's open orders for its own client ids. Where the exchange
takes them hashed (OKX, Gate: every id), a hash cannot be read back, so it tells its own only among
the first HASHED_IDS_CHECKED ids, while a few unclean stops take n into the millions. An order
under dita's hashed form it cannot tell is warned of, naming it and what to do; it is not refused
for, since another dita kernel on the account sends such ids too."""

from __future__ import annotations

import pytest

from dita import VenueOrder
from dita.cli.live_run import HASHED_IDS_CHECKED, _hashed_ids_not_told, _issued_by
from dita.venues.ccxt.settings import venue_client_id


def _working(client_id: str) -> VenueOrder:
    return VenueOrder(client_id, 0, "", "BTC-USDT", "BUY", "LIMIT", 80_000.0, 0.01)


@pytest.mark.parametrize("exchange", ["okx", "gate"])
def test_an_order_of_its_kernel_id_past_the_checked_ids_is_warned_of(exchange: str) -> None:
    left = venue_client_id("e2e-live-1200007", exchange)  # after one unclean stop under "batch"
    assert left != "e2e-live-1200007"
    listed = [_working(left), _working("someone-else-1")]
    ours = _issued_by("e2e-live", exchange, [o.client_order_id for o in listed])
    assert ours == set()  # past the checked ids: not told, so not refused
    warning = _hashed_ids_not_told("e2e-live", exchange, listed, ours)
    assert warning is not None
    assert f"1 order working at {exchange} carry hashed client ids of dita's form" in warning, warning
    assert f"none of the first {HASHED_IDS_CHECKED:,} of kernel_id 'e2e-live'" in warning, warning
    assert f"{left} BUY 0.01 BTC-USDT LIMIT at 80000." in warning, warning
    assert "someone-else-1" not in warning, warning
    assert "cancel them at the exchange or start with the state_dir" in warning, warning


@pytest.mark.parametrize("exchange", ["okx", "gate"])
def test_an_order_of_its_kernel_id_within_the_checked_ids_is_told_and_not_warned_of(exchange: str) -> None:
    left = venue_client_id("e2e-live-7", exchange)
    listed = [_working(left)]
    ours = _issued_by("e2e-live", exchange, [left])
    assert ours == {left}
    assert _hashed_ids_not_told("e2e-live", exchange, listed, ours) is None


def test_the_plain_form_is_told_at_any_n() -> None:
    assert _issued_by("e2e-live", "binance", ["e2e-live-1200007"]) == {"e2e-live-1200007"}
    plain = "e2e-live-1200007"
    assert _hashed_ids_not_told("e2e-live", "binance", [_working(plain)], {plain}) is None
