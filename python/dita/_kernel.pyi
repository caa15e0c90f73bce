"""Type stubs for the native module ``dita._kernel`` (built from rust_kernel/ by maturin).

Kept by hand; ``make lint`` runs mypy's stubtest against the built module so it stays honest.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from os import PathLike
from typing import Any, ClassVar, Protocol, Self, final, overload

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

__version__: str
JOURNAL_COLUMNS: dict[str, tuple[str, ...]]
JOURNAL_WIRE_TYPES: dict[str, tuple[str, ...]]
TERMINAL_ORDER_STATUSES: frozenset[str]
# The most items one venue answer (to submit or cancel) is read for; the events read are
# applied and the outcome's ``venue_answer_error`` names the limit.
MAX_VENUE_ANSWER_ITEMS: int

MetaValue = str | int | float | bool | None

# A slot given to load_slots as an object (a TradeSlot, a slot view): read by its to_dict().
class _SlotWithDict(Protocol):
    def to_dict(self) -> dict[str, Any]: ...

@final
class TradeStage:
    IDLE: ClassVar[TradeStage]
    ORDER_REQUESTED: ClassVar[TradeStage]
    ORDER_SENT: ClassVar[TradeStage]
    ENTRY_WORKING: ClassVar[TradeStage]
    POSITION_OPEN: ClassVar[TradeStage]
    EXIT_REQUESTED: ClassVar[TradeStage]
    EXIT_SENT: ClassVar[TradeStage]
    EXIT_WORKING: ClassVar[TradeStage]
    CLOSED: ClassVar[TradeStage]
    # A string enum: built from a member's name (or the member), ``value`` is the name, and a
    # member equals its name as text (and its number).
    def __new__(cls, value: str | TradeStage) -> Self: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> str: ...
    @staticmethod
    def parse(value: str) -> TradeStage: ...
    # The member of this name (``TradeStage["NAME"]``), KeyError otherwise, as from an Enum class.
    @classmethod
    def __class_getitem__(cls, name: str) -> TradeStage: ...
    # Formatted as its name (``f"{member:<15}"``); its name's str methods answer too.
    def __format__(self, spec: str) -> str: ...
    def __int__(self) -> int: ...

@final
class KernelCommandType:
    ENTER: ClassVar[KernelCommandType]
    EXIT: ClassVar[KernelCommandType]
    CANCEL: ClassVar[KernelCommandType]
    # A string enum: built from a member's name (or the member), ``value`` is the name, and a
    # member equals its name as text (and its number).
    def __new__(cls, value: str | KernelCommandType) -> Self: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> str: ...
    @staticmethod
    def parse(value: str) -> KernelCommandType: ...
    # The member of this name (``KernelCommandType["NAME"]``), KeyError otherwise, as from an Enum class.
    @classmethod
    def __class_getitem__(cls, name: str) -> KernelCommandType: ...
    # Formatted as its name (``f"{member:<15}"``); its name's str methods answer too.
    def __format__(self, spec: str) -> str: ...
    def __int__(self) -> int: ...

@final
class TradeSide:
    LONG: ClassVar[TradeSide]
    SHORT: ClassVar[TradeSide]
    FLAT: ClassVar[TradeSide]
    # A string enum: built from a member's name (or the member), ``value`` is the name, and a
    # member equals its name as text (and its number).
    def __new__(cls, value: str | TradeSide) -> Self: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> str: ...
    @staticmethod
    def parse(value: str) -> TradeSide: ...
    # The member of this name (``TradeSide["NAME"]``), KeyError otherwise, as from an Enum class.
    @classmethod
    def __class_getitem__(cls, name: str) -> TradeSide: ...
    # Formatted as its name (``f"{member:<15}"``); its name's str methods answer too.
    def __format__(self, spec: str) -> str: ...
    def __int__(self) -> int: ...

@final
class OrderSide:
    BUY: ClassVar[OrderSide]
    SELL: ClassVar[OrderSide]
    # A string enum: built from a member's name (or the member), ``value`` is the name, and a
    # member equals its name as text (and its number).
    def __new__(cls, value: str | OrderSide) -> Self: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> str: ...
    @staticmethod
    def parse(value: str) -> OrderSide: ...
    # The member of this name (``OrderSide["NAME"]``), KeyError otherwise, as from an Enum class.
    @classmethod
    def __class_getitem__(cls, name: str) -> OrderSide: ...
    # Formatted as its name (``f"{member:<15}"``); its name's str methods answer too.
    def __format__(self, spec: str) -> str: ...
    def __int__(self) -> int: ...

@final
class OrderType:
    MARKET: ClassVar[OrderType]
    LIMIT: ClassVar[OrderType]
    # A string enum: built from a member's name (or the member), ``value`` is the name, and a
    # member equals its name as text (and its number).
    def __new__(cls, value: str | OrderType) -> Self: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> str: ...
    @staticmethod
    def parse(value: str) -> OrderType: ...
    # The member of this name (``OrderType["NAME"]``), KeyError otherwise, as from an Enum class.
    @classmethod
    def __class_getitem__(cls, name: str) -> OrderType: ...
    # Formatted as its name (``f"{member:<15}"``); its name's str methods answer too.
    def __format__(self, spec: str) -> str: ...
    def __int__(self) -> int: ...

@final
class KernelEventKind:
    ORDER_ACK: ClassVar[KernelEventKind]
    FILL: ClassVar[KernelEventKind]
    CANCEL_ACK: ClassVar[KernelEventKind]
    CANCEL_REJECT: ClassVar[KernelEventKind]
    REJECT: ClassVar[KernelEventKind]
    EXPIRED: ClassVar[KernelEventKind]
    RATE_LIMITED: ClassVar[KernelEventKind]
    # A string enum: built from a member's name (or the member), ``value`` is the name, and a
    # member equals its name as text (and its number).
    def __new__(cls, value: str | KernelEventKind) -> Self: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> str: ...
    @staticmethod
    def parse(value: str) -> KernelEventKind: ...
    # The member of this name (``KernelEventKind["NAME"]``), KeyError otherwise, as from an Enum class.
    @classmethod
    def __class_getitem__(cls, name: str) -> KernelEventKind: ...
    # Formatted as its name (``f"{member:<15}"``); its name's str methods answer too.
    def __format__(self, spec: str) -> str: ...
    def __int__(self) -> int: ...

@final
class VenueOrderStatus:
    NEW: ClassVar[VenueOrderStatus]
    ACKNOWLEDGED: ClassVar[VenueOrderStatus]
    PARTIALLY_FILLED: ClassVar[VenueOrderStatus]
    FILLED: ClassVar[VenueOrderStatus]
    CANCELED: ClassVar[VenueOrderStatus]
    REJECTED: ClassVar[VenueOrderStatus]
    EXPIRED: ClassVar[VenueOrderStatus]
    # ACKNOWLEDGED under the original kernel's name (``VenueEventStatus.ACKED``).
    ACKED: ClassVar[VenueOrderStatus]
    # A string enum: built from a member's name (or the member), ``value`` is the name, and a
    # member equals its name as text (and its number).
    def __new__(cls, value: str | VenueOrderStatus) -> Self: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> str: ...
    @staticmethod
    def parse(value: str) -> VenueOrderStatus: ...
    # The member of this name (``VenueOrderStatus["NAME"]``), KeyError otherwise, as from an Enum class.
    @classmethod
    def __class_getitem__(cls, name: str) -> VenueOrderStatus: ...
    # Formatted as its name (``f"{member:<15}"``); its name's str methods answer too.
    def __format__(self, spec: str) -> str: ...
    def __int__(self) -> int: ...

# The original kernel's name of the status an event carries: dita's order status.
VenueEventStatus = VenueOrderStatus

@final
class KernelDiagnosticCode:
    OK: ClassVar[KernelDiagnosticCode]
    INVALID_SLOT_ID: ClassVar[KernelDiagnosticCode]
    INVALID_INTENT: ClassVar[KernelDiagnosticCode]
    SLOT_BUSY: ClassVar[KernelDiagnosticCode]
    NO_POSITION: ClassVar[KernelDiagnosticCode]
    DUPLICATE_INTENT: ClassVar[KernelDiagnosticCode]
    DUPLICATE_EVENT: ClassVar[KernelDiagnosticCode]
    UNKNOWN_ORDER: ClassVar[KernelDiagnosticCode]
    INVALID_TRANSITION: ClassVar[KernelDiagnosticCode]
    OVERFILL: ClassVar[KernelDiagnosticCode]
    RATE_LIMITED: ClassVar[KernelDiagnosticCode]
    MODE_BLOCKED: ClassVar[KernelDiagnosticCode]
    RISK_REJECTED: ClassVar[KernelDiagnosticCode]
    BELOW_MIN_NOTIONAL: ClassVar[KernelDiagnosticCode]
    # A string enum: built from a member's name (or the member), ``value`` is the name, and a
    # member equals its name as text (and its number).
    def __new__(cls, value: str | KernelDiagnosticCode) -> Self: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> str: ...
    @staticmethod
    def parse(value: str) -> KernelDiagnosticCode: ...
    # The member of this name (``KernelDiagnosticCode["NAME"]``), KeyError otherwise, as from an Enum class.
    @classmethod
    def __class_getitem__(cls, name: str) -> KernelDiagnosticCode: ...
    # Formatted as its name (``f"{member:<15}"``); its name's str methods answer too.
    def __format__(self, spec: str) -> str: ...
    def __int__(self) -> int: ...

@final
class KernelSeverity:
    INFO: ClassVar[KernelSeverity]
    WARNING: ClassVar[KernelSeverity]
    ERROR: ClassVar[KernelSeverity]
    CRITICAL: ClassVar[KernelSeverity]
    # A string enum: built from a member's name (or the member), ``value`` is the name, and a
    # member equals its name as text (and its number).
    def __new__(cls, value: str | KernelSeverity) -> Self: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> str: ...
    @staticmethod
    def parse(value: str) -> KernelSeverity: ...
    # The member of this name (``KernelSeverity["NAME"]``), KeyError otherwise, as from an Enum class.
    @classmethod
    def __class_getitem__(cls, name: str) -> KernelSeverity: ...
    # Formatted as its name (``f"{member:<15}"``); its name's str methods answer too.
    def __format__(self, spec: str) -> str: ...
    def __int__(self) -> int: ...

@final
class ControlMode:
    LIVE: ClassVar[ControlMode]
    PAPER: ClassVar[ControlMode]
    SHADOW: ClassVar[ControlMode]
    REDUCE_ONLY: ClassVar[ControlMode]
    HALTED: ClassVar[ControlMode]
    # A string enum: built from a member's name (or the member), ``value`` is the name, and a
    # member equals its name as text (and its number).
    def __new__(cls, value: str | ControlMode) -> Self: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> str: ...
    @staticmethod
    def parse(value: str) -> ControlMode: ...
    # The member of this name (``ControlMode["NAME"]``), KeyError otherwise, as from an Enum class.
    @classmethod
    def __class_getitem__(cls, name: str) -> ControlMode: ...
    # Formatted as its name (``f"{member:<15}"``); its name's str methods answer too.
    def __format__(self, spec: str) -> str: ...
    def __int__(self) -> int: ...

@final
class Verbosity:
    QUIET: ClassVar[Verbosity]
    NORMAL: ClassVar[Verbosity]
    DEBUG: ClassVar[Verbosity]
    # A string enum: built from a member's name (or the member), ``value`` is the name, and a
    # member equals its name as text (and its number).
    def __new__(cls, value: str | Verbosity) -> Self: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> str: ...
    @staticmethod
    def parse(value: str) -> Verbosity: ...
    # The member of this name (``Verbosity["NAME"]``), KeyError otherwise, as from an Enum class.
    @classmethod
    def __class_getitem__(cls, name: str) -> Verbosity: ...
    # Formatted as its name (``f"{member:<15}"``); its name's str methods answer too.
    def __format__(self, spec: str) -> str: ...
    def __int__(self) -> int: ...

@final
class AccountEventKind:
    FILL_SETTLED: ClassVar[AccountEventKind]
    ACCOUNT_UPDATE: ClassVar[AccountEventKind]
    FUNDING_FEE: ClassVar[AccountEventKind]
    # A string enum: built from a member's name (or the member), ``value`` is the name, and a
    # member equals its name as text (and its number).
    def __new__(cls, value: str | AccountEventKind) -> Self: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> str: ...
    @staticmethod
    def parse(value: str) -> AccountEventKind: ...
    # The member of this name (``AccountEventKind["NAME"]``), KeyError otherwise, as from an Enum class.
    @classmethod
    def __class_getitem__(cls, name: str) -> AccountEventKind: ...
    # Formatted as its name (``f"{member:<15}"``); its name's str methods answer too.
    def __format__(self, spec: str) -> str: ...
    def __int__(self) -> int: ...

@final
class KernelIntent:
    """A strategy's request to ENTER, EXIT or CANCEL on one slot.

    Enum arguments take the native enum or its name. ``exit_leg_ratios`` defaults to
    ``(1.0,)`` (one leg), ``order_type`` to MARKET. Numbers are taken as given; the kernel
    refuses non-finite or negative ones, and an ENTER's ``leverage`` below 1e-15, with
    INVALID_INTENT when the intent is processed. An EXIT or CANCEL acts on its slot: a
    ``trade_id`` or ``asset`` other than the slot's (empty names the slot's) is refused, and its
    ``side`` is not read (an exit closes the slot's own side). A MARKET ENTER or EXIT with a
    ``limit_price`` above 0 is refused INVALID_INTENT naming it (a limit is for a LIMIT order).
    A ``timestamp`` past 253402300799 (9999-12-31 23:59:59 UTC, the last second a datetime
    holds: milliseconds passed as seconds) is refused, ValueError naming it. ``to_dict()`` holds
    every field, ``stage`` too: ``KernelIntent(**intent.to_dict())`` equals the intent.
    """

    def __new__(
        cls,
        intent_id: str,
        trade_id: str,
        slot_id: int,
        asset: str,
        side: TradeSide | str,
        action: KernelCommandType | str,
        reference_price: float,
        target_size: float,
        leverage: float = 1.0,
        exit_leg_ratios: Sequence[float] | None = None,
        order_type: OrderType | str | None = None,
        limit_price: float = 0.0,
        reason: str = "",
        metadata: Mapping[str, MetaValue] | None = None,
        timestamp: float | datetime | None = None,
        stage: TradeStage | str | None = None,
    ) -> Self: ...
    @property
    def intent_id(self) -> str: ...
    @property
    def trade_id(self) -> str: ...
    @property
    def slot_id(self) -> int: ...
    @property
    def asset(self) -> str: ...
    @property
    def side(self) -> TradeSide: ...
    @property
    def action(self) -> KernelCommandType: ...
    @property
    def reference_price(self) -> float: ...
    @property
    def target_size(self) -> float: ...
    @property
    def leverage(self) -> float: ...
    @property
    def exit_leg_ratios(self) -> tuple[float, ...]: ...
    @property
    def order_type(self) -> OrderType: ...
    @property
    def limit_price(self) -> float: ...
    @property
    def reason(self) -> str: ...
    # Read-only (a types.MappingProxyType): a change in place raises TypeError.
    @property
    def metadata(self) -> Mapping[str, MetaValue]: ...
    # When the strategy made it, in UTC; ``timestamp_s``: in seconds since the epoch.
    @property
    def timestamp(self) -> datetime: ...
    @property
    def timestamp_s(self) -> float: ...
    # The original kernel's stage, kept for the strategy; the kernel goes by the slot's own.
    @property
    def stage(self) -> TradeStage | None: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class VenueEvent:
    """What a venue reported about one order.

    A FILL carries the quantity of this fill in ``size`` and the order's cumulative
    ``filled_size``; when ``size`` is 0 the fill quantity is taken from the cumulative figure.
    ``fill_id`` (the venue's trade id) deduplicates fills that arrive twice under new event ids.
    ``fee``: what the venue charged for the fill, negative for a maker rebate; None to have the
    kernel predict it from its exchange config. ``metadata["base_fee_qty"]``: the part of a
    buy FILL the venue kept as its commission in the base asset (a spot buy's), which a long
    entry's slot does not hold and a short's cover does not repay; negative for a maker rebate
    paid in it, which the slot holds too. A sell FILL carrying any but 0 is refused
    (INVALID_INTENT naming ``metadata.base_fee_qty``): its fee goes in ``fee``.
    ``status`` None is the kind's own (``status`` reads it), but a FILL made so takes it from
    the sizes when a kernel takes it:
    PARTIALLY_FILLED while its order (working, or kept after it ended) has more left, else
    FILLED; ``to_dict()`` gives None.
    A ``timestamp`` past 253402300799 (9999-12-31 23:59:59 UTC, the last second a datetime
    holds: milliseconds passed as seconds) is refused, ValueError naming it.
    Equal to an event of the same fields (with whether a status was stated, the trade's
    ``side`` and ``raw_payload``, compared as dicts; none given equals an empty one); hashed by
    its ids. ``to_dict()`` holds the order's side as ``side``, the trade's as ``trade_side``
    and the ``raw_payload`` (None when none was given): ``VenueEvent(**event.to_dict())``
    equals the event. ``trade_side`` given is the trade's side (``side`` read as the trade's
    must agree). A kernel takes a trade side contradicting the order the event names (an
    entry's or an exit's) as the order side it says, and refuses the event naming ``side``.
    """

    def __new__(
        cls,
        event_id: str,
        trade_id: str,
        slot_id: int,
        kind: KernelEventKind | str,
        status: VenueOrderStatus | str | None = None,
        venue_order_id: str = "",
        venue_client_id: str = "",
        side: OrderSide | TradeSide | str | None = None,
        asset: str = "",
        price: float = 0.0,
        size: float = 0.0,
        filled_size: float = 0.0,
        remaining_size: float = 0.0,
        reason: str = "",
        metadata: Mapping[str, MetaValue] | None = None,
        timestamp: float | datetime | None = None,
        *,
        fill_id: str = "",
        fee: float | None = None,
        retry_after: float = 0.0,
        order_side: OrderSide | str | None = None,
        raw_payload: Mapping[str, Any] | None = None,
        trade_side: TradeSide | str | None = None,
    ) -> Self: ...
    @property
    def event_id(self) -> str: ...
    @property
    def trade_id(self) -> str: ...
    @property
    def slot_id(self) -> int: ...
    @property
    def kind(self) -> KernelEventKind: ...
    @property
    def status(self) -> VenueOrderStatus: ...
    @property
    def venue_order_id(self) -> str: ...
    @property
    def venue_client_id(self) -> str: ...
    # The side of the trade the event is about (the original kernel's); ``order_side``: whether
    # its order buys or sells.
    @property
    def side(self) -> TradeSide | None: ...
    @property
    def order_side(self) -> OrderSide | None: ...
    @property
    def asset(self) -> str: ...
    @property
    def price(self) -> float: ...
    @property
    def size(self) -> float: ...
    @property
    def filled_size(self) -> float: ...
    @property
    def remaining_size(self) -> float: ...
    @property
    def reason(self) -> str: ...
    # Read-only (a types.MappingProxyType): a change in place raises TypeError.
    @property
    def metadata(self) -> Mapping[str, MetaValue]: ...
    # Read-only (a types.MappingProxyType): a change in place raises TypeError (it would be lost).
    @property
    def raw_payload(self) -> Mapping[str, Any]: ...
    @property
    def timestamp(self) -> datetime: ...
    @property
    def timestamp_s(self) -> float: ...
    @property
    def fill_id(self) -> str: ...
    @property
    def fee(self) -> float | None: ...
    @property
    def retry_after(self) -> float: ...
    def to_dict(self) -> dict[str, Any]: ...
    # Immutable: a copy or deep copy is the object itself, but the deep copy of an event with a
    # raw payload: a new event with a deep copy of it. Pickled as its fields (read back by the
    # same dita version).
    def __copy__(self) -> Self: ...
    def __deepcopy__(self, memo: Any, /) -> Self: ...

@final
class AccountEvent:
    """An exchange-side account fact: a settled fill fee, a balance update or a funding payment.

    FILL_SETTLED reads ``fill_id``, ``fee`` and ``asset``: it settles the fill of that id and
    asset, as the fill's intent named it (venues number trades per market, so fills of several
    assets may wait under one id); without an ``asset``, the one fill of that id, and it is
    refused INVALID_INTENT naming ``asset`` when fills of several assets wait under the id. One
    naming an asset no waiting fill of the id has (or an id with none) came before its fill: it
    is accepted and held for it (INFO, ``held_for_fill: True`` in its details) and settles the
    fill when that is booked. FUNDING_FEE reads ``amount`` (positive received, negative paid);
    each takes the balance and margin figures it carries, which an ACCOUNT_UPDATE must carry
    one of. A FILL_SETTLED with an ``amount`` or a FUNDING_FEE with a ``fee`` other than 0 is
    refused naming it. A FILL_SETTLED's ``fee`` is negative for a maker
    rebate; it teaches the fee calibration of its fill's liquidity (maker or taker), and its
    outcome's details say ``liquidity``. A FILL_SETTLED with ``predicted_fee_stands=True`` and no
    ``fee`` says the venue will never report the fill's fee: the fill is settled at the kernel's
    prediction (it leaves ``k_unsettled_fees``, the fees paid stay, nothing is learned; details
    ``predicted_fee`` and ``predicted_fee_stands``); otherwise it is any FILL_SETTLED: held
    before its fill (settled at the prediction when that is booked), a resend of it refused, one
    of the exchange's fee after it held for a self-trade's other side.
    ``predicted_fee_stands`` on another kind, or with a ``fee``, is refused INVALID_INTENT naming it.
    A ``timestamp`` past 253402300799 (9999-12-31 23:59:59 UTC, the last second a datetime
    holds: milliseconds passed as seconds) is refused, ValueError naming it.
    """

    def __new__(
        cls,
        event_id: str,
        kind: AccountEventKind | str,
        *,
        asset: str = "",
        amount: float = 0.0,
        fee: float = 0.0,
        fill_id: str = "",
        wallet_balance: float | None = None,
        available_margin: float | None = None,
        used_margin: float | None = None,
        maint_margin: float | None = None,
        timestamp: float | datetime | None = None,
        predicted_fee_stands: bool = False,
    ) -> Self: ...
    @property
    def event_id(self) -> str: ...
    @property
    def kind(self) -> AccountEventKind: ...
    @property
    def asset(self) -> str: ...
    @property
    def amount(self) -> float: ...
    @property
    def fee(self) -> float: ...
    @property
    def fill_id(self) -> str: ...
    @property
    def wallet_balance(self) -> float | None: ...
    @property
    def available_margin(self) -> float | None: ...
    @property
    def used_margin(self) -> float | None: ...
    @property
    def maint_margin(self) -> float | None: ...
    @property
    def timestamp(self) -> float: ...
    @property
    def predicted_fee_stands(self) -> bool: ...
    def to_dict(self) -> dict[str, Any]: ...

@final
class VenueOrder:
    """An order the kernel handed (or will hand) to a venue. Prices, sizes and the time must
    be finite and not negative, the time at most 253402300799 (9999-12-31 UTC), and
    ``filled_size`` at most ``size`` (ValueError naming the field; ``reference_price`` 0, the
    default, is the price); the client id and size may be empty or 0 for an order someone else
    placed. ``is_entry`` (None: an entry unless
    ``reduce_only``) says whether it opens its slot's position: an exit may go out plain.
    Equal to an order of the same fields (a slot's working order read twice is one order);
    hashed by its ids."""

    # ``client_order_id``, ``trade_id``, ``side`` and ``size`` are required, each under dita's
    # name or the original kernel's (``venue_client_id``, ``internal_trade_id``,
    # ``intended_size``; ``average_fill_price`` for ``avg_fill_price``); one left out is a
    # TypeError. ``slot_id``, ``asset``, ``order_type`` and ``price`` are required too, but for
    # an order built in the original's shape (``venue_client_id``, ``internal_trade_id``,
    # ``intended_size`` or ``average_fill_price`` given): slot 0, no asset, MARKET at 0.
    def __new__(
        cls,
        client_order_id: str | None = None,
        slot_id: int | None = None,
        trade_id: str | None = None,
        asset: str | None = None,
        side: OrderSide | TradeSide | str | None = None,
        order_type: OrderType | str | None = None,
        price: float | None = None,
        size: float | None = None,
        *,
        venue_order_id: str = "",
        reduce_only: bool = False,
        reference_price: float = 0.0,
        timestamp: float | datetime | None = None,
        filled_size: float = 0.0,
        avg_fill_price: float | None = None,
        status: VenueOrderStatus | str | None = None,
        is_entry: bool | None = None,
        venue_client_id: str | None = None,
        internal_trade_id: str | None = None,
        intended_size: float | None = None,
        average_fill_price: float | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Self: ...
    @property
    def client_order_id(self) -> str: ...
    @property
    def venue_order_id(self) -> str: ...
    @property
    def slot_id(self) -> int: ...
    @property
    def trade_id(self) -> str: ...
    @property
    def asset(self) -> str: ...
    # The side of the order's trade (the original kernel's); ``order_side``: buy or sell.
    @property
    def side(self) -> TradeSide: ...
    @property
    def order_side(self) -> OrderSide: ...
    @property
    def order_type(self) -> OrderType: ...
    @property
    def price(self) -> float: ...
    @property
    def reference_price(self) -> float: ...
    @property
    def size(self) -> float: ...
    @property
    def filled_size(self) -> float: ...
    @property
    def avg_fill_price(self) -> float: ...
    @property
    def status(self) -> VenueOrderStatus: ...
    @property
    def reduce_only(self) -> bool: ...
    @property
    def is_entry(self) -> bool: ...
    @property
    def cancel_requested(self) -> bool: ...
    @property
    def created_at(self) -> float: ...
    # The original kernel's names: client_order_id, trade_id, size, avg_fill_price; and an
    # empty metadata dict (the trade's is the slot's).
    @property
    def venue_client_id(self) -> str: ...
    @property
    def internal_trade_id(self) -> str: ...
    @property
    def intended_size(self) -> float: ...
    @property
    def average_fill_price(self) -> float: ...
    # Empty and read-only (a types.MappingProxyType): a change in place raises TypeError.
    @property
    def metadata(self) -> Mapping[str, Any]: ...
    # The names of the intent the original kernel's venue got in ``submit``, where true of the
    # order: ENTER or EXIT, ``size``, ``price`` of a LIMIT order (0 for MARKET), ``created_at``
    # as a UTC datetime. An intent's ``intent_id``, ``leverage`` and ``reason`` are not an order's.
    @property
    def action(self) -> KernelCommandType: ...
    @property
    def target_size(self) -> float: ...
    @property
    def limit_price(self) -> float: ...
    @property
    def timestamp(self) -> datetime: ...
    def to_dict(self) -> dict[str, Any]: ...
    # Immutable: a copy or deep copy is the object itself; pickled as its fields (read back by
    # the same dita version).
    def __copy__(self) -> Self: ...
    def __deepcopy__(self, memo: Any, /) -> Self: ...

@final
class KernelTransition:
    """A slot's move from one stage to another, and the input that made it. Equal to a
    transition of the same fields (``details`` compared as dicts); hashed by its ids; pickles as
    its fields."""

    def __new__(
        cls,
        timestamp: float | datetime,
        trade_id: str,
        slot_id: int,
        prev_state: TradeStage | str,
        next_state: TradeStage | str,
        trigger: str,
        *,
        intent_id: str = "",
        event_id: str = "",
        details: Mapping[str, Any] | None = None,
        control_mode: ControlMode | str = "LIVE",
        control_verbosity: Verbosity | str = "NORMAL",
    ) -> Self: ...
    @property
    def timestamp(self) -> float: ...
    @property
    def trade_id(self) -> str: ...
    @property
    def slot_id(self) -> int: ...
    @property
    def prev_state(self) -> TradeStage: ...
    @property
    def next_state(self) -> TradeStage: ...
    @property
    def trigger(self) -> str: ...
    @property
    def intent_id(self) -> str: ...
    @property
    def event_id(self) -> str: ...
    # Read-only (a types.MappingProxyType): a change in place raises TypeError.
    @property
    def details(self) -> Mapping[str, Any]: ...
    # The mode and journal verbosity in force when the input that made it was taken.
    @property
    def control_mode(self) -> ControlMode: ...
    @property
    def control_verbosity(self) -> Verbosity: ...
    def to_dict(self) -> dict[str, Any]: ...
    # Immutable: a copy or deep copy is the object itself.
    def __copy__(self) -> Self: ...
    def __deepcopy__(self, memo: Any, /) -> Self: ...

@final
class KernelOutcome:
    """What one input did. Only a kernel makes one (``KernelOutcome(...)`` raises TypeError): a
    strategy's test takes one from a kernel, whose ``MockVenueAdapter`` fills, rejects, fills in
    part or rate limits as asked. Equal to an outcome of the same fields (transitions, events and
    order by their own ``==``, ``details`` as dicts); hashed by its slot, trade and ``seq``;
    pickles as its fields."""

    @property
    def accepted(self) -> bool: ...
    # Accepted, or a venue's rate limit: refused (RATE_LIMITED), yet it ended an order the
    # venue never acknowledged, or throttled a cancel. Route a venue's event on when this is true.
    @property
    def applied(self) -> bool: ...
    @property
    def slot_id(self) -> int: ...
    @property
    def trade_id(self) -> str: ...
    @property
    def state(self) -> TradeStage: ...
    @property
    def diagnostic_code(self) -> KernelDiagnosticCode: ...
    @property
    def severity(self) -> KernelSeverity: ...
    @property
    def transitions(self) -> tuple[KernelTransition, ...]: ...
    @property
    def emitted_events(self) -> tuple[VenueEvent, ...]: ...
    @property
    def order(self) -> VenueOrder | None: ...
    # Of a venue's answer: ``venue_answer_error`` (what was wrong with it: items skipped, a raise,
    # past MAX_VENUE_ANSWER_ITEMS); each event refused in ``venue_refusals`` (JSON text, a list of
    # ``{"event_id", "kind", "code"}``), with ``venue_events_refused`` (how many) and
    # ``venue_event_refused`` (the last one's diagnostic code). A venue's rate limit adds the
    # original kernel's ``reason``, ``retry_after_ms``, ``venue_event_kind``, ``severity``,
    # ``release_eta`` (ISO 8601, UTC) and ``retryable``. Read-only (a types.MappingProxyType):
    # a change in place raises TypeError.
    @property
    def details(self) -> Mapping[str, Any]: ...
    @property
    def seq(self) -> int: ...
    def to_dict(self) -> dict[str, Any]: ...
    # Immutable: a copy or deep copy is the object itself.
    def __copy__(self) -> Self: ...
    def __deepcopy__(self, memo: Any, /) -> Self: ...

@final
class TradeSlot:
    """A copy of one slot's state at the moment it was read, or a slot built from its fields.

    Equal to a slot of the same fields a caller sets: those of ``to_dict()`` but
    ``committed_notional``, which the kernel computes from them (a NaN equal to a NaN). So two
    copies of an unchanged slot are equal, a slot loaded from its own ``to_dict()`` equals it, and
    a ``SlotView`` equals a copy of its slot as it is now; hashed by its slot id, as a view is.
    ``TradeSlot(slot_id, **fields)`` takes the fields of a slot's dict as ``load_slots`` reads
    them, each checked as it checks it (ValueError or TypeError naming the field): numbers
    finite and within bounds, sizes, prices, leverage and ``leg_taken`` not negative (PnLs and
    fees of either sign), no subnormal price, times in seconds (not negative, not past the year
    9999), exit legs as an intent's, each order's own numbers. A field not given is a free
    slot's, and ``committed_notional`` is 0 until a kernel loads it. Orders may be
    ``VenueOrder``s or their dicts, times datetimes, seconds or None. How the fields fit
    together (its stage against its size and orders, a position's price, side, asset and trade
    id, its orders against its trade) is checked only when a kernel loads it.
    """

    def __new__(
        cls,
        slot_id: int,
        *,
        trade_id: str = "",
        asset: str = "",
        side: TradeSide | str = "FLAT",
        entry_price: float = 0.0,
        size: float = 0.0,
        initial_size: float = 0.0,
        leverage: float = 1.0,
        entry_time: float | datetime | None = None,
        unrealized_pnl: float = 0.0,
        realized_pnl: float = 0.0,
        fees_paid: float = 0.0,
        closed: bool = False,
        exit_leg_ratios: Sequence[float] | None = None,
        active_leg_index: int = 0,
        leg_taken: float = 0.0,
        active_entry_order: VenueOrder | Mapping[str, Any] | None = None,
        active_exit_order: VenueOrder | Mapping[str, Any] | None = None,
        fsm_state: TradeStage | str = "IDLE",
        close_reason: str = "",
        last_event_time: float | datetime | None = None,
        mark_price: float = 0.0,
        metadata: Mapping[str, MetaValue] | None = None,
    ) -> Self: ...
    @property
    def slot_id(self) -> int: ...
    @property
    def trade_id(self) -> str: ...
    @property
    def asset(self) -> str: ...
    @property
    def side(self) -> TradeSide: ...
    @property
    def entry_price(self) -> float: ...
    @property
    def size(self) -> float: ...
    @property
    def initial_size(self) -> float: ...
    @property
    def leverage(self) -> float: ...
    # When the trade was entered (UTC), None without one; ``entry_time_s``: in seconds, 0 without.
    @property
    def entry_time(self) -> datetime | None: ...
    @property
    def entry_time_s(self) -> float: ...
    @property
    def unrealized_pnl(self) -> float: ...
    @property
    def realized_pnl(self) -> float: ...
    @property
    def fees_paid(self) -> float: ...
    @property
    def closed(self) -> bool: ...
    @property
    def exit_leg_ratios(self) -> tuple[float, ...]: ...
    @property
    def active_leg_index(self) -> int: ...
    @property
    def active_entry_order(self) -> VenueOrder | None: ...
    @property
    def active_exit_order(self) -> VenueOrder | None: ...
    @property
    def fsm_state(self) -> TradeStage: ...
    @property
    def close_reason(self) -> str: ...
    @property
    def last_event_time(self) -> datetime | None: ...
    @property
    def last_event_time_s(self) -> float: ...
    # The price the slot was last marked at (``mark_price(price)`` marks a live view).
    @property
    def last_mark_price(self) -> float: ...
    @property
    def committed_notional(self) -> float: ...
    @property
    def leg_taken(self) -> float: ...
    # Read-only (a types.MappingProxyType): a change in place raises TypeError (the slot is a
    # copy; ``set_slot_metadata`` or the live view's ``metadata`` changes the kernel's).
    @property
    def metadata(self) -> Mapping[str, MetaValue]: ...
    @property
    def seen_event_ids(self) -> SeenEventIds: ...
    def to_dict(self) -> dict[str, Any]: ...
    # Whether free_slot() offers it; whether it holds a position; the share of the initial size
    # the kernel's next leg EXIT closed when the slot was read: that exit's size as the kernel
    # sizes it (the leg's share less what exits took of it, on the lot grid; the whole position
    # for the last leg, past the legs, or where the rest would be below the venue's floor) over
    # the initial size (over the size held, when more). A slot holding nothing: its active
    # leg's ratio, None past its legs.
    def is_free(self) -> bool: ...
    def is_open(self) -> bool: ...
    def next_exit_ratio(self) -> float | None:
        """The share of its initial size the kernel's next leg exit closed when the slot was
        read; a slot built from its fields, with no kernel's market rules, says its active leg's
        share (None past the legs)."""
    # Immutable: a copy or deep copy is the object itself; pickled as its fields (read back by
    # the same dita version).
    def __copy__(self) -> Self: ...
    def __deepcopy__(self, memo: Any, /) -> Self: ...

@final
class SeenEventIds:
    """The event ids a slot remembers having applied, asked with ``in``: the slot keeps their
    fingerprints, not the ids, so they cannot be listed (iterating raises TypeError)."""

    def __contains__(self, event_id: object, /) -> bool: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> None: ...

@disjoint_base
class MockVenueAdapter:
    """Deterministic, seeded in-process venue. Default: acknowledge and fill at once.

    Market orders fill at the order's reference price, limit orders at their limit price.
    """

    name: str
    def __new__(
        cls,
        *,
        seed: int = 0,
        fill_rate: float = 1.0,
        reject_rate: float = 0.0,
        partial_fill_rate: float = 0.0,
        partial_fill_ratio: float = 0.5,
        rate_limit_rate: float = 0.0,
        retry_after: float = 1.0,
        latency_ms: float = 0.0,
        name: str = "mock",
    ) -> Self: ...
    def submit(self, order: VenueOrder) -> list[VenueEvent]: ...
    def cancel(self, order: VenueOrder, reason: str = "") -> list[VenueEvent]: ...
    def open_orders(self) -> list[VenueOrder]: ...
    def positions(self) -> dict[str, float]: ...
    def fill_open_order(self, client_order_id: str, price: float | None = None) -> list[VenueEvent]:
        """Fills what is left of a resting order at ``price`` (None: its own price); a limit
        order at its limit or better only (a worse price: ValueError, the order stays open)."""
    def order_status(self, client_order_id: str, asset: str | None = None) -> VenueOrder | None: ...
    def resume(self, seq: int) -> None: ...
    def forget_order(self, client_order_id: str) -> bool: ...
    @property
    def submitted(self) -> int: ...

@final
class JournalBlock:
    """Rows of one journal table from one kernel, kept native; ``encode()`` gives a
    ClickHouse Native block (``kernel_id`` first), encoded with the GIL released."""

    @property
    def table(self) -> str: ...
    @property
    def kernel_id(self) -> str: ...
    @property
    def first_key(self) -> tuple[int, int] | None: ...
    @property
    def last_key(self) -> tuple[int, int] | None: ...
    @property
    def seq_range(self) -> tuple[int, int] | None: ...
    @property
    def nbytes(self) -> int:
        """The bytes the block's rows take as the kernel packed them: fixed-width values and
        strings (details and metadata included) at their length, plus a few bytes of lengths.
        Exact and O(1), nothing encoded; a slice counts its own rows. What ``queue_bytes``
        counts."""
    def __len__(self) -> int: ...
    def slice(self, start: int, stop: int) -> JournalBlock: ...
    def without(self, keys: set[tuple[int, int]]) -> JournalBlock: ...
    @staticmethod
    def concat(blocks: list[JournalBlock]) -> JournalBlock: ...
    def encode(self) -> bytes: ...
    def tuples(self) -> list[tuple[Any, ...]]: ...
    def __repr__(self) -> str: ...

@disjoint_base
class KernelCore:
    """The native kernel. ``dita.ExecutionKernel`` subclasses it; use that."""

    def __new__(
        cls,
        max_slots: int | None = None,
        venue: Any = None,
        journal: Any = None,
        projection: Any = None,
        control_plane: Any = None,
        kernel_id: str | None = None,
        **kwargs: Any,
    ) -> KernelCore: ...
    @property
    def kernel_id(self) -> str: ...
    @property
    def max_slots(self) -> int: ...
    @property
    def venue(self) -> Any: ...
    @property
    def seq(self) -> int: ...
    def process_intent(self, intent: KernelIntent) -> KernelOutcome: ...
    # Each intent as process_intent takes it, answered in columns (one item per intent):
    # accepted, applied, submitted (bool), seq (uint64), slot_id (int64), state,
    # diagnostic_code, severity (uint8: the member's number, which the member equals), fills
    # (uint32), filled_size, fill_price (float64: size-weighted, NaN without a fill). The
    # intents are KernelIntent objects, or columns named as KernelIntent's arguments (a dict
    # of NumPy or Arrow arrays, pandas Series of one index, or lists, an Arrow table or a pandas
    # DataFrame), read by position. Every intent is read and checked first (an error naming the
    # item, column or row); an error at an intent leaves those before it taken and carries
    # ``processed`` and ``outcomes`` (their columns).
    def process_intents(
        self, intents: Iterable[KernelIntent] | Mapping[str, Any]
    ) -> dict[str, npt.NDArray[np.generic]]: ...
    def on_venue_event(self, event: VenueEvent) -> KernelOutcome: ...
    # An AccountEvent is answered with its outcome; the original kernel's dict form with the
    # account as a dict (a refusal raises ValueError naming the diagnostic).
    @overload
    def on_account_event(self, event: AccountEvent) -> KernelOutcome: ...
    @overload
    def on_account_event(self, event: Mapping[str, Any]) -> dict[str, Any]: ...
    def mark_price(self, asset: str, price: float, timestamp: float | datetime | None = None) -> int: ...
    # Raises as mark_price does for a bad price, marking nothing (a slot view of a free slot).
    @staticmethod
    def _check_mark_price(price: float) -> None: ...
    def on_edge_update(
        self, asset: str, edge_bps: float, timestamp: float | datetime | None = None
    ) -> KernelOutcome: ...
    def free_slot_id(self) -> int | None: ...
    def slot_state(self, slot_id: int) -> TradeSlot: ...
    def slot_dict(self, slot_id: int) -> dict[str, Any]: ...
    # With if_trade (trade id, entry time in seconds): only while the slot holds that trade,
    # RuntimeError otherwise, nothing changed. None is refused (TypeError): {} clears it.
    def set_slot_metadata(
        self, slot_id: int, metadata: Mapping[str, MetaValue], *, if_trade: tuple[str, float] | None = None
    ) -> None: ...
    def set_slot_exit_leg_ratios(self, slot_id: int, ratios: Sequence[float]) -> None: ...
    # Replaces every slot from saved slot dicts (as slots() returns them), all checked before
    # any changes; returns the open positions. A dict's leg_taken (what exits took of its
    # active leg, 0 when it has none) is kept, so the next leg exit sends the rest of the leg.
    # At most max_slots items are read (more: ValueError), each checked before any applies.
    def load_slots(self, slots: Iterable[Mapping[str, Any] | _SlotWithDict]) -> int: ...
    # load_slots answered as the original kernel did: an outcome, details["open_positions"].
    def reconcile_from_slots(self, slots: Iterable[Mapping[str, Any] | _SlotWithDict]) -> KernelOutcome: ...
    # Writes the slot dict fields given (slot_id and committed_notional excepted) into one slot,
    # every other slot as the kernel holds it, checked and logged as load_slots is, in one step:
    # an input another thread applies meanwhile is kept. Returns the open positions.
    def set_slot_fields(
        self,
        slot_id: int,
        fields: Mapping[str, Any],
        *,
        if_trade: tuple[str, float] | None = None,
        if_leg: int | None = None,
    ) -> int: ...
    def set_seed_capital(self, seed: float) -> None: ...
    # taker_rate, maker_rate, lot_step, tick_size, min_notional, funding_interval_secs, all
    # checked before any applies: maker_rate may be negative (a rebate) down to -taker_rate;
    # the others not negative, rates below 0.1. ValueError naming the field and the value.
    def set_exchange_config(self, config: Mapping[str, Any]) -> None: ...
    def exchange_config(self) -> dict[str, Any]: ...
    def set_market_limits(self, asset: str, limits: Mapping[str, float]) -> None: ...
    def market_limits(self, asset: str) -> dict[str, float] | None: ...
    # require_source_run_in_live is a flag: a bool or the int 0 or 1. max_leverage is at least
    # 1e-15 and bounds the account's committed notional over its equity with each entry;
    # max_order_rate from 1 to 100000 (the most its window counts); ValueError otherwise.
    def set_risk_limits(self, limits: Mapping[str, Any]) -> None: ...
    def risk_limits(self) -> dict[str, Any]: ...
    # Teaches the calibration of its liquidity (maker=True: the maker's, else the taker's),
    # which that side's fills are predicted by; the result's calibration_ratio and
    # calibration_samples are that side's, and its liquidity says which ("MAKER"/"TAKER"). A
    # sample at a negative maker rate (a rebate) is learned as the rebate paid over the one
    # expected; a ratio outside 0..3 (a charge where a rebate was expected) is not
    # (calibration_learned False). One whose expected fee is 0, or so small it underflowed
    # (qty 1e-320), raises ValueError naming it.
    def calibrate_fee(
        self, fill_price: float, fill_qty: float, actual_fee: float, maker: bool = False
    ) -> dict[str, Any]: ...
    # ``source`` is kept with the control state, journaled and projected: one holding a NUL
    # byte is refused as an id is (ValueError naming it), nothing changed.
    # ``mode`` may be the original kernel's update: a dict of these arguments, also given as
    # ``update`` (the original's name; with ``mode`` too, TypeError). With ``if_mode``
    # (the mode its caller read) the change applies only while the kernel runs that mode, checked
    # under the kernel's own lock; else nothing changes and it returns None. An ``if_mode`` that
    # is no mode is refused naming it (ValueError, TypeError), nothing changed.
    @overload
    def update_control(
        self,
        mode: ControlMode | str | Mapping[str, Any] | None = None,
        verbosity: Verbosity | str | None = None,
        debug_clickhouse_enabled: bool | None = None,
        source: str = "local",
        *,
        if_mode: None = None,
        update: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]: ...
    @overload
    def update_control(
        self,
        mode: ControlMode | str | Mapping[str, Any] | None = None,
        verbosity: Verbosity | str | None = None,
        debug_clickhouse_enabled: bool | None = None,
        source: str = "local",
        *,
        if_mode: ControlMode | str,
        update: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None: ...
    def control(self) -> dict[str, Any]: ...
    # K/E figures, and the fee calibration: fee_calibration_ratio (the newest learned
    # sample's) and fee_calibration_samples (all), then {maker,taker}_fee_calibration_ratio
    # and _samples, which each liquidity's fills are predicted by.
    def account(self) -> dict[str, Any]: ...
    # Whether process_intent refuses an intent of this id as one it took (DUPLICATE_INTENT):
    # among the last 100,000 ids it accepted. A read; TypeError for an id not a str.
    def intent_taken(self, intent_id: str) -> bool: ...
    # account()["equity"] alone, without building the rest.
    def equity(self) -> float: ...
    def slots(self) -> list[dict[str, Any]]: ...
    def open_slot_ids(self, asset: str | None = None) -> list[int]: ...
    def open_orders(self) -> list[VenueOrder]: ...
    def awaited_orders(self) -> list[VenueOrder]: ...
    def orders_in_doubt(self) -> list[VenueOrder]: ...
    def orders_ended_without_figure(self) -> list[VenueOrder]: ...
    # The ids of the fills whose fees wait for the venue's settlement (k_unsettled_fees).
    def unsettled_fill_ids(self) -> list[str]: ...
    def snapshot(self) -> dict[str, Any]: ...
    # Counters, the journal's outbox, and intent_latency_count, _p50_ns, _p99_ns, _p999_ns and
    # _max_ns: each intent's time from the call to its outcome (None before the first).
    def stats(self) -> dict[str, int | None]: ...
    def __repr__(self) -> str: ...
    # Side-effect outboxes, drained by journal and projection threads (never by the hot path).
    def set_journal_enabled(self, enabled: bool) -> None: ...
    def drain_journal(self, max_rows: int = 10000) -> dict[str, list[tuple[Any, ...]]]: ...
    def drain_journal_blocks(self, max_rows: int = 100000) -> list[JournalBlock] | None: ...
    # Outbox on, nothing held, its mark of dropped inputs cleared; returns the kernel's seq
    # (rows up to it come from the write-ahead log). WalError while the log has failed.
    def journal_restart(self) -> int: ...
    # (True, oldest input whose rows the outbox dropped, or None); (False, None) when busy.
    def journal_drop_mark(self) -> tuple[bool, int | None]: ...
    # Clears the mark of dropped inputs and returns the kernel's seq S (rows of inputs up to S
    # come from the write-ahead log; their drops are not marked again). None when busy;
    # WalError while the log has failed.
    def journal_clear_drop_mark(self) -> int | None: ...
    # The journal rows of the log's records from_seq..=to_seq (default: the newest), derived
    # again by a read-only replay, handed to ``sink`` in chunks; returns the number of rows.
    def wal_journal_blocks(
        self,
        from_seq: int,
        to_seq: int | None = None,
        *,
        sink: Callable[[list[JournalBlock]], object],
        chunk_rows: int = 100000,
        every_intent: bool = False,
    ) -> int: ...
    def set_projection_enabled(self, enabled: bool) -> None: ...
    # What changed since the last call, all of one kernel state: (slot dicts by slot id, in
    # slot order, account or None, control or None). ``full``: everything; ``with_account``: the
    # account even unchanged. Without either, a busy kernel gives nothing. Copied in one borrow;
    # the dicts are made with the kernel free, the GIL handed over every millisecond.
    def projection_changes(
        self, *, full: bool = False, with_account: bool = False
    ) -> tuple[dict[int, dict[str, Any]], dict[str, Any] | None, dict[str, Any] | None]: ...
    # Write-ahead log (``wal_dir=PATH, fsync="always"|"batch"|"none"`` keywords of the constructor,
    # plus ``wal_checkpoint_every`` and ``wal_segment_bytes``). None when there is no log.
    def wal_info(self) -> dict[str, Any] | None: ...
    def journaled_through(self) -> int | None:
        """The newest input whose journal rows are handed out (what its log recovers, kept once the
        log is released); None for a kernel without a log."""
    def wal_sync(self) -> int | None: ...
    def stop_input(self) -> None:
        """Refuse every later input, once the venue calls under way are applied. From inside
        this kernel's own venue call: RuntimeError ("stop_input() was called from inside ..."),
        nothing changes."""
    def input_refused_reason(self) -> str | None:
        """Why the kernel takes no more input (closed or closing, its write-ahead log failed or
        released), as a refused input would say; None while it takes input. Changes nothing."""
    def close_core(self) -> int | None:
        """stop_input(), then sync the write-ahead log and release it (thread, lock); refused
        from inside this kernel's own venue call as stop_input() is, naming close_core()."""
    def wal_checkpoint(self) -> int | None: ...

class WalError(Exception):
    """The write-ahead log is damaged, belongs to another kernel or version, or failed to write."""

class VenueAnswerNotLogged(WalError, OSError):
    """The write-ahead log failed to record a venue's answer: the order reached the venue and is
    live there unless its answer ended it. A WalError (the log failed) and an OSError (the
    write's error). Its attributes name it: client_order_id, venue_order_id, slot_id, trade_id,
    answer (the venue's events as received, to_dict() each), logged (how many of them the log
    recorded; the kernel applied the next in memory), live (the answer's last status not final).
    The kernel takes no more input; a kernel opened on its log reconciles the order
    (reconcile_with_venue)."""

    client_order_id: str
    venue_order_id: str
    slot_id: int
    trade_id: str
    answer: tuple[VenueEvent, ...]
    logged: int
    live: bool

def wal_kernel_id(path: str | PathLike[str]) -> str | None: ...
def wal_verify(
    path: str | PathLike[str], expect_head: str | None = None, replay: bool = False
) -> dict[str, Any]: ...
def wal_replay(
    path: str | PathLike[str], max_slots: int | None = None
) -> tuple[KernelCore, dict[str, Any]]: ...
