"""The base class of every strategy (``Strategy``): what the runtime keeps on it, the callbacks
it overrides, what it reads of the kernel and the helpers it decides through."""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, get_args, get_origin

from pydantic import BaseModel

from dita._kernel import KernelIntent, KernelOutcome, TradeSlot
from dita._numbers import past_slot_ids
from dita._text import shortened
from dita.strategy.checks import CALLBACKS, StrategyLoadError, never_runs, strategy_name, subscriptions
from dita.strategy.market_data import Bar, Quote
from dita.strategy.orders import (
    INTENT_FIELDS,
    Fill,
    cancel_intent,
    exit_price,
    exits_all,
    is_free_stage,
    leg_flag,
)
from dita.strategy.params import NoParams, check_params_instance, input_names, validate_params

if TYPE_CHECKING:
    from dita.runtime import StrategyContext

P = TypeVar("P", bound=BaseModel)


class Strategy(Generic[P]):
    """Base class of every strategy. Override the ``on_*`` callbacks you need.

    Class attributes: ``Params`` (a pydantic model of the parameters), ``assets`` (assets
    the strategy wants; empty means every asset in the feed) and ``data`` (a tuple of
    ``"bars"``, ``"quotes"`` or both; anything else is refused when the class is loaded or
    instantiated). Unknown parameter names are refused (see ``validate_params``). An
    exception (or a sys.exit) in a callback puts this strategy in ERROR (the runtime cancels its working
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
            # What an instance shows is checked (NaN, infinity); a flag it read as a number cannot be seen.
            self.params: P = check_params_instance(params)
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
        # Slots this strategy has opened and not yet seen close, by asset, each with the id of
        # its trade there: the slot is the strategy's only while it holds that trade.
        self._open_slots: dict[str, dict[int, str]] = {}

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
        value = strategy_name(name) or type(self).__name__
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
        return self.ctx.slots(self._own_slot_ids())

    def position(self, asset: str) -> float:
        """Signed open size in ``asset`` over this strategy's slots (long > 0, short < 0)."""
        total = 0.0
        for slot in self._own_slots(_asset_named("position", asset)):
            total += slot.size if slot.side.name == "LONG" else -slot.size
        return total

    def busy(self, asset: str) -> bool:
        """Whether any of this strategy's slots in ``asset`` holds a trade or a working order."""
        return bool(self._own_slots(_asset_named("busy", asset)))

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
        ids = [slot.slot_id for slot in self._own_slots(_asset_named("close", asset))]
        if not exit_price(price):
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
                stage in ("EXIT_SENT", "EXIT_WORKING") and not exits_all(kernel, slot)
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
        leg = leg_flag(leg)
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
        held = self._open_slots.get(slot.asset)
        if held and held.get(slot.slot_id) == slot.trade_id:
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

    def _track_open(self, asset: str, slot_id: int, trade_id: str) -> None:
        self._open_slots.setdefault(asset, {})[slot_id] = trade_id

    def _track_free(self, asset: str, slot_id: int, trade_id: str) -> None:
        held = self._open_slots.get(asset)
        if held and held.get(slot_id) == trade_id:
            del held[slot_id]  # not a later trade of this strategy's in the slot

    def _own_slots(self, asset: str) -> list[TradeSlot]:
        """This strategy's slots in ``asset`` still holding its trade. A trade can end without the
        runtime routing the end (an operator's exit or cancel on the gateway of ``dita live`` goes
        to the kernel directly): its slot is not the strategy's then, nor counted against
        ``max_slots``, and a trade it took since is not read or closed as the strategy's. Only
        read: the runtime frees the trade when it routes the end, even one a listener reads before."""
        held = self._open_slots.get(asset)
        if not held:
            return []
        kernel = self.ctx.kernel
        own: list[TradeSlot] = []
        for slot_id, trade_id in held.items():
            slot = kernel.slot_state(slot_id)
            if slot.trade_id == trade_id and (
                not is_free_stage(slot.fsm_state) or _entry_in_doubt(kernel, trade_id)
            ):
                own.append(slot)
        return own

    def _own_slot_ids(self) -> list[int]:
        """The ids of this strategy's slots still holding its trades, every asset (``_own_slots``)."""
        return [slot.slot_id for asset in list(self._open_slots) for slot in self._own_slots(asset)]

    @classmethod
    def check_subscriptions(cls) -> None:
        """Refuse a ``Params`` that is not a pydantic model (or left out of a class declared
        ``Strategy[Model]``, which would run with no parameters), a callback the runtime cannot
        run (``never_runs``), a ``data`` that would leave the strategy without data (e.g.
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
            kind = never_runs(getattr(cls, callback))
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
        names = {field: name for name, field in reversed(input_names(cls.Params).items())}
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


def _entry_in_doubt(kernel: Any, trade_id: str) -> bool:
    """Whether trade ``trade_id``'s order is in doubt (rate limited before the venue's ack):
    its slot is free, yet the venue may work the order and fill it, so the trade is held."""
    doubts: list[Any] = getattr(kernel, "orders_in_doubt", list)()
    return any(order.trade_id == trade_id for order in doubts)


def _asset_named(call: str, asset: object) -> str:
    """``asset`` checked as an asset name: a number or a list would find no trade, and ``close``
    answer that it had nothing to close (or ``position`` raise "unhashable")."""
    if not isinstance(asset, str):
        raise TypeError(
            f"{call}(): asset must be a str (an asset name), got {type(asset).__name__} "
            f"{shortened(repr(asset), 80)}"
        )
    return asset
