"""Decision latency of h on one thread: PyTorch fp32 eager vs ONNX Runtime fp32 vs ONNX Runtime int8.

``python -m catuvac.export.bench_latency --checkpoint CKPT --json OUT.json``

For each window length (default 4 s and 10 s) the checkpoint's h is exported twice (fp32 and
int8, exactly as ``catuvac-export`` does: same module, same quantization) into a temporary
folder. The h weights do not depend on the window length (the GRU runs over however many steps
the convolutions give), so a 10-s model of a 4-s checkpoint has the same weights; it is built
for timing only (``catuvac-export`` refuses windows longer than the trained one).

One "decision" = one normalized window in → cluster id and q(y|x) out:

- PyTorch: ``model.logits`` (eval, ``no_grad``, the original un-fused module) + softmax + argmax;
- ONNX Runtime: one ``session.run`` of the exported graph (1 intra-op, 1 inter-op thread).

The three engines are timed **interleaved** (one call of each per round, in rotating order),
so a background load on a shared machine slows all three alike and the ratios stay fair.
The input windows are real: synthesized built-in scenes through the real front-end.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from catuvac.runtime.cli_wrapper import cli_entry
from catuvac.runtime.fileio import atomic_write_json
from catuvac.runtime.frontend import FrontEndConfig

__all__ = ["cpu_flags", "scene_windows", "bench_latency", "main"]

DEFAULT_WINDOWS = (4.0, 10.0)  # the paper's windows: 4 s (US8K, scenes) and 10 s (TAU2019)
TARGET_SPEEDUP = 2.5  # the project's target: int8 ≥ 2.5× faster than PyTorch fp32


def cpu_flags() -> dict[str, Any]:
    """CPU model and the int8 dot-product extensions (VNNI): see :func:`catuvac.runtime.machine.cpu_info`."""
    from catuvac.runtime.machine import cpu_info

    return cpu_info()


def scene_windows(frontend: FrontEndConfig, n_per_class: int = 2, seed: int = 0) -> np.ndarray:
    """Normalized windows (N, F, T) of synthesized built-in scenes (real audio → real front-end)."""
    from catuvac.runtime.frontend import FrontEnd, normalize_window
    from catuvac.training.scenes import SCENE_CLASSES, synthesize_scene

    fe = FrontEnd(frontend)
    rng = np.random.default_rng(seed)
    out = []
    for label in SCENE_CLASSES:
        for _ in range(n_per_class):
            audio = synthesize_scene(label, frontend.window_seconds, rng, frontend.sample_rate)
            feats = fe.features(audio)[:, : frontend.window_frames]
            out.append(normalize_window(feats, frontend))
    return np.stack(out).astype(np.float32)


def _stats(ts: list[float]) -> dict[str, float]:
    a = np.asarray(ts) * 1e3
    return {
        "p50_ms": float(np.percentile(a, 50)),
        "p95_ms": float(np.percentile(a, 95)),
        "p99_ms": float(np.percentile(a, 99)),
        "mean_ms": float(a.mean()),
        "min_ms": float(a.min()),
        "n": int(a.size),
    }


def bench_latency(
    checkpoint: str | os.PathLike,
    windows: Sequence[float] = DEFAULT_WINDOWS,
    repeats: int = 300,
    warmup: int = 30,
    models_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Time the three engines for each window length; return the report dict."""
    import torch

    from .exporter import ExportError, _checkpoint

    if repeats < 10 or warmup < 0:
        raise ExportError(f"need repeats ≥ 10 and warmup ≥ 0, got {repeats}, {warmup}")
    ck = _checkpoint(checkpoint)
    threads_before = torch.get_num_threads()
    torch.set_num_threads(1)  # restored at the end: a library call must not slow the caller down
    try:
        return _bench(ck, torch, windows, repeats, warmup, models_dir, progress)
    finally:
        torch.set_num_threads(threads_before)


def _bench(ck: Any, torch: Any, windows: Sequence[float], repeats: int, warmup: int, models_dir: Any, progress: bool) -> dict[str, Any]:
    import dataclasses

    from catuvac.runtime.modelmeta import INPUT_NAME, ModelInfo
    from catuvac.training.checkpoint import file_sha256

    from .exporter import export_onnx, ort_session, quantize_int8
    from .graph import HEncoderExport

    model = ck.model.eval()
    sha = file_sha256(ck.path)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    results: dict[str, Any] = {}
    tmp_ctx = tempfile.TemporaryDirectory(prefix="catuvac-bench.") if models_dir is None else None
    mdir = Path(tmp_ctx.name if tmp_ctx is not None else models_dir)  # type: ignore[arg-type]
    mdir.mkdir(parents=True, exist_ok=True)
    try:
        for seconds in windows:
            fe = dataclasses.replace(ck.frontend, window_seconds=float(seconds))
            T = fe.window_frames
            _log(progress, f"{seconds:g}-s window ({T} frames): exporting fp32 + int8")
            data = scene_windows(fe, n_per_class=2, seed=0)
            module = HEncoderExport(model)
            info = ModelInfo(fe, fe.window_seconds, T, ck.model_config.n_clusters, checkpoint_sha256=sha)
            p32 = mdir / f"encoder_{seconds:g}s.onnx"
            p8 = mdir / f"encoder_{seconds:g}s.int8.onnx"
            export_onnx(module, fe.n_features, T, p32, dataclasses.replace(info, precision="fp32").to_props())
            props8 = dataclasses.replace(info, precision="int8").to_props()
            float_nodes = quantize_int8(p32, p8, data, "minmax", props8, float_first_conv=True)  # exporter default
            p8f = mdir / f"encoder_{seconds:g}s.int8_fully.onnx"
            quantize_int8(p32, p8f, data, "minmax", props8, float_first_conv=False)  # catuvac-export --fully-int8
            s32, s8, s8f = ort_session(p32, threads=1), ort_session(p8, threads=1), ort_session(p8f, threads=1)
            x = data[0][None, None]
            xt = torch.from_numpy(x)

            def run_torch() -> Any:
                with torch.no_grad():
                    logits = model.logits(torch.from_numpy(x))
                    return logits.argmax(dim=1), torch.softmax(logits, dim=1)

            engines = {
                "torch_fp32": run_torch,
                "ort_fp32": lambda: s32.run(None, {INPUT_NAME: x}),
                "ort_int8": lambda: s8.run(None, {INPUT_NAME: x}),
                "ort_int8_fully": lambda: s8f.run(None, {INPUT_NAME: x}),
            }
            # same decision from all three on this input (a cheap sanity check of what is timed)
            with torch.no_grad():
                ref = int(model.logits(xt).argmax())
            ids = {k: int(np.asarray(f()[0]).reshape(-1)[0]) for k, f in engines.items()}
            for _ in range(warmup):
                for f in engines.values():
                    f()
            times: dict[str, list[float]] = {k: [] for k in engines}
            names = list(engines)
            it = range(repeats)
            if progress:
                from tqdm import tqdm

                it = tqdm(it, desc=f"{seconds:g}-s latency", unit="round", file=sys.stderr, leave=False, dynamic_ncols=True)
            for r in it:
                order = names[r % len(names) :] + names[: r % len(names)]  # rotate: no engine always runs first (cache state)
                for k in order:
                    f = engines[k]
                    t0 = time.perf_counter()
                    f()
                    times[k].append(time.perf_counter() - t0)
            stats = {k: _stats(v) for k, v in times.items()}
            t50 = stats["torch_fp32"]["p50_ms"]
            results[f"{seconds:g}s"] = {
                "window_seconds": float(seconds),
                "window_frames": T,
                "input_shape": [1, 1, fe.n_features, T],
                **stats,
                "speedup_int8_vs_torch": t50 / stats["ort_int8"]["p50_ms"],
                "speedup_ort_fp32_vs_torch": t50 / stats["ort_fp32"]["p50_ms"],
                "speedup_int8_vs_ort_fp32": stats["ort_fp32"]["p50_ms"] / stats["ort_int8"]["p50_ms"],
                "speedup_int8_fully_vs_torch": t50 / stats["ort_int8_fully"]["p50_ms"],
                "meets_target": t50 / stats["ort_int8"]["p50_ms"] >= TARGET_SPEEDUP,
                "fp32_bytes": p32.stat().st_size,
                "int8_bytes": p8.stat().st_size,
                "int8_float_nodes": float_nodes,
                "decision_on_bench_input": {"torch_reference": ref, **ids},
            }
            r_ = results[f"{seconds:g}s"]
            _log(
                progress,
                f"{seconds:g} s: p50 torch {t50:.3f} ms, ORT fp32 {stats['ort_fp32']['p50_ms']:.3f} ms, "
                f"ORT int8 {stats['ort_int8']['p50_ms']:.3f} ms → int8 {r_['speedup_int8_vs_torch']:.2f}× faster than PyTorch",
            )
    finally:
        if tmp_ctx is not None:
            tmp_ctx.cleanup()
    import onnxruntime

    return {
        "benchmark": "decision latency of h (window → cluster id + q(y|x)), batch 1",
        "checkpoint": str(ck.path),
        "checkpoint_sha256": sha,
        "n_clusters": ck.model_config.n_clusters,
        "threads": {
            "torch_intra_op": torch.get_num_threads(),
            "torch_inter_op": torch.get_num_interop_threads(),  # unused by one eager forward pass
            "ort_intra_op": 1,
            "ort_inter_op": 1,
        },
        "repeats": repeats,
        "warmup": warmup,
        "timing": "interleaved round-robin, rotating order; time.perf_counter around one call",
        "target_speedup_int8_vs_torch": TARGET_SPEEDUP,
        "windows": results,
        "machine": {
            **cpu_flags(),
            "platform": platform.platform(),
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg() if hasattr(os, "getloadavg") else None,
        },
        "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__, "python": platform.python_version()},
    }


def _log(progress: bool, msg: str) -> None:
    if progress:
        print(f"bench_latency: {msg}", file=sys.stderr, flush=True)


@cli_entry("python -m catuvac.export.bench_latency")
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m catuvac.export.bench_latency",
        description="Decision latency (1 thread) of PyTorch fp32 eager, ONNX Runtime fp32 and ONNX Runtime int8 "
        "for the h-encoder of a checkpoint, at 4-s and 10-s windows.",
    )
    p.add_argument("--checkpoint", required=True, help="a cat_uvac checkpoint")
    p.add_argument("--json", required=True, help="where to write the JSON report")
    p.add_argument("--windows", type=float, nargs="+", default=list(DEFAULT_WINDOWS), help="window lengths in seconds (default 4 10)")
    p.add_argument("--repeats", type=int, default=300, help="timed rounds per window (default 300: stable p99)")
    p.add_argument("--warmup", type=int, default=30, help="untimed rounds first (default 30)")
    p.add_argument("--keep-models", metavar="DIR", default=None, help="keep the exported models in DIR")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    from .exporter import ExportError

    try:
        report = bench_latency(args.checkpoint, args.windows, args.repeats, args.warmup, args.keep_models, not args.quiet)
    except ExportError as e:
        print(f"bench_latency: error: {e}", file=sys.stderr)
        return 2
    out = atomic_write_json(args.json, report)
    print(f"{'window':>7} {'torch p50':>10} {'ort32 p50':>10} {'int8 p50':>10} {'int8 p99':>10} {'int8/torch':>10} {'int8*/torch':>11}")
    for k, r in report["windows"].items():
        print(
            f"{k:>7} {r['torch_fp32']['p50_ms']:10.3f} {r['ort_fp32']['p50_ms']:10.3f} {r['ort_int8']['p50_ms']:10.3f} "
            f"{r['ort_int8']['p99_ms']:10.3f} {r['speedup_int8_vs_torch']:9.2f}× {r['speedup_int8_fully_vs_torch']:10.2f}×"
        )
    print("int8 = catuvac-export's default (first conv, 4 KB, in float); int8* = catuvac-export --fully-int8")
    print(f"VNNI: {report['machine']['vnni']}  ({report['machine']['cpu']}); report → {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
