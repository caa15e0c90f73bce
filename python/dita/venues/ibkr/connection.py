"""ib_async's ``IB`` on an event loop of its own thread, and what it has heard, read as plain
facts (``Heard``): the venue's threads never touch ib_async's objects while its loop changes
them, they ask the loop thread for a copy. A listing of TWS's open orders ends at its own end
(``OpenOrderListings``)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ib_async import IB, StartupFetch

from dita.venues.ibkr.settings import IbkrSettings

__all__ = [
    "CANCELED_STATUSES",
    "ENDED_STATUSES",
    "OPEN_STATUSES",
    "UNSET",
    "WORKING_STATUSES",
    "CompletedOrderHeard",
    "EarlyCommissionReports",
    "ErrorHeard",
    "FillHeard",
    "Heard",
    "IbkrConnection",
    "OpenOrderListings",
    "OrderHeard",
    "StatusesTold",
]

_T = TypeVar("_T")

log = logging.getLogger("dita.venues.ibkr")

# TWS marks a figure it does not state with the largest double (UNSET_DOUBLE), which ib_async
# passes on for most fields (a commission among them): one this large or more is unset.
UNSET = 1e300
# TWS's order statuses, named here once. An order ever in WORKING_STATUSES is one TWS worked,
# acknowledged; PendingSubmit is not one, as ib_async gives it to an order it sends until TWS answers.
WORKING_STATUSES = frozenset({"PreSubmitted", "Submitted", "PendingCancel"})
# The statuses open_orders lists: PendingSubmit too, an order sent and not yet accepted, not over.
OPEN_STATUSES = WORKING_STATUSES | {"PendingSubmit"}
CANCELED_STATUSES = frozenset({"Cancelled", "ApiCancelled"})
# An order over at TWS; order_status takes any other status for not over.
ENDED_STATUSES = CANCELED_STATUSES | {"Inactive", "Filled"}


@dataclass(frozen=True)
class FillHeard:
    """One execution (``execDetails``) and its commission once reported (``commissionReport``)."""

    exec_id: str
    order_ref: str
    perm_id: int
    # The API client that placed the order, whose order id it is (order ids are per client).
    client_id: int
    order_id: int
    con_id: int
    shares: float
    # The order's filled size with this execution (cumQty), on earlier days too, and its
    # average price (avgPrice).
    cum_qty: float
    avg_price: float
    price: float
    time: float
    commission: float | None
    commission_currency: str


@dataclass(frozen=True)
class OrderHeard:
    """An order TWS told this session of (``openOrder`` and its last ``orderStatus``)."""

    order_id: int
    # The API client that placed it: order ids are per client, and a master client hears others'.
    client_id: int
    perm_id: int
    order_ref: str
    con_id: int
    action: str
    order_type: str
    total_quantity: float
    limit_price: float
    status: str
    filled: float
    avg_fill_price: float
    # TWS's last error about the order when TWS sent no status after it (0: none): the error
    # says what happened (ib_async marks an order Cancelled on any error it does not grade a
    # warning, and logs nothing on a later error when it marked it so already).
    error_code: int
    # TWS's own last status of the order this session ('' none), the error after it aside: what
    # the order is when that error leaves it working (a warning, a cancel refused).
    status_told: str
    # When TWS's last status of it was heard, by ``StatusesTold.count`` (0: none this session):
    # a listing of TWS's open orders asked before that told of it.
    told_at: int
    # Whether TWS worked the order at some time (PreSubmitted, Submitted or PendingCancel in its
    # log), whatever it says now: those statuses may pass between two readings, and a warning
    # leaves ib_async's status at ValidationError.
    worked: bool


@dataclass(frozen=True)
class CompletedOrderHeard:
    """An order TWS lists among the day's completed orders (``completedOrder``): TWS names it by
    its permId alone, with no client id nor order id."""

    perm_id: int
    order_ref: str
    # TWS's last status of it (Filled, Cancelled, ApiCancelled, Inactive) and its filled quantity
    # (0 when TWS states none).
    status: str
    filled: float


@dataclass(frozen=True)
class ErrorHeard:
    """An ``error`` message about an order (``req_id`` is its order id) or the connection (-1)."""

    req_id: int
    code: int
    message: str


@dataclass
class Heard:
    """What TWS has said, as of one moment: every fill and order of the session, and the errors
    since the last reading."""

    connected: bool
    fills: list[FillHeard] = field(default_factory=list)
    orders: list[OrderHeard] = field(default_factory=list)
    errors: list[ErrorHeard] = field(default_factory=list)
    # The orders told of under each orderRef (``orders_under``), counted at the first asking.
    _under: dict[str, int] | None = field(default=None, init=False, repr=False, compare=False)

    def orders_under(self, order_ref: str) -> int:
        """How many orders TWS tells of under ``order_ref``, in its orders and executions alike:
        an order by its permId, one TWS has not answered about yet (no permId) by its placing
        client's order id."""
        if self._under is None:
            self._under = _count_orders(self.orders, self.fills)
        return self._under.get(order_ref, 0)


class IbkrConnection:
    """One ``IB`` client and the thread whose event loop runs it."""

    def __init__(self, settings: IbkrSettings) -> None:
        self._settings = settings
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"{settings.name}-ib-loop", daemon=True
        )
        self._thread.start()
        self._errors: list[ErrorHeard] = []
        self._listings = OpenOrderListings(settings.name)
        self.ib: Any = self.call(IB)
        self._told = StatusesTold(self.ib.wrapper)
        self.call(self._listen)

    def _listen(self) -> None:
        self.ib.errorEvent += self._on_error
        self.ib.errorEvent += self._told.error
        self.ib.disconnectedEvent += self._listings.disconnected
        # Every request for open orders (ib_async's own at the connect too) and every end TWS
        # sends are counted: an end names no request, and ib_async gives it to the latest asked.
        client, wrapper = self.ib.client, self.ib.wrapper
        client.reqOpenOrders = self._listings.counting_asks(client.reqOpenOrders)
        client.reqAllOpenOrders = self._listings.counting_asks(client.reqAllOpenOrders)
        wrapper.openOrderEnd = self._listings.counting_ends(wrapper.openOrderEnd)
        wrapper.orderStatus = self._told.telling(wrapper.orderStatus)
        early = EarlyCommissionReports(wrapper)
        report_commission = wrapper.commissionReport
        wrapper.commissionReport = early.keeping(report_commission)
        wrapper.execDetails = early.given_with(wrapper.execDetails, report_commission)
        wrapper.completedOrder = _answered_only(wrapper, wrapper.completedOrder)

    def _on_error(self, req_id: int, code: int, message: str, contract: object = None) -> None:
        self._errors.append(ErrorHeard(req_id, code, message))

    def call(self, fn: Callable[..., _T], *args: Any, timeout: float = 10.0) -> _T:
        """``fn(*args)`` run on the loop thread (ib_async's calls send on the loop's socket)."""

        async def run() -> _T:
            return fn(*args)

        return self._submit(run).result(timeout)

    def wait(self, make: Callable[[], Coroutine[Any, Any, _T]], timeout: float) -> _T:
        """The coroutine ``make()`` run to its end on the loop thread; canceled there when it
        takes longer than ``timeout`` (TimeoutError)."""

        async def run() -> _T:
            return await make()

        future = self._submit(run)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def start(self, make: Callable[[], Coroutine[Any, Any, _T]]) -> concurrent.futures.Future[_T]:
        """The coroutine ``make()`` started on the loop thread, not waited for: its future."""

        async def run() -> _T:
            return await make()

        return self._submit(run)

    def _submit(self, run: Callable[[], Coroutine[Any, Any, _T]]) -> concurrent.futures.Future[_T]:
        """``run()`` on the loop thread; ConnectionError once the connection is closed (its loop
        is then gone, and a coroutine made for it would never run)."""
        if self.closed:
            raise ConnectionError("the connection to TWS is closed (close() was called)")
        return asyncio.run_coroutine_threadsafe(run(), self._loop)

    @property
    def closed(self) -> bool:
        """Whether ``close`` ended the loop thread."""
        return self._loop.is_closed() or not self._thread.is_alive()

    async def contract_details(self, contract: Any) -> tuple[list[Any], ErrorHeard | None]:
        """TWS's contract details of ``contract``, with TWS's last error about the request (None:
        none), which ib_async only logs: why TWS gave none (200, no security definition)."""
        req_id = self.ib.client.getReqId()
        errors: list[ErrorHeard] = []

        def heard(r: int, code: int, message: str, contract: object = None) -> None:
            if r == req_id:
                errors.append(ErrorHeard(r, code, message))

        self.ib.errorEvent += heard
        try:
            answer = self.ib.wrapper.startReq(req_id, contract)
            self.ib.client.reqContractDetails(req_id, contract)
            details: list[Any] = await answer
        finally:
            self.ib.errorEvent -= heard
        return details, errors[-1] if errors else None

    async def completed_orders(self) -> list[CompletedOrderHeard]:
        """TWS's completed orders of the day, API clients' only, asked on the loop thread."""
        trades = await self.ib.reqCompletedOrdersAsync(True)
        return [
            CompletedOrderHeard(
                perm_id=int(t.order.permId),
                order_ref=t.order.orderRef,
                status=t.orderStatus.status,
                filled=float(t.order.filledQuantity) if 0 < t.order.filledQuantity < UNSET else 0.0,
            )
            for t in trades
        ]

    async def open_orders_listed(self) -> None:
        """TWS's open orders asked, on the loop thread, and waited for to this request's own end."""
        await self._listings.listed(self.ib.client.reqOpenOrders)

    def listings_out_of_step(self) -> bool:
        """Whether TWS's ends of its open orders' listings may be out of step with the listings
        asked on this connection (``OpenOrderListings.out_of_step``)."""
        return self.call(self._listings.out_of_step)

    def connect(self, account: str) -> None:
        s = self._settings
        fetch = StartupFetch.POSITIONS | StartupFetch.ORDERS_OPEN | StartupFetch.EXECUTIONS

        async def session() -> None:
            self._listings.new_session()
            self._told.new_session()
            await self.ib.connectAsync(
                s.host, s.port, s.client_id, timeout=s.connect_timeout_s, account=account, fetchFields=fetch
            )

        self.wait(session, timeout=s.connect_timeout_s * 3)

    def connected(self) -> bool:
        return not self.closed and bool(self.call(self.ib.isConnected))

    def accounts(self) -> list[str]:
        return list(self.call(self.ib.managedAccounts))

    def heard(self, *, take_errors: bool = False) -> Heard:
        """What the client holds now, copied on the loop thread. The errors since the last
        taking are given only to the reader that reports them (``take_errors``): each is read
        once, and one read by a mere look at the orders would never end its order."""
        return self.call(self._read, take_errors)

    def _read(self, take_errors: bool) -> Heard:
        errors: list[ErrorHeard] = []
        if take_errors:
            errors, self._errors = self._errors, []
        return Heard(
            connected=self.ib.isConnected(),
            fills=[_fill(f) for f in self.ib.fills()],
            orders=[_order(t, self._told) for t in self.ib.trades()],
            errors=errors,
        )

    def statuses_heard(self) -> int:
        """TWS's statuses and errors about orders heard so far (``StatusesTold.count``)."""
        return self.call(lambda: self._told.count)

    def disconnect(self) -> None:
        self.call(self.ib.disconnect)

    def close(self) -> None:
        if self._thread.is_alive():
            try:
                self.disconnect()
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
                self._thread.join(5.0)
        if not self._thread.is_alive() and not self._loop.is_closed():
            self._loop.close()


class StatusesTold:
    """TWS's own last status of each order (``orderStatus``) and the last error about each of
    this client's, counted in the order heard on the loop thread. ib_async marks an order
    Cancelled on an error it does not grade a warning (10349, a refused cancel among them), and
    adds no log entry when TWS's next status equals that: only the count tells that TWS ended
    the order after the error."""

    def __init__(self, wrapper: Any) -> None:
        self._wrapper = wrapper
        self._count = 0
        # By ib_async's order key: the count when TWS's last status was heard, with it; the
        # count when the last error was, with its code.
        self._statuses: dict[Any, tuple[int, str]] = {}
        self._errors: dict[Any, tuple[int, int]] = {}

    def new_session(self) -> None:
        """A new connection: ib_async forgets its orders, and TWS tells them afresh."""
        self._statuses.clear()
        self._errors.clear()

    def telling(self, order_status: Callable[..., None]) -> Callable[..., None]:
        def told(
            order_id: int, status: str, filled: float, remaining: float, avg_fill_price: float,
            perm_id: int, *rest: Any,
        ) -> None:  # fmt: skip
            client_id = rest[2]  # parentId, lastFillPrice, clientId, whyHeld, mktCapPrice
            self._count += 1
            self._statuses[self.key(client_id, order_id, perm_id)] = (self._count, status)
            order_status(order_id, status, filled, remaining, avg_fill_price, perm_id, *rest)

        return told

    def error(self, req_id: int, code: int, message: str, contract: object = None) -> None:
        """An error TWS sent (``errorEvent``, after ib_async marked its order): about this
        client's order ``req_id`` when above 0."""
        if req_id > 0:
            self._count += 1
            self._errors[self.key(self._wrapper.clientId, req_id, 0)] = (self._count, code)

    def key(self, client_id: int, order_id: int, perm_id: int) -> Any:
        """ib_async's key of an order: (client id, order id), or its permId when placed in TWS."""
        return self._wrapper.orderKey(client_id, order_id, perm_id)

    @property
    def count(self) -> int:
        """The statuses and errors heard so far (on any connection)."""
        return self._count

    def status(self, key: Any) -> tuple[int, str]:
        """TWS's own last status of the order of ``key`` and when it was heard ((0, '') when none)."""
        return self._statuses.get(key, (0, ""))

    def error_since_status(self, key: Any) -> int:
        """The code of TWS's last error about the order of ``key`` when TWS sent no status of it
        after that error (0 otherwise)."""
        at, code = self._errors.get(key, (0, 0))
        return code if at > self.status(key)[0] else 0


class EarlyCommissionReports:
    """The commission reports TWS sent before their execution, by execId: ib_async drops a
    report of an execution it has not heard of, so each is kept here and given to ib_async right
    after its execution. The ``_KEPT`` latest are kept: one whose execution never comes is
    forgotten in the end."""

    _KEPT = 10_000

    def __init__(self, wrapper: Any) -> None:
        self._wrapper = wrapper
        self._reports: dict[str, Any] = {}

    def keeping(self, report_commission: Callable[[Any], None]) -> Callable[[Any], None]:
        def kept(report: Any) -> None:
            if report.execId in self._wrapper.fills:
                report_commission(report)
                return
            self._reports[report.execId] = report
            if len(self._reports) > self._KEPT:
                del self._reports[next(iter(self._reports))]

        return kept

    def given_with(
        self, exec_details: Callable[..., None], report_commission: Callable[[Any], None]
    ) -> Callable[..., None]:
        def given(req_id: int, contract: Any, execution: Any) -> None:
            exec_details(req_id, contract, execution)
            report = self._reports.pop(execution.execId, None)
            if report is not None:
                report_commission(report)

        return given


class OpenOrderListings:
    """The requests for TWS's open orders of one session and the ends TWS sent, counted on the
    loop thread. TWS answers them in order, each with one ``openOrderEnd`` that names none, so
    the n-th end is the n-th request's: an end of a listing given up (or of ib_async's own at
    the connect) is not taken for a later one's, whose orders TWS has not listed yet. An end TWS
    never sends would hold every later listing one end back for the session's life, which the
    venue ends when it sees the latest listing passed over (``out_of_step``)."""

    def __init__(self, venue: str) -> None:
        self._venue = venue
        self._asked = 0
        self._ended = 0
        # The listings awaited, by their number in the session.
        self._awaited: dict[int, asyncio.Future[None]] = {}
        # The listings given up whose end has not come: theirs is said when it comes.
        self._given_up: set[int] = set()
        # The latest listing asked (``listed``), and the latest TWS ended an earlier one while it
        # waited: TWS answers, but not it.
        self._latest = 0
        self._passed_over = 0

    def new_session(self) -> None:
        """A new connection: TWS answers on it only what is asked on it."""
        self.disconnected()
        self._asked = self._ended = 0
        self._given_up.clear()
        self._latest = self._passed_over = 0

    def counting_asks(self, ask: Callable[[], None]) -> Callable[[], None]:
        def counted() -> None:
            ask()
            self._asked += 1

        return counted

    def counting_ends(self, end: Callable[[], None]) -> Callable[[], None]:
        def counted() -> None:
            self._end()
            end()

        return counted

    async def listed(self, ask: Callable[[], None]) -> None:
        """Ask with ``ask`` (a counted request) and wait for its own end."""
        ask()
        number = self._latest = self._asked
        awaited: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._awaited[number] = awaited
        try:
            await awaited
        except asyncio.CancelledError:
            if number > self._ended:
                self._given_up.add(number)
            raise
        finally:
            self._awaited.pop(number, None)

    def out_of_step(self) -> bool:
        """Whether TWS ended an earlier listing while the latest asked (``listed``) waited, and has
        not ended that one: TWS answers, yet its end may never come (an end TWS never sent puts
        every later end one listing behind), or comes later than it waits."""
        return self._passed_over == self._latest > self._ended

    def _end(self) -> None:
        if self._ended >= self._asked:
            log.warning("%s: TWS ended a listing of its open orders no request asked for: not counted",
                        self._venue)  # fmt: skip
            return
        self._ended += 1
        number = self._ended
        awaited = self._awaited.pop(number, None)
        if awaited is not None and not awaited.done():
            awaited.set_result(None)
            return
        # Canceled but not yet told so (``listed``), or told: a listing given up either way.
        given_up = awaited is not None or number in self._given_up
        self._given_up.discard(number)
        if self._latest > number:
            self._passed_over = self._latest
        after = self._asked - number
        if given_up or after:
            log.info(
                "%s: TWS ended listing %d of its open orders, %s: it settles nothing, nor is it taken"
                " for the end of the %d asked after it",
                self._venue, number, "given up" if given_up else "ib_async's at the connect", after,
            )  # fmt: skip

    def disconnected(self) -> None:
        """The connection closed: no listing awaited will end."""
        for awaited in self._awaited.values():
            if not awaited.done():
                awaited.set_exception(ConnectionError("Socket disconnect"))
        self._awaited.clear()


def _answered_only(wrapper: Any, completed_order: Callable[..., None]) -> Callable[..., None]:
    """ib_async's ``completedOrder`` answering the request alone: it would also take a completed
    order it has not heard of this session for a trade it follows, with no client id nor order
    id, which the venue's reads of the session's orders would take for one TWS told of."""

    def answered(contract: Any, order: Any, state: Any) -> None:
        known = order.permId in wrapper.permId2Trade
        completed_order(contract, order, state)
        if not known:
            wrapper.permId2Trade.pop(order.permId, None)
            wrapper.trades.pop(order.permId, None)

    return answered


def _count_orders(orders: list[OrderHeard], fills: list[FillHeard]) -> dict[str, int]:
    """The orders told of under each orderRef in ``orders`` and ``fills``: each once, by its
    permId, or by (client id, order id) while it has none (and no other entry of it has one)."""
    told: list[OrderHeard | FillHeard] = [*orders, *fills]
    placed = {(t.order_ref, t.client_id, t.order_id) for t in told if t.perm_id}
    under: dict[str, set[object]] = {}
    for t in told:
        if t.perm_id:
            under.setdefault(t.order_ref, set()).add(t.perm_id)
        elif (t.order_ref, t.client_id, t.order_id) not in placed:
            under.setdefault(t.order_ref, set()).add((t.client_id, t.order_id))
    return {ref: len(ids) for ref, ids in under.items()}


def _fill(fill: Any) -> FillHeard:
    ex, report = fill.execution, fill.commissionReport
    reported = bool(report.execId)
    return FillHeard(
        exec_id=ex.execId,
        order_ref=ex.orderRef,
        perm_id=int(ex.permId),
        client_id=int(ex.clientId),
        order_id=int(ex.orderId),
        con_id=int(fill.contract.conId),
        shares=float(ex.shares),
        cum_qty=float(ex.cumQty),
        avg_price=float(ex.avgPrice),
        price=float(ex.price),
        time=ex.time.timestamp() if ex.time else 0.0,
        commission=float(report.commission) if reported else None,
        commission_currency=report.currency if reported else "",
    )


def _order(trade: Any, told: StatusesTold) -> OrderHeard:
    order, status = trade.order, trade.orderStatus
    key = told.key(order.clientId, order.orderId, order.permId)
    told_at, status_told = told.status(key)
    return OrderHeard(
        order_id=int(order.orderId),
        client_id=int(order.clientId),
        perm_id=int(order.permId or status.permId),
        order_ref=order.orderRef,
        con_id=int(trade.contract.conId),
        action=order.action,
        order_type=order.orderType,
        total_quantity=float(order.totalQuantity),
        limit_price=float(order.lmtPrice) if order.lmtPrice and order.lmtPrice < UNSET else 0.0,
        status=status.status,
        filled=float(status.filled),
        avg_fill_price=float(status.avgFillPrice),
        error_code=told.error_since_status(key),
        status_told=status_told,
        told_at=told_at,
        worked=any(s in WORKING_STATUSES for s in [status.status, *(entry.status for entry in trade.log)]),
    )
