"""Training-throughput benchmark of the categorical UVAC (``python -m catuvac.training.bench_train``).

Measures full training steps — forward, eq.-7 loss, backward and the Adam update, exactly as
:func:`catuvac.training.train.train` runs them — in samples per second, for the paper's 4-s
(128 × 132) and 10-s (128 × 332) windows at batch 32, on the CPU (and on CUDA when present).

Variants on CPU (same network, same math):

- ``default`` — what the trainer does: NHWC (``channels_last``) tensors for oneDNN's faster
  convolution kernels, fused Adam, flush-denormal on;
- ``nchw`` — plain NCHW tensors (shows what channels_last buys);
- ``denormal_off`` — ``torch.set_flush_denormal(False)`` on the same inputs, and
  ``denormal_input_on`` / ``denormal_input_off`` — inputs scaled into the subnormal range
  (1e-39), the worst case; the on/off ratio shows whether denormals slow this CPU down and
  that flushing removes it;
- ``bf16_autocast`` — ``torch.autocast("cpu", torch.bfloat16)`` (mixed precision, e.g. AMX on
  recent Xeons); the trainer uses it with ``catuvac-train --precision bf16`` (default fp32).

Each variant: ``warmup`` steps discarded, then the median of ``steps`` timed steps. The JSON
carries units, torch version, thread count and the CPU model.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any, Sequence

import torch

from catuvac.runtime.cli_wrapper import cli_entry
from catuvac.runtime.fileio import atomic_write_json
from catuvac.runtime.frontend import FrontEndConfig

from .model import ModelConfig, build_model

__all__ = ["bench_step", "run_benchmark", "main", "TARGET_SAMPLES_PER_S"]

TARGET_SAMPLES_PER_S = 150.0  # acceptance: 4-s windows, batch 32, 2 CPU cores


def cpu_model() -> str:
    from catuvac.runtime.machine import cpu_info

    return str(cpu_info()["cpu"])


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_step(
    window_seconds: float,
    batch: int = 32,
    device: str = "cpu",
    channels_last: bool = True,
    flush_denormal: bool = True,
    autocast_bf16: bool = False,
    input_scale: float = 1.0,
    steps: int = 5,
    warmup: int = 2,
    n_clusters: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    """Median time of one full training step; returns a result row (samples/s, step seconds)."""
    dev = torch.device(device)
    fe = FrontEndConfig.scenes(window_seconds=window_seconds)
    cfg = ModelConfig(n_clusters=n_clusters, n_features=fe.n_features, n_frames=fe.window_frames)
    torch.manual_seed(seed)
    prev_flush = torch.set_flush_denormal(flush_denormal)
    model = build_model(cfg).to(dev)
    cl = channels_last and dev.type == "cpu"
    if cl:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=5e-4, fused=True)
    x = torch.rand(batch, 1, cfg.n_features, cfg.n_frames, device=dev) * input_scale
    if cl:
        x = x.contiguous(memory_format=torch.channels_last)
    mask = torch.ones(batch, cfg.n_frames, device=dev)
    model.train()
    times: list[float] = []
    try:
        for i in range(warmup + steps):
            _sync(dev)
            t0 = time.perf_counter()
            if autocast_bf16:
                with torch.autocast(dev.type, dtype=torch.bfloat16):
                    out = model(x, tau=1.0)
                from .model import cat_uvac_loss

                loss = cat_uvac_loss({k: v.float() for k, v in out.items()}, x, mask, 2.0)["loss"]
            else:
                loss = model.step_loss(x, mask, 2.0, 1.0)["loss"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            _sync(dev)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    finally:
        torch.set_flush_denormal(prev_flush)
    med = statistics.median(times)
    return {
        "device": dev.type,
        "window_s": window_seconds,
        "input": [cfg.n_features, cfg.n_frames],
        "batch": batch,
        "channels_last": cl,
        "flush_denormal": flush_denormal,
        "bf16_autocast": autocast_bf16,
        "input_scale": input_scale,
        "steps": steps,
        "step_s_median": med,
        "step_s_min": min(times),
        "samples_per_s": batch / med,
    }


def run_benchmark(
    windows: Sequence[float] = (4.0, 10.0),
    batch: int = 32,
    devices: Sequence[str] | None = None,
    steps: int = 5,
    warmup: int = 2,
    variants: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """All rows plus a summary (target check, channels_last and denormal ratios)."""
    if devices is None:
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    plan: list[tuple[str, dict[str, Any]]] = []
    for dev in devices:
        for w in windows:
            plan.append(("default", dict(window_seconds=w, device=dev)))
            if dev == "cpu" and variants:
                plan.append(("nchw", dict(window_seconds=w, device=dev, channels_last=False)))
                if w == windows[0]:
                    plan.append(("denormal_off", dict(window_seconds=w, device=dev, flush_denormal=False)))
                    plan.append(("denormal_input_on", dict(window_seconds=w, device=dev, input_scale=1e-39)))
                    plan.append(("denormal_input_off", dict(window_seconds=w, device=dev, input_scale=1e-39, flush_denormal=False)))
                    plan.append(("bf16_autocast", dict(window_seconds=w, device=dev, autocast_bf16=True)))
    rows = []
    # one untimed default case first: oneDNN builds its kernels (and the allocator warms up) on
    # first use, which otherwise lands in whichever case happens to run first
    for dev in devices:
        bench_step(windows[0], batch=batch, device=dev, steps=1, warmup=2)
    it: Any = plan
    if progress:
        from tqdm import tqdm

        it = tqdm(plan, desc="bench", unit="case", file=sys.stderr)
    for name, kw in it:
        s = steps if kw["window_seconds"] <= 4.0 else max(2, steps - 2)
        row = bench_step(batch=batch, steps=s, warmup=warmup, **kw)
        row["variant"] = name
        rows.append(row)

    def find(variant: str, w: float, dev: str = "cpu") -> dict[str, Any] | None:
        return next((r for r in rows if r["variant"] == variant and r["window_s"] == w and r["device"] == dev), None)

    summary: dict[str, Any] = {}
    w0 = windows[0]
    d = find("default", 4.0)
    if d is not None:
        summary["cpu_4s_samples_per_s"] = d["samples_per_s"]
        summary["target_samples_per_s"] = TARGET_SAMPLES_PER_S
        summary["target_met"] = d["samples_per_s"] >= TARGET_SAMPLES_PER_S
    d10 = find("default", 10.0)
    if d10 is not None:
        summary["cpu_10s_samples_per_s"] = d10["samples_per_s"]
    for label, a, b in (
        ("channels_last_speedup", "default", "nchw"),
        ("flush_on_over_off", "default", "denormal_off"),
        ("denormal_input_flush_on_over_off", "denormal_input_on", "denormal_input_off"),
        ("bf16_autocast_over_fp32", "bf16_autocast", "default"),
    ):
        ra, rb = find(a, w0), find(b, w0)
        if ra is not None and rb is not None:
            summary[label] = ra["samples_per_s"] / rb["samples_per_s"]
    if torch.cuda.is_available():
        for w in windows:
            g = find("default", w, "cuda")
            if g is not None:
                summary[f"cuda_{w:g}s_samples_per_s"] = g["samples_per_s"]
    return {
        "benchmark": "catuvac training step (forward + eq. 7 loss + backward + Adam)",
        "units": {"samples_per_s": "samples/s", "step_s_median": "s", "step_s_min": "s", "window_s": "s", "input": "mel bins × frames"},
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "mkldnn_enabled": torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled,
        "load_average_1m": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "results": rows,
        "summary": summary,
    }


@cli_entry("python -m catuvac.training.bench_train")
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m catuvac.training.bench_train", description=__doc__.split("\n\n")[0])
    p.add_argument("--json", dest="json_out", default=None, help="write the results here (JSON)")
    p.add_argument("--windows", type=float, nargs="+", default=[4.0, 10.0], help="window lengths in s (default 4 10)")
    p.add_argument("--batch", type=int, default=32, help="batch size (default 32)")
    p.add_argument("--steps", type=int, default=5, help="timed steps per case (default 5; 10-s windows use 2 fewer)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    p.add_argument("--device", choices=("cpu", "cuda", "all"), default="all", help="all = cpu and cuda if present")
    p.add_argument("--no-variants", dest="variants", action="store_false", help="only the default configuration")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    a = p.parse_args(argv)
    if a.batch < 1 or a.steps < 1 or a.warmup < 0 or any(w <= 0 for w in a.windows):
        p.error("--batch and --steps must be ≥ 1, --warmup ≥ 0, windows > 0")
    if a.device == "cuda" and not torch.cuda.is_available():
        print("bench_train: error: --device cuda but no CUDA device is available", file=sys.stderr)
        return 2
    devices = None if a.device == "all" else [a.device]
    res = run_benchmark(a.windows, a.batch, devices, a.steps, a.warmup, a.variants, a.progress)
    for r in res["results"]:
        print(f"{r['device']:4s} {r['window_s']:4g} s  {r['variant']:20s} {r['samples_per_s']:8.1f} samples/s  (step {r['step_s_median'] * 1e3:.0f} ms)")
    for k, v in res["summary"].items():
        print(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}")
    if a.json_out:
        path = atomic_write_json(a.json_out, res)
        print(f"written {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
