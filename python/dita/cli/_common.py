"""Helpers shared by the runtime commands (backtest, paper, shadow, strategy, status)."""

from __future__ import annotations

import datetime
import decimal
import json
import math
import os
import re
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, get_args, get_origin

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table

from dita._files import GivenTwice, one_value_each
from dita._text import is_utf8, shortened
from dita.strategy import feed_gaps, feed_problem

__all__ = [
    "check_feed",
    "close_all",
    "cluster_options",
    "data_path",
    "default_state_dir",
    "elapsed_report",
    "fail",
    "fail_options",
    "feed_gaps",
    "feed_problem",
    "given_path",
    "hazelcast_connect_s",
    "load_strategy",
    "mock_venue",
    "open_projection",
    "option_given",
    "out_console",
    "parse_params",
    "print_table",
    "rejected_said",
    "require_finite",
    "require_utf8",
    "shown",
    "stderr",
    "validator_reason",
    "warn_rejected",
]

stderr = Console(stderr=True, markup=False, emoji=False)  # as out_console()
USAGE_ERROR = 2
UNREACHABLE = 3  # a service the command needs cannot be reached (as `dita control` says)
HAZELCAST_CONNECT_S = 5.0  # how long a command waits for its Hazelcast cluster, unless set
# Off a terminal, how often a long step (a journal query, a log's walk, a fetch, a replay) says it
# still runs; each command reads its own name for it, which a test may shorten.
PROGRESS_LINE_SECONDS = 10.0

# The options of the simulated fills, defined once so that `dita backtest` and `dita paper`
# take them under the same names, defaults and meaning (BacktestConfig checks the values;
# a test holds the defaults to its).
BalanceOption = Annotated[float, typer.Option(help="Starting balance, quote currency")]
FeeRateOption = Annotated[float, typer.Option(help="Taker fee as a fraction of notional")]
MakerFeeRateOption = Annotated[
    float | None,
    typer.Option(help="Maker fee (default: --fee-rate); negative for a rebate, down to -(--fee-rate)"),
]
SlippageBpsOption = Annotated[float, typer.Option(help="Taker price moved against each order, bps")]
LatencyMsOption = Annotated[float, typer.Option(help="Order latency at the paper venue, ms (0 to 60,000)")]
VolumeShareOption = Annotated[float, typer.Option(help="Share of a bar's volume all its asset's orders fill")]
# Their help is `dita paper`'s too, which says what leaving them out stands for after it.
MAX_SLOTS_HELP = "Kernel trade slots: trades open or working at once"
MaxSlotsOption = Annotated[int, typer.Option(help=MAX_SLOTS_HELP)]
LEVERAGE_HELP = (
    "Account leverage (above 0, up to 125): the paper venue rejects an order opening more "
    "exposure than the equity times this carries, as an exchange does (1: no more than the balance)"
)
LeverageOption = Annotated[float, typer.Option(help=LEVERAGE_HELP)]
# Of the data a replay reads (`dita backtest --data`, `dita paper --data`).
AllowGapsOption = Annotated[bool, typer.Option(help="Accept missing bars instead of refusing the data")]
BALANCE = 10_000.0
FEE_RATE = 0.001
SLIPPAGE_BPS = 2.0
LATENCY_MS = 0.0
VOLUME_SHARE = 0.1
MAX_SLOTS = 64
LEVERAGE = 1.0

# Where `dita paper` writes its state file and `dita status`, `orders` and `pnl` read it when
# no --state-dir is given (``dita.cli._state.default_state_dir``), as their help says.
STATE_DIR_DEFAULT = "$DITA_STATE_DIR or var/run"

# The native mock venue's behaviours, defined once for `dita stdio`, `dita serve` and
# `dita shadow`. Each command sets its defaults: stdio and serve keep the mock's own (fill
# at once, in full); shadow's quoter runs against a venue that misses and rejects some.
FillRateOption = Annotated[float, typer.Option(help="Chance an order fills at once, 0..1")]
RejectRateOption = Annotated[float, typer.Option(help="Chance the venue rejects an order, 0..1")]
PartialFillRateOption = Annotated[
    float, typer.Option(help="Chance a filling order fills only --partial-fill-ratio of it, 0..1")
]
PartialFillRatioOption = Annotated[
    float | None,
    typer.Option(
        help="Share of the order a partial fill fills, between 0 and 1 (default 0.5;"
        " needs --partial-fill-rate)",
        show_default=False,
    ),
]
RateLimitRateOption = Annotated[float, typer.Option(help="Chance the venue rate-limits an order, 0..1")]
VenueSeedOption = Annotated[int, typer.Option(min=0, help="Seed of the mock venue's draws")]


def given_path(text: str) -> Path:
    """A path option's parser: ``""`` is refused. Taken as given, it is ``Path("")``, the current
    directory: an unset variable in ``--wal-dir "$WAL_DIR"`` would write the log where the
    command runs."""
    if not text.strip():
        raise typer.BadParameter(f"must name a path, got {text!r}")
    return Path(text)


@contextmanager
def progress_report(
    label: str,
    unit: str,
    total: int,
    *,
    enabled: bool,
    line_seconds: float,
    bar_seconds: float = 0.0,
    rate: bool = False,
    keep: bool = True,
) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for a long run, and the ``advance(done)`` that moves it.

    Where stderr is not a terminal (a pipe, a CI log), a line ``<label>: N of M <unit> (P%)``
    says how far the run is every ``line_seconds``, and the bar is drawn once, at the end,
    when it is ``keep`` (else it is drawn on a terminal only, and cleared when done).
    ``bar_seconds``: the least time between two updates, for a run of steps of microseconds,
    where updating each time costs a share of the run. ``rate``: ``<unit>/s`` beside the bar
    and in the lines."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    terminal = stderr.is_terminal
    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn()]
    if rate:
        columns.append(TextColumn("{task.fields[rate]}"))
    with Progress(
        *columns,
        TimeRemainingColumn(),
        console=stderr,
        disable=not enabled or not (keep or terminal),
        transient=not keep,
    ) as bar:
        task = bar.add_task(label, total=total, rate="")
        drawn = said = time.monotonic()

        def advance(done: int) -> None:
            nonlocal drawn, said
            now = time.monotonic()
            if now - drawn < bar_seconds:
                return
            drawn = now
            elapsed = bar.tasks[0].elapsed or 0.0
            shown = f"{done / elapsed:,.0f} {unit}/s" if rate and elapsed > 0 else ""
            bar.update(task, completed=done, rate=shown)
            if enabled and not terminal and now - said >= line_seconds:
                said = now
                stderr.print(f"{label}: {done:,} of {total:,} {unit} ({done / total:.0%}) {shown}".rstrip())

        yield advance


@contextmanager
def elapsed_report(
    label: str, *, enabled: bool, line_seconds: float = PROGRESS_LINE_SECONDS
) -> Iterator[None]:
    """Progress of one long step whose end cannot be foreseen (a journal query), on stderr:
    a spinner with the time taken on a terminal, cleared when done; elsewhere (a pipe, a CI
    log) a line ``<label>: still running after N s`` every ``line_seconds``. A step over
    before the first line says nothing off a terminal."""
    if not enabled:
        yield
        return
    if stderr.is_terminal:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        # The label as its text: a path may hold braces or brackets.
        text = TextColumn("{task.description}", markup=False)
        with Progress(SpinnerColumn(), text, TimeElapsedColumn(), console=stderr, transient=True) as bar:
            bar.add_task(label, total=None)
            yield
        return
    done = threading.Event()
    started = time.monotonic()

    def tell() -> None:
        while not done.wait(line_seconds):
            took = time.monotonic() - started
            print(f"{label}: still running after {took:.0f} s", file=sys.stderr, flush=True)

    teller = threading.Thread(target=tell, name="dita-elapsed", daemon=True)
    teller.start()
    try:
        yield
    finally:
        done.set()
        teller.join()


def out_console() -> Console:
    """stdout for tables: the terminal's width, or wide enough not to cut cells when piped.
    Text is printed as it is: no Rich markup or emoji codes, since what the commands print
    (kernel ids, assets, strategy names, notes) comes from users, logs and the cluster, where
    ``btc[/b]`` is a kernel id and not an error (styles go through ``Text``)."""
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 200, markup=False, emoji=False)


def shown(text: Any) -> str:
    """``text`` for a table or line on a terminal, every character Python does not take for
    printable written as its escape, as repr writes it (``\\x1b``, ``\\u202e``): C0/C1 controls
    (ESC starts a sequence that moves the cursor, erases lines or hides text; Rich drops CR and
    BS), the bidirectional overrides and isolates, which reorder what follows them, and other
    invisible characters. Kernel ids, notes, names and query results come from state files, the
    cluster and users, where one holding ``\\x1b[1A\\x1b[2K`` would erase the line above it."""
    written = str(text)
    if written.isprintable():
        return written
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in written)


def fail(message: str, code: int = USAGE_ERROR) -> NoReturn:
    """Print ``error: message`` on stderr and exit (2: bad arguments or data)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def data_path(data: str) -> Path:
    """``--data``'s file: ``sample`` is the shipped sample bars; ``""`` is refused (exit 2)
    naming the option: as a path it would be the current directory."""
    from dita.data import SAMPLE_BARS

    if not data.strip():
        fail(f"--data must name a .csv, .csv.gz or .parquet file, or 'sample'; got {data!r}")
    return SAMPLE_BARS if data == "sample" else Path(data)


def warn(message: str) -> None:
    """Print ``warning: message`` on stderr and go on."""
    typer.echo(f"warning: {message}", err=True)


def rejected_said(orders: int, reasons: str) -> str:
    """``the venue rejected N orders: <reasons>`` (``VenueRejections.text``)."""
    return f"the venue rejected {orders:,} order{'' if orders == 1 else 's'}: {reasons}"


def warn_rejected(orders: int, reasons: str) -> None:
    """Say the ``orders`` the venue rejected, with their reasons: the kernel took them, so the
    strategy's outcome reads accepted, and a run without trades would read as one whose
    strategy chose not to trade."""
    warn(rejected_said(orders, reasons))


def close_all(*resources: Any) -> None:
    """Close each resource given (None stands for one that was not opened)."""
    for resource in resources:
        if resource is not None:
            resource.close()


def default_state_dir() -> Path:
    """$DITA_STATE_DIR, else var/run, as the commands' help says (``STATE_DIR_DEFAULT``). Set but
    empty, it is taken as unset: ``Path("")`` would be the directory the command runs in."""
    return Path(os.environ.get("DITA_STATE_DIR") or "var/run")


def directory_path_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a directory: itself, or the nearest of its parents that exists, is
    a file, which would fail ``mkdir`` (FileExistsError, NotADirectoryError) once the command has
    begun. None when it is a directory or can be made one."""
    for place in (path, *path.parents):
        if place.is_dir():
            return None
        if place.exists():
            if place == path:
                return f"{path} is a file; give a directory"
            return f"{path}: {place} is a file, not a directory; give a directory"
    return None


def require_directory_path(path: Path, named: str) -> None:
    """Exit 2 naming ``named`` (the option or variable that gives ``path``) unless ``path`` is a
    directory or can be made one (``directory_path_problem``)."""
    problem = directory_path_problem(path)
    if problem is not None:
        fail(f"{named} {problem}")


def option_given(ctx: typer.Context, name: str) -> bool:
    """Whether the command's parameter ``name`` was given (on its command line or through the
    environment), not left to its default."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def require_kernel_id(kernel_id: str, option: str = "--kernel-id") -> None:
    """Exit 2 naming ``option`` unless a kernel can take ``kernel_id`` (``kernel_id_problem``):
    checked before any directory is made, as the kernel would refuse it only once its log is opened."""
    from dita.control import kernel_id_problem

    require_utf8(option, kernel_id)  # its bytes shown as given, not as Python's surrogates
    problem = kernel_id_problem(kernel_id)
    if problem is not None:
        fail(f"{option} {shortened(repr(kernel_id))}: {problem}")


def cluster_options(
    members: str | Sequence[str] | None,
    name: str | None,
    *,
    members_option: str = "--hazelcast",
    name_option: str = "--hz-cluster",
    announce: bool = False,
) -> tuple[tuple[str, ...], str]:
    """Cluster members and name (None: $DITA_HAZELCAST_MEMBERS / $DITA_HAZELCAST_CLUSTER, else the
    member file `dita services hazelcast start` wrote, else the defaults), checked before
    connecting: a bad one exits 2 naming the option or variable it came from, not 1 or 3 after the
    connect timeout as if the cluster were down. With ``announce`` the choice is said on stderr,
    with where each part came from, and a member file not used is said as a warning."""
    from dita.cli._cluster_choice import ClusterChoiceError, choose_cluster

    try:
        choice = choose_cluster(
            members, name, default_state_dir(), members_option=members_option, name_option=name_option
        )
    except ClusterChoiceError as exc:
        fail(str(exc))
    if announce:
        for note in choice.notes:
            warn(note)
        typer.echo(shown(choice.said()), err=True)
    return choice.members, choice.name


def open_projection(
    members: str | Sequence[str],
    cluster: str | None,
    option: str = "--hazelcast",
    cluster_option: str = "--hz-cluster",
) -> Any:
    """A Hazelcast projection into ``members`` (host:port, comma-separated) of cluster
    ``cluster`` (None: $DITA_HAZELCAST_CLUSTER, else the member file's for those members, else
    ``dita``), connected: a kernel started with a projection nobody can reach would trade with
    operators blind. The cluster is said on stderr; bad members or cluster name exit 2
    (``cluster_options``), a cluster not reached within ``hazelcast_connect_s()`` 3, with
    nothing left open."""
    from dita.projection.hazelcast import HazelcastProjection

    addresses, name = cluster_options(
        members, cluster, members_option=option, name_option=cluster_option, announce=True
    )
    wait = hazelcast_connect_s()
    proj = HazelcastProjection(addresses, name)
    deadline = time.monotonic() + wait
    while not proj.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    if not proj.connected:
        proj.close()
        fail(
            f"{option}: cannot reach Hazelcast cluster {name!r} at {', '.join(addresses)} within {wait:g}s",
            code=UNREACHABLE,
        )
    return proj


def hazelcast_connect_s() -> float:
    """How long a command waits for its Hazelcast cluster before it exits 3:
    $DITA_HAZELCAST_CONNECT_S seconds, else ``HAZELCAST_CONNECT_S``. A value that is not a
    positive finite number exits 2 naming the variable, before anything is opened."""
    raw = os.environ.get("DITA_HAZELCAST_CONNECT_S")
    if raw is None:
        return HAZELCAST_CONNECT_S
    try:
        value = float(raw)
    except ValueError:
        fail(f"$DITA_HAZELCAST_CONNECT_S must be a number of seconds, got {raw!r}")
    require_finite("$DITA_HAZELCAST_CONNECT_S", value)
    return value


def require_finite(option: str, value: float, *, allow_zero: bool = False, hint: str = "") -> None:
    """Exit 2 unless ``value`` is finite and above zero (or zero too, with ``allow_zero``).

    NaN compares false with everything, so ``value <= 0`` alone lets it through."""
    if math.isfinite(value) and (value > 0 or (allow_zero and value == 0)):
        return
    fail(f"{option}={value!r} must be {'zero or more' if allow_zero else 'positive'} and finite{hint}")


def require_cluster_timeout(timeout: float) -> None:
    """Exit 2, before connecting, unless --timeout (how long a command waits for the cluster's
    answers) is above 0 and up to 300 seconds."""
    from dita._numbers import within

    if not within(timeout, 0, 300) or timeout == 0:
        fail(f"--timeout={timeout!r} must be above 0 and up to 300 seconds")


def mock_venue(
    *,
    fill_rate: float = 1.0,
    reject_rate: float = 0.0,
    partial_fill_rate: float = 0.0,
    partial_fill_ratio: float | None = None,
    rate_limit_rate: float = 0.0,
    seed: int = 0,
) -> Any:
    """The native mock venue with these behaviours; a value it refuses exits 2 naming the
    option (``--fill-rate=1.5: ...``). Each is tried alone, so the venue's own rules decide
    and the message names the option, not the venue's field.

    ``partial_fill_ratio`` None is the venue's 0.5. A partial-fill ratio given without a
    partial-fill rate, or a partial-fill rate where no order fills, would change nothing:
    it exits 2 naming the options, as the user believes the venue fills in part."""
    from dita._kernel import MockVenueAdapter

    settings: dict[str, Any] = {
        "fill_rate": fill_rate,
        "reject_rate": reject_rate,
        "partial_fill_rate": partial_fill_rate,
        "partial_fill_ratio": 0.5 if partial_fill_ratio is None else partial_fill_ratio,
        "rate_limit_rate": rate_limit_rate,
        "seed": seed,
    }
    for field, value in settings.items():
        try:
            MockVenueAdapter(**{field: value})
        except (ValueError, TypeError, OverflowError) as exc:
            option = "--venue-seed" if field == "seed" else "--" + field.replace("_", "-")
            # "invalid fill_rate: 1.5 (must be ...)": the option and value are named already.
            rule = re.fullmatch(r"invalid \w+: .*? \((.*)\)", str(exc))
            fail(f"{option}={value!r}: {rule.group(1) if rule else exc}")
    if partial_fill_ratio is not None and partial_fill_rate == 0:
        fail(
            f"--partial-fill-ratio={partial_fill_ratio!r} has no effect without a --partial-fill-rate above 0"
        )
    if partial_fill_rate > 0:
        for option, value, no_fill in (
            ("--fill-rate", fill_rate, 0.0),
            ("--reject-rate", reject_rate, 1.0),
            ("--rate-limit-rate", rate_limit_rate, 1.0),
        ):
            if value == no_fill:
                fail(
                    f"--partial-fill-rate={partial_fill_rate!r} has no effect: "
                    f"with {option}={value!r} no order fills"
                )
    return MockVenueAdapter(**settings)


_FIELD_IS = re.compile(r"(?<![\w-])([a-z][a-z0-9_]*)=")


def fail_options(exc: ValidationError, options: Mapping[str, str] | None = None) -> NoReturn:
    """Exit 2 naming each option a settings model refused (its field ``fee_rate`` is ``--fee-rate``,
    unless ``options`` names the field's option: ``{"exchange": "--ccxt-exchange"}``).

    A refusal of several options together (a model validator's) has no one option to name: its
    message, which names the fields it compares as ``field=value``, is given alone with those
    fields spelt as options (``fill_rate=0.7`` is ``--fill-rate=0.7``)."""
    named = options or {}

    def option(field: str) -> str:
        return named.get(field) or "--" + field.replace("_", "-")

    problems = []
    for e in exc.errors():
        msg = validator_reason(e["msg"])
        if not e["loc"]:
            problems.append(_FIELD_IS.sub(lambda m: option(m[1]) + "=", msg))
            continue
        problems.append(f"{option(str(e['loc'][0]))}={e.get('input')!r}: {msg}")
    fail("; ".join(problems))


def validator_reason(msg: str) -> str:
    """A validator's own message without the prefix pydantic puts before it: "Value error, "
    (a ValueError it raised) or "Assertion failed, " (an assert)."""
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg.removeprefix(prefix)
    return msg


def parse_params(pairs: Sequence[str], params_json: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    """``--param fast=10 --param allow_short=false`` and/or ``--params '{"fast": 10}'``: the
    values (each ``--param`` read as JSON where it is JSON, else as text), and the text of each
    ``--param`` as written, which ``load_strategy`` takes where the model refuses the JSON
    reading (``--param tag=2024`` for a text parameter). A name given twice in ``--params``, or
    by two ``--param``, exits 2 naming both values (dropping one without a word would hide that
    the second was likely meant for another name); a ``--param`` overrides ``--params``."""
    out: dict[str, Any] = {}
    texts: dict[str, str] = {}
    if params_json:
        try:
            loaded = json.loads(params_json, object_pairs_hook=one_value_each)
        except GivenTwice as exc:
            fail(f"--params gives {exc.key!r} more than once ({exc.first!r}, then {exc.then!r})")
        except json.JSONDecodeError as exc:
            fail(f"--params is not valid JSON: {exc}")
        if not isinstance(loaded, dict):
            fail(f"--params must be a JSON object, got {params_json!r}")
        out.update(loaded)
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            fail(f"--param {pair!r} must be NAME=VALUE")
        if key in texts:
            fail(f"--param {key} is given more than once ({texts[key]!r}, then {raw!r})")
        texts[key] = raw
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out, texts


def load_strategy(ref: str, params: Mapping[str, Any], texts: Mapping[str, str] | None = None) -> Any:
    """Instantiate ``MODULE:CLASS`` with ``params``; bad references or parameters exit 2.
    ``texts``: the ``--param`` values as written (``parse_params``)."""
    from dita.strategy import StrategyLoadError, load_strategy_class

    try:
        cls = load_strategy_class(ref)
    except StrategyLoadError as exc:
        fail(str(exc))
    try:
        return cls(_as_written(cls.Params, params, texts or {}))
    except ValidationError as exc:
        fail(f"invalid parameters for {ref}: {'; '.join(map(_param_problem, exc.errors()))}")
    except Exception as exc:
        # The strategy's own code (its __init__, a parameter's default_factory) raised: said in
        # one line with where, as an import error is, not a traceback through the CLI.
        fail(f"strategy {ref} could not be made: {type(exc).__name__}: {exc}{_raised_at(exc)}")


def _as_written(model: Any, params: Mapping[str, Any], texts: Mapping[str, str]) -> dict[str, Any]:
    """``params`` with each ``--param`` the model refuses as JSON read it (``tag=2024`` is the
    number 2024, which a ``str`` field refuses) taken as the text written, where the model
    takes that; the rest as they were, so a value neither reading passes is refused as JSON
    read it (and one ``--params`` gave, typed JSON, is never changed)."""
    from dita.strategy import validate_params

    values = dict(params) | _read_for_their_fields(model, params, texts)
    try:
        validate_params(model, values)
        return values
    except ValidationError as exc:
        refused = _refused(exc)
    keys = {k for k in refused if k in texts and not isinstance(values.get(k), str)}
    if not keys:
        return values
    try:
        validate_params(model, values | {k: texts[k] for k in keys})
        still: set[Any] = set()
    except ValidationError as again:
        still = _refused(again)
    return values | {k: texts[k] for k in keys - still}


def _read_for_their_fields(model: Any, params: Mapping[str, Any], texts: Mapping[str, str]) -> dict[str, Any]:
    """Each ``--param`` whose field the JSON reading would misread, read for it: one holding a
    Decimal with each number as written (JSON reads ``12345678901234567.89`` as a float, which
    keeps 17 digits). Raises a ValidationError naming each date or datetime field given an
    integer, which pydantic reads as seconds since 1970 (``start=20240105`` as 1970-08-23)."""
    from pydantic_core import PydanticCustomError

    from dita.strategy.params import input_names

    read: dict[str, Any] = {}
    errors: list[Any] = []
    fields = input_names(model) if isinstance(model, type) and issubclass(model, BaseModel) else {}
    for key, text in texts.items():
        if key not in fields or isinstance(params.get(key), str):
            continue
        kinds = _types_in(model.model_fields[fields[key]].annotation)
        if decimal.Decimal in kinds:
            read[key] = json.loads(text, parse_float=decimal.Decimal)
        given = params.get(key)
        takes_a_number = bool(kinds & {int, float, decimal.Decimal})
        if kinds & {datetime.date, datetime.datetime} and not takes_a_number:
            if isinstance(given, int | float) and not isinstance(given, bool):
                said = "Input should be a date or time written as one (2024-01-05), not a number"
                errors.append({"type": PydanticCustomError("date_type", said), "loc": (key,), "input": text})
    if errors:
        raise ValidationError.from_exception_data(model.__name__, errors)
    return read


def _types_in(declared: Any) -> set[Any]:
    """Each class ``declared`` names, at any depth (``list[Decimal] | None``: list, Decimal,
    NoneType)."""
    found: set[Any] = {declared} if isinstance(declared, type) else set()
    for arg in get_args(declared):
        found |= _types_in(arg)
    origin = get_origin(declared)
    if isinstance(origin, type):
        found.add(origin)
    return found


def _refused(exc: ValidationError) -> set[Any]:
    """The parameters ``exc`` refuses by name (not a check of several together)."""
    return {e["loc"][0] for e in exc.errors() if e["loc"]}


def _raised_at(exc: BaseException) -> str:
    """`` (at FILE:LINE)``, the innermost frame ``exc`` was raised in; '' without one."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f" (at {frames[-1].filename}:{frames[-1].lineno})" if frames else ""


def _param_problem(error: Any) -> str:
    """One parameter's validation error: its name, the value given and the reason. A missing
    one has no value (pydantic gives the whole parameter dict as its input), nor has a
    refusal of several together (a model validator's, whose message names them)."""
    msg = validator_reason(error["msg"])
    if not error["loc"]:
        return msg
    name = ".".join(str(p) for p in error["loc"])
    if error["type"] == "missing":
        return f"{name}: required, give it as --param {name}=VALUE"
    return f"{name}={error.get('input')!r}: {msg}"


def check_feed(strategy: Any, kind: str, assets: Sequence[str], *, source: str = "--data") -> None:
    """Exit 2 when ``strategy`` would see none of the feed (``feed_problem``); say on stderr
    which of its declared assets the feed lacks when it has only some (``feed_gaps``)."""
    problem = feed_problem(strategy, kind, assets, source=source)
    if problem:
        fail(problem)
    gaps = feed_gaps(strategy, assets, source=source)
    if gaps:
        warn(gaps)


def print_table(title: str, rows: Sequence[tuple[str, Any]], console: Console | None = None) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("", style="bold")
    table.add_column("", justify="right")
    for key, value in rows:
        table.add_row(key, _fmt(value))
    (console or out_console()).print(table)


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.4f}" if abs(v) < 10 else f"{v:,.2f}"
    return str(v)


def require_utf8(option: str, value: str, shown: str | None = None) -> None:
    """Exit 2 unless ``value`` is valid UTF-8 text (``is_utf8``); the refusal names ``shown``
    (``value`` with a secret masked) when given, else ``value``."""
    if not is_utf8(value):
        text = value if shown is None else shown
        shown = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        fail(f"{option} is not valid UTF-8: {shown}")


def listen_socket(host: str, port: int) -> socket.socket:
    """The bound listening socket; an address that cannot be bound (port taken, unknown host,
    no permission) exits 2: a setting to change, unlike a cluster away (3)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: restart over TIME_WAIT
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        fail(f"cannot listen on {url_authority(host, port)}: {exc.strerror or exc}")
    return sock


def url_authority(host: str, port: int) -> str:
    """``host:port`` as a URL writes it: an IPv6 address in brackets (``[::1]:8080``)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
