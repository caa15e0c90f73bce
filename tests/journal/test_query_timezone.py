"""A time given to a journal query is UTC, as the journal's times are, wherever the query runs:
the CLI's process, a journal owner's or a server set to another time zone.

ClickHouse reads the text of a ``{since:DateTime}`` or ``{since:DateTime64(6)}`` value in its
session's time zone, which is the host's for the embedded engine: on a host in New York a
window copied from the journal's own (UTC) output started four hours late and found nothing.

Its own module: chDB hosts one directory per process, and these open a journal here."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dita.journal.clickhouse import ClickHouseJournal
from dita.journal.dsn import parse_dsn
from dita.journal.query import query_via_socket
from journal.helpers import held_chdb_directory, run_cli, twins

# Neither is UTC, and they lie on either side of it.
ZONES = ("America/New_York", "Asia/Tokyo")

WINDOW_SQL = (
    "SELECT count() AS n FROM transitions FINAL "
    "WHERE kernel_id = {{kernel:String}} AND ts >= {{since:{t}}} AND ts < {{until:{t}}}"
)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, dt.datetime, dt.datetime]:
    """A journal with a kernel's rows, closed: its directory, the rows of transitions, and the
    first and last ts (UTC)."""
    directory = tmp_path_factory.mktemp("tz") / "journal"
    journal = ClickHouseJournal(f"chdb://{directory}", max_delay=0.02)
    try:
        work, _ = twins(journal)
        work.run(20)
        journal.flush(30)
        n, first, last = journal.query(
            "SELECT count(), toString(min(ts)), toString(max(ts)) FROM transitions FINAL"
        ).rows[0]
    finally:
        journal.close()
    assert n > 0
    return directory, n, dt.datetime.fromisoformat(first), dt.datetime.fromisoformat(last)


def _window_args(t: str, first: dt.datetime, last: dt.datetime) -> list[str]:
    """--param values for the whole window, written as the journal's output writes times."""
    since = first.replace(microsecond=0)
    until = last.replace(microsecond=0) + dt.timedelta(seconds=1)
    return [
        "-p",
        "kernel=desk-1",
        "-p",
        f"since={since:%Y-%m-%d %H:%M:%S}",
        "-p",
        f"until={until:%Y-%m-%d %H:%M:%S}",
        WINDOW_SQL.format(t=t),
    ]


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("t", ["DateTime", "DateTime64(6)"])
def test_a_time_param_is_utc_where_the_cli_opens_the_journal_on_a_host_in_another_zone(
    written: tuple[Path, int, dt.datetime, dt.datetime], zone: str, t: str
) -> None:
    directory, n, first, last = written
    done = run_cli(
        "sql", "--dsn", f"chdb://{directory}", "-f", "json", *_window_args(t, first, last), env={"TZ": zone}
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{"n": n}]


@pytest.fixture(params=ZONES)
def owner_in_another_zone(
    request: pytest.FixtureRequest, written: tuple[Path, int, dt.datetime, dt.datetime]
) -> Iterator[str]:
    """A kernel's process holding the journal (and serving SQL on its socket) on a host whose
    time zone is not UTC; yields the DSN."""
    directory = written[0]
    with held_chdb_directory(directory, tz=request.param):
        yield f"chdb://{directory}"


@pytest.mark.parametrize("t", ["DateTime", "DateTime64(6)"])
def test_a_time_param_is_utc_through_the_socket_of_an_owner_in_another_zone(
    written: tuple[Path, int, dt.datetime, dt.datetime], owner_in_another_zone: str, t: str
) -> None:
    _, n, first, last = written
    dsn = owner_in_another_zone
    done = run_cli("sql", "--dsn", dsn, "-f", "json", *_window_args(t, first, last))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{"n": n}]
    # A Python caller's datetime, aware or naive (UTC, as the journal's), says the same.
    target = parse_dsn(dsn)
    since = first.replace(microsecond=0)
    until = last.replace(microsecond=0) + dt.timedelta(seconds=1)
    for zone in (dt.UTC, None):
        params = {
            "kernel": "desk-1",
            "since": since.replace(tzinfo=zone),
            "until": until.replace(tzinfo=zone),
        }
        rows = query_via_socket(target.socket_address, target.database, WINDOW_SQL.format(t=t), params).rows
        assert rows == [[n]], zone


@pytest.mark.parametrize("zone", ZONES)
def test_a_python_callers_datetime_is_utc_in_a_process_in_another_zone(
    written: tuple[Path, int, dt.datetime, dt.datetime], zone: str
) -> None:
    """In the process that opens the journal (``journal.query``): an aware datetime was written
    in the host's zone, which the session then read as UTC, and a zone-less result time came
    back in the host's offset. Both are UTC, aware or naive."""
    directory, n, first, last = written
    since = first.replace(microsecond=0)
    until = last.replace(microsecond=0) + dt.timedelta(seconds=1)
    script = (
        "import datetime as dt, json, sys\n"
        "from dita.journal.clickhouse import ClickHouseJournal\n"
        f"j = ClickHouseJournal({f'chdb://{directory}'!r})\n"
        f"since, until = dt.datetime.fromisoformat({since.isoformat()!r}), "
        f"dt.datetime.fromisoformat({until.isoformat()!r})\n"
        "out = {}\n"
        "for name, tz in (('aware', dt.UTC), ('naive', None)):\n"
        "    params = {'kernel': 'desk-1', 'since': since.replace(tzinfo=tz),\n"
        "              'until': until.replace(tzinfo=tz)}\n"
        f"    out[name] = j.query({WINDOW_SQL.format(t='DateTime64(6)')!r}, params).rows\n"
        "out['midnight'] = str(j.query(\"SELECT toDateTime('2026-01-01 00:00:00')\").rows[0][0])\n"
        "j.close()\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={**os.environ, "TZ": zone},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["aware"] == [[n]] and out["naive"] == [[n]]
    assert out["midnight"] == "2026-01-01T00:00:00"  # not 2025-12-31T19:00:00-05:00
