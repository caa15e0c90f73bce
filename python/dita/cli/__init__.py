"""The ``dita`` command line.

Each command group lives in its own module under ``dita.cli`` with a ``register(app)``
function; add the module name to ``COMMAND_MODULES`` to expose it.
"""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

from dita.logs import LOG_FORMATS, configure_logging, configure_logging_from_env

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


@app.callback()
def _logging_options(
    log_format: Annotated[
        str | None,
        typer.Option(
            "--log-format",
            metavar="text|json",
            help=f"How log lines are written to stderr: {' or '.join(LOG_FORMATS)} (one JSON object a line)",
            show_default=False,
        ),
    ] = None,
    log_level: Annotated[
        list[str] | None,
        typer.Option(
            "--log-level",
            metavar="COMPONENT=LEVEL",
            help="A logger's level (dita.kernel=DEBUG, dita.venues.ccxt=INFO), or LEVEL for dita; repeatable",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Logging, for every command: the options, else DITA_LOG_FORMAT and DITA_LOG_LEVEL, else
    Python's default (warnings and errors on stderr, as bare messages)."""
    if log_format is None and not log_level:
        try:
            configure_logging_from_env()
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        return
    try:
        configure_logging(format=log_format or "text", levels=log_level)
    except ValueError as exc:
        hint = "--log-format" if str(exc).startswith("log format") else "--log-level"
        raise typer.BadParameter(str(exc), param_hint=hint) from None


for _name in COMMAND_MODULES:
    importlib.import_module(f"dita.cli.{_name}").register(app)


def main() -> None:
    from dita._signals import ignore_sigterm_once_closed

    ignore_sigterm_once_closed()
    # Named as the installed command, also when run as `python -m dita` or `-m dita.cli`.
    app(prog_name="dita")
