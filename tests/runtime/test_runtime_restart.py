"""A strategy restarted on a kernel recovered from its write-ahead log: its new intents are
not taken for the last run's, and it holds the trades it opened before."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from dita import ExecutionKernel
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Fill, Strategy
from dita.venues.paper import PaperVenue


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid")
    close: bool = False


class InAndOut(Strategy[Plan]):
    """Buys while flat; with ``close``, closes what it holds."""

    Params = Plan

    def on_start(self) -> None:
        self.my_fills: list[Fill] = []

    def on_bar(self, bar: Bar) -> None:
        if self.position(bar.asset) > 0:
            if self.params.close:
                assert all(o.accepted for o in self.close(bar.asset, price=bar.close))
        elif not self.busy(bar.asset):
            out = self.buy(bar.asset, 0.01, price=bar.close)
            assert out.accepted, out.details

    def on_fill(self, fill: Fill) -> None:
        self.my_fills.append(fill)


def _life(
    wal: Path, start: float, n: int, close: bool, venue: PaperVenue
) -> tuple[TradingRuntime, InAndOut, ExecutionKernel]:
    kernel = ExecutionKernel(max_slots=4, venue=venue, kernel_id="rt-restart", wal_dir=str(wal))
    if kernel.seq == 0:
        kernel.set_seed_capital(10_000.0)
    runtime = TradingRuntime(kernel, [venue])
    strategy = InAndOut({"close": close})
    runtime.add_strategy(strategy)
    runtime.start()
    runtime.run([Bar("BTCUSDT", start + 60 * i, 100.0, 101.0, 99.0, 100.0, 1_000.0) for i in range(n)])
    return runtime, strategy, kernel


def test_a_strategy_restarted_on_a_recovered_kernel_trades_on(tmp_path: Path) -> None:
    # One venue for both lives, as an exchange keeps the position while its client is down:
    # the exit is reduce-only, and a fresh venue, holding nothing, would expire it.
    venue = PaperVenue(slippage_bps=0.0, bar_volume_share=1.0)
    runtime, _, kernel = _life(tmp_path, 1_700_000_000.0, 2, close=False, venue=venue)
    assert runtime.stats["refused"] == 0
    first = kernel.slot_state(0)
    assert first.fsm_state.name == "POSITION_OPEN" and first.size == 0.01
    kernel.close()

    runtime, strategy, kernel = _life(tmp_path, 1_700_001_000.0, 3, close=True, venue=venue)
    # The held trade is the strategy's: it closes it rather than buying beside it, and the
    # new run's intent and trade ids are new to the kernel.
    assert runtime.stats["refused"] == 0, runtime.status()
    new = kernel.slot_state(0).trade_id
    assert [(f.trade_id, f.closed) for f in strategy.my_fills] == [(first.trade_id, True), (new, False)]
    assert kernel.slot_state(0).trade_id != first.trade_id
    assert kernel.slot_state(0).size == 0.01 and kernel.slot_state(1).fsm_state.name == "IDLE"
    kernel.close()


def test_a_name_that_reads_as_another_strategys_restart_mark_is_refused(tmp_path: Path) -> None:
    """Trade ids are ``<name>-t<n>``, or ``<name>-r<seq>-t<n>`` after a restart: a strategy
    named ``bot-r5`` trades as ``bot-r5-t1``, which is also what ``bot`` trades as on a kernel
    restarted at seq 5. Added first on the restarted kernel, ``bot`` took ``bot-r5``'s open
    trade as its own (its ``busy``/``position``/``close`` acted on it) and ``bot-r5`` lost it."""
    import pytest

    kernel = ExecutionKernel(max_slots=2, venue=PaperVenue(), kernel_id="names", wal_dir=str(tmp_path))
    runtime = TradingRuntime(kernel)
    with pytest.raises(ValueError, match=r"'bot-r5'.*restart mark"):
        runtime.add_strategy(InAndOut(name="bot-r5"))
    assert "bot-r5" not in runtime.handles
    runtime.add_strategy(InAndOut(name="bot-r5x"))  # not a mark: taken
    kernel.close()


def test_a_strategy_on_a_kernel_loaded_from_saved_slots_trades_under_new_ids() -> None:
    """A kernel given its slots back (``reconcile_from_slots``) holds the last run's trades but
    has accepted no intent: the runtime numbered its ids from 1 again, and the strategy's own
    first buy took ``InAndOut-t1``, the open trade it holds, raised and put it in ERROR."""
    venue = PaperVenue(slippage_bps=0.0, bar_volume_share=1.0)
    kernel = ExecutionKernel(max_slots=4, venue=venue, kernel_id="rt-loaded")
    kernel.set_seed_capital(10_000.0)
    runtime = TradingRuntime(kernel, [venue])
    runtime.add_strategy(InAndOut())
    runtime.run([Bar("BTCUSDT", 60.0 * i, 100.0, 101.0, 99.0, 100.0, 1_000.0) for i in range(2)])
    saved = kernel.slots()
    (held,) = [s["trade_id"] for s in saved if s["fsm_state"] == "POSITION_OPEN"]

    again = PaperVenue(slippage_bps=0.0, bar_volume_share=1.0)
    loaded = ExecutionKernel(max_slots=4, venue=again, kernel_id="rt-loaded-2")
    loaded.set_seed_capital(10_000.0)
    assert loaded.load_slots(saved) == 1
    runtime = TradingRuntime(loaded, [again])
    strategy = InAndOut()
    runtime.add_strategy(strategy)
    runtime.run([Bar("ETHUSDT", 180.0, 10.0, 10.0, 10.0, 10.0, 1_000.0)])  # flat in ETHUSDT: it buys
    assert runtime.handles["InAndOut"].status.value == "RUNNING", runtime.status()
    assert strategy.busy("BTCUSDT") and strategy.busy("ETHUSDT")
    assert loaded.slot_state(1).trade_id not in ("", held)
