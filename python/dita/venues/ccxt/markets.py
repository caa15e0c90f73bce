"""The exchange's markets as the venue trades them: which are loaded (spot, or linear contracts of
one base unit), each market's rules (lot step, tick size, minimums) and filters (``filters``), the
``markets`` setting, an order's size and price checked against the exchange's rounding, the top
of a market's book, and the mids of many markets' tickers."""

from __future__ import annotations

import logging
import math
import re
from typing import Any, NamedTuple

from dita._kernel import OrderType, VenueOrder
from dita.risk import KERNEL_MIN_STEP, MarketLimits
from dita.venues.ccxt.answers import number, trade_ms
from dita.venues.ccxt.client import ExchangeClient
from dita.venues.ccxt.filters import MarketFilters, market_filters
from dita.venues.ccxt.tracking import sum_error
from dita.venues.protocol import VenueUnavailable

__all__ = ["Markets", "TopOfBook", "market_limits"]

log = logging.getLogger("dita.venues.ccxt")

# An exchange's refusal of an order by a market rule: Binance's -1013 "Filter failure: LOT_SIZE".
_FILTER_FAILURE_RE = re.compile(r'"code"\s*:\s*-1013\b|filter failure', re.IGNORECASE)

_RELOAD_RETRY_S = 60.0
"""After a reload that failed, how long until the next try (each costs a request of weight 20
at Binance)."""

_MAX_PLACES = 300
"""The most decimal places (either way) a market's precision may give: 10.0 ** 309 is past a float."""


def market_limits(market: dict[str, Any], precision_mode: int, ccxt: Any) -> MarketLimits:
    """A ccxt market's trading rules. ccxt states a market's precision as a step
    (``TICK_SIZE``, most exchanges), a number of decimal places (``DECIMAL_PLACES``) or of
    significant digits (``SIGNIFICANT_DIGITS``: bitfinex, bithumb); the last has no fixed
    step, so the kernel rounds nothing there and the exchange's own rounding is checked at
    submit. Read as a step, a count of digits would round 0.3 BTC down to nothing (or 12 to
    10 with a precision of 5). A figure that is not a number is a ValueError naming it."""
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}

    def step(value: Any, field_name: str) -> float:
        if value is None:
            return 0.0
        if precision_mode == ccxt.TICK_SIZE:
            found = _market_figure(market, field_name, value)
        elif precision_mode == ccxt.DECIMAL_PLACES:
            places = int(_market_figure(market, field_name, value))
            if not -_MAX_PLACES <= places <= _MAX_PLACES:  # past them 10.0 ** places overflows
                raise ValueError(
                    f"market {market.get('id')!r} field {field_name!r}: {value!r} decimal places is "
                    f"outside -{_MAX_PLACES}..{_MAX_PLACES}"
                )
            found = 10.0**-places
        else:
            return 0.0
        # Finer than the kernel takes (18 decimal places): a float holds no such digits of a
        # size or price anyway, so the kernel rounds nothing and the exchange's own rounding
        # is checked at submit, as for significant digits.
        return 0.0 if 0 < found < KERNEL_MIN_STEP else found

    return MarketLimits(
        lot_step=step(precision.get("amount"), "precision.amount"),
        tick_size=step(precision.get("price"), "precision.price"),
        min_qty=_market_figure(market, "limits.amount.min", (limits.get("amount") or {}).get("min")),
        min_notional=_market_figure(market, "limits.cost.min", (limits.get("cost") or {}).get("min")),
    )


def _round_prices_where_the_tick_rule_is_off(market: dict[str, Any], precision_mode: int, ccxt: Any) -> None:
    """Give ccxt the quote currency's precision as the price step of ``market`` when its tick
    rule is off (Binance: a tickSize of 0 "disables that rule"; ccxt's precision.price is 0),
    so its rounding of an order's price, which asserts on a step of 0, sends the order. The
    kernel's tick size stays 0 (``market_limits``, read before): it rounds no price."""
    precision = market.get("precision")
    if precision_mode != ccxt.TICK_SIZE or not isinstance(precision, dict) or precision.get("price") != 0:
        return
    quote_step = number(precision.get("quote"))
    if math.isfinite(quote_step) and quote_step > 0:
        precision["price"] = quote_step


def _market_figure(market: dict[str, Any], field_name: str, value: Any) -> float:
    """``value``, the figure ``field_name`` of a ccxt ``market``, as a number (0 when absent); a
    ValueError naming the market, the field and the value when it is not a finite one (float()
    alone raises a bare "could not convert string to float", or OverflowError for ``10**400``)."""
    figure = number(value)
    if not math.isfinite(figure):
        raise ValueError(f"market {market.get('id')!r} field {field_name!r}: {value!r} is not a number")
    return figure


class TopOfBook(NamedTuple):
    """Best bid and ask, in ``PaperVenue.on_quote``'s argument order: ``paper.on_quote(*top)``."""

    asset: str
    bid: float
    ask: float
    bid_size: float
    ask_size: float
    ts: float


class Markets:
    """The markets the venue trades, loaded from the exchange on first use: an asset (a market id,
    ``BTCUSDT``, or a ccxt symbol, ``BTC/USDT``) to its ccxt symbol, and each market's rules."""

    def __init__(self, client: ExchangeClient, market_type: str, account_currency: str | None = None) -> None:
        self._client = client
        self._market_type = market_type
        # The currency the kernel's capital is counted in (the setting); None: the markets setting's.
        self._account_currency = account_currency
        # The quote (spot) or settle (futures) currencies of the markets entered in this process.
        self._entered_currencies: set[str] = set()
        # Each market id and symbol to its ccxt symbol.
        self.asset_symbols: dict[str, str] = {}
        self.limits: dict[str, MarketLimits] = {}
        # Each market's filters the kernel does not check (``filters``), by ccxt symbol.
        self.filters: dict[str, MarketFilters] = {}
        # Futures markets left out for their contract size (see load), by id and symbol.
        self.contract_markets: dict[str, float] = {}
        # The symbols of the markets setting, in its order; None: every market served.
        self.trade_symbols: list[str] | None = None
        # The markets orders went to in this process: an order's status is asked there first.
        self.assets_traded: set[str] = set()
        # The asset name each market (ccxt symbol) was first entered under in this process.
        self.entered_as: dict[str, str] = {}
        # The assets a kernel built over the venue holds a position or works an order in
        # (``note_held_assets``): after a restart they fix each market's name.
        self.held_assets: set[str] = set()
        # The clock's time the rules were loaded at (None: not yet).
        self.loaded_at: float | None = None
        self._reload_failed_at: float | None = None
        self._refusal_reload_at: float | None = None

    def load(self, reload: bool = False) -> dict[str, MarketLimits]:
        """Load the exchange's markets; returns each market's trading rules, under its id and
        its ccxt symbol. A futures
        market whose contract is not one unit of the base currency (OKX's BTC swap is 0.01
        BTC) is left out: ccxt counts its amounts in contracts, and the kernel's sizes are
        base units, so an order would go out at the wrong size. A market figure that is not a
        number is a RuntimeError naming the market, the field and the value; nothing is loaded.
        An exchange that cannot be asked (unreachable, throttling, an error answer) raises
        ``VenueUnavailable``."""
        if self.asset_symbols and not reload:
            return dict(self.limits)
        client = self._client
        try:
            markets = client.exchange.load_markets(reload)
        except client.throttle_errors as exc:
            # A throttle or a ban on the markets request holds every request after it too.
            client.note_throttle(exc)
            said = client.error_text(exc)
            raise VenueUnavailable(f"{client.name}: load_markets throttled: {said}") from None
        except client.ccxt.BaseError as exc:
            # Re-raised without the original so no URL with a signature rides along in __cause__.
            raise VenueUnavailable(f"{client.name}: load_markets failed: {client.error_text(exc)}") from None
        want_spot = self._market_type == "spot"
        symbols: dict[str, str] = {}
        limits: dict[str, MarketLimits] = {}
        filters: dict[str, MarketFilters] = {}
        contracts: dict[str, float] = {}
        try:
            for symbol, market in markets.items():
                if bool(market.get("spot")) != want_spot or (not want_spot and not market.get("linear")):
                    continue
                market_id = str(market["id"])
                contract_size = (
                    1.0
                    if want_spot
                    else _market_figure(market, "contractSize", market.get("contractSize") or 1.0)
                )
                if contract_size != 1.0:
                    contracts[market_id] = contracts[symbol] = contract_size
                    continue
                symbols[market_id] = symbol
                symbols[symbol] = symbol
                # Under both names: the kernel finds a market's rules by the asset's text.
                limits[market_id] = limits[symbol] = market_limits(
                    market, client.exchange.precisionMode, client.ccxt
                )
                filters[symbol] = market_filters(market)
                _round_prices_where_the_tick_rule_is_off(market, client.exchange.precisionMode, client.ccxt)
        except ValueError as exc:
            # A figure that is not a number: nothing is loaded, and a submit is rejected naming it.
            raise RuntimeError(f"{client.name}: load_markets failed: {exc}") from None
        self.asset_symbols = symbols
        self.limits = limits
        self.filters = filters
        self.contract_markets = contracts
        self.loaded_at = client.clock()
        return dict(limits)

    def reload_if_due(self, every_s: float) -> None:
        """Load the rules again when ``every_s`` (the ``market_rules_reload_s`` setting; 0: never)
        has passed since they were loaded: an exchange changes a market's tick or lot, and
        orders on the old ones would be refused. A reload that fails keeps the rules loaded,
        with a warning, and is tried again a minute later, not at every submit."""
        now = self._client.clock()
        if every_s <= 0 or self.loaded_at is None or now - self.loaded_at < every_s:
            return
        if self._reload_failed_at is not None and now - self._reload_failed_at < _RELOAD_RETRY_S:
            return
        self.reload(f"they were loaded {now - self.loaded_at:.0f}s ago")

    def reload_on_refusal(self, error: str) -> bool:
        """Load the rules again when ``error`` (the exchange's refusal of an order) is a filter
        failure: the rule it broke may be one the exchange changed. At most once a minute, as
        a strategy refused at every order would otherwise reload at every order, and a reload
        weighs as much as twenty orders. Whether it reloaded."""
        if not _FILTER_FAILURE_RE.search(error) or self._client.throttled():
            return False
        now = self._client.clock()
        if self._refusal_reload_at is not None and now - self._refusal_reload_at < _RELOAD_RETRY_S:
            return False
        self._refusal_reload_at = now
        return self.reload("the exchange refused an order by a filter")

    def reload(self, why: str) -> bool:
        """Load the rules again (``why`` goes in the log); whether that worked."""
        try:
            self.load(reload=True)
        except RuntimeError as exc:
            self._reload_failed_at = self._client.clock()
            log.warning("%s: market rules not reloaded (%s): %s; the rules loaded before stand",
                        self._client.name, why, exc)  # fmt: skip
            return False
        self._reload_failed_at = None
        log.info("%s: market rules reloaded: %s", self._client.name, why)
        return True

    def checked_symbols(self, markets: list[str], *, closing: bool = True) -> list[str]:
        """The symbols of ``markets`` (the markets setting); a market the exchange does not have
        is refused now, not at the first order (this loads the markets), the client closed when
        ``closing`` (the venue being built is never used)."""
        self.load()
        refusal = self._markets_refusal(markets)
        if refusal:
            if closing:
                self._client.close()
            raise ValueError(f"markets: {refusal}")
        return list(dict.fromkeys(self.asset_symbols[m] for m in markets))

    def _markets_refusal(self, markets: list[str]) -> str:
        if not markets:
            return "names no market"
        refused = [self.contract_refusal(m) for m in markets if m in self.contract_markets]
        if refused:
            return refused[0]
        unknown = [m for m in markets if m not in self.asset_symbols]
        if unknown:
            return (
                f"{', '.join(map(repr, unknown))} not among {self._client.name}'s markets "
                "(give market ids like 'BTCUSDT' or ccxt symbols like 'BTC/USDT')"
            )
        currencies = {m: self.currency(self.asset_symbols[m]) for m in markets}
        counted = set(currencies.values()) | ({self._account_currency} if self._account_currency else set())
        if len(counted) > 1:
            named = ", ".join(f"{m!r} in {c}" for m, c in currencies.items())
            setting = f" and account_currency {self._account_currency!r}" if self._account_currency else ""
            return (
                f"the kernel counts its capital, PnL, fees and caps in one currency, and these markets' "
                f"{self._currency_key} currencies{setting} differ: {named}; trade one currency's markets"
            )
        return ""

    @property
    def _currency_key(self) -> str:
        return "quote" if self._market_type == "spot" else "settle"

    def currency(self, symbol: str) -> str:
        """The currency ``symbol``'s market counts money in: its quote (spot) or settle currency
        (futures), in which its fills' PnL, fees and notionals reach the kernel."""
        return str(self._client.exchange.market(symbol).get(self._currency_key) or "")

    def currency_refusal(self, order: VenueOrder, symbol: str) -> str:
        """Why an entry of ``order`` in ``symbol``'s market is refused for its currency ('' when it
        is not): the kernel adds its PnL, fees and notional to a capital counted in one currency,
        the ``account_currency`` setting (the ``markets`` setting's one is checked when the venue
        is built). Without either, kernels of different currencies may share the venue, so no
        entry is refused for it (``note_entry_currency`` warns). Exits go out in any currency,
        so a position is never kept from closing."""
        if not order.is_entry or not self._account_currency:
            return ""
        currency = self.currency(symbol)
        if currency == self._account_currency:
            return ""
        return (
            f"asset {order.asset!r} is the market {symbol}, whose {self._currency_key} currency is "
            f"{currency}; the kernel counts its capital in {self._account_currency} (the account_currency "
            f"setting), and would add this market's PnL, fees and notional to it as {self._account_currency}"
        )

    def note_entry_currency(self, order: VenueOrder, symbol: str) -> None:
        """A WARNING, once per currency, when an entry goes to a market of another currency than
        the markets entered before in this process: a kernel counting its capital in one would
        add this market's PnL, fees and notional to it as that one, and nothing refuses it."""
        currency = self.currency(symbol)
        if currency in self._entered_currencies:
            return
        self._entered_currencies.add(currency)
        if len(self._entered_currencies) > 1:
            log.warning(
                "%s: entries go to markets of more than one %s currency (%s; %r, the market %s, is "
                "in %s): a kernel counts its capital, PnL, fees and caps in one; set account_currency "
                "or the markets setting to refuse entries in another",
                self._client.name, self._currency_key, ", ".join(sorted(self._entered_currencies)),
                order.asset, symbol, currency,
            )  # fmt: skip

    def contract_refusal(self, market: str) -> str:
        """Why ``market`` is not traded here when its contract is not one base unit ('' else)."""
        size = self.contract_markets.get(market)
        if size is None:
            return ""
        return (
            f"{market!r} on {self._client.name} is traded in contracts of {size!r} base units; dita's "
            "sizes are base units, so only markets with a contract size of 1 are traded"
        )

    def symbol(self, asset: str) -> str | None:
        """The ccxt symbol of ``asset``; None when it is no market of this venue."""
        self.load()
        return self.asset_symbols.get(asset)

    def second_name_refusal(self, order: VenueOrder, symbol: str) -> str:
        """Why an entry of ``order`` under another asset name than the one ``symbol``'s market
        is traded under here is refused ('' when it is not): the name an entry went under in
        this process, else one a kernel holds it under (``held_assets``, which a restart keeps).
        Under a second name the kernel would give the market a second per-asset cap and a
        second position. Exits go under any name."""
        if not order.is_entry:
            return ""
        first = self.entered_as.get(symbol)
        if first is None:
            held = sorted(a for a in self.held_assets if self.asset_symbols.get(a) == symbol)
            if not held or order.asset in held:
                return ""
            first = held[0]
        if first == order.asset:
            return ""
        return (
            f"asset {order.asset!r} is the market {symbol} on {self._client.name}, traded here as {first!r}: "
            f"the kernel keeps a per-asset cap and a position for each asset name, so enter it as {first!r}"
        )

    def market_id(self, symbol: str) -> str:
        return str(self._client.exchange.market(symbol)["id"])

    def trades_market_id(self, market_id: str) -> bool:
        """Whether this venue trades the market the exchange names ``market_id``: one of the
        markets setting, or, without it, any market it serves."""
        symbols = self.trade_symbols
        if symbols is None:
            return market_id in self.asset_symbols
        return self.asset_symbols.get(market_id) in symbols

    def markets_to_search(self) -> list[str]:
        """The symbols of the markets this venue trades (the markets setting, else every one it
        serves), those traded in this process first."""
        self.load()
        served = self.trade_symbols or sorted(set(self.asset_symbols.values()))
        traded = {self.asset_symbols[a] for a in self.assets_traded if a in self.asset_symbols}
        return sorted(traded) + [symbol for symbol in served if symbol not in traded]

    def precision_refusal(self, order: VenueOrder, symbol: str) -> str:
        """Why the order is off the market's lot or tick ('' when it is on them)."""
        exchange = self._client.exchange
        checks = [("size", order.size, exchange.amount_to_precision)]
        if order.order_type == OrderType.LIMIT:
            checks.append(("price", order.price, exchange.price_to_precision))
        for label, value, to_precision in checks:
            if not math.isfinite(value) or value <= 0:
                return f"{label} must be positive and finite, got {value!r}"
            try:
                exchange_value = float(to_precision(symbol, value))
            except Exception as exc:
                # Not only ccxt's refusals: a market that states no precision fails ccxt's own
                # check (an AssertionError), and raised out of submit, an order that never left
                # would stay in flight in the kernel, followed by nobody.
                return f"{label} {value!r} refused for {symbol}: {self._client.error_text(exc)}"
            # A size within float error of the lot: the trades' sums are held to the order's
            # size within it (``sum_error``), so a size the exchange rounds by more (1000.0000009
            # on a lot of 1 goes out as 1000) would fill whole and read as a fill short of it.
            off = abs(exchange_value - value)
            if off > (sum_error(value) if label == "size" else value * 1e-9):
                rule = "lot step" if label == "size" else "tick size"
                return (
                    f"{label} {value!r} is not on {symbol}'s {rule} "
                    f"(the exchange would take {exchange_value!r}); round it before sending"
                )
        return ""

    def filter_refusal(self, order: VenueOrder, symbol: str, working_orders: int) -> str:
        """Why the exchange would refuse ``order`` by one of ``symbol``'s filters ('' when it
        would not; ``MarketFilters.refusal``)."""
        found = self.filters.get(symbol)
        return found.refusal(order, working_orders) if found is not None else ""

    def ticker_mids(self, assets: list[str]) -> dict[str, float] | None:
        """The bid/ask mid of each of ``assets`` from one tickers request (public data); None
        when the exchange has no such request (ccxt's ``has["fetchTickers"]``). An asset that is
        no market here, or whose ticker states no bid or no ask, is left out: its book is asked
        instead. A request that fails raises ``VenueUnavailable``."""
        if not self._client.exchange.has.get("fetchTickers"):
            return None
        symbols = {asset: self.symbol(asset) for asset in assets}
        wanted = sorted({symbol for symbol in symbols.values() if symbol is not None})
        tickers = self._client.account_call("fetch_tickers", wanted) if wanted else {}
        mids: dict[str, float] = {}
        for asset, symbol in symbols.items():
            ticker = tickers.get(symbol) if symbol is not None and isinstance(tickers, dict) else None
            if not isinstance(ticker, dict):
                continue
            bid, ask = number(ticker.get("bid")), number(ticker.get("ask"))
            # Binance states "0.00000000" for the side of an empty book.
            if math.isfinite(bid) and math.isfinite(ask) and bid > 0 and ask > 0:
                mids[asset] = (bid + ask) / 2
        return mids

    def top_of_book(self, asset: str) -> TopOfBook:
        """The exchange's best bid and ask for ``asset`` now (public data, no keys needed)."""
        name = self._client.name
        symbol = self.symbol(asset)
        if symbol is None:
            raise ValueError(f"unknown asset {asset!r} on {name}")
        book = self._client.account_call("fetch_order_book", symbol, 5)
        bids, asks = book.get("bids") or [], book.get("asks") or []
        if not bids or not asks:
            raise ValueError(f"{name}: the {symbol} book has no bid or no ask")

        def figure(side: str, level: Any, index: int) -> float:
            # A None or text there would raise a bare TypeError, and a NaN go on into the quote.
            field_name = f"{side}[0][{index}]"
            value = level[index] if isinstance(level, (list, tuple)) and len(level) > index else None
            found = number(value) if value is not None else math.nan
            if not (math.isfinite(found) and (found > 0 if index == 0 else found >= 0)):
                what = "price" if index == 0 else "size"
                raise ValueError(
                    f"{name}: the {symbol} book's {field_name} ({side[:-1]} {what}): {value!r} "
                    f"is not a {'positive' if index == 0 else 'non-negative'} number"
                )
            return found

        ms = trade_ms(book)  # the book's time; the clock's when it gives none that is a time
        return TopOfBook(
            asset,
            figure("bids", bids[0], 0),
            figure("asks", asks[0], 0),
            figure("bids", bids[0], 1),
            figure("asks", asks[0], 1),
            ms / 1000.0 if ms is not None else self._client.clock(),
        )
