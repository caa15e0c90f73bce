"""Cluster-wide control plane in Hazelcast: one write halts every kernel.

Operators write entries into the map ``dita_control_plane``: key ``*`` (every kernel) or a
kernel id. An entry holds any of ``mode``, ``verbosity`` and ``debug_clickhouse_enabled``,
each with the wall-clock time it was set (``mode_at`` ...), or just past the newest stamp it
competes with when the writer's clock is behind that one. Only those stamps order writes
(``updated_at`` says who wrote last), and one that is not a finite number after 1970 counts as
missing.
A kernel runs, field by field, the most recently set value of its own entry and the global
one, so ``set --mode HALTED`` (global) halts everyone, and a later ``set --kernel K --mode
LIVE`` resumes only K, whatever the operators' clocks say.

A kernel restarted on its log in REDUCE_ONLY or HALTED set outside the cluster (a dead-man trip
whose entry could not be written, the gateway) keeps that mode over an entry that would loosen it
and was stamped before the mode was set (the time its log recorded): a later write loosens it.

What each kernel actually runs with is projected separately (map ``dita_control``, written by
``HazelcastProjection``), so operators can see a change take effect.

An entry listener applies changes as they happen (well under a second). When the cluster is
unreachable the kernel keeps its last known control state, logs that it does, and
``status()`` says so; on reconnect the entries are read again and anything missed is applied.

A write (``write_entry``, ``HazelcastControlPlane.set``, `dita control set`) ends within its
timeout (``WRITE_TIMEOUT_S``) whichever request the cluster leaves unanswered (a member frozen
answers none until the others declare it dead, a minute or more), raising
``ControlWriteUnconfirmed``, which says whether the write itself went out. A global write
(an emergency halt) whose read of every entry is left unanswered goes on at half its timeout
with the global entry alone, stamped a little ahead, and says which kernels it may not reach.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from dita._hazelcast_client import (
    Future,
    HazelcastClient,
    HazelcastJsonValue,
    HazelcastSerializationError,
    LifecycleState,
    Map,
    cluster_settings,
    connect_client,
)
from dita._kernel import ControlMode, Verbosity
from dita._numbers import within
from dita._text import is_utf8, shortened
from dita.control import (
    GLOBAL,
    MODE_TIGHTNESS,
    check_kernel_id,
    entry_key,
    enum_names,
    normalize_change,
)
from dita.projection.hazelcast import (
    CLOCKS_AGREE_WITHIN_S,
    Unanswered,
    Undecodable,
    add_entry_listener_decoded,
    answered_by,
    entries_decoded,
    get_decoded,
    json_object,
    kernel_reads,
    shown_value,
    to_json_value,
)

if TYPE_CHECKING:
    from dita.kernel import ExecutionKernel

__all__ = [
    "CONTROL_FIELDS",
    "CONTROL_PLANE_MAP",
    "WRITE_TIMEOUT_S",
    "ControlPlaneUnavailable",
    "ControlWriteUnconfirmed",
    "HazelcastControlPlane",
    "effective_control",
    "normalize_change",
    "write_entry",
]

CONTROL_PLANE_MAP = "dita_control_plane"
CONTROL_FIELDS = ("mode", "verbosity", "debug_clickhouse_enabled")

_log = logging.getLogger(__name__)

READ_LATE_S = 10.0
"""How long a request of the plane's worker (the read of every entry, the listener's
registration, a look-up) may go unanswered before it is logged: a member frozen, or with stuck
partition threads, answers none until the others declare it dead, a minute or more. The worker
applies what the events bring meanwhile, so a HALTED is not held up by it."""


WRITE_TIMEOUT_S = 10.0
"""How long a write of a control entry waits for the cluster's answers by default (the map's
proxy, the reads of the stamps it must beat, the write itself) before it gives up: a member
frozen (SIGSTOP, a GC pause, a stalled VM) answers no request of its partitions until the others
declare it dead, and a global write reads every entry, so without a bound a halt could hang a
minute and more."""

UNANSWERED_WHY = (
    "a member not answering: frozen, or its partition threads stuck, until the others declare it dead"
)
"""Why a request goes unanswered, as a write (and `dita control set`) says."""


class ControlPlaneUnavailable(RuntimeError):
    """The control plane's cluster could not be reached to read or write an entry."""


class ControlWriteUnconfirmed(ControlPlaneUnavailable):
    """The cluster did not answer a write of a control entry within its timeout.

    ``sent`` False: a request before the write (``waited_for``: the map's proxy, a read of the
    stamps it must beat) went unanswered, so nothing was written. True: the write itself went out
    unanswered; the member may still apply it when it answers, or not. ``key`` and ``change`` are
    the entry and the fields of the write."""

    def __init__(
        self, *, key: str, change: Mapping[str, Any], waited_for: str, sent: bool, timeout: float
    ) -> None:
        self.key = key
        self.change = dict(change)
        self.waited_for = waited_for
        self.sent = sent
        super().__init__(self.said(timeout))

    def said(self, timeout: float) -> str:
        """What happened, ``timeout`` the seconds the cluster was given (a caller's own, when the
        write had what was left of it)."""
        if self.sent:
            fields = ", ".join(f"{f}={v}" for f, v in self.change.items())
            return (
                f"control entry {self.key!r}: the write of {fields} went out and was not confirmed "
                f"within {timeout:g}s ({UNANSWERED_WHY}): it may still take effect when the member "
                "answers, or not"
            )
        return (
            f"control entry {self.key!r} not written: {self.waited_for} not answered within "
            f"{timeout:g}s ({UNANSWERED_WHY}); nothing was written"
        )


READ_BACK_AFTER_S = 0.5
"""How long a write's answer may be out before the entry is read back: the member that owns the
entry answers at once, but the client holds its answer until the member keeping the entry's
backup acknowledges it too (with a member frozen, the client's ``operation_backup_timeout``, 5 s),
which left a global halt written at half its timeout unconfirmed at its end."""


def _written(
    cp_map: Map[str, Any],
    key: str,
    write: Future[Any],
    new: HazelcastJsonValue,
    deadline: float,
    what: str,
    done: Callable[[Any], bool],
) -> bool:
    """Whether ``write`` (of ``new`` for ``key``) wrote it, by its answer (``done`` of it), waited
    for until ``deadline``; Unanswered past it. While the answer is out, ``key`` is read back every
    READ_BACK_AFTER_S: once the entry's owner holds ``new`` (its stamps and writer make it this
    write's), it is written, whenever the answer comes."""
    wake = threading.Event()
    write.add_done_callback(lambda _: wake.set())
    back: Future[Any] | None = None
    back_at = time.monotonic() + READ_BACK_AFTER_S
    while True:
        wake.clear()  # before looking: an answer that comes after it wakes the wait below
        if write.done():
            if isinstance(write.exception(), HazelcastSerializationError):
                return False  # the answer is the entry there (another client's): not written
            return done(write.result())
        if back is not None and back.done():
            held = back.result() if back.exception() is None else None  # the write's answer decides
            if isinstance(held, HazelcastJsonValue) and held.to_string() == new.to_string():
                return True
            back, back_at = None, time.monotonic() + READ_BACK_AFTER_S
        now = time.monotonic()
        if now >= deadline:
            raise Unanswered(what)
        if back is None and now >= back_at:
            back = cp_map.get(key)
            back.add_done_callback(lambda _: wake.set())
            continue
        wake.wait(max((deadline if back is not None else min(deadline, back_at)) - now, 0.0))


def _absent_before(answer: Any) -> bool:
    """A put-if-absent's answer: None when it wrote (the entry was absent), else the entry there."""
    return answer is None


def _replaced(answer: Any) -> bool:
    """A replace-if-same's answer: True when it wrote (the entry was still the one read)."""
    return answer is True


def _control_map(client: HazelcastClient) -> Future[Map[str, Any]]:
    """The proxy of the control entries' map, as a future: the client's ``get_map`` asks a member
    to create it the first time and waits for the answer without a limit (on a member frozen, until
    the client drops its connection), so it is got on a thread of its own."""
    future: Future[Map[str, Any]] = Future()  # type: ignore[no-untyped-call]  # the client's own, untyped

    def get() -> None:
        try:
            future.set_result(client.get_map(CONTROL_PLANE_MAP))
        except Exception as exc:
            future.set_exception(exc)

    threading.Thread(target=get, name="dita-control-map-proxy", daemon=True).start()
    return future


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


def effective_control(entries: Sequence[Mapping[str, Any]]) -> dict[str, tuple[Any, float]]:
    """Per field, the most recently set valid value among ``entries`` as (value, set_at).

    Fields with a value that does not validate are skipped, so the newest valid value counts
    (an entry written by hand with a typo must neither knock a kernel over nor hide a global
    HALTED from it); the plane logs them. A stamp that is not a finite number, or not after
    1970 (zero or negative), counts as missing (0): never newer than a stamped value.
    """
    best: dict[str, tuple[Any, float]] = {}
    for entry in entries:
        for field in CONTROL_FIELDS:
            if field not in entry:
                continue
            try:
                value = _control_value(field, entry[field])
            except ValueError:
                continue
            at = _stamp_number(entry.get(f"{field}_at"))
            at = 0.0 if at is None else at
            if field not in best or at > best[field][1]:
                best[field] = (value, at)
    return best


def _control_value(field: str, value: Any) -> Any:
    """``value`` of ``field`` as a kernel runs it; ValueError naming both when it is not one.
    JSON's null too: ``normalize_change`` reads None as "not set", which said nothing."""
    if value is None:
        enum = ControlMode if field == "mode" else Verbosity
        expected = "true or false" if field == "debug_clickhouse_enabled" else f"one of {enum_names(enum)}"
        raise ValueError(f"{field} must be {expected}, got None")
    return normalize_change(**{field: value})[field]


def write_entry(
    client: HazelcastClient,
    kernel_id: str | None,
    change: Mapping[str, Any],
    *,
    updated_by: str = "dita",
    timeout: float = WRITE_TIMEOUT_S,
    warn: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Merge ``change`` into the entry of ``kernel_id`` (None: global, ``*`` refused); return the entry.

    ``change`` holds control fields only (``mode``, ``verbosity``, ``debug_clickhouse_enabled``),
    each a value a kernel takes: the writer stamps them. Compare-and-set, so two operators writing
    different fields at once lose neither. ValueError, naming the argument or field and its value,
    for a bad one, and when a stamp it competes with is the largest float (no later time exists):
    nothing is written. ControlWriteUnconfirmed when the cluster leaves a request unanswered for
    ``timeout`` seconds, saying whether the write itself went out.

    The global entry's write reads every entry, which a member frozen leaves unanswered: past half
    ``timeout`` it reads the global entry alone and is stamped ``CLOCKS_AGREE_WITHIN_S`` past the
    later of the writer's clock and that entry's own stamp, saying so to ``warn`` (default: this
    module's log, as a warning): a kernel's own entry, unread, stamped later keeps its value. A
    kernel's entry is never written without its reads. A write whose answer is out
    ``READ_BACK_AFTER_S`` is read back: the entry's owner holding it confirms it.

    An entry this client cannot decode (another client's serializer) is replaced when it is the
    one written (that value only, by its bytes), said to ``warn``; another one is skipped, said.
    """
    key = _validate_kernel_id(kernel_id)
    change = _checked_change(change)
    if not isinstance(updated_by, str) or not updated_by.strip() or not is_utf8(updated_by):
        raise ValueError(f"updated_by must name who writes the entry in UTF-8 text, got {updated_by!r}")
    if not within(timeout, 0, 300) or timeout == 0:
        raise ValueError(f"timeout must be above 0 and up to 300 seconds, got {timeout!r}")
    started = time.monotonic()
    deadline = started + timeout
    what = f"the proxy of map {CONTROL_PLANE_MAP}"
    sent = False
    every_unread = ""  # the read of every entry, when a global write went on without it
    try:
        cp_map = answered_by(_control_map(client), deadline, what)
        for _ in range(50):
            if key == GLOBAL and not every_unread:
                try:
                    read = _read_for_write(cp_map, key, started + timeout / 2, warn or _log.warning)
                except Unanswered as late:
                    every_unread = late.what
            if every_unread:
                # Once unanswered, not asked again (a write that lost its compare-and-set retries).
                what = f"{every_unread}, and then of entry {GLOBAL!r} alone,"
                read = {GLOBAL: answered_by(get_decoded(cp_map, GLOBAL), deadline, what)}
            elif key != GLOBAL:
                read = _read_for_write(cp_map, key, deadline, warn or _log.warning)
            current = read.get(key)
            # A value of another client's serializer holds nothing a kernel takes: it is replaced
            # (by its raw form, so only that value), or no halt could be written over it.
            foreign = current if isinstance(current, Undecodable) else None
            entry = _decode(key, current) if current is not None and foreign is None else {}
            others = [(k, _decode(k, v)) for k, v in read.items() if k != key and v is not None]
            now = _stamp_after(key, _competing_stamps(key, entry, others, change))
            if every_unread:
                now = _ahead(now)
            _drop_unusable_stamps(key, entry, change)
            for field, value in change.items():
                entry[field] = value
                entry[f"{field}_at"] = now
            entry["kernel_id"] = key
            entry["updated_at"] = now
            entry["updated_by"] = updated_by
            new = to_json_value(entry)
            what, sent = f"the write of entry {key!r}", True
            if current is None:
                write, answered = cp_map.put_if_absent(key, new), _absent_before
            else:
                old = foreign.data if foreign is not None else current
                write, answered = cp_map.replace_if_same(key, old, new), _replaced
            done = _written(cp_map, key, write, new, deadline, what, answered)
            sent = False  # answered: not written (the entry changed since the read), or written
            if done:
                if foreign is not None:
                    fields = ", ".join(f"{f}={v}" for f, v in change.items())
                    (warn or _log.warning)(
                        f"control entry {key!r}: replaced a value this client cannot decode (serializer "
                        f"type id {foreign.type_id}, another client's) with {fields}; what it held is gone"
                    )
                if every_unread:
                    # Three figures: ``timeout`` is what was left of a caller's deadline (1.99998).
                    why = f"{every_unread} not answered within {timeout / 2:.3g}s"
                    (warn or _log.warning)(_written_alone(change, now, why))
                return entry
    except Unanswered as late:
        raise ControlWriteUnconfirmed(
            key=key, change=change, waited_for=late.what, sent=sent, timeout=timeout
        ) from None
    raise ControlPlaneUnavailable(f"control entry {key!r} kept changing under us; try again")


_WRITER_FIELDS = ("kernel_id", "updated_at", "updated_by")


def _checked_change(change: Any) -> dict[str, Any]:
    """``change`` as the fields a write sets; ValueError naming the field and its value for one
    that is no control field (a stamp among them: the writer makes those) or holds a value no
    kernel takes, and for nothing to set."""
    if not isinstance(change, Mapping):
        raise ValueError(f"change must map control fields to their values, got {shortened(repr(change))}")
    checked: dict[str, Any] = {}
    for field, value in change.items():
        if field not in CONTROL_FIELDS:
            made = [f"{f}_at" for f in CONTROL_FIELDS] + list(_WRITER_FIELDS)
            why = "the writer makes it" if field in made else "no such field"
            raise ValueError(
                f"{field}={shortened(repr(value))} refused ({why}): a change sets only "
                f"{', '.join(CONTROL_FIELDS)}, and the write stamps them; nothing was written"
            )
        checked[field] = _control_value(field, value)
    if not checked:
        raise ValueError("nothing to set: give mode, verbosity or debug_clickhouse_enabled")
    return checked


def _read_for_write(
    cp_map: Map[str, Any], key: str, deadline: float, say: Callable[[str], None]
) -> dict[str, Any]:
    """The entries a write of ``key`` reads, by key (a missing one as None): for the global entry,
    every entry (each kernel's stamps compete with it); for a kernel's, its own and the global one,
    both asked for at once. Another entry this client cannot decode is skipped and named to
    ``say``; ``key``'s own comes as ``Undecodable``, for the write to replace."""
    if key == GLOBAL:
        what = f"the read of every entry of {CONTROL_PLANE_MAP}"
        every = entries_decoded(cp_map, say, keep_undecodable=True)
        read = {str(k): v for k, v in answered_by(every, deadline, what)}
    else:
        what = f"the read of entries {key!r} and {GLOBAL!r} of {CONTROL_PLANE_MAP}"
        own, every = get_decoded(cp_map, key), get_decoded(cp_map, GLOBAL)
        read = {key: answered_by(own, deadline, what), GLOBAL: answered_by(every, deadline, what)}
    for other, value in list(read.items()):
        if other != key and isinstance(value, Undecodable):
            say(f"skipped entry {shortened(repr(other))} of {CONTROL_PLANE_MAP}: {value.why()}")
            del read[other]
    return read


def _wall_clock() -> float:
    """This writer's clock (a function of its own so a test can set it apart from the client's)."""
    return time.time()


def _ahead(stamp: float) -> float:
    """The stamp of a global write made without reading every entry: ``stamp`` (the writer's clock,
    or just past the global entry's own stamps) plus ``CLOCKS_AGREE_WITHIN_S``, so it beats a
    kernel's entry, which it could not read, stamped by a clock up to that far ahead; ``stamp``
    itself where that is no finite time past it."""
    ahead = stamp + CLOCKS_AGREE_WITHIN_S
    return ahead if math.isfinite(ahead) and ahead > stamp else stamp


def _written_alone(change: Mapping[str, Any], stamp: float, why: str) -> str:
    """What a global write made without reading every entry says: which kernels it may not reach."""
    fields = ", ".join(f"{f}={v}" for f, v in change.items())
    try:
        at = datetime.fromtimestamp(stamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"
    except (OverflowError, ValueError, OSError):  # past any calendar: after a stamp typed by hand
        at = repr(stamp)
    return (
        f"control entry {GLOBAL!r}: {fields} written without reading the entries of individual "
        f"kernels ({why}: {UNANSWERED_WHY}): stamped {at}, {CLOCKS_AGREE_WITHIN_S:g}s past the later of "
        "this clock and the entry's own stamp, so it beats a kernel's entry stamped by a clock up to "
        f"{CLOCKS_AGREE_WITHIN_S:g}s ahead; a kernel whose own entry was stamped later than {at} keeps "
        "its own value"
    )


def _competing_stamps(
    key: str,
    entry: Mapping[str, Any],
    others: Sequence[tuple[str, Mapping[str, Any]]],
    change: Mapping[str, Any],
) -> list[tuple[float, str, str]]:
    """The stamps a write of ``change`` into ``entry`` (the one under ``key``) must beat to take
    effect, as (stamp, entry key, field): the changed fields' stamps in ``others``, the entries a
    kernel composes with it (for the global entry, all of them; for a kernel's entry, the global
    one). A stamp that is not a finite number is missing to kernels, so it is not one to beat."""
    stamps = []
    for by, held in [(key, entry), *others]:
        for field in change:
            at = _field_stamp(held, field)
            if at is not None:
                stamps.append((at, by, field))
    return stamps


def _stamp_after(key: str, stamps: Sequence[tuple[float, str, str]]) -> float:
    """The writer's clock, or just past the newest of ``stamps`` when the clock is behind it:
    the latest write wins whatever the writers' clocks say (a HALTED from an operator whose
    clock is slow must not be ignored). Stamping far past the clock is logged: the stamp it
    follows came from a clock running ahead, or was typed by hand."""
    now = _wall_clock()
    if not stamps:
        return now
    newest, by, field = max(stamps)
    if now > newest:
        return now
    after = math.nextafter(newest, math.inf)
    if not math.isfinite(after):
        # Written as it is, the stamp would be infinite (null in JSON): missing to every
        # kernel, so the write would be ignored. Refused instead, so nobody takes it for done.
        raise ValueError(
            f"control entry {key!r} not written: {field}_at of entry {by!r} is {newest!r}, the "
            f"largest time a stamp can hold, so no write can be stamped after it; remove entry "
            f"{by!r} (or its {field}_at) and set again"
        )
    if newest - now > CLOCKS_AGREE_WITHIN_S:
        _log.warning(
            "control entry %s: %s stamped %r, just past %s_at of entry %s, which is %.0fs ahead of "
            "this clock (a clock running ahead, or a stamp typed by hand): the write still wins",
            key,
            field,
            after,
            field,
            by,
            newest - now,
        )
    return after


def _drop_unusable_stamps(key: str, entry: dict[str, Any], change: Mapping[str, Any]) -> None:
    """Remove from ``entry`` the stamps of fields it keeps (not in ``change``) that are infinite,
    NaN or null: JSON has no such numbers (they would be written as null), and a kernel counts
    them as missing, as it counts a field without its stamp."""
    for field in CONTROL_FIELDS:
        name = f"{field}_at"
        if field in change or name not in entry:
            continue
        at = entry[name]
        if at is None or (isinstance(at, float) and not math.isfinite(at)):
            _log.warning(
                "control entry %s: %s %r dropped (not a finite number: %s counts as never set either way)",
                key,
                name,
                at,
                field,
            )
            del entry[name]


class HazelcastControlPlane:
    """Keeps attached kernels' control state in step with the ``dita_control_plane`` map.

    ``attach`` waits up to ``attach_timeout`` seconds for the cluster so that a kernel started
    while trading is halted starts halted; if the cluster is unreachable it starts on its
    local control state and says so.

    The map's events are how a change arrives; every ``resync_interval`` seconds (10) the
    entries are read again as well, so a change whose event never reached this client (a
    member that failed with it in flight, one the client was not yet connected to) is applied
    within that time, not at the entry's next change.

    ``set`` gives the cluster ``write_timeout`` seconds (10) to answer its write.
    """

    def __init__(
        self,
        cluster_members: str | Sequence[str] | None = None,
        cluster_name: str | None = None,
        *,
        attach_timeout: float = 3.0,
        updated_by: str = "dita",
        resync_interval: float = 10.0,
        write_timeout: float = WRITE_TIMEOUT_S,
    ) -> None:
        if not within(attach_timeout, 0, 300):
            raise ValueError(f"attach_timeout must be between 0 and 300 seconds, got {attach_timeout!r}")
        if not within(resync_interval, 0.1, 3600):
            raise ValueError(f"resync_interval must be between 0.1 and 3600 seconds, got {resync_interval!r}")
        if not within(write_timeout, 0, 300) or write_timeout == 0:
            raise ValueError(f"write_timeout must be above 0 and up to 300 seconds, got {write_timeout!r}")
        if not isinstance(updated_by, str) or not updated_by.strip() or not is_utf8(updated_by):
            raise ValueError(f"updated_by must name who writes entries in UTF-8 text, got {updated_by!r}")
        # None: $DITA_HAZELCAST_MEMBERS / $DITA_HAZELCAST_CLUSTER, else the local dev member.
        self.cluster_members, self.cluster_name = cluster_settings(cluster_members, cluster_name)
        self.attach_timeout = float(attach_timeout)
        self.resync_interval = float(resync_interval)
        self.write_timeout = float(write_timeout)
        self.updated_by = updated_by
        self._lock = threading.RLock()
        self._kernels: dict[str, ExecutionKernel] = {}
        self._entries: dict[str, dict[str, Any]] = {}  # last known entries by key
        self._applied_at: dict[str, dict[str, float]] = {}  # kernel id -> field -> set_at applied
        self._kept: dict[str, _KeptMode] = {}  # kernel id -> the tight mode it recovered, set by itself
        self._connected = threading.Event()
        self._ever_connected = threading.Event()
        self._synced = threading.Event()
        self._closing = False
        self._disconnected_since: float | None = time.time()
        self._lost = False  # a connection was lost (not our own close) and not synced since
        # Connections lost so far: a resync whose read was sent before a loss does not mark the
        # plane in sync (its answer came, the connection went before it ended). The reactor
        # thread takes only this lock, never held for long; with _lock, it is taken second.
        self._losses = 0
        self._conn_lock = threading.Lock()
        self._last_sync_at: float | None = None
        self._last_error = ""
        self._listener_id: str | None = None
        self._wake = threading.Event()
        self._resync_needed = False
        self._pending: set[str] = set()  # kernels whose entries changed (or that were busy)
        # Events during a resync's read, by key; None: the entry was removed.
        self._arrived: dict[str, dict[str, Any] | None] | None = None
        # Fields of arrived entries stamped below an entry they compete with, as
        # (key, field, competing key) -> stamp: the writer did not see that entry, so it was
        # removed in the cluster and its removal event is still on its way (events of two
        # partitions come in any order), or it was written after them. A global write may
        # compete with several kernels' entries: one record each, for that kernel.
        self._blocked: dict[tuple[str, str, str], float] = {}
        self._verify: set[str] = set()  # competing keys to look up in the cluster
        # Values no kernel takes, as (key, field), and stamps that are not finite numbers, as
        # (key, "<field>_at"), -> the value logged: each is logged once, not on every event.
        self._bad_stamps: dict[tuple[str, str], str] = {}
        self._client = connect_client(
            self.cluster_members, self.cluster_name, lifecycle_listener=self._on_lifecycle
        )
        self._worker = threading.Thread(target=self._run, name="dita-hazelcast-control", daemon=True)
        self._worker.start()

    # --- connection ------------------------------------------------------------------------

    def _on_lifecycle(self, state: str) -> None:
        # Runs on the client's reactor thread: blocking calls there would deadlock.
        if state == LifecycleState.CONNECTED:
            self._connected.set()
            self._ever_connected.set()
            self._resync_needed = True
            self._wake.set()
        elif state == LifecycleState.DISCONNECTED:
            with self._conn_lock:
                self._losses += 1
                self._connected.clear()
                self._synced.clear()
                if self._closing:
                    return
                self._disconnected_since = time.time()
                self._lost = True
            _log.warning(
                "control plane %s unreachable: kernels %s keep their last known control state",
                self.cluster_members,
                sorted(self._kernels),
            )

    def _run(self) -> None:
        next_read = time.monotonic() + self.resync_interval
        while not self._closing:
            wait = 0.5
            if self._synced.is_set() and self._connected.is_set():
                # Only then is a periodic read made and next_read moved on: waiting for a
                # past next_read while the cluster is away would spin this thread at full CPU.
                wait = min(wait, max(next_read - time.monotonic(), 0.0))
            self._wake.wait(wait)
            self._wake.clear()
            if self._closing:
                break
            # The periodic read, once the first one after connecting has been made.
            periodic = (
                not self._resync_needed
                and self._synced.is_set()
                and self._connected.is_set()
                and time.monotonic() >= next_read
            )
            if (self._resync_needed or periodic) and self._connected.is_set():
                self._resync_needed = False
                next_read = time.monotonic() + self.resync_interval
                try:
                    self._sync_all(periodic=periodic)
                except Exception as exc:
                    if self._closing:
                        break
                    self._last_error = f"{type(exc).__name__}: {exc}"
                    _log.warning("control plane resync failed (%s); retrying", self._last_error)
                    self._resync_needed = True
                    time.sleep(0.5)
                    self._wake.set()
            with self._lock:
                verify, self._verify = self._verify, set()
            if verify and self._connected.is_set():
                self._verify_blockers(verify)
            self._apply_pending()

    def _apply_pending(self) -> None:
        """Apply the changes of the kernels whose entries changed (or that were busy)."""
        with self._lock:
            pending, self._pending = self._pending, set()
            kernels = [(kid, self._kernels[kid]) for kid in pending if kid in self._kernels]
        for kid, kernel in kernels:
            self._apply(kid, kernel)
        if self._pending:
            time.sleep(0.002)  # a kernel was mid-call in another thread: try again shortly
            self._wake.set()

    def _answer(self, future: Future[Any], what: str) -> Any:
        """The result of a request of the worker's, applying what events bring while it is out.

        The worker does not just wait on its reads: a member that answers none (frozen, or its
        partition threads stuck, while the others deliver events) would hold back a HALTED the
        events bring for a minute and more, until the cluster declares that member dead, with
        nothing said. Said once it has been out READ_LATE_S, and again when it is answered."""
        future.add_done_callback(lambda _: self._wake.set())
        sent = time.monotonic()
        late = waited = False
        while not future.done():
            waited = True
            if self._closing:
                raise ControlPlaneUnavailable("control plane closed while a request was out")
            self._wake.wait(0.5)
            self._wake.clear()
            self._apply_pending()
            if not late and not future.done() and time.monotonic() - sent >= READ_LATE_S:
                late = True
                _log.warning(
                    "control plane %s: %s not answered after %.0fs (a member takes requests and does "
                    "not answer them); changes the entry events bring are still applied, a change "
                    "whose event is lost waits for the answer",
                    self.cluster_members,
                    what,
                    time.monotonic() - sent,
                )
        if waited:
            self._wake.set()  # a wake-up the loop above took may have been meant for the worker's loop
        if late:
            _log.warning(
                "control plane %s: %s answered after %.0fs",
                self.cluster_members,
                what,
                time.monotonic() - sent,
            )
        return future.result()

    def _sync_all(self, periodic: bool = False) -> None:
        """Reads every entry and applies what changed: after each (re)connect, and every
        ``resync_interval`` seconds (``periodic``)."""
        with self._conn_lock:
            losses = self._losses  # a loss after this: the read may predate it
        cp_map: Map[str, Any] = self._answer(
            _control_map(self._client), f"the proxy of map {CONTROL_PLANE_MAP}"
        )
        if self._listener_id is None:
            # The client re-registers listeners on its own after a reconnect.
            # Its events' values decoded by us: one the client cannot decode, decoded by the client,
            # closed its connection (every kernel cut off, the plane "unreachable") until it reconnected.
            self._listener_id = self._answer(
                add_entry_listener_decoded(
                    cp_map,
                    added_func=self._on_entry,
                    updated_func=self._on_entry,
                    merged_func=self._on_entry,
                    removed_func=self._on_removed,
                    evicted_func=self._on_removed,
                    expired_func=self._on_removed,
                    clear_all_func=self._on_cleared,
                    evict_all_func=self._on_cleared,
                ),
                "the registration of the entry listener",
            )
        with self._lock:
            self._arrived = {}
            known = dict(self._entries)  # what kernels were given before this read
        try:
            # An entry this client cannot decode is skipped and logged as an error, as one that is
            # not a JSON object is: it sets nothing, so a kernel whose entry it is keeps its mode.
            every = entries_decoded(cp_map, _log.error)
            read = self._answer(every, f"the read of every entry of {CONTROL_PLANE_MAP}")
            entries = {str(k): _decode(str(k), v) for k, v in read}
            with self._lock:
                # An event that came while the read was out may be newer than the read: keep it.
                for key, arrived in self._arrived.items():
                    if arrived is None:
                        entries.pop(key, None)  # removed after the read
                    elif not _superseded(arrived, entries.get(key, {})):
                        entries[key] = arrived
                # Entries the read found changed that no event brought, during the read or before.
                missed = sorted(
                    k
                    for k in set(known) | set(entries)
                    if k not in self._arrived and known.get(k) != entries.get(k)
                )
                self._entries = entries
                for gone in [b for b in self._bad_stamps if b[0] not in entries]:
                    del self._bad_stamps[gone]
                for key, entry in entries.items():
                    self._note_bad_stamps_locked(key, entry)
                self._forget_removed_stamps_locked(known)  # entries removed while we were away
                kernels = list(self._kernels.items())
        finally:
            with self._lock:
                self._arrived = None
        for kid, kernel in kernels:
            self._apply(kid, kernel)
        # attach() sets _lost too, under _lock, when a kernel starts with the cluster away.
        with self._lock, self._conn_lock:
            current = self._losses == losses and self._connected.is_set()
            if current:
                lost_since, self._disconnected_since = self._disconnected_since, None
                synced_at = self._last_sync_at = time.time()
                self._last_error = ""
                lost, self._lost = self._lost, False
                if lost:
                    # The loss was a warning ("unreachable"): so is its end, said before the plane
                    # reads as in sync, so that whoever waited for it (wait_synced) finds it said.
                    _log.warning(
                        "control plane %s reachable again after %.0fs: %d entries read, kernels %s in sync",
                        self.cluster_members,
                        synced_at - (lost_since or synced_at),
                        len(entries),
                        sorted(kid for kid, _ in kernels),
                    )
                self._synced.set()
        if not current:
            # The connection went after the read was sent: what it read was applied, but the
            # plane is not in sync (status() says so) until the read the next connection makes.
            _log.debug("control plane %s: connection lost during a resync", self.cluster_members)
            return
        if lost:
            return  # said above
        if periodic and missed:
            # Also an event still on its way when the read was made: it comes to nothing then.
            _log.info(
                "control plane %s: entries %s changed with no event received; applied from a periodic read",
                self.cluster_members,
                missed,
            )
        elif periodic:
            _log.debug("control plane %s in sync: %d entries", self.cluster_members, len(entries))
        else:
            _log.info("control plane %s in sync: %d entries", self.cluster_members, len(entries))

    def _on_entry(self, event: Any) -> None:
        # Runs on the client's reactor thread: it never touches a kernel (a kernel busy in
        # another thread would raise here and take the connection down); the worker applies.
        if isinstance(event.key, Undecodable):
            _log.warning(
                "control plane: skipped an event of %s, its key not one this client decodes",
                CONTROL_PLANE_MAP,
            )
            return
        key = str(event.key)
        if isinstance(event.value, Undecodable):
            # As a read of every entry counts it: not there (kernels keep what they run).
            _log.warning(
                "control entry %r: event skipped, its value is %s: the entry counts as removed",
                key,
                event.value.why(),
            )
            self._on_removed(event)
            return
        entry = _decode(key, event.value)  # never raises: that would close the client's connection
        with self._lock:
            if self._arrived is not None:
                # Judged against the read when it is stored, not against what we knew before
                # it: after a member restart that may be an entry the cluster no longer holds.
                self._arrived[key] = entry
            known = self._entries.get(key, {})
            # A late event must not replace a newer entry already read by a resync.
            if _superseded(entry, known):
                return
            self._entries[key] = entry
            self._note_bad_stamps_locked(key, entry)
            self._record_blocked_locked(key, entry)
            if key == GLOBAL:
                self._pending.update(self._kernels)
            elif key in self._kernels:
                self._pending.add(key)
        self._wake.set()

    def _on_removed(self, event: Any) -> None:
        # An entry removed (or evicted) no longer counts. Kernels keep what they run: a removal
        # sets nothing, but a kernel attached later, or a later change, no longer sees it.
        if isinstance(event.key, Undecodable):
            return  # no entry of ours: its key is not one this client wrote
        key = str(event.key)
        with self._lock:
            self._removed_locked(key)
            if self._arrived is not None:
                self._arrived[key] = None
        self._wake.set()

    def _note_bad_stamps_locked(self, key: str, entry: Mapping[str, Any]) -> None:
        """Log each field of ``entry`` whose value no kernel takes (typed by hand), and each
        whose stamp is there but not a finite number (``1e999`` reads as infinity), once per
        entry and field while it stays so."""
        for field in CONTROL_FIELDS:
            try:
                if field in entry:
                    _control_value(field, entry[field])
                self._bad_stamps.pop((key, field), None)
            except ValueError as exc:
                shown = shortened(repr(entry[field]))
                if self._bad_stamps.get((key, field)) != shown:
                    self._bad_stamps[(key, field)] = shown
                    _log.error(
                        "control entry %s: %s %s ignored: %s (the newest valid %s of the entries counts)",
                        key,
                        field,
                        shown,
                        exc,
                        field,
                    )
            name = f"{field}_at"
            bad = field in entry and name in entry and _stamp_number(entry[name]) is None
            if not bad:
                self._bad_stamps.pop((key, name), None)
                continue
            shown = shortened(repr(entry[name]))
            if self._bad_stamps.get((key, name)) == shown:
                continue
            self._bad_stamps[(key, name)] = shown
            at = entry[name]
            number = isinstance(at, int | float) and not isinstance(at, bool) and math.isfinite(at)
            _log.warning(
                "control entry %s: %s %s is not %s: its %s %s counts as never set "
                "(never newer than a stamped value)",
                key,
                name,
                shown,
                "a time after 1970" if number else "a finite number",
                field,
                shortened(repr(entry[field])),
            )

    def _removed_locked(self, key: str) -> None:
        self._entries.pop(key, None)
        for gone in [b for b in self._bad_stamps if b[0] == key]:
            del self._bad_stamps[gone]
        self._forget_removed_stamps_locked()
        # Writes that arrived before this removal without competing with it were made after it.
        self._unblock_locked(key)

    def _record_blocked_locked(self, key: str, entry: Mapping[str, Any]) -> None:
        """Note the fields of ``entry`` stamped below an entry they compete with (see _blocked),
        and have the worker look that entry up in the cluster."""
        others = [k for k in self._entries if k != key] if key == GLOBAL else [GLOBAL]
        for field in CONTROL_FIELDS:
            for stale in [b for b in self._blocked if b[:2] == (key, field)]:
                del self._blocked[stale]
            at = _field_stamp(entry, field)
            if at is None:
                continue  # no stamp: never newer than anything (see effective_control)
            stamps = [(_field_stamp(self._entries[k], field), k) for k in others if k in self._entries]
            for s, by in stamps:
                if s is not None and s > at:
                    self._blocked[(key, field, by)] = at
                    self._verify.add(by)

    def _verify_blockers(self, keys: set[str]) -> None:
        """Look up in the cluster the entries that blocked a write: one that is gone was removed
        before the write was made (its removal event is late), so the write is the latest word."""
        try:
            cp_map: Map[str, Any] = self._answer(
                _control_map(self._client), f"the proxy of map {CONTROL_PLANE_MAP}"
            )
        except Exception as exc:  # the removal events, when they come, do the same
            _log.debug("control plane could not look up entries %s: %s", sorted(keys), exc)
            return
        for key in keys:
            with self._lock:
                asked = self._entries.get(key)  # the entry the answer is about
            try:
                present = self._answer(cp_map.contains_key(key), f"the look-up of entry {key!r}")
            except Exception as exc:  # the removal event, when it comes, does the same
                _log.debug("control plane could not look up entry %s: %s", key, exc)
                continue
            with self._lock:
                if not present:
                    # Only the entry asked about: one written again since (its event came while
                    # the answer was on its way) is newer than the answer.
                    if asked is not None and self._entries.get(key) is asked:
                        self._removed_locked(key)
                    continue
                # Still there: the writes it blocks were made before it, and stay superseded
                # when it is removed later (a removal sets nothing).
                for blocked in [b for b in self._blocked if b[2] == key]:
                    del self._blocked[blocked]

    def _unblock_locked(self, removed: str) -> None:
        """Apply the writes ``removed`` blocked: their kernels take them as new."""
        for (key, field, by), at in list(self._blocked.items()):
            if by != removed:
                continue
            del self._blocked[(key, field, by)]
            entry = self._entries.get(key)
            if entry is None or _field_stamp(entry, field) != at:
                continue  # replaced since (or removed): the newer state is already in place
            kid = removed if key == GLOBAL else key  # a global write was blocked for that kernel only
            applied = self._applied_at.get(kid)
            if applied is None:
                continue
            applied[field] = min(applied.get(field, -1.0), math.nextafter(at, -math.inf))
            self._pending.add(kid)

    def _on_cleared(self, event: Any) -> None:
        with self._lock:
            self._entries = {}
            self._blocked.clear()
            self._bad_stamps.clear()
            self._forget_removed_stamps_locked()
            if self._arrived is not None:
                # A resync's read is out and may predate the clear: read once more after it.
                self._resync_needed = True
        self._wake.set()

    def _forget_removed_stamps_locked(self, known: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        """Lower each kernel's last applied stamps to the newest its entries still hold.

        A writer stamps past the entries in the map only (``_stamp_after``): once the entry a
        kernel's value came from is removed, a later write from a clock behind that entry's
        stamp is stamped below what the kernel last applied, and would be ignored (a global
        HALTED unheeded). Lowered to what the remaining entries hold, nothing is re-applied
        (a removal sets nothing) and every later write is taken.

        ``known``: the entries before a resync's read. A value the read holds that they did
        not was written while we were away, after the entry it replaces was removed (a member
        restart, too): lowered just below it, so the kernel takes it."""
        for kid, applied in self._applied_at.items():
            held = effective_control([self._entries[k] for k in (GLOBAL, kid) if k in self._entries])
            seen = {} if known is None else _stamps_held([known[k] for k in (GLOBAL, kid) if k in known])
            for field, at in applied.items():
                newest = held[field][1] if field in held else -1.0
                if at <= newest:
                    continue
                new = known is not None and newest > 0 and newest not in seen.get(field, ())
                applied[field] = math.nextafter(newest, -math.inf) if new else newest

    def _apply(self, kid: str, kernel: ExecutionKernel) -> None:
        """Apply to ``kernel`` every field set more recently than what it last got from us."""
        with self._lock:
            if self._kernels.get(kid) is not kernel:
                # Detached since the worker took it: left alone (checked under the lock detach
                # takes, so no kernel changes once its detach returns). Changed, the change
                # counted as applied under its id, and a kernel attached next under it never
                # took the change.
                return
            entries = [self._entries[k] for k in (GLOBAL, kid) if k in self._entries]
            applied = self._applied_at.setdefault(kid, {})
            kept = self._kept.get(kid)
            change: dict[str, Any] = {}
            stamps: dict[str, float] = {}
            for field, (value, at) in effective_control(entries).items():
                if at <= applied.get(field, -1.0):
                    continue
                if field == "mode" and kept is not None and kept.loosened_by(value, at):
                    applied[field] = at  # said once, not on every event
                    _log.warning(kept.said(kid, value, at))
                    continue
                try:
                    change.update(normalize_change(**{field: value}))
                except (ValueError, TypeError) as exc:
                    applied[field] = at  # reported once, not on every event
                    _log.error("control entry for %s ignored: %s", kid, exc)
                    continue
                stamps[field] = at
            if not change:
                return
            try:
                with kernel_reads():
                    current = kernel.control()
                    # Only real changes reach the kernel: each one is a journaled control change.
                    differing = {f: v for f, v in change.items() if _current_value(current, f) != v}
                    if differing:
                        keys = sorted(k for k in (GLOBAL, kid) if k in self._entries)
                        kernel.update_control(**differing, source="hazelcast:" + ",".join(keys))
            except RuntimeError:
                # The kernel stayed busy in a call on another thread past its wait (10 s) or is
                # being closed: not applied yet, so the worker retries it in a moment instead of
                # dropping a HALTED.
                self._pending.add(kid)
                self._wake.set()
                return
            except Exception as exc:
                applied.update(stamps)
                _log.error("control change %s refused by kernel %s: %s", change, kid, exc)
                return
            applied.update(stamps)
        if differing:
            _log.info("kernel %s control updated from the cluster: %s", kid, differing)

    # --- the ControlPlane protocol ---------------------------------------------------------

    def attach(self, kernel: ExecutionKernel) -> None:
        kid = kernel.kernel_id
        # The key of every kernel's entry: `dita control set --kernel '*'` would resume every
        # kernel to resume this one.
        check_kernel_id(kid)
        kept = _kept_mode(kernel)
        with self._lock:
            # Under the lock: a close() racing this either finds the kernel (and lets it go
            # with the others) or is seen here.
            if self._closing:
                raise RuntimeError("HazelcastControlPlane is closed: make a new one to attach kernels")
            if kid in self._kernels:
                raise ValueError(f"kernel_id {kid!r} is already attached to this control plane")
            self._kernels[kid] = kernel
            if kept is not None:
                self._kept[kid] = kept
        if self._synced.wait(self.attach_timeout):
            self._apply(kid, kernel)
            return
        with self._lock:
            # Under the lock with the resync's look at _lost: either the resync is done (nothing
            # to warn of; its read may predate this kernel, so apply it here too), or it finds
            # _lost set and logs the recovery as a warning too, after this one.
            if self._synced.is_set():
                self._apply(kid, kernel)
                return
            with self._conn_lock:
                self._lost = True
            _log.warning(
                "control plane %s unreachable: kernel %s starts on its local control state %s",
                self.cluster_members,
                kid,
                kernel.control().get("mode"),
            )

    def detach(self, kernel: ExecutionKernel) -> None:
        self._detach(kernel)

    def _detach(self, kernel: ExecutionKernel) -> bool:
        """Removes ``kernel``; True if it was attached and no kernel is left (decided with the
        removal, so two kernels released at once cannot both see the other and leave the plane
        open)."""
        with self._lock:
            # By identity, as the in-memory plane: a kernel detached before and closed now must
            # not take along the kernel attached under its id since.
            if self._kernels.get(kernel.kernel_id) is not kernel:
                return False  # detached before: the plane is the caller's now, left open
            del self._kernels[kernel.kernel_id]
            self._applied_at.pop(kernel.kernel_id, None)
            self._kept.pop(kernel.kernel_id, None)
            return not self._kernels

    def release(self, kernel: ExecutionKernel) -> None:
        """What ``ExecutionKernel.close()`` calls: stop serving ``kernel`` and, when it was the
        last one attached, close. Kernels sharing this plane keep it until the last closes."""
        with self._lock:
            # Closing is decided with the removal: a kernel attaching meanwhile (a restart on
            # another thread) would be attached once the last one is gone, then dropped by the
            # close without a word, no halt reaching it. It is refused, as after the close.
            if not self._detach(kernel) or self._closing:
                return
            self._closing = True
        self._shut()

    def _shut(self) -> None:
        """Stop the worker, drop the kernels and shut the client, ``_closing`` set."""
        self._wake.set()
        if self._worker is not threading.current_thread():
            self._worker.join(timeout=5.0)
        with self._lock:
            self._kernels.clear()
        self._client.shutdown()

    def set(
        self,
        kernel_id: str | None = None,
        *,
        mode: ControlMode | str | None = None,
        verbosity: Verbosity | str | None = None,
        debug_clickhouse_enabled: bool | None = None,
    ) -> dict[str, Any]:
        """Write a change for ``kernel_id`` (None: every kernel); raises when the cluster is away
        (a new plane first waits up to ``attach_timeout`` for its connection), ControlWriteUnconfirmed
        when it leaves the write unanswered for ``write_timeout`` seconds (a global write made
        without reading every entry, ``write_entry`` says, is logged as a warning), ValueError for a bad
        value or when an entry holds a stamp no write can be stamped after, and RuntimeError once
        the plane is closed."""
        change = normalize_change(mode, verbosity, debug_clickhouse_enabled)
        if not change:
            raise ValueError("nothing to set: give mode, verbosity or debug_clickhouse_enabled")
        key = _validate_kernel_id(kernel_id)
        if self._closing:
            # Closed with its last kernel, say: its client is gone, not the cluster.
            raise RuntimeError("HazelcastControlPlane is closed: make a new one to set entries")
        if not self._ever_connected.is_set():
            # A new plane's client connects in the background: give it the time attach() gives
            # it, or `HazelcastControlPlane().set(...)` said "unreachable" with the cluster up.
            # Once it has been connected, a lost cluster fails at once.
            self._ever_connected.wait(self.attach_timeout)
        if not self._connected.is_set():
            raise ControlPlaneUnavailable(
                f"control plane {self.cluster_members} is unreachable; nothing was set"
            )
        try:
            return write_entry(
                self._client, kernel_id, change, updated_by=self.updated_by, timeout=self.write_timeout
            )
        except (ControlPlaneUnavailable, ValueError):
            # ValueError: an entry holds a stamp no write can follow, and says which;
            # ControlWriteUnconfirmed: not answered within write_timeout, saying if it went out.
            raise
        except Exception as exc:
            raise ControlPlaneUnavailable(f"could not write control entry {key!r}: {exc}") from exc

    def entries(self) -> dict[str, dict[str, Any]]:
        """The entries as last seen (a local copy; may be stale while disconnected, see status())."""
        with self._lock:
            return {k: dict(v) for k, v in self._entries.items()}

    def wait_synced(self, timeout: float | None = None) -> bool:
        return self._synced.wait(timeout)

    def status(self) -> dict[str, Any]:
        with self._lock:
            kernels = {kid: k.control() for kid, k in self._kernels.items()}
        connected = self._connected.is_set()
        return {
            "connected": connected,
            "in_sync": self._synced.is_set(),
            "cluster_members": list(self.cluster_members),
            # While disconnected the kernels run their last known state, marked here.
            "holding_last_known_state": not self._synced.is_set(),
            "disconnected_since": None if connected else self._disconnected_since,
            "last_sync_at": self._last_sync_at,
            "last_error": self._last_error,
            "kernels": kernels,
        }

    def close(self) -> None:
        with self._lock:
            if self._closing:
                return
            self._closing = True
        self._shut()


@dataclass(frozen=True)
class _KeptMode:
    """A tight mode (REDUCE_ONLY, HALTED) a kernel recovered from its log, set outside the cluster
    (``source``: a dead-man trip, the gateway) at ``set_at``, by the kernel's wall clock."""

    mode: str
    set_at: float
    source: str

    def loosened_by(self, value: Any, stamp: float) -> bool:
        """Whether an entry's ``value`` of mode, stamped ``stamp``, loosens this mode and was
        written before it was set: its writer never saw the kernel in this mode."""
        mode = getattr(value, "name", value)
        return stamp < self.set_at and MODE_TIGHTNESS.get(mode, 0) < MODE_TIGHTNESS[self.mode]

    def said(self, kid: str, value: Any, stamp: float) -> str:
        return (
            f"kernel {kid} keeps {self.mode}, recovered from its log (set at {_utc(self.set_at)} by "
            f"{self.source!r}), over the cluster's mode {getattr(value, 'name', value)} stamped "
            f"{_utc(stamp)}, before it: `dita control set --kernel {kid} --mode ...` changes it"
        )


def _kept_mode(kernel: ExecutionKernel) -> _KeptMode | None:
    """The tight mode ``kernel`` recovered from its log and keeps over older entries, or None:
    when its mode is not tight, was set by the cluster, or was set in this process before the
    attach (a run's label, which the cluster's entries override)."""
    control = kernel.control()
    mode = str(getattr(control.get("mode"), "name", control.get("mode")))
    set_by = str(control.get("mode_set_by", ""))
    seq = control.get("updated_seq")
    info = kernel.wal_info()
    recovery = info.get("recovery") if isinstance(info, dict) else None
    if mode not in MODE_TIGHTNESS or set_by.startswith("hazelcast:") or not isinstance(recovery, dict):
        return None
    if not isinstance(seq, int) or not 0 < seq <= recovery.get("last_seq", 0):
        return None
    set_at = control.get("mode_set_at")
    if not isinstance(set_at, float) or set_at <= 0.0:
        # Unknown (a log an earlier version wrote), taken as now: entries written before this
        # restart do not loosen the mode.
        set_at = time.time()
        _log.warning(
            "kernel %s: the time its mode %s was set is not in its log: cluster entries written "
            "before now do not loosen it",
            kernel.kernel_id,
            mode,
        )
    return _KeptMode(mode, set_at, set_by)


def _utc(stamp: float) -> str:
    try:
        return datetime.fromtimestamp(stamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, ValueError, OSError):  # a stamp typed by hand, past any calendar
        return repr(stamp)


def _superseded(entry: Mapping[str, Any], known: Mapping[str, Any]) -> bool:
    """Whether ``entry`` is an older version of ``known`` (an event that comes after a resync
    read a newer one): ``known`` holds a field set later and ``entry`` none.

    Only the fields' stamps order versions: every write stamps the fields it sets past their
    stamps before. ``updated_at`` is whatever the last writer put there (another client's tool
    may write milliseconds) and must not make a later write look older: a HALTED would be lost so.
    """
    known_newer = False
    for field in CONTROL_FIELDS:
        at, known_at = _field_stamp(entry, field), _field_stamp(known, field)
        if at is not None and (known_at is None or at > known_at):
            return False
        if known_at is not None and (at is None or known_at > at):
            known_newer = True
    return known_newer


def _stamp_number(at: Any) -> float | None:
    """A stamp as a float; None when it is not a finite number (missing, text, a bool, null,
    NaN, or infinite as JSON's ``1e999`` reads) or not after 1970 (zero or negative, typed by
    hand): such a stamp never counts as newer. A negative one ranked below a field with no stamp,
    so a kernel that takes an unstamped value never took it."""
    if not isinstance(at, int | float) or isinstance(at, bool):
        return None
    try:
        number = float(at)
    except OverflowError:  # an integer too large for a float, typed by hand
        return None
    return number if math.isfinite(number) and number > 0 else None


def _field_stamp(entry: Mapping[str, Any], field: str) -> float | None:
    """When ``field`` of ``entry`` was set; None when the entry lacks it or a usable stamp."""
    if field not in entry:
        return None
    at = _stamp_number(entry.get(f"{field}_at"))
    return at if at is not None and at > 0 else None


def _current_value(control: Mapping[str, Any], field: str) -> Any:
    value = control.get(field)
    return getattr(value, "name", value)


def _stamps_held(entries: Sequence[Mapping[str, Any]]) -> dict[str, set[float]]:
    """Per field, the stamps ``entries`` hold for it, counted as ``effective_control`` counts them."""
    stamps: dict[str, set[float]] = {}
    for entry in entries:
        for field in CONTROL_FIELDS:
            if field in entry and _valid(field, entry[field]):
                at = _stamp_number(entry.get(f"{field}_at"))
                stamps.setdefault(field, set()).add(0.0 if at is None else at)
    return stamps


def _valid(field: str, value: Any) -> bool:
    try:
        _control_value(field, value)
    except ValueError:
        return False
    return True
