"""An entry of ``dita_control_plane``: its map, its key (``*`` or a kernel id), its fields,
and what an entry or a field no kernel takes is read as."""

from __future__ import annotations

import logging
from typing import Any

from dita._hazelcast_client import Future, HazelcastClient, Map
from dita._kernel import ControlMode, Verbosity
from dita._text import is_utf8
from dita.control import entry_key, enum_names, normalize_change
from dita.projection.hazelcast.answers import map_proxy
from dita.projection.hazelcast.map_reads import json_object, shown_value

_log = logging.getLogger("dita.control.hazelcast")  # one logger for the package, as docs name it


CONTROL_PLANE_MAP = "dita_control_plane"
CONTROL_FIELDS = ("mode", "verbosity", "debug_clickhouse_enabled")


def _control_map(client: HazelcastClient) -> Future[Map[str, Any]]:
    """The proxy of the control entries' map, as a future (``map_proxy``)."""
    return map_proxy(client, CONTROL_PLANE_MAP, "dita-control-map-proxy")


def _validate_kernel_id(kernel_id: str | None) -> str:
    key = entry_key(kernel_id)  # None: the global entry; empty and `*` refused
    if not is_utf8(key):
        # Refused here, not by the client mid-write as if the cluster were unreachable.
        raise ValueError(f"kernel_id must be UTF-8 text, got {kernel_id!r}")
    return key


def _decode(key: str, value: Any) -> dict[str, Any]:
    """An entry as a dict; a value that is not a JSON object (typed by hand) is logged and read as
    empty, so it neither stops the other entries from being read nor `set` from overwriting it."""
    decoded = json_object(value)
    if decoded is not None:
        return decoded
    _log.error("control entry %s ignored: not a JSON object: %s", key, shown_value(value))
    return {}


def _control_value(field: str, value: Any) -> Any:
    """``value`` of ``field`` as a kernel runs it; ValueError naming both when it is not one.
    JSON's null too: ``normalize_change`` reads None as "not set", which said nothing."""
    if value is None:
        enum = ControlMode if field == "mode" else Verbosity
        expected = "true or false" if field == "debug_clickhouse_enabled" else f"one of {enum_names(enum)}"
        raise ValueError(f"{field} must be {expected}, got None")
    return normalize_change(**{field: value})[field]
