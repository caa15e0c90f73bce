"""``dita demo``: a short scripted session through the kernel and the mock venue.

This is what ``make run`` shows on a fresh machine: entries, a laddered exit, a resting
limit order and its cancel, a refusal with its diagnostic, an exchange account update, and the slots
and account at the end.
"""

from __future__ import annotations

import time

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from dita import (
    AccountEvent,
    ExecutionKernel,
    InMemoryJournal,
    InMemoryProjection,
    KernelIntent,
    KernelOutcome,
    MockVenueAdapter,
)
from dita.cli._common import out_console


def _show(console: Console, label: str, out: KernelOutcome) -> None:
    path = (
        " -> ".join([out.transitions[0].prev_state.name, *(t.next_state.name for t in out.transitions)])
        if out.transitions
        else "-"
    )
    verdict = "accepted" if out.accepted else out.diagnostic_code.name
    extra = f" {dict(out.details)}" if out.details else ""
    line = Text(f"  {label:<34} ")
    line.append(f"{verdict:<19}", style="green" if out.accepted else "red")
    line.append(f" {path}{extra}")
    console.print(line)


def run_demo(console: Console) -> ExecutionKernel:
    venue = MockVenueAdapter(seed=7)
    journal = InMemoryJournal()
    projection = InMemoryProjection()
    kernel = ExecutionKernel(
        max_slots=4, venue=venue, journal=journal, projection=projection, kernel_id="demo"
    )
    kernel.set_seed_capital(10_000.0)
    kernel.set_exchange_config({"taker_rate": 0.0005, "maker_rate": 0.0002, "lot_step": 0.001})
    t0 = time.time()

    def intent(n: int, action: str, slot: int, **kw: object) -> KernelIntent:
        base: dict[str, object] = dict(
            intent_id=f"i{n}",
            trade_id=kw.pop("trade_id", f"t{slot}"),
            slot_id=slot,
            asset=kw.pop("asset", "BTCUSDT"),
            side=kw.pop("side", "LONG"),
            action=action,
            reference_price=kw.pop("price", 60_000.0),
            target_size=kw.pop("size", 0.0),
            timestamp=t0 + n,
        )
        base.update(kw)
        return KernelIntent(**base)  # type: ignore[arg-type]

    console.print(
        Text.assemble(
            ("dita demo", "bold"), ": kernel 'demo', 4 slots, native mock venue, seed capital 10,000"
        )
    )
    _show(
        console,
        "ENTER LONG 0.25 BTC on slot 0",
        kernel.process_intent(intent(1, "ENTER", 0, size=0.25, exit_leg_ratios=(0.5, 0.5))),
    )
    _show(
        console,
        "ENTER SHORT 2 ETH on slot 1",
        kernel.process_intent(intent(2, "ENTER", 1, asset="ETHUSDT", side="SHORT", price=3_000.0, size=2.0)),
    )
    _show(console, "ENTER on busy slot 0", kernel.process_intent(intent(3, "ENTER", 0, size=0.1)))
    _show(
        console,
        "ENTER with NaN price",
        kernel.process_intent(intent(4, "ENTER", 2, price=float("nan"), size=1.0)),
    )
    kernel.mark_price("BTCUSDT", 61_000.0)
    kernel.mark_price("ETHUSDT", 2_950.0)
    _show(
        console,
        "EXIT first leg of slot 0 @ 61,000",
        kernel.process_intent(intent(5, "EXIT", 0, price=61_000.0)),
    )
    _show(
        console, "EXIT rest of slot 0 @ 61,500", kernel.process_intent(intent(6, "EXIT", 0, price=61_500.0))
    )
    _show(
        console,
        "EXIT slot 1 @ 2,950",
        kernel.process_intent(intent(7, "EXIT", 1, asset="ETHUSDT", side="SHORT", price=2_950.0)),
    )
    resting = MockVenueAdapter(seed=7, fill_rate=0.0)
    k2 = ExecutionKernel(max_slots=1, venue=resting, kernel_id="demo-resting")
    _show(
        console,
        "(2nd kernel) ENTER LIMIT, rests",
        k2.process_intent(intent(8, "ENTER", 0, size=0.1, order_type="LIMIT", limit_price=59_000.0)),
    )
    _show(console, "(2nd kernel) CANCEL it", k2.process_intent(intent(9, "CANCEL", 0)))
    kernel.on_account_event(
        AccountEvent("acct-1", "ACCOUNT_UPDATE", wallet_balance=kernel.account()["capital"] + 0.5)
    )

    table = Table(title="slots")
    for col in ("slot", "stage", "asset", "side", "size", "entry", "realized", "fees", "close_reason"):
        table.add_column(col)
    for s in kernel.slots():
        table.add_row(
            str(s["slot_id"]),
            s["fsm_state"],
            s["asset"],
            s["side"],
            f"{s['size']:g}",
            f"{s['entry_price']:.2f}",
            f"{s['realized_pnl']:.2f}",
            f"{s['fees_paid']:.4f}",
            s["close_reason"],
        )
    console.print(table)
    acct = kernel.account()
    at = Table(title="account (K = kernel, E = exchange)")
    at.add_column("field")
    at.add_column("value")
    for k in (
        "capital",
        "equity",
        "realized_pnl",
        "k_fees_paid",
        "e_wallet_balance",
        "available_capital",
        "reconcile_status",
        "reconcile_explanation",
        "event_seq",
    ):
        at.add_row(k, str(acct[k]))
    console.print(at)
    projection.flush()
    rows = {t: len(journal.rows(t)) for t in ("intents", "transitions", "fills", "account_events")}
    console.print(f"journal rows: {rows}; projected slot keys: {len(projection.slots)}")
    return kernel


def register(app: typer.Typer) -> None:
    @app.command()
    def demo() -> None:
        """Run a short scripted session through the kernel and print slots and account."""
        run_demo(out_console())
