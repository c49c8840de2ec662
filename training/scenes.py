"""Built-in synthetic acoustic-scene corpus (``catuvac-scenes``, ``--data builtin:scenes``).

Seven scene classes that a hearing aid would switch programs for are synthesised from small
parametric generators (numpy + scipy.signal only: this module never imports torch, so the
runtime demos can use it too):

==================  =====================================================================
``quiet_room``      very low pink-noise floor, faint mains hum, optional ventilation, rare
                    soft events (door click, footstep, tick)
``speech_quiet``    one talker (formant-filtered glottal pulse train, pitch contour, syllabic
                    3–5 Hz rhythm, pauses, fricatives) in a quiet, slightly reverberant room
``babble``          6–10 talkers + cutlery clatter + a little reverb (restaurant)
``street_traffic``  brown/pink rumble + passing vehicles (band-limited noise swells with a
                    Doppler-like spectral shift and engine tones) + occasional horn
``in_vehicle``      engine harmonic series (25–60 Hz fundamental) + strong low-pass road noise
``music``           chords of harmonic tones with ADSR envelopes on a beat, bass, melody,
                    percussion (kick, snare, hi-hat)
``wind``            intense gusty low-frequency noise (mostly < 500 Hz) with turbulence bursts
==================  =====================================================================

Every draw (level ±10 dB, spectral tilt, talker count, pitch, tempo, …) comes from a
``numpy.random.Generator``; the corpus seeds one generator per clip from ``(seed, class,
index)``, so a clip never depends on another and the same seed gives bit-identical files.
Classes overlap on purpose (speech with a low background scene, a distant talker in the
street, a radio in the car, music in the restaurant), yet remain separable by their 4-s
log-mel statistics.

Files are 32-bit float WAV (``subtype="FLOAT"``), 16 kHz mono: float keeps the very quiet
``quiet_room`` floor (down to ≈ −65 dBFS RMS) free of 16-bit quantisation noise and
round-trips bit-exactly. Each clip's RMS is set to its class level (dBFS, relative to full
scale 1.0) plus a random offset; the peak is then guarded to ≤ 0.9 by scaling (never clipping).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import scipy.fft
import scipy.io.wavfile
import scipy.ndimage
import scipy.signal
import soundfile as sf

from catuvac.runtime.errors import CatuvacError
from catuvac.runtime.fileio import atomic_savefig, atomic_write, atomic_write_text, cache_root

from .scenes_layout import DAYS_DIR, DEFAULT_CLIP_SECONDS, DEFAULT_CLIPS_PER_CLASS

__all__ = [
    "SCENE_CLASSES",
    "GENERATOR_VERSION",
    "DEFAULT_SAMPLE_RATE",
    "WAV_SUBTYPE",
    "PEAK_LIMIT",
    "synthesize_scene",
    "synthesize_day",
    "generate_corpus",
    "builtin_scenes_dir",
    "default_cache_root",
    "corpus_is_complete",
    "load_timeline",
    "plot_scene_grid",
    "ScenesError",
    "DAYS_DIR",
    "day_files",
]

class ScenesError(CatuvacError, ValueError):
    """Generator settings or an output folder that cannot be used; the message says what to do."""


def day_files(corpus: str | os.PathLike, name: str = "day") -> tuple[Path, Path]:
    """(``NAME.wav``, ``NAME.json``) of a corpus's test recording: in ``DIR/days/``, or at the top
    of a plain folder that holds them there (a folder made by hand, or by an older version)."""
    d = Path(corpus)
    for folder in (d / DAYS_DIR, d):
        if (folder / f"{name}.wav").is_file():
            return folder / f"{name}.wav", folder / f"{name}.json"
    return d / DAYS_DIR / f"{name}.wav", d / DAYS_DIR / f"{name}.json"


# Bump whenever a generator changes its output: it is part of the cache folder name, so a
# stale cached corpus is never reused.
GENERATOR_VERSION = "v1"

SCENE_CLASSES: tuple[str, ...] = (
    "quiet_room",
    "speech_quiet",
    "babble",
    "street_traffic",
    "in_vehicle",
    "music",
    "wind",
)

# 16 kHz mono: the lower end of hearing-aid sample rates and the front-end default.
DEFAULT_SAMPLE_RATE = 16000
# Float WAV: exact round trip and no quantisation of the −65 dBFS quiet-room floor.
WAV_SUBTYPE = "FLOAT"
# Peak guard: leaves 0.9 dB of headroom for later resampling / filtering overshoot.
PEAK_LIMIT = 0.9
# Marker written first into a corpus folder: a folder holding it may be rewritten by the generator.
_MARKER = ".catuvac-scenes"

# Nominal RMS level of each class in dBFS (re full scale 1.0), roughly the ordering of real
# sound pressure levels (quiet room ≈ 30 dB SPL … wind on a microphone ≈ 80+ dB SPL).
_CLASS_LEVEL_DBFS: dict[str, float] = {
    "quiet_room": -55.0,
    "speech_quiet": -28.0,
    "babble": -26.0,
    "street_traffic": -24.0,
    "in_vehicle": -23.0,
    "music": -24.0,
    "wind": -24.0,
}
# Within-class level variation (uniform ± this many dB): recordings of one scene differ in level.
LEVEL_JITTER_DB = 10.0

# Day recording: segment durations and cross-fade lengths (s).
_DAY_SEGMENT_RANGE_S = (20.0, 45.0)  # long enough for a runtime to settle (≥ 4-s window + dwell)
_DAY_CROSSFADE_RANGE_S = (1.0, 2.0)  # real transitions (walking out of a door) take a second or two
# Canonical first pass through the day: home → conversation → street → car → restaurant →
# concert → outdoors; afterwards segments are drawn at random (never the same twice in a row).
_DAY_ORDER: tuple[str, ...] = (
    "quiet_room",
    "speech_quiet",
    "street_traffic",
    "in_vehicle",
    "babble",
    "music",
    "wind",
)

# STFT used by the spectral-domain generators (speech, passing vehicles): 32 ms / 8 ms at 16 kHz.
_NPERSEG = 512
_HOP = 128

# Stream tags for seeding: clips and the day draw from disjoint seed sequences.
_STREAM_CLIP = 0
_STREAM_DAY = 1

_EPS = 1e-12


# --------------------------------------------------------------------------------------------
# small DSP helpers
# --------------------------------------------------------------------------------------------
def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x)) + _EPS))


def _unit(x: np.ndarray) -> np.ndarray:
    return x / _rms(x)


def _db(gain_db: float) -> float:
    return 10.0 ** (gain_db / 20.0)


def _colored_noise(n: int, rng: np.random.Generator, exponent: float, sr: int) -> np.ndarray:
    """Unit-RMS Gaussian noise with power spectral density ∝ f**-exponent (0 white, 1 pink, 2 brown)."""
    m = scipy.fft.next_fast_len(max(n, 16), real=True)
    k = m // 2 + 1
    spec = rng.standard_normal(k) + 1j * rng.standard_normal(k)
    f = np.fft.rfftfreq(m, 1.0 / sr)
    f[0] = f[1]
    spec *= f ** (-exponent / 2.0)
    spec[0] = 0.0
    return _unit(scipy.fft.irfft(spec, m)[:n])


def _sos(kind: str, fc: float | Sequence[float], sr: int, order: int = 4) -> np.ndarray:
    nyq = 0.5 * sr
    if np.ndim(fc) == 0:
        wn: float | list[float] = float(np.clip(fc, 10.0, 0.45 * sr)) / nyq
    else:
        lo, hi = fc  # type: ignore[misc]
        hi = min(float(hi), 0.45 * sr)
        lo = min(float(lo), 0.8 * hi)
        wn = [lo / nyq, hi / nyq]
    return scipy.signal.butter(order, wn, btype=kind, output="sos")


def _filt(x: np.ndarray, kind: str, fc: float | Sequence[float], sr: int, order: int = 4) -> np.ndarray:
    return scipy.signal.sosfilt(_sos(kind, fc, sr, order), x, axis=-1)


def _smooth_random(n: int, rng: np.random.Generator, rate_hz: float, sr: int) -> np.ndarray:
    """A slow zero-mean, ~unit-variance random process: random knots every 1/rate_hz s, cosine-interpolated."""
    n_knots = int(math.ceil(n / sr * rate_hz)) + 3
    knots = rng.standard_normal(n_knots)
    pos = np.arange(n) * (rate_hz / sr) + rng.uniform(0.0, 1.0)
    i = pos.astype(np.int64)
    w = 0.5 - 0.5 * np.cos(np.pi * (pos - i))
    return knots[i] * (1.0 - w) + knots[i + 1] * w


def _reverb(x: np.ndarray, rng: np.random.Generator, sr: int, rt60: float, wet: float) -> np.ndarray:
    """Mix in an exponentially decaying noise impulse response (a cheap diffuse room)."""
    L = max(int(min(rt60, 1.2) * sr), 16)
    t = np.arange(L) / sr
    ir = rng.standard_normal(L) * np.exp(-6.9 * t / rt60)
    ir = _filt(ir, "lowpass", 5000.0, sr, 2)  # walls absorb the highs first
    ir /= np.sqrt(np.sum(ir**2)) + _EPS
    w = scipy.signal.oaconvolve(x, ir)[: len(x)]
    return np.sqrt(1.0 - wet) * x + np.sqrt(wet) * w


def _place(out: np.ndarray, start: int, event: np.ndarray) -> None:
    """Add ``event`` into ``out`` at sample ``start`` (truncated at both ends)."""
    n = len(out)
    if start >= n or start + len(event) <= 0:
        return
    a = max(start, 0)
    b = min(start + len(event), n)
    out[a:b] += event[a - start : b - start]


def _poisson_times(rng: np.random.Generator, rate_hz: float, seconds: float) -> np.ndarray:
    k = int(rng.poisson(rate_hz * seconds))
    return np.sort(rng.uniform(0.0, seconds, size=k))


def _mix(target: np.ndarray, other: np.ndarray, rel_db: float) -> np.ndarray:
    """``target`` plus ``other`` scaled to ``rel_db`` relative to ``target``'s RMS."""
    return target + other * (_rms(target) / _rms(other) * _db(rel_db))


def _adsr(n: int, sr: int, a: float, d: float, s: float, r: float) -> np.ndarray:
    """Attack–decay–sustain–release envelope of n samples (release inside the n samples)."""
    t = np.arange(n) / sr
    dur = n / sr
    r = min(r, 0.5 * dur)
    env = np.where(t < a, t / max(a, 1e-4), s + (1.0 - s) * np.exp(-(t - a) / max(d, 1e-4)))
    rel_start = dur - r
    env = np.where(t > rel_start, env * np.clip((dur - t) / max(r, 1e-4), 0.0, 1.0), env)
    return env


# --------------------------------------------------------------------------------------------
# speech
# --------------------------------------------------------------------------------------------
# Vowel formant targets F1–F3 (Hz), Peterson & Barney (1952) adult-male averages.
_VOWELS = np.array(
    [
        [270, 2290, 3010],  # i
        [390, 1990, 2550],  # ɪ
        [530, 1840, 2480],  # ɛ
        [660, 1720, 2410],  # æ
        [730, 1090, 2440],  # ɑ
        [570, 840, 2410],  # ɔ
        [440, 1020, 2240],  # ʊ
        [300, 870, 2240],  # u
        [640, 1190, 2390],  # ʌ
        [490, 1350, 1690],  # ɝ
    ],
    dtype=np.float64,
)
_FORMANT_BW = np.array([90.0, 110.0, 170.0])
_FORMANT_GAIN = np.array([1.0, 0.5, 0.25])


def _speech(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """One talker: unit-RMS speech-like signal of n samples.

    A glottal pulse train with a wandering pitch contour is shaped, frame by frame in the STFT
    domain, by the formant envelope of a vowel per syllable (smoothed transitions); syllables
    (3–5 per second) have a rise–fall envelope, many start with a fricative noise burst, and
    phrases of 3–12 syllables are separated by pauses.
    """
    seconds = n / sr
    female = rng.random() < 0.5
    f0_base = rng.uniform(165.0, 245.0) if female else rng.uniform(85.0, 145.0)
    fscale = rng.uniform(1.10, 1.22) if female else rng.uniform(0.93, 1.05)
    rate = rng.uniform(3.0, 5.0)  # syllables per second
    n_frames = n // _HOP + 1
    frame_t = np.arange(n_frames) * _HOP / sr

    # ---- syllable / pause timeline on the frame grid -----------------------------------
    amp_v = np.zeros(n_frames)
    amp_f = np.zeros(n_frames)
    formants = np.empty((n_frames, 3))
    formants[:] = _VOWELS[8] * fscale  # neutral vowel during pauses
    fric_fc = np.full(n_frames, 4000.0)
    t = -rng.uniform(0.0, 1.5)  # start mid-phrase or after a pause
    while t < seconds:
        n_syll = int(rng.integers(3, 13))
        for _ in range(n_syll):
            dur = rng.uniform(0.6, 1.4) / rate
            stress = rng.uniform(0.45, 1.0)
            i0 = int(np.searchsorted(frame_t, t))
            i2 = int(np.searchsorted(frame_t, t + dur))
            if i2 > i0 and i0 < n_frames:
                i1 = i0
                if rng.random() < 0.6:  # consonant onset: fricative / burst noise
                    cdur = rng.uniform(0.03, 0.10)
                    i1 = min(int(np.searchsorted(frame_t, t + cdur)), i2 - 1)
                    amp_f[i0:i1] = stress * rng.uniform(0.2, 0.6)
                    fric_fc[i0:i1] = rng.uniform(2500.0, 6500.0)
                m = i2 - i1
                if m > 0:
                    shape = np.sin(np.pi * (np.arange(m) + 0.5) / m) ** 0.7
                    amp_v[i1:i2] = stress * shape
                    formants[i1:i2] = _VOWELS[rng.integers(len(_VOWELS))] * fscale * rng.uniform(0.95, 1.05, 3)
            t += dur
        t += rng.uniform(0.15, 0.9)  # pause between phrases
    # smooth formant transitions (~40 ms) and envelopes (~16 ms)
    formants = scipy.ndimage.uniform_filter1d(formants, 5, axis=0, mode="nearest")
    amp_v = scipy.ndimage.uniform_filter1d(amp_v, 2, mode="nearest")
    amp_f = scipy.ndimage.uniform_filter1d(amp_f, 2, mode="nearest")

    # ---- excitation: glottal pulses with a pitch contour ------------------------------------
    semis = 2.0 * _smooth_random(n, rng, 0.7, sr) + 0.7 * _smooth_random(n, rng, 4.0, sr)
    f0 = f0_base * 2.0 ** (np.clip(semis, -6.0, 6.0) / 12.0)
    phase = np.cumsum(f0) / sr
    pulses = np.diff(np.floor(phase), prepend=0.0)
    pulses[0] = 0.0
    # glottal pulse shape (double pole ≈ −12 dB/oct) × lip radiation (+6 dB/oct)
    glottal = scipy.signal.lfilter([1.0, -1.0], [1.0, -2 * 0.97, 0.97**2], pulses)
    glottal += 0.02 * rng.standard_normal(n) * _rms(glottal)  # aspiration
    noise = rng.standard_normal(n)

    # ---- time-varying spectral shaping in the STFT domain -----------------------------------
    kw = dict(fs=sr, nperseg=_NPERSEG, noverlap=_NPERSEG - _HOP, boundary="zeros", padded=True)
    _, _, zv = scipy.signal.stft(glottal, **kw)
    _, _, zn = scipy.signal.stft(noise, **kw)
    k = min(zv.shape[1], n_frames)
    freqs = np.fft.rfftfreq(_NPERSEG, 1.0 / sr)[:, None]
    env_v = np.full((len(freqs), k), 0.01)
    for j in range(3):
        fj = formants[:k, j][None, :]
        env_v += _FORMANT_GAIN[j] / (1.0 + ((freqs - fj) / (0.5 * _FORMANT_BW[j])) ** 2)
    env_f = 1.0 / (1.0 + ((freqs - fric_fc[None, :k]) / 1500.0) ** 2)
    # voiced energy per frame ∝ 1 / (pitch period) — normalise so loudness follows amp_v only
    zv_scale = _rms(glottal) + _EPS
    z = zv[:, :k] * env_v * (amp_v[None, :k] / zv_scale) + 0.35 * zn[:, :k] * env_f * amp_f[None, :k]
    _, y = scipy.signal.istft(z, fs=sr, nperseg=_NPERSEG, noverlap=_NPERSEG - _HOP, boundary=True)
    y = y[:n]
    if len(y) < n:
        y = np.pad(y, (0, n - len(y)))
    y = _filt(y, "highpass", 70.0, sr, 2)
    return _unit(y)


def _talkers(n: int, sr: int, rng: np.random.Generator, count: int) -> np.ndarray:
    out = np.zeros(n)
    for _ in range(count):
        out += _speech(n, sr, rng) * _db(rng.uniform(-8.0, 0.0))
    return _unit(out)


# --------------------------------------------------------------------------------------------
# scene generators: each returns an (un-levelled) float64 signal of n samples
# --------------------------------------------------------------------------------------------
def _gen_quiet_room(n: int, sr: int, rng: np.random.Generator, overlap: bool) -> np.ndarray:
    seconds = n / sr
    floor = _colored_noise(n, rng, rng.uniform(0.8, 1.4), sr)
    floor = _filt(floor, "lowpass", rng.uniform(3000.0, 7000.0), sr, 2)
    if rng.random() < 0.4:  # ventilation / fridge: low broadband hiss
        vent = _filt(_colored_noise(n, rng, 0.5, sr), "bandpass", (80.0, rng.uniform(600.0, 1500.0)), sr, 2)
        floor = _mix(floor, vent, rng.uniform(-6.0, 3.0))
    # mains hum (50 or 60 Hz) with a few odd/even harmonics
    mains = 50.0 if rng.random() < 0.5 else 60.0
    tt = np.arange(n) / sr
    hum = sum(
        rng.uniform(0.2, 1.0) / h * np.sin(2 * np.pi * mains * h * tt + rng.uniform(0, 2 * np.pi))
        for h in (1, 2, 3, 5)
    )
    out = _mix(floor, hum, rng.uniform(-14.0, -4.0))
    base = _rms(out)
    # rare soft events: door click, footstep thump, clock tick
    for te in _poisson_times(rng, rng.uniform(0.05, 0.3), seconds):
        kind = rng.integers(3)
        if kind == 0:  # click
            L = int(rng.uniform(0.01, 0.04) * sr)
            ev = _filt(rng.standard_normal(L), "bandpass", (800.0, 5000.0), sr, 2) * np.exp(-np.arange(L) / (0.004 * sr))
        elif kind == 1:  # footstep / thump
            L = int(rng.uniform(0.08, 0.2) * sr)
            tl = np.arange(L) / sr
            ev = np.sin(2 * np.pi * rng.uniform(60.0, 140.0) * tl) * np.exp(-tl / 0.03)
            ev += 0.3 * _filt(rng.standard_normal(L), "lowpass", 600.0, sr, 2) * np.exp(-tl / 0.02)
        else:  # tick
            L = int(0.005 * sr)
            ev = rng.standard_normal(L) * np.hanning(L)
        ev = ev / (np.max(np.abs(ev)) + _EPS) * base * _db(rng.uniform(6.0, 18.0))
        _place(out, int(te * sr), ev)
    if overlap and rng.random() < 0.15:  # faint conversation next door
        far = _filt(_speech(n, sr, rng), "lowpass", 1200.0, sr, 2)
        out = _mix(out, far, rng.uniform(-12.0, -4.0))
    return out


def _gen_speech_quiet(n: int, sr: int, rng: np.random.Generator, overlap: bool) -> np.ndarray:
    sp = _speech(n, sr, rng)
    sp = _reverb(sp, rng, sr, rng.uniform(0.2, 0.6), rng.uniform(0.05, 0.3))
    room = _gen_quiet_room(n, sr, rng, overlap=False)
    out = _mix(sp, room, rng.uniform(-40.0, -28.0))
    if overlap and rng.random() < 0.3:  # a low background from another scene
        other = str(rng.choice(["street_traffic", "music", "in_vehicle", "babble"]))
        out = _mix(out, _GENERATORS[other](n, sr, rng, False), rng.uniform(-26.0, -16.0))
    return out


def _clatter(n: int, sr: int, rng: np.random.Generator, rate_hz: float) -> np.ndarray:
    """Cutlery / crockery: short damped high-frequency resonances plus a click."""
    out = np.zeros(n)
    for te in _poisson_times(rng, rate_hz, n / sr):
        L = int(rng.uniform(0.02, 0.12) * sr)
        tl = np.arange(L) / sr
        tau = rng.uniform(0.008, 0.04)
        freqs = rng.uniform(2000.0, 6500.0, size=3)
        ev = np.sum(np.sin(2 * np.pi * freqs[:, None] * tl[None, :] + rng.uniform(0, 6.3, (3, 1))), axis=0)
        ev *= np.exp(-tl / tau)
        ev[: int(0.002 * sr)] += rng.standard_normal(int(0.002 * sr)) * 2.0
        _place(out, int(te * sr), ev * rng.uniform(0.2, 1.0))
    return out


def _gen_babble(n: int, sr: int, rng: np.random.Generator, overlap: bool) -> np.ndarray:
    voices = _talkers(n, sr, rng, int(rng.integers(6, 11)))
    voices = _reverb(voices, rng, sr, rng.uniform(0.4, 0.9), rng.uniform(0.2, 0.45))
    out = _mix(voices, _colored_noise(n, rng, 1.0, sr), rng.uniform(-30.0, -20.0))
    clat = _clatter(n, sr, rng, rng.uniform(0.8, 4.0))
    if np.any(clat):
        out = _mix(out, clat, rng.uniform(-16.0, -8.0))
    if overlap and rng.random() < 0.2:  # background music in the restaurant
        out = _mix(out, _gen_music(n, sr, rng, False), rng.uniform(-18.0, -10.0))
    return out


def _gen_street(n: int, sr: int, rng: np.random.Generator, overlap: bool) -> np.ndarray:
    seconds = n / sr
    rumble = _filt(_colored_noise(n, rng, rng.uniform(1.6, 2.2), sr), "highpass", 20.0, sr, 2)
    rumble = _filt(rumble, "lowpass", rng.uniform(250.0, 700.0), sr, 2)
    hiss = _filt(_colored_noise(n, rng, rng.uniform(0.8, 1.3), sr), "lowpass", rng.uniform(2500.0, 5000.0), sr, 2)
    bed = _mix(rumble, hiss, rng.uniform(-12.0, -4.0))

    # passing vehicles: noise shaped by a moving band in the STFT domain
    kw = dict(fs=sr, nperseg=_NPERSEG, noverlap=_NPERSEG - _HOP, boundary="zeros", padded=True)
    _, ft, z = scipy.signal.stft(rng.standard_normal(n), **kw)
    freqs = np.maximum(np.fft.rfftfreq(_NPERSEG, 1.0 / sr), 1.0)[:, None]
    mask = np.zeros(z.shape)
    engines = np.zeros(n)
    rate = rng.uniform(0.25, 0.8)
    times = _poisson_times(rng, rate, seconds + 4.0) - 2.0  # cars may be passing at the edges
    if len(times) == 0:
        times = np.array([rng.uniform(0.0, seconds)])
    for tc in times:
        width = rng.uniform(0.6, 2.5)  # s, pass-by duration
        fc0 = rng.uniform(150.0, 900.0)
        bw = rng.uniform(0.8, 1.6)  # octaves
        amp = _db(rng.uniform(-6.0, 6.0))
        tau = width / 3.0
        j0 = max(int(np.searchsorted(ft, tc - 3 * width)), 0)
        j1 = int(np.searchsorted(ft, tc + 3 * width))
        if j1 <= j0:
            continue
        tt = ft[None, j0:j1]
        fc = fc0 * (1.0 + 0.12 * np.tanh(-(tt - tc) / tau))  # higher approaching, lower receding
        swell = np.exp(-0.5 * ((tt - tc) / (0.5 * width)) ** 2)
        band = np.exp(-0.5 * (np.log2(freqs / fc) / bw) ** 2)
        tyre = 0.25 * (freqs / 1000.0) ** -0.5  # broadband tyre noise
        mask[:, j0:j1] += amp * swell * (band + tyre)
        # engine tone with the same Doppler shift
        s0 = max(int((tc - 3 * width) * sr), 0)
        s1 = min(int((tc + 3 * width) * sr), n)
        if s1 > s0:
            ts = np.arange(s0, s1) / sr
            fe = rng.uniform(30.0, 90.0) * (1.0 + 0.1 * np.tanh(-(ts - tc) / tau))
            ph = 2 * np.pi * np.cumsum(fe) / sr
            tone = sum(np.sin(h * ph) / h for h in range(1, 6))
            engines[s0:s1] += 0.5 * amp * tone * np.exp(-0.5 * ((ts - tc) / (0.5 * width)) ** 2)
    _, cars = scipy.signal.istft(z * mask, fs=sr, nperseg=_NPERSEG, noverlap=_NPERSEG - _HOP, boundary=True)
    cars = cars[:n]
    if len(cars) < n:
        cars = np.pad(cars, (0, n - len(cars)))
    out = _mix(bed, cars + engines * (_rms(cars) / (_rms(engines) + _EPS)) * 0.3, rng.uniform(-2.0, 6.0))

    # occasional horn: two-tone buzzy harmonic complex
    p_horn = 1.0 - math.exp(-0.08 * seconds)  # ~0.27 per 4-s clip
    if rng.random() < p_horn:
        L = int(rng.uniform(0.2, 0.8) * sr)
        horn = _horn_tone(L, sr, rng.uniform(340.0, 480.0))
        horn = horn / _rms(horn) * _rms(out) * _db(rng.uniform(0.0, 8.0))
        _place(out, int(rng.uniform(0.0, max(seconds - L / sr, 0.01)) * sr), horn)
    if overlap and rng.random() < 0.25:  # a distant talker
        far = _filt(_speech(n, sr, rng), "bandpass", (200.0, 2500.0), sr, 2)
        out = _mix(out, far, rng.uniform(-18.0, -9.0))
    return out


def _horn_tone(L: int, sr: int, f1: float) -> np.ndarray:
    """A car horn: two buzzy harmonic complexes a major third apart, with an ADSR envelope."""
    tl = np.arange(L) / sr
    horn = sum(np.sin(2 * np.pi * f1 * h * tl) / h + np.sin(2 * np.pi * 1.26 * f1 * h * tl) / h for h in range(1, 9))
    return horn * _adsr(L, sr, 0.01, 0.2, 0.8, 0.03)


def _gen_in_vehicle(n: int, sr: int, rng: np.random.Generator, overlap: bool) -> np.ndarray:
    # engine: harmonic series of a slowly varying fundamental (RPM); firing order boosts h=2
    f_eng = rng.uniform(25.0, 60.0) * (1.0 + 0.04 * _smooth_random(n, rng, 0.3, sr))
    ph = 2 * np.pi * np.cumsum(f_eng) / sr
    n_h = int(min(1200.0 / float(f_eng.mean()), 40))
    tilt = rng.uniform(0.8, 1.6)
    engine = np.zeros(n)
    for h in range(1, n_h + 1):
        a = h**-tilt * rng.uniform(0.3, 1.0) * (2.5 if h in (2, 4) else 1.0)
        engine += a * np.sin(h * ph + rng.uniform(0.0, 2 * np.pi))
    # road noise: strongly low-passed brown noise with slow level changes (road surface)
    road = _filt(_colored_noise(n, rng, 2.0, sr), "lowpass", rng.uniform(120.0, 350.0), sr, 4)
    road = _filt(road, "highpass", 18.0, sr, 2)
    road *= _db(2.5) ** _smooth_random(n, rng, 0.2, sr)
    tyre = _filt(_colored_noise(n, rng, 1.0, sr), "lowpass", rng.uniform(600.0, 1500.0), sr, 2)
    out = _mix(road, engine, rng.uniform(-10.0, -2.0))
    out = _mix(out, tyre, rng.uniform(-22.0, -14.0))
    if overlap and rng.random() < 0.35:  # the radio
        radio = _filt(_gen_music(n, sr, rng, False), "bandpass", (150.0, 5000.0), sr, 2)
        out = _mix(out, radio, rng.uniform(-22.0, -12.0))
    return out


def _gen_music(n: int, sr: int, rng: np.random.Generator, overlap: bool) -> np.ndarray:
    seconds = n / sr
    bpm = rng.uniform(70.0, 150.0)
    beat = 60.0 / bpm
    root = int(rng.integers(45, 58))  # MIDI
    scale = np.array([0, 2, 4, 5, 7, 9, 11]) if rng.random() < 0.6 else np.array([0, 2, 3, 5, 7, 8, 10])
    brightness = rng.uniform(0.8, 2.0)  # harmonic roll-off exponent (timbre)
    n_harm = int(rng.integers(5, 13))
    a, d, s, r = rng.uniform(0.005, 0.05), rng.uniform(0.05, 0.4), rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.3)
    hk = np.arange(1, n_harm + 1)[:, None]
    hamp = (hk**-brightness) * rng.uniform(0.5, 1.0, (n_harm, 1))

    def note(midi: float, dur: float) -> np.ndarray:
        L = max(int(dur * sr), 32)
        f = 440.0 * 2.0 ** ((midi - 69) / 12.0)
        keep = (hk[:, 0] * f) < 0.45 * sr
        tl = np.arange(L) / sr
        x = np.sum(hamp[keep] * np.sin(2 * np.pi * f * hk[keep] * tl[None, :]), axis=0)
        return x * _adsr(L, sr, a, d, s, r)

    def degree(dg: int) -> int:
        return int(root + 12 * (dg // 7) + scale[dg % 7])

    harmony = np.zeros(n)
    bass = np.zeros(n)
    melody = np.zeros(n)
    drums = np.zeros(n)
    t = -rng.uniform(0.0, 2 * beat)
    progression = [0, 3, 4, 5, 1, 4]
    while t < seconds:
        chord_beats = int(rng.choice([2, 4]))
        dur = chord_beats * beat
        dg = int(rng.choice(progression))
        notes = [dg, dg + 2, dg + 4] + ([dg + 6] if rng.random() < 0.3 else [])
        st = int(t * sr)
        for dd in notes:
            _place(harmony, st, note(degree(dd) + 12, dur))
        _place(bass, st, note(degree(dg) - 12, dur) * 1.5)
        t += dur
    if rng.random() < 0.6:  # melody on eighth notes
        t = 0.0
        dg = int(rng.integers(7, 14))
        while t < seconds:
            dur = beat * float(rng.choice([0.5, 1.0, 1.0, 2.0]))
            dg = int(np.clip(dg + rng.integers(-2, 3), 5, 18))
            if rng.random() < 0.85:
                _place(melody, int(t * sr), note(degree(dg) + 12, dur))
            t += dur
    if rng.random() < 0.8:  # percussion
        n_beats = int(seconds / beat) + 2
        off = rng.uniform(0.0, beat)
        for b in range(n_beats):
            tb = b * beat - off
            if b % 2 == 0:  # kick
                L = int(0.15 * sr)
                tl = np.arange(L) / sr
                fk = 50.0 + 70.0 * np.exp(-tl / 0.03)
                _place(drums, int(tb * sr), np.sin(2 * np.pi * np.cumsum(fk) / sr) * np.exp(-tl / 0.06) * 2.0)
            else:  # snare
                L = int(0.18 * sr)
                tl = np.arange(L) / sr
                sn = _filt(rng.standard_normal(L), "bandpass", (1000.0, 6000.0), sr, 2) * np.exp(-tl / 0.05)
                sn += 0.5 * np.sin(2 * np.pi * 190.0 * tl) * np.exp(-tl / 0.04)
                _place(drums, int(tb * sr), sn * 1.2)
            for half in (0.0, 0.5):  # hi-hat on eighths
                L = int(0.05 * sr)
                tl = np.arange(L) / sr
                hh = _filt(rng.standard_normal(L), "highpass", 6000.0, sr, 2) * np.exp(-tl / 0.012)
                _place(drums, int((tb + half * beat) * sr), hh * 0.6)
    out = _unit(harmony + 1e-9) + _unit(bass + 1e-9) * _db(rng.uniform(-6.0, 0.0))
    if np.any(melody):
        out += _unit(melody) * _db(rng.uniform(-6.0, 0.0))
    if np.any(drums):
        out += _unit(drums) * _db(rng.uniform(-10.0, -2.0)) * _rms(out)
    out = _reverb(out, rng, sr, rng.uniform(0.3, 1.2), rng.uniform(0.1, 0.35))
    if overlap and rng.random() < 0.2:  # audience / a conversation over the music
        out = _mix(out, _talkers(n, sr, rng, int(rng.integers(1, 4))), rng.uniform(-20.0, -10.0))
    return out


def _gen_wind(n: int, sr: int, rng: np.random.Generator, overlap: bool) -> np.ndarray:
    seconds = n / sr
    base = _filt(_colored_noise(n, rng, rng.uniform(1.5, 2.2), sr), "lowpass", rng.uniform(150.0, 450.0), sr, 4)
    base = _filt(base, "highpass", 15.0, sr, 2)
    depth = rng.uniform(0.5, 1.1)  # gust depth (natural-log units)
    gust = np.exp(depth * _smooth_random(n, rng, rng.uniform(0.3, 1.2), sr) + 0.4 * depth * _smooth_random(n, rng, 3.0, sr))
    out = base * gust
    # turbulence bursts: short intense low-passed noise puffs on the microphone
    bursts = np.zeros(n)
    for te in _poisson_times(rng, rng.uniform(0.5, 2.5), seconds):
        L = int(rng.uniform(0.05, 0.35) * sr)
        ev = _filt(rng.standard_normal(L), "lowpass", rng.uniform(250.0, 700.0), sr, 4) * np.hanning(L)
        _place(bursts, int(te * sr), ev * rng.uniform(0.5, 2.0))
    if np.any(bursts):
        out = _mix(out, bursts, rng.uniform(-4.0, 4.0))
    leaves = _filt(_colored_noise(n, rng, 1.0, sr), "highpass", 1500.0, sr, 2) * np.sqrt(gust)
    out = _mix(out, leaves, rng.uniform(-32.0, -22.0))  # a little rustle; energy stays < 500 Hz
    return out


_GENERATORS: dict[str, Callable[[int, int, np.random.Generator, bool], np.ndarray]] = {
    "quiet_room": _gen_quiet_room,
    "speech_quiet": _gen_speech_quiet,
    "babble": _gen_babble,
    "street_traffic": _gen_street,
    "in_vehicle": _gen_in_vehicle,
    "music": _gen_music,
    "wind": _gen_wind,
}
assert tuple(_GENERATORS) == SCENE_CLASSES


# --------------------------------------------------------------------------------------------
# public synthesis API
# --------------------------------------------------------------------------------------------
def _check_label(label: str) -> None:
    if label not in _GENERATORS:
        raise ScenesError(f"unknown scene class {label!r}; choose one of {', '.join(SCENE_CLASSES)}")


def _check_sample_rate(sample_rate: int) -> None:
    if not isinstance(sample_rate, (int, np.integer)) or not 8000 <= int(sample_rate) <= 96000:
        raise ScenesError(f"sample_rate must be an integer in [8000, 96000] Hz, got {sample_rate!r} (the default is 16000)")


def synthesize_scene(
    label: str, seconds: float, rng: np.random.Generator, sample_rate: int = DEFAULT_SAMPLE_RATE
) -> np.ndarray:
    """Synthesise ``seconds`` of scene ``label`` as a float32 mono signal.

    The RMS is set to the class level (:data:`_CLASS_LEVEL_DBFS`) plus a uniform ±10 dB draw,
    then the peak is guarded to ≤ :data:`PEAK_LIMIT` by scaling down (never clipping).
    All randomness comes from ``rng``.
    """
    _check_label(label)
    _check_sample_rate(sample_rate)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    if not (isinstance(seconds, (int, float, np.floating)) and math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"seconds must be a positive finite number, got {seconds!r}")
    sr = int(sample_rate)
    n = max(int(round(seconds * sr)), 1)
    x = _GENERATORS[label](n, sr, rng, True)
    level_db = _CLASS_LEVEL_DBFS[label] + rng.uniform(-LEVEL_JITTER_DB, LEVEL_JITTER_DB)
    x = x * (_db(level_db) / _rms(x))
    peak = float(np.max(np.abs(x)))
    if peak > PEAK_LIMIT:
        x *= PEAK_LIMIT / peak
    if not np.all(np.isfinite(x)):  # pragma: no cover - a generator bug, never expected
        raise FloatingPointError(f"scene generator {label!r} produced non-finite samples")
    return x.astype(np.float32)


@dataclass(frozen=True)
class _Segment:
    label: str
    start: int  # ground-truth boundaries in samples (cross-fade midpoints)
    end: int


def _cap_durations(d: np.ndarray, hi: float) -> np.ndarray:
    """Redistribute anything above ``hi`` over the durations below it (the sum is kept)."""
    for _ in range(len(d)):
        over = d > hi
        if not over.any():
            break
        excess = float(np.sum(d[over] - hi))
        d[over] = hi
        room = np.where(d < hi, hi - d, 0.0)
        d += excess * room / room.sum()
    return d


def _plan_day(seconds: float, rng: np.random.Generator, sr: int) -> list[_Segment]:
    lo, hi = _DAY_SEGMENT_RANGE_S
    k = max(len(SCENE_CLASSES), int(math.ceil(seconds / hi)))
    if k * lo > seconds:
        raise ValueError(
            f"a day of {seconds:.1f} s cannot hold {k} segments of ≥ {lo:.0f} s covering every class; "
            f"use at least {len(SCENE_CLASSES) * lo / 60:.2f} minutes (the day recording lasts ≥ 3 minutes)"
        )
    d = _cap_durations(lo + (seconds - k * lo) * rng.dirichlet(np.full(k, 2.0)), hi)
    labels = list(_DAY_ORDER)
    while len(labels) < k:
        choices = [c for c in SCENE_CLASSES if c != labels[-1]]
        labels.append(str(rng.choice(choices)))
    n_total = int(round(seconds * sr))
    edges = np.round(np.concatenate([[0.0], np.cumsum(d)]) * sr).astype(np.int64)
    edges[-1] = n_total
    return [_Segment(labels[i], int(edges[i]), int(edges[i + 1])) for i in range(k)]


def _render_day(
    plan: list[_Segment],
    seg_rngs: Sequence[np.random.Generator],
    xf_rng: np.random.Generator,
    sr: int,
    on_segment: Callable[[], None] | None = None,
    synth: Callable[[str, int, np.random.Generator], np.ndarray] | None = None,
    crossfade_range_s: tuple[float, float] = _DAY_CROSSFADE_RANGE_S,
    dtype: type = np.float64,
) -> np.ndarray:
    """Render a planned day: each stretch from ``synth(label, n_samples, rng)`` (default
    :func:`synthesize_scene`), equal-power cross-fades centred on the boundaries."""
    n_total = plan[-1].end
    half = [0] + [
        int(round(0.5 * xf_rng.uniform(*crossfade_range_s) * sr)) for _ in range(len(plan) - 1)
    ] + [0]  # half cross-fade length at each boundary (none at the ends)
    out = np.zeros(n_total, dtype=dtype)
    for i, seg in enumerate(plan):
        a = seg.start - half[i]
        b = seg.end + half[i + 1]
        if synth is None:
            x = synthesize_scene(seg.label, (b - a) / sr, seg_rngs[i], sr).astype(np.float64)[: b - a]
        else:
            x = synth(seg.label, b - a, seg_rngs[i]).astype(np.float64)[: b - a]
        if len(x) < b - a:
            x = np.pad(x, (0, b - a - len(x)))
        if half[i]:  # equal-power fade-in centred on the ground-truth boundary
            L = 2 * half[i]
            x[:L] *= np.sin(0.5 * np.pi * (np.arange(L) + 0.5) / L)
        if half[i + 1]:
            L = 2 * half[i + 1]
            x[-L:] *= np.cos(0.5 * np.pi * (np.arange(L) + 0.5) / L)
        out[a:b] += x
        if on_segment is not None:
            on_segment()
    peak = float(np.max(np.abs(out)))
    if peak > PEAK_LIMIT:  # equal-power fades of two loud scenes can add up; scale, never clip
        out *= PEAK_LIMIT / peak
    return out.astype(np.float32)


def _timeline(plan: list[_Segment], sr: int) -> list[dict]:
    return [{"start_s": s.start / sr, "end_s": s.end / sr, "label": s.label} for s in plan]


def synthesize_day(
    seconds: float, rng: np.random.Generator, sample_rate: int = DEFAULT_SAMPLE_RATE
) -> tuple[np.ndarray, list[dict]]:
    """A long recording moving through scene segments of 20–45 s with 1–2-s cross-fades.

    Returns ``(audio float32, timeline)`` where the timeline is a contiguous list of
    ``{"start_s", "end_s", "label"}`` (boundaries at the cross-fade midpoints) covering
    ``[0, seconds]`` and every class at least once. Segments come from :func:`synthesize_scene`.
    """
    _check_sample_rate(sample_rate)
    sr = int(sample_rate)
    plan = _plan_day(float(seconds), rng, sr)
    seg_rngs = rng.spawn(len(plan))
    audio = _render_day(plan, seg_rngs, rng, sr)
    return audio, _timeline(plan, sr)


# --------------------------------------------------------------------------------------------
# corpus on disk
# --------------------------------------------------------------------------------------------
def _clip_rng(seed: int, label: str, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), _STREAM_CLIP, SCENE_CLASSES.index(label), int(index)])


def _day_rngs(seed: int, n_segments: int) -> tuple[np.random.Generator, list[np.random.Generator], np.random.Generator]:
    plan_rng = np.random.default_rng([int(seed), _STREAM_DAY, 0])
    seg = [np.random.default_rng([int(seed), _STREAM_DAY, 1, i]) for i in range(n_segments)]
    xf = np.random.default_rng([int(seed), _STREAM_DAY, 2])
    return plan_rng, seg, xf


def _write_wav(path: Path, x: np.ndarray, sr: int) -> None:
    # scipy's writer, not libsndfile's: libsndfile adds a PEAK chunk with a timestamp to float
    # WAVs, which would break "same seed → identical bytes". Output: IEEE-float WAV (soundfile
    # reports subtype FLOAT), read back bit-exactly by soundfile / librosa / scipy.
    atomic_write(path, lambda f: scipy.io.wavfile.write(f, sr, np.ascontiguousarray(x, dtype=np.float32)))


def generate_corpus(
    out_dir: str | os.PathLike,
    seed: int = 0,
    clips_per_class: int = DEFAULT_CLIPS_PER_CLASS,
    clip_seconds: float = DEFAULT_CLIP_SECONDS,
    day_minutes: float = 4.0,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    progress: bool = True,
) -> Path:
    """Write the scene corpus to ``out_dir`` and return its path.

    Layout: ``<class>/<class>_<nnn>.wav`` (``clips_per_class`` clips of ``clip_seconds`` for each
    of :data:`SCENE_CLASSES`), ``day.wav`` + ``day.json`` (the ground-truth timeline) and
    ``manifest.json``. The manifest is removed first and written last, so a folder without it
    is an interrupted run (see :func:`corpus_is_complete`). Old clips of this generator in
    ``out_dir`` are removed; other files are left alone.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ScenesError(f"seed must be a non-negative integer, got {seed!r}")
    if isinstance(clips_per_class, bool) or not isinstance(clips_per_class, (int, np.integer)) or clips_per_class < 1:
        raise ScenesError(f"clips_per_class must be a positive integer, got {clips_per_class!r}")
    if not (isinstance(clip_seconds, (int, float)) and math.isfinite(clip_seconds) and 0.5 <= clip_seconds <= 60.0):
        raise ScenesError(f"clip_seconds must be in [0.5, 60] s, got {clip_seconds!r} (the default 4 s is the context window)")
    if not (isinstance(day_minutes, (int, float)) and math.isfinite(day_minutes) and 3.0 <= day_minutes <= 120.0):
        raise ScenesError(f"day_minutes must be in [3, 120] (the day recording must last ≥ 3 minutes), got {day_minutes!r}")
    _check_sample_rate(sample_rate)
    from tqdm.auto import tqdm

    out = Path(out_dir)
    _claim_output_folder(out)
    manifest = out / "manifest.json"
    manifest.unlink(missing_ok=True)  # from here on the folder reads as incomplete
    for legacy in ("day.wav", "day.json"):  # the test recording's place before days/
        (out / legacy).unlink(missing_ok=True)
    sr = int(sample_rate)

    plan_rng, _, xf_rng = _day_rngs(seed, 0)
    plan = _plan_day(day_minutes * 60.0, plan_rng, sr)
    _, seg_rngs, xf_rng = _day_rngs(seed, len(plan))

    total = len(SCENE_CLASSES) * clips_per_class + len(plan)
    counts: dict[str, int] = {}
    with tqdm(total=total, desc="catuvac-scenes", unit="clip", disable=not progress, leave=False) as bar:
        for label in SCENE_CLASSES:
            cdir = out / label
            cdir.mkdir(exist_ok=True)
            for old in cdir.glob(f"{label}_*.wav"):
                old.unlink()
            for i in range(clips_per_class):
                x = synthesize_scene(label, clip_seconds, _clip_rng(seed, label, i), sr)
                _write_wav(cdir / f"{label}_{i:03d}.wav", x, sr)
                bar.update(1)
            counts[label] = clips_per_class
        day = _render_day(plan, seg_rngs, xf_rng, sr, on_segment=lambda: bar.update(1))
    day_wav, day_json = out / DAYS_DIR / "day.wav", out / DAYS_DIR / "day.json"
    _write_wav(day_wav, day, sr)
    timeline = _timeline(plan, sr)
    atomic_write_text(day_json, json.dumps(timeline, indent=1) + "\n")
    from catuvac.runtime.scoring import load_scene_profiles

    atomic_write_text(out / "scene_profiles.json", json.dumps(load_scene_profiles(), indent=1) + "\n")  # label → profile
    info = {
        "generator": "catuvac-scenes",
        "version": GENERATOR_VERSION,
        "seed": int(seed),
        "classes": list(SCENE_CLASSES),
        "clips_per_class": int(clips_per_class),
        "counts": counts,
        "sample_rate": sr,
        "clip_seconds": float(clip_seconds),
        "day_seconds": len(day) / sr,
        "day_segments": len(timeline),
        "wav_subtype": WAV_SUBTYPE,
    }  # no timings or paths: the manifest is bit-identical for the same seed, like the audio
    atomic_write_text(manifest, json.dumps(info, indent=1) + "\n")
    return out


def _claim_output_folder(out: Path) -> None:
    """Create ``out``, or accept an existing folder that is empty or a corpus this generator wrote.

    Any other non-empty folder is refused: the generator replaces clips in it, and must not
    touch a user's files.
    """
    if out.exists() and not out.is_dir():
        raise ScenesError(f"--out {out} exists and is not a folder; choose another path")
    if out.is_dir() and any(out.iterdir()) and not ((out / _MARKER).exists() or _is_manifest_of_ours(out / "manifest.json")):
        raise ScenesError(
            f"--out {out} is a non-empty folder that catuvac-scenes did not write; choose a new or empty folder "
            "(the generator replaces the clips in its folder)"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / _MARKER).touch()


def _is_manifest_of_ours(path: Path) -> bool:
    try:
        return json.loads(path.read_text()).get("generator") == "catuvac-scenes"
    except (OSError, ValueError, AttributeError):
        return False


def corpus_is_complete(path: str | os.PathLike, seed: int | None = None, clips_per_class: int | None = None,
                       clip_seconds: float | None = None) -> bool:
    """True if ``path`` holds a finished corpus of this generator version (and seed / size / clip
    length, if given)."""
    p = Path(path)
    try:
        info = json.loads((p / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    if info.get("version") != GENERATOR_VERSION or info.get("classes") != list(SCENE_CLASSES):
        return False
    if seed is not None and info.get("seed") != seed:
        return False
    n = info.get("clips_per_class")
    if clips_per_class is not None and n != clips_per_class:
        return False
    if clip_seconds is not None and info.get("clip_seconds") != float(clip_seconds):
        return False
    if not all(f.is_file() and f.parent.name == DAYS_DIR for f in day_files(p)):
        return False
    return all(len(list((p / c).glob(f"{c}_*.wav"))) == n for c in SCENE_CLASSES)


default_cache_root = cache_root  # ``$CATUVAC_CACHE`` if set, else ``~/.cache/catuvac`` (one helper: runtime.fileio)


def builtin_scenes_dir(seed: int = 0, clips_per_class: int = DEFAULT_CLIPS_PER_CLASS, root: Path | None = None,
                       clip_seconds: float = DEFAULT_CLIP_SECONDS) -> Path:
    """The cached built-in corpus (``<root>/scenes-v1-seed<seed>-n<clips_per_class>``, with
    ``-s<clip_seconds>`` appended for clips other than 4 s), generated once.

    Generation goes to a temporary sibling folder that is renamed into place when finished, so
    an interrupted run never leaves a folder that looks complete; an incomplete folder is
    regenerated.
    """
    root = Path(root).expanduser() if root is not None else default_cache_root()
    suffix = "" if float(clip_seconds) == DEFAULT_CLIP_SECONDS else f"-s{float(clip_seconds):g}"
    final = root / f"scenes-{GENERATOR_VERSION}-seed{seed}-n{clips_per_class}{suffix}"
    if corpus_is_complete(final, seed, clips_per_class, clip_seconds):
        return final
    root.mkdir(parents=True, exist_ok=True)
    # remove leftovers of interrupted runs (older than an hour: not someone else's live run)
    for stale in root.glob(final.name + ".partial-*"):
        try:
            if time.time() - stale.stat().st_mtime > 3600:
                shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            pass
    tmp = root / f"{final.name}.partial-{os.getpid()}-{time.time_ns()}"
    generate_corpus(tmp, seed=seed, clips_per_class=clips_per_class, clip_seconds=clip_seconds)
    if final.exists() and not corpus_is_complete(final, seed, clips_per_class, clip_seconds):
        shutil.rmtree(final, ignore_errors=True)
    try:
        os.rename(tmp, final)
    except OSError:
        # another process finished first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
        if not corpus_is_complete(final, seed, clips_per_class, clip_seconds):
            raise
    return final


def load_timeline(path: str | os.PathLike) -> list[dict]:
    """The scene stretches of a ``day.json`` as ``{"start_s", "end_s", "label"}`` dicts, read and
    validated by the one timeline reader (:func:`catuvac.runtime.timeline.load_truth`)."""
    from catuvac.runtime.timeline import load_timeline as _load

    return [s.to_dict() for s in _load(path)]


def plot_scene_grid(corpus_dir: str | os.PathLike, path: str | os.PathLike, index: int = 0) -> Path:
    """Save a PNG with the spectrogram of clip ``index`` of every class and the day recording."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cdir = Path(corpus_dir)
    fig = plt.figure(figsize=(14, 11), constrained_layout=True)
    gs = fig.add_gridspec(3, 4, height_ratios=[1, 1, 1])
    for k, label in enumerate(SCENE_CLASSES):
        ax = fig.add_subplot(gs[k // 4, k % 4])
        x, sr = sf.read(str(cdir / label / f"{label}_{index:03d}.wav"), dtype="float32")
        f, t, s = scipy.signal.spectrogram(x, sr, nperseg=512, noverlap=384)
        ax.pcolormesh(t, f, 10 * np.log10(s + 1e-14), shading="auto", vmin=-140, vmax=-30, cmap="magma")
        ax.set_yscale("log")
        ax.set_ylim(40, sr / 2)
        ax.set_title(f"{label}  ({20 * np.log10(_rms(x)):.0f} dBFS RMS)")
        ax.set_xlabel("s")
        ax.set_ylabel("Hz")
    ax = fig.add_subplot(gs[1, 3])
    ax.axis("off")
    ax.text(0, 0.5, "Spectrograms, dB re full scale,\nsame colour scale (−140 … −30 dB),\nlog frequency axis", va="center")
    day_path, day_json = day_files(cdir)
    if day_path.is_file():
        ax = fig.add_subplot(gs[2, :])
        x, sr = sf.read(str(day_path), dtype="float32")
        f, t, s = scipy.signal.spectrogram(x, sr, nperseg=1024, noverlap=512)
        ax.pcolormesh(t, f, 10 * np.log10(s + 1e-14), shading="auto", vmin=-140, vmax=-30, cmap="magma")
        ax.set_yscale("log")
        ax.set_ylim(40, sr / 2)
        if day_json.is_file():
            for seg in load_timeline(day_json):
                ax.axvline(seg["start_s"], color="w", lw=0.8)
                ax.text(seg["start_s"] + 0.5, sr / 2 * 0.6, seg["label"], color="w", fontsize=8, va="top")
        ax.set_xlim(0, len(x) / sr)
        ax.set_title("day.wav with ground-truth timeline")
        ax.set_xlabel("s")
    path = atomic_savefig(fig, path, dpi=90)
    plt.close(fig)
    return path
