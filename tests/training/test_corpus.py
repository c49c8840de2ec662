"""The real-audio corpus builder on a fake Debian tree and a stub synthesizer (no apt, no espeak)."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from catuvac.training import corpus as corpus_mod
from catuvac.training.corpus import SCENE_PROFILES, CorpusConfig, CorpusError, build_corpus, espeak_synth
from catuvac.training.datasets import load_dataset

SR_SRC = 8000
CFG = replace(CorpusConfig(), speakers=3, repetitions=2, clips_per_class=3, day_segment_seconds=(5.0, 8.0))


def _noise(seconds: float, seed: int, colour: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(seconds * SR_SRC))
    return (np.convolve(x, np.ones(int(1 + colour)) / (1 + colour), "same") * 0.2).astype(np.float32)


def _write(path: Path, x: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".ogg":
        sf.write(path, x, SR_SRC, format="OGG", subtype="VORBIS")
    else:
        sf.write(path, x, SR_SRC)


def make_tree(root: Path, copies: bool = True) -> Path:
    """Three files per scene-source spec (its first pattern), 6 s each; speech prompts of one
    family ("vm-…") to concatenate; and a re-encoded copy of one wind file under another name."""
    for si, spec in enumerate(corpus_mod.SCENE_SOURCES):
        pat = spec.patterns[0]
        for i in range(3):
            name = pat.replace("*", f"t{i}", 1).replace("*", "")
            _write(root / name, _noise(6.0, 100 * si + i, colour=si))
    allison = root / "usr/share/asterisk/sounds/en_US_f_Allison"
    for j in range(3):
        _write(allison / f"vm-part{j}.wav", _noise(1.5, 900 + j, colour=0))
    if copies:
        wind = root / "usr/share/games/megaglest/tilesets/t0/sounds/wind.ogg"
        twin = root / "usr/share/games/megaglest/tilesets/winter_copy/sounds/wind.ogg"
        x, _ = sf.read(root / "usr/share/games/megaglest/tilesets/t0/sounds/wind.ogg")
        wind.parent.mkdir(parents=True, exist_ok=True)
        _write(twin, x.astype(np.float32))
    return root


def stub_synth(calls: list) -> corpus_mod.Synth:
    """A 'voice': 0.3 s silence, a 0.6-s tone whose pitch follows (digit, pitch), 0.2 s silence (16 kHz)."""
    def synth(voice: str, rate: int, pitch: int, text: str) -> np.ndarray:
        calls.append((voice, rate, pitch, text))
        d = corpus_mod.DIGIT_WORDS.index(text)
        t = np.arange(int(0.6 * 16000)) / 16000
        tone = 0.3 * np.sin(2 * np.pi * (200 + 40 * d + pitch) * t)
        return np.concatenate([np.zeros(4800), tone, np.zeros(3200)]).astype(np.float32)
    return synth


def fake_packages(name: str) -> dict:
    return {"version": "1.0-test", "licences": ["CC0"], "copyright_file": f"/usr/share/doc/{name}/copyright"}


@pytest.fixture()
def built(tmp_path):
    calls: list = []
    root = make_tree(tmp_path / "root")
    out = build_corpus(tmp_path / "corpus", CFG, source_root=root, synth=stub_synth(calls), packages=fake_packages,
                       progress=False)
    return out, root, calls


def test_digits_layout_trim_and_reader(built):
    out, _, calls = built
    files = sorted((out / "digits" / "data").glob("*/*.wav"))
    assert len(files) == CFG.speakers * 10 * CFG.repetitions == len(calls)
    assert {c[3] for c in calls} == set(corpus_mod.DIGIT_WORDS)
    assert len({c[0] for c in calls}) == CFG.speakers  # one accent+variant per speaker
    x, sr = sf.read(files[0])
    assert sr == 16000 and 0.55 <= len(x) / sr <= 0.65  # the 0.5 s of silence trimmed off the 0.6-s tone
    m = json.loads((out / "manifest.json").read_text())
    assert 0 < m["digits"]["noisy_files"] < len(files)  # part of them mixed with background
    fs = load_dataset(f"audiomnist:{out / 'digits'}", progress=False, use_cache=False)
    assert len(fs) == len(files) and fs.label_names == [str(d) for d in range(10)]
    names = [Path(f).name for f in fs.files]
    assert all(int(n[0]) == lab for n, lab in zip(names, fs.labels.tolist()))


def test_scenes_groups_day_and_manifest(built):
    out, root, _ = built
    clips = out / "scenes" / "clips"
    labels = sorted({s.label for s in corpus_mod.SCENE_SOURCES})
    assert sorted(p.name for p in clips.iterdir() if p.is_dir()) == labels
    with open(clips / "groups.csv") as f:
        groups = {r["file"]: r["group"] for r in csv.DictReader(f)}
    wavs = sorted(p.relative_to(clips).as_posix() for p in clips.glob("*/*.wav"))
    assert sorted(groups) == wavs
    for p in wavs:
        assert sf.info(clips / p).duration == pytest.approx(CFG.clip_seconds)
    per_class = {lab: sum(1 for p in wavs if p.startswith(lab + "/")) for lab in labels}
    assert all(1 <= n <= CFG.clips_per_class for n in per_class.values())
    # the folder reader keeps every source's clips in one split
    fs = load_dataset(f"folder:{clips}", progress=False, use_cache=False)
    split_of: dict[str, set] = {}
    for f, s in zip(fs.files, fs.split.tolist()):
        split_of.setdefault(groups[Path(f).relative_to(clips).as_posix()], set()).add(s)
    assert all(len(v) == 1 for v in split_of.values()) and set(fs.split.tolist()) == {"train", "val", "test"}
    # the day recording: contiguous timeline over every class, made of held-out sources only
    m = json.loads((out / "manifest.json").read_text())
    day = json.loads((out / "scenes" / "day.json").read_text())
    assert day[0]["start_s"] == 0 and all(a["end_s"] == b["start_s"] for a, b in zip(day, day[1:]))
    assert sorted(d["label"] for d in day) == labels
    # every class has a profile the runtime knows: the day can be scored at the profile level
    from catuvac.runtime.scoring import load_scene_profiles, profile_segments
    from catuvac.runtime.timeline import load_truth

    table = load_scene_profiles(m["day"]["scene_profiles"])
    assert set(table) == set(SCENE_PROFILES) >= set(labels) and set(table.values()) <= set(load_scene_profiles().values())
    assert profile_segments(load_truth(out / "scenes" / "day.json"), table)
    assert day[-1]["end_s"] == pytest.approx(sf.info(out / "scenes" / "day.wav").duration)
    held = {f"{s['label']}/{s['source']}" for s in m["sources"] if s["used_for"] == "day"}
    assert held and not held & set(groups.values())
    # speech prompts of one family are one source; the copied wind file is dropped
    fam = [s for s in m["sources"] if s["source"].endswith("-vm")]
    assert len(fam) == 1 and len(fam[0]["files"]) == 3
    dup = [s for s in m["sources"] if s["used_for"].startswith("duplicate of")]
    assert [Path(s["files"][0]).parts[-3] for s in dup] == ["winter_copy"]
    assert set(m["packages"]) >= {s.package for s in corpus_mod.SCENE_SOURCES} | {"espeak-ng"}
    assert m["packages"]["megaglest-data"]["licences"] == ["CC0"]
    assert m["data_specs"]["scenes"] == f"folder:{clips}"


def test_deterministic_and_built_once(built, tmp_path):
    out, root, calls = built
    n = len(calls)

    def digest(d: Path) -> str:
        h = hashlib.sha256()
        for p in sorted(d.rglob("*.wav")):
            h.update(p.relative_to(d).as_posix().encode())
            h.update(p.read_bytes())
        return h.hexdigest()

    before = digest(out)
    again = build_corpus(out, CFG, source_root=root, synth=stub_synth(calls), packages=fake_packages, progress=False)
    assert again == out and len(calls) == n  # finished build reused: nothing synthesized
    other = build_corpus(tmp_path / "twin", CFG, source_root=root, synth=stub_synth([]), packages=fake_packages,
                         progress=False)
    assert digest(other) == before  # same seed → identical files
    third = build_corpus(tmp_path / "seed1", replace(CFG, seed=1), source_root=root, synth=stub_synth([]),
                         packages=fake_packages, progress=False)
    assert digest(third) != before


def test_missing_packages_and_unfinished_build(tmp_path):
    with pytest.raises(CorpusError, match="make real-corpus"):
        build_corpus(tmp_path / "c", CFG, source_root=tmp_path / "empty", synth=stub_synth([]),
                     packages=fake_packages, progress=False)
    assert not (tmp_path / "c" / "manifest.json").exists()
    assert not corpus_mod.corpus_is_complete(tmp_path / "c", CFG)


def test_espeak_synth_runs_the_command(tmp_path):
    stub = tmp_path / "fake-espeak"
    stub.write_text(
        f"#!{sys.executable}\n"
        "import io, sys, numpy as np, soundfile as sf\n"
        "a = sys.argv[1:]\n"
        "assert a[0] == '-v' and a[2] == '-s' and a[4] == '-p' and a[6] == '--stdout'\n"
        "b = io.BytesIO(); sf.write(b, np.full(2205, 0.1, np.float32), 22050, format='WAV'); sys.stdout.buffer.write(b.getvalue())\n"
    )
    os.chmod(stub, 0o755)
    x = espeak_synth(str(stub))("en-gb+m3", 150, 50, "seven")
    assert x.dtype == np.float32 and len(x) == 1600  # 0.1 s at 22.05 kHz → 16 kHz
    with pytest.raises(CorpusError, match="make real-corpus"):
        espeak_synth(str(tmp_path / "no-such-synth"))("en", 150, 50, "one")


def test_the_package_script_installs_every_package_the_corpus_reads():
    """`make real-corpus` installs what SCENE_SOURCES and the synthesizer need, nothing is forgotten."""
    script = (Path(__file__).resolve().parents[2] / "tools" / "real_corpus_packages.sh").read_text()
    m = re.search(r'PKGS="\$\{CATUVAC_CORPUS_PACKAGES:-([^}]*)\}"', script)
    assert m, "PKGS default not found in tools/real_corpus_packages.sh"
    listed = set(m.group(1).split())
    needed = {s.package for s in corpus_mod.SCENE_SOURCES} | {"espeak-ng"}
    assert needed <= listed, f"missing from the script: {sorted(needed - listed)}"
