"""``dita control``: show and change the cluster-wide control plane in Hazelcast.

``set`` writes the entry of one kernel (``--kernel``) or the global one; every kernel
attached to a ``HazelcastControlPlane`` applies it within a second. ``show`` prints the
entries next to what each kernel actually runs with (the ``dita_control`` projection).
"""

from __future__ import annotations

import difflib
import json
import time
from collections.abc import Callable
from typing import Annotated, Any, NoReturn

import typer

from dita.cli._common import (
    cluster_options,
    fail,
    hazelcast_connect_s,
    out_console,
    require_cluster_timeout,
    require_finite,
    require_kernel_id,
    require_utf8,
    shown,
    warn,
)

__all__ = ["register"]

# dita.control.hazelcast.WRITE_TIMEOUT_S (a test holds them equal), not imported: `--help` stays quick.
_WRITE_TIMEOUT_S = 10.0

control_app = typer.Typer(
    help="Show and change the cluster-wide control plane (Hazelcast).", no_args_is_help=True
)

ClusterOption = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="comma-separated host:port (default: $DITA_HAZELCAST_MEMBERS, else the member `dita services "
        "hazelcast start` recorded, else 127.0.0.1:5701)",
    ),
]
ClusterNameOption = Annotated[
    str | None,
    typer.Option(
        "--cluster-name",
        help="default: $DITA_HAZELCAST_CLUSTER, else the recorded member's for its address, else dita",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]
TimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout",
        help="seconds the cluster has to answer once connected (up to 300); past them, exit 3 "
        "saying what it left unanswered",
    ),
]


def _client(cluster: str | None, cluster_name: str | None) -> Any:
    from dita.projection.hazelcast import connect_client

    members, name = cluster_options(
        cluster, cluster_name, members_option="--cluster", name_option="--cluster-name", announce=True
    )
    timeout = hazelcast_connect_s()
    try:
        return connect_client(members, name, block=True, connect_timeout=timeout)
    except Exception as exc:
        fail(f"cannot reach Hazelcast cluster {name!r} at {', '.join(members)}: {exc}", code=3)


def _warn_once() -> Callable[[str], None]:
    """A command's warner: ``warning: message`` on stderr, each message once however often
    the command reads the maps (``set --wait`` reads them until the change shows)."""
    said: set[str] = set()

    def say(message: str) -> None:
        if message not in said:
            said.add(message)
            warn(message)

    return say


def _fmt_time(ts: Any) -> str:
    if not isinstance(ts, int | float) or isinstance(ts, bool):
        return ""
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + "Z"
    except (OverflowError, ValueError, OSError):
        return ""  # NaN or past any calendar (typed by hand): no time to show


@control_app.command("show")
def show(
    cluster: ClusterOption = None,
    cluster_name: ClusterNameOption = None,
    as_json: JsonOption = False,
    timeout: TimeoutOption = _WRITE_TIMEOUT_S,
) -> None:
    """The control entries (what operators asked for) and each kernel's applied state.

    With --json, a number that is not finite (typed by hand) is shown as text: "inf", "nan".
    """
    from dita._numbers import finite_json
    from dita.control.hazelcast import CONTROL_PLANE_MAP
    from dita.control.hazelcast.stamps import _field_stamp
    from dita.projection.hazelcast import ACCOUNTS_MAP, CONTROL_MAP, HazelcastError, shutdown_client

    require_cluster_timeout(timeout)
    client = _client(cluster, cluster_name)
    deadline = time.monotonic() + timeout
    try:
        say = _warn_once()
        entries = _read_by(client, CONTROL_PLANE_MAP, say, deadline)
        applied = _read_by(client, CONTROL_MAP, say, deadline)
        accounts = _read_by(client, ACCOUNTS_MAP, say, deadline)
    except _NotAnswered as late:
        _unanswered(cluster, cluster_name, f"{late.what} not answered within {timeout:g}s ({late.why})")
    except HazelcastError as exc:
        _lost(cluster, cluster_name, exc, "while reading the maps")
    finally:
        shutdown_client(client)
    # A kernel's entries outlive it (a crash cannot remove them): say which ones still run.
    gone = {k: _gone_why(accounts[k]) if k in accounts else "no account projected" for k in applied}
    gone = {k: why for k, why in gone.items() if why}
    own = sorted(k for k in applied if own_control(applied[k]))
    if as_json:
        running = sorted(k for k in applied if k not in gone)
        # Strict JSON: a number typed by hand as 1e999 or NaN is shown as its text ("inf").
        document = finite_json(
            {"entries": entries, "kernels": applied, "running": running, "own_control": own}, as_text=True
        )
        typer.echo(json.dumps(document, indent=2, sort_keys=True, allow_nan=False))
        return
    from rich.table import Table

    console = out_console()
    table = Table(title="control entries (dita_control_plane; '*' = every kernel)", title_justify="left")
    for column in ("entry", "mode", "verbosity", "debug_clickhouse", "updated (UTC)", "by"):
        table.add_column(column)
    unstamped = False
    for key in sorted(entries):
        e = entries[key]
        cells = {f: "" if f not in e else str(e[f]) for f in ("mode", "verbosity")}
        if "debug_clickhouse_enabled" in e:
            cells["debug_clickhouse_enabled"] = str(e["debug_clickhouse_enabled"]).lower()
        for field in cells:
            if field in e and _field_stamp(e, field) is None:
                cells[field] += " (no stamp)"
                unstamped = True
        _add_row(
            table,
            key,
            cells["mode"],
            cells["verbosity"],
            cells.get("debug_clickhouse_enabled", ""),
            _fmt_time(e.get("updated_at")),
            str(e.get("updated_by", "")),
        )
    console.print(table)
    if unstamped:
        console.print(
            "(no stamp): written without its <field>_at (by hand?), a value never newer than a "
            "stamped one: a kernel that took a stamped value ignores it; `dita control set` stamps it",
            highlight=False,
        )
    table = Table(title="kernels (dita_control: the state each kernel runs with)", title_justify="left")
    for column in ("kernel", "running", "mode", "verbosity", "debug_clickhouse", "source", "projected (UTC)"):
        table.add_column(column)
    for key in sorted(applied):
        c = applied[key]
        _add_row(
            table,
            key,
            "no" if key in gone else "yes",
            str(c.get("mode", ""))
            + (" FROZEN" if c.get("frozen") is True else "")
            + (" (own control)" if key in own else ""),
            str(c.get("verbosity", "")),
            str(c.get("debug_clickhouse_enabled", "")).lower(),
            str(c.get("source", "")),
            _fmt_time(c.get("projected_at")),
        )
    console.print(table)
    for key in sorted(gone):
        console.print(
            shown(f"{key}: not running ({gone[key]}): the state shown is the one it last ran"),
            highlight=False,
        )
    for key in (k for k in own if k not in gone):
        console.print(shown(f"{key}: {OWN_CONTROL_SAID}"), highlight=False)
    for key in sorted(k for k in applied if k not in gone and frozen_said(applied[k])):
        console.print(shown(f"{key}: {frozen_said(applied[key])}"), highlight=False)


OWN_CONTROL_SAID = (
    "own control: projected here, but no HazelcastControlPlane of this cluster serves it, so no "
    "`dita control set` reaches it (a halt included): stop it in its own process"
)
"""What `control show`, `control set` and `dita status` say of a kernel whose projected control
state has ``cluster_control`` false."""


def frozen_said(control: dict[str, Any]) -> str:
    """Why the kernel of a ``dita_control`` entry refuses every entry whatever its mode (an edge
    freeze holds it); "" when none does."""
    if control.get("frozen") is not True:
        return ""
    asset = control.get("freeze_asset") or ""
    why = "; ".join(str(x) for x in (control.get("freeze_reason"), asset and f"asset {asset}") if x)
    return (
        f"FROZEN by an edge freeze ({why or 'no reason given'}): it refuses every entry whatever its "
        "mode until the edge updates of its own process lift the freeze"
    )


def own_control(control: dict[str, Any]) -> bool:
    """Whether a ``dita_control`` entry says its kernel takes no control from the cluster
    (``cluster_control`` false; a kernel whose projection does not say is not taken for one)."""
    return control.get("cluster_control") is False


@control_app.command("set")
def set_(
    mode: Annotated[
        str | None, typer.Option("--mode", help="LIVE, PAPER, SHADOW, REDUCE_ONLY or HALTED")
    ] = None,
    verbosity: Annotated[str | None, typer.Option("--verbosity", help="QUIET, NORMAL or DEBUG")] = None,
    debug_clickhouse: Annotated[
        bool | None, typer.Option("--debug-clickhouse/--no-debug-clickhouse", help="journal debug switch")
    ] = None,
    kernel: Annotated[
        str | None, typer.Option("--kernel", help="one kernel id (default: every kernel)")
    ] = None,
    new_kernel: Annotated[
        bool,
        typer.Option(
            "--new-kernel",
            help="write the entry of a --kernel id no kernel is projected under yet (one to start)",
        ),
    ] = False,
    wait: Annotated[
        float, typer.Option("--wait", help="seconds to wait until the kernels' projections show the change")
    ] = 0.0,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            help="seconds the cluster has to answer the reads and the write once connected (up to "
            "300); past them, exit 3 saying whether the entry was written",
        ),
    ] = _WRITE_TIMEOUT_S,
    by: Annotated[str, typer.Option("--by", help="who sets it (kept in the entry)")] = "dita-cli",
    cluster: ClusterOption = None,
    cluster_name: ClusterNameOption = None,
) -> None:
    """Change the control entry of one kernel or of every kernel.

    A --kernel id that no kernel of the cluster is projected under (a typo) is refused, exit 1,
    nothing written, unless --new-kernel says the entry is for a kernel still to start.

    A cluster that leaves a read or the write unanswered (a member frozen answers none until the
    others declare it dead, a minute or more) ends the command at --timeout, exit 3, saying
    whether the write went out; an entry other writers keep changing under the write, exit 3,
    nothing written; a global write that kernels' own entries, written meanwhile by clocks ahead,
    keep overtaking (three times) ends it, exit 3, naming them; a read of --wait left unanswered
    ends it at --wait, exit 4. A
    global write whose read of every entry is unanswered at half --timeout is made after the
    global entry alone, stamped 2 s ahead, and says which kernels it may not reach (exit 0).

    A running kernel the write is for that takes no control from the cluster (projected without
    a HazelcastControlPlane) is named once the entry is written, exit 4."""
    from dita._kernel import ControlMode, Verbosity
    from dita._text import shortened
    from dita.control import GLOBAL, enum_names
    from dita.control.hazelcast import (
        ControlPlaneUnavailable,
        ControlWriteUnconfirmed,
        GlobalWriteOutrun,
        normalize_change,
        write_entry,
    )

    # Checked one at a time so the refusal names the option typed, not the entry's field.
    try:
        normalize_change(mode=mode)
    except ValueError:
        fail(f"--mode {shortened(repr(mode))} must be one of {enum_names(ControlMode)}")
    try:
        normalize_change(verbosity=verbosity)
    except ValueError:
        fail(f"--verbosity {shortened(repr(verbosity))} must be one of {enum_names(Verbosity)}")
    change = normalize_change(mode, verbosity, debug_clickhouse)
    if not change:
        fail("nothing to set: give --mode, --verbosity or --debug-clickhouse/--no-debug-clickhouse")
    if new_kernel and kernel in (None, GLOBAL):
        # Written to the global entry, a resume meant for one kernel to start would reach every kernel.
        fail(
            "--new-kernel names the entry of one kernel still to start: give its id with --kernel, "
            f"got {kernel!r}"
        )
    if kernel is not None and kernel != GLOBAL:
        # Before connecting, naming the option: the write refuses an id no kernel can have
        # ("btc-1 ") only once the cluster has been asked, naming its own argument.
        require_kernel_id(kernel, "--kernel")
    if kernel is not None:
        # Before connecting: the client refuses the key mid-write, which would read as a lost
        # cluster.
        require_utf8("--kernel", kernel)
    if kernel == GLOBAL:
        kernel = None  # the entry `*` is every kernel's: not one to warn about or wait for
    if not by.strip():
        fail(f"--by must name who sets it, got {by!r}")
    require_utf8("--by", by)  # written into the entry, read back as text no terminal can show
    require_finite("--wait", wait, allow_zero=True)
    require_cluster_timeout(timeout)
    from dita.projection.hazelcast import HazelcastError, shutdown_client

    client = _client(cluster, cluster_name)
    say = _warn_once()
    written = False
    # One deadline for the reads and the write: the command ends by it, whichever goes unanswered.
    deadline = time.monotonic() + timeout
    try:
        accounts: dict[str, dict[str, Any]] = {}
        if kernel is not None:
            from dita.projection.hazelcast import ACCOUNTS_MAP

            # Read once: the check below and the warning after the write both go by it.
            accounts = _read_by(client, ACCOUNTS_MAP, say, deadline)
            if not new_kernel:
                _require_known(client, kernel, accounts, say, deadline)
        try:
            # A global write the cluster lets read only its own entry (a member frozen) goes
            # through, saying which kernels it may not reach: printed after the `set` line.
            alone: list[str] = []
            write_entry(
                client,
                kernel,
                change,
                updated_by=by,
                timeout=max(deadline - time.monotonic(), 0.001),
                warn=alone.append,
            )
        except ValueError as exc:  # an entry's stamp no write can follow: nothing was written
            fail(str(exc))
        except ControlWriteUnconfirmed as exc:
            _unanswered(cluster, cluster_name, exc.said(timeout))
        except GlobalWriteOutrun as exc:  # written, but kernels' own entries written past it
            _unanswered(cluster, cluster_name, str(exc))
        except ControlPlaneUnavailable as exc:  # every compare-and-set lost to another writer
            _unanswered(cluster, cluster_name, f"{exc}; nothing was written")
        written = True
        fields = ", ".join(f"{k}={v}" for k, v in change.items())
        typer.echo(shown(f"set {kernel or 'every kernel (*)'}: {fields}"))
        for message in dict.fromkeys(alone):  # a compare-and-set retried reads (and says) again
            warn(message)
        if kernel is None and change.get("mode") == "LIVE":
            # A resume meant for live kernels also reaches `dita paper` runs, whose intents
            # carry no source run, so LIVE's provenance rule refuses them all, exits included.
            warn(
                "every kernel runs LIVE now, `dita paper` runs included, which then refuse each "
                "ENTER and EXIT without metadata.source_run (require_source_run_in_live): resume a "
                "paper run with --kernel K --mode PAPER"
            )
        if kernel is not None:
            # The entry is written either way (a kernel started under that id takes it), but a
            # mistyped or crashed kernel id must not pass for a halted kernel.
            why = _not_running(kernel, accounts)
            if why:
                typer.echo(f"warning: {why}", err=True)
        # A kernel projected without the control plane runs on whatever the entry says: named,
        # exit 4, so a halt is not taken for done while it trades.
        own = _own_control_running(client, kernel, accounts, say, deadline)
        for k in own:
            warn(shown(f"{k}: {OWN_CONTROL_SAID}"))
        if wait > 0 and not (kernel is not None and own):
            _wait_applied(client, kernel, change, wait, say, skip=own)
        if own:
            fail(f"not applied by: {shown(', '.join(own))} (own control)", code=4)
    except _NotAnswered as late:
        # A read before the write: written stays False (the wait's reads end in _wait_applied).
        _unanswered(
            cluster,
            cluster_name,
            f"{late.what} not answered within {timeout:g}s ({late.why}); nothing was written",
        )
    except HazelcastError as exc:
        # The cluster went away mid-command: say what is known rather than a traceback.
        known = (
            "the entry was written; which kernels applied it is unknown"
            if written
            else "the entry may or may not have been written"
        )
        _lost(cluster, cluster_name, exc, f"{known} (see `dita control show` once it is back)")
    finally:
        shutdown_client(client)


def _add_row(table: Any, *cells: str) -> None:
    """A row of ``cells`` as text, their control characters shown (``shown``): the keys and
    values are the cluster's, which anyone with access to it writes."""
    table.add_row(*map(shown, cells))


def _lost(cluster: str | None, cluster_name: str | None, exc: Exception, known: str) -> NoReturn:
    members, name = cluster_options(
        cluster, cluster_name, members_option="--cluster", name_option="--cluster-name"
    )
    fail(
        f"lost Hazelcast cluster {name!r} at {', '.join(members)} ({type(exc).__name__}: {exc}): {known}",
        code=3,
    )


class _NotAnswered(Exception):
    """A read the cluster left unanswered past the command's deadline; ``what`` names it."""

    def __init__(self, what: str) -> None:
        from dita.control.hazelcast import UNANSWERED_WHY

        super().__init__(what)
        self.what = what
        self.why = UNANSWERED_WHY


def _read_by(
    client: Any, map_name: str, say: Callable[[str], None], deadline: float
) -> dict[str, dict[str, Any]]:
    """``read_map`` of ``map_name``, given until ``deadline`` (monotonic); _NotAnswered past it
    (``read_maps``: a member frozen answers a read of every entry only once the others declare it
    dead, a minute or more)."""
    from dita.projection.hazelcast import read_maps

    read, unread = read_maps(client, [map_name], deadline - time.monotonic(), say)
    if unread:
        raise _NotAnswered(f"the read of {map_name}")
    return read[map_name]


def _unanswered(cluster: str | None, cluster_name: str | None, said: str) -> NoReturn:
    members, name = cluster_options(
        cluster, cluster_name, members_option="--cluster", name_option="--cluster-name"
    )
    fail(f"Hazelcast cluster {name!r} at {', '.join(members)}: {said}", code=3)


_KNOWN_LISTED = 20
"""How many known kernel ids `set` names, the nearest first, when it refuses an unknown one (`show`
lists them all)."""


def _require_known(
    client: Any,
    kernel: str,
    accounts: dict[str, dict[str, Any]],
    say: Callable[[str], None],
    deadline: float,
) -> None:
    """Exit 1, before anything is written, when no kernel was ever projected under ``kernel``
    in this cluster (no account, no control state) nor has a control entry of its own: a
    mistyped id is no kernel halted. A stopped or crashed kernel's entries stay, so its id is
    known and its entry is written; so is one given an entry ahead of its start (--new-kernel)."""
    from dita.control import GLOBAL
    from dita.control.hazelcast import CONTROL_PLANE_MAP
    from dita.projection.hazelcast import CONTROL_MAP

    entries = set(_read_by(client, CONTROL_PLANE_MAP, say, deadline)) - {GLOBAL}
    known = set(accounts) | set(_read_by(client, CONTROL_MAP, say, deadline)) | entries
    if kernel in known:
        return
    # The ids nearest the one given first (a typo's own kernel among them), however many are known.
    listed = difflib.get_close_matches(kernel, sorted(known), n=max(len(known), 1), cutoff=0.0)
    names = ", ".join(listed[:_KNOWN_LISTED]) + (
        f" and {len(listed) - _KNOWN_LISTED} more" if len(listed) > _KNOWN_LISTED else ""
    )
    fail(
        shown(
            f"no kernel {kernel!r} is known in this cluster (no account or control state is projected "
            "under that id, nor has it a control entry), so nothing was written: the kernels known "
            f"are {names or '(none)'}; "
            "pass --new-kernel to write the entry for a kernel still to start under that id"
        ),
        code=1,
    )


def _own_control_running(
    client: Any,
    kernel: str | None,
    accounts: dict[str, dict[str, Any]],
    say: Callable[[str], None],
    deadline: float,
) -> list[str]:
    """The running kernels (``kernel`` alone, when given, whose ``accounts`` are read already)
    whose projected control state says they take no control from this cluster. A read left
    unanswered by ``deadline`` (or a moment past it) is warned of: which they are is unknown."""
    from dita.projection.hazelcast import ACCOUNTS_MAP, CONTROL_MAP, live_kernels

    by = max(deadline, time.monotonic() + _LAST_READ_S)
    try:
        applied = _read_by(client, CONTROL_MAP, say, by)
        live = live_kernels(accounts if kernel is not None else _read_by(client, ACCOUNTS_MAP, say, by))
    except _NotAnswered as late:
        say(
            f"the entry was written; which kernels take no control from the cluster is unknown: {late.what} "
            f"not answered ({late.why})"
        )
        return []
    return sorted(k for k in live if k in applied and own_control(applied[k]) and kernel in (None, k))


def _not_running(kernel: str, accounts: dict[str, dict[str, Any]]) -> str:
    """Why ``kernel`` is not a running kernel of this cluster's projection (``accounts``, its
    ``dita_accounts``); "" when it is."""
    account = accounts.get(kernel)
    if account is None:
        return (
            f"no kernel {kernel!r} is projected in this cluster, so nothing shows one runs under that "
            "id (a typo? `dita control show` lists the kernels): the entry applies to a kernel "
            "with that id when it attaches"
        )
    why = _gone_why(account)
    return f"kernel {kernel!r} is not running ({why}): it takes the entry when it starts again" if why else ""


def _gone_why(account: dict[str, Any]) -> str:
    """Why the kernel of a ``dita_accounts`` entry is taken for gone or not trading; "" while it
    runs and takes input."""
    from dita.projection.hazelcast import (
        LIVE_WITHIN_S,
        clock_note,
        closed_at,
        input_refused,
        projection_age,
    )

    closed = closed_at(account)
    age = projection_age(account)
    if closed is not None:
        return f"closed at {_fmt_time(closed)}"
    if age is None:
        return "its account has no projected_at"
    if age > LIVE_WITHIN_S:
        return f"no projection for {age:.0f}s, taken for gone after {LIVE_WITHIN_S:g}s"
    if -age > LIVE_WITHIN_S:
        return clock_note(age)
    refused = input_refused(account)
    return "" if refused is None else f"not trading: {refused}"


_LAST_READ_S = 1.0
"""How long past --wait the reads of a round of --wait may still take (a round begun just before
its end): reads answered in milliseconds must not fail the wait for the time left being nil."""


def _wait_applied(
    client: Any,
    kernel: str | None,
    change: dict[str, Any],
    wait: float,
    say: Callable[[str], None],
    skip: list[str],
) -> None:
    """Wait up to ``wait`` s for the kernels the change is for to show it, but those in ``skip``
    (they take no control from the cluster, said by the caller); exit 4 naming any that do not."""
    from dita.projection.hazelcast import (
        ACCOUNTS_MAP,
        CONTROL_MAP,
        LIVE_WITHIN_S,
        clock_note,
        input_refused,
        live_kernels,
        projection_age,
    )

    deadline = time.monotonic() + wait
    pending: list[str] = []
    gone: list[str] = []
    refusing: list[str] = []  # pending kernels that take no input
    while True:
        # The round's reads given until the wait's end, or a moment past it for a round begun at its end.
        reads_by = max(deadline, time.monotonic() + _LAST_READ_S)
        try:
            applied = _read_by(client, CONTROL_MAP, say, reads_by)
            # Entries outlive their kernel: one that stopped projecting cannot apply anything, and
            # the mode it last projected is not a change applied.
            accounts = _read_by(client, ACCOUNTS_MAP, say, reads_by)
        except _NotAnswered as late:
            fail(
                f"the entry was written; which kernels applied it is unknown: {late.what} not answered "
                f"within {wait:g}s ({late.why})",
                code=4,
            )
        live = live_kernels(accounts)
        if kernel:
            targets = [] if kernel in skip else [kernel]
        else:
            # Every kernel whose account is live, its control projection there or not: one
            # without it shows nothing applied, and is no kernel halted.
            targets = sorted(live - set(skip))
            gone = sorted(k for k in applied if k not in live)
        pending = [
            k
            for k in targets
            if k not in live or k not in applied or any(applied[k].get(f) != v for f, v in change.items())
        ]
        # A kernel taking no input applies no change until it is restarted: the wait ends once
        # only such kernels are left.
        refusing = [k for k in pending if k in live and input_refused(accounts[k]) is not None]
        if len(refusing) == len(pending) or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    if gone:
        typer.echo(
            f"not waited for (closed, or no projection for over {LIVE_WITHIN_S:g}s, taken for gone): "
            f"{shown(', '.join(gone))}"
        )
    from dita.cli._state import QUIET_AFTER_S

    def named(k: str) -> str:
        """``k``, with how long ago it last projected when that is over QUIET_AFTER_S: a quiet
        kernel may be dead, neither refusing a change nor applying one."""
        age = projection_age(accounts.get(k, {}))
        if kernel and k not in live:
            return f"{k} (not running)"
        refused = input_refused(accounts.get(k, {})) if k in live else None
        if refused is not None:
            return f"{k} (not trading: {refused})"
        if age is not None and age > QUIET_AFTER_S:
            return f"{k} (last projected {age:.0f}s ago)"
        if age is not None and clock_note(age):
            return f"{k} ({clock_note(age)})"
        return k

    if pending:
        # Ended early when only kernels taking no input were left: no time would have done.
        within = "" if len(refusing) == len(pending) else f" within {wait:g}s"
        fail(f"not applied{within} by: {shown(', '.join(map(named, pending)))}", code=4)
    # A resume reaches a frozen kernel's mode, not its entries: it trades no more than before.
    frozen = [k for k in targets if change.get("mode") in _RESUMES and frozen_said(applied[k])]
    targets = [k for k in targets if k not in frozen]
    if targets or not frozen:
        typer.echo(f"applied by: {shown(', '.join(map(named, targets))) or '(no kernels projected)'}")
    if frozen:
        said = "; ".join(f"{k}: {frozen_said(applied[k])}" for k in frozen)
        fail(f"mode {change['mode']} set but not trading: {shown(said)}", code=4)


_RESUMES = ("LIVE", "PAPER", "SHADOW")
"""The modes that take entries: set on a frozen kernel, they resume nothing."""


def register(app: typer.Typer) -> None:
    app.add_typer(control_app, name="control")
