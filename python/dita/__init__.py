"""dita: a trading execution kernel with a Rust core.

Strategy code imports everything it needs from here::

    from dita import ExecutionKernel, KernelIntent
"""

from dita._kernel import (
    JOURNAL_COLUMNS,
    TERMINAL_ORDER_STATUSES,
    AccountEvent,
    AccountEventKind,
    ControlMode,
    KernelCommandType,
    KernelDiagnosticCode,
    KernelEventKind,
    KernelIntent,
    KernelOutcome,
    KernelSeverity,
    KernelTransition,
    MockVenueAdapter,
    OrderSide,
    OrderType,
    TradeSide,
    TradeSlot,
    TradeStage,
    VenueAnswerNotLogged,
    VenueEvent,
    VenueEventStatus,
    VenueOrder,
    VenueOrderStatus,
    Verbosity,
    __version__,
)
from dita._reading import ArgumentReadError
from dita.control import ControlChangeRefused, InMemoryControlPlane
from dita.journal import InMemoryJournal
from dita.kernel import ExecutionKernel, SlotView
from dita.projection import InMemoryProjection
from dita.risk import MarketLimits, RiskLimits
from dita.venues import (
    CcxtVenue,
    PaperVenue,
    ShadowVenue,
    VenueAdapter,
    VenueRouter,
    VenueTimeout,
    VenueUnavailable,
)

__all__ = [
    "JOURNAL_COLUMNS",
    "TERMINAL_ORDER_STATUSES",
    "AccountEvent",
    "AccountEventKind",
    "ArgumentReadError",
    "CcxtVenue",
    "ControlChangeRefused",
    "ControlMode",
    "ExecutionKernel",
    "InMemoryControlPlane",
    "InMemoryJournal",
    "InMemoryProjection",
    "KernelCommandType",
    "KernelDiagnosticCode",
    "KernelEventKind",
    "KernelIntent",
    "KernelOutcome",
    "KernelSeverity",
    "KernelTransition",
    "MarketLimits",
    "MockVenueAdapter",
    "OrderSide",
    "OrderType",
    "PaperVenue",
    "RiskLimits",
    "ShadowVenue",
    "SlotView",
    "TradeSide",
    "TradeSlot",
    "TradeStage",
    "VenueAdapter",
    "VenueAnswerNotLogged",
    "VenueEvent",
    "VenueEventStatus",
    "VenueOrder",
    "VenueOrderStatus",
    "VenueRouter",
    "VenueTimeout",
    "VenueUnavailable",
    "Verbosity",
    "__version__",
]
