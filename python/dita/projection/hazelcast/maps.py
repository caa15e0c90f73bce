"""The maps a kernel is projected into, and how an entry is written there.

``dita_slots`` is keyed ``<kernel_id>:<slot_id>``, ``dita_accounts`` and ``dita_control``
``<kernel_id>``; each value is a ``HazelcastJsonValue`` holding the dict of ``snapshot()`` plus
the fields the projection adds (``kernel_id``, ``projected_at``, and on accounts ``closed_at``
and ``input_refused_reason``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from dita._hazelcast_client import HazelcastJsonValue, Predicate, and_, equal, greater_or_equal, instance_of
from dita._numbers import finite_json

SLOTS_MAP = "dita_slots"
ACCOUNTS_MAP = "dita_accounts"
CONTROL_MAP = "dita_control"


def to_json_value(value: Mapping[str, Any]) -> HazelcastJsonValue:
    """Encode one projected dict; non-finite floats (invalid JSON) become null."""
    try:
        return HazelcastJsonValue(json.dumps(value, allow_nan=False, separators=(",", ":")))
    except ValueError:
        return HazelcastJsonValue(json.dumps(finite_json(value), separators=(",", ":")))


_JSON_VALUE_CLASS = "com.hazelcast.core.HazelcastJsonValue"
"""The member's class of the values dita writes (``HazelcastJsonValue``)."""


def slots_beyond(kernel_id: str, max_slots: int) -> Predicate:
    """The ``dita_slots`` entries of ``kernel_id`` numbered ``max_slots`` and above.

    Matched on the value's fields, not the key: a key prefix would also take the entries of
    kernel ids that extend this one (``k1`` and ``k10``, or ``k1:2`` whose keys are ``k1:2:N``).
    JSON values only, tested first (the member stops at the first part that fails): a value of
    another type (text put by hand from a console) has no fields, and the member would refuse
    the whole removal for it, failing every publish for as long as that entry stays.
    """
    return and_(
        instance_of(_JSON_VALUE_CLASS), equal("kernel_id", kernel_id), greater_or_equal("slot_id", max_slots)
    )


def strip_projection_fields(values: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The projected dicts without the fields the projection adds (to compare with snapshot())."""
    added = ("kernel_id", "projected_at", "closed_at", "input_refused_reason")
    return [{k: v for k, v in value.items() if k not in added} for value in values]
