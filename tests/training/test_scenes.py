"""Tests for the built-in synthetic scene corpus (catuvac.training.scenes, catuvac-scenes).

Small configs only (2 clips per class, a 3-minute day): the whole file runs in ~15 s on 2 cores.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from catuvac.training import scenes, scenes_cli
from catuvac.training.scenes import SCENE_CLASSES

SR = 16000
N_CLIPS = 2
DAY_MIN = 3.0


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small corpus written through the CLI (seed 0), with the spectrogram grid."""
    out = tmp_path_factory.mktemp("scenes") / "corpus"
    png = out.parent / "grid.png"
    rc = scenes_cli.main(
        ["--out", str(out), "--clips-per-class", str(N_CLIPS), "--day-minutes", str(DAY_MIN), "--quiet", "--plot", str(png)]
    )
    assert rc == 0
    assert png.is_file() and png.stat().st_size > 10_000
    return out


def _band_features(x: np.ndarray, sr: int = SR) -> np.ndarray:
    """Level-invariant summary: mean and std over time of 24 log-spaced log band energies."""
    f, _, z = scipy.signal.stft(x, sr, nperseg=512, noverlap=256)
    p = np.abs(z) ** 2
    idx = np.digitize(f, np.geomspace(50.0, 8000.0, 25)) - 1
    lb = np.log(np.stack([p[idx == b].sum(0) for b in range(24)]) + 1e-12)
    lb -= lb.mean()  # remove the level, like the front-end's per-window normalisation
    return np.r_[lb.mean(1), lb.std(1)]


def _rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12))


# ------------------------------------------------------------------------------------------
# layout, CLI, manifest
# ------------------------------------------------------------------------------------------
def test_layout_and_manifest(corpus: Path) -> None:
    assert len(SCENE_CLASSES) >= 6
    class_dirs = sorted(p.name for p in corpus.iterdir() if p.is_dir())
    assert class_dirs == sorted((*SCENE_CLASSES, scenes.DAYS_DIR))  # the test recording sits beside the classes
    for label in SCENE_CLASSES:
        files = sorted((corpus / label).glob("*.wav"))
        assert [f.name for f in files] == [f"{label}_{i:03d}.wav" for i in range(N_CLIPS)]
        for f in files:
            info = sf.info(str(f))
            assert info.samplerate == SR and info.channels == 1
            assert info.frames == 4 * SR
            assert info.subtype == "FLOAT"
    info = json.loads((corpus / "manifest.json").read_text())
    assert info["version"] == scenes.GENERATOR_VERSION
    assert info["seed"] == 0 and info["clips_per_class"] == N_CLIPS
    assert info["classes"] == list(SCENE_CLASSES)
    assert info["counts"] == {c: N_CLIPS for c in SCENE_CLASSES}
    assert info["sample_rate"] == SR and info["clip_seconds"] == 4.0
    assert info["day_seconds"] == pytest.approx(DAY_MIN * 60)
    assert scenes.corpus_is_complete(corpus, seed=0, clips_per_class=N_CLIPS)
    assert not scenes.corpus_is_complete(corpus, seed=1)


def test_cli_summary_and_help(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        scenes_cli.main(["--help"])
    assert e.value.code == 0
    assert "--clips-per-class" in capsys.readouterr().out
    # bad input: a clear error and exit code 2, nothing written
    assert scenes_cli.main(["--out", str(tmp_path / "x"), "--day-minutes", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "day_minutes" in err and "3 minutes" in err
    assert not (tmp_path / "x").exists()


def test_console_script_entry_point() -> None:
    r = subprocess.run(
        [sys.executable, "-c", "from catuvac.training.scenes_cli import main; raise SystemExit(main(['--help']))"],
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 0 and "catuvac-scenes" in r.stdout
    # the generator must stay torch-free (usable from the runtime demos)
    r = subprocess.run(
        [sys.executable, "-c", "import sys, catuvac.training.scenes, catuvac.training.scenes_cli; print('torch' in sys.modules)"],
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stderr


# ------------------------------------------------------------------------------------------
# determinism
# ------------------------------------------------------------------------------------------
def test_same_seed_bit_identical(corpus: Path, tmp_path: Path) -> None:
    again = scenes.generate_corpus(tmp_path / "again", seed=0, clips_per_class=N_CLIPS, day_minutes=DAY_MIN, progress=False)
    names = sorted(p.relative_to(corpus).as_posix() for p in corpus.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(again).as_posix() for p in again.rglob("*") if p.is_file())
    assert "days/day.wav" in names and "manifest.json" in names
    for name in names:
        assert (corpus / name).read_bytes() == (again / name).read_bytes(), name


def test_clip_independent_of_others_and_seed_matters(corpus: Path) -> None:
    for ci, label in enumerate(SCENE_CLASSES):
        # clip 1 regenerated alone from (seed, class, index) equals the file written in the corpus
        alone = scenes.synthesize_scene(label, 4.0, np.random.default_rng([0, 0, ci, 1]))
        on_disk, _ = sf.read(str(corpus / label / f"{label}_001.wav"), dtype="float32")
        np.testing.assert_array_equal(alone, on_disk)
        other_seed = scenes.synthesize_scene(label, 4.0, np.random.default_rng([1, 0, ci, 1]))
        assert not np.array_equal(alone, other_seed)
    # a different seed also gives a different day plan
    p0 = scenes._plan_day(180.0, np.random.default_rng([0, 1, 0]), SR)
    p1 = scenes._plan_day(180.0, np.random.default_rng([1, 1, 0]), SR)
    assert [(s.start, s.end) for s in p0] != [(s.start, s.end) for s in p1]


# ------------------------------------------------------------------------------------------
# the day recording
# ------------------------------------------------------------------------------------------
def test_day_timeline(corpus: Path) -> None:
    info = sf.info(str(corpus / "days" / "day.wav"))
    assert info.samplerate == SR and info.channels == 1
    duration = info.frames / SR
    assert duration >= 180.0
    timeline = scenes.load_timeline(corpus / "days" / "day.json")
    assert timeline[0]["start_s"] == 0.0
    assert timeline[-1]["end_s"] == pytest.approx(duration, abs=1.0 / SR)
    for a, b in zip(timeline, timeline[1:]):
        assert a["end_s"] == b["start_s"]
        assert a["label"] != b["label"]
    for seg in timeline:
        assert seg["label"] in SCENE_CLASSES
        assert 20.0 - 1e-3 <= seg["end_s"] - seg["start_s"] <= 45.0 + 1e-3
    assert {seg["label"] for seg in timeline} == set(SCENE_CLASSES)


def test_day_segments_match_their_labels(corpus: Path, clip_set: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """4-s windows inside every day segment are nearest (centroid of the clips) to their own class."""
    feats, labels, _ = clip_set
    mu, sd = feats.mean(0), feats.std(0) + 1e-8
    cent = np.array([((feats - mu) / sd)[labels == c].mean(0) for c in range(len(SCENE_CLASSES))])
    day, _ = sf.read(str(corpus / "days" / "day.wav"), dtype="float32")
    hits = total = 0
    for seg in scenes.load_timeline(corpus / "days" / "day.json"):
        for frac in (0.25, 0.5, 0.75):
            t = seg["start_s"] + frac * (seg["end_s"] - seg["start_s"])
            x = day[int((t - 2) * SR) : int((t + 2) * SR)]
            d = np.linalg.norm((_band_features(x) - mu) / sd - cent, axis=1)
            hits += SCENE_CLASSES[int(np.argmin(d))] == seg["label"]
            total += 1
    assert hits / total >= 0.7, f"only {hits}/{total} day windows look like their label"


def test_day_crossfades_never_fade_through_silence(corpus: Path) -> None:
    day, _ = sf.read(str(corpus / "days" / "day.wav"), dtype="float32")
    for seg in scenes.load_timeline(corpus / "days" / "day.json")[1:]:
        b = int(seg["start_s"] * SR)
        # quiet_room sits at ≈ −55 dBFS; a cross-fade midpoint must not drop far below either side
        assert _rms_db(day[b - SR // 8 : b + SR // 8]) > -70.0


def test_synthesize_day_api() -> None:
    audio, timeline = scenes.synthesize_day(141.0, np.random.default_rng(3))  # 7 × 20 s minimum
    assert audio.dtype == np.float32 and len(audio) == 141 * SR
    assert np.all(np.isfinite(audio)) and np.max(np.abs(audio)) <= scenes.PEAK_LIMIT + 1e-6
    assert [s["label"] for s in timeline] == list(scenes._DAY_ORDER)
    assert timeline[-1]["end_s"] == pytest.approx(141.0)
    with pytest.raises(ValueError, match="minutes"):
        scenes.synthesize_day(100.0, np.random.default_rng(3))


# ------------------------------------------------------------------------------------------
# signal sanity
# ------------------------------------------------------------------------------------------
def test_no_clipping_no_nan(corpus: Path) -> None:
    for f in list(corpus.rglob("*.wav")):
        x, _ = sf.read(str(f), dtype="float32")
        assert np.all(np.isfinite(x)), f
        assert np.max(np.abs(x)) <= scenes.PEAK_LIMIT + 1e-6, f
        assert np.max(np.abs(x)) > 1e-4, f  # not silent either


@pytest.fixture(scope="module")
def clip_set() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """4 in-memory clips per class (features, labels, RMS levels in dBFS) from fixed seeds."""
    feats, labels, levels = [], [], []
    for ci, label in enumerate(SCENE_CLASSES):
        for i in range(4):
            x = scenes.synthesize_scene(label, 4.0, np.random.default_rng([100, ci, i]))
            assert x.dtype == np.float32 and x.shape == (4 * SR,)
            feats.append(_band_features(x))
            labels.append(ci)
            levels.append(_rms_db(x))
    return np.array(feats), np.array(labels), np.array(levels)


def test_within_class_variation(clip_set: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    feats, labels, levels = clip_set
    for ci, label in enumerate(SCENE_CLASSES):
        lv = levels[labels == ci]
        assert np.std(lv) > 2.0, f"{label}: levels {np.round(lv, 1)} barely vary"
    # class levels keep their ordering on average: the quiet room is much quieter than the rest
    q = levels[labels == SCENE_CLASSES.index("quiet_room")].mean()
    others = levels[labels != SCENE_CLASSES.index("quiet_room")].mean()
    assert q < -45.0 and others > -35.0 and others - q > 20.0
    # spectral shape varies within a class, but less than between classes
    z = (feats - feats.mean(0)) / (feats.std(0) + 1e-8)
    cent = np.array([z[labels == c].mean(0) for c in range(len(SCENE_CLASSES))])
    between = np.mean([np.linalg.norm(cent[a] - cent[b]) for a in range(len(cent)) for b in range(a + 1, len(cent))])
    for ci, label in enumerate(SCENE_CLASSES):
        within = np.mean(np.linalg.norm(z[labels == ci] - cent[ci], axis=1))
        assert 0.1 < within / between < 0.9, f"{label}: within/between = {within / between:.2f}"


def test_classes_separable_nearest_centroid(clip_set: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """Level-invariant log-band statistics: train centroids on seed-100 clips, test on fresh ones."""
    feats, labels, _ = clip_set
    mu, sd = feats.mean(0), feats.std(0) + 1e-8
    cent = np.array([((feats - mu) / sd)[labels == c].mean(0) for c in range(len(SCENE_CLASSES))])
    test_x, test_y = [], []
    for ci, label in enumerate(SCENE_CLASSES):
        for i in range(3):
            test_x.append(_band_features(scenes.synthesize_scene(label, 4.0, np.random.default_rng([200, ci, i]))))
            test_y.append(ci)
    tx = (np.array(test_x) - mu) / sd
    pred = np.argmin(np.linalg.norm(tx[:, None, :] - cent[None], axis=-1), axis=1)
    acc = float(np.mean(pred == np.array(test_y)))
    assert acc >= 0.75, f"nearest-centroid accuracy {acc:.2f} (chance {1 / len(SCENE_CLASSES):.2f})"


def test_wind_is_low_frequency_and_vehicle_is_harmonic() -> None:
    """Spot checks that two classes look like what they claim."""
    x = scenes.synthesize_scene("wind", 4.0, np.random.default_rng(11)).astype(np.float64)
    f, p = scipy.signal.welch(x, SR, nperseg=2048)
    assert p[f < 500].sum() / p.sum() > 0.9
    x = scenes.synthesize_scene("in_vehicle", 4.0, np.random.default_rng(12)).astype(np.float64)
    f, p = scipy.signal.welch(x, SR, nperseg=2048)
    assert p[f < 1000].sum() / p.sum() > 0.95


# ------------------------------------------------------------------------------------------
# cache and errors
# ------------------------------------------------------------------------------------------
def test_builtin_cache_generates_once_and_regenerates_incomplete(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def fake(out, seed=0, clips_per_class=40, **kw):  # reuse the fixture corpus (seed 0, n=2)
        assert (seed, clips_per_class) == (0, N_CLIPS)
        calls.append(out)
        shutil.copytree(corpus, out)
        return Path(out)

    monkeypatch.setattr(scenes, "generate_corpus", fake)
    monkeypatch.setenv("CATUVAC_CACHE", str(tmp_path / "cache"))
    d = scenes.builtin_scenes_dir(seed=0, clips_per_class=N_CLIPS)
    assert d == tmp_path / "cache" / f"scenes-{scenes.GENERATOR_VERSION}-seed0-n{N_CLIPS}"
    assert scenes.corpus_is_complete(d, 0, N_CLIPS) and len(calls) == 1
    assert calls[0] != d  # generated elsewhere, renamed into place
    assert scenes.builtin_scenes_dir(seed=0, clips_per_class=N_CLIPS) == d and len(calls) == 1  # cached
    (d / "manifest.json").unlink()  # an interrupted run
    assert not scenes.corpus_is_complete(d)
    assert scenes.builtin_scenes_dir(seed=0, clips_per_class=N_CLIPS) == d and len(calls) == 2
    assert scenes.corpus_is_complete(d, 0, N_CLIPS)
    # an explicit root wins over the environment
    monkeypatch.setattr(scenes, "generate_corpus", lambda out, **kw: shutil.copytree(corpus, out))
    assert scenes.builtin_scenes_dir(seed=0, clips_per_class=N_CLIPS, root=tmp_path / "r").parent == tmp_path / "r"
    assert not list((tmp_path / "cache").glob("*.partial-*"))


def test_builtin_clip_length_has_its_own_cache_folder(corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    seen = []

    def fake(out, seed=0, clips_per_class=40, clip_seconds=4, **kw):
        seen.append(clip_seconds)
        shutil.copytree(corpus, out)
        info = json.loads((Path(out) / "manifest.json").read_text())
        info["clip_seconds"] = float(clip_seconds)
        (Path(out) / "manifest.json").write_text(json.dumps(info))
        return Path(out)

    monkeypatch.setattr(scenes, "generate_corpus", fake)
    d8 = scenes.builtin_scenes_dir(seed=0, clips_per_class=N_CLIPS, root=tmp_path / "r", clip_seconds=8)
    assert d8.name.endswith(f"-n{N_CLIPS}-s8") and seen == [8]
    assert scenes.corpus_is_complete(d8, 0, N_CLIPS, 8) and not scenes.corpus_is_complete(d8, 0, N_CLIPS, 4)
    d4 = scenes.builtin_scenes_dir(seed=0, clips_per_class=N_CLIPS, root=tmp_path / "r")
    assert d4.name.endswith(f"-n{N_CLIPS}") and seen == [8, 4]
    assert scenes.builtin_scenes_dir(seed=0, clips_per_class=N_CLIPS, root=tmp_path / "r", clip_seconds=8) == d8 and len(seen) == 2


def test_bad_inputs_raise_clear_errors(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown scene class 'forest'.*quiet_room"):
        scenes.synthesize_scene("forest", 4.0, rng)
    with pytest.raises(ValueError, match="seconds"):
        scenes.synthesize_scene("wind", 0.0, rng)
    with pytest.raises(TypeError, match="default_rng"):
        scenes.synthesize_scene("wind", 1.0, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sample_rate"):
        scenes.synthesize_scene("wind", 1.0, rng, sample_rate=100)
    with pytest.raises(ValueError, match="seed"):
        scenes.generate_corpus(tmp_path, seed=-1, progress=False)
    with pytest.raises(ValueError, match="clips_per_class"):
        scenes.generate_corpus(tmp_path, clips_per_class=0, progress=False)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"start_s": 0, "end_s": 10, "label": "wind"}, {"start_s": 11, "end_s": 20, "label": "music"}]))
    with pytest.raises(ValueError, match="contiguous"):
        scenes.load_timeline(bad)


def test_other_sample_rate() -> None:
    x = scenes.synthesize_scene("speech_quiet", 1.5, np.random.default_rng(0), sample_rate=22050)
    assert x.shape == (int(round(1.5 * 22050)),) and np.all(np.isfinite(x))


# ------------------------------------------------------------------------------------------
# the output folder and the test recording's place
# ------------------------------------------------------------------------------------------
def test_refuses_a_folder_it_did_not_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.wav").write_bytes(b"precious")
    assert scenes_cli.main(["--out", str(mine), "--clips-per-class", "1", "--day-minutes", "3", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "non-empty folder" in err and err.count("\n") == 1
    assert (mine / "thesis.wav").read_bytes() == b"precious" and len(list(mine.iterdir())) == 1


def test_rewrites_its_own_corpus_and_moves_a_legacy_day(corpus: Path, tmp_path: Path) -> None:
    """A folder it wrote (manifest or marker) may be regenerated; an old top-level day.wav is removed."""
    again = tmp_path / "again"
    shutil.copytree(corpus, again)
    (again / "day.wav").write_bytes(b"old layout")
    scenes.generate_corpus(again, seed=0, clips_per_class=N_CLIPS, day_minutes=DAY_MIN, progress=False)
    assert not (again / "day.wav").exists() and (again / "days" / "day.wav").is_file()
    assert scenes.corpus_is_complete(again, 0, N_CLIPS)


def test_folder_reader_leaves_the_test_day_out(corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--data folder:DIR` on a generated corpus (the README's flow) is labelled and never holds days/."""
    from catuvac.training.datasets import load_dataset

    fs = load_dataset(f"folder:{corpus}", cache_dir=tmp_path / "c", progress=False)
    assert fs.label_names == sorted(scenes.SCENE_CLASSES)
    assert not any("day" in f for f in fs.files)
    assert "test recording(s) in days/ are left out" in capsys.readouterr().err
