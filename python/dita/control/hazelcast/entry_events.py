"""The map's entry events, taken on the client's reactor thread: an entry changed, removed or
the map cleared is noted for the worker to apply, never applied there. A write stamped below an
entry it competes with is held as blocked until that entry is known to be gone or still there."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

from dita._text import shortened
from dita.control import GLOBAL
from dita.control.hazelcast.connection import PlaneConnection
from dita.control.hazelcast.entries import CONTROL_FIELDS, CONTROL_PLANE_MAP, _control_value, _decode
from dita.control.hazelcast.stamps import (
    _field_stamp,
    _stamp_number,
    _stamps_held,
    _superseded,
    effective_control,
)
from dita.projection.hazelcast.map_reads import Undecodable

_log = logging.getLogger("dita.control.hazelcast")  # one logger for the package, as docs name it


class EntryEvents(PlaneConnection):
    """What the plane knows of the entries, kept in step with the map's events."""

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
        self._take_entry(key, entry)

    def _take_entry(self, key: str, entry: dict[str, Any]) -> None:
        """Note ``entry``, as the cluster holds it under ``key``, for the worker to apply: an
        event's, or one a kernel's attach read on its own."""
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
            if field not in entry or f"{field}_at" in entry:
                self._unstamped.pop((key, field), None)
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
        for said in [u for u in self._unstamped if u[0] == key]:
            del self._unstamped[said]
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
            self._unstamped.clear()
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
