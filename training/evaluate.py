"""Evaluation of a trained checkpoint (library behind ``catuvac-eval``).

``catuvac-eval --checkpoint CKPT --data SPEC --json OUT`` loads the checkpoint, reads the data
set **with the checkpoint's front-end** (same features, window and normalization statistics
the model was trained on), runs the model on one split (``test`` by default), and writes the
metrics JSON (shape in :mod:`catuvac.training.metrics`) with the rows

- ``cat_uvac`` or ``uvac`` — the model's clusters, geometry on each of the model's
  representations (``q_y`` and ``z_mean`` for Cat. UVAC, ``z_mean`` for UVAC);
- ``kmeans`` — K-means with the same K on the same normalized features (``input``);
- ``labels`` — the true labels as clusters, on the model's representations and on ``input``
  (only when the data set has labels).

A small markdown summary is printed as well.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from catuvac.runtime.cli_wrapper import cli_entry
from catuvac.runtime.errors import CatuvacError
from catuvac.runtime.fileio import check_output_path
from catuvac.runtime.frontend import FrontEndConfig, FrontEndError, normalize_window

from .baselines import INPUT_SPACE, flatten_features, kmeans_baseline
from .metrics import labels_row, method_entry, to_jsonable, write_json_atomic
from .readers import data_spec_help

if TYPE_CHECKING:  # torch is imported where it runs: `catuvac-eval --help` works without the [train] extra
    import torch
    from torch import nn

__all__ = [
    "EvalError",
    "normalize_features",
    "model_outputs",
    "evaluate_model",
    "run_eval",
    "format_metrics_markdown",
    "add_eval_args",
    "eval_from_args",
    "main",
]

METHOD_TITLES = {"labels": "None (labels)", "kmeans": "K-means", "uvac": "UVAC", "cat_uvac": "Cat. UVAC"}
_NORM_CHUNK = 512  # windows normalized at a time: bounds the float64 temporaries of normalize_window


class EvalError(CatuvacError, ValueError):
    """A model / data combination that cannot be evaluated; the message says what to do."""


def normalize_features(x: np.ndarray, frontend: FrontEndConfig) -> np.ndarray:
    """Raw log features (N, F, T) → network input in [0, 1] with ``frontend``'s normalization."""
    x = np.asarray(x)
    if x.ndim != 3:
        raise EvalError(f"features must be (N, F, T), got shape {x.shape}")
    if x.shape[1] != frontend.n_features:
        raise EvalError(
            f"features have {x.shape[1]} bins but the front-end config has {frontend.n_features}: "
            "load the data with the checkpoint's front-end"
        )
    frontend.require_stats()
    out = np.empty(x.shape, dtype=np.float32)
    for i in range(0, x.shape[0], _NORM_CHUNK):
        out[i : i + _NORM_CHUNK] = normalize_window(x[i : i + _NORM_CHUNK], frontend)
    return out


def _device(device: str | None) -> torch.device:
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def model_outputs(
    model: nn.Module, x_norm: np.ndarray, batch_size: int = 64, device: str | None = "cpu"
) -> dict[str, np.ndarray]:
    """Run ``model.infer`` over (N, F, T) inputs in batches → ``{"cluster": (N,), rep: (N, D)}``.

    The model is put in eval mode (batch norm uses running statistics) and restored after.
    """
    import torch

    if not hasattr(model, "infer") or not hasattr(model, "representations"):
        raise EvalError(f"{type(model).__name__} does not implement the model protocol (infer, representations)")
    x_norm = np.asarray(x_norm, dtype=np.float32)
    if x_norm.ndim != 3:
        raise EvalError(f"inputs must be (N, F, T), got shape {x_norm.shape}")
    cfg = getattr(model, "cfg", None)
    if cfg is not None and tuple(x_norm.shape[1:]) != (cfg.n_features, cfg.n_frames):
        raise EvalError(
            f"the model expects {cfg.n_features}×{cfg.n_frames} inputs but the features are "
            f"{x_norm.shape[1]}×{x_norm.shape[2]}: compute them with the checkpoint's front-end config"
        )
    if batch_size < 1:
        raise EvalError(f"batch_size must be ≥ 1, got {batch_size}")
    dev = _device(device)
    was_training = model.training
    model.eval()
    model.to(dev)
    parts: dict[str, list[np.ndarray]] = {}
    try:
        with torch.no_grad():
            for i in range(0, x_norm.shape[0], batch_size):
                xb = torch.from_numpy(x_norm[i : i + batch_size])[:, None].to(dev)
                out = model.infer(xb)
                for k, v in out.items():
                    parts.setdefault(k, []).append(v.detach().cpu().numpy())
    finally:
        model.train(was_training)
    if not parts:
        raise EvalError("no samples to evaluate")
    return {k: np.concatenate(v) for k, v in parts.items()}


def evaluate_model(
    model: nn.Module,
    x_norm: np.ndarray,
    mask: np.ndarray | None,
    labels: np.ndarray | None,
    batch_size: int = 64,
    seed: int = 0,
    device: str | None = "cpu",
) -> dict[str, dict[str, Any]]:
    """``{model_type: entry}`` for a model on normalized inputs (N, F, T).

    ``mask`` is accepted for symmetry with training but not used: every window is scored
    whole (the activity mask only weights the reconstruction loss).
    """
    out = model_outputs(model, x_norm, batch_size=batch_size, device=device)
    name = getattr(getattr(model, "cfg", None), "model_type", None) or type(model).__name__.lower()
    spaces = {rep: out[rep] for rep in model.representations}
    return {name: method_entry(out["cluster"], labels, spaces, seed=seed)}


# --------------------------------------------------------------------------- the metrics dictionary
def kmeans_applies(n_windows: int, n_clusters: int) -> bool:
    """K-means is scored only with more windows than clusters (N = K puts every window alone:
    accuracy is then trivial and the geometry metrics are undefined)."""
    return n_windows > n_clusters


def build_metrics(
    models: Mapping[str, tuple[Any, Mapping[str, Any]]],
    x_norm: Any,
    labels: Any | None,
    n_clusters: int,
    seed: int,
    kmeans: bool = True,
    labels_row_: bool = True,
    qualify: bool | None = None,
    input_in_rows: bool = False,
) -> dict[str, Any]:
    """The metrics dictionary of ``catuvac-train``, ``catuvac-eval`` and ``catuvac-table`` (JSON-ready).

    ``models``: ``{model_type: (cluster ids, {representation: (N, D)})}``. Rows: ``labels`` (when
    labelled and ``labels_row_``: the true labels as clusters, on the input and every model space —
    named ``model_type:rep`` when ``qualify``, by default when several models are scored),
    ``kmeans`` (same K, when ``kmeans`` and :func:`kmeans_applies`), then one row per model.
    ``seed``: K-means init and silhouette subset. ``input_in_rows``: each model row also scores
    its clusters on the input space (side by side, as ``catuvac-table`` reports them).
    """
    x_flat = flatten_features(x_norm)
    metrics: dict[str, Any] = {}
    if labels is not None and labels_row_:
        several = len(models) > 1 if qualify is None else qualify
        spaces: dict[str, Any] = {INPUT_SPACE: x_flat}
        for mt, (_, sp) in models.items():
            spaces.update({(f"{mt}:{rep}" if several else rep): v for rep, v in sp.items()})
        metrics["labels"] = labels_row(labels, spaces, seed=seed)
    if kmeans and kmeans_applies(x_flat.shape[0], n_clusters):
        metrics["kmeans"] = kmeans_baseline(x_flat, labels, n_clusters, seed=seed)
    for mt, (pred, sp) in models.items():
        metrics[mt] = method_entry(pred, labels, {INPUT_SPACE: x_flat, **sp} if input_in_rows else sp, seed=seed)
    return to_jsonable(metrics)


def model_spaces(model: nn.Module, outs: Mapping[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(cluster ids, {representation: array}) of :func:`model_outputs`' result, for :func:`build_metrics`."""
    return outs["cluster"], {rep: outs[rep] for rep in model.representations}


# --------------------------------------------------------------------------- markdown
def _fmt(v: Any, spec: str) -> str:
    return "–" if v is None else format(v, spec)


def format_metrics_markdown(metrics: Mapping[str, Mapping[str, Any]]) -> str:
    """One row per (method, representation): Method | Space | Accuracy (%) | NMI | Silhouette | DBI | CHI ×10³."""
    lines = [
        "| Method | Space | Accuracy (%) | NMI | Silhouette | DBI | CHI ×10³ |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for method, e in metrics.items():
        acc = None if e.get("accuracy") is None else 100.0 * e["accuracy"]
        for rep, g in e["spaces"].items():
            chi = None if g.get("chi") is None else g["chi"] / 1000.0
            lines.append(
                f"| {METHOD_TITLES.get(method, method)} | {rep} | {_fmt(acc, '.2f')} | {_fmt(e.get('nmi'), '.2f')} | "
                f"{_fmt(g.get('silhouette'), '.2f')} | {_fmt(g.get('dbi'), '.2f')} | {_fmt(chi, '.2f')} |"
            )
    return "\n".join(lines)


# --------------------------------------------------------------------------- run_eval

def run_eval(
    checkpoint: "str | Path",
    data: str,
    json_out: "str | Path | None" = None,
    split: str = "test",
    kmeans: bool = True,
    seed: int | None = None,
    batch_size: int = 64,
    device: str | None = "auto",
    max_files: int | None = None,
    progress: bool = True,
    quiet: bool = False,
) -> dict[str, Any]:
    """Evaluate ``checkpoint`` on ``split`` of ``data``; write ``json_out`` (atomic) and return the metrics.

    ``seed``: split seed — ``None`` uses the checkpoint's split seed (and cross-validation fold)
    so the test split is the one the model never saw; it also seeds K-means and the silhouette subset.
    """
    from .checkpoint import load_checkpoint
    from .datasets import default_frontend, load_dataset, parse_data_spec, split_args

    if json_out is not None:
        check_output_path(json_out, "--json", (".json",), EvalError, inputs={"--checkpoint": checkpoint})
    ck = load_checkpoint(checkpoint)
    fe = ck.frontend
    try:
        fe.require_stats()
    except FrontEndError as e:
        raise EvalError(f"{checkpoint}: {e}") from e
    spec = parse_data_spec(data)
    native = default_frontend(spec)
    if not quiet and (native.kind != fe.kind or abs(native.window_seconds - fe.window_seconds) > 1e-9):
        print(
            f"note: {spec} normally uses a {native.window_seconds:g}-s {native.kind} front-end; "
            f"evaluating with the checkpoint's {fe.window_seconds:g}-s {fe.kind} front-end so the "
            "features match the model",
            file=sys.stderr,
        )
    tc = ck.train_config
    split_kw = split_args(tc, seed)  # the checkpoint's split (and fold); ``seed`` replaces only its seed
    split_seed = split_kw["seed"]
    kwargs: dict[str, Any] = {}
    if max_files is None and isinstance(tc.get("max_files"), int) and str(tc.get("data", "")) == str(data):
        kwargs["max_files"] = tc["max_files"]  # same subset as training, so the split matches
    elif max_files is not None:
        kwargs["max_files"] = max_files
    ds = load_dataset(spec, frontend=fe, progress=progress, **split_kw, **kwargs)
    part = ds.subset(split)
    if len(part) == 0:
        raise EvalError(f"{spec}: the {split!r} split is empty ({ds.summary()}); use a larger data set or --split")
    mc = ck.model_config
    if tuple(part.x.shape[1:]) != (mc.n_features, mc.n_frames):
        raise EvalError(
            f"{checkpoint}: model expects {mc.n_features}×{mc.n_frames} inputs but {spec} gives "
            f"{part.x.shape[1]}×{part.x.shape[2]} with the checkpoint's front-end"
        )
    x_norm = normalize_features(part.x, fe)
    labels = part.labels
    out = model_outputs(ck.model, x_norm, batch_size=batch_size, device=device)
    k = mc.n_clusters
    if kmeans and not kmeans_applies(len(part), k) and not quiet:
        print(f"note: K-means skipped: the {split!r} split has {len(part)} windows, not more than K={k}", file=sys.stderr)
    metrics = build_metrics({mc.model_type: model_spaces(ck.model, out)}, x_norm, labels, k, split_seed, kmeans=kmeans)
    if json_out is not None:
        write_json_atomic(json_out, metrics)
    if not quiet:
        print(
            f"{Path(str(checkpoint)).name}: {mc.model_type}, K={k}, epoch {ck.epoch}; {spec} split {split!r}: "
            f"{len(part)} windows" + ("" if labels is None else f", {len(np.unique(labels))} classes")
        )
        print(format_metrics_markdown(metrics))
        if json_out is not None:
            print(f"metrics written to {json_out}")
    return metrics


# --------------------------------------------------------------------------- CLI glue
def add_eval_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--checkpoint", required=True, help="checkpoint.pt (or the training output folder)")
    parser.add_argument("--data", required=True, help=f"dataset spec: {data_spec_help()}")
    parser.add_argument("--json", dest="json_out", default=None, help="write the metrics JSON here")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"), help="split to score (default: test)")
    parser.add_argument("--no-kmeans", dest="kmeans", action="store_false", help="skip the K-means row")
    parser.add_argument("--seed", type=int, default=None, help="split / K-means seed (default: the checkpoint's training seed)")
    parser.add_argument("--batch-size", type=int, default=64, help="inference batch size (default 64)")
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    parser.add_argument("--max-files", type=int, default=None, help="use a seeded subset of the files (quick runs)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    return parser


def eval_from_args(args: argparse.Namespace) -> int:
    """Run ``catuvac-eval``; its errors (all :class:`~catuvac.runtime.errors.CatuvacError`) reach the CLI wrapper."""
    run_eval(args.checkpoint, args.data, args.json_out, split=args.split, kmeans=args.kmeans, seed=args.seed,
             batch_size=args.batch_size, device=args.device, max_files=args.max_files, progress=args.progress)
    return 0


@cli_entry("catuvac-eval")
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="catuvac-eval", description="Clustering metrics of a trained checkpoint (Table I metrics).")
    add_eval_args(p)
    return eval_from_args(p.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
