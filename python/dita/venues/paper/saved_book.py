"""The paper venue's book across a restart: ``book()`` gives what the venue holds as JSON-ready
data, which a paper run saves with its state; ``restore_book`` takes it over in the next run's
venue, refusing one that is not as ``book()`` writes it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from dita._kernel import OrderType, VenueOrder
from dita.venues.paper.order_book import _checked_quote, _finite, _OrderBook, _Quote, _Working

# The format of ``PaperVenue.book()``; ``restore_book`` refuses any other.
BOOK_FORMAT = 1

# Readers of a saved book (``restore_book``): each takes only what ``book()`` writes. Taken
# loosely, a NaN fill count or a text "no" for a flag would be restored, and the venue break
# later (``open_orders`` raising at reconciliation) or work the order otherwise than it had.


def _book_time(name: str, value: object) -> float | None:
    return None if value is None else _finite(name, value, signed=True)


def _book_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} {value!r} is not a count")
    return value


def _book_flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} {value!r} is not true or false")
    return value


def _check_book_order(w: _Working) -> None:
    """A saved order as only a paper venue could have held one (``submit`` refuses the rest, and
    fills keep ``filled``, ``filled_cost`` and ``fills`` in step), else a ValueError naming the
    field and its value. Restored, a size of 0 would work on for good, never filled; a sell limit
    at 0 would fill at 0; a part fill saved with ``fills`` 0 would give its next fill the first
    one's id, which the kernel drops as a duplicate."""
    o = w.order
    name = f"order {o.client_order_id!r}"
    if not o.asset:
        raise ValueError(f"{name}: asset {o.asset!r} is not a market")
    if not w.venue_order_id:
        raise ValueError(f"{name}: venue_order_id {w.venue_order_id!r} is empty")
    if not w.size > 0:
        raise ValueError(f"{name}: size {w.size!r} is not above 0")
    if o.order_type == OrderType.LIMIT and not o.price > 0:
        raise ValueError(f"{name}: price {o.price!r} of a LIMIT order is not above 0")
    if not 0 <= w.filled <= w.size:
        more = "more than its size" if w.filled > 0 else "below 0"
        raise ValueError(f"{name}: filled {w.filled!r} of {w.size!r}, {more}")
    if w.filled == 0:
        if w.filled_cost != 0:
            raise ValueError(f"{name}: filled_cost {w.filled_cost!r} with nothing filled")
        if w.fills:
            raise ValueError(f"{name}: fills {w.fills!r} with nothing filled")
    else:
        if not w.filled_cost > 0:
            raise ValueError(f"{name}: filled_cost {w.filled_cost!r} for {w.filled!r} filled")
        if not w.fills:
            raise ValueError(f"{name}: fills {w.fills!r} with {w.filled!r} filled")


def _book_event(value: object) -> tuple[str, int] | None:
    """A saved ``last_event_id`` as its marks and count (``<name>[-s<seq>...]``, n of ``-e<n>``);
    None for an older book, which lacks it."""
    if value is None:
        return None
    head, _, count = value.rpartition("-e") if isinstance(value, str) else ("", "", "")
    if not head or not count.isdecimal():
        raise ValueError(f"last_event_id {value!r} is not an event id")
    return head, int(count)


def _book_quote(asset: str, saved: object) -> _Quote:
    """A saved top of book, as ``on_quote`` takes one (a bar's close is one too): read as any
    finite numbers, a negative ask or a crossed quote would be restored and filled at."""
    if not isinstance(saved, list | tuple) or len(saved) != 4:
        raise ValueError(f"{asset} is not [bid, ask, bid_size, ask_size]: {saved!r}")
    bid, ask, bid_size, ask_size = saved
    return _checked_quote(asset, bid, ask, bid_size, ask_size, named=f"{asset} ")


class _SavedBook(_OrderBook):
    """``PaperVenue``'s ``book`` and ``restore_book`` (see the module docstring)."""

    def book(self) -> dict[str, Any]:
        """What this venue holds, as JSON-ready data for ``restore_book``: its working orders
        (with what they filled, whether they rest, a cancel on its way), positions, cash,
        fees, last quotes and clock. An exchange keeps resting orders while its client is
        down; a paper run saves this with its state so the next run's venue keeps them too."""
        with self._lock:
            return self._book()

    def _book(self) -> dict[str, Any]:
        def when(t: float | None) -> float | None:
            return None if t is None or math.isinf(t) else t  # -inf: waits for the first data

        orders = []
        for w in self._by_client_id.values():
            o = w.order
            orders.append(
                {
                    "client_order_id": o.client_order_id,
                    "slot_id": o.slot_id,
                    "trade_id": o.trade_id,
                    "asset": o.asset,
                    "side": o.order_side.name,
                    "order_type": o.order_type.name,
                    "price": o.price,
                    "size": o.size,
                    "reduce_only": o.reduce_only,
                    "is_entry": o.is_entry,
                    "reference_price": o.reference_price,
                    "created_at": o.created_at,
                    "venue_order_id": w.venue_order_id,
                    "active_at": when(w.active_at),
                    "sent_at": when(w.sent_at),
                    "filled": w.filled,
                    "filled_cost": w.filled_cost,
                    "fills": w.fills,
                    "resting": w.resting,
                    "cancel_at": w.cancel_at,
                    "awaits_close": w.awaits_close,
                    "cancel_awaits_close": w.cancel_awaits_close,
                }
            )
        return {
            "format": BOOK_FORMAT,
            "now": self._now,
            "orders": orders,
            "canceling": list(self._canceling),
            "positions": dict(self._positions),
            "cash": self._cash,
            "fees_paid": self._fees_paid,
            "submitted": self.submitted,
            "order_seq": self._events._order_seq,
            # Every event up to it is in this book: ``catch_up`` applies none of them again (a
            # fill the kernel logged after the seq saved with the book, made before the book).
            "last_event_id": self._events.last_id,
            "quotes": {a: [q.bid, q.ask, q.bid_size, q.ask_size] for a, q in self._quotes.items()},
            "bar_assets": sorted(self._bar_assets),
            # Each asset's last bar: handed again to the restored venue (a run feeding the data
            # from the saved clock on), it would fill its volume share a second time.
            "bar_at": dict(self._bar_at),
            "on_a_bar": self._on_a_bar,
        }

    def restore_book(self, book: Mapping[str, Any]) -> list[str]:
        """Take over ``book`` (``book()`` of the venue of an earlier run) in this new venue:
        its orders work here as they did there, oldest first. Returns the client order ids
        of the orders it leaves out, those for an asset this venue does not list (no data
        would ever fill them: reconciliation ends them in the kernel). Raises ValueError, changing
        nothing, for a book of another format, one that is not as ``book()`` writes it, or
        a venue that has seen data or orders already."""
        with self._lock:
            return self._restore_book(book)

    def _restore_book(self, book: Mapping[str, Any]) -> list[str]:
        if self._by_client_id or self._now is not None or self.submitted:
            raise ValueError("restore_book takes an empty venue: this one has seen orders or data")
        fmt = book.get("format") if isinstance(book, Mapping) else None
        if isinstance(fmt, bool) or fmt != BOOK_FORMAT:
            raise ValueError(f"paper book format {fmt!r}: this version reads format {BOOK_FORMAT} only")

        def since(name: str, t: object) -> float:
            value = _book_time(name, t)
            return -math.inf if value is None else value

        part = "orders"
        try:
            working: list[_Working] = []
            held: set[str] = set()
            for o in book["orders"]:
                order = VenueOrder(
                    o["client_order_id"],
                    o["slot_id"],
                    o["trade_id"],
                    o["asset"],
                    o["side"],
                    o["order_type"],
                    o["price"],
                    o["size"],
                    venue_order_id=o["venue_order_id"],
                    reduce_only=o["reduce_only"],
                    reference_price=o["reference_price"],
                    timestamp=o["created_at"],
                    # An older book lacks it: an entry unless reduce-only.
                    is_entry=o.get("is_entry"),
                )
                w = _Working(
                    order,
                    str(o["venue_order_id"]),
                    active_at=since("active_at", o["active_at"]),
                    sent_at=since("sent_at", o["sent_at"]),
                )
                w.filled = _finite("filled", o["filled"], signed=True)
                w.filled_cost = _finite("filled_cost", o["filled_cost"], signed=True)
                w.fills = _book_count("fills", o["fills"])
                w.resting = _book_flag("resting", o["resting"])
                w.cancel_at = _book_time("cancel_at", o["cancel_at"])
                w.restored = True
                _check_book_order(w)
                # An older book lacks them: the latency counts from the open.
                w.awaits_close = _book_flag("awaits_close", o.get("awaits_close", False))
                w.cancel_awaits_close = _book_flag("cancel_awaits_close", o.get("cancel_awaits_close", False))
                if order.client_order_id in held:
                    # One would have replaced the other here, and its fills gone with it.
                    raise ValueError(f"client_order_id {order.client_order_id!r} twice")
                held.add(order.client_order_id)
                working.append(w)
            part = "canceling"
            canceling = [str(c) for c in book["canceling"]]
            by_id = {w.order.client_order_id: w for w in working}
            if any(c not in by_id for c in canceling):
                raise ValueError("a cancel of an order the book does not hold")
            # ``book()`` lists exactly the orders with a cancel_at: one listed without it would
            # never be acknowledged (the kernel's cancel pending for good), one not listed never
            # canceled.
            for c in canceling:
                if by_id[c].cancel_at is None:
                    raise ValueError(f"a cancel of {c!r} with no cancel_at")
            asked = set(canceling)
            for w in working:
                c = w.order.client_order_id
                if w.cancel_at is not None and c not in asked:
                    raise ValueError(f"order {c!r}: cancel_at {w.cancel_at!r} with no cancel on its way")
            part = "positions, cash and fees"
            positions = {str(a): _finite(str(a), v, signed=True) for a, v in book["positions"].items()}
            cash, fees = (
                _finite("cash", book["cash"], signed=True),
                _finite("fees_paid", book["fees_paid"], signed=True),
            )
            submitted = _book_count("submitted", book["submitted"])
            order_seq = _book_count("order_seq", book["order_seq"])
            part = "last_event_id"
            last_event = _book_event(book.get("last_event_id"))
            part = "quotes"
            quotes = {str(a): _book_quote(str(a), q) for a, q in book["quotes"].items()}
            bar_assets = {str(a) for a in book["bar_assets"]}
            on_a_bar = _book_flag("on_a_bar", book.get("on_a_bar", False))
            part = "now"
            now = None if book["now"] is None else _finite("now", book["now"])
            part = "bar_at"
            # An older book lacks it: no bar is refused as handed already.
            bar_at = {str(a): _finite(str(a), t) for a, t in book.get("bar_at", {}).items()}
            for a, t in bar_at.items():
                if now is None or t > now:
                    raise ValueError(f"a bar of {a!r} at {t!r} is after the venue clock {now!r}")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"paper book: {part} is not as book() writes it: {exc!r}") from None
        listed = self._assets
        left_out = [
            w.order.client_order_id for w in working if listed is not None and w.order.asset not in listed
        ]
        for w in working:
            if w.order.client_order_id in left_out:
                continue
            self._working.setdefault(w.order.asset, {})[w.order.client_order_id] = w
            self._by_client_id[w.order.client_order_id] = w
        self._canceling = {c: by_id[c] for c in canceling if c not in left_out}
        self._awaiting_close = {
            c: w
            for c, w in self._by_client_id.items()
            if w.awaits_close or (w.cancel_awaits_close and c in self._canceling)
        }
        self._on_a_bar = on_a_bar
        self._positions, self._cash, self._fees_paid = positions, cash, fees
        self._position_peaks = {}
        self.submitted = submitted
        self._events._order_seq = max(self._events._order_seq, order_seq)
        self._quotes, self._bar_assets, self._now = quotes, bar_assets, now
        self._bar_at = bar_at
        self._book_order_seq = order_seq
        self._book_last_event = last_event
        if last_event is not None:
            # Counted on from the book's: no event of this venue takes a count the book holds.
            self._events._seq = max(self._events._seq, last_event[1])
        return left_out
