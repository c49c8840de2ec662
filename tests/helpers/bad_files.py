"""The check every file reader gets: a missing file and a file of garbage each end in a clear error."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest


def assert_refuses_missing_and_garbage(read: Callable[[Path], object], error: type[Exception], folder: Path,
                                       name: str, garbage: bytes, garbage_match: str) -> None:
    """``read`` raises ``error`` saying "not found" for a missing ``folder/name`` and matching
    ``garbage_match`` once ``folder/name`` holds ``garbage``."""
    path = folder / name
    with pytest.raises(error, match="not found"):
        read(path)
    path.write_bytes(garbage)
    with pytest.raises(error, match=garbage_match):
        read(path)
