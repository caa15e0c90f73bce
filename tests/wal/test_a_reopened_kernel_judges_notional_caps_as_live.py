"""A kernel reopened from its log judges each input as the live run did, at a notional cap too.

Entries rate limited before their ack with a cancel asked (in doubt) count towards the notional
caps at what may still fill of them. Two kernels holding the same entries in doubt sum them to
the same value, bit for bit: were the sum taken in the order of a map seeded at random per map,
the values of two kernels would differ in their last digit, an entry at the cap would be taken
live and refused on replay (or the reverse), and the venue's fill of the order the live kernel
sent would find no order in the reopened one.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from crashed_log import close_as_a_crash_leaves_it, recovered_seq
from dita import ExecutionKernel, KernelIntent, VenueEvent

# Sizes whose sum depends on the order they are added in: (0.1 + 0.2) + 0.3 != 0.1 + (0.2 + 0.3).
SIZES = (0.1, 0.2, 0.3)
PROBE = 0.001
PROBE_SLOT = 5
# Kernels (each with maps of its own seeds) looked at for the value of the same entries: added
# in an order at random, two in three give one sum and one in three the other, so 40 all agree
# by chance about once in 10^7.
KERNELS = 40
# Live runs and reopens compared: were the sum to follow a map's order, a live run and its
# reopen would differ four times in nine, and 16 all agree about once in 10^4.
TRIALS = 16


class ThrottlesFirstCancel:
    """Takes orders silently; the first cancel of each is answered RATE_LIMITED (in doubt)."""

    def __init__(self) -> None:
        self.canceled: set[str] = set()

    def submit(self, order: Any) -> list[VenueEvent]:
        return []

    def cancel(self, order: Any) -> list[VenueEvent]:
        if order.client_order_id in self.canceled:
            return []
        self.canceled.add(order.client_order_id)
        return [
            VenueEvent(
                f"rl-{order.client_order_id}",
                order.trade_id,
                -1,
                "RATE_LIMITED",
                venue_client_id=order.client_order_id,
                retry_after=1.0,
            )
        ]


def entry(trade: int | str, slot: int, size: float, ts: float) -> KernelIntent:
    """A LONG entry of `size` AAA at a limit of 1."""
    return KernelIntent(
        f"e{trade}", f"t{trade}", slot, "AAA", "LONG", "ENTER", 1.0, size,
        order_type="LIMIT", limit_price=1.0, timestamp=ts,
    )  # fmt: skip


def three_entries_in_doubt(wal_dir: Path | None = None) -> ExecutionKernel:
    logged = {"wal_dir": str(wal_dir)} if wal_dir is not None else {}
    k = ExecutionKernel(max_slots=8, venue=ThrottlesFirstCancel(), kernel_id="caps", **logged)
    k.set_seed_capital(1_000_000.0)
    for i, size in enumerate(SIZES):
        assert k.process_intent(entry(i, i, size, 1.0 + i)).accepted
    for i in range(len(SIZES)):
        cancel = KernelIntent(f"c{i}", f"t{i}", i, "AAA", "LONG", "CANCEL", 1.0, 0.0, timestamp=5.0 + i)
        k.process_intent(cancel)
    assert len(k.orders_in_doubt()) == len(SIZES)
    return k


def probe(k: ExecutionKernel) -> Any:
    """Enters PROBE on slot PROBE_SLOT (trade "tp") beside the entries in doubt."""
    return k.process_intent(entry("p", PROBE_SLOT, PROBE, 10.0))


def values_at_the_cap() -> list[float]:
    """The values the cap check gives the probe, over kernels holding the same entries in doubt."""
    seen = set()
    for _ in range(KERNELS):
        k = three_entries_in_doubt()
        k.set_risk_limits({"max_notional_total": 0.5})
        seen.add(probe(k).details["value"])
    return sorted(seen)


def limit_bounding_at(value: float) -> float:
    """The notional cap whose bound (the limit and the check's tolerance) is `value`: an entry
    valued at it is taken, one valued a digit above refused."""
    limit = value - 1e-9
    for _ in range(1000):
        bound = limit + max(1e-9, limit * 1e-12)
        if bound == value:
            return limit
        limit = math.nextafter(limit, math.inf if bound < value else -math.inf)
    raise AssertionError(f"no limit bounds at {value!r}")


def test_kernels_holding_the_same_entries_in_doubt_value_them_alike() -> None:
    values = values_at_the_cap()
    assert len(values) == 1, [v.hex() for v in values]


def test_a_reopened_kernel_takes_or_refuses_an_entry_at_the_cap_as_the_live_one_did(tmp_path: Path) -> None:
    limit = limit_bounding_at(values_at_the_cap()[0])
    outcomes = []
    for trial in range(TRIALS):
        wal = tmp_path / f"wal{trial}"
        k = three_entries_in_doubt(wal)
        k.set_risk_limits({"max_notional_total": limit})
        live = probe(k).accepted
        seq = k.seq
        close_as_a_crash_leaves_it(k)  # the reopen replays every record
        again = ExecutionKernel(wal_dir=str(wal))
        assert recovered_seq(again) == seq
        replayed = again.slot_state(PROBE_SLOT).fsm_state.name != "IDLE"
        again.close()
        outcomes.append((live, replayed))
    assert all(live == replayed for live, replayed in outcomes), f"(live, replayed): {outcomes}"


def test_a_fill_booked_live_at_the_cap_is_booked_by_every_reopened_kernel(tmp_path: Path) -> None:
    limit = limit_bounding_at(values_at_the_cap()[0])
    for trial in range(TRIALS):
        wal = tmp_path / f"wal{trial}"
        k = three_entries_in_doubt(wal)
        k.set_risk_limits({"max_notional_total": limit})
        if probe(k).accepted:
            break
        k.close()
    else:
        raise AssertionError(f"no live kernel took the probe at the cap in {TRIALS}")
    (order,) = [o for o in k.open_orders() if o.trade_id == "tp"]
    fill = VenueEvent(
        "fill-tp",
        "tp",
        PROBE_SLOT,
        "FILL",
        "FILLED",
        venue_client_id=order.client_order_id,
        side="BUY",
        asset="AAA",
        price=1.0,
        size=PROBE,
        filled_size=PROBE,
    )
    assert k.on_venue_event(fill).accepted
    assert k.slot_state(PROBE_SLOT).size == PROBE
    close_as_a_crash_leaves_it(k)
    held = []
    for _ in range(TRIALS):
        again = ExecutionKernel(wal_dir=str(wal))
        slot = again.slot_state(PROBE_SLOT)
        held.append((slot.fsm_state.name, slot.size))
        close_as_a_crash_leaves_it(again)  # so the next reopen replays every record again
    assert all(size == PROBE for _, size in held), f"the probe's slot after each reopen: {held}"
