"""Reading what a caller hands over item by item (a feed, intents, fills, columns): an error the
caller's own code raises there (a generator's, a column's ``__getitem__``) is raised again as
``ArgumentReadError``, naming the call, the argument and the item, the caller's error its cause.
KeyboardInterrupt and SystemExit pass as they are."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from dita._text import shortened

T = TypeVar("T")


class ArgumentReadError(RuntimeError):
    """Reading an argument raised in the caller's code: ``argument`` names it, ``item`` is the
    index of the item being read (None when unknown), ``__cause__`` is the caller's error."""

    def __init__(self, message: str, argument: str, item: int | None) -> None:
        super().__init__(message)
        self.argument = argument
        self.item = item


def read_failed(
    call: str, argument: str, item: int | None, exc: Exception, *, what: str | None = None
) -> ArgumentReadError:
    """The error to raise ``from exc`` for ``exc`` raised reading ``argument`` of ``call``;
    ``what`` says what was being read when the item alone does not (a chunk of rows)."""
    if what is None:
        what = argument if item is None else f"{argument} item {item:,}"
    cause = shortened(str(exc), 200)
    return ArgumentReadError(f"{call}: reading {what} raised {type(exc).__name__}: {cause}", argument, item)


def read_items(call: str, argument: str, items: Iterable[T]) -> Iterator[T]:
    """``items`` as they come, an error raised reading one raised as ``read_failed`` says."""
    iterator = iter(items)  # no iterable at all: Python's TypeError, as for any loop
    index = 0
    try:
        for item in iterator:
            yield item
            index += 1
    except Exception as exc:
        raise read_failed(call, argument, index, exc) from exc
