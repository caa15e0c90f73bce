"""The account's figures from the user-data stream reach the kernel as account events: through
a runtime's polls against the local Binance (``binance_streams.py``), and frame by frame from
Binance's documented payloads (spot ``outboundAccountPosition``; USD-M futures
``ACCOUNT_UPDATE``, "Event: Balance and Position Update" in Binance's USDS-M futures user data
stream documentation)."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest
import test_venues_ccxt_streams as stream_tests
from test_venues_ccxt_streams import Session, entry, wait_for

from dita import AccountEvent, AccountEventKind, ExecutionKernel
from dita.runtime import TradingRuntime
from dita.venues import PaperVenue, UnknownVenueError, VenueRouter
from dita.venues.account_events import take_account_events
from dita.venues.ccxt.account_stream import AccountFacts, account_currency

# The local Binance session and the keys it signs with, as the stream tests have them.
session = stream_tests.session
_keys = stream_tests._keys


def available(session: Session) -> float | None:
    figure: float | None = session.kernel.account()["e_available_margin"]
    return figure


# -- through a runtime, against the local Binance ----------------------------------------


def test_a_streamed_deposit_reaches_the_kernel_as_its_available_capital(session: Session) -> None:
    runtime = TradingRuntime(session.kernel)
    session.bring_up()
    runtime.poll_venues()  # the reconciliation's REST balance
    assert available(session) == pytest.approx(1_000_000.0)
    session.server.deposit("USDT", 2_500.0)
    wait_for(lambda: (runtime.poll_venues() or True) and available(session) == 1_002_500.0, "the deposit")
    account = session.kernel.account()
    assert account["available_capital"] == pytest.approx(1_002_500.0)
    assert account["e_used_margin"] == 0.0
    assert runtime.stats["account_events"] >= 2
    assert runtime.stats["account_events_refused"] == 0


def test_with_no_order_working_a_data_point_gives_the_kernel_the_account_s_news(session: Session) -> None:
    runtime = TradingRuntime(session.kernel)
    session.bring_up()
    session.server.deposit("USDT", 10.0)
    # Nothing works: the data point asks the venue about no order, yet takes the account's news.
    wait_for(
        lambda: (runtime.poll_venues_if_due() or True) and available(session) == 1_000_010.0,
        "the deposit",
    )
    assert runtime.stats["venue_events"] == 0


def test_a_balance_lost_while_the_stream_was_down_is_read_by_rest_before_it_is_up(session: Session) -> None:
    session.bring_up()
    take_account_events(session.kernel, session.venue)
    session.server.deposit("USDT", 700.0, streamed=False)
    session.server.drop_connections()
    session.wait_state("reconciling")
    session.poll()
    assert session.state() == "up"
    taken = take_account_events(session.kernel, session.venue)
    assert taken.given >= 1 and taken.refused == 0
    assert available(session) == pytest.approx(1_000_700.0)
    assert session.server.rest_calls("GET", "/api/v3/account") >= 2


def _balance_unreadable(session: Session, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The exchange's balance answer fails from here on; returns the real call, to put back."""
    client = session.venue._client
    account_call = client.account_call

    def balance_unreadable(method: str, *args: Any) -> Any:
        if method == "fetch_balance":
            raise RuntimeError("binance-spot: fetch_balance failed: connection reset")
        return account_call(method, *args)

    monkeypatch.setattr(client, "account_call", balance_unreadable)
    return account_call


def test_a_balance_that_cannot_be_read_keeps_the_stream_reconciling(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    session.bring_up()
    account_call = _balance_unreadable(session, monkeypatch)
    session.server.drop_connections()
    session.wait_state("reconciling")
    session.poll()  # the orders' round completes; the balance is not read
    assert session.state() == "reconciling"
    monkeypatch.setattr(session.venue._client, "account_call", account_call)
    session.poll()
    assert session.state() == "up"


def test_a_balance_lost_while_down_is_read_before_an_entry_puts_the_stream_up(session: Session) -> None:
    """With no order followed a live run polls nothing: the first entry after the reconnect
    completes the reconciliation, and reads the balance the stream lost first."""
    session.bring_up()
    take_account_events(session.kernel, session.venue)
    assert available(session) == pytest.approx(1_000_000.0)
    session.server.deposit("USDT", 700.0, streamed=False)  # while the stream is down: no frame
    session.server.drop_connections()
    session.wait_state("reconciling")
    sent, _ = entry(session, 1)
    assert sent and session.state() == "up"
    assert session.server.rest_calls("GET", "/api/v3/account") >= 2
    take_account_events(session.kernel, session.venue)
    assert available(session) == pytest.approx(1_000_700.0)


def test_with_no_order_followed_an_unreadable_balance_refuses_the_entry_and_keeps_the_stream_reconciling(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    session.bring_up()
    account_call = _balance_unreadable(session, monkeypatch)
    session.server.drop_connections()
    session.wait_state("reconciling")
    sent, reason = entry(session, 1)
    assert not sent and "entry refused while the user-data stream reconciles" in reason
    assert session.state() == "reconciling"
    monkeypatch.setattr(session.venue._client, "account_call", account_call)
    sent, _ = entry(session, 2, slot=1)
    assert sent and session.state() == "up"


def test_with_no_order_followed_an_entry_during_a_throttle_is_refused_for_it_and_reads_the_balance_after(
    session: Session,
) -> None:
    session.bring_up()
    session.server.drop_connections()
    session.wait_state("reconciling")
    reads = session.server.rest_calls("GET", "/api/v3/account")
    client = session.venue._client
    client.throttled_until = session.clock() + 30.0  # as a 429's Retry-After sets it
    sent, reason = entry(session, 1)
    assert not sent and "throttling" in reason and "reconciles" not in reason
    assert session.state() == "reconciling"
    assert session.server.rest_calls("GET", "/api/v3/account") == reads  # nothing sent meanwhile
    session.clock.advance(31.0)
    sent, _ = entry(session, 2, slot=1)
    assert sent and session.state() == "up"
    assert session.server.rest_calls("GET", "/api/v3/account") == reads + 1


def test_with_no_order_followed_an_entry_as_a_throttle_ends_is_not_sent_unreconciled(
    session: Session,
) -> None:
    """A throttle that ends between the refusal's look and the submit's let the entry go out
    with the stream still reconciling and the balance unread."""
    session.bring_up()
    session.server.drop_connections()
    session.wait_state("reconciling")
    client = session.venue._client
    looks = iter([True])  # throttled at the refusal's look, over by the submit's
    throttled = client.throttled
    client.throttled = lambda: next(looks, None) or throttled()  # type: ignore[method-assign]
    reads = session.server.rest_calls("GET", "/api/v3/account")
    sent, reason = entry(session, 1)
    assert not sent, reason
    assert session.state() == "reconciling"
    assert session.server.rest_calls("GET", "/api/v3/account") == reads


def test_with_no_order_followed_a_balance_read_answered_by_a_throttle_refuses_the_entry_for_it(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Refused as 'reconciling', the entry would not say when to retry."""
    session.bring_up()
    session.server.drop_connections()
    session.wait_state("reconciling")
    client = session.venue._client
    account_call = client.account_call

    def throttled_answer(method: str, *args: Any) -> Any:
        if method == "fetch_balance":
            client.throttled_until = session.clock() + 30.0  # as a 429's Retry-After sets it
            raise RuntimeError("binance-spot: fetch_balance: 429 Too Many Requests")
        return account_call(method, *args)

    monkeypatch.setattr(client, "account_call", throttled_answer)
    sent, reason = entry(session, 1)
    assert not sent and "throttling" in reason and "retry in" in reason, reason
    assert session.state() == "reconciling"


# -- the frames, as Binance documents them -------------------------------------------------


def spot_frame(free: str, locked: str, asset: str = "USDT", updated: int = 1564034571073) -> dict[str, Any]:
    return {
        "e": "outboundAccountPosition",
        "E": updated + 32,
        "u": updated,
        "B": [{"a": asset, "f": free, "l": locked}],
    }


def futures_frame(reason: str, wb: str, bc: str, asset: str = "USDT") -> dict[str, Any]:
    return {
        "e": "ACCOUNT_UPDATE",
        "E": 1564745798939,
        "T": 1564745798938,
        "a": {
            "m": reason,
            "B": [{"a": asset, "wb": wb, "cw": "100.12345678", "bc": bc}],
            "P": [
                {"s": "BTCUSDT", "pa": "0", "ep": "0.00000", "cr": "200", "up": "0",
                 "mt": "isolated", "iw": "0.00000000", "ps": "BOTH"},
            ],
        },
    }  # fmt: skip


def test_a_spot_balance_is_the_account_s_available_and_locked_figures() -> None:
    facts = AccountFacts("binance-spot", "USDT")
    facts.spot_position(spot_frame("10000.000000", "25.500000"))
    facts.spot_position(spot_frame("1.0", "0.0", asset="ETH"))  # not the account's currency
    (event,) = facts.taken()
    assert event.kind == AccountEventKind.ACCOUNT_UPDATE
    assert (event.available_margin, event.used_margin, event.wallet_balance) == (10000.0, 25.5, None)
    assert event.timestamp == pytest.approx(1564034571.073)
    assert facts.taken() == []


def test_a_balance_frame_received_twice_is_booked_once() -> None:
    facts = AccountFacts("binance-spot", "USDT")
    kernel = ExecutionKernel(max_slots=1)
    facts.spot_position(spot_frame("5.0", "0"))
    first = facts.taken()
    facts.spot_position(spot_frame("5.0", "0"))
    second = facts.taken()
    assert [e.event_id for e in first] == [e.event_id for e in second]
    assert kernel.on_account_event(first[0]).accepted
    assert not kernel.on_account_event(second[0]).accepted


def test_only_the_newest_balance_is_kept_until_taken() -> None:
    facts = AccountFacts("binance-spot", "USDT")
    facts.spot_position(spot_frame("2.0", "0", updated=2000))
    facts.spot_position(spot_frame("1.0", "0", updated=1000))  # older, arrived later
    (event,) = facts.taken()
    assert event.available_margin == 2.0


def test_a_futures_balance_is_the_wallet_balance_and_a_funding_settlement_a_payment() -> None:
    facts = AccountFacts("binance-linear", "USDT")
    facts.futures_update(futures_frame("ORDER", "122624.12345678", "50.12345678"))
    (balance,) = facts.taken()
    assert (balance.kind, balance.wallet_balance) == (AccountEventKind.ACCOUNT_UPDATE, 122624.12345678)
    facts.futures_update(futures_frame("FUNDING_FEE", "122623.9", "-0.22345678"))
    (payment,) = facts.taken()
    assert payment.kind == AccountEventKind.FUNDING_FEE
    assert (payment.amount, payment.wallet_balance) == (-0.22345678, 122623.9)
    kernel = ExecutionKernel(max_slots=1)
    kernel.set_seed_capital(122624.12345678)
    assert kernel.on_account_event(payment).accepted
    assert kernel.account()["k_funding_net"] == pytest.approx(-0.22345678)
    # The same frame again is the same payment: refused, not booked twice.
    facts.futures_update(futures_frame("FUNDING_FEE", "122623.9", "-0.22345678"))
    (again,) = facts.taken()
    assert again.event_id == payment.event_id
    assert not kernel.on_account_event(again).accepted
    assert kernel.account()["k_funding_net"] == pytest.approx(-0.22345678)


@pytest.mark.parametrize("reason", ["DEPOSIT", "WITHDRAW", "ASSET_TRANSFER"])
def test_money_moved_into_the_futures_wallet_is_the_new_balance_with_a_warning_naming_the_amount(
    reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The kernel has no account event that adds money moved in or out to its capital (K): the
    wallet balance (E) moves alone, and K and E differ by the amount from then on. The operator
    is told the amount, not left with a MISMATCH whose explanation blames fees or fills."""
    facts = AccountFacts("binance-linear", "USDT")
    frame = futures_frame(reason, "15000", "5000")
    with caplog.at_level(logging.WARNING, "dita.venues.ccxt"):
        facts.futures_update(frame)
    (balance,) = facts.taken()
    assert (balance.kind, balance.wallet_balance) == (AccountEventKind.ACCOUNT_UPDATE, 15000.0)
    assert (
        f"binance-linear: {reason} of 5000 USDT moved the wallet balance to 15000; the kernel's capital "
        "(K) does not count money moved in or out, so E differs from K by 5000 from now on"
    ) in caplog.text


def test_a_trading_balance_change_logs_no_money_moved(caplog: pytest.LogCaptureFixture) -> None:
    facts = AccountFacts("binance-linear", "USDT")
    with caplog.at_level(logging.WARNING, "dita.venues.ccxt"):
        facts.futures_update(futures_frame("ORDER", "9990", "-10"))
    assert facts.taken() and "moved the wallet balance" not in caplog.text


def test_a_frame_without_its_figures_is_logged_and_makes_no_event(caplog: pytest.LogCaptureFixture) -> None:
    facts = AccountFacts("binance-spot", "USDT")
    with caplog.at_level(logging.WARNING, "dita.venues.ccxt"):
        facts.spot_position({"e": "outboundAccountPosition", "E": 1, "u": 1, "B": [{"a": "USDT", "f": "x"}]})
        facts.futures_update({"e": "ACCOUNT_UPDATE", "a": {"m": "ORDER", "B": [{"a": "USDT"}]}})
    assert facts.taken() == []
    assert caplog.text.count("not read") == 2


def test_the_account_currency_is_the_one_the_markets_share_or_the_one_given() -> None:
    usdt = {"quote": "USDT", "settle": None}
    usdc = {"quote": "USDC", "settle": None}
    assert account_currency(None, [usdt, usdt], "spot") == "USDT"
    assert account_currency(None, [usdt, usdc], "spot") is None
    assert account_currency("USDC", [usdt], "spot") == "USDC"
    assert account_currency(None, [{"quote": "USDT", "settle": "USDT"}], "linear") == "USDT"
    assert account_currency(None, [], "spot") is None


# -- handing them over -------------------------------------------------------------------


def paper_with(account_events: Any, name: str = "paper") -> PaperVenue:
    venue = PaperVenue(name=name)
    venue.account_events = account_events  # type: ignore[attr-defined]
    return venue


def update(event_id: str, available_margin: float, at: float = 1.0) -> AccountEvent:
    return AccountEvent(
        event_id, "ACCOUNT_UPDATE", asset="USDT", available_margin=available_margin, timestamp=at
    )


def test_a_venue_s_bad_account_answer_is_named_and_its_good_events_still_given(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kernel = ExecutionKernel(max_slots=1)
    good = update("u1", 50.0)
    taken = take_account_events(kernel, paper_with(lambda: [good, {"available_margin": 1.0}]))
    assert (taken.given, taken.refused) == (1, 0)
    assert "gave a dict (skipped), not an AccountEvent" in taken.problem
    assert kernel.account()["e_available_margin"] == 50.0

    def raising() -> list[AccountEvent]:
        raise ConnectionError("socket closed")

    assert "raised ConnectionError: socket closed" in take_account_events(kernel, paper_with(raising)).problem
    assert "gave NoneType" in take_account_events(kernel, paper_with(lambda: None)).problem
    assert take_account_events(kernel, PaperVenue()).given == 0  # a venue without account_events


def test_a_refused_account_event_is_counted_and_logged_with_its_diagnostic(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kernel = ExecutionKernel(max_slots=1)
    stale = [update("u2", 10.0, at=5.0), update("u1", 20.0, at=1.0)]
    with caplog.at_level(logging.WARNING, "dita.venues.account_events"):
        taken = take_account_events(kernel, paper_with(lambda: stale))
    # The older figure is a duplicate in the kernel's eyes (a resend overtaken), not a refusal.
    assert (taken.given, taken.refused) == (2, 0)
    bad = AccountEvent("u3", "ACCOUNT_UPDATE", asset="USDT", timestamp=6.0)  # no figure
    with caplog.at_level(logging.WARNING, "dita.venues.account_events"):
        taken = take_account_events(kernel, paper_with(lambda: [bad]))
    assert taken.refused == 1
    assert "u3" in caplog.text and "INVALID_INTENT" in caplog.text
    assert kernel.account()["e_available_margin"] == 10.0


def test_a_kernel_that_takes_no_more_input_names_the_account_events_not_booked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kernel = ExecutionKernel(max_slots=1)
    kernel.close()
    with caplog.at_level(logging.ERROR, "dita.venues.account_events"):
        taken = take_account_events(kernel, paper_with(lambda: [update("u1", 1.0), update("u2", 2.0)]))
    assert taken.given == 0 and "the kernel raised" in taken.problem
    assert "not booked (2)" in caplog.text and "u2" in caplog.text


def test_a_router_gives_the_kernel_one_venue_s_account(caplog: pytest.LogCaptureFixture) -> None:
    first = paper_with(lambda: [update("a1", 5.0)], name="a")
    second = paper_with(lambda: [update("b1", 9.0)], name="b")
    router = VenueRouter({"a": first, "b": second}, default="a")
    with caplog.at_level(logging.WARNING, "dita.venues.router"):
        events = router.account_events()
    assert [e.event_id for e in events] == ["a1"]
    assert "account event(s) of venue 'b' dropped" in caplog.text


def _answers(*answers: object) -> Any:
    """An ``account_events`` giving ``answers`` one per call (an exception raised), then none."""
    queue = list(answers)

    def account_events() -> Any:
        answer = queue.pop(0) if queue else []
        if isinstance(answer, Exception):
            raise answer
        return answer

    return account_events


def test_a_failed_account_poll_of_the_account_venue_does_not_hand_the_account_to_another() -> None:
    reconnecting = ConnectionError("stream reconnecting")
    first = paper_with(_answers(reconnecting, [update("a1", 1000.0, 2.0)]), name="a")
    second = paper_with(_answers([update("b1", 5.0, 1.0)], [update("b2", 6.0, 2.0)]), name="b")
    router = VenueRouter({"a": first, "b": second}, default="a")
    kernel = ExecutionKernel(max_slots=1)
    taken = [take_account_events(kernel, router).given for _ in range(2)]
    assert taken == [0, 1]
    assert kernel.account()["e_available_margin"] == 1000.0


def test_the_account_venue_is_the_one_set_whichever_venue_reports_first() -> None:
    first = paper_with(_answers([], [update("a1", 1000.0, 2.0)]), name="a")
    second = paper_with(_answers([update("b1", 5.0, 1.0)], [update("b2", 6.0, 2.0)]), name="b")
    router = VenueRouter({"a": first, "b": second}, default="b", account_venue="a")
    assert [[e.event_id for e in router.account_events()] for _ in range(2)] == [[], ["a1"]]


def test_every_venue_s_fill_settlements_pass_without_their_balance_figures() -> None:
    settled = AccountEvent("b-s1", "FILL_SETTLED", asset="ETHUSDT", fee=0.25, fill_id="b-f1",
                           wallet_balance=7.0, timestamp=1.0)  # fmt: skip
    first = paper_with(_answers([update("a1", 1000.0)]), name="a")
    second = paper_with(_answers([settled, update("b1", 5.0)]), name="b")
    router = VenueRouter({"a": first, "b": second}, default="a")
    events = router.account_events()
    assert [(e.event_id, e.kind.name) for e in events] == [("a1", "ACCOUNT_UPDATE"), ("b-s1", "FILL_SETTLED")]
    passed = events[1]
    assert (passed.fill_id, passed.fee, passed.asset) == ("b-f1", 0.25, "ETHUSDT")
    assert passed.wallet_balance is None


@pytest.mark.parametrize("account_venue", ["c", 3, ["a"]])
def test_a_router_refuses_an_account_venue_it_does_not_have(account_venue: Any) -> None:
    named = rf"unknown venue {re.escape(repr(account_venue))} in account_venue"
    with pytest.raises(UnknownVenueError, match=named):
        VenueRouter({"a": PaperVenue(name="a")}, default="a", account_venue=account_venue)
