"""A strategy class found by its ``MODULE:CLASS`` or ``path/to/file.py:CLASS`` reference
(``load_strategy_class``), with a clear error for every way the reference can be wrong."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from dita.strategy.base import Strategy
from dita.strategy.checks import StrategyLoadError


def load_strategy_class(ref: str) -> type[Strategy[Any]]:
    """``"package.module:ClassName"`` (found in the working directory too, as ``python -m``
    finds it) or ``"path/to/file.py:ClassName"`` to the class, with a clear error for every way
    it can be wrong."""
    # The last colon: a file's path may hold one (a folder named by a time, ``runs/08:00/``).
    module_name, _, class_name = ref.rpartition(":")
    if ref.count(":") != 1 and not module_name.endswith(".py"):
        raise StrategyLoadError(
            f"strategy {ref!r} must be MODULE:CLASS, e.g. dita.examples.crossover:SmaCrossover"
        )
    if not module_name or not class_name:
        raise StrategyLoadError(f"strategy {ref!r} must be MODULE:CLASS with both parts")
    if module_name.endswith(".py"):
        module = _import_strategy_file(module_name)
    else:
        # As ``python -m`` does, a module in the working directory is found: the installed
        # ``dita`` script's path does not hold it. Appended, so it shadows no installed module.
        if os.getcwd() not in sys.path:
            sys.path.append(os.getcwd())
        module = _import_strategy_module(module_name)
    cls = getattr(module, class_name, None)
    if cls is None:
        raise StrategyLoadError(
            f"module {module_name!r} has no attribute {class_name!r}{_passed_over(module_name, module)}"
        )
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise StrategyLoadError(f"{ref!r} is not a dita.strategy.Strategy subclass")
    cls.check_subscriptions()
    return cls


def _passed_over(module_name: str, module: ModuleType) -> str:
    """A note when the working directory holds a module of that name that was not the one
    imported: it comes last on the path, so ``test.py`` loses to the standard library's."""
    here = Path.cwd()
    top = module_name.split(".")[0]
    local = next((p for p in (here / f"{top}.py", here / top) if p.exists()), None)
    found = getattr(module, "__file__", None)
    if local is None or (found is not None and Path(found).resolve().is_relative_to(here.resolve())):
        return ""
    return (
        f" (the one imported is {found or 'built in'}, found before {local.name} in the working "
        "directory: rename that file)"
    )


def _import_strategy_module(module_name: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:
        # The module is the user's code: a syntax error or an exception at import (or a relative
        # name like ".mod") is bad input to report, not a traceback. A sys.exit at import (a
        # script's argparse) would end the command with its code and no word of the strategy.
        hint = ""
        if isinstance(exc, SystemExit):
            hint = (
                " (the module exits at import: sys.exit or argparse at its top level; put a script's "
                'own run under if __name__ == "__main__":)'
            )
        elif isinstance(exc, ModuleNotFoundError) and exc.name == module_name.split(".")[0]:
            hint = (
                " (looked in the working directory and the Python path; "
                "or give the file: --strategy path/to/FILE.py:CLASS)"
            )
        raise StrategyLoadError(
            f"strategy module {module_name!r} cannot be imported: {type(exc).__name__}: {exc}{hint}"
        ) from exc


def _import_strategy_file(file_name: str) -> ModuleType:
    """``path/to/name.py`` imported as module ``name`` with its directory on the path, as
    ``python path/to/name.py`` would find it and its neighbours."""
    path = Path(file_name).expanduser()
    if not path.is_file():
        raise StrategyLoadError(f"strategy file {file_name!r} does not exist")
    if "." in path.stem:
        # Imported by its name, ``sma.v2`` would be module ``v2`` of a package ``sma``: "No
        # module named 'sma'", with a hint to give the file, which was given.
        raise StrategyLoadError(
            f"strategy file {file_name!r}: {path.stem!r} is not a module name (a dot in it "
            f"means a package); rename it, e.g. {path.stem.replace('.', '_')}.py"
        )
    path = path.resolve()
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))
    module = _import_strategy_module(path.stem)
    found = getattr(module, "__file__", None)
    if found is None or Path(found).resolve() != path:
        raise StrategyLoadError(
            f"strategy file {file_name!r}: its module name {path.stem!r} is another module's "
            f"({found or 'built in'}); rename the file"
        )
    return module
