"""TradingRuntime: one tick loop driving several strategies over one kernel.

Market data (bars or quotes, replayed from history or arriving live) goes first to the
venues that match against it (the paper venue), whose fills go to the kernel, and then to
every RUNNING strategy subscribed to it. Strategies decide through the kernel; the
runtime routes each fill back to the strategy that owns the trade.

Each strategy is RUNNING, PAUSED (gets no data, still hears its fills), STOPPED or ERROR:
an exception (or sys.exit) in one strategy's callback moves only that strategy to ERROR,
records the error, cancels its working entry orders (its exits keep working, its positions are
left to the operator), and the loop carries on with the others. ``stop(name)`` cancels the stopped
strategy's working entries alike; ``stop()`` (every strategy, a run's end) leaves the book.

Venues that report later (``poll_events``: a live exchange's fills of resting orders, its
cancels and expiries) are polled on each data point while orders work (or the kernel awaits
an ended order's fills, ``awaited_orders``), before the strategies hear it: under the wall
clock at most every ``poll_interval`` seconds after the last poll ended, under the data clock
on every data point. A live loop calls ``poll_venues_if_due()`` while it waits for data, which
polls as a data point would; ``poll_venues()`` polls at once (called while a poll's events are
routed, it has that poll poll again after them), and ``finish()`` polls once more.

Speed: a replay spends most of its time in strategy code, so the loop does nothing per
data point that it can defer. A venue only needs data while it has working orders or
when an order is about to be sent, so with nothing working the latest bar or quote is
kept and handed over just before the next submit, or ``sync_venues()`` (the venue ends up in
the same state as if it had seen every bar). Kernel marks are deferred the same way, to submits and reads.

``TradingRuntime`` (``trading_runtime``) builds its parts and answers through them; each part
keeps its own state, and those built later call those built earlier:

- ``clock``: the runtime's time and each asset's latest price, marked in the kernel (``MarketClock``);
- ``owners``: which strategy owns each trade, which orders work (``TradeOwners``);
- ``callbacks``: each strategy's handle, its callbacks and its failures (``StrategyCallbacks``);
- ``routing``: the venue events the kernel took, to listeners and strategies (``EventRouter``);
- ``venue_events``: a venue's own events given to the kernel, kept when it raises (``VenueEventIntake``);
- ``polling``: the venues that report later, polled (``VenuePolling``);
- ``venue_data``: market data handed to the venues that match against it (``VenueDataHandOver``);
- ``orders``: intents sent through the kernel (``OrderSubmission``, ``RuntimeRefusal``);
- ``doubts``: reconciling with the venue, on its own while orders are in doubt (``OrdersInDoubt``);
- ``lifecycle``: strategies added, started, paused, stopped, their entries canceled (``Lifecycle``);
- ``feeds``: the tick loop and what drives it, a ``Feed`` or columns (``FeedLoop``);
- ``strategies``, ``refusals``, ``data_checks``: what the parts share.
"""

from __future__ import annotations

from dita._kernel import TERMINAL_ORDER_STATUSES as TERMINAL_STATUSES
from dita.runtime.callbacks import ERROR_TEXT
from dita.runtime.data_checks import KERNEL_MAX_TEXT_BYTES
from dita.runtime.doubts import DOUBT_FIRST_WAIT, DOUBT_MAX_WAIT, DOUBT_POLL_SECONDS
from dita.runtime.feeds import ROWS_PER_CHUNK, Feed, wait_unless_stopped
from dita.runtime.orders import RuntimeRefusal
from dita.runtime.owners import RELEASED_MEMORY
from dita.runtime.polling import POLL_ROUNDS
from dita.runtime.refusals import (
    REJECTIONS_SHOWN,
    ROUTINE_REFUSALS,
    KernelRefusals,
    ReasonCounts,
    VenueRejections,
    refusal_reason,
    refusals_said,
)
from dita.runtime.routing import EventListener, FillListener, IntentListener, SetAsideListener, TakenListener
from dita.runtime.strategies import (
    KernelClosed,
    StrategyContext,
    StrategyHandle,
    StrategyStatus,
    check_strategy_instance,
    check_strategy_unused,
)
from dita.runtime.trading_runtime import LIVE_FILLS_KEPT, TradingRuntime

__all__ = [
    "DOUBT_FIRST_WAIT",
    "DOUBT_MAX_WAIT",
    "DOUBT_POLL_SECONDS",
    "ERROR_TEXT",
    "KERNEL_MAX_TEXT_BYTES",
    "LIVE_FILLS_KEPT",
    "POLL_ROUNDS",
    "REJECTIONS_SHOWN",
    "RELEASED_MEMORY",
    "ROUTINE_REFUSALS",
    "ROWS_PER_CHUNK",
    "TERMINAL_STATUSES",
    "EventListener",
    "Feed",
    "FillListener",
    "IntentListener",
    "KernelClosed",
    "KernelRefusals",
    "ReasonCounts",
    "RuntimeRefusal",
    "SetAsideListener",
    "StrategyContext",
    "StrategyHandle",
    "StrategyStatus",
    "TakenListener",
    "TradingRuntime",
    "VenueRejections",
    "check_strategy_instance",
    "check_strategy_unused",
    "refusal_reason",
    "refusals_said",
    "wait_unless_stopped",
]
