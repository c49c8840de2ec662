"""An acoustic change detector: has the sound of the place just changed?

The decision layer's HMM (:mod:`catuvac.runtime.decisions`) is sticky so that a stretch of
misread windows inside one scene does not switch the program; the same stickiness makes it
slow when the scene really changes. A scene change is also a change of the *sound*: the
spectral envelope of the last seconds moves away from that of the seconds before, and stays
away. A misreading inside a stable scene mostly is not (the envelope is what it was; the model
read it differently). This detector measures that movement from the front-end's own frames,
so the HMM can drop its stickiness only while the sound has just changed (an input-driven
transition prior) and keep it everywhere else.

Score at a decision, in dB: the mean over :data:`N_BANDS` groups of mel bands of
``|median(last recent_s) − median(the reference_s before)|`` of the band levels. Medians, not
means, so a sound shorter than half of ``recent_s`` (a door slam, a cough) barely moves the
recent level, and one loud second in the reference does not shift it. Before the stream holds
``recent_s`` plus one frame the score is 0 (nothing to compare; the HMM's first decision has no
prior to overcome anyway).

numpy only, explicit preallocated state (a ring of band levels), no threads; the score depends
only on the frame sequence, so it is chunk-size invariant like the clusterer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import CatuvacError
from .frontend import db_per_ln
from .params import bounded, check_bounds

__all__ = ["ChangeDetectorConfig", "ChangeDetector", "ChangeDetectorError", "N_BANDS", "change_scores"]

# Groups of mel bands the levels are averaged over (8 of the 128 mel bins each): the spectral
# envelope, without the single-bin noise that makes every window look a little different.
N_BANDS = 16


class ChangeDetectorError(CatuvacError, ValueError):
    """A change-detector setting or input that cannot be used; the message says what to pass."""


@dataclass(frozen=True)
class ChangeDetectorConfig:
    """What the detector compares. Values: tuning days (seeds 100–105), 2026-12-07; the
    threshold on the score is the decision rule's (``HmmConfig.change_threshold_db``)."""

    # The "now" of the comparison. 2 s: half of it must be new sound before the median moves,
    # so a transient of ≤ 1 s cannot; a scene change moves it within ~1 s of the cross-fade.
    recent_s: float = bounded(2.0, gt=0, le=30, unit="s")
    # The "before". 10 s: long enough to hold a scene's usual fluctuation (a voice, a pause),
    # short enough to have caught up with the current scene well before its next change (≥ 20 s).
    reference_s: float = bounded(10.0, gt=0, le=120, unit="s")

    def __post_init__(self) -> None:
        check_bounds(self, ChangeDetectorError)


class ChangeDetector:
    """Streaming score of acoustic change from raw log front-end frames.

    ``push(frames)`` takes raw log features (F, m) — the front-end's ``log`` of power (``power``
    2) or magnitude (``power`` 1) — as they arrive; ``score()`` compares the last ``recent_s``
    with the ``reference_s`` before. ``reset()`` forgets everything.
    """

    def __init__(self, n_features: int, hop_seconds: float, power: float = 2.0,
                 config: ChangeDetectorConfig | None = None) -> None:
        if n_features < N_BANDS:
            raise ChangeDetectorError(f"the change detector needs ≥ {N_BANDS} features per frame, got {n_features}")
        if not (math.isfinite(hop_seconds) and hop_seconds > 0):
            raise ChangeDetectorError(f"hop_seconds must be positive, got {hop_seconds!r}")
        self.config = config if config is not None else ChangeDetectorConfig()
        self.n_recent = max(1, int(round(self.config.recent_s / hop_seconds)))
        self.n_reference = max(1, int(round(self.config.reference_s / hop_seconds)))
        edges = np.linspace(0, n_features, N_BANDS + 1).astype(np.intp)
        self._starts = edges[:-1]
        self._scale = db_per_ln(power) / np.diff(edges).astype(np.float64)  # band sum of ln(feature) → mean in dB
        self._ring = np.zeros((N_BANDS, self.n_recent + self.n_reference), dtype=np.float32)
        self.reset()

    def reset(self) -> None:
        self._ring[:] = 0.0
        self.frames = 0

    def push(self, frames: np.ndarray) -> None:
        """Append raw log frames (n_features, m)."""
        m = frames.shape[1]
        if m == 0:
            return
        levels = np.add.reduceat(frames, self._starts, axis=0) * self._scale[:, None]
        n = self._ring.shape[1]
        if m > n:
            levels, self.frames = levels[:, m - n :], self.frames + m - n
            m = n
        idx = (self.frames + np.arange(m)) % n
        self._ring[:, idx] = levels
        self.frames += m

    def score(self) -> float:
        """Mean absolute change of the median band level, recent vs reference, in dB."""
        n = self._ring.shape[1]
        have = min(self.frames, n)
        r = min(self.n_recent, have)
        if have - r < 1:
            return 0.0
        order = (self.frames - have + np.arange(have)) % n  # chronological
        recent = np.median(self._ring[:, order[have - r :]], axis=1)
        reference = np.median(self._ring[:, order[: have - r]], axis=1)
        return float(np.mean(np.abs(recent - reference)))


def change_scores(features: np.ndarray, frame_counts: np.ndarray | list[int], hop_seconds: float, power: float = 2.0,
                  config: ChangeDetectorConfig | None = None) -> np.ndarray:
    """The streaming detector's score after each of ``frame_counts`` (increasing) frames of the
    raw log ``features`` (F, T) of a whole recording — what the clusterer feeds its rule at the
    decisions that fall there (offline replays, the supervised ceiling)."""
    det = ChangeDetector(features.shape[0], hop_seconds, power, config)
    out = np.zeros(len(frame_counts))
    done = 0
    for i, n in enumerate(frame_counts):
        if n < done or n > features.shape[1]:
            raise ChangeDetectorError(f"frame counts must increase within the recording's {features.shape[1]} frames, got {n}")
        det.push(features[:, done:n])
        done = n
        out[i] = det.score()
    return out
