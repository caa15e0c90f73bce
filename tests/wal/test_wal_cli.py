"""``dita audit verify`` catches edited, removed, reordered and truncated records and names
their position; ``dita wal replay`` prints the snapshot the kernel would recover."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from wal_workload import KERNEL_ID, make_kernel, run

from crashed_log import close_as_a_crash_leaves_it
from dita.cli import app

RECORDS = 30
FRAME_HEADER = 56  # crc u32 | len u32 | seq u64 | ts f64 | hash [32]


@pytest.fixture
def wal_dir(tmp_path: Path) -> Path:
    """A closed log of 30 records, checkpointed at its last record."""
    kernel = make_kernel(tmp_path, fsync="none", wal_checkpoint_every=0)
    for _ in run(kernel, seed=2, steps=RECORDS - 1):  # + the seed capital input
        pass
    kernel.wal_checkpoint()
    kernel.close()
    return tmp_path


def _segment(wal_dir: Path) -> Path:
    (segment,) = wal_dir.glob("seg-*.wal")
    return segment


def _frames(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of every record frame in a segment's bytes."""
    header = 8 + 2 + 2 + 2 + len(KERNEL_ID) + 8 + 32 + 4
    out, at = [], header
    while at < len(data):
        (length,) = struct.unpack_from("<I", data, at + 4)
        out.append((at, at + FRAME_HEADER + length))
        at += FRAME_HEADER + length
    return out


def _verify(wal_dir: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["audit", "verify", str(wal_dir), *extra])
    return result.exit_code, result.output


def test_verify_prints_count_sequence_and_head_hash(wal_dir: Path) -> None:
    code, out = _verify(wal_dir)
    assert code == 0, out
    assert f"records    {RECORDS}" in out and "first seq  1" in out and f"last seq   {RECORDS}" in out
    assert "chain OK" in out
    code, out = _verify(wal_dir, "--json")
    report = json.loads(out)
    assert report["ok"] and report["records"] == RECORDS and report["kernel_id"] == KERNEL_ID
    assert len(report["head_hash"]) == 64
    code, again = _verify(wal_dir, "--expect-head", report["head_hash"])
    assert code == 0, again


def _edit(data: bytearray, frames: list[tuple[int, int]]) -> bytearray:
    _, end = frames[4]
    data[end - 1] ^= 0x01
    return data


def _edit_and_fix_checksum(data: bytearray, frames: list[tuple[int, int]]) -> bytearray:
    start, end = frames[4]
    data[end - 1] ^= 0x01
    struct.pack_into("<I", data, start, zlib.crc32(bytes(data[start + 4 : end])))
    return data


def _delete(data: bytearray, frames: list[tuple[int, int]]) -> bytearray:
    start, end = frames[4]
    del data[start:end]
    return data


def _reorder(data: bytearray, frames: list[tuple[int, int]]) -> bytearray:
    (s5, e5), (s6, e6) = frames[4], frames[5]
    data[s5:e6] = data[s6:e6] + data[s5:e5]
    return data


def _truncate_inside_last(data: bytearray, frames: list[tuple[int, int]]) -> bytearray:
    return data[: frames[-1][1] - 7]


def _drop_last_record(data: bytearray, frames: list[tuple[int, int]]) -> bytearray:
    return data[: frames[-1][0]]


@pytest.mark.parametrize(
    ("tamper", "says", "seq"),
    [
        (_edit, "checksum mismatch", 5),
        (_edit_and_fix_checksum, "hash chain broken", 5),
        (_delete, "1 record(s) removed", 5),
        (_reorder, "found seq 6 where seq 5 was expected", 5),
        (_truncate_inside_last, "truncated", RECORDS),
        (_drop_last_record, "records removed from the tail", RECORDS),
    ],
)
def test_verify_reports_tampering_with_its_position(
    wal_dir: Path, tamper: Callable[[bytearray, list[tuple[int, int]]], bytearray], says: str, seq: int
) -> None:
    segment = _segment(wal_dir)
    data = bytearray(segment.read_bytes())
    frames = _frames(bytes(data))
    assert len(frames) == RECORDS
    segment.write_bytes(bytes(tamper(data, frames)))
    code, out = _verify(wal_dir)
    assert code == 1, out
    assert "AUDIT FAILED" in out and says in out and f"record seq {seq}" in out
    if seq == 5:
        assert f"{segment.name} at byte offset {frames[4][0]}" in out


def _audited_log(tmp_path: Path) -> dict[str, Any]:
    """A log of ten steps of the workload as a crash leaves it (no checkpoint after its records):
    its audit report (``--json``)."""
    kernel = make_kernel(tmp_path, fsync="none", wal_checkpoint_every=0)
    for _ in run(kernel, seed=2, steps=10):
        pass
    close_as_a_crash_leaves_it(kernel)
    del kernel
    _, out = _verify(tmp_path, "--json")
    report: dict[str, Any] = json.loads(out)
    return report


def test_expect_head_catches_a_tail_cut_at_a_record_boundary(tmp_path: Path) -> None:
    head = _audited_log(tmp_path)["head_hash"]
    segment = _segment(tmp_path)
    data = segment.read_bytes()
    segment.write_bytes(data[: _frames(data)[-1][0]])
    # The shortened chain is consistent in itself; only the recorded head shows the cut.
    assert _verify(tmp_path)[0] == 0
    code, out = _verify(tmp_path, "--expect-head", head)
    assert code == 1 and "records were removed from the end" in out


def test_expect_head_passes_a_log_that_grew_since_the_head_was_recorded(tmp_path: Path) -> None:
    """Before: the audit failed a log that merely went on after the recorded head, saying
    records were removed from the end or the log was rewritten."""
    earlier = _audited_log(tmp_path)
    again = make_kernel(tmp_path, fsync="none", wal_checkpoint_every=0)
    again.mark_price("BTC", 101.0, timestamp=1_700_000_100.0)
    again.close()
    code, out = _verify(tmp_path, "--expect-head", earlier["head_hash"])
    assert code == 0, out
    # The open's skip of client order ids (the log ended as a crash leaves it) and the mark.
    assert f"expected head at seq {earlier['last_seq']} (2 record(s) since)" in out and "chain OK" in out
    code, out = _verify(tmp_path, "--json", "--expect-head", earlier["head_hash"])
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["expect_head_seq"] == earlier["last_seq"]
    assert report["last_seq"] == earlier["last_seq"] + 2


@pytest.mark.parametrize("head", ["5f0c", "5f0c…", "", "x" * 64, "ab" * 33])
def test_a_malformed_expect_head_is_a_usage_error_not_a_failed_audit(wal_dir: Path, head: str) -> None:
    """Before: a hash cut short when copied (or any other text) failed the audit with exit 1,
    saying records were removed or the log rewritten, on an intact log."""
    code, out = _verify(wal_dir, "--expect-head", head)
    assert code == 2, out
    assert f"--expect-head must be the 64 hex digits of a head hash, got {head!r}" in out
    assert "AUDIT FAILED" not in out
    _, out = _verify(wal_dir, "--json")
    code, again = _verify(wal_dir, "--expect-head", f" {json.loads(out)['head_hash'].upper()}\n")
    assert code == 0, again


def test_verify_of_a_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    code, out = _verify(tmp_path / "nope")
    assert code == 2 and "no write-ahead log directory" in out


@pytest.mark.parametrize("command", [["audit", "verify"], ["wal", "replay"]])
def test_a_directory_holding_no_log_is_a_usage_error_naming_the_logs_below_it(
    tmp_path: Path, command: list[str]
) -> None:
    """`dita audit verify var/wal` (the parent of the kernels' logs, not a log) failed as an
    audit does (exit 1, "AUDIT FAILED"), which a script takes for a damaged or edited log."""
    parent = tmp_path / "wal"
    wal_dir = parent / "btc-1"
    make_kernel(wal_dir, fsync="none").close()
    (parent / "notes").mkdir()
    result = CliRunner().invoke(app, [*command, str(parent)])
    assert result.exit_code == 2, result.output
    assert f"{parent} holds no write-ahead log" in result.output
    assert f"the log in {wal_dir}" in result.output
    assert "AUDIT FAILED" not in result.output


@pytest.mark.parametrize("command", [["audit", "verify"], ["wal", "replay"]])
def test_a_log_whose_segments_were_all_removed_fails_as_damaged_not_as_a_usage_error(
    wal_dir: Path, command: list[str]
) -> None:
    """Its checkpoints and LOCK are still there: a log, damaged."""
    for segment in wal_dir.glob("seg-*.wal"):
        segment.unlink()
    result = CliRunner().invoke(app, [*command, str(wal_dir)])
    assert result.exit_code == 1, result.output
    assert "holds no write-ahead log segments" in result.output


@pytest.mark.parametrize("command", [["audit", "verify"], ["wal", "replay"]])
def test_an_empty_path_is_refused_not_taken_for_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """`dita wal replay "$WAL_DIR"` with the variable unset read the current directory."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, [*command, ""])
    assert result.exit_code == 2 and "must name a path, got ''" in result.output
    assert list(tmp_path.iterdir()) == []


def test_a_kernel_id_is_printed_as_it_is_not_read_as_markup(tmp_path: Path) -> None:
    """A kernel id is any text: `btc[/b]` stopped both commands with a Rich MarkupError
    traceback (exit 1, an audit failure to a script), and `btc[red]1` printed as `btc1`."""
    from dita import ExecutionKernel

    for kid in ("btc[/b]", "btc[red]1:x:"):
        log = tmp_path / str(len(kid))
        ExecutionKernel(max_slots=2, kernel_id=kid, wal_dir=str(log), seed_capital=100.0).close()
        verified = CliRunner().invoke(app, ["audit", "verify", str(log)])
        assert verified.exit_code == 0, verified.output
        assert f"kernel     {kid}\n" in verified.output
        replayed = CliRunner().invoke(app, ["wal", "replay", str(log)])
        assert replayed.exit_code == 0, replayed.output
        assert replayed.output.startswith(f"kernel {kid} recovered at seq 1: ")


def test_replay_prints_the_snapshot_the_kernel_recovers(wal_dir: Path) -> None:
    result = CliRunner().invoke(app, ["wal", "replay", str(wal_dir), "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    kernel = make_kernel(wal_dir)
    assert printed["snapshot"] == json.loads(json.dumps(kernel.snapshot()))
    assert printed["recovery"]["last_seq"] == RECORDS == kernel.seq


def test_replay_prints_json_a_strict_parser_reads(tmp_path: Path) -> None:
    """A slot's metadata may hold NaN or an infinity (a strategy's indicator before it has
    data): printed as NaN and Infinity, which are no JSON (JavaScript's, Go's or serde's
    parser refuses the whole snapshot). They are null, as in the projection."""
    from dita import ExecutionKernel

    kernel = ExecutionKernel(max_slots=2, kernel_id="k", wal_dir=str(tmp_path), seed_capital=100.0)
    kernel.set_slot_metadata(0, {"sma": float("nan"), "band": float("inf"), "n": 3})
    kernel.close()

    def strict(text: str) -> Any:
        return json.loads(text, parse_constant=lambda word: pytest.fail(f"{word} is no JSON"))

    result = CliRunner().invoke(app, ["wal", "replay", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    assert strict(result.output)["snapshot"]["slots"][0]["metadata"] == {"sma": None, "band": None, "n": 3}
    result = CliRunner().invoke(app, ["wal", "replay", str(tmp_path)])
    assert result.exit_code == 0, result.output
    printed = strict(result.output.split("\n", 1)[1])  # after the line saying where it recovered from
    assert printed["slots"][0]["metadata"] == {"sma": None, "band": None, "n": 3}


def test_replay_reports_a_torn_tail_and_leaves_the_log_alone(tmp_path: Path) -> None:
    kernel = make_kernel(tmp_path, fsync="none", wal_checkpoint_every=0)
    for _ in run(kernel, seed=2, steps=RECORDS - 1):
        pass
    close_as_a_crash_leaves_it(kernel)
    del kernel
    wal_dir = tmp_path
    segment = _segment(wal_dir)
    data = segment.read_bytes()
    cut = data[: _frames(data)[-1][1] - 3]
    segment.write_bytes(cut)
    result = CliRunner().invoke(app, ["wal", "replay", str(wal_dir)])
    assert result.exit_code == 0, result.output
    assert "torn record" in result.output
    assert f"recovered at seq {RECORDS - 1}" in result.output
    assert segment.read_bytes() == cut


def test_replay_of_a_damaged_log_fails_with_the_position(wal_dir: Path) -> None:
    segment = _segment(wal_dir)
    data = bytearray(segment.read_bytes())
    frames = _frames(bytes(data))
    # Damage a record after the checkpoint's position is impossible here (checkpoint at the
    # end), so drop the checkpoints: replay then walks every record and meets the damage.
    for checkpoint in wal_dir.glob("ckpt-*.ckpt"):
        checkpoint.unlink()
    data[frames[2][1] - 1] ^= 0x01
    segment.write_bytes(bytes(data))
    result = CliRunner().invoke(app, ["wal", "replay", str(wal_dir)])
    assert result.exit_code == 1
    assert f"byte offset {frames[2][0]}" in result.output and "record seq 3" in result.output


@pytest.mark.parametrize("steps", [RECORDS + 9, RECORDS - 6])
def test_replay_refuses_a_checkpoint_of_another_log_naming_what_does_not_match(
    wal_dir: Path, tmp_path_factory: pytest.TempPathFactory, steps: int
) -> None:
    """A checkpoint of another run under the same kernel id, copied into the log, is refused
    naming it, before its state is replayed: past the log's records, or at a seq whose chain
    hash or record boundary is this log's own."""
    other_dir = tmp_path_factory.mktemp("other-run")
    other = make_kernel(other_dir, fsync="none", wal_checkpoint_every=0)
    for _ in run(other, seed=3, steps=steps):
        pass
    other.wal_checkpoint()
    other.close()
    foreign = max(other_dir.glob("ckpt-*.ckpt"), key=lambda p: int(p.stem.split("-")[1]))
    for own in wal_dir.glob("ckpt-*.ckpt"):
        if int(own.stem.split("-")[1]) > 0:
            own.unlink()  # so the foreign one is the newest
    (wal_dir / foreign.name).write_bytes(foreign.read_bytes())
    result = CliRunner().invoke(app, ["wal", "replay", str(wal_dir)])
    assert result.exit_code == 1, result.output
    assert foreign.name in result.output and "not of this log" in result.output, result.output
    assert "recovered at" not in result.output
    if steps > RECORDS:
        assert f"records end at seq {RECORDS}" in result.output, result.output


def test_an_unreadable_segment_fails_the_audit_and_the_replay_without_a_traceback(wal_dir: Path) -> None:
    segment = _segment(wal_dir)
    segment.unlink()
    segment.mkdir()  # refused as no regular file; an I/O error or a permission fails the same way
    for args, says in ((["audit", "verify"], "AUDIT FAILED"), (["wal", "replay"], "cannot replay")):
        result = CliRunner().invoke(app, [*args, str(wal_dir)])
        assert result.exit_code == 1
        assert isinstance(result.exception, SystemExit), result.exception
        assert says in result.output and segment.name in result.output


# A FIFO or a device in the log is refused at once, naming it. Opened, a FIFO under a
# segment's, a checkpoint's or the LOCK's name would block every reader of the log in open(2)
# forever (both commands, wal_kernel_id, the kernel's constructor), and a link to /dev/zero
# under a checkpoint's name be read until memory runs out. Each run is a child process with
# at most 1 GiB of address space and WAIT_S seconds, so a regression fails instead of hanging.
WAIT_S = 60  # a loaded host starts the CLI in seconds; a regression blocks for ever


def _guarded(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, *args]
    try:
        return subprocess.run(
            ["sh", "-c", f'ulimit -v {1 << 20} && exec "$@"', "sh", *command],
            capture_output=True,
            text=True,
            timeout=WAIT_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(args)[:200]!r} still running after {WAIT_S} s: blocked on a FIFO of the log?")


def _special_in_place_of(victim: Path, special: str) -> str:
    """A FIFO (``"fifo"``) or a link to ``special`` in place of ``victim``; what it is called."""
    victim.unlink()
    if special == "fifo":
        os.mkfifo(victim)
        return "a FIFO"
    victim.symlink_to(special)
    return "a character device"


@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
@pytest.mark.parametrize("prefix", ["seg-", "ckpt-"])
def test_a_fifo_or_a_device_in_the_log_fails_the_audit_at_once_and_the_replay_refuses_or_skips_it(
    wal_dir: Path, prefix: str, special: str
) -> None:
    """A segment of that kind refuses the log (its records cannot be replaced); a checkpoint is
    skipped by the replay, as a damaged one is, and fails the audit."""
    victim = max(wal_dir.glob(f"{prefix}*"))  # the last segment, the newest checkpoint
    said = f"{victim} is {_special_in_place_of(victim, special)}, not a regular file"
    cli = ("-c", "from dita.cli import main; main()")
    audit = _guarded(*cli, "audit", "verify", str(wal_dir))
    assert audit.returncode == 1 and "Traceback" not in audit.stderr, audit.stderr
    assert "AUDIT FAILED" in audit.stderr and said in audit.stderr, audit.stderr
    replay = _guarded(*cli, "wal", "replay", str(wal_dir))
    assert "Traceback" not in replay.stderr, replay.stderr
    if prefix == "seg-":
        assert replay.returncode == 1 and f"cannot replay {wal_dir}" in replay.stderr, replay.stderr
        assert said in replay.stderr, replay.stderr
    else:
        assert replay.returncode == 0, replay.stderr
        assert f"recovered at seq {RECORDS}: checkpoint 0 + {RECORDS} records" in replay.stdout
        assert f"warning: checkpoint {victim} skipped: {said}" in replay.stderr, replay.stderr


def test_a_fifo_in_the_log_refuses_wal_kernel_id_and_the_kernel_naming_it(tmp_path: Path) -> None:
    """A FIFO as a segment or the LOCK refuses the log; as a checkpoint it is skipped and reported."""
    victims = []
    for name in ("seg-", "LOCK", "ckpt-"):
        log = tmp_path / name.strip("-")
        make_kernel(log, fsync="none", wal_checkpoint_every=0).close()
        victims.append(max(log.glob(f"{name}*")))
        _special_in_place_of(victims[-1], "fifo")
    segment, lock, checkpoint = victims
    script = f"""
from dita import ExecutionKernel
from dita._kernel import WalError, wal_kernel_id

def said(call):
    try:
        call()
    except WalError as exc:
        print(f"WalError: {{exc}}")
    else:
        print("no error")

said(lambda: wal_kernel_id({str(segment.parent)!r}))
said(lambda: ExecutionKernel(max_slots=6, wal_dir={str(segment.parent)!r}, kernel_id={KERNEL_ID!r}))
said(lambda: ExecutionKernel(max_slots=6, wal_dir={str(lock.parent)!r}, kernel_id={KERNEL_ID!r}))
kernel = ExecutionKernel(max_slots=6, wal_dir={str(checkpoint.parent)!r}, kernel_id={KERNEL_ID!r})
print(*[s["reason"] for s in kernel.wal_info()["recovery"]["skipped_checkpoints"]])
kernel.close()
"""
    done = _guarded("-c", script)
    fifo = "is a FIFO, not a regular file: the write-ahead log reads and writes only regular files"
    # The kernel's logger tells the skipped checkpoint (logging's last resort: stderr).
    told = f"kernel {KERNEL_ID!r}: skipped a checkpoint of its write-ahead log: {checkpoint} {fifo}"
    assert done.returncode == 0 and done.stderr.startswith(told), done.stderr
    assert done.stdout.splitlines() == [
        f"WalError: {segment} {fifo}",  # wal_kernel_id
        f"WalError: {segment} {fifo}",  # ExecutionKernel
        f"WalError: {lock} {fifo}",
        f"{checkpoint} {fifo}",  # skipped
    ]


def test_replay_of_a_log_without_a_usable_checkpoint_asks_for_the_slot_count(
    tmp_path: Path, wal_dir: Path
) -> None:
    """Before: the replay printed a kernel of 10 slots for a log of 6 whose checkpoints were
    all damaged, as if that were what it recorded."""
    lost = tmp_path / "lost"
    kernel = make_kernel(lost, fsync="none", wal_checkpoint_every=0)
    for _ in run(kernel, seed=2, steps=10):
        pass
    expected = kernel.snapshot()
    close_as_a_crash_leaves_it(kernel)
    del kernel
    (checkpoint,) = lost.glob("ckpt-*.ckpt")
    checkpoint.write_bytes(checkpoint.read_bytes()[:-1])
    result = CliRunner().invoke(app, ["wal", "replay", str(lost), "--json"])
    assert result.exit_code == 1, result.output
    assert "no usable checkpoint" in result.output and "--max-slots" in result.output
    result = CliRunner().invoke(app, ["wal", "replay", str(lost), "--json", "--max-slots", "6"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["snapshot"]["max_slots"] == 6 and out["recovery"]["checkpoint_seq"] is None
    assert out["snapshot"] == json.loads(json.dumps(expected, default=str))
    # A checkpoint usable: one other than the log's is refused, not overridden by the log.
    result = CliRunner().invoke(app, ["wal", "replay", str(wal_dir), "--max-slots", "5"])
    assert result.exit_code == 2 and "--max-slots 5: invalid max_slots: 5" in result.output
    assert "holds a kernel with 6 slots" in result.output
    for bad in ("0", "-1", "x", "100000000000"):
        result = CliRunner().invoke(app, ["wal", "replay", str(lost), "--max-slots", bad])
        assert result.exit_code == 2 and "--max-slots" in result.output, (bad, result.output)


def test_verify_replay_checks_each_checkpoint_against_the_records_before_it(tmp_path: Path) -> None:
    """Before: the audit matched a checkpoint's seq and chain hash only, never its state."""
    kernel = make_kernel(tmp_path, fsync="none", wal_checkpoint_every=10)
    for _ in run(kernel, seed=3, steps=40):
        pass
    kernel.close()
    later = sorted(int(p.stem.split("-")[1]) for p in tmp_path.glob("ckpt-*.ckpt"))[1:]
    assert later, "the log has checkpoints after checkpoint 0"
    code, out = _verify(tmp_path, "--replay")
    assert code == 0, out
    matched = ", ".join(map(str, later))
    assert f"records from checkpoint 0: checkpoints matched {matched}" in out and "chain OK" in out
    code, out = _verify(tmp_path, "--replay", "--json")
    replay = json.loads(out)["replay"]
    assert replay == {"from_checkpoint": 0, "checkpoints_matched": later, "records_replayed": 41}
    assert json.loads(_verify(tmp_path, "--json")[1])["replay"] is None


def test_verify_replay_fails_a_log_this_build_cannot_replay(wal_dir: Path) -> None:
    """A segment marked with another behaviour version than the build's (its header's crc
    recomputed): the chain holds, the replay refuses the first record and the audit fails with
    exit code 1."""
    segment = _segment(wal_dir)
    data = bytearray(segment.read_bytes())
    struct.pack_into("<H", data, 10, 999)  # after magic (8) and format version (2)
    header_end = 8 + 2 + 2 + 2 + len(KERNEL_ID) + 8 + 32
    struct.pack_into("<I", data, header_end, zlib.crc32(bytes(data[:header_end])))
    segment.write_bytes(bytes(data))
    assert _verify(wal_dir)[0] == 0
    code, out = _verify(wal_dir, "--replay")
    assert code == 1, out
    assert "AUDIT FAILED" in out and "behaviour version 999" in out
    code, out = _verify(wal_dir, "--replay", "--json")
    assert code == 1 and not json.loads(out)["ok"]


@pytest.mark.parametrize(
    ("command", "call"), [(["audit", "verify"], "wal_verify"), (["wal", "replay"], "wal_replay")]
)
def test_a_long_walk_or_replay_says_it_is_still_running(
    wal_dir: Path, monkeypatch: pytest.MonkeyPatch, command: list[str], call: str
) -> None:
    """A long log takes minutes to walk or replay, and both said nothing until their answer.
    Off a terminal a line every PROGRESS_LINE_SECONDS says it still runs; the answer on stdout
    is what a quick run prints."""
    import re
    import time

    import dita._kernel
    from dita.cli import wal as cli_wal

    quick = CliRunner().invoke(app, [*command, str(wal_dir)])
    assert quick.exit_code == 0 and quick.stderr == "", quick.output
    real = getattr(dita._kernel, call)

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.7)
        return real(*args, **kwargs)

    monkeypatch.setattr(dita._kernel, call, slow)
    monkeypatch.setattr(cli_wal, "PROGRESS_LINE_SECONDS", 0.2)
    told = CliRunner().invoke(app, [*command, str(wal_dir)])
    assert told.exit_code == 0, told.output
    lines = told.stderr.splitlines()
    what = "verifying" if call == "wal_verify" else "replaying"
    said = re.escape(f"{what} the write-ahead log {wal_dir}") + r": still running after \d+ s"
    assert len(lines) >= 2 and all(re.fullmatch(said, line) for line in lines), told.stderr
    assert told.stdout == quick.stdout
