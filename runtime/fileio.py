"""Atomic file writes: a temp file in the target's folder, fsync, then ``os.replace``.

A reader (or a killed run) never sees a half-written checkpoint, report or model.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable

__all__ = ["atomic_write", "atomic_write_text", "atomic_write_json", "read_json_file"]


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(f)`` on a binary temp file next to ``path`` and move it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
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


def read_json_file(path: str | os.PathLike, error: type[Exception], what: str, hint: str = "") -> Any:
    """Parse a JSON file, raising ``error`` with a message naming the file for a missing or invalid one.

    ``what`` names the file's role ("profile file", "audiogram"…); ``hint`` is appended to the
    invalid-JSON message (e.g. the expected shape).
    """
    p = Path(path)
    if not p.is_file():
        raise error(f"{p}: {what} not found")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise error(f"{p}: not valid JSON ({e}){'; ' + hint if hint else ''}") from e
