"""The live hearing aid on a real PortAudio duplex device (PulseAudio null sinks, set up by `make test`).

tools/audio_device.sh creates two 16-kHz float sinks: the test plays a known signal into
``catuvac_live_in``; the live simulation captures that sink's monitor (PULSE_SOURCE) through
PortAudio's "pulse" device, runs the chain with the clusterer beside it and plays into
``catuvac_live_out`` (PULSE_SINK), whose monitor the test records with ``parec``. The clusterer's
first stable decision switches the profile mid-stream (handed from its thread to the callback).
The recorded device output must be the offline chain's output on the same input with that
switch at the same block (:func:`replay`), up to the path's latency
(found by cross-correlation) and a tolerance of 60 dB SNR per 0.25-s segment (float samples
all the way: measured ≈ 152 dB, float32 rounding; PulseAudio may drop or repeat a few ms under load, hence
segments, of which 80 % must match).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import tests.helpers.scene_models as fx
from catuvac.firmware_sim.live import LiveConfig, LiveSimulator, replay
from catuvac.firmware_sim.simulator import HearingAidSimulator
from catuvac.runtime.clusterer import SceneClusterer
from tests.helpers.pulse import ensure_pulse

pytestmark = pytest.mark.audio_device


SR = 16000
LIVE_IN, LIVE_OUT = "catuvac_live_in", "catuvac_live_out"
SEG = SR // 4


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.build_test_model(tmp_path_factory.mktemp("live") / "m.onnx", window_seconds=1.0, n_clusters=4)


def _xcorr_lag(a: np.ndarray, b: np.ndarray) -> int:
    """Where ``b`` starts inside ``a`` (lag of the cross-correlation peak)."""
    n = len(a) + len(b)
    c = np.fft.irfft(np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n)), n)
    k = int(np.argmax(c))
    return k if k < len(a) else k - n


def _segment_snr(captured: np.ndarray, reference: np.ndarray) -> list[tuple[int, float]]:
    """Per 0.25-s segment of ``reference``: (lag inside ``captured``, SNR dB of the aligned match)."""
    out = []
    for s in range(0, len(reference) - SEG + 1, SEG):
        r = reference[s : s + SEG]
        k = _xcorr_lag(captured, r)
        seg = captured[k : k + SEG] if k >= 0 else np.zeros(0)
        if len(seg) < SEG:
            out.append((k - s, -np.inf))
            continue
        err = float(np.sum((seg - r) ** 2))
        out.append((k - s, 10 * np.log10(float(np.sum(r**2)) / max(err, 1e-30))))
    return out


def _wait(cond, timeout: float) -> bool:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if cond():
            return True
        time.sleep(0.05)
    return False


class _SilentCapture(Exception):
    """PulseAudio did not route a stream through the test sinks (all-zero output monitor, or an input
    that does not carry the played probe, e.g. while another client plays into the same sink)."""


def test_live_output_on_the_device_is_the_offline_chain_output(
    pulse_device: dict, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On the null-sink set-up PulseAudio now and then leaves the capture of the output monitor all-zero
    # (about 1 run in 5 here): a routing hiccup of the test device, not of the chain. Only that case is
    # retried; a captured output that differs from the offline chain fails at once.
    for attempt in range(3):
        try:
            return _live_vs_offline(pulse_device, tiny_model, tmp_path / f"try{attempt}", monkeypatch)
        except _SilentCapture:
            continue
    pytest.fail("PulseAudio did not route the probe through the test sinks in 3 runs")


def _live_vs_offline(
    pulse_device: dict, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path.mkdir(parents=True, exist_ok=True)
    _require_pulse()
    monkeypatch.setenv("PULSE_SOURCE", f"{LIVE_IN}.monitor")  # read by libpulse when the stream opens
    monkeypatch.setenv("PULSE_SINK", LIVE_OUT)

    rng = np.random.default_rng(3)
    t = np.arange(int(2.5 * SR)) / SR
    probe = (0.15 * np.sin(2 * np.pi * 700 * t) * (1 + 0.5 * np.sin(2 * np.pi * 2 * t))
             + fx.scene_audio(2.5, 1, 4, SR, seed=7) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)
    lead = np.zeros(2 * SR, dtype=np.float32)  # ALSA's pulse plugin takes ~1.5 s to deliver its first block
    wav = tmp_path / "probe.wav"
    sf.write(wav, np.concatenate([lead, probe, np.zeros(SR // 2, np.float32)]), SR, subtype="FLOAT")

    # every cluster → "quiet", started in "speech-in-noise": the first stable decision (≈ 1 s into the
    # stream) makes the worker hand a switch over to the callback, which fades at a block boundary
    sim = HearingAidSimulator(cluster_map={"default": "quiet"}, initial_profile="speech-in-noise")
    clusterer = SceneClusterer(tiny_model, decision_interval=0.5)
    live = LiveSimulator(sim, clusterer, LiveConfig(), input_device=pulse_device["index"],
                         output_device=pulse_device["index"], record=True, record_input=True)
    env = dict(os.environ)
    rec = subprocess.Popen(["parec", f"--device={LIVE_OUT}.monitor", f"--rate={SR}", "--channels=1",
                            "--format=float32le", "--raw", "--latency-msec=20"], stdout=subprocess.PIPE, env=env)
    player = subprocess.Popen(["paplay", "--latency-msec=20", f"--device={LIVE_IN}", str(wav)], env=env,
                              stderr=subprocess.PIPE)
    try:
        live.start()
        assert player.wait(timeout=20) == 0, player.stderr.read().decode(errors="replace") if player.stderr else ""
        assert _wait(lambda: live.frames >= len(lead) // 2 + len(probe) + SR // 2, 10), "the stream stalled"
        # PulseAudio's output path can hold up to ~1.5 s at stream start (measured 132 ms … 1.5 s): keep the
        # stream and the capture running long enough for the last processed block to reach the monitor
        time.sleep(3.0)
    finally:
        summary = live.stop()
        time.sleep(0.3)
        rec.terminate()
        captured = np.frombuffer(rec.communicate(timeout=10)[0], dtype=np.float32).astype(np.float64)

    x_in = live.recorded_input()
    k_in = _xcorr_lag(x_in, probe)
    assert k_in >= 0, "the played probe is not in the captured input"
    # the input arrives as played (float all the way): most segments match exactly
    in_snr = [snr for _, snr in _segment_snr(x_in.astype(np.float64), probe.astype(np.float64))]
    if np.mean(np.array(in_snr) > 100) < 0.8:  # the input sink carried something else (another client)
        raise _SilentCapture(f"input does not carry the probe: {in_snr}")

    # the reference: the offline chain (catuvac-sim's) on the same input, the live run's switch at the same block
    switches = summary["profile_switches"]
    assert [sw["to"] for sw in switches] == ["quiet"] and summary["final_profile"] == "quiet"
    assert 0 <= switches[0]["decision_latency_ms"] < 1000
    ref = replay(HearingAidSimulator(initial_profile="speech-in-noise"), x_in, switches)
    # the callback's own output is that chain, sample for sample
    np.testing.assert_allclose(live.recorded_output(), ref[: len(live.recorded_output())], atol=1e-6)
    ref_probe = ref[k_in : k_in + len(probe)]
    assert 10 * np.log10(np.sum(ref_probe**2) / np.sum((ref_probe - probe) ** 2)) < 20  # the chain does change it

    # what the output device played is that reference, up to the path's latency
    if not np.any(captured):
        raise _SilentCapture()
    segs = _segment_snr(captured, ref_probe)
    good = [snr > 60 for _, snr in segs]
    assert np.mean(good) >= 0.8, f"device output vs offline chain, (lag, SNR dB) per 0.25 s: {segs}"
    assert summary["decisions"] >= 2  # the clusterer ran beside the audio, off the callback
    lat = summary["latency"]
    assert lat["total_ms"] > lat["algorithmic_ms"] == pytest.approx(1000 * sim.delay_samples / SR, abs=1e-3)


def test_cli_runs_live_until_ctrl_c_and_writes_the_recording(
    pulse_device: dict, tiny_model: Path, tmp_path: Path
) -> None:
    import signal
    import sys

    _require_pulse()
    env = dict(os.environ, PULSE_SOURCE=f"{LIVE_IN}.monitor", PULSE_SINK=LIVE_OUT)
    rec, report = tmp_path / "out.wav", tmp_path / "live.json"
    cmd = [sys.executable, "-m", "catuvac.firmware_sim.cli", "--live", "--model", str(tiny_model),
           "--input-device", str(pulse_device["index"]), "--output-device", str(pulse_device["index"]),
           "--map", str(_write_map(tmp_path)), "--record", str(rec),
           "--report", str(report)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline() if proc.stdout else ""  # printed once the stream runs
        assert "input-to-output latency" in first, proc.stderr.read() if proc.stderr else ""
        time.sleep(2.5)
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        out, err = proc.communicate(timeout=20)
        out = first + out
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert "input-to-output latency" in out and "underflow" in out  # the status lines show the counts
    summary = json.loads(report.read_text())
    assert summary["callbacks"] > 0 and "output_underflows" in summary and summary["latency"]["total_ms"] > 0
    y, sr = sf.read(rec)
    assert sr == SR and len(y) == summary["callbacks"] * summary["blocks_per_callback"] * summary["block_size_samples"]


def _require_pulse() -> None:
    """The daemon and both live sinks are there (restarted once if the daemon died), else skip."""
    reason = ensure_pulse()
    if reason is not None:
        pytest.skip(reason)


def _write_map(tmp_path: Path) -> Path:
    p = tmp_path / "map.json"
    p.write_text(json.dumps({"default": "quiet"}))
    return p

