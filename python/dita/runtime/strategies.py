"""What the runtime keeps of each strategy it runs (``StrategyHandle``, ``StrategyStatus``),
what a strategy reaches through ``self.ctx`` (``StrategyContext``), and the checks of a
strategy instance before it is added."""

from __future__ import annotations

import re
from collections.abc import Container, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from dita._kernel import KernelIntent, KernelOutcome, TradeSlot
from dita._text import shortened
from dita.strategy import Strategy

if TYPE_CHECKING:
    from dita.runtime.clock import MarketClock
    from dita.runtime.orders import OrderSubmission
    from dita.runtime.trading_runtime import TradingRuntime

# How a runtime over a used kernel marks its ids (``<name>-r<seq>-t<n>``); no name may end so.
RESTART_MARK = re.compile(r"-r\d+\Z")


def _made_id(kind: str) -> re.Pattern[str]:
    """The form of the ids the runtime makes of ``kind`` (``StrategyIds``): ``<name>-<kind><n>``,
    or ``<name>-r<seq>-<kind><n>`` over a used kernel (groups: the name, ``r<seq>-`` or None, n)."""
    return re.compile(rf"(.+?)-(r\d+-)?{kind}(\d+)")


# A trade id the runtime makes (a helper's ENTER), and an intent id (any helper's intent).
TRADE_ID = _made_id("t")
INTENT_ID = _made_id("i")
# The metadata key the runtime stamps on each ENTER it sends: the strategy's name. The gateway
# takes any id, so an operator's ``btc-hedge-t1`` has the form of a strategy's ids.
STRATEGY_KEY = "strategy"


def made_for(form: re.Pattern[str], made_id: str, names: Container[str]) -> re.Match[str] | None:
    """``made_id`` read as an id of ``form`` (``TRADE_ID``, ``INTENT_ID``) the runtime makes for
    one of the strategies ``names`` (group 1), or None when it is not of that form or names
    none of them."""
    made = form.fullmatch(made_id)
    return made if made is not None and made[1] in names else None


def trade_strategies(slots: Iterable[dict[str, Any]]) -> dict[str, str]:
    """The name of the strategy whose trade each slot's is, by trade id; a trade absent is
    nobody's (opened by hand). A trade is a strategy's when its ENTER carries ``STRATEGY_KEY``;
    a slot without the key is read by its id's form (``TRADE_ID``) only when it opened before
    every stamped trade the kernel holds (a log written before the key), since after one, the
    runtime stamps its ENTERs and an unstamped trade is the operator's."""
    slots = [s for s in slots if s.get("trade_id")]
    stamped = [s for s in slots if STRATEGY_KEY in (s.get("metadata") or {})]
    first_stamped = min((s.get("entry_time") or 0.0 for s in stamped), default=None)
    names: dict[str, str] = {}
    for slot in slots:
        trade_id = str(slot["trade_id"])
        name = (slot.get("metadata") or {}).get(STRATEGY_KEY)
        if name is not None:
            names[trade_id] = str(name)
        elif first_stamped is None or (slot.get("entry_time") or 0.0) < first_stamped:
            if (made_by := TRADE_ID.fullmatch(trade_id)) is not None:
                names[trade_id] = made_by[1]
    return names


@dataclass(frozen=True)
class TradesLeft:
    """A continued kernel's open trades that no strategy of its runtime takes back: those of a
    strategy it no longer runs (``by_strategy``: its name, their ids), which nobody would ever
    exit, and those opened by hand (``by_hand``), the operator's to close."""

    by_strategy: dict[str, list[str]]
    by_hand: list[str]

    def named(self) -> str:
        """``Trend-t1, Trend-t2 of strategy 'Trend'; ...``"""
        return "; ".join(f"{', '.join(ids)} of strategy {name!r}" for name, ids in self.by_strategy.items())


def trades_left(runtime: TradingRuntime) -> TradesLeft:
    """The open trades (held, or an order in doubt) of ``runtime``'s kernel that none of its
    strategies takes back (``trade_owner``): asked once its strategies are added, after a
    restart's reconciliation (which ends the orders the venue does not hold)."""
    from dita.strategy import FREE_STAGES

    by_strategy: dict[str, list[str]] = {}
    by_hand: list[str] = []
    slots = runtime.kernel.slots()
    whose = trade_strategies(slots)
    for slot in slots:
        trade_id = str(slot.get("trade_id") or "")
        held = slot.get("fsm_state") not in FREE_STAGES or slot.get("order_in_doubt")
        if not trade_id or not held or runtime.trade_owner(trade_id) is not None:
            continue
        if trade_id in whose:
            by_strategy.setdefault(whose[trade_id], []).append(trade_id)
        else:
            by_hand.append(trade_id)
    return TradesLeft(by_strategy, by_hand)


class KernelClosed(RuntimeError):
    """A strategy's submit (or ``report_edge``) refused because the runtime's kernel takes no
    more input (closed, or its write-ahead log failed): no fault of the strategy's. Escaping its
    callback, it stops the strategy (``on_stop`` called) rather than putting it in ERROR."""


class StrategyStatus(StrEnum):
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    STOPPED = "STOPPED"
    ERROR = "ERROR"


# The statuses of a strategy that still hears its fills (and, RUNNING, its data).
LIVE_STATUSES = (StrategyStatus.RUNNING, StrategyStatus.PAUSED)


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
    # ``self.data = []`` would unsubscribe itself and hear nothing more, in silence.
    assets: tuple[str, ...] = ()
    data: tuple[str, ...] = ("bars",)
    # The most kernel slots its trades may hold at once (``add_strategy(max_slots=)``); None: no
    # budget, it may take every free one.
    max_slots: int | None = None
    # The research run its parameters come from (``add_strategy(source_run=)``), carried in the
    # metadata of each of its intents that names none; None: its intents carry their own.
    source_run: str | None = None

    @property
    def name(self) -> str:
        return self.strategy.name

    def slots_held(self) -> int:
        """How many kernel slots its trades hold (those it opened and has not seen close)."""
        return len(self.slot_ids())

    def slot_ids(self) -> set[int]:
        """The kernel slots its trades hold."""
        return set(self.strategy._own_slot_ids())

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


class StrategyIds:
    """The ids the runtime gives its strategies' intents and trades: ``<name>-i<n>`` and
    ``<name>-t<n>``, ``r<seq>-`` after the name over a used kernel (``restart_mark``), each
    ``n`` counted across every strategy of the runtime."""

    def __init__(self, kernel: Any) -> None:
        self._mark = restart_mark(kernel)
        self._intents = 0
        self._trades = 0

    def next_intent_id(self, name: str) -> str:
        self._intents += 1
        return f"{name}-{self._mark}i{self._intents}"

    def next_trade_id(self, name: str) -> str:
        self._trades += 1
        return f"{name}-{self._mark}t{self._trades}"

    def intent_id_to_come(self, intent_id: str, names: Container[str]) -> str | None:
        """The form (``<name>-i<n>``) of the ids that ``intent_id`` is one of, when it is an id
        the runtime has yet to give one of the strategies ``names``; None when it is not."""
        made = made_for(INTENT_ID, intent_id, names)
        if made is None or (made[2] or "") != self._mark:
            return None
        number, given = made[3], str(self._intents)
        # Compared as digits: an int of thousands of them is past what int() reads.
        if number.startswith("0") or (len(number), number) <= (len(given), given):
            return None  # never given (the runtime writes no leading zero), or given already
        return f"{made[1]}-{self._mark}i<n>"


class StrategyContext:
    """What a strategy reaches through ``self.ctx``: the kernel, the clock, new ids and
    submission."""

    def __init__(
        self, runtime: TradingRuntime, orders: OrderSubmission, clock: MarketClock, ids: StrategyIds
    ) -> None:
        self._runtime = runtime
        # Reached directly, not through the runtime's methods of the same name: every order
        # a strategy sends asks both.
        self._orders = orders
        self._clock = clock
        self.kernel = runtime.kernel
        self._ids = ids

    def now(self) -> float:
        return self._clock.now()

    def account(self) -> dict[str, Any]:
        self._runtime.sync_marks()
        account: dict[str, Any] = self.kernel.account()
        return account

    def slots(self, slot_ids: Iterable[int]) -> list[TradeSlot]:
        """The kernel's slots ``slot_ids``, marked first as ``account()`` is: the marks are
        deferred to reads, and read without them a slot's unrealized PnL would be a submit old."""
        self._runtime.sync_marks()
        return [self.kernel.slot_state(sid) for sid in slot_ids]

    def next_intent_id(self, strategy: Strategy[Any]) -> str:
        return self._ids.next_intent_id(strategy.name)

    def next_trade_id(self, strategy: Strategy[Any]) -> str:
        return self._ids.next_trade_id(strategy.name)

    def submit(self, strategy: Strategy[Any], intent: KernelIntent) -> KernelOutcome:
        return self._orders.submit(strategy, intent)

    def refuse_slot_past_64_bits(
        self, strategy: Strategy[Any], intent: KernelIntent, slot_id: int
    ) -> KernelOutcome:
        """The runtime's INVALID_SLOT_ID of ``intent`` (on slot -1) naming ``slot_id``, an
        integer no KernelIntent holds (``OrderSubmission.refuse_slot_past_64_bits``)."""
        return self._orders.refuse_slot_past_64_bits(strategy, intent, slot_id)

    def trade_owner(self, trade_id: str) -> str | None:
        """The name of the strategy whose trade ``trade_id`` is, None when it is nobody's
        (``TradingRuntime.trade_owner``)."""
        return self._runtime.trade_owner(trade_id)

    def report_edge(self, asset: str, edge_bps: float) -> KernelOutcome:
        return self._runtime.report_edge(asset, edge_bps)


def restart_mark(kernel: Any) -> str:
    """``r<seq>-`` for a kernel that has been used, "" for a new one: the mark in the ids of a
    runtime over it. A kernel that has accepted intents (one recovered from its write-ahead log,
    say) remembers their ids and holds their trade ids, and the kernel's seq has moved past
    every earlier runtime's: counting from 1 alone, a strategy restarted on it would have every
    intent refused as a duplicate. So does one given its slots back (``reconcile_from_slots``),
    which accepted none: its strategy's first buy would take the id of the trade it holds."""
    stats = getattr(kernel, "stats", None)
    slots = getattr(kernel, "slots", None)
    used = (callable(stats) and bool(stats().get("intents_accepted"))) or (
        callable(slots) and any(s.get("trade_id") for s in slots())
    )
    return f"r{kernel.seq}-" if used else ""


def check_strategy_instance(strategy: object, where: str) -> None:
    """Refuse what is not a ``Strategy`` instance (its class, a ``MODULE:CLASS`` text) with
    what to pass instead, and an instance whose ``__init__`` skipped ``Strategy.__init__``."""
    if isinstance(strategy, Strategy):
        if not hasattr(strategy, "_open_slots"):
            # Set last by Strategy.__init__: without it the runtime would fail on its name,
            # fills or slots with an AttributeError that says nothing of the cause.
            name = type(strategy).__qualname__
            raise TypeError(
                f"{where} got a {name} whose __init__ does not call Strategy.__init__: call "
                f"super().__init__(params, name=name) in {name}.__init__ (it sets the strategy's "
                "name, parameters, fills and slots)"
            )
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
    instance would trade only once)."""
    if strategy._ctx is not None:
        raise ValueError(
            f"strategy {strategy.name!r} already ran on another runtime (its slots and fills "
            f"are that run's); make a new instance: {type(strategy).__name__}(params)"
        )
