"""Decision rules on recorded days: replay, multi-day scores, the delay-vs-spurious trade-off.

``python -m catuvac.runtime.tradeoff --model M --map MAP.json --days DAY_DIR ... --json OUT --plot PNG``

Each day folder holds ``day.wav`` + ``day.json`` (``catuvac-scenes --day-seed``). The model's
q(y|x) is recorded once per day by streaming it through :class:`SceneClusterer` (one window
per decision interval); every rule is then replayed on those posteriors with
:func:`catuvac.runtime.decisions.replay` — the same pooling and rule code the streaming
clusterer runs, so a replayed decision equals a streamed one — and scored with
:mod:`catuvac.runtime.scoring`. Each rule's main knob is swept (HMM: expected dwell; fixed
lag: the lag; EMA: minimum dwell) and the per-day means of median switch delay and spurious
switches per hour are plotted against each other, with profile accuracy beside each point.

``--tune`` searches a small grid per rule and reports its best setting: among the settings
that meet every one of :data:`TARGETS` on the days, the one with the best :func:`objective`
(and, when none meets them all, the best objective overall) — the defaults of
:mod:`catuvac.runtime.decisions` come from such a run on days whose seeds are kept for tuning
(never the acceptance days).
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .decisions import DECISION_RULES, HmmConfig, ProfilePooling, as_pooling, can_switch, decision_config, replay
from .scoring import load_scene_profiles, score_profiles, summarize_days
from .timeline import Truth, load_truth

__all__ = ["DayPosteriors", "record_day", "score_rule", "sweep", "tune", "objective", "meets_targets", "plot_tradeoff", "main"]

# The knob swept per rule for the trade-off curve.
SWEEPS: dict[str, tuple[str, tuple[float, ...]]] = {
    "hmm": ("dwell_s", (5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 1000.0)),
    "fixed-lag": ("lag_s", (1.0, 2.0, 3.0, 5.0, 8.0, 12.0)),
    "ema": ("min_dwell_seconds", (0.0, 3.0, 6.0, 10.0, 20.0, 40.0)),
}
# Extra curves of the trade-off: a rule with some of its defaults changed (its knob swept as above).
VARIANTS: dict[str, tuple[str, dict[str, float]]] = {
    "hmm, no change detector": ("hmm", {"change_dwell_s": 0.0}),
}
# The grid of --tune (every combination, per rule).
GRIDS: dict[str, dict[str, tuple[float, ...]]] = {
    # change thresholds below 6 dB keep the short change dwell on most of the time (2.5 dB: 78 % of
    # the tuning days' decisions), and models with softer posteriors then cannot switch for whole
    # scenes (four such models, 2026-12-07: 8–13 missed changes): not searched
    "hmm": {"dwell_s": (60.0, 200.0), "temperature": (2.0, 2.5, 3.0, 4.0), "change_temperature": (0.0, 2.0, 2.25),
            "switch_prob": (0.9, 0.95), "floor": (0.02,), "hold_prob": (0.02, 0.05), "change_dwell_s": (0.0, 3.0, 5.0),
            "change_threshold_db": (6.0,)},
    "fixed-lag": {"dwell_s": (5.0, 10.0, 30.0), "temperature": (2.0, 3.0, 4.0, 8.0), "lag_s": (1.0, 2.0, 4.0, 8.0),
                  "switch_prob": (0.5, 0.9), "floor": (0.1,)},
    "ema": {"ema_seconds": (1.0, 3.0), "hysteresis": (0.15, 0.3), "confirm_seconds": (1.0, 3.0),
            "min_dwell_seconds": (6.0, 20.0, 40.0)},
}


@dataclass
class DayPosteriors:
    """q(y|x) of one day at the decision times, with its truth."""

    name: str
    times: np.ndarray  # (N,) s
    probs: np.ndarray  # (N, K)
    truth: Truth
    duration_s: float
    change_scores: np.ndarray | None = None  # (N,) acoustic change score at each decision, dB
    levels_db: np.ndarray | None = None  # (N,) each window's level, dB (for a map's level model)
    level_spreads_db: np.ndarray | None = None  # (N,) each window's level spread, dB (the level-spread model)


def record_day(model: str | os.PathLike, day_dir: str | os.PathLike, decision_interval: float = 1.0,
               num_threads: int = 1) -> DayPosteriors:
    """Stream ``day_dir/day.wav`` through the clusterer and keep each window's q(y|x) and
    acoustic change score."""
    from .clusterer import SceneClusterer

    d = Path(day_dir)
    truth = load_truth(d / "day.json")
    clf = SceneClusterer(model, decision_interval=decision_interval, num_threads=num_threads, decision="ema")
    events = clf.process_file(d / "day.wav")
    if not events:
        raise ValueError(f"{d / 'day.wav'}: shorter than the model's window")
    return DayPosteriors(d.name, np.array([e.time_s for e in events]), np.stack([e.probs for e in events]),
                         truth, clf.time_s, np.array([e.change_score for e in events]),
                         np.array([e.level_db for e in events]), np.array([e.level_spread_db for e in events]))


def score_rule(
    days: Sequence[DayPosteriors], rule: str, config: Any, cluster_profiles: Sequence[str] | ProfilePooling,
    scene_profiles: Mapping[str, str], decision_interval: float = 1.0, pool: bool = True, use_level: bool = True,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(per-day profile scores, their summary) of one rule setting. ``cluster_profiles``: one
    profile per cluster, or a map's :class:`ProfilePooling` (with its evidence). ``pool=False``
    decides over clusters and maps the decided cluster to its profile afterwards (the
    pre-pooling runtime). ``use_level=False`` ignores a level model of the pooling (its other
    window-feature models stay)."""
    pooling = as_pooling(cluster_profiles)
    scores = []
    for day in days:
        if pool:
            dec = replay(rule, day.probs, day.times, pooling, config, decision_interval, day.change_scores,
                         day.levels_db if use_level else None, day.level_spreads_db)
        else:
            dec = [pooling.cluster_profiles[k]
                   for k in replay(rule, day.probs, day.times, None, config, decision_interval, day.change_scores)]
        scores.append(score_profiles(day.times, dec, day.truth, scene_profiles, duration_s=day.duration_s))
    return scores, summarize_days(scores)


# Issue 11's acceptance targets (means over the days; the totals per TARGET_DAYS days): a setting
# that misses one of them on the tuning days is not chosen while another meets them all, whatever
# its objective.
TARGETS = {"profile_accuracy": 0.90, "switch_delay_median_s": 5.0, "spurious_switches_per_hour": 6.0,
           "missed_changes_total": 0, "transient_switches_total": 1}
TARGET_DAYS = 3  # the acceptance set: ≤ 1 transient switch over three days


def meets_targets(brief: Mapping[str, Any]) -> bool:
    """Whether a :func:`_brief` summary meets every one of :data:`TARGETS` (accuracy at least,
    the others at most; the transient total scaled to the summary's ``n_days``)."""
    v = {k: brief[k] for k in TARGETS}
    if any(x is None or not np.isfinite(x) for x in v.values()):
        return False  # no change scored, or no decision: nothing shown to meet
    limits = dict(TARGETS, transient_switches_total=TARGETS["transient_switches_total"] * brief.get("n_days", TARGET_DAYS) / TARGET_DAYS)
    return v["profile_accuracy"] >= limits["profile_accuracy"] and all(
        v[k] <= lim for k, lim in limits.items() if k != "profile_accuracy")


def objective(summary: Mapping[str, Any]) -> float:
    """Higher is better: mean profile accuracy, minus 0.01 per spurious switch per hour, minus
    0.01 per second of mean median delay above 5 s, minus 0.05 per missed change, minus 0.01 per
    switch after a transient (the issue's targets: accuracy ≥ 0.90, median delay ≤ 5 s, ≤ 6
    spurious switches an hour, none missed, ≤ 1 transient switch)."""
    acc = summary["profile_accuracy"]["mean"] or 0.0
    sph = summary["spurious_switches_per_hour"]["mean"] or 0.0
    med = summary["switch_delay_median_s"]["mean"]
    late = 60.0 if med is None else max(0.0, med - 5.0)
    return (acc - 0.01 * sph - 0.01 * late - 0.05 * summary["missed_changes_total"]
            - 0.01 * summary["transient_switches_total"])


def _brief(summary: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("profile_accuracy", "switch_delay_median_s", "spurious_switches_per_hour")
    out: dict[str, Any] = {k: summary[k]["mean"] for k in keys}
    out.update(missed_changes_total=summary["missed_changes_total"], transient_switches_total=summary["transient_switches_total"],
               objective=objective(summary), n_days=summary.get("n_days", TARGET_DAYS))
    out["meets_targets"] = meets_targets(out)
    return out


def sweep(days: Sequence[DayPosteriors], cluster_profiles: Sequence[str] | ProfilePooling, scene_profiles: Mapping[str, str],
          rules: Sequence[str] = DECISION_RULES, base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Each rule's knob swept from its (or ``base``'s) config: a list of points per rule, and per
    :data:`VARIANTS` curve of those rules."""
    out: dict[str, Any] = {}
    curves: list[tuple[str, str, dict[str, Any]]] = [(r, r, {}) for r in rules] + [(name, r, kw) for name, (r, kw) in VARIANTS.items() if r in rules]
    for name, rule, overrides in curves:
        knob, values = SWEEPS[rule]
        cfg0 = replace((base or {}).get(rule) or decision_config(rule), **overrides)
        pts = []
        for v in values:
            cfg = replace(cfg0, **{knob: v})
            if isinstance(cfg, HmmConfig) and not can_switch(cfg):
                pts.append({knob: v, "cannot_switch": True})  # a degenerate setting: the program would freeze
                continue
            _, s = score_rule(days, rule, cfg, cluster_profiles, scene_profiles)
            pts.append({knob: v, **_brief(s)})
        out[name] = {"knob": knob, "config": vars(cfg0), "points": pts}
    return out


def tune(days: Sequence[DayPosteriors], cluster_profiles: Sequence[str] | ProfilePooling, scene_profiles: Mapping[str, str],
         rules: Sequence[str] = DECISION_RULES, progress: bool = True) -> dict[str, Any]:
    """Grid search per rule (see :data:`GRIDS`); the best setting of each: the best
    :func:`objective` among the settings that meet :data:`TARGETS`, or overall if none does.
    HMM settings that could not switch under steady evidence (:func:`~catuvac.runtime.decisions.can_switch`)
    are skipped."""
    out: dict[str, Any] = {}
    for rule in rules:
        grid = GRIDS[rule]
        best = None
        for values in itertools.product(*grid.values()):
            cfg = decision_config(rule, **dict(zip(grid, values)))
            if isinstance(cfg, HmmConfig) and not can_switch(cfg):
                continue  # could never switch under steady evidence for some number of profiles
            _, s = score_rule(days, rule, cfg, cluster_profiles, scene_profiles)
            b = _brief(s)
            if best is None or (b["meets_targets"], b["objective"]) > (best["meets_targets"], best["objective"]):
                best = {"config": vars(cfg), **b}
        out[rule] = best
        if progress:
            print(f"[tune] {rule}: {best}", file=sys.stderr, flush=True)
    return out


def plot_tradeoff(result: Mapping[str, Any], path: str | os.PathLike, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for rule, marker in zip(result, "osd^v"):
        r = result[rule]
        pts = [p for p in r["points"] if p.get("switch_delay_median_s") is not None]
        x = [p["switch_delay_median_s"] for p in pts]
        y = [p["spurious_switches_per_hour"] for p in pts]
        acc = [p["profile_accuracy"] for p in pts]
        if not pts:  # e.g. a day with one stretch: no change, no delay to plot
            continue
        ax.plot(x, y, marker=marker, label=f"{rule}: {r['knob']} (accuracy {min(acc):.2f}–{max(acc):.2f})")
        for p, xx, yy in zip(pts, x, y):
            ax.annotate(f"{p[r['knob']]:g}", (xx, yy), fontsize=6.5, xytext=(3, 3), textcoords="offset points")
    ax.axhline(6.0, color="0.6", ls="--", lw=0.8)
    ax.axvline(5.0, color="0.6", ls="--", lw=0.8)
    ax.set_xlabel("median switch delay (s), mean over days")
    ax.set_ylabel("spurious switches per hour")
    ax.set_ylim(bottom=0)
    ax.set_title(title or "Decision rules: delay vs spurious switches (point labels: knob value)", fontsize=9)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no true change on these days: nothing to plot", transform=ax.transAxes, ha="center")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    from .fileio import atomic_write_json
    from .profiles_map import ProfileMap

    p = argparse.ArgumentParser(prog="python -m catuvac.runtime.tradeoff", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="exported ONNX model")
    p.add_argument("--map", required=True, help="cluster → profile map (catuvac-map)")
    p.add_argument("--days", nargs="+", required=True, help="day folders with day.wav + day.json (catuvac-scenes --day-seed)")
    p.add_argument("--scene-profiles", help="scene label → profile table (default: the shipped one)")
    p.add_argument("--json", required=True, help="output JSON")
    p.add_argument("--plot", help="trade-off PNG")
    p.add_argument("--tune", action="store_true", help="also grid-search each rule (report the best setting)")
    p.add_argument("--quiet", action="store_true")
    a = p.parse_args(argv)
    table = load_scene_profiles(a.scene_profiles)
    recorded = []
    for d in a.days:
        if not a.quiet:
            print(f"[tradeoff] recording q(y|x) on {d}", file=sys.stderr, flush=True)
        recorded.append(record_day(a.model, d))
    K = recorded[0].probs.shape[1]
    pmap = ProfileMap.from_file(a.map, n_clusters=K)
    cp = ProfilePooling.from_map(pmap, K)
    res: dict[str, Any] = {"model": str(a.model), "map": pmap.as_dict(), "days": [str(d) for d in a.days],
                           "defaults": {r: vars(decision_config(r)) for r in DECISION_RULES}}
    res["default_scores"] = {r: _brief(score_rule(recorded, r, decision_config(r), cp, table)[1]) for r in DECISION_RULES}
    for r in DECISION_RULES:  # the same rules deciding over clusters (no pooling), for comparison
        res["default_scores"][f"{r} (no pooling)"] = _brief(score_rule(recorded, r, decision_config(r), cp, table, pool=False)[1])
        if cp.uses_level:  # the same rule without the map's level model, for comparison
            res["default_scores"][f"{r} (no level)"] = _brief(score_rule(recorded, r, decision_config(r), cp, table,
                                                                         use_level=False)[1])
    res["sweeps"] = sweep(recorded, cp, table)
    if a.tune:
        res["tuned"] = tune(recorded, cp, table, progress=not a.quiet)
    atomic_write_json(a.json, res)
    if a.plot:
        plot_tradeoff(res["sweeps"], a.plot, title=f"Decision rules on {len(recorded)} day(s) of "
                      f"{sum(d.duration_s for d in recorded) / len(recorded) / 60:.0f} min: delay vs spurious switches "
                      "(point labels: knob value; dashed: targets)")
    for r, s in res["default_scores"].items():
        print(f"{r:10s} (defaults): " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in s.items()))
    print(f"wrote {a.json}" + (f", {a.plot}" if a.plot else ""))
    return 0


__all__ += ["SWEEPS", "GRIDS", "VARIANTS"]

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
