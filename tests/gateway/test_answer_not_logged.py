"""When the write-ahead log cannot record a venue's answer, the caller learns what reached the
venue: the order, its ids and the venue's answer as received, through the Python API, stdio and
HTTP; the kernel takes no more input and says whether the order is live at the venue; a kernel opened on
the log finds the order sent. The log's write fails from inside the venue's submit by a file
size limit (``log_fails_in_answer.py``, in a process of its own)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from dita import ExecutionKernel, TradeStage

SCRIPT = Path(__file__).with_name("log_fails_in_answer.py")


def told(mode: str, wal_dir: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*sys.path, str(SCRIPT.parent.parent)])}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), mode, str(wal_dir)], capture_output=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    answer: dict[str, Any] = json.loads(done.stdout.decode().splitlines()[-1])
    return answer


def test_the_python_api_names_the_order_live_at_the_venue_and_the_answer(tmp_path: Path) -> None:
    answer = told("python", tmp_path)
    # Caught as the log's failure (WalError) and as the write's (OSError).
    assert answer["type"] == "VenueAnswerNotLogged" and answer["is_oserror"] and answer["is_wal_error"]
    assert answer["venue_order_id"] == "V-77" and answer["slot_id"] == 0 and answer["trade_id"] == "t1"
    assert answer["client_order_id"] and answer["client_order_id"] in answer["message"]
    assert answer["answer"] == ["ORDER_ACK", "FILL"] and answer["logged"] == 0
    assert "File too large" in answer["cause"]
    assert answer["live"] is False  # its answer filled it: ended, though unrecorded
    assert 'FILL "fill-1" fill "T-9" 1 at 100' in answer["message"]
    assert "was ended by the venue (FILLED), unrecorded" in answer["message"]
    assert "WalError" in answer["next_input"] and "ended by the venue" in answer["next_input"]
    # Opened on its log, a kernel holds the order sent: reconciliation asks the venue about it.
    kernel = ExecutionKernel(max_slots=2, wal_dir=str(tmp_path))
    try:
        assert kernel.slot_state(0).fsm_state == TradeStage.ORDER_SENT
        assert [o.client_order_id for o in kernel.orders_in_doubt() + kernel.open_orders()][:1] == [
            answer["client_order_id"]
        ]
    finally:
        kernel.close()


def test_stdio_tells_the_order_is_live_at_the_venue_not_that_the_line_changed_nothing(tmp_path: Path) -> None:
    answer = told("stdio", tmp_path)
    events = answer["events"]
    kinds = [e["type"] for e in events]
    assert answer["status"] == 1
    assert "venue_answer_not_logged" in kinds and kinds[-1] == "engine_stopped"
    live = next(e for e in events if e["type"] == "venue_answer_not_logged")
    assert live["client_id"] == "c1" and live["venue_order_id"] == "V-77" and live["slot_id"] == 0
    assert [e["kind"] for e in live["answer"]] == ["ORDER_ACK", "FILL"]
    assert live["live"] is False and "ended by the venue (FILLED), unrecorded" in live["message"]
    # The ORDER line is not answered ENGINE_ERROR ("the line changes nothing"); the stop's
    # cancel of the order is refused, naming what the venue answered.
    errors = [e for e in events if e["type"] == "error"]
    assert not any("line" in e for e in errors)
    assert all(e["client_id"] == "c1" and "ended by the venue" in e["message"] for e in errors)
    assert events[-1]["reason"] == "kernel_failed"
    assert "c2" not in json.dumps([e for e in events if e["type"] == "order_received"])


def test_http_answers_503_with_the_order_live_at_the_venue(tmp_path: Path) -> None:
    answer = told("http", tmp_path)
    assert answer["status"] == 503
    body = answer["body"]
    live = body["venue_answer_not_logged"]
    assert live["venue_order_id"] == "V-77" and live["slot_id"] == 0
    assert [e["kind"] for e in live["answer"]] == ["ORDER_ACK", "FILL"]
    assert live["answer"][1]["fill_id"] == "T-9" and live["logged"] == 0
    assert live["live"] is False and "ended by the venue (FILLED)" in body["detail"]


def test_an_answer_whose_refused_event_comes_before_the_unrecorded_one_is_named_whole(tmp_path: Path) -> None:
    """The second ack is refused as a duplicate and the fill's record is the one that fails: the
    answer is told as received, the refused ack in its place, and the order as ended by the fill."""
    answer = told("refused_before", tmp_path)
    assert answer["type"] == "VenueAnswerNotLogged", answer
    assert answer["answer"] == ["ack-1", "ack-1", "fill-1"] and answer["logged"] == 2
    assert answer["live"] is False and "FILLED" in answer["message"]


def test_an_order_the_answer_left_working_is_named_live_at_the_venue(tmp_path: Path) -> None:
    answer = told("ack_only", tmp_path)
    assert answer["type"] == "VenueAnswerNotLogged" and answer["live"] is True, answer
    assert "is live at the venue" in answer["message"]
