"""``DataError``: market history that cannot be replayed as given, naming the file and the row.

It has a module of its own because every step of reading history refuses with it: the file
read into a table (``data_file``), its time column (``times``), its bars' grid (``bar_grid``)
and the loader (``data``), which re-exports it.
"""

from __future__ import annotations

__all__ = ["DataError"]


class DataError(ValueError):
    """History that cannot be replayed as given. ``row`` is 1-based (first data row is 1)."""

    def __init__(self, message: str, *, path: str = "", row: int | None = None) -> None:
        self.path = path
        self.row = row
        where = f"{path}: " if path else ""
        if row is not None:
            where += f"row {row}: "
        super().__init__(where + message)
