"""How dita's log lines are written: one JSON object per line (``format="json"``) or a plain line
for a person (``"text"``), with the ids of the order a line is about, secrets redacted, and a
level per component (a logger name: ``dita.kernel``, ``dita.runtime``, ``dita.venues.ccxt``).

A line carries ``kernel_id``, ``seq``, ``slot_id``, ``trade_id``, ``client_order_id`` and
``venue_order_id`` where known: passed with ``extra=`` at the call, or set for a stretch of code
with ``log_context(...)``. ``configure_logging`` installs the one handler, on the root logger, so
the libraries' lines (ccxt, urllib3, uvicorn) are formatted and redacted too."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, TextIO

__all__ = [
    "LOG_FORMATS",
    "ORDER_FIELDS",
    "JsonLinesFormatter",
    "TextLineFormatter",
    "configure_logging",
    "configure_logging_from_env",
    "log_context",
    "order_ids",
    "parse_levels",
    "redact",
    "register_secret",
    "reset_logging",
]

LOG_FORMATS = ("text", "json")
# The ids a line carries when its call or its context knows them, in this order.
ORDER_FIELDS = ("kernel_id", "seq", "slot_id", "trade_id", "client_order_id", "venue_order_id")
FORMAT_ENV = "DITA_LOG_FORMAT"
LEVEL_ENV = "DITA_LOG_LEVEL"
REDACTED = "***"

# The attributes every LogRecord has: anything else on a record came with ``extra=``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's copy of the message with terminal colours
}
# A field, header or parameter named so holds a secret, whatever its value.
_SECRET_NAME = (
    r"(?:api[_-]?key|apikey|secret|token|password|passphrase|listen[_-]?key|signature|authorization)"
)
_SECRET_NAME_RE = re.compile(rf"^[\w.-]*{_SECRET_NAME}[\w.-]*$", re.IGNORECASE)
# ``name=value``, ``name: value``, ``"name": "value"``, ``X-MBX-APIKEY: value`` in free text; an
# Authorization header's scheme (Bearer, Basic) is kept, its credential is not.
_SECRET_PAIR_RE = re.compile(
    rf"""(?P<name>[\w-]*{_SECRET_NAME}[\w-]*)(?P<sep>["']?\s*[:=]\s*["']?)"""
    r"""(?P<scheme>(?:Bearer|Basic|Token)\s+)?(?P<value>[^\s"',;&}]+)""",
    re.IGNORECASE,
)

_context: ContextVar[Mapping[str, Any]] = ContextVar("dita_log_context", default=MappingProxyType({}))
_secrets_lock = threading.Lock()
# Longest first, so a value is scrubbed whole before one it contains; replaced, never changed in
# place, so a line being redacted on another thread reads one whole tuple.
_secrets: tuple[str, ...] = ()
_MIN_SECRET_LENGTH = 4  # shorter values would scrub ordinary words and numbers out of every line


@contextmanager
def log_context(**ids: Any) -> Iterator[None]:
    """Within the block, every line logged in this thread (or task) carries ``ids`` (those of
    ``ORDER_FIELDS`` and any other) unless its call passes its own with ``extra=``."""
    token = _context.set({**_context.get(), **{k: v for k, v in ids.items() if v not in (None, "")}})
    try:
        yield
    finally:
        _context.reset(token)


def order_ids(
    kernel: Any = None, *, outcome: Any = None, event: Any = None, order: Any = None, **more: Any
) -> dict[str, Any]:
    """The ids of ``ORDER_FIELDS`` a kernel, a ``KernelOutcome``, a ``VenueEvent`` and a
    ``VenueOrder`` know, for ``extra=`` (``more`` added as given): read by name, so a stand-in
    without one leaves it out. Callers on a busy path build it under ``log.isEnabledFor``."""
    ids: dict[str, Any] = {}
    for source, names in (
        (order, ("trade_id", "slot_id", "client_order_id", "venue_order_id")),
        (event, ("trade_id", "slot_id", "venue_order_id", "event_id", "fill_id")),
        (outcome, ("seq", "slot_id", "trade_id")),
        (kernel, ("kernel_id",)),
    ):
        for name in names if source is not None else ():
            value = getattr(source, name, None)
            if value not in (None, "") and not (name == "slot_id" and value == -1):
                ids.setdefault(name, value)
    client_order_id = getattr(event, "venue_client_id", None) if event is not None else None
    if client_order_id:
        ids.setdefault("client_order_id", client_order_id)
    placed = getattr(outcome, "order", None) if outcome is not None else None
    if placed is not None:
        ids.setdefault("client_order_id", placed.client_order_id)
        if placed.venue_order_id:
            ids.setdefault("venue_order_id", placed.venue_order_id)
    ids.update(more)
    return ids


def register_secret(*values: str) -> None:
    """Scrub each of ``values`` (an API key, a secret, a token, a listen key) from every line
    from now on, wherever it appears. Values shorter than 4 characters are not taken."""
    global _secrets
    with _secrets_lock:
        known = set(_secrets)
        known.update(v for v in values if isinstance(v, str) and len(v.strip()) >= _MIN_SECRET_LENGTH)
        _secrets = tuple(sorted(known, key=len, reverse=True))


def redact(text: str) -> str:
    """``text`` with every registered secret, and the value of every ``name=value`` pair whose
    name says it holds one (``api_key``, ``secret``, ``token``, ``password``, ``listenKey``,
    ``signature``, an ``Authorization`` header), replaced by ``***``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _SECRET_PAIR_RE.sub(_scrubbed_pair, text)


def _scrubbed_pair(match: re.Match[str]) -> str:
    return f"{match['name']}{match['sep']}{match['scheme'] or ''}{REDACTED}"


def _redacted_value(name: str, value: Any) -> Any:
    if _SECRET_NAME_RE.match(name):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): _redacted_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted_value(name, v) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact(str(value))


def _fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The ids and other ``extra=`` fields of ``record``, the context's filling the gaps; the
    order ids first, each field's value redacted by its name and text."""
    passed = {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES and not k.startswith("_")}
    merged = {**_context.get(), **passed}
    ordered = {k: merged[k] for k in ORDER_FIELDS if merged.get(k) not in (None, "")}
    ordered.update((k, v) for k, v in merged.items() if k not in ordered and k not in ORDER_FIELDS)
    return {k: _redacted_value(k, v) for k, v in ordered.items()}


def _time_of(record: logging.LogRecord) -> str:
    stamp = datetime.fromtimestamp(record.created, UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record, on one line: ``time`` (ISO 8601, UTC), ``level``,
    ``component`` (the logger's name), ``message``, the ids where known, any other ``extra=``
    field, and ``exception`` (the traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _time_of(record),
            "level": record.levelname,
            "component": record.name,
            "message": redact(record.getMessage()),
        }
        for name, value in _fields_of(record).items():
            line.setdefault(name, value)
        if record.exc_info:
            line["exception"] = redact(self.formatException(record.exc_info))
        elif record.stack_info:
            line["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(line, ensure_ascii=False, default=str)


class TextLineFormatter(logging.Formatter):
    """``time LEVEL component: message  kernel_id=... trade_id=...``, for a person on a console."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = _time_of(record).replace("T", " ").rstrip("Z")
        fields = "".join(f" {k}={v}" for k, v in _fields_of(record).items())
        text = f"{stamp} {record.levelname} {record.name}: {redact(record.getMessage())}"
        if fields:
            text = f"{text} |{fields}"
        if record.exc_info:
            text = f"{text}\n{redact(self.formatException(record.exc_info))}"
        return text


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a line is logged (a test's capture, a CLI
    runner's), as Python's own last-resort handler does."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._fixed = stream

    @property
    def stream(self) -> TextIO:
        return self._fixed if self._fixed is not None else sys.stderr

    @stream.setter
    def stream(self, value: TextIO | None) -> None:
        self._fixed = value


_installed_lock = threading.Lock()
_handler: logging.Handler | None = None
_levels_set: dict[str, int] = {}  # each logger a configuration set, with its level before


def parse_levels(levels: Mapping[str, str | int] | Sequence[str] | str | None) -> dict[str, int]:
    """Levels by logger name from ``{"dita.kernel": "DEBUG"}``, ``["dita.kernel=DEBUG", "INFO"]``
    or ``"dita.kernel=DEBUG,INFO"``; a level without a name is the ``dita`` logger's. A level
    Python does not know, or an empty name, raises ValueError naming it."""
    if levels is None:
        return {}
    if isinstance(levels, str):
        levels = [part for part in levels.replace(";", ",").split(",") if part.strip()]
    pairs: list[tuple[str, str | int]] = []
    if isinstance(levels, Mapping):
        pairs = [(str(k), v) for k, v in levels.items()]
    else:
        for item in levels:
            name, sep, level = str(item).strip().rpartition("=")
            if sep and not name.strip():
                raise ValueError(f"log level {item!r}: no component before '='; use COMPONENT=LEVEL")
            pairs.append((name.strip() if sep else "dita", level.strip()))
    return {name: _level_number(name, level) for name, level in pairs}


def _level_number(component: str, level: str | int) -> int:
    if isinstance(level, int) and not isinstance(level, bool):
        return level
    number = logging.getLevelName(str(level).upper())
    if not isinstance(number, int):
        known = ", ".join(logging.getLevelName(n) for n in (10, 20, 30, 40, 50))
        raise ValueError(f"log level of {component!r}: {level!r} is not a level ({known})")
    return number


def configure_logging(
    format: str = "text",
    levels: Mapping[str, str | int] | Sequence[str] | str | None = None,
    *,
    stream: TextIO | None = None,
    secrets: Iterable[str] = (),
) -> None:
    """Write every log line (dita's and the libraries') in ``format`` (``"text"`` or ``"json"``)
    to ``stream`` (stderr when None, as it is at each line), with ``levels`` by component (see
    ``parse_levels``; ``dita`` is INFO and the rest WARNING unless set), and ``secrets``
    registered for redaction. Called again, it replaces what it set before."""
    if format not in LOG_FORMATS:
        raise ValueError(f"log format: {format!r} is not one of {', '.join(LOG_FORMATS)}")
    wanted = {"dita": logging.INFO, **parse_levels(levels)}
    register_secret(*secrets)
    handler = _StderrHandler(stream)
    handler.setFormatter(JsonLinesFormatter() if format == "json" else TextLineFormatter())
    global _handler
    with _installed_lock:
        _undo_locked()
        root = logging.getLogger()
        root.addHandler(handler)
        _handler = handler
        for name, level in {"": logging.WARNING, **wanted}.items():
            logger = logging.getLogger(name or None)
            _levels_set[name] = logger.level
            logger.setLevel(level)


def configure_logging_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """``configure_logging`` from ``DITA_LOG_FORMAT`` and ``DITA_LOG_LEVEL`` (``"dita.kernel=DEBUG,
    dita.venues=INFO"``); False, and nothing changed, when neither is set."""
    env = os.environ if environ is None else environ
    format, levels = env.get(FORMAT_ENV, "").strip(), env.get(LEVEL_ENV, "").strip()
    if not format and not levels:
        return False
    try:
        configure_logging(format=format or "text", levels=levels or None)
    except ValueError as exc:
        raise ValueError(f"{FORMAT_ENV}/{LEVEL_ENV}: {exc}") from None
    return True


def logging_configured() -> bool:
    """Whether ``configure_logging`` has installed its handler (an option or the environment
    chose the format), so a config file's own choice comes second."""
    return _handler is not None


def reset_logging() -> None:
    """Remove the handler ``configure_logging`` installed and put back the levels it changed."""
    with _installed_lock:
        _undo_locked()


def _undo_locked() -> None:
    global _handler
    if _handler is not None:
        logging.getLogger().removeHandler(_handler)
        _handler = None
    for name, level in _levels_set.items():
        logging.getLogger(name or None).setLevel(level)
    _levels_set.clear()
