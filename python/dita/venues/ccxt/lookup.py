"""Finding an order on the exchange by the client id it went out under, or by the exchange's id:
by the exchange's order query, or where that cannot find it (Kraken, Bybit) in its open and
then its closed order list, or where it finds an order by client id only while it works (Gate)
by the exchange's id when known, else in its list of finished orders."""

from __future__ import annotations

import logging
from typing import Any, NamedTuple

from dita.venues.ccxt.client import ExchangeClient
from dita.venues.ccxt.settings import by_lineage
from dita.venues.ccxt.tracking import TrackedOrder
from dita.venues.protocol import VenueUnavailable

__all__ = ["OrderLists", "OrderLookup"]

log = logging.getLogger("dita.venues.ccxt")


class OrderLists(NamedTuple):
    """How an order is found on an exchange whose order query (ccxt's ``fetch_order``) cannot
    find it: in its open, then its closed order list (ccxt's methods), filtered by the
    parameter of its client id, or of its order id (None: the order query finds it by that).
    ``account_wide``: the lists are the account's whatever the market asked for (ccxt keeps
    that market's orders from the answer), so one request of each covers every market."""

    methods: tuple[str, str]
    client_id_param: str
    order_id_param: str | None
    account_wide: bool = False


# Exchanges (and those ccxt derives from them) whose orders are found in their order lists.
# Kraken's query takes an order id or a ``userref`` (an integer): ccxt sends a client id there
# as the userref with the order id "None", which finds no order; its lists filter by
# ``cl_ord_id`` (ccxt's ``clientOrderId``). On a Bybit unified account (the default) ccxt's
# query refuses to run (ArgumentsRequired: it sees the last 500 orders only), and would send a
# client id as ``clientOrderId``, where Bybit's field is ``orderLinkId``. ccxt's closed list there
# (fetch_closed_orders) asks for filled orders only: fetch_canceled_and_closed_orders has every end.
_ORDER_LISTS = {
    "kraken": OrderLists(("fetch_open_orders", "fetch_closed_orders"), "clientOrderId", None, True),
    "bybit": OrderLists(("fetch_open_orders", "fetch_canceled_and_closed_orders"), "orderLinkId", "orderId"),
}


# Exchanges whose order query finds an order by its client id only while it works, and the
# length of the page of their finished orders searched for it after. Gate's single-order query
# takes the ``text`` "in pending orders" only ("Only order ID can be used after the order is
# finished"); its finished-order list (ccxt's fetch_closed_orders, newest first) has no filter by
# text, and a page of 100 (its default) is searched for it.
_OPEN_ONLY_BY_CLIENT_ID = {"gate": 100}


class OrderLookup:
    """Asks the exchange for one order; each answer is ccxt's order dict as the exchange has it."""

    def __init__(self, client: ExchangeClient) -> None:
        self._client = client

    def order_lists(self) -> OrderLists | None:
        """How the exchange's orders are found in its order lists; None where its order query finds them."""
        return by_lineage(type(self._client.exchange), _ORDER_LISTS)

    def client_id_param(self) -> str:
        """The parameter a client id goes by in the exchange's requests: ccxt's ``clientOrderId``
        unless it passes the exchange's own field on as given (Bybit's ``orderLinkId``)."""
        lists = self.order_lists()
        return "clientOrderId" if lists is None else lists.client_id_param

    def find(self, client_id: str, symbol: str | None, order_id: str = "") -> dict[str, Any] | None:
        """The order sent as ``client_id`` in ``symbol`` (None: in any market, where the order
        lists are the account's), as the exchange has it; None only when the exchange says it
        has no such order. ``order_id``: its exchange id when known, by which it is asked for where
        the client id finds only a working order (Gate). Raises ``VenueUnavailable`` when it could
        not be asked (throttled, unreachable, an error answer) or cannot say (Gate's finished
        orders, a page of them searched, not reaching back far enough)."""
        client = self._client
        ccxt = client.ccxt
        if client.throttled():
            wait = client.throttled_until - client.clock()
            raise VenueUnavailable(
                f"{client.name}: lookup of {client_id!r} not sent, the exchange is throttling "
                f"(retry in {wait:.3f}s)"
            )
        try:
            if order_id and symbol is not None and self._open_only_by_client_id() is not None:
                return self.fetch_by_order_id(order_id, symbol)
            return self.fetch_by_client_id(client_id, symbol)
        except ccxt.OrderNotFound:
            return None
        except client.throttle_errors as exc:
            client.note_throttle(exc)
            raise VenueUnavailable(
                f"{client.name}: lookup of {client_id!r} throttled: {client.error_text(exc)}"
            ) from None
        except ccxt.BaseError as exc:
            synced = client.sync_clock_if_refused(exc)
            raise VenueUnavailable(
                f"{client.name}: lookup of {client_id!r} in {symbol or 'any market'} failed: "
                f"{client.error_text(exc)}" + (f" ({synced})" if synced else "")
            ) from None

    def lookup(self, tracked: TrackedOrder) -> dict[str, Any] | None:
        """The order as the exchange has it, found by client id (or exchange id, ``find``); None
        when unknown or unreachable."""
        try:
            return self.find(tracked.client_id, tracked.symbol, tracked.exchange_order_id)
        except VenueUnavailable as exc:
            log.warning("%s", exc)
            return None

    def fetch_by_client_id(self, client_id: str, symbol: str | None) -> dict[str, Any]:
        """The order sent as ``client_id`` in ``symbol``; raises ccxt's ``OrderNotFound`` when the
        exchange has none. By the exchange's order query, or where that cannot find it (Kraken,
        Bybit: ``_ORDER_LISTS``) in its open and then closed order lists; where it finds working
        orders only (Gate: ``_OPEN_ONLY_BY_CLIENT_ID``), then in its finished orders."""
        lists = self.order_lists()
        if lists is not None:
            return self._listed(lists, symbol, lists.client_id_param, client_id, "clientOrderId", "client id")
        try:
            found: dict[str, Any] = self._client.exchange.fetch_order(
                None, symbol, {"clientOrderId": client_id}
            )
        except self._client.ccxt.OrderNotFound:
            page = self._open_only_by_client_id()
            if page is None:
                raise
            return self._finished(symbol, client_id, page)
        return found

    def _open_only_by_client_id(self) -> int | None:
        """The page of finished orders searched for an order the exchange's query by client id
        cannot find once it is over (``_OPEN_ONLY_BY_CLIENT_ID``); None where it finds every order."""
        return by_lineage(type(self._client.exchange), _OPEN_ONLY_BY_CLIENT_ID)

    def _finished(self, symbol: str | None, client_id: str, page: int) -> dict[str, Any]:
        """The order sent as ``client_id`` among the exchange's last ``page`` finished orders in
        ``symbol``. Raises ccxt's ``OrderNotFound`` when a page not full lacks it (it never
        finished there: it never reached the exchange, or works and was just missed), and
        ccxt's ``ExchangeError`` when a full one does: older orders are beyond it, so whether the
        exchange has the order is unknown, and "no such order" would end an order that filled."""
        client = self._client
        finished = client.exchange.fetch_closed_orders(symbol, None, page, {})
        for raw in finished:
            if str(raw.get("clientOrderId") or "") == client_id:
                return dict(raw)
        if len(finished) >= page:
            raise client.ccxt.ExchangeError(
                f"{client.name} finds an order by client id only while it works, and its last {page} "
                f"finished orders in {symbol} do not hold {client_id!r}: whether it has the order is unknown"
            )
        raise client.ccxt.OrderNotFound(
            f"{client.name} has no working order and no finished one with client id {client_id!r} in {symbol}"
        )

    def fetch_by_order_id(self, order_id: str, symbol: str) -> dict[str, Any]:
        """The order of exchange id ``order_id`` in ``symbol``; raises ccxt's ``OrderNotFound`` when
        the exchange has none. By the exchange's order query, or where that cannot find it
        (Bybit: ``_ORDER_LISTS``) in its open and then closed order lists."""
        lists = self.order_lists()
        if lists is None or lists.order_id_param is None:
            found: dict[str, Any] = self._client.exchange.fetch_order(order_id, symbol, {})
            return found
        return self._listed(lists, symbol, lists.order_id_param, order_id, "id", "order id")

    def _listed(
        self, lists: OrderLists, symbol: str | None, param: str, value: str, field_name: str, what: str
    ) -> dict[str, Any]:
        """The order whose ``field_name`` (a ccxt order's) is ``value`` in the exchange's open, then
        closed orders of ``symbol``, each list asked with ``{param: value}``; one of another id
        (a filter the exchange did not apply) is not taken for it. Raises ccxt's
        ``OrderNotFound`` when neither lists it, as the order query says "no such order"."""
        for method in lists.methods:
            for raw in getattr(self._client.exchange, method)(symbol, None, None, {param: value}):
                if str(raw.get(field_name) or "") == value:
                    return dict(raw)
        raise self._client.ccxt.OrderNotFound(
            f"{self._client.name} lists no order with {what} {value!r} in {symbol or 'any market'}"
        )
