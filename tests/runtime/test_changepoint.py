"""The acoustic change detector: what it scores, chunk invariance, the batch helper, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from catuvac.runtime.changepoint import N_BANDS, ChangeDetector, ChangeDetectorConfig, ChangeDetectorError, change_scores
from catuvac.runtime.frontend import FrontEnd, FrontEndConfig

HOP = 0.03  # s, the scenes front-end's hop
FPS = int(round(1 / HOP))


def steady(n_frames: int, level_db: float, rng: np.random.Generator, f: int = 128, spread_db: float = 3.0) -> np.ndarray:
    """Raw log-power frames (ln) of a steady sound: a flat level with frame-to-frame fluctuation."""
    db = level_db + spread_db * rng.standard_normal((f, n_frames))
    return (db * np.log(10) / 10).astype(np.float32)


def test_step_in_level_scores_its_size_in_db_and_a_click_does_not() -> None:
    rng = np.random.default_rng(0)
    before, after = steady(15 * FPS, -40, rng), steady(6 * FPS, -28, rng)
    x = np.concatenate([before, after], axis=1)
    n = 15 * FPS
    ends = np.arange(4 * FPS, x.shape[1] + 1, FPS)
    s = change_scores(x, ends, HOP)
    assert np.all(s[ends <= n] < 1.0)  # steady: the medians agree within the fluctuation
    # once the recent 2 s are the new sound, the score is the 12-dB step
    assert abs(s[ends == n + 2 * FPS][0] - 12.0) < 1.0
    # a 0.3-s click 30 dB up inside the steady part barely moves the median of the last 2 s
    click = before.copy()
    click[:, 10 * FPS : 10 * FPS + 9] += np.float32(30 * np.log(10) / 10)
    s_click = change_scores(click, np.arange(4 * FPS, click.shape[1] + 1, FPS), HOP)
    assert s_click.max() < 1.5


def test_a_change_of_spectral_shape_at_equal_level_is_seen() -> None:
    rng = np.random.default_rng(1)
    a, b = steady(12 * FPS, -40, rng), steady(4 * FPS, -40, rng)
    tilt = np.linspace(-10, 10, 128)[:, None] * np.log(10) / 10  # same mean level, other shape
    x = np.concatenate([a, b + tilt.astype(np.float32)], axis=1)
    s = change_scores(x, [12 * FPS, 12 * FPS + 3 * FPS], HOP)
    assert s[0] < 1.0 and s[1] > 4.0


def test_streaming_is_chunk_invariant_and_equals_the_batch_helper() -> None:
    rng = np.random.default_rng(2)
    x = np.concatenate([steady(9 * FPS, -50, rng), steady(9 * FPS, -30, rng, spread_db=6)], axis=1)
    ends = list(range(FPS, x.shape[1] + 1, 7))
    batch = change_scores(x, ends, HOP)
    det = ChangeDetector(128, HOP)
    got, done = [], 0
    for e in ends:  # uneven chunks, some split in two
        mid = done + rng.integers(0, e - done + 1)
        det.push(x[:, done:mid])
        det.push(x[:, mid:e])
        done = e
        got.append(det.score())
    np.testing.assert_allclose(got, batch, rtol=0, atol=1e-5)
    det.reset()
    assert det.frames == 0 and det.score() == 0.0
    # a chunk longer than the whole ring keeps only what the ring holds
    big = ChangeDetector(128, HOP)
    big.push(x)
    assert big.score() == pytest.approx(change_scores(x, [x.shape[1]], HOP)[0], abs=1e-5)


def test_nothing_to_compare_scores_zero_and_the_state_is_bounded() -> None:
    det = ChangeDetector(128, HOP, config=ChangeDetectorConfig(recent_s=1.0, reference_s=2.0))
    assert det.score() == 0.0
    det.push(steady(FPS, -40, np.random.default_rng(3)))  # only the recent second: no reference yet
    assert det.score() == 0.0
    size = det._ring.nbytes
    det.push(steady(100 * FPS, -40, np.random.default_rng(4)))
    assert det._ring.nbytes == size and det._ring.shape == (N_BANDS, det.n_recent + det.n_reference)


def test_magnitude_features_give_the_same_decibels() -> None:
    """power = 1 (a magnitude spectrogram) is scaled to the same dB as power = 2."""
    rng = np.random.default_rng(5)
    audio = np.concatenate([0.01 * rng.standard_normal(16000 * 12), 0.1 * rng.standard_normal(16000 * 4)])
    pw, mag = FrontEndConfig.scenes(), FrontEndConfig(kind="spectrogram", power=1.0)
    fp, fm = FrontEnd(pw).features(audio), FrontEnd(mag).features(audio)
    sp = change_scores(fp, [fp.shape[1]], pw.hop_seconds, pw.power)[0]
    sm = change_scores(fm, [fm.shape[1]], mag.hop_seconds, mag.power)[0]
    assert sp == pytest.approx(20.0, abs=1.0) and sm == pytest.approx(20.0, abs=1.0)


def test_bad_settings_and_input() -> None:
    with pytest.raises(ChangeDetectorError, match="recent_s must be"):
        ChangeDetectorConfig(recent_s=0)
    with pytest.raises(ChangeDetectorError, match="needs ≥ 16 features"):
        ChangeDetector(8, HOP)
    with pytest.raises(ChangeDetectorError, match="hop_seconds must be positive"):
        ChangeDetector(128, float("nan"))
    with pytest.raises(ChangeDetectorError, match="frame counts must increase"):
        change_scores(np.zeros((128, 50), np.float32), [30, 20], HOP)
