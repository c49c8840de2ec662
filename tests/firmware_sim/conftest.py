"""Shared helpers for the firmware_sim tests (a scripted stand-in for the scene clusterer)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from tests.runtime.test_microphone import pulse_device  # noqa: F401  (the live device tests' fixture: same skip rules)


@dataclass
class FakeEvent:
    time_s: float
    cluster: int
    probs: np.ndarray
    stable: int | None
    profile: str | None
    inference_ms: float


class ScriptedClassifier:
    """Emits one event per ``interval`` seconds of audio; ``script`` = [(from_time_s, stable_id), ...].

    Accepts chunks of any length (buffers by counting samples), like the real clusterer.
    """

    def __init__(self, script, n_clusters: int = 3, interval: float = 1.0, inference_ms: float = 0.5):
        self.script = sorted(script)
        self.n_clusters = n_clusters  # announced K (a test may hide it)
        self.k = n_clusters
        self.interval = interval
        self.inference_ms = inference_ms
        self.calls = 0
        self.samples = 0
        self.reset()

    def reset(self) -> None:
        self.t = 0.0
        self.next = self.interval
        self.calls = 0
        self.samples = 0

    def process(self, chunk: np.ndarray, sample_rate: int):
        assert chunk.ndim == 1 and np.all(np.isfinite(chunk))
        self.calls += 1
        self.samples += chunk.size
        self.t += chunk.size / sample_rate
        out = []
        while self.t + 1e-12 >= self.next:
            st = [c for (t0, c) in self.script if t0 <= self.next][-1]
            p = np.full(self.k, 0.1 / max(self.k - 1, 1))
            p[st] = 0.9
            out.append(FakeEvent(self.next, st, p, st, None, self.inference_ms + 0.01 * len(out)))
            self.next += self.interval
        return out


@pytest.fixture
def scripted():
    return ScriptedClassifier


def _tone(freq: float, level_db_spl: float, seconds: float, sr: int = 16000, fullscale_db_spl: float = 100.0):
    """A sine whose RMS reads ``level_db_spl`` under the chain's calibration."""
    t = np.arange(int(round(seconds * sr))) / sr
    rms = 10 ** ((level_db_spl - fullscale_db_spl) / 20)
    return np.sqrt(2) * rms * np.sin(2 * np.pi * freq * t)


def _run_blocks(chain, x: np.ndarray, block: int = 32) -> np.ndarray:
    n = len(x) // block * block
    return np.concatenate([chain.process(x[i : i + block]).copy() for i in range(0, n, block)])


@pytest.fixture
def make_tone():
    return _tone


@pytest.fixture
def run_blocks():
    return _run_blocks
