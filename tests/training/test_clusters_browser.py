"""The audition page in a real headless browser (Chromium from the system packages, set up by `make test`).

tools/browser.sh installs Chromium and records where it is; tools/page_check.py drives it over
the DevTools pipe. The page must load without a JavaScript error, console error or failed
load, every image must decode and every audio element must load its WAV's metadata; the
screenshot is written next to the page (and its path printed) for a person to look at.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from catuvac.training.clusters import audition
from tests.helpers.scene_models import band_noise_model_and_folder
from tools import page_check


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The audition tests' model and data set (see tests/training/test_clusters.py)."""
    return band_noise_model_and_folder(tmp_path_factory.mktemp("clusters"))


STATUS = Path(os.environ.get("CATUVAC_BROWSER_STATUS", "/tmp/catuvac-browser/status"))


@pytest.fixture(scope="module")
def chromium() -> str:
    if not STATUS.exists():
        pytest.skip(f"headless browser not set up ({STATUS} missing): run tools/browser.sh (make test does)")
    lines = STATUS.read_text().splitlines() or ["empty status file"]
    if lines[0].strip() != "ok" or len(lines) < 2:
        pytest.skip(f"headless browser unavailable: {lines[0]}")
    if not Path(lines[1].strip()).is_file():
        pytest.skip(f"{lines[1].strip()} is gone: rerun tools/browser.sh")
    return lines[1].strip()


def test_page_renders_with_every_audio_and_image_resolved(chromium: str, tiny, tmp_path: Path) -> None:
    model, data = tiny
    res = audition(model, f"folder:{data}", tmp_path / "audition", n_examples=3, progress=False)
    shot = tmp_path / "audition" / "screenshot.png"
    r = page_check.check_page(tmp_path / "audition" / "index.html", shot, binary=chromium)
    assert r["errors"] == []
    assert r["external"] == []  # nothing from the network
    n_img = 1 + sum(c.montage is not None for c in res.clusters)
    assert len(r["images"]) == n_img and all(i["complete"] and i["width"] > 0 for i in r["images"]), r["images"]
    n_wav = sum(len(c.examples) for c in res.clusters)
    assert len(r["audios"]) == n_wav == 6
    for a in r["audios"]:
        assert a["error"] is None and a["readyState"] >= 1 and a["duration"] == pytest.approx(1.0, abs=0.01), a
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"screenshot: {shot}")


def test_a_missing_excerpt_is_caught(chromium: str, tiny, tmp_path: Path) -> None:
    # the check itself must fail on a broken page: delete one WAV and one PNG
    model, data = tiny
    res = audition(model, f"folder:{data}", tmp_path / "a", n_examples=2, progress=False)
    c = next(c for c in res.clusters if c.examples)
    (tmp_path / "a" / c.examples[0]["wav"]).unlink()
    (tmp_path / "a" / "spectra.png").unlink()
    r = page_check.check_page(tmp_path / "a" / "index.html", None, binary=chromium, media_timeout_ms=5000)
    broken_audio = [a for a in r["audios"] if a["error"] is not None or a["readyState"] < 1]
    assert [a["src"] for a in broken_audio] == [c.examples[0]["wav"]]
    assert [i["src"] for i in r["images"] if i["width"] == 0] == ["spectra.png"]
    assert r["errors"], "a failed load must be reported"
