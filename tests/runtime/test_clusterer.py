"""SceneClusterer: metadata contract, events, cadence, chunk-size invariance, input validation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tests.helpers.scene_models as fx
from catuvac.runtime.audio import AudioError
from catuvac.runtime.changepoint import change_scores
from catuvac.runtime.clusterer import ClustererError, SceneClusterer, SceneEvent
from catuvac.runtime.frontend import FrontEnd, FrontEndConfig, window_level_db, window_level_spread_db
from catuvac.runtime.modelmeta import ModelMetadataError
from catuvac.runtime.smoothing import SmoothingConfig
from tests.helpers.bad_files import assert_refuses_missing_and_garbage

SR = 16000


def _events_equal(a: list[SceneEvent], b: list[SceneEvent], atol: float = 0.0) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.same_decision(y, atol=atol), (x.to_dict(), y.to_dict())


# ------------------------------------------------------------------ the model contract
def test_refuses_model_without_metadata(no_meta_model: Path) -> None:
    with pytest.raises(ModelMetadataError, match="not a catuvac model.*catuvac-export"):
        SceneClusterer(no_meta_model)


def test_refuses_missing_file_and_garbage(tmp_path: Path) -> None:
    assert_refuses_missing_and_garbage(SceneClusterer, ModelMetadataError, tmp_path, "bad.onnx", b"not onnx at all",
                                       "not a valid ONNX model")


def test_refuses_wrong_input_name(model_dir: Path) -> None:
    p = fx.build_test_model(model_dir / "wrongname.onnx", input_name="x")
    with pytest.raises(ModelMetadataError, match="input named 'logmel'"):
        SceneClusterer(p)


def test_properties_from_metadata(small_model: Path, model4s: Path) -> None:
    c = SceneClusterer(small_model)
    assert (c.n_clusters, c.sample_rate, c.window_frames) == (4, 16000, 65)
    assert c.info.window_seconds == 2.0
    assert c.decision_frames == 33 and c.decision_interval_s == pytest.approx(0.99)
    c4 = SceneClusterer(model4s)
    assert (c4.n_clusters, c4.window_frames, c4.info.frontend.n_features) == (7, 132, 128)


def test_bad_arguments(small_model: Path) -> None:
    with pytest.raises(ClustererError, match="decision_interval"):
        SceneClusterer(small_model, decision_interval=0)
    c = SceneClusterer(small_model)
    for bad in (None, "16000", 16000.5, -16000, True):
        with pytest.raises(AudioError, match="sample_rate"):
            c.process(np.zeros(100, np.float32), bad)  # type: ignore[arg-type]


def test_absurd_rate_and_channels_first_are_refused(small_model: Path) -> None:
    """48 (kHz by mistake) used to yield 82 decisions from 0.085 s; (channels, frames) yielded nothing."""
    c = SceneClusterer(small_model)
    with pytest.raises(AudioError, match="48000 Hz"):
        c.process(np.zeros(4096, np.float32), 48)
    with pytest.raises(AudioError, match="outside"):
        c.process(np.zeros(4096, np.float32), 1_000_000)
    with pytest.raises(AudioError, match=r"\(channels, frames\).*chunk\.T"):
        c.process(np.zeros((2, 16000), np.float32), 16000)
    assert c.samples_in == 0  # nothing was consumed
    assert c.process(np.zeros((16000, 2), np.float32), 16000) == [] and c.samples_in == 16000


# ------------------------------------------------------------------ events and cadence
def test_events_fields_and_cadence(small_model: Path, low_high_audio: tuple[np.ndarray, int]) -> None:
    x, sr = low_high_audio  # 16 s: 8 s low band noise, 8 s high band noise
    # the EMA rule: its reaction time is pinned below (the HMM rules are tested in test_decisions.py)
    c = SceneClusterer(small_model, profile_map={"0": "quiet", "3": "noisy"}, decision="ema",
                       decision_config=SmoothingConfig())
    assert c.states == ("quiet", "default", "noisy") and c.decision_rule == "ema"
    ev = c.process(x, sr)
    W, E, hop, nfft = 65, 33, 480, 960
    n_frames = 1 + (len(x) - nfft) // hop
    assert len(ev) == 1 + (n_frames - W) // E
    for j, e in enumerate(ev):
        assert isinstance(e, SceneEvent)
        n = W + j * E
        assert e.time_s == pytest.approx(((n - 1) * hop + nfft) / SR)
        assert e.probs.shape == (4,) and e.probs.dtype == np.float32
        assert e.probs.sum() == pytest.approx(1.0, abs=1e-5)
        assert e.cluster == int(np.argmax(e.probs))
        assert e.smoothed.shape == (3,)  # pooled over the profiles quiet / default / noisy
        assert not e.partial
        assert e.inference_ms > 0
        d = e.to_dict()
        assert set(d) == {"time_s", "cluster", "probs", "smoothed", "stable", "changed", "profile", "partial", "inference_ms",
                          "change_score", "level_db", "level_spread_db"}
    # the first window is the first decision, after ~2 s; events are ~0.99 s apart
    assert ev[0].time_s == pytest.approx(1.98)
    assert np.diff([e.time_s for e in ev]) == pytest.approx(0.99)
    # low noise → cluster 0, high noise → cluster 3; the stable decision follows with a delay
    assert all(e.cluster == 0 and e.stable == 0 and e.profile == "quiet" for e in ev if e.time_s <= 8.0)
    assert all(e.cluster == 3 for e in ev if e.time_s >= 10.0)
    first_change = next(e for e in ev if e.stable == 3)
    assert 8.0 < first_change.time_s <= 8.0 + 2.0 + 3 * 0.99 + 1e-6  # half-window + 3 decisions
    assert first_change.changed and first_change.profile == "noisy"
    assert ev[0].changed and sum(e.changed for e in ev) == 2
    assert c.switches == 1
    # the acoustic change score of each decision is the detector's on the same frames
    feats = FrontEnd(FrontEndConfig.scenes()).features(x)
    expect = change_scores(feats, [W + j * E for j in range(len(ev))], hop / SR)
    np.testing.assert_allclose([e.change_score for e in ev], expect, atol=1e-4)
    assert max(e.change_score for e in ev if 8.0 < e.time_s <= 11.0) > 10.0  # low → high band noise
    assert all(e.change_score < 3.0 for e in ev if e.time_s <= 7.0)
    # the level of each decision's window is the front-end's window level of the same frames
    expect_level = [window_level_db(feats[:, W + j * E - W : W + j * E]) for j in range(len(ev))]
    np.testing.assert_allclose([e.level_db for e in ev], expect_level, atol=1e-3)
    expect_spread = [window_level_spread_db(feats[:, W + j * E - W : W + j * E]) for j in range(len(ev))]
    np.testing.assert_allclose([e.level_spread_db for e in ev], expect_spread, atol=1e-3)


def test_decision_interval_is_configurable(small_model: Path, low_high_audio: tuple[np.ndarray, int]) -> None:
    x, sr = low_high_audio
    ev = SceneClusterer(small_model, decision_interval=0.5).process(x[: 6 * sr], sr)
    assert np.diff([e.time_s for e in ev]) == pytest.approx(0.51)  # round(0.5 / 0.03) = 17 hops of 30 ms
    ev2 = SceneClusterer(small_model, decision_interval=3.0).process(x[: 6 * sr], sr)
    assert np.diff([e.time_s for e in ev2]) == pytest.approx(3.0)


def test_partial_decisions(small_model: Path, low_high_audio: tuple[np.ndarray, int]) -> None:
    x, sr = low_high_audio
    ev = SceneClusterer(small_model, allow_partial=True).process(x[: 4 * sr], sr)
    full = SceneClusterer(small_model).process(x[: 4 * sr], sr)
    partial = [e for e in ev if e.partial]
    assert len(partial) == 1  # at 33 frames (< 65)
    assert partial[0].time_s == pytest.approx((32 * 480 + 960) / SR)
    assert partial[0].cluster == 0 and partial[0].changed
    # once the window is full the grid is the same as without partial decisions
    assert [e.time_s for e in ev if not e.partial] == [e.time_s for e in full]
    np.testing.assert_array_equal(ev[1].probs, full[0].probs)


def test_short_input_gives_no_event_and_empty_chunk(small_model: Path) -> None:
    c = SceneClusterer(small_model)
    assert c.process(np.zeros(0, np.float32), SR) == []
    assert c.process(np.zeros((0, 2), np.int16), SR) == []
    assert c.process(fx.scene_audio(1.0, 0, 4, SR), SR) == []
    assert c.frames_total == 1 + (SR - 960) // 480


# ------------------------------------------------------------------ chunk-size invariance
_INV_AUDIO = np.concatenate([fx.scene_audio(3.5, 1, 4, SR, seed=7), fx.scene_audio(3.0, 2, 4, SR, seed=8)])


@pytest.fixture(scope="module")
def inv_clusterer(small_model: Path) -> tuple[SceneClusterer, list[SceneEvent]]:
    c = SceneClusterer(small_model, allow_partial=True)
    return c, c.process(_INV_AUDIO, SR)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(min_value=1, max_value=6000), min_size=1, max_size=40))
def test_chunk_size_invariance(inv_clusterer: tuple[SceneClusterer, list[SceneEvent]], sizes: list[int]) -> None:
    c, ref = inv_clusterer
    assert len(ref) >= 5
    c.reset()
    events: list[SceneEvent] = []
    i, k = 0, 0
    while i < len(_INV_AUDIO):
        n = sizes[k % len(sizes)]
        events += c.process(_INV_AUDIO[i : i + n], SR)
        i += n
        k += 1
    _events_equal(events, ref, atol=1e-6)


def test_tiny_chunks_identical(small_model: Path, low_high_audio: tuple[np.ndarray, int]) -> None:
    x, sr = low_high_audio
    x = x[: 5 * sr]
    c = SceneClusterer(small_model)
    ref = c.process(x, sr)
    c.reset()
    got = [e for i in range(0, len(x), 37) for e in c.process(x[i : i + 37], sr)]
    _events_equal(got, ref)  # bitwise


# ------------------------------------------------------------------ input validation
def test_resampling_48k_matches_16k(small_model: Path, low_high_audio: tuple[np.ndarray, int]) -> None:
    from scipy.signal import resample_poly

    x, sr = low_high_audio
    x48 = resample_poly(x.astype(np.float64), 3, 1).astype(np.float32)
    # EMA rule: its hysteresis keeps the stable decision off a knife edge the resampled q may fall on
    ref = SceneClusterer(small_model, decision="ema").process(x, sr)
    c = SceneClusterer(small_model, decision="ema")
    got = [e for i in range(0, len(x48), 4800) for e in c.process(x48[i : i + 4800], 48000)]
    # the resampler holds back a few samples of look-ahead: at most the last event may be missing
    assert len(ref) - 1 <= len(got) <= len(ref)
    for a, b in zip(got, ref):
        assert a.time_s == b.time_s
        assert a.cluster == b.cluster and a.stable == b.stable
        assert np.abs(a.probs - b.probs).max() < 0.02
    # chunking does not matter on the resampling path either
    c.reset()
    got2 = [e for i in range(0, len(x48), 1111) for e in c.process(x48[i : i + 1111], 48000)]
    _events_equal(got2, got, atol=1e-6)


def test_strict_sample_rate(small_model: Path) -> None:
    c = SceneClusterer(small_model, strict_sample_rate=True)
    with pytest.raises(AudioError, match="48000 Hz but the model expects 16000 Hz.*strict"):
        c.process(np.zeros(4800, np.float32), 48000)
    assert c.samples_in == 0
    c.process(np.zeros(1600, np.float32), 16000)
    assert c.samples_in == 1600


@pytest.mark.parametrize("dtype", ["int16", "int32", "float32", "float64"])
def test_dtypes_and_channels(small_model: Path, dtype: str) -> None:
    x = fx.scene_audio(3.0, 2, 4, SR, seed=3) * 0.5
    ref = SceneClusterer(small_model).process(x, SR)
    if dtype == "int16":
        xi = np.round(x * 32767).astype(np.int16)
    elif dtype == "int32":
        xi = np.round(x.astype(np.float64) * 2147483647).astype(np.int32)
    else:
        xi = x.astype(dtype)
    stereo = np.stack([xi, xi], axis=1)  # (frames, 2): mixed down to the same mono
    for arr in (xi, stereo):
        got = SceneClusterer(small_model).process(arr, SR)
        assert len(got) == len(ref) == 2
        for a, b in zip(got, ref):
            assert a.cluster == b.cluster == 2
            tol = 2e-3 if dtype == "int16" else 1e-5
            assert np.abs(a.probs - b.probs).max() < tol


def test_bad_dtype_and_shape(small_model: Path) -> None:
    c = SceneClusterer(small_model)
    with pytest.raises(AudioError, match="unsupported sample type"):
        c.process(np.zeros(100, np.complex64), SR)
    with pytest.raises(AudioError, match="shape"):
        c.process(np.zeros((2, 3, 4), np.float32), SR)


def test_nan_rejected_state_untouched(small_model: Path, low_high_audio: tuple[np.ndarray, int]) -> None:
    x, sr = low_high_audio
    x = x[: 6 * sr]
    ref = SceneClusterer(small_model).process(x, sr)
    c = SceneClusterer(small_model)
    half = 2 * sr + 123
    got = c.process(x[:half], sr)
    snapshot = (c.frames_total, c.samples_in, c._ring.copy(), c._smoother._alpha.copy(), c.stable)
    for bad_value in (np.nan, np.inf):
        bad = x[half : half + 5000].copy()
        bad[1234] = bad_value
        with pytest.raises(AudioError, match="NaN/Inf"):
            c.process(bad, sr)
        with pytest.raises(AudioError, match="NaN/Inf"):
            c.process(np.stack([bad, bad], 1), 48000)  # also before a resampler is created
    assert c._resamplers == {}
    assert (c.frames_total, c.samples_in, c.stable) == snapshot[:2] + (snapshot[4],)
    np.testing.assert_array_equal(c._ring, snapshot[2])
    np.testing.assert_array_equal(c._smoother._alpha, snapshot[3])
    got += c.process(x[half:], sr)
    _events_equal(got, ref)


def test_reset_equals_fresh(small_model: Path, low_high_audio: tuple[np.ndarray, int]) -> None:
    x, sr = low_high_audio
    c = SceneClusterer(small_model)
    c.process(np.random.default_rng(0).standard_normal(3 * 44100).astype(np.float32), 44100)  # dirty it, incl. a resampler
    c.process(x[:12345], sr)
    c.reset()
    assert c.stable is None and c.frames_total == 0 and c.time_s == 0.0
    _events_equal(c.process(x, sr), SceneClusterer(small_model).process(x, sr))


def test_process_file(small_model: Path, low_high_audio: tuple[np.ndarray, int], tmp_path: Path) -> None:
    x, sr = low_high_audio
    p = tmp_path / "lh.wav"
    sf.write(p, x, sr, subtype="FLOAT")
    c = SceneClusterer(small_model)
    a = c.process_file(p)
    b = c.process_file(p, chunk_size=777)  # resets in between
    _events_equal(a, SceneClusterer(small_model).process(x, sr))
    _events_equal(a, b)
    _events_equal(list(c.iter_file(p)), a)


def test_smoothing_off_follows_argmax(small_model: Path, low_high_audio: tuple[np.ndarray, int]) -> None:
    x, sr = low_high_audio
    ev = SceneClusterer(small_model, smoothing=SmoothingConfig.off()).process(x, sr)
    assert [e.stable for e in ev] == [e.cluster for e in ev]


def test_event_is_frozen(small_model: Path) -> None:
    ev = SceneClusterer(small_model).process(fx.scene_audio(2.0, 1, 4, SR), SR)
    assert len(ev) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev[0].stable = 3  # type: ignore[misc]


@pytest.mark.parametrize("rule", ["hmm", "fixed-lag", "ema"])
def test_pooled_decisions_are_chunk_invariant_and_follow_the_map(
    small_model: Path, low_high_audio: tuple[np.ndarray, int], rule: str
) -> None:
    from catuvac.runtime.decisions import HmmConfig, replay

    x, sr = low_high_audio  # 16 s: responsive settings (the tuned defaults wait longer than 8 s)
    cfg = {"hmm": HmmConfig(dwell_s=20.0, temperature=2.0, switch_prob=0.6),
           "fixed-lag": HmmConfig(dwell_s=20.0, temperature=2.0, switch_prob=0.6, lag_s=2.0), "ema": SmoothingConfig()}[rule]
    pmap = {"0": "quiet", "1": "quiet", "2": "noisy", "3": "noisy"}
    c = SceneClusterer(small_model, profile_map=pmap, decision=rule, decision_config=cfg)
    whole = c.process(x, sr)
    c.reset()
    pieces = [e for i in range(0, len(x), 777) for e in c.process(x[i : i + 777], sr)]
    _events_equal(pieces, whole)
    assert [e.profile for e in whole][0] == "quiet" and whole[-1].profile == "noisy"
    # the stable cluster belongs to the decided profile, and the decisions equal an offline replay of q(y|x)
    assert all(pmap[str(e.stable)] == e.profile for e in whole)
    offline = replay(rule, np.stack([e.probs for e in whole]), [e.time_s for e in whole], [pmap[str(k)] for k in range(4)],
                     c.decision_config, c.decision_interval_s, [e.change_score for e in whole])
    assert offline == [e.profile for e in whole]
    assert all(e.smoothed.shape == (2,) for e in whole)


@pytest.mark.parametrize("key, value", [("window_seconds", "four"), ("n_clusters", "7.5"), ("window_seconds", "inf")])
def test_non_numeric_metadata_is_a_one_line_error(small_model: Path, key: str, value: str) -> None:
    from catuvac.runtime.modelmeta import PREFIX, ModelInfo, read_model_info

    props = read_model_info(small_model).to_props()
    props[PREFIX + key] = value
    with pytest.raises(ModelMetadataError, match="metadata"):
        ModelInfo.from_props(props, "m.onnx")


def test_low_rate_input_is_noted_once(small_model: Path) -> None:
    import warnings

    from catuvac.runtime.errors import CatuvacWarning

    c = SceneClusterer(small_model)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        c.process(np.zeros(800, np.float32), 8000)
        c.process(np.zeros(800, np.float32), 8000)
    notes = [x for x in w if issubclass(x.category, CatuvacWarning)]
    assert len(notes) == 1 and "4000 Hz" in str(notes[0].message)


def test_map_level_model_weighs_the_pooled_evidence(small_model: Path, low_high_audio: tuple[np.ndarray, int]) -> None:
    """A level model that says "this level is noisy" turns the quiet-reading first half noisy;
    use_level=False (catuvac-listen --no-level) ignores it; decisions equal a replay with the levels."""
    from catuvac.runtime.decisions import HmmConfig, ProfilePooling, replay
    from catuvac.runtime.profiles_map import ProfileMap

    x, sr = low_high_audio
    cfg = HmmConfig(dwell_s=20.0, temperature=1.0, switch_prob=0.6, change_dwell_s=0.0)
    plain = {"0": "quiet", "1": "quiet", "2": "noisy", "3": "noisy"}
    base = SceneClusterer(small_model, profile_map=plain, decision="hmm", decision_config=cfg).process(x, sr)
    lv = [e.level_db for e in base]
    lo, hi = min(lv) - 10.0, max(lv) + 10.0
    level = {"grid_db": [lo, hi], "likelihood": {"quiet": [1e-4, 1e-4], "noisy": [1.0, 1.0]}}
    with_level = {**plain, "level": level}
    c = SceneClusterer(small_model, profile_map=with_level, decision="hmm", decision_config=cfg)
    ev = c.process(x, sr)
    assert base[0].profile == "quiet" and all(e.profile == "noisy" for e in ev)
    assert [e.level_db for e in ev] == lv
    ignored = SceneClusterer(small_model, profile_map=with_level, decision="hmm", decision_config=cfg, use_level=False)
    assert [e.profile for e in ignored.process(x, sr)] == [e.profile for e in base]
    pool = ProfilePooling.from_map(ProfileMap(with_level, n_clusters=4), 4)
    offline = replay("hmm", np.stack([e.probs for e in ev]), [e.time_s for e in ev], pool, cfg, c.decision_interval_s,
                     [e.change_score for e in ev], lv, [e.level_spread_db for e in ev])
    assert offline == [e.profile for e in ev]
