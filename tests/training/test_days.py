"""Long built-in test days: plan, transients, truth file, determinism, CLI (short days: seconds)."""

import json
from collections import Counter

import numpy as np
import pytest
import soundfile as sf

from catuvac.runtime.timeline import load_truth
from catuvac.training import days
from catuvac.training.scenes import SCENE_CLASSES
from catuvac.training.scenes_cli import main as scenes_main

SR = 16000


def test_plan_of_a_30_minute_day_visits_every_class_several_times():
    for seed in (1, 2, 3):
        plan = days._plan(1800.0, np.random.default_rng([seed, 2, 0]), SR)
        lengths = np.array([(s.end - s.start) / SR for s in plan])
        assert lengths.min() >= 20.0 - 1e-3 and lengths.max() <= 300.0 + 1e-3
        assert plan[0].start == 0 and plan[-1].end == 1800 * SR
        assert all(a.end == b.start and a.label != b.label for a, b in zip(plan, plan[1:]))
        assert min(Counter(s.label for s in plan)[c] for c in SCENE_CLASSES) >= 2


@pytest.mark.parametrize("kind", days.TRANSIENT_KINDS)
def test_every_transient_kind_is_a_short_finite_event(kind):
    x = days._transient(kind, np.random.default_rng(0), SR)
    assert 0.1 * SR <= len(x) <= 3.0 * SR and np.all(np.isfinite(x)) and np.max(np.abs(x)) == pytest.approx(1.0)


def test_write_day_truth_and_determinism(tmp_path):
    out = days.write_day(tmp_path / "d", 1.5, seed=5, progress=False)
    assert sorted(p.name for p in out.iterdir()) == sorted(days.DAY_FILES)
    audio, sr = sf.read(str(out / "day.wav"), dtype="float32")
    assert sr == SR and len(audio) == 90 * SR and np.max(np.abs(audio)) <= 0.9 + 1e-6
    truth = load_truth(out / "day.json")
    assert truth.start_s == 0.0 and truth.end_s == pytest.approx(90.0)
    margin = days.TRANSIENT_MARGIN_S
    for e in truth.transients:
        seg = next(s for s in truth.segments if s.start_s <= e.t_s < s.end_s)
        assert seg.start_s + margin <= e.t_s <= seg.end_s - margin
        assert e.kind in days.TRANSIENT_KINDS
    assert json.loads((out / "scene_profiles.json").read_text())["babble"] == "speech-in-noise"
    info = json.loads((out / "day_info.json").read_text())
    assert info["seed"] == 5 and sum(info["stretches_per_class"].values()) == len(truth.segments)
    # same seed → the same bytes (written again over itself); another seed → another day
    before = (out / "day.wav").read_bytes(), (out / "day.json").read_bytes()
    days.write_day(out, 1.5, seed=5, progress=False)
    assert ((out / "day.wav").read_bytes(), (out / "day.json").read_bytes()) == before
    other, _ = days.synthesize_long_day(1.5, seed=6)
    assert not np.array_equal(other, audio)


def test_transients_are_audible_in_the_day():
    audio, truth = days.synthesize_long_day(3.0, seed=11)
    assert truth["transients"], "a 3-min day of this seed has transients"
    for e in truth["transients"]:
        i = int(e["t_s"] * SR)
        before = np.sqrt(np.mean(audio[i - 2 * SR : i - SR] ** 2))
        during = np.sqrt(np.mean(audio[i : i + SR // 4] ** 2))
        assert during > 1.4 * before, e


def test_cli_day_seed_and_refusals(tmp_path, capsys):
    out = tmp_path / "day"
    assert scenes_main(["--out", str(out), "--day-minutes", "1", "--day-seed", "3", "--quiet"]) == 0
    assert "transients" in capsys.readouterr().out
    assert load_truth(out / "day.json").end_s == pytest.approx(60.0)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    assert scenes_main(["--out", str(busy), "--day-minutes", "1", "--day-seed", "3", "--quiet"]) == 2
    assert "holds other files" in capsys.readouterr().err and (busy / "notes.txt").exists()
    assert scenes_main(["--out", str(out), "--day-minutes", "0.5", "--day-seed", "3", "--quiet"]) == 2
    with pytest.raises(ValueError, match="seed"):
        days.synthesize_long_day(1.0, seed=-1)
