"""File helpers every layer shares (torch-free): atomic writes, SHA-256, the cache root, JSON reading.

Atomic writes: a temp file in the target's folder, fsync, then ``os.replace``. A reader (or a
killed run) never sees a half-written checkpoint, report or model. The temp file's name carries
the writer's process id (``NAME.<pid>.<random>.tmp``); a temp file that a killed run (``kill -9``)
left behind is removed by the next write to the same path once its process is gone. The final
file gets the usual permissions (0666 less the umask), not ``mkstemp``'s 0600.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "atomic_write", "atomic_write_text", "atomic_write_json", "atomic_savefig", "read_json_file",
    "file_sha256", "json_digest", "cache_root", "remove_stale_temps", "pid_alive", "check_output_path", "check_output_dir",
]

TEMP_SUFFIX = ".tmp"


def pid_alive(pid: int) -> bool:
    """True if a process with this id exists (on this machine)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_stale_temps(folder: Path, name: str) -> list[Path]:
    """Remove ``NAME.<pid>.*`` temp files (and folders) in ``folder`` whose writer process is gone."""
    import shutil

    removed: list[Path] = []
    try:
        candidates = list(folder.glob(f"{name}.*{TEMP_SUFFIX}"))
    except OSError:
        return removed
    for p in candidates:
        parts = p.name[len(name) + 1:].split(".")
        if not parts or not parts[0].isdigit() or pid_alive(int(parts[0])):
            continue
        try:
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
        except OSError:
            pass
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(f)`` on a binary temp file next to ``path`` and move it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent, path.name)
    fd, tmp = tempfile.mkstemp(prefix=f"{path.name}.{os.getpid()}.", suffix=TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(path: str | os.PathLike, obj: Any, **kw: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, **kw) + "\n")


def check_output_path(path: str | os.PathLike, flag: str, suffixes: tuple[str, ...] = (), error: type[Exception] | None = None,
                      inputs: dict[str, str | os.PathLike | None] | None = None) -> Path:
    """Check an output file path before the work: extension, not a folder, writable folder, not an input.

    ``suffixes``: accepted extensions (lower case, with the dot); ``inputs``: ``{flag: path}`` of files
    the command reads, which the output must not overwrite. Raises ``error`` (default
    :class:`~catuvac.runtime.errors.UsageError`) with a message naming ``flag``.
    """
    from .errors import UsageError

    err = error or UsageError
    p = Path(path)
    for in_flag, q in (inputs or {}).items():
        if q is not None and _same_file(p, Path(q)):
            raise err(f"{flag} {p} is the same file as {in_flag}; choose another output path (it would be overwritten)")
    if suffixes and p.suffix.lower() not in suffixes:
        raise err(f"{flag} {p}: expected a {' or '.join(suffixes)} file name")
    if p.is_dir():
        raise err(f"{flag} {p}: is a folder; give a file name")
    _check_writable_under(p.parent if str(p.parent) else Path("."), p, flag, err)
    return p


def _check_writable_under(folder: Path, p: Path, flag: str, err: type[Exception]) -> None:
    """The nearest existing folder at or above ``folder`` is a folder we may create files in."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise err(f"{flag} {p}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise err(f"{flag} {p}: cannot write in {existing}; choose a writable folder")


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes (read in 1-MiB blocks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def json_digest(obj: Any, length: int = 16) -> str:
    """Short stable hash of a JSON-able settings dict (sorted keys): cache keys, feature keys."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:length]


def cache_root() -> Path:
    """``$CATUVAC_CACHE`` if set, else ``~/.cache/catuvac`` (feature cache, built-in corpus)."""
    env = os.environ.get("CATUVAC_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "catuvac"


def read_json_file(path: str | os.PathLike, error: type[Exception], what: str, hint: str = "") -> Any:
    """Parse a JSON file, raising ``error`` with a message naming the file for a missing or invalid one.

    ``what`` names the file's role ("profile file", "audiogram"…); ``hint`` is appended to the
    invalid-JSON message (e.g. the expected shape). A number too large for a float is refused too.
    """
    p = Path(path)
    if not p.is_file():
        raise error(f"{p}: {what} not found")
    try:
        return json.loads(p.read_text(encoding="utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float,
                          parse_int=_bounded_int)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise error(f"{p}: not valid JSON ({e}){'; ' + hint if hint else ''}") from e
    except ValueError as e:
        raise error(f"{p}: {e}{'; ' + hint if hint else ''}") from e


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _finite_float(text: str) -> float:
    v = float(text)
    if v in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text[:20]}… is too large")
    return v


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 300:  # float(int) would overflow
        raise ValueError(f"the number {text[:20]}… is too large")
    return int(text)


def atomic_savefig(fig: Figure, path: str | os.PathLike, **kw: Any) -> Path:
    """``fig.savefig`` through :func:`atomic_write` (format from the file's extension, PNG by default)."""
    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    return atomic_write(path, lambda f: fig.savefig(f, format=fmt, **kw))


def check_output_dir(path: str | os.PathLike, flag: str, error: type[Exception] | None = None) -> Path:
    """Check an output folder before the work: not an existing file, inside a writable folder."""
    from .errors import UsageError

    err = error or UsageError
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise err(f"{flag} {p}: exists and is a file, not a folder; choose a folder name")
    _check_writable_under(p, p, flag, err)
    return p
