"""``dita stdio`` as a subprocess: scripted input in, every NDJSON event checked."""

from __future__ import annotations

import io
import json
import os
import random
import resource
import select
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

from dita.gateway.stdio import run_stdio as run_stdio_in_process
from dita.kernel import ExecutionKernel
from gateway.helpers import DITA, DITA_SIGNALLED_ELSEWHERE, run_stdio

ORDER_FIELDS = {"client_id", "status", "action", "slot_id", "filled_qty", "avg_price"}


def _check_envelope(events: list[dict[str, Any]]) -> None:
    """Every event has type, seq 1..n without gaps, and non-decreasing timestamps."""
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    stamps = [e["ts"] for e in events]
    assert all(isinstance(t, float) for t in stamps)
    assert stamps == sorted(stamps)
    assert events[0]["type"] == "engine_started"
    assert events[-1]["type"] == "engine_stopped"


def _strip(e: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in e.items() if k not in ("seq", "ts")}


def test_round_trip_checks_every_event() -> None:
    script = "\n".join(
        [
            "ORDER BUY BTCUSDT 2 50000 c1",  # enters LONG on slot 0
            "QUERY c1",
            "ORDER SELL BTCUSDT 0.5 51000 c2",  # exits part of the LONG
            "QUERY SLOTS",
            "ORDER SELL BTCUSDT 1.5 MKT c3",  # market exit of the rest at the last price (51000)
            "QUERY ORDERS",
            "QUERY ACCOUNT",
        ]
    )
    events, code, err = run_stdio(script + "\n", "--max-slots", "2", "--kernel-id", "k-stdio")
    assert code == 0, err
    _check_envelope(events)
    types = [e["type"] for e in events]
    assert types == [
        "engine_started",
        # c1: received, acknowledged, filled, account
        "order_received", "order_update", "fill", "order_update", "account",
        "query_received",
        # c2: partial exit
        "order_received", "order_update", "fill", "order_update", "account",
        "query_received",
        # c3: closes the rest
        "order_received", "order_update", "fill", "order_update", "account",
        "query_received", "query_received",
        "engine_stopped",
    ]  # fmt: skip
    started = events[0]
    assert started["protocol"] == "dita-stdio/1"
    assert started["kernel_id"] == "k-stdio" and started["max_slots"] == 2 and started["mode"]

    c1_received, c1_ack, c1_fill, c1_filled, c1_account = events[1:6]
    assert _strip(c1_received) == {
        "type": "order_received", "client_id": "c1", "side": "BUY", "symbol": "BTCUSDT", "qty": 2.0,
        "price": 50000.0, "action": "ENTER", "slot_id": 0,
    }  # fmt: skip
    assert c1_ack["status"] == "ACKNOWLEDGED" and ORDER_FIELDS <= set(c1_ack)
    assert c1_fill["client_id"] == "c1" and c1_fill["side"] == "BUY" and c1_fill["symbol"] == "BTCUSDT"
    assert c1_fill["price"] == 50000.0 and c1_fill["qty"] == 2.0
    assert c1_fill["filled_qty"] == 2.0 and c1_fill["remaining_qty"] == 0.0 and c1_fill["fill_id"]
    assert c1_filled["status"] == "FILLED" and c1_filled["filled_qty"] == 2.0
    assert c1_filled["avg_price"] == 50000.0 and c1_filled["stage"] == "POSITION_OPEN"
    assert {"k_capital", "reconcile_status"} <= set(c1_account)

    q_c1 = events[6]
    assert q_c1["query"] == "c1"
    assert q_c1["result"]["status"] == "FILLED" and q_c1["result"]["slot_id"] == 0
    assert q_c1["result"]["trade_id"] == "c1" and q_c1["result"]["action"] == "ENTER"

    c2_received, _, c2_fill, c2_filled, _ = events[7:12]
    assert c2_received["action"] == "EXIT" and c2_received["slot_id"] == 0
    assert c2_fill["qty"] == 0.5 and c2_fill["price"] == 51000.0 and c2_fill["side"] == "SELL"
    assert c2_filled["status"] == "FILLED" and c2_filled["stage"] == "POSITION_OPEN"

    slots = events[12]["result"]
    assert [s["slot_id"] for s in slots] == [0, 1]
    assert slots[0]["fsm_state"] == "POSITION_OPEN" and slots[0]["side"] == "LONG"
    assert slots[0]["size"] == pytest.approx(1.5) and slots[0]["asset"] == "BTCUSDT"
    assert slots[1]["fsm_state"] == "IDLE"

    c3_received, _, c3_fill, c3_filled, c3_account = events[13:18]
    assert c3_received["price"] == "MKT" and c3_received["action"] == "EXIT"
    assert c3_fill["price"] == 51000.0 and c3_fill["qty"] == 1.5
    assert c3_filled["status"] == "FILLED" and c3_filled["stage"] == "CLOSED"
    # Bought 2 at 50000, sold all at 51000: 2000 gross realized, less fees.
    assert 1900.0 < c3_account["k_realized_pnl"] <= 2000.0

    assert events[18]["query"] == "ORDERS" and events[18]["result"] == []  # nothing working
    assert events[19]["query"] == "ACCOUNT" and events[19]["result"]["k_capital"] == c3_account["k_capital"]
    stopped = events[-1]
    assert stopped["reason"] == "eof" and stopped["lines"] == 7 and stopped["errors"] == 0
    assert stopped["events"] == len(events)


def test_json_commands_act_like_text_commands() -> None:
    lines = [
        {"cmd": "ORDER", "side": "SELL", "symbol": "ethusdt", "qty": 1, "price": 3000, "client_id": "j1"},
        {"cmd": "query", "client_id": "j1"},
        {"cmd": "MARK", "symbol": "ETHUSDT", "price": 2900},
        {"cmd": "ORDER", "side": "BUY", "symbol": "ETHUSDT", "qty": 1, "client_id": "j2"},  # MKT at the mark
        {"cmd": "QUERY", "what": "slots"},
    ]
    events, code, err = run_stdio("".join(json.dumps(x) + "\n" for x in lines))
    assert code == 0, err
    _check_envelope(events)
    by_type = [e["type"] for e in events]
    assert by_type.count("error") == 0
    j1 = [e for e in events if e.get("client_id") == "j1"]
    assert j1[0]["type"] == "order_received" and j1[0]["action"] == "ENTER" and j1[0]["side"] == "SELL"
    assert j1[-1]["status"] == "FILLED"
    mark = next(e for e in events if e["type"] == "account" and e.get("mark_price") is not None)
    assert mark["symbol"] == "ETHUSDT" and mark["mark_price"] == 2900.0
    j2_fill = next(e for e in events if e["type"] == "fill" and e["client_id"] == "j2")
    assert j2_fill["price"] == 2900.0 and j2_fill["side"] == "BUY"
    j2_received = next(e for e in events if e["type"] == "order_received" and e["client_id"] == "j2")
    assert j2_received["action"] == "EXIT"  # BUY closes the SHORT
    slots = next(e for e in events if e["type"] == "query_received" and e["query"] == "SLOTS")["result"]
    assert slots[0]["fsm_state"] == "CLOSED"
    assert slots[0]["realized_pnl"] > 0  # short from 3000, covered at 2900


GARBAGE = [  # (line, error code or None when the line is skipped, field named)
    ("", None, None),
    ("# comment", None, None),
    ("HELLO", "UNKNOWN_COMMAND", "command"),
    ("ORDER BUY", "WRONG_ARITY", "arguments"),
    ("ORDER BUY BTC -1 100 g1", "INVALID_FIELD", "qty"),
    ("ORDER BUY BTC 1 100 bad/id", "INVALID_FIELD", "client_id"),
    ("{broken json", "INVALID_JSON", "line"),
    ('{"cmd":"ORDER","side":"BUY"}', "MISSING_FIELD", "symbol"),
    ('{"cmd":"CANCEL","client_id":"x","y":1}', "UNKNOWN_FIELD", "y"),
    ('{"cmd":"CANCEL","client_id":1000000000000000000000000000000}', "INVALID_FIELD", "client_id"),
    ("CANCEL never-sent", "UNKNOWN_CLIENT_ID", "client_id"),
    ("QUERY never-sent", "UNKNOWN_CLIENT_ID", "client_id"),
    ("\x00\x01\x02", "UNKNOWN_COMMAND", "command"),
]


def test_garbage_lines_give_one_error_each_and_the_engine_goes_on() -> None:
    valid = ["ORDER BUY BTC 1 100 v1", "ORDER SELL BTC 1 110 v2", "ORDER BUY BTC 1 100 v1"]  # last: duplicate
    script: list[str] = []
    expected_errors: list[tuple[int, str, str]] = []
    for i, (garbage, code, field) in enumerate(GARBAGE):
        script.append(garbage)
        if code is not None and field is not None:
            expected_errors.append((len(script), code, field))
        if i < len(valid):
            script.append(valid[i])
            if i == 2:
                expected_errors.append((len(script), "DUPLICATE_CLIENT_ID", "client_id"))
    events, code, err = run_stdio("\n".join(script) + "\n")
    assert code == 0, err
    _check_envelope(events)
    errors = [e for e in events if e["type"] == "error"]
    assert sorted((e["line"], e["code"], e["field"]) for e in errors) == sorted(expected_errors)
    assert all(e["message"] for e in errors)
    # The valid orders went through in between: v1 opened and v2 closed the position.
    filled = {e["client_id"] for e in events if e["type"] == "order_update" and e["status"] == "FILLED"}
    assert filled == {"v1", "v2"}
    assert events[-1]["errors"] == len(expected_errors)


def test_bad_bytes_and_overlong_lines() -> None:
    script = b"\xff\xfe not utf-8\n" + b"QUERY " + b"A" * 10_000 + b"\nQUERY SLOTS\n"
    events, code, err = run_stdio(script)
    assert code == 0, err
    _check_envelope(events)
    assert [(e["type"], e.get("code"), e.get("line")) for e in events[1:-1]] == [
        ("error", "INVALID_ENCODING", 1),
        ("error", "LINE_TOO_LONG", 2),
        ("query_received", None, None),
    ]
    # Both name the line and carry a value: the bad line with its bytes escaped, and null for
    # a line too long to keep.
    assert [(e["field"], e["value"]) for e in events[1:3]] == [
        ("line", "\\xff\\xfe not utf-8"),
        ("line", None),
    ]


def test_refusals_come_back_as_rejected_order_updates() -> None:
    script = "\n".join(
        [
            "ORDER BUY BTC 1 MKT m1",  # no price known yet
            "ORDER BUY BTC 1 100 a1",  # slot 0
            "ORDER BUY BTC 1 100 a2",  # slot 1 (a second LONG: its own slot)
            "ORDER SELL ETH 1 100 a3",  # no slot left
            "ORDER SELL BTC 5 100 a4",  # more than the oldest LONG holds
            "CANCEL a1",  # already filled
            "QUERY a3",
        ]
    )
    events, code, err = run_stdio(script + "\n", "--max-slots", "2")
    assert code == 0, err
    _check_envelope(events)
    final = {e["client_id"]: e for e in events if e["type"] == "order_update"}
    assert final["m1"]["status"] == "REJECTED" and final["m1"]["diagnostic"] == "NO_REFERENCE_PRICE"
    assert final["a1"]["slot_id"] == 0 and final["a2"]["slot_id"] == 1
    assert final["a3"]["status"] == "REJECTED" and final["a3"]["diagnostic"] == "NO_FREE_SLOT"
    assert final["a4"]["status"] == "REJECTED" and final["a4"]["diagnostic"] == "QTY_EXCEEDS_POSITION"
    cancel = [e for e in events if e["type"] == "cancel_received"]
    assert cancel == [{**cancel[0], "client_id": "a1", "slot_id": 0}]
    assert final["a1"]["diagnostic"] == "ORDER_CLOSED" and final["a1"]["status"] == "FILLED"
    assert events[-2]["type"] == "query_received" and events[-2]["result"]["diagnostic"] == "NO_FREE_SLOT"
    assert not [e for e in events if e["type"] == "error"]


def test_eof_at_once_is_a_clean_shutdown() -> None:
    events, code, err = run_stdio(b"")
    assert code == 0, err
    assert [e["type"] for e in events] == ["engine_started", "engine_stopped"]
    assert events[1]["lines"] == 0


@pytest.mark.parametrize("length", [10_000, pytest.param(100_000, marks=pytest.mark.soak)])
def test_a_long_scripted_session(length: int) -> None:
    """A long scripted session: every line answered, in order, nothing lost or duplicated. Ten
    thousand lines fill the pipes many times over; a hundred thousand (20 s) run with the soaks."""
    rng = random.Random(8)
    lines: list[str] = []
    expect = {"order_received": 0, "error": 0, "query_received": 0, "cancel_received": 0, "fill": 0}
    n = 0
    while len(lines) < length:
        n += 1
        price = 100 + rng.randint(0, 50)
        lines.append(f"ORDER BUY SYM{n % 7} 1 {price} b{n}")  # enter
        lines.append(f"ORDER SELL SYM{n % 7} 1 {price + 1} s{n}")  # and close on the same slot
        expect["order_received"] += 2
        expect["fill"] += 2
        roll = rng.random()
        if roll < 0.2:
            lines.append(rng.choice(["garbage here", "ORDER BUY", '{"cmd":1}', "QUERY", "ORDER BUY X 0 1 z"]))
            expect["error"] += 1
        elif roll < 0.3:
            lines.append(f"QUERY b{n}")
            expect["query_received"] += 1
        elif roll < 0.35:
            lines.append(f"CANCEL s{n}")
            expect["cancel_received"] += 1
        elif roll < 0.4:
            lines.append("QUERY SLOTS")
            expect["query_received"] += 1
    events, code, err = run_stdio("\n".join(lines) + "\n", "--max-slots", "4", timeout=300)
    assert code == 0, err
    _check_envelope(events)
    counts: dict[str, int] = {}
    for e in events:
        counts[e["type"]] = counts.get(e["type"], 0) + 1
    for kind, want in expect.items():
        assert counts.get(kind, 0) == want, kind
    assert events[-1]["lines"] == len(lines)
    rejected = [e for e in events if e["type"] == "order_update" and e["status"] == "REJECTED"]
    assert rejected == []


def test_interactive_client_gets_answers_before_eof() -> None:
    """Each command is answered (flushed) as soon as it is read, not when stdin closes."""
    proc = subprocess.Popen(
        [*DITA, "stdio"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0
    )  # unbuffered: select() must see every byte that was not read yet
    assert proc.stdin is not None and proc.stdout is not None

    def next_event() -> dict[str, Any]:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready, "no answer from dita stdio"
        event: dict[str, Any] = json.loads(proc.stdout.readline())
        return event

    try:
        assert next_event()["type"] == "engine_started"
        proc.stdin.write(b"QUERY ACCOUNT\n")
        proc.stdin.flush()
        answer = next_event()
        assert answer["type"] == "query_received" and answer["query"] == "ACCOUNT"
        proc.stdin.write(b"ORDER BUY BTC 1 100 i1\n")
        proc.stdin.flush()
        assert [next_event()["type"] for _ in range(5)] == [
            "order_received", "order_update", "fill", "order_update", "account",
        ]  # fmt: skip
        proc.stdin.close()
        assert next_event()["type"] == "engine_stopped"
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        if not proc.stdin.closed:
            proc.stdin.close()


def _session(dita: list[str], *args: str) -> subprocess.Popen[bytes]:
    """A ``dita stdio`` session on pipes, unbuffered (select() must see every byte not read)."""
    proc = subprocess.Popen(
        [*dita, "stdio", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    return proc


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """A ``dita stdio`` a test started, killed if it still runs, with its pipes closed."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


@pytest.mark.parametrize(
    ("signum", "reason"), [(signal.SIGTERM, "terminated"), (signal.SIGINT, "interrupted")]
)
def test_a_signal_before_the_first_line_ends_the_session(signum: int, reason: str) -> None:
    """A signal that interrupts no system call (DITA_SIGNALLED_ELSEWHERE) while the engine waits
    for its first line ends the session: a supervisor stopping a fresh engine of a quiet client
    had to kill it."""
    proc = _session(DITA_SIGNALLED_ELSEWHERE)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready, "no engine_started from dita stdio"
        assert json.loads(proc.stdout.readline())["type"] == "engine_started"
        time.sleep(0.3)  # the engine waits for its first line by then
        proc.send_signal(signum)
        assert proc.wait(timeout=30) == 0, proc.stderr.read().decode()
        stopped = json.loads(proc.stdout.read().splitlines()[-1])
        assert (stopped["type"], stopped["reason"], stopped["lines"]) == ("engine_stopped", reason, 0)
    finally:
        _reap(proc)


# dita stdio signalled from inside the session's set-up (its OrderEngine), once the handlers are on.
_SIGNALLED_AT_START = """
import os, signal, sys
import dita.gateway.stdio as stdio
SIGNALS = [getattr(signal, name) for name in sys.argv[1:]]

class SignalledAtStart(stdio.OrderEngine):
    def __init__(self, *args, **kwargs):
        for signum in SIGNALS:
            os.kill(os.getpid(), signum)
        super().__init__(*args, **kwargs)

stdio.OrderEngine = SignalledAtStart
from dita.cli import main
sys.argv = ["dita", "stdio"]
main()
"""


@pytest.mark.parametrize(("signame", "reason"), [("SIGTERM", "terminated"), ("SIGINT", "interrupted")])
def test_a_signal_while_the_session_is_set_up_still_ends_it_cleanly(signame: str, reason: str) -> None:
    """It ended the process with status 130 and no line at all: no engine_started, no engine_stopped."""
    run = subprocess.run(
        [sys.executable, "-c", _SIGNALLED_AT_START, signame], input=b"", capture_output=True, timeout=60
    )
    assert run.returncode == 0, run.stderr.decode()
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert [e["type"] for e in events] == ["engine_started", "engine_stopped"]
    assert events[-1]["reason"] == reason


@pytest.mark.parametrize(
    ("first", "second"), [("SIGINT", "SIGINT"), ("SIGINT", "SIGTERM"), ("SIGTERM", "SIGINT")]
)
def test_a_second_signal_while_the_session_is_set_up_ends_it_at_once(first: str, second: str) -> None:
    """As a second signal does at any other moment; it ended on an UnboundLocalError (a traceback)."""
    run = subprocess.run(
        [sys.executable, "-c", _SIGNALLED_AT_START, first, second], input=b"", capture_output=True, timeout=60
    )
    assert run.returncode == 130, run.stderr.decode()
    assert "Error" not in run.stderr.decode()


def test_a_signal_during_a_session_still_reaches_the_embedding_processs_wakeup_descriptor() -> None:
    """run_stdio watches its own wake-up descriptor for the session and passes each signal's byte
    on to the one set before (an asyncio loop learns of its signals from it): the embedding
    process's SIGTERM handler ran never."""
    own_read, own_write = os.pipe()
    os.set_blocking(own_read, False)
    os.set_blocking(own_write, False)
    previous_handler = signal.signal(signal.SIGUSR1, lambda *_: None)
    previous_fd = signal.set_wakeup_fd(own_write)
    stdin_read, stdin_write = os.pipe()

    def client() -> None:
        time.sleep(0.3)  # the engine waits for input
        os.kill(os.getpid(), signal.SIGUSR1)
        time.sleep(0.3)
        os.close(stdin_write)

    feeder = threading.Thread(target=client)
    feeder.start()
    try:
        with open(stdin_read, "rb") as stdin:
            assert run_stdio_in_process(ExecutionKernel(max_slots=2), stdin, io.BytesIO()) == 0
        feeder.join()
        assert signal.set_wakeup_fd(own_write) == own_write  # put back after the session
        assert os.read(own_read, 64) == bytes([signal.SIGUSR1])
    finally:
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGUSR1, previous_handler)
        os.close(own_read)
        os.close(own_write)


def test_a_session_runs_with_over_a_thousand_descriptors_open() -> None:
    """An embedding server with many files open: the session's descriptors may number above
    select()'s 1024, and every wait raised ValueError before engine_started went out."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"this machine allows {hard} open descriptors, under the 1,200 the test needs")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    stdin_read, stdin_write = os.pipe()
    out_read, out_write = os.pipe()
    os.write(stdin_write, b"QUERY ORDERS\n")
    os.close(stdin_write)
    filler = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        with open(stdin_read, "rb") as stdin, open(out_write, "wb") as stdout:
            assert run_stdio_in_process(ExecutionKernel(max_slots=2), stdin, stdout) == 0
        with open(out_read, "rb") as out:
            events = [json.loads(line) for line in out.read().splitlines()]
        assert [e["type"] for e in events] == ["engine_started", "query_received", "engine_stopped"]
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.parametrize(
    ("signum", "reason"), [(signal.SIGTERM, "terminated"), (signal.SIGINT, "interrupted")]
)
def test_a_signal_ends_the_session_as_cleanly_as_eof(signum: int, reason: str) -> None:
    """A supervisor stops the engine with SIGTERM, a person with Ctrl-C: either gets the
    ``engine_stopped`` line (saying which it was) and exit status 0, as EOF does."""
    proc = _session(DITA)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready, "no engine_started from dita stdio"
        assert json.loads(proc.stdout.readline())["type"] == "engine_started"
        proc.stdin.write(b"ORDER BUY BTC 1 100 s1\n")
        proc.send_signal(signum)
        assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()
        events = [json.loads(line) for line in proc.stdout.read().splitlines()]
        assert events[-1]["type"] == "engine_stopped"
        assert events[-1]["reason"] == reason
        assert events[-1]["events"] == events[-1]["seq"]
        assert "Traceback" not in proc.stderr.read().decode()
    finally:
        _reap(proc)


@pytest.mark.parametrize(
    ("stop", "dita"),
    [
        (None, DITA),
        (signal.SIGTERM, DITA),
        (signal.SIGINT, DITA),
        pytest.param(signal.SIGTERM, DITA_SIGNALLED_ELSEWHERE, id="SIGTERM-elsewhere"),
        pytest.param(signal.SIGINT, DITA_SIGNALLED_ELSEWHERE, id="SIGINT-elsewhere"),
    ],
)
def test_every_clean_stop_cancels_the_orders_still_working(stop: int | None, dita: list[str]) -> None:
    """EOF, SIGTERM and Ctrl-C alike: a resting order is canceled, and told, before
    ``engine_stopped``; it was left working with nobody to manage it. A signal that interrupts
    no system call (DITA_SIGNALLED_ELSEWHERE) ends the wait for stdin as well: it left the
    engine waiting for a line that never came."""
    proc = _session(dita, "--fill-rate", "0")
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        proc.stdin.write(b"ORDER BUY BTC 1 100 w1\n")
        seen = []
        while not seen or seen[-1]["type"] != "order_update":
            ready, _, _ = select.select([proc.stdout], [], [], 60)
            assert ready, f"no order_update from dita stdio after {seen}"
            seen.append(json.loads(proc.stdout.readline()))
        assert seen[-1]["status"] == "ACKNOWLEDGED"
        if stop is None:
            proc.stdin.close()
        else:
            time.sleep(0.3)  # the engine waits for the next line by then
            proc.send_signal(stop)
        assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()
        *at_stop, stopped = [json.loads(line) for line in proc.stdout.read().splitlines()]
        assert [(e["type"], e["client_id"], e["status"], e["stage"]) for e in at_stop] == [
            ("order_update", "w1", "CANCELED", "IDLE")
        ]
        assert stopped["type"] == "engine_stopped" and stopped["errors"] == 0
    finally:
        _reap(proc)


# --- the mock venue's options: the paths a client must handle, without writing code -------


def test_fill_rate_zero_leaves_orders_resting_until_canceled() -> None:
    events, code, stderr = run_stdio("ORDER BUY BTC 1 49000 r1\nQUERY ORDERS\nCANCEL r1\nQUERY ORDERS\n",
                                     "--fill-rate", "0")  # fmt: skip
    assert code == 0, stderr
    _check_envelope(events)
    assert not [e for e in events if e["type"] in ("error", "fill")]
    updates = [e for e in events if e["type"] == "order_update"]
    assert [u["status"] for u in updates] == ["ACKNOWLEDGED", "CANCELED"]
    assert updates[0]["stage"] == "ENTRY_WORKING" and updates[1]["stage"] == "IDLE"
    working, after = [e["result"] for e in events if e["type"] == "query_received"]
    assert [o["client_id"] for o in working] == ["r1"] and after == []


def test_partial_fills_give_a_fill_and_a_partially_filled_update() -> None:
    events, code, stderr = run_stdio(
        "ORDER SELL ETH 10 3000 p1\nCANCEL p1\n", "--partial-fill-rate", "1", "--partial-fill-ratio", "0.25"
    )
    assert code == 0, stderr
    (fill,) = [e for e in events if e["type"] == "fill"]
    assert (fill["qty"], fill["filled_qty"], fill["remaining_qty"]) == (2.5, 2.5, 7.5)
    updates = [e for e in events if e["type"] == "order_update"]
    assert [u["status"] for u in updates] == ["ACKNOWLEDGED", "PARTIALLY_FILLED", "CANCELED"]
    assert updates[-1]["filled_qty"] == 2.5 and updates[-1]["stage"] == "POSITION_OPEN"


def test_a_sell_against_a_part_filled_buy_does_not_open_a_short() -> None:
    # It opened a SHORT on another slot: a LONG 0.5 and a SHORT on one symbol.
    events, code, stderr = run_stdio(
        "ORDER BUY BTCUSDT 1 100 p1\nORDER SELL BTCUSDT 0.5 100 p2\nQUERY SLOTS\n",
        "--partial-fill-rate", "1", "--partial-fill-ratio", "0.5",
    )  # fmt: skip
    assert code == 0, stderr
    p2 = [e for e in events if e["type"] == "order_update" and e["client_id"] == "p2"]
    assert [(u["status"], u["diagnostic"]) for u in p2] == [("REJECTED", "ENTRY_WORKING")]
    slots = next(e for e in events if e["type"] == "query_received")["result"]
    assert [(s["side"], s["size"]) for s in slots if s["fsm_state"] != "IDLE"] == [("LONG", 0.5)]


def test_a_buy_against_a_short_entry_not_filled_yet_does_not_open_a_long() -> None:
    # Both entries could fill: a SHORT and a LONG on one symbol.
    events, code, stderr = run_stdio(
        "ORDER SELL BTCUSDT 1 100 s1\nORDER BUY BTCUSDT 1 100 b1\nORDER BUY BTCUSDT 1 MKT b2\nQUERY SLOTS\n",
        "--fill-rate", "0",
    )  # fmt: skip
    assert code == 0, stderr
    refused = [e for e in events if e["type"] == "order_update" and e["client_id"] in ("b1", "b2")]
    assert [(u["status"], u["diagnostic"]) for u in refused] == [("REJECTED", "ENTRY_WORKING")] * 2
    assert "slot 0" in refused[0]["reason"] and "CANCEL s1" in refused[0]["reason"], refused[0]
    slots = next(e for e in events if e["type"] == "query_received")["result"]
    assert [(s["slot_id"], s["side"]) for s in slots if s["fsm_state"] != "IDLE"] == [(0, "SHORT")]


def test_refused_numbers_and_reserved_client_ids_leave_the_session_as_it_was() -> None:
    events, code, stderr = run_stdio(
        "\n".join(
            [
                "ORDER BUY BTCUSDT 1_000 50000 a10",  # traded 1000
                "ORDER BUY BTCUSDT 1 50000 orders",  # QUERY ORDERS could not name it
                "ORDER BUY BTCUSDT 1 50000 a10",
                "QUERY ORDERS",
            ]
        )
        + "\n"
    )
    assert code == 0, stderr
    errors = [(e["code"], e["field"], e["value"]) for e in events if e["type"] == "error"]
    assert errors == [("INVALID_FIELD", "qty", "1_000"), ("INVALID_FIELD", "client_id", "orders")]
    fills = [(e["client_id"], e["qty"]) for e in events if e["type"] == "fill"]
    assert fills == [("a10", 1.0)]
    assert next(e for e in events if e["type"] == "query_received")["result"] == []


def test_reject_and_rate_limit_rates_refuse_orders_at_the_venue() -> None:
    events, code, _ = run_stdio("ORDER BUY BTC 1 50000 x1\n", "--reject-rate", "1")
    update = next(e for e in events if e["type"] == "order_update")
    assert code == 0 and update["status"] == "REJECTED" and update["reason"] == "mock reject"
    events, code, _ = run_stdio("ORDER BUY BTC 1 50000 x1\n", "--rate-limit-rate", "1")
    update = next(e for e in events if e["type"] == "order_update")
    assert code == 0 and update["status"] == "REJECTED" and update["diagnostic"] == "RATE_LIMITED"
    assert update["details"]["retry_after"] == 1.0


def test_the_venue_seed_repeats_a_session() -> None:
    script = "".join(f"ORDER BUY BTC 1 {100 + i} c{i}\n" for i in range(20))
    args = ("--fill-rate", "0.5", "--reject-rate", "0.2", "--venue-seed", "7")

    def statuses(*extra: str) -> list[str]:
        events, code, _ = run_stdio(script, *args, *extra, "--max-slots", "30")
        assert code == 0
        return [e["status"] for e in events if e["type"] == "order_update"]

    first = statuses()
    assert first == statuses() and {"FILLED", "ACKNOWLEDGED", "REJECTED"} <= set(first)
    assert statuses("--venue-seed", "8") != first


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fill-rate", "1.5"], "--fill-rate=1.5: "),
        (["--reject-rate", "nan"], "--reject-rate=nan: "),
        (["--partial-fill-rate", "-0.1"], "--partial-fill-rate=-0.1: "),
        (["--partial-fill-ratio", "1"], "--partial-fill-ratio=1.0: "),
        (["--rate-limit-rate", "2"], "--rate-limit-rate=2.0: "),
    ],
)
def test_a_bad_venue_option_exits_2_naming_it_before_the_engine_starts(args: list[str], message: str) -> None:
    for command in ("stdio", "serve"):
        res = subprocess.run([*DITA, command, *args], input=b"", capture_output=True, timeout=120)
        stderr = res.stderr.decode()
        assert res.returncode == 2, stderr
        assert f"error: {message}" in stderr and "Traceback" not in stderr
        assert res.stdout == b"" and "dita gateway for kernel" not in stderr


NO_EFFECT = "has no effect"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--partial-fill-ratio", "0.25"],
            f"--partial-fill-ratio=0.25 {NO_EFFECT} without a --partial-fill-rate",
        ),
        (
            ["--partial-fill-rate", "0", "--partial-fill-ratio", "0.5"],
            f"--partial-fill-ratio=0.5 {NO_EFFECT}",
        ),
        (
            ["--partial-fill-rate", "0.5", "--fill-rate", "0"],
            f"--partial-fill-rate=0.5 {NO_EFFECT}: with --fill-rate=0.0 no order fills",
        ),
        (
            ["--partial-fill-rate", "1", "--reject-rate", "1"],
            f"--partial-fill-rate=1.0 {NO_EFFECT}: with --reject-rate=1.0 no order fills",
        ),
        (
            ["--partial-fill-rate", "1", "--rate-limit-rate", "1"],
            f"--partial-fill-rate=1.0 {NO_EFFECT}: with --rate-limit-rate=1.0 no order fills",
        ),
    ],
)
def test_a_venue_option_the_others_make_ineffective_exits_2_naming_it(args: list[str], message: str) -> None:
    """A partial-fill ratio without a partial-fill rate (or a partial-fill rate where no order
    fills) changed nothing and said nothing: the user believed the venue filled in part."""
    for command in ("stdio", "serve"):
        res = subprocess.run([*DITA, command, *args], input=b"", capture_output=True, timeout=120)
        stderr = res.stderr.decode()
        assert res.returncode == 2, stderr
        assert message in stderr and stderr.startswith("error: --") and "Traceback" not in stderr
        assert res.stdout == b"" and "dita gateway for kernel" not in stderr


def test_a_sigterm_while_the_session_closes_does_not_cut_the_closing_short(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A supervisor often closes the engine's stdin and sends SIGTERM at once: the signal then
    comes after EOF, while the session closes. It was raised there as an interrupt, cutting
    the kernel's close short and ending the process with status 130, not 0."""
    import os

    from typer.testing import CliRunner

    from dita.cli import app
    from dita.kernel import ExecutionKernel

    closed: list[str] = []
    close = ExecutionKernel.close

    def close_under_sigterm(self: ExecutionKernel) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        close(self)
        closed.append(self.kernel_id)

    monkeypatch.setattr(ExecutionKernel, "close", close_under_sigterm)
    outside: list[int] = []  # the handler the command must put back (and a guard for pytest)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: outside.append(signum))
    try:
        result = CliRunner().invoke(app, ["stdio"], input=b"")
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert result.exit_code == 0, result.output
    assert len(closed) == 1 and not outside
    assert json.loads(result.stdout.splitlines()[-1])["reason"] == "eof"


def _flood_until_stdout_is_full(proc: subprocess.Popen[bytes]) -> None:
    """Send QUERY commands and never read: the engine's stdout pipe fills and it blocks there."""
    import os
    import time

    assert proc.stdin is not None and proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 60)
    assert ready, "no engine_started from dita stdio"
    os.set_blocking(proc.stdin.fileno(), False)
    block = b"QUERY ORDERS\n" * 200
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the engine stops taking input (its stdout is full)
        try:
            if not proc.stdin.write(block):
                time.sleep(0.2)
                _, writable, _ = select.select([], [proc.stdin], [], 1)
                if not writable:
                    return
        except BlockingIOError:
            _, writable, _ = select.select([], [proc.stdin], [], 1)
            if not writable:
                return
    raise AssertionError("the engine never stopped reading")


@pytest.mark.parametrize(
    ("signum", "eof_first", "dita"),
    [
        (signal.SIGTERM, False, DITA),
        (signal.SIGINT, False, DITA),
        (signal.SIGTERM, True, DITA),
        pytest.param(signal.SIGINT, False, DITA_SIGNALLED_ELSEWHERE, id="SIGINT-elsewhere"),
        pytest.param(signal.SIGTERM, True, DITA_SIGNALLED_ELSEWHERE, id="eof-SIGTERM-elsewhere"),
    ],
)
def test_a_signal_stops_the_engine_when_the_client_does_not_read(
    signum: int, eof_first: bool, dita: list[str]
) -> None:
    """A client that stopped reading (its stdout pipe full) held the engine in its write after
    SIGTERM or Ctrl-C, or after EOF and SIGTERM, so it never exited and the kernel was never
    closed: a supervisor had to SIGKILL it. The output not read in time is given up, said on
    stderr, and the kernel closes."""
    import time

    proc = _session(dita)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        _flood_until_stdout_is_full(proc)
        if eof_first:
            proc.stdin.close()
            time.sleep(0.5)
        started = time.monotonic()
        proc.send_signal(signum)
        code = proc.wait(timeout=30)
        assert time.monotonic() - started < 15
        stderr = proc.stderr.read().decode()
        assert code == 0, stderr
        assert "events not delivered" in stderr and "Traceback" not in stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        if not proc.stdin.closed:
            proc.stdin.close()


def test_a_sigterm_just_after_eof_gives_a_reading_client_the_grace_too(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A supervisor closing stdin and sending SIGTERM at once gave up the output still
    waiting after EOF there and then, though its client was reading it: after EOF, a SIGTERM
    gives the same 2 s to read the rest as a SIGTERM before EOF does."""
    import os
    import threading
    import time

    from dita._signals import sigterm_as_interrupt
    from dita.gateway.stdio import NdjsonWriter, _deliver_the_rest

    read_end, write_end = os.pipe()
    got = bytearray()

    def client() -> None:  # reads nothing until the SIGTERM, then steadily
        time.sleep(0.3)
        signal.raise_signal(signal.SIGTERM)
        time.sleep(0.2)
        with os.fdopen(read_end, "rb") as r:
            while chunk := r.read(4096):
                got.extend(chunk)
                time.sleep(0.001)

    restore = sigterm_as_interrupt()
    reader = threading.Thread(target=client)
    try:
        with os.fdopen(write_end, "wb") as out:
            writer = NdjsonWriter(out)
            for i in range(2_000):  # more than the pipe holds
                writer.emit("probe", {"i": i, "pad": "x" * 64})
            reader.start()
            _deliver_the_rest(writer, stopped=False)  # as after EOF
    finally:
        restore()
        reader.join(timeout=30)
    assert "not delivered" not in capsys.readouterr().err
    lines = bytes(got).splitlines()
    assert len(lines) == 2_000 and json.loads(lines[-1])["i"] == 1_999


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_the_orders_are_canceled_after_eof_bounds_the_wait_for_the_client(
    capsys: pytest.CaptureFixture[str], signum: int
) -> None:
    """A supervisor closing stdin and sending SIGTERM at once reaches the engine while it
    cancels the working orders (a real venue's cancels take a while). The SIGTERM was ignored
    there, and a Ctrl-C only gave up the cancels: the engine then waited for ever on a client
    that does not read, as after a plain EOF. Either now gives it the 2 s, then the rest is
    given up."""
    import io
    import os
    import threading
    import time
    from typing import BinaryIO, cast

    from dita._signals import sigterm_as_interrupt
    from dita.cli._common import mock_venue
    from dita.gateway.stdio import STOP_GRACE_SECONDS, run_stdio
    from dita.kernel import ExecutionKernel

    read_end, write_end = os.pipe()

    class StoppedWhileCanceling(ExecutionKernel):
        def process_intent(self, intent: Any) -> Any:
            outcome = super().process_intent(intent)
            if intent.reason == "stdio stop":
                os.set_blocking(write_end, False)  # the client has stopped reading: its pipe fills
                try:
                    while True:
                        os.write(write_end, b" " * 4096)
                except BlockingIOError:
                    pass
                os.set_blocking(write_end, True)
                signal.raise_signal(signum)
            return outcome

    stopped = threading.Event()

    def client() -> None:  # reads again once the engine stopped, or long after (a failing test ends)
        stopped.wait(10 * STOP_GRACE_SECONDS)
        with os.fdopen(read_end, "rb") as r:
            while r.read(1 << 16):
                pass

    venue = mock_venue(
        fill_rate=0.0,
        reject_rate=0.0,
        partial_fill_rate=0.0,
        partial_fill_ratio=None,
        rate_limit_rate=0.0,
        seed=0,
    )
    kernel = StoppedWhileCanceling(max_slots=2, venue=venue)
    reader = threading.Thread(target=client, daemon=True)
    reader.start()
    restore = sigterm_as_interrupt()
    started = time.monotonic()
    try:
        with os.fdopen(write_end, "wb") as out:
            stdin = io.BytesIO(b"ORDER BUY BTCUSDT 1 100 w1\n")
            assert run_stdio(kernel, cast(BinaryIO, stdin), cast(BinaryIO, out)) == 0
    finally:
        stopped.set()
        restore()
        kernel.close()
        reader.join(timeout=60)
    assert time.monotonic() - started < 5 * STOP_GRACE_SECONDS
    assert "events not delivered: the client did not read them within 2 s" in capsys.readouterr().err


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_just_after_a_write_does_not_have_it_written_twice(
    monkeypatch: pytest.MonkeyPatch, signum: int
) -> None:
    """A Ctrl-C that came as os.write() returned raised KeyboardInterrupt before the count
    of written bytes was kept, so the rest of the output (engine_stopped) wrote them again:
    the client read the same lines twice, or half a line. SIGTERM was held already."""
    import os

    from dita._signals import sigterm_as_interrupt
    from dita.gateway.stdio import NdjsonWriter

    read_end, write_end = os.pipe()
    real_write = os.write
    fired: list[int] = []

    def write(fd: int, data: Any) -> int:
        written = real_write(fd, data)
        if not fired:
            fired.append(fd)
            signal.raise_signal(signum)  # handled after the call, before the count is kept
        return written

    restore = sigterm_as_interrupt()
    try:
        with os.fdopen(write_end, "wb") as out:
            writer = NdjsonWriter(out)
            for i in range(3):
                writer.emit("probe", {"i": i})
            monkeypatch.setattr(os, "write", write)
            with pytest.raises(KeyboardInterrupt):
                writer.flush()
            writer.flush()  # the rest, as the end of a session writes it
            monkeypatch.undo()
    finally:
        restore()
    with os.fdopen(read_end, "rb") as got:
        lines = got.read().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3]


def test_an_unterminated_last_line_is_not_acted_on() -> None:
    """At EOF the rest of a line without its newline is an INCOMPLETE_LINE error naming a
    short copy of it; a blank or comment remainder is ignored. Executed, a writer that died
    mid-line would have `MARK BTCUSDT 5` (meant 50000) applied, or an order sent."""
    events, code, _ = run_stdio("ORDER BUY BTCUSDT 1 100 c1\nMARK BTCUSDT 5")
    assert code == 0
    _check_envelope(events)
    assert not [e for e in events if e["type"] == "account" and "mark_price" in e]
    (error,) = [e for e in events if e["type"] == "error"]
    assert (error["code"], error["line"], error["field"], error["value"]) == (
        "INCOMPLETE_LINE", 2, "line", "MARK BTCUSDT 5"
    )  # fmt: skip
    assert "not acted on" in error["message"]
    assert events[-1]["lines"] == 2 and events[-1]["errors"] == 1
    cut = "ORDER BUY BTCUSDT 2 100 order-4" + "x" * 100
    events, _, _ = run_stdio(cut)
    assert not [e for e in events if e["type"] == "order_received"]
    (error,) = [e for e in events if e["type"] == "error"]
    assert error["code"] == "INCOMPLETE_LINE" and error["value"] == cut[:61] + "..."  # a short copy
    for rest in ("# a comment", "   "):
        events, _, _ = run_stdio("QUERY ORDERS\n" + rest)
        assert not [e for e in events if e["type"] == "error"]


def test_every_output_line_is_strict_json_whatever_the_client_sent() -> None:
    """A lone surrogate sent as a JSON escape ("\\ud800") was echoed back as that escape in
    the error event's value (and a key's in field), which strict parsers (orjson, serde_json)
    refuse: the client could not read the error. The escape is now shown as text."""
    import orjson

    script = b'{"cmd":"QUERY","client_id":"\\ud800"}\n{"cmd":"QUERY","what":"SLOTS","\\udc00":1}\n'
    proc = subprocess.run([*DITA, "stdio"], input=script, capture_output=True, timeout=120, check=False)
    events = [orjson.loads(line) for line in proc.stdout.splitlines()]
    errors = [e for e in events if e["type"] == "error"]
    assert [(e["field"], e.get("value")) for e in errors] == [("client_id", "\\ud800"), ("\\udc00", 1)]


_SIGTERM_AFTER_MAIN = """
import signal, sys
from dita.cli import main
sys.argv = ["dita", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print("sigterm ignored:", signal.getsignal(signal.SIGTERM) is signal.SIG_IGN)
"""


@pytest.mark.parametrize(
    ("argv", "ignored"),
    [(["stdio"], True), (["strategy", "inspect", "dita.examples.crossover:SmaCrossover"], False)],
)
def test_the_dita_program_ignores_a_late_sigterm_once_a_stop_closed_it(
    argv: list[str], ignored: bool
) -> None:
    """A SIGTERM sent again once a command that handled SIGTERM (stdio, paper) returned is
    ignored; other commands leave it alone. With the default handler put back, one sent in the
    process's last moments would end it by the signal (status 143) where the stop promised 0."""
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _SIGTERM_AFTER_MAIN, *argv],
        input="",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.strip().splitlines()[-1] == f"sigterm ignored: {ignored}", done.stderr


# dita stdio sent a SIGTERM the instant its session's SIGTERM handler is put back.
_SIGTERM_AS_THE_HANDLER_GOES = """
import os, signal, sys
set_handler = signal.signal

def set_then_signalled(signum, handler):
    previous = set_handler(signum, handler)
    if signum == signal.SIGTERM and not callable(handler):
        os.kill(os.getpid(), signal.SIGTERM)
    return previous

signal.signal = set_then_signalled
from dita.cli import main
sys.argv = ["dita", "stdio"]
main()
"""


def test_a_sigterm_as_the_session_puts_its_handler_back_does_not_end_the_process_by_the_signal() -> None:
    """The handler was put back as the default, then the program ignored SIGTERM once the command
    returned: one in between ended a session that had closed with status 143, not its 0."""
    run = subprocess.run(
        [sys.executable, "-c", _SIGTERM_AS_THE_HANDLER_GOES], input=b"", capture_output=True, timeout=60
    )
    assert run.returncode == 0, run.stderr.decode()
    assert json.loads(run.stdout.splitlines()[-1])["reason"] == "eof"


@pytest.mark.parametrize(
    ("signum", "reason"), [(signal.SIGTERM, "terminated"), (signal.SIGINT, "interrupted")]
)
def test_a_signal_while_an_order_is_filled_does_not_lose_the_fill(signum: int, reason: str) -> None:
    """A SIGTERM or Ctrl-C that came while the kernel filled an order was raised as the kernel
    returned, before the engine wrote the fill: the session ended after order_received (or the
    ack) with the fill booked in the kernel and never told (2 of 12 SIGTERMs into a busy
    `dita stdio`). The command now ends first, all its events written, then the session."""
    import io
    from typing import BinaryIO, cast

    from dita._signals import sigterm_as_interrupt
    from dita.gateway.stdio import run_stdio
    from dita.kernel import ExecutionKernel

    class SignalledKernel(ExecutionKernel):
        def process_intent(self, intent: Any) -> Any:
            outcome = super().process_intent(intent)
            signal.raise_signal(signum)  # as if it came during the native call: handled on return
            return outcome

    kernel = SignalledKernel(max_slots=2)
    out = io.BytesIO()
    restore = sigterm_as_interrupt()
    try:
        stdin = io.BytesIO(b"ORDER BUY BTCUSDT 1 100 c1\nORDER BUY BTCUSDT 1 100 c2\n")
        assert run_stdio(kernel, cast(BinaryIO, stdin), cast(BinaryIO, out)) == 0
    finally:
        restore()
        kernel.close()
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    _check_envelope(events)
    command = ["order_received", "order_update", "fill", "order_update", "account"]
    assert [e["type"] for e in events] == ["engine_started", *command, "engine_stopped"]
    assert events[4]["status"] == "FILLED" and events[-1]["reason"] == reason
    assert kernel.slot_state(0).size == 1.0 and kernel.slot_state(1).fsm_state.name == "IDLE"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("told", ["engine_started", "error"])
def test_a_signal_while_an_event_is_written_leaves_no_gap_in_seq(
    monkeypatch: pytest.MonkeyPatch, signum: int, told: str
) -> None:
    """engine_started and the error of a line that cannot be read were told outside the
    commands' guard: a SIGTERM or Ctrl-C while one was encoded ended the session with its seq
    taken and the line never written, so the output skipped a seq (engine_started missing:
    engine_stopped came first) and engine_stopped counted an event nobody got."""
    import io
    from typing import BinaryIO, cast

    from dita._signals import sigterm_as_interrupt
    from dita.gateway import stdio
    from dita.kernel import ExecutionKernel

    encode = stdio.encode_json_bytes
    fired: list[str] = []

    def encode_then_signal(event: dict[str, Any]) -> bytes:
        line = encode(event)
        if event["type"] == told and not fired:
            fired.append(told)
            signal.raise_signal(signum)  # handled as the call returns, before the line is kept
        return line

    monkeypatch.setattr(stdio, "encode_json_bytes", encode_then_signal)
    kernel = ExecutionKernel(max_slots=2)
    out = io.BytesIO()
    restore = sigterm_as_interrupt()
    try:
        stdin = io.BytesIO(b"HELLO\nQUERY ORDERS\n")
        assert stdio.run_stdio(kernel, cast(BinaryIO, stdin), cast(BinaryIO, out)) == 0
    finally:
        restore()
        kernel.close()
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert fired == [told]
    _check_envelope(events)
    assert events[-1]["events"] == len(events)


def test_an_order_the_kernel_raised_on_leaves_its_client_id_free() -> None:
    """An ORDER whose process_intent raised was an ENGINE_ERROR, and yet its record stayed:
    QUERY ORDERS listed it as working (NEW, no slot) for the rest of the session, never
    cancelable, and the same order sent again was a DUPLICATE_CLIENT_ID. The line changes
    nothing, as every line answered with an error."""
    import io
    from typing import BinaryIO, cast

    from dita.gateway.stdio import run_stdio
    from dita.kernel import ExecutionKernel

    class RaisingOnce(ExecutionKernel):
        raised = False

        def process_intent(self, intent: Any) -> Any:
            if not self.raised:
                self.raised = True
                raise ValueError("a bug in the kernel")
            return super().process_intent(intent)

    kernel = RaisingOnce(max_slots=2)
    out = io.BytesIO()
    try:
        stdin = io.BytesIO(b"ORDER BUY BTCUSDT 1 100 c1\nQUERY ORDERS\nORDER BUY BTCUSDT 1 100 c1\n")
        assert run_stdio(kernel, cast(BinaryIO, stdin), cast(BinaryIO, out)) == 0
    finally:
        kernel.close()
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    _check_envelope(events)
    error, query, *second, stopped = events[1:]
    assert (error["type"], error["code"], error["line"]) == ("error", "ENGINE_ERROR", 1)
    assert query["type"] == "query_received" and query["result"] == []
    command = ["order_received", "order_update", "fill", "order_update", "account"]
    assert [e["type"] for e in second] == command
    assert second[3]["status"] == "FILLED" and stopped["errors"] == 1


def test_a_non_blocking_stdin_waits_for_the_first_command() -> None:
    """On a stdin with O_NONBLOCK (a parent that shares its own stdin may have set it), read1
    gives b"" while nothing has arrived yet: the engine took that for EOF and stopped at once,
    "reason":"eof" with no line read, and the client's commands met a closed pipe."""
    import os
    import time

    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    proc = subprocess.Popen([*DITA, "stdio"], stdin=read_end, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(read_end)
    assert proc.stdout is not None
    started = json.loads(proc.stdout.readline())
    time.sleep(0.3)  # the engine is reading by now, and nothing has arrived
    try:
        os.write(write_end, b"ORDER BUY BTCUSDT 1 100 c1\n")
    except BrokenPipeError:
        pass  # the engine has stopped already: the events below say so
    finally:
        os.close(write_end)
    out, err = proc.communicate(timeout=60)
    events = [started, *(json.loads(line) for line in out.splitlines())]
    assert proc.returncode == 0, err
    _check_envelope(events)
    assert [e["status"] for e in events if e["type"] == "order_update"] == ["ACKNOWLEDGED", "FILLED"]
    assert events[-1]["reason"] == "eof" and events[-1]["lines"] == 1


@pytest.mark.parametrize("stream", ["stdin", "stdout"])
def test_a_closed_stdin_or_stdout_is_named_not_a_traceback(stream: str) -> None:
    """`dita stdio >&-` (or `<&-`) raised AttributeError from deep inside the command, a
    traceback. It exits 2 naming the closed stream before a kernel starts."""
    redirect = "<&-" if stream == "stdin" else ">&-"
    shell = f'exec "$@" {redirect}'
    done = subprocess.run(
        ["sh", "-c", shell, "sh", *DITA, "stdio"], input=b"", stderr=subprocess.PIPE, timeout=120
    )
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert f"error: {stream} is closed" in err and "Traceback" not in err


def test_a_stdout_that_cannot_be_written_ends_the_session_in_one_line() -> None:
    """A stdout on a full disk (here /dev/full) ended the session in an OSError traceback. It
    now ends it with one line on stderr naming the error, exit status 1."""
    import os

    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    with open("/dev/full", "wb") as full:
        done = subprocess.run(
            [*DITA, "stdio"], input=b"QUERY SLOTS\n", stdout=full, stderr=subprocess.PIPE, timeout=120
        )
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert "dita stdio: the session ended on an I/O error: No space left on device" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("stream", ["stdin", "stdout"])
def test_a_socket_its_client_reset_ends_the_session_as_a_closed_pipe_does(stream: str) -> None:
    """A client on a socket (inetd, socket activation) that went away resets it: a reset stdin
    is its end (EOF) and a reset stdout a reader gone, both exit 0 with nothing on stderr, as a
    closed pipe ends quietly; not an I/O error, exit 1, with no engine_stopped."""
    import socket
    import struct

    with socket.create_server(("127.0.0.1", 0)) as server:
        client = socket.create_connection(server.getsockname())
        engine_end, _ = server.accept()
    # Closed with a zero linger, a socket sends a reset, not an orderly end.
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    pipes: dict[str, Any] = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, stream: engine_end.fileno()}
    with engine_end:
        proc = subprocess.Popen([*DITA, "stdio"], stderr=subprocess.PIPE, **pipes)
    if stream == "stdin":
        assert proc.stdout is not None
        client.sendall(b"ORDER BUY BTCUSDT 1 100 c1\n")
        lines = [proc.stdout.readline() for _ in range(6)]  # engine_started and the order's five
        client.close()
        out, err = proc.communicate(timeout=60)
        events = [json.loads(line) for line in [*lines, *out.splitlines()]]
        _check_envelope(events)
        assert events[-1]["reason"] == "eof" and events[-1]["lines"] == 1
    else:
        assert select.select([client], [], [], 60)[0]  # engine_started has arrived, unread
        client.close()
        out, err = proc.communicate(b"ORDER BUY BTCUSDT 1 100 c1\n", timeout=60)
    assert (proc.returncode, err.decode()) == (0, "")
