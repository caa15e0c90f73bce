"""A kernel in its own process, for the multi-process Hazelcast tests.

``project``: run the mixed workload with a HazelcastProjection, publish, print the snapshot.
``control``: hold a position, report every control change the cluster makes (one JSON line
each) with what the kernel then does with a new entry, an exit and a cancel; stop when the
mode leaves HALTED again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from hz_helpers import make_venue, mixed_workload

from dita import ExecutionKernel, KernelIntent, MockVenueAdapter
from dita.control.hazelcast import HazelcastControlPlane
from dita.projection.hazelcast import HazelcastProjection


def say(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def project(args: argparse.Namespace) -> int:
    projection = HazelcastProjection([args.address], args.cluster, interval=0.01)
    kernel = ExecutionKernel(
        max_slots=args.slots, venue=make_venue(args.seed), projection=projection, kernel_id=args.kernel_id
    )
    mixed_workload(kernel, rounds=args.rounds, seed=args.seed)
    synced = projection.sync(timeout=60)
    say(synced=synced, snapshot=kernel.snapshot())
    kernel.close()
    return 0 if synced else 1


def control(args: argparse.Namespace) -> int:
    kid = args.kernel_id
    plane = HazelcastControlPlane([args.address], args.cluster, attach_timeout=30)
    projection = HazelcastProjection([args.address], args.cluster, interval=0.01)
    # Orders rest until filled by hand: slot 0 gets a position, slot 1 a working limit entry.
    venue = MockVenueAdapter(fill_rate=0.0)
    kernel = ExecutionKernel(
        max_slots=4, venue=venue, projection=projection, control_plane=plane, kernel_id=kid
    )
    open_pos = KernelIntent(f"{kid}-e0", f"{kid}-t0", 0, "BTC-USD", "LONG", "ENTER", 60_000.0, 0.02)
    resting = KernelIntent(
        f"{kid}-e1",
        f"{kid}-t1",
        1,
        "ETH-USD",
        "LONG",
        "ENTER",
        3_000.0,
        0.5,
        order_type="LIMIT",
        limit_price=2_000.0,
    )
    assert kernel.process_intent(open_pos).accepted
    order = kernel.slot_state(0).active_entry_order
    assert order is not None
    for event in venue.fill_open_order(order.client_order_id):
        kernel.on_venue_event(event)
    assert kernel.slot_state(0).fsm_state.name == "POSITION_OPEN"
    assert kernel.process_intent(resting).accepted
    projection.sync(timeout=30)
    say(ready=True, mode=kernel.control()["mode"], status=plane.status()["connected"])
    mode = kernel.control()["mode"]
    deadline = time.monotonic() + 60
    halted_seen = False
    while time.monotonic() < deadline:
        current = kernel.control()["mode"]
        if current == mode:
            time.sleep(0.001)
            continue
        seen_at = time.time()
        mode = current
        report: dict[str, Any] = {"mode": mode, "seen_at": seen_at, "source": kernel.control()["source"]}
        if mode == "HALTED":
            halted_seen = True
            enter = KernelIntent(f"{kid}-e2", f"{kid}-t2", 2, "SOL-USD", "LONG", "ENTER", 150.0, 1.0)
            report["enter"] = kernel.process_intent(enter).diagnostic_code.name
            slot1 = kernel.slot_state(1)
            cancel = KernelIntent(f"{kid}-c1", slot1.trade_id, 1, "ETH-USD", "LONG", "CANCEL", 3_000.0, 0.0)
            report["cancel"] = kernel.process_intent(cancel).diagnostic_code.name
            exit_ = KernelIntent(f"{kid}-x0", f"{kid}-t0", 0, "BTC-USD", "LONG", "EXIT", 60_000.0, 0.0)
            report["exit"] = kernel.process_intent(exit_).diagnostic_code.name
            report["slot0"] = kernel.slot_state(0).fsm_state.name
            report["slot1"] = kernel.slot_state(1).fsm_state.name
        say(**report)
        if mode != "HALTED" and halted_seen:
            kernel.close()
            return 0
    say(timeout=True)
    kernel.close()
    return 1


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("action", choices=["project", "control"])
    parser.add_argument("--address", required=True)
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--kernel-id", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1_000)
    parser.add_argument("--slots", type=int, default=12)
    args = parser.parse_args()
    return project(args) if args.action == "project" else control(args)


if __name__ == "__main__":
    sys.exit(main())
