"""A strategy module that fails to import (syntax error, exception at import, a relative
name) or a Params that is not a pydantic model is a StrategyLoadError, and exit 2 from the CLI."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dita.cli import app
from dita.strategy import StrategyLoadError, load_strategy_class

runner = CliRunner()


@pytest.fixture
def strategy_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "rev_badsyntax.py").write_text("def x(:\n")
    (tmp_path / "rev_raises.py").write_text("raise RuntimeError('no config file')\n")
    (tmp_path / "rev_badparams.py").write_text(
        "from dita.strategy import Strategy\nclass S(Strategy):\n    Params = dict\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("rev_badsyntax", "rev_raises", "rev_badparams"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (".relative:Thing", "strategy module '.relative' cannot be imported: TypeError"),
        ("rev_badsyntax:X", "strategy module 'rev_badsyntax' cannot be imported: SyntaxError"),
        ("rev_raises:X", "cannot be imported: RuntimeError: no config file"),
        ("rev_badparams:S", "S.Params = <class 'dict'> must be a pydantic BaseModel subclass"),
    ],
)
def test_a_bad_strategy_module_is_a_clear_error(strategy_modules: Path, ref: str, message: str) -> None:
    with pytest.raises(StrategyLoadError, match=r"cannot be imported|must be a pydantic"):
        load_strategy_class(ref)
    result = runner.invoke(app, ["strategy", "inspect", ref])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
