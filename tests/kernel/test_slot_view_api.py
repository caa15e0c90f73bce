"""``kernel.slot(i)``'s write-through metadata holds only for the trade it was read for, not
past it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from kernel_helpers import intent

from dita import ExecutionKernel, TradeSlot


def _round_trip(k: ExecutionKernel, slot: int, **kw: object) -> None:
    """A trade entered (the mock fills it at once) and exited whole on ``slot``."""
    assert k.process_intent(intent("ENTER", slot, **kw)).accepted
    assert k.process_intent(intent("EXIT", slot, trade_id=kw.get("trade_id", f"t{slot}"))).accepted


@pytest.mark.parametrize("next_trade_id", ["t-2", "t0"], ids=["another_id", "the_same_id_again"])
def test_metadata_read_for_one_trade_is_not_written_into_the_next(next_trade_id: str) -> None:
    """A strategy kept ``meta = kernel.slot(0).metadata`` for its trade and set its stop there
    after that trade had ended and another had entered on the slot: the stop (or a ``clear()``)
    landed on the other trade's metadata without a word, its own reading ``{'a': 1}``. Refused
    now, naming the slot and both trades, and nothing changes."""
    k = ExecutionKernel(max_slots=1, kernel_id="stale-meta")
    k.set_seed_capital(10_000.0)
    _round_trip(k, 0, trade_id="t0", metadata={"a": 1})
    meta = k.slot(0).metadata
    assert meta == {"a": 1}
    assert k.process_intent(intent("ENTER", 0, trade_id=next_trade_id, metadata={"z": 9})).accepted
    before, seq = k.snapshot(), k.seq
    for change in (
        lambda: meta.__setitem__("stop", 95.0),
        lambda: meta.update(stop=95.0),
        meta.clear,
        lambda: meta.pop("z"),
        lambda: meta.setdefault("stop", 95.0),
    ):
        with pytest.raises(RuntimeError, match=r"slot 0.*'t0'.*read it again") as err:
            change()
        assert repr(next_trade_id) in str(err.value)
        assert k.snapshot() == before and k.seq == seq
    assert k.slot_state(0).metadata == {"z": 9}
    # Read again, the slot's metadata is the new trade's, and changes go through.
    fresh = k.slot(0).metadata
    fresh["stop"] = 95.0
    assert k.slot_state(0).metadata == {"z": 9, "stop": 95.0}
    # The view itself is live: it reads and writes the slot's trade of the moment.
    k.slot(0).metadata["n"] = 1
    assert k.slot_state(0).metadata == {"z": 9, "stop": 95.0, "n": 1}


def test_metadata_read_within_one_trade_still_writes_through() -> None:
    """Held across the trade's own fills and exits (its stage changing), the dict still writes
    to that trade: only another trade refuses it."""
    k = ExecutionKernel(max_slots=1, kernel_id="same-trade-meta")
    k.set_seed_capital(10_000.0)
    assert k.process_intent(intent("ENTER", 0, metadata={"a": 1}, exit_leg_ratios=(0.5, 0.5))).accepted
    meta = k.slot(0).metadata
    assert k.process_intent(intent("EXIT", 0)).accepted  # the first of two legs
    meta["stop"] = 95.0
    assert k.slot_state(0).metadata == {"a": 1, "stop": 95.0}
    assert k.process_intent(intent("EXIT", 0)).accepted  # the trade is over
    meta["done"] = True
    assert k.slot_state(0).metadata == {"a": 1, "stop": 95.0, "done": True}


class TradeTurnsOverMidChange(ExecutionKernel):
    """A kernel on which another thread ends slot 0's trade and enters another on it right after
    a metadata change read the slot (``slot_state``), before it writes."""

    turnover: Callable[[], Any] | None = None

    def slot_state(self, slot_id: int) -> TradeSlot:
        read = super().slot_state(slot_id)
        work, self.turnover = self.turnover, None
        if work is not None:
            t = threading.Thread(target=work)
            t.start()
            t.join()
        return read


def test_a_metadata_change_is_not_written_into_a_trade_entered_while_it_is_made() -> None:
    k = TradeTurnsOverMidChange(max_slots=1, kernel_id="turnover-meta")
    k.set_seed_capital(10_000.0)
    assert k.process_intent(intent("ENTER", 0, trade_id="old", metadata={"stop": 95.0})).accepted
    meta = k.slot(0).metadata

    def turnover() -> None:  # the other thread: the old trade exits, a new one enters the slot
        k.process_intent(intent("EXIT", 0, trade_id="old"))
        k.process_intent(intent("ENTER", 0, trade_id="new", metadata={"stop": 120.0}))

    k.turnover = turnover
    with pytest.raises(RuntimeError, match=r"slot 0's metadata was read when it held trade 'old'"):
        meta["trail"] = 1.5
    s = k.slot_state(0)
    assert (s.trade_id, s.metadata) == ("new", {"stop": 120.0})


def test_set_slot_metadata_for_a_trade_the_slot_no_longer_holds_changes_nothing() -> None:
    k = ExecutionKernel(max_slots=1, kernel_id="if-trade")
    k.set_seed_capital(10_000.0)
    assert k.process_intent(intent("ENTER", 0, trade_id="t0", metadata={"a": 1})).accepted
    held = k.slot_state(0)
    k.set_slot_metadata(0, {"a": 2}, if_trade=(held.trade_id, held.entry_time_s))
    seq = k.seq
    with pytest.raises(RuntimeError, match=r"slot 0 holds trade \"t0\" entered at .*, not trade \"t9\""):
        k.set_slot_metadata(0, {"a": 3}, if_trade=("t9", held.entry_time_s))
    with pytest.raises(RuntimeError, match="metadata not set"):
        k.set_slot_metadata(0, {"a": 3}, if_trade=("t0", held.entry_time_s + 1.0))
    assert (k.slot_state(0).metadata, k.seq) == ({"a": 2}, seq)
