"""`dita status`, `orders` and `pnl --hazelcast` end at their --timeout when the cluster leaves a
read of its maps unanswered (a member frozen answers no read of every entry until the others
declare it dead, a minute or more: they hung that long), showing what they read and naming what
they could not, exit 3. A read is left unanswered here by holding up ``read_map`` of one map;
test_hz_faults.py freezes a member."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from dita import ExecutionKernel
from dita.cli import app
from dita.projection.hazelcast import map_reads
from dita.services.hazelcast import HazelcastMember

runner = CliRunner()
WITHIN_S = 2 + 10.0  # the client's shutdown (2 s at most), and room for a loaded host (a stuck read: 30 s)
WHY = "(a member not answering: frozen, or its partition threads stuck, until the others declare it dead)"


@pytest.fixture()
def unanswered(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """The names of the maps whose read is left unanswered (until the test ends)."""
    real = map_reads.read_map
    released = threading.Event()
    stuck: set[str] = set()

    def read_map(client: Any, name: str, warn: Any = None) -> Any:
        if name in stuck:
            released.wait(30)
        return real(client, name, warn)

    monkeypatch.setattr(map_reads, "read_map", read_map)  # where read_maps looks it up
    yield stuck
    released.set()


def _run(hz_member: HazelcastMember, *args: str) -> tuple[float, Any]:
    hz = ["--hazelcast", hz_member.address, "--hz-cluster", hz_member.cluster_name]
    started = time.monotonic()
    result = runner.invoke(app, [*args, *hz, "--timeout", "0.5"])
    return time.monotonic() - started, result


def _where(hz_member: HazelcastMember) -> str:
    """The command's first line (whom it talks to, and why), then the error's opening."""
    return (
        f"Hazelcast cluster {hz_member.cluster_name!r} (from --hz-cluster) at {hz_member.address} "
        f"(from --hazelcast)\nerror: Hazelcast cluster {hz_member.cluster_name!r} at {hz_member.address}: "
    )


def test_status_with_the_slots_unread_shows_the_rest_and_names_them(
    hz_member: HazelcastMember, traded: ExecutionKernel, unanswered: set[str]
) -> None:
    unanswered.add("dita_slots")
    kid = traded.kernel_id
    took, result = _run(hz_member, "status", "--kernel", kid, "--json")
    assert took < 0.5 + WITHIN_S, took  # it waited as long as the read did (a minute, frozen)
    assert result.exit_code == 3, result.output
    (row,) = json.loads(result.stdout)
    assert row["equity"] == pytest.approx(traded.account()["equity"])  # the account was read
    assert row["mode"] == traded.control()["mode"] and row["running"] is True
    assert row["open_positions"] is None  # unknown, not none
    assert result.stderr == (
        f"{_where(hz_member)}the read of dita_slots not answered within 0.5s {WHY}: what is shown "
        "lacks the kernels' slots (open positions and working orders)\n"
    )
    took, table = _run(hz_member, "status", "--kernel", kid)
    assert table.exit_code == 3, table.output
    line = next(x for x in table.stdout.splitlines() if kid in x)
    assert "not read" in line, table.stdout
    assert "the read of dita_slots not answered within 0.5s" in table.stderr


def test_orders_with_the_slots_unread_do_not_say_there_are_none(
    hz_member: HazelcastMember, traded: ExecutionKernel, unanswered: set[str]
) -> None:
    unanswered.add("dita_slots")
    took, result = _run(hz_member, "orders", "--kernel", traded.kernel_id)
    assert took < 0.5 + WITHIN_S, took
    assert result.exit_code == 3, result.output
    assert "no working orders" not in result.stdout
    assert "the read of dita_slots not answered within 0.5s" in result.stderr, result.stderr


def test_pnl_and_status_with_the_accounts_unread_leave_their_amounts_unknown(
    hz_member: HazelcastMember, traded: ExecutionKernel, unanswered: set[str]
) -> None:
    unanswered.add("dita_accounts")
    kid = traded.kernel_id
    took, result = _run(hz_member, "pnl", "--kernel", kid, "--json")
    assert took < 0.5 + WITHIN_S, took
    assert result.exit_code == 3, result.output
    (row,) = json.loads(result.stdout)  # the kernel is known by its control state and slots
    assert row["realized_pnl"] is None and row["fees"] is None and row["net_pnl"] is None
    assert result.stderr == (
        f"{_where(hz_member)}the read of dita_accounts not answered within 0.5s {WHY}: what is shown "
        "lacks the kernels' accounts (equity, PnL, and whether each runs)\n"
    )
    took, result = _run(hz_member, "status", "--kernel", kid, "--json")
    assert result.exit_code == 3, result.output
    (row,) = json.loads(result.stdout)
    # Not "not projected for over 30s": whether it runs is unknown.
    assert row["running"] is None and row["note"] == "" and row["equity"] is None
    assert row["open_positions"] == 1


def test_every_read_unanswered_shows_no_kernel_as_none_found(
    hz_member: HazelcastMember, traded: ExecutionKernel, unanswered: set[str]
) -> None:
    unanswered.update({"dita_accounts", "dita_control", "dita_slots"})
    said = (
        "the reads of dita_accounts, dita_control and dita_slots not answered within 0.5s "
        f"{WHY}: what is shown lacks the kernels' accounts (equity, PnL, and whether each runs), "
        "control state (mode) and slots (open positions and working orders)\n"
    )
    for command in ("status", "orders", "pnl"):
        took, result = _run(hz_member, command)
        assert took < 0.5 + WITHIN_S, (command, took)
        assert result.exit_code == 3, (command, result.output)
        assert result.stderr == _where(hz_member) + said, (command, result.stderr)
        assert "no running kernels found" not in result.stdout and "no kernels found" not in result.stdout
        assert "no working orders" not in result.stdout
    # A --kernel found in none of the maps read is unknown, not "not found" (exit 1).
    took, result = _run(hz_member, "status", "--kernel", traded.kernel_id)
    assert result.exit_code == 3, result.output
    assert "no kernel" not in result.stderr, result.stderr
    assert result.stderr == _where(hz_member) + said


@pytest.mark.parametrize("command", ["status", "orders", "pnl"])
@pytest.mark.parametrize("timeout", ["nan", "0", "-3", "inf", "301"])
def test_a_bad_timeout_is_refused_before_connecting(command: str, timeout: str) -> None:
    result = runner.invoke(app, [command, "--hazelcast", "127.0.0.1:1", "--timeout", timeout])
    assert result.exit_code == 2, result.output  # 3 would mean it tried the cluster
    assert f"--timeout={float(timeout)!r} must be above 0 and up to 300 seconds" in result.stderr


def test_the_default_timeout_is_the_control_commands() -> None:
    from dita.cli import control, status

    assert status._READ_TIMEOUT_S == control._WRITE_TIMEOUT_S == 10.0  # as docs/guides/operations.md says
