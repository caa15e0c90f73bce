"""Sending and canceling orders, and the record the venue keeps of each order while it follows
it (``TrackedOrder``): an order whose submit or cancel may have been carried out is looked up
by its client id before anything is reported, and an order sent before a restart is taken over
with what the kernel booked of it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Container
from typing import Any

from dita._kernel import KernelEventKind, OrderSide, OrderType, VenueEvent, VenueOrder, VenueOrderStatus
from dita.logs import order_ids
from dita.venues.ccxt.answers import placed_answer
from dita.venues.ccxt.client import ExchangeClient
from dita.venues.ccxt.events import OrderReporter
from dita.venues.ccxt.lookup import OrderLookup
from dita.venues.ccxt.markets import Markets
from dita.venues.ccxt.settings import CcxtSettings, by_lineage, venue_client_id
from dita.venues.ccxt.tracking import (
    TrackedOrder,
    exchange_order_id,
    never_acknowledged,
    qualified_order_id,
    record_key,
    sum_error,
)
from dita.venues.protocol import VenueTimeout, VenueUnavailable

__all__ = ["Orders"]

log = logging.getLogger("dita.venues.ccxt")

# Exchanges whose cancel takes an order's client id in place of its order id, in the same
# argument (ccxt's Gate puts it in the path and has no field for a client id: a cancel by
# ``clientOrderId`` would go to ``/orders/None``). Gate takes the ``text`` there while the order works.
_CANCEL_BY_CLIENT_ID_AS_ID = {"gate": True}


class Orders:
    """The venue's orders: ``submit``, ``cancel`` and ``watch`` (take over one sent before a
    restart), and ``tracked``, the record of each order followed, by ``record_key``."""

    def __init__(
        self,
        client: ExchangeClient,
        settings: CcxtSettings,
        markets: Markets,
        lookup: OrderLookup,
        reporter: OrderReporter,
        sleep: Callable[[float], None],
    ) -> None:
        self._client = client
        self._settings = settings
        self._markets = markets
        self._lookup = lookup
        self._reporter = reporter
        self._sleep = sleep
        self.name = client.name
        self.tracked: dict[str, TrackedOrder] = {}

    def following(self) -> bool:
        """Whether an order is still asked about (``CcxtVenue.following``)."""
        return any(not t.terminal for t in self.tracked.values())

    def unresolved_orders(self) -> list[str]:
        """Client order ids of orders whose fate is still unknown (``CcxtVenue.unresolved_orders``)."""
        return [k for k, t in self.tracked.items() if t.unresolved_since is not None]

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        try:
            return self._submit(order)
        finally:
            self._forget_if_over(order.client_order_id)

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        try:
            return self._cancel(order)
        finally:
            self._forget_if_over(record_key(order))

    def rate_limited(self, order: VenueOrder) -> VenueEvent:
        """The refusal of ``order`` while the exchange throttles: not sent, retry when it ends."""
        wait = max(self._client.throttled_until - self._client.clock(), 0.0)
        return self._reporter.event(
            order,
            KernelEventKind.RATE_LIMITED,
            order.status,
            venue_order_id=order.venue_order_id,
            reason=f"{self.name} is throttling requests; order not sent, retry in {wait:.3f}s",
            retry_after=wait,
        )

    def _cancel_throttled(self, tracked: TrackedOrder) -> list[VenueEvent]:
        # A CANCEL_REJECT, not RATE_LIMITED: the kernel ends an order it has not seen
        # acknowledged or filled on RATE_LIMITED (its submit was refused), while here the order
        # still works at the exchange, acknowledged or not.
        wait = max(self._client.throttled_until - self._client.clock(), 0.0)
        return [
            self._reporter.event(
                tracked.order,
                KernelEventKind.CANCEL_REJECT,
                tracked.order.status,
                venue_order_id=tracked.venue_order_id,
                reason=f"{self.name} is throttling requests; cancel not sent, the order still works; "
                f"retry in {wait:.3f}s",
                retry_after=wait,
                filled=tracked.filled,
            )
        ]

    def _forget_if_over(self, key: str) -> None:
        """Drop the record of an order its submit's or cancel's answer ended (a market order
        filled at once): a runtime polls only while orders work, so left for a poll to drop, a
        strategy trading market orders would keep one per order for as long as it runs."""
        tracked = self.tracked.get(key)
        if tracked is not None and tracked.terminal:
            del self.tracked[key]

    def _submit(self, order: VenueOrder) -> list[VenueEvent]:
        ccxt = self._client.ccxt
        if self._client.throttled():
            return [self.rate_limited(order)]
        self._markets.reload_if_due(self._settings.market_rules_reload_s)
        if self._client.throttled():  # the reload was answered with a throttle or a ban
            return [self.rate_limited(order)]
        symbol, refusal = self._checked_symbol(order)
        if symbol is None:
            return [
                self._reporter.event(order, KernelEventKind.REJECT, VenueOrderStatus.REJECTED, reason=refusal)
            ]
        tracked = TrackedOrder(
            order,
            venue_client_id(order.client_order_id, self._settings.exchange),
            symbol,
            self._markets.market_id(symbol),
        )
        params: dict[str, Any] = {"clientOrderId": tracked.client_id}
        if order.reduce_only and self._settings.market_type == "linear":
            params["reduceOnly"] = True
        order_type = "limit" if order.order_type == OrderType.LIMIT else "market"
        side = "buy" if order.order_side == OrderSide.BUY else "sell"
        price = order.price if order.order_type == OrderType.LIMIT else None
        self._markets.assets_traded.add(order.asset)
        if order.is_entry:
            self._markets.entered_as.setdefault(symbol, order.asset)
            self._markets.note_entry_currency(order, symbol)
        try:
            raw = self._client.exchange.create_order(symbol, order_type, side, order.size, price, params)
        except self._client.throttle_errors as exc:
            # Binance answers 429/418 before processing: the order was not placed.
            self._client.note_throttle(exc)
            return [self.rate_limited(order)]
        except ccxt.BaseError as exc:
            if not self._client.outcome_unknown(exc):
                return self._submit_refused(order, exc)
            return self._submit_unknown(tracked, exc)
        except Exception as exc:
            # Not the exchange's refusal: ccxt's own code broke (reading an answer it did not
            # expect, say), maybe after the exchange placed the order. Left unfollowed, an order
            # working there would never be reported; it is looked up as a timed-out submit is.
            return self._submit_unknown(tracked, exc)
        self.tracked[order.client_order_id] = tracked
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s: placed %s %s %s %s at %s as %s, exchange id %s",
                self.name,
                order_type,
                side,
                order.size,
                symbol,
                price,
                tracked.client_id,
                raw.get("id"),
                extra=order_ids(
                    order=order,
                    venue_order_id=qualified_order_id(tracked.market_id, str(raw.get("id") or "")),
                ),
            )
        return self._reporter.order_events(tracked, placed_answer(raw))

    def _checked_symbol(self, order: VenueOrder) -> tuple[str | None, str]:
        """The ccxt symbol ``order`` goes out in, and ''; or None and why it is refused unsent: a
        market this venue does not trade, an entry in a market of another currency than
        ``account_currency``, a size or price off the market's rules or filters, no API keys."""
        try:
            symbol = self._markets.symbol(order.asset)
        except RuntimeError as exc:
            return None, str(exc)
        if symbol is None:
            refusal = self._markets.contract_refusal(order.asset)
            return None, refusal or f"unknown asset {order.asset!r} on {self.name}"
        if self._markets.trade_symbols is not None and symbol not in self._markets.trade_symbols:
            # order_status would not look for it there after a restart, and its None would end it.
            return None, f"{order.asset!r} is not among {self.name}'s markets setting"
        refusal = (
            self._markets.second_name_refusal(order, symbol)
            or self._markets.currency_refusal(order, symbol)
            or self._markets.precision_refusal(order, symbol)
            or self._markets.filter_refusal(order, symbol, self._working_in(symbol))
        )
        if refusal:
            return None, refusal
        if not self._client.has_credentials:
            return None, (
                f"{self.name} has no API credentials: set the environment variables "
                f"{self._settings.api_key_env} and {self._settings.secret_env}"
            )
        return symbol, ""

    def _working_in(self, symbol: str) -> int:
        """How many of this venue's orders work in ``symbol`` now (MAX_NUM_ORDERS counts them):
        an order that ended and only owes its trades no longer counts."""
        return sum(
            1 for t in self.tracked.values() if t.symbol == symbol and not t.terminal and t.ended_at is None
        )

    def _submit_unknown(self, tracked: TrackedOrder, exc: BaseException) -> list[VenueEvent]:
        """A submit the exchange may have carried out: followed as unresolved (``poll_events``
        keeps looking, ``unresolved_orders`` lists it) and looked up now by client id; raises
        ``VenueTimeout`` when it is not found yet."""
        log.warning(
            "%s submit of %s outcome unknown: %s", self.name, tracked.client_id, self._client.error_text(exc)
        )
        tracked.unresolved_since = self._client.clock()
        self.tracked[tracked.order.client_order_id] = tracked
        return self._resolve_submit(tracked, exc)

    def _submit_refused(self, order: VenueOrder, exc: BaseException) -> list[VenueEvent]:
        error = self._client.error_text(exc)
        reason = f"{self.name} refused the order: {error}"
        synced = self._client.sync_clock_if_refused(exc)
        if synced:
            # Refused before matching (Binance's -1021): not placed, so the kernel frees the slot.
            reason = f"{self.name} refused the order for its timestamp, not placed ({error}); {synced}"
        elif self._markets.reload_on_refusal(error):
            # A rule the exchange changed: the next order is checked against the new one.
            reason += "; the market's rules were reloaded"
        if "createMarketBuyOrderRequiresPrice" in str(exc):
            # ccxt's advice (set the option to false) would send the size as a cost: not taken.
            reason = (
                f"{self.name} takes a spot market buy's amount as the cost to spend in quote "
                f"currency, and dita's sizes are base units: send a limit order ({error})"
            )
        return [self._reporter.event(order, KernelEventKind.REJECT, VenueOrderStatus.REJECTED, reason=reason)]

    def _resolve_submit(self, tracked: TrackedOrder, exc: BaseException) -> list[VenueEvent]:
        """After a timed-out submit: look the order up by client id before anything else."""
        for attempt in range(self._settings.resolve_attempts):
            if attempt:
                self._sleep(self._settings.resolve_delay_ms / 1000.0)
            try:
                found = self._lookup.find(tracked.client_id, tracked.symbol)
            except VenueUnavailable as unanswered:
                log.warning("%s", unanswered)
                continue
            if found is not None:
                tracked.unresolved_since = None
                return self._reporter.order_events(tracked, found)
            tracked.note_not_found(self._client.clock())
        raise VenueTimeout(
            f"{self.name}: submit of {tracked.client_id!r} timed out and the order was not found yet "
            f"({self._client.error_text(exc)}); poll_events keeps looking",
            client_order_id=tracked.order.client_order_id,
        ) from None

    def _take_over(
        self, order: VenueOrder, symbol: str, seen_event_ids: Container[str] | None = None
    ) -> TrackedOrder:
        """A record of ``order``, one the kernel sent before a restart (to follow or to cancel):
        what the kernel booked of it (its filled size) counts as reported, the trades whose fill
        events are among ``seen_event_ids`` (the event ids the kernel applied in its slot, when
        given) by their ids, the rest as the oldest trades left. One the kernel never
        saw acknowledged is asked for by client id, as a timed-out submit is (found: its events;
        "no such order" once ``unknown_order_grace_s`` from its send, ``created_at``, has passed:
        REJECT); taken as acknowledged, one that never reached the exchange would be asked about
        for good."""
        market_id = self._markets.market_id(symbol)
        tracked = TrackedOrder(
            order,
            venue_client_id(order.client_order_id, self._settings.exchange),
            symbol,
            market_id,
            # The kernel's id is qualified with the market, or bare when its log is older.
            exchange_order_id=exchange_order_id(market_id, order.venue_order_id),
            kernel_order_id="" if order.venue_order_id.startswith(f"{market_id}:") else order.venue_order_id,
            filled=order.filled_size,
            acknowledged=True,
            booked_unmatched=order.filled_size,
            kernel_event_ids=seen_event_ids,
            booked_cost=order.filled_size * order.avg_fill_price,
            # A cancel the kernel asked for before the restart: the order's end by cancel is that
            # cancel's (CANCEL_ACK), as in the process that sent it, not an EXPIRED nobody asked for.
            cancel_requested=order.cancel_requested,
        )
        if never_acknowledged(order):
            tracked.acknowledged = False
            now = self._client.clock()
            tracked.unresolved_since = now
            # Its grace runs from its send, which the log keeps (run from the restart, one sent
            # long ago would wait a grace more; ended at its first "no such order", one sent a
            # moment before the restart could end before the exchange shows it). Never from a
            # time to come.
            tracked.not_found_since = min(order.created_at, now)
        return tracked

    def watch(self, order: VenueOrder, seen_event_ids: Container[str] | None = None) -> None:
        """Follow ``order`` in ``poll_events``: one the kernel works that this adapter has no
        record of (sent before a restart), whose fills and end would otherwise reach the kernel
        only at the next reconciliation. Reconciliation calls it for each order the kernel
        still works, those it never saw acknowledged before it asks ``order_status`` about them.
        An order the kernel never saw acknowledged is asked for by client id, as a timed-out
        submit is (found: its events; "no such order" once ``unknown_order_grace_s`` from its
        send, ``created_at``, has passed: REJECT; until then, ``order_status`` raises
        ``VenueUnavailable``). An order already followed is left as it is, unless this adapter
        never found it and the kernel's ``order`` is acknowledged (reconciliation found it): then
        it is taken over anew, with what the kernel booked. ``seen_event_ids``: the event ids the
        kernel applied in the order's slot, by which the trades it booked are known
        (``_take_over``). An asset this venue does not trade raises ValueError naming it."""
        if not order.client_order_id:
            raise ValueError(f"{self.name}: cannot follow an order without a client order id")
        known = self.tracked.get(order.client_order_id)
        if known is not None and not self._learned_elsewhere(known, order):
            self._booked_elsewhere(known, order, seen_event_ids)
            return
        symbol = self._markets.symbol(order.asset)
        if symbol is None:
            raise ValueError(
                f"{self.name}: cannot follow {order.client_order_id!r}: unknown asset {order.asset!r}"
            )
        self.tracked[order.client_order_id] = self._take_over(order, symbol, seen_event_ids)

    def trade_fills(
        self, order: VenueOrder, venue_order: VenueOrder, seen_event_ids: Container[str] | None = None
    ) -> list[VenueEvent]:
        """The fills of the kernel's ``order`` beyond what it booked, one per trade with its fee,
        read up to ``venue_order``'s filled size (the exchange's answer about it, whose id names
        the order while the kernel holds none). An order this adapter follows has them counted
        as reported; one it does not (or never found: a submit in doubt) is read on a record of
        its own, left unfollowed (the kernel may have ended it; ``watch`` takes it over with what
        is booked). ``seen_event_ids`` as ``watch`` takes them. An asset this venue does not
        trade raises ValueError."""
        known = self.tracked.get(record_key(order))
        if known is not None and known.acknowledged:
            self._booked_elsewhere(known, order, seen_event_ids)
            tracked = known
        else:
            symbol = self._markets.symbol(order.asset)
            if symbol is None:
                raise ValueError(
                    f"{self.name}: cannot read the trades of {order.client_order_id!r}: "
                    f"unknown asset {order.asset!r}"
                )
            tracked = self._take_over(order, symbol, seen_event_ids)
        if not tracked.exchange_order_id:
            tracked.exchange_order_id = exchange_order_id(tracked.market_id, venue_order.venue_order_id)
        return self._reporter.trade_fills(tracked, venue_order.filled_size)

    @staticmethod
    def _booked_elsewhere(
        tracked: TrackedOrder, order: VenueOrder, seen_event_ids: Container[str] | None
    ) -> None:
        """Count as reported what the kernel's ``order`` has booked beyond what this adapter
        reported of it (a reconciliation booked the exchange's listing): the trades not reported
        whose fill events are among ``seen_event_ids``, when given, and the oldest of the others,
        up to that, were booked. Followed as it was, its next poll (or its cancel's answer) would
        report them again, to be refused as duplicates."""
        if seen_event_ids is not None:
            tracked.kernel_event_ids = seen_event_ids
        extra = order.filled_size - tracked.filled
        if extra <= sum_error(order.size):
            return
        tracked.booked_unmatched += extra
        tracked.booked_cost = max(tracked.booked_cost, order.filled_size * order.avg_fill_price)
        tracked.filled = order.filled_size
        if not tracked.exchange_order_id and order.venue_order_id:
            tracked.exchange_order_id = exchange_order_id(tracked.market_id, order.venue_order_id)

    @staticmethod
    def _learned_elsewhere(tracked: TrackedOrder, order: VenueOrder) -> bool:
        """Whether the kernel's ``order`` is acknowledged while this adapter still has it as a
        submit in doubt it never found (reconciliation asked about it, and booked its ack and
        fills): followed on as it was, its next poll would report them all again."""
        never_found = (
            tracked.unresolved_since is not None and not tracked.acknowledged and not tracked.reported_fills
        )
        return never_found and bool(order.venue_order_id)

    def _cancel(self, order: VenueOrder) -> list[VenueEvent]:
        ccxt = self._client.ccxt
        # An order without a client id is kept by its exchange id (``record_key``); under the
        # empty id, the next such cancel would reach this one again.
        key = record_key(order)
        tracked = self.tracked.get(key)
        if tracked is None:
            symbol = self._markets.symbol(order.asset)
            if symbol is None:
                return [
                    self._reporter.event(
                        order,
                        KernelEventKind.CANCEL_REJECT,
                        order.status,
                        venue_order_id=order.venue_order_id,
                        reason=f"unknown asset {order.asset!r} on {self.name}",
                        filled=order.filled_size,
                    )
                ]
            # An order from before a restart: cancel it by its client id.
            tracked = self._take_over(order, symbol)
            self.tracked[key] = tracked
        if self._client.throttled():
            return self._cancel_throttled(tracked)
        tracked.cancel_requested = True
        tracked.cancel_unknown_since = None
        # Without the exchange's id (a submit that timed out), by the client id under the
        # exchange's own parameter: Bybit refuses ``clientOrderId`` (its field is orderLinkId);
        # on Gate as the order id (``_CANCEL_BY_CLIENT_ID_AS_ID``).
        cancel_id: str | None = tracked.exchange_order_id or None
        params: dict[str, Any] = {}
        if cancel_id is None and by_lineage(type(self._client.exchange), _CANCEL_BY_CLIENT_ID_AS_ID):
            cancel_id = tracked.client_id
        elif cancel_id is None:
            params = {self._lookup.client_id_param(): tracked.client_id}
        try:
            raw = self._client.exchange.cancel_order(cancel_id, tracked.symbol, params)
        except self._client.throttle_errors as exc:
            self._client.note_throttle(exc)
            tracked.cancel_requested = False
            return self._cancel_throttled(tracked)
        except ccxt.OrderNotFound as exc:
            # Usually filled (or canceled) before the cancel arrived: ask what became of it.
            return self._cancel_missed(tracked, exc)
        except ccxt.BaseError as exc:
            if self._client.outcome_unknown(exc):
                return self._cancel_unknown(tracked, exc)
            tracked.cancel_requested = False
            synced = self._client.sync_clock_if_refused(exc)
            return [
                self._reporter.event(
                    order,
                    KernelEventKind.CANCEL_REJECT,
                    order.status,
                    venue_order_id=tracked.venue_order_id,
                    reason=f"{self.name} refused the cancel: {self._client.error_text(exc)}"
                    + (f"; {synced}" if synced else ""),
                    filled=tracked.filled,
                )
            ]
        except Exception as exc:
            # Not the exchange's refusal: ccxt's own code broke (reading an answer it did not
            # expect), maybe after the exchange carried the cancel out.
            return self._cancel_unknown(tracked, exc)
        events = self._reporter.order_events(tracked, raw)
        if not tracked.terminal and tracked.ended_at is None:
            # Answered before it was carried out (the answer says the order works, or says
            # nothing of it): its end may come later or never, so it is followed as one in doubt.
            self._cancel_in_doubt(tracked)
        return events

    def _cancel_unknown(self, tracked: TrackedOrder, exc: BaseException) -> list[VenueEvent]:
        """A cancel the exchange may have carried out: the order looked up, its end when it is
        over; else followed as a cancel in doubt, and ``VenueTimeout`` raised."""
        found = self._lookup.lookup(tracked)
        if found is not None and found.get("status") != "open":
            return self._reporter.order_events(tracked, found)
        self._cancel_in_doubt(tracked)
        raise VenueTimeout(
            f"{self.name}: cancel of {tracked.client_id!r} has an unknown outcome and the order is "
            f"still working ({self._client.error_text(exc)}); poll_events reports the outcome",
            client_order_id=tracked.order.client_order_id,
        ) from None

    def _cancel_in_doubt(self, tracked: TrackedOrder) -> None:
        """Follow ``tracked``'s cancel as one whose outcome is unknown: the exchange may still carry
        it out, and should the order work on past the grace, ``cancel_not_carried_out`` says so
        and the kernel may cancel again."""
        tracked.cancel_unknown_since = self._client.clock()
        tracked.cancel_in_flight = True

    def cancel_not_carried_out(self, tracked: TrackedOrder, raw: dict[str, Any]) -> list[VenueEvent]:
        """After a cancel whose outcome was unknown (``VenueTimeout``), what the exchange's answer
        ``raw`` about ``tracked`` says of it: the order still working ``unknown_order_grace_s``
        after that cancel means it was not carried out: a CANCEL_REJECT, so the kernel clears its
        cancel request and a new cancel (a flatten) goes out. Nothing while the grace runs, nor
        once the order ended (its end reports the cancel). Carried out later still, the cancel
        ends the order as any cancel does (``TrackedOrder.cancel_in_flight``)."""
        since = tracked.cancel_unknown_since
        if since is None:
            return []
        if tracked.terminal or raw.get("status") != "open":
            tracked.cancel_unknown_since = None
            return []
        waited = self._client.clock() - since
        if waited < self._settings.unknown_order_grace_s:
            return []
        tracked.cancel_unknown_since = None
        tracked.cancel_requested = False
        working = VenueOrderStatus.PARTIALLY_FILLED if tracked.filled > 0 else VenueOrderStatus.ACKNOWLEDGED
        reason = (
            f"{self.name}: the cancel whose outcome was unknown was not carried out: the order still "
            f"works {waited:.1f}s after it; cancel again"
        )
        log.warning("%s: %s", tracked.client_id, reason)
        return [
            self._reporter.event(
                tracked.order,
                KernelEventKind.CANCEL_REJECT,
                working,
                venue_order_id=tracked.venue_order_id,
                reason=reason,
                filled=tracked.filled,
            )
        ]

    def _cancel_missed(self, tracked: TrackedOrder, exc: BaseException) -> list[VenueEvent]:
        """A cancel the exchange answered "no such order": what became of the order. Usually it
        filled or ended first (its fills and end; filled with fills still to show: a refusal
        saying so; its end reported, nothing more, as the kernel refuses a refusal for an order
        over). Found working,
        the cancel overtook the order on its way (a submit that timed out): it did not happen,
        so it is refused, or the kernel would wait on a cancel that never comes while the order
        can fill."""
        try:
            found = self._lookup.find(tracked.client_id, tracked.symbol, tracked.exchange_order_id)
        except VenueUnavailable as unasked:
            # "No such order" then usually means it ended: the refusal says it is not known how,
            # and polling reports its end.
            log.warning("%s", unasked)
            reason = (
                f"{self.name} answered the cancel that it has no such order "
                f"({self._client.error_text(exc)}); what became of the order is not known yet ({unasked}): "
                "polling reports its end"
            )
            found = None
        else:
            reason = f"{self.name} does not know the order: {self._client.error_text(exc)}"
        if found is None:
            return [
                self._reporter.event(
                    tracked.order,
                    KernelEventKind.CANCEL_REJECT,
                    tracked.order.status,
                    venue_order_id=tracked.venue_order_id,
                    reason=reason,
                    filled=tracked.filled,
                )
            ]
        events = self._reporter.order_events(tracked, found)
        ended = any(e.kind in (KernelEventKind.CANCEL_ACK, KernelEventKind.EXPIRED) for e in events)
        if found.get("status") == "closed" and not ended and not tracked.terminal:
            tracked.cancel_requested = False
            events.append(
                self._reporter.event(
                    tracked.order,
                    KernelEventKind.CANCEL_REJECT,
                    VenueOrderStatus.FILLED,
                    venue_order_id=tracked.venue_order_id,
                    reason=f"{self.name}: order already filled, nothing to cancel",
                    filled=tracked.filled,
                )
            )
        elif found.get("status") == "open" and not tracked.terminal:
            tracked.cancel_requested = False
            working = VenueOrderStatus.ACKNOWLEDGED
            if tracked.filled > 0:
                working = VenueOrderStatus.PARTIALLY_FILLED
            events.append(
                self._reporter.event(
                    tracked.order,
                    KernelEventKind.CANCEL_REJECT,
                    working,
                    venue_order_id=tracked.venue_order_id,
                    reason=f"{self.name} answered the cancel that it has no such order "
                    f"({self._client.error_text(exc)}), yet lists it working: not canceled, the order "
                    "still works",
                    filled=tracked.filled,
                )
            )
        return events
