"""`dita status --hazelcast H:P` over maps holding no kernel says the cluster holds none, not
"or pass --hazelcast": the option was given, and the operator would look for another cluster."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from dita.cli import app


def test_status_of_a_cluster_without_kernels_says_the_cluster_holds_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dita.cli._state as state

    def empty(*_: Any, **__: Any) -> tuple[list[Any], list[str]]:
        return [], []

    monkeypatch.setattr(state, "read_hazelcast", empty)
    result = CliRunner().invoke(app, ["status", "--hazelcast", "127.0.0.1:5701", "--hz-cluster", "c"])
    assert result.exit_code == 0, result.output
    assert "no running kernels found: the cluster's maps hold no kernel" in result.stdout
    assert "--hazelcast" not in result.stdout, result.stdout
