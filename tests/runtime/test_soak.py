"""The soak benchmark runs (a few seconds of audio here; an hour in the report) and writes JSON with units."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from catuvac.runtime.frontend import FrontEndConfig
from catuvac.runtime.soak import SyntheticScenes, frontend_cost_per_hop, main


def test_synthetic_scenes_any_block_size_same_length_and_level() -> None:
    """The generator is NOT chunk-invariant (its noise is drawn per read): other blocks give another
    signal of the same length and a comparable level, which is all the soak needs."""
    a = SyntheticScenes(16000, seed=3).read(40000)
    g = SyntheticScenes(16000, seed=3)
    b = np.concatenate([g.read(n) for n in (1000,) * 40])
    assert a.shape == b.shape == (40000,) and a.dtype == b.dtype == np.float32
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(b)) and np.abs(a).max() < 1.0
    ra, rb = float(np.sqrt(np.mean(a.astype(np.float64) ** 2))), float(np.sqrt(np.mean(b.astype(np.float64) ** 2)))
    assert 0.5 < ra / rb < 2.0


def test_soak_short_run(model4s: Path, tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    rc = main(["--model", str(model4s), "--hours", "0.01", "--segment", "0.3", "--json", str(out), "--no-progress"])
    r = json.loads(out.read_text())
    assert rc == (0 if r["memory"]["flat_within_5pct"] else 1)  # the exit status says what the report says
    assert r["input_shape"] == [1, 1, 128, 132] and r["n_clusters"] == 7
    assert r["audio_hours"] == 0.01
    assert r["decisions"] == 1 + int((36 * 16000 - 960) // 480 + 1 - 132) // 33
    lat = r["decision_latency_ms"]
    assert 0 < lat["p50"] <= lat["p99"] <= lat["max"]
    assert r["real_time_factor"] > 0  # its size is a benchmark figure, not a test
    m = r["memory"]
    assert m["rss_peak_start_mib"] > 0 and abs(m["rss_growth_pct"]) < 5.0
    assert m["process_transient_start_kib"] > 0


def test_frontend_cost() -> None:
    r = frontend_cost_per_hop(FrontEndConfig(), hops=200)
    assert r["hop_ms"] == 30.0 and r["us_per_hop"] > 0
    assert r["real_time_factor"] == r["us_per_hop"] * 1e-6 / 0.03


def test_user_error(tmp_path: Path) -> None:
    assert main(["--model", str(tmp_path / "none.onnx"), "--hours", "0.01", "--no-progress"]) == 2
