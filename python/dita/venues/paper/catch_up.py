"""A restored book brought forward to the kernel's log: a run killed between two saves left a
book older than the log. ``catch_up`` applies the fills the kernel booked after the save, puts
back the orders it placed since (one whose answer the log lost among them) and puts its cancels
on their way; ``pass_over`` takes the market data the killed run handled after the save, without
filling anything."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dita._kernel import VenueOrder, VenueOrderStatus
from dita._reading import read_items
from dita.venues._events import answered, move
from dita.venues.paper.matching import _bar_crossing, _quote_crosses
from dita.venues.paper.order_book import _checked_quote, _finite, _Quote, _Working
from dita.venues.paper.order_entry import _OrderEntry


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
    book ended (the kernel no longer works them), and what it could not apply, one line each.
    ``taken``: the orders put back whose answer the log does not hold (``sent_after_save``), by
    client order id, counted in ``working`` too. ``held``: the fills the book held already."""

    fills: int = 0
    working: int = 0
    ended: list[str] = field(default_factory=list)
    not_applied: list[str] = field(default_factory=list)
    taken: list[str] = field(default_factory=list)
    held: int = 0


@dataclass
class _Placed:
    """What the fills of an order placed after a saved book took (``catch_up``)."""

    filled: float = 0.0
    filled_cost: float = 0.0
    fills: int = 0
    maker: bool = False


class _CatchUp(_OrderEntry):
    """``PaperVenue``'s ``catch_up`` and ``pass_over`` (see the module docstring)."""

    def catch_up(
        self,
        fills: Iterable[BookedFill],
        working: Iterable[VenueOrder],
        cancels_asked: Mapping[str, float] | None = None,
        sent_after_save: Iterable[str] = (),
    ) -> CaughtUp:
        """Bring a book just restored (``restore_book``) forward to what the kernel took from
        this venue after the book was saved: a run killed between two saves left a book older
        than the kernel's write-ahead log. ``fills``: the fills the kernel booked after the
        save, oldest first (each once, by its fill id); ``working``: the orders the kernel works
        now (``open_orders()``). Each fill is applied as the venue made it: its order's filled
        size and fill count, the position, the cash and the fee it charged; one the book holds
        already (its event at or before the book's ``last_event_id``: made before the book was
        read, logged after the seq saved with it) is left alone, counted in ``held``. An order the kernel
        works that the book lacks, placed after the save (its venue order id counts past the
        book's), is put back working with what it filled, in the order this venue took it (by
        its venue order id; ``working`` may list them in any order); an order of the book the
        kernel no longer works (filled, canceled or expired after the save) is taken off. What
        cannot be applied (a fill of another venue's event, of an order neither in the book nor
        placed after it, or that disagrees with the book's order) is left as it was and named in
        ``not_applied``: reconciliation finds it. ``cancels_asked``: when the kernel asked the
        cancel of an order it works with its cancel pending, by client order id; the cancel
        reaches the venue a latency after that (on bars, after the close of the bar it was asked
        on), or after the book's clock when not given. ``sent_after_save``: the client order ids
        of the orders the kernel sent after the save (its log's SUBMIT transitions); one it
        works with no venue order id has no answer in the log (the run was killed between the
        submit's record and its answer's): this venue takes it now, as ``submit`` would have
        (refused, it is named in ``not_applied``), under a venue order id of this run, after the
        answered ones and in the order of ``sent_after_save``, and reconciliation acknowledges
        it. Returns what was done. Raises TypeError naming the item for a client order id of
        ``sent_after_save`` that is not text, changing nothing."""
        # Taken whole before the guard: an iterable may run the caller's code.
        fills = list(read_items("catch_up()", "fills", fills))
        working = list(read_items("catch_up()", "working", working))
        sent = list(read_items("catch_up()", "sent_after_save", sent_after_save))
        for i, cid in enumerate(sent):
            if not isinstance(cid, str):
                raise TypeError(f"catch_up(): sent_after_save item {i} is {cid!r}, not a client order id")
        clock = self._read_clock()
        with self._lock:
            return self._catch_up(fills, working, dict(cancels_asked or {}), sent, clock)

    def _catch_up(
        self,
        fills: list[BookedFill],
        working: list[VenueOrder],
        asked: dict[str, float],
        sent: list[str],
        clock: float | None,
    ) -> CaughtUp:
        done = CaughtUp()
        placed: dict[str, _Placed] = {}  # orders placed after the save: what their fills took
        for fill in fills:
            if self._book_holds(fill.event_id):
                # The saver reads the seq before the book: a fill logged after that seq may be in it.
                done.held += 1
                continue
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
        # Put back in the order this venue took them, as it fills a bar's orders oldest first:
        # by their venue order ids' count; those sent with no answer last, in the log's order.
        unanswered = {cid: i for i, cid in enumerate(sent)}

        def taken_at(order: VenueOrder) -> tuple[int, int]:
            count = self._order_count(order.venue_order_id)
            return (0, count) if count is not None else (1, unanswered.get(order.client_order_id, 0))

        for order in sorted(kernel_works.values(), key=taken_at):
            cid = order.client_order_id
            if self._assets is not None and order.asset not in self._assets:
                continue  # left out of the book (restore_book said so): reconciliation ends it
            w = self._by_client_id.get(cid)
            if w is None and not order.venue_order_id and cid in unanswered:
                w = self._take_unanswered(order, done)
                if w is None:
                    continue
            elif w is None:
                if not self._placed_after_save(order.venue_order_id):
                    done.not_applied.append(
                        f"order {cid!r} ({order.asset}, venue id {order.venue_order_id!r}): the kernel "
                        "works it, but it is not in the saved book nor placed after the save"
                    )
                    continue
                w = self._put_back(order, placed.get(cid), order.venue_order_id)
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

    def _take_unanswered(self, order: VenueOrder, done: CaughtUp) -> _Working | None:
        """``order``, sent after the save with its answer lost with the killed run, taken as
        ``submit`` takes it (the killed run's venue took it, or would have): put back under a new
        venue order id, or None, named in ``done.not_applied``, when this venue refuses it."""
        cid = order.client_order_id
        self.submitted += 1  # refused or not, as ``submit`` counts it
        reason = self._refusal(order) or self._margin_refusal(order)
        if reason:
            done.not_applied.append(
                f"order {cid!r} ({order.asset}): the kernel sent it after the save, its answer is not "
                f"in the log, and the venue refuses it: {reason}"
            )
            return None
        w = self._put_back(order, None, self._events.venue_order_id())
        done.working += 1
        done.taken.append(cid)
        return w

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

    def _order_count(self, venue_order_id: str) -> int | None:
        """Where this venue took the order ``venue_order_id``: its ids are
        ``<name>[-s<seq>...]-<n>``, n counting the orders over its runs. None for another id."""
        head, _, count = venue_order_id.rpartition("-")
        if not count.isdigit() or not (head == self.name or head.startswith(f"{self.name}-s")):
            return None
        return int(count)

    def _book_holds(self, event_id: str) -> bool:
        """Whether the restored book holds the event ``event_id``: one this venue made up to the
        book's last (``last_event_id``), under its marks and with a count at or below its."""
        if self._book_last_event is None:
            return False
        head, _, count = event_id.rpartition("-e")
        last_head, last_count = self._book_last_event
        return head == last_head and count.isdecimal() and int(count) <= last_count

    def _placed_after_save(self, venue_order_id: str) -> bool:
        """Whether ``venue_order_id`` is one this venue gave after the restored book's save: its
        count (``_order_count``) is past the book's ``order_seq``."""
        count, saved = self._order_count(venue_order_id), self._book_order_seq
        return count is not None and saved is not None and count > saved

    def _put_back(self, order: VenueOrder, taken: _Placed | None, venue_order_id: str) -> _Working:
        """``order``, placed after the book's save and still worked by the kernel, back on the
        book under ``venue_order_id`` with what its fills took (``taken``). It goes live as
        ``submit`` has it: its time plus the latency, on bars from the close of the bar it was
        sent on. One that filled rests as its last fill did (a maker's rested); one that did not
        is not resting, as it was sent: the rows passed over after it (``pass_over``) rest it if
        they did not cross it."""
        # As it was sent: what its fills took is the book's (below), not the kernel's copy.
        copy = answered(order, venue_order_id, VenueOrderStatus.NEW, 0.0, 0.0)
        w = _Working(
            copy, venue_order_id, active_at=order.created_at + self._latency, sent_at=order.created_at
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
