"""Measure the hand-written StreamResampler against soxr.ResampleStream (needs `pip install soxr`).

Run: .venv/bin/python tools/resampler_vs_soxr.py
Prints JSON per resampler: time for 30 s of 44.1-kHz audio in 512-sample chunks, chunk invariance
(512 vs 4096 vs one chunk), the level of a 12-kHz tone after 44.1 → 16 kHz (aliasing), and the
largest passband PSD deviation (100 Hz–7 kHz) from scipy's resample_poly (the training path).
"""

import json
import time

import numpy as np
import soxr
from scipy import signal

from catuvac.runtime.audio import StreamResampler

SR_IN, SR_OUT, SECONDS = 44100, 16000, 30
N = SR_IN * SECONDS
T = np.arange(N) / SR_IN
X = (0.3 * np.sin(2 * np.pi * 1000 * T) + 0.05 * np.random.default_rng(0).standard_normal(N)).astype(np.float32)
TONE_12K = (0.5 * np.sin(2 * np.pi * 12000 * T)).astype(np.float32)


def run_hand(chunks: list[np.ndarray]) -> np.ndarray:
    r = StreamResampler(SR_IN, SR_OUT)
    return np.concatenate([r.process(c) for c in chunks])


def run_soxr(chunks: list[np.ndarray], quality: str = "HQ") -> np.ndarray:
    r = soxr.ResampleStream(SR_IN, SR_OUT, 1, dtype="float32", quality=quality)
    return np.concatenate([r.resample_chunk(c, last=(i == len(chunks) - 1)) for i, c in enumerate(chunks)])


def chunked(x: np.ndarray, size: int) -> list[np.ndarray]:
    return [x[i : i + size] for i in range(0, len(x), size)]


def measure(fn) -> dict:  # noqa: ANN001
    t0 = time.perf_counter()
    y512 = fn(chunked(X, 512))
    dt = time.perf_counter() - t0
    y4k, y1 = fn(chunked(X, 4096)), fn(chunked(X, N))
    m = min(len(y512), len(y4k), len(y1))
    ya = fn(chunked(TONE_12K, 4096))
    alias_db = 20 * np.log10(np.sqrt(np.mean(ya[2000:-2000].astype(np.float64) ** 2)) / (0.5 / np.sqrt(2)) + 1e-20)
    ref = signal.resample_poly(X.astype(np.float64), 160, 441)
    k = min(len(y512), len(ref))
    f, p_ref = signal.welch(ref[:k], SR_OUT, nperseg=4096)
    _, p_y = signal.welch(y512[:k].astype(np.float64), SR_OUT, nperseg=4096)
    band = (f > 100) & (f < 7000)
    return {
        "seconds_for_30s_in_512_chunks": round(dt, 4),
        "chunk_invariance_max_abs_diff": float(max(np.max(np.abs(y512[:m] - y4k[:m])), np.max(np.abs(y512[:m] - y1[:m])))),
        "output_samples": [len(y512), len(y4k), len(y1)],
        "alias_12kHz_tone_db": round(float(alias_db), 1),
        "passband_psd_max_dev_db_vs_resample_poly": round(float(np.max(np.abs(10 * np.log10(p_y[band] / p_ref[band])))), 3),
    }


if __name__ == "__main__":
    print(json.dumps({"hand": measure(run_hand), "soxr_HQ": measure(run_soxr),
                      "soxr_VHQ": measure(lambda c: run_soxr(c, "VHQ"))}, indent=1))
