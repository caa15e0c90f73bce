"""A strategy module that fails to import (syntax error, exception at import, sys.exit at
import, a relative name) or a Params that is not a pydantic model is a StrategyLoadError, and
exit 2 from the CLI."""

from __future__ import annotations

import importlib
import re
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
    (tmp_path / "rev_exits.py").write_text("import sys\nsys.exit(0)\n")
    (tmp_path / "rev_parses_argv.py").write_text(
        "import argparse\nargparse.ArgumentParser().add_argument('--must', required=True)\n"
        "argparse.ArgumentParser().parse_args(['--bogus'])\n"
    )
    (tmp_path / "rev_badparams.py").write_text(
        "from dita.strategy import Strategy\nclass S(Strategy):\n    Params = dict\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("rev_badsyntax", "rev_raises", "rev_exits", "rev_parses_argv", "rev_badparams"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        (".relative:Thing", "strategy module '.relative' cannot be imported: TypeError"),
        ("rev_badsyntax:X", "strategy module 'rev_badsyntax' cannot be imported: SyntaxError"),
        ("rev_raises:X", "cannot be imported: RuntimeError: no config file"),
        ("rev_exits:X", "strategy module 'rev_exits' cannot be imported: SystemExit: 0 (the module exits"),
        ("rev_parses_argv:X", "strategy module 'rev_parses_argv' cannot be imported: SystemExit: 2"),
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


FORGOT_PARAMS = """
from pydantic import BaseModel
from dita.strategy import Strategy

class Window(BaseModel):
    lookback: int = 20

class Forgot(Strategy[Window]):
    def on_bar(self, bar):
        self.params.lookback
"""


def test_a_strategy_typed_with_params_it_does_not_set_is_refused_naming_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``class Forgot(Strategy[Window])`` without ``Params = Window`` ran on NoParams: its
    ``--param lookback=5`` was refused as "this strategy takes no parameters" and, without
    one, its first bar failed on "'NoParams' object has no attribute 'lookback'"."""
    (tmp_path / "rev_forgot.py").write_text(FORGOT_PARAMS)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        message = "Forgot is declared Strategy[Window] but does not set Params: add `Params = Window`"
        with pytest.raises(StrategyLoadError, match=re.escape(message)):
            load_strategy_class("rev_forgot:Forgot")
        module = importlib.import_module("rev_forgot")
        with pytest.raises(StrategyLoadError, match=re.escape(message)):
            module.Forgot()
        result = runner.invoke(app, ["strategy", "inspect", "rev_forgot:Forgot"])
        assert result.exit_code == 2, result.output
        assert message in result.stderr
    finally:
        sys.modules.pop("rev_forgot", None)


def test_a_subclass_inherits_its_parents_params_and_no_params_stays_allowed() -> None:
    from pydantic import BaseModel

    from dita.strategy import NoParams, Strategy

    class Window(BaseModel):
        lookback: int = 20

    class Parent(Strategy[Window]):
        Params = Window

    class Child(Parent):
        pass

    class Plain(Strategy[NoParams]):
        pass

    class Untyped(Strategy):  # type: ignore[type-arg]
        pass

    assert Child({"lookback": 3}).params.lookback == 3  # type: ignore[attr-defined]
    assert isinstance(Plain().params, NoParams)
    assert isinstance(Untyped().params, NoParams)


REQUIRED_PARAMS = """
from pydantic import BaseModel
from dita.strategy import Strategy

class Needs(BaseModel):
    threshold: float
    size: float = 0.1

class Req(Strategy[Needs]):
    Params = Needs
"""


def test_a_missing_required_parameter_is_named_with_how_to_give_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A required parameter left out read as given empty: ``threshold={}: Field required``
    (pydantic's input for a missing field is the whole, here empty, parameter dict)."""
    (tmp_path / "rev_required.py").write_text(REQUIRED_PARAMS)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        out = str(tmp_path / "bt")
        result = runner.invoke(
            app, ["backtest", "--strategy", "rev_required:Req", "--data", "sample", "--out", out]
        )
        assert result.exit_code == 2, result.output
        assert (
            "invalid parameters for rev_required:Req: threshold: required, give it as "
            "--param threshold=VALUE" in result.stderr
        )
        assert "{}" not in result.stderr
        args = ["backtest", "--strategy", "rev_required:Req", "--data", "sample", "--out", out]
        result = runner.invoke(app, [*args, "--param", "size=x"])
        assert "size='x': Input should be a valid number" in result.stderr
        # A check of several parameters together names them itself: not every parameter
        # given, and not after pydantic's "Value error, ".
        args = ["backtest", "--strategy", "dita.examples.crossover:SmaCrossover", "--data", "sample"]
        result = runner.invoke(app, [*args, "--out", out, "--param", "fast=30", "--param", "slow=10"])
        assert result.exit_code == 2, result.output
        want = "invalid parameters for dita.examples.crossover:SmaCrossover: fast=30 must be below slow=10"
        assert want in " ".join(result.stderr.split())
        assert "Value error" not in result.stderr and "params=" not in result.stderr
    finally:
        sys.modules.pop("rev_required", None)


RAISING_INIT = """
from pydantic import BaseModel, Field
from dita.strategy import Strategy

def _never() -> int:
    raise LookupError("no default today")

class P(BaseModel):
    n: int = 3

class Q(BaseModel):
    n: int = Field(default_factory=_never)

class InInit(Strategy[P]):
    Params = P
    def __init__(self, params=None):
        super().__init__(params)
        raise RuntimeError("boom in init")

class InDefault(Strategy[Q]):
    Params = Q
"""


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("InInit", "RuntimeError: boom in init (at "),
        ("InDefault", "LookupError: no default today (at "),
    ],
)
@pytest.mark.parametrize("command", ["backtest", "paper"])
def test_a_strategy_that_raises_while_made_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, said: str, command: str
) -> None:
    """The strategy's own code raising in its __init__ or a parameter's default gave a
    traceback through the CLI (exit 1); it is bad input, said as an import error is."""
    (tmp_path / "rev_raising.py").write_text(RAISING_INIT)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        args = [command, "--strategy", f"rev_raising:{name}", "--data", "sample"]
        args += (
            ["--out", str(tmp_path / "bt")]
            if command == "backtest"
            else ["--state-dir", str(tmp_path / "run")]
        )
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        stderr = " ".join(result.stderr.split())
        assert f"error: strategy rev_raising:{name} could not be made: {said}" in stderr
        assert "rev_raising.py:" in stderr and "Traceback" not in result.output
    finally:
        sys.modules.pop("rev_raising", None)


CWD_STRATEGY = """
from dita.strategy import Strategy

class Mine(Strategy):
    \"\"\"A first strategy, in a file beside the user.\"\"\"
"""


@pytest.fixture
def no_cwd_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The installed ``dita`` script's sys.path: its own directory first, not the working one."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(work))])
    yield work
    for name in ("rev_cwd_mine", "rev_file_mine", "json"):
        module = sys.modules.get(name)
        if module is not None and str(tmp_path) in str(getattr(module, "__file__", "")):
            sys.modules.pop(name)


def test_a_strategy_module_in_the_working_directory_loads_as_documented(no_cwd_on_path: Path) -> None:
    """README: ``dita backtest --strategy mypackage.module:MyStrategy``. From the installed
    ``dita`` script, whose sys.path does not hold the working directory, a strategy file
    beside the user was "No module named 'rev_cwd_mine'"."""
    (no_cwd_on_path / "rev_cwd_mine.py").write_text(CWD_STRATEGY)
    assert load_strategy_class("rev_cwd_mine:Mine").__name__ == "Mine"
    result = runner.invoke(app, ["strategy", "inspect", "rev_cwd_mine:Mine"])
    assert result.exit_code == 0, result.output
    assert "A first strategy" in result.stdout


def test_a_strategy_file_path_loads(no_cwd_on_path: Path) -> None:
    """``--strategy strategies/mine.py:Mine``, the first thing a newcomer tries, was
    "No module named 'strategies/mine'"."""
    folder = no_cwd_on_path / "strategies"
    folder.mkdir()
    (folder / "rev_file_mine.py").write_text(CWD_STRATEGY)
    for ref in ("strategies/rev_file_mine.py:Mine", f"{folder}/rev_file_mine.py:Mine"):
        assert load_strategy_class(ref).__name__ == "Mine"
    with pytest.raises(StrategyLoadError, match=r"strategy file 'strategies/nope.py' does not exist"):
        load_strategy_class("strategies/nope.py:Mine")
    (folder / "json.py").write_text(CWD_STRATEGY)
    with pytest.raises(StrategyLoadError, match=r"strategies/json.py.*'json' is another module.*rename"):
        load_strategy_class("strategies/json.py:Mine")


def test_a_module_not_found_says_where_it_was_looked_for(no_cwd_on_path: Path) -> None:
    with pytest.raises(
        StrategyLoadError, match=r"No module named 'rev_nowhere'.*working directory.*FILE\.py:CLASS"
    ):
        load_strategy_class("rev_nowhere:Mine")


def test_a_strategy_file_in_a_folder_with_a_colon_loads(no_cwd_on_path: Path) -> None:
    """A folder named by a time (``runs/08:00/``) made the colon count wrong: the file was
    refused as "must be MODULE:CLASS", though the help says FILE.py:CLASS."""
    folder = no_cwd_on_path / "run-08:00"
    folder.mkdir()
    (folder / "rev_file_colon.py").write_text(CWD_STRATEGY)
    assert load_strategy_class("run-08:00/rev_file_colon.py:Mine").__name__ == "Mine"
    sys.modules.pop("rev_file_colon", None)
    with pytest.raises(StrategyLoadError, match=r"must be MODULE:CLASS"):
        load_strategy_class("a:b:Mine")


def test_a_strategy_file_whose_name_is_no_module_name_says_rename(no_cwd_on_path: Path) -> None:
    """``sma.v2.py`` was imported as module ``sma.v2`` (package ``sma``): "No module named
    'sma' ... or give the file: --strategy path/to/FILE.py:CLASS", the file given."""
    (no_cwd_on_path / "rev_sma.v2.py").write_text(CWD_STRATEGY)
    with pytest.raises(
        StrategyLoadError, match=r"strategy file 'rev_sma.v2.py': .*not a module name.*rename it"
    ) as refused:
        load_strategy_class("rev_sma.v2.py:Mine")
    assert "give the file" not in str(refused.value)


def test_a_working_directory_module_behind_an_installed_one_says_so(no_cwd_on_path: Path) -> None:
    """The working directory is searched after the Python path, so ``test.py`` or ``code.py``
    beside the user loses to the standard library's module of that name: "module 'colorsys'
    has no attribute 'Mine'" named neither the module imported nor the file passed over."""
    with pytest.raises(StrategyLoadError, match=r"^module 'colorsys' has no attribute 'Mine'$"):
        load_strategy_class("colorsys:Mine")
    (no_cwd_on_path / "colorsys.py").write_text(CWD_STRATEGY)
    with pytest.raises(
        StrategyLoadError,
        match=r"module 'colorsys' has no attribute 'Mine' \(the one imported is .*colorsys\.py, found "
        r"before colorsys\.py in the working directory: rename that file\)",
    ):
        load_strategy_class("colorsys:Mine")
