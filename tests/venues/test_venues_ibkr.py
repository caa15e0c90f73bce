"""IbkrVenue against a local TWS speaking the API's socket protocol (tws_server.py): the
handshake, contract details as market limits, orders and cancels as venue events, fills once
by execId, commissions as FILL_SETTLED, a dropped connection, a restart reconciled, and no
account id in any log record."""

from __future__ import annotations

import gc
import itertools
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ib_async")

from tws_server import ACCOUNT, REQ_OPEN_ORDERS, SERVER_VERSION, Listed, TwsServer

from dita import (
    AccountEvent,
    ExecutionKernel,
    KernelIntent,
    TradeStage,
    VenueEvent,
    VenueOrder,
)
from dita.venues import VenueUnavailable
from dita.venues.ibkr import IbkrSettings, IbkrVenue
from dita.venues.ibkr import reports as ibkr_reports

AAPL = Listed(265598, "AAPL", min_tick=0.01, size_increment=1.0, min_size=1.0)
ES = Listed(495512563, "ES", min_tick=0.25, size_increment=1.0, min_size=1.0, sec_type="FUT", exchange="CME")
ACCOUNT_ENV = "DITA_TEST_IBKR_ACCOUNT"
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "ibkr.md"


@pytest.fixture
def tws() -> Iterator[TwsServer]:
    with TwsServer([AAPL, ES]) as server:
        yield server


@pytest.fixture
def make_venue(tws: TwsServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., IbkrVenue]]:
    monkeypatch.setenv(ACCOUNT_ENV, ACCOUNT)
    venues: list[IbkrVenue] = []

    def build(**settings: Any) -> IbkrVenue:
        venue = IbkrVenue(
            port=tws.port,
            account_env=ACCOUNT_ENV,
            contracts={
                "AAPL": {"symbol": "AAPL"},
                "ES": {"symbol": "ES", "sec_type": "FUT", "exchange": "CME"},
            },
            **{"connect_timeout_s": 3.0, "reconnect_every_s": 0.0, **settings},
        )
        venues.append(venue)
        return venue

    yield build
    for venue in venues:
        venue.close()


def until(poll: Callable[[], list[VenueEvent]], count: int, timeout: float = 30.0) -> list[VenueEvent]:
    """What ``poll`` gives until ``count`` events came (or the time is up)."""
    events: list[VenueEvent] = []
    deadline = time.monotonic() + timeout
    while len(events) < count and time.monotonic() < deadline:
        events += poll()
        time.sleep(0.02)
    return events


def quiet_until(venue: IbkrVenue, done: Callable[[], bool], window: float, timeout: float = 30.0) -> None:
    """Poll ``venue`` for ``window`` seconds, and on until ``done()`` (up to ``timeout`` more):
    no event comes. A loaded host may read TWS's answer only after the window."""
    began = time.monotonic()
    while time.monotonic() < began + window or (not done() and time.monotonic() < began + window + timeout):
        assert venue.poll_events() == []
        time.sleep(0.02)
    assert done()


def logged(caplog: pytest.LogCaptureFixture, said: str, timeout: float = 30.0) -> None:
    """Wait until ``said`` is logged: the loop thread logs what TWS sent as it reads it, which a
    loaded host does well after TWS sent it."""
    deadline = time.monotonic() + timeout
    while said not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.01)
    assert said in caplog.text, caplog.text


def commissions(venue: IbkrVenue, count: int, timeout: float = 30.0) -> list[AccountEvent]:
    """The venue's commission reports until ``count`` came (or the time is up)."""
    settled: list[AccountEvent] = []
    deadline = time.monotonic() + timeout
    while len(settled) < count and time.monotonic() < deadline:
        settled += venue.account_events()
        time.sleep(0.02)
    return settled


def feed(kernel: ExecutionKernel, venue: IbkrVenue, count: int) -> list[VenueEvent]:
    events = until(venue.poll_events, count)
    for event in events:
        assert kernel.on_venue_event(event).accepted, event
    return events


def entry(size: float = 10.0, price: float = 190.0, intent_id: str = "i1") -> KernelIntent:
    return KernelIntent(
        intent_id, "tr-1", 0, "AAPL", "LONG", "ENTER", price, size,
        order_type="LIMIT", limit_price=price, timestamp=time.time(),
    )  # fmt: skip


def entered(kernel: ExecutionKernel) -> str:
    """The client order id of the entry the kernel sent for ``entry()``."""
    sent = kernel.process_intent(entry())
    assert sent.order is not None
    return sent.order.client_order_id


def filled_without_a_report(tws: TwsServer, venue: IbkrVenue) -> tuple[ExecutionKernel, str, str]:
    """A kernel's entry filled 4 at 190 by TWS with no commission report yet, booked by the kernel:
    (the kernel, the order's client id, the execution's execId)."""
    kernel = a_kernel(venue)
    coid = entered(kernel)
    first = tws.fill(coid, 4.0, 190.0, commission=None)
    feed(kernel, venue, 1)
    return kernel, coid, first


def assert_late_fill_booked(tws: TwsServer, kernel: ExecutionKernel, venue: IbkrVenue, coid: str) -> None:
    """A fill of 3 of the ended order ``coid`` that TWS reports now is booked: the position opens."""
    tws.fill(coid, 3.0, 190.0)
    (late,) = feed(kernel, venue, 1)
    assert (late.kind.name, late.size) == ("FILL", 3.0)
    assert kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN
    assert kernel.slot_state(0).size == pytest.approx(3.0)


def cancel_intent() -> KernelIntent:
    return KernelIntent("c1", "tr-1", 0, "AAPL", "LONG", "CANCEL", 0.0, 0.0, timestamp=time.time())


def a_kernel(venue: IbkrVenue, wal: Path | None = None) -> ExecutionKernel:
    if wal is None:
        kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="k")
    else:
        kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="k", wal_dir=str(wal), fsync="always")
    kernel.set_seed_capital(1e9)
    return kernel


def test_the_handshake_settles_on_the_highest_version_both_speak_and_contract_details_give_the_limits(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue()
    assert tws.version == SERVER_VERSION  # the client offers up to 178
    limits = venue.load_markets()
    assert limits["ES"].tick_size == 0.25 and limits["ES"].lot_step == 1.0 and limits["ES"].min_qty == 1.0
    assert limits["AAPL"].tick_size == 0.01
    # An order off the tick is refused here, not sent for TWS to refuse.
    off_tick = VenueOrder("k-9", 0, "t", "ES", "BUY", "LIMIT", 5000.1, 1.0)
    (refused,) = venue.submit(off_tick)
    assert refused.kind.name == "REJECT" and "tick_size 0.25" in refused.reason
    assert not [r for r in tws.requests if r[0] == "3"]


def test_a_partial_fill_then_the_rest_reach_the_kernel_once_each_with_their_commissions(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue()
    kernel = a_kernel(venue)
    sent = kernel.process_intent(entry())
    assert sent.accepted and sent.order is not None
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING  # acknowledged in submit

    first = tws.fill(sent.order.client_order_id, 4.0, 189.99, commission=1.25)
    (fill,) = feed(kernel, venue, 1)
    assert (fill.kind.name, fill.size, fill.price, fill.fill_id) == ("FILL", 4.0, 189.99, first)
    assert kernel.slot_state(0).size == pytest.approx(4.0)
    (settled,) = commissions(venue, 1)
    assert (settled.kind.name, settled.fill_id, settled.fee, settled.asset) == (
        "FILL_SETTLED",
        first,
        1.25,
        "AAPL",
    )
    assert kernel.on_account_event(settled).accepted

    # TWS sends an execDetails again: not a second fill.
    tws.repeat_execution(first)
    second = tws.fill(sent.order.client_order_id, 6.0, 190.0, commission=None)  # its commission comes later
    (rest,) = feed(kernel, venue, 1)
    assert until(venue.poll_events, 1, timeout=0.3) == []
    assert rest.size == 6.0 and rest.filled_size == 10.0
    assert kernel.slot_state(0).size == pytest.approx(10.0)
    assert kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN
    assert venue.account_events() == []
    assert not venue.following()
    tws.report_commission(second, 1.5)
    (late,) = commissions(venue, 1)
    assert (late.fill_id, late.fee) == (second, 1.5)
    assert kernel.on_account_event(late).accepted


def test_an_order_of_a_billion_filled_a_share_short_is_reported_partially_filled(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    """1e-9 of an order of 1e9 shares is a whole share: executions a share short of the order
    are a part fill, and the order is followed until its last share's execution comes."""
    venue = make_venue()
    kernel = a_kernel(venue)
    sent = kernel.process_intent(entry(size=1e9, price=0.01))
    assert sent.accepted and sent.order is not None, sent.details
    cid = sent.order.client_order_id
    tws.fill(cid, 1e9 - 1.0, 0.01, commission=1.0)
    (part,) = feed(kernel, venue, 1)
    assert (part.status.name, part.filled_size) == ("PARTIALLY_FILLED", 1e9 - 1.0)
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
    assert venue.following()
    tws.fill(cid, 1.0, 0.01, commission=1.0)
    (last,) = feed(kernel, venue, 1)
    assert (last.status.name, last.filled_size) == ("FILLED", 1e9)
    assert kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN


def test_a_correction_of_an_execution_is_not_booked_as_a_second_fill(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> None:
    venue = make_venue()
    kernel = a_kernel(venue)
    coid = entered(kernel)
    first = tws.fill(coid, 4.0, 190.0)
    feed(kernel, venue, 1)
    assert [e.fill_id for e in commissions(venue, 1)] == [first]

    # The exchange corrects the price: TWS reports the execution again as ...01.02.
    corrected = tws.correct_execution(first, 4.0, 189.9, commission=1.1)
    assert corrected == first[:-2] + "02"
    deadline = time.monotonic() + 5
    while "corrects" not in caplog.text and time.monotonic() < deadline:
        assert venue.poll_events() == []
        time.sleep(0.02)
    said = f"execution {corrected} corrects {first} to 4 at 189.9: the kernel keeps the 4 booked"
    assert said in caplog.text
    assert venue.account_events() == []  # no fill of its own to settle
    assert kernel.slot_state(0).size == pytest.approx(4.0)

    dropped(tws, venue)  # the reconnect lists both executions: neither is news
    assert until(venue.poll_events, 1, timeout=0.5) == []
    tws.fill(coid, 6.0, 190.0)
    (rest,) = feed(kernel, venue, 1)
    assert (rest.size, rest.filled_size) == (6.0, 10.0)
    assert kernel.slot_state(0).size == pytest.approx(10.0)
    assert kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN


def test_a_correction_adding_shares_to_an_execution_books_only_the_shares_added(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue()
    kernel = a_kernel(venue)
    coid = entered(kernel)
    first = tws.fill(coid, 4.0, 190.0)
    feed(kernel, venue, 1)

    corrected = tws.correct_execution(first, 5.0, 190.0, commission=1.2)
    (added,) = feed(kernel, venue, 1)
    assert (added.kind.name, added.size, added.filled_size, added.fill_id) == ("FILL", 1.0, 5.0, corrected)
    assert kernel.slot_state(0).size == pytest.approx(5.0)
    # The correction's commission replaces the execution's: its fill is settled the difference.
    settled = commissions(venue, 2)
    assert [(e.fill_id, e.fee) for e in settled] == [(first, 1.0), (corrected, pytest.approx(0.2))]
    assert all(kernel.on_account_event(e).accepted for e in settled)
    assert kernel.slot_state(0).fees_paid == pytest.approx(1.2)


def test_a_correction_adding_shares_at_a_lower_commission_settles_the_refund_on_its_fill_and_says_so(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> None:
    venue = make_venue()
    kernel = a_kernel(venue)
    sent = kernel.process_intent(entry())
    assert sent.order is not None
    first = tws.fill(sent.order.client_order_id, 4.0, 190.0)
    feed(kernel, venue, 1)

    corrected = tws.correct_execution(first, 5.0, 190.0, commission=0.8)
    feed(kernel, venue, 1)
    settled = commissions(venue, 2)
    assert [(e.fill_id, e.fee) for e in settled] == [(first, 1.0), (corrected, pytest.approx(-0.2))]
    assert all(kernel.on_account_event(e).accepted for e in settled)
    assert kernel.slot_state(0).fees_paid == pytest.approx(0.8)
    said = f"execution {corrected} corrects {first}: its commission 0.8 replaces 1.0: the difference"
    assert said in caplog.text


def heard_by_client(venue: IbkrVenue, exec_id: str, commission: bool, timeout: float = 30.0) -> None:
    """Wait until ib_async holds the execution ``exec_id`` (with its ``commission`` report)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fills = venue._conn.heard().fills
        if any(f.exec_id == exec_id and (f.commission is not None or not commission) for f in fills):
            return
        time.sleep(0.02)
    raise AssertionError(f"TWS's {'commission' if commission else 'execution'} {exec_id} not heard")


def test_a_corrections_commission_on_an_execution_it_adds_no_shares_to_is_not_booked_and_names_both(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> None:
    venue = make_venue()
    sent = venue.submit(VenueOrder("k-1", 0, "t", "AAPL", "BUY", "LIMIT", 190.0, 10.0))
    assert [e.kind.name for e in sent] == ["ORDER_ACK"]
    first = tws.fill("k-1", 4.0, 190.0)
    until(venue.poll_events, 1)
    assert [(e.fill_id, e.fee) for e in commissions(venue, 1)] == [(first, 1.0)]

    corrected = tws.correct_execution(first, 4.0, 189.9, commission=1.1)
    said = (
        f"execution {corrected} corrects {first}: its commission 1.1 is not booked: it booked no fill"
        f" to settle it on, and the kernel keeps the fee of {first}, its commission 1.0"
    )
    deadline = time.monotonic() + 5
    while said not in caplog.text and time.monotonic() < deadline:
        assert venue.account_events() == []  # the execution's fill is settled already
        time.sleep(0.02)
    assert said in caplog.text
    assert [r.levelname for r in caplog.records if "commission 1.1" in r.getMessage()] == ["WARNING"]


# A correction whose commission comes before the execution's own: a fill's fee counts from the
# commission of the fill before it, so the execution's fills wait for the execution's report.
CORRECTED_FIRST = [(4.0, 1.1, [("first", 1.0)]), (5.0, 1.25, [("first", 1.0), ("corrected", 0.25)])]


@pytest.mark.parametrize(
    ("shares", "commission", "settled"), CORRECTED_FIRST, ids=["no shares added", "shares added"]
)
def test_a_corrections_commission_before_the_executions_own_waits_for_it_to_settle_the_fills(
    tws: TwsServer,
    make_venue: Callable[..., IbkrVenue],
    shares: float,
    commission: float,
    settled: list[tuple[str, float]],
) -> None:
    venue = make_venue()
    kernel, _, first = filled_without_a_report(tws, venue)

    corrected = tws.correct_execution(first, shares, 190.0, commission=commission)
    feed(kernel, venue, len(settled) - 1)
    heard_by_client(venue, corrected, commission=True)
    assert venue.account_events() == []
    tws.report_commission(first, 1.0)
    ids = {"first": first, "corrected": corrected}
    fees = commissions(venue, len(settled))
    assert [(e.fill_id, e.fee) for e in fees] == [(ids[i], pytest.approx(fee)) for i, fee in settled]
    assert all(kernel.on_account_event(e).accepted for e in fees)
    assert kernel.slot_state(0).fees_paid == pytest.approx(sum(fee for _, fee in settled))


def test_a_fill_whose_fee_waits_for_a_report_that_has_not_come_says_so_at_warning_naming_both(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> None:
    venue = make_venue()
    kernel, _, first = filled_without_a_report(tws, venue)  # its commission report never comes
    corrected = tws.correct_execution(first, 5.0, 190.0, commission=1.2)
    feed(kernel, venue, 1)
    heard_by_client(venue, corrected, commission=True)
    assert venue.account_events() == []
    said = (
        f"execution {corrected}: its commission 1.2 settles its fill once the commission report of"
        f" {first}, the fill before it, comes: until then the kernel keeps its predicted fee"
        " (at most 60 s after that fill)"
    )
    assert [r.levelname for r in caplog.records if r.getMessage().endswith(said)] == ["WARNING"]


def test_a_fill_whose_commission_report_never_comes_is_settled_at_its_predicted_fee_and_lets_the_next_settle(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> None:
    now = [time.monotonic()]
    venue = make_venue(monotonic=lambda: now[0], commission_wait_s=30.0)
    kernel, coid, first = filled_without_a_report(tws, venue)  # its commission report never comes
    predicted = kernel.slot_state(0).fees_paid
    corrected = tws.correct_execution(first, 5.0, 190.0, commission=1.2)
    feed(kernel, venue, 1)
    heard_by_client(venue, corrected, commission=True)
    said = (
        f"order {coid}: execution {first}: no commission report within 30 s, and the fill of"
        f" {corrected} waits for it: the kernel's predicted fee stands, and that fill is settled at"
        " its whole commission"
    )
    now[0] += 29.9
    assert venue.account_events() == []
    assert said not in caplog.text

    # The fill given up is settled at its predicted fee, and the correction's at its whole
    # commission, as after a report not booked.
    now[0] += 0.1
    stands, settled = venue.account_events()
    assert (stands.fill_id, stands.fee, stands.predicted_fee_stands) == (first, 0.0, True)
    assert (settled.fill_id, settled.predicted_fee_stands) == (corrected, False)
    assert settled.fee == pytest.approx(1.2)
    outcome = kernel.on_account_event(stands)
    assert outcome.accepted and outcome.details["predicted_fee"] == pytest.approx(predicted)
    assert kernel.on_account_event(settled).accepted
    assert kernel.slot_state(0).fees_paid == pytest.approx(predicted + 1.2)
    assert kernel.account()["k_fees_paid"] == pytest.approx(predicted + 1.2)
    assert kernel.account()["k_unsettled_fees"] == pytest.approx(0.0)
    assert [r.levelname for r in caplog.records if r.getMessage().endswith(said)] == ["WARNING"]

    # The report coming after all settles nothing: the correction's 1.2 counts it already.
    tws.report_commission(first, 1.0)
    heard_by_client(venue, first, commission=True)
    assert venue.account_events() == []
    late = (
        f"order {coid}: execution {first}: commission 1.0 USD came after it was given up and"
        f" {corrected} settled at its whole commission: not booked, as it would count twice: the"
        " kernel keeps its predicted fee"
    )
    assert [r.levelname for r in caplog.records if r.getMessage().endswith(late)] == ["WARNING"]
    assert kernel.slot_state(0).fees_paid == pytest.approx(predicted + 1.2)
    # Booked by a venue that forgot the give-up (a restart), under the give-up's id: a resend.
    resent = AccountEvent(stands.event_id, "FILL_SETTLED", asset="AAPL", fee=1.0, fill_id=first)
    assert not kernel.on_account_event(resent).accepted
    # Under another id it is of another fee than the one settled: held, as after any
    # settlement, for a self-trade's other side no venue books, charging nothing.
    resent = AccountEvent("another-id", "FILL_SETTLED", asset="AAPL", fee=1.0, fill_id=first)
    assert kernel.on_account_event(resent).details["held_for_fill"] is True
    assert kernel.account()["k_fees_paid"] == pytest.approx(predicted + 1.2)
    assert kernel.account()["k_unsettled_fees"] == pytest.approx(0.0)


def test_a_commission_report_no_correction_waits_for_is_booked_however_late_it_comes(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> None:
    now = [time.monotonic()]
    venue = make_venue(monotonic=lambda: now[0], commission_wait_s=30.0)
    kernel, _, first = filled_without_a_report(tws, venue)
    now[0] += 3600.0
    assert venue.account_events() == []
    tws.report_commission(first, 1.0)
    (settled,) = commissions(venue, 1)
    assert (settled.fill_id, settled.fee) == (first, 1.0)
    assert kernel.on_account_event(settled).accepted
    assert kernel.slot_state(0).fees_paid == pytest.approx(1.0)
    assert kernel.account()["k_unsettled_fees"] == pytest.approx(0.0)
    assert "no commission report within" not in caplog.text


def test_the_fills_awaiting_a_commission_report_are_bounded_as_the_executions_remembered(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fill whose report never comes, and no correction waits for, is kept no longer than its
    execution is remembered: past the bound the oldest waits no more, the newest still books."""
    monkeypatch.setattr(ibkr_reports, "_EXECUTIONS_KEPT", 1)
    venue = make_venue()
    kernel, coid, _ = filled_without_a_report(tws, venue)
    second = tws.fill(coid, 1.0, 190.0, commission=None)
    feed(kernel, venue, 1)
    assert list(venue._reporter._awaited) == [second]
    tws.report_commission(second, 1.0)
    (settled,) = commissions(venue, 1)
    assert (settled.fill_id, settled.fee) == (second, 1.0)
    assert kernel.on_account_event(settled).accepted


def test_a_step_of_the_wall_clock_gives_up_no_commission_report_and_stamps_the_settlement(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    wall, now = [time.time()], [time.monotonic()]
    venue = make_venue(clock=lambda: wall[0], monotonic=lambda: now[0], commission_wait_s=30.0)
    kernel, _, first = filled_without_a_report(tws, venue)  # its report never comes
    corrected = tws.correct_execution(first, 5.0, 190.0, commission=1.2)
    feed(kernel, venue, 1)
    heard_by_client(venue, corrected, commission=True)
    wall[0] += 3600.0  # NTP steps the wall clock an hour on
    assert venue.account_events() == []
    now[0] += 30.0
    stands, settled = venue.account_events()
    assert (stands.fill_id, stands.timestamp) == (first, wall[0])
    assert (settled.fill_id, settled.timestamp) == (corrected, wall[0])


def test_a_correction_adding_no_shares_before_the_executions_commission_says_the_kernel_keeps_its_prediction(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> None:
    venue = make_venue()
    *_, first = filled_without_a_report(tws, venue)
    corrected = tws.correct_execution(first, 4.0, 189.9, commission=1.1)
    heard_by_client(venue, corrected, commission=True)
    assert venue.account_events() == []
    said = (
        f"execution {corrected} corrects {first}: its commission 1.1 is not booked: it booked no fill"
        f" to settle it on, and the kernel keeps the fee of {first}, its predicted fee until its"
        " commission report comes"
    )
    assert said in caplog.text


def test_a_commission_in_another_currency_settles_its_fill_predicted_and_the_correction_at_its_own(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> None:
    venue = make_venue()
    kernel = a_kernel(venue)
    coid = entered(kernel)
    first = tws.fill(coid, 4.0, 190.0, commission=0.9, commission_currency="EUR")
    feed(kernel, venue, 1)
    predicted = kernel.account()["k_fees_paid"]
    heard_by_client(venue, first, commission=True)
    corrected = tws.correct_execution(first, 5.0, 190.0, commission=1.2)
    feed(kernel, venue, 1)
    settled = commissions(venue, 2)
    assert [(e.fill_id, e.fee, e.predicted_fee_stands) for e in settled] == [
        (first, 0.0, True),
        (corrected, pytest.approx(1.2), False),
    ]
    assert all(kernel.on_account_event(e).accepted for e in settled)
    assert kernel.account()["k_unsettled_fees"] == pytest.approx(0.0)
    assert kernel.account()["k_fees_paid"] == pytest.approx(predicted + 1.2)
    said = (
        f"execution {first}: commission 0.9 EUR is not in USD, the currency of AAPL: not booked:"
        " its fill keeps the kernel's predicted fee"
    )
    assert said in caplog.text


# Each order in which TWS may send an execution (4 shares, commission 1.0) and its correction
# (5 shares, 1.2), each commission after its own execDetails ("exec"; "commission" is the
# commissionReport). TWS's listing after a reconnect sends every execDetails before any report.
HEARD_ORDERS = [
    order
    for order in itertools.permutations(["exec .01", "exec .02", "commission .01", "commission .02"])
    if all(order.index(f"exec {n}") < order.index(f"commission {n}") for n in (".01", ".02"))
]
# Those with the correction after the execution it corrects, as TWS sends them, and lists them.
CORRECTION_AFTER = [order for order in HEARD_ORDERS if order.index("exec .01") < order.index("exec .02")]
CORRECTION_FIRST = [order for order in HEARD_ORDERS if order not in CORRECTION_AFTER]


def settled_in_order(
    tws: TwsServer, venue: IbkrVenue, kernel: ExecutionKernel, heard_order: tuple[str, ...]
) -> list[AccountEvent]:
    """The commissions the kernel books for an execution of 4 and its correction to 5 (``.01``,
    ``.02``) of the kernel's entry, TWS sending them in ``heard_order`` (each read before the next)."""
    first = tws.fill(entered(kernel), 4.0, 190.0, commission=None, reported=False)
    corrected = first[:-2] + "02"
    sends: dict[str, Callable[[], object]] = {
        "exec .01": lambda: tws.repeat_execution(first),
        "exec .02": lambda: tws.correct_execution(first, 5.0, 190.0, commission=None),
        "commission .01": lambda: tws.report_commission(first, 1.0),
        "commission .02": lambda: tws.report_commission(corrected, 1.2),
    }
    settled: list[AccountEvent] = []
    for message in heard_order:
        sends[message]()
        heard_by_client(
            venue, first if message.endswith(".01") else corrected, message.startswith("commission")
        )
        for event in venue.poll_events():
            assert kernel.on_venue_event(event).accepted, event
        for fee in venue.account_events():
            assert kernel.on_account_event(fee).accepted, fee
            settled.append(fee)
    assert kernel.slot_state(0).size == pytest.approx(5.0)
    return settled


@pytest.mark.parametrize("heard_order", HEARD_ORDERS, ids=[", ".join(o) for o in HEARD_ORDERS])
def test_the_fees_of_a_corrected_execution_total_the_corrections_commission_in_any_order_heard(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], heard_order: tuple[str, ...]
) -> None:
    venue = make_venue()
    kernel = a_kernel(venue)
    settled = settled_in_order(tws, venue, kernel, heard_order)
    assert sum(e.fee for e in settled) == pytest.approx(1.2)
    assert kernel.slot_state(0).fees_paid == pytest.approx(1.2)
    fill_ids = [e.fill_id for e in settled]
    assert len(fill_ids) == len(set(fill_ids)), fill_ids  # each fill settled once


def settled_before_a_restart(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], wal: Path, heard_order: tuple[str, ...]
) -> list[tuple[str, float]]:
    """The (fill id, fee) of each commission ``settled_in_order`` books in a first session
    logging to ``wal``, which is then closed, its log free for the restart."""
    venue = make_venue()
    kernel = a_kernel(venue, wal)
    settled = [(e.fill_id, e.fee) for e in settled_in_order(tws, venue, kernel, heard_order)]
    kernel.close()
    venue.close()
    del kernel
    gc.collect()
    return settled


@pytest.mark.parametrize("heard_order", CORRECTION_AFTER, ids=[", ".join(o) for o in CORRECTION_AFTER])
def test_a_corrected_executions_fills_are_settled_at_the_same_fees_in_any_order_heard_and_after_a_restart(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], tmp_path: Path, heard_order: tuple[str, ...]
) -> None:
    settled = settled_before_a_restart(tws, make_venue, tmp_path, heard_order)
    first, corrected = (e.exec_id for e in tws.book.executions)
    assert settled == [(first, 1.0), (corrected, pytest.approx(0.2))]

    # The restarted venue reads both executions and both reports at once, and settles each fill
    # at the fee the kernel has: a resend, not a self-trade's other side.
    venue = make_venue()
    kernel = a_kernel(venue, tmp_path)
    report = kernel.reconcile_with_venue()
    assert report.unresolved == [] and report.missed_fills == [], report
    again = commissions(venue, 2)
    assert [(e.fill_id, e.fee) for e in again] == settled
    assert not any(kernel.on_account_event(e).accepted for e in again)
    assert kernel.slot_state(0).fees_paid == pytest.approx(1.2)


@pytest.mark.parametrize("heard_order", CORRECTION_FIRST, ids=[", ".join(o) for o in CORRECTION_FIRST])
def test_a_correction_heard_before_its_execution_keeps_the_fees_booked_after_a_restart(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], tmp_path: Path, heard_order: tuple[str, ...]
) -> None:
    settled_before_a_restart(tws, make_venue, tmp_path, heard_order)

    # The restart's listing books the execution first: its settlements name other fills, or
    # fills settled already, and change no fee the kernel booked. The execution's is held for a
    # fill the kernel never books.
    venue = make_venue()
    kernel = a_kernel(venue, tmp_path)
    kernel.reconcile_with_venue()
    first, _ = (e.exec_id for e in tws.book.executions)
    held = []
    for fee in commissions(venue, 2):
        if kernel.on_account_event(fee).details.get("held_for_fill"):
            held.append(fee.fill_id)
    assert held == [first]
    assert kernel.slot_state(0).fees_paid == pytest.approx(1.2)


def test_order_status_counts_a_corrected_execution_once_at_its_corrected_price(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue()
    order = VenueOrder("k-1", 0, "t", "AAPL", "BUY", "LIMIT", 190.0, 10.0)
    venue.submit(order)
    first = tws.fill("k-1", 4.0, 190.0)
    tws.correct_execution(first, 4.0, 189.5)
    assert [e.kind.name for e in venue.cancel(order)] == ["FILL", "CANCEL_ACK"]  # one fill of 4

    over = venue.order_status("k-1")
    assert over is not None
    assert (over.status.name, over.filled_size, over.avg_fill_price) == ("CANCELED", 4.0, 189.5)


def test_order_status_asks_tws_of_an_order_whose_submit_it_has_not_answered_and_finds_it_working(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue(answer_wait_s=0.1)
    tws.hold_next = True
    assert venue.submit(VenueOrder("k-1", 0, "t", "AAPL", "BUY", "LIMIT", 190.0, 10.0)) == []
    asked = len([r for r in tws.requests if r[0] == "5"])
    working = venue.order_status("k-1")
    assert working is not None
    (booked,) = tws.book.orders.values()
    assert (working.status.name, working.venue_order_id) == ("ACKNOWLEDGED", str(booked.perm_id))
    assert len([r for r in tws.requests if r[0] == "5"]) == asked + 1  # TWS's open orders, once


# What TWS says of an order whose submit it never answered, when asked for its open orders:
# nothing (the order was lost on its way), or no answer within connect_timeout_s (busy).
NOT_ANSWERED = [
    ("lose_next", "its open orders, asked, do not state it"),
    ("mute_open_orders", "nor listed its open orders within 0.5 s"),
]


@pytest.mark.parametrize(("setting", "said"), NOT_ANSWERED, ids=["not listed", "no listing"])
def test_order_status_of_an_order_tws_has_not_answered_about_even_asked_cannot_say_yet(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], setting: str, said: str
) -> None:
    venue = make_venue(answer_wait_s=0.1, connect_timeout_s=0.5)
    setattr(tws, setting, True)
    tws.lose_next = True
    assert venue.submit(VenueOrder("k-1", 0, "t", "AAPL", "BUY", "LIMIT", 190.0, 10.0)) == []
    asked = len([r for r in tws.requests if r[0] == "5"])
    # Not an order working under venue id "0": reconciliation would ack it with that id.
    with pytest.raises(VenueUnavailable, match="TWS has not answered about order 'k-1' yet") as raised:
        venue.order_status("k-1")
    assert said in str(raised.value)
    assert len([r for r in tws.requests if r[0] == "5"]) == asked + 1


def test_an_order_tws_has_not_answered_about_is_not_listed_open_and_reconciliation_leaves_it_unacknowledged(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue(answer_wait_s=0.1, connect_timeout_s=0.5)
    kernel = a_kernel(venue)
    tws.lose_next = True  # ib_async holds the order as PendingSubmit, with no permId
    coid = entered(kernel)
    assert venue.open_orders() == []
    report = kernel.reconcile_with_venue()
    (left,) = report.unresolved
    assert left["client_order_id"] == coid and "TWS has not answered about order" in left["reason"]
    (mine,) = kernel.open_orders()
    assert (mine.venue_order_id, kernel.slot_state(0).fsm_state) == ("", TradeStage.ORDER_SENT)


def test_open_orders_tws_does_not_list_in_time_are_a_venue_not_reached(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    """A bare TimeoutError, with no words, would leave a reconciliation's refusal saying
    nothing of what was waited for."""
    venue = make_venue(connect_timeout_s=0.5)
    tws.mute_open_orders = True
    with pytest.raises(VenueUnavailable, match=r"TWS has not listed its open orders within 0.5 s"):
        venue.open_orders()


def test_a_commission_in_another_currency_than_the_contracts_settles_its_fill_at_the_predicted_fee(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> None:
    venue = make_venue()
    kernel = a_kernel(venue)
    coid = entered(kernel)
    exec_id = tws.fill(coid, 5.0, 190.0, commission=0.9, commission_currency="EUR")
    feed(kernel, venue, 1)
    assert kernel.account()["k_unsettled_fees"] > 0
    predicted = kernel.account()["k_fees_paid"]
    (settled,) = commissions(venue, 1)
    assert (settled.fill_id, settled.fee, settled.predicted_fee_stands) == (exec_id, 0.0, True)
    assert f"execution {exec_id}: commission 0.9 EUR is not in USD" in caplog.text
    assert kernel.on_account_event(settled).accepted
    assert kernel.account()["k_unsettled_fees"] == pytest.approx(0.0)
    assert kernel.account()["k_fees_paid"] == pytest.approx(predicted)


@pytest.mark.parametrize("currency", ["USD", "EUR"])
def test_a_settlement_taken_before_its_fill_is_held_and_settles_the_fill_when_it_is_booked(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], currency: str
) -> None:
    """account_events() reads TWS's news itself and keeps the execution for poll_events: a
    commission report coming between the two gives the kernel its settlement first, whether at
    the commission (USD) or at the predicted fee (EUR, not the contract's currency)."""
    venue = make_venue()
    kernel = a_kernel(venue)
    coid = entered(kernel)
    tws.fill(coid, 5.0, 190.0, commission=0.9, commission_currency=currency)
    (settled,) = commissions(venue, 1)
    assert settled.predicted_fee_stands == (currency == "EUR")
    held = kernel.on_account_event(settled)
    assert held.accepted and held.details["held_for_fill"] is True, held.details
    (fill,) = until(venue.poll_events, 1)
    booked = kernel.on_venue_event(fill)
    assert booked.accepted and booked.details["settled_by"] == settled.event_id, booked.details
    fee = booked.details["predicted_fee"] if currency == "EUR" else 0.9
    assert kernel.account()["k_unsettled_fees"] == pytest.approx(0.0)
    assert kernel.account()["k_fees_paid"] == pytest.approx(fee)


def test_a_rejected_order_is_a_reject_naming_twss_reason(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue()
    tws.reject_next = "Insufficient buying power"
    (rejected,) = venue.submit(VenueOrder("k-1", 0, "t", "AAPL", "BUY", "LIMIT", 190.0, 1.0))
    assert rejected.kind.name == "REJECT"
    assert "201" in rejected.reason and "Insufficient buying power" in rejected.reason
    assert not venue.following()

    kernel = a_kernel(venue)
    tws.reject_next = "Insufficient buying power"
    assert kernel.process_intent(entry()).accepted
    assert kernel.slot_state(0).fsm_state == TradeStage.IDLE and kernel.open_orders() == []


def test_a_reject_that_came_while_open_orders_were_listed_still_ends_the_order(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue(answer_wait_s=0.05)
    kernel = a_kernel(venue)
    tws.reject_next, tws.reject_after_s = "Insufficient buying power", 0.3
    assert kernel.process_intent(entry()).accepted
    assert kernel.slot_state(0).fsm_state == TradeStage.ORDER_SENT  # no answer within the wait
    assert tws.rejected.wait(5)
    deadline = time.monotonic() + 5
    while not [o for o in venue._conn.heard().orders if o.error_code] and time.monotonic() < deadline:
        time.sleep(0.02)
    # Reconciling orders in doubt, or an operator's look, lists the orders between two polls.
    assert venue.open_orders() == []
    (rejected,) = feed(kernel, venue, 1)
    assert rejected.kind.name == "REJECT" and "Insufficient buying power" in rejected.reason
    assert kernel.slot_state(0).fsm_state == TradeStage.IDLE and kernel.open_orders() == []
    assert not venue.following()


def test_a_cancel_racing_a_fill_ends_the_order_with_the_fill_booked_after_its_end(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue()
    kernel = a_kernel(venue)
    sent = kernel.process_intent(entry())
    assert sent.order is not None
    tws.fill(sent.order.client_order_id, 4.0, 190.0)
    feed(kernel, venue, 1)

    # The exchange fills 3 more as the cancel arrives: TWS says Cancelled with 7 filled, then
    # reports the execution.
    tws.fill_before_cancel = (3.0, 189.5)
    out = kernel.process_intent(cancel_intent())
    assert out.accepted, out.to_dict()
    # The execution comes a moment after the end: in the cancel's answer when it came within
    # the answer's wait (a busy machine), else at the next poll.
    answered = [e.kind.name for e in out.emitted_events]
    late = [e for e in out.emitted_events if e.kind.name == "FILL"] or feed(kernel, venue, 1)
    assert answered in (["CANCEL_ACK"], ["FILL", "CANCEL_ACK"]), answered
    assert [e.kind.name for e in late] == ["FILL"] and late[0].size == 3.0
    assert kernel.slot_state(0).size == pytest.approx(7.0)
    assert kernel.open_orders() == []
    assert len(commissions(venue, 2)) == 2  # both fills' commissions


def test_a_cancel_of_an_order_tws_does_not_work_is_refused_with_10147(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue()
    order = VenueOrder("k-1", 0, "t", "AAPL", "BUY", "LIMIT", 190.0, 5.0)
    (ack,) = venue.submit(order)
    assert ack.kind.name == "ORDER_ACK"
    tws.refuse_cancels = True
    (refused,) = venue.cancel(order)
    assert refused.kind.name == "CANCEL_REJECT" and "10147" in refused.reason
    assert venue.following()


def test_a_cancel_tws_finds_not_cancellable_is_refused_with_161_and_the_order_works_on(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue(answer_wait_s=1.0)
    kernel = a_kernel(venue)
    sent = kernel.process_intent(entry())
    assert sent.order is not None
    tws.refuse_cancels = True
    tws.cancel_refusal = (
        161,
        "Cancel attempted when order is not in a cancellable state. Order permId ={perm_id}",
    )
    out = kernel.process_intent(cancel_intent())
    (refused,) = out.emitted_events
    assert refused.kind.name == "CANCEL_REJECT" and "TWS error 161: Cancel attempted" in refused.reason
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
    (working,) = kernel.open_orders()
    assert not working.cancel_requested


# TWS's answers to an order it never works: the error alone, no status (its real texts).
REFUSED_ORDERS = [
    (103, "Duplicate order id"),
    (200, "No security definition has been found for the request"),
    (110, "The price does not conform to the minimum price variation for this contract."),
    (201, "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED POSITION"),
]


@pytest.mark.parametrize(("code", "message"), REFUSED_ORDERS, ids=[str(c) for c, _ in REFUSED_ORDERS])
def test_an_order_tws_answers_with_an_error_ends_as_a_reject_naming_the_code_and_message(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], code: int, message: str
) -> None:
    venue = make_venue(answer_wait_s=1.0)
    kernel = a_kernel(venue)
    tws.error_next = (code, message)
    out = kernel.process_intent(entry())
    (rejected,) = out.emitted_events
    assert rejected.kind.name == "REJECT" and rejected.filled_size == 0.0
    assert rejected.reason == f"ibkr: TWS error {code}: {message}"
    assert kernel.slot_state(0).fsm_state == TradeStage.IDLE and kernel.open_orders() == []
    assert not venue.following()
    assert kernel.process_intent(entry(intent_id="i2")).accepted  # the slot takes the next entry
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING


def test_an_error_ending_a_part_filled_order_is_a_cancel_stating_no_filled_size(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue()
    kernel = a_kernel(venue)
    coid = entered(kernel)
    tws.fill(coid, 4.0, 190.0)
    feed(kernel, venue, 1)

    tws.error(coid, 201, "Order rejected - reason:Insufficient margin", ends=True)
    (ended,) = feed(kernel, venue, 1)
    # TWS's error states no filled size: an execution that raced it may still come.
    assert (ended.kind.name, ended.filled_size) == ("CANCEL_ACK", 0.0)
    assert (
        ended.reason
        == "ibkr: TWS error 201: Order rejected - reason:Insufficient margin (after 4 of 10 filled)"
    )
    assert kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN
    assert kernel.slot_state(0).size == pytest.approx(4.0) and kernel.open_orders() == []
    assert not venue.following()


def test_an_execution_that_raced_an_error_ending_a_working_order_is_booked(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue()
    kernel = a_kernel(venue)
    coid = entered(kernel)

    # The order worked at TWS: unfilled as far as anyone heard, it may have filled meanwhile.
    tws.error(coid, 201, "Order rejected - reason:Insufficient margin", ends=True)
    (ended,) = feed(kernel, venue, 1)
    assert ended.kind.name == "CANCEL_ACK" and "TWS error 201" in ended.reason
    assert kernel.slot_state(0).fsm_state == TradeStage.IDLE

    assert_late_fill_booked(tws, kernel, venue, coid)  # executed at the exchange before the end


# Not a warning to ib_async, which marks the order Cancelled, while TWS works it on.
ROUTED = (
    10311,
    "This order will be directly routed to NASDAQ. Direct routed orders may result in higher fees.",
)


def test_an_error_after_which_tws_lists_the_order_working_leaves_it_working_in_the_kernel(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue()
    kernel = a_kernel(venue)
    coid = entered(kernel)
    tws.error(coid, *ROUTED, ends=False)
    assert until(venue.poll_events, 1, timeout=0.5) == []
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
    assert [o.client_order_id for o in venue.open_orders()] == [coid]

    tws.fill(coid, 4.0, 190.0)
    assert [e.kind.name for e in feed(kernel, venue, 1)] == ["FILL"]
    (ended,) = kernel.process_intent(cancel_intent()).emitted_events
    assert (ended.kind.name, ended.filled_size) == ("CANCEL_ACK", 4.0)
    assert kernel.slot_state(0).size == pytest.approx(4.0) and kernel.open_orders() == []


def test_an_execution_after_an_error_does_not_end_the_order_before_tws_lists_its_open_orders(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue(connect_timeout_s=0.3)
    kernel = a_kernel(venue)
    coid = entered(kernel)
    tws.mute_open_orders = True
    tws.error(coid, *ROUTED, ends=False)
    # The execution read before the status that follows it: ib_async's status stays Cancelled.
    tws.repeat_execution(tws.fill(coid, 4.0, 190.0, reported=False))
    assert [e.kind.name for e in feed(kernel, venue, 1)] == ["FILL"]
    assert until(venue.poll_events, 1, timeout=0.5) == []
    tws.mute_open_orders = False
    assert until(venue.poll_events, 1, timeout=0.5) == []
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING


def test_an_order_in_question_while_tws_does_not_list_its_orders_holds_up_no_poll_nor_another_orders_submit(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dita.venues.ibkr")
    venue = make_venue(answer_wait_s=1.0, connect_timeout_s=3.0)
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="k")
    kernel.set_seed_capital(1e9)
    coid = entered(kernel)
    tws.mute_open_orders = True
    tws.error(coid, *ROUTED, ends=False)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        began = time.monotonic()
        assert venue.poll_events() == []
        assert time.monotonic() - began < 0.5
    another = KernelIntent(
        "i2", "tr-2", 1, "AAPL", "LONG", "ENTER", 190.0, 1.0,
        order_type="LIMIT", limit_price=190.0, timestamp=time.time(),
    )  # fmt: skip
    began = time.monotonic()
    other = kernel.process_intent(another)
    assert other.accepted and time.monotonic() - began < 1.0
    assert [e.kind.name for e in other.emitted_events] == ["ORDER_ACK"]

    tws.mute_open_orders = False  # the next listing shows the order working: it works on
    quiet_until(venue, lambda: f"TWS lists order {coid} working: it works on" in caplog.text, 4.0)
    assert f"TWS lists order {coid} working: it works on" in caplog.text
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING


def listings_asked(tws: TwsServer) -> int:
    return sum(1 for request in tws.requests if int(request[0]) == REQ_OPEN_ORDERS)


def listings_asked_by_now(tws: TwsServer, count: int, timeout: float = 5.0) -> int:
    """The listings asked once ``count`` were (or the time is up): the venue's loop thread sends
    an ask after the call that made it has returned."""
    deadline = time.monotonic() + timeout
    while listings_asked(tws) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return listings_asked(tws)


def put_in_question(
    tws: TwsServer, venue: IbkrVenue, *, ends: bool = False
) -> tuple[ExecutionKernel, str, int]:
    """A kernel's entry put in question by an error TWS keeps working it after (``ends``: that
    ends it, no status said), with TWS's open orders muted: (the kernel, the order's client id,
    the listings asked before the error)."""
    kernel = a_kernel(venue)
    coid = entered(kernel)
    tws.mute_open_orders = True
    asked = listings_asked(tws)
    tws.error(coid, *ROUTED, ends=ends)
    return kernel, coid, asked


def polled_until_listed(venue: IbkrVenue, tws: TwsServer, count: int, timeout: float = 5.0) -> None:
    """Poll ``venue`` until TWS was asked for its open orders ``count`` times in all."""
    deadline = time.monotonic() + timeout
    while listings_asked(tws) < count and time.monotonic() < deadline:
        assert venue.poll_events() == []
        time.sleep(0.02)
    assert listings_asked(tws) == count


def in_question_on_a_held_clock(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> tuple[list[float], IbkrVenue, tuple[ExecutionKernel, str, int]]:
    """A venue timed by ``now`` (moved by the test; listings time out after 1 s) with an order
    put in question (``put_in_question``), logged at DEBUG: (``now``, the venue, what
    ``put_in_question`` gives)."""
    caplog.set_level(logging.DEBUG, logger="dita.venues.ibkr")
    now = [time.monotonic()]
    venue = make_venue(monotonic=lambda: now[0], connect_timeout_s=1.0)
    return now, venue, put_in_question(tws, venue)


def test_a_listing_tws_leaves_unanswered_is_asked_again_less_often_up_to_a_cap_and_said_once(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> None:
    now, venue, (kernel, coid, asked) = in_question_on_a_held_clock(tws, make_venue, caplog)
    polled_until_listed(venue, tws, asked + 1)
    said = "TWS did not list its orders"
    for count, wait in enumerate([0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0], 1):
        now[0] += 1.0  # the listing's connect_timeout_s passes unanswered
        assert venue.poll_events() == []
        assert caplog.text.count(said) == count
        now[0] += wait - 0.01
        time.sleep(0.1)
        assert venue.poll_events() == [] and listings_asked(tws) == asked + 1, wait
        now[0] += 0.01
        asked += 1
        polled_until_listed(venue, tws, asked + 1)
    unanswered = [r for r in caplog.records if said in r.getMessage()]
    assert [r.levelname for r in unanswered] == ["WARNING"] + ["DEBUG"] * 7
    assert "asked again in 0.5 s, then less often up to every 30 s" in unanswered[0].getMessage()

    # Once TWS lists its orders (the muted listings ended late, in order, before the one asked
    # then), the order works on, and the next listing unanswered is said again and asked again
    # half a second later.
    tws.mute_open_orders = False
    now[0] += 1.0  # the ninth goes unanswered too
    assert venue.poll_events() == []
    now[0] += 30.0
    polled_until_listed(venue, tws, asked + 2)
    quiet_until(venue, lambda: f"TWS lists order {coid} working: it works on" in caplog.text, 0.5)
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
    assert "TWS listed its orders after 9 listings unanswered" in caplog.text
    assert f"TWS lists order {coid} working: it works on" in caplog.text
    tws.mute_open_orders = True
    tws.error(coid, *ROUTED, ends=False)
    polled_until_listed(venue, tws, asked + 3)
    now[0] += 1.0
    assert venue.poll_events() == []
    now[0] += 0.5
    polled_until_listed(venue, tws, asked + 4)
    levels = [r.levelname for r in caplog.records if said in r.getMessage()]
    assert levels == ["WARNING"] + ["DEBUG"] * 8 + ["WARNING"]


def test_a_listing_unanswered_for_hours_is_asked_again_every_30_s_and_holds_up_no_poll_nor_submit(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> None:
    now, venue, (*_, asked) = in_question_on_a_held_clock(tws, make_venue, caplog)
    polled_until_listed(venue, tws, asked + 1)
    for _ in range(1040):  # past 2**1024, a float's most
        now[0] += 1.0
        assert venue.poll_events() == []  # unanswered
        now[0] += 30.0
        assert venue.poll_events() == []  # asked again
    # A loaded host may have a listing's ask still on its way at a look: counted at the next.
    said = r"asked again in 30 s, then less often up to every 30 s while it does not \((\d+) unanswered in"
    assert max(int(n) for n in re.findall(said, caplog.text)) > 1024
    # Placed, and answered when TWS, with a thousand listings to read first, gets to it.
    sent = venue.submit(VenueOrder("k-2", 0, "t", "AAPL", "BUY", "LIMIT", 190.0, 1.0))
    assert [e.kind.name for e in sent] in ([], ["ORDER_ACK"])
    assert venue.following()


def test_listings_tws_loses_are_asked_again_less_often_and_the_venue_reconnects_once_tws_answers_again(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> None:
    """While TWS ends no listing, nothing says its ends are out of step, and a reconnect would
    find it as silent. Once it answers, its first end is taken for a lost listing's and the
    listing asked waits on; that one given up, the venue reconnects and lists afresh."""
    now, venue, (kernel, coid, asked) = in_question_on_a_held_clock(tws, make_venue, caplog)
    tws.mute_open_orders, tws.lose_open_orders = False, True
    for count, wait in enumerate([0.5, 1.0, 2.0, 4.0], 1):
        polled_until_listed(venue, tws, asked + count)
        now[0] += 1.0
        assert venue.poll_events() == []  # given up
        now[0] += wait
    polled_until_listed(venue, tws, asked + 5)
    assert tws.connections == 1 and "reconnecting" not in caplog.text
    tws.lose_open_orders = False
    now[0] += 1.0
    assert venue.poll_events() == []  # the fifth, lost too, given up
    now[0] += 8.0
    polled_until_listed(venue, tws, asked + 6)  # answered at once: its end taken for the first lost's
    time.sleep(0.2)
    assert venue.poll_events() == []
    now[0] += 1.0
    assert venue.poll_events() == []  # given up, the connection closed
    assert "(6 unanswered in a row): its ends name no listing" in caplog.text
    # Reconnected: its listing comes at once.
    quiet_until(venue, lambda: f"TWS lists order {coid} working: it works on" in caplog.text, 1.0)
    assert tws.connections == 2
    assert f"TWS lists order {coid} working: it works on" in caplog.text
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING


def test_open_orders_listed_end_a_row_of_unanswered_listings_and_the_next_is_said_at_warning(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> None:
    now, venue, (_, coid, asked) = in_question_on_a_held_clock(tws, make_venue, caplog)
    for count in (1, 2):
        polled_until_listed(venue, tws, asked + count)
        now[0] += 1.0
        assert venue.poll_events() == []
        now[0] += 30.0
    tws.mute_open_orders = False
    assert [o.client_order_id for o in venue.open_orders()] == [coid]
    assert "TWS listed its orders after 2 listings unanswered" in caplog.text

    tws.mute_open_orders = True
    tws.error(coid, *ROUTED, ends=False)  # in question again: the listing it asks goes unanswered
    polled_until_listed(venue, tws, asked + 4)
    now[0] += 1.0
    assert venue.poll_events() == []
    unanswered = [r for r in caplog.records if "TWS did not list its orders" in r.getMessage()]
    assert [r.levelname for r in unanswered] == ["WARNING", "DEBUG", "WARNING"]
    assert "asked again in 0.5 s" in unanswered[-1].getMessage()


def listing_held(tws: TwsServer, venue: IbkrVenue, asked: int) -> None:
    """Poll ``venue`` until it asks TWS for its open orders, held by TWS until the test answers."""
    tws.mute_open_orders, tws.hold_open_orders = False, True
    polled_until_listed(venue, tws, asked + 1)


def answered_in(seconds: float, *answers: Callable[[], None]) -> None:
    """TWS sends ``answers`` in ``seconds``, while the venue waits."""
    threading.Timer(seconds, lambda: [answer() for answer in answers]).start()


def test_open_orders_end_an_order_in_question_tws_no_longer_lists_as_a_polls_listing_does(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue()
    kernel, coid, asked = put_in_question(tws, venue, ends=True)
    listing_held(tws, venue, asked)  # the error read: the poll's listing on its way
    answered_in(0.3, tws.listed_open_orders, tws.open_orders_end)
    assert venue.open_orders() == []  # a reconciliation's, or an operator's look
    assert listings_asked(tws) == asked + 1  # it waited for the poll's listing
    (ended,) = venue.poll_events()  # at once, not once a poll's listing comes
    assert (ended.kind.name, ended.venue_client_id) == ("CANCEL_ACK", coid)
    assert ended.reason == f"ibkr: TWS error {ROUTED[0]}: {ROUTED[1]}"
    assert kernel.on_venue_event(ended).accepted
    assert kernel.slot_state(0).fsm_state == TradeStage.IDLE and kernel.open_orders() == []
    assert not venue.following()


def test_open_orders_listing_an_order_in_question_working_leave_it_working_and_ask_no_more(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dita.venues.ibkr")
    venue = make_venue()
    kernel, coid, asked = put_in_question(tws, venue)
    listing_held(tws, venue, asked)
    answered_in(0.3, tws.listed_open_orders, tws.open_orders_end)
    assert [o.client_order_id for o in venue.open_orders()] == [coid]
    assert f"TWS lists order {coid} working: it works on" in caplog.text
    assert until(venue.poll_events, 1, timeout=0.3) == []
    assert listings_asked(tws) == asked + 1  # the poll's listing, open_orders waited for: no other
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING


def test_an_error_about_an_order_inside_its_listing_leaves_it_in_question_until_the_next_listing(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dita.venues.ibkr")
    venue = make_venue()
    kernel, coid, asked = put_in_question(tws, venue)
    listing_held(tws, venue, asked)
    # TWS lists the order working, then errs about it again (ib_async: Cancelled), then ends the
    # listing while open_orders() waits: TWS may work it on after that error.
    tws.listed_open_orders()
    tws.error(coid, *ROUTED, ends=False)
    assert until(venue.poll_events, 1, timeout=0.3) == []
    answered_in(0.3, tws.open_orders_end)
    venue.open_orders()
    assert venue.poll_events() == []
    assert listings_asked_by_now(tws, asked + 2) == asked + 2  # asked again for the order in question
    tws.listed_open_orders()
    tws.open_orders_end()
    quiet_until(venue, lambda: f"TWS lists order {coid} working: it works on" in caplog.text, 0.5)
    assert f"TWS lists order {coid} working: it works on" in caplog.text
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING


@pytest.mark.parametrize("read_by", ["a poll", "open_orders"])
def test_an_error_about_an_order_read_with_its_listings_end_leaves_it_in_question(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], read_by: str
) -> None:
    """TWS lists the order working, errs about it (ib_async: Cancelled) and ends the listing,
    all read at once: the error is counted before the listing settles anything."""
    venue = make_venue()
    kernel, coid, asked = put_in_question(tws, venue)
    listing_held(tws, venue, asked)
    answer = (tws.listed_open_orders, lambda: tws.error(coid, *ROUTED, ends=False), tws.open_orders_end)
    if read_by == "a poll":
        for said in answer:
            said()
        time.sleep(0.3)  # ib_async reads the three before the venue polls
    else:
        answered_in(0.3, *answer)
        venue.open_orders()
    assert venue.poll_events() == []
    polled_until_listed(venue, tws, asked + 2)  # asked again for the order in question since
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING


def test_open_orders_waiting_for_a_polls_listing_tws_answers_late_is_unavailable_then_asks_its_own(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dita.venues.ibkr")
    venue = make_venue(connect_timeout_s=0.5)
    _, coid, asked = put_in_question(tws, venue)
    polled_until_listed(venue, tws, asked + 1)  # muted: TWS answers it late, with the next
    with pytest.raises(VenueUnavailable, match=re.escape("TWS has not listed its open orders within 0.5 s")):
        venue.open_orders()
    # Given up as a poll gives one up: the polls ask again 0.5 s later.
    assert until(venue.poll_events, 1, timeout=0.3) == []
    assert listings_asked(tws) == asked + 1
    assert "TWS did not list its orders within 0.5 s (TimeoutError); asked again in 0.5 s" in caplog.text
    tws.mute_open_orders = False
    assert [o.client_order_id for o in venue.open_orders()] == [coid]
    assert listings_asked(tws) == asked + 2
    assert "open orders, given up: it settles nothing" in caplog.text
    assert tws.connections == 1


def test_open_orders_after_a_listing_tws_lost_are_unavailable_until_a_new_connection_lists_them(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> None:
    """TWS never ends the poll's listing; the one ``open_orders()`` asks next it answers at once,
    its end taken for the lost one's. That one given up too, the venue reconnects, and the next
    ``open_orders()`` lists on a new connection, each call bounded by ``connect_timeout_s``."""
    venue = make_venue(connect_timeout_s=0.5)
    _, coid, asked = put_in_question(tws, venue)
    tws.mute_open_orders, tws.lose_open_orders = False, True
    polled_until_listed(venue, tws, asked + 1)
    with pytest.raises(VenueUnavailable, match=re.escape("TWS has not listed its open orders within 0.5 s")):
        venue.open_orders()
    tws.lose_open_orders = False
    with pytest.raises(VenueUnavailable, match=re.escape("TWS has not listed its open orders within 0.5 s")):
        venue.open_orders()
    assert listings_asked_by_now(tws, asked + 2) == asked + 2
    assert "(2 unanswered in a row)" in caplog.text and "reconnecting to list afresh" in caplog.text
    assert [o.client_order_id for o in venue.open_orders()] == [coid]
    assert tws.connections == 2


def test_open_orders_inside_the_back_off_waits_it_out_and_takes_no_late_end_for_its_listings(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    """A poll's listing given up, TWS sends it late: the order working, an error about it
    (ib_async: Cancelled), then the end. ``open_orders()`` inside the polls' back-off waits it out,
    so that end is not taken for its own listing's, and TWS's answer to its own settles the order."""
    venue = make_venue(connect_timeout_s=0.5)
    kernel, coid, asked = put_in_question(tws, venue)
    polled_until_listed(venue, tws, asked + 1)  # muted: given up after 0.5 s
    time.sleep(0.6)
    assert venue.poll_events() == []
    tws.listed_open_orders()
    tws.error(coid, *ROUTED, ends=False)
    assert until(venue.poll_events, 1, timeout=0.1) == []
    tws.mute_open_orders, tws.hold_open_orders = False, True

    def late_end_then_its_own_listing() -> None:
        time.sleep(0.05)
        tws.open_orders_end()  # the late end, inside the back-off
        deadline = time.monotonic() + 5
        while listings_asked(tws) < asked + 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.05)
        tws.listed_open_orders()
        tws.open_orders_end()

    threading.Thread(target=late_end_then_its_own_listing, daemon=True).start()
    assert [o.client_order_id for o in venue.open_orders()] == [coid]
    assert listings_asked(tws) == asked + 2
    assert venue.poll_events() == []
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING


@pytest.mark.parametrize("given_up_by", ["a poll", "open_orders"])
def test_a_listing_given_up_whose_end_comes_after_the_next_was_asked_settles_nothing_but_the_next_does(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture, given_up_by: str
) -> None:
    """TWS lists the order working, errs about it (ib_async: Cancelled), and ends that listing
    only after the venue gave it up and asked the next: that end is the given-up listing's, and
    the order, TWS having not listed it since, works on until the next listing's own end."""
    caplog.set_level(logging.INFO, logger="dita.venues.ibkr")
    # The polls' clock held: the next listing is given up only when the test moves it, not
    # while a loaded host reads TWS's answer.
    now = [time.monotonic()]
    venue = make_venue(monotonic=lambda: now[0], connect_timeout_s=0.5)
    kernel, coid, asked = put_in_question(tws, venue)
    listing_held(tws, venue, asked)
    tws.listed_open_orders()
    tws.error(coid, *ROUTED, ends=False)
    if given_up_by == "a poll":
        time.sleep(0.6)  # ib_async reads the two
        now[0] += 0.6
        assert venue.poll_events() == []
    else:
        with pytest.raises(VenueUnavailable):
            venue.open_orders()
    assert "TWS did not list its orders within 0.5 s" in caplog.text
    now[0] += 0.5
    polled_until_listed(venue, tws, asked + 2)  # after the back-off
    tws.open_orders_end()  # the given-up listing's
    given_up = f"TWS ended listing {asked + 1} of its open orders, given up: it settles nothing"
    quiet_until(venue, lambda: given_up in caplog.text, 0.3)
    assert given_up in caplog.text
    assert "nor is it taken for the end of the 1 asked after it" in caplog.text
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
    tws.listed_open_orders()
    tws.open_orders_end()  # the next listing's own
    quiet_until(venue, lambda: f"TWS lists order {coid} working: it works on" in caplog.text, 0.5)
    assert f"TWS lists order {coid} working: it works on" in caplog.text
    assert listings_asked(tws) == asked + 2
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING


def test_the_late_end_of_a_listing_given_up_before_the_next_is_asked_is_said_at_info_and_settles_nothing(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dita.venues.ibkr")
    venue = make_venue(connect_timeout_s=0.5)
    kernel, _, asked = put_in_question(tws, venue, ends=True)
    listing_held(tws, venue, asked)
    time.sleep(0.6)
    assert venue.poll_events() == []  # given up; the next asked 0.5 s later
    assert "TWS did not list its orders within 0.5 s" in caplog.text
    tws.open_orders_end()  # its late end, inside the back-off
    logged(caplog, "TWS ended listing")
    (said,) = [r for r in caplog.records if "TWS ended listing" in r.getMessage()]
    assert said.levelname == "INFO"
    assert f"listing {asked + 1} of its open orders, given up: it settles nothing" in said.getMessage()
    assert "the end of the 0 asked after it" in said.getMessage()
    assert venue.poll_events() == []
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING


@pytest.mark.parametrize(("listing", "connections"), [("late", 1), ("lost", 2)])
def test_an_order_tws_ended_ends_after_a_listing_tws_answers_late_or_loses_reconnecting_for_a_lost_one(
    tws: TwsServer,
    make_venue: Callable[..., IbkrVenue],
    caplog: pytest.LogCaptureFixture,
    listing: str,
    connections: int,
) -> None:
    """TWS ended the order (an error, no longer listed) and answers the listing asked then late, or
    never (lost); every later listing it answers at once, in full. A late end is the given-up
    listing's, and the next settles the order at its own end. A lost one's end never comes, so
    each later end is taken for the listing before it: the second listing in a row given up
    while TWS ended an earlier one drops the connection, and the reconnect's listing settles the
    order."""
    caplog.set_level(logging.INFO, logger="dita.venues.ibkr")
    venue = make_venue(connect_timeout_s=0.5)
    kernel, coid, asked = put_in_question(tws, venue, ends=True)
    tws.mute_open_orders, tws.lose_open_orders = listing == "late", listing == "lost"
    polled_until_listed(venue, tws, asked + 1)
    tws.mute_open_orders = tws.lose_open_orders = False
    (ended,) = until(venue.poll_events, 1)
    assert (ended.kind.name, ended.venue_client_id) == ("CANCEL_ACK", coid)
    assert kernel.on_venue_event(ended).accepted
    assert kernel.slot_state(0).fsm_state == TradeStage.IDLE and kernel.open_orders() == []
    assert tws.connections == connections
    reconnected = [r for r in caplog.records if "reconnecting to list afresh" in r.getMessage()]
    assert [r.levelname for r in reconnected] == (["WARNING"] if listing == "lost" else [])
    assert venue.open_orders() == []  # listed on the connection TWS answers in step


def test_an_end_of_open_orders_no_request_asked_for_is_said_and_the_next_listing_ends_at_its_own(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> None:
    venue = make_venue()
    tws.open_orders_end()
    logged(caplog, "TWS ended a listing of its open orders no request asked for: not counted")
    assert venue.poll_events() == []
    _, coid, asked = put_in_question(tws, venue, ends=True)
    listing_held(tws, venue, asked)
    time.sleep(0.2)
    assert venue.poll_events() == []  # not ended by the end counted before it was asked
    tws.open_orders_end()
    (ended,) = until(venue.poll_events, 1)
    assert (ended.kind.name, ended.venue_client_id) == ("CANCEL_ACK", coid)


def test_a_step_back_of_the_wall_clock_holds_no_listing_on_its_way(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> None:
    wall, now = [time.time()], [time.monotonic()]
    venue = make_venue(clock=lambda: wall[0], monotonic=lambda: now[0], connect_timeout_s=1.0)
    *_, asked = put_in_question(tws, venue)
    polled_until_listed(venue, tws, asked + 1)
    wall[0] -= 3600.0  # NTP steps the wall clock an hour back
    now[0] += 1.0
    assert venue.poll_events() == []
    assert "TWS did not list its orders within 1 s (TimeoutError)" in caplog.text
    now[0] += 0.5
    polled_until_listed(venue, tws, asked + 2)


def test_an_order_tws_made_inactive_after_working_is_a_cancel_and_a_later_execution_is_booked(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue()
    kernel = a_kernel(venue)
    coid = entered(kernel)

    tws.cancel_at_tws(coid, "Inactive")
    (ended,) = feed(kernel, venue, 1)
    assert (ended.kind.name, ended.filled_size) == ("CANCEL_ACK", 0.0)
    assert ended.reason == "ibkr: TWS made the order inactive"
    assert kernel.slot_state(0).fsm_state == TradeStage.IDLE and kernel.open_orders() == []

    assert_late_fill_booked(tws, kernel, venue, coid)  # executed before the end, reported after it


def test_an_order_tws_made_inactive_part_filled_is_a_cancel_stating_what_filled(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue()
    kernel = a_kernel(venue)
    coid = entered(kernel)
    tws.fill(coid, 4.0, 190.0)
    feed(kernel, venue, 1)

    tws.cancel_at_tws(coid, "Inactive")
    (ended,) = feed(kernel, venue, 1)
    assert (ended.kind.name, ended.filled_size) == ("CANCEL_ACK", 4.0)
    assert ended.reason == "ibkr: TWS made the order inactive (after 4 of 10 filled)"
    assert kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN
    assert kernel.slot_state(0).size == pytest.approx(4.0) and kernel.open_orders() == []
    assert not venue.following()


def test_an_order_tws_made_inactive_before_acknowledging_it_is_a_reject_and_frees_the_slot(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue(answer_wait_s=1.0)
    kernel = a_kernel(venue)
    tws.statuses_next = ["Inactive"]
    out = kernel.process_intent(entry())
    (rejected,) = out.emitted_events
    assert (rejected.kind.name, rejected.filled_size) == ("REJECT", 0.0)
    assert rejected.reason == "ibkr: TWS made the order inactive"
    assert kernel.slot_state(0).fsm_state == TradeStage.IDLE and kernel.open_orders() == []
    assert not venue.following()


# An order TWS works a moment and ends before the venue reads what it said: by a status, or an
# error ib_async marks the order Cancelled on.
ENDS_UNSEEN = [
    (["Submitted", "Inactive"], None, "ibkr: TWS made the order inactive"),
    (["PreSubmitted"], (201, "Order rejected - reason:Insufficient margin"), "ibkr: TWS error 201"),
]


@pytest.mark.parametrize(("statuses", "error", "reason"), ENDS_UNSEEN, ids=["Inactive", "201"])
def test_an_order_tws_worked_and_ended_between_two_readings_is_a_cancel_and_its_execution_is_booked(
    tws: TwsServer,
    make_venue: Callable[..., IbkrVenue],
    statuses: list[str],
    error: tuple[int, str] | None,
    reason: str,
) -> None:
    venue = make_venue(answer_wait_s=0.0)
    kernel = a_kernel(venue)
    tws.statuses_next, tws.after_next = statuses, error
    sent = kernel.process_intent(entry())  # read once, most often before TWS answered
    assert sent.order is not None
    coid = sent.order.client_order_id
    time.sleep(0.3)  # TWS's answers all come before the next reading

    events = [*sent.emitted_events, *feed(kernel, venue, 2 - len(sent.emitted_events))]
    assert [(e.kind.name, e.filled_size) for e in events] == [("ORDER_ACK", 0.0), ("CANCEL_ACK", 0.0)]
    assert events[1].reason.startswith(reason) and events[1].venue_order_id == events[0].venue_order_id
    assert kernel.slot_state(0).fsm_state == TradeStage.IDLE and kernel.open_orders() == []

    assert_late_fill_booked(tws, kernel, venue, coid)  # executed in its moment at the exchange


def test_a_warning_right_after_tws_acknowledged_an_order_leaves_it_acknowledged(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue(answer_wait_s=1.0)
    kernel = a_kernel(venue)
    tws.after_next = (10349, "Order TIF was set to DAY based on order preset.")
    sent = kernel.process_intent(entry())
    assert [e.kind.name for e in sent.emitted_events] == ["ORDER_ACK"]
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING


def test_an_error_ending_an_order_whose_submit_timed_out_still_ends_it(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], monkeypatch: pytest.MonkeyPatch
) -> None:
    venue = make_venue()
    kernel = a_kernel(venue)
    call = venue._conn.call

    def placed_late(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        answer = call(fn, *args, **kwargs)
        if getattr(fn, "__name__", "") == "placeOrder":
            raise TimeoutError  # the order went out; the loop thread's answer did not come back
        return answer

    monkeypatch.setattr(venue._conn, "call", placed_late)
    sent = kernel.process_intent(entry())
    assert sent.order is not None and kernel.slot_state(0).fsm_state == TradeStage.ORDER_SENT
    monkeypatch.setattr(venue._conn, "call", call)
    coid = sent.order.client_order_id
    assert [e.kind.name for e in feed(kernel, venue, 1)] == ["ORDER_ACK"]  # its status names it

    # TWS's errors name the order by its order id, which the submit never learned.
    tws.error(coid, 201, "Order rejected - reason:Insufficient margin", ends=True)
    (ended,) = feed(kernel, venue, 1)
    assert ended.kind.name == "CANCEL_ACK" and "TWS error 201" in ended.reason
    assert kernel.slot_state(0).fsm_state == TradeStage.IDLE and kernel.open_orders() == []


def test_warnings_about_an_order_and_the_data_farms_notices_leave_everything_working(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dita.venues.ibkr")
    venue = make_venue()
    kernel = a_kernel(venue)
    tws.warn_next = (10349, "Order TIF was set to DAY based on order preset.")
    sent = kernel.process_intent(entry())
    assert [e.kind.name for e in sent.emitted_events] == ["ORDER_ACK"]
    assert sent.order is not None
    coid = sent.order.client_order_id
    warnings = [
        (
            399,
            "Order Message:\nBUY 10 AAPL NASDAQ.NMS\nWarning: your order will not be placed at the"
            " exchange until 2026-11-30 09:30:00 US/Eastern",
        ),
        (
            404,
            "Shares for this order are not immediately available for short sale. The order will be"
            " held while we attempt to locate the shares.",
        ),
        (110, "The price does not conform to the minimum price variation for this contract."),
        (
            2109,
            "Order Event Warning:Attribute 'Outside Regular Trading Hours' is ignored based on the"
            " order type and destination. PlaceOrder is now being processed.",
        ),
    ]
    for code, message in warnings:
        tws.error(coid, code, message, ends=False)
    assert until(venue.poll_events, 1, timeout=0.5) == []
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
    tws.fill(coid, 10.0, 190.0)
    assert [e.kind.name for e in feed(kernel, venue, 1)] == ["FILL"]
    assert kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN

    logged = {
        (r.levelname, int(m.group(1)))
        for r in caplog.records
        if (m := re.search(r"TWS error (\d+)", r.getMessage()))
    }
    assert {code for _, code in logged} >= {10349, 399, 404, 110, 2109, 2104, 2106, 2158}
    # The farms' notices are news, not trouble.
    assert {level for level, code in logged if code in (2104, 2106, 2158)} == {"INFO"}


def test_a_cancel_tws_refuses_after_an_order_refused_here_reaches_the_kernel_as_its_own_event(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue()
    kernel = a_kernel(venue)  # told no tick size: the venue refuses the order off it
    off_tick = kernel.process_intent(
        KernelIntent(
            "i0", "tr-0", 0, "AAPL", "LONG", "ENTER", 190.0, 10.0,
            order_type="LIMIT", limit_price=190.001, timestamp=time.time(),
        )
    )  # fmt: skip
    assert [e.kind.name for e in off_tick.emitted_events] == ["REJECT"]
    sent = kernel.process_intent(entry())
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
    tws.refuse_cancels = True
    out = kernel.process_intent(cancel_intent())
    assert out.details.get("venue_events_refused") is None, out.to_dict()
    (refused,) = out.emitted_events
    assert refused.kind.name == "CANCEL_REJECT" and "10147" in refused.reason
    assert refused.event_id != off_tick.emitted_events[0].event_id
    assert sent.order is not None
    (working,) = kernel.open_orders()
    assert working.client_order_id == sent.order.client_order_id and not working.cancel_requested


def dropped(tws: TwsServer, venue: IbkrVenue) -> None:
    """TWS drops the connection; back once the venue knows it is down (at most 5 s)."""
    tws.drop()
    deadline = time.monotonic() + 5
    while venue._conn.connected() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_dropped_connection_is_reconnected_and_the_fills_made_meanwhile_reported_once(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue()
    kernel = a_kernel(venue)
    coid = entered(kernel)
    tws.fill(coid, 2.0, 190.0)
    feed(kernel, venue, 1)

    dropped(tws, venue)
    tws.fill(coid, 5.0, 189.0, commission=0.75)  # nobody connected: TWS keeps the execution

    events = feed(kernel, venue, 1)  # reconnects, reads the day's executions
    assert [(e.kind.name, e.size) for e in events] == [("FILL", 5.0)]
    assert tws.connections == 2
    assert kernel.slot_state(0).size == pytest.approx(7.0)
    assert [e.fee for e in commissions(venue, 2)] == [1.0, 0.75]
    assert until(venue.poll_events, 1, timeout=0.3) == []


def test_executions_past_the_orders_size_fill_it_and_the_rest_is_named_for_reconciliation(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> None:
    venue = make_venue()
    kernel = a_kernel(venue)
    coid = entered(kernel)  # 10 shares
    tws.fill(coid, 6.0, 190.0)
    feed(kernel, venue, 1)
    tws.fill(coid, 6.0, 190.0)  # TWS executes 12 of an order of 10

    with caplog.at_level(logging.ERROR, logger="dita.venues.ibkr"):
        (fill,) = [e for e in until(venue.poll_events, 1) if e.kind.name == "FILL"]
    assert (fill.size, fill.filled_size) == (6.0, 10.0)
    assert kernel.on_venue_event(fill).accepted
    assert kernel.slot_state(0).size == pytest.approx(10.0)
    assert kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN
    [named] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert "puts its filled size at 12, past its size 10" in named and "the 2 beyond it" in named, named


def test_a_fill_read_by_a_poll_whose_listing_ask_raises_is_still_reported_once(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], monkeypatch: pytest.MonkeyPatch
) -> None:
    venue = make_venue()
    kernel = a_kernel(venue)
    coid = entered(kernel)
    tws.fill(coid, 4.0, 190.0, commission=None)
    stalled = []

    def loop_thread_stalled() -> int:
        stalled.append(True)
        raise TimeoutError("ib_async's loop did not answer")

    # A listing is due (as after a reconnect), and asking it finds the loop thread stalled.
    venue._relist_due = True
    monkeypatch.setattr(venue._conn, "statuses_heard", loop_thread_stalled)
    events: list[VenueEvent] = []
    deadline = time.monotonic() + 5.0
    while not any(e.kind.name == "FILL" for e in events) and time.monotonic() < deadline:
        events += venue.poll_events()
        time.sleep(0.02)

    assert stalled
    assert [(e.kind.name, e.size) for e in events if e.kind.name == "FILL"] == [("FILL", 4.0)]
    for event in events:
        kernel.on_venue_event(event)
    assert kernel.slot_state(0).size == pytest.approx(4.0)
    monkeypatch.undo()
    assert [e for e in until(venue.poll_events, 1, timeout=0.3) if e.kind.name == "FILL"] == []


def test_a_reconnects_listing_starts_the_commission_wait_anew_for_the_reports_after_it(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    now = [time.monotonic()]
    venue = make_venue(monotonic=lambda: now[0], commission_wait_s=30.0)
    kernel, _, first = filled_without_a_report(tws, venue)
    corrected = tws.correct_execution(first, 5.0, 190.0, commission=1.2)
    feed(kernel, venue, 1)
    heard_by_client(venue, corrected, commission=True)  # its fill waits for the report of first

    dropped(tws, venue)
    now[0] += 60.0
    quiet_until(venue, lambda: tws.connections == 2, 1.0)  # reconnects; the listing comes
    assert tws.connections == 2
    now[0] += 29.9
    assert venue.account_events() == []
    tws.report_commission(first, 1.0)  # TWS's report after the listing's end
    fees = commissions(venue, 2)
    assert [(e.fill_id, e.fee) for e in fees] == [(first, 1.0), (corrected, pytest.approx(0.2))]
    assert all(kernel.on_account_event(e).accepted for e in fees)
    assert kernel.slot_state(0).fees_paid == pytest.approx(1.2)


def test_an_order_tws_ended_while_the_connection_was_down_ends_in_the_kernel_at_the_reconnect(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue()
    kernel = a_kernel(venue)
    coid = entered(kernel)
    working = VenueOrder("other-1", 0, "t", "ES", "BUY", "LIMIT", 5000.0, 1.0)
    assert [e.kind.name for e in venue.submit(working)] == ["ORDER_ACK"]
    tws.fill(coid, 2.0, 190.0)
    feed(kernel, venue, 1)

    dropped(tws, venue)
    tws.fill(coid, 3.0, 189.5)
    tws.cancel_at_tws(coid)  # the close ends the DAY order: nobody connected hears it

    events = feed(kernel, venue, 2)
    assert [(e.kind.name, e.venue_client_id, e.filled_size) for e in events] == [
        ("FILL", coid, 5.0),
        ("CANCEL_ACK", coid, 5.0),
    ]
    assert "no longer lists the order" in events[1].reason
    assert kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN
    assert kernel.slot_state(0).size == pytest.approx(5.0) and kernel.open_orders() == []
    # The order TWS still works is not ended; it is the only one followed.
    assert until(venue.poll_events, 1, timeout=0.3) == []
    assert [o.client_order_id for o in venue.open_orders()] == ["other-1"]
    assert venue.following()


def test_an_unfilled_order_tws_no_longer_lists_after_a_reconnect_is_a_cancel_and_a_later_execution_is_booked(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue()
    kernel = a_kernel(venue)
    coid = entered(kernel)

    dropped(tws, venue)
    tws.cancel_at_tws(coid)  # ended while nobody was connected, as far as TWS said unfilled
    (ended,) = feed(kernel, venue, 1)
    assert (ended.kind.name, ended.filled_size) == ("CANCEL_ACK", 0.0)
    assert "no longer lists the order" in ended.reason
    assert kernel.slot_state(0).fsm_state == TradeStage.IDLE and kernel.open_orders() == []

    assert_late_fill_booked(tws, kernel, venue, coid)  # executed before the end, reported after the listing


def test_after_a_restart_the_orders_and_executions_reconcile_without_booking_a_fill_twice(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], tmp_path: Path
) -> None:
    first_venue = make_venue()
    first = a_kernel(first_venue, tmp_path)
    sent = first.process_intent(entry())
    assert sent.order is not None
    coid = sent.order.client_order_id
    tws.fill(coid, 4.0, 190.0)
    feed(first, first_venue, 1)
    first.close()
    first_venue.close()
    del first
    gc.collect()

    tws.fill(coid, 3.0, 189.0)  # while the process was down
    venue = make_venue()
    kernel = a_kernel(venue, tmp_path)
    report = kernel.reconcile_with_venue()
    assert [m["qty"] for m in report.missed_fills] == [pytest.approx(3.0)], report
    assert report.unresolved == [] and report.position_mismatches == [], report
    assert kernel.slot_state(0).size == pytest.approx(7.0)
    # Both executions were booked (one before the restart, one by reconciliation): none again.
    assert until(venue.poll_events, 1, timeout=0.3) == []
    tws.fill(coid, 3.0, 190.0)
    (rest,) = feed(kernel, venue, 1)
    assert rest.size == 3.0 and kernel.slot_state(0).size == pytest.approx(10.0)


def test_account_ids_never_reach_a_log_record(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    venue = make_venue()
    tws.reject_next = f"account {ACCOUNT} may not trade AAPL"
    (rejected,) = venue.submit(VenueOrder("k-0", 0, "t", "AAPL", "BUY", "LIMIT", 190.0, 5.0))
    assert ACCOUNT not in rejected.reason and "account <account> may not trade" in rejected.reason
    order = VenueOrder("k-1", 0, "t", "AAPL", "BUY", "LIMIT", 190.0, 5.0)
    venue.submit(order)
    tws.fill("k-1", 2.0, 190.0)
    until(venue.poll_events, 1)
    venue.positions()
    venue.open_orders()
    tws.drop()
    time.sleep(0.2)
    until(venue.poll_events, 1, timeout=0.5)
    venue.cancel(order)
    assert any("execDetails" in r.getMessage() for r in caplog.records)  # ib_async logged executions
    for record in caplog.records:
        assert ACCOUNT not in record.getMessage(), record.name
        assert ACCOUNT not in (record.exc_text or "")
    assert ACCOUNT not in caplog.text and ACCOUNT not in repr(venue)


def test_an_order_while_tws_cannot_be_reached_is_refused_with_nothing_sent(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue()
    venue.load_markets()
    tws.close()  # TWS is gone: the reconnect is refused
    (refused,) = venue.submit(VenueOrder("k-1", 0, "t", "AAPL", "BUY", "LIMIT", 190.0, 1.0))
    assert refused.kind.name == "REJECT" and "nothing sent" in refused.reason
    assert not venue.following()


def test_an_order_whose_contract_tws_does_not_describe_in_time_is_rejected_with_nothing_sent(
    tws: TwsServer, make_venue: Callable[..., IbkrVenue]
) -> None:
    venue = make_venue(connect_timeout_s=0.5)
    kernel = a_kernel(venue)
    dropped(tws, venue)  # the reconnect asks for the contract details again
    tws.mute_contract_details = True
    out = kernel.process_intent(entry())
    assert out.accepted and kernel.slot_state(0).fsm_state == TradeStage.IDLE, out.to_dict()
    (rejected,) = out.emitted_events
    assert rejected.kind.name == "REJECT" and "nothing sent" in rejected.reason
    assert "'AAPL': TWS gave no contract details within 0.5 s" in rejected.reason
    assert tws.book.orders == {}

    tws.mute_contract_details = False
    again = KernelIntent(
        "i2", "tr-2", 0, "AAPL", "LONG", "ENTER", 190.0, 10.0,
        order_type="LIMIT", limit_price=190.0, timestamp=time.time(),
    )  # fmt: skip
    assert kernel.process_intent(again).accepted
    assert kernel.slot_state(0).fsm_state == TradeStage.ENTRY_WORKING
    assert len(tws.book.orders) == 1


def test_bad_settings_are_refused_naming_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ACCOUNT_ENV, raising=False)
    with pytest.raises(ValueError, match=ACCOUNT_ENV):
        IbkrVenue(port=1, account_env=ACCOUNT_ENV, contracts={"AAPL": {"symbol": "AAPL"}})
    with pytest.raises(ValueError, match="contracts"):
        IbkrVenue(port=1, contracts={})
    with pytest.raises(ValueError, match="time_in_force"):
        IbkrVenue(port=1, contracts={"AAPL": {"symbol": "AAPL"}}, time_in_force="FOK")


@pytest.mark.parametrize("wait", [0.0, -1.0, float("inf"), float("nan"), True])
def test_the_commission_wait_is_a_positive_finite_time_else_refused_naming_it(wait: object) -> None:
    contracts = {"AAPL": {"symbol": "AAPL"}}
    assert IbkrSettings(contracts=contracts).commission_wait_s == 60.0
    assert IbkrSettings(contracts=contracts, commission_wait_s=0.5).commission_wait_s == 0.5
    with pytest.raises(ValueError, match=rf"commission_wait_s\n.*input_value={wait!r}"):
        IbkrVenue(port=1, contracts=contracts, commission_wait_s=wait)


@pytest.mark.parametrize("field", ["connect_timeout_s", "answer_wait_s", "reconnect_every_s"])
@pytest.mark.parametrize("value", [float("inf"), float("nan"), True, -1.0])
def test_a_time_setting_that_is_not_a_finite_number_of_seconds_is_refused_naming_it(
    field: str, value: object
) -> None:
    with pytest.raises(ValueError, match=rf"{field}\n.*input_value={value!r}"):
        IbkrVenue(port=1, contracts={"AAPL": {"symbol": "AAPL"}}, **{field: value})


def test_the_guides_example_runs_against_a_local_tws(
    tws: TwsServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """docs/guides/ibkr.md's example, pointed at the local TWS, which fills the order at once;
    its kernel keeps its log under the working directory."""
    (block,) = re.findall(r"```python\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    code = block.replace("port=7497", f"port={tws.port}")
    assert code != block
    monkeypatch.setenv("DITA_IBKR_ACCOUNT", ACCOUNT)
    monkeypatch.chdir(tmp_path)
    tws.fill_on_place = True
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/guides/ibkr.md", "exec"), namespace)
    kernel = namespace["kernel"]
    assert namespace["out"].accepted
    assert kernel.slot_state(0).size == pytest.approx(10.0)
    assert kernel.slot_state(0).fsm_state == TradeStage.POSITION_OPEN
    assert kernel.market_limits("AAPL")["tick_size"] == 0.01
    kernel.close()
    assert any((tmp_path / "var" / "wal" / "aapl-1").iterdir())


def test_a_venue_that_cannot_connect_raises_and_leaves_no_thread_behind() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed below: nothing listens there
    before = {t.name for t in threading.enumerate()}
    with pytest.raises(VenueUnavailable, match="cannot connect to TWS"):
        IbkrVenue(port=port, contracts={"AAPL": {"symbol": "AAPL"}}, connect_timeout_s=1.0)
    assert {t.name for t in threading.enumerate()} - before == set()
    assert not [
        f for f in logging.getLogger("ib_async.wrapper").filters if type(f).__name__ == "AccountRedactor"
    ]
