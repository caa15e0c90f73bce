"""Intent builder and a silent venue shared by the kernel tests (imported by module name:
pytest puts this directory on sys.path)."""

from __future__ import annotations

import itertools
from typing import Any

from dita import KernelIntent, VenueEvent

_ids = itertools.count(1)


def intent(action: Any, slot: int = 0, **kw: Any) -> KernelIntent:
    """An intent with sensible defaults; every field can be overridden by keyword."""
    n = next(_ids)
    fields: dict[str, Any] = {
        "intent_id": f"i{n}",
        "trade_id": f"t{slot}",
        "slot_id": slot,
        "asset": "BTCUSDT",
        "side": "LONG",
        "action": action,
        "reference_price": 100.0,
        "target_size": 1.0 if str(action) == "ENTER" else 0.0,
        "timestamp": 1_700_000_000.0 + n,
    }
    fields.update(kw)
    return KernelIntent(**fields)


class SilentVenue:
    """Takes every order and answers nothing: the test plays the venue."""

    name = "silent"

    def submit(self, order: Any) -> list[VenueEvent]:
        return []

    def cancel(self, order: Any) -> list[VenueEvent]:
        return []
