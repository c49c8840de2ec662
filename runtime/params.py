"""Numeric settings whose valid range is declared next to them and checked in one place.

A frozen dataclass declares a setting as ``dwell_s: float = bounded(30.0, gt=0)`` and calls
:func:`check_bounds` in ``__post_init__``: a value outside its range (or not a finite number)
raises the class's error with one message shape, ``NAME must be RANGE, got VALUE``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["Bounds", "bounded", "check_bounds"]


@dataclass(frozen=True)
class Bounds:
    """An interval: each end open (``gt``/``lt``), closed (``ge``/``le``) or absent."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None
    unit: str = ""
    note: str = ""  # what a boundary value means, e.g. "0 = no averaging"

    def contains(self, v: float) -> bool:
        return ((self.gt is None or v > self.gt) and (self.ge is None or v >= self.ge)
                and (self.lt is None or v < self.lt) and (self.le is None or v <= self.le))

    def describe(self) -> str:
        lo, hi = (self.gt if self.ge is None else self.ge), (self.lt if self.le is None else self.le)
        if lo is not None and hi is not None:
            text = f"in {'(' if self.ge is None else '['}{lo:g}, {hi:g}{')' if self.le is None else ']'}"
        elif self.gt == 0:
            text = "a positive number"
        elif lo is not None:
            text = f"{'>' if self.ge is None else '≥'} {lo:g}"
        else:
            text = f"{'<' if self.le is None else '≤'} {hi:g}" if hi is not None else "a finite number"
        return text + (f" {self.unit}" if self.unit else "") + (f" ({self.note})" if self.note else "")


def bounded(default: float, *, gt: float | None = None, ge: float | None = None, lt: float | None = None,
            le: float | None = None, unit: str = "", note: str = "") -> Any:
    """A dataclass field: ``default``, and every value must be a finite number within these bounds."""
    return field(default=default, metadata={"bounds": Bounds(gt, ge, lt, le, unit, note)})


def check_bounds(settings: Any, error: type[Exception]) -> None:
    """Raise ``error`` for the first :func:`bounded` field of the dataclass ``settings`` out of range."""
    for f in fields(settings):
        bounds = f.metadata.get("bounds")
        if bounds is None:
            continue
        v = getattr(settings, f.name)
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and bounds.contains(v)
        if not ok:
            raise error(f"{f.name} must be {bounds.describe()}, got {v!r}")
