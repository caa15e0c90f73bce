"""IbkrVenue: Interactive Brokers through TWS or IB Gateway's socket API (ib_async).

- Orders go out with the kernel's client order id as their ``orderRef``, which TWS keeps with
  the order and its executions across restarts; the kernel knows an order by TWS's ``permId``.
  What TWS says under an ``orderRef`` is the order's only when it is the order TWS gave it
  (``IbkrOrder.is_placed_as``): a kernel run without its log sends its client order ids again.
- Each execution is a fill once, keyed by its execId (a duplicate ``execDetails``, a reconnect's
  executions: not reported again); each ``commissionReport`` books its fill's commission as a
  FILL_SETTLED account event (``account_events``), awaited ``commission_wait_s`` at most when a
  correction's fill waits for it; one that comes before its execution is kept until it does.
- Reconciliation books what TWS filled beyond what the kernel booked from the order's executions
  (``trade_fills``), each under its execId, so its commission report settles the fill booked.
- Contract details give the market limits: minTick, sizeIncrement, minSize.
- A dropped connection is reconnected on the next call, and what TWS lists then (open orders,
  the day's executions) is read as news like any other; an order it no longer lists ended. So
  is one closed when TWS's ends of its open orders' listings fall out of step with those asked.
- Account ids never reach a log record: ib_async's loggers and this venue's carry a redactor.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from ib_async import Contract, Order

from dita._kernel import (
    AccountEvent,
    KernelEventKind,
    OrderSide,
    OrderType,
    VenueEvent,
    VenueOrder,
    VenueOrderStatus,
)
from dita.risk import MarketLimits
from dita.venues._events import OrderEvents, RecentOrders, answered, require_order
from dita.venues.ibkr.connection import (
    ENDED_STATUSES,
    OPEN_STATUSES,
    UNSET,
    FillHeard,
    Heard,
    IbkrConnection,
    OrderHeard,
)
from dita.venues.ibkr.redaction import AccountRedactor
from dita.venues.ibkr.reports import FULL, IbkrOrder, Reporter, cancel_reject, latest_executions, tws_works
from dita.venues.ibkr.settings import IbkrSettings
from dita.venues.protocol import VenueTimeout, VenueUnavailable

__all__ = ["IbkrVenue"]

log = logging.getLogger("dita.venues.ibkr")

_ANSWER_POLL_S = 0.01
# TWS's error about a contract request it knows no contract for.
NO_SECURITY_DEFINITION = 200
# The least time between TWS's listings asked for orders in question (after an error, a
# reconnect) when one goes unanswered, doubled after each unanswered in a row up to the most:
# a TWS that never lists is not asked twice a second for good.
_LIST_AGAIN_S = 0.5
_LIST_AGAIN_MAX_S = 30.0
# The doublings that reach the most: more would overflow a float after 1,024 in a row.
_LIST_AGAIN_DOUBLINGS = math.ceil(math.log2(_LIST_AGAIN_MAX_S / _LIST_AGAIN_S))


@dataclass
class _Listing:
    """TWS's open orders (after a reconnect the day's executions too) asked for the orders in
    question, on its way: ``answer`` once it came, asked at ``since`` (the venue's monotonic
    timer) and ``told_before`` TWS's statuses and errors heard then (``StatusesTold.count``), for
    the orders ``questioned`` then, each with its ``times_questioned`` then."""

    answer: Future[None]
    since: float
    told_before: int
    questioned: list[tuple[IbkrOrder, int]]
    executions: bool

    def unanswered(self, now: float, timeout: float) -> str | None:
        """None while on its way for less than ``timeout``; once over, '' when TWS listed in full,
        else why it did not (one still on its way after ``timeout`` is canceled: TimeoutError)."""
        if not self.answer.done():
            if now - self.since < timeout:
                return None
            self.answer.cancel()
            return "TimeoutError"
        if self.answer.cancelled():
            return "CancelledError"
        failed = self.answer.exception()
        return type(failed).__name__ if failed is not None else ""

    def settles(self) -> list[IbkrOrder]:
        """The orders it settles, once TWS listed in full and the errors heard with the listing
        were read: those in question when it was asked and not put in question again since (an
        error TWS sent after listing one, ib_async then marking it Cancelled, waits for the next
        listing)."""
        return [
            o for o, times in self.questioned if o.times_questioned == times and o.in_question and not o.ended
        ]


class IbkrVenue:
    """``IbkrVenue(contracts={"AAPL": {"symbol": "AAPL"}}, host=..., port=..., client_id=...,
    account_env=...)``; see ``IbkrSettings``. Connects when built, and asks each asset's contract
    details (a ValueError names a contract whose multiplier is not 1). ``clock`` stamps the events;
    ``monotonic`` times the listings' timeout and back-off and the commission wait."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        **settings: Any,
    ) -> None:
        self.settings = IbkrSettings.model_validate(settings)
        self.name = self.settings.name
        # A step of the wall clock (NTP) would hold a listing "on its way" for the step back,
        # or give up every awaited commission report at once on a step forward.
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.RLock()
        self._redactor = AccountRedactor()
        self._account = self.settings.account()
        self._redactor.know(self._account)
        self._redactor.install()
        currencies = {asset: c.currency for asset, c in self.settings.contracts.items()}
        self._own_events = OrderEvents(self.name)
        self._reporter = Reporter(
            self.name,
            self.settings.client_id,
            clock,
            monotonic,
            currencies,
            self._redactor.redact,
            self._own_events,
            self.settings.commission_wait_s,
        )
        self._orders: dict[str, IbkrOrder] = {}
        self._recent: RecentOrders[IbkrOrder] = RecentOrders(10_000)
        self._waiting: list[VenueEvent] = []
        self._contracts: dict[str, Any] = {}
        self._limits: dict[str, MarketLimits] = {}
        self._last_connect = 0.0
        # After a reconnect, TWS's open orders and the day's executions are listed in full.
        self._relist_due = False
        # The listing asked for the orders in question, not waited for (None: none on its way):
        # each poll looks whether it came, so a listing TWS is slow with, or never sends, holds up
        # no other order; one not given in time is asked again from ``_next_listing``, later
        # after each of ``_unanswered_listings`` in a row.
        self._listing: _Listing | None = None
        self._next_listing = 0.0
        self._unanswered_listings = 0
        self._conn = IbkrConnection(self.settings)
        try:
            self._connect()
            self.load_markets()  # a contract the venue cannot book is refused at once (``_contract``)
        except BaseException:
            self.close()  # the loop thread ends, and the redactor leaves the loggers
            raise

    def __repr__(self) -> str:
        return f"IbkrVenue(name={self.name!r}, host={self.settings.host!r}, port={self.settings.port})"

    # -- connection ----------------------------------------------------------------------

    def _connect(self) -> None:
        self._last_connect = time.monotonic()
        try:
            self._conn.connect(self._account)
        except Exception as exc:
            raise VenueUnavailable(
                f"{self.name}: cannot connect to TWS: {type(exc).__name__}: {exc}"
            ) from exc
        for account in self._conn.accounts():
            self._redactor.know(account)
        log.info("%s: connected to TWS at %s:%d", self.name, self.settings.host, self.settings.port)

    def _ensure_connected(self) -> None:
        """Reconnect after a drop, at most every ``reconnect_every_s``; VenueUnavailable until it
        is, and for good once the venue is closed (nothing is sent)."""
        if self._conn.closed:
            raise VenueUnavailable(f"{self.name}: the venue is closed (close() was called): nothing is sent")
        if self._conn.connected():
            return
        if time.monotonic() - self._last_connect < self.settings.reconnect_every_s:
            raise VenueUnavailable(f"{self.name}: not connected to TWS (reconnecting)")
        log.warning("%s: not connected to TWS; reconnecting", self.name)
        self._contracts.clear()  # qualified again on the new connection
        self._connect()
        self._relist_due = True
        self._drop_listing()  # asked of the connection that dropped
        self._next_listing, self._unanswered_listings = 0.0, 0  # a new session is asked at once
        # A new session knows only what TWS lists: an order that ended while the connection was
        # down is in no list, and no status of it will ever come.
        for tracked in self._orders.values():
            tracked.question(
                tracked.in_question
                or f"{self.name}: TWS no longer lists the order after a reconnect: it ended meanwhile"
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            self._redactor.remove()

    def __enter__(self) -> IbkrVenue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- markets -------------------------------------------------------------------------

    def load_markets(self) -> dict[str, MarketLimits]:
        """Each asset's contract details, as market limits (minTick, sizeIncrement, minSize)."""
        with self._lock:
            self._ensure_connected()
            for asset in self.settings.contracts:
                self._contract(asset)
            return dict(self._limits)

    def market_metadata(self) -> dict[str, MarketLimits]:
        return self.load_markets()

    def balances(self) -> dict[str, float]:
        """Not asked of TWS: the kernel's account figures come from its own book."""
        return {}

    def _contract(self, asset: str) -> Any:
        known = self._contracts.get(asset)
        if known is not None:
            return known
        spec = self.settings.contracts.get(asset)
        if spec is None:
            raise ValueError(f"{self.name}: asset {asset!r} has no contract in the settings (contracts)")
        wanted = Contract(
            symbol=spec.symbol,
            secType=spec.sec_type,
            exchange=spec.exchange,
            currency=spec.currency,
            primaryExchange=spec.primary_exchange,
        )
        timeout = self.settings.connect_timeout_s
        try:
            details, error = self._conn.wait(lambda: self._conn.contract_details(wanted), timeout)
        except (TimeoutError, ConnectionError) as exc:
            # Asked before anything about an order is sent: a submit is refused, not in doubt.
            raise VenueUnavailable(
                f"{self.name}: {asset!r}: TWS gave no contract details within {timeout:g} s"
                f" ({type(exc).__name__})"
            ) from exc
        if not details and error is not None and error.code == NO_SECURITY_DEFINITION:
            # TWS answered: a contract it does not know is the settings' to correct, not a retry's.
            raise ValueError(
                f"{self.name}: {asset!r}: TWS error {error.code}: {self._redactor.redact(error.message)},"
                f" for {spec!r}: correct the asset's contract in the settings (contracts)"
            )
        if len(details) != 1:
            raise VenueUnavailable(
                f"{self.name}: {asset!r}: TWS gave {len(details)} contracts for {spec!r}, not one"
            )
        detail = details[0]
        multiplier = detail.contract.multiplier or "1"
        if _number(multiplier) != 1.0:
            raise ValueError(
                f"{self.name}: {asset!r}: TWS gives {spec!r} the multiplier {multiplier!r}: the venue"
                " books a fill at price times quantity, so only contracts of multiplier 1 are traded"
            )
        self._limits[asset] = MarketLimits(
            tick_size=_rule(detail.minTick),
            lot_step=_rule(detail.sizeIncrement),
            min_qty=_rule(detail.minSize),
        )
        self._contracts[asset] = detail.contract
        return detail.contract

    # -- orders --------------------------------------------------------------------------

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        """Send ``order`` (its client id as the orderRef) and return TWS's first answer about it,
        waited for up to ``answer_wait_s``. Refused here, nothing sent, when TWS cannot be
        reached or the order breaks the contract's limits; ``VenueTimeout`` when the send's
        fate is unknown (the loop thread did not answer): the order then shows in open orders."""
        require_order(order)
        with self._lock:
            if order.asset not in self.settings.contracts:
                return [self._refused(order, f"asset {order.asset!r} has no contract in the settings")]
            try:
                self._ensure_connected()
                contract = self._contract(order.asset)
            except (VenueUnavailable, ValueError) as exc:  # ValueError: TWS refuses the contract
                return [self._refused(order, f"nothing sent: {exc}")]
            refusal = self._refusal(order)
            if refusal:
                return [self._refused(order, refusal)]
            try:
                # The send's order id, reserved before it goes out: what TWS says of a send whose
                # answer the loop did not give (VenueTimeout) is matched by it, not by the
                # orderRef alone, under which TWS may list an earlier run's order.
                ib_order_id = int(self._conn.call(self._conn.ib.client.getReqId))
            except (ConnectionError, TimeoutError) as exc:
                return [self._refused(order, f"nothing sent: no order id: {type(exc).__name__}: {exc}")]
            tracked = IbkrOrder(order, ib_order_id=ib_order_id)
            self._orders[order.client_order_id] = tracked
            self._recent.put(order.client_order_id, tracked)
            try:
                self._conn.call(self._conn.ib.placeOrder, contract, self._ib_order(order, ib_order_id))
            except ConnectionError as exc:  # the socket closed before the order was written
                del self._orders[order.client_order_id]
                return [self._refused(order, f"nothing sent: {exc}")]
            except TimeoutError as exc:
                raise VenueTimeout(
                    f"{self.name}: placing {order.client_order_id} (order id {ib_order_id}) got no"
                    " answer from the client's loop",
                    client_order_id=order.client_order_id,
                ) from exc
            return self._answer(order.client_order_id, lambda: tracked.acknowledged or tracked.ended)

    def _refusal(self, order: VenueOrder) -> str:
        """Why the contract's limits refuse ``order`` ('' when they do not)."""
        limits = self._limits[order.asset]
        price = order.price if order.order_type == OrderType.LIMIT else 0.0
        return limits.order_violation(order.size, price) or (limits.price_violation(price) if price else "")

    def _refused(self, order: VenueOrder, reason: str) -> VenueEvent:
        return self._own_events.make(
            order,
            KernelEventKind.REJECT,
            VenueOrderStatus.REJECTED,
            venue_order_id="",
            timestamp=self._clock(),
            reason=f"{self.name}: {reason}",
        )

    def _ib_order(self, order: VenueOrder, ib_order_id: int) -> Any:
        limit = order.order_type == OrderType.LIMIT
        return Order(
            orderId=ib_order_id,
            action="BUY" if order.order_side == OrderSide.BUY else "SELL",
            totalQuantity=order.size,
            orderType="LMT" if limit else "MKT",
            lmtPrice=order.price if limit else 0.0,
            tif=self.settings.time_in_force,
            orderRef=order.client_order_id,
            account=self._account,
        )

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        """Cancel ``order`` at TWS, and return TWS's answer, waited for up to ``answer_wait_s``.
        One whose venue order id is another permId than that of the order the venue follows
        under its client order id (an earlier run's, listed to reconciliation) is canceled by its
        own ids (``_cancel_another``), not the order followed."""
        with self._lock:
            self._ensure_connected()
            tracked = self._orders.get(order.client_order_id) or self._recent.get(order.client_order_id)
            named = order.venue_order_id
            if tracked is not None and named and tracked.venue_order_id and named != tracked.venue_order_id:
                return self._cancel_another(order)
            if tracked is not None and tracked.ended:
                return []  # its end went out already
            if tracked is None:
                tracked = self._follow(order)
            if not tracked.ib_order_id:
                self._learn_order_ids()
            if not tracked.ib_order_id:
                return [self._cancel_refused(tracked, self._not_found(tracked))]
            tracked.cancel_requested = True
            self._conn.call(self._conn.ib.client.cancelOrder, tracked.ib_order_id, "")
            return self._answer(order.client_order_id, lambda: tracked.ended or not tracked.cancel_requested)

    def _not_found(self, tracked: IbkrOrder) -> str:
        """Why ``tracked``, whose order id the venue could not learn, is not canceled."""
        coid = tracked.order.client_order_id
        heard = self._conn.heard()
        client_id = self.settings.client_id
        # Order ids are per client: another client's order (the kernel's, placed before a
        # restart on another client id) is not this client's to cancel.
        placed_by = next(
            (
                said
                for said in heard.orders
                if said.client_id != client_id
                and self._is_placed_as(tracked, said, heard)
                and tws_works(said, tracked.acknowledged)
            ),
            None,
        )
        if placed_by is not None:
            return (
                f"TWS lists the order (permId {placed_by.perm_id}) working under client id"
                f" {placed_by.client_id}, which placed it, and this venue is client id {client_id}:"
                f" only client id {placed_by.client_id} (or TWS's master API client id) can cancel it"
            )
        under = heard.orders_under(coid)
        if tracked.perm_id or under <= 1:
            return "TWS lists no such order working"
        return (
            f"TWS tells of {under} orders under orderRef {coid!r} and the order carries no venue order"
            " id: which is the kernel's cannot be told, and none is canceled"
        )

    def _cancel_another(self, order: VenueOrder) -> list[VenueEvent]:
        """Cancel the order TWS lists under ``order``'s venue order id, a permId, which is not the
        order the venue follows under its client order id: by this client's order id of it. It
        is none of the kernel's, so its end is not followed: none is returned (reconciliation
        finds it ended, or not, at its next listing)."""
        other = IbkrOrder(order, perm_id=int(order.venue_order_id) if order.venue_order_id.isdigit() else 0)
        client_id = self.settings.client_id
        said = next(
            (s for s in self._conn.heard().orders if other.perm_id and s.perm_id == other.perm_id), None
        )
        if said is None or said.client_id != client_id or not said.order_id:
            whose = "" if said is None else f" (it is client {said.client_id}'s, order id {said.order_id})"
            return [
                self._cancel_refused(
                    other,
                    f"TWS lists no order of this client (client {client_id}) of permId"
                    f" {order.venue_order_id!r} to cancel{whose}",
                )
            ]
        self._conn.call(self._conn.ib.client.cancelOrder, said.order_id, "")
        return []

    def _cancel_refused(self, tracked: IbkrOrder, reason: str) -> VenueEvent:
        return cancel_reject(self._own_events, tracked, self._clock(), f"{self.name}: {reason}")

    def _answer(self, client_order_id: str, answered_yet: Callable[[], bool]) -> list[VenueEvent]:
        """Wait up to ``answer_wait_s`` for TWS's answer about one order; that order's events
        (the others' wait for ``poll_events``)."""
        deadline = time.monotonic() + self.settings.answer_wait_s
        while True:
            self._waiting.extend(self._news())
            if answered_yet() or time.monotonic() >= deadline:
                break
            time.sleep(_ANSWER_POLL_S)
        mine = [e for e in self._waiting if e.venue_client_id == client_order_id]
        self._waiting = [e for e in self._waiting if e.venue_client_id != client_order_id]
        return mine

    def _news(self) -> list[VenueEvent]:
        """What TWS said since, as events: the orders in question ended or not by TWS's listing
        once it came, and a listing asked when one is due (``_ask_listing``), neither waited for.
        The fills whose commission report is overdue are given up (``Reporter.settle_overdue``)."""
        listed = self._listed()
        heard = self._conn.heard(take_errors=True)
        events = self._reporter.events(heard, self._orders)
        if listed is not None:
            events += self._reporter.unlisted(heard, listed.settles(), listed.told_before, listed.executions)
        if not self._relist_due:  # a reconnect's listing may hold the reports missed meanwhile
            self._reporter.settle_overdue()
        for coid in [c for c, o in self._orders.items() if o.settled]:
            del self._orders[coid]
        try:
            self._ask_listing()
        except Exception as exc:
            # The events read are marked reported: raised now, they would never be given again.
            log.warning("%s: asking TWS for a listing raised %r; asked at the next poll", self.name, exc)
        return events

    def _ask_listing(self) -> None:
        """Ask TWS for its open orders (after a reconnect the day's executions too) when an order
        is in question and no listing is on its way, nor is it too soon after one that went
        unanswered (``_listed``)."""
        due = self._relist_due or any(o.in_question and not o.ended for o in self._orders.values())
        now = self._monotonic()
        if not due or self._listing is not None or now < self._next_listing:
            return
        self._listing = self._start_listing(now)

    def _start_listing(self, now: float) -> _Listing:
        """TWS's open orders (after a reconnect the day's executions too) asked at ``now`` for
        the orders in question then, not waited for."""
        questioned = [(o, o.times_questioned) for o in self._orders.values() if o.in_question and not o.ended]
        executions = self._relist_due
        told_before = self._conn.statuses_heard()
        ib = self._conn.ib

        async def listing() -> None:
            await self._conn.open_orders_listed()
            if executions:
                await ib.reqExecutionsAsync()

        return _Listing(self._conn.start(listing), now, told_before, questioned, executions)

    def _drop_listing(self) -> None:
        """Give up the listing on its way: its end, should TWS send it late, is counted as its own
        and settles nothing (``OpenOrderListings``)."""
        if self._listing is not None:
            self._listing.answer.cancel()
            self._listing = None

    def _listed(self) -> _Listing | None:
        """The listing on its way once TWS listed its open orders in full (``_Listing.settles``);
        None while it has not. ib_async's own listing at the connect goes on past one that timed
        out, and an order missing from a cut listing is not over. One not given within
        ``connect_timeout_s`` is given up (``_give_up_listing``)."""
        listing = self._listing
        if listing is None:
            return None
        now = self._monotonic()
        why = listing.unanswered(now, self.settings.connect_timeout_s)
        if why is None:
            return None
        if why:
            self._give_up_listing(why, now)
            return None
        self._listing = None
        self._end_unanswered_row()
        if listing.executions:
            self._relist_due = False
            # TWS may send the listing's commission reports after the executions' end.
            self._reporter.restart_commission_waits()
        return listing

    def _give_up_listing(self, why: str, now: float) -> None:
        """Give up the listing on its way, TWS not having listed in time (``why``): asked again
        ``_LIST_AGAIN_S`` later, twice as late after each unanswered in a row (up to
        ``_LIST_AGAIN_MAX_S``), so a TWS that never lists is not asked twice a second for good;
        the first of a row is said at WARNING, the others at DEBUG. From the second of a row on,
        one TWS ended an earlier listing while it waited (``OpenOrderListings.out_of_step``) drops
        the connection, said at WARNING: the next call reconnects and lists afresh."""
        self._drop_listing()
        timeout = self.settings.connect_timeout_s
        doublings = min(self._unanswered_listings, _LIST_AGAIN_DOUBLINGS)
        wait = min(_LIST_AGAIN_S * 2.0**doublings, _LIST_AGAIN_MAX_S)
        self._unanswered_listings += 1
        log.log(
            logging.WARNING if self._unanswered_listings == 1 else logging.DEBUG,
            "%s: TWS did not list its orders within %g s (%s); asked again in %g s, then less"
            " often up to every %g s while it does not (%d unanswered in a row)",
            self.name, timeout, why, wait, _LIST_AGAIN_MAX_S, self._unanswered_listings,
        )  # fmt: skip
        self._next_listing = now + wait
        if self._unanswered_listings >= 2 and self._conn.listings_out_of_step():
            # An end TWS never sent (a request lost) holds every later listing one end back for
            # the connection's life; a new connection counts from none.
            log.warning(
                "%s: TWS ended an earlier listing of its open orders while the one given up waited"
                " (%d unanswered in a row): its ends name no listing, and one lost would hold every"
                " later listing back; reconnecting to list afresh",
                self.name, self._unanswered_listings,
            )  # fmt: skip
            self._conn.disconnect()

    def _end_unanswered_row(self) -> None:
        """TWS listed its orders: the next listing it leaves unanswered starts a new row (asked
        again ``_LIST_AGAIN_S`` later, said at WARNING)."""
        if self._unanswered_listings:
            log.info(
                "%s: TWS listed its orders after %d listings unanswered", self.name, self._unanswered_listings
            )
            self._unanswered_listings = 0
            self._next_listing = 0.0

    # -- after a restart -----------------------------------------------------------------

    def _follow(self, order: VenueOrder) -> IbkrOrder:
        tracked = IbkrOrder(
            order,
            perm_id=int(order.venue_order_id) if order.venue_order_id.isdigit() else 0,
            acknowledged=bool(order.venue_order_id),
            filled=order.filled_size,
            booked_before=order.filled_size,
        )
        self._orders[order.client_order_id] = tracked
        self._recent.put(order.client_order_id, tracked)
        return tracked

    def _learn_order_ids(self) -> None:
        """This client's order id of each order followed that has none, from the order TWS
        placed as it (``IbkrOrder.is_placed_as``): by its permId, else by its orderRef when TWS
        tells of no other order under it. Another client's order id would name this client's
        order of that id to TWS."""
        heard = self._conn.heard()
        for tracked in self._orders.values():
            if tracked.ib_order_id:
                continue
            said = next((s for s in heard.orders if self._is_placed_as(tracked, s, heard)), None)
            if said is not None and said.client_id == self.settings.client_id:
                tracked.ib_order_id = said.order_id

    def _is_placed_as(self, tracked: IbkrOrder, told: FillHeard | OrderHeard, heard: Heard) -> bool:
        """Whether ``told`` (in ``heard``) is of the order TWS gave ``tracked``
        (``IbkrOrder.is_placed_as``), saying nothing of one that is not: the venue's reads ask
        it; the reporter's ``_placed_as`` says such an order once at WARNING."""
        return tracked.is_placed_as(told, self.settings.client_id, heard)

    def watch(self, order: VenueOrder) -> None:
        """Follow ``order``, one the kernel works that this venue has no record of (sent before
        a restart): its executions' shares beyond what the kernel booked (by their cumQty) are
        reported in ``poll_events``. Told again with more booked (reconciliation booked a missed
        fill), the shares up to that are taken for booked."""
        require_order(order, "watch")
        with self._lock:
            if order.asset not in self.settings.contracts:
                raise ValueError(f"{self.name}: asset {order.asset!r} has no contract in the settings")
            tracked = self._orders.get(order.client_order_id)
            if tracked is None:
                self._follow(order)
                self._learn_order_ids()
            elif order.filled_size > tracked.filled:
                # Reconciliation booked what TWS filled meanwhile: those executions are booked.
                tracked.filled = tracked.booked_before = order.filled_size

    def trade_fills(self, order: VenueOrder, venue_order: VenueOrder) -> list[VenueEvent]:
        """The FILLs of the kernel's ``order`` beyond its filled size, one per execution of the
        order TWS gave it (``IbkrOrder.is_placed_as``), each as ``poll_events`` reports it (its
        execId the fill_id, its shares beyond what the kernel booked by its cumQty), up to
        ``venue_order``'s filled size (TWS's answer about the order): TWS's commission report of
        the execution then settles the fill the kernel booked. Reconciliation books these before
        it books from the order's status what they leave missing. When the executions TWS told of
        count less than that answer (TWS sends an order's status before its executions), the
        day's executions are asked, for up to ``connect_timeout_s``. An order not followed is
        followed from here (``watch``). The fills given here are not given by ``poll_events``."""
        require_order(order, "trade_fills")
        with self._lock:
            self._ensure_connected()
            coid = order.client_order_id
            tracked = self._orders.get(coid) or self._recent.get(coid)
            if tracked is None:
                self.watch(order)
                tracked = self._orders[coid]
            self._waiting.extend(self._news())
            if self._executions_counted(tracked) < venue_order.filled_size * FULL:
                self._ask_executions(coid)
            # The fills reported of it that the kernel has not booked, as far as TWS's answer counts.
            upto = venue_order.filled_size + order.size * (1 - FULL)
            given = [
                e
                for e in self._waiting
                if e.venue_client_id == coid
                and e.kind == KernelEventKind.FILL
                and order.filled_size < e.filled_size <= upto
            ]
            self._waiting = [e for e in self._waiting if not any(e is g for g in given)]
            return given

    def _executions_counted(self, tracked: IbkrOrder) -> float:
        """What the executions TWS told of count filled of ``tracked``: their shares (each as its
        latest correction states it), or their largest cumQty when more (a GTC order's earlier days)."""
        heard = self._conn.heard()
        fills = latest_executions([f for f in heard.fills if self._is_placed_as(tracked, f, heard)])
        return max(sum(f.shares for f in fills), max((f.cum_qty for f in fills), default=0.0))

    def _ask_executions(self, client_order_id: str) -> None:
        """Ask TWS for the day's executions, for up to ``connect_timeout_s``, and read them as a
        poll does (their fills kept for ``poll_events``). One TWS does not list in time leaves the
        fills not told of to be booked from the order's status (WARNING)."""
        timeout = self.settings.connect_timeout_s
        try:
            self._conn.wait(lambda: self._conn.ib.reqExecutionsAsync(), timeout)
        except (TimeoutError, ConnectionError) as exc:
            log.warning(
                "%s: order %s: TWS did not list its executions within %g s (%s): what its status"
                " counts beyond the executions told of is booked from the status",
                self.name, client_order_id, timeout, type(exc).__name__,
            )  # fmt: skip
        self._waiting.extend(self._news())

    def resume(self, seq: int) -> None:
        with self._lock:
            self._own_events.resume(seq)

    # -- asynchronous reports ------------------------------------------------------------

    def poll_events(self) -> list[VenueEvent]:
        """What TWS said since the last call, each event once; reconnects after a drop."""
        with self._lock:
            self._ensure_connected()
            events, self._waiting = [*self._waiting, *self._news()], []
            return events

    def account_events(self) -> list[AccountEvent]:
        """Each commission report since the last call, as the FILL_SETTLED of its fill. What TWS
        said is read here too (the order events kept for ``poll_events``), so a commission that
        came after the last poll is not a poll late."""
        with self._lock:
            if self._conn.connected():
                self._waiting.extend(self._news())
            return self._reporter.account_events()

    def settle_fills(self, fill_ids: list[str]) -> None:
        """Settle the kernel's fills of ``fill_ids`` (``kernel.unsettled_fill_ids()``, which
        reconciliation gives after a restart) of orders the venue does not follow, each once TWS
        lists its execution with a commission report (the day's executions, now or later): their
        FILL_SETTLED come through ``account_events``. The fills of orders it follows are
        settled as ever."""
        with self._lock:
            self._ensure_connected()
            self._reporter.owe_settlements(list(fill_ids), self._assets_by_con_id())
            self._waiting.extend(self._news())

    def following(self) -> bool:
        with self._lock:
            return any(not o.settled for o in self._orders.values())

    # -- account -------------------------------------------------------------------------

    def open_orders(self) -> list[VenueOrder]:
        """The orders TWS lists working for this client, for reconciliation; one the venue has
        not sent or followed carries slot 0 and an empty trade id. One under the orderRef of an
        order the venue follows (or followed lately) that is not the order TWS gave it (an
        earlier run's, ``IbkrOrder.is_placed_as``) is listed under no client order id, as one
        placed by another: reconciliation would take it for the kernel's (``is_other_order``
        tells it where the venue follows neither). One TWS has not answered about (no
        permId: ib_async's placeholder of a send) is left out: TWS has not taken it, and
        reconciliation asks ``order_status`` of it, which says when TWS cannot say yet. This
        listing is a poll's (``_ask_open_orders``): the orders in question (after an error, a
        reconnect) end or work on by it, their events given by the next ``poll_events``."""
        with self._lock:
            self._ensure_connected()
            self._ask_open_orders("TWS has not listed its open orders")
            assets = self._assets_by_con_id()
            listed = []
            heard = self._conn.heard()
            for said in heard.orders:
                if said.status not in OPEN_STATUSES or not said.perm_id:
                    continue
                tracked = self._orders.get(said.order_ref) or self._recent.get(said.order_ref)
                placed = tracked is not None and self._is_placed_as(tracked, said, heard)
                mine = tracked.order if tracked is not None and placed else None
                # Not the order TWS gave the one followed under its orderRef, known by an id:
                # listed under that client order id, reconciliation would take it for it.
                other = tracked is not None and bool(tracked.perm_id or tracked.ib_order_id) and not placed
                listed.append(
                    VenueOrder(
                        "" if other else said.order_ref,
                        mine.slot_id if mine else 0,
                        mine.trade_id if mine else "",
                        assets.get(said.con_id, str(said.con_id)),
                        "BUY" if said.action == "BUY" else "SELL",
                        "LIMIT" if said.order_type == "LMT" else "MARKET",
                        said.limit_price,
                        said.total_quantity,
                        venue_order_id=str(said.perm_id),
                        filled_size=said.filled,
                        avg_fill_price=said.avg_fill_price,
                        status=VenueOrderStatus.PARTIALLY_FILLED
                        if said.filled > 0
                        else VenueOrderStatus.ACKNOWLEDGED,
                    )
                )
            return listed

    def is_other_order(self, mine: VenueOrder, listed: VenueOrder) -> bool:
        """Whether ``listed``, an order ``open_orders`` lists under the client order id of the
        kernel's ``mine``, is another order: both carry TWS's permId, and they differ (an
        earlier run's order under a client order id the kernel reused, ``mine`` over at TWS).
        A listing before the venue follows ``mine`` (after a restart) cannot tell, and a lone
        order listed under a client order id is otherwise taken for the kernel's."""
        return (
            bool(mine.venue_order_id and listed.venue_order_id)
            and mine.venue_order_id != listed.venue_order_id
        )

    def order_status(self, client_order_id: str, asset: str | None = None) -> VenueOrder | None:
        """TWS's order for the kernel's ``client_order_id``: working when its open orders list it;
        else over, FILLED when the day's executions fill it, CANCELED with what they count
        otherwise (each execution as its latest correction states it; the largest cumQty among
        them, with that execution's avgPrice, when more: a GTC order's earlier days count in it);
        None when TWS never knew it (no executions, no permId). One with a permId that neither
        tells of is as TWS's completed orders of the day state it (``_completed_status``):
        VenueUnavailable when they do not list it either, as another client id's working order is
        not listed to this one. Only what TWS says of the order it gave the kernel's counts
        (``IbkrOrder.is_placed_as``), not an earlier run's under the same orderRef. Of an order
        sent in this session that TWS has not answered about, TWS's open orders are asked once,
        for up to ``connect_timeout_s``: VenueUnavailable when they do not state it either, or
        when the order carries neither of TWS's ids (followed without a venue order id) and TWS
        tells of several orders under its orderRef. Needs the order followed (``watch``) or sent
        in this run, as only the kernel knows its size."""
        with self._lock:
            self._ensure_connected()
            tracked = self._orders.get(client_order_id) or self._recent.get(client_order_id)
            if tracked is None:
                raise VenueUnavailable(
                    f"{self.name}: order {client_order_id!r} is not followed (watch it first)"
                )
            heard = self._conn.heard()
            if _unanswered(heard, client_order_id):
                heard = self._asked_open_orders(client_order_id)
            under = heard.orders_under(client_order_id)
            if not tracked.perm_id and not tracked.ib_order_id and under > 1:
                raise VenueUnavailable(
                    f"{self.name}: TWS tells of {under} orders under orderRef {client_order_id!r}, and the"
                    " order carries no venue order id: which is the kernel's cannot be told"
                )
            for said in heard.orders:
                if self._is_placed_as(tracked, said, heard) and tws_works(said, tracked.acknowledged):
                    return answered(
                        tracked.order,
                        str(said.perm_id),
                        VenueOrderStatus.ACKNOWLEDGED,
                        said.filled,
                        said.avg_fill_price,
                    )
            fills = latest_executions([f for f in heard.fills if self._is_placed_as(tracked, f, heard)])
            filled = sum(f.shares for f in fills)
            if not fills and not tracked.perm_id:
                return None
            if not fills and not any(self._is_placed_as(tracked, said, heard) for said in heard.orders):
                return self._completed_status(tracked)
            avg = sum(f.shares * f.price for f in fills) / filled if filled else 0.0
            # TWS lists only the day's executions; their cumQty counts a GTC order's earlier days.
            latest = max(fills, key=lambda f: f.cum_qty, default=None)
            if latest is not None and latest.cum_qty > filled:
                filled, avg = latest.cum_qty, latest.avg_price
            perm = str(tracked.perm_id or (fills[0].perm_id if fills else ""))
            status = (
                VenueOrderStatus.FILLED if filled >= tracked.order.size * FULL else VenueOrderStatus.CANCELED
            )
            return answered(tracked.order, perm, status, filled, avg)

    def _completed_status(self, tracked: IbkrOrder) -> VenueOrder:
        """``tracked``, whose permId TWS's open orders and the day's executions tell nothing of, as
        TWS's completed orders of the day state it: FILLED when Filled, else CANCELED, with their
        filled quantity. VenueUnavailable when they do not list it either (TWS lists a client only
        its own open orders, so another client id's may work on unheard of), when they are not
        given within ``connect_timeout_s``, or when they state more filled than the kernel booked
        (no execution states its price)."""
        coid, timeout = tracked.order.client_order_id, self.settings.connect_timeout_s
        try:
            completed = self._conn.wait(self._conn.completed_orders, timeout)
        except (TimeoutError, ConnectionError) as exc:
            raise VenueUnavailable(
                f"{self.name}: TWS lists order {coid!r} (permId {tracked.perm_id}) neither working nor"
                f" executed, and gave no completed orders within {timeout:g} s ({type(exc).__name__})"
            ) from exc
        said = next(
            (c for c in completed if c.perm_id == tracked.perm_id and c.status in ENDED_STATUSES), None
        )
        if said is None:
            raise VenueUnavailable(
                f"{self.name}: TWS tells nothing of order {coid!r} (permId {tracked.perm_id}): no open"
                f" order of this client (client id {self.settings.client_id}), no execution and no"
                " completed order of the day is it. Over on an earlier day, or working under another"
                " client id, whose open orders TWS does not list to this one: it cannot be told"
            )
        if said.filled > tracked.filled + tracked.order.size * (1 - FULL):
            raise VenueUnavailable(
                f"{self.name}: TWS lists order {coid!r} (permId {tracked.perm_id}) completed"
                f" ({said.status}) with {said.filled:g} filled, the kernel booked {tracked.filled:g},"
                " and lists no execution of it: the price of the rest cannot be told"
            )
        status = VenueOrderStatus.FILLED if said.status == "Filled" else VenueOrderStatus.CANCELED
        avg = tracked.order.avg_fill_price if said.filled else 0.0
        return answered(tracked.order, str(tracked.perm_id), status, said.filled, avg)

    def _asked_open_orders(self, client_order_id: str) -> Heard:
        """What TWS says once asked for its open orders, ``client_order_id`` answered about.
        The answer to a submit may be on its way, or lost, while TWS lists the order when asked.
        VenueUnavailable when TWS says nothing of it within ``connect_timeout_s``."""
        unanswered = f"TWS has not answered about order {client_order_id!r} yet, nor listed its open orders"
        self._ask_open_orders(unanswered)
        heard = self._conn.heard()
        if _unanswered(heard, client_order_id):
            # Sent, and TWS has said nothing of it even when asked: it may still arrive, or not.
            raise VenueUnavailable(
                f"{self.name}: TWS has not answered about order {client_order_id!r} yet"
                " (its open orders, asked, do not state it)"
            )
        return heard

    def _ask_open_orders(self, unanswered: str) -> None:
        """Wait up to ``connect_timeout_s`` for TWS's open orders (after a reconnect the day's
        executions too): the listing a poll asked when one is on its way, else one asked here
        once the polls' back-off after a listing given up is over (``_give_up_listing``), read as
        a poll reads it (``_news``), so the orders in question end or work on here, their events
        kept for ``poll_events``. A listing on its way is waited for, not asked again beside it:
        it lists the same orders, and TWS is asked no more often than the polls ask it.
        VenueUnavailable saying ``unanswered`` when TWS does not list them in time, or the
        back-off outlasts ``connect_timeout_s``, as of any venue not reached; the listing is given
        up."""
        timeout = self.settings.connect_timeout_s
        if self._listing is None:
            # As for a poll: a TWS that left a listing unanswered is asked again after the back-off.
            held = self._next_listing - self._monotonic()
            if held > timeout:
                raise VenueUnavailable(
                    f"{self.name}: {unanswered}: TWS left {self._unanswered_listings} listings in a row"
                    f" unanswered, the next asked in {held:.1f} s"
                )
            if held > 0:
                time.sleep(held)
            self._listing = self._start_listing(self._monotonic())
        try:
            self._listing.answer.result(timeout)
        except (TimeoutError, ConnectionError) as exc:
            self._give_up_listing(type(exc).__name__, self._monotonic())
            raise VenueUnavailable(
                f"{self.name}: {unanswered} within {timeout:g} s ({type(exc).__name__})"
            ) from exc
        self._waiting.extend(self._news())

    def positions(self) -> dict[str, float]:
        """Signed position per asset of the settings (TWS's positions, asked afresh)."""
        with self._lock:
            self._ensure_connected()
            timeout = self.settings.connect_timeout_s
            try:
                held = self._conn.wait(lambda: self._conn.ib.reqPositionsAsync(), timeout)
            except (TimeoutError, ConnectionError) as exc:
                raise VenueUnavailable(
                    f"{self.name}: TWS gave no positions within {timeout:g} s ({type(exc).__name__})"
                ) from exc
            assets = self._assets_by_con_id()
            out: dict[str, float] = {}
            for position in held:
                if self._account and position.account != self._account:
                    continue
                asset = assets.get(int(position.contract.conId))
                if asset is not None and position.position:
                    out[asset] = out.get(asset, 0.0) + float(position.position)
            return out

    def _assets_by_con_id(self) -> dict[int, str]:
        for asset in self.settings.contracts:
            self._contract(asset)
        return {int(c.conId): asset for asset, c in self._contracts.items()}


def _unanswered(heard: Heard, client_order_id: str) -> bool:
    """Whether ``heard`` holds the order of ``client_order_id`` as sent, not over, and not yet
    answered by TWS (no permId): not an order working under venue order id "0"."""
    return any(
        said.order_ref == client_order_id and said.status not in ENDED_STATUSES and not said.perm_id
        for said in heard.orders
    )


def _number(text: str) -> float:
    """``text`` as a number; NaN when it is none."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def _rule(value: float) -> float:
    """An IBKR figure as a market rule: 0 (no rule) when unset."""
    return float(value) if 0 < value < UNSET else 0.0
