"""A long, deterministic, mixed workload for write-ahead log tests (imported by module name:
pytest puts this directory on sys.path; the crash child imports it the same way).

Every step is exactly one kernel input (an intent, a venue event, an account event or a
mark), chosen from a seeded generator and the kernel's own state. The venue answers nothing
by itself; the workload reports its events (acks, partial and full fills, cancel acks) as
separate steps. So two kernels fed the same seed pass through the same states, and a
reference kernel can be stopped at exactly the sequence number a crashed kernel recovered to.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dita import AccountEvent, ExecutionKernel, KernelIntent, VenueEvent, VenueOrder

KERNEL_ID = "wal-crash"
SEED_CAPITAL = 10_000.0
T0 = 1_700_000_000.0


class HeldVenue:
    """Takes every order and answers nothing synchronously: its events come as separate inputs."""

    name = "held"

    def submit(self, order: VenueOrder) -> list[VenueEvent]:
        return []

    def cancel(self, order: VenueOrder) -> list[VenueEvent]:
        return []


def make_kernel(wal_dir: Path | None = None, **kw: Any) -> ExecutionKernel:
    if wal_dir is not None:
        kw["wal_dir"] = str(wal_dir)
    return ExecutionKernel(
        max_slots=6, venue=HeldVenue(), kernel_id=KERNEL_ID, seed_capital=SEED_CAPITAL, **kw
    )


def _venue_event(i: int, kind: str, o: VenueOrder, **kw: Any) -> VenueEvent:
    return VenueEvent(
        f"ev{i}",
        o.trade_id,
        o.slot_id,
        kind,
        venue_order_id=f"v-{o.client_order_id}",
        venue_client_id=o.client_order_id,
        side=o.order_side,
        asset=o.asset,
        timestamp=T0 + i,
        **kw,
    )


def step(kernel: ExecutionKernel, rng: random.Random, i: int) -> None:
    """Applies one input chosen from `rng` and the kernel's state."""
    ts = T0 + i
    r = rng.random()
    orders = kernel.open_orders()
    if orders and r < 0.45:
        o = orders[rng.randrange(len(orders))]
        remaining = o.size - o.filled_size
        if o.status.name == "NEW":
            kernel.on_venue_event(_venue_event(i, "ORDER_ACK", o, status="ACKNOWLEDGED", size=o.size))
        elif o.cancel_requested and rng.random() < 0.7:
            kernel.on_venue_event(
                _venue_event(i, "CANCEL_ACK", o, status="CANCELED", filled_size=o.filled_size, size=o.size)
            )
        else:
            qty = remaining if rng.random() < 0.6 else round(remaining / 2, 6)
            filled = o.filled_size + qty
            done = o.size - filled <= 1e-9
            kernel.on_venue_event(
                _venue_event(
                    i,
                    "FILL",
                    o,
                    status="FILLED" if done else "PARTIALLY_FILLED",
                    price=round(100.0 + rng.uniform(-2, 2), 2),
                    size=qty,
                    filled_size=o.size if done else filled,
                    remaining_size=0.0 if done else o.size - filled,
                    fill_id=f"fill{i}",
                )
            )
        return
    slots = kernel.slots()
    if r < 0.65:
        free = kernel.free_slot_id()
        if free is not None:
            limit = rng.random() < 0.3
            price = round(100.0 + rng.uniform(-5, 5), 2)
            kernel.process_intent(
                KernelIntent(
                    f"in{i}",
                    f"tr{i}",
                    free,
                    "BTC",
                    "LONG" if rng.random() < 0.6 else "SHORT",
                    "ENTER",
                    price,
                    round(rng.uniform(0.1, 2.0), 3),
                    order_type="LIMIT" if limit else "MARKET",
                    limit_price=price if limit else 0.0,
                    timestamp=ts,
                )
            )
            return
    if r < 0.75:
        held = [s for s in slots if s["fsm_state"] == "POSITION_OPEN" and s["size"] > 0]
        if held:
            s = held[rng.randrange(len(held))]
            kernel.process_intent(
                KernelIntent(f"ex{i}", "", s["slot_id"], "BTC", s["side"], "EXIT", 100.0, 0.0, timestamp=ts)
            )
            return
    if r < 0.82:
        working = [s for s in slots if s["fsm_state"] in ("ORDER_SENT", "ENTRY_WORKING", "EXIT_WORKING")]
        if working:
            s = working[rng.randrange(len(working))]
            kernel.process_intent(
                KernelIntent(f"cx{i}", "", s["slot_id"], "BTC", "LONG", "CANCEL", 100.0, 0.0, timestamp=ts)
            )
            return
    if r < 0.92:
        kernel.on_account_event(
            AccountEvent(f"fund{i}", "FUNDING_FEE", amount=round(rng.uniform(-1, 1), 4), timestamp=ts)
        )
        return
    kernel.mark_price("BTC", round(100.0 + rng.uniform(-3, 3), 2), timestamp=ts)


def run(kernel: ExecutionKernel, seed: int, steps: int) -> Iterator[int]:
    """Feeds `steps` inputs; yields the step index after each returns."""
    rng = random.Random(seed)
    for i in range(steps):
        step(kernel, rng, i)
        yield i


def reference_at(seed: int, seq: int, max_steps: int) -> dict[str, Any]:
    """The snapshot of a kernel without a log fed the same workload up to sequence `seq`."""
    kernel = make_kernel()
    if kernel.seq == seq:
        return kernel.snapshot()
    for _ in run(kernel, seed, max_steps):
        if kernel.seq == seq:
            return kernel.snapshot()
        assert kernel.seq < seq, f"reference passed seq {seq} without stopping on it (now {kernel.seq})"
    raise AssertionError(f"the workload never reached seq {seq} (ended at {kernel.seq})")


def fill_the_disk_at(limit_bytes: int) -> None:
    """For a child process: a write past ``limit_bytes`` fails (EFBIG, SIGXFSZ ignored) as one
    on a full disk would."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, resource.RLIM_INFINITY))


def trade_until_the_log_fails(kernel: ExecutionKernel, *, sync_at: int | None = None) -> tuple[str, int]:
    """ENTER and EXIT on slot 0 until the kernel's log refuses input (its disk full, see
    :func:`fill_the_disk_at`): the log's error, and the durable seq of a ``wal_sync()`` at
    step ``sync_at`` (0 without one). The write an order makes before it goes to the venue
    meets the full disk itself (OSError); the log's thread meets it otherwise (WalError
    at the next input)."""
    from dita._kernel import WalError

    synced = 0
    try:
        for i in range(100_000):
            enter = i % 2 == 0
            intent = KernelIntent(
                f"i{i}", f"t{i // 2}", 0, "BTCUSDT", "LONG", "ENTER" if enter else "EXIT",
                100.0, 1.0 if enter else 0.0, timestamp=float(i),
            )  # fmt: skip
            kernel.process_intent(intent)
            if i == sync_at:
                synced = kernel.wal_sync() or 0
    except (WalError, OSError) as exc:
        return str(exc), synced
    raise AssertionError("the log never failed: the disk limit is too high for 100,000 inputs")


def run_child(script: str, wal_dir: Path, *args: str) -> Any:
    """Run ``script`` (Python source) in a child process with ``sys.argv[1:]`` = the log's
    directory, this directory (for ``import wal_workload``) and ``args``; what it printed, as
    JSON."""
    import json
    import subprocess
    import sys

    here = str(Path(__file__).parent)
    child = subprocess.run(
        [sys.executable, "-c", script, str(wal_dir), here, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    return json.loads(child.stdout)
