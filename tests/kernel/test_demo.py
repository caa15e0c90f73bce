"""`make run`'s scripted session (`dita demo`): what a newcomer sees first must be right."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from dita.cli import app


def test_demo_prints_the_session_slots_and_account() -> None:
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    out = result.output
    lines = out.splitlines()

    def line(label: str) -> str:
        found = [ln for ln in lines if label in ln]
        assert len(found) == 1, (label, out)
        return found[0]

    assert "accepted" in line("ENTER LONG 0.25 BTC on slot 0")
    assert "SLOT_BUSY" in line("ENTER on busy slot 0")
    nan = line("ENTER with NaN price")
    assert "INVALID_INTENT" in nan and "'field': 'reference_price'" in nan
    assert line("EXIT rest of slot 0").endswith("EXIT_WORKING -> CLOSED")
    assert line("(2nd kernel) CANCEL it").endswith("-> IDLE")

    # Piped output is wide enough that no cell is cut (rich marks a cut cell with an ellipsis).
    assert "…" not in out
    rows = {cells[0]: cells for ln in lines if (cells := re.findall(r"[^│\s][^│]*?(?=\s*│)", ln))}
    # Slot 0: 0.25 BTC long at 60,000, out in two legs at 61,000 and 61,500; fees 5 bps taker.
    assert rows["0"][1:] == ["CLOSED", "BTCUSDT", "LONG", "0", "60000.00", "312.50", "15.1562", "exit_filled"]
    assert rows["1"][1:] == ["CLOSED", "ETHUSDT", "SHORT", "0", "3000.00", "100.00", "5.9500", "exit_filled"]
    assert rows["capital"][1] == "10391.39375"  # 10,000 + 412.50 realized - 21.10625 fees
    assert rows["reconcile_status"][1] == "OK"
    assert "journal rows: {'intents': 7, 'transitions': 20, 'fills': 5, 'account_events': 1}" in out
