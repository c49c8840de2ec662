"""Fixtures for the runtime tests: the small ONNX "scene" models of :mod:`tests.helpers.scene_models`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers.scene_models import build_test_model, scene_audio


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def small_model(model_dir: Path) -> Path:
    """2-s window (65 frames), K=4, 128 mel bins."""
    return build_test_model(model_dir / "small.onnx", window_seconds=2.0, n_clusters=4)


@pytest.fixture(scope="session")
def model4s(model_dir: Path) -> Path:
    """The soak configuration: 4-s window (132 frames), K=7, 128 mel bins."""
    return build_test_model(model_dir / "m4s.onnx", window_seconds=4.0, n_clusters=7)


@pytest.fixture(scope="session")
def no_meta_model(model_dir: Path) -> Path:
    return build_test_model(model_dir / "nometa.onnx", with_metadata=False)


@pytest.fixture(scope="session")
def low_high_audio() -> tuple[np.ndarray, int]:
    """8 s of low-frequency noise (cluster 0 of K=4) then 8 s of high-frequency noise (cluster 3), 16 kHz."""
    sr = 16000
    x = np.concatenate([scene_audio(8.0, 0, 4, sr, seed=1), scene_audio(8.0, 3, 4, sr, seed=2)])
    return x, sr
