"""Fixtures for the journal suite: a real chDB journal per test, closed even when a test fails
(chDB hosts one directory per process, so a leaked journal would break every later test)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dita.journal.clickhouse import ClickHouseJournal

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Soak runs of this suite are off unless asked for with ``-m soak``."""
    if "soak" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="soak run: select with -m soak")
    for item in items:
        if item.get_closest_marker("soak") and _HERE in Path(str(item.path)).parents:
            item.add_marker(skip)


@pytest.fixture
def journal_dsn(tmp_path: Path) -> str:
    return f"chdb://{tmp_path / 'journal'}"


@pytest.fixture
def journal(journal_dsn: str) -> Iterator[ClickHouseJournal]:
    j = ClickHouseJournal(journal_dsn, max_delay=0.02, close_timeout=20)
    try:
        yield j
    finally:
        j.close()


@pytest.fixture(scope="class")
def class_journal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseJournal]:
    """One journal for a class's cases that each must leave it as it was (a refused call,
    checked to have written nothing): a new journal's directory and tables take most of a
    second. Class-scoped, not module-scoped: closed before the tests after the class open their
    own, as chDB hosts one directory per process."""
    j = ClickHouseJournal(
        f"chdb://{tmp_path_factory.mktemp('class-journal') / 'journal'}", max_delay=0.02, close_timeout=20
    )
    try:
        yield j
    finally:
        j.close()
