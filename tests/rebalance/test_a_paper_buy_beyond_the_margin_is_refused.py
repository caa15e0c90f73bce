"""``dita rebalance`` on a paper book: the paper venue's margin judges each buy at ``--leverage``
(default 1, the cash), as an exchange's would, and a buy beyond it is reported refused with the
venue's reason, what it leaves off target in ``skipped`` and exit code 1
(docs/guides/rebalancing.md): a rehearsal on paper never reports done what an exchange refuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def rebalance(tmp_path: Path, *extra: str, exit_code: int = 0) -> tuple[dict, dict, str]:  # type: ignore[type-arg]
    targets = tmp_path / "targets.csv"
    targets.write_text(
        "symbol,weight,quantity,source_run,generated_at\nBTCUSDT,,2,run-60,2026-11-28T09:00:00Z\n"
    )
    book = tmp_path / "book.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dita",
            "rebalance",
            "--targets",
            str(targets),
            "--state-dir",
            str(tmp_path / "rb"),
            "--paper-book",
            str(book),
            "--price",
            "BTCUSDT=50000",
            "--balance",
            "10000",
            "--json",
            *extra,
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT / "python")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == exit_code, done.stderr
    return json.loads(done.stdout), json.loads(book.read_text()), done.stderr


def test_a_buy_beyond_the_cash_is_refused_by_the_paper_venue(tmp_path: Path) -> None:
    report, book, stderr = rebalance(tmp_path, exit_code=1)
    (symbol,) = report["symbols"]
    (order,) = symbol["orders"]
    assert order["status"] == "refused"
    assert order["diagnostic"] == "REJECT"
    assert order["reason"].startswith("insufficient margin: the order needs 100,050.00 USDT")
    assert symbol["filled"] == 0.0
    assert symbol["skipped"]["reason"] == "not filled"
    assert symbol["skipped"]["residual"] == 2.0
    assert "insufficient margin" in symbol["skipped"]["detail"]
    assert (
        f"error: the account is left off its targets: {order['intent_id']} refused, 2 of 2 not filled"
        in stderr
    )
    assert book["cash"] == 10_000.0
    assert book["positions"] == {}


def test_a_leverage_given_carries_the_buy(tmp_path: Path) -> None:
    report, book, _stderr = rebalance(tmp_path, "--leverage", "20")
    (symbol,) = report["symbols"]
    assert [o["status"] for o in symbol["orders"]] == ["sent"]
    assert symbol["filled"] == 2.0
    assert symbol["skipped"] is None
    assert book["positions"] == {"BTCUSDT": 2.0}
