"""The strategy API: what a quant writes.

A strategy subclasses ``Strategy``, declares its parameters as a pydantic model and reacts
to market data::

    class Params(BaseModel):
        fast: int = 10

    class MyStrategy(Strategy[Params]):
        Params = Params

        def on_bar(self, bar: Bar) -> None:
            if self.position(bar.asset) == 0 and bar.close > 100:
                self.buy(bar.asset, 0.1, price=bar.close)

Decisions go through the helpers (``buy``, ``sell``, ``close``, ``cancel``), which build
``KernelIntent`` objects and hand them to the kernel through the runtime; the kernel's
answer (``KernelOutcome``) comes back, refusals included. Fills arrive in ``on_fill`` and
are kept in ``self.fills`` (every fill of a replay, the latest ones of a live run: see the
runtime's ``fills_kept``), counted in ``self.fills_total``; ``self.slots()`` and
``self.account()`` read the kernel.
The same class runs in a backtest, a shadow run, paper and live: only the runtime's feed
and the kernel's venue change.
"""

from __future__ import annotations

import importlib
import inspect
import math
import os
import sys
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, ClassVar, Generic, NamedTuple, TypeVar, cast, get_args, get_origin

from pydantic import AliasPath, BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticCustomError

from dita._kernel import KernelIntent, KernelOutcome, OrderType, TradeSlot, TradeStage
from dita._numbers import is_real, only_a_flag, past_slot_ids
from dita._text import shortened
from dita.risk import KERNEL_MAX

if TYPE_CHECKING:
    from dita.runtime import StrategyContext

__all__ = [
    "DATA_KINDS",
    "Bar",
    "Fill",
    "NoParams",
    "Quote",
    "Strategy",
    "StrategyLoadError",
    "cancel_intent",
    "feed_gaps",
    "feed_problem",
    "load_strategy_class",
    "validate_params",
]


def cancel_intent(
    intent_id: str, trade_id: str, slot: TradeSlot, *, reason: str, timestamp: float
) -> KernelIntent:
    """The CANCEL of ``slot``'s working order under ``trade_id``: a strategy's own, or the
    backtest's at a blown account's halt."""
    return KernelIntent(
        intent_id,
        trade_id,
        slot.slot_id,
        slot.asset,
        slot.side,
        "CANCEL",
        0.0,
        0.0,
        reason=reason,
        timestamp=timestamp,
    )


class Bar(NamedTuple):
    """One OHLCV bar; ``ts`` is the bar's open time in epoch seconds (UTC)."""

    asset: str
    ts: float
    open: float
    high: float
    low: float
    close: float
    volume: float


class Quote(NamedTuple):
    """Top of book for one asset at ``ts`` (epoch seconds)."""

    asset: str
    ts: float
    bid: float
    ask: float
    bid_size: float
    ask_size: float

    @property
    def mid(self) -> float:
        return (self.bid + self.ask) / 2.0

    @property
    def spread_bps(self) -> float:
        mid = (self.bid + self.ask) / 2.0
        return (self.ask - self.bid) / mid * 1e4 if mid > 0 else 0.0


class Fill(NamedTuple):
    """One fill of one of the strategy's orders, as the kernel accepted it."""

    trade_id: str
    slot_id: int
    asset: str
    side: str  # BUY or SELL
    price: float
    size: float  # what the kernel booked of it (a venue's running total gives the increase)
    fee: float | None  # as the venue stated it; of a fill booked in part, the share charged
    ts: float
    closed: bool  # the fill closed the trade (its slot reached CLOSED)


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


P = TypeVar("P", bound=BaseModel)

FREE_STAGES = frozenset({"IDLE", "CLOSED"})

INTENT_FIELDS = frozenset(inspect.signature(KernelIntent).parameters) - {"asset", "exit_leg_ratios", "reason"}
"""``KernelIntent`` fields ``buy``/``sell`` do not take as keywords (all but those they take
by name): passed as metadata they would be ignored by the order, so they are refused. Read
from the constructor's signature, so a field added to it is refused too."""

DATA_KINDS = ("bars", "quotes")
"""What a strategy can subscribe to in ``Strategy.data``."""

CALLBACKS = ("on_start", "on_quote", "on_bar", "on_fill", "on_stop")
"""The methods the runtime calls (and does not await)."""


class StrategyLoadError(ValueError):
    """A ``MODULE:CLASS`` reference that does not name a Strategy subclass."""


class Strategy(Generic[P]):
    """Base class of every strategy. Override the ``on_*`` callbacks you need.

    Class attributes: ``Params`` (a pydantic model of the parameters), ``assets`` (assets
    the strategy wants; empty means every asset in the feed) and ``data`` (a tuple of
    ``"bars"``, ``"quotes"`` or both; anything else is refused when the class is loaded or
    instantiated). Unknown parameter names are refused (see ``validate_params``). An
    exception in a callback puts this strategy in ERROR (the runtime cancels its working
    entries; its exits keep working); the runtime keeps running the others.
    """

    Params: ClassVar[type[BaseModel]] = NoParams
    assets: ClassVar[tuple[str, ...]] = ()
    data: ClassVar[tuple[str, ...]] = ("bars",)
    _name: str
    _fills: list[Fill]
    _fills_total: int

    def __init__(self, params: P | Mapping[str, Any] | None = None, *, name: str | None = None) -> None:
        type(self).check_subscriptions()
        if isinstance(params, BaseModel):
            if not isinstance(params, self.Params):
                raise TypeError(f"params must be {self.Params.__name__}, got {type(params).__name__}")
            self.params: P = params
        elif params is None or isinstance(params, Mapping):
            self.params = validate_params(self.Params, params or {})  # type: ignore[assignment]
        else:
            # Read by dict(), 5 would raise "not iterable", "fast=5" a dict-update error, and 0
            # or "" would run on the defaults without a word.
            raise TypeError(
                f"params must be a {self.Params.__name__}, a mapping of parameter names to values "
                f"or None, got {type(params).__name__} {shortened(repr(params), 120)}"
            )
        self._ctx: StrategyContext | None = None
        self.name = name
        # Its fills, oldest first: all of them, or its latest (``TradingRuntime(fills_kept=)``).
        self.fills = []
        # How many fills it got (each appended to ``fills``), however many ``fills`` keeps.
        self.fills_total = 0
        # Slots this strategy has opened and not yet seen close, by asset.
        self._open_slots: dict[str, list[int]] = {}

    # -- what the runtime keeps on it --------------------------------------------------------
    # Checked as they are set, so a strategy that reuses one of these names for its own state
    # fails at that line, alone: the runtime keeps writing them (a fill appended to ``fills =
    # None`` would raise out of the venue's answer and end the run) and naming the strategy by
    # them.

    @property
    def name(self) -> str:
        """The strategy's name: its ids, status and logs. Fixed once it is added to a runtime."""
        return self._name

    @name.setter
    def name(self, name: str | None) -> None:
        value = _strategy_name(name) or type(self).__name__
        if getattr(self, "_ctx", None) is not None and value != self._name:
            raise ValueError(
                f"strategy {self._name!r} cannot be renamed {value!r}: its ids, status and fills "
                "are under the name it was added to the runtime with"
            )
        self._name = value

    @property
    def fills(self) -> list[Fill]:
        """Its fills, oldest first (see ``TradingRuntime(fills_kept=)``); a list the runtime
        appends to (the strategy may clear or replace it with another list)."""
        return self._fills

    @fills.setter
    def fills(self, fills: list[Fill]) -> None:
        if not isinstance(fills, list):
            raise TypeError(
                f"strategy {self.name!r}: fills must be a list (the runtime appends each fill to it), "
                f"got {type(fills).__name__} {shortened(repr(fills), 80)}"
            )
        self._fills = fills

    @property
    def fills_total(self) -> int:
        """How many fills it got, however many ``fills`` keeps."""
        return self._fills_total

    @fills_total.setter
    def fills_total(self, count: int) -> None:
        if not (isinstance(count, int) and not isinstance(count, bool) and count >= 0):
            raise TypeError(
                f"strategy {self.name!r}: fills_total must be a count of fills (a whole number >= 0), "
                f"got {type(count).__name__} {shortened(repr(count), 80)}"
            )
        self._fills_total = count

    # -- callbacks -------------------------------------------------------------------------

    def on_start(self) -> None:
        """Called once before the first data point."""

    def on_quote(self, quote: Quote) -> None:
        """A new top of book for a subscribed asset."""

    def on_bar(self, bar: Bar) -> None:
        """A closed bar for a subscribed asset."""

    def on_fill(self, fill: Fill) -> None:
        """One of this strategy's orders filled (partly or fully)."""

    def on_stop(self) -> None:
        """Called once when the runtime stops this strategy (not after an error). Stopped by name
        (``runtime.stop("name")``), its entries still working are canceled after this returns
        (it may cancel them itself); its exits and positions are left as they are."""

    # -- context -------------------------------------------------------------------------

    @property
    def ctx(self) -> StrategyContext:
        if self._ctx is None:
            raise RuntimeError(f"strategy {self.name!r} is not attached to a runtime")
        return self._ctx

    @property
    def now(self) -> float:
        """The runtime clock: the current data time in a replay, wall time live."""
        return self.ctx.now()

    def account(self) -> dict[str, Any]:
        """The kernel's account snapshot (capital, equity, realized/unrealized PnL, K/E fields)."""
        return self.ctx.account()

    def slots(self) -> list[TradeSlot]:
        """This strategy's slots that hold a trade (not free), at the latest prices."""
        return self.ctx.slots([sid for ids in self._open_slots.values() for sid in ids])

    def position(self, asset: str) -> float:
        """Signed open size in ``asset`` over this strategy's slots (long > 0, short < 0)."""
        ids = self._open_slots.get(_asset_named("position", asset))
        if not ids:
            return 0.0
        kernel = self.ctx.kernel
        total = 0.0
        for sid in ids:
            slot = kernel.slot_state(sid)
            total += slot.size if slot.side.name == "LONG" else -slot.size
        return total

    def busy(self, asset: str) -> bool:
        """Whether any of this strategy's slots in ``asset`` holds a trade or a working order."""
        return bool(self._open_slots.get(_asset_named("busy", asset)))

    # -- decisions -------------------------------------------------------------------------

    def buy(
        self,
        asset: str,
        size: float,
        *,
        price: float,
        limit: float | None = None,
        exit_leg_ratios: Sequence[float] | None = None,
        reason: str = "",
        **meta: Any,
    ) -> KernelOutcome:
        """Open a long trade of ``size`` in a free slot: a market order referenced at ``price``,
        or a limit order at ``limit``. ``exit_leg_ratios`` splits its exit into legs (see
        ``exit(leg=True)``; default one leg). Other keywords go into the slot's metadata; one
        that names a ``KernelIntent`` field (``limit_price``, ``leverage``...) is refused
        (``TypeError``): as metadata it would be ignored by the order. With every free slot
        taken, the kernel refuses it (INVALID_SLOT_ID); with the strategy's slot budget taken
        (``runtime.add_strategy(strategy, max_slots=N)``), the runtime does, before the kernel
        sees it (INVALID_INTENT naming ``max_slots``, a ``dita.runtime.RuntimeRefusal``)."""
        return self._enter(asset, "LONG", size, price, limit, exit_leg_ratios, reason, meta)

    def sell(
        self,
        asset: str,
        size: float,
        *,
        price: float,
        limit: float | None = None,
        exit_leg_ratios: Sequence[float] | None = None,
        reason: str = "",
        **meta: Any,
    ) -> KernelOutcome:
        """Open a short trade of ``size`` in a free slot (see ``buy``)."""
        return self._enter(asset, "SHORT", size, price, limit, exit_leg_ratios, reason, meta)

    def close(self, asset: str, *, price: float, reason: str = "") -> list[KernelOutcome]:
        """Exit every open trade of this strategy in ``asset`` with market orders;
        cancels entries that are still working, limit exits (a take-profit resting above the
        market leaves the trade open) and market exits of part of the position (a leg), which
        a market exit of the whole then replaces. With a ``price`` no exit can take (0, NaN)
        it cancels nothing: the kernel's refusal of each exit, naming the price, answers."""
        ids = list(self._open_slots.get(_asset_named("close", asset), ()))
        if not _exit_price(price):
            # Each exit would be refused for the price (raised, for what is no number): the
            # kernel's refusals answer, and nothing is canceled. Canceled first, a take-profit
            # resting above the market would be gone and the position left with no exit at all.
            return [self.exit(sid, price=price, reason=reason) for sid in ids]
        outcomes = []
        kernel = self.ctx.kernel
        for sid in ids:
            slot = kernel.slot_state(sid)
            stage = slot.fsm_state.name
            if stage == "POSITION_OPEN":
                outcomes.append(self.exit(sid, price=price, reason=reason))
            elif stage in ("ORDER_SENT", "ENTRY_WORKING") or (
                stage in ("EXIT_SENT", "EXIT_WORKING") and not _exits_all(slot)
            ):
                outcomes.append(self.cancel(sid, reason=reason))
                # A partly filled entry is a position once its cancel is acknowledged, and so
                # is what a canceled exit left.
                after = kernel.slot_state(sid)
                if after.fsm_state.name == "POSITION_OPEN" and after.trade_id == slot.trade_id:
                    outcomes.append(self.exit(sid, price=price, reason=reason))
        return outcomes

    def exit(
        self,
        slot_id: int,
        *,
        price: float,
        limit: float | None = None,
        leg: bool = False,
        reason: str = "",
    ) -> KernelOutcome:
        """Exit the open trade in ``slot_id`` (market, or limit at ``limit``): all of it, or
        with ``leg=True`` its next exit leg, sized by the kernel from the trade's
        ``exit_leg_ratios`` (the last leg takes what remains)."""
        leg = _leg_flag(leg)
        slot = self._slot_or_none(slot_id)
        if slot is None:
            return self._no_such_slot(slot_id, "EXIT", price)
        intent = KernelIntent(
            self.ctx.next_intent_id(self),
            self._own_trade_id(slot),
            slot_id,
            slot.asset,
            slot.side,
            "EXIT",
            price,
            0.0 if leg else slot.size,
            order_type="MARKET" if limit is None else "LIMIT",
            limit_price=0.0 if limit is None else limit,
            reason=reason or "exit",
            timestamp=self.ctx.now(),
        )
        return self.ctx.submit(self, intent)

    def cancel(self, slot_id: int, *, reason: str = "") -> KernelOutcome:
        """Cancel the working order of ``slot_id``."""
        slot = self._slot_or_none(slot_id)
        if slot is None:
            return self._no_such_slot(slot_id, "CANCEL", 0.0)
        intent = cancel_intent(
            self.ctx.next_intent_id(self),
            self._own_trade_id(slot),
            slot,
            reason=reason or "cancel",
            timestamp=self.ctx.now(),
        )
        return self.ctx.submit(self, intent)

    def report_edge(self, asset: str, edge_bps: float) -> KernelOutcome:
        """Report the measured edge of ``asset`` to the kernel's risk guard, which freezes
        entries and cancels working orders when it drops below the configured threshold."""
        return self.ctx.report_edge(asset, edge_bps)

    def submit(self, intent: KernelIntent) -> KernelOutcome:
        """Hand a hand-built intent to the kernel (the helpers above cover the usual cases)."""
        return self.ctx.submit(self, intent)

    def _enter(
        self,
        asset: str,
        side: str,
        size: float,
        price: float,
        limit: float | None,
        exit_leg_ratios: Sequence[float] | None,
        reason: str,
        meta: Mapping[str, Any],
    ) -> KernelOutcome:
        fields = sorted(INTENT_FIELDS.intersection(meta))
        if fields:
            raise TypeError(
                f"{'buy' if side == 'LONG' else 'sell'}() got {', '.join(fields)}: "
                f"{'an intent field' if len(fields) == 1 else 'intent fields'} the helper does not set "
                "(it would go into the slot's metadata, not the order); use limit= for a limit "
                "order, or submit(KernelIntent(...))"
            )
        ctx = self.ctx
        slot_id = ctx.kernel.free_slot_id()
        if slot_id is None:
            slot_id = -1  # the kernel refuses it with INVALID_SLOT_ID, which the strategy sees
        intent = KernelIntent(
            ctx.next_intent_id(self),
            ctx.next_trade_id(self),
            slot_id,
            asset,
            side,
            "ENTER",
            price,
            size,
            order_type="MARKET" if limit is None else "LIMIT",
            exit_leg_ratios=exit_leg_ratios,
            limit_price=0.0 if limit is None else limit,
            reason=reason or "enter",
            metadata=dict(meta) or None,
            timestamp=ctx.now(),
        )
        return ctx.submit(self, intent)

    def _holds(self, slot: TradeSlot) -> bool:
        """Whether ``slot`` is free or holds one of this strategy's trades (not another's:
        a slot id kept after the slot was freed and reused by another strategy, say). A free
        stage whose trade is still another strategy's (its order in doubt at the venue) is
        not this strategy's: named by it, the runtime would refuse the helper with an exception."""
        if slot.slot_id in self._open_slots.get(slot.asset, ()):
            return True
        return is_free_stage(slot.fsm_state) and self.ctx.trade_owner(slot.trade_id) in (None, self.name)

    def _slot_or_none(self, slot_id: int) -> TradeSlot | None:
        """Slot ``slot_id``, or None for a whole number that names no slot, however large (a
        refusal answers it, as for ``buy``); what is no whole number (a float, a bool) raises
        TypeError naming it, as ``slot_state`` does, as any helper's argument of a wrong type."""
        if past_slot_ids(slot_id):
            return None
        try:
            slot: TradeSlot = self.ctx.kernel.slot_state(slot_id)
        except IndexError:
            return None
        return slot

    def _no_such_slot(self, slot_id: int, action: str, price: float) -> KernelOutcome:
        """The kernel's refusal (INVALID_SLOT_ID) of ``action`` on a slot it does not have: a
        helper answers with an outcome, never an exception (not IndexError). An id past the
        64 bits the kernel reads one in is refused alike by the runtime, naming it."""
        past = past_slot_ids(slot_id)
        on = -1 if past else slot_id
        intent = KernelIntent(
            self.ctx.next_intent_id(self),
            f"{self.name}-no-trade-in-slot-{on}",
            on,
            "",
            "FLAT",
            action,
            price,
            0.0,
            reason=action.lower(),
            timestamp=self.ctx.now(),
        )
        if past:
            return self.ctx.refuse_slot_past_64_bits(self, intent, int(slot_id))
        return self.ctx.submit(self, intent)

    def _own_trade_id(self, slot: TradeSlot) -> str:
        """The trade id to exit or cancel ``slot`` with: an id the kernel refuses
        (INVALID_INTENT on ``trade_id``) when the trade is another strategy's, whose own id
        the kernel would take."""
        return slot.trade_id if self._holds(slot) else f"{self.name}-no-trade-in-slot-{slot.slot_id}"

    # -- bookkeeping the runtime calls ---------------------------------------------------

    def _track_open(self, asset: str, slot_id: int) -> None:
        ids = self._open_slots.setdefault(asset, [])
        if slot_id not in ids:
            ids.append(slot_id)

    def _track_free(self, asset: str, slot_id: int) -> None:
        ids = self._open_slots.get(asset)
        if ids and slot_id in ids:
            ids.remove(slot_id)

    @classmethod
    def check_subscriptions(cls) -> None:
        """Refuse a ``Params`` that is not a pydantic model (or left out of a class declared
        ``Strategy[Model]``, which would run with no parameters), a callback the runtime cannot
        run (``_never_runs``), a ``data`` that would leave the strategy without data (e.g.
        ``("bar",)``), and ``assets`` that are not a collection of names (a bare ``"BTCUSDT"``
        would match ``"BTC"`` as a substring)."""
        params = cls.Params
        if not (isinstance(params, type) and issubclass(params, BaseModel)):
            raise StrategyLoadError(
                f"{cls.__qualname__}.Params = {params!r} must be a pydantic BaseModel subclass"
            )
        declared = _declared_params(cls)
        if params is NoParams and declared is not None and declared is not NoParams:
            # The type argument is for type checkers only: the runtime reads ``Params``.
            raise StrategyLoadError(
                f"{cls.__qualname__} is declared Strategy[{declared.__name__}] but does not set "
                f"Params: add `Params = {declared.__name__}` to the class (without it the strategy "
                "takes no parameters)"
            )
        for callback in CALLBACKS:
            kind = _never_runs(getattr(cls, callback))
            if kind:
                raise StrategyLoadError(
                    f"{cls.__qualname__}.{callback} is {kind}: the runtime calls a callback and goes "
                    f"on, so its body would never run (the strategy would read RUNNING and never "
                    f"act); make it a plain def"
                )
        subscriptions(cls.__qualname__, cls.assets, cls.data)

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """Parameters (with types, defaults and descriptions) and subscriptions, for people."""
        params = []
        # Each field by the name a parameter takes (its alias, when the model reads no field
        # name), and the defaults made so far, which a default_factory may read.
        names = {field: name for name, field in reversed(_input_names(cls.Params).items())}
        defaults: dict[str, Any] = {}
        for pname, field in cls.Params.model_fields.items():
            default = None
            if not field.is_required():
                try:
                    default = defaults[pname] = field.get_default(
                        call_default_factory=True, validated_data=dict(defaults)
                    )
                except Exception as exc:
                    # Made when the strategy is (it may read a file there): not a traceback here.
                    default = f"(made by its default_factory, which raised {type(exc).__name__}: {exc})"
            params.append(
                {
                    "name": names.get(pname, pname),
                    "type": getattr(field.annotation, "__name__", str(field.annotation)),
                    "default": default,
                    "required": field.is_required(),
                    "description": field.description or "",
                }
            )
        # The strategy's own docstring, or its nearest strategy ancestor's: never this base
        # class's text about itself.
        own = (c.__doc__ for c in cls.__mro__ if c is not Strategy and issubclass(c, Strategy))
        doc = inspect.cleandoc(next((d for d in own if d), ""))
        return {
            "class": f"{cls.__module__}:{cls.__qualname__}",
            "summary": doc.splitlines()[0] if doc else "",
            "params": params,
            "assets": list(cls.assets) or ["*"],
            "data": list(cls.data),
            "callbacks": sorted(n for n in CALLBACKS if getattr(cls, n) is not getattr(Strategy, n)),
        }


def subscriptions(owner: str, assets: object, data: object) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``assets`` and ``data`` of strategy ``owner`` (its class, or an instance that sets its
    own), checked: ``assets`` a collection of asset names (a bare ``"BTCUSDT"`` would match
    ``"BTC"`` as a substring), ``data`` of ``DATA_KINDS`` (``("bar",)`` would leave it without
    data). StrategyLoadError naming the attribute and its value otherwise."""
    if not _is_collection(assets):
        raise StrategyLoadError(
            f"{owner}.assets = {assets!r} must be a tuple of asset names, e.g. ('BTCUSDT',)"
        )
    assets = cast("Collection[object]", assets)
    blank = [a for a in assets if not isinstance(a, str) or not a.strip()]
    if blank:
        raise StrategyLoadError(f"{owner}.assets = {assets!r}: {blank[0]!r} is not an asset name")
    kinds = " and ".join(map(repr, DATA_KINDS))
    where = f"{owner}.data = {data!r}"
    if not _is_collection(data):
        raise StrategyLoadError(f"{where} must be a tuple of {kinds}, e.g. ('bars',)")
    if not data:
        raise StrategyLoadError(f"{where} subscribes to nothing: give {kinds} or both")
    data = cast("Collection[object]", data)
    bad = [kind for kind in data if kind not in DATA_KINDS]
    if bad:
        raise StrategyLoadError(
            f"{where}: {', '.join(map(repr, bad))} is not a kind of market data; the kinds are {kinds}"
        )
    return tuple(cast("Collection[str]", assets)), tuple(cast("Collection[str]", data))


def _strategy_name(name: object) -> str | None:
    """``name`` checked as a strategy's name (None or "" for the class name): text, not blank,
    without control characters. It names the strategy's intent and trade ids, its status and its
    logs: unchecked, a number would raise a bare "expected string" from ``add_strategy``, and a
    NUL byte would put the strategy in ERROR at its first ``buy`` (the kernel refuses the intent
    id)."""
    if name is None or name == "":
        return None
    if not isinstance(name, str):
        raise TypeError(
            f"name={shortened(repr(name), 120)} must be a str (or None for the class name), "
            f"got {type(name).__name__}"
        )
    if not name.strip() or not name.isprintable():
        raise ValueError(
            f"name={shortened(repr(name), 120)} must be a printable name, not blank and without "
            "control characters (a NUL, a newline, a tab)"
        )
    return name


def load_strategy_class(ref: str) -> type[Strategy[Any]]:
    """``"package.module:ClassName"`` (found in the working directory too, as ``python -m``
    finds it) or ``"path/to/file.py:ClassName"`` to the class, with a clear error for every way
    it can be wrong."""
    # The last colon: a file's path may hold one (a folder named by a time, ``runs/08:00/``).
    module_name, _, class_name = ref.rpartition(":")
    if ref.count(":") != 1 and not module_name.endswith(".py"):
        raise StrategyLoadError(
            f"strategy {ref!r} must be MODULE:CLASS, e.g. dita.examples.crossover:SmaCrossover"
        )
    if not module_name or not class_name:
        raise StrategyLoadError(f"strategy {ref!r} must be MODULE:CLASS with both parts")
    if module_name.endswith(".py"):
        module = _import_strategy_file(module_name)
    else:
        # As ``python -m`` does, a module in the working directory is found: the installed
        # ``dita`` script's path does not hold it. Appended, so it shadows no installed module.
        if os.getcwd() not in sys.path:
            sys.path.append(os.getcwd())
        module = _import_strategy_module(module_name)
    cls = getattr(module, class_name, None)
    if cls is None:
        raise StrategyLoadError(
            f"module {module_name!r} has no attribute {class_name!r}{_passed_over(module_name, module)}"
        )
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise StrategyLoadError(f"{ref!r} is not a dita.strategy.Strategy subclass")
    cls.check_subscriptions()
    return cls


def _passed_over(module_name: str, module: ModuleType) -> str:
    """A note when the working directory holds a module of that name that was not the one
    imported: it comes last on the path, so ``test.py`` loses to the standard library's."""
    here = Path.cwd()
    top = module_name.split(".")[0]
    local = next((p for p in (here / f"{top}.py", here / top) if p.exists()), None)
    found = getattr(module, "__file__", None)
    if local is None or (found is not None and Path(found).resolve().is_relative_to(here.resolve())):
        return ""
    return (
        f" (the one imported is {found or 'built in'}, found before {local.name} in the working "
        "directory: rename that file)"
    )


def _declared_params(cls: type) -> type[BaseModel] | None:
    """The model in the nearest ``Strategy[Model]`` base of ``cls``, if any."""
    for klass in cls.__mro__:
        for base in klass.__dict__.get("__orig_bases__", ()):
            origin = get_origin(base)
            if isinstance(origin, type) and issubclass(origin, Strategy):
                args = get_args(base)
                if args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
                    return args[0]
    return None


def _import_strategy_module(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except Exception as exc:
        # The module is the user's code: a syntax error or an exception at import (or a relative
        # name like ".mod") is bad input to report, not a traceback.
        hint = ""
        if isinstance(exc, ModuleNotFoundError) and exc.name == module_name.split(".")[0]:
            hint = (
                " (looked in the working directory and the Python path; "
                "or give the file: --strategy path/to/FILE.py:CLASS)"
            )
        raise StrategyLoadError(
            f"strategy module {module_name!r} cannot be imported: {type(exc).__name__}: {exc}{hint}"
        ) from exc


def _import_strategy_file(file_name: str) -> ModuleType:
    """``path/to/name.py`` imported as module ``name`` with its directory on the path, as
    ``python path/to/name.py`` would find it and its neighbours."""
    path = Path(file_name).expanduser()
    if not path.is_file():
        raise StrategyLoadError(f"strategy file {file_name!r} does not exist")
    if "." in path.stem:
        # Imported by its name, ``sma.v2`` would be module ``v2`` of a package ``sma``: "No
        # module named 'sma'", with a hint to give the file, which was given.
        raise StrategyLoadError(
            f"strategy file {file_name!r}: {path.stem!r} is not a module name (a dot in it "
            f"means a package); rename it, e.g. {path.stem.replace('.', '_')}.py"
        )
    path = path.resolve()
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))
    module = _import_strategy_module(path.stem)
    found = getattr(module, "__file__", None)
    if found is None or Path(found).resolve() != path:
        raise StrategyLoadError(
            f"strategy file {file_name!r}: its module name {path.stem!r} is another module's "
            f"({found or 'built in'}); rename the file"
        )
    return module


def _never_runs(callback: object) -> str:
    """What makes ``callback`` one whose body a plain call never runs ('' for a plain one): an
    ``async def`` (the call makes a coroutine nobody awaits), a ``def`` holding a ``yield`` (a
    generator nobody iterates) or both (an async generator)."""
    if inspect.isasyncgenfunction(callback):
        return "an async generator (an async def holding a yield)"
    if inspect.iscoroutinefunction(callback):
        return "an async def"
    if inspect.isgeneratorfunction(callback):
        return "a generator (a def holding a yield)"
    return ""


def _is_collection(value: object) -> bool:
    """A tuple, list or set of names; a bare string is not one (``in`` matches substrings)."""
    return isinstance(value, tuple | list | frozenset | set)


def validate_params(model: type[BaseModel], params: Mapping[str, Any]) -> BaseModel:
    """``params`` as an instance of ``model``, refusing names the model does not declare.

    A model left at pydantic's default (``extra="ignore"``) would drop a misspelt name and
    run on the default; only a model that asks for extras (``extra="allow"``) gets them.
    Raises pydantic's ValidationError naming each unknown parameter and the known ones.
    """
    values = dict(params)
    if model.model_config.get("extra") != "allow":
        accepted_in_order = list(_input_names(model))
        accepted = set(accepted_in_order)
        unknown = [name for name in values if name not in accepted]
        if unknown:
            # The names it takes: an aliased field's alias, not the field name it refuses.
            known = ", ".join(accepted_in_order)
            message = "unknown parameter; the parameters are {known}"
            if not known:
                message = "unknown parameter; this strategy takes no parameters"
            _refuse(model, values, unknown, "unknown_parameter", message, {"known": known})
    validated = model.model_validate(values)
    # Lax validation reads true and false as 1 and 0 for a number: `--param window=true` would
    # run with a window of 1, `levels=[0.5,true]` with levels of 0.5 and 1. Looked at after the
    # model's own validators: one may take a bool.
    flags = [
        key
        for key, name in _input_names(model).items()
        if key in values and _read_as_a_number(getattr(validated, name, None), values[key])
    ]
    _refuse(model, values, flags, "number_type", "Input should be a number, not true or false")
    # NaN passes pydantic's default (allow_inf_nan) and compares false with everything: a
    # strategy given `--param entry_z=nan` would run and never trade. Infinity stays a value (a
    # bound never reached); a model or field that allows NaN itself (allow_inf_nan=True) gets it.
    nans = [
        key
        for key, name in _input_names(model).items()
        if key in values and _holds_nan(getattr(validated, name, None)) and not _allows_nan(model, name)
    ]
    _refuse(model, values, nans, "finite_number", "Input should be a number, not NaN")
    return validated


def _refuse(
    model: type[BaseModel],
    values: Mapping[str, Any],
    keys: list[str],
    kind: str,
    said: str,
    context: dict[str, Any] | None = None,
) -> None:
    """Raise a ValidationError naming each parameter of ``keys`` with its input, when any."""
    if keys:
        error = PydanticCustomError(kind, said, context)
        raise ValidationError.from_exception_data(
            model.__name__, [{"type": error, "loc": (key,), "input": values[key]} for key in keys]
        )


def _holds_nan(value: object) -> bool:
    """Whether ``value`` is NaN, or a list, tuple, set or dict (its values) holding one."""
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, list | tuple | set | frozenset):
        return any(_holds_nan(item) for item in value)
    return False


def _allows_nan(model: type[BaseModel], name: str) -> bool:
    """Whether field ``name`` of ``model`` asks for NaN itself (``allow_inf_nan=True`` on the
    field or the model, not pydantic's default)."""
    for meta in model.model_fields[name].metadata:
        allowed = getattr(meta, "allow_inf_nan", None)
        if allowed is not None:
            return bool(allowed)
    return model.model_config.get("allow_inf_nan") is True


def _read_as_a_number(value: object, given: object) -> bool:
    """Whether a parameter given as a flag came out as the number pydantic reads it as, or one
    given as a list, tuple or dict came out with such a number in a flag's place."""
    if isinstance(given, bool):
        return type(value) in (int, float) and value == int(given)
    if isinstance(given, list | tuple) and isinstance(value, list | tuple) and len(value) == len(given):
        return any(_read_as_a_number(v, g) for v, g in zip(value, given, strict=True))
    if isinstance(given, Mapping) and isinstance(value, Mapping):
        return any(k in value and _read_as_a_number(value[k], g) for k, g in given.items())
    return False


def _input_names(model: type[BaseModel]) -> dict[str, str]:
    """The input names ``model`` reads, each to its field: a field's name (unless it has an
    alias and the model does not validate by name, when pydantic would drop it as an extra)
    and its aliases."""
    config = model.model_config
    by_name = bool(config.get("validate_by_name") or config.get("populate_by_name"))
    by_alias = config.get("validate_by_alias", True) is not False
    names: dict[str, str] = {}
    for name, field in model.model_fields.items():
        alias = field.validation_alias if field.validation_alias is not None else field.alias
        if alias is None or by_name:
            names[name] = name
        if alias is None or not by_alias:
            continue
        if isinstance(alias, str):
            names[alias] = name
        else:  # AliasPath or AliasChoices: the first key of each path
            paths = (
                [alias.convert_to_aliases()] if isinstance(alias, AliasPath) else alias.convert_to_aliases()
            )
            names.update((p[0], name) for p in paths if p and isinstance(p[0], str))
    return names


def _asset_named(call: str, asset: object) -> str:
    """``asset`` checked as an asset name: a number or a list would find no trade, and ``close``
    answer that it had nothing to close (or ``position`` raise "unhashable")."""
    if not isinstance(asset, str):
        raise TypeError(
            f"{call}(): asset must be a str (an asset name), got {type(asset).__name__} "
            f"{shortened(repr(asset), 80)}"
        )
    return asset


def _leg_flag(leg: object) -> bool:
    """``exit``'s ``leg`` checked as a flag (a bool, or the int 0 or 1, as the kernel takes one):
    read by its truth, ``leg="no"`` sent a leg exit and ``leg=None`` the whole position."""
    try:
        return only_a_flag(leg)
    except ValueError:
        raise TypeError(
            f"exit(): leg must be True or False (or the int 0 or 1), got {type(leg).__name__} "
            f"{shortened(repr(leg), 80)}"
        ) from None


def _exit_price(price: object) -> bool:
    """Whether ``price`` is one the kernel takes as an exit's reference price: a real number (not
    a bool), finite, above 0 and within its bound."""
    return is_real(price) and math.isfinite(price) and 0.0 < price <= KERNEL_MAX


def _exits_all(slot: TradeSlot) -> bool:
    """Whether ``slot``'s working exit is a market order for what is left of the position (a
    leg's leaves the rest open once it fills; a limit's may never fill)."""
    order = slot.active_exit_order
    if order is None:
        return True  # nothing the strategy could cancel
    if order.order_type == OrderType.LIMIT:
        return False
    left = order.size - order.filled_size
    return left >= slot.size - 1e-9 * max(1.0, slot.size)


def is_free_stage(stage: TradeStage) -> bool:
    return stage.name in FREE_STAGES


def feed_problem(strategy: Any, kind: str, assets: Sequence[str], *, source: str = "--data") -> str | None:
    """Why ``strategy`` would see none of a feed (``source``: a file, a live ticker) of
    ``kind`` ("bars"/"quotes") rows for ``assets`` (None: it sees some). A replay it never
    hears of ends as a run without trades."""
    name = type(strategy).__qualname__
    holds = "holds" if source == "--data" else "gives"
    if kind not in strategy.data:
        return f"{name} takes {' and '.join(strategy.data)} but {source} {holds} {kind}"
    wanted = tuple(strategy.assets)
    if wanted and not set(wanted) & set(assets):
        return f"{name} trades {', '.join(wanted)} but {source} {holds} {', '.join(sorted(assets))}"
    return None


def feed_gaps(strategy: Any, assets: Sequence[str], *, source: str = "--data") -> str | None:
    """The declared ``assets`` of ``strategy`` a feed (``source``) lacks, said, when it has some
    of them (None when it has all, or none, which ``feed_problem`` refuses). Not refused: a
    strategy may declare more assets than one run trades. Said, since it hears nothing of those
    and the venue rejects its orders for them, which a run reads as a strategy not trading."""
    wanted = tuple(dict.fromkeys(strategy.assets))
    missing = [a for a in wanted if a not in set(assets)]
    if not missing or len(missing) == len(wanted):
        return None
    holds = "holds" if source == "--data" else "gives"
    them = "it" if len(missing) == 1 else "them"
    return (
        f"{type(strategy).__qualname__} trades {', '.join(wanted)}, but {source} {holds} no "
        f"{' or '.join(missing)} ({', '.join(sorted(assets))} only): it hears nothing of {them} "
        f"and the venue rejects its orders for {them}"
    )
