"""Dataset readers, windows/masks, splits and the feature cache, on tiny fixtures in each exact layout."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from catuvac.runtime.frontend import FrontEnd, FrontEndConfig
from catuvac.training import datasets as D
from catuvac.training.datasets import DatasetError, assign_folds, assign_splits, clip_windows, default_frontend, load_dataset, parse_data_spec

SCENES4 = FrontEndConfig.scenes(4.0)


def tone(seconds: float, sr: int, freq: float = 1000.0, amp: float = 0.3, seed: int = 0) -> np.ndarray:
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    noise = 0.01 * np.random.default_rng(seed).standard_normal(n)
    return (amp * np.sin(2 * np.pi * freq * t) + noise).astype(np.float32)


def write(path: Path, x: np.ndarray, sr: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, sr)
    return path


def garbage(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk" + bytes(range(40)))
    return path


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def audiomnist(tmp_path_factory) -> Path:
    """2 speakers × 10 digits × 1 file at 48 kHz, lengths 0.4–0.85 s (+ one badly named file)."""
    root = tmp_path_factory.mktemp("am") / "AudioMNIST"
    for s, speaker in enumerate(("01", "02")):
        for d in range(10):
            secs = 0.4 + 0.05 * d if s == 0 else 0.6
            write(root / "data" / speaker / f"{d}_{speaker}_0.wav", tone(secs, 48000, 300 + 50 * d, seed=d), 48000)
    write(root / "data" / "02" / "notadigit.wav", tone(0.5, 48000), 48000)
    (root / "data" / "audioMNIST_meta.txt").write_text("{}")
    return root


US8K_ROWS = [
    # slice_file_name, fsID, fold, classID, class, seconds
    ("100-0-0-0.wav", "100", 1, 0, "air_conditioner", 1.5),
    ("101-1-0-0.wav", "101", 1, 1, "car_horn", 4.0),
    ("102-0-0-0.wav", "102", 1, 0, "air_conditioner", 9.0),
    ("102-0-0-1.wav", "102", 1, 0, "air_conditioner", 7.0),
    ("103-1-0-0.wav", "103", 2, 1, "car_horn", 4.0),
    ("104-2-0-0.wav", "104", 2, 2, "children_playing", 3.0),
    ("105-2-0-0.wav", "105", 2, 2, "children_playing", 4.0),
    ("106-2-0-0.wav", "106", 2, 2, "children_playing", 4.0),
]


@pytest.fixture(scope="module")
def us8k(tmp_path_factory) -> Path:
    """UrbanSound8K layout, 2 folds, 44.1 kHz; a 1.5-s clip, longer clips, a corrupt and a missing file."""
    root = tmp_path_factory.mktemp("us") / "UrbanSound8K"
    lines = ["slice_file_name,fsID,start,end,salience,fold,classID,class"]
    for i, (name, fs_id, fold, cid, cname, secs) in enumerate(US8K_ROWS):
        write(root / "audio" / f"fold{fold}" / name, tone(secs, 44100, 500 + 200 * cid, seed=i), 44100)
        lines.append(f"{name},{fs_id},0.0,{secs},1,{fold},{cid},{cname}")
    garbage(root / "audio" / "fold2" / "107-1-0-0.wav")
    lines.append("107-1-0-0.wav,107,0.0,4.0,1,2,1,car_horn")
    lines.append("108-1-0-0.wav,108,0.0,4.0,1,2,1,car_horn")  # listed but missing
    (root / "metadata").mkdir()
    (root / "metadata" / "UrbanSound8K.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def tau(tmp_path_factory) -> Path:
    """TAU2019 layout: meta.csv (tab-separated) + audio/, 3 scenes × 2 recordings, 10-s clips at 8 kHz."""
    root = tmp_path_factory.mktemp("tau") / "TAU-urban-acoustic-scenes-2019-development"
    lines = ["filename\tscene_label\tidentifier\tsource_label"]
    for s, scene in enumerate(("park", "airport", "metro_station")):
        for k in range(2):
            name = f"audio/{scene}-barcelona-{k}-0-a.wav"
            write(root / name, tone(10.0, 8000, 400 + 300 * s, seed=10 * s + k), 8000)
            lines.append(f"{name}\t{scene}\tbarcelona-{k}\ta")
    (root / "meta.csv").write_text("\n".join(lines) + "\n")
    return root


# --------------------------------------------------------------------------- spec parsing
def test_parse_data_spec_forms_and_errors(tmp_path):
    s = parse_data_spec("us8k:/data/UrbanSound8K")
    assert s.kind == "us8k" and s.path == Path("/data/UrbanSound8K")
    b = parse_data_spec("builtin:scenes?seed=1&n=5")
    assert b.kind == "builtin" and b.option("seed", 0) == 1 and b.option("n", 40) == 5
    assert str(b) == "builtin:scenes?n=5&seed=1"
    assert parse_data_spec("builtin:scenes").option("n", -1) == 40
    # clip length: the default stays out of the spec (same cache keys as before), others are kept
    assert str(parse_data_spec("builtin:scenes?s=4")) == "builtin:scenes?n=40&seed=0"
    s8 = parse_data_spec("builtin:scenes?s=8")
    assert s8.option("s", 4) == 8 and str(s8) == "builtin:scenes?n=40&s=8&seed=0"
    for bad in ("0", "61"):
        with pytest.raises(DatasetError, match="clips last 1 to 60 s"):
            parse_data_spec(f"builtin:scenes?s={bad}")
    with pytest.raises(DatasetError) as e:
        parse_data_spec("foo:/x")
    assert str(e.value) == (
        "unknown dataset kind 'foo'; use one of audiomnist:PATH, us8k:PATH, tau2019:PATH, "
        "folder:PATH, builtin:scenes"
    )
    with pytest.raises(DatasetError, match=r"needs a path: tau2019:PATH"):
        parse_data_spec("tau2019:")
    with pytest.raises(DatasetError, match="folder:"):
        parse_data_spec(str(tmp_path))  # an existing path without a kind: suggest folder:
    with pytest.raises(DatasetError, match="available: builtin:scenes"):
        parse_data_spec("builtin:birds")
    with pytest.raises(DatasetError, match="unknown option 'k'"):
        parse_data_spec("builtin:scenes?k=3")
    with pytest.raises(DatasetError, match="must be an integer"):
        parse_data_spec("builtin:scenes?n=many")


def test_default_frontend_per_dataset():
    assert default_frontend("audiomnist:x").kind == "spectrogram"
    assert default_frontend("audiomnist:x").window_frames == 122
    assert default_frontend("us8k:x").window_frames == 132
    assert default_frontend("tau2019:x").window_frames == 332
    assert default_frontend("builtin:scenes").window_seconds == 4.0
    assert default_frontend("folder:x").window_seconds == 4.0


# --------------------------------------------------------------------------- windows + masks
def test_clip_windows_padding_mask_and_cutting():
    fe = FrontEnd(SCENES4)
    x, m = clip_windows(tone(1.5, 16000), SCENES4, fe)
    assert x.shape == (1, 128, 132) and m.shape == (1, 132) and x.dtype == np.float32
    assert int(m.sum()) == 50 and int((m == 0).sum()) == 82  # t·480 + 480 ≤ 24000 → t ≤ 49
    assert np.all(m[0, :50] == 1) and np.all(m[0, 50:] == 0)
    # 9 s → 2 full windows (1-s tail dropped: < half a window); 7 s → 1 + padded 3-s tail
    assert clip_windows(tone(9.0, 16000), SCENES4, fe)[1].sum(axis=1).tolist() == [132, 132]
    assert clip_windows(tone(7.0, 16000), SCENES4, fe)[1].sum(axis=1).tolist() == [132, 100]
    # shorter than half an STFT frame: kept, nothing active
    x, m = clip_windows(tone(0.02, 16000), SCENES4, fe)
    assert x.shape == (1, 128, 132) and m.sum() == 0
    # all-silent clip under the energy rule: all masked
    assert clip_windows(np.zeros(16000 * 4, np.float32), SCENES4, fe, vad_db=60.0)[1].sum() == 0


def test_energy_rule_masks_digital_silence():
    a = np.concatenate([tone(2.0, 16000), np.zeros(32000, np.float32)])
    m_pad = clip_windows(a, SCENES4, vad_db=None)[1]
    m_vad = clip_windows(a, SCENES4, vad_db=60.0)[1]
    assert m_pad.sum() == 132
    # frames 0..66 touch the tone (frame 66 starts at 31680 < 32000); 67.. are digital silence
    assert m_vad.sum() == 67 and np.all(m_vad[0, :67] == 1)


# --------------------------------------------------------------------------- AudioMNIST
def test_audiomnist_layout_labels_shapes_resampling(audiomnist, tmp_path, capsys):
    fs = load_dataset(f"audiomnist:{audiomnist}", cache_dir=tmp_path, progress=False)
    assert fs.x.shape == (20, 128, 122) and fs.mask.shape == (20, 122)
    assert fs.label_names == [str(d) for d in range(10)]
    for f, lab in zip(fs.files, fs.labels):
        assert Path(f).name.startswith(f"{lab}_")
    # 0.6 s at 48 kHz → 9600 samples at 16 kHz → t·128 + 256 ≤ 9600 → 74 active frames
    i = fs.files.index(str(audiomnist / "data" / "02" / "3_02_0.wav"))
    assert int(fs.mask[i].sum()) == 74
    # resampled tone (300 + 50·3 = 450 Hz) peaks in bin 450 / 31.25 ≈ 14 of the 512-pt spectrum
    assert int(np.argmax(fs.x[i][:, :60].mean(axis=1))) in (14, 15)
    assert fs.split_counts() == {"train": 16, "val": 2, "test": 2}
    assert [p for p, _ in fs.skipped] == [str(audiomnist / "data" / "02" / "notadigit.wav")]
    assert "skipped 1 file" in capsys.readouterr().err
    # PATH may point straight at the data folder
    fs2 = load_dataset(f"audiomnist:{audiomnist / 'data'}", cache_dir=tmp_path, progress=False)
    assert fs2.cache_hits == 20 and np.array_equal(fs2.x, fs.x)


def test_split_is_seeded_and_by_clip(audiomnist, tmp_path):
    a = load_dataset(f"audiomnist:{audiomnist}", seed=0, cache_dir=tmp_path, progress=False)
    b = load_dataset(f"audiomnist:{audiomnist}", seed=0, cache_dir=tmp_path, progress=False)
    c = load_dataset(f"audiomnist:{audiomnist}", seed=1, cache_dir=tmp_path, progress=False)
    assert np.array_equal(a.split, b.split)
    assert not np.array_equal(a.split, c.split)
    tr = a.subset("train")
    assert len(tr) == 16 and set(tr.split) == {"train"} and tr.x.shape[1:] == (128, 122)
    assert len(a.subset(["val", "test"])) == 4
    with pytest.raises(DatasetError, match="unknown split"):
        a.subset("validation")


def test_too_long_window_error(audiomnist, tmp_path):
    with pytest.raises(DatasetError, match=r"--window-seconds 0\.9"):
        load_dataset(f"audiomnist:{audiomnist}", frontend=FrontEndConfig.scenes(10.0), cache_dir=tmp_path, progress=False)


# --------------------------------------------------------------------------- US8K
def test_us8k_padding_mask_cutting_corrupt_and_groups(us8k, tmp_path, capsys):
    fs = load_dataset(f"us8k:{us8k}", cache_dir=tmp_path, progress=False)
    assert fs.label_names == ["air_conditioner", "car_horn", "children_playing"]
    # 8 readable clips; the 9-s and 7-s clips give 2 windows each
    assert fs.x.shape == (10, 128, 132) and fs.n_clips == 8
    short = fs.clip_ids.tolist().index("fold1/100-0-0-0.wav")
    assert int((fs.mask[short] == 0).sum()) == 82  # 1.5 s padded to 4 s: 82 of 132 frames masked
    # padded frames carry the zero-padding's floor features; the mask is what hides them
    assert np.allclose(fs.x[short][:, 60:], np.log(SCENES4.log_floor))
    for cid, active in (("fold1/102-0-0-0.wav", [132, 132]), ("fold1/102-0-0-1.wav", [132, 100])):
        rows = np.flatnonzero(fs.clip_ids == cid)
        assert fs.window_index[rows].tolist() == [0, 1]
        assert fs.mask[rows].sum(axis=1).tolist() == active
    assert fs.labels[fs.clip_ids == "fold2/104-2-0-0.wav"].tolist() == [2]
    # every clip (and every fsID group) lies in exactly one split
    for cid in set(fs.clip_ids):
        assert len(set(fs.split[fs.clip_ids == cid])) == 1
    same_fsid = np.isin(fs.clip_ids, ["fold1/102-0-0-0.wav", "fold1/102-0-0-1.wav"])
    assert len(set(fs.split[same_fsid])) == 1
    # the corrupt and the missing file are skipped, reported, and did not stop the run
    reasons = dict(fs.skipped)
    assert set(reasons) == {str(us8k / "audio/fold2/107-1-0-0.wav"), str(us8k / "audio/fold2/108-1-0-0.wav")}
    assert "cannot read audio" in reasons[str(us8k / "audio/fold2/107-1-0-0.wav")]
    assert reasons[str(us8k / "audio/fold2/108-1-0-0.wav")] == "file not found"
    err = capsys.readouterr().err
    assert "skipped 2 file(s)" in err and "107-1-0-0.wav" in err


def test_resampling_44k1_matches_native_16k(us8k, tmp_path):
    fs = load_dataset(f"us8k:{us8k}", cache_dir=tmp_path, progress=False, vad_db=None)
    i = fs.clip_ids.tolist().index("fold1/101-1-0-0.wav")  # 4 s, 700 Hz, seed 1
    native = FrontEnd(SCENES4).features(load_native(tone(4.0, 44100, 700, seed=1)))
    peak = int(np.argmax(native.mean(axis=1)))
    assert int(np.argmax(fs.x[i].mean(axis=1))) == peak
    # the dominant bins agree closely (resample_poly vs an ideal band-limited resampling)
    assert np.max(np.abs(fs.x[i][peak - 2 : peak + 3, 2:-2] - native[peak - 2 : peak + 3, 2:-2])) < 0.05


def load_native(x44: np.ndarray) -> np.ndarray:
    """Ideal (FFT) 44.1 → 16 kHz resampling, a reference independent of resample_poly."""
    from scipy.signal import resample

    return resample(x44.astype(np.float64), int(round(len(x44) * 16000 / 44100))).astype(np.float32)


# --------------------------------------------------------------------------- TAU2019
def test_tau2019_layout(tau, tmp_path):
    fs = load_dataset(f"tau2019:{tau}", cache_dir=tmp_path, progress=False)
    assert fs.x.shape == (6, 128, 332) and np.all(fs.mask == 1)
    assert fs.label_names == ["airport", "metro_station", "park"]
    assert fs.labels[fs.clip_ids == "audio/park-barcelona-1-0-a.wav"].tolist() == [2]
    assert sum(fs.split_counts().values()) == 6 and fs.split_counts()["test"] >= 1


# --------------------------------------------------------------------------- folder + builtin
def test_plain_folder_with_and_without_subfolders(tmp_path):
    lab = tmp_path / "lab"
    write(lab / "speech" / "a.wav", tone(4.0, 16000), 16000)
    write(lab / "speech" / "deeper" / "b.flac", tone(3.0, 22050), 22050)
    write(lab / "music" / "c.wav", tone(4.0, 16000, 200), 16000)
    fs = load_dataset(f"folder:{lab}", cache_dir=tmp_path / "c", progress=False)
    assert fs.label_names == ["music", "speech"]
    assert dict(zip(fs.clip_ids, fs.labels.tolist())) == {"music/c.wav": 0, "speech/a.wav": 1, "speech/deeper/b.flac": 1}
    flat = tmp_path / "flat"
    write(flat / "x.wav", tone(4.0, 16000), 16000)
    write(flat / "y.ogg", tone(2.5, 16000), 16000)
    fs = load_dataset(f"folder:{flat}", cache_dir=tmp_path / "c", progress=False)
    assert fs.labels is None and fs.label_names is None and len(fs) == 2
    one = load_dataset(f"folder:{flat / 'x.wav'}", cache_dir=tmp_path / "c", progress=False)
    assert len(one) == 1 and one.labels is None


def test_builtin_scenes_uses_class_folders_only(tmp_path, monkeypatch):
    corpus = tmp_path / "scenes"
    for c in ("babble", "wind"):
        for k in range(5):
            write(corpus / c / f"{c}_{k:03d}.wav", tone(4.0, 16000, 300 + 100 * k), 16000)
    write(corpus / "days" / "day.wav", tone(12.0, 16000), 16000)
    (corpus / "days" / "day.json").write_text("[]")
    calls = {}

    def fake_dir(seed: int = 0, clips_per_class: int = 40, root=None, clip_seconds: float = 4) -> Path:
        calls.update(seed=seed, n=clips_per_class, s=clip_seconds)
        return corpus

    fake = types.ModuleType("catuvac.training.scenes")
    fake.SCENE_CLASSES = ("quiet_room", "wind", "babble")
    fake.DAYS_DIR = "days"
    fake.builtin_scenes_dir = fake_dir
    monkeypatch.setitem(sys.modules, "catuvac.training.scenes", fake)
    fs = load_dataset("builtin:scenes?seed=3&n=5", cache_dir=tmp_path / "c", progress=False)
    assert calls == {"seed": 3, "n": 5, "s": 4}
    assert fs.label_names == ["wind", "babble"]  # SCENE_CLASSES order, present folders only
    assert len(fs) == 10 and not any("day" in f for f in fs.files)
    # stratified: one val and one test clip per class
    for lab in (0, 1):
        assert sorted(fs.split[fs.labels == lab].tolist()) == ["test", "train", "train", "train", "val"]


# --------------------------------------------------------------------------- cache
def test_cache_reused_and_corrupt_entry_recomputed(tau, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = load_dataset(f"tau2019:{tau}", cache_dir=cache, progress=False)
    assert (first.cache_hits, first.cache_misses) == (0, 6)
    entries = sorted(cache.rglob("*.npz"))
    assert len(entries) == 6 and not list(cache.rglob("*.tmp"))

    def boom(*a, **k):
        raise AssertionError("features recomputed despite a warm cache")

    monkeypatch.setattr(D, "clip_windows", boom)
    second = load_dataset(f"tau2019:{tau}", cache_dir=cache, progress=False)
    assert second.cache_hits == 6 and np.array_equal(second.x, first.x) and np.array_equal(second.mask, first.mask)
    assert np.array_equal(second.split, first.split)
    monkeypatch.undo()
    entries[0].write_bytes(b"not an npz")
    third = load_dataset(f"tau2019:{tau}", cache_dir=cache, progress=False)
    assert (third.cache_hits, third.cache_misses) == (5, 1) and np.array_equal(third.x, first.x)
    # a different window length is a different cache entry (the feature key alone is not enough)
    other = load_dataset(f"tau2019:{tau}", frontend=FrontEndConfig.scenes(5.0), cache_dir=cache, progress=False)
    assert other.cache_misses == 6 and other.x.shape == (12, 128, 165)


# --------------------------------------------------------------------------- errors
def test_empty_and_unreadable_dataset_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match=r"no audio files found in .*empty; expected PATH/data/<speaker>"):
        load_dataset(f"audiomnist:{tmp_path / 'empty'}", cache_dir=tmp_path, progress=False)
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'nope'}", cache_dir=tmp_path, progress=False)
    with pytest.raises(DatasetError, match="UrbanSound8K.csv not found"):
        load_dataset(f"us8k:{tmp_path / 'empty'}", cache_dir=tmp_path, progress=False)
    garbage(tmp_path / "bad" / "x.wav")
    with pytest.raises(DatasetError, match="none of the 1 audio file"):
        load_dataset(f"folder:{tmp_path / 'bad'}", cache_dir=tmp_path, progress=False)
    bad_meta = tmp_path / "tau"
    bad_meta.mkdir()
    (bad_meta / "meta.csv").write_text("filename,scene_label\naudio/a.wav,park\n")
    with pytest.raises(DatasetError, match="tab-separated"):
        load_dataset(f"tau2019:{bad_meta}", cache_dir=tmp_path, progress=False)


# --------------------------------------------------------------------------- splits
def test_assign_splits_counts_fractions_and_groups():
    g = [f"f{i}" for i in range(30000)]
    s = assign_splits(g, seed=0, sizes=(24000, 3000, 3000))
    assert [int((s == k).sum()) for k in ("train", "val", "test")] == [24000, 3000, 3000]
    # independent of the input order
    assert np.array_equal(assign_splits(g[::-1], seed=0, sizes=(24000, 3000, 3000)), s[::-1])
    with pytest.raises(DatasetError, match="add up to 30001"):
        assign_splits(g, sizes=(24001, 3000, 3000))
    # stratified 80/10/10: 7 classes × 40 → 32/4/4 each
    labels = [c for c in range(7) for _ in range(40)]
    s = assign_splits([f"c{i}" for i in range(280)], labels, seed=5)
    for c in range(7):
        sc = s[np.array(labels) == c]
        assert [int((sc == k).sum()) for k in ("train", "val", "test")] == [32, 4, 4]
    # groups never straddle splits
    groups = [f"g{i // 3}" for i in range(90)]
    s = assign_splits(groups, seed=2)
    for k in set(groups):
        assert len(set(s[np.array(groups) == k])) == 1
    # tiny: 3 groups still give one of each
    assert sorted(assign_splits(["a", "b", "c"]).tolist()) == ["test", "train", "val"]


def test_assign_folds_tests_every_group_once_stratified_and_seeded():
    groups = [f"g{i // 3}" for i in range(120)]  # 40 groups of 3 items, 4 classes of 10 groups
    labels = [(i // 3) % 4 for i in range(120)]
    g, lab = np.array(groups), np.array(labels)
    tested: list[str] = []
    for f in range(5):
        s = assign_folds(groups, labels, seed=3, folds=5, fold=f)
        for k in set(groups):  # groups never straddle splits
            assert len(set(s[g == k])) == 1
        # 2 test groups per class in every fold; a ninth of the other 8 (round(0.89) = 1) validates
        for c in range(4):
            assert [len(set(g[(s == k) & (lab == c)])) for k in ("train", "val", "test")] == [7, 1, 2]
        tested += sorted(set(g[s == "test"]))
        # seeded: independent of the input order
        assert np.array_equal(assign_folds(groups[::-1], labels[::-1], seed=3, folds=5, fold=f), s[::-1])
    assert sorted(tested) == sorted(set(groups))  # over the folds every group is tested exactly once
    assert not np.array_equal(assign_folds(groups, labels, seed=4, folds=5, fold=0), assign_folds(groups, labels, seed=3, folds=5, fold=0))
    with pytest.raises(DatasetError, match="--folds ≥ 2"):
        assign_folds(groups, labels, folds=1)
    with pytest.raises(DatasetError, match=r"--fold must be in 0 … 4"):
        assign_folds(groups, labels, folds=5, fold=5)
    with pytest.raises(DatasetError, match="at least 50 clips/groups, got 40; use fewer --folds"):
        assign_folds(groups, labels, folds=50)


def test_assign_folds_uses_the_data_sets_own_folds():
    groups = [f"g{i}" for i in range(12)]
    own = [7 + i % 3 for i in range(12)]  # folds named 7, 8, 9
    for f, name in enumerate((7, 8, 9)):
        s = assign_folds(groups, seed=0, folds=3, fold=f, predefined=own)
        assert [g for g, sp in zip(groups, s) if sp == "test"] == [g for g, o in zip(groups, own) if o == name]
        assert (s == "val").sum() >= 1
    # another number of folds than the data set's: seeded folds instead
    s = assign_folds(groups, seed=0, folds=4, fold=0, predefined=own)
    assert (s == "test").sum() == 3


def test_us8k_cross_validation_on_the_official_folds(us8k, tmp_path):
    fs = load_dataset(f"us8k:{us8k}", cache_dir=tmp_path, progress=False, folds=2, fold=1)
    test = sorted(set(fs.clip_ids[fs.split == "test"]))
    assert test == ["fold2/103-1-0-0.wav", "fold2/104-2-0-0.wav", "fold2/105-2-0-0.wav", "fold2/106-2-0-0.wav"]
    with pytest.raises(DatasetError, match="not both"):
        load_dataset(f"us8k:{us8k}", cache_dir=tmp_path, progress=False, folds=2, split_sizes=(0.8, 0.1, 0.1))


def test_module_does_not_import_torch():
    import subprocess

    code = "import sys, catuvac.training.datasets; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_progress_bar_and_summary_on_stderr(tmp_path, capsys):
    write(tmp_path / "d" / "a.wav", tone(4.0, 16000), 16000)
    fs = load_dataset(f"folder:{tmp_path / 'd'}", cache_dir=tmp_path / "c", progress=True)
    err = capsys.readouterr().err
    assert "features folder:" in err and "1 windows (128×132) from 1 clips" in err
    assert fs.summary() in err
