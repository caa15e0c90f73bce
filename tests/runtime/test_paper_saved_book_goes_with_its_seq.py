"""A `dita paper` state file's book and seq go together though another thread's input lands while
the save runs: a run continuing the kernel after a kill brings the book forward with the fills
the log holds after that seq (``catch_up_book``). An input that lands between the two reads (an
operator's Exit from the gateway thread, a venue's fill the kernel has not taken yet) is in the
restored book once: neither lost (in the seq, not in the book) nor booked twice (in the book, and
logged after the seq). Here the other thread's input is made to land in that window."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dita import KernelIntent
from dita.backtest.engine import BacktestConfig
from dita.cli.paper import PaperSession
from dita.cli.paper_continued import _say_caught_up
from dita.cli.paper_state_file import _previous_state
from dita.strategy import Quote, Strategy

from .points import T0, NoParams


class Watches(Strategy[NoParams]):
    Params = NoParams


def _session(tmp: Path, previous: dict[str, Any] | None = None) -> PaperSession:
    return PaperSession(
        Watches(),
        fill_model=BacktestConfig(balance=10_000.0),
        kernel_id="race",
        assets=["BTCUSDT"],
        state_dir=tmp,
        clock="data",
        wal_dir=tmp / "wal",
        previous=previous,
    )


def _by_hand(kernel: Any, n: int, action: str) -> None:
    """An operator's ENTER of 1.0 BTCUSDT at the market, or EXIT of the position."""
    size = 1.0 if action == "ENTER" else 0.0
    out = kernel.process_intent(
        KernelIntent(
            f"hand{n}", "hand-trade", 0, "BTCUSDT", "LONG", action, 110.0, size,
            order_type="MARKET", timestamp=T0 + 120,
        )
    )  # fmt: skip
    assert out.accepted, out


def _killed_and_continued(tmp: Path, run: Callable[[PaperSession], None]) -> PaperSession:
    """``run`` on a new session, killed after it (its log synced, no save), then continued."""
    s = _session(tmp)
    try:
        run(s)
        s.kernel.wal_sync()
    finally:
        s.kernel.close()
    return _session(tmp, previous=_previous_state(tmp / "race.json"))


def _positions_apart(s: PaperSession) -> tuple[float, float]:
    """The continued venue's BTCUSDT position, and the kernel's."""
    kernel = sum(x["size"] for x in s.kernel.slots() if x["fsm_state"] not in ("IDLE", "CLOSED"))
    return s.venue.book()["positions"].get("BTCUSDT", 0.0), kernel


def test_an_exit_that_lands_while_the_book_is_saved_is_in_the_restored_book(tmp_path: Path) -> None:
    def exit_while_saved(s: PaperSession) -> None:
        # A quote feed: the paper venue fills a market order at submit, on the sender's thread.
        quotes = [
            Quote("BTCUSDT", T0 + 60 * m, p - 0.5, p + 0.5, 100.0, 100.0) for m, p in enumerate((100, 110))
        ]
        s.runtime.run(s.replay.feed(quotes))
        s.runtime.sync_venues()
        _by_hand(s.kernel, 1, "ENTER")
        s.save(running=True)
        book = s.venue.book

        def book_then_an_exit() -> dict[str, Any]:
            read = book()
            if s.kernel.slots()[0]["fsm_state"] == "POSITION_OPEN":  # the gateway thread's Exit
                _by_hand(s.kernel, 2, "EXIT")
            return read

        s.venue.book = book_then_an_exit  # type: ignore[method-assign]
        s.save(running=True)
        assert s.kernel.slots()[0]["fsm_state"] != "POSITION_OPEN"

    continued = _killed_and_continued(tmp_path, exit_while_saved)
    try:
        assert _positions_apart(continued) == (0.0, 0.0)
        # The save read the book again once the Exit moved the seq: the book and the seq hold it
        # both, and the log holds nothing after the seq to catch up with.
        assert continued.caught_up is None
    finally:
        continued.kernel.close()


@pytest.mark.parametrize("action", ["ENTER", "EXIT"])
def test_an_order_the_venue_filled_while_the_book_was_saved_is_not_sent_again_after_a_kill(
    tmp_path: Path, action: str
) -> None:
    """The gateway thread's order is logged and filled by the paper venue between the save's seq
    read and its book read, and the run is killed before the kernel logs the venue's answer. Saved
    with the seq read before the book alone, the log held the order after the saved seq with no
    answer, so the continued venue took it again: long 2.0 against the kernel's 1.0 (ENTER), or
    the kernel holding 1.0 the venue had sold (EXIT)."""
    run, killed = tmp_path / "run", tmp_path / "killed"
    run.mkdir()
    s = _session(run)
    in_submit, answer_logged = threading.Event(), threading.Event()
    try:
        quotes = [
            Quote("BTCUSDT", T0 + 60 * m, p - 0.5, p + 0.5, 100.0, 100.0) for m, p in enumerate((100, 110))
        ]
        s.runtime.run(s.replay.feed(quotes))
        s.runtime.sync_venues()
        if action == "EXIT":
            _by_hand(s.kernel, 0, "ENTER")
        s.save(running=True)
        book, submit = s.venue.book, s.venue.submit

        def submit_held_before_its_answer(order: Any) -> Any:
            answer = submit(order)  # the paper venue fills the market order here
            in_submit.set()
            answer_logged.wait(10)
            return answer

        gateway = threading.Thread(target=_by_hand, args=(s.kernel, 1, action))

        def book_with_an_order_landing() -> dict[str, Any]:
            if not gateway.is_alive() and not in_submit.is_set():
                gateway.start()
                assert in_submit.wait(10)
            return book()

        s.venue.submit = submit_held_before_its_answer  # type: ignore[method-assign]
        s.venue.book = book_with_an_order_landing  # type: ignore[method-assign]
        s.save(running=True)
        shutil.copytree(run, killed)  # the disk as a kill before the answer leaves it
        answer_logged.set()
        gateway.join(10)
    finally:
        s.kernel.close()
    state = json.loads((killed / "race.json").read_text())
    state["wal_dir"] = str((killed / "wal").resolve())
    (killed / "race.json").write_text(json.dumps(state))
    continued = _session(killed, previous=_previous_state(killed / "race.json"))
    try:
        report = continued.runtime.reconcile_with_venue()  # as `dita paper` does when it continues
        continued.runtime.run(continued.replay.feed([Quote("BTCUSDT", T0 + 180, 109.5, 110.5, 100.0, 100.0)]))
        continued.runtime.sync_venues()
        venue, kernel = _positions_apart(continued)
        assert venue == (1.0 if action == "ENTER" else 0.0)  # the order went to the venue once
        # The fill the kill kept from the log is not the kernel's: reconciliation says so.
        assert kernel == 1.0 - venue
        assert report.position_mismatches and "BTCUSDT" in report.lines()[-1]
        # The seq saved holds the order: nothing after it in the log is put back working.
        assert continued.caught_up is None
    finally:
        continued.kernel.close()


def test_a_fill_the_venue_made_before_the_kernel_took_it_is_booked_once_after_a_kill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The venue's submit fills 0.4 of 1.0 (its book holds the fill) and the save runs before the
    kernel takes the answer: the seq saved is before the fill's record, the book after the fill."""

    def saved_inside_a_submit(s: PaperSession) -> None:
        s.runtime.run(s.replay.feed([Quote("BTCUSDT", T0, 99.5, 100.5, 0.4, 0.4)]))
        s.runtime.sync_venues()
        submit = s.venue.submit

        def submit_then_a_save(order: Any) -> Any:
            answer = submit(order)
            s.save(running=True)  # the strategies thread's save
            return answer

        s.venue.submit = submit_then_a_save  # type: ignore[method-assign]
        _by_hand(s.kernel, 1, "ENTER")
        assert s.venue.positions() == {"BTCUSDT": 0.4} and s.kernel.slots()[0]["size"] == 0.4

    continued = _killed_and_continued(tmp_path, saved_inside_a_submit)
    try:
        assert _positions_apart(continued) == (0.4, 0.4)
        assert continued.caught_up is not None and continued.caught_up.venue is not None
        assert (continued.caught_up.venue.fills, continued.caught_up.venue.held) == (0, 1)
        _say_caught_up(continued.caught_up, continued.caught_up.venue)
        assert capsys.readouterr().err.startswith(
            "caught up the paper venue with the write-ahead log: 0 fills and 0 working orders after seq "
            f"{continued.caught_up.saved:,}; 1 fill logged after it already in the saved book\n"
        )
    finally:
        continued.kernel.close()
