"""The runtime: strategies are isolated from each other's failures, pause/stop work, fills
reach the strategy that owns the trade, and deferring venue data changes nothing."""

from __future__ import annotations

import re
import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pytest
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, PositiveInt, ValidationError, field_validator

from dita import ExecutionKernel, VenueEvent
from dita._text import shortened
from dita.backtest.data import MarketData
from dita.backtest.engine import BacktestConfig, run_backtest
from dita.examples.crossover import SmaCrossover
from dita.runtime import StrategyStatus, TradingRuntime
from dita.strategy import Bar, Fill, Quote, Strategy, StrategyLoadError, load_strategy_class
from dita.venues.paper import PaperVenue


class Counter(Strategy[Any]):
    def on_start(self) -> None:
        self.bars: list[Bar] = []
        self.stopped = False

    def on_bar(self, bar: Bar) -> None:
        self.bars.append(bar)

    def on_stop(self) -> None:
        self.stopped = True


class Exploder(Counter):
    def on_bar(self, bar: Bar) -> None:
        super().on_bar(bar)
        if len(self.bars) == 5:
            raise ZeroDivisionError("division by zero in signal")


class BuyOnce(Counter):
    """Buys ``size`` of its asset on the first bar and exits on the tenth."""

    def on_start(self) -> None:
        super().on_start()
        self.my_fills: list[Fill] = []

    def on_bar(self, bar: Bar) -> None:
        super().on_bar(bar)
        if len(self.bars) == 1:
            out = self.buy(bar.asset, 0.01, price=bar.close)
            assert out.accepted, out.details
        elif len(self.bars) == 10:
            self.close(bar.asset, price=bar.close)

    def on_fill(self, fill: Fill) -> None:
        self.my_fills.append(fill)


def make_runtime() -> tuple[TradingRuntime, ExecutionKernel, PaperVenue]:
    venue = PaperVenue(taker_rate=0.001, maker_rate=0.001, slippage_bps=0.0, bar_volume_share=1.0)
    kernel = ExecutionKernel(max_slots=8, venue=venue, kernel_id="rt-test")
    kernel.set_seed_capital(10_000.0)
    return TradingRuntime(kernel, [venue]), kernel, venue


def started_with_counter(name: str) -> tuple[TradingRuntime, Counter]:
    """A started runtime (``make_runtime``) with one ``Counter`` strategy named ``name``."""
    runtime, _, _ = make_runtime()
    counter = Counter(name=name)
    runtime.add_strategy(counter)
    runtime.start()
    return runtime, counter


def bars(data: MarketData, n: int, asset: str | None = None) -> list[Bar]:
    c = data.columns
    return [
        Bar(
            asset or data.asset[i],
            float(data.ts[i]),
            c["open"][i],
            c["high"][i],
            c["low"][i],
            c["close"][i],
            50.0,
        )
        for i in range(n)
    ]


def test_one_failing_strategy_leaves_the_others_running(sample_bars: MarketData) -> None:
    runtime, _, _ = make_runtime()
    good, bad = Counter(name="good"), Exploder(name="bad")
    runtime.add_strategy(good)
    runtime.add_strategy(bad)
    runtime.start()
    runtime.run(bars(sample_bars, 20))
    status = {s["name"]: s for s in runtime.status()}
    assert status["bad"]["status"] == "ERROR"
    assert status["bad"]["error"] == "ZeroDivisionError: division by zero in signal"
    assert status["bad"]["error_callback"] == "on_bar"
    assert len(bad.bars) == 5  # nothing after the failure
    assert status["good"]["status"] == "RUNNING" and len(good.bars) == 20
    runtime.stop()
    assert good.stopped and not bad.stopped  # on_stop is for strategies that did not fail
    assert runtime.handles["good"].status is StrategyStatus.STOPPED
    assert runtime.handles["bad"].status is StrategyStatus.ERROR


class ExpiresThenFills:
    """A venue that reports its first order expired and then, with the next bar, the fill
    that beat the expiry; every later order fills at once."""

    name = "racing"

    def __init__(self, late_share: float = 1.0) -> None:
        self.first: Any = None
        self.late_sent = False
        self.late_share = late_share

    def _fill(self, order: Any, event_id: str, price: float, ts: float, share: float = 1.0) -> VenueEvent:
        return VenueEvent(
            event_id,
            order.trade_id,
            order.slot_id,
            "FILL",
            status="FILLED" if share == 1.0 else "PARTIALLY_FILLED",
            venue_client_id=order.client_order_id,
            side=order.order_side,
            asset=order.asset,
            price=price,
            size=order.size * share,
            filled_size=order.size * share,
            timestamp=ts,
        )

    def submit(self, order: Any) -> list[VenueEvent]:
        if self.first is None:
            self.first = order
            ended = VenueEvent(
                "x1", order.trade_id, order.slot_id, "EXPIRED", venue_client_id=order.client_order_id
            )
            return [ended]
        return [self._fill(order, f"f-{order.client_order_id}", order.price, order.created_at)]

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []

    def on_bar(self, asset: str, o: float, h: float, low: float, c: float, v: float, ts: float) -> Any:
        if self.first is None or self.late_sent:
            return []
        self.late_sent = True
        return [self._fill(self.first, "late-1", self.first.price, ts, self.late_share)]


class AnswersTheCancelWithTheFillThatRacedIt:
    """Acknowledges every order; answers a cancel with the cancel ack and then the half fill
    that beat it (reported after the ack, as "partially filled")."""

    name = "racing-cancel"

    def submit(self, order: Any) -> list[VenueEvent]:
        coid = order.client_order_id
        return [VenueEvent(f"a-{coid}", order.trade_id, order.slot_id, "ORDER_ACK", venue_client_id=coid)]

    def cancel(self, order: Any) -> list[VenueEvent]:
        coid, half = order.client_order_id, order.size / 2
        common = {"venue_client_id": coid, "side": order.order_side, "asset": order.asset}
        return [
            VenueEvent(f"c-{coid}", order.trade_id, order.slot_id, "CANCEL_ACK", status="CANCELED", **common),
            VenueEvent(
                f"f-{coid}", order.trade_id, order.slot_id, "FILL", status="PARTIALLY_FILLED",
                price=order.price, size=half, filled_size=half, **common,
            ),
        ]  # fmt: skip

    def on_bar(self, *args: Any) -> list[VenueEvent]:
        return []


def test_an_order_a_late_fill_names_is_not_counted_working_again(sample_bars: MarketData) -> None:
    venue = AnswersTheCancelWithTheFillThatRacedIt()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="rt-race")
    runtime = TradingRuntime(kernel, [venue])
    s = BuyOnce(name="s")
    runtime.add_strategy(s)
    runtime.start()
    feed = bars(sample_bars, 10, "AAA")
    runtime.run(feed)  # bar 1 buys (it rests), bar 10 closes: cancel, racing fill, then the exit
    assert kernel.slot_state(0).size == pytest.approx(0.005)
    assert runtime.working_orders == len(kernel.open_orders()) == 1


@pytest.mark.parametrize("late_share", [1.0, 0.5])
def test_a_late_fill_gives_the_position_back_to_the_strategy_that_owned_the_trade(
    sample_bars: MarketData, late_share: float
) -> None:
    venue = ExpiresThenFills(late_share)
    kernel = ExecutionKernel(max_slots=4, venue=venue, kernel_id="rt-late")
    kernel.set_seed_capital(10_000.0)
    # Every bar reaches the venue (deferred, a bar waits for a working order to need it).
    runtime = TradingRuntime(kernel, [venue], defer_venue_data=False)
    s = BuyOnce(name="s")
    runtime.add_strategy(s)
    runtime.start()
    feed = bars(sample_bars, 12, "AAA")
    runtime.run(feed[:2])
    assert kernel.slot_state(0).fsm_state.name == "POSITION_OPEN"
    assert [f.side for f in s.my_fills] == ["BUY"] and not s.my_fills[0].closed
    # Whatever status the venue tagged it with, a fill of an ended order leaves nothing working.
    assert runtime.working_orders == 0
    runtime.run(feed[2:])
    # The strategy's close on the tenth bar found the position the late fill opened.
    assert [f.side for f in s.my_fills] == ["BUY", "SELL"] and s.my_fills[-1].closed
    assert kernel.slot_state(0).fsm_state.name == "CLOSED"


def test_pause_resume_and_illegal_moves(sample_bars: MarketData) -> None:
    runtime, _, _ = make_runtime()
    s = Counter(name="s")
    runtime.add_strategy(s)
    runtime.start()
    feed = bars(sample_bars, 30)
    runtime.run(feed[:10])
    runtime.pause("s")
    runtime.run(feed[10:20])
    runtime.resume("s")
    runtime.run(feed[20:])
    assert [b.ts for b in s.bars] == [b.ts for b in feed[:10] + feed[20:]]
    with pytest.raises(ValueError, match="'s' is RUNNING; cannot move it to RUNNING"):
        runtime.resume("s")
    with pytest.raises(KeyError, match="no strategy named 'nope'"):
        runtime.pause("nope")
    with pytest.raises(ValueError, match="already running"):
        runtime.add_strategy(Counter(name="s"))
    runtime.stop("s")
    with pytest.raises(RuntimeError, match="STOPPED and cannot trade"):
        s.buy("BTCUSDT", 1.0, price=100.0)


def test_fills_reach_the_owning_strategy(sample_bars: MarketData) -> None:
    runtime, kernel, venue = make_runtime()
    a, b = BuyOnce(name="a"), BuyOnce(name="b")
    a.assets = ("AAA",)
    b.assets = ("BBB",)
    runtime.add_strategy(a)
    runtime.add_strategy(b)
    runtime.start()
    feed = bars(sample_bars, 15, "AAA")
    runtime.run([x for bar in feed for x in (bar, bar._replace(asset="BBB"))])
    runtime.finish()
    for s, asset in ((a, "AAA"), (b, "BBB")):
        assert [f.asset for f in s.my_fills] == [asset, asset]
        assert all(f.trade_id.startswith(f"{s.name}-t") for f in s.my_fills)
        assert [f.side for f in s.my_fills] == ["BUY", "SELL"]
        assert s.my_fills[-1].closed and not s.my_fills[0].closed
        assert s.position(asset) == 0.0 and not s.busy(asset)
        # Market orders fill at the next bar's open: no look-ahead.
        assert s.my_fills[0].price == pytest.approx(feed[1].open)
        assert s.my_fills[1].price == pytest.approx(feed[10].open)
    acct = kernel.account()
    assert acct["open_positions"] == 0
    assert venue.positions() == {}
    expected = sum(
        (f2.price - f1.price) * 0.01 - (f1.price + f2.price) * 0.01 * 0.001
        for f1, f2 in (a.my_fills, b.my_fills)
    )
    assert acct["equity"] - 10_000.0 == pytest.approx(expected, abs=1e-9)


def test_deferred_venue_data_gives_the_same_run(sample_bars: MarketData) -> None:
    cfg = BacktestConfig(volume_share=1.0)
    lazy = run_backtest(SmaCrossover({"fast": 5, "slow": 20}), sample_bars, cfg)
    eager = run_backtest(SmaCrossover({"fast": 5, "slow": 20}), sample_bars, cfg, defer_venue_data=False)
    assert lazy.metrics.trades > 20
    assert lazy.trades == eager.trades
    assert np.array_equal(lazy.equity, eager.equity)


def test_parameters_and_references_are_checked() -> None:
    with pytest.raises(ValidationError, match="fast=30 must be below slow=10"):
        SmaCrossover({"fast": 30, "slow": 10})
    with pytest.raises(ValidationError, match="trade_size"):
        SmaCrossover({"trade_size": -1})
    with pytest.raises(ValidationError, match="unknown parameter; the parameters are fast, slow, "):
        SmaCrossover({"fats": 3})
    with pytest.raises(StrategyLoadError, match="must be MODULE:CLASS"):
        load_strategy_class("dita.examples.crossover")
    with pytest.raises(StrategyLoadError, match="cannot be imported"):
        load_strategy_class("no_such_module_x:Thing")
    with pytest.raises(StrategyLoadError, match="has no attribute 'Nope'"):
        load_strategy_class("dita.examples.crossover:Nope")
    with pytest.raises(StrategyLoadError, match=r"not a dita\.strategy\.Strategy subclass"):
        load_strategy_class("dita.examples.crossover:CrossoverParams")
    info = load_strategy_class("dita.examples.crossover:SmaCrossover").describe()
    assert [p["name"] for p in info["params"]] == ["fast", "slow", "trade_size", "allow_short"]
    assert info["data"] == ["bars"] and info["callbacks"] == ["on_bar", "on_start"]
    assert info["summary"].startswith("Simple moving-average crossover on bar closes")

    class Undocumented(Strategy):
        def on_bar(self, bar: Bar) -> None:
            pass

    class Derived(SmaCrossover):
        pass

    # A strategy without a docstring has no summary, not the base class's text about itself.
    assert Undocumented.describe()["summary"] == ""
    assert Derived.describe()["summary"] == info["summary"]  # a strategy's own ancestors' counts


def test_strategies_on_two_venues_behind_a_router(sample_bars: MarketData) -> None:
    from dita.venues.router import VenueRouter

    east = PaperVenue(name="east", taker_rate=0.0, maker_rate=0.0, slippage_bps=0.0, bar_volume_share=1.0)
    west = PaperVenue(name="west", taker_rate=0.0, maker_rate=0.0, slippage_bps=0.0, bar_volume_share=1.0)
    router = VenueRouter({"east": east, "west": west}, default="east", routes={"BBB": "west"})
    kernel = ExecutionKernel(max_slots=8, venue=router, kernel_id="rt-router")
    runtime = TradingRuntime(kernel)  # finds both paper venues behind the router
    assert runtime.bar_venues == [east, west]
    a, b = BuyOnce(name="a"), BuyOnce(name="b")
    a.assets, b.assets = ("AAA",), ("BBB",)
    runtime.add_strategy(a)
    runtime.add_strategy(b)
    runtime.start()
    feed = bars(sample_bars, 5, "AAA")
    runtime.run([x for bar in feed for x in (bar, bar._replace(asset="BBB"))])
    assert east.positions() == {"AAA": 0.01} and west.positions() == {"BBB": 0.01}
    assert [f.asset for f in a.my_fills] == ["AAA"] and [f.asset for f in b.my_fills] == ["BBB"]
    assert kernel.account()["open_positions"] == 2


def test_replay_pacing_follows_the_data_clock(
    sample_bars: MarketData, monkeypatch: pytest.MonkeyPatch
) -> None:
    slept: list[float] = []
    monkeypatch.setattr(time, "monotonic", lambda: 100.0)  # no wall time passes by itself
    monkeypatch.setattr(time, "sleep", slept.append)
    runtime, _, _ = make_runtime()
    runtime.add_strategy(Counter(name="s"))
    runtime.start()
    feed = bars(sample_bars, 4)  # one-minute bars
    assert runtime.run(feed, speed=60.0) == 4  # a minute of data per second
    assert slept == pytest.approx([1.0, 2.0, 3.0])
    assert runtime.now() == feed[-1].ts
    with pytest.raises(ValueError, match="speed=0"):
        runtime.run(feed, speed=0)
    wall = TradingRuntime(runtime.kernel, [], clock="wall")
    assert abs(wall.now() - time.time()) < 5
    with pytest.raises(ValueError, match="clock='exchange'"):
        TradingRuntime(runtime.kernel, [], clock="exchange")


@pytest.mark.parametrize("speed", [float("nan"), float("inf"), -1.0, 0, True, "60", 10**400])
def test_a_bad_speed_is_refused_before_anything_runs(sample_bars: MarketData, speed: Any) -> None:
    runtime, counter = started_with_counter("s")
    said = f"speed={shortened(repr(speed))} must be a positive number"
    with pytest.raises(ValueError, match=re.escape(said)):
        runtime.run(bars(sample_bars, 3), speed=speed)
    assert runtime.data_points == 0 and counter.bars == []


@pytest.mark.timeout(10)  # the unchecked loop never ended
@pytest.mark.parametrize("progress_every", [0, -5, 2.5, True])
def test_run_columns_refuses_a_bad_progress_step(progress_every: Any) -> None:
    runtime, _, _ = make_runtime()
    columns = [[1.0, 1.0]] * 5
    with pytest.raises(ValueError, match=f"progress_every={progress_every!r} must be a positive"):
        runtime.run_columns([60.0, 120.0], ["X", "X"], columns, "bars", progress_every=progress_every)
    with pytest.raises(ValueError, match="kind='bar' must be 'bars' or 'quotes'"):
        runtime.run_columns([60.0, 120.0], ["X", "X"], columns, "bar")
    assert runtime.data_points == 0
    assert runtime.run_columns([60.0, 120.0], ["X", "X"], columns, "bars", progress_every=1) == 2


@pytest.mark.parametrize("longer", [True, False])
def test_run_columns_refuses_columns_of_other_lengths_before_any_row(longer: bool) -> None:
    runtime, _, _ = make_runtime()
    runtime.start()
    odd = [1.0, 1.0, 1.0] if longer else [1.0]
    columns = [[1.0, 1.0]] * 4 + [odd]
    with pytest.raises(ValueError, match=rf"columns\[4\] has {len(odd)} rows, ts has 2"):
        runtime.run_columns([60.0, 120.0], ["X", "X"], columns, "bars")
    with pytest.raises(ValueError, match="asset has 1 rows, ts has 2"):
        runtime.run_columns([60.0, 120.0], ["X"], [[1.0, 1.0]] * 5, "bars")
    assert runtime.data_points == 0


@pytest.mark.parametrize(
    ("kind", "count", "taken"),
    [
        ("bars", 4, "5 (open, high, low, close, volume)"),
        ("bars", 6, "5 (open, high, low, close, volume)"),
        ("quotes", 5, "4 (bid, ask, bid_size, ask_size)"),
    ],
)
@pytest.mark.parametrize("rows", [2, 0])
def test_run_columns_refuses_another_count_of_columns_before_any_row(
    kind: str, count: int, taken: str, rows: int
) -> None:
    runtime, _, _ = make_runtime()
    runtime.start()
    ts, assets = [60.0, 120.0][:rows], ["X", "X"][:rows]
    with pytest.raises(ValueError, match=re.escape(f"columns holds {count} columns; {kind} take {taken}")):
        runtime.run_columns(ts, assets, [[1.0, 1.0][:rows]] * count, kind)
    assert runtime.data_points == 0


@pytest.mark.parametrize("asset", ["XY", b"XY"], ids=["str", "bytes"])
def test_run_columns_refuses_a_str_for_the_asset_column_before_any_row(asset: Any) -> None:
    """A str is a sequence of as many rows as it has letters: "XY" would trade assets X and Y."""
    runtime, counter = started_with_counter("c")
    said = f"asset={asset!r} is {type(asset).__name__}, not a column"
    with pytest.raises(TypeError, match=re.escape(said)):
        runtime.run_columns([60.0, 120.0], asset, [[100.0, 100.0]] * 5, "bars")
    assert runtime.data_points == 0 and counter.bars == []
    assert runtime.run_columns([60.0, 120.0], ["XY", "XY"], [[100.0, 100.0]] * 5, "bars") == 2


@pytest.mark.parametrize(
    ("at", "named"),
    [
        (None, "ts is a datetime64[ns] column"),
        (None, "ts is a datetime64[s] column"),
        (4, "columns[4] (volume) is a timedelta64[s] column"),
        (0, "columns[0] (open) is a datetime64[ns] column"),
    ],
)
def test_run_columns_refuses_a_datetime_column_before_any_row(at: int | None, named: str) -> None:
    """A datetime64[ns] column's rows are ints of nanoseconds: taken as seconds, the clock
    would read 1704067260000000000 for 2024-01-01T00:01."""
    runtime, counter = started_with_counter("c")
    dtype = named.split(" is a ")[1].removesuffix(" column")
    given = np.array(["2024-01-01T00:00", "2024-01-01T00:01"] if "datetime" in dtype else [5, 5], dtype=dtype)
    ts: Any = given if at is None else [60.0, 120.0]
    columns: list[Any] = [[100.0, 100.0]] * 5
    if at is not None:
        columns[at] = given
    with pytest.raises(TypeError, match=re.escape(named) + ": run_columns takes seconds as floats"):
        runtime.run_columns(ts, ["X", "X"], columns, "bars")
    assert runtime.data_points == 0 and counter.bars == [] and runtime.now() == 0.0


class LaxParams(BaseModel):  # pydantic's default extra="ignore": a typo would be dropped
    lookback: int = Field(default=20, ge=2)
    size: float = 0.01


class Lax(Counter):
    Params = LaxParams


def test_unknown_parameter_names_are_refused_even_by_a_lax_model() -> None:
    with pytest.raises(ValidationError) as caught:
        Lax({"lookbak": 5, "size": 0.5})
    (error,) = caught.value.errors()
    assert error["loc"] == ("lookbak",) and error["input"] == 5
    assert error["msg"] == "unknown parameter; the parameters are lookback, size"
    assert Lax({"lookback": 5}).params.lookback == 5
    with pytest.raises(ValidationError, match="fast\n  unknown parameter; this strategy takes no parameters"):
        Counter({"fast": 3})  # NoParams: takes nothing


def test_true_or_false_for_a_number_parameter_is_refused_naming_it() -> None:
    """Lax validation read `--param lookback=true` as a lookback of 1 (and then refused it
    against ge=2 with no word of the bool; a `size` of true ran at 1.0)."""
    for params, name, msg in (
        ({"lookback": True}, "lookback", "Input should be greater than or equal to 2"),  # pydantic's own
        ({"size": False}, "size", "Input should be a number, not true or false"),
    ):
        with pytest.raises(ValidationError) as caught:
            Lax(params)
        (error,) = caught.value.errors()
        assert (error["loc"], error["input"], error["msg"]) == ((name,), params[name], msg)

    class Flagged(BaseModel):
        live: bool = False
        limit: float | None = None

    class WithFlag(Counter):
        Params = Flagged

    assert WithFlag({"live": True}).params.live is True  # a bool parameter takes one
    with pytest.raises(ValidationError, match="not true or false"):
        WithFlag({"limit": True})

    # Number types pydantic spells otherwise, and aliases, are numbers too (review).
    class Spelled(BaseModel):
        every: PositiveInt | None = None
        window: Annotated[int, Field(ge=1)] | None = None
        n: int = Field(default=3, validation_alias=AliasChoices("n", "count"))

    class WithSpelled(Counter):
        Params = Spelled

    for params in ({"every": True}, {"window": True}, {"count": True}):
        with pytest.raises(ValidationError, match="not true or false"):
            WithSpelled(params)

    # A model's own validator may take a bool for a number: it has the last word.
    class Mapped(BaseModel):
        every: int = 5

        @field_validator("every", mode="before")
        @classmethod
        def _default_on_true(cls, v: object) -> object:
            return 20 if v is True else v

    class WithMapped(Counter):
        Params = Mapped

    assert WithMapped({"every": True}).params.every == 20


def test_a_model_that_allows_extras_keeps_them() -> None:
    class Open(BaseModel):
        model_config = ConfigDict(extra="allow")
        size: float = 0.01

    class Free(Counter):
        Params = Open

    assert Free({"note": "x"}).params.model_extra == {"note": "x"}


@pytest.mark.parametrize(
    ("assets", "message"),
    [
        ("BTCUSDT", r"assets = 'BTCUSDT' must be a tuple of asset names, e.g. \('BTCUSDT',\)"),
        (("BTCUSDT", ""), "'' is not an asset name"),
    ],
)
def test_assets_that_are_not_a_collection_of_names_are_refused(
    assets: Any, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bare string matched every asset that is a substring of it ("BTC" in "BTCUSDT")."""
    typo = type("Typo", (Counter,), {"assets": assets})
    with pytest.raises(StrategyLoadError, match=message):
        typo()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (("bar",), "'bar' is not a kind of market data; the kinds are 'bars' and 'quotes'"),
        (("bars", "trades"), "'trades' is not a kind of market data"),
        ("bars", r"must be a tuple of 'bars' and 'quotes', e.g. \('bars',\)"),
        ((), "subscribes to nothing"),
    ],
)
def test_a_data_subscription_that_cannot_deliver_is_refused(
    data: Any, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import types

    module = types.ModuleType("typo_strategies")
    typo = type("Typo", (Counter,), {"data": data, "__module__": module.__name__})
    module.Typo = typo  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    with pytest.raises(StrategyLoadError, match=message):
        load_strategy_class("typo_strategies:Typo")  # what `dita backtest`/`strategy inspect` call
    with pytest.raises(StrategyLoadError, match=message):
        typo()


# Asset names the kernel refuses to mark, and what the runtime says of each (shown short).
BAD_ASSET_NAMES = [
    (" \t", r"asset ' \\t' is not an asset name \(only whitespace\)"),
    ("BTC\0USDT", r"asset 'BTC\\x00USDT' is not an asset name \(it holds a NUL\)"),
    ("BTC\ud800", r"asset 'BTC\\ud800' is not an asset name \(not UTF-8"),
    (
        "B" * (1 << 20) + "X",
        r"asset 'BBBB.*\.\.\. is not an asset name \(1048577 bytes long, at most 1048576\)",
    ),
]

# An int compares with floats whatever its size, so 10**400 passes the range checks; taken,
# the clock would stand at it, and every later bar and finish() raise on float() of it.
HUGE = 10**400
TOO_LARGE = r"10{76}\.\.\."  # the value named, cut to a readable length


@pytest.mark.parametrize("defer", [True, False])
@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (Bar("BTCUSDT", 60.0, 100.0, 101.0, 99.0, float("nan"), 5.0), "close"),
        (Bar("BTCUSDT", 60.0, 100.0, 99.0, 101.0, 100.0, 5.0), "high"),  # high below low
        (Bar("BTCUSDT", 30.0, 100.0, 101.0, 99.0, 100.0, 5.0), "ts"),  # before the last bar
        # The paper venue refuses these too: deferred, the strategy's next order raised.
        (Bar("", 60.0, 100.0, 101.0, 99.0, 100.0, 5.0), "asset '' is not an asset name"),
        (Bar(None, 60.0, 100.0, 101.0, 99.0, 100.0, 5.0), "asset None is not"),  # type: ignore[arg-type]
        (Bar("BTCUSDT", 60.0, "100", 101.0, 99.0, 100.0, 5.0), "open '100' is not a number"),  # type: ignore[arg-type]
        # A Decimal compares with floats, so it passed the runtime's check; the paper venue
        # refuses it, after the runtime had moved its clock and handed it to the strategies.
        (
            Bar("BTCUSDT", 60.0, Decimal(100), Decimal(101), Decimal(99), Decimal(100), Decimal(5)),  # type: ignore[arg-type]
            r"open Decimal\('100'\) is not a number",
        ),
        (
            Bar("BTCUSDT", 60.0, 100.0, 101.0, 99.0, 100.0, Decimal(5)),  # type: ignore[arg-type]
            r"volume Decimal\('5'\) is not a number",
        ),
        # Names the kernel refuses as an asset: taken, the bar became the asset's mark, and every
        # later order of every strategy (and finish()) raised on marking it.
        *((Bar(name, 60.0, 100.0, 101.0, 99.0, 100.0, 5.0), why) for name, why in BAD_ASSET_NAMES),
        (
            Bar("BTCUSDT", HUGE, 100.0, 101.0, 99.0, 100.0, 5.0),
            f"at ts {TOO_LARGE}: ts must be a finite time",
        ),
        (Bar("BTCUSDT", 60.0, 100.0, 101.0, 99.0, 100.0, HUGE), f"volume {TOO_LARGE} is not a finite number"),
        (Bar("BTCUSDT", 60.0, HUGE, HUGE, HUGE, HUGE, 5.0), f"open {TOO_LARGE} is not a finite price"),
    ],
)
def test_a_bad_bar_is_refused_at_once_naming_the_field_and_changes_nothing(
    defer: bool, bad: Bar, field: str
) -> None:
    """Whether or not an order works (so whether the venue sees the bar now or later), a bad
    bar is refused when it is handed over, and later orders of the strategy are unharmed."""
    venue = PaperVenue(slippage_bps=0.0, bar_volume_share=1.0)
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="rt-bad")
    runtime = TradingRuntime(kernel, [venue], defer_venue_data=defer)
    strategy = Counter(name="c")
    runtime.add_strategy(strategy)
    runtime.start()
    runtime.on_bar(Bar("BTCUSDT", 45.0, 100.0, 101.0, 99.0, 100.0, 5.0))
    with pytest.raises(ValueError, match=field):
        runtime.on_bar(bad)
    assert (runtime.row, runtime.now(), strategy.bars[-1].ts) == (0, 45.0, 45.0)
    runtime.on_bar(Bar("BTCUSDT", 60.0, 100.0, 102.0, 99.0, 101.0, 5.0))
    outcome = strategy.buy("BTCUSDT", 1.0, price=101.0)
    assert outcome.accepted, outcome.to_dict()
    runtime.on_bar(Bar("BTCUSDT", 120.0, 101.0, 103.0, 100.0, 102.0, 5.0))
    runtime.finish()
    assert kernel.slot_state(0).size == pytest.approx(1.0) and runtime.now() == 120.0
    assert runtime.handles["c"].status is StrategyStatus.RUNNING


class TwoRestingBuys(Counter):
    """Rests two limit buys below the first bar; a dip fills both on one bar."""

    def on_bar(self, bar: Bar) -> None:
        super().on_bar(bar)
        if len(self.bars) == 1:
            for limit in (95.0, 94.0):
                assert self.buy(bar.asset, 0.01, price=bar.close, limit=limit).accepted


def test_a_listener_that_raises_loses_none_of_the_venues_events() -> None:
    """A venue's answer to a bar is fed to the kernel event by event: a listener raising on
    the first fill must not keep the second from the kernel (the venue counts it filled, and
    nothing would ever report it again), nor its fill from the strategy that owns the trade."""
    runtime, kernel, _ = make_runtime()
    s = TwoRestingBuys(name="s")
    runtime.add_strategy(s)
    runtime.start()
    heard: list[str] = []

    def flaky(event: VenueEvent, row: int) -> None:
        heard.append(event.venue_client_id)
        if len(heard) == 1:
            raise OSError("disk full while recording the fill")

    runtime.fill_listeners.append(flaky)
    runtime.on_bar(Bar("AAA", 1.0, 100.0, 100.0, 100.0, 100.0, 50.0))
    assert runtime.working_orders == 2
    with pytest.raises(OSError, match="disk full"):
        runtime.on_bar(Bar("AAA", 2.0, 100.0, 100.0, 90.0, 99.0, 50.0))
    assert [kernel.slot_state(i).size for i in (0, 1)] == [0.01, 0.01]
    assert len(heard) == 2 and runtime.working_orders == 0
    assert s.position("AAA") == pytest.approx(0.02) and len(s.fills) == 2


def test_an_intent_listener_that_raises_leaves_the_trade_with_its_strategy() -> None:
    """The kernel took the entry before the listener raised: the runtime still books its owner
    and its working order, so the strategy, in ERROR now, has it canceled (an entry of a
    strategy that acts on nothing more), and its cancel's answer frees the strategy's slot."""
    runtime, kernel, venue = make_runtime()
    s = TwoRestingBuys(name="s")
    runtime.add_strategy(s)
    runtime.start()

    def flaky(intent: Any, outcome: Any) -> None:
        raise OSError("disk full while recording the intent")

    runtime.intent_listeners.append(flaky)
    runtime.on_bar(Bar("AAA", 1.0, 100.0, 100.0, 100.0, 100.0, 50.0))
    assert runtime.status()[0]["status"] == "ERROR" and "disk full" in runtime.status()[0]["error"]
    assert runtime.stats["error_cancels"] == 1 and runtime.stats["error_cancels_failed"] == 0
    assert not s.busy("AAA") and runtime.working_orders == 0 == len(kernel.open_orders())
    assert venue.open_orders() == []
    runtime.on_bar(Bar("AAA", 2.0, 100.0, 100.0, 90.0, 99.0, 50.0))
    assert kernel.slot_state(0).size == 0 and s.fills == []


def test_a_late_fill_after_a_restart_gives_the_position_back_to_the_strategy(
    sample_bars: MarketData, tmp_path: Path
) -> None:
    """The runtime keeps the owners of freed trades for their late fills; a runtime over a
    kernel recovered from its log must know them too, or the position a late fill reopens is
    nobody's: the strategy neither sees it nor closes it."""
    venue = ExpiresThenFills()
    feed = bars(sample_bars, 2, "AAA")
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="rt-late-restart", wal_dir=str(tmp_path))
    runtime = TradingRuntime(kernel, [venue], defer_venue_data=False)
    runtime.add_strategy(BuyOnce(name="s"))
    runtime.start()
    runtime.on_bar(feed[0])  # the entry expires: the slot is free, the trade kept for a late fill
    assert kernel.slot_state(0).fsm_state.name == "IDLE"
    kernel.close()

    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="rt-late-restart", wal_dir=str(tmp_path))
    runtime = TradingRuntime(kernel, [venue], defer_venue_data=False)
    s = Counter(name="s")
    runtime.add_strategy(s)
    runtime.start()
    runtime.on_bar(feed[1])  # the fill that beat the expiry
    assert kernel.slot_state(0).fsm_state.name == "POSITION_OPEN"
    assert s.busy("AAA") and s.position("AAA") == pytest.approx(kernel.slot_state(0).size)
    assert [f.trade_id for f in s.fills] == [kernel.slot_state(0).trade_id]
    kernel.close()


class FillsInTwoTrades:
    """Fills every order at once in two trades of half its size each, both in the submit's
    answer (a market order sweeping two price levels, as a live exchange reports it)."""

    name = "two-trades"

    def submit(self, order: Any) -> list[VenueEvent]:
        coid, half = order.client_order_id, order.size / 2
        common = {
            "venue_client_id": coid,
            "side": order.order_side,
            "asset": order.asset,
            "venue_order_id": "v",
        }
        return [
            VenueEvent(f"a-{coid}", order.trade_id, order.slot_id, "ORDER_ACK", **common),
            VenueEvent(
                f"f1-{coid}", order.trade_id, order.slot_id, "FILL", status="PARTIALLY_FILLED",
                price=100.0, size=half, filled_size=half, fill_id=f"{coid}-1", **common,
            ),
            VenueEvent(
                f"f2-{coid}", order.trade_id, order.slot_id, "FILL", status="FILLED",
                price=101.0, size=half, filled_size=order.size, fill_id=f"{coid}-2", **common,
            ),
        ]  # fmt: skip

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []


def test_every_fill_of_an_exit_filled_in_several_trades_at_once_reaches_the_strategy() -> None:
    """The runtime reads the slot after the kernel took the whole answer: the exit's first fill
    already saw the slot closed and let the trade go, so its second fill reached no strategy,
    and the first claimed to close a trade it left half open."""
    kernel = ExecutionKernel(max_slots=2, venue=FillsInTwoTrades(), kernel_id="rt-two-trades")
    kernel.set_seed_capital(100_000.0)
    runtime = TradingRuntime(kernel, [])
    s = Counter(name="s")
    runtime.add_strategy(s)
    runtime.start()
    runtime.on_bar(Bar("AAA", 60.0, 100.0, 101.0, 99.0, 100.0, 50.0))
    assert s.buy("AAA", 1.0, price=100.0).accepted
    assert all(o.accepted for o in s.close("AAA", price=100.0))
    assert kernel.slot_state(0).fsm_state.name == "CLOSED"
    assert [(f.side, f.size, f.closed) for f in s.fills] == [
        ("BUY", 0.5, False),
        ("BUY", 0.5, False),
        ("SELL", 0.5, False),
        ("SELL", 0.5, True),
    ]
    assert runtime.handles["s"].fills == runtime.stats["fills"] == 4
    assert not s.busy("AAA") and s.position("AAA") == 0.0


class Quiet(Strategy[Any]):
    data = ("quotes",)


def test_close_replaces_a_resting_limit_exit_with_a_market_exit() -> None:
    """A trade whose take-profit limit rests (partly filled here) is still open: ``close`` left
    it so and returned nothing, the position stayed on however the market went."""
    venue = PaperVenue(slippage_bps=0.0, taker_rate=0.0, maker_rate=0.0)
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="rt-close-tp")
    kernel.set_seed_capital(10_000.0)
    runtime = TradingRuntime(kernel, [venue])
    s = Quiet(name="s")
    runtime.add_strategy(s)
    runtime.start()
    runtime.on_quote(Quote("AAA", 1.0, 99.0, 100.0, 5.0, 5.0))
    assert s.buy("AAA", 1.0, price=100.0).accepted
    assert s.exit(0, price=100.0, limit=101.0).accepted
    runtime.on_quote(Quote("AAA", 2.0, 101.0, 102.0, 0.4, 5.0))  # the take-profit fills 0.4
    assert kernel.slot_state(0).fsm_state.name == "EXIT_WORKING" and s.position("AAA") == pytest.approx(0.6)

    outcomes = s.close("AAA", price=101.0)
    assert [o.accepted for o in outcomes] == [True, True]  # the cancel, then the market exit
    assert outcomes[1].order is not None and outcomes[1].order.order_type.name == "MARKET"
    runtime.on_quote(Quote("AAA", 3.0, 100.5, 101.5, 5.0, 5.0))  # the market exit takes the bid
    slot = kernel.slot_state(0)
    assert slot.fsm_state.name == "CLOSED" and not s.busy("AAA") and s.position("AAA") == 0.0
    assert [(f.side, f.price, f.size) for f in s.fills[1:]] == [("SELL", 101.0, 0.4), ("SELL", 100.5, 0.6)]
    assert venue.positions() == {} and venue.open_orders() == []


class ExitsRest:
    """Fills an entry at once at its price; an exit (reduce-only) rests, its cancel unanswered."""

    name = "exits-rest"

    def __init__(self) -> None:
        self.cancels: list[str] = []

    def submit(self, order: Any) -> list[VenueEvent]:
        coid = order.client_order_id
        ack = VenueEvent(f"a-{coid}", order.trade_id, order.slot_id, "ORDER_ACK", venue_client_id=coid)
        if order.reduce_only:
            return [ack]
        fill = VenueEvent(
            f"f-{coid}", order.trade_id, order.slot_id, "FILL", status="FILLED", venue_client_id=coid,
            price=order.price, size=order.size, filled_size=order.size,
        )  # fmt: skip
        return [ack, fill]

    def cancel(self, order: Any) -> list[VenueEvent]:
        self.cancels.append(order.client_order_id)
        return []


def test_close_leaves_the_kernels_whole_market_exit_of_a_position_off_the_lot_grid() -> None:
    """The kernel sends a whole exit rounded down to the lot step (1.0005 at a step of 0.001
    goes out as 1.0): that exit is the close, and ``close`` leaves it to fill."""
    venue = ExitsRest()
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="rt-close-off-grid")
    kernel.set_seed_capital(10_000.0)
    runtime = TradingRuntime(kernel, [])
    s = Quiet(name="s")
    runtime.add_strategy(s)
    runtime.start()
    runtime.on_quote(Quote("AAA", 1.0, 99.0, 100.0, 5.0, 5.0))
    assert s.buy("AAA", 1.0005, price=100.0).accepted
    # The venue's lot step learned after the entry (a market-limits refresh).
    kernel.set_market_limits("AAA", {"lot_step": 0.001})
    whole = s.exit(0, price=100.0)
    assert whole.accepted and whole.order is not None and whole.order.size == 1.0
    assert kernel.slot_state(0).fsm_state.name == "EXIT_WORKING"

    assert s.close("AAA", price=100.0) == [] and venue.cancels == []
    working = kernel.slot_state(0).active_exit_order
    assert working is not None and working.client_order_id == whole.order.client_order_id


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (Quote("", 60.0, 99.0, 100.0, 1.0, 1.0), "asset '' is not an asset name"),
        (Quote("BTCUSDT", 60.0, 99.0, 100.0, None, 1.0), "bid_size None is not a number"),  # type: ignore[arg-type]
        (Quote("BTCUSDT", 60.0, Decimal(99), Decimal(100), 1.0, 1.0), r"bid Decimal\('99'\) is not a number"),  # type: ignore[arg-type]
        (Quote("BTCUSDT", Decimal(60), 99.0, 100.0, 1.0, 1.0), r"ts Decimal\('60'\) is not a number"),  # type: ignore[arg-type]
        # The venue would fill at it, and the kernel refuse the fill: the two apart, silently.
        (
            Quote("BTCUSDT", 60.0, 99.0, 2e15, 1.0, 1.0),
            "ask 2000000000000000.0 is above the kernel's bound of 1e",
        ),
        *((Quote(name, 60.0, 99.0, 100.0, 1.0, 1.0), why) for name, why in BAD_ASSET_NAMES),
        # An int too large for a float: it passed the range checks and moved the clock.
        (Quote("BTCUSDT", HUGE, 99.0, 100.0, 1.0, 1.0), f"at ts {TOO_LARGE}: ts must be a finite time"),
        (Quote("BTCUSDT", 60.0, 99.0, 100.0, HUGE, 1.0), f"bid_size {TOO_LARGE} is not a finite size"),
        (Quote("BTCUSDT", 60.0, 99.0, 100.0, 1.0, HUGE), f"ask_size {TOO_LARGE} is not a finite size"),
        (Quote("BTCUSDT", 60.0, HUGE, HUGE, 1.0, 1.0), f"bid {TOO_LARGE} is not a finite price"),
        # A subnormal price, which the kernel refuses: the venue would fill at it.
        (Quote("BTCUSDT", 60.0, 5e-324, 100.0, 1.0, 1.0), "bid 5e-324 is below the kernel's least price"),
    ],
)
def test_a_quote_the_paper_venue_would_refuse_is_refused_at_once(bad: Quote, message: str) -> None:
    venue = PaperVenue(slippage_bps=0.0)
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="rt-bad-quote")
    runtime = TradingRuntime(kernel, [venue])
    s = Quiet(name="s")
    runtime.add_strategy(s)
    runtime.start()
    runtime.on_quote(Quote("BTCUSDT", 45.0, 99.0, 100.0, 5.0, 5.0))
    with pytest.raises(ValueError, match=message):
        runtime.on_quote(bad)
    assert (runtime.row, runtime.now()) == (0, 45.0)
    assert s.buy("BTCUSDT", 1.0, price=100.0).accepted
    runtime.on_quote(Quote("BTCUSDT", 60.0, 99.0, 100.0, 5.0, 5.0))  # later data is taken
    runtime.finish()
    assert kernel.slot_state(0).size == 1.0 and runtime.now() == 60.0


def test_float32_market_data_reaches_the_paper_venue() -> None:
    """Prices from a float32 column passed the runtime's checks, and the paper venue refused
    them as not numbers only when the strategy's next order handed the data over: the order
    raised, for a bar given earlier, and that bar never reached the venue."""
    venue = PaperVenue(slippage_bps=0.0, bar_volume_share=1.0)
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="rt-float32")
    runtime = TradingRuntime(kernel, [venue])
    s = Counter(name="s")
    runtime.add_strategy(s)
    runtime.start()
    f = np.float32
    runtime.on_bar(Bar("BTCUSDT", 60.0, f(100.0), f(101.0), f(99.0), f(100.0), f(5.0)))
    assert s.buy("BTCUSDT", 1.0, price=100.0).accepted
    runtime.on_bar(Bar("BTCUSDT", 120.0, f(101.0), f(103.0), f(100.0), f(102.0), f(5.0)))
    assert kernel.slot_state(0).size == 1.0 and [f.price for f in s.fills] == [101.0]


def test_a_bar_priced_above_the_kernels_bound_is_refused_before_the_venue_fills_at_it() -> None:
    """A bar at 2e15 reached the paper venue, which filled the exit working there, while the
    kernel refused the fill as beyond its bound: the venue flat, the kernel's slot working for
    good, nothing said."""
    runtime, _, venue = make_runtime()
    s = Counter(name="s")
    runtime.add_strategy(s)
    runtime.start()
    runtime.on_bar(Bar("BTCUSDT", 60.0, 100.0, 101.0, 99.0, 100.0, 5.0))
    assert s.buy("BTCUSDT", 1.0, price=100.0).accepted
    runtime.on_bar(Bar("BTCUSDT", 120.0, 100.0, 101.0, 99.0, 100.0, 5.0))
    assert s.position("BTCUSDT") == 1.0
    assert s.close("BTCUSDT", price=100.0)[0].accepted
    with pytest.raises(ValueError, match=r"high 2000000000000000\.0 is above the kernel's bound of 1e\+15"):
        runtime.on_bar(Bar("BTCUSDT", 180.0, 100.0, 2e15, 99.0, 100.0, 5.0))
    assert runtime.now() == 120.0 and venue.positions() == {"BTCUSDT": 1.0}
    runtime.on_bar(Bar("BTCUSDT", 180.0, 100.0, 101.0, 99.0, 100.0, 5.0))
    assert s.position("BTCUSDT") == 0.0 and venue.positions() == {}


def test_a_bar_at_a_subnormal_price_is_refused_before_the_kernel_is_marked_at_it() -> None:
    """A bar closing at 1e-310 passed the checks, and the kernel's mark raised inside the
    runtime's step. It is refused at once, naming the price, and the clock has not moved."""
    runtime, _, _ = make_runtime()
    runtime.add_strategy(Counter(name="s"))
    runtime.start()
    runtime.on_bar(Bar("BTCUSDT", 60.0, 100.0, 101.0, 99.0, 100.0, 5.0))
    with pytest.raises(ValueError, match=r"open 1e-310 is below the kernel's least price"):
        runtime.on_bar(Bar("BTCUSDT", 120.0, 1e-310, 1e-310, 1e-310, 1e-310, 5.0))
    assert runtime.now() == 60.0
    runtime.on_bar(Bar("BTCUSDT", 120.0, 100.0, 101.0, 99.0, 100.0, 5.0))
    assert runtime.now() == 120.0


class Sleepy(Counter):
    def on_bar(self, bar: Bar) -> None:
        super().on_bar(bar)
        time.sleep(0.02)


def test_run_columns_reports_progress_as_it_goes_for_a_slow_strategy() -> None:
    """Progress came every 10,000 rows whatever they took: a strategy taking 10 ms a row
    showed nothing for 100 s. It comes about every quarter second, as rows are done."""
    runtime, _, _ = make_runtime()
    s = Sleepy(name="s")
    runtime.add_strategy(s)
    n = 40  # 0.8 s of strategy at 20 ms a row
    ts = [60.0 * (i + 1) for i in range(n)]
    columns = [[100.0] * n, [101.0] * n, [99.0] * n, [100.0] * n, [5.0] * n]
    done: list[int] = []
    runtime.run_columns(ts, ["X"] * n, columns, "bars", progress=done.append)
    assert done == sorted(done) and done[-1] == n and len(s.bars) == n
    assert len(done) >= 3  # before: one call, at the end
    assert done[0] <= n // 4  # the first comes early, not after the whole run (counted in rows, not seconds)


class Unanswering:
    """A venue the test plays: it answers nothing by itself, holds no order, and says so."""

    name = "unanswering"

    def __init__(self) -> None:
        self.asked: list[str] = []

    def submit(self, order: Any) -> list[VenueEvent]:
        return []

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []

    def open_orders(self) -> list[Any]:
        return []

    def positions(self) -> dict[str, float]:
        return {"BTCUSDT": 1.0}

    def order_status(self, client_order_id: str) -> Any:
        self.asked.append(client_order_id)
        return None


def exit_in_doubt(venue: Any, kernel_id: str, at: float) -> tuple[ExecutionKernel, TradingRuntime, str]:
    """A kernel on ``venue`` holding 1 BTCUSDT in slot 0 (trade t1) whose exit was rate limited
    before the venue acknowledged it, with a cancel asked (all stamped ``at``): the exit is in
    doubt. The kernel, a runtime over it taking no market data, and the exit's client id."""
    from dita import KernelIntent

    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id=kernel_id)
    kernel.set_seed_capital(10_000.0)

    def intent(intent_id: str, action: str, size: float = 0.0) -> KernelIntent:
        return KernelIntent(intent_id, "t1", 0, "BTCUSDT", "LONG", action, 100.0, size, timestamp=at)

    coid = kernel.process_intent(intent("e1", "ENTER", 1.0)).order.client_order_id
    fill = VenueEvent("f1", "t1", 0, "FILL", venue_client_id=coid, price=100.0, size=1.0, timestamp=at)
    assert kernel.on_venue_event(fill).accepted
    xid = kernel.process_intent(intent("x1", "EXIT")).order.client_order_id
    kernel.process_intent(intent("c1", "CANCEL"))
    throttled = VenueEvent("r1", "t1", 0, "RATE_LIMITED", venue_client_id=xid, retry_after=1.0, timestamp=at)
    assert "slot_waits" in kernel.on_venue_event(throttled).details
    assert [o.client_order_id for o in kernel.orders_in_doubt()] == [xid]
    return kernel, TradingRuntime(kernel, []), xid


def test_the_runtime_reconciles_an_order_in_doubt_so_its_slot_trades_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An exit rate limited before the venue acknowledged it, with a cancel asked, blocks its
    slot until its status is known; were nothing to ask the venue for it, the position could
    not be exited for the rest of the run. The runtime reconciles after a while, the venue
    says it never had the order, and the slot exits again."""
    from dita import KernelIntent

    venue = Unanswering()
    kernel, runtime, xid = exit_in_doubt(venue, "doubt", at=60.0)
    with caplog.at_level("WARNING", logger="dita.runtime"):
        runtime.on_bar(Bar("BTCUSDT", 62.0, 100.0, 101.0, 99.0, 100.0, 5.0))  # seen: not at once
        assert runtime.stats["doubt_reconciliations"] == 0 and venue.asked == []
        runtime.on_bar(Bar("BTCUSDT", 120.0, 100.0, 101.0, 99.0, 100.0, 5.0))
    assert runtime.stats["doubt_reconciliations"] == 1 and venue.asked == [xid]
    assert kernel.orders_in_doubt() == [] and kernel.slot_state(0).size == 1.0
    assert f"orders in doubt ({xid}) reconciled with the venue: settled {xid}" in caplog.text
    again = KernelIntent("x2", "t1", 0, "BTCUSDT", "LONG", "EXIT", 100.0, 0.0, timestamp=120.0)
    assert kernel.process_intent(again).accepted


def test_a_wall_clock_set_back_does_not_hold_an_order_in_doubt_past_its_first_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under the wall clock, the first wait before reconciling an order in doubt (its slot takes
    no order meanwhile) is a span, measured on the monotonic clock: the wall clock set back an
    hour (NTP, an operator) does not hold the slot an hour longer."""
    from dita.runtime.doubts import DOUBT_FIRST_WAIT

    venue = Unanswering()
    kernel, _, xid = exit_in_doubt(venue, "doubt-clock-set-back", at=time.time())
    runtime = TradingRuntime(kernel, [], clock="wall")
    with kernel:
        runtime.poll_venues_if_due()  # the order in doubt seen: its first wait runs
        assert venue.asked == []
        wall, steady = time.time(), time.monotonic()
        monkeypatch.setattr(time, "time", lambda: wall - 3600.0)  # set back an hour
        monkeypatch.setattr(time, "monotonic", lambda: steady + DOUBT_FIRST_WAIT + 1.0)
        runtime.poll_venues_if_due()
        assert venue.asked == [xid] and kernel.orders_in_doubt() == []


class CannotSay(Unanswering):
    def order_status(self, client_order_id: str) -> Any:
        self.asked.append(client_order_id)
        raise TimeoutError("the venue did not answer")


def test_an_order_left_in_doubt_is_asked_about_again_ever_less_often() -> None:
    """A venue that cannot say: each reconciliation waits twice as long as the one before
    (the venue throttles), up to five minutes."""
    from dita import KernelIntent

    venue = CannotSay()
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="doubt-again")
    kernel.set_seed_capital(10_000.0)
    runtime = TradingRuntime(kernel, [])
    enter = KernelIntent("e1", "t1", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0, timestamp=0.0)
    coid = kernel.process_intent(enter).order.client_order_id
    assert kernel.process_intent(
        KernelIntent("c1", "t1", 0, "BTCUSDT", "LONG", "CANCEL", 100.0, 0.0)
    ).accepted
    kernel.on_venue_event(VenueEvent("r1", "t1", 0, "RATE_LIMITED", venue_client_id=coid, retry_after=1.0))
    asked_at = []
    for t in range(1, 1200):
        runtime.on_bar(Bar("ETHUSDT", float(t), 10.0, 10.0, 10.0, 10.0, 1.0))
        if len(venue.asked) > len(asked_at):
            asked_at.append(t)
    assert asked_at == [6, 16, 36, 76, 156, 316, 616, 916]
    assert kernel.orders_in_doubt() != [] and runtime.stats["doubt_reconciliations"] == 8


def test_an_order_put_in_doubt_after_a_look_that_found_none_is_seen_at_the_next_look() -> None:
    """A look that finds no order in doubt lets the next looks pass while the kernel's ``seq``
    stays: that holds only while every input putting an order in doubt moves ``seq`` on. An
    exit throttled between two data points (outside the runtime) is seen at the next look, and
    reconciled after the first wait."""
    from dita import KernelIntent

    venue = Unanswering()
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="doubt-later")
    kernel.set_seed_capital(10_000.0)
    runtime = TradingRuntime(kernel, [])

    def intent(intent_id: str, action: str, size: float = 0.0) -> KernelIntent:
        return KernelIntent(intent_id, "t1", 0, "BTCUSDT", "LONG", action, 100.0, size, timestamp=0.0)

    coid = kernel.process_intent(intent("e1", "ENTER", 1.0)).order.client_order_id
    fill = VenueEvent("f1", "t1", 0, "FILL", venue_client_id=coid, price=100.0, size=1.0, timestamp=0.0)
    assert kernel.on_venue_event(fill).accepted
    xid = kernel.process_intent(intent("x1", "EXIT")).order.client_order_id
    kernel.process_intent(intent("c1", "CANCEL"))
    for t in (10.0, 20.0):  # each a look finding none, the second with seq as the first left it
        runtime.on_bar(Bar("BTCUSDT", t, 100.0, 100.0, 100.0, 100.0, 1.0))
    seq = kernel.seq
    throttled = VenueEvent("r1", "t1", 0, "RATE_LIMITED", venue_client_id=xid, retry_after=1.0)
    kernel.on_venue_event(throttled)
    assert [o.client_order_id for o in kernel.orders_in_doubt()] == [xid] and kernel.seq > seq
    runtime.on_bar(Bar("BTCUSDT", 30.0, 100.0, 100.0, 100.0, 100.0, 1.0))  # seen: not at once
    assert venue.asked == []
    runtime.on_bar(Bar("BTCUSDT", 35.0, 100.0, 100.0, 100.0, 100.0, 1.0))
    assert venue.asked == [xid] and runtime.stats["doubt_reconciliations"] == 1


class ListsItThenCancelFails(Unanswering):
    """Works the exit in doubt, 0.4 of it filled; its cancel times out."""

    def __init__(self) -> None:
        super().__init__()
        self.cancels = 0

    def open_orders(self) -> list[Any]:
        return [self.held] if getattr(self, "held", None) is not None else []

    def order_status(self, client_order_id: str) -> Any:
        self.asked.append(client_order_id)
        return getattr(self, "held", None)

    def cancel(self, order: Any) -> list[VenueEvent]:
        self.cancels += 1
        raise TimeoutError("cancel timed out")


def test_a_reconciliation_of_doubts_that_raises_does_not_ask_the_venue_again_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A listener's error is raised once the reconciliation's events are routed: the next
    attempt was not set, so the very next data point cancelled at the venue again."""
    from dita import VenueOrder

    venue = ListsItThenCancelFails()
    kernel, runtime, xid = exit_in_doubt(venue, "doubt-raises", at=0.0)
    venue.held = VenueOrder(
        xid, 0, "t1", "BTCUSDT", "SELL", "MARKET", 100.0, 1.0,
        venue_order_id="VX", filled_size=0.4, avg_fill_price=100.0, status="PARTIALLY_FILLED",
    )  # fmt: skip

    def broken(event: VenueEvent) -> None:
        raise RuntimeError("listener hiccup")

    runtime.event_listeners.append(broken)
    venue.cancels = 0  # the strategy's own cancel went there too
    runtime.on_bar(Bar("BTCUSDT", 1.0, 100.0, 100.0, 100.0, 100.0, 1.0))  # first seen
    with (
        caplog.at_level("WARNING", logger="dita.runtime"),
        pytest.raises(RuntimeError, match="listener hiccup"),
    ):
        runtime.on_bar(Bar("BTCUSDT", 6.0, 100.0, 100.0, 100.0, 100.0, 1.0))
    assert venue.cancels == 1 and "reconciling raised RuntimeError: listener hiccup" in caplog.text
    assert kernel.slot_state(0).size == pytest.approx(0.6)  # the listed fill is booked all the same
    runtime.event_listeners.remove(broken)
    runtime.on_bar(Bar("BTCUSDT", 7.0, 100.0, 100.0, 100.0, 100.0, 1.0))
    assert venue.cancels == 1  # not asked again at once
    runtime.on_bar(Bar("BTCUSDT", 16.0, 100.0, 100.0, 100.0, 100.0, 1.0))
    assert venue.cancels == 2


class _DecidesAfterASignal(Strategy):
    """On its second bar, is signalled (SIGTERM or Ctrl-C) and then buys: a decision made after
    the signal, inside the row."""

    def __init__(self, signum: int) -> None:
        super().__init__(name="decides")
        self.signum = signum
        self.bars = 0

    def on_bar(self, bar: Bar) -> None:
        self.bars += 1
        if self.bars == 2:
            import signal

            signal.raise_signal(self.signum)
            self.buy(bar.asset, 0.01, price=bar.close)


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_a_signal_in_the_middle_of_a_row_ends_the_run_after_the_row(signame: str) -> None:
    """A SIGTERM or Ctrl-C in `dita paper` raised where the run was: in a strategy's on_bar,
    the row counted handled (its state saved so) with the strategy's decision lost, and a run
    continued on the write-ahead log skipped it, one trade fewer than an uninterrupted run.
    The row now ends first; the run stops after it, its decision taken."""
    import signal

    from dita._signals import Terminated, sigterm_as_interrupt

    kernel = ExecutionKernel(max_slots=2, kernel_id=f"row-{signame}")
    kernel.set_seed_capital(10_000.0)
    runtime = TradingRuntime(kernel, [])
    strategy = _DecidesAfterASignal(getattr(signal, signame))
    runtime.add_strategy(strategy)
    bars = [Bar("BTCUSDT", 1.7e9 + 60 * i, 100.0, 101.0, 99.0, 100.0, 5.0) for i in range(4)]
    restore = sigterm_as_interrupt()
    try:
        with pytest.raises(Terminated if signame == "SIGTERM" else KeyboardInterrupt):
            runtime.run(bars)
    finally:
        restore()
    assert runtime.data_points == 2 and strategy.bars == 2
    assert (runtime.handles["decides"].intents, runtime.handles["decides"].fills) == (1, 1)


class ReadsItsSlots(Strategy[Any]):
    """Buys 1 on its first bar and notes the unrealized PnL its slots show on every bar."""

    def on_start(self) -> None:
        self.seen: list[float] = []

    def on_bar(self, bar: Bar) -> None:
        if not self.busy(bar.asset):
            assert self.buy(bar.asset, 1.0, price=bar.close).accepted
        self.seen.append(sum(s.unrealized_pnl for s in self.slots()))


@pytest.mark.parametrize("defer", [True, False])
def test_a_strategys_slots_show_the_unrealized_pnl_at_the_latest_price(defer: bool) -> None:
    """The kernel's marks are deferred to submits and reads: ``slots()`` read the slots without
    them, and a position held while the price rose from 100 to 130 showed 0 unrealized PnL
    on every bar (``account()`` said 30)."""
    venue = PaperVenue(slippage_bps=0.0, taker_rate=0.0, maker_rate=0.0, bar_volume_share=1.0)
    kernel = ExecutionKernel(max_slots=2, venue=venue, kernel_id="rt-slots-marked")
    kernel.set_seed_capital(10_000.0)
    runtime = TradingRuntime(kernel, [venue], defer_venue_data=defer)
    s = ReadsItsSlots(name="s")
    runtime.add_strategy(s)
    runtime.run([Bar("AAA", 60.0 * i, p, p, p, p, 10.0) for i, p in enumerate([100.0, 100.0, 110.0, 130.0])])
    assert s.seen == [0.0, 0.0, 10.0, 30.0]
    assert s.account()["unrealized_pnl"] == 30.0


@pytest.mark.parametrize("given", [5, "fast=5", 0, "", False, ["fast"], [("fast", 5)]])
def test_parameters_that_are_not_a_mapping_are_refused_naming_them(given: Any) -> None:
    """``SmaCrossover(5)`` raised "'int' object is not iterable", ``SmaCrossover("fast=5")``
    "dictionary update sequence element #0 has length 1", and ``SmaCrossover(0)`` or
    ``SmaCrossover("")`` ran on the defaults without a word."""
    with pytest.raises(TypeError, match=r"params must be a CrossoverParams, a mapping of parameter") as e:
        SmaCrossover(given)
    assert repr(given) in str(e.value)
    assert SmaCrossover(None).params == SmaCrossover({}).params  # None still takes the defaults


@pytest.mark.parametrize("ts", [float("nan"), float("inf"), 10**400, -1.0])
def test_resume_at_a_time_that_is_no_finite_time_ahead_is_refused_naming_it(ts: Any) -> None:
    runtime, _, _ = make_runtime()
    with pytest.raises(ValueError, match=r"resume_at ts=.* must be a finite time at or after"):
        runtime.resume_at(ts)
    assert runtime.now() == 0.0
