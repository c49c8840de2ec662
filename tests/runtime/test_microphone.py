"""The microphone path on a real PortAudio input device.

`make test` runs tools/audio_device.sh first: a private PulseAudio daemon with a null sink
whose monitor is the default source. Here we play a known signal into that sink with `paplay`
and capture it through PortAudio (ALSA's "pulse" device) with MicrophoneSource — no mocks.
When the device could not be set up, the tests are skipped with the exact reason the set-up
script recorded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import tests.helpers.scene_models as fx
from catuvac.runtime.clusterer import SceneClusterer
from catuvac.runtime.sources import AudioDeviceError, MicrophoneSource, import_sounddevice, list_input_devices
from tests.helpers.pulse import ensure_pulse

pytestmark = pytest.mark.audio_device


SINK = "catuvac_sink"
TONE_HZ = 1000.0


@pytest.fixture(scope="module")
def pulse_device(tmp_path_factory: pytest.TempPathFactory) -> dict:
    if shutil.which("paplay") is None:
        pytest.skip("paplay (pulseaudio-utils) not installed: cannot play into the null sink")
    reason = ensure_pulse()  # restarts a daemon that died since `make audio-device`
    if reason is not None:
        pytest.skip(reason)
    try:
        sd = import_sounddevice()
    except AudioDeviceError as e:
        pytest.skip(str(e))
    devs = list_input_devices(sd)
    for name in ("pulse", "default"):
        for d in devs:
            if d["name"] == name:
                return d
    pytest.skip(f"PortAudio lists no 'pulse'/'default' input device (inputs: {[d['name'] for d in devs]}); is libasound2-plugins installed?")


def _play(path: Path) -> subprocess.Popen:
    return subprocess.Popen(["paplay", f"--device={SINK}", str(path)], env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_capture_tone_and_cluster(pulse_device: dict, small_model: Path, tmp_path: Path) -> None:
    sr_play = 48000
    t = np.arange(int(4.0 * sr_play)) / sr_play
    noise = fx.scene_audio(4.0, 3, 4, sr_play, seed=5)  # the test model's cluster 3 (6-kHz band noise)
    sig = 0.3 * np.sin(2 * np.pi * TONE_HZ * t) + noise
    wav = tmp_path / "probe.wav"
    sf.write(wav, sig.astype(np.float32), sr_play)

    clusterer = SceneClusterer(small_model)
    captured, events = [], []
    with MicrophoneSource(pulse_device["index"], sample_rate=16000, block_size=800, max_seconds=3.5) as mic:
        player = _play(wav)
        try:
            for chunk, sr in mic:
                captured.append(chunk[:, 0].copy())
                events += clusterer.process(chunk, sr)
        finally:
            _, perr = player.communicate(timeout=20)
    assert player.returncode == 0, f"paplay failed: {perr.decode(errors='replace')}"
    assert mic.sample_rate == 16000
    x = np.concatenate(captured)
    assert len(x) == int(3.5 * 16000)
    active = x[np.abs(x) > 1e-3]
    assert len(active) > 16000, "less than 1 s of non-silent audio arrived from the device"
    rms = float(np.sqrt(np.mean(active**2)))
    assert 0.05 < rms < 1.0
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    peak = np.fft.rfftfreq(len(x), 1 / 16000)[np.argmax(spec)]
    assert abs(peak - TONE_HZ) < 5.0, f"dominant frequency {peak:.1f} Hz, played {TONE_HZ} Hz"
    # 3.5 s through a 2-s window: 2 decisions; the last window is all probe signal
    assert len(events) == 2
    offline = SceneClusterer(small_model).process(fx.scene_audio(2.0, 3, 4, 16000, seed=6) + 0.3 * np.sin(2 * np.pi * TONE_HZ * np.arange(32000) / 16000).astype(np.float32), 16000)
    assert events[-1].cluster == offline[-1].cluster
    # the consumer keeps up (a 256-block queue): at most a stray PortAudio overflow on a loaded CI box
    assert mic.dropped_blocks == 0 and mic.input_overflows <= 2


def test_real_device_drops_are_counted(pulse_device: dict) -> None:
    # a consumer that stalls: the bounded queue fills and every lost block is counted
    with MicrophoneSource(pulse_device["index"], sample_rate=16000, block_size=160, max_queue_blocks=3) as mic:
        first = mic.read(timeout=5.0)  # ALSA's pulse plugin takes ~1.5 s to deliver the first block
        time.sleep(0.5)  # ~50 blocks of 10 ms arrive; 3 fit in the queue
    assert first.shape == (160, 1)
    assert mic.dropped_blocks >= 20
    assert mic.overflows == mic.input_overflows + mic.dropped_blocks >= 20
