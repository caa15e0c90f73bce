"""What ``dita pnl --journal`` reads: each kernel's fills, fees and funding over a period, summed
by SQL in the journal, and the spans its journaling was off, which the sums cannot hold."""

from __future__ import annotations

from typing import Any

from dita._text import utc_text
from dita.cli._common import fail

__all__ = ["net_pnl", "pnl_from_journal"]


def net_pnl(realized: float | None, fees: float | None, funding: float | None) -> float | None:
    """Net PnL as the kernel's K counts it, realized - fees + funding; None when one is unknown."""
    if realized is None or fees is None or funding is None:
        return None
    return realized - fees + funding


def pnl_from_journal(dsn: str, period: str, at_ts: float | None, kernel: str | None) -> list[dict[str, Any]]:
    """One row per kernel of the journal at ``dsn`` (or ``kernel`` alone), as ``dita pnl`` shows
    it: fills, realized PnL, the fees charged and funding over ``period`` up to ``at_ts`` (None:
    now), with a note where journaling was off."""
    import time

    from dita.cli._state import period_start
    from dita.cli.journal import journal_target

    target = journal_target(dsn, "--journal")
    from dita.journal.schema import TABLE_COLUMNS

    now = at_ts if at_ts is not None else time.time()
    start = period_start(period, now)
    # The period goes in the sums, not the WHERE: a kernel without fills in it still gets its row.
    # Parameters bind on the server ({name:Type}): the journal refuses text formatted in. Bounds
    # in microseconds rounded as the journal rounds a row's time: cut down, a fill at --at's very
    # moment (1790000000.1234567, stored as ...123457) fell outside it.
    in_period = ["toUnixTimestamp64Micro(ts) <= {to:Int64}"]
    # All, without --at: every row, those stamped past the host's clock too (a venue's clock
    # ahead of it, replay data), as the kernel counts them.
    unbounded = start is None and at_ts is None
    params: dict[str, Any] = {"to": 2**63 - 1 if unbounded else round(now * 1e6)}
    if start is not None:
        in_period.append("toUnixTimestamp64Micro(ts) >= {from:Int64}")
        params["from"] = round(start * 1e6)
    cond = " AND ".join(in_period)
    where = ""
    named: dict[str, Any] = {}
    if kernel is not None:
        where = "WHERE kernel_id = {kernel:String}"
        params["kernel"] = named["kernel"] = kernel
    # Funding is in the account events (accepted ones: a refused payment was not booked), and
    # counts in net PnL as in the kernel's K. A kernel with funding and no fills gets a row too.
    funded = "kind = 'FUNDING_FEE' AND accepted"
    if kernel is not None:
        funded += " AND kernel_id = {kernel:String}"
    # Tables unqualified, as `journal sql` and `journal info` name them: the client is in the
    # journal's database, whatever its name (`123` would need quoting after FROM).
    fills = _charged_fills(one_kernel=kernel is not None)
    sql = (
        "SELECT kernel_id, sum(fills) AS fills, sum(realized) AS realized, sum(fees) AS fees, "
        "sum(funding) AS funding FROM ("
        f"SELECT kernel_id, countIf({cond}) AS fills, sumIf(realized_pnl, {cond}) AS realized, "
        f"sumIf(fee, {cond}) AS fees, toFloat64(0) AS funding FROM ({fills}) "
        "GROUP BY kernel_id UNION ALL "
        "SELECT kernel_id, toUInt64(0) AS fills, toFloat64(0) AS realized, toFloat64(0) AS fees, "
        f"sumIf(amount, {cond}) AS funding FROM account_events FINAL WHERE {funded} "
        "GROUP BY kernel_id) GROUP BY kernel_id ORDER BY kernel_id"
    )
    records = _journal_records(target, sql, params)
    if kernel is not None and not records:
        # No fills at all: a kernel the journal knows from its other rows gets a zero row.
        known = " UNION ALL ".join(f"SELECT kernel_id FROM `{table}` {where}" for table in TABLE_COLUMNS)
        if not _journal_records(target, f"SELECT count() AS n FROM ({known})", named)[0]["n"]:
            fail(f"no kernel {kernel!r} found in the journal {target.display}", code=1)
        records = [{"kernel_id": kernel, "fills": 0, "realized": 0.0, "fees": 0.0, "funding": 0.0}]
    off = _journaling_off(target, kernel, start, None if unbounded else now)
    # A kernel whose every fill fell while journaling was off has none journaled: its row, note
    # and all, says so rather than leaving it out.
    listed = {r["kernel_id"] for r in records}
    zero = {"fills": 0, "realized": 0.0, "fees": 0.0, "funding": 0.0}
    records += [{"kernel_id": kid, **zero} for kid in off if kid not in listed]
    records.sort(key=lambda r: r["kernel_id"])
    return [
        {
            "kernel_id": r["kernel_id"],
            "period": period,
            "from": utc_text(start) if start is not None else "",
            "to": utc_text(now),
            "fills": int(r["fills"]),
            "realized_pnl": float(r["realized"]),
            "fees": float(r["fees"]),
            "funding": float(r["funding"]),
            "net_pnl": net_pnl(float(r["realized"]), float(r["fees"]), float(r["funding"])),
            # The journal has fills, not marks: an open position's value is unknown here.
            "unrealized_pnl": None,
            "note": off.get(r["kernel_id"], ""),
        }
        for r in records
    ]


def _journaling_off(
    target: Any, kernel: str | None, start: float | None, end: float | None
) -> dict[str, str]:
    """A note per kernel whose journaling (``debug_clickhouse_enabled``) was off for a while of
    the period from ``start`` to ``end`` (None: no bound): nothing was queued then, fills
    included, so the sums may fall short of the kernel's. Read from the control changes that
    turned it off and on again.

    A control change is stamped by the host's clock, a fill by the kernel's (a replay's data
    time), so a span is placed in the period by the kernel's seq, which both share: it lies
    between the kernel's last fill or account event before the change turning it off and its
    first after the one turning it on, and is in the period when that stretch overlaps it (no
    such row: unbounded on that side)."""
    of_kernel = " WHERE kernel_id = {kernel:String}" if kernel is not None else ""
    rows = " UNION ALL ".join(
        f"SELECT kernel_id, seq, toUnixTimestamp64Micro(ts) AS t, 1 AS found FROM {table} FINAL{of_kernel}"
        for table in ("fills", "account_events")
    )
    sql = (
        "SELECT c.kernel_id AS kernel_id, c.seq AS seq, c.at AS at, c.journaling AS journaling, "
        "b.found AS has_before, b.t AS before, a.found AS has_after, a.t AS after FROM ("
        "SELECT kernel_id, seq, sub, toUnixTimestamp64Micro(ts) AS at, "
        f"debug_clickhouse_enabled AS journaling FROM control_changes FINAL{of_kernel}) AS c "
        f"ASOF LEFT JOIN ({rows}) AS b ON b.kernel_id = c.kernel_id AND b.seq < c.seq "
        f"ASOF LEFT JOIN ({rows}) AS a ON a.kernel_id = c.kernel_id AND a.seq > c.seq "
        "ORDER BY c.kernel_id, c.seq, c.sub"
    )
    # Per kernel: (host time off, host time on, seq off, seq on, kernel's time before, after).
    Span = tuple[float, float | None, int, int | None, float | None, float | None]
    spans: dict[str, list[Span]] = {}
    off_since: dict[str, tuple[float, int, float | None]] = {}
    for r in _journal_records(target, sql, {"kernel": kernel} if kernel is not None else {}):
        kid, at, seq = r["kernel_id"], int(r["at"]) / 1e6, int(r["seq"])
        if not r["journaling"]:
            off_since.setdefault(kid, (at, seq, int(r["before"]) / 1e6 if r["has_before"] else None))
        elif kid in off_since:
            since, off_seq, before = off_since.pop(kid)
            after = int(r["after"]) / 1e6 if r["has_after"] else None
            spans.setdefault(kid, []).append((since, at, off_seq, seq, before, after))
    for kid, (since, off_seq, before) in off_since.items():
        spans.setdefault(kid, []).append((since, None, off_seq, None, before, None))
    notes = {}
    for kid, kid_spans in spans.items():
        shown_spans = [
            f"from {utc_text(a)} {f'to {utc_text(b)}' if b is not None else 'on'} "
            f"(seq {a_seq} {f'to {b_seq}' if b_seq is not None else 'on'})"
            for a, b, a_seq, b_seq, before, after in kid_spans
            if (end is None or before is None or before <= end)
            and (start is None or after is None or after >= start)
        ]
        if shown_spans:
            notes[kid] = (
                f"journaling was off (debug_clickhouse_enabled) {', '.join(shown_spans)}: the journal "
                "holds none of the kernel's fills then, so these sums may fall short of its own"
            )
    return notes


def _charged_fills(*, one_kernel: bool) -> str:
    """The fills of the journal with the fee the kernel charged each by ``{to}``: what the
    FILL_SETTLED after the fill that settled it charged (its ``fee_charged``; worked out for one
    stored before that column), the fill's own ``fee`` (the prediction, or what a settlement
    held for it charged) where none did by then. Joined by kernel too: fill ids are the
    venue's, and two kernels' fills can share one.

    A settlement's row does not name the fill it settled, and a fill id and asset can name
    several (a self-trade's two sides, each settled at its own fee): the settlements of a fill
    id and asset settle its fills in turn, the n-th the n-th booked, so each fill is charged
    once and each settlement counted once, as the kernel counts them. Those naming no asset
    settle in turn the fills of their id that no settlement naming the asset did (BTC's and
    ETH's "123", each settled in turn, are each charged their own)."""
    of_kernel = " AND kernel_id = {kernel:String}" if one_kernel else ""

    def settlements(key: tuple[str, ...], asset: str) -> str:
        # The accepted ones by --at, each with its turn among those of its ``key``. A row with
        # no fee_charged charged nothing: held for its fill (which, booked, took it: its turn
        # stays) or, after a row of its key that charged, for a self-trade's other side. Where
        # no row of its key charged, it may be one stored before the column, which charged.
        keys = ", ".join(key)
        rows = (
            f"SELECT kernel_id, fill_id, asset, seq, sub, fee, fee_charged, "
            f"countIf(fee_charged IS NOT NULL) OVER (PARTITION BY {keys}) AS charges "
            f"FROM account_events FINAL WHERE kind = 'FILL_SETTLED' AND accepted AND {asset}"
            f"{of_kernel} AND toUnixTimestamp64Micro(ts) <= {{to:Int64}}"
        )
        last_fill = (
            f"SELECT {keys}, max(seq) AS last_fill FROM fills FINAL WHERE 1{of_kernel} GROUP BY {keys}"
        )
        return (
            f"SELECT {', '.join(f'r.{c} AS {c}' for c in key)}, r.fee AS fee, r.fee_charged AS charge, "
            "r.seq AS settled_seq, 1 AS settled, row_number() OVER (PARTITION BY "
            f"{', '.join(f'r.{c}' for c in key)} ORDER BY r.seq, r.sub) AS turn "
            f"FROM ({rows}) AS r LEFT JOIN ({last_fill}) AS l "
            f"ON {' AND '.join(f'l.{c} = r.{c}' for c in key)} "
            "WHERE r.fee_charged IS NOT NULL OR r.charges = 0 OR r.seq < l.last_fill"
        )

    named = settlements(("kernel_id", "fill_id", "asset"), "asset != ''")
    bare = settlements(("kernel_id", "fill_id"), "asset = ''")
    # Each fill's turn among the fills of its id and asset; then, among those no settlement
    # naming the asset settled, among the fills of its id (0 for those settled).
    fills = (
        "SELECT kernel_id, seq, sub, ts, realized_pnl, fee, qty, fill_id, asset, "
        "row_number() OVER (PARTITION BY kernel_id, fill_id, asset ORDER BY seq, sub) AS turn "
        f"FROM fills FINAL WHERE 1{of_kernel}"
    )
    by_asset = (
        "SELECT f.*, s.settled = 1 AND s.settled_seq > f.seq AS by_asset, s.fee AS named_fee, "
        f"s.charge AS named_charge FROM ({fills}) AS f LEFT JOIN ({named}) AS s ON s.kernel_id = "
        "f.kernel_id AND s.fill_id = f.fill_id AND s.asset = f.asset AND s.turn = f.turn"
    )
    with_bare_turn = (
        "SELECT *, if(by_asset, 0, row_number() OVER (PARTITION BY kernel_id, fill_id, by_asset "
        f"ORDER BY seq, sub)) AS bare_turn FROM ({by_asset})"
    )
    return (
        "SELECT f.kernel_id AS kernel_id, f.ts AS ts, f.realized_pnl AS realized_pnl, "
        "f.by_asset OR (e.settled = 1 AND e.settled_seq > f.seq) AS is_settled, "
        "if(f.by_asset, f.named_fee, e.fee) AS actual_fee, "
        "if(f.by_asset, f.named_charge, e.charge) AS charge, "
        "if(is_settled, ifNull(charge, if(v.found = 1 AND NOT v.whole AND v.size > f.qty, "
        "actual_fee * f.qty / v.size, actual_fee)), f.fee) AS fee "
        f"FROM ({with_bare_turn}) AS f LEFT JOIN ({bare}) AS e "
        "ON e.kernel_id = f.kernel_id AND e.fill_id = f.fill_id AND e.turn = f.bare_turn "
        "LEFT JOIN (SELECT kernel_id, seq, any(size) AS size, "
        "any(JSONExtractString(metadata, 'source') = 'reconciliation') AS whole, 1 AS found "
        f"FROM venue_events FINAL WHERE kind = 'FILL'{of_kernel} GROUP BY kernel_id, seq) AS v "
        "ON v.kernel_id = f.kernel_id AND v.seq = f.seq"
    )


def _journal_records(target: Any, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    from dita.cli.journal import query_journal

    records: list[dict[str, Any]] = query_journal(target, sql, params).records()
    return records
