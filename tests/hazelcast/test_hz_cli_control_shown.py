"""`dita control` against a real member: what `set --wait` counts as applied, and what `show`
prints of keys and values anyone with access to the cluster writes."""

from __future__ import annotations

import time
from typing import Any

import typer
from typer.testing import CliRunner

from dita.cli import control as control_cli
from dita.control.hazelcast import CONTROL_PLANE_MAP
from dita.projection.hazelcast import ACCOUNTS_MAP, CONTROL_MAP, connect_client, to_json_value


def _cli(*args: str) -> Any:
    app = typer.Typer()
    control_cli.register(app)
    return CliRunner().invoke(app, list(args))


def test_cli_global_wait_counts_a_live_kernel_without_its_control_projection(member_factory: Any) -> None:
    """A kernel whose account is projected now but whose `dita_control` entry is missing (removed,
    or not a JSON object) shows nothing applied: a global `set --mode HALTED --wait` said
    `applied by: (no kernels projected)` and exit 0, while that kernel may still trade."""
    member = member_factory("dita-wait-uncontrolled")
    member.start()
    where = ("--cluster", member.address, "--cluster-name", member.cluster_name)
    client = connect_client([member.address], member.cluster_name, block=True, connect_timeout=30)
    try:
        accounts = client.get_map(ACCOUNTS_MAP).blocking()
        accounts.set("k-live", to_json_value({"equity": 0.0, "projected_at": time.time()}))
        result = _cli("control", "set", "--mode", "HALTED", "--wait", "0.3", *where)
        assert result.exit_code == 4, result.output
        assert "not applied within 0.3s by: k-live" in result.output
        # Shown applied once its projection shows it.
        control = client.get_map(CONTROL_MAP).blocking()
        control.set("k-live", to_json_value({"mode": "HALTED", "projected_at": time.time()}))
        result = _cli("control", "set", "--mode", "HALTED", "--wait", "5", *where)
        assert result.exit_code == 0, result.output
        assert "applied by: k-live" in result.output

        # Keys typed into the maps with terminal control sequences: shown, not run.
        odd = "k\x1b[1A\x1b[2K\u202e"
        control.set(odd, to_json_value({"mode": "LIVE\x1b[8m", "projected_at": time.time()}))
        accounts.set(odd, to_json_value({"equity": 0.0, "projected_at": time.time() - 3600}))
        result = _cli("control", "show", *where)
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.stdout and "\u202e" not in result.stdout, result.stdout
        assert "k\\x1b[1A\\x1b[2K\\u202e" in result.stdout and "LIVE\\x1b[8m" in result.stdout
        result = _cli("control", "set", "--mode", "HALTED", "--wait", "5", *where)
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.stdout and "k\\x1b[1A\\x1b[2K\\u202e" in result.stdout  # not waited for
    finally:
        client.shutdown()


def test_show_marks_an_entry_value_without_its_stamp(member_factory: Any) -> None:
    """A global HALTED typed by hand without `mode_at` is ignored by every kernel that took a
    stamped mode; `show` printed it as any other entry, so it read as a halt in force."""
    member = member_factory("dita-show-unstamped")
    member.start()
    where = ("--cluster", member.address, "--cluster-name", member.cluster_name)
    client = connect_client([member.address], member.cluster_name, block=True, connect_timeout=30)
    try:
        entries = client.get_map(CONTROL_PLANE_MAP).blocking()
        entries.set("*", to_json_value({"mode": "HALTED", "verbosity": "QUIET", "verbosity_at": time.time()}))
        result = _cli("control", "show", *where)
        assert result.exit_code == 0, result.output
        assert "HALTED (no stamp)" in result.stdout, result.stdout
        assert "QUIET (no stamp)" not in result.stdout, result.stdout
        said = " ".join(result.stdout.split())
        assert "a kernel that took a stamped value ignores it" in said, result.stdout
        assert _cli("control", "set", "--mode", "HALTED", *where).exit_code == 0
        result = _cli("control", "show", *where)
        assert "(no stamp)" not in result.stdout, result.stdout
    finally:
        client.shutdown()
