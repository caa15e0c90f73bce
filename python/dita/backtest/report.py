"""Backtest artefacts: metrics.json, trades.csv, equity.csv, equity.png and report.html.

metrics.json is strict JSON: a metric that is not defined is ``null`` (``notes`` says why, for
Sharpe, Sortino, CAGR and Calmar, as the HTML report does under its metrics), a run setting
that is not finite (a strategy parameter of ``inf``) is the text ``"inf"``.

The HTML report is one file with the picture inlined (base64), so it can be mailed or
archived without its directory.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from dita._files import replace_all_whole
from dita._numbers import finite_json
from dita._text import utc_text
from dita.backtest.metrics import FloatArray, Metrics, TradeRecord, drawdown_series

__all__ = ["ARTEFACTS", "plot_equity", "write_report"]

ARTEFACTS = ("metrics.json", "trades.csv", "equity.csv", "equity.png", "report.html")
EQUITY_COLOR = "#1f5fbf"
DRAWDOWN_COLOR = "#c0392b"
MAX_PLOT_POINTS = 4000


_UTC_MS = pa.timestamp("ms", tz="UTC")


def _utc_ms(ts: Sequence[float] | FloatArray) -> pa.Array:
    """Epoch seconds as UTC times to the millisecond, as trades.csv and equity.csv write them
    (whole seconds would give a trade on sub-second quotes the same entry and exit time)."""
    ms = np.round(np.asarray(ts, dtype=np.float64) * 1000.0).astype(np.int64)
    return pa.array(ms, type=pa.int64()).cast(_UTC_MS)


def _utc_ms_text(ts: Sequence[float]) -> list[str]:
    """The times as trades.csv writes them (``2024-01-01 00:38:00.250Z``), for the HTML."""
    return [str(t) for t in _utc_ms(ts).cast(pa.string()).to_pylist()]


def _run_value(key: str, value: Any) -> str:
    """A run's fact as the HTML shows it: the halt's time as a UTC time, as the CLI prints it
    (metrics.json keeps the epoch seconds); None (``refusals`` when there were none) as none."""
    if value is None:
        return "none"
    if key == "halted_at" and isinstance(value, int | float) and math.isfinite(value):
        return f"{utc_text(value)} UTC"
    return str(value)


def _decimate(x: FloatArray, *ys: FloatArray) -> tuple[FloatArray, ...]:
    """At most MAX_PLOT_POINTS points: each bucket of consecutive points keeps, for every series
    in ``ys``, its lowest and highest point, so no series drawn loses an extreme (the equity's
    peaks and troughs, the drawdown's deepest point)."""
    n = len(x)
    if n <= MAX_PLOT_POINTS or not ys:
        return (x, *ys)
    step = int(np.ceil(n / (MAX_PLOT_POINTS / (2 * len(ys)))))
    idx_parts = []
    for start in range(0, n, step):
        kept: set[int] = set()
        for y in ys:
            seg = y[start : start + step]
            kept.update((start + int(np.argmin(seg)), start + int(np.argmax(seg))))
        idx_parts.extend(sorted(kept))
    idx = np.asarray(idx_parts, dtype=np.int64)
    return (x[idx], *(y[idx] for y in ys))


def plot_equity(path: Path, ts: FloatArray, equity: FloatArray, balance: float, title: str) -> None:
    """Equity on top, drawdown (% below the running peak) underneath."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    _, dd_frac = drawdown_series(equity, balance)
    x, eq, dd = _decimate(ts, equity, -dd_frac * 100.0)
    dates = np.asarray(x, dtype="datetime64[s]")
    fig, (ax1, ax2) = plt.subplots(
        2, 1, figsize=(11, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]}, dpi=100
    )
    try:
        ax1.plot(dates, eq, color=EQUITY_COLOR, linewidth=1.4, label="equity")
        ax1.axhline(balance, color="#888888", linewidth=0.8, linestyle="--", label="starting balance")
        # As written: a file name with two `$` in it would be read as math, and raise (`usd$_$.csv`).
        ax1.set_title(title, parse_math=False)
        ax1.set_ylabel("equity")
        ax1.grid(alpha=0.3)
        ax1.legend(loc="upper left")
        ax2.fill_between(dates, dd, 0.0, color=DRAWDOWN_COLOR, alpha=0.5, linewidth=0)
        ax2.set_ylabel("drawdown %")
        ax2.grid(alpha=0.3)
        locator = mdates.AutoDateLocator()  # type: ignore[no-untyped-call]
        ax2.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        fig.tight_layout()
        fig.savefig(path, format="png")  # not by the name's suffix: write_report's is .tmpPID
    finally:
        plt.close(fig)


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.4f}" if abs(v) < 10 else f"{v:,.2f}"
    return str(v)


def _amount(v: float) -> str:
    """Two decimals from 1 up; below, four significant digits (a sub-cent price is not 0.00)."""
    if v == 0 or not math.isfinite(v) or abs(v) >= 1:
        return f"{v:,.2f}"
    return f"{v:.{3 - math.floor(math.log10(abs(v)))}f}"


METRIC_LABELS: dict[str, str] = {
    "total_pnl": "Total PnL",
    "total_pnl_pct": "Total PnL %",
    "final_equity": "Final equity",
    "trades": "Trades",
    "win_rate": "Win rate %",
    "profit_factor": "Profit factor",
    "max_drawdown": "Max drawdown",
    "max_drawdown_pct": "Max drawdown %",
    "max_drawdown_days": "Longest drawdown (days)",
    "sharpe": "Sharpe",
    "sortino": "Sortino",
    "calmar": "Calmar",
    "cagr": "CAGR",
    "expectancy": "Expectancy",
    "average_trade": "Average trade",
    "average_win": "Average win",
    "average_loss": "Average loss",
    "total_fees": "Fees",
    "exposure_pct": "Exposure time %",
}


def write_report(
    out: Path,
    *,
    metrics: Metrics,
    trades: Sequence[TradeRecord],
    ts: FloatArray,
    equity: FloatArray,
    position: FloatArray,
    run_info: Mapping[str, Any],
) -> dict[str, Path]:
    """Write every artefact into ``out`` (created if needed) and return their paths by name.

    All or none: each is written to a hidden file beside its name and synced, and only once all
    are does each take its name. Written in place one after another, a Ctrl-C (or a full disk)
    while the picture is drawn would leave a half-written file, or a new metrics.json beside an
    older run's report.html."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in ARTEFACTS}
    replace_all_whole(
        list(paths.values()),
        lambda staged: _write_artefacts(
            {name: staged[path] for name, path in paths.items()},
            metrics,
            trades,
            ts,
            equity,
            position,
            run_info,
        ),
    )
    return paths


def _write_artefacts(
    paths: Mapping[str, Path],
    metrics: Metrics,
    trades: Sequence[TradeRecord],
    ts: FloatArray,
    equity: FloatArray,
    position: FloatArray,
    run_info: Mapping[str, Any],
) -> None:
    doc = {
        "metrics": metrics.to_dict(),
        "notes": metrics.notes,
        "run": finite_json(run_info, as_text=True),
    }
    paths["metrics.json"].write_text(json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n")

    trade_cols: dict[str, list[Any]] = {
        "trade_id": [t.trade_id for t in trades],
        "asset": [t.asset for t in trades],
        "side": [t.side for t in trades],
        "entry_time": _utc_ms([t.entry_time for t in trades]),
        "exit_time": _utc_ms([t.exit_time for t in trades]),
        "entry_price": [t.entry_price for t in trades],
        "exit_price": [t.exit_price for t in trades],
        "size": [t.size for t in trades],
        "gross_pnl": [t.gross_pnl for t in trades],
        "fees": [t.fees for t in trades],
        "net_pnl": [t.net_pnl for t in trades],
        "return_pct": [t.return_pct for t in trades],
    }
    schema = pa.schema(
        [(k, pa.string()) for k in ("trade_id", "asset", "side")]
        + [(k, _UTC_MS) for k in ("entry_time", "exit_time")]
        + [
            (k, pa.float64())
            for k in ("entry_price", "exit_price", "size", "gross_pnl", "fees", "net_pnl", "return_pct")
        ]
    )
    pacsv.write_csv(pa.table(trade_cols, schema=schema), paths["trades.csv"])

    dd, dd_frac = drawdown_series(equity, metrics.starting_balance)
    ts_col = _utc_ms(ts)
    pacsv.write_csv(
        pa.table(
            {
                "timestamp": ts_col,
                "equity": equity,
                "drawdown": dd,
                "drawdown_pct": dd_frac * 100.0,
                "position": position,
            }
        ),
        paths["equity.csv"],
    )

    strategy_name = str(run_info.get("strategy", "strategy")).rsplit(":", 1)[-1]
    title = f"{strategy_name} on {Path(str(run_info.get('data', 'data'))).name}"
    plot_equity(paths["equity.png"], ts, equity, metrics.starting_balance, title)
    paths["report.html"].write_text(_html(metrics, trades, run_info, paths["equity.png"].read_bytes(), title))


def _html(
    metrics: Metrics, trades: Sequence[TradeRecord], run_info: Mapping[str, Any], png: bytes, title: str
) -> str:
    m = metrics.to_dict()
    rows = "".join(
        f"<tr><th>{html.escape(label)}</th><td id='m-{key}'>{_fmt(m[key])}</td></tr>"
        for key, label in METRIC_LABELS.items()
    )
    notes = "".join(
        f"<li>{html.escape(METRIC_LABELS.get(key, key))}: n/a, {html.escape(note, quote=False)}</li>"
        for key, note in metrics.notes.items()
    )
    notes = f"<ul id='notes'>{notes}</ul>" if notes else ""
    info = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_run_value(k, v))}</td></tr>"
        for k, v in run_info.items()
    )
    shown = list(trades[:200])
    entries = _utc_ms_text([t.entry_time for t in shown])
    exits = _utc_ms_text([t.exit_time for t in shown])
    trade_rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(c)}</td>"
            for c in (
                t.trade_id,
                t.asset,
                t.side,
                entry,
                exit_,
                _amount(t.entry_price),
                _amount(t.exit_price),
                f"{t.size:g}",
                _amount(t.net_pnl),
            )
        )
        + "</tr>"
        for t, entry, exit_ in zip(shown, entries, exits, strict=True)
    )
    more = (
        f"<p>First {len(shown)} of {len(trades)} trades; all are in trades.csv.</p>"
        if len(trades) > 200
        else ""
    )
    img = base64.b64encode(png).decode("ascii")
    # ``metrics.bars`` counts data rows, quotes in a quote replay.
    unit = "quotes" if run_info.get("kind") == "quotes" else "bars"
    period = f"{utc_text(metrics.start)} to {utc_text(metrics.end)} UTC, {metrics.bars:,} {unit}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dita backtest: {html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #222; }}
h1 {{ font-size: 20px; }} h2 {{ font-size: 16px; margin-top: 28px; }}
table {{ border-collapse: collapse; }} th, td {{ padding: 3px 10px; border-bottom: 1px solid #ddd; }}
th {{ text-align: left; font-weight: 600; }} td {{ text-align: right; font-variant-numeric: tabular-nums; }}
.cols {{ display: flex; gap: 40px; flex-wrap: wrap; }}
img {{ max-width: 100%; border: 1px solid #ddd; }}
</style></head>
<body>
<h1>dita backtest: {html.escape(title)}</h1>
<p>{html.escape(period)}</p>
<img id="equity-curve" alt="equity and drawdown" src="data:image/png;base64,{img}">
<div class="cols">
<div><h2>Metrics</h2><table>{rows}</table>{notes}</div>
<div><h2>Run</h2><table>{info}</table></div>
</div>
<h2>Trades</h2>{more}
<table><tr><th>trade</th><th>asset</th><th>side</th><th>entry</th><th>exit</th><th>entry price</th>
<th>exit price</th><th>size</th><th>net PnL</th></tr>{trade_rows}</table>
</body></html>
"""
