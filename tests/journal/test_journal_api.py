"""The journal's surface: verbosity gating as written, settings refused by name, attach rules,
one query socket shared by the journals of a directory, and the HTTP DSN path."""

from __future__ import annotations

import atexit
import logging
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from dita import JOURNAL_COLUMNS, ExecutionKernel, InMemoryJournal, KernelIntent, VenueEvent
from dita.journal import Journal
from dita.journal.clickhouse import ClickHouseJournal
from dita.journal.dsn import JournalTarget
from dita.journal.query import READ_ONLY_SETTINGS, open_read_only_client, query_via_socket
from journal.helpers import (
    Side,
    Workload,
    assert_same_rows,
    held_chdb_directory,
    journal_query_holding,
    silent_entries,
    twins,
    venue,
    wait_until,
)


def _counts(journal: ClickHouseJournal, kernel_id: str) -> dict[str, int]:
    rows = journal.query(
        "SELECT 'transitions', count() FROM transitions WHERE kernel_id = {k:String} UNION ALL "
        "SELECT 'closing', count() FROM transitions WHERE kernel_id = {k:String} AND next_state = 'CLOSED' "
        "UNION ALL SELECT 'intents', count() FROM intents WHERE kernel_id = {k:String} UNION ALL "
        "SELECT 'venue_events', count() FROM venue_events WHERE kernel_id = {k:String} UNION ALL "
        "SELECT 'fills', count() FROM fills WHERE kernel_id = {k:String} UNION ALL "
        "SELECT 'control_changes', count() FROM control_changes WHERE kernel_id = {k:String}",
        {"k": kernel_id},
    ).rows
    return {name: n for name, n in rows}


def _run(journal: ClickHouseJournal, kernel_id: str, trades: int = 40, **control: Any) -> None:
    kernel = ExecutionKernel(max_slots=4, venue=venue(), journal=journal, kernel_id=kernel_id)
    if control:
        kernel.update_control(**control, source="test")
    Workload([Side(kernel, kernel.venue)], max_slots=4).run(trades)
    journal.flush(30)


def test_it_is_a_journal(journal: ClickHouseJournal) -> None:
    assert isinstance(journal, Journal)


def test_writes_what_the_verbosity_lets_through(journal: ClickHouseJournal) -> None:
    _run(journal, "quiet", verbosity="QUIET")
    _run(journal, "normal", verbosity="NORMAL")
    _run(journal, "debug", verbosity="DEBUG")
    _run(journal, "off", debug_clickhouse_enabled=False)
    quiet, normal, debug, off = (_counts(journal, k) for k in ("quiet", "normal", "debug", "off"))
    # QUIET: fills and closes only; NORMAL adds every transition and intent; DEBUG venue events.
    assert quiet["fills"] == normal["fills"] == debug["fills"] > 0
    assert quiet["transitions"] == quiet["closing"] == normal["closing"] > 0
    assert quiet["intents"] == 0 and normal["intents"] > 0
    assert normal["transitions"] > quiet["transitions"]
    assert normal["venue_events"] == 0 and debug["venue_events"] > 0
    assert sum(v for k, v in off.items() if k != "control_changes") == 0


def test_venue_events_keep_the_fill_id_fee_and_retry_after_the_venue_sent(journal: ClickHouseJournal) -> None:
    """Which fill id a refused duplicate carried, the fee the venue reported (NULL when none)
    and how long a rate limit asked to wait are in venue_events, as the kernel drained them."""
    kernel, coids = silent_entries(journal, "venue-fields", 2)

    def fill(event_id: str, **kw: Any) -> VenueEvent:
        return VenueEvent(event_id, "", -1, "FILL", venue_client_id=coids[0], price=100.0, size=0.4, **kw)

    assert kernel.on_venue_event(fill("f1", fill_id="exec-1", fee=0.02)).accepted
    again = kernel.on_venue_event(fill("f1-resent", fill_id="exec-1", fee=0.02))
    assert again.diagnostic_code.name == "DUPLICATE_EVENT"
    assert kernel.on_venue_event(fill("f2", fill_id="exec-2")).accepted  # no fee reported
    limited = kernel.on_venue_event(
        VenueEvent("r1", "", -1, "RATE_LIMITED", venue_client_id=coids[1], retry_after=2.5)
    )
    assert limited.diagnostic_code.name == "RATE_LIMITED"
    journal.flush(30)
    rows = journal.query(
        "SELECT event_id, kind, fill_id, fee, retry_after, accepted, diagnostic_code FROM venue_events FINAL "
        "WHERE kernel_id = 'venue-fields' ORDER BY seq"
    ).rows
    assert rows == [
        ["f1", "FILL", "exec-1", 0.02, 0.0, True, "OK"],
        ["f1-resent", "FILL", "exec-1", 0.02, 0.0, False, "DUPLICATE_EVENT"],
        ["f2", "FILL", "exec-2", None, 0.0, True, "OK"],
        ["r1", "RATE_LIMITED", "", None, 2.5, False, "RATE_LIMITED"],
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_rows": 0}, "batch_rows must be a positive number, got 0"),
        ({"batch_rows": 1.5}, "batch_rows must be a positive integer, got 1.5"),
        ({"max_delay": -1}, "max_delay must be a positive number, got -1"),
        ({"queue_rows": True}, "queue_rows must be a positive number, got True"),
        (
            {"retry_initial": 2.0, "retry_max": 1.0},
            r"retry_max \(1.0\) must not be below retry_initial \(2.0\)",
        ),
        ({"dsn": "ftp://x/y"}, "scheme 'ftp'"),
        ({"gil_budget": 0}, r"gil_budget must be in \(0, 1\] or None, got 0"),
        ({"gil_budget": 1.5}, r"gil_budget must be in \(0, 1\] or None, got 1.5"),
        ({"burst_hold": 0}, "burst_hold must be a positive number, got 0"),
        ({"burst_hold": True}, "burst_hold must be a positive number, got True"),
        ({"burst_hold": "1"}, "burst_hold must be a positive number, got '1'"),
        ({"burst_hold": math.inf}, "burst_hold must be a finite number of seconds up to .*, got inf"),
        ({"wal_fill": "yes"}, "wal_fill must be True or False, got 'yes'"),
        ({"refill_dropped": 1}, "refill_dropped must be True or False, got 1"),
        ({"serve_sql": "no"}, "serve_sql must be True or False, got 'no'"),
        ({"serve_sql": None}, "serve_sql must be True or False, got None"),
        ({"nice": -1}, "nice must be an int from 0 to 19 or None, got -1"),
        ({"nice": 20}, "nice must be an int from 0 to 19 or None, got 20"),
        ({"nice": True}, "nice must be an int from 0 to 19 or None, got True"),
        ({"nice": 5.0}, "nice must be an int from 0 to 19 or None, got 5.0"),
        # A wait this long makes the thread's wait raise: the thread would die.
        ({"max_delay": math.inf}, "max_delay must be a finite number of seconds up to .*, got inf"),
        (
            {"poll_interval": 1e10},
            "poll_interval must be a finite number of seconds up to .*, got 10000000000.0",
        ),
        ({"retry_initial": math.inf, "retry_max": math.inf}, "retry_initial must be a finite number"),
        ({"close_timeout": math.nan}, "close_timeout must be a positive number, got nan"),
    ],
)
def test_bad_settings_are_refused_by_name(tmp_path: Path, kwargs: dict[str, Any], message: str) -> None:
    kwargs.setdefault("dsn", f"chdb://{tmp_path / 'j'}")
    with pytest.raises(ValueError, match=message):
        ClickHouseJournal(**kwargs)
    assert not (tmp_path / "j").exists()  # refused before anything was created


def test_a_kernel_id_is_attached_once_and_not_after_close(journal_dsn: str) -> None:
    journal = ClickHouseJournal(journal_dsn)
    ExecutionKernel(max_slots=2, journal=journal, kernel_id="one")
    with pytest.raises(ValueError, match="kernel_id 'one' is already attached"):
        ExecutionKernel(max_slots=2, journal=journal, kernel_id="one")
    journal.close()
    with pytest.raises(RuntimeError, match="ClickHouseJournal is closed"):
        ExecutionKernel(max_slots=2, journal=journal, kernel_id="two")


@pytest.mark.parametrize(("kernel", "named"), [(None, "NoneType"), ("btc-trend-1", "str")])
def test_attach_refuses_what_is_no_kernel_naming_its_type(
    journal: ClickHouseJournal, kernel: Any, named: str
) -> None:
    with pytest.raises(TypeError, match=f"attach kernel must be an ExecutionKernel, got {named}$"):
        journal.attach(kernel)


def test_attach_refuses_a_closed_kernel_naming_it(journal: ClickHouseJournal) -> None:
    """It makes no more rows: taken, it stayed listed, and the journal's close() warned it was
    still attached."""
    kernel = ExecutionKernel(max_slots=2, kernel_id="closed-one")
    kernel.close()
    with pytest.raises(RuntimeError, match="kernel 'closed-one' is closed"):
        journal.attach(kernel)
    assert "closed-one" not in journal.stats().extra["kernels"]
    assert not journal.records(kernel)


@pytest.mark.parametrize(
    ("kernel_id", "said"),
    [
        ("", "gap_start kernel_id must be a non-empty string, got ''"),
        (None, "gap_start kernel_id must be a non-empty string, got None"),
        (123, "gap_start kernel_id must be a non-empty string, got 123"),
        ("a b", "gap_start kernel_id 'a b' (3 bytes) is no kernel's"),
        ("*", "gap_start kernel_id '*' is no kernel's: the control plane's entry for every kernel"),
    ],
)
def test_gap_start_refuses_a_kernel_id_no_kernel_can_have(
    journal: ClickHouseJournal, kernel_id: Any, said: str
) -> None:
    """Answered 1 ("resend everything"), a wrong value (None, a slot number) read as a kernel
    with nothing stored."""
    with pytest.raises(ValueError, match=re.escape(said)):
        journal.gap_start(kernel_id)


def test_detach_writes_the_kernels_rows_and_stops_recording(journal: ClickHouseJournal) -> None:
    kernel = ExecutionKernel(max_slots=2, journal=journal, kernel_id="leaving")
    kernel.process_intent(
        KernelIntent(
            intent_id="i1",
            trade_id="t1",
            slot_id=0,
            asset="BTC-USDT",
            side="LONG",
            action="ENTER",
            reference_price=100.0,
            target_size=1.0,
        )
    )
    journal.detach(kernel)
    assert journal.query("SELECT count() FROM intents WHERE kernel_id = 'leaving'").rows == [[1]]
    assert kernel.stats()["journal_queued"] == 0
    kernel.process_intent(
        KernelIntent(
            intent_id="i2",
            trade_id="t2",
            slot_id=1,
            asset="BTC-USDT",
            side="LONG",
            action="ENTER",
            reference_price=100.0,
            target_size=1.0,
        )
    )
    assert kernel.stats()["journal_queued"] == 0  # outbox off: nothing piles up


def test_closing_one_kernel_leaves_a_shared_journal_to_the_others(journal: ClickHouseJournal) -> None:
    """kernel.close() writes that kernel's rows and lets go of it; the journal goes on
    recording the kernels still open and closes with the last of them."""

    def enter(kernel: ExecutionKernel, n: int) -> None:
        kernel.process_intent(
            KernelIntent(f"i{n}", f"t{n}", 0, "BTC-USDT", "LONG", "ENTER", 100.0, 1.0, timestamp=1.0 + n)
        )

    first = ExecutionKernel(max_slots=2, journal=journal, kernel_id="first")
    second = ExecutionKernel(max_slots=2, journal=journal, kernel_id="second")
    enter(first, 1)
    first.close()
    assert journal.query("SELECT count() FROM intents WHERE kernel_id = 'first'").rows == [[1]]
    enter(second, 2)
    journal.flush(20)
    assert journal.query("SELECT count() FROM intents WHERE kernel_id = 'second'").rows == [[1]]
    second.close()
    with pytest.raises(RuntimeError, match="ClickHouseJournal is closed"):
        ExecutionKernel(max_slots=2, journal=journal, kernel_id="third")


def test_kernels_closing_at_the_same_time_still_close_their_shared_journal(journal_dsn: str) -> None:
    """Each release must not see the other kernel still attached: both would only detach, and
    the journal (its threads, chDB) would stay open."""
    import threading

    for round_ in range(3):
        journal = ClickHouseJournal(f"{journal_dsn}-{round_}", max_delay=0.02, close_timeout=20)
        kernels = [ExecutionKernel(max_slots=2, journal=journal, kernel_id=f"k{i}") for i in range(2)]
        for kernel in kernels:
            kernel.process_intent(
                KernelIntent("i1", "t1", 0, "BTC", "LONG", "ENTER", 100.0, 1.0, timestamp=1.0)
            )
        together = threading.Barrier(2)

        def close(kernel: ExecutionKernel, together: threading.Barrier) -> None:
            together.wait()
            kernel.close()

        threads = [threading.Thread(target=close, args=(k, together)) for k in kernels]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with pytest.raises(RuntimeError, match="ClickHouseJournal is closed"):
            ExecutionKernel(max_slots=2, journal=journal, kernel_id="late")
        journal.close()


def test_a_detach_that_times_out_still_lets_the_kernel_go(journal: ClickHouseJournal) -> None:
    """Its rows are still written, all of them; then it goes, freeing its id (and it no
    longer keeps a shared journal from closing with its last kernel)."""
    kernel = ExecutionKernel(max_slots=2, journal=journal, kernel_id="slow-to-leave")
    for n in range(200):
        kernel.process_intent(
            KernelIntent(f"i{n}", f"t{n}", 0, "BTC-USDT", "LONG", "ENTER", 100.0, 1.0, timestamp=1.0 + n)
        )
        kernel.process_intent(
            KernelIntent(f"x{n}", f"t{n}", 0, "BTC-USDT", "LONG", "EXIT", 100.0, 0.0, timestamp=1.5 + n)
        )
    with pytest.raises(TimeoutError):
        journal.detach(kernel, timeout=1e-6)
    journal.flush(20)
    assert journal.query("SELECT count() FROM intents WHERE kernel_id = 'slow-to-leave'").rows == [[400]]
    assert journal.stats().extra["kernels"] == [] and journal.stats().extra["leaving"] == []
    again = ExecutionKernel(max_slots=2, kernel_id="slow-to-leave")
    journal.attach(again, replay=True)  # the id is free again
    journal.detach(again)


def test_a_kernel_is_recorded_by_one_journal_at_a_time(tmp_path: Path) -> None:
    """Two journals draining one outbox would each store a part of the rows: a second attach
    is refused, naming the kernel and the journal it has, until the first lets it go."""
    a = ClickHouseJournal(f"chdb://{tmp_path / 'j'}?database=desk_a", max_delay=0.02)
    b = ClickHouseJournal(f"chdb://{tmp_path / 'j'}?database=desk_b", max_delay=0.02)
    try:
        work, reference = twins(a, kernel_id="k2")
        with pytest.raises(
            ValueError, match=r"kernel 'k2' already has a journal attached \(chdb://.*desk_a\)"
        ):
            b.attach(work.main)
        with pytest.raises(ValueError, match="kernel 'k2' already has a journal attached"):
            InMemoryJournal().attach(work.main)
        assert b.stats().extra["kernels"] == []
        b.detach(work.main)  # not b's to stop: a goes on recording it
        work.run(40)
        a.flush(30)
        assert_same_rows(a, reference, "k2")  # every row, in the one journal
        a.detach(work.main)
        b.attach(work.main)  # free again
        b.detach(work.main)
        with pytest.raises(
            ValueError, match=r"kernel 'k2' already has a journal attached \(InMemoryJournal\)"
        ):
            b.attach(work.sides[1].kernel)  # the twin, on the reference journal
    finally:
        a.close()
        b.close()


def test_a_kernel_id_another_journal_on_the_same_database_records_is_refused(tmp_path: Path) -> None:
    """Two journal objects on one directory and database, each with a kernel of one kernel_id:
    both runs' rows would take the same keys, and each writer skip the other's as stored (or
    ClickHouse merge them), one run's rows lost without a word; the check of the stored rows
    cannot see the other's rows on their way. It is refused as on one journal object; another
    database of the same directory is another journal, where the kernel_id is free."""
    a = ClickHouseJournal(f"chdb://{tmp_path / 'j'}", max_delay=0.02)
    b = ClickHouseJournal(f"chdb://{tmp_path / 'j'}/", max_delay=0.02)  # spelt apart, one directory
    other_db = ClickHouseJournal(f"chdb://{tmp_path / 'j'}?database=desk_b", max_delay=0.02)
    try:
        work, reference = twins(a, kernel_id="x")
        again = ExecutionKernel(max_slots=8, venue=venue(), kernel_id="x")
        for replay in (False, True):
            with pytest.raises(
                ValueError,
                match=r"kernel_id 'x' is already attached to another journal on chdb://.*j\?database=dita",
            ):
                b.attach(again, replay=replay)
        assert b.stats().extra["kernels"] == []
        assert again.stats()["journal_queued_total"] == 0  # its outbox was not turned on
        with pytest.raises(ValueError, match="kernel_id 'x' is already attached to another journal"):
            ExecutionKernel(max_slots=8, venue=venue(), journal=b, kernel_id="x")
        other_db.attach(again)  # another database: its own keys
        other_db.detach(again)
        work.run(20)
        a.flush(30)
        assert_same_rows(a, reference, "x")
        a.detach(work.main)
        b.attach(again, replay=True)  # free once the first one left (its rows stored: a re-run)
        b.detach(again)
    finally:
        for journal in (a, b, other_db):
            journal.close()


def test_a_query_over_the_memory_cap_is_refused_and_the_owner_keeps_answering(
    journal: ClickHouseJournal, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator's query runs in the kernel's process: it may use max_memory_usage (1 GiB by
    default; 64 MiB here, set before the first query opens the clients), no more."""
    assert READ_ONLY_SETTINGS["max_memory_usage"] == 1 << 30
    monkeypatch.setitem(READ_ONLY_SETTINGS, "max_memory_usage", 64 << 20)
    greedy = "SELECT length(groupArray(number)) AS n FROM numbers(20000000)"  # about 160 MB
    refused = r"^the query needed more memory than a journal query may use \(64 MiB, max_memory_usage"
    with pytest.raises(RuntimeError, match=refused):
        journal.query(greedy)
    with pytest.raises(RuntimeError, match="the query needed more memory than a journal query may use"):
        query_via_socket(str(journal.query_address), journal.database, greedy)
    assert journal.query("SELECT length(groupArray(number)) FROM numbers(1000)").rows == [[1000]]
    assert query_via_socket(str(journal.query_address), journal.database, "SELECT 1").rows == [[1]]


def test_a_second_directory_refused_in_one_process_is_not_made(
    journal: ClickHouseJournal, tmp_path: Path
) -> None:
    """chDB hosts one directory per process: a journal on another is refused, and leaves no
    directory behind; the first journal goes on."""
    other = tmp_path / "other" / "journal"
    with pytest.raises(RuntimeError, match=f"cannot open the embedded journal at {other}"):
        ClickHouseJournal(f"chdb://{other}")
    assert not (tmp_path / "other").exists()
    assert journal.query("SELECT 1").rows == [[1]]


def test_journals_on_one_directory_share_one_query_socket(journal_dsn: str) -> None:
    a = ClickHouseJournal(journal_dsn)
    b = ClickHouseJournal(journal_dsn.replace("journal", "journal") + "?database=desk_b")
    try:
        assert a.query_address == b.query_address is not None
        ExecutionKernel(max_slots=2, journal=b, kernel_id="in-b")
        b.flush(10)
        assert (
            query_via_socket(a.query_address, "desk_b", "SELECT count() FROM control_changes").rows[0][0] >= 0
        )
        a.close()
        # b still serves after a released its use of the socket.
        assert b.query("SELECT 1").rows == [[1]]
        assert query_via_socket(b.query_address or "", "desk_b", "SELECT 2").rows == [[2]]
    finally:
        a.close()
        b.close()


def test_typed_parameters_answer_the_same_through_the_owners_socket(journal: ClickHouseJournal) -> None:
    """A time, a decimal or a list binds as it does on the journal's own client: the socket
    carries them as ClickHouse writes them, not as JSON (which has no time or decimal)."""
    import datetime as dt
    from decimal import Decimal

    sql = (
        "SELECT {at:DateTime64(6)} AS at, {amount:Decimal(18, 4)} AS amount, "
        "has({trades:Array(String)}, 't-2') + has({trades:Array(String)}, 'it''s') AS listed, "
        "{name:String} AS name"
    )
    params = {
        "at": dt.datetime(2026, 11, 20, 10, 41, 7, 250_000, tzinfo=dt.UTC),
        "amount": Decimal("12.3456"),
        "trades": ["t-1", "t-2", "it's"],
        "name": "it's",
    }
    direct = journal.query(sql, params)
    assert journal.query_address is not None
    served = query_via_socket(journal.query_address, journal.database, sql, params)
    assert served.rows == direct.rows
    assert str(direct.rows[0][0]).startswith("2026-11-20") and "10:41:07.25" in str(direct.rows[0][0])
    assert [str(v) for v in direct.rows[0][1:]] == ["12.3456", "2", "it's"]


def test_null_and_number_parameters_answer_the_same_through_the_owners_socket(
    journal: ClickHouseJournal,
) -> None:
    """None, numbers and booleans travel in JSON as they are: written as bound text, None went
    as the string \\N, so `IS NULL` read false and a Nullable(Int64) placeholder refused it."""
    sql = (
        "SELECT {missing:Nullable(String)} IS NULL AS missing, {count:Nullable(Int64)} AS count, "
        "{n:UInt32} + 1 AS n, {x:Float64} AS x, {flag:Bool} AS flag"
    )
    params = {"missing": None, "count": None, "n": 5, "x": 0.1, "flag": True}
    direct = journal.query(sql, params)
    assert journal.query_address is not None
    served = query_via_socket(journal.query_address, journal.database, sql, params)
    assert direct.rows == [[1, None, 6, 0.1, True]]
    assert served.rows == direct.rows


def test_an_operators_slow_query_does_not_hold_up_the_owners_own_queries(journal: ClickHouseJournal) -> None:
    """attach() (its seq check) and a WAL fill (gap_start) query the journal in the owner's
    process: they do not wait for an operator's query on the socket, up to 120 s long."""
    slow = "SELECT count() FROM numbers(5) WHERE sleepEachRow(0.5) = 0"  # 2.5 s
    address = journal.query_address or ""
    answered: list[Any] = []
    operator = threading.Thread(target=lambda: answered.append(query_via_socket(address, "dita", slow).rows))
    operator.start()
    # Watched on a client of its own: the owner's query() is what is under test.
    watcher = open_read_only_client(journal.target)
    running = "SELECT count() FROM system.processes WHERE query LIKE '%sleepEachRow(0.5) = 0%'"
    try:
        wait_until(lambda: watcher.query(running).result_rows[0][0] > 1, "the operator's query to run")
    finally:
        watcher.close()
    assert journal.gap_start("desk-9") == 1
    ExecutionKernel(max_slots=2, journal=journal, kernel_id="desk-9")
    assert operator.is_alive(), "the owner's queries waited for the operator's"
    operator.join(30)
    assert answered == [[[5]]]


def test_close_stops_an_operators_query_still_running_after_close_timeout(
    journal_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    """close() waited for an operator's query served on the socket to end, up to its 120 s: 12.9 s
    with close_timeout 2. It waits close_timeout, then stops the query and logs it; the operator
    is told why."""
    journal = ClickHouseJournal(journal_dsn, max_delay=0.02, close_timeout=0.5)
    slow = "SELECT count() FROM numbers(20000) WHERE sleepEachRow(0.0005) = 0"  # 10 s, 2 s a block
    address = journal.query_address or ""
    answered: list[Any] = []

    def operator() -> None:
        try:
            answered.append(query_via_socket(address, "dita", slow).rows)
        except Exception as exc:
            answered.append(exc)

    asking = threading.Thread(target=operator)
    asking.start()
    watcher = open_read_only_client(journal.target)
    running = "SELECT count() FROM system.processes WHERE query LIKE '%sleepEachRow(0.0005) = 0%'"
    try:
        wait_until(lambda: watcher.query(running).result_rows[0][0] > 1, "the operator's query to run")
    finally:
        watcher.close()
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="dita.journal.query"):
        journal.close()
    took = time.monotonic() - start
    asking.join(30)
    assert took < 0.5 + 2.0, f"close() took {took:.1f} s with close_timeout 0.5 s"
    (told,) = answered
    assert isinstance(told, RuntimeError) and "closed its query server" in str(told), told
    assert "stopping an operator's query on database 'dita' still running after 0.5 s" in caplog.text
    assert slow in caplog.text


_AS_NOBODY = """
import os, sys
from dita.journal.query import READ_ONLY_SETTINGS, chdb_holder, open_read_only_client, query_via_socket
os.setgroups([]); os.setgid(65534); os.setuid(65534)
try:
    print(query_via_socket(bytes.fromhex(sys.argv[1]).decode(), "dita", "SELECT 1 AS one").rows)
except PermissionError as exc:
    print("PermissionError:", exc)
"""


@pytest.mark.skipif(not hasattr(socket, "SO_PEERCRED"), reason="no SO_PEERCRED here (not Linux): NOT tested")
@pytest.mark.parametrize("kind", ["abstract", "file"])
def test_the_query_socket_answers_only_its_owner_and_root(kind: str) -> None:
    """An abstract socket (a long journal path) has no permissions at all, and a socket file
    may be left open to all by the umask: the owner checks who is asking, on both."""
    if os.geteuid() != 0:
        pytest.skip("only root can run a client as another uid (65534): NOT tested")
    base = Path(tempfile.mkdtemp(prefix="dita-peer-"))
    base.chmod(0o755)  # others may reach the socket file: the uid check alone stands in their way
    path = base / ("x" * 60) / ("y" * 60) if kind == "abstract" else base / "j"
    journal = ClickHouseJournal(f"chdb://{path}")
    try:
        address = str(journal.query_address)
        assert address.startswith("\0") == (kind == "abstract")
        if kind == "file":
            os.chmod(address, 0o777)
        assert query_via_socket(address, "dita", "SELECT 1 AS one").rows == [[1]]  # the owner
        done = subprocess.run(
            [sys.executable, "-c", _AS_NOBODY, address.encode().hex()],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == (
            "PermissionError: the journal's query socket answers its owner (uid 0) and root only, "
            "not uid 65534"
        )
        assert journal.query("SELECT 2").rows == [[2]]  # and it goes on serving
    finally:
        journal.close()
        shutil.rmtree(base)


def _reachable(url: str) -> bool:
    try:
        base = url.split("@")[-1] if "@" in url else url.split("://", 1)[1]
        scheme = url.split("://", 1)[0]
        with urllib.request.urlopen(f"{scheme}://{base.split('/')[0]}/ping", timeout=2) as r:
            return bool(r.status == 200)
    except Exception:
        return False


HTTP_URL = os.environ.get("DITA_CLICKHOUSE_URL", "")


@pytest.mark.skipif(not HTTP_URL, reason="DITA_CLICKHOUSE_URL is not set: the HTTP DSN path was NOT tested")
def test_http_dsn_path_against_a_server() -> None:
    if not _reachable(HTTP_URL):
        pytest.skip(
            f"DITA_CLICKHOUSE_URL={HTTP_URL.split('@')[-1]} does not answer /ping: HTTP DSN path NOT tested"
        )
    import uuid

    db = "dita_test_" + uuid.uuid4().hex[:8]
    base = HTTP_URL.rstrip("/").rsplit("/", 1)[0] if HTTP_URL.count("/") > 2 else HTTP_URL
    journal = ClickHouseJournal(f"{base}/{db}", max_delay=0.02)
    try:
        _run(journal, "http-kernel", trades=30)
        counts = _counts(journal, "http-kernel")
        assert counts["fills"] > 0 and counts["transitions"] > 0
        assert journal.query_address is None  # servers are queried directly
    finally:
        journal._connection.client.command(f"DROP DATABASE IF EXISTS {db}")
        journal.close()


def test_draining_in_small_pieces_under_gc_pressure_records_every_row(tmp_path: Path) -> None:
    """The drainer takes rows every millisecond, 50 at a time, while the strategy thread makes
    cyclic garbage (GC passes keep coming, handing the GIL around): the strategy never fails
    on a busy kernel and every intent lands exactly once."""
    journal = ClickHouseJournal(
        f"chdb://{tmp_path / 'j'}", max_delay=0.01, poll_interval=0.001, drain_rows=50
    )
    try:
        kernel = ExecutionKernel(max_slots=4, journal=journal, kernel_id="busy")
        for n in range(2_000):
            junk = [[] for _ in range(200)]
            for x in junk:
                x.append(x)
            del junk
            slot = n % 4
            for action in ("ENTER", "EXIT"):
                kernel.process_intent(
                    KernelIntent(
                        intent_id=f"{action}{n}",
                        trade_id=f"t{n}",
                        slot_id=slot,
                        asset="BTC-USDT",
                        side="LONG",
                        action=action,
                        reference_price=100.0,
                        target_size=1.0,
                    )
                )
            kernel.mark_price("BTC-USDT", 100.0 + n % 7)
        journal.flush(60)
        assert journal.query("SELECT count(), uniqExact(seq) FROM intents WHERE kernel_id = 'busy'").rows == [
            [4_000, 4_000]
        ]
    finally:
        journal.close()


def test_native_blocks_and_backfilled_tuples_store_the_same_rows(tmp_path: Path) -> None:
    """The two ways rows reach ClickHouse (the kernel's Native blocks, and a backfill through
    clickhouse-connect's column insert) store identical values, text with multi-byte
    characters, quotes and newlines included."""
    journal = ClickHouseJournal(f"chdb://{tmp_path / 'j'}", max_delay=0.01)
    try:
        work, reference = twins(journal, kernel_id="native")
        work.control(verbosity="DEBUG")
        work.intent(
            intent_id="enter-ü",
            trade_id="Tü",
            slot_id=0,
            asset="BTC-USDT",
            side="LONG",
            action="ENTER",
            reference_price=64_000.0,
            target_size=0.5,
            reason='ставка "≥ 5" 🚀\nnext line',
        )
        work.run(120)
        journal.flush(60)
        counts = assert_same_rows(journal, reference, "native")
        assert all(
            counts[t] > 0 for t in ("intents", "transitions", "fills", "venue_events", "account_events")
        )
        # The same rows again, as tuples under another kernel id, through backfill.
        rows = {t: [tuple(r) for r in journal_rows_raw(journal, t, "native")] for t in counts}
        result = journal.backfill("tuples", rows, timeout=60)
        assert result.written == sum(counts.values())
        assert_same_rows(journal, reference, "tuples")
    finally:
        journal.close()


def test_lowcardinality_columns_with_many_values_and_nulls_in_one_block_read_back_exactly(
    tmp_path: Path,
) -> None:
    """Enum-like columns go as LowCardinality dictionaries, one per block. Blocks with more
    distinct values than one-byte (256) and two-byte (65,536) indexes hold read back as sent;
    NULL margins sit next to them; a venue event without a side keeps "" in the Nullable
    side column, not the dictionary's NULL slot."""
    # Rows wait for flush(): each table goes in as one block.
    journal = ClickHouseJournal(f"chdb://{tmp_path / 'j'}", max_delay=60.0, batch_rows=1_000_000)
    try:
        work, reference = twins(journal, kernel_id="many-values", max_slots=2)
        work.control(verbosity="DEBUG")
        for i in range(65_600):  # refused (no slot 9), journaled with their assets
            work.intent(
                intent_id=f"i{i}",
                trade_id=f"T{i}",
                slot_id=9,
                asset=f"A{i}",
                side="LONG",
                action="ENTER",
                reference_price=100.0,
                target_size=1.0,
            )
        for i in range(300):
            work.account(event_id=f"e{i}", kind="FUNDING_FEE", asset=f"C{i}", amount=-0.01)
            ev = VenueEvent(f"v{i}", f"T{i}", 0, "ORDER_ACK", asset=f"V{i}", timestamp=work.tick())
            work.feed(lambda _, ev=ev: [ev])
        journal.flush(120)
        counts = assert_same_rows(journal, reference, "many-values")
        assert counts["intents"] == 65_600 and counts["account_events"] == 300
        distinct = journal.query(
            "SELECT (SELECT uniqExact(asset) FROM intents), (SELECT uniqExact(asset) FROM account_events), "
            "(SELECT uniqExact(asset) FROM venue_events), (SELECT countIf(isNull(wallet_balance)) "
            "FROM account_events), (SELECT countIf(side = '') FROM venue_events), "
            "(SELECT countIf(isNull(side) OR isNull(status)) FROM venue_events)"
        ).rows
        assert distinct == [[65_600, 300, 300, 300, 300, 0]]
        assert journal.stats().failed == 0
    finally:
        journal.close()


def journal_rows_raw(journal: ClickHouseJournal, table: str, kernel_id: str) -> list[list[Any]]:
    """Rows of ``table`` as the kernel drains them (ts as float seconds), from ClickHouse."""
    from dita import JOURNAL_COLUMNS

    cols = JOURNAL_COLUMNS[table]
    select = ", ".join("toUnixTimestamp64Micro(ts) / 1e6" if c == "ts" else f"`{c}`" for c in cols)
    return journal.query(
        f"SELECT {select} FROM {table} FINAL WHERE kernel_id = {{k:String}} ORDER BY seq, sub",
        {"k": kernel_id},
    ).rows


def test_a_gil_budget_delays_writing_but_loses_nothing(tmp_path: Path) -> None:
    journal = ClickHouseJournal(f"chdb://{tmp_path / 'j'}", max_delay=0.01, gil_budget=0.05)
    try:
        work, reference = twins(journal, kernel_id="budget")
        work.run(300)
        journal.flush(120)  # a flush lifts the budget
        assert_same_rows(journal, reference, "budget")
    finally:
        journal.close()


def _burst(work: Any, until: Any, limit: float = 20.0) -> float:
    """Trade as fast as the workload goes until ``until()`` holds or ``limit`` seconds pass;
    the seconds it took."""
    t0 = time.monotonic()
    while not until() and time.monotonic() - t0 < limit:
        work.run(10, start=work.step)
    return time.monotonic() - t0


def _rows_in(reference: InMemoryJournal) -> int:
    return sum(len(reference.rows(table)) for table in JOURNAL_COLUMNS)


# A burst: 200 rows (batch_rows) within a second (max_delay) is one; the workload makes far more.
_BURSTY = {"batch_rows": 200, "max_delay": 1.0, "poll_interval": 0.005}


def test_a_burst_is_held_until_it_ends(tmp_path: Path) -> None:
    journal = ClickHouseJournal(f"chdb://{tmp_path / 'j'}", burst_hold=60.0, **_BURSTY)
    try:
        work, reference = twins(journal, kernel_id="burst")
        _burst(work, lambda: journal.stats().extra["drained"] >= 2_000)
        _burst(work, lambda: False, limit=0.5)
        assert journal.stats().extra["drained"] >= 2_000
        assert journal.stats().written == 0  # without the hold: batches of 200 all along
        # No flush: once no rows come for max_delay, the burst is over and the rows go.
        rows = _rows_in(reference)
        wait_until(lambda: journal.stats().written == rows, "the rows after the burst")
        assert_same_rows(journal, reference, "burst")
    finally:
        journal.close()


def test_a_flush_does_not_wait_for_a_burst_hold(tmp_path: Path) -> None:
    # An hour's hold of a burst that lasts an hour (200 rows within max_delay): only the flush
    # lifting it gets the rows written.
    hour = {**_BURSTY, "max_delay": 3_600.0}
    journal = ClickHouseJournal(f"chdb://{tmp_path / 'j'}", burst_hold=3_600.0, **hour)
    try:
        work, reference = twins(journal, kernel_id="flushed")
        _burst(work, lambda: journal.stats().extra["drained"] >= 2_000)
        assert journal.stats().written == 0
        journal.flush(60)
        assert journal.stats().written == _rows_in(reference)
        assert_same_rows(journal, reference, "flushed")
    finally:
        journal.close()


def test_each_kernels_rows_count_once_toward_drained_and_a_burst(tmp_path: Path) -> None:
    # Two kernels, the busy one drained first: the idle one's empty take must not count the
    # busy one's rows again (stats' "drained", and the measure a burst hold is decided by).
    journal = ClickHouseJournal(f"chdb://{tmp_path / 'j'}", max_delay=60.0, batch_rows=1_000_000)
    try:
        work, _ = twins(journal, kernel_id="busy")
        idle = ExecutionKernel(max_slots=2, journal=journal, kernel_id="idle")
        work.run(200)
        journal.flush(60)
        written = journal.stats().written
        assert written > 0
        assert journal.stats().extra["drained"] == written
        with journal._queue.cond:  # every take is still within max_delay (60 s)
            assert (
                journal._queue.recent_rows == sum(rows for _, rows in journal._queue.recent_drains) == written
            )
        del idle
    finally:
        journal.close()


def test_a_held_burst_is_written_when_the_hold_ends_though_max_delay_is_longer(tmp_path: Path) -> None:
    # The writer went to sleep for max_delay before the burst started; nobody may leave it
    # there once the hold (shorter than max_delay) is over.
    hold = 3.0
    journal = ClickHouseJournal(f"chdb://{tmp_path / 'j'}", burst_hold=hold, **{**_BURSTY, "max_delay": 60.0})
    try:
        work, reference = twins(journal, kernel_id="short-hold")
        t0 = time.monotonic()
        _burst(work, lambda: journal.stats().extra["drained"] >= 1_000)
        if time.monotonic() - t0 > hold / 2:
            pytest.skip("the burst took longer than half the hold on this machine")
        assert journal.stats().written == 0, "held"
        rows = _rows_in(reference)
        # The hold ends 3 s after the first row; max_delay would be 60 s.
        wait_until(lambda: journal.stats().written == rows, "the held rows", timeout=hold + 12)
    finally:
        journal.close()


@pytest.mark.parametrize("hold", [0.3, None])
def test_a_burst_longer_than_the_hold_is_written_while_it_lasts(tmp_path: Path, hold: float | None) -> None:
    journal = ClickHouseJournal(f"chdb://{tmp_path / 'j'}", burst_hold=hold, **_BURSTY)
    try:
        work, reference = twins(journal, kernel_id="long")
        # After opening the journal (chDB's start alone takes longer than the hold) and
        # before the first row: the hold counts from there.
        assert journal.stats().extra["drained"] == 0
        t0 = time.monotonic()
        _burst(work, lambda: journal.stats().written > 0)
        first_write = time.monotonic() - t0
        assert journal.stats().written > 0, "nothing written during a 20 s burst"
        if hold is not None:
            assert first_write >= hold
        # The burst runs until the first write, so a loaded host makes more rows to store.
        journal.flush(240)
        assert_same_rows(journal, reference, "long")
    finally:
        journal.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread nice values are Linux's")
@pytest.mark.parametrize("nice", [7, None])
def test_the_journal_and_its_chdb_threads_run_at_its_nice_value(tmp_path: Path, nice: int | None) -> None:
    """Its own threads, the threads running its inserts, chDB's merges and the operators'
    queries it serves yield the CPU to the strategy's threads; ``nice=None`` leaves them at
    the process's priority."""
    base = os.getpriority(os.PRIO_PROCESS, 0)
    journal = ClickHouseJournal(f"chdb://{tmp_path / 'j'}", max_delay=0.01, nice=nice)
    try:
        work, reference = twins(journal, kernel_id="nice", wal_dir=str(tmp_path / "wal"), fsync="none")
        work.run(50)
        journal.flush(60)
        assert_same_rows(journal, reference, "nice")
        names = ("dita-journal-writer", "dita-journal-drainer", "dita-journal-sql")
        ours = [t for t in threading.enumerate() if t.name in names]
        assert len(ours) == 3
        want = base if nice is None else max(nice, base)
        assert {os.getpriority(os.PRIO_PROCESS, t.native_id or 0) for t in ours} == {want}
        assert threading.main_thread().native_id is not None
        assert os.getpriority(os.PRIO_PROCESS, threading.main_thread().native_id) == base
        inserts, merges = journal._connection.client.query(
            "SELECT getSetting('os_threads_nice_value_query'), (SELECT value FROM system.server_settings"
            " WHERE name = 'os_threads_nice_value_merge_mutate')"
        ).result_rows[0]
        assert (int(inserts), int(merges)) == ((0, 0) if nice is None else (want, want))
        served = query_via_socket(
            journal.target.socket_address,
            journal.target.database,
            "SELECT getSetting('os_threads_nice_value_query')",
        )
        assert int(served.rows[0][0]) == (0 if nice is None else want)
    finally:
        journal.close()


def test_an_unreachable_server_does_not_stop_the_kernel(caplog: pytest.LogCaptureFixture) -> None:
    # Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    journal = ClickHouseJournal("http://127.0.0.1:9/dita", max_delay=0.01, retry_max=0.05, close_timeout=0.5)
    kernel = ExecutionKernel(max_slots=2, journal=journal, kernel_id="offline")
    out = kernel.process_intent(
        KernelIntent(
            intent_id="i1",
            trade_id="t1",
            slot_id=0,
            asset="BTC-USDT",
            side="LONG",
            action="ENTER",
            reference_price=100.0,
            target_size=1.0,
        )
    )
    assert out.accepted
    wait_until(lambda: journal.stats().retries > 0, "the writer to retry the connection")
    stats = journal.stats()
    assert stats.written == 0 and stats.queued > 0 and stats.extra["connected"] is False
    assert "ClickHouse at http://127.0.0.1:9/dita is unreachable" in stats.last_error
    journal.close()  # gives up after close_timeout; the rows are reported, not silently lost
    assert "closing journal with rows unwritten" in caplog.text


def test_a_batch_spanning_years_of_months_is_written(tmp_path: Path) -> None:
    """Tables are partitioned by month; ClickHouse refuses an insert touching more than 100
    partitions unless told otherwise, which once held the writer (and every row behind it)
    for good: a kernel replaying ten years of history, a backfill of a long gap."""
    journal = ClickHouseJournal(f"chdb://{tmp_path / 'j'}", max_delay=0.5, retry_max=0.05)
    try:
        kernel = ExecutionKernel(max_slots=2, journal=journal, kernel_id="decade")
        month = 31 * 86_400.0
        for n in range(130):  # refused (no such slot), and journaled with their times
            at = 1.3e9 + n * month
            kernel.process_intent(
                KernelIntent(f"i{n}", f"T{n}", 9, "BTC", "LONG", "ENTER", 100.0, 1.0, timestamp=at)
            )
        margins = (None, None, None, None)
        resent = [
            (
                10_000 + n,
                0,
                1.3e9 + n * month,
                "E",
                "ACCOUNT_UPDATE",
                "USDT",
                0.0,
                0.0,
                "",
                *margins,
                1.0,
                "OK",
                0.0,
                True,
                "OK",
                None,
            )
            for n in range(130)
        ]
        assert journal.backfill("decade", {"account_events": resent}, timeout=30).written == 130
        journal.flush(30)
        months = journal.query(
            "SELECT count(), uniqExact(toYYYYMM(ts)) FROM intents WHERE kernel_id = 'decade'"
        ).rows
        assert months == [[130, 130]] and journal.stats().failed == 0
    finally:
        journal.close()


def test_a_refused_intent_with_a_time_that_is_not_a_number_is_stored_with_its_reason(
    journal: ClickHouseJournal,
) -> None:
    kernel = ExecutionKernel(max_slots=2, journal=journal, kernel_id="nan-time")
    out = kernel.process_intent(
        KernelIntent("bad-ts", "T1", 0, "BTC-USDT", "LONG", "ENTER", 100.0, 1.0, timestamp=float("nan"))
    )
    assert not out.accepted and out.details["field"] == "timestamp"
    journal.flush(60)
    rows = journal.query(
        "SELECT toUnixTimestamp64Micro(ts), diagnostic_code, details FROM intents "
        "WHERE kernel_id = 'nan-time' AND intent_id = 'bad-ts'"
    ).rows
    assert rows == [
        [0, "INVALID_INTENT", '{"field":"timestamp","value":"NaN","reason":"must be a finite number"}']
    ]


def test_a_time_beyond_the_columns_range_is_stored_at_its_end_and_the_table_stays_readable(
    journal: ClickHouseJournal,
) -> None:
    """A time past the column's end (2299; the kernel takes times up to the year 9999) made
    every query touching the row fail (ClickHouse and its clients cannot read a DateTime64
    that far out)."""
    kernel = ExecutionKernel(max_slots=2, journal=journal, kernel_id="ms-time")
    for n, ts in enumerate((253_402_300_799.0, -1e12, 1_790_000_000.5)):
        kernel.process_intent(
            KernelIntent(f"i{n}", f"T{n}", n % 2, "BTC", "LONG", "ENTER", 100.0, 1.0, timestamp=ts)
        )
        kernel.process_intent(
            KernelIntent(f"x{n}", f"T{n}", n % 2, "BTC", "LONG", "EXIT", 100.0, 0.0, timestamp=ts)
        )
    journal.flush(60)
    rows = journal.query(
        "SELECT intent_id, toString(ts) FROM intents WHERE kernel_id = 'ms-time' ORDER BY seq"
    ).rows
    assert rows == [
        ["i0", "2299-12-31 23:59:59.999999"],
        ["x0", "2299-12-31 23:59:59.999999"],
        ["i1", "1900-01-01 00:00:00.000000"],
        ["x1", "1900-01-01 00:00:00.000000"],
        ["i2", "2026-09-21 14:13:20.500000"],
        ["x2", "2026-09-21 14:13:20.500000"],
    ]
    assert len(journal.query("SELECT * FROM transitions FINAL WHERE kernel_id = 'ms-time'").rows) > 0
    # Backfilled tuples take the same way (clickhouse-connect's column insert).
    raw = journal_rows_raw(journal, "intents", "ms-time")
    result = journal.backfill("ms-tuples", {"intents": [(*r[:2], 1e13, *r[3:]) for r in raw]})
    assert result.written == len(raw)
    stored = journal.query("SELECT DISTINCT toString(ts) FROM intents WHERE kernel_id = 'ms-tuples'").rows
    assert stored == [["2299-12-31 23:59:59.999999"]]


def _trading_then(kernel_id: str, then: str) -> str:
    """A script that trades argv[2] round trips on a kernel journaling to argv[1], its rows
    held until exit, then runs ``then``."""
    return f"""
import sys
from dita import ExecutionKernel, KernelIntent
from dita.journal.clickhouse import ClickHouseJournal

journal = ClickHouseJournal(sys.argv[1], max_delay=60.0, batch_rows=1_000_000)  # rows wait to exit
kernel = ExecutionKernel(max_slots=2, journal=journal, kernel_id="{kernel_id}")
for i in range(int(sys.argv[2])):
    kernel.process_intent(KernelIntent(f"e{{i}}", f"t{{i}}", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 0.01))
    kernel.process_intent(KernelIntent(f"x{{i}}", f"t{{i}}", 0, "BTCUSDT", "LONG", "EXIT", 100.0, 0.0))
{then}"""


def _run_trading(script: str, journal_dsn: str, trades: int) -> subprocess.CompletedProcess[str]:
    """``script`` (``_trading_then``) run in a process of its own on ``journal_dsn``."""
    return subprocess.run(
        [sys.executable, "-c", script, journal_dsn, str(trades)], capture_output=True, text=True, timeout=120
    )


_EXITS_WITHOUT_CLOSE = _trading_then("unclosed", 'raise RuntimeError("crash before close()")\n')


def test_a_journal_left_open_is_closed_at_exit_with_its_rows(journal_dsn: str) -> None:
    trades = 2_000
    done = _run_trading(_EXITS_WITHOUT_CLOSE, journal_dsn, trades)
    assert done.returncode == 1 and "crash before close()" in done.stderr
    assert "was not closed: closing it at exit (kernels ['unclosed']" in done.stderr
    assert ", 0 not written" in done.stderr
    assert "FATAL" not in done.stderr
    with ClickHouseJournal(journal_dsn) as journal:
        assert journal.query("SELECT count() FROM intents FINAL").rows == [[2 * trades]]


_INTERRUPTED_AT_CLOSE = _trading_then(
    "interrupted",
    """flush = journal._flush


def interrupted(*args, **kwargs):  # Ctrl-C lands as close() starts writing the last rows
    journal._flush = flush
    raise KeyboardInterrupt


journal._flush = interrupted
try:
    kernel.close()
except KeyboardInterrupt:
    print("interrupted", flush=True)
""",
)


def test_a_journal_whose_close_was_interrupted_is_still_closed_at_exit(journal_dsn: str) -> None:
    """close() let go of its exit hook before flushing: a Ctrl-C in that flush left the journal
    open with no hook, so at exit its threads died with the rows still queued."""
    trades = 500
    done = _run_trading(_INTERRUPTED_AT_CLOSE, journal_dsn, trades)
    assert done.returncode == 0 and done.stdout == "interrupted\n", done.stderr
    assert "was not closed: closing it at exit (kernels ['interrupted']" in done.stderr
    with ClickHouseJournal(journal_dsn) as journal:
        assert journal.query("SELECT count() FROM intents FINAL").rows == [[2 * trades]]


def test_the_exit_hook_is_registered_while_the_journal_is_open(
    journal_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc
    import weakref

    registered: list[Any] = []
    monkeypatch.setattr(atexit, "register", registered.append)
    monkeypatch.setattr(atexit, "unregister", registered.remove)
    journal = ClickHouseJournal(journal_dsn)
    (hook,) = registered
    journal.close()
    assert registered == []
    hook()  # a hook that outlives its journal does nothing
    ref = weakref.ref(journal)
    del journal
    gc.collect()
    assert ref() is None  # the hook never kept the journal alive


def test_a_query_racing_close_leaves_no_reader_open(
    journal_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every reader a query opens is closed, whichever of query() and close() gets in first: a
    reader left open keeps the embedded engine (and the process) on this directory."""
    import threading
    import time

    import dita.journal.clickhouse.queries as module

    opened: list[Any] = []
    closed: list[Any] = []
    real_open = module.open_read_only_client

    class Counted:
        def __init__(self, client: Any) -> None:
            self._client = client

        def __getattr__(self, name: str) -> Any:
            return getattr(self._client, name)

        def close(self) -> None:
            closed.append(self)
            self._client.close()

    def slow_open(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.3)  # a slow connect: close() runs meanwhile
        reader = Counted(real_open(*args, **kwargs))
        opened.append(reader)
        return reader

    monkeypatch.setattr(module, "open_read_only_client", slow_open)
    journal = ClickHouseJournal(journal_dsn, serve_sql=False)
    results: list[Any] = []
    query = threading.Thread(target=lambda: results.append(journal.query("SELECT 1").rows))
    query.start()
    time.sleep(0.05)
    journal.close()
    query.join()
    assert results == [[[1]]]
    assert len(opened) >= 1 and len(closed) == len(opened)
    assert journal.query("SELECT 2").rows == [[2]]  # after close: a reader of its own
    assert len(closed) == len(opened)


def test_a_query_that_took_the_server_just_before_close_opens_no_client_there(journal_dsn: str) -> None:
    """A client opened on a closed server would never be closed (the engine stays open)."""
    from dita.journal.query import ServerClosed

    journal = ClickHouseJournal(journal_dsn)
    server = journal._queries.server
    assert server is not None
    journal.close()
    with pytest.raises(ServerClosed, match="closed"):
        server.run("dita", "SELECT 1", {})
    assert server._clients == {}
    assert journal.query("SELECT 1").rows == [[1]]


def test_a_closed_kernel_keeps_its_drop_marks(tmp_path: Path) -> None:
    """Once close() let the log go, a drop mark cleared could never be refilled from it."""
    kernel = ExecutionKernel(max_slots=2, kernel_id="gone", wal_dir=str(tmp_path / "wal"))
    kernel.close()
    with pytest.raises(RuntimeError, match="write-ahead log was released"):
        kernel.journal_clear_drop_mark()
    with pytest.raises(RuntimeError, match="write-ahead log was released"):
        kernel.journal_restart()


def test_a_detach_whose_kernel_refuses_to_stop_recording_still_lets_it_go(
    journal: ClickHouseJournal,
) -> None:
    kernel = ExecutionKernel(max_slots=2, journal=journal, kernel_id="stubborn")
    enable = kernel.set_journal_enabled

    def busy(on: bool) -> None:
        if not on:
            raise RuntimeError("kernel busy in another call for 10 s")
        enable(on)

    kernel.set_journal_enabled = busy  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="busy"):
        journal.detach(kernel)
    journal.flush(20)
    assert journal.stats().extra["kernels"] == [] and journal.stats().extra["leaving"] == []


def _in_memory_with_rows(n_intents: int) -> InMemoryJournal:
    """An InMemoryJournal holding (and keeping alive) a kernel with the rows of ``n_intents``
    ENTER intents waiting in its outbox."""
    journal = InMemoryJournal()
    kernel = ExecutionKernel(max_slots=2, kernel_id="mem", journal_capacity=1_000_000)
    journal.attach(kernel)
    for n in range(n_intents):
        kernel.process_intent(
            KernelIntent(f"i{n}", f"t{n}", 0, "BTC", "LONG", "ENTER", 100.0, 1.0, timestamp=1.0 + n)
        )
    return journal


@pytest.mark.parametrize("timeout", ["5", math.nan, -1, True, math.inf, 1e10])
def test_in_memory_flush_refuses_a_bad_timeout_by_name_and_takes_nothing(timeout: Any) -> None:
    journal = _in_memory_with_rows(3)
    with pytest.raises(
        ValueError,
        match=r"InMemoryJournal\.flush timeout must be None or a number of seconds from 0 to .*, got "
        + re.escape(repr(timeout)),
    ):
        journal.flush(timeout)
    assert journal.stats().written == 0  # nothing was taken out of the outbox
    assert [r["intent_id"] for r in journal.rows("intents")] == ["i0", "i1", "i2"]


def test_in_memory_flush_stops_at_its_timeout_and_loses_nothing() -> None:
    """More rows than one drain takes (100,000): flush(0) takes one batch, keeps it and says
    the outbox still had rows; the next flush takes the rest."""
    journal = _in_memory_with_rows(120_000)  # a row each (most are refused: slots busy)
    with pytest.raises(TimeoutError, match=r"kernel mem's outbox still had rows after 0 s"):
        journal.flush(0)
    taken = journal.stats().written
    assert 0 < taken <= 100_000
    journal.flush(5)
    assert journal.stats().written > taken
    intents = [r["intent_id"] for r in journal.rows("intents")]
    assert intents == [f"i{n}" for n in range(120_000)]  # every row once, in order
    journal.flush(0)  # nothing left: no timeout


@pytest.mark.parametrize("timeout", ["5", math.nan, -1, True, math.inf, 1e10])
def test_a_bad_timeout_is_refused_by_name_before_anything_is_done(
    journal: ClickHouseJournal, timeout: Any
) -> None:
    """A string, NaN, a negative number, a bool or a wait no thread can take: a ValueError
    naming the method, ``timeout`` and the value, not a bare TypeError or a wait that fails later."""
    kernel = ExecutionKernel(max_slots=2, journal=journal, kernel_id="timed")
    message = rf"timeout must be None or a number of seconds from 0 to .*, got {re.escape(repr(timeout))}"
    with pytest.raises(ValueError, match=r"ClickHouseJournal\.flush " + message):
        journal.flush(timeout)
    with pytest.raises(ValueError, match=r"ClickHouseJournal\.detach " + message):
        journal.detach(kernel, timeout)
    assert journal.records(kernel) and journal.stats().extra["leaving"] == []  # still recorded
    row = (1, 0, 1.0, "LIVE", "NORMAL", True, "test")
    with pytest.raises(ValueError, match=r"ClickHouseJournal\.backfill " + message):
        journal.backfill("timed-backfill", {"control_changes": [row]}, timeout)
    assert journal.stats().queued == 0  # nothing was queued
    with pytest.raises(ValueError, match=r"query_via_socket timeout must be a positive number of seconds"):
        query_via_socket(journal.query_address or "", journal.database, "SELECT 1", timeout=timeout)
    journal.detach(kernel, 20)
    stored = journal.query("SELECT count() FROM control_changes WHERE kernel_id = 'timed-backfill'")
    assert stored.rows == [[0]]


def test_a_kernel_starting_while_a_journal_query_holds_the_directory_waits_for_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`dita journal sql` on a journal no kernel holds opens the directory itself, and chDB
    lets one process have it: a kernel starting meanwhile was refused (exit 2), told to use
    the very command that held it. It waits for the query, which ends within its time limit."""
    directory = tmp_path / "j"
    ClickHouseJournal(f"chdb://{directory}").close()
    query = journal_query_holding(directory, "SELECT sleep(3)")
    try:
        with caplog.at_level("WARNING", logger="dita.journal.clickhouse"):
            journal = ClickHouseJournal(f"chdb://{directory}")
        journal.close()
        assert f"held by a `dita journal` query (pid {query.pid})" in caplog.text
        _out, err = query.communicate(timeout=60)
        assert query.returncode == 0, err
    finally:
        query.kill()
        query.communicate()  # closes its pipes too
    assert not list(directory.glob(".dita-query-*"))  # the mark goes with the query


def test_a_query_taking_the_directory_just_as_a_kernel_opens_it_is_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel looked once for a query, found none, and the open then failed on a query
    that took the directory in between: it was refused at once, saying it had waited 130 s."""
    import dita.journal.clickhouse.connection as ch

    directory = tmp_path / "j"
    ClickHouseJournal(f"chdb://{directory}").close()
    queries: list[subprocess.Popen[str]] = []
    real_wait = ch._wait_for_a_query

    def query_starts_after_the_wait(path: Path, deadline: float, poll: float = 0.2) -> None:
        real_wait(path, deadline, poll)
        if queries:
            return
        queries.append(journal_query_holding(directory, "SELECT sleep(2)"))

    monkeypatch.setattr(ch, "_wait_for_a_query", query_starts_after_the_wait)
    try:
        ClickHouseJournal(f"chdb://{directory}").close()
        _out, err = queries[0].communicate(timeout=60)
        assert queries[0].returncode == 0, err
    finally:
        for q in queries:
            q.kill()
            q.communicate()  # closes its pipes too


def test_a_query_mark_left_behind_does_not_make_a_kernel_wait(tmp_path: Path) -> None:
    """A query killed leaves its mark; a later holder given the same pid (routine in a
    container) read as that query, and a kernel starting waited 130 s for nothing, then blamed
    a query. The mark holds its process's start, which the later process does not have."""
    directory = tmp_path / "held"
    with held_chdb_directory(directory) as holder:
        (directory / f".dita-query-{holder.pid}").write_text("1")  # another process's start
        started = time.monotonic()
        with pytest.raises(RuntimeError, match=rf"is held by another process \(pid {holder.pid}\)"):
            ClickHouseJournal(f"chdb://{directory}")
        assert time.monotonic() - started < 30


def test_a_journal_directory_that_is_not_writable_is_refused_saying_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a read-only file system chDB said only "Error initializing EmbeddedServer", and the
    refusal added that one process hosts one directory, which was not the cause. (A root
    test process writes through permissions, so the file system's answer is stood in for.)"""
    directory = tmp_path / "ro"
    directory.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda path, mode: False if Path(path) == directory else real_access(path, mode)
    )
    with pytest.raises(RuntimeError, match=rf"journal directory {directory} is not writable"):
        ClickHouseJournal(f"chdb://{directory}")


def test_a_journal_directory_that_cannot_be_made_is_refused_naming_it(tmp_path: Path) -> None:
    """A file of that name, or one on the way to it, was a bare FileExistsError or
    NotADirectoryError from mkdir, which said nothing of a journal."""
    afile = tmp_path / "afile"
    afile.write_text("hi")
    with pytest.raises(RuntimeError, match=rf"^journal directory {afile} is a file, not a directory"):
        ClickHouseJournal(f"chdb://{afile}")
    below = afile / "sub" / "journal"
    with pytest.raises(
        RuntimeError, match=rf"^journal directory {below} cannot be made \(Not a directory: {below}\)"
    ):
        ClickHouseJournal(f"chdb://{below}")
    assert afile.read_text() == "hi" and sorted(tmp_path.iterdir()) == [afile]


def test_an_open_error_mentioning_a_block_is_not_taken_for_a_held_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nobody holds the directory: an engine's error with "lock" in a word of it ("block",
    "clock") is its own, shown as it is, not a holder's."""
    directory = tmp_path / "j"

    def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("Cannot read all data in block 7 of part all_1_1_0")

    monkeypatch.setattr(JournalTarget, "connect", refuse)
    with pytest.raises(
        RuntimeError,
        match=rf"^cannot open the embedded journal at {directory}: Cannot read all data in block 7 ",
    ):
        ClickHouseJournal(f"chdb://{directory}")


def test_a_directory_another_process_holds_is_refused_saying_so(tmp_path: Path) -> None:
    """chDB's own error no longer names the lock ("Error initializing EmbeddedServer"), so the
    refusal said this process could host one directory only, which it did not."""
    directory = tmp_path / "held"
    with held_chdb_directory(directory) as holder:
        with pytest.raises(
            RuntimeError,
            match=rf"journal directory {directory} is held by another process \(pid {holder.pid}\)",
        ):
            ClickHouseJournal(f"chdb://{directory}")
    ClickHouseJournal(f"chdb://{directory}").close()  # free again once the holder is gone
