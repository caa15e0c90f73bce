"""`dita status`, `orders` and `pnl` reading the projection of a real member."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dita import ExecutionKernel
from dita.cli import app
from dita.projection.hazelcast import HazelcastProjection
from dita.services.hazelcast import HazelcastMember

runner = CliRunner()


def test_pnl_from_the_projection_does_not_claim_zero_fills(
    hz_member: HazelcastMember, traded: ExecutionKernel
) -> None:
    """The projection holds totals, not fills: their number is unknown there, not 0."""
    hz = ["--hazelcast", hz_member.address, "--hz-cluster", hz_member.cluster_name]
    result = runner.invoke(app, ["pnl", *hz, "--kernel", traded.kernel_id, "--json"])
    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["fees"] == pytest.approx(traded.account()["k_fees_paid"]) and row["fees"] > 0
    assert row["fills"] is None
    table = runner.invoke(app, ["pnl", *hz, "--kernel", traded.kernel_id])
    assert table.exit_code == 0, table.stderr
    line = next(x for x in table.stdout.splitlines() if traded.kernel_id in x)
    assert " 0 " not in line and "None" not in line


def test_status_from_the_projection_does_not_claim_no_strategies(
    hz_member: HazelcastMember, traded: ExecutionKernel
) -> None:
    """The projection holds kernels, not the strategies driving them: unknown there, not none."""
    hz = [
        "--hazelcast",
        hz_member.address,
        "--hz-cluster",
        hz_member.cluster_name,
        "--kernel",
        traded.kernel_id,
    ]
    result = runner.invoke(app, ["status", *hz, "--json"])
    assert result.exit_code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["strategies"] is None
    # Nor the orders the venue rejected, or the intents the kernel refused (a paper run counts
    # them in its state file).
    assert row["orders_rejected"] is None and row["rejection_reasons"] is None
    assert row["intents_refused"] is None and row["refusal_reasons"] is None
    table = runner.invoke(app, ["status", *hz])
    assert table.exit_code == 0, table.stderr
    line = next(x for x in table.stdout.splitlines() if traded.kernel_id in x)
    assert "not projected" in line and "None" not in line
    assert "the venue rejected" not in table.stdout and "the kernel refused" not in table.stdout


def test_a_cluster_name_that_does_not_answer_is_named(
    hz_member: HazelcastMember, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The member is up but under another name: the error says which name was asked for,
    not only "Unable to connect to any cluster"."""
    monkeypatch.delenv("DITA_HAZELCAST_CLUSTER", raising=False)
    monkeypatch.setenv("DITA_HAZELCAST_CONNECT_S", "1")  # not the 5 s default: it never answers
    result = runner.invoke(app, ["status", "--hazelcast", hz_member.address])
    assert result.exit_code == 3, result.output  # unreachable, as for `dita control`
    assert f"cannot reach Hazelcast cluster 'dita' at {hz_member.address}" in result.stderr


def test_the_cluster_name_comes_from_the_environment_as_for_the_other_commands(
    hz_member: HazelcastMember, traded: ExecutionKernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """$DITA_HAZELCAST_CLUSTER names the cluster for the projection and `dita control`;
    status, orders and pnl take it too when --hz-cluster is left out."""
    monkeypatch.setenv("DITA_HAZELCAST_CLUSTER", hz_member.cluster_name)
    for command in ("status", "orders", "pnl"):
        result = runner.invoke(
            app, [command, "--hazelcast", hz_member.address, "--kernel", traded.kernel_id, "--json"]
        )
        assert result.exit_code == 0, (command, result.stderr)
    # An explicit option still wins over the environment (and that name never answers: the
    # wait for it need not be the 5 s default).
    monkeypatch.setenv("DITA_HAZELCAST_CONNECT_S", "1")
    result = runner.invoke(app, ["status", "--hazelcast", hz_member.address, "--hz-cluster", "other"])
    assert result.exit_code == 3 and "cluster 'other'" in result.stderr


def test_an_empty_cluster_name_in_the_environment_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DITA_HAZELCAST_CLUSTER", " ")
    result = runner.invoke(app, ["status", "--hazelcast", "127.0.0.1:1"])
    assert result.exit_code == 2, result.output  # before connecting
    assert "$DITA_HAZELCAST_CLUSTER: cluster name must not be empty, got ' '" in result.stderr


def test_paper_takes_the_cluster_name_from_the_environment_too(
    hz_member: HazelcastMember, kernel_id: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`dita paper --hazelcast` and `dita status --hazelcast` find the same cluster."""
    monkeypatch.setenv("DITA_HAZELCAST_CLUSTER", hz_member.cluster_name)
    paper = [
        "paper", "--strategy", "dita.examples.crossover:SmaCrossover", "--data", "sample", "--max-speed",
        "--state-dir", str(tmp_path), "--kernel-id", kernel_id, "--hazelcast", hz_member.address,
    ]  # fmt: skip
    result = runner.invoke(app, paper)
    assert result.exit_code == 0, result.stderr
    status = runner.invoke(app, ["status", "--hazelcast", hz_member.address, "--kernel", kernel_id, "--json"])
    assert status.exit_code == 0, status.stderr
    assert json.loads(status.stdout)[0]["kernel_id"] == kernel_id


def test_a_stray_entry_in_a_map_is_skipped_not_fatal(
    hz_member: HazelcastMember, traded: ExecutionKernel
) -> None:
    """A value someone put into the accounts map by hand is not a projection's: status names it
    and goes on to show every kernel, rather than failing for all of them."""
    from dita.projection.hazelcast import ACCOUNTS_MAP, connect_client

    client = connect_client([hz_member.address], hz_member.cluster_name, block=True, connect_timeout=30)
    accounts = client.get_map(ACCOUNTS_MAP).blocking()
    try:
        accounts.put("by-hand", "not json {")
        accounts.put("a-list", "[1, 2]")
        hz = ["--hazelcast", hz_member.address, "--hz-cluster", hz_member.cluster_name]
        result = runner.invoke(app, ["status", *hz, "--json"])
        assert result.exit_code == 0, result.stderr
        kernels = {s["kernel_id"] for s in json.loads(result.stdout)}
        assert traded.kernel_id in kernels and "by-hand" not in kernels and "a-list" not in kernels
        assert "warning: skipped entry 'by-hand' of dita_accounts: not a JSON object" in result.stderr
        assert "warning: skipped entry 'a-list' of dita_accounts: not a JSON object" in result.stderr
    finally:
        accounts.remove("by-hand")
        accounts.remove("a-list")
        client.shutdown()


def test_a_kernel_closed_cleanly_shows_as_stopped_at_once(hz_member: HazelcastMember, kernel_id: str) -> None:
    """A clean close says so in the projection: status must not call the kernel running for
    the 30 s its last heartbeat stays fresh, nor `control set --wait` wait for it."""
    projection = HazelcastProjection([hz_member.address], hz_member.cluster_name, interval=0.01)
    kernel = ExecutionKernel(max_slots=1, projection=projection, kernel_id=kernel_id)
    assert projection.sync(timeout=30)
    hz = ["--hazelcast", hz_member.address, "--hz-cluster", hz_member.cluster_name, "--kernel", kernel_id]
    (before,) = json.loads(runner.invoke(app, ["status", *hz, "--json"]).stdout)
    assert before["running"] is True
    kernel.close()
    result = runner.invoke(app, ["status", *hz, "--json"])
    assert result.exit_code == 0, result.stderr
    (after,) = json.loads(result.stdout)
    assert after["running"] is False
    table = runner.invoke(app, ["status", *hz])
    assert "closed at" in table.stdout, table.stdout
    # A new run under the same id is running again.
    projection = HazelcastProjection([hz_member.address], hz_member.cluster_name, interval=0.01)
    kernel = ExecutionKernel(max_slots=1, projection=projection, kernel_id=kernel_id)
    try:
        assert projection.sync(timeout=30)
        (again,) = json.loads(runner.invoke(app, ["status", *hz, "--json"]).stdout)
        assert again["running"] is True
    finally:
        kernel.close()


def test_two_paper_runs_without_a_kernel_id_do_not_share_entries(
    hz_member: HazelcastMember, tmp_path: Any
) -> None:
    """The default kernel id is one per run, printed at start: a second run must not
    overwrite the first one's slots, account and control entries."""
    paper = [
        "paper", "--strategy", "dita.examples.crossover:SmaCrossover", "--data", "sample", "--max-speed",
        "--state-dir", str(tmp_path), "--hazelcast", hz_member.address,
        "--hz-cluster", hz_member.cluster_name,
    ]  # fmt: skip
    outputs = []
    for _ in range(2):
        result = runner.invoke(app, paper)
        assert result.exit_code == 0, result.stderr
        outputs.append(result.stdout)
    ids = sorted(p.stem for p in tmp_path.glob("*.json"))
    assert len(ids) == 2, ids  # one state file each
    hz = ["--hazelcast", hz_member.address, "--hz-cluster", hz_member.cluster_name]
    for kid in ids:
        result = runner.invoke(app, ["status", *hz, "--kernel", kid, "--json"])
        assert result.exit_code == 0, result.stderr
    assert sorted(out.split("kernel id: ", 1)[1].split()[0] for out in outputs) == ids


def test_a_paper_run_stopped_with_sigterm_closes_as_on_ctrl_c(
    hz_member: HazelcastMember, kernel_id: str, tmp_path: Path
) -> None:
    """SIGTERM is how service managers, containers and `kill` stop a process: the run must
    close its kernel (journal rows, `closed_at` in the projection) and write its last state
    as Ctrl-C does, not die leaving `running: true` and a kernel called running for 30 s."""
    proc = subprocess.Popen(
        [
            sys.executable, "-c", "from dita.cli import main; main()",
            "paper", "--strategy", "dita.examples.crossover:SmaCrossover", "--data", "sample",
            "--speed", "1",  # a bar a minute: the signal comes while the run waits for the next
            "--state-dir", str(tmp_path), "--kernel-id", kernel_id,
            "--hazelcast", hz_member.address, "--hz-cluster", hz_member.cluster_name,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    hz = ["--hazelcast", hz_member.address, "--hz-cluster", hz_member.cluster_name, "--kernel", kernel_id]
    try:
        deadline = time.monotonic() + 60
        rows: list[Any] = []
        started = tmp_path / f"{kernel_id}.json"
        while time.monotonic() < deadline and not (rows and rows[0]["running"] and started.exists()):
            time.sleep(0.2)
            result = runner.invoke(app, ["status", *hz, "--json"])
            rows = json.loads(result.stdout) if result.exit_code == 0 else []
        assert rows and rows[0]["running"] is True
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "\nterminated\n" in out  # on its own line, not after the table's border (stdout is a pipe)
    snap = json.loads((tmp_path / f"{kernel_id}.json").read_text())
    assert snap["running"] is False and snap["strategies"][0]["status"] == "STOPPED"
    (after,) = json.loads(runner.invoke(app, ["status", *hz, "--json"]).stdout)
    assert after["running"] is False and after["note"].startswith("closed at"), after


def test_orders_of_a_kernel_that_is_not_running_say_so(hz_member: HazelcastMember, hz_client: Any) -> None:
    """A crashed kernel's working orders stay in the projection (and may still rest at the
    venue): `orders` lists them, but must not present them as a running kernel's."""
    from dita.projection.hazelcast import ACCOUNTS_MAP, SLOTS_MAP, to_json_value

    kid = f"k-crashed-{time.time_ns()}"
    gone = time.time() - 3600
    order = {"client_order_id": f"{kid}-o1", "status": "WORKING", "asset": "BTC-USD", "side": "LONG"}
    slot = {"kernel_id": kid, "slot_id": 0, "active_entry_order": order, "projected_at": gone}
    hz_client.get_map(SLOTS_MAP).blocking().set(f"{kid}:0", to_json_value(slot))
    hz_client.get_map(ACCOUNTS_MAP).blocking().set(kid, to_json_value({"equity": 0.0, "projected_at": gone}))
    hz = ["--hazelcast", hz_member.address, "--hz-cluster", hz_member.cluster_name, "--kernel", kid]
    table = runner.invoke(app, ["orders", *hz])
    assert table.exit_code == 0, table.output
    assert f"{kid}-o1" in table.output
    assert f"{kid}: not projected for over 30s (last state shown)" in table.output, table.output
    result = runner.invoke(app, ["orders", *hz, "--json"])
    (row,) = json.loads(result.stdout)
    assert row["note"] == "not projected for over 30s (last state shown)"


@pytest.mark.parametrize("at", [float("nan"), float("inf"), float("-inf"), True, "1", None])
def test_a_projected_at_that_is_no_time_gives_no_age_and_no_clock_note(at: Any) -> None:
    """`dita status` said "projected_at is nans ahead of this machine's clock" of a NaN typed
    by hand; such a stamp is no time: the kernel is taken for gone, as one never projected."""
    from dita.projection.hazelcast import live_kernels, projection_age

    assert projection_age({"projected_at": at}) is None
    assert live_kernels({"k": {"projected_at": at}}) == set()


@pytest.mark.parametrize(("ahead", "running"), [(3600.0, False), (8.0, True)])
def test_a_kernel_whose_clock_runs_ahead_is_judged_and_the_disagreement_said(
    hz_member: HazelcastMember, hz_client: Any, ahead: float, running: bool
) -> None:
    """`projected_at` is the writer's clock. A stamp beyond 30 s either way is taken for gone
    (else a crashed kernel whose clock runs an hour ahead shows as running, and `control set
    --wait` waits on it), and any stamp ahead by more than 2 s is said, since liveness is
    judged by the two clocks."""
    from dita.projection.hazelcast import ACCOUNTS_MAP, CONTROL_MAP, to_json_value

    kid = f"k-ahead-{time.time_ns()}"
    accounts, control = hz_client.get_map(ACCOUNTS_MAP).blocking(), hz_client.get_map(CONTROL_MAP).blocking()
    accounts.set(kid, to_json_value({"equity": 0.0, "projected_at": time.time() + ahead}))
    control.set(kid, to_json_value({"mode": "LIVE", "verbosity": "INFO"}))
    try:
        _judged_ahead(hz_member, kid, ahead, running)
    finally:  # a kernel taken for running that applies nothing would hold up other tests' --wait
        accounts.remove(kid)
        control.remove(kid)


def _judged_ahead(hz_member: HazelcastMember, kid: str, ahead: float, running: bool) -> None:
    hz = ["--hazelcast", hz_member.address, "--hz-cluster", hz_member.cluster_name]
    result = runner.invoke(app, ["status", *hz, "--kernel", kid, "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert row["running"] is running
    # The seconds ahead shrink while the test runs: a few on a loaded machine.
    shown = rf"[{ahead - 4:.0f}-{ahead:.0f}]" if running else r"3[56]\d\d"
    said = (
        rf"projected_at is {shown}s ahead of this machine's clock \(clocks disagree: a kernel is "
        r"taken for gone beyond 30s either way\)"
    )
    assert re.fullmatch(said + ("" if running else r" \(last state shown\)"), row["note"]), row["note"]
    cluster = ["--cluster", hz_member.address, "--cluster-name", hz_member.cluster_name]
    control = runner.invoke(app, ["control", "show", *cluster, "--json"])
    assert control.exit_code == 0, control.output
    assert (kid in json.loads(control.stdout)["running"]) is running
    table = runner.invoke(app, ["control", "show", *cluster])
    assert (re.search(said, " ".join(table.output.split())) is None) is running, table.output


@pytest.mark.parametrize(
    ("map_name", "suffix", "value", "field", "got"),
    [
        # float('abc') in status: a traceback.
        ("dita_slots", ":0", {"slot_id": 0, "size": "abc", "fsm_state": "POSITION_OPEN"}, "size", "'abc'"),
        # int('zero') sorting the slots: an error hiding every kernel.
        ("dita_slots", ":0", {"slot_id": "zero", "fsm_state": "IDLE"}, "slot_id", "'zero'"),
        # float('x') in orders.
        (
            "dita_slots",
            ":0",
            {"slot_id": 0, "active_entry_order": {"status": "NEW", "size": "x"}},
            "active_entry_order.size",
            "'x'",
        ),
        ("dita_accounts", "", {"realized_pnl": "x"}, "realized_pnl", "'x'"),  # float('x') in pnl
        # Past the year 9999: an OverflowError printing it as a date.
        ("dita_accounts", "", {"closed_at": 1e300}, "closed_at", "1e+300"),
        ("dita_accounts", "", {"projected_at": 1e300}, "projected_at", "1e+300"),
        ("dita_control", "", {"mode": 5}, "mode", "5"),
        ("dita_control", "", {"mode": "PAPER", "frozen": "no"}, "frozen", "'no'"),  # bool("no") is True
    ],
)
def test_an_entry_with_a_field_of_another_type_is_skipped_naming_it(
    hz_member: HazelcastMember,
    hz_client: Any,
    traded: ExecutionKernel,
    map_name: str,
    suffix: str,
    value: dict[str, Any],
    field: str,
    got: str,
) -> None:
    """Valid JSON, but a field of another type than the projection writes (typed by hand):
    status, orders and pnl ended in a traceback or hid every kernel. The entry is skipped with
    a warning naming the map, key, field and value; the healthy kernels are shown."""
    from dita.projection.hazelcast import to_json_value

    evil = f"{traded.kernel_id}-evil"
    key = evil + suffix
    entries = hz_client.get_map(map_name).blocking()
    entries.set(key, to_json_value({"kernel_id": evil, "projected_at": time.time(), **value}))
    hz = ["--hazelcast", hz_member.address, "--hz-cluster", hz_member.cluster_name]
    try:
        for command in (["status", "--json"], ["status"], ["orders", "--json"], ["orders"], ["pnl"]):
            result = runner.invoke(app, [*command, *hz])
            assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
            assert result.exit_code == 0, (command, result.output)
            if command[0] != "orders":  # it has no working order to list
                assert traded.kernel_id in result.stdout, (command, result.stdout)
            assert evil not in result.stdout, (command, result.stdout)
            warning = f"warning: skipped entry {key!r} of {map_name}: {field}: "
            line = next((x for x in result.stderr.splitlines() if x.startswith(warning)), "")
            assert line.endswith(f", got {got}"), (command, result.stderr)
    finally:
        entries.remove(key)
