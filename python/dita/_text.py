"""Text shown in errors and warnings."""

from __future__ import annotations


def shortened(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters, ending in ``...`` when it was cut: a value named
    in an error stays readable however long it is."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
