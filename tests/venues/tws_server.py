"""A TWS on 127.0.0.1 speaking the TWS API's socket protocol for the messages IbkrVenue uses.

Frames are a 4-byte big-endian length and NUL-terminated fields. The handshake is ``API\\0``
and the client's version range ``v<min>..<max>``; the server answers the highest version both
speak (``SERVER_VERSION`` at most) and the time, then takes ``startApi`` and sends the next
valid order id and the managed accounts. It answers contract details, positions, open orders
and executions (the connected client's, every client's to the master client,
``master_client_id``), the day's completed orders, takes orders (or holds back the answer until
asked, ``hold_next``, or loses one, ``lose_next``) and cancels, and reports order status (any,
``statuses_next``), executions, their corrections and commission reports as TWS does, with the
error codes 201 (rejected), 202 (canceled) and 10147 (a cancel of an order it does not work),
any other error about an order in TWS's layout (``error_next``, ``warn_next``, ``after_next``,
``error``), and the data farms' notices (2104, 2106, 2158) after the handshake. The book
survives a dropped connection, as TWS's does.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

SERVER_VERSION = 176
ACCOUNT = "DU7340021"

# Message ids, incoming (the client's requests) and outgoing (TWS's answers).
PLACE_ORDER, CANCEL_ORDER, REQ_OPEN_ORDERS, REQ_EXECUTIONS, REQ_IDS = 3, 4, 5, 7, 8
REQ_CONTRACT_DATA, REQ_POSITIONS, START_API, REQ_COMPLETED_ORDERS = 9, 61, 71, 99
ORDER_STATUS, ERR_MSG, OPEN_ORDER, NEXT_VALID_ID, CONTRACT_DATA, EXECUTION_DATA = 3, 4, 5, 9, 10, 11
MANAGED_ACCTS, CONTRACT_DATA_END, OPEN_ORDER_END, EXECUTION_DATA_END = 15, 52, 53, 55
COMMISSION_REPORT, POSITION_DATA, POSITION_END, COMPLETED_ORDER, COMPLETED_ORDERS_END = 59, 61, 62, 101, 102
# The statuses of an order TWS lists among its completed orders, no longer its open ones.
COMPLETED_STATUSES = ("Filled", "Cancelled", "ApiCancelled", "Inactive")

# What TWS says of its data farms once a client connected: notices with no request (-1).
FARM_NOTICES = [
    (2104, "Market data farm connection is OK:usfarm"),
    (2106, "HMDS data farm connection is OK:ushmds"),
    (2158, "Sec-def data farm connection is OK:secdefnj"),
]


@dataclass
class Listed:
    """A contract TWS knows: its id, symbol and rules."""

    con_id: int
    symbol: str
    min_tick: float = 0.01
    size_increment: float = 1.0
    min_size: float = 1.0
    sec_type: str = "STK"
    exchange: str = "SMART"
    currency: str = "USD"
    multiplier: str = ""


@dataclass
class Working:
    """An order in TWS's book."""

    order_id: int
    perm_id: int
    client_id: int
    contract: Listed
    action: str
    quantity: float
    order_type: str
    limit_price: float
    order_ref: str
    account: str
    status: str = "Submitted"
    filled: float = 0.0
    cost: float = 0.0

    @property
    def avg_price(self) -> float:
        return self.cost / self.filled if self.filled else 0.0


@dataclass
class Execution:
    exec_id: str
    order: Working
    shares: float
    price: float
    cum_qty: float
    avg_price: float
    at: int
    commission: float | None
    commission_currency: str = "USD"


@dataclass
class Book:
    orders: dict[int, Working] = field(default_factory=dict)
    executions: list[Execution] = field(default_factory=list)
    positions: dict[int, float] = field(default_factory=dict)


def frame(fields: list[Any]) -> bytes:
    body = b"".join(_text(f).encode() + b"\0" for f in fields)
    return struct.pack(">I", len(body)) + body


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class TwsServer:
    """``with TwsServer([Listed(265598, "AAPL")]) as tws: IbkrVenue(port=tws.port, ...)``."""

    def __init__(self, contracts: list[Listed], account: str = ACCOUNT, next_order_id: int = 1) -> None:
        self.contracts = {c.symbol: c for c in contracts}
        self.account = account
        self.book = Book()
        self.next_order_id = next_order_id
        self._next_perm_id = 1_700_000_000
        self._next_exec = 1
        self._lock = threading.RLock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._client: socket.socket | None = None
        self._client_id = 0
        self.version = 0
        self.requests: list[list[str]] = []
        # Set by a test: the next order is rejected (error 201) with this reason, this many
        # seconds after it arrived (the exchange's answer, after TWS forwarded it).
        self.reject_next = ""
        self.reject_after_s = 0.0
        self.rejected = threading.Event()  # set once a reject went out
        # Set by a test: the next order is answered with this error (code, message) alone, TWS
        # never working it (103 duplicate order id, 200 no security definition, 110 off the tick).
        self.error_next: tuple[int, str] | None = None
        # Set by a test: the next order is answered with this warning (code, message) first, then
        # works as any (399 order message, 10349 time in force from the presets).
        self.warn_next: tuple[int, str] | None = None
        # Set by a test: the statuses the next order goes through at once, instead of ``Submitted``
        # (``Inactive``: TWS deactivated it as it arrived; ``Submitted``, ``Inactive``: it worked
        # a moment), and an error or warning (code, message) TWS sends right after them.
        self.statuses_next: list[str] = []
        # Set by a test: the next order is booked but TWS says nothing of it until asked for its
        # open orders (busy); or never gets it (lost on its way: TWS says nothing, lists nothing).
        self.hold_next = False
        self.lose_next = False
        # Set by a test: requests for the open orders go unanswered (a TWS busy after its restart)
        # until one comes unmuted: TWS answers them in order, so that one's answer ends them too.
        self.mute_open_orders = False
        # Set by a test: requests for the open orders are lost on their way, TWS never listing nor
        # ending them (a request TWS drops); those after are answered as usual.
        self.lose_open_orders = False
        # Set by a test: requests for the open orders are held, answered when the test sends
        # their ``listed_open_orders`` and ``open_orders_end`` (a TWS slow with its listing).
        self.hold_open_orders = False
        # The requests for the open orders of this connection not yet ended.
        self._listings_unended = 0
        self.after_next: tuple[int, str] | None = None
        # Set by a test: a cancel meets a fill of this size and price first (the race).
        self.fill_before_cancel: tuple[float, float] | None = None
        # Set by a test: a cancel is refused as for an order TWS does not work (10147), or with
        # this error (code, message with ``{order_id}``, ``{perm_id}``) instead.
        self.refuse_cancels = False
        self.cancel_refusal = (10147, "OrderId {order_id} that needs to be cancelled is not found.")
        # Set by a test: each order is filled in full at its limit price as soon as it works.
        self.fill_on_place = False
        # Set by a test: contract details requests go unanswered (a TWS busy after its restart).
        self.mute_contract_details = False
        # Set by a test: the API client id TWS's settings name its master client, which TWS's
        # open orders and executions list every client's orders to (None: none; the others
        # hear their own).
        self.master_client_id: int | None = None
        self.connections = 0
        self._running = True
        self._accepting = threading.Thread(target=self._accept, name="tws-accept", daemon=True)
        self._accepting.start()

    def __enter__(self) -> TwsServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._running = False
        self.drop()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread; close alone may not
        except OSError:
            pass
        self._listener.close()
        self._accepting.join(5.0)

    def drop(self) -> None:
        """Close the client's connection, as a TWS restart or a network fault does."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            client.close()

    # -- the connection ------------------------------------------------------------------

    def _accept(self) -> None:
        while self._running:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), name="tws-client", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        try:
            if reader.read(4) != b"API\0":
                conn.close()
                return
            wanted = self._body(reader).decode()  # "v<min>..<max>[ options]": no fields
            low, high = (int(v) for v in wanted.split()[0].lstrip("v").split(".."))
            self.version = min(high, SERVER_VERSION)
            if self.version < low:
                conn.close()
                return
            with self._lock:
                self._client = conn
                self.connections += 1
                self._listings_unended = 0
            self._send([self.version, time.strftime("%Y%m%d %H:%M:%S")])
            while True:
                fields = self._message(reader)
                with self._lock:
                    self.requests.append(fields)
                    self._answer(fields)
        except (OSError, ValueError, struct.error):
            pass
        finally:
            with self._lock:
                if self._client is conn:
                    self._client = None
            conn.close()

    @classmethod
    def _message(cls, reader: Any) -> list[str]:
        return cls._body(reader).decode().split("\0")[:-1]

    @staticmethod
    def _body(reader: Any) -> bytes:
        size = reader.read(4)
        if len(size) < 4:
            raise ValueError("connection closed")
        body: bytes = reader.read(struct.unpack(">I", size)[0])
        return body

    def _send(self, fields: list[Any]) -> None:
        with self._lock:
            if self._client is not None:
                try:
                    self._client.sendall(frame(fields))
                except OSError:
                    pass

    def _answer(self, f: list[str]) -> None:
        kind = int(f[0])
        if kind == START_API:
            self._client_id = int(f[2])
            self._send([NEXT_VALID_ID, 1, self.next_order_id])
            self._send([MANAGED_ACCTS, 1, self.account])
            for code, message in FARM_NOTICES:
                self._error(-1, code, message)
        elif kind == REQ_IDS:
            self._send([NEXT_VALID_ID, 1, self.next_order_id])
        elif kind == REQ_CONTRACT_DATA:
            self._contract_details(int(f[2]), f[4])
        elif kind == REQ_POSITIONS:
            for con_id, size in self.book.positions.items():
                c = self._by_con_id(con_id)
                self._send([POSITION_DATA, 3, self.account, c.con_id, c.symbol, c.sec_type, "", 0, "", "",
                            c.exchange, c.currency, c.symbol, c.symbol, size, 0])  # fmt: skip
            self._send([POSITION_END, 1])
        elif kind == REQ_OPEN_ORDERS:
            if self.lose_open_orders:
                return
            self._listings_unended += 1
            if not (self.mute_open_orders or self.hold_open_orders):
                self.listed_open_orders()
                while self._listings_unended:
                    self.open_orders_end()
        elif kind == REQ_EXECUTIONS:
            req_id = int(f[2])
            for ex in self.book.executions:
                if self._lists_to_client(ex.order):
                    self._execution(ex, req_id)
                    self._commission(ex)
            self._send([EXECUTION_DATA_END, 1, req_id])
        elif kind == REQ_COMPLETED_ORDERS:
            self.listed_completed_orders()
        elif kind == PLACE_ORDER:
            self._place(f)
        elif kind == CANCEL_ORDER:
            self._cancel(int(f[2]))

    def listed_open_orders(self) -> None:
        """The working orders, as TWS lists them answering a request for its open orders: those
        the connected API client placed, or every client's to the master API client
        (``master_client_id``, a TWS setting)."""
        with self._lock:
            for order in self.book.orders.values():
                if order.status in ("Submitted", "PreSubmitted") and self._lists_to_client(order):
                    self._open_order(order)
                    self._order_status(order)

    def _lists_to_client(self, order: Working) -> bool:
        """Whether TWS lists ``order`` and its executions to the connected client: the one that
        placed it, or the master API client (``master_client_id``), which hears every client's."""
        return order.client_id == self._client_id or self._client_id == self.master_client_id

    def listed_completed_orders(self) -> None:
        """The day's completed orders, as TWS lists them answering ``reqCompletedOrders``: every
        API client's (the message names neither client id nor order id, only the permId), each
        with its last status and filled quantity, then their end. ``apiOnly`` would leave out the
        orders entered in TWS itself, which this server has none of."""
        with self._lock:
            for order in self.book.orders.values():
                if order.status in COMPLETED_STATUSES:
                    self._completed_order(order)
            self._send([COMPLETED_ORDERS_END])

    def open_orders_end(self) -> None:
        """The end of a listing of the open orders (it names no request): of the earliest not ended."""
        with self._lock:
            self._listings_unended = max(self._listings_unended - 1, 0)
            self._send([OPEN_ORDER_END, 1])

    def _by_con_id(self, con_id: int) -> Listed:
        return next(c for c in self.contracts.values() if c.con_id == con_id)

    # -- answers -------------------------------------------------------------------------

    def _contract_details(self, req_id: int, symbol: str) -> None:
        if self.mute_contract_details:
            return
        c = self.contracts.get(symbol)
        if c is not None:
            self._send([
                CONTRACT_DATA, req_id, c.symbol, c.sec_type, "", 0, "", c.exchange, c.currency, c.symbol,
                "NMS", c.symbol, c.con_id, c.min_tick, c.multiplier, "LMT,MKT", "SMART,NASDAQ", 1, 0,
                f"{c.symbol} INC", "NASDAQ", "", "Technology", "Computers", "Computers", "US/Eastern", "",
                "", "", "", 0, 1, "", "", "26", "", "COMMON", c.min_size, c.size_increment, c.size_increment,
            ])  # fmt: skip
        else:
            self._send([ERR_MSG, 2, req_id, 200, "No security definition has been found for the request", ""])
        self._send([CONTRACT_DATA_END, 1, req_id])

    def _place(self, f: list[str]) -> None:
        order_id, con_id, symbol = int(f[1]), int(f[2] or 0), f[3]
        contract = self.contracts.get(symbol) or self._by_con_id(con_id)
        self.next_order_id = max(self.next_order_id, order_id + 1)
        if self.lose_next:
            self.lose_next = False
            return
        if self.error_next is not None:
            (code, message), self.error_next = self.error_next, None
            self._error(order_id, code, message)
            return
        if self.warn_next is not None:
            (code, message), self.warn_next = self.warn_next, None
            self._error(order_id, code, message)
        if self.reject_next:
            reason, self.reject_next = self.reject_next, ""
            rejection = [ERR_MSG, 2, order_id, 201, f"Order rejected - reason:{reason}", ""]
            if self.reject_after_s:
                threading.Timer(self.reject_after_s, self._reject, (rejection,)).start()
            else:
                self._reject(rejection)
            return
        self._next_perm_id += 1
        order = Working(
            order_id=order_id, perm_id=self._next_perm_id, client_id=self._client_id, contract=contract,
            action=f[16], quantity=float(f[17]), order_type=f[18], limit_price=float(f[19] or 0),
            order_ref=f[26], account=f[23] or self.account,
        )  # fmt: skip
        self.book.orders[order_id] = order
        if self.hold_next:
            self.hold_next = False
            return
        statuses, self.statuses_next = self.statuses_next or [order.status], []
        for status in statuses:
            order.status = status
            self._open_order(order)
            self._order_status(order)
        if self.after_next is not None:
            (code, message), self.after_next = self.after_next, None
            self._error(order_id, code, message)
        if self.fill_on_place:
            self.fill(order.order_ref, order.quantity, order.limit_price)

    def _reject(self, rejection: list[Any]) -> None:
        self._send(rejection)
        self.rejected.set()

    def _cancel(self, order_id: int) -> None:
        order = self.book.orders.get(order_id)
        if order is None or order.status not in ("Submitted", "PreSubmitted") or self.refuse_cancels:
            code, message = self.cancel_refusal
            perm_id = order.perm_id if order is not None else 0
            self._error(order_id, code, message.format(order_id=order_id, perm_id=perm_id))
            return
        racing, self.fill_before_cancel = self.fill_before_cancel, None
        raced = None
        if racing is not None:
            raced = self._execute(order, *racing)  # filled at the exchange as the cancel arrived
        order.status = "Cancelled"
        self._order_status(order)
        self._send([ERR_MSG, 2, order_id, 202, "Order Canceled - reason:", ""])
        if raced is not None:  # the execution's report comes after the cancel's
            self._execution(raced, -1)
            self._commission(raced)

    def fill(
        self,
        order_ref: str,
        shares: float,
        price: float,
        commission: float | None = 1.0,
        commission_currency: str = "USD",
        *,
        reported: bool = True,
        order_id: int | None = None,
    ) -> str:
        """Execute ``shares`` of the order of ``order_ref`` (``_order``) at ``price`` and report it
        (to a client connected now; a reconnecting one reads it from the executions), or not yet
        (``reported`` False: ``repeat_execution`` sends it, after its correction say). Its exec id."""
        with self._lock:
            order = self._order(order_ref, order_id)
            ex = self._execute(order, shares, price, commission)
            ex.commission_currency = commission_currency
            if order.filled >= order.quantity:
                order.status = "Filled"
            if not reported:
                return ex.exec_id
            self._execution(ex, -1)
            self._order_status(order)
            if commission is not None:
                self._commission(ex)
            return ex.exec_id

    def error(self, order_ref: str, code: int, message: str, *, ends: bool) -> None:
        """Send TWS's error ``code`` about the order of ``order_ref``, which ``ends`` it in the
        book (201: a margin check refused it after it worked) or leaves it working (404: shares
        to short being located). No status of it follows, as with TWS."""
        with self._lock:
            order = next(o for o in self.book.orders.values() if o.order_ref == order_ref)
            if ends:
                order.status = "Cancelled"
            self._error(order.order_id, code, message)

    def _error(self, req_id: int, code: int, message: str) -> None:
        # Server versions from 166 to 193 add the advanced reject's JSON (empty), not the time.
        self._send([ERR_MSG, 2, req_id, code, message, ""])

    def cancel_at_tws(
        self, order_ref: str, status: str = "Cancelled", *, order_id: int | None = None
    ) -> None:
        """End the order of ``order_ref`` (``_order``) on TWS's side with ``status`` (a DAY order
        canceled at the close, an operator in TWS; ``Inactive``: TWS or the exchange deactivated
        it), telling a client connected now."""
        with self._lock:
            order = self._order(order_ref, order_id)
            order.status = status
            self._order_status(order)

    def _order(self, order_ref: str, order_id: int | None) -> Working:
        """The order of ``order_ref``, the first TWS took under it, or the one of ``order_id``:
        a client that runs again without its records sends its orderRefs again."""
        if order_id is not None:
            order = self.book.orders[order_id]
            assert order.order_ref == order_ref, (order_ref, order)
            return order
        return next(o for o in self.book.orders.values() if o.order_ref == order_ref)

    def tell(self, order: Working) -> None:
        """Send ``order`` as it is now (``openOrder`` and ``orderStatus``), as TWS tells a master
        client, or client 0, of another client's order, which is not in the book."""
        with self._lock:
            self._open_order(order)
            self._order_status(order)

    def report_commission(self, exec_id: str, commission: float) -> None:
        """Send an execution's commission report, which TWS may send well after the execution."""
        with self._lock:
            ex = next(e for e in self.book.executions if e.exec_id == exec_id)
            ex.commission = commission
            self._commission(ex)

    def correct_execution(
        self, exec_id: str, shares: float, price: float, commission: float | None = 1.0
    ) -> str:
        """Report a correction of the execution ``exec_id`` as TWS does: an execution of the same
        id but for the number after its last period, one more (``.02`` corrects ``.01``), stating
        the corrected ``shares`` and ``price``, which replace the execution's, and its
        ``commission`` (None: ``report_commission`` sends it later). Its exec id."""
        with self._lock:
            old = next(e for e in self.book.executions if e.exec_id == exec_id)
            head, _, number = exec_id.rpartition(".")
            order = old.order
            order.filled += shares - old.shares
            order.cost += shares * price - old.shares * old.price
            signed = shares - old.shares if order.action == "BUY" else old.shares - shares
            con_id = order.contract.con_id
            self.book.positions[con_id] = self.book.positions.get(con_id, 0.0) + signed
            ex = Execution(
                f"{head}.{int(number) + 1:02d}", order, shares, price, order.filled, order.avg_price,
                int(time.time()), commission,
            )  # fmt: skip
            self.book.executions.append(ex)
            self._execution(ex, -1)
            self._commission(ex)
            return ex.exec_id

    def repeat_execution(self, exec_id: str) -> None:
        """Send an execution's ``execDetails`` again, as TWS does now and then."""
        with self._lock:
            self._execution(next(e for e in self.book.executions if e.exec_id == exec_id), -1)

    def _execute(
        self, order: Working, shares: float, price: float, commission: float | None = 1.0
    ) -> Execution:
        order.filled += shares
        order.cost += shares * price
        signed = shares if order.action == "BUY" else -shares
        con_id = order.contract.con_id
        self.book.positions[con_id] = self.book.positions.get(con_id, 0.0) + signed
        ex = Execution(
            f"0000e0d5.6563{self._next_exec:04x}.01.01", order, shares, price, order.filled,
            order.avg_price, int(time.time()), commission,
        )  # fmt: skip
        self._next_exec += 1
        self.book.executions.append(ex)
        return ex

    def _order_status(self, o: Working) -> None:
        self._send([ORDER_STATUS, o.order_id, o.status, o.filled, o.quantity - o.filled, o.avg_price,
                    o.perm_id, 0, o.avg_price, o.client_id, "", 0])  # fmt: skip

    def _execution(self, ex: Execution, req_id: int) -> None:
        o, c = ex.order, ex.order.contract
        self._send([
            EXECUTION_DATA, req_id, o.order_id, c.con_id, c.symbol, c.sec_type, "", 0, "", "", c.exchange,
            c.currency, c.symbol, c.symbol, ex.exec_id, ex.at, o.account, "ISLAND",
            "BOT" if o.action == "BUY" else "SLD", ex.shares, ex.price, o.perm_id, o.client_id, 0,
            ex.cum_qty, ex.avg_price, o.order_ref, "", "", "", 1,
        ])  # fmt: skip

    def _commission(self, ex: Execution) -> None:
        if ex.commission is not None:
            self._send([COMMISSION_REPORT, 1, ex.exec_id, ex.commission, ex.commission_currency, "", "", ""])

    def _open_order(self, o: Working) -> None:
        c = o.contract
        fields: list[Any] = [
            OPEN_ORDER, o.order_id, c.con_id, c.symbol, c.sec_type, "", 0, "", "", c.exchange, c.currency,
            c.symbol, c.symbol, o.action, o.quantity, o.order_type, o.limit_price, "", "DAY", "", o.account,
            "", 0, o.order_ref, o.client_id, o.perm_id, 0, 0, 0, "", "", "", "", "",
        ]  # fmt: skip
        if self.version < 177:
            fields.append("")  # faProfile
        fields += [""] * 29  # modelCode ... deltaNeutralAuxPrice (no delta-neutral order type)
        fields += ["", "", "", "", "", "", ""]  # continuousUpdate ... comboLegsDescrip
        fields += [0, 0, 0]  # combo legs, order combo legs, smart combo routing params
        fields += ["", "", ""]  # scale sizes and price increment (unset)
        fields += [""]  # hedgeType
        fields += ["", "", "", "", 0]  # optOutSmartRouting ... notHeld, no delta-neutral contract
        fields += [""]  # algoStrategy
        fields += [0, 0, o.status] + [""] * 16  # solicited, whatIf, status, margins, commissions, randomize
        fields += [0]  # conditions
        fields += [""] * 16  # adjustedOrderType ... usePriceMgmtAlgo
        fields += ["", "", ""]  # duration, postToAts, autoCancelParent
        fields += ["", "", "", "", ""]  # minTradeQty ... midOffsetAtHalf
        self._send(fields)

    def _completed_order(self, o: Working) -> None:
        c = o.contract
        fields: list[Any] = [
            COMPLETED_ORDER, c.con_id, c.symbol, c.sec_type, "", 0, "", "", c.exchange, c.currency, c.symbol,
            c.symbol, o.action, o.quantity, o.order_type, o.limit_price, "", "DAY", "", o.account, "", 0,
            o.order_ref, o.perm_id, 0, 0, 0, "", "", "", "",
        ]  # fmt: skip
        if self.version < 177:
            fields.append("")  # faProfile
        fields += [""] * 23  # modelCode ... deltaNeutralAuxPrice (no delta-neutral order type)
        fields += ["", "", "", "", ""]  # continuousUpdate ... comboLegsDescrip
        fields += [0, 0, 0]  # combo legs, order combo legs, smart combo routing params
        fields += ["", "", ""]  # scale sizes and price increment (unset)
        fields += [""]  # hedgeType
        fields += ["", "", "", 0]  # clearingAccount, clearingIntent, notHeld, no delta-neutral contract
        fields += [""]  # algoStrategy
        fields += [0, o.status, 0, 0]  # solicited, status, randomizeSize, randomizePrice
        fields += [0]  # conditions
        fields += [""] * 6  # trailStopPrice ... autoCancelDate
        fields += [o.filled, "", "", "", "", "", ""]  # filledQuantity ... parentPermId
        fields += [time.strftime("%Y%m%d %H:%M:%S"), o.status]  # completedTime, completedStatus
        if self.version >= 170:
            fields += ["", "", "", "", ""]  # minTradeQty ... midOffsetAtHalf
        self._send(fields)
