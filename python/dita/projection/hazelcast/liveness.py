"""Whether the kernel of a ``dita_accounts`` entry is running, closed, gone or refusing input,
as readers (`dita status`, `dita control`) judge it from the entry alone."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

LIVE_WITHIN_S = 30.0
"""A kernel whose account was last projected longer ago than this is taken for gone: the
publisher rewrites every account at least every ``heartbeat`` (5 s by default), while the
entries of a kernel that crashed stay in the maps (one closed cleanly says so: ``closed_at``).
``projected_at`` is the writer's clock: a stamp this far ahead of the reader's clock is not
taken for fresh either (a crashed kernel on a machine whose clock runs ahead would otherwise
show as running for as long as it runs ahead)."""


def projection_age(account: Mapping[str, Any], now: float | None = None) -> float | None:
    """Seconds since the kernel of a ``dita_accounts`` entry last projected, by the reader's
    clock (negative when the writer's clock is ahead); None without a ``projected_at``."""
    at = account.get("projected_at")
    if not isinstance(at, int | float) or isinstance(at, bool) or not math.isfinite(at):
        return None  # a NaN or inf typed by hand says no time at all
    return (time.time() if now is None else now) - at


def clock_note(age: float) -> str:
    """What to say of a ``projection_age`` that is a stamp from the future: the clocks of the
    kernel's machine and this one disagree, and liveness is judged by them ("" when not)."""
    if age >= -CLOCKS_AGREE_WITHIN_S:
        return ""
    return (
        f"projected_at is {-age:.0f}s ahead of this machine's clock (clocks disagree: a kernel is "
        f"taken for gone beyond {LIVE_WITHIN_S:g}s either way)"
    )


CLOCKS_AGREE_WITHIN_S = 2.0
"""How far ahead of the reader's clock a ``projected_at`` may be before it is said (the write
and the read are apart by a network trip, and clocks synced by NTP by milliseconds)."""


def live_kernels(
    accounts: Mapping[str, Mapping[str, Any]], now: float | None = None, within: float = LIVE_WITHIN_S
) -> set[str]:
    """The kernel ids among ``accounts`` (``dita_accounts`` entries) projected within ``within`` s
    and not closed (``closed_at`` is set by the last write of a kernel closed cleanly)."""
    now = time.time() if now is None else now
    live = set()
    for kid, account in accounts.items():
        age = projection_age(account, now)
        if age is not None and abs(age) <= within and closed_at(account) is None:
            live.add(kid)
    return live


def closed_at(account: Mapping[str, Any]) -> float | None:
    """When the kernel of a ``dita_accounts`` entry was closed cleanly; None while it runs
    (or when it stopped without closing: a crash leaves only a heartbeat that grows stale)."""
    at = account.get("closed_at")
    if isinstance(at, int | float) and not isinstance(at, bool):
        return float(at)
    return None


def input_refused(account: Mapping[str, Any]) -> str | None:
    """Why the kernel of a ``dita_accounts`` entry takes no input (its write-ahead log failed,
    say), as the kernel said it; None while it takes input (or from a version that did not say)."""
    reason = account.get("input_refused_reason")
    return reason if isinstance(reason, str) and reason.strip() else None
