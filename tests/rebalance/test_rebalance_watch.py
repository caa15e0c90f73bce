"""``dita rebalance --watch``: each new version of the targets file is rebalanced to once, a bad
version is reported and waited past."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def version(path: Path, run: str, qty: float) -> None:
    body = {
        "source_run": run,
        "generated_at": "2026-11-28T09:00:00Z",
        "targets": [{"symbol": "BTC", "quantity": qty}],
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body))
    tmp.replace(path)


def wait_for(check, what: str, proc: subprocess.Popen[str]) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 60
    while not check():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_each_new_version_is_rebalanced_to(tmp_path: Path) -> None:
    targets, book, state = tmp_path / "t.json", tmp_path / "book.json", tmp_path / "state"
    version(targets, "run-1", 0.1)
    args = ["--targets", str(targets), "--state-dir", str(state), "--paper-book", str(book)]
    printed = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "dita",
        "rebalance",
        *args,
        "--price",
        "BTC=50000",
        "--balance",  # the second version's 0.25 BTC is 12,500: within the paper account's cash
        "20000",
        "--watch",
        "--watch-every",
        "0.2",
    ]
    with printed.open("w") as stdout:
        proc = subprocess.Popen(
            command,
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT / "python"), "PYTHONUNBUFFERED": "1"},
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )

    def positions() -> dict[str, float]:
        return json.loads(book.read_text())["positions"] if book.exists() else {}

    wait_for(lambda: positions() == {"BTC": 0.1}, "the first version was not rebalanced to", proc)
    targets.write_text("not json")
    time.sleep(1.0)  # a few looks at the bad version
    version(targets, "run-2", 0.25)
    # Each report is printed after its file is written: waited for in what the command printed.
    wait_for(
        lambda: printed.read_text().count("report: ") == 2, "the second version was not rebalanced to", proc
    )
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    out = printed.read_text()
    assert proc.returncode == 0, err
    assert positions() == {"BTC": 0.25}
    assert out.count("rebalance run-") == 2
    assert err.count("targets refused, nothing sent") == 1
