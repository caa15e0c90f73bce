"""The SQL mappings over the maps: one with a column per scalar field (``json-flat``), one
with the whole value as ``this`` (``*_json``), and one over the operators' control entries."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dita._hazelcast_client import HazelcastClient
from dita._text import shortened
from dita.projection.hazelcast.answers import Unanswered, answered_by
from dita.projection.hazelcast.kernel_borrow import kernel_reads
from dita.projection.hazelcast.maps import ACCOUNTS_MAP, CONTROL_MAP, SLOTS_MAP

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel


# Fields whose values are objects or arrays: json-flat cannot map them to columns, so they
# are read through the *_json mappings (JSON_VALUE / JSON_QUERY on ``this``).
_NESTED_FIELDS = frozenset({"active_entry_order", "active_exit_order", "metadata", "exit_leg_ratios"})
# SQL types of fields that may be null in the first sample (the K/E account before E is known).
_KNOWN_TYPES: dict[str, str] = {
    "kernel_id": "VARCHAR",
    "projected_at": "DOUBLE",
    "closed_at": "DOUBLE",
    "input_refused_reason": "VARCHAR",
    "slot_id": "BIGINT",
    "e_wallet_balance": "DOUBLE",
    "e_available_margin": "DOUBLE",
    "e_used_margin": "DOUBLE",
    "e_maint_margin": "DOUBLE",
}


def _sql_type(name: str, value: Any) -> str | None:
    if name in _KNOWN_TYPES:
        return _KNOWN_TYPES[name]
    if name in _NESTED_FIELDS or isinstance(value, dict | list | tuple):
        return None
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "BIGINT"
    if isinstance(value, float) or value is None:
        return "DOUBLE"
    return "VARCHAR"


def mapping_ddl(map_name: str, sample: Mapping[str, Any]) -> list[str]:
    """CREATE OR REPLACE MAPPING statements for one map, its columns taken from a sample value."""
    columns = ["__key VARCHAR", '"kernel_id" VARCHAR', '"projected_at" DOUBLE']
    for name, value in sample.items():
        sql_type = _sql_type(name, value)
        if sql_type is not None and name not in ("kernel_id", "projected_at"):
            columns.append(f'"{name}" {sql_type}')
    flat = (
        f"CREATE OR REPLACE MAPPING {map_name} ({', '.join(columns)}) TYPE IMap "
        "OPTIONS ('keyFormat'='varchar', 'valueFormat'='json-flat')"
    )
    whole = (
        f"CREATE OR REPLACE MAPPING {map_name}_json EXTERNAL NAME {map_name} (__key VARCHAR, this JSON) "
        "TYPE IMap OPTIONS ('keyFormat'='varchar', 'valueFormat'='json')"
    )
    return [flat, whole]


# The operators' control entries (written by dita.control.hazelcast), for SQL reads.
_CONTROL_PLANE_DDL = (
    "CREATE OR REPLACE MAPPING dita_control_plane (__key VARCHAR, kernel_id VARCHAR, mode VARCHAR, "
    "mode_at DOUBLE, verbosity VARCHAR, verbosity_at DOUBLE, debug_clickhouse_enabled BOOLEAN, "
    "debug_clickhouse_enabled_at DOUBLE, updated_at DOUBLE, updated_by VARCHAR) TYPE IMap "
    "OPTIONS ('keyFormat'='varchar', 'valueFormat'='json-flat')"
)


def create_mappings(client: HazelcastClient, kernel: ExecutionKernel, timeout: float | None = None) -> None:
    """Create (or refresh) the SQL mappings of the three maps from ``kernel``'s field names.

    ``timeout`` bounds the wait for each statement's answer (None: no bound): a member that
    takes a statement and answers none raises ``TimeoutError`` naming it, the rest not sent.
    """
    with kernel_reads():  # the publisher's thread reads the kernel here too
        samples = {
            SLOTS_MAP: kernel.slot_dict(0),
            ACCOUNTS_MAP: {**kernel.account(), "closed_at": None, "input_refused_reason": None},
            CONTROL_MAP: {**kernel.control(), "cluster_control": False},
        }
    statements = [ddl for name, sample in samples.items() for ddl in mapping_ddl(name, sample)]
    statements.append(_CONTROL_PLANE_DDL)
    for statement in statements:
        future = client.sql.execute(statement)
        if timeout is None:
            future.result()
            continue
        try:
            answered_by(future, time.monotonic() + timeout, statement)
        except Unanswered:
            head = shortened(statement.split("(")[0].strip(), 80)
            raise TimeoutError(f"{head!r} not answered within {timeout:g}s") from None
