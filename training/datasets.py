"""Dataset readers, windows + activity masks, seeded splits and the on-disk feature cache.

Selected on the command line as ``--data KIND:PATH``:

==================  ==========================================================================
``audiomnist:PATH`` ``PATH/data/<speaker>/<digit>_<speaker>_<n>.wav`` (or ``PATH`` = the
                    ``data`` folder itself). Label = the digit. Window 1 s, AudioMNIST
                    front-end (magnitude spectrogram, 128 × 122).
``us8k:PATH``       UrbanSound8K: ``PATH/metadata/UrbanSound8K.csv`` (``slice_file_name, fsID,
                    start, end, salience, fold, classID, class``) and
                    ``PATH/audio/fold<fold>/<slice_file_name>``. Label = ``classID`` (names
                    from ``class``). Window 4 s.
``tau2019:PATH``    TAU Urban Acoustic Scenes 2019 development: ``PATH/meta.csv``
                    (tab-separated, header ``filename scene_label identifier source_label``;
                    ``filename`` like ``audio/airport-barcelona-0-0-a.wav``, relative to
                    ``PATH``). Label = ``scene_label`` (names sorted). Window 10 s.
``folder:PATH``     Any audio files under ``PATH`` (recursively; or ``PATH`` is one file).
                    If every file sits in a sub-folder, label = first-level sub-folder name;
                    otherwise there are no labels (``labels is None``). For evaluation.
                    An optional ``PATH/groups.csv`` (``file,group``) names each clip's split
                    group (e.g. its source recording; ``catuvac-corpus`` writes one).
``builtin:scenes``  The built-in synthetic corpus (:mod:`catuvac.training.scenes`), generated
                    once into the cache. Options: ``builtin:scenes?seed=1&n=40`` (corpus seed,
                    clips per class; defaults 0 and 40). Only clips inside class sub-folders
                    are used (the corpus's ``day.wav`` is not). Window 4 s.
==================  ==========================================================================

Windows
    Every clip is resampled to the front-end rate (polyphase, :func:`load_audio`) and turned
    into windows of ``frontend.window_samples`` samples, one sample of the dataset each:

    - a clip no longer than the window is zero-padded at the end to one window;
    - a longer clip is cut into non-overlapping windows ``[k·W, (k+1)·W)``; a last partial
      window is kept (zero-padded) only if it holds at least half a window of signal, so a
      window is never mostly padding. All windows of one clip carry the clip's id and always
      land in the same split (no leakage between splits).

    Raw log features are computed on each padded window (:meth:`FrontEnd.features`), so every
    window has exactly ``frontend.window_frames`` frames (4 s → 128 × 132, 10 s → 128 × 332,
    AudioMNIST 1 s → 128 × 122). Features are *not* normalized here: the trainer applies
    :func:`normalize_window` (or global statistics fitted on the training split).

Activity mask (one value per frame, 1 = counts in the reconstruction loss)
    1. Padding rule (all datasets): frame ``t`` covers samples ``[t·hop, t·hop + n_fft)`` of
       its window; it is active iff at least half of it is real signal, i.e.
       ``t·hop + n_fft/2 ≤ n_real`` where ``n_real`` is the number of real (un-padded)
       samples in that window. For a 1.5-s clip in a 4-s scenes window (hop 480, n_fft
       960, 132 frames): 50 active frames, 82 masked.
    2. Energy rule ("voice activity detection mask" of the paper; on by default for US8K
       only, ``vad_db=60``): among the frames active by rule 1, a frame is also masked if its
       Hann-windowed energy is more than ``vad_db`` dB below the loudest frame of the same
       clip (all windows of the clip share the reference). Digital silence is always more
       than ``vad_db`` below, and an all-silent clip gets an all-zero mask. Pass
       ``vad_db=None`` to turn rule 2 off, or a number to turn it on for any dataset.
    A clip shorter than half an STFT frame (or all-silent under rule 2) therefore has an
    all-zero mask; it is kept, and the trainer must guard against dividing by zero.

Splits (seeded by ``seed``, always by *group* so related windows never straddle splits)
    - AudioMNIST: group = file; exactly 24000 / 3000 / 3000 (train / val / test) when all
      30000 files are readable, as in the paper; otherwise 80 / 10 / 10 %; not stratified
      (the paper draws them at random).
    - US8K: group = ``fsID`` (slices of one Freesound recording stay together, the same
      leakage guard as the official folds); 80 / 10 / 10 % stratified by class.
    - TAU2019: group = (``scene_label``, ``identifier``) (all segments recorded at one location
      stay together, as in the official DCASE setup; an identifier like ``barcelona-0`` names a
      location within a scene); 80 / 10 / 10 % stratified by scene.
    - builtin, folder: group = file (folder: or the ``group`` of ``groups.csv``); 80 / 10 / 10 %
      stratified by label when there are labels.
    ``split_sizes`` overrides the default: three fractions summing to 1, or three group
    counts summing to the number of groups. With ≥ 3 groups, val and test get at least one
    group each.

Feature cache
    ``$CATUVAC_CACHE/features`` (default ``~/.cache/catuvac/features``), one ``.npz`` per audio
    file named by the sha256 of the file's bytes and a hash of the front-end's
    :meth:`FrontEndConfig.feature_key`, the window length, the mask settings and
    :data:`CACHE_VERSION`. Entries are written atomically (temporary file + ``os.replace``);
    an unreadable or inconsistent entry is recomputed. A second run only hashes the files.

Bad files
    A missing, corrupt or unreadable file (or a metadata row that cannot be used) never stops
    a run: it is skipped, kept in :attr:`FeatureSet.skipped` as ``(path, reason)`` and listed
    in a report on stderr at the end.

This module imports numpy / scipy / soundfile / tqdm only (never torch).
"""

from __future__ import annotations

import csv
import math
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from catuvac.runtime.audio import AudioError, load_audio
from catuvac.runtime.errors import CatuvacError
from catuvac.runtime.fileio import atomic_write, cache_root, file_sha256, json_digest
from catuvac.runtime.frontend import FrontEnd, FrontEndConfig
from catuvac.training.scenes import DAYS_DIR, DEFAULT_CLIPS_PER_CLASS

__all__ = [
    "DatasetError",
    "DataSpec",
    "FeatureSet",
    "KINDS",
    "CACHE_VERSION",
    "AUDIO_EXTENSIONS",
    "parse_data_spec",
    "default_frontend",
    "default_cache_dir",
    "load_dataset",
    "assign_splits",
    "clip_windows",
    "activity_mask",
    "format_skipped_report",
]

# Bump when the cached content (windowing, mask rule, file format) changes: stale entries are
# then simply never found again.
CACHE_VERSION = 1

KINDS: tuple[str, ...] = ("audiomnist", "us8k", "tau2019", "folder", "builtin")

# Extensions libsndfile reads that we look for in plain folders.
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".au", ".mp3")

# Paper: 24000 / 3000 / 3000 random AudioMNIST files.
AUDIOMNIST_SPLIT = (24000, 3000, 3000)
AUDIOMNIST_FILES = 30000
# Everything else: the usual 80 / 10 / 10 %.
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
# The paper's US8K "voice activity detection mask": 60 dB below the loudest frame is a common
# VAD floor (far below any real sound event, above dither/quantisation noise).
US8K_VAD_DB = 60.0
# A clip must fill at least this fraction of the window in at least one clip, else the
# requested window is meaningless (almost all padding) and we stop with advice.
MIN_FILL = 0.5

_USAGE = "use one of audiomnist:PATH, us8k:PATH, tau2019:PATH, folder:PATH, builtin:scenes"

_LAYOUTS = {
    "audiomnist": "PATH/data/<speaker>/<digit>_<speaker>_<n>.wav (or PATH = the data folder)",
    "us8k": "PATH/metadata/UrbanSound8K.csv and PATH/audio/fold1..fold10/*.wav",
    "tau2019": "PATH/meta.csv (tab-separated: filename, scene_label, identifier, source_label) "
    "and PATH/audio/*.wav",
    "folder": "PATH/**/*.wav|flac|ogg|… (labels from first-level sub-folder names when every "
    "file sits in one; optional PATH/groups.csv with columns file,group)",
    "builtin": "builtin:scenes (generated automatically)",
}


class DatasetError(CatuvacError, ValueError):
    """A dataset that cannot be used; the message names the path and says what to do."""


# --------------------------------------------------------------------------- spec
@dataclass(frozen=True)
class DataSpec:
    """A parsed ``--data`` argument: ``kind`` plus ``path`` (or built-in ``name`` + options)."""

    kind: str
    path: Path | None = None
    name: str | None = None  # built-in corpus name ("scenes")
    options: tuple[tuple[str, int], ...] = ()  # built-in options, e.g. (("n", 40), ("seed", 0))

    def option(self, key: str, default: int) -> int:
        return dict(self.options).get(key, default)

    def __str__(self) -> str:
        if self.kind == "builtin":
            q = "&".join(f"{k}={v}" for k, v in self.options)
            return f"builtin:{self.name}" + (f"?{q}" if q else "")
        return f"{self.kind}:{self.path}"


_BUILTIN_OPTIONS = {"seed": 0, "n": DEFAULT_CLIPS_PER_CLASS}  # corpus seed, clips per class (scenes.py defaults)


def parse_data_spec(spec: "str | DataSpec") -> DataSpec:
    """Parse ``audiomnist:PATH``, ``us8k:PATH``, ``tau2019:PATH``, ``folder:PATH``,
    ``builtin:scenes[?seed=S&n=N]``. Raises :class:`DatasetError` with the accepted forms."""
    if isinstance(spec, DataSpec):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise DatasetError(f"empty dataset spec; {_USAGE}")
    s = spec.strip()
    kind, sep, rest = s.partition(":")
    kind = kind.strip().lower()
    if not sep:
        hint = f" (to use the folder {s!r}, write folder:{s})" if Path(s).expanduser().exists() else ""
        raise DatasetError(f"dataset spec {s!r} has no kind{hint}; {_USAGE}")
    if kind not in KINDS:
        raise DatasetError(f"unknown dataset kind {kind!r}; {_USAGE}")
    rest = rest.strip()
    if kind == "builtin":
        name, _, query = rest.partition("?")
        name = name.strip().lower()
        if not name:
            raise DatasetError("builtin needs a corpus name: builtin:scenes")
        if name != "scenes":
            raise DatasetError(f"unknown built-in dataset {name!r}; available: builtin:scenes")
        opts = dict(_BUILTIN_OPTIONS)
        for part in filter(None, query.split("&")):
            key, eq, val = part.partition("=")
            key = key.strip()
            if key not in _BUILTIN_OPTIONS:
                raise DatasetError(
                    f"unknown option {key!r} in {s!r}; builtin:scenes takes seed=INT and n=INT "
                    "(clips per class), e.g. builtin:scenes?seed=1&n=40"
                )
            try:
                opts[key] = int(val)
            except ValueError:
                raise DatasetError(f"option {key}={val!r} in {s!r} must be an integer") from None
        if opts["n"] < 1:
            raise DatasetError(f"n={opts['n']} in {s!r}: need at least one clip per class")
        return DataSpec("builtin", None, name, tuple(sorted(opts.items())))
    if not rest:
        raise DatasetError(f"dataset kind {kind!r} needs a path: {kind}:PATH ({_LAYOUTS[kind]})")
    return DataSpec(kind, Path(rest).expanduser())


def default_frontend(spec: "str | DataSpec") -> FrontEndConfig:
    """The paper's front-end for a dataset: AudioMNIST 1-s spectrogram, US8K 4 s, TAU2019 10 s,
    built-in scenes and plain folders 4 s (the runtime's default context)."""
    k = parse_data_spec(spec).kind
    if k == "audiomnist":
        return FrontEndConfig.audiomnist()
    if k == "tau2019":
        return FrontEndConfig.scenes(window_seconds=10.0)
    return FrontEndConfig.scenes(window_seconds=4.0)


def default_cache_dir() -> Path:
    """``$CATUVAC_CACHE/features``, else ``~/.cache/catuvac/features``."""
    return cache_root() / "features"


# --------------------------------------------------------------------------- feature set
@dataclass
class FeatureSet:
    """Windows of raw log features with masks, labels and splits (numpy only).

    ``x``: (N, F, T) float32 raw (un-normalized) log features; ``mask``: (N, T) float32 in
    {0, 1}; ``labels``: (N,) int64 or ``None`` (no labels: label metrics are skipped);
    ``label_names``: class names indexed by label; ``clip_ids``: (N,) str, the clip each window
    comes from (relative path); ``window_index``: (N,) int, the window's position in its clip;
    ``files``: per window, the audio file; ``split``: (N,) str, "train" / "val" / "test";
    ``skipped``: ``(path, reason)`` of files that could not be used.
    """

    x: np.ndarray
    mask: np.ndarray
    labels: np.ndarray | None
    label_names: list[str] | None
    clip_ids: np.ndarray
    window_index: np.ndarray
    files: list[str]
    split: np.ndarray
    skipped: list[tuple[str, str]] = field(default_factory=list)
    frontend: FrontEndConfig | None = None
    source: str = ""
    cache_hits: int = 0
    cache_misses: int = 0

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def n_clips(self) -> int:
        return int(len(np.unique(self.clip_ids))) if len(self) else 0

    @property
    def n_classes(self) -> int | None:
        return None if self.label_names is None else len(self.label_names)

    def take(self, index: np.ndarray) -> "FeatureSet":
        """A new set with the windows ``index`` (int indices or boolean mask); arrays are copies."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return replace(
            self,
            x=self.x[idx],
            mask=self.mask[idx],
            labels=None if self.labels is None else self.labels[idx],
            clip_ids=self.clip_ids[idx],
            window_index=self.window_index[idx],
            files=[self.files[i] for i in idx.tolist()],
            split=self.split[idx],
        )

    def subset(self, split: "str | Sequence[str]") -> "FeatureSet":
        """The windows of one split ("train", "val", "test") or several."""
        names = [split] if isinstance(split, str) else list(split)
        bad = [s for s in names if s not in ("train", "val", "test")]
        if bad:
            raise DatasetError(f"unknown split {bad[0]!r}; use 'train', 'val' or 'test'")
        return self.take(np.isin(self.split, names))

    def split_counts(self) -> dict[str, int]:
        return {s: int(np.count_nonzero(self.split == s)) for s in ("train", "val", "test")}

    def summary(self) -> str:
        c = self.split_counts()
        shape = "×".join(str(d) for d in self.x.shape[1:])
        lab = f"{len(self.label_names)} classes" if self.label_names is not None else "no labels"
        return (
            f"{self.source}: {len(self)} windows ({shape}) from {self.n_clips} clips, {lab}; "
            f"train/val/test = {c['train']}/{c['val']}/{c['test']}; "
            f"{len(self.skipped)} skipped; cache {self.cache_hits} hit(s), {self.cache_misses} computed"
        )


# --------------------------------------------------------------------------- readers
@dataclass
class _Entry:
    path: Path
    clip_id: str  # relative path, unique per clip
    label: int | None
    group: str  # split unit


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _need_dir(path: Path, kind: str) -> None:
    if not path.exists():
        raise DatasetError(f"{kind}: {path} does not exist; expected {_LAYOUTS[kind]}")
    if not path.is_dir():
        raise DatasetError(f"{kind}: {path} is not a folder; expected {_LAYOUTS[kind]}")


_AUDIOMNIST_NAME = re.compile(r"^(\d)_(\d+)_(\d+)\.wav$", re.IGNORECASE)


def _read_audiomnist(root: Path) -> tuple[list[_Entry], list[str], list[tuple[str, str]]]:
    _need_dir(root, "audiomnist")
    data = root / "data" if (root / "data").is_dir() else root
    entries: list[_Entry] = []
    skipped: list[tuple[str, str]] = []
    for p in sorted(data.glob("*/*")):
        if not p.is_file() or p.suffix.lower() != ".wav":
            continue
        m = _AUDIOMNIST_NAME.match(p.name)
        if not m:
            skipped.append((str(p), "name does not match <digit>_<speaker>_<n>.wav"))
            continue
        rel = _rel(p, data)
        entries.append(_Entry(p, rel, int(m.group(1)), rel))
    return entries, [str(d) for d in range(10)], skipped


def _read_csv(path: Path, kind: str, delimiter: str, required: Sequence[str]) -> list[dict[str, str]]:
    if not path.is_file():
        raise DatasetError(f"{kind}: metadata file {path} not found; expected {_LAYOUTS[kind]}")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f, delimiter=delimiter)
            cols = [c.strip() for c in (reader.fieldnames or [])]
            missing = [c for c in required if c not in cols]
            if missing:
                sep = "tab" if delimiter == "\t" else repr(delimiter)
                raise DatasetError(
                    f"{kind}: {path} lacks column(s) {missing} (found {cols}); it must be "
                    f"{sep}-separated with a header naming {list(required)}"
                )
            return [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"{kind}: cannot read {path} ({e})") from e


def _read_us8k(root: Path) -> tuple[list[_Entry], list[str], list[tuple[str, str]]]:
    _need_dir(root, "us8k")
    meta = root / "metadata" / "UrbanSound8K.csv"
    rows = _read_csv(meta, "us8k", ",", ("slice_file_name", "fsID", "fold", "classID", "class"))
    entries: list[_Entry] = []
    skipped: list[tuple[str, str]] = []
    names: dict[int, str] = {}
    for i, r in enumerate(rows):
        try:
            fold = int(r["fold"])
            cid = int(r["classID"])
            if cid < 0:
                raise ValueError("negative classID")
        except ValueError as e:
            skipped.append((f"{meta}:{i + 2}", f"bad metadata row ({e})"))
            continue
        rel = f"fold{fold}/{r['slice_file_name']}"
        names.setdefault(cid, r["class"] or str(cid))
        entries.append(_Entry(root / "audio" / rel, rel, cid, f"fsID:{r['fsID']}"))
    n_classes = max(names) + 1 if names else 0
    label_names = [names.get(c, str(c)) for c in range(n_classes)]
    return entries, label_names, skipped


def _read_tau2019(root: Path) -> tuple[list[_Entry], list[str], list[tuple[str, str]]]:
    _need_dir(root, "tau2019")
    meta = root / "meta.csv"
    rows = _read_csv(meta, "tau2019", "\t", ("filename", "scene_label"))
    scenes = sorted({r["scene_label"] for r in rows if r["scene_label"]})
    index = {s: i for i, s in enumerate(scenes)}
    entries: list[_Entry] = []
    skipped: list[tuple[str, str]] = []
    for i, r in enumerate(rows):
        if not r["filename"] or not r["scene_label"]:
            skipped.append((f"{meta}:{i + 2}", "bad metadata row (empty filename or scene_label)"))
            continue
        # identifiers ("barcelona-0") are location ids *within* a scene: group by both
        ident = r.get("identifier") or r["filename"]
        group = f"id:{r['scene_label']}/{ident}"
        entries.append(_Entry(root / r["filename"], r["filename"], index[r["scene_label"]], group))
    return entries, scenes, skipped


def _audio_files(root: Path) -> list[Path]:
    return sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".")
    )


def _read_folder(root: Path) -> tuple[list[_Entry], list[str] | None, list[tuple[str, str]]]:
    if not root.exists():
        raise DatasetError(f"folder: {root} does not exist; expected {_LAYOUTS['folder']}")
    if root.is_file():
        return [_Entry(root, root.name, None, root.name)], None, []
    files = _audio_files(root)
    if (root / "manifest.json").is_file() and (root / DAYS_DIR).is_dir():  # a catuvac-scenes corpus
        held = [p for p in files if p.relative_to(root).parts[0] == DAYS_DIR]
        files = [p for p in files if p.relative_to(root).parts[0] != DAYS_DIR]
        if held:
            print(f"catuvac: {root} is a catuvac-scenes corpus: its {len(held)} test recording(s) in {DAYS_DIR}/ are left out; "
                  "the classes are its other sub-folders", file=sys.stderr)
    rels = [p.relative_to(root) for p in files]
    labelled = bool(rels) and all(len(r.parts) > 1 for r in rels)
    if not labelled and any(len(r.parts) > 1 for r in rels):
        print(
            f"catuvac: {root} mixes files at its top level with files in sub-folders; "
            "treating it as unlabelled (put every file in a class sub-folder to get labels)",
            file=sys.stderr,
        )
    names = sorted({r.parts[0] for r in rels}) if labelled else None
    index = {n: i for i, n in enumerate(names or [])}
    groups = _folder_groups(root)
    entries = [
        _Entry(p, r.as_posix(), index[r.parts[0]] if labelled else None, groups.get(r.as_posix(), r.as_posix()))
        for p, r in zip(files, rels)
    ]
    return entries, names, []


FOLDER_GROUPS = "groups.csv"


def _folder_groups(root: Path) -> dict[str, str]:
    """``root/groups.csv`` (columns ``file,group``; ``file`` relative to ``root``): clips of one
    group — e.g. cut from one source recording — always share a split. Files not listed are
    their own group."""
    path = root / FOLDER_GROUPS
    if not path.is_file():
        return {}
    rows = _read_csv(path, "folder", ",", ("file", "group"))
    return {r["file"]: "group:" + r["group"] for r in rows if r["file"] and r["group"]}


def _read_builtin(spec: DataSpec) -> tuple[list[_Entry], list[str], list[tuple[str, str]], Path]:
    import importlib

    scenes = importlib.import_module("catuvac.training.scenes")  # looked up per call: tests substitute the module
    root = Path(scenes.builtin_scenes_dir(seed=spec.option("seed", 0), clips_per_class=spec.option("n", DEFAULT_CLIPS_PER_CLASS)))
    classes = [c for c in getattr(scenes, "SCENE_CLASSES", ()) if (root / c).is_dir()]
    days = getattr(scenes, "DAYS_DIR", None)  # test recordings, not a class
    extra = sorted(d.name for d in root.iterdir() if d.is_dir() and d.name not in classes and d.name != days)
    names = list(classes) + extra
    entries: list[_Entry] = []
    for i, c in enumerate(names):
        for p in _audio_files(root / c):
            rel = _rel(p, root)
            entries.append(_Entry(p, rel, i, rel))
    return entries, names, [], root


# --------------------------------------------------------------------------- windows + masks
def _n_windows(n_samples: int, window: int) -> int:
    """Windows a clip of ``n_samples`` gives (see module docstring: tail kept iff ≥ W/2)."""
    if n_samples <= window:
        return 1
    k, rem = divmod(n_samples, window)
    return k + (1 if 2 * rem >= window else 0)


def activity_mask(n_real: int, cfg: FrontEndConfig) -> np.ndarray:
    """Padding rule: frame ``t`` of a window is active iff ``t·hop + n_fft/2 ≤ n_real``.

    ``n_real``: real (un-padded) samples in the window. Returns (window_frames,) float32 0/1.
    """
    t = np.arange(cfg.window_frames)
    return (2 * t * cfg.hop_length + cfg.n_fft <= 2 * int(n_real)).astype(np.float32)


def clip_windows(
    audio: np.ndarray, cfg: FrontEndConfig, frontend: FrontEnd | None = None, vad_db: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Cut / pad one clip (mono, at ``cfg.sample_rate``) into windows and compute their masks.

    Returns ``x`` (W, F, T) float32 raw log features and ``mask`` (W, T) float32 in {0, 1}.
    """
    fe = frontend if frontend is not None else FrontEnd(cfg)
    a = np.asarray(audio, dtype=np.float32).reshape(-1)
    W = cfg.window_samples
    n_win = _n_windows(len(a), W)
    T = cfg.window_frames
    xs = np.empty((n_win, cfg.n_features, T), dtype=np.float32)
    mask = np.empty((n_win, T), dtype=np.float32)
    energy = np.empty((n_win, T), dtype=np.float64) if vad_db is not None else None
    for k in range(n_win):
        seg = a[k * W : (k + 1) * W]
        n_real = len(seg)
        if n_real < W:
            seg = np.concatenate([seg, np.zeros(W - n_real, dtype=np.float32)])
        xs[k] = fe.features(seg)
        mask[k] = activity_mask(n_real, cfg)
        if energy is not None:
            frames = np.lib.stride_tricks.sliding_window_view(seg.astype(np.float64), cfg.n_fft)[:: cfg.hop_length][:T]
            energy[k] = np.sum((frames * fe.window) ** 2, axis=1)
    if energy is not None:
        active = mask > 0
        ref = float(energy[active].max()) if active.any() else 0.0
        if ref <= 0.0:
            mask[:] = 0.0  # all-silent clip: nothing to reconstruct
        else:
            mask *= (energy >= ref * 10.0 ** (-float(vad_db) / 10.0)).astype(np.float32)
    return xs, mask


# --------------------------------------------------------------------------- cache
def _settings_key(cfg: FrontEndConfig, vad_db: float | None) -> str:
    d = {
        "cache_version": CACHE_VERSION,
        "feature_key": cfg.feature_key(),
        "window_samples": cfg.window_samples,
        "vad_db": vad_db,
        "min_tail": "half",
    }
    return json_digest(d)


class _Cache:
    """One ``.npz`` per (file content, settings); atomic writes; bad entries are recomputed."""

    def __init__(self, root: Path | None, settings: str, cfg: FrontEndConfig) -> None:
        self.root = root
        self.settings = settings
        self.shape = (cfg.n_features, cfg.window_frames)
        self.write_error: str | None = None

    def _path(self, digest: str) -> Path:
        assert self.root is not None
        return self.root / digest[:2] / f"{digest}-{self.settings}.npz"

    def get(self, digest: str) -> tuple[np.ndarray, np.ndarray, int] | None:
        if self.root is None:
            return None
        p = self._path(digest)
        if not p.is_file():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                x = np.asarray(z["x"], dtype=np.float32)
                m = np.asarray(z["mask"]).astype(np.float32)
                n = int(z["n_samples"])
            if x.ndim != 3 or x.shape[1:] != self.shape or m.shape != (x.shape[0], self.shape[1]) or x.shape[0] < 1:
                return None
            if not np.all(np.isfinite(x)):
                return None
            return x, m, n
        except Exception:  # truncated / garbage entry: recompute
            return None

    def put(self, digest: str, x: np.ndarray, mask: np.ndarray, n_samples: int) -> None:
        if self.root is None or self.write_error is not None:
            return
        p = self._path(digest)
        try:
            atomic_write(p, lambda f: np.savez(f, x=x, mask=mask.astype(np.uint8), n_samples=np.int64(n_samples)))
        except OSError as e:  # read-only / full disk: keep running without the cache
            self.write_error = f"{p.parent}: {e}"
            print(f"catuvac: feature cache disabled ({self.write_error})", file=sys.stderr)


# --------------------------------------------------------------------------- splits
def _round(x: float) -> int:
    return int(math.floor(x + 0.5))


def assign_splits(
    groups: Sequence[str],
    labels: Sequence[int] | None = None,
    seed: int = 0,
    sizes: Sequence[float] | Sequence[int] | None = None,
    stratify: bool = True,
) -> np.ndarray:
    """Seeded train / val / test assignment of items by group; returns one split name per item.

    ``groups``: the split unit of each item (items of one group share a split). ``labels``:
    per item, used to stratify by the group's (first item's) label when ``stratify``.
    ``sizes``: three fractions summing to 1 (default 0.8 / 0.1 / 0.1) or three integer group
    counts summing to the number of groups (then not stratified). Depends only on the set of
    groups and ``seed``, not on the order of ``groups``.
    """
    groups = [str(g) for g in groups]
    uniq = sorted(set(groups))
    n = len(uniq)
    if n == 0:
        return np.array([], dtype="<U5")
    rng = np.random.default_rng(seed)
    sizes = DEFAULT_FRACTIONS if sizes is None else tuple(sizes)
    if len(sizes) != 3 or any(s < 0 for s in sizes):
        raise DatasetError(f"split sizes must be three non-negative numbers (train, val, test), got {sizes}")
    gsplit: dict[str, str] = {}
    if all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in sizes):
        if sum(sizes) != n:
            raise DatasetError(
                f"split sizes {tuple(sizes)} add up to {sum(sizes)} but the dataset has {n} "
                "clips/groups; give counts that add up, or fractions like (0.8, 0.1, 0.1)"
            )
        perm = [uniq[i] for i in rng.permutation(n)]
        ntr, nva, _ = (int(s) for s in sizes)
        for i, g in enumerate(perm):
            gsplit[g] = "train" if i < ntr else ("val" if i < ntr + nva else "test")
    else:
        fr = np.asarray(sizes, dtype=float)
        if abs(fr.sum() - 1.0) > 1e-6:
            raise DatasetError(f"split fractions {tuple(sizes)} must add up to 1")
        glabel: dict[str, int] = {}
        if labels is not None and stratify:
            for g, lab in zip(groups, labels):
                glabel.setdefault(g, int(lab))
        by_class: dict[int, list[str]] = {}
        for g in uniq:
            by_class.setdefault(glabel.get(g, 0), []).append(g)
        for c in sorted(by_class):
            members = [by_class[c][i] for i in rng.permutation(len(by_class[c]))]
            nc = len(members)
            nva, nte = _round(nc * fr[1]), _round(nc * fr[2])
            if nva + nte > nc:
                nte = nc - nva
            for i, g in enumerate(members):
                gsplit[g] = "val" if i < nva else ("test" if i < nva + nte else "train")
        # with ≥ 3 groups every requested split gets at least one group
        if n >= 3:
            for name, f in (("val", fr[1]), ("test", fr[2])):
                if f > 0 and name not in gsplit.values():
                    train = sorted(g for g, s in gsplit.items() if s == "train")
                    if len(train) > 1:
                        gsplit[train[int(rng.integers(len(train)))]] = name
    return np.array([gsplit[g] for g in groups], dtype="<U5")


# --------------------------------------------------------------------------- loading
def format_skipped_report(skipped: Sequence[tuple[str, str]], limit: int = 50) -> str:
    """Human-readable list of skipped files (first ``limit`` lines)."""
    if not skipped:
        return "no files skipped"
    lines = [f"skipped {len(skipped)} file(s) that could not be used:"]
    lines += [f"  {p}: {why}" for p, why in list(skipped)[:limit]]
    if len(skipped) > limit:
        lines.append(f"  … and {len(skipped) - limit} more (FeatureSet.skipped has them all)")
    return "\n".join(lines)


def _predicted_samples(path: Path, sample_rate: int) -> int | None:
    """Length after resampling, from the header (None if unreadable)."""
    try:
        import soundfile as sf

        info = sf.info(str(path))
        if info.frames <= 0 or info.samplerate <= 0:
            return None
        if info.samplerate == sample_rate:
            return int(info.frames)
        return int(math.ceil(info.frames * sample_rate / info.samplerate))  # resample_poly's length
    except Exception:
        return None


def _subsample(entries: list[_Entry], max_files: int, seed: int) -> list[_Entry]:
    if max_files < 1:
        raise DatasetError(f"max_files must be at least 1, got {max_files}")
    if max_files >= len(entries):
        return entries
    keep = np.sort(np.random.default_rng(seed).choice(len(entries), size=max_files, replace=False))
    return [entries[i] for i in keep]


def _tqdm(it: Iterable[Any], progress: bool, total: int, desc: str) -> Iterable[Any]:
    if not progress:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc=desc, unit="file", file=sys.stderr, dynamic_ncols=True)


def load_dataset(
    spec: "str | DataSpec",
    frontend: FrontEndConfig | None = None,
    seed: int = 0,
    cache_dir: "Path | str | None" = None,
    progress: bool = True,
    max_files: int | None = None,
    split_sizes: Sequence[float] | Sequence[int] | None = None,
    vad_db: "float | None | str" = "auto",
    use_cache: bool = True,
) -> FeatureSet:
    """Read a dataset into windows of raw log features (see the module docstring for the rules).

    ``frontend``: default :func:`default_frontend`. ``seed``: split seed (and the subset drawn
    by ``max_files``). ``cache_dir``: default :func:`default_cache_dir`; ``use_cache=False``
    neither reads nor writes it. ``max_files``: use a seeded random subset of the files (quick
    runs). ``split_sizes``: see :func:`assign_splits`. ``vad_db``: energy-rule threshold, "auto"
    = 60 dB for US8K and off elsewhere, ``None`` = off.

    Raises :class:`DatasetError` for a bad spec, a missing path / metadata, an empty dataset
    or a window much longer than every clip. Unreadable files are skipped and reported.
    """
    ds = parse_data_spec(spec)
    cfg = frontend if frontend is not None else default_frontend(ds)
    if vad_db == "auto":
        vad_db = US8K_VAD_DB if ds.kind == "us8k" else None
    elif vad_db is not None:
        vad_db = float(vad_db)
        if not vad_db > 0:
            raise DatasetError(f"vad_db must be a positive number of dB (or None), got {vad_db}")

    if ds.kind == "builtin":
        entries, label_names, skipped, where = _read_builtin(ds)
    else:
        assert ds.path is not None
        where = ds.path
        reader = {"audiomnist": _read_audiomnist, "us8k": _read_us8k, "tau2019": _read_tau2019, "folder": _read_folder}
        entries, label_names, skipped = reader[ds.kind](ds.path)
    skipped = list(skipped)
    if not entries:
        raise DatasetError(
            f"{ds.kind}: no audio files found in {where}; expected {_LAYOUTS[ds.kind]}"
        )
    if max_files is not None:
        entries = _subsample(entries, int(max_files), seed)

    # window sanity check from the headers (cheap), before any feature work
    W = cfg.window_samples
    predicted = [_predicted_samples(e.path, cfg.sample_rate) for e in entries]
    known = [p for p in predicted if p is not None]
    if known and max(known) < MIN_FILL * W:
        longest = max(known) / cfg.sample_rate
        suggest = max(math.ceil(longest * 10) / 10, cfg.n_fft / cfg.sample_rate)
        raise DatasetError(
            f"{ds.kind}: every clip in {where} is shorter than half the {cfg.window_seconds:g}-s window "
            f"(the longest is {longest:.2f} s), so the windows would be mostly padding; use "
            f"--window-seconds {suggest:g} (or a front-end with window_seconds ≤ {longest:.2f})"
        )

    fe = FrontEnd(cfg)
    cache = _Cache(
        None if not use_cache else (Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()),
        _settings_key(cfg, vad_db),
        cfg,
    )
    F, T = cfg.n_features, cfg.window_frames
    capacity = max(1, sum(_n_windows(p, W) if p is not None else 1 for p in predicted))
    x = np.empty((capacity, F, T), dtype=np.float32)
    mask = np.empty((capacity, T), dtype=np.float32)
    rows: list[tuple[int, int]] = []  # (entry index, window index) per row
    hits = misses = 0
    ptr = 0
    for ei, e in enumerate(_tqdm(entries, progress, len(entries), f"features {ds}")):
        try:
            digest = file_sha256(e.path)
            got = cache.get(digest)
            if got is None:
                audio = load_audio(e.path, cfg.sample_rate)
                xs, ms = clip_windows(audio, cfg, fe, vad_db)
                cache.put(digest, xs, ms, len(audio))
                misses += 1
            else:
                xs, ms, _ = got
                hits += 1
        except FileNotFoundError:
            skipped.append((str(e.path), "file not found"))
            continue
        except AudioError as err:
            msg = str(err)
            prefix = f"{e.path}: "
            skipped.append((str(e.path), msg[len(prefix):] if msg.startswith(prefix) else msg))
            continue
        except Exception as err:  # never stop a run for one bad file
            skipped.append((str(e.path), f"{type(err).__name__}: {err}"))
            continue
        k = xs.shape[0]
        if ptr + k > capacity:  # header lied about the length: grow
            capacity = max(2 * capacity, ptr + k)
            x = np.concatenate([x[:ptr], np.empty((capacity - ptr, F, T), np.float32)])
            mask = np.concatenate([mask[:ptr], np.empty((capacity - ptr, T), np.float32)])
        x[ptr : ptr + k] = xs
        mask[ptr : ptr + k] = ms
        rows.extend((ei, w) for w in range(k))
        ptr += k

    if ptr == 0:
        shown = "; ".join(f"{p}: {why}" for p, why in skipped[:3])
        raise DatasetError(
            f"{ds.kind}: none of the {len(entries)} audio file(s) in {where} could be read "
            f"(e.g. {shown}); expected {_LAYOUTS[ds.kind]}"
        )
    x, mask = x[:ptr], mask[:ptr]
    eidx = np.fromiter((r[0] for r in rows), dtype=np.int64, count=ptr)
    used = sorted(set(eidx.tolist()))
    clip_ids = np.array([entries[i].clip_id for i in eidx.tolist()], dtype=object).astype(str)
    window_index = np.fromiter((r[1] for r in rows), dtype=np.int64, count=ptr)
    files = [str(entries[i].path) for i in eidx.tolist()]
    labels = None
    if label_names is not None:
        labels = np.array([entries[i].label for i in eidx.tolist()], dtype=np.int64)

    # splits over the readable clips
    sizes = split_sizes
    if sizes is None and ds.kind == "audiomnist" and len(used) == AUDIOMNIST_FILES:
        sizes = AUDIOMNIST_SPLIT
    clip_split = assign_splits(
        [entries[i].group for i in used],
        None if label_names is None else [int(entries[i].label) for i in used],  # type: ignore[arg-type]
        seed=seed,
        sizes=sizes,
        stratify=ds.kind != "audiomnist",
    )
    lookup = dict(zip(used, clip_split.tolist()))
    split = np.array([lookup[i] for i in eidx.tolist()], dtype="<U5")

    fs = FeatureSet(
        x=x,
        mask=mask,
        labels=labels,
        label_names=None if label_names is None else list(label_names),
        clip_ids=clip_ids,
        window_index=window_index,
        files=files,
        split=split,
        skipped=skipped,
        frontend=cfg,
        source=str(ds),
        cache_hits=hits,
        cache_misses=misses,
    )
    if skipped:
        print(format_skipped_report(skipped), file=sys.stderr)
    if progress:
        print(fs.summary(), file=sys.stderr)
    return fs
