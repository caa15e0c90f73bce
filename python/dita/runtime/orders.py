"""Sending intents through the kernel (``OrderSubmission``): a strategy's (``submit``), the
risk guard's edge report, and the run's own (``operator_intent``); each checked against what
the runtime knows first (whose trade it names, the strategy's slot budget, a kernel taking no
more input), the kernel's answer then routed."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, cast

from dita._kernel import TERMINAL_ORDER_STATUSES as TERMINAL_STATUSES
from dita._kernel import (
    KernelDiagnosticCode,
    KernelIntent,
    KernelOutcome,
    KernelSeverity,
    TradeStage,
    VenueEvent,
)
from dita._numbers import integer_named
from dita._text import shortened
from dita.kernel import booked_events
from dita.logs import order_ids
from dita.runtime._shared import CallDepth, log, raise_first, tell
from dita.runtime.clock import MarketClock
from dita.runtime.owners import TradeOwners
from dita.runtime.polling import VenuePolling
from dita.runtime.routing import IntentListener
from dita.runtime.strategies import (
    STRATEGY_KEY,
    TRADE_ID,
    KernelClosed,
    StrategyHandle,
    StrategyIds,
    StrategyStatus,
    made_for,
)
from dita.runtime.venue_data import VenueDataHandOver
from dita.strategy import Strategy

# The statuses of a strategy that may no longer trade.
_ENDED = (StrategyStatus.STOPPED, StrategyStatus.ERROR)
# How far after the data's time an intent dated by it may be: a datetime holds whole
# microseconds, so the data's time as one (datetime.fromtimestamp(ctx.now())) may round up.
_ONE_MICROSECOND = 1e-6


class RuntimeRefusal:
    """The runtime's refusal of a strategy's intent, made before the kernel saw it: an ENTER
    past the strategy's slot budget (``add_strategy(max_slots=)``), or an exit or cancel of a
    slot id past the 64 bits the kernel reads one in (``slot_id``: that id, the intent's being
    -1). It reads as the kernel's refused ``KernelOutcome`` does (the same attributes:
    ``accepted`` False, a diagnostic code, ``details`` naming the field and its value) so a
    strategy handles both alike, but it is not one (the kernel's outcomes are made by the
    kernel only): nothing was recorded, ``seq`` is 0."""

    accepted = False
    applied = False
    severity = KernelSeverity.ERROR
    order = None
    seq = 0

    def __init__(
        self,
        intent: KernelIntent,
        state: TradeStage,
        code: KernelDiagnosticCode,
        details: Mapping[str, Any],
        slot_id: int | None = None,
    ) -> None:
        self.slot_id: int = intent.slot_id if slot_id is None else slot_id
        self.trade_id: str = intent.trade_id
        self.state = state
        self.diagnostic_code = code
        self._details = dict(details)

    @property
    def details(self) -> Mapping[str, Any]:
        return MappingProxyType(self._details)  # read-only, as the kernel's outcome's

    @property
    def transitions(self) -> list[Any]:
        return []

    @property
    def emitted_events(self) -> list[VenueEvent]:
        return []

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": False,
            "slot_id": self.slot_id,
            "trade_id": self.trade_id,
            "state": self.state.name,
            "diagnostic_code": self.diagnostic_code.name,
            "severity": self.severity.name,
            "transitions": [],
            "emitted_events": [],
            "details": dict(self._details),
            "seq": 0,
        }

    def __repr__(self) -> str:
        return (
            f"RuntimeRefusal(accepted=False, slot_id={self.slot_id}, state={self.state.name}, "
            f"diagnostic_code={self.diagnostic_code.name}, details={self._details!r})"
        )


class OrderSubmission:
    """Sends intents through the kernel and routes its answers (``VenuePolling.route_answer``).
    ``intent_checks`` are called with each strategy's intent before the kernel takes it, the
    marks synced; one raising stops the intent. With ``record_data_place`` each intent sent
    carries where in the data it was decided (``MarketClock.data_place``) in its metadata."""

    record_data_place = False

    def __init__(
        self,
        kernel: Any,
        handles: dict[str, StrategyHandle],
        owners: TradeOwners,
        clock: MarketClock,
        venue_data: VenueDataHandOver,
        polling: VenuePolling,
        calls: CallDepth,
        stats: dict[str, int],
        intent_listeners: list[IntentListener],
        intent_checks: list[Callable[[KernelIntent], None]],
        ids: StrategyIds,
    ) -> None:
        self._kernel = kernel
        self._handles = handles
        self._owners = owners
        self._clock = clock
        self._venue_data = venue_data
        self._polling = polling
        self._calls = calls
        self._stats = stats
        self._intent_listeners = intent_listeners
        self._intent_checks = intent_checks
        self._ids = ids

    # -- a strategy's intent -------------------------------------------------------------

    def _trading(self, strategy: Strategy[Any]) -> StrategyHandle:
        """``strategy``'s handle; RuntimeError when it is not this runtime's or may not trade."""
        handle = self._handles.get(strategy.name)
        if handle is None or handle.strategy is not strategy:
            raise RuntimeError(f"strategy {strategy.name!r} is not attached to this runtime")
        if handle.status in _ENDED:
            raise RuntimeError(f"strategy {strategy.name!r} is {handle.status.value} and cannot trade")
        return handle

    def submit(self, strategy: Strategy[Any], intent: KernelIntent) -> KernelOutcome:
        handle = self._trading(strategy)
        if not isinstance(intent, KernelIntent):
            # Not a bare AttributeError from reading its trade id.
            raise TypeError(
                f"submit takes a dita.KernelIntent, got {type(intent).__name__}: "
                f"{shortened(repr(intent), 120)}"
            )
        self._refuse_another_strategys_trade(handle, intent)
        self._refuse_a_held_trade_id(handle, intent)
        self._refuse_a_helpers_intent_id(handle, intent)
        self._refuse_a_time_past_the_data(intent)

        def what() -> str:
            return f"its {intent.action.name} {intent.intent_id!r}"

        self._refuse_on_closed_kernel(what)
        self._sync_before(lambda: f"strategy {handle.name!r}'s submit")
        if handle.status in _ENDED:
            # Stopped or failed by what that routed (its own on_fill raising, its entries
            # canceled): sent, the order would be an entry nobody cancels or exits.
            raise RuntimeError(f"strategy {strategy.name!r} is {handle.status.value} and cannot trade")
        self._refuse_on_closed_kernel(what)  # closed meanwhile (another thread)
        if handle.max_slots is not None and intent.action.name == "ENTER":
            # Counted after the hand-over above: a held-back bar may have closed one of its trades.
            held = handle.slots_held()
            if held >= handle.max_slots:
                return self._refuse_past_budget(handle, intent, held)
        self._clock.sync_marks()
        recorded = self._recorded(intent)
        if handle.source_run is not None and "source_run" not in intent.metadata:
            recorded["source_run"] = handle.source_run
        if intent.action.name == "ENTER":
            recorded[STRATEGY_KEY] = handle.name  # whose trade this is, read back after a restart
        if recorded:
            intent = _with_metadata(intent, recorded)
        for check in self._intent_checks:
            check(intent)
        handle.intents += 1
        self._stats["intents"] += 1
        with self._calls:
            return self._send(handle, intent)

    def _refuse_another_strategys_trade(self, handle: StrategyHandle, intent: KernelIntent) -> None:
        """Raises ValueError naming ``trade_id`` when ``intent`` names another strategy's trade:
        by its id, or as an EXIT or CANCEL without one on its slot (the kernel takes that for
        the slot's trade). The kernel takes any trade id its slot holds, so a hand-built intent
        would exit or cancel another strategy's trade, whose fills would reach a strategy that
        never asked; the helpers (`exit`, `cancel`) refuse it too."""
        trade_id = intent.trade_id
        kernel = self._kernel
        if not trade_id and intent.action.name != "ENTER" and 0 <= intent.slot_id < kernel.max_slots:
            trade_id = kernel.slot_state(intent.slot_id).trade_id
        owner = self._owners.owner_of(trade_id)
        if owner is not None and owner is not handle:
            raise ValueError(
                f"trade_id={trade_id!r} (slot {intent.slot_id}) belongs to strategy "
                f"{owner.strategy.name!r}: strategy {handle.strategy.name!r} may not "
                f"{intent.action.name.lower()} it"
            )

    def _refuse_a_held_trade_id(self, handle: StrategyHandle, intent: KernelIntent) -> None:
        """Raises ValueError naming ``trade_id`` when a hand-built ENTER reuses the id of a trade
        the strategy still holds, or takes one of the ids another strategy's trades are given
        (``<name>-t<n>``). The kernel would take the first into a second slot, and the runtime,
        which knows a trade by its id, lose track of one of the two: the fill that closes the
        second would never reach the strategy, and ``busy`` stay true for good. The second would
        make the other strategy's own ``buy`` raise once it came to that id, putting it in
        ERROR."""
        if intent.action.name != "ENTER":
            return
        trade_id = intent.trade_id
        if self._owners.owners.get(trade_id) is handle:
            raise ValueError(
                f"trade_id={trade_id!r} is an open trade of strategy {handle.strategy.name!r}: "
                f"an ENTER (slot {intent.slot_id}) needs a new trade id (buy and sell make one)"
            )
        if len(self._handles) == 1:
            return  # no other strategy whose trade ids it could take
        named = made_for(TRADE_ID, trade_id, self._handles)
        if named is not None and named[1] != handle.name:
            raise ValueError(
                f"trade_id={trade_id!r} is of the form the runtime gives strategy {named[1]!r}'s "
                f"trades ({named[1]}-t<n>): strategy {handle.strategy.name!r} may not enter it"
            )

    def _refuse_a_helpers_intent_id(self, handle: StrategyHandle, intent: KernelIntent) -> None:
        """Raises ValueError naming ``intent_id`` when a hand-built intent takes an id the runtime
        has yet to give a helper's intent (``<name>-i<n>``) of any of its strategies, this one's
        too: the kernel would refuse that later intent as DUPLICATE_INTENT, leaving an exit or
        a cancel undone. An id the runtime gave (``ctx.next_intent_id``) passes."""
        form = self._ids.intent_id_to_come(intent.intent_id, self._handles)
        if form is not None:
            raise ValueError(
                f"intent_id={intent.intent_id!r} is an id the runtime has yet to give a helper's "
                f"intent ({form}), which the kernel would then refuse as its duplicate: strategy "
                f"{handle.name!r} may not take it; give the intent an id of another form"
            )

    def _refuse_a_time_past_the_data(self, intent: KernelIntent) -> None:
        """Raises ValueError naming ``timestamp`` when, on the data clock, ``intent`` is dated
        after the data's time: KernelIntent's default is the machine's clock, and a replay's
        intents and fills dated so would differ on every run and follow the exits that close them."""
        clock = self._clock
        if not clock.wall and intent.timestamp_s > clock.data_time + _ONE_MICROSECOND:
            raise ValueError(
                f"timestamp={intent.timestamp_s!r} is later than the data's time ({clock.data_time!r}): "
                "on the data clock an intent is dated by the data; build it with timestamp=self.ctx.now()"
            )

    def _refuse_on_closed_kernel(self, what: Callable[[], str]) -> None:
        """Raise ``KernelClosed`` when the kernel takes no more input, before anything is done;
        ``what()`` names what is refused (made only then: every order passes here)."""
        reason = self._kernel.input_refused_reason()
        if reason is not None:
            raise KernelClosed(f"{what()} cannot be sent: {reason}")

    def _refuse_past_budget(self, handle: StrategyHandle, intent: KernelIntent, held: int) -> KernelOutcome:
        """The runtime's refusal of ``handle``'s ENTER ``intent``, its trades holding ``held`` slots of
        its budget: counted and told to the intent listeners as the kernel's refusals are, and
        never sent (the kernel records nothing)."""
        kernel = self._kernel
        on_a_slot = 0 <= intent.slot_id < kernel.max_slots
        refusal = RuntimeRefusal(
            intent,
            kernel.slot_state(intent.slot_id).fsm_state if on_a_slot else TradeStage.IDLE,
            KernelDiagnosticCode.INVALID_INTENT,
            {
                "field": "max_slots",
                "value": handle.max_slots,
                "reason": (
                    f"strategy {handle.name!r} holds {held} slots, its budget; an entry waits for one "
                    "of its trades to close (refused by the runtime, not sent to the kernel)"
                ),
            },
        )
        return self._refused(handle, intent, refusal)

    def refuse_slot_past_64_bits(
        self, strategy: Strategy[Any], intent: KernelIntent, slot_id: int
    ) -> KernelOutcome:
        """The refusal (INVALID_SLOT_ID naming ``slot_id``, as the kernel's of -1) of
        ``strategy``'s exit or cancel of ``slot_id``, an integer past the 64 bits the kernel
        reads a slot id in, ``intent`` being it on slot -1: no KernelIntent holds that id, and a
        helper answers a slot it cannot reach with an outcome, never an exception."""
        handle = self._trading(strategy)
        self._refuse_on_closed_kernel(lambda: f"its {intent.action.name} {intent.intent_id!r}")
        last = self._kernel.max_slots - 1
        refusal = RuntimeRefusal(
            intent,
            TradeStage.IDLE,
            KernelDiagnosticCode.INVALID_SLOT_ID,
            {
                "field": "slot_id",
                "value": integer_named(slot_id),
                "max_slots": self._kernel.max_slots,
                "reason": (
                    f"no such slot: the kernel has slots 0 to {last} (refused by the runtime, not "
                    "sent to the kernel, which reads a slot id in 64 bits)"
                ),
            },
            slot_id=slot_id,
        )
        return self._refused(handle, intent, refusal)

    def _refused(
        self, handle: StrategyHandle, intent: KernelIntent, refusal: RuntimeRefusal
    ) -> KernelOutcome:
        """``refusal`` of ``handle``'s ``intent``, counted and told to the intent listeners as
        the kernel's refusals are."""
        # It reads as a refused KernelOutcome (which only the kernel makes): typed as one, so a
        # strategy's helpers keep one return type.
        outcome = cast("KernelOutcome", refusal)
        handle.intents += 1
        handle.refused += 1
        self._stats["intents"] += 1
        self._stats["refused"] += 1
        errors: list[Exception] = []
        for listener in self._intent_listeners:
            tell(errors, listener, intent, outcome)
        raise_first(errors)
        return outcome

    def _send(self, handle: StrategyHandle, intent: KernelIntent) -> KernelOutcome:
        """The kernel takes a strategy's ``intent`` and its answer is routed (``submit``)."""
        before = self._slots_orders(intent)
        outcome: KernelOutcome = self._kernel.process_intent(intent)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "intent %s %s of %s: %s, %s",
                intent.intent_id,
                intent.action.name,
                handle.name,
                outcome.state.name,
                outcome.diagnostic_code.name,
                extra=order_ids(
                    self._kernel, outcome=outcome, intent_id=intent.intent_id, strategy=handle.name
                ),
            )
        # A listener that raises is raised once the runtime has booked the intent: raised at
        # once, the trade the kernel took would have no owner (its fills reaching no strategy)
        # and its order would not count as working (the data it fills on held back from the venues).
        errors: list[Exception] = []
        for listener in self._intent_listeners:
            tell(errors, listener, intent, outcome)
        if not outcome.accepted:
            handle.refused += 1
            self._stats["refused"] += 1
            raise_first(errors)
            return outcome
        if intent.action.name == "ENTER":
            self._owners.hold(intent.trade_id, handle, intent.asset, intent.slot_id)
        order = outcome.order
        if order is not None and order.status.name not in TERMINAL_STATUSES:
            self._owners.working.add(order.client_order_id)
        try:
            self._polling.route_answer(booked_events(outcome), order, before)
        except Exception as exc:
            errors.append(exc)
        raise_first(errors)
        return outcome

    # -- the risk guard's and the run's own ----------------------------------------------

    def report_edge(self, asset: str, edge_bps: float) -> KernelOutcome:
        self._refuse_on_closed_kernel(lambda: f"the edge of {asset!r} reported")
        self._sync_before(lambda: "report_edge")
        with self._calls:
            before = self._kernel.open_orders()  # a freeze cancels them, and may end them settled
            outcome: KernelOutcome = self._kernel.on_edge_update(asset, edge_bps, self._clock.now())
            self._polling.route_answer(booked_events(outcome), before=before)
        return outcome

    def operator_intent(self, intent: KernelIntent, errors: list[Exception]) -> KernelOutcome:
        """The body of ``TradingRuntime.operator_intent``: what routing the kernel's answer
        raised (a listener's error) is added to ``errors``, the outcome returned."""
        self._sync_before(
            lambda: f"the run's own intent {shortened(repr(getattr(intent, 'intent_id', intent)))}"
        )
        recorded = self._recorded(intent)
        if recorded:
            intent = _with_metadata(intent, recorded)
        with self._calls:
            before = self._slots_orders(intent)
            outcome: KernelOutcome = self._kernel.process_intent(intent)
            if outcome.accepted:
                try:
                    self._polling.route_answer(booked_events(outcome), outcome.order, before)
                except Exception as exc:
                    errors.append(exc)
        return outcome

    def _recorded(self, intent: KernelIntent) -> dict[str, Any]:
        """What the runtime adds to ``intent``'s metadata: where in the data it was decided, with
        ``record_data_place`` (a run continuing the kernel's log after a kill goes on from there);
        nothing for what is no KernelIntent, which the kernel refuses as it is."""
        if not self.record_data_place or not isinstance(intent, KernelIntent):
            return {}
        return dict(self._clock.data_place())

    def _sync_before(self, call: Callable[[], str]) -> None:
        """``sync_venues()`` before the call ``call()`` names (a strategy's submit or
        report_edge, an intent of the run's own; named only when it raises). What it raises is
        no fault of the caller's: a venue's raising on the held-back data, the kernel's error
        (not busy) on a waiting venue event, a listener's while one was routed. Raised from the
        call, it would put the strategy that happened to submit in ERROR (its order never sent,
        its entries canceled), and a failed strategy's entry cancel would never be sent. It is
        logged at ERROR with its traceback, counted in ``stats["sync_errors"]``, and the call is
        made all the same."""
        try:
            self._venue_data.sync_venues()
        except Exception as exc:
            self._stats["sync_errors"] += 1
            log.error(
                "handing the venues the held-back market data and the kernel the waiting venue events"
                " (sync_venues) before %s raised %s: %s; no fault of the caller's, which is made all"
                " the same",
                call(),
                type(exc).__name__,
                shortened(str(exc), 300),
                exc_info=exc,
                extra=order_ids(self._kernel),
            )

    def _slots_orders(self, intent: KernelIntent) -> list[Any]:
        """The orders working on the slot of ``intent`` (one that is not an ENTER: a cancel, an
        exit), read before the kernel takes it: the venue's answer may end them settled (a
        cancel's ack stating the filled size), after which no list of the kernel's holds them.
        Nothing for what is no KernelIntent: the kernel refuses it, saying what it expects (read
        here first, it would raise AttributeError)."""
        if not isinstance(intent, KernelIntent):
            return []
        slot_id = intent.slot_id
        if intent.action.name == "ENTER" or not 0 <= slot_id < self._kernel.max_slots:
            return []
        slot = self._kernel.slot_state(slot_id)
        return [o for o in (slot.active_entry_order, slot.active_exit_order) if o is not None]


def _with_metadata(intent: KernelIntent, added: Mapping[str, Any]) -> KernelIntent:
    """``intent`` with ``added`` in its metadata (an intent is immutable)."""
    fields = intent.to_dict()
    fields["metadata"] = {**intent.metadata, **added}
    return KernelIntent(**fields)
