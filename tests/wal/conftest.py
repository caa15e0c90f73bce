"""Soak runs of the WAL suite are off unless asked for with ``-m soak`` (see pyproject markers)."""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "soak" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="soak run: select with -m soak")
    for item in items:
        if item.get_closest_marker("soak") and _HERE in Path(str(item.path)).parents:
            item.add_marker(skip)
