"""CcxtVenue's settings: the options it is built with, the API keys it reads from the
environment, the ccxt options of its market type, and each exchange's rules for client order ids.

Exchange-specific tables here and in the other modules of this package are looked up by the
exchange's ccxt lineage (``by_lineage``): an exchange ccxt derives from another speaks its API.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from typing import Any, Literal, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dita._numbers import Count, Number, OptionalNumber
from dita.venues._settings import VenueName

__all__ = [
    "CcxtSettings",
    "Credentials",
    "any_market_params",
    "by_lineage",
    "check_market_type_option",
    "lineage",
    "market_type_options",
    "read_credentials",
    "venue_client_id",
]

# ccxt options the adapter's guarantees rest on, and why a user's value for them is refused.
# ccxt reads each at the top of its options and inside a method's (``{"createOrder": {...}}``).
_RESEND = "ccxt would resend a request that failed on the network, and a resent order is a second order"
_COST = (
    "ccxt would send a spot market buy's amount as the cost to spend in quote currency, and "
    "dita's sizes are base units"
)
_UNSAFE_OPTIONS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "maxRetriesOnFailure": (lambda v: v not in (None, 0), _RESEND),
    "createMarketBuyOrderRequiresPrice": (lambda v: v is not None and not v, _COST),
    "defaultCreateMarketBuyOrderRequiresPrice": (lambda v: v is not None and not v, _COST),
    "tgtCcy": (lambda v: v == "quote_ccy", _COST),  # OKX's unit of a spot market buy's amount
}


class CcxtSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    exchange: str = Field(default="binance", min_length=1, description="ccxt exchange id")
    market_type: Literal["spot", "linear"] = Field(
        default="spot", description="spot, or linear (USD-M) perpetual futures"
    )
    name: VenueName | None = Field(default=None, description="venue name; default '<exchange>-<market_type>'")
    api_key_env: str = Field(default="DITA_CCXT_API_KEY", min_length=1)
    secret_env: str = Field(default="DITA_CCXT_SECRET", min_length=1)
    password_env: str | None = Field(default=None, description="for exchanges that need a passphrase")
    sandbox: bool = Field(default=False, description="use the exchange's testnet URLs")
    base_url: str | None = Field(
        default=None,
        description="send every API request to this scheme://host[:port] instead (a proxy or a "
        "recorded-exchange server); paths are kept",
    )
    timeout_ms: Count = Field(default=10_000, gt=0, description="HTTP timeout of one request")
    rate_limit_ms: OptionalNumber = Field(
        default=None, gt=0, description="ccxt's minimum spacing of requests; None keeps ccxt's value"
    )
    default_retry_after_s: Number = Field(
        default=1.0, gt=0, description="pause after a throttling answer that carries no Retry-After"
    )
    resolve_attempts: Count = Field(
        default=2, ge=1, description="lookups by client id after a timed-out submit"
    )
    resolve_delay_ms: Number = Field(default=250.0, ge=0, description="pause between those lookups")
    unknown_order_grace_s: Number = Field(
        default=30.0,
        gt=0,
        description="after a timed-out submit, how long the venue must keep saying 'no such order' "
        "(from its first such answer; lookups it did not answer do not count) before the order is "
        "reported rejected; of an order it acknowledged (purged), or one it says closed without "
        "stating its filled size or amount whose trades do not show all of it, before its end is "
        "reported with its filled size unknown",
    )
    missing_trades_wait_s: Number = Field(
        default=60.0,
        gt=0,
        description="how long an order the exchange says filled more than its trade list shows is "
        "asked about for those trades; then the rest is booked as one fill from the order's own "
        "filled size and average price (else its limit price, else its reference price; fee left "
        "to the kernel's model; with no price known, left owed to the kernel) and the order is "
        "asked about no more",
    )
    market_rules_reload_s: Number = Field(
        default=3600.0,
        ge=0,
        description="how often the markets' rules (lot, tick, filters) are loaded again, at the next "
        "submit once this long has passed; 0: only on a filter failure the exchange answers "
        "(Binance's -1013), which reloads them always",
    )
    markets: list[str] | None = Field(
        default=None,
        min_length=1,
        description="the markets (ids or ccxt symbols) this venue trades: orders for others are "
        "refused, and order_status after a restart searches only these; None: every market of the "
        "market_type. Checked against the exchange's markets at construction",
    )
    user_stream: bool = Field(
        default=False,
        description="learn fills, order updates, balances and (futures) positions from the exchange's "
        "user-data stream (ccxt.pro's websocket API; Binance spot and USD-M futures), REST polling "
        "kept while it is down and as the repair of what it lost",
    )
    account_currency: str | None = Field(
        default=None,
        min_length=1,
        description="the currency the kernel's capital is counted in, whose balance the user stream "
        "gives the kernel as account events, and every market entered is quoted (spot) or settled "
        "(futures) in; None: the markets setting's, and without that setting no account events "
        "and entries in markets of any currency",
    )
    user_stream_heartbeat_s: Number = Field(
        default=60.0,
        gt=0,
        description="no frame (the exchange's pings included) for this long: the stream is down",
    )
    user_stream_backoff_s: Number = Field(
        default=0.5, gt=0, description="the first wait before dialling the stream again; doubles per failure"
    )
    user_stream_backoff_max_s: Number = Field(default=30.0, gt=0, description="the longest such wait")
    user_stream_rest_sweep_s: Number = Field(
        default=60.0,
        gt=0,
        description="while the stream is up, how often (by the venue's clock) every order followed is "
        "asked about by REST, which recovers a frame the exchange never sent; also the longest a "
        "reconnect stays reconciling, entries refused, over orders the exchange gives no answer about",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="extra ccxt options; those that would resend orders or read a market buy's "
        "amount as a cost are refused",
    )

    @field_validator("options")
    @classmethod
    def _safe_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        places = list(options.items()) + [
            (f"{k}.{name}", value)
            for k, nested in options.items()
            if isinstance(nested, dict)
            for name, value in nested.items()
        ]
        for key, value in places:
            unsafe = _UNSAFE_OPTIONS.get(key.rsplit(".", 1)[-1])
            if unsafe is not None and unsafe[0](value):
                raise ValueError(f"{key}={value!r} refused: {unsafe[1]}")
        return options


# -- API keys ---------------------------------------------------------------------------


class Credentials(NamedTuple):
    """The API keys named by the settings, as the environment holds them ('' where unset)."""

    api_key: str
    secret: str
    password: str

    def redacted_forms(self) -> list[str]:
        """Every form in which a message may show a credential: as read, and as ccxt's request
        log (a dict's repr) and a JSON body show it, where a backslash or quote (a passphrase
        may hold any) comes out escaped. Longest first, so a form is scrubbed whole before a
        shorter one it contains."""
        values = [v for v in self if v]
        forms = {f for v in values for f in (v, repr(v)[1:-1], json.dumps(v)[1:-1])}
        return sorted(forms, key=len, reverse=True)


def read_credentials(settings: CcxtSettings) -> Credentials:
    """The API key, secret and passphrase (with ``password_env``) from the environment."""
    password = _env(settings.password_env) if settings.password_env else ""
    return Credentials(_env(settings.api_key_env), _env(settings.secret_env), password)


def _env(variable: str) -> str:
    # Without the whitespace around it: a key kept in a file often ends with a newline, which
    # breaks every request it signs, and ccxt's request log shows it escaped ('...\\n'), so
    # scrubbing the value as read would miss it.
    return os.environ.get(variable, "").strip()


# -- exchange lineage ---------------------------------------------------------------------

_T = TypeVar("_T")


def lineage(exchange_class: Any) -> list[str]:
    """The names of a ccxt exchange class and of those it derives from (``binanceusdm``,
    ``binance``, ...): an exchange ccxt derives from another speaks its API."""
    return [c.__name__ for c in getattr(exchange_class, "__mro__", ())]


def by_lineage(exchange_class: Any, table: dict[str, _T]) -> _T | None:
    """The entry of ``table`` for the exchange of ``exchange_class`` or the nearest one ccxt
    derives it from; None when there is none."""
    for name in lineage(exchange_class):
        if name in table:
            return table[name]
    return None


# Exchanges whose futures balance ccxt reads as the wallet alone, without the open positions'
# unrealised PnL (Bybit's coin ``walletBalance``, a Gate classic account's futures ``total``, which
# Gate states beside its ``unrealised_pnl``; a unified account's is refused, ``Account.balances``);
# Binance's is its margin balance, which has it.
WALLET_ONLY_FUTURES_BALANCES: tuple[str, ...] = ("bybit", "gate")


def futures_balance_is_wallet_alone(exchange_class: Any) -> bool:
    """Whether ccxt reads the futures balance of the exchange of ``exchange_class`` (or of the one
    ccxt derives it from: Bybit's ``bybiteu``, Gate's ``gateeu``) without the positions'
    unrealised PnL."""
    return any(name in WALLET_ONLY_FUTURES_BALANCES for name in lineage(exchange_class))


# -- market types -------------------------------------------------------------------------

# ccxt's market type per setting, and the market kinds fetched by load_markets (ccxt options).
_CCXT_TYPES: dict[str, dict[str, Any]] = {
    "spot": {"defaultType": "spot", "fetchMarkets": {"types": ["spot"]}},
    "linear": {"defaultType": "future", "fetchMarkets": {"types": ["linear"]}},
}
# Exchanges whose linear perpetuals ccxt fetches under other names. Gate's fetchMarkets types
# are spot, swap, future and option: asked for "linear" it loads no market, and its "future"
# is its dated delivery contracts. Its perpetuals are "swap", fetched per settle currency, and
# the USDT-settled ones are the linear ones (ccxt's default also fetches the BTC-settled).
# OKX's types are the same four, each sent as its instType, and "linear" is none of them. Its
# swaps hold the inverse ones too, which the markets' own `linear` flag leaves out.
_LINEAR_TYPES: dict[str, dict[str, Any]] = {
    "gate": {
        "defaultType": "swap",
        "fetchMarkets": {"types": ["swap"]},
        "swap": {"fetchMarkets": {"settlementCurrencies": ["usdt"]}},
    },
    "okx": {"defaultType": "swap", "fetchMarkets": {"types": ["swap"]}},
}


def market_type_options(settings: CcxtSettings, exchange_class: Any) -> dict[str, Any]:
    """The ccxt options that make ``exchange_class`` trade, and load, the settings' market type."""
    types = _CCXT_TYPES[settings.market_type]
    if settings.market_type == "linear":
        types = by_lineage(exchange_class, _LINEAR_TYPES) or types
    return types


def check_market_type_option(settings: CcxtSettings, exchange_class: Any) -> None:
    """ValueError naming the option and both values when ``settings.options`` set ccxt's
    ``defaultType`` (or ``type``, its other name at the top; in a method's options too) to another
    market type than the one ``market_type`` trades: every call naming no market (balances, open
    orders, the user stream's account) would ask that other market type's account."""
    wanted = market_type_options(settings, exchange_class)["defaultType"]
    options = settings.options
    places = [(key, options.get(key)) for key in ("defaultType", "type")] + [
        (f"{k}.defaultType", nested.get("defaultType"))
        for k, nested in options.items()
        if isinstance(nested, dict)
    ]
    for key, value in places:
        if value is not None and value != wanted:
            raise ValueError(
                f"options {key}={value!r} refused: market_type={settings.market_type!r} trades ccxt's "
                f"defaultType {wanted!r} on {settings.exchange}, and calls naming no market would ask "
                f"the {value!r} account"
            )


# Parameters that make a ccxt call naming no market ask for the settings' market type, by
# exchange, market type and ccxt method. Binance's fetchOpenOrders asks for spot orders when no
# market is named, whatever the defaultType option says (ccxt's default argument there wins over
# it): "future" is its type of USD-M futures. OKX's order and position lists hold every
# instrument type (spot, margin, swaps, dated futures, options) unless given one.
_ANY_MARKET_PARAMS: dict[str, dict[str, dict[str, dict[str, str]]]] = {
    "binance": {"linear": {"fetch_open_orders": {"type": "future"}}},
    "okx": {
        "spot": {"fetch_open_orders": {"instType": "SPOT"}},
        "linear": {"fetch_open_orders": {"instType": "SWAP"}, "fetch_positions": {"instType": "SWAP"}},
    },
}


def any_market_params(settings: CcxtSettings, exchange_class: Any, method: str) -> dict[str, Any]:
    """The parameters of ``method`` (a ccxt method of ``exchange_class``'s) called without a market
    that have it ask for the settings' market type; empty where ccxt asks for it already."""
    by_market_type = by_lineage(exchange_class, _ANY_MARKET_PARAMS) or {}
    return dict(by_market_type.get(settings.market_type, {}).get(method, {}))


# -- client order ids ---------------------------------------------------------------------

# Binance's rule for client order ids; ids outside it are replaced by a stable hash.
_CLIENT_ID_RE = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")
# Exchanges whose client order ids follow other rules than Binance's (above, used for the
# rest): OKX takes letters and digits only, up to 32; Bybit letters, digits, - and _, up to 36;
# Kraken free text up to 18 or a UUID;
# Gate "t-" then letters, digits, _ - and ., and ccxt refuses more than 28 in all (it adds the
# "t-" to an id not starting with "t", so "trend-1" would go out unprefixed and be refused).
# A kernel id (`<kernel_id>-<n>`) breaks OKX's and Gate's rules, so there every order goes out
# under the stable hash.
_CLIENT_ID_RULES = {
    "okx": (re.compile(r"^[A-Za-z0-9]{1,32}$"), "dita", 28),
    "bybit": (re.compile(r"^[A-Za-z0-9_-]{1,36}$"), "dita-", 31),
    "gate": (re.compile(r"^t-[A-Za-z0-9_.-]{1,26}$"), "t-", 26),
    # Kraken's cl_ord_id: free text up to 18, or a UUID (the hash goes out as a short one, 32 hex).
    "kraken": (re.compile(r"^[A-Za-z0-9_.:/-]{1,18}$"), "", 32),
}


def _client_id_rule(exchange: str) -> tuple[re.Pattern[str], str, int]:
    """The client order id rule of ``exchange``: its own, or that of the exchange ccxt derives
    it from (OKX's EEA and US sites ``myokx``, ``okxus``, Bybit's ``bybiteu``, ``bybitid``: the
    same API under another name, and Gate's ``gateeu``)."""
    import ccxt  # imported by the time an order goes out; only a bare call pays for it

    for name in lineage(getattr(ccxt, exchange, None)) or [exchange]:
        if name in _CLIENT_ID_RULES:
            return _CLIENT_ID_RULES[name]
    return _CLIENT_ID_RE, "dita-", 31


def venue_client_id(client_order_id: str, exchange: str = "binance") -> str:
    """The client order id sent to ``exchange`` (a ccxt exchange id): the kernel's when the
    exchange accepts it, else a stable hash of it (so a restart finds the same order again)."""
    rule, prefix, digits = _client_id_rule(exchange)
    if rule.match(client_order_id):
        return client_order_id
    return prefix + hashlib.sha256(client_order_id.encode()).hexdigest()[:digits]


def is_hashed_client_id(client_id: str, exchange: str = "binance") -> bool:
    """Whether ``client_id`` (as ``exchange`` lists it) has the form of a hash ``venue_client_id``
    sends there: its prefix and as many hex digits, whichever kernel sent it."""
    _rule, prefix, digits = _client_id_rule(exchange)
    return re.fullmatch(rf"{re.escape(prefix)}[0-9a-f]{{{digits}}}", client_id) is not None
