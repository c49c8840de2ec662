"""Fitting: audiograms and the NAL-R prescription (kept apart from the signal processing).

NAL-R (Byrne & Dillon 1986) insertion gain at frequency f::

    G(f) = X + 0.31·HL(f) + k(f)   [dB], negative values → 0
    X = 0.05·S for S = HL500 + HL1000 + HL2000 ≤ 180 dB HL; above, the severe-loss branch
    X = 0.05·180 + 0.116·(S − 180) (Byrne, Parkinson & Newall 1990). Thresholds up to 130 dB HL.

with k = −17, −8, −3, +1, +1, −1, −2, −2, −2 dB at 250, 500, 750, 1000, 1500, 2000, 3000,
4000, 6000 Hz. Thresholds at prescription frequencies the audiogram does not list are
interpolated linearly on a log-frequency axis (held flat beyond its first / last frequency).
Band gains are the prescription interpolated the same way to the filterbank's band centres.

Audiogram file (JSON)::

    {"frequencies_hz": [250, 500, 1000, 2000, 4000, 6000],
     "thresholds_db_hl": [20, 25, 30, 40, 50, 55],
     "description": "optional free text"}
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from catuvac.runtime.errors import CatuvacError
from catuvac.runtime.fileio import read_json_file

__all__ = [
    "AudiogramError",
    "Audiogram",
    "DEFAULT_AUDIOGRAM",
    "NALR_FREQUENCIES_HZ",
    "NALR_K_DB",
    "nalr_gains",
    "nalr_band_gains",
]

NALR_FREQUENCIES_HZ = (250.0, 500.0, 750.0, 1000.0, 1500.0, 2000.0, 3000.0, 4000.0, 6000.0)
NALR_K_DB = (-17.0, -8.0, -3.0, 1.0, 1.0, -1.0, -2.0, -2.0, -2.0)


class AudiogramError(CatuvacError, ValueError):
    """An audiogram that cannot be used; the message says which field and why."""


def _interp_logf(freqs: Sequence[float], values: Sequence[float], at: Sequence[float]) -> np.ndarray:
    return np.interp(np.log(np.asarray(at, float)), np.log(np.asarray(freqs, float)), np.asarray(values, float))


@dataclass(frozen=True)
class Audiogram:
    """Hearing thresholds (dB HL) at audiometric frequencies (Hz), validated on creation."""

    frequencies_hz: tuple[float, ...]
    thresholds_db_hl: tuple[float, ...]
    description: str = ""

    def __post_init__(self) -> None:
        f = np.asarray(self.frequencies_hz, dtype=float)
        h = np.asarray(self.thresholds_db_hl, dtype=float)
        if f.ndim != 1 or h.ndim != 1 or len(f) == 0:
            raise AudiogramError("frequencies_hz and thresholds_db_hl must be non-empty lists of numbers")
        if len(f) != len(h):
            raise AudiogramError(
                f"frequencies_hz has {len(f)} entries but thresholds_db_hl has {len(h)}; give one threshold per frequency"
            )
        if not np.all(np.isfinite(f)) or not np.all(np.isfinite(h)):
            raise AudiogramError("audiogram values must be finite numbers")
        if np.any(np.diff(f) <= 0):
            raise AudiogramError(f"frequencies_hz must be strictly increasing, got {f.tolist()}")
        if f[0] < 125 or f[-1] > 12000:
            raise AudiogramError(f"frequencies_hz must lie in 125–12000 Hz, got {f.tolist()}")
        if np.any(h < -20) or np.any(h > 130):
            i = int(np.argmax((h < -20) | (h > 130)))
            raise AudiogramError(
                f"threshold {h[i]:g} dB HL at {f[i]:g} Hz is outside −20…130 dB HL; check the units (dB HL, not SPL)"
            )
        if f[0] > 500 or f[-1] < 2000:
            raise AudiogramError(
                "NAL-R needs thresholds spanning 500–2000 Hz (its three-frequency average); "
                f"the audiogram covers {f[0]:g}–{f[-1]:g} Hz"
            )
        object.__setattr__(self, "frequencies_hz", tuple(float(x) for x in f))
        object.__setattr__(self, "thresholds_db_hl", tuple(float(x) for x in h))

    def at(self, freqs_hz: Sequence[float]) -> np.ndarray:
        """Thresholds interpolated (log-frequency, flat beyond the ends) at ``freqs_hz``."""
        return _interp_logf(self.frequencies_hz, self.thresholds_db_hl, freqs_hz)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], source: str = "audiogram") -> "Audiogram":
        if not isinstance(d, Mapping):
            raise AudiogramError(f"{source}: expected a JSON object with frequencies_hz and thresholds_db_hl")
        unknown = set(d) - {"frequencies_hz", "thresholds_db_hl", "description"}
        if unknown:
            raise AudiogramError(
                f"{source}: unknown field(s) {sorted(unknown)}; expected frequencies_hz, thresholds_db_hl, description"
            )
        for k in ("frequencies_hz", "thresholds_db_hl"):
            if k not in d:
                raise AudiogramError(f"{source}: missing field {k!r}")
            v = d[k]
            if not isinstance(v, (list, tuple)) or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) for x in v
            ):
                raise AudiogramError(f"{source}: {k} must be a list of numbers, got {v!r}")
        try:
            return cls(tuple(d["frequencies_hz"]), tuple(d["thresholds_db_hl"]), str(d.get("description", "")))
        except AudiogramError as e:
            raise AudiogramError(f"{source}: {e}") from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Audiogram":
        return cls.from_dict(read_json_file(path, AudiogramError, "audiogram file"), source=str(Path(path)))

    def to_dict(self) -> dict:
        return {
            "frequencies_hz": list(self.frequencies_hz),
            "thresholds_db_hl": list(self.thresholds_db_hl),
            "description": self.description,
        }


# A mild, gently sloping high-frequency loss: the most common hearing-aid candidate.
DEFAULT_AUDIOGRAM = Audiogram(
    (250.0, 500.0, 1000.0, 2000.0, 3000.0, 4000.0, 6000.0),
    (20.0, 25.0, 30.0, 40.0, 45.0, 50.0, 55.0),
    "mild sloping loss (default)",
)


#: Three-frequency sum (dB HL) above which the severe-loss branch applies (Byrne, Parkinson & Newall 1990).
SEVERE_3F_SUM_DB = 180.0


def nalr_x(three_freq_sum_db: float) -> float:
    """The NAL-R constant X from HL500 + HL1000 + HL2000: 0.05·sum, and above 180 dB HL the
    severe-loss branch 0.05·180 + 0.116·(sum − 180) (NAL-RP, as pyclarity's NAL-R applies it)."""
    if three_freq_sum_db > SEVERE_3F_SUM_DB:
        return 0.05 * SEVERE_3F_SUM_DB + 0.116 * (three_freq_sum_db - SEVERE_3F_SUM_DB)
    return 0.05 * three_freq_sum_db


def nalr_gains(audiogram: Audiogram, freqs_hz: Sequence[float] = NALR_FREQUENCIES_HZ) -> np.ndarray:
    """NAL-R insertion gain (dB) at the nine prescription frequencies (or at ``freqs_hz``:
    the prescription is computed at its nine frequencies and interpolated on log-frequency)."""
    hl = audiogram.at(NALR_FREQUENCIES_HZ)
    x = nalr_x(float(np.sum(audiogram.at([500.0, 1000.0, 2000.0]))))
    g = np.maximum(x + 0.31 * hl + np.asarray(NALR_K_DB), 0.0)
    if tuple(float(f) for f in freqs_hz) == NALR_FREQUENCIES_HZ:
        return g
    return _interp_logf(NALR_FREQUENCIES_HZ, g, freqs_hz)


def nalr_band_gains(audiogram: Audiogram, band_centres_hz: Sequence[float]) -> np.ndarray:
    """Per-band insertion gains (dB) for a filterbank with the given band centres."""
    return nalr_gains(audiogram, band_centres_hz)
