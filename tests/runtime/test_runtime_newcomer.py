"""Mistakes a first-time user of ``TradingRuntime`` makes: feeding data without calling
``start()``, and feeding rows that are not ``Bar``/``Quote`` (dicts, pandas rows, plain
tuples). The first must still honour ``on_start``'s promise (called before the first data
point); the second must be refused naming what was given and what is taken, before anything
changes."""

from __future__ import annotations

from typing import Any

import pytest

from dita import ExecutionKernel
from dita._kernel import MockVenueAdapter
from dita.backtest.data import load_market_data
from dita.backtest.engine import run_backtest
from dita.data import SAMPLE_BARS
from dita.runtime import StrategyStatus, TradingRuntime
from dita.strategy import Bar, Quote, Strategy

from .points import Keeps


def runtime(kernel_id: str) -> tuple[TradingRuntime, Keeps]:
    kernel = ExecutionKernel(max_slots=2, venue=MockVenueAdapter(), kernel_id=kernel_id)
    rt = TradingRuntime(kernel, [])
    strategy = Keeps()
    rt.add_strategy(strategy)
    return rt, strategy


BAR = Bar("BTCUSDT", 1.7e9, 100.0, 101.0, 99.0, 100.5, 10.0)
QUOTE = Quote("BTCUSDT", 1.7e9, 100.0, 100.1, 1.0, 1.0)


@pytest.mark.parametrize(
    "feed",
    [
        lambda rt: rt.run([BAR]),
        lambda rt: rt.on_bar(BAR),
        lambda rt: rt.on_quote(QUOTE),
        lambda rt: rt.run([QUOTE]),
    ],
)
def test_data_before_start_starts_the_strategies_first(feed: Any) -> None:
    """Forgetting ``start()`` left ``on_start`` uncalled, and the strategy failed on its first
    bar with an AttributeError about its own state (``no attribute 'seen'``)."""
    rt, strategy = runtime("newcomer-start")
    feed(rt)
    assert rt.handles["Keeps"].status is StrategyStatus.RUNNING, rt.status()
    assert len(strategy.seen) == 1
    rt.start()  # a later start() does not start it again (its state is kept)
    assert len(strategy.seen) == 1


@pytest.mark.parametrize(
    ("item", "what"),
    [
        ({"asset": "BTCUSDT", "ts": 1.7e9, "bid": 100.0, "ask": 100.1}, "dict"),
        (dict(BAR._asdict()), "dict"),
        (tuple(BAR), "tuple"),
        (tuple(QUOTE), "tuple"),
        ("BTCUSDT", "str"),
    ],
)
def test_a_feed_item_that_is_not_a_bar_or_quote_is_refused_naming_it(item: Any, what: str) -> None:
    """A 7-field bar as a plain tuple or a pandas row was read as a quote ("too many values to
    unpack (expected 6)"), and a 6-field one was taken as a quote, silently."""
    rt, strategy = runtime("newcomer-feed")
    rt.start()
    with pytest.raises(TypeError, match=rf"feed item 0: run\(\) takes a .*Bar\(.*Quote\(.*, got {what}: "):
        rt.run([item])
    # Paced (`speed`), its time was read first: "'dict' object has no attribute 'ts'".
    with pytest.raises(TypeError, match=rf"feed item 0: run\(\) takes a .*, got {what}: "):
        rt.run([item], speed=1.0)
    assert (rt.row, rt.now(), strategy.seen) == (-1, 0.0, [])


@pytest.mark.parametrize("item", [dict(BAR._asdict()), "BTCUSDT", 3.0])
def test_on_bar_and_on_quote_refuse_what_is_not_a_bar_or_quote(item: Any) -> None:
    """A dict of a bar's fields gave ``AttributeError: 'dict' object has no attribute 'asset'``."""
    rt, strategy = runtime("newcomer-one")
    rt.start()
    bar_fields = r"dita.strategy.Bar\(asset, ts, open, high, low, close, volume\)"
    quote_fields = r"dita.strategy.Quote\(asset, ts, bid, ask, bid_size, ask_size\)"
    with pytest.raises(TypeError, match=rf"on_bar takes a {bar_fields}, got "):
        rt.on_bar(item)
    with pytest.raises(TypeError, match=rf"on_quote takes a {quote_fields}, got "):
        rt.on_quote(item)
    assert (rt.row, strategy.seen) == (-1, [])


def test_a_plain_tuple_of_the_right_fields_is_still_a_bar_for_on_bar() -> None:
    rt, strategy = runtime("newcomer-tuple")
    rt.start()
    rt.on_bar(tuple(BAR))  # type: ignore[arg-type]
    rt.on_quote(tuple(QUOTE))  # type: ignore[arg-type]
    assert strategy.seen == [BAR, QUOTE]
    # Read as a Bar and a Quote: kept as a plain tuple, it would reach the strategy as one
    # ('tuple' object has no attribute 'close': the strategy in ERROR), and as the asset's mark
    # fail finish() and every later order ('tuple' object has no attribute 'ts').
    assert [type(item) for item in strategy.seen] == [Bar, Quote]
    rt.finish()
    assert rt._clock.marked == {"BTCUSDT": (QUOTE.bid + QUOTE.ask) / 2}


def test_a_strategy_already_run_is_refused_by_another_runtime() -> None:
    """A parameter sweep that reuses one instance (``s = MeanRev(); run_backtest(s, ...)`` in a
    loop) ran every backtest after the first with the first run's slots and fills: its
    ``busy()`` read slots of the old kernel, so the second run silently made no trade."""
    data = load_market_data(SAMPLE_BARS)
    strategy = BuysEveryFlatBar()
    first = run_backtest(strategy, data)
    assert first.metrics.trades > 0
    with pytest.raises(ValueError, match=r"strategy 'BuysEveryFlatBar' already ran on another runtime"):
        run_backtest(strategy, data)
    rt, _ = runtime("newcomer-reuse")
    with pytest.raises(ValueError, match=r"make a new instance: BuysEveryFlatBar\(params\)"):
        rt.add_strategy(strategy)
    assert list(rt.handles) == ["Keeps"]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (Keeps, r"add_strategy takes a Strategy instance, got the class Keeps: call it, Keeps\(\)"),
        ("mine:MeanRev", r"add_strategy takes a Strategy instance, got str 'mine:MeanRev'"),
    ],
)
def test_add_strategy_refuses_what_is_not_a_strategy_instance(given: Any, message: str) -> None:
    """A class or a MODULE:CLASS text gave "type object 'Keeps' has no attribute 'name'"."""
    rt, _ = runtime("newcomer-add")
    with pytest.raises(TypeError, match=message):
        rt.add_strategy(given)
    with pytest.raises(TypeError, match=message.replace("add_strategy", "run_backtest")):
        run_backtest(given, load_market_data(SAMPLE_BARS))


def test_run_backtest_refuses_a_path_for_data_naming_the_loader() -> None:
    """A path gave "'str' object has no attribute 'assets'"."""
    with pytest.raises(TypeError, match=r"data must be MarketData, got str: load it with .*load_market_data"):
        run_backtest(BuysEveryFlatBar(), str(SAMPLE_BARS))  # type: ignore[arg-type]


class BuysEveryFlatBar(Strategy[Any]):
    def on_bar(self, bar: Bar) -> None:
        if not self.busy(bar.asset):
            self.buy(bar.asset, 0.01, price=bar.close)
        elif self.position(bar.asset) > 0:
            self.close(bar.asset, price=bar.close)


def test_run_backtest_refuses_a_reused_strategy_before_it_builds_a_kernel(tmp_path: Any) -> None:
    """Refused only once its kernel was built, a reused instance left that kernel's write-ahead
    log open and locked (``kernel_options={"wal_dir": ...}``): the run retried with a new
    instance failed with "is locked by another writer" while the refusal was in hand."""
    data = load_market_data(SAMPLE_BARS)
    strategy = BuysEveryFlatBar()
    run_backtest(strategy, data)
    wal_dir = tmp_path / "wal"
    with pytest.raises(ValueError, match=r"already ran on another runtime") as refused:
        run_backtest(strategy, data, kernel_options={"wal_dir": str(wal_dir)})
    assert not wal_dir.exists()
    assert run_backtest(BuysEveryFlatBar(), data, kernel_options={"wal_dir": str(wal_dir)}).metrics.trades > 0
    del refused


def test_run_backtest_refuses_a_dict_for_config_naming_the_class() -> None:
    """A dict of settings gave "'dict' object has no attribute 'paper_venue'"."""
    message = r"config must be BacktestConfig, got dict: build it with .*BacktestConfig"
    with pytest.raises(TypeError, match=message):
        run_backtest(BuysEveryFlatBar(), load_market_data(SAMPLE_BARS), {"balance": 5})  # type: ignore[arg-type]


def test_run_backtest_refuses_a_progress_that_is_no_function_before_replaying() -> None:
    """A number for progress raised "'int' object is not callable" after the first row."""
    strategy = BuysEveryFlatBar()
    with pytest.raises(TypeError, match=r"progress must be a function of the rows done, or None; got 5"):
        run_backtest(strategy, load_market_data(SAMPLE_BARS), progress=5)  # type: ignore[arg-type]
    assert strategy.fills_total == 0


class TakesQuotes(Strategy[Any]):
    data = ("quotes",)


class TradesEth(Strategy[Any]):
    assets = ("ETHUSDT",)


@pytest.mark.parametrize(
    ("strategy", "message"),
    [
        (TakesQuotes, r"^TakesQuotes takes quotes but data gives bars$"),
        (TradesEth, r"^TradesEth trades ETHUSDT but data gives BTCUSDT$"),
    ],
)
def test_run_backtest_refuses_a_strategy_that_hears_none_of_the_data(
    strategy: type[Strategy[Any]], message: str
) -> None:
    """It ran to the end without a callback, reading as a strategy that chose not to trade."""
    with pytest.raises(ValueError, match=message):
        run_backtest(strategy(), load_market_data(SAMPLE_BARS))
