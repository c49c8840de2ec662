"""The live simulation's core without a device: the callback and the clusterer hand-over, driven by hand.

``LiveSimulator._callback`` is what PortAudio calls; here the test calls it with the blocks a
duplex stream would deliver and runs the worker's :meth:`LiveSimulator.poll` between callbacks,
so the result is deterministic and can be compared sample for sample with the offline chain.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from catuvac.firmware_sim.live import LiveConfig, LiveError, LiveSimulator, SampleRing, format_status, replay
from catuvac.firmware_sim.simulator import HearingAidSimulator

SR = 16000


def _signal(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = 0.1 * np.sin(2 * np.pi * 440 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)) + 0.02 * rng.standard_normal(t.size)
    return x.astype(np.float32)


def _drive(live: LiveSimulator, x: np.ndarray, poll_every: int = 2) -> np.ndarray:
    """Feed ``x`` through the callback as a duplex stream would; poll the worker every few callbacks."""
    n = live.frames_per_callback
    out = np.zeros((len(x) // n * n, 1), dtype=np.float32)
    for c, s in enumerate(range(0, len(out), n)):
        live._callback(x[s : s + n].reshape(n, 1), out[s : s + n], n, None, None)
        if c % poll_every == poll_every - 1:
            live.poll()
    live.poll()
    return out[:, 0]


def test_ring_wraps_and_counts_what_the_reader_lost() -> None:
    ring = SampleRing(block=4, n_blocks=3)
    data = np.arange(40, dtype=np.float32)
    for s in range(0, 20, 4):
        ring.push(data[s : s + 4].reshape(4, 1))
    assert ring.written == 20
    start, lost = ring.clamp(0, ring.written)
    # capacity 12: samples 0–7 were overwritten and 8–11 sit in the slot the next push writes
    assert (start, lost) == (12, 12)
    np.testing.assert_array_equal(ring.read(start, 20), data[12:20])
    np.testing.assert_array_equal(ring.read(10, 14), data[10:14])  # across the wrap
    assert ring.clamp(15, ring.written) == (15, 0)


def test_callback_output_is_the_chain_output_and_decisions_switch_profiles(scripted) -> None:
    x = _signal(6.0)
    # the scripted clusterer decides cluster 1 from t = 2 s: the default map sends it to the 2nd profile
    clf = scripted([(0.0, 0), (2.0, 1)], n_clusters=3, interval=0.5)
    sim = HearingAidSimulator(classifier=clf, initial_profile="quiet")
    live = LiveSimulator(sim, clf, LiveConfig(blocks_per_callback=4), record=True, record_input=True)
    y = _drive(live, x)
    summary = live.summary()
    names = sim.profiles.names
    assert [s["to"] for s in summary["profile_switches"]] == [names[1]]
    sw = summary["profile_switches"][0]
    # the decision at 2.0 s acts at the next callback after the worker saw it: within two polls
    assert 2.0 <= sw["time_s"] <= 2.0 + 3 * live.frames_per_callback / SR
    assert 0 <= sw["decision_latency_ms"] <= 1000 * 3 * live.frames_per_callback / SR
    assert summary["decisions"] == 12 and summary["final_profile"] == names[1]
    # every sample: the live output is the offline chain with the same switch at the same block
    ref = replay(HearingAidSimulator(initial_profile="quiet"), x, summary["profile_switches"])
    np.testing.assert_allclose(y[: len(ref)], ref, atol=1e-6)
    np.testing.assert_array_equal(live.recorded_output(), y)
    np.testing.assert_array_equal(live.recorded_input(), x[: len(y)])
    assert summary["output_underflows"] == 0 and summary["clusterer_lost_samples"] == 0


def test_callback_allocates_no_buffers() -> None:
    # 32 blocks per callback: 1024 samples, so any per-call copy of the audio (≥ 4 KiB in float32)
    # stands out from the views and numbers Python makes (≈ 1.7 KiB at the peak, whatever the size)
    live = LiveSimulator(HearingAidSimulator(), None, LiveConfig(blocks_per_callback=32))
    n = live.frames_per_callback
    x = _signal(2.0)
    out = np.zeros((n, 1), dtype=np.float32)
    blocks = [x[s : s + n].reshape(n, 1) for s in range(0, len(x) - n, n)]
    for b in blocks[:5]:  # warm-up: lazily created numpy/BLAS state
        live._callback(b, out, n, None, None)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        for b in blocks[5:]:
            live._callback(b, out, n, None, None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak - base < 3072, f"the callback allocated {peak - base} bytes at its peak"


def test_a_slow_clusterer_loses_input_and_says_so() -> None:
    live = LiveSimulator(HearingAidSimulator(), None, LiveConfig(blocks_per_callback=8, ring_seconds=0.5))
    _drive(live, _signal(2.0), poll_every=10_000)  # the worker never runs until the end
    s = live.summary()
    ring = live.in_ring
    assert s["clusterer_lost_samples"] == live.frames - ring.capacity + ring.block > 0
    line = format_status(live.status(), live.sim.chain.band_layout.centres_hz)
    assert "underflow 0" in line and f"lost {s['clusterer_lost_samples']}" in line


@pytest.mark.parametrize("kw", [{"blocks_per_callback": 0}, {"latency": "medium"}, {"ring_seconds": 0.0}])
def test_bad_settings_are_refused(kw: dict) -> None:
    with pytest.raises(LiveError):
        LiveConfig(**kw)


def test_cli_refuses_bad_live_settings_with_one_line(tmp_path, capsys) -> None:
    from catuvac.firmware_sim.cli import main

    assert main(["--live"]) == 2
    assert "--live needs --model" in capsys.readouterr().err
    assert main(["--live", "--model", str(tmp_path / "m.onnx"), "--blocks-per-callback", "0"]) == 2
    assert "blocks_per_callback must be an integer in [1, 64]" in capsys.readouterr().err
    assert main(["--live", "--model", str(tmp_path / "m.onnx")]) == 2  # no such model: said before any device opens
    assert "model file not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # offline mode still needs its files
        main(["--model", str(tmp_path / "m.onnx")])
    assert "--input, --output, --report" in capsys.readouterr().err
