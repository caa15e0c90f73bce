"""What the venue answered to a cancel the kernel took that leaves the order where it was: it
refused it, or throttled it (the order may still work). Both gateways answer such a cancel as
refused by this one rule: HTTP's answer (``cancel_answer``) and stdio's ``order_update``."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["CANCEL_REFUSALS", "cancel_answer", "cancel_refusal", "refusal_reason"]

# The venue event that refuses a cancel, and the diagnostic a cancel it answers is refused with.
CANCEL_REFUSALS = {"CANCEL_REJECT": "CANCEL_REJECTED", "RATE_LIMITED": "RATE_LIMITED"}


def cancel_refusal(answer: dict[str, Any]) -> tuple[str, str] | None:
    """The diagnostic (``CANCEL_REJECTED`` or ``RATE_LIMITED``) and the venue's own words (empty
    when it gave none) of a cancel the kernel took, ``answer`` its outcome's dict, whose venue
    answer refused or throttled it; None for any other. The kernel takes a cancel the venue
    refused (CANCEL_REJECT), and a throttle of the cancel of an order in doubt is an event for an
    order already ended, which it refuses (listed in ``venue_refusals``)."""
    if not answer["accepted"]:
        return None
    said = [
        (str(e["kind"]), str(e.get("reason") or ""))
        for e in answer["emitted_events"]
        if e.get("slot_id") == answer["slot_id"]
    ]
    refusals = answer["details"].get("venue_refusals")
    if isinstance(refusals, str):
        said += [(str(r.get("kind")), "") for r in json.loads(refusals)]
    return next(((CANCEL_REFUSALS[k], why) for k, why in said if k in CANCEL_REFUSALS), None)


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
