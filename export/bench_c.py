"""Benchmark of the C export target: code / const / RAM bytes, MACs and time per decision of the
compiled C against ONNX Runtime int8 (1 thread), for the paper-size encoder and the smallest one.

    python -m catuvac.export.bench_c --json bench_out/c_bench.json

Each model is built with random weights whose BatchNorm statistics come from real windows of the
built-in scenes (timing and memory do not depend on what the weights learned), exported with
``--c`` through the real export path, then timed: the C network with ``clock()`` over repeated
windows (``catuvac_verify bench``), ORT int8 with ``perf_counter`` per ``session.run``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["MODELS", "bench_model", "main"]

# name → (ModelConfig overrides, front-end overrides, window seconds)
MODELS: dict[str, tuple[dict[str, Any], dict[str, Any], float]] = {
    # the paper's encoder on the built-in scenes' 4-s, 128-mel windows (K = 7)
    "paper": ({"n_clusters": 7}, {}, 4.0),
    # the smallest encoder in the project (the test suite's): 4/8/8/16 channels, GRU 16, 32 mels, 1 s
    "smallest": ({"n_clusters": 4, "latent_dim": 4, "conv_channels": (4, 8, 8, 16), "gru_hidden": 16,
                  "decoder_channels": (8, 8, 4, 1)}, {"n_mels": 32}, 1.0),
}


CLIP_SECONDS = 16.0  # long clips, sliced into overlapping windows: > 1 000 real windows from 20 clips


def _windows(fe: Any, n_clips: int, seed: int) -> np.ndarray:
    from catuvac.runtime.frontend import FrontEnd, normalize_window
    from catuvac.training.scenes import SCENE_CLASSES, synthesize_scene

    rng = np.random.default_rng(seed)
    front = FrontEnd(fe)
    wins = []
    for i in range(n_clips):
        f = front.features(synthesize_scene(SCENE_CLASSES[i % len(SCENE_CLASSES)], CLIP_SECONDS, rng))
        step = 8  # frames (0.24 s) between window starts
        wins += [f[:, s : s + fe.window_frames] for s in range(0, f.shape[1] - fe.window_frames + 1, step)]
    return normalize_window(np.stack(wins), fe)


def _model(cfg: Any, windows: np.ndarray) -> Any:
    import torch

    from catuvac.training.model import CatUVAC

    torch.manual_seed(0)
    model = CatUVAC(cfg)
    model.train()
    with torch.no_grad():  # BatchNorm statistics from real windows, so the folded convs are realistic
        model.h_body(torch.from_numpy(windows[:, None]))
    return model.eval()


def _ort_us(path: Path, windows: np.ndarray, repeats: int) -> tuple[float, float]:
    from catuvac.runtime.modelmeta import INPUT_NAME, ort_session

    sess = ort_session(path, threads=1)
    feeds = [{INPUT_NAME: w[None, None].astype(np.float32)} for w in windows]
    for f in feeds[:3]:
        sess.run(None, f)  # warm-up
    times = []
    for _ in range(repeats):
        for f in feeds:
            t0 = time.perf_counter()
            sess.run(None, f)
            times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e6), float(np.percentile(times, 99) * 1e6)


def bench_model(name: str, work: Path, repeats: int = 5, n_clips: int = 20) -> dict[str, Any]:
    """Export one model with --c and measure it; returns the figures."""
    from catuvac.runtime.frontend import FrontEndConfig
    from catuvac.training.checkpoint import save_checkpoint
    from catuvac.training.model import ModelConfig

    from .exporter import AgreementError, WindowData, export_model

    mo, feo, seconds = MODELS[name]
    fe = dataclasses.replace(FrontEndConfig.scenes(window_seconds=seconds), **feo)
    cfg = ModelConfig(n_features=fe.n_features, n_frames=fe.window_frames, **mo)
    x = _windows(fe, n_clips, seed=0)
    ckpt = work / name / "checkpoint.pt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    model = _model(cfg, x)
    save_checkpoint(ckpt, model, cfg, fe, {"preset": f"bench-{name}", "seed": 0}, epoch=0)
    # C vs ORT int8 is checked on calibration + verification windows together (all of x)
    data = WindowData(calibration=x[0::8], verification=np.delete(x, np.s_[0::8], axis=0), source=f"built-in scenes ({len(x)} windows)")
    t0 = time.perf_counter()
    try:  # random weights: agreement with PyTorch is not the point here
        report = export_model(ckpt, work / name / "model", calibration=data, min_agreement=0.0, progress=False,
                              c_dir=work / name / "c", calibration_method="minmax")
    except AgreementError as e:
        report = e.report
    export_s = time.perf_counter() - t0
    c = report["c"]
    cdir = work / name / "c"
    subprocess.run(["make", "-s", "catuvac_verify"], cwd=cdir, check=True, capture_output=True)
    np.ascontiguousarray(x[:64], dtype=np.float32).tofile(work / name / "w.f32")
    out = subprocess.run([str(cdir / "catuvac_verify"), "bench", str(work / name / "w.f32"), str(repeats)],
                         capture_output=True, text=True, check=True)
    timing = json.loads(out.stdout)
    ort_p50, ort_p99 = _ort_us(work / name / "model" / "encoder.int8.onnx", x[:64], repeats)
    return {
        "model": name,
        "model_config": cfg.to_dict(),
        "input": [fe.n_features, fe.window_frames],
        "parameters_int8_bytes": c["weight_bytes"],
        "macs_per_decision": c["macs_per_decision"],
        "code_bytes": c["code_bytes"],
        "const_bytes": c["const_bytes"],
        "ram_bytes": c["ram_bytes"],
        "ram_static_bytes": c["bss_bytes"] + c["data_bytes"],
        "state_bytes": c["state_bytes"],
        "c_network_us_per_decision": timing["network_us_per_decision"],
        "c_frontend_us_per_hop": timing["frontend_us_per_hop"],
        "ort_int8_us_per_decision_p50": ort_p50,
        "ort_int8_us_per_decision_p99": ort_p99,
        "c_over_ort_time": timing["network_us_per_decision"] / ort_p50,
        "n_windows_verified": c["n_windows"],
        "id_agreement_with_ort_int8": c["id_agreement_with_ort_int8"],
        "max_abs_prob_diff_ort_int8": c["max_abs_prob_diff_ort_int8"],
        "bit_exact_with_reference": c["bit_exact_with_reference"],
        "export_seconds": round(export_s, 2),
        "compiler": c["compiler"],
        "cflags": c["cflags"],
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m catuvac.export.bench_c", description=__doc__.split("\n\n")[0])
    p.add_argument("--json", required=True, help="output JSON file")
    p.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS), help="models to measure (default: all)")
    p.add_argument("--repeats", type=int, default=5, help="passes over the 64 timing windows (default 5)")
    args = p.parse_args(argv)
    from catuvac.runtime.fileio import atomic_write_json
    from catuvac.runtime.machine import cpu_info

    if not args.json.endswith(".json"):
        p.error("--json must name a .json file")
    rows = []
    with tempfile.TemporaryDirectory(prefix="catuvac-bench-c.") as tmp:
        for name in args.models:
            print(f"bench_c: {name} …", file=sys.stderr, flush=True)
            rows.append(bench_model(name, Path(tmp), repeats=args.repeats))
    result = {"machine": cpu_info(), "threads": 1, "models": rows}
    atomic_write_json(args.json, result)
    keys = ("parameters_int8_bytes", "macs_per_decision", "code_bytes", "const_bytes", "ram_bytes",
            "c_network_us_per_decision", "ort_int8_us_per_decision_p50", "c_over_ort_time", "c_frontend_us_per_hop")
    print("| figure | " + " | ".join(r["model"] for r in rows) + " |\n|---|" + "---|" * len(rows))
    for k in keys:
        print(f"| {k} | " + " | ".join(f"{r[k]:,.3f}" if isinstance(r[k], float) else f"{r[k]:,}" for r in rows) + " |")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
