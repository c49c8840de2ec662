"""Random views of a batch of input windows for the ``augment`` consistency term (opt-in).

A view of a window keeps what a cluster should stand for (the digit, the scene) and changes
what it should not: the talker's vocal-tract length and pitch, the speaking rate, where the
word starts in the window, and a band or a stretch of frames hidden. One affine resampling of
the (F, T) map per window does the first three:

- **frequency warp** by α ∈ [1/(1+w_f), 1+w_f], anchored at the lowest bin: on a linear
  spectrogram this is vocal-tract-length perturbation (VTLP, Jaitly & Hinton 2013), on a
  log-mel map approximately so;
- **time stretch** by β ∈ [1/(1+w_t), 1+w_t], anchored at the first frame, and a **shift** of
  up to ``shift`` of the window's length either way;

then one **band** and one **frame mask** (SpecAugment, Park et al. 2019) of up to ``mask`` of
the bins / frames. Bins and frames that come from outside the window, and the masks, take the
window's minimum (its floor: 0 for the ``window`` normalization, the level for
``window_level``), so the view's level is the window's.

Pure torch on (B, 1, F, T) batches, on the batch's device; the draws come from the global torch
generator, which the trainer seeds per epoch, so a run repeats exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["ViewConfig", "random_view"]


@dataclass(frozen=True)
class ViewConfig:
    """How far a view may move a window (each 0 = that change is off)."""

    freq_warp: float = 0.15  # α up to ±15 %: vocal-tract lengths of adult talkers differ by about that much
    time_stretch: float = 0.15  # β up to ±15 %: a brisk or a slow speaker of the same word
    shift: float = 0.1  # up to 10 % of the window either way: onset jitter after trimming
    mask: float = 0.1  # one band and one stretch of frames of up to 10 % each (SpecAugment's size)


def _uniform(n: int, lo: float, hi: float, device: torch.device) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, device=device)


def _log_uniform_scale(n: int, w: float, device: torch.device) -> torch.Tensor:
    """Scale factors in [1/(1+w), 1+w], symmetric on a log axis (stretching and squeezing alike)."""
    r = torch.log1p(torch.tensor(w, device=device))
    return torch.exp(_uniform(n, -1.0, 1.0, device) * r)


def _warp(x: torch.Tensor, floor: torch.Tensor, cfg: ViewConfig) -> torch.Tensor:
    """Per-window affine resampling: frequency scale, time scale and shift (floor outside)."""
    b = x.shape[0]
    dev = x.device
    alpha = _log_uniform_scale(b, cfg.freq_warp, dev)
    beta = _log_uniform_scale(b, cfg.time_stretch, dev)
    shift = _uniform(b, -2 * cfg.shift, 2 * cfg.shift, dev)  # normalized coordinates span 2
    theta = torch.zeros(b, 2, 3, device=dev)
    # grid (u, v) ∈ [-1, 1]: u along time (width), v along frequency (height); output samples the
    # input at u_in = (u + 1)/β − 1 − shift, v_in = (v + 1)/α − 1 (anchored at frame 0 / bin 0)
    theta[:, 0, 0] = 1 / beta
    theta[:, 0, 2] = 1 / beta - 1 - shift
    theta[:, 1, 1] = 1 / alpha
    theta[:, 1, 2] = 1 / alpha - 1
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x - floor, grid.to(x.dtype), mode="bilinear", padding_mode="zeros", align_corners=False) + floor


def _mask_span(n: int, size: int, frac: float, device: torch.device) -> torch.Tensor:
    """(n, size) bool: one random span of up to ``frac`` of ``size`` per row."""
    width = (torch.rand(n, device=device) * frac * size).long()
    start = (torch.rand(n, device=device) * (size - width + 1).float()).long()
    pos = torch.arange(size, device=device)[None, :]
    return (pos >= start[:, None]) & (pos < (start + width)[:, None])


def _masks(x: torch.Tensor, floor: torch.Tensor, frac: float) -> torch.Tensor:
    b, _, fdim, tdim = x.shape
    band = _mask_span(b, fdim, frac, x.device)[:, None, :, None]
    frames = _mask_span(b, tdim, frac, x.device)[:, None, None, :]
    return torch.where(band | frames, floor, x)


@torch.no_grad()
def random_view(x: torch.Tensor, cfg: ViewConfig = ViewConfig()) -> torch.Tensor:
    """A random view of each window of ``x`` (B, 1, F, T); same shape, dtype and memory format."""
    if x.dim() != 4:
        raise ValueError(f"random_view expects (B, 1, F, T) windows, got shape {tuple(x.shape)}")
    out = x.float()
    floor = out.amin(dim=(1, 2, 3), keepdim=True)  # each window's floor, kept by every change
    if cfg.freq_warp > 0 or cfg.time_stretch > 0 or cfg.shift > 0:
        out = _warp(out, floor, cfg)
    if cfg.mask > 0:
        out = _masks(out, floor, cfg.mask)
    out = out.to(x.dtype)
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        out = out.contiguous(memory_format=torch.channels_last)
    return out
