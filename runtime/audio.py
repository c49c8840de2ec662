"""Audio input: read any file soundfile reads, validate, mix to mono, resample properly.

- Integer PCM (int16, int32, uint8) and float32/float64 arrays are accepted and scaled to
  float32 in [-1, 1].
- Multichannel audio is mixed to mono by averaging channels. Arrays are (frames,) or
  (frames, channels), soundfile's and sounddevice's convention.
- NaN / Inf are rejected with an error that names the source (the file, or "input").
- Resampling is polyphase FIR (``scipy.signal.resample_poly``, Kaiser window), never
  slicing. :class:`StreamResampler` is its stateful, chunk-size invariant streaming twin for
  the runtime (same filter; outputs equal ``resample_poly``'s once its look-ahead is filled).
"""

from __future__ import annotations

import os
import re
import warnings
from math import gcd
from pathlib import Path
from typing import Any

import numpy as np
from scipy import signal

from .errors import CatuvacError, CatuvacWarning

__all__ = ["AudioError", "load_audio", "to_mono_float", "resample", "StreamResampler", "audio_info", "probe_audio"]


class AudioError(CatuvacError, ValueError):
    """Audio that cannot be used; the message names the source and says what to do."""


def to_mono_float(x: np.ndarray, name: str = "input") -> np.ndarray:
    """Validate an audio array and return float32 mono.

    ``x``: (frames,) or (frames, channels); int16/int32/uint8/float32/float64.
    """
    a = np.asarray(x)
    if a.dtype == np.int16:
        f = a.astype(np.float32) / 32768.0
    elif a.dtype == np.int32:
        f = (a.astype(np.float64) / 2147483648.0).astype(np.float32)
    elif a.dtype == np.uint8:
        f = (a.astype(np.float32) - 128.0) / 128.0
    elif a.dtype in (np.float32, np.float64):
        f = a
    else:
        raise AudioError(
            f"{name}: unsupported sample type {a.dtype}; pass int16, int32, uint8, float32 or float64 samples"
        )
    if f.ndim == 2:
        if f.shape[1] == 0:
            raise AudioError(f"{name}: audio has zero channels")
        if f.shape[1] > 1:
            mono = f.mean(axis=1)
            _note_antiphase(f, mono, name)
            f = mono
        else:
            f = f[:, 0]
    elif f.ndim != 1:
        raise AudioError(
            f"{name}: expected audio shaped (frames,) or (frames, channels), got shape {a.shape}"
        )
    if not np.all(np.isfinite(f)):
        bad = int(np.count_nonzero(~np.isfinite(f)))
        raise AudioError(
            f"{name}: contains {bad} NaN/Inf sample(s); the recording is corrupt or was produced "
            "by a failed computation — fix or drop it"
        )
    return np.ascontiguousarray(f, dtype=np.float32)


def _note_antiphase(multi: np.ndarray, mono: np.ndarray, name: str) -> None:
    """Warn (once per source) when the channels cancel in the mix: a stereo pair in antiphase."""
    if multi.shape[0] == 0:
        return
    ch = float(np.mean(np.square(multi, dtype=np.float64)))
    if ch > 1e-10 and float(np.mean(np.square(mono, dtype=np.float64))) < 1e-3 * ch:
        warnings.warn(f"{name}: the channels cancel when mixed to mono (a pair in antiphase?); the scene is judged "
                      "on what is left — pass one channel instead", CatuvacWarning, stacklevel=3)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling of a mono float signal (anti-aliased; never slicing)."""
    if sr_in <= 0 or sr_out <= 0:
        raise AudioError(f"sample rates must be positive, got {sr_in} → {sr_out}")
    if sr_in == sr_out:
        return np.asarray(x, dtype=np.float32)
    g = gcd(int(sr_in), int(sr_out))
    up, down = int(sr_out) // g, int(sr_in) // g
    return signal.resample_poly(np.asarray(x, dtype=np.float64), up, down).astype(np.float32)


def probe_audio(path: str | os.PathLike) -> Any:
    """soundfile's info of an audio file, checked: exists, is a file, readable, not empty.

    A WAV whose header promises more data than the file holds (a copy cut short) is used as
    far as it goes, with a :class:`~catuvac.runtime.errors.CatuvacWarning` saying so.
    """
    import soundfile as sf

    p = Path(path)
    if not p.exists():
        raise AudioError(f"{p}: file not found")
    if p.is_dir():
        raise AudioError(f"{p}: is a directory, not an audio file")
    try:
        info = sf.info(str(p))
    except Exception as e:  # soundfile raises LibsndfileError / RuntimeError / TypeError
        raise AudioError(
            f"{p}: cannot read audio ({type(e).__name__}: {e}); the file is corrupt or not in a "
            "format libsndfile reads (WAV, FLAC, OGG, MP3…)"
        ) from e
    if info.frames == 0:
        raise AudioError(f"{p}: the file contains no samples")
    m = re.search(r"^data\s*:\s*(\d+) \(should be (\d+)\)", getattr(info, "extra_info", "") or "", re.M)
    if m and int(m.group(2)) < int(m.group(1)):
        warnings.warn(
            f"{p}: truncated: its header promises {int(m.group(1))} data bytes, the file holds {int(m.group(2))}; "
            f"using the {info.frames / max(info.samplerate, 1):.2f} s that are there",
            CatuvacWarning,
            stacklevel=2,
        )
    return info


def audio_info(path: str | os.PathLike) -> tuple[int, int, float]:
    """(sample_rate, channels, seconds) of an audio file, with the same errors as :func:`load_audio`."""
    info = probe_audio(path)
    return info.samplerate, info.channels, info.frames / max(info.samplerate, 1)


def load_audio(path: str | os.PathLike, sample_rate: int | None = 16000) -> np.ndarray:
    """Read an audio file as float32 mono at ``sample_rate`` (``None`` keeps the file's rate).

    Raises :class:`AudioError` naming the file for a missing, unreadable, empty or NaN/Inf file.
    """
    import soundfile as sf

    p = Path(path)
    probe_audio(p)
    try:
        data, sr = sf.read(str(p), dtype="float32", always_2d=True)
    except Exception as e:
        raise AudioError(
            f"{p}: cannot read audio ({type(e).__name__}: {e}); the file is corrupt or not in a "
            "format libsndfile reads (WAV, FLAC, OGG, MP3…)"
        ) from e
    if data.shape[0] == 0:
        raise AudioError(f"{p}: the file contains no samples")
    mono = to_mono_float(data, name=str(p))
    if sample_rate is not None and sr != sample_rate:
        mono = resample(mono, sr, sample_rate)
    return mono


class StreamResampler:
    """Stateful polyphase resampler: feed chunks of any size, get the resampled stream.

    Uses the same anti-aliasing filter as ``scipy.signal.resample_poly`` (Kaiser β=5,
    ``10·max(up, down)`` half-length) and the same delay compensation, so its output equals
    ``resample_poly`` of the whole signal except for the last few samples, which it holds
    until the look-ahead they need has arrived. Output does not depend on the chunking.
    """

    #: Output samples computed per step: the index arrays hold BLOCK × n_taps entries (≈ 10 MB at
    #: 44.1 → 16 kHz), so one chunk of ten minutes needs no more memory than one of ten ms.
    BLOCK = 2048

    def __init__(self, sr_in: int, sr_out: int) -> None:
        if sr_in <= 0 or sr_out <= 0:
            raise AudioError(f"sample rates must be positive, got {sr_in} → {sr_out}")
        g = gcd(int(sr_in), int(sr_out))
        self.sr_in, self.sr_out = int(sr_in), int(sr_out)
        self.up, self.down = int(sr_out) // g, int(sr_in) // g
        if self.up == self.down:  # same rate: pass-through, no filter
            self.half_len, self.n_taps = 0, 1
            self._hp = np.ones((1, 1))
            self._hist = np.zeros(0)
            self.reset()
            return
        max_rate = max(self.up, self.down)
        half_len = 10 * max_rate
        h = signal.firwin(2 * half_len + 1, 1.0 / max_rate, window=("kaiser", 5.0)) * self.up
        self.half_len = half_len
        # polyphase split: phase p uses taps h[p], h[p+up], …
        self.n_taps = -(-len(h) // self.up)
        hp = np.zeros((self.up, self.n_taps))
        for p in range(self.up):
            taps = h[p :: self.up]
            hp[p, : len(taps)] = taps
        self._hp = hp
        # history of the last n_taps-1 inputs (zeros before the stream starts)
        self._hist = np.zeros(self.n_taps - 1)
        self.reset()

    def reset(self) -> None:
        self._hist[:] = 0.0
        self._n_in = 0  # inputs received so far
        self._m = 0  # next output index

    def process(self, x: np.ndarray) -> np.ndarray:
        """Append mono float samples at ``sr_in``; return the newly available samples at ``sr_out``."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        if self.up == self.down:
            return x.astype(np.float32)
        n_in = self._n_in + len(x)
        # output m needs inputs up to floor((m·down + half_len) / up)
        # largest m with (m·down + half_len)//up ≤ n_in − 1
        m_end = ((n_in - 1) * self.up + self.up - 1 - self.half_len) // self.down + 1 if n_in else 0
        m_end = max(m_end, self._m)
        ms = np.arange(self._m, m_end)
        buf = np.concatenate([self._hist, x])  # buf[i] = input index (self._n_in - len(hist) + i)
        base = self._n_in - len(self._hist)
        y = np.empty(len(ms))
        taps = np.arange(self.n_taps)[None, :]
        for i in range(0, len(ms), self.BLOCK):  # bounded memory: BLOCK × n_taps, whatever the chunk size
            mb = ms[i : i + self.BLOCK]
            j0 = mb * self.down + self.half_len
            idx = (j0 // self.up - base)[:, None] - taps
            vals = np.where(idx >= 0, buf[np.clip(idx, 0, None)], 0.0)
            y[i : i + self.BLOCK] = (self._hp[j0 % self.up] * vals).sum(axis=1)
        keep = self.n_taps - 1
        self._hist = buf[-keep:] if keep else buf[:0]
        if len(self._hist) < keep:
            self._hist = np.concatenate([np.zeros(keep - len(self._hist)), self._hist])
        self._n_in = n_in
        self._m = m_end
        return y.astype(np.float32)
