"""The tiny data set and config of the trainer tests (three classes, a bright band per class)."""

from __future__ import annotations

import numpy as np

from catuvac.runtime.frontend import FrontEndConfig
from catuvac.training.train import PreparedData, TrainConfig

FE = FrontEndConfig(n_mels=32, window_seconds=1.0)  # 32 bins × 32 frames


def tiny_data(n_train: int = 24, n_val: int = 6, n_test: int = 9, seed: int = 0) -> PreparedData:
    """Three classes: a bright band at a class-specific height over a noise floor."""
    rng = np.random.default_rng(seed)
    xs, ls, ms = {}, {}, {}
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        lab = np.arange(n) % 3
        x = 0.3 * rng.random((n, FE.n_features, FE.window_frames))
        for i, c in enumerate(lab):
            x[i, 10 * c : 10 * c + 8] += 0.6
        xs[split], ls[split] = np.clip(x, 0, 1).astype(np.float32), lab
        m = np.ones((n, FE.window_frames), np.float32)
        m[::4, -5:] = 0.0  # some masked frames: the mask path is exercised
        ms[split] = m
    return PreparedData.from_arrays(FE, xs, ms, ls, ["low", "mid", "high"], source="tiny")


def tiny_cfg(**kw) -> TrainConfig:
    base = dict(preset="test", data="tiny", n_clusters=3, epochs=3, batch_size=8, lam=2.0, device="cpu", seed=3)
    base.update(kw)
    return TrainConfig(**base)
