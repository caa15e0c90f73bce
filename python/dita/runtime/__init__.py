"""TradingRuntime: one tick loop driving several strategies over one kernel.

Market data (bars or quotes, replayed from history or arriving live) goes first to the
venues that match against it (the paper venue), whose fills go to the kernel, and then to
every RUNNING strategy subscribed to it. Strategies decide through the kernel; the
runtime routes each fill back to the strategy that owns the trade.

Each strategy is RUNNING, PAUSED (gets no data, still hears its fills), STOPPED or ERROR:
an exception in one strategy's callback moves only that strategy to ERROR, records the
error, cancels its working entry orders (its exits keep working, its positions are left to
the operator), and the loop carries on with the others. ``stop(name)`` cancels the stopped
strategy's working entries alike; ``stop()`` (every strategy, a run's end) leaves the book.

Venues that report later (``poll_events``: a live exchange's fills of resting orders, its
cancels and expiries) are polled on each data point while orders work (or the kernel awaits
an ended order's fills, ``awaited_orders``), before the strategies hear it: under the wall
clock at most every ``poll_interval`` seconds after the last poll ended, under the data clock
on every data point. ``poll_venues()`` polls at once (a live loop with no data for a while calls
it itself; called while a poll's events are routed, it has that poll poll again after them), and
``finish()`` polls once more.

Speed: a replay spends most of its time in strategy code, so the loop does nothing per
data point that it can defer. A venue only needs data while it has working orders or
when an order is about to be sent, so with nothing working the latest bar or quote is
kept and handed over just before the next submit, or ``sync_venues()`` (the venue ends up in
the same state as if it had seen every bar). Kernel marks are deferred the same way, to submits and reads.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from enum import StrEnum
from itertools import chain
from typing import TYPE_CHECKING, Any, cast

from dita._kernel import TERMINAL_ORDER_STATUSES as TERMINAL_STATUSES
from dita._kernel import (
    KernelDiagnosticCode,
    KernelEventKind,
    KernelIntent,
    KernelOutcome,
    KernelSeverity,
    TradeSlot,
    TradeStage,
    VenueEvent,
)
from dita._numbers import is_real
from dita._signals import held
from dita._signals import installed as signals_installed
from dita._text import shortened
from dita.kernel import booked_events
from dita.reconcile import ENDED_LOOKUPS, ReconciliationReport, reconcile_with_venue
from dita.reconcile import EVENT_ID_PREFIX as RECONCILED
from dita.risk import KERNEL_MAX
from dita.strategy import FREE_STAGES, Bar, Fill, Quote, Strategy, cancel_intent, subscriptions
from dita.venues import POLL_SECONDS, VenueUnavailable, describe, poll_once, venue_following
from dita.venues._events import STUCK_AFTER, PolledEvents, input_stopped, kernel_busy

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    # A column of ``run_columns``: a list, or an array made Python numbers a chunk at a time.
    Column = Sequence[float] | npt.NDArray[np.float64]

__all__ = [
    "EventListener",
    "FillListener",
    "IntentListener",
    "KernelClosed",
    "KernelRefusals",
    "ReasonCounts",
    "RuntimeRefusal",
    "StrategyContext",
    "StrategyHandle",
    "StrategyStatus",
    "TradingRuntime",
    "VenueRejections",
    "check_strategy_instance",
    "check_strategy_unused",
    "refusal_reason",
    "refusals_said",
    "wait_unless_stopped",
]

log = logging.getLogger(__name__)

# How many freed trades keep their owner for a late fill (the kernel keeps one ended order
# per slot, so more than a few thousand slots' worth is never needed).
RELEASED_MEMORY = 10_000
# The longest error text a strategy's status keeps (its traceback is logged whole): the status
# is written to metrics.json and a paper run's state file.
ERROR_TEXT = 1_000
# How many of its latest fills each strategy keeps in ``fills`` under the wall clock by default
# (``fills_kept``): a live run is open-ended, and every fill it kept grew its memory for good.
LIVE_FILLS_KEPT = 10_000
# The most polls one ``poll_venues()`` call makes, its own and those asked for while their
# events were routed: a strategy that sends an order and asks for a poll on each fill, on a
# venue that fills it by the next poll, asked for one in every poll, and the call never ended.
POLL_ROUNDS = 10
# How often (in the runtime's time) it looks for orders in doubt (``orders_in_doubt``: rate
# limited before the venue acknowledged them, with a cancel asked), and the first and longest
# wait before reconciling them: the venue just throttled, and each reconciliation asks it for
# its open orders, the orders' status and positions.
DOUBT_POLL_SECONDS = 5.0
DOUBT_FIRST_WAIT = 5.0
DOUBT_MAX_WAIT = 300.0
FILL = KernelEventKind.FILL
RATE_LIMITED = KernelEventKind.RATE_LIMITED
# How a runtime over a used kernel marks its ids (``<name>-r<seq>-t<n>``); no name may end so.
_RESTART_MARK = re.compile(r"-r\d+\Z")
# A trade id the runtime makes: ``<name>-t<n>``, or ``<name>-r<seq>-t<n>`` (group 1: the name).
_TRADE_ID = re.compile(r"(.+?)-(?:r\d+-)?t\d+")

FillListener = Callable[[VenueEvent, int], None]
"""Called with each accepted fill and the index of the data point it happened on."""
EventListener = Callable[[VenueEvent], None]
"""Called with every venue event the kernel took in (acks, fills, cancels, rejects ...)."""
IntentListener = Callable[[KernelIntent, KernelOutcome], None]
"""Called with every intent a strategy submitted and the kernel's answer."""


# How many reasons ``VenueRejections`` and ``KernelRefusals`` name, each with its count.
REJECTIONS_SHOWN = 5
# A figure standing alone in a reason (not a part of a name such as 1000PEPEUSDT).
_FIGURE = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?:e[+-]?\d+)?(?![\w])")
# The kernel's refusals of a strategy's intent that are its normal flow, not counted by
# ``KernelRefusals``: an exit of a trade already closed (by its exit legs, a stop), a cancel
# of an order that has filled or ended, or an exit while the entry still works, and the retry
# of an intent the kernel took.
ROUTINE_REFUSALS = frozenset({"NO_POSITION", "INVALID_TRANSITION", "DUPLICATE_INTENT"})
# The longest value a refusal's reason names (``refusal_reason``).
_REFUSED_VALUE = 60


def _reason_kind(reason: str) -> str:
    """``reason`` with its figures left out: the orders refused for one cause each name their
    own figures (``insufficient margin: the order needs 1,020.00 USDT ...``), and counted by
    their text no two were alike, a year's run summed up as five reasons at 1 x each and
    thousands "for other reasons"."""
    return _FIGURE.sub("#", reason)


class ReasonCounts:
    """How many things were refused (``count``), with the first ``REJECTIONS_SHOWN`` reasons met
    (``reasons``), each with how many it refused: reasons that differ only in their figures
    count as one, under the first one's text. ``VenueRejections`` and ``KernelRefusals``."""

    def __init__(self, count: int = 0, reasons: Mapping[str, int] | None = None) -> None:
        self.reasons: dict[str, int] = {}
        self._kinds: dict[str, str] = {}  # each reason's kind (``_reason_kind``) to its text kept
        self._varied: set[str] = set()  # the reasons kept that stand for others of other figures
        for reason, times in (reasons or {}).items():
            self._add(reason, times)
        # Never fewer than its reasons count (a state file edited by hand).
        self.count = max(count, sum(self.reasons.values()))

    def add(self, reason: str) -> None:
        """One more refused for ``reason``."""
        self.count += 1
        self._add(reason, 1)

    def _add(self, reason: str, count: int) -> None:
        kind = _reason_kind(reason)
        kept = self._kinds.get(kind)
        if kept is None and len(self.reasons) < REJECTIONS_SHOWN:
            kept = self._kinds[kind] = reason
        if kept is not None:
            self.reasons[kept] = self.reasons.get(kept, 0) + count
            if kept != reason:
                self._varied.add(kept)

    def _plus(self, other: ReasonCounts, both: ReasonCounts) -> None:
        """``both`` (new) made these counts and ``other``'s, this one's reasons first."""
        for reasons in (self.reasons, other.reasons):
            for reason, count in reasons.items():
                both._add(reason, count)
        both.count = self.count + other.count
        both._varied.update(r for r in self._varied | other._varied if r in both.reasons)

    def text(self) -> str:
        """Each reason with how many it refused, most first, then how many were refused for
        reasons not named: ``3 x unknown asset 'ETHUSDT': ...; 2 for other reasons``."""
        shown = sorted(self.reasons.items(), key=lambda item: -item[1])
        text = "; ".join(
            f"{count} x {reason or 'no reason given'}"
            + (" (the first's figures)" if reason in self._varied else "")
            for reason, count in shown
        )
        rest = self.count - sum(self.reasons.values())
        if not rest:
            return text
        return f"{text}; {rest} for other reasons" if text else f"{rest} for other reasons"


class VenueRejections(ReasonCounts):
    """The orders the venues rejected, counted from the venue events the runtime routes (an
    ``event_listeners`` entry: ``runtime.event_listeners.append(rejections.on_event)``).

    An order the venue refuses (one for an asset it does not list, say) was taken by the
    kernel, so the strategy's outcome reads accepted and its slot is free again at once: a run
    says nothing else of it. ``orders`` counts them all; ``reasons`` holds the first
    ``REJECTIONS_SHOWN`` reasons met, each with how many orders it refused (``ReasonCounts``).
    A reconciliation's REJECT (of an order the venue does not hold, after a restart or a
    doubt) is no refusal."""

    def __init__(self, orders: int = 0, reasons: Mapping[str, int] | None = None) -> None:
        super().__init__(orders, reasons)

    @property
    def orders(self) -> int:
        return self.count

    def on_event(self, event: VenueEvent) -> None:
        if event.kind == KernelEventKind.REJECT and not event.event_id.startswith(RECONCILED):
            self.add(event.reason)

    def plus(self, other: VenueRejections) -> VenueRejections:
        """These rejections and ``other``'s (a later run's), this one's reasons first."""
        both = VenueRejections()
        self._plus(other, both)
        return both


def refusal_reason(outcome: KernelOutcome) -> str:
    """The kernel's refusal ``outcome`` as one reason: ``<DIAGNOSTIC_CODE>: <field>=<value>:
    <reason>``, the rule (``edge_freeze``) standing for the field where none is named, each part
    left out where the details hold none: ``INVALID_INTENT: target_size=1e+308: must be at most
    1e15 in magnitude``. A value is shown as its repr, cut to ``_REFUSED_VALUE`` characters."""
    details = outcome.details
    parts = [outcome.diagnostic_code.name]
    if "field" in details:
        value = details.get("value")
        shown = "" if value is None else shortened(repr(value), _REFUSED_VALUE)
        parts.append(f"{details['field']}={shown}" if shown else str(details["field"]))
    elif details.get("rule"):
        parts.append(str(details["rule"]))
    if details.get("reason"):
        parts.append(str(details["reason"]))
    return ": ".join(parts)


def refusals_said(refused: int, reasons: str, intents: int | None = None) -> str:
    """``the kernel refused N of M intents: <reasons>`` (``KernelRefusals.text``); without
    ``intents``, ``the kernel refused N intents: <reasons>``."""
    of = "" if intents is None else f" of {intents:,}"
    total = refused if intents is None else intents
    return f"the kernel refused {refused:,}{of} intent{'' if total == 1 else 's'}: {reasons}"


class KernelRefusals(ReasonCounts):
    """The strategies' intents the kernel refused, counted from the intents the runtime routes
    (an ``intent_listeners`` entry: ``runtime.intent_listeners.append(refusals.on_intent)``).

    A strategy hears each refusal in its outcome, but a run said nothing of them: one whose
    every order was refused (a size past the kernel's bound) read as a run that chose not to
    trade. ``intents`` counts the intents the strategies sent, ``refused`` those refused but
    for the routine ones (``ROUTINE_REFUSALS``: NO_POSITION, INVALID_TRANSITION,
    DUPLICATE_INTENT); ``reasons`` names each refusal by ``refusal_reason`` (``ReasonCounts``)."""

    def __init__(self, refused: int = 0, reasons: Mapping[str, int] | None = None, intents: int = 0) -> None:
        super().__init__(refused, reasons)
        self.intents = intents

    @property
    def refused(self) -> int:
        return self.count

    def on_intent(self, intent: KernelIntent, outcome: KernelOutcome) -> None:
        self.intents += 1
        if not outcome.accepted and outcome.diagnostic_code.name not in ROUTINE_REFUSALS:
            self.add(refusal_reason(outcome))

    def plus(self, other: KernelRefusals) -> KernelRefusals:
        """These refusals and ``other``'s (a later run's), this one's reasons first."""
        both = KernelRefusals(intents=self.intents + other.intents)
        self._plus(other, both)
        return both

    def said(self) -> str:
        """``the kernel refused N of M intents: <reasons>`` (``refusals_said``)."""
        return refusals_said(self.refused, self.text(), self.intents)


class KernelClosed(RuntimeError):
    """A strategy's submit (or ``report_edge``) refused because the runtime's kernel takes no
    more input (closed, or its write-ahead log failed): no fault of the strategy's. Escaping its
    callback, it stops the strategy (``on_stop`` called) rather than putting it in ERROR."""


class RuntimeRefusal:
    """The runtime's refusal of a strategy's intent, made before the kernel saw it: an ENTER
    past the strategy's slot budget (``add_strategy(max_slots=)``). It reads as the kernel's
    refused ``KernelOutcome`` does (the same attributes: ``accepted`` False, a diagnostic code,
    ``details`` naming the field and its value) so a strategy handles both alike, but it is not
    one (the kernel's outcomes are made by the kernel only): nothing was recorded, ``seq`` is 0."""

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
    ) -> None:
        self.slot_id: int = intent.slot_id
        self.trade_id: str = intent.trade_id
        self.state = state
        self.diagnostic_code = code
        self._details = dict(details)

    @property
    def details(self) -> dict[str, Any]:
        return dict(self._details)  # a copy, as the kernel's outcome gives one

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
            "details": self.details,
            "seq": 0,
        }

    def __repr__(self) -> str:
        return (
            f"RuntimeRefusal(accepted=False, slot_id={self.slot_id}, state={self.state.name}, "
            f"diagnostic_code={self.diagnostic_code.name}, details={self._details!r})"
        )


class StrategyStatus(StrEnum):
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    STOPPED = "STOPPED"
    ERROR = "ERROR"


@dataclass
class StrategyHandle:
    strategy: Strategy[Any]
    status: StrategyStatus = StrategyStatus.RUNNING
    error: str = ""
    error_callback: str = ""
    intents: int = 0
    refused: int = 0
    fills: int = 0
    # on_start was called: it runs once, however many times the runtime is started.
    started: bool = False
    # Its ``assets`` and ``data`` as they were when it was added (``add_strategy``): read from
    # the instance at each asset's first data point, a strategy keeping its bars in
    # ``self.data = []`` unsubscribed itself and heard nothing more, in silence.
    assets: tuple[str, ...] = ()
    data: tuple[str, ...] = ("bars",)
    # The most kernel slots its trades may hold at once (``add_strategy(max_slots=)``); None: no
    # budget, it may take every free one.
    max_slots: int | None = None

    @property
    def name(self) -> str:
        return self.strategy.name

    def slots_held(self) -> int:
        """How many kernel slots its trades hold (those it opened and has not seen close)."""
        return len({sid for ids in self.strategy._open_slots.values() for sid in ids})

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "class": f"{type(self.strategy).__module__}:{type(self.strategy).__qualname__}",
            "status": self.status.value,
            "error": self.error,
            "error_callback": self.error_callback,
            "intents": self.intents,
            "refused": self.refused,
            "fills": self.fills,
            "max_slots": self.max_slots,
            # In their JSON form (a date as ISO text, a set as a list, an Enum as its value):
            # a status is written as JSON (metrics.json, a paper run's state file).
            "params": self.strategy.params.model_dump(mode="json"),
        }


class StrategyContext:
    """What a strategy reaches through ``self.ctx``: the kernel, the clock and submission."""

    def __init__(self, runtime: TradingRuntime) -> None:
        self._runtime = runtime
        self.kernel = runtime.kernel

    def now(self) -> float:
        return self._runtime.now()

    def account(self) -> dict[str, Any]:
        self._runtime.sync_marks()
        account: dict[str, Any] = self.kernel.account()
        return account

    def slots(self, slot_ids: Iterable[int]) -> list[TradeSlot]:
        """The kernel's slots ``slot_ids``, marked first as ``account()`` is: the marks are
        deferred to reads, and read without them a slot's unrealized PnL was a submit old."""
        self._runtime.sync_marks()
        return [self.kernel.slot_state(sid) for sid in slot_ids]

    def next_intent_id(self, strategy: Strategy[Any]) -> str:
        self._runtime._intent_seq += 1
        return f"{strategy.name}-{self._runtime._id_run}i{self._runtime._intent_seq}"

    def next_trade_id(self, strategy: Strategy[Any]) -> str:
        self._runtime._trade_seq += 1
        return f"{strategy.name}-{self._runtime._id_run}t{self._runtime._trade_seq}"

    def submit(self, strategy: Strategy[Any], intent: KernelIntent) -> KernelOutcome:
        return self._runtime.submit(strategy, intent)

    def trade_owner(self, trade_id: str) -> str | None:
        """The name of the strategy whose trade ``trade_id`` is (held, or freed from its slot:
        a trade adopted after a restart with its order in doubt is freed), None when it is
        nobody's."""
        handle = self._runtime._owner_of(trade_id)
        return handle.strategy.name if handle is not None else None

    def report_edge(self, asset: str, edge_bps: float) -> KernelOutcome:
        return self._runtime.report_edge(asset, edge_bps)


class TradingRuntime:
    """``TradingRuntime(kernel, venues=None, clock="data", poll_interval=1.0)``.

    ``defer_venue_data``: hand data to the venues only when they can use it (see the module
    docstring); False hands over every data point at once.
    ``venues``: the venues that take market data (``on_bar``/``on_quote``); by default the
    kernel's venue, or each venue of a router, that has those methods. ``clock="data"``
    makes the data's timestamps the time (replay); ``"wall"`` uses the machine clock (live).
    ``poll_interval``: under the wall clock, the fewest seconds between two polls of the
    venues that report later (``poll_venues``) that data points make; a positive finite
    number (a fast quote feed must not hammer an exchange), counted from the end of the last
    poll. Under the data clock they are polled on every data point while orders work (or the
    kernel awaits an ended order's fills).
    ``fills_kept``: how many of its latest fills each strategy keeps in ``Strategy.fills`` (at
    least that many, up to twice as many between two trims); None, the default, keeps every
    fill under the data clock (a replay's feed ends) and the latest ``LIVE_FILLS_KEPT`` under
    the wall clock (a live run does not). ``Strategy.fills_total`` counts every fill.
    """

    def __init__(
        self,
        kernel: Any,
        venues: Sequence[Any] | None = None,
        *,
        clock: str = "data",
        defer_venue_data: bool = True,
        poll_interval: float = POLL_SECONDS,
        fills_kept: int | None = None,
    ) -> None:
        if clock not in ("data", "wall"):
            raise ValueError(f"clock={clock!r} must be 'data' or 'wall'")
        if not (_is_number(poll_interval) and math.isfinite(poll_interval) and poll_interval > 0):
            raise ValueError(f"poll_interval={poll_interval!r} must be a positive finite number of seconds")
        if fills_kept is not None and not (
            _is_number(fills_kept) and isinstance(fills_kept, int) and fills_kept > 0
        ):
            raise ValueError(
                f"fills_kept={fills_kept!r} must be a positive whole number of fills, or None "
                "(every fill under the data clock, the latest LIVE_FILLS_KEPT under the wall clock)"
            )
        self.kernel = kernel
        if venues is None:
            venues = _market_venues(kernel.venue)
        self.bar_venues = [v for v in venues if callable(getattr(v, "on_bar", None))]
        self.quote_venues = [v for v in venues if callable(getattr(v, "on_quote", None))]
        # The venues that report later, each polled once (a router polls those behind it).
        self.polled_venues = _polled_venues(kernel.venue, venues)
        self.poll_interval = float(poll_interval)
        # When a data point may poll them next (time.monotonic(); the wall clock only).
        self._poll_at = -math.inf
        # A poll is routing its events, or a call its venue's answer; a poll was asked for
        # meanwhile (made once they are routed).
        self._polling = False
        self._answering = False
        self._poll_again = False
        # Per venue (by id), the events it gave (polled, or answering market data) that the
        # kernel raised on (busy in another thread's call) and those after them, given to it
        # first at the next poll, or before the venue's next data (a venue reports each once);
        # once the kernel takes no more input, why: the venues are polled, and handed data, no
        # more. The venues' data is being handed over (``_to_venues``).
        self._unapplied: dict[int, PolledEvents] = {}
        self._input_ended = ""
        self._handing = False
        self.clock = clock
        if fills_kept is None and clock == "wall":
            fills_kept = LIVE_FILLS_KEPT
        self.fills_kept: int | None = fills_kept
        # False hands every data point to the venues at once (the reference behaviour the
        # deferred path must reproduce; the tests compare the two).
        self.defer_venue_data = defer_venue_data
        self.handles: dict[str, StrategyHandle] = {}
        # The strategies whose on_stop is running (``stop``), by name: stopped once.
        self._stopping: set[str] = set()
        self.fill_listeners: list[FillListener] = []
        self.event_listeners: list[EventListener] = []
        self.intent_listeners: list[IntentListener] = []
        # Called with each intent before the kernel takes it, the marks synced (the backtest
        # halts a bust account's entries there); one raising stops the intent.
        self.intent_checks: list[Callable[[KernelIntent], None]] = []
        self.ctx = StrategyContext(self)
        self._started = False
        self._intent_seq = 0
        self._trade_seq = 0
        # A kernel that has accepted intents (one recovered from its write-ahead log, say)
        # remembers their ids and holds their trade ids: this runtime's ids carry the kernel's
        # seq (``r<seq>-``), which moved past every earlier runtime's. Counting from 1 alone,
        # a strategy restarted on a recovered kernel had every intent refused as a duplicate.
        # So does one given its slots back (``reconcile_from_slots``), which accepted none: its
        # strategy's first buy took the id of the trade it held, and raised.
        stats = getattr(kernel, "stats", None)
        slots = getattr(kernel, "slots", None)
        used = (callable(stats) and bool(stats().get("intents_accepted"))) or (
            callable(slots) and any(s.get("trade_id") for s in slots())
        )
        self._id_run = f"r{kernel.seq}-" if used else ""
        self._owner: dict[str, StrategyHandle] = {}
        # Owners of trades that freed their slot, newest last: a venue may still send a fill
        # for a trade's ended order, which the kernel applies (it reopens the position).
        self._released: dict[str, StrategyHandle] = {}
        self._working: set[str] = set()
        # Latest bar or quote per asset (the mark), and those the venues have not seen yet.
        self._last: dict[str, Bar | Quote] = {}
        self._pending: dict[str, Bar | Quote] = {}
        # The time of each asset's last bar: a second bar of one asset and time is refused.
        self._bar_at: dict[str, float] = {}
        # Those a hand-over did not reach (cut short: Ctrl-C in a venue), in order, handed first.
        self._unhanded: list[Bar | Quote] = []
        self._marked: dict[str, float] = {}
        self._now = 0.0
        self.row = -1
        self._bar_handlers: dict[str, list[tuple[StrategyHandle, Callable[[Bar], None]]]] = {}
        self._quote_handlers: dict[str, list[tuple[StrategyHandle, Callable[[Quote], None]]]] = {}
        self.stats = {
            "intents": 0,
            "refused": 0,
            "fills": 0,
            "venue_events": 0,
            "doubt_reconciliations": 0,
            # Polls of a venue that raised or gave what is not a list of events, or on whose
            # events the kernel raised (each logged).
            "venue_poll_errors": 0,
            # Answers of the venues to market data on whose events the kernel raised (each
            # logged; busy, the events are kept: see `_to_venues`).
            "venue_data_errors": 0,
            # Data points a market-data venue raised on (``on_bar``/``on_quote``): the other
            # venues and the later points are still handed over, the first error raised after.
            "venue_data_raised": 0,
            # Hand-overs of the held-back data and waiting venue events (``sync_venues``) that
            # raised before a strategy's submit or report_edge or an operator's intent: logged
            # at ERROR, the call made all the same (see ``_sync_before``).
            "sync_errors": 0,
            # Venue events set aside: the kernel raised on one STUCK_AFTER times in a row (not
            # busy), and it held the venue's later events back (each named at ERROR).
            "venue_events_stuck": 0,
            # Cancels of the working entries of strategies put in ERROR, and those of them that
            # raised or were refused (each logged at ERROR): see `_cancel_left_entries`.
            "error_cancels": 0,
            "error_cancels_failed": 0,
            # The same for strategies stopped by name (or with cancel_entries=True): see `stop`.
            "stop_cancels": 0,
            "stop_cancels_failed": 0,
        }
        # When to look for orders in doubt next (see `_settle_doubts`), and the wait after a
        # reconciliation that left one in doubt (doubled each time, up to DOUBT_MAX_WAIT).
        self._doubt_at = 0.0
        self._doubt_wait = DOUBT_FIRST_WAIT
        self._doubting = False
        self._wall = clock == "wall"
        # A data point is being handed out: one handed over meanwhile (a strategy feeding the
        # runtime from its callback) reached the others before the one they were hearing.
        self._feeding = False
        # The ``on_fill`` calls of the events routed, in the order booked, and whether they are
        # being made: an intent sent from one is routed then, its fills' calls queued after
        # the rest (made at once, its bookkeeping came in the middle of the answer's).
        self._fill_calls: deque[tuple[StrategyHandle, Fill]] = deque()
        self._telling = False
        # How deep the runtime is in calls of the kernel or the venues and the routing of their
        # answers, and the strategies put in ERROR or stopped meanwhile whose working entries
        # are to be canceled once it is out of them all (``_cancel_left_entries``).
        self._calls = 0
        self._left: deque[StrategyHandle] = deque()
        self._canceling = False

    # -- strategies ----------------------------------------------------------------------

    def add_strategy(self, strategy: Strategy[Any], *, max_slots: int | None = None) -> StrategyHandle:
        """Run ``strategy`` (an instance) on this runtime. An instance runs on one runtime: one
        that ran on another keeps that run's slots and fills, so it is refused.

        ``max_slots``: the most kernel slots the strategy's trades may hold at once (None, the
        default: no budget). Strategies sharing a kernel share its slots, and one entering on
        every bar took them all; past its budget an ENTER is refused before the kernel sees it
        (``RuntimeRefusal``: INVALID_INTENT naming ``max_slots``), and an exit or cancel never is.
        A whole number from 1 to the kernel's ``max_slots``; anything else is a ValueError."""
        check_strategy_instance(strategy, "add_strategy")
        self._check_budget(max_slots)
        if strategy.name in self.handles:
            raise ValueError(f"a strategy named {strategy.name!r} is already running; give it another name")
        if _RESTART_MARK.search(strategy.name):
            # Its ids would read as another strategy's after a restart (``bot-r5-t1`` is ``bot``'s
            # trade on a kernel restarted at seq 5): adoption would hand its trades to ``bot``.
            raise ValueError(
                f"strategy name {strategy.name!r} ends like a restart mark (-r<digits>), which makes "
                "its trade ids another strategy's after a restart; give it another name"
            )
        check_strategy_unused(strategy)
        # The instance's own (``a.assets = ("AAA",)`` before it is added) are checked as the
        # class's are when it is loaded: a bare "AAA" matched asset "A" too.
        assets, data = subscriptions(
            f"{type(strategy).__qualname__}({strategy.name!r})", strategy.assets, strategy.data
        )
        strategy._ctx = self.ctx
        handle = StrategyHandle(strategy, assets=assets, data=data, max_slots=max_slots)
        self.handles[strategy.name] = handle
        self._adopt(handle)
        self._reindex()
        if self._started:
            # Added to a running runtime: started now, before the next data point reaches it.
            self._start(handle)
        return handle

    def _check_budget(self, max_slots: object) -> None:
        """Refuse a slot budget that is not a whole number from 1 to the kernel's slots (a bool
        too: True would read as 1), naming it and its value."""
        if max_slots is None:
            return
        kernel_slots = self.kernel.max_slots
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

    def _adopt(self, handle: StrategyHandle) -> None:
        """Give the strategy back the trades the kernel holds under its trade ids (a kernel
        recovered from its write-ahead log): its ``position``/``busy``/``close`` see them and
        their fills reach it, instead of it opening a second position beside them (one whose
        entry is in doubt too: its slot is free, yet the order may fill). A freed
        slot's trade is remembered as released: a late fill of its ended order reopens it,
        and without its owner that position was nobody's (the strategy never closed it)."""
        slots = getattr(self.kernel, "slots", None)
        if not callable(slots):
            return
        mine = re.compile(re.escape(handle.name) + r"-(?:r\d+-)?t\d+")
        for s in slots():
            trade_id = s.get("trade_id") or ""
            if not mine.fullmatch(trade_id) or trade_id in self._owner:
                continue
            if s.get("fsm_state") in FREE_STAGES and not s.get("order_in_doubt"):
                self._released[trade_id] = handle
                if len(self._released) > RELEASED_MEMORY:
                    del self._released[next(iter(self._released))]
                continue
            self._owner[trade_id] = handle
            handle.strategy._track_open(s["asset"], s["slot_id"])
            slot = self.kernel.slot_state(s["slot_id"])
            for order in (slot.active_entry_order, slot.active_exit_order):
                if order is not None and order.status.name not in TERMINAL_STATUSES:
                    self._working.add(order.client_order_id)

    def start(self) -> None:
        """Call ``on_start`` of every RUNNING strategy not started yet (once each: calling it
        again reset a running strategy's state). Strategies added later are started when they
        are added, a PAUSED one when it is resumed. The first bar or quote handed to a runtime
        not started yet calls this first."""
        self._started = True
        for handle in list(self.handles.values()):
            self._start(handle)

    def _start(self, handle: StrategyHandle) -> None:
        if handle.status is StrategyStatus.RUNNING and not handle.started:
            handle.started = True
            self._call(handle, "on_start")

    def pause(self, name: str) -> None:
        self._set_status(name, StrategyStatus.PAUSED, allowed=(StrategyStatus.RUNNING,))

    def resume(self, name: str) -> None:
        self._set_status(name, StrategyStatus.RUNNING, allowed=(StrategyStatus.PAUSED,))
        if self._started:
            self._start(self.handles[name])

    def stop(self, name: str | None = None, *, cancel_entries: bool | None = None) -> None:
        """Stop one strategy (or all): ``on_stop`` is called, once (a ``stop`` called while it
        runs, from it or from a partner's it stops, passes that strategy by); strategies in
        ERROR stay there, and so does one put in ERROR while its ``on_stop`` ran.
        After ``on_stop`` a strategy hears no data nor fills (``on_fill``), not even the rest of
        a data point being handed out (stopped from another strategy's callback).

        ``cancel_entries`` (default: when ``name`` names one strategy) cancels the entry orders
        each stopped strategy still has working or in doubt once its ``on_stop`` returned, as
        for a strategy put in ERROR: nobody hears their fills any more, so one filled later
        opened a position nobody would exit. Exits keep working and positions stay open. Stopping
        every strategy (a run's end) leaves the book by default: a continued run takes it back."""
        if cancel_entries is None:
            cancel_entries = name is not None
        names = [name] if name is not None else list(self.handles)
        live = (StrategyStatus.RUNNING, StrategyStatus.PAUSED)
        for n in names:
            handle = self._handle(n)
            if handle.status not in live or n in self._stopping:
                # Its on_stop runs already (stop() called from it, or from a partner's it
                # stopped): called again, each call ran it again until a RecursionError.
                continue
            self._stopping.add(n)
            try:
                stopped = self._call(handle, "on_stop")
            finally:
                self._stopping.discard(n)
            # Put in ERROR meanwhile (its on_fill raising on a fill of what on_stop sent), it
            # stays there: it read STOPPED, with an error.
            if stopped and handle.status in live:
                handle.status = StrategyStatus.STOPPED
                if cancel_entries:
                    self._left.append(handle)
        self._reindex()
        if not self._calls and self._left:
            self._cancel_left_entries()

    def _handle(self, name: str) -> StrategyHandle:
        try:
            return self.handles[name]
        except KeyError:
            raise KeyError(
                f"no strategy named {name!r}; running: {', '.join(self.handles) or 'none'}"
            ) from None

    def _set_status(self, name: str, status: StrategyStatus, *, allowed: tuple[StrategyStatus, ...]) -> None:
        handle = self._handle(name)
        if handle.status not in allowed:
            raise ValueError(f"strategy {name!r} is {handle.status.value}; cannot move it to {status.value}")
        handle.status = status
        self._reindex()

    def status(self) -> list[dict[str, Any]]:
        return [h.to_dict() for h in self.handles.values()]

    def _reindex(self) -> None:
        self._bar_handlers.clear()
        self._quote_handlers.clear()

    def _handlers_for(self, asset: str, kind: str) -> list[tuple[StrategyHandle, Any]]:
        out = []
        for handle in self.handles.values():
            if (
                handle.status is StrategyStatus.RUNNING
                and kind in handle.data
                and (not handle.assets or asset in handle.assets)
            ):
                out.append((handle, getattr(handle.strategy, "on_bar" if kind == "bars" else "on_quote")))
        return out

    def _call(self, handle: StrategyHandle, callback: str, *args: Any) -> bool:
        """Run one callback; False (and the strategy in ERROR) when it raised, or returned
        orders (``_refuse_returned_orders``)."""
        try:
            returned = getattr(handle.strategy, callback)(*args)
            if returned is not None:
                _refuse_returned_orders(callback, returned)
        except Exception as exc:
            self._fail(handle, callback, exc)
            return False
        return True

    def _stop_on_closed_kernel(self, handle: StrategyHandle, callback: str, exc: KernelClosed) -> None:
        """A callback's submit was refused because the kernel takes no more input: the strategy
        can never trade again here, and did nothing wrong. It is stopped (``on_stop`` called,
        its own submits there refused alike), logged once at WARNING; in ERROR, every strategy
        read as failed after a shutdown, each with a traceback."""
        if handle.status not in (StrategyStatus.RUNNING, StrategyStatus.PAUSED):
            return
        log.warning("strategy %r stopped: in its %s, %s", handle.name, callback, exc)
        handle.status = StrategyStatus.STOPPED  # before on_stop: a refusal there ends here
        self._reindex()
        if callback != "on_stop":
            try:
                handle.strategy.on_stop()
            except KernelClosed:
                pass
            except Exception as stop_exc:
                self._fail(handle, "on_stop", stop_exc)

    def _refuse_on_closed_kernel(self, what: str) -> None:
        """Raise ``KernelClosed`` when the kernel takes no more input, before anything is done."""
        reason = self.kernel.input_refused_reason()
        if reason is not None:
            raise KernelClosed(f"{what} cannot be sent: {reason}")

    def _closed_meanwhile(self, exc: BaseException) -> KernelClosed | None:
        """The ``KernelClosed`` a RuntimeError from the kernel stands for: another thread closed
        it (or its log failed) after the submit's last look and before the kernel took the
        intent. None for any other error, or when the kernel cannot say (busy)."""
        if not isinstance(exc, RuntimeError) or isinstance(exc, KernelClosed):
            return None
        try:
            reason = self.kernel.input_refused_reason()
        except RuntimeError:
            return None
        return None if reason is None else KernelClosed(f"{exc} (the kernel: {reason})")

    def _fail(self, handle: StrategyHandle, callback: str, exc: BaseException) -> None:
        exc = self._closed_meanwhile(exc) or exc
        if isinstance(exc, KernelClosed):
            self._stop_on_closed_kernel(handle, callback, exc)
            return
        if handle.status is StrategyStatus.ERROR:
            # Keep the error that stopped it: a callback still running (on_bar after a failed
            # on_fill) then fails on "cannot trade", which says nothing about the cause.
            return
        handle.status = StrategyStatus.ERROR
        handle.error = shortened(f"{type(exc).__name__}: {_text_of(exc)}", ERROR_TEXT)
        handle.error_callback = callback
        # status() keeps the message only; the traceback says which line of the strategy raised.
        log.error("strategy %r failed in %s: %s", handle.name, callback, handle.error, exc_info=exc)
        self._reindex()
        self._left.append(handle)
        if not self._calls:
            self._cancel_left_entries()

    def _left_calls(self) -> None:
        """One call of the kernel or the venues (and the routing of its answer) is over: out of
        them all, the working entries of the strategies that failed or were stopped meanwhile
        are canceled."""
        self._calls -= 1
        if not self._calls and self._left:
            self._cancel_left_entries()

    def _cancel_left_entries(self) -> None:
        """Cancel the working entry orders of each strategy put in ERROR or stopped (in
        ``_left``): it acts on nothing any more, so an entry that filled later opened a position
        it would never exit. Its exits keep working (they reduce risk) and its positions are
        left to the operator. Called from ``_fail`` and ``stop`` when the runtime is in no call
        of the kernel or the venues, else once it is out of them all: inside one (a strategy's
        ``on_fill`` while a venue's answer is routed, or the kernel's own venue call), a cancel
        met the venue in the middle of its answer, an order it had just filled refused as
        unknown, its fill not yet booked. Raises nothing: a cancel that raises or is refused is
        logged at ERROR and counted in ``stats["error_cancels_failed"]`` (``stop_cancels_failed``
        for a stopped strategy), and the loop goes on; a listener raising while a cancel's answer
        is routed is logged at ERROR on its own, the cancel judged by the kernel's answer."""
        if self._canceling:
            return  # a cancel's own answer routed: the running call takes the rest
        self._canceling = True
        try:
            while self._left:
                handle = self._left.popleft()
                for slot, order in self._working_entries(handle):
                    self._cancel_entry(handle, slot, order)
        finally:
            self._canceling = False

    def _working_entries(self, handle: StrategyHandle) -> list[tuple[TradeSlot, Any]]:
        """The entry orders of ``handle``'s trades the venue may still work, each with its slot:
        each working on its slots, and each in doubt (rate limited before its ack, with a cancel
        asked: the venue may work it, and a CANCEL on its slot sends its cancel again)."""
        kernel = self.kernel
        entries: list[tuple[TradeSlot, Any]] = []
        for slot_id in sorted({sid for ids in handle.strategy._open_slots.values() for sid in ids}):
            slot = kernel.slot_state(slot_id)
            order = slot.active_entry_order
            if (
                order is not None
                and order.status.name not in TERMINAL_STATUSES
                and self._owner_of(slot.trade_id) is handle
            ):
                entries.append((slot, order))
        for order in getattr(kernel, "orders_in_doubt", list)():
            if order.is_entry and self._owner_of(order.trade_id) is handle:
                entries.append((kernel.slot_state(order.slot_id), order))
        return entries

    def _cancel_entry(self, handle: StrategyHandle, slot: TradeSlot, order: Any) -> None:
        """Cancel entry ``order`` of failed or stopped strategy ``handle`` through the kernel,
        its answer routed as a strategy's own cancel's (a fill that raced it booked and kept in
        the strategy's ``fills``); what fails is logged at ERROR and counted, never raised."""
        self.stats[f"{_cancels_of(handle)}_cancels"] += 1
        intent = cancel_intent(
            self.ctx.next_intent_id(handle.strategy),
            order.trade_id,
            slot,
            reason=f"strategy {handle.name} {_left_as(handle)}",
            timestamp=self.now(),
        )
        coid = order.client_order_id
        routing: list[Exception] = []
        try:
            outcome = self._operator_intent(intent, routing)
        except Exception as exc:
            self._entry_cancel_failed(handle, coid, f"raised {type(exc).__name__}: {exc}")
            return
        for raised in routing:
            # A listener's (or a poll's) error while the answer was routed: the cancel is judged
            # by the kernel's answer below. Taken for the cancel's, a cancel the venue had
            # acknowledged was said to have raised, its order "may still fill".
            log.error(
                "strategy %r %s: routing the answer to the cancel of its working entry order %s "
                "raised %s (a listener's error, or a poll's): %s",
                handle.name,
                _left_as(handle),
                coid,
                type(raised).__name__,
                shortened(str(raised), 300),
                exc_info=raised,
            )
        details = outcome.details
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
                    _left_as(handle),
                    coid,
                )
                return
            problem = f"was refused by the venue ({refusal.reason or 'no reason given'})"
        self._entry_cancel_failed(handle, coid, problem)

    def _entry_cancel_failed(self, handle: StrategyHandle, client_order_id: str, problem: str) -> None:
        self.stats[f"{_cancels_of(handle)}_cancels_failed"] += 1
        log.error(
            "strategy %r %s: the cancel of its working entry order %s %s; it may still fill "
            "(a position the strategy will not exit)",
            handle.name,
            _left_as(handle),
            client_order_id,
            shortened(problem, 300),
        )

    # -- time and marks ------------------------------------------------------------------

    def now(self) -> float:
        return time.time() if self.clock == "wall" else self._now

    def resume_at(self, ts: float) -> None:
        """A replay continuing an earlier run's (clock "data"): its time is ``ts`` before the
        first data point, so what is stamped then (a reconciliation's events) is a time of the
        data, and no earlier data point is taken."""
        if not (is_real(ts) and math.isfinite(ts) and ts >= self._now):
            raise ValueError(
                f"resume_at ts={ts!r} must be a finite time at or after the runtime's ({self._now!r})"
            )
        self._now = float(ts)

    def sync_marks(self) -> None:
        """Give the kernel the latest price of every asset whose price moved since the last mark."""
        marked = self._marked
        for asset, item in self._last.items():
            price = item.close if isinstance(item, Bar) else (item.bid + item.ask) / 2.0
            if marked.get(asset) != price:
                # Stamped with the data's time, so a replay records the same inputs every run;
                # as floats, which is all the kernel takes (data may hold numpy float32s).
                self.kernel.mark_price(asset, float(price), float(item.ts))
                marked[asset] = price

    def sync_venues(self) -> None:
        """Hand the venues that take market data what the runtime held back from them: the
        latest bar or quote of each asset, in time order, kept while no order worked
        (``defer_venue_data``). The events of theirs the kernel raised on before (busy) are
        given to it first. The runtime calls it before an order or a reconciliation reaches
        the venues and at ``finish()``; call it before reading or saving a venue's state (its
        clock, quotes, book), which lags the data handed to the runtime until then. Raises as a
        data point does (``on_bar``). Called while the venues' data is being handed over (a
        strategy's ``on_fill`` sending an intent), it does nothing: that hand-over runs on."""
        if self._handing or self._input_ended:
            return
        if self._pending or self._unhanded:
            pending = self._take_held_back()
        elif any(u.waiting for u in self._unapplied.values()):
            pending = []
        else:
            return
        self._to_venues(pending)

    def _to_venues(self, points: Sequence[Bar | Quote]) -> None:
        """Give the kernel the events of the market-data venues it raised on before, then hand
        ``points`` to the venues in turn, the kernel taking the events each answers with (fills
        of its working orders), routed as a venue's answer is. A venue hands each event over
        once: one the kernel raises on is kept (``_unapplied``), with those after it, and given
        to it first before that venue's next data (``_venue_answered``). Busy, it is not asked
        again in this call (each ask would wait as long): the later answers' events are kept
        behind, the venues still handed the data (kept from them, their orders missed it).
        Taking no more input, the venues are handed nothing more (what they gave could not be
        booked). A venue raising on a point (counted in ``stats["venue_data_raised"]``) is not
        handed it again; the other venues and the later points are still handed over (stopped
        there, the venues never saw the points held back behind it, and their resting orders
        missed those bars). A listener's error, a venue's, or the kernel's other than busy, is
        raised at the end (the first one). Cut short (a KeyboardInterrupt in a venue), the
        points not reached yet stay held back, in order, for the next hand-over."""
        if self._input_ended:
            return
        errors: list[Exception] = []
        self._calls += 1
        self._handing = True
        reached = 0  # the points handed over, or being handed (not handed again)
        try:
            held = False
            for venue in (*self.bar_venues, *self.quote_venues) if self._unapplied else ():
                unapplied = self._unapplied.get(id(venue))
                if unapplied is not None and unapplied.waiting and not held:
                    held = not self._give_kernel(unapplied, [], errors, answer=True)
            for item in points:
                if self._input_ended:
                    break
                reached += 1
                args: tuple[Any, ...]
                if isinstance(item, Bar):
                    args = (item.asset, item.open, item.high, item.low, item.close, item.volume, item.ts)
                    venues, method = self.bar_venues, "on_bar"
                else:
                    args = (item.asset, item.bid, item.ask, item.bid_size, item.ask_size, item.ts)
                    venues, method = self.quote_venues, "on_quote"
                for venue in venues:
                    try:
                        answer = getattr(venue, method)(*args)
                    except Exception as exc:
                        self.stats["venue_data_raised"] += 1
                        errors.append(exc)
                        continue
                    held = self._venue_answered(venue, answer, errors, held)
        finally:
            if reached < len(points) and not self._input_ended:
                self._unhanded[:0] = points[reached:]
            self._handing = False
            self._left_calls()
        _raise_first(errors)

    def _take_held_back(self) -> list[Bar | Quote]:
        """The data held back from the venues, in time order (those a hand-over did not reach
        first), no longer held."""
        # In time order: the dict keeps each asset's first insertion position, not its latest time.
        held = [*self._unhanded, *sorted(self._pending.values(), key=_ts_of)]
        self._unhanded.clear()
        self._pending.clear()
        return held

    def _venue_answered(
        self, venue: Any, events: list[VenueEvent], errors: list[Exception], held: bool
    ) -> bool:
        """The kernel takes the events ``venue`` answered market data with, after those of the
        venue kept from before (``_give_kernel``); ``held``: the kernel raised busy earlier in
        this hand-over, so they are kept, not given. Whether they are held now."""
        if not events or self._input_ended:
            return held
        self.stats["venue_events"] += len(events)
        unapplied = self._unapplied.setdefault(id(venue), PolledEvents())
        if held:
            unapplied.waiting.extend(events)
            return True
        return not self._give_kernel(unapplied, events, errors, answer=True)

    # -- orders and fills ----------------------------------------------------------------

    def _owner_of(self, trade_id: str) -> StrategyHandle | None:
        """The strategy whose trade ``trade_id`` is: held, or freed from its slot (a trade
        adopted after a restart with its order in doubt is freed); None when nobody's."""
        if not trade_id:
            return None
        return self._owner.get(trade_id) or self._released.get(trade_id)

    def _refuse_another_strategys_trade(self, handle: StrategyHandle, intent: KernelIntent) -> None:
        """Raises ValueError naming ``trade_id`` when ``intent`` names another strategy's trade:
        by its id, or as an EXIT or CANCEL without one on its slot (the kernel takes that for
        the slot's trade). The kernel takes any trade id its slot holds, so a hand-built intent
        exited or canceled another strategy's trade, whose fills reached a strategy that never
        asked; the helpers (`exit`, `cancel`) were refused, `submit` was not."""
        trade_id = intent.trade_id
        if not trade_id and intent.action.name != "ENTER" and 0 <= intent.slot_id < self.kernel.max_slots:
            trade_id = self.kernel.slot_state(intent.slot_id).trade_id
        owner = self._owner_of(trade_id)
        if owner is not None and owner is not handle:
            raise ValueError(
                f"trade_id={trade_id!r} (slot {intent.slot_id}) belongs to strategy "
                f"{owner.strategy.name!r}: strategy {handle.strategy.name!r} may not "
                f"{intent.action.name.lower()} it"
            )

    def _refuse_a_held_trade_id(self, handle: StrategyHandle, intent: KernelIntent) -> None:
        """Raises ValueError naming ``trade_id`` when a hand-built ENTER reuses the id of a trade
        the strategy still holds, or takes one of the ids another strategy's trades are given
        (``<name>-t<n>``). The kernel takes the first into a second slot, and the runtime, which
        knows a trade by its id, lost track of one of the two: the fill that closed the second
        never reached the strategy, and ``busy`` stayed true for good. The second made the other
        strategy's own ``buy`` raise once it came to that id, putting it in ERROR."""
        if intent.action.name != "ENTER":
            return
        trade_id = intent.trade_id
        if self._owner.get(trade_id) is handle:
            raise ValueError(
                f"trade_id={trade_id!r} is an open trade of strategy {handle.strategy.name!r}: "
                f"an ENTER (slot {intent.slot_id}) needs a new trade id (buy and sell make one)"
            )
        named = _TRADE_ID.fullmatch(trade_id)
        if named is not None and named[1] != handle.name and named[1] in self.handles:
            raise ValueError(
                f"trade_id={trade_id!r} is of the form the runtime gives strategy {named[1]!r}'s "
                f"trades ({named[1]}-t<n>): strategy {handle.strategy.name!r} may not enter it"
            )

    def submit(self, strategy: Strategy[Any], intent: KernelIntent) -> KernelOutcome:
        handle = self.handles.get(strategy.name)
        if handle is None or handle.strategy is not strategy:
            raise RuntimeError(f"strategy {strategy.name!r} is not attached to this runtime")
        if handle.status in (StrategyStatus.STOPPED, StrategyStatus.ERROR):
            raise RuntimeError(f"strategy {strategy.name!r} is {handle.status.value} and cannot trade")
        if not isinstance(intent, KernelIntent):
            # Not a bare AttributeError from reading its trade id.
            raise TypeError(
                f"submit takes a dita.KernelIntent, got {type(intent).__name__}: "
                f"{shortened(repr(intent), 120)}"
            )
        self._refuse_another_strategys_trade(handle, intent)
        self._refuse_a_held_trade_id(handle, intent)
        what = f"its {intent.action.name} {intent.intent_id!r}"
        self._refuse_on_closed_kernel(what)
        self._sync_before(f"strategy {handle.name!r}'s submit")
        if handle.status in (StrategyStatus.STOPPED, StrategyStatus.ERROR):
            # Stopped or failed by what that routed (its own on_fill raising, its entries
            # canceled): sent, the order was an entry nobody would cancel or exit.
            raise RuntimeError(f"strategy {strategy.name!r} is {handle.status.value} and cannot trade")
        self._refuse_on_closed_kernel(what)  # closed meanwhile (another thread)
        if handle.max_slots is not None and intent.action.name == "ENTER":
            # Counted after the hand-over above: a held-back bar may have closed one of its trades.
            held = handle.slots_held()
            if held >= handle.max_slots:
                return self._refuse_past_budget(handle, intent, held)
        self.sync_marks()
        for check in self.intent_checks:
            check(intent)
        handle.intents += 1
        self.stats["intents"] += 1
        self._calls += 1
        try:
            return self._take(handle, intent)
        finally:
            self._left_calls()

    def _refuse_past_budget(self, handle: StrategyHandle, intent: KernelIntent, held: int) -> KernelOutcome:
        """The runtime's refusal of ``handle``'s ENTER ``intent``, its trades holding ``held`` slots of
        its budget: counted and told to the intent listeners as the kernel's refusals are, and
        never sent (the kernel records nothing)."""
        kernel = self.kernel
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
        # It reads as a refused KernelOutcome (which only the kernel makes): typed as one, so a
        # strategy's helpers keep one return type.
        outcome = cast("KernelOutcome", refusal)
        handle.intents += 1
        handle.refused += 1
        self.stats["intents"] += 1
        self.stats["refused"] += 1
        errors: list[Exception] = []
        for listener in self.intent_listeners:
            _tell(errors, listener, intent, outcome)
        _raise_first(errors)
        return outcome

    def _sync_before(self, call: str) -> None:
        """``sync_venues()`` before ``call`` (a strategy's submit or report_edge, an intent of
        the run's own). What it raises is no fault of the caller's: a venue's raising on the
        held-back data, the kernel's error (not busy) on a waiting venue event, a listener's
        while one was routed. Raised from the call, it put the strategy that happened to submit
        in ERROR (its order never sent, its entries canceled), and a failed strategy's entry
        cancel was never sent. It is logged at ERROR with its traceback, counted in
        ``stats["sync_errors"]``, and the call is made all the same."""
        try:
            self.sync_venues()
        except Exception as exc:
            self.stats["sync_errors"] += 1
            log.error(
                "handing the venues the held-back market data and the kernel the waiting venue events"
                " (sync_venues) before %s raised %s: %s; no fault of the caller's, which is made all"
                " the same",
                call,
                type(exc).__name__,
                shortened(str(exc), 300),
                exc_info=exc,
            )

    def _take(self, handle: StrategyHandle, intent: KernelIntent) -> KernelOutcome:
        """The kernel takes a strategy's ``intent`` and its answer is routed (``submit``)."""
        before = self._slots_orders(intent)
        outcome: KernelOutcome = self.kernel.process_intent(intent)
        # A listener that raises is raised once the runtime has booked the intent: raised at
        # once, the trade the kernel took had no owner (its fills reached no strategy) and its
        # order did not count as working (the venues were no longer handed the data).
        errors: list[Exception] = []
        for listener in self.intent_listeners:
            _tell(errors, listener, intent, outcome)
        if not outcome.accepted:
            handle.refused += 1
            self.stats["refused"] += 1
            _raise_first(errors)
            return outcome
        if intent.action.name == "ENTER":
            self._owner[intent.trade_id] = handle
            handle.strategy._track_open(intent.asset, intent.slot_id)
        order = outcome.order
        if order is not None and order.status.name not in TERMINAL_STATUSES:
            self._working.add(order.client_order_id)
        try:
            self._route_answer(booked_events(outcome), order, before)
        except Exception as exc:
            errors.append(exc)
        _raise_first(errors)
        return outcome

    def report_edge(self, asset: str, edge_bps: float) -> KernelOutcome:
        """Tell the kernel's risk guard the measured edge; a freeze cancels working orders,
        whose venue answers are routed like any other event."""
        self._refuse_on_closed_kernel(f"the edge of {asset!r} reported")
        self._sync_before("report_edge")
        self._calls += 1
        try:
            before = self.kernel.open_orders()  # a freeze cancels them, and may end them settled
            outcome: KernelOutcome = self.kernel.on_edge_update(asset, edge_bps, self.now())
            self._route_answer(booked_events(outcome), before=before)
        finally:
            self._left_calls()
        return outcome

    def operator_intent(self, intent: KernelIntent) -> KernelOutcome:
        """An intent of the run's own, not a strategy's (the backtest's cancel of a blown
        account's working entries, the runtime's of a failed strategy's): the kernel's answer
        is routed to the listeners and the strategies owning the trades, as the answer to a
        strategy's own intent is; a listener's error is raised once it is routed."""
        errors: list[Exception] = []
        outcome = self._operator_intent(intent, errors)
        _raise_first(errors)
        return outcome

    def _operator_intent(self, intent: KernelIntent, errors: list[Exception]) -> KernelOutcome:
        """The body of ``operator_intent``: what routing the kernel's answer raised (a
        listener's error) is added to ``errors``, the outcome returned."""
        self._sync_before(f"the run's own intent {shortened(repr(getattr(intent, 'intent_id', intent)))}")
        self._calls += 1
        try:
            before = self._slots_orders(intent)
            outcome: KernelOutcome = self.kernel.process_intent(intent)
            if outcome.accepted:
                try:
                    self._route_answer(booked_events(outcome), outcome.order, before)
                except Exception as exc:
                    errors.append(exc)
        finally:
            self._left_calls()
        return outcome

    def _slots_orders(self, intent: KernelIntent) -> list[Any]:
        """The orders working on the slot of ``intent`` (one that is not an ENTER: a cancel, an
        exit), read before the kernel takes it: the venue's answer may end them settled (a
        cancel's ack stating the filled size), after which no list of the kernel's holds them.
        Nothing for what is no KernelIntent: the kernel refuses it, saying what it expects (read
        here first, it raised AttributeError)."""
        if not isinstance(intent, KernelIntent):
            return []
        slot_id = intent.slot_id
        if intent.action.name == "ENTER" or not 0 <= slot_id < self.kernel.max_slots:
            return []
        slot = self.kernel.slot_state(slot_id)
        return [o for o in (slot.active_entry_order, slot.active_exit_order) if o is not None]

    def _route_answer(self, events: list[VenueEvent], sent: Any = None, before: Sequence[Any] = ()) -> None:
        """Route the events a venue answered a call with (a submit's ack and fills, a freeze's
        cancels); ``sent``: the order the call sent, which tells what its events leave out;
        ``before``: the kernel's orders the call may have ended, read before it (an event naming
        one by the venue's id alone takes what it leaves out from it). A
        ``poll_venues()`` asked for while they are routed (a strategy's ``on_fill``, a listener)
        is made once they all are, as within a poll: made at once, its events reached everyone
        before the rest of the answer's. Inside a poll's routing, that poll makes it."""
        if self._polling or self._answering:
            self._after_events(events, set(), sent=sent, before=before)
            return
        self._answering = True
        try:
            self._after_events(events, set(), sent=sent, before=before)
        finally:
            self._answering = False
        if self._poll_again:
            self.poll_venues()

    def _route_taken(
        self, event: VenueEvent, outcome: KernelOutcome, order: Any, seen: set[str], errors: list[Exception]
    ) -> None:
        """Route ``event``, which a venue reported later (polled, or answering market data)
        and the kernel took, and what the kernel sent on its own meanwhile; ``order``: the
        kernel's order it names, read before the kernel took it (``_order_named``). A
        listener's error is added to ``errors``."""
        # A rate limit is refused, yet it ends an order the venue never acknowledged (or is a
        # throttled cancel): routed, as a venue's answer routes it.
        if not outcome.applied:
            return
        seen.add(event.event_id)
        booked, *emitted = booked_events(outcome, [event])
        try:
            self._after_events([booked], set(), {event.event_id: order} if order is not None else None)
            # The kernel may act on its own (e.g. send the next exit leg): follow that too.
            follow = [e for e in emitted if e.event_id not in seen]
            if follow:
                self._after_events(follow, seen)
        except Exception as exc:
            errors.append(exc)

    def poll_venues(self) -> list[VenueEvent]:
        """Ask each venue that reports later (``polled_venues``: a callable ``poll_events``;
        a router once, which asks those behind it) for its news, and route every event as the
        venue's other events are: to the kernel, the listeners and the strategy owning the
        trade (``on_fill``), in ``stats``. Returns the events the venues gave.

        Data points call it while orders work (see the class docstring), and ``finish()``
        once; a live loop that may go a while without data calls it itself, every
        ``poll_interval`` say, or a resting order's fill waits for the next data point. A poll
        that raises or gives what is not a list of events (or an item that is no
        ``VenueEvent``) is logged at WARNING and counted in ``stats["venue_poll_errors"]``,
        and the rest goes on: the next poll may answer. A listener's error is raised once
        every event is routed, as for a data point's.

        A venue reports each event once, so one the kernel raises on is not lost: busy in
        another thread's call, it and those after it are kept (a WARNING, counted in
        ``stats["venue_poll_errors"]``, not raised), the venues not asked meanwhile, and
        given to the kernel first at the next poll, before the venue is asked for more. Taking
        no more input (closed, its write-ahead log failed), they are named in an ERROR, for
        reconciliation, the venues are polled no more, and the kernel's error is raised once
        what it took is routed. Another error of the kernel's keeps them too, and is raised.

        Called while a poll's events are being routed (from a strategy's ``on_fill`` or a
        listener), it polls nothing then and returns []: the running poll polls again once its
        own events are all routed, and returns that poll's events with its own. Called while a
        venue's answer to a submit (or a freeze's cancels) is being routed, it returns [] too,
        and the poll is made once that answer is routed, its events routed as any poll's. Polled at once,
        the later poll's events reached everyone before the rest of the earlier poll's. At most
        ``POLL_ROUNDS`` polls a call: one asked for past them is logged at WARNING and made by
        the next poll, which the next data point makes at once (not ``poll_interval`` later).

        Under the wall clock the next data point's poll comes ``poll_interval`` after this
        call ends (all its polls made and routed), not after it started."""
        if self._polling or self._answering:
            self._poll_again = True
            return []
        if self._input_ended:
            return []  # the kernel takes no more input: the venues' news would be lost
        self._polling = True
        self._calls += 1
        polled: list[VenueEvent] = []
        errors: list[Exception] = []
        rounds = 0
        left = False  # a poll asked for past POLL_ROUNDS, left to the next poll
        try:
            again = True
            while again:
                self._poll_again = False
                rounds += 1
                # The kernel raising on an event: the other venues keep their news (each of
                # their events would wait as long on a busy kernel) for the next poll.
                held = not all(self._poll_venue(venue, polled, errors) for venue in self.polled_venues)
                again = self._poll_again and rounds < POLL_ROUNDS and not held
                left = self._poll_again and not again and not held
        finally:
            self._polling = self._poll_again = False
            # From the end: a poll slower than the interval had every data point poll again.
            # One asked for and not made: the next data point makes it at once.
            self._poll_at = -math.inf if left else time.monotonic() + self.poll_interval
            self._left_calls()
        if left:
            log.warning(
                "%d polls of the venues in one poll_venues() call, each asked for while the one "
                "before's events were routed (a strategy's on_fill or a listener): the one asked "
                "for last is left to the next poll",
                rounds,
            )
        _raise_first(errors)
        return polled

    def _poll_venue(self, venue: Any, polled: list[VenueEvent], errors: list[Exception]) -> bool:
        """Give the kernel the events of ``venue`` it raised on at an earlier poll, then, once it
        took them all, the venue's news (added to ``polled``). False when the kernel raised on
        one (``_kernel_raised``)."""
        unapplied = self._unapplied.setdefault(id(venue), PolledEvents())
        if unapplied.waiting and not self._give_kernel(unapplied, [], errors):
            return False  # the venue keeps its newer news, which comes after them
        events = self._poll_one(venue)
        polled.extend(events)
        self.stats["venue_events"] += len(events)
        return self._give_kernel(unapplied, events, errors)

    def _give_kernel(
        self, unapplied: PolledEvents, events: list[VenueEvent], errors: list[Exception], answer: bool = False
    ) -> bool:
        """Give the kernel the events waiting in ``unapplied``, then ``events`` (a poll's, or
        with ``answer`` a venue's answer to market data), each it takes routed
        (``_route_taken``): an error of a listener's, or the kernel's ValueError on one
        (skipped), is added to ``errors`` and the next event is still taken. False when the
        kernel raised otherwise (``_kernel_raised``): that event and those after it wait in
        ``unapplied``; the ``STUCK_AFTER``-th time in a row on one event, not busy, it is set
        aside instead (``PolledEvents``), counted in ``stats["venue_events_stuck"]``, and the
        rest taken. The strategies hear the fills (``on_fill``) once the kernel took them all:
        heard as each was booked, an intent sent from ``on_fill`` reached the kernel before the
        rest of what the venue had reported (the fill ending the order it meant to close)."""
        seen: set[str] = set()
        named: list[Any] = [None]

        def before(event: VenueEvent) -> None:
            named[0] = self._order_named(event)  # read before the kernel may end the order

        def applied(event: VenueEvent, outcome: KernelOutcome) -> None:
            self._route_taken(event, outcome, named[0], seen, errors)

        def unfit(event: VenueEvent, exc: Exception) -> None:
            errors.append(exc)

        def set_aside(event: VenueEvent, exc: Exception) -> None:
            self.stats["venue_events_stuck"] += 1  # named at ERROR by ``unapplied``

        # The fills' on_fill calls wait for the rest (``_tell_fills``), unless a call of them
        # runs already (an intent sent from one), which makes these after it.
        telling = self._telling
        self._telling = True
        try:
            try:
                unapplied.take(self.kernel, events, applied, unfit, before, set_aside)
            except Exception as exc:
                self._kernel_raised(exc, errors, unapplied if answer else None)
                taken = False
            else:
                taken = True
        finally:
            self._telling = telling
        self._tell_fills()
        return taken

    def _kernel_raised(
        self, exc: Exception, errors: list[Exception], answered: PolledEvents | None = None
    ) -> None:
        """The kernel raised on a polled event, or with ``answered`` on an event of a venue's
        answer to market data, kept with those after it (``_unapplied``). Busy: logged, they are
        given to it first at the next poll, or before the venue's next data. Taking no more
        input: they are named in the log, for reconciliation, the venues are polled, and handed
        data, no more (what they gave could not be applied either, and would be lost), and
        ``exc`` is raised once what the kernel took is routed; so is another error of the
        kernel's, the events kept."""
        self.stats["venue_poll_errors" if answered is None else "venue_data_errors"] += 1
        failure = f"{type(exc).__name__}: {shortened(str(exc), 300)}"
        if input_stopped(self.kernel, exc):
            self._input_ended = failure
            dropped = [d for d in (u.drop() for u in self._unapplied.values()) if d]
            log.error(
                "the kernel takes no more input (%s): the venues are polled, and handed market data, no"
                " more; the venue events they gave and the kernel did not apply, to reconcile (a new"
                " kernel on its wal_dir runs reconcile_with_venue): %s",
                failure,
                ", ".join(dropped) or "none",
            )
            errors.append(exc)
            return
        busy = kernel_busy(exc)
        level = logging.WARNING if busy else logging.ERROR
        if answered is None:
            log.log(
                level,
                "taking a polled venue event raised %s: the %d not taken (it and those after it) are"
                " kept, given to the kernel first at the next poll (the venues asked for more once they"
                " are)%s",
                failure,
                sum(len(u.waiting) for u in self._unapplied.values()),
                "" if busy else f"; raised on {STUCK_AFTER} times in a row, it is set aside",
            )
        else:
            log.log(
                level,
                "taking the venue events answering market data raised %s: %s (it and those after it)"
                " kept, given to the kernel first before the venue's next data (or at a submit,"
                " sync_venues(), finish())%s",
                failure,
                shortened(answered.described(), 600),
                "" if busy else f"; raised on {STUCK_AFTER} times in a row, it is set aside",
            )
        if not busy:
            errors.append(exc)

    def _poll_one(self, venue: Any) -> list[VenueEvent]:
        """One call of ``venue.poll_events``: the venue events it gave (what failed is logged
        and counted, see ``poll_venues``)."""
        answer, problem = poll_once(venue.poll_events)
        if problem:
            self._poll_failed(venue, problem)
        events = [e for e in answer if isinstance(e, VenueEvent)]
        if len(events) < len(answer):
            odd = next(e for e in answer if not isinstance(e, VenueEvent))
            self._poll_failed(
                venue,
                f"the venue's poll_events gave {len(answer) - len(events)} item(s) that are not "
                f"venue events (skipped), the first a {type(odd).__name__}: {shortened(repr(odd), 120)}",
            )
        return events

    def _poll_failed(self, venue: Any, problem: str) -> None:
        self.stats["venue_poll_errors"] += 1
        log.warning("venue %r: %s; polled again later", describe(venue), shortened(problem, 300))

    def _poll_for_point(self) -> None:
        """Poll the venues that report later before the strategies hear a data point, while
        orders work or the kernel awaits the fills of an ended order (``awaited_orders``: a
        cancel that counted a fill the venue reports later): under the wall clock once
        ``poll_interval`` has passed since the last poll."""
        if self._wall and time.monotonic() < self._poll_at:
            return
        # Not only the working orders: a venue that ended an order with more filled than its
        # trades showed yet (CcxtVenue) reports that fill from a later poll, after the end; one
        # that ended it without a filled size asks about it on, and reports a fill that raced
        # the cancel from a poll (``following``).
        if (
            self._working
            or getattr(self.kernel, "awaited_orders", list)()
            or any(venue_following(v) for v in self.polled_venues)
            or any(u.waiting for u in self._unapplied.values())
        ):
            self.poll_venues()

    def reconcile_with_venue(
        self, *, cancel_unknown: bool = True, only_in_doubt: bool = False, ended_lookups: int = ENDED_LOOKUPS
    ) -> ReconciliationReport:
        """Reconcile the kernel with its venue (``dita.reconcile``) while this runtime runs: the
        events reconciliation applies (a missed fill, an order's end, a lost submit's REJECT)
        reach the listeners and the strategies owning their trades, as a venue's own events
        do. Called on the kernel directly, they did not: a strategy whose lost submit was
        ended stayed busy for good, and a missed fill never reached its ``on_fill``.

        The venues are handed the deferred market data first, so they answer as of now.
        Raises what ``reconcile_with_venue`` raises (nothing changed); a listener's error is
        raised once every event is routed."""
        self.sync_venues()
        self._calls += 1
        try:
            return self._reconcile(cancel_unknown, only_in_doubt, ended_lookups)
        finally:
            self._left_calls()

    def _reconcile(
        self, cancel_unknown: bool, only_in_doubt: bool, ended_lookups: int
    ) -> ReconciliationReport:
        """The body of ``reconcile_with_venue``."""
        taken: list[tuple[VenueEvent, KernelOutcome]] = []
        report = reconcile_with_venue(
            self.kernel,
            cancel_unknown=cancel_unknown,
            on_applied=lambda ev, out: taken.append((ev, out)),
            clock=self.now,  # the data's time in a replay, as the kernel's other inputs
            only_in_doubt=only_in_doubt,
            ended_lookups=ended_lookups,
        )
        # One batch, in the order taken, with what the kernel did of its own on each: the
        # slots are read after all of it, as for a submit's answer (see _after_events).
        batch: list[VenueEvent] = []
        ids: set[str] = set()
        for event, outcome in taken:
            for ev in booked_events(outcome, [event]):
                if ev.event_id not in ids:
                    ids.add(ev.event_id)
                    batch.append(ev)
        self.stats["venue_events"] += len(taken)
        self._after_events(batch, set())
        return report

    def _settle_doubts(self) -> None:
        """Reconciles the kernel with its venue while it holds orders in doubt (rules 13: rate
        limited before the venue acknowledged them, with a cancel asked): their slots take no
        new order until their status is known, and nothing else asks the venue for it. Not at
        once (the venue just throttled), then again, waiting twice as long each time, while one
        is left in doubt. Only those orders are settled (``only_in_doubt``): the working orders,
        orders nobody manages and positions are left alone. Called between data points, every
        DOUBT_POLL_SECONDS of the runtime's time; a reconciliation that raises (a listener's
        error) is logged and raised, its next attempt already set."""
        now = self.now()
        doubts: list[Any] = getattr(self.kernel, "orders_in_doubt", list)()
        if not doubts:
            self._no_doubts(now)
            return
        if not self._doubting:
            self._doubting = True
            self._doubt_at = now + self._doubt_wait
            return
        ids = ", ".join(o.client_order_id for o in doubts)
        self.stats["doubt_reconciliations"] += 1
        # The next attempt is set first: one that raises (a listener's error, re-raised once
        # the events are routed) must not have the next data point ask the venue again.
        self._doubt_wait = min(self._doubt_wait * 2, DOUBT_MAX_WAIT)
        self._doubt_at = now + self._doubt_wait
        try:
            report = self.reconcile_with_venue(cancel_unknown=False, only_in_doubt=True)
        except VenueUnavailable as exc:
            log.warning("orders in doubt (%s) not reconciled: %s", ids, exc)
            return
        except Exception as exc:
            log.warning("orders in doubt (%s): reconciling raised %s: %s", ids, type(exc).__name__, exc)
            raise
        left = {o.client_order_id for o in self.kernel.orders_in_doubt()}
        settled = ", ".join(a["client_order_id"] for a in report.awaited_settled) or "none"
        if not left:
            log.warning("orders in doubt (%s) reconciled with the venue: settled %s", ids, settled)
            self._no_doubts(now)
            return
        reasons = "; ".join(
            f"{u['client_order_id']}: {u.get('reason', '')}"
            for u in report.unresolved
            if u.get("client_order_id") in left
        )
        log.warning(
            "orders in doubt (%s) reconciled with the venue: settled %s; still in doubt: %s",
            ids,
            settled,
            reasons or ", ".join(sorted(left)),
        )

    def _no_doubts(self, now: float) -> None:
        """No order is in doubt (any more): look again in DOUBT_POLL_SECONDS, and wait the
        first wait before reconciling one seen next."""
        self._doubt_at, self._doubt_wait, self._doubting = now + DOUBT_POLL_SECONDS, DOUBT_FIRST_WAIT, False

    def _entry_in_doubt(self, trade_id: str) -> bool:
        """Whether trade ``trade_id``'s order is in doubt (``orders_in_doubt``): its slot is
        free, yet the trade is not over."""
        doubts: list[Any] = getattr(self.kernel, "orders_in_doubt", list)()
        return any(o.trade_id == trade_id for o in doubts)

    def _kernel_works(self, event: VenueEvent) -> bool:
        """Whether the order ``event`` names is one the kernel still works: a fill or ack the
        venue sends after the order ended (a fill racing a cancel) says "partially filled" of
        an order that is over. Asked once per order the runtime has not seen working."""
        if not 0 <= event.slot_id < self.kernel.max_slots:
            return True  # the event does not say where: as the venue says
        slot = self.kernel.slot_state(event.slot_id)
        coid = event.venue_client_id
        working = (slot.active_entry_order, slot.active_exit_order)
        return any(o is not None and o.client_order_id == coid for o in working)

    def _names_order(self, event: VenueEvent) -> bool:
        """Whether ``event`` names its order: its client id, trade and slot."""
        return bool(event.venue_client_id and event.trade_id and 0 <= event.slot_id < self.kernel.max_slots)

    def _names_whole(self, event: VenueEvent) -> bool:
        """Whether ``event`` names its order whole: its client id, trade, slot, asset and side
        (a strategy's trades are tracked by asset: an end routed with a blank one freed none)."""
        return bool(event.asset and event.side is not None and self._names_order(event))

    def _order_named(self, event: VenueEvent, before: Sequence[Any] = ()) -> Any:
        """The kernel's order an event names by the venue's id alone (no client id, trade or
        slot: the kernel books it all the same), read before the kernel takes the event and
        perhaps ends the order: one working, or one ended whose fills the kernel awaits (a
        cancel that counted a fill reported later) or takes (one ended without the venue's
        figure: a fill that raced its cancel), or else one of ``before`` (the orders a call's
        answer may have ended, read before the call). None when the event names its order whole
        (the usual case, nothing read) or no such order is there."""
        if self._names_whole(event):
            return None
        by_client, by_venue = event.venue_client_id, event.venue_order_id
        kernel = self.kernel
        # Ended ones too, whose late fills the kernel takes: awaited, or ended without a figure.
        ended = ("awaited_orders", "orders_ended_without_figure")
        lists = (kernel.open_orders, *(getattr(kernel, name, list) for name in ended), lambda: before)
        for order in (o for orders in lists for o in orders()):
            if (by_client and order.client_order_id == by_client) or (
                by_venue and order.venue_order_id == by_venue
            ):
                return order
        return None

    def _as_booked(self, event: VenueEvent, whole: Any, sent: Any = None) -> VenueEvent:
        """``event`` as the kernel booked it, for routing: the client id, trade, slot, asset and
        side it leaves out taken from ``whole``, the order it names (``_order_named``) or an
        event of the same answer that named that order whole (its ack). The event itself when
        nothing says more (``_after_events`` asks only for an event not named whole). ``sent``:
        the order a submit's answer is to, whose side an event of it naming that order takes
        when nothing else gave one (an ack that named none lent none)."""
        changes: dict[str, Any] = {}
        if whole is not None:
            client_id = getattr(whole, "client_order_id", None) or whole.venue_client_id
            if not event.venue_client_id:
                changes["venue_client_id"] = client_id
            if not event.trade_id:
                changes["trade_id"] = whole.trade_id
            if not 0 <= event.slot_id < self.kernel.max_slots:
                changes["slot_id"] = whole.slot_id
            if not event.asset:
                changes["asset"] = whole.asset
            if event.side is None:
                changes["side"] = whole.side
        if (
            changes.get("side", event.side) is None
            and sent is not None
            and changes.get("venue_client_id", event.venue_client_id) == sent.client_order_id
        ):
            changes["side"] = sent.side
        if not changes.get("asset", event.asset):
            # Nothing lent one (an ack of the answer that named none either, or no order tells
            # more, as when the event ended its order): the slot holding its trade tells it.
            asset = self._slots_asset(
                changes.get("trade_id", event.trade_id), changes.get("slot_id", event.slot_id)
            )
            if asset:
                changes["asset"] = asset
        return VenueEvent(**{**event.to_dict(), **changes}) if changes else event

    def _slots_asset(self, trade_id: str, slot_id: int) -> str:
        """The asset of slot ``slot_id`` when it holds trade ``trade_id`` (the kernel booked the
        event there); "" otherwise."""
        if not trade_id or not 0 <= slot_id < self.kernel.max_slots:
            return ""
        slot = self.kernel.slot_state(slot_id)
        return str(slot.asset) if slot.trade_id == trade_id else ""

    def _after_events(
        self,
        events: list[VenueEvent],
        seen: set[str],
        named: Mapping[str, Any] | None = None,
        sent: Any = None,
        before: Sequence[Any] = (),
    ) -> None:
        """Route ``events`` the kernel took to the listeners and the strategies owning their
        trades. A listener that raises is raised after all of them are routed: at once, the
        strategies did not hear of the rest (a fill, a freed slot)."""
        kernel = self.kernel
        errors: list[Exception] = []
        # The slot is read after the kernel took every event of the batch: when one answer
        # fills an exit in several trades, each fill finds the trade over. Its owner is kept
        # for the batch's later fills, and only the last fill says it closed the trade.
        freed: dict[str, StrategyHandle] = {}
        # An event naming its order by the venue's id alone is routed as the kernel booked it
        # (``_as_booked``): by the order ``named`` for it (by event id), or else by an event of
        # the batch that named that venue id's order whole.
        if not all(self._names_whole(e) for e in events):
            acks = {e.venue_order_id: e for e in events if e.venue_order_id and self._names_order(e)}
            given = named or {}

            def lender(e: VenueEvent) -> Any:
                """What tells ``e``'s order: one named for it, an ack naming that order whole,
                the kernel's order of that id (or one the call ended, read before it), or else an
                ack naming it in part (no side)."""
                ack = acks.get(e.venue_order_id)
                if ack is not None and self._names_whole(ack):
                    return ack
                return self._order_named(e, before) or ack

            events = [
                e if self._names_whole(e) else self._as_booked(e, given.get(e.event_id) or lender(e), sent)
                for e in events
            ]
        for i, event in enumerate(events):
            seen.add(event.event_id)
            for on_event in self.event_listeners:
                _tell(errors, on_event, event)
            status = event.status.name if event.status is not None else ""
            # A rate limit says REJECTED, yet on an order the venue holds it is a throttled
            # cancel: the kernel works the order on, and so it is polled for.
            if status in TERMINAL_STATUSES and not (event.kind == RATE_LIMITED and self._kernel_works(event)):
                self._working.discard(event.venue_client_id)
            elif (
                status in ("ACKNOWLEDGED", "PARTIALLY_FILLED", "NEW")
                and event.venue_client_id
                and event.venue_client_id not in self._working
                and self._kernel_works(event)
            ):
                self._working.add(event.venue_client_id)
            kind = event.kind
            if kind != FILL and status not in TERMINAL_STATUSES:
                continue
            handle = self._owner.get(event.trade_id) or freed.get(event.trade_id)
            # An event the kernel took that names no slot, nor an order that tells it (above): its
            # trade's owner hears it, the slot it frees unknown.
            slot = kernel.slot_state(event.slot_id) if 0 <= event.slot_id < kernel.max_slots else None
            free = slot is not None and slot.fsm_state.name in FREE_STAGES
            if (
                slot is not None
                and handle is None
                and kind == FILL
                and not free
                and slot.trade_id == event.trade_id
            ):
                # A late fill gave a freed trade its position back: its strategy holds it again.
                handle = self._released.pop(event.trade_id, None)
                if handle is not None:
                    self._owner[event.trade_id] = handle
                    handle.strategy._track_open(event.asset, event.slot_id)
            if kind == FILL:
                self.stats["fills"] += 1
                # The kernel marks a trade only when told a price: one this fill opened (or
                # grew) has not been, so the asset's next sync marks it, moved price or not.
                self._marked.pop(event.asset, None)
                for listener in self.fill_listeners:
                    _tell(errors, listener, event, self.row)
            if handle is None:
                continue
            strategy = handle.strategy
            if free and kind == RATE_LIMITED and self._entry_in_doubt(event.trade_id):
                # Its entry is in doubt: the venue may work it and fill it, and the slot takes no
                # other order. Freed here (as a poll heard it), the strategy read not busy and its
                # slot budget counted one less: it entered again, and the late fill put it past.
                free = False
            if free:
                strategy._track_free(event.asset, event.slot_id)
                self._owner.pop(event.trade_id, None)
                freed[event.trade_id] = handle
                self._released[event.trade_id] = handle
                if len(self._released) > RELEASED_MEMORY:
                    del self._released[next(iter(self._released))]
            if kind == FILL:
                handle.fills += 1
                side = event.side.name if event.side is not None else ""
                later = events[i + 1 :]
                closed = free and not any(e.kind == FILL and e.trade_id == event.trade_id for e in later)
                fill = Fill(
                    event.trade_id,
                    event.slot_id,
                    event.asset,
                    side,
                    event.price,
                    event.size,
                    event.fee,
                    event.timestamp,
                    closed,
                )
                fills = strategy.fills
                fills.append(fill)
                strategy.fills_total += 1
                kept = self.fills_kept
                if kept is not None and len(fills) >= 2 * kept:
                    del fills[:-kept]  # trimmed now and then, so each fill costs O(1)
                self._fill_calls.append((handle, fill))
        self._tell_fills()
        _raise_first(errors)

    def _tell_fills(self) -> None:
        """Call ``on_fill`` for each fill booked, oldest first, once every event of the batch
        is booked; called again from one (a strategy's intent answered), it leaves the new
        fills to the running call, after the rest. Made as each fill was booked, an intent a
        strategy sent from ``on_fill`` was routed in the middle of the answer: an exit sent
        from the first of two entry fills freed the trade, and the second found no owner (the
        strategy never heard it); a buy sent from the first of two exit fills took the freed
        slot, and the last exit fill did not say ``closed``."""
        if self._telling:
            return
        self._telling = True
        calls = self._fill_calls
        try:
            while calls:
                handle, fill = calls.popleft()
                # Stopped, or failed, by an earlier callback: it hears no more.
                if handle.status in (StrategyStatus.RUNNING, StrategyStatus.PAUSED):
                    self._call(handle, "on_fill", fill)
        finally:
            self._telling = False
            calls.clear()  # what a KeyboardInterrupt left: kept in ``fills``, not heard later

    @property
    def data_points(self) -> int:
        return self.row + 1

    @property
    def working_orders(self) -> int:
        return len(self._working)

    # -- feeds ---------------------------------------------------------------------------

    def on_bar(self, bar: Bar) -> None:
        """One bar: venues first (fills of working orders), then subscribed strategies. A bar
        the venues would refuse (no asset name, not numbers, not finite, inconsistent, earlier
        than the clock) or the kernel would (a price above its bound of 1e15: the venues would
        fill at it and the kernel refuse the fill; slippage may still take a fill from just
        under the bound past it) raises ValueError naming the field before
        anything changes, deferred or not; a plain 7-field tuple is read as a Bar, what is not a
        bar at all (a dict, a pandas row with its index) raises TypeError. The kernel busy
        (another thread's call) on an event the venues answer with: logged, counted in
        ``stats["venue_data_errors"]``, and it waits with those after it for the venue's next
        data (``_to_venues``); taking no more input, the venues get no more data and the
        kernel's error is raised once the rest is routed. A runtime not
        started yet is started first: ``on_start`` comes before the first data point.
        Handed over while one is being handed out (from a strategy's callback or a listener),
        it raises RuntimeError and changes nothing."""
        self._hand_out("on_bar", self._on_bar, bar)

    def _held_back(self, point: Bar | Quote) -> list[Bar | Quote]:
        """The data held back from the venues (``sync_venues``) in time order, then ``point``."""
        if not (self._pending or self._unhanded):
            return [point]
        held = self._take_held_back()
        held.append(point)
        return held

    def _hand_out(self, call: str, body: Callable[[Any], None], point: Any) -> None:
        """``body(point)``, refused (RuntimeError) while another data point is being handed out."""
        if self._feeding:
            raise RuntimeError(_REENTERED.format(call=call))
        self._feeding = True
        try:
            body(point)
        finally:
            self._feeding = False

    def _on_bar(self, bar: Bar) -> None:
        """The body of ``on_bar``."""
        if type(bar) is not Bar and not isinstance(bar, Bar):
            if not (isinstance(bar, tuple) and len(bar) == 7):
                raise TypeError(_not_a("on_bar", bar, Bar))
            # Read as a Bar: kept as a plain tuple, it reached the strategies as one (no
            # ``bar.close``) and, as the asset's mark, failed every later order and finish().
            bar = Bar(*bar)
        asset, ts, open_, high, low, close, volume = bar
        # One chained comparison per bar; NaN fails every one of them, most values that are not
        # numbers raise (the venues refuse both). A Decimal compares with floats, so the types
        # are looked at too: all floats at once, anything else number by number.
        try:
            sound = (
                self._now <= ts < _INF
                and 0 < low <= open_ <= high <= KERNEL_MAX
                and low <= close <= high
                and 0 <= volume < _INF
            )
        except TypeError:
            sound = False
        if not (
            sound
            and isinstance(asset, str)
            and asset
            and (asset in self._last or not _asset_flaw(asset))
            and (
                float is type(ts) is type(open_) is type(high) is type(low) is type(close) is type(volume)
                or _numbers_real(bar)
            )
        ):
            raise ValueError(_bar_problem(bar, self._now))
        if self._bar_at.get(asset) == ts:
            # The venues refuse it (their fills of its volume share would count twice): refused
            # after the strategies heard it, or, held back, taken, a row heard and traded twice.
            raise ValueError(
                f"bar for {shortened(repr(asset))} at ts {ts!r}: a bar of that asset and ts was "
                "handed already; a bar is handed once"
            )
        if not self._started:
            self.start()
        self._now = ts
        self.row += 1
        self._last[asset] = bar
        self._bar_at[asset] = ts
        errors = self._before_strategies(bar, ts)
        handlers = self._bar_handlers.get(asset)
        if handlers is None:
            handlers = self._bar_handlers[asset] = self._handlers_for(asset, "bars")
        for handle, fn in handlers:
            if handle.status is not StrategyStatus.RUNNING:
                continue  # stopped, paused or failed by an earlier callback of this data point
            try:
                returned = fn(bar)
                if returned is not None:
                    _refuse_returned_orders("on_bar", returned)
            except Exception as exc:
                self._fail(handle, "on_bar", exc)
        _raise_first(errors)

    def _before_strategies(self, point: Bar | Quote, ts: float) -> list[Exception]:
        """What a data point does before the strategies hear it: the hand-over to the venues
        (or holding it back), the poll of the venues that report later, the settling of orders
        in doubt. Each runs whatever the one before raised; the errors are returned, to be
        raised once the strategies have heard the point: raised at once, a venue's failure on
        the point hid it from every strategy, no fault of theirs."""
        errors: list[Exception] = []
        try:
            if self._working or not self.defer_venue_data:
                self._to_venues(self._held_back(point))
            else:
                self._pending[point.asset] = point
        except Exception as exc:
            errors.append(exc)
        if self.polled_venues:
            try:
                self._poll_for_point()
            except Exception as exc:
                errors.append(exc)
        if self._doubt_at <= (time.time() if self._wall else ts):
            try:
                self._settle_doubts()
            except Exception as exc:
                errors.append(exc)
        return errors

    def on_quote(self, quote: Quote) -> None:
        """One quote: venues first, then subscribed strategies. A quote the venues would
        refuse raises ValueError naming the field before anything changes (see ``on_bar``).
        Handed over while one is being handed out (from a strategy's callback or a listener),
        it raises RuntimeError and changes nothing."""
        self._hand_out("on_quote", self._on_quote, quote)

    def _on_quote(self, quote: Quote) -> None:
        """The body of ``on_quote``."""
        if type(quote) is not Quote and not isinstance(quote, Quote):
            if not (isinstance(quote, tuple) and len(quote) == 6):
                raise TypeError(_not_a("on_quote", quote, Quote))
            quote = Quote(*quote)  # read as a Quote, as a tuple is read as a Bar by on_bar
        asset, ts, bid, ask, bid_size, ask_size = quote
        try:
            sound = (
                self._now <= ts < _INF
                and 0 < bid <= ask <= KERNEL_MAX
                and 0 <= bid_size < _INF
                and 0 <= ask_size < _INF
            )
        except TypeError:
            sound = False
        if not (
            sound
            and isinstance(asset, str)
            and asset
            and (asset in self._last or not _asset_flaw(asset))
            and (
                float is type(ts) is type(bid) is type(ask) is type(bid_size) is type(ask_size)
                or _numbers_real(quote)
            )
        ):
            raise ValueError(_quote_problem(quote, self._now))
        if not self._started:
            self.start()
        self._now = ts
        self.row += 1
        self._last[asset] = quote
        errors = self._before_strategies(quote, ts)
        handlers = self._quote_handlers.get(asset)
        if handlers is None:
            handlers = self._quote_handlers[asset] = self._handlers_for(asset, "quotes")
        for handle, fn in handlers:
            if handle.status is not StrategyStatus.RUNNING:
                continue  # stopped, paused or failed by an earlier callback of this data point
            try:
                returned = fn(quote)
                if returned is not None:
                    _refuse_returned_orders("on_quote", returned)
            except Exception as exc:
                self._fail(handle, "on_quote", exc)
        _raise_first(errors)

    def run(
        self,
        feed: Iterable[Bar | Quote],
        *,
        speed: float | None = None,
        progress: Callable[[int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> int:
        """Replay ``feed`` (bars and quotes in time order). ``speed`` None runs as fast as
        possible; 1.0 keeps the data's pace in wall-clock time, 60 runs a minute per second.
        Each item must be a ``Bar`` or a ``Quote`` (a plain tuple, a dict or a pandas row says
        neither: TypeError). ``should_stop`` is asked before each item and, while a paced run
        waits for an item's time, every ``_STOP_CHECK_SECONDS`` (``wait_unless_stopped``).
        Returns the number of data points handled."""
        if speed is not None and not (_is_number(speed) and math.isfinite(speed) and speed > 0):
            raise ValueError(f"speed={speed!r} must be a positive number (or None for as fast as possible)")
        start_wall = time.monotonic()
        first_ts: float | None = None
        count = 0
        for item in feed:
            if should_stop is not None and should_stop():
                break
            if not isinstance(item, Bar | Quote):
                # Before pacing reads its time: a dict was "'dict' object has no attribute 'ts'".
                raise TypeError(_not_a(f"feed item {count}: run()", item, Bar, Quote))
            if speed is not None:
                if first_ts is None:
                    first_ts = item.ts
                due = (item.ts - first_ts) / speed - (time.monotonic() - start_wall)
                if should_stop is None:
                    if due > 0:
                        time.sleep(due)
                elif due > 0 and not wait_unless_stopped(due, should_stop, _STOP_CHECK_SECONDS):
                    break  # stopped while it waited: the item is not handled
            # A row is whole or not handled: a SIGTERM or Ctrl-C (in `dita paper`) raised in
            # its middle counted it handled with its strategies' decisions lost, and a run
            # continued on the log skipped it. Held, it ends the run after the row.
            with held() if signals_installed() else nullcontext():
                if isinstance(item, Bar):
                    self.on_bar(item)
                else:
                    self.on_quote(item)
            count += 1
            if progress is not None:
                progress(count)
        return count

    def run_columns(
        self,
        ts: Column,
        asset: Sequence[str],
        columns: Sequence[Column],
        kind: str,
        *,
        progress: Callable[[int], None] | None = None,
        progress_every: int = 10_000,
    ) -> int:
        """Replay columnar history (the backtest path): one tuple per row, no feed objects.
        ``kind`` is "bars" or "quotes"; ``progress`` is called with the rows done about every
        quarter second, and at most every ``progress_every`` rows (a strategy taking 10 ms a
        row showed no progress for 100 s). Arrays (numpy) are made Python numbers
        ``ROWS_PER_CHUNK`` rows at a time, as the replay reaches them."""
        if kind not in ("bars", "quotes"):
            raise ValueError(f"kind={kind!r} must be 'bars' or 'quotes'")
        if not (_is_number(progress_every) and isinstance(progress_every, int) and progress_every > 0):
            raise ValueError(f"progress_every={progress_every!r} must be a positive whole number of rows")
        make: Callable[..., Bar | Quote] = Bar if kind == "bars" else Quote
        handle_one = self.on_bar if kind == "bars" else self.on_quote
        n = len(ts)
        # Before any row (a chunk's zip sees only its own rows: a longer column went unnoticed).
        for name, column in (("asset", asset), *((f"columns[{i}]", c) for i, c in enumerate(columns))):
            if len(column) != n:
                raise ValueError(f"{name} has {len(column):,} rows, ts has {n:,}: columns must be as long")
        rows = _rows_in_chunks(asset, ts, columns, n)
        done = 0
        # Rows between two calls of ``progress``: sized to take about a quarter second, from
        # one row up to ``progress_every`` (no clock is read per row).
        chunk = 1 if progress is not None else n
        while done < n:
            stop = min(n, done + chunk)
            started = time.monotonic()
            for _ in range(done, stop):
                handle_one(make(*next(rows)))  # type: ignore[arg-type]
            if progress is not None:
                took = time.monotonic() - started
                progress(stop)
                grown = int((stop - done) * _PROGRESS_SECONDS / took) if took > 0 else progress_every
                chunk = max(1, min(progress_every, grown))
            done = stop
        return n

    def finish(self) -> None:
        """Hand the venues every deferred data point, take the news of the venues that report
        later (``poll_venues``: a fill that came since the last data point) and give the
        kernel the last marks. Each step runs whatever the one before raised (the first error
        is raised at the end): skipped, the venue's last fills never reached the kernel and
        the open trades kept old marks. Venue events the kernel still has not taken (busy), or
        set aside (``stuck``), are named in an ERROR, for reconciliation."""
        errors: list[Exception] = []
        try:
            try:
                self.sync_venues()
            except Exception as exc:
                errors.append(exc)
            if self.polled_venues:
                try:
                    self.poll_venues()
                except Exception as exc:
                    errors.append(exc)
        finally:
            waiting = [u.described() for u in self._unapplied.values() if u.waiting]
            if waiting:
                log.error(
                    "the venue events (polled, or answering market data) not applied at finish() (the"
                    " kernel raised on them), to reconcile (reconcile_with_venue): %s",
                    ", ".join(waiting),
                )
            stuck = [u.described_stuck() for u in self._unapplied.values() if u.stuck]
            if stuck:
                log.error(
                    "the venue events set aside in this run (the kernel raised on each %d times in a"
                    " row), never applied, to reconcile (reconcile_with_venue): %s",
                    STUCK_AFTER,
                    ", ".join(stuck),
                )
            try:
                self.sync_marks()
            except Exception as exc:
                if not errors:
                    raise
                log.error("finish(): the last marks raised %s: %s", type(exc).__name__, exc)
        _raise_first(errors)


_INF = math.inf
_PROGRESS_SECONDS = 0.25
# Rows of columnar history made Python objects at a time: whole columns as lists took 32 bytes
# a number (1.9 GB for 10M bars) beside the arrays; a chunk's lists take about 12 MB.
ROWS_PER_CHUNK = 65_536
# The longest text the kernel takes as an id or asset name, in UTF-8 bytes.
KERNEL_MAX_TEXT_BYTES = 1 << 20
# How often a paced replay asks ``should_stop`` while it waits for the next item's time: a gap
# in the data (hourly bars at 60x, a weekend) slept a minute or hours past a --duration.
_STOP_CHECK_SECONDS = 0.25


def _rows_in_chunks(
    asset: Sequence[str], ts: Column, columns: Sequence[Column], n: int
) -> Iterator[tuple[Any, ...]]:
    """The rows ``(asset, ts, *columns)`` of the first ``n``, read ``ROWS_PER_CHUNK`` at a time
    (``tolist()`` of an array's slice); a column shorter than ``ts`` raises, as one ``zip``."""
    size = ROWS_PER_CHUNK

    def chunk(part: Any) -> Any:
        return part.tolist() if hasattr(part, "tolist") else part

    parts = (
        zip(*(chunk(c[lo : lo + size]) for c in (asset, ts, *columns)), strict=True)
        for lo in range(0, n, size)
    )
    # chain runs the zips in C: the per-row cost of one zip over whole lists.
    return chain.from_iterable(parts)


def wait_unless_stopped(
    seconds: float,
    should_stop: Callable[[], bool],
    step: float,
    sleep: Callable[[float], None] | None = None,
) -> bool:
    """Sleep ``seconds`` in steps of at most ``step``, asking ``should_stop`` before each step
    and after the last; False, at once, when it said stop. A wait long as a gap in the data or a
    slow poll still stops on time. ``sleep``: ``time.sleep`` when None, looked up at the call."""
    sleep = sleep or time.sleep
    waited = 0.0
    while not should_stop():
        if waited >= seconds:
            return True
        part = min(step, seconds - waited)
        sleep(part)
        waited += part
    return False


_REENTERED = (
    "{call} called while the runtime is handing out a data point (from a strategy's callback "
    "or a listener): the other strategies would hear the new one before the one they are "
    "hearing; hand data to the runtime from the feed only"
)


def _time_or_price_problem(
    where: str, item: Bar | Quote, now: float, prices: tuple[str, ...], sizes: tuple[str, ...]
) -> str | None:
    """What is wrong with a data point's asset, its numbers' types, its time or its prices, if
    anything (shared by bars and quotes)."""
    if not (isinstance(item.asset, str) and item.asset):
        return f"{where}: asset {item.asset!r} is not an asset name (a non-empty string)"
    flaw = _asset_flaw(item.asset)
    if flaw:
        return f"{where}: asset {shortened(repr(item.asset))} is not an asset name ({flaw})"
    for name in ("ts", *prices, *sizes):
        value = getattr(item, name)
        if not is_real(value):
            return f"{where}: {name} {value!r} is not a number"
    if not (math.isfinite(item.ts) and item.ts >= 0):
        return f"{where}: ts must be a finite time >= 0"
    if item.ts < now:
        return f"{where}: ts is earlier than the last data point's ({now!r}); data must be in time order"
    for name in prices:
        value = getattr(item, name)
        if not (math.isfinite(value) and value > 0):
            return f"{where}: {name} {value!r} is not a finite price above 0"
        if value > KERNEL_MAX:
            # The venues would fill at it, and the kernel refuse the fill: the two apart.
            return f"{where}: {name} {value!r} is above the kernel's bound of {KERNEL_MAX:g}"
    return None


def _bar_problem(bar: Bar, now: float) -> str:
    where = f"bar for {shortened(repr(bar.asset))} at ts {bar.ts!r}"
    problem = _time_or_price_problem(where, bar, now, ("open", "high", "low", "close"), ("volume",))
    if problem:
        return problem
    if not (math.isfinite(bar.volume) and bar.volume >= 0):
        return f"{where}: volume {bar.volume!r} is not a finite number >= 0"
    return (
        f"{where} is inconsistent: high {bar.high!r} and low {bar.low!r} must bound "
        f"open {bar.open!r} and close {bar.close!r}"
    )


def _quote_problem(quote: Quote, now: float) -> str:
    where = f"quote for {shortened(repr(quote.asset))} at ts {quote.ts!r}"
    problem = _time_or_price_problem(where, quote, now, ("bid", "ask"), ("bid_size", "ask_size"))
    if problem:
        return problem
    for name in ("bid_size", "ask_size"):
        value = getattr(quote, name)
        if not (math.isfinite(value) and value >= 0):
            return f"{where}: {name} {value!r} is not a finite size >= 0"
    return f"{where}: ask {quote.ask!r} is below bid {quote.bid!r} (a crossed quote)"


def _not_a(what: str, item: object, *kinds: type[Bar] | type[Quote]) -> str:
    """The error for a feed item that is not a bar or quote, naming what came and what is taken."""
    shown = shortened(repr(item), 120)
    taken = " or ".join(f"dita.strategy.{k.__name__}({', '.join(k._fields)})" for k in kinds)
    return f"{what} takes a {taken}, got {type(item).__name__}: {shown}"


def check_strategy_instance(strategy: object, where: str) -> None:
    """Refuse what is not a ``Strategy`` instance (its class, a ``MODULE:CLASS`` text) with
    what to pass instead."""
    if isinstance(strategy, Strategy):
        return
    if isinstance(strategy, type) and issubclass(strategy, Strategy):
        name = strategy.__name__
        raise TypeError(f"{where} takes a Strategy instance, got the class {name}: call it, {name}()")
    shown = shortened(repr(strategy))
    hint = (
        " (load a MODULE:CLASS text with dita.strategy.load_strategy_class)"
        if isinstance(strategy, str)
        else ""
    )
    raise TypeError(f"{where} takes a Strategy instance, got {type(strategy).__name__} {shown}{hint}")


def check_strategy_unused(strategy: Strategy[Any]) -> None:
    """Refuse an instance that ran on another runtime: its slot ids and fills are that run's, so
    ``busy()`` and ``position()`` would read this kernel's slots under them (a sweep reusing one
    instance traded only once)."""
    if strategy._ctx is not None:
        raise ValueError(
            f"strategy {strategy.name!r} already ran on another runtime (its slots and fills "
            f"are that run's); make a new instance: {type(strategy).__name__}(params)"
        )


def _left_as(handle: StrategyHandle) -> str:
    """How a strategy whose entries the runtime cancels left the run, as its logs say it."""
    return "in ERROR" if handle.status is StrategyStatus.ERROR else "stopped"


def _cancels_of(handle: StrategyHandle) -> str:
    """The ``stats`` prefix of those cancels: ``error`` or ``stop``."""
    return "error" if handle.status is StrategyStatus.ERROR else "stop"


def _text_of(exc: BaseException) -> str:
    """``str(exc)``, or what its ``__str__`` raised: a strategy's exception is its own code, and
    one whose text could not be made raised out of the runtime as its error was recorded (the
    run ended; the other strategies never heard the data point)."""
    try:
        return str(exc)
    except Exception as raised:
        try:
            said = f"{type(raised).__name__}: {raised}"
        except Exception:
            said = type(raised).__name__
        return f"(its str() raised {shortened(said, 200)})"


def _refuse_returned_orders(callback: str, returned: object) -> None:
    """Raise TypeError when a callback returned an intent, or a collection holding one: the
    runtime sends nothing a callback returns, so a strategy returning its orders (as some
    frameworks take them) read RUNNING and never traded. What the helpers answer (an outcome,
    a list of them) and anything else is let be."""
    if isinstance(returned, KernelIntent):
        orders = [returned]
    elif isinstance(returned, list | tuple | set | frozenset):
        orders = [o for o in returned if isinstance(o, KernelIntent)]
    else:
        return
    if orders:
        count = "a KernelIntent" if isinstance(returned, KernelIntent) else f"{len(orders)} KernelIntent(s)"
        raise TypeError(
            f"{callback} returned {count} (the first {orders[0].intent_id!r}): the runtime sends "
            "nothing a callback returns; send each with self.submit(intent), or use buy, sell, "
            "exit, close or cancel"
        )


def _tell(errors: list[Exception], listener: Callable[..., None], *args: Any) -> None:
    """Call a listener; what it raises is added to ``errors`` (see ``_raise_first``)."""
    try:
        listener(*args)
    except Exception as exc:
        errors.append(exc)


def _raise_first(errors: list[Exception]) -> None:
    """Raise the first error a step collected once the step is done (the rest followed it)."""
    if errors:
        raise errors[0]


def _asset_flaw(asset: str) -> str:
    """Why the kernel would refuse ``asset``, a non-empty str, as an asset name to mark ('' when
    it would not). Taken, such a data point became the asset's mark, and every later order of
    every strategy, and ``finish()``, raised on marking it. Python's whitespace is a little wider
    than the kernel's (``\\x1c``): what it refuses besides is no asset name either."""
    if not asset.strip():
        return "only whitespace"
    if "\0" in asset:
        return "it holds a NUL"
    try:
        size = len(asset.encode("utf-8"))
    except UnicodeEncodeError:
        return "not UTF-8: it holds a lone surrogate"
    if size > KERNEL_MAX_TEXT_BYTES:
        return f"{size} bytes long, at most {KERNEL_MAX_TEXT_BYTES}"
    return ""


def _numbers_real(item: Bar | Quote) -> bool:
    """Whether every number of ``item`` (each field but the asset) is a real number as
    ``is_real`` says. A Decimal compares with floats, so it passed the range checks, and the
    venues and the kernel's marks refused it after the runtime had moved its clock on."""
    return all(is_real(value) for value in item[1:])


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _ts_of(item: Bar | Quote) -> float:
    return item.ts


def _market_venues(venue: Any) -> list[Any]:
    """The kernel's venue, or every venue behind a router (each sees all data; a venue
    ignores assets it has no orders for)."""
    if venue is None:
        return []
    if _is_router(venue):
        return [venue[name] for name in venue.names()]
    return [venue]


def _is_router(venue: Any) -> bool:
    return callable(getattr(venue, "names", None)) and callable(getattr(venue, "venue_for", None))


def _reports_later(venue: Any) -> bool:
    return callable(getattr(venue, "poll_events", None))


def _polled_venues(venue: Any, market_venues: Sequence[Any]) -> list[Any]:
    """The venues a runtime polls, each once: the kernel's venue and the market-data venues
    that report later (``poll_events``). A router polls those behind it: it is polled in their
    place (polled on their own, the router never saw their orders end), and only when one of
    them reports later, as a router of paper venues would poll none (a replay pays nothing)."""
    behind = _market_venues(venue) if _is_router(venue) else []
    polled: list[Any] = []
    for v in (venue, *market_venues):
        if v is None or any(v is p for p in polled) or (v is not venue and any(v is b for b in behind)):
            continue
        if v is venue and behind:
            if any(_reports_later(b) for b in behind):
                polled.append(v)
        elif _reports_later(v):
            polled.append(v)
    return polled
