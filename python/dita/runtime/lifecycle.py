"""A strategy's life on the runtime (``Lifecycle``): added (its trades on a recovered kernel
adopted), started once, paused and resumed, stopped; and the cancels of the working entry
orders of a strategy that left the run (stopped by name, or put in ERROR)."""

from __future__ import annotations

from typing import Any

from dita._kernel import TERMINAL_ORDER_STATUSES as TERMINAL_STATUSES
from dita._kernel import KernelEventKind, TradeSlot
from dita._text import shortened
from dita.runtime._shared import CallDepth, log
from dita.runtime.callbacks import StrategyCallbacks
from dita.runtime.clock import MarketClock
from dita.runtime.orders import OrderSubmission
from dita.runtime.owners import TradeOwners
from dita.runtime.strategies import (
    LIVE_STATUSES,
    RESTART_MARK,
    StrategyContext,
    StrategyHandle,
    StrategyStatus,
    check_strategy_instance,
    check_strategy_unused,
)
from dita.strategy import Strategy, cancel_intent, subscriptions


class Lifecycle:
    """Adds, starts, pauses, resumes and stops the strategies of ``callbacks``; once the runtime
    is out of every call (``calls.after_calls``), cancels the working entries of the strategies
    that left meanwhile (``callbacks.leaving``) through ``orders``."""

    def __init__(
        self,
        kernel: Any,
        ctx: StrategyContext,
        callbacks: StrategyCallbacks,
        owners: TradeOwners,
        orders: OrderSubmission,
        clock: MarketClock,
        calls: CallDepth,
        stats: dict[str, int],
    ) -> None:
        self._kernel = kernel
        self._ctx = ctx
        self._callbacks = callbacks
        self._owners = owners
        self._orders = orders
        self._clock = clock
        self._calls = calls
        self._stats = stats
        self.started = False
        # The strategies whose on_stop is running (``stop``), by name: stopped once.
        self._stopping: set[str] = set()
        self._canceling = False
        calls.after_calls = self.cancel_left_entries

    # -- adding and starting -------------------------------------------------------------

    def add_strategy(
        self, strategy: Strategy[Any], max_slots: int | None, source_run: str | None = None
    ) -> StrategyHandle:
        check_strategy_instance(strategy, "add_strategy")
        self._check_budget(max_slots)
        if source_run is not None and not (isinstance(source_run, str) and source_run.strip()):
            raise ValueError(f"source_run={source_run!r} must be a non-empty string (or None)")
        handles = self._callbacks.handles
        if strategy.name in handles:
            raise ValueError(f"a strategy named {strategy.name!r} is already running; give it another name")
        if RESTART_MARK.search(strategy.name):
            # Its ids would read as another strategy's after a restart (``bot-r5-t1`` is ``bot``'s
            # trade on a kernel restarted at seq 5): adoption would hand its trades to ``bot``.
            raise ValueError(
                f"strategy name {strategy.name!r} ends like a restart mark (-r<digits>), which makes "
                "its trade ids another strategy's after a restart; give it another name"
            )
        check_strategy_unused(strategy)
        # The instance's own (``a.assets = ("AAA",)`` before it is added) are checked as the
        # class's are when it is loaded: a bare "AAA" would match asset "A" too.
        assets, data = subscriptions(
            f"{type(strategy).__qualname__}({strategy.name!r})", strategy.assets, strategy.data
        )
        strategy._ctx = self._ctx
        handle = StrategyHandle(
            strategy, assets=assets, data=data, max_slots=max_slots, source_run=source_run
        )
        handles[strategy.name] = handle
        self._owners.adopt(handle)
        self._callbacks.reindex()
        if self.started:
            # Added to a running runtime: started now, before the next data point reaches it.
            self._start(handle)
        return handle

    def _check_budget(self, max_slots: object) -> None:
        """Refuse a slot budget that is not a whole number from 1 to the kernel's slots (a bool
        too: True would read as 1), naming it and its value."""
        if max_slots is None:
            return
        kernel_slots = self._kernel.max_slots
        if not (isinstance(max_slots, int) and not isinstance(max_slots, bool) and max_slots >= 1):
            raise ValueError(
                f"max_slots={shortened(repr(max_slots), 80)} must be a whole number of slots from 1 to "
                f"the kernel's {kernel_slots}, or None for no budget"
            )
        if max_slots > kernel_slots:
            raise ValueError(
                f"max_slots={max_slots!r} is more slots than the kernel has {kernel_slots}: give at "
                f"most {kernel_slots}, or None for no budget"
            )

    def start(self) -> None:
        self.started = True
        for handle in list(self._callbacks.handles.values()):
            self._start(handle)

    def _start(self, handle: StrategyHandle) -> None:
        if handle.status is StrategyStatus.RUNNING and not handle.started:
            handle.started = True
            self._callbacks.call(handle, "on_start")

    def pause(self, name: str) -> None:
        self._callbacks.set_status(name, StrategyStatus.PAUSED, allowed=(StrategyStatus.RUNNING,))

    def resume(self, name: str) -> None:
        self._callbacks.set_status(name, StrategyStatus.RUNNING, allowed=(StrategyStatus.PAUSED,))
        if self.started:
            self._start(self._callbacks.handles[name])

    # -- stopping ------------------------------------------------------------------------

    def stop(self, name: str | None, cancel_entries: bool | None) -> None:
        callbacks = self._callbacks
        if cancel_entries is None:
            cancel_entries = name is not None
        names = [name] if name is not None else list(callbacks.handles)
        for n in names:
            handle = callbacks.handle(n)
            if handle.status not in LIVE_STATUSES or n in self._stopping:
                # Its on_stop runs already (stop() called from it, or from a partner's it
                # stopped): called again, each call would run it again until a RecursionError.
                continue
            self._stopping.add(n)
            try:
                stopped = callbacks.call(handle, "on_stop")
            finally:
                self._stopping.discard(n)
            # Put in ERROR meanwhile (its on_fill raising on a fill of what on_stop sent), it
            # stays there: marked STOPPED, it would read STOPPED with an error.
            if stopped and handle.status in LIVE_STATUSES:
                handle.status = StrategyStatus.STOPPED
                if cancel_entries:
                    callbacks.leaving.append(handle)
        callbacks.reindex()
        if callbacks.leaving:
            self._calls.run_if_outside()

    # -- the entries of a strategy that left ---------------------------------------------

    def cancel_left_entries(self) -> None:
        """Cancel the working entry orders of each strategy put in ERROR or stopped (in
        ``leaving``): it acts on nothing any more, so an entry that filled later would open a
        position it never exits. Its exits keep working (they reduce risk) and its positions are
        left to the operator. Runs when the runtime is in no call of the kernel or the venues,
        else once it is out of them all: inside one (a strategy's ``on_fill`` while a venue's
        answer is routed, or the kernel's own venue call), a cancel would meet the venue in the
        middle of its answer, an order it has just filled refused as unknown, its fill not yet
        booked. Raises nothing: a cancel that raises or is refused is logged at ERROR and counted
        in ``stats["error_cancels_failed"]`` (``stop_cancels_failed`` for a stopped strategy),
        and the loop goes on; a listener raising while a cancel's answer is routed is logged at
        ERROR on its own, the cancel judged by the kernel's answer."""
        if self._canceling:
            return  # a cancel's own answer routed: the running call takes the rest
        self._canceling = True
        leaving = self._callbacks.leaving
        try:
            while leaving:
                handle = leaving.popleft()
                for slot, order in self._working_entries(handle):
                    self._cancel_entry(handle, slot, order)
        finally:
            self._canceling = False

    def _working_entries(self, handle: StrategyHandle) -> list[tuple[TradeSlot, Any]]:
        """The entry orders of ``handle``'s trades the venue may still work, each with its slot:
        each working on its slots, and each in doubt (rate limited before its ack, with a cancel
        asked: the venue may work it, and a CANCEL on its slot sends its cancel again)."""
        kernel = self._kernel
        owner_of = self._owners.owner_of
        entries: list[tuple[TradeSlot, Any]] = []
        for slot_id in sorted(handle.slot_ids()):
            slot = kernel.slot_state(slot_id)
            order = slot.active_entry_order
            if (
                order is not None
                and order.status.name not in TERMINAL_STATUSES
                and owner_of(slot.trade_id) is handle
            ):
                entries.append((slot, order))
        for order in getattr(kernel, "orders_in_doubt", list)():
            if order.is_entry and owner_of(order.trade_id) is handle:
                entries.append((kernel.slot_state(order.slot_id), order))
        return entries

    def _cancel_entry(self, handle: StrategyHandle, slot: TradeSlot, order: Any) -> None:
        """Cancel entry ``order`` of failed or stopped strategy ``handle`` through the kernel,
        its answer routed as a strategy's own cancel's (a fill that raced it booked and kept in
        the strategy's ``fills``); what fails is logged at ERROR and counted, never raised."""
        self._stats[f"{_cancel_stats_prefix(handle)}_cancels"] += 1
        intent = cancel_intent(
            self._ctx.next_intent_id(handle.strategy),
            order.trade_id,
            slot,
            reason=f"strategy {handle.name} {_how_it_left(handle)}",
            timestamp=self._clock.now(),
        )
        coid = order.client_order_id
        routing: list[Exception] = []
        try:
            outcome = self._orders.operator_intent(intent, routing)
        except Exception as exc:
            self._entry_cancel_failed(handle, coid, f"raised {type(exc).__name__}: {exc}")
            return
        for raised in routing:
            # A listener's (or a poll's) error while the answer was routed: the cancel is judged
            # by the kernel's answer below. Taken for the cancel's, a cancel the venue had
            # acknowledged would be said to have raised, its order "may still fill".
            log.error(
                "strategy %r %s: routing the answer to the cancel of its working entry order %s "
                "raised %s (a listener's error, or a poll's): %s",
                handle.name,
                _how_it_left(handle),
                coid,
                type(raised).__name__,
                shortened(str(raised), 300),
                exc_info=raised,
            )
        details = dict(outcome.details)
        if not outcome.accepted:
            problem = f"was refused ({outcome.diagnostic_code.name}: {details.get('reason', details)})"
        elif "venue_error" in details or "venue_answer_error" in details:
            problem = f"met a venue error ({details.get('venue_error') or details.get('venue_answer_error')})"
        else:
            refusal = next(
                (
                    e
                    for e in outcome.emitted_events
                    if e.kind == KernelEventKind.CANCEL_REJECT and e.venue_client_id in ("", coid)
                ),
                None,
            )
            if refusal is None:
                log.warning(
                    "strategy %r %s: cancel sent for its working entry order %s",
                    handle.name,
                    _how_it_left(handle),
                    coid,
                )
                return
            problem = f"was refused by the venue ({refusal.reason or 'no reason given'})"
        self._entry_cancel_failed(handle, coid, problem)

    def _entry_cancel_failed(self, handle: StrategyHandle, client_order_id: str, problem: str) -> None:
        self._stats[f"{_cancel_stats_prefix(handle)}_cancels_failed"] += 1
        log.error(
            "strategy %r %s: the cancel of its working entry order %s %s; it may still fill "
            "(a position the strategy will not exit)",
            handle.name,
            _how_it_left(handle),
            client_order_id,
            shortened(problem, 300),
        )


def _how_it_left(handle: StrategyHandle) -> str:
    """How a strategy whose entries the runtime cancels left the run, as its logs say it."""
    return "in ERROR" if handle.status is StrategyStatus.ERROR else "stopped"


def _cancel_stats_prefix(handle: StrategyHandle) -> str:
    """The ``stats`` prefix of those cancels: ``error`` or ``stop``."""
    return "error" if handle.status is StrategyStatus.ERROR else "stop"
