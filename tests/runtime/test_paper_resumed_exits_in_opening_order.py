"""A paper session stopped and continued on its write-ahead log gives its strategy back the
trades it holds in the order they opened, as a run that went on holds them: ``close`` exits
them in that order, and the venue shares a bar's volume among orders oldest first, so the exits
of a resumed run fill at the prices an uninterrupted run's did."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from dita.runtime.owners import TradeOwners
from dita.runtime.strategies import StrategyHandle
from runtime.paper_cli import saved_state
from runtime.scripted_paper import Scripted, moving_bars, paper_fills

# Orders reach the venue half a bar after they are sent: the two exits of the close at bar 24
# share the bars after it.
LATENCY = ("--latency-ms", "30000")


def test_a_resumed_session_exits_its_trades_in_the_order_they_opened(tmp_path: Path) -> None:
    bars = moving_bars(tmp_path / "bars.csv")
    whole = paper_fills(
        tmp_path / "whole", "Scripted", bars, "--wal-dir", str(tmp_path / "wal-whole"), *LATENCY
    )
    # Stopped after bar 15: the short of bar 14 holds slot 0, opened after the long on slot 1.
    head = tmp_path / "head.csv"
    head.write_text("\n".join(bars.read_text().splitlines()[:17]) + "\n")
    wal = ("--wal-dir", str(tmp_path / "wal-cut"))
    before = paper_fills(tmp_path / "cut", "Scripted", head, *wal, *LATENCY)
    after = paper_fills(tmp_path / "cut", "Scripted", bars, *wal, *LATENCY)
    assert before + after == whole
    cut, unbroken = saved_state(tmp_path / "cut")["venue"], saved_state(tmp_path / "whole")["venue"]
    assert cut["cash"] == pytest.approx(unbroken["cash"], abs=1e-9)


class _Recovered:
    """A kernel's reads as ``TradeOwners.adopt`` takes them: its slots, each an open position
    with no order working."""

    def __init__(self, slots: list[dict[str, object]]) -> None:
        self._slots = slots

    def slots(self) -> list[dict[str, object]]:
        return self._slots

    def slot_state(self, slot_id: int) -> SimpleNamespace:
        return SimpleNamespace(active_entry_order=None, active_exit_order=None)


def test_trades_asked_at_one_time_are_taken_back_in_the_order_of_their_ids() -> None:
    def open_trade(slot_id: int, trade_id: str, entry_time: float) -> dict[str, object]:
        return {
            "slot_id": slot_id,
            "trade_id": trade_id,
            "asset": "BTCUSDT",
            "fsm_state": "POSITION_OPEN",
            "entry_time": entry_time,
        }

    strategy = Scripted()
    # Slot 0 freed between two entries asked at one time (two rows of that time), taken by the
    # second; the trade of a run continued on the kernel (r40-t1) opened after both.
    kernel = _Recovered(
        [
            open_trade(0, "Scripted-t3", 60.0),
            open_trade(1, "Scripted-t2", 60.0),
            open_trade(2, "Scripted-r40-t1", 120.0),
            open_trade(3, "Scripted-t1", 0.0),
            open_trade(4, "Other-t4", 30.0),
        ]
    )
    TradeOwners(kernel).adopt(StrategyHandle(strategy))
    assert list(strategy._open_slots["BTCUSDT"]) == [3, 1, 0, 2]
