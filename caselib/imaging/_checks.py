"""Argument checks shared by the imaging modules (private)."""
from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["finite_number"]


def finite_number(value: Any, what: str) -> float:
    """Return `value` as a float, or raise naming `what` and the value found.

    Examples
    --------
    >>> finite_number(3, "width")
    3.0
    >>> finite_number(True, "width")
    Traceback (most recent call last):
    ...
    TypeError: width must be a real number; found bool True
    >>> finite_number(float("inf"), "width")
    Traceback (most recent call last):
    ...
    ValueError: width must be a finite number; found inf
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a real number; found {type(value).__name__} {value!r}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{what} must be a finite number; found {result!r}")
    return result
