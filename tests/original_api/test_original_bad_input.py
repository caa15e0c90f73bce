"""What dita refuses of input written in the original kernel's style: each refusal names the
field and the value, and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from original_style import at, original_intent

from dita import (
    AccountEvent,
    ExecutionKernel,
    KernelCommandType,
    KernelEventKind,
    KernelIntent,
    TradeSide,
    TradeStage,
    VenueEvent,
    VenueEventStatus,
    VenueOrder,
)

NAIVE = datetime(2025, 3, 1, 9, 30)  # no tzinfo: its moment depends on the machine's zone
MILLIS = 1_740_821_400_000.0  # 2025-03-01 09:30 UTC in milliseconds, the commonest clock mistake
IN_MILLIS = r"invalid timestamp: 1740821400000 \(must be seconds since the epoch.*reads as milliseconds\)"


@pytest.mark.parametrize(
    "make",
    [
        lambda: original_intent("ENTER", 0, NAIVE),
        lambda: VenueEvent(event_id="e", trade_id="t", slot_id=0, kind="FILL", timestamp=NAIVE),
        lambda: AccountEvent("a", "FUNDING_FEE", amount=1.0, timestamp=NAIVE),
        lambda: VenueOrder("c", 0, "t", "BTCUSDT", "BUY", "MARKET", 100.0, 1.0, timestamp=NAIVE),
    ],
    ids=["intent", "venue_event", "account_event", "venue_order"],
)
def test_a_naive_datetime_is_refused_naming_the_field_and_value(make: object) -> None:
    with pytest.raises(
        ValueError, match=r"invalid timestamp: naive datetime datetime\.datetime\(2025, 3, 1, 9, 30\)"
    ):
        make()  # type: ignore[operator]


@pytest.mark.parametrize(
    "make",
    [
        lambda: original_intent("ENTER", 0, pd.NaT),
        lambda: VenueEvent(event_id="e", trade_id="t", slot_id=0, kind="FILL", timestamp=pd.NaT),
        lambda: AccountEvent("a", "FUNDING_FEE", amount=1.0, timestamp=pd.NaT),
        lambda: VenueOrder("c", 0, "t", "BTCUSDT", "BUY", "MARKET", 100.0, 1.0, timestamp=pd.NaT),
    ],
    ids=["intent", "venue_event", "account_event", "venue_order"],
)
def test_a_missing_pandas_time_is_refused_naming_the_field_and_value(make: object) -> None:
    """pandas' missing time (NaT) is a datetime whose own utcoffset() raises."""
    with pytest.raises(ValueError, match=r"invalid timestamp: NaT \(ValueError: NaTType does not support"):
        make()  # type: ignore[operator]


@pytest.mark.parametrize(
    "make",
    [
        lambda: original_intent("ENTER", 0, MILLIS),  # type: ignore[arg-type]
        lambda: VenueEvent(event_id="e", trade_id="t", slot_id=0, kind="FILL", timestamp=MILLIS),
        lambda: AccountEvent("a", "FUNDING_FEE", amount=1.0, timestamp=MILLIS),
        lambda: VenueOrder("c", 0, "t", "BTCUSDT", "BUY", "MARKET", 100.0, 1.0, timestamp=MILLIS),
    ],
    ids=["intent", "venue_event", "account_event", "venue_order"],
)
def test_a_time_in_milliseconds_is_refused_naming_the_field_and_value(make: object) -> None:
    # Taken, it entered the trade, and every datetime read of it then raised.
    with pytest.raises(ValueError, match=IN_MILLIS):
        make()  # type: ignore[operator]


def test_the_last_second_a_datetime_holds_is_taken_and_reads_back() -> None:
    last = original_intent("ENTER", 0, 253_402_300_799.0)  # type: ignore[arg-type]
    assert last.timestamp == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


def test_a_mark_or_a_loaded_slot_in_milliseconds_is_refused_and_changes_nothing(
    kernel: ExecutionKernel,
) -> None:
    kernel.process_intent(original_intent("ENTER", 0, at(0)))
    before = (kernel.seq, kernel.slots())
    with pytest.raises(ValueError, match=IN_MILLIS):
        kernel.mark_price("BTCUSDT", 101.0, MILLIS)
    slots = kernel.slots()
    with pytest.raises(ValueError, match=r"invalid slots\[0\]\.entry_time: 1740821400000 \(.*milliseconds"):
        kernel.reconcile_from_slots([{**slots[0], "entry_time": MILLIS}, *slots[1:]])
    assert (kernel.seq, kernel.slots()) == before


@pytest.mark.parametrize("action", ["ENTER", "EXIT"])
def test_a_limit_price_on_a_market_order_is_refused_naming_it_and_sends_nothing(
    kernel: ExecutionKernel, action: str
) -> None:
    # A take-profit written with a limit price and order_type left at its default (MARKET)
    # went out as a market order at once; the gateway refuses it too (422 naming limit_price).
    if action == "EXIT":
        assert kernel.process_intent(original_intent("ENTER", 0, at(0))).accepted
    before = kernel.slots()
    out = kernel.process_intent(
        KernelIntent(
            timestamp=at(1), intent_id="tp-1", trade_id="trade-0", slot_id=0, asset="BTCUSDT",
            side=TradeSide("LONG"), action=KernelCommandType(action), reference_price=100.0,
            target_size=1.0 if action == "ENTER" else 0.0, limit_price=120.0,
        )
    )  # fmt: skip
    assert not out.accepted and out.order is None
    assert out.diagnostic_code.name == "INVALID_INTENT"
    assert out.details["field"] == "limit_price" and out.details["value"] == 120.0
    assert "LIMIT" in out.details["reason"]
    assert kernel.slots() == before


def test_none_assigned_to_a_slot_s_metadata_is_refused_and_keeps_it(kernel: ExecutionKernel) -> None:
    # None emptied the metadata unseen; {} clears it.
    kernel.process_intent(original_intent("ENTER", 0, at(0), metadata={"stop": 95.0}))
    seq = kernel.seq
    with pytest.raises(TypeError, match=r"invalid metadata: .*got None \(give \{\} to clear it\)"):
        kernel.slot(0).metadata = None
    with pytest.raises(TypeError, match=r"invalid metadata: .*got None"):
        kernel.set_slot_metadata(0, None)  # type: ignore[arg-type]
    assert dict(kernel.slot(0).metadata) == {"stop": 95.0} and kernel.seq == seq
    kernel.slot(0).metadata = {}
    assert dict(kernel.slot(0).metadata) == {}


def test_a_naive_datetime_to_mark_price_changes_nothing(kernel: ExecutionKernel) -> None:
    seq = kernel.seq
    with pytest.raises(ValueError, match="invalid timestamp: naive datetime"):
        kernel.mark_price("BTCUSDT", 101.0, NAIVE)
    assert kernel.seq == seq


@pytest.mark.parametrize(
    ("enum", "text"),
    [(TradeStage, "OPEN"), (TradeSide, "long"), (KernelCommandType, "BUY"), (VenueEventStatus, "ACK")],
)
def test_an_unknown_name_is_refused_naming_the_enum_and_the_text(enum: type, text: str) -> None:
    with pytest.raises(ValueError, match=rf'unknown {enum.__name__} "{text}"; expected one of'):
        enum(text)


def test_an_enum_of_no_text_is_refused_as_a_string_enum_refuses_it_naming_the_enum_and_the_value() -> None:
    with pytest.raises(ValueError, match=r"KernelEventKind\(\) takes a member's name as str, got int 3"):
        KernelEventKind(3)


def test_an_unknown_name_in_an_intent_is_refused_naming_the_field() -> None:
    with pytest.raises(ValueError, match=r'invalid action: unknown KernelCommandType "OPEN"'):
        KernelIntent(
            timestamp=at(0),
            intent_id="i1",
            trade_id="t1",
            slot_id=0,
            asset="BTCUSDT",
            side="LONG",
            action="OPEN",
            reference_price=100.0,
            target_size=1.0,
        )


@pytest.mark.parametrize(
    ("event", "error", "message"),
    [
        ({"wallet_balance": 1.0}, ValueError, r"invalid account event: missing kind"),
        ({"kind": "DEPOSIT"}, ValueError, r'invalid kind: unknown AccountEventKind "DEPOSIT"'),
        (
            {"kind": "ACCOUNT_UPDATE", "wallet_balance": "lots"},
            TypeError,
            r"invalid wallet_balance: expected a number, got str 'lots'",
        ),
        (
            {"kind": "ACCOUNT_UPDATE", "wallet": 5.0},
            ValueError,
            r'invalid account event: unknown field "wallet" \(value 5\.0\)',
        ),
        (
            {"kind": "FUNDING_FEE", "amount": float("nan")},
            ValueError,
            r"account event refused: INVALID_INTENT",
        ),
    ],
    ids=["missing-kind", "unknown-kind", "non-numeric", "unknown-field", "not-finite"],
)
def test_a_bad_account_event_dict_is_refused_naming_it_and_changes_nothing(
    kernel: ExecutionKernel, event: dict[str, object], error: type[Exception], message: str
) -> None:
    before = (kernel.account(), kernel.slots())
    with pytest.raises(error, match=message):
        kernel.on_account_event(event)
    assert (kernel.account(), kernel.slots()) == before


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "size",
            -1.0,
            r"cannot set slot 0's size to -1\.0: invalid slots\[0\]\.size: -1 \(must not be negative\)",
        ),
        (
            "entry_price",
            float("inf"),
            r"cannot set slot 0's entry_price to inf: invalid slots\[0\]\.entry_price",
        ),
        ("fsm_state", "HALF_OPEN", r"cannot set slot 0's fsm_state to 'HALF_OPEN': .*unknown TradeStage"),
        ("side", "UP", r"cannot set slot 0's side to 'UP': .*unknown TradeSide \"UP\""),
        ("leverage", "high", r"cannot set slot 0's leverage to 'high': .*expected a number, got str 'high'"),
        ("entry_time", NAIVE, r"cannot set slot 0's entry_time to .*naive datetime"),
        ("entry_time", MILLIS, r"cannot set slot 0's entry_time to .*reads as milliseconds"),
        ("metadata", {"k": object()}, r"metadata"),
        ("exit_leg_ratios", (0.5, 0.6), r"cannot set slot 0's exit_leg_ratios to \(0\.5, 0\.6\): "),
        ("exit_leg_ratios", None, r"cannot set slot 0's exit_leg_ratios to None: "),
        # An ENTER refuses such ids: the position would be one no intent or mark can name.
        (
            "asset",
            " ",
            r"cannot set slot 0's asset to ' ': invalid slots\[0\]\.asset: \" \" \(must not be only",
        ),
        (
            "trade_id",
            "\t",
            r"cannot set slot 0's trade_id to '\\t': invalid slots\[0\]\.trade_id: \"\\t\" \(must not",
        ),
    ],
)
def test_a_bad_value_assigned_to_a_slot_view_is_refused_and_changes_nothing(
    kernel: ExecutionKernel, field: str, value: object, message: str
) -> None:
    kernel.process_intent(original_intent("ENTER", 0, at(0)))
    slot = kernel.slot(0)
    before = (kernel.seq, kernel.slots())
    with pytest.raises((ValueError, TypeError), match=message):
        setattr(slot, field, value)
    assert (kernel.seq, kernel.slots()) == before


@pytest.mark.parametrize(
    ("price", "error", "message"),
    [
        (float("nan"), ValueError, r"invalid price: NaN \(must be a finite positive number\)"),
        (-1.0, ValueError, r"invalid price: -1 \(must be a finite positive number\)"),
        (0.0, ValueError, r"invalid price: 0 "),
        ("100", TypeError, r"invalid price: expected a number, got str '100'"),
        (True, TypeError, r"invalid price: expected a number, got bool True"),
    ],
)
def test_a_free_slot_s_mark_price_refuses_a_bad_price_as_an_open_slot_s_does(
    kernel: ExecutionKernel, price: object, error: type[Exception], message: str
) -> None:
    kernel.process_intent(original_intent("ENTER", 0, at(0)))
    before = (kernel.seq, kernel.slots())
    for slot_id in (0, 1):  # an open slot, a free one holding no asset
        with pytest.raises(error, match=message):
            kernel.slot(slot_id).mark_price(price)  # type: ignore[arg-type]
    assert (kernel.seq, kernel.slots()) == before
    kernel.slot(1).mark_price(101.0)  # a good price on a free slot marks nothing, and is taken
    assert (kernel.seq, kernel.slots()) == before


def test_a_field_the_kernel_keeps_cannot_be_assigned(kernel: ExecutionKernel) -> None:
    slot = kernel.slot(0)
    for field in ("seen_event_ids", "committed_notional", "is_free"):
        with pytest.raises(AttributeError, match=f"slot field '{field}' is the kernel's own"):
            setattr(slot, field, 1)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("intent_id", 123, "argument 'intent_id': expected str, got int 123"),
        ("trade_id", 7.5, "argument 'trade_id': expected str, got float 7.5"),
        ("asset", b"BTC", "argument 'asset': expected str, got bytes b'BTC'"),
        ("reason", 5, "argument 'reason': expected str, got int 5"),
        ("side", None, "invalid side: expected TradeSide or its name as str, got NoneType None"),
        ("action", None, "invalid action: expected KernelCommandType or its name as str, got NoneType None"),
    ],
)
def test_an_intent_field_of_the_wrong_type_is_refused_naming_the_value(
    field: str, value: object, message: str
) -> None:
    fields: dict[str, object] = {
        "intent_id": "i-1", "trade_id": "t-1", "slot_id": 0, "asset": "BTCUSDT", "side": "LONG",
        "action": "ENTER", "reference_price": 100.0, "target_size": 1.0, "timestamp": at(0),
    }  # fmt: skip
    with pytest.raises(TypeError) as refused:
        KernelIntent(**{**fields, field: value})  # type: ignore[arg-type]
    assert str(refused.value) == message
