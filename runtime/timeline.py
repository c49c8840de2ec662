"""The one reader of ground-truth timelines (the built-in ``day.json`` and any hand-made one).

Two JSON forms are read:

- a list of scene stretches ``[{"start_s", "end_s", "label"}, …]`` (the short built-in day);
- an object ``{"segments": [ … as above … ], "transients": [{"t_s", "kind"}, …]}`` (the long
  test days of ``catuvac-scenes --day-seed``): ``transients`` are short events inside a stretch
  (a door slam, a cough …) that must *not* change the program.

Rules (one set, used by every caller: scoring, the CLIs, the demo, the corpus tools): at least
one stretch; finite times; ``end_s > start_s``; stretches contiguous (each starts where the
previous one ended, to within a microsecond — no gaps, no overlaps); labels non-empty strings;
transient times finite and inside the timeline. Errors are :class:`TimelineError` naming the file
and the item.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Sequence

from .errors import CatuvacError
from .fileio import read_json_file

__all__ = ["Segment", "Transient", "Truth", "TimelineError", "load_truth", "load_timeline", "parse_truth", "label_at"]

_TOL_S = 1e-6  # contiguity tolerance: boundaries are written as sample counts / rate


class TimelineError(CatuvacError, ValueError):
    """A truth timeline that cannot be used; the message names the file and the item."""


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    label: str

    def to_dict(self) -> dict[str, Any]:
        return {"start_s": self.start_s, "end_s": self.end_s, "label": self.label}


@dataclass(frozen=True)
class Transient:
    t_s: float
    kind: str


@dataclass(frozen=True)
class Truth:
    """A validated timeline: contiguous scene stretches plus the transient events inside them."""

    segments: tuple[Segment, ...]
    transients: tuple[Transient, ...] = ()

    @property
    def start_s(self) -> float:
        return self.segments[0].start_s

    @property
    def end_s(self) -> float:
        return self.segments[-1].end_s

    def to_json(self) -> Any:
        """The JSON form: a plain list without transients (the short-day format), else an object."""
        segs = [s.to_dict() for s in self.segments]
        if not self.transients:
            return segs
        return {"segments": segs, "transients": [{"t_s": e.t_s, "kind": e.kind} for e in self.transients]}


def _num(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        raise TimelineError(f"{where}: must be a finite number of seconds, got {v!r}")
    return float(v)


def parse_truth(data: Any, source: str = "timeline") -> Truth:
    """Validate a timeline already parsed from JSON (either form, see the module docstring)."""
    hint = 'expected [{"start_s", "end_s", "label"}, …] or {"segments": [...], "transients": [{"t_s", "kind"}, …]}'
    transients_raw: Any = []
    if isinstance(data, dict):
        if "segments" not in data:
            raise TimelineError(f"{source}: no \"segments\" key; {hint}")
        transients_raw = data.get("transients", [])
        data = data["segments"]
    if not isinstance(data, list) or not data:
        raise TimelineError(f"{source}: not a timeline (need a non-empty list of {{start_s, end_s, label}}); {hint}")
    segs: list[Segment] = []
    for i, d in enumerate(data):
        where = f"{source}: segment {i}"
        if not isinstance(d, dict) or not {"start_s", "end_s", "label"} <= set(d):
            raise TimelineError(f"{where} must have start_s, end_s and label, got {d!r}")
        a, b = _num(d["start_s"], f"{where} start_s"), _num(d["end_s"], f"{where} end_s")
        lab = d["label"]
        if not isinstance(lab, str) or not lab.strip():
            raise TimelineError(f"{where}: label must be a non-empty string, got {lab!r}")
        if b <= a:
            raise TimelineError(f"{where} ({a:g}–{b:g} s): end_s must be after start_s")
        if segs and abs(a - segs[-1].end_s) > _TOL_S:
            what = "overlaps" if a < segs[-1].end_s else "leaves a gap after"
            raise TimelineError(
                f"{where} ({a:g}–{b:g} s) is not contiguous: it {what} the previous one (ended at {segs[-1].end_s:g} s); "
                "list the stretches in time order, each starting where the previous one ends"
            )
        segs.append(Segment(a, b, lab.strip()))
    if not isinstance(transients_raw, list):
        raise TimelineError(f"{source}: \"transients\" must be a list of {{t_s, kind}}")
    events: list[Transient] = []
    for i, e in enumerate(transients_raw):
        where = f"{source}: transient {i}"
        if not isinstance(e, dict) or not {"t_s", "kind"} <= set(e):
            raise TimelineError(f"{where} must have t_s and kind, got {e!r}")
        t = _num(e["t_s"], f"{where} t_s")
        if not segs[0].start_s <= t <= segs[-1].end_s:
            raise TimelineError(f"{where} at {t:g} s lies outside the timeline ({segs[0].start_s:g}–{segs[-1].end_s:g} s)")
        events.append(Transient(t, str(e["kind"])))
    return Truth(tuple(segs), tuple(sorted(events, key=lambda e: e.t_s)))


def load_truth(path: str | os.PathLike) -> Truth:
    """Read and validate a timeline file (either JSON form)."""
    data = read_json_file(path, TimelineError, "timeline file", 'expected [{"start_s", "end_s", "label"}, ...]')
    return parse_truth(data, source=os.fspath(path))


def load_timeline(path: str | os.PathLike) -> list[Segment]:
    """The scene stretches of a timeline file, in time order (see :func:`load_truth`)."""
    return list(load_truth(path).segments)


def label_at(timeline: Sequence[Segment], t: float) -> str | None:
    """The label at time ``t`` (the last one after the end; ``None`` before the start)."""
    for s in timeline:
        if s.start_s <= t < s.end_s:
            return s.label
    if timeline and t >= timeline[-1].end_s:
        return timeline[-1].label
    return None
