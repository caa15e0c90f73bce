"""What the exchange says of an order (ccxt's order and trade dicts), reported to the kernel as its
venue events: the ack, each trade as a fill once, and the order's end (cancel, expiry, reject),
and an order's rest booked from its own figures when its trades never show.

``OrderReporter.order_events`` takes an answer from wherever it came (a submit's, a cancel's, a
poll's query): a stream of the exchange's order updates is read the same way."""

from __future__ import annotations

import logging
import math
from typing import Any

from dita._kernel import KernelEventKind, OrderSide, OrderType, VenueEvent, VenueOrder, VenueOrderStatus
from dita.logs import order_ids
from dita.venues._events import BoundedIdSet, OrderEvents
from dita.venues.ccxt.answers import (
    ORDER_STATUSES,
    number,
    order_status,
    time_ms,
    trade_amount,
    trade_id_only,
    trade_ms,
    trade_sequence,
)
from dita.venues.ccxt.client import ExchangeClient
from dita.venues.ccxt.fees import CommissionPrices, quote_fee
from dita.venues.ccxt.settings import CcxtSettings
from dita.venues.ccxt.tracking import TrackedOrder, sum_error
from dita.venues.ccxt.trades import TradeReader, trades_total

__all__ = ["OrderReporter"]

log = logging.getLogger("dita.venues.ccxt")

# How a fill booked from its order's own record (``fill_from_order``) is priced, by source:
# said in its warning, and its ``metadata["price_source"]``.
_PRICE_SOURCES = {
    "average": "priced by the order's cost",
    "limit": "at its limit price, the exchange giving no cost or average (the fill's may be better)",
    "order_price": "at the exchange's price of the order, which gives no cost or average",
    "reference": (
        "at its reference price (the price it was sent at), the exchange giving no cost, average "
        "or price of the order (the fill's may differ)"
    ),
}


class OrderReporter:
    """Turns the exchange's answers about the venue's orders into venue events, each reported
    once: it names the events (``OrderEvents``) and remembers the trades any order reported, so
    the two fills of a self-trade (one trade id, two of the account's orders) are told apart."""

    def __init__(self, client: ExchangeClient, settings: CcxtSettings, trades: TradeReader) -> None:
        self._client = client
        self._settings = settings
        self.name = client.name
        self.trades = trades
        self._events = OrderEvents(client.name)
        # The trades (``fill_key``) an order of this process reported a fill of: another order's
        # fill of one (a self-trade) is reported under an id of its own (``_fill_id``).
        self._reported_trades = BoundedIdSet()
        # Prices of commission currencies that are neither the base nor the quote (BNB).
        self.commission_prices = CommissionPrices(client)

    def resume(self, seq: int) -> None:
        """Mark the ids made here with ``seq`` (``OrderEvents.resume``)."""
        self._events.resume(seq)

    def event(
        self,
        order: VenueOrder,
        kind: KernelEventKind,
        status: VenueOrderStatus,
        *,
        venue_order_id: str = "",
        reason: str = "",
        retry_after: float = 0.0,
        filled: float = 0.0,
        timestamp: float | None = None,
    ) -> VenueEvent:
        return self._events.make(
            order,
            kind,
            status,
            venue_order_id=venue_order_id,
            timestamp=self._client.clock() if timestamp is None else timestamp,
            filled_size=filled,
            reason=reason,
            retry_after=retry_after,
        )

    def order_events(self, tracked: TrackedOrder, raw: dict[str, Any]) -> list[VenueEvent]:
        """Events for what ``raw`` (a ccxt order) says beyond what was already reported."""
        order = tracked.order
        events: list[VenueEvent] = []
        tracked.not_found_since = None  # the exchange has it: a later "no such order" starts anew
        tracked.unresolved_since = None  # and it is no submit in doubt any more (a cancel's lookup found it)
        if raw.get("id") is not None:
            tracked.exchange_order_id = str(raw["id"])
        ms = time_ms(raw.get("lastUpdateTimestamp") or raw.get("timestamp"))
        timestamp = ms / 1000.0 if ms is not None else self._client.clock()
        # Read before anything is counted as reported (the ack below), so a figure that is
        # not a number cannot break the answer half-way.
        exchange_filled = number(raw.get("filled"))
        status = order_status(raw, type(self._client.exchange))
        self._warn_of_unknown_status(tracked, status)
        rejected_late = status == "rejected" and (
            tracked.filled > 0 or (raw.get("filled") is not None and exchange_filled > 0)
        )
        if rejected_late:
            # Dropped after part of it traded: an end like an expiry, whose fills still count.
            status = "expired"
        if status == "rejected":
            tracked.terminal = True
            return [
                self.event(
                    order,
                    KernelEventKind.REJECT,
                    VenueOrderStatus.REJECTED,
                    venue_order_id=tracked.venue_order_id,
                    reason=f"{self.name} rejected the order",
                    timestamp=timestamp,
                )
            ]
        if not tracked.acknowledged:
            events.append(
                self._events.make(
                    order,
                    KernelEventKind.ORDER_ACK,
                    VenueOrderStatus.ACKNOWLEDGED,
                    venue_order_id=tracked.venue_order_id,
                    timestamp=timestamp,
                    event_id=f"{self.name}:ack:{tracked.event_key}",
                )
            )
        listed = list(raw.get("trades") or [])
        # Trades the answer names by id only (Kraken's order query: ccxt gives them without
        # amount or price) are asked for by those ids: taken for trades, each would hide the
        # listed trade of its id, and no fill of the order be reported.
        trades = [t for t in listed if not trade_id_only(t)]
        named = [str(t["id"]) for t in listed if trade_id_only(t) and t.get("id") is not None]
        # A closed answer stating no filled size is full by ccxt's reading: its trades are asked
        # for up to the order's size. Counted 0, they would never be asked for, nor reported.
        wanted = exchange_filled
        if status == "closed" and (raw.get("filled") is None or not math.isfinite(exchange_filled)):
            wanted = order.size
        # Of an order taken over, the answer's trades (a batch of streamed frames) may add up to
        # the filled size and still not show which are the ones booked: only the whole list does.
        error = sum_error(order.size)
        owed = wanted > tracked.filled + error
        if owed and (tracked.booked_unmatched > error or trades_total(tracked, trades) < wanted):
            trades.extend(self.trades.fetch(tracked, wanted, named, self.trades.order_life(raw)))
            if tracked.trades_unread and tracked.booked_unmatched > error:
                # What the kernel booked before this venue took the order over, and no trade id
                # it knows accounts for, is matched to the oldest trades, which only the whole
                # list shows: a streamed trade alone would be taken for one booked already. None
                # are reported until the list reads whole.
                trades = []
        events.extend(self._fill_events(tracked, trades, timestamp))
        if tracked.trades_unread and tracked.filled >= tracked.unread_filled - error:
            tracked.trades_unread = False  # what the list was read short of is reported
        # Counted once the answer has read this far: nothing below raises, and an answer that
        # broke above is read again, ack and all.
        tracked.acknowledged = True
        # Some exchanges say "closed" for an order that ended part filled (the rest of an IOC or
        # market order dropped): over, like an expiry. Only by a filled size the answer states:
        # ccxt counts a closed order without one as full, and a fill the end left out is refused.
        stated = raw.get("filled") is not None and math.isfinite(exchange_filled)
        closed_short = (
            status == "closed" and stated and max(tracked.filled, exchange_filled) < order.size - error
        )
        if status in ("canceled", "expired") or closed_short:
            events.extend(self._end_events(tracked, raw, str(status), rejected_late, timestamp))
        elif status == "closed" and tracked.filled >= order.size - error:
            tracked.terminal = True
        elif status == "closed":
            events.extend(self._closed_with_trades_missing(tracked, raw, stated, timestamp))
        return events

    def _warn_of_unknown_status(self, tracked: TrackedOrder, status: Any) -> None:
        """Warn, once per order and status, of a status neither ccxt's nor an exchange's end word
        known here: the order is read as still working, and followed on."""
        if status is None or status in ORDER_STATUSES or status == tracked.unknown_status:
            return
        tracked.unknown_status = status
        log.warning(
            "%s: order %s (%s) has status %r, which is not known here: read as still working, and "
            "asked about on; reconcile with the exchange",
            self.name, tracked.client_id, tracked.venue_order_id, status,
        )  # fmt: skip

    def trade_fills(self, tracked: TrackedOrder, exchange_filled: float) -> list[VenueEvent]:
        """Fills of ``tracked``'s trades not reported yet, read from the exchange's trade list
        until they add up to ``exchange_filled``, each with its fee (reconciliation books these
        before booking from the order's status what they still leave missing)."""
        trades = self.trades.fetch(tracked, exchange_filled)
        # Oldest first, up to that size: a trade beyond it came after the answer stating it (one
        # racing a cancel), and is reported with what says so (the cancel's answer, a poll).
        total = tracked.filled - tracked.booked_unmatched
        within: list[dict[str, Any]] = []
        for trade in sorted(trades, key=trade_sequence):
            if trade.get("id") is None or tracked.fill_key(trade) in tracked.reported_fills:
                continue
            total += trade_amount(trade)
            if total > exchange_filled + sum_error(tracked.order.size):
                break
            within.append(trade)
        return self._fill_events(tracked, within, self._client.clock())

    def _end_events(
        self, tracked: TrackedOrder, raw: dict[str, Any], status: str, rejected_late: bool, timestamp: float
    ) -> list[VenueEvent]:
        """The end ``raw`` says of the order (``status``: canceled, expired, or closed short of its
        size), or, of an order already ended, its rest booked from the end's figures once its
        trades have not shown for ``missing_trades_wait_s``. ``rejected_late``: the exchange
        rejected the order after part of it traded (read as an expiry)."""
        order = tracked.order
        exchange_filled = number(raw.get("filled"))
        stated = raw.get("filled") is not None and math.isfinite(exchange_filled)
        # The exchange's own filled size goes with the end, so the kernel knows a fill is
        # still to come when the trade list lags; the order stays polled until it does. An
        # answer without one (HTX's cancel) ends it with 0, the kernel's "cannot say": any
        # figure would refuse the fills still to come, so it is asked about until it says.
        if tracked.ended_at is not None and not stated and tracked.owed_answer is not None:
            # Of an order already ended, an answer without a filled size says nothing new: the
            # last one that stated one stands (read as "cannot say", it would have the order
            # given up on at the grace, and the fill the end told the kernel of never booked).
            raw = tracked.owed_answer
            exchange_filled, stated = number(raw.get("filled")), True
        behind = exchange_filled > tracked.filled + sum_error(order.size)
        settled = tracked.filled >= order.size or (stated and not behind)
        if not settled and stated:
            tracked.owed_answer = dict(raw)
        if tracked.ended_at is not None:
            waited = self._client.clock() - tracked.ended_at
            if not settled and stated and waited >= self._settings.missing_trades_wait_s:
                # The end's own figures stand in for the trades that never showed.
                return self.fill_from_order(tracked, raw, exchange_filled, timestamp, waited)
            # Without a filled size to book from, it is given up on after the grace.
            tracked.terminal = settled or (not stated and waited >= self._settings.unknown_order_grace_s)
            if not settled and tracked.terminal:
                log.warning(
                    "%s: %s ended with %s filled, but its trades show %s after %.1fs; "
                    "reconcile with the exchange",
                    self.name, tracked.client_id, exchange_filled if stated else "an unknown size",
                    tracked.filled, waited,
                )  # fmt: skip
            return []
        tracked.terminal = settled
        if not settled:
            tracked.ended_at = self._client.clock()
        end_filled = max(tracked.filled, exchange_filled) if stated else 0.0
        if status != "expired":
            reason = self._end_reason(tracked, status, end_filled, raw.get("status"))
            return [self.ended(tracked, timestamp, end_filled, reason)]
        return [
            self._events.make(
                order,
                KernelEventKind.EXPIRED,
                VenueOrderStatus.EXPIRED,
                venue_order_id=tracked.venue_order_id,
                timestamp=timestamp,
                filled_size=end_filled,
                event_id=f"{self.name}:expired:{tracked.event_key}",
                reason=(
                    (
                        f"{self.name} rejected the order after {end_filled!r} of {order.size!r} filled"
                        if stated
                        else f"{self.name} rejected the order after part of it filled"
                    )
                    if rejected_late
                    else f"{self.name} expired the order"
                ),
            )
        ]

    def _end_reason(self, tracked: TrackedOrder, status: str, end_filled: float, said: Any) -> str:
        """Why the order ended (``status``: canceled, or closed short of its size; ``said``: the
        exchange's own word for it, when ccxt passed one on): nothing for the end of the cancel
        the kernel asks for; the exchange's doing otherwise, a cancel of ours carried out after
        it was reported not carried out said so, with a warning."""
        if tracked.cancel_requested:
            return ""
        order = tracked.order
        ended_by = (
            f"{self.name} canceled the order"
            if status == "canceled"
            else f"{self.name} closed the order with {end_filled!r} of {order.size!r} filled"
        )
        if said != status:
            ended_by += f" ({said})"
        if not tracked.cancel_in_flight:
            return ended_by
        reason = (
            f"{ended_by}: the cancel whose outcome was unknown, reported not carried out, "
            "was carried out late"
        )
        log.warning("%s: %s", tracked.client_id, reason)
        return reason

    def _closed_with_trades_missing(
        self, tracked: TrackedOrder, raw: dict[str, Any], stated: bool, timestamp: float
    ) -> list[VenueEvent]:
        """An order filled in full by the exchange's word (or by ccxt's reading, ``raw`` stating
        no filled size), its trades not all listed: asked about for them for a while, then its
        rest booked from the order, as asked about for ever the fill would never come. A later
        answer stating no filled size says nothing new: the last one that stated one stands."""
        now = self._client.clock()
        if tracked.trades_missing_since is None:
            tracked.trades_missing_since = now
        if stated:
            tracked.owed_answer = dict(raw)
        waited = now - tracked.trades_missing_since
        owed = tracked.owed_answer
        if owed is not None and waited >= self._settings.missing_trades_wait_s:
            owed_filled = number(owed.get("filled"))
            return self.fill_from_order(tracked, owed, owed_filled, timestamp, waited)
        if owed is None and waited >= self._settings.unknown_order_grace_s:
            # Never a filled size to book from: it would be asked about for ever.
            return self._closed_without_filled_size(tracked, timestamp, waited)
        return []

    def ended(self, tracked: TrackedOrder, timestamp: float, filled_size: float, reason: str) -> VenueEvent:
        """The end of ``tracked`` without a fill to come from here: ``CANCEL_ACK`` when a cancel
        of ours may have ended it (``TrackedOrder.canceled_by_us``), else ``EXPIRED``, stating
        ``filled_size`` (0: the kernel's "cannot say"), under the order's one end id."""
        canceled = tracked.canceled_by_us
        kind = KernelEventKind.CANCEL_ACK if canceled else KernelEventKind.EXPIRED
        return self._events.make(
            tracked.order,
            kind,
            VenueOrderStatus.CANCELED if canceled else VenueOrderStatus.EXPIRED,
            venue_order_id=tracked.venue_order_id,
            timestamp=timestamp,
            filled_size=filled_size,
            event_id=f"{self.name}:{kind.name.lower()}:{tracked.event_key}",
            reason=reason,
        )

    def _closed_without_filled_size(
        self, tracked: TrackedOrder, timestamp: float, waited: float
    ) -> list[VenueEvent]:
        """The end of an order the exchange has said closed for ``unknown_order_grace_s`` without
        stating its filled size (nor its amount, so ccxt could not count it full), its trades not
        showing all of it: over, ended as one the exchange purged is, with its filled
        size unknown (0, the kernel's "cannot say"), a warning naming it, and asked about no more.
        No second end where one was reported already."""
        order = tracked.order
        tracked.terminal = True
        reason = (
            f"{self.name} closed the order without saying how much it filled, and its trades show "
            f"{tracked.filled!r} of {order.size!r} after {waited:.1f}s: over, what it filled beyond "
            "that is unknown; reconcile with the exchange"
        )
        log.warning("%s: order %s (%s): %s", self.name, tracked.client_id, tracked.venue_order_id, reason)
        if tracked.ended_at is not None:
            return []
        return [self.ended(tracked, timestamp, 0.0, reason)]  # 0: the kernel's "cannot say"

    def fill_from_order(
        self,
        tracked: TrackedOrder,
        raw: dict[str, Any],
        exchange_filled: float,
        timestamp: float,
        waited: float,
    ) -> list[VenueEvent]:
        """One fill for what the exchange says ``raw`` (an order that is over) filled beyond the
        trades reported, priced by the best price known of it (``_price_of_rest``), its fee left
        to the kernel's model; the order is then over here, so its trades, should they show
        later, are never read and booked a second time. Its fill id is the order's: a resend is
        a duplicate. With no price known, the fill is left owed (``_owed_without_price``)."""
        order = tracked.order
        tracked.terminal = True
        if exchange_filled > order.size + sum_error(order.size):
            self._overfilled(tracked, exchange_filled, "the order's answer")
        total = min(exchange_filled, order.size)
        if order.size - total <= sum_error(order.size):
            total = order.size
        missing = total - tracked.filled
        if missing <= sum_error(order.size):
            return []
        price, source = self._price_of_rest(tracked, raw, total, exchange_filled)
        if not price > 0:
            return self._owed_without_price(tracked, total, missing, timestamp, waited)
        # Built on the exchange's bare id (``order_key``): the fill keeps the id an older log holds.
        fill_id = f"{tracked.market_id}:order:{tracked.order_key}"
        log.warning(
            "%s: order %s (%s) filled %r by the exchange's word, but its trades show %r after %.1fs; "
            "the rest (%r at %r, %s) booked from the order, its fee left to the kernel's model",
            self.name, tracked.client_id, tracked.venue_order_id or "no exchange id", total, tracked.filled,
            waited, missing, price, _PRICE_SOURCES[source],
        )  # fmt: skip
        event = self._events.make(
            order,
            KernelEventKind.FILL,
            VenueOrderStatus.FILLED if total >= order.size else VenueOrderStatus.PARTIALLY_FILLED,
            venue_order_id=tracked.venue_order_id,
            timestamp=timestamp,
            price=price,
            size=missing,
            filled_size=total,
            fill_id=fill_id,
            fee=None,
            event_id=self._fill_event_id(fill_id),
            metadata={"fill_source": "order", "price_source": source},
        )
        tracked.reported_fills.add(fill_id)
        tracked.filled = total
        tracked.booked_cost += missing * price
        return [event]

    @staticmethod
    def _price_of_rest(
        tracked: TrackedOrder, raw: dict[str, Any], total: float, exchange_filled: float
    ) -> tuple[float, str]:
        """The price of the rest of ``total`` that ``raw`` (an order that is over) filled beyond
        the reported trades, and its source (a key of ``_PRICE_SOURCES``): the order's cost (or average) less
        what the reported trades cost (its average where that does not make sense); else the
        order's price as the exchange states it (a limit, or a market order's price bound) or
        the limit it was sent with, which the fill cannot be worse than; else the price it was
        sent at (its reference, which reconciliation falls back to as well), so an answer without
        a cost or average (Binance answers a cost below 0 when it has none) still books the fill.
        (0, "") when none is known."""
        order = tracked.order
        average = number(raw.get("average"))
        cost = number(raw.get("cost"))
        # The exchange's cost covers all it filled, past the order's size too (an overfill): the
        # rest is priced at what that leaves once the reported trades are taken out.
        filled = exchange_filled if exchange_filled > total else total
        if not (math.isfinite(cost) and cost > 0) and math.isfinite(average) and average > 0:
            cost = average * filled
        for price in ((cost - tracked.booked_cost) / (filled - tracked.filled), cost / filled):
            if math.isfinite(price) and price > 0:
                return price, "average"
        limit = order.order_type == OrderType.LIMIT
        candidates = [
            (number(raw.get("price")), "limit" if limit else "order_price"),
            (order.price if limit else 0.0, "limit"),
            (order.reference_price, "reference"),
        ]
        for price, source in candidates:
            if math.isfinite(price) and price > 0:
                return price, source
        return 0.0, ""

    def _overfilled(self, tracked: TrackedOrder, filled: float, source: str) -> None:
        """ERROR: ``source`` puts ``tracked``'s filled size at ``filled``, past its size. The
        order is booked at its size; what the exchange filled beyond it is in no slot."""
        log.error(
            "%s: order %s (%s): %s puts its filled size at %r, past its size %r: the order is booked"
            " filled, and the %r beyond it, in no slot, is to reconcile with the exchange",
            self.name, tracked.client_id, tracked.venue_order_id or "no exchange id", source, filled,
            tracked.order.size, filled - tracked.order.size, extra=order_ids(order=tracked.order),
        )  # fmt: skip

    def _owed_without_price(
        self, tracked: TrackedOrder, total: float, missing: float, timestamp: float, waited: float
    ) -> list[VenueEvent]:
        """What the exchange says ``tracked`` filled beyond its trades, with no price known of it:
        not booked at a made-up price, and not dropped either. An ERROR names the order, the size
        and what to do; the kernel holds the fill as owed (``awaited_orders()``, its slot waiting)
        by the end, which carries the exchange's filled size: the end reported already, or one
        made here (else, the exchange having said filled, the kernel's order would work on for good)."""
        order = tracked.order
        log.error(
            "%s: order %s (%s) filled %r by the exchange's word, but its trades show %r after %.1fs and "
            "no price of the rest is known (no cost, average or price of the order, no limit or "
            "reference price): %r of it is owed to the kernel, not booked (awaited_orders() lists "
            "it); find the order's trades at the exchange and feed their fill, or run "
            "reconcile_with_venue, which books it from the order's status",
            self.name, tracked.client_id, tracked.venue_order_id or "no exchange id", total, tracked.filled,
            waited, missing,
        )  # fmt: skip
        if tracked.ended_at is not None:
            return []  # its end, with the exchange's filled size, told the kernel already
        reason = (
            f"{self.name} says the order filled {total!r} of {order.size!r}, but its trades never "
            "showed and no price of them is known: ended here with that filled size, the "
            f"{missing!r} not booked owed to the slot, which waits for it; reconcile with the exchange"
        )
        return [self.ended(tracked, timestamp, total, reason)]

    def _fill_id(self, tracked: TrackedOrder, fill_key: str) -> str:
        """The fill id of ``tracked``'s fill of trade ``fill_key``: the trade's, or
        ``<trade's>:<order key>`` (``TrackedOrder.order_key``: its exchange id, or its client id
        while it has none) when another order reported that trade (a self-trade's second fill).
        The kernel keeps a fill's predicted fee until FILL_SETTLED by fill id: under one id the
        second fill's would replace the first's, and one FILL_SETTLED settle only one of them."""
        if fill_key not in self._reported_trades:
            return fill_key
        return f"{fill_key}:{tracked.order_key}"

    def _fill_event_id(self, fill_id: str) -> str:
        return f"{self.name}:fill:{fill_id}"

    def _booked_by_id(
        self,
        tracked: TrackedOrder,
        trades: list[dict[str, Any]],
        made: dict[str, VenueEvent | None],
        unmatched: float,
    ) -> float:
        """Of an order taken over, the ``trades`` whose fill the kernel applied (its event id
        among ``tracked.kernel_event_ids``, as the trade's own or as a self-trade's second fill):
        put in ``made`` as reported, whatever their age, and taken off ``unmatched``, which this
        returns. Matched to the oldest trades instead, a newer trade booked first (the older's
        stream frame lost) would be reported again, refused as a duplicate, and the older booked
        from the order's status without its fee."""
        booked = tracked.kernel_event_ids
        if booked is None:
            return unmatched
        for trade in trades:
            fill_key = tracked.fill_key(trade)
            if fill_key in tracked.reported_fills or fill_key in made:
                continue
            ids = (self._fill_event_id(fill_key), self._fill_event_id(f"{fill_key}:{tracked.order_key}"))
            if any(event_id in booked for event_id in ids):
                made[fill_key] = None
                unmatched = max(unmatched - trade_amount(trade), 0.0)
        return unmatched

    def _fill_events(
        self, tracked: TrackedOrder, trades: list[dict[str, Any]], order_ts: float
    ) -> list[VenueEvent]:
        """Fill events for the trades not reported yet. All are built before any is counted
        as reported, so a trade that breaks half-way loses none: the next poll asks again."""
        order = tracked.order
        made: dict[str, VenueEvent | None] = {}  # by fill key, in order: one per trade
        filled = tracked.filled
        cost = tracked.booked_cost
        unmatched = tracked.booked_unmatched
        # A trade that reads comes before any that does not: else an order's answer giving one
        # without a price (nor a time, so sorted first) would have its copy in the list skipped.
        ordered = sorted(
            (t for t in trades if t.get("id") is not None),
            key=lambda t: (trade_amount(t) == 0.0, trade_sequence(t)),
        )
        unmatched = self._booked_by_id(tracked, ordered, made, unmatched)
        skipped: set[str] = set()  # a trade listed twice (the answer's and the trade list's) warns once
        for trade in ordered:
            fill_key = tracked.fill_key(trade)
            if fill_key in tracked.reported_fills or fill_key in skipped or fill_key in made:
                continue
            qty, price = number(trade.get("amount")), number(trade.get("price"))
            booked_before = 0.0  # what of it the kernel had booked (its cost is in booked_cost)
            bad = [n for n, v in (("amount", qty), ("price", price)) if not (v > 0 and math.isfinite(v))]
            if bad:
                skipped.add(fill_key)
                field_name = bad[0]
                # Not counted as reported: the exchange's next answer about it may read right.
                log.warning(
                    "%s: trade %s of order %s has %s=%r, not a positive number; not reported",
                    self.name, fill_key, tracked.client_id, field_name, trade.get(field_name),
                )  # fmt: skip
                continue
            if unmatched > sum_error(order.size):
                if qty <= unmatched + sum_error(order.size):
                    # Within what the kernel had booked without a trade's id when this venue
                    # took the order over (after a restart): reported then, so not again.
                    unmatched = max(unmatched - qty, 0.0)
                    made[fill_key] = None
                    continue
                # Booked in part: its running total ends where it does, so only the rest is new.
                filled -= unmatched
                booked_before, unmatched = unmatched, 0.0
            filled += qty
            if filled > order.size + sum_error(order.size):
                # What fits completes the order; told as a total past its size, the kernel would
                # refuse the whole fill, the order's own part with it. The rest is named.
                self._overfilled(tracked, filled, f"trade {fill_key}")
            if order.size - filled <= sum_error(order.size):
                filled = order.size
            done = filled >= order.size
            named = f"trade {fill_key} of order {tracked.client_id}"
            fee, fee_note = quote_fee(
                self.name, self._client.exchange, trade, price, named, self.commission_prices,
                buys=order.order_side == OrderSide.BUY,
            )  # fmt: skip
            fill_id = self._fill_id(tracked, fill_key)
            # Left unsaid when the trade does not say (ccxt's None): the kernel then reads a
            # limit order's fill as a maker's, where TAKER would charge it the taker rate.
            liquidity = {"maker": "MAKER", "taker": "TAKER"}.get(str(trade.get("takerOrMaker")))
            event = self._events.make(
                order,
                KernelEventKind.FILL,
                VenueOrderStatus.FILLED if done else VenueOrderStatus.PARTIALLY_FILLED,
                venue_order_id=tracked.venue_order_id,
                timestamp=self._trade_time(trade, order_ts, named),
                price=price,
                size=qty,
                filled_size=filled,
                fill_id=fill_id,
                fee=fee,
                event_id=self._fill_event_id(fill_id),
                metadata={**({"liquidity": liquidity} if liquidity else {}), **fee_note},
            )
            made[fill_key] = event
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "%s: fill %s of order %s: %s at %s, fee %s",
                    self.name,
                    fill_id,
                    tracked.client_id,
                    qty,
                    price,
                    fee,
                    extra=order_ids(order=order, event=event),
                )
            cost += (qty - booked_before) * price
        for fill_key in made:
            tracked.reported_fills.add(fill_key)
            self._reported_trades.add(fill_key)
        tracked.filled = filled
        tracked.booked_cost = cost
        tracked.booked_unmatched = unmatched
        if filled >= order.size:
            tracked.terminal = True
        return [event for event in made.values() if event is not None]

    def _trade_time(self, trade: dict[str, Any], fallback: float, named: str) -> float:
        """The trade's time in seconds; ``fallback`` (the order's time, else the poll's) when the
        answer gives none (Binance's fills in a submit's answer) or one that is not a time, with
        a warning: a NaN would reach the kernel, which refuses the fill already counted reported."""
        ms = trade_ms(trade)
        if ms is not None:
            return ms / 1000.0
        if trade.get("timestamp") is not None:
            log.warning(
                "%s: %s has timestamp=%r, not a time in milliseconds; stamped %r instead",
                self.name, named, trade.get("timestamp"), fallback,
            )  # fmt: skip
        return fallback
