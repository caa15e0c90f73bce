"""A strategy's mistakes stay its own: the runtime goes on for the others, the kernel's state
and the fills are kept, and the error names the strategy and what it did."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from dita import ExecutionKernel, KernelIntent
from dita._kernel import MockVenueAdapter
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Fill, Strategy, StrategyLoadError
from dita.venues.paper import PaperVenue

T0 = 1.7e9


def bar(i: int, low: float = 99.0, asset: str = "AAA") -> Bar:
    return Bar(asset, T0 + 60 * i, 100.0, 101.0, low, 100.0, 1_000.0)


class Buyer(Strategy[Any]):
    """Buys 1 at market on its first bar; hears its fills."""

    def on_start(self) -> None:
        self.bars = 0
        self.heard: list[Fill] = []

    def on_bar(self, bar: Bar) -> None:
        self.bars += 1
        if self.bars == 1:
            assert self.buy(bar.asset, 1.0, price=bar.close).accepted

    def on_fill(self, fill: Fill) -> None:
        self.heard.append(fill)


class Rester(Buyer):
    """Rests a buy limit at 95 on its first bar (a bar reaching 95 fills it)."""

    def on_bar(self, bar: Bar) -> None:
        self.bars += 1
        if self.bars == 1:
            assert self.buy(bar.asset, 1.0, price=bar.close, limit=95.0).accepted


def run(*strategies: Strategy[Any], venue: Any = None) -> TradingRuntime:
    kernel = ExecutionKernel(max_slots=4, venue=venue or MockVenueAdapter(), kernel_id="review")
    kernel.set_seed_capital(100_000.0)
    runtime = TradingRuntime(kernel)
    for s in strategies:
        runtime.add_strategy(s)
    runtime.start()
    return runtime


def status(runtime: TradingRuntime, name: str) -> dict[str, Any]:
    return next(s for s in runtime.status() if s["name"] == name)


# -- an exception that cannot be shown -----------------------------------------------------


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text")


class RaisesUnprintable(Strategy[Any]):
    def on_bar(self, bar: Bar) -> None:
        raise Unprintable


def test_an_exception_whose_text_raises_puts_only_its_strategy_in_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Its message was read to record the error, and that raised out of the runtime: the run
    ended, and the other strategy never heard the bar."""
    bad, good = RaisesUnprintable(name="bad"), Buyer(name="good")
    runtime = run(bad, good)
    with caplog.at_level(logging.ERROR, logger="dita.runtime"):
        runtime.on_bar(bar(0))
    row = status(runtime, "bad")
    assert row["status"] == "ERROR" and row["error_callback"] == "on_bar"
    assert row["error"].startswith("Unprintable: ") and "str() raised RuntimeError" in row["error"]
    assert "'bad'" in caplog.text
    assert good.bars == 1 and len(good.heard) == 1 and status(runtime, "good")["status"] == "RUNNING"


def test_a_huge_error_message_is_kept_short_in_status() -> None:
    """The status row (written to metrics.json, a paper run's state file) kept the whole text."""

    class Huge(Strategy[Any]):
        def on_bar(self, bar: Bar) -> None:
            raise ValueError("x" * 1_000_000)

    runtime = run(Huge(name="huge"))
    runtime.on_bar(bar(0))
    row = status(runtime, "huge")
    assert row["status"] == "ERROR" and row["error"].startswith("ValueError: xxx")
    assert len(row["error"]) <= 1_000


# -- its fills list replaced ---------------------------------------------------------------


class DropsItsFills(Rester):
    def on_bar(self, bar: Bar) -> None:
        super().on_bar(bar)
        if self.bars == 1:
            self.fills = None  # type: ignore[assignment]


def test_a_strategy_replacing_its_fills_with_no_list_fails_alone_and_the_fill_is_booked() -> None:
    """The runtime appended the fill to it: a venue's answer to the next bar raised out of
    ``on_bar`` (the run ended), the strategy still RUNNING."""
    venue = PaperVenue(slippage_bps=0, latency_ms=0, bar_volume_share=1.0)
    bad, good = DropsItsFills(name="bad"), Rester(name="good")
    runtime = run(bad, good, venue=venue)
    runtime.on_bar(bar(0))
    row = status(runtime, "bad")
    assert row["status"] == "ERROR" and row["error_callback"] == "on_bar"
    assert "fills" in row["error"] and "NoneType" in row["error"]
    runtime.on_bar(bar(1, low=90.0))  # fills good's resting entry; bad's was canceled
    assert len(good.heard) == 1 and good.position("AAA") == 1.0
    assert [s["trade_id"] for s in runtime.kernel.slots() if s["fsm_state"] == "POSITION_OPEN"] == ["good-t2"]


@pytest.mark.parametrize("value", [None, (), "x", 1.5, True, -1])
def test_fills_total_takes_a_count_only(value: object) -> None:
    s = Buyer(name="s")
    with pytest.raises(TypeError, match="fills_total"):
        s.fills_total = value  # type: ignore[assignment]
    assert s.fills_total == 0


def test_fills_may_be_replaced_by_a_list() -> None:
    s = Buyer(name="s")
    s.fills = []
    s.fills_total = 3
    assert s.fills == [] and s.fills_total == 3


# -- its subscriptions ---------------------------------------------------------------------


class KeepsHistoryInData(Strategy[Any]):
    """Keeps its bars in ``self.data``, a name the class uses for its subscriptions."""

    def on_start(self) -> None:
        self.data = []  # type: ignore[assignment]

    def on_bar(self, bar: Bar) -> None:
        self.data.append(bar)  # type: ignore[attr-defined]


def test_a_strategy_reusing_data_as_its_own_attribute_still_hears_its_bars() -> None:
    """``data`` and ``assets`` were read from the instance at each data point's first hand-out:
    an empty list there unsubscribed it, and it heard nothing, in silence."""
    s = KeepsHistoryInData(name="s")
    runtime = run(s)
    for i in range(3):
        runtime.on_bar(bar(i))
    assert len(s.data) == 3  # type: ignore[arg-type]
    assert status(runtime, "s")["status"] == "RUNNING"


@pytest.mark.parametrize(
    ("attribute", "value", "said"),
    [
        ("assets", "AAA", "must be a tuple of asset names"),
        ("assets", ("AAA", ""), "is not an asset name"),
        ("data", ("bar",), "is not a kind of market data"),
        ("data", "bars", "must be a tuple of"),
    ],
)
def test_an_instances_subscriptions_are_checked_when_it_is_added(
    attribute: str, value: object, said: str
) -> None:
    """The class's are checked when it is loaded; an instance's own (``a.assets = ...``) were not:
    a bare ``"AAA"`` matched asset ``"A"`` too, ``("bar",)`` heard nothing."""
    s = Buyer(name="s")
    setattr(s, attribute, value)
    kernel = ExecutionKernel(max_slots=2, venue=MockVenueAdapter(), kernel_id="review-subs")
    runtime = TradingRuntime(kernel)
    with pytest.raises(StrategyLoadError, match=said):
        runtime.add_strategy(s)
    assert runtime.handles == {}


def test_an_instances_own_assets_still_choose_its_data() -> None:
    a, b = Buyer(name="a"), Buyer(name="b")
    a.assets = ("AAA",)
    b.assets = ["BBB"]  # type: ignore[assignment]
    runtime = run(a, b)
    runtime.on_bar(bar(0, asset="AAA"))
    runtime.on_bar(bar(0, asset="BBB"))
    runtime.on_bar(bar(1, asset="A"))
    assert (a.bars, b.bars) == (1, 1)


# -- what a callback returns ---------------------------------------------------------------


def intent(name: str) -> KernelIntent:
    return KernelIntent(f"{name}-hand-1", f"{name}-hand-t1", 0, "AAA", "LONG", "ENTER", 100.0, 1.0)


@pytest.mark.parametrize("many", [False, True])
def test_a_callback_returning_orders_is_an_error_naming_what_it_returned(many: bool) -> None:
    """The runtime sends nothing a callback returns: a strategy returning its orders (as some
    frameworks take them) read RUNNING and never traded."""

    class Returns(Strategy[Any]):
        def on_bar(self, bar: Bar) -> Any:
            return [intent(self.name)] * 3 if many else intent(self.name)

    bad, good = Returns(name="bad"), Buyer(name="good")
    runtime = run(bad, good)
    runtime.on_bar(bar(0))
    row = status(runtime, "bad")
    assert row["status"] == "ERROR" and row["error_callback"] == "on_bar"
    assert "returned" in row["error"] and "KernelIntent" in row["error"] and "submit" in row["error"]
    assert ("3" in row["error"]) is many
    assert good.bars == 1 and len(good.heard) == 1
    assert [s["trade_id"] for s in runtime.kernel.slots() if s["trade_id"]] == ["good-t1"]


def test_a_callback_returning_what_the_helpers_answer_is_fine() -> None:
    class ReturnsOutcomes(Buyer):
        def on_bar(self, bar: Bar) -> Any:
            self.bars += 1
            if self.bars == 1:
                return self.buy(bar.asset, 1.0, price=bar.close)
            return self.close(bar.asset, price=bar.close) or True

    s = ReturnsOutcomes(name="s")
    runtime = run(s)
    for i in range(3):
        runtime.on_bar(bar(i))
    assert status(runtime, "s")["status"] == "RUNNING"
    assert [f.side for f in s.heard] == ["BUY", "SELL"]


# -- its name --------------------------------------------------------------------------


def test_a_strategy_renaming_itself_once_added_is_refused_where_it_does() -> None:
    """Its ids, status and fills are under the name it was added with: renamed, every submit
    raised "not attached to this runtime", naming the new name."""

    class Renames(Buyer):
        def on_start(self) -> None:
            super().on_start()
            self.name = "other"

    s = Renames(name="s")
    runtime = run(s)
    row = status(runtime, "s")
    assert row["status"] == "ERROR" and row["error_callback"] == "on_start"
    assert "name" in row["error"] and "'s'" in row["error"] and "'other'" in row["error"]
    assert s.name == "s"


# -- shadow: nothing leaves the process ----------------------------------------------------

SHADOW_OFFLINE = """
import socket, sys
def refused(*args, **kwargs):
    raise AssertionError(f"the shadow run opened a connection: {args!r}")
socket.socket.connect = refused
socket.socket.connect_ex = refused
socket.create_connection = refused
from dita.shadow import ShadowSettings, run_shadow
report = run_shadow(ShadowSettings(symbols=["BTCUSDT", "ETHUSDT"], iterations=30, seed=3))
assert report["orders"]["placed"] > 0, report
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("ccxt", "hazelcast", "httpx", "requests"))
assert not loaded, loaded
print("offline", report["orders"]["placed"])
"""


def test_the_shadow_run_sends_nothing_anywhere() -> None:
    """``dita shadow`` quotes against the seeded in-process mock, with no control plane: no
    connection is opened and no exchange or cluster client is loaded, whatever it places."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", SHADOW_OFFLINE], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("offline ")


# -- fills after a strategy stopped or failed ----------------------------------------------


class EntersThenRestsExit(Buyer):
    """Buys at market on its first bar, rests a take-profit sell at 104 on its second, and
    raises on its third when told to."""

    fail_on_third = False

    def on_bar(self, bar: Bar) -> None:
        super().on_bar(bar)
        if self.bars == 2:
            slot_id = self.slots()[0].slot_id
            assert self.exit(slot_id, price=bar.close, limit=104.0).accepted
        elif self.bars == 3 and self.fail_on_third:
            raise RuntimeError("boom")


@pytest.mark.parametrize("how", ["stopped", "error"])
def test_a_late_fill_of_a_stopped_or_failed_strategy_is_booked_as_its_own(how: str) -> None:
    """Its exit keeps working once it is stopped or in ERROR: the fill is booked, kept in its
    ``fills`` (its ``on_fill`` not called), its slot freed, and the other strategy told nothing."""
    venue = PaperVenue(slippage_bps=0, latency_ms=0, bar_volume_share=1.0)
    quitter, other = EntersThenRestsExit(name="quitter"), Buyer(name="other")
    quitter.fail_on_third = how == "error"
    runtime = run(quitter, other, venue=venue)
    runtime.on_bar(bar(0))
    runtime.on_bar(bar(1))
    if how == "stopped":
        runtime.stop("quitter")
    runtime.on_bar(bar(2))
    assert status(runtime, "quitter")["status"] == ("STOPPED" if how == "stopped" else "ERROR")
    heard = len(quitter.heard)
    runtime.on_bar(Bar("AAA", T0 + 60 * 3, 100.0, 105.0, 99.0, 104.5, 1_000.0))  # takes the exit
    assert [f.side for f in quitter.fills] == ["BUY", "SELL"] and quitter.fills[-1].closed
    assert len(quitter.heard) == heard == 1 and quitter.fills_total == 2
    assert not quitter.busy("AAA") and quitter.position("AAA") == 0.0
    assert [f.side for f in other.fills] == ["BUY"] and other.position("AAA") == 1.0
    assert status(runtime, "quitter")["fills"] == 2 and status(runtime, "other")["fills"] == 1
