"""Dataset readers, windows + activity masks, seeded splits and the on-disk feature cache.

Selected on the command line as ``--data KIND:PATH``; the forms, their layouts, default
front-ends, mask and split rules are declared by the readers of :mod:`catuvac.training.readers`
(one registered entry each).

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

Splits (seeded by ``seed``, always by *group* so related windows never straddle splits;
each reader declares its groups and :class:`~catuvac.training.readers.SplitPolicy`)
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
    Cross-validation (``folds`` = F ≥ 2, ``fold`` = i; :func:`assign_folds`): the groups are
    dealt into F folds (stratified by label, seeded), fold i is the test split and a ninth of
    the other groups the validation split (10 % of all at F = 10), the rest trains. Over
    i = 0 … F−1 every window is tested exactly once. US8K's ten official folds are used as
    they are when F = 10 (its documented protocol); TAU2019 and the folders get seeded folds.

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

import math
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from catuvac.runtime.audio import AudioError, load_audio
from catuvac.runtime.fileio import atomic_write, cache_root, file_sha256, json_digest
from catuvac.runtime.frontend import FrontEnd, FrontEndConfig

from .readers import AUDIO_EXTENSIONS, ClipEntry, ClipListing, DatasetError, DatasetReader, DataSpec, kinds, parse_data_spec, reader_for

__all__ = [
    "DatasetError",
    "DataSpec",
    "FeatureSet",
    "kinds",
    "CACHE_VERSION",
    "AUDIO_EXTENSIONS",
    "parse_data_spec",
    "default_frontend",
    "default_cache_dir",
    "load_dataset",
    "assign_splits",
    "assign_folds",
    "split_args",
    "clip_windows",
    "activity_mask",
    "format_skipped_report",
]

# Bump when the cached content (windowing, mask rule, file format) changes: stale entries are
# then simply never found again.
CACHE_VERSION = 1

# Split fractions unless a reader's policy or the caller says otherwise: the usual 80 / 10 / 10 %.
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
# A clip must fill at least this fraction of the window in at least one clip, else the
# requested window is meaningless (almost all padding) and we stop with advice.
MIN_FILL = 0.5


def default_frontend(spec: "str | DataSpec") -> FrontEndConfig:
    """The data set's own front-end (its reader's: AudioMNIST 1-s spectrogram, US8K 4 s,
    TAU2019 10 s, built-in scenes and plain folders 4 s, the runtime's default context)."""
    return reader_for(spec).frontend()


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
        by_class = _groups_by_class(groups, labels, stratify)
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


# share of the non-test groups that validates under cross-validation: 10 % of all groups at F = 10
CV_VAL_SHARE = 1 / 9


def assign_folds(
    groups: Sequence[str],
    labels: Sequence[int] | None = None,
    seed: int = 0,
    folds: int = 5,
    fold: int = 0,
    stratify: bool = True,
    predefined: Sequence[int | None] | None = None,
) -> np.ndarray:
    """Train / val / test split of fold ``fold`` of a grouped ``folds``-fold cross-validation.

    The groups are dealt round-robin into the folds class by class (seeded; one running count
    over the classes keeps fold sizes within one group), or taken from ``predefined`` (per
    item, e.g. US8K's ``fold`` column) when every item has one and they name exactly ``folds``
    folds. Fold ``fold`` is
    the test split; :data:`CV_VAL_SHARE` of the remaining groups of each class validate.
    Depends only on the set of groups, their labels and ``seed``.
    """
    if not isinstance(folds, (int, np.integer)) or folds < 2:
        raise DatasetError(f"cross-validation needs --folds ≥ 2, got {folds}")
    if not 0 <= fold < folds:
        raise DatasetError(f"--fold must be in 0 … {folds - 1} for {folds} folds, got {fold}")
    groups = [str(g) for g in groups]
    uniq = sorted(set(groups))
    if len(uniq) < folds:
        raise DatasetError(f"{folds}-fold cross-validation needs at least {folds} clips/groups, got {len(uniq)}; use fewer --folds")
    rng = np.random.default_rng(seed)
    by_class = _groups_by_class(groups, labels, stratify)
    gfold = _predefined_folds(groups, predefined, folds)
    if gfold is None:
        gfold, dealt = {}, 0
        for c in sorted(by_class):
            for j in rng.permutation(len(by_class[c])):
                gfold[by_class[c][j]] = dealt % folds
                dealt += 1
    gsplit = {g: "test" for g in uniq if gfold[g] == fold}
    for c in sorted(by_class):
        rest = [g for g in by_class[c] if g not in gsplit]
        members = [rest[i] for i in rng.permutation(len(rest))]
        nva = _round(len(members) * CV_VAL_SHARE)
        for i, g in enumerate(members):
            gsplit[g] = "val" if i < nva else "train"
    train = sorted(g for g, s in gsplit.items() if s == "train")
    if "val" not in gsplit.values() and len(train) > 1:  # with enough groups val is never empty
        gsplit[train[int(rng.integers(len(train)))]] = "val"
    return np.array([gsplit[g] for g in groups], dtype="<U5")


def _groups_by_class(groups: Sequence[str], labels: Sequence[int] | None, stratify: bool) -> dict[int, list[str]]:
    """Sorted groups per class (the class of a group's first item; one class 0 unstratified)."""
    glabel: dict[str, int] = {}
    if labels is not None and stratify:
        for g, lab in zip(groups, labels):
            glabel.setdefault(g, int(lab))
    by_class: dict[int, list[str]] = {}
    for g in sorted(set(groups)):
        by_class.setdefault(glabel.get(g, 0), []).append(g)
    return by_class


def _predefined_folds(groups: Sequence[str], predefined: Sequence[int | None] | None, folds: int) -> dict[str, int] | None:
    """Group → fold index from the data set's own folds when every item has one and they number exactly ``folds``."""
    if predefined is None or any(f is None for f in predefined):
        return None
    names = sorted({int(f) for f in predefined if f is not None})
    if len(names) != folds:
        return None
    index = {f: i for i, f in enumerate(names)}
    return {g: index[int(f)] for g, f in zip(groups, predefined) if f is not None}


def split_args(train_config: Any, seed: int | None = None) -> dict[str, int]:
    """``load_dataset`` keyword arguments that rebuild the split a checkpoint was trained on.

    ``train_config``: the checkpoint's training settings (a mapping). ``seed``: an explicit
    split seed instead of the recorded one. A checkpoint from before cross-validation
    recorded only ``split_seed`` (or nothing: 0).
    """
    tc = dict(train_config or {})
    s = seed if seed is not None else tc.get("split_seed")
    out = {"seed": int(s) if isinstance(s, (int, np.integer)) else 0}
    folds = tc.get("folds")
    if isinstance(folds, (int, np.integer)) and folds >= 2:
        out.update(folds=int(folds), fold=int(tc.get("fold") or 0))
    return out


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


def _subsample(entries: list[ClipEntry], max_files: int, seed: int) -> list[ClipEntry]:
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


@dataclass
class _Windows:
    """The windows of the readable clips, in reading order."""

    x: np.ndarray  # (N, F, T)
    mask: np.ndarray  # (N, T)
    entry: np.ndarray  # (N,) index into the listing's entries
    window_index: np.ndarray  # (N,) position of the window in its clip
    hits: int
    misses: int


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
    folds: int = 0,
    fold: int = 0,
) -> FeatureSet:
    """Read a dataset into windows of raw log features (see the module docstring for the rules).

    ``frontend``: default :func:`default_frontend`. ``seed``: split seed (and the subset drawn
    by ``max_files``). ``cache_dir``: default :func:`default_cache_dir`; ``use_cache=False``
    neither reads nor writes it. ``max_files``: use a seeded random subset of the files (quick
    runs). ``split_sizes``: see :func:`assign_splits`. ``folds`` ≥ 2: fold ``fold`` of a grouped
    cross-validation instead (:func:`assign_folds`; 0 = off). ``vad_db``: energy-rule threshold, "auto"
    = the reader's default (60 dB for US8K, off elsewhere), ``None`` = off.

    Raises :class:`DatasetError` for a bad spec, a missing path / metadata, an empty dataset
    or a window much longer than every clip. Unreadable files are skipped and reported.
    """
    ds = parse_data_spec(spec)
    reader = reader_for(ds)
    cfg = frontend if frontend is not None else reader.frontend()
    vad = _energy_rule(vad_db, reader)
    listing = _list_clips(reader, ds, max_files, seed)
    predicted = _check_window_fits(listing, cfg, ds)
    cache = _Cache(_cache_root(cache_dir, use_cache), _settings_key(cfg, vad), cfg)
    windows = _compute_windows(listing, cfg, vad, predicted, cache, _tqdm(listing.entries, progress, len(listing.entries), f"features {ds}"))
    if len(windows.entry) == 0:
        _raise_nothing_readable(listing, reader, ds)
    fs = _feature_set(listing, windows, _split_windows(listing, windows, reader, seed, split_sizes, folds, fold), cfg, ds)
    _report(fs, progress)
    return fs


def _energy_rule(vad_db: "float | None | str", reader: DatasetReader) -> float | None:
    """The activity mask's energy threshold: "auto" = the reader's default."""
    if vad_db == "auto":
        return reader.vad_db
    if vad_db is None:
        return None
    vad = float(vad_db)
    if not vad > 0:
        raise DatasetError(f"vad_db must be a positive number of dB (or None), got {vad}")
    return vad


def _list_clips(reader: DatasetReader, ds: DataSpec, max_files: int | None, seed: int) -> ClipListing:
    """The reader's clips (a seeded subset of ``max_files``); refuses an empty listing."""
    listing = reader.list_clips(ds)
    listing.skipped = list(listing.skipped)
    if not listing.entries:
        raise DatasetError(f"{ds.kind}: no audio files found in {listing.where}; expected {reader.layout}")
    if max_files is not None:
        listing.entries = _subsample(listing.entries, int(max_files), seed)
    return listing


def _check_window_fits(listing: ClipListing, cfg: FrontEndConfig, ds: DataSpec) -> list[int | None]:
    """Each clip's length after resampling, from its header (cheap, before any feature work);
    refuses a window that every clip would leave mostly padding."""
    predicted = [_predicted_samples(e.path, cfg.sample_rate) for e in listing.entries]
    known = [p for p in predicted if p is not None]
    if known and max(known) < MIN_FILL * cfg.window_samples:
        longest = max(known) / cfg.sample_rate
        suggest = max(math.ceil(longest * 10) / 10, cfg.n_fft / cfg.sample_rate)
        raise DatasetError(
            f"{ds.kind}: every clip in {listing.where} is shorter than half the {cfg.window_seconds:g}-s window "
            f"(the longest is {longest:.2f} s), so the windows would be mostly padding; use "
            f"--window-seconds {suggest:g} (or a front-end with window_seconds ≤ {longest:.2f})"
        )
    return predicted


def _cache_root(cache_dir: "Path | str | None", use_cache: bool) -> Path | None:
    if not use_cache:
        return None
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def _clip_features(path: Path, cfg: FrontEndConfig, fe: FrontEnd, vad: float | None, cache: _Cache) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(x, mask, from_cache)`` of one clip."""
    digest = file_sha256(path)
    got = cache.get(digest)
    if got is not None:
        return got[0], got[1], True
    audio = load_audio(path, cfg.sample_rate)
    xs, ms = clip_windows(audio, cfg, fe, vad)
    cache.put(digest, xs, ms, len(audio))
    return xs, ms, False


def _skip_reason(path: Path, err: Exception) -> str:
    if isinstance(err, FileNotFoundError):
        return "file not found"
    if isinstance(err, AudioError):
        msg, prefix = str(err), f"{path}: "
        return msg[len(prefix):] if msg.startswith(prefix) else msg
    return f"{type(err).__name__}: {err}"


def _compute_windows(listing: ClipListing, cfg: FrontEndConfig, vad: float | None, predicted: list[int | None],
                     cache: _Cache, entries: Iterable[ClipEntry]) -> _Windows:
    """Windows and masks of every readable clip (from the cache where it has them); an unreadable
    clip is added to ``listing.skipped`` and never stops the run."""
    fe = FrontEnd(cfg)
    F, T, W = cfg.n_features, cfg.window_frames, cfg.window_samples
    capacity = max(1, sum(_n_windows(p, W) if p is not None else 1 for p in predicted))
    x = np.empty((capacity, F, T), dtype=np.float32)
    mask = np.empty((capacity, T), dtype=np.float32)
    rows: list[tuple[int, int]] = []  # (entry index, window index) per row
    hits = misses = ptr = 0
    for ei, e in enumerate(entries):
        try:
            xs, ms, cached = _clip_features(e.path, cfg, fe, vad, cache)
        except Exception as err:  # never stop a run for one bad file
            listing.skipped.append((str(e.path), _skip_reason(e.path, err)))
            continue
        hits, misses = hits + cached, misses + (not cached)
        k = xs.shape[0]
        if ptr + k > capacity:  # header lied about the length: grow
            capacity = max(2 * capacity, ptr + k)
            x = np.concatenate([x[:ptr], np.empty((capacity - ptr, F, T), np.float32)])
            mask = np.concatenate([mask[:ptr], np.empty((capacity - ptr, T), np.float32)])
        x[ptr : ptr + k] = xs
        mask[ptr : ptr + k] = ms
        rows.extend((ei, w) for w in range(k))
        ptr += k
    entry = np.fromiter((r[0] for r in rows), dtype=np.int64, count=ptr)
    window_index = np.fromiter((r[1] for r in rows), dtype=np.int64, count=ptr)
    return _Windows(x[:ptr], mask[:ptr], entry, window_index, hits, misses)


def _raise_nothing_readable(listing: ClipListing, reader: DatasetReader, ds: DataSpec) -> None:
    shown = "; ".join(f"{p}: {why}" for p, why in listing.skipped[:3])
    raise DatasetError(
        f"{ds.kind}: none of the {len(listing.entries)} audio file(s) in {listing.where} could be read "
        f"(e.g. {shown}); expected {reader.layout}"
    )


def _split_windows(listing: ClipListing, windows: _Windows, reader: DatasetReader, seed: int,
                   split_sizes: Sequence[float] | Sequence[int] | None, folds: int = 0, fold: int = 0) -> np.ndarray:
    """Each window's split: the readable clips' groups split by the reader's policy (or
    ``split_sizes``), or fold ``fold`` of a ``folds``-fold cross-validation."""
    used = sorted(set(windows.entry.tolist()))
    entries = listing.entries
    groups = [entries[i].group for i in used]
    labels = None if listing.label_names is None else [int(entries[i].label) for i in used]  # type: ignore[arg-type]
    if folds:
        if split_sizes is not None:
            raise DatasetError("give either split sizes or cross-validation folds, not both")
        clip_split = assign_folds(groups, labels, seed=seed, folds=folds, fold=fold, stratify=reader.split.stratify,
                                  predefined=[entries[i].fold for i in used])
    else:
        clip_split = assign_splits(groups, labels, seed=seed, sizes=split_sizes if split_sizes is not None else reader.split.sizes(len(used)),
                                   stratify=reader.split.stratify)
    lookup = dict(zip(used, clip_split.tolist()))
    return np.array([lookup[i] for i in windows.entry.tolist()], dtype="<U5")


def _feature_set(listing: ClipListing, windows: _Windows, split: np.ndarray, cfg: FrontEndConfig, ds: DataSpec) -> FeatureSet:
    entries, idx = listing.entries, windows.entry.tolist()
    return FeatureSet(
        x=windows.x,
        mask=windows.mask,
        labels=None if listing.label_names is None else np.array([entries[i].label for i in idx], dtype=np.int64),
        label_names=None if listing.label_names is None else list(listing.label_names),
        clip_ids=np.array([entries[i].clip_id for i in idx], dtype=object).astype(str),
        window_index=windows.window_index,
        files=[str(entries[i].path) for i in idx],
        split=split,
        skipped=listing.skipped,
        frontend=cfg,
        source=str(ds),
        cache_hits=windows.hits,
        cache_misses=windows.misses,
    )


def _report(fs: FeatureSet, progress: bool) -> None:
    if fs.skipped:
        print(format_skipped_report(fs.skipped), file=sys.stderr)
    if progress:
        print(fs.summary(), file=sys.stderr)
