"""``dita strategy inspect MODULE:CLASS``: a strategy's parameters and subscriptions."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from dita._numbers import finite_json
from dita.cli._common import fail, out_console

__all__ = ["register"]

strategy_app = typer.Typer(help="Look at strategies without running them.", no_args_is_help=True)


@strategy_app.command("inspect")
def inspect_strategy(
    ref: Annotated[str, typer.Argument(help="Strategy as MODULE:CLASS or FILE.py:CLASS")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts")] = False,
) -> None:
    """Show the parameters (type, default, description) and subscriptions of a strategy."""
    from dita.strategy import StrategyLoadError, load_strategy_class

    try:
        cls = load_strategy_class(ref)
    except StrategyLoadError as exc:
        fail(str(exc))
    info = cls.describe()
    if json_out:
        # Strict JSON, as `dita backtest --json`: a default of inf is the text "inf", not
        # Infinity, which jq and JSON.parse refuse.
        typer.echo(json.dumps(finite_json(info, as_text=True), sort_keys=True, default=str, allow_nan=False))
        return
    console = out_console()
    console.print(Text.assemble((str(info["class"]), "bold"), f"  {info['summary']}"))
    console.print(f"data: {', '.join(info['data'])}   assets: {', '.join(info['assets'])}")
    console.print(f"callbacks: {', '.join(info['callbacks']) or 'none'}")
    table = Table(title="Parameters", title_justify="left")
    for col in ("name", "type", "default", "description"):
        table.add_column(col)
    for p in info["params"]:
        default = "(required)" if p["required"] else repr(p["default"])
        table.add_row(p["name"], p["type"], default, p["description"])
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(strategy_app, name="strategy")
