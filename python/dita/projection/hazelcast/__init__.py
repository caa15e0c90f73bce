"""Hazelcast projection: every kernel's slots, account and control state in cluster maps.

Maps (values are HazelcastJsonValue holding the dicts of ``snapshot()`` plus ``kernel_id``
and ``projected_at``, the publisher's wall-clock time of the write):

- ``dita_slots``    key ``<kernel_id>:<slot_id>``
- ``dita_accounts`` key ``<kernel_id>``; ``closed_at`` is null while the kernel runs and the
  time of its clean close afterwards (readers take it for stopped at once);
  ``input_refused_reason`` is null while the kernel takes input and says why once it takes none
  (its write-ahead log failed, say), so readers do not take it for trading
- ``dita_control``  key ``<kernel_id>``: the control state the kernel is running with
- ``dita_kernel_claims`` key ``<kernel_id>``: the projection holding that id (``claims.py``); a
  second kernel attached under an id a live holder keeps is refused, naming the holder

SQL mappings of the same names expose the scalar fields as columns (``json-flat``); the
``*_json`` mappings (``dita_slots_json`` ...) expose the whole value as ``this`` (JSON) for
nested fields such as ``active_entry_order``.

The hot path never waits for Hazelcast: the kernel only marks keys dirty, and one publisher
thread drains them (``publish_dirty``) and writes the latest value per key, so a burst of
updates to one slot between two cycles costs one write. When the cluster is away the
publisher stops draining (the kernel's dirty set is bounded by ``max_slots``), and when a
connection is back it republishes everything, because a restarted cluster may have lost
the maps; so it does when a member leaves while the others keep the client (two members lost
at once take the partitions whose two copies they held). Each kernel is also republished in
full every ``full_resync_interval`` seconds (300), one kernel a cycle: an entry another writer
left in the maps is put right then, not only when that slot changes.

A kernel id may come back with fewer slots (a restart with a smaller ``max_slots``): on
attach, and again on each connect, the entries of that kernel id numbered at or above its
``max_slots`` are removed on the members (``remove_all`` with a predicate on the
``kernel_id`` and ``slot_id`` fields), else their last state would stay in the map for good.
A removal the members refuse (an entry of that id whose slot_id is not a number) is said and
tried again later; the writes beside it go on.

One file per part, read in this order:

- ``publisher.py``: :class:`HazelcastProjection`, what a kernel and its caller use.
- ``connection.py``: its fields, its client, the connection's ups and downs.
- ``publishing_cycle.py``: the publisher thread, its cycle, its CPU cap and heartbeats.
- ``kernel_writes.py``: one kernel drained and written; slots beyond ``max_slots`` removed.
- ``write_confirmations.py``: the cluster's answers booked; writes out too long left behind.
- ``batches.py``: what a cycle sends, out until confirmed.
- ``maps.py``: the map names and how an entry is encoded.
- ``sql_mappings.py``: the SQL mappings over the maps.
- ``claims.py``: which projection holds each kernel id (``dita_kernel_claims``), taken atomically.
- ``liveness.py``: how readers judge a kernel from its account (running, closed, gone).
- ``map_reads.py``: reading the maps, values another client wrote included.
- ``kernel_borrow.py``: reading a kernel off the hot path without taking it from its thread.
- ``answers.py``: a request's answer waited for until a deadline.

The publisher's timings (``FIRST_CONNECT_WAIT_S``, ``PRUNE_RETRY_S`` ...) and the switch
``GUARD_KERNEL_READS`` are read in the module that defines them, so they are set there.
"""

from dita._hazelcast_client import (
    DEFAULT_CLUSTER_MEMBERS,
    DEFAULT_CLUSTER_NAME,
    MEMBER_LIST_WAIT_S,
    REACTOR_POLL_S,
    SHUTDOWN_WAIT_S,
    BlockingMap,
    Future,
    HazelcastClient,
    HazelcastError,
    HazelcastJsonValue,
    HazelcastSerializationError,
    IllegalStateError,
    LifecycleState,
    Map,
    cluster_settings,
    connect_client,
    default_cluster_name,
    shutdown_client,
)
from dita.projection.hazelcast.answers import Unanswered, answered_by
from dita.projection.hazelcast.kernel_borrow import kernel_reads
from dita.projection.hazelcast.liveness import (
    CLOCKS_AGREE_WITHIN_S,
    LIVE_WITHIN_S,
    clock_note,
    closed_at,
    input_refused,
    live_kernels,
    projection_age,
)
from dita.projection.hazelcast.map_reads import (
    Undecodable,
    add_entry_listener_decoded,
    entries_decoded,
    get_decoded,
    json_object,
    read_map,
    read_maps,
    shown_value,
)
from dita.projection.hazelcast.maps import (
    ACCOUNTS_MAP,
    CONTROL_MAP,
    SLOTS_MAP,
    slots_beyond,
    strip_projection_fields,
    to_json_value,
)
from dita.projection.hazelcast.publisher import HazelcastProjection
from dita.projection.hazelcast.sql_mappings import create_mappings, mapping_ddl

__all__ = [
    "ACCOUNTS_MAP",
    "CLOCKS_AGREE_WITHIN_S",
    "CONTROL_MAP",
    "DEFAULT_CLUSTER_MEMBERS",
    "DEFAULT_CLUSTER_NAME",
    "LIVE_WITHIN_S",
    "MEMBER_LIST_WAIT_S",
    "REACTOR_POLL_S",
    "SHUTDOWN_WAIT_S",
    "SLOTS_MAP",
    "BlockingMap",
    "Future",
    "HazelcastClient",
    "HazelcastError",
    "HazelcastJsonValue",
    "HazelcastProjection",
    "HazelcastSerializationError",
    "IllegalStateError",
    "LifecycleState",
    "Map",
    "Unanswered",
    "Undecodable",
    "add_entry_listener_decoded",
    "answered_by",
    "clock_note",
    "closed_at",
    "cluster_settings",
    "connect_client",
    "create_mappings",
    "default_cluster_name",
    "entries_decoded",
    "get_decoded",
    "input_refused",
    "json_object",
    "kernel_reads",
    "live_kernels",
    "mapping_ddl",
    "projection_age",
    "read_map",
    "read_maps",
    "shown_value",
    "shutdown_client",
    "slots_beyond",
    "strip_projection_fields",
    "to_json_value",
]
