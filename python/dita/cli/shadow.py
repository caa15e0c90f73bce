"""``dita shadow``: the deterministic shadow run, printed as one JSON report."""

from __future__ import annotations

import json
from contextlib import ExitStack
from typing import TYPE_CHECKING, Annotated, Any

import typer

from dita.cli._common import (
    PROGRESS_LINE_SECONDS,
    FillRateOption,
    RejectRateOption,
    fail,
    fail_options,
    progress_report,
    stderr,
    warn,
)

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["register"]

PROGRESS_BAR_SECONDS = 0.1
"""Seconds between two updates of the progress bar."""
INTERRUPTED = 130


def shadow(
    symbols: Annotated[
        str, typer.Option(help="Comma-separated symbols (required), e.g. BTCUSDT,ETHUSDT")
    ] = "",
    iterations: Annotated[int, typer.Option(help="Quote rounds")] = 50,
    max_inv: Annotated[float, typer.Option(help="Largest notional per symbol, USD")] = 10_000.0,
    max_total: Annotated[float, typer.Option(help="Largest notional overall, USD")] = 50_000.0,
    edge_threshold: Annotated[float, typer.Option(help="Edge (bps) below which the kernel freezes")] = 1.5,
    fill_rate: FillRateOption = 0.7,
    reject_rate: RejectRateOption = 0.05,
    latency_ms: Annotated[float, typer.Option(help="Venue latency, ms")] = 100.0,
    seed: Annotated[int, typer.Option(help="Seed of the feed and the mock venue")] = 42,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr")] = True,
) -> None:
    """Quote SYMBOLS through the kernel against a seeded mock venue; print a JSON report.

    With DITA_FREEZE_UTC set the report is byte-identical across runs.
    """
    from pydantic import ValidationError

    from dita._signals import sigterm_as_interrupt
    from dita.shadow import MAX_SYMBOLS, ShadowSettings, frozen_or_now_utc, run_shadow, too_many_symbols

    try:
        frozen_or_now_utc()  # a bad DITA_FREEZE_UTC is said before the run, not at its report
    except ValueError as exc:
        fail(str(exc))

    names = [s for s in (part.strip() for part in symbols.split(",")) if s]
    if not names:
        fail("--symbols is required: give at least one symbol, e.g. --symbols BTCUSDT,ETHUSDT")
    if len(names) > MAX_SYMBOLS:
        fail(f"--symbols: {too_many_symbols(len(names))}")  # the settings would repeat every name
    try:
        settings = ShadowSettings(
            symbols=names,
            iterations=iterations,
            max_inv=max_inv,
            max_total=max_total,
            edge_threshold=edge_threshold,
            fill_rate=fill_rate,
            reject_rate=reject_rate,
            latency_ms=latency_ms,
            seed=seed,
        )
    except ValidationError as exc:
        fail_options(exc)
    done = [0]
    # SIGTERM (a supervisor's stop) ends the run as Ctrl-C does: exit 130, saying how far it got.
    restore_sigterm = sigterm_as_interrupt()
    try:
        # Drawn on a terminal only (elsewhere a line every PROGRESS_LINE_SECONDS), and cleared:
        # first the feed's read for its lowest prices (a million rounds take seconds), then the
        # run's rounds. One bar at a time, each opened when its phase first reports.
        with ExitStack() as stack:
            shown = [""]

            def bar(label: str) -> Callable[[int], None]:
                def advance(rounds: int) -> None:
                    if shown[0] != label:
                        stack.close()  # the bar before, if any, is cleared
                        shown[0] = label
                        bars[label] = stack.enter_context(
                            progress_report(
                                label,
                                "rounds",
                                settings.iterations,
                                enabled=progress,
                                line_seconds=PROGRESS_LINE_SECONDS,
                                bar_seconds=PROGRESS_BAR_SECONDS,  # a round takes microseconds
                                keep=False,
                            )
                        )
                    bars[label](rounds)

                return advance

            bars: dict[str, Callable[[int], None]] = {}
            run_bar = bar("shadow")

            def rounds_done(rounds: int) -> None:
                done[0] = rounds
                run_bar(rounds)

            report = run_shadow(
                settings, progress=rounds_done, checking=bar("shadow: reading the feed's prices")
            )
    except KeyboardInterrupt:
        # The report is of the whole run or none: a part of one reads as a run of fewer rounds.
        stderr.print(f"shadow: interrupted after {done[0]:,} of {settings.iterations:,} rounds; no report")
        raise typer.Exit(INTERRUPTED) from None
    finally:
        restore_sigterm()
    typer.echo(json.dumps(report, sort_keys=True, indent=2))
    _say_refusals(report["risk"], settings.edge_threshold)
    if "error" in report["runtime"]:
        raise typer.Exit(1)


def _say_refusals(risk: dict[str, Any], edge_threshold: float) -> None:
    """On stderr, after the report: the intents the edge freeze refused, as a plain line (they
    are what the run tests), then the kernel's other refusals as a warning, in `dita backtest`'s
    words (its routine ones not counted)."""
    from dita.runtime import refusals_said

    frozen, refused = risk["edge_frozen"], risk["refused"]
    if frozen:
        typer.echo(
            f"shadow: edge froze {frozen:,} intent{'' if frozen == 1 else 's'} "
            f"(an edge below --edge-threshold {edge_threshold:g} bps)",
            err=True,
        )
    if refused:
        warn(refusals_said(refused["refused"], refused["reasons"], refused["intents"]))


def register(app: typer.Typer) -> None:
    app.command("shadow")(shadow)
