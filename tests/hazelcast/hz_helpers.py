"""Shared by the Hazelcast tests and their child processes: a mixed trading workload and
helpers that compare what the cluster holds with a kernel's own snapshot()."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hazelcast.serialization.api import StreamSerializer

from dita import AccountEvent, ExecutionKernel, KernelIntent, MockVenueAdapter
from dita.projection.hazelcast import ACCOUNTS_MAP, CONTROL_MAP, SLOTS_MAP, read_map

ASSETS = {"BTC-USD": 60_000.0, "ETH-USD": 3_000.0, "SOL-USD": 150.0}
WORKING = ("ENTRY_WORKING", "EXIT_WORKING")
PROJECTION_FIELDS = ("projected_at", "closed_at", "input_refused_reason", "cluster_control")


def make_venue(seed: int = 7) -> MockVenueAdapter:
    # Some orders rest and some fill partly, so slots end up in every kind of stage.
    return MockVenueAdapter(seed=seed, fill_rate=0.6, partial_fill_rate=0.2, partial_fill_ratio=0.5)


def mixed_workload(kernel: ExecutionKernel, rounds: int, seed: int = 1) -> Counter[str]:
    """Entries, partial and full exits, cancels, late fills, marks, refused input and account events."""
    rng = random.Random(seed)
    venue = kernel.venue
    # Ids carry the seed: chunks of one kernel's workload run with different seeds.
    kid = f"{kernel.kernel_id}-s{seed}"
    outcomes: Counter[str] = Counter()
    prices = dict(ASSETS)
    for i in range(rounds):
        slot_id = rng.randrange(kernel.max_slots)
        slot = kernel.slot_state(slot_id)
        stage = slot.fsm_state.name
        roll = rng.random()
        if i % 13 == 5:
            # Refused input must change nothing and raise nothing.
            bad = KernelIntent(
                f"{kid}-bad{i}", f"{kid}-tb{i}", slot_id, "BTC-USD", "LONG", "ENTER", -1.0, 1.0
            )
            outcomes["refused:" + kernel.process_intent(bad).diagnostic_code.name] += 1
            continue
        if i % 11 == 3:
            event = AccountEvent(
                f"{kid}-acct{i}",
                "ACCOUNT_UPDATE" if roll < 0.5 else "FUNDING_FEE",
                asset="BTC-USD",
                amount=round(rng.uniform(-2, 2), 4),
                wallet_balance=10_000.0 + i,
                available_margin=9_000.0,
                used_margin=1_000.0,
                maint_margin=50.0,
            )
            outcomes["account:" + kernel.on_account_event(event).diagnostic_code.name] += 1
            continue
        if stage in ("IDLE", "CLOSED"):
            asset = rng.choice(list(prices))
            intent = KernelIntent(
                f"{kid}-e{i}",
                f"{kid}-t{i}",
                slot_id,
                asset,
                rng.choice(["LONG", "SHORT"]),
                "ENTER",
                prices[asset],
                round(rng.uniform(0.01, 0.5) * 1_000 / prices[asset], 6),
                leverage=2.0,
                exit_leg_ratios=(0.5, 0.5),
            )
            outcomes["enter:" + kernel.process_intent(intent).diagnostic_code.name] += 1
        elif stage == "POSITION_OPEN" and roll < 0.4:
            intent = KernelIntent(
                f"{kid}-x{i}", slot.trade_id, slot_id, slot.asset, slot.side, "EXIT", prices[slot.asset], 0.0
            )
            outcomes["exit:" + kernel.process_intent(intent).diagnostic_code.name] += 1
        elif stage in WORKING and roll < 0.5:
            order = slot.active_entry_order or slot.active_exit_order
            assert order is not None
            for event in venue.fill_open_order(order.client_order_id):
                outcomes["fill:" + kernel.on_venue_event(event).diagnostic_code.name] += 1
        elif stage in WORKING:
            intent = KernelIntent(
                f"{kid}-c{i}",
                slot.trade_id,
                slot_id,
                slot.asset,
                slot.side,
                "CANCEL",
                prices[slot.asset],
                0.0,
            )
            outcomes["cancel:" + kernel.process_intent(intent).diagnostic_code.name] += 1
        else:
            asset = rng.choice(list(prices))
            prices[asset] *= 1 + rng.uniform(-0.01, 0.01)
            kernel.mark_price(asset, prices[asset])
            outcomes["mark"] += 1
    return outcomes


def strip(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k not in PROJECTION_FIELDS}


def projected(client: Any, kernel_id: str) -> dict[str, Any]:
    """What the cluster holds for one kernel, in snapshot() shape."""
    # By the kernel_id field, not the key: kernel ids may contain ':' ("k1:2" owns "k1:2:0").
    slots = {k: v for k, v in read_map(client, SLOTS_MAP).items() if v.get("kernel_id") == kernel_id}
    accounts = read_map(client, ACCOUNTS_MAP)
    controls = read_map(client, CONTROL_MAP)
    return {
        "slot_keys": sorted(slots),
        "slots": sorted((strip(v) for v in slots.values()), key=lambda s: s["slot_id"]),
        "account": strip(accounts[kernel_id]) if kernel_id in accounts else None,
        "control": strip(controls[kernel_id]) if kernel_id in controls else None,
    }


def expected(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A kernel snapshot in the shape of projected(); the projection adds kernel_id to slots."""
    kid = snapshot["kernel_id"]
    return {
        "slot_keys": sorted(f"{kid}:{s['slot_id']}" for s in snapshot["slots"]),
        "slots": [dict(s, kernel_id=kid) for s in snapshot["slots"]],
        "account": dict(snapshot["account"], kernel_id=kid),
        "control": dict(snapshot["control"], kernel_id=kid),
    }


def json_roundtrip(value: Any) -> Any:
    """Values as they come back from JSON (tuples become lists)."""
    import json

    return json.loads(json.dumps(value))


KERNEL_PROC = Path(__file__).with_name("kernel_proc.py")


class Child:
    """A kernel_proc.py child whose JSON lines are read by a thread (so reads can time out)."""

    def __init__(self, *args: str) -> None:
        import queue
        import subprocess
        import sys
        import threading

        self.proc = subprocess.Popen(
            [sys.executable, str(KERNEL_PROC), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        import json

        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.lines.put(json.loads(line))
        self.lines.put(None)

    def next(self, timeout: float = 60.0) -> dict[str, Any]:
        """The child's next report; fails the test with the child's stderr if none comes."""
        import queue

        try:
            item = self.lines.get(timeout=timeout)
        except queue.Empty:
            item = None
        if item is None:
            self.proc.kill()
            self.proc.wait()
            err = self.proc.stderr.read() if self.proc.stderr else ""
            self.finish()
            raise AssertionError(f"kernel child sent no report (exit {self.proc.poll()}):\n{err[-3000:]}")
        return item

    def finish(self, timeout: float = 60.0) -> int:
        import subprocess

        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._reader.join(timeout=10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        return code


def eventually(check: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Liveness, not speed: the bench measures how fast; this only waits for it to happen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return check()


def mode(kernel: ExecutionKernel) -> str:
    return str(kernel.control()["mode"])


def btc_entry(kernel_id: str) -> KernelIntent:
    """An ENTER of 0.01 BTC-USD on slot 0, its ids after ``kernel_id``: what a mode blocks."""
    return KernelIntent(f"{kernel_id}-e", f"{kernel_id}-t", 0, "BTC-USD", "LONG", "ENTER", 60_000.0, 0.01)


def run_dita(
    args: list[str], *, connect_s: float, within: float
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run `dita args` in a process of its own (as an operator does) with a ``connect_s`` connect
    wait; how long it took, and what it did. Fails the test when it still runs after ``within``."""
    env = {**os.environ, "DITA_HAZELCAST_CONNECT_S": str(connect_s)}
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-c", "from dita.cli import main; main()", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=within,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`dita {' '.join(args)}` still waited after {within:g}s (connect wait {connect_s:g}s)")
    return time.monotonic() - started, done


FOREIGN_TYPE_ID = 4242
"""The serializer type id of ``Foreign`` values, which no dita client can decode."""


class Foreign:
    """A value of a type only its writer can decode (another application's, on a shared cluster):
    a client made with ``custom_serializers={Foreign: ForeignSerializer}`` writes one."""


class ForeignSerializer(StreamSerializer):
    def write(self, out: Any, obj: Any) -> None:
        out.write_string("not dita's")

    def read(self, inp: Any) -> Any:
        return Foreign()

    def get_type_id(self) -> int:
        return FOREIGN_TYPE_ID

    def destroy(self) -> None:
        pass
