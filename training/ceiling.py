"""What a *supervised* h would do on the test days: a ceiling for the decision-quality figures.

``python -m catuvac.training.ceiling --day-seeds 1 2 3 --day-minutes 30 --json OUT.json`` trains
the Cat. UVAC encoder h (same network, same front-end, same split) with cross-entropy on the
**true** scene labels, records its q(y|x) on the built-in long days exactly as the runtime
windows them (one window per second), maps each class to its scene's profile (the shipped
``scene_profiles.json``) and scores every decision rule at its defaults with
:mod:`catuvac.runtime.scoring` — the same figures, days and code as ``catuvac-bench --days``.
``--day DIR`` scores given day folders instead.

This is a diagnostic, not a product path: the labels it uses are what an unsupervised
clusterer never sees. It answers "how much of the error is the clusterer's, and how much comes
from the 4-s window, the cross-fades and the transients themselves?"
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from catuvac.runtime.cli_wrapper import cli_entry
from catuvac.runtime.frontend import FrontEndConfig

if TYPE_CHECKING:
    from torch import nn

__all__ = ["SUPERVISED_LR", "train_supervised", "supervised_ceiling", "day_posteriors", "main"]

# Adam at a fixed 1e-3 (PyTorch's default): cross-entropy on labels converges in a few epochs
# at it, where the paper's 5e-4 → 5e-5 is tuned for eq. 7
SUPERVISED_LR = 1e-3


def day_posteriors(model: nn.Module, frontend: FrontEndConfig, day_wav: str | Path,
                   decision_interval: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(q(y|x), end times, acoustic change scores) of the model on the day recording, one
    window every ``decision_interval`` s.

    Windows sit on the runtime's frame grid (first at the first full window) and are stamped
    with their end time, as :class:`~catuvac.runtime.clusterer.SceneClusterer` does; the change
    scores are the clusterer's detector's at those frames.
    """
    import torch

    from catuvac.runtime.audio import load_audio
    from catuvac.runtime.changepoint import change_scores
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
    scores = change_scores(feats, [s + w for s in starts], frontend.hop_seconds, frontend.power)
    return p.numpy(), t, scores


def train_supervised(model: nn.Module, x_train: Any, y_train: np.ndarray, epochs: int, seed: int, batch_size: int,
                     x_val: Any = None, y_val: np.ndarray | None = None, progress: bool = False) -> list[float]:
    """Train h's logits with cross-entropy on the true labels (Adam, :data:`SUPERVISED_LR`); returns
    the mean training loss per epoch. With a labelled validation split (``x_val``, ``y_val``) the
    weights of the epoch with the best validation accuracy are kept (the first such epoch), so
    the result does not depend on where over-fitting sets in."""
    import torch
    import torch.nn.functional as F

    y = torch.from_numpy(np.asarray(y_train)).long()
    opt = torch.optim.Adam(model.parameters(), lr=SUPERVISED_LR)
    gen = torch.Generator().manual_seed(seed)
    history: list[float] = []
    best: tuple[float, dict[str, Any]] | None = None
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(len(x_train), generator=gen)
        total = 0.0
        for i in range(0, len(perm), batch_size):
            b = perm[i : i + batch_size]
            loss = F.cross_entropy(model.logits(x_train[b]), y[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(b)
        history.append(total / len(x_train))
        if x_val is not None and y_val is not None and len(y_val):
            acc = _accuracy(model, x_val, y_val, batch_size)
            if best is None or acc > best[0]:
                best = (acc, {k: v.detach().clone() for k, v in model.state_dict().items()})
        if progress:
            print(f"supervised h: epoch {ep + 1}/{epochs}  cross-entropy {history[-1]:.4f}", file=sys.stderr)
    if best is not None:
        model.load_state_dict(best[1])
    model.eval()
    return history


def _accuracy(model: nn.Module, x: Any, y: np.ndarray, batch_size: int) -> float:
    import torch

    model.eval()
    with torch.no_grad():
        pred = torch.cat([model.logits(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])
    return float((pred.numpy() == np.asarray(y)).mean())


def supervised_ceiling(
    data: str = "builtin:scenes",
    epochs: int = 8,
    seed: int = 0,
    day_dirs: Sequence[str | Path] | None = None,
    day_seeds: Sequence[int] = (1, 2, 3),
    day_minutes: float = 30.0,
    progress: bool = True,
) -> dict[str, Any]:
    """Train h on the true labels, then score the test days; returns a JSON-able report."""
    import torch

    from catuvac.runtime.decisions import DECISION_RULES, decision_config
    from catuvac.runtime.scoring import load_scene_profiles
    from catuvac.runtime.timeline import load_truth
    from catuvac.runtime.tradeoff import DayPosteriors, score_rule

    from .evaluate import model_outputs
    from .metrics import method_entry
    from .model import build_model
    from .train import make_config, model_config, prepare_data

    torch.set_flush_denormal(True)
    cfg = make_config("quick", data=data, device="cpu", seed=seed)
    prep = prepare_data(cfg, progress=progress)
    if prep.labels["train"] is None:
        raise ValueError(f"{data}: has no labels; the supervised ceiling needs a labelled data set")
    fe = prep.frontend
    xtr, ytr = prep.x["train"], np.asarray(prep.labels["train"])
    torch.manual_seed(seed)
    model = build_model(model_config(cfg, prep, n_clusters=len(prep.label_names or []) or cfg.n_clusters))
    history = train_supervised(model, xtr, ytr, epochs, seed, cfg.batch_size, progress=progress)
    out = model_outputs(model, prep.x["test"][:, 0].numpy(), cfg.eval_batch_size)
    test = method_entry(out["cluster"], prep.labels["test"], {})

    table = load_scene_profiles()
    names = list(prep.label_names or [])
    missing = sorted(set(names) - set(table))
    if missing:
        raise ValueError(f"classes {missing} have no profile in the shipped scene → profile table")
    class_profiles = [table[n] for n in names]
    if day_dirs is None:
        from .days import cached_day

        day_dirs = [cached_day(int(sd), day_minutes, progress) for sd in day_seeds]
    days = []
    for d in map(Path, day_dirs):
        p, t, change = day_posteriors(model, fe, d / "day.wav", 1.0)
        truth = load_truth(d / "day.json")
        days.append(DayPosteriors(d.name, t, p, truth, truth.end_s, change))
    report: dict[str, Any] = {
        "what": "h trained WITH the true labels (diagnostic ceiling, not the product); each class → its scene's profile",
        "data": str(data), "epochs": epochs, "seed": seed, "train_loss": history,
        "test_accuracy": test["accuracy"], "days": [str(d) for d in day_dirs], "rules": {},
    }
    for rule in DECISION_RULES:
        per_day, summary = score_rule(days, rule, decision_config(rule), class_profiles, table)
        report["rules"][rule] = {"config": vars(decision_config(rule)), "summary": summary,
                                 "days": [{k: v for k, v in s.items() if k != "switches"} for s in per_day]}
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
    ap.add_argument("--day", nargs="+", help="day folders with day.wav and day.json (default: built-in long days, --day-seeds)")
    ap.add_argument("--day-seeds", type=int, nargs="+", default=[1, 2, 3], help="built-in long days' seeds (default 1 2 3)")
    ap.add_argument("--day-minutes", type=float, default=30.0, help="built-in long days' length (default 30)")
    ap.add_argument("--json", required=True, help="where to write the report")
    ap.add_argument("--quiet", action="store_true", help="no progress output")
    args = ap.parse_args(argv)
    if args.epochs < 1:
        ap.error("--epochs must be ≥ 1")
    rep = supervised_ceiling(args.data, args.epochs, args.seed, args.day, args.day_seeds, args.day_minutes,
                             progress=not args.quiet)
    from catuvac.runtime.fileio import atomic_write_json

    atomic_write_json(args.json, rep)
    if not args.quiet:
        print(f"supervised h: test accuracy {rep['test_accuracy']:.3f}")
        for rule, v in rep["rules"].items():
            sm = v["summary"]
            print(f"  {rule:10s} profile accuracy {sm['profile_accuracy']['mean']:.3f}, median delay "
                  f"{sm['switch_delay_median_s']['mean']}, spurious/h {sm['spurious_switches_per_hour']['mean']:.1f}, "
                  f"missed {sm['missed_changes_total']}, transient switches {sm['transient_switches_total']}")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
