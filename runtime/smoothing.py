"""Stable scene decisions from a stream of q(y|x): EMA, hysteresis, confirmation, minimum dwell.

A hearing aid must not flap between programs on a door slam or a passing car, yet it should
follow a real change of environment within a few seconds. Field notes (edge-and-dsp-notes.md,
"Commercial program switching"): the environment is determined within ≤ 4 s (ReSound);
classifiers use few discrete states with smoothing to avoid flapping (Signia); a sound design
smooths probabilities over 2–5 s, adds hysteresis and a minimum dwell of 5–10 s.

The rule, applied once per decision (time stamps ``t`` in seconds of stream time):

1. ``smoothed ← smoothed + α·(q − smoothed)``, ``α = 1 − exp(−Δt / ema_seconds)``
   (the first decision initialises ``smoothed = q``);
2. the *first* stable decision is ``argmax(q)`` — no waiting;
3. afterwards a *candidate* ``c = argmax(smoothed) ≠ stable`` switches the stable decision to
   ``c`` when (a) ``c`` has been the smoothed argmax at every decision for at least
   ``confirm_seconds``, (b) ``smoothed[c] − smoothed[stable] ≥ hysteresis`` now, and (c) at
   least ``min_dwell_seconds`` have passed since the previous switch (durations are compared on
   the decision grid, to within half a decision interval).

With the defaults and one decision per second, a change of q switches at the 2nd decision after
the smoothed argmax moves to the new class (usually the 1st or 2nd decision of the new raw
class), while a one-decision burst of another class never switches, whatever its probability.
(A causal rule cannot do better: a b-decision burst looks exactly like the first b decisions of
a real change, so rejecting bursts of b decisions costs b+1 decisions of delay.) Longer noises
are handled by the model's own 4-s window (a 1-s event is a quarter of it) and by the dwell.

Pure Python + numpy; no threads; state is four numbers and one K-vector.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .errors import CatuvacError
from .params import bounded, check_bounds

__all__ = ["SmoothingConfig", "Smoother", "SmootherError"]


class SmootherError(CatuvacError, ValueError):
    """A smoothing configuration or input that cannot be used."""


@dataclass(frozen=True)
class SmoothingConfig:
    """Parameters of the stable-decision rule (see the module docstring)."""

    # EMA time constant of q(y|x). Notes: "smooth probabilities over 2–5 s". The model's own
    # context window (4 s) already averages the audio over 4 s; 1 s of EMA plus the two-decision
    # confirmation below bring the effective horizon to ~5 s while keeping the reaction to a real
    # change at ≈ raw flip + 1 decision (target: median scene-change-to-switch delay ≤ 4 s).
    ema_seconds: float = bounded(1.0, ge=0, note="0 = no averaging")
    # The candidate's smoothed probability must exceed the current one's by this margin.
    # Notes: "hysteresis"; 0.15 keeps two near-equal clusters (0.45 vs 0.40) from alternating.
    hysteresis: float = bounded(0.15, ge=0, lt=1)
    # The same candidate must be the smoothed argmax this long before a switch. 1 s = two
    # consecutive decisions at the default 1-s cadence: a one-decision burst (a door, a cough
    # that dominates one window) never switches.
    confirm_seconds: float = bounded(1.0, ge=0)
    # Minimum time since the previous switch before the next one. Notes: "a minimum dwell of
    # 5–10 s"; 6 s is short enough for the 20–45-s scenes of the built-in day, long enough to
    # stop an immediate switch back after a transition.
    min_dwell_seconds: float = bounded(6.0, ge=0)

    def __post_init__(self) -> None:
        check_bounds(self, SmootherError)

    @classmethod
    def off(cls) -> "SmoothingConfig":
        """No smoothing: the stable decision is the raw argmax at every decision."""
        return cls(ema_seconds=0.0, hysteresis=0.0, confirm_seconds=0.0, min_dwell_seconds=0.0)


class Smoother:
    """Stateful application of :class:`SmoothingConfig` to a sequence of q(y|x)."""

    def __init__(self, n_clusters: int, config: SmoothingConfig | None = None) -> None:
        if n_clusters < 1:
            raise SmootherError(f"n_clusters must be ≥ 1, got {n_clusters}")
        self.n_clusters = int(n_clusters)
        self.config = config if config is not None else SmoothingConfig()
        self._smoothed = np.zeros(self.n_clusters, dtype=np.float64)
        self.reset()

    def reset(self) -> None:
        self._smoothed[:] = 0.0
        self._started = False
        self._last_t = 0.0
        self.stable: int | None = None
        self._last_switch_t = -math.inf
        self._cand: int | None = None
        self._cand_since = 0.0
        self.switches = 0  # changes after the first decision

    @property
    def smoothed(self) -> np.ndarray:
        return self._smoothed.copy()

    def update(self, probs: np.ndarray, t: float) -> tuple[np.ndarray, int, bool]:
        """Feed q(y|x) at stream time ``t`` (s); return (smoothed copy, stable id, changed)."""
        q = np.asarray(probs, dtype=np.float64).reshape(-1)
        if q.shape[0] != self.n_clusters:
            raise SmootherError(f"expected {self.n_clusters} probabilities, got {q.shape[0]}")
        c = self.config
        if not self._started:
            self._smoothed[:] = q
            self._started = True
            self._last_t = t
            self.stable = int(np.argmax(q))
            self._last_switch_t = t
            return self._smoothed.copy(), self.stable, True
        dt = max(t - self._last_t, 0.0)
        self._last_t = t
        alpha = 1.0 if c.ema_seconds <= 0 else 1.0 - math.exp(-dt / c.ema_seconds)
        self._smoothed += alpha * (q - self._smoothed)
        s = self._smoothed
        assert self.stable is not None
        cand = int(np.argmax(s))
        changed = False
        if cand != self.stable:
            if cand != self._cand:
                self._cand, self._cand_since = cand, t
            # durations are measured on the decision grid: "at least X s" within half a decision
            # interval, so confirm_seconds=1 means two consecutive decisions at a 0.99-s cadence
            tol = 0.5 * dt + 1e-9
            if (
                s[cand] - s[self.stable] >= c.hysteresis
                and t - self._cand_since >= c.confirm_seconds - tol
                and t - self._last_switch_t >= c.min_dwell_seconds - tol
            ):
                self.stable = cand
                self._last_switch_t = t
                self._cand = None
                self.switches += 1
                changed = True
        else:
            self._cand = None
        return self._smoothed.copy(), self.stable, changed
