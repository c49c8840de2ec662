"""The DSP plugins of the simulated hearing aid and the default chain.

Signal path (openMHA style, ``wave → bands → wave``)::

    FilterbankAnalysis ─► InsertionGain ─► NoiseReduction ─► Wdrc ─► FilterbankSynthesis ─► Limiter
      (wave → bands)       (NAL-R + profile    (per-band        (multiband    (bands → wave)    (peak ceiling)
                            offset, dB)         Wiener-like)     compressor)

Filterbank: a weighted overlap-add (WOLA) short-time Fourier bank whose hop is the block size.
Analysis and synthesis windows are square-root periodic Hann windows of ``window_len``
samples (a multiple of the block size, ≥ 2 blocks), so analysis·synthesis sums to a constant
and the bank reconstructs perfectly with unity gains. The DFT and its inverse are two real
matrix products (a 96-point DFT as one BLAS call is cheaper in Python than ``np.fft``).
Algorithmic delay = ``window_len − block_size`` samples (default 96 − 32 = 64 samples =
4 ms at 16 kHz); tests measure it with an impulse. FFT bins are grouped into bands (default
6 bands, crossovers 500/1000/2000/3000/4500 Hz); each band's level in dB SPL is computed from
the bins' power (Parseval-calibrated: a stationary signal of RMS ``r`` reads
``20·log10(r) + fullscale_db_spl``).

Band plugins add their gain (dB) to ``frame.gain_db``; both the compressor and the noise
reduction read the *input* band level (an input-level gain table, like openMHA's ``dc``), so
their order does not matter. The synthesis interpolates the band gains to the FFT bins on a
log-frequency axis (smooth spectral gain, no steps between bands), applies them once and
overlap-adds.

Time constants (compressor attack/release, smoothing) are those of one-pole smoothers
updated once per block: after a step, the smoothed value has covered 1 − 1/e ≈ 63 % of the
step after one time constant.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .plugins import BandFrame, BandLayout, Chain, Param, Plugin, PrepareError, StreamSpec

__all__ = [
    "DEFAULT_BAND_EDGES_HZ",
    "FilterbankAnalysis",
    "FilterbankSynthesis",
    "InsertionGain",
    "NoiseReduction",
    "Wdrc",
    "Limiter",
    "default_chain",
    "measure_delay_samples",
]

# Inner crossover frequencies of the default 6-band layout: band 0 holds 0–500 Hz (centre
# 250 Hz) and band 5 holds 4.5 kHz–Nyquist (centre 6 kHz), so the band centres fall near the
# NAL-R prescription frequencies.
DEFAULT_BAND_EDGES_HZ = (500.0, 1000.0, 2000.0, 3000.0, 4500.0)


def _time_coef(ms: np.ndarray | float, block: int, sr: int) -> np.ndarray | float:
    """One-pole update weight per block for time constant ``ms``: 1 − exp(−T_block / τ)."""
    return 1.0 - np.exp(-block / (np.asarray(ms, dtype=np.float64) * 1e-3 * sr))


# --------------------------------------------------------------------------------------------
# Filterbank


class FilterbankAnalysis(Plugin):
    """WOLA analysis (wave → bands): buffers ``window_len`` samples, windows, DFT, band levels."""

    input_domain = "wave"

    window_len = Param(
        96, 16, 2048,
        "analysis/synthesis window length; a multiple of block_size ≥ 2 blocks; delay = window_len − block_size",
        integer=True, structural=True, unit="samples",
    )  # 96 = 6 ms at 16 kHz: 167 Hz bins with only 4 ms delay
    band_edges_hz = Param(
        DEFAULT_BAND_EDGES_HZ, 50, 20000, "inner crossover frequencies between the bands, increasing",
        kind="vector", structural=True, unit="Hz",
    )
    fullscale_db_spl = Param(
        100.0, 60, 140, "level in dB SPL of a signal with RMS 1.0 (calibration of digital full scale)",
        unit="dB SPL",
    )  # 100 dB SPL at 0 dB FS RMS: a −26 dB FS speech recording plays at ~74 dB SPL

    def _prepare(self, spec: StreamSpec) -> StreamSpec:
        N, B, sr = int(self.window_len), spec.block_size, spec.sample_rate
        if N % B != 0 or N // B < 2:
            raise PrepareError(
                f"{self.name}: window_len={N} must be a multiple of block_size={B} and at least 2 blocks "
                f"(e.g. {2 * B} or {3 * B}) so the overlap-add reconstructs perfectly"
            )
        edges = np.asarray(self.band_edges_hz, dtype=np.float64)
        if np.any(np.diff(edges) <= 0):
            raise PrepareError(f"{self.name}: band_edges_hz must be strictly increasing, got {edges.tolist()}")
        if edges[-1] >= sr / 2:
            raise PrepareError(
                f"{self.name}: band edge {edges[-1]:g} Hz is not below the Nyquist frequency {sr / 2:g} Hz"
            )
        n_bins = N // 2 + 1
        freqs = np.arange(n_bins) * sr / N
        full_edges = np.concatenate([[0.0], edges, [sr / 2 + 1.0]])
        band_of_bin = np.searchsorted(full_edges, freqs, side="right") - 1
        n_bands = len(edges) + 1
        counts = np.bincount(band_of_bin, minlength=n_bands)
        if np.any(counts == 0):
            j = int(np.argmin(counts))
            raise PrepareError(
                f"{self.name}: band {j} ({full_edges[j]:g}–{min(full_edges[j + 1], sr / 2):g} Hz) contains no FFT bin "
                f"at window_len={N} (bin spacing {sr / N:.0f} Hz); widen the band or lengthen the window"
            )
        centres = []
        for j in range(n_bands):
            lo, hi = full_edges[j], min(full_edges[j + 1], sr / 2)
            centres.append(float(math.sqrt(max(lo, hi / 4.0) * hi)))  # geometric; band 0 → hi/2
        layout = BandLayout(
            window_len=N, edges_hz=tuple(float(e) for e in full_edges[:-1]) + (sr / 2,),
            centres_hz=tuple(centres), n_bins=n_bins,
        )
        n = np.arange(N)
        self._win = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * n / N))  # sqrt periodic Hann
        theta = 2 * np.pi * np.outer(n, np.arange(n_bins)) / N
        self._A = np.ascontiguousarray(np.hstack([np.cos(theta), -np.sin(theta)]) * self._win[:, None])
        # Parseval weights: each one-sided bin stands for itself and its mirror (×2), except DC/Nyquist
        ck = np.full(n_bins, 2.0)
        ck[0] = 1.0
        if N % 2 == 0:
            ck[-1] = 1.0
        Mb = np.zeros((2 * n_bins, n_bands))
        scale = ck / (N * np.sum(self._win**2))
        Mb[np.arange(n_bins), band_of_bin] = scale
        Mb[n_bins + np.arange(n_bins), band_of_bin] = scale
        self._Mb_unscaled = Mb
        self._Mb = Mb.copy()
        self._buf = np.zeros(N)
        self._buf2 = np.zeros(N)
        self._sq = np.zeros(2 * n_bins)
        self.frame = BandFrame(layout)
        self._N, self._B = N, B
        return StreamSpec(spec.sample_rate, B, spec.n_channels, "bands", layout)

    def _update(self, name: str) -> None:
        if name == "fullscale_db_spl":
            # fold the calibration into the band matrix: level = 10·log10(power·10^(cal/10) + floor)
            np.multiply(self._Mb_unscaled, 10.0 ** (self.fullscale_db_spl / 10.0), out=self._Mb)

    def reset(self) -> None:
        self._buf.fill(0.0)
        self._buf2.fill(0.0)
        self.frame.X.fill(0.0)
        self.frame.gain_db.fill(0.0)
        self.frame.level_db.fill(-20.0)

    def process(self, block: np.ndarray) -> BandFrame:
        N, B = self._N, self._B
        old, new = self._buf, self._buf2
        np.copyto(new[: N - B], old[B:])
        np.copyto(new[N - B:], block)
        self._buf, self._buf2 = new, old
        f = self.frame
        np.matmul(new, self._A, out=f.X)
        np.multiply(f.X, f.X, out=self._sq)
        lvl = f.level_db
        np.matmul(self._sq, self._Mb, out=lvl)
        np.add(lvl, 1e-2, out=lvl)  # floor at −20 dB SPL: silence stays finite
        np.log10(lvl, out=lvl)
        np.multiply(lvl, 10.0, out=lvl)
        f.gain_db.fill(0.0)
        return f

    @property
    def algorithmic_delay_samples(self) -> int:
        if self.spec is None:
            return 0
        return int(self.window_len) - self.spec.block_size


class FilterbankSynthesis(Plugin):
    """WOLA synthesis (bands → wave): band gains → bin gains, inverse DFT, window, overlap-add."""

    input_domain = "bands"

    def _prepare(self, spec: StreamSpec) -> StreamSpec:
        lay = spec.bands
        assert lay is not None
        N, B, sr, nb = lay.window_len, spec.block_size, spec.sample_rate, lay.n_bins
        n = np.arange(N)
        win = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * n / N))
        ola = np.zeros(B)
        for s in range(0, N, B):
            ola += (win**2)[s : s + B]
        if np.ptp(ola) > 1e-9 * ola.mean():
            raise PrepareError(f"{self.name}: window_len {N} and block {B} do not overlap-add to a constant")
        norm = 1.0 / ola.mean()
        ck = np.full(nb, 2.0)
        ck[0] = 1.0
        if N % 2 == 0:
            ck[-1] = 1.0
        theta = 2 * np.pi * np.outer(np.arange(nb), n) / N
        S = np.vstack([ck[:, None] * np.cos(theta), -ck[:, None] * np.sin(theta)]) / N
        self._S = np.ascontiguousarray(S * (win * norm)[None, :])
        # band gain (dB) → bin gain (natural-log units) by log-frequency interpolation
        freqs = np.maximum(np.arange(nb) * sr / N, 1.0)
        logc = np.log(np.asarray(lay.centres_hz))
        E = np.zeros((lay.n_bands, nb))
        for k, f in enumerate(np.log(freqs)):
            if f <= logc[0]:
                E[0, k] = 1.0
            elif f >= logc[-1]:
                E[-1, k] = 1.0
            else:
                j = int(np.searchsorted(logc, f) - 1)
                t = (f - logc[j]) / (logc[j + 1] - logc[j])
                E[j, k], E[j + 1, k] = 1.0 - t, t
        self.bin_gain_matrix = E  # (n_bands, n_bins): per-bin dB = gain_db @ E
        self._E = np.ascontiguousarray(np.hstack([E, E]) * (math.log(10.0) / 20.0))
        self._g = np.zeros(2 * nb)
        self._Y = np.zeros(2 * nb)
        self._yf = np.zeros(N)
        self._acc = np.zeros(N)
        self._acc2 = np.zeros(N)
        self._N, self._B = N, B
        return StreamSpec(spec.sample_rate, B, spec.n_channels, "wave", lay)

    def reset(self) -> None:
        self._acc.fill(0.0)
        self._acc2.fill(0.0)

    def process(self, f: BandFrame) -> np.ndarray:
        N, B = self._N, self._B
        g = self._g
        np.matmul(f.gain_db, self._E, out=g)
        np.exp(g, out=g)
        np.multiply(f.X, g, out=self._Y)
        yf = self._yf
        np.matmul(self._Y, self._S, out=yf)
        old, new = self._acc, self._acc2
        np.add(old[B:], yf[: N - B], out=new[: N - B])
        np.copyto(new[N - B:], yf[N - B:])
        self._acc, self._acc2 = new, old
        return new[:B]


# --------------------------------------------------------------------------------------------
# Band plugins


class InsertionGain(Plugin):
    """Per-band insertion gain: the fitted prescription (e.g. NAL-R) plus a profile offset."""

    input_domain = "bands"

    gain_db = Param(0.0, 0, 70, "prescribed insertion gain per band (the fitting, e.g. NAL-R)",
                    kind="per_band", unit="dB")
    offset_db = Param(0.0, -30, 20, "profile gain offset per band on top of the prescription",
                      kind="per_band", unit="dB")

    def _prepare(self, spec: StreamSpec) -> StreamSpec:
        self._total = np.zeros(spec.bands.n_bands)  # type: ignore[union-attr]
        return spec

    def _update(self, name: str) -> None:
        np.add(self._band("gain_db"), self._band("offset_db"), out=self._total)

    @property
    def total_db(self) -> np.ndarray:
        return self._total.copy()

    def process(self, f: BandFrame) -> BandFrame:
        np.add(f.gain_db, self._total, out=f.gain_db)
        return f


class NoiseReduction(Plugin):
    """Single-channel noise reduction per band (noise-floor tracker + SNR-driven attenuation).

    The band level is smoothed (``smoothing_ms``); the noise floor follows every drop of the
    smoothed level at once and rises at most ``noise_rise_db_per_s`` (a minimum tracker).
    Attenuation = strength · max_attenuation_db · clip((snr_knee_db − SNR) / snr_width_db, 0, 1):
    none above ``snr_knee_db`` SNR, full at or below ``snr_knee_db − snr_width_db``.
    """

    input_domain = "bands"

    strength = Param(0.0, 0, 1, "noise-reduction strength (0 = off, 1 = full); set by the profile")
    max_attenuation_db = Param(10.0, 0, 30, "attenuation at strength 1 in noise-only bands", unit="dB")
    # 10 dB: enough to be heard, little enough to keep speech cues (commercial NR: 6–12 dB)
    smoothing_ms = Param(30.0, 1, 1000, "time constant of the band-level smoother", unit="ms")
    noise_rise_db_per_s = Param(4.0, 0.1, 60, "fastest rise of the noise-floor estimate", unit="dB/s")
    snr_knee_db = Param(15.0, 0, 40, "SNR above which a band is left alone", unit="dB")
    snr_width_db = Param(12.0, 1, 40, "SNR range over which attenuation ramps to full", unit="dB")

    def _prepare(self, spec: StreamSpec) -> StreamSpec:
        nb = spec.bands.n_bands  # type: ignore[union-attr]
        self._S = np.zeros(nb)
        self._N = np.zeros(nb)
        self._t = np.zeros(nb)
        self.last_attenuation_db = np.zeros(nb)
        return spec

    def _update(self, name: str) -> None:
        sp = self.spec
        self._a = float(_time_coef(self.smoothing_ms, sp.block_size, sp.sample_rate))
        self._rise = self.noise_rise_db_per_s * sp.block_size / sp.sample_rate
        self._k = 1.0 / self.snr_width_db
        self._att = self.strength * self.max_attenuation_db

    def reset(self) -> None:
        self._fresh = True
        self.last_attenuation_db.fill(0.0)

    def process(self, f: BandFrame) -> BandFrame:
        S, N, t = self._S, self._N, self._t
        if self._fresh:
            np.copyto(S, f.level_db)
            np.copyto(N, f.level_db)
            self._fresh = False
        np.subtract(f.level_db, S, out=t)
        np.multiply(t, self._a, out=t)
        np.add(S, t, out=S)
        np.add(N, self._rise, out=N)
        np.minimum(N, S, out=N)
        if self._att > 0.0:
            np.subtract(S, N, out=t)  # SNR estimate (dB)
            np.subtract(self.snr_knee_db, t, out=t)
            np.multiply(t, self._k, out=t)
            np.clip(t, 0.0, 1.0, out=t)
            np.multiply(t, self._att, out=self.last_attenuation_db)
            np.subtract(f.gain_db, self.last_attenuation_db, out=f.gain_db)
        elif self.last_attenuation_db[0] != 0.0 or self.last_attenuation_db.any():
            self.last_attenuation_db.fill(0.0)
        return f


class Wdrc(Plugin):
    """Multiband wide-dynamic-range compressor on the input band level (a gain table per band).

    Static curve per band: gain = 0 dB below ``threshold_db``; above it the output level rises
    1/ratio dB per input dB (gain = −(1 − 1/ratio)·(L − threshold)). The level detector is a
    one-pole smoother in dB with ``attack_ms`` for rising and ``release_ms`` for falling level.
    """

    input_domain = "bands"

    threshold_db = Param(50.0, 20, 110, "compression threshold (input band level)", kind="per_band", unit="dB SPL")
    # 50 dB SPL: soft speech stays linear, conversational speech is compressed (WDRC kneepoints 40–55 dB SPL)
    ratio = Param(2.0, 1, 10, "compression ratio above threshold (input dB per output dB)", kind="per_band")
    # 2:1 – the middle of the 1.5–3 range used for hearing-aid WDRC
    attack_ms = Param(5.0, 0.5, 500, "level-detector time constant for rising level", kind="per_band", unit="ms")
    # 5 ms: fast attack catches onsets (hearing aids: 1–20 ms)
    release_ms = Param(100.0, 5, 5000, "level-detector time constant for falling level", kind="per_band", unit="ms")
    # 100 ms: syllabic release (hearing aids: 15–300 ms, slow-acting up to ~1 s)

    def _prepare(self, spec: StreamSpec) -> StreamSpec:
        nb = spec.bands.n_bands  # type: ignore[union-attr]
        self._slope = np.zeros(nb)
        self._ca = np.zeros(nb)
        self._cr = np.zeros(nb)
        self._S = np.zeros(nb)
        self._t = np.zeros(nb)
        self._u = np.zeros(nb)
        self.last_gain_db = np.zeros(nb)
        return spec

    def _update(self, name: str) -> None:
        sp = self.spec
        if name == "ratio":
            np.divide(1.0, self._band("ratio"), out=self._slope)
            np.subtract(1.0, self._slope, out=self._slope)
        elif name == "attack_ms":
            np.copyto(self._ca, _time_coef(self._band("attack_ms"), sp.block_size, sp.sample_rate))
        elif name == "release_ms":
            np.copyto(self._cr, _time_coef(self._band("release_ms"), sp.block_size, sp.sample_rate))

    def reset(self) -> None:
        self._fresh = True
        self.last_gain_db.fill(0.0)

    def process(self, f: BandFrame) -> BandFrame:
        S, t, u = self._S, self._t, self._u
        if self._fresh:
            np.copyto(S, f.level_db)
            self._fresh = False
        np.subtract(f.level_db, S, out=t)
        np.maximum(t, 0.0, out=u)
        np.multiply(u, self._ca, out=u)
        np.minimum(t, 0.0, out=t)
        np.multiply(t, self._cr, out=t)
        np.add(S, u, out=S)
        np.add(S, t, out=S)
        g = self.last_gain_db
        np.subtract(S, self._band("threshold_db"), out=g)
        np.maximum(g, 0.0, out=g)
        np.multiply(g, self._slope, out=g)
        np.negative(g, out=g)
        np.add(f.gain_db, g, out=f.gain_db)
        return f


# --------------------------------------------------------------------------------------------
# Output limiter


class Limiter(Plugin):
    """Peak limiter (MPO): the output never exceeds ``ceiling_dbfs``.

    Per block, the gain moves from its previous value toward ``ceiling / block peak`` — within
    ``attack_ms`` when it must drop, by a one-pole ``release_ms`` recovery when it may rise —
    along a per-sample ramp; any sample the ramp has not yet brought under the ceiling gets
    exactly the gain that puts it there. No look-ahead, so no added delay.
    """

    input_domain = "wave"

    ceiling_dbfs = Param(-1.0, -40, 0, "peak level the output never exceeds", unit="dB FS")
    # −1 dB FS: headroom for the DAC's reconstruction overshoot
    attack_ms = Param(1.0, 0.05, 20, "time to reach the reduced gain on an overload", unit="ms")
    # 1 ms: the usual MPO attack
    release_ms = Param(50.0, 5, 2000, "time constant of the gain recovery after an overload", unit="ms")
    # 50 ms: recovers between syllables without pumping

    def _prepare(self, spec: StreamSpec) -> StreamSpec:
        B = spec.block_size
        self._a = np.zeros(B)
        self._g = np.zeros(B)
        self._out = np.zeros(B)
        self._n1 = np.arange(1, B + 1, dtype=np.float64)
        self._att_ramp = np.zeros(B)
        self._rel_ramp = self._n1 / B
        return spec

    def _update(self, name: str) -> None:
        sp = self.spec
        # a hair under the ceiling so that float rounding of gain·sample can never cross it
        self._c = 10.0 ** (self.ceiling_dbfs / 20.0) * (1.0 - 1e-9)
        att_samples = max(self.attack_ms * 1e-3 * sp.sample_rate, 1.0)
        np.clip(self._n1 / att_samples, 0.0, 1.0, out=self._att_ramp)
        self._rc = float(_time_coef(self.release_ms, sp.block_size, sp.sample_rate))

    @property
    def ceiling(self) -> float:
        """The ceiling as a linear peak value."""
        return 10.0 ** (self.ceiling_dbfs / 20.0)

    def reset(self) -> None:
        self.gain = 1.0

    def process(self, x: np.ndarray) -> np.ndarray:
        a = self._a
        np.abs(x, out=a)
        peak = float(a.max())
        c = self._c
        g0 = self.gain
        target = c / peak if peak > c else 1.0
        if target < g0:
            g1, ramp = target, self._att_ramp
        else:
            g1, ramp = min(target, g0 + (1.0 - g0) * self._rc), self._rel_ramp
        self.gain = g1
        if g0 == 1.0 and g1 == 1.0:
            return x  # not limiting: pass through (peak ≤ ceiling)
        g = self._g
        np.multiply(ramp, g1 - g0, out=g)
        np.add(g, g0, out=g)
        if peak * max(g0, g1) > c:
            np.maximum(a, 1e-30, out=a)
            np.divide(c, a, out=a)
            np.minimum(g, a, out=g)
        np.multiply(x, g, out=self._out)
        return self._out


# --------------------------------------------------------------------------------------------
# Default chain and delay measurement


def default_chain(
    insertion_gain_db: Sequence[float] | float = 0.0,
    *,
    band_edges_hz: Sequence[float] = DEFAULT_BAND_EDGES_HZ,
    window_len: int = 96,
    ceiling_dbfs: float = -1.0,
) -> Chain:
    """The default hearing-aid chain (unprepared). Plugin names: ``filterbank``, ``gain``,
    ``nr``, ``wdrc``, ``synthesis``, ``limiter``. ``insertion_gain_db``: the fitted per-band
    gain (see :func:`catuvac.firmware_sim.nalr.nalr_band_gains`)."""
    return Chain(
        [
            FilterbankAnalysis("filterbank", window_len=window_len, band_edges_hz=tuple(band_edges_hz)),
            InsertionGain("gain", gain_db=insertion_gain_db),
            NoiseReduction("nr"),
            Wdrc("wdrc"),
            FilterbankSynthesis("synthesis"),
            Limiter("limiter", ceiling_dbfs=ceiling_dbfs),
        ]
    )


def measure_delay_samples(chain: Chain, *, amplitude: float = 0.05, offset: int | None = None) -> int:
    """Measure the chain's delay with an impulse: the lag of the output's largest sample.

    The chain must be prepared; it is reset before and after, so its state is untouched.
    """
    if not chain.prepared or chain.spec is None:
        raise PrepareError("prepare the chain before measuring its delay")
    B = chain.spec.block_size
    lay = chain.band_layout
    span = (lay.window_len if lay else 0) + chain.algorithmic_delay_samples + 4 * B
    n_blocks = -(-(span + 8 * B) // B)
    pos = 3 * B + B // 3 if offset is None else int(offset)
    x = np.zeros(n_blocks * B)
    x[pos] = amplitude
    y = np.zeros_like(x)
    chain.reset()
    try:
        for b in range(n_blocks):
            y[b * B : (b + 1) * B] = chain.process(x[b * B : (b + 1) * B])
    finally:
        chain.reset()
    return int(np.argmax(np.abs(y))) - pos
