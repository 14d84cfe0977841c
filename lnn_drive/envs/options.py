"""Checking the numeric options environments accept in ``reset(options=...)``."""

from __future__ import annotations

import math
from typing import Any


def finite_option(name: str, value: Any) -> float:
    """``value`` as a finite float, or a ``ValueError`` naming reset option ``name``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"reset option {name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"reset option {name} must be finite, got {v}")
    return v
