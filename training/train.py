"""Training of the categorical UVAC (and the UVAC baseline): the library behind ``catuvac-train``.

Reads top to bottom, as one run does:

1. :class:`TrainConfig` — one dataclass with every setting (a preset from
   :mod:`catuvac.training.presets` plus command-line overrides); it is saved, as plain data,
   inside every checkpoint.
2. :func:`prepare_data` — :func:`~catuvac.training.datasets.load_dataset`, the front-end's
   normalization (per window, or global statistics fitted on the training split), tensors in
   memory.
3. :func:`train` — a list of named steps: ``_start`` (device, process group, output checks),
   ``_checked_data``, ``_build`` (model, h's warm start, Adam), ``_restore`` (``--resume``),
   ``_loss_module``, then per epoch ``_train_epoch`` → ``_epoch_row`` → ``_end_epoch``, and
   ``_finish``. Adam with the closed-form schedules :func:`lr_at` / :func:`tau_at` /
   :func:`lam_at`; the loss is :meth:`TrainConfig.objective` (eq. 7 plus any extra terms of
   :mod:`catuvac.training.objectives`); one validation loss (eq. 7) per epoch; an atomic
   checkpoint after every epoch (``--resume`` continues from it and reaches bit-identical
   weights), then test-split metrics (``metrics.json``: the model, K-means and the labels),
   ``train_log.csv`` and two PNGs.

Cluster report (the collapse of y from a random start, see presets.py): every epoch logs the
clusters used (argmax of ≥ 1 training window), the mean entropy of q(y|x), the entropy of the
epoch-mean q(y|x), and how much the decoder's reconstruction worsens when y is swapped for
another cluster (≈ 0 means g ignores y); the progress bar shows the first two, and a warning
names every cluster that stops receiving windows.

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
from catuvac.runtime.frontend import NORMALIZATIONS, FrontEndConfig, fit_global_stats

from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .clusterspace import CLUSTER_FEATURES, cluster_features, nearest_neighbours
from .model import ModelConfig, arch_fields, build_model, level_input_for
from .objectives import Objective, posterior_stats
from .presets import preset_values
from .warmstart import H_INITS

__all__ = [
    "TrainError",
    "TrainConfig",
    "PreparedData",
    "TrainHooks",
    "TrainResult",
    "make_config",
    "model_config",
    "lr_at",
    "lam_at",
    "PAPER_EXACT",
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
# train_log.csv columns. Cluster report (Cat. UVAC; issue: y collapsing onto few clusters):
# clusters_used = clusters that are the argmax of ≥ 1 training window in the epoch; q_entropy =
# mean H(q(y|x)) (nats; 0 = sharp, log K = uniform); marginal_entropy = H(epoch-mean q(y|x))
# (log K = all clusters used equally); y_swap_gain = decoder_y_gain on the validation split.
LOG_FIELDS = (
    "epoch", "loss", "recon", "kl_z", "kl_y", "usage", "y_entropy", "temporal", "augment", "neighbour", "self_label", "val_loss", "clusters_used", "q_entropy",
    "marginal_entropy", "y_swap_gain", "tau", "lr", "lam", "seconds",
)

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
    # network shape: "paper" (section II-B) or "device" (hearing-aid budget, streams exactly;
    # see model.ARCHS); recorded in the checkpoint's model config and the ONNX metadata
    arch: str = "paper"
    n_mels: int | None = None  # mel bands (None = the data set's front-end: 128 for scenes)
    seed: int = 0  # initialisation, Gumbel / ε noise and data order
    split_seed: int = 0  # train/val/test split: fixed across runs so seeds share one test set
    # Cross-validation (datasets.assign_folds): folds = F ≥ 2 deals the recordings into F folds and
    # tests on fold ``fold`` (0 = off: the fixed 80 / 10 / 10 split). Why: a 10 % test split of a
    # small corpus is a handful of recordings; over F runs every window is tested once.
    folds: int = 0
    fold: int = 0
    window_seconds: float | None = None  # None = the data set's default (datasets.default_frontend)
    normalization: str = "window"  # "window" (paper reading), "global" or "window_level" (training-set stats; frontend.py)
    max_files: int | None = None  # a seeded subset of the files (quick experiments)
    device: str = "auto"  # cuda when available, else cpu
    channels_last: bool = True  # NHWC convolutions: same math, faster oneDNN kernels on CPU
    eval_batch_size: int = 64  # inference batch for validation and metrics (no gradients)
    # Initialization of h (paper silent): "random" (PyTorch defaults), "kmeans" or "spectral" (fit
    # h to the K-means / kNN-graph spectral clusters of the training windows in cluster_features'
    # space before eq. 7 training; see warmstart.py for why).
    # Only Cat. UVAC has an h; for UVAC the setting is ignored.
    h_init: str = "random"
    h_init_epochs: int = 3  # cross-entropy epochs of the warm start (h only)
    # The space the warm start's K-means and the neighbour term's mining read (clusterspace.py):
    # "input" (the flattened window, as the K-means baseline), "cepstral" (envelope sequence, for
    # words) or "cepstral_stats" (envelope statistics, for scenes). The network input is unchanged.
    cluster_features: str = "input"
    # "fp32" (exact, the default) or "bf16" (autocast: ~2.2× the training throughput on CPUs with
    # AMX/AVX512-BF16, measured by bench_train; weights, optimizer and loss stay float32)
    precision: str = "fp32"
    # ---- extra objectives and schedules beyond eq. 7 (see objectives.py; 0 = off = the paper).
    # Cat. UVAC only (they act on q(y|x)); UVAC ignores them like h_init.
    # Batch-level cluster usage: weight of KL(batch-mean q(y|x) ‖ uniform). Why: from a random
    # start y collapses onto a few clusters (presets.py's log); this term makes an unused
    # cluster cost up to log K nats while each window's q(y|x) stays free to be sharp.
    usage_weight: float = 0.0
    # Per-window sharpness: weight of the mean entropy H(q(y|x)) (opposes eq. 7's kl_y; with
    # usage_weight equal, the pair is the mutual-information objective I(x; y), see objectives.py).
    y_entropy_weight: float = 0.0
    # Temporal consistency: weight of the symmetric KL between q(y|x) of neighbouring windows
    # of one recording (needs clips longer than the window). Why: a scene lasts longer than a window.
    temporal_weight: float = 0.0
    # View consistency: weight of the symmetric KL between q(y|x) of a window and of a random view
    # of it (frequency warp, time stretch/shift, masks; augment.py). Why: a cluster should stand for
    # the word or the scene, not for the talker's vocal tract, pace or where the word starts.
    augment_weight: float = 0.0
    # Neighbour consistency (SCAN): weight of −log ⟨q(y|x), q(y|x')⟩, x' one of the window's
    # ``neighbour_k`` nearest training windows in the cluster_features space, mined once before
    # training. Why: there, most neighbours share the window's class (clusterspace.py's figures).
    neighbour_weight: float = 0.0
    # neighbours per window (SCAN mines 20 in ImageNet-scale sets; ours are small); also the
    # neighbourhood graph of h_init = "spectral"
    neighbour_k: int = 10
    # Self-labelling (SCAN's second step): weight of the class-balanced cross-entropy of a random
    # view's q(y|x') against the window's own confident argmax (objectives.py), from the epoch
    # fraction ``self_label_start`` on. Why: once the clusters have formed, their confident core
    # is a better teacher than the neighbours alone; started late so that the warm start's K-means
    # labels are not what it locks in.
    self_label_weight: float = 0.0
    self_label_start: float = 0.5
    # KL warm-up: λ ramps linearly from λ/E_w to λ over the first E_w epochs (0 = off). Why
    # (Bowman et al. 2016): a full KL weight from the first step can switch latents off early.
    kl_warmup_epochs: int = 0
    # True: every deviation from the paper is off (the fields in PAPER_EXACT below); the
    # schedule, data and K stay as given. Set by --paper-exact.
    paper_exact: bool = False

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
        need(self.arch in ("paper", "device"), f"--arch must be 'paper' or 'device', got {self.arch!r}")
        need(self.n_mels is None or self.n_mels >= 16, f"--n-mels must be ≥ 16, got {self.n_mels}")
        need(self.normalization in NORMALIZATIONS, f"--normalization must be one of {', '.join(NORMALIZATIONS)}, got {self.normalization!r}")
        need(self.window_seconds is None or self.window_seconds > 0, f"--window-seconds must be positive, got {self.window_seconds}")
        need(self.folds == 0 or self.folds >= 2, f"--folds must be 0 (off) or ≥ 2, got {self.folds}")
        need(0 <= self.fold < max(self.folds, 1), f"--fold must be in 0 … {max(self.folds - 1, 0)} for --folds {self.folds}, got {self.fold}")
        need(self.max_files is None or self.max_files >= 1, f"--max-files must be ≥ 1, got {self.max_files}")
        need(self.eval_batch_size >= 1, f"eval_batch_size must be ≥ 1, got {self.eval_batch_size}")
        need(self.h_init in H_INITS, f"--h-init must be one of {', '.join(H_INITS)}, got {self.h_init!r}")
        need(self.precision in ("fp32", "bf16"), f"--precision must be 'fp32' or 'bf16', got {self.precision!r}")
        need(self.cluster_features in CLUSTER_FEATURES, f"--cluster-features must be one of {', '.join(CLUSTER_FEATURES)}, got {self.cluster_features!r}")
        need(self.neighbour_weight >= 0 and math.isfinite(self.neighbour_weight), f"--neighbour-weight must be a finite number ≥ 0, got {self.neighbour_weight}")
        need(isinstance(self.neighbour_k, int) and self.neighbour_k >= 1, f"--neighbour-k must be an integer ≥ 1, got {self.neighbour_k}")
        need(self.h_init_epochs >= 1, f"--h-init-epochs must be ≥ 1, got {self.h_init_epochs}")
        need(self.usage_weight >= 0 and math.isfinite(self.usage_weight), f"--usage-weight must be a finite number ≥ 0, got {self.usage_weight}")
        need(self.y_entropy_weight >= 0 and math.isfinite(self.y_entropy_weight), f"--y-entropy-weight must be a finite number ≥ 0, got {self.y_entropy_weight}")
        need(self.temporal_weight >= 0 and math.isfinite(self.temporal_weight), f"--temporal-weight must be a finite number ≥ 0, got {self.temporal_weight}")
        need(self.augment_weight >= 0 and math.isfinite(self.augment_weight), f"--augment-weight must be a finite number ≥ 0, got {self.augment_weight}")
        need(self.self_label_weight >= 0 and math.isfinite(self.self_label_weight), f"--self-label-weight must be a finite number ≥ 0, got {self.self_label_weight}")
        need(0.0 <= self.self_label_start < 1.0, f"--self-label-start must be an epoch fraction in [0, 1), got {self.self_label_start}")
        need(isinstance(self.kl_warmup_epochs, int) and self.kl_warmup_epochs >= 0, f"--kl-warmup-epochs must be an integer ≥ 0, got {self.kl_warmup_epochs}")
        if self.paper_exact:
            off = [f"{k}={getattr(self, k)!r}" for k, v in PAPER_EXACT.items() if getattr(self, k) != v]
            if self.normalization == "window_level":  # "window" and "global" are both readings of the paper
                off.append("normalization='window_level'")
            need(not off, f"--paper-exact turns every deviation from the paper off, but {', '.join(off)} asks for one; drop one of them")

    def objective(self, epoch: int | None = None) -> Objective:
        """The loss weights of this run at ``epoch`` (None: the final ones; λ is replaced per
        epoch by :func:`lam_at`; the self-label term starts at ``self_label_start``)."""
        started = epoch is None or epoch >= int(math.ceil(self.self_label_start * self.epochs))
        return Objective(lam=self.lam, usage_weight=self.usage_weight, y_entropy_weight=self.y_entropy_weight,
                         temporal_weight=self.temporal_weight, augment_weight=self.augment_weight,
                         neighbour_weight=self.neighbour_weight,
                         self_label_weight=self.self_label_weight if started else 0.0)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


# What --paper-exact sets: every field where a preset may deviate from the paper's method
# (initialization of h, extra loss terms, KL schedule, reduced precision). The schedule length,
# batch size, data, K and d_z stay as given (the paper fixes some, is silent on others).
PAPER_EXACT: dict[str, Any] = {
    "h_init": "random",  # the paper describes no initialization: PyTorch's defaults
    "usage_weight": 0.0,
    "y_entropy_weight": 0.0,
    "temporal_weight": 0.0,
    "augment_weight": 0.0,
    "neighbour_weight": 0.0,
    "self_label_weight": 0.0,
    "cluster_features": "input",  # irrelevant once h_init is random and the neighbour term off; kept plain
    "kl_warmup_epochs": 0,  # λ constant from the first epoch
    "precision": "fp32",
}


def make_config(preset: str = "quick", **overrides: Any) -> TrainConfig:
    """A preset's values with ``overrides`` (``None`` values are ignored: "not given").

    ``paper_exact=True`` replaces the preset's deviations from the paper with :data:`PAPER_EXACT`
    before the overrides apply; an override that asks for a deviation as well is an error.
    """
    try:
        values = preset_values(preset)
    except KeyError as e:
        raise TrainError(str(e.args[0])) from None
    values["preset"] = preset
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = [k for k in overrides if k not in names]
    if unknown:
        raise TrainError(f"unknown training setting {unknown[0]!r}")
    if overrides.get("paper_exact", values.get("paper_exact")):
        values.update(PAPER_EXACT)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**values)


def lr_at(cfg: TrainConfig, epoch: int) -> float:
    """Exponential decay from lr_start (epoch 0) to exactly lr_end (epoch E−1)."""
    if cfg.epochs == 1:
        return cfg.lr_start
    return cfg.lr_start * (cfg.lr_end / cfg.lr_start) ** (epoch / (cfg.epochs - 1))


def lam_at(cfg: TrainConfig, epoch: int) -> float:
    """λ of epoch ``epoch``: ``cfg.lam``, ramped up linearly over ``kl_warmup_epochs`` if set."""
    if cfg.kl_warmup_epochs <= 0:
        return cfg.lam
    return cfg.lam * min(1.0, (epoch + 1) / cfg.kl_warmup_epochs)


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
    # per split, the index (in that split) of each window's neighbour in its recording, −1 if it
    # has none (see neighbour_index); None when the clips are unknown. Used by the temporal term.
    neighbours: dict[str, torch.Tensor | None] = field(default_factory=dict)

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
        clips: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> "PreparedData":
        """Build from already-normalized (N, F, T) arrays per split (tests, notebooks).

        ``clips``: per split, (clip id, window index in the clip) of every window, to find
        neighbouring windows of one recording (the temporal term)."""
        xs, ms, ls, nb = {}, {}, {}, {}
        for split, arr in x_norm.items():
            a = np.asarray(arr, dtype=np.float32)
            xs[split] = torch.from_numpy(np.ascontiguousarray(a))[:, None]
            m = None if mask is None else mask.get(split)
            ms[split] = torch.ones(a.shape[0], a.shape[2]) if m is None else torch.from_numpy(np.asarray(m, dtype=np.float32))
            ls[split] = None if labels is None else labels.get(split)
            c = None if clips is None else clips.get(split)
            nb[split] = None if c is None else torch.from_numpy(neighbour_index(*c))
        return cls(frontend, xs, ms, ls, label_names, source, nb)


def neighbour_index(clip_ids: np.ndarray, window_index: np.ndarray) -> np.ndarray:
    """For each window, the position of the next window of its clip (the previous one for a
    clip's last window), or −1 for a clip of one window. (N,) int64."""
    clip_ids, window_index = np.asarray(clip_ids), np.asarray(window_index)
    where = {(c, int(w)): i for i, (c, w) in enumerate(zip(clip_ids.tolist(), window_index.tolist()))}
    out = np.full(len(clip_ids), -1, dtype=np.int64)
    for i, (c, w) in enumerate(zip(clip_ids.tolist(), window_index.tolist())):
        out[i] = where.get((c, int(w) + 1), where.get((c, int(w) - 1), -1))
    return out


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
    if cfg.n_mels is not None:
        changes["n_mels"] = int(cfg.n_mels)
    if cfg.window_seconds is not None:
        changes["window_seconds"] = float(cfg.window_seconds)
    return dataclasses.replace(fe, **changes)


def prepare_data(cfg: TrainConfig, progress: bool = True, cache_dir: str | os.PathLike | None = None) -> PreparedData:
    """Load ``cfg.data`` (features cached), fit global statistics if asked, normalize, split."""
    from .datasets import load_dataset, split_args

    fe = resolve_frontend(cfg)
    fs = load_dataset(cfg.data, frontend=fe, cache_dir=cache_dir, progress=progress, max_files=cfg.max_files, **split_args(cfg.to_dict()))
    train_part = fs.subset("train")
    if len(train_part) == 0:
        raise TrainError(f"{cfg.data}: the training split is empty ({fs.summary()}); add more audio files")
    if fe.needs_stats:
        fe = fe.with_stats(fit_global_stats(list(train_part.x), fe))
    xs: dict[str, np.ndarray] = {}
    ms: dict[str, np.ndarray] = {}
    ls: dict[str, np.ndarray | None] = {}
    cs: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split in ("train", "val", "test"):
        part = train_part if split == "train" else fs.subset(split)
        xs[split] = _normalize(part.x, fe) if len(part) else np.zeros((0, fe.n_features, fe.window_frames), np.float32)
        ms[split] = part.mask
        ls[split] = part.labels
        cs[split] = (part.clip_ids, part.window_index)
    return PreparedData.from_arrays(fe, xs, ms, ls, fs.label_names, source=fs.source, clips=cs)


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

    def __init__(self, model: nn.Module, objective: Objective, bf16: bool = False) -> None:
        super().__init__()
        self.model = model
        self.objective = objective
        self.bf16 = bf16

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, lam: float, tau: float, x_pair: torch.Tensor | None = None,
        pair_valid: torch.Tensor | None = None, x_nn: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        # bf16 autocast runs convolutions / GRU in bfloat16 (AMX / AVX512-BF16 on CPU, tensor cores
        # on GPU); the loss terms are computed in float32 (the terms cast their inputs).
        with torch.autocast(device_type=x.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            return self.model.step_loss(x, mask, lam, tau, self.objective, x_pair=x_pair, pair_valid=pair_valid, x_nn=x_nn,
                                          with_posterior=True)


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


@dataclass
class _Run:
    """What every step of one run needs: settings, where it writes, where it computes."""

    cfg: TrainConfig
    out: Path
    device: torch.device
    dist: _Dist
    show: bool
    hooks: TrainHooks
    channels_last: bool = False
    frontend: FrontEndConfig | None = None  # set once the data are loaded

    @property
    def ckpt_path(self) -> Path:
        return self.out / CHECKPOINT_NAME


@dataclass
class _State:
    """The trained objects and the history; what a checkpoint stores."""

    model: nn.Module
    mcfg: ModelConfig
    optimizer: torch.optim.Optimizer
    history: list[dict[str, Any]]
    start_epoch: int = 0
    neighbours: torch.Tensor | None = None  # (N_train, k) mined nearest neighbours (neighbour term)


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
    defaults = TrainConfig().to_dict()  # fields newer than a checkpoint are fine at their default
    diffs = []
    for k, v in current.items():
        if k in _RUN_ONLY_FIELDS:
            continue
        if k not in stored:
            if v != defaults.get(k):
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


def _say(run: _Run, msg: str) -> None:
    """A line on stderr that does not break the progress bars."""
    if not run.show:
        return
    from tqdm import tqdm

    tqdm.write(msg, file=sys.stderr)


def _to_input(x: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


@torch.no_grad()
def validation_loss(
    model: nn.Module, x: torch.Tensor, mask: torch.Tensor, lam: float, tau: float, batch_size: int, device: torch.device, channels_last: bool
) -> float | None:
    """Mean eq.-7 loss in eval mode (y = argmax, z = μ: deterministic), or None without data."""
    return _eval_mean(model, x, mask, batch_size, device, channels_last, lambda xb, mb: model.step_loss(xb, mb, lam, tau)["loss"])


@torch.no_grad()
def decoder_y_gain(
    model: nn.Module, x: torch.Tensor, mask: torch.Tensor, batch_size: int, device: torch.device, channels_last: bool
) -> float | None:
    """How much the decoder uses y: the reconstruction loss (nats per window, eval mode) when
    each window's y is swapped for the next cluster's one-hot, minus the loss with its own y
    (z = μ of q(z|x, y) either way). ≈ 0: g ignores y and z explains the input alone — the
    collapse hypothesis; large: the clusters carry what g needs. None for models without y."""
    from .model import CatUVAC
    from .objectives import recon

    if not isinstance(model, CatUVAC):
        return None

    def gain(xb: torch.Tensor, mb: torch.Tensor) -> torch.Tensor:
        out = model(xb)  # eval: y = one_hot(argmax), z = μ
        swapped = out["y"].roll(1, dims=1)  # cluster k → k + 1 (always another cluster)
        x_swap = model.g(torch.cat([swapped, out["z"]], dim=1))
        base = {"x": xb, "mask": mb}
        return (recon({**base, "x_hat": x_swap}) - recon({**base, "x_hat": out["x_hat"]})).mean()

    return _eval_mean(model, x, mask, batch_size, device, channels_last, gain)


def _eval_mean(
    model: nn.Module, x: torch.Tensor, mask: torch.Tensor, batch_size: int, device: torch.device, channels_last: bool,
    fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> float | None:
    """Window-weighted mean of ``fn(x_batch, mask_batch)`` in eval mode, or None without data."""
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
            total += float(fn(xb, mb)) * xb.shape[0]
    finally:
        model.train(was)
    return total / n


# --------------------------------------------------------------------------- steps of a run
def _start(cfg: TrainConfig, out_dir: str | os.PathLike, resume: bool, progress: bool, hooks: TrainHooks | None) -> _Run:
    """Device, process group, output folder checks."""
    torch.set_flush_denormal(True)  # see module docstring: denormals are slow on x86
    device = _resolve_device(cfg.device, int(os.environ.get("LOCAL_RANK", 0)))
    dist_info = _init_distributed(device)
    run = _Run(cfg, check_output_dir(out_dir, "--out", TrainError), device, dist_info, progress and dist_info.main, hooks or TrainHooks())
    run.channels_last = cfg.channels_last and device.type == "cpu"  # NHWC pays off with oneDNN; cuDNN picks its own
    if run.ckpt_path.exists() and not resume:
        raise TrainError(f"{run.ckpt_path} already exists: pass --resume to continue that run, or choose another --out")
    if resume and not run.ckpt_path.exists():
        raise TrainError(f"--resume: no checkpoint at {run.ckpt_path}; start without --resume")
    return run


def _checked_data(run: _Run, data: PreparedData | None, cache_dir: str | os.PathLike | None) -> PreparedData:
    """Prepared inputs that fit the config (K ≤ windows, shapes, neighbours for the temporal term)."""
    cfg = run.cfg
    if data is None:
        data = prepare_data(cfg, progress=run.show, cache_dir=cache_dir)
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
    nb = data.neighbours.get("train")
    if cfg.temporal_weight > 0 and cfg.model_type == "cat_uvac" and (nb is None or not bool((nb >= 0).any())):
        if not _preset_default(cfg, "temporal_weight"):
            raise TrainError(
                f"--temporal-weight needs recordings longer than the window, but every clip of {data.source} gives one "
                "window: use a shorter --window-seconds or longer clips"
            )
        # the preset's term (quick's, made for the built-in 8-s clips) on data it cannot use: off, said
        run.cfg = dataclasses.replace(cfg, temporal_weight=0.0)
        _say(run, f"note: every clip of {data.source} gives one window, so the {cfg.preset!r} preset's temporal term "
                  "(neighbouring windows of a recording) is off for this run (temporal_weight 0 in the checkpoint)")
    return data


def _preset_default(cfg: TrainConfig, name: str) -> bool:
    """True if ``cfg.<name>`` is its preset's value (not a value the user asked for)."""
    from .presets import PRESETS

    return PRESETS.get(cfg.preset, {}).get(name) == getattr(cfg, name)


def model_config(cfg: TrainConfig, data: PreparedData, n_clusters: int | None = None) -> ModelConfig:
    """The network a config builds for the prepared windows (``n_clusters``: replaces K)."""
    n_feat, n_frames = int(data.x["train"].shape[2]), int(data.x["train"].shape[3])
    return ModelConfig(
        model_type=cfg.model_type, n_clusters=cfg.n_clusters if n_clusters is None else n_clusters, n_features=n_feat,
        n_frames=n_frames, latent_dim=cfg.latent_dim, level_input=level_input_for(data.frontend, cfg.model_type),
        **arch_fields(cfg.arch),
    )


def _build(run: _Run, data: PreparedData, resume: bool) -> _State:
    """The model (identical initialisation on every rank: same seed), h's warm start, Adam."""
    cfg = run.cfg
    mcfg = model_config(cfg, data)
    torch.manual_seed(cfg.seed)
    model = build_model(mcfg).to(run.device)
    warm = cfg.h_init != "random" and cfg.model_type == "cat_uvac" and not resume  # UVAC has no h: ignored
    mine = cfg.neighbour_weight > 0 and cfg.model_type == "cat_uvac"
    feats = cluster_features(data.x["train"], data.mask["train"], cfg.cluster_features) if warm or mine else None
    if warm:
        from .warmstart import warm_start_h

        # same seed and data on every rank → identical warm start, no communication needed
        rep = warm_start_h(model, data.x["train"], cfg.n_clusters, cfg.seed, epochs=cfg.h_init_epochs,
                           batch_size=cfg.batch_size, device=run.device, features=feats, method=cfg.h_init,
                           n_neighbors=cfg.neighbour_k)
        _say(run, f"h warm start from {cfg.h_init} clusters of {cfg.cluster_features!r} features: {rep['pseudo_label_clusters']} "
                  f"clusters, h fits them {rep['fit_to_pseudo_labels']:.0%}")
    if run.channels_last:
        model = model.to(memory_format=torch.channels_last)
    # fused Adam: one kernel for all parameters (same update rule as the paper's Adam)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr_start, fused=run.device.type in ("cpu", "cuda"))
    nn_index = torch.from_numpy(nearest_neighbours(feats, cfg.neighbour_k)) if mine and feats is not None else None
    return _State(model, mcfg, optimizer, [], neighbours=nn_index)


def _restore(run: _Run, state: _State, fe: FrontEndConfig) -> None:
    """--resume: weights, optimizer and history of the last complete epoch (same settings required)."""
    path = run.ckpt_path
    try:
        ck = load_checkpoint(path, expect_type=run.cfg.model_type)
    except CheckpointError as e:
        raise TrainError(f"--resume: {e}") from None
    _check_resume_config(path, ck.train_config, run.cfg)
    if ck.model_config != state.mcfg:
        raise TrainError(f"--resume: {path} holds a model {ck.model_config} but this run builds {state.mcfg}")
    saved = ck.raw.get("train_state")
    if saved is None:
        raise TrainError(f"--resume: {path} has no training state (a stripped checkpoint); start a new run")
    if ck.frontend != fe:
        raise TrainError(
            f"--resume: {path} was trained on different features ({ck.frontend.to_dict()}) than this "
            f"run computes ({fe.to_dict()}); use the same data and front-end settings"
        )
    state.model.load_state_dict(ck.raw["model_state"])
    state.optimizer.load_state_dict(saved["optimizer"])
    state.history = [dict(r) for r in saved.get("history", [])]
    state.start_epoch = int(ck.epoch)
    _say(run, f"resuming {path} after epoch {state.start_epoch} of {run.cfg.epochs}")


def _loss_module(run: _Run, model: nn.Module) -> nn.Module:
    module: nn.Module = _LossModule(model, run.cfg.objective(), bf16=run.cfg.precision == "bf16")
    if run.dist.enabled:
        from torch.nn.parallel import DistributedDataParallel

        module = DistributedDataParallel(module, device_ids=[run.device.index] if run.device.type == "cuda" else None)
    return module


def _epoch_order(run: _Run, n_train: int, epoch: int) -> torch.Tensor:
    """This rank's window order for ``epoch`` (a function of seed and epoch alone)."""
    if run.dist.enabled:
        from torch.utils.data import DistributedSampler

        sampler = DistributedSampler(range(n_train), num_replicas=run.dist.world, rank=run.dist.rank, shuffle=True, seed=run.cfg.seed)
        sampler.set_epoch(epoch)
        return torch.tensor(list(iter(sampler)), dtype=torch.long)
    g = torch.Generator().manual_seed(run.cfg.seed + epoch)  # = DistributedSampler's rule, world size 1
    return torch.randperm(n_train, generator=g)


def _train_epoch(run: _Run, state: _State, loss_module: nn.Module, data: PreparedData, epoch: int) -> dict[str, Any]:
    """One pass over this rank's shard; returns the epoch's summed terms and posterior statistics."""
    cfg = run.cfg
    lr, tau, lam = lr_at(cfg, epoch), tau_at(cfg, epoch), lam_at(cfg, epoch)
    for grp in state.optimizer.param_groups:
        grp["lr"] = lr
    getattr(loss_module, "module", loss_module).objective = cfg.objective(epoch)  # (DDP wraps the loss module)
    torch.manual_seed(_epoch_seed(cfg.seed, epoch, run.dist.rank))
    x_train, m_train = data.x["train"], data.mask["train"]
    nb = data.neighbours.get("train") if cfg.temporal_weight > 0 else None
    order = _epoch_order(run, int(x_train.shape[0]), epoch)
    state.model.train()
    sums: dict[str, float] = {}
    post: dict[str, torch.Tensor] = {}
    seen = 0
    bar = _progress(range(0, len(order), cfg.batch_size), run.show, desc=f"epoch {epoch + 1}", unit="batch", leave=False)
    for step, i in enumerate(bar):
        idx = order[i : i + cfg.batch_size]
        xb = _to_input(x_train[idx], run.device, run.channels_last)
        mb = m_train[idx].to(run.device, non_blocking=True)
        pair: dict[str, torch.Tensor] = {}
        if nb is not None:
            p = nb[idx]
            pair = {"x_pair": _to_input(x_train[p.clamp(min=0)], run.device, run.channels_last),
                    "pair_valid": (p >= 0).float().to(run.device)}
        if state.neighbours is not None:  # one of each window's mined neighbours, drawn afresh each step
            pick = torch.randint(state.neighbours.shape[1], (len(idx),))
            pair["x_nn"] = _to_input(x_train[state.neighbours[idx, pick]], run.device, run.channels_last)
        parts = loss_module(xb, mb, lam, tau, **pair)
        log_pi = parts.pop("log_pi", None)
        state.optimizer.zero_grad(set_to_none=True)
        parts["loss"].backward()
        if run.hooks.on_batch is not None:
            run.hooks.on_batch(epoch, step)
        state.optimizer.step()
        b = int(xb.shape[0])
        seen += b
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + float(v.detach()) * b
        if log_pi is not None:
            for k, v in posterior_stats(log_pi).items():
                post[k] = post[k] + v.cpu() if k in post else v.cpu()
        if run.show:
            bar.set_postfix(loss=f"{parts['loss'].item():.1f}", tau=f"{tau:.3f}", lr=f"{lr:.2e}")
    if not all(math.isfinite(v) for v in sums.values()):
        raise TrainError(f"epoch {epoch + 1}: the loss is not finite ({sums}); lower --lr-start or check the input features")
    return _all_reduce_epoch(run, sums, post, seen)


def _all_reduce_epoch(run: _Run, sums: dict[str, float], post: dict[str, torch.Tensor], seen: int) -> dict[str, Any]:
    """Sum the epoch's figures over the ranks (DDP); identity in a single process."""
    if run.dist.enabled:
        import torch.distributed as dist

        keys = sorted(sums)
        flat = torch.cat([torch.tensor([sums[k] for k in keys] + [float(seen)], dtype=torch.float64)]
                         + [post[k].reshape(-1) for k in sorted(post)])
        dist.all_reduce(flat)
        sums = dict(zip(keys, flat[: len(keys)].tolist()))
        seen = int(flat[len(keys)])
        pos = len(keys) + 1
        for k in sorted(post):
            n = post[k].numel()
            post[k] = flat[pos : pos + n].reshape(post[k].shape)
            pos += n
    return {"sums": sums, "post": post, "seen": seen}


def _epoch_row(run: _Run, state: _State, data: PreparedData, epoch: int, summed: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The log row of one epoch: mean terms, validation loss, cluster usage, schedules."""
    cfg = run.cfg
    seen = max(summed["seen"], 1)
    row: dict[str, Any] = {"epoch": epoch + 1}
    for k, v in summed["sums"].items():
        row["kl_y" if k == "kl_c" else k] = v / seen
    post = summed["post"]
    if post:
        counts = post["count"]
        q_mean = (post["q_sum"] / seen).clamp_min(1e-12)
        row["cluster_counts"] = [int(c) for c in counts.tolist()]
        row["clusters_used"] = int((counts > 0).sum())
        row["q_entropy"] = float(post["entropy_sum"]) / seen
        row["marginal_entropy"] = float(-(q_mean * q_mean.log()).sum())
    tau = tau_at(cfg, epoch)
    val_x, val_m = data.x.get("val", data.x["train"][:0]), data.mask.get("val", data.mask["train"][:0])
    row["val_loss"] = validation_loss(state.model, val_x, val_m, cfg.lam, tau, cfg.eval_batch_size, run.device, run.channels_last)
    row["y_swap_gain"] = decoder_y_gain(state.model, val_x, val_m, cfg.eval_batch_size, run.device, run.channels_last)
    row["tau"], row["lr"], row["lam"] = tau, lr_at(cfg, epoch), lam_at(cfg, epoch)
    row["seconds"] = seconds
    return row


def _warn_empty_clusters(run: _Run, history: list[dict[str, Any]], row: dict[str, Any]) -> None:
    """Warn when a cluster that had windows (or, in the first epoch, any cluster) gets none."""
    counts = row.get("cluster_counts")
    if counts is None:
        return
    before = history[-1].get("cluster_counts") if history else None
    empty = [k for k, c in enumerate(counts) if c == 0 and (before is None or before[k] > 0)]
    if empty:
        _say(run, f"warning: epoch {row['epoch']}: cluster(s) {', '.join(map(str, empty))} got no training window "
                  f"({row['clusters_used']}/{len(counts)} in use); if y keeps collapsing, see --usage-weight / --h-init")


def _end_epoch(run: _Run, state: _State, row: dict[str, Any], bar: Any) -> None:
    """Rank 0: warn, append the row, checkpoint, log CSV, progress postfix, hook."""
    cfg = run.cfg
    _warn_empty_clusters(run, state.history, row)
    state.history.append(row)
    epoch = int(row["epoch"])
    save_checkpoint(run.ckpt_path, state.model, state.mcfg, run.frontend, cfg.to_dict(), epoch,
                    _train_state(state.optimizer, state.history, cfg, epoch))
    write_log_csv(run.out / LOG_NAME, state.history)
    if run.show:
        vl = row["val_loss"]
        post = {} if "clusters_used" not in row else {
            "used": f"{row['clusters_used']}/{cfg.n_clusters}", "H_q": f"{row['q_entropy']:.2f}"}
        bar.set_postfix(loss=f"{row['loss']:.1f}", val=("–" if vl is None else f"{vl:.1f}"), **post,
                        tau=f"{row['tau']:.3f}", lr=f"{row['lr']:.2e}")
    if run.hooks.on_epoch is not None:
        run.hooks.on_epoch(epoch - 1, row)


def _barrier(run: _Run) -> None:
    if run.dist.enabled:
        import torch.distributed as dist

        dist.barrier()


def _check_replicas(run: _Run, model: nn.Module) -> None:
    """DDP keeps replicas identical; check it (one scalar per rank)."""
    if not run.dist.enabled:
        return
    import torch.distributed as dist

    with torch.no_grad():
        checksum = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum().reshape(1).cpu()
    gathered = [torch.zeros(1, dtype=torch.float64) for _ in range(run.dist.world)]
    dist.all_gather(gathered, checksum)
    if any(not torch.allclose(g, gathered[0], rtol=1e-9, atol=0.0) for g in gathered):
        raise TrainError(f"the DDP replicas diverged (parameter sums {[float(g) for g in gathered]})")


def _finish(run: _Run, state: _State, data: PreparedData, evaluate: bool, plots: bool) -> dict[str, Any] | None:
    """Rank 0: make sure a checkpoint exists, test-split metrics, PNGs."""
    cfg = run.cfg
    metrics = None
    if run.dist.main:
        if not run.ckpt_path.exists():  # zero epochs to run and no checkpoint: write one
            save_checkpoint(run.ckpt_path, state.model, state.mcfg, data.frontend, cfg.to_dict(), state.start_epoch,
                            _train_state(state.optimizer, state.history, cfg, state.start_epoch))
        if evaluate:
            metrics = evaluate_run(state.model, data, cfg, run.out / METRICS_NAME, run.device, progress=run.show)
        if plots:
            plot_loss_curves(state.history, run.out / LOSS_PNG, title=f"{cfg.model_type} on {data.source} (K={cfg.n_clusters}, λ={cfg.lam:g})")
            plot_latent_space(state.model, data, run.out / LATENT_PNG, batch_size=cfg.eval_batch_size, device=run.device)
    if run.dist.enabled:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return metrics


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
    run = _start(cfg, out_dir, resume, progress, hooks)
    data = _checked_data(run, data, cache_dir)
    run.frontend = data.frontend
    state = _build(run, data, resume)
    if resume:
        _restore(run, state, data.frontend)
    loss_module = _loss_module(run, state.model)
    if run.dist.main:
        run.out.mkdir(parents=True, exist_ok=True)
    bar = _progress(range(state.start_epoch, cfg.epochs), run.show, desc="train", unit="epoch",
                    initial=state.start_epoch, total=cfg.epochs)
    for epoch in bar:
        t0 = time.perf_counter()
        summed = _train_epoch(run, state, loss_module, data, epoch)
        if run.dist.main:
            _end_epoch(run, state, _epoch_row(run, state, data, epoch, summed, time.perf_counter() - t0), bar)
        _barrier(run)
    _check_replicas(run, state.model)
    metrics = _finish(run, state, data, evaluate, plots)
    seconds = time.perf_counter() - t_start
    _say(run, f"done in {seconds:.1f} s: {run.ckpt_path}")
    return TrainResult(run.out, run.ckpt_path, metrics, state.history, seconds, state.model, state.mcfg, data.frontend)


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
    from .metrics import cluster_purity, write_json_atomic

    split = next((s for s in ("test", "val", "train") if data.n(s) >= 2), None)
    if split is None:
        raise TrainError("no split has 2 or more windows to compute clustering metrics on")
    x = data.x[split][:, 0].numpy()
    labels = data.labels.get(split)
    dev = "cuda" if device.type == "cuda" else "cpu"
    outs = model_outputs(model, x, batch_size=cfg.eval_batch_size, device=dev)
    model.to(device)
    metrics = build_metrics({cfg.model_type: model_spaces(model, outs)}, x, labels, cfg.n_clusters, cfg.split_seed)
    if labels is not None:  # many-to-one accuracy: what a per-profile decision layer gets from over-clustering
        metrics[cfg.model_type]["purity"] = float(cluster_purity(labels, outs["cluster"]))
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
            f"{'–' if sil is None else f'{sil:.3f}'}, clusters used {e['n_clusters_used']}/{cfg.n_clusters} "
            f"(smallest {100 * e['smallest_cluster_share']:.1f} % of the windows); "
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


def _panel(ax: Any, history: list[dict[str, Any]], series: list[tuple[str, dict[str, Any]]], ylabel: str,
           legend: dict[str, Any] | None = None, ylabel_style: dict[str, Any] | None = None) -> None:
    """One panel of loss_curves.png: each ``(history key, line style)`` per epoch (a missing value
    leaves a gap), the y label, and a legend when ``legend`` (its placement) is given."""
    epochs = [r["epoch"] for r in history]
    for key, style in series:
        ax.plot(epochs, [np.nan if r.get(key) is None else r[key] for r in history], **style)
    ax.set_ylabel(ylabel, **(ylabel_style or {}))
    if legend is not None:
        ax.legend(fontsize=8, **legend)


def plot_loss_curves(history: list[dict[str, Any]], path: str | os.PathLike, title: str = "") -> Path:
    """loss_curves.png: loss and validation loss, reconstruction, both KL terms, τ and lr, and the
    cluster report (clusters used, posterior entropies, decoder y-swap gain) per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 2, figsize=(10, 10))
    legend: dict[str, Any] = {}  # a panel with a legend (default placement)
    _panel(axes[0, 0], history, [("loss", {"label": "train loss (eq. 7)"}),
                                 ("val_loss", {"label": "validation loss (y = argmax, z = μ)"})], "loss per window", legend)
    _panel(axes[0, 1], history, [("recon", {"color": "C2"})], "reconstruction (BCE summed over bins)")
    _panel(axes[1, 0], history, [("kl_z", {"label": "KL(q(z|x,y) ‖ N(0, I))"}),
                                 ("kl_y", {"label": "KL(q(y|x) ‖ uniform)"})], "nats per window", legend)
    _panel(axes[1, 1], history, [("tau", {"color": "C3", "label": "τ"})], "Gumbel-Softmax τ", ylabel_style={"color": "C3"})
    lr_axis = axes[1, 1].twinx()
    _panel(lr_axis, history, [("lr", {"color": "C4", "label": "lr"})], "learning rate", ylabel_style={"color": "C4"})
    lr_axis.set_yscale("log")
    # the cluster report: is y collapsing?
    _panel(axes[2, 0], history, [("clusters_used", {"color": "C5", "marker": ".",
                                                    "label": "clusters used (argmax of ≥ 1 training window)"})], "clusters used", legend)
    _panel(axes[2, 1], history, [("q_entropy", {"label": "mean H(q(y|x))"}),
                                 ("marginal_entropy", {"label": "H(epoch-mean q(y|x))"})], "nats", {"loc": "upper left"})
    _panel(axes[2, 1].twinx(), history, [("y_swap_gain", {"color": "C3", "ls": "--", "label": "decoder y-swap gain"})],
           "recon. loss increase when y is swapped (nats)", ylabel_style={"color": "C3", "fontsize": 8})
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
