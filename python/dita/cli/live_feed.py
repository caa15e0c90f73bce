"""The live feed of ``dita paper --ccxt-exchange``: what a strategy takes, from the exchange.

A strategy that takes bars gets them from the exchange's kline stream (``MarketStream``, ccxt.pro),
one bar per ``--bar-interval``, closed on time; one that takes quotes gets the top of book, polled
from the ticker every ``--poll`` seconds (``--quote-feed poll``, the default), streamed from the
order book (``--quote-feed stream``) or from the book ticker (``--quote-feed ticker``). One feed
gives one kind, in time order."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import typer

from dita._text import shortened
from dita.cli._common import fail
from dita.venues.ccxt.quote_silence import QuoteSilence

if TYPE_CHECKING:
    from dita.venues.ccxt.market_stream import MarketKind

__all__ = ["PAPER_OPTIONS", "LiveFeed", "check_quote_feed", "choose_live_feed"]

STOP_CHECK_S = 0.5  # the live feed looks at --duration (and the other stops) this often while it waits
FEED_SILENCE_EVERY_S = 60.0  # how often a live feed symbol without quotes says so on stderr
BAR_GRACE_S = 2.0  # how long past a period's end its closing kline is waited for before REST is asked
# Kline units whose periods the market stream's bar clock does not keep (ccxt's w, M, y): it
# counts whole intervals from the epoch, a Thursday, and ccxt's month is 30 days.
CALENDAR_UNITS = frozenset("wMy")
# The market stream's kind and the ccxt.pro method it needs, by --quote-feed (poll needs none).
_STREAMED_QUOTES: dict[str, tuple[MarketKind, str]] = {
    "stream": ("quotes", "watchOrderBook"),
    "ticker": ("ticker", "watchBidsAsks"),
}


def check_quote_feed(quote_feed: str) -> None:
    """Exits 2 unless ``quote_feed`` is a --quote-feed value: checked before the exchange is
    reached, so that a typo is not reported as the network's failure."""
    if quote_feed not in ("poll", *_STREAMED_QUOTES):
        fail(f"--quote-feed={quote_feed!r}: give poll, stream or ticker")


class LiveFeed:
    """The feed a live run follows, and the stream it runs (closed by ``close``)."""

    def __init__(
        self, client: Any, symbols: list[str], kind: str, *, stream: Any = None, poll_s: float = 1.0
    ) -> None:
        self.client = client
        self.symbols = symbols
        self.kind = kind
        self.stream = stream
        self.poll_s = poll_s

    def items(self, should_stop: Callable[[], bool], not_before: float) -> Iterator[Any]:
        """Bars or quotes until ``should_stop`` says so; none stamped before ``not_before`` (a
        continued run's restored venue clock), and no bar stamped at it: that bar was handed."""
        if self.stream is not None:
            if self.kind == "bars" and not_before > 0:
                not_before = math.nextafter(not_before, math.inf)
            return iter(self.stream.feed(should_stop, not_before))
        return _ccxt_quotes(
            self.client, self.symbols, self.poll_s, should_stop=should_stop, not_before=not_before
        )

    def close(self) -> str | None:
        """Stop the stream; what it did, said in a line (None when polled)."""
        if self.stream is None:
            return None
        self.stream.stop()
        s = self.stream.status()
        what = f"{s.bars:,} bars ({s.empty_bars:,} empty, {s.bars_from_rest:,} from REST)"
        if self.stream.kind == "quotes":
            what = f"{s.quotes:,} quotes, {s.resyncs:,} order book resyncs"
        elif self.stream.kind == "ticker":
            what = f"{s.quotes:,} quotes, {s.dropped_tickers:,} late or repeated book tickers dropped"
        return f"feed: {self.stream.name} market stream: {what}, {s.reconnects:,} reconnects"


# How ``dita paper`` names the settings ``choose_live_feed`` refuses: its options.
PAPER_OPTIONS = {
    "exchange": "--ccxt-exchange",
    "bar_interval": "--bar-interval",
    "quote_feed": "--quote-feed",
}


def choose_live_feed(
    strategy: Any,
    venue: Any,
    symbols: list[str],
    *,
    bar_interval: str,
    quote_feed: str,
    poll_s: float,
    names: Mapping[str, str] = PAPER_OPTIONS,
) -> LiveFeed:
    """The feed for ``strategy`` from the ccxt ``venue`` (markets loaded): bars when it takes
    bars, else quotes. ``quote_feed``: a value ``check_quote_feed`` passed. Exits 2 naming the
    setting whose value the exchange cannot serve as ``names`` spells it (``exchange``,
    ``bar_interval``, and ``quote_feed`` when the caller lets it be chosen)."""
    from dita.venues.ccxt.market_stream import MarketStream

    client = venue._exchange
    exchange = venue.settings.exchange
    takes = "bars" if "bars" in strategy.data else "quotes"
    if takes == "quotes" and quote_feed == "poll":
        return LiveFeed(client, symbols, takes, poll_s=poll_s)
    kline_stream: tuple[MarketKind, str] = ("bars", "watchOHLCV")
    kind, watch = kline_stream if takes == "bars" else _STREAMED_QUOTES[quote_feed]
    if not _streams(exchange, watch):
        needs = f"a strategy that takes {takes}"
        if kind != "bars" and "quote_feed" in names:
            needs = f"{names['quote_feed']} {quote_feed}"
        fail(f"{names['exchange']}={exchange!r}: ccxt.pro has no {watch} for it, which {needs} follows")
    timeframes = dict(getattr(client, "timeframes", None) or {})
    given = f"{names['bar_interval']}={bar_interval!r}"
    if kind == "bars" and bar_interval not in timeframes:
        listed = ", ".join(timeframes) or "none"
        fail(f"{given} is not a kline interval of {exchange} (ccxt lists {listed})")
    if kind == "bars" and bar_interval[-1:] in CALENDAR_UNITS:
        fail(
            f"{given}: weekly, monthly and yearly bars are not followed live: the stream's periods "
            "are whole intervals counted from 1970-01-01 (a Thursday; a month as 30 days), never "
            "the exchange's weeks and months; give a kline interval of days or shorter (1d)"
        )
    stream = MarketStream(venue.settings, symbols, kind, bar_interval=bar_interval, grace_s=BAR_GRACE_S)
    return LiveFeed(client, symbols, takes, stream=stream, poll_s=poll_s)


def _streams(exchange: str, watch: str) -> bool:
    """Whether ccxt.pro has ``exchange`` and says it has ``watch``."""
    import ccxt.pro

    exchange_class = getattr(ccxt.pro, exchange, None)
    return exchange_class is not None and bool(exchange_class().has.get(watch))


def _ccxt_quotes(
    client: Any,
    symbols: list[str],
    poll_s: float,
    *,
    should_stop: Callable[[], bool] = lambda: False,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    not_before: float = 0.0,
) -> Iterator[Any]:
    """Live top of book polled from a ccxt exchange client (public endpoints, no keys).

    A failed poll is reported on stderr and retried at the next interval: a live feed must
    outlive a dropped connection. The feed ends once ``should_stop`` says so, looked at
    between polls and while it waits (not only when a quote comes: with the exchange down
    none does). No quote is stamped earlier than ``not_before``: the clock of a paper venue a
    continued run restored, which may be past this host's wall clock."""
    from dita.backtest.data import UNKNOWN_DEPTH
    from dita.runtime import wait_unless_stopped
    from dita.strategy import Quote

    last_ts = not_before
    silence = {sym: QuoteSilence(sym, _said_on_stderr, repeat_s=FEED_SILENCE_EVERY_S) for sym in symbols}
    while True:
        for sym in symbols:
            if should_stop():
                return
            try:
                t = client.fetch_ticker(sym)
            except Exception as exc:
                silence[sym].missed(f"{type(exc).__name__}: {exc}", clock())
                continue
            bid, ask = t.get("bid"), t.get("ask")
            if not bid or not ask:
                silence[sym].missed("ticker without bid or ask", clock(), tell=False)
                continue
            bad = _ticker_problem(t)
            if bad:
                # The runtime refuses such a quote: handed on, it would end the run with a traceback.
                silence[sym].missed(f"ticker skipped: {bad}", clock())
                continue
            if float(bid) > float(ask):
                # The paper venue refuses a crossed book; a momentary one is skipped, not fatal.
                silence[sym].missed(f"crossed ticker (bid {bid} > ask {ask}) skipped", clock())
                continue
            received = clock()
            silence[sym].quote(received)
            market = client.market(sym) if hasattr(client, "market") else {}
            # Stamped when it was received, not with the ticker's timestamp: that is its
            # market's last trade, minutes old on a quiet market while the book is current,
            # and the venue would judge orders sent at wall time (with their latency) against it.
            # Never earlier than the last quote: the venue clock must not go back.
            last_ts = max(last_ts, received)
            # A size the ticker leaves out (or gives as 0: a best price has some size) is unknown
            # depth, as in a file without size columns: a made-up 1 unit would split an order
            # over later polls at their prices.
            yield Quote(
                str(market.get("id") or sym.replace("/", "")),
                last_ts,
                float(bid),
                float(ask),
                float(t.get("bidVolume") or UNKNOWN_DEPTH),
                float(t.get("askVolume") or UNKNOWN_DEPTH),
            )
        if not wait_unless_stopped(poll_s, should_stop, STOP_CHECK_S, sleep):
            return


def _ticker_problem(ticker: dict[str, Any]) -> str:
    """Why the ccxt ``ticker`` (its bid and ask given) is no top of book the runtime takes: a
    bid or ask that is no price above 0 and at most KERNEL_MAX, a size (bidVolume, askVolume;
    left out or 0: unknown depth) that is no finite size of 0 or more, or a value that is no
    number; '' when none."""
    from dita.risk import KERNEL_MAX

    for name in ("bid", "ask", "bidVolume", "askVolume"):
        value = ticker.get(name)
        if value is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            return f"{name} {shortened(repr(value))} is not a number"
        if name in ("bid", "ask"):
            if not (0 < number <= KERNEL_MAX):  # NaN fails it too
                return f"{name} {number!r} is not a price above 0 and at most {KERNEL_MAX:g}"
        elif not (math.isfinite(number) and number >= 0):
            return f"{name} {number!r} is not a finite size of 0 or more"
    return ""


def _said_on_stderr(line: str) -> None:
    typer.echo(f"feed: {line}", err=True)
