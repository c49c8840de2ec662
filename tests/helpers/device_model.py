"""A small streaming-built (``arch="device"``) model exported with its incremental graphs (fp32 and int8).

Synthesized built-in scenes through a 32-mel, 2-s, globally normalized front-end; random weights
with BatchNorm statistics from the windows and a read-out scaled so decisions vary between windows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from catuvac.runtime.frontend import FrontEnd, FrontEndConfig, fit_global_stats, normalize_window
from catuvac.training.model import CatUVAC, ModelConfig, arch_fields, level_feature
from catuvac.training.scenes import SCENE_CLASSES, synthesize_scene

FE = FrontEndConfig(n_mels=32, window_seconds=2.0, normalization="global")  # 65 frames: 2 GRU steps


def device_windows(seed: int = 7, per_class: int = 2) -> tuple[FrontEndConfig, np.ndarray]:
    """(front-end with statistics, normalized windows (N, 32, 65)) of synthesized scene clips."""
    rng = np.random.default_rng(seed)
    fe = FrontEnd(FE)
    raw = np.stack([fe.features(synthesize_scene(c, 2.0, rng))[:, : FE.window_frames] for c in SCENE_CLASSES for _ in range(per_class)])
    cfg = FE.with_stats(fit_global_stats(list(raw), FE))
    return cfg, normalize_window(raw, cfg)


def fit_readout(model: CatUVAC, windows: np.ndarray, labels: torch.Tensor) -> CatUVAC:
    """BatchNorm running statistics from ``windows`` (so folding BN is not the identity) and the
    read-out ``h_out`` set to a nearest-class-mean classifier on h's GRU features (closed form),
    so decisions vary between windows with clear margins, as a trained h's do."""
    k = model.cfg.n_clusters
    x = torch.from_numpy(windows[:, None])
    for m in model.h_body.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None  # cumulative average over the passes below
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model.h_body(x)
        model.eval()
        feats = model.h_body(x)
        if model.cfg.level_input:  # h's read-out also sees the window's level ("window_level" inputs)
            feats = torch.cat([feats, level_feature(x, model.cfg.level_input)], dim=1)
        mu, sd = feats.mean(0), feats.std(0) + 1e-6
        means = torch.stack([((feats - mu) / sd)[labels == c].mean(0) for c in range(k)])
        w = means / sd  # logits_c ∝ <(feat − mu)/sd, mean_c>
        b = -(w @ mu)
        gain = 3.0 / float((feats @ w.T + b).std())  # logits of a few units
        model.h_out.weight.copy_(gain * w)
        model.h_out.bias.copy_(gain * b)
    return model


def device_model(windows: np.ndarray, k: int = 4, seed: int = 0, arch: str = "device") -> CatUVAC:
    """A model of ``arch`` on these windows (labels: the clips' classes, ``k`` clusters)."""
    torch.manual_seed(seed)
    model = CatUVAC(ModelConfig(n_clusters=k, n_features=windows.shape[1], n_frames=windows.shape[2], **arch_fields(arch)))
    per_class = len(windows) // len(SCENE_CLASSES)
    return fit_readout(model, windows, torch.arange(len(windows)) // per_class % k)


def export_device_model(out_dir: Path, int8: bool = True) -> dict[str, Any]:
    """Export the model into ``out_dir``; returns the export report (with ``"windows"`` added)."""
    from catuvac.export.exporter import WindowData, export_model
    from catuvac.training.checkpoint import save_checkpoint

    fe, w = device_windows()
    model = device_model(w)
    ck = out_dir / "checkpoint.pt"
    out_dir.mkdir(parents=True, exist_ok=True)
    save_checkpoint(ck, model, model.cfg, fe, {"preset": "test", "seed": 0, "split_seed": 0}, epoch=1)
    report = export_model(ck, out_dir / "model", int8=int8, calibration=WindowData(w, w), progress=False)
    return {**report, "windows": w}
