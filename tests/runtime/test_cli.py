"""The runtime commands end to end: backtest (a year of minute bars, every artefact, the report
opened in headless Chromium), shadow (byte-identical with a frozen clock), paper and the
status/orders/pnl readers, strategy inspect, and exit code 2 for bad input."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dita.backtest.report import ARTEFACTS, EQUITY_COLOR
from dita.cli import app
from dita.data import generate_bars, write_bars

CROSSOVER = "dita.examples.crossover:SmaCrossover"
SHADOW_ARGS = [
    "shadow",
    "--symbols",
    "BTCUSDT,ETHUSDT",
    "--iterations",
    "50",
    "--max-inv",
    "10000",
    "--max-total",
    "50000",
    "--edge-threshold",
    "1.5",
    "--fill-rate",
    "0.7",
    "--reject-rate",
    "0.05",
    "--latency-ms",
    "100",
    "--seed",
    "42",
]

runner = CliRunner()


def dita_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """Run ``dita`` in a fresh interpreter, as a user would."""
    return subprocess.run(
        [sys.executable, "-c", "from dita.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def screenshot(html: Path, png: Path, profile: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is missing: `make chromium` installs it"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1200,1000",
        "--hide-scrollbars",
        f"--screenshot={png}",
    ]
    subprocess.run([chromium, *flags, html.as_uri()], capture_output=True, timeout=120, check=True)


def color_pixels(png: Path, hex_color: str, tol: int = 40) -> int:
    import matplotlib.image as mpimg

    img = (mpimg.imread(png)[..., :3] * 255).astype(int)
    target = np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(img - target).sum(axis=2) < tol).sum())


def test_backtest_a_year_of_minute_bars_from_the_cli(tmp_path: Path) -> None:
    data = write_bars(generate_bars(days=365, seed=7), tmp_path / "BTCUSDT_1m_2024.parquet")
    out = tmp_path / "report"
    proc = dita_cli(
        "backtest",
        "--strategy",
        CROSSOVER,
        "--param",
        "fast=30",
        "--param",
        "slow=120",
        "--data",
        str(data),
        "--balance",
        "10000",
        "--fee-rate",
        "0.001",
        "--slippage-bps",
        "2",
        "--out",
        str(out),
    )
    assert proc.returncode == 0, proc.stderr
    assert "525600/525600" in proc.stderr  # the progress bar reached the end
    for label in (
        "Total PnL",
        "Win rate %",
        "Profit factor",
        "Max drawdown %",
        "Sharpe",
        "Sortino",
        "Calmar",
    ):
        assert label in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(ARTEFACTS)

    doc = json.loads((out / "metrics.json").read_text())
    m = doc["metrics"]
    assert m["bars"] == 525_600 and m["trades"] > 100
    assert doc["run"]["params"] == {"fast": 30, "slow": 120, "trade_size": 0.1, "allow_short": True}
    trades = (out / "trades.csv").read_text().splitlines()
    assert trades[0].startswith('"trade_id","asset","side","entry_time","exit_time"')
    assert len(trades) == m["trades"] + 1
    equity_lines = (out / "equity.csv").read_text().splitlines()
    assert len(equity_lines) == 525_601
    last_equity = float(equity_lines[-1].split(",")[1])
    assert last_equity == pytest.approx(m["final_equity"])
    assert (out / "equity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    html = (out / "report.html").read_text()
    assert 'src="data:image/png;base64,' in html
    assert "http://" not in html and "https://" not in html  # self-contained
    shot = tmp_path / "report.png"
    screenshot(out / "report.html", shot, tmp_path / "chromium-profile")
    # The equity line is drawn in EQUITY_COLOR; the rendered page must show plenty of it.
    assert color_pixels(shot, EQUITY_COLOR) > 500
    assert color_pixels(out / "equity.png", EQUITY_COLOR) > 500


def test_backtest_window_and_json_output(tmp_path: Path) -> None:
    args = ["backtest", "--strategy", CROSSOVER, "--data", "sample", "--out", str(tmp_path / "w"), "--json"]
    result = runner.invoke(
        app, [*args, "--from", "2024-01-02", "--to", "2024-01-02T12:00:00Z", "--no-progress"]
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["metrics"]["bars"] == 720  # twelve hours of minute bars
    assert doc["metrics"]["start"] == 1704153600.0
    assert doc["strategies"][0]["status"] == "STOPPED"


def test_backtest_refuses_bad_data_naming_the_row(tmp_path: Path) -> None:
    bad = tmp_path / "BTCUSDT.csv"
    rows = [
        "2024-01-01T00:00:00Z,1,1,1,1,1",
        "2024-01-01T00:01:00Z,1,1,1,NaN,1",
        "2024-01-01T00:02:00Z,1,1,1,1,1",
    ]
    bad.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    args = ["backtest", "--strategy", CROSSOVER, "--data", str(bad), "--out", str(tmp_path / "o")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "row 2: close is NaN" in result.stderr
    assert not (tmp_path / "o").exists()  # nothing written for refused data

    unsorted = tmp_path / "u.csv"
    unsorted.write_text("timestamp,open,high,low,close,volume\n2024-01-02,1,1,1,1,1\n2024-01-01,1,1,1,1,1\n")
    result = runner.invoke(app, ["backtest", "--strategy", CROSSOVER, "--data", str(unsorted), "--out", "x"])
    assert result.exit_code == 2 and "row 2: time goes backwards" in result.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--strategy", "nope"], "must be MODULE:CLASS"),
        (["--param", "fast=50"], "fast=50 must be below slow=30"),
        (["--fee-rate", "0.5"], "--fee-rate=0.5"),
        (["--balance", "-1"], "--balance=-1.0"),
        (["--from", "soon"], "--from='soon'"),
        (["--data", "/nonexistent.csv"], "file not found"),
    ],
)
def test_backtest_bad_arguments_exit_2(tmp_path: Path, extra: list[str], message: str) -> None:
    args = ["backtest", "--strategy", CROSSOVER, "--data", "sample", "--out", str(tmp_path / "o")]
    for i in range(0, len(extra), 2):
        if extra[i] in args:
            args[args.index(extra[i]) + 1] = extra[i + 1]
        else:
            args += extra[i : i + 2]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_shadow_report_is_byte_identical_with_a_frozen_clock() -> None:
    env = {"DITA_FREEZE_UTC": "2026-01-01T00:00:00Z"}
    first, second = dita_cli(*SHADOW_ARGS, env=env), dita_cli(*SHADOW_ARGS, env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    report = json.loads(first.stdout)
    assert list(report) == ["execution", "orders", "positions", "risk", "runtime"]
    assert json.dumps(report, sort_keys=True, indent=2) + "\n" == first.stdout
    assert report["execution"] == {"iterations": 50, "symbols": ["BTCUSDT", "ETHUSDT"]}
    assert set(report["orders"]) == {"placed", "filled", "rejected", "canceled", "risk_blocks"}
    assert set(report["positions"]) == {"by_symbol", "net_pos_usd", "total_notional_usd"}
    assert set(report["risk"]) == {
        "blocks_total",
        "freeze_events",
        "freezes_total",
        "frozen",
        "last_freeze_reason",
        "last_freeze_symbol",
    }
    assert report["runtime"] == {"utc": "2026-01-01T00:00:00Z"}
    orders, risk, pos = report["orders"], report["risk"], report["positions"]
    assert orders["placed"] > 0 and orders["filled"] > 0
    assert orders["filled"] + orders["rejected"] <= orders["placed"]
    assert risk["blocks_total"] >= orders["risk_blocks"]
    assert risk["freezes_total"] == len(risk["freeze_events"]) > 0
    assert risk["last_freeze_symbol"] in ("BTCUSDT", "ETHUSDT")
    assert "below threshold 1.5" in risk["last_freeze_reason"]
    assert pos["net_pos_usd"] == pytest.approx(sum(pos["by_symbol"].values()), abs=0.02)
    # The guard holds every symbol inside its cap and the book inside the total (caps apply at
    # entry prices; positions are valued at the last mid, a little away after 50 quotes).
    assert all(abs(v) <= 10_000 * 1.02 for v in pos["by_symbol"].values())
    assert pos["total_notional_usd"] <= 50_000 * 1.02


def test_shadow_changes_with_the_seed() -> None:
    env = {"DITA_FREEZE_UTC": "2026-01-01T00:00:00Z"}
    args = [a if a != "42" else "43" for a in SHADOW_ARGS]
    base = runner.invoke(app, SHADOW_ARGS, env=env)
    other = runner.invoke(app, args, env=env)
    assert base.exit_code == other.exit_code == 0
    assert base.stdout != other.stdout


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("--symbols", ""), "--symbols is required"),
        (("--symbols", " , "), "--symbols is required"),
        (("--symbols", "BTCUSDT,BTCUSDT"), "given more than once"),
        (("--fill-rate", "1.5"), "--fill-rate=1.5"),
        (("--reject-rate", "-0.1"), "--reject-rate=-0.1"),
        (("--max-inv", "60000"), "exceeds max_total"),
        (("--iterations", "0"), "--iterations=0"),
        (("--latency-ms", "-5"), "--latency-ms=-5.0"),
    ],
)
def test_shadow_refuses_bad_arguments(change: tuple[str, str], message: str) -> None:
    args = list(SHADOW_ARGS)
    args[args.index(change[0]) + 1] = change[1]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.stdout == ""


def test_shadow_exit_code_from_a_fresh_process() -> None:
    proc = dita_cli("shadow", "--symbols", "BTCUSDT", "--fill-rate", "2")
    assert proc.returncode == 2
    assert "error: --fill-rate=2.0" in proc.stderr


def test_strategy_inspect() -> None:
    result = runner.invoke(app, ["strategy", "inspect", CROSSOVER, "--json"])
    assert result.exit_code == 0
    info = json.loads(result.stdout)
    assert info["class"] == CROSSOVER
    assert {p["name"]: p["default"] for p in info["params"]} == {
        "fast": 10,
        "slow": 30,
        "trade_size": 0.1,
        "allow_short": True,
    }
    table = runner.invoke(app, ["strategy", "inspect", "dita.examples.quoting:TwoSidedQuoter"])
    assert table.exit_code == 0 and "quote_usd" in table.stdout and "quotes" in table.stdout
    bad = runner.invoke(app, ["strategy", "inspect", "dita.examples:Nope"])
    assert bad.exit_code == 2 and "has no attribute 'Nope'" in bad.stderr


def test_paper_then_status_orders_and_pnl(tmp_path: Path) -> None:
    state = tmp_path / "state"
    result = runner.invoke(
        app,
        [
            "paper",
            "--strategy",
            CROSSOVER,
            "--data",
            "sample",
            "--max-speed",
            "--state-dir",
            str(state),
            "--kernel-id",
            "paper-test",
        ],
    )
    assert result.exit_code == 0, result.output
    snap = json.loads((state / "paper-test.json").read_text())
    assert snap["running"] is False and snap["rows"] == 4320
    assert snap["account"]["seed_capital"] == 10_000.0

    status = runner.invoke(app, ["status", "--state-dir", str(state), "--json"])
    assert status.exit_code == 0
    (row,) = json.loads(status.stdout)
    assert row["kernel_id"] == "paper-test" and row["mode"] == "PAPER" and not row["running"]
    assert row["equity"] == pytest.approx(snap["account"]["equity"])
    assert row["strategies"] == [{"name": "SmaCrossover", "status": "STOPPED", "error": ""}]
    assert "paper-test" in runner.invoke(app, ["status", "--state-dir", str(state)]).stdout

    orders = runner.invoke(app, ["orders", "--state-dir", str(state), "--json"])
    assert orders.exit_code == 0 and isinstance(json.loads(orders.stdout), list)

    everything = json.loads(runner.invoke(app, ["pnl", "--state-dir", str(state), "--json"]).stdout)[0]
    assert everything["realized_pnl"] == pytest.approx(snap["account"]["realized_pnl"])
    assert everything["fees"] == pytest.approx(snap["account"]["k_fees_paid"])
    fills = snap["fills"]
    assert everything["fills"] == len(fills)
    # "today" is the replay's last day (the kernel's clock), 2024-01-03 UTC.
    today = json.loads(
        runner.invoke(app, ["pnl", "--period", "today", "--state-dir", str(state), "--json"]).stdout
    )[0]
    day_fills = [f for f in fills if f["ts"] >= 1704240000.0]
    assert today["from"] == "2024-01-03 00:00:00" and today["fills"] == len(day_fills) > 0
    assert today["realized_pnl"] == pytest.approx(sum(f["realized_pnl"] for f in day_fills))
    assert today["net_pnl"] == pytest.approx(today["realized_pnl"] - today["fees"])
    sum_all = sum(f["realized_pnl"] for f in fills)
    assert sum_all == pytest.approx(snap["account"]["realized_pnl"])

    bad = runner.invoke(app, ["pnl", "--period", "year", "--state-dir", str(state)])
    assert bad.exit_code == 2 and "--period 'year' must be one of today, week, month, all" in bad.stderr
    missing = runner.invoke(app, ["status", "--state-dir", str(state), "--kernel", "other"])
    assert missing.exit_code == 1 and "no kernel 'other'" in missing.stderr


def test_paper_refuses_bad_arguments(tmp_path: Path) -> None:
    both = runner.invoke(app, ["paper", "--strategy", CROSSOVER])
    assert both.exit_code == 2 and "exactly one of --data" in both.stderr
    speed = runner.invoke(app, ["paper", "--strategy", CROSSOVER, "--data", "sample", "--speed", "0"])
    assert speed.exit_code == 2 and "--speed=0.0 must be positive" in speed.stderr
