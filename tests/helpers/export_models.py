"""Fixtures of the export tests: a paper-size h (K = 7, 128 × 132 input) whose BatchNorm statistics
come from real windows, real windows of synthesized scenes, and its checkpoint.

``tests/export/conftest.py`` provides them to the export tests; other test modules import the
fixtures they need from here (pytest picks up an imported fixture)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from catuvac.runtime.frontend import FrontEnd, FrontEndConfig, normalize_window
from catuvac.training.checkpoint import save_checkpoint
from catuvac.training.model import CatUVAC, ModelConfig
from catuvac.training.scenes import SCENE_CLASSES, synthesize_scene

CLIPS_PER_CLASS = 4  # 28 clips: enough for a stratified 80/10/10 split with val and test windows


@pytest.fixture(scope="session")
def scene_audio() -> list[tuple[str, np.ndarray]]:
    """(label, 4-s clip) pairs: synthesized built-in scenes, seeded."""
    rng = np.random.default_rng(1234)
    return [(label, synthesize_scene(label, 4.0, rng)) for label in SCENE_CLASSES for _ in range(CLIPS_PER_CLASS)]


@pytest.fixture(scope="session")
def frontend() -> FrontEndConfig:
    return FrontEndConfig.scenes()


@pytest.fixture(scope="session")
def raw_windows(scene_audio, frontend) -> np.ndarray:
    """Raw log-mel windows (N, 128, 132) of the clips through the real front-end."""
    fe = FrontEnd(frontend)
    return np.stack([fe.features(a)[:, : frontend.window_frames] for _, a in scene_audio])


@pytest.fixture(scope="session")
def windows(raw_windows, frontend) -> np.ndarray:
    """Normalized network inputs (N, 128, 132) in [0, 1]."""
    return normalize_window(raw_windows, frontend)


def make_model(windows: np.ndarray, k: int = 7, seed: int = 0, cfg: ModelConfig | None = None,
               labels: np.ndarray | None = None) -> CatUVAC:
    """The paper's architecture, random weights, with (cheaply) realistic behaviour:

    - BatchNorm running statistics from the real windows (train-mode passes), so folding BN
      into the convolutions is not the identity;
    - the read-out ``h_out`` set to a nearest-class-mean classifier on h's GRU features
      (closed form, one forward pass), so that decisions vary between windows with clear
      margins — a random read-out puts almost every window in one cluster.

    ``cfg``: another architecture (default: the paper's, K = ``k``); ``labels``: the class of
    each window (default: the clips in class order, ``CLIPS_PER_CLASS`` per class).
    """
    from tests.helpers.device_model import fit_readout

    torch.manual_seed(seed)
    model = CatUVAC(cfg if cfg is not None else ModelConfig(n_clusters=k))
    k = model.cfg.n_clusters
    y = torch.from_numpy(labels % k) if labels is not None else torch.arange(len(windows)) // CLIPS_PER_CLASS % k
    fit_readout(model, windows, y)
    return model


@pytest.fixture(scope="session")
def model(windows) -> CatUVAC:
    return make_model(windows)


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory, model, frontend) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "checkpoint.pt"
    save_checkpoint(path, model, model.cfg, frontend, {"preset": "test", "seed": 0, "split_seed": 0}, epoch=1)
    return path


@pytest.fixture(scope="session")
def audio_folder(tmp_path_factory, scene_audio) -> Path:
    """The clips as float WAV files in class sub-folders (a ``folder:PATH`` data set)."""
    root = tmp_path_factory.mktemp("clips")
    for i, (label, audio) in enumerate(scene_audio):
        d = root / label
        d.mkdir(exist_ok=True)
        sf.write(d / f"{label}_{i:02d}.wav", audio, 16000, subtype="FLOAT")
    return root


@pytest.fixture(scope="session")
def model_factory():
    """:func:`make_model` for tests that need another architecture."""
    return make_model
