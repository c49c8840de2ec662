"""The shared file helpers: atomic writes (permissions, stale temps), SHA-256, cache root, output-path checks, JSON."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from catuvac.runtime.errors import CatuvacError
from catuvac.runtime.fileio import atomic_write_text, cache_root, check_output_path, file_sha256, read_json_file, remove_stale_temps


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_atomic_write_uses_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        p = atomic_write_text(tmp_path / "a.json", "{}")
    finally:
        os.umask(old)
    assert (p.stat().st_mode & 0o777) == 0o644


def test_temp_left_by_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    dead = _dead_pid()
    stale = tmp_path / f"checkpoint.pt.{dead}.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    stale_dir = tmp_path / f".catuvac-export.{dead}.xyz.tmp"
    stale_dir.mkdir()
    live = tmp_path / f"checkpoint.pt.{os.getpid()}.def456.tmp"  # a writer still running: kept
    live.write_bytes(b"in progress")
    atomic_write_text(tmp_path / "checkpoint.pt", "new")
    assert not stale.exists() and live.exists()
    assert (tmp_path / "checkpoint.pt").read_text() == "new"
    assert remove_stale_temps(tmp_path, ".catuvac-export") == [stale_dir] and not stale_dir.exists()


def test_file_sha256_matches_hashlib(tmp_path):
    p = tmp_path / "x.bin"
    data = os.urandom(3 << 20)
    p.write_bytes(data)
    assert file_sha256(p) == hashlib.sha256(data).hexdigest()


def test_cache_root_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("CATUVAC_CACHE", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    monkeypatch.delenv("CATUVAC_CACHE")
    assert cache_root() == Path.home() / ".cache" / "catuvac"


@pytest.mark.parametrize("text", ['{"x": 1e999}', '{"x": -1e400}', '{"x": NaN}', '{"x": ' + "9" * 400 + "}"])
def test_json_number_too_large_is_a_one_line_error(tmp_path, text):
    p = tmp_path / "a.json"
    p.write_text(text)
    with pytest.raises(CatuvacError) as e:
        read_json_file(p, CatuvacError, "audiogram")
    assert str(p) in str(e.value)


def test_output_path_checks(tmp_path):
    inp = tmp_path / "in.wav"
    inp.write_bytes(b"RIFF")
    with pytest.raises(CatuvacError, match="same file as --input"):
        check_output_path(inp, "--output", (".wav",), inputs={"--input": inp})
    with pytest.raises(CatuvacError, match="expected a .json"):
        check_output_path(tmp_path / "r.txt", "--report", (".json",))
    with pytest.raises(CatuvacError, match="is a folder"):
        check_output_path(tmp_path, "--json")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CatuvacError, match="is a file, not a folder"):
        check_output_path(blocker / "sub" / "r.json", "--report")
    assert check_output_path(tmp_path / "new" / "r.json", "--report", (".json",)) == tmp_path / "new" / "r.json"
