"""``dita status``, ``dita orders`` and ``dita pnl``: what running kernels hold, for people
(tables) and scripts (``--json``). See ``dita.cli._state`` for where the state comes from."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from dita._text import utc_text
from dita.cli._common import (
    STATE_DIR_DEFAULT,
    UNREACHABLE,
    cluster_options,
    fail,
    given_path,
    hazelcast_connect_s,
    out_console,
    rejected_said,
    require_cluster_timeout,
    require_kernel_id,
    shown,
)
from dita.cli.control import OWN_CONTROL_SAID, own_control
from dita.cli.pnl_journal import net_pnl, pnl_from_journal

__all__ = ["register"]

StateDir = Annotated[
    Path | None,
    typer.Option(help=f"State files of `dita paper` (default: {STATE_DIR_DEFAULT})", parser=given_path),
]
Hazelcast = Annotated[str | None, typer.Option(help="Read the projection from members host:port,...")]
HzCluster = Annotated[
    str | None, typer.Option(help="Hazelcast cluster name (default: $DITA_HAZELCAST_CLUSTER or dita)")
]
Kernel = Annotated[str | None, typer.Option(help="Only this kernel id")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON for scripts")]
# As `dita control`'s --timeout (a test holds them equal).
_READ_TIMEOUT_S = 10.0
_NOT_READ = "not read"
"""What a table shows where the map holding the value was left unread (--timeout)."""
ReadTimeout = Annotated[
    float,
    typer.Option(
        "--timeout",
        help="With --hazelcast: seconds the cluster has to answer the reads of its maps once "
        "connected (up to 300); past them, what was read is shown, the rest named, exit 3",
    ),
]


def _snapshots(
    state_dir: Path | None,
    hazelcast: str | None,
    kernel: str | None,
    hz_cluster: str | None = None,
    timeout: float = _READ_TIMEOUT_S,
) -> tuple[list[dict[str, Any]], str]:
    """The kernels' snapshots (``--kernel``'s alone), and what the cluster left unread, said as the
    command's error once it has shown the rest ("" when everything was read: see ``_incomplete``)."""
    from dita.cli._state import read_hazelcast, read_state_files, unread_said

    require_cluster_timeout(timeout)  # before anything is read: a bad value is refused whichever the source
    if kernel is not None:
        require_kernel_id(kernel, "--kernel")  # an empty or blank id would match no kernel, unsaid
    unread: list[str] = []
    said = ""
    if hazelcast is not None:
        from dita.projection.hazelcast import HazelcastError

        members, name = cluster_options(hazelcast, hz_cluster, announce=True)
        where = f"Hazelcast cluster {name!r} at {', '.join(members)}"
        # Read before the guard below: a bad value's exit is not one of the projection's errors.
        wait = hazelcast_connect_s()
        try:
            snaps, unread = read_hazelcast(members, name, timeout=wait, read_timeout=timeout)
        except ConnectionError as exc:
            # A member that answers under another name reads as "Unable to connect to any
            # cluster": say which name was asked for. Exit 3, as every command does for a
            # service it cannot reach, so a script tells it from "no kernel found".
            fail(f"cannot reach {where}: {exc}", code=UNREACHABLE)
        except HazelcastError as exc:
            # Connected, then lost mid-read (a member frozen or gone): unreachable too, as
            # `dita control` says when it loses the cluster part way.
            fail(f"lost {where} while reading it ({type(exc).__name__}: {exc})", code=UNREACHABLE)
        except Exception as exc:
            fail(f"cannot read the projection from {where}: {type(exc).__name__}: {exc}", code=1)
        if unread:
            said = f"{where}: {unread_said(unread, timeout)}"
    else:
        snaps = read_state_files(_state_dir(state_dir))
    if kernel is not None:
        snaps = [s for s in snaps if s["kernel_id"] == kernel]
        if not snaps:
            # In a map left unread, maybe: unknown, not "not found".
            _incomplete(said)
            fail(f"no kernel {kernel!r} found", code=1)
    return snaps, said


def _unread_parts(unread: list[str]) -> tuple[bool, bool, bool]:
    """Whether a snapshot's account, control state and slots are missing, their maps left unread
    (``unread``, the map names)."""
    if not unread:
        return False, False, False
    from dita.projection.hazelcast import ACCOUNTS_MAP, CONTROL_MAP, SLOTS_MAP

    return ACCOUNTS_MAP in unread, CONTROL_MAP in unread, SLOTS_MAP in unread


def _incomplete(said: str) -> None:
    """Exit 3 with ``said`` (what the cluster left unread) when it is not "": after the command
    has shown what it read, so a script reading its output knows it is not all of it."""
    if said:
        fail(said, code=UNREACHABLE)


def _state_dir(given: Path | None) -> Path:
    """The state directory to read. A file, or a directory someone named (--state-dir or
    $DITA_STATE_DIR) that does not exist, is refused: it would read as "no kernels"."""
    import os

    from dita.cli._state import named_state_dir

    path, option = named_state_dir(given)
    if path.exists() and not path.is_dir():
        fail(f"{option} {path} is a file, not a directory of state files")
    if option != "the default state directory" and not path.exists():
        fail(f"{option} {path}: no such directory")
    if path.is_dir():
        # Path.glob takes a directory it may not list (another user's, mode 0700) for an empty
        # one: "no running kernels found" while they run.
        try:
            with os.scandir(path):
                pass
        except OSError as exc:
            fail(f"{option} {path}: cannot list its state files: {exc.strerror or exc}")
    return path


def _refusals_said(row: dict[str, Any]) -> list[str]:
    """The orders the venue rejected and the intents the kernel refused of a ``status`` row, with
    their reasons, in the words `dita paper` warns with at the end of its run: ``the venue
    rejected N orders: ...``, ``the kernel refused N intents: ...`` (the state file keeps no count
    of the intents sent: no "of M"). Neither is said where there were none, or it is unknown."""
    from dita.runtime import KernelRefusals, VenueRejections, refusals_said

    said = []
    for count, reasons, counts, say in (
        ("orders_rejected", "rejection_reasons", VenueRejections, rejected_said),
        ("intents_refused", "refusal_reasons", KernelRefusals, refusals_said),
    ):
        n = row[count]
        if n:
            said.append(say(n, counts(n, row[reasons]).text()))
    return said


def status(
    state_dir: StateDir = None,
    hazelcast: Hazelcast = None,
    hz_cluster: HzCluster = None,
    kernel: Kernel = None,
    json_out: JsonOut = False,
    timeout: ReadTimeout = _READ_TIMEOUT_S,
) -> None:
    """Kernels, their mode, account, strategies, the orders their venue rejected and the
    intents they refused."""
    from dita.cli._state import active_slots

    snaps, incomplete = _snapshots(state_dir, hazelcast, kernel, hz_cluster, timeout)
    rows = []
    for s in snaps:
        acct, ctl = s.get("account", {}), s.get("control", {})
        strategies = s.get("strategies", [])
        # None where the map holding it was left unread: unknown, not "no" or none.
        no_account, no_control, no_slots = _unread_parts(s.get("unread", []))
        open_positions = len([x for x in active_slots(s) if float(x.get("size") or 0.0) > 0])
        rows.append(
            {
                "kernel_id": s["kernel_id"],
                "running": None if no_account else bool(s.get("running")),
                "mode": None if no_control else ctl.get("mode", ""),
                "frozen": None if no_control else bool(ctl.get("frozen", False)),
                # True: projected by a kernel no control plane of the cluster serves.
                "own_control": None if no_control else own_control(ctl),
                "equity": acct.get("equity"),
                "capital": acct.get("capital"),
                "realized_pnl": acct.get("realized_pnl"),
                "unrealized_pnl": acct.get("unrealized_pnl"),
                "fees": acct.get("k_fees_paid"),
                "open_positions": None if no_slots else open_positions,
                "reconcile_status": acct.get("reconcile_status", ""),
                # 0 there is a run saved before its first row (the runtime's clock starts at 0).
                "data_time": utc_text(s.get("data_time") or None),
                # None from the projection: it does not hold them (unknown, not "none").
                "strategies": None
                if strategies is None
                else [
                    {"name": x["name"], "status": x["status"], "error": x.get("error", "")}
                    for x in strategies
                ],
                # The orders the venue rejected over the kernel's runs, each reason with its
                # count (None from the projection, which does not hold them).
                "orders_rejected": s.get("orders_rejected", 0),
                "rejection_reasons": s.get("rejection_reasons", {}),
                # And the intents the kernel refused (but its routine refusals), alike.
                "intents_refused": s.get("intents_refused", 0),
                "refusal_reasons": s.get("refusal_reasons", {}),
                "source": s.get("source", ""),
                # Why a kernel is not running (closed, gone quiet, its process gone).
                "note": s.get("note", ""),
            }
        )
    if json_out:
        _echo_json(rows)
        _incomplete(incomplete)
        return
    console = out_console()
    if not rows:
        _incomplete(incomplete)  # not "none found": the maps left unread may hold them
        if hazelcast is not None:
            console.print("no running kernels found: the cluster's maps hold no kernel's projection")
        else:
            console.print("no running kernels found (start one with `dita paper`, or pass --hazelcast)")
        return
    table = Table(title="kernels", title_justify="left")
    for col in (
        "kernel",
        "running",
        "mode",
        "equity",
        "realized",
        "unrealized",
        "fees",
        "open",
        "rejected",
        "refused",
        "strategies",
    ):
        numeric = ("equity", "realized", "unrealized", "fees", "open", "rejected", "refused")
        table.add_column(col, justify="right" if col in numeric else "left")
    for r in rows:
        _add_row(
            table,
            r["kernel_id"],
            _NOT_READ if r["running"] is None else "yes" if r["running"] else "no",
            _NOT_READ
            if r["mode"] is None
            else r["mode"]
            + (" FROZEN" if r["frozen"] else "")
            + (" (own control)" if r["own_control"] else ""),
            _money(r["equity"]),
            _money(r["realized_pnl"]),
            _money(r["unrealized_pnl"]),
            _money(r["fees"]),
            _NOT_READ if r["open_positions"] is None else str(r["open_positions"]),
            *("" if r[count] is None else str(r[count]) for count in ("orders_rejected", "intents_refused")),
            "not projected"
            if r["strategies"] is None
            else ", ".join(f"{x['name']}={x['status']}" for x in r["strategies"]),
        )
    console.print(table)
    for r in rows:
        for line in _refusals_said(r):
            console.print(shown(f"{r['kernel_id']}: {line}"), highlight=False)
    for r in rows:
        if r["note"]:
            console.print(shown(f"{r['kernel_id']}: {r['note']}"), highlight=False)
    for r in rows:
        if r["own_control"] and r["running"] is not False:
            console.print(shown(f"{r['kernel_id']}: {OWN_CONTROL_SAID}"), highlight=False)
    _incomplete(incomplete)


def orders(
    state_dir: StateDir = None,
    hazelcast: Hazelcast = None,
    hz_cluster: HzCluster = None,
    kernel: Kernel = None,
    json_out: JsonOut = False,
    timeout: ReadTimeout = _READ_TIMEOUT_S,
) -> None:
    """Working orders of every kernel."""
    from dita.cli._state import open_orders

    snaps, incomplete = _snapshots(state_dir, hazelcast, kernel, hz_cluster, timeout)
    rows = [o for s in snaps for o in open_orders(s)]
    # A stopped kernel's orders stay in its last state (and may still rest at the venue):
    # listed, with why it is not running, as `status` says it.
    notes = {s["kernel_id"]: s["note"] for s in snaps if s.get("note")}
    for o in rows:
        # Every row has one, as in `status`: empty while its kernel runs.
        o["note"] = notes.get(o["kernel_id"], "")
    if json_out:
        _echo_json(rows)
        _incomplete(incomplete)
        return
    console = out_console()
    if not rows:
        _incomplete(incomplete)  # not "none": the slots (or kernels) left unread may hold them
        console.print("no working orders")
        return
    table = Table(title="working orders", title_justify="left")
    for col in ("kernel", "order", "slot", "asset", "side", "type", "price", "size", "filled", "status"):
        table.add_column(col)
    for o in rows:
        _add_row(
            table,
            o["kernel_id"],
            str(o.get("client_order_id", "")),
            str(o.get("slot_id", "")),
            str(o.get("asset", "")),
            str(o.get("side", "")),
            str(o.get("order_type", "")),
            "" if o.get("price") is None else _exact(o["price"], decimals=2),
            # An order in doubt comes with its client id alone: its size is not known here.
            "" if o.get("size") is None else _exact(o["size"]),
            "" if o.get("filled_size") is None else _exact(o["filled_size"]),
            str(o.get("status", "")) + (", cancel requested" if o.get("cancel_requested") else ""),
        )
    console.print(table)
    for kid in sorted({o["kernel_id"] for o in rows if o["note"]}):
        console.print(shown(f"{kid}: {notes[kid]}"), highlight=False)
    _incomplete(incomplete)


def pnl(
    period: Annotated[str, typer.Option(help="today, week, month or all (UTC calendar)")] = "all",
    state_dir: StateDir = None,
    hazelcast: Hazelcast = None,
    hz_cluster: HzCluster = None,
    journal: Annotated[str | None, typer.Option(help="Sum fills from this journal DSN instead")] = None,
    kernel: Kernel = None,
    at: Annotated[
        str | None,
        typer.Option(
            help="Evaluate the period at this time (ISO, UTC): fills up to it (not with --hazelcast)"
        ),
    ] = None,
    json_out: JsonOut = False,
    timeout: ReadTimeout = _READ_TIMEOUT_S,
) -> None:
    """Realized PnL, fees and net over a period, per kernel (plus unrealized now)."""
    from dita.backtest.data import parse_time
    from dita.cli._state import PERIODS, now_for, period_start

    if period not in PERIODS:
        fail(f"--period {period!r} must be one of {', '.join(PERIODS)}")
    require_cluster_timeout(timeout)  # --journal does not read it, but a bad value is refused all the same
    if kernel is not None:
        require_kernel_id(kernel, "--kernel")
    if journal is None and hazelcast is not None:
        # Totals as they stand now: no period, and no earlier moment, can be taken from them.
        if period != "all":
            fail(f"--period {period!r} needs fills: pass --journal DSN (the projection holds totals only)")
        if at is not None:
            fail(f"--at {at!r} needs fills: pass --journal DSN (the projection holds totals only)")
    try:
        # Not `if at`: an empty --at (an unset "$AT") is refused, not taken for "now".
        at_ts = parse_time(at, "--at") if at is not None else None
    except ValueError as exc:
        fail(str(exc))
    rows: list[dict[str, Any]]
    incomplete = ""
    if journal is not None:  # "" too: refused naming --journal, not taken for "no journal"
        rows = pnl_from_journal(journal, period, at_ts, kernel)
    else:
        snaps, incomplete = _snapshots(state_dir, hazelcast, kernel, hz_cluster, timeout)
        rows = []
        for s in snaps:
            now = at_ts if at_ts is not None else now_for(s)
            start = period_start(period, now)
            acct = s.get("account", {})
            # Fills older than the ones the state file lists are kept as totals per UTC day.
            older = s.get("older_fills", {})
            note = ""
            count: int | None
            realized: float | None
            fees: float | None
            # K's funding: what the kernel was paid (or paid) in funding, net.
            funding = _amount(acct.get("k_funding_net"))
            if start is None and at_ts is None:
                # None where the account does not hold it (as `status` shows it): unknown, not 0.
                realized = _amount(acct.get("realized_pnl"))
                fees = _amount(acct.get("k_fees_paid"))
                if s.get("fills", []) is None:
                    count = None  # the projection's totals do not say how many fills made them
                else:
                    count = len(s.get("fills", [])) + sum(int(d["fills"]) for d in older.values())
            else:
                # From the period's start (all: the first fill) up to --at or the kernel's clock,
                # as `pnl --journal` sums them.
                since = float("-inf") if start is None else start
                fills = [f for f in s.get("fills", []) if since <= float(f["ts"]) <= now]
                days = [d for day, d in older.items() if since <= _day_start(day) <= now]
                realized = sum((float(f["realized_pnl"]) for f in fills), 0.0) + sum(
                    (float(d["realized_pnl"]) for d in days), 0.0
                )
                fees = sum((float(f["fee"]) for f in fills), 0.0) + sum((float(d["fee"]) for d in days), 0.0)
                count = len(fills) + sum(int(d["fills"]) for d in days)
                if any(float(d["last_ts"]) > now for d in days):
                    when = utc_text(now)
                    note = f"includes fills after {when} on that day (older fills are kept as day totals)"
                if funding:
                    # The file holds the funding's total, not when it was paid: a period's is unknown.
                    note = "; ".join(
                        n
                        for n in (
                            note,
                            f"funding ({_money(funding)} in all) is not dated in the state file, so "
                            "funding and net are left empty: pass --journal DSN",
                        )
                        if n
                    )
                    funding = None
            row = {
                "kernel_id": s["kernel_id"],
                "period": period,
                "from": utc_text(start) if start is not None else "",
                "to": utc_text(now),
                "fills": count,
                "realized_pnl": realized,
                "fees": fees,
                "funding": funding,
                "net_pnl": net_pnl(realized, fees, funding),
                "unrealized_pnl": _amount(acct.get("unrealized_pnl")),
                # Every row has one (a script reads it as in `status`): empty but for day totals.
                "note": note,
            }
            rows.append(row)
    if json_out:
        _echo_json(rows)
        _incomplete(incomplete)
        return
    console = out_console()
    if not rows:
        _incomplete(incomplete)  # not "none found": the maps left unread may hold them
        console.print("no kernels found")
        return
    table = Table(title=f"PnL ({period})", title_justify="left")
    for col in ("kernel", "from", "to", "fills", "realized", "fees", "funding", "net", "unrealized now"):
        table.add_column(col, justify="left" if col in ("kernel", "from", "to") else "right")
    for r in rows:
        _add_row(
            table,
            r["kernel_id"],
            r["from"],
            r["to"],
            "" if r["fills"] is None else str(r["fills"]),
            _money(r["realized_pnl"]),
            _money(r["fees"]),
            _money(r["funding"]),
            _money(r["net_pnl"]),
            _money(r["unrealized_pnl"]),
        )
    console.print(table)
    for r in rows:
        if r.get("note"):
            console.print(shown(f"{r['kernel_id']}: {r['note']}"), highlight=False)
    _incomplete(incomplete)


def _echo_json(rows: list[dict[str, Any]]) -> None:
    """``rows`` as strict JSON: a number that is not finite in a field passed through as the state
    file or the map holds it (an order's avg_fill_price, a strategy's error: Python's json reads
    NaN and Infinity) is null, as the projection writes it, not the bare word no JSON reader takes."""
    from dita._numbers import finite_json

    typer.echo(json.dumps(finite_json(rows), sort_keys=True, default=str, allow_nan=False))


def _day_start(day: str) -> float:
    return datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()


def _amount(v: Any) -> float | None:
    return None if v is None else float(v)


def _money(v: Any) -> str:
    """An amount to the cent; one that is not 0 but rounds to 0.00 to its first two significant
    digits: a loss or fee of 0.0042 (an account in a coin, a small one) is not nothing."""
    if v is None:
        return ""
    amount = float(v) or 0.0  # -0.0 as 0.0: no loss
    text = f"{amount:,.2f}"
    if amount and text in ("0.00", "-0.00"):
        return _exact(float(f"{amount:.2g}"))
    return text


def _exact(v: Any, decimals: int = 0) -> str:
    """A price or size as it is (its shortest repr), with at least ``decimals`` decimals and
    thousands separators, never in exponent form: a limit at 0.00001234 is not 0.00, and a
    size of 12,345,678 not 1.23457e+07."""
    number = float(v) or 0.0
    if not math.isfinite(number):
        return str(number)
    whole, _, fraction = format(Decimal(repr(number)), ",f").partition(".")
    fraction = fraction.rstrip("0").ljust(decimals, "0")
    return f"{whole}.{fraction}" if fraction else whole


def _add_row(table: Table, *cells: str) -> None:
    """A row of ``cells`` as text, their control characters shown (``shown``)."""
    table.add_row(*map(shown, cells))


def register(app: typer.Typer) -> None:
    app.command("status")(status)
    app.command("orders")(orders)
    app.command("pnl")(pnl)
