"""``TradingRuntime``: one tick loop driving several strategies over one kernel, built from
parts that each keep their own state (see the package docstring for the picture)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from dita._kernel import KernelIntent, KernelOutcome, VenueEvent
from dita._numbers import only_a_flag
from dita._reading import read_items
from dita._text import shortened
from dita.reconcile import ENDED_LOOKUPS, ReconciliationReport
from dita.runtime._shared import CallDepth, raise_first
from dita.runtime.callbacks import StrategyCallbacks
from dita.runtime.clock import MarketClock
from dita.runtime.data_checks import is_number
from dita.runtime.doubts import OrdersInDoubt
from dita.runtime.feeds import Feed, FeedLoop
from dita.runtime.lifecycle import Lifecycle
from dita.runtime.orders import OrderSubmission
from dita.runtime.owners import TradeOwners
from dita.runtime.polling import VenuePolling
from dita.runtime.routing import (
    EventListener,
    EventRouter,
    FillListener,
    IntentListener,
    SetAsideListener,
    TakenListener,
)
from dita.runtime.strategies import StrategyContext, StrategyHandle, StrategyIds
from dita.runtime.venue_data import VenueDataHandOver
from dita.runtime.venue_events import VenueEventIntake
from dita.strategy import Bar, Quote, Strategy
from dita.venues import POLL_SECONDS

if TYPE_CHECKING:
    from dita.runtime.dead_man import DeadManSwitch
    from dita.runtime.feeds import Column

# How many of its latest fills each strategy keeps in ``fills`` under the wall clock by default
# (``fills_kept``): a live run is open-ended, and every fill kept would grow its memory for good.
LIVE_FILLS_KEPT = 10_000


class TradingRuntime:
    """``TradingRuntime(kernel, venues=None, clock="data", poll_interval=1.0)``.

    ``defer_venue_data``: hand data to the venues only when they can use it (see the package
    docstring); False hands over every data point at once.
    ``venues``: the venues that take market data (``on_bar``/``on_quote``); by default the
    kernel's venue, or each venue of a router, that has those methods. ``clock="data"``
    makes the data's timestamps the time (replay); ``"wall"`` uses the machine clock (live).
    ``poll_interval``: under the wall clock, the fewest seconds between two polls of the
    venues that report later (``poll_venues``) that data points (and ``poll_venues_if_due``)
    make; a positive finite number (a fast quote feed must not hammer an exchange), counted
    from the end of the last poll. Under the data clock they are polled on every data point
    while orders work (or the kernel awaits an ended order's fills).
    ``fills_kept``: how many of its latest fills each strategy keeps in ``Strategy.fills`` (at
    least that many, up to twice as many between two trims); None, the default, keeps every
    fill under the data clock (a replay's feed ends) and the latest ``LIVE_FILLS_KEPT`` under
    the wall clock (a live run does not). ``Strategy.fills_total`` counts every fill.
    ``record_data_place``: each intent the runtime sends carries where in the data it was
    decided in its metadata, ``data_time`` (the last data point's time) and
    ``rows_at_data_time`` (that point's place among those of its time, from 1), so a kernel's
    log tells which data points a run killed mid-way had handled (``dita paper``).
    ``dead_man``: a ``DeadManSwitch`` on the kernel, checked (``on_data_point``) on each data
    point before the strategies hear it (a trip's plane entry is written in the background: close
    the switch before the kernel); one that raises is raised as a venue's failure on the point
    is, once the strategies have heard it.

    ``defer_venue_data``, ``poll_interval`` and ``fills_kept`` set later are checked as here: a
    value refused raises (ValueError; TypeError for a flag) naming it, the setting unchanged.
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
        record_data_place: bool = False,
        dead_man: DeadManSwitch | None = None,
    ) -> None:
        if clock not in ("data", "wall"):
            raise ValueError(f"clock={clock!r} must be 'data' or 'wall'")
        if dead_man is not None and not (
            callable(getattr(dead_man, "on_data_point", None)) and getattr(dead_man, "kernel", None) is kernel
        ):
            # Found at the first data point, it would raise on every point; on another kernel,
            # a trip would set that kernel's mode, not this runtime's.
            raise ValueError(
                f"dead_man={shortened(repr(dead_man))} must be a DeadManSwitch on this runtime's kernel"
            )
        poll_interval = _checked_poll_interval(poll_interval)
        fills_kept = _checked_fills_kept(fills_kept, clock)
        defer_venue_data = _checked_flag("defer_venue_data", defer_venue_data)
        self.kernel = kernel
        if venues is None:
            venues = _market_venues(kernel.venue)
        else:
            # Read once, here: a generator would give its venues to the bar venues alone.
            venues = list(read_items("TradingRuntime()", "venues", venues))
        self.bar_venues = [v for v in venues if callable(getattr(v, "on_bar", None))]
        self.quote_venues = [v for v in venues if callable(getattr(v, "on_quote", None))]
        # The venues that report later, each polled once (a router polls those behind it).
        self.polled_venues = _polled_venues(kernel.venue, venues)
        self.fill_listeners: list[FillListener] = []
        self.event_listeners: list[EventListener] = []
        self.intent_listeners: list[IntentListener] = []
        self.taken_listeners: list[TakenListener] = []
        self.set_aside_listeners: list[SetAsideListener] = []
        # Called with each intent before the kernel takes it, the marks synced (the backtest
        # halts a bust account's entries there); one raising stops the intent.
        self.intent_checks: list[Callable[[KernelIntent], None]] = []
        self.stats = _new_stats()

        # The parts, each with its own state; those built later call those built earlier.
        calls = CallDepth()
        self._clock = MarketClock(kernel, clock)
        self._owners = TradeOwners(kernel)
        self._callbacks = StrategyCallbacks(kernel, calls)
        self.handles: dict[str, StrategyHandle] = self._callbacks.handles
        self._router = EventRouter(
            kernel,
            self._owners,
            self._callbacks,
            self._clock,
            self.event_listeners,
            self.fill_listeners,
            self.taken_listeners,
            self.stats,
            fills_kept,
        )
        self._intake = VenueEventIntake(kernel, self._router, self.set_aside_listeners, self.stats)
        self._polling = VenuePolling(
            kernel,
            self.polled_venues,
            poll_interval,
            self._clock.wall,
            self._intake,
            self._router,
            self._owners,
            calls,
            self.stats,
        )
        self._venue_data = VenueDataHandOver(
            self.bar_venues, self.quote_venues, defer_venue_data, self._intake, calls, self.stats
        )
        ids = StrategyIds(kernel)
        self._orders = OrderSubmission(
            kernel,
            self.handles,
            self._owners,
            self._clock,
            self._venue_data,
            self._polling,
            calls,
            self.stats,
            self.intent_listeners,
            self.intent_checks,
            ids,
        )
        self._orders.record_data_place = bool(record_data_place)
        self.ctx = StrategyContext(self, self._orders, self._clock, ids)
        self._doubts = OrdersInDoubt(kernel, self._router, self._venue_data, self._clock, calls, self.stats)
        # Once the runtime is out of every call, it cancels the entries of strategies that left.
        self._lifecycle = Lifecycle(
            kernel, self.ctx, self._callbacks, self._owners, self._orders, self._clock, calls, self.stats
        )
        self._feeds = FeedLoop(
            self._lifecycle,
            self._callbacks,
            self._clock,
            self._owners,
            self._venue_data,
            self._intake,
            self._polling,
            self._doubts,
            dead_man,
        )

    # -- settings ------------------------------------------------------------------------
    # Set after the runtime is made, each is checked as the constructor checks it: a
    # ``fills_kept`` of "5" would raise inside the routing of a venue's fills, losing them.

    @property
    def clock(self) -> str:
        """The runtime's time: ``"data"``, the data's timestamps, or ``"wall"``, the machine clock."""
        return self._clock.clock

    @property
    def poll_interval(self) -> float:
        return self._polling.poll_interval

    @poll_interval.setter
    def poll_interval(self, seconds: float) -> None:
        self._polling.poll_interval = _checked_poll_interval(seconds)

    @property
    def defer_venue_data(self) -> bool:
        return self._venue_data.defer_venue_data

    @defer_venue_data.setter
    def defer_venue_data(self, defer: bool) -> None:
        self._venue_data.defer_venue_data = _checked_flag("defer_venue_data", defer)

    @property
    def fills_kept(self) -> int | None:
        return self._router.fills_kept

    @fills_kept.setter
    def fills_kept(self, fills: int | None) -> None:
        self._router.fills_kept = _checked_fills_kept(fills, self.clock)

    # -- strategies ----------------------------------------------------------------------

    def add_strategy(
        self, strategy: Strategy[Any], *, max_slots: int | None = None, source_run: str | None = None
    ) -> StrategyHandle:
        """Run ``strategy`` (an instance) on this runtime. An instance runs on one runtime: one
        that ran on another keeps that run's slots and fills, so it is refused.

        ``max_slots``: the most kernel slots the strategy's trades may hold at once (None, the
        default: no budget). Strategies sharing a kernel share its slots, and one entering on
        every bar would take them all; past its budget an ENTER is refused before the kernel
        sees it (``RuntimeRefusal``: INVALID_INTENT naming ``max_slots``), and an exit or cancel
        never is. A whole number from 1 to the kernel's ``max_slots``; anything else is a
        ValueError.

        ``source_run``: the research run the strategy's parameters come from. Each of its intents
        whose metadata names no ``source_run`` carries this one, which the kernel asks of every
        intent in LIVE mode (``require_source_run_in_live``)."""
        return self._lifecycle.add_strategy(strategy, max_slots, source_run)

    def start(self) -> None:
        """Call ``on_start`` of every RUNNING strategy not started yet (once each: called again,
        it would reset a running strategy's state). Strategies added later are started when they
        are added, a PAUSED one when it is resumed. The first bar or quote handed to a runtime
        not started yet calls this first."""
        self._lifecycle.start()

    def pause(self, name: str) -> None:
        """A PAUSED strategy gets no data, and still hears its fills."""
        self._lifecycle.pause(name)

    def resume(self, name: str) -> None:
        self._lifecycle.resume(name)

    def stop(self, name: str | None = None, *, cancel_entries: bool | None = None) -> None:
        """Stop one strategy (or all): ``on_stop`` is called, once (a ``stop`` called while it
        runs, from it or from a partner's it stops, passes that strategy by); strategies in
        ERROR stay there, and so does one put in ERROR while its ``on_stop`` ran.
        After ``on_stop`` a strategy hears no data nor fills (``on_fill``), not even the rest of
        a data point being handed out (stopped from another strategy's callback).

        ``cancel_entries`` (default: when ``name`` names one strategy) cancels the entry orders
        each stopped strategy still has working or in doubt once its ``on_stop`` returned, as
        for a strategy put in ERROR: nobody hears their fills any more, so one filled later
        would open a position nobody exits. Exits keep working and positions stay open. Stopping
        every strategy (a run's end) leaves the book by default: a continued run takes it back."""
        self._lifecycle.stop(name, cancel_entries)

    def status(self) -> list[dict[str, Any]]:
        return self._callbacks.status()

    def trade_owner(self, trade_id: str) -> str | None:
        """The name of the strategy whose trade ``trade_id`` is (held, or freed from its slot:
        a trade adopted after a restart with its order in doubt is freed), None when it is
        nobody's."""
        handle = self._owners.owner_of(trade_id)
        return handle.strategy.name if handle is not None else None

    # -- time and marks ------------------------------------------------------------------

    def now(self) -> float:
        return self._clock.now()

    @property
    def row(self) -> int:
        """The index of the last data point handed to the runtime (-1 before the first)."""
        return self._clock.row

    @property
    def data_points(self) -> int:
        return self._clock.row + 1

    def resume_at(self, ts: float, rows_at_ts: int = 0) -> None:
        """A replay continuing an earlier run's (clock "data"): its time is ``ts`` before the
        first data point, so what is stamped then (a reconciliation's events) is a time of the
        data, and no earlier data point is taken. ``rows_at_ts``: how many data points of ``ts``
        the earlier runs took (``record_data_place`` counts the next ones after them)."""
        self._clock.resume_at(ts, rows_at_ts)

    def sync_marks(self) -> None:
        """Give the kernel the latest price of every asset whose price moved since the last mark."""
        self._clock.sync_marks()

    def sync_venues(self) -> None:
        """Hand the venues that take market data what the runtime held back from them: the
        latest bar or quote of each asset, in time order, kept while no order worked
        (``defer_venue_data``). The events of theirs the kernel raised on before (busy) are
        given to it first. The runtime calls it before an order or a reconciliation reaches
        the venues and at ``finish()``; call it before reading or saving a venue's state (its
        clock, quotes, book), which lags the data handed to the runtime until then. Raises as a
        data point does (``on_bar``). Called while the venues' data is being handed over (a
        strategy's ``on_fill`` sending an intent), it does nothing: that hand-over runs on."""
        self._venue_data.sync_venues()

    # -- orders --------------------------------------------------------------------------

    @property
    def working_orders(self) -> int:
        return len(self._owners.working)

    def submit(self, strategy: Strategy[Any], intent: KernelIntent) -> KernelOutcome:
        """Send ``strategy``'s ``intent`` through the kernel (what ``Strategy.submit`` and its
        helpers call), its answer routed to the listeners and the strategies."""
        return self._orders.submit(strategy, intent)

    def report_edge(self, asset: str, edge_bps: float) -> KernelOutcome:
        """Tell the kernel's risk guard the measured edge; a freeze cancels working orders,
        whose venue answers are routed like any other event."""
        return self._orders.report_edge(asset, edge_bps)

    def operator_intent(self, intent: KernelIntent) -> KernelOutcome:
        """An intent of the run's own, not a strategy's (the backtest's cancel of a blown
        account's working entries, the runtime's of a failed strategy's): the kernel's answer
        is routed to the listeners and the strategies owning the trades, as the answer to a
        strategy's own intent is; a listener's error is raised once it is routed."""
        errors: list[Exception] = []
        outcome = self._orders.operator_intent(intent, errors)
        raise_first(errors)
        return outcome

    def poll_venues(self) -> list[VenueEvent]:
        """Ask each venue that reports later (``polled_venues``: a callable ``poll_events``;
        a router once, which asks those behind it) for its news, and route every event as the
        venue's other events are: to the kernel, the listeners and the strategy owning the
        trade (``on_fill``), in ``stats``. Returns the events the venues gave. A venue with
        ``account_events()`` (a ``CcxtVenue`` on its user stream) gives the kernel what it learned
        of the account too (``stats["account_events"]``), at each poll and, with no order to ask
        about, at each data point (under the wall clock, every ``poll_interval``).

        Data points call it while orders work (see the class docstring), and ``finish()``
        once; a live loop that may go a while without data calls ``poll_venues_if_due()`` while
        it waits, or a resting order's fill waits for the next data point. A poll
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
        and the poll is made once that answer is routed, its events routed as any poll's.
        Polled at once, the later poll's events would reach everyone before the rest of the
        earlier poll's. At most ``POLL_ROUNDS`` polls a call: one asked for past them is logged
        at WARNING and made by the next poll, which the next data point makes at once (not
        ``poll_interval`` later).

        Under the wall clock the next data point's poll comes ``poll_interval`` after this
        call ends (all its polls made and routed), not after it started."""
        return self._polling.poll_venues()

    def poll_venues_if_due(self) -> None:
        """What a data point asks of the venues that report later, without one: ``poll_venues()``
        while orders work, the kernel awaits an ended order's fills (``awaited_orders``), a venue
        still asks about an order (``following()``) or events wait for a busy kernel, under the
        wall clock once ``poll_interval`` has passed since the last poll ended (under the data
        clock at every call); else the account events the venues hold (a deposit, a funding
        payment) are given to the kernel, at most every ``poll_interval``. Then the orders in
        doubt (a submit that timed out) are asked about when due, as at a data point.

        A live loop calls it while it waits for data (``dita live`` between bars), so a fill the
        venue has is routed to the kernel and the strategy's ``on_fill`` within
        ``poll_interval``, not at the next bar. It shares the interval with the data points: a
        data point within ``poll_interval`` of its poll polls nothing. Call it on the thread that
        hands over the data, between data points. Raises as ``poll_venues()`` does (a
        listener's error once every event is routed)."""
        errors: list[Exception] = []
        self._feeds.ask_venues(self._clock.monotonic(), errors)
        raise_first(errors)

    def reconcile_with_venue(
        self,
        *,
        cancel_unknown: bool = True,
        cancel_foreign_orders: bool = False,
        only_in_doubt: bool = False,
        ended_lookups: int = ENDED_LOOKUPS,
    ) -> ReconciliationReport:
        """Reconcile the kernel with its venue (``dita.reconcile``) while this runtime runs: the
        events reconciliation applies (a missed fill, an order's end, a lost submit's REJECT)
        reach the listeners and the strategies owning their trades, as a venue's own events
        do. Called on the kernel directly, they would not: a strategy whose lost submit was
        ended would stay busy for good, and a missed fill never reach its ``on_fill``.

        The venues are handed the deferred market data first, so they answer as of now.
        Raises what ``reconcile_with_venue`` raises (nothing changed); a listener's error is
        raised once every event is routed."""
        return self._doubts.reconcile_with_venue(
            cancel_unknown, only_in_doubt, ended_lookups, cancel_foreign_orders=cancel_foreign_orders
        )

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
        data (``sync_venues``); taking no more input, the venues get no more data and the
        kernel's error is raised once the rest is routed. A runtime not
        started yet is started first: ``on_start`` comes before the first data point.
        Handed over while one is being handed out (from a strategy's callback or a listener),
        it raises RuntimeError and changes nothing."""
        self._feeds.on_bar(bar)

    def on_quote(self, quote: Quote) -> None:
        """One quote: venues first, then subscribed strategies. A quote the venues would
        refuse raises ValueError naming the field before anything changes (see ``on_bar``).
        Handed over while one is being handed out (from a strategy's callback or a listener),
        it raises RuntimeError and changes nothing."""
        self._feeds.on_quote(quote)

    def run(
        self,
        feed: Feed,
        *,
        speed: float | None = None,
        progress: Callable[[int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> int:
        """Replay ``feed`` (bars and quotes in time order). ``speed`` None runs as fast as
        possible; 1.0 keeps the data's pace in wall-clock time, 60 runs a minute per second.
        Each item must be a ``Bar`` or a ``Quote`` (a plain tuple, a dict or a pandas row says
        neither: TypeError). ``should_stop`` is asked before each item and, while a paced run
        waits for an item's time, every quarter second (``wait_unless_stopped``). An error the
        feed's own code raises (a generator's) is raised as ``ArgumentReadError`` naming the item,
        the items before it handled and the clock at the last of them. Returns the number of data
        points handled."""
        return self._feeds.run(feed, speed, progress, should_stop)

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
        row would otherwise show no progress for 100 s). Arrays (numpy) are made Python numbers
        ``ROWS_PER_CHUNK`` rows at a time, as the replay reaches them; a column that raises as it is
        read is named with those rows (``ArgumentReadError``). A column without a length (a
        generator) is a TypeError naming it, before any row."""
        return self._feeds.run_columns(ts, asset, columns, kind, progress, progress_every)

    def finish(self) -> None:
        """Hand the venues every deferred data point, take the news of the venues that report
        later (``poll_venues``: a fill that came since the last data point) and give the
        kernel the last marks. Each step runs whatever the one before raised (the first error
        is raised at the end): skipped, the venue's last fills would never reach the kernel and
        the open trades keep old marks. Venue events the kernel still has not taken (busy), or
        set aside (``stuck``), are named in an ERROR, for reconciliation."""
        self._feeds.finish()


def _checked_poll_interval(seconds: object) -> float:
    """``poll_interval`` as the runtime keeps it; what is no positive finite number of seconds is
    a ValueError naming it (inf would never poll again under the wall clock, 0 or NaN poll on
    every data point)."""
    if (
        not (isinstance(seconds, int | float) and is_number(seconds) and math.isfinite(seconds))
        or seconds <= 0
    ):
        raise ValueError(
            f"poll_interval={shortened(repr(seconds), 80)} must be a positive finite number of seconds"
        )
    return float(seconds)


def _checked_fills_kept(fills: object, clock: str) -> int | None:
    """``fills_kept`` as the runtime keeps it under ``clock``: None, the clock's default, is
    LIVE_FILLS_KEPT under the wall clock; what is no positive whole number is a ValueError."""
    if fills is None:
        return LIVE_FILLS_KEPT if clock == "wall" else None
    if not (is_number(fills) and isinstance(fills, int) and fills > 0):
        raise ValueError(
            f"fills_kept={shortened(repr(fills), 80)} must be a positive whole number of fills, or None "
            "(every fill under the data clock, the latest LIVE_FILLS_KEPT under the wall clock)"
        )
    return fills


def _checked_flag(name: str, flag: object) -> bool:
    """Setting ``name`` read as a flag (a bool, or the int 0 or 1); anything else is a TypeError
    naming it: read by its truth, ``"false"`` would be True."""
    try:
        return only_a_flag(flag)
    except ValueError:
        raise TypeError(
            f"{name}={shortened(repr(flag), 80)} must be True or False (or the int 0 or 1)"
        ) from None


def _new_stats() -> dict[str, int]:
    return {
        "intents": 0,
        "refused": 0,
        "fills": 0,
        "venue_events": 0,
        # Account events (balances, margins, funding payments) venues gave and the kernel took
        # (``account_events()``), and those it refused, a duplicate aside (each logged).
        "account_events": 0,
        "account_events_refused": 0,
        "doubt_reconciliations": 0,
        # Polls of a venue that raised or gave what is not a list of events, or on whose
        # events the kernel raised (each logged).
        "venue_poll_errors": 0,
        # Answers of the venues to market data on whose events the kernel raised (each
        # logged; busy, the events are kept: see `VenueDataHandOver.hand_over`).
        "venue_data_errors": 0,
        # Data points a market-data venue raised on (``on_bar``/``on_quote``): the other
        # venues and the later points are still handed over, the first error raised after.
        "venue_data_raised": 0,
        # Hand-overs of the held-back data and waiting venue events (``sync_venues``) that
        # raised before a strategy's submit or report_edge or an operator's intent: logged
        # at ERROR, the call made all the same (see ``OrderSubmission._sync_before``).
        "sync_errors": 0,
        # Venue events set aside: the kernel raised on one STUCK_AFTER times in a row (not
        # busy), and it held the venue's later events back (each named at ERROR).
        "venue_events_stuck": 0,
        # Cancels of the working entries of strategies put in ERROR, and those of them that
        # raised or were refused (each logged at ERROR): see `Lifecycle.cancel_left_entries`.
        "error_cancels": 0,
        "error_cancels_failed": 0,
        # The same for strategies stopped by name (or with cancel_entries=True): see `stop`.
        "stop_cancels": 0,
        "stop_cancels_failed": 0,
    }


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
    place (polled on their own, the router would never see their orders end), and only when one
    of them reports later, as a router of paper venues would poll none (a replay pays nothing)."""
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
