"""One journal named several ways (relative, absolute, through a symlink, with a trailing slash)
is one journal: `dita journal` in another process reaches the owner's query socket whichever
way either side wrote the directory, also when the path is too long for a socket file and the
socket is named after the directory (the loose end "journal path compare as written")."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dita.journal.clickhouse import ClickHouseJournal
from dita.journal.dsn import parse_dsn
from journal.helpers import run_cli

ROW = (5, 0, 1.0, "LIVE", "NORMAL", True, "x")
SQL = "SELECT count() FROM control_changes"


@pytest.mark.parametrize("deep", [False, True], ids=["socket-file", "abstract-socket"])
def test_the_cli_finds_the_owner_however_the_directory_is_written(tmp_path: Path, deep: bool) -> None:
    real = tmp_path / "data" / (("x" * 60 + "/" + "y" * 60) if deep else "j")
    real.parent.mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(real.parent, target_is_directory=True)
    owner_dsn = f"chdb://{link / real.name}"  # the owner opens it through the symlink
    journal = ClickHouseJournal(owner_dsn, max_delay=0.01)
    try:
        assert journal.backfill("desk-1", {"control_changes": [ROW]}, timeout=30).written == 1
        assert journal.query_address == parse_dsn(f"chdb://{real}").socket_address
        assert journal.query_address.startswith("\0") == deep
        relative = os.path.relpath(real, tmp_path)
        for dsn, cwd in (
            (f"chdb://{real}", None),
            (f"chdb://{real}/", None),
            (f"chdb://./{relative}", tmp_path),
            (owner_dsn, None),
        ):
            done = run_cli("sql", "--no-progress", "--format", "csv", "--dsn", dsn, SQL, cwd=cwd)
            assert done.returncode == 0, f"{dsn}: {done.stderr}"
            assert done.stdout.splitlines()[1:] == ["1"], dsn
    finally:
        journal.close()
