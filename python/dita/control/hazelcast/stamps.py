"""How the ``<field>_at`` stamps order writes: the value a kernel runs (the newest valid one of
its entry and the global one), and the stamp a writer gives a field (its clock, or just past the
newest stamp it competes with when its clock is behind)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

from dita.control import MODE_TIGHTNESS
from dita.control.hazelcast.entries import CONTROL_FIELDS, _control_value
from dita.projection.hazelcast.liveness import CLOCKS_AGREE_WITHIN_S

_log = logging.getLogger("dita.control.hazelcast")  # one logger for the package, as docs name it


def effective_control(entries: Sequence[Mapping[str, Any]]) -> dict[str, tuple[Any, float]]:
    """Per field, the most recently set valid value among ``entries`` as (value, set_at).

    Fields with a value that does not validate are skipped, so the newest valid value counts
    (an entry written by hand with a typo must neither knock a kernel over nor hide a global
    HALTED from it); the plane logs them. A stamp that is not a finite number, or not after
    1970 (zero or negative), counts as missing (0): never newer than a stamped value. Of two
    modes set at once (both typed by hand, at 0), the tighter counts: a hand-typed HALTED in a
    kernel's own entry is not hidden by a hand-typed global mode.
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
            if field not in best or at > best[field][1] or _tighter_at_once(field, value, at, best[field]):
                best[field] = (value, at)
    return best


def _tighter_at_once(field: str, value: Any, at: float, best: tuple[Any, float]) -> bool:
    """Whether ``value`` of ``field``, set at ``at``, is a mode tighter than ``best`` set at once."""
    return (
        field == "mode"
        and at == best[1]
        and MODE_TIGHTNESS.get(str(value), 0) > MODE_TIGHTNESS.get(str(best[0]), 0)
    )


def control_values(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The control values ``entries`` (a kernel's own and the global one) give the kernel, as it
    takes them (``effective_control``), without their stamps."""
    return {field: value for field, (value, _) in effective_control(entries).items()}


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
