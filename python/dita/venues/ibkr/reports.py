"""What TWS says of the venue's orders (``Heard``), reported to the kernel as venue events: the
ack, each execution as a fill once (by its execId, however often TWS or a reconnect repeats it),
the order's end however TWS tells it (a status, an error, a listing without it), and each
commission report as a FILL_SETTLED account event for its fill, a correction's in place of its
execution's (one that a correction's fill waits for and that does not come in time is given up:
a FILL_SETTLED says its fill's predicted fee stands)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from dita._kernel import AccountEvent, KernelEventKind, VenueEvent, VenueOrder, VenueOrderStatus
from dita.venues._events import BoundedIdSet, OrderEvents, RecentOrders
from dita.venues.ibkr.connection import (
    CANCELED_STATUSES,
    ENDED_STATUSES,
    UNSET,
    ErrorHeard,
    FillHeard,
    Heard,
    OrderHeard,
)

__all__ = [
    "CANCEL_REFUSED",
    "WARNINGS",
    "IbkrOrder",
    "Reporter",
    "cancel_reject",
    "execution_key",
    "is_warning",
    "latest_executions",
    "tws_works",
]

log = logging.getLogger("dita.venues.ibkr")

# How TWS's error codes about an order read. A warning (ib_async's, ``Wrapper.error``, and 10349,
# a time in force set from TWS's presets) leaves the order working; a refused cancel (no such
# order working: it filled or ended already, or is not cancellable yet) answers the cancel; 201
# (rejected) and 202 (canceled) end the order. After any other TWS may work the order on (a
# modification refused, a notice), so the order is in question until TWS lists its open orders.
REJECTED, CANCELED = 201, 202
CANCEL_REFUSED = frozenset({135, 161, 10147, 10148})
WARNINGS = frozenset({105, 165, 329, 399, 404, 434, 492, 10167, 10349})
# A new order's end, a warning about a working one (a modification refused): a price off the
# tick, and a request TWS refuses to validate (the API read-only, an account it does not know).
NEW_ORDERS_ENDS = frozenset({110, 321})
# Executions' shares summed within this share of their order's size are the whole order: only
# float rounding (1e-16 of the sum per addition) lies between them. 1e-9 would be a whole share
# still to fill at 1e9 shares.
FULL = 1 - 1e-12
# The executions remembered, and the fills awaiting a commission report: a report of an execution
# forgotten can no longer be booked, so its fill waits no more.
_EXECUTIONS_KEPT = 100_000


@dataclass
class IbkrOrder:
    """An order of the kernel's this venue sent (or follows since a restart) and what it
    reported of it."""

    order: VenueOrder
    ib_order_id: int = 0
    perm_id: int = 0
    acknowledged: bool = False
    ended: bool = False
    cancel_requested: bool = False
    filled: float = 0.0
    # What the kernel had booked of an order followed after a restart (``filled`` starts at it):
    # the shares of each execution up to that cumulative size (its cumQty) were booked already.
    # Not the oldest of the day's executions: a GTC order may have filled on an earlier day.
    booked_before: float = 0.0
    # TWS's filled size when the order ended: fills still owed while ``filled`` is below it.
    ended_filled: float = 0.0
    # Why it ended should TWS, asked for its open orders, not list it working ("": not in
    # question): an error TWS may work it on after, or a reconnect.
    in_question: str = ""
    # The times it was put in question: a listing asked before the latest does not settle it.
    times_questioned: int = 0

    def question(self, reason: str) -> None:
        """Put the order in question for ``reason``, until a listing asked after this one."""
        self.in_question = reason
        self.times_questioned += 1

    @property
    def venue_order_id(self) -> str:
        return str(self.perm_id) if self.perm_id else ""

    def is_placed_as(self, told: FillHeard | OrderHeard, client_id: int, heard: Heard) -> bool:
        """Whether ``told``, an execution or an order TWS told of (in ``heard``), is the order TWS
        gave this one: by its permId once both know it, else by this API client's (``client_id``)
        order id once known (a send of this session, reserved before it went out), else by its
        orderRef alone when TWS tells of no other order under it (an order followed without a
        venue order id). The orderRef alone is not enough: a kernel run without its log numbers
        its orders from 1 again, and TWS lists the day's executions and orders of an earlier run
        under the same orderRefs."""
        if self.perm_id and told.perm_id:
            return told.perm_id == self.perm_id
        if self.ib_order_id:
            return (told.client_id, told.order_id) == (client_id, self.ib_order_id)
        coid = self.order.client_order_id
        return not self.perm_id and told.order_ref == coid and heard.orders_under(coid) == 1

    @property
    def settled(self) -> bool:
        """Nothing more to report: over, and every fill TWS counted reported."""
        full = self.filled >= self.order.size * FULL
        return full or (self.ended and self.filled >= self.ended_filled * FULL)


@dataclass
class BookedExecution:
    """An execution booked as fills: its first execId, the shares booked for it (those a
    correction added included), its fills' execIds in the order booked, the commission each of
    its execIds' reports stated (None: a report not booked, in another currency or given up),
    its fills settled (those given up at their predicted fee too), and its fills given up: their
    report did not come in time for the fill after them, which was settled at its whole
    commission."""

    exec_id: str
    shares: float
    fills: list[str] = field(default_factory=list)
    commissions: dict[str, float | None] = field(default_factory=dict)
    settled: set[str] = field(default_factory=set)
    reports_overdue: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class AwaitedReport:
    """A fill booked whose commission report has not come: its order, its execution, and when
    it was booked (the venue's monotonic timer)."""

    tracked: IbkrOrder
    booked: BookedExecution
    since: float


class Reporter:
    """Turns what TWS said into events, each once."""

    def __init__(
        self,
        name: str,
        client_id: int,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
        currencies: dict[str, str],
        redact: Callable[[str], str],
        events: OrderEvents,
        commission_wait_s: float,
    ) -> None:
        self.name = name
        # This venue's API client: TWS's order ids are its own, another client's order may carry one.
        self._client_id = client_id
        # ``clock`` stamps the events; ``monotonic`` times the commission wait, which a step of
        # the wall clock (NTP) would otherwise lengthen or end at once.
        self._clock = clock
        self._monotonic = monotonic
        self._commission_wait_s = commission_wait_s
        # Each asset's contract currency: a commission in another is not the kernel's fee.
        self._currencies = currencies
        # TWS's error texts go into events the kernel journals: account ids are taken out.
        self._redact = redact
        # The venue's own: the events without an id of TWS's (a cancel refused) count on with
        # its refusals, as two counts under one name would give two events one id, the later
        # refused by the kernel as a duplicate.
        self._events = events
        # Each execId once; the executions booked, by their id without TWS's correction number
        # (a correction repeats the execution it replaces); each execId's commission report once.
        self._seen_executions = BoundedIdSet()
        self._executions: RecentOrders[BookedExecution] = RecentOrders(_EXECUTIONS_KEPT)
        self._commission_reports = BoundedIdSet()
        # The fills whose commission report has not come, by execId, oldest first: each is given
        # up ``commission_wait_s`` after its booking once the fill after it waits for its report
        # (``settle_overdue``); until then it waits, as the kernel does.
        self._awaited: dict[str, AwaitedReport] = {}
        self._account_events: list[AccountEvent] = []
        # Orders by TWS's order id (this client's) and by client order id, kept after the venue
        # stops following them: TWS's 202 often follows the Cancelled status that ended the
        # order, and a commission report may come well after the order filled.
        self._by_ib_id: RecentOrders[IbkrOrder] = RecentOrders(10_000)
        self._by_client_id: RecentOrders[IbkrOrder] = RecentOrders(10_000)
        # The executions and orders under a followed order's orderRef that are not it, each said
        # once: TWS lists them again with every reading.
        self._not_placed_as = BoundedIdSet()
        # The fills booked before a restart whose fees the kernel still waits for, by execId,
        # with their assets by contract id (``owe_settlements``): of orders no longer followed,
        # they are settled from the executions TWS lists with their commission reports.
        self._owed: dict[str, None] = {}
        self._assets: dict[int, str] = {}

    def owe_settlements(self, fill_ids: list[str], assets: dict[int, str]) -> None:
        """Settle the fills of ``fill_ids`` (the kernel's unsettled fills, by execId) whose
        executions TWS lists with a commission report, now or later, though the venue does not
        follow their orders (booked before a restart); ``assets`` names the contracts' assets."""
        self._assets = dict(assets)
        for fill_id in fill_ids:
            if fill_id not in self._commission_reports:
                self._owed[fill_id] = None
        while len(self._owed) > _EXECUTIONS_KEPT:
            del self._owed[next(iter(self._owed))]

    def account_events(self) -> list[AccountEvent]:
        taken, self._account_events = self._account_events, []
        return taken

    def events(self, heard: Heard, orders: dict[str, IbkrOrder]) -> list[VenueEvent]:
        """The news in ``heard`` about ``orders`` (those followed, by client order id) and the
        orders followed lately: fills first, so an end that counts a fill comes after it when
        both are known; then TWS's 201 and 202, so an end they tell says why though TWS's
        Cancelled status came after them."""
        for coid, known in orders.items():
            self._by_client_id.put(coid, known)
            if known.ib_order_id:
                self._by_ib_id.put(str(known.ib_order_id), known)
        events: list[VenueEvent] = []
        for fill in sorted(heard.fills, key=lambda f: (f.time, f.exec_id)):
            tracked = self._by_client_id.get(fill.order_ref)
            if tracked is not None and self._placed_as(tracked, fill, heard):
                events.extend(self._fill(tracked, fill))
            elif fill.exec_id in self._owed:
                self._settle_owed(fill, heard.fills)
        statuses = [
            (tracked, said) for said in heard.orders if (tracked := self._tracked(said, heard)) is not None
        ]
        events.extend(self._errors([e for e in heard.errors if e.code in (REJECTED, CANCELED)], heard))
        for tracked, said in statuses:
            events.extend(self._status(tracked, said))
        events.extend(self._errors([e for e in heard.errors if e.code not in (REJECTED, CANCELED)], heard))
        return events

    def _tracked(self, said: OrderHeard, heard: Heard) -> IbkrOrder | None:
        """The order followed (lately) that ``said`` (in ``heard``) is, found by its orderRef or
        this client's order id, and placed as it by TWS (``_placed_as``): by the order id, an
        order followed under another client order id than its orderRef (one canceled for
        reconciliation that is not the kernel's)."""
        mine = bool(said.order_id) and said.client_id == self._client_id
        by_ref = self._by_client_id.get(said.order_ref)
        by_id = self._by_ib_id.get(str(said.order_id)) if mine else None
        if by_id is not None and by_id is not by_ref and by_id.is_placed_as(said, self._client_id, heard):
            return by_id
        if by_ref is None or not self._placed_as(by_ref, said, heard):
            return None
        if mine and not by_ref.ib_order_id:
            # An order followed after a restart has not learned it, and TWS's errors name the
            # order by it.
            by_ref.ib_order_id = said.order_id
            self._by_ib_id.put(str(said.order_id), by_ref)
        return by_ref

    def _placed_as(self, tracked: IbkrOrder, told: FillHeard | OrderHeard, heard: Heard) -> bool:
        """Whether ``told`` (in ``heard``) is of the order TWS gave ``tracked``
        (``IbkrOrder.is_placed_as``). One under its orderRef that is not is said once at WARNING,
        with both orders' ids: nothing of it is booked for the kernel's order."""
        if tracked.is_placed_as(told, self._client_id, heard):
            return True
        coid = tracked.order.client_order_id
        if isinstance(told, FillHeard):
            what, key = f"execution {told.exec_id} of {told.shares:g}", f"execution:{told.exec_id}"
        else:
            what, key = f"order {told.status}", f"order:{told.client_id}:{told.order_id}:{told.perm_id}"
        if told.order_ref != coid or not self._not_placed_as.add(key):
            return False
        if not tracked.perm_id and not tracked.ib_order_id:
            log.warning(
                "%s: TWS's %s under orderRef %r (%s) is one of %d orders TWS tells of under it, and"
                " the kernel's order %r carries neither of TWS's ids (followed without a venue order"
                " id): which is the kernel's cannot be told, and none is booked for it. A kernel id"
                " run again without its log (wal_dir) sends its client order ids again",
                self.name, what, coid, _ids(told.perm_id, told.client_id, told.order_id),
                heard.orders_under(coid), coid,
            )  # fmt: skip
        else:
            log.warning(
                "%s: TWS's %s under orderRef %r is of TWS's order %s, not of the kernel's order %r (%s):"
                " not booked for it. A kernel id run again without its log (wal_dir) sends its client"
                " order ids again, and TWS lists an earlier run's orders and the day's executions"
                " under them",
                self.name, what, coid, _ids(told.perm_id, told.client_id, told.order_id), coid,
                _ids(tracked.perm_id, self._client_id, tracked.ib_order_id),
            )  # fmt: skip
        return False

    def _errors(self, errors: list[ErrorHeard], heard: Heard) -> list[VenueEvent]:
        events: list[VenueEvent] = []
        for error in errors:
            tracked = self._by_ib_id.get(str(error.req_id))
            if tracked is None:
                log.log(
                    logging.INFO if is_warning(error.code, True) else logging.WARNING,
                    "%s: TWS error %d (request %d): %s",
                    self.name,
                    error.code,
                    error.req_id,
                    self._redact(error.message),
                )
                continue
            events.extend(self._error(tracked, error, heard))
        return events

    def unlisted(
        self, heard: Heard, questioned: list[IbkrOrder], asked_at: int, executions: bool
    ) -> list[VenueEvent]:
        """The ends of the ``questioned`` orders (``in_question`` when TWS was asked for its open
        orders, ``asked_at`` by ``StatusesTold.count``) that its listing (``heard``, its fills
        reported first) does not show working: no status of them will come. TWS lists an order
        with its status, so one it told no status of since it was asked is not listed. The
        others are in question no more. The end states what the day's executions filled when the
        listing listed them (``executions``), else no size: TWS states none of an order it
        leaves out, and an execution that raced the end may still come."""
        events: list[VenueEvent] = []
        for tracked in questioned:
            reason, tracked.in_question = tracked.in_question, ""
            said = next((s for s in heard.orders if tracked.is_placed_as(s, self._client_id, heard)), None)
            if said is not None and said.told_at > asked_at and tws_works(said, tracked.acknowledged):
                log.info(
                    "%s: TWS lists order %s working: it works on", self.name, tracked.order.client_order_id
                )
            elif not tracked.settled:
                events.extend(self._end(tracked, tracked.filled if executions else 0.0, reason))
        return events

    def _ack(self, tracked: IbkrOrder, perm_id: int) -> list[VenueEvent]:
        if perm_id and not tracked.perm_id:
            tracked.perm_id = perm_id
        if tracked.acknowledged:
            return []
        tracked.acknowledged = True
        return [
            self._events.make(
                tracked.order,
                KernelEventKind.ORDER_ACK,
                VenueOrderStatus.ACKNOWLEDGED,
                venue_order_id=tracked.venue_order_id,
                timestamp=self._clock(),
                event_id=f"{self.name}:ack:{tracked.venue_order_id or tracked.order.client_order_id}",
            )
        ]

    def _fill(self, tracked: IbkrOrder, fill: FillHeard) -> list[VenueEvent]:
        events: list[VenueEvent] = []
        if self._seen_executions.add(fill.exec_id):
            key = execution_key(fill.exec_id)
            booked = self._executions.get(key)
            if booked is None:
                booked = BookedExecution(fill.exec_id, fill.shares)
                self._executions.put(key, booked)
                events = self._book(tracked, booked, fill, fill.shares)
            else:
                events = self._correction(tracked, booked, fill)
        if fill.commission is not None and self._commission_reports.add(fill.exec_id):
            self._commission(tracked, fill, fill.commission)
        return events

    def _book(
        self, tracked: IbkrOrder, booked: BookedExecution, fill: FillHeard, shares: float
    ) -> list[VenueEvent]:
        """``shares`` of ``fill`` as a fill of ``tracked`` for the execution ``booked``: reported,
        or matched to what the kernel booked before a restart. Its commission report is awaited."""
        booked.fills.append(fill.exec_id)
        self._awaited[fill.exec_id] = AwaitedReport(tracked, booked, self._monotonic())
        if len(self._awaited) > _EXECUTIONS_KEPT:
            oldest = next(iter(self._awaited))
            del self._awaited[oldest]
        shares = self._unbooked(tracked, fill, shares)
        if shares <= 0:
            if not tracked.perm_id:
                tracked.perm_id = fill.perm_id
            return []
        events = self._ack(tracked, fill.perm_id)
        tracked.filled += shares
        size = tracked.order.size
        if tracked.filled > size / FULL:
            # What fits completes the order; told as a total past its size, the kernel would
            # refuse the whole fill, the order's own part with it. The rest is named.
            log.error(
                "%s: order %s: execution %s puts its filled size at %g, past its size %g: the order"
                " is booked filled, and the %g beyond it, in no slot, is to reconcile with TWS",
                self.name, tracked.order.client_order_id, fill.exec_id, tracked.filled, size,
                tracked.filled - size,
            )  # fmt: skip
        events.append(
            self._events.make(
                tracked.order,
                KernelEventKind.FILL,
                VenueOrderStatus.FILLED
                if tracked.filled >= size * FULL
                else VenueOrderStatus.PARTIALLY_FILLED,
                venue_order_id=tracked.venue_order_id,
                timestamp=fill.time or self._clock(),
                price=fill.price,
                size=shares,
                filled_size=min(tracked.filled, size),
                fill_id=fill.exec_id,
                event_id=f"{self.name}:fill:{fill.exec_id}",
            )
        )
        return events

    def _unbooked(self, tracked: IbkrOrder, fill: FillHeard, shares: float) -> float:
        """The part of ``shares`` of ``fill`` the kernel has not booked: those above what it
        booked before a restart (``booked_before``) by the execution's cumQty, the order's
        filled size with it. An execution without one (0) of an order followed after a restart
        is taken for booked (WARNING): reconciliation books a fill missed, not one booked twice."""
        if tracked.booked_before <= 0:
            return shares
        if fill.cum_qty <= 0:
            log.warning(
                "%s: order %s: execution %s of %g states no cumulative quantity: taken for booked"
                " before the restart (reconciliation books it if it was not)",
                self.name, tracked.order.client_order_id, fill.exec_id, shares,
            )  # fmt: skip
            return 0.0
        above = min(shares, fill.cum_qty - tracked.booked_before)
        return above if above > shares * (1 - FULL) else 0.0

    def _correction(self, tracked: IbkrOrder, booked: BookedExecution, fill: FillHeard) -> list[VenueEvent]:
        """``fill``, TWS's correction of the execution ``booked``: it replaces that execution, so
        only shares beyond those booked for it are a fill (at the corrected price). Fewer shares
        or another price cannot be taken back from the kernel: they are logged."""
        extra = fill.shares - booked.shares
        if extra > booked.shares * (1 - FULL):
            booked.shares = fill.shares
            return self._book(tracked, booked, fill, extra)
        log.warning(
            "%s: execution %s corrects %s to %g at %r: the kernel keeps the %g booked",
            self.name, fill.exec_id, booked.exec_id, fill.shares, fill.price, booked.shares,
        )  # fmt: skip
        return []

    def _commission(self, tracked: IbkrOrder, fill: FillHeard, commission: float) -> None:
        """The commission TWS reports for ``fill``, which replaces that of the execution it
        corrects. The kernel takes a second settlement of a settled fill at another fee for a
        self-trade's other side, so each fill is settled once, at a fee every order of the
        reports gives alike, a restart's listing too, when the correction is heard after the
        execution it corrects: the first fill its execId's commission, a correction's fill its
        commission less that of the execution's fill before it. A fill waits for both (WARNING
        while it does); a report in another currency, or of TWS's unset figure (no commission
        stated, which the kernel would refuse as a fee), settles its fill at the kernel's predicted
        fee and counts as 0 for the fills after it, as does a report given up
        (``settle_overdue``), which is not booked when it comes (WARNING: the fill after it was
        settled at its whole commission, so it would count twice); a correction that booked no
        fill has nothing to settle (WARNING)."""
        booked = self._executions.get(execution_key(fill.exec_id))
        currency = self._currencies.get(tracked.order.asset, "")
        self._awaited.pop(fill.exec_id, None)
        if booked is None:
            log.warning(
                "%s: execution %s: commission %r %s is of an execution forgotten: not booked",
                self.name, fill.exec_id, commission, fill.commission_currency,
            )  # fmt: skip
            return
        if fill.exec_id in booked.reports_overdue:
            # The fill after it was settled at its whole commission, which counts this one.
            log.warning(
                "%s: order %s: execution %s: commission %r %s came after it was given up and %s"
                " settled at its whole commission: not booked, as it would count twice: the kernel"
                " keeps its predicted fee",
                self.name, tracked.order.client_order_id, fill.exec_id, commission,
                fill.commission_currency, _fill_after(booked, fill.exec_id),
            )  # fmt: skip
            return
        foreign = fill.commission_currency and currency and fill.commission_currency != currency
        unset = not abs(commission) < UNSET  # NaN too
        if foreign or unset:
            log.warning(
                "%s: execution %s: commission %r %s is %s: not booked: its fill keeps the kernel's"
                " predicted fee, and a correction's fill after it is settled at its whole commission",
                self.name, fill.exec_id, commission, fill.commission_currency,
                "TWS's unset figure (none stated)" if unset
                else f"not in {currency}, the currency of {tracked.order.asset}",
            )  # fmt: skip
            at = fill.time or self._clock()
            if fill.exec_id in booked.fills and fill.exec_id not in booked.settled:
                self._prediction_stands(tracked, booked, fill.exec_id, at)
            booked.commissions[fill.exec_id] = None
            self._settle(tracked, booked, at)
            return
        booked.commissions[fill.exec_id] = commission
        if fill.exec_id not in booked.fills:
            number = _correction_number(fill.exec_id)
            kept = next((f for f in reversed(booked.fills) if _correction_number(f) < number), booked.exec_id)
            if booked.commissions.get(kept) != commission:
                log.warning(
                    "%s: execution %s corrects %s: its commission %r is not booked: it booked no fill"
                    " to settle it on, and the kernel keeps the fee of %s, %s",
                    self.name, fill.exec_id, booked.exec_id, commission, kept, self._fee_of(booked, kept),
                )  # fmt: skip
        self._settle(tracked, booked, fill.time or self._clock())
        if fill.exec_id in booked.fills and fill.exec_id not in booked.settled:
            before = booked.fills[booked.fills.index(fill.exec_id) - 1]
            log.warning(
                "%s: execution %s: its commission %r settles its fill once the commission report of"
                " %s, the fill before it, comes: until then the kernel keeps its predicted fee"
                " (at most %g s after that fill)",
                self.name, fill.exec_id, commission, before, self._commission_wait_s,
            )  # fmt: skip

    def _settle_owed(self, fill: FillHeard, fills: list[FillHeard]) -> None:
        """Settle ``fill``, owed a settlement from before a restart (``owe_settlements``), once
        TWS lists its commission report: at its commission, a correction's less that of the
        latest earlier execution of it ``fills`` holds (its fill's fee, as ``_settle`` gives),
        which waits for that one's report too. A commission in another currency, or unset,
        settles it at its predicted fee (WARNING)."""
        if fill.commission is None:
            return
        number = _correction_number(fill.exec_id)
        earlier = [
            f
            for f in fills
            if execution_key(f.exec_id) == execution_key(fill.exec_id)
            and _correction_number(f.exec_id) < number
        ]
        before = max(earlier, key=lambda f: _correction_number(f.exec_id), default=None)
        counted = before.commission if before is not None else 0.0
        if counted is None:
            return
        if not self._commission_reports.add(fill.exec_id):
            return
        del self._owed[fill.exec_id]
        asset = self._assets.get(fill.con_id, "")
        currencies = set(self._currencies.values())
        foreign = fill.commission_currency and currencies and fill.commission_currency not in currencies
        at = fill.time or self._clock()
        if foreign or not abs(fill.commission) < UNSET:
            log.warning(
                "%s: execution %s: commission %r %s, reported after a restart, is not booked: its"
                " fill keeps the kernel's predicted fee",
                self.name, fill.exec_id, fill.commission, fill.commission_currency,
            )  # fmt: skip
            settled_by: dict[str, Any] = {"predicted_fee_stands": True}
        else:
            settled_by = {"fee": fill.commission - counted}
        self._account_events.append(
            AccountEvent(
                _commission_event_id(self.name, fill.exec_id),
                "FILL_SETTLED",
                asset=asset,
                fill_id=fill.exec_id,
                timestamp=at,
                **settled_by,
            )
        )

    def settle_overdue(self) -> None:
        """Give up each fill whose commission report has not come within ``commission_wait_s``
        of its booking while the fill of its execution after it (a correction's) waits for that
        report: its predicted fee stands (WARNING; a FILL_SETTLED with ``predicted_fee_stands``
        settles it in the kernel at its prediction, under the id its report's would have), and
        that fill is settled as after a report not booked, at its whole commission. A fill no
        other waits for waits on, as the kernel does, and its report is booked however late it
        comes."""
        now = self._monotonic()
        overdue = [
            exec_id
            for exec_id, awaited in self._awaited.items()
            if now - awaited.since >= self._commission_wait_s and _holds_up(awaited.booked, exec_id)
        ]
        for exec_id in overdue:
            awaited = self._awaited.pop(exec_id)
            booked = awaited.booked
            log.warning(
                "%s: order %s: execution %s: no commission report within %g s, and the fill of %s"
                " waits for it: the kernel's predicted fee stands, and that fill is settled at its"
                " whole commission",
                self.name, awaited.tracked.order.client_order_id, exec_id, self._commission_wait_s,
                _fill_after(booked, exec_id),
            )  # fmt: skip
            booked.reports_overdue.add(exec_id)
            at = self._clock()
            self._prediction_stands(awaited.tracked, booked, exec_id, at)
            self._settle(awaited.tracked, booked, at)

    def _prediction_stands(
        self, tracked: IbkrOrder, booked: BookedExecution, exec_id: str, at: float
    ) -> None:
        """Settle ``exec_id``'s fill at the kernel's predicted fee (a FILL_SETTLED with
        ``predicted_fee_stands``, under the id its report's would have): its report is not
        booked, and counts as 0 for the fill after it."""
        booked.commissions[exec_id] = None
        self._send_settlement(tracked, booked, exec_id, at, predicted_fee_stands=True)

    def _send_settlement(
        self, tracked: IbkrOrder, booked: BookedExecution, fill_id: str, at: float, **settled_by: Any
    ) -> None:
        """A FILL_SETTLED of ``fill_id``'s fill, at a ``fee`` or its ``predicted_fee_stands``,
        under the id its commission report gives; the fill counts as settled."""
        booked.settled.add(fill_id)
        self._account_events.append(
            AccountEvent(
                _commission_event_id(self.name, fill_id),
                "FILL_SETTLED",
                asset=tracked.order.asset,
                fill_id=fill_id,
                timestamp=at,
                **settled_by,
            )
        )

    def restart_commission_waits(self) -> None:
        """Start the ``commission_wait_s`` of each fill waiting for its commission report anew,
        once a reconnect's listing, which repeats the reports missed, came: a fill booked long
        ago is not given up a moment before its report comes."""
        now = self._monotonic()
        self._awaited = {exec_id: replace(awaited, since=now) for exec_id, awaited in self._awaited.items()}

    @staticmethod
    def _fee_of(booked: BookedExecution, exec_id: str) -> str:
        """What the kernel keeps as the fee of ``exec_id``'s fill, said for a log record."""
        if exec_id not in booked.commissions:
            return "its predicted fee until its commission report comes"
        commission = booked.commissions[exec_id]
        if commission is None:
            return "its predicted fee (its commission report was not booked)"
        return f"its commission {commission!r}"

    def _settle(self, tracked: IbkrOrder, booked: BookedExecution, at: float) -> None:
        """Each fill of ``booked`` not settled whose fee the reports in give (``_commission``),
        as a FILL_SETTLED event."""
        for previous, fill_id in zip(["", *booked.fills], booked.fills, strict=False):
            commission = booked.commissions.get(fill_id)
            ready = commission is not None and (not previous or previous in booked.commissions)
            if fill_id in booked.settled or commission is None or not ready:
                continue
            before = booked.commissions.get(previous) or 0.0
            fee = commission - before
            if fee < 0:
                log.warning(
                    "%s: execution %s corrects %s: its commission %r replaces %r: the difference, %g,"
                    " is settled on its fill as a refund",
                    self.name, fill_id, booked.exec_id, commission, before, fee,
                )  # fmt: skip
            self._send_settlement(tracked, booked, fill_id, at, fee=fee)

    def _status(self, tracked: IbkrOrder, said: OrderHeard) -> list[VenueEvent]:
        if tracked.ended:
            return []
        if said.perm_id and not tracked.perm_id:
            tracked.perm_id = said.perm_id
        acked = self._acked(tracked, said)
        if said.error_code and not leaves_working(said.error_code, tracked.acknowledged):
            return acked  # the error says what happened (``_error``)
        status = tws_status(said, tracked.acknowledged)
        if status in CANCELED_STATUSES:
            return acked + self._end(tracked, said.filled, "", canceled=True)
        if status == "Inactive":
            return acked + self._end(tracked, said.filled, f"{self.name}: TWS made the order inactive")
        return acked

    def _error(self, tracked: IbkrOrder, error: ErrorHeard, heard: Heard) -> list[VenueEvent]:
        reason = f"{self.name}: TWS error {error.code}: {self._redact(error.message)}"
        if error.code in CANCEL_REFUSED:
            if not tracked.cancel_requested:
                log.warning("%s (order %s)", reason, tracked.order.client_order_id)
                return []
            tracked.cancel_requested = False
            return [cancel_reject(self._events, tracked, self._clock(), reason)]
        if is_warning(error.code, tracked.acknowledged):
            log.warning("%s (order %s works on)", reason, tracked.order.client_order_id)
            return []
        if error.code not in (REJECTED, CANCELED):
            log.warning("%s (order %s: TWS's open orders are asked whether it works on)", reason,
                        tracked.order.client_order_id)  # fmt: skip
            tracked.question(reason)
            return []
        said = next((o for o in heard.orders if tracked.is_placed_as(o, self._client_id, heard)), None)
        canceled = error.code == CANCELED
        if said is None:
            return self._end(tracked, 0.0, reason, canceled=canceled)
        # The error states no filled size: ib_async's is TWS's last status's, which an execution
        # that raced the end may pass, unless that status was TWS's own end.
        stated = said.filled if said.status_told in CANCELED_STATUSES else 0.0
        # Read before the order's status (``events``), which may say TWS acknowledged it.
        return self._acked(tracked, said) + self._end(tracked, stated, reason, canceled=canceled)

    def _acked(self, tracked: IbkrOrder, said: OrderHeard) -> list[VenueEvent]:
        """The ack of ``tracked`` when ``said`` shows TWS worked it (or filled it), if not given."""
        if tracked.ended or not (said.worked or said.status == "Filled"):
            return []
        return self._ack(tracked, said.perm_id)

    def _end(
        self, tracked: IbkrOrder, stated: float, reason: str, *, canceled: bool = False
    ) -> list[VenueEvent]:
        """The end of ``tracked`` at TWS, however TWS told it (a status, an error, a listing after
        a reconnect without it), ``stated`` the size TWS states filled with it (0: none stated),
        or the size booked when more. A REJECT only when TWS never acknowledged it, nothing
        filled and it was not ``canceled``: the kernel forgets a rejected unfilled order and
        would refuse an execution that raced the end as of an unknown order. Otherwise a
        CANCEL_ACK, which keeps the order in the kernel for such an execution; one TWS stated no
        size with states none (the kernel books an execution after it, and asks at
        reconciliation), as the size booked would bound the fills to come."""
        filled = max(stated, tracked.filled)
        if not tracked.acknowledged and filled <= 0 and not canceled:
            return self._ended(tracked, KernelEventKind.REJECT, 0.0, reason)
        if filled > 0 and reason:
            reason += f" (after {filled:g} of {tracked.order.size:g} filled)"
        return self._ended(tracked, KernelEventKind.CANCEL_ACK, filled if stated > 0 else 0.0, reason)

    def _ended(
        self, tracked: IbkrOrder, kind: KernelEventKind, filled: float, reason: str
    ) -> list[VenueEvent]:
        if tracked.ended:
            return []
        tracked.ended = True
        tracked.ended_filled = max(filled, tracked.filled)
        status = (
            VenueOrderStatus.CANCELED if kind == KernelEventKind.CANCEL_ACK else VenueOrderStatus.REJECTED
        )
        return [
            self._events.make(
                tracked.order,
                kind,
                status,
                venue_order_id=tracked.venue_order_id,
                timestamp=self._clock(),
                filled_size=filled,
                reason=reason,
                event_id=f"{self.name}:end:{tracked.venue_order_id or tracked.order.client_order_id}",
            )
        ]


def cancel_reject(events: OrderEvents, tracked: IbkrOrder, at: float, reason: str) -> VenueEvent:
    """The venue's refusal of ``tracked``'s cancel: the order works on, as filled as it was."""
    return events.make(
        tracked.order,
        KernelEventKind.CANCEL_REJECT,
        VenueOrderStatus.ACKNOWLEDGED,
        venue_order_id=tracked.venue_order_id,
        timestamp=at,
        filled_size=tracked.filled,
        reason=reason,
    )


def execution_key(exec_id: str) -> str:
    """The execution TWS's ``exec_id`` reports, the same for each of its corrections: the id
    without what follows its last period (a correction of ``…01.01`` is ``…01.02``)."""
    head, dot, _ = exec_id.rpartition(".")
    return head if dot else exec_id


def latest_executions(fills: list[FillHeard]) -> list[FillHeard]:
    """``fills`` with each execution once, as its latest correction states it."""
    latest: dict[str, FillHeard] = {}
    for fill in sorted(fills, key=lambda f: _correction_number(f.exec_id)):
        latest[execution_key(fill.exec_id)] = fill
    return list(latest.values())


def _commission_event_id(venue: str, exec_id: str) -> str:
    """The id of the FILL_SETTLED of ``exec_id``'s fill, by its report or given up: one id, so the
    kernel takes one of the two."""
    return f"{venue}:commission:{exec_id}"


def _ids(perm_id: int, client_id: int, order_id: int) -> str:
    """An order's ids at TWS, said for a log record: those not known (0) named so."""
    perm = f"permId {perm_id}" if perm_id else "permId not known yet"
    return f"{perm}, client {client_id} order id {order_id or 'not known'}"


def _fill_after(booked: BookedExecution, exec_id: str) -> str:
    """The execId of the fill ``booked`` booked after ``exec_id``'s ('' when none)."""
    index = booked.fills.index(exec_id) + 1
    return booked.fills[index] if index < len(booked.fills) else ""


def _holds_up(booked: BookedExecution, exec_id: str) -> bool:
    """Whether the fill after ``exec_id``'s, its own commission in, waits for ``exec_id``'s report."""
    after = _fill_after(booked, exec_id)
    return bool(after) and booked.commissions.get(after) is not None and after not in booked.settled


def _correction_number(exec_id: str) -> int:
    tail = exec_id.rpartition(".")[2]
    return int(tail) if tail.isdigit() else 0


def tws_works(said: OrderHeard, acknowledged: bool) -> bool:
    """Whether TWS works the order ``said`` (``acknowledged`` by TWS or not), by ``tws_status``
    (no status yet: not over)."""
    return tws_status(said, acknowledged) not in ENDED_STATUSES


def tws_status(said: OrderHeard, acknowledged: bool) -> str:
    """The status of the order ``said`` (``acknowledged`` by TWS or not): ib_async's, or TWS's own
    last status when an error after it, which ib_async takes for the order's end, leaves the
    order working (a warning, a cancel refused as it crossed TWS's end)."""
    if said.error_code and leaves_working(said.error_code, acknowledged):
        return said.status_told
    return said.status


def leaves_working(code: int, acknowledged: bool) -> bool:
    """Whether TWS's error ``code`` about an order (``acknowledged`` by TWS or not) leaves it as
    it was: a warning, or a cancel refused."""
    return code in CANCEL_REFUSED or is_warning(code, acknowledged)


def is_warning(code: int, acknowledged: bool) -> bool:
    """Whether TWS's error ``code`` about an order (``acknowledged`` by TWS or not) leaves it
    working: a warning or a notice, the 2100-2199 ones (data farms, trading hours) among them."""
    return code in WARNINGS or 2100 <= code < 2200 or (code in NEW_ORDERS_ENDS and acknowledged)
