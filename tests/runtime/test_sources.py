"""``dita status``/``orders``/``pnl`` reading a kernel's state where operators find it: the
ClickHouse journal (real chDB) and the Hazelcast projection (a real member on loopback),
each checked against the state file the same paper run wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dita.cli import app

CROSSOVER = "dita.examples.crossover:SmaCrossover"
DAY3 = 1704240000.0  # 2024-01-03T00:00:00Z, the sample's last day
runner = CliRunner()


def dita_cli(*args: str) -> subprocess.CompletedProcess[str]:
    # A fresh process per command: chDB lets one process hold a directory at a time.
    return subprocess.run(
        [sys.executable, "-c", "from dita.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


# Runs each argv given as JSON on stdin through the CLI, in this one process.
_MANY = """
import json, sys
from typer.testing import CliRunner
from dita.cli import app

done = [CliRunner().invoke(app, argv) for argv in json.loads(sys.stdin.read())]
print(json.dumps([[d.exit_code, d.stdout, d.stderr] for d in done]))
"""


def dita_cli_many(*argvs: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Several commands reading one journal, in one fresh process: a process each took about
    a second apiece to start and open chDB."""
    proc = subprocess.run(
        [sys.executable, "-c", _MANY],
        input=json.dumps(argvs),
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    done = json.loads(proc.stdout.splitlines()[-1])
    return [subprocess.CompletedProcess(a, c, o, e) for a, (c, o, e) in zip(argvs, done, strict=True)]


def paper_run(state: Path, kernel_id: str, *extra: str) -> dict[str, Any]:
    proc = dita_cli(
        "paper",
        "--strategy",
        CROSSOVER,
        "--data",
        "sample",
        "--max-speed",
        "--state-dir",
        str(state),
        "--kernel-id",
        kernel_id,
        *extra,
    )
    assert proc.returncode == 0, proc.stderr
    snap: dict[str, Any] = json.loads((state / f"{kernel_id}.json").read_text())
    return snap


def test_pnl_from_the_journal_matches_the_state_file(tmp_path: Path) -> None:
    dsn = f"chdb://{tmp_path / 'journal'}"
    snap = paper_run(tmp_path / "state", "journal-paper", "--journal", dsn)
    fills = snap["fills"]
    day = [f for f in fills if f["ts"] >= DAY3]

    # One process reads the journal for every command (chDB lets one process hold a directory).
    pnl = ["pnl", "--journal", dsn]
    proc, all_, table, bad, nope, before = dita_cli_many(
        [*pnl, "--period", "today", "--at", "2024-01-03T23:59:00Z", "--json"],
        [*pnl, "--period", "all", "--json"],
        [*pnl, "--period", "week", "--at", "2024-01-03T23:59:00Z"],
        ["pnl", "--journal", "ftp://nowhere", "--period", "all"],
        [*pnl, "--kernel", "nope"],
        [*pnl, "--kernel", "journal-paper", "--period", "today", "--at", "2023-06-01", "--json"],
    )
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["kernel_id"] == "journal-paper"
    assert row["fills"] == len(day) > 0
    assert row["realized_pnl"] == pytest.approx(sum(f["realized_pnl"] for f in day))
    assert row["fees"] == pytest.approx(sum(f["fee"] for f in day))

    everything = json.loads(all_.stdout)[0]
    assert everything["fills"] == len(fills)
    assert everything["realized_pnl"] == pytest.approx(snap["account"]["realized_pnl"])
    assert everything["fees"] == pytest.approx(snap["account"]["k_fees_paid"])
    # The journal holds fills, not marks: the open position's unrealized PnL is unknown there,
    # not 0 (the run ends holding one).
    assert snap["account"]["unrealized_pnl"] != 0.0
    assert everything["unrealized_pnl"] is None

    assert table.returncode == 0 and "journal-paper" in table.stdout and "2024-01-01 00:00:00" in table.stdout
    assert bad.returncode == 2 and "ftp" in bad.stderr

    # An unknown kernel is an error, as with the state files; a known one without fills in
    # the period gets a zero row.
    assert nope.returncode == 1 and "no kernel 'nope' found" in nope.stderr
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout) == [
        {
            "kernel_id": "journal-paper", "period": "today", "from": "2023-06-01 00:00:00",
            "to": "2023-06-01 00:00:00", "fills": 0, "realized_pnl": 0.0, "fees": 0.0,
            "funding": 0.0, "net_pnl": 0.0, "unrealized_pnl": None, "note": "",
        }
    ]  # fmt: skip


@pytest.fixture(scope="module")
def hz_member(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from dita.services.hazelcast import HazelcastMember, fetch_jars, free_port

    fetch_jars()
    member = HazelcastMember(
        port=free_port(),
        cluster_name="dita-runtime",
        state_dir=tmp_path_factory.mktemp("hz-runtime"),
        exit_with_parent=True,  # a killed run leaves no member behind
    )
    member.start()
    yield member
    member.stop()


def test_status_orders_and_pnl_from_the_projection(
    hz_member: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hz = ["--hazelcast", hz_member.address, "--hz-cluster", "dita-runtime"]
    snap = paper_run(tmp_path / "state", "hz-paper", *hz)

    # Reading the projection needs no exclusive resource: in-process is enough (and quicker).
    status = runner.invoke(app, ["status", *hz, "--kernel", "hz-paper", "--json"])
    assert status.exit_code == 0, status.stderr
    (row,) = json.loads(status.stdout)
    assert row["mode"] == "PAPER" and row["source"].startswith("hazelcast")
    assert row["equity"] == pytest.approx(snap["account"]["equity"])
    assert row["realized_pnl"] == pytest.approx(snap["account"]["realized_pnl"])
    holding = [s for s in snap["slots"] if s["size"] > 0]
    assert row["open_positions"] == len(holding) == snap["account"]["open_positions"]

    orders = runner.invoke(app, ["orders", *hz, "--kernel", "hz-paper", "--json"])
    assert orders.exit_code == 0
    working = [s for s in snap["slots"] if s["fsm_state"] in ("ENTRY_WORKING", "EXIT_WORKING")]
    assert len(json.loads(orders.stdout)) == len(working)

    pnl_all = json.loads(runner.invoke(app, ["pnl", *hz, "--kernel", "hz-paper", "--json"]).stdout)[0]
    assert pnl_all["fees"] == pytest.approx(snap["account"]["k_fees_paid"])
    today = runner.invoke(app, ["pnl", *hz, "--period", "today"])
    assert today.exit_code == 2 and "pass --journal" in today.stderr

    monkeypatch.setenv("DITA_HAZELCAST_CONNECT_S", "0.5")  # nobody answers: not the 5 s default
    gone = runner.invoke(app, ["status", "--hazelcast", "127.0.0.1:1", "--hz-cluster", "nobody"])
    assert gone.exit_code == 3 and "cannot reach Hazelcast cluster 'nobody'" in gone.stderr
    nope = runner.invoke(app, ["status", *hz, "--kernel", "nope"])
    assert nope.exit_code == 1 and "no kernel 'nope' found" in nope.stderr  # told apart from 3


def test_pnl_at_agrees_across_the_state_file_the_journal_and_the_projection(
    hz_member: Any, tmp_path: Path
) -> None:
    """One paper run written to all three sources. `--at T` of period all summed every fill from
    the state file and the projection while printing `to T`: the state file sums the fills up
    to T as the journal does, and the projection, which holds totals only, refuses `--at`."""
    hz = ["--hazelcast", hz_member.address, "--hz-cluster", "dita-runtime"]
    dsn = f"chdb://{tmp_path / 'journal'}"
    state = tmp_path / "state"
    snap = paper_run(state, "three", "--journal", dsn, *hz)

    def argv(*source: str, at: str | None = None, period: str = "all") -> list[str]:
        when = () if at is None else ("--at", at)
        return ["pnl", *source, "--kernel", "three", "--period", period, *when, "--json"]

    def row(exit_code: int, stdout: str, stderr: str) -> dict[str, Any]:
        assert exit_code == 0, stderr
        (found,) = json.loads(stdout)
        return dict(found)

    def rows(*source: str, at: str | None = None, period: str = "all") -> dict[str, Any]:
        # The state file and the projection hold no exclusive resource: read in-process.
        done = runner.invoke(app, argv(*source, at=at, period=period))
        return row(done.exit_code, done.stdout, done.stderr)

    points = [
        (at, period)
        for at in ("2023-12-31", "2024-01-02T00:00:00Z", "2024-01-02T15:30:00Z", "2024-01-04")
        for period in ("all", "today")
    ]
    # The journal is read in a process of its own (chDB lets one process hold a directory).
    asked = [argv("--journal", dsn, at=at, period=period) for at, period in points]
    read = dita_cli_many(*asked, argv("--journal", dsn))
    *journal, journal_total = [row(d.returncode, d.stdout, d.stderr) for d in read]
    for (at, period), from_journal in zip(points, journal, strict=True):
        from_state = rows("--state-dir", str(state), at=at, period=period)
        for key in ("from", "to", "fills"):
            assert from_state[key] == from_journal[key], (at, period, key)
        for key in ("realized_pnl", "fees", "net_pnl"):
            assert from_state[key] == pytest.approx(from_journal[key], abs=1e-9), (at, period, key)
    early = rows("--state-dir", str(state), at="2024-01-02T00:00:00Z")
    assert 0 < early["fills"] < len(snap["fills"]) and early["to"] == "2024-01-02 00:00:00"

    # Without --at, all three give the account's totals.
    totals = [rows("--state-dir", str(state)), journal_total, rows(*hz)]
    for total in totals:
        assert total["realized_pnl"] == pytest.approx(snap["account"]["realized_pnl"])
        assert total["fees"] == pytest.approx(snap["account"]["k_fees_paid"])
    refused = dita_cli("pnl", *hz, "--at", "2024-01-02")
    assert refused.returncode == 2 and "--at '2024-01-02' needs fills: pass --journal DSN" in refused.stderr


def test_status_of_a_running_paper_kernel_and_its_interrupt(tmp_path: Path) -> None:
    import signal
    import time

    state = tmp_path / "state"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from dita.cli import main; main()",
            "paper",
            "--strategy",
            CROSSOVER,
            "--data",
            "sample",
            "--speed",
            "600",  # ten minutes of bars per second: the 3-day sample would take over 7 minutes
            "--status-every",
            "0.2",
            "--state-dir",
            str(state),
            "--kernel-id",
            "live-one",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        path = state / "live-one.json"
        deadline = time.monotonic() + 120
        rows = []
        while time.monotonic() < deadline:
            if path.exists():
                result = runner.invoke(app, ["status", "--state-dir", str(state), "--json"])
                rows = json.loads(result.stdout) if result.exit_code == 0 else []
                if rows and rows[0]["running"] and rows[0]["data_time"]:
                    break
            time.sleep(0.2)
        assert rows and rows[0]["running"] is True
        assert rows[0]["strategies"][0]["status"] == "RUNNING"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "\ninterrupted\n" in out  # on its own line, not after the table's border (stdout is a pipe)
    assert f"\nstate: {path}\n" in out
    snap = json.loads(path.read_text())
    assert snap["running"] is False and 0 < snap["rows"] < 4320  # stopped part way
    (after,) = json.loads(runner.invoke(app, ["status", "--state-dir", str(state), "--json"]).stdout)
    assert after["running"] is False and after["strategies"][0]["status"] == "STOPPED"


def test_a_second_paper_run_under_the_same_id_is_refused_clearly(tmp_path: Path) -> None:
    """Without a write-ahead log a run's seq starts at 1: the journal would take the second
    run's rows for the first's. The CLI says so and exits 2, no traceback; another id runs."""
    dsn = f"chdb://{tmp_path / 'journal'}"
    paper_run(tmp_path / "state", "desk", "--journal", dsn)
    again = dita_cli(
        "paper", "--strategy", CROSSOVER, "--data", "sample", "--max-speed",
        "--state-dir", str(tmp_path / "state"), "--kernel-id", "desk", "--journal", dsn,
    )  # fmt: skip
    assert again.returncode == 2, again.stderr
    assert "cannot start the paper session: kernel_id 'desk' already has journal rows" in again.stderr
    assert "Traceback" not in again.stderr
    paper_run(tmp_path / "state", "desk-2", "--journal", dsn)
