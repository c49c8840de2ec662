"""Measured behaviour of the DSP plugins: filterbank, compressor, noise reduction, limiter."""

from __future__ import annotations

import numpy as np
import pytest

from catuvac.firmware_sim import Chain, FilterbankAnalysis, FilterbankSynthesis, Limiter, NoiseReduction, StreamSpec, Wdrc, default_chain, measure_delay_samples

SR = 16000


# ------------------------------------------------------------------ filterbank


@pytest.mark.parametrize("block, window", [(32, 96), (32, 64), (32, 128), (24, 72), (16, 64)])
def test_filterbank_reconstruction_and_impulse_delay(block, window, run_blocks):
    chain = Chain([FilterbankAnalysis(window_len=window, band_edges_hz=(1000, 3000)), FilterbankSynthesis()])
    chain.prepare(StreamSpec(SR, block))
    d = window - block
    assert chain.algorithmic_delay_samples == d
    # impulse: the output is the impulse, delayed by exactly d samples, with unit height
    for offset in (block * 3, block * 3 + 7, block * 4 - 1):
        assert measure_delay_samples(chain, offset=offset) == d
    x = np.zeros(block * 40)
    x[block * 5 + 3] = 1.0
    y = run_blocks(chain, x, block)
    assert y[block * 5 + 3 + d] == pytest.approx(1.0, abs=1e-12)
    y[block * 5 + 3 + d] = 0.0
    assert np.max(np.abs(y)) < 1e-12
    # noise: perfect reconstruction after the delay
    rng = np.random.default_rng(0)
    x = 0.5 * rng.standard_normal(block * 300)
    chain.reset()
    y = run_blocks(chain, x, block)
    assert np.max(np.abs(y[d:] - x[:-d])) < 1e-12


def test_default_chain_delay_below_10ms():
    chain = default_chain(20.0)
    chain.prepare(StreamSpec())
    measured = measure_delay_samples(chain)
    assert measured == chain.algorithmic_delay_samples == 64
    assert 1000 * measured / SR == pytest.approx(4.0)
    assert 1000 * measured / SR < 10


def test_band_level_calibration(make_tone):
    chain = Chain([FilterbankAnalysis(), FilterbankSynthesis()])
    chain.prepare(StreamSpec())
    centres = chain.band_layout.centres_hz
    for j, f in enumerate(centres):
        for level in (40.0, 70.0):
            x = make_tone(f, level, 0.2)
            chain.reset()
            lv = []
            for i in range(0, len(x) - 32, 32):
                chain.process(x[i : i + 32])
                lv.append(chain.band_frame.level_db[j])
            # mean over frames: Parseval-calibrated band level equals the tone's RMS level
            assert np.mean(lv[10:]) == pytest.approx(level, abs=0.6), (f, level)


# ------------------------------------------------------------------ compressor


def _wdrc_chain(**kw):
    # two bands split at 4 kHz: a 1 kHz tone lies below band 0's centre (2 kHz), where the bin
    # gains equal band 0's gain exactly, so the output level measures the compressor alone
    chain = Chain([FilterbankAnalysis(band_edges_hz=(4000,)), Wdrc(**kw), FilterbankSynthesis()])
    chain.prepare(StreamSpec())
    return chain


def _level_db(x):
    return 10 * np.log10(np.mean(x**2)) + 100.0


@pytest.mark.parametrize("threshold, ratio", [(50.0, 3.0), (65.0, 2.0), (40.0, 1.5)])
def test_compressor_static_curve(threshold, ratio, make_tone, run_blocks):
    chain = _wdrc_chain(threshold_db=threshold, ratio=ratio, attack_ms=5, release_ms=50)
    for lin in (30.0, 45.0, 55.0, 70.0, 85.0):
        x = make_tone(1000.0, lin, 0.5)
        chain.reset()
        y = run_blocks(chain, x)
        lout = _level_db(y[-3200:])
        expected = lin if lin <= threshold else threshold + (lin - threshold) / ratio
        assert lout == pytest.approx(expected, abs=0.15), (lin, lout, expected)


def _step_gain_trace(attack_ms, release_ms, run_blocks, make_tone):
    chain = _wdrc_chain(threshold_db=50, ratio=3, attack_ms=attack_ms, release_ms=release_ms)
    lo, hi = make_tone(1000.0, 55.0, 3.0), make_tone(1000.0, 85.0, 3.0)
    t = np.arange(len(lo)) / SR
    x = np.where((t >= 1.0) & (t < 2.0), hi, lo)
    y = run_blocks(chain, x)
    d = chain.algorithmic_delay_samples
    B = 32
    yl, xl = y[d:], x[: len(y) - d]
    nb = len(yl) // B
    g = 10 * np.log10(np.mean(yl[: nb * B].reshape(nb, B) ** 2, 1) / np.mean(xl[: nb * B].reshape(nb, B) ** 2, 1))
    tb = (np.arange(nb) + 1) * B / SR  # end time of each (input-aligned) block
    return tb, g


def _time_constant(tb, g, t_step):
    before = np.median(g[(tb > t_step - 0.2) & (tb <= t_step)])
    after = np.median(g[(tb > t_step + 0.85) & (tb <= t_step + 0.95)])
    target = before + (1 - np.exp(-1)) * (after - before)
    m = (tb > t_step) & (tb <= t_step + 0.9)
    crossed = (g[m] - target) * np.sign(after - before) >= 0
    # the first block from which the gain stays past the 63 % point (ignores the one-block
    # overlap-add transient right at the step)
    assert crossed[-1], "the gain never reached the 63 % point"
    first = 0 if crossed.all() else len(crossed) - int(np.argmin(crossed[::-1]))
    return tb[m][first] - t_step, before, after


@pytest.mark.parametrize("attack_ms, release_ms", [(10.0, 200.0), (20.0, 100.0)])
def test_compressor_attack_release_times(attack_ms, release_ms, run_blocks, make_tone):
    tb, g = _step_gain_trace(attack_ms, release_ms, run_blocks, make_tone)
    t_att, g_lo, g_hi = _time_constant(tb, g, 1.0)
    t_rel, _, _ = _time_constant(tb, g, 2.0)
    # static gains on either side of the step: 55 dB → −10/3 dB, 85 dB → −70/3 dB
    assert g_lo == pytest.approx(-10 / 3, abs=0.1)
    assert g_hi == pytest.approx(-70 / 3, abs=0.1)
    # the 63 % point of the gain change comes one time constant after the step
    # (resolution one 2-ms block; the 6-ms window adds up to ±2 ms)
    assert t_att * 1000 == pytest.approx(attack_ms, abs=3.0)
    assert t_rel * 1000 == pytest.approx(release_ms, abs=4.0)


# ------------------------------------------------------------------ noise reduction


def test_noise_reduction_attenuates_stationary_noise_by_strength(run_blocks):
    rng = np.random.default_rng(3)
    x = 0.05 * rng.standard_normal(SR * 2)
    out = {}
    for s in (0.0, 0.5, 1.0):
        chain = Chain([FilterbankAnalysis(), NoiseReduction(strength=s, max_attenuation_db=10), FilterbankSynthesis()])
        chain.prepare(StreamSpec())
        y = run_blocks(chain, x)
        out[s] = _level_db(y[-SR // 2 :]) - _level_db(x[-SR // 2 - 64 : -64])
    assert out[0.0] == pytest.approx(0.0, abs=0.2)
    assert out[0.5] == pytest.approx(-5.0, abs=1.0)
    assert out[1.0] == pytest.approx(-10.0, abs=1.5)


def test_noise_reduction_spares_speech_like_bursts_in_band(make_tone, run_blocks):
    # steady noise + a 2 kHz tone that is on 300 ms / off 300 ms: the noise floor is tracked in the
    # gaps, so during the bursts (high SNR) band 2 is not attenuated while noise-only bands are
    rng = np.random.default_rng(4)
    n = SR * 4
    t = np.arange(n) / SR
    noise = 0.01 * rng.standard_normal(n)
    burst = make_tone(1414.0, 80.0, 4.0) * ((t % 0.6) < 0.3)
    chain = Chain([FilterbankAnalysis(), NoiseReduction("nr", strength=1.0), FilterbankSynthesis()])
    chain.prepare(StreamSpec())
    att = []
    x = noise + burst
    for i in range(0, n, 32):
        chain.process(x[i : i + 32])
        att.append(chain["nr"].last_attenuation_db.copy())
    att = np.array(att)
    tb = np.arange(len(att)) * 32 / SR
    on = ((tb % 0.6) > 0.1) & ((tb % 0.6) < 0.28) & (tb > 1.5)
    assert np.mean(att[on, 2]) < 1.0  # tone band during bursts: < 1 dB attenuation
    assert np.mean(att[tb > 1.5, 5]) > 8.0  # 6 kHz band: noise only → near the 10 dB maximum


# ------------------------------------------------------------------ limiter


@pytest.mark.parametrize("kind", ["noise", "square", "clicks", "sweep"])
def test_limiter_ceiling_never_exceeded(kind, run_blocks):
    rng = np.random.default_rng(5)
    n = SR
    t = np.arange(n) / SR
    if kind == "noise":
        x = np.clip(rng.standard_normal(n), -1, 1)  # full-scale noise
    elif kind == "square":
        x = np.sign(np.sin(2 * np.pi * 300 * t))
    elif kind == "clicks":
        x = np.zeros(n)
        x[rng.integers(0, n, 50)] = rng.choice([-1.0, 1.0], 50)
    else:
        x = 0.9 * np.sin(2 * np.pi * (100 + 3000 * t) * t)
    chain = default_chain(40.0, ceiling_dbfs=-3.0)  # 40 dB insertion gain: massive overload
    chain.prepare(StreamSpec())
    y = run_blocks(chain, x)
    ceiling = 10 ** (-3 / 20)
    assert np.all(np.isfinite(y))
    assert np.max(np.abs(y)) <= ceiling
    assert np.max(np.abs(y)) > 0.9 * ceiling  # it is loud, just never over the ceiling


def test_limiter_gain_dynamics():
    lim = Limiter(ceiling_dbfs=-6.0, attack_ms=1.0, release_ms=50.0)
    lim.prepare(StreamSpec())
    c = 10 ** (-6 / 20)
    t = np.arange(SR) / SR
    x = np.sin(2 * np.pi * 250 * t) * np.where((t >= 0.2) & (t < 0.5), 1.0, 0.25)
    y = np.concatenate([lim.process(x[i : i + 32]).copy() for i in range(0, SR, 32)])
    assert np.max(np.abs(y)) <= c
    # quiet part untouched before the overload
    np.testing.assert_array_equal(y[: int(0.2 * SR)], x[: int(0.2 * SR)])
    # during the overload the gain settles at ceiling/peak: output peak ≈ ceiling
    seg = np.abs(y[int(0.3 * SR) : int(0.5 * SR)])
    assert seg.max() == pytest.approx(c, rel=0.01)
    # release: 50 ms time constant — well recovered 300 ms after the overload
    assert np.max(np.abs(y[int(0.85 * SR) :])) == pytest.approx(0.25, rel=0.01)
    # and still reducing gain 10 ms after it
    assert np.max(np.abs(y[int(0.505 * SR) : int(0.515 * SR)])) < 0.22


# ------------------------------------------------------------------ edge inputs


def test_silence_gives_silence_and_finite_state(run_blocks):
    chain = default_chain(30.0)
    chain.prepare(StreamSpec())
    chain["nr"].strength = 1.0
    y = run_blocks(chain, np.zeros(SR))
    assert np.all(y == 0.0)
    assert np.all(np.isfinite(chain.band_frame.gain_db))
    assert np.all(np.isfinite(chain.band_frame.level_db))


def test_nan_block_is_a_clear_error():
    chain = default_chain()
    chain.prepare(StreamSpec())
    b = np.zeros(32)
    b[5] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        chain.process(b)
    b[5] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        chain.process(b)
