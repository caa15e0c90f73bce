"""The configuration of a ``dita live`` run: one TOML file, validated whole before anything starts.

Every table refuses keys it does not know, and every problem is one line naming the key path
and the value given (``venue.market_type: 'futures' is not one of 'spot', 'linear'``), so a
typo in a limit is never a limit silently off. The file names the environment variables that
hold the venue's keys and the gateway's token, never the secrets themselves; a variable that is
not set is a problem of the file, named with the key that names it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from dita._files import NestedTooDeeply, config_file_text, parsed
from dita._numbers import OptionalPlainCount, PlainCount, PlainNumber
from dita.gateway.config import TOKEN_MIN_LENGTH, ListenHost, check_token
from dita.risk import KERNEL_MAX, RiskLimits
from dita.runtime.dead_man import DeadManSettings
from dita.venues._settings import FEE_RATE_BOUND

__all__ = [
    "ConfigError",
    "GatewayTable",
    "JournalTable",
    "LiveConfig",
    "LogTable",
    "LoggingTable",
    "PaperTable",
    "ProjectionTable",
    "StrategyTable",
    "VenueTable",
    "configures_a_run",
    "load_config",
    "parse_config",
]

Mode = Literal["paper", "live"]
# Without the user stream each poll asks REST about each working order (venues.md's weight
# table): at 2 s, 10 orders use 1,200 of Binance spot's 6,000 a minute; a fill is heard in 2 s.
POLL_INTERVAL_S = 2.0


class _Table(BaseModel):
    # The numbers are ``dita._numbers``' plain ones: a TOML number is typed, and pydantic would
    # take `max_slots = true` for 1 and `balance = "1e4"` for 10000.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _not_blank(path: object) -> object:
    # Pydantic reads "" as Path("."): the files would go to whatever directory the run started in.
    if isinstance(path, str) and not path.strip():
        raise ValueError("blank: give a directory, or leave the key out for the default")
    return path


Directory = Annotated[Path | None, BeforeValidator(_not_blank)]


class VenueTable(_Table):
    """Where the run trades (``live``) or reads its market data (``paper``)."""

    exchange: str = Field(min_length=1, description="ccxt exchange id, e.g. binance")
    market_type: Literal["spot", "linear"] = "spot"
    # Names of environment variables: the file never holds a key.
    api_key_env: str = Field(default="DITA_CCXT_API_KEY", min_length=1)
    secret_env: str = Field(default="DITA_CCXT_SECRET", min_length=1)
    base_url: str | None = Field(
        default=None, description="the exchange's API root (a local server in tests)"
    )
    symbols: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    bar_interval: str = Field(default="1m", min_length=1, description="kline interval of the bars")
    user_stream: bool = Field(default=True, description="live: the account's fills streamed as they happen")
    poll_interval: PlainNumber = Field(
        default=POLL_INTERVAL_S,
        gt=0,
        description="live: the fewest seconds between two polls of the venue about its working orders",
    )


class StrategyTable(_Table):
    strategy: str = Field(min_length=1, description='"MODULE:CLASS" or "FILE.py:CLASS"')
    name: str | None = Field(
        default=None, description="the strategy's name, its trade ids' (default: the class name)"
    )
    params: dict[str, Any] = Field(default_factory=dict)
    max_slots: OptionalPlainCount = Field(
        default=None, ge=1, description="slots this strategy may hold at once"
    )
    source_run: str | None = Field(
        default=None, min_length=1, description="the research run its parameters come from"
    )

    @field_validator("name")
    @classmethod
    def _a_name(cls, name: str | None) -> str | None:
        from dita.runtime.strategies import RESTART_MARK
        from dita.strategy.checks import strategy_name

        if name is None:
            return None
        if strategy_name(name) is None:  # its ValueError names a blank one, or a control character
            raise ValueError("empty: give a name, or leave the key out for the class name")
        if RESTART_MARK.search(name):
            # ``trend-r5-t1`` would read as strategy ``trend``'s trade after a restart.
            raise ValueError("ends like a restart mark (-r<digits>), which makes its trade ids another's")
        return name

    @field_validator("source_run")
    @classmethod
    def _not_blank(cls, source_run: str | None) -> str | None:
        if source_run is not None and not source_run.strip():
            raise ValueError("blank: give the id of the research run, or leave the key out")
        return source_run


class PaperTable(_Table):
    """The paper venue's money and fees (mode ``paper``), bounded as the paper venue's are."""

    balance: PlainNumber = Field(default=10_000.0, gt=0, le=KERNEL_MAX)
    fee_rate: PlainNumber = Field(default=0.001, ge=0, lt=FEE_RATE_BOUND)


class LogTable(_Table):
    wal_dir: Directory = Field(default=None, description="default: <state_dir>/wal/<kernel_id>")
    fsync: Literal["always", "batch", "none"] = "always"


class LoggingTable(_Table):
    """How the run's log lines are written (docs/reference/logging.md); the command line's
    ``--log-format``/``--log-level`` and ``DITA_LOG_FORMAT``/``DITA_LOG_LEVEL`` come first."""

    format: Literal["text", "json"] = "text"
    levels: dict[str, str] = Field(default_factory=dict, description="component -> level")

    @field_validator("levels")
    @classmethod
    def _known_levels(cls, levels: dict[str, str]) -> dict[str, str]:
        from dita.logs import parse_levels

        parse_levels(levels)  # its ValueError names the component and the level
        return levels


class JournalTable(_Table):
    enabled: bool = True
    dsn: str | None = Field(default=None, description="default: chdb://<state_dir>/journal/<kernel_id>")

    @field_validator("dsn")
    @classmethod
    def _a_dsn(cls, dsn: str | None) -> str | None:
        from dita.journal.dsn import parse_dsn

        if dsn is not None:
            parse_dsn(dsn)  # its ValueError names what is wrong
        return dsn


class ProjectionTable(_Table):
    kind: Literal["memory", "hazelcast"] = "memory"
    members: str | None = Field(default=None, description="hazelcast: host:port,...")
    cluster: str | None = Field(default=None, description="hazelcast: the cluster name")

    @field_validator("members", "cluster")
    @classmethod
    def _of_a_cluster(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Taken as memory, a run meant for the cluster would not hear its control plane: a
        # HALTED set there for every kernel would leave this one trading.
        if value is not None and info.data.get("kind") == "memory":
            raise ValueError(
                "names a Hazelcast cluster, which kind = 'memory' (the default) does not use: "
                "give kind = 'hazelcast' too, or leave it out"
            )
        return value


class GatewayTable(_Table):
    enabled: bool = True
    host: ListenHost = "127.0.0.1"
    port: PlainCount = Field(default=8080, ge=0, le=65535)
    token_env: str | None = Field(default=None, description="the variable that holds the bearer token")


class LiveConfig(_Table):
    """One ``dita live`` run (docs/reference/configuration.md, "dita live")."""

    mode: Mode = "paper"
    kernel_id: str = Field(min_length=1)
    max_slots: PlainCount = Field(default=10, ge=1, le=100_000)
    state_dir: Directory = Field(default=None, description="default: $DITA_STATE_DIR, else var/run")
    venue: VenueTable
    strategies: list[StrategyTable] = Field(min_length=1)
    risk: RiskLimits = Field(default_factory=RiskLimits)
    paper: PaperTable = Field(default_factory=PaperTable)
    log: LogTable = Field(default_factory=LogTable)
    logging: LoggingTable | None = None  # None: Python's default (warnings and errors on stderr)
    journal: JournalTable = Field(default_factory=JournalTable)
    projection: ProjectionTable = Field(default_factory=ProjectionTable)
    gateway: GatewayTable = Field(default_factory=GatewayTable)
    dead_man: DeadManSettings | None = None  # None: no switch

    @field_validator("kernel_id")
    @classmethod
    def _an_id(cls, kernel_id: str) -> str:
        from dita.control import kernel_id_problem

        problem = kernel_id_problem(kernel_id)
        if problem is not None:
            raise ValueError(problem)
        if "/" in kernel_id or kernel_id in (".", ".."):
            # "." would put the log in <state_dir>/wal, the directory of every kernel's log.
            raise ValueError(
                "it names files (<id>.json, the log's directory): it must not contain '/' nor be '.' or '..'"
            )
        return kernel_id

    def run_state_dir(self) -> Path:
        return self.state_dir or Path(os.environ.get("DITA_STATE_DIR") or "var/run")

    def wal_dir(self) -> Path:
        return self.log.wal_dir or self.run_state_dir() / "wal" / self.kernel_id

    def journal_dsn(self) -> str | None:
        if not self.journal.enabled:
            return None
        return self.journal.dsn or f"chdb://{self.run_state_dir() / 'journal' / self.kernel_id}"


class ConfigError(ValueError):
    """A file that is no run's configuration: ``problems``, one line each, key path first."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__(f"{path}: " + "; ".join(problems))
        self.path = path
        self.problems = problems


def configures_a_run(text: str) -> bool:
    """Whether the TOML ``text`` configures a run (a [venue] or [[strategies]]), rather than
    only a gateway (``dita serve``'s [gateway] table); False when it is not TOML."""
    try:
        raw = parsed(tomllib.loads, text)
    except (tomllib.TOMLDecodeError, NestedTooDeeply):
        return False
    return "venue" in raw or "strategies" in raw


def load_config(
    path: Path, *, text: str | None = None, environ: Mapping[str, str] | None = None
) -> LiveConfig:
    """The run ``path`` configures (``text``: its text, when the caller read it already: a pipe
    is read once); raises ConfigError listing every problem found."""
    try:
        if text is None:
            text = config_file_text(path)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(path, [f"cannot read the file: {reason}"]) from None
    try:
        raw = parsed(tomllib.loads, text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [f"not TOML: {exc}"]) from None
    except NestedTooDeeply as exc:
        raise ConfigError(path, [str(exc)]) from None
    return parse_config(raw, path, environ=os.environ if environ is None else environ)


def parse_config(raw: Mapping[str, Any], path: Path, *, environ: Mapping[str, str]) -> LiveConfig:
    try:
        config = LiveConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(path, [_problem(error) for error in exc.errors()]) from None
    problems = (
        _unset_variables(config, environ)
        + _strategies_sharing_a_name(config)
        + _strategy_budgets_over_the_kernels(config)
        + _strategies_without_source_run(config)
    )
    if problems:
        raise ConfigError(path, problems)
    return config


def _strategies_sharing_a_name(config: LiveConfig) -> list[str]:
    """A strategy's name is its trade ids' and the runtime's key for it: two tables may not give
    one ``name``. The names the strategies run under without one (a class may name itself from
    its parameters) are known once they are loaded, and checked then (``LiveRun``)."""
    first_of: dict[str, int] = {}
    problems = []
    for i, strategy in enumerate(config.strategies):
        if strategy.name is None:
            continue
        if strategy.name in first_of:
            problems.append(sharing_a_name(i, "name", strategy.name, first_of[strategy.name], strategy.name))
        else:
            first_of[strategy.name] = i
    return problems


def sharing_a_name(i: int, key: str, given: str, first: int, name: str) -> str:
    """The problem of table ``strategies[i]``, whose ``key`` gave ``given``, running under the name
    ``name`` that ``strategies[first]`` runs under."""
    return (
        f"strategies[{i}].{key}: {_shown(given)} given: strategies[{first}] runs under the "
        f"name {name!r} already; give this table a name of its own (name = ...)"
    )


def _strategy_budgets_over_the_kernels(config: LiveConfig) -> list[str]:
    return [
        f"strategies[{i}].max_slots: {strategy.max_slots!r} given: more slots than the kernel's "
        f"max_slots {config.max_slots}; give at most {config.max_slots}, or leave it out for no budget"
        for i, strategy in enumerate(config.strategies)
        if strategy.max_slots is not None and strategy.max_slots > config.max_slots
    ]


def _strategies_without_source_run(config: LiveConfig) -> list[str]:
    """In mode live the kernel refuses an intent that names no research run (the risk rule
    ``require_source_run_in_live``, on unless the file turns it off): each strategy names one."""
    if config.mode != "live" or not config.risk.require_source_run_in_live:
        return []
    return [
        f"strategies[{i}].source_run: missing: in mode live every intent names the research run it "
        "comes from (risk.require_source_run_in_live); give the run's id, or turn the rule off"
        for i, strategy in enumerate(config.strategies)
        if strategy.source_run is None
    ]


def _unset_variables(config: LiveConfig, environ: Mapping[str, str]) -> list[str]:
    """The variables the file names that are not set (the keys only in mode live: paper reads
    public market data; the token whenever a gateway is served with one named), and a token
    the gateway refuses, named without its value."""
    named: list[tuple[str, str]] = []
    if config.mode == "live":
        named += [
            ("venue.api_key_env", config.venue.api_key_env),
            ("venue.secret_env", config.venue.secret_env),
        ]
    if config.gateway.enabled and config.gateway.token_env is not None:
        named.append(("gateway.token_env", config.gateway.token_env))
    problems = [
        f"{key}: the environment variable {name!r} it names is not set"
        for key, name in named
        if not environ.get(name)
    ]
    token_env = config.gateway.token_env
    token = environ.get(token_env) if config.gateway.enabled and token_env else None
    if token and len(token) < TOKEN_MIN_LENGTH:
        problems.append(
            f"gateway.token_env: the token in {token_env!r} has {len(token)} characters; a bearer "
            f"token needs at least {TOKEN_MIN_LENGTH}"
        )
    elif token:
        try:
            check_token(token)
        except ValueError as exc:
            problems.append(f"gateway.token_env: the token in {token_env!r} {exc}")
    return problems


def _problem(error: Mapping[str, Any]) -> str:
    """One line for one of pydantic's errors: the key path, the value given, what is wrong."""
    where = ".".join(str(part) if not isinstance(part, int) else f"[{part}]" for part in error["loc"])
    where = where.replace(".[", "[") or "(the file)"
    if error["type"] == "extra_forbidden":
        return f"{where}: unknown key (given {_shown(error['input'])})"
    if error["type"] == "missing":
        return f"{where}: missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {_shown(error['input'])} given: {message}"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
