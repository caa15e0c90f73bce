"""The original kernel's data classes, field by field and method by method, from `import dita`."""

from __future__ import annotations

from collections.abc import Mapping
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
    # The last leg's exit closes the whole position held: all 1.0 of it, the first leg consumed
    # without a fill.
    assert slot.consume_exit_leg() == 0.25 and slot.active_leg_index == 1 and slot.next_exit_ratio() == 1.0
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
    assert isinstance(first.details, Mapping)


def test_an_outcome_holds_every_field_of_the_original_in_its_shapes(kernel: ExecutionKernel) -> None:
    out = kernel.process_intent(original_intent("ENTER", 0, at(1)))
    assert out.accepted is True and (out.slot_id, out.trade_id) == (0, "trade-0")
    assert out.state == TradeStage.POSITION_OPEN
    assert out.diagnostic_code == KernelDiagnosticCode.OK and out.severity == KernelSeverity.INFO
    assert isinstance(out.transitions, tuple) and isinstance(out.emitted_events, tuple)
    assert [e.kind.value for e in out.emitted_events] == ["ORDER_ACK", "FILL"]
    assert all(e.side == TradeSide.LONG for e in out.emitted_events)  # its order's trade's
    assert isinstance(out.details, Mapping)


def test_a_note_written_in_place_into_an_outcome_s_details_raises_rather_than_being_lost(
    kernel: ExecutionKernel,
) -> None:
    # Each read builds the details anew: a change in place would be dropped without a word.
    out = kernel.process_intent(original_intent("ENTER", 0, at(1)))
    with pytest.raises(TypeError):
        out.details["signal"] = "breakout"  # type: ignore[index]
    with pytest.raises(TypeError):
        out.transitions[0].details["note"] = "mine"  # type: ignore[index]
    made = dita.KernelTransition(at(1), "t", 0, "IDLE", "ORDER_REQUESTED", "ENTER", details={"k": 1})
    with pytest.raises(TypeError):
        made.details["k"] = 2  # type: ignore[index]
    assert dict(made.details) == {"k": 1} and "signal" not in out.details


def test_a_note_written_in_place_into_an_order_s_metadata_raises_rather_than_being_lost() -> None:
    venue = HandDrivenVenue()
    with ExecutionKernel(max_slots=1, venue=venue) as k:
        k.process_intent(original_intent("ENTER", 0, at(0)))
        order = k.slot(0).active_entry_order
        assert order is not None
        with pytest.raises(TypeError):
            order.metadata["exchange_ref"] = "abc"  # type: ignore[index]
        assert order.metadata == {}


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


# The original's data classes compare by their fields and are built by keywords.


def test_a_slot_s_working_order_read_twice_is_one_order() -> None:
    """Strategy code that watches a slot's order for a change sees none while nothing changed."""
    k = ExecutionKernel(max_slots=1, venue=MockVenueAdapter(fill_rate=0.0))
    k.process_intent(original_intent("ENTER", 0, at(0), order_type="LIMIT", limit_price=99.0))
    slot = k.slot(0)
    before = slot.active_entry_order
    assert before is not None
    assert before == slot.active_entry_order and hash(before) == hash(slot.active_entry_order)
    assert len({before, slot.active_entry_order}) == 1
    k.process_intent(original_intent("CANCEL", 0, at(1)))
    assert slot.active_entry_order != before
    k.close()


def test_venue_events_of_the_same_fields_are_equal() -> None:
    def event(**fields: object) -> VenueEvent:
        given: dict[str, object] = {"event_id": "e1", "trade_id": "t", "slot_id": 0, "kind": "FILL"}
        return VenueEvent(**{**given, "price": 99.0, "size": 1.0, "timestamp": at(1), **fields})  # type: ignore[arg-type]

    assert event() == event() and hash(event()) == hash(event())
    assert event(raw_payload={"fills": [1]}) == event(raw_payload={"fills": [1]})
    assert event(raw_payload={}) == event()  # none given reads as an empty payload
    # What the event carries beyond the kernel's fields counts too.
    assert event(raw_payload={"fills": [1]}) != event(raw_payload={"fills": [2]})
    assert event(side="LONG") != event() and event(status="FILLED") != event()
    assert event(price=98.0) != event() and event() != event().to_dict()


def test_two_copies_of_an_unchanged_slot_are_equal(kernel: ExecutionKernel) -> None:
    import copy

    kernel.process_intent(original_intent("ENTER", 0, at(0)))
    a, b = copy.copy(kernel.slot(0)), copy.copy(kernel.slot(0))
    assert a == b and hash(a) == hash(b)
    kernel.slot(0).mark_price(101.0)
    assert copy.copy(kernel.slot(0)) != a


def test_an_event_s_raw_payload_refuses_a_change_in_place() -> None:
    """Each read of the payload is the event's own: a change in place would be lost without a
    word, so it raises."""
    event = VenueEvent("e1", "t", 0, "FILL", raw_payload={"a": 1})
    with pytest.raises(TypeError):
        event.raw_payload["seen"] = True  # type: ignore[index]
    assert event.raw_payload == {"a": 1}
    again = VenueEvent(**{**event.to_dict(), "raw_payload": {**event.raw_payload, "seen": True}})
    assert again.raw_payload == {"a": 1, "seen": True}


# The keys of a slot's dict a kernel computes: not fields a slot is built from.
COMPUTED = ("committed_notional", "awaited_fill_qty", "order_in_doubt", "kernel_id")


def test_a_trade_slot_is_built_from_the_fields_of_a_slot_dict_for_a_restore() -> None:
    k = ExecutionKernel(max_slots=2, venue=MockVenueAdapter(fill_rate=0.0))
    k.process_intent(original_intent("ENTER", 0, at(0), order_type="LIMIT", limit_price=99.0))
    saved = [{f: v for f, v in k.slot(i).to_dict().items() if f not in COMPUTED} for i in range(2)]
    slots = [dita.TradeSlot(**fields) for fields in saved]
    assert slots[0].to_dict() == {**saved[0], "committed_notional": 0.0}  # a kernel computes it
    assert slots[0].fsm_state == TradeStage.ENTRY_WORKING and not slots[0].is_free()
    assert slots[1] == dita.TradeSlot(1) and slots[1].is_free()
    restored = ExecutionKernel(max_slots=2, venue=MockVenueAdapter(fill_rate=0.0))
    restored.load_slots(slots)
    assert restored.slot(0).active_entry_order == k.slot(0).active_entry_order
    k.close()
    restored.close()


def test_a_trade_slot_is_built_from_the_original_s_values() -> None:
    """An order as a VenueOrder, times as datetimes or None, legs not given as one leg."""
    order = dita.VenueOrder("c-1", 0, "trade-0", "BTCUSDT", "BUY", "LIMIT", 99.0, 1.0, status="ACKNOWLEDGED")
    slot = dita.TradeSlot(
        slot_id=0, trade_id="trade-0", asset="BTCUSDT", side=TradeSide.LONG, entry_time=at(2),
        last_event_time=None, active_entry_order=order, fsm_state=TradeStage.ENTRY_WORKING,
        exit_leg_ratios=None, metadata={"strategy": "s"},
    )  # fmt: skip
    assert slot.active_entry_order == order and slot.entry_time == at(2) and slot.last_event_time is None
    assert slot.exit_leg_ratios == (1.0,) and slot.metadata == {"strategy": "s"}


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({"size": "1"}, TypeError, "invalid size: expected a number, got str '1'"),
        ({"side": "UP"}, ValueError, 'invalid side: unknown TradeSide "UP"'),
        ({"entry_time": "noon"}, TypeError, "entry_time"),
        (
            {"active_exit_order": 5},
            TypeError,
            "active_exit_order must be a VenueOrder, a dict or None, got int 5",
        ),
        ({"sise": 1.0}, TypeError, "unexpected keyword argument 'sise'"),
        ({"committed_notional": 1.0}, TypeError, "unexpected keyword argument 'committed_notional'"),
    ],
)
def test_a_trade_slot_built_with_a_bad_field_is_refused_naming_it(
    fields: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        dita.TradeSlot(0, **fields)  # type: ignore[arg-type]


def test_a_transition_is_built_from_its_fields_and_equals_the_kernel_s(kernel: ExecutionKernel) -> None:
    made = kernel.process_intent(original_intent("ENTER", 0, at(1))).transitions[0]
    built = dita.KernelTransition(
        timestamp=at(1), trade_id="trade-0", slot_id=0, prev_state=TradeStage.IDLE,
        next_state=TradeStage.ORDER_REQUESTED, trigger="ENTER", intent_id=made.intent_id,
        control_mode=ControlMode.PAPER, control_verbosity=Verbosity.NORMAL,
    )  # fmt: skip
    assert built == made and hash(built) == hash(made) and built.to_dict() == made.to_dict()
    with_details = dita.KernelTransition(
        1.0, "t", 0, "IDLE", "ORDER_REQUESTED", "ENTER", details={"why": "test"}
    )
    assert with_details.details == {"why": "test"} and with_details.control_mode == ControlMode.LIVE
    assert with_details != dita.KernelTransition(1.0, "t", 0, "IDLE", "ORDER_REQUESTED", "ENTER")
    with pytest.raises(ValueError, match='invalid trigger: "ENTERED"'):
        dita.KernelTransition(1.0, "t", 0, "IDLE", "ORDER_REQUESTED", "ENTERED")


def test_a_strategy_test_takes_its_outcome_from_a_kernel_as_only_a_kernel_makes_one() -> None:
    """The guide's way to a rate-limited outcome: a mock venue that rate limits every order."""
    with pytest.raises(TypeError):
        dita.KernelOutcome(accepted=False)  # type: ignore[call-arg]
    k = ExecutionKernel(max_slots=1, venue=MockVenueAdapter(rate_limit_rate=1.0, retry_after=1.0))
    out = k.process_intent(original_intent("ENTER", 0, at(0)))
    assert (out.accepted, out.diagnostic_code) == (False, KernelDiagnosticCode.RATE_LIMITED)
    assert out.details["retry_after_ms"] == 1000.0
    k.close()
