"""CcxtVenue: live exchanges through the ccxt library (Binance spot and USD-M futures first).

What this adapter guarantees, because each is a way live bots lose money:

- Orders go out with a client order id derived from the kernel's, so an order whose submit
  timed out is found again by that id; it is never assumed rejected. When the lookup cannot
  tell either, ``submit`` raises ``VenueTimeout`` and ``poll_events`` keeps looking.
- Fills are keyed by the exchange's trade id and reported once, however many times the
  order's status or trade list is read; the two fills of a self-trade (two of the account's
  orders matched with each other, one trade id) are told apart by their orders. A fill the
  exchange states whose trades never show is booked from the order at the best price known of
  it after a wait, never dropped; with no price known, the kernel is left holding it as owed.
- A throttling answer (HTTP 429/418) becomes a RATE_LIMITED event carrying the retry time
  the exchange asked for; until then the adapter sends nothing (it answers RATE_LIMITED
  itself), and ccxt's own request pacing stays on.
- Sizes and prices that are not already on the market's lot and tick are refused here
  instead of being truncated silently by ccxt into a different order.
- A spot market buy goes out sized in base units or not at all, never with its size read as
  the quote currency to spend; user options that would allow that, or resend orders, are refused.
- API keys come from environment variables and are scrubbed from every message this adapter
  produces (events, exceptions, logs); ``repr`` only says whether credentials are set.

``CcxtVenue`` is built from parts, each in its module of this package: the exchange client
(``client``: credentials, throttle; its errors read in ``errors``), the markets (``markets``),
finding an order (``lookup``), reading its trades (``trades``), reporting what the exchange says
as venue events (``events``, with fees in ``fees``), sending and canceling (``orders``), polling
(``polling``), the user-data stream when ``user_stream`` is on (``streams``) and the account
(``account``). The venue holds the lock every public call runs under.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Container
from typing import Any, Concatenate, ParamSpec, TypeVar

from dita._kernel import AccountEvent, VenueEvent, VenueOrder
from dita.risk import MarketLimits
from dita.venues._events import require_order
from dita.venues._settings import VenueInputs
from dita.venues.ccxt.account import Account
from dita.venues.ccxt.account_stream import AccountFacts, account_currency
from dita.venues.ccxt.client import ExchangeClient
from dita.venues.ccxt.events import OrderReporter
from dita.venues.ccxt.lookup import OrderLookup
from dita.venues.ccxt.markets import Markets, TopOfBook
from dita.venues.ccxt.orders import Orders
from dita.venues.ccxt.polling import Poller
from dita.venues.ccxt.settings import (
    CcxtSettings,
    check_market_type_option,
    futures_balance_is_wallet_alone,
    venue_client_id,
)
from dita.venues.ccxt.streams import StreamedPolling, StreamStatus, UserStream, check_stream_supported
from dita.venues.ccxt.trades import TradeReader

__all__ = ["CcxtVenue"]

log = logging.getLogger("dita.venues.ccxt")

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _serialized(method: Callable[Concatenate[CcxtVenue, _P], _R]) -> Callable[Concatenate[CcxtVenue, _P], _R]:
    """Run under the adapter's lock: the kernel's thread submits while a timer thread may
    poll, and neither ccxt's session nor the order book-keeping is safe to share."""

    def locked(self: CcxtVenue, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self._lock:
            return method(self, *args, **kwargs)

    locked.__name__ = method.__name__
    locked.__doc__ = method.__doc__
    # Its signature is the method's (reconciliation reads whether order_status takes an asset).
    locked.__wrapped__ = method  # type: ignore[attr-defined]
    return locked


class CcxtVenue:
    """``CcxtVenue(exchange="binance", market_type="spot", api_key_env=..., secret_env=...,
    sandbox=False, base_url=None, timeout_ms=10000, markets=None, ...)``; see ``CcxtSettings``.

    Assets are the exchange's market ids (``BTCUSDT``) or ccxt symbols (``BTC/USDT``,
    ``BTC/USDT:USDT``). Markets load on first use or with ``load_markets()``.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        **settings: Any,
    ) -> None:
        self.settings = CcxtSettings.model_validate(settings)
        s = self.settings
        inputs = VenueInputs.model_validate({"clock": clock, "sleep": sleep})
        import ccxt  # deferred: ccxt takes most of a second to import and only live runs need it

        if s.exchange not in ccxt.exchanges:
            raise ValueError(f"exchange {s.exchange!r} is not a ccxt exchange id")
        check_stream_supported(s)
        check_market_type_option(s, getattr(ccxt, s.exchange))
        self.name = s.name or f"{s.exchange}-{s.market_type}"
        self._lock = threading.RLock()
        self._client = ExchangeClient(s, self.name, ccxt, inputs.clock or time.time)
        self._markets = Markets(self._client, s.market_type, s.account_currency)
        lookup = OrderLookup(self._client)
        self._reporter = OrderReporter(self._client, s, TradeReader(self._client, s.market_type))
        self._orders = Orders(
            self._client, s, self._markets, lookup, self._reporter, inputs.sleep or time.sleep
        )
        self._poller = Poller(self._client, s, self._orders, lookup, self._reporter)
        self._account = Account(self._client, s, self._markets, lookup, self._orders)
        self._stream: UserStream | None = None
        self._streamed: StreamedPolling | None = None
        if s.markets is not None:
            self._markets.trade_symbols = self._markets.checked_symbols(s.markets)
        if s.user_stream:
            traded = [self._client.exchange.market(symbol) for symbol in self._markets.trade_symbols or []]
            currency = account_currency(s.account_currency, traded, s.market_type)
            if currency is None:
                log.warning(
                    "%s: the user stream gives the kernel no account events: set account_currency "
                    "or the markets setting (the currency is theirs)", self.name,
                )  # fmt: skip
            self._stream = UserStream(s, self._client, AccountFacts(self.name, currency), self._markets)
            self._streamed = StreamedPolling(
                self._stream, self._client, s, self._orders, self._poller, self._reporter
            )
        self.submitted = 0

    @property
    def _exchange(self) -> Any:
        """ccxt's exchange object (the CLI's live feed reads the markets through it)."""
        return self._client.exchange

    @property
    def has_credentials(self) -> bool:
        return self._client.has_credentials

    def close(self) -> None:
        """Close the user stream (its thread ended) and the HTTP session (idle connections to the
        exchange)."""
        if self._stream is not None:
            self._stream.stop()  # outside the lock: its thread never takes it
        with self._lock:
            self._client.close()

    def __enter__(self) -> CcxtVenue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        creds = "set" if self.has_credentials else "missing"
        return (
            f"CcxtVenue(name={self.name!r}, exchange={self.settings.exchange!r}, "
            f"market_type={self.settings.market_type!r}, credentials={creds})"
        )

    @staticmethod
    def venue_client_id(client_order_id: str, exchange: str = "binance") -> str:
        """The client order id sent to ``exchange`` (a ccxt exchange id): the kernel's when the
        exchange accepts it, else a stable hash of it (so a restart finds the same order
        again)."""
        return venue_client_id(client_order_id, exchange)

    # -- markets -------------------------------------------------------------------------

    @_serialized
    def load_markets(self, reload: bool = False) -> dict[str, MarketLimits]:
        """Load the exchange's markets; returns each market's trading rules under its id and its
        ccxt symbol (``Markets.load``).
        Starts the user stream, when on."""
        limits = self._markets.load(reload)
        self._start_stream()
        return limits

    def _start_stream(self) -> None:
        if self._stream is not None:
            self._stream.start()

    def stream_status(self) -> StreamStatus | None:
        """The user stream's state (down, reconciling, up), reconnects, lag and last balances;
        None when ``user_stream`` is off."""
        return None if self._stream is None else self._stream.status()

    def account_events(self) -> list[AccountEvent]:
        """What the user stream learned of the account since the last call, as the kernel's
        account events (``AccountFacts``): the account currency's balance, and funding payments
        (futures). Empty when ``user_stream`` is off."""
        return [] if self._stream is None else self._stream.account.taken()

    def market_metadata(self) -> dict[str, MarketLimits]:
        return self.load_markets()

    @_serialized
    def trade_only(self, markets: list[str]) -> None:
        """Trade ``markets`` from now on, as though built with the ``markets`` setting naming them,
        checked against the markets loaded (loaded once): for a caller that picks them among the
        exchange's markets. Before any order, and without the user stream (its account currency
        is chosen from the markets when the venue is built): else a RuntimeError. A market the
        exchange does not have is a ValueError naming it, and nothing changes."""
        if self.submitted or self._stream is not None:
            raise RuntimeError(
                f"{self.name}: the markets traded are chosen before any order and without the user stream"
            )
        symbols = self._markets.checked_symbols(list(markets), closing=False)
        self._markets.trade_symbols = symbols
        # The parts read the markets traded from ``_markets``; the settings say what they are.
        self.settings = self.settings.model_copy(update={"markets": list(markets)})

    @_serialized
    def check_markets(self, markets: list[str]) -> None:
        """Check ``markets`` as the ``markets`` setting is checked, against the markets loaded
        (loaded once), changing nothing: a market the exchange does not have, or markets of two
        quote (spot) or settle (futures) currencies, are a ValueError naming them."""
        self._markets.checked_symbols(list(markets), closing=False)

    @_serialized
    def fetch_top_of_book(self, asset: str) -> TopOfBook:
        """The exchange's best bid and ask for ``asset`` now (public data, no keys needed),
        for feeding a paper venue from the live market."""
        top = self._markets.top_of_book(asset)
        symbol = self._markets.symbol(asset)
        if symbol is not None:
            self._reporter.commission_prices.note(symbol, (top.bid + top.ask) / 2.0)
        return top

    @_serialized
    def fetch_ticker_mids(self, assets: list[str]) -> dict[str, float] | None:
        """The bid/ask mid of each of ``assets`` from one tickers request (public data): one
        request where ``fetch_top_of_book`` takes one per asset. None when the exchange has no
        such request; an asset whose ticker states no bid or ask is left out (``Markets.ticker_mids``)."""
        mids = self._markets.ticker_mids(assets)
        for asset, mid in (mids or {}).items():
            symbol = self._markets.symbol(asset)
            if symbol is not None:
                self._reporter.commission_prices.note(symbol, mid)
        return mids

    # -- orders --------------------------------------------------------------------------

    @_serialized
    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        require_order(order)
        self.submitted += 1
        if self._streamed is not None:
            self._start_stream()
            refusal = self._streamed.entry_refusal(order)
            if refusal is not None:
                return [refusal]
        return self._orders.submit(order)

    @_serialized
    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        require_order(order, "cancel")
        return self._orders.cancel(order)

    @_serialized
    def watch(self, order: VenueOrder, seen_event_ids: Container[str] | None = None) -> None:
        """Follow ``order``, one the kernel works that this adapter has no record of (sent before
        a restart), in ``poll_events`` (``Orders.watch``). ``seen_event_ids``: the event ids the
        kernel applied in the order's slot (``TradeSlot.seen_event_ids``), by which the trades it
        booked are known. An asset this venue does not trade raises ValueError naming it."""
        require_order(order, "watch")
        self._orders.watch(order, seen_event_ids)

    @_serialized
    def trade_fills(
        self, order: VenueOrder, venue_order: VenueOrder, seen_event_ids: Container[str] | None = None
    ) -> list[VenueEvent]:
        """The fills of the kernel's ``order`` beyond what it booked, one per exchange trade with
        its fee, read up to ``venue_order``'s filled size (``Orders.trade_fills``): reconciliation
        books these before it books from ``order_status`` what they leave missing.
        ``seen_event_ids`` as ``watch`` takes them."""
        require_order(order, "trade_fills")
        require_order(venue_order, "trade_fills")
        return self._orders.trade_fills(order, venue_order, seen_event_ids)

    @_serialized
    def resume(self, seq: int) -> None:
        """Mark the ids this adapter makes itself (throttles, refusals) with ``seq``: the
        kernel recovered from its write-ahead log beside it calls this."""
        self._reporter.resume(seq)

    @_serialized
    def note_held_assets(self, assets: list[str]) -> None:
        """Take ``assets`` as names a kernel holds a position or works an order under (a kernel
        built over this venue calls this): an entry under another name of one of their markets
        is rejected before sending, so a restart does not give a market a second name."""
        self._markets.held_assets.update(assets)

    # -- asynchronous reports ------------------------------------------------------------

    @_serialized
    def poll_events(self) -> list[VenueEvent]:
        """Ask the exchange about every order still working (and every timed-out submit);
        returns new fills, cancels and expiries, each reported once (``Poller.poll``). With the
        user stream on: what it received, REST asked as its state needs (``StreamedPolling``)."""
        if self._streamed is not None:
            self._start_stream()
            return self._streamed.poll()
        return self._poller.poll()

    @_serialized
    def following(self) -> bool:
        """Whether ``poll_events`` still asks the exchange about an order: one working, or one
        it ended without a filled size (HTX's cancel: "cannot say"), asked about until the
        exchange says or the grace passes. A runtime polls while this is true, though the
        kernel has no order working: a fill that raced the cancel is reported from a poll."""
        return self._orders.following()

    @_serialized
    def unresolved_orders(self) -> list[str]:
        """Client order ids of orders whose fate is still unknown: timed-out submits, and orders
        from before a restart never seen acknowledged (``watch``, ``cancel``). Under the lock: a
        poll on another thread changes the records while they are read."""
        return self._orders.unresolved_orders()

    # -- account -------------------------------------------------------------------------

    @_serialized
    def open_orders(self) -> list[VenueOrder]:
        """Working orders on the exchange, for reconciliation. Orders this adapter did not
        send carry slot 0 and an empty trade id."""
        return self._account.open_orders()

    @_serialized
    def order_status(self, client_order_id: str, asset: str | None = None) -> VenueOrder | None:
        """The exchange's order sent for the kernel's ``client_order_id``, with its status, filled
        size, average fill price and exchange id; None only when the exchange says it has no
        such order in the markets asked (``asset``'s, else those it may be in); raises
        ``VenueUnavailable`` when it cannot say (``Account.order_status``)."""
        return self._account.order_status(client_order_id, asset)

    @_serialized
    def listed_venue_order_id(self, order: VenueOrder) -> str:
        """The venue order id under which ``open_orders`` and ``order_status`` list the kernel's
        ``order``: its exchange id qualified with its market (``Account.listed_venue_order_id``)."""
        return self._account.listed_venue_order_id(order)

    def listed_client_order_id(self, order: VenueOrder) -> str:
        """The client order id under which ``open_orders`` lists the kernel's ``order`` after a
        restart (this adapter has no record of it then): the id it went out under, a hash of
        the kernel's where the exchange's rules refuse that (``venue_client_id``). Without it,
        an order never acknowledged (no exchange id to be matched by) would be taken by
        reconciliation for one nobody manages, and canceled, when its lookup failed."""
        return self.venue_client_id(order.client_order_id, self.settings.exchange)

    @_serialized
    def position_asset(self, asset: str) -> str:
        """The name ``positions()`` gives the kernel's ``asset``: its market's id
        (``Account.position_asset``)."""
        return self._account.position_asset(asset)

    @_serialized
    def positions(self) -> dict[str, float]:
        """Signed position per market id (``Account.positions``)."""
        return self._account.positions()

    @_serialized
    def balances(self) -> dict[str, float]:
        return self._account.balances()

    @_serialized
    def wallet_balance(self, currency: str) -> float:
        """``currency``'s wallet balance, the open positions' unrealised PnL left out where the
        exchange's balance answer states it so (``Account.wallet_balance``)."""
        return self._account.wallet_balance(currency)

    @_serialized
    def unrealized_pnl(self) -> dict[str, float] | None:
        """The open futures positions' unrealised PnL per settlement currency, as the exchange
        states it; None when a position states none (``Account.unrealized_pnl``)."""
        return self._account.unrealized_pnl()

    def balance_leaves_out_unrealized_pnl(self) -> bool:
        """Whether ``balances()`` is the futures wallet alone, without the open positions'
        unrealised PnL, as ccxt reads it on Bybit and Gate (a linear venue there)."""
        return self.settings.market_type == "linear" and futures_balance_is_wallet_alone(
            type(self._client.exchange)
        )
