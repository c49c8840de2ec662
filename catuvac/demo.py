"""``make demo``: the whole product on its built-in data, end to end, in one output folder.

1. generate the built-in scenes (cached; ``catuvac-scenes``),
2. train Cat. UVAC with the ``quick`` preset (``catuvac-train``; K = number of classes),
3. export fp32 + int8 ONNX (``catuvac-export --int8``),
4. fit a cluster → profile map (each cluster's majority scene on the *training* split → the
   profile a fitter would choose for that scene; written to ``profile_map.json``),
5. replay the built-in "day" recording through the firmware simulation with the runtime
   embedded (``catuvac-sim``), and score the runtime's stable decisions against the day's
   ground-truth timeline,
6. print a summary and write ``summary.json`` + PNGs.

A second run reuses every finished step (checkpoint of the full number of epochs, exported
models of that checkpoint); an interrupted training resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from catuvac.runtime.cli_wrapper import cli_entry
from catuvac.runtime.fileio import atomic_savefig, atomic_write_json, atomic_write_text
from catuvac.runtime.scoring import load_scene_profiles

__all__ = ["run_demo", "main", "SCENE_TO_PROFILE"]

# What a fitter would pick for each built-in scene (the table shipped as runtime/scene_profiles.json).
SCENE_TO_PROFILE = load_scene_profiles()


def _log(msg: str) -> None:
    print(f"[demo] {msg}", file=sys.stderr, flush=True)


def _quick_data(clips_per_class: int | None = None) -> str:
    """The quick preset's built-in corpus spec, with ``clips_per_class`` if given."""
    from catuvac.training.presets import preset_values
    from catuvac.training.readers import builtin_spec_with

    spec = preset_values("quick")["data"]
    return spec if clips_per_class is None else builtin_spec_with(spec, n=clips_per_class)


def _train(out: Path, seed: int, epochs: int | None, progress: bool, clips_per_class: int | None = None) -> Path:
    import torch

    from catuvac.training.checkpoint import load_checkpoint
    from catuvac.training.train import make_config, train

    overrides: dict[str, Any] = {"seed": seed}
    if epochs is not None:
        overrides["epochs"] = epochs
    if clips_per_class is not None:
        overrides["data"] = _quick_data(clips_per_class)
    cfg = make_config("quick", **overrides)
    ckpt = out / "checkpoint.pt"
    if ckpt.exists():
        done = load_checkpoint(ckpt)
        want = {k: v for k, v in asdict(cfg).items() if k != "device"}
        changed = sorted(k for k, v in want.items() if done.train_config.get(k, v) != v)
        if changed:  # the preset changed since that run (an upgrade): keep the old run aside, train anew
            keep = out.with_name(out.name + ".previous")
            shutil.rmtree(keep, ignore_errors=True)
            out.rename(keep)
            _log(f"{ckpt} was trained with other settings ({', '.join(changed)}); moved it to {keep}, retraining")
            return _train(out, seed, epochs, progress, clips_per_class)
        if done.epoch >= cfg.epochs and (out / "metrics.json").exists():
            _log(f"reusing trained model {ckpt} ({done.epoch} epochs)")
            return ckpt
        _log(f"resuming training from epoch {done.epoch}")
        train(cfg, out, resume=True, progress=progress)
        return ckpt
    _log(f"training Cat. UVAC, preset 'quick' ({cfg.epochs} epochs, K={cfg.n_clusters}) → {out}")
    torch.manual_seed(seed)
    train(cfg, out, progress=progress)
    return ckpt


def _export(ckpt: Path, out: Path, progress: bool) -> dict[str, Any]:
    from catuvac.export.exporter import AgreementError, export_model
    from catuvac.training.checkpoint import file_sha256

    report_path = out / "export_report.json"
    if report_path.exists() and (out / "encoder.int8.onnx").exists():
        rep = json.loads(report_path.read_text())
        if rep.get("checkpoint_sha256") == file_sha256(ckpt):
            _log(f"reusing exported models in {out}")
            return rep
    _log(f"exporting fp32 + int8 ONNX → {out}")
    try:
        return export_model(ckpt, out, int8=True, progress=progress)
    except AgreementError as e:
        # a short or unlucky schedule can leave near-tied posteriors that int8 rounding flips; the
        # int8 gate stays as strict as catuvac-export's and the demo goes on with the fp32 model
        _log(f"int8 model refused ({e}); the demo runs the fp32 model")
        rep = export_model(ckpt, out, int8=False, progress=progress)
        return {**rep, "int8_refused": str(e)}


def _deployed_model(out: Path) -> Path:
    """The int8 model when the export wrote it, else the fp32 one (see :func:`_export`)."""
    int8 = out / "encoder.int8.onnx"
    return int8 if int8.exists() else out / "encoder.onnx"


def _fit_profile_map(ckpt: Path, out_path: Path) -> dict[str, Any]:
    """Each cluster → the profile of its majority scene on the training split, with its evidence
    (what ``catuvac-map --checkpoint`` writes)."""
    from catuvac.runtime.fileio import atomic_write_json
    from catuvac.training.mapfit import fit_map_from_checkpoint

    mapping = fit_map_from_checkpoint(ckpt, SCENE_TO_PROFILE)
    atomic_write_json(out_path, mapping)
    return mapping


def _plot_timeline(events: list[Any], truth: Any, score: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from catuvac.runtime.scoring import profile_segments

    psegs = profile_segments(truth, SCENE_TO_PROFILE)
    names = sorted({s.label for s in psegs} | {e.profile for e in events})
    fig, ax = plt.subplots(figsize=(11, 3.8))
    for s in psegs:
        ax.plot([s.start_s, s.end_s], [names.index(s.label)] * 2, color="0.7", lw=10, solid_capstyle="butt")
    for e in getattr(truth, "transients", ()):
        ax.axvline(e.t_s, color="tab:red", lw=0.6, alpha=0.5)
    t = [e.time_s for e in events]
    ax.step(t, [names.index(e.profile) for e in events], where="post", color="tab:blue", lw=2, label="decided profile")
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("time (s)")
    med = score["switch_delay_s"]["median"]
    ax.set_title(f"Day recording: true profile (grey) vs decided — accuracy {score['profile_accuracy']:.0%}, "
                 f"switch delay median {'–' if med is None else f'{med:.1f}'} s, spurious switches {score['spurious_switches']}")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=120)
    plt.close(fig)


def run_demo(out: str | os.PathLike = "demo_out", seed: int = 0, epochs: int | None = None, simulate: bool = True,
             progress: bool = True, clips_per_class: int | None = None) -> dict[str, Any]:
    """The steps of the module docstring; ``clips_per_class``: a smaller built-in corpus than the
    preset's (a quick look, the tests), ``epochs``: a shorter schedule than the preset's."""
    from catuvac.runtime.clusterer import SceneClusterer
    from catuvac.runtime.scoring import score_run
    from catuvac.runtime.timeline import load_truth
    from catuvac.training.readers import builtin_corpus_dir
    from catuvac.training.scenes import day_files

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _log("built-in scenes (generated once, then cached)")
    corpus = builtin_corpus_dir(_quick_data(clips_per_class))  # the preset's corpus: its clips train, its day is replayed
    ckpt = _train(out / "train", seed, epochs, progress, clips_per_class)
    export = _export(ckpt, out / "model", progress)
    model = _deployed_model(out / "model")
    pmap = _fit_profile_map(ckpt, out / "profile_map.json")

    _log("runtime on the day recording (stable decisions vs ground truth)")
    clf = SceneClusterer(model, profile_map=pmap)
    day_wav, day_json = day_files(corpus)
    events = clf.process_file(day_wav)
    truth = load_truth(day_json)
    timeline = list(truth.segments)
    score = score_run([e.time_s for e in events], [e.profile for e in events], [e.stable for e in events], truth,
                      SCENE_TO_PROFILE, raw=[e.cluster for e in events])
    atomic_write_text(out / "day_events.jsonl", "".join(json.dumps(e.to_dict()) + "\n" for e in events))
    _plot_timeline(events, truth, score, out / "day_timeline.png")

    sim: dict[str, Any] | None = None
    if simulate:
        from catuvac.firmware_sim.simulator import simulate as run_sim

        _log("firmware simulation: DSP chain with the runtime embedded")
        sim = run_sim(day_wav, out / "sim" / "day_processed.wav", model_path=model, cluster_map=pmap,
                      report_path=out / "sim" / "report.json", plot_path=out / "sim" / "simulation.png", progress=progress)

    metrics = json.loads((out / "train" / "metrics.json").read_text())
    summary: dict[str, Any] = {
        "output_folder": str(out.resolve()),
        "corpus": str(corpus),
        "checkpoint": str(ckpt),
        "models": {"fp32": str(out / "model" / "encoder.onnx"), "int8": None if "int8_refused" in export else str(model),
                   "deployed": str(model)},
        "clusters": export.get("n_clusters", clf.n_clusters),
        "metrics_test_split": metrics,
        "export": {k: export.get(k) for k in ("fp32_bytes", "int8_bytes", "agreement_fp32", "agreement_int8", "n_windows", "int8_refused")},
        "profile_map": pmap,
        "decision_rule": clf.decision_rule,
        "day": {k: score[k] for k in ("profile_accuracy", "n_decisions", "n_switches", "n_true_changes", "missed_changes",
                                      "spurious_switches", "spurious_switches_per_hour", "transient_switches")},
        "day_switch_delay_s": {k: v for k, v in score["switch_delay_s"].items() if k != "values"},
        "day_research_clusters": {k: score["research_clusters"][k] for k in ("agreement", "raw_agreement", "cluster_to_label")},
        "decision_latency_ms_p50": float(np.median([e.inference_ms for e in events])),
        "seconds": time.perf_counter() - t0,
    }
    if sim is not None:
        summary["simulation"] = {k: sim.get(k) for k in ("algorithmic_delay_ms", "real_time_factor", "dsp_ms_per_block_p50",
                                                         "dsp_ms_per_block_p99", "classifier_ms_p99", "blocks")}
        summary["simulation"]["profile_switches"] = len(sim.get("profile_switches", []))
    atomic_write_json(out / "summary.json", summary)
    _print_summary(summary, events, timeline, score, pmap)
    return summary


def _fmt(v: Any, spec: str = ".3f") -> str:
    return "–" if v is None else format(v, spec)


def _print_summary(s: dict[str, Any], events: list[Any], timeline: list[Any], score: dict[str, Any], pmap: dict[str, Any]) -> None:
    m = s["metrics_test_split"]
    lines = ["", "=" * 72, "catuvac demo — built-in scenes, quick preset", "=" * 72]
    lines.append(f"clusters found: {s['clusters']}   (cluster → profile, fitted on the training split: "
                 + ", ".join(f"{k}→{v}" for k, v in pmap.items() if k.isdigit()) + ")")
    lines.append("test-split metrics:            accuracy   NMI    silhouette (space)")
    for meth in ("labels", "kmeans", "cat_uvac"):
        if meth in m:
            e = m[meth]
            sp: tuple[Any, Any] = next(iter(e.get("spaces", {}).items()), (None, {}))
            lines.append(f"  {meth:10s}                   {_fmt(e.get('accuracy'))}   {_fmt(e.get('nmi'))}  "
                         f"{_fmt(sp[1].get('silhouette'))} ({sp[0]})")
    ex = s["export"]
    if ex.get("int8_bytes"):
        lines.append(f"models: fp32 {ex['fp32_bytes'] / 1e6:.2f} MB, int8 {ex['int8_bytes'] / 1e6:.2f} MB "
                     f"(ratio {ex['int8_bytes'] / ex['fp32_bytes']:.2f}); int8 agrees with PyTorch on {ex['agreement_int8']:.1%} of {ex['n_windows']} windows")
    else:
        lines.append(f"models: fp32 {ex['fp32_bytes'] / 1e6:.2f} MB, deployed (the int8 model was refused: {ex.get('int8_refused')})")
    from catuvac.runtime.scoring import describe

    r = s["day_research_clusters"]
    lines.append(f"day recording, decision rule {s['decision_rule']!r}: {describe(score)}")
    lines.append(f"  (research, cluster level: stable cluster agrees with the scene {r['agreement']:.1%}, raw argmax "
                 f"{r['raw_agreement']:.1%}, Hungarian-matched)")
    lines.append("profile timeline (truth → profile chosen):")
    for seg in timeline:
        mid = [e for e in events if seg.start_s + 6 <= e.time_s < seg.end_s]
        prof = max({e.profile for e in mid}, key=lambda p: sum(e.profile == p for e in mid)) if mid else "–"
        want = SCENE_TO_PROFILE.get(seg.label, "?")
        lines.append(f"  {seg.start_s:6.1f}–{seg.end_s:6.1f} s  {seg.label:15s} → {prof:16s} (right: {want})")
    if "simulation" in s:
        si = s["simulation"]
        lines.append(f"firmware sim: algorithmic delay {si['algorithmic_delay_ms']:.2f} ms, real-time factor {si['real_time_factor']:.4f}, "
                     f"DSP {si['dsp_ms_per_block_p50']:.3f} ms/block p50, classifier p99 {si['classifier_ms_p99']:.1f} ms, "
                     f"{si['profile_switches']} profile switches")
    lines.append(f"decision latency (int8, 1 thread) p50 {s['decision_latency_ms_p50']:.1f} ms")
    lines.append(f"everything is in {s['output_folder']}: train/ (checkpoint, metrics, plots), model/ (ONNX, export report), "
                 "sim/ (processed audio, report, plot), day_timeline.png, summary.json")
    lines.append(f"took {s['seconds']:.0f} s")
    print("\n".join(lines))


@cli_entry("python -m catuvac.demo")
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m catuvac.demo", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    p.add_argument("--epochs", type=int, help="override the quick preset's epochs")
    p.add_argument("--clips-per-class", type=int, metavar="N",
                   help="a smaller (or larger) built-in corpus than the preset's 40 clips per class: a quick look")
    p.add_argument("--no-sim", action="store_true", help="skip the firmware simulation")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    a = p.parse_args(argv)
    try:
        run_demo(a.out, a.seed, a.epochs, simulate=not a.no_sim, progress=not a.quiet, clips_per_class=a.clips_per_class)
    except (ValueError, OSError) as e:
        print(f"demo: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
