"""The stdio engine protocol: one command per input line, as text or as a JSON object.

Parsing is pure (no kernel): a line becomes an ``OrderCommand``, ``CancelCommand``,
``QueryCommand`` or ``MarkCommand``, or a ``ProtocolError`` that names the field and value
at fault. docs/reference/stdio-protocol.md is the specification; keep the two in step.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from dita._files import GivenTwice, loads_one_value_each
from dita._numbers import plain_number
from dita._text import shortened
from dita.gateway.events import unicode_text
from dita.risk import KERNEL_MAX

__all__ = [
    "MAX_LINE_BYTES",
    "CancelCommand",
    "Command",
    "MarkCommand",
    "NoFloatHolds",
    "OrderCommand",
    "ProtocolError",
    "QueryCommand",
    "asset_name",
    "client_id_fits",
    "json_float",
    "line_too_long",
    "parse_line",
]

MAX_LINE_BYTES = 4096
"""Longer lines are refused whole, so one runaway writer cannot make the engine buffer without end."""

# Used with fullmatch: `$` also matches before a final newline, which would let "c1\n" through.
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:\-]{1,64}")
_SYMBOL = re.compile(r"[A-Za-z0-9._/:\-]{1,32}")
# QUERY reads these words as what to list, so an order under one of them could not be named.
_RESERVED_CLIENT_IDS = ("ORDERS", "ACCOUNT", "SLOTS")
# What separates a text command's words, and is trimmed from a line's ends: ASCII spaces and
# tabs (and a line's CR), as every other part of a line is ASCII; str.split() would also split
# on a no-break space, U+3000 or a control character.
_BLANKS = " \t\r\n\x0b\x0c"
_WORDS = re.compile(r"[ \t]+")

OrderSideName = Literal["BUY", "SELL"]
QueryTarget = Literal["ORDERS", "ACCOUNT", "SLOTS", "ORDER"]


class ProtocolError(Exception):
    """A line the engine cannot act on. ``code`` is stable; ``message`` is for people."""

    def __init__(self, code: str, message: str, *, field: str | None = None, value: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.value = _printable(value)

    def to_event(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
            out["value"] = self.value
        return out


@dataclass(frozen=True, slots=True)
class OrderCommand:
    side: OrderSideName
    symbol: str
    qty: float
    price: float | None  # None: market order (MKT)
    client_id: str


@dataclass(frozen=True, slots=True)
class CancelCommand:
    client_id: str


@dataclass(frozen=True, slots=True)
class QueryCommand:
    target: QueryTarget
    client_id: str | None = None  # set when target == "ORDER"


@dataclass(frozen=True, slots=True)
class MarkCommand:
    """Extension: a reference price for a symbol (values open positions, prices MKT orders)."""

    symbol: str
    price: float


Command = OrderCommand | CancelCommand | QueryCommand | MarkCommand

_TEXT_USAGE = {
    "ORDER": "ORDER <BUY|SELL> <SYMBOL> <QTY> <PRICE|MKT> <CLIENT_ID>",
    "CANCEL": "CANCEL <CLIENT_ID>",
    "QUERY": "QUERY ORDERS|ACCOUNT|SLOTS|<CLIENT_ID>",
    "MARK": "MARK <SYMBOL> <PRICE>",
}


def line_too_long(size: int) -> ProtocolError:
    """The one error for a line over the limit, however it arrived (``size`` in bytes)."""
    return ProtocolError(
        "LINE_TOO_LONG", f"line is {size} bytes; the limit is {MAX_LINE_BYTES}", field="line"
    )


def parse_line(line: str) -> Command | None:
    """Parse one input line. Blank lines and ``#`` comments give None; anything else a
    command or a ``ProtocolError``. The limit is on the line's UTF-8 bytes, a comment's too."""
    # A character is at most 4 bytes: a short line is within the limit without encoding it.
    if len(line) > MAX_LINE_BYTES // 4:
        size = len(line.encode("utf-8", "surrogatepass"))
        if size > MAX_LINE_BYTES:
            raise line_too_long(size)
    text = line.strip(_BLANKS)
    if not text or text.startswith("#"):
        return None
    if text.startswith("{"):
        return _parse_json(text)
    if text.startswith("["):
        raise ProtocolError(
            "INVALID_JSON", "a JSON command must be an object, not an array", field="line", value=text
        )
    return _parse_text(text)


# --- text form ---------------------------------------------------------------------------


def _parse_text(text: str) -> Command:
    parts = _WORDS.split(text)
    verb = parts[0].upper()
    args = parts[1:]
    if verb not in _TEXT_USAGE:
        raise ProtocolError(
            "UNKNOWN_COMMAND",
            f"unknown command {_quoted(parts[0])}; expected ORDER, CANCEL, QUERY or MARK",
            field="command",
            value=parts[0],
        )
    arity = {"ORDER": 5, "CANCEL": 1, "QUERY": 1, "MARK": 2}[verb]
    if len(args) != arity:
        raise ProtocolError(
            "WRONG_ARITY",
            f"{verb} takes {arity} argument{'s' if arity > 1 else ''}, got {len(args)};"
            f" usage: {_TEXT_USAGE[verb]}",
            field="arguments",
            value=len(args),
        )
    if verb == "ORDER":
        side, symbol, qty, price, client_id = args
        return OrderCommand(
            side=_side(side),
            symbol=_symbol(symbol),
            qty=_positive("qty", qty),
            price=None if price.upper() == "MKT" else _positive("price", price, hint=" or MKT"),
            client_id=_client_id(client_id),
        )
    if verb == "CANCEL":
        return CancelCommand(client_id=_client_id(args[0]))
    if verb == "MARK":
        return MarkCommand(symbol=_symbol(args[0]), price=_positive("price", args[1]))
    return _query(args[0], "target")


# --- JSON form ---------------------------------------------------------------------------


def _parse_json(text: str) -> Command:
    try:
        # A key twice would act on one the client may not have meant ("client_id" or "side").
        obj = loads_one_value_each(text, parse_float=json_float)
    # Each names a value, as every error whose field has one: null read as a field sent as null.
    except GivenTwice as exc:
        # At its path, as HTTP names it: a key twice inside an object is not the command's own.
        field = ".".join(unicode_text(str(p)) for p in (*exc.path, exc.key))
        message = f"line gives the key {_quoted(exc.key)} more than once"
        if exc.path:
            message += f" inside {_quoted('.'.join(str(p) for p in exc.path))}"
        raise ProtocolError("INVALID_JSON", message, field=field, value=exc.then) from None
    except (json.JSONDecodeError, RecursionError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        pos = f" at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        message = f"line is not valid JSON: {detail}{pos}"
        raise ProtocolError("INVALID_JSON", message, field="line", value=text) from None
    if not isinstance(obj, dict):
        raise ProtocolError("INVALID_JSON", "a JSON command must be an object", field="line", value=text)
    cmd = obj.get("cmd")
    if not isinstance(cmd, str):
        raise ProtocolError(
            "MISSING_FIELD" if cmd is None else "INVALID_FIELD",
            "JSON command needs a string field 'cmd': ORDER, CANCEL, QUERY or MARK",
            field="cmd",
            value=cmd,
        )
    verb = cmd.upper()
    allowed = {
        "ORDER": {"side", "symbol", "qty", "price", "client_id"},
        "CANCEL": {"client_id"},
        "QUERY": {"what", "client_id"},
        "MARK": {"symbol", "price"},
    }.get(verb)
    if allowed is None:
        raise ProtocolError(
            "UNKNOWN_COMMAND",
            f"unknown command {_quoted(cmd)}; expected ORDER, CANCEL, QUERY or MARK",
            field="cmd",
            value=cmd,
        )
    extra = sorted(set(obj) - allowed - {"cmd"})
    if extra:
        raise ProtocolError(
            "UNKNOWN_FIELD",
            f"{verb} has no field {_quoted(extra[0])}; fields: {sorted(allowed)}",
            field=extra[0],
            value=obj[extra[0]],
        )
    if verb == "ORDER":
        price = obj.get("price", "MKT")
        return OrderCommand(
            side=_side(_required(obj, "side")),
            symbol=_symbol(_required(obj, "symbol")),
            qty=_positive("qty", _required(obj, "qty")),
            price=None
            if price is None or (isinstance(price, str) and price.upper() == "MKT")
            else _positive("price", price, hint=' or "MKT"'),
            client_id=_client_id(_required(obj, "client_id")),
        )
    if verb == "CANCEL":
        return CancelCommand(client_id=_client_id(_required(obj, "client_id")))
    if verb == "MARK":
        return MarkCommand(
            symbol=_symbol(_required(obj, "symbol")), price=_positive("price", _required(obj, "price"))
        )
    what = obj.get("what")
    client_id = obj.get("client_id")
    if what is not None and client_id is not None:
        raise ProtocolError(
            "INVALID_FIELD", "QUERY takes 'what' or 'client_id', not both", field="client_id", value=client_id
        )
    if client_id is not None:
        return QueryCommand(target="ORDER", client_id=_client_id(client_id))
    if what is None:
        raise ProtocolError(
            "MISSING_FIELD", "QUERY needs 'what' (ORDERS, ACCOUNT, SLOTS) or 'client_id'", field="what"
        )
    if not isinstance(what, str) or not what.isascii() or what.upper() not in ("ORDERS", "ACCOUNT", "SLOTS"):
        raise ProtocolError(
            "INVALID_FIELD",
            f"what must be ORDERS, ACCOUNT or SLOTS, got {_quoted(what)}",
            field="what",
            value=what,
        )
    return _query(what, "what")


# --- fields ------------------------------------------------------------------------------


class NoFloatHolds:
    """A JSON number past the largest float or below the smallest (``1e400``, ``1e-400``),
    kept as its text: read as a float it would be inf or 0.0, and an error would name that, not
    what was sent (an EXIT's target_size of 1e-400 would be 0, the whole leg). No field takes
    it, over stdio or HTTP, so it is always refused, named as its text (``repr``)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def json_float(text: str) -> float | NoFloatHolds:
    """``json.loads``'s ``parse_float`` for client input, stdio lines and HTTP bodies alike:
    the float, or the text of a number no float holds."""
    number = float(text)
    mantissa = text.lower().partition("e")[0]
    if math.isinf(number) or (number == 0.0 and any(c in "123456789" for c in mantissa)):
        return NoFloatHolds(text)
    return number


def _required(obj: dict[str, Any], name: str) -> Any:
    if name not in obj or obj[name] is None:
        raise ProtocolError("MISSING_FIELD", f"missing field {name!r}", field=name)
    return obj[name]


def _query(word: str, field: str) -> QueryCommand:
    upper = word.upper()
    if word.isascii() and upper in ("ORDERS", "ACCOUNT", "SLOTS"):
        return QueryCommand(target=upper)  # type: ignore[arg-type]
    return QueryCommand(target="ORDER", client_id=_client_id(word))


def _side(value: Any) -> OrderSideName:
    # ASCII only: upper-cased as Unicode, a long s (U+017F) reads as S, a SELL nobody typed.
    if isinstance(value, str) and value.isascii() and value.upper() in ("BUY", "SELL"):
        return "BUY" if value.upper() == "BUY" else "SELL"
    raise ProtocolError(
        "INVALID_FIELD", f"side must be BUY or SELL, got {_quoted(value)}", field="side", value=value
    )


def asset_name(text: str) -> str:
    """The asset a client's name for it means, in both front ends: upper case, as tickers,
    market ids and ccxt symbols are written (``btcusdt`` is BTCUSDT). The kernel keeps a
    position, a mark and a notional cap per name, so two spellings would be two assets."""
    return text.upper()


def _symbol(value: Any) -> str:
    if isinstance(value, str) and _SYMBOL.fullmatch(value):
        return asset_name(value)
    raise ProtocolError(
        "INVALID_FIELD",
        f"symbol must be 1-32 characters of letters, digits and . _ / : -, got {_quoted(value)}",
        field="symbol",
        value=value,
    )


def client_id_fits(value: str) -> bool:
    """Whether a command can name an order by ``value`` (``_client_id`` takes it as it is)."""
    try:
        return _client_id(value) == value
    except ProtocolError:
        return False


def _client_id(value: Any) -> str:
    # ASCII only, as _side: a long s (U+017F) upper-cases to S, so "\u017flots" read as SLOTS.
    if isinstance(value, str) and value.isascii() and value.upper() in _RESERVED_CLIENT_IDS:
        raise ProtocolError(
            "INVALID_FIELD",
            f"client_id {value!r} is reserved: QUERY {value.upper()} lists the {value.lower()}, not an order",
            field="client_id",
            value=value,
        )
    if isinstance(value, str) and _CLIENT_ID.fullmatch(value):
        return value
    raise ProtocolError(
        "INVALID_FIELD",
        f"client_id must be 1-64 characters of letters, digits and . _ : -, got {_quoted(value)}",
        field="client_id",
        value=value,
    )


def _positive(name: str, value: Any, hint: str = "") -> float:
    number: float | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, float):
        number = value
    elif isinstance(value, int):
        # A JSON integer past float's range: refused like any other bad number, not an
        # OverflowError (which float() also raises just below 2**1024, where it rounds up).
        try:
            number = float(value)
        except OverflowError:
            number = None
    elif isinstance(value, str) and plain_number(value):
        number = float(value)
    if number is None or not math.isfinite(number) or number <= 0.0:
        raise ProtocolError(
            "INVALID_FIELD",
            f"{name} must be a finite number greater than 0{hint}, got {_quoted(value)}",
            field=name,
            value=value,
        )
    if number > KERNEL_MAX:
        # Here, where the text sent is at hand: the engine named the float made of it (2e15 as
        # 2000000000000000.0), and the kernel's refusal of a mark did too.
        raise ProtocolError(
            "INVALID_FIELD",
            f"{name} must be at most {KERNEL_MAX:g}, the kernel's bound, got {_quoted(value)}",
            field=name,
            value=value,
        )
    return number


def _quoted(value: Any) -> str:
    """The offending value as an error's message quotes it: cut as the event's ``value`` is."""
    return repr(shortened(value, 64)) if isinstance(value, str) else shortened(repr(value), 64)


def _printable(value: Any) -> str | int | float | bool | None:
    """The offending value as it goes into an error event: JSON-safe (a lone surrogate as
    its escape, which strict parsers take) and short."""
    if value is None or isinstance(value, bool) or (isinstance(value, int) and abs(value) < 2**63):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    return unicode_text(shortened(value if isinstance(value, str) else repr(value), 64))
