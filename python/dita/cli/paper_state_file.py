"""The state file a ``dita paper`` run continuing its kernel (--wal-dir) takes over: read and
checked before the kernel opens its log (``_previous_state``), taken only when a run on the same
log wrote it (``_of_this_log``), and the fill model and leverage the continued account keeps
(``_continued_fill_model``, ``_continued_leverage``: an option given otherwise is refused,
``AccountKept``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from dita._kernel import WalError
from dita._numbers import exact_text, is_real
from dita._text import shortened
from dita.cli._common import LEVERAGE, fail

if TYPE_CHECKING:
    from dita.backtest.engine import BacktestConfig


# The fill model's options a run continuing its kernel keeps (the state file's ``fill_model``),
# by their names in ``BacktestConfig`` and in the state file.
FILL_MODEL_OPTIONS = {
    "balance": "--balance",
    "fee_rate": "--fee-rate",
    "maker_fee_rate": "--maker-fee-rate",
    "slippage_bps": "--slippage-bps",
    "latency_ms": "--latency-ms",
    "volume_share": "--volume-share",
}


# The fill model's keys of a `dita live` file ([paper]); the rest of the model is not configurable
# there, and is the state file's.
PAPER_TABLE_KEYS = {"balance": "paper.balance", "fee_rate": "paper.fee_rate"}


class AccountKept(ValueError):
    """An option or key given another value than the continued account's state file records for
    what the account keeps (its fill model, its margin rules): the message names both."""


def _previous_state(path: Path) -> dict[str, Any] | None:
    """The state file a run continuing its kernel (--wal-dir) takes the venue's book from;
    None when there is none. One of a newer format than this version writes is refused
    (exit 2): its book would be misread."""
    import json

    from pydantic import ValidationError

    from dita._files import NotRegularFile, regular_file_bytes
    from dita.cli._state import NewerStateFormat, StateFile, check_state_format

    try:
        # Read whole, not capped at STATE_FILE_BYTES as `dita status` reads: the run's own file,
        # whatever it holds; only a regular file is read, no FIFO or device.
        snap = json.loads(regular_file_bytes(path).decode("utf-8"))
    except FileNotFoundError:
        return None
    except NotRegularFile as exc:
        fail(
            f"the state file {path} is {exc.kind}, not a regular file: not one `dita paper` wrote (not read)"
        )
    except (OSError, ValueError) as exc:
        fail(f"cannot read the state file {path} to continue the run: {exc}")
    except RecursionError:
        fail(f"cannot read the state file {path} to continue the run: nested too deeply")
    if not isinstance(snap, dict):
        fail(f"the state file {path} is not a JSON object: not one `dita paper` wrote")
    try:
        check_state_format(snap)
    except NewerStateFormat as exc:
        fail(f"the state file {path} has {exc}: continue the run with the version that wrote it")
    except ValueError as exc:
        fail(f"the state file {path} has {exc}")
    # The fills and the replay's place are taken over too: checked here, before the kernel
    # opens its log, as `dita status` checks them (a bad one would be a traceback after the log
    # is written to).
    try:
        StateFile.model_validate(snap)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        got = shortened(repr(first["input"]))
        fail(
            f"the state file {path} is not one `dita paper` wrote: {where}: "
            f"{first['msg'].removeprefix('Value error, ')}, got {got}"
        )
    if snap["kernel_id"] != path.stem:
        fail(
            f"the state file {path} is of kernel {snap['kernel_id']!r}, not {path.stem!r}: "
            "its book is not this kernel's"
        )
    book = snap.get("venue")
    if book is not None:
        from dita.venues.paper import PaperVenue

        try:
            PaperVenue().restore_book(book)  # refused here, before the kernel opens its log
        except ValueError as exc:
            fail(f"the state file {path} holds a paper venue book that cannot be restored: {exc}")
        # The venue took every row up to its clock, and the run saves data_time at or past
        # the last row it took: a clock past it (or no data_time, which replays the file from
        # its start) would feed the venue rows earlier than its clock, a ValueError traceback
        # after the log had opened.
        now, data_time = book.get("now"), snap.get("data_time")
        if now is not None and (not is_real(data_time) or data_time < now):
            said = "missing" if data_time is None else repr(data_time)
            fail(
                f"the state file {path} is not one `dita paper` wrote: data_time {said} is before "
                f"venue.now {now!r}, the paper venue's clock: the replay would go back in time"
            )
    return snap


def _of_this_log(previous: dict[str, Any], path: Path, wal_dir: Path) -> dict[str, Any] | None:
    """``previous``, the state file ``path``, unless a run on another write-ahead log than
    the one in ``wal_dir``, or on none, wrote it: that is another account, whose book, fills,
    replay place and leverage this one must not take (None, said on stderr). Taken when it
    cannot tell: a file that does not name the log, one naming it relative (as older files
    do, against another working directory perhaps), or one naming a directory that is gone
    (the log moved); the last said on stderr."""
    if "wal_dir" not in previous:
        return previous
    written = previous["wal_dir"]
    if written is None:
        other = "a run with no write-ahead log"
    elif not isinstance(written, str) or not Path(written).is_absolute():
        return previous
    elif not Path(written).exists():
        typer.echo(
            f"warning: {path} was written by a run on the write-ahead log in {written}, which is "
            f"gone: taken as the state of the log in {wal_dir}, moved there",
            err=True,
        )
        return previous
    elif _same_dir(Path(written), wal_dir):
        return previous
    else:
        other = f"a run on the write-ahead log in {written}, not {wal_dir}"
    typer.echo(
        f"warning: {path} was written by {other}: another account's state, so its book, fills, "
        "replay place and leverage are not taken (the file is replaced by this run's)",
        err=True,
    )
    return None


def run_holding(state_file: Path, kernel_id: str, another_id: str) -> str | None:
    """Why no run may start on the kernel ``kernel_id`` whose state file is ``state_file``:
    another process runs it (``live_run``), and the two would rewrite the file in turn (`dita
    status` showing their states by turns, a run continuing the log finding the other's book in
    it); None when no other run holds it. ``another_id`` names the option or key of the id."""
    from dita.cli._state import live_run

    holder = live_run(state_file)
    if holder is None:
        return None
    return (
        f"kernel {kernel_id!r} is run by process {holder}, which is still running (its state file "
        f"{state_file} says so): stop that run first, or give this one another {another_id}"
    )


def _account_log(path: Path, kernel_id: str) -> str | None:
    """The write-ahead log the state file ``path`` names (its ``wal_dir``) when that log still
    holds the kernel ``kernel_id``, whose account the file's book and fills are; else None (no
    such file, none `dita paper` wrote, a run without a log, a log gone or of another kernel)."""
    import json

    from dita._files import NotRegularFile, TooLarge, regular_file_bytes
    from dita._kernel import wal_kernel_id
    from dita.cli._state import STATE_FILE_BYTES

    try:
        snap = json.loads(regular_file_bytes(path, STATE_FILE_BYTES).decode("utf-8"))
    except (OSError, ValueError, RecursionError, NotRegularFile, TooLarge):
        return None
    written = snap.get("wal_dir") if isinstance(snap, dict) else None
    if not isinstance(written, str) or not Path(written).is_absolute():
        return None
    try:
        return written if wal_kernel_id(Path(written)) == kernel_id else None
    except (OSError, WalError, ValueError):
        return None


def _same_dir(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one directory."""
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def _continues_kernel(wal_dir: Path, kernel_id: str) -> bool:
    """Whether the log in ``wal_dir`` holds the kernel ``kernel_id``, which a run on it then
    continues. A log that cannot be read, or holds another kernel, is left to the session,
    which says why it cannot start."""
    from dita._kernel import wal_kernel_id

    try:
        return wal_kernel_id(wal_dir) == kernel_id
    except (OSError, WalError):
        return False  # no log of this kernel can be read there: the session says why


def _fill_model_record(fill_model: BacktestConfig, seed_capital: Any) -> dict[str, float]:
    """The state file's ``fill_model``: ``fill_model``'s fees (the maker's resolved),
    slippage, latency and volume share, and the account's seed balance (``seed_capital``,
    the kernel's; ``fill_model``'s when the kernel gives none)."""
    return {
        "balance": float(seed_capital) if is_real(seed_capital) else float(fill_model.balance),
        "fee_rate": float(fill_model.fee_rate),
        "maker_fee_rate": float(fill_model.maker_rate),
        "slippage_bps": float(fill_model.slippage_bps),
        "latency_ms": float(fill_model.latency_ms),
        "volume_share": float(fill_model.volume_share),
    }


def _continued_fill_model(
    previous: dict[str, Any],
    path: Path,
    fill_model: BacktestConfig,
    given: Callable[[str], bool],
    options: Mapping[str, str] = FILL_MODEL_OPTIONS,
    new_account: str = "another --kernel-id and --wal-dir",
) -> BacktestConfig:
    """The fill model of a run continuing its kernel: the fees, slippage, latency, volume share
    and balance its state file ``path`` records, where the options were left out or given the
    same (``given`` says which were given; ``options`` names those a run can give, `dita
    paper`'s options or `dita live`'s [paper] keys); ``fill_model`` as it is for a file that
    does not record them. AccountKept, before the log opens, when one given differs from the
    recorded one (the orders the account placed would fill under other rules part-way, and the
    balance is the log's), saying to leave it out or start a new account with ``new_account``;
    exits 2 when the file records one no option takes."""
    from pydantic import ValidationError

    from dita.backtest.engine import BacktestConfig

    recorded = previous.get("fill_model")
    if not isinstance(recorded, dict):
        return fill_model
    kept_values = {name: recorded[name] for name in FILL_MODEL_OPTIONS}
    try:
        kept = BacktestConfig.model_validate({**fill_model.model_dump(), **kept_values})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(["fill_model", *(str(part) for part in first["loc"])])
        fail(
            f"the state file {path} is not one `dita paper` wrote: {where}: "
            f"{first['msg'].removeprefix('Value error, ')}, got {shortened(repr(first['input']))}"
        )
    for name, option in options.items():
        ours = fill_model.maker_rate if name == "maker_fee_rate" else getattr(fill_model, name)
        if given(name) and ours != kept_values[name]:
            theirs = exact_text(kept_values[name])
            _refuse_other(
                option,
                exact_text(ours),
                f"{name} {theirs}",
                theirs,
                path,
                previous,
                "fill model",
                new_account,
            )
    return kept


def _refuse_other(
    option: str,
    given: str,
    recorded: str,
    resumed: str,
    path: Path,
    previous: dict[str, Any],
    keeps: str,
    new_account: str = "another --kernel-id and --wal-dir",
) -> NoReturn:
    """AccountKept: ``option`` was given ``given``, where the state file ``path`` of the kernel a
    run continues records ``recorded``; a continued account keeps its ``keeps``, so the option
    is left out (to continue at ``resumed``) or the account is a new one (``new_account``)."""
    raise AccountKept(
        f"{option} {given} differs from the {recorded} the state file {path} records for kernel "
        f"{previous['kernel_id']!r}: a continued account keeps its {keeps}. Leave {option} out to "
        f"continue at {resumed}, or start a new account with {new_account}"
    )


def _continued_leverage(previous: dict[str, Any], path: Path, given: float | None) -> float | None:
    """The account leverage of a run continuing its kernel: the one its state file ``path``
    records (None: no margin check) when ``given`` (--leverage) is left out or the same; else
    ``given``, or the default. A state file that does not record the leverage leaves it to
    ``given`` or the default. AccountKept, before the log opens, when ``given``
    differs from the recorded one: the account would change its margin rules part-way, and
    the orders it took under them."""
    default = LEVERAGE if given is None else given
    if "leverage" not in previous:
        return default
    kept: float | None = previous["leverage"]
    if given is None or given == kept:
        return kept
    said = "leverage null (no margin check)" if kept is None else f"leverage {exact_text(kept)}"
    _refuse_other("--leverage", exact_text(given), said, said, path, previous, "margin rules")
