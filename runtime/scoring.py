"""Scoring what a wearer hears: the profile the runtime chose against the true scene's profile.

The one implementation used by ``catuvac-listen --truth``, ``catuvac-sim --truth``,
``catuvac-bench``, ``make demo``, the trade-off benchmark, the supervised ceiling and the tests.
numpy only. Times are stream seconds; a decision made at ``t`` (the end of its window) holds
until the next decision (the last one until the end of the recording).

The truth timeline (scene labels) is mapped to profiles with a *scene → profile* table (the
shipped ``scene_profiles.json`` for the built-in scenes); neighbouring stretches of one profile
merge, so a true *profile change* is a boundary between stretches of different profiles.

Profile-level figures (:func:`score_profiles`; JSON keys):

- ``profile_accuracy``: fraction of decision time spent in the true profile, leaving out
  ``grace_s`` (default 5 s) after each true profile change and the first window of the stream
  (before the first decision there is no decision to score);
- ``switch_delay_s`` → ``median``, ``p90``, ``max``: for each true change at ``c`` to profile
  ``P``, the time from ``c`` to the first switch into ``P`` before the next change. A switch up
  to ``lead_s`` (1.5 s, half the longest cross-fade) *before* ``c`` also counts — the new scene
  is already audible during the cross-fade whose midpoint is ``c`` — and gives a negative
  delay. If the program already was ``P`` when the window opened, the change needed no switch
  (delay 0, counted in ``changes_already_right``);
- ``missed_changes``: true changes with no such switch;
- ``spurious_switches`` / ``spurious_switches_per_hour``: every switch that is not the first
  response to a true change (per hour of the recording);
- ``transient_switches``: spurious switches within ``transient_window_s`` (10 s) after a
  transient event of the truth (a door slam, a cough … inside a stable scene).

Cluster-level figures (:func:`score_clusters`) are kept for research, named as such: the stable
*cluster* matched to scene labels by the Hungarian algorithm (the paper's unsupervised
accuracy, on a stream), its switch delay and spurious switches with a 15-s grace.
"""

from __future__ import annotations

import os
from importlib import resources
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from .errors import CatuvacError
from .fileio import read_json_file
from .timeline import Segment, TimelineError, Truth, label_at

__all__ = [
    "GRACE_S",
    "LEAD_S",
    "TRANSIENT_WINDOW_S",
    "ScoringError",
    "load_scene_profiles",
    "profile_segments",
    "score_profiles",
    "score_clusters",
    "summarize_days",
]

# After a true change the runtime needs a window (4 s) to see the new scene at all; 5 s is
# what the wearer tolerates before the program is expected to be right (issue 11 §1).
GRACE_S = 5.0
# Half the longest cross-fade of the built-in days (1–3 s): the truth boundary is its midpoint.
LEAD_S = 1.5
# A transient (≤ 3 s) is inside every 4-s window for up to ~7 s after it starts; 10 s covers it
# plus a decision or two of smoothing.
TRANSIENT_WINDOW_S = 10.0

SCENE_PROFILES_FILE = "scene_profiles.json"


class ScoringError(CatuvacError, ValueError):
    """Decisions or tables that cannot be scored; the message says what to pass."""


# --------------------------------------------------------------------------- scene → profile
def load_scene_profiles(path: str | os.PathLike | None = None) -> dict[str, str]:
    """The scene label → profile table (a JSON object; keys starting with ``_`` are comments).

    ``None`` reads the table shipped with the package for the built-in scenes.
    """
    if path is None:
        src = resources.files("catuvac.runtime").joinpath(SCENE_PROFILES_FILE)
        import json

        data = json.loads(src.read_text(encoding="utf-8"))
        where = f"shipped {SCENE_PROFILES_FILE}"
    else:
        data = read_json_file(path, ScoringError, "scene → profile table", 'expected {"quiet_room": "quiet", ...}')
        where = os.fspath(path)
    if not isinstance(data, dict):
        raise ScoringError(f"{where}: expected an object {{\"<scene label>\": \"<profile>\", ...}}")
    table = {}
    for k, v in data.items():
        if k.startswith("_"):
            continue
        if not isinstance(v, str) or not v.strip():
            raise ScoringError(f"{where}: scene {k!r} must map to a profile name, got {v!r}")
        table[k] = v.strip()
    if not table:
        raise ScoringError(f"{where}: the table is empty")
    return table


def profile_segments(truth: Truth | Sequence[Segment], scene_profiles: Mapping[str, str]) -> list[Segment]:
    """The truth as profile stretches (neighbouring stretches of one profile merged)."""
    segs = truth.segments if isinstance(truth, Truth) else tuple(truth)
    unknown = sorted({s.label for s in segs if s.label not in scene_profiles})
    if unknown:
        raise ScoringError(
            f"scene label(s) {unknown} have no profile in the scene → profile table "
            f"(it lists {sorted(scene_profiles)}); pass a table that maps them (--scene-profiles)"
        )
    out: list[Segment] = []
    for s in segs:
        p = scene_profiles[s.label]
        if out and out[-1].label == p:
            out[-1] = Segment(out[-1].start_s, s.end_s, p)
        else:
            out.append(Segment(s.start_s, s.end_s, p))
    return out


# --------------------------------------------------------------------------- profile figures
def _pct(values: Sequence[float]) -> dict[str, Any]:
    v = np.asarray(values, dtype=float)
    if not v.size:
        return {"median": None, "p90": None, "max": None, "values": [], "unit": "s"}
    return {"median": float(np.median(v)), "p90": float(np.percentile(v, 90)), "max": float(v.max()),
            "values": [round(float(x), 4) for x in v], "unit": "s"}


def _check_decisions(times: Iterable[float], labels: Iterable[Any]) -> tuple[np.ndarray, list[Any]]:
    t = np.asarray(list(times), dtype=float)
    lab = list(labels)
    if t.size == 0:
        raise ScoringError("no decisions to score (is the recording shorter than the model's window?)")
    if len(lab) != t.size:
        raise ScoringError(f"{t.size} decision times but {len(lab)} decisions")
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise ScoringError("decision times must be finite and strictly increasing")
    if any(x is None for x in lab):
        raise ScoringError("a decision has no profile: give the clusterer a cluster → profile map (--map)")
    return t, lab


def _accuracy(t: np.ndarray, prof: list[str], psegs: list[Segment], end: float, grace_s: float) -> tuple[float, float]:
    """(fraction of scored time in the true profile, scored seconds)."""
    changes = np.array([s.start_s for s in psegs[1:]])
    bounds = np.array([s.start_s for s in psegs] + [psegs[-1].end_s])
    pts = np.unique(np.concatenate([t, bounds, changes + grace_s, [end]]))
    pts = pts[(pts >= t[0]) & (pts <= end)]
    if pts.size < 2:
        return float("nan"), 0.0
    lo, hi = pts[:-1], pts[1:]
    mid = 0.5 * (lo + hi)
    dec = np.searchsorted(t, mid, side="right") - 1
    seg = np.clip(np.searchsorted(bounds, mid, side="right") - 1, 0, len(psegs) - 1)
    since = mid[:, None] - changes[None, :] if changes.size else np.full((mid.size, 1), np.inf)
    in_grace = np.any((since >= 0) & (since < grace_s), axis=1)
    right = np.array([prof[d] == psegs[s].label for d, s in zip(dec, seg)])
    w = (hi - lo) * ~in_grace
    total = float(w.sum())
    return (float((w * right).sum() / total) if total > 0 else float("nan")), total


def score_profiles(
    times: Iterable[float],
    profiles: Iterable[str],
    truth: Truth | Sequence[Segment],
    scene_profiles: Mapping[str, str] | None = None,
    *,
    duration_s: float | None = None,
    grace_s: float = GRACE_S,
    lead_s: float = LEAD_S,
    transient_window_s: float = TRANSIENT_WINDOW_S,
) -> dict[str, Any]:
    """Profile-level figures of one recording (see the module docstring for the definitions).

    ``scene_profiles`` maps the truth's labels to profiles (``None``: the labels already are
    profiles). ``duration_s`` is the recording's length (default: the truth's end).
    """
    t, prof = _check_decisions(times, profiles)
    if not isinstance(truth, Truth):
        truth = Truth(tuple(truth))
    table = scene_profiles if scene_profiles is not None else {s.label: s.label for s in truth.segments}
    psegs = profile_segments(truth, table)
    end = float(duration_s) if duration_s is not None else psegs[-1].end_s
    acc, scored = _accuracy(t, [str(p) for p in prof], psegs, end, grace_s)

    sw_idx = [i for i in range(1, len(prof)) if prof[i] != prof[i - 1]]
    sw_t = t[sw_idx]
    kind = ["spurious"] * len(sw_idx)
    delays: list[float] = []
    missed = already = 0
    for k in range(1, len(psegs)):
        c, new = psegs[k].start_s, psegs[k].label
        nxt = psegs[k + 1].start_s if k + 1 < len(psegs) else np.inf
        hit = next((j for j, i in enumerate(sw_idx) if c - lead_s <= t[i] < nxt and prof[i] == new and kind[j] == "spurious"), None)
        if hit is not None:
            kind[hit] = "response"
            delays.append(float(t[sw_idx[hit]] - c))
            continue
        before = np.searchsorted(t, c - lead_s, side="right") - 1
        if before >= 0 and prof[before] == new:
            already += 1
            delays.append(0.0)
        else:
            missed += 1
    ev = np.array([e.t_s for e in truth.transients])
    n_trans = 0
    for j, s in enumerate(sw_t):
        if kind[j] == "spurious" and ev.size and np.any((s >= ev) & (s <= ev + transient_window_s)):
            kind[j] = "spurious_after_transient"
            n_trans += 1
    n_spur = sum(k != "response" for k in kind)
    hours = max(end - truth.start_s, 1e-9) / 3600.0
    return {
        "profile_accuracy": acc,
        "switch_delay_s": _pct(delays),
        "missed_changes": missed,
        "spurious_switches_per_hour": n_spur / hours,
        "transient_switches": n_trans,
        "n_true_changes": len(psegs) - 1,
        "changes_already_right": already,
        "spurious_switches": n_spur,
        "n_switches": len(sw_idx),
        "n_transients": int(ev.size),
        "n_decisions": int(t.size),
        "switches": [{"t_s": round(float(t[i]), 4), "from": prof[i - 1], "to": prof[i], "kind": k}
                     for i, k in zip(sw_idx, kind)],
        "duration_s": end,
        "scored_s": scored,
        "grace_s": grace_s,
        "lead_s": lead_s,
        "transient_window_s": transient_window_s,
    }


# Figures a multi-day summary reports (mean and spread over days); transient switches also summed.
SUMMARY_KEYS = ("profile_accuracy", "switch_delay_median_s", "switch_delay_p90_s", "switch_delay_max_s",
                "missed_changes", "spurious_switches_per_hour", "transient_switches")


def _flat(score: Mapping[str, Any]) -> dict[str, float]:
    d = score["switch_delay_s"]
    nan = float("nan")
    return {
        "profile_accuracy": score["profile_accuracy"],
        "switch_delay_median_s": nan if d["median"] is None else d["median"],
        "switch_delay_p90_s": nan if d["p90"] is None else d["p90"],
        "switch_delay_max_s": nan if d["max"] is None else d["max"],
        "missed_changes": float(score["missed_changes"]),
        "spurious_switches_per_hour": score["spurious_switches_per_hour"],
        "transient_switches": float(score["transient_switches"]),
    }


def summarize_days(scores: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean, standard deviation, min and max of each profile figure over several recordings,
    plus the pooled switch delays and the totals of missed changes and transient switches."""
    if not scores:
        raise ScoringError("no days to summarize")
    flat = [_flat(s) for s in scores]
    out: dict[str, Any] = {"n_days": len(scores)}
    for k in SUMMARY_KEYS:
        v = np.array([f[k] for f in flat], dtype=float)
        ok = v[np.isfinite(v)]
        out[k] = {"mean": float(ok.mean()) if ok.size else None, "std": float(ok.std()) if ok.size else None,
                  "min": float(ok.min()) if ok.size else None, "max": float(ok.max()) if ok.size else None}
    pooled = [x for s in scores for x in s["switch_delay_s"]["values"]]
    out["switch_delay_s_all_days"] = {k: v for k, v in _pct(pooled).items() if k != "values"}
    out["missed_changes_total"] = int(sum(s["missed_changes"] for s in scores))
    out["transient_switches_total"] = int(sum(s["transient_switches"] for s in scores))
    out["spurious_switches_total"] = int(sum(s["spurious_switches"] for s in scores))
    out["hours"] = float(sum(s["duration_s"] for s in scores) / 3600.0)
    return out


# --------------------------------------------------------------------------- cluster figures (research)
def _hungarian_map(pred: Sequence[int], truth: Sequence[str]) -> dict[int, str]:
    from scipy.optimize import linear_sum_assignment

    clusters = sorted(set(pred))
    labels = sorted(set(truth))
    m = np.zeros((len(clusters), len(labels)))
    ci = {c: i for i, c in enumerate(clusters)}
    li = {lab: j for j, lab in enumerate(labels)}
    for p, t in zip(pred, truth):
        m[ci[p], li[t]] += 1
    rows, cols = linear_sum_assignment(-m)
    mapping = {clusters[r]: labels[c] for r, c in zip(rows, cols)}
    for c in clusters:  # clusters left over (more clusters than labels) map to their majority label
        if c not in mapping:
            mapping[c] = labels[int(np.argmax(m[ci[c]]))]
    return mapping


def score_clusters(
    times: Iterable[float],
    stable: Iterable[int],
    timeline: Truth | Sequence[Segment],
    raw: Iterable[int] | None = None,
    duration_s: float | None = None,
    grace_s: float = 15.0,
) -> dict[str, Any]:
    """Research figures on cluster ids: Hungarian-matched agreement of the stable (and raw)
    cluster with the scene labels, switch delay into the matched label and spurious switches
    (a switch that is not the first one within ``grace_s`` of a true scene change)."""
    segs = list(timeline.segments if isinstance(timeline, Truth) else timeline)
    t, s = _check_decisions(times, [int(v) for v in stable])
    at = [label_at(segs, float(x)) for x in t]
    keep = [i for i, lab in enumerate(at) if lab is not None]
    if not keep:
        raise ScoringError("no decision falls inside the truth timeline")
    truth = [lab if lab is not None else "" for lab in at]
    mapping = _hungarian_map([s[i] for i in keep], [truth[i] for i in keep])
    out: dict[str, Any] = {
        "what": "research: stable cluster ids Hungarian-matched to scene labels (not what the wearer hears)",
        "n_decisions": int(t.size),
        "agreement": float(np.mean([mapping[s[i]] == truth[i] for i in keep])),
        "cluster_to_label": {str(k): v for k, v in mapping.items()},
    }
    if raw is not None:
        r = [int(v) for v in raw]
        rmap = _hungarian_map([r[i] for i in keep], [truth[i] for i in keep])
        out["raw_agreement"] = float(np.mean([rmap[r[i]] == truth[i] for i in keep]))
    changes = [(b.start_s, b.label) for a, b in zip(segs[:-1], segs[1:]) if a.label != b.label]
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
    dur = duration_s if duration_s is not None else (segs[-1].end_s if segs else float(t[-1]))
    hours = max(dur, 1e-9) / 3600.0
    d = _pct(delays)
    d["missed"] = missed
    out.update({
        "n_true_changes": len(changes),
        "n_switches": len(switch_times),
        "switch_times_s": switch_times,
        "switch_delay_s": d,
        "spurious_switches": spurious,
        "spurious_switches_per_hour": spurious / hours,
        "switches_per_hour": len(switch_times) / hours,
        "duration_s": dur,
        "grace_s": grace_s,
    })
    return out


def score_run(
    times: Sequence[float],
    profiles: Sequence[str | None] | None,
    stable: Sequence[int],
    truth: Truth,
    scene_profiles: Mapping[str, str] | None,
    raw: Sequence[int] | None = None,
    duration_s: float | None = None,
) -> dict[str, Any]:
    """The report of one scored recording: the profile figures at the top level (when the
    decisions carry profiles) and the cluster figures under ``research_clusters``."""
    out: dict[str, Any] = {}
    if profiles is not None and all(p is not None for p in profiles):
        out.update(score_profiles(times, [str(p) for p in profiles], truth, scene_profiles, duration_s=duration_s))
    else:
        out["profile_accuracy"] = None
        out["note"] = "no cluster → profile map given: only the research cluster figures are scored (pass --map)"
    out["research_clusters"] = score_clusters(times, stable, truth, raw=raw, duration_s=duration_s)
    return out


def describe(score: Mapping[str, Any]) -> str:
    """One line with the wearer-level figures of :func:`score_run` / :func:`score_profiles`."""
    if score.get("profile_accuracy") is None:
        r = score["research_clusters"]
        return (f"research (cluster level, Hungarian-matched): agreement {r['agreement']:.3f}, "
                f"{r['n_switches']} switches, spurious {r['spurious_switches_per_hour']:.1f}/h; {score.get('note', '')}")
    d = score["switch_delay_s"]
    fmt = lambda v: "–" if v is None else f"{v:.1f}"  # noqa: E731
    return (f"profile accuracy {score['profile_accuracy']:.3f}; switch delay median {fmt(d['median'])} s, "
            f"p90 {fmt(d['p90'])} s, max {fmt(d['max'])} s; missed {score['missed_changes']} of "
            f"{score['n_true_changes']} changes; spurious {score['spurious_switches']} "
            f"({score['spurious_switches_per_hour']:.1f}/h), after transients {score['transient_switches']}")


__all__ += ["SUMMARY_KEYS", "TimelineError", "score_run", "describe"]
