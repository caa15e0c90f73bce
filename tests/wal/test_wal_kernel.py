"""ExecutionKernel with a write-ahead log: recovery reproduces the snapshot, checkpoints bound
replay, damage and foreign logs are refused with their position, bad settings change nothing."""

from __future__ import annotations

import json
import re
import resource
import signal
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from wal_workload import KERNEL_ID, SEED_CAPITAL, HeldVenue, make_kernel, run, run_child

from crashed_log import close_as_a_crash_leaves_it, recovered_seq
from dita import AccountEvent, ExecutionKernel, KernelIntent, VenueEvent
from dita._kernel import JOURNAL_COLUMNS, WalError, wal_replay, wal_verify
from dita.journal import InMemoryJournal


def _feed(kernel: ExecutionKernel, seed: int, steps: int) -> None:
    for _ in run(kernel, seed, steps):
        pass


def _segments(wal_dir: Path) -> list[Path]:
    return sorted(wal_dir.glob("seg-*.wal"))


@pytest.mark.parametrize("fsync", ["always", "batch", "none"])
def test_reopened_kernel_has_the_same_snapshot(tmp_path: Path, fsync: str) -> None:
    steps = 60 if fsync == "always" else 800
    kernel = make_kernel(tmp_path, fsync=fsync)
    _feed(kernel, seed=7, steps=steps)
    kernel.calibrate_fee(100.0, 1.0, 0.06)
    kernel.update_control(mode="REDUCE_ONLY", source="ops")
    kernel.set_slot_metadata(0, {"note": "kept"})
    expected, seq = kernel.snapshot(), kernel.seq
    kernel.close()
    del kernel
    again = make_kernel(tmp_path, fsync=fsync)
    assert again.seq == seq
    assert again.snapshot() == expected
    info = again.wal_info()
    assert info is not None and info["last_seq"] == seq and info["recovery"]["torn_tail"] is None


def test_a_kernel_without_wal_dir_has_no_log(tmp_path: Path) -> None:
    kernel = ExecutionKernel(max_slots=2)
    assert kernel.wal_info() is None
    assert kernel.wal_sync() is None
    assert kernel.wal_checkpoint() is None


def test_log_sequence_equals_kernel_sequence_and_refusals_are_not_recorded(tmp_path: Path) -> None:
    kernel = make_kernel(tmp_path, fsync="none")
    _feed(kernel, seed=3, steps=50)
    with pytest.raises(ValueError, match="price"):
        kernel.mark_price("BTC", -5.0)
    with pytest.raises(ValueError, match="seed"):
        kernel.set_seed_capital(float("nan"))
    info = kernel.wal_info()
    assert info is not None and info["last_seq"] == kernel.seq == 51
    kernel.close()
    assert wal_verify(tmp_path)["records"] == 51


def test_recovery_starts_at_the_newest_checkpoint(tmp_path: Path) -> None:
    kernel = make_kernel(tmp_path, fsync="none", wal_checkpoint_every=40)
    _feed(kernel, seed=5, steps=300)
    expected = kernel.snapshot()
    kernel.close()
    del kernel
    again = make_kernel(tmp_path)
    info = again.wal_info()
    assert info is not None
    recovery = info["recovery"]
    assert recovery["checkpoint_seq"] is not None and recovery["checkpoint_seq"] >= 301 - 40
    assert recovery["replayed_records"] < 40
    assert again.snapshot() == expected


def test_manual_checkpoint_leaves_nothing_to_replay(tmp_path: Path) -> None:
    kernel = make_kernel(tmp_path, fsync="batch", wal_checkpoint_every=0)
    _feed(kernel, seed=9, steps=120)
    assert kernel.wal_checkpoint() == kernel.seq
    expected = kernel.snapshot()
    del kernel
    again = make_kernel(tmp_path)
    info = again.wal_info()
    assert info is not None and info["recovery"]["replayed_records"] == 0
    assert again.snapshot() == expected


def test_reopen_without_kernel_id_takes_the_logs_and_keeps_its_capital(tmp_path: Path) -> None:
    kernel = make_kernel(tmp_path, fsync="none")
    _feed(kernel, seed=4, steps=30)
    expected = kernel.snapshot()
    kernel.close()
    del kernel
    again = ExecutionKernel(wal_dir=str(tmp_path), seed_capital=1.0)
    assert again.kernel_id == KERNEL_ID
    assert again.max_slots == 6
    # The constructor's seed capital applies to new kernels only; the log's history wins.
    assert again.snapshot() == expected


def test_seed_capital_applies_to_a_log_whose_first_record_never_reached_the_disk(tmp_path: Path) -> None:
    """A process killed right after making its kernel (before the batch commit) leaves
    checkpoint 0 and no record. The restart is no recovery: counted as one, it would drop the
    constructor's seed capital and come back with capital 0."""
    kernel = make_kernel(tmp_path, fsync="none")
    close_as_a_crash_leaves_it(kernel)
    del kernel
    (segment,) = _segments(tmp_path)
    data = segment.read_bytes()
    header = 8 + 2 + 2 + 2 + len(KERNEL_ID) + 8 + 32 + 4
    assert len(data) > header  # the seed capital's record
    segment.write_bytes(data[:header])
    again = make_kernel(tmp_path, fsync="none")
    # Seq 1 skips client order ids (the log did not end in a clean stop), seq 2 is the capital.
    assert recovered_seq(again) == 0 and again.seq == 2
    assert again.account()["seed_capital"] == again.account()["capital"] == SEED_CAPITAL
    again.close()
    del again
    # Logged now: a later reopen recovers it, and a constructor's other figure is ignored.
    third = ExecutionKernel(wal_dir=str(tmp_path), seed_capital=1.0)
    assert third.seq == 2 and third.account()["capital"] == SEED_CAPITAL


def test_an_input_whose_record_failed_leaves_no_journal_row(tmp_path: Path) -> None:
    """With fsync="always" an input whose record could not be written raises, and a restart
    gives its seq to the next input. Its journal rows are not handed out: the journal would
    hold a row of an input that never happened, under a seq the log does not have (and a
    ClickHouse journal refuse the restarted kernel as "a new or lost log")."""
    journal = InMemoryJournal()
    kernel = make_kernel(tmp_path, fsync="always", journal=journal)
    _feed(kernel, seed=9, steps=20)
    before = kernel.seq
    (segment,) = _segments(tmp_path)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    # Writes past this size fail with EFBIG, as on a full disk: the record is cut short.
    resource.setrlimit(resource.RLIMIT_FSIZE, (segment.stat().st_size + 8, hard))
    try:
        with pytest.raises(OSError, match="File too large"):
            kernel.on_account_event(AccountEvent("fund-x", "FUNDING_FEE", amount=-1.5, timestamp=1.0))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert kernel.seq == before + 1
    stored = [row for table in JOURNAL_COLUMNS for row in journal.rows(table)]
    assert stored and max(row["seq"] for row in stored) == before
    assert not any(row.get("event_id") == "fund-x" for row in journal.rows("account_events"))
    with pytest.raises(WalError):
        kernel.close()
    del kernel
    again = make_kernel(tmp_path)
    assert recovered_seq(again) == before


WRITER_FAILS = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, sys.argv[2])
    from dita import ExecutionKernel, KernelIntent
    from dita._kernel import WalError
    from wal_workload import fill_the_disk_at

    fill_the_disk_at(64 * 1024)
    k = ExecutionKernel(max_slots=2, kernel_id="writer", wal_dir=sys.argv[1], fsync=sys.argv[3])
    i = 0
    while True:  # marks in bursts until the log's writer thread fails to write one
        for _ in range(100):
            k.mark_price("BTCUSDT", 100.0 + i % 7, timestamp=float(i))
            i += 1
        deadline = time.monotonic() + 5  # the writer hands records to the OS every 10 ms
        while k.wal_info()["written_seq"] < k.seq and time.monotonic() < deadline:
            time.sleep(0.01)
        if k.wal_info()["written_seq"] < k.seq:
            break
    info = k.wal_info()
    seq, snapshot = k.seq, k.snapshot()
    intent = KernelIntent("late", "t-late", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0, timestamp=1e6)
    try:
        k.process_intent(intent)
        refused = None
    except WalError as exc:
        refused = str(exc)
    print(json.dumps({
        "poisoned": info["poisoned"], "refused": refused, "seq": seq, "seq_after": k.seq,
        "unchanged": k.snapshot() == snapshot,
    }))
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE and SIGXFSZ as on Linux")
@pytest.mark.parametrize("fsync", ["batch", "none"])
def test_a_write_error_of_the_writer_thread_refuses_the_next_input_before_it_is_applied(
    tmp_path: Path, fsync: str
) -> None:
    """Under "batch" and "none" the log's writer thread meets a full disk; the kernel must say
    so and take no input from then on: with wal_info()["poisoned"] None until an input comes,
    that input would be applied to the kernel (its seq moved, its slot taking the entry)
    before its append is refused, and the caller get WalError for an input the kernel's memory
    holds and no restart would know."""
    run = run_child(WRITER_FAILS, tmp_path / "wal", fsync)
    assert run["poisoned"] is not None, run
    assert "File too large" in run["poisoned"] and "seg-" in run["poisoned"], run
    assert run["refused"] is not None and "File too large" in run["refused"], run
    assert run["seq_after"] == run["seq"] and run["unchanged"], run
    again = ExecutionKernel(wal_dir=str(tmp_path / "wal"))
    try:
        assert again.seq <= run["seq"] and again.wal_info()["poisoned"] is None  # type: ignore[index]
    finally:
        again.close()


@pytest.mark.parametrize(
    ("kwargs", "error", "says"),
    [
        ({"fsync": "sometimes"}, ValueError, 'invalid fsync "sometimes"'),
        ({"fsync": 1}, TypeError, "fsync"),
        ({"wal_checkpoint_every": -1}, ValueError, "wal_checkpoint_every: -1"),
        ({"wal_segment_bytes": 10}, ValueError, "wal_segment_bytes: 10"),
        ({"wal_checkpoint_every": True}, TypeError, "wal_checkpoint_every: expected int, got bool"),
        ({"wal_dir": 42}, TypeError, "wal_dir"),
        ({"wal_dir": ""}, ValueError, "invalid wal_dir: '' (must name a directory"),
        ({"wal_segment_bytes": 2**70}, ValueError, f"invalid wal_segment_bytes: {2**70} (must be at most"),
        ({"wal_checkpoint_every": 1.5}, TypeError, "wal_checkpoint_every: expected int, got float"),
        ({"seed_capital": float("inf")}, ValueError, "seed_capital"),
    ],
)
def test_bad_wal_settings_are_refused_and_create_nothing(
    tmp_path: Path, kwargs: dict[str, Any], error: type[Exception], says: str
) -> None:
    wal_dir = tmp_path / "wal"
    args: dict[str, Any] = {"wal_dir": str(wal_dir), **kwargs}
    with pytest.raises(error, match=says.replace("(", r"\(")):
        ExecutionKernel(max_slots=2, kernel_id="k", **args)
    assert not wal_dir.exists()


def test_an_empty_or_file_wal_dir_is_refused_and_nothing_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="invalid wal_dir: ''"):
        ExecutionKernel(max_slots=2, wal_dir="")
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("x")
    with pytest.raises(ValueError, match=r"invalid wal_dir: .*not-a-dir \(exists and is not a directory\)"):
        ExecutionKernel(max_slots=2, wal_dir=str(a_file))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-dir"]


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda p: ExecutionKernel(max_slots=2, kernel_id="k", wal_dir=p), "wal_dir"),
        (lambda p: ExecutionKernel(max_slots=2, kernel_id="k", wal_dir=Path(p)), "wal_dir"),
        (lambda p: wal_verify(p), "path"),
        (lambda p: wal_replay(p, max_slots=2), "path"),
    ],
)
def test_a_path_no_file_name_can_hold_is_refused_naming_it(tmp_path: Path, call: Any, field: str) -> None:
    """A lone surrogate cannot become a file name: it was a PyO3 panic (PanicException, a
    BaseException that `except Exception` lets through), not an error naming the argument."""
    path = str(tmp_path / "wal-\ud800")
    with pytest.raises(ValueError, match=rf"^invalid {field}: '.*wal-\\ud800' \(not a valid file name"):
        call(path)
    assert list(tmp_path.iterdir()) == []


def test_close_releases_the_log_and_refuses_later_input(tmp_path: Path) -> None:
    """After close() the same wal_dir opens again at once (its lock is released, its thread
    stopped), and the closed kernel refuses input instead of applying what it can no longer log."""
    first = make_kernel(tmp_path, fsync="batch")
    first.mark_price("BTC", 100.0)
    seq = first.seq
    first.close()
    first.close()
    with pytest.raises(RuntimeError, match="is closed: it takes no more input"):
        first.mark_price("BTC", 101.0)
    with pytest.raises(RuntimeError, match="is closed"):
        first.process_intent(KernelIntent("x", "t", 0, "BTC", "LONG", "ENTER", 100.0, 1.0, timestamp=1.0))
    assert first.seq == seq and first.snapshot()["kernel_id"] == KERNEL_ID
    again = ExecutionKernel(max_slots=6, wal_dir=str(tmp_path))
    assert again.seq == seq and again.snapshot() == first.snapshot()
    again.close()


def test_a_log_opened_by_a_relative_name_stays_in_its_directory_after_a_chdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative wal_dir is the directory it named when the kernel was made: following the
    process's working directory, the log's later segments and checkpoints would go elsewhere,
    and a restart on the log lose every input since, although fsync="always" acknowledged them."""
    first, later = tmp_path / "first", tmp_path / "later"
    first.mkdir()
    (later / "wal").mkdir(parents=True)
    monkeypatch.chdir(first)
    options: dict[str, Any] = {"fsync": "always", "wal_segment_bytes": 1024, "wal_checkpoint_every": 7}
    k = ExecutionKernel(max_slots=2, kernel_id="rel", wal_dir="wal", **options)
    k.mark_price("BTC", 100.0)
    monkeypatch.chdir(later)
    for i in range(40):
        k.mark_price("BTC", 101.0 + i)
    info = k.wal_info()
    assert info is not None and Path(info["dir"]) == (first / "wal").resolve()
    k.close()
    assert not any((later / "wal").iterdir()), "nothing of the log lands under the later directory"
    again = ExecutionKernel(wal_dir=str(first / "wal"))
    assert again.seq == 41
    again.close()


def test_wal_settings_without_wal_dir_are_refused() -> None:
    with pytest.raises(ValueError, match="fsync: it needs wal_dir"):
        ExecutionKernel(max_slots=2, fsync="always")


def test_a_log_of_another_kernel_is_refused(tmp_path: Path) -> None:
    make_kernel(tmp_path, fsync="none").close()
    with pytest.raises(WalError, match=f'belongs to kernel id "{KERNEL_ID}", not "intruder"'):
        ExecutionKernel(max_slots=6, kernel_id="intruder", wal_dir=str(tmp_path))


def test_another_slot_count_is_refused(tmp_path: Path) -> None:
    make_kernel(tmp_path, fsync="none").close()
    with pytest.raises(ValueError, match=r"max_slots: 3 .*holds a kernel with 6 slots"):
        ExecutionKernel(max_slots=3, wal_dir=str(tmp_path))


def _files(path: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(path.iterdir()) if f.is_file()}


@pytest.mark.parametrize("refusal", ["max_slots", "kernel_id", "no_shape"])
def test_a_refused_open_leaves_the_log_as_it_was(tmp_path: Path, refusal: str) -> None:
    """A refused open changed the log: the torn tail it was refused over was cut (its evidence
    gone from the reopen's report), leftover temporary files were removed, and a last segment
    of older rules got a new one after it. The kernel's shape is judged before any of that."""
    kernel = make_kernel(tmp_path, fsync="always")
    _feed(kernel, seed=6, steps=10)
    kernel.close()
    (segment,) = tmp_path.glob("seg-*.wal")
    segment.write_bytes(segment.read_bytes() + b"\x07\x00\x00\x00 half a record")
    (tmp_path / "ckpt-00000000000000000099.ckpt.tmp").write_bytes(b"half a checkpoint")
    if refusal == "no_shape":
        for checkpoint in tmp_path.glob("ckpt-*.ckpt"):
            data = bytearray(checkpoint.read_bytes())
            data[-1] ^= 0x01
            checkpoint.write_bytes(bytes(data))
    before = _files(tmp_path)
    with pytest.raises((ValueError, WalError)) as refused:
        if refusal == "max_slots":
            ExecutionKernel(max_slots=3, wal_dir=str(tmp_path))
        elif refusal == "kernel_id":
            ExecutionKernel(max_slots=6, kernel_id="intruder", wal_dir=str(tmp_path))
        else:
            ExecutionKernel(wal_dir=str(tmp_path))
    assert {"max_slots": "holds a kernel with 6 slots", "kernel_id": "intruder"}.get(
        refusal, "no usable checkpoint"
    ) in str(refused.value)
    assert _files(tmp_path) == before
    if refusal != "no_shape":  # the right open still finds, reports and repairs the damage
        again = make_kernel(tmp_path, fsync="always")
        assert again.wal_info()["recovery"]["torn_tail"] is not None
        assert again.wal_info()["recovery"]["removed_temp_files"]
        again.close()


def test_a_second_kernel_on_the_same_log_is_refused(tmp_path: Path) -> None:
    first = make_kernel(tmp_path, fsync="none")
    with pytest.raises(WalError, match="locked by another writer"):
        make_kernel(tmp_path, fsync="none")
    first.process_intent(KernelIntent("x", "t", 0, "BTC", "LONG", "ENTER", 100.0, 1.0, timestamp=1.0))


HOLDS_THE_LOG = """
import sys
from dita import ExecutionKernel
kernel = ExecutionKernel(max_slots=2, kernel_id="held", wal_dir=sys.argv[1], fsync="none")
print("open", flush=True)
sys.stdin.readline()
kernel.close()
"""


def test_a_log_another_process_holds_is_refused_naming_that_process(tmp_path: Path) -> None:
    """Two processes on one wal_dir: the second is refused, and told which process holds the
    log (before: "locked by another writer", and the operator had to find it)."""
    import subprocess

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDS_THE_LOG, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        with pytest.raises(WalError, match=rf"locked by another writer: process {holder.pid}\b"):
            ExecutionKernel(max_slots=2, kernel_id="held", wal_dir=str(tmp_path))
    finally:
        holder.communicate("\n", timeout=30)
    assert holder.returncode == 0
    ExecutionKernel(max_slots=2, kernel_id="held", wal_dir=str(tmp_path)).close()


# A kernel on the log in sys.argv[1] (fsync sys.argv[3]) forks; the child tries an input and a
# close, and exits as a Python program does (its exit code: 0 when both were refused naming
# the fork); the parent goes on, closes and prints what it saw.
FORK_TRIES_AN_INPUT = """
import json, os, sys
from dita import ExecutionKernel
from dita._kernel import WalError
kernel = ExecutionKernel(max_slots=2, kernel_id="forked", wal_dir=sys.argv[1], fsync=sys.argv[3])
for i in range(5):
    kernel.mark_price("BTC", 100.0 + i)
head = kernel.wal_info()["head_hash"]
pid = os.fork()
if pid == 0:
    # Reads answer as of the fork (the head hash None while records were unhashed then), never
    # waiting for a lock the parent's writer thread held at the fork.
    info = kernel.wal_info()
    read = info["last_seq"] == 5 and "forked" in info["poisoned"] and info["head_hash"] in (None, head)
    try:
        kernel.mark_price("BTC", 999.0)
        code = 1
    except WalError as exc:
        code = 0 if "forked" in str(exc) and kernel.seq == 5 else 2
    code = code or (0 if read else 5)
    try:
        kernel.close()
        code = code or 3
    except WalError as exc:
        code = code or (0 if "forked" in str(exc) else 4)
    sys.exit(code)
_, status = os.waitpid(pid, 0)
for i in range(3):
    kernel.mark_price("BTC", 200.0 + i)
kernel.close()
print(json.dumps({"child": os.waitstatus_to_exitcode(status), "seq": kernel.seq}))
"""


@pytest.mark.parametrize("fsync", ["always", "batch", "none"])
def test_a_process_forked_from_a_kernel_cannot_write_to_its_log(tmp_path: Path, fsync: str) -> None:
    """A process forked from the kernel's (os.fork, a multiprocessing worker started by fork)
    holds a copy of its log, lock included, and cannot write to it: an input there, appended to
    the parent's segment (with the parent's buffered records a second time), would leave the
    parent's log unable to open, its acknowledged inputs after the fork lost."""
    seen = run_child(FORK_TRIES_AN_INPUT, tmp_path / "wal", fsync)
    assert seen == {"child": 0, "seq": 8}
    again = ExecutionKernel(wal_dir=str(tmp_path / "wal"))
    assert again.seq == 8 and again.wal_info() is not None
    again.close()
    assert wal_verify(tmp_path / "wal")["last_seq"] == 8


WORKER_OUTLIVES_THE_KERNEL = """
import json, multiprocessing, sys
from dita import ExecutionKernel
from dita._kernel import WalError

def work(ready, stop):
    ready.set()
    stop.wait(30)

if __name__ == "__main__":
    ctx = multiprocessing.get_context("fork")
    kernel = ExecutionKernel(max_slots=2, kernel_id="pooled", wal_dir=sys.argv[1], fsync="always")
    kernel.mark_price("BTC", 100.0)
    ready, stop = ctx.Event(), ctx.Event()
    worker = ctx.Process(target=work, args=(ready, stop))
    worker.start()
    ready.wait(30)
    kernel.close()
    try:
        again = ExecutionKernel(max_slots=2, kernel_id="pooled", wal_dir=sys.argv[1])
        said = {"seq": again.seq}
        again.close()
    except WalError as exc:
        said = {"refused": str(exc)}
    stop.set()
    worker.join(30)
    print(json.dumps(said))
"""


def test_a_kernel_reopens_its_log_while_a_worker_forked_from_it_lives(tmp_path: Path) -> None:
    """A multiprocessing worker started by fork shared the log's lock (a flock belongs to the
    open file, which the fork shares): the kernel closed and opened again in the process was
    refused as "locked by another writer" for as long as the worker lived."""
    script = tmp_path / "pooled.py"
    script.write_text(WORKER_OUTLIVES_THE_KERNEL)
    import subprocess

    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "wal")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"seq": 1}


def test_a_log_closed_on_another_thread_while_a_kernel_waits_for_its_lock_opens(tmp_path: Path) -> None:
    """A log whose lock another holds is asked for again for a moment before it is refused,
    without the GIL: a thread closing the holder meanwhile runs, and the waiting kernel opens.
    Held, the close waited for the refusal."""
    import threading
    import time

    first = make_kernel(tmp_path, fsync="none")
    first.process_intent(KernelIntent("x", "t", 0, "BTC", "LONG", "ENTER", 100.0, 1.0, timestamp=1.0))

    def close_soon() -> None:
        time.sleep(0.02)
        first.close()

    closer = threading.Thread(target=close_soon)
    closer.start()
    try:
        second = make_kernel(tmp_path, fsync="none")
    finally:
        closer.join()
    assert second.slot(0).trade_id == "t"


def test_a_torn_tail_is_cut_and_reported(tmp_path: Path) -> None:
    kernel = make_kernel(tmp_path, fsync="always")
    _feed(kernel, seed=6, steps=25)
    expected = kernel.snapshot()
    del kernel
    segment = _segments(tmp_path)[-1]
    whole = segment.read_bytes()
    good = len(whole)
    with segment.open("ab") as f:
        f.write(b"\x50\x00\x00\x00 a record cut short by a power failure")
    again = make_kernel(tmp_path)
    info = again.wal_info()
    assert info is not None
    torn = info["recovery"]["torn_tail"]
    assert torn == {"segment": str(segment), "offset": good, "bytes_dropped": 42, "seq": 27}
    assert again.snapshot() == expected
    # Cut there: the next record written (the open's skip of client order ids) follows it.
    assert segment.read_bytes()[:good] == whole and b"cut short" not in segment.read_bytes()


def test_what_recovery_cut_skipped_or_removed_is_logged_as_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A torn tail cut, a damaged checkpoint skipped and a leftover temporary file removed were
    only in wal_info()["recovery"]: a kernel opened by a service said nothing of what its
    restart dropped. The kernel's logger now tells each (kernel id, file, position)."""
    import logging

    kernel = make_kernel(tmp_path, fsync="always", wal_checkpoint_every=0)
    _feed(kernel, seed=6, steps=10)
    kernel.wal_checkpoint()
    _feed(kernel, seed=7, steps=5)
    close_as_a_crash_leaves_it(kernel)  # records after the newest checkpoint, a torn one last
    del kernel
    (newest,) = [c for c in tmp_path.glob("ckpt-*.ckpt") if not c.name.startswith("ckpt-0000000000000000000")]
    data = bytearray(newest.read_bytes())
    data[-3] ^= 0x5A
    newest.write_bytes(bytes(data))
    leftover = tmp_path / "ckpt-00000000000000000099.ckpt.tmp"
    leftover.write_bytes(b"half")
    segment = _segments(tmp_path)[-1]
    good = segment.stat().st_size
    with segment.open("ab") as f:
        f.write(b"\x50\x00\x00\x00 a record cut short by a power failure")
    with caplog.at_level(logging.WARNING, logger="dita.kernel"):
        again = make_kernel(tmp_path)
    said = [r.getMessage() for r in caplog.records if r.name == "dita.kernel"]
    torn = [m for m in said if "torn" in m]
    assert len(torn) == 1 and f"{segment} at byte {good}" in torn[0] and "42 bytes" in torn[0], said
    assert f"seq {recovered_seq(again) + 1}" in torn[0] and KERNEL_ID in torn[0], said
    assert any(str(newest) in m and "skipped" in m for m in said), said
    assert any(str(leftover) in m and "removed" in m for m in said), said
    caplog.clear()
    again.close()
    newest.unlink()  # skipped at every open while it is there
    with caplog.at_level(logging.WARNING, logger="dita.kernel"):
        make_kernel(tmp_path).close()
    assert not [r for r in caplog.records if r.name == "dita.kernel"], "a clean open says nothing"


def test_damage_inside_the_log_refuses_to_open_naming_segment_and_offset(tmp_path: Path) -> None:
    kernel = make_kernel(tmp_path, fsync="none", wal_checkpoint_every=0)
    _feed(kernel, seed=8, steps=40)
    # No checkpoint after the records: recovery replays them all, the damaged one among them.
    close_as_a_crash_leaves_it(kernel)
    del kernel
    segment = _segments(tmp_path)[-1]
    data = bytearray(segment.read_bytes())
    offset = len(data) // 2
    data[offset] ^= 0xFF
    segment.write_bytes(bytes(data))
    with pytest.raises(WalError) as refused:
        make_kernel(tmp_path)
    message = str(refused.value)
    assert segment.name in message and "byte offset" in message and "record seq" in message
    # Refusing changed nothing on disk.
    assert segment.read_bytes() == bytes(data)


@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        ({"venue": 5}, TypeError, "invalid venue: int has no submit"),
        ({"journal": object()}, TypeError, "invalid journal: object has no attach"),
        ({"projection": "hz"}, TypeError, "invalid projection: str has no attach"),
    ],
)
def test_a_refused_constructor_leaves_no_log_behind(
    tmp_path: Path, kwargs: dict[str, Any], exc: type[Exception], message: str
) -> None:
    """Everything is checked before the log is opened: a retry must not recover a log the
    refused call left, with that call's settings instead of its own."""
    log = tmp_path / "wal"
    with pytest.raises(exc, match=message):
        ExecutionKernel(max_slots=3, wal_dir=str(log), seed_capital=1000.0, **kwargs)
    assert not log.exists() or not any(log.iterdir())
    again = ExecutionKernel(max_slots=5, wal_dir=str(log), seed_capital=5000.0)
    assert again.max_slots == 5 and again.account()["seed_capital"] == 5000.0


def test_input_too_large_to_log_is_refused_before_it_is_applied(tmp_path: Path) -> None:
    """An input the log could not hold would be applied and then stop the kernel for good:
    text over 1 MiB, metadata over 4 MiB and over 1024 exit legs are refused at once."""
    k = ExecutionKernel(max_slots=2, kernel_id="kw", wal_dir=str(tmp_path))
    big = "x" * ((1 << 20) + 1)
    with pytest.raises(ValueError, match=r"invalid reason: 1048577 bytes long \(at most 1048576\)"):
        KernelIntent("i1", "t1", 0, "BTC", "LONG", "ENTER", 100.0, 1.0, reason=big)
    with pytest.raises(ValueError, match="invalid intent_id: 1048577 bytes"):
        KernelIntent(big, "t1", 0, "BTC", "LONG", "ENTER", 100.0, 1.0)
    with pytest.raises(ValueError, match="invalid metadata: more than 4194304 bytes"):
        KernelIntent(
            "i1",
            "t1",
            0,
            "BTC",
            "LONG",
            "ENTER",
            100.0,
            1.0,
            metadata={str(i): "y" * 100_000 for i in range(50)},
        )
    with pytest.raises(ValueError, match=r"invalid exit_leg_ratios: 2000 legs \(at most 1024\)"):
        KernelIntent("i1", "t1", 0, "BTC", "LONG", "EXIT", 100.0, 1.0, exit_leg_ratios=[0.0001] * 2000)
    with pytest.raises(ValueError, match="invalid source: 1048577 bytes"):
        k.update_control(mode="HALTED", source=big)
    with pytest.raises(ValueError, match="invalid asset: 1048577 bytes"):
        k.mark_price(big, 100.0)
    with pytest.raises(ValueError, match="invalid asset: 1048577 bytes"):
        k.on_edge_update(big, 1.0)
    with pytest.raises(ValueError, match="invalid asset: 1048577 bytes"):
        k.set_market_limits(big, {"lot_step": 0.1})
    assert k.seq == 0 and k.control()["mode"] != "HALTED"
    out = k.process_intent(KernelIntent("i1", "t1", 0, "BTC", "LONG", "ENTER", 100.0, 1.0, reason="x" * 1000))
    assert out.accepted and k.seq >= 1, "the log still takes input"


def test_close_waits_for_a_venue_call_under_way_so_its_fill_is_logged(tmp_path: Path) -> None:
    """close() from another thread while the venue is answering a submit: the answer (a fill)
    is applied and logged before the log is released, or a reopened kernel would not know of
    a position the venue holds."""
    import threading
    import time

    answering = threading.Event()

    class SlowVenue:
        name = "slow"

        def submit(self, order: Any) -> list[VenueEvent]:
            answering.set()
            time.sleep(0.5)
            return [
                VenueEvent(
                    "f1",
                    order.trade_id,
                    order.slot_id,
                    "FILL",
                    venue_client_id=order.client_order_id,
                    price=100.0,
                    size=order.size,
                    filled_size=order.size,
                    fill_id="F1",
                    timestamp=2.0,
                )
            ]

        def cancel(self, order: Any) -> list[VenueEvent]:
            return []

    journal = InMemoryJournal()
    kernel = ExecutionKernel(
        max_slots=1, venue=SlowVenue(), kernel_id="slow", wal_dir=str(tmp_path), journal=journal
    )
    trading = threading.Thread(
        target=kernel.process_intent,
        args=(KernelIntent("i1", "t1", 0, "BTC", "LONG", "ENTER", 100.0, 1.0, timestamp=1.0),),
    )
    trading.start()
    assert answering.wait(5)
    kernel.close()
    trading.join()
    assert [row["fill_id"] for row in journal.rows("fills")] == ["F1"], "the journal has the answer too"
    reopened = ExecutionKernel(max_slots=1, kernel_id="slow", wal_dir=str(tmp_path))
    assert reopened.slot_state(0).size == 1.0 and reopened.seq == kernel.seq
    reopened.close()


def test_closing_a_kernel_from_inside_its_own_venue_call_is_refused_at_once(tmp_path: Path) -> None:
    """That call cannot end before close() returns: waiting for it would hang; the kernel
    stays open and is closed after the call."""
    import time

    seen: list[str] = []

    class ClosingVenue:
        name = "closing"
        kernel: ExecutionKernel

        def submit(self, order: Any) -> list[VenueEvent]:
            started = time.monotonic()
            try:
                self.kernel.close()
            except RuntimeError as exc:
                seen.append(f"{exc} after {time.monotonic() - started:.1f}s")
            return []

        def cancel(self, order: Any) -> list[VenueEvent]:
            return []

    venue = ClosingVenue()
    kernel = ExecutionKernel(max_slots=1, venue=venue, kernel_id="closing", wal_dir=str(tmp_path))
    venue.kernel = kernel
    out = kernel.process_intent(
        KernelIntent("i1", "t1", 0, "BTC", "LONG", "ENTER", 100.0, 1.0, timestamp=1.0)
    )
    assert out.accepted and len(seen) == 1
    assert "from inside this kernel's own venue call" in seen[0] and seen[0].endswith("after 0.0s")
    kernel.mark_price("BTC", 101.0)  # still open
    kernel.close()
    with pytest.raises(RuntimeError, match="is closed"):
        kernel.mark_price("BTC", 102.0)


@pytest.mark.parametrize("checkpoint", [False, True])
def test_orders_kept_for_late_fills_survive_a_restart_as_they_were(tmp_path: Path, checkpoint: bool) -> None:
    """An entry canceled with nothing filled, one canceled part-filled, and two ended orders
    sharing a venue id: after a restart from the log (or a checkpoint) late fills route and
    are refused exactly as they would have been live."""
    from dita import VenueEvent

    def event(kind: str, event_id: str, coid: str, **kw: Any) -> VenueEvent:
        return VenueEvent(event_id, "", -1, kind, venue_client_id=coid, timestamp=1_700_000_100.0, **kw)

    def open_kernel() -> ExecutionKernel:
        return ExecutionKernel(
            max_slots=3, venue=HeldVenue(), kernel_id="late", wal_dir=tmp_path, fsync="none"
        )

    kernel = open_kernel()
    coids = []
    for slot in range(3):
        kernel.process_intent(
            KernelIntent(f"e{slot}", f"t{slot}", slot, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0)
        )
        order = kernel.slot_state(slot).active_entry_order
        assert order is not None
        coids.append(order.client_order_id)
    kernel.on_venue_event(event("FILL", "f0", coids[0], price=100.0, size=0.3, fill_id="F0"))
    kernel.on_venue_event(event("CANCEL_ACK", "c0", coids[0]))
    for slot in (1, 2):  # the venue reuses V once the first order is over
        kernel.on_venue_event(event("ORDER_ACK", f"a{slot}", coids[slot], venue_order_id="V"))
        kernel.on_venue_event(event("CANCEL_ACK", f"c{slot}", coids[slot]))
    if checkpoint:
        kernel.wal_checkpoint()
    kernel.close()

    again = open_kernel()
    same_event = again.on_venue_event(event("FILL", "f0", coids[0], price=100.0, size=0.3))
    assert same_event.diagnostic_code.name == "DUPLICATE_EVENT"
    resent = again.on_venue_event(event("FILL", "f0b", coids[0], price=100.0, size=0.3, fill_id="F0"))
    assert resent.diagnostic_code.name == "DUPLICATE_EVENT"
    assert again.on_venue_event(event("FILL", "f1", coids[0], price=100.0, size=0.7)).accepted
    shared = again.on_venue_event(event("FILL", "f2", "", venue_order_id="V", price=100.0, size=1.0))
    assert shared.diagnostic_code.name == "UNKNOWN_ORDER" and not shared.accepted
    late = again.on_venue_event(event("FILL", "f3", coids[2], price=100.0, size=1.0))
    assert late.accepted and late.state.name == "POSITION_OPEN"
    assert [again.slot_state(i).size for i in range(3)] == [1.0, 0.0, 1.0]
    again.close()


def test_slots_too_large_for_one_log_record_are_refused_before_they_apply(tmp_path: Path) -> None:
    """Applied first, such slots could not be logged and the kernel would stop for good."""
    kernel = ExecutionKernel(max_slots=17, kernel_id="big", wal_dir=str(tmp_path))
    slots = kernel.slots()
    for s in slots:
        s["metadata"] = {"note": "x" * ((4 << 20) - 100)}  # within the 4 MiB a metadata dict may hold
    before = (kernel.seq, kernel.slots())
    with pytest.raises(
        ValueError, match=r"invalid slots: \d+ bytes as one write-ahead log record \(at most 67108864"
    ):
        kernel.reconcile_from_slots(slots)
    assert (kernel.seq, kernel.slots()) == before
    slots[0]["metadata"] = {"note": "fits"}
    for s in slots[1:]:
        s["metadata"] = {}
    assert kernel.load_slots(slots) == 0  # the kernel and its log go on
    assert kernel.wal_sync() == kernel.seq
    kernel.close()


def _paper() -> Any:
    from dita.venues.paper import PaperVenue

    return PaperVenue()


@pytest.mark.parametrize("venue", [None, _paper], ids=["native-mock", "paper"])
def test_a_simulated_venue_started_afresh_beside_a_recovered_kernel_loses_no_fill(
    tmp_path: Path, venue: Any
) -> None:
    """The venue counts its ids from 1 again, while the recovered slot remembers the ids of
    the last run's events: ids naming the order keep them apart, so every fill books."""

    def trade(kernel: ExecutionKernel, v: Any, n: int) -> None:
        ts = 1_700_000_000.0 + 10 * n
        for action in ("ENTER", "EXIT"):
            if v is not None:
                for ev in v.on_quote("BTCUSDT", 100.0, 100.1, 10.0, 10.0, ts=ts):
                    assert kernel.on_venue_event(ev).accepted
            out = kernel.process_intent(
                KernelIntent(
                    f"{action}{n}",
                    f"t{n}",
                    0,
                    "BTCUSDT",
                    "LONG",
                    action,
                    100.0,
                    1.0 if action == "ENTER" else 0.0,
                    timestamp=ts,
                )
            )
            assert out.accepted and "venue_event_refused" not in out.details, out.details
            ts += 1
        if v is not None:
            for ev in v.on_quote("BTCUSDT", 100.0, 100.1, 10.0, 10.0, ts=ts):
                assert kernel.on_venue_event(ev).accepted
        assert kernel.slot_state(0).fsm_state.name == "CLOSED" and kernel.slot_state(0).size == 0.0

    for life in range(2):
        v = venue() if venue else None
        kwargs: dict[str, Any] = {"venue": v} if v is not None else {}
        kernel = ExecutionKernel(max_slots=1, kernel_id="fresh-venue", wal_dir=str(tmp_path), **kwargs)
        if life == 0:
            kernel.set_seed_capital(10_000.0)
        for n in range(3):
            trade(kernel, v, 3 * life + n)
        kernel.close()


@pytest.mark.parametrize("venue", ["native-mock", "paper"])
def test_a_recovered_kernel_tells_its_venue_to_mark_its_ids(tmp_path: Path, venue: str) -> None:
    """An order both runs answer (resting in the first, canceled in the second) would get the
    same first event id from a venue started afresh: the recovered kernel calls the venue's
    resume(seq), so the answer carries the seq and is not refused as a duplicate."""
    from dita import MockVenueAdapter
    from dita.venues.paper import PaperVenue

    def make() -> Any:
        if venue == "paper":
            v = PaperVenue()
            v.on_quote("BTCUSDT", 100.0, 100.1, 10.0, 10.0, ts=1_700_000_000.0)
            return v
        return MockVenueAdapter(fill_rate=0.0)

    def limit(action: str, n: int) -> KernelIntent:
        return KernelIntent(f"{action}{n}", "t1", 0, "BTCUSDT", "LONG", action, 100.0,
                            1.0 if action == "ENTER" else 0.0, order_type="LIMIT", limit_price=90.0,
                            timestamp=1_700_000_001.0 + n)  # fmt: skip

    kernel = ExecutionKernel(max_slots=1, venue=make(), kernel_id="resume", wal_dir=str(tmp_path))
    kernel.set_seed_capital(10_000.0)
    first = kernel.process_intent(limit("ENTER", 0))
    assert first.state.name == "ENTRY_WORKING"
    seq = kernel.seq
    kernel.close()
    again = ExecutionKernel(max_slots=1, venue=make(), kernel_id="resume", wal_dir=str(tmp_path))
    out = again.process_intent(limit("CANCEL", 1))
    assert out.accepted and "venue_event_refused" not in out.details, out.details
    ids = [e.event_id for e in out.emitted_events]
    assert ids and all(f"-s{seq}-" in i for i in ids)
    assert not {e.event_id for e in first.emitted_events} & set(ids)
    again.close()


def test_resume_refuses_a_seq_that_is_not_a_count() -> None:
    from dita.venues.paper import PaperVenue

    venue = PaperVenue()
    for bad in (-1, 1.5, True, "3"):
        with pytest.raises(ValueError, match=f"seq must be an int >= 0, got {bad!r}"):
            venue.resume(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "venue",
    ["shadow", "paper", "native-mock"],
)
def test_a_venue_two_recovered_kernels_share_never_repeats_an_id(tmp_path: Path, venue: str) -> None:
    """Two kernels on one venue each call its resume(seq). When only one of them traded in
    the last run, the other's seq is the same as then: a venue keeping the last seq it was told
    marked this run's ids like the last run's, and the kernel that traded refused them."""
    from dita import MockVenueAdapter
    from dita.venues import PaperVenue, ShadowVenue

    def make() -> Any:
        if venue == "paper":
            v = PaperVenue(slippage_bps=0.0)
            # The long the kernels' entries built, as an exchange keeps it while they are down
            # (a fresh paper venue holds none, and expires the exit, reduce-only, unfilled);
            # restored with the quote, no order id is taken.
            book = {**PaperVenue().book(), "now": 1_700_000_000.0, "positions": {"BTCUSDT": 3.0}}
            v.restore_book({**book, "quotes": {"BTCUSDT": [100.0, 100.0, 100.0, 100.0]}})
            return v
        return ShadowVenue() if venue == "shadow" else MockVenueAdapter()

    def life() -> tuple[ExecutionKernel, ExecutionKernel]:
        shared = make()
        a, b = (
            ExecutionKernel(max_slots=2, venue=shared, kernel_id=k, wal_dir=str(tmp_path / k)) for k in "ab"
        )
        return a, b

    def intent(n: int, slot: int, action: str) -> KernelIntent:
        return KernelIntent(f"i{n}", f"t{slot}", slot, "BTCUSDT", "LONG", action, 100.0, 1.0,
                            timestamp=1_700_000_001.0 + n)  # fmt: skip

    a, b = life()
    for k in (a, b):
        k.set_seed_capital(10_000.0)
        assert k.process_intent(intent(0, 0, "ENTER")).state.name == "POSITION_OPEN"
        k.close()
    a, b = life()  # both at the same seq; only a trades
    assert a.process_intent(intent(1, 1, "ENTER")).state.name == "POSITION_OPEN"
    a.close(), b.close()
    a, b = life()
    out = a.process_intent(intent(2, 1, "EXIT"))
    assert "venue_event_refused" not in out.details, out.details
    assert a.slot_state(1).fsm_state.name == "CLOSED"
    a.close(), b.close()


def _checkpointed_then_marked(tmp_path: Path) -> tuple[dict[str, Any], int, Path]:
    """A log in ``tmp_path`` whose newest checkpoint has an input after it, as a crash leaves it:
    the state and seq a recovery must reach without that checkpoint, and the checkpoint's path."""
    kernel = make_kernel(tmp_path, fsync="none", wal_checkpoint_every=0)
    _feed(kernel, seed=5, steps=30)
    kernel.wal_checkpoint()
    kernel.mark_price("BTC", 101.0)
    expected, seq = kernel.snapshot(), kernel.seq
    close_as_a_crash_leaves_it(kernel)
    return expected, seq, sorted(tmp_path.glob("ckpt-*.ckpt"))[-1]


@pytest.mark.parametrize("at", [8, 9, 14], ids=["version-lo", "version-hi", "kernel-id"])
def test_a_checkpoint_whose_header_is_damaged_is_skipped_like_any_damaged_checkpoint(
    tmp_path: Path, at: int
) -> None:
    # A flipped bit in a checkpoint's version or kernel id is damage (its digest says so), not
    # another version's or kernel's file: it must be skipped, not refuse the whole log.
    expected, seq, newest = _checkpointed_then_marked(tmp_path)
    data = bytearray(newest.read_bytes())
    data[at] ^= 0x5A
    newest.write_bytes(bytes(data))
    again = make_kernel(tmp_path)
    assert recovered_seq(again) == seq and again.snapshot() == expected
    info = again.wal_info()
    assert info is not None
    assert [s["path"] for s in info["recovery"]["skipped_checkpoints"]] == [str(newest)]
    again.close()


# Opens the log in sys.argv[1] with at most 3 GiB of address space; prints its recovery.
OPEN_WITH_LITTLE_MEMORY = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, resource.RLIM_INFINITY))
from dita import ExecutionKernel
kernel = ExecutionKernel(wal_dir=sys.argv[1])
found = kernel.wal_info()["recovery"]
print(json.dumps({"seq": found["last_seq"], "snapshot": kernel.snapshot(), **found}))
kernel.close()
"""


def test_a_checkpoint_that_cannot_be_read_is_skipped_like_a_damaged_one(tmp_path: Path) -> None:
    """A checkpoint whose read fails (here a size no memory holds; on a disk, a bad sector's EIO)
    is damage in the form a disk shows most: it is skipped and reported, and the previous one
    recovers the same state, rather than the kernel refusing to start on a whole log."""
    expected, seq, newest = _checkpointed_then_marked(tmp_path)
    with newest.open("r+b") as f:
        f.truncate(8 << 30)  # sparse
    found = run_child(OPEN_WITH_LITTLE_MEMORY, tmp_path)
    assert found["seq"] == seq and found["snapshot"] == json.loads(json.dumps(expected))
    assert found["checkpoint_seq"] == 0
    assert [s["path"] for s in found["skipped_checkpoints"]] == [str(newest)]
    assert "read checkpoint" in found["skipped_checkpoints"][0]["reason"]


def test_whole_log_replay_after_damaged_checkpoints_keeps_the_logs_slot_count(tmp_path: Path) -> None:
    # The log's first checkpoint (seq 0) is the only place its kernel's shape is written: when
    # every later checkpoint is damaged, recovery replays the whole log from it, not from a
    # kernel built from the constructor's defaults.
    kernel = ExecutionKernel(max_slots=3, kernel_id="shape", wal_dir=str(tmp_path), fsync="none")
    for price in (100.0, 101.0, 102.0):
        kernel.mark_price("BTC", price)
        kernel.wal_checkpoint()
    kernel.mark_price("BTC", 103.0)
    expected, seq = kernel.snapshot(), kernel.seq
    kernel.close()
    for checkpoint in tmp_path.glob("ckpt-*.ckpt"):
        if not checkpoint.name.endswith("0" * 20 + ".ckpt"):
            data = bytearray(checkpoint.read_bytes())
            data[-1] ^= 0x01
            checkpoint.write_bytes(bytes(data))
    again = ExecutionKernel(kernel_id="shape", wal_dir=str(tmp_path))
    assert again.max_slots == 3
    assert recovered_seq(again) == seq and again.snapshot() == expected
    again.close()


def test_a_log_whose_first_checkpoint_is_lost_needs_its_slot_count_given(tmp_path: Path) -> None:
    # Checkpoint 0 is the only record of the kernel's shape. Before: with it damaged (and no
    # later checkpoint), a reopen without max_slots replayed the log into a kernel of the
    # default 10 slots, silently more than the 3 it was made with.
    kernel = ExecutionKernel(max_slots=3, kernel_id="shape", wal_dir=str(tmp_path), fsync="none")
    kernel.mark_price("BTC", 100.0)
    expected, seq = kernel.snapshot(), kernel.seq
    close_as_a_crash_leaves_it(kernel)  # no later checkpoint to recover from
    (first,) = tmp_path.glob("ckpt-*.ckpt")
    data = bytearray(first.read_bytes())
    data[-1] ^= 0x01
    first.write_bytes(bytes(data))
    with pytest.raises(WalError, match=rf"{re.escape(str(tmp_path))} has no usable checkpoint.*max_slots"):
        ExecutionKernel(kernel_id="shape", wal_dir=str(tmp_path))
    assert first.read_bytes() == bytes(data) and len(list(tmp_path.glob("ckpt-*.ckpt"))) == 1
    again = ExecutionKernel(max_slots=3, wal_dir=str(tmp_path))  # given: replayed into it
    assert again.max_slots == 3 and recovered_seq(again) == seq and again.snapshot() == expected
    again.close()


def test_a_log_of_only_a_segment_header_needs_its_slot_count_given(tmp_path: Path) -> None:
    """A process that died after the log's first segment and before checkpoint 0 (or whose
    checkpoint 0 was lost before any record) left a log with no record of its slot count,
    taken for a new one: a reopen without max_slots wrote checkpoint 0 with the default 10."""
    ExecutionKernel(max_slots=3, kernel_id="shape", wal_dir=str(tmp_path), fsync="none").close()
    (first,) = tmp_path.glob("ckpt-*.ckpt")
    first.unlink()
    with pytest.raises(WalError, match=r"has no usable checkpoint.*max_slots"):
        ExecutionKernel(kernel_id="shape", wal_dir=str(tmp_path))
    assert list(tmp_path.glob("ckpt-*.ckpt")) == []
    again = ExecutionKernel(max_slots=3, kernel_id="shape", wal_dir=str(tmp_path))
    assert again.max_slots == 3
    again.close()


def test_a_failed_background_checkpoint_is_reported_and_trading_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A checkpoint only shortens recovery: the log is whole without it. One that fails in the
    background is logged as a warning at the next input, shown in wal_info(), and trading goes
    on; a later checkpoint that works clears it. Saying nothing until the next one comes due (a
    million inputs later by default), then raising OSError on the input that was due, although
    its record is logged, and refusing every input after it, would stop trading for nothing."""
    import logging
    import time

    wal_dir = tmp_path / "wal"
    kernel = ExecutionKernel(max_slots=2, kernel_id="ckpt-fail", wal_dir=str(wal_dir), wal_checkpoint_every=5)
    # A directory where the checkpoint at seq 5 writes its temporary file: its creation fails.
    blocker = wal_dir / "ckpt-00000000000000000005.ckpt.tmp"
    blocker.mkdir()
    with caplog.at_level(logging.WARNING, logger="dita.kernel"):
        for i in range(5):
            kernel.mark_price("BTC", 100.0 + i)
        deadline = time.monotonic() + 10  # for the background thread to fail
        while kernel.wal_info().get("checkpoint_error") is None and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.01)
        for i in range(5, 9):
            kernel.mark_price("BTC", 100.0 + i)
        # Read before the next checkpoint is due (seq 10): one that works clears the error, and
        # in the background it may be done before the next call here (a busy host made it so).
        info = kernel.wal_info()
        assert info is not None and info["poisoned"] is None and info["last_seq"] == 9
        assert info["checkpoint_failures"] == 1
        error = info["checkpoint_error"]
        assert "seq 5" in error and "is a directory, not a regular file" in error, error
        for i in range(9, 12):  # past the next checkpoint, due at seq 10
            kernel.mark_price("BTC", 100.0 + i)
    info = kernel.wal_info()
    assert info is not None and info["poisoned"] is None and info["last_seq"] == 12
    assert info["checkpoint_failures"] == 1
    warnings = [r for r in caplog.records if r.name == "dita.kernel"]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert "checkpoint" in warnings[0].getMessage() and "ckpt-fail" in warnings[0].getMessage()
    assert kernel.wal_sync() == 12
    assert kernel.wal_checkpoint() == 12  # a checkpoint that works clears the error
    info = kernel.wal_info()
    assert info is not None and info["checkpoint_error"] is None and info["checkpoint_failures"] == 1
    kernel.close()
    blocker.rmdir()
    again = ExecutionKernel(wal_dir=str(wal_dir))
    try:
        assert again.seq == 12 and again.wal_info()["recovery"]["checkpoint_seq"] == 12  # type: ignore[index]
    finally:
        again.close()


def test_close_warns_of_a_closing_checkpoint_it_cannot_write_and_the_log_reopens_whole(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """docs/concepts/write-ahead-log.md: close() does not raise a checkpoint's failure (a full
    disk, a read-only directory): the log is whole, and a restart replays it."""
    import logging

    wal_dir = tmp_path / "wal"
    kernel = ExecutionKernel(max_slots=2, kernel_id="close-fail", wal_dir=str(wal_dir))
    for i in range(3):
        kernel.mark_price("BTC", 100.0 + i)
    # A directory where the closing checkpoint (at seq 3) writes its temporary file.
    blocker = wal_dir / "ckpt-00000000000000000003.ckpt.tmp"
    blocker.mkdir()
    with caplog.at_level(logging.WARNING, logger="dita.kernel"):
        kernel.close()
    warnings = [r.getMessage() for r in caplog.records if r.name == "dita.kernel"]
    assert len(warnings) == 1 and "checkpoint" in warnings[0] and "close-fail" in warnings[0], warnings
    blocker.rmdir()
    again = ExecutionKernel(wal_dir=str(wal_dir))
    try:
        assert recovered_seq(again) == 3 and again.snapshot()["account"] == kernel.snapshot()["account"]
    finally:
        again.close()


def test_the_account_of_a_recovered_kernel_equals_the_live_one_with_many_assets_open(tmp_path: Path) -> None:
    # Sums over the open positions (unrealized PnL, open notional, so equity and leverage) must
    # not depend on the order a map happens to hold the assets in: a reopened kernel's maps
    # hold them in another order, and a sum taken in another order differs in its last digits.
    kernel = make_kernel(tmp_path, fsync="none")
    for slot in range(6):
        size = 0.1 * (slot + 1) + 0.07
        kernel.process_intent(
            KernelIntent(f"i{slot}", f"t{slot}", slot, f"A{slot}", "LONG", "ENTER", 100.0 + slot / 3, size)
        )
        order = kernel.slot_state(slot).active_entry_order
        assert order is not None
        kernel.on_venue_event(
            VenueEvent(
                f"f{slot}",
                f"t{slot}",
                slot,
                "FILL",
                venue_client_id=order.client_order_id,
                price=100.0 + slot / 7,
                size=order.size,
                filled_size=order.size,
                timestamp=1_700_000_000.0 + slot,
            )
        )
        kernel.mark_price(f"A{slot}", 100.0 + slot * 1.1 / 3, 1_700_000_100.0)
    expected = kernel.snapshot()
    for _ in range(8):
        kernel.close()
        kernel = make_kernel(tmp_path, fsync="none")
        assert kernel.snapshot() == expected
    kernel.close()


def test_a_clean_close_ends_the_log_with_a_checkpoint(tmp_path: Path) -> None:
    kernel = make_kernel(tmp_path, fsync="batch")
    _feed(kernel, seed=5, steps=40)
    expected, seq = kernel.snapshot(), kernel.seq
    kernel.close()
    again = make_kernel(tmp_path, fsync="batch")
    info = again.wal_info()
    assert info is not None
    assert info["recovery"]["checkpoint_seq"] == seq and info["recovery"]["replayed_records"] == 0
    assert again.snapshot() == expected
    again.close()
