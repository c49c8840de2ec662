"""Checkpoints: weights + every config as plain data, written atomically, loaded with weights_only=True.

Layout of the ``torch.save``'d dict (only tensors, numbers, strings, lists and dicts, so that
``torch.load(weights_only=True)`` can read it):

- ``format``: ``"catuvac-checkpoint"``, ``format_version``: 1
- ``model_config``: :meth:`ModelConfig.to_dict` — rebuilds the network with no other file
- ``frontend``: :meth:`FrontEndConfig.to_dict` — features (incl. normalization statistics)
- ``train_config``: the training run's settings (preset, λ, τ schedule, lr, epochs, seed, data spec…)
- ``model_state``: ``state_dict()`` of the model
- ``epoch``: number of completed epochs
- ``train_state``: optimizer / scheduler / RNG states and history, for exact ``--resume``
  (may be absent in a stripped checkpoint)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from catuvac.runtime.errors import CatuvacError
from catuvac.runtime.fileio import atomic_write, file_sha256
from catuvac.runtime.frontend import FrontEndConfig

from .model import ModelConfig, build_model, level_input_for

__all__ = ["CheckpointError", "LoadedCheckpoint", "save_checkpoint", "load_checkpoint", "file_sha256"]

FORMAT = "catuvac-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(CatuvacError, ValueError):
    """A checkpoint that is missing, corrupt, or of the wrong kind; the message says what to do."""


@dataclass
class LoadedCheckpoint:
    model: nn.Module
    model_config: ModelConfig
    frontend: FrontEndConfig
    train_config: dict[str, Any]
    epoch: int
    raw: dict[str, Any] = field(repr=False)
    path: Path | None = None

    @property
    def model_type(self) -> str:
        return self.model_config.model_type


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    model_config: ModelConfig,
    frontend: FrontEndConfig,
    train_config: dict[str, Any],
    epoch: int,
    train_state: dict[str, Any] | None = None,
) -> Path:
    """Write atomically: a temp file in the same folder, fsync, then ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    module = model.module if hasattr(model, "module") else model  # unwrap DDP
    payload: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_config": model_config.to_dict(),
        "frontend": frontend.to_dict(),
        "train_config": dict(train_config),
        "model_state": {k: v.detach().cpu() for k, v in module.state_dict().items()},
        "epoch": int(epoch),
    }
    if train_state is not None:
        payload["train_state"] = train_state
    return atomic_write(path, lambda f: torch.save(payload, f))


def _verify_archive(p: Path) -> None:
    """A checkpoint is a zip archive (torch.save's format): refuse anything else and any CRC failure.

    torch.load does not check the CRCs of the stored tensors, so a flipped bit in the weights
    would load (and export, with "agreement 1.0") silently.
    """
    import zipfile

    if not zipfile.is_zipfile(p):
        raise CheckpointError(f"{p}: corrupt or not a catuvac checkpoint (not a PyTorch archive); pass the checkpoint.pt that catuvac-train wrote")
    try:
        with zipfile.ZipFile(p) as z:
            bad = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise CheckpointError(f"{p}: the checkpoint archive is damaged ({e}); use an intact copy or retrain") from e
    if bad is not None:
        raise CheckpointError(f"{p}: the checkpoint is corrupted ({bad} fails its CRC check); use an intact copy or retrain")


def load_checkpoint(path: str | os.PathLike, expect_type: str | None = None, map_location: str = "cpu") -> LoadedCheckpoint:
    """Load with ``weights_only=True`` and rebuild the model from the stored config (eval mode)."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{p}: checkpoint not found; train one with `catuvac-train --out DIR` (it writes DIR/checkpoint.pt)")
    if p.is_dir():
        if (p / "checkpoint.pt").exists():
            p = p / "checkpoint.pt"
        else:
            raise CheckpointError(f"{p}: is a directory without checkpoint.pt")
    _verify_archive(p)
    try:
        raw = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as e:  # torch's own text advises weights_only=False: never shown to the user
        raise CheckpointError(
            f"{p}: cannot read checkpoint ({type(e).__name__}); the file is corrupt, truncated or not a catuvac checkpoint"
        ) from e
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise CheckpointError(f"{p}: not a catuvac checkpoint (no '{FORMAT}' marker)")
    if raw.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{p}: checkpoint format {raw.get('format_version')} is not supported (this catuvac reads {FORMAT_VERSION})"
        )
    try:
        mcfg = ModelConfig.from_dict(raw["model_config"])
        fe = FrontEndConfig.from_dict(raw["frontend"])
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{p}: invalid configuration inside the checkpoint: {e}") from e
    if expect_type is not None and mcfg.model_type != expect_type:
        raise CheckpointError(
            f"{p}: this is a {mcfg.model_type!r} checkpoint but a {expect_type!r} one is needed"
        )
    if fe.n_features != mcfg.n_features or fe.window_frames != mcfg.n_frames:
        raise CheckpointError(
            f"{p}: model expects {mcfg.n_features}×{mcfg.n_frames} inputs but its front-end config gives "
            f"{fe.n_features}×{fe.window_frames}: the checkpoint is inconsistent"
        )
    if mcfg.level_input != level_input_for(fe, mcfg.model_type):
        raise CheckpointError(
            f"{p}: the model reads the level of {mcfg.level_input or 'no'} 'window_level' input but the front-end "
            f"normalizes with {fe.normalization!r} (level_weight {fe.level_weight}): the checkpoint is inconsistent"
        )
    model = build_model(mcfg)
    try:
        model.load_state_dict(raw["model_state"])
    except (RuntimeError, KeyError) as e:
        raise CheckpointError(f"{p}: weights do not match the stored model config: {e}") from e
    model.eval()
    return LoadedCheckpoint(
        model=model,
        model_config=mcfg,
        frontend=fe,
        train_config=dict(raw.get("train_config", {})),
        epoch=int(raw.get("epoch", 0)),
        raw=raw,
        path=p,
    )
