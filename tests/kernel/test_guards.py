"""Boundary guards: every diagnostic reachable, bad input refused and changing nothing."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kernel_helpers import intent
from pydantic import ValidationError

from dita import (
    AccountEvent,
    ExecutionKernel,
    KernelDiagnosticCode,
    KernelIntent,
    MockVenueAdapter,
    TradeStage,
    VenueEvent,
    VenueOrder,
)
from dita.risk import KERNEL_MIN_STEP, MarketLimits, RiskLimits

D = KernelDiagnosticCode


def state_of(k: ExecutionKernel) -> dict[str, Any]:
    snap = k.snapshot()
    snap["control"].pop("updated_seq")
    return snap


def test_every_diagnostic_code_is_reachable() -> None:
    seen: dict[KernelDiagnosticCode, Any] = {}

    def record(out: Any) -> None:
        seen.setdefault(out.diagnostic_code, out)

    k = ExecutionKernel(max_slots=2, kernel_id="diag")
    record(k.process_intent(intent("ENTER", 0)))  # OK
    record(k.process_intent(intent("ENTER", 7)))  # INVALID_SLOT_ID
    record(k.process_intent(intent("ENTER", 1, reference_price=math.nan)))  # INVALID_INTENT
    record(k.process_intent(intent("ENTER", 0)))  # SLOT_BUSY
    record(k.process_intent(intent("EXIT", 1)))  # NO_POSITION
    dup = intent("ENTER", 1)
    k.process_intent(dup)
    record(k.process_intent(dup))  # DUPLICATE_INTENT
    record(k.process_intent(intent("CANCEL", 1)))  # INVALID_TRANSITION (nothing working)
    k.set_exchange_config({"min_notional": 5.0})
    k2 = ExecutionKernel(max_slots=1)
    k2.set_exchange_config({"min_notional": 5.0})
    record(k2.process_intent(intent("ENTER", 0, reference_price=1.0, target_size=1.0)))  # BELOW_MIN_NOTIONAL
    k2.update_control(mode="HALTED")
    record(k2.process_intent(intent("ENTER", 0, reference_price=100.0)))  # MODE_BLOCKED
    k3 = ExecutionKernel(max_slots=1)
    k3.set_risk_limits({"max_leverage": 2.0})
    record(k3.process_intent(intent("ENTER", 0, leverage=3.0)))  # RISK_REJECTED
    k4 = ExecutionKernel(max_slots=1, venue=MockVenueAdapter(rate_limit_rate=1.0))
    record(k4.process_intent(intent("ENTER", 0)))  # RATE_LIMITED
    k5 = ExecutionKernel(max_slots=1, venue=MockVenueAdapter(fill_rate=0.0))
    coid = k5.process_intent(intent("ENTER", 0)).order.client_order_id
    fill = VenueEvent("f", "t0", 0, "FILL", price=100.0, size=0.4, venue_client_id=coid)
    k5.on_venue_event(fill)
    record(k5.on_venue_event(fill))  # DUPLICATE_EVENT
    record(
        k5.on_venue_event(VenueEvent("g", "t0", 0, "FILL", price=100.0, size=5.0, venue_client_id=coid))
    )  # OVERFILL
    record(k5.on_venue_event(VenueEvent("h", "t", 0, "ORDER_ACK", venue_client_id="ghost")))  # UNKNOWN_ORDER
    assert set(seen) == set(
        D.__dict__[n]
        for n in (
            "OK",
            "INVALID_SLOT_ID",
            "INVALID_INTENT",
            "SLOT_BUSY",
            "NO_POSITION",
            "DUPLICATE_INTENT",
            "DUPLICATE_EVENT",
            "UNKNOWN_ORDER",
            "INVALID_TRANSITION",
            "OVERFILL",
            "RATE_LIMITED",
            "MODE_BLOCKED",
            "RISK_REJECTED",
            "BELOW_MIN_NOTIONAL",
        )
    )
    for code, out in seen.items():
        if code != D.OK:
            assert not out.accepted, code
            assert out.details, f"{code.name} gave no details"
    assert seen[D.INVALID_SLOT_ID].details == {
        "field": "slot_id",
        "value": 7,
        "max_slots": 2,
        "reason": "no such slot: the kernel has slots 0 to 1",
    }
    assert seen[D.INVALID_INTENT].details["field"] == "reference_price"
    assert seen[D.INVALID_INTENT].details["value"] == "NaN"
    assert seen[D.DUPLICATE_INTENT].details["field"] == "intent_id"
    assert seen[D.NO_POSITION].details["field"] == "slot_id" and seen[D.NO_POSITION].details["value"] == 1
    assert seen[D.BELOW_MIN_NOTIONAL].details["reason"] == "below floor"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("reference_price", math.nan),
        ("reference_price", math.inf),
        ("reference_price", -1.0),
        ("reference_price", 0.0),
        ("target_size", -1.0),
        ("target_size", math.nan),
        ("target_size", 0.0),
        ("leverage", -2.0),
        ("leverage", math.inf),
        ("limit_price", -5.0),
        ("timestamp", math.nan),
        # Finite but beyond any market: a notional or fee of these would overflow.
        ("reference_price", 1e160),
        ("target_size", 1e16),
        ("leverage", 1e300),
        ("exit_leg_ratios", (0.7, 0.7)),
        ("exit_leg_ratios", ()),
        ("exit_leg_ratios", (math.nan,)),
        ("trade_id", ""),
        ("asset", ""),
        ("intent_id", ""),
        ("side", "FLAT"),
    ],
)
def test_bad_intent_values_are_refused_and_change_nothing(
    kernel: ExecutionKernel, field: str, value: Any
) -> None:
    before = state_of(kernel)
    out = kernel.process_intent(intent("ENTER", 0, **{field: value}))
    assert not out.accepted
    assert out.diagnostic_code == D.INVALID_INTENT
    assert out.details["field"] == field
    assert state_of(kernel) == before
    # A refused intent id is not burnt: the corrected intent with the same id goes through.
    fixed = intent("ENTER", 0)
    assert kernel.process_intent(fixed).accepted


def test_limit_without_price_is_refused(kernel: ExecutionKernel) -> None:
    out = kernel.process_intent(intent("ENTER", 0, order_type="LIMIT", limit_price=0.0))
    assert out.diagnostic_code == D.INVALID_INTENT and out.details["field"] == "limit_price"


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"side": "UP"}, ValueError, 'invalid side: unknown TradeSide "UP"'),
        ({"order_type": "STOP"}, ValueError, "invalid order_type"),
        ({"side": 3}, TypeError, "invalid side"),
        ({"reference_price": "100"}, TypeError, "reference_price"),
        ({"slot_id": "0"}, TypeError, "slot_id"),
        ({"slot_id": 1.5}, TypeError, "slot_id"),
        ({"slot_id": True}, TypeError, "invalid slot_id: expected int, got bool"),
        ({"slot_id": 2**63}, ValueError, r"invalid slot_id: 9223372036854775808 \(out of range\)"),
        ({"metadata": {"a": [1]}}, TypeError, r'metadata\["a"\]: values must be'),
        ({"metadata": {1: "x"}}, TypeError, "keys must be str"),
        ({"metadata": "x"}, TypeError, "metadata"),
        ({"exit_leg_ratios": "0.5"}, TypeError, "exit_leg_ratios"),
        ({"intent_id": None}, TypeError, "intent_id"),
        # A bool is a number to Python: taken, True was a size of 1.0.
        ({"target_size": True}, TypeError, "invalid target_size: expected a number, got bool True"),
        ({"reference_price": False}, TypeError, "invalid reference_price: expected a number, got bool"),
        ({"leverage": np.bool_(True)}, TypeError, "invalid leverage: expected a number, got bool"),
        ({"exit_leg_ratios": (0.5, True)}, TypeError, r"invalid exit_leg_ratios\[1\]: expected a number"),
    ],
)
def test_wrong_types_and_unknown_enums_raise_naming_the_field(
    kwargs: dict[str, Any], exc: type, match: str
) -> None:
    with pytest.raises(exc, match=match):
        intent("ENTER", 0, **kwargs)


def _loaded_with(change: dict[str, Any]) -> Any:
    def load(k: ExecutionKernel) -> Any:
        slots = k.slots()
        slots[0].update(change)
        return k.reconcile_from_slots(slots)

    return load


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        # PyO3's own words, "Can't extract `str` to `Vec`" or "'float' object cannot be cast as
        # 'Sequence'", named the argument but neither what a list of legs is nor the value.
        (
            lambda k: intent("ENTER", 1, exit_leg_ratios="0.5"),
            TypeError,
            r"invalid exit_leg_ratios: expected a list of numbers, got str '0\.5'",
        ),
        (
            lambda k: intent("ENTER", 1, exit_leg_ratios=0.5),
            TypeError,
            r"invalid exit_leg_ratios: expected a list of numbers, got float 0\.5",
        ),
        (
            lambda k: k.set_slot_exit_leg_ratios(0, None),
            TypeError,
            r"invalid ratios: expected a list of numbers, got NoneType None",
        ),
        # A flag of a venue order as every other flag: the int 0 or 1 taken, else named.
        (
            lambda k: VenueOrder("c1", 0, "t1", "BTCUSDT", "BUY", "LIMIT", 1.0, 1.0, is_entry=2),
            TypeError,
            r"invalid is_entry: expected bool \(or 0 or 1\), got int 2",
        ),
        (
            lambda k: VenueOrder("c1", 0, "t1", "BTCUSDT", "BUY", "LIMIT", 1.0, 1.0, reduce_only="no"),
            TypeError,
            r"invalid reduce_only: expected bool \(or 0 or 1\), got str 'no'",
        ),
        # What is no list or dict of slots was refused naming neither its type nor its value.
        (
            lambda k: k.reconcile_from_slots(None),
            TypeError,
            r"reconcile_from_slots expects a list of slot dicts, got NoneType None",
        ),
        (lambda k: k.reconcile_from_slots([1, 2]), TypeError, r"slots\[0\] must be a dict, got int 1"),
        (
            _loaded_with({"active_leg_index": -1}),
            ValueError,
            r"invalid slots\[0\]\.active_leg_index: -1 \(must not be negative\)",
        ),
        (
            _loaded_with({"exit_leg_ratios": "1"}),
            TypeError,
            r"invalid slots\[0\]\.exit_leg_ratios: expected a list of numbers, got str '1'",
        ),
        (
            lambda k: k.set_risk_limits([("max_leverage", 2.0)]),
            TypeError,
            r"risk limits must be a dict, got list \[\('max_leverage', 2\.0\)\]",
        ),
        (
            lambda k: k.set_exchange_config(None),
            TypeError,
            r"exchange config must be a dict of field name to number, got NoneType None",
        ),
    ],
    ids=[
        "intent-legs-str",
        "intent-legs-float",
        "slot-legs-none",
        "order-is-entry-2",
        "order-reduce-only-text",
        "slots-none",
        "slots-of-ints",
        "slot-leg-index-negative",
        "slot-legs-str",
        "risk-limits-list",
        "exchange-config-none",
    ],
)
def test_a_value_of_the_wrong_shape_is_named_with_its_type_and_value(
    call: Any, exc: type, match: str
) -> None:
    """The rule: bad input gets an error naming the field and the value, and changes nothing."""
    k = ExecutionKernel(max_slots=2, kernel_id="shapes")
    k.set_seed_capital(10_000.0)
    assert k.process_intent(intent("ENTER", 0)).accepted
    before = state_of(k)
    with pytest.raises(exc, match=match):
        call(k)
    assert state_of(k) == before


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"price": float("nan")}, r"invalid price: NaN \(must be a finite number\)"),
        ({"size": -1.0}, r"invalid size: -1 \(must not be negative\)"),
        ({"reference_price": float("inf")}, "invalid reference_price: inf"),
        # 0 (the default) is "none given", the order's price; NaN and negatives were taken so.
        ({"reference_price": float("nan")}, r"invalid reference_price: NaN \(must be a finite number\)"),
        ({"reference_price": -1.0}, r"invalid reference_price: -1 \(must not be negative\)"),
        ({"filled_size": 2.0}, r"invalid filled_size: 2 \(must not be more than the order's size\)"),
        ({"avg_fill_price": -0.5}, "invalid avg_fill_price: -0.5"),
        ({"price": 1e16}, "invalid price: 1e16 .must be at most 1e15"),
        ({"timestamp": float("nan")}, "invalid timestamp: NaN"),
    ],
)
def test_a_venue_order_with_bad_numbers_is_refused_naming_the_field(
    kwargs: dict[str, Any], match: str
) -> None:
    """Orders a caller builds (for a venue adapter, or a venue's open orders) are checked as the
    kernel's own inputs are; an order placed by someone else may have no client id or size."""
    from dita._kernel import VenueOrder

    args = {"price": 100.0, "size": 1.0} | kwargs
    with pytest.raises(ValueError, match=match):
        VenueOrder("c1", 0, "t1", "BTCUSDT", "BUY", "LIMIT", args.pop("price"), args.pop("size"), **args)
    stray = VenueOrder("", 0, "", "BTCUSDT", "SELL", "MARKET", 0.0, 0.0)
    assert stray.client_order_id == "" and stray.size == 0.0


def test_a_venue_orders_leg_is_given_or_taken_from_reduce_only() -> None:
    """An exit may go out plain (its venue nets the slots), so whoever copies an order passes its leg on;
    not given, an order is an entry unless reduce-only. Anything but a bool is refused,
    naming the argument."""
    from dita._kernel import VenueOrder

    def leg(**kwargs: Any) -> bool:
        return VenueOrder("c1", 0, "t1", "BTCUSDT", "SELL", "MARKET", 100.0, 1.0, **kwargs).is_entry

    assert (leg(), leg(reduce_only=True)) == (True, False)
    assert (leg(is_entry=False), leg(reduce_only=True, is_entry=True)) == (False, True)
    plain_exit = VenueOrder("c1", 0, "t1", "BTCUSDT", "SELL", "MARKET", 100.0, 1.0, is_entry=False)
    assert plain_exit.to_dict()["leg"] == "EXIT"
    with pytest.raises(TypeError, match="is_entry"):
        leg(is_entry="no")


def test_ints_beyond_64_bits_are_refused_naming_the_argument(kernel: ExecutionKernel) -> None:
    """PyO3 names an argument of the wrong type, not an int too large for it."""
    from dita import MockVenueAdapter, VenueEvent

    with pytest.raises(ValueError, match="invalid slot_id: -9223372036854775809"):
        VenueEvent("e", "", -(2**63) - 1, "FILL")
    with pytest.raises(ValueError, match="invalid slot_id: 18446744073709551616"):
        KernelIntent("i", "t", 2**64, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0)
    with pytest.raises(ValueError, match=r"invalid seed: -1 \(must not be negative\)"):
        MockVenueAdapter(seed=-1)
    with pytest.raises(ValueError, match=r"invalid price: 1000000000.*\.\.\. \(must be at most 1e15"):
        kernel.mark_price("BTCUSDT", 10**400)
    with pytest.raises(ValueError, match=r"invalid max_slots: 1000000000.*\(out of range\)"):
        ExecutionKernel(max_slots=10**400)


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda k, w: k.drain_journal(-1), ValueError, r"invalid max_rows: -1 \(must not be negative\)"),
        (lambda k, w: k.drain_journal(2**64), ValueError, r"invalid max_rows: 18446744073709551616 \(out of"),
        (lambda k, w: k.drain_journal(True), TypeError, "invalid max_rows: expected int, got bool True"),
        (
            lambda k, w: k.drain_journal_blocks(-5),
            ValueError,
            r"invalid max_rows: -5 \(must not be negative\)",
        ),
        (lambda k, w: MockVenueAdapter().resume(-1), ValueError, r"invalid seq: -1 \(must not be negative\)"),
        (lambda k, w: MockVenueAdapter().resume(True), TypeError, "invalid seq: expected int, got bool"),
        (
            lambda k, w: w.wal_journal_blocks(2**70, sink=print),
            ValueError,
            r"invalid from_seq: 1180591620717411303424",
        ),
        (
            lambda k, w: w.wal_journal_blocks(True, sink=print),
            TypeError,
            "invalid from_seq: expected int, got bool",
        ),
        (
            lambda k, w: w.wal_journal_blocks(1, -(2**70), sink=print),
            ValueError,
            r"invalid to_seq: -1180591620717411303424",
        ),
        (
            lambda k, w: w.wal_journal_blocks(1, sink=print, chunk_rows=2**70),
            ValueError,
            r"invalid chunk_rows: 1180591620",
        ),
    ],
)
def test_counts_of_the_side_effect_methods_are_refused_naming_the_argument(
    tmp_path: Any, call: Any, exc: type, match: str
) -> None:
    """A negative, bool or 64-bit-overflowing count was a bare OverflowError (or taken as 1)."""
    kernel = ExecutionKernel(max_slots=1, kernel_id="counts")
    logged = ExecutionKernel(max_slots=1, kernel_id="counts-wal", wal_dir=str(tmp_path / "wal"))
    logged.mark_price("BTCUSDT", 100.0)
    kernel.mark_price("BTCUSDT", 100.0)
    before = state_of(kernel), state_of(logged)
    with pytest.raises(exc, match=match):
        call(kernel, logged)
    assert (state_of(kernel), state_of(logged)) == before
    logged.close()


HUGE = 10**400  # an int no float can hold: PyO3 alone raised a bare OverflowError for it


def _order(**kw: Any) -> Any:
    from dita._kernel import VenueOrder

    args = {"price": 100.0, "size": 1.0} | kw
    return VenueOrder("c1", 0, "t1", "BTCUSDT", "BUY", "LIMIT", args.pop("price"), args.pop("size"), **args)


def _slots_with(k: ExecutionKernel, **kw: Any) -> int:
    slots = k.slots()
    slots[0] |= kw
    return k.reconcile_from_slots(slots)


@pytest.mark.parametrize(
    ("field", "call"),
    [
        *[
            (f, lambda k, f=f: intent("ENTER", 0, **{f: HUGE}))
            for f in ("reference_price", "target_size", "leverage", "limit_price", "timestamp")
        ],
        ("exit_leg_ratios[1]", lambda k: intent("ENTER", 0, exit_leg_ratios=(0.5, HUGE))),
        *[
            (f, lambda k, f=f: VenueEvent("e", "t0", 0, "FILL", **{f: HUGE}))
            for f in ("price", "size", "filled_size", "remaining_size", "timestamp", "fee", "retry_after")
        ],
        *[
            (f, lambda k, f=f: AccountEvent("a", "ACCOUNT_UPDATE", **{f: HUGE}))
            for f in ("amount", "fee", "wallet_balance", "available_margin", "used_margin", "maint_margin")
        ],
        ("timestamp", lambda k: AccountEvent("a", "FUNDING_FEE", timestamp=HUGE)),
        *[
            (f, lambda k, f=f: _order(**{f: HUGE}))
            for f in ("price", "size", "reference_price", "timestamp", "filled_size", "avg_fill_price")
        ],
        ("fill_rate", lambda k: MockVenueAdapter(fill_rate=HUGE)),
        ("latency_ms", lambda k: MockVenueAdapter(latency_ms=HUGE)),
        ("price", lambda k: MockVenueAdapter().fill_open_order("c1", HUGE)),
        ("timestamp", lambda k: k.mark_price("BTCUSDT", 100.0, timestamp=HUGE)),
        ("timestamp", lambda k: k.on_edge_update("BTCUSDT", 1.0, timestamp=HUGE)),
        ("seed", lambda k: k.set_seed_capital(HUGE)),
        ("taker_rate", lambda k: k.set_exchange_config({"taker_rate": HUGE})),
        ("max_leverage", lambda k: k.set_risk_limits({"max_leverage": HUGE})),
        ("ratios[0]", lambda k: k.set_slot_exit_leg_ratios(0, [HUGE])),
        ("slots[0].exit_leg_ratios[0]", lambda k: _slots_with(k, exit_leg_ratios=[HUGE])),
    ],
)
def test_an_int_too_large_for_a_float_is_refused_naming_the_field_and_value(
    kernel: ExecutionKernel, field: str, call: Any
) -> None:
    kernel.process_intent(intent("ENTER", 0))
    before, seq = state_of(kernel), kernel.seq
    reason = "must be a finite number" if field == "timestamp" else "must be at most 1e15"
    with pytest.raises(ValueError, match=rf"^invalid {re.escape(field)}: 1000000000+\.\.\. \({reason}"):
        call(kernel)
    assert state_of(kernel) == before and kernel.seq == seq


BAD_TEXT = "x\ud800"  # a lone surrogate: a Python str no UTF-8 can hold
ORDER: dict[str, Any] = {
    "client_order_id": "c1",
    "slot_id": 0,
    "trade_id": "t1",
    "asset": "BTCUSDT",
    "side": "BUY",
    "order_type": "LIMIT",
    "price": 100.0,
    "size": 1.0,
}


@pytest.mark.parametrize(
    ("field", "call"),
    [
        *[
            (f, lambda k, f=f: intent("ENTER", 0, **{f: BAD_TEXT}))
            for f in ("intent_id", "trade_id", "asset", "reason")
        ],
        *[
            (
                f,
                lambda k, f=f: VenueEvent(
                    **({"event_id": "e", "trade_id": "t0", "slot_id": 0, "kind": "FILL"} | {f: BAD_TEXT})
                ),
            )
            for f in (
                "event_id",
                "trade_id",
                "venue_order_id",
                "venue_client_id",
                "asset",
                "reason",
                "fill_id",
            )
        ],
        *[
            (f, lambda k, f=f: AccountEvent(**({"event_id": "a", "kind": "FUNDING_FEE"} | {f: BAD_TEXT})))
            for f in ("event_id", "asset", "fill_id")
        ],
        *[
            (f, lambda k, f=f: VenueOrder(**(ORDER | {f: BAD_TEXT})))
            for f in ("client_order_id", "trade_id", "asset", "venue_order_id")
        ],
        ("side", lambda k: intent("ENTER", 0, side=BAD_TEXT)),
        ('metadata["k"]', lambda k: intent("ENTER", 0, metadata={"k": BAD_TEXT})),
        ("metadata", lambda k: intent("ENTER", 0, metadata={BAD_TEXT: 1})),
        ("name", lambda k: MockVenueAdapter(name=BAD_TEXT)),
        ("client_order_id", lambda k: MockVenueAdapter().fill_open_order(BAD_TEXT)),
        ("client_order_id", lambda k: MockVenueAdapter().order_status(BAD_TEXT)),
        ("asset", lambda k: MockVenueAdapter().order_status("o1", asset=BAD_TEXT)),
        ("client_order_id", lambda k: MockVenueAdapter().forget_order(BAD_TEXT)),
        ("asset", lambda k: k.mark_price(BAD_TEXT, 100.0)),
        ("asset", lambda k: k.on_edge_update(BAD_TEXT, 1.0)),
        ("asset", lambda k: k.set_market_limits(BAD_TEXT, {"lot_step": 0.001})),
        ("asset", lambda k: k.market_limits(BAD_TEXT)),
        ("source", lambda k: k.update_control(mode="HALTED", source=BAD_TEXT)),
        ("kernel_id", lambda k: ExecutionKernel(max_slots=1, kernel_id=BAD_TEXT)),
        ("slots[0].asset", lambda k: _slots_with(k, asset=BAD_TEXT)),
    ],
)
def test_text_no_utf8_can_hold_is_refused_naming_the_field(
    kernel: ExecutionKernel, field: str, call: Any
) -> None:
    """A lone surrogate raised a bare UnicodeEncodeError naming no field (and a slot's text
    field was "expected str, got str")."""
    kernel.process_intent(intent("ENTER", 0))
    before, seq = state_of(kernel), kernel.seq
    with pytest.raises(ValueError, match=rf"^invalid {re.escape(field)}: .*not valid UTF-8") as raised:
        call(kernel)
    assert not isinstance(raised.value, UnicodeError)
    assert state_of(kernel) == before and kernel.seq == seq


@pytest.mark.parametrize("field", ["intent_id", "trade_id", "asset"])
@pytest.mark.parametrize(("text", "shown"), [(" ", '" "'), ("\t\n", r'"\t\n"'), ("\u3000", r'"\u{3000}"')])
def test_ids_of_only_whitespace_are_refused_like_empty_ones(
    kernel: ExecutionKernel, field: str, text: str, shown: str
) -> None:
    """An empty id was refused, one of only whitespace (a blank column, a formatting slip)
    taken: a trade with no name a person can read."""
    before, seq = state_of(kernel), kernel.seq
    out = kernel.process_intent(intent("ENTER", 0, **{field: text}))
    assert out.diagnostic_code == D.INVALID_INTENT and not out.accepted
    assert out.details["field"] == field and out.details["value"] == shown  # quoted, escaped
    assert out.details["reason"] == "must not be only whitespace"
    assert state_of(kernel)["slots"] == before["slots"] and kernel.seq == seq + 1


def test_event_ids_of_only_whitespace_are_refused(kernel: ExecutionKernel) -> None:
    out = kernel.on_venue_event(VenueEvent(" ", "t0", 0, "ORDER_ACK", venue_client_id="x-1"))
    assert out.diagnostic_code == D.INVALID_INTENT and out.details["field"] == "event_id"
    out = kernel.on_account_event(AccountEvent("\t", "ACCOUNT_UPDATE"))
    assert out.diagnostic_code == D.INVALID_INTENT and out.details["field"] == "event_id"
    with pytest.raises(ValueError, match="asset"):
        kernel.mark_price(" ", 100.0)


@pytest.mark.parametrize(
    ("field", "make"),
    [
        ("intent_id", lambda: intent("ENTER", 0, intent_id="i\x001")),
        ("trade_id", lambda: intent("ENTER", 0, trade_id="\x00")),
        ("asset", lambda: intent("ENTER", 0, asset="BTC\x00USDT")),
        ("event_id", lambda: VenueEvent("e\x00", "t0", 0, "ORDER_ACK")),
        ("venue_order_id", lambda: VenueEvent("e", "t0", 0, "ORDER_ACK", venue_order_id="v\x00")),
        ("event_id", lambda: AccountEvent("a\x00", "ACCOUNT_UPDATE")),
    ],
)
def test_ids_holding_a_nul_are_refused_naming_the_field(field: str, make: Any) -> None:
    """A NUL byte, which C strings, logs and many stores cut an id short at, was taken."""
    with pytest.raises(ValueError, match=rf"^invalid {field}: .* holds a NUL byte"):
        make()


def test_a_control_source_holding_a_nul_is_refused_and_changes_nothing() -> None:
    """update_control's source, kept with the control state, journaled and projected to
    Hazelcast, took a NUL byte, which an id refuses. A venue's reason is its own text."""
    k = ExecutionKernel(max_slots=1, kernel_id="nul-source")
    before = k.snapshot()
    with pytest.raises(ValueError, match=r'^invalid source: "ops\\0desk" holds a NUL byte$'):
        k.update_control(mode="HALTED", source="ops\x00desk")
    assert k.seq == 0 and k.snapshot() == before
    assert k.update_control(mode="HALTED", source="ops desk")["source"] == "ops desk"
    assert VenueEvent("e", "t0", 0, "REJECT", reason="bad\x00price").reason == "bad\x00price"


def test_enum_values_and_names_are_interchangeable() -> None:
    from dita import KernelCommandType, TradeSide

    a = intent(KernelCommandType.ENTER, 0, side=TradeSide.SHORT)
    b = intent("ENTER", 0, side="SHORT")
    assert a.side == b.side == TradeSide.SHORT and a.action == b.action == KernelCommandType.ENTER
    with pytest.raises(ValueError, match='invalid action: unknown KernelCommandType "BUY"'):
        intent("BUY", 0)
    assert TradeSide.parse("LONG") == TradeSide.LONG and TradeSide.LONG.name == "LONG"
    with pytest.raises(ValueError, match="expected one of LONG, SHORT, FLAT"):
        TradeSide.parse("long")


def test_bad_venue_and_account_events_are_refused(resting) -> None:  # type: ignore[no-untyped-def]
    kernel, _ = resting
    coid = kernel.process_intent(intent("ENTER", 0)).order.client_order_id
    before = state_of(kernel)
    for field, kw in [
        ("price", {"price": math.nan, "size": 1.0}),
        ("size", {"price": 100.0, "size": -1.0}),
        ("size", {"price": 100.0, "size": math.inf}),
        ("price", {"price": -100.0, "size": 0.5}),
        ("size", {"price": 100.0, "size": 1e300}),
        ("fee", {"price": 100.0, "size": 0.5, "fee": -1e308}),
        ("event_id", {"price": 100.0, "size": 0.5, "event_id": ""}),
    ]:
        ev_id = kw.pop("event_id", f"bad-{field}")
        out = kernel.on_venue_event(VenueEvent(ev_id, "t0", 0, "FILL", venue_client_id=coid, **kw))
        assert not out.accepted and out.details["field"] == field, out
    out = kernel.on_venue_event(
        VenueEvent("wrong-slot", "t0", 3, "FILL", price=1.0, size=1.0, venue_client_id=coid)
    )
    assert out.diagnostic_code == D.UNKNOWN_ORDER and out.details["field"] == "slot_id"
    # A fee may be negative (a rebate): the reason for a NaN one says so, not "non-negative".
    out = kernel.on_venue_event(
        VenueEvent("nan-fee", "t0", 0, "FILL", price=100.0, size=0.5, fee=math.nan, venue_client_id=coid)
    )
    assert out.details["field"] == "fee" and out.details["value"] == "NaN", out
    assert out.details["reason"] == "must be a finite number (negative for a rebate)"
    for ev in [
        AccountEvent("", "FUNDING_FEE", amount=1.0),
        AccountEvent("a1", "FUNDING_FEE", amount=math.nan),
        AccountEvent("a2", "ACCOUNT_UPDATE", used_margin=-1.0),
        AccountEvent("a3", "ACCOUNT_UPDATE"),
        AccountEvent("a4", "FILL_SETTLED", fee=1.0),
        AccountEvent("a5", "FUNDING_FEE", amount=1e308),
        AccountEvent("a6", "ACCOUNT_UPDATE", wallet_balance=-1e200),
    ]:
        out = kernel.on_account_event(ev)
        assert not out.accepted and "field" in out.details, out
    # Each kind reads its own figure: given in the other field it was taken as 0.
    for ev, field in [
        (AccountEvent("a7", "FUNDING_FEE", fee=-1.5), "fee"),
        (AccountEvent("a8", "FILL_SETTLED", fill_id="f1", amount=0.05), "amount"),
    ]:
        out = kernel.on_account_event(ev)
        assert out.diagnostic_code == D.INVALID_INTENT and out.details["field"] == field, out
    assert state_of(kernel) == before
    with pytest.raises(ValueError, match="unknown AccountEventKind"):
        AccountEvent("x", "DEPOSIT")
    with pytest.raises(TypeError, match="on_venue_event expects a VenueEvent"):
        kernel.on_venue_event({"kind": "FILL"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="process_intent expects a KernelIntent"):
        kernel.process_intent("ENTER")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("config", "exc", "match"),
    [
        ({"taker_rate": -0.001}, ValueError, "taker_rate: -0.001"),
        ({"maker_rate": math.nan}, ValueError, "maker_rate: NaN"),
        ({"lot_step": math.inf}, ValueError, "lot_step"),
        ({"funding_interval_secs": 0}, ValueError, "funding_interval_secs"),
        ({"taker_rate": "0.1"}, TypeError, "taker_rate"),
        ({"min_notional": True}, TypeError, "min_notional"),
        ({"tick": 0.1}, ValueError, 'unknown field "tick" in exchange config \\(fields: taker_rate, '),
        ({"taker_rate": 0.001, "maker_rate": -1}, ValueError, "maker_rate"),
        # Finer than the kernel takes: 1 over 1e-309 overflowed, and an order went out at inf.
        ({"lot_step": 1e-309}, ValueError, r"lot_step: 1e-309 \(must be 0 \(no rounding\) or at least 1e-15"),
        ({"tick_size": 5e-16}, ValueError, "tick_size: 5e-16"),
    ],
)
def test_exchange_config_is_validated_field_by_field(
    kernel: ExecutionKernel, config: dict[str, Any], exc: type, match: str
) -> None:
    before = kernel.exchange_config()
    with pytest.raises(exc, match=match):
        kernel.set_exchange_config(config)
    assert kernel.exchange_config() == before


@pytest.mark.parametrize("field", ["lot_step", "tick_size"])
def test_market_steps_finer_than_the_kernel_takes_are_refused(field: str) -> None:
    """A tick of 1e-300 was taken: a LIMIT order went out at price inf, and its slot committed
    an infinite notional."""
    k = ExecutionKernel(max_slots=2, kernel_id="steps")
    before = (k.market_limits("BTCUSDT"), k.seq)
    with pytest.raises(ValueError, match=rf"{field}: 1e-300 \(must be 0 \(no rounding\) or at least 1e-15"):
        k.set_market_limits("BTCUSDT", {field: 1e-300})
    assert (k.market_limits("BTCUSDT"), k.seq) == before
    with pytest.raises(ValueError, match=field):
        MarketLimits(**{field: 1e-300})
    k.set_market_limits("BTCUSDT", MarketLimits(**{field: KERNEL_MIN_STEP}).model_dump())
    assert k.market_limits("BTCUSDT")[field] == KERNEL_MIN_STEP


@pytest.mark.parametrize("asset", ["", " ", "\t"])
def test_an_edge_update_of_a_blank_asset_is_refused_as_a_mark_is(asset: str) -> None:
    """It was taken, froze the kernel naming no asset and canceled every working order."""
    k = ExecutionKernel(max_slots=2, venue=MockVenueAdapter(fill_rate=0.0), kernel_id="edge")
    k.set_risk_limits({"edge_freeze_threshold_bps": 0.0})
    assert k.process_intent(intent("ENTER", 0, order_type="LIMIT", limit_price=99.0)).accepted
    before = state_of(k)
    with pytest.raises(ValueError, match="asset"):
        k.mark_price(asset, 100.0)
    with pytest.raises(ValueError, match="asset"):
        k.on_edge_update(asset, -5.0)
    assert state_of(k) == before and not k.control()["frozen"]


def test_int_flags_are_flags_where_a_flag_is_taken() -> None:
    """calibrate_fee's maker and update_control's debug flag refused 0 and 1 ("'int' object
    cannot be cast as 'bool'", naming nothing), which every other flag takes."""
    k = ExecutionKernel(max_slots=2, kernel_id="int-flags")
    k.set_exchange_config({"taker_rate": 0.0005, "maker_rate": 0.0002})
    assert k.calibrate_fee(100.0, 1.0, 0.02, maker=1)["liquidity"] == "MAKER"
    assert k.calibrate_fee(100.0, 1.0, 0.05, maker=np.int64(0))["liquidity"] == "TAKER"
    assert k.update_control(debug_clickhouse_enabled=1)["debug_clickhouse_enabled"] is True
    assert k.update_control(debug_clickhouse_enabled=0)["debug_clickhouse_enabled"] is False
    before = state_of(k)
    with pytest.raises(TypeError, match=r"invalid maker: expected bool \(or 0 or 1\), got int 2"):
        k.calibrate_fee(100.0, 1.0, 0.02, maker=2)
    with pytest.raises(TypeError, match=r"debug_clickhouse_enabled: expected bool \(or 0 or 1\), got str"):
        k.update_control(debug_clickhouse_enabled="yes")
    assert state_of(k) == before


def test_the_risk_flag_takes_0_and_1_as_risk_limits_does() -> None:
    """set_risk_limits refused {"require_source_run_in_live": 0} ("must be True or False"),
    which RiskLimits turns into False and every other flag of the bindings takes."""
    k = ExecutionKernel(max_slots=1, kernel_id="risk-flag")
    for value, flag in ((0, False), (1, True), (np.int64(0), False)):
        k.set_risk_limits({"require_source_run_in_live": value})
        assert k.risk_limits()["require_source_run_in_live"] is flag
        model = RiskLimits(require_source_run_in_live=value)  # type: ignore[arg-type]
        assert model.require_source_run_in_live is flag
        k.set_risk_limits(model.model_dump())
        assert k.risk_limits()["require_source_run_in_live"] is flag
    before, seq = k.risk_limits(), k.seq
    refused: list[tuple[object, str]] = [(2, "2"), (-1, "-1"), (1.0, "1.0"), ("yes", "'yes'"), (None, "None")]
    for bad, shown in refused:
        with pytest.raises(
            ValueError,
            match=rf"^invalid require_source_run_in_live: {shown} "
            r"\(must be True or False, or the int 0 or 1\)$",
        ):
            k.set_risk_limits({"max_leverage": 3.0, "require_source_run_in_live": bad})
    assert k.risk_limits() == before and k.seq == seq


@pytest.mark.parametrize("bad", [1.0, 0.0, 2, -1, "yes", "true", "off", "1", None])
def test_risk_limits_refuses_as_a_flag_what_the_kernel_refuses(bad: object) -> None:
    """RiskLimits took 1.0, "yes" and "off" for require_source_run_in_live (pydantic's lax
    bool) where set_risk_limits refuses each: a config passed the model's check and meant
    something the kernel would not have taken. The model now refuses them, naming the field."""
    refusal = r"require_source_run_in_live\n.*must be True or False, or the int 0 or 1"
    with pytest.raises(ValidationError, match=refusal):
        RiskLimits(require_source_run_in_live=bad)  # type: ignore[arg-type]
    for flag in (True, False, np.bool_(True), np.int64(1)):
        assert RiskLimits(require_source_run_in_live=flag).require_source_run_in_live is bool(flag)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("price", "qty", "actual_fee", "field", "value"),
    [
        (100.0, 1e-320, 0.05, "fill_qty", "1e-320"),
        (1e-320, 1.0, 0.05, "fill_price", "1e-320"),
        (100.0, 1e-320, 0.0, "fill_qty", "1e-320"),
        (100.0, 1e-300, 1e15, "fill_qty", "1e-300"),  # 5e-302 expected: 1e15 over it is no float
    ],
)
def test_a_calibration_whose_expected_fee_underflows_is_refused_naming_the_field(
    price: float, qty: float, actual_fee: float, field: str, value: str
) -> None:
    """calibrate_fee(100, 1e-320, 0.05) returned a ratio of inf and moved the kernel on."""
    k = ExecutionKernel(max_slots=1, kernel_id="tiny-fee")
    before = k.snapshot()
    with pytest.raises(
        ValueError,
        match=rf"^invalid {field}: {value}, an expected fee of \S+ "
        r"\(fill_price \* fill_qty \* the fee rate is too small an expected fee to calibrate against\)$",
    ):
        k.calibrate_fee(price, qty, actual_fee)
    assert k.seq == 0 and k.snapshot() == before
    c = k.calibrate_fee(100.0, 1e-300, 5e-302, maker=True)  # tiny, but a number of its precision
    assert math.isfinite(c["ratio"]) and k.seq == 1


def test_other_configuration_errors() -> None:
    with pytest.raises(ValueError, match="max_slots: 0"):
        ExecutionKernel(max_slots=0)
    with pytest.raises(TypeError, match="max_slots"):
        ExecutionKernel(max_slots="10")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kernel_id"):
        ExecutionKernel(kernel_id="has space")
    with pytest.raises(TypeError, match='unexpected keyword argument "wall_dir"'):
        ExecutionKernel(wall_dir="/tmp/x")
    with pytest.raises(TypeError, match="invalid journal_capacity: expected int, got bool"):
        ExecutionKernel(journal_capacity=True)
    with pytest.raises(ValueError, match=r"fill_rate: 1\.5"):
        MockVenueAdapter(fill_rate=1.5)
    k = ExecutionKernel(max_slots=1)
    with pytest.raises(ValueError, match="seed: -1"):
        k.set_seed_capital(-1.0)
    with pytest.raises(ValueError, match="price"):
        k.mark_price("BTCUSDT", math.nan)
    with pytest.raises(ValueError, match="price: 1e20"):
        k.mark_price("BTCUSDT", 1e20)
    with pytest.raises(ValueError, match="timestamp: NaN"):
        k.mark_price("BTCUSDT", 100.0, timestamp=math.nan)
    with pytest.raises(ValueError, match="timestamp: inf"):
        k.on_edge_update("BTCUSDT", 1.0, timestamp=math.inf)
    with pytest.raises(ValueError, match="actual_fee"):
        k.calibrate_fee(100.0, 1.0, 1e300)
    with pytest.raises(ValueError, match="price: 1e300"):
        k.calibrate_fee(1e300, 1e300, 1.0)
    with pytest.raises(ValueError, match=r"timestamp: 1700000000000000 \(must be seconds since the epoch"):
        k.mark_price("BTCUSDT", 100.0, timestamp=1.7e15)  # microseconds: no datetime holds it
    assert k.seq == 0, "nothing refused moved the kernel on"
    k.mark_price("BTCUSDT", 100.0, timestamp=1.7e9)
    assert k.seq == 1
    with pytest.raises(ValueError, match='unknown ControlMode "PANIC"'):
        k.update_control(mode="PANIC")
    with pytest.raises(TypeError, match="debug_clickhouse_enabled"):
        k.update_control(debug_clickhouse_enabled="yes")
    with pytest.raises(ValueError, match="regime"):
        k.set_risk_limits({"regime": "SIDEWAYS"})
    with pytest.raises(TypeError, match=r"max_leverage: expected a number, str, bool or None, got list \[1"):
        k.set_risk_limits({"max_leverage": [1.0]})
    with pytest.raises(ValueError, match=r'invalid max_leverage: "5" \(must be a number or None\)'):
        k.set_risk_limits({"max_leverage": "5"})
    with pytest.raises(ValueError, match=r"invalid regime: 1 \(must be NEUTRAL, BULL, BEAR or None\)"):
        k.set_risk_limits({"regime": 1})
    with pytest.raises(ValueError, match=r"require_source_run_in_live: None \(must be True or False"):
        k.set_risk_limits({"require_source_run_in_live": None})
    # An unknown field lists the ones there are, so a typo is seen at once.
    with pytest.raises(ValueError, match=r'unknown field "max_lev" in risk limits \(fields: max_leverage, '):
        k.set_risk_limits({"max_lev": 3.0})
    with pytest.raises(ValueError, match="max_order_rate"):
        k.set_risk_limits({"max_leverage": 3.0, "max_order_rate": -1})
    # Counted in a one-second window, 0.5 a second refused every order, forever.
    with pytest.raises(ValueError, match=r"invalid max_order_rate: 0\.5 \(must be at least 1"):
        k.set_risk_limits({"max_leverage": 3.0, "max_order_rate": 0.5})
    assert k.risk_limits()["max_leverage"] is None  # all-or-nothing
    # What RiskLimits refuses: a per-asset cap above the total cap never binds (a typo in one
    # of them), and an edge threshold beyond the kernel's 1e15 bound.
    with pytest.raises(ValueError, match=r"max_notional_per_asset: 200 \(max_notional_total 100\)"):
        k.set_risk_limits({"max_notional_per_asset": 200.0, "max_notional_total": 100.0})
    k.set_risk_limits({"max_notional_total": 100.0})
    with pytest.raises(ValueError, match=r"max_notional_per_asset: 200"):
        k.set_risk_limits({"max_notional_per_asset": 200.0})
    with pytest.raises(ValueError, match=r"edge_freeze_threshold_bps: 1e16"):
        k.set_risk_limits({"edge_freeze_threshold_bps": 1e16})
    assert k.risk_limits()["max_notional_per_asset"] is None
    assert k.risk_limits()["edge_freeze_threshold_bps"] is None
    with pytest.raises(
        ValueError,
        match=r'unknown field "lot" in market limits \(fields: lot_step, tick_size, min_qty, min_notional\)',
    ):
        k.set_market_limits("BTCUSDT", {"lot": 0.1})


def test_halted_refuses_entries_but_exits_and_cancels_work(kernel: ExecutionKernel, resting) -> None:  # type: ignore[no-untyped-def]
    kernel.process_intent(intent("ENTER", 0))
    kernel.update_control(mode="HALTED")
    out = kernel.process_intent(intent("ENTER", 1))
    assert out.diagnostic_code == D.MODE_BLOCKED and out.details["mode"] == "HALTED"
    assert kernel.process_intent(intent("EXIT", 0)).state == TradeStage.CLOSED
    rk, _ = resting
    rk.process_intent(intent("ENTER", 0))
    rk.update_control(mode="REDUCE_ONLY")
    assert rk.process_intent(intent("ENTER", 1)).diagnostic_code == D.MODE_BLOCKED
    assert rk.process_intent(intent("CANCEL", 0)).state == TradeStage.IDLE
    rk.update_control(mode="PAPER")
    assert rk.process_intent(intent("ENTER", 1)).accepted


def test_risk_rules_allow_just_under_and_refuse_just_over() -> None:
    def fresh(**limits: Any) -> ExecutionKernel:
        k = ExecutionKernel(max_slots=4)
        k.set_seed_capital(1_000.0)  # the account's leverage stays far below the limits
        k.set_risk_limits(limits)
        return k

    k = fresh(max_leverage=3.0)
    assert k.process_intent(intent("ENTER", 0, leverage=3.0)).accepted
    out = k.process_intent(intent("ENTER", 1, leverage=3.01))
    assert out.diagnostic_code == D.RISK_REJECTED
    assert out.details == {"rule": "max_leverage", "limit": 3.0, "value": 3.01}

    k = fresh(max_notional_per_asset=250.0)
    assert k.process_intent(intent("ENTER", 0, target_size=1.5)).accepted  # 150
    assert k.process_intent(intent("ENTER", 1, target_size=1.0)).accepted  # 250: at the limit
    out = k.process_intent(intent("ENTER", 2, target_size=0.01))
    assert out.details["rule"] == "max_notional_per_asset" and out.details["value"] == pytest.approx(251.0)
    assert k.process_intent(intent("ENTER", 2, asset="ETHUSDT", target_size=1.0)).accepted
    k.process_intent(intent("EXIT", 0))  # closing frees the commitment
    assert k.process_intent(intent("ENTER", 0, target_size=1.5)).accepted

    k = fresh(max_notional_total=300.0)
    assert k.process_intent(intent("ENTER", 0, target_size=2.0)).accepted
    assert k.process_intent(intent("ENTER", 1, asset="ETHUSDT", target_size=1.0)).accepted
    out = k.process_intent(intent("ENTER", 2, asset="SOLUSDT", target_size=0.01))
    assert out.details["rule"] == "max_notional_total"

    k = fresh(max_order_rate=3.0)
    t = 1_800_000_000.0
    for i, slot in enumerate((0, 1, 2)):
        assert k.process_intent(intent("ENTER", slot, timestamp=t + i * 0.1)).accepted
    out = k.process_intent(intent("ENTER", 3, timestamp=t + 0.5))
    assert out.details == {"rule": "max_order_rate", "limit": 3.0, "value": 4.0}
    assert k.process_intent(intent("ENTER", 3, timestamp=t + 1.05)).accepted  # the window slid

    k = fresh(regime="BEAR")
    out = k.process_intent(intent("ENTER", 0, side="LONG"))
    assert out.details["rule"] == "regime_parity" and out.details["field"] == "metadata.override"
    # Text reading as a negative is no override: taken as one, it would let the entry through.
    # "None" is what str() makes of a flag never set.
    for text in ("false", " No ", "0", "OFF", "None", "null"):
        out = k.process_intent(intent("ENTER", 0, side="LONG", metadata={"override": text}))
        assert out.diagnostic_code == D.INVALID_INTENT and not out.accepted
        assert out.details["field"] == "metadata.override" and out.details["value"] == text
    # Text of only whitespace is no override, as the empty text: the regime refuses.
    for text in (" ", "\t\n"):
        out = k.process_intent(intent("ENTER", 0, side="LONG", metadata={"override": text}))
        assert out.diagnostic_code == D.RISK_REJECTED and out.details["rule"] == "regime_parity"
    assert k.process_intent(intent("ENTER", 0, side="LONG", metadata={"override": True})).accepted
    assert k.process_intent(intent("ENTER", 1, side="SHORT")).accepted
    assert k.process_intent(intent("ENTER", 2, side="LONG", order_type="LIMIT", limit_price=99.0)).accepted

    k = fresh()
    k.update_control(mode="LIVE")
    out = k.process_intent(intent("ENTER", 0))
    assert out.details["rule"] == "provenance" and out.details["field"] == "metadata.source_run"
    assert k.process_intent(intent("ENTER", 0, metadata={"source_run": "run-42"})).accepted


def test_edge_freeze_cancels_every_working_order(resting) -> None:  # type: ignore[no-untyped-def]
    kernel, venue = resting
    kernel.set_risk_limits({"edge_freeze_threshold_bps": 1.5})
    for slot in range(3):
        kernel.process_intent(intent("ENTER", slot, order_type="LIMIT", limit_price=99.0))
    assert len(venue.open_orders()) == 3
    assert not kernel.on_edge_update("BTCUSDT", 2.0).transitions
    out = kernel.on_edge_update("BTCUSDT", 1.2)
    assert out.details["frozen"] is True
    assert len([t for t in out.transitions if t.trigger == "CANCEL_ACK"]) == 3
    assert venue.open_orders() == []
    assert all(kernel.slot(s).fsm_state == TradeStage.IDLE for s in range(3))
    ctl = kernel.control()
    assert ctl["frozen"] and ctl["freeze_asset"] == "BTCUSDT" and ctl["freeze_events"] == 1
    assert "below threshold" in ctl["freeze_reason"]
    out = kernel.process_intent(intent("ENTER", 0))
    assert out.diagnostic_code == D.RISK_REJECTED and out.details["rule"] == "edge_freeze"
    kernel.on_edge_update("BTCUSDT", 1.6)
    assert not kernel.control()["frozen"]
    assert kernel.process_intent(intent("ENTER", 0)).accepted


def test_lot_and_tick_rounding_min_notional_and_dust(resting) -> None:  # type: ignore[no-untyped-def]
    kernel, _ = resting
    kernel.set_market_limits(
        "BTCUSDT", {"lot_step": 0.1, "tick_size": 0.5, "min_qty": 0.2, "min_notional": 10.0}
    )
    out = kernel.process_intent(
        intent("ENTER", 0, target_size=0.1 + 0.2)
    )  # the float trap: 0.30000000000000004
    assert out.order.size == 0.3 and out.details["rounded_size"] == 0.3
    out = kernel.process_intent(intent("ENTER", 1, target_size=0.29999))
    assert out.order.size == 0.2
    out = kernel.process_intent(intent("ENTER", 2, target_size=1.0, order_type="LIMIT", limit_price=100.37))
    assert out.order.price == 100.0  # buys round down
    out = kernel.process_intent(
        intent("ENTER", 3, side="SHORT", target_size=1.0, order_type="LIMIT", limit_price=100.37)
    )
    assert out.order.price == 100.5  # sells round up
    k = ExecutionKernel(max_slots=2)
    k.set_market_limits("BTCUSDT", {"lot_step": 0.1, "min_qty": 0.2, "min_notional": 10.0})
    out = k.process_intent(intent("ENTER", 0, reference_price=30.0, target_size=0.3))  # 9 < 10
    assert out.diagnostic_code == D.BELOW_MIN_NOTIONAL and not out.accepted
    assert out.details["notional"] == pytest.approx(9.0) and k.slot(0).fsm_state == TradeStage.IDLE
    assert k.process_intent(intent("ENTER", 0, reference_price=30.0, target_size=0.15)).details["qty"] == 0.1
    # Exiting 0.9 of 1.0 would leave 0.1, below min_qty: the whole position goes instead.
    k.process_intent(intent("ENTER", 1, reference_price=100.0, target_size=1.0))
    out = k.process_intent(intent("EXIT", 1, reference_price=100.0, target_size=0.9))
    assert out.state == TradeStage.CLOSED
    assert out.details["dust_avoided"] == pytest.approx(0.1)
    assert "closing the whole position" in out.details["reason"]


def test_a_size_below_the_smallest_the_kernel_trades_is_an_invalid_intent() -> None:
    """1e-10 was refused as BELOW_MIN_NOTIONAL "below floor" on a market with no floor at all."""
    k = ExecutionKernel(max_slots=1)
    out = k.process_intent(intent("ENTER", 0, target_size=1e-10))
    assert out.diagnostic_code == D.INVALID_INTENT and not out.accepted
    assert out.details["field"] == "target_size" and out.details["value"] == 1e-10
    assert "smallest size the kernel trades" in out.details["reason"]
    assert k.process_intent(intent("ENTER", 0, target_size=1.0)).accepted
    out = k.process_intent(intent("EXIT", 0, target_size=1e-10))
    assert out.diagnostic_code == D.INVALID_INTENT and out.details["field"] == "target_size"
    assert k.slot_state(0).size == 1.0


@pytest.mark.parametrize("legs", [[0.3, 0.3, 0.4], [0.7, 0.3], [0.1] * 10])
def test_exit_legs_close_the_position_at_a_venue_checking_the_lot(legs: list[float]) -> None:
    """1.0 - 0.3 - 0.3 is 0.39999999999999997: the last leg once went out at that size, which
    the venue refused on its 0.1 lot every time, so the position could never be closed."""
    from dita.risk import MarketLimits
    from dita.venues.paper import PaperVenue

    limits = MarketLimits(lot_step=0.1, tick_size=0.01)
    venue = PaperVenue(market_limits={"BTCUSDT": limits}, slippage_bps=0.0)
    k = ExecutionKernel(max_slots=1, venue=venue)
    k.set_market_limits("BTCUSDT", limits.model_dump())
    venue.on_quote("BTCUSDT", 99.9, 100.0, 50.0, 50.0, 1.0)
    assert k.process_intent(intent("ENTER", 0, target_size=1.0, exit_leg_ratios=legs, timestamp=2.0)).accepted
    for n, _ in enumerate(legs):
        out = k.process_intent(intent("EXIT", 0, trade_id="t0", timestamp=3.0 + n))
        assert out.accepted and not [e.reason for e in out.emitted_events if e.reason]
    assert k.slot_state(0).fsm_state == TradeStage.CLOSED and k.slot_state(0).size == 0.0


def test_steps_finer_than_a_billionth_and_limits_below_a_tick(resting) -> None:  # type: ignore[no-untyped-def]
    """A lot step of 1e-9 once rounded 2.7 up to 3.0 (above the target); a LIMIT buy below one
    tick was sent at price 0."""
    kernel, _ = resting
    kernel.set_market_limits("BTCUSDT", {"lot_step": 1e-9, "tick_size": 1e-9})
    out = kernel.process_intent(intent("ENTER", 0, target_size=2.7))
    assert out.accepted and out.order.size == 2.7
    k = ExecutionKernel(max_slots=3)
    k.set_market_limits("BTCUSDT", {"lot_step": 1e-8, "tick_size": 1e-8})
    # On the grid stays on it: the quotient's float error could take a step off (2.29999999).
    assert k.process_intent(intent("ENTER", 0, target_size=2.3)).order.size == 2.3
    buy = k.process_intent(intent("ENTER", 1, order_type="LIMIT", limit_price=0.32899658))
    assert buy.order.price == 0.32899658
    out = kernel.process_intent(intent("ENTER", 1, order_type="LIMIT", limit_price=0.00001234))
    assert out.accepted and out.order.price == 0.00001234
    kernel.set_market_limits("BTCUSDT", {"tick_size": 1000.0})
    before = kernel.snapshot()
    out = kernel.process_intent(intent("ENTER", 2, order_type="LIMIT", limit_price=100.0))
    assert out.diagnostic_code == D.INVALID_INTENT and not out.accepted
    assert out.details["field"] == "limit_price" and out.details["value"] == 100.0
    assert out.details["tick_size"] == 1000.0 and kernel.snapshot() == before
    sell = kernel.process_intent(intent("ENTER", 2, side="SHORT", order_type="LIMIT", limit_price=100.0))
    assert sell.accepted and sell.order.price == 1000.0  # sells round up: never to zero


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    action=st.sampled_from(["ENTER", "EXIT", "CANCEL"]),
    slot=st.integers(min_value=-3, max_value=6),
    side=st.sampled_from(["LONG", "SHORT", "FLAT"]),
    price=st.floats(allow_nan=True, allow_infinity=True, width=64),
    size=st.floats(allow_nan=True, allow_infinity=True, width=64),
    leverage=st.floats(min_value=-5, max_value=200, allow_nan=False),
    order_type=st.sampled_from(["MARKET", "LIMIT"]),
    limit=st.floats(min_value=-10, max_value=1e6, allow_nan=False),
    legs=st.lists(st.floats(min_value=-0.5, max_value=1.5, allow_nan=False), min_size=0, max_size=4),
)
def test_random_intents_never_raise_and_keep_the_state_consistent(
    action: str,
    slot: int,
    side: str,
    price: float,
    size: float,
    leverage: float,
    order_type: str,
    limit: float,
    legs: list[float],
) -> None:
    k = ExecutionKernel(max_slots=4, venue=MockVenueAdapter(seed=3, partial_fill_rate=0.3, fill_rate=0.8))
    k.set_seed_capital(1000.0)
    k.process_intent(intent("ENTER", 1, target_size=1.0))
    i = KernelIntent(
        "h1",
        "t",
        slot,
        "BTCUSDT",
        side,
        action,
        price,
        size,
        leverage=leverage,
        exit_leg_ratios=legs or (1.0,),
        order_type=order_type,
        limit_price=limit,
        timestamp=1.0,
    )
    out = k.process_intent(i)
    assert out.diagnostic_code.name in D.__dict__
    if not out.accepted:
        assert out.details
    for s in k.slots():
        assert s["size"] >= 0
        for o in (s["active_entry_order"], s["active_exit_order"]):
            if o:
                assert o["filled_size"] <= o["size"] + 1e-9
    acct = k.account()
    assert acct["capital"] == pytest.approx(
        1000.0 + acct["k_realized_pnl"] - acct["k_fees_paid"] + acct["k_funding_net"]
    )


def test_numpy_numbers_are_numbers_at_every_entry_point() -> None:
    """One rule for a number, as the Python layer's (`numbers.Real`, not a bool): a float32
    or int64 from a data column was taken as an intent's price but refused by `mark_price`,
    `set_seed_capital`, `calibrate_fee`, the config setters and `reconcile_from_slots`."""
    f32, i64 = np.float32, np.int64
    plain = ExecutionKernel(max_slots=2, kernel_id="np")
    k = ExecutionKernel(max_slots=2, kernel_id="np")
    for kern, num, whole in ((plain, float, int), (k, f32, i64)):
        kern.set_seed_capital(whole(1000))
        # Values a float32 holds exactly: the two kernels must end the same.
        kern.set_exchange_config({"taker_rate": num(2**-11), "lot_step": whole(1)})
        kern.set_market_limits("BTCUSDT", {"min_qty": num(1.0)})
        kern.set_risk_limits({"max_leverage": whole(5)})
        entry = intent("ENTER", 0, reference_price=num(100.0), target_size=whole(2), timestamp=num(1024.0))
        assert kern.process_intent(entry).accepted
        kern.mark_price("BTCUSDT", num(110.0))
        kern.calibrate_fee(num(100.0), whole(2), num(0.125))
    assert state_of(k) | {"control": None} == state_of(plain) | {"control": None}
    # A flag from a data frame is numpy's bool: a flag where one is taken, and still no number.
    k.update_control(debug_clickhouse_enabled=np.bool_(True))
    assert k.snapshot()["control"]["debug_clickhouse_enabled"] is True
    with pytest.raises(TypeError, match=r"debug_clickhouse_enabled: expected bool \(or 0 or 1\), got int 2"):
        k.update_control(debug_clickhouse_enabled=2)
    k.set_risk_limits({"require_source_run_in_live": np.bool_(False)})
    slots = plain.slots()
    slots[0] = slots[0] | {"size": f32(2.0), "exit_leg_ratios": [f32(0.5), f32(0.5)], "realized_pnl": i64(0)}
    assert k.load_slots(slots) == plain.load_slots(plain.slots())


def test_numpy_integers_are_ints_where_an_int_is_taken() -> None:
    """A slot id or a metadata value computed from an array is numpy's int64: refused as
    "expected int, got int64" while its floats were numbers everywhere. numpy's bool is no
    int, as Python's is not taken for one."""
    i64 = np.int64
    k = ExecutionKernel(max_slots=i64(2), kernel_id="np", venue=MockVenueAdapter(seed=i64(1)))
    entry = KernelIntent("e1", "t1", i64(1), "BTCUSDT", "LONG", "ENTER", 100.0, 1.0, metadata={"n": i64(7)})
    assert k.process_intent(entry).accepted
    assert k.slot(i64(1)).fsm_state == TradeStage.POSITION_OPEN
    assert k.slot_state(1).metadata == {"n": 7} and type(k.slot_state(1).metadata["n"]) is int
    k.set_slot_metadata(i64(1), {"m": np.uint8(3)})
    assert k.slot_state(1).metadata == {"m": 3}
    before = state_of(k)
    for bad in (np.bool_(True), True, np.float64(1.0)):
        with pytest.raises(TypeError, match="slot_id"):
            KernelIntent("e2", "t2", bad, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0)
    with pytest.raises(TypeError, match="values must be str, int, float, bool or None"):
        k.set_slot_metadata(0, {"b": np.complex128(1)})
    with pytest.raises(
        ValueError, match=r'^invalid metadata\["big"\]: np.uint64\(18446744073709551615\) \(out of range\)'
    ):
        k.set_slot_metadata(0, {"big": np.uint64(2**64 - 1)})
    assert state_of(k) == before


def test_numpy_floats_are_floats_in_metadata() -> None:
    """A metadata value from a model's output is numpy's float32: refused ("values must be str,
    int, float, bool or None, got float32") while numpy's integers were taken as ints."""
    k = ExecutionKernel(max_slots=1, kernel_id="np")
    entry = intent("ENTER", 0, metadata={"signal": np.float32(0.25), "third": Fraction(1, 4)})
    assert entry.metadata == {"signal": 0.25, "third": 0.25}
    assert k.process_intent(entry).accepted
    k.set_slot_metadata(0, {"edge": np.float16(1.5)})
    assert k.slot_state(0).metadata == {"edge": 1.5} and type(k.slot_state(0).metadata["edge"]) is float
    before = state_of(k)
    # Still no number: a Decimal, and a Fraction too large for a float (named, nothing changed).
    with pytest.raises(TypeError, match=r'invalid metadata\["d"\]: values must be'):
        k.set_slot_metadata(0, {"d": Decimal("0.1")})
    with pytest.raises(ValueError, match=r'^invalid metadata\["huge"\]: Fraction\(1000'):
        k.set_slot_metadata(0, {"huge": Fraction(10**400)})
    assert state_of(k) == before


def test_numpy_flags_are_flags() -> None:
    """A numpy 1 was refused as a flag (the message itself offering "0 or 1"), and a numpy bool
    in metadata as "got bool"."""
    k = ExecutionKernel(max_slots=2, kernel_id="np-flags")
    k.set_slot_metadata(0, {"b": np.bool_(True), "c": np.bool_(False)})
    assert k.slot_state(0).metadata == {"b": True, "c": False}
    assert type(k.slot_state(0).metadata["b"]) is bool
    source = [dict(s) for s in ExecutionKernel(max_slots=2).slots()]
    for flag in (np.int64(1), np.uint8(0)):
        as_numpy, as_bool = (ExecutionKernel(max_slots=2, kernel_id="flags") for _ in range(2))
        as_numpy.reconcile_from_slots([source[0] | {"closed": flag}, source[1]])
        as_bool.reconcile_from_slots([source[0] | {"closed": bool(flag)}, source[1]])
        assert state_of(as_numpy) == state_of(as_bool)
    refusing = ExecutionKernel(max_slots=2)
    before = state_of(refusing)
    with pytest.raises(
        TypeError, match=r"^invalid slots\[0\]\.closed: expected bool \(or 0 or 1\), got int64"
    ):
        refusing.reconcile_from_slots([source[0] | {"closed": np.int64(2)}, source[1]])
    assert state_of(refusing) == before


def test_an_integral_that_gives_no_int_is_named_as_such() -> None:
    """A registered numbers.Integral without __index__ read as "does not fit in 64 bits"."""
    import numbers

    class NoIndex:
        def __repr__(self) -> str:
            return "NoIndex()"

    numbers.Integral.register(NoIndex)
    k = ExecutionKernel(max_slots=2, kernel_id="np-noindex")
    with pytest.raises(
        TypeError, match=r'^invalid metadata\["n"\]: NoIndex NoIndex\(\) cannot be read as an int'
    ):
        k.set_slot_metadata(0, {"n": NoIndex()})
    with pytest.raises(TypeError, match=r"invalid slot_id: NoIndex NoIndex\(\) cannot be read as an int"):
        KernelIntent("e", "t", NoIndex(), "BTCUSDT", "LONG", "ENTER", 100.0, 1.0)


def test_a_slot_view_of_a_numpy_slot_id_holds_an_int() -> None:
    """kernel.slot(np.int64(1)).slot_id stayed numpy's int64 (json.dumps refuses it)."""
    k = ExecutionKernel(max_slots=2)
    view = k.slot(np.int64(1))
    assert type(view.slot_id) is int and view.slot_id == 1
    view.metadata["n"] = 1
    assert k.slot_state(1).metadata == {"n": 1}


def test_a_busy_slot_and_a_blocked_mode_name_the_field_value_and_reason() -> None:
    # Every refusal names the field, its value and why; SLOT_BUSY for an ENTER and
    # MODE_BLOCKED gave neither field nor reason.
    k = ExecutionKernel(max_slots=1)
    assert k.process_intent(intent("ENTER", 0)).accepted
    busy = k.process_intent(intent("ENTER", 0, intent_id="again", trade_id="t-other"))
    assert busy.diagnostic_code == D.SLOT_BUSY
    assert {key: busy.details[key] for key in ("field", "value")} == {"field": "slot_id", "value": 0}
    assert "free slot" in busy.details["reason"]
    # An ENTER of the very trade the slot holds is told so, not "another trade".
    same = k.process_intent(intent("ENTER", 0, intent_id="same-trade"))
    assert same.diagnostic_code == D.SLOT_BUSY and same.details["trade_id"] == busy.details["trade_id"]
    assert same.details["reason"].startswith("the slot already holds this trade: an EXIT closes it")
    for mode, why in (("HALTED", "no new entries"), ("REDUCE_ONLY", "only EXIT and CANCEL")):
        k.update_control(mode=mode)
        blocked = k.process_intent(intent("ENTER", 0, intent_id=f"in-{mode}", trade_id=f"t-{mode}"))
        assert blocked.diagnostic_code == D.MODE_BLOCKED
        assert (blocked.details["field"], blocked.details["value"]) == ("action", "ENTER")
        assert why in blocked.details["reason"]


@pytest.mark.parametrize(
    "value",
    [Decimal("100"), Fraction(1, 3) * 1j, np.complex128(100 + 0j), np.bool_(True), "100"],
    ids=["Decimal", "complex", "numpy-complex", "numpy-bool", "str"],
)
def test_what_is_no_real_number_is_refused_everywhere_naming_the_field(value: Any) -> None:
    """A Decimal or a complex is refused as an intent's price as by `mark_price`, naming the
    field and the value, not taken (the imaginary part dropped)."""
    k = ExecutionKernel(max_slots=2, kernel_id="np-refuse")
    before = state_of(k)
    shown = re.escape(repr(value)[:40])
    with pytest.raises(TypeError, match=rf"invalid reference_price: expected a number, got \w+ {shown}"):
        intent("ENTER", 0, reference_price=value)
    with pytest.raises(TypeError, match=rf"invalid price: expected a number, got \w+ {shown}"):
        k.mark_price("BTCUSDT", value)
    with pytest.raises(TypeError, match=r"invalid exit_leg_ratios\[1\]: expected a number"):
        intent("ENTER", 0, exit_leg_ratios=(0.5, value))
    if isinstance(value, np.bool_):
        # A numpy array of legs is read as a list, though no registered Sequence: walked too.
        with pytest.raises(TypeError, match=r"invalid exit_leg_ratios\[0\]: expected a number"):
            intent("ENTER", 0, exit_leg_ratios=np.array([value]))
    with pytest.raises(TypeError, match=r"invalid (seed|taker_rate|seed_capital)"):
        k.set_seed_capital(value)
    assert state_of(k) == before


def test_a_refused_list_of_too_many_legs_is_shown_short_naming_the_count() -> None:
    """More than the 64 legs a trade may have was refused with the whole list in the message:
    a slot of a million legs gave an error of megabytes."""
    k = ExecutionKernel(max_slots=2, kernel_id="legs")
    slots = k.slots()
    slots[0] = slots[0] | {"exit_leg_ratios": [0.0001] * 1000}
    with pytest.raises(
        ValueError, match=r"invalid slots\[0\].exit_leg_ratios: \[0.0001, .*, \.\.\.\] \(1000 legs\)"
    ) as e:
        k.reconcile_from_slots(slots)
    assert "has more than 64 legs" in str(e.value) and len(str(e.value)) < 200
    # Past the 1024 legs the bindings read, refused unread.
    slots[0] = slots[0] | {"exit_leg_ratios": [0.0001] * 100_000}
    unread = r"^invalid slots\[0\].exit_leg_ratios: 100000 legs \(at most 1024\)$"
    with pytest.raises(ValueError, match=unread):
        k.reconcile_from_slots(slots)
    out = k.process_intent(intent("ENTER", 0, exit_leg_ratios=[0.01] * 65))
    assert out.diagnostic_code == D.INVALID_INTENT
    assert out.details["value"].endswith("(65 legs)"), out.details
    # Up to 64 legs, the list is shown whole.
    out = k.process_intent(intent("ENTER", 0, exit_leg_ratios=[0.5] * 64))
    assert out.details["value"] == repr([0.5] * 64), out.details


@pytest.mark.parametrize("price", [2e15, 1e300])
def test_the_mock_refuses_a_fill_price_the_kernel_refuses_and_keeps_the_order(
    resting: tuple[ExecutionKernel, MockVenueAdapter], price: float
) -> None:
    """Past 1e15 the kernel refuses a fill's price; the mock filled the order all the same, so
    the venue held a fill the kernel never booked."""
    k, venue = resting
    out = k.process_intent(intent("ENTER", 0))
    order = k.slot(0).active_entry_order
    assert out.accepted and order is not None
    before = state_of(k)
    with pytest.raises(
        ValueError, match=r"^invalid price: 2e15 \(must be at most 1e15|^invalid price: 1e300"
    ):
        venue.fill_open_order(order.client_order_id, price)
    held = venue.order_status(order.client_order_id)
    assert held is not None and held.status.name == "ACKNOWLEDGED"
    assert state_of(k) == before
    # Still open: a fill at a price the kernel takes goes through.
    (fill,) = venue.fill_open_order(order.client_order_id, 100.0)
    assert k.on_venue_event(fill).accepted and k.slot(0).fsm_state.name == "POSITION_OPEN"


def test_a_tiny_negative_is_named_in_exponent_form() -> None:
    """A value refused for being below its minimum is shown as Python shows it: -1e-320 was
    written out in 330 digits."""
    kernel = ExecutionKernel(max_slots=1)
    with pytest.raises(ValueError, match=r"^invalid taker_rate: -1e-320 \(must not be negative\)$"):
        kernel.set_exchange_config({"taker_rate": -1e-320})
    with pytest.raises(ValueError, match=r"^invalid taker_rate: -0.5 \(must not be negative\)$"):
        kernel.set_exchange_config({"taker_rate": -0.5})
