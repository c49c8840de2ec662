"""Scoring a stream of decisions against a ground-truth scene timeline.

Used by the listen demo's acceptance check, ``make demo`` and ``catuvac-bench``. Definitions
(times are stream seconds; a decision at ``t`` is the one made from the window ending at ``t``):

- **Mapping**: clusters carry no names, so each cluster is matched to one truth label by the
  Hungarian algorithm on the (stable cluster × truth label) contingency of all decisions —
  the same matching as the unsupervised accuracy of the paper.
- **agreement**: fraction of decisions whose mapped stable cluster equals the truth label at
  the decision time (``raw_agreement`` the same for the raw per-window argmax).
- **switch delay**: for each true scene change at ``c`` (consecutive segments with different
  labels), the time from ``c`` to the first decision at which the stable decision maps to the
  new label; a change not followed by such a decision before the next change is *missed*.
- **spurious switch**: a change of the stable decision that is not the first change after a
  true scene change within ``grace_s`` (default 15 s: window 4 s + smoothing and dwell ≈ 10 s,
  plus margin). Extra switches after one true change, and any switch during a steady scene,
  are spurious. Reported per hour of audio.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from .errors import CatuvacError
from .fileio import read_json_file

__all__ = ["Segment", "TimelineError", "load_timeline", "label_at", "evaluate_decisions"]


@dataclass(frozen=True)
class Segment:
    start_s: float
    end_s: float
    label: str


class TimelineError(CatuvacError, ValueError):
    """A ground-truth timeline that cannot be scored against; the message names the file and segment."""


def load_timeline(path: str | os.PathLike) -> list[Segment]:
    """Read a ``[{"start_s", "end_s", "label"}, …]`` JSON file (e.g. the built-in ``days/day.json``).

    Refused: no segments, non-finite or negative times, ``end_s ≤ start_s``, overlapping segments
    (each would score a wrong agreement silently). Gaps are allowed (unscored time).
    """
    items = read_json_file(path, TimelineError, "timeline", "expected a list of {start_s, end_s, label}")
    if not isinstance(items, list) or not items:
        raise TimelineError(f"{path}: not a timeline: need a non-empty list of {{start_s, end_s, label}}")
    try:
        segs = [Segment(float(d["start_s"]), float(d["end_s"]), str(d["label"])) for d in items]
    except (KeyError, TypeError, ValueError) as e:
        raise TimelineError(f"{path}: not a timeline (need a list of {{start_s, end_s, label}}): {e}") from e
    segs.sort(key=lambda s: s.start_s)
    prev: Segment | None = None
    for s in segs:
        if not (math.isfinite(s.start_s) and math.isfinite(s.end_s)) or s.start_s < 0:
            raise TimelineError(f"{path}: segment {s.label!r} has times {s.start_s}–{s.end_s} s; times must be finite and ≥ 0")
        if s.end_s <= s.start_s:
            raise TimelineError(f"{path}: segment {s.label!r} ends ({s.end_s} s) before it starts ({s.start_s} s)")
        if prev is not None and s.start_s < prev.end_s - 1e-6:
            raise TimelineError(f"{path}: segments {prev.label!r} ({prev.start_s}–{prev.end_s} s) and {s.label!r} "
                                f"({s.start_s}–{s.end_s} s) overlap; each moment has one true scene")
        prev = s
    return segs


def label_at(timeline: Sequence[Segment], t: float) -> str | None:
    for s in timeline:
        if s.start_s <= t < s.end_s:
            return s.label
    if timeline and t >= timeline[-1].end_s:
        return timeline[-1].label
    return None


def _hungarian_map(pred: Sequence[int], truth: Sequence[str]) -> dict[int, str]:
    from scipy.optimize import linear_sum_assignment

    clusters = sorted(set(pred))
    labels = sorted(set(truth))
    m = np.zeros((len(clusters), len(labels)))
    ci = {c: i for i, c in enumerate(clusters)}
    li = {l: j for j, l in enumerate(labels)}
    for p, t in zip(pred, truth):
        m[ci[p], li[t]] += 1
    rows, cols = linear_sum_assignment(-m)
    mapping = {clusters[r]: labels[c] for r, c in zip(rows, cols)}
    # clusters left over (more clusters than labels) map to their majority label
    for c in clusters:
        if c not in mapping:
            mapping[c] = labels[int(np.argmax(m[ci[c]]))]
    return mapping


def evaluate_decisions(
    times: Iterable[float],
    stable: Iterable[int],
    timeline: Sequence[Segment],
    raw: Iterable[int] | None = None,
    duration_s: float | None = None,
    grace_s: float = 15.0,
) -> dict[str, Any]:
    """Score decisions (times, stable cluster ids, optional raw ids) against a truth timeline."""
    t = np.asarray(list(times), dtype=float)
    s = [int(v) for v in stable]
    if len(t) == 0:
        raise ValueError("no decisions to evaluate (is the recording shorter than the model's window?)")
    truth = [label_at(timeline, float(x)) for x in t]
    keep = [i for i, lab in enumerate(truth) if lab is not None]
    truth_kept = [lab for lab in truth if lab is not None]
    mapping = _hungarian_map([s[i] for i in keep], truth_kept)
    agree = float(np.mean([mapping[s[i]] == lab for i, lab in zip(keep, truth_kept)]))
    out: dict[str, Any] = {"n_decisions": len(t), "agreement": agree, "cluster_to_label": {str(k): v for k, v in mapping.items()}}
    if raw is not None:
        r = [int(v) for v in raw]
        rmap = _hungarian_map([r[i] for i in keep], truth_kept)
        out["raw_agreement"] = float(np.mean([rmap[r[i]] == truth[i] for i in keep]))

    # true changes
    changes = [
        (b.start_s, b.label)
        for a, b in zip(timeline[:-1], timeline[1:])
        if a.label != b.label
    ]
    switch_times = [float(t[i]) for i in range(1, len(s)) if s[i] != s[i - 1]]
    delays, missed = [], 0
    for k, (c, new_label) in enumerate(changes):
        nxt = changes[k + 1][0] if k + 1 < len(changes) else float("inf")
        hit = next((float(t[i]) for i in range(len(t)) if c <= t[i] < nxt and mapping[s[i]] == new_label), None)
        if hit is None:
            missed += 1
        else:
            delays.append(hit - c)
    spurious = 0
    used: set[int] = set()
    for st in switch_times:
        owner = None
        for k, (c, _) in enumerate(changes):
            if c <= st <= c + grace_s and k not in used:
                owner = k
        if owner is None:
            spurious += 1
        else:
            used.add(owner)
    dur = duration_s if duration_s is not None else (timeline[-1].end_s if timeline else float(t[-1]))
    hours = max(dur, 1e-9) / 3600.0
    out.update(
        {
            "n_true_changes": len(changes),
            "n_switches": len(switch_times),
            "switch_times_s": switch_times,
            "switch_delay_s": {
                "median": float(np.median(delays)) if delays else None,
                "max": float(np.max(delays)) if delays else None,
                "values": delays,
                "missed": missed,
                "unit": "s",
            },
            "spurious_switches": spurious,
            "spurious_switches_per_hour": spurious / hours,
            "switches_per_hour": len(switch_times) / hours,
            "duration_s": dur,
            "grace_s": grace_s,
        }
    )
    return out
