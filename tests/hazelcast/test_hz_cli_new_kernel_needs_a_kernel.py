"""`dita control set --new-kernel` names the entry of one kernel still to start: without `--kernel`
(the id forgotten) the write would go to the global entry and reach every kernel."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from dita.cli import app


@pytest.mark.parametrize("kernel", [[], ["--kernel", "*"]])
def test_control_set_refuses_new_kernel_without_a_kernel_before_connecting(
    kernel: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import dita.cli.control

    def connect(*_: object) -> None:
        pytest.fail("connected to the cluster")

    monkeypatch.setattr(dita.cli.control, "_client", connect)
    args = ["control", "set", "--mode", "LIVE", "--new-kernel", *kernel, "--cluster", "127.0.0.1:1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "error: --new-kernel" in result.stderr and "--kernel" in result.stderr, result.stderr
