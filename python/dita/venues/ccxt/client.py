"""The venue's ccxt exchange client: built from the settings (keys from the environment, the
options the adapter's guarantees rest on, a base URL or the testnet), every message it produces
scrubbed of credentials, the throttle or ban the exchange asked for, which every request waits
out, and the clock requests are signed by, synced with the exchange's."""

from __future__ import annotations

import datetime
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from dita.logs import register_secret
from dita.venues.ccxt.errors import (
    BAN_STATUS,
    MAX_BAN_S,
    MAX_RETRY_AFTER_S,
    AnsweredWait,
    answered_wait,
    clock_refused,
    http_status,
    outcome_unknown,
    retry_after_seconds,
    throttle_errors,
)
from dita.venues.ccxt.settings import CcxtSettings, by_lineage, market_type_options, read_credentials
from dita.venues.protocol import VenueUnavailable

__all__ = ["ExchangeClient", "pointed_at", "pro_exchange"]

log = logging.getLogger("dita.venues.ccxt")

_SIGNATURE_RE = re.compile(r"(signature=)[0-9A-Za-z%+/=_-]+")

# Exchanges that refuse a signed request whose timestamp is off their clock (Binance's -1021,
# ``errors.clock_refused``): ccxt syncs its clock with theirs (their server time) at each markets
# load when asked to (``adjustForTimeDifference``), and the adapter syncs it again on a refusal.
_SYNCS_CLOCK = {"binance": True}


class _RedactingFilter(logging.Filter):
    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redact(record.getMessage())
        record.args = None
        return True


def _scrub_signatures(text: str) -> str:
    return _SIGNATURE_RE.sub(r"\1***", text)


def _guard_http_log() -> None:
    """urllib3 logs each request line, signed query string included, at DEBUG; scrub the
    signatures there too (once per process)."""
    http_log = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _RedactingFilter) for f in http_log.filters):
        http_log.addFilter(_RedactingFilter(_scrub_signatures))


def pointed_at(urls: dict[str, Any], base_url: str) -> dict[str, Any]:
    """``urls`` (a ccxt exchange's ``urls["api"]``) with every http(s) and ws(s) address sent to
    ``base_url``'s host, paths kept; a websocket address takes ``ws`` for ``http`` and ``wss``
    for ``https``: how a test or a proxy stands in for the exchange."""
    target = urlsplit(base_url)

    def rewrite(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        if isinstance(value, str) and value.startswith(("http://", "https://", "ws://", "wss://")):
            parts = urlsplit(value)
            scheme = target.scheme
            if parts.scheme in ("ws", "wss"):
                scheme = "wss" if target.scheme == "https" else "ws"
            return urlunsplit((scheme, target.netloc, parts.path, parts.query, parts.fragment))
        return value

    rewritten: dict[str, Any] = rewrite(urls)
    return rewritten


def pro_exchange(
    settings: CcxtSettings,
    heartbeat_s: float,
    observe: Callable[[Any, Any, float], None],
    stream: str,
    *,
    keys: dict[str, str] | None = None,
    options: dict[str, Any] | None = None,
) -> Any:
    """A ccxt.pro exchange of ``settings`` (with ``keys``, else public; ``options`` over the
    settings' own), pointed at ``settings.base_url`` when given, that calls ``observe(exchange,
    message, received)`` after ccxt handles each frame. ccxt's own pings, answered by the
    exchange, come every third of ``heartbeat_s``, so a quiet market still feeds the heartbeat.
    ``stream`` names it (``binance-spot user stream``) in the warning for a frame ``observe``
    could not read."""
    import ccxt.pro  # deferred, as ccxt is: only live runs with a stream need it

    exchange_class = getattr(ccxt.pro, settings.exchange)
    heartbeat_ms = int(heartbeat_s * 1000)
    exchange: Any = exchange_class(
        {
            **(keys or {}),
            "enableRateLimit": True,
            "timeout": settings.timeout_ms,
            "streaming": {"keepAlive": max(heartbeat_ms // 3, 1)},
            "options": {
                **market_type_options(settings, exchange_class),
                "fetchCurrencies": False,
                "fetchMargins": False,
                **settings.options,
                **(options or {}),
            },
        }
    )
    if settings.sandbox:
        exchange.set_sandbox_mode(True)
    if settings.base_url is not None:
        urls = dict(exchange.urls)
        urls["api"] = pointed_at(urls["api"], settings.base_url)
        exchange.urls = urls
    handled = exchange.handle_message

    def observed(client: Any, message: Any) -> None:
        received = time.time()
        handled(client, message)
        try:
            observe(exchange, message, received)
        except Exception as exc:
            # Raised into ccxt, it would break the connection's receive loop.
            log.warning("%s: a frame could not be read: %s", stream, exc)

    exchange.handle_message = observed
    rest_answered = exchange.on_rest_response

    def on_rest_response(code: Any, *args: Any) -> Any:
        # ccxt's async errors carry no HTTP status: the throttle reads it here (``note_throttle``).
        exchange.last_http_status = code
        return rest_answered(code, *args)

    exchange.on_rest_response = on_rest_response
    return exchange


class ExchangeClient:
    """One ccxt exchange client and what every request to it shares: the credentials scrubbed
    from messages (``redact``, ``error_text``) and the throttle (``throttled``, ``note_throttle``).
    ``exchange`` is ccxt's object; the venue's parts call its methods directly."""

    def __init__(self, settings: CcxtSettings, name: str, ccxt: Any, clock: Callable[[], float]) -> None:
        self.ccxt = ccxt
        self.name = name
        self.clock = clock
        self._default_retry_after_s = settings.default_retry_after_s
        credentials = read_credentials(settings)
        self._secrets = credentials.redacted_forms()
        register_secret(*self._secrets)  # scrubbed from every log line, the libraries' too
        config: dict[str, Any] = {
            "enableRateLimit": True,
            "timeout": settings.timeout_ms,
            "options": {
                **market_type_options(settings, getattr(ccxt, settings.exchange)),
                # Both need extra private endpoints at load time; the adapter needs neither.
                "fetchCurrencies": False,
                "fetchMargins": False,
                "warnOnFetchOpenOrdersWithoutSymbol": False,
                # Never let ccxt resend a request by itself: a resent order is a second order.
                "maxRetriesOnFailure": 0,
                **settings.options,
            },
        }
        if credentials.api_key:
            config["apiKey"] = credentials.api_key
        if credentials.secret:
            config["secret"] = credentials.secret
        if credentials.password:
            config["password"] = credentials.password
        self.exchange: Any = getattr(ccxt, settings.exchange)(config)
        # ccxt logs every request with its headers (the API key among them) at DEBUG: give it
        # a logger of its own that scrubs credentials before any handler sees the record.
        wire_log = logging.getLogger(f"dita.venues.ccxt.wire.{name}")
        wire_log.filters = [_RedactingFilter(self.redact)]
        self.exchange.logger = wire_log
        _guard_http_log()
        self._require_market_buy_price()
        if settings.rate_limit_ms is not None:
            self.exchange.rateLimit = settings.rate_limit_ms
        if settings.sandbox:
            # ccxt lists no testnet URL for many exchanges (its 'test' entry None or absent),
            # and switching to it then fails as a TypeError about a None.
            if not self.exchange.urls.get("test"):
                raise ValueError(f"sandbox=True: ccxt knows no testnet of {settings.exchange!r}")
            self.exchange.set_sandbox_mode(True)
        if settings.base_url is not None:
            self._point_at(settings.base_url)
        self.throttle_errors = throttle_errors(ccxt)
        # Until when the exchange asked for no requests (epoch seconds, by the venue's clock).
        self.throttled_until = 0.0
        syncs_clock = by_lineage(type(self.exchange), _SYNCS_CLOCK)
        if syncs_clock and self.has_credentials and "adjustForTimeDifference" not in settings.options:
            self.exchange.options["adjustForTimeDifference"] = True
        # The signing clock's offset (ccxt's ``timeDifference``) and the throttle's end are written
        # by REST, under the venue's lock, and by the user stream's thread, which never takes that
        # lock (a REST call holds it for up to ``timeout_ms``): each write goes under this one.
        self._clock_and_throttle_lock = threading.Lock()
        self._offset_measured_at = -math.inf
        self.exchange.load_time_difference = self._load_time_difference

    # -- configuration -------------------------------------------------------------------

    def _require_market_buy_price(self) -> None:
        """Make ccxt refuse, not send, a spot market buy whose amount the exchange would take as
        the cost to spend. Some exchanges default to sending it (Bybit's classic accounts: 0.015
        BTC goes out as 0.015 USDT); with this option set, ccxt raises InvalidOrder instead, and
        exchanges that take the amount in base units (Binance, Bybit's unified accounts) ignore it."""
        options = self.exchange.options
        options["createMarketBuyOrderRequiresPrice"] = True
        for nested in options.values():
            if isinstance(nested, dict) and "createMarketBuyOrderRequiresPrice" in nested:
                nested["createMarketBuyOrderRequiresPrice"] = True

    def _point_at(self, base_url: str) -> None:
        """Rewrite every API URL of the exchange to ``base_url``, keeping the paths."""
        target = urlsplit(base_url)
        if target.scheme not in ("http", "https") or not target.netloc:
            raise ValueError(f"base_url must be http(s)://host[:port], got {base_url!r}")
        urls = dict(self.exchange.urls)
        urls["api"] = pointed_at(urls["api"], base_url)
        self.exchange.urls = urls

    @property
    def has_credentials(self) -> bool:
        return bool(self.exchange.apiKey) and bool(self.exchange.secret)

    def close(self) -> None:
        """Close the HTTP session (idle connections to the exchange)."""
        session = getattr(self.exchange, "session", None)
        if session is not None:
            session.close()

    # -- messages ------------------------------------------------------------------------

    def redact(self, text: str) -> str:
        """``text`` with credentials and request signatures removed."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return _scrub_signatures(text)

    def error_text(self, exc: BaseException) -> str:
        return self.redact(f"{type(exc).__name__}: {exc}")

    # -- errors and the throttle ---------------------------------------------------------

    def outcome_unknown(self, exc: BaseException) -> bool:
        """Whether the exchange may have carried out a request that raised ``exc`` (``errors``)."""
        return outcome_unknown(self.ccxt, exc)

    def note_throttle(self, exc: BaseException, answered_by: Any = None) -> None:
        """Remember how long the exchange asked us to wait (Retry-After, seconds; a WebSocket
        API's answer, which has no header, by its ``retryAfter`` or "banned until"): a throttle's
        (429) up to ``MAX_RETRY_AFTER_S``, a ban's (418) up to ``MAX_BAN_S``, in full.
        ``answered_by``: the ccxt exchange whose request was answered so, when not this client's
        (a stream's, ``pro_exchange``)."""
        answering = answered_by if answered_by is not None else self.exchange
        status = http_status(exc) or getattr(answered_by, "last_http_status", None)
        answered = answered_wait(exc) if http_status(exc) is None else None
        banned = status == BAN_STATUS or (answered is not None and answered.banned)
        cap = MAX_BAN_S if banned else MAX_RETRY_AFTER_S
        retry_after = self._retry_after(answering.last_response_headers or {}, cap)
        if retry_after is None and answered is not None:
            retry_after = self._answered_retry_after(answered, cap)
        if retry_after is None:
            retry_after = self._default_retry_after_s
        with self._clock_and_throttle_lock:
            self.throttled_until = max(self.throttled_until, self.clock() + retry_after)
        if banned:
            ends = datetime.datetime.fromtimestamp(self.throttled_until, datetime.UTC)
            log.error(
                "%s banned this address until %s (%.0fs); nothing is sent before then: %s",
                self.name,
                ends.isoformat(timespec="seconds"),
                retry_after,
                self.error_text(exc),
            )
            return
        log.warning("%s throttled; pausing %.3fs: %s", self.name, retry_after, self.error_text(exc))

    def _retry_after(self, headers: dict[str, Any], cap: float) -> float | None:
        """The wait a ``Retry-After`` header among ``headers`` asks, up to ``cap``; None
        without one, or (with a warning) one that is neither seconds nor a date."""
        retry_after = None
        for key, value in headers.items():
            if str(key).lower() == "retry-after":
                asked = retry_after_seconds(value, self.clock())
                if asked is None:
                    log.warning(
                        "%s: Retry-After %r is neither seconds nor a date; pausing the default",
                        self.name,
                        value,
                    )
                elif asked > cap:
                    # `inf` or a year would stop the adapter for good, with working orders unfollowed.
                    log.warning("%s: Retry-After %r is past %gs; pausing that long", self.name, value, cap)
                    retry_after = cap
                else:
                    retry_after = asked
        return retry_after

    def _answered_retry_after(self, answered: AnsweredWait, cap: float) -> float | None:
        """The wait a WebSocket API's throttle or ban ``answered`` asks until its end, counted
        from the exchange's time in the answer (else its time now by the signing clock's offset),
        up to ``cap``; None when it names no end."""
        if answered.until_ms is None:
            return None
        if answered.server_ms is not None:
            server_ms = answered.server_ms
        else:
            server_ms = self.exchange.milliseconds() - float(self.exchange.options.get("timeDifference", 0))
        asked = max((answered.until_ms - server_ms) / 1000.0, 0.0)
        if asked > cap:
            log.warning("%s: the answered wait, %.0fs, is past %gs; pausing that long", self.name, asked, cap)
            return cap
        return asked

    def sync_clock_if_refused(self, exc: BaseException) -> str:
        """When the exchange refused the request that raised ``exc`` for its timestamp
        (``errors.clock_refused``), sync the clock requests are signed by with the exchange's
        (its server time) and return what was found, for the refusal's reason; else ''."""
        if not clock_refused(exc):
            return ""
        if self.throttled():
            return "the clock is not synced yet: the exchange is throttling"
        try:
            # ccxt's difference: this machine's time less the exchange's, in ms; the requests it
            # signs from now on carry the exchange's time.
            ahead_ms = float(self.exchange.load_time_difference())
        except self.throttle_errors as sync_exc:
            self.note_throttle(sync_exc)
            return f"the clock could not be synced: {self.error_text(sync_exc)}"
        except self.ccxt.BaseError as sync_exc:
            log.error("%s: clock not synced with the exchange's: %s", self.name, self.error_text(sync_exc))
            return f"the clock could not be synced: {self.error_text(sync_exc)}"
        return self._said_clock(ahead_ms)

    def adopt_time_difference(self, ahead_ms: float, measured_at: float) -> str:
        """Sign requests with ``ahead_ms`` (this machine's time less the exchange's, as ccxt's
        ``load_time_difference`` gives it: the user stream's, on its thread, by a request begun
        at ``measured_at``, ``time.monotonic()``) from now on, unless a later measurement is in
        place (``_adopt_offset``); returns what the offset in place is."""
        return self._said_clock(self._adopt_offset(ahead_ms, measured_at))

    def _load_time_difference(self, params: dict[str, Any] | None = None) -> int:
        """ccxt's ``load_time_difference`` for the REST exchange (its markets load calls it, and
        ``sync_clock_if_refused``), the offset written through ``_adopt_offset``; returns the
        offset in place."""
        began = time.monotonic()
        server_ms = self.exchange.fetch_time(params or {})
        after_ms = self.exchange.milliseconds()
        if server_ms is None:
            raise self.ccxt.ExchangeError(f"{self.exchange.id} loadTimeDifference() missing serverTime")
        return int(self._adopt_offset(after_ms - float(server_ms), began))

    def _adopt_offset(self, ahead_ms: float, measured_at: float) -> float:
        """The one write of the offset requests are signed by: ``ahead_ms``, measured by a request
        begun at ``measured_at`` (``time.monotonic()``), unless one begun later is in place (its
        answer came first): the older of two resyncs on two threads never replaces the newer.
        Returns the offset in place."""
        with self._clock_and_throttle_lock:
            if measured_at >= self._offset_measured_at:
                self.exchange.options["timeDifference"] = ahead_ms
                self._offset_measured_at = measured_at
            return float(self.exchange.options["timeDifference"])

    def _said_clock(self, ahead_ms: float) -> str:
        way = "ahead of" if ahead_ms >= 0 else "behind"
        said = (
            f"this machine's clock is {abs(ahead_ms):.0f}ms {way} the exchange's; "
            "requests carry the exchange's time now"
        )
        log.warning("%s refused a request for its timestamp: %s", self.name, said)
        return said

    def throttled(self) -> bool:
        return self.clock() < self.throttled_until

    def throttle_wait(self) -> float:
        """Seconds until the exchange takes requests again (0 when it does now)."""
        return max(self.throttled_until - self.clock(), 0.0)

    def account_call(self, method: str, *args: Any) -> Any:
        """A read-only query; failures raise ``VenueUnavailable`` (a RuntimeError) with credentials
        scrubbed."""
        if self.throttled():
            wait = self.throttled_until - self.clock()
            raise VenueUnavailable(
                f"{self.name}: {method} not sent, the exchange is throttling (retry in {wait:.3f}s)"
            )
        try:
            return getattr(self.exchange, method)(*args)
        except self.throttle_errors as exc:
            self.note_throttle(exc)
            raise VenueUnavailable(f"{self.name}: {method} throttled: {self.error_text(exc)}") from None
        except self.ccxt.BaseError as exc:
            synced = self.sync_clock_if_refused(exc)
            said = f" ({synced})" if synced else ""
            raise VenueUnavailable(f"{self.name}: {method} failed: {self.error_text(exc)}{said}") from None
