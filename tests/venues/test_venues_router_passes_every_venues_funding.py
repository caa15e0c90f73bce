"""A router passes the funding its other venues' positions pay, without their balance figures."""

from __future__ import annotations

from typing import Any

from dita import AccountEvent, ExecutionKernel
from dita.venues.paper import PaperVenue
from dita.venues.router import VenueRouter


def _paper_giving(events: list[AccountEvent], name: str) -> PaperVenue:
    venue = PaperVenue(name=name)
    given = list(events)

    def account_events() -> list[Any]:
        out, given[:] = list(given), []
        return out

    venue.account_events = account_events  # type: ignore[attr-defined]
    return venue


def test_funding_paid_on_a_venue_other_than_the_account_venue_reaches_the_kernels_capital() -> None:
    paid_on_a = AccountEvent("a-fund1", "FUNDING_FEE", asset="BTCUSDT", amount=-2.0, timestamp=1.0)
    paid_on_b = AccountEvent("b-fund1", "FUNDING_FEE", asset="ETHUSDT", amount=-1.5,
                             wallet_balance=500.0, available_margin=400.0, timestamp=1.0)  # fmt: skip
    router = VenueRouter(
        {"a": _paper_giving([paid_on_a], "a"), "b": _paper_giving([paid_on_b], "b")},
        default="a",
        routes={"ETHUSDT": "b"},
    )
    kernel = ExecutionKernel(max_slots=1)
    kernel.set_seed_capital(1_000.0)
    events = router.account_events()
    assert [e.event_id for e in events] == ["a-fund1", "b-fund1"]
    for event in events:
        assert kernel.on_account_event(event).accepted
    account = kernel.account()
    assert account["k_funding_net"] == paid_on_a.amount + paid_on_b.amount
    assert account["k_capital"] == 1_000.0 + paid_on_a.amount + paid_on_b.amount
    # b's balances are its own wallet's, not the account's: only its payment passes.
    assert account["e_wallet_balance"] in (None, 0.0)
    assert account["e_available_margin"] in (None, 0.0)
