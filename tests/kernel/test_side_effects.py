"""Journal outbox gating, projection coalescing and the in-memory control plane."""

from __future__ import annotations

import pytest
from kernel_helpers import intent

from dita import (
    JOURNAL_COLUMNS,
    AccountEvent,
    ExecutionKernel,
    InMemoryControlPlane,
    InMemoryJournal,
    InMemoryProjection,
    KernelDiagnosticCode,
)


def run_workload(k: ExecutionKernel) -> None:
    k.process_intent(intent("ENTER", 0, target_size=2.0))
    k.process_intent(intent("ENTER", 0))  # refused: SLOT_BUSY
    k.process_intent(intent("EXIT", 0, reference_price=101.0))
    k.on_account_event(AccountEvent("fund-1", "FUNDING_FEE", amount=-0.5))
    k.on_account_event(AccountEvent("fund-1", "FUNDING_FEE", amount=-0.5))  # refused: a duplicate


def journal_for(verbosity: str, debug: bool = True) -> InMemoryJournal:
    journal = InMemoryJournal()
    k = ExecutionKernel(max_slots=2, journal=journal, kernel_id=f"j-{verbosity}-{debug}")
    k.update_control(verbosity=verbosity, debug_clickhouse_enabled=debug)
    run_workload(k)
    return journal


def test_journal_rows_follow_verbosity() -> None:
    normal = journal_for("NORMAL")
    assert [r["action"] for r in normal.rows("intents")] == ["ENTER", "ENTER", "EXIT"]
    assert [r["diagnostic_code"] for r in normal.rows("intents")] == ["OK", "SLOT_BUSY", "OK"]
    assert len(normal.rows("transitions")) == 8
    fills = normal.rows("fills")
    assert [(f["leg"], f["qty"], f["price"]) for f in fills] == [("ENTRY", 2.0, 100.0), ("EXIT", 2.0, 101.0)]
    assert fills[1]["realized_pnl"] == pytest.approx(2.0)
    assert normal.rows("venue_events") == []
    accounts = normal.rows("account_events")
    assert [(a["amount"], a["accepted"], a["diagnostic_code"]) for a in accounts] == [
        (-0.5, True, "OK"),
        (-0.5, False, "DUPLICATE_EVENT"),  # journaled too: the exchange said it again
    ]
    for table, cols in JOURNAL_COLUMNS.items():
        for row in normal.rows(table):
            assert list(row) == [*cols, "kernel_id"]

    quiet = journal_for("QUIET")
    assert quiet.rows("intents") == []
    assert [t["next_state"] for t in quiet.rows("transitions")] == ["CLOSED"]  # closes are kept
    assert len(quiet.rows("fills")) == 2
    assert [a["accepted"] for a in quiet.rows("account_events")] == [True, False]

    debug = journal_for("DEBUG")
    assert [e["kind"] for e in debug.rows("venue_events")] == ["ORDER_ACK", "FILL", "ORDER_ACK", "FILL"]

    off = journal_for("DEBUG", debug=False)
    assert all(off.rows(t) == [] for t in JOURNAL_COLUMNS if t != "control_changes")


def test_journal_rows_are_keyed_by_seq_and_sub() -> None:
    journal = journal_for("DEBUG")
    for table in JOURNAL_COLUMNS:
        keys = [(r["seq"], r["sub"]) for r in journal.rows(table)]
        assert len(keys) == len(set(keys)), table
    seqs = [r["seq"] for r in journal.rows("intents")]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3


def test_journal_outbox_is_bounded_and_counts_what_it_dropped() -> None:
    k = ExecutionKernel(max_slots=1, journal_capacity=10)
    k.set_journal_enabled(True)
    for _ in range(5):
        k.process_intent(intent("ENTER", 0))
        k.process_intent(intent("EXIT", 0))
    stats = k.stats()
    # Whole inputs are dropped, so somewhat fewer than the capacity may be left.
    assert 5 <= stats["journal_queued"] <= 10
    assert stats["journal_dropped"] == stats["journal_queued_total"] - stats["journal_queued"] > 0
    # The oldest input dropped, and the oldest still held, which comes after it.
    assert k.journal_drop_mark() == (True, stats["journal_first_dropped_seq"])
    assert 1 <= stats["journal_first_dropped_seq"] < stats["journal_first_seq"]
    seq = k.journal_restart()
    assert k.journal_drop_mark() == (True, None)
    assert (k.stats()["journal_queued"], k.stats()["journal_first_seq"]) == (0, None)
    k.process_intent(intent("ENTER", 0))
    assert k.stats()["journal_first_seq"] == seq + 1


def test_projection_coalesces_a_burst_into_one_write_per_key() -> None:
    projection = InMemoryProjection()
    k = ExecutionKernel(max_slots=1000, projection=projection, kernel_id="proj")
    writes0 = projection.writes
    k.process_intent(intent("ENTER", 7, target_size=1.0))
    for i in range(10_000):
        k.mark_price("BTCUSDT", 100.0 + i % 7)
    projection.flush()
    assert projection.writes - writes0 == 2  # slot 7 and the account, once each
    assert projection.slots["proj:7"] == k.slot_dict(7)
    assert projection.accounts["proj"]["open_positions"] == 1
    projection.flush()
    assert projection.writes - writes0 == 2  # nothing dirty, nothing written


def test_two_flushes_at_once_leave_the_newest_value_of_a_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flush collected slot 7 at its first mark, then another thread marked it again and
    flushed: the first flush wrote its older value over the newer one, and the slot, no longer
    dirty, kept it for good."""
    import threading

    import dita.projection as projection_module

    projection = InMemoryProjection()
    k = ExecutionKernel(max_slots=8, projection=projection, kernel_id="race")
    k.process_intent(intent("ENTER", 7, target_size=1.0))
    projection.flush()
    collect = projection_module.publish_dirty
    other = threading.Thread(target=lambda: (k.mark_price("BTCUSDT", 120.0), projection.flush()))

    def collected_then_overtaken(kernel: ExecutionKernel, **kw: bool) -> object:
        got = collect(kernel, **kw)
        if not other.is_alive() and other.ident is None:
            other.start()  # marks and flushes while this flush holds its older values
            other.join(0.5)  # with flushes serialized it waits on this one's lock
        return got

    k.mark_price("BTCUSDT", 110.0)
    monkeypatch.setattr(projection_module, "publish_dirty", collected_then_overtaken)
    projection.flush()
    other.join()
    assert projection.slots["race:7"]["unrealized_pnl"] == k.slot_dict(7)["unrealized_pnl"] == 20.0


def test_control_plane_applies_changes_and_validates_them() -> None:
    plane = InMemoryControlPlane()
    a = ExecutionKernel(max_slots=1, control_plane=plane, kernel_id="a")
    b = ExecutionKernel(max_slots=1, control_plane=plane, kernel_id="b")
    plane.set(mode="HALTED")
    assert a.control()["mode"] == "HALTED" and b.control()["mode"] == "HALTED"
    assert a.process_intent(intent("ENTER", 0)).diagnostic_code == KernelDiagnosticCode.MODE_BLOCKED
    plane.set("b", mode="PAPER")
    assert b.process_intent(intent("ENTER", 0)).accepted
    with pytest.raises(ValueError, match="PANIC"):
        plane.set(mode="PANIC")
    with pytest.raises(ValueError, match="debug_clickhouse_enabled"):
        plane.set(debug_clickhouse_enabled="no")  # type: ignore[arg-type]
    assert plane.entries["*"] == {"mode": "HALTED"}  # the refused changes left no trace
    late = ExecutionKernel(max_slots=1, control_plane=plane, kernel_id="late")
    assert late.control()["mode"] == "HALTED"  # a kernel attached later gets the current state


class _RefusingJournal:
    """A journal whose attach refuses (as ClickHouseJournal does a kernel_id with rows above
    its seq)."""

    def attach(self, kernel: ExecutionKernel) -> None:
        raise ValueError("journal refuses this kernel")

    def flush(self, timeout: float | None = None) -> None: ...

    def close(self) -> None: ...


def test_a_component_refusing_to_attach_leaves_the_others_and_the_log_free(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The control plane attached before the journal refused kept the half-made kernel, and
    with it its log's lock: a corrected retry on the same wal_dir was refused ("locked by
    another writer") for the life of the process, and the plane drove a kernel nobody held."""
    plane, shared = InMemoryControlPlane(), InMemoryJournal()
    other = ExecutionKernel(max_slots=1, kernel_id="other", journal=shared)
    with pytest.raises(ValueError, match="journal refuses"):
        ExecutionKernel(
            max_slots=1, kernel_id="A", wal_dir=tmp_path, control_plane=plane, journal=_RefusingJournal()
        )
    # A projection refusing after the journal attached: the journal lets go of that kernel alone.
    with pytest.raises(ValueError, match="journal refuses"):
        ExecutionKernel(max_slots=1, kernel_id="B", journal=shared, projection=_RefusingJournal())
    assert len(shared._kernels) == 1 and shared.records(other)
    k = ExecutionKernel(
        max_slots=1, kernel_id="A", wal_dir=tmp_path, control_plane=plane, journal=InMemoryJournal()
    )
    plane.set(None, mode="HALTED")
    assert k.control()["mode"] == "HALTED"
    other.process_intent(intent("ENTER", 0))
    assert {r["kernel_id"] for r in shared.rows("intents")} == {"other"}
    k.close()
    other.close()


class _WaitingJournal:
    """A journal whose detach waits for its rows as ClickHouseJournal's does: without end
    unless given a timeout (ClickHouse away)."""

    close_timeout = 0.2

    def __init__(self) -> None:
        import threading

        self.written = threading.Event()
        self.kernels: list[ExecutionKernel] = []

    def attach(self, kernel: ExecutionKernel) -> None:
        self.kernels.append(kernel)

    def detach(self, kernel: ExecutionKernel, timeout: float | None = None) -> None:
        if not self.written.wait(timeout):
            raise TimeoutError("rows still waiting")
        self.kernels.remove(kernel)

    def flush(self, timeout: float | None = None) -> None: ...

    def close(self) -> None: ...


def test_a_refused_attach_does_not_wait_without_end_for_a_journal_to_detach(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Undoing the journal's attach called detach(kernel) with no timeout: a ClickHouse
    journal with ClickHouse away waited for its rows for ever, so the constructor never
    raised the projection's refusal and the log stayed locked."""
    import threading

    journal = _WaitingJournal()
    errors: list[BaseException] = []

    def build() -> None:
        try:
            ExecutionKernel(
                max_slots=1, kernel_id="W", wal_dir=tmp_path, journal=journal, projection=_RefusingJournal()
            )
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=build, daemon=True)
    worker.start()
    worker.join(10)
    try:
        assert not worker.is_alive(), "the refused construction hung in the journal's detach"
        assert [type(e) for e in errors] == [ValueError]
        ExecutionKernel(max_slots=1, kernel_id="W", wal_dir=tmp_path).close()  # the log is free
    finally:
        journal.written.set()


def test_closing_one_kernel_leaves_the_journal_to_the_others() -> None:
    """As for the projection (below): a shared InMemoryJournal was closed by the first kernel's
    close, which stopped recording every other kernel, so their later rows were never written."""
    journal = InMemoryJournal()
    a = ExecutionKernel(max_slots=1, journal=journal, kernel_id="a")
    b = ExecutionKernel(max_slots=1, journal=journal, kernel_id="b")
    a.process_intent(intent("ENTER", 0, target_size=1.0))
    a.close()
    b.process_intent(intent("ENTER", 0, target_size=1.0))
    assert [r["kernel_id"] for r in journal.rows("intents")] == ["a", "b"]
    assert journal.records(b) and not journal.records(a)
    b.close()
    assert not journal.records(b)


def test_closing_one_kernel_leaves_the_projection_to_the_others() -> None:
    """kernel.close() closes the components it shares only with its last kernel. A shared
    InMemoryProjection was closed by the first kernel's close: every other kernel was dropped
    with it, and the projection went on showing their state as of that close."""
    projection = InMemoryProjection()
    a = ExecutionKernel(max_slots=1, projection=projection, kernel_id="a")
    b = ExecutionKernel(max_slots=1, projection=projection, kernel_id="b")
    a.set_seed_capital(500.0)
    a.close()
    assert projection.accounts["a"] == a.account()  # its last change published on its close
    b.set_seed_capital(1000.0)
    b.process_intent(intent("ENTER", 0, target_size=1.0))
    projection.flush()
    assert projection.accounts["b"] == b.account()
    assert projection.slots["b:0"] == b.slot_dict(0)
    b.close()


class _InterruptedPlane(InMemoryControlPlane):
    """A control plane whose release is cut short by Ctrl-C (a KeyboardInterrupt landing in it,
    as in the Hazelcast plane's join of its worker)."""

    def release(self, kernel: ExecutionKernel) -> None:
        super().release(kernel)
        raise KeyboardInterrupt


def test_a_component_failing_at_close_leaves_the_others_released(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """close() stopped at the first component whose release raised: the journal and projection
    after it kept the kernel, so its last rows were never written nor its last state published,
    and a shared journal or projection never closed. Each is released, then the error raised."""
    journal, projection = InMemoryJournal(), InMemoryProjection()
    k = ExecutionKernel(
        max_slots=1,
        kernel_id="i",
        wal_dir=tmp_path,
        control_plane=_InterruptedPlane(),
        journal=journal,
        projection=projection,
    )
    k.process_intent(intent("ENTER", 0, target_size=1.0))
    k.set_seed_capital(500.0)
    with pytest.raises(KeyboardInterrupt):
        k.close()
    assert not journal.records(k) and not projection._kernels
    assert [r["action"] for r in journal._tables["intents"]] == ["ENTER"]
    assert projection.accounts["i"] == k.account()
    ExecutionKernel(max_slots=1, kernel_id="i", wal_dir=tmp_path).close()  # the log is free
