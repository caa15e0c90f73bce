"""A `dita paper` without --wal-dir, given the --kernel-id of an account on a write-ahead log whose
state file (the paper venue's book, the fills `dita pnl` lists) is in its --state-dir: it started
afresh and replaced that file without a word (a forgotten option), so the next run continuing the
log found another account's state: its venue held no position (`reconcile: position_mismatches`),
its resting orders were ended, and `dita pnl` lost the account's fills. Refused with exit 2 before
anything starts, the file unchanged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from dita.cli import app

runner = CliRunner()
T0 = 1_704_067_200
STRATEGY = """
from dita.strategy import Bar, Strategy


class BuyOnce(Strategy):
    data = ("bars",)

    def on_bar(self, bar: Bar) -> None:
        if not (self.busy(bar.asset) or hasattr(self, "sent")):
            self.sent = self.buy(bar.asset, 1.0, price=bar.close)
"""


def _run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> Result:
    (tmp_path / "buy_once.py").write_text(STRATEGY)
    monkeypatch.syspath_prepend(str(tmp_path))
    data = tmp_path / "bars.csv"
    data.write_text(
        "timestamp,asset,open,high,low,close,volume\n"
        + "".join(f"{T0 + 60 * i},BTCUSDT,100,101,99,100,1000\n" for i in range(5))
    )
    args = ["paper", "--strategy", "buy_once:BuyOnce", "--data", str(data), "--max-speed"]
    return runner.invoke(app, [*args, "--kernel-id", "acct", "--state-dir", str(tmp_path / "state"), *extra])


def test_a_run_without_the_log_does_not_replace_the_state_of_the_account_on_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wal = tmp_path / "wal"
    first = _run(tmp_path, monkeypatch, "--wal-dir", str(wal))
    assert first.exit_code == 0, first.output
    path = tmp_path / "state" / "acct.json"
    kept = path.read_bytes()
    assert json.loads(kept)["venue"]["positions"] == {"BTCUSDT": 1.0}

    forgot = _run(tmp_path, monkeypatch)
    assert forgot.exit_code == 2, forgot.output
    said = " ".join(forgot.stderr.split())
    assert f"the state file {path} is that of kernel 'acct' on the write-ahead log in {wal.resolve()}" in said
    assert f"Give --wal-dir {wal.resolve()} to continue it, or another --kernel-id" in said
    assert path.read_bytes() == kept

    again = _run(tmp_path, monkeypatch, "--wal-dir", str(wal))
    assert again.exit_code == 0, again.output
    assert "reconcile:" not in again.stderr and "another account's" not in again.stderr


def test_a_state_file_whose_log_is_gone_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With no log of the kernel left there, no account is lost: the run starts afresh."""
    first = _run(tmp_path, monkeypatch, "--wal-dir", str(tmp_path / "wal"))
    assert first.exit_code == 0, first.output
    shutil.rmtree(tmp_path / "wal")
    again = _run(tmp_path, monkeypatch)
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "state" / "acct.json").read_text())["wal_dir"] is None
