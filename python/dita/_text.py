"""Text shown in errors and warnings."""

from __future__ import annotations


def shortened(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters, ending in ``...`` when it was cut: a value named
    in an error stays readable however long it is."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_utf8(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8. Python reads argument bytes that are not UTF-8 (a
    Latin-1 terminal's é) as lone surrogates, which clients refuse mid-request with messages
    about their own internals, not the value."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
