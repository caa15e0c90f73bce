"""PaperVenue: fills from quotes or bars, deterministic, so paper results are not rosier
than live.

The rules, chosen to err against the strategy:

- The venue clock is the timestamp of the last quote or bar; an order is live from
  ``submit time + latency`` and only data stamped at or after that can fill it (bars:
  stamped after the submit time too, since a bar's stamp is its open). An order (or a
  cancel) sent on a bar is decided at that bar's close, the next bar's open: with a latency,
  it is live (or takes effect) from that close + latency, so on bars of a minute a latency
  of 30 s lets the next bar open without it and it fills at the open after.
- Market orders take the book: buys at the ask, sells at the bid, moved ``slippage_bps``
  against the order, for at most the quoted size. What the quote cannot fill waits for the
  next quotes (``market_remainder="continue"``) or expires (``"expire"``, IOC-like).
  Against bars, a market order fills at the next bar's open (never the bar it was sent
  after: no look-ahead), for at most ``bar_volume_share`` of the bar's volume.
- Limit orders that are marketable on arrival fill as takers at the quote (no better than
  their limit); what the quoted size or the bar's volume leaves of one stays marketable, a
  taker at the next quotes or opens, until the market moves past its limit. Resting limit
  orders fill at their limit price as makers only when the market crosses them: ask <= buy
  limit or bid >= sell limit for quotes, low strictly below a buy limit or high strictly
  above a sell limit for bars (a touch proves nothing about queue position).
- Quoted size and bar volume are shared by the orders they fill, oldest order first.
- A reduce-only order never opens, grows or reverses a position: a fill takes at most the
  position on its other side, and when none is left (flat, or held on the order's side) the
  order, or what remains of it, expires (``_reduce_only_end``), as exchanges expire it.
- Fees: ``taker_rate`` or ``maker_rate`` of the fill's notional, reported on each fill (a
  negative ``maker_rate``, down to ``-taker_rate``, is a rebate: a negative fee).
- With ``market_limits`` set, orders the exchange would refuse (lot step, tick size,
  minimum size or notional) are rejected as the exchange would, and a part fill is whole
  lots of the lot step, as an exchange fills.
- With ``assets`` set (the assets the run has data for), an order for another asset is
  rejected naming it, as an exchange refuses a symbol it does not list: no data would ever
  fill it, and it would hold its kernel slot for the whole run.
- With ``leverage`` set, an order that opens or grows a position is rejected when the
  margin it needs is above the account's available margin, as an exchange refuses an order
  its balance cannot carry (``_margin_refusal``); without it, cash may go negative, as if the
  account had unlimited credit.

The backtester drives it with ``on_quote``/``on_bar`` and feeds the returned events to the
kernel; ``submit`` and ``cancel`` return their own events synchronously.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dita._kernel import OrderType, VenueOrder, VenueOrderStatus
from dita._reading import read_items
from dita.venues._events import answered, move
from dita.venues.paper.matching import _bar_crossing, _quote_crosses
from dita.venues.paper.order_book import _checked_quote, _finite, _Quote, _Working
from dita.venues.paper.order_entry import _OrderEntry

__all__ = ["PaperVenue"]


# The format of ``PaperVenue.book()``; ``restore_book`` refuses any other.
BOOK_FORMAT = 1


@dataclass(frozen=True)
class BookedFill:
    """A fill the kernel booked, as its journal's ``fills`` row (derived from its write-ahead
    log) names it: what ``PaperVenue.catch_up`` applies to a book saved before it."""

    event_id: str
    fill_id: str
    client_order_id: str
    venue_order_id: str
    asset: str
    side: str
    price: float
    qty: float
    fee: float
    liquidity: str = ""


@dataclass
class CaughtUp:
    """What ``PaperVenue.catch_up`` did: fills applied, orders put back working, orders of the
    book ended (the kernel no longer works them), and what it could not apply, one line each."""

    fills: int = 0
    working: int = 0
    ended: list[str] = field(default_factory=list)
    not_applied: list[str] = field(default_factory=list)


@dataclass
class _Placed:
    """What the fills of an order placed after a saved book took (``catch_up``)."""

    filled: float = 0.0
    filled_cost: float = 0.0
    fills: int = 0
    maker: bool = False


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


def _book_quote(asset: str, saved: object) -> _Quote:
    """A saved top of book, as ``on_quote`` takes one (a bar's close is one too): read as any
    finite numbers, a negative ask or a crossed quote would be restored and filled at."""
    if not isinstance(saved, list | tuple) or len(saved) != 4:
        raise ValueError(f"{asset} is not [bid, ask, bid_size, ask_size]: {saved!r}")
    bid, ask, bid_size, ask_size = saved
    return _checked_quote(asset, bid, ask, bid_size, ask_size, named=f"{asset} ")


class PaperVenue(_OrderEntry):
    """``PaperVenue(taker_rate=0.0005, maker_rate=0.0002, slippage_bps=1.0, latency_ms=0,
    bar_volume_share=0.1, market_remainder="continue", quote_currency="USDT",
    starting_balance=0.0, leverage=None, name="paper", market_limits=None, assets=None,
    clock=None)``.

    Settings are validated by ``PaperSettings`` and ``VenueInputs`` (an invalid one raises
    ``pydantic.ValidationError`` naming the field and the value). Feed market data with
    ``on_quote``/``on_bar``; each returns the events it produced for working orders, oldest
    order first. ``assets``: the assets the venue lists (those its feed has); an order for
    another is rejected. None takes every asset. ``clock``: the venue time instead of the
    data's (a live run's wall clock). ``leverage``: the account's leverage, an order
    opening more than the available margin carries is rejected (``margin()``); None, no check.
    """

    # -- the book across a restart ---------------------------------------------------------

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
        return left_out

    def catch_up(
        self,
        fills: Iterable[BookedFill],
        working: Iterable[VenueOrder],
        cancels_asked: Mapping[str, float] | None = None,
    ) -> CaughtUp:
        """Bring a book just restored (``restore_book``) forward to what the kernel took from
        this venue after the book was saved: a run killed between two saves left a book older
        than the kernel's write-ahead log. ``fills``: the fills the kernel booked after the save,
        oldest first (each once, by its fill id); ``working``: the orders the kernel works now
        (``open_orders()``). Each fill is applied as the venue made it: its order's filled size
        and fill count, the position, the cash and the fee it charged. An order the kernel works
        that the book lacks, placed after the save (its venue order id counts past the book's),
        is put back working with what it filled; an order of the book the kernel no longer works
        (filled, canceled or expired after the save) is taken off. What cannot be applied (a fill
        of another venue's event, of an order neither in the book nor placed after it, or that
        disagrees with the book's order) is left as it was and named in ``not_applied``:
        reconciliation finds it. ``cancels_asked``: when the kernel asked the cancel of an order
        it works with its cancel pending, by client order id; the cancel reaches the venue a
        latency after that (on bars, after the close of the bar it was asked on), or after the
        book's clock when not given. Returns what was done."""
        # Taken whole before the guard: an iterable may run the caller's code.
        fills = list(read_items("catch_up()", "fills", fills))
        working = list(read_items("catch_up()", "working", working))
        clock = self._read_clock()
        with self._lock:
            return self._catch_up(fills, working, dict(cancels_asked or {}), clock)

    def _catch_up(
        self, fills: list[BookedFill], working: list[VenueOrder], asked: dict[str, float], clock: float | None
    ) -> CaughtUp:
        done = CaughtUp()
        placed: dict[str, _Placed] = {}  # orders placed after the save: what their fills took
        for fill in fills:
            why = self._apply_booked_fill(fill, placed)
            if why:
                done.not_applied.append(
                    f"fill {fill.fill_id!r} of order {fill.client_order_id!r} ({fill.asset}): {why}"
                )
            else:
                done.fills += 1
        now = self._time(clock, None)
        kernel_works = {o.client_order_id: o for o in working}
        for client_order_id, held in list(self._by_client_id.items()):
            if client_order_id not in kernel_works:
                self._remove(held, VenueOrderStatus.CANCELED)
                done.ended.append(client_order_id)
        for order in kernel_works.values():
            cid = order.client_order_id
            if self._assets is not None and order.asset not in self._assets:
                continue  # left out of the book (restore_book said so): reconciliation ends it
            w = self._by_client_id.get(cid)
            if w is None:
                if not self._placed_after_save(order.venue_order_id):
                    done.not_applied.append(
                        f"order {cid!r} ({order.asset}, venue id {order.venue_order_id!r}): the kernel "
                        "works it, but it is not in the saved book nor placed after the save"
                    )
                    continue
                w = self._put_back(order, placed.get(cid), now)
                self.submitted += 1
                done.working += 1
            if abs(w.filled - order.filled_size) > max(w.size, 1.0) * 1e-9:
                done.not_applied.append(
                    f"order {cid!r} ({order.asset}): the book holds it filled {w.filled!r}, the kernel "
                    f"{order.filled_size!r}"
                )
            if order.cancel_requested and w.cancel_at is None:
                self._cancel_asked(w, asked.get(cid, now))
        # Orders placed after the save that ended before the kernel's last input: the venue
        # counted them (``submitted``) as it made their fills.
        self.submitted += sum(1 for cid in placed if cid not in kernel_works)
        return done

    def _cancel_asked(self, w: _Working, at: float) -> None:
        """The kernel asked ``w``'s cancel at ``at``, which the book did not take: it reaches the
        venue as ``cancel`` has it (the venue acknowledges it with the data after that)."""
        w.cancel_at = at + self._latency
        self._canceling[w.order.client_order_id] = w
        if self._latency > 0:
            self._asked_after_save[w.order.client_order_id] = at
            self._await_close(w, cancel=self._sent_on_a_bar())

    def pass_over(self, points: Iterable[Any]) -> int:
        """Take market data the kernel acted on without this venue: the rows a run killed between
        two saves handled after its book's save, which the continued replay skips (``catch_up``
        applied the fills they made, from the kernel's log). Each point (a ``Bar`` or ``Quote``
        of ``dita.strategy``, in time order) moves the clock, its asset's last price and the bar
        closes that orders sent on a bar count their latency from, as ``on_bar`` and ``on_quote``
        do; an order it reaches without crossing its limit rests, as a matching pass leaves it,
        so it later fills at its limit as a maker (a book saved before any data reached it would
        fill as a taker at a better open). An order ``catch_up`` put back, or a cancel it asked, waits
        for a bar's close when the last point at or before its time is a bar, as ``submit`` and
        ``cancel`` decide on the data they are sent on. Nothing fills, ends or is canceled here:
        what those rows did to the orders is the log's. Returns how many points were taken.
        Raises ValueError, as ``on_bar`` does, for a point earlier than the clock, and
        ``ArgumentReadError`` naming the item for an error of ``points``' own code; the points
        before it stay taken."""
        taken = 0
        # Read before the guard: the points (a generator, say) are the caller's code.
        for p in read_items("pass_over()", "points", points):
            ts, asset = _finite("ts", p.ts), p.asset
            bar: tuple[float, float, float] | None = None
            if hasattr(p, "open"):
                bar, quote = (p.open, p.high, p.low), _Quote(p.close, p.close, 0.0, 0.0)
            else:
                quote = _checked_quote(asset, p.bid, p.ask, p.bid_size, p.ask_size)
            with self._lock:
                taken += self._pass_over(ts, asset, bar, quote)
        return taken

    def _pass_over(self, ts: float, asset: str, bar: tuple[float, float, float] | None, quote: _Quote) -> int:
        """Take one point of ``pass_over``: a bar (its open, high and low; ``quote`` its close)
        or a quote. Returns 1, or 0 for a bar handed to the venue before the save already."""
        ts = self._advance(ts)
        if bar is not None:
            if self._bar_at.get(asset) == ts:
                return 0  # handed to the venue before the save already
            self._bar_at[asset] = ts
            self._on_a_bar = True
            if self._awaiting_close:
                self._closes_reached(ts)
        else:
            self._on_a_bar = False
            if self._awaiting_close:
                self._closes_reached(ts, bar=False)
        self._now = ts
        if self._put_back_orders or self._asked_after_save:
            self._sent_on_data(ts)
        for w in self._working.get(asset, {}).values():
            if w.market or w.active_at > ts or w.awaits_close or (bar is not None and w.sent_at >= ts):
                continue
            crossed = bool(_bar_crossing(w, *bar)) if bar is not None else _quote_crosses(w, quote)
            if not crossed:
                w.resting = True
        self._quotes[asset] = quote
        if bar is not None:
            self._bar_assets.add(asset)
        else:
            self._bar_assets.discard(asset)
        return 1

    def _apply_booked_fill(self, fill: BookedFill, placed: dict[str, _Placed]) -> str:
        """Apply one fill the kernel booked after the book's save (``catch_up``); '' when it
        was applied, else why not (nothing changed)."""
        if not fill.event_id.startswith(f"{self.name}-"):
            return f"event {fill.event_id!r} is not one of {self.name}'s"
        if self._assets is not None and fill.asset not in self._assets:
            return f"{self.name} does not list {fill.asset!r} in this run"
        try:
            price = _finite("price", fill.price, positive=True)
            qty = _finite("qty", fill.qty, positive=True)
            fee = _finite("fee", fill.fee, signed=True)
        except (TypeError, ValueError) as exc:
            return str(exc)
        side = getattr(fill.side, "name", fill.side)
        if side not in ("BUY", "SELL"):
            return f"side {fill.side!r} is not BUY or SELL"
        buy = side == "BUY"
        w = self._by_client_id.get(fill.client_order_id)
        if w is not None:
            if fill.venue_order_id and fill.venue_order_id != w.venue_order_id:
                return f"venue order id {fill.venue_order_id!r}, the book's order is {w.venue_order_id!r}"
            if w.order.asset != fill.asset or w.buy != buy:
                theirs = f"{w.order.order_side.name} of {w.order.asset}"
                return f"a {side} of {fill.asset}, the book's order is a {theirs}"
            if qty > w.remaining + w.size * 1e-9:
                return f"{qty!r} is more than the {w.remaining!r} the book's order has left"
            qty = w.take(qty, price)
            w.resting = fill.liquidity == "MAKER" or w.market
            if w.remaining <= 0:
                self._remove(w, VenueOrderStatus.FILLED)
        elif self._placed_after_save(fill.venue_order_id):
            taken = placed.setdefault(fill.client_order_id, _Placed())
            taken.filled += qty
            taken.filled_cost += price * qty
            taken.fills += 1
            taken.maker = fill.liquidity == "MAKER"
        else:
            return "its order is not in the saved book nor placed after the save"
        delta = qty if buy else -qty
        move(self._positions, self._position_peaks, fill.asset, delta)
        self._cash -= delta * price + fee
        self._fees_paid += fee
        return ""

    def _placed_after_save(self, venue_order_id: str) -> bool:
        """Whether ``venue_order_id`` is one this venue gave after the restored book's save: its
        ids are ``<name>[-s<seq>...]-<n>``, n counting on from the book's ``order_seq``."""
        head, _, count = venue_order_id.rpartition("-")
        saved = self._book_order_seq
        if (
            saved is None
            or not count.isdigit()
            or not (head == self.name or head.startswith(f"{self.name}-s"))
        ):
            return False
        return int(count) > saved

    def _put_back(self, order: VenueOrder, taken: _Placed | None, now: float) -> _Working:
        """``order``, placed after the book's save and still worked by the kernel, back on the
        book with what its fills took (``taken``). It goes live as ``submit`` has it: its time
        plus the latency, on bars from the close of the bar it was sent on. One that filled
        rests as its last fill did (a maker's rested); one that did not is not resting, as it was
        sent: the rows passed over after it (``pass_over``) rest it if they did not cross it."""
        # As it was sent: what its fills took is the book's (below), not the kernel's copy.
        copy = answered(order, order.venue_order_id, VenueOrderStatus.NEW, 0.0, 0.0)
        w = _Working(
            copy, order.venue_order_id, active_at=order.created_at + self._latency, sent_at=order.created_at
        )
        w.restored = True
        if taken is not None:
            w.filled = min(taken.filled, w.size)
            w.filled_cost, w.fills = taken.filled_cost, taken.fills
            w.resting = taken.maker or w.market
        self._working.setdefault(order.asset, {})[order.client_order_id] = w
        self._by_client_id[order.client_order_id] = w
        self._put_back_orders[order.client_order_id] = w
        # Sent on a bar: decided at its close (``_closes_reached``), as ``submit`` has it; the
        # rows ``pass_over`` takes up to it decide again (``_sent_on_data``).
        self._await_close(w, order=self._sent_on_a_bar())
        return w

    def _sent_on_data(self, ts: float) -> None:
        """``pass_over`` took data at ``ts``: the orders put back and the cancels asked at or after
        it were sent on it, or on later data, so they are decided at a bar's close as this data
        has it (``_sent_on_a_bar``). The last data they see here is the data they were sent on."""
        on_a_bar = self._sent_on_a_bar()
        for cid, w in list(self._put_back_orders.items()):
            if cid not in self._by_client_id:
                del self._put_back_orders[cid]
            elif w.sent_at >= ts:
                self._await_close(w, order=on_a_bar)
        for cid, asked_at in list(self._asked_after_save.items()):
            canceling = self._canceling.get(cid)
            if canceling is None:
                del self._asked_after_save[cid]
            elif asked_at >= ts:
                self._await_close(canceling, cancel=on_a_bar)

    def _await_close(self, w: _Working, *, order: bool | None = None, cancel: bool | None = None) -> None:
        """Set whether ``w`` (``order``) and its cancel (``cancel``) wait for the close of the bar they
        were sent on (None: as they are), ``w`` listed among those that wait while either does."""
        if order is not None:
            w.awaits_close = order
        if cancel is not None:
            w.cancel_awaits_close = cancel
        cid = w.order.client_order_id
        if w.awaits_close or w.cancel_awaits_close:
            self._awaiting_close[cid] = w
        else:
            self._awaiting_close.pop(cid, None)
