"""The real-audio benchmark corpus, built from Debian packages (library behind ``catuvac-corpus``).

Two corpora, deterministic from a seed, written under ``$CATUVAC_CACHE/real/seed<S>/``
(default ``~/.cache/catuvac/real/seed0``) and built once:

``digits/`` — spoken "zero" … "nine" in the AudioMNIST layout ``digits/data/<speaker>/<digit>_<speaker>_<n>.wav``
    (read it with ``--data audiomnist:…/digits``). A *speaker* is one espeak-ng English accent
    (``en-gb``, ``en-us``, ``en-gb-scotland`` …) with one voice variant (``m3``, ``f2``, ``klatt`` …),
    a base pitch and a base speaking rate; each repetition draws its own rate and pitch around
    the speaker's. Every file is trimmed to the spoken word (energy threshold, like the
    AudioMNIST clips), resampled to 16 kHz and levelled to a seeded peak; a seeded part of them
    is mixed with a real background excerpt (the scene sources below) at 20–40 dB SNR.
    espeak-ng is a formant synthesizer: the voices are synthetic, the backgrounds are real.

``scenes/`` — real recordings cut into 4-s clips, ``scenes/clips/<class>/<source>_<k>.wav``
    (``--data folder:…/scenes/clips``). ``scenes/clips/groups.csv`` names the source recording of
    every clip; the ``folder:`` reader keeps clips of one source in one split. Classes and the
    package files they come from are :data:`SCENE_SOURCES`. Long sources are cut with a 2-s hop
    (overlapping clips stay in one split with their source), at most ``clips_per_source`` clips
    of one source, and every class is capped at ``clips_per_class`` clips, drawn round-robin
    over its sources. Each source is levelled to
    one RMS (packages are mastered at arbitrary levels, so level would be a package artefact)
    and each clip gets a seeded ±6 dB gain. ``scenes/day.wav`` moves through every class, with
    its truth timeline ``scenes/day.json`` (``[{"start_s", "end_s", "label"}, …]``, the format
    of the built-in ``day.json``); it is made only of sources held out of the clips.

``manifest.json`` beside them (written last: a folder without it is an unfinished build) records
the settings, every Debian package with its version and licence (from
``/usr/share/doc/PKG/copyright``), every source file used and what it became, and the counts.
The packages are installed by ``tools/real_corpus_packages.sh`` (``make real-corpus``).
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from catuvac.runtime.audio import AudioError, resample, to_mono_float
from catuvac.runtime.errors import CatuvacError
from catuvac.runtime.fileio import atomic_write, atomic_write_json, atomic_write_text

__all__ = [
    "CorpusError",
    "CorpusConfig",
    "SceneSource",
    "SCENE_SOURCES",
    "DIGIT_WORDS",
    "ESPEAK_ACCENTS",
    "ESPEAK_VARIANTS",
    "default_corpus_dir",
    "corpus_is_complete",
    "build_corpus",
    "package_info",
]

# Bump when the output of the same config changes (clip cutting, levelling, file names …).
CORPUS_VERSION = 5
SAMPLE_RATE = 16000
DUPLICATE_CORRELATION = 0.95  # sources this alike are one recording (see _is_copy)
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# English accents of espeak-ng 1.51 (``espeak-ng --voices=en``; the mbrola ones need the
# non-free mbrola binary, which Debian does not ship).
ESPEAK_ACCENTS = (
    "en-gb", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029", "en-us-nyc",
)
# Voice variants (``espeak-ng-data/voices/!v``): male, female and klatt-style sources.
ESPEAK_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2", "klatt3", "croak",
    "whisper", "Annie", "Alicia", "Andy", "adam", "anika", "aunty", "belinda", "benjamin", "caleb", "david", "linda",
)


class CorpusError(CatuvacError, RuntimeError):
    """A corpus that cannot be built; the message says what to do."""


@dataclass(frozen=True)
class SceneSource:
    """Files of one Debian package that feed one scene class.

    ``patterns``: globs relative to the source root (``/`` on a real system); ``family``: how a
    file's source id is formed — ``"file"`` (each file is a recording) or ``"prefix"`` (files
    sharing the name part before the first ``-`` are one recording session, concatenated with
    short pauses: the speech prompts). ``exclude``: regexes on the path to leave out.
    """

    label: str
    package: str
    patterns: tuple[str, ...]
    family: str = "file"
    exclude: tuple[str, ...] = ()


_MG = "usr/share/games/megaglest/tilesets"
_LC = "usr/share/games/lincity-ng/sounds"
_S3 = "usr/share/games/scorched3d/data/globalmods"
_BT = "usr/share/games/btanks/data/sounds"
_FL = "usr/share/games/flare/mods"
_WN = "usr/share/games/wesnoth/1.16/data/core/sounds/ambient"
# What each class is made of. Chosen by listening-free inspection of names and durations;
# every file is recorded in the manifest, so a class can be audited.
SCENE_SOURCES: tuple[SceneSource, ...] = (
    SceneSource("speech", "asterisk-core-sounds-en-wav", ("usr/share/asterisk/sounds/en_US_f_Allison/*.wav",
                                                          "usr/share/asterisk/sounds/en_US_f_Allison/dictate/*.wav",
                                                          "usr/share/asterisk/sounds/en_US_f_Allison/followme/*.wav"),
                family="prefix"),
    SceneSource("music", "asterisk-moh-opsound-wav", ("usr/share/asterisk/moh/*.wav",)),
    SceneSource("music", "colobot-common-sounds", ("usr/share/games/colobot/music/*.ogg",)),
    SceneSource("music", "extremetuxracer-data", ("usr/share/games/etr/music/*.ogg",)),
    SceneSource("birds_day", "megaglest-data", (f"{_MG}/*/sounds/day.ogg", f"{_MG}/*/sounds/sunny_day.ogg",
                                                f"{_MG}/*/sounds/desertday.ogg")),
    SceneSource("night_insects", "megaglest-data", (f"{_MG}/*/sounds/night.ogg", f"{_MG}/*/sounds/nightime.ogg")),
    SceneSource("wind_rain", "megaglest-data", (f"{_MG}/*/sounds/wind.ogg", f"{_MG}/*/sounds/rain.ogg",
                                                f"{_MG}/*/sounds/rain.wav")),
    SceneSource("traffic", "lincity-ng-data", (f"{_LC}/TraficHigh*.wav", f"{_LC}/TraficLow*.wav",
                                               f"{_LC}/DirtTrack*.wav", f"{_LC}/RailTrain*.wav")),
    SceneSource("crowd", "lincity-ng-data", (f"{_LC}/SportsCroud*.wav", f"{_LC}/Market*.wav", f"{_LC}/School*.wav",
                                             f"{_LC}/University*.wav")),
    SceneSource("machinery", "lincity-ng-data", (f"{_LC}/Industry*.wav", f"{_LC}/Mill*.wav", f"{_LC}/CoalMine*.wav",
                                                 f"{_LC}/OreMine*.wav", f"{_LC}/PowerCoal*.wav", f"{_LC}/Recycle*.wav",
                                                 f"{_LC}/Blacksmith*.wav", f"{_LC}/Tip*.wav")),
    # Corpus v5: more recordings for the classes v4 had too few of (crowd 7 clips, traffic 8, and
    # wind_rain 3 sources, none in the val/test splits), so that every class has ≥ 6 clip
    # sources and reaches every split (issue 12).
    SceneSource("crowd", "etw-data", ("usr/share/games/etw/crowd/*.wav", "usr/share/games/etw/snd/crowd.wav")),
    SceneSource("crowd", "scorched3d-data", (f"{_S3}/apoc/data/wav/misc/cheeringloop.wav",)),
    SceneSource("traffic", "scorched3d-data", (f"{_S3}/apoc/data/wav/misc/citysounds.wav",)),
    SceneSource("traffic", "btanks-data", (f"{_BT}/ambient/city.ogg", f"{_BT}/train.ogg")),
    SceneSource("machinery", "scorched3d-data", (f"{_S3}/apoc/data/wav/misc/factoryloop1.wav",)),
    SceneSource("machinery", "simutrans-pak64", ("usr/share/games/simutrans/pak/sound/buzzsaw.wav",)),
    SceneSource("machinery", "flare-game", (f"{_FL}/fantasycore/soundfx/environment/anvil_loop.ogg",)),
    SceneSource("wind_rain", "scorched3d-data", (f"{_S3}/none/data/wav/misc/rain.wav",)),
    SceneSource("wind_rain", "flare-game", (f"{_FL}/empyrean_campaign/soundfx/environment/rain.ogg",
                                            f"{_FL}/fantasycore/soundfx/environment/*wind_loop.ogg")),
    SceneSource("night_insects", "flare-game", (f"{_FL}/fantasycore/soundfx/environment/forest_owl_loop.ogg",)),
    SceneSource("night_insects", "wesnoth-1.16-data", (f"{_WN}/night.ogg",)),
    SceneSource("birds_day", "scorched3d-data", (f"{_S3}/none/data/wav/misc/birds1.wav", f"{_S3}/none/data/wav/misc/birds2.wav")),
    SceneSource("birds_day", "flare-game", (f"{_FL}/fantasycore/soundfx/environment/bird_twitter_loop.ogg",)),
    SceneSource("birds_day", "wesnoth-1.16-data", (f"{_WN}/birds1.ogg", f"{_WN}/birds2.ogg", f"{_WN}/birds3.ogg")),
    SceneSource("birds_day", "btanks-data", (f"{_BT}/ambient/forest.ogg",)),
)


# What a fitter would pick for each real scene class (profiles of firmware_sim/default_profiles.json),
# written as scenes/scene_profiles.json so the day recording can be scored at the profile level
# (catuvac-map --scene-profiles, catuvac-listen --truth / catuvac-bench --day with that table).
SCENE_PROFILES: dict[str, str] = {
    "speech": "quiet",  # one talker, no background: speech in quiet
    "music": "music",
    "birds_day": "quiet",  # ambience, no speech to protect
    "night_insects": "quiet",
    "wind_rain": "wind",
    "traffic": "noisy-transport",
    "crowd": "speech-in-noise",  # many talkers: babble
    "machinery": "noisy-transport",  # steady loud noise
}


def write_scene_profiles(scenes_dir: Path) -> Path:
    """``scenes_dir/scene_profiles.json`` (label → profile, the table above)."""
    from catuvac.runtime.scoring import SCENE_PROFILES_FILE

    path = scenes_dir / SCENE_PROFILES_FILE
    atomic_write_json(path, {"_comment": "real scene class -> hearing-aid profile (catuvac.training.corpus.SCENE_PROFILES)",
                             **SCENE_PROFILES})
    return path


@dataclass(frozen=True)
class CorpusConfig:
    """Settings of one corpus build (all recorded in the manifest)."""

    seed: int = 0
    # digits: 48 speakers × 10 digits × 5 repetitions = 2,400 files (issue: ≥ 2,000)
    speakers: int = 48
    repetitions: int = 5
    rate_wpm: tuple[int, int] = (110, 230)  # espeak-ng speaking-rate range (words/min) of the speakers
    pitch: tuple[int, int] = (15, 85)  # espeak-ng pitch range (0–99) of the speakers
    jitter_rate: int = 20  # per-repetition spread around the speaker's rate (± wpm)
    jitter_pitch: int = 10  # … and pitch (± units)
    noisy_fraction: float = 0.5  # share of digit files mixed with a real background
    snr_db: tuple[float, float] = (20.0, 40.0)
    trim_db: float = 40.0  # digits: keep from the first to the last frame within this of the loudest
    peak_dbfs: tuple[float, float] = (-12.0, -1.0)  # digits: seeded peak level after trimming
    # scenes
    clip_seconds: float = 4.0
    hop_seconds: float = 2.0  # cut long sources with overlap (clips of a source share a split)
    clips_per_class: int = 100  # cap, drawn round-robin over the sources (v5: 100, so speech and music
    # outnumber the smallest class ≈ 3:1, not 17:1)
    clips_per_source: int = 12  # cap: one long recording must not fill a class or a test split (v4: 32,
    # and one night recording was 32 of the 72 test windows)
    min_source_seconds: float = 3.9  # a source shorter than this gives no clip
    max_file_seconds: float = 120.0  # read at most this much of one file (bounds memory; music tracks run 5 min)
    source_rms_dbfs: float = -26.0
    clip_gain_db: float = 6.0  # seeded ± gain per clip
    day_segment_seconds: tuple[float, float] = (20.0, 40.0)
    crossfade_seconds: float = 1.0


def default_corpus_dir(seed: int = 0) -> Path:
    """``$CATUVAC_CACHE/real/seed<S>`` (default ``~/.cache/catuvac/real/seed<S>``)."""
    env = os.environ.get("CATUVAC_CACHE")
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "catuvac"
    return root / "real" / f"seed{int(seed)}"


def _config_key(cfg: CorpusConfig) -> str:
    d = {"version": CORPUS_VERSION, **asdict(cfg)}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def corpus_is_complete(out: Path, cfg: CorpusConfig) -> bool:
    """True when ``out/manifest.json`` exists and was written for the same settings."""
    try:
        m = json.loads((Path(out) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return m.get("config_key") == _config_key(cfg)


# --------------------------------------------------------------------------- packages
def package_info(package: str, doc_root: Path = Path("/usr/share/doc")) -> dict[str, Any]:
    """Version (``dpkg-query``) and licence (the ``License:`` fields of the copyright file)."""
    version = None
    try:
        r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, timeout=30)
        version = r.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    copyright_file = doc_root / package / "copyright"
    licences: list[str] = []
    head = ""
    try:
        text = copyright_file.read_text(encoding="utf-8", errors="replace")
        for m in re.finditer(r"^License:\s*(\S.*)$", text, re.MULTILINE):
            lic = m.group(1).strip()
            if lic not in licences:
                licences.append(lic)
        head = "\n".join(text.splitlines()[:12])
    except OSError:
        pass
    return {
        "version": version,
        "licences": licences,
        "copyright_file": str(copyright_file),
        "copyright_head": head if not licences else "",
    }


# --------------------------------------------------------------------------- audio helpers
def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def _to_int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32767.0), -32768, 32767).astype(np.int16)


def _write_wav(path: Path, x: np.ndarray, sr: int = SAMPLE_RATE) -> None:
    """16-bit PCM WAV, atomically (scipy's writer: byte-identical for identical input)."""
    import scipy.io.wavfile

    def write(f: Any) -> None:
        buf = io.BytesIO()
        scipy.io.wavfile.write(buf, sr, _to_int16(x))
        f.write(buf.getvalue())

    atomic_write(path, write)


def _trim(x: np.ndarray, sr: int, trim_db: float) -> np.ndarray:
    """From the first to the last 10-ms frame within ``trim_db`` of the loudest frame."""
    hop = max(1, sr // 100)
    n = len(x) // hop
    if n == 0:
        return x
    e = np.square(x[: n * hop].astype(np.float64)).reshape(n, hop).mean(axis=1)
    if e.max() <= 0:
        return x[:0]
    on = np.flatnonzero(e >= e.max() * 10 ** (-trim_db / 10))
    return x[on[0] * hop : (on[-1] + 1) * hop]


def _fade(x: np.ndarray, n: int) -> np.ndarray:
    n = min(n, len(x) // 2)
    if n > 0:
        ramp = np.linspace(0.0, 1.0, n, dtype=np.float32)
        x = x.copy()
        x[:n] *= ramp
        x[-n:] *= ramp[::-1]
    return x


# --------------------------------------------------------------------------- sources
@dataclass
class _Source:
    """One recording (a file, or a family of prompts concatenated)."""

    label: str
    package: str
    sid: str  # source id, unique in its class; the split group
    files: list[str]
    audio: np.ndarray | None = None
    seconds: float = 0.0
    used_for: str = "clips"  # or "day"
    clips: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower() or "x"


def _find_sources(source_root: Path) -> list[_Source]:
    """Resolve :data:`SCENE_SOURCES` under ``source_root``; symlinks to one file count once."""
    out: list[_Source] = []
    seen: set[str] = set()
    for spec in SCENE_SOURCES:
        files: list[Path] = []
        for pat in spec.patterns:
            files += sorted(Path(p) for p in glob.glob(str(source_root / pat)))
        families: dict[str, list[str]] = {}
        for p in files:
            real = os.path.realpath(p)
            if real in seen or not p.is_file() or any(re.search(e, str(p)) for e in spec.exclude):
                continue
            seen.add(real)
            rel = p.relative_to(source_root).as_posix()
            if spec.family == "prefix":
                key = p.parent.name if p.parent.name != "en_US_f_Allison" else p.stem.split("-")[0]
            else:
                parts = p.relative_to(source_root).parts  # megaglest: <tileset>/sounds/day.ogg
                key = f"{parts[-3]}_{p.stem}" if len(parts) >= 4 and parts[-4] == "tilesets" else p.stem
            families.setdefault(_slug(key), []).append(rel)
        for key, fl in sorted(families.items()):
            out.append(_Source(spec.label, spec.package, f"{_slug(spec.package)}-{key}", fl))
    return out


def _read_head(path: Path, seconds: float) -> np.ndarray:
    """The first ``seconds`` of an audio file as float32 mono at 16 kHz."""
    import soundfile as sf

    try:
        with sf.SoundFile(str(path)) as f:
            data = f.read(frames=int(seconds * f.samplerate), dtype="float32", always_2d=True)
            sr = f.samplerate
    except Exception as e:
        raise AudioError(f"{path}: cannot read audio ({type(e).__name__}: {e})") from e
    if data.shape[0] == 0:
        raise AudioError(f"{path}: the file contains no samples")
    mono = to_mono_float(data, name=str(path))
    return resample(mono, sr, SAMPLE_RATE) if sr != SAMPLE_RATE else mono


def _load_source(src: _Source, source_root: Path, cfg: CorpusConfig) -> None:
    """Read (and for prompt families concatenate) the audio at 16 kHz, levelled to one RMS."""
    parts: list[np.ndarray] = []
    gap = np.zeros(int(0.3 * SAMPLE_RATE), np.float32)
    bad: list[str] = []
    for rel in src.files:
        try:
            x = _read_head(source_root / rel, cfg.max_file_seconds)
        except AudioError as e:
            bad.append(f"{rel}: {e}")
            continue
        parts += [x, gap] if len(src.files) > 1 else [x]
    if bad:
        src.extra["unreadable"] = bad
    a = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    r = _rms(a)
    if r > 0:
        a = a * np.float32(10 ** (cfg.source_rms_dbfs / 20) / r)
    src.audio = a.astype(np.float32)
    src.seconds = len(a) / SAMPLE_RATE


# --------------------------------------------------------------------------- scenes
def _clip_starts(n: int, cfg: CorpusConfig) -> list[int]:
    W, H = int(cfg.clip_seconds * SAMPLE_RATE), int(cfg.hop_seconds * SAMPLE_RATE)
    if n < int(cfg.min_source_seconds * SAMPLE_RATE):
        return []
    if n <= W:
        return [0]
    return list(range(0, n - W + 1, H))


def _is_copy(a: np.ndarray, b: np.ndarray) -> bool:
    """Two sources that are one recording (re-encoded or renamed copies: game data packages ship
    the same ambience under several tilesets): lengths within 1 % and the first 10 s correlate."""
    if not a.size or not b.size or abs(len(a) - len(b)) > 0.01 * max(len(a), len(b)):
        return False
    n = min(len(a), len(b), 10 * SAMPLE_RATE)
    x, y = a[:n].astype(np.float64), b[:n].astype(np.float64)
    den = np.sqrt(np.dot(x, x) * np.dot(y, y))
    return den > 0 and float(np.dot(x, y) / den) > DUPLICATE_CORRELATION


def _drop_copies(sources: list[_Source]) -> list[_Source]:
    """Keep the first of every group of copies (the others are recorded in the manifest)."""
    kept: list[_Source] = []
    for s in sources:
        twin = next((k for k in kept if k.audio is not None and s.audio is not None and _is_copy(k.audio, s.audio)), None)
        if twin is None:
            kept.append(s)
        else:
            s.used_for = f"duplicate of {twin.sid}"
    return kept


def _pick_day_sources(sources: list[_Source], rng: np.random.Generator, cfg: CorpusConfig) -> None:
    """Hold sources out for the day recording: per class, enough for one segment (≥ the
    shortest segment length), never more than a third of the class's sources."""
    for label in _labels(sources):
        cls = [s for s in sources if s.label == label and s.seconds >= cfg.min_source_seconds]
        if len(cls) < 3:
            continue
        order = [cls[i] for i in rng.permutation(len(cls))]
        total = 0.0
        for s in order[: max(1, len(cls) // 3)]:
            s.used_for = "day"
            total += s.seconds
            if total >= cfg.day_segment_seconds[0]:
                break


def _labels(sources: Sequence[_Source]) -> list[str]:
    out: list[str] = []
    for s in sources:
        if s.label not in out:
            out.append(s.label)
    return out


def _cut_clips(sources: list[_Source], rng: np.random.Generator, cfg: CorpusConfig) -> list[tuple[_Source, int]]:
    """(source, start sample) of every clip: per class round-robin over sources up to the cap."""
    picks: list[tuple[_Source, int]] = []
    for label in _labels(sources):
        cls = [s for s in sources if s.label == label and s.used_for == "clips"]
        queues = []
        for s in cls:
            starts = _clip_starts(len(s.audio) if s.audio is not None else 0, cfg)
            queues.append([starts[i] for i in rng.permutation(len(starts))][: cfg.clips_per_source])
        order = rng.permutation(len(cls)).tolist()
        taken = 0
        while taken < cfg.clips_per_class and any(queues):
            for i in order:
                if queues[i] and taken < cfg.clips_per_class:
                    picks.append((cls[i], queues[i].pop()))
                    taken += 1
    return picks


def _write_scenes(out: Path, sources: list[_Source], rng: np.random.Generator, cfg: CorpusConfig,
                  progress: bool) -> dict[str, Any]:
    clips_dir = out / "clips"
    if clips_dir.exists():
        shutil.rmtree(clips_dir)
    W = int(cfg.clip_seconds * SAMPLE_RATE)
    picks = _cut_clips(sources, rng, cfg)
    rows: list[tuple[str, str]] = []
    for src, start in _bar(picks, progress, "scene clips"):
        x = src.audio[start : start + W] if src.audio is not None else np.zeros(0, np.float32)
        if len(x) < W:
            x = np.pad(x, (0, W - len(x)))
        gain = 10 ** (rng.uniform(-cfg.clip_gain_db, cfg.clip_gain_db) / 20)
        rel = f"{src.label}/{src.sid}_{start // SAMPLE_RATE:04d}s{start % SAMPLE_RATE:05d}.wav"
        _write_wav(clips_dir / rel, np.clip(x * gain, -1, 1))
        rows.append((rel, f"{src.label}/{src.sid}"))
        src.clips += 1
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["file", "group"])
    w.writerows(rows)
    atomic_write_text(clips_dir / "groups.csv", buf.getvalue())
    day = _write_day(out, sources, rng, cfg)
    counts = {lab: sum(1 for s, _ in picks if s.label == lab) for lab in _labels(sources)}
    return {"clips": len(picks), "clips_per_class": counts, "day": day}


def _write_day(out: Path, sources: list[_Source], rng: np.random.Generator, cfg: CorpusConfig) -> dict[str, Any]:
    """day.wav from held-out sources, every class once in a seeded order, cross-faded."""
    labels = [lab for lab in _labels(sources) if any(s.label == lab and s.used_for == "day" for s in sources)]
    order = [labels[i] for i in rng.permutation(len(labels))]
    xf = int(cfg.crossfade_seconds * SAMPLE_RATE)
    audio = np.zeros(0, np.float32)
    timeline: list[dict[str, Any]] = []
    for lab in order:
        held = [s.audio for s in sources if s.label == lab and s.used_for == "day" and s.audio is not None]
        material = np.concatenate(held)
        want = int(rng.uniform(*cfg.day_segment_seconds) * SAMPLE_RATE)
        seg = material[:want] if len(material) >= want else material
        seg = _fade(seg.astype(np.float32), xf)
        start = max(0, len(audio) - xf) if len(audio) else 0
        new = np.zeros(start + len(seg), np.float32)
        new[: len(audio)] = audio
        new[start:] += seg
        boundary = (start + xf / 2) / SAMPLE_RATE if timeline else 0.0
        if timeline:
            timeline[-1]["end_s"] = boundary
        timeline.append({"start_s": boundary, "end_s": len(new) / SAMPLE_RATE, "label": lab})
        audio = new
    if not timeline:
        return {"seconds": 0.0, "segments": 0}
    _write_wav(out / "day.wav", np.clip(audio, -1, 1))
    atomic_write_json(out / "day.json", timeline)
    return {"seconds": len(audio) / SAMPLE_RATE, "segments": len(timeline), "labels": order}


# --------------------------------------------------------------------------- digits
Synth = Callable[[str, int, int, str], np.ndarray]
SYNTH_PACKAGES = ("espeak-ng", "espeak-ng-data")  # recorded in the manifest with the scene packages


def espeak_synth(command: str = "espeak-ng") -> Synth:
    """A synthesizer ``(voice, rate_wpm, pitch, text) → float32 audio at 16 kHz`` that runs
    ``command -v VOICE -s RATE -p PITCH --stdout TEXT`` (a WAV on stdout)."""
    import soundfile as sf

    def synth(voice: str, rate: int, pitch: int, text: str) -> np.ndarray:
        try:
            r = subprocess.run([command, "-v", voice, "-s", str(rate), "-p", str(pitch), "--stdout", text],
                               capture_output=True, timeout=60, check=True)
        except FileNotFoundError:
            raise CorpusError(f"{command} not found; run `make real-corpus` (it installs espeak-ng)") from None
        except subprocess.CalledProcessError as e:
            raise CorpusError(f"{command} -v {voice} failed: {e.stderr.decode(errors='replace').strip()}") from None
        data, sr = sf.read(io.BytesIO(r.stdout), dtype="float32", always_2d=True)
        return resample(data.mean(axis=1), sr, SAMPLE_RATE) if sr != SAMPLE_RATE else data.mean(axis=1)

    return synth


def _speakers(cfg: CorpusConfig, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Distinct (accent, variant) pairs with a base rate and pitch each."""
    pairs = [(a, v) for v in ESPEAK_VARIANTS for a in ESPEAK_ACCENTS]
    if cfg.speakers > len(pairs):
        raise CorpusError(f"at most {len(pairs)} speakers (accents × variants), got {cfg.speakers}")
    chosen = [pairs[i] for i in rng.choice(len(pairs), size=cfg.speakers, replace=False)]
    return [
        {"speaker": f"{i + 1:02d}", "voice": f"{a}+{v}",
         "rate_wpm": int(rng.integers(cfg.rate_wpm[0], cfg.rate_wpm[1] + 1)),
         "pitch": int(rng.integers(cfg.pitch[0], cfg.pitch[1] + 1))}
        for i, (a, v) in enumerate(chosen)
    ]


def _background(sources: list[_Source], rng: np.random.Generator, n: int) -> tuple[np.ndarray, str]:
    usable = [s for s in sources if s.audio is not None and len(s.audio) > n and s.label != "speech"]
    if not usable:
        return np.zeros(n, np.float32), ""
    s = usable[int(rng.integers(len(usable)))]
    start = int(rng.integers(0, len(s.audio) - n))
    return s.audio[start : start + n], s.sid


def _write_digits(out: Path, sources: list[_Source], synth: Synth, rng: np.random.Generator, cfg: CorpusConfig,
                  progress: bool) -> dict[str, Any]:
    data = out / "data"
    if data.exists():
        shutil.rmtree(data)
    speakers = _speakers(cfg, rng)
    jobs = [(sp, d, n) for sp in speakers for d in range(10) for n in range(cfg.repetitions)]
    noisy = 0
    empty: list[str] = []
    for sp, d, n in _bar(jobs, progress, "digits"):
        rate = int(np.clip(sp["rate_wpm"] + rng.integers(-cfg.jitter_rate, cfg.jitter_rate + 1), 80, 450))
        pitch = int(np.clip(sp["pitch"] + rng.integers(-cfg.jitter_pitch, cfg.jitter_pitch + 1), 0, 99))
        x = _trim(synth(sp["voice"], rate, pitch, DIGIT_WORDS[d]), SAMPLE_RATE, cfg.trim_db)
        name = f"{d}_{sp['speaker']}_{n}.wav"
        if x.size == 0:
            empty.append(name)
            continue
        x = x / max(float(np.max(np.abs(x))), 1e-9)
        if rng.random() < cfg.noisy_fraction:
            bg, _ = _background(sources, rng, len(x))
            if _rms(bg) > 0:
                snr = rng.uniform(*cfg.snr_db)
                x = x + bg * np.float32(_rms(x) / _rms(bg) * 10 ** (-snr / 20))
                noisy += 1
        x = x / max(float(np.max(np.abs(x))), 1e-9) * 10 ** (rng.uniform(*cfg.peak_dbfs) / 20)
        _write_wav(data / sp["speaker"] / name, x)
    if empty:
        raise CorpusError(f"the synthesizer produced silence for {len(empty)} file(s), e.g. {empty[0]}")
    return {"files": len(jobs), "noisy_files": noisy, "speakers": speakers}


# --------------------------------------------------------------------------- build
def _bar(items: Sequence[Any], progress: bool, desc: str) -> Iterable[Any]:
    if not progress:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="file", file=sys.stderr, dynamic_ncols=True, leave=False)


def build_corpus(
    out_dir: "str | os.PathLike | None" = None,
    cfg: CorpusConfig = CorpusConfig(),
    source_root: "str | os.PathLike" = "/",
    synth: Synth | None = None,
    packages: Callable[[str], dict[str, Any]] = package_info,
    force: bool = False,
    progress: bool = True,
) -> Path:
    """Build (or find already built) both corpora in ``out_dir`` (default :func:`default_corpus_dir`).

    ``source_root``: where the Debian files are (``/``; tests pass a fake tree). ``synth``: the
    digit synthesizer (default :func:`espeak_synth`). ``packages``: package → version/licence
    record. A finished build with the same settings is reused unless ``force``.
    """
    out = Path(out_dir) if out_dir is not None else default_corpus_dir(cfg.seed)
    if corpus_is_complete(out, cfg) and not force:
        if not (out / "scenes" / "scene_profiles.json").exists():  # a build older than the table
            write_scene_profiles(out / "scenes")
        return out
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)  # from here on the folder reads as unfinished
    root = Path(source_root)
    sources = _find_sources(root)
    missing = sorted({s.package for s in SCENE_SOURCES} - {s.package for s in sources})
    if missing:
        raise CorpusError(
            f"no source files of package(s) {', '.join(missing)} under {root}; run `make real-corpus` "
            "(tools/real_corpus_packages.sh installs them)"
        )
    for s in _bar(sources, progress, "sources"):
        _load_source(s, root, cfg)
    usable = _drop_copies(sources)
    rng_scene = np.random.default_rng([cfg.seed, 1])
    _pick_day_sources(usable, rng_scene, cfg)
    scenes = _write_scenes(out / "scenes", usable, rng_scene, cfg, progress)
    digits = _write_digits(out / "digits", usable, synth or espeak_synth(), np.random.default_rng([cfg.seed, 2]),
                           cfg, progress)
    profiles = write_scene_profiles(out / "scenes")
    pkgs = sorted({s.package for s in SCENE_SOURCES} | set(SYNTH_PACKAGES))
    manifest = {
        "builder": "catuvac-corpus",
        "version": CORPUS_VERSION,
        "config_key": _config_key(cfg),
        "config": asdict(cfg),
        "sample_rate": SAMPLE_RATE,
        "data_specs": {"digits": f"audiomnist:{out / 'digits'}", "scenes": f"folder:{out / 'scenes' / 'clips'}"},
        "day": {"audio": str(out / "scenes" / "day.wav"), "timeline": str(out / "scenes" / "day.json"),
                "scene_profiles": str(profiles), **scenes.pop("day")},
        "packages": {p: packages(p) for p in pkgs},
        "scenes": scenes,
        "digits": digits,
        "sources": [
            {"label": s.label, "package": s.package, "source": s.sid, "files": s.files, "seconds": round(s.seconds, 2),
             "used_for": s.used_for, "clips": s.clips, **s.extra}
            for s in sources
        ],
    }
    atomic_write_json(out / "manifest.json", manifest)
    return out
