"""The original kernel's data classes, field by field and method by method, from `import dita`."""

from __future__ import annotations

from datetime import datetime

import pytest
from original_style import HandDrivenVenue, at, original_intent

import dita
from dita import (
    ControlMode,
    ExecutionKernel,
    KernelCommandType,
    KernelDiagnosticCode,
    KernelEventKind,
    KernelIntent,
    KernelSeverity,
    MockVenueAdapter,
    TradeSide,
    TradeStage,
    VenueEvent,
    VenueEventStatus,
    VenueOrderStatus,
    Verbosity,
)

NAMES = [
    "TradeStage",
    "TradeSide",
    "KernelCommandType",
    "KernelEventKind",
    "VenueEventStatus",
    "VenueOrderStatus",
    "KernelDiagnosticCode",
    "KernelSeverity",
    "KernelIntent",
    "VenueEvent",
    "VenueOrder",
    "TradeSlot",
    "KernelTransition",
    "KernelOutcome",
    "ExecutionKernel",
    "MockVenueAdapter",
]


@pytest.mark.parametrize("name", NAMES)
def test_every_name_of_the_original_kernel_imports_from_dita(name: str) -> None:
    assert getattr(dita, name) is not None
    assert name in dita.__all__


def test_an_intent_holds_every_field_of_the_original_as_given() -> None:
    intent = original_intent(
        "ENTER",
        1,
        at(5),
        exit_leg_ratios=(0.25, 0.75),
        order_type="LIMIT",
        limit_price=99.5,
        leverage=2.0,
        stage="POSITION_OPEN",
    )
    assert intent.timestamp == at(5) and isinstance(intent.timestamp, datetime)
    assert intent.timestamp_s == at(5).timestamp()
    assert (intent.intent_id, intent.trade_id, intent.slot_id, intent.asset) == (
        intent.intent_id,
        "trade-1",
        1,
        "BTCUSDT",
    )
    assert intent.side == TradeSide.LONG and intent.action == KernelCommandType.ENTER
    assert (intent.reference_price, intent.target_size, intent.leverage) == (100.0, 1.0, 2.0)
    assert intent.exit_leg_ratios == (0.25, 0.75) and isinstance(intent.exit_leg_ratios, tuple)
    assert intent.reason == "signal" and intent.metadata == {"strategy": "original"}
    assert intent.stage == TradeStage.POSITION_OPEN
    assert intent.order_type == "LIMIT" and intent.limit_price == 99.5


def test_a_venue_event_holds_every_field_of_the_original_as_given() -> None:
    event = VenueEvent(
        timestamp=at(7),
        event_id="e1",
        trade_id="trade-0",
        slot_id=0,
        kind=KernelEventKind("FILL"),
        status=VenueEventStatus("PARTIALLY_FILLED"),
        venue_order_id="v1",
        venue_client_id="c1",
        side=TradeSide("SHORT"),
        asset="ETHUSDT",
        price=2000.0,
        size=0.5,
        filled_size=0.5,
        remaining_size=1.5,
        reason="partial",
        raw_payload={"exchange": {"id": 7}},
        metadata={"liquidity": "MAKER"},
    )
    assert event.timestamp == at(7) and event.timestamp_s == at(7).timestamp()
    assert (event.event_id, event.trade_id, event.slot_id) == ("e1", "trade-0", 0)
    assert event.kind == KernelEventKind.FILL and event.status == VenueEventStatus.PARTIALLY_FILLED
    assert (event.venue_order_id, event.venue_client_id, event.asset) == ("v1", "c1", "ETHUSDT")
    assert event.side == TradeSide.SHORT and event.order_side is None
    assert (event.price, event.size, event.filled_size, event.remaining_size) == (2000.0, 0.5, 0.5, 1.5)
    assert event.reason == "partial" and event.metadata == {"liquidity": "MAKER"}
    assert event.raw_payload == {"exchange": {"id": 7}}


def test_a_venue_event_made_with_dita_s_order_side_reads_it_as_order_side() -> None:
    event = VenueEvent("e1", "t", 0, "FILL", side="SELL")
    assert event.order_side == dita.OrderSide.SELL and event.side is None
    both = VenueEvent("e2", "t", 0, "FILL", side="LONG", order_side="SELL")
    assert (both.side, both.order_side) == (TradeSide.LONG, dita.OrderSide.SELL)
    assert event.raw_payload == {}


def test_a_venue_order_answers_to_the_original_names(kernel: ExecutionKernel) -> None:
    venue = HandDrivenVenue()
    k = ExecutionKernel(max_slots=1, venue=venue)
    k.process_intent(original_intent("ENTER", 0, at(0), target_size=2.0))
    order = k.slot(0).active_entry_order
    assert order is not None
    assert order.internal_trade_id == "trade-0" == order.trade_id
    assert (
        order.venue_client_id == order.client_order_id
        and order.venue_order_id == f"v-{order.venue_client_id}"
    )
    assert order.side == TradeSide.LONG and order.order_side == dita.OrderSide.BUY
    assert order.intended_size == 2.0 == order.size
    assert order.filled_size == 0.0 and order.average_fill_price == 0.0 == order.avg_fill_price
    assert order.status == VenueOrderStatus.ACKNOWLEDGED and order.metadata == {}
    k.close()


def test_an_exit_order_s_side_is_its_trade_s(kernel: ExecutionKernel) -> None:
    k = ExecutionKernel(max_slots=1, venue=MockVenueAdapter(fill_rate=0.0))
    k.process_intent(original_intent("ENTER", 0, at(0), side="SHORT"))
    entry = k.slot(0).active_entry_order
    assert entry is not None and (entry.side, entry.order_side) == (TradeSide.SHORT, dita.OrderSide.SELL)
    k.close()


def test_a_slot_holds_every_field_of_the_original(kernel: ExecutionKernel) -> None:
    kernel.process_intent(original_intent("ENTER", 0, at(3), exit_leg_ratios=(0.5, 0.5)))
    slot = kernel.slot(0)
    assert (slot.slot_id, slot.trade_id, slot.asset, slot.side) == (0, "trade-0", "BTCUSDT", TradeSide.LONG)
    assert (slot.entry_price, slot.size, slot.initial_size, slot.leverage) == (100.0, 1.0, 1.0, 1.0)
    assert slot.entry_time == at(3) and slot.last_event_time == at(3)
    assert (slot.unrealized_pnl, slot.realized_pnl, slot.closed) == (0.0, 0.0, False)
    assert slot.exit_leg_ratios == (0.5, 0.5) and slot.active_leg_index == 0
    assert slot.active_entry_order is None and slot.active_exit_order is None
    assert slot.fsm_state == TradeStage.POSITION_OPEN and slot.close_reason == ""
    assert slot.metadata == {"strategy": "original"}
    assert len(slot.seen_event_ids) == 2
    assert "mock-e1" in slot.seen_event_ids and "never-seen" not in slot.seen_event_ids
    with pytest.raises(TypeError, match="fingerprints of the event ids"):
        tuple(slot.seen_event_ids)


def test_a_free_slot_reads_no_times(kernel: ExecutionKernel) -> None:
    slot = kernel.slot(2)
    assert slot.entry_time is None and slot.last_event_time is None
    assert slot.entry_time_s == 0.0 and slot.last_event_time_s == 0.0


def test_a_slot_s_methods_answer_as_the_original_s(kernel: ExecutionKernel) -> None:
    slot = kernel.slot(0)
    assert slot.is_free() and not slot.is_open() and slot.next_exit_ratio() == 1.0
    kernel.process_intent(original_intent("ENTER", 0, at(0), exit_leg_ratios=(0.25, 0.75)))
    assert not slot.is_free() and slot.is_open() and slot.next_exit_ratio() == 0.25
    slot.mark_price(110.0)
    assert slot.unrealized_pnl == pytest.approx(10.0) and slot.last_mark_price == 110.0
    assert slot.consume_exit_leg() == 0.25 and slot.active_leg_index == 1 and slot.next_exit_ratio() == 0.75
    # Every leg done while the position is held: a leg exit closes all of it.
    assert slot.consume_exit_leg() == 0.75 and slot.next_exit_ratio() == 1.0
    assert slot.consume_exit_leg() is None and slot.active_leg_index == 2
    assert slot.to_dict()["active_leg_index"] == 2


def test_a_transition_holds_every_field_of_the_original(kernel: ExecutionKernel) -> None:
    out = kernel.process_intent(original_intent("ENTER", 0, at(1)))
    first = out.transitions[0]
    assert (first.prev_state, first.next_state, first.trigger) == (
        TradeStage.IDLE,
        TradeStage.ORDER_REQUESTED,
        "ENTER",
    )
    assert (first.trade_id, first.slot_id, first.event_id) == ("trade-0", 0, "")
    assert first.intent_id.startswith("intent-") and first.timestamp == at(1).timestamp()
    assert first.control_mode == ControlMode.PAPER and first.control_verbosity == Verbosity.NORMAL
    assert isinstance(first.details, dict)


def test_an_outcome_holds_every_field_of_the_original_in_its_shapes(kernel: ExecutionKernel) -> None:
    out = kernel.process_intent(original_intent("ENTER", 0, at(1)))
    assert out.accepted is True and (out.slot_id, out.trade_id) == (0, "trade-0")
    assert out.state == TradeStage.POSITION_OPEN
    assert out.diagnostic_code == KernelDiagnosticCode.OK and out.severity == KernelSeverity.INFO
    assert isinstance(out.transitions, tuple) and isinstance(out.emitted_events, tuple)
    assert [e.kind.value for e in out.emitted_events] == ["ORDER_ACK", "FILL"]
    assert all(e.side == TradeSide.LONG for e in out.emitted_events)  # its order's trade's
    assert isinstance(out.details, dict)


def test_a_venue_order_is_built_with_the_original_keywords() -> None:
    order = dita.VenueOrder(
        internal_trade_id="trade-7",
        venue_order_id="v-7",
        venue_client_id="c-7",
        side=TradeSide.SHORT,
        intended_size=2.0,
        filled_size=0.5,
        average_fill_price=101.5,
        status=VenueOrderStatus.PARTIALLY_FILLED,
        metadata={},
    )
    assert (order.internal_trade_id, order.venue_order_id, order.venue_client_id) == ("trade-7", "v-7", "c-7")
    assert (order.side, order.order_side) == (TradeSide.SHORT, dita.OrderSide.SELL)
    assert (order.intended_size, order.filled_size, order.average_fill_price) == (2.0, 0.5, 101.5)
    assert order.status == VenueOrderStatus.PARTIALLY_FILLED and order.metadata == {}
    # The original's orders carry no slot, asset, type or price.
    assert (order.slot_id, order.asset, order.order_type.name, order.price) == (0, "", "MARKET", 0.0)


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({"client_order_id": "c"}, TypeError, "both 'client_order_id' and 'venue_client_id'"),
        ({"trade_id": "t"}, TypeError, "both 'trade_id' and 'internal_trade_id'"),
        ({"venue_client_id": None}, TypeError, "missing required argument: 'client_order_id'"),
        ({"internal_trade_id": None}, TypeError, "missing required argument: 'trade_id'"),
        ({"side": None}, TypeError, "missing required argument: 'side'"),
        ({"intended_size": -1.0}, ValueError, "invalid intended_size: -1"),
        ({"average_fill_price": float("nan")}, ValueError, "invalid average_fill_price: NaN"),
        ({"metadata": {"desk": "a"}}, ValueError, r"invalid metadata: \{'desk': 'a'\}"),
        ({"metadata": ["desk"]}, TypeError, r"metadata: expected a dict or None, got list"),
    ],
)
def test_a_venue_order_in_the_original_shape_with_a_bad_field_is_refused_naming_it(
    fields: dict[str, object], error: type[Exception], message: str
) -> None:
    given: dict[str, object] = {
        "internal_trade_id": "t",
        "venue_client_id": "c",
        "side": "LONG",
        "intended_size": 1.0,
    }
    given.update(fields)
    with pytest.raises(error, match=message):
        dita.VenueOrder(**{k: v for k, v in given.items() if v is not None})  # type: ignore[arg-type]


@pytest.mark.parametrize("left_out", ["slot_id", "asset", "order_type", "price"])
def test_a_venue_order_in_dita_s_names_alone_needs_its_slot_asset_type_and_price(left_out: str) -> None:
    given: dict[str, object] = {
        "client_order_id": "c",
        "slot_id": 1,
        "trade_id": "t",
        "asset": "BTCUSDT",
        "side": "BUY",
        "order_type": "LIMIT",
        "price": 100.0,
        "size": 1.0,
    }
    del given[left_out]
    with pytest.raises(TypeError, match=f"missing required argument: '{left_out}'"):
        dita.VenueOrder(**given)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=f"missing required argument: '{left_out}'"):
        dita.VenueOrder(**given, metadata={})  # type: ignore[arg-type]


def test_a_venue_order_with_nothing_given_names_its_first_argument_missing() -> None:
    with pytest.raises(TypeError, match="missing required argument: 'client_order_id'"):
        dita.VenueOrder()


def test_an_intent_s_and_an_event_s_metadata_refuse_a_change_in_place() -> None:
    """Each read gives the metadata anew: a change in place would be lost without a word (a run
    id the risk guard asks for in LIVE, say), so it raises; a changed copy is built in."""
    intent = KernelIntent(
        intent_id="i1", trade_id="t1", slot_id=0, asset="BTCUSDT", side="LONG", action="ENTER",
        reference_price=100.0, target_size=1.0, metadata={"strategy": "s"},
    )  # fmt: skip
    event = VenueEvent(event_id="e1", trade_id="t1", slot_id=0, kind="ORDER_ACK", metadata={"a": 1})
    for meta in (intent.metadata, event.metadata):
        with pytest.raises(TypeError):
            meta["source_run"] = "run-42"  # type: ignore[index]
    assert intent.metadata == {"strategy": "s"} and dict(event.metadata) == {"a": 1}
    again = KernelIntent(**{**intent.to_dict(), "metadata": {**intent.metadata, "source_run": "run-42"}})
    assert again.metadata["source_run"] == "run-42"


def test_an_intent_equals_one_of_the_same_fields_and_copies_and_pickles_as_equal() -> None:
    import copy
    import pickle

    fields: dict[str, object] = {
        "intent_id": "i1", "trade_id": "t1", "slot_id": 2, "asset": "BTCUSDT", "side": "SHORT",
        "action": "ENTER", "reference_price": 100.0, "target_size": 1.5, "leverage": 3.0,
        "exit_leg_ratios": (0.5, 0.5), "order_type": "LIMIT", "limit_price": 101.0, "reason": "r",
        "metadata": {"a": 1, "b": None}, "timestamp": 1_700_000_000.25, "stage": "IDLE",
    }  # fmt: skip
    intent = KernelIntent(**fields)  # type: ignore[arg-type]
    assert intent == KernelIntent(**fields)  # type: ignore[arg-type]
    assert hash(intent) == hash(KernelIntent(**fields))  # type: ignore[arg-type]
    assert intent != KernelIntent(**{**fields, "limit_price": 102.0})  # type: ignore[arg-type]
    assert intent != KernelIntent(**{**fields, "stage": "CLOSED"})  # type: ignore[arg-type]
    assert intent != intent.to_dict()
    for again in (pickle.loads(pickle.dumps(intent)), copy.copy(intent), copy.deepcopy(intent)):
        assert again == intent and again.to_dict() == intent.to_dict() and again.stage == TradeStage.IDLE
