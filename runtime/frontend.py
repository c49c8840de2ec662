"""The log-mel front-end: one implementation, used by training, export calibration and the runtime.

Two forms compute the same numbers:

- :meth:`FrontEnd.features` (batch) turns a whole signal into raw log-(mel) frames;
- :class:`StreamingFrontEnd` takes samples as they come (any chunk size) and emits the
  same frames one hop at a time (max abs diff ≤ 1e-6 against the batch form, tested).

Framing is *not* centred (frame ``t`` covers samples ``[t·hop, t·hop + n_fft)``), because a
streaming device cannot look into the future; librosa's ``center=False`` gives the same frames.

Normalization turns a window of raw log frames into the network input in [0, 1]. The paper
("normalized by its mean and variance, and a min-max normalization to limit values from 0 to
1") is read two ways, selectable in :class:`FrontEndConfig`:

- ``"window"`` (default, the paper's reading): standardize with the window's own mean and
  standard deviation, then min-max scale the window to [0, 1]. Level-invariant: a scene is
  recognised by its spectro-temporal shape whatever the playback level.
- ``"global"``: standardize every mel bin with the training set's per-bin mean / std, then
  min-max scale with the training set's global min / max of the standardized values and clip
  to [0, 1]. Level-aware (a loud street and a quiet street differ). The statistics are part
  of the config, so they travel inside the checkpoint and the ONNX metadata.
- ``"window_level"`` (issue 11, opt-in): the ``"window"`` map with the window's absolute
  level *beside* it: ``(1 − a)·window_map + a·ℓ`` with ``a = level_weight`` and
  ``ℓ = sigmoid(mean over the window of the per-bin standardized log features)`` (the training
  set's per-bin mean / std, as ``"global"``). The spectro-temporal shape is kept exactly (a
  scaled copy of the paper's map); ℓ lifts the whole map by an amount that grows with the
  level, so a quiet room and a quiet recording of music no longer look alike.

Feature kinds:

- ``"logmel"`` (scenes, US8K, TAU2019): 16 kHz, STFT 960 / Hann 960 / hop 480 (50 %
  overlap), power spectrum, 128 mel bins (Slaney mel scale and area normalization, as
  librosa's default), natural log with a floor.
- ``"spectrogram"`` (AudioMNIST, "1-second magnitude spectrogram with trimmed frequency bins"):
  16 kHz, 1 s, STFT 512 / Hann 512 / hop 128, *magnitude* spectrum, trimmed to the lowest
  128 of its 257 bins (0 – 3.97 kHz, where the first two formants of spoken digits lie),
  natural log with a floor. That gives 128 × 122 inputs, the same height as the mel inputs,
  so one network serves both. The trim is our choice: the paper's reference [6] does not
  state the exact bin range in the text we have.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np

from .errors import CatuvacError
from .fileio import json_digest

__all__ = [
    "FrontEndConfig",
    "NormStats",
    "FrontEnd",
    "StreamingFrontEnd",
    "FrontEndError",
    "mel_filterbank",
    "fit_global_stats",
    "clamp_dynamic_range",
    "normalize_window",
    "NORMALIZATIONS",
    "window_level",
    "window_level_db",
    "window_level_spread_db",
    "window_level_stats_db",
    "db_per_ln",
]

FORMAT_VERSION = 1
# The input normalizations (module docstring); the last two need training-set statistics.
NORMALIZATIONS = ("window", "global", "window_level")


class FrontEndError(CatuvacError, ValueError):
    """A front-end config or input that cannot be used; the message says what to do."""


@dataclass(frozen=True)
class NormStats:
    """Training-set statistics for ``normalization="global"`` (per feature bin mean / std,
    then global min / max of the standardized values)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    lo: float
    hi: float

    def to_dict(self) -> dict[str, Any]:
        return {"mean": list(self.mean), "std": list(self.std), "lo": self.lo, "hi": self.hi}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "NormStats":
        return cls(
            mean=tuple(float(v) for v in d["mean"]),
            std=tuple(float(v) for v in d["std"]),
            lo=float(d["lo"]),
            hi=float(d["hi"]),
        )


@dataclass(frozen=True)
class FrontEndConfig:
    """Everything needed to turn audio into network input. Saved in checkpoints and ONNX metadata."""

    kind: str = "logmel"  # "logmel" (scenes) or "spectrogram" (AudioMNIST variant)
    sample_rate: int = 16000  # paper: "We resample data to 16 kHz"
    n_fft: int = 960  # paper: STFT of 960 samples (60 ms at 16 kHz)
    win_length: int = 960  # paper: Hann window the same size as the STFT
    hop_length: int = 480  # paper: 50 % overlap
    n_mels: int = 128  # paper: 128 mel bins (for "spectrogram": number of kept low bins)
    fmin: float = 0.0  # full range: scenes benefit from the broad frequency range (paper)
    fmax: float | None = None  # None = Nyquist
    power: float = 2.0  # 2 = power spectrum (mel); 1 = magnitude (AudioMNIST spectrogram)
    log_floor: float = 1e-10  # floor before the log: silence gives a finite value, not -inf
    # Bins more than this far below the window's loudest bin are raised to that floor before
    # normalization (librosa's top_db): near-silent bins (a band-limited recording, digital
    # silence) would otherwise sit at the log floor and squash the real content into the top of
    # [0, 1]. Off by default (the paper uses none; on the built-in scenes an 80-dB clamp made
    # Cat. UVAC merge more classes); 80 is a typical setting (librosa top_db).
    dynamic_range_db: float | None = None
    normalization: str = "window"  # "window" (paper, level-invariant), "global" or "window_level" (level-aware)
    stats: NormStats | None = None  # required for "global" and "window_level"; computed on the training split
    # "window_level" only: share of the input given to the level ℓ (the window map keeps 1 − a).
    # 0.3 lifts a loud window by up to 0.3 over a silent one: as large as the map's own
    # fine structure, small enough to leave its shape dominant.
    level_weight: float = 0.3
    window_seconds: float = 4.0  # context window fed to the network (paper: 4 s US8K, 10 s TAU2019)

    def __post_init__(self) -> None:
        self.validate()

    # ----------------------------------------------------------------- presets
    @classmethod
    def scenes(cls, window_seconds: float = 4.0, normalization: str = "window") -> "FrontEndConfig":
        """The paper's urban-scene settings (US8K, TAU2019, built-in scenes)."""
        return cls(window_seconds=window_seconds, normalization=normalization)

    @classmethod
    def audiomnist(cls, normalization: str = "window") -> "FrontEndConfig":
        """The AudioMNIST variant: 1-s magnitude spectrogram, lowest 128 of 257 bins."""
        return cls(
            kind="spectrogram",
            n_fft=512,
            win_length=512,
            hop_length=128,
            n_mels=128,
            power=1.0,
            normalization=normalization,
            window_seconds=1.0,
        )

    # ----------------------------------------------------------------- derived
    @property
    def n_features(self) -> int:
        """Height of the feature map (mel bins or kept spectrogram bins)."""
        return self.n_mels

    @property
    def window_samples(self) -> int:
        return int(round(self.window_seconds * self.sample_rate))

    def frames_for_samples(self, n_samples: int) -> int:
        """Number of complete (non-centred) frames in ``n_samples`` samples."""
        if n_samples < self.n_fft:
            return 0
        return 1 + (n_samples - self.n_fft) // self.hop_length

    @property
    def window_frames(self) -> int:
        return self.frames_for_samples(self.window_samples)

    @property
    def hop_seconds(self) -> float:
        return self.hop_length / self.sample_rate

    def validate(self) -> None:
        if self.kind not in ("logmel", "spectrogram"):
            raise FrontEndError(f"front-end kind must be 'logmel' or 'spectrogram', got {self.kind!r}")
        if self.sample_rate <= 0 or self.n_fft <= 0 or self.hop_length <= 0:
            raise FrontEndError("sample_rate, n_fft and hop_length must be positive")
        if not 0 < self.win_length <= self.n_fft:
            raise FrontEndError(f"win_length must be in (0, n_fft={self.n_fft}], got {self.win_length}")
        if self.kind == "spectrogram" and self.n_mels > self.n_fft // 2 + 1:
            raise FrontEndError(f"cannot keep {self.n_mels} bins of a {self.n_fft}-point spectrum")
        if self.dynamic_range_db is not None and not self.dynamic_range_db > 0:
            raise FrontEndError(f"dynamic_range_db must be positive or None, got {self.dynamic_range_db}")
        if self.normalization not in NORMALIZATIONS:
            raise FrontEndError(
                f"normalization must be one of {', '.join(NORMALIZATIONS)}, got {self.normalization!r}"
            )
        if not 0.0 < self.level_weight < 1.0:
            raise FrontEndError(f"level_weight must be in (0, 1), got {self.level_weight}")
        if self.needs_stats and self.stats is not None:
            if len(self.stats.mean) != self.n_features or len(self.stats.std) != self.n_features:
                raise FrontEndError(
                    f"training-set statistics have {len(self.stats.mean)} bins but the front-end has "
                    f"{self.n_features}: recompute them on the training set with this config"
                )
        if self.window_frames < 1:
            raise FrontEndError(
                f"window_seconds={self.window_seconds} is shorter than one STFT frame "
                f"({self.n_fft / self.sample_rate:.3f} s)"
            )

    @property
    def needs_stats(self) -> bool:
        """True when the normalization uses training-set statistics ("global", "window_level")."""
        return self.normalization != "window"

    def require_stats(self) -> None:
        if self.needs_stats and self.stats is None:
            raise FrontEndError(
                f"normalization={self.normalization!r} needs training-set statistics: compute them with "
                "fit_global_stats() on the training split (catuvac-train does this) or use "
                "normalization='window'"
            )

    # ----------------------------------------------------------------- serialization
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["stats"] = self.stats.to_dict() if self.stats is not None else None
        d["format_version"] = FORMAT_VERSION
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "FrontEndConfig":
        d = dict(d)
        version = d.pop("format_version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise FrontEndError(
                f"front-end config format {version} is not supported (this catuvac reads "
                f"{FORMAT_VERSION}); re-export the model with this version"
            )
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise FrontEndError(f"unknown front-end config fields: {sorted(unknown)}")
        stats = d.pop("stats", None)
        return cls(**d, stats=NormStats.from_dict(stats) if stats is not None else None)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, s: str) -> "FrontEndConfig":
        return cls.from_dict(json.loads(s))

    def with_stats(self, stats: NormStats | None) -> "FrontEndConfig":
        return dataclasses.replace(self, stats=stats)

    def feature_key(self) -> str:
        """Hash of everything that changes the raw (un-normalized) frames: the feature-cache key."""
        d = self.to_dict()
        for k in ("normalization", "stats", "window_seconds", "dynamic_range_db", "level_weight"):
            d.pop(k)
        return json_digest(d)


# --------------------------------------------------------------------------- mel filters
def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's auditory-toolbox mel scale (librosa's default, htk=False)."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-12) / min_log_hz) / logstep, mels)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * m
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), freqs)


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> np.ndarray:
    """Triangular mel filters (n_mels × (n_fft//2+1)), Slaney scale and area normalization."""
    if fmax is None:
        fmax = sample_rate / 2.0
    fftfreqs = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(np.asarray(fmin)), _hz_to_mel(np.asarray(fmax)), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
    return weights * enorm[:, None]


# --------------------------------------------------------------------------- batch form
class FrontEnd:
    """Batch and per-frame feature computation for one :class:`FrontEndConfig`."""

    def __init__(self, config: FrontEndConfig) -> None:
        self.config = config
        c = config
        win = np.zeros(c.n_fft)
        # periodic Hann (scipy.signal.get_window('hann', N, fftbins=True), librosa's choice), centred in n_fft
        n = np.arange(c.win_length)
        hann = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / c.win_length)
        off = (c.n_fft - c.win_length) // 2
        win[off : off + c.win_length] = hann
        self.window = win
        if c.kind == "logmel":
            self.basis: np.ndarray | None = mel_filterbank(c.sample_rate, c.n_fft, c.n_mels, c.fmin, c.fmax)
        else:
            self.basis = None

    def _linear_features(self, frames: np.ndarray) -> np.ndarray:
        """frames: (T, n_fft) float64 → (mel) power / magnitude before the log, (T, n_features)."""
        c = self.config
        spec = np.abs(np.fft.rfft(frames * self.window, axis=-1))
        if c.power != 1.0:
            spec = spec**c.power
        return spec @ self.basis.T if self.basis is not None else spec[:, : c.n_mels]

    def _frames_to_features(self, frames: np.ndarray) -> np.ndarray:
        """frames: (T, n_fft) float64 → raw log features (n_features, T) float64 (batch and streaming)."""
        return np.log(np.maximum(self._linear_features(frames), self.config.log_floor)).T

    def power_features(self, audio: np.ndarray) -> np.ndarray:
        """(Mel) power/magnitude frames *before* the log, (n_features, T): the production path's own spectrum."""
        return self._linear_features(self._frame(audio)).T

    def _frame(self, audio: np.ndarray) -> np.ndarray:
        c = self.config
        x = np.asarray(audio, dtype=np.float64)
        if x.ndim != 1:
            raise FrontEndError(f"the front-end takes mono audio (1-D), got shape {x.shape}: mix down first")
        n = c.frames_for_samples(len(x))
        if n == 0:
            return np.zeros((0, c.n_fft))
        return np.lib.stride_tricks.sliding_window_view(x, c.n_fft)[:: c.hop_length][:n]

    def features(self, audio: np.ndarray) -> np.ndarray:
        """Raw log features of a mono signal at ``config.sample_rate``: (n_features, T) float32."""
        frames = self._frame(audio)
        if len(frames) == 0:
            return np.zeros((self.config.n_features, 0), dtype=np.float32)
        return self._frames_to_features(frames).astype(np.float32)

    def normalize(self, logmel: np.ndarray) -> np.ndarray:
        """Raw log features (…, n_features, T) → network input in [0, 1] (float32)."""
        return normalize_window(logmel, self.config)

    def stream(self) -> "StreamingFrontEnd":
        return StreamingFrontEnd(self)


_EPS = 1e-8  # floor of every divisor: a constant window (silence) maps without dividing by zero


def normalize_window(logmel: np.ndarray, config: FrontEndConfig) -> np.ndarray:
    """Normalize one window (n_features, T) or a batch (B, n_features, T) to [0, 1].

    Silence (a constant window) maps to all zeros without dividing by zero.
    """
    x = clamp_dynamic_range(logmel, config)
    if config.normalization == "global":
        z = _standardize(x, config)
        s = config.stats
        assert s is not None
        return np.clip((z - s.lo) / max(s.hi - s.lo, _EPS), 0.0, 1.0).astype(np.float32)
    out = _window_map(x)
    if config.normalization == "window_level":
        a = config.level_weight
        out = (1.0 - a) * out + a * window_level(x, config)
    return out.astype(np.float32)


def _window_map(x: np.ndarray) -> np.ndarray:
    """The paper's per-window standardization and min-max scaling (float64)."""
    axes = (-2, -1)
    z = (x - x.mean(axis=axes, keepdims=True)) / np.maximum(x.std(axis=axes, keepdims=True), _EPS)
    lo = z.min(axis=axes, keepdims=True)
    return (z - lo) / np.maximum(z.max(axis=axes, keepdims=True) - lo, _EPS)


def _standardize(x: np.ndarray, config: FrontEndConfig) -> np.ndarray:
    """Per-bin standardization with the training set's mean / std (float64)."""
    config.require_stats()
    s = config.stats
    assert s is not None
    return (x - np.asarray(s.mean)[:, None]) / np.maximum(np.asarray(s.std)[:, None], _EPS)


def window_level(logmel: np.ndarray, config: FrontEndConfig) -> np.ndarray:
    """ℓ of ``"window_level"``: sigmoid of the window's mean standardized log feature, in (0, 1),
    shape (…, 1, 1) to broadcast over the window. Input already clamped to the dynamic range."""
    m = _standardize(np.asarray(logmel, dtype=np.float64), config).mean(axis=(-2, -1), keepdims=True)
    return 1.0 / (1.0 + np.exp(-np.clip(m, -50.0, 50.0)))  # clipped: no overflow on degenerate statistics


def db_per_ln(power: float = 2.0) -> float:
    """dB per natural-log unit of a feature: 10/ln 10 for power (``power`` 2), 20/ln 10 for magnitude."""
    return 20.0 / (power * math.log(10.0))


def window_level_stats_db(logmel: np.ndarray, power: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
    """(level, level spread) of a window of *raw* log features (n_features, T) or a batch
    (B, n_features, T), dB re the front-end's unit; each of shape (), or (B,).

    level: 10·log10 of the window's mean (mel) power (``power`` 2; for magnitude features,
    ``power`` 1, 20·log10 of the mean magnitude) — what the per-window normalization removes.
    spread: the standard deviation over frames of each frame's level — one talker in a quiet
    room pauses between syllables and words (≈ 5–17 dB on the built-in scenes), a crowd does not
    (≈ 2–4 dB); independent of the input's gain."""
    x = np.asarray(logmel, dtype=np.float64)
    m = x.max(axis=-2, keepdims=True)
    frame = m[..., 0, :] + np.log(np.exp(x - m).mean(axis=-2))  # ln of each frame's mean power (log-mean-exp)
    top = frame.max(axis=-1, keepdims=True)
    level = top[..., 0] + np.log(np.exp(frame - top).mean(axis=-1))  # frames have equal bins: mean of frame means
    scale = db_per_ln(power)
    return level * scale, frame.std(axis=-1) * scale


def window_level_db(logmel: np.ndarray, power: float = 2.0) -> np.ndarray:
    """The level of :func:`window_level_stats_db`."""
    return window_level_stats_db(logmel, power)[0]


def window_level_spread_db(logmel: np.ndarray, power: float = 2.0) -> np.ndarray:
    """The level spread of :func:`window_level_stats_db`."""
    return window_level_stats_db(logmel, power)[1]


def clamp_dynamic_range(logmel: np.ndarray, config: FrontEndConfig) -> np.ndarray:
    """Raise bins more than ``config.dynamic_range_db`` below the window's maximum to that floor."""
    x = np.asarray(logmel, dtype=np.float64)
    if config.dynamic_range_db is None or not x.size:
        return x
    # natural-log units: power features (power=2) → dB/10·ln10, magnitude (power=1) → dB/20·ln10
    span = config.dynamic_range_db * np.log(10.0) * config.power / 20.0
    return np.maximum(x, x.max(axis=(-2, -1), keepdims=True) - span)


def fit_global_stats(logmels: Iterable[np.ndarray], config: FrontEndConfig | None = None) -> NormStats:
    """Per-bin mean / std and the global min / max of the standardized values over training features.

    ``logmels``: raw log features, each one window (n_features, T). With ``config`` the windows
    are first clamped to its dynamic range, exactly as :func:`normalize_window` will do.
    Float64 accumulation.
    """
    items = [np.asarray(m, dtype=np.float64) for m in logmels]
    if config is not None:
        items = [clamp_dynamic_range(m, config) for m in items]
    if not items:
        raise FrontEndError("cannot compute global statistics from an empty training set")
    n = sum(m.shape[1] for m in items)
    if n == 0:
        raise FrontEndError("cannot compute global statistics: the training clips have no frames")
    s1 = sum(m.sum(axis=1) for m in items)
    mean = s1 / n
    s2 = sum(((m - mean[:, None]) ** 2).sum(axis=1) for m in items)
    std = np.sqrt(s2 / n)
    stdf = np.maximum(std, 1e-8)
    lo = min(float(((m - mean[:, None]) / stdf[:, None]).min()) for m in items if m.shape[1])
    hi = max(float(((m - mean[:, None]) / stdf[:, None]).max()) for m in items if m.shape[1])
    return NormStats(tuple(mean.tolist()), tuple(std.tolist()), lo, hi)


# --------------------------------------------------------------------------- streaming form
class StreamingFrontEnd:
    """Incremental framing: feed any number of samples, get the new complete frames.

    State: the last ``n_fft - hop`` (or fewer) samples not yet consumed by a frame, in a
    preallocated buffer. ``process`` returns raw log frames (n_features, k) — identical to the
    batch form's frames for the same stream, whatever the chunking.
    """

    def __init__(self, frontend: FrontEnd) -> None:
        self.frontend = frontend
        c = frontend.config
        self._n_fft = c.n_fft
        self._hop = c.hop_length
        # pending samples: never more than n_fft - 1 are kept between calls
        self._pending = np.zeros(c.n_fft, dtype=np.float64)
        self._n_pending = 0
        self.frames_emitted = 0

    def reset(self) -> None:
        self._pending[:] = 0.0
        self._n_pending = 0
        self.frames_emitted = 0

    def process(self, samples: np.ndarray) -> np.ndarray:
        """Append mono samples (already at the config's sample rate); return new frames (n_features, k)."""
        x = np.asarray(samples, dtype=np.float64).reshape(-1)
        c = self.frontend.config
        total = self._n_pending + len(x)
        k = 0 if total < self._n_fft else 1 + (total - self._n_fft) // self._hop
        if k == 0:
            self._pending[self._n_pending : total] = x
            self._n_pending = total
            return np.zeros((c.n_features, 0), dtype=np.float32)
        buf = np.concatenate([self._pending[: self._n_pending], x])
        frames = np.lib.stride_tricks.sliding_window_view(buf, self._n_fft)[:: self._hop][:k]
        out = self.frontend._frames_to_features(frames).astype(np.float32)
        consumed = k * self._hop
        rest = buf[consumed:]
        self._pending[: len(rest)] = rest
        self._n_pending = len(rest)
        self.frames_emitted += k
        return out
