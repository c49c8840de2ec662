"""The shared log-mel front-end: reference check, streaming = batch, normalization, config."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catuvac.runtime.frontend import (
    FrontEnd,
    FrontEndConfig,
    FrontEndError,
    NormStats,
    fit_global_stats,
    mel_filterbank,
    normalize_window,
    window_level,
    window_level_db,
    window_level_spread_db,
)


def _noise(seconds=3.0, seed=0, sr=16000):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    return (0.1 * rng.standard_normal(len(t)) + 0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def test_paper_settings_and_frame_count():
    c = FrontEndConfig()
    assert (c.sample_rate, c.n_fft, c.win_length, c.hop_length, c.n_mels) == (16000, 960, 960, 480, 128)
    assert c.window_frames == 1 + (64000 - 960) // 480 == 132
    assert FrontEndConfig.scenes(10.0).window_frames == 332
    assert FrontEndConfig.audiomnist().window_frames == 122


def test_matches_librosa_mel_power_spectrogram():
    librosa = pytest.importorskip("librosa")
    x = _noise()
    ref = librosa.feature.melspectrogram(
        y=x, sr=16000, n_fft=960, hop_length=480, win_length=960, window="hann",
        center=False, power=2.0, n_mels=128,
    )
    ours = FrontEnd(FrontEndConfig()).power_features(x)
    assert ours.shape == ref.shape == (128, 99)
    assert np.max(np.abs(ours - ref) / np.abs(ref)) <= 1e-4
    fb = librosa.filters.mel(sr=16000, n_fft=960, n_mels=128)
    np.testing.assert_allclose(mel_filterbank(16000, 960, 128), fb, rtol=1e-4, atol=1e-9)


def test_production_log_features_batch_and_stream_match_librosa():
    """What training and the runtime feed the model (features(), the streaming front-end) against librosa."""
    librosa = pytest.importorskip("librosa")
    x = _noise()
    c = FrontEndConfig()
    ref = librosa.feature.melspectrogram(
        y=x, sr=16000, n_fft=960, hop_length=480, win_length=960, window="hann", center=False, power=2.0, n_mels=128,
    )
    want = np.log(np.maximum(ref, c.log_floor))
    fe = FrontEnd(c)
    batch = fe.features(x)
    stream = fe.stream()
    streamed = np.concatenate([stream.process(x[i : i + 1234]) for i in range(0, len(x), 1234)], axis=1)
    np.testing.assert_allclose(batch, want, atol=2e-4)
    np.testing.assert_allclose(streamed, want, atol=2e-4)


def test_spectrogram_variant_matches_librosa_magnitude_trimmed():
    librosa = pytest.importorskip("librosa")
    x = _noise(1.0)
    c = FrontEndConfig.audiomnist()
    ref = np.abs(librosa.stft(x, n_fft=512, hop_length=128, win_length=512, window="hann", center=False))[:128]
    ours = FrontEnd(c).power_features(x)
    assert ours.shape == (128, 122)
    assert np.max(np.abs(ours - ref) / np.maximum(np.abs(ref), 1e-6)) <= 1e-4


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=4000), min_size=1, max_size=40), st.sampled_from(["scenes", "audiomnist"]))
def test_streaming_equals_batch_for_any_chunking(chunks, kind):
    cfg = FrontEndConfig.scenes() if kind == "scenes" else FrontEndConfig.audiomnist()
    fe = FrontEnd(cfg)
    x = _noise(2.0, seed=len(chunks))
    batch = fe.features(x)
    s = fe.stream()
    outs, i = [], 0
    for n in chunks:
        outs.append(s.process(x[i : i + n]))
        i += n
    outs.append(s.process(x[i:]))
    streamed = np.concatenate(outs, axis=1)
    assert streamed.shape == batch.shape
    assert np.max(np.abs(streamed - batch)) <= 1e-6
    assert s.frames_emitted == batch.shape[1]


def test_stream_reset_restarts():
    fe = FrontEnd(FrontEndConfig())
    x = _noise(1.0)
    s = fe.stream()
    a = s.process(x)
    s.reset()
    np.testing.assert_array_equal(s.process(x), a)


def test_window_normalization_range_and_level_invariance():
    cfg = FrontEndConfig()
    fe = FrontEnd(cfg)
    x = _noise(4.0)
    a = fe.normalize(fe.features(x))
    b = fe.normalize(fe.features(x * 0.01))
    assert a.min() == pytest.approx(0.0, abs=1e-6) and a.max() == pytest.approx(1.0, abs=1e-6)
    # a gain is an additive constant in the log domain: per-window normalization removes it
    assert np.max(np.abs(a - b)) < 1e-4


def test_silence_gives_zeros_without_division_by_zero():
    cfg = FrontEndConfig()
    fe = FrontEnd(cfg)
    with np.errstate(all="raise"):
        out = fe.normalize(fe.features(np.zeros(64000, np.float32)))
    assert out.shape == (128, 132) and np.all(out == 0.0)


def test_global_normalization_is_level_aware_and_clipped():
    cfg = FrontEndConfig(normalization="global")
    fe = FrontEnd(cfg)
    train = [fe.features(_noise(4.0, seed=s) * g) for s, g in [(1, 1.0), (2, 0.5), (3, 0.1)]]
    stats = fit_global_stats(train)
    cfg2 = cfg.with_stats(stats)
    loud = normalize_window(train[0], cfg2)
    quiet = normalize_window(train[2], cfg2)
    assert loud.mean() > quiet.mean() + 0.05
    assert loud.min() >= 0.0 and loud.max() <= 1.0
    # statistics survive the JSON round trip (they travel inside checkpoints and ONNX metadata)
    assert FrontEndConfig.from_json(cfg2.to_json()) == cfg2
    with pytest.raises(FrontEndError, match="statistics"):
        normalize_window(train[0], cfg)


def test_window_level_keeps_the_window_map_and_adds_the_level():
    cfg = FrontEndConfig(normalization="window_level", level_weight=0.3)
    fe = FrontEnd(cfg)
    train = [fe.features(_noise(4.0, seed=s) * g) for s, g in [(1, 1.0), (2, 0.3), (3, 0.01)]]
    cfg2 = cfg.with_stats(fit_global_stats(train))
    window = FrontEndConfig()
    quiet_raw = fe.features(_noise(4.0, seed=1) * 0.01)  # train[0] at −40 dB
    loud, quiet = normalize_window(train[0], cfg2), normalize_window(quiet_raw, cfg2)
    for raw, out in ((train[0], loud), (quiet_raw, quiet)):
        # the paper's map, scaled by 1 − a, plus one constant per window: ℓ in (0, 1)
        lift = out - 0.7 * normalize_window(raw, window)
        assert np.ptp(lift) < 1e-5 and 0.0 < lift.mean() < 0.3
        assert lift.mean() == pytest.approx(0.3 * float(window_level(raw, cfg2)[0, 0]), abs=1e-6)
    # a gain of −40 dB leaves the shape and lowers the level: the two windows differ by a constant
    assert loud.mean() > quiet.mean() + 0.05
    np.testing.assert_allclose(loud - loud.mean(), quiet - quiet.mean(), atol=1e-4)
    # a batch gives the same windows as one at a time; silence maps to near zero without warnings
    np.testing.assert_allclose(normalize_window(np.stack([train[1], quiet_raw]), cfg2)[1], quiet, atol=1e-7)
    with np.errstate(all="raise"):
        assert normalize_window(fe.features(np.zeros(64000, np.float32)), cfg2).max() < 0.01
    assert FrontEndConfig.from_json(cfg2.to_json()) == cfg2
    assert cfg2.feature_key() == FrontEndConfig().feature_key()  # the raw frames (and the cache) are shared
    with pytest.raises(FrontEndError, match="statistics"):
        normalize_window(train[0], cfg)
    with pytest.raises(FrontEndError, match="level_weight"):
        FrontEndConfig(normalization="window_level", level_weight=1.0)


def test_config_errors_are_clear():
    with pytest.raises(FrontEndError, match="normalization"):
        FrontEndConfig(normalization="banana")
    with pytest.raises(FrontEndError, match="bins"):
        FrontEndConfig(normalization="global", stats=NormStats((0.0,), (1.0,), 0.0, 1.0))
    with pytest.raises(FrontEndError, match="unknown"):
        FrontEndConfig.from_dict({**FrontEndConfig().to_dict(), "surprise": 1})
    with pytest.raises(FrontEndError, match="mono"):
        FrontEnd(FrontEndConfig()).features(np.zeros((100, 2)))


def test_feature_key_ignores_normalization_but_not_stft():
    a = FrontEndConfig()
    assert a.feature_key() == FrontEndConfig(normalization="global").feature_key()
    assert a.feature_key() == FrontEndConfig(window_seconds=10.0).feature_key()
    assert a.feature_key() != FrontEndConfig(n_mels=64).feature_key()


def test_short_input_has_no_frames():
    fe = FrontEnd(FrontEndConfig())
    assert fe.features(np.zeros(500, np.float32)).shape == (128, 0)


def test_dynamic_range_clamp_keeps_content_from_being_squashed():
    from catuvac.runtime.frontend import clamp_dynamic_range

    cfg = FrontEndConfig(dynamic_range_db=80.0)
    fe = FrontEnd(cfg)
    t = np.arange(64000) / 16000
    noise = 1e-3 * np.random.default_rng(0).standard_normal(len(t))
    x = ((0.5 * np.sin(2 * np.pi * 440 * t) + noise) * (t < 2.0)).astype(np.float32)  # tone in noise, then digital silence
    raw = fe.features(x)
    clamped = clamp_dynamic_range(raw, cfg)
    span = 80.0 * np.log(10.0) / 10.0  # 80 dB of power in natural-log units
    assert clamped.min() == pytest.approx(raw.max() - span, abs=1e-4)
    assert raw.min() < clamped.min()  # the log floor (-230 dB) was below the clamp
    with_clamp = normalize_window(raw, cfg)
    without = normalize_window(raw, FrontEndConfig(dynamic_range_db=None))
    # the sounding frames use more of [0, 1] once the digital-silence floor no longer sets the minimum
    tone = slice(0, 60)
    assert np.ptp(with_clamp[:, tone]) == pytest.approx(1.0, abs=1e-6)
    assert np.ptp(without[:, tone]) < 0.8
    assert with_clamp[:, tone].std() > 1.4 * without[:, tone].std()


def test_window_level_db_is_the_mean_power_in_db():
    # half the bins at power 1e-4, half at 1e-2: mean power 5.05e-3 → -22.97 dB; magnitude features: 20·log10
    x = np.log(np.concatenate([np.full((64, 10), 1e-4), np.full((64, 10), 1e-2)]))
    assert window_level_db(x) == pytest.approx(10 * np.log10(5.05e-3))
    assert window_level_db(x, power=1.0) == pytest.approx(20 * np.log10(5.05e-3))
    # batches, and no overflow for very loud or very quiet raw features
    b = window_level_db(np.stack([x, x + np.log(10.0), np.full((128, 10), 800.0)]))
    assert b.shape == (3,) and b[1] - b[0] == pytest.approx(10.0) and np.isfinite(b[2])
    # the level the per-window normalization removes: a 20 dB louder signal, same normalized window
    fe = FrontEnd(FrontEndConfig.scenes())
    a = fe.features(_noise(5.0))[:, :100]
    loud = fe.features(10 * _noise(5.0))[:, :100]
    assert window_level_db(loud) - window_level_db(a) == pytest.approx(20.0, abs=0.01)


def test_window_level_spread_db_is_the_spread_of_frame_levels():
    # frames alternating 1e-2 / 1e-4 power: frame levels -20 / -40 dB, spread 10 dB; gain does not move it
    cols = [np.full(64, 1e-2 if j % 2 == 0 else 1e-4) for j in range(10)]
    x = np.log(np.stack(cols, axis=1))
    assert window_level_spread_db(x) == pytest.approx(10.0)
    assert window_level_spread_db(x + np.log(100.0)) == pytest.approx(10.0)
    assert window_level_spread_db(x, power=1.0) == pytest.approx(20.0)
    assert window_level_spread_db(np.stack([x, np.zeros_like(x)])) == pytest.approx([10.0, 0.0])
