"""FileSource on a 44.1 kHz stereo file; MicrophoneSource logic against a fake sounddevice."""

from __future__ import annotations

import builtins
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

import tests.helpers.scene_models as fx
from catuvac.runtime.audio import AudioError
from catuvac.runtime.clusterer import SceneClusterer
from catuvac.runtime.sources import (
    AudioDeviceError,
    FileSource,
    MicrophoneSource,
    NoInputDeviceError,
    import_sounddevice,
    list_input_devices,
    resolve_input_device,
)
from tests.helpers.bad_files import assert_refuses_missing_and_garbage
from tests.helpers.fake_sounddevice import MIC, SPK, make_fake_sd


# ------------------------------------------------------------------ file source
def test_file_source_44k_stereo(tmp_path: Path, small_model: Path) -> None:
    from scipy.signal import resample_poly

    x16 = np.concatenate([fx.scene_audio(4.0, 0, 4, 16000, seed=11), fx.scene_audio(4.0, 3, 4, 16000, seed=12)])
    x44 = resample_poly(x16.astype(np.float64), 441, 160)
    stereo = np.stack([x44, 0.5 * x44], axis=1)
    p = tmp_path / "st.wav"
    sf.write(p, stereo, 44100, subtype="PCM_16")
    src = FileSource(p, chunk_size=3000)
    assert (src.sample_rate, src.channels) == (44100, 2)
    assert src.duration_s == pytest.approx(8.0, abs=1e-3)
    chunks = list(src)
    assert all(c.shape[1] == 2 and c.dtype == np.float32 and sr == 44100 for c, sr in chunks)
    assert sum(c.shape[0] for c, _ in chunks) == src.frames
    assert max(c.shape[0] for c, _ in chunks) == 3000
    # replayed through the clusterer: same decisions as the 16-kHz mono original
    ev = SceneClusterer(small_model).process_file(p)
    ref = SceneClusterer(small_model).process(x16 * 0.75, 16000)
    assert len(ref) - 1 <= len(ev) <= len(ref)
    assert [e.cluster for e in ev] == [e.cluster for e in ref][: len(ev)]
    assert [e.cluster for e in ev][0] == 0 and [e.cluster for e in ev][-1] == 3
    # max_seconds
    assert sum(c.shape[0] for c, _ in FileSource(p, max_seconds=1.0)) == 44100


def test_file_source_errors(tmp_path: Path) -> None:
    assert_refuses_missing_and_garbage(FileSource, AudioError, tmp_path, "junk.wav", b"RIFF1234garbage", "cannot read audio")
    with pytest.raises(AudioError, match="directory"):
        FileSource(tmp_path)


# ------------------------------------------------------------------ fake sounddevice


def test_microphone_counts_overflows_and_drops(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", make_fake_sd([MIC, SPK], default_in=0, blocks=6, overflow_at=(1, 4)))
    mic = MicrophoneSource(sample_rate=16000, block_size=160, max_queue_blocks=4)
    with mic:
        assert mic.sample_rate == 16000 and mic.device_info is not None and mic.device_info["name"] == "Fake Mic"
        got = [mic.read(timeout=0.1) for _ in range(4)]
    assert all(b.shape == (160, 1) for b in got)
    assert mic.input_overflows == 2  # status.input_overflow flagged twice
    assert mic.dropped_blocks == 2  # 6 blocks into a 4-block queue
    assert mic.overflows == 4


def test_microphone_iterates_to_max_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", make_fake_sd([MIC], default_in=0, blocks=10))
    with MicrophoneSource(sample_rate=16000, block_size=1000, max_seconds=0.25) as mic:
        chunks = list(mic)
    assert sum(c.shape[0] for c, _ in chunks) == 4000
    assert mic.overflows == 0


def test_microphone_timeout_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", make_fake_sd([MIC], default_in=0, blocks=0))
    with MicrophoneSource(timeout=0.05) as mic:
        with pytest.raises(AudioDeviceError, match="no audio from input device"):
            mic.read()
    assert mic.sample_rate == 48000  # no rate requested: the device's default


def test_no_input_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", make_fake_sd([SPK]))
    assert list_input_devices() == []
    with pytest.raises(NoInputDeviceError, match=r"no audio input device.*--list-devices.*--device ID.*--file PATH"):
        MicrophoneSource().open()


def test_device_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    mic2 = dict(MIC, index=2, name="USB Headset")
    monkeypatch.setitem(sys.modules, "sounddevice", make_fake_sd([MIC, SPK, mic2], default_in=-1))
    assert resolve_input_device(None)["index"] == 0  # no default: the first input
    assert resolve_input_device("2")["name"] == "USB Headset"
    assert resolve_input_device("headset")["index"] == 2
    with pytest.raises(NoInputDeviceError, match="device 1 is not an input device"):
        resolve_input_device(1)
    with pytest.raises(NoInputDeviceError, match="no input device matches"):
        resolve_input_device("webcam")


def test_portaudio_missing_message(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def fake_import(name: str, *a: Any, **k: Any) -> Any:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *a, **k)

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(AudioDeviceError, match=r"apt-get install libportaudio2.*--file PATH"):
        import_sounddevice()
