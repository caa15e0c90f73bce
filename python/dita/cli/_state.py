"""Where ``dita status``, ``orders`` and ``pnl`` find a running kernel's state.

Sources, most direct first: the Hazelcast projection (``--hazelcast``, every kernel in the
cluster), the ClickHouse journal (``--journal``, for PnL over periods), and the state files
that ``dita paper`` rewrites every few seconds in ``--state-dir`` (default ``$DITA_STATE_DIR``
or ``var/run``). All three give the same shape: a snapshot per kernel with its account,
control, slots and recent fills.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, NonNegativeInt, ValidationError

from dita._files import NestedTooDeeply, NotRegularFile, TooLarge, parsed, regular_file_bytes, replace_whole
from dita._numbers import finite_json
from dita._text import shortened
from dita.cli._common import default_state_dir, warn
from dita.services import pid_alive, process_start
from dita.venues.paper import MAX_LEVERAGE

__all__ = [
    "PERIODS",
    "STATE_FORMAT",
    "NewerStateFormat",
    "check_state_format",
    "default_state_dir",
    "live_run",
    "named_state_dir",
    "period_start",
    "read_hazelcast",
    "read_state_files",
    "unread_said",
    "write_state_file",
]

PERIODS = ("today", "week", "month", "all")
STATE_FORMAT = 2
"""The state file's format `dita paper` writes: 2 holds the paper venue's book (``venue``), which
a run continuing the kernel (--wal-dir) restores; a file without ``format`` is of format 1."""
STATE_FILE_BYTES = 2 << 30
"""The most a state file may hold to be read by status, orders and pnl: above what `dita paper`
writes (its newest 10,000 fills, about 2 MB, and about 1.4 kB for each working slot with its
order in the book: 1.4 GB at 1,000,000 slots; at 64 MiB, a run of 50,000 resting orders would
be skipped). A larger ``*.json`` in the directory is no kernel's state, and is not read whole (a
data set kept there would take every byte of memory). `dita paper` continuing its kernel reads its
own file whole (see ``dita._files.regular_file_bytes``)."""
QUIET_AFTER_S = 10.0
"""A running kernel whose account was last projected longer ago than this (two default
heartbeats) gets a note saying how long: it is taken for gone only after ``LIVE_WITHIN_S``.
A state file is noted so too, once older than ``QUIET_REWRITES`` of its run's saves as well."""
QUIET_REWRITES = 3
"""A running `dita paper` whose state file was last written longer ago than this many of its
saves (its ``status_every``), and than ``QUIET_AFTER_S``, gets a note saying how long: its
process is alive but the state no longer moves (hung, or stopped with SIGSTOP)."""
STATUS_EVERY_DEFAULT = 1.0
"""`dita paper`'s default --status-every, for a state file that does not record its own."""
ACTIVE_STAGES = (
    "ORDER_SENT",
    "ENTRY_WORKING",
    "POSITION_OPEN",
    "EXIT_REQUESTED",
    "EXIT_SENT",
    "EXIT_WORKING",
)


class _Shape(BaseModel):
    # Strict: lax mode takes "1.5" for a float, and the commands read the file's own values.
    # Finite: Python's json reads NaN and Infinity, which --json would print back as no JSON number.
    model_config = ConfigDict(extra="allow", strict=True, allow_inf_nan=False)


class _Order(_Shape):
    size: float = 0.0
    filled_size: float = 0.0
    price: float | None = None
    # What `dita orders` shows: text (a client id of 5 or a status of [1] would be listed as is).
    client_order_id: str = ""
    asset: str = ""
    side: str = ""
    order_type: str = ""
    status: str = ""
    cancel_requested: bool = False


class _Slot(_Shape):
    fsm_state: str | None = None
    size: float | None = None
    # The client id of the slot's order in doubt ("" when none): `dita orders` lists it.
    order_in_doubt: str = ""
    active_entry_order: _Order | None = None
    active_exit_order: _Order | None = None


class _Account(_Shape):
    equity: float | None = None
    capital: float | None = None
    realized_pnl: float | None = None
    unrealized_pnl: float | None = None
    k_fees_paid: float | None = None
    k_funding_net: float | None = None


class _Control(_Shape):
    mode: str = ""
    frozen: bool = False
    cluster_control: bool | None = None  # the projection's: False, no control plane of the cluster


class _FillModel(_Shape):
    """The paper venue's fill model and the account's seed balance, as `dita paper` records them
    (its option names; ``maker_fee_rate`` resolved): a run continuing the kernel keeps them.
    Their bounds are the options' (``BacktestConfig``), checked by the run that takes them."""

    balance: float
    fee_rate: float
    maker_fee_rate: float
    slippage_bps: float
    latency_ms: float
    volume_share: float


class _Strategy(_Shape):
    name: str
    status: str


class _Fill(_Shape):
    ts: float
    realized_pnl: float
    fee: float


class _DayTotals(_Shape):
    fills: int
    realized_pnl: float
    fee: float
    last_ts: float


class NewerStateFormat(ValueError):
    """A state file of a format newer than this dita writes (``check_state_format``)."""


def check_state_format(snap: dict[str, Any]) -> None:
    """Raises ValueError saying why the state file ``snap`` is of no format this dita reads (1 to
    ``STATE_FORMAT``; a file without ``format`` is of format 1), ``NewerStateFormat`` for a newer
    one: its fields may mean what this dita would misread. The message starts "format X"."""
    fmt = snap.get("format", 1)
    if isinstance(fmt, bool) or not isinstance(fmt, int):
        # Not "newer": "2" (text) is no format any dita paper writes.
        raise ValueError(
            f"format {shortened(repr(fmt))}, not a whole number: not a file `dita paper` wrote "
            f"(it writes format {STATE_FORMAT})"
        )
    if fmt > STATE_FORMAT:
        raise NewerStateFormat(f"format {fmt}, newer than this dita paper writes ({STATE_FORMAT})")
    if fmt < 1:
        raise ValueError(f"format {fmt}: not a file `dita paper` wrote (it writes format {STATE_FORMAT})")


def _utc_day(day: str) -> str:
    datetime.strptime(day, "%Y-%m-%d")  # pnl parses it so; a ValueError is a validation error
    return day


_Day = Annotated[str, AfterValidator(_utc_day)]


def _calendar_time(ts: float) -> float:
    # status and pnl print it as a UTC date: NaN, Infinity or past the year 9999 would be a
    # traceback.
    try:
        datetime.fromtimestamp(ts, tz=UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise ValueError(f"not a time ({exc})") from None
    return ts


_Time = Annotated[float, AfterValidator(_calendar_time)]


class StateFile(_Shape):
    """The fields status, orders and pnl read, in the types `dita paper` writes them."""

    kernel_id: str
    # Whether the run was still going when it saved: a text ("no") would read as true, and
    # the kernel of a run that ended as running while some process holds its pid.
    running: bool = False
    data_time: _Time | None = None
    # A replay's place (how many rows of data_time were handled) and the kernel's seq the book
    # goes with, which a run continuing the kernel reads: one that is no count would be taken as
    # "every row of its time" (rows never handled skipped) and "the book is as new as the log".
    rows_at_data_time: NonNegativeInt | None = None
    seq: NonNegativeInt | None = None
    updated_at: _Time | None = None
    status_every: float | None = Field(default=None, gt=0)
    pid_start: str | None = None
    account: _Account = _Account()
    control: _Control = _Control()
    slots: list[_Slot] = []
    strategies: list[_Strategy] = []
    fills: list[_Fill] = []
    older_fills: dict[_Day, _DayTotals] = {}
    # The orders the paper venue rejected, over the runs continuing the kernel (a file without
    # them: none).
    orders_rejected: NonNegativeInt = 0
    rejection_reasons: dict[str, NonNegativeInt] = {}
    # And the intents the kernel refused (but its routine refusals), kept the same way.
    intents_refused: NonNegativeInt = 0
    refusal_reasons: dict[str, NonNegativeInt] = {}
    # The paper venue's account leverage (None: no margin check), which a run continuing the
    # kernel keeps; a file without it leaves such a run to take its own.
    leverage: float | None = Field(default=None, gt=0, le=MAX_LEVERAGE)
    # Fees, slippage, latency, volume share and balance, kept by a run continuing the kernel as
    # the leverage is; a file may have none.
    fill_model: _FillModel | None = None


class _Projected(_Shape):
    """The fields the projection adds to each entry it writes (``dita.projection.hazelcast``)."""

    kernel_id: str | None = None
    projected_at: _Time | None = None


class _ProjectedSlot(_Slot, _Projected):
    slot_id: int = 0


class _ProjectedAccount(_Account, _Projected):
    closed_at: _Time | None = None
    input_refused_reason: str | None = None


class _ProjectedControl(_Control, _Projected):
    pass


def named_state_dir(given: Path | None) -> tuple[Path, str]:
    """The state directory of a command (``given``, its --state-dir, else ``default_state_dir()``)
    and what named it, for its messages: ``--state-dir``, ``$DITA_STATE_DIR`` or ``the default
    state directory``."""
    if given is not None:
        return given, "--state-dir"
    if os.environ.get("DITA_STATE_DIR"):  # set but empty, it is unset (default_state_dir)
        return default_state_dir(), "$DITA_STATE_DIR"
    return default_state_dir(), "the default state directory"


def write_state_file(state_dir: Path, snapshot: dict[str, Any]) -> Path:
    """Write ``snapshot`` whole and durably (``replace_whole``: a temporary file, synced,
    renamed), so readers never see half a file. Renamed unsynced, a power cut could leave the
    name on an empty or torn file, which `dita status` skips and `dita paper --wal-dir` refuses
    to continue from."""
    state_dir.mkdir(parents=True, exist_ok=True)
    # Strict JSON, as metrics.json: a strategy parameter of inf ("no stop") is the text "inf",
    # not Infinity, which jq and JSON.parse refuse (`dita paper` reads it back as the float).
    text = json.dumps(finite_json(snapshot, as_text=True), sort_keys=True, default=str, allow_nan=False)
    return replace_whole(
        state_dir / f"{snapshot['kernel_id']}.json", lambda tmp: tmp.write_text(text, encoding="utf-8")
    )


def read_state_files(state_dir: Path) -> list[dict[str, Any]]:
    """Every kernel snapshot in ``state_dir``; ``running`` is re-checked against the pid."""
    if not state_dir.is_dir():
        return []
    out = []
    for path in sorted(state_dir.glob("*.json")):
        try:
            text = _read_state_file(path)
            if text is None:
                continue
            snap = parsed(json.loads, text)
            # A "\ud800" escape gives a string no terminal or UTF-8 file can take: not ours either.
            json.dumps(snap, ensure_ascii=False).encode()
        except (FileNotFoundError, IsADirectoryError):
            continue  # removed since the listing, or a directory: no kernel's state
        except OSError as exc:
            # Most likely ours, of a user whose files this one may not read (mode 0600): left out
            # without a word, its kernel would read as gone ("no kernel found" for its --kernel).
            warn(f"cannot read the state file {path}: {exc.strerror or exc}")
            continue
        except ValueError as exc:
            # Damaged (a power cut can leave a file empty) or not ours: said, as a file of the
            # wrong shape is, since its kernel is read as gone ("no running kernels found").
            warn(f"skipped state file {path}: {_unparsed(exc)}")
            continue
        if not isinstance(snap, dict):
            warn(f"skipped state file {path}: not a JSON object, got {type(snap).__name__}")
            continue
        try:
            check_state_format(snap)
        except ValueError as exc:
            # Its fields may mean what a newer dita paper means by them: not read as this one's.
            warn(f"skipped state file {path}: {exc}")
            continue
        if "kernel_id" not in snap:
            warn(f"skipped state file {path}: no kernel_id")
            continue
        # A file with a kernel_id but a field of another shape is not one `dita paper` wrote
        # (edited by hand, or of another version): skipped, and said naming the field, as the
        # projection's entries are, since its kernel is read as gone ("no kernel found").
        pid = snap.get("pid", 0) or 0
        if not isinstance(pid, int) or isinstance(pid, bool):
            warn(f"skipped state file {path}: pid: not a whole number, got {shortened(repr(pid))}")
            continue
        try:
            StateFile.model_validate(snap)
        except ValidationError as exc:
            warn(f"skipped state file {path}: {_first_error(exc)}")
            continue
        if snap["kernel_id"] != path.stem:
            # A copy kept next to it (k-before.json) would list its kernel twice and double pnl.
            # `dita paper` names the file after its kernel, and continues from no other.
            warn(f"skipped state file {path}: it holds kernel {snap['kernel_id']!r}, not {path.stem!r}")
            continue
        if snap.get("running") and not _still_running(pid, snap.get("pid_start")):
            snap["running"] = False
            snap["note"] = "process is gone (last state shown)"
        elif not snap.get("running"):
            # Saved at the run's end: its orders (`dita orders`) are its last state, not working
            # ones, as the projection says of a kernel closed cleanly.
            saved = snap.get("updated_at")
            at = "" if saved is None else f" at {datetime.fromtimestamp(saved, tz=UTC):%Y-%m-%d %H:%M:%S} UTC"
            snap["note"] = f"stopped{at} (last state shown)"
        else:
            quiet = _quiet_note(snap)
            if quiet is not None:
                snap["note"] = quiet
        snap["source"] = str(path)
        out.append(snap)
    return out


def _unparsed(exc: ValueError) -> str:
    """Why a state file's text is no JSON document to read (``read_state_files``)."""
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start})"
    if isinstance(exc, UnicodeEncodeError):
        return "it holds a string no UTF-8 text can (a lone surrogate escape)"
    if isinstance(exc, NestedTooDeeply):
        return "JSON nested too deeply"
    return f"not JSON: {exc}"


def _read_state_file(path: Path) -> str | None:
    """The text of the state file ``path``; None (said on stderr when it is too large to be
    one) for a file that cannot be one: not a regular file or over ``STATE_FILE_BYTES``. The
    OSError of a file that cannot be opened or read passes."""
    try:
        data = regular_file_bytes(path, STATE_FILE_BYTES)
    except NotRegularFile:
        return None
    except TooLarge as exc:
        warn(f"skipped state file {exc}, larger than a state file is")
        return None
    return data.decode("utf-8")  # as written; a decode error is a ValueError, not ours


def live_run(path: Path) -> int | None:
    """The pid of the run that writes the state file ``path``, while it runs: the file says it
    is running, and its very process (the start time the file records) is alive. None
    otherwise: a file this process wrote, one that cannot be read as a state file, or one
    without the start time (its pid may be another process's since)."""
    try:
        snap = json.loads(regular_file_bytes(path, STATE_FILE_BYTES).decode("utf-8"))
    except (OSError, ValueError, RecursionError, NotRegularFile, TooLarge):
        return None
    if not isinstance(snap, dict) or snap.get("running") is not True:
        return None
    pid, started = snap.get("pid"), snap.get("pid_start")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid == os.getpid():
        return None
    if not isinstance(started, str) or not started:
        return None
    return pid if pid_alive(pid) and process_start(pid) == started else None


def _quiet_note(snap: dict[str, Any]) -> str | None:
    """How old the state of a run whose process is alive is, once it is older than a few of
    its saves (``QUIET_REWRITES``); None while it is fresh, or the file says not when it was
    written. A live run rewrites it every --status-every, while it waits for data too."""
    saved = snap.get("updated_at")
    if saved is None:
        return None
    every = snap.get("status_every") or STATUS_EVERY_DEFAULT
    age = time.time() - saved
    if age <= max(QUIET_AFTER_S, QUIET_REWRITES * every):
        return None
    return f"state last written {age:.0f}s ago (hung or stopped? the run rewrites it every {every:g}s)"


def _still_running(pid: int, started: Any) -> bool:
    """Whether the run that wrote a state file still runs: its pid is alive and, when the file
    says when that process started, it is the same process (a run killed outright leaves its
    file saying running, and the system may give its pid to another process since)."""
    if not pid_alive(pid):
        return False
    return not isinstance(started, str) or not started or process_start(pid) in (None, started)


_UNREAD = {
    "dita_accounts": "accounts (equity, PnL, and whether each runs)",
    "dita_control": "control state (mode)",
    "dita_slots": "slots (open positions and working orders)",
}


def unread_said(unread: Sequence[str], timeout: float) -> str:
    """What a reader of the maps says of the maps in ``unread`` (their reads not answered within
    ``timeout`` seconds): which reads, why, and what the state shown lacks."""
    from dita.control.hazelcast import UNANSWERED_WHY

    def listed(items: Sequence[str]) -> str:
        return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"

    reads = "the read of" if len(unread) == 1 else "the reads of"
    lacks = listed([_UNREAD.get(name, name) for name in unread])
    return (
        f"{reads} {listed(list(unread))} not answered within {timeout:g}s ({UNANSWERED_WHY}): what is "
        f"shown lacks the kernels' {lacks}"
    )


def read_hazelcast(
    members: Sequence[str], cluster_name: str = "dita", timeout: float = 5.0, read_timeout: float = 10.0
) -> tuple[list[dict[str, Any]], list[str]]:
    """Snapshots of every kernel projected into the cluster's maps, and the names of the maps the
    cluster left unread: their reads, made at once, not answered within ``read_timeout`` seconds
    of connecting (a member frozen answers none until the others declare it dead, a minute or
    more). A kernel's snapshot then lacks their part, and says so (``unread``); one found only in
    them is missing. Raises ConnectionError when the cluster is not reached within ``timeout``
    seconds."""
    from dita.projection.hazelcast import (
        ACCOUNTS_MAP,
        CONTROL_MAP,
        LIVE_WITHIN_S,
        SLOTS_MAP,
        clock_note,
        closed_at,
        connect_client,
        input_refused,
        live_kernels,
        projection_age,
        read_maps,
        shutdown_client,
    )

    try:
        client = connect_client(list(members), cluster_name, block=True, connect_timeout=timeout)
    except Exception as exc:  # the client's own errors: not connected within the timeout
        raise ConnectionError(f"{type(exc).__name__}: {exc}") from exc
    try:
        read, unread = read_maps(client, [ACCOUNTS_MAP, CONTROL_MAP, SLOTS_MAP], read_timeout, warn)
    finally:
        shutdown_client(client)
    accounts = _valid_entries(ACCOUNTS_MAP, read.get(ACCOUNTS_MAP, {}), _ProjectedAccount)
    control = _valid_entries(CONTROL_MAP, read.get(CONTROL_MAP, {}), _ProjectedControl)
    slots: dict[str, list[dict[str, Any]]] = {}
    for key, value in _valid_entries(SLOTS_MAP, read.get(SLOTS_MAP, {}), _ProjectedSlot).items():
        slots.setdefault(key.rsplit(":", 1)[0], []).append(value)
    # The entries of a kernel that stopped or crashed stay in the maps: running means its
    # account was projected lately (the publisher rewrites it every heartbeat).
    live = live_kernels(accounts)
    out = []
    for kid in sorted(set(accounts) | set(control) | set(slots)):
        snapshot = {
            "kernel_id": kid,
            "account": accounts.get(kid, {}),
            "control": control.get(kid, {}),
            "slots": sorted(slots.get(kid, []), key=lambda s: int(s.get("slot_id", 0))),
            # The maps hold totals, not fills: how many there were is unknown here (pnl: null).
            "fills": None,
            # Nor the strategies: they live in the process running the kernel (its state file).
            "strategies": None,
            # Nor the orders its venue rejected, or the intents it refused (counted by `dita
            # paper`, in its state file).
            "orders_rejected": None,
            "rejection_reasons": None,
            "intents_refused": None,
            "refusal_reasons": None,
            # Unknown without its account (not taken for gone for want of one).
            "running": None if ACCOUNTS_MAP in unread else kid in live,
            "source": f"hazelcast {','.join(members)}",
            "unread": list(unread),
        }
        closed = closed_at(accounts.get(kid, {}))
        age = projection_age(accounts.get(kid, {}))
        ahead = "" if age is None else clock_note(age)
        refused = input_refused(accounts.get(kid, {}))
        if ACCOUNTS_MAP in unread:
            pass  # no account read: nothing to say of its age
        elif closed is not None:
            at = datetime.fromtimestamp(closed, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            snapshot["note"] = f"closed at {at} (last state shown)"
        elif kid not in live:
            why = ahead or f"not projected for over {LIVE_WITHIN_S:g}s"
            snapshot["note"] = f"{why} (last state shown)"
        elif refused is not None:
            # Its process projects on, but the kernel takes no input: not a kernel trading.
            snapshot["running"] = False
            snapshot["note"] = f"not trading: {refused} (last state shown)"
        elif ahead:
            snapshot["note"] = ahead
        elif age is not None and age > QUIET_AFTER_S:
            # Still counted as running, but a live kernel's account is rewritten every heartbeat
            # (5 s by default): one this quiet may well be dead, so say how old it is.
            snapshot["note"] = (
                f"last projected {age:.0f}s ago (stopped or cut off from the cluster? "
                f"taken for gone after {LIVE_WITHIN_S:g}s)"
            )
        out.append(snapshot)
    return out, unread


def _valid_entries(map_name: str, entries: dict[str, Any], shape: type[_Shape]) -> dict[str, Any]:
    """The map's entries (the JSON objects ``read_map`` gave) of ``shape``; another (typed by hand)
    is named on stderr and left out, as a state file of another shape is: one stray entry must not
    end the command for every kernel, nor pass a field of another type to the tables."""
    valid = {}
    for key, value in entries.items():
        try:
            shape.model_validate(value)
        except ValidationError as exc:
            warn(f"skipped entry {key!r} of {map_name}: {_first_error(exc)}")
            continue
        valid[key] = value
    return valid


def _first_error(exc: ValidationError) -> str:
    """The first field ``exc`` refuses, why, and its value: ``size: Input should be ..., got 'x'``."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    return f"{field}: {first['msg'].removeprefix('Value error, ')}, got {shortened(repr(first['input']))}"


def active_slots(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in snapshot.get("slots", []) if s.get("fsm_state") in ACTIVE_STAGES]


def open_orders(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """Working orders, from the slots' active entry and exit orders, and the orders in doubt
    (a slot's ``order_in_doubt``: rate limited before their ack, with a cancel asked, they may
    still work at the venue), marked ``in_doubt``. A slot names its order in doubt by its client
    id alone: the row has the slot's asset, and status ``IN_DOUBT``."""
    orders = []
    kernel_id = snapshot["kernel_id"]
    for slot in snapshot.get("slots", []):
        for key in ("active_entry_order", "active_exit_order"):
            order = slot.get(key)
            if isinstance(order, dict) and order.get("status") not in (
                "FILLED",
                "CANCELED",
                "REJECTED",
                "EXPIRED",
            ):
                orders.append(
                    {"kernel_id": kernel_id, "leg": key.split("_")[1].upper(), **order, "in_doubt": False}
                )
        if slot.get("order_in_doubt"):
            orders.append(
                {
                    "kernel_id": kernel_id,
                    "leg": "",
                    "client_order_id": slot["order_in_doubt"],
                    "slot_id": slot.get("slot_id"),
                    "asset": slot.get("asset") or "",
                    "status": "IN_DOUBT",
                    "cancel_requested": True,
                    "in_doubt": True,
                }
            )
    return orders


def period_start(period: str, now: float) -> float | None:
    """Start of ``period`` (UTC calendar: today, ISO week from Monday, month) before ``now``."""
    if period not in PERIODS:
        raise ValueError(f"--period {period!r} must be one of {', '.join(PERIODS)}")
    if period == "all":
        return None
    t = datetime.fromtimestamp(now, tz=UTC)
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "today":
        start = day
    elif period == "week":
        start = day - timedelta(days=day.weekday())
    else:
        start = day.replace(day=1)
    return start.timestamp()


def now_for(snapshot: dict[str, Any]) -> float:
    """The kernel's clock: data time for a replay, else wall time."""
    if snapshot.get("clock") == "data" and snapshot.get("data_time"):
        return float(snapshot["data_time"])
    return time.time()
