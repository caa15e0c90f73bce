"""Gateway settings: a ``[gateway]`` table in a TOML file, overridden by ``DITA_GATEWAY_*``
environment variables (so the token can stay out of files)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from dita._files import CONFIG_FILE_BYTES, config_file_text, parsed
from dita._numbers import Count, Number, OptionalNumber
from dita._text import shortened
from dita.control import kernel_id_problem
from dita.risk import KERNEL_MAX
from dita.venues import POLL_SECONDS

__all__ = [
    "CONFIG_FILE_BYTES",
    "ENV_PREFIX",
    "TOKEN_MIN_LENGTH",
    "GatewaySettings",
    "ListenHost",
    "SettingsError",
    "check_token",
    "host_name",
    "load_settings",
]

_SECRET = ("token", "secret", "password", "key")
ENV_PREFIX = "DITA_GATEWAY_"
# Connections kept for commands beyond the event streams (see GatewaySettings).
COMMAND_CONNECTIONS = 10
TOKEN_MIN_LENGTH = 16  # characters of a bearer token


def _no_nul_in_host(host: str) -> str:
    # TOML and Python can hold one; the socket's bind would raise a TypeError, not an OSError,
    # and the command end in a traceback instead of naming the setting.
    if "\0" in host:
        raise ValueError("must not hold a NUL character: no address has one")
    return host


# The address the gateway listens on. Not empty: asyncio takes "" for every interface, and a
# blank setting should not open the API up.
ListenHost = Annotated[str, Field(min_length=1), AfterValidator(_no_nul_in_host)]


def check_token(token: str) -> str:
    """``token``, refused (ValueError, the value not in its message) when a client cannot send it:
    header values reach the app as Latin-1 text, so a token with "ñ", sent as UTF-8 (curl), would
    never match, and every mutating endpoint, a halt included, would be a 401. Nor can a header
    carry a control character, or whitespace at its ends."""
    if not (
        token.isascii() and token == token.strip() and all(" " <= c < "\x7f" or c == "\t" for c in token)
    ):
        raise ValueError(
            "must be printable ASCII (spaces and tabs only inside): what an Authorization header"
            " carries as sent"
        )
    return token


def host_name(host: str) -> str:
    """The name of a host setting, lower case, without its port (``[::1]:8080`` is ``::1``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class GatewaySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: ListenHost = "127.0.0.1"
    port: Count = Field(default=8080, ge=0, le=65535)
    token: str | None = Field(
        default=None, min_length=TOKEN_MIN_LENGTH, description="Bearer token for mutating endpoints"
    )
    allowed_hosts: tuple[str, ...] | None = Field(
        default=None,
        description="Host header names served (any port), comma-separated or a list; others get "
        "421. Unset: localhost, 127.0.0.1, ::1 and host (unless host is every interface); '*': any",
    )
    max_body_bytes: Count = Field(default=65_536, ge=256, le=16 * 1024 * 1024)
    # The waits have floors, as venue_poll_seconds does: with only `gt=0`, 1e-300 passed.
    body_timeout_seconds: Number = Field(
        default=30.0,
        ge=0.1,
        le=3600,
        description="How long a request's body may take to arrive; then 408. At least 0.1: much "
        "less, and no body arrives in time",
    )
    header_timeout_seconds: Number = Field(
        default=10.0,
        ge=0.1,
        le=3600,
        description="How long a request's line and headers may take to arrive; then 408. At least "
        "0.1: much less, and no request arrives in time",
    )
    max_connections: Count = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        description="Connections (or requests under way) at once; a request beyond them gets 503",
    )
    sse_history: Count = Field(
        default=10_000, ge=1, le=1_000_000, description="Events kept for Last-Event-ID resume"
    )
    sse_client_buffer: Count = Field(
        default=1_000,
        ge=1,
        le=100_000,
        description="Kernel calls a client may lag before drop (one call's events count as one)",
    )
    # In bytes too: an event's size follows the slots' metadata, so a bound in count alone
    # scales with max_slots times the metadata's size.
    sse_history_bytes: Count = Field(
        default=64 << 20,
        ge=64 << 10,
        le=16 << 30,
        description="Bytes of events kept for Last-Event-ID resume (64 KiB to 16 GiB)",
    )
    sse_client_buffer_bytes: Count = Field(
        default=16 << 20,
        ge=64 << 10,
        le=1 << 30,
        description="Bytes of frames a client may lag before drop, beyond its oldest and newest kernel call's"
        " (64 KiB to 1 GiB)",
    )
    sse_max_clients: Count = Field(
        default=100, ge=1, le=10_000, description="Event stream clients at once; one more gets 503"
    )
    sse_keepalive_seconds: Number = Field(
        default=15.0,
        ge=0.1,
        le=300,
        description="Silence after which an event stream sends a keepalive comment. At least 0.1: "
        "much less, and each stream writes keepalives without pause",
    )
    stop_grace_seconds: Number = Field(
        default=5.0,
        ge=0.1,
        le=300,
        description="How long a stop waits in all for a client that does not read, for a venue poll "
        "under way, and for a kernel call under way (a venue's submit) before the kernel closes. At "
        "least 0.1: much less, and a stop cuts every event stream off before its end "
        "and drops the answer of the poll",
    )
    # At least 10 ms: below, the gateway polls without pause, and a venue guarding its state
    # (CcxtVenue's lock) has every submit wait behind a poll.
    venue_poll_seconds: Number = Field(
        default=POLL_SECONDS,
        ge=0.01,
        le=3600,
        description="How often a venue that reports later (poll_events) is asked for its news",
    )
    max_slots: Count = Field(default=10, ge=1, le=100_000)
    kernel_id: str | None = None
    # Bounded as the kernel bounds it: `inf` passed `ge=0` and stopped the start later, the
    # port bound, as "cannot start the kernel: invalid capital: inf".
    seed_capital: OptionalNumber = Field(default=None, ge=0, le=KERNEL_MAX, allow_inf_nan=False)
    journal: str | None = Field(default=None, description="Journal DSN (chdb://DIR or http(s)://...)")
    hazelcast: str | None = Field(default=None, description="Hazelcast members host:port,... for projections")
    hazelcast_cluster: str | None = Field(
        default=None, description="Hazelcast cluster name (unset: $DITA_HAZELCAST_CLUSTER, else dita)"
    )

    @field_validator("kernel_id")
    @classmethod
    def _a_kernels_id(cls, kernel_id: str | None) -> str | None:
        # The kernel's own rule, checked here: the kernel checks it only after the journal's
        # directory is made, and a refused start would leave that directory behind.
        problem = None if kernel_id is None else kernel_id_problem(kernel_id)
        if problem is not None:
            raise ValueError(problem)
        return kernel_id

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _host_names(cls, value: Any) -> Any:
        # From an environment variable or a flag, a comma-separated list.
        if isinstance(value, str):
            value = [name.strip() for name in value.split(",")]
        if isinstance(value, list | tuple):
            given = [str(name).strip().lower() for name in value]
            names = [host_name(name) for name in given]
            # The Host header's port is not compared: an entry with one would never match.
            ported = [
                g for g, n in zip(given, names, strict=True) if n != g.removeprefix("[").removesuffix("]")
            ]
            if ported:
                raise ValueError(f"must name hosts without a port (every port is served), not {ported[0]!r}")
            bad = [name for name in names if not name or any(c.isspace() or c in "\0/,@" for c in name)]
            if bad or not names:
                raise ValueError(
                    f"must name hosts (localhost, an address, a domain name), not {bad[0] if bad else ''!r}"
                )
            return tuple(names)
        return value

    def served_hosts(self) -> frozenset[str] | None:
        """The Host names served (lower case, IPv6 without brackets); None: any."""
        if self.allowed_hosts is not None:
            return None if "*" in self.allowed_hosts else frozenset(self.allowed_hosts)
        names = {"localhost", "127.0.0.1", "::1"}
        host = host_name(self.host)
        if host not in ("0.0.0.0", "::"):
            names.add(host)
        return frozenset(names)

    @field_validator("token")
    @classmethod
    def _token_a_client_can_send(cls, token: str | None) -> str | None:
        return None if token is None else check_token(token)

    @field_validator("journal", "hazelcast")
    @classmethod
    def _not_blank(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Unset is None. "" (`--journal "$DSN"` with $DSN unset, `DITA_GATEWAY_JOURNAL=`) is
        # refused as `dita paper` refuses it: taken for "none", the gateway would trade with
        # nothing journaled or projected. A blank value holds no password to keep out of the message.
        if value is not None and not value.strip():
            raise ValueError(
                "journal dsn must be a non-empty string like 'chdb://./dita-journal'"
                if info.field_name == "journal"
                else "cluster members must list at least one host:port"
            )
        return value

    @model_validator(mode="after")
    def _cluster_named_with_members(self) -> GatewaySettings:
        # Alone it would be ignored: the gateway would serve with no projection and no cluster
        # control plane, so a halt written to that cluster would not reach it, and nothing says so.
        if self.hazelcast_cluster is not None and self.hazelcast is None:
            raise ValueError(
                f"hazelcast_cluster ({self.hazelcast_cluster!r}) is set without hazelcast: name the"
                " cluster's members (host:port,...) too, or leave hazelcast_cluster out"
            )
        return self

    @model_validator(mode="after")
    def _room_for_commands(self) -> GatewaySettings:
        # Event streams hold their connections: with max_connections at or near
        # sse_max_clients, open streams would leave no connection for a command (a PUT
        # /v1/control halting the kernel).
        if self.max_connections < self.sse_max_clients + COMMAND_CONNECTIONS:
            raise ValueError(
                f"max_connections ({self.max_connections}) must be at least sse_max_clients "
                f"({self.sse_max_clients}) + {COMMAND_CONNECTIONS}: event streams hold their "
                "connections, and commands (a halt) need some left"
            )
        return self


class SettingsError(ValueError):
    """Settings refused: one line per problem, each naming where the value came from
    (``gateway.port``, ``DITA_GATEWAY_PORT``, ``--port``) and never a secret's value."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def load_settings(path: Path | None = None, *, text: str | None = None, **overrides: Any) -> GatewaySettings:
    """File, then environment, then explicit overrides (None values are ignored). ``text`` is
    the file's text when the caller read it already (a pipe is read once)."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    problems: list[str] = []
    if path is not None:
        doc = parsed(tomllib.loads, config_file_text(path) if text is None else text)
        # A key outside [gateway] (a misspelt header, a setting above it) would serve without it:
        # with no journal, or no cluster whose control plane halts the kernel.
        for key, value in doc.items():
            if key != "gateway":
                name = shortened(key if key.isprintable() else repr(key))
                problems.append(
                    f"{f'[{name}]' if isinstance(value, dict) else name}: not a gateway file's key: the"
                    " file holds only a [gateway] table (a key above the header is outside it)"
                )
        table = doc.get("gateway", {})
        if not isinstance(table, dict):
            raise ValueError(f"[gateway] must be a table, got {type(table).__name__}")
        for key, value in table.items():
            # No setting is a boolean, and the model would take `max_slots = true` for 1.
            if isinstance(value, bool) and key in GatewaySettings.model_fields:
                problems.append(f"gateway.{key}: not a boolean setting{_shown(key, value)}")
            else:
                values[key] = value
                sources[key] = f"gateway.{key}"
    known = {f"{ENV_PREFIX}{name.upper()}": name for name in GatewaySettings.model_fields}
    for variable, env in os.environ.items():
        if not variable.startswith(ENV_PREFIX):
            continue
        if variable not in known:
            # As an unknown key of the file: a typo (DITA_GATEWAY_TOKN) must not go unnoticed.
            problems.append(f"{variable}: not a gateway setting; the variables are {', '.join(known)}")
            continue
        values[known[variable]] = env
        sources[known[variable]] = variable
    for name, value in overrides.items():
        if value is not None:
            values[name] = value
            sources[name] = "--" + name.replace("_", "-")
    try:
        settings = GatewaySettings.model_validate(values)
    except ValidationError as exc:
        # Not chained: pydantic's own message shows every value, the token's too.
        raise SettingsError(problems + [_problem(e, sources) for e in exc.errors()]) from None
    if problems:
        raise SettingsError(problems)
    return settings


def _problem(error: Any, sources: dict[str, str]) -> str:
    """One refused setting as ``source: reason (got value)``; a secret's value is not shown."""
    if not error["loc"]:
        return str(error["msg"]).removeprefix("Value error, ")
    name = str(error["loc"][0])
    source = sources.get(name, name)
    if error["type"] == "extra_forbidden":
        return f"{source}: not a gateway setting"
    return f"{source}: {str(error['msg']).removeprefix('Value error, ')}{_shown(name, error.get('input'))}"


def _shown(name: str, value: Any) -> str:
    """`` (got VALUE)``, or nothing for a setting whose name says it is a secret."""
    if any(word in name.lower() for word in _SECRET):
        return ""
    if isinstance(value, dict | list):  # a table or list given for a text: it may hold a password
        return f" (got a {'table' if isinstance(value, dict) else 'list'})"
    return f" (got {str(value).lower() if isinstance(value, bool) else repr(value)})"
