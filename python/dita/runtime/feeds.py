"""The tick loop (``FeedLoop``): each bar or quote goes first to the venues that match against
it, then the venues that report later are polled and orders in doubt looked at, and then every
RUNNING strategy subscribed to it hears it. ``run`` drives it from a ``Feed`` (a history
replayed, quotes polled live), ``run_columns`` from columnar history; a streamed feed (a venue's
websocket) is a ``Feed`` too, or hands each point to ``on_bar``/``on_quote`` as it comes."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import nullcontext
from itertools import chain, islice, repeat
from typing import TYPE_CHECKING, Any

from dita._numbers import LAST_DATETIME_SECOND, is_finite
from dita._reading import read_failed, read_items
from dita._signals import held
from dita._signals import installed as signals_installed
from dita._text import shortened
from dita.risk import KERNEL_MAX, KERNEL_MIN_PRICE
from dita.runtime._shared import log, raise_first
from dita.runtime.callbacks import RUN_ENDING, StrategyCallbacks, refuse_returned_orders
from dita.runtime.clock import MarketClock
from dita.runtime.data_checks import (
    asset_flaw,
    bar_problem,
    is_number,
    not_a,
    numbers_fit_floats,
    quote_problem,
    rows_passing_checks,
)
from dita.runtime.doubts import OrdersInDoubt
from dita.runtime.lifecycle import Lifecycle
from dita.runtime.owners import TradeOwners
from dita.runtime.polling import VenuePolling
from dita.runtime.strategies import StrategyStatus
from dita.runtime.venue_data import VenueDataHandOver
from dita.runtime.venue_events import VenueEventIntake
from dita.strategy import Bar, Quote

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from dita.runtime.dead_man import DeadManSwitch

    # A column of ``run_columns``: a list, or an array made Python numbers a chunk at a time.
    Column = Sequence[float] | npt.NDArray[np.float64]

Feed = Iterable[Bar | Quote]
"""What ``run`` drives the strategies with: bars and quotes in time order, each handed over as
the feed yields it (a file replayed, a ticker polled, a stream)."""

_INF = math.inf
# Read once: an Enum member read from its class goes through the metaclass each time, about ten
# times a plain name's cost, and ``_hand_out`` reads it for every strategy at every row.
_RUNNING = StrategyStatus.RUNNING
_PROGRESS_SECONDS = 0.25
# Rows of columnar history made Python objects at a time: whole columns as lists would take 32
# bytes a number (1.9 GB for 10M bars) beside the arrays; a chunk's lists take about 12 MB.
ROWS_PER_CHUNK = 65_536
# How often a paced replay asks ``should_stop`` while it waits for the next item's time: a gap
# in the data (hourly bars at 60x, a weekend) would otherwise sleep a minute or hours past a
# --duration.
_STOP_CHECK_SECONDS = 0.25

_REENTERED = (
    "{call} called while the runtime is handing out a data point (from a strategy's callback "
    "or a listener): the other strategies would hear the new one before the one they are "
    "hearing; hand data to the runtime from the feed only"
)


class FeedLoop:
    """Hands each data point through the runtime's parts, in order, then to the strategies."""

    def __init__(
        self,
        lifecycle: Lifecycle,
        callbacks: StrategyCallbacks,
        clock: MarketClock,
        owners: TradeOwners,
        venue_data: VenueDataHandOver,
        intake: VenueEventIntake,
        polling: VenuePolling,
        doubts: OrdersInDoubt,
        dead_man: DeadManSwitch | None = None,
    ) -> None:
        self._lifecycle = lifecycle
        self._callbacks = callbacks
        self._clock = clock
        self._owners = owners
        self._venue_data = venue_data
        self._intake = intake
        self._polling = polling
        self._doubts = doubts
        self._dead_man = dead_man
        # The time of each asset's last bar: a second bar of one asset and time is refused.
        self._bar_at: dict[str, float] = {}
        # A data point is being handed out: one handed over meanwhile (a strategy feeding the
        # runtime from its callback) would reach the others before the one they are hearing.
        self._in_data_point = False

    # -- one data point ------------------------------------------------------------------

    def on_bar(self, bar: Bar) -> None:
        self._one_at_a_time("on_bar", self._on_bar, (bar,))

    def on_quote(self, quote: Quote) -> None:
        self._one_at_a_time("on_quote", self._on_quote, (quote,))

    def _one_at_a_time(self, call: str, body: Callable[[Any], None], points: Iterable[Any]) -> None:
        """``body(point)`` for each of ``points`` in turn, refused (RuntimeError) while another
        data point is being handed out. A replay hands a chunk of rows at once: one guard, not
        one a row."""
        if self._in_data_point:
            raise RuntimeError(_REENTERED.format(call=call))
        self._in_data_point = True
        try:
            # Orders sent to the kernel past the runtime (the gateway's, an ENTER by hand) come
            # between its calls: taken as working, the venues are handed the data they fill on.
            self._owners.any_order_works()
            for point in points:
                body(point)
        finally:
            self._in_data_point = False

    def _on_bar(self, bar: Bar) -> None:
        if type(bar) is not Bar and not isinstance(bar, Bar):
            if not (isinstance(bar, tuple) and len(bar) == 7):
                raise TypeError(not_a("on_bar", bar, Bar))
            # Read as a Bar: kept as a plain tuple, it would reach the strategies as one (no
            # ``bar.close``) and, as the asset's mark, fail every later order and finish().
            bar = Bar(*bar)
        clock = self._clock
        now = clock.data_time
        asset, ts, open_, high, low, close, volume = bar
        # One chained comparison per bar; NaN fails every one of them, most values that are not
        # numbers raise (the venues refuse both). A Decimal compares with floats, so the types
        # are looked at too: all floats at once, anything else number by number.
        try:
            valid = (
                now <= ts <= LAST_DATETIME_SECOND
                and KERNEL_MIN_PRICE <= low <= open_ <= high <= KERNEL_MAX
                and low <= close <= high
                and 0 <= volume < _INF
            )
        except TypeError:
            valid = False
        if not (
            valid
            and isinstance(asset, str)
            and asset
            and (asset in clock.latest or not asset_flaw(asset))
            and (
                float is type(ts) is type(open_) is type(high) is type(low) is type(close) is type(volume)
                or numbers_fit_floats(bar)
            )
        ):
            raise ValueError(bar_problem(bar, now))
        self._on_checked_bar(bar)

    def _on_checked_bar(self, bar: Bar) -> None:
        """A bar whose fields passed the checks (of ``_on_bar``, or of ``run_columns`` on whole
        columns): refused if earlier than the runtime's time, which moves as data is taken, or
        handed already; else taken."""
        asset, ts = bar[0], bar[1]
        clock = self._clock
        if not clock.data_time <= ts:
            raise ValueError(bar_problem(bar, clock.data_time))
        if self._bar_at.get(asset) == ts:
            # The venues refuse it (their fills of its volume share would count twice): refused
            # after the strategies heard it, or, held back, taken, a row would be heard and
            # traded twice.
            raise ValueError(
                f"bar for {shortened(repr(asset))} at ts {ts!r}: a bar of that asset and ts was "
                "handed already; a bar is handed once"
            )
        if not self._lifecycle.started:
            self._lifecycle.start()
        clock.advance(bar, asset, ts)
        self._bar_at[asset] = ts
        self._hand_out(bar, asset, ts, "bars", "on_bar")

    def _on_quote(self, quote: Quote) -> None:
        if type(quote) is not Quote and not isinstance(quote, Quote):
            if not (isinstance(quote, tuple) and len(quote) == 6):
                raise TypeError(not_a("on_quote", quote, Quote))
            quote = Quote(*quote)  # read as a Quote, as a tuple is read as a Bar by on_bar
        clock = self._clock
        now = clock.data_time
        asset, ts, bid, ask, bid_size, ask_size = quote
        try:
            valid = (
                now <= ts <= LAST_DATETIME_SECOND
                and KERNEL_MIN_PRICE <= bid <= ask <= KERNEL_MAX
                and 0 <= bid_size < _INF
                and 0 <= ask_size < _INF
            )
        except TypeError:
            valid = False
        if not (
            valid
            and isinstance(asset, str)
            and asset
            and (asset in clock.latest or not asset_flaw(asset))
            and (
                float is type(ts) is type(bid) is type(ask) is type(bid_size) is type(ask_size)
                or numbers_fit_floats(quote)
            )
        ):
            raise ValueError(quote_problem(quote, now))
        self._on_checked_quote(quote)

    def _on_checked_quote(self, quote: Quote) -> None:
        """A quote whose fields passed the checks (of ``_on_quote``, or of ``run_columns`` on
        whole columns): refused if earlier than the runtime's time; else taken."""
        asset, ts = quote[0], quote[1]
        clock = self._clock
        if not clock.data_time <= ts:
            raise ValueError(quote_problem(quote, clock.data_time))
        if not self._lifecycle.started:
            self._lifecycle.start()
        clock.advance(quote, asset, ts)
        self._hand_out(quote, asset, ts, "quotes", "on_quote")

    def _hand_out(self, point: Bar | Quote, asset: str, ts: float, kind: str, callback: str) -> None:
        """A checked data point's way through the runtime: the dead-man switch checked, handed to
        the venues (or held back from them), the venues that report later polled, orders in doubt
        looked at, then heard by each strategy subscribed to its ``kind`` still RUNNING
        (``callback``; one raising goes to ERROR). Each step runs whatever the one before raised;
        the first error is raised once the strategies have heard the point: raised at once, a
        venue's failure on the point would hide it from every strategy, no fault of theirs."""
        errors: list[Exception] = []
        if self._dead_man is not None:
            # First: a silence past its limit sets the kernel's mode before the strategies act on
            # the point.
            try:
                self._dead_man.on_data_point()
            except Exception as exc:
                errors.append(exc)
        venue_data = self._venue_data
        try:
            if self._owners.working or not venue_data.defer_venue_data:
                venue_data.hand_over_with(point)
            else:
                venue_data.hold_back(asset, point)
        except Exception as exc:
            errors.append(exc)
        self.ask_venues(time.monotonic() if self._clock.wall else ts, errors)
        callbacks = self._callbacks
        # Looked up after the venues: a strategy stopped or added from a fill's ``on_fill``
        # clears the cache, and is heard (or not) from this point on.
        cache = callbacks.bar_subscribers if kind == "bars" else callbacks.quote_subscribers
        subscribers = cache.get(asset)
        if subscribers is None:
            subscribers = cache[asset] = callbacks.subscribed(asset, kind)
        for handle, fn in subscribers:
            if handle.status is not _RUNNING:
                continue  # stopped, paused or failed by an earlier callback of this data point
            try:
                returned = fn(point)
                if returned is not None:
                    refuse_returned_orders(callback, returned)
            except BaseException as exc:
                if isinstance(exc, RUN_ENDING):
                    raise
                callbacks.fail(handle, callback, exc)
        if errors:  # rarely: every data point passes here
            raise_first(errors)

    def ask_venues(self, now: float, errors: list[Exception]) -> None:
        """What a data point asks of the venues (and a live loop between data points, through
        ``poll_venues_if_due``): those that report later polled when due, then the orders in
        doubt looked at when due (``now``: ``MarketClock.monotonic``). Each error is added to ``errors``."""
        if self._polling.polled_venues:
            try:
                self._polling.poll_if_due()
            except Exception as exc:
                errors.append(exc)
        if self._doubts.next_look <= now:
            try:
                self._doubts.look(now)
            except Exception as exc:
                errors.append(exc)

    # -- driving it ----------------------------------------------------------------------

    def run(
        self,
        feed: Feed,
        speed: float | None,
        progress: Callable[[int], None] | None,
        should_stop: Callable[[], bool] | None,
    ) -> int:
        if speed is not None and not (is_number(speed) and is_finite(speed) and speed > 0):
            raise ValueError(
                f"speed={shortened(repr(speed))} must be a positive number (or None for as fast as possible)"
            )
        start_wall = time.monotonic()
        first_ts: float | None = None
        count = 0
        # The feed is the caller's code (a generator, say): its error names the item it was
        # reading, none of which was handled.
        for item in read_items("run()", "feed", feed):
            if should_stop is not None and should_stop():
                break
            if not isinstance(item, Bar | Quote):
                # Before pacing reads its time, which a dict has not.
                raise TypeError(not_a(f"feed item {count}: run()", item, Bar, Quote))
            if speed is not None:
                if first_ts is None:
                    first_ts = item.ts
                due = (item.ts - first_ts) / speed - (time.monotonic() - start_wall)
                if should_stop is None:
                    if due > 0:
                        time.sleep(due)
                elif due > 0 and not wait_unless_stopped(due, should_stop, _STOP_CHECK_SECONDS):
                    break  # stopped while it waited: the item is not handled
            # A row is whole or not handled: a SIGTERM or Ctrl-C (in `dita paper`) raised in its
            # middle would count it handled with its strategies' decisions lost, and a run
            # continued on the log would skip it. Held, it ends the run after the row.
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
        progress: Callable[[int], None] | None,
        progress_every: int,
    ) -> int:
        if kind not in ("bars", "quotes"):
            raise ValueError(f"kind={kind!r} must be 'bars' or 'quotes'")
        if not (is_number(progress_every) and isinstance(progress_every, int) and progress_every > 0):
            raise ValueError(f"progress_every={progress_every!r} must be a positive whole number of rows")
        point_type: type[Bar] | type[Quote] = Bar if kind == "bars" else Quote
        call, handle_one, handle_checked = (
            ("on_bar", self._on_bar, self._on_checked_bar)
            if kind == "bars"
            else ("on_quote", self._on_quote, self._on_checked_quote)
        )
        fields = point_type._fields[2:]  # after asset and ts
        _check_sized("columns", columns, "a list of columns")
        if len(columns) != len(fields):
            raise ValueError(
                f"columns holds {len(columns)} columns; {kind} take {len(fields)} ({', '.join(fields)})"
            )
        if isinstance(asset, str | bytes | bytearray):
            # A str is a sequence too: "BT" would be two rows, of assets "B" and "T".
            raise TypeError(
                f"asset={shortened(repr(asset))} is {type(asset).__name__}, not a column: give one asset "
                "name per row (a list or array of str)"
            )
        names = ("asset", "ts", *(f"columns[{i}] ({field})" for i, field in enumerate(fields)))
        for name, column in zip(names, (asset, ts, *columns), strict=True):
            _check_sized(name, column, "a column (a list or an array)")
        n = len(ts)
        # Before any row (a chunk's zip sees only its own rows: a longer column would go unnoticed).
        for name, column in (("asset", asset), *((f"columns[{i}]", c) for i, c in enumerate(columns))):
            if len(column) != n:
                raise ValueError(f"{name} has {len(column):,} rows, ts has {n:,}: columns must be as long")
        for name, column in zip(names[1:], (ts, *columns), strict=True):
            dtype = getattr(column, "dtype", None)
            if getattr(dtype, "kind", None) in ("M", "m"):
                # Their tolist() gives ints in the column's unit (nanoseconds read as seconds).
                raise TypeError(
                    f"{name} is a {dtype} column: run_columns takes seconds as floats (a "
                    "datetime64[ns] column x as x.astype('int64') / 1e9)"
                )
        # tuple.__new__ makes each row its NamedTuple in C, where Bar(*row) runs a Python
        # frame; every row is as long as the type's fields (the columns counted above). The
        # type comes from ``repeat``: map's call is then tuple.__new__'s own, with no partial.
        points = map(tuple.__new__, repeat(point_type), _rows_in_chunks(names, asset, ts, columns, n))
        # Checked on whole arrays at once, the rows before ``checked`` skip the checks row by row
        # (a tenth of a backtest's work); from the first one that fails them, each is checked.
        checked = rows_passing_checks(kind, ts, asset, columns, self._clock.latest)
        done = 0
        # Rows between two calls of ``progress``: sized to take about a quarter second, from
        # one row up to ``progress_every`` (no clock is read per row).
        chunk = 1 if progress is not None else n
        while done < n:
            stop = min(n, done + chunk, checked if done < checked else n)
            started = time.monotonic()
            self._one_at_a_time(
                call, handle_checked if done < checked else handle_one, islice(points, stop - done)
            )
            if progress is not None:
                took = time.monotonic() - started
                progress(stop)
                grown = int((stop - done) * _PROGRESS_SECONDS / took) if took > 0 else progress_every
                chunk = max(1, min(progress_every, grown))
            done = stop
        return n

    def finish(self) -> None:
        errors: list[Exception] = []
        try:
            try:
                self._venue_data.sync_venues()
            except Exception as exc:
                errors.append(exc)
            if self._polling.polled_venues:
                try:
                    self._polling.poll_venues()
                except Exception as exc:
                    errors.append(exc)
        finally:
            self._intake.log_unapplied()
            try:
                self._clock.sync_marks()
            except Exception as exc:
                if not errors:
                    raise
                log.error("finish(): the last marks raised %s: %s", type(exc).__name__, exc)
        raise_first(errors)


def _rows_in_chunks(
    names: Sequence[str], asset: Sequence[str], ts: Column, columns: Sequence[Column], n: int
) -> Iterator[tuple[Any, ...]]:
    """The rows ``(asset, ts, *columns)`` of the first ``n``, read ``ROWS_PER_CHUNK`` at a time
    (``tolist()`` of an array's slice); a column shorter than ``ts`` raises, as one ``zip``.
    ``names``: the columns' names, in that order, for the error of one whose reading raises."""
    size = ROWS_PER_CHUNK

    def chunk(name: str, column: Any, lo: int) -> Any:
        try:
            part = column[lo : lo + size]
            return part.tolist() if hasattr(part, "tolist") else part
        except Exception as exc:
            # A column may be the caller's own sequence: its error names the column and rows.
            rows = f"rows {lo:,} to {min(n, lo + size) - 1:,} of {name}"
            raise read_failed("run_columns()", name, lo, exc, what=rows) from exc

    parts = (
        zip(*(chunk(name, c, lo) for name, c in zip(names, (asset, ts, *columns), strict=True)), strict=True)
        for lo in range(0, n, size)
    )
    # chain runs the zips in C: the per-row cost of one zip over whole lists.
    return chain.from_iterable(parts)


def _check_sized(name: str, value: object, wanted: str) -> None:
    """Refuses (TypeError naming ``name``) what has no length or items by index: a generator
    given as a column would be read once, and its rows could not be counted first."""
    kind = type(value)
    if not (hasattr(kind, "__len__") and hasattr(kind, "__getitem__")):
        raise TypeError(
            f"{name}={shortened(repr(value))} is a {kind.__name__}, not {wanted}: run_columns "
            "counts the rows before it reads any (give a generator as list(...))"
        )


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
