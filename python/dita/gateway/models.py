"""What the HTTP API takes and what it answers besides a 200: the request bodies, with the
number and text rules a trading input needs, and the error answers the schema documents (so
a client generated from docs/openapi.json knows them)."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal, get_args

from fastapi import Path
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from dita._numbers import plain_number
from dita._text import shortened
from dita.gateway.protocol import NoFloatHolds, asset_name
from dita.risk import KERNEL_MAX, KERNEL_MIN_PRICE
from dita.runtime.strategies import STRATEGY_KEY

__all__ = [
    "FIELDS_WITHOUT_MEANING",
    "LAST_EVENT_ID_HEADER",
    "OTHER_TRADE_NOTE",
    "CancelRequest",
    "ControlRequest",
    "ErrorAnswer",
    "ExitRequest",
    "FlattenRequest",
    "IntentRequest",
    "MarkRequest",
    "OtherTradeAnswer",
    "SlotPath",
    "TooLargeAnswer",
    "TooSlowAnswer",
    "ValidationAnswer",
    "ValidationProblem",
    "error_answers",
    "integer_id",
    "read_answer",
]

MetaValue = str | int | float | bool | None

_FINITE = {"allow_inf_nan": False}
# An integer written as text: ASCII digits, a sign allowed (int() also reads "1_0" and other
# scripts' digits).
_INTEGER_TEXT = re.compile(r"[+-]?[0-9]+")


def plain_number_input(value: Any) -> Any:
    """A number as JSON or as text ("1.5", as many exchange APIs send it), never true or false
    (lax parsing reads them as 1 and 0: a typo would trade a size of 1) nor Python's own
    spellings ("1_000", " 2 ": a typo would trade 1000)."""
    if isinstance(value, bool):
        raise PydanticCustomError("number_type", "Input should be a number, not true or false")
    if isinstance(value, str) and not plain_number(value):
        raise PydanticCustomError(
            "number_parsing",
            "Input should be a number in ASCII digits (sign, fraction and exponent optional)",
        )
    return value


def finite_number(value: Any) -> Any:
    if isinstance(value, NoFloatHolds):
        value = value.text  # judged as the same number sent as text: refused, named as sent
    value = plain_number_input(value)
    if (
        isinstance(value, str)
        and float(value) == 0.0
        and any(c in "123456789" for c in value.lower().split("e")[0])
    ):
        # Not 0 as written, but below the smallest float: read as 0.0 it would mean no size or
        # no limit, and the error would name 0.0, nothing the client sent.
        raise PydanticCustomError(
            "number_range",
            "Input should be 0 or a number a float can hold: this one is below its smallest, 5e-324",
        )
    if isinstance(value, int):
        # A JSON integer past float's range (4000 digits) is not finite, as 1e309 is not.
        try:
            float(value)
        except OverflowError:
            raise PydanticCustomError("finite_number", "Input should be a finite number") from None
    return value


def integer_id(value: Any) -> Any:
    """An id or a count (slot_id, last_event_id, from_slot, limit): a JSON integer, or its
    ASCII digits as text ("1", "+1"). A number with a fraction or an exponent is refused, 1.0
    and "1e0" included: JSON reads 0.99999999999999999999 as the float 1.0, so a float may name
    an id never sent."""
    if isinstance(value, bool):
        raise PydanticCustomError("int_type", "Input should be an integer, not true or false")
    if isinstance(value, float | NoFloatHolds):
        raise PydanticCustomError(
            "int_type",
            "Input should be a JSON integer: a number with a fraction or exponent is read as a"
            " float, which may round to another id than the one written",
        )
    if isinstance(value, str):
        if _INTEGER_TEXT.fullmatch(value) is None:
            raise PydanticCustomError(
                "int_parsing", "Input should be an integer in ASCII digits, without a fraction or exponent"
            )
        try:
            return int(value)
        except ValueError:  # past the digits int() reads from text
            raise PydanticCustomError(
                "int_parsing_size", "Input should be an integer of at most 4300 digits"
            ) from None
    return value


def keyword(words: Any) -> BeforeValidator:
    """Reads one of the ``words`` of a Literal (``action``, ``side``, ``order_type``, a control
    ``mode`` or ``verbosity``) in whatever case of ASCII letters it came, as `dita stdio` reads
    its keywords and both front ends an asset. Anything else is left as sent, for the schema to
    refuse naming it and the words: as Unicode a long s (U+017F) upper-cases to S, a SHORT
    nobody typed."""
    accepted = frozenset(get_args(words))

    def read(value: Any) -> Any:
        if isinstance(value, str) and value.isascii() and value.upper() in accepted:
            return value.upper()
        return value

    return BeforeValidator(read)


Action = Literal["ENTER", "EXIT", "CANCEL"]
Side = Literal["LONG", "SHORT"]
OrderType = Literal["MARKET", "LIMIT"]
Mode = Literal["LIVE", "PAPER", "SHADOW", "REDUCE_ONLY", "HALTED"]
Verbosity = Literal["QUIET", "NORMAL", "DEBUG"]


# The kernel refuses a NUL in ids only; an intent's free text goes on to the journal and the
# Hazelcast projection, whose readers a NUL breaks.
_NUL_REFUSED = "text must not hold a NUL character (\\x00)"


def _no_nul(text: str) -> str:
    """An intent's ``reason`` (ENTER, EXIT, CANCEL, a slot's cancel), refused with a NUL in it."""
    if "\0" in text:
        raise ValueError(f"reason {shortened(text, 64)!r}: {_NUL_REFUSED}")
    return text


Number = Annotated[float, BeforeValidator(finite_number)]
Reason = Annotated[str, AfterValidator(_no_nul)]
SlotId = Annotated[int, Field(ge=0, le=1_000_000), BeforeValidator(integer_id)]
# The bounds first: after the validator pydantic leaves them out of the schema's keywords.
LegRatio = Annotated[float, Field(gt=0.0, le=1.0), BeforeValidator(finite_number)]
SlotPath = Annotated[int, Path(ge=0, le=1_000_000), BeforeValidator(integer_id)]
# Checked as sent, then upper-cased as `dita stdio` takes a symbol (``asset_name``).
AssetName = Annotated[
    str, Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._/:\-]+$"), AfterValidator(asset_name)
]


# The most keys an intent's metadata holds.
METADATA_KEYS = 32

_NO_ORDER = "a CANCEL sends no order"
_LEGS_AT_ENTRY = "a trade's exit legs are set by its ENTER"
# The fields an action does not act on, and why. Given another value than its default, such a
# field would be dropped unseen (an EXIT keeps the slot's leverage and legs, a CANCEL sends no
# order) or, a CANCEL's size, refused by the kernel: each is a 422 naming it alike. Its default
# changes nothing, so one body template for every action still goes.
FIELDS_WITHOUT_MEANING: dict[str, dict[str, str]] = {
    "EXIT": {
        "leverage": "the position keeps the leverage it was entered with",
        "exit_leg_ratios": _LEGS_AT_ENTRY,
    },
    "CANCEL": {
        "reference_price": _NO_ORDER,
        "target_size": (
            "a CANCEL cancels the slot's whole working order; to trade less, cancel it and send a"
            " smaller order"
        ),
        "leverage": _NO_ORDER,
        "exit_leg_ratios": _LEGS_AT_ENTRY,
        "order_type": _NO_ORDER,
        "limit_price": _NO_ORDER,
    },
}


class IntentRequest(BaseModel):
    """An ENTER, EXIT or CANCEL for one slot. Omitted fields of EXIT and CANCEL are taken from
    the slot (trade_id, asset, side); ENTER without slot_id takes the first free slot. A field
    the action does not act on (an EXIT's leverage and exit_leg_ratios; a CANCEL's prices,
    target_size, order_type, leverage and exit_leg_ratios) is refused unless it holds its default."""

    model_config = ConfigDict(extra="forbid", **_FINITE)  # type: ignore[typeddict-item]

    action: Annotated[Action, keyword(Action)]
    slot_id: SlotId | None = None
    intent_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")
    trade_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")
    asset: AssetName | None = None
    side: Annotated[Side | None, keyword(Side)] = None
    # Prices and sizes: up to the kernel's own bound, as `dita stdio` takes them.
    reference_price: Number = Field(default=0.0, ge=0.0, le=KERNEL_MAX)
    target_size: Number = Field(default=0.0, ge=0.0, le=KERNEL_MAX)
    leverage: Number = Field(default=1.0, gt=0.0, le=1000.0)
    exit_leg_ratios: list[LegRatio] | None = Field(default=None, min_length=1, max_length=16)
    order_type: Annotated[OrderType, keyword(OrderType)] = "MARKET"
    limit_price: Number = Field(default=0.0, ge=0.0, le=KERNEL_MAX)
    reason: Reason = Field(default="", max_length=256)
    metadata: dict[str, MetaValue] | None = Field(default=None, max_length=METADATA_KEYS)

    def fields_without_meaning(self) -> list[tuple[str, Any, str]]:
        """The fields given with a value other than their default that this ``action`` does
        not act on (``FIELDS_WITHOUT_MEANING``): (field, value, why)."""
        unused = FIELDS_WITHOUT_MEANING.get(self.action, {})
        return [
            (name, getattr(self, name), why)
            for name, why in unused.items()
            if name in self.model_fields_set and getattr(self, name) != type(self).model_fields[name].default
        ]

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata_size(cls, value: Any) -> Any:
        # Counted before its entries are read: each entry of thousands validated, and each
        # error listed, would hold the event loop for a request of a few kilobytes.
        if isinstance(value, dict) and len(value) > METADATA_KEYS:
            raise ValueError(f"metadata holds {len(value)} keys; at most {METADATA_KEYS}")
        for key, item in value.items() if isinstance(value, dict) else ():
            if isinstance(item, NoFloatHolds):
                raise ValueError(f"metadata key {key!r}: value {item!r} is beyond what a float holds")
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, MetaValue] | None) -> dict[str, MetaValue] | None:
        for key, item in (value or {}).items():
            # Each error names the text at fault: the key, or the value under it.
            if key == STRATEGY_KEY:
                raise ValueError(
                    f"metadata key {key!r} is the runtime's stamp of the strategy whose trade it "
                    "is: a restart of `dita live` would hand this trade to that strategy"
                )
            if "\0" in key:
                raise ValueError(f"metadata key {shortened(key, 64)!r}: {_NUL_REFUSED}")
            if len(key) > 64:
                raise ValueError(
                    f"metadata key {key[:64]!r}...: keys are at most 64 characters, got {len(key)}"
                )
            if isinstance(item, str) and len(item) > 256:
                raise ValueError(
                    f"metadata key {key!r}: value {item[:64]!r}... is {len(item)} characters, "
                    "strings are at most 256"
                )
            # JSON can escape a lone surrogate ("\ud800"); the kernel takes UTF-8 text only.
            if not _is_unicode(key):
                raise ValueError(f"metadata key {key!r}: text must not hold lone surrogates")
            if isinstance(item, str) and not _is_unicode(item):
                raise ValueError(f"metadata key {key!r}: value {item!r}: text must not hold lone surrogates")
            if isinstance(item, str) and "\0" in item:
                raise ValueError(f"metadata key {key!r}: value {shortened(item, 64)!r}: {_NUL_REFUSED}")
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f"metadata key {key!r}: numbers must be finite")
            if isinstance(item, int) and not isinstance(item, bool) and not -(2**63) <= item < 2**63:
                raise ValueError(f"metadata key {key!r}: integers must fit in 64 bits, got {item}")
        return value


def _is_unicode(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


_SLOT_TRADE = (
    "The trade the client expects on the slot (the trade_id it last read there): when the slot"
    " holds another trade, or none, the answer is a 409 and nothing is sent."
)


class CancelRequest(BaseModel):
    """A CANCEL of the order working on the slot. With ``trade_id``, only while that trade
    holds the slot."""

    model_config = ConfigDict(extra="forbid")

    intent_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")
    trade_id: str | None = Field(
        default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$", description=_SLOT_TRADE
    )
    reason: Reason = Field(default="", max_length=256)


class ExitRequest(BaseModel):
    """A slot's whole position closed at market. ``reference_price`` is the price the order is
    sized and checked at (default: the slot's mark, else its entry price). With ``trade_id``,
    only while that trade holds the slot."""

    model_config = ConfigDict(extra="forbid", **_FINITE)  # type: ignore[typeddict-item]

    intent_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")
    trade_id: str | None = Field(
        default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$", description=_SLOT_TRADE
    )
    reference_price: Number | None = Field(default=None, gt=0.0, le=KERNEL_MAX)
    reason: Reason = Field(default="", max_length=256)


def _confirmed(value: Any) -> Any:
    # Before the Literal: lax, it would take 1 for true; and this says why true is asked for.
    if value is not True:
        raise PydanticCustomError(
            "literal_error", "confirm must be true: flatten all halts the kernel and closes the book"
        )
    return value


class FlattenRequest(BaseModel):
    """Flatten all: ``confirm`` must be true, so no request closes the book by accident."""

    model_config = ConfigDict(extra="forbid")

    confirm: Annotated[Literal[True], BeforeValidator(_confirmed)]
    reason: Reason = Field(default="", max_length=256)


def _not_null(value: Any) -> Any:
    if value is None:
        raise PydanticCustomError(
            "none_forbidden", "Input should not be null: leave the field out to keep it"
        )
    return value


def _schema_without_null(schema: dict[str, Any]) -> None:
    # A field left out is unchanged; null is refused (``_not_null``), so the schema shows no null.
    schema.pop("default", None)
    (value,) = [variant for variant in schema.pop("anyOf") if variant != {"type": "null"}]
    schema.update(value)


class ControlRequest(BaseModel):
    """A change of the control state: at least one field, each with a value (null is none of
    them); the fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    mode: Annotated[Mode | None, keyword(Mode), BeforeValidator(_not_null)] = Field(
        default=None, json_schema_extra=_schema_without_null
    )
    verbosity: Annotated[Verbosity | None, keyword(Verbosity), BeforeValidator(_not_null)] = Field(
        default=None, json_schema_extra=_schema_without_null
    )
    debug_clickhouse_enabled: Annotated[StrictBool | None, BeforeValidator(_not_null)] = Field(
        default=None, json_schema_extra=_schema_without_null
    )

    @model_validator(mode="after")
    def _some_field(self) -> ControlRequest:
        if not self.model_fields_set:
            raise PydanticCustomError("missing", f"give at least one of {', '.join(type(self).model_fields)}")
        return self


class MarkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", **_FINITE)  # type: ignore[typeddict-item]

    asset: AssetName
    price: Number = Field(ge=KERNEL_MIN_PRICE, le=KERNEL_MAX)


class ErrorAnswer(BaseModel):
    """401 (token), 404 (slot out of range), 409 (no free slot, or a control entry no write can
    follow), 503 (too many event streams, the cluster's control plane away, the kernel busy in
    another call, or taking no more input: closed, or its write-ahead log failed; or the gateway
    stopped, its server's lifespan ended)."""

    detail: str


OTHER_TRADE_NOTE = "trade_id given, and the slot holds another trade or none: nothing was sent"


class OtherTradeAnswer(BaseModel):
    """409: a slot's cancel or exit named a trade the slot does not hold (a page read before
    the slot moved on); nothing was sent."""

    detail: str
    field: Literal["trade_id"]
    trade_id: str = Field(description="The trade the request named")
    slot_trade_id: str | None = Field(description="The trade the slot holds; null when it holds none")


class TooLargeAnswer(BaseModel):
    """413: the body is over ``max_body_bytes``."""

    detail: str
    field: Literal["body"]


class TooSlowAnswer(BaseModel):
    """408: the body did not arrive in full within ``body_timeout_seconds``, or (``dita serve``)
    the request line and headers within ``header_timeout_seconds``."""

    detail: str
    field: Literal["body", "headers"]


class ValidationProblem(BaseModel):
    loc: list[str | int] = Field(description='Where: ["body", field], ["path", ...], ["header", ...]')
    msg: str
    type: str
    input: Any = Field(default=None, description="The value refused (short copy; absent when not plain)")
    reason: str | None = Field(default=None, description="Why the body is not JSON (type json_invalid)")


class ValidationAnswer(BaseModel):
    """422: the request does not fit the schema; ``message`` names each field and value."""

    detail: list[ValidationProblem]
    message: str


_ERROR_ANSWERS: dict[int, tuple[type[BaseModel], str]] = {
    401: (ErrorAnswer, "Missing or wrong bearer token"),
    404: (ErrorAnswer, "slot_id out of range"),
    408: (
        TooSlowAnswer,
        "Body not received in full within body_timeout_seconds, or (dita serve) the request line"
        " and headers within header_timeout_seconds",
    ),
    409: (ErrorAnswer, "ENTER without slot_id and no free slot"),
    413: (TooLargeAnswer, "Body over max_body_bytes"),
    421: (ErrorAnswer, "Host header names a host not served (allowed_hosts), or is malformed"),
    422: (ValidationAnswer, "Request does not fit the schema"),
    503: (
        ErrorAnswer,
        "The kernel takes no more input (its write-ahead log failed, or it is closed), the gateway"
        " stopped (its server's lifespan ended), or the kernel is busy in another call (retryable,"
        " with Retry-After); `detail` says which",
    ),
}

# What the layers before every route answer (HostGate, DeclaredBodyLimit, BodyLimit, and the
# deadline on headers), whatever the route: each route's schema lists them.
_EVERY_ROUTE = (408, 413, 421)


# The last event published before a read of the kernel's state ran (``GatewayState.read``).
LAST_EVENT_ID_HEADER = "X-Last-Event-Id"
_LAST_EVENT_ID_NOTE = (
    "The id of the last event /v1/events had published when the kernel was read: every event"
    " about a later state has a higher id, and the state read holds every event's up to it. A"
    " client following the stream keeps a slot's (the account's, the control state's) newer of"
    " the two: the read over events at or below this id, an event above it over the read."
)


def read_answer() -> dict[int | str, dict[str, Any]]:
    """The 200 answer's ``X-Last-Event-Id`` header, as the schema shows it."""
    header = {"description": _LAST_EVENT_ID_NOTE, "schema": {"type": "integer"}}
    return {200: {"headers": {LAST_EVENT_ID_HEADER: header}}}


def error_answers(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route that may answer these error statuses, with those any request
    may be answered before its route (408, 413, 421), as the schema shows them."""
    return {
        code: {"model": _ERROR_ANSWERS[code][0], "description": _ERROR_ANSWERS[code][1]}
        for code in sorted({*codes, *_EVERY_ROUTE})
    }
