"""`dita status`, `orders` and `pnl` on a state file of a format this dita does not write (a newer
dita paper's, or one no dita paper writes): its fields may mean what this one would misread, so
it is skipped with a warning naming the file and its format, as `dita paper` refuses it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dita.cli import app

runner = CliRunner()
READERS = (["status", "--json"], ["orders", "--json"], ["pnl", "--json"])


@pytest.fixture(scope="module")
def state_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    state = tmp_path_factory.mktemp("st")
    strategy = "dita.examples.crossover:SmaCrossover"
    args = ["paper", "--strategy", strategy, "--data", "sample", "--max-speed", "--state-dir", str(state)]
    done = runner.invoke(app, [*args, "--kernel-id", "k1"])
    assert done.exit_code == 0, done.output
    return state / "k1.json"


def _with_format(state_file: Path, into: Path, fmt: object) -> Path:
    snap = json.loads(state_file.read_text())
    if fmt is None:
        del snap["format"]
    else:
        snap["format"] = fmt
    (into / "k1.json").write_text(json.dumps(snap))
    return into / "k1.json"


@pytest.mark.parametrize(
    ("fmt", "why"),
    [
        (99, "format 99, newer than this dita paper writes (2)"),
        ("2", "format '2', not a whole number: not a file `dita paper` wrote (it writes format 2)"),
        (0, "format 0: not a file `dita paper` wrote (it writes format 2)"),
        (True, "format True, not a whole number"),
    ],
)
def test_a_state_file_of_a_format_not_read_is_skipped_naming_it(
    state_file: Path, tmp_path: Path, fmt: object, why: str
) -> None:
    path = _with_format(state_file, tmp_path, fmt)
    for command in READERS:
        done = runner.invoke(app, [*command, "--state-dir", str(tmp_path)])
        assert done.exit_code == 0 and json.loads(done.stdout) == [], (command, done.output)
        assert f"warning: skipped state file {path}: {why}" in done.stderr, (command, done.stderr)


@pytest.mark.parametrize("fmt", [2, 1, None])
def test_a_state_file_of_a_format_read_is_shown(state_file: Path, tmp_path: Path, fmt: int | None) -> None:
    _with_format(state_file, tmp_path, fmt)
    done = runner.invoke(app, ["status", "--json", "--state-dir", str(tmp_path)])
    assert done.exit_code == 0 and done.stderr == "", done.output
    assert [row["kernel_id"] for row in json.loads(done.stdout)] == ["k1"]
