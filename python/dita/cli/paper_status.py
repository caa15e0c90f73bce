"""The live status of a ``dita paper`` run: its table (redrawn in place on a terminal, printed
once at the end elsewhere), the one-line status a log gets, and the kernel's mode as an operator
reads it."""

from __future__ import annotations

from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich.live import Live
from rich.table import Table

if TYPE_CHECKING:
    from dita.cli.paper_session import PaperSession
    from dita.runtime import ReasonCounts


def _status_line(session: PaperSession, snap: dict[str, Any]) -> str:
    """The status table's figures (of ``snap``, the session's snapshot) on one line, for a log."""
    acct = snap["account"]
    at = datetime.fromtimestamp(snap["data_time"], tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f"status: {at}, {snap['rows']:,} rows, equity {acct['equity']:,.2f}, realized "
        f"{acct['realized_pnl']:,.2f}, unrealized {acct['unrealized_pnl']:,.2f}, fees "
        f"{acct['k_fees_paid']:,.2f}, {acct['open_positions']} open positions, "
        f"{session.runtime.working_orders} working orders, "
        f"{_counted(session.rejections, 'order', 'rejected by the venue')}"
        f"{_counted(session.refusals, 'intent', 'refused by the kernel')}mode {_mode(snap['control'])}"
    )


def _counted(counts: ReasonCounts, what: str, how: str) -> str:
    """``N <what>s <how>, `` (``3 orders rejected by the venue, ``) of this run's ``counts``; ''
    when none."""
    n = counts.count
    return f"{n:,} {what}{'' if n == 1 else 's'} {how}, " if n else ""


def _mode(control: dict[str, Any]) -> str:
    """The kernel's mode as an operator reads it: who set a mode that stops trading, and an
    edge freeze of entries."""
    mode = str(control.get("mode", ""))
    stopping = mode in ("HALTED", "REDUCE_ONLY")
    said = f"{mode} (set by {control.get('source') or 'default'})" if stopping else mode
    if control.get("frozen"):
        said += f", entries frozen: {control.get('freeze_reason') or 'edge freeze'}"
    return said


def _mode_to_say(control: dict[str, Any], before: str | None) -> str | None:
    """The kernel's mode (``_mode``) when it is not what the run last said (``before``; None
    at the start, when only a mode that stops trading is said), else None: a run halted
    through the control plane trades nothing, and its console says why."""
    now = _mode(control)
    if now == before or (
        before is None and control.get("mode") not in ("HALTED", "REDUCE_ONLY") and not control.get("frozen")
    ):
        return None
    return now


def _status_table(session: PaperSession, snap: dict[str, Any] | None = None) -> Table:
    """The live status of the session, from ``snap`` when the caller took its snapshot."""
    snap = snap or session.snapshot(running=True)
    acct = snap["account"]
    table = Table(title=f"paper {snap['kernel_id']}", show_header=False, title_justify="left")
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("time", datetime.fromtimestamp(snap["data_time"], tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
    table.add_row("rows", f"{snap['rows']:,}")
    table.add_row("equity", f"{acct['equity']:,.2f}")
    table.add_row("realized / unrealized", f"{acct['realized_pnl']:,.2f} / {acct['unrealized_pnl']:,.2f}")
    table.add_row("fees", f"{acct['k_fees_paid']:,.2f}")
    table.add_row("open positions", str(acct["open_positions"]))
    table.add_row("working orders", str(session.runtime.working_orders))
    for name, counts in (("rejected orders", session.rejections), ("refused intents", session.refusals)):
        table.add_row(name, f"{counts.count:,}: {counts.text()}" if counts.count else "0")
    table.add_row("mode", _mode(snap["control"]))
    for s in snap["strategies"]:
        table.add_row(f"strategy {s['name']}", f"{s['status']} fills={s['fills']} {s['error']}".strip())
    return table


class _StatusLive(Live):
    """The status table, redrawn in place on a terminal. Elsewhere (a pipe, a service's log)
    rich prints it once at the end without ending the line: end it here, so ``interrupted``,
    ``terminated`` and ``state: ...`` start their own line instead of following the border."""

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        super().__exit__(exc_type, exc, tb)
        if not self.console.is_terminal:
            self.console.line()
