"""`dita paper --wal-dir` continued after a run killed between two saves: the state file's
paper venue book is older than the kernel's write-ahead log. The kernel continues from the log
(every fill it booked), the venue from the book; a fill the kernel booked after the save was
missing from the venue's book for good (reconciliation reported the positions apart, the
slot's reduce-only exit then expired against a flat position, run after run), and an order
placed after the save was ended by reconciliation. The continued run brings the book forward
from the log: the kill is simulated by putting back the state file of an earlier save, and the
continued run is compared with one continued from the state file of a clean stop."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dita import JOURNAL_COLUMNS, ExecutionKernel, VenueEvent
from dita._kernel import wal_replay
from dita.cli import app

runner = CliRunner()
T0 = 1_704_067_200
KERNEL = "rest"
SUBMIT_KILL_CHILD = Path(__file__).with_name("paper_submit_kill_child.py")

STRATEGY = """
from pydantic import BaseModel

from dita.strategy import Bar, Strategy


BID_UNTIL = 1_704_067_200 + 420  # bar 7: no bid after the trade is closed


class Plan(BaseModel):
    bid_from: float = 0.0


class BidThenTakeProfit(Strategy[Plan]):
    \"\"\"A buy limit at 50 from ``bid_from`` to bar 7 (once a run, none while one works or a
    position is held); the position closed at the market once a bar closes at 120 or above.\"\"\"

    Params = Plan
    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        if self.position(bar.asset) > 0:
            if bar.close >= 120.0:
                self.close(bar.asset, price=bar.close)
        elif self.params.bid_from <= bar.ts < BID_UNTIL:
            if not (self.busy(bar.asset) or hasattr(self, "sent")):
                self.sent = self.buy(bar.asset, 1.0, price=bar.close, limit=50.0)
"""


@pytest.fixture
def strategy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "paper_catch_up.py").write_text(STRATEGY)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "paper_catch_up:BidThenTakeProfit"


def _bars(
    path: Path,
    n: int,
    *,
    lows: dict[int, float],
    closes: dict[int, float] | None = None,
    volumes: dict[int, float] | None = None,
) -> Path:
    """``n`` one-minute BTCUSDT bars at 100 (low 99, volume 1000), but for the bars named."""
    closes, volumes = closes or {}, volumes or {}
    rows = ["timestamp,asset,open,high,low,close,volume"]
    for i in range(n):
        close = closes.get(i, 100.0)
        high, low, volume = max(101.0, close), lows.get(i, 99.0), volumes.get(i, 1000.0)
        rows.append(f"{T0 + 60 * i},BTCUSDT,100,{high},{low},{close},{volume}")
    path.write_text("\n".join(rows) + "\n")
    return path


def _paper(base: Path, strategy: str, data: Path, *extra: str) -> Any:
    args = ["paper", "--strategy", strategy, "--data", str(data), "--max-speed", "--kernel-id", KERNEL]
    args += ["--state-dir", str(base / "state"), "--wal-dir", str(base / "wal"), "--volume-share", "0.1"]
    result = runner.invoke(app, [*args, *extra])
    assert result.exit_code == 0, result.output
    return result


def _state(base: Path) -> dict[str, Any]:
    return json.loads((base / "state" / f"{KERNEL}.json").read_text())


def _twins(tmp_path: Path, early: str) -> tuple[Path, Path]:
    """Two copies of the account in ``tmp_path``: one as its run stopped ("clean"), one as if
    that run had been killed after the save that wrote ``early`` ("killed")."""
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    stopped = (tmp_path / "state" / f"{KERNEL}.json").read_text()
    for copy, text in ((clean, stopped), (killed, early)):
        shutil.copytree(tmp_path / "wal", copy / "wal")
        # The state file names its log: the copy's, as for an account moved there.
        state = {**json.loads(text), "wal_dir": str((copy / "wal").resolve())}
        (copy / "state").mkdir()
        (copy / "state" / f"{KERNEL}.json").write_text(json.dumps(state))
    return clean, killed


def _venue(snap: dict[str, Any]) -> tuple[Any, ...]:
    v = snap["venue"]
    orders = sorted((o["client_order_id"], o["filled"], o["fills"]) for o in v["orders"])
    return (
        {a: p for a, p in v["positions"].items() if p},
        pytest.approx(v["cash"]),
        pytest.approx(v["fees_paid"]),
        orders,
    )


def _fills(snap: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(f["ts"], f["trade_id"], f["side"], f["price"], f["qty"], f["fee"]) for f in snap["fills"]]


def _kernel_position(snap: dict[str, Any]) -> float:
    return sum(s["size"] if s["side"] == "LONG" else -s["size"] for s in snap["slots"])


def _pnl(base: Path) -> dict[str, Any]:
    res = runner.invoke(app, ["pnl", "--state-dir", str(base / "state"), "--kernel", KERNEL, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_a_fill_booked_after_the_last_save_reaches_the_continued_venue(tmp_path: Path, strategy: str) -> None:
    """The resting bid fills at bar 5, after the last save (bar 4); the run is killed. The
    next run's venue takes the fill from the log and ends as a clean run does. Holding no
    position, reconciliation would report the positions apart, and the take-profit at bar 9
    expire (`reduce-only sell: the BTCUSDT position is flat`), the kernel's slot open for good."""
    _paper(tmp_path, strategy, _bars(tmp_path / "a.csv", 5, lows={}))
    early = (tmp_path / "state" / f"{KERNEL}.json").read_text()
    saved = json.loads(early)["seq"]
    _paper(tmp_path, strategy, _bars(tmp_path / "b.csv", 7, lows={5: 40.0}))
    assert _state(tmp_path)["venue"]["positions"] == {"BTCUSDT": 1.0}
    clean, killed = _twins(tmp_path, early)

    data = _bars(tmp_path / "c.csv", 12, lows={5: 40.0}, closes={9: 130.0})
    _paper(clean, strategy, data)
    res = _paper(killed, strategy, data)
    assert f"was saved at seq {saved:,}, before the end of the write-ahead log" in res.stderr
    assert (
        f"caught up the paper venue with the write-ahead log: 1 fill and 0 working orders after seq {saved:,}"
        in (res.stderr)
    )
    assert "reconcile:" not in res.stderr and "position_mismatches" not in res.stderr
    assert "reduce-only" not in res.stderr and "not caught up" not in res.stderr
    want, got = _state(clean), _state(killed)
    # Bought at 50, sold at bar 10's open: the trade is closed, in the venue and the kernel.
    assert [(f[2], f[3]) for f in _fills(got)] == [("BUY", 50.0), ("SELL", pytest.approx(100.0, rel=1e-3))]
    assert got["slots"] == [] and _venue(got) == _venue(want) and _fills(got) == _fills(want)
    assert len({f["fill_id"] for f in got["fills"]}) == 2  # each fill once
    assert _pnl(killed) == _pnl(clean)


def test_an_order_placed_after_the_last_save_keeps_working_with_its_part_fill(
    tmp_path: Path, strategy: str
) -> None:
    """The bid is placed at bar 3, after the last save (bar 2), and fills 0.5 of 1.0 at bar 4 (a
    bar of volume 5, a share of 0.1); the run is killed. The next run's venue holds it as the
    killed run's did and fills the rest at bar 7, as a run continued from a clean stop does.
    Not holding the order, reconciliation would end it (`ended 1 order the venue does not
    hold`) and the half bought be the kernel's only."""
    bid = ("--param", f"bid_from={T0 + 180}")
    _paper(tmp_path, strategy, _bars(tmp_path / "a.csv", 3, lows={}), *bid)
    early = (tmp_path / "state" / f"{KERNEL}.json").read_text()
    saved = json.loads(early)["seq"]
    assert json.loads(early)["venue"]["orders"] == []
    _paper(tmp_path, strategy, _bars(tmp_path / "b.csv", 6, lows={4: 40.0}, volumes={4: 5.0}), *bid)
    [order] = _state(tmp_path)["venue"]["orders"]
    assert (order["filled"], order["fills"]) == (0.5, 1)
    clean, killed = _twins(tmp_path, early)

    data = _bars(tmp_path / "c.csv", 9, lows={4: 40.0, 7: 40.0}, volumes={4: 5.0})
    _paper(clean, strategy, data, *bid)
    res = _paper(killed, strategy, data, *bid)
    assert (
        f"caught up the paper venue with the write-ahead log: 1 fill and 1 working order after seq {saved:,}"
        in (res.stderr)
    )
    assert "1 working order restored to the paper venue" in res.stdout
    assert "reconcile:" not in res.stderr and "not caught up" not in res.stderr
    want, got = _state(clean), _state(killed)
    assert [(f[2], f[3], f[4]) for f in _fills(got)] == [("BUY", 50.0, 0.5), ("BUY", 50.0, 0.5)]
    assert _venue(got) == _venue(want) and _fills(got) == _fills(want)
    assert got["venue"]["positions"] == {"BTCUSDT": 1.0} and _kernel_position(got) == 1.0
    assert [f["fill_id"] for f in got["fills"]] == [f["fill_id"] for f in want["fills"]]


def test_an_order_the_venue_took_as_the_run_was_killed_keeps_working(tmp_path: Path, strategy: str) -> None:
    """The bid is sent at bar 3, after the only save (bar 0); the venue takes it and the run is
    killed before the kernel hears the answer: the log holds the order sent, unanswered, with no
    venue id to find it by. Ended as a lost submit, an order the venue had taken would be lost;
    the next run's venue takes it as it was sent and fills it at bar 7, as a run not killed does."""
    bid = ("--param", f"bid_from={T0 + 180}")
    data = _bars(tmp_path / "bars.csv", 11, lows={7: 40.0}, closes={9: 130.0})
    killed = tmp_path / "killed"
    args = ["paper", "--strategy", f"{tmp_path / 'paper_catch_up.py'}:BidThenTakeProfit", "--data", str(data)]
    args += ["--max-speed", "--kernel-id", KERNEL, "--volume-share", "0.1", *bid]
    args += ["--state-dir", str(killed / "state"), "--wal-dir", str(killed / "wal"), "--status-every", "3600"]
    ran = subprocess.run(
        [sys.executable, str(SUBMIT_KILL_CHILD), f"{KERNEL}-1", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == -signal.SIGKILL, ran.stdout + ran.stderr
    saved = _state(killed)["seq"]
    log, _ = wal_replay(killed / "wal")
    [sent] = log.open_orders()  # sent after the save, its answer not in the log
    assert (sent.client_order_id, sent.venue_order_id) == (f"{KERNEL}-1", "") and saved < log.seq

    res = _paper(killed, strategy, data, *bid)
    assert (
        f"0 fills and 1 working order after seq {saved:,}; 1 order sent with no answer in the log, taken "
        f"by the venue now: {KERNEL}-1" in res.stderr
    )
    assert "not caught up" not in res.stderr and "does not hold" not in res.stderr, res.stderr
    assert f"reconcile: acknowledged: {KERNEL}-1" in res.stderr
    _paper(tmp_path / "unbroken", strategy, data, *bid)
    want, got = _state(tmp_path / "unbroken"), _state(killed)
    assert [(f[2], f[3]) for f in _fills(got)] == [("BUY", 50.0), ("SELL", pytest.approx(100.0, rel=1e-3))]
    assert _fills(got) == _fills(want) and _venue(got) == _venue(want) and got["slots"] == []


def test_an_event_the_kernel_refused_after_the_save_is_not_applied(tmp_path: Path, strategy: str) -> None:
    """The log after the save holds, beside the fill the kernel booked, two fills it refused:
    the same fill again under another event id (a duplicate by its fill id) and a fill of an
    order it does not know. Neither changed the kernel; neither may change the venue's book."""
    _paper(tmp_path, strategy, _bars(tmp_path / "a.csv", 5, lows={}))
    early = (tmp_path / "state" / f"{KERNEL}.json").read_text()
    saved = json.loads(early)["seq"]
    _paper(tmp_path, strategy, _bars(tmp_path / "b.csv", 7, lows={5: 40.0}))
    kernel = ExecutionKernel(kernel_id=KERNEL, wal_dir=str(tmp_path / "wal"))
    try:
        blocks: list[Any] = []
        kernel.wal_journal_blocks(1, sink=blocks.extend)
        [fill] = [
            dict(zip(JOURNAL_COLUMNS["fills"], t, strict=True))
            for b in blocks
            if b.table == "fills"
            for t in b.tuples()
        ]
        [slot] = [s for s in kernel.slots() if s["trade_id"]]
        for event_id, client_order_id in (("paper-s99-e1", "rest-1"), ("paper-s99-e2", "rest-77")):
            refused = kernel.on_venue_event(
                VenueEvent(
                    event_id,
                    slot["trade_id"],
                    slot["slot_id"],
                    "FILL",
                    "FILLED",
                    venue_order_id="paper-1",
                    venue_client_id=client_order_id,
                    side="BUY",
                    asset="BTCUSDT",
                    price=50.0,
                    size=1.0,
                    filled_size=1.0,
                    timestamp=T0 + 360,
                    fill_id=fill["fill_id"],
                    fee=0.05,
                )
            )
            assert not refused.accepted, refused
        assert kernel.slot_state(slot["slot_id"]).size == 1.0
    finally:
        kernel.close()
    (tmp_path / "state" / f"{KERNEL}.json").write_text(early)

    res = _paper(tmp_path, strategy, _bars(tmp_path / "c.csv", 8, lows={5: 40.0}))
    assert f"1 fill and 0 working orders after seq {saved:,}" in res.stderr
    snap = _state(tmp_path)
    assert snap["venue"]["positions"] == {"BTCUSDT": 1.0} and _kernel_position(snap) == 1.0
    assert snap["venue"]["cash"] == pytest.approx(10_000.0 - 50.0 - 0.05)
    assert [(f["fill_id"], f["qty"]) for f in snap["fills"]] == [(fill["fill_id"], 1.0)]
    assert "position_mismatches" not in res.stderr


def test_a_continued_catch_up_changes_nothing_again(tmp_path: Path, strategy: str) -> None:
    """After the catch-up the next run (no kill) finds the book with the log: nothing is caught
    up or said again, the book and the fills stay. Killed again before its first save, the run
    after it brings the same saved book forward over both runs' fills to the same end."""
    _paper(tmp_path, strategy, _bars(tmp_path / "a.csv", 5, lows={}))
    early = (tmp_path / "state" / f"{KERNEL}.json").read_text()
    _paper(tmp_path, strategy, _bars(tmp_path / "b.csv", 7, lows={5: 40.0}))
    (tmp_path / "state" / f"{KERNEL}.json").write_text(early)
    data = _bars(tmp_path / "c.csv", 12, lows={5: 40.0}, closes={9: 130.0})
    first = _paper(tmp_path, strategy, data)
    assert "caught up the paper venue" in first.stderr
    caught_up = _state(tmp_path)
    assert len(caught_up["fills"]) == 2

    again = _paper(tmp_path, strategy, data)
    assert "caught up" not in again.stderr and "was saved at seq" not in again.stderr
    snap = _state(tmp_path)
    assert _venue(snap) == _venue(caught_up) and snap["fills"] == caught_up["fills"]

    (tmp_path / "state" / f"{KERNEL}.json").write_text(early)  # killed before its first save
    twice = _paper(tmp_path, strategy, data)
    assert "caught up the paper venue with the write-ahead log: 2 fills and 0 working orders" in twice.stderr
    snap = _state(tmp_path)
    assert _venue(snap) == _venue(caught_up) and _fills(snap) == _fills(caught_up)
    assert "reconcile:" not in twice.stderr


def test_a_log_written_with_journal_rows_off_is_caught_up_all_the_same(tmp_path: Path, strategy: str) -> None:
    """The log's replay gives every fill whatever the kernel's journal switch said (here the
    save says `debug_clickhouse_enabled` false): the book is caught up, and reconciliation finds
    nothing it lacks."""
    _paper(tmp_path, strategy, _bars(tmp_path / "a.csv", 5, lows={}))
    early = json.loads((tmp_path / "state" / f"{KERNEL}.json").read_text())
    _paper(tmp_path, strategy, _bars(tmp_path / "b.csv", 7, lows={5: 40.0}))
    early["control"]["debug_clickhouse_enabled"] = False
    (tmp_path / "state" / f"{KERNEL}.json").write_text(json.dumps(early))
    res = _paper(tmp_path, strategy, _bars(tmp_path / "c.csv", 8, lows={5: 40.0}))
    assert "caught up the paper venue with the write-ahead log" in res.stderr, res.stderr
    assert "reconcile: position_mismatches" not in res.stderr
