"""What the venue answered to a cancel the kernel took that leaves the order where it was: it
refused it, or throttled it (the order may still work). Both gateways answer such a cancel as
refused by this one rule: HTTP's answer (``cancel_answer``) and stdio's ``order_update``."""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["CANCEL_REFUSALS", "cancel_answer", "cancel_refusal", "refusal_reason"]

# The venue event that refuses a cancel, and the diagnostic a cancel it answers is refused with.
CANCEL_REFUSALS = {"CANCEL_REJECT": "CANCEL_REJECTED", "RATE_LIMITED": "RATE_LIMITED"}


def cancel_refusal(answer: dict[str, Any]) -> tuple[str, str] | None:
    """The diagnostic (``CANCEL_REJECTED`` or ``RATE_LIMITED``) and the venue's own words (empty
    when it gave none) of a cancel the kernel took, ``answer`` its outcome's dict, whose venue
    answer refused or throttled it; None for any other. The kernel takes a cancel the venue
    refused (CANCEL_REJECT), and a throttle of the cancel of an order in doubt is an event for an
    order already ended, which it refuses (listed in ``venue_refusals``, without the venue's
    words). A refusal of an order the same answer ended (filled, its cancel acked) is none: the
    order is over, and the answer tells how."""
    if not answer["accepted"]:
        return None
    ended = _ended_orders(answer)
    asked = _cancelled_orders(answer)
    said = [
        (str(e["kind"]), str(e.get("reason") or ""))
        for e in answer["emitted_events"]
        if e.get("slot_id") == answer["slot_id"] and str(e.get("venue_client_id") or "") not in ended
    ]
    refusals = answer["details"].get("venue_refusals")
    # A refused event's order is not listed: it is the cancel's, unless every order asked ended.
    if isinstance(refusals, str) and not (asked and asked <= ended):
        said += [(str(r.get("kind")), "") for r in json.loads(refusals)]
    return next(((CANCEL_REFUSALS[k], why) for k, why in said if k in CANCEL_REFUSALS), None)


# The kernel's moves that end an order (a fill ending one short moves by its end's trigger).
_ENDS = ("FILL", "CANCEL_ACK", "EXPIRED", "REJECT")
# The smallest size the kernel trades: what a fill completing an order leaves, the kernel having
# booked what the order had left when the venue's figure differs by its rounding.
QTY_EPS = 1e-9


def _ended_orders(answer: dict[str, Any]) -> set[str]:
    """The client order ids of the orders ``answer``'s applied venue events ended."""
    ended_by = set()
    for t in answer["transitions"]:
        booked = t.get("details") or {}
        late_fill_completes = (
            t["trigger"] == "LATE_FILL"
            and float(booked.get("filled_size", 0.0)) >= float(booked.get("order_size", math.inf)) - QTY_EPS
        )
        if t["trigger"] in _ENDS or late_fill_completes:
            ended_by.add(t["event_id"])
    return {str(e["venue_client_id"]) for e in answer["emitted_events"] if e["event_id"] in ended_by}


def _cancelled_orders(answer: dict[str, Any]) -> set[str]:
    """The client order ids of the orders ``answer``'s cancel asked: those it asked the cancel
    of, and the order in doubt whose cancel it sent again."""
    asked = {
        str(t["details"]["client_order_id"])
        for t in answer["transitions"]
        if t["trigger"] == "CANCEL_REQUESTED" and (t.get("details") or {}).get("client_order_id")
    }
    details = answer["details"]
    if details.get("order_in_doubt") and details.get("client_order_id"):
        asked.add(str(details["client_order_id"]))
    return asked


def refusal_reason(code: str, words: str) -> str:
    """What a cancel refused ``code`` says of itself, ``words`` the venue's."""
    if code == "CANCEL_REJECTED":
        return f"the venue refused the cancel{': ' + words if words else ''}"
    return "the venue throttled the cancel; the order may still work: send it again later"


def cancel_answer(answer: dict[str, Any]) -> dict[str, Any]:
    """A CANCEL's answer as the venue's answer carried with it makes it (``cancel_refusal``):
    a cancel the venue refused or throttled is ``accepted: false``, its ``diagnostic_code``
    ``CANCEL_REJECTED`` or ``RATE_LIMITED``, as a throttled cancel of a working order is; the
    kernel's own reason, if any, is kept as ``kernel_reason``."""
    refused = cancel_refusal(answer)
    if refused is None:
        return answer
    code, words = refused
    details = answer["details"]
    kept = {"kernel_reason": details["reason"]} if "reason" in details else {}
    return {
        **answer,
        "accepted": False,
        "diagnostic_code": code,
        "details": {**details, **kept, "reason": refusal_reason(code, words)},
    }
