"""The journal's ClickHouse schema and its migrations.

The journal owns its schema: opening a journal applies every migration the database has not
seen yet and records it in ``journal_schema_version``. Each migration is a list of idempotent
statements (``IF NOT EXISTS``, or ``OR REPLACE`` for a view a later version redefines), so
two kernels migrating one server at the same time, or a migration interrupted half way,
converge on the same schema when re-run.

Column order in each table follows ``dita._kernel.JOURNAL_COLUMNS`` with ``kernel_id`` in
front, so a drained batch inserts without reordering.

Duplicates: every table is a ``ReplacingMergeTree`` whose sorting key ends in
``(seq, sub)`` and starts with ``kernel_id``, so a row re-sent after a retry or a WAL resend
collapses into one under ``FINAL`` (the documented queries all use it). The writer also
avoids writing them in the first place (insert deduplication tokens on retries, a key check
on resends), so ``FINAL`` is the safety net, not the mechanism.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "LATEST_VERSION",
    "MIGRATIONS",
    "PROGRESS_TABLE",
    "TABLE_COLUMNS",
    "TABLE_ORDER_BY",
    "VERSION_TABLE",
    "Migration",
    "NewerSchemaError",
    "behind_latest",
    "check_kernel_columns",
    "current_version",
    "migrate",
]

VERSION_TABLE = "journal_schema_version"

# ClickHouse types per journal column. Enums are LowCardinality(String) rather than Enum8 so a
# kernel that gains a new stage or diagnostic code keeps writing without a migration.
_ENUM = "LowCardinality(String)"
_TS = "DateTime64(6, 'UTC')"
_ID = "String"

TABLE_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "transitions": (
        ("kernel_id", _ENUM),
        ("seq", "UInt64"),
        ("sub", "UInt32"),
        ("ts", _TS),
        ("trade_id", _ID),
        ("slot_id", "Int64"),
        ("prev_state", _ENUM),
        ("next_state", _ENUM),
        ("trigger", _ENUM),
        ("intent_id", _ID),
        ("event_id", _ID),
        ("details", "String"),
    ),
    "intents": (
        ("kernel_id", _ENUM),
        ("seq", "UInt64"),
        ("sub", "UInt32"),
        ("ts", _TS),
        ("intent_id", _ID),
        ("trade_id", _ID),
        ("slot_id", "Int64"),
        ("asset", _ENUM),
        ("side", _ENUM),
        ("action", _ENUM),
        ("order_type", _ENUM),
        ("reference_price", "Float64"),
        ("target_size", "Float64"),
        ("limit_price", "Float64"),
        ("leverage", "Float64"),
        ("reason", "String"),
        ("accepted", "Bool"),
        ("diagnostic_code", _ENUM),
        ("severity", _ENUM),
        ("details", "String"),
        ("metadata", "String"),
    ),
    "venue_events": (
        ("kernel_id", _ENUM),
        ("seq", "UInt64"),
        ("sub", "UInt32"),
        ("ts", _TS),
        ("event_id", _ID),
        ("trade_id", _ID),
        ("slot_id", "Int64"),
        ("kind", _ENUM),
        ("status", "LowCardinality(Nullable(String))"),
        ("venue_order_id", _ID),
        ("venue_client_id", _ID),
        ("side", "LowCardinality(Nullable(String))"),
        ("asset", _ENUM),
        ("price", "Float64"),
        ("size", "Float64"),
        ("filled_size", "Float64"),
        ("remaining_size", "Float64"),
        ("reason", "String"),
        ("fill_id", _ID),
        ("fee", "Nullable(Float64)"),
        ("retry_after", "Float64"),
        ("accepted", "Bool"),
        ("diagnostic_code", _ENUM),
        ("severity", _ENUM),
        ("details", "String"),
        ("metadata", "String"),
    ),
    "fills": (
        ("kernel_id", _ENUM),
        ("seq", "UInt64"),
        ("sub", "UInt32"),
        ("ts", _TS),
        ("trade_id", _ID),
        ("slot_id", "Int64"),
        ("event_id", _ID),
        ("fill_id", _ID),
        ("client_order_id", _ID),
        ("venue_order_id", _ID),
        ("asset", _ENUM),
        ("side", _ENUM),
        ("leg", _ENUM),
        ("price", "Float64"),
        ("qty", "Float64"),
        ("fee", "Float64"),
        ("liquidity", _ENUM),
        ("realized_pnl", "Float64"),
    ),
    "account_events": (
        ("kernel_id", _ENUM),
        ("seq", "UInt64"),
        ("sub", "UInt32"),
        ("ts", _TS),
        ("event_id", _ID),
        ("kind", _ENUM),
        ("asset", _ENUM),
        ("amount", "Float64"),
        ("fee", "Float64"),
        ("fill_id", _ID),
        ("wallet_balance", "Nullable(Float64)"),
        ("available_margin", "Nullable(Float64)"),
        ("used_margin", "Nullable(Float64)"),
        ("maint_margin", "Nullable(Float64)"),
        ("k_capital", "Float64"),
        ("reconcile_status", _ENUM),
        ("reconcile_delta", "Float64"),
        ("accepted", "Bool"),
        ("diagnostic_code", _ENUM),
        ("fee_charged", "Nullable(Float64)"),
    ),
    "control_changes": (
        ("kernel_id", _ENUM),
        ("seq", "UInt64"),
        ("sub", "UInt32"),
        ("ts", _TS),
        ("mode", _ENUM),
        ("verbosity", _ENUM),
        ("debug_clickhouse_enabled", "Bool"),
        ("source", _ENUM),
    ),
}

# Sorting keys: "one slot / one trade over time" reads a contiguous range. ts is left out on
# purpose: a re-sent row must land on the same key even if its time were re-stamped, and seq
# already orders a kernel's inputs in time.
TABLE_ORDER_BY: dict[str, str] = {
    "transitions": "kernel_id, slot_id, trade_id, seq, sub",
    "intents": "kernel_id, slot_id, trade_id, seq, sub",
    "venue_events": "kernel_id, slot_id, trade_id, seq, sub",
    "fills": "kernel_id, slot_id, trade_id, seq, sub",
    "account_events": "kernel_id, seq, sub",
    "control_changes": "kernel_id, seq, sub",
}

_TRADE_TABLES = ("transitions", "intents", "venue_events", "fills")

# Columns a later migration adds, by table: the migration that made a table leaves them out, so
# a database at any version has that version's tables (``migrate(target=N)`` included), and
# the later migration adds them, in place, to old and new databases alike.
_ADDED_LATER: dict[str, dict[str, int]] = {
    "account_events": {"accepted": 5, "diagnostic_code": 5, "fee_charged": 9},
    "intents": {"metadata": 6},
    "venue_events": {"fill_id": 7, "fee": 7, "retry_after": 7, "severity": 8, "details": 8},
}


class NewerSchemaError(RuntimeError):
    """The journal database is at a schema version newer than this dita knows: refused, as an
    older dita cannot tell what the newer one's tables need."""


class SqlClient(Protocol):
    """The part of a clickhouse-connect client the migrations use."""

    def command(self, cmd: str, parameters: Any = None, settings: Any = None) -> Any: ...

    def query(self, query: str, parameters: Any = None, settings: Any = None) -> Any: ...


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: Callable[[str], Sequence[str]]
    """Builds the statements for a database name (already quoted)."""


def _create_table(db: str, table: str) -> str:
    later = _ADDED_LATER.get(table, {})
    cols = ",\n    ".join(f"`{name}` {ctype}" for name, ctype in TABLE_COLUMNS[table] if name not in later)
    # non_replicated_deduplication_window makes insert_deduplication_token work on a plain
    # MergeTree (chDB, single servers); replicated tables deduplicate inserts by default.
    return (
        f"CREATE TABLE IF NOT EXISTS {db}.`{table}` (\n    {cols}\n)\n"
        f"ENGINE = ReplacingMergeTree\nPARTITION BY toYYYYMM(ts)\nORDER BY ({TABLE_ORDER_BY[table]})\n"
        "SETTINGS non_replicated_deduplication_window = 1000"
    )


def _v1(db: str) -> list[str]:
    return [_create_table(db, table) for table in TABLE_COLUMNS]


def _v2(db: str) -> list[str]:
    # ingested_at lets an operator see journal lag in SQL (ingested_at - ts); the skip indexes
    # serve lookups that do not follow the sorting key: by seq range (resend checks) and by
    # trade id across slots. One ALTER a table adds them and one more materializes them (each
    # statement costs a new journal's engine several milliseconds).
    out: list[str] = []
    for table in TABLE_COLUMNS:
        adds = [
            "ADD COLUMN IF NOT EXISTS `ingested_at` DateTime64(3, 'UTC') DEFAULT now64(3)",
            "ADD INDEX IF NOT EXISTS seq_range seq TYPE minmax GRANULARITY 1",
        ]
        # Rows from before this migration get the migration time, not a default recomputed
        # on every read.
        materialize = ["MATERIALIZE COLUMN `ingested_at`", "MATERIALIZE INDEX seq_range"]
        if table in _TRADE_TABLES:
            adds.append("ADD INDEX IF NOT EXISTS trade_lookup trade_id TYPE bloom_filter(0.01) GRANULARITY 4")
            materialize.append("MATERIALIZE INDEX trade_lookup")
        out.append(f"ALTER TABLE {db}.`{table}` " + ", ".join(adds))
        out.append(f"ALTER TABLE {db}.`{table}` " + ", ".join(materialize))
    return out


def _timeline(db: str, venue_detail: str) -> str:
    # One time-ordered story per slot across the four trade tables: what the strategy asked,
    # what the venue said, what filled and which stage the slot moved to.
    return f"""SELECT kernel_id, seq, sub, ts, slot_id, trade_id, 'intent' AS source,
       concat(action, ' ', side, ' ', order_type) AS what,
       concat(diagnostic_code, if(accepted, '', ' (refused)'), ' ', details) AS detail
FROM {db}.`intents` FINAL
UNION ALL
SELECT kernel_id, seq, sub, ts, slot_id, trade_id, 'venue_event' AS source,
       concat(kind, ' ', ifNull(status, '')) AS what,
       {venue_detail} AS detail
FROM {db}.`venue_events` FINAL
UNION ALL
SELECT kernel_id, seq, sub, ts, slot_id, trade_id, 'fill' AS source,
       concat(leg, ' ', side, ' ', toString(qty), ' @ ', toString(price)) AS what,
       concat('fee=', toString(fee), ' ', liquidity, ' pnl=', toString(realized_pnl)) AS detail
FROM {db}.`fills` FINAL
UNION ALL
SELECT kernel_id, seq, sub, ts, slot_id, trade_id, 'transition' AS source,
       concat(prev_state, ' -> ', next_state) AS what,
       concat(trigger, ' ', details) AS detail
FROM {db}.`transitions` FINAL"""


def _v3(db: str) -> list[str]:
    # The view as version 3 made it (migration 7 replaces it): a database migrated only this
    # far has venue_events without the columns the later view reads.
    venue_detail = (
        "concat(diagnostic_code, ' filled=', toString(filled_size), ' remaining=', "
        "toString(remaining_size),\n              ' ', reason)"
    )
    return [f"CREATE VIEW IF NOT EXISTS {db}.`slot_timeline` AS\n{_timeline(db, venue_detail)}"]


PROGRESS_TABLE = "journal_progress"


def _v4(db: str) -> list[str]:
    # Per kernel, the sequence below which every row the kernel produced is stored: where a
    # WAL resend after a crash has to start. The highest value wins.
    return [
        f"CREATE TABLE IF NOT EXISTS {db}.`{PROGRESS_TABLE}` (\n"
        "    kernel_id LowCardinality(String),\n    settled_seq UInt64,\n"
        "    updated_at DateTime64(3, 'UTC') DEFAULT now64(3)\n"
        ") ENGINE = ReplacingMergeTree(settled_seq) ORDER BY kernel_id"
    ]


def _v5(db: str) -> list[str]:
    # A refused account event (a FILL_SETTLED of a fill settled already, a duplicate, a bad value)
    # is journaled too, marked as intents and venue events are. Rows from before were all
    # accepted, and an accepted event's code is OK: the defaults say so (constants, so there
    # is nothing to materialize). AFTER keeps the columns where a new table has them, before
    # ingested_at.
    return [
        f"ALTER TABLE {db}.`account_events` ADD COLUMN IF NOT EXISTS `accepted` Bool DEFAULT true "
        "AFTER `reconcile_delta`",
        f"ALTER TABLE {db}.`account_events` ADD COLUMN IF NOT EXISTS `diagnostic_code` {_ENUM} "
        "DEFAULT 'OK' AFTER `accepted`",
    ]


def _v6(db: str) -> list[str]:
    # What a strategy attached to its intent (the signal that made it enter, say), as
    # venue_events has its events'. Rows from before had none to show.
    return [
        f"ALTER TABLE {db}.`intents` ADD COLUMN IF NOT EXISTS `metadata` String DEFAULT '{{}}' "
        "AFTER `details`",
    ]


# A venue event's detail in slot_timeline from version 7: the code, "(refused)" when the kernel
# refused it, the order's figures, then only what the event carried (the fill id, a fee the
# venue reported, a rate limit's wait) and its reason. ifNull keeps a NULL fee from making the
# whole detail NULL. Version 8 appends the outcome's details (when it had any).
_VENUE_DETAIL_PARTS = """concat(diagnostic_code, if(accepted, '', ' (refused)'),
              ' filled=', toString(filled_size), ' remaining=', toString(remaining_size),
              if(fill_id = '', '', concat(' fill_id=', fill_id)),
              ifNull(concat(' fee=', toString(fee)), ''),
              if(retry_after > 0, concat(' retry_after=', toString(retry_after)), ''),
              if(reason = '', '', concat(' ', reason)){more})"""
_VENUE_DETAIL_V7 = _VENUE_DETAIL_PARTS.format(more="")
_VENUE_DETAIL = _VENUE_DETAIL_PARTS.format(
    more=",\n              if(details = '{}', '', concat(' ', details))"
)


def _v7(db: str) -> list[str]:
    # What a venue event carried besides its order's state: the venue's fill id (what makes a
    # repeated fill report a duplicate), the fee it reported (NULL for none) and the seconds
    # a RATE_LIMITED asked to wait. Rows from before showed none: '', NULL and 0, constants
    # with nothing to materialize. AFTER puts them where a new table has them.
    table = f"ALTER TABLE {db}.`venue_events` ADD COLUMN IF NOT EXISTS"
    return [
        f"{table} `fill_id` String DEFAULT '' AFTER `reason`",
        f"{table} `fee` Nullable(Float64) DEFAULT NULL AFTER `fill_id`",
        f"{table} `retry_after` Float64 DEFAULT 0 AFTER `fee`",
        # slot_timeline shows them, and marks a refused venue event as it marks a refused
        # intent: a FILL refused as a duplicate reads as one, with the fill id it repeated.
        # OR REPLACE: re-running it, or two kernels running it at once, leaves the same view
        # (a fresh database gets version 3's view first and this one over it).
        f"CREATE OR REPLACE VIEW {db}.`slot_timeline` AS\n{_timeline(db, _VENUE_DETAIL_V7)}",
    ]


def _v8(db: str) -> list[str]:
    # Why the kernel refused or warned about a venue event, kept as an intent's is: the
    # outcome's severity and details (an OVERFILL's order_size, filled_size and fill_qty, a
    # fill's unreported_qty or late_fill, a partly booked report's fee_charged). Rows from
    # before had none recorded: severity '' (not INFO: it was not said) and details '{}',
    # constants with nothing to materialize. AFTER puts them where a new table has them.
    table = f"ALTER TABLE {db}.`venue_events` ADD COLUMN IF NOT EXISTS"
    return [
        f"{table} `severity` {_ENUM} DEFAULT '' AFTER `diagnostic_code`",
        f"{table} `details` String DEFAULT '{{}}' AFTER `severity`",
        # slot_timeline shows the details after what the event carried, so a trade's story
        # says why an event was refused; a row from before (or with none) reads as in 7.
        f"CREATE OR REPLACE VIEW {db}.`slot_timeline` AS\n{_timeline(db, _VENUE_DETAIL)}",
    ]


def _v9(db: str) -> list[str]:
    # What the kernel charged the fill an accepted FILL_SETTLED settled: the whole fee, or for
    # a fill booked from part of a report its share, which a query could only work
    # out from the venue event's size, journaled at DEBUG alone. NULL where nothing was
    # charged (another kind, a refused settlement) and for rows from before, which did not
    # record it: an accepted FILL_SETTLED holding NULL is one of those. A constant, with
    # nothing to materialize; AFTER puts it where a new table has it.
    return [
        f"ALTER TABLE {db}.`account_events` ADD COLUMN IF NOT EXISTS `fee_charged` Nullable(Float64) "
        "DEFAULT NULL AFTER `diagnostic_code`",
    ]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1, "journal tables: transitions, intents, venue_events, fills, account_events, control_changes", _v1
    ),
    Migration(2, "ingested_at column; seq and trade_id skip indexes", _v2),
    Migration(3, "slot_timeline view", _v3),
    Migration(4, "journal_progress: where each kernel's stored rows end", _v4),
    Migration(5, "account_events: accepted and diagnostic_code (refused account events)", _v5),
    Migration(6, "intents: metadata", _v6),
    Migration(7, "venue_events: fill_id, fee and retry_after; slot_timeline shows them", _v7),
    Migration(8, "venue_events: severity and details; slot_timeline shows the details", _v8),
    Migration(9, "account_events: fee_charged (what a FILL_SETTLED charged its fill)", _v9),
)
LATEST_VERSION = MIGRATIONS[-1].version


def quote_ident(name: str) -> str:
    """Backquote an identifier (database names come from DSNs)."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _ensure_version_table(client: SqlClient, db: str) -> None:
    client.command(f"CREATE DATABASE IF NOT EXISTS {db}")
    client.command(
        f"CREATE TABLE IF NOT EXISTS {db}.`{VERSION_TABLE}` (\n"
        "    version UInt32,\n    description String,\n"
        "    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)\n"
        ") ENGINE = ReplacingMergeTree ORDER BY version"
    )


def current_version(client: SqlClient, database: str) -> int:
    """The highest migration applied to ``database`` (0 for an empty one)."""
    db = quote_ident(database)
    exists = client.query(
        "SELECT count() FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        parameters={"db": database, "t": VERSION_TABLE},
    ).result_rows[0][0]
    if not exists:
        return 0
    return int(client.query(f"SELECT max(version) FROM {db}.`{VERSION_TABLE}`").result_rows[0][0] or 0)


def behind_latest(version: int) -> str | None:
    """What a reader says of a journal at schema ``version``, when that is below this dita's:
    queries of the columns the later migrations add fail on it (None when it is not behind)."""
    if version >= LATEST_VERSION:
        return None
    return (
        f"the journal is at schema version {version}, behind this dita's {LATEST_VERSION}, and reading "
        "does not migrate it: open it once with this dita's journal (ClickHouseJournal(dsn), as a kernel "
        "given the journal does) to migrate it"
    )


def migrate(client: SqlClient, database: str, target: int | None = None) -> list[int]:
    """Apply the migrations after the current version up to ``target`` (default: latest).

    Returns the versions applied. Re-running is harmless: every statement is idempotent and
    the version row is only written after its statements succeeded.
    """
    if target is None:
        target = LATEST_VERSION
    if not 0 <= target <= LATEST_VERSION:
        raise ValueError(f"target schema version {target} is not between 0 and {LATEST_VERSION}")
    db = quote_ident(database)
    _ensure_version_table(client, db)
    have = current_version(client, database)
    if have > LATEST_VERSION:
        raise NewerSchemaError(
            f"journal database {database!r} is at schema version {have}, newer than this dita "
            f"(knows up to {LATEST_VERSION}); upgrade dita before writing to it"
        )
    applied: list[int] = []
    for m in MIGRATIONS:
        if have < m.version <= target:
            for stmt in m.statements(db):
                _apply(client, stmt)
            client.command(
                f"INSERT INTO {db}.`{VERSION_TABLE}` (version, description) VALUES "
                "({v:UInt32}, {d:String})",
                parameters={"v": m.version, "d": m.description},
            )
            applied.append(m.version)
    return applied


def _apply(client: SqlClient, stmt: str) -> None:
    """One migration statement. A MATERIALIZE (a mutation) runs with ``mutations_sync``, so it
    finishes before the version row says it did; the others without settings, as a command with
    settings costs the embedded engine three more queries (a third of the time a new journal's
    tables take to make)."""
    if " MATERIALIZE " in stmt:
        client.command(stmt, settings={"mutations_sync": 1})
    else:
        client.command(stmt)


def restore_missing_tables(client: SqlClient, database: str) -> list[str]:
    """Create again, at the schema version applied, every journal table that is missing
    although the version table says it was made (dropped by hand); returns their names.

    ``migrate`` only applies versions after the recorded one, so without this a dropped
    table would stay missing and the writer retry its rows for good. Only the applied
    migrations' statements that name a missing table run again (all are idempotent).
    """
    db = quote_ident(database)
    have = {
        row[0]
        for row in client.query(
            "SELECT name FROM system.tables WHERE database = {db:String}", parameters={"db": database}
        ).result_rows
    }
    version = current_version(client, database)
    made = [m for m in MIGRATIONS if m.version <= version]
    missing = [t for t in (*TABLE_COLUMNS, PROGRESS_TABLE) if t not in have]
    if version < 4:
        missing = [t for t in missing if t != PROGRESS_TABLE]  # not made yet: migrate's job
    for m in made:
        for stmt in m.statements(db):
            if any(f"{db}.`{t}`" in stmt for t in missing):
                _apply(client, stmt)
    return missing


def check_kernel_columns(kernel_columns: dict[str, tuple[str, ...]]) -> None:
    """Refuse a kernel whose outbox layout differs from this schema, naming the difference.

    Rows are inserted by position, so a silent mismatch would put values in the wrong columns.
    """
    for table, cols in kernel_columns.items():
        if table not in TABLE_COLUMNS:
            raise ValueError(f"kernel journal table {table!r} has no ClickHouse table in dita.journal.schema")
        ours = tuple(name for name, _ in TABLE_COLUMNS[table][1:])
        if tuple(cols) != ours:
            raise ValueError(
                f"kernel journal columns for {table!r} are {tuple(cols)!r}, but the schema expects {ours!r}"
            )
