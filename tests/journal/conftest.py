"""Fixtures for the journal suite: a real chDB journal per test, closed even when a test fails
(chDB hosts one directory per process, so a leaked journal would break every later test)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dita.journal.clickhouse import ClickHouseJournal


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
