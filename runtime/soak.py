"""Soak benchmark: hours of synthetic audio through one SceneClusterer, memory and latency recorded.

    python -m catuvac.runtime.soak --model encoder.int8.onnx --hours 1 --json soak.json

The audio is generated chunk by chunk (never held in memory): a sequence of "scenes" of
20–45 s, each a band-shaped noise (a 2nd-order resonator on white noise, state carried across
chunks) at its own level, with short clicks/tones now and then. It goes through
:meth:`SceneClusterer.process` in blocks of ``--chunk`` samples, the way a device feeds it.

Recorded (JSON, units in the key names):

- memory in the first and the last ``--segment`` fraction of the run: peak RSS (sampled every
  few seconds of audio, from /proc/self/status) and the tracemalloc peak (Python + numpy heap)
  during ``process()`` calls (the clusterer's retained state plus its transients; the audio
  generator's own allocations between calls are excluded);
  "flat" means the end peak is within 5 % of the start peak for both;
- decision latency (normalization + ONNX call) p50 / p99 / max, ms; ``process()`` call time
  p50 / p99 / max, ms; decisions; real-time factor (processing time / audio time);
- the front-end's cost per hop (µs) and its real-time factor, measured separately.

Exit status 0 when memory stayed flat, 1 when it grew by more than 5 %, 2 on a user error.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import sys
import time
import tracemalloc
from typing import Any, Sequence

import numpy as np
from scipy import signal

from .cli_wrapper import cli_entry
from .clusterer import SceneClusterer
from .fileio import atomic_write_text
from .frontend import FrontEnd, FrontEndConfig

FLAT_TOLERANCE = 0.05  # acceptance: peak memory flat within 5 % from start to end


def _rss_kb() -> tuple[float, float]:
    """(current RSS, peak RSS) in KiB."""
    try:
        cur = peak = float("nan")
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    cur = float(line.split()[1])
                elif line.startswith("VmHWM:"):
                    peak = float(line.split()[1])
        return cur, peak
    except OSError:  # not Linux: ru_maxrss (KiB on Linux, bytes on macOS)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        m = rss / 1024 if sys.platform == "darwin" else float(rss)
        return m, m


class SyntheticScenes:
    """Endless scene-like audio, generated block by block with a seeded RNG."""

    def __init__(self, sample_rate: int = 16000, seed: int = 0, scene_range_s: tuple[float, float] = (20.0, 45.0)) -> None:
        self.sr = sample_rate
        self.rng = np.random.default_rng(seed)
        self.scene_range_s = scene_range_s
        self._left = 0
        self._new_scene()

    def _new_scene(self) -> None:
        r = self.rng
        self._left = int(r.uniform(*self.scene_range_s) * self.sr)
        fc = float(np.exp(r.uniform(np.log(100.0), np.log(0.4 * self.sr))))
        q = float(r.uniform(0.7, 4.0))
        self._b, self._a = signal.iirpeak(fc, q, fs=self.sr)
        self._zi = np.zeros(max(len(self._a), len(self._b)) - 1)
        self._gain = float(10 ** (r.uniform(-35, -10) / 20))  # −35…−10 dBFS: quiet room to street
        self._floor = self._gain * 0.05

    def read(self, n: int) -> np.ndarray:
        out = np.empty(n, dtype=np.float32)
        i = 0
        while i < n:
            if self._left == 0:
                self._new_scene()
            m = min(n - i, self._left)
            w = self.rng.standard_normal(m)
            y, self._zi = signal.lfilter(self._b, self._a, w, zi=self._zi)
            y = y * self._gain + self._floor * self.rng.standard_normal(m)
            if self.rng.random() < m / (5.0 * self.sr):  # a click / short event every ~5 s
                k = int(self.rng.integers(0, m))
                y[k : k + 160] += self._gain * 4 * np.hanning(len(y[k : k + 160]))
            out[i : i + m] = y
            i += m
            self._left -= m
        return out


def frontend_cost_per_hop(config: FrontEndConfig, hops: int = 3000, seed: int = 0) -> dict[str, float]:
    """Streaming front-end fed one hop at a time: µs per hop and real-time factor."""
    fe = FrontEnd(config)
    st = fe.stream()
    x = (0.1 * np.random.default_rng(seed).standard_normal((hops + 2) * config.hop_length)).astype(np.float32)
    st.process(x[: config.n_fft])  # prime
    h = config.hop_length
    t0 = time.perf_counter()
    for i in range(hops):
        st.process(x[config.n_fft + i * h : config.n_fft + (i + 1) * h])
    dt = time.perf_counter() - t0
    us = dt / hops * 1e6
    return {"us_per_hop": us, "hop_ms": config.hop_seconds * 1e3, "real_time_factor": us * 1e-6 / config.hop_seconds}


def soak(
    model: str,
    hours: float = 1.0,
    chunk: int = 512,  # 32 ms at 16 kHz: a device-like block (firmware blocks are 1–3 ms; 32 ms keeps Python overhead honest)
    segment: float = 0.1,  # first / last 10 % of the run are compared for memory
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    if hours <= 0:
        raise ValueError(f"--hours must be positive, got {hours}")
    if not 0 < segment <= 0.5:
        raise ValueError(f"--segment must be in (0, 0.5], got {segment}")
    clusterer = SceneClusterer(model)
    sr = clusterer.sample_rate
    total = int(round(hours * 3600 * sr))
    n_chunks = math.ceil(total / chunk)
    gen = SyntheticScenes(sr, seed=seed)

    # preallocated result arrays: the benchmark itself must not grow during the run
    max_dec = int(total / (clusterer.decision_frames * clusterer.info.frontend.hop_length)) + 8
    # (np.full writes every page now, so filling them later does not show up as RSS growth)
    lat = np.full(max_dec, np.nan, dtype=np.float64)
    call = np.full(n_chunks, np.nan, dtype=np.float64)
    n_dec = 0
    seg_chunks = max(1, int(n_chunks * segment))
    warm_chunks = min(n_chunks // 4, int(math.ceil(2 * clusterer.info.window_seconds * sr / chunk)))  # two windows of warm-up
    start_seg = (warm_chunks, min(n_chunks, warm_chunks + seg_chunks))
    end_seg = (max(start_seg[1], n_chunks - seg_chunks), n_chunks)
    sample_every = max(1, int(5 * sr / chunk))  # RSS sample every ~5 s of audio
    mem = {k: {"rss_kb": 0.0, "traced_peak_kb": 0.0, "transient_kb": 0.0} for k in ("start", "end")}

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=round(hours * 3600), unit="s audio", file=sys.stderr, mininterval=1.0)
    tracemalloc.start()
    t_proc = 0.0
    wall0 = time.perf_counter()
    for i in range(n_chunks):
        n = min(chunk, total - i * chunk)
        x = gen.read(n)
        in_seg = start_seg[0] <= i < start_seg[1] or end_seg[0] <= i < end_seg[1]
        if in_seg:
            before = tracemalloc.get_traced_memory()[0] / 1024
            tracemalloc.reset_peak()  # the peak below is the heap peak *during* process() (state + transients)
        t0 = time.perf_counter()
        events = clusterer.process(x, sr)
        dt = time.perf_counter() - t0
        if in_seg:
            peak = tracemalloc.get_traced_memory()[1] / 1024
            name = "start" if i < start_seg[1] else "end"
            mem[name]["traced_peak_kb"] = max(mem[name]["traced_peak_kb"], peak)
            mem[name]["transient_kb"] = max(mem[name]["transient_kb"], peak - before)
        t_proc += dt
        call[i] = dt * 1e3
        for ev in events:
            lat[n_dec] = ev.inference_ms
            n_dec += 1
        for name, (a, b) in (("start", start_seg), ("end", end_seg)):
            if a <= i < b and ((i - a) % sample_every == 0 or i == b - 1):
                mem[name]["rss_kb"] = max(mem[name]["rss_kb"], _rss_kb()[0])
        if bar is not None and (i % 200 == 0 or i == n_chunks - 1):
            bar.n = round((i + 1) * chunk / sr)
            bar.refresh()
    wall = time.perf_counter() - wall0
    tracemalloc.stop()
    if bar is not None:
        bar.close()

    def growth(key: str) -> float:
        s, e = mem["start"][key], mem["end"][key]
        return (e - s) / s if s > 0 else float("nan")

    g_rss, g_tm = growth("rss_kb"), growth("traced_peak_kb")
    d = lat[:n_dec]
    fe = frontend_cost_per_hop(clusterer.info.frontend)
    audio_s = total / sr
    return {
        "model": os.path.abspath(model),
        "n_clusters": clusterer.n_clusters,
        "window_seconds": clusterer.info.window_seconds,
        "input_shape": [1, 1, clusterer.info.frontend.n_features, clusterer.window_frames],
        "audio_hours": audio_s / 3600,
        "chunk_samples": chunk,
        "sample_rate_hz": sr,
        "decisions": int(n_dec),
        "decision_interval_s": clusterer.decision_interval_s,
        "stable_changes": clusterer.switches,
        "stable_changes_per_hour": clusterer.switches / (audio_s / 3600),
        "decision_latency_ms": {"p50": float(np.percentile(d, 50)), "p99": float(np.percentile(d, 99)), "max": float(d.max())},
        "process_call_ms": {"p50": float(np.percentile(call, 50)), "p99": float(np.percentile(call, 99)), "max": float(call.max())},
        "processing_s": t_proc,
        "wall_s_including_generation": wall,
        "real_time_factor": t_proc / audio_s,
        "frontend": {
            "us_per_hop": fe["us_per_hop"],
            "hop_ms": fe["hop_ms"],
            "real_time_factor": fe["real_time_factor"],
        },
        "memory": {
            "segment_fraction": segment,
            "start_audio_s": [start_seg[0] * chunk / sr, start_seg[1] * chunk / sr],
            "end_audio_s": [end_seg[0] * chunk / sr, end_seg[1] * chunk / sr],
            "rss_peak_start_mib": mem["start"]["rss_kb"] / 1024,
            "rss_peak_end_mib": mem["end"]["rss_kb"] / 1024,
            "rss_growth_pct": 100 * g_rss,
            "tracemalloc_peak_start_kib": mem["start"]["traced_peak_kb"],
            "tracemalloc_peak_end_kib": mem["end"]["traced_peak_kb"],
            "tracemalloc_growth_pct": 100 * g_tm,
            "process_transient_start_kib": mem["start"]["transient_kb"],
            "process_transient_end_kib": mem["end"]["transient_kb"],
            "process_peak_rss_mib": _rss_kb()[1] / 1024,
            "flat_within_5pct": bool(g_rss <= FLAT_TOLERANCE and g_tm <= FLAT_TOLERANCE),
        },
        "machine": {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()},
    }


@cli_entry("python -m catuvac.runtime.soak")
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m catuvac.runtime.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="exported ONNX model")
    p.add_argument("--hours", type=float, default=1.0, help="hours of synthetic audio (default 1)")
    p.add_argument("--chunk", type=int, default=512, help="samples per process() call (default 512)")
    p.add_argument("--segment", type=float, default=0.1, help="fraction of the run compared at start and end (default 0.1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="write the results here (JSON)")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    from .audio import AudioError
    from .modelmeta import ModelMetadataError

    try:
        res = soak(args.model, args.hours, args.chunk, args.segment, args.seed, progress=not args.no_progress)
    except (ModelMetadataError, AudioError, ValueError) as e:
        print(f"soak: error: {e}", file=sys.stderr)
        return 2
    text = json.dumps(res, indent=2)
    if args.json:
        atomic_write_text(args.json, text + "\n")
    print(text)
    return 0 if res["memory"]["flat_within_5pct"] else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
