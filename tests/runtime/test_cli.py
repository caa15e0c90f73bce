"""The runtime commands end to end: backtest (a month of minute bars, a year with the soaks, every
artefact, the report opened in headless Chromium), shadow (byte-identical with a frozen clock), paper and the
status/orders/pnl readers, strategy inspect, and exit code 2 for bad input."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from crashed_log import remove_the_closing_checkpoint
from dita.backtest.data import load_market_data
from dita.backtest.report import ARTEFACTS, EQUITY_COLOR
from dita.cli import app
from dita.data import generate_bars, write_bars
from journal.helpers import held_chdb_directory

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
    assert chromium, "neither chromium nor chromium-browser is on PATH: run `make chromium`"
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


@pytest.mark.parametrize("days", [30, pytest.param(365, marks=pytest.mark.soak)])
def test_backtest_minute_bars_from_the_cli(tmp_path: Path, days: int) -> None:
    """A month shows every artefact and figure; a year (10 s of the run) runs with the soaks."""
    bars = days * 1440
    data = write_bars(generate_bars(days=days, seed=7), tmp_path / "BTCUSDT_1m_2024.parquet")
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
    assert f"{bars}/{bars}" in proc.stderr  # the progress bar reached the end
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
    assert m["bars"] == bars and m["trades"] > 100
    assert doc["run"]["params"] == {"fast": 30, "slow": 120, "trade_size": 0.1, "allow_short": True}
    trades = (out / "trades.csv").read_text().splitlines()
    assert trades[0].startswith('"trade_id","asset","side","entry_time","exit_time"')
    assert len(trades) == m["trades"] + 1
    equity_lines = (out / "equity.csv").read_text().splitlines()
    assert len(equity_lines) == bars + 1
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


INFINITE_PARAM = """
import math

from pydantic import BaseModel

from dita.strategy import Bar, Strategy


class Stop(BaseModel):
    stop_pct: float = math.inf  # "no stop": pydantic takes inf unless the model refuses it


class Idle(Strategy[Stop]):
    Params = Stop
    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        pass
"""


def test_backtest_json_output_is_strict_json_with_an_infinite_parameter(tmp_path: Path) -> None:
    """`dita backtest --json` printed the strategies' parameters with json.dumps' defaults, so
    a parameter of inf came out as the bare word Infinity, which strict JSON readers (jq,
    JSON.parse, Go, Rust) refuse: the whole document could not be read, while metrics.json of
    the same run wrote it as the text "inf"."""
    strategy = tmp_path / "idle.py"
    strategy.write_text(INFINITE_PARAM)
    args = ["backtest", "--strategy", f"{strategy}:Idle", "--data", "sample", "--no-progress", "--json"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.stderr

    def strict(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    doc = json.loads(result.stdout, parse_constant=strict)
    assert doc["strategies"][0]["params"] == {"stop_pct": "inf"}  # as metrics.json says it
    run = json.loads((tmp_path / "o" / "metrics.json").read_text(), parse_constant=strict)["run"]
    assert run["params"] == doc["strategies"][0]["params"]
    assert doc["metrics"]["sharpe"] is None and doc["metrics"]["trades"] == 0


def _crash(path: Path) -> Path:
    """Bars falling, then rising (the crossover goes long), then a crash of a fifth."""
    closes = [110 - i for i in range(10)] + [102, 104, 106, 108, 110, 112] + [80 - 2 * i for i in range(8)]
    rows, before = [], closes[0]
    for i, close in enumerate(closes):
        rows.append(
            f"{1704067200 + 60 * i},{before},{max(before, close)},{min(before, close)},{close},1000\n"
        )
        before = close
    path.write_text("ts,open,high,low,close,volume\n" + "".join(rows))
    return path


def test_backtest_says_when_a_blown_account_halted_the_run(tmp_path: Path) -> None:
    # The run stops opening trades once equity reaches zero; the table showed only a loss of
    # about 100 % and trades ending months early, with nothing saying why. A long of about
    # 10 times the balance (taken at --leverage 125), then a crash: the account is gone.
    bust = ["--param", "trade_size=100", "--param", "fast=3", "--param", "slow=8", "--leverage", "125"]
    money = ["--balance", "1000", "--volume-share", "1", "--no-progress"]
    data = str(_crash(tmp_path / "BTCUSDT.csv"))
    args = ["backtest", "--strategy", CROSSOVER, "--data", data, *bust, *money]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "t")])
    assert result.exit_code == 0, result.stderr
    run = json.loads((tmp_path / "t" / "metrics.json").read_text())["run"]
    assert run["halted_equity"] <= 0
    assert (
        f"halted: equity reached {run['halted_equity']:,.2f} at "
        f"{datetime.fromtimestamp(run['halted_at'], tz=UTC):%Y-%m-%d %H:%M:%S} UTC: "
        "no trade opened after it" in " ".join(result.stdout.split())
    )
    doc = json.loads(runner.invoke(app, [*args, "--out", str(tmp_path / "j"), "--json"]).stdout)
    assert doc["halted"] == {k: run[k] for k in ("halted_at", "halted_equity", "halted_row")}
    plain = ["backtest", "--strategy", CROSSOVER, "--data", "sample", "--no-progress"]
    calm = runner.invoke(app, [*plain, "--json", "--out", str(tmp_path / "c")])
    assert calm.exit_code == 0 and json.loads(calm.stdout)["halted"] is None
    assert "halted" not in runner.invoke(app, [*plain, "--out", str(tmp_path / "d")]).stdout


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
    assert "row 2: close is 'NaN', expected a number" in result.stderr
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
        # Beyond the kernel's bound: it raised from the kernel, a traceback after --out was made.
        (["--balance", "1e16"], "--balance=1e+16: Input should be less than or equal to 1000000000000000"),
        (["--from", "soon"], "--from='soon'"),
        # Digits a person means as a date were epoch seconds in 1970: the window took all the data.
        (
            ["--from", "20240105"],
            "--from='20240105' is ambiguous: the date 2024-01-05 or 20,240,105 epoch seconds",
        ),
        (["--to", "2024"], "--to='2024' is ambiguous: the year 2024 or 2,024 epoch seconds"),
        # Empty (an unset "$START"): taken for no bound, the run replayed all the data.
        (["--from", ""], "--from='' is not an ISO date/datetime or epoch seconds"),
        (["--to", ""], "--to='' is not an ISO date/datetime or epoch seconds"),
        # The same parameter twice: one value was dropped without a word.
        (["--params", '{"fast": 5, "fast": 7}'], "--params gives 'fast' more than once (5, then 7)"),
        # The paper venue waits out the latency: at 1e300 ms no order ever became live.
        (["--latency-ms", "1e300"], "--latency-ms=1e+300: Input should be less than or equal to 60000"),
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
    assert not (tmp_path / "o").exists()  # refused before the report directory was made


def test_backtest_refuses_a_param_given_twice_and_lets_one_override_params(tmp_path: Path) -> None:
    args = ["backtest", "--strategy", CROSSOVER, "--data", "sample", "--out", str(tmp_path / "o")]
    # One of the two was dropped without a word: likely a typo for another parameter.
    result = runner.invoke(app, [*args, "--param", "fast=5", "--param", "slow=40", "--param", "fast=7"])
    assert result.exit_code == 2, result.output
    assert "--param fast is given more than once ('5', then '7')" in result.stderr
    assert not (tmp_path / "o").exists()
    # A --param over --params is the one taken: a sweep's base, one value changed.
    result = runner.invoke(app, [*args, "--json", "--params", '{"fast": 5, "slow": 40}', "--param", "fast=7"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["strategies"][0]["params"] == {
        "allow_short": True,
        "fast": 7,
        "slow": 40,
        "trade_size": 0.1,
    }


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
        "edge_frozen",
        "freeze_events",
        "freezes_total",
        "frozen",
        "last_freeze_reason",
        "last_freeze_symbol",
        "refused",
    }
    assert report["runtime"] == {"utc": "2026-01-01T00:00:00Z"}
    orders, risk, pos = report["orders"], report["risk"], report["positions"]
    assert orders["placed"] > 0 and orders["filled"] > 0
    assert orders["filled"] + orders["rejected"] <= orders["placed"]
    assert risk["blocks_total"] >= orders["risk_blocks"]
    # Its only refusals are the edge freezes: nothing to warn of.
    assert risk["edge_frozen"] == risk["blocks_total"] > 0 and risk["refused"] is None
    assert risk["freezes_total"] == len(risk["freeze_events"]) > 0
    assert risk["last_freeze_symbol"] in ("BTCUSDT", "ETHUSDT")
    assert "below threshold 1.5" in risk["last_freeze_reason"]
    assert pos["net_pos_usd"] == pytest.approx(sum(pos["by_symbol"].values()), abs=0.02)
    # The guard holds every symbol inside its cap and the book inside the total (caps apply at
    # entry prices; positions are valued at the last mid, a little away after 50 quotes).
    assert all(abs(v) <= 10_000 * 1.02 for v in pos["by_symbol"].values())
    assert pos["total_notional_usd"] <= 50_000 * 1.02


@pytest.mark.parametrize("frozen", ["tomorrow", "2026-01-01", "2026-13-01T00:00:00Z"])
def test_shadow_refuses_a_frozen_clock_that_is_no_utc_time_naming_it(frozen: str) -> None:
    result = runner.invoke(app, SHADOW_ARGS, env={"DITA_FREEZE_UTC": frozen})
    assert result.exit_code == 2
    assert f"DITA_FREEZE_UTC={frozen!r} is no UTC time" in result.stderr
    assert result.stdout == ""


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
        (("--max-inv", "60000"), "exceeds --max-total"),
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


def test_strategy_inspect_json_is_strict_json_with_an_infinite_default(tmp_path: Path) -> None:
    """`dita strategy inspect --json` printed a parameter's default of inf ("no stop") as the
    bare word Infinity, which jq and JSON.parse refuse: it is the text "inf", as `dita backtest
    --json` prints the parameter."""
    strategy = tmp_path / "inspect_idle.py"  # idle.py is imported by the backtest test already
    strategy.write_text(INFINITE_PARAM)
    result = runner.invoke(app, ["strategy", "inspect", f"{strategy}:Idle", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout, parse_constant=_strict)
    assert [(p["name"], p["default"]) for p in info["params"]] == [("stop_pct", "inf")]


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


@pytest.mark.parametrize(
    ("out", "message"),
    [("a-file", "is a file; give a directory"), ("/proc/dita-report", "cannot create the directory")],
)
def test_backtest_refuses_an_unusable_out_before_the_run(tmp_path: Path, out: str, message: str) -> None:
    target = tmp_path / out if not out.startswith("/") else Path(out)
    if out == "a-file":
        target.write_text("keep me")
    args = ["backtest", "--strategy", CROSSOVER, "--data", "sample", "--out", str(target), "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert f"--out {target}" in result.stderr and message in result.stderr
    assert result.stdout == ""  # refused before the replay: no results table
    if out == "a-file":
        assert target.read_text() == "keep me"


def test_backtest_names_columns_that_differ_only_in_case(tmp_path: Path) -> None:
    data = tmp_path / "BTCUSDT.csv"
    data.write_text("ts,Close,open,high,low,close,volume\n1,5,1,1,1,1,1\n61,5,1,1,1,1,1\n")
    args = ["backtest", "--strategy", CROSSOVER, "--data", str(data), "--out", str(tmp_path / "o")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "columns 'Close', 'close' are all column 'close'" in result.stderr
    assert not (tmp_path / "o").exists()


PAPER = ["paper", "--strategy", CROSSOVER, "--data", "sample", "--max-speed"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--speed", "nan"], "--speed=nan must be positive and finite"),
        (["--speed", "inf"], "--speed=inf must be positive and finite"),
        (["--status-every", "nan"], "--status-every=nan must be positive and finite"),
        (["--status-every", "0"], "--status-every=0.0 must be positive"),
        (["--duration", "0"], "--duration=0.0 must be positive and finite"),
        (["--duration", "-1"], "--duration=-1.0 must be positive and finite"),
        (["--duration", "nan"], "--duration=nan must be positive and finite"),
        (["--fee-rate", "-1"], "--fee-rate=-1.0: Input should be greater than or equal to 0"),
        # A maker rebate is taken up to the taker fee (--fee-rate, 0.001 by default).
        (["--maker-fee-rate", "-0.002"], "--maker-fee-rate=-0.002 is a rebate above --fee-rate=0.001"),
        (["--balance", "nan"], "--balance=nan"),
        (["--balance", "1e16"], "--balance=1e+16: Input should be less than or equal to 1000000000000000"),
        (["--slippage-bps", "-2"], "--slippage-bps=-2.0"),
        (["--latency-ms", "1e300"], "--latency-ms=1e+300: Input should be less than or equal to 60000"),
        (["--latency-ms", "60000.5"], "--latency-ms=60000.5: Input should be less than or equal to 60000"),
    ],
)
def test_paper_refuses_bad_numbers(tmp_path: Path, extra: list[str], message: str) -> None:
    state = tmp_path / "state"
    result = runner.invoke(app, [*PAPER, "--state-dir", str(state), *extra])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "PaperSettings" not in result.stderr and "maker_rate" not in result.stderr
    assert not state.exists()  # nothing started


@pytest.mark.parametrize("kernel_id", ["../escaped", "a/b"])
def test_paper_refuses_a_kernel_id_that_is_no_file_name(tmp_path: Path, kernel_id: str) -> None:
    """The id names the state file: with a / in it the file went outside --state-dir, or
    nowhere, stopping the run once it had started trading."""
    state = tmp_path / "runs" / "state"
    result = runner.invoke(app, [*PAPER, "--state-dir", str(state), "--kernel-id", kernel_id])
    assert result.exit_code == 2, result.output
    assert f"--kernel-id {kernel_id!r}" in result.stderr and "'/'" in result.stderr
    assert list(tmp_path.rglob("*")) == []  # nothing started, nothing written


@pytest.mark.parametrize(
    ("kernel_id", "flaw"),
    [
        ("", "it is empty"),
        ("a b", "it holds white space"),
        ("a\x00b", "it holds a NUL"),
        ("x" * 201, "it is over 200 bytes of UTF-8"),
    ],
)
def test_paper_refuses_a_kernel_id_no_kernel_can_have_naming_the_option_before_making_the_state_dir(
    tmp_path: Path, kernel_id: str, flaw: str
) -> None:
    """The kernel refused it once the state directory was made, naming kernel_id, no option."""
    state = tmp_path / "state"
    result = runner.invoke(app, [*PAPER, "--state-dir", str(state), "--kernel-id", kernel_id])
    assert result.exit_code == 2, result.output
    # An id over 80 characters is shown shortened.
    assert result.stderr.startswith(f"error: --kernel-id {kernel_id[:40]!r}"[:-1])
    rule = "a kernel id is 1-200 bytes of UTF-8 without white space or NUL"
    assert result.stderr.endswith(f": {flaw}: {rule}\n")
    assert not state.exists()


@pytest.mark.parametrize("under", [False, True])
def test_paper_refuses_a_wal_dir_that_is_a_file_naming_the_option(tmp_path: Path, under: bool) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me")
    wal = a_file / "wal" if under else a_file
    state = tmp_path / "state"
    result = runner.invoke(app, [*PAPER, "--state-dir", str(state), "--wal-dir", str(wal)])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: --wal-dir {wal}")
    assert f"{a_file} is a file" in result.stderr
    assert a_file.read_text() == "keep me" and not state.exists()


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--poll", "nan"),
        ("--quote-feed", "bogus"),
        ("--bar-interval", "7q"),
        ("--symbols", "ETHUSDT"),
        ("--ccxt-base-url", "http://127.0.0.1:9"),
    ],
)
def test_paper_replay_refuses_an_option_of_the_live_feed_naming_it(
    tmp_path: Path, option: str, value: str
) -> None:
    """Taken and ignored, the value was neither checked nor used (as --allow-gaps without --data
    is refused)."""
    state = tmp_path / "state"
    result = runner.invoke(app, [*PAPER, "--state-dir", str(state), option, value])
    assert result.exit_code == 2, result.output
    assert (
        result.stderr == f"error: {option} is about the live feed of --ccxt-exchange; --data replays a file\n"
    )
    assert not state.exists()


def test_paper_refuses_speed_and_max_speed_together_naming_both(tmp_path: Path) -> None:
    """The two pace a replay each their way: taken together, one was silently ignored."""
    state = tmp_path / "state"
    result = runner.invoke(app, [*PAPER, "--state-dir", str(state), "--speed", "10", "--max-speed"])
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        "error: --speed 10 and --max-speed are alternatives: give one (--max-speed replays unpaced)\n"
    )
    assert not state.exists()


def test_paper_duration_stops_the_replay(tmp_path: Path) -> None:
    state = tmp_path / "state"
    # 3 s, not less: the deadline runs from before the first row, which a loaded machine delays.
    args = ["paper", "--strategy", CROSSOVER, "--data", "sample", "--speed", "60", "--duration", "3"]
    result = runner.invoke(app, [*args, "--state-dir", str(state), "--kernel-id", "short"])
    assert result.exit_code == 0, result.output
    assert 0 < json.loads((state / "short.json").read_text())["rows"] < 4320
    # Not a terminal here (as in a service's log): the line after the table starts its own.
    assert f"\nstate: {state / 'short.json'}\n" in result.stdout


PAPER_STRATEGIES = """
from typing import Any

from dita.strategy import Bar, Strategy


class BuysEth(Strategy[Any]):
    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        if not self.fills and not self.busy("ETHUSDT") and not hasattr(self, "sent"):
            self.sent = self.buy("ETHUSDT", 1.0, price=bar.close)


class FailsOnBar(Strategy[Any]):
    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        raise ValueError("boom")
"""


@pytest.fixture
def paper_strategies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The module name of PAPER_STRATEGIES, importable for the test."""
    (tmp_path / "paper_cli_strategies.py").write_text(PAPER_STRATEGIES)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "paper_cli_strategies"


def test_paper_rejects_an_order_for_an_asset_the_data_does_not_hold(
    tmp_path: Path, paper_strategies: str
) -> None:
    # The sample holds BTCUSDT only: an ETHUSDT order was acknowledged, never filled, and held
    # its slot in ENTRY_WORKING until the end. The paper venue now refuses it, freeing the slot.
    state = tmp_path / "state"
    args = ["paper", "--strategy", f"{paper_strategies}:BuysEth", "--data", "sample", "--max-speed"]
    result = runner.invoke(app, [*args, "--state-dir", str(state), "--kernel-id", "eth"])
    assert result.exit_code == 0, result.output
    snap = json.loads((state / "eth.json").read_text())
    assert snap["slots"] == [] and snap["fills"] == []
    assert snap["strategies"][0]["intents"] == 1


def test_backtest_warns_of_orders_the_venue_rejected(tmp_path: Path, paper_strategies: str) -> None:
    # The sample holds BTCUSDT only: the ETHUSDT order was rejected at once and the run ended
    # with no trade, the table and the JSON saying nothing of why.
    args = ["backtest", "--strategy", f"{paper_strategies}:BuysEth", "--data", "sample", "--no-progress"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "t")])
    assert result.exit_code == 0, result.stderr
    reason = "unknown asset 'ETHUSDT': paper lists BTCUSDT only"
    assert f"warning: the venue rejected 1 order: 1 x {reason}" in result.stderr
    doc = json.loads(runner.invoke(app, [*args, "--out", str(tmp_path / "j"), "--json"]).stdout)
    assert doc["rejected"] == {"orders": 1, "reasons": f"1 x {reason}"}
    plain = ["backtest", "--strategy", CROSSOVER, "--data", "sample", "--no-progress", "--json"]
    calm = runner.invoke(app, [*plain, "--out", str(tmp_path / "c")])
    assert calm.exit_code == 0 and json.loads(calm.stdout)["rejected"] is None
    assert "rejected" not in calm.stderr


def test_paper_stops_once_every_strategy_is_in_error(tmp_path: Path, paper_strategies: str) -> None:
    # It replayed (or waited on the live feed) to the end of the data or --duration, doing
    # nothing: at --speed 60 the sample's three days took over an hour.
    state = tmp_path / "state"
    args = ["paper", "--strategy", f"{paper_strategies}:FailsOnBar", "--data", "sample", "--speed", "60"]
    result = runner.invoke(app, [*args, "--duration", "30", "--state-dir", str(state), "--kernel-id", "err"])
    assert result.exit_code == 1, result.output
    assert "error: strategy FailsOnBar failed in on_bar: ValueError: boom" in result.stderr
    assert "every strategy is in ERROR: the run was stopped" in result.stderr
    snap = json.loads((state / "err.json").read_text())
    assert snap["rows"] == 1 and snap["running"] is False


FILL_OPTIONS = (
    "balance",
    "fee_rate",
    "maker_fee_rate",
    "slippage_bps",
    "latency_ms",
    "volume_share",
    "leverage",
    "max_slots",
)


def test_paper_has_the_backtests_fill_options_with_the_same_defaults_and_help() -> None:
    # dita paper had no --maker-fee-rate, --latency-ms nor --volume-share: a strategy could not
    # be rehearsed in paper under the fill model it was backtested with.
    import typer.main

    from dita.backtest.engine import BacktestConfig

    group: Any = typer.main.get_command(app)
    options = {
        name: {p.name: p for p in group.commands[name].params if p.name in FILL_OPTIONS}
        for name in ("backtest", "paper")
    }
    for field in FILL_OPTIONS:
        backtest, paper = options["backtest"][field], options["paper"].get(field)
        assert paper is not None, f"dita paper has no --{field.replace('_', '-')}"
        unset_stands_for_more = field in ("max_slots", "leverage")
        assert paper.default == BacktestConfig.model_fields[field].default or unset_stands_for_more
        if unset_stands_for_more:
            # Unset stands for the backtest's default, or a continued run's log's count (its
            # state file's leverage).
            assert (paper.opts, paper.default) == (backtest.opts, None)
            assert paper.help.startswith(backtest.help) and f"default {backtest.default}" in paper.help
            continue
        assert (paper.opts, paper.default, paper.help) == (backtest.opts, backtest.default, backtest.help)


def test_paper_replay_fills_as_the_backtest_with_the_same_fill_options(tmp_path: Path) -> None:
    from dita.backtest.data import load_market_data
    from dita.backtest.engine import BacktestConfig, run_backtest
    from dita.data import SAMPLE_BARS
    from dita.examples.crossover import SmaCrossover

    settings = {"fee_rate": 0.0007, "maker_fee_rate": 0.0001, "latency_ms": 60_000.0, "volume_share": 0.02}
    state = tmp_path / "state"
    extra = [f"--{k.replace('_', '-')}={v}" for k, v in settings.items()]
    result = runner.invoke(app, [*PAPER, "--state-dir", str(state), "--kernel-id", "same", *extra])
    assert result.exit_code == 0, result.output
    paper = json.loads((state / "same.json").read_text())
    backtest = run_backtest(SmaCrossover(), load_market_data(SAMPLE_BARS), BacktestConfig(**settings))
    assert len(paper["fills"]) == backtest.run_info["fills"] > 100
    for key in ("equity", "realized_pnl", "k_fees_paid"):
        assert paper["account"][key] == pytest.approx(backtest.account[key], rel=1e-12), key
    bad = runner.invoke(app, [*PAPER, "--state-dir", str(state), "--volume-share", "2"])
    assert bad.exit_code == 2 and "--volume-share=2.0: Input should be less than or equal to 1" in bad.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--journal", "foo://x"], "--journal: journal dsn 'foo://x' has scheme 'foo'"),
        (["--journal", "chdb://"], "--journal: journal dsn 'chdb://' names no directory"),
        (["--journal", "chdb://{file}"], "a-file is a file, not a directory"),
        (["--hazelcast", ","], "--hazelcast ',': cluster members must list at least one host:port"),
        (["--hazelcast", "localhost"], "--hazelcast 'localhost': cluster member must be host:port"),
        (
            ["--hazelcast", "127.0.0.1:1", "--hz-cluster", " "],
            "--hz-cluster ' ': cluster name must not be empty",
        ),
    ],
)
def test_paper_refuses_a_bad_journal_or_cluster(tmp_path: Path, extra: list[str], message: str) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    state = tmp_path / "state"
    args = [*PAPER, "--state-dir", str(state), *(e.replace("{file}", str(a_file)) for e in extra)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert message in result.stderr
    assert not state.exists()


def test_paper_says_when_the_cluster_cannot_be_reached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The wait is the operator's to set; a short one keeps the test from waiting the 5 s default.
    monkeypatch.setenv("DITA_HAZELCAST_CONNECT_S", "0.5")
    state = tmp_path / "state"
    result = runner.invoke(app, [*PAPER, "--state-dir", str(state), "--hazelcast", "127.0.0.1:1"])
    assert result.exit_code == 3, result.output
    assert "cannot reach Hazelcast cluster 'dita' at 127.0.0.1:1 within 0.5s" in result.stderr
    assert not state.exists()


@pytest.mark.parametrize("wait", ["soon", "0", "-1", "nan", "inf", ""])
def test_a_bad_hazelcast_connect_wait_is_refused_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wait: str
) -> None:
    """Exit 2 naming $DITA_HAZELCAST_CONNECT_S, before anything opens: not a wait of NaN or
    none at all, reported as a cluster that cannot be reached."""
    monkeypatch.setenv("DITA_HAZELCAST_CONNECT_S", wait)
    state = tmp_path / "state"
    result = runner.invoke(app, [*PAPER, "--state-dir", str(state), "--hazelcast", "127.0.0.1:1"])
    assert result.exit_code == 2, result.output
    assert "$DITA_HAZELCAST_CONNECT_S" in result.stderr and "cannot reach" not in result.stderr
    assert not state.exists()


@pytest.mark.parametrize(
    "command", [["status"], ["orders"], ["pnl"], ["control", "show", "--cluster", "127.0.0.1:1"]]
)
def test_the_reading_commands_refuse_a_bad_connect_wait_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    """Exit 2 with the one message naming $DITA_HAZELCAST_CONNECT_S: `status` read it inside
    its guard against the projection's own errors, which took the exit for one of them
    ("cannot read the projection ...: Exit", status 1)."""
    monkeypatch.setenv("DITA_HAZELCAST_CONNECT_S", "soon")
    hz = [] if command[0] == "control" else ["--hazelcast", "127.0.0.1:1"]
    result = runner.invoke(app, [*command, *hz])
    assert result.exit_code == 2, result.output
    assert "$DITA_HAZELCAST_CONNECT_S must be a number of seconds, got 'soon'" in result.stderr
    assert "cannot read" not in result.stderr and "cannot reach" not in result.stderr


STATE_WRITE_FAILS = """
import json, sys
from dita.cli import _state, main
from dita.kernel import ExecutionKernel

real_write, real_close, calls, stats_path = _state.write_state_file, ExecutionKernel.close, [], sys.argv[1]

def write_then_fail(state_dir, snapshot):
    calls.append(1)
    if len(calls) > 1:
        raise OSError(28, "No space left on device")
    return real_write(state_dir, snapshot)

def close_and_count(self):
    real_close(self)
    with open(stats_path, "w") as f:
        json.dump(self.stats(), f)

_state.write_state_file = write_then_fail
ExecutionKernel.close = close_and_count
sys.argv = ["dita", *sys.argv[2:]]
main()
"""


def test_paper_closes_the_journal_when_the_state_file_cannot_be_written(tmp_path: Path) -> None:
    """The state file fails after its first write (a full disk): the run stops, the kernel
    and its journal are closed all the same, every row reaches ClickHouse, exit 1."""
    dsn = f"chdb://{tmp_path / 'journal'}"
    stats = tmp_path / "kernel-stats.json"
    paper = [*PAPER, "--status-every", "0.05", "--state-dir", str(tmp_path / "state")]
    paper += ["--kernel-id", "full-disk", "--journal", dsn, "--param", "fast=2", "--param", "slow=3"]
    proc = subprocess.run(
        [sys.executable, "-c", STATE_WRITE_FAILS, str(stats), *paper],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "error: cannot write the state file in" in proc.stderr and "No space left" in proc.stderr
    written = json.loads(stats.read_text())  # the kernel was closed
    assert written["journal_queued"] == written["journal_dropped"] == 0
    tables = ("transitions", "intents", "venue_events", "fills", "account_events", "control_changes")
    counts = " + ".join(f"(SELECT count() FROM {t} FINAL WHERE kernel_id = 'full-disk')" for t in tables)
    rows = dita_cli("journal", "sql", "--dsn", dsn, "-f", "csv", f"SELECT {counts} AS n")
    assert rows.returncode == 0, rows.stderr
    assert int(rows.stdout.splitlines()[1]) == written["journal_queued_total"] > 0


def test_paper_reports_journal_rows_left_unwritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dita.cli import paper_run

    monkeypatch.setattr(paper_run, "JOURNAL_WAIT_S", 4.0)
    state = tmp_path / "state"
    args = [*PAPER, "--state-dir", str(state), "--kernel-id", "no-server"]
    result = runner.invoke(app, [*args, "--journal", "http://u:pw@127.0.0.1:1/db"])
    assert result.exit_code == 1, result.output
    assert "waiting for the journal http://u@127.0.0.1:1/db:" in result.stderr
    assert "journal rows were not written to http://u@127.0.0.1:1/db" in result.stderr
    assert "pw" not in result.stderr.replace("pw@", "")  # no password in the messages
    assert json.loads((state / "no-server.json").read_text())["running"] is False


def test_pnl_periods_count_fills_beyond_the_kept_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state file lists the newest fills only; older ones are kept as day totals, so a
    period still sums every fill in it."""
    from dita.cli import paper_session

    monkeypatch.setattr(paper_session, "KEPT_FILLS", 20)
    state = tmp_path / "state"
    args = [
        *PAPER,
        "--state-dir",
        str(state),
        "--kernel-id",
        "busy",
        "--param",
        "fast=2",
        "--param",
        "slow=3",
    ]
    assert runner.invoke(app, args).exit_code == 0
    snap = json.loads((state / "busy.json").read_text())
    assert len(snap["fills"]) == 20 and snap["older_fills"]
    total = 20 + sum(d["fills"] for d in snap["older_fills"].values())

    def pnl(*extra: str) -> dict[str, Any]:
        result = runner.invoke(app, ["pnl", "--state-dir", str(state), "--json", *extra])
        assert result.exit_code == 0, result.output
        row: dict[str, Any] = json.loads(result.stdout)[0]
        return row

    everything, month = pnl("--period", "all"), pnl("--period", "month")
    assert everything["fills"] == month["fills"] == total > 20
    assert month["realized_pnl"] == pytest.approx(snap["account"]["realized_pnl"])
    assert month["fees"] == pytest.approx(snap["account"]["k_fees_paid"])
    days = [pnl("--period", "today", "--at", f"2024-01-0{d}T23:59:59Z") for d in (1, 2, 3)]
    assert sum(d["fills"] for d in days) == total
    assert sum(d["realized_pnl"] for d in days) == pytest.approx(month["realized_pnl"])
    # Midway through a day known only as a total, the figures say so.
    assert "kept as day totals" in pnl("--period", "today", "--at", "2024-01-01T12:00:00Z")["note"]


def test_status_refuses_a_state_dir_that_is_not_a_directory(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    for command in ("status", "orders", "pnl"):
        result = runner.invoke(app, [command, "--state-dir", str(a_file)])
        assert result.exit_code == 2 and f"--state-dir {a_file} is a file" in result.stderr
        result = runner.invoke(app, [command, "--state-dir", str(tmp_path / "typo")])
        assert result.exit_code == 2 and "typo: no such directory" in result.stderr
    from_env = runner.invoke(app, ["status"], env={"DITA_STATE_DIR": str(tmp_path / "typo")})
    assert from_env.exit_code == 2 and "$DITA_STATE_DIR" in from_env.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(app, ["status", "--state-dir", str(empty)])
    assert result.exit_code == 0 and "no running kernels found" in result.stdout


def test_an_empty_state_dir_is_refused_or_taken_as_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`DITA_STATE_DIR=""` (or `--state-dir ""`) was the directory the command ran in: paper
    wrote its state file there and status read it. The option refuses it; the variable set
    empty is taken as unset (var/run)."""
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["status", "--state-dir", ""])
    assert result.exit_code == 2 and "must name a path, got ''" in result.output
    (tmp_path / "var" / "run").mkdir(parents=True)
    result = runner.invoke(app, ["status", "--json"], env={"DITA_STATE_DIR": ""})
    assert result.exit_code == 0 and json.loads(result.stdout) == []
    backtest = ["backtest", "--strategy", CROSSOVER, "--data", "sample", "--out", ""]
    result = runner.invoke(app, backtest)
    assert result.exit_code == 2 and "must name a path, got ''" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["var"]


def test_the_state_dir_help_names_the_variable_the_commands_read() -> None:
    """--help said "(default var/run)" while $DITA_STATE_DIR, when set, is read instead
    (`dita paper` writes its state file there: see the test after this one)."""
    import typer.main

    group: Any = typer.main.get_command(app)
    for command in ("status", "orders", "pnl", "paper"):
        (option,) = (p for p in group.commands[command].params if p.name == "state_dir")
        assert "(default: $DITA_STATE_DIR or var/run)" in option.help, command


def test_paper_writes_its_state_file_in_the_state_dir_variable_and_names_it_in_refusals(
    tmp_path: Path,
) -> None:
    """A state directory from $DITA_STATE_DIR that is a file was refused as "--state-dir ...",
    an option nobody gave."""
    env = {"DITA_STATE_DIR": str(tmp_path / "from-env")}
    args = ["paper", "--strategy", CROSSOVER, "--data", "sample", "--max-speed", "--kernel-id", "env"]
    done = runner.invoke(app, args, env=env)
    assert done.exit_code == 0, done.output
    assert json.loads((tmp_path / "from-env" / "env.json").read_text())["kernel_id"] == "env"
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me")
    refused = runner.invoke(app, args, env={"DITA_STATE_DIR": str(a_file)})
    assert refused.exit_code == 2, refused.output
    assert f"error: $DITA_STATE_DIR {a_file} is a file; give a directory" in refused.stderr
    given = runner.invoke(app, [*args, "--state-dir", str(a_file)], env=env)
    assert given.exit_code == 2 and f"error: --state-dir {a_file} is a file" in given.stderr
    assert a_file.read_text() == "keep me"


def test_an_empty_state_dir_variable_reads_as_unset_where_var_run_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Taken as unset, it still counted as naming a directory: where var/run did not exist,
    unset read "no running kernels found" (exit 0) but empty exited 2 with
    "$DITA_STATE_DIR var/run: no such directory", a value nobody gave the variable."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DITA_STATE_DIR", raising=False)
    for env in ({}, {"DITA_STATE_DIR": ""}):
        for command in (["status"], ["orders"], ["pnl"]):
            result = runner.invoke(app, [*command, "--json"], env=env)
            assert result.exit_code == 0 and json.loads(result.stdout) == [], (env, command, result.output)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--days", "0"], "--days=0.0 must be positive and finite"),
        (["--days", "nan"], "--days=nan must be positive and finite"),
        (["--days", "0.0001"], "--days=0.0001 is shorter than one bar of --interval=60.0 seconds"),
        (["--interval", "-60"], "--interval=-60.0 must be positive and finite"),
        (["--seed", "-1"], "--seed=-1 must be zero or more"),
        # Past the largest float the bar count is infinite (round() raised OverflowError).
        (["--days", "1e308"], "--days=1e+308 with --interval=60.0 makes more than 10,000,000 bars"),
        (["--interval", "1e-310"], "makes more than 10,000,000 bars"),
        # Would allocate gigabytes and die with MemoryError (or the OOM killer).
        (["--days", "100000"], "--days=100000.0 with --interval=60.0 makes more than 10,000,000 bars"),
        # Times are written to the millisecond: these were written as repeated or uneven times
        # (0.0005 s bars as pairs at one time), which every reader then refused.
        (
            ["--days", "0.0001", "--interval", "0.0005"],
            "--interval=0.0005 must be a whole number of milliseconds",
        ),
        (
            ["--days", "0.001", "--interval", "0.0015"],
            "--interval=0.0015 must be a whole number of milliseconds",
        ),
    ],
)
def test_data_module_refuses_bad_arguments(tmp_path: Path, argv: list[str], message: str) -> None:
    out = tmp_path / "bars.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "dita.data", "--out", str(out), *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize(
    ("out", "message"),
    [
        # Written as CSV, it would be refused by every reader as "unsupported file type".
        ("bars.json", "--out {out}: unknown file type (use .csv, .csv.gz or .parquet)"),
        ("afile/bars.csv", "--out {out}: {tmp}/afile is a file, not a directory"),
        ("adir.csv", "--out {out} is a directory; give a file name"),
    ],
)
def test_data_module_refuses_an_unusable_out(tmp_path: Path, out: str, message: str) -> None:
    (tmp_path / "afile").write_text("mine")
    (tmp_path / "adir.csv").mkdir()
    path = tmp_path / out
    proc = subprocess.run(
        [sys.executable, "-m", "dita.data", "--days", "0.01", "--out", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert message.format(out=path, tmp=tmp_path) in proc.stderr and "Traceback" not in proc.stderr
    assert (tmp_path / "afile").read_text() == "mine" and not list((tmp_path / "adir.csv").iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir.csv", "afile"]


@pytest.mark.parametrize("name", ["bars.csv", "bars.csv.gz", "bars.parquet"])
def test_data_module_cut_short_leaves_no_part_of_its_file(tmp_path: Path, name: str) -> None:
    """Written in place, a write cut short (a full disk; here the file size limit, which
    Python turns into an error) left the first part of the file under its name, over the one
    there before: a CSV read back as a shorter history, its last row cut mid-number, after
    a command that said only that it could not write."""
    import resource

    out = tmp_path / name
    out.write_text("mine")

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))

    proc = subprocess.run(
        [sys.executable, "-m", "dita.data", "--days", "3", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=limit_file_size,
    )
    assert proc.returncode == 2, proc.stderr
    assert f"--out {out}: cannot write: " in proc.stderr and "Traceback" not in proc.stderr
    assert out.read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left


def test_the_data_module_writes_through_a_link_to_its_file(tmp_path: Path) -> None:
    """Written beside its name and renamed, the file must not replace a link named --out with
    a file of its own: the file the link names is rewritten, as when it was written in place."""
    target = tmp_path / "2024.csv"
    target.write_text("old")
    link = tmp_path / "latest.csv"
    link.symlink_to(target)
    assert write_bars(generate_bars(days=0.01), link) == link
    assert link.is_symlink() and link.resolve() == target
    assert target.read_text().startswith('"timestamp","open"')
    assert sorted(p.name for p in tmp_path.iterdir()) == ["2024.csv", "latest.csv"]


@pytest.mark.parametrize(
    "name", ["bars.csv", "bars.csv.gz", "BARS.CSV.GZ", "bars.parquet", "Bars.PQ", "bars.txt"]
)
def test_every_name_the_data_module_writes_loads_back(tmp_path: Path, name: str) -> None:
    bars = generate_bars(days=0.1, seed=3)
    loaded = load_market_data(write_bars(bars, tmp_path / name))
    assert loaded.kind == "bars" and set(loaded.asset) == {"BARS"}
    assert np.array_equal(loaded.ts, bars["timestamp"]) and np.array_equal(
        loaded.columns["close"], bars["close"]
    )


def test_backtest_and_paper_refuse_data_the_strategy_does_not_take(tmp_path: Path) -> None:
    # SmaCrossover takes bars: on quotes it would see no data and report 0 trades as a success.
    quotes = tmp_path / "BTCUSDT_quotes.csv"
    quotes.write_text("timestamp,bid,ask\n2024-01-01T00:00:00Z,100,101\n2024-01-01T00:01:00Z,100,101\n")
    out = tmp_path / "o"
    args = ["backtest", "--strategy", CROSSOVER, "--data", str(quotes), "--out", str(out), "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "takes bars" in result.stderr and "holds quotes" in result.stderr
    assert not out.exists()
    state = tmp_path / "state"
    args = ["paper", "--strategy", CROSSOVER, "--data", str(quotes), "--max-speed", "--state-dir", str(state)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "takes bars" in result.stderr and not state.exists()


def test_a_strategy_whose_assets_are_not_in_the_data_is_refused() -> None:
    from dita.backtest.data import load_market_data
    from dita.cli._common import feed_problem
    from dita.data import SAMPLE_BARS
    from dita.examples.crossover import SmaCrossover

    class EthOnly(SmaCrossover):
        assets = ("ETHUSDT",)

    data = load_market_data(SAMPLE_BARS)
    problem = feed_problem(EthOnly(), data.kind, data.assets)
    assert problem is not None and "ETHUSDT" in problem and "BTCUSDT" in problem
    assert feed_problem(SmaCrossover(), data.kind, data.assets) is None


@pytest.mark.parametrize("command", ["status", "orders", "pnl"])
def test_a_damaged_state_file_is_skipped_saying_which_and_why(tmp_path: Path, command: str) -> None:
    """Skipped without a word, its kernel read as gone ("no running kernels found")."""
    damaged = {
        "empty.json": b"",
        "bytes.json": b"\xff",
        "deep.json": b"[" * 100_000,
        "list.json": b"[1]",
        "anonymous.json": b'{"running": true}',
        "surrogate.json": b'{"kernel_id": "surrogate", "note": "\\ud800"}',
    }
    for name, data in damaged.items():
        (tmp_path / name).write_bytes(data)
    result = runner.invoke(app, [command, "--state-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    skipped = f"warning: skipped state file {tmp_path}/"
    said = sorted(
        line.removeprefix(skipped) for line in result.stderr.splitlines() if line.startswith(skipped)
    )
    assert said == [
        "anonymous.json: no kernel_id",
        "bytes.json: not UTF-8 text (byte 0)",
        "deep.json: JSON nested too deeply",
        "empty.json: not JSON: Expecting value: line 1 column 1 (char 0)",
        "list.json: not a JSON object, got list",
        "surrogate.json: it holds a string no UTF-8 text can (a lone surrogate escape)",
    ]


def test_status_skips_a_state_file_with_a_pid_that_is_not_a_number(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"kernel_id": "x", "running": true, "pid": "abc"}')
    result = runner.invoke(app, ["status", "--state-dir", str(tmp_path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 0 and "no running kernels found" in result.stdout
    said = f"warning: skipped state file {tmp_path / 'x.json'}: pid: not a whole number, got 'abc'"
    assert said in result.stderr


def test_status_skips_a_state_file_whose_running_is_not_true_or_false(tmp_path: Path) -> None:
    """A running of "no" read as true: a run that ended showed as running while its pid was alive."""
    (tmp_path / "x.json").write_text(f'{{"kernel_id": "x", "running": "no", "pid": {os.getpid()}}}')
    result = runner.invoke(app, ["status", "--state-dir", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    said = f"warning: skipped state file {tmp_path / 'x.json'}: running: Input should be a valid boolean"
    assert f"{said}, got 'no'" in result.stderr


GOOD_STATE = {
    "kernel_id": "good", "pid": 1, "running": False, "clock": "data", "data_time": 1704300000.0,
    "account": {"equity": 10.0, "realized_pnl": 1.0, "k_fees_paid": 0.5, "k_funding_net": 0.0},
    "control": {"mode": "PAPER"},
    "slots": [{"fsm_state": "POSITION_OPEN", "size": 1.0,
               "active_exit_order": {"client_order_id": "o1", "status": "NEW", "size": 1.0, "price": 5.0}}],
    "strategies": [{"name": "S", "status": "RUNNING", "error": ""}],
    "fills": [{"ts": 1704290000.0, "realized_pnl": 1.0, "fee": 0.5}],
    "older_fills": {"2024-01-02": {"fills": 1, "realized_pnl": 0.0, "fee": 0.0, "last_ts": 1704200000.0}},
}  # fmt: skip
# The commands that read the state files.
STATE_READERS = (["status"], ["status", "--json"], ["orders"], ["pnl"], ["pnl", "--period", "today"])


@pytest.mark.parametrize(
    "change",
    [
        {"account": []},
        {"control": 5},
        {"control": {"mode": 5}},
        {"slots": "x"},
        {"slots": [{"fsm_state": "POSITION_OPEN", "size": "zz"}]},
        {"slots": [{"fsm_state": "POSITION_OPEN", "active_entry_order": {"status": "NEW", "size": "zz"}}]},
        # What `dita orders` shows of an order, of another type: listed as is ([1] for a status).
        {"slots": [{"fsm_state": "ORDER_SENT", "active_entry_order": {"client_order_id": 5}}]},
        {"slots": [{"fsm_state": "ORDER_SENT", "active_entry_order": {"status": [1]}}]},
        {"strategies": [1]},
        {"fills": [{"ts": "x", "realized_pnl": 0.0, "fee": 0.0}]},
        {"older_fills": {"yesterday": {"fills": 1, "realized_pnl": 0.0, "fee": 0.0, "last_ts": 0.0}}},
        # Numbers as text: pydantic's lax mode read "1.5" as a number, so the file was taken,
        # and `pnl` over a period holding that day added the text up (a TypeError traceback).
        {"older_fills": {"2024-01-02": {"fills": 1, "realized_pnl": "1.5", "fee": 0.0, "last_ts": 0.0}}},
        {"account": {"equity": "10.0", "realized_pnl": 1.0, "k_fees_paid": 0.5}},
        {"data_time": "x"},
        {"kernel_id": 5},
        # Python's json reads NaN and Infinity: --json printed them back, which is no JSON.
        {"account": {"equity": float("nan"), "realized_pnl": 1.0, "k_fees_paid": 0.5}},
        {"fills": [{"ts": 1704290000.0, "realized_pnl": float("inf"), "fee": 0.5}]},
        {"slots": [{"fsm_state": "ORDER_SENT", "active_entry_order": {"price": float("-inf")}}]},
    ],
)
def test_status_skips_a_state_file_dita_paper_did_not_write(tmp_path: Path, change: dict[str, Any]) -> None:
    """Like the pid check above: a JSON file in the state directory with a kernel_id but
    other fields of the wrong shape is not a kernel's state, not a reason for a traceback.
    It is skipped saying so (its kernel would read as gone): the file, field and value."""
    (tmp_path / "good.json").write_text(json.dumps(GOOD_STATE))
    (tmp_path / "bad.json").write_text(json.dumps({**GOOD_STATE, "kernel_id": "bad", **change}))
    for command in (*STATE_READERS, ["pnl", "--period", "week"], ["pnl", "--json"], ["orders", "--json"]):
        result = runner.invoke(app, [*command, "--state-dir", str(tmp_path)])
        assert result.exception is None, (command, result.exception)
        assert result.exit_code == 0 and "good" in result.stdout and "bad" not in result.stdout, command
        assert f"warning: skipped state file {tmp_path / 'bad.json'}: " in result.stderr, command


def test_a_copy_of_a_state_file_does_not_list_its_kernel_twice(tmp_path: Path) -> None:
    """A state file copied next to it (kept before a change) listed its kernel twice, alike,
    in status, orders and pnl (a script summing the rows counted its PnL twice). `dita paper`
    names the file after its kernel, and continues from no other: the copy is skipped, said."""
    (tmp_path / "good.json").write_text(json.dumps(GOOD_STATE))
    copy = tmp_path / "good-before.json"
    copy.write_text(json.dumps(GOOD_STATE))
    for command in (["status"], ["orders"], ["pnl"]):
        result = runner.invoke(app, [*command, "--state-dir", str(tmp_path), "--json"])
        assert result.exit_code == 0, (command, result.output)
        rows = json.loads(result.stdout)
        assert [r["kernel_id"] for r in rows] == ["good"], (command, rows)
        said = f"warning: skipped state file {copy}: it holds kernel 'good', not 'good-before'"
        assert said in result.stderr, (command, result.stderr)


def test_a_skipped_state_file_is_said_naming_the_field_and_value(tmp_path: Path) -> None:
    """`dita status --kernel bad` said only "no kernel 'bad' found" of a file bad.json whose
    equity a hand (or another version) wrote as text: nothing named the file or the field."""
    account = {**GOOD_STATE["account"], "equity": "10.0"}  # type: ignore[dict-item]
    (tmp_path / "bad.json").write_text(json.dumps({**GOOD_STATE, "kernel_id": "bad", "account": account}))
    result = runner.invoke(app, ["status", "--state-dir", str(tmp_path), "--kernel", "bad"])
    assert result.exit_code == 1 and "error: no kernel 'bad' found" in result.stderr
    said = f"skipped state file {tmp_path / 'bad.json'}: account.equity: Input should be a valid number"
    assert f"warning: {said}, got '10.0'" in result.stderr, result.stderr


def test_a_state_dir_or_file_this_user_may_not_read_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another user's state directory (mode 0700) read as an empty one, "no running kernels
    found", and a state file this user may not read (0600) was left out without a word, its
    kernel "not found". The denials are simulated: root, who may run the tests, reads all."""
    (tmp_path / "good.json").write_text(json.dumps(GOOD_STATE))
    theirs = tmp_path / "theirs.json"
    theirs.write_text(json.dumps({**GOOD_STATE, "kernel_id": "theirs"}))
    real_scandir, real_open = os.scandir, os.open

    def os_open(path: Any, *args: Any, **kwargs: Any) -> int:
        if Path(path) == theirs:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", os_open)
    for command in (*STATE_READERS, ["pnl", "--json"]):
        result = runner.invoke(app, [*command, "--state-dir", str(tmp_path)])
        assert result.exit_code == 0 and "good" in result.stdout, (command, result.output)
        assert f"warning: cannot read the state file {theirs}: Permission denied" in result.stderr

    def scandir(path: Any = ".") -> Any:
        if Path(path) == tmp_path:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    for command in (*STATE_READERS, ["pnl", "--json"]):
        result = runner.invoke(app, [*command, "--state-dir", str(tmp_path)])
        assert result.exit_code == 2 and result.stdout == "", (command, result.output)
        assert f"--state-dir {tmp_path}: cannot list its state files: Permission denied" in result.stderr


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe{}",  # not UTF-8: a UnicodeDecodeError traceback
        b"[" * 100_000,  # nested past the parser's recursion limit: a RecursionError traceback
        b'{"kernel_id": "bad", "pid": 1, "note": "\\ud800"}',  # a lone surrogate: UnicodeEncodeError
        b'{"kernel_id": "bad", "pid": 1, "clock": "data", "data_time": NaN}',  # a ValueError traceback
        b'{"kernel_id": "bad", "pid": 1, "clock": "data", "data_time": 1e400}',  # Infinity
        b'{"kernel_id": "bad", "pid": 1, "clock": "data", "data_time": 1e18}',  # past the year 9999
    ],
)
def test_status_skips_a_state_file_that_is_not_json_it_can_read(tmp_path: Path, content: bytes) -> None:
    """Found by fuzzing the state files: a stray file in the state directory that is not
    text, nests too deeply or holds a data time no calendar has ended every command."""
    (tmp_path / "good.json").write_text(json.dumps(GOOD_STATE))
    (tmp_path / "bad.json").write_bytes(content)
    for command in STATE_READERS:
        result = runner.invoke(app, [*command, "--state-dir", str(tmp_path)])
        assert result.exception is None, (command, result.exception)
        assert result.exit_code == 0 and "good" in result.stdout and "bad" not in result.stdout, command


def _limit_memory() -> None:
    """A child's address space held to 1 GiB: a read without end is a MemoryError there."""
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def test_status_reads_no_state_file_that_is_not_a_regular_file(tmp_path: Path) -> None:
    """A FIFO named *.json in the state directory hung every command (its open waits for a
    writer), and a link to /dev/zero was read until memory ran out (a MemoryError traceback
    here, under a 1 GiB limit). Neither can be a state file: both are left out."""
    (tmp_path / "good.json").write_text(json.dumps(GOOD_STATE))
    os.mkfifo(tmp_path / "pipe.json")
    (tmp_path / "zero.json").symlink_to("/dev/zero")

    for command in (["status", "--json"], ["pnl", "--json"]):
        done = subprocess.run(
            [sys.executable, "-m", "dita", *command, "--state-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            preexec_fn=_limit_memory,
        )
        assert done.returncode == 0, (command, done.stderr)
        assert [row["kernel_id"] for row in json.loads(done.stdout)] == ["good"], command
        assert done.stderr == "", command


def test_status_skips_a_state_file_larger_than_one_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state file is read whole before it is parsed: one past STATE_FILE_BYTES (a data set
    kept in the directory, say) is left out, said naming it, not read into memory. One of
    exactly the cap is read. (The cap is lowered here: it is 64 MiB.)"""
    from dita.cli import _state

    monkeypatch.setattr(_state, "STATE_FILE_BYTES", 2000, raising=False)
    for kernel, size in (("big", 2001), ("atcap", 2000)):
        state = {**GOOD_STATE, "kernel_id": kernel}
        state["pad"] = "x" * (size - len(json.dumps(state)) - len(', "pad": ""'))
        (tmp_path / f"{kernel}.json").write_text(json.dumps(state))
        assert (tmp_path / f"{kernel}.json").stat().st_size == size
    for command in (*STATE_READERS, ["pnl", "--json"]):
        result = runner.invoke(app, [*command, "--state-dir", str(tmp_path)])
        assert result.exit_code == 0, (command, result.output)
        assert "atcap" in result.stdout and "big" not in result.stdout, (command, result.stdout)
        big = tmp_path / "big.json"
        said = f"skipped state file {big}: 2,001 bytes, over 2,000, larger than a state file is"
        assert f"warning: {said}" in result.stderr, (command, result.stderr)


def test_backtest_of_data_before_1970_exits_2_naming_the_row(tmp_path: Path) -> None:
    data = tmp_path / "BTCUSDT_1m.csv"
    rows = [f"{-315_619_200 + 60 * i},100,101,99,100,10" for i in range(50)]
    data.write_text("ts,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    args = ["backtest", "--strategy", CROSSOVER, "--data", str(data), "--out", str(tmp_path / "out")]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "row 1" in result.output and "before 1970" in result.output


def test_python_m_dita_runs_the_cli_as_the_dita_command_does() -> None:
    """`python -m dita` was "'dita' is a package and cannot be directly executed"."""
    done = subprocess.run(
        [sys.executable, "-m", "dita", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "Usage: dita " in done.stdout and "backtest" in done.stdout and "paper" in done.stdout


def test_paper_refuses_a_journal_directory_another_process_holds(tmp_path: Path) -> None:
    """Another run (or kernel) holding the embedded journal: a message saying so, exit 2, not
    a traceback."""
    directory = tmp_path / "held"
    state = tmp_path / "state"
    with held_chdb_directory(directory):
        result = runner.invoke(app, [*PAPER, "--state-dir", str(state), "--journal", f"chdb://{directory}"])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert (
        f"--journal: cannot open the journal: journal directory {directory} is held by another process"
        in (result.stderr)
    )
    assert not state.exists()


def test_orders_table_says_when_a_cancel_is_pending(tmp_path: Path) -> None:
    """An order whose cancel was sent keeps working until the venue confirms: the table must
    not show it as a plain working order (--json carries ``cancel_requested`` already)."""
    slot = {**GOOD_STATE["slots"][0]}  # type: ignore[index]
    slot["active_exit_order"] = {**slot["active_exit_order"], "cancel_requested": True}
    (tmp_path / "good.json").write_text(json.dumps({**GOOD_STATE, "slots": [slot]}))
    table = runner.invoke(app, ["orders", "--state-dir", str(tmp_path)])
    assert table.exit_code == 0, table.output
    line = next(x for x in table.stdout.splitlines() if "o1" in x)
    assert "NEW, cancel requested" in line
    (row,) = json.loads(runner.invoke(app, ["orders", "--state-dir", str(tmp_path), "--json"]).stdout)
    assert row["cancel_requested"] is True


def test_orders_of_a_paper_run_that_stopped_say_so(tmp_path: Path) -> None:
    """A run saves its state file as not running at its end, and the orders it left there are
    its last state (never filled nor cancelled), not working ones: `dita orders` listed them
    as working, without the note the projection gives a kernel closed cleanly."""
    stopped = {**GOOD_STATE, "running": False, "updated_at": 1704300000.5}
    (tmp_path / "good.json").write_text(json.dumps(stopped))
    note = "stopped at 2024-01-03 16:40:00 UTC (last state shown)"
    table = runner.invoke(app, ["orders", "--state-dir", str(tmp_path)])
    assert table.exit_code == 0, table.output
    assert "o1" in table.stdout and f"good: {note}" in table.stdout
    (row,) = json.loads(runner.invoke(app, ["orders", "--state-dir", str(tmp_path), "--json"]).stdout)
    assert row["client_order_id"] == "o1" and row["note"] == note
    (status,) = json.loads(runner.invoke(app, ["status", "--state-dir", str(tmp_path), "--json"]).stdout)
    assert status["running"] is False and status["note"] == note
    # A file without the time of its save (hand-written) says it all the same.
    (tmp_path / "good.json").write_text(json.dumps({**GOOD_STATE, "running": False}))
    (row,) = json.loads(runner.invoke(app, ["orders", "--state-dir", str(tmp_path), "--json"]).stdout)
    assert row["note"] == "stopped (last state shown)"


def test_every_json_row_of_status_orders_and_pnl_has_its_note(tmp_path: Path) -> None:
    """`status --json` rows always carry `note`; those of `orders` had it only under a kernel
    with a note and those of `pnl` only for a day total straddled, so a script reading it as
    from `status` failed on the others (a KeyError)."""
    older = {"2024-01-03": {"fills": 1, "realized_pnl": 0.0, "fee": 0.0, "last_ts": 1704300000.0}}
    running = {**GOOD_STATE, "kernel_id": "live", "running": True, "pid": os.getpid(), "older_fills": older}
    (tmp_path / "live.json").write_text(json.dumps(running))
    (tmp_path / "good.json").write_text(json.dumps({**GOOD_STATE, "running": False}))
    stopped = "stopped (last state shown)"
    straddled = ["pnl", "--period", "today", "--at", "2024-01-03T12:00:00"]
    for command, good, live in (
        (["status"], stopped, ""),
        (["orders"], stopped, ""),
        (["pnl"], "", ""),
        (straddled, "", "includes fills after 2024-01-03 12:00:00 on that day"),
    ):
        result = runner.invoke(app, [*command, "--state-dir", str(tmp_path), "--json"])
        assert result.exit_code == 0, (command, result.output)
        rows = {r["kernel_id"]: r for r in json.loads(result.stdout)}
        assert rows["good"]["note"] == good and rows["live"]["note"].startswith(live), (command, rows)
        assert set(rows["live"]) == set(rows["good"]), command


def test_paper_closes_whole_when_sigterm_comes_as_it_closes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM right after the run ended (or after Ctrl-C) came while the run closed: it was
    raised as an interrupt there, so the last state was not saved (`running: true` stayed)
    and the command ended with status 130."""
    import signal

    from dita.cli.paper import PaperSession

    save = PaperSession.save

    def save_under_sigterm(self: PaperSession, *, running: bool) -> Path:
        if not running:
            os.kill(os.getpid(), signal.SIGTERM)
        return save(self, running=running)

    monkeypatch.setattr(PaperSession, "save", save_under_sigterm)
    outside: list[int] = []  # the handler the command must put back (and a guard for pytest)
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: outside.append(signum))
    try:
        result = runner.invoke(app, [*PAPER, "--state-dir", str(tmp_path), "--kernel-id", "k-term"])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "k-term.json").read_text())["running"] is False
    assert not outside


RESTING = """
from typing import Any

from pydantic import BaseModel

from dita.strategy import Bar, Strategy


class Plan(BaseModel):
    fail: bool = False


class FarBid(Strategy[Plan]):
    Params = Plan
    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        if not self.busy(bar.asset) and not self.position(bar.asset) and not hasattr(self, "sent"):
            self.sent = self.buy(bar.asset, 1.0, price=bar.close, limit=50.0)
        elif self.params.fail:
            raise ValueError("boom")
"""


def _bars_csv(path: Path, lows: list[float]) -> Path:
    rows = ["timestamp,asset,open,high,low,close,volume"]
    rows += [f"{1_704_067_200 + 60 * i},BTCUSDT,100,101,{low},100,1000" for i, low in enumerate(lows)]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture
def resting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "paper_resting.py").write_text(RESTING)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "paper_resting:FarBid"


def _paper_on(tmp_path: Path, strategy: str, data: Path, *extra: str) -> Any:
    args = ["paper", "--strategy", strategy, "--data", str(data), "--max-speed", "--kernel-id", "rest"]
    args += ["--state-dir", str(tmp_path / "state"), "--wal-dir", str(tmp_path / "wal"), *extra]
    return runner.invoke(app, args)


@pytest.mark.parametrize("option", ["--wal-dir", "--state-dir"])
def test_an_empty_directory_option_is_refused_not_taken_for_the_current_one(
    tmp_path: Path, resting: str, monkeypatch: pytest.MonkeyPatch, option: str
) -> None:
    """`--wal-dir "$WAL_DIR"` with the variable unset wrote the log (LOCK, checkpoint,
    segment) into the directory the command ran in."""
    data = _bars_csv(tmp_path / "bars.csv", [99.0] * 3)
    (tmp_path / "run").mkdir()
    monkeypatch.chdir(tmp_path / "run")
    res = runner.invoke(app, ["paper", "--strategy", resting, "--data", str(data), "--max-speed", option, ""])
    assert res.exit_code == 2 and f"Invalid value for '{option}': must name a path, got ''" in res.output
    assert list((tmp_path / "run").iterdir()) == []


def test_a_resting_limit_keeps_working_across_a_paper_restart(tmp_path: Path, resting: str) -> None:
    """The paper venue's book lived in the process: a run stopped with a resting limit entry
    and started again lost the order (the kernel's slot stayed ENTRY_WORKING for good, or a
    fresh kernel forgot the trade). With --wal-dir the next run continues the kernel and its
    venue's book: the order keeps working and fills when the market reaches it."""
    first = _paper_on(tmp_path, resting, _bars_csv(tmp_path / "a.csv", [99.0] * 5))
    assert first.exit_code == 0, first.output
    snap = json.loads((tmp_path / "state" / "rest.json").read_text())
    assert snap["format"] == 2 and [o["price"] for o in snap["venue"]["orders"]] == [50.0]
    [slot] = snap["slots"]
    assert slot["fsm_state"] == "ENTRY_WORKING"

    # The same file and three later bars, the last one trading through the bid: the rows the
    # first run handled are not replayed, and the order fills on the new bar.
    more = _bars_csv(tmp_path / "b.csv", [99.0] * 7 + [40.0])
    second = _paper_on(tmp_path, resting, more)
    assert second.exit_code == 0, second.output
    assert "continues kernel rest" in second.stdout and "1 working order" in second.stdout
    assert "5 of 8 rows" in second.stdout
    snap = json.loads((tmp_path / "state" / "rest.json").read_text())
    [slot] = snap["slots"]
    assert (slot["fsm_state"], slot["trade_id"], slot["size"]) == ("POSITION_OPEN", "FarBid-t1", 1.0)
    assert [(f["price"], f["trade_id"]) for f in snap["fills"]] == [(50.0, "FarBid-t1")]
    assert snap["strategies"][0]["intents"] == 0  # it held the trade: no second order
    assert snap["venue"]["orders"] == [] and snap["venue"]["positions"] == {"BTCUSDT": 1.0}
    orders = runner.invoke(app, ["orders", "--state-dir", str(tmp_path / "state"), "--json"])
    assert json.loads(orders.stdout) == []


def test_a_continued_run_takes_its_logs_slot_count_unless_one_is_given(tmp_path: Path, resting: str) -> None:
    """`dita paper` does not pass its default of 64 slots as if given: the log's count is
    taken, and without a usable checkpoint the run is refused. Passed as if given, a run
    continuing a log made with --max-slots 4 would be refused unless it said 4 again, and one
    whose checkpoints are all damaged replayed into 64 slots (the kernel's own guard asks for
    the count)."""
    from dita._kernel import wal_replay

    data = _bars_csv(tmp_path / "a.csv", [99.0] * 5)
    first = _paper_on(tmp_path, resting, data, "--max-slots", "4")
    assert first.exit_code == 0, first.output
    again = _paper_on(tmp_path, resting, data)
    assert again.exit_code == 0, again.output
    assert "continues kernel rest" in again.stdout
    assert wal_replay(tmp_path / "wal")[0].max_slots == 4
    for checkpoint in (tmp_path / "wal").glob("ckpt-*.ckpt"):
        damaged = bytearray(checkpoint.read_bytes())
        damaged[-1] ^= 0x01
        checkpoint.write_bytes(bytes(damaged))
    refused = _paper_on(tmp_path, resting, data)
    assert refused.exit_code != 0 and "no usable checkpoint" in refused.stderr, refused.output
    given = _paper_on(tmp_path, resting, data, "--max-slots", "4")
    assert given.exit_code == 0, given.output
    assert "continues kernel rest" in given.stdout


TAKES_PROFIT = """
from pydantic import BaseModel

from dita.strategy import Bar, Strategy


class Plan(BaseModel):
    fail: bool = False


class TakesProfit(Strategy[Plan]):
    Params = Plan
    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        stages = [s.fsm_state.name for s in self.slots()]
        if not stages and not hasattr(self, "sent"):
            self.sent = self.buy(bar.asset, 1.0, price=bar.close)
        elif stages == ["POSITION_OPEN"]:
            self.exit(self.slots()[0].slot_id, price=bar.close, limit=150.0)
            self.buy(bar.asset, 1.0, price=bar.close, limit=50.0)
        elif self.params.fail and "EXIT_WORKING" in stages:
            raise ValueError("boom")
"""


def test_a_run_stopped_with_every_strategy_in_error_keeps_its_book(tmp_path: Path, resting: str) -> None:
    """The book (the exit a strategy in ERROR leaves working; its entry is canceled) is saved
    for the next run, which goes on working it."""
    (tmp_path / "paper_takes_profit.py").write_text(TAKES_PROFIT)
    strategy = "paper_takes_profit:TakesProfit"
    data = _bars_csv(tmp_path / "a.csv", [99.0] * 5)
    first = _paper_on(tmp_path, strategy, data, "--param", "fail=true")
    assert first.exit_code == 1 and "every strategy is in ERROR" in first.stderr
    snap = json.loads((tmp_path / "state" / "rest.json").read_text())
    assert [s["fsm_state"] for s in snap["slots"]] == ["EXIT_WORKING"]
    assert [(o["side"], o["price"]) for o in snap["venue"]["orders"]] == [("SELL", 150.0)]
    more = _bars_csv(tmp_path / "b.csv", [99.0] * 5)
    # A last bar trades up through the take-profit.
    more.write_text(more.read_text() + f"{1_704_067_200 + 60 * 5},BTCUSDT,100,160,99,150,1000\n")
    second = _paper_on(tmp_path, strategy, more)
    assert second.exit_code == 0, second.output
    snap = json.loads((tmp_path / "state" / "rest.json").read_text())
    assert "1 working order restored" in second.stdout
    # The take-profit filled and closed the trade.
    assert [s for s in snap["slots"] if s["trade_id"] == "TakesProfit-t1"] == []
    assert [f["price"] for f in snap["fills"] if f["trade_id"] == "TakesProfit-t1"] == [100.02, 150.0]


def test_a_restart_on_a_state_file_without_the_book_ends_the_orders_it_lost(
    tmp_path: Path, resting: str
) -> None:
    """A state file written before the book was saved (or lost) cannot give the orders back:
    reconciliation ends them in the kernel, said on stderr, so the slot is not held for good."""
    first = _paper_on(tmp_path, resting, _bars_csv(tmp_path / "a.csv", [99.0] * 5))
    assert first.exit_code == 0, first.output
    path = tmp_path / "state" / "rest.json"
    old = json.loads(path.read_text())
    del old["format"], old["venue"]
    path.write_text(json.dumps(old))
    second = _paper_on(tmp_path, resting, _bars_csv(tmp_path / "b.csv", [99.0] * 7))
    assert second.exit_code == 0, second.output
    assert "holds no paper venue book" in second.stderr
    assert "reconcile: ended 1 order the venue does not hold" in second.stderr
    assert "FarBid-t1" in second.stderr
    snap = json.loads(path.read_text())
    # The slot was freed: the strategy could bid again, under a new trade id.
    [slot] = snap["slots"]
    assert slot["fsm_state"] == "ENTRY_WORKING" and slot["trade_id"] != "FarBid-t1"


def test_a_state_file_of_a_newer_format_is_refused(tmp_path: Path, resting: str) -> None:
    first = _paper_on(tmp_path, resting, _bars_csv(tmp_path / "a.csv", [99.0] * 5))
    assert first.exit_code == 0, first.output
    path = tmp_path / "state" / "rest.json"
    newer = {**json.loads(path.read_text()), "format": 99}
    path.write_text(json.dumps(newer))
    again = _paper_on(tmp_path, resting, _bars_csv(tmp_path / "b.csv", [99.0] * 7))
    assert again.exit_code == 2, again.output
    assert "format 99" in again.stderr and str(path) in again.stderr
    assert json.loads(path.read_text()) == newer
    # A format that is no whole number was called "newer than this dita paper writes (2)".
    path.write_text(json.dumps({**newer, "format": "2"}))
    text = _paper_on(tmp_path, resting, _bars_csv(tmp_path / "c.csv", [99.0] * 7))
    assert text.exit_code == 2 and "has format '2', not a whole number" in text.stderr, text.stderr
    path.write_text(json.dumps({**newer, "format": 0}))
    zero = _paper_on(tmp_path, resting, _bars_csv(tmp_path / "d.csv", [99.0] * 7))
    assert zero.exit_code == 2 and "has format 0: not a file `dita paper` wrote" in zero.stderr, zero.stderr


def _refused_continuing_from(
    tmp_path: Path, resting: str, change: Callable[[dict[str, Any]], dict[str, Any]]
) -> tuple[Any, dict[str, Any]]:
    """A `dita paper --wal-dir` run, then one continuing it from its state file as ``change``
    makes it: that one must exit 2 naming the file, before the log opens (log and file
    untouched). Returns its result and the changed state."""
    first = _paper_on(tmp_path, resting, _bars_csv(tmp_path / "a.csv", [99.0] * 5))
    assert first.exit_code == 0, first.output
    path = tmp_path / "state" / "rest.json"
    bad = change(json.loads(path.read_text()))
    path.write_text(json.dumps(bad))
    log = sorted((p.name, p.read_bytes()) for p in (tmp_path / "wal").iterdir())
    again = _paper_on(tmp_path, resting, _bars_csv(tmp_path / "b.csv", [99.0] * 7))
    assert again.exception is None or isinstance(again.exception, SystemExit), again.exception
    assert again.exit_code == 2, again.output
    assert str(path) in again.stderr, again.stderr
    assert sorted((p.name, p.read_bytes()) for p in (tmp_path / "wal").iterdir()) == log
    assert path.read_text() == json.dumps(bad)
    return again, bad


@pytest.mark.parametrize(
    ("make", "kind"), [(os.mkfifo, "a FIFO"), (lambda p: p.symlink_to("/dev/zero"), "a character device")]
)
def test_a_run_continuing_its_kernel_reads_no_state_file_that_is_not_a_regular_file(
    tmp_path: Path, make: Callable[[Path], None], kind: str
) -> None:
    """`dita paper --wal-dir` read <state-dir>/<kernel>.json whole: a FIFO of that name hung it
    for good (its open waits for a writer: a timeout here), and a link to /dev/zero was read
    until memory ran out (a MemoryError, under a 1 GiB limit). Either is refused, exit 2
    naming the file and what it is, before the log opens."""
    state = tmp_path / "state"
    state.mkdir()
    path = state / "k.json"
    make(path)
    args = ["paper", "--strategy", CROSSOVER, "--data", "sample", "--max-speed", "--kernel-id", "k"]
    args += ["--state-dir", str(state), "--wal-dir", str(tmp_path / "wal")]
    done = subprocess.run(
        [sys.executable, "-m", "dita", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        preexec_fn=_limit_memory,
    )
    assert done.returncode == 2, done.stderr
    said = f"error: the state file {path} is {kind}, not a regular file: not one `dita paper` wrote"
    assert said in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert done.stdout == "" and not (tmp_path / "wal").exists()


def test_a_run_continues_from_its_own_state_file_however_large(
    tmp_path: Path, resting: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dita status` skips a file over STATE_FILE_BYTES, but a run continuing its kernel must
    read the one it wrote, which many working slots take past it (about 1.4 kB each, up to
    1,000,000 slots): the cap is lowered under the first run's file here."""
    from dita.cli import _state

    first = _paper_on(tmp_path, resting, _bars_csv(tmp_path / "a.csv", [99.0] * 5))
    assert first.exit_code == 0, first.output
    size = (tmp_path / "state" / "rest.json").stat().st_size
    monkeypatch.setattr(_state, "STATE_FILE_BYTES", size - 1, raising=False)
    second = _paper_on(tmp_path, resting, _bars_csv(tmp_path / "b.csv", [99.0] * 7 + [40.0]))
    assert second.exit_code == 0, second.output
    assert "continues kernel rest" in second.stdout and "1 working order" in second.stdout
    snap = json.loads((tmp_path / "state" / "rest.json").read_text())
    assert [(f["price"], f["trade_id"]) for f in snap["fills"]] == [(50.0, "FarBid-t1")]


@pytest.mark.parametrize(
    ("change", "named"),
    [
        # Found by fuzzing the state file: each was a traceback after the log had taken a record.
        ({"older_fills": float("nan")}, "older_fills"),
        ({"fills": 5}, "fills"),
        ({"fills": [{"ts": "x", "realized_pnl": 0.0, "fee": 0.0}]}, "fills.0.ts"),
        ({"kernel_id": "other"}, "'other'"),  # another kernel's book
        # The replay's place and the log's seq the book goes with, edited by hand: taken in
        # silence, a count that was no count skipped every row of the file's time (those the
        # run never handled), and a seq that was none read as a book as new as the log.
        ({"rows_at_data_time": "1"}, "rows_at_data_time"),
        ({"rows_at_data_time": -1}, "rows_at_data_time"),
        ({"rows_at_data_time": 1.5}, "rows_at_data_time"),
        ({"rows_at_data_time": True}, "rows_at_data_time"),
        ({"seq": "12"}, "seq"),
        ({"seq": -3}, "seq"),
        ({"seq": float("nan")}, "seq"),
    ],
)
def test_a_state_file_dita_paper_did_not_write_is_refused_before_the_log_opens(
    tmp_path: Path, resting: str, change: dict[str, Any], named: str
) -> None:
    again, _ = _refused_continuing_from(tmp_path, resting, lambda state: {**state, **change})
    assert named in again.stderr, again.stderr


@pytest.mark.parametrize(
    ("change", "named"),
    [
        # The venue's clock past the replay's place (or no place at all): the rows between
        # were fed to a venue that refuses earlier data, a ValueError traceback after the log
        # had opened.
        ({"data_time": 1_704_067_200.0}, "venue.now"),
        ({"data_time": None}, "data_time"),
        ({"data_time": "drop"}, "data_time"),
    ],
)
def test_a_state_file_whose_venue_clock_is_past_its_data_time_is_refused(
    tmp_path: Path, resting: str, change: dict[str, Any], named: str
) -> None:
    def changed(state: dict[str, Any]) -> dict[str, Any]:
        bad = {**state, **change}
        if bad["data_time"] == "drop":
            del bad["data_time"]
        return bad

    again, bad = _refused_continuing_from(tmp_path, resting, changed)
    assert named in again.stderr, again.stderr
    assert repr(bad["venue"]["now"]) in again.stderr, again.stderr


def test_a_state_file_nested_too_deeply_is_refused(tmp_path: Path, resting: str) -> None:
    path = tmp_path / "state" / "rest.json"
    path.parent.mkdir()
    path.write_text("[" * 100_000)
    again = _paper_on(tmp_path, resting, _bars_csv(tmp_path / "b.csv", [99.0] * 7))
    assert again.exception is None or isinstance(again.exception, SystemExit), again.exception
    assert again.exit_code == 2 and str(path) in again.stderr, again.output


NO_STOP = """
import math

from pydantic import BaseModel

from dita.strategy import Bar, Strategy


class Stop(BaseModel):
    stop_pct: float = math.inf  # "no stop"
    stops: list[float] = [1.0, -math.inf]
    tag: str = "inf"  # text, not a float


class NoStop(Strategy[Stop]):
    Params = Stop
    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        pass
"""


def _strict(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


def test_the_state_file_is_strict_json_with_an_infinite_parameter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A strategy parameter of inf ("no stop") was written to the state file as the bare word
    Infinity, which jq and JSON.parse refuse. It is the text "inf", as in metrics.json and
    `dita backtest --json`, and the run continuing the kernel keeps the file strict."""
    (tmp_path / "paper_no_stop.py").write_text(NO_STOP)
    monkeypatch.syspath_prepend(str(tmp_path))
    first = _paper_on(tmp_path, "paper_no_stop:NoStop", _bars_csv(tmp_path / "a.csv", [99.0] * 5))
    assert first.exit_code == 0, first.output
    path = tmp_path / "state" / "rest.json"
    saved = json.loads(path.read_text(), parse_constant=_strict)["strategies"][0]["params"]
    assert saved == {"stop_pct": "inf", "stops": [1.0, "-inf"], "tag": "inf"}
    again = _paper_on(tmp_path, "paper_no_stop:NoStop", _bars_csv(tmp_path / "b.csv", [99.0] * 7))
    assert again.exit_code == 0 and "continues kernel rest" in again.stdout, again.output
    json.loads(path.read_text(), parse_constant=_strict)


def test_a_state_file_with_a_bare_infinity_still_continues(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """State files written before it was strict JSON hold Infinity: still continued from, and
    rewritten strict."""
    (tmp_path / "paper_no_stop.py").write_text(NO_STOP)
    monkeypatch.syspath_prepend(str(tmp_path))
    first = _paper_on(tmp_path, "paper_no_stop:NoStop", _bars_csv(tmp_path / "a.csv", [99.0] * 5))
    assert first.exit_code == 0, first.output
    path = tmp_path / "state" / "rest.json"
    old = json.loads(path.read_text())
    old["strategies"][0]["params"] = {"stop_pct": float("inf"), "stops": [1.0, float("-inf")], "tag": "inf"}
    path.write_text(json.dumps(old))
    assert "Infinity" in path.read_text()
    again = _paper_on(tmp_path, "paper_no_stop:NoStop", _bars_csv(tmp_path / "b.csv", [99.0] * 7))
    assert again.exit_code == 0 and "continues kernel rest" in again.stdout, again.output
    json.loads(path.read_text(), parse_constant=_strict)  # rewritten strict


def test_a_run_continued_on_other_assets_ends_the_orders_no_data_would_fill(
    tmp_path: Path, resting: str
) -> None:
    first = _paper_on(tmp_path, resting, _bars_csv(tmp_path / "a.csv", [99.0] * 5))
    assert first.exit_code == 0, first.output
    eth = tmp_path / "eth.csv"
    eth.write_text(_bars_csv(tmp_path / "b.csv", [99.0] * 7).read_text().replace("BTCUSDT", "ETHUSDT"))
    second = _paper_on(tmp_path, resting, eth)
    assert second.exit_code == 0, second.output
    assert "1 working order of the saved book not restored, for an asset" in second.stderr
    assert "reconcile: ended 1 order the venue does not hold: rest-1 (slot 0, FarBid-t1)" in second.stderr
    snap = json.loads((tmp_path / "state" / "rest.json").read_text())
    [slot] = snap["slots"]  # the BTCUSDT bid ended: the strategy bids on ETHUSDT, a new trade
    assert slot["asset"] == "ETHUSDT" and slot["trade_id"] != "FarBid-t1"


KILLED_AFTER_FILL = '''
import os
import signal

from pydantic import BaseModel

from dita.strategy import Bar, Strategy


class Plan(BaseModel):
    kill: bool = False


class KilledAfterFill(Strategy[Plan]):
    """Bids far below the market; the run (with kill) is killed outright two bars after the
    fill, once the state file holding the fill has been written."""

    Params = Plan
    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        if self.params.kill and getattr(self, "bars_since_fill", 0):
            self.bars_since_fill += 1
            if self.bars_since_fill > 2:
                os.kill(os.getpid(), signal.SIGKILL)
        if not self.busy(bar.asset) and not self.position(bar.asset) and not hasattr(self, "sent"):
            self.sent = self.buy(bar.asset, 1.0, price=bar.close, limit=50.0)

    def on_fill(self, fill: object) -> None:
        self.bars_since_fill = 1
'''


def test_a_paper_run_killed_after_a_save_keeps_the_fill_its_state_file_holds(tmp_path: Path) -> None:
    """The state file (the venue's book) was written while the write-ahead log's newest
    records were still in the process's buffer (fsync "batch"): a run killed just after a
    save left a book holding a fill the log did not. The next run ended the order the venue
    no longer held, so the kernel lost the fill the venue had made (its position 1, the
    kernel's 0) and the strategy bid again. The log is synced before each save."""
    (tmp_path / "paper_killed.py").write_text(KILLED_AFTER_FILL)
    data = _bars_csv(tmp_path / "a.csv", [99.0] * 5 + [40.0] + [99.0] * 4)
    args = ["paper", "--strategy", "paper_killed:KilledAfterFill", "--data", str(data), "--max-speed"]
    args += ["--kernel-id", "kill", "--state-dir", str(tmp_path / "state")]
    args += ["--wal-dir", str(tmp_path / "wal")]
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    killed = dita_cli(*args, "--status-every", "0.000001", "--param", "kill=true", env=env)
    assert killed.returncode == -9, killed.stderr
    saved = json.loads((tmp_path / "state" / "kill.json").read_text())
    assert [s["fsm_state"] for s in saved["slots"]] == ["POSITION_OPEN"]
    assert saved["venue"]["positions"] == {"BTCUSDT": 1.0}

    again = dita_cli(*args, env=env)
    assert again.returncode == 0, again.stderr
    assert "reconcile:" not in again.stderr
    snap = json.loads((tmp_path / "state" / "kill.json").read_text())
    assert [(s["fsm_state"], s["trade_id"], s["size"]) for s in snap["slots"]] == [
        ("POSITION_OPEN", "KilledAfterFill-t1", 1.0)
    ]
    assert snap["venue"]["positions"] == {"BTCUSDT": 1.0}
    assert [(f["price"], f["trade_id"]) for f in snap["fills"]] == [(50.0, "KilledAfterFill-t1")]


def test_a_restart_on_a_state_file_older_than_the_log_says_so(tmp_path: Path, resting: str) -> None:
    """A run killed between two saves leaves a book older than its log: a fill the kernel
    booked after the save was missing from the book (reconciliation canceled the venue's order
    and found the positions apart) and from the fills the state file lists for `dita pnl`, and
    only reconciliation's lines said anything, without the reason. The run says so, and brings
    the book and the fills forward from the log (tests/runtime/test_paper_catch_up.py)."""
    first = _paper_on(tmp_path, resting, _bars_csv(tmp_path / "a.csv", [99.0] * 5))
    assert first.exit_code == 0, first.output
    path = tmp_path / "state" / "rest.json"
    before_fill = path.read_text()
    second = _paper_on(tmp_path, resting, _bars_csv(tmp_path / "b.csv", [99.0] * 5 + [40.0, 99.0]))
    assert second.exit_code == 0, second.output
    assert "was saved at seq" not in second.stderr  # stopped cleanly: the book goes with the log
    filled = json.loads(path.read_text())
    assert [s["fsm_state"] for s in filled["slots"]] == ["POSITION_OPEN"]

    path.write_text(before_fill)  # as if the second run had been killed after its fill
    third = _paper_on(tmp_path, resting, _bars_csv(tmp_path / "c.csv", [99.0] * 5 + [40.0, 99.0, 99.0]))
    assert third.exit_code == 0, third.output
    saved = json.loads(before_fill)["seq"]
    assert f"{path} was saved at seq {saved:,}, before the end of the write-ahead log" in third.stderr
    assert (
        f"caught up the paper venue with the write-ahead log: 1 fill and 0 working orders after seq {saved}"
        in (third.stderr)
    )
    assert "position_mismatches" not in third.stderr
    snap = json.loads(path.read_text())
    assert snap["venue"]["positions"] == {"BTCUSDT": 1.0} and len(snap["fills"]) == 1


ROUND_TRIPS = """
from dita.strategy import Bar, Strategy


class RoundTrips(Strategy):
    \"\"\"Buys at minutes 0 mod 4, closes at 2 mod 4: holds no state but the kernel's.\"\"\"

    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        minute = int(bar.ts // 60) % 4
        if minute == 0 and not self.busy(bar.asset) and not self.position(bar.asset):
            self.buy(bar.asset, 1.0, price=bar.close)
        elif minute == 2 and self.position(bar.asset) > 0:
            self.close(bar.asset, price=bar.close)
"""


def test_paper_takes_data_with_gaps_when_allowed_as_backtest_does(tmp_path: Path) -> None:
    """The gap error told to pass --allow-gaps, which `dita paper` did not have: a file with
    a gap (an exchange's maintenance) could be backtested but never paper-traded."""
    rows = ["timestamp,asset,open,high,low,close,volume"]
    rows += [f"{t},BTCUSDT,100,101,99,100,1000" for t in (1_704_067_200, 1_704_067_260, 1_704_070_000)]
    data = tmp_path / "gap.csv"
    data.write_text("\n".join(rows) + "\n")
    args = [
        *PAPER[: PAPER.index("--data")],
        "--data",
        str(data),
        "--max-speed",
        "--state-dir",
        str(tmp_path / "s"),
    ]
    refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and "--allow-gaps to accept" in refused.stderr
    taken = runner.invoke(app, [*args, "--allow-gaps"])
    assert taken.exit_code == 0, taken.output
    assert (
        json.loads((tmp_path / "s" / next(p.name for p in (tmp_path / "s").iterdir())).read_text())["rows"]
        == 3
    )
    live = runner.invoke(app, [*PAPER[: PAPER.index("--data")], "--ccxt-exchange", "binance", "--allow-gaps"])
    assert live.exit_code == 2 and "--allow-gaps is about the bars of --data" in live.stderr


def test_a_run_killed_between_saves_does_not_trade_the_rows_after_the_save_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run killed between two saves left its log past its state file. The next run replayed
    the file from the state file's data time, so the strategy met again the rows the kernel
    had acted on after the save and traded them a second time (fees and PnL counted twice,
    the venue and the kernel apart). It goes on after the kernel's last act."""
    (tmp_path / "paper_round_trips.py").write_text(ROUND_TRIPS)
    monkeypatch.syspath_prepend(str(tmp_path))
    strategy = "paper_round_trips:RoundTrips"
    first = _paper_on(tmp_path, strategy, _bars_csv(tmp_path / "a.csv", [99.0] * 5))
    assert first.exit_code == 0, first.output
    path = tmp_path / "state" / "rest.json"
    early = path.read_text()
    # Minutes 5 to 11: a close at 6, a buy at 8 and a close at 10.
    bars = _bars_csv(tmp_path / "b.csv", [99.0] * 12)
    second = _paper_on(tmp_path, strategy, bars)
    assert second.exit_code == 0, second.output
    done = json.loads(path.read_text())
    fees = done["account"]["k_fees_paid"]
    assert fees > 0 and done["account"]["event_seq"] > 0

    path.write_text(early)  # as if the second run had been killed just after its start
    third = _paper_on(tmp_path, strategy, bars)
    assert third.exit_code == 0, third.output
    again = json.loads(path.read_text())
    assert again["account"]["k_fees_paid"] == pytest.approx(fees)  # no trade made twice
    assert [s["trade_id"] for s in again["slots"]] == []
    assert "the rows up to it are not replayed" in third.stderr
    # The kernel acted last at minute 11 (the second run reconciled as it stopped).
    assert "replay continues after 2024-01-01 00:11:00 UTC: 12 of 12 rows were handled before" in third.stdout
    assert again["data_time"] == 1_704_067_200 + 60 * 11


TWO_ASSETS = """
from pydantic import BaseModel

from dita.strategy import Bar, Strategy


class Plan(BaseModel):
    fail_at: float = 0.0


class EthTakesProfit(Strategy[Plan]):
    Params = Plan
    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        eth = "ETHUSDT"
        if bar.asset == eth and bar.ts == 1_704_067_200:
            self.buy(eth, 1.0, price=bar.close)
        elif bar.asset == eth and [s.fsm_state.name for s in self.slots()] == ["POSITION_OPEN"]:
            self.exit(self.slots()[0].slot_id, price=bar.close, limit=150.0)
        if self.params.fail_at and bar.asset == "BTCUSDT" and bar.ts >= self.params.fail_at:
            raise ValueError("boom")
"""


def test_a_replay_stopped_between_two_rows_of_one_time_continues_with_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run stops between any two rows (Ctrl-C, SIGTERM, --duration, a strategy in ERROR),
    also between two assets' bars of the same time. The next run skipped every row at the
    last run's data time, so the other asset's bar was never handled: here the bar that
    trades through the resting ETHUSDT take-profit (the exit a strategy in ERROR leaves
    working), which then never filled."""
    (tmp_path / "paper_two.py").write_text(TWO_ASSETS)
    monkeypatch.syspath_prepend(str(tmp_path))
    rows = ["timestamp,asset,open,high,low,close,volume"]
    for i in range(8):
        ts = 1_704_067_200 + 60 * i
        rows.append(f"{ts},BTCUSDT,100,101,99,100,1000")
        rows.append(f"{ts},ETHUSDT,100,{160.0 if i == 5 else 101.0},99,100,1000")
    data = tmp_path / "two.csv"
    data.write_text("\n".join(rows) + "\n")
    strategy = "paper_two:EthTakesProfit"
    first = _paper_on(tmp_path, strategy, data, "--param", f"fail_at={1_704_067_200 + 300}")
    assert first.exit_code == 1 and "every strategy is in ERROR" in first.stderr
    snap = json.loads((tmp_path / "state" / "rest.json").read_text())
    assert [(s["asset"], s["fsm_state"]) for s in snap["slots"]] == [("ETHUSDT", "EXIT_WORKING")]

    second = _paper_on(tmp_path, strategy, data)
    assert second.exit_code == 0, second.output
    assert "11 of 16 rows were handled before" in second.stdout
    snap = json.loads((tmp_path / "state" / "rest.json").read_text())
    assert [(s["asset"], s["fsm_state"]) for s in snap["slots"]] == []
    assert [(f["asset"], f["side"], f["price"]) for f in snap["fills"]][1:] == [("ETHUSDT", "SELL", 150.0)]


def test_a_continued_run_says_what_opening_its_log_cut(tmp_path: Path, resting: str) -> None:
    """A log whose last record was unfinished (the process killed, or its disk failing, while
    writing it) was cut there without a word: the continued run said only where it went on."""
    data = _bars_csv(tmp_path / "a.csv", [99.0] * 5)
    first = _paper_on(tmp_path, resting, data)
    assert first.exit_code == 0, first.output
    remove_the_closing_checkpoint(tmp_path / "wal")  # the log a crash while writing leaves
    segment = max((tmp_path / "wal").glob("seg-*.wal"))
    with segment.open("r+b") as f:
        f.truncate(segment.stat().st_size - 3)
    run = _paper_on(tmp_path, resting, data)
    assert run.exit_code == 0, run.output
    said = [line for line in run.stderr.splitlines() if "unfinished" in line]
    assert len(said) == 1, run.stderr
    assert f"bytes cut from {segment} at byte " in said[0]
    assert said[0].startswith("warning: the write-ahead log's last record was unfinished")
    clean = _paper_on(tmp_path, resting, data)
    assert clean.exit_code == 0 and "unfinished" not in clean.stderr, clean.output


def test_a_continued_run_with_no_row_left_keeps_its_place_in_the_replay(tmp_path: Path, resting: str) -> None:
    """A continued run that took no row (all were handled before, or it was stopped at once)
    saved the data time 0: the run after it replayed the file from its start, and the venue,
    whose clock was restored, refused the first row with a traceback."""
    data = _bars_csv(tmp_path / "a.csv", [99.0] * 5)
    for _ in range(3):
        run = _paper_on(tmp_path, resting, data)
        assert run.exit_code == 0, run.output
    assert "5 of 5 rows were handled before" in run.stdout
    snap = json.loads((tmp_path / "state" / "rest.json").read_text())
    assert snap["data_time"] == 1_704_067_200 + 240
    assert [s["fsm_state"] for s in snap["slots"]] == ["ENTRY_WORKING"]


def test_a_paper_run_interrupted_as_the_venue_fills_keeps_the_fill_over_a_restart(
    tmp_path: Path, resting: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C or SIGTERM can land after the venue made a fill and before the kernel took it.
    The final save wrote a book without the order (filled), the kernel still worked it: the
    next run found no such order at the venue, ended it, and the fill was lost to the kernel
    (the venue's position 1, the kernel's none). The run now reconciles before its last save,
    while the venue still knows the orders it ended."""
    from dita.venues.paper import PaperVenue

    first = _paper_on(tmp_path, resting, _bars_csv(tmp_path / "a.csv", [99.0] * 5))
    assert first.exit_code == 0, first.output
    on_bar = PaperVenue.on_bar

    def interrupted(self: PaperVenue, *args: Any, **kwargs: Any) -> Any:
        events = on_bar(self, *args, **kwargs)
        if any(e.kind.name == "FILL" for e in events):
            raise KeyboardInterrupt
        return events

    monkeypatch.setattr(PaperVenue, "on_bar", interrupted)
    data = _bars_csv(tmp_path / "b.csv", [99.0] * 5 + [40.0, 99.0])
    second = _paper_on(tmp_path, resting, data)
    assert "interrupted" in second.stdout, second.output
    monkeypatch.setattr(PaperVenue, "on_bar", on_bar)
    third = _paper_on(tmp_path, resting, data)
    assert third.exit_code == 0, third.output
    assert "reconcile:" not in third.stderr
    snap = json.loads((tmp_path / "state" / "rest.json").read_text())
    assert [(s["fsm_state"], s["trade_id"], s["size"]) for s in snap["slots"]] == [
        ("POSITION_OPEN", "FarBid-t1", 1.0)
    ]
    assert snap["venue"]["positions"] == {"BTCUSDT": 1.0}
    assert [(f["price"], f["trade_id"]) for f in snap["fills"]] == [(50.0, "FarBid-t1")]


LOG_BREAKER = """
import subprocess
from pathlib import Path

from dita.strategy import Bar, Strategy


class LogBreaker(Strategy):
    \"\"\"Makes the write-ahead log's files unwritable on the third bar (a disk gone read-only),
    then bids: the kernel's next input is the first the log cannot take.\"\"\"

    data = ("bars",)
    wal_dir = ""

    def on_bar(self, bar: Bar) -> None:
        self.n = getattr(self, "n", 0) + 1
        if self.n == 3:
            for f in Path(LogBreaker.wal_dir).iterdir():
                subprocess.run(["chattr", "+i", str(f)], check=True)
        if self.n >= 3 and not self.busy(bar.asset) and not hasattr(self, "sent"):
            self.sent = self.buy(bar.asset, 1.0, price=bar.close, limit=50.0)
"""


def test_a_paper_run_whose_log_fails_stops_with_an_error_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each state file save syncs the write-ahead log first: once the log could not be
    written, the save raised WalError out of the run, the final save raised it again (no
    final state file: `dita status` read a dead run as running) and closing the kernel a
    third time, all as a traceback."""
    probe = tmp_path / "probe"
    probe.touch()
    if subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not permitted here, so no log can be made to fail: NOT tested")
    subprocess.run(["chattr", "-i", str(probe)], check=True)
    (tmp_path / "paper_log_breaker.py").write_text(LOG_BREAKER)
    monkeypatch.syspath_prepend(str(tmp_path))
    import paper_log_breaker

    wal = tmp_path / "wal"
    monkeypatch.setattr(paper_log_breaker.LogBreaker, "wal_dir", str(wal))
    data = _bars_csv(tmp_path / "a.csv", [99.0] * 12)
    args = ["paper", "--strategy", "paper_log_breaker:LogBreaker", "--data", str(data), "--max-speed"]
    args += ["--kernel-id", "brk", "--state-dir", str(tmp_path / "state"), "--wal-dir", str(wal)]
    try:
        result = runner.invoke(app, [*args, "--status-every", "0.000001"])
    finally:
        for f in wal.iterdir():
            subprocess.run(["chattr", "-i", str(f)], check=True)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "error: cannot sync the write-ahead log" in result.stderr
    assert "Operation not permitted" in result.stderr
    assert "the final state file was not written" in result.stderr, result.stderr
    # The state file keeps the last book saved with the log synced, not one ahead of the log.
    snap = json.loads((tmp_path / "state" / "brk.json").read_text())
    assert snap["rows"] < 3


def test_progress_lines_go_to_a_log_that_is_no_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where stderr or stdout is not a terminal (a CI log, a service manager), the backtest's
    bar and the paper run's status table were drawn once, at the end: a long run said nothing
    until it was over. Each now writes a line every so often."""
    import dita.cli.backtest as backtest_cli
    import dita.cli.paper_run as paper_run

    monkeypatch.setattr(backtest_cli, "PROGRESS_LINE_SECONDS", 0.0)
    done = runner.invoke(
        app, ["backtest", "--strategy", CROSSOVER, "--data", "sample", "--out", str(tmp_path / "o")]
    )
    assert done.exit_code == 0, done.output
    lines = [line for line in done.stderr.splitlines() if line.startswith("backtest: ")]
    assert lines and re.fullmatch(r"backtest: [\d,]+ of [\d,]+ rows \(\d+%\).*", lines[0]), done.stderr

    # A status line at every tick saves and draws the status each bar: a few bars show it (the
    # sample's 4,320 took half a minute).
    monkeypatch.setattr(paper_run, "STATUS_LINE_SECONDS", 0.0)
    bars = _bars_csv(tmp_path / "bars.csv", [99.0] * 20)
    paper = ["paper", "--strategy", CROSSOVER, "--data", str(bars), "--max-speed"]
    ran = runner.invoke(app, [*paper, "--state-dir", str(tmp_path / "s"), "--status-every", "0.000001"])
    assert ran.exit_code == 0, ran.output
    status = [line for line in ran.stdout.splitlines() if line.startswith("status: ")]
    assert status and re.fullmatch(
        r"status: \d{4}-\d\d-\d\d .* UTC, [\d,]+ rows, equity .* working orders, mode PAPER", status[-1]
    )


def _act_on_the_log(tmp_path: Path, ts: float) -> None:
    """An ENTER on slot 5 stamped ``ts`` recorded in kernel "rest"'s log after its state file
    was saved, as by a run killed between two saves."""
    from dita import KernelIntent
    from dita.kernel import ExecutionKernel

    kernel = ExecutionKernel(max_slots=64, kernel_id="rest", wal_dir=tmp_path / "wal")
    enter = KernelIntent("late", "late-t", 5, "BTCUSDT", "LONG", "ENTER", 100.0, 0.1, timestamp=ts)
    assert kernel.process_intent(enter).accepted
    kernel.close()


def test_a_paper_run_on_a_halted_kernel_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A kernel halted through the control plane (here: its log) traded nothing, and the
    run's console and status never said why: it says the mode at the start and in the
    status table and line."""
    from dita.kernel import ExecutionKernel

    (tmp_path / "paper_round_trips.py").write_text(ROUND_TRIPS)
    monkeypatch.syspath_prepend(str(tmp_path))
    strategy = "paper_round_trips:RoundTrips"
    first = _paper_on(tmp_path, strategy, _bars_csv(tmp_path / "a.csv", [99.0] * 3))
    assert first.exit_code == 0 and "kernel mode" not in first.output  # PAPER goes unsaid
    kernel = ExecutionKernel(max_slots=64, kernel_id="rest", wal_dir=tmp_path / "wal")
    kernel.update_control(mode="HALTED", source="op:alice")
    kernel.close()
    again = _paper_on(tmp_path, strategy, _bars_csv(tmp_path / "b.csv", [99.0] * 5))
    assert again.exit_code == 0, again.output
    assert "kernel mode: HALTED (set by op:alice)" in again.output
    assert re.search(r"mode\s+│\s+HALTED \(set by op:alice\)", again.output), again.output


def test_a_last_act_at_the_saves_own_time_skips_the_rest_of_that_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saved between two rows of one time, the kernel then acting at that time: the check
    asked for an act after the saved time, so the rest of that time's rows were fed again."""
    (tmp_path / "paper_round_trips.py").write_text(ROUND_TRIPS)
    monkeypatch.syspath_prepend(str(tmp_path))
    strategy = "paper_round_trips:RoundTrips"
    assert _paper_on(tmp_path, strategy, _bars_csv(tmp_path / "a.csv", [99.0] * 3)).exit_code == 0
    saved = json.loads((tmp_path / "state" / "rest.json").read_text())["data_time"]
    _act_on_the_log(tmp_path, float(saved))
    again = _paper_on(tmp_path, strategy, _bars_csv(tmp_path / "b.csv", [99.0] * 5))
    assert again.exit_code == 0, again.output
    assert "the rows up to it are not replayed" in again.stderr
    assert "replay continues after 2024-01-01 00:02:00 UTC: 3 of 5 rows" in again.stdout


def test_a_last_act_past_the_data_is_no_place_to_continue_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An older build stamped reconciliation's events with the wall clock: taken as the
    kernel's last act, it skipped every row of this run and of every later one."""
    (tmp_path / "paper_round_trips.py").write_text(ROUND_TRIPS)
    monkeypatch.syspath_prepend(str(tmp_path))
    strategy = "paper_round_trips:RoundTrips"
    assert _paper_on(tmp_path, strategy, _bars_csv(tmp_path / "a.csv", [99.0] * 3)).exit_code == 0
    _act_on_the_log(tmp_path, 1_900_000_000.0)  # 2030: no time of the data
    again = _paper_on(tmp_path, strategy, _bars_csv(tmp_path / "b.csv", [99.0] * 5))
    assert again.exit_code == 0, again.output
    assert "is past the data's last row" in again.stderr and "no time of this data" in again.stderr
    assert "from the state file's place" in again.stderr
    assert "replay continues after 2024-01-01 00:02:00 UTC: 3 of 5 rows" in again.stdout
    assert json.loads((tmp_path / "state" / "rest.json").read_text())["rows"] == 2  # minutes 3 and 4 ran


def test_a_last_act_past_the_data_without_a_state_file_says_the_replay_starts_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no state file the replay starts at the data's first row: the warning said it went
    on from the state file's place."""
    (tmp_path / "paper_round_trips.py").write_text(ROUND_TRIPS)
    monkeypatch.syspath_prepend(str(tmp_path))
    strategy = "paper_round_trips:RoundTrips"
    assert _paper_on(tmp_path, strategy, _bars_csv(tmp_path / "a.csv", [99.0] * 3)).exit_code == 0
    _act_on_the_log(tmp_path, 1_900_000_000.0)
    (tmp_path / "state" / "rest.json").unlink()
    again = _paper_on(tmp_path, strategy, _bars_csv(tmp_path / "b.csv", [99.0] * 5))
    assert again.exit_code == 0, again.output
    assert "from the data's first row (there is no state file)" in again.stderr
    assert "state file's place" not in again.stderr


def test_a_continued_kernel_without_its_state_file_does_not_trade_the_data_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed before its first save, or its state file lost: the next run replayed the data
    from its first row, and the strategy traded again what the kernel had traded."""
    (tmp_path / "paper_round_trips.py").write_text(ROUND_TRIPS)
    monkeypatch.syspath_prepend(str(tmp_path))
    strategy = "paper_round_trips:RoundTrips"
    bars = _bars_csv(tmp_path / "a.csv", [99.0] * 6)  # a buy at minute 0, its close at 2, a buy at 4
    first = _paper_on(tmp_path, strategy, bars)
    assert first.exit_code == 0, first.output
    path = tmp_path / "state" / "rest.json"
    fees = json.loads(path.read_text())["account"]["k_fees_paid"]
    path.unlink()
    again = _paper_on(tmp_path, strategy, bars)
    assert again.exit_code == 0, again.output
    assert json.loads(path.read_text())["account"]["k_fees_paid"] == pytest.approx(fees)
    assert f"and there is no {path}: the rows up to it are not replayed" in again.stderr


def _pnl_row(state: Path, *args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["pnl", "--state-dir", str(state), "--json", *args])
    assert result.exit_code == 0, result.output
    row: dict[str, Any] = json.loads(result.stdout)[0]
    return row


def test_pnl_at_with_period_all_sums_the_fills_up_to_it(tmp_path: Path) -> None:
    """`--at T` of period all printed `to T` and summed every fill the kernel had made; it sums
    the fills up to T, and the older days before it, as `pnl --journal` does."""
    (tmp_path / "good.json").write_text(json.dumps(GOOD_STATE))  # fills on 2024-01-02 and 01-03
    everything = _pnl_row(tmp_path)
    assert (everything["fills"], everything["realized_pnl"], everything["fees"]) == (2, 1.0, 0.5)
    before = _pnl_row(tmp_path, "--at", "2024-01-01")
    assert (before["fills"], before["realized_pnl"], before["fees"], before["net_pnl"]) == (0, 0.0, 0.0, 0.0)
    assert before["to"] == "2024-01-01 00:00:00" and before["from"] == ""
    day2 = _pnl_row(tmp_path, "--at", "2024-01-03T00:00:00Z")
    assert (day2["fills"], day2["realized_pnl"], day2["fees"]) == (1, 0.0, 0.0) and day2["note"] == ""
    after = _pnl_row(tmp_path, "--at", "2024-01-03T14:00:00Z")
    assert (after["fills"], after["realized_pnl"], after["fees"]) == (2, 1.0, 0.5)
    # Within a day known only as a total (its last fill at 12:53:20), the whole day counts, said so.
    straddled = _pnl_row(tmp_path, "--at", "2024-01-02T06:00:00Z")
    assert straddled["fills"] == 1 and "older fills are kept as day totals" in straddled["note"]


def test_pnl_refuses_an_empty_at_and_shows_the_epoch_as_a_time(tmp_path: Path) -> None:
    (tmp_path / "good.json").write_text(json.dumps(GOOD_STATE))
    empty = runner.invoke(app, ["pnl", "--state-dir", str(tmp_path), "--at", ""])
    assert empty.exit_code == 2 and "--at=''" in empty.stderr  # an unset "$AT", not "now"
    result = runner.invoke(
        app, ["pnl", "--state-dir", str(tmp_path), "--period", "today", "--at", "0", "--json"]
    )
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert row["from"] == row["to"] == "1970-01-01 00:00:00"
    # Floats for scripts even with no fill to add up (`"fees": 0` was an int).
    assert all(isinstance(row[k], float) for k in ("realized_pnl", "fees", "net_pnl"))


def test_pnl_refuses_an_empty_journal_instead_of_reading_the_state_files(tmp_path: Path) -> None:
    (tmp_path / "good.json").write_text(json.dumps(GOOD_STATE))
    result = runner.invoke(app, ["pnl", "--journal", "", "--state-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "error: --journal: journal dsn must be a non-empty string" in result.stderr


@pytest.mark.parametrize("command", ["pnl", "status", "orders", "paper"])
def test_a_kernel_id_that_is_not_utf8_is_refused_showing_its_bytes(tmp_path: Path, command: str) -> None:
    """Bytes from a Latin-1 shell arrive as lone surrogates; the journal's client named its own
    internals for them, and the other commands took the id for one no kernel had."""
    option = "--kernel-id" if command == "paper" else "--kernel"
    args = [*PAPER] if command == "paper" else [command]
    result = runner.invoke(app, [*args, "--state-dir", str(tmp_path / "state"), option, "caf\udce9"])
    assert result.exit_code == 2, result.output
    assert f"error: {option} is not valid UTF-8: caf\\xe9" in result.stderr


@pytest.mark.parametrize("command", ["pnl", "status", "orders"])
@pytest.mark.parametrize("kernel_id", ["", " "])
def test_a_blank_kernel_filter_is_refused_not_taken_for_no_kernel(
    tmp_path: Path, command: str, kernel_id: str
) -> None:
    """`--kernel "$K"` with the variable unset showed no kernel, as if none ran."""
    (tmp_path / "good.json").write_text(json.dumps(GOOD_STATE))
    result = runner.invoke(app, [command, "--state-dir", str(tmp_path), "--kernel", kernel_id])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: --kernel {kernel_id!r}: it "), result.stderr


@pytest.mark.parametrize("command", ["backtest", "paper"])
def test_an_empty_data_option_is_refused_naming_it_not_read_as_the_current_directory(
    tmp_path: Path, command: str
) -> None:
    """`--data "$DATA"` with the variable unset was read as `.`: "bad data: .: unsupported file
    type ''", naming neither the option nor the value given."""
    args = [command, "--strategy", "dita.examples.crossover:SmaCrossover", "--data", ""]
    args += ["--out", str(tmp_path / "bt")] if command == "backtest" else ["--max-speed"]
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert "error: --data must name a .csv, .csv.gz or .parquet file, or 'sample'; got ''" in res.output
