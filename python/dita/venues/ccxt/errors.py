"""What an exchange's error says about the request that raised it: a throttle or a ban (the request
was not carried out, and the exchange says how long to wait), a refusal for the request's
timestamp (not carried out; the clock is to be synced with the exchange's), an outcome unknown
(the request may have been carried out), or else a refusal. Exchange-specific codes are read here."""

from __future__ import annotations

import datetime
import email.utils
import json
import math
import re
from typing import Any, NamedTuple

__all__ = [
    "BAN_STATUS",
    "MAX_BAN_S",
    "MAX_RETRY_AFTER_S",
    "AnsweredWait",
    "answered_wait",
    "clock_refused",
    "http_status",
    "outcome_unknown",
    "retry_after_seconds",
    "throttle_errors",
]

# Codes whose execution status is unknown (the request may have been carried out); ccxt maps
# them to different exception classes per endpoint family, so match the code. Binance's -1000,
# -1001, -1006 and -1007; Bybit's 5004 "Server Timeout", 10016 "System error", 170001 "Internal
# error", 170146 "Order creation timeout" and 170147 "Order cancellation timeout", answered in an
# HTTP 200's body and raised by ccxt as a bare ExchangeError or InvalidOrder: taken for a
# refusal, an order Bybit had placed would be reported rejected, and its fills never booked.
_UNKNOWN_OUTCOME_RE = re.compile(
    r'"code"\s*:\s*-100[0167]\b|"retCode"\s*:\s*(?:5004|10016|170001|17014[67])\b|execution status unknown',
    re.IGNORECASE,
)

# Binance's -1021 INVALID_TIMESTAMP ("Timestamp for this request is outside of the recvWindow",
# "... was 1000ms ahead of the server's time"): the request is refused before it reaches the
# matching engine. ccxt raises it as InvalidNonce, a NetworkError, which reads as "maybe carried out".
_CLOCK_REFUSED_RE = re.compile(r'"code"\s*:\s*-1021\b')

MAX_RETRY_AFTER_S = 600.0
"""The longest pause a throttle's (HTTP 429) Retry-After header is followed for: a larger one (or
`inf`) is cut to it."""

MAX_BAN_S = 3 * 24 * 3600.0
"""The longest pause a ban's (HTTP 418) Retry-After is followed for: Binance's bans last from 2
minutes to 3 days, and a request sent during one lengthens it."""


# Binance's WebSocket API answers a throttle (status 429) or a ban (418, -1003 "... banned until
# <ms>") in the answer, no header: {"id", "status", "error": {"code", "msg", "data": {"serverTime",
# "retryAfter"}}}, ``retryAfter`` the epoch ms it ends (Binance's WebSocket API docs, "Rate
# limits"). ccxt.pro raises its ``error`` as the message: "binance {...}", the status left out.
_BANNED_UNTIL_RE = re.compile(r"banned until (\d+)")
BAN_STATUS = 418
"""HTTP 418: Binance's ban of the address, for requests sent on after a 429."""


class AnsweredWait(NamedTuple):
    """What a WebSocket API error says of a throttle or ban (``answered_wait``): whether it is a
    ban, when it ends and the exchange's time when it answered (epoch ms; None when unsaid)."""

    banned: bool
    until_ms: float | None
    server_ms: float | None


def answered_wait(exc: BaseException) -> AnsweredWait | None:
    """The throttle or ban Binance's WebSocket API answered in the error ``exc`` was raised for
    (its status, or -1003's "banned until <ms>", and its ``data.retryAfter``); None when its
    message holds no such error (a REST answer's wait is in its Retry-After header)."""
    said = _object_in(str(exc))
    # The whole answer (ccxt's message for an error it cannot map), or its ``error`` alone.
    error = _object_at(said, "error") or said
    status = said.get("status")
    data = _object_at(error, "data")
    message = str(error.get("msg") or "")
    until = _BANNED_UNTIL_RE.search(message)
    banned = status == BAN_STATUS or until is not None
    if not banned and status != 429 and "retryAfter" not in data:
        return None
    retry_after, server_time = _epoch_ms(data.get("retryAfter")), _epoch_ms(data.get("serverTime"))
    if retry_after is None and until is not None:
        retry_after = float(until.group(1))
    return AnsweredWait(banned, retry_after, server_time)


def _object_in(text: str) -> dict[str, Any]:
    """The JSON object ``text`` holds from its first ``{`` on; {} when there is none."""
    start = text.find("{")
    if start < 0:
        return {}
    try:
        found, _ = json.JSONDecoder().raw_decode(text[start:])
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _object_at(obj: dict[str, Any], key: str) -> dict[str, Any]:
    """``obj[key]`` where it is an object; {} otherwise."""
    found = obj.get(key)
    return found if isinstance(found, dict) else {}


def _epoch_ms(value: Any) -> float | None:
    """``value`` as epoch milliseconds; None when it is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def throttle_errors(ccxt: Any) -> tuple[type[BaseException], ...]:
    """ccxt's errors for a throttling answer (HTTP 429, and Binance's 418): the exchange answers
    them before processing, so the request was not carried out."""
    return (ccxt.DDoSProtection, ccxt.RateLimitExceeded)


def outcome_unknown(ccxt: Any, exc: BaseException) -> bool:
    """Whether the exchange may have carried out a request that raised ``exc``: network
    failures, timeouts, server errors and Binance's 'execution status unknown' codes. A refusal
    for the request's timestamp (``clock_refused``) is not one: it never reached the matching engine."""
    if clock_refused(exc):
        return False
    if isinstance(exc, ccxt.NetworkError | ccxt.OperationFailed):
        return True
    # A 5xx ccxt has no class for (Cloudflare's 524: the exchange took the request and did
    # not answer in time) comes as a bare ExchangeError, the request maybe carried out.
    status = http_status(exc)
    if status is not None and status >= 500:
        return True
    return bool(_UNKNOWN_OUTCOME_RE.search(str(exc)))


def clock_refused(exc: BaseException) -> bool:
    """Whether the exchange refused the request that raised ``exc`` for its timestamp (Binance's
    -1021): the request was not carried out, and the clock it was signed by is off the exchange's."""
    return bool(_CLOCK_REFUSED_RE.search(str(exc)))


def retry_after_seconds(value: Any, now: float) -> float | None:
    """A Retry-After header's wait in seconds (0 at least): a number of seconds, or an HTTP
    date; None when it is neither (NaN included)."""
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, OverflowError):  # a year past any date's: OverflowError
            return None
        if when.tzinfo is None:  # an HTTP date is GMT
            when = when.replace(tzinfo=datetime.UTC)
        seconds = when.timestamp() - now
    return max(seconds, 0.0) if not math.isnan(seconds) else None


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of the answer ``exc`` was raised for: ccxt raises its error from (or
    while handling) the HTTP library's, which holds the response. None when there was none."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        status = getattr(getattr(cause, "response", None), "status_code", None)
        if isinstance(status, int):
            return status
        cause = cause.__cause__ or cause.__context__
    return None
