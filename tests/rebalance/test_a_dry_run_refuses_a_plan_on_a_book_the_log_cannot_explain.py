"""A plan an earlier run wrote and did not finish, on a paper book the kernel's log does not
explain: the run refuses it (exit 1, nothing sent), and a --dry-run, which replays the log
without writing to it, refuses it the same, as the CLI reference says."""

from __future__ import annotations

from pathlib import Path

from test_rebalance_killed_before_its_book_is_saved import (
    PRICES,
    a_book_the_log_cannot_explain,
    killed_at_save,
    rebalance_args,
)
from typer.testing import CliRunner

from dita.cli import app


def test_a_dry_run_refuses_the_plan_the_run_refuses(tmp_path: Path) -> None:
    args = rebalance_args(tmp_path)
    killed_at_save(args)
    a_book_the_log_cannot_explain(tmp_path, positions_from_elsewhere={})

    run = CliRunner().invoke(app, [*args, *PRICES])  # first: what the run does (nothing sent)
    assert run.exit_code == 1 and "does not explain" in run.stderr

    dry = CliRunner().invoke(app, [*args, *PRICES, "--dry-run"])
    assert dry.exit_code == 1, dry.output
    assert "does not explain" in dry.stderr
