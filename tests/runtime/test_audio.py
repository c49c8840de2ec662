"""Audio input: formats, dtypes, channels, resampling, bad files."""

import numpy as np
import pytest
import soundfile as sf

from catuvac.runtime.audio import AudioError, StreamResampler, load_audio, resample, to_mono_float
from tests.helpers.bad_files import assert_refuses_missing_and_garbage


def _tone(freq, sr, seconds=1.0):
    t = np.arange(int(sr * seconds)) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(x, sr):
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(spec)]


@pytest.mark.parametrize("sr", [8000, 22050, 44100, 48000])
def test_load_resamples_properly(tmp_path, sr):
    p = tmp_path / "a.wav"
    sf.write(p, _tone(1000.0, sr), sr)
    y = load_audio(p, 16000)
    assert y.dtype == np.float32 and abs(len(y) - 16000) <= 1
    assert _peak_hz(y, 16000) == pytest.approx(1000.0, abs=2.0)
    # proper polyphase resampling keeps the tone's level (slicing / naive decimation would alias)
    assert np.sqrt(np.mean(y[1000:-1000] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)


def test_anti_aliasing_removes_content_above_new_nyquist(tmp_path):
    p = tmp_path / "hi.wav"
    sf.write(p, _tone(12000.0, 48000), 48000)  # above 8 kHz: must vanish, not fold to 4 kHz
    y = load_audio(p, 16000)
    assert np.sqrt(np.mean(y[1000:-1000] ** 2)) < 0.01


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_formats_and_stereo_mixdown(tmp_path, subtype):
    p = tmp_path / "s.wav"
    left, right = _tone(500, 16000), np.zeros(16000, np.float32)
    sf.write(p, np.stack([left, right], 1), 16000, subtype=subtype)
    y = load_audio(p)
    np.testing.assert_allclose(y, left / 2, atol=1e-4)


def test_flac_and_ogg(tmp_path):
    for ext in ("flac", "ogg"):
        p = tmp_path / f"a.{ext}"
        sf.write(p, _tone(300, 16000), 16000)
        assert abs(len(load_audio(p)) - 16000) <= 1


def test_array_dtypes():
    np.testing.assert_allclose(to_mono_float(np.array([16384, -32768], np.int16)), [0.5, -1.0])
    np.testing.assert_allclose(to_mono_float(np.array([2**30], np.int32)), [0.5])
    np.testing.assert_allclose(to_mono_float(np.array([0.25], np.float64)), [0.25])
    assert to_mono_float(np.ones((10, 3), np.float32)).shape == (10,)
    with pytest.raises(AudioError, match="unsupported sample type"):
        to_mono_float(np.array(["a"]))
    with pytest.raises(AudioError, match="shape"):
        to_mono_float(np.zeros((2, 2, 2)))


def test_nan_inf_rejected_naming_the_file(tmp_path):
    p = tmp_path / "bad.wav"
    x = _tone(300, 16000)
    x[100] = np.nan
    sf.write(p, x, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="bad.wav.*NaN"):
        load_audio(p)
    with pytest.raises(AudioError, match="mic"):
        to_mono_float(np.array([0.0, np.inf], np.float32), name="mic")


def test_missing_corrupt_empty_files(tmp_path):
    assert_refuses_missing_and_garbage(load_audio, AudioError, tmp_path, "corrupt.wav", b"RIFF\x00\x00garbage" * 10,
                                       "corrupt.wav.*cannot read")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="no samples"):
        load_audio(empty)


def test_silence_loads_as_zeros(tmp_path):
    p = tmp_path / "z.wav"
    sf.write(p, np.zeros(8000, np.int16), 8000, subtype="PCM_16")
    y = load_audio(p)
    assert len(y) == 16000 and np.all(y == 0)


@pytest.mark.parametrize("sr_in", [8000, 22050, 44100, 48000])
def test_stream_resampler_matches_resample_poly_for_any_chunking(sr_in):
    rng = np.random.default_rng(sr_in)
    x = rng.standard_normal(sr_in)
    ref = resample(x, sr_in, 16000)
    outs = []
    for chunking in ([len(x)], list(rng.integers(1, 3000, size=200))):
        r = StreamResampler(sr_in, 16000)
        parts, i = [], 0
        for n in chunking:
            parts.append(r.process(x[i : i + n]))
            i += n
        parts.append(r.process(x[i:]))
        outs.append(np.concatenate(parts))
    np.testing.assert_array_equal(outs[0], outs[1])  # chunk-size invariant, bitwise
    n = len(outs[0])
    assert n >= len(ref) - r.half_len // r.down - 1  # holds back only its filter look-ahead
    np.testing.assert_allclose(outs[0], ref[:n], atol=1e-5)


def test_resample_same_rate_is_identity():
    x = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(resample(x, 16000, 16000), x)
    np.testing.assert_array_equal(StreamResampler(16000, 16000).process(x), x)


def test_truncated_wav_is_used_with_a_warning(tmp_path):
    """A WAV cut short (header promises more data than the file holds): the samples there, and a warning."""
    import soundfile as sf

    from catuvac.runtime.audio import load_audio
    from catuvac.runtime.errors import CatuvacWarning

    full = tmp_path / "full.wav"
    sf.write(full, (np.random.default_rng(0).standard_normal(16000) * 0.1).astype(np.float32), 16000, subtype="PCM_16")
    b = full.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(b[: len(b) // 2])
    with pytest.warns(CatuvacWarning, match="truncated"):
        x = load_audio(cut)
    assert 7900 < len(x) < 8100
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_audio(full)  # an intact file: no warning


def test_stream_resampler_memory_does_not_grow_with_the_chunk():
    """One minute at 48 kHz in one chunk used to allocate a 1.6-GB index array; now blocks of BLOCK outputs."""
    import tracemalloc

    x = (np.random.default_rng(1).standard_normal(48000 * 60) * 0.1).astype(np.float32)
    r = StreamResampler(48000, 16000)
    tracemalloc.start()
    y = r.process(x)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 100e6, f"peak {peak / 1e6:.0f} MB"
    ref = resample(x, 48000, 16000)
    assert np.allclose(y, ref[: len(y)], atol=1e-5) and len(ref) - len(y) < 40


def test_antiphase_stereo_is_noted():
    from catuvac.runtime.errors import CatuvacWarning

    s = (np.random.default_rng(2).standard_normal(8000) * 0.1).astype(np.float32)
    with pytest.warns(CatuvacWarning, match="antiphase"):
        m = to_mono_float(np.stack([s, -s], 1), name="pair")
    assert np.allclose(m, 0.0)
