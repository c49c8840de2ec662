"""Categorical UVAC (Fiorio, Nikoloska, Aarts) — the networks h, f, g and the loss of eq. (7).

Architecture (section II-B, exact where the paper is exact):

- **h** (q(y|x)): four ``Conv2d`` with 16, 32, 64, 128 output channels, kernel (8, 8), stride
  (2, 2), padding (3, 3), each followed by ``BatchNorm2d`` and ReLU; two GRU layers of 128
  units; a linear layer to K logits. π = softmax(logits).
- **f** (q(z|x, y)): the same body on the channel concatenation of x and y (y expanded over
  frequency and time: 1 + K input channels), then a linear layer to 2·d_z (mean and
  log-variance); z = μ + σ·ε.
- **g** (p(x|y, z)): four ``ConvTranspose2d`` with 64, 32, 16, 1 output channels, same
  kernel / stride / padding, ReLU after each but the last, sigmoid at the end.

Choices where the paper is silent (and why):

- *GRU read-out*: the conv map (B, 128, F/16, T/16) is read as a sequence over time with
  128·F/16 features per step; the code of the whole window is the **last output of the top
  GRU layer**. A GRU is a sequence summarizer; its last state has seen the whole context
  window, and the same read-out serves a streaming device (one vector per window).
- *First feature map of g*: the concatenation [y, z] (the channel concatenation of two
  vectors) goes through one linear layer to a 128 × F/16 × ⌈T/16⌉ map (128 channels mirror
  the encoder's last conv). Broadcasting [y, z] over a spatial grid, the other reading,
  gives transposed convolutions a spatially constant input that cannot rebuild time-frequency
  structure. The decoder's output (16× the map) is cropped to the input size (F, T).
- *d_z* = 16: the paper leaves it open; a small continuous latent keeps the cluster
  information in y (a large z can explain the input alone and leave y unused).
- *Loss normalization*: log p(x|y,z) is the Bernoulli log-likelihood **summed** over the
  (masked) time-frequency bins and averaged over the batch; both KL terms are per example,
  averaged over the batch — eq. (7) per example, as in Kingma et al.

At evaluation (and in the exported model) y is the argmax of h's logits (τ → 0).

Beyond the paper (opt-in, issue 11): with the front-end's ``"window_level"`` normalization the
input is ``(1 − a)·window_map + a·ℓ`` and ``level_input = a``; h then also reads the window's
level ℓ = min(x) / a (exact: the window map's minimum is 0) and gives it to the K-logit layer
beside the GRU's code (:func:`level_feature`), so a cluster can depend on the level directly
instead of through a small offset of the convolutions' input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from catuvac.runtime.errors import CatuvacError

from .augment import random_view
from .objectives import Objective

__all__ = ["ModelConfig", "ConvGRUEncoder", "Decoder", "CatUVAC", "cat_uvac_loss", "conv_out", "ModelConfigError", "ARCHS",
           "arch_fields", "streaming_crop", "level_feature", "level_input_for"]


class ModelConfigError(CatuvacError, ValueError):
    pass


def conv_out(n: int, kernel: int = 8, stride: int = 2, padding: int = 3, layers: int = 4) -> int:
    """Size after ``layers`` convolutions (PyTorch's floor formula)."""
    for _ in range(layers):
        n = (n + 2 * padding - kernel) // stride + 1
    return n


def streaming_crop(n_frames: int, kernel: int, stride: int, layers: int) -> int:
    """Frames of an ``n_frames`` window that the streaming-built (``"device"``) encoder reads: the
    last ``RF + S·(T' − 1)`` frames, where RF is the receptive field of the unpadded (valid)
    time convolutions, S = stride^layers their total stride and T' the largest step count with
    ``RF + S·(T' − 1) ≤ n_frames − (n_frames mod S)``. With that crop every layer's input
    length is ≡ kernel (mod stride), so the window's last output of every layer ends on the
    window's last frame: the same positions a stream that consumes S frames at a time computes
    (see :mod:`catuvac.export.streaming`). 0 when the window is shorter than RF."""
    total = stride**layers
    rf = 1 + (kernel - 1) * sum(stride**i for i in range(layers))
    usable = n_frames - n_frames % total
    if usable < rf:
        return 0
    return rf + total * ((usable - rf) // total)


# Model shapes per architecture (fields of ModelConfig). "paper": section II-B as written.
# "device": a model a hearing aid holds (≤ 128 KB of int8 parameters, ≤ 30 MMAC per second of
# audio, issue 13) and that streams exactly: kernel 4 (divisible by the stride, so the per-layer
# caches stay aligned), padding only along frequency (valid along time), fewer channels, a
# 2 × 64 GRU. The decoder g is training-only and shrinks with the encoder.
ARCHS: dict[str, dict[str, Any]] = {
    "paper": {},
    "device": {"conv_channels": (16, 24, 32, 48), "kernel": 4, "padding": 1, "gru_hidden": 64,
               "decoder_channels": (32, 16, 8, 1)},
}


def arch_fields(arch: str) -> dict[str, Any]:
    """The ModelConfig field values of ``arch`` (with ``arch`` itself)."""
    if arch not in ARCHS:
        raise ModelConfigError(f"arch must be one of {', '.join(ARCHS)}, got {arch!r}")
    return {"arch": arch, **ARCHS[arch]}


@dataclass(frozen=True)
class ModelConfig:
    """Everything that determines the network's shape. Saved in the checkpoint to rebuild it."""

    model_type: str = "cat_uvac"  # "cat_uvac" (this paper) or "uvac" (Gaussian-mixture baseline)
    n_clusters: int = 10  # K: paper uses 10 (= labels) and 5 (merged) for scenes
    n_features: int = 128  # input height: 128 mel bins (paper)
    n_frames: int = 132  # input width: 4 s at hop 480 → 132 frames
    latent_dim: int = 16  # d_z: paper silent; small so that y carries the cluster (see module doc)
    conv_channels: tuple[int, ...] = (16, 32, 64, 128)  # paper
    kernel: int = 8  # paper: (8, 8)
    stride: int = 2  # paper: (2, 2)
    padding: int = 3  # paper: (3, 3)
    gru_hidden: int = 128  # paper: both GRU layers have 128 output nodes
    gru_layers: int = 2  # paper
    decoder_channels: tuple[int, ...] = (64, 32, 16, 1)  # paper
    # "paper": symmetric padding on both axes; "device": no padding along time (streaming equals
    # full-window compute; the window is cropped, see streaming_crop), sizes from ARCHS
    arch: str = "paper"
    # > 0: the front-end's level_weight a ("window_level" inputs); h's K-logit layer also reads
    # the window's level (level_feature). 0: the paper's h.
    level_input: float = 0.0

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ModelConfigError(f"arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        if self.streamable and self.kernel % self.stride:
            raise ModelConfigError(f"arch 'device' needs a kernel divisible by the stride, got {self.kernel} and {self.stride}")
        if self.model_type not in ("cat_uvac", "uvac"):
            raise ModelConfigError(f"model_type must be 'cat_uvac' or 'uvac', got {self.model_type!r}")
        if self.n_clusters < 2:
            raise ModelConfigError(f"need at least 2 clusters, got {self.n_clusters}")
        if not 0.0 <= self.level_input < 1.0 or (self.level_input and self.model_type != "cat_uvac"):
            raise ModelConfigError(f"level_input must be in [0, 1) and needs model_type 'cat_uvac', got {self.level_input}")
        n_layers = len(self.conv_channels)
        if self.feature_map_height < 1 or self.encoder_steps < 1:
            raise ModelConfigError(
                f"input {self.n_features}×{self.n_frames} is too small for {n_layers} stride-{self.stride} "
                f"convolutions (needs at least {2 ** n_layers} bins and frames)"
            )

    @property
    def feature_map_height(self) -> int:
        return conv_out(self.n_features, self.kernel, self.stride, self.padding, len(self.conv_channels))

    @property
    def streamable(self) -> bool:
        """True when the encoder's time axis is unpadded: incremental inference is exact."""
        return self.arch == "device"

    @property
    def time_padding(self) -> int:
        return 0 if self.streamable else self.padding

    @property
    def time_stride(self) -> int:
        """Total stride of the convolutions along time (frames per GRU step)."""
        return int(self.stride ** len(self.conv_channels))

    def frames_used(self, n_frames: int | None = None) -> int:
        """Frames of an ``n_frames`` window (default: the trained one) the encoder reads."""
        n = self.n_frames if n_frames is None else n_frames
        return streaming_crop(n, self.kernel, self.stride, len(self.conv_channels)) if self.streamable else n

    @property
    def encoder_steps(self) -> int:
        return conv_out(self.frames_used(), self.kernel, self.stride, self.time_padding, len(self.conv_channels))

    @property
    def decoder_grid(self) -> tuple[int, int]:
        """(height, width) of g's first map: upsampled 2^L times it covers the input."""
        up = self.stride ** len(self.decoder_channels)
        return -(-self.n_features // up), -(-self.n_frames // up)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["conv_channels"] = list(self.conv_channels)
        d["decoder_channels"] = list(self.decoder_channels)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ModelConfig":
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ModelConfigError(f"unknown model config fields {sorted(unknown)}: checkpoint from a newer catuvac?")
        d = dict(d)
        for k in ("conv_channels", "decoder_channels"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)


def level_feature(x: torch.Tensor, level_weight: float) -> torch.Tensor:
    """(B, 1, F, T) ``"window_level"`` inputs → (B, 1): the window's level ℓ = min(x) / a, centred
    and scaled to about ±2 (the GRU's code is in [−1, 1]; a feature in (0, 1) would need large
    weights before the logits could follow it)."""
    return (x.amin(dim=(1, 2, 3)).unsqueeze(1) / level_weight - 0.5) * 4.0


def level_input_for(frontend: Any, model_type: str = "cat_uvac") -> float:
    """ModelConfig.level_input for a front-end config: its level_weight for "window_level"
    inputs to a Cat. UVAC (h reads the level), else 0."""
    return float(frontend.level_weight) if frontend.normalization == "window_level" and model_type == "cat_uvac" else 0.0


class ConvGRUEncoder(nn.Module):
    """Four Conv2d+BN+ReLU, two GRU layers; returns the top layer's last output (B, gru_hidden)."""

    def __init__(self, in_channels: int, cfg: ModelConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        for c_out in cfg.conv_channels:
            layers += [
                nn.Conv2d(c_in, c_out, cfg.kernel, cfg.stride, (cfg.padding, cfg.time_padding)),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
            c_in = c_out
        self.conv = nn.Sequential(*layers)
        self.cfg = cfg
        self.gru = nn.GRU(
            input_size=cfg.conv_channels[-1] * cfg.feature_map_height,
            hidden_size=cfg.gru_hidden,
            num_layers=cfg.gru_layers,
            batch_first=True,
        )

    def sequence(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, F, T) → GRU input sequence (B, T', C'·F')."""
        if self.cfg.streamable:  # the frames a stream of valid convolutions covers (streaming_crop)
            x = x[..., x.shape[-1] - self.cfg.frames_used(int(x.shape[-1])) :]
        h = self.conv(x)
        b, c, f, t = h.shape
        return h.permute(0, 3, 1, 2).reshape(b, t, c * f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(self.sequence(x))
        return out[:, -1]


class Decoder(nn.Module):
    """g: [y, z] → linear → (128, F/16, ⌈T/16⌉) → four ConvTranspose2d → sigmoid, cropped to (F, T)."""

    def __init__(self, in_dim: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        gh, gw = cfg.decoder_grid
        self.c0 = cfg.conv_channels[-1]
        self.grid = (gh, gw)
        self.fc = nn.Linear(in_dim, self.c0 * gh * gw)
        layers: list[nn.Module] = []
        c_in = self.c0
        for i, c_out in enumerate(cfg.decoder_channels):
            layers.append(nn.ConvTranspose2d(c_in, c_out, cfg.kernel, cfg.stride, cfg.padding))
            if i < len(cfg.decoder_channels) - 1:
                layers.append(nn.ReLU(inplace=True))
            c_in = c_out
        self.deconv = nn.Sequential(*layers)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        h = self.fc(v).view(-1, self.c0, *self.grid)
        out = self.deconv(h)
        return torch.sigmoid(out[:, :, : self.cfg.n_features, : self.cfg.n_frames])


class CatUVAC(nn.Module):
    """The categorical UVAC: h (y|x), f (z|x,y), g (x|y,z)."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.model_type != "cat_uvac":
            raise ModelConfigError(f"CatUVAC needs model_type='cat_uvac', got {cfg.model_type!r}")
        self.cfg = cfg
        k = cfg.n_clusters
        self.h_body = ConvGRUEncoder(1, cfg)
        self.h_out = nn.Linear(cfg.gru_hidden + (1 if cfg.level_input else 0), k)
        self.f_body = ConvGRUEncoder(1 + k, cfg)
        self.f_out = nn.Linear(cfg.gru_hidden, 2 * cfg.latent_dim)
        self.g = Decoder(k + cfg.latent_dim, cfg)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """h: (B, 1, F, T) in [0, 1] → (B, K) logits; π = softmax(logits) = q(y|x)."""
        code = self.h_body(x)
        if self.cfg.level_input:
            code = torch.cat([code, level_feature(x, self.cfg.level_input)], dim=1)
        return self.h_out(code)

    def encode_z(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, _, fdim, tdim = x.shape
        y_map = y[:, :, None, None].expand(b, y.shape[1], fdim, tdim)
        out = self.f_out(self.f_body(torch.cat([x, y_map], dim=1)))
        mu, logvar = out.chunk(2, dim=1)
        return mu, logvar

    def forward(self, x: torch.Tensor, tau: float = 1.0, hard_eval: bool | None = None) -> dict[str, torch.Tensor]:
        """Training: y ~ GumbelSoftmax(log π, τ), z ~ q(z|x,y). Eval: y = one_hot(argmax), z = μ."""
        logits = self.logits(x)
        log_pi = F.log_softmax(logits, dim=1)
        use_hard = (not self.training) if hard_eval is None else hard_eval
        if use_hard:
            y = F.one_hot(logits.argmax(dim=1), self.cfg.n_clusters).to(x.dtype)
        else:
            y = F.gumbel_softmax(log_pi, tau=tau, hard=False)
        mu, logvar = self.encode_z(x, y)
        if self.training:
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        else:
            z = mu
        x_hat = self.g(torch.cat([y, z], dim=1))
        return {"logits": logits, "log_pi": log_pi, "y": y, "mu": mu, "logvar": logvar, "z": z, "x_hat": x_hat}

    # ------------------------------------------------------------ common model protocol
    # Every trainable model (CatUVAC here, UVAC in uvac.py) offers step_loss, infer and
    # representations, so that the trainer, the evaluator and the exporter do not special-case
    # model types.
    representations = ("q_y", "z_mean")  # the spaces infer() returns for the geometry metrics

    def step_loss(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        lam: float,
        tau: float,
        objective: Objective | None = None,
        x_pair: torch.Tensor | None = None,
        pair_valid: torch.Tensor | None = None,
        x_nn: torch.Tensor | None = None,
        with_posterior: bool = False,
    ) -> dict[str, torch.Tensor]:
        """Named loss terms and ``loss`` (minimized) for one batch.

        ``with_posterior``: also return ``log_pi`` (B, K), log q(y|x) detached (the trainer's
        cluster report); otherwise every value is a scalar.

        ``objective``: the extra terms' weights (default: eq. 7 alone); its λ is replaced by
        ``lam`` (the trainer may schedule λ). ``x_pair``: each window's neighbour in its clip,
        for the ``temporal`` term (only h runs on it); ``pair_valid`` (B,) 0 where a window has none.
        The ``augment`` term draws its random view of ``x`` here (augment.py; h runs on it).
        ``x_nn``: a mined nearest neighbour of each window, for the ``neighbour`` term (h only).
        """
        obj = Objective(lam=lam) if objective is None else replace(objective, lam=lam)
        batch: dict[str, torch.Tensor] = {**self(x, tau=tau), "x": x}
        if mask is not None:
            batch["mask"] = mask
        if obj.needs_pairs:
            if x_pair is None:
                raise ValueError("the temporal term needs x_pair (each window's neighbour in its clip)")
            batch["logits_pair"] = self.logits(x_pair)
            if pair_valid is not None:
                batch["pair_valid"] = pair_valid
        if obj.needs_view:
            batch["logits_view"] = self.logits(random_view(x))
        if obj.needs_neighbours:
            if x_nn is None:
                raise ValueError("the neighbour term needs x_nn (a mined nearest neighbour of each window)")
            batch["logits_nn"] = self.logits(x_nn)
        terms = obj(batch)
        if with_posterior:
            terms["log_pi"] = batch["log_pi"].detach()
        return terms

    @torch.no_grad()
    def infer(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Cluster (argmax of h), q(y|x) and the mean of q(z|x, y = one_hot(cluster))."""
        logits = self.logits(x)
        cluster = logits.argmax(dim=1)
        y = F.one_hot(cluster, self.cfg.n_clusters).to(x.dtype)
        mu, _ = self.encode_z(x, y)
        return {"cluster": cluster, "q_y": F.softmax(logits, dim=1), "z_mean": mu}


def cat_uvac_loss(
    out: Mapping[str, torch.Tensor], x: torch.Tensor, mask: torch.Tensor | None, lam: float
) -> dict[str, torch.Tensor]:
    """Negative ELBO of eq. (7), averaged over the batch (the terms are in :mod:`.objectives`).

    recon = −log p(x|y,z): Bernoulli (BCE) summed over time-frequency bins, frames outside the
    activity mask (B, T) ignored; kl_z = KL(N(μ, σ²) ‖ N(0, I)); kl_y = KL(π ‖ uniform(K)).
    loss = recon + λ·(kl_z + kl_y).
    """
    return Objective(lam=lam)({**out, "x": x, "mask": mask} if mask is not None else {**out, "x": x})


def build_model(cfg: ModelConfig) -> nn.Module:
    """Rebuild a model from its config (the checkpoint stores the config as plain data)."""
    if cfg.model_type == "cat_uvac":
        return CatUVAC(cfg)
    from .uvac import UVAC  # the Gaussian-mixture baseline

    return UVAC(cfg)
