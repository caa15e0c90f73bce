"""The settings a :class:`ClickHouseJournal` is opened with, checked once, shared by its parts.

What each setting does is told in the ``ClickHouseJournal`` docstring."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from dita.journal.dsn import JournalTarget, default_dsn, parse_dsn

__all__ = ["JournalSettings"]


@dataclass(frozen=True)
class JournalSettings:
    target: JournalTarget
    batch_rows: int
    max_delay: float
    queue_rows: int
    queue_bytes: int
    drain_rows: int
    poll_interval: float
    retry_initial: float
    retry_max: float
    retry_blocked: float
    close_timeout: float
    serve_sql: bool
    gil_budget: float | None
    burst_hold: float | None
    wal_fill: bool
    refill_dropped: bool
    nice: int | None

    @classmethod
    def checked(
        cls,
        dsn: str | None,
        *,
        batch_rows: int,
        max_delay: float,
        queue_rows: int,
        queue_bytes: int,
        drain_rows: int,
        poll_interval: float,
        retry_initial: float,
        retry_max: float,
        retry_blocked: float,
        close_timeout: float,
        serve_sql: bool,
        gil_budget: float | None,
        burst_hold: float | None,
        wal_fill: bool,
        refill_dropped: bool,
        nice: int | None,
    ) -> JournalSettings:
        """The settings as given, or ValueError naming the first one out of its range."""
        for name, value, integer in (
            ("batch_rows", batch_rows, True),
            ("max_delay", max_delay, False),
            ("queue_rows", queue_rows, True),
            ("queue_bytes", queue_bytes, True),
            ("drain_rows", drain_rows, True),
            ("poll_interval", poll_interval, False),
            ("retry_initial", retry_initial, False),
            ("retry_max", retry_max, False),
            ("retry_blocked", retry_blocked, False),
            ("close_timeout", close_timeout, False),
        ):
            _positive(name, value, integer)
        if burst_hold is not None:
            _positive("burst_hold", burst_hold)
        if gil_budget is not None and (
            isinstance(gil_budget, bool) or not isinstance(gil_budget, int | float) or not 0 < gil_budget <= 1
        ):
            raise ValueError(f"ClickHouseJournal gil_budget must be in (0, 1] or None, got {gil_budget!r}")
        for name, flag in (
            ("serve_sql", serve_sql),
            ("wal_fill", wal_fill),
            ("refill_dropped", refill_dropped),
        ):
            if not isinstance(flag, bool):
                raise ValueError(f"ClickHouseJournal {name} must be True or False, got {flag!r}")
        if nice is not None and (isinstance(nice, bool) or not isinstance(nice, int) or not 0 <= nice <= 19):
            raise ValueError(f"ClickHouseJournal nice must be an int from 0 to 19 or None, got {nice!r}")
        if retry_max < retry_initial:
            raise ValueError(
                f"ClickHouseJournal retry_max ({retry_max!r}) must not be below "
                f"retry_initial ({retry_initial!r})"
            )
        return cls(
            target=parse_dsn(dsn if dsn is not None else default_dsn()),
            batch_rows=batch_rows,
            max_delay=float(max_delay),
            queue_rows=queue_rows,
            queue_bytes=queue_bytes,
            drain_rows=drain_rows,
            poll_interval=float(poll_interval),
            retry_initial=float(retry_initial),
            retry_max=float(retry_max),
            retry_blocked=float(retry_blocked),
            close_timeout=float(close_timeout),
            serve_sql=serve_sql,
            gil_budget=None if gil_budget is None else float(gil_budget),
            burst_hold=None if burst_hold is None else float(burst_hold),
            wal_fill=wal_fill,
            refill_dropped=refill_dropped,
            nice=nice,
        )


def _positive(name: str, value: float, integer: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"ClickHouseJournal {name} must be a positive number, got {value!r}")
    if integer and not isinstance(value, int):
        raise ValueError(f"ClickHouseJournal {name} must be a positive integer, got {value!r}")
    if not integer and not value <= threading.TIMEOUT_MAX:
        # Seconds a thread waits for: an infinite or larger wait makes the wait raise and the
        # thread die.
        raise ValueError(
            f"ClickHouseJournal {name} must be a finite number of seconds up to "
            f"{threading.TIMEOUT_MAX:g}, got {value!r}"
        )
