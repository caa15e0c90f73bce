"""How the journal tells ClickHouse's errors apart: the ones retrying cures, the ones it does
not (a block), the ones the rows themselves cause (set aside), and the client's own."""

from __future__ import annotations

import struct

from clickhouse_connect.driver.exceptions import ClickHouseError, DataError, Error, OperationalError

from dita.journal.schema import NewerSchemaError

__all__ = [
    "NEWER_SCHEMA",
    "PERMANENT_ERRORS",
    "Aborted",
    "JournalBlockedError",
    "Unreachable",
    "answered_by_clickhouse",
    "is_encoding_error",
    "permanent_cause",
]


class JournalBlockedError(RuntimeError):
    """ClickHouse refuses the journal's inserts for a reason that retrying alone does not cure
    (the table's schema, the user's rights, the credentials): raised by ``flush()`` (so
    ``detach()``) and ``backfill()`` instead of waiting. The rows are kept and written once the
    cause is fixed; ``stats().blocked`` says what it is. Also raised by ``flush()`` when the
    journal holds a kernel's rows because writing them under its kernel_id would lose them
    (a kernel attached while ClickHouse could not be read, see ``attach``)."""


class Unreachable(OperationalError):
    """A ClickHouse server that cannot be reached right now (the writer keeps trying)."""


class Aborted(Exception):
    """The journal is closing and gave up waiting for ClickHouse."""


# ClickHouse errors an insert of the journal's own rows cannot get past by being sent again:
# the table does not take them (a column missing or of another type, a constraint), it or
# its database is missing and could not be made again, or the user may not write. Anything
# else (no answer, a timeout, an overloaded or restarting server, memory, a full disk, a
# replica gone read-only) is taken to pass. Codes, as the real engine names them (a test
# asks it): either way rows are kept; this only decides how often to try and how loudly.
PERMANENT_ERRORS = {
    6: "CANNOT_PARSE_TEXT",
    8: "THERE_IS_NO_COLUMN",
    10: "NOT_FOUND_COLUMN_IN_BLOCK",
    16: "NO_SUCH_COLUMN_IN_TABLE",
    20: "NUMBER_OF_COLUMNS_DOESNT_MATCH",
    27: "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
    38: "CANNOT_PARSE_DATE",
    41: "CANNOT_PARSE_DATETIME",
    43: "ILLEGAL_TYPE_OF_ARGUMENT",
    44: "ILLEGAL_COLUMN",
    47: "UNKNOWN_IDENTIFIER",
    53: "TYPE_MISMATCH",
    60: "UNKNOWN_TABLE",
    70: "CANNOT_CONVERT_TYPE",
    72: "CANNOT_PARSE_NUMBER",
    81: "UNKNOWN_DATABASE",
    117: "INCORRECT_DATA",
    164: "READONLY",
    192: "UNKNOWN_USER",
    193: "WRONG_PASSWORD",
    194: "REQUIRED_PASSWORD",
    195: "IP_ADDRESS_NOT_ALLOWED",
    291: "DATABASE_ACCESS_DENIED",
    349: "CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN",
    469: "VIOLATED_CONSTRAINT",
    497: "ACCESS_DENIED",
    516: "AUTHENTICATION_FAILED",
}
_PERMANENT_NAMES = frozenset(PERMANENT_ERRORS.values())
# The writer's own refusal, met when it connects again (ClickHouse was away, or its client no
# longer answered): a newer dita migrated the database meanwhile. Retrying cannot cure it either.
NEWER_SCHEMA = "NEWER_SCHEMA"


def permanent_cause(exc: BaseException) -> str | None:
    """The ClickHouse error's name when ``exc`` (or an error it was raised from) is one that
    sending the rows again cannot get past (``PERMANENT_ERRORS``), ``NEWER_SCHEMA`` for a
    database a newer dita migrated; None for anything else."""
    seen: BaseException | None = exc
    for _ in range(5):  # an error re-raised "from" the client's (reconnecting) names it as cause
        if seen is None:
            return None
        if isinstance(seen, NewerSchemaError):
            return NEWER_SCHEMA
        if isinstance(seen, Error):
            if seen.code is not None:
                return PERMANENT_ERRORS.get(seen.code)
            if seen.name in _PERMANENT_NAMES:  # no code given, the server's name for it
                return seen.name
        seen = seen.__cause__
    return None


def answered_by_clickhouse(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it was raised from) is one ClickHouse sent: it names a
    ClickHouse error code or name. A client's own error (closed, no connection) names none."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, Error) and (seen.code is not None or seen.name):
            return True
        seen = seen.__cause__
    return False


def is_encoding_error(exc: BaseException) -> bool:
    """True for errors the rows themselves cause (a value its column cannot take: the same
    every time), so the batch is split to set the bad rows aside. Anything else (the server,
    the network, a full disk, memory) is retried with backoff: rows are never set aside for
    a failure that may pass."""
    if isinstance(exc, DataError):
        return True
    return isinstance(exc, ValueError | TypeError | OverflowError | struct.error) and not isinstance(
        exc, ClickHouseError
    )
