"""What counts as a number in data and venue answers handed to dita from Python."""

from __future__ import annotations

import numbers
from typing import TypeGuard


def is_real(value: object) -> TypeGuard[float]:
    """Any real number, numpy's included (a float32 column), but not a bool: Python counts
    True as 1, and a flag where a price or size belongs is a mistake."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
