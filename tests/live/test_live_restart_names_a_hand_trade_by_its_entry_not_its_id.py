"""A trade opened by hand on a ``dita live`` run's kernel with an id of the form the runtime
gives a strategy's trades (``btc-hedge-t1``; the gateway takes any such id): the run restarted
unchanged names it as opened by hand and trades on, as for a uuid. Whose trade it is comes from
its ENTER (the runtime stamps its own), not from its id."""

from __future__ import annotations

import time
from pathlib import Path

from binance_streams import BinanceStreamServer
from paper_runs import open_trades, started_until_a_trade_opens
from test_live_restart_refuses_trades_no_strategy_takes_back import STRATEGIES, _run

from dita._kernel import KernelIntent


def test_a_restart_with_a_hand_trade_named_like_a_strategys_names_it_by_hand_and_starts(
    tmp_path: Path, exchange: BinanceStreamServer
) -> None:
    module = tmp_path / "strategies.py"
    module.write_text(STRATEGIES)
    said: list[str] = []
    run = _run(tmp_path, exchange, f"{module}:Trend", said)
    try:
        started_until_a_trade_opens(run)
        deadline = time.monotonic() + 60
        slot = next(s for s in run.kernel.slots() if s.get("trade_id"))
        free = run.kernel.free_slot_id()
        run.kernel.process_intents(
            [
                KernelIntent(
                    intent_id="hand-1",
                    trade_id="btc-hedge-t1",
                    slot_id=free,
                    asset=slot["asset"],
                    side="LONG",
                    action="ENTER",
                    reference_price=float(slot.get("entry_price") or slot.get("mark_price") or 30000.0),
                    target_size=0.01,
                    metadata={"source_run": "operator"},
                )
            ]
        )
        while time.monotonic() < deadline and run.kernel.slot_dict(free).get("fsm_state") != "POSITION_OPEN":
            time.sleep(0.2)
        assert run.kernel.slot_dict(free).get("fsm_state") == "POSITION_OPEN", run.kernel.slot_dict(free)
        strategys = [t for t in open_trades(run) if t != "btc-hedge-t1"]
    finally:
        run.stop()
        run.close()

    said.clear()
    run = _run(tmp_path, exchange, f"{module}:Trend", said)
    try:
        run.start()
        assert any("btc-hedge-t1" in line and "by hand" in line for line in said), said
        assert all(run.runtime.trade_owner(t) == "Trend" for t in strategys), strategys
        assert run.runtime.trade_owner("btc-hedge-t1") is None
    finally:
        run.stop()
        run.close()
