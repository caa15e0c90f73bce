"""``reconcile_with_venue``: the kernel's working orders, awaited orders and orders ended without
the venue's figure compared with the venue's, the orders nobody manages, and the positions."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dita._kernel import (
    KernelDiagnosticCode,
    KernelOutcome,
    TradeStage,
    VenueEvent,
    VenueOrder,
    VenueOrderStatus,
)
from dita._numbers import is_count, is_flag
from dita.reconcile.answers import (
    _ENDINGS,
    QTY_EPS,
    _ending,
    _filled_short,
    _finite,
    _Malformed,
    _missed_fill,
    _works,
)
from dita.reconcile.cancels import _cancel_at_venue, _cancel_refused, _highest_filled
from dita.reconcile.events import EVENT_ID_PREFIX, _event, _item, _Refused, _venue_id
from dita.reconcile.kernel_orders import (
    _as_booked,
    _held_now,
    _kernel_positions,
    _still_working,
    _working_order,
)
from dita.reconcile.listing import _issued_by, _listed, _one_of, _untold
from dita.reconcile.report import ReconciliationReport
from dita.venues import VenueUnavailable, describe, order_lookup

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

# How many orders ended without the venue's filled size a full reconciliation asks about by
# default: the kernel keeps two per slot (a slot's last entry and exit), and each is a request.
ENDED_LOOKUPS = 50


def reconcile_with_venue(
    kernel: ExecutionKernel,
    *,
    cancel_unknown: bool = True,
    cancel_foreign_orders: bool = False,
    on_applied: Callable[[VenueEvent, KernelOutcome], None] | None = None,
    clock: Callable[[], float] = time.time,
    only_in_doubt: bool = False,
    ended_lookups: int = ENDED_LOOKUPS,
) -> ReconciliationReport:
    """Compare the kernel's working orders and positions with the venue's and resolve the
    differences. ``cancel_unknown`` cancels venue orders the kernel has no record of whose
    client id it issued (``<kernel_id>-<n>``: the kernel cannot manage an order it does not
    track); otherwise they are only reported. Orders under any other client id, or none, are
    another's (a second bot's, one placed by hand) and are listed as ``foreign_orders_left``,
    untouched, unless ``cancel_foreign_orders`` (and ``cancel_unknown``) has them canceled too.
    ``on_applied`` is called with each event the kernel took and its outcome, in order (a
    runtime routes them to its strategies); it must not raise. ``clock`` stamps the events
    (a runtime replaying data gives its data clock: a slot's last event time stays a time of
    the data, which a paper run continues its replay after). ``only_in_doubt`` settles only
    the orders in doubt (``kernel.orders_in_doubt()``), as a runtime does while it runs: the
    working orders, the orders nobody manages and the positions are left for a full
    reconciliation (a venue that lists a just-sent order late would have it ended as lost).
    ``ended_lookups`` bounds how many of the orders the kernel ended without the venue's filled
    size (``kernel.orders_ended_without_figure()``) a full reconciliation looks up, the newest
    first: a fill may have raced their end, and each lookup is a request to the venue (those
    its open orders list are each reconciled, needing none).
    Raises ``VenueUnavailable`` when the venue cannot list its open orders (nothing changed);
    once it starts changing things, what fails later (a lookup, a malformed answer, a refused
    event, a cancel, the positions) is in the report."""
    # Checked before anything changes: "no" read as true would cancel orders it was told to
    # leave, and an ``on_applied`` that cannot be called would raise after the first event.
    for name, flag in (
        ("cancel_unknown", cancel_unknown),
        ("cancel_foreign_orders", cancel_foreign_orders),
        ("only_in_doubt", only_in_doubt),
    ):
        if not is_flag(flag):
            raise TypeError(f"reconcile_with_venue: {name}={flag!r} must be True or False")
    if on_applied is not None and not callable(on_applied):
        raise TypeError(f"reconcile_with_venue: on_applied={on_applied!r} must be callable or None")
    # First called to stamp an event, which for an order the kernel ended that the venue works
    # on comes after its cancel at the venue.
    if not callable(clock):
        raise TypeError(f"reconcile_with_venue: clock={clock!r} must be callable")
    if not is_count(ended_lookups):
        raise TypeError(f"reconcile_with_venue: ended_lookups={ended_lookups!r} must be an int >= 0")
    # Python's int: a numpy count would make the report's count numpy's, which ``lines()`` takes
    # for a list (TypeError) and JSON cannot write, after the events are applied.
    ended_lookups = int(ended_lookups)
    venue = kernel.venue
    report = ReconciliationReport()
    try:
        # Read once, here: the index below would spend an adapter's generator, and the pass over
        # the orders nobody manages would find none (reported clean, left working at the venue).
        listed = list(venue.open_orders())
    except Exception as exc:
        raise VenueUnavailable(
            f"reconciliation with {describe(venue)} not started (nothing changed): its open orders "
            f"could not be listed: {type(exc).__name__}: {exc}"
        ) from exc
    for at, entry in enumerate(listed):
        # Not an order (None, a number, a dict where an adapter kept the raw answer): read as one,
        # it would raise AttributeError, naming neither the venue nor the entry.
        if not hasattr(entry, "client_order_id"):
            raise VenueUnavailable(
                f"reconciliation with {describe(venue)} not started (nothing changed): its open orders "
                f"are malformed: entry {at} is {entry!r}, not an order (it has no client_order_id)"
            )
    # For the kernel's orders, by client id (text: a list, where an adapter kept a raw answer, is
    # no id of the kernel's, and could not be indexed); the orders nobody manages are taken from
    # ``listed``, where several without a client id (placed by hand at some exchanges) are each one.
    # Each client id's every entry: an earlier life's order under a client id the kernel reused,
    # or another venue's of a router, may be listed beside the kernel's (``_one_of`` tells them).
    # One order listed twice (a page read twice) is one entry: the last copy.
    venue_open: dict[str, list[Any]] = {}
    for o in listed:
        if isinstance(o.client_order_id, str) and o.client_order_id:
            entries = venue_open.setdefault(o.client_order_id, [])
            venue_order_id = getattr(o, "venue_order_id", None)
            if isinstance(venue_order_id, str) and venue_order_id:
                entries[:] = [e for e in entries if getattr(e, "venue_order_id", None) != venue_order_id]
            entries.append(o)
    # And by venue id: some exchanges list an order without its client id.
    by_venue_id = {o.venue_order_id: o for o in listed if isinstance(getattr(o, "venue_order_id", None), str)}
    by_venue_id.pop("", None)
    # Given the order's asset where the venue takes it (read once: ``order_lookup``), so a venue
    # asks the order's market only, not each market it trades.
    lookup = order_lookup(venue)
    # Event ids carry the kernel's seq at the start: the slots remember the ids of an earlier
    # reconciliation (also across restarts), and a count from 0 alone would repeat them, so the
    # fills a venue made since the last one would be refused as duplicates.
    run = kernel.seq
    n = 0

    def event(mine: VenueOrder, kind: str, **kw: Any) -> VenueEvent:
        """Reconciliation's next event for ``mine``, numbered and stamped with ``clock``."""
        return _event(mine, kind, f"{run}.{n}", clock(), **kw)

    def ended(mine: VenueOrder, theirs: VenueOrder, ending: str) -> VenueEvent:
        """``mine``'s end as the venue says, with its filled size."""
        return event(mine, ending, venue_order_id=_venue_id(mine, theirs), filled_size=theirs.filled_size)

    def apply(ev: VenueEvent) -> None:
        nonlocal n
        n += 1
        out = kernel.on_venue_event(ev)
        if not out.applied:
            raise _Refused(ev.event_id, out.diagnostic_code, out.details)
        report.events_applied += 1
        if on_applied is not None and out.accepted:
            on_applied(ev, out)

    def take(ev: VenueEvent, item: dict[str, Any]) -> None:
        """The venue's own fill (one its cancel's answer reports): booked when the kernel takes
        it; one it knows already (booked from the listing above) changes nothing, and any
        other refusal is reported."""
        out = kernel.on_venue_event(ev)
        if out.accepted:
            report.events_applied += 1
            report.missed_fills.append({**item, "qty": ev.size, "price": ev.price})
            if on_applied is not None:
                on_applied(ev, out)
        elif out.diagnostic_code != KernelDiagnosticCode.DUPLICATE_EVENT:
            report.unresolved.append(_Refused(ev.event_id, out.diagnostic_code, out.details).unresolved(item))

    # A venue that lists an order's fills by trade (``CcxtVenue``): booked with their fees and
    # base-currency commission, which a fill made from the order's status has not.
    trade_fills = getattr(venue, "trade_fills", None)

    def book_trades(mine: VenueOrder, theirs: VenueOrder, item: dict[str, Any]) -> tuple[float, float, str]:
        """The venue's fills of ``mine`` by trade (``trade_fills``), each fed to the kernel: the
        size and cost of those it booked (one it knows already is no part of what was missed),
        and why none could be read ("" when they were). Raises ``_Refused`` on a fill the kernel
        refuses."""
        if not callable(trade_fills):
            return 0.0, 0.0, ""
        try:
            fills = list(trade_fills(mine, theirs) or ())
        except Exception as exc:
            return 0.0, 0.0, f"its trades could not be read: {type(exc).__name__}: {exc}"
        size = cost = 0.0
        for ev in fills:
            if not isinstance(ev, VenueEvent) or ev.kind.name != "FILL" or not _finite(ev.size):
                return size, cost, f"its trades are malformed: {ev!r} is not a fill"
            out = kernel.on_venue_event(ev)
            if out.accepted:
                report.events_applied += 1
                report.missed_fills.append({**item, "qty": ev.size, "price": ev.price, "fill_id": ev.fill_id})
                if on_applied is not None:
                    on_applied(ev, out)
                size += ev.size
                cost += ev.size * ev.price
            elif out.diagnostic_code != KernelDiagnosticCode.DUPLICATE_EVENT:
                raise _Refused(ev.event_id, out.diagnostic_code, out.details)
        return size, cost, ""

    def book_missed(
        mine: VenueOrder, theirs: VenueOrder, fill: tuple[float, float] | None, item: dict[str, Any]
    ) -> None:
        """FILLs for what the venue filled beyond what the kernel booked (``_missed_fill``): its
        trades' where the venue lists them (``book_trades``), then one from the order's status
        for what they leave missing."""
        if fill is None:
            return
        missed, price = fill
        by_trades, trades_cost, unread = book_trades(mine, theirs, item)
        if by_trades > QTY_EPS:
            rest = missed - by_trades
            if rest <= QTY_EPS:
                return
            # The rest is priced by what the trades left of the order's cost.
            rest_price = (missed * price - trades_cost) / rest
            price = rest_price if rest_price > 0 and math.isfinite(rest_price) else price
            missed = rest
        # Stated, not left to the kind: a FILL says FILLED, and a runtime routing the event would
        # take an order whose rest works on for over. An order the venue ended has no rest open.
        over = theirs.status in _ENDINGS
        # What is left of an order the venue works is the kernel's size less what it filled: a
        # size listed short (an adapter giving what is left as the size) would say FILLED with
        # nothing left, and the kernel would end an order the venue works, saying nothing.
        # One the venue says FILLED is held to the venue's size (an order cut to its lot).
        works = not over and theirs.status != VenueOrderStatus.FILLED
        remaining = 0.0 if over else max((mine.size if works else theirs.size) - theirs.filled_size, 0.0)
        if over:
            status = theirs.status
        else:
            status = VenueOrderStatus.PARTIALLY_FILLED if remaining > QTY_EPS else VenueOrderStatus.FILLED
        try:
            apply(
                event(
                    mine,
                    "FILL",
                    venue_order_id=_venue_id(mine, theirs),
                    status=status,
                    price=price,
                    size=missed,
                    filled_size=theirs.filled_size,
                    remaining_size=remaining,
                    fill_id=f"{EVENT_ID_PREFIX}{mine.client_order_id}:{theirs.filled_size:.12g}",
                )
            )
        except _Refused as refused:
            # The kernel counts the venue's total already: the stream's reports that ended the
            # order while the venue was asked, which leave no copy of it to reckon from. Not missed.
            if refused.code != KernelDiagnosticCode.DUPLICATE_EVENT:
                raise
            return
        report.missed_fills.append(
            {**item, "qty": missed, "price": price, **({"trades_unread": unread} if unread else {})}
        )

    def cancel_working(
        mine: VenueOrder,
        theirs: VenueOrder,
        fill: tuple[float, float] | None,
        item: dict[str, Any],
        how: str,
        told: float = 0.0,
    ) -> tuple[float | None, str, list[VenueEvent]]:
        """An order the kernel ended that the venue works (``how`` it came to): what it filled
        as listed is booked first (a kept order takes its late fills, whether or not the cancel
        goes through) and the venue told the order as booked (``watch``); then it is canceled,
        ended (CANCEL_ACK) with what the venue says it filled, and the fills the cancel's answer
        reports are booked (those too when the cancel is not confirmed). The figure, or None and
        why the order may still work; and the answer's fills. Raises ``_Refused``: a listed fill
        the kernel refuses is raised once the order is canceled all the same (left working, it
        could fill beside what its slot does next, an exit selling the position twice), saying so.
        ``told``: the filled size the venue stated when the order ended for the kernel; a figure
        below it now (a stale listing, a cancel's answer without one) is not taken, since it
        would settle the slot's wait for fills the venue reported as none."""
        refused: _Refused | None = None
        try:
            book_missed(mine, theirs, fill, item)
        except _Refused as exc:
            refused = exc
        # The venue is told the order as booked here, before its cancel: a restarted adapter
        # without a record of it (or with one from before that fill) would report the fills
        # booked above again in the cancel's answer, refused as duplicates, and name the
        # listing's slot 0 and no trade, so a fill that raced the cancel on another slot would
        # be refused. Read only for a venue that follows orders: each read lists every slot's
        # awaited and ended orders, and done for each order it grows with the square of the slots.
        if callable(watch) and mine.client_order_id not in unwatchable:
            follow(_as_booked(kernel, mine, theirs, refused is None))
        canceled, why_not, fills = _cancel_at_venue(venue, theirs, how)
        if refused is None and canceled is not None and canceled + QTY_EPS >= told:
            # The end with the cancel's figure before the fills its answer reports: a fill that
            # raced the cancel runs beyond the figure the order ended with, and taken first it
            # would be refused as an overfill, then awaited for good (the venue reports it once).
            # What the figure counts beyond what is booked is awaited until those fills come.
            try:
                apply(event(mine, "CANCEL_ACK", venue_order_id=_venue_id(mine, theirs), filled_size=canceled))
            finally:
                for venue_fill in fills:
                    take(venue_fill, item)
            return canceled, why_not, fills
        for venue_fill in fills:
            take(venue_fill, item)
        if refused is not None:
            refused.then = why_not or "the order was canceled at the venue"
            raise refused
        if canceled is not None:
            return (
                None,
                (
                    f"the order was canceled at the venue, which now counts {canceled!r} filled, below the "
                    f"{told!r} it stated when the order ended; nothing is lowered: the slot waits on for "
                    "the rest (reconcile again)"
                ),
                fills,
            )
        return canceled, why_not, fills

    # The venue ids of the kernel's orders: a venue order listed under a client id the venue
    # cannot map back to the kernel's (an id sent hashed, before a restart) is still the
    # kernel's own when its venue id is one of these, and not an order nobody manages.
    owned_venue_ids: set[str] = set()
    # The listed entries taken for the kernel's orders (by identity): the others listed under the
    # same client id are orders nobody manages.
    taken: set[int] = set()
    # The client ids under which several orders are listed, the kernel's told apart from them.
    told_apart: set[str] = set()

    def own(theirs: VenueOrder) -> None:
        taken.add(id(theirs))
        # A malformed id is not taken (nor raised on): ``_missed_fill`` names it.
        venue_order_id = getattr(theirs, "venue_order_id", None)
        if isinstance(venue_order_id, str):
            owned_venue_ids.add(venue_order_id)

    # The kernel's orders asked about (or found listed) in this run: one ended here is not
    # asked about again as ended without the venue's figure.
    asked: set[str] = set()

    def find(mine: VenueOrder) -> tuple[VenueOrder | None, str]:
        """The venue's order for ``mine`` (its open orders first, then ``order_status`` asked
        in ``mine``'s market), or why it cannot say."""
        coid = mine.client_order_id
        asked.add(coid)
        entries = venue_open.get(coid, [])
        theirs = _one_of(mine, venue, entries)
        if theirs is None and len(entries) > 1:
            # Several listed under its client id, none with its venue id: listed under that id
            # alone, or which is the kernel's cannot be told (asked by client id, the venue would
            # answer about either). Left as it is, named; none of them is canceled.
            theirs = _listed(mine, venue, {}, by_venue_id)
            if theirs is None:
                return None, _untold(mine, entries)
        if len(entries) > 1:
            told_apart.add(coid)
        if theirs is not None:
            own(theirs)
            return theirs, ""
        if lookup is None:
            return None, "venue cannot look up orders by client id"
        try:
            theirs = lookup(coid, mine.asset)
            if theirs is None and mine.venue_order_id:
                # No such order by its client id, yet listed under the venue id the kernel holds
                # (in its form or the venue's) without it, as some exchanges list orders: taken
                # for purged, it would be ended though it works, canceled as an order nobody
                # manages, and the fills its listing counted never booked.
                theirs = _listed(mine, venue, {}, by_venue_id)
            if theirs is not None:
                own(theirs)
            return theirs, ""
        except Exception as exc:
            # Not "no such order": the venue could not be asked (unreachable, throttled), and
            # the order may be working there, so it stays as it is.
            return None, f"the venue could not look the order up: {type(exc).__name__}: {exc}"

    # A venue that learns of fills by asking has no record of orders sent before a restart
    # (a ccxt adapter): told to follow them, it reports their fills and ends as they come.
    watch = getattr(venue, "watch", None)
    # The kernel's orders the venue could not be told to follow in this run (reported once).
    unwatchable: set[str] = set()

    # What the venue was told of each order in this run (its booked size and venue id): told
    # again only once that changed, as it does when this run books a fill of it.
    told_venue: dict[str, tuple[float, str]] = {}

    def follow(mine: VenueOrder) -> None:
        if not callable(watch) or mine.client_order_id in unwatchable:
            return
        said = (mine.filled_size, mine.venue_order_id)
        if told_venue.get(mine.client_order_id) == said:
            return
        try:
            watch(mine)
            told_venue[mine.client_order_id] = said
        except Exception as exc:
            unwatchable.add(mine.client_order_id)
            reason = f"the venue cannot follow it: {type(exc).__name__}: {exc}"
            report.unwatched.append({**_item(mine), "reason": reason})

    for mine in [] if only_in_doubt else kernel.open_orders():
        coid = mine.client_order_id
        # Followed before it is asked about: the venue then gives an order sent a moment before
        # the restart the grace from its send (an exchange shows a just-placed order late),
        # saying it cannot say yet, not "no such order", which would end it (a submit in doubt
        # as lost, an acknowledged order as purged) before it shows and fills.
        follow(mine)
        seq = kernel.seq
        theirs, cannot_say = find(mine)
        item = _item(mine)
        if cannot_say:
            report.unresolved.append({**item, "reason": cannot_say})
            continue
        # As the kernel holds it once the venue answered: a fill the venue's stream reported
        # meanwhile (another thread) would otherwise count in the missed fill, which the kernel
        # would then take in part, at the whole order's average price. Also once the stream ended
        # it (a cancel ack): read as it was, the rest would be booked at the whole order's
        # average all the same.
        mine = _working_order(kernel, mine.slot_id, coid) or _held_now(kernel, mine, seq)
        # A refusal stops this order's events where it came (the rest would build on it) and
        # touches no other slot, so the other orders are still reconciled. A malformed answer
        # is found before the first event, so it changes nothing for its order.
        try:
            if theirs is None and (mine.venue_order_id or mine.filled_size > QTY_EPS):
                # It reached the venue (acknowledged or filled), which no longer has it: over
                # there, not a lost submit (ended as one, a REJECT, a fill it made beyond what is
                # booked would go unsaid). Its figure is the kernel's "cannot say", as an adapter's.
                cancel_asked = mine.cancel_requested
                had = f"venue order id {mine.venue_order_id}" if mine.venue_order_id else "it filled"
                reason = (
                    f"the venue took it ({had}) and no longer has it "
                    f"(purged, or its record lost): ended here; what it filled beyond the "
                    f"{mine.filled_size!r} booked is unknown, so a fill may be missing: check the venue's "
                    "trade history and the positions"
                )
                apply(event(mine, "CANCEL_ACK" if cancel_asked else "EXPIRED", reason=reason))
                report.purged_at_venue.append(
                    {
                        **item,
                        "venue_order_id": mine.venue_order_id,
                        "booked_filled_size": mine.filled_size,
                        "ended_as": "CANCELED" if cancel_asked else "EXPIRED",
                        "reason": reason,
                    }
                )
                continue
            if theirs is None:
                # The venue never received it: the submit was lost, so it ends here.
                apply(event(mine, "REJECT", reason="not at the venue after restart (submit lost)"))
                report.lost_submits.append(item)
                continue
            fill = _missed_fill(mine, theirs, venue)
            stage = kernel.slot_state(mine.slot_id).fsm_state
            if stage in (TradeStage.ORDER_SENT, TradeStage.EXIT_SENT):
                apply(event(mine, "ORDER_ACK", venue_order_id=theirs.venue_order_id))
                report.acknowledged.append({**item, "venue_order_id": theirs.venue_order_id})
            book_missed(mine, theirs, fill, item)
            ending = _ENDINGS.get(theirs.status)
            if ending is not None and _still_working(kernel, mine.slot_id, coid):
                # With the venue's final filled size: a report of a fill booked above, arriving
                # late from the venue's stream, is then known as one (the order is full).
                apply(ended(mine, theirs, ending))
                report.ended_at_venue.append({**item, "status": theirs.status.name})
            elif theirs.status == VenueOrderStatus.FILLED and _still_working(kernel, mine.slot_id, coid):
                # Over at the venue, yet counted short of the order (an exchange reporting a
                # closed order without its filled size): no end or fill is guessed, but the
                # report must not call kernel and venue in agreement.
                reason = _filled_short(mine, theirs, "the order works on in the kernel")
                report.unresolved.append({**item, "reason": reason})
            elif theirs.status != VenueOrderStatus.FILLED and getattr(
                _working_order(kernel, mine.slot_id, coid), "cancel_requested", False
            ):
                # The kernel asked to cancel (a strategy, the edge freeze) and the venue still
                # works the order: the cancel may be lost (timed out, or the process died after
                # asking), and the order may fill. Nothing is resent or guessed; it is named.
                reason = (
                    f"a cancel was asked for, yet the venue says {theirs.status.name}: the cancel "
                    "may be lost and the order may still fill; ask for the cancel again"
                )
                report.unresolved.append({**item, "reason": reason})
        except (_Refused, _Malformed) as left:
            report.unresolved.append(left.unresolved(item))

    # Orders that ended with the venue counting more filled than it sent: their slots wait for
    # those fills. The venue's order status books what it filled and settles the wait.
    # Among them, orders rate limited before the venue acknowledged them, with a cancel asked:
    # the venue may work them (the throttled request was the cancel) or never have had them.
    in_doubt = {o.client_order_id for o in kernel.orders_in_doubt()}
    awaited = kernel.awaited_orders()
    settling = [o for o in awaited if not only_in_doubt or o.client_order_id in in_doubt]
    for mine in settling:
        if mine.client_order_id in in_doubt and not mine.venue_order_id:
            # Followed before it is asked about, as a submit in doubt is (above): the throttled
            # request may have been the cancel of a submit that timed out, and at the first "no
            # such order" one sent a moment before the restart would be ended, its late fill lost.
            follow(mine)
    seq = kernel.seq
    told_of = [(mine, *find(mine)) for mine in settling]
    if kernel.seq != seq:
        # As the kernel holds them once the venue answered (as a working order is, above): a fill
        # the venue's stream reported meanwhile (another thread) would otherwise count in the
        # missed fill, which the kernel would then take in part, at the whole order's average price.
        now = {o.client_order_id: o for o in kernel.awaited_orders()}
        told_of = [(now.get(m.client_order_id, m), theirs, why) for m, theirs, why in told_of]
    # Those the venue no longer works first: settled, an order no longer counts in its slot's
    # wait, which is then, for the slot's other order the venue still works, that order's own
    # (``told`` below; taken first as the slot's, both orders' when both wait, the venue's
    # figure for the one it works would be refused as below one it never stated).
    told_of.sort(key=lambda asked_about: _works(asked_about[1]))
    for mine, theirs, cannot_say in told_of:
        coid = mine.client_order_id
        item = _item(mine)
        if theirs is None and coid in in_doubt and not cannot_say:
            # The venue never took it: the throttled request was its submit. It ends unfilled.
            try:
                apply(event(mine, "REJECT", reason="not at the venue: its submit was throttled"))
            except _Refused as refused:
                report.unresolved.append(refused.unresolved(item))
                continue
            report.awaited_settled.append({**item, "venue_filled_size": 0.0})
            continue
        if theirs is None:
            why = cannot_say or "the venue has no such order"
            reason = f"the slot waits for fills of this ended order; {why}"
            report.unresolved.append({**item, "reason": reason})
            continue
        try:
            fill = _missed_fill(mine, theirs, venue)
        except _Malformed as malformed:
            report.unresolved.append(malformed.unresolved(item))
            continue
        ending = _ending(theirs)
        if ending is None:
            # It works at the venue: the throttled request was its cancel, or the kernel was told
            # it ended (a cancel acknowledged while it worked on). Left working, it could fill
            # past the figure its slot waits for, a fill the kernel refuses as an overfill: what
            # it filled as listed is booked, and it is canceled.
            doubted = coid in in_doubt
            how = "its cancel was throttled" if doubted else "its cancel was acknowledged while it worked on"
            # What the venue stated when the order ended: booked plus awaited (the slot's, which
            # counts both of its orders' when both still wait, both worked at the venue or one
            # unresolved: then higher, and nothing is lowered).
            told = 0.0 if doubted else mine.filled_size + kernel.slot_dict(mine.slot_id)["awaited_fill_qty"]
            try:
                canceled, why_not, fills = cancel_working(mine, theirs, fill, item, how, told)
            except _Refused as refused:
                report.unresolved.append(refused.unresolved(item))
                continue
            if canceled is None:
                if doubted:
                    still = coid in {o.client_order_id for o in kernel.orders_in_doubt()}
                else:
                    still = _highest_filled(theirs, fills) + QTY_EPS < mine.size
                if still:
                    report.unresolved.append({**item, "reason": why_not})
                else:  # the fills the answer reported completed it: it is over
                    done = _highest_filled(theirs, fills)
                    report.awaited_settled.append({**item, "venue_filled_size": done})
                continue
            report.awaited_settled.append({**item, "venue_filled_size": canceled, "canceled": True})
            continue
        try:
            # The venue's figure first (it may be above the end's), then what it filled.
            apply(ended(mine, theirs, ending))
            book_missed(mine, theirs, fill, item)
        except _Refused as refused:
            report.unresolved.append(refused.unresolved(item))
            continue
        report.awaited_settled.append({**item, "venue_filled_size": theirs.filled_size})
    if only_in_doubt:
        # Not compared: the report must not read as kernel and venue in agreement.
        report.positions_unchecked = "not compared: only the orders in doubt were settled (only_in_doubt)"
        return report

    # Orders the kernel ended short of their size without the venue saying what they filled (a
    # cancel ack without the figure): a fill that raced the end, its report lost with the
    # process, shows nowhere but in the positions. Those the venue lists are known without a
    # request, each of them (one beyond the bound, left out, would be canceled as an order nobody
    # manages, its fills never booked); the others are looked up, the newest first, up to the
    # bound. A venue that cannot look orders up tells only of those it still lists.
    unfigured = sorted(kernel.orders_ended_without_figure(), key=lambda o: o.created_at, reverse=True)
    unfigured = [o for o in unfigured if o.client_order_id not in asked]
    # Listed under the kernel's client id, the id it went out under (hashed where the exchange
    # refuses the kernel's: every order on OKX and Gate, listed so after a restart), or its venue
    # id: read as listed under the kernel's id alone, such an order beyond the bound would still
    # be canceled as one nobody manages, its fills never booked.
    listed_of = {o.client_order_id: _listed(o, venue, venue_open, by_venue_id) for o in unfigured}
    unlisted = [o for o in unfigured if listed_of[o.client_order_id] is None]
    report.ended_not_asked = max(len(unlisted) - ended_lookups, 0)
    listed_ended = [o for o in unfigured if listed_of[o.client_order_id] is not None]
    for mine in [*listed_ended, *unlisted[:ended_lookups]]:
        on_list = listed_of[mine.client_order_id]
        if lookup is None and on_list is None:
            continue
        item = {**_item(mine), "ended_as": mine.status.name}
        if on_list is not None:
            asked.add(mine.client_order_id)
            own(on_list)
            theirs, cannot_say = on_list, ""
        else:
            seq = kernel.seq
            theirs, cannot_say = find(mine)
            mine = _held_now(kernel, mine, seq)
        if cannot_say:
            # Not asked after all: the kernel ended the order, and what a raced fill moved
            # shows in the positions, compared below (a router whose venue forgot the order
            # says so at every reconciliation, which is not a difference).
            report.ended_not_asked += 1
            continue
        if theirs is None:
            continue  # the venue no longer knows it: nothing more to learn
        try:
            try:
                fill = _missed_fill(mine, theirs, venue)
            except _Malformed:
                # Not the kernel's to manage after all: listed open, it is canceled as an order
                # nobody manages (below), as if this pass had not asked about it.
                # An id that is no text (a raw answer's list) is never taken, and dropping it
                # would raise a TypeError (unhashable), after the events above are applied.
                venue_order_id = getattr(theirs, "venue_order_id", None)
                if isinstance(venue_order_id, str):
                    owned_venue_ids.discard(venue_order_id)
                raise
            ending = _ending(theirs)
            if ending is None:
                canceled, why_not, fills = cancel_working(
                    mine, theirs, fill, item, "its cancel was acknowledged while it worked on"
                )
                if canceled is not None:
                    report.ended_at_venue.append({**item, "status": "CANCELED", "canceled": True})
                elif _highest_filled(theirs, fills) + QTY_EPS < mine.size:
                    report.unresolved.append({**item, "reason": why_not})
                continue
            if theirs.status == VenueOrderStatus.FILLED and theirs.filled_size + QTY_EPS < mine.size:
                # Over, yet counted short (see the working orders above): what it counts is
                # booked, and no figure is taken for the end, which would refuse the rest.
                book_missed(mine, theirs, fill, item)
                reason = _filled_short(mine, theirs, "the kernel ended it")
                report.unresolved.append({**item, "reason": reason})
                continue
            # The venue's figure first, where it states one the kernel can hold (above 0, not
            # below what is booked): late reports up to it are then known, without running
            # totals too, and the order is not asked about again. Then what it filled beyond.
            if theirs.filled_size > QTY_EPS and theirs.filled_size + QTY_EPS >= mine.filled_size:
                apply(ended(mine, theirs, ending))
            book_missed(mine, theirs, fill, item)
        except (_Refused, _Malformed) as left:
            report.unresolved.append(left.unresolved(item))

    # Anything the venue holds that the kernel does not track (including its own ids lost with
    # an unsynced log tail) is an order nobody manages.
    still_open = kernel.open_orders()
    # Followed once reconciled (again, for those followed before their lookup), so the venue
    # counts what was booked of them here.
    for mine in still_open:
        follow(mine)
    known = {o.client_order_id for o in still_open} | {o.client_order_id for o in awaited}
    owned_venue_ids.update(o.venue_order_id for o in still_open)
    # A venue may list an order under another form of its id than the one the kernel holds
    # (ccxt qualifies ids with the market; an older log may hold them bare): without
    # its form here, the kernel's own order would be taken for one nobody manages, and canceled.
    listed_as = getattr(venue, "listed_venue_order_id", None)
    if callable(listed_as):
        for mine in still_open:
            try:
                owned_venue_ids.add(str(listed_as(mine)))
            except Exception:
                continue  # matched by the kernel's own id above, as without this hook
    owned_venue_ids.discard("")
    # Likewise its client id: one its exchange refuses goes out hashed, and an order never
    # acknowledged has no venue id to be known by (it would be canceled when its lookup fails).
    listed_client = getattr(venue, "listed_client_order_id", None)
    if callable(listed_client):
        for mine in [*still_open, *awaited]:
            try:
                known.add(str(listed_client(mine)))
            except Exception:
                continue  # matched by the kernel's own ids above, as without this hook
        known.discard("")
    issued = _issued_by(kernel.kernel_id)
    for theirs in listed:
        coid = theirs.client_order_id
        venue_order_id = getattr(theirs, "venue_order_id", None)
        # The kernel's ids are text: one that is not (a list, where an adapter kept a raw answer)
        # names no order of the kernel's, and checked as text it would raise a TypeError here,
        # after the events above are applied, and lose their report.
        if isinstance(coid, str) and coid in known:
            # One of several under a client id of the kernel's, beside the one taken for the
            # kernel's order, is another order (an earlier life's, another venue's of a router).
            if coid not in told_apart or id(theirs) in taken:
                continue
        if isinstance(venue_order_id, str) and venue_order_id in owned_venue_ids:
            continue
        # An adapter may give a plain "BUY", or leave a field out: read as an enum, that would
        # raise AttributeError here, after the events above are applied, and lose their report.
        # Whether it buys or sells: a VenueOrder's order_side (its side is its trade's).
        side = getattr(theirs, "order_side", None) or getattr(theirs, "side", None)
        item = {
            "client_order_id": coid,
            "venue_order_id": venue_order_id,
            "asset": getattr(theirs, "asset", None),
            "size": getattr(theirs, "size", None),
            "side": getattr(side, "name", side),
        }
        if not cancel_foreign_orders and not issued(coid):
            report.foreign_orders_left.append(item)
            continue
        if cancel_unknown:
            try:
                answer = venue.cancel(theirs)
            except Exception as exc:
                # Any adapter's error (a ccxt cancel times out or is throttled): the events above
                # are applied, so it is reported with them, and the other unknown orders are tried.
                reason = f"the cancel failed: {type(exc).__name__}: {exc}"
                report.unknown_at_venue_cancel_failed.append({**item, "reason": reason})
                continue
            why_not = _cancel_refused(answer or [])
            if why_not:
                report.unknown_at_venue_cancel_failed.append({**item, "reason": why_not})
                continue
            report.unknown_at_venue_canceled.append(item)
        else:
            report.unknown_at_venue_left.append(item)

    try:
        venue_positions = dict(venue.positions())
    except Exception as exc:
        report.positions_unchecked = f"the venue's positions could not be read: {type(exc).__name__}: {exc}"
        return report
    for asset, qty in venue_positions.items():
        # A NaN would pass for no position (and match a flat kernel); text or None would raise
        # here, after every event above is applied, and lose the report of them.
        if not _finite(qty):
            report.positions_unchecked = (
                f"the venue's positions are malformed: {asset!r} is {qty!r}, not a finite number"
            )
            return report
        # An asset that is not a name (None where an adapter found no symbol) would break the
        # sort of the assets below with a TypeError, after the events above are applied. A flat
        # one is left out below: nothing to compare.
        if not isinstance(asset, str) and abs(qty) > QTY_EPS:
            report.positions_unchecked = (
                f"the venue's positions are malformed: an asset is {asset!r}, not a str "
                f"(its position {qty!r})"
            )
            return report
    theirs_pos = {a: q for a, q in venue_positions.items() if abs(q) > QTY_EPS}
    mine_pos = _kernel_positions(kernel)
    for asset in sorted(set(theirs_pos) | set(mine_pos)):
        v, k = theirs_pos.get(asset, 0.0), mine_pos.get(asset, 0.0)
        if abs(v - k) > QTY_EPS * max(1.0, abs(v)):
            report.position_mismatches.append({"asset": asset, "venue": v, "kernel": k, "difference": v - k})
    return report
