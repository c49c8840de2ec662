"""Training of the categorical UVAC (and the UVAC baseline): the library behind ``catuvac-train``.

Reads top to bottom, as one run does:

1. :class:`TrainConfig` — one dataclass with every setting (a preset from
   :mod:`catuvac.training.presets` plus command-line overrides); it is saved, as plain data,
   inside every checkpoint.
2. :func:`prepare_data` — :func:`~catuvac.training.datasets.load_dataset`, the front-end's
   normalization (per window, or global statistics fitted on the training split), tensors in
   memory.
3. :func:`train` — Adam with the closed-form schedules :func:`lr_at` / :func:`tau_at`, one
   validation loss per epoch, an atomic checkpoint after every epoch (``--resume`` continues
   from it and reaches bit-identical weights), then test-split metrics (``metrics.json``:
   the model, K-means and the labels), ``train_log.csv`` and two PNGs.

Schedules (both closed-form functions of the epoch, so a resumed run needs no scheduler state):

- learning rate: ``lr(e) = lr_start · (lr_end / lr_start) ** (e / (E − 1))`` for epoch
  ``e = 0 … E−1``: exponential decay that is exactly ``lr_end`` in the last epoch (the paper);
- τ: per epoch, from ``tau_start`` (first epoch) to ``tau_end`` (last epoch), either
  ``"exponential"`` (geometric interpolation, default) or ``"linear"``; both monotone.
  τ is constant within an epoch ("annealed over the epochs", as the paper says).

Randomness: the model is initialised from ``torch.manual_seed(seed)``; at the start of each
epoch the global RNG (Gumbel noise, the reparametrization ε) is reseeded from
``(seed, epoch, rank)`` and the data order is a permutation drawn from a generator seeded
with ``seed + epoch`` (exactly :class:`~torch.utils.data.DistributedSampler`'s rule, which
is used under DDP). Every random draw of epoch ``e`` is therefore a function of the seed and
``e`` alone, which is what makes ``--resume`` exact (the RNG states are still stored in the
checkpoint for inspection).

Multi-process (``torchrun --nproc_per_node N -m catuvac.training ...``): when ``RANK`` /
``WORLD_SIZE`` are set the process group is initialised (gloo on CPU, NCCL on CUDA), the
loss module is wrapped in :class:`~torch.nn.parallel.DistributedDataParallel` and each rank
trains on its :class:`~torch.utils.data.DistributedSampler` shard. BatchNorm stays plain
(per-rank batch statistics; DDP broadcasts rank 0's running statistics every step) — with 32
windows per rank the batch statistics are already stable, and SyncBatchNorm would add one
all-reduce per layer per step. Only rank 0 validates, writes files and shows progress.

Denormals: ``torch.set_flush_denormal(True)`` at the start — tiny activations late in
training (sigmoid / GRU saturation) otherwise hit the slow denormal path of x86 CPUs.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch
from torch import nn

from catuvac.runtime.errors import CatuvacError
from catuvac.runtime.fileio import atomic_savefig, atomic_write_text, check_output_dir
from catuvac.runtime.frontend import FrontEndConfig, fit_global_stats

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .model import ModelConfig, build_model
from .presets import preset_values

__all__ = [
    "TrainError",
    "TrainConfig",
    "PreparedData",
    "TrainHooks",
    "TrainResult",
    "make_config",
    "lr_at",
    "tau_at",
    "prepare_data",
    "train",
    "plot_loss_curves",
    "plot_latent_space",
    "CHECKPOINT_NAME",
    "METRICS_NAME",
    "LOG_NAME",
]

CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.json"
LOG_NAME = "train_log.csv"
LOSS_PNG = "loss_curves.png"
LATENT_PNG = "latent_space.png"
LOG_FIELDS = ("epoch", "loss", "recon", "kl_z", "kl_y", "val_loss", "tau", "lr", "seconds")

# Settings that do not change the result of a run: they may differ on --resume.
_RUN_ONLY_FIELDS = ("device", "eval_batch_size", "channels_last")


class TrainError(CatuvacError, ValueError):
    """A training run that cannot start or continue; the message says what to do."""


# --------------------------------------------------------------------------- config
@dataclass
class TrainConfig:
    """Every setting of a training run (saved in the checkpoint as plain data)."""

    preset: str = "custom"  # name of the preset the values came from (informational)
    data: str | None = None  # dataset spec, e.g. builtin:scenes, us8k:PATH (see datasets.py)
    model_type: str = "cat_uvac"  # "cat_uvac" (this paper) or "uvac" (the GMM baseline)
    n_clusters: int = 10  # K: the paper uses 10 (= number of labels)
    epochs: int = 500  # paper
    batch_size: int = 32  # paper silent; see presets.py
    lr_start: float = 5e-4  # paper: initial Adam learning rate
    lr_end: float = 5e-5  # paper: reached (exactly) at the last epoch
    lam: float = 2.0  # λ of eq. 7: paper 0.5 AudioMNIST, 2.0 TAU2019 / US8K
    tau_start: float = 1.0  # paper: Gumbel-Softmax temperature at the first epoch
    tau_end: float = 0.5  # paper: at the last epoch
    tau_schedule: str = "exponential"  # "exponential" | "linear", per epoch (both monotone)
    latent_dim: int = 16  # d_z: paper silent; small so that y carries the cluster
    seed: int = 0  # initialisation, Gumbel / ε noise and data order
    split_seed: int = 0  # train/val/test split: fixed across runs so seeds share one test set
    window_seconds: float | None = None  # None = the data set's default (datasets.default_frontend)
    normalization: str = "window"  # "window" (paper reading) or "global" (training-set stats)
    max_files: int | None = None  # a seeded subset of the files (quick experiments)
    device: str = "auto"  # cuda when available, else cpu
    channels_last: bool = True  # NHWC convolutions: same math, faster oneDNN kernels on CPU
    eval_batch_size: int = 64  # inference batch for validation and metrics (no gradients)
    # Initialization of h (paper silent): "random" (PyTorch defaults) or "kmeans" (fit h to the
    # K-means clusters of the training inputs before eq. 7 training; see warmstart.py for why).
    # Only Cat. UVAC has an h; for UVAC the setting is ignored.
    h_init: str = "random"
    h_init_epochs: int = 3  # cross-entropy epochs of the K-means warm start (h only)
    # "fp32" (exact, the default) or "bf16" (autocast: ~2.2× the training throughput on CPUs with
    # AMX/AVX512-BF16, measured by bench_train; weights, optimizer and loss stay float32)
    precision: str = "fp32"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise TrainError(msg)

        need(self.model_type in ("cat_uvac", "uvac"), f"model_type must be 'cat_uvac' or 'uvac', got {self.model_type!r}")
        need(isinstance(self.n_clusters, int) and self.n_clusters >= 2, f"--clusters must be an integer ≥ 2, got {self.n_clusters}")
        need(isinstance(self.epochs, int) and self.epochs >= 1, f"--epochs must be ≥ 1, got {self.epochs}")
        need(isinstance(self.batch_size, int) and self.batch_size >= 1, f"--batch-size must be ≥ 1, got {self.batch_size}")
        need(self.lr_start > 0 and self.lr_end > 0, f"learning rates must be positive, got {self.lr_start} → {self.lr_end}")
        need(self.lam >= 0 and math.isfinite(self.lam), f"--lambda must be a finite number ≥ 0, got {self.lam}")
        need(self.tau_start > 0 and self.tau_end > 0, f"τ must be positive, got {self.tau_start} → {self.tau_end}")
        need(self.tau_schedule in ("exponential", "linear"), f"--tau-schedule must be 'exponential' or 'linear', got {self.tau_schedule!r}")
        need(self.latent_dim >= 1, f"--latent-dim must be ≥ 1, got {self.latent_dim}")
        need(self.normalization in ("window", "global"), f"--normalization must be 'window' or 'global', got {self.normalization!r}")
        need(self.window_seconds is None or self.window_seconds > 0, f"--window-seconds must be positive, got {self.window_seconds}")
        need(self.max_files is None or self.max_files >= 1, f"--max-files must be ≥ 1, got {self.max_files}")
        need(self.eval_batch_size >= 1, f"eval_batch_size must be ≥ 1, got {self.eval_batch_size}")
        need(self.h_init in ("random", "kmeans"), f"--h-init must be 'random' or 'kmeans', got {self.h_init!r}")
        need(self.precision in ("fp32", "bf16"), f"--precision must be 'fp32' or 'bf16', got {self.precision!r}")
        need(self.h_init_epochs >= 1, f"--h-init-epochs must be ≥ 1, got {self.h_init_epochs}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def make_config(preset: str = "quick", **overrides: Any) -> TrainConfig:
    """A preset's values with ``overrides`` (``None`` values are ignored: "not given")."""
    try:
        values = preset_values(preset)
    except KeyError as e:
        raise TrainError(str(e.args[0])) from None
    values["preset"] = preset
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    for k, v in overrides.items():
        if k not in names:
            raise TrainError(f"unknown training setting {k!r}")
        if v is not None:
            values[k] = v
    return TrainConfig(**values)


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    """Exponential decay from lr_start (epoch 0) to exactly lr_end (epoch E−1)."""
    if cfg.epochs == 1:
        return cfg.lr_start
    return cfg.lr_start * (cfg.lr_end / cfg.lr_start) ** (epoch / (cfg.epochs - 1))


def tau_at(cfg: TrainConfig, epoch: int) -> float:
    """τ of epoch ``epoch``: tau_start at the first epoch, tau_end at the last, monotone."""
    if cfg.epochs == 1:
        return cfg.tau_start
    f = epoch / (cfg.epochs - 1)
    if cfg.tau_schedule == "linear":
        return cfg.tau_start + (cfg.tau_end - cfg.tau_start) * f
    return cfg.tau_start * (cfg.tau_end / cfg.tau_start) ** f


# --------------------------------------------------------------------------- data
@dataclass
class PreparedData:
    """Normalized network inputs per split, in memory (CPU): x (N, 1, F, T), mask (N, T)."""

    frontend: FrontEndConfig
    x: dict[str, torch.Tensor]
    mask: dict[str, torch.Tensor]
    labels: dict[str, np.ndarray | None]
    label_names: list[str] | None = None
    source: str = ""

    def n(self, split: str) -> int:
        return int(self.x[split].shape[0]) if split in self.x else 0

    @classmethod
    def from_arrays(
        cls,
        frontend: FrontEndConfig,
        x_norm: Mapping[str, np.ndarray],
        mask: Mapping[str, np.ndarray] | None = None,
        labels: Mapping[str, np.ndarray | None] | None = None,
        label_names: list[str] | None = None,
        source: str = "arrays",
    ) -> "PreparedData":
        """Build from already-normalized (N, F, T) arrays per split (tests, notebooks)."""
        xs, ms, ls = {}, {}, {}
        for split, arr in x_norm.items():
            a = np.asarray(arr, dtype=np.float32)
            xs[split] = torch.from_numpy(np.ascontiguousarray(a))[:, None]
            m = None if mask is None else mask.get(split)
            ms[split] = torch.ones(a.shape[0], a.shape[2]) if m is None else torch.from_numpy(np.asarray(m, dtype=np.float32))
            ls[split] = None if labels is None else labels.get(split)
        return cls(frontend, xs, ms, ls, label_names, source)


def _normalize(x: np.ndarray, fe: FrontEndConfig) -> np.ndarray:
    from .evaluate import normalize_features  # chunked normalize_window (bounded float64 temporaries)

    return normalize_features(x, fe)


def resolve_frontend(cfg: TrainConfig) -> FrontEndConfig:
    """The data set's default front-end with the config's window and normalization."""
    from .datasets import default_frontend

    if not cfg.data:
        raise TrainError(f"preset {cfg.preset!r} has no default data set: pass --data SPEC (e.g. us8k:/data/UrbanSound8K)")
    fe = default_frontend(cfg.data)
    changes: dict[str, Any] = {"normalization": cfg.normalization}
    if cfg.window_seconds is not None:
        changes["window_seconds"] = float(cfg.window_seconds)
    return dataclasses.replace(fe, **changes)


def prepare_data(cfg: TrainConfig, progress: bool = True, cache_dir: str | os.PathLike | None = None) -> PreparedData:
    """Load ``cfg.data`` (features cached), fit global statistics if asked, normalize, split."""
    from .datasets import load_dataset

    fe = resolve_frontend(cfg)
    fs = load_dataset(cfg.data, frontend=fe, seed=cfg.split_seed, cache_dir=cache_dir, progress=progress, max_files=cfg.max_files)
    train_part = fs.subset("train")
    if len(train_part) == 0:
        raise TrainError(f"{cfg.data}: the training split is empty ({fs.summary()}); add more audio files")
    if fe.normalization == "global":
        fe = fe.with_stats(fit_global_stats(list(train_part.x), fe))
    xs: dict[str, np.ndarray] = {}
    ms: dict[str, np.ndarray] = {}
    ls: dict[str, np.ndarray | None] = {}
    for split in ("train", "val", "test"):
        part = train_part if split == "train" else fs.subset(split)
        xs[split] = _normalize(part.x, fe) if len(part) else np.zeros((0, fe.n_features, fe.window_frames), np.float32)
        ms[split] = part.mask
        ls[split] = part.labels
    return PreparedData.from_arrays(fe, xs, ms, ls, fs.label_names, source=fs.source)


# --------------------------------------------------------------------------- distributed helpers
@dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed(device: torch.device) -> _Dist:
    """Initialise the process group when launched by torchrun (RANK / WORLD_SIZE in the env)."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return _Dist()
    import torch.distributed as dist

    world = int(os.environ["WORLD_SIZE"])
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    if world <= 1:
        return _Dist()
    if device.type == "cuda":
        torch.cuda.set_device(device)  # one GPU per process, before NCCL starts
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return _Dist(rank, world, local)


def _resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TrainError("--device cuda was asked for but no CUDA device is available; use --device cpu")
        if name == "cuda":
            name = f"cuda:{local_rank}"
    elif name != "cpu":
        raise TrainError(f"--device must be auto, cpu or cuda[:N], got {name!r}")
    return torch.device(name)


def _epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """Seed of the global RNG for one epoch of one rank (independent streams)."""
    return int(np.random.SeedSequence([seed, epoch, rank]).generate_state(1, np.uint64)[0] >> 1)


class _LossModule(nn.Module):
    """Puts ``step_loss`` behind ``forward`` so that DistributedDataParallel sees the call."""

    def __init__(self, model: nn.Module, bf16: bool = False) -> None:
        super().__init__()
        self.model = model
        self.bf16 = bf16

    def forward(self, x: torch.Tensor, mask: torch.Tensor, lam: float, tau: float) -> dict[str, torch.Tensor]:
        # bf16 autocast runs convolutions / GRU in bfloat16 (AMX / AVX512-BF16 on CPU, tensor cores
        # on GPU); the loss terms are computed in float32 (cat_uvac_loss casts its inputs).
        with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            return self.model.step_loss(x, mask, lam, tau)


# --------------------------------------------------------------------------- the run
@dataclass
class TrainHooks:
    """Callbacks for tests and tools: ``on_batch(epoch, step)`` before each step's update,
    ``on_epoch(epoch, row)`` after each epoch's checkpoint (rank 0)."""

    on_batch: Callable[[int, int], None] | None = None
    on_epoch: Callable[[int, dict[str, Any]], None] | None = None


@dataclass
class TrainResult:
    out_dir: Path
    checkpoint: Path
    metrics: dict[str, Any] | None
    history: list[dict[str, Any]]
    seconds: float
    model: nn.Module = field(repr=False)
    model_config: ModelConfig | None = None
    frontend: FrontEndConfig | None = None


def _train_state(optimizer: torch.optim.Optimizer, history: list[dict[str, Any]], cfg: TrainConfig, epoch: int) -> dict[str, Any]:
    state: dict[str, Any] = {
        "optimizer": optimizer.state_dict(),
        "history": [dict(r) for r in history],
        # lr and τ are closed-form in the epoch (no scheduler state); recorded for inspection
        "lr_next": lr_at(cfg, min(epoch, cfg.epochs - 1)),
        "tau_next": tau_at(cfg, min(epoch, cfg.epochs - 1)),
        # not needed to resume (each epoch reseeds from (seed, epoch, rank)); kept for inspection
        "torch_rng_state": torch.get_rng_state(),
    }
    return state


def _check_resume_config(path: Path, stored: Mapping[str, Any], cfg: TrainConfig) -> None:
    current = cfg.to_dict()
    diffs = []
    for k, v in current.items():
        if k in _RUN_ONLY_FIELDS:
            continue
        if k not in stored:
            diffs.append(f"{k} (missing in checkpoint)")
        elif stored[k] != v and not (isinstance(v, float) and isinstance(stored[k], (int, float)) and math.isclose(v, stored[k])):
            diffs.append(f"{k}: checkpoint {stored[k]!r} vs now {v!r}")
    if diffs:
        raise TrainError(
            f"{path}: cannot --resume, the run's settings differ ({'; '.join(diffs)}); "
            "use the same flags as the interrupted run, or a new --out folder to start over"
        )


def _progress(iterable: Any, enabled: bool, **kw: Any) -> Any:
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, file=sys.stderr, dynamic_ncols=True, **kw)


def _to_input(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


@torch.no_grad()
def validation_loss(
    model: nn.Module, x: torch.Tensor, mask: torch.Tensor, lam: float, tau: float, batch_size: int, device: torch.device, channels_last: bool
) -> float | None:
    """Mean eq.-7 loss in eval mode (y = argmax, z = μ: deterministic), or None without data."""
    n = int(x.shape[0])
    if n == 0:
        return None
    was = model.training
    model.eval()
    total = 0.0
    try:
        for i in range(0, n, batch_size):
            xb = _to_input(x[i : i + batch_size], device, channels_last)
            mb = mask[i : i + batch_size].to(device)
            total += float(model.step_loss(xb, mb, lam, tau)["loss"]) * xb.shape[0]
    finally:
        model.train(was)
    return total / n


def train(
    cfg: TrainConfig,
    out_dir: str | os.PathLike,
    resume: bool = False,
    progress: bool = True,
    data: PreparedData | None = None,
    hooks: TrainHooks | None = None,
    cache_dir: str | os.PathLike | None = None,
    evaluate: bool = True,
    plots: bool = True,
) -> TrainResult:
    """Train ``cfg`` into ``out_dir`` (checkpoint.pt, train_log.csv, metrics.json, PNGs).

    ``data``: already prepared inputs (tests); default :func:`prepare_data` on ``cfg.data``.
    ``resume``: continue from ``out_dir/checkpoint.pt`` (same settings required). Without it,
    an existing checkpoint is an error (nothing is overwritten by accident).
    """
    t_start = time.perf_counter()
    hooks = hooks or TrainHooks()
    out = check_output_dir(out_dir, "--out", TrainError)
    ckpt_path = out / CHECKPOINT_NAME
    torch.set_flush_denormal(True)  # see module docstring: denormals are slow on x86

    device = _resolve_device(cfg.device, int(os.environ.get("LOCAL_RANK", 0)))
    dist_info = _init_distributed(device)
    show = progress and dist_info.main

    if ckpt_path.exists() and not resume:
        raise TrainError(f"{ckpt_path} already exists: pass --resume to continue that run, or choose another --out")
    if resume and not ckpt_path.exists():
        raise TrainError(f"--resume: no checkpoint at {ckpt_path}; start without --resume")

    # ---- data
    if data is None:
        data = prepare_data(cfg, progress=show, cache_dir=cache_dir)
    fe = data.frontend
    if fe.normalization != cfg.normalization:
        raise TrainError(
            f"the data were normalized with {fe.normalization!r} but the config says {cfg.normalization!r}: "
            "prepare the data with this config (prepare_data(cfg))"
        )
    n_train = data.n("train")
    if n_train == 0:
        raise TrainError(f"{data.source}: the training split is empty; add more audio files")
    if cfg.n_clusters > n_train:
        raise TrainError(
            f"--clusters {cfg.n_clusters} is larger than the {n_train} training windows of {data.source}: "
            "use fewer clusters or more data"
        )
    n_feat, n_frames = int(data.x["train"].shape[2]), int(data.x["train"].shape[3])
    if (n_feat, n_frames) != (fe.n_features, fe.window_frames):
        raise TrainError(f"inputs are {n_feat}×{n_frames} but the front-end gives {fe.n_features}×{fe.window_frames}")

    # ---- model (identical initialisation on every rank: same seed)
    mcfg = ModelConfig(
        model_type=cfg.model_type, n_clusters=cfg.n_clusters, n_features=n_feat, n_frames=n_frames, latent_dim=cfg.latent_dim
    )
    torch.manual_seed(cfg.seed)
    model = build_model(mcfg).to(device)
    if cfg.h_init == "kmeans" and cfg.model_type == "cat_uvac" and not resume:  # UVAC has no h: ignored
        from .warmstart import warm_start_h

        # same seed and data on every rank → identical warm start, no communication needed
        rep = warm_start_h(model, data.x["train"], cfg.n_clusters, cfg.seed, epochs=cfg.h_init_epochs,
                           batch_size=cfg.batch_size, device=device)
        if show:
            print(f"h warm start from K-means: {rep['pseudo_label_clusters']} clusters, h fits them "
                  f"{rep['fit_to_pseudo_labels']:.0%}", file=sys.stderr)
    channels_last = cfg.channels_last and device.type == "cpu"  # NHWC pays off with oneDNN; cuDNN picks its own
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    # fused Adam: one kernel for all parameters (same update rule as the paper's Adam)
    fused = device.type in ("cpu", "cuda")
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr_start, fused=fused)

    history: list[dict[str, Any]] = []
    start_epoch = 0
    if resume:
        try:
            ck = load_checkpoint(ckpt_path, expect_type=cfg.model_type)
        except CheckpointError as e:
            raise TrainError(f"--resume: {e}") from None
        _check_resume_config(ckpt_path, ck.train_config, cfg)
        if ck.model_config != mcfg:
            raise TrainError(f"--resume: {ckpt_path} holds a model {ck.model_config} but this run builds {mcfg}")
        state = ck.raw.get("train_state")
        if state is None:
            raise TrainError(f"--resume: {ckpt_path} has no training state (a stripped checkpoint); start a new run")
        model.load_state_dict(ck.raw["model_state"])
        optimizer.load_state_dict(state["optimizer"])
        history = [dict(r) for r in state.get("history", [])]
        start_epoch = int(ck.epoch)
        if ck.frontend != fe:
            raise TrainError(
                f"--resume: {ckpt_path} was trained on different features ({ck.frontend.to_dict()}) than this "
                f"run computes ({fe.to_dict()}); use the same data and front-end settings"
            )
        if show:
            print(f"resuming {ckpt_path} after epoch {start_epoch} of {cfg.epochs}", file=sys.stderr)

    loss_module: nn.Module = _LossModule(model, bf16=cfg.precision == "bf16")
    if dist_info.enabled:
        from torch.nn.parallel import DistributedDataParallel

        loss_module = DistributedDataParallel(loss_module, device_ids=[device.index] if device.type == "cuda" else None)

    x_train, m_train = data.x["train"], data.mask["train"]
    train_cfg_dict = cfg.to_dict()
    if dist_info.main:
        out.mkdir(parents=True, exist_ok=True)

    # ---- epochs
    epochs_bar = _progress(range(start_epoch, cfg.epochs), show, desc="train", unit="epoch", initial=start_epoch, total=cfg.epochs)
    for epoch in epochs_bar:
        t0 = time.perf_counter()
        lr, tau = lr_at(cfg, epoch), tau_at(cfg, epoch)
        for g in optimizer.param_groups:
            g["lr"] = lr
        torch.manual_seed(_epoch_seed(cfg.seed, epoch, dist_info.rank))
        if dist_info.enabled:
            from torch.utils.data import DistributedSampler

            sampler = DistributedSampler(range(n_train), num_replicas=dist_info.world, rank=dist_info.rank, shuffle=True, seed=cfg.seed)
            sampler.set_epoch(epoch)
            order = torch.tensor(list(iter(sampler)), dtype=torch.long)
        else:
            g = torch.Generator().manual_seed(cfg.seed + epoch)  # = DistributedSampler's rule, world size 1
            order = torch.randperm(n_train, generator=g)

        model.train()
        sums: dict[str, float] = {}
        seen = 0
        steps = range(0, len(order), cfg.batch_size)
        batch_bar = _progress(steps, show, desc=f"epoch {epoch + 1}", unit="batch", leave=False)
        for step, i in enumerate(batch_bar):
            idx = order[i : i + cfg.batch_size]
            xb = _to_input(x_train[idx], device, channels_last)
            mb = m_train[idx].to(device, non_blocking=True)
            parts = loss_module(xb, mb, cfg.lam, tau)
            optimizer.zero_grad(set_to_none=True)
            parts["loss"].backward()
            if hooks.on_batch is not None:
                hooks.on_batch(epoch, step)
            optimizer.step()
            b = int(xb.shape[0])
            seen += b
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * b
            if show:
                batch_bar.set_postfix(loss=f"{parts['loss'].item():.1f}", tau=f"{tau:.3f}", lr=f"{lr:.2e}")
        if not all(math.isfinite(v) for v in sums.values()):
            raise TrainError(
                f"epoch {epoch + 1}: the loss is not finite ({sums}); lower --lr-start or check the input features"
            )

        if dist_info.enabled:
            import torch.distributed as dist

            totals = torch.tensor([sums.get(k, 0.0) for k in sorted(sums)] + [float(seen)], dtype=torch.float64)
            dist.all_reduce(totals)
            sums = dict(zip(sorted(sums), totals[:-1].tolist()))
            seen = int(totals[-1])

        if dist_info.main:
            row: dict[str, Any] = {"epoch": epoch + 1}
            for k, v in sums.items():
                row["kl_y" if k == "kl_c" else k] = v / max(seen, 1)
            row["val_loss"] = validation_loss(
                model, data.x.get("val", x_train[:0]), data.mask.get("val", m_train[:0]), cfg.lam, tau, cfg.eval_batch_size, device, channels_last
            )
            row["tau"], row["lr"] = tau, lr
            row["seconds"] = time.perf_counter() - t0
            history.append(row)
            save_checkpoint(ckpt_path, model, mcfg, fe, train_cfg_dict, epoch + 1, _train_state(optimizer, history, cfg, epoch + 1))
            write_log_csv(out / LOG_NAME, history)
            if show:
                vl = row["val_loss"]
                epochs_bar.set_postfix(
                    loss=f"{row['loss']:.1f}", val=("–" if vl is None else f"{vl:.1f}"), tau=f"{tau:.3f}", lr=f"{lr:.2e}"
                )
            if hooks.on_epoch is not None:
                hooks.on_epoch(epoch, row)
        if dist_info.enabled:
            import torch.distributed as dist

            dist.barrier()

    if dist_info.enabled:  # DDP keeps replicas identical; check it (one scalar per rank)
        import torch.distributed as dist

        with torch.no_grad():
            checksum = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum().reshape(1).cpu()
        gathered = [torch.zeros(1, dtype=torch.float64) for _ in range(dist_info.world)]
        dist.all_gather(gathered, checksum)
        if any(not torch.allclose(g, gathered[0], rtol=1e-9, atol=0.0) for g in gathered):
            raise TrainError(f"the DDP replicas diverged (parameter sums {[float(g) for g in gathered]})")

    # ---- results (rank 0)
    metrics = None
    if dist_info.main:
        if history and not ckpt_path.exists():  # pragma: no cover - defensive
            raise TrainError(f"{ckpt_path} was not written")
        if not ckpt_path.exists():  # zero epochs to run and no checkpoint: write one
            save_checkpoint(ckpt_path, model, mcfg, fe, train_cfg_dict, start_epoch, _train_state(optimizer, history, cfg, start_epoch))
        if evaluate:
            metrics = evaluate_run(model, data, cfg, out / METRICS_NAME, device, progress=show)
        if plots:
            plot_loss_curves(history, out / LOSS_PNG, title=f"{cfg.model_type} on {data.source} (K={cfg.n_clusters}, λ={cfg.lam:g})")
            plot_latent_space(model, data, out / LATENT_PNG, batch_size=cfg.eval_batch_size, device=device)
    if dist_info.enabled:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    seconds = time.perf_counter() - t_start
    if show:
        print(f"done in {seconds:.1f} s: {ckpt_path}", file=sys.stderr)
    return TrainResult(out, ckpt_path, metrics, history, seconds, model, mcfg, fe)


# --------------------------------------------------------------------------- outputs
def write_log_csv(path: Path, history: list[dict[str, Any]]) -> None:
    """train_log.csv, rewritten whole (temp file + rename) from the history each epoch."""
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=list(LOG_FIELDS), extrasaction="ignore")
    w.writeheader()
    for r in history:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in LOG_FIELDS})
    atomic_write_text(path, buf.getvalue())


def evaluate_run(
    model: nn.Module, data: PreparedData, cfg: TrainConfig, path: Path | None, device: torch.device, progress: bool = False
) -> dict[str, Any]:
    """Test-split metrics (model, K-means with the same K, labels) in the shared JSON shape.

    Falls back to the validation, then the training split when the test split is empty (a
    tiny data set); the split used is printed.
    """
    from .evaluate import build_metrics, model_outputs, model_spaces
    from .metrics import write_json_atomic

    split = next((s for s in ("test", "val", "train") if data.n(s) >= 2), None)
    if split is None:
        raise TrainError("no split has 2 or more windows to compute clustering metrics on")
    x = data.x[split][:, 0].numpy()
    labels = data.labels.get(split)
    dev = "cuda" if device.type == "cuda" else "cpu"
    outs = model_outputs(model, x, batch_size=cfg.eval_batch_size, device=dev)
    model.to(device)
    metrics = build_metrics({cfg.model_type: model_spaces(model, outs)}, x, labels, cfg.n_clusters, cfg.split_seed)
    if path is not None:
        write_json_atomic(path, metrics)
    if progress:
        e = metrics[cfg.model_type]
        rep = model.representations[0]
        km = metrics.get("kmeans", {})
        acc = "–" if e.get("accuracy") is None else f"{100 * e['accuracy']:.1f} %"
        kacc = "–" if km.get("accuracy") is None else f"{100 * km['accuracy']:.1f} %"
        sil = e["spaces"][rep]["silhouette"]
        print(
            f"{split} split ({x.shape[0]} windows): {cfg.model_type} accuracy {acc}, silhouette({rep}) "
            f"{'–' if sil is None else f'{sil:.3f}'}, clusters used {e['n_clusters_used']}/{cfg.n_clusters}; "
            f"K-means accuracy {kacc}",
            file=sys.stderr,
        )
    return metrics


# --------------------------------------------------------------------------- plots
def _pca2(a: np.ndarray) -> np.ndarray:
    """First two principal components (numpy SVD); pads with zeros for 1-D spaces."""
    a = np.asarray(a, dtype=np.float64)
    a = a - a.mean(axis=0, keepdims=True)
    if a.shape[0] < 2:
        return np.zeros((a.shape[0], 2))
    u, s, _ = np.linalg.svd(a, full_matrices=False)
    pc = u[:, :2] * s[:2]
    if pc.shape[1] < 2:
        pc = np.concatenate([pc, np.zeros((pc.shape[0], 2 - pc.shape[1]))], axis=1)
    return pc


def plot_loss_curves(history: list[dict[str, Any]], path: str | os.PathLike, title: str = "") -> Path:
    """loss_curves.png: loss and validation loss, reconstruction, both KL terms, τ and lr per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [r["epoch"] for r in history]
    col = lambda k: [np.nan if r.get(k) is None else r[k] for r in history]  # noqa: E731
    fig, axes = plt.subplots(2, 2, figsize=(10, 7))
    ax = axes[0, 0]
    ax.plot(ep, col("loss"), label="train loss (eq. 7)")
    ax.plot(ep, col("val_loss"), label="validation loss (y = argmax, z = μ)")
    ax.set_ylabel("loss per window")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    ax.plot(ep, col("recon"), color="C2")
    ax.set_ylabel("reconstruction (BCE summed over bins)")
    ax = axes[1, 0]
    ax.plot(ep, col("kl_z"), label="KL(q(z|x,y) ‖ N(0, I))")
    ax.plot(ep, col("kl_y"), label="KL(q(y|x) ‖ uniform)")
    ax.set_ylabel("nats per window")
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    ax.plot(ep, col("tau"), color="C3", label="τ")
    ax.set_ylabel("Gumbel-Softmax τ", color="C3")
    ax2 = ax.twinx()
    ax2.plot(ep, col("lr"), color="C4", label="lr")
    ax2.set_yscale("log")
    ax2.set_ylabel("learning rate", color="C4")
    for a in axes.flat:
        a.set_xlabel("epoch")
        a.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)
    return path


def plot_latent_space(
    model: nn.Module, data: PreparedData, path: str | os.PathLike, batch_size: int = 64, device: torch.device | str = "cpu"
) -> Path:
    """latent_space.png: 2-D PCA of each representation (z_mean, q_y) of every window (all
    splits), coloured by the model's cluster, marker shape by the true label (if any)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .evaluate import model_outputs

    splits = [s for s in ("train", "val", "test") if data.n(s)]
    x = torch.cat([data.x[s] for s in splits])[:, 0].numpy()
    labs = [data.labels.get(s) for s in splits]
    labels = None if any(l is None for l in labs) else np.concatenate(labs)  # noqa: E741
    dev = "cuda" if torch.device(device).type == "cuda" else "cpu"
    outs = model_outputs(model, x, batch_size=batch_size, device=dev)
    reps = list(model.representations)
    cluster = outs["cluster"]
    markers = "o^sDvP*Xh<>p"
    fig, axes = plt.subplots(1, len(reps), figsize=(6 * len(reps), 5), squeeze=False)
    cmap = plt.get_cmap("tab10" if int(cluster.max(initial=0)) < 10 else "tab20")
    for ax, rep in zip(axes[0], reps):
        pc = _pca2(outs[rep])
        if labels is None:
            ax.scatter(pc[:, 0], pc[:, 1], c=cluster, cmap=cmap, vmin=0, vmax=cmap.N - 1, s=14)
        else:
            for li in np.unique(labels):
                sel = labels == li
                name = data.label_names[li] if data.label_names and li < len(data.label_names) else str(li)
                ax.scatter(
                    pc[sel, 0], pc[sel, 1], c=cluster[sel], cmap=cmap, vmin=0, vmax=cmap.N - 1, s=18,
                    marker=markers[int(li) % len(markers)], label=name, edgecolors="k", linewidths=0.2,
                )
            ax.legend(fontsize=7, title="true label (marker)", title_fontsize=7, loc="best")
        ax.set_title(f"{rep}: PCA, colour = cluster ({len(np.unique(cluster))} used)")
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
        ax.grid(alpha=0.3)
    fig.suptitle(f"latent space, {x.shape[0]} windows ({'+'.join(splits)})")
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)
    model.to(device)
    return path
