"""What one projection cycle publishes of a kernel (its changed slots, account and control) is
of one kernel state, though a strategy trades on another thread meanwhile: the Hazelcast
publisher reads on a thread of its own."""

from __future__ import annotations

import gc
import itertools
import random
import sys
import threading
import time
from typing import Any

import pytest

from dita import ExecutionKernel, KernelIntent
from dita.projection import InMemoryProjection, publish_dirty

_ASSETS = ("BTCUSDT", "ETHUSDT")


def _intent(action: str, n: int, slot_id: int = 0, asset: str = "BTCUSDT") -> KernelIntent:
    return KernelIntent(
        intent_id=f"{action}-{n}",
        trade_id=f"t-{n}",
        slot_id=slot_id,
        asset=asset,
        side="LONG",
        action=action,
        reference_price=100.0,
        target_size=1.0,
    )


def _open_positions(slots: dict[str, dict[str, Any]]) -> int:
    return sum(1 for s in slots.values() if s["fsm_state"] == "POSITION_OPEN" and s["size"] > 0.0)


def test_one_publish_never_mixes_the_slots_of_one_kernel_state_with_the_account_of_another() -> None:
    """Full publishes (a resync's) while a strategy enters and exits slot 0 on its own thread:
    the account published must count the open positions the slots published with it hold."""
    kernel = ExecutionKernel(max_slots=4, kernel_id="one-state")
    stop = threading.Event()
    trades = [0]

    def strategy() -> None:
        while not stop.is_set():
            trades[0] += 1
            kernel.process_intent(_intent("ENTER", trades[0]))
            kernel.process_intent(_intent("EXIT", trades[0]))

    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, between any two calls
    trading = threading.Thread(target=strategy, daemon=True)
    trading.start()
    mixed: list[tuple[int, int]] = []
    publishes = 0
    try:
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline and len(mixed) < 3:
            slots, account, _ = publish_dirty(kernel, full=True)
            publishes += 1
            assert account is not None
            if account["open_positions"] != _open_positions(slots):
                mixed.append((account["open_positions"], _open_positions(slots)))
    finally:
        stop.set()
        trading.join()
        sys.setswitchinterval(switch_interval)
        kernel.close()
    assert trades[0] > 10 and publishes > 10  # both threads ran
    assert mixed == [], f"publishes held an account and slots of different kernel states: {mixed}"


def _traded_kernel() -> ExecutionKernel:
    """A tracked kernel with slot 0 in a position, a mark, and its control changed."""
    kernel = ExecutionKernel(max_slots=3, kernel_id="changes")
    kernel.set_projection_enabled(True)
    kernel.projection_changes()  # what the construction marked
    kernel.process_intent(_intent("ENTER", 1))
    kernel.mark_price("BTCUSDT", 101.0)
    kernel.update_control(mode="HALTED", source="operator")
    return kernel


def test_the_changes_read_are_what_the_separate_reads_return() -> None:
    kernel = _traded_kernel()
    try:
        slot, account, control = kernel.slot_dict(0), kernel.account(), kernel.control()
        assert kernel.projection_changes() == ({0: slot}, account, dict(control))
        assert kernel.projection_changes() == ({}, None, None)  # drained
        assert kernel.projection_changes(with_account=True) == ({}, account, None)
        everything = {sid: kernel.slot_dict(sid) for sid in range(kernel.max_slots)}
        assert kernel.projection_changes(full=True) == (everything, account, dict(control))
    finally:
        kernel.close()


def test_publish_dirty_keys_the_changed_slots_by_kernel_and_slot_id() -> None:
    kernel = _traded_kernel()
    try:
        slot, account = kernel.slot_dict(0), kernel.account()
        slots, published_account, control = publish_dirty(kernel)
        assert slots == {"changes:0": slot}
        assert published_account == account
        assert control is not None and control["mode"] == "HALTED"
    finally:
        kernel.close()


@pytest.mark.parametrize("field", ["full", "with_account"])
@pytest.mark.parametrize("value", ["yes", 2, None, 1.0])
def test_what_is_no_flag_is_refused_naming_the_field_and_the_changes_stay(field: str, value: object) -> None:
    kernel = _traded_kernel()
    try:
        with pytest.raises(TypeError) as raised:
            kernel.projection_changes(**{field: value})
        message = str(raised.value)
        assert field in message and repr(value) in message, message
        slots, account, control = kernel.projection_changes()
        assert list(slots) == [0] and account is not None and control is not None
    finally:
        kernel.close()


def _kernel_long_in_every_slot(slots: int) -> ExecutionKernel:
    """A tracked kernel holding one BTCUSDT position in each of its ``slots`` slots, drained."""
    kernel = ExecutionKernel(max_slots=slots, kernel_id="many")
    kernel.set_projection_enabled(True)
    for sid in range(slots):
        kernel.process_intent(_intent("ENTER", sid, slot_id=sid))
    kernel.projection_changes()
    return kernel


def test_a_read_of_many_changed_slots_gives_each_once_in_slot_order_as_the_slot_reads_do() -> None:
    """Many slots changed: the read gives each changed slot once, in slot order, as
    ``slot_dict`` reads it, and nothing else."""
    kernel = _kernel_long_in_every_slot(3_000)
    try:
        for sid in reversed(range(0, 3_000, 2)):  # half of them, marked last to first
            kernel.process_intent(_intent("EXIT", sid, slot_id=sid))
        slots, account, _ = kernel.projection_changes()
        assert list(slots) == list(range(0, 3_000, 2))
        assert all(slots[sid] == kernel.slot_dict(sid) for sid in slots)
        assert account == kernel.account()
        assert kernel.projection_changes() == ({}, None, None)
    finally:
        kernel.close()


def test_a_full_read_of_many_slots_lets_the_strategy_trade_and_is_still_of_one_kernel_state() -> None:
    """A resync's read of 20,000 slots while a strategy marks their asset on its own thread: the
    read hands the GIL over while it makes the dicts, so the strategy is never held off for most
    of it, and what the read gives is of one kernel state: every slot at the account's mark."""
    kernel = _kernel_long_in_every_slot(20_000)
    stop = threading.Event()
    marked: list[float] = []

    def strategy() -> None:
        while not stop.is_set():
            kernel.mark_price("BTCUSDT", 100.0 + len(marked) % 7)
            marked.append(time.perf_counter())

    trading = threading.Thread(target=strategy, daemon=True)
    trading.start()
    gc.disable()  # a collection holds every thread off, whoever reads; the read's own turns are tested
    try:
        while not marked:
            time.sleep(0.001)
        for _ in range(3):
            marks_before, started = len(marked), time.perf_counter()
            slots, account, _ = kernel.projection_changes(full=True)
            ended = time.perf_counter()
            assert account is not None and len(slots) == 20_000
            shown_marks = {slot["mark_price"] for slot in slots.values()}
            assert len(shown_marks) == 1, f"one read showed the slots at marks {sorted(shown_marks)}"
            unrealized = sum(slot["unrealized_pnl"] for slot in slots.values())
            assert unrealized == pytest.approx(account["unrealized_pnl"])
            times = [started, *(t for t in marked[marks_before:] if started < t < ended), ended]
            longest = max(b - a for a, b in itertools.pairwise(sorted(times)))
            assert longest < (ended - started) / 2, (
                f"the strategy waited {longest:.3f} s of a {ended - started:.3f} s read"
            )
    finally:
        gc.enable()
        stop.set()
        trading.join()
        kernel.close()


def test_a_projection_flushed_while_a_strategy_trades_is_the_kernel_at_every_pause() -> None:
    """3,000 slots flushed over and over while a strategy marks the even slots' asset and enters
    and exits the odd slots on its own thread: each read has many slots to copy, and the trades
    land on slots its first drain did not hold. At each of a dozen pauses, one flush more shows
    every slot as the kernel holds it: no change a read took the mark of went unpublished. Each
    round waits for the strategy's trades, so none passes without them. After /work/review124."""
    slots = 3_000
    kernel = ExecutionKernel(max_slots=slots, kernel_id="many")
    for sid in range(slots):
        kernel.process_intent(_intent("ENTER", sid, slot_id=sid, asset=_ASSETS[sid % 2]))
    projection = InMemoryProjection()
    projection.attach(kernel)
    trading, paused, stop = threading.Event(), threading.Event(), threading.Event()
    made = [0]

    def strategy() -> None:
        rng = random.Random(7)
        while not stop.is_set():
            if not trading.is_set():
                paused.set()
                trading.wait(0.01)
                continue
            paused.clear()
            made[0] += 1
            kernel.mark_price("BTCUSDT", 100.0 + rng.random())
            sid = rng.randrange(1, slots, 2)
            slot = kernel.slot_dict(sid)
            if slot["fsm_state"] == "POSITION_OPEN":
                trade = slot["trade_id"]
                kernel.process_intent(
                    KernelIntent(f"x-{made[0]}", trade, sid, "ETHUSDT", "LONG", "EXIT", 100.0, 1.0)
                )
            else:
                kernel.process_intent(_intent("ENTER", 10_000 + made[0], slot_id=sid, asset="ETHUSDT"))

    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    thread = threading.Thread(target=strategy, daemon=True)
    thread.start()
    stale_at_pause: dict[int, list[int]] = {}
    try:
        for pause in range(12):
            trading.set()
            before = made[0]
            while made[0] < before + 50 and thread.is_alive():
                projection.flush()
            assert thread.is_alive(), "the strategy stopped trading"
            trading.clear()
            assert paused.wait(10), "the strategy did not pause"
            projection.flush()
            stale = [sid for sid in range(slots) if projection.slots[f"many:{sid}"] != kernel.slot_dict(sid)]
            if stale:
                stale_at_pause[pause] = stale[:5]
                for sid in stale:  # the next pause counts only what is lost after this one
                    projection.slots[f"many:{sid}"] = kernel.slot_dict(sid)
    finally:
        stop.set()
        trading.set()
        thread.join()
        sys.setswitchinterval(switch_interval)
        kernel.close()
    assert stale_at_pause == {}, f"slots showing an older state than the kernel's, by pause: {stale_at_pause}"
