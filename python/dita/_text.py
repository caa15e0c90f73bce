"""Text shown to people: in errors and warnings, and times in tables and reports."""

from __future__ import annotations

from datetime import UTC, datetime


def shortened(text: str, limit: int = 80) -> str:
    """``text`` cut to ``limit`` characters, ending in ``...`` when it was cut: a value named
    in an error stays readable however long it is."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def utc_text(ts: float | None) -> str:
    """A Unix time as ``YYYY-MM-DD HH:MM:SS`` in UTC; empty for None (not 0: that is
    1970-01-01 00:00:00, a time like any other)."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(float(ts), tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def is_utf8(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8. Python reads argument bytes that are not UTF-8 (a
    Latin-1 terminal's é) as lone surrogates, which clients refuse mid-request with messages
    about their own internals, not the value."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# What Rust's char::is_whitespace takes for white space (Unicode's White_Space), which a kernel
# id may not hold. Python's isspace() also takes U+001C-U+001F, which a kernel id may hold.
_KERNEL_ID_SPACE = frozenset("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    map(chr, range(0x2000, 0x200B))
)
KERNEL_ID_BYTES = 200
"""The longest kernel id, in bytes of UTF-8 (``Kernel::new``)."""


def kernel_id_flaw(kernel_id: str) -> str | None:
    """Why no kernel can have ``kernel_id`` (``Kernel::new`` takes 1-200 bytes of UTF-8 without
    white space or NUL), or None when one can."""
    if not kernel_id:
        return "it is empty"
    if not _KERNEL_ID_SPACE.isdisjoint(kernel_id):
        return "it holds white space"
    if "\0" in kernel_id:
        return "it holds a NUL"
    if not is_utf8(kernel_id):
        return "it is not UTF-8 (it holds a byte the terminal's encoding does not read)"
    if len(kernel_id.encode("utf-8", "surrogatepass")) > KERNEL_ID_BYTES:
        return f"it is over {KERNEL_ID_BYTES} bytes of UTF-8"
    return None
