"""``dita audit verify PATH`` and ``dita wal replay PATH``: the write-ahead log as an audit
ledger and as the recovery source, read without writing to it (see docs/concepts/write-ahead-log.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from dita._numbers import finite_json
from dita.cli._common import PROGRESS_LINE_SECONDS, elapsed_report, fail, given_path, out_console, shown

__all__ = ["register"]

LogPath = Annotated[
    Path,
    typer.Argument(
        help="Directory of the write-ahead log (the kernel's wal_dir)", metavar="PATH", parser=given_path
    ),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON for scripts")]
# Exit code when the log fails the audit: a damaged, edited, removed or reordered record.
AUDIT_FAILED = 1


def _holds_log(path: Path) -> bool:
    """Whether ``path`` holds a file only a log directory holds (docs/reference/log-format.md, "Files")."""
    try:
        return (path / "LOCK").exists() or any(
            next(path.glob(pattern), None) is not None for pattern in ("seg-*.wal", "ckpt-*.ckpt")
        )
    except OSError:
        return False


def _require_dir(path: Path) -> None:
    """A usage error (exit 2) unless ``path`` is a log's directory. A directory holding no file of a
    log (the parent of the kernels' logs, a typo) would be walked and fail as an audit does (exit
    1), which a script takes for a damaged log; one whose segments alone are gone is such a log."""
    if not path.is_dir():
        fail(f"no write-ahead log directory at {path}")
    if _holds_log(path):
        return
    try:
        below = sorted(child for child in path.iterdir() if child.is_dir() and _holds_log(child))
    except OSError:
        below = []
    named = "; below it: " + ", ".join(f"the log in {child}" for child in below[:5]) if below else ""
    if len(below) > 5:
        named += f" and {len(below) - 5} more"
    fail(f"{path} holds no write-ahead log (no seg-*.wal, ckpt-*.ckpt or LOCK file){named}")


def verify(
    path: LogPath,
    expect_head: Annotated[
        str | None,
        typer.Option(
            help="Head hash recorded earlier: the chain must still pass through it (a log cut at a "
            "record boundary before it, or rewritten, does not; one that grew since does)"
        ),
    ] = None,
    replay: Annotated[
        bool,
        typer.Option(
            "--replay",
            help="Also replay the records from the oldest checkpoint and check that each later "
            "checkpoint holds the state they lead to (about the time of a recovery without checkpoint)",
        ),
    ] = False,
    json_out: JsonOut = False,
) -> None:
    """Walk the hash chain: record count, first and last seq, head hash; the position of any damage."""
    from dita._kernel import WalError, wal_verify

    expected = None
    if expect_head is not None:
        # A hash cut short or mistyped would otherwise fail the audit of an intact log.
        expected = expect_head.strip().lower()
        if len(expected) != 64 or not all(c in "0123456789abcdef" for c in expected):
            fail(f"--expect-head must be the 64 hex digits of a head hash, got {expect_head!r}")
    _require_dir(path)
    try:
        # A long log takes a while to walk (and more to replay): said on stderr as it runs.
        with elapsed_report(
            f"verifying the write-ahead log {path}", enabled=True, line_seconds=PROGRESS_LINE_SECONDS
        ):
            report = wal_verify(path, expect_head=expected, replay=replay)
    except (WalError, OSError) as exc:  # OSError: a file of the log cannot be read
        if json_out:
            typer.echo(json.dumps({"ok": False, "path": str(path), "error": str(exc)}))
        else:
            typer.echo(f"AUDIT FAILED: {exc}", err=True)
        raise typer.Exit(AUDIT_FAILED) from None
    problem = None
    found_at = report["expect_head_seq"]
    if expected is not None and found_at is None:
        problem = (
            f"no record of the log (head hash {report['head_hash']} at seq {report['last_seq']}) has the "
            f"expected head hash {expected}: records were removed from the end or the log was rewritten"
        )
    if json_out:
        typer.echo(json.dumps({"ok": problem is None, "path": str(path), **report, "error": problem}))
    else:
        console = out_console()
        # As `dita status` shows it: the kernel takes an id holding ESC, which the terminal would act on.
        console.print(f"kernel     {shown(report['kernel_id'])}")
        console.print(f"records    {report['records']}")
        console.print(f"first seq  {report['first_seq']}")
        console.print(f"last seq   {report['last_seq']}")
        console.print(f"head hash  {report['head_hash']}")
        console.print(f"segments   {report['segments']}  checkpoints matched {report['checkpoints']}")
        replayed = report["replay"]
        if replayed is not None:
            start = replayed["from_checkpoint"]
            origin = "no checkpoint to start from" if start is None else f"from checkpoint {start}"
            matched = ", ".join(str(seq) for seq in replayed["checkpoints_matched"]) or "none"
            console.print(
                f"replay     {replayed['records_replayed']} records {origin}: checkpoints matched {matched}"
            )
        if found_at is not None and expected is not None:
            since = report["last_seq"] - found_at
            console.print(f"expected head at seq {found_at} ({since} record(s) since)")
        if problem is None:
            console.print("chain OK")
        else:
            typer.echo(f"AUDIT FAILED: {problem}", err=True)
    if problem is not None:
        raise typer.Exit(AUDIT_FAILED)


def replay(
    path: LogPath,
    max_slots: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=1_000_000,
            help="The kernel's slot count, needed only when no checkpoint of the log is usable "
            "(checkpoint 0 is the only other record of it)",
        ),
    ] = None,
    json_out: JsonOut = False,
) -> None:
    """Rebuild the kernel from its log (newest checkpoint + later records) and print its snapshot."""
    from dita._kernel import WalError, wal_replay

    _require_dir(path)
    try:
        with elapsed_report(
            f"replaying the write-ahead log {path}", enabled=True, line_seconds=PROGRESS_LINE_SECONDS
        ):
            kernel, recovery = wal_replay(path, max_slots=max_slots)
    except (WalError, OSError) as exc:  # OSError: a file of the log cannot be read
        fail(f"cannot replay {path}: {exc}", code=AUDIT_FAILED)
    except ValueError as exc:  # --max-slots other than the log's
        fail(f"--max-slots {max_slots}: {exc}")
    # JSON has no NaN or infinities (a strategy's slot metadata may hold them): null, as the
    # projection writes the same snapshot, so a strict parser reads what is printed.
    snapshot = finite_json(kernel.snapshot())
    if json_out:
        typer.echo(json.dumps({"recovery": recovery, "snapshot": snapshot}, default=str, allow_nan=False))
        return
    console = out_console()
    start = recovery["checkpoint_seq"]
    origin = "the start of the log" if start is None else f"checkpoint {start}"
    console.print(
        f"kernel {shown(snapshot['kernel_id'])} recovered at seq {recovery['last_seq']}: "
        f"{origin} + {recovery['replayed_records']} records"
    )
    _warn_recovery(recovery)
    typer.echo(json.dumps(snapshot, indent=2, sort_keys=True, default=str, allow_nan=False))


def _warn_recovery(recovery: dict[str, Any]) -> None:
    torn = recovery.get("torn_tail")
    if torn:
        typer.echo(
            f"warning: torn record at {torn['segment']} byte offset {torn['offset']} (seq {torn['seq']}, "
            f"{torn['bytes_dropped']} bytes) ignored; opening the kernel on this log cuts it off",
            err=True,
        )
    for skipped in recovery.get("skipped_checkpoints", []):
        typer.echo(f"warning: checkpoint {skipped['path']} skipped: {skipped['reason']}", err=True)


def register(app: typer.Typer) -> None:
    audit = typer.Typer(help="Audit the write-ahead log's hash chain.", no_args_is_help=True)
    audit.command("verify")(verify)
    app.add_typer(audit, name="audit")
    wal = typer.Typer(help="Read a kernel's write-ahead log.", no_args_is_help=True)
    wal.command("replay")(replay)
    app.add_typer(wal, name="wal")
