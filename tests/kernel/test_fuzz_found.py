"""Defects found by fuzzing the bindings with hostile Python objects (tests/kernel/
fuzz_bindings.py). Each stays as a regression test."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from fractions import Fraction
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from kernel_helpers import intent

from dita import ExecutionKernel, MockVenueAdapter, VenueEvent
from dita._kernel import wal_replay, wal_verify

Call = Callable[[ExecutionKernel, Any], Any]

# Every call that reads a config dict's numbers or a bare number the same way.
NUMBER_CALLS: list[tuple[str, Call]] = [
    ("taker_rate", lambda k, v: k.set_exchange_config({"taker_rate": v, "lot_step": 0.001})),
    ("lot_step", lambda k, v: k.set_market_limits("BTCUSDT", {"lot_step": v, "min_qty": 0.001})),
    ("max_leverage", lambda k, v: k.set_risk_limits({"max_leverage": v, "regime": "NEUTRAL"})),
    ("seed", lambda k, v: k.set_seed_capital(v)),
    ("price", lambda k, v: k.mark_price("BTCUSDT", v)),
    ("fill_qty", lambda k, v: k.calibrate_fee(100.0, v, 0.05)),
]


def kernel_with_a_position() -> ExecutionKernel:
    k = ExecutionKernel(max_slots=2, kernel_id="fuzz-found")
    k.set_seed_capital(10_000.0)
    assert k.process_intent(intent("ENTER", 0)).accepted
    return k


class GrowsItsDict(int):
    """An int that, read as a number, adds keys to the dict it was passed in."""

    grows: dict[str, Any]

    def __float__(self) -> float:
        self.grows.update({f"added{i}": 1.0 for i in range(4)})
        return float(int(self))


@pytest.mark.parametrize(
    ("config", "call"),
    [
        ({"taker_rate": 0, "lot_step": 0.001}, lambda k, c: k.set_exchange_config(c)),
        ({"lot_step": 1, "min_qty": 0.001}, lambda k, c: k.set_market_limits("BTCUSDT", c)),
        ({"max_leverage": 3, "regime": "NEUTRAL"}, lambda k, c: k.set_risk_limits(c)),
    ],
)
def test_a_value_that_changes_its_config_dict_while_read_does_not_panic(
    config: dict[str, Any], call: Call
) -> None:
    """A value whose __float__ added keys to the config dict being read made PyO3's dict
    iterator panic: a PanicException (a BaseException, past `except Exception`) out of
    set_exchange_config, set_market_limits and set_risk_limits. The dict is read as it was
    when the call began: the keys it gained are not read (here they would be refused as
    unknown fields)."""
    kernel = kernel_with_a_position()
    first = next(iter(config))
    value = GrowsItsDict(config[first])
    value.grows = config
    config[first] = value
    call(kernel, config)  # applied: the value reads as the number it is
    assert "added0" in config  # the value did change the dict under the reader


class GrowingFraction(Fraction):
    """A real number (neither int nor float) that, read as one, adds keys to the dict it is in."""

    grows: dict[str, Any]

    def __float__(self) -> float:
        self.grows.update({f"added{i}": 1.0 for i in range(4)})
        return super().__float__()


def _loaded(k: ExecutionKernel, m: dict[str, Any]) -> dict[str, Any]:
    k.reconcile_from_slots([{**k.slots()[0], "metadata": m}, k.slots()[1]])
    return k.slot_state(0).metadata


def _set(k: ExecutionKernel, m: dict[str, Any]) -> dict[str, Any]:
    k.set_slot_metadata(0, m)
    return k.slot_state(0).metadata


@pytest.mark.parametrize(
    "read",
    [
        _set,
        lambda k, m: intent("ENTER", 1, metadata=m).metadata,
        lambda k, m: VenueEvent("ev-grow", "t0", 0, "ORDER_ACK", metadata=m).metadata,
        _loaded,
    ],
    ids=["set_slot_metadata", "intent", "venue-event", "reconcile_from_slots"],
)
def test_a_metadata_value_that_changes_its_dict_while_read_does_not_panic(read: Call) -> None:
    """As a config dict's (above): a metadata value whose __float__ added keys to the metadata
    dict being read made PyO3's dict iterator panic, a PanicException (a BaseException, past
    `except Exception`) out of every call that takes metadata. The dict is read as it was when
    the call began."""
    kernel = kernel_with_a_position()
    metadata: dict[str, Any] = {"a": 1, "b": GrowingFraction(1, 2), "c": "x"}
    metadata["b"].grows = metadata
    assert read(kernel, metadata) == {"a": 1, "b": 0.5, "c": "x"}
    assert "added0" in metadata  # the value did change the dict under the reader


class FloatRaises(int):
    def __float__(self) -> float:
        raise RuntimeError("no float here")


class FloatIsText(int):
    def __float__(self) -> Any:
        return "1.0"


@pytest.mark.parametrize(("field", "call"), NUMBER_CALLS)
@pytest.mark.parametrize(
    ("value", "why"),
    [(FloatRaises(1), "no float here"), (FloatIsText(1), "returned non-float")],
    ids=["float-raises", "float-is-text"],
)
def test_a_number_that_cannot_be_read_is_not_called_too_large(
    field: str, call: Call, value: Any, why: str
) -> None:
    """An int subclass whose __float__ raised or returned text was refused as "1 (must be at
    most 1e15 in magnitude)": a number too large, which 1 is not, and its own error lost. It
    is a TypeError naming the field and the value, with the reason, and nothing changes."""
    kernel = kernel_with_a_position()
    before = kernel.snapshot()
    pattern = rf"^invalid {field}: {type(value).__name__} 1 could not be read as a number: .*{why}"
    with pytest.raises(TypeError, match=pattern) as info:
        call(kernel, value)
    assert "1e15" not in str(info.value)
    assert info.value.__cause__ is not None
    assert kernel.snapshot() == before


def test_an_int_too_large_for_a_float_is_still_called_too_large() -> None:
    kernel = kernel_with_a_position()
    with pytest.raises(ValueError, match=re.escape("(must be at most 1e15 in magnitude)")):
        kernel.set_seed_capital(10**400)


def resting_slots() -> tuple[ExecutionKernel, list[dict[str, Any]]]:
    """A kernel whose slot 0 has an entry order working at the venue, and its slots."""
    k = ExecutionKernel(max_slots=2, venue=MockVenueAdapter(fill_rate=0.0), kernel_id="fuzz-rest")
    k.set_seed_capital(10_000.0)
    assert k.process_intent(intent("ENTER", 0, exit_leg_ratios=(0.5, 0.5))).accepted
    return k, k.slots()


def with_order(slots: list[dict[str, Any]], **kw: Any) -> list[dict[str, Any]]:
    slots[0]["active_entry_order"] = slots[0]["active_entry_order"] | kw
    return slots


@pytest.mark.parametrize(
    ("change", "exc", "match"),
    [
        # A bool is neither an int nor a number (docs/concepts/slots-and-stages.md): an intent's
        # legs refuse it.
        (
            lambda s: s[0].update(exit_leg_ratios=[0.5, True]) or s,
            TypeError,
            r"^invalid slots\[0\]\.exit_leg_ratios\[1\]: expected a number, got bool True",
        ),
        (
            lambda s: s[0].update(exit_leg_ratios=[True]) or s,
            TypeError,
            r"^invalid slots\[0\]\.exit_leg_ratios\[0\]: expected a number, got bool True",
        ),
        (
            lambda s: s[0].update(active_leg_index=True) or s,
            TypeError,
            r"^invalid slots\[0\]\.active_leg_index: expected int, got bool True",
        ),
        (
            lambda s: s[1].update(slot_id=True) or s,
            TypeError,
            r"^invalid slots\[1\]\.slot_id: expected int, got bool True",
        ),
        # Ids as an intent's or event's: no NUL byte, at most 1 MiB.
        (
            lambda s: with_order(s, client_order_id="fuzz-rest-1\x00x"),
            ValueError,
            r"^invalid slots\[0\]\.active_entry_order\.client_order_id: .* holds a NUL byte",
        ),
        (
            lambda s: with_order(s, venue_order_id="mock-1\x00"),
            ValueError,
            r"^invalid slots\[0\]\.active_entry_order\.venue_order_id: .* holds a NUL byte",
        ),
        (
            lambda s: s[1].update(trade_id="t\x00") or s,
            ValueError,
            r"^invalid slots\[1\]\.trade_id: .* holds a NUL byte",
        ),
        (
            lambda s: with_order(s, client_order_id="c" * ((1 << 20) + 1)),
            ValueError,
            r"^invalid slots\[0\]\.active_entry_order\.client_order_id: 1048577 bytes long",
        ),
        (
            lambda s: s[1].update(close_reason="r" * ((1 << 20) + 1)) or s,
            ValueError,
            r"^invalid slots\[1\]\.close_reason: 1048577 bytes long",
        ),
    ],
    ids=[
        "leg-bool",
        "only-leg-bool",
        "leg-index-bool",
        "slot-id-bool",
        "client-id-nul",
        "venue-id-nul",
        "trade-id-nul",
        "client-id-huge",
        "close-reason-huge",
    ],
)
def test_loaded_slots_are_refused_what_an_intent_or_event_is_refused(
    change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]], exc: type, match: str
) -> None:
    """reconcile_from_slots took what the intents and events that fill a slot are refused: a
    bool as a leg ratio (True, a leg of 1.0), as the leg index or as a slot id; ids holding a
    NUL byte (cut short by C strings and stores: an order the kernel would cancel by an id the
    venue reads as another) or over 1 MiB. Each is refused naming the
    field and the value, before anything changes."""
    kernel, slots = resting_slots()
    before = kernel.snapshot()
    with pytest.raises(exc, match=match):
        kernel.reconcile_from_slots(change(slots))
    assert kernel.snapshot() == before
    # The slots as they were still load.
    assert kernel.load_slots(resting_slots()[1]) == 0


class ReadOnly(Mapping[str, Any]):
    """A Mapping that is not a dict (as a frozen config or a pydantic-free wrapper is)."""

    def __init__(self, items: dict[str, Any]) -> None:
        self._items = items

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


@pytest.mark.parametrize("wrap", [MappingProxyType, ReadOnly], ids=["mappingproxy", "abc-mapping"])
def test_every_mapping_the_stubs_promise_is_taken(wrap: Callable[[dict[str, Any]], Any]) -> None:
    """_kernel.pyi types metadata, configs, risk and market limits and loaded slots as
    Mapping, so a type-checked caller may pass any; each was refused ("expected a dict") unless
    it was a dict. They are read as the dict they hold."""
    kernel, _ = resting_slots()
    made = intent("ENTER", 1, metadata=wrap({"a": 1}))
    assert made.metadata == {"a": 1}
    kernel.set_slot_metadata(0, wrap({"b": "x"}))
    assert kernel.slot_state(0).metadata == {"b": "x"}
    kernel.set_exchange_config(wrap({"taker_rate": 0.0004}))
    assert kernel.exchange_config()["taker_rate"] == 0.0004
    kernel.set_market_limits("BTCUSDT", wrap({"min_qty": 0.01}))
    assert (kernel.market_limits("BTCUSDT") or {})["min_qty"] == 0.01
    kernel.set_risk_limits(wrap({"max_leverage": 4.0}))
    assert kernel.risk_limits()["max_leverage"] == 4.0
    loaded = kernel.slots()
    loaded[0]["active_entry_order"] = wrap(loaded[0]["active_entry_order"])
    before = kernel.slots()
    assert kernel.load_slots([wrap(s) for s in loaded]) == 0
    assert kernel.slots() == before


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (
            lambda tmp: ExecutionKernel(max_slots=1, kernel_id="k\x00x"),
            ValueError,
            r"^invalid kernel_id: .* holds a NUL byte",
        ),
        (
            lambda tmp: ExecutionKernel(max_slots=1, kernel_id="k", wal_dir=f"{tmp}/w\x00x"),
            ValueError,
            r"^invalid wal_dir: .* \(not a valid file name: .*null",
        ),
        (
            lambda tmp: wal_verify(f"{tmp}/w\x00x"),
            ValueError,
            r"^invalid path: .* \(not a valid file name: .*null",
        ),
        (
            lambda tmp: wal_replay(f"{tmp}/w\x00x"),
            ValueError,
            r"^invalid path: .* \(not a valid file name: .*null",
        ),
        (
            lambda tmp: wal_verify(tmp, expect_head="\ud800"),
            ValueError,
            r"^invalid expect_head: '\\ud800' is not valid UTF-8",
        ),
        (
            lambda tmp: wal_verify(tmp, expect_head=b"00"),
            TypeError,
            r"expect_head.*bytes",  # named before too: kept as it is
        ),
    ],
    ids=[
        "kernel-id-nul",
        "wal-dir-nul",
        "verify-path-nul",
        "replay-path-nul",
        "head-surrogate",
        "head-bytes",
    ],
)
def test_kernel_ids_paths_and_heads_are_refused_naming_the_argument(
    tmp_path: Path, call: Callable[[Path], Any], exc: type, match: str
) -> None:
    """A kernel id holding a NUL byte was taken (every client order id the venue is sent
    begins with it, and stores cut it short there, as they cut the ids an intent is refused
    for); a path holding one was an OSError printing the NUL and naming no argument; a head
    hash with a lone surrogate was a bare UnicodeEncodeError. Each now names the argument and
    the value."""
    with pytest.raises(exc, match=match):
        call(tmp_path)
    assert not any(tmp_path.iterdir())  # no log or directory left behind
