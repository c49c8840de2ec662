"""Long built-in test days (``catuvac-scenes --out DIR --day-minutes M --day-seed S``).

A day long enough to count switches per hour: scene stretches of realistic length (20 s to
5 min, most of them 20 s – 2 min), every class several times (the classes are visited in
shuffled rounds, never the same twice in a row), equal-power cross-fades of 1–3 s, and short
**transients** inside the stretches that must not change the program — a door slam, a cough,
dishes, a passing car, a horn, laughter — placed at least :data:`TRANSIENT_MARGIN_S` from a
stretch boundary.

Files: ``DIR/day.wav`` (16 kHz mono float WAV), ``DIR/day.json`` — the truth as
``{"segments": [{"start_s", "end_s", "label"}, …], "transients": [{"t_s", "kind"}, …]}``
(read by :func:`catuvac.runtime.timeline.load_truth`), ``DIR/scene_profiles.json`` (scene label
→ profile) and ``DIR/day_info.json``. Everything is drawn from seed sequences
``(seed, 2, …)``, disjoint from the corpus clips and the short demo day, so the same seed gives
bit-identical files.

Cost: a stretch is synthesised in pieces of at most :data:`PIECE_S` (cross-faded over 0.5 s,
one level per stretch), so memory is bounded by a piece plus the output (float32: 115 MB for
30 minutes) and a 30-minute day takes well under a minute on one core.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import scenes as sc

__all__ = ["TRANSIENT_KINDS", "synthesize_long_day", "write_day", "cached_day", "DAY_FILES"]

# Stretch lengths: 80 % log-uniform in 20 s – 2 min, 20 % uniform in 2 – 5 min (mean ≈ 85 s:
# about 21 stretches, 3 per class, in 30 minutes).
STRETCH_RANGE_S = (20.0, 300.0)
_SHORT_MAX_S = 120.0
_P_LONG = 0.2
CROSSFADE_RANGE_S = (1.0, 3.0)
PIECE_S = 30.0  # longest piece synthesised at once
_PIECE_XF_S = 0.5  # cross-fade between pieces of one stretch
TRANSIENT_KINDS = ("door_slam", "cough", "dishes", "passing_car", "horn", "laughter")
TRANSIENT_RATE_HZ = 1.0 / 45.0  # one every 45 s on average
TRANSIENT_MARGIN_S = 8.0  # from a stretch boundary (incl. its cross-fade): "inside a stable scene"
# Transient level: nominal dBFS (±4 dB), and at least 6 dB above the scene around it.
_TRANSIENT_LEVEL_DBFS = {"door_slam": -20.0, "cough": -26.0, "dishes": -28.0, "passing_car": -24.0,
                         "horn": -18.0, "laughter": -26.0}
_STREAM_LONG_DAY = 2
DAY_FILES = ("day.wav", "day.json", "scene_profiles.json", "day_info.json")


# ------------------------------------------------------------------------------------ plan
def _plan(seconds: float, rng: np.random.Generator, sr: int) -> list[Any]:
    lo, hi = STRETCH_RANGE_S
    d: list[float] = []
    while sum(d) < seconds:
        if rng.random() < _P_LONG:
            d.append(float(rng.uniform(_SHORT_MAX_S, hi)))
        else:
            d.append(float(math.exp(rng.uniform(math.log(lo), math.log(_SHORT_MAX_S)))))
    if len(d) > 1 and sum(d) - d[-1] + lo > seconds:  # the last one would be shorter than 20 s: drop it
        d.pop()
    # to the exact length: trim or extend every stretch by the same factor, keep each in [lo, hi]
    dur = np.maximum(np.array(d) * (seconds / sum(d)), lo)
    dur = sc._cap_durations(lo + (dur - lo) * ((seconds - lo * len(dur)) / float(np.sum(dur - lo))), hi)
    labels: list[str] = []
    while len(labels) < len(dur):
        perm = [sc.SCENE_CLASSES[i] for i in rng.permutation(len(sc.SCENE_CLASSES))]
        if labels and perm[0] == labels[-1]:
            perm[0], perm[-1] = perm[-1], perm[0]
        labels.extend(perm)
    edges = np.round(np.concatenate([[0.0], np.cumsum(dur)]) * sr).astype(np.int64)
    edges[-1] = int(round(seconds * sr))
    return [sc._Segment(labels[i], int(edges[i]), int(edges[i + 1])) for i in range(len(dur))]


# ------------------------------------------------------------------------------------ stretches
def _stretch(label: str, n: int, rng: np.random.Generator, sr: int) -> np.ndarray:
    """``n`` samples of one scene at one level, synthesised in cross-faded pieces ≤ PIECE_S."""
    level = sc._db(sc._CLASS_LEVEL_DBFS[label] + rng.uniform(-sc.LEVEL_JITTER_DB, sc.LEVEL_JITTER_DB))
    piece, xf = int(PIECE_S * sr), int(_PIECE_XF_S * sr)
    out = np.zeros(n, dtype=np.float32)
    fade_in = np.sin(0.5 * np.pi * (np.arange(xf) + 0.5) / xf)
    pos = 0
    while pos < n:
        m = min(piece + xf, n - pos)
        x = sc._GENERATORS[label](max(m, 16), sr, rng, True)[:m]
        x *= level / sc._rms(x)
        peak = float(np.max(np.abs(x)))
        if peak > sc.PEAK_LIMIT:
            x *= sc.PEAK_LIMIT / peak
        if pos and m > xf:  # equal-power join with the previous piece's tail
            x[:xf] *= fade_in
            out[pos : pos + xf] *= fade_in[::-1]
        out[pos : pos + m] += x
        pos += m - xf if pos + m < n else m
    return out


# ------------------------------------------------------------------------------------ transients
def _burst_env(n: int, sr: int, attack_s: float, decay_s: float) -> np.ndarray:
    t = np.arange(n) / sr
    return np.minimum(t / attack_s, 1.0) * np.exp(-np.maximum(t - attack_s, 0.0) / decay_s)


def _transient(kind: str, rng: np.random.Generator, sr: int) -> np.ndarray:
    """One transient event, unit peak (the caller sets its level)."""
    if kind == "door_slam":
        n = int(0.5 * sr)
        t = np.arange(n) / sr
        x = np.sin(2 * np.pi * rng.uniform(60.0, 120.0) * t) * np.exp(-t / 0.08)
        x += sc._filt(rng.standard_normal(n), "lowpass", rng.uniform(1500.0, 4000.0), sr, 2) * _burst_env(n, sr, 0.002, 0.05)
    elif kind == "cough":
        n = int(rng.uniform(0.6, 1.1) * sr)
        x = np.zeros(n)
        for k in range(int(rng.integers(1, 4))):
            L = int(rng.uniform(0.15, 0.3) * sr)
            b = sc._filt(rng.standard_normal(L), "bandpass", (rng.uniform(250.0, 500.0), rng.uniform(2500.0, 4500.0)), sr, 2)
            sc._place(x, int(k * 0.3 * sr), b * _burst_env(L, sr, 0.01, 0.06))
    elif kind == "dishes":
        n = int(rng.uniform(1.0, 2.0) * sr)
        x = sc._clatter(n, sr, rng, rng.uniform(6.0, 12.0))
    elif kind == "passing_car":
        n = int(rng.uniform(2.0, 3.0) * sr)
        t = np.arange(n) / sr
        swell = np.exp(-0.5 * ((t - t[-1] / 2) / (t[-1] / 6)) ** 2)
        x = sc._filt(rng.standard_normal(n), "bandpass", (rng.uniform(100.0, 250.0), rng.uniform(1200.0, 3000.0)), sr, 2)
        x = (x + 0.5 * np.sin(2 * np.pi * np.cumsum(rng.uniform(40.0, 90.0) * (1 - 0.1 * np.tanh(t - t[-1] / 2))) / sr)) * swell
    elif kind == "horn":
        x = sc._horn_tone(int(rng.uniform(0.3, 0.9) * sr), sr, rng.uniform(340.0, 480.0))
    elif kind == "laughter":
        n = int(rng.uniform(1.0, 1.8) * sr)
        t = np.arange(n) / sr
        rate = rng.uniform(4.0, 6.0)  # "ha"s per second
        x = sc._speech(n, sr, rng) * (0.5 + 0.5 * np.cos(2 * np.pi * rate * t)) ** 2 * np.exp(-t / (t[-1] * 0.8))
    else:  # pragma: no cover - the kinds are fixed above
        raise ValueError(kind)
    return x / (np.max(np.abs(x)) + sc._EPS)


def _add_transients(day: np.ndarray, plan: list[Any], rng: np.random.Generator, sr: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    m = int((TRANSIENT_MARGIN_S + CROSSFADE_RANGE_S[1] / 2) * sr)
    for seg in plan:
        a, b = seg.start + m, seg.end - m
        if b <= a:
            continue
        for t0 in sc._poisson_times(rng, TRANSIENT_RATE_HZ, (b - a) / sr):
            kind = str(rng.choice(TRANSIENT_KINDS))
            x = _transient(kind, rng, sr)
            s = a + int(t0 * sr)
            x = x[: max(b + m // 2 - s, 0)]
            local = sc._rms(day[max(s - sr, 0) : s + sr])
            amp = max(sc._db(_TRANSIENT_LEVEL_DBFS[kind] + rng.uniform(-4.0, 4.0)), local * sc._db(6.0) / (sc._rms(x) + sc._EPS))
            seg_view = day[s : s + len(x)]
            room = (sc.PEAK_LIMIT - np.abs(seg_view)).min()  # never push the day past the peak guard
            amp = min(amp, max(room, 0.0))
            seg_view += (amp * x).astype(np.float32)
            events.append({"t_s": round(s / sr, 6), "kind": kind})
    return events


# ------------------------------------------------------------------------------------ public
def synthesize_long_day(
    minutes: float, seed: int, sample_rate: int = sc.DEFAULT_SAMPLE_RATE,
    on_stretch: Callable[[], None] | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """(audio float32, truth ``{"segments": [...], "transients": [...]}``) of a long day."""
    if not (isinstance(minutes, (int, float)) and math.isfinite(minutes) and 1.0 <= minutes <= 180.0):
        raise ValueError(f"day minutes must be in [1, 180], got {minutes!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"day seed must be a non-negative integer, got {seed!r}")
    sc._check_sample_rate(sample_rate)
    sr = int(sample_rate)
    plan = _plan(minutes * 60.0, np.random.default_rng([int(seed), _STREAM_LONG_DAY, 0]), sr)
    seg_rngs = [np.random.default_rng([int(seed), _STREAM_LONG_DAY, 1, i]) for i in range(len(plan))]
    xf_rng = np.random.default_rng([int(seed), _STREAM_LONG_DAY, 2])
    day = sc._render_day(plan, seg_rngs, xf_rng, sr, on_segment=on_stretch,
                         synth=lambda lab, n, r: _stretch(lab, n, r, sr), crossfade_range_s=CROSSFADE_RANGE_S,
                         dtype=np.float32)
    events = _add_transients(day, plan, np.random.default_rng([int(seed), _STREAM_LONG_DAY, 3]), sr)
    return day, {"segments": sc._timeline(plan, sr), "transients": events}


def write_day(out_dir: str | os.PathLike, minutes: float, seed: int, sample_rate: int = sc.DEFAULT_SAMPLE_RATE,
              progress: bool = True) -> Path:
    """Write a long day into ``out_dir`` (see the module docstring); refuses a folder holding other files."""
    from tqdm.auto import tqdm

    from catuvac.runtime.fileio import atomic_write_json, atomic_write_text
    from catuvac.runtime.scoring import load_scene_profiles

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} exists and is not a directory; choose another path")
    if out.is_dir():
        other = sorted(p.name for p in out.iterdir() if p.name not in DAY_FILES)
        if other:
            raise ValueError(f"--out {out} holds other files ({', '.join(other[:5])}); a day is written into an empty "
                             "folder or over a day written before")
    out.mkdir(parents=True, exist_ok=True)
    (out / "day_info.json").unlink(missing_ok=True)  # written last: its absence marks an unfinished day
    with tqdm(desc="day", unit="stretch", disable=not progress, leave=False) as bar:
        audio, truth = synthesize_long_day(minutes, seed, sample_rate, on_stretch=lambda: bar.update(1))
    sc._write_wav(out / "day.wav", audio, int(sample_rate))
    atomic_write_text(out / "day.json", json.dumps(truth, indent=1) + "\n")
    atomic_write_json(out / "scene_profiles.json", load_scene_profiles())
    kinds = {k: sum(e["kind"] == k for e in truth["transients"]) for k in TRANSIENT_KINDS}
    counts = {c: sum(s["label"] == c for s in truth["segments"]) for c in sc.SCENE_CLASSES}
    atomic_write_json(out / "day_info.json", {
        "generator": "catuvac-scenes --day-seed", "version": sc.GENERATOR_VERSION, "seed": int(seed),
        "minutes": float(minutes), "sample_rate": int(sample_rate), "seconds": len(audio) / int(sample_rate),
        "stretches": len(truth["segments"]), "stretches_per_class": counts, "transients": kinds,
    })
    return out


def cached_day(seed: int, minutes: float, progress: bool = True) -> Path:
    """The built-in long day of ``seed`` and ``minutes`` in the cache (written on first use):
    ``$CATUVAC_CACHE/days/seed<seed>-m<minutes>/``."""
    d = sc.default_cache_root() / "days" / f"seed{seed}-m{minutes:g}"
    if not (d / "day_info.json").is_file():
        write_day(d, minutes, seed, progress=progress)
    return d
