"""Dataset readers: one registered :class:`DatasetReader` per ``--data KIND:...`` form.

A reader declares, in one place, everything the rest of the package needs to know about its
data set: its spec name (``KIND``), what ``PATH`` must hold (the layout text of the help and of
every error message), how it lists the clips (file, label, split group), its default front-end,
the default of the activity mask's energy rule, its split policy, and its name and training
preset in Table I (``catuvac-table``). :func:`register_reader` makes a reader known to
:func:`parse_data_spec`, :func:`~catuvac.training.datasets.load_dataset`, :func:`data_spec_help`
and ``catuvac-table`` at once. The built-in readers:

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

Split groups and policies (see :func:`~catuvac.training.datasets.assign_splits`): AudioMNIST
groups by file, exactly 24000 / 3000 / 3000 when all 30000 files are readable, not stratified;
US8K groups by ``fsID``; TAU2019 by (``scene_label``, ``identifier``); builtin and folder by
file (folder: or the ``group`` of ``groups.csv``); all but AudioMNIST stratified by label.

This module imports no numpy-heavy or torch code: the command lines build their help from it.
"""

from __future__ import annotations

import csv
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from catuvac.runtime.errors import CatuvacError
from catuvac.runtime.frontend import FrontEndConfig

from .scenes_layout import DAYS_DIR, DEFAULT_CLIP_SECONDS, DEFAULT_CLIPS_PER_CLASS

__all__ = [
    "DatasetError",
    "DataSpec",
    "ClipEntry",
    "ClipListing",
    "SplitPolicy",
    "builtin_corpus_dir",
    "builtin_spec_with",
    "DatasetReader",
    "AUDIO_EXTENSIONS",
    "register_reader",
    "reader_for",
    "kinds",
    "parse_data_spec",
    "data_spec_help",
    "audio_files",
    "read_csv",
]

# Extensions libsndfile reads that we look for in plain folders.
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".au", ".mp3")


class DatasetError(CatuvacError, ValueError):
    """A dataset that cannot be used; the message names the path and says what to do."""


# --------------------------------------------------------------------------- what a reader declares
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
        if self.path is None:
            q = "&".join(f"{k}={v}" for k, v in self.options)
            return f"{self.kind}:{self.name}" + (f"?{q}" if q else "")
        return f"{self.kind}:{self.path}"


@dataclass
class ClipEntry:
    """One clip a reader lists."""

    path: Path
    clip_id: str  # relative path, unique per clip
    label: int | None
    group: str  # split unit: clips of one group always share a split
    fold: int | None = None  # the data set's own cross-validation fold (US8K's fold1…fold10), if any


@dataclass
class ClipListing:
    """What a reader found: the clips, the class names (``None``: no labels), the metadata rows
    or files it could not use (``(where, why)``) and the folder it read."""

    entries: list[ClipEntry]
    label_names: list[str] | None
    skipped: list[tuple[str, str]]
    where: Path


@dataclass(frozen=True)
class SplitPolicy:
    """How a data set is split when the caller gives no sizes: 80 / 10 / 10 % of the groups,
    stratified by label or not; ``complete_sizes`` (train, val, test group counts) replace the
    fractions when exactly ``complete_files`` clips are readable (the paper's fixed split)."""

    stratify: bool = True
    complete_files: int | None = None
    complete_sizes: tuple[int, int, int] | None = None

    def sizes(self, n_readable: int) -> tuple[int, int, int] | None:
        return self.complete_sizes if n_readable == self.complete_files else None


def _scenes_4s() -> FrontEndConfig:
    return FrontEndConfig.scenes(window_seconds=4.0)


@dataclass(frozen=True)
class DatasetReader:
    """A ``--data KIND:PATH`` form (see the module docstring)."""

    kind: str  # the spec name
    layout: str  # what PATH must hold: the help and every error message show it
    list_clips: Callable[[DataSpec], ClipListing]
    frontend: Callable[[], FrontEndConfig] = _scenes_4s  # the data set's default front-end
    vad_db: float | None = None  # the activity mask's energy rule by default (None = off)
    split: SplitPolicy = SplitPolicy()
    title: str | None = None  # its name in Table I (None: the folder's name)
    preset: str = "quick"  # the training preset catuvac-table uses for it
    usage: str = ""  # how to write the spec (default KIND:PATH)
    parse: Callable[[str, str], DataSpec] | None = None  # (text after "KIND:", whole spec) for specs without a path

    @property
    def form(self) -> str:
        return self.usage or f"{self.kind}:PATH"


_READERS: dict[str, DatasetReader] = {}


def register_reader(reader: DatasetReader) -> DatasetReader:
    """Make ``reader`` known to spec parsing, ``load_dataset``, the help text and catuvac-table
    (a reader of the same kind is replaced)."""
    _READERS[reader.kind.lower()] = reader
    return reader


def kinds() -> tuple[str, ...]:
    """The registered spec names, in registration order."""
    return tuple(_READERS)


def reader_for(spec: "str | DataSpec") -> DatasetReader:
    """The reader of a spec (a string is parsed first)."""
    return _READERS[parse_data_spec(spec).kind]


def _usage() -> str:
    return "use one of " + ", ".join(r.form for r in _READERS.values())


def data_spec_help() -> str:
    """Every registered form with what its path must hold, for a ``--data`` option's help."""
    return "; ".join(f"{r.form} = {r.layout}" for r in _READERS.values())


def parse_data_spec(spec: "str | DataSpec") -> DataSpec:
    """Parse ``KIND:PATH`` (or a registered form without a path, e.g. ``builtin:scenes[?seed=S&n=N]``).
    Raises :class:`DatasetError` with the accepted forms."""
    if isinstance(spec, DataSpec):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise DatasetError(f"empty dataset spec; {_usage()}")
    s = spec.strip()
    kind, sep, rest = s.partition(":")
    kind = kind.strip().lower()
    if not sep:
        hint = f" (to use the folder {s!r}, write folder:{s})" if Path(s).expanduser().exists() else ""
        raise DatasetError(f"dataset spec {s!r} has no kind{hint}; {_usage()}")
    if kind not in _READERS:
        raise DatasetError(f"unknown dataset kind {kind!r}; {_usage()}")
    reader, rest = _READERS[kind], rest.strip()
    if reader.parse is not None:
        return reader.parse(rest, s)
    if not rest:
        raise DatasetError(f"dataset kind {kind!r} needs a path: {kind}:PATH ({reader.layout})")
    return DataSpec(kind, Path(rest).expanduser())


# --------------------------------------------------------------------------- helpers for readers
def relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def need_dir(path: Path, kind: str) -> None:
    layout = _READERS[kind].layout
    if not path.exists():
        raise DatasetError(f"{kind}: {path} does not exist; expected {layout}")
    if not path.is_dir():
        raise DatasetError(f"{kind}: {path} is not a folder; expected {layout}")


def read_csv(path: Path, kind: str, delimiter: str, required: Sequence[str]) -> list[dict[str, str]]:
    """The rows of a metadata table with a header naming at least ``required`` (values stripped)."""
    if not path.is_file():
        raise DatasetError(f"{kind}: metadata file {path} not found; expected {_READERS[kind].layout}")
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


def audio_files(root: Path) -> list[Path]:
    """Every audio file under ``root`` (recursively, hidden files left out), sorted."""
    return sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".")
    )


def _path_of(spec: DataSpec) -> Path:
    assert spec.path is not None  # parse_data_spec gives every path form a path
    return spec.path


# --------------------------------------------------------------------------- AudioMNIST
_AUDIOMNIST_NAME = re.compile(r"^(\d)_(\d+)_(\d+)\.wav$", re.IGNORECASE)
# Paper: 24000 / 3000 / 3000 random AudioMNIST files.
AUDIOMNIST_SPLIT = (24000, 3000, 3000)
AUDIOMNIST_FILES = 30000


def _list_audiomnist(spec: DataSpec) -> ClipListing:
    root = _path_of(spec)
    need_dir(root, "audiomnist")
    data = root / "data" if (root / "data").is_dir() else root
    entries: list[ClipEntry] = []
    skipped: list[tuple[str, str]] = []
    for p in sorted(data.glob("*/*")):
        if not p.is_file() or p.suffix.lower() != ".wav":
            continue
        m = _AUDIOMNIST_NAME.match(p.name)
        if not m:
            skipped.append((str(p), "name does not match <digit>_<speaker>_<n>.wav"))
            continue
        rel = relative(p, data)
        entries.append(ClipEntry(p, rel, int(m.group(1)), rel))
    return ClipListing(entries, [str(d) for d in range(10)], skipped, root)


register_reader(DatasetReader(
    kind="audiomnist",
    layout="PATH/data/<speaker>/<digit>_<speaker>_<n>.wav (or PATH = the data folder)",
    list_clips=_list_audiomnist,
    frontend=FrontEndConfig.audiomnist,
    split=SplitPolicy(stratify=False, complete_files=AUDIOMNIST_FILES, complete_sizes=AUDIOMNIST_SPLIT),
    title="AudioMNIST",
    preset="paper-audiomnist",
))


# --------------------------------------------------------------------------- UrbanSound8K
# The paper's US8K "voice activity detection mask": 60 dB below the loudest frame is a common
# VAD floor (far below any real sound event, above dither/quantisation noise).
US8K_VAD_DB = 60.0


def _list_us8k(spec: DataSpec) -> ClipListing:
    root = _path_of(spec)
    need_dir(root, "us8k")
    meta = root / "metadata" / "UrbanSound8K.csv"
    rows = read_csv(meta, "us8k", ",", ("slice_file_name", "fsID", "fold", "classID", "class"))
    entries: list[ClipEntry] = []
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
        entries.append(ClipEntry(root / "audio" / rel, rel, cid, f"fsID:{r['fsID']}", fold))
    n_classes = max(names) + 1 if names else 0
    return ClipListing(entries, [names.get(c, str(c)) for c in range(n_classes)], skipped, root)


register_reader(DatasetReader(
    kind="us8k",
    layout="PATH/metadata/UrbanSound8K.csv and PATH/audio/fold1..fold10/*.wav",
    list_clips=_list_us8k,
    vad_db=US8K_VAD_DB,
    title="UrbanSound8K",
    preset="paper-us8k",
))


# --------------------------------------------------------------------------- TAU2019
def _list_tau2019(spec: DataSpec) -> ClipListing:
    root = _path_of(spec)
    need_dir(root, "tau2019")
    meta = root / "meta.csv"
    rows = read_csv(meta, "tau2019", "\t", ("filename", "scene_label"))
    scenes = sorted({r["scene_label"] for r in rows if r["scene_label"]})
    index = {s: i for i, s in enumerate(scenes)}
    entries: list[ClipEntry] = []
    skipped: list[tuple[str, str]] = []
    for i, r in enumerate(rows):
        if not r["filename"] or not r["scene_label"]:
            skipped.append((f"{meta}:{i + 2}", "bad metadata row (empty filename or scene_label)"))
            continue
        # identifiers ("barcelona-0") are location ids *within* a scene: group by both
        ident = r.get("identifier") or r["filename"]
        group = f"id:{r['scene_label']}/{ident}"
        entries.append(ClipEntry(root / r["filename"], r["filename"], index[r["scene_label"]], group))
    return ClipListing(entries, scenes, skipped, root)


register_reader(DatasetReader(
    kind="tau2019",
    layout="PATH/meta.csv (tab-separated: filename, scene_label, identifier, source_label) and PATH/audio/*.wav",
    list_clips=_list_tau2019,
    frontend=lambda: FrontEndConfig.scenes(window_seconds=10.0),
    title="TAU2019",
    preset="paper-tau2019",
))


# --------------------------------------------------------------------------- folder
FOLDER_GROUPS = "groups.csv"


def _folder_groups(root: Path) -> dict[str, str]:
    """``root/groups.csv`` (columns ``file,group``; ``file`` relative to ``root``): clips of one
    group — e.g. cut from one source recording — always share a split. Files not listed are
    their own group."""
    path = root / FOLDER_GROUPS
    if not path.is_file():
        return {}
    rows = read_csv(path, "folder", ",", ("file", "group"))
    return {r["file"]: "group:" + r["group"] for r in rows if r["file"] and r["group"]}


def _corpus_files(root: Path) -> list[Path]:
    """The audio files of ``root``, less the test recordings of a catuvac-scenes corpus (said once)."""
    files = audio_files(root)
    if (root / "manifest.json").is_file() and (root / DAYS_DIR).is_dir():  # a catuvac-scenes corpus
        held = [p for p in files if p.relative_to(root).parts[0] == DAYS_DIR]
        files = [p for p in files if p.relative_to(root).parts[0] != DAYS_DIR]
        if held:
            print(f"catuvac: {root} is a catuvac-scenes corpus: its {len(held)} test recording(s) in {DAYS_DIR}/ are left out; "
                  "the classes are its other sub-folders", file=sys.stderr)
    return files


def _list_folder(spec: DataSpec) -> ClipListing:
    root = _path_of(spec)
    if not root.exists():
        raise DatasetError(f"folder: {root} does not exist; expected {_READERS['folder'].layout}")
    if root.is_file():
        return ClipListing([ClipEntry(root, root.name, None, root.name)], None, [], root)
    files = _corpus_files(root)
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
        ClipEntry(p, r.as_posix(), index[r.parts[0]] if labelled else None, groups.get(r.as_posix(), r.as_posix()))
        for p, r in zip(files, rels)
    ]
    return ClipListing(entries, names, [], root)


register_reader(DatasetReader(
    kind="folder",
    layout="PATH/**/*.wav|flac|ogg|… (labels from first-level sub-folder names when every "
    "file sits in one; optional PATH/groups.csv with columns file,group)",
    list_clips=_list_folder,
))


# --------------------------------------------------------------------------- builtin:scenes
# corpus seed, clips per class, clip seconds (the generator's defaults)
_BUILTIN_OPTIONS = {"seed": 0, "n": DEFAULT_CLIPS_PER_CLASS, "s": DEFAULT_CLIP_SECONDS}


def _parse_builtin(rest: str, s: str) -> DataSpec:
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
        if key not in opts:
            raise DatasetError(
                f"unknown option {key!r} in {s!r}; builtin:scenes takes seed=INT, n=INT (clips per class) "
                "and s=INT (seconds per clip), e.g. builtin:scenes?seed=1&n=40&s=8"
            )
        try:
            opts[key] = int(val)
        except ValueError:
            raise DatasetError(f"option {key}={val!r} in {s!r} must be an integer") from None
    if opts["n"] < 1:
        raise DatasetError(f"n={opts['n']} in {s!r}: need at least one clip per class")
    if not 1 <= opts["s"] <= 60:
        raise DatasetError(f"s={opts['s']} in {s!r}: clips last 1 to 60 s")
    if opts["s"] == DEFAULT_CLIP_SECONDS:
        del opts["s"]  # the default clip length stays out of the spec (and of the cache keys made from it)
    return DataSpec("builtin", None, name, tuple(sorted(opts.items())))


def builtin_corpus_dir(spec: "str | DataSpec") -> Path:
    """The cached built-in corpus a ``builtin:scenes?…`` spec names (generated on first use)."""
    import importlib

    spec = parse_data_spec(spec)
    if spec.kind != "builtin":
        raise DatasetError(f"{spec} is not a built-in corpus (builtin:scenes?seed=S&n=N&s=SEC)")
    scenes = importlib.import_module("catuvac.training.scenes")  # looked up per call: tests substitute the module
    return Path(scenes.builtin_scenes_dir(seed=spec.option("seed", 0), clips_per_class=spec.option("n", DEFAULT_CLIPS_PER_CLASS),
                                          clip_seconds=spec.option("s", DEFAULT_CLIP_SECONDS)))


def builtin_spec_with(spec: "str | DataSpec", **options: int) -> str:
    """``spec`` (a ``builtin:scenes`` spec) with some options replaced, e.g. ``n=30``."""
    spec = parse_data_spec(spec)
    opts = {**dict(spec.options), **options}
    return str(parse_data_spec(f"builtin:{spec.name}?" + "&".join(f"{k}={v}" for k, v in sorted(opts.items()))))


def _list_builtin(spec: DataSpec) -> ClipListing:
    import importlib

    scenes = importlib.import_module("catuvac.training.scenes")
    root = builtin_corpus_dir(spec)
    classes = [c for c in getattr(scenes, "SCENE_CLASSES", ()) if (root / c).is_dir()]
    days = getattr(scenes, "DAYS_DIR", None)  # test recordings, not a class
    extra = sorted(d.name for d in root.iterdir() if d.is_dir() and d.name not in classes and d.name != days)
    names = list(classes) + extra
    entries: list[ClipEntry] = []
    for i, c in enumerate(names):
        for p in audio_files(root / c):
            rel = relative(p, root)
            entries.append(ClipEntry(p, rel, i, rel))
    return ClipListing(entries, names, [], root)


register_reader(DatasetReader(
    kind="builtin",
    layout="the built-in synthetic corpus, generated once into the cache (options: ?seed=INT&n=INT clips per class"
    "&s=INT seconds per clip)",
    list_clips=_list_builtin,
    title="builtin:scenes",
    usage="builtin:scenes",
    parse=_parse_builtin,
))
