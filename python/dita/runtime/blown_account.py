"""A blown account halts its entries, as an exchange stops it: once the equity is at or below
zero, after a fill or marked at the prices of the time when an entry is asked, the kernel goes
HALTED (which refuses entries only) and the entry orders still working are canceled; exits
still fill. ``dita backtest`` and ``dita paper`` install it alike (``halt_when_bust``), so a
replay of the backtest's file fills as the backtest did."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dita._kernel import KernelIntent
from dita.strategy import cancel_intent

if TYPE_CHECKING:
    from dita.runtime.trading_runtime import TradingRuntime

__all__ = ["halt_when_bust"]

# The stages of a slot whose entry order still works.
ENTRY_WORKING = ("ORDER_SENT", "ENTRY_WORKING")


def halt_when_bust(runtime: TradingRuntime, source: str) -> dict[str, Any]:
    """Halt ``runtime``'s kernel once its account is blown (see the module docstring), the mode
    set by ``source: account blown`` and the cancels' intent ids starting ``source``. Returns
    the record of the halt, empty until it happens: ``halted_at`` (its time), ``halted_equity``
    and ``halted_row`` (the data point's, numbered from 1 among those the runtime took;
    ``run_backtest`` gives the file's row, as the data's errors number rows)."""
    kernel = runtime.kernel
    halted: dict[str, Any] = {}

    def halt_if_bust(at: float, row: int) -> None:
        if halted:
            return
        runtime.sync_marks()
        equity = kernel.equity()
        if equity <= 0:
            kernel.update_control(mode="HALTED", source=f"{source}: account blown")
            halted.update({"halted_at": at, "halted_equity": equity, "halted_row": row + 1})
            cancel_working_entries(at)

    def cancel_working_entries(at: float) -> None:
        # HALTED refuses new entries only: an entry order still working (one larger than the
        # bars' volume, a resting limit) would go on filling, growing the position of an
        # account already blown. What they filled stays open, and exits still work.
        for slot_id in range(kernel.max_slots):
            slot = kernel.slot_state(slot_id)
            if slot.fsm_state.name not in ENTRY_WORKING:
                continue
            intent = cancel_intent(
                f"{source}-halt-cancel-{slot_id}-{slot.trade_id}",
                slot.trade_id,
                slot,
                reason="account blown: halted",
                timestamp=at,
            )
            # Its answer routed as a strategy's own cancel's: the slot is freed (or left holding
            # what filled) and the venue's order stops working.
            runtime.operator_intent(intent)

    def halt_before_entry(intent: KernelIntent) -> None:
        # Prices alone can take the equity to zero between fills: an entry asked then would be
        # taken and filled, an account already blown trading on.
        if intent.action.name == "ENTER":
            halt_if_bust(runtime.now(), runtime.row)

    runtime.fill_listeners.append(lambda event, row: halt_if_bust(event.timestamp_s, row))
    runtime.intent_checks.append(halt_before_entry)
    return halted
