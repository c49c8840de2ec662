"""What a *supervised* h would do on the day recording: a ceiling for the switching figures.

``python -m catuvac.training.ceiling --json OUT.json`` trains the Cat. UVAC encoder h (same
network, same front-end, same split) with cross-entropy on the **true** scene labels, then
replays the built-in day recording through it exactly as the runtime does (window every
``decision_interval`` s, default smoothing) and scores the stable decisions against the
day's truth with :func:`catuvac.runtime.timeline.evaluate_decisions`.

This is a diagnostic, not a product path: the labels it uses are what an unsupervised
clusterer never sees. It answers "how much of the switching error is the clusterer's, and how
much comes from the 4-s window and the cross-fades themselves?" A small grid over the
smoothing parameters reports the lowest median switch delay reached with at most one spurious
switch per hour; that grid is fitted *on* the day recording, so it is an optimistic bound,
not a setting to ship.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from catuvac.runtime.cli_wrapper import cli_entry

__all__ = ["supervised_ceiling", "day_posteriors", "main"]

# Smoothing grid of the optimistic bound (EMA s, hysteresis, confirmation s, dwell s).
_GRID = {
    "ema_seconds": (0.5, 1.0, 1.5, 2.0, 3.0),
    "hysteresis": (0.0, 0.15, 0.3, 0.5),
    "confirm_seconds": (0.0, 0.5, 1.0, 2.0, 3.0),
    "min_dwell_seconds": (3.0, 6.0, 10.0),
}


def day_posteriors(model: Any, frontend: Any, day_wav: str | Path, decision_interval: float) -> tuple[np.ndarray, np.ndarray]:
    """q(y|x) of the model on the day recording, one window every ``decision_interval`` s.

    Windows sit on the runtime's frame grid (first at the first full window) and are stamped
    with their end time, as :class:`~catuvac.runtime.clusterer.SceneClusterer` does.
    """
    import torch

    from catuvac.runtime.audio import load_audio
    from catuvac.runtime.frontend import FrontEnd, normalize_window

    fe = FrontEnd(frontend)
    feats = fe.features(load_audio(day_wav, frontend.sample_rate))
    w = frontend.window_frames
    step = max(1, int(round(decision_interval / frontend.hop_seconds)))
    starts = list(range(0, feats.shape[1] - w + 1, step))
    if not starts:
        raise ValueError(f"{day_wav}: shorter than the model's {frontend.window_seconds}-s window")
    x = np.stack([normalize_window(feats[:, s : s + w], frontend) for s in starts])[:, None]
    model.eval()
    with torch.no_grad():
        p = torch.cat([torch.softmax(model.logits(torch.from_numpy(x[i : i + 64])), 1) for i in range(0, len(x), 64)])
    lead = (frontend.n_fft - frontend.hop_length) / frontend.sample_rate
    t = np.array([(s + w) * frontend.hop_length / frontend.sample_rate + lead for s in starts])
    return p.numpy(), t


def _score(p: np.ndarray, t: np.ndarray, timeline: Any, duration: float, cfg: Any) -> dict[str, Any]:
    from catuvac.runtime.smoothing import Smoother
    from catuvac.runtime.timeline import evaluate_decisions

    sm = Smoother(p.shape[1], cfg)
    stable = [sm.update(q, float(tt))[1] for q, tt in zip(p, t)]
    r = evaluate_decisions(t, stable, timeline, raw=list(p.argmax(1)), duration_s=duration)
    return {k: r[k] for k in ("agreement", "raw_agreement", "n_switches", "spurious_switches", "spurious_switches_per_hour", "switch_delay_s")}


def supervised_ceiling(
    data: str = "builtin:scenes",
    epochs: int = 8,
    seed: int = 0,
    day_dir: str | Path | None = None,
    decision_intervals: Sequence[float] = (1.0, 0.5),
    grid: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Train h on the true labels, then score the day recording; returns a JSON-able report."""
    import torch
    import torch.nn.functional as F

    from catuvac.runtime.smoothing import SmoothingConfig
    from catuvac.runtime.timeline import load_timeline
    from catuvac.training.scenes import day_files

    from .evaluate import model_outputs
    from .metrics import method_entry
    from .model import ModelConfig, build_model
    from .train import make_config, prepare_data

    torch.set_flush_denormal(True)
    cfg = make_config("quick", data=data, device="cpu", seed=seed)
    prep = prepare_data(cfg, progress=progress)
    if prep.labels["train"] is None:
        raise ValueError(f"{data}: has no labels; the supervised ceiling needs a labelled data set")
    fe = prep.frontend
    xtr = prep.x["train"]
    ytr = torch.from_numpy(np.asarray(prep.labels["train"])).long()
    torch.manual_seed(seed)
    model = build_model(ModelConfig(n_clusters=len(prep.label_names or []) or cfg.n_clusters,
                                    n_features=fe.n_features, n_frames=fe.window_frames))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    history = []
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        total = 0.0
        for i in range(0, len(perm), cfg.batch_size):
            b = perm[i : i + cfg.batch_size]
            loss = F.cross_entropy(model.logits(xtr[b]), ytr[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(b)
        history.append(total / len(xtr))
        if progress:
            print(f"supervised h: epoch {ep + 1}/{epochs}  cross-entropy {history[-1]:.4f}", file=sys.stderr)
    out = model_outputs(model, prep.x["test"][:, 0].numpy(), cfg.eval_batch_size)
    test = method_entry(out["cluster"], prep.labels["test"], {})

    if day_dir is None:
        from .scenes import builtin_scenes_dir

        day_dir = builtin_scenes_dir()
    day_dir = Path(day_dir)
    day_wav, day_json = day_files(day_dir)
    timeline = load_timeline(day_json)
    duration = timeline[-1].end_s
    report: dict[str, Any] = {
        "what": "h trained WITH the true labels (diagnostic ceiling, not the product)",
        "data": str(data), "epochs": epochs, "seed": seed, "train_loss": history,
        "test_accuracy": test["accuracy"], "day": str(day_wav), "intervals": {},
    }
    for di in decision_intervals:
        p, t = day_posteriors(model, fe, day_wav, di)
        entry: dict[str, Any] = {"default_smoothing": _score(p, t, timeline, duration, SmoothingConfig())}
        if grid:
            best = None
            for values in itertools.product(*_GRID.values()):
                sc = SmoothingConfig(**dict(zip(_GRID, values)))
                r = _score(p, t, timeline, duration, sc)
                d = r["switch_delay_s"]
                if r["spurious_switches_per_hour"] > 1.0 or d["missed"] or d["median"] is None:
                    continue
                if best is None or d["median"] < best["score"]["switch_delay_s"]["median"]:
                    best = {"smoothing": dict(zip(_GRID, values)), "score": r}
            entry["best_on_day_with_at_most_1_spurious_per_hour"] = best
        report["intervals"][f"{di:g}s"] = entry
    return report


@cli_entry("python -m catuvac.training.ceiling")
def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m catuvac.training.ceiling",
        description="Diagnostic: train h WITH the scene labels and score its switching on the day recording "
        "(a ceiling for the unsupervised clusterer's figures). Writes JSON.",
    )
    ap.add_argument("--data", default="builtin:scenes", help="labelled data set spec (default builtin:scenes)")
    ap.add_argument("--epochs", type=int, default=8, help="cross-entropy epochs (default 8)")
    ap.add_argument("--seed", type=int, default=0, help="initialization and data order seed (default 0)")
    ap.add_argument("--day", help="corpus folder with days/day.wav and days/day.json (default: the built-in corpus)")
    ap.add_argument("--no-grid", action="store_true", help="skip the smoothing grid (default smoothing only)")
    ap.add_argument("--json", required=True, help="where to write the report")
    ap.add_argument("--quiet", action="store_true", help="no progress output")
    args = ap.parse_args(argv)
    if args.epochs < 1:
        ap.error("--epochs must be ≥ 1")
    rep = supervised_ceiling(args.data, args.epochs, args.seed, args.day, grid=not args.no_grid, progress=not args.quiet)
    from catuvac.runtime.fileio import atomic_write_json

    atomic_write_json(args.json, rep)
    if not args.quiet:
        for k, v in rep["intervals"].items():
            d = v["default_smoothing"]
            print(f"decision every {k}: default smoothing → raw agreement {d['raw_agreement']:.1%}, "
                  f"{d['spurious_switches']} spurious, delay median {d['switch_delay_s']['median']}")
            b = v.get("best_on_day_with_at_most_1_spurious_per_hour")
            if b is not None:
                print(f"   best grid point (fitted on the day): {b['smoothing']} → delay median "
                      f"{b['score']['switch_delay_s']['median']:.2f} s")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
