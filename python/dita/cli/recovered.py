"""What a command's kernel recovered from its write-ahead log, and whether that is a run to continue."""

from __future__ import annotations

from typing import Any

__all__ = ["holds_a_run", "recovered_seq"]

# The counters of the inputs a run makes, each moved by an input a log replays.
_RUN_COUNTERS = (
    "intents",
    "venue_events",
    "account_events",
    "fills",
    "orders_submitted",
    "cancels_requested",
)


def recovered_seq(kernel: Any) -> int:
    """The seq of the last record ``kernel``'s open recovered from its write-ahead log: 0 when the
    log held no input (nor a kernel without a log has, at its start). Not ``kernel.seq``: an open
    after a stop that was not clean records an input of its own (the client order ids it skips),
    which holds no run."""
    info = kernel.wal_info()
    if info is None:
        return int(kernel.seq)
    seq: int = info["recovery"]["last_seq"]
    return seq


def holds_a_run(kernel: Any) -> bool:
    """Whether ``kernel``'s open recovered a run to continue: an input that set the kernel up (its
    seed capital, fees, risk limits, a label) or traded. Asked before the run writes anything.

    Not ``recovered_seq(kernel) > 0``: every open after a stop that was not clean records the
    client order ids it skips, so starts killed (or refused by the exchange) before their first
    record leave a log of those skips only, which holds no run. Told by the kernel's state, a
    fresh kernel's but for its order counter when the log held nothing else. Market limits,
    kept per asset, are not compared: dita's runs set them only after their seed capital or label."""
    if recovered_seq(kernel) == 0:
        return False
    if kernel.account().get("seed_capital") or kernel.control().get("updated_seq"):
        return True  # a run's first records, told without copying every slot
    from dita._kernel import KernelCore

    fresh = KernelCore(kernel_id=kernel.kernel_id, max_slots=kernel.max_slots)
    return _run_state(kernel) != _run_state(fresh)


def _run_state(kernel: Any) -> tuple[Any, ...]:
    stats = kernel.stats()
    return (kernel.snapshot(), kernel.risk_limits(), tuple(stats[name] for name in _RUN_COUNTERS))
