"""A strategy added with ``source_run`` carries it in each of its intents, so a LIVE kernel
(which asks every intent for the research run it comes from) takes them; without it, the
kernel refuses them on the provenance rule."""

from __future__ import annotations

from typing import Any

import pytest

from dita import ExecutionKernel, KernelIntent
from dita.runtime import TradingRuntime
from dita.strategy import Bar, Strategy

from .points import NoParams, bar


class BuysThenExits(Strategy[NoParams]):
    Params = NoParams

    def on_start(self) -> None:
        self.outcomes: list[Any] = []

    def on_bar(self, b: Bar) -> None:
        if not self.outcomes:
            self.outcomes.append(self.buy(b.asset, 1.0, price=b.close))
        elif len(self.outcomes) == 1:
            self.outcomes.extend(self.close(b.asset, price=b.close))


def _live_kernel() -> ExecutionKernel:
    kernel = ExecutionKernel(max_slots=2)
    kernel.set_risk_limits({"require_source_run_in_live": True})
    kernel.update_control(mode="LIVE", source="test")
    return kernel


def test_a_strategy_s_source_run_reaches_each_of_its_intents_in_live_mode() -> None:
    kernel = _live_kernel()
    runtime = TradingRuntime(kernel)
    strategy = BuysThenExits(name="s")
    runtime.add_strategy(strategy, source_run="research-42")
    runtime.on_bar(bar(0))
    runtime.on_bar(bar(1))
    assert [o.accepted for o in strategy.outcomes] == [True, True], [o.to_dict() for o in strategy.outcomes]
    assert kernel.account()["realized_pnl"] == pytest.approx(0.0)


def test_without_a_source_run_a_live_kernel_refuses_the_strategy_s_entry_on_provenance() -> None:
    kernel = _live_kernel()
    runtime = TradingRuntime(kernel)
    strategy = BuysThenExits(name="s")
    runtime.add_strategy(strategy)
    runtime.on_bar(bar(0))
    refused = strategy.outcomes[0]
    assert not refused.accepted and refused.details.get("rule") == "provenance"


def test_an_intent_naming_its_own_source_run_keeps_it() -> None:
    kernel = _live_kernel()
    runtime = TradingRuntime(kernel)
    strategy = BuysThenExits(name="s")
    runtime.add_strategy(strategy, source_run="research-42")
    runtime.start()
    intent = KernelIntent(
        "i0", "s-own", 0, "AAA", "LONG", "ENTER", 100.0, 1.0, metadata={"source_run": "manual"}, timestamp=0.0
    )
    assert runtime.submit(strategy, intent).accepted
    assert kernel.slot_dict(0)["metadata"]["source_run"] == "manual"


@pytest.mark.parametrize("source_run", ["", "  ", 7])
def test_a_source_run_that_is_no_name_is_refused(source_run: Any) -> None:
    runtime = TradingRuntime(ExecutionKernel(max_slots=1))
    with pytest.raises(ValueError, match="source_run="):
        runtime.add_strategy(BuysThenExits(name="s"), source_run=source_run)
