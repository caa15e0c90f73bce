"""Schema creation and migration on real chDB: from nothing, from an older version, re-run."""

from __future__ import annotations

from pathlib import Path

import pytest

from dita import AccountEvent, ExecutionKernel, KernelIntent, VenueEvent
from dita.journal import schema
from dita.journal.clickhouse import ClickHouseJournal
from dita.journal.dsn import parse_dsn
from journal.helpers import SilentVenue, silent_entries

ALL_VERSIONS = [m.version for m in schema.MIGRATIONS]


def _versions(journal: ClickHouseJournal) -> list[int]:
    return [
        r[0] for r in journal.query("SELECT version FROM journal_schema_version FINAL ORDER BY version").rows
    ]


def test_new_journal_creates_every_table_at_the_latest_version(journal: ClickHouseJournal) -> None:
    assert _versions(journal) == [m.version for m in schema.MIGRATIONS]
    tables = {r[0] for r in journal.query("SHOW TABLES").rows}
    assert set(schema.TABLE_COLUMNS) | {"slot_timeline", schema.VERSION_TABLE} <= tables
    for table, cols in schema.TABLE_COLUMNS.items():
        described = journal.query(f"DESCRIBE TABLE {table}").rows
        got = [(r[0], r[1]) for r in described]
        assert got[: len(cols)] == list(cols), table
        assert got[len(cols)][0] == "ingested_at"
        engine = journal.query(
            "SELECT engine, sorting_key FROM system.tables "
            "WHERE database = currentDatabase() AND name = {t:String}",
            {"t": table},
        ).rows[0]
        assert engine[0] == "ReplacingMergeTree"
        assert engine[1].startswith("kernel_id") and engine[1].endswith("seq, sub")


def _journal_at(tmp_path: Path, version: int, table: str, insert: str) -> tuple[str, list[str]]:
    """A chDB journal migrated up to ``version`` only, holding the row ``insert`` writes: its
    DSN and the columns ``table`` has at that version."""
    dsn = f"chdb://{tmp_path / 'old'}"
    target = parse_dsn(dsn)
    assert target.path is not None
    target.path.mkdir(parents=True)
    client = target.connect()
    try:
        assert schema.migrate(client, "dita", target=version) == list(range(1, version + 1))
        assert schema.current_version(client, "dita") == version
        client.command(insert)
        columns = [r[0] for r in client.query(f"DESCRIBE TABLE dita.{table}").result_rows]
    finally:
        client.close()
    return dsn, columns


def _timeline(journal: ClickHouseJournal) -> str:
    """How the journal defines slot_timeline, as ClickHouse stores it."""
    rows = journal.query(
        "SELECT create_table_query FROM system.tables "
        "WHERE database = currentDatabase() AND name = 'slot_timeline'"
    ).rows
    assert len(rows) == 1
    return str(rows[0][0])


def test_migrates_a_version_1_journal_keeping_its_rows(tmp_path: Path) -> None:
    # A row written by a version-1 journal: no ingested_at column exists yet.
    dsn, columns = _journal_at(
        tmp_path,
        1,
        "transitions",
        "INSERT INTO dita.transitions VALUES ('old-kernel', 7, 0, '2026-01-02 10:41:07.250000', "
        "'T-old', 3, 'ENTRY_WORKING', 'POSITION_OPEN', 'FILL', '', 'ev-7', '{}')",
    )
    assert "ingested_at" not in columns

    with ClickHouseJournal(dsn) as journal:
        assert _versions(journal) == ALL_VERSIONS
        rows = journal.query(
            "SELECT kernel_id, seq, trade_id, next_state, ts, ingested_at > ts FROM transitions FINAL"
        ).rows
        assert rows == [["old-kernel", 7, "T-old", "POSITION_OPEN", "2026-01-02T10:41:07.250000", True]]
        # The materialized default is stored, not recomputed on each read.
        first = journal.query("SELECT ingested_at FROM transitions").rows
        assert journal.query("SELECT ingested_at FROM transitions").rows == first
        indexes = {
            r[0]
            for r in journal.query(
                "SELECT name FROM system.data_skipping_indices WHERE database = 'dita' AND table = 'fills'"
            ).rows
        }
        assert indexes == {"seq_range", "trade_lookup"}
        timeline = journal.query("SELECT slot_id, what FROM slot_timeline").rows
        assert timeline == [[3, "ENTRY_WORKING -> POSITION_OPEN"]]

    # Opening again changes nothing: migrations are applied once.
    with ClickHouseJournal(dsn) as journal:
        assert _versions(journal) == ALL_VERSIONS
        assert journal.query("SELECT count() FROM journal_schema_version").rows == [[len(ALL_VERSIONS)]]


def _described(journal: ClickHouseJournal, table: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in journal.query(f"DESCRIBE TABLE {table}").rows]


def _migrated_as_new(journal: ClickHouseJournal, table: str) -> list[tuple[str, str]]:
    """Checks ``journal`` is at the latest version with ``table``'s columns where a journal
    made at that version has them (before ``ingested_at``); returns them as described."""
    assert _versions(journal) == ALL_VERSIONS
    cols = list(schema.TABLE_COLUMNS[table])
    described = _described(journal, table)
    assert described[: len(cols)] == cols and described[len(cols)][0] == "ingested_at"
    return described


def test_migrates_a_version_4_journal_to_record_refused_account_events(tmp_path: Path) -> None:
    # A settlement a version-4 journal stored: it only ever stored accepted ones.
    dsn, columns = _journal_at(
        tmp_path,
        4,
        "account_events",
        "INSERT INTO dita.account_events (kernel_id, seq, sub, ts, event_id, kind, asset, amount, fee, "
        "fill_id, k_capital, reconcile_status, reconcile_delta) VALUES ('old-kernel', 7, 0, "
        "'2026-01-02 10:41:07', 'settle-f1', 'FILL_SETTLED', '', 0, 0.5, 'f1', 100, 'OK', 0)",
    )
    assert "accepted" not in columns and "diagnostic_code" not in columns

    with ClickHouseJournal(dsn, max_delay=0.02) as journal:
        described = _migrated_as_new(journal, "account_events")
        kernel = ExecutionKernel(max_slots=1, journal=journal, kernel_id="new-kernel")
        # Refused: a settlement's figure is its fee, and this one also gives an amount.
        out = kernel.on_account_event(
            AccountEvent("settle-f2", "FILL_SETTLED", fill_id="f2", fee=0.5, amount=0.5)
        )
        assert not out.accepted
        journal.flush(30)
        rows = journal.query(
            "SELECT kernel_id, event_id, fee, accepted, diagnostic_code FROM account_events FINAL "
            "ORDER BY kernel_id"
        ).rows
        assert rows == [
            ["new-kernel", "settle-f2", 0.5, False, "INVALID_INTENT"],
            ["old-kernel", "settle-f1", 0.5, True, "OK"],
        ]
        # A table dropped by hand comes back at the schema it had, the new columns included.
        journal._connection.client.command("DROP TABLE dita.account_events")
        assert schema.restore_missing_tables(journal._connection.client, "dita") == ["account_events"]
        assert _described(journal, "account_events") == described


def test_migrates_a_version_5_journal_to_record_intent_metadata(tmp_path: Path) -> None:
    dsn, columns = _journal_at(
        tmp_path,
        5,
        "intents",
        "INSERT INTO dita.intents (kernel_id, seq, sub, ts, intent_id, trade_id, slot_id, asset, side, "
        "action, order_type, reference_price, target_size, limit_price, leverage, reason, accepted, "
        "diagnostic_code, severity, details) VALUES ('old-kernel', 3, 0, '2026-01-02 10:41:07', 'i-old', "
        "'t-old', 0, 'BTCUSDT', 'LONG', 'ENTER', 'MARKET', 100, 1, 0, 1, '', true, 'OK', 'INFO', '{}')",
    )
    assert "metadata" not in columns

    with ClickHouseJournal(dsn, max_delay=0.02) as journal:
        _migrated_as_new(journal, "intents")
        kernel = ExecutionKernel(max_slots=1, journal=journal, kernel_id="new-kernel")
        out = kernel.process_intent(
            KernelIntent(
                "i-new", "t-new", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 1.0,
                metadata={"signal": "cross", "fast": 20, "z": 1.5, "live": True, "note": None},
            )
        )  # fmt: skip
        assert out.accepted
        journal.flush(30)
        rows = journal.query(
            "SELECT kernel_id, intent_id, metadata, JSONExtractInt(metadata, 'fast') FROM intents FINAL "
            "ORDER BY kernel_id"
        ).rows
        assert rows == [
            ["new-kernel", "i-new", '{"fast":20,"live":true,"note":null,"signal":"cross","z":1.5}', 20],
            ["old-kernel", "i-old", "{}", 0],
        ]


def test_migrates_a_version_6_journal_to_record_venue_event_fill_ids_fees_and_retry_after(
    tmp_path: Path,
) -> None:
    dsn, columns = _journal_at(
        tmp_path,
        6,
        "venue_events",
        "INSERT INTO dita.venue_events (kernel_id, seq, sub, ts, event_id, trade_id, slot_id, kind, status, "
        "venue_order_id, venue_client_id, side, asset, price, size, filled_size, remaining_size, reason, "
        "accepted, diagnostic_code, metadata) VALUES ('old-kernel', 4, 0, '2026-01-02 10:41:07', 'f-old', "
        "'t-old', 0, 'FILL', 'FILLED', 'V1', 'c1', 'BUY', 'BTCUSDT', 100, 1, 1, 0, '', true, 'OK', '{}')",
    )
    assert not {"fill_id", "fee", "retry_after"} & set(columns)

    with ClickHouseJournal(dsn, max_delay=0.02) as journal:
        described = _migrated_as_new(journal, "venue_events")
        kernel, coids = silent_entries(journal, "new-kernel", 2)
        fill = VenueEvent(
            "f-new",
            "",
            -1,
            "FILL",
            venue_client_id=coids[0],
            price=100.0,
            size=1.0,
            fill_id="exec-9",
            fee=0.05,
        )
        assert kernel.on_venue_event(fill).accepted
        kernel.on_venue_event(
            VenueEvent("r-new", "", -1, "RATE_LIMITED", venue_client_id=coids[1], retry_after=3.0)
        )
        journal.flush(30)
        rows = journal.query(
            "SELECT kernel_id, event_id, fill_id, fee, retry_after FROM venue_events FINAL "
            "ORDER BY kernel_id, seq"
        ).rows
        assert rows == [
            ["new-kernel", "f-new", "exec-9", 0.05, 0.0],
            ["new-kernel", "r-new", "", None, 3.0],
            ["old-kernel", "f-old", "", None, 0.0],
        ]
        # slot_timeline shows them, and a row from before as it was.
        timeline = journal.query(
            "SELECT kernel_id, detail FROM slot_timeline WHERE source = 'venue_event' ORDER BY kernel_id, seq"
        ).rows
        assert timeline == [
            ["new-kernel", "OK filled=0 remaining=0 fill_id=exec-9 fee=0.05"],
            [
                "new-kernel",
                "RATE_LIMITED (refused) filled=0 remaining=0 retry_after=3 "
                f'{{"retry_after":3,"client_order_id":"{coids[1]}"}}',
            ],
            ["old-kernel", "OK filled=1 remaining=0"],
        ]
        migrated = _timeline(journal)
        # A table dropped by hand comes back at the schema it had, the new columns included.
        journal._connection.client.command("DROP TABLE dita.venue_events")
        assert schema.restore_missing_tables(journal._connection.client, "dita") == ["venue_events"]
        assert _described(journal, "venue_events") == described
        assert _timeline(journal) == migrated

    # A journal made at this version has the same view as one migrated to it.
    with ClickHouseJournal(f"chdb://{tmp_path / 'new'}") as journal:
        assert _timeline(journal) == migrated


def test_migrates_a_version_7_journal_to_record_why_a_venue_event_was_refused(tmp_path: Path) -> None:
    """Venue events gain the outcome's severity and details, as intents have them: a row
    from before keeps its values and reads '' and '{}', and slot_timeline shows it as it was."""
    dsn, columns = _journal_at(
        tmp_path,
        7,
        "venue_events",
        "INSERT INTO dita.venue_events (kernel_id, seq, sub, ts, event_id, trade_id, slot_id, kind, status, "
        "venue_order_id, venue_client_id, side, asset, price, size, filled_size, remaining_size, reason, "
        "fill_id, fee, retry_after, accepted, diagnostic_code, metadata) VALUES ('old-kernel', 4, 0, "
        "'2026-01-02 10:41:07', 'f-old', 't-old', 0, 'FILL', 'FILLED', 'V1', 'c1', 'BUY', 'BTCUSDT', 100, "
        "2, 2, 0, '', 'exec-old', NULL, 0, false, 'OVERFILL', '{}')",
    )
    assert not {"severity", "details"} & set(columns)

    with ClickHouseJournal(dsn, max_delay=0.02) as journal:
        described = _migrated_as_new(journal, "venue_events")
        kernel, coids = silent_entries(journal, "new-kernel", 1)
        over = kernel.on_venue_event(
            VenueEvent("f-new", "", -1, "FILL", venue_client_id=coids[0], price=100.0, size=3.0)
        )
        assert (over.accepted, over.diagnostic_code.name) == (False, "OVERFILL")
        journal.flush(30)
        rows = journal.query(
            "SELECT kernel_id, event_id, fill_id, diagnostic_code, severity, "
            "JSONExtractFloat(details, 'order_size'), JSONExtractFloat(details, 'fill_qty') "
            "FROM venue_events FINAL ORDER BY kernel_id, seq"
        ).rows
        assert rows == [
            ["new-kernel", "f-new", "", "OVERFILL", "CRITICAL", 1.0, 3.0],
            ["old-kernel", "f-old", "exec-old", "OVERFILL", "", 0.0, 0.0],
        ]
        old = journal.query("SELECT details FROM venue_events FINAL WHERE kernel_id = 'old-kernel'").rows
        assert old == [["{}"]]
        timeline = journal.query(
            "SELECT kernel_id, detail FROM slot_timeline WHERE source = 'venue_event' ORDER BY kernel_id, seq"
        ).rows
        assert timeline[1] == ["old-kernel", "OVERFILL (refused) filled=2 remaining=0 fill_id=exec-old"]
        assert timeline[0][1].startswith("OVERFILL (refused) filled=0 remaining=0 {")
        assert '"order_size":1' in timeline[0][1] and '"fill_qty":3' in timeline[0][1]
        migrated = _timeline(journal)
        # A table dropped by hand comes back at the schema it had, the new columns included.
        journal._connection.client.command("DROP TABLE dita.venue_events")
        assert schema.restore_missing_tables(journal._connection.client, "dita") == ["venue_events"]
        assert _described(journal, "venue_events") == described
        assert _timeline(journal) == migrated

    # A journal made at this version has the same view as one migrated to it.
    with ClickHouseJournal(f"chdb://{tmp_path / 'new'}") as journal:
        assert _timeline(journal) == migrated


def test_migrates_a_version_8_journal_to_record_what_a_settlement_charged(tmp_path: Path) -> None:
    """account_events gains fee_charged: a settlement stored before reads NULL, which tells it
    apart from one stored after (an accepted FILL_SETTLED always has its charge), and a new
    kernel's rows land in the migrated table with the share, the whole fee or NULL."""
    dsn, columns = _journal_at(
        tmp_path,
        8,
        "account_events",
        "INSERT INTO dita.account_events (kernel_id, seq, sub, ts, event_id, kind, asset, amount, fee, "
        "fill_id, k_capital, reconcile_status, reconcile_delta, accepted, diagnostic_code) VALUES "
        "('old-kernel', 7, 0, '2026-01-02 10:41:07', 'settle-f1', 'FILL_SETTLED', 'BTCUSDT', 0, 0.5, 'f1', "
        "100, 'OK', 0, true, 'OK')",
    )
    assert "fee_charged" not in columns

    with ClickHouseJournal(dsn, max_delay=0.02) as journal:
        described = _migrated_as_new(journal, "account_events")
        # The venue reports a total of 2 filled (the fill is known by its event id "s1"), then
        # trade T2 of 3 at a total of 3, of which the 1 left is booked (at NORMAL, the default).
        kernel = ExecutionKernel(max_slots=1, venue=SilentVenue(), journal=journal, kernel_id="new-kernel")
        order = kernel.process_intent(
            KernelIntent("e0", "t0", 0, "BTCUSDT", "LONG", "ENTER", 100.0, 10.0)
        ).order
        assert order is not None
        for event_id, fields in (
            ("s1", {"filled_size": 2.0}),
            ("e2", {"size": 3.0, "filled_size": 3.0, "fill_id": "T2"}),
        ):
            ev = VenueEvent(
                event_id, "t0", 0, "FILL", venue_client_id=order.client_order_id, price=100.0, **fields
            )
            assert kernel.on_venue_event(ev).accepted
        settled = [
            kernel.on_account_event(
                AccountEvent(event_id, "FILL_SETTLED", asset="BTCUSDT", fill_id=f, fee=fee)
            )
            for event_id, f, fee in (("st", "T2", 0.18), ("ss", "s1", 0.2), ("st-again", "T2", 0.18))
        ]
        assert [o.accepted for o in settled] == [True, True, False]
        journal.flush(30)
        rows = journal.query(
            "SELECT kernel_id, event_id, accepted, fee, fee_charged FROM account_events FINAL "
            "ORDER BY kernel_id, seq"
        ).rows
        assert rows == [
            ["new-kernel", "st", True, 0.18, pytest.approx(0.06)],  # 1 of the report's 3
            ["new-kernel", "ss", True, 0.2, 0.2],  # booked whole
            ["new-kernel", "st-again", False, 0.18, None],  # refused: nothing charged
            ["old-kernel", "settle-f1", True, 0.5, None],  # stored before the column
        ]
        before = journal.query(
            "SELECT event_id FROM account_events FINAL "
            "WHERE kind = 'FILL_SETTLED' AND accepted AND fee_charged IS NULL"
        ).rows
        assert before == [["settle-f1"]]
        # A table dropped by hand comes back at the schema it had, the new column included.
        journal._connection.client.command("DROP TABLE dita.account_events")
        assert schema.restore_missing_tables(journal._connection.client, "dita") == ["account_events"]
        assert _described(journal, "account_events") == described


def test_rerunning_every_migration_statement_is_harmless(journal: ClickHouseJournal) -> None:
    # A migration interrupted after its statements but before its version row re-runs them.
    made = _timeline(journal)
    for m in schema.MIGRATIONS:
        for stmt in m.statements("`dita`"):
            journal._connection.client.command(stmt)
    assert schema.migrate(journal._connection.client, "dita") == []
    assert _versions(journal) == ALL_VERSIONS
    assert _timeline(journal) == made


def test_a_newer_schema_is_refused(journal: ClickHouseJournal) -> None:
    journal._connection.client.command(
        "INSERT INTO dita.journal_schema_version (version, description) VALUES (99, 'future')"
    )
    with pytest.raises(RuntimeError, match="schema version 99, newer than this dita"):
        schema.migrate(journal._connection.client, "dita")


def test_bad_migration_target_is_refused(journal: ClickHouseJournal) -> None:
    future = schema.LATEST_VERSION + 1
    with pytest.raises(ValueError, match=f"target schema version {future} is not between 0 and"):
        schema.migrate(journal._connection.client, "dita", target=future)


def test_kernel_column_mismatch_is_named() -> None:
    from dita import JOURNAL_COLUMNS

    schema.check_kernel_columns(dict(JOURNAL_COLUMNS))
    bad = dict(JOURNAL_COLUMNS)
    bad["fills"] = (*bad["fills"][:-1], "pnl")
    with pytest.raises(ValueError, match="kernel journal columns for 'fills'"):
        schema.check_kernel_columns(bad)
    with pytest.raises(ValueError, match="'orders' has no ClickHouse table"):
        schema.check_kernel_columns({"orders": ("seq",)})


def test_the_kernels_native_blocks_send_every_column_as_its_table_stores_it() -> None:
    from dita._kernel import JOURNAL_COLUMNS, JOURNAL_WIRE_TYPES

    for table, cols in schema.TABLE_COLUMNS.items():
        names = [n for n, _ in cols[1:]]
        assert list(JOURNAL_COLUMNS[table]) == names, table
        # Exactly the table's types, LowCardinality included: ClickHouse converts nothing.
        assert list(JOURNAL_WIRE_TYPES[table]) == [t for _, t in cols[1:]], table


def test_a_native_block_sends_kernel_id_as_its_tables_store_it() -> None:
    from dita import ExecutionKernel, KernelIntent

    kernel = ExecutionKernel(max_slots=1, kernel_id="desk-9")
    kernel.set_journal_enabled(True)
    kernel.process_intent(
        KernelIntent("i1", "t1", 0, "BTCUSDT", "LONG", "ENTER", reference_price=100.0, target_size=1.0)
    )
    blocks = kernel.drain_journal_blocks()
    assert blocks
    for block in blocks:
        data = block.encode()
        # varint columns, varint rows (both under 128 here), then the first column: kernel_id.
        at = 2
        names = []
        for _ in range(2):
            n = data[at]
            names.append(data[at + 1 : at + 1 + n].decode())
            at += 1 + n
        assert names == ["kernel_id", schema.TABLE_COLUMNS[block.table][0][1]], block.table


def test_the_architecture_page_lists_every_journal_column() -> None:
    """docs/concepts/architecture.md's table of the outbox's rows names each table's columns in order:
    the intents row gained `metadata` (schema 6) and the page kept the old list."""
    import re

    from dita import JOURNAL_COLUMNS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "concepts" / "architecture.md").read_text()
    for table, columns in JOURNAL_COLUMNS.items():
        row = re.search(rf"^\| `{table}` \|[^|]*\| ([^|]*) \|$", doc, re.M)
        assert row is not None, f"docs/concepts/architecture.md has no row for {table}"
        assert [c.strip() for c in row.group(1).split(",")] == list(columns), table


def test_the_journal_page_lists_every_table_column_and_migration() -> None:
    """docs/reference/journal-schema.md's schema table names each table's columns after `kernel_id, seq, sub,
    ts` in order, and its migrations table has a row per version."""
    import re

    doc = (Path(__file__).resolve().parents[2] / "docs" / "reference" / "journal-schema.md").read_text()
    for table, columns in schema.TABLE_COLUMNS.items():
        row = re.search(rf"^\| `{table}` \| ([^|]*) \| ([^|]*) \|$", doc, re.M)
        assert row is not None, f"docs/reference/journal-schema.md has no row for {table}"
        assert row.group(1).strip() == schema.TABLE_ORDER_BY[table], table
        assert [c.strip() for c in row.group(2).split(",")] == [n for n, _ in columns[4:]], table
    versions = [int(v) for v in re.findall(r"^\| (\d+) \| ", doc, re.M)]
    assert versions == ALL_VERSIONS
