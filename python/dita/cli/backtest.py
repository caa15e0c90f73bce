"""``dita backtest``: replay history through the kernel and the paper venue, write a report."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from dita._numbers import finite_json
from dita.cli._common import (
    BALANCE,
    FEE_RATE,
    LATENCY_MS,
    LEVERAGE,
    MAX_SLOTS,
    PROGRESS_LINE_SECONDS,
    SLIPPAGE_BPS,
    VOLUME_SHARE,
    AllowGapsOption,
    BalanceOption,
    FeeRateOption,
    LatencyMsOption,
    LeverageOption,
    MakerFeeRateOption,
    MaxSlotsOption,
    SlippageBpsOption,
    VolumeShareOption,
    check_feed,
    data_path,
    elapsed_report,
    fail,
    fail_options,
    given_path,
    load_strategy,
    parse_params,
    print_table,
    progress_report,
    warn,
    warn_rejected,
)

__all__ = ["register"]


def backtest(
    strategy: Annotated[
        str,
        typer.Option(
            help="Strategy as MODULE:CLASS or FILE.py:CLASS, e.g. dita.examples.crossover:SmaCrossover"
        ),
    ],
    data: Annotated[
        str, typer.Option(help="Bars or quotes, .csv, .csv.gz or .parquet ('sample' = shipped sample bars)")
    ],
    out: Annotated[
        Path,
        typer.Option(
            help="Directory for metrics.json, trades.csv, equity.csv, PNG and HTML", parser=given_path
        ),
    ],
    from_: Annotated[
        str | None, typer.Option("--from", help="First time to replay (ISO date/time, UTC)")
    ] = None,
    to: Annotated[str | None, typer.Option(help="Replay up to, not including, this time (ISO, UTC)")] = None,
    balance: BalanceOption = BALANCE,
    fee_rate: FeeRateOption = FEE_RATE,
    maker_fee_rate: MakerFeeRateOption = None,
    slippage_bps: SlippageBpsOption = SLIPPAGE_BPS,
    latency_ms: LatencyMsOption = LATENCY_MS,
    volume_share: VolumeShareOption = VOLUME_SHARE,
    leverage: LeverageOption = LEVERAGE,
    max_slots: MaxSlotsOption = MAX_SLOTS,
    param: Annotated[
        list[str] | None, typer.Option(help="Strategy parameter NAME=VALUE (repeatable)")
    ] = None,
    params: Annotated[str | None, typer.Option(help="Strategy parameters as a JSON object")] = None,
    allow_gaps: AllowGapsOption = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr")] = True,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the metrics as JSON instead of a table")
    ] = False,
) -> None:
    """Backtest a strategy on history and write metrics, trades, equity and an HTML report."""
    from pydantic import ValidationError

    from dita.backtest.data import DataError, load_market_data, parse_time
    from dita.backtest.engine import BacktestConfig, run_backtest
    from dita.runtime import refusals_said

    try:
        # Not `if from_`: an empty one (an unset "$START") is refused, not taken for no bound.
        start = parse_time(from_, "--from") if from_ is not None else None
        end = parse_time(to, "--to") if to is not None else None
    except ValueError as exc:
        fail(str(exc))
    try:
        config = BacktestConfig(
            balance=balance,
            fee_rate=fee_rate,
            maker_fee_rate=maker_fee_rate,
            slippage_bps=slippage_bps,
            latency_ms=latency_ms,
            volume_share=volume_share,
            leverage=leverage,
            max_slots=max_slots,
        )
    except ValidationError as exc:
        fail_options(exc)
    strat = load_strategy(strategy, *parse_params(param or [], params))
    path = data_path(data)
    try:
        # A file of gigabytes takes minutes to read and check: said, or the run would look hung.
        with elapsed_report(
            f"reading {path.name}{_size(path)}", enabled=progress, line_seconds=PROGRESS_LINE_SECONDS
        ):
            history = load_market_data(path, start=start, end=end, allow_gaps=allow_gaps)
    except DataError as exc:
        fail(f"bad data: {exc}")
    check_feed(strat, history.kind, history.assets)
    # Made before the replay, so a report that cannot be written costs no run.
    if out.exists() and not out.is_dir():
        fail(f"--out {out} is a file; give a directory for the report")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"--out {out}: cannot create the directory: {exc.strerror or exc}")
    if not os.access(out, os.W_OK | os.X_OK):
        fail(f"--out {out}: the directory is not writable")

    with progress_report(
        "backtest",
        "rows",
        len(history),
        enabled=progress,
        line_seconds=PROGRESS_LINE_SECONDS,
        rate=True,
    ) as advance:
        result = run_backtest(strat, history, config, progress=advance)

    try:
        paths = result.write_report(out)
    except OSError as exc:  # e.g. a full disk after the check above
        fail(f"cannot write the report to {out}: {exc}", code=1)
    failed = [s for s in result.strategy_status if s["status"] == "ERROR"]
    m = result.metrics.to_dict()
    # A blown account halts entries (halt_when_bust): say so, or the run reads as a strategy
    # that lost everything and then stopped trading for no reason.
    info = result.run_info
    halted = (
        {k: info[k] for k in ("halted_at", "halted_equity", "halted_row")} if "halted_at" in info else None
    )
    # Orders the venue rejected (an asset the data does not hold): the kernel took them, so
    # the strategy's outcome was accepted, and the run would read as one that chose not to trade.
    rejected = (
        {"orders": info["orders_rejected"], "reasons": info["rejections"]}
        if info["orders_rejected"]
        else None
    )
    # Intents the kernel refused (a size past its bound, a risk limit, the mode; not its routine
    # refusals): each strategy's outcome says so, and a run whose every order was refused would
    # read as "Trades 0", a PnL of 0 and no word of why.
    refused = (
        {"intents": info["intents"], "refused": info["intents_refused"], "reasons": info["refusals"]}
        if info["intents_refused"]
        else None
    )
    # A trade still open at the end is no closed trade (trades.csv, "Trades"), but its PnL, marked
    # at the last price, is in the total: said, or "Trades 0" would stand beside a PnL with no word
    # of it.
    still_open = (
        {"trades": result.open_trades, "unrealized_pnl": float(result.account["unrealized_pnl"])}
        if result.open_trades
        else None
    )
    if json_out:
        doc = {
            "metrics": m,
            "notes": result.metrics.notes,
            "out": str(out),
            "strategies": result.strategy_status,
            "halted": halted,
            "rejected": rejected,
            "refused": refused,
            "open_trades": still_open,
        }
        # Strict JSON, as metrics.json: a parameter of inf is the text "inf", not Infinity,
        # which jq, JSON.parse and most other readers refuse.
        typer.echo(json.dumps(finite_json(doc, as_text=True), sort_keys=True, allow_nan=False))
    else:
        typer.echo(
            f"{result.run_info['strategy']} on {Path(history.source).name}: {result.rows:,} rows "
            f"in {result.elapsed_s:.1f} s ({result.rows_per_second:,.0f} rows/s)"
        )
        print_table(
            "Results",
            [
                ("Total PnL", m["total_pnl"]),
                ("Total PnL %", m["total_pnl_pct"]),
                ("Trades", m["trades"]),
                ("Win rate %", m["win_rate"]),
                ("Profit factor", m["profit_factor"]),
                ("Max drawdown", m["max_drawdown"]),
                ("Max drawdown %", m["max_drawdown_pct"]),
                ("Longest drawdown (days)", m["max_drawdown_days"]),
                ("Sharpe", m["sharpe"]),
                ("Sortino", m["sortino"]),
                ("CAGR", m["cagr"]),
                ("Calmar", m["calmar"]),
                ("Expectancy", m["expectancy"]),
                ("Average trade", m["average_trade"]),
                ("Average win", m["average_win"]),
                ("Average loss", m["average_loss"]),
                ("Exposure time %", m["exposure_pct"]),
                ("Fees", m["total_fees"]),
            ],
        )
        notes = result.metrics.notes
        for (a, a_label), (b, b_label) in (
            (("sharpe", "Sharpe"), ("sortino", "Sortino")),
            (("cagr", "CAGR"), ("calmar", "Calmar")),
        ):
            if a in notes and notes.get(b) == notes[a]:
                typer.echo(f"{a_label} and {b_label}: n/a, {notes[a]}")
            else:
                for key, label in ((a, a_label), (b, b_label)):
                    if key in notes:
                        typer.echo(f"{label}: n/a, {notes[key]}")
        if still_open is not None:
            n = still_open["trades"]
            typer.echo(
                f"open at the end: {n:,} trade{'' if n == 1 else 's'}, marked at the last price: "
                f"unrealized PnL {still_open['unrealized_pnl']:,.2f}, in Total PnL (not in trades.csv)"
            )
        if halted is not None:
            at = datetime.fromtimestamp(halted["halted_at"], tz=UTC)
            typer.echo(
                f"halted: equity reached {halted['halted_equity']:,.2f} at {at:%Y-%m-%d %H:%M:%S} UTC: "
                "no trade opened after it, open ones still closed"
            )
        typer.echo(f"report: {paths['report.html']}")
    if rejected is not None:
        warn_rejected(rejected["orders"], rejected["reasons"])
    if refused is not None:
        warn(refusals_said(refused["refused"], refused["reasons"], refused["intents"]))
    for s in failed:
        typer.echo(f"error: strategy {s['name']} failed in {s['error_callback']}: {s['error']}", err=True)
    if failed:
        raise typer.Exit(1)


def _size(path: Path) -> str:
    """`` (1.2 GB)``, the file's size, or '' where it has none to tell (not there: refused later)."""
    try:
        size = float(path.stat().st_size)
    except OSError:
        return ""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f" ({size:.0f} {unit})" if unit == "B" else f" ({size:.1f} {unit})"
        size /= 1000
    return ""


def register(app: typer.Typer) -> None:
    app.command("backtest")(backtest)
