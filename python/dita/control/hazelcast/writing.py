"""A write of a control entry (``write_entry``): compare-and-set, stamped past what it
competes with, ended within its timeout whichever request the cluster leaves unanswered, and
what it raises when the cluster is away or does not confirm it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from dita._hazelcast_client import (
    Future,
    HazelcastClient,
    HazelcastJsonValue,
    HazelcastSerializationError,
    Map,
)
from dita._numbers import within
from dita._text import is_utf8, shortened
from dita.control import GLOBAL
from dita.control.hazelcast.entries import (
    CONTROL_FIELDS,
    CONTROL_PLANE_MAP,
    _control_map,
    _control_value,
    _decode,
    _validate_kernel_id,
)
from dita.control.hazelcast.stamps import (
    _ahead,
    _competing_stamps,
    _drop_unusable_stamps,
    _stamp_after,
    _stamps_held,
    effective_control,
)
from dita.projection.hazelcast.answers import Unanswered, answered_by
from dita.projection.hazelcast.liveness import CLOCKS_AGREE_WITHIN_S
from dita.projection.hazelcast.map_reads import Undecodable, entries_decoded, get_decoded, get_held
from dita.projection.hazelcast.maps import to_json_value

_log = logging.getLogger("dita.control.hazelcast")  # one logger for the package, as docs name it


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


class GlobalWriteOutrun(ControlPlaneUnavailable):
    """A global entry written ``GLOBAL_REWRITES`` + 1 times, each time a kernel's own entry
    (``kernel_ids``) written meanwhile past its stamp with another value: those kernels may run
    their own value. The global entry holds the write."""

    def __init__(self, key: str, change: Mapping[str, Any], kernel_ids: list[str]) -> None:
        self.kernel_ids = kernel_ids
        fields = ", ".join(f"{f}={v}" for f, v in change.items())
        kernels = ", ".join(repr(k) for k in kernel_ids)
        super().__init__(
            f"control entry {key!r}: {fields} written {GLOBAL_REWRITES + 1} times, and each time the "
            f"entry of kernel {kernels} was written meanwhile, stamped past it by a clock ahead of this "
            "one: that kernel may run its own value; set again"
        )


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


GLOBAL_REWRITES = 2
"""How many times a global write is made again when a kernel's entry, written between its read
of every entry and its compare-and-set by a clock ahead, is stamped past it."""

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


def write_entry(
    client: HazelcastClient,
    kernel_id: str | None,
    change: Mapping[str, Any],
    *,
    updated_by: str = "dita",
    timeout: float = WRITE_TIMEOUT_S,
    warn: Callable[[str], None] | None = None,
    only_if: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any] | None:
    """Merge ``change`` into the entry of ``kernel_id`` (None: global, ``*`` refused); return the entry.

    ``only_if`` is given, on each read of the compare-and-set, the control values the entries read
    give the kernel (its own and the global one, the newer stamp winning; for the global entry, its
    own), as ``{field: value}``, with each value's stamp as ``<field>_at`` (its writer's clock) when
    it has one: False writes nothing and returns None.

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
    kernel's entry is never written without its reads. A global write reads every entry again once
    written: a kernel's entry then holding a changed field with another value stamped at or after
    it (written since the first read, by a clock ahead) has it made again, stamped past it, up to
    ``GLOBAL_REWRITES`` times, then ``GlobalWriteOutrun`` naming the kernels; that read unanswered
    by the deadline leaves it written, said to ``warn``. A write whose answer is out
    ``READ_BACK_AFTER_S`` is read back: the entry's owner holding it confirms it.

    An entry this client cannot decode (another client's serializer) is replaced when it is the
    one written (that value only, by its bytes), said to ``warn``; another one is skipped, said.
    One that is not dita's JSON (a number another client stored) is read again as the member
    holds it, and replaced by those bytes.
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
    rewrites = 0
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
            old = current.data if isinstance(current, Undecodable) else current
            if current is not None and not isinstance(current, HazelcastJsonValue | Undecodable):
                # Typed by hand or by another client (a Java Long): encoded again by this client
                # it may not be the bytes the member holds, and no compare-and-set would match.
                what = f"the read of entry {key!r} as the member holds it"
                current, old = answered_by(get_held(cp_map, key), deadline, what)
            # A value of another client's serializer holds nothing a kernel takes: it is replaced
            # (by its raw form, so only that value), or no halt could be written over it.
            foreign = current if isinstance(current, Undecodable) else None
            entry = _decode(key, current) if current is not None and foreign is None else {}
            others = [(k, _decode(k, v)) for k, v in read.items() if k != key and v is not None]
            if only_if is not None and not rewrites and not only_if(_given(entry, others)):
                return None
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
                elif key == GLOBAL:
                    # A kernel's entry written after the read of every entry, by a clock ahead,
                    # would beat this later write: it is made again, stamped past that entry.
                    past = _kernels_written_past(cp_map, change, now, deadline, warn or _log.warning)
                    if past:
                        if rewrites == GLOBAL_REWRITES:
                            raise GlobalWriteOutrun(key, change, past)
                        rewrites += 1
                        continue
                return entry
    except Unanswered as late:
        raise ControlWriteUnconfirmed(
            key=key, change=change, waited_for=late.what, sent=sent, timeout=timeout
        ) from None
    raise ControlPlaneUnavailable(f"control entry {key!r} kept changing under us; try again")


def _kernels_written_past(
    cp_map: Map[str, Any],
    change: Mapping[str, Any],
    stamp: float,
    deadline: float,
    say: Callable[[str], None],
) -> list[str]:
    """The kernels whose own entry, read again after a global write of ``change`` stamped
    ``stamp``, holds a changed field with another value stamped at or after it: written after the
    global write's read (which it is stamped past), so a kernel would run that value over the
    global one written last. None when the read goes unanswered by ``deadline``: the global
    entry is written, said to ``say``."""
    try:
        # Another client's value it skips, the first read named; it holds nothing a kernel takes.
        read = _read_for_write(cp_map, GLOBAL, deadline, lambda _: None)
    except Unanswered as late:
        say(
            f"control entry {GLOBAL!r}: written; {late.what} after it not answered ({UNANSWERED_WHY}): "
            "a kernel's entry written meanwhile, stamped past it by a clock ahead, keeps its own value"
        )
        return []
    past = []
    for kernel_id, held in read.items():
        if kernel_id == GLOBAL or held is None:
            continue
        entry = _decode(kernel_id, held)
        for field, value in change.items():
            at = _stamps_held([entry]).get(field, set())
            if at and max(at) >= stamp and _control_value(field, entry[field]) != value:
                past.append(kernel_id)
                break
    return sorted(past)


def _given(entry: dict[str, Any], others: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The control values ``entry`` and the global entry among ``others`` give a kernel, as a
    kernel takes them (``effective_control``), each with its stamp as ``<field>_at`` when it has one."""
    given: dict[str, Any] = {}
    held = [other for k, other in others if k == GLOBAL] + [entry]
    for field, (value, at) in effective_control(held).items():
        given[field] = value
        if at > 0:  # 0: no usable stamp, never newer than a stamped value
            given[f"{field}_at"] = at
    return given


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
