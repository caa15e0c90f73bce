"""``kernel.slot(i)``'s write-through metadata holds only for the trade it was read for, not
past it."""

from __future__ import annotations

import pytest
from kernel_helpers import intent

from dita import ExecutionKernel


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
