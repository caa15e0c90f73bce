"""Arguments of `dita control` and `dita services hazelcast` refused before any connection
or java process: no member is needed (the cluster address below has nobody listening)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dita.cli import app
from dita.services.hazelcast import free_port

runner = CliRunner()
# fetch and start look for Maven before they touch the home.
NEEDS_MVN = pytest.mark.skipif(shutil.which("mvn") is None, reason="needs Maven on PATH")


@pytest.mark.parametrize("wait", ["nan", "-3", "inf"])
def test_control_set_refuses_a_bad_wait_before_connecting(wait: str) -> None:
    result = runner.invoke(
        app, ["control", "set", "--mode", "HALTED", "--wait", wait, "--cluster", "127.0.0.1:1"]
    )
    assert result.exit_code == 2, result.output  # 3 would mean it tried the cluster
    assert f"--wait={float(wait)!r} must be zero or more and finite" in result.stderr


@pytest.mark.parametrize(
    ("option", "value"), [("--mode", "BOGUS"), ("--mode", "live "), ("--verbosity", "LOUD")]
)
def test_control_set_names_the_option_of_a_bad_value(option: str, value: str) -> None:
    result = runner.invoke(app, ["control", "set", option, value, "--cluster", "127.0.0.1:1"])
    assert result.exit_code == 2, result.output  # 3 would mean it tried the cluster
    assert f"error: {option} {value!r} must be one of " in result.stderr


@pytest.mark.parametrize("option", ["--mode", "--verbosity"])
def test_control_set_names_a_long_bad_value_shortened(option: str) -> None:
    result = runner.invoke(app, ["control", "set", option, "x" * 1_000_000, "--cluster", "127.0.0.1:1"])
    assert result.exit_code == 2, result.output[:500]  # 3 would mean it tried the cluster
    assert f"error: {option} 'xxxxxxxx" in result.stderr
    assert "x... must be one of " in result.stderr and len(result.stderr) < 300, result.stderr[:500]


@pytest.mark.parametrize(
    ("kernel", "flaw"),
    [
        ("btc-1 ", "it holds white space"),
        ("btc\u00a01", "it holds white space"),
        ("", "it is empty"),
        ("k" * 201, "it is over 200 bytes of UTF-8"),
    ],
)
def test_control_set_refuses_a_kernel_id_no_kernel_can_have_before_connecting(
    kernel: str, flaw: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An id no kernel can have ("btc-1 ", a paste's trailing space) names no entry a kernel reads:
    refused naming --kernel and the value before any client is made, not once the cluster has
    been asked, by the write, naming its own kernel_id argument."""
    import dita.cli.control

    def connect(*_: object) -> None:
        pytest.fail("connected to the cluster")

    monkeypatch.setattr(dita.cli.control, "_client", connect)
    args = ["control", "set", "--mode", "HALTED", "--kernel", kernel, "--new-kernel"]
    result = runner.invoke(app, [*args, "--cluster", "127.0.0.1:1"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: --kernel {kernel!r}"[:40]), result.stderr
    assert flaw in result.stderr


def test_control_set_refuses_a_kernel_id_that_is_not_utf8_before_connecting() -> None:
    """A byte that is not UTF-8 (Python reads it as a lone surrogate) was refused by the client
    mid-write: exit 3, "lost Hazelcast cluster ... may or may not have been written"."""
    result = runner.invoke(
        app, ["control", "set", "--mode", "HALTED", "--kernel", "k\udcff", "--cluster", "127.0.0.1:1"]
    )
    assert result.exit_code == 2, result.output  # 3 would mean it tried the cluster
    assert "error: --kernel is not valid UTF-8: k\\xff" in result.stderr
    # Nor --by, written into the entry as who set it (it was written as it was).
    by = runner.invoke(
        app, ["control", "set", "--mode", "HALTED", "--by", "op\udcff", "--cluster", "127.0.0.1:1"]
    )
    assert by.exit_code == 2, by.output
    assert "error: --by is not valid UTF-8: op\\xff" in by.stderr


@pytest.mark.parametrize("timeout", ["nan", "0", "-1"])
def test_services_start_refuses_a_bad_timeout_before_launching(timeout: str, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["services", "hazelcast", "start", "--timeout", timeout, "--home", str(tmp_path)]
    )
    assert result.exit_code == 2, result.output
    assert f"--timeout={float(timeout)!r} must be positive and finite" in result.stderr


@pytest.mark.parametrize("command", ["start", "stop", "status"])
@pytest.mark.parametrize("port", ["0", "70000"])
def test_services_name_the_option_of_a_bad_port(command: str, port: str, tmp_path: Path) -> None:
    """ "port must be a TCP port ..." named the member's field, not the option given."""
    result = runner.invoke(app, ["services", "hazelcast", command, "--port", port, "--home", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert f"error: --port: port must be a TCP port between 1 and 65535, got {port}" in result.stderr


def _slow_mvn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Maven on PATH that takes a while, then fails to fetch."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "mvn").write_text("#!/bin/sh\nsleep 1\necho 'Could not resolve' >&2\nexit 1\n")
    (bin_dir / "mvn").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


@pytest.mark.parametrize(
    "command",
    [
        "fetch",
        pytest.param("start", marks=pytest.mark.skipif(shutil.which("java") is None, reason="needs java")),
    ],
)
def test_services_say_they_still_fetch_the_jars(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Maven ran quiet (-q, its output captured) for as long as it took, minutes on a first run
    that fetches its plugins too: nothing said the command still worked."""
    from dita.cli import services

    _slow_mvn(tmp_path, monkeypatch)
    monkeypatch.setattr(services, "PROGRESS_LINE_SECONDS", 0.2)
    port = ["--port", str(free_port())] if command == "start" else []
    result = runner.invoke(app, ["services", "hazelcast", command, *port, "--home", str(tmp_path / "home")])
    assert result.exit_code == 2 and "mvn could not fetch" in result.stderr, result.output
    assert "still running after" in result.stderr, result.stderr


def test_services_fetch_says_maven_stalled_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A download that stalled past Maven's timeout was a TimeoutExpired traceback."""
    import subprocess

    from dita.services import hazelcast

    def stalled(cmd: list[str], **kwargs: Any) -> None:
        raise subprocess.TimeoutExpired(cmd, kwargs["timeout"])

    _slow_mvn(tmp_path, monkeypatch)
    monkeypatch.setattr(hazelcast.subprocess, "run", stalled)
    result = runner.invoke(app, ["services", "hazelcast", "fetch", "--home", str(tmp_path / "home")])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output
    assert "error: mvn did not fetch com.hazelcast:hazelcast:5.5.0:jar within 900 s" in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["stop"],
        pytest.param(["start", "--timeout", "5"], marks=NEEDS_MVN),
        pytest.param(["fetch"], marks=NEEDS_MVN),
    ],
)
def test_services_with_a_home_that_is_a_file_say_so_in_one_line(command: list[str], tmp_path: Path) -> None:
    home = tmp_path / "a-file"
    home.write_text("")
    # A port nobody listens on: start gets as far as the home.
    port = ["--port", str(free_port())] if command[0] != "fetch" else []
    result = runner.invoke(app, ["services", "hazelcast", *command, *port, "--home", str(home)])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert f"error: Hazelcast home {home}: [Errno 20] Not a directory: '{home}/" in result.stderr


@pytest.mark.parametrize("command", ["status", "orders", "pnl"])
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hazelcast", "foo"], "--hazelcast 'foo': cluster member must be host:port, got 'foo'"),
        (
            ["--hazelcast", "127.0.0.1:99999"],
            "--hazelcast '127.0.0.1:99999': cluster member must be host:port, got '127.0.0.1:99999'",
        ),
        (["--hazelcast", ","], "--hazelcast ',': cluster members must list at least one host:port"),
        (["--hazelcast", "127.0.0.1:1", "--hz-cluster", " "], "--hz-cluster ' ': cluster name must not be"),
        # Not UTF-8 (a lone surrogate, as Python reads such a byte): taken for an unreachable
        # cluster at the connect timeout (exit 3) before.
        (
            ["--hazelcast", "127.0.0.1:1", "--hz-cluster", "d\udcff"],
            "--hz-cluster 'd\\udcff': cluster name must be UTF-8 text",
        ),
        (
            ["--hazelcast", "127.0.0.\udcff:1"],
            "--hazelcast '127.0.0.\\udcff:1': cluster member must be host:port text",
        ),
    ],
)
def test_status_commands_refuse_a_bad_cluster_before_connecting(
    command: str, args: list[str], message: str
) -> None:
    result = runner.invoke(app, [command, *args])
    assert result.exit_code == 2, result.output  # 1 would mean it tried the cluster
    assert f"error: {message}" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cluster", "foo"], "--cluster 'foo': cluster member must be host:port, got 'foo'"),
        (["--cluster", "127.0.0.1:1", "--cluster-name", " "], "--cluster-name ' ': cluster name must not be"),
        (
            ["--cluster", "127.0.0.1:1", "--cluster-name", "d\udcff"],
            "--cluster-name 'd\\udcff': cluster name must be UTF-8 text",
        ),
    ],
)
def test_control_names_the_option_a_bad_cluster_came_from(
    args: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = runner.invoke(app, ["control", "show", *args])
    assert result.exit_code == 2, result.output
    assert f"error: {message}" in result.stderr
    monkeypatch.setenv("DITA_HAZELCAST_MEMBERS", "no-port")
    result = runner.invoke(app, ["control", "show"])
    assert result.exit_code == 2, result.output
    assert "error: $DITA_HAZELCAST_MEMBERS: cluster member must be host:port, got 'no-port'" in result.stderr


def test_status_refuses_an_empty_hazelcast_instead_of_reading_state_files(tmp_path: Path) -> None:
    result = runner.invoke(app, ["status", "--hazelcast", "", "--state-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "error: --hazelcast '': cluster members must list at least one host:port" in result.stderr


@pytest.mark.parametrize("period", ["today", "week", "month"])
def test_pnl_refuses_a_period_the_projection_cannot_give_before_connecting(period: str) -> None:
    """Nobody listens at the address: an exit 2 means the option was refused first (taken, an
    empty cluster would print "no kernels found" and exit 0 instead)."""
    result = runner.invoke(app, ["pnl", "--period", period, "--hazelcast", "127.0.0.1:1"])
    assert result.exit_code == 2, result.output
    assert f"--period {period!r} needs fills: pass --journal DSN" in result.stderr


@pytest.mark.parametrize("action", ["start", "stop"])
@pytest.mark.parametrize("timeout", ["nan", "0", "-1", "inf"])
def test_module_entry_refuses_a_bad_timeout_before_launching(
    action: str, timeout: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dita.services.hazelcast import main

    with pytest.raises(SystemExit) as exited:
        main([action, "--timeout", timeout, "--port", str(free_port()), "--home", str(tmp_path)])
    assert exited.value.code == 2
    assert f"--timeout={float(timeout)!r} must be positive and finite" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # no member was launched


@pytest.mark.parametrize(
    "command",
    [
        ["stop"],
        pytest.param(["start", "--timeout", "5"], marks=NEEDS_MVN),
        pytest.param(["fetch"], marks=NEEDS_MVN),
    ],
)
def test_the_module_entry_point_with_a_home_that_is_a_file_says_so_in_one_line(
    command: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make hazelcast-jar` runs `python -m dita.services.hazelcast fetch`: the same one line
    as `dita services hazelcast`, not a traceback."""
    from dita.services.hazelcast import main

    home = tmp_path / "a-file"
    home.write_text("")
    port = ["--port", str(free_port())] if command[0] != "fetch" else []
    assert main([*command, *port, "--home", str(home)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: Hazelcast home {home}: [Errno 20] Not a directory: '{home}/"), err
    assert len(err.strip().splitlines()) == 1


def test_pnl_refuses_at_from_the_projection_before_connecting() -> None:
    """The projection holds totals as they stand: `--at` printed `to` that time over them."""
    result = runner.invoke(app, ["pnl", "--at", "2024-01-02", "--hazelcast", "127.0.0.1:1"])
    assert result.exit_code == 2, result.output
    assert "--at '2024-01-02' needs fills: pass --journal DSN" in result.stderr


@pytest.mark.parametrize("command", ["status", "orders", "pnl"])
def test_a_cluster_lost_while_reading_is_unreachable_not_a_failure(
    monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """A member that froze or went away after the readers connected failed their read with
    exit 1 ("cannot read the projection"), where a cluster that cannot be reached exits 3 (and
    `dita control` says 3 when it loses the cluster part way)."""
    from hazelcast.errors import TargetDisconnectedError

    import dita.cli._state

    def lost(*args: object, **kwargs: object) -> None:
        raise TargetDisconnectedError("the member stopped answering")

    monkeypatch.setattr(dita.cli._state, "read_hazelcast", lost)
    result = runner.invoke(app, [command, "--hazelcast", "127.0.0.1:5701"])
    assert result.exit_code == 3, result.output
    assert (
        "lost Hazelcast cluster 'dita' at 127.0.0.1:5701 while reading it (TargetDisconnectedError"
        in result.stderr
    )


def test_make_hazelcast_jar_fetches_through_the_command_that_says_it_still_works() -> None:
    """`make hazelcast-jar` (which `make test` runs) fetched with `python -m
    dita.services.hazelcast fetch`, which says nothing while Maven works: a first fetch was
    still minutes of silence there. It goes through `dita services hazelcast fetch`."""
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed: NOT tested")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [make, "-n", "-s", "-C", str(root), "-o", "build", "hazelcast-jar"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "-m dita.cli services hazelcast fetch" in done.stdout, done.stdout
