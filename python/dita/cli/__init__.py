"""The ``dita`` command line.

Each command group lives in its own module under ``dita.cli`` with a ``register(app)``
function; add the module name to ``COMMAND_MODULES`` to expose it.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="dita",
    help="dita: a trading execution kernel with a Rust core.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

COMMAND_MODULES: tuple[str, ...] = (
    "demo",
    "journal",
    "gateway",
    "backtest",
    "shadow",
    "paper",
    "live",
    "strategy",
    "status",
    "services",
    "control",
    "wal",
    "rebalance",
)

for _name in COMMAND_MODULES:
    importlib.import_module(f"dita.cli.{_name}").register(app)


def main() -> None:
    from dita._signals import ignore_sigterm_to_exit

    try:
        # Named as the installed command, also when run as `python -m dita` or `-m dita.cli`.
        app(prog_name="dita")
    finally:
        ignore_sigterm_to_exit()
