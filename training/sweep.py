"""One tuning run, scored on every window: ``python -m catuvac.training.sweep --out DIR --set k=v ...``.

Trains a preset with ``TrainConfig`` overrides (``--set usage_weight=10 seed=1``), then prints
one JSON line: accuracy (Hungarian), NMI, purity (many-to-one accuracy) and the clusters used
on **all** windows (train + val + test — the labels are never seen in training, and the
built-in corpus's 28-window test split is too small to rank settings), the time per epoch,
and the cluster report of every epoch (clusters used, mean H(q(y|x)), H(mean q), kl_y,
decoder y-swap gain, reconstruction). The runs of the tuning log in :mod:`.presets` are
this command.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from torch import nn

    from .train import PreparedData

__all__ = ["parse_sets", "score_all_windows", "main"]


def parse_sets(items: Sequence[str]) -> dict[str, Any]:
    """``["k=v", ...]`` → overrides; values read as JSON where they parse (numbers, true/false)."""
    out: dict[str, Any] = {}
    for kv in items:
        if "=" not in kv:
            raise ValueError(f"--set takes FIELD=VALUE, got {kv!r}")
        k, v = kv.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def score_all_windows(model: nn.Module, data: PreparedData) -> dict[str, Any]:
    """Accuracy / NMI / purity / clusters used of ``model`` on every labelled window of ``data``."""
    import numpy as np
    import torch

    from .evaluate import model_outputs
    from .metrics import cluster_purity, nmi, unsupervised_accuracy

    splits = [s for s in ("train", "val", "test") if data.n(s)]
    x = torch.cat([data.x[s] for s in splits])[:, 0].numpy()
    y = np.concatenate([data.labels[s] for s in splits])
    pred = model_outputs(model, x, device="cpu")["cluster"]
    return {
        "windows": int(len(y)), "accuracy": round(unsupervised_accuracy(y, pred), 3), "nmi": round(nmi(y, pred), 3),
        "purity": round(cluster_purity(y, pred), 3), "clusters_used": int(np.unique(pred).size),
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m catuvac.training.sweep", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="output folder of the run (must not hold a checkpoint)")
    p.add_argument("--preset", default="quick", help="training preset (default quick)")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="TrainConfig overrides, e.g. usage_weight=10 seed=1")
    args = p.parse_args(argv)
    import numpy as np

    from .train import TrainError, make_config, prepare_data, train

    try:
        cfg = make_config(args.preset, device="cpu", **parse_sets(args.set))
        data = prepare_data(cfg, progress=False)
        if any(data.labels.get(s) is None for s in ("train", "val", "test") if data.n(s)):
            raise TrainError(f"{cfg.data} has no labels: nothing to score")
        res = train(cfg, args.out, data=data, progress=False, plots=False)
    except (TrainError, ValueError) as e:
        print(f"sweep: error: {e}", file=sys.stderr)
        return 2
    h = res.history
    curve = [[r["epoch"], r.get("clusters_used"), r.get("q_entropy"), r.get("marginal_entropy"), r.get("kl_y"),
              r.get("y_swap_gain"), r["recon"]] for r in h]
    summary = {
        "preset": args.preset, "set": parse_sets(args.set), "s_per_epoch": round(float(np.mean([r["seconds"] for r in h])), 2),
        "all_windows": score_all_windows(res.model, data), "test": res.metrics.get(cfg.model_type) if res.metrics else None,
        "curve_columns": ["epoch", "clusters_used", "q_entropy", "marginal_entropy", "kl_y", "y_swap_gain", "recon"],
        "curve": [[None if v is None else round(float(v), 3) for v in row] for row in curve],
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
