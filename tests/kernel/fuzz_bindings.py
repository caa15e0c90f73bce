"""Fuzz harness: hostile Python objects through every public entry point of ``dita._kernel``.

Not a test module (pytest collects ``test_*.py`` only) and not run by ``make test``: run it by
hand, from the repository root, for as long as you like::

    .venv/bin/python tests/kernel/fuzz_bindings.py --examples 20000

Hypothesis picks an entry point and one of its arguments, puts a hostile value there (str and
int subclasses, lone surrogates, NUL bytes, bytes, bools, objects whose ``__float__`` or
``__index__`` raises, returns the wrong type or mutates the dict being read, ints beyond 64
bits, -0.0, subnormals, numpy scalars, odd metadata and leg sequences, ...) and checks what
DESIGN promises of bad input: no PanicException or SystemError, an exception names the field,
and a call that raised or was refused changes nothing (``snapshot()`` as before). A failure
prints the shrunk call; turn it into a regression test in tests/kernel/.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dita import (
    AccountEvent,
    ExecutionKernel,
    KernelIntent,
    MockVenueAdapter,
    OrderSide,
    TradeSide,
    VenueEvent,
    VenueOrder,
)
from dita._kernel import wal_verify

# A fresh wal_dir (in the scratch directory main() runs in) for each kernel made.
WAL_DIRS = itertools.count()

# The dict a MutatesTarget value mutates when it is read as a number (set per call).
TARGET: list[dict[Any, Any]] = []


class StrSub(str):
    def __eq__(self, other: object) -> bool:
        raise RuntimeError("StrSub.__eq__")

    def __hash__(self) -> int:
        raise RuntimeError("StrSub.__hash__")


class IntSub(int):
    pass


class FloatSub(float):
    pass


class FloatRaises(int):
    def __float__(self) -> float:
        raise RuntimeError("FloatRaises.__float__")

    def __index__(self) -> int:
        raise RuntimeError("FloatRaises.__index__")


class FloatWrongType(int):
    def __float__(self) -> Any:
        return "not a float"


class MutatesTarget(int):
    """An int that, read as a float, grows the dict it sits in: a dict iterated across it
    changes size under the reader."""

    def __float__(self) -> float:
        for d in TARGET:
            d.update({f"added{i}": 1.0 for i in range(4)})
        return 1.0


class ReprRaises:
    def __repr__(self) -> str:
        raise RuntimeError("ReprRaises.__repr__")

    def __float__(self) -> float:
        return 1.0


class DictSub(dict[Any, Any]):
    def __getitem__(self, key: Any) -> Any:
        raise RuntimeError("DictSub.__getitem__")


class LegsIterable:
    """Iterable (a fresh generator each time) but no Sequence."""

    def __iter__(self) -> Iterator[float]:
        yield from (0.5, 0.5)


class BrokenMapping(Mapping[str, Any]):
    """A Mapping whose iteration raises."""

    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("BrokenMapping.__iter__")

    def __len__(self) -> int:
        return 1


HOSTILE: list[Any] = [
    None,
    "",
    " ",
    "\ud800",
    "a\x00b",
    "\x00",
    "x" * ((1 << 20) + 1),
    StrSub("LONG"),
    StrSub("BTCUSDT"),
    "long",
    " LONG",
    b"LONG",
    bytearray(b"x"),
    True,
    False,
    0,
    1,
    -1,
    IntSub(1),
    IntSub(2**70),
    FloatSub(1.5),
    FloatSub(math.nan),
    FloatRaises(1),
    FloatWrongType(1),
    MutatesTarget(1),
    ReprRaises(),
    2**63,
    2**64,
    -(2**63) - 1,
    10**400,
    -0.0,
    5e-324,
    2.2250738585072014e-308,
    1e308,
    math.nan,
    math.inf,
    -math.inf,
    np.float32(1.0),
    np.float64(math.nan),
    np.int64(1),
    np.bool_(True),
    np.uint64(2**64 - 1),
    np.complex128(1 + 1j),
    complex(1, 0),
    Decimal("1.5"),
    Fraction(1, 2),
    [],
    [0.5, 0.5],
    (1.0,),
    {0.25, 0.75},
    frozenset(),
    range(2),
    [True],
    [1e400],
    [2**2000],
    [0.1] * 2000,
    {},
    {"a": 1},
    {1: "x"},
    {"a": [1]},
    {"a": {"b": {"c": 1}}},
    {"\ud800": 1},
    {"a": "\ud800"},
    {"a": 2**64},
    {"a": MutatesTarget(1), "b": 1.0},
    {"a": FloatSub(1.0), "b": IntSub(2)},
    {"a": "x" * (5 << 20)},
    DictSub(a=1),
    MappingProxyType({"a": 1}),
    BrokenMapping(),
    LegsIterable(),
    TradeSide.LONG,
    OrderSide.BUY,
    object(),
]

# Each target: name -> {argument: default}; `call(kernel, args)` makes the call.
Call = Callable[[ExecutionKernel, dict[str, Any]], Any]


def intent_args() -> dict[str, Any]:
    return {
        "intent_id": "fz-i",
        "trade_id": "fz-t",
        "slot_id": 1,
        "asset": "BTCUSDT",
        "side": "LONG",
        "action": "ENTER",
        "reference_price": 100.0,
        "target_size": 1.0,
        "leverage": 1.0,
        "exit_leg_ratios": None,
        "order_type": None,
        "limit_price": 0.0,
        "reason": "",
        "metadata": None,
        "timestamp": 1_700_000_100.0,
    }


def venue_args() -> dict[str, Any]:
    return {
        "event_id": "fz-e",
        "trade_id": "t0",
        "slot_id": 0,
        "kind": "FILL",
        "status": None,
        "venue_order_id": "",
        "venue_client_id": "",
        "side": None,
        "asset": "BTCUSDT",
        "price": 100.0,
        "size": 0.1,
        "filled_size": 0.1,
        "remaining_size": 0.0,
        "reason": "",
        "metadata": None,
        "timestamp": 1_700_000_100.0,
        "fill_id": "",
        "fee": None,
        "retry_after": 0.0,
    }


def account_args() -> dict[str, Any]:
    return {
        "event_id": "fz-a",
        "kind": "FUNDING_FEE",
        "asset": "BTCUSDT",
        "amount": 0.5,
        "fee": 0.0,
        "fill_id": "",
        "wallet_balance": None,
        "available_margin": None,
        "used_margin": None,
        "maint_margin": None,
        "timestamp": 1_700_000_100.0,
    }


def slot_dict_args(kernel: ExecutionKernel) -> dict[str, Any]:
    return dict(kernel.slots()[0])


TARGETS: dict[str, tuple[Callable[[ExecutionKernel], dict[str, Any]], Call]] = {
    "process_intent": (lambda k: intent_args(), lambda k, a: k.process_intent(KernelIntent(**a))),
    "on_venue_event": (lambda k: venue_args(), lambda k, a: k.on_venue_event(VenueEvent(**a))),
    "on_account_event": (
        lambda k: account_args(),
        lambda k, a: k.on_account_event(AccountEvent(a.pop("event_id"), a.pop("kind"), **a)),
    ),
    "mark_price": (
        lambda k: {"asset": "BTCUSDT", "price": 101.0, "timestamp": None},
        lambda k, a: k.mark_price(**a),
    ),
    "on_edge_update": (
        lambda k: {"asset": "BTCUSDT", "edge_bps": 5.0, "timestamp": None},
        lambda k, a: k.on_edge_update(**a),
    ),
    "set_seed_capital": (lambda k: {"seed": 5000.0}, lambda k, a: k.set_seed_capital(**a)),
    "set_exchange_config": (
        lambda k: {"taker_rate": 0.0005, "lot_step": 0.001},
        lambda k, a: k.set_exchange_config(a),
    ),
    "set_risk_limits": (
        lambda k: {"max_leverage": 5.0, "regime": "NORMAL", "edge_freeze_threshold_bps": None},
        lambda k, a: k.set_risk_limits(a),
    ),
    "set_market_limits": (
        lambda k: {"lot_step": 0.001, "min_qty": 0.001},
        lambda k, a: k.set_market_limits("BTCUSDT", a),
    ),
    "calibrate_fee": (
        lambda k: {"fill_price": 100.0, "fill_qty": 1.0, "actual_fee": 0.05, "maker": False},
        lambda k, a: k.calibrate_fee(**a),
    ),
    "update_control": (
        lambda k: {
            "mode": None,
            "verbosity": None,
            "debug_clickhouse_enabled": None,
            "source": "fz",
            "if_mode": None,
        },
        lambda k, a: k.update_control(**a),
    ),
    "set_slot_metadata": (
        lambda k: {"slot_id": 0, "metadata": {"a": 1}},
        lambda k, a: k.set_slot_metadata(**a),
    ),
    "slot.metadata": (
        lambda k: {"slot_id": 0, "metadata": {"a": 1}},
        lambda k, a: setattr(k.slot(a["slot_id"]), "metadata", a["metadata"]),
    ),
    "slot.exit_leg_ratios": (
        lambda k: {"slot_id": 0, "ratios": [0.5, 0.5]},
        lambda k, a: setattr(k.slot(a["slot_id"]), "exit_leg_ratios", a["ratios"]),
    ),
    "reconcile_from_slots": (slot_dict_args, lambda k, a: k.reconcile_from_slots([a, *k.slots()[1:]])),
    # The working order of slot 2, field by field.
    "reconcile_from_slots.order": (
        lambda k: dict(k.slots()[2]["active_entry_order"]),
        lambda k, a: k.reconcile_from_slots([*k.slots()[:2], k.slots()[2] | {"active_entry_order": a}]),
    ),
    "slot_state": (lambda k: {"slot_id": 0}, lambda k, a: k.slot_state(**a)),
    "ExecutionKernel": (
        lambda k: {
            "max_slots": 2,
            "kernel_id": "fz-new",
            "wal_dir": f"wal{next(WAL_DIRS)}",
            "fsync": "none",
            "wal_checkpoint_every": 100,
            "wal_segment_bytes": 1 << 20,
        },
        lambda k, a: ExecutionKernel(**a).close(),
    ),
    "VenueOrder": (
        lambda k: {
            "client_order_id": "c1",
            "slot_id": 0,
            "trade_id": "t0",
            "asset": "BTCUSDT",
            "side": "BUY",
            "order_type": "LIMIT",
            "price": 100.0,
            "size": 1.0,
            "venue_order_id": "",
            "reduce_only": False,
            "reference_price": 0.0,
            "timestamp": None,
            "filled_size": 0.0,
            "avg_fill_price": 0.0,
            "status": None,
            "is_entry": None,
        },
        lambda k, a: VenueOrder(**a),
    ),
    "drain_journal": (lambda k: {"max_rows": 10}, lambda k, a: k.drain_journal(**a)),
    "wal_verify": (
        lambda k: {"path": "verified", "expect_head": None, "replay": False},
        lambda k, a: wal_verify(**a),
    ),
    "mock.fill_open_order": (
        lambda k: {"client_order_id": "fuzz-2", "price": None},
        lambda k, a: k.venue.fill_open_order(**a),
    ),
    "market_limits": (lambda k: {"asset": "BTCUSDT"}, lambda k, a: k.market_limits(**a)),
    "MockVenueAdapter": (
        lambda k: {"seed": 1, "fill_rate": 1.0, "partial_fill_ratio": 0.5, "name": "m"},
        lambda k, a: MockVenueAdapter(**a),
    ),
}


# Targets taking one dict, whose keys are field names: a hostile key is tried too.
DICT_TARGETS = (
    "set_exchange_config",
    "set_risk_limits",
    "set_market_limits",
    "reconcile_from_slots",
    "reconcile_from_slots.order",
)


def fields_of(target: str) -> list[str]:
    fields = sorted(TARGETS[target][0](fresh_kernel()))
    return [*fields, "*new key*"] if target in DICT_TARGETS else fields


# Fields of a slot's or order's dict that reconcile_from_slots does not read
# (docs/concepts/slots-and-stages.md).
NOT_READ = {
    "reconcile_from_slots": ("committed_notional", "awaited_fill_qty", "order_in_doubt"),
    "reconcile_from_slots.order": ("slot_id", "leg"),
}


def fresh_kernel() -> ExecutionKernel:
    """Slot 0 holds an open long of 1 BTCUSDT at 100, slot 1 is free and slot 2 has an
    entry order working at the venue."""
    venue = MockVenueAdapter(fill_rate=0.0)
    k = ExecutionKernel(max_slots=3, venue=venue, kernel_id="fuzz")
    k.set_seed_capital(10_000.0)
    for slot in (0, 2):
        args = intent_args() | {"intent_id": f"open{slot}", "trade_id": f"t{slot}", "slot_id": slot}
        assert k.process_intent(KernelIntent(**args)).accepted
    for event in venue.fill_open_order("fuzz-1"):
        assert k.on_venue_event(event).accepted
    return k


def finite(value: Any, where: str = "snapshot") -> None:
    """Every float in a snapshot is a number (NaN/inf would poison the books)."""
    if isinstance(value, float):
        assert math.isfinite(value), f"{where} = {value}"
    elif isinstance(value, dict):
        for key, item in value.items():
            finite(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            finite(item, f"{where}[{i}]")


def check(target: str, changes: list[tuple[str, Any]]) -> None:
    """Calls `target` with each (argument, value) of `changes` in place of its default."""
    kernel = fresh_kernel()
    make, call = TARGETS[target]
    args = make(kernel)
    defaults = dict(args)
    for field, value in changes:
        if field == "*new key*":
            args[value if _hashable(value) else repr(value)] = 1.0
        else:
            args[field] = value
    TARGET[:] = [args, *(v for v in args.values() if isinstance(v, dict))]
    shown = f"{target}({', '.join(f'{f}={_repr(v)}' for f, v in changes)})"
    before = kernel.snapshot()
    try:
        result = call(kernel, args)
    except BaseException as e:
        name = type(e).__name__
        assert name not in ("PanicException", "SystemError"), f"{shown}: {e!r:.300}"
        assert not isinstance(e, KeyboardInterrupt | SystemExit)
        assert kernel.snapshot() == before, f"{shown} raised {e!r:.200} but changed state"
        for _, value in changes:
            if "at most 1e15" in str(e) and isinstance(value, int) and abs(int(value)) <= 10**15:
                assert f" {int(value)} (" not in str(e), f"{shown} misleading: {e!s:.200}"
        own = str(e).startswith(("StrSub", "FloatRaises", "ReprRaises", "DictSub", "BrokenMapping"))
        # An OSError names the path the system refused (a wal_dir or a path argument).
        if not own and not (isinstance(e, OSError) and "\x00" not in str(e)):
            assert _names(e, [f for f, _ in changes], args), f"{shown}: {name}: {e!s:.300}"
        return
    finally:
        TARGET.clear()
    if getattr(result, "accepted", True) is False:
        assert kernel.snapshot() == before, f"{shown} refused but changed state"
        return
    finite(kernel.snapshot())
    # Taken: but a bool is no number (docs/concepts/slots-and-stages.md) and an id holds no NUL byte.
    for field, value in changes:
        if field in NOT_READ.get(target, ()):
            continue
        default = defaults.get(field)
        is_bool = isinstance(value, bool | np.bool_) or (
            isinstance(value, list) and any(isinstance(v, bool) for v in value)
        )
        numeric = isinstance(default, int | float | list | tuple) and not isinstance(default, bool)
        assert not (is_bool and numeric), f"{shown} took a bool as a number"
        # A control's source is journaled and projected as an id is.
        is_id = field.endswith("_id") or field == "asset" or (target, field) == ("update_control", "source")
        assert not (is_id and isinstance(value, str) and "\x00" in value), f"{shown} took a NUL"


def _repr(value: Any) -> str:
    try:
        return f"{value!r:.60}"
    except Exception:
        return f"<{type(value).__name__}>"


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except Exception:
        return False
    return True


def _names(e: BaseException, fields: list[str], args: dict[str, Any]) -> bool:
    """The message names a field (or, for a dict argument, one of its keys or the dict)."""
    text = str(e)
    keys = [str(k) for k in args if isinstance(k, str)]
    return any(f in text for f in fields + keys) or "key" in text or "dict" in text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--at-once", type=int, default=1, help="hostile arguments per call (1 or more)")
    opts = parser.parse_args()
    cases = st.sampled_from(sorted(TARGETS)).flatmap(
        lambda t: st.tuples(
            st.just(t),
            st.lists(
                # By index: Hypothesis would hash the values, and some refuse to be hashed.
                st.tuples(st.sampled_from(fields_of(t)), st.integers(0, len(HOSTILE) - 1)),
                min_size=1,
                max_size=opts.at_once,
                unique_by=lambda change: change[0],
            ),
        )
    )

    @settings(
        max_examples=opts.examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(cases)
    def run(case: tuple[str, list[tuple[str, int]]]) -> None:
        target, changes = case
        tried.add((target, tuple(changes)))
        try:
            check(target, [(field, HOSTILE[index]) for field, index in changes])
        except AssertionError as e:
            # Kept, not raised: one run reports every distinct finding, not the first.
            failures.setdefault(str(e)[:160], case)

    failures: dict[str, tuple[str, list[tuple[str, int]]]] = {}
    tried: set[tuple[str, tuple[tuple[str, int], ...]]] = set()
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)  # a wal_dir or path argument lands here
        ExecutionKernel(max_slots=1, kernel_id="fz-log", wal_dir="verified").close()
        run()
    singles = sum(len(fields_of(t)) for t in TARGETS) * len(HOSTILE)
    for message in failures:
        print("FAIL", message)
    print(
        f"fuzz_bindings: {opts.examples} examples, {len(tried)} distinct calls (one hostile "
        f"argument: {singles} possible), {len(TARGETS)} entry points, {len(failures)} findings"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
