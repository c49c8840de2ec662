"""``catuvac-bench``: the figures an edge engineer asks for, measured on this machine in one run.

- decision latency p50/p95/p99 of PyTorch fp32 eager (when a checkpoint and torch are there),
  ONNX Runtime fp32 and ONNX Runtime int8, for the model's window, on real log-mel windows
  of the built-in "day" recording, all on the same number of threads (1 unless asked);
- front-end cost per hop, DSP cost per block and the whole-chain real-time factor (the
  firmware simulation with the clusterer embedded, on the "day" recording);
- model bytes, parameter count and multiply-accumulates per decision, counted from the ONNX
  graph (Conv, ConvTranspose, MatMul, Gemm nodes with inferred shapes), not typed in;
- with ``--map``, the profile-level decision figures on the day recording
  (:mod:`catuvac.runtime.scoring`), and the cluster-level research figures either way;
- with ``--days N``, instead of all the above, decision quality on N long built-in days;
- peak memory (max RSS) of this process.

Every figure is stored with its unit, plus the machine it ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from catuvac.runtime.cli_wrapper import cli_entry
from catuvac.runtime.errors import CatuvacError
from catuvac.runtime.fileio import atomic_savefig, atomic_write_json, file_sha256

__all__ = ["main", "graph_stats", "latency_percentiles", "machine_info", "run_bench"]



class BenchError(CatuvacError):
    """A model, checkpoint or day recording the benchmark cannot use."""


# --------------------------------------------------------------------------- graph accounting
def _infer_shapes(model: Any, shape_inference: Any) -> Any:
    """Shapes of every value: ONNX Runtime's symbolic inference first (it follows shapes computed
    at run time, e.g. Reshape targets from Shape/Gather, as the incremental graph's GRU input
    projection has), ONNX's own inference when that fails."""
    try:
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

        return SymbolicShapeInference.infer_shapes(model, auto_merge=True)
    except Exception:  # an op the symbolic inference does not know: fall back
        return shape_inference.infer_shapes(model)


def graph_stats(path: str | os.PathLike, fixed_dims: dict[str, int] | None = None) -> dict[str, Any]:
    """Parameters, weight bytes and MACs per inference counted from an ONNX graph.

    MACs: Conv = output elements × (C_in / groups) × kernel area; ConvTranspose = input
    elements × (C_out / groups) × kernel area; MatMul = output elements × inner dimension;
    Gemm = M × N × K. Elementwise ops, softmax and argmax are not multiply-accumulates.
    For a QDQ (int8) graph the weight initializers are int8 and are dequantized in front of
    the same ops, so its MACs equal the fp32 graph's. ``fixed_dims``: values for named dynamic
    input dimensions (the incremental graph's ``new_frames``).
    """
    import onnx
    from onnx import numpy_helper, shape_inference

    model = onnx.load(os.fspath(path))
    for vi in model.graph.input:
        for d in vi.type.tensor_type.shape.dim:
            if d.HasField("dim_param") and d.dim_param in (fixed_dims or {}):
                d.dim_value = int((fixed_dims or {})[d.dim_param])
    g = _infer_shapes(model, shape_inference).graph
    shapes: dict[str, list[int]] = {}
    for vi in list(g.value_info) + list(g.input) + list(g.output):
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in vi.type.tensor_type.shape.dim]
        shapes[vi.name] = dims
    inits = {t.name: t for t in g.initializer}
    for name, t in inits.items():
        shapes[name] = list(t.dims)
    # values produced by DequantizeLinear(int8 weight) have the weight's shape
    for node in g.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in shapes:
            shapes.setdefault(node.output[0], shapes[node.input[0]])

    def shp(name: str) -> list[int] | None:
        s = shapes.get(name)
        return s if s and all(d > 0 for d in s) else None

    macs = 0
    per_op: dict[str, int] = {}
    unknown: list[str] = []
    for node in g.node:
        op = node.op_type
        n = 0
        if op in ("Conv", "ConvTranspose"):
            # weight dim 1 is already per group: C_in/groups (Conv) or C_out/groups (ConvTranspose)
            w = shp(node.input[1])
            ref = shp(node.output[0]) if op == "Conv" else shp(node.input[0])
            if w is None or ref is None:
                unknown.append(node.name or op)
                continue
            n = int(np.prod(ref)) * w[1] * int(np.prod(w[2:]))
        elif op == "MatMul":
            a, out = shp(node.input[0]), shp(node.output[0])
            if a is None or out is None:
                unknown.append(node.name or op)
                continue
            n = int(np.prod(out)) * a[-1]
        elif op == "Gemm":
            a, out = shp(node.input[0]), shp(node.output[0])
            trans_a = next((x.i for x in node.attribute if x.name == "transA"), 0)
            if a is None or out is None:
                unknown.append(node.name or op)
                continue
            k = a[0] if trans_a else a[-1]
            n = int(np.prod(out)) * k
        if n:
            macs += n
            per_op[op] = per_op.get(op, 0) + n
    params = 0
    weight_bytes = 0
    for t in g.initializer:
        arr = numpy_helper.to_array(t)
        # parameters: float / 8-bit weight tensors; scalars and integer shape constants are not
        if arr.ndim >= 1 and arr.size > 1 and arr.dtype.kind in "fiu" and arr.dtype not in (np.int64, np.int32):
            params += int(arr.size)
        weight_bytes += int(arr.nbytes)
    return {
        "macs_per_decision": int(macs),
        "macs_by_op": per_op,
        "ops_with_unknown_shape": unknown,
        "params": int(params),
        "initializer_bytes": int(weight_bytes),
        "file_bytes": int(os.path.getsize(path)),
    }


def latency_percentiles(samples_ms: list[float]) -> dict[str, Any]:
    a = np.asarray(samples_ms, dtype=float)
    return {
        "p50": float(np.percentile(a, 50)),
        "p95": float(np.percentile(a, 95)),
        "p99": float(np.percentile(a, 99)),
        "mean": float(a.mean()),
        "n": int(len(a)),
        "unit": "ms",
    }


def _time_calls(fn: Callable[[int], Any], n: int, warmup: int) -> list[float]:
    for i in range(warmup):
        fn(i)
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def machine_info(threads: int) -> dict[str, Any]:
    from catuvac.runtime.machine import cpu_info

    cpu = cpu_info()
    import onnxruntime as ort

    info: dict[str, Any] = {
        "cpu": cpu["cpu"],
        "cores": os.cpu_count(),
        "threads_used": threads,
        "vnni": cpu["vnni"],
        "avx512": cpu["avx512f"],
        "amx_bf16": cpu["amx_bf16"],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "onnxruntime": ort.__version__,
    }
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        info["torch"] = None
    return info


def _sibling_models(model: Path) -> dict[str, Path]:
    """The fp32 and int8 files next to the given one (export writes both into one folder)."""
    d = model.parent
    found = {}
    for name, key in (("encoder.onnx", "fp32"), ("encoder.int8.onnx", "int8")):
        if (d / name).exists():
            found[key] = d / name
    if not found:
        found["int8" if "int8" in model.name else "fp32"] = model
    return found


def _day_windows(model_path: Path, day_wav: Path, n: int) -> tuple[np.ndarray, Any]:
    """Real normalized windows from the day recording, as the runtime would feed them."""
    from catuvac.runtime.audio import load_audio
    from catuvac.runtime.frontend import FrontEnd, normalize_window
    from catuvac.runtime.modelmeta import read_model_info

    info = read_model_info(model_path)
    fe = FrontEnd(info.frontend)
    feats = fe.features(load_audio(day_wav, info.frontend.sample_rate))
    w = info.window_frames
    if feats.shape[1] < w:
        raise BenchError(f"{day_wav}: shorter than the model's {info.window_seconds}-s window")
    starts = np.linspace(0, feats.shape[1] - w, num=min(n, feats.shape[1] - w + 1)).astype(int)
    wins = np.stack([normalize_window(feats[:, s : s + w], info.frontend) for s in starts])
    return wins[:, None].astype(np.float32), info


def run_bench(
    model: str | os.PathLike,
    checkpoint: str | os.PathLike | None = None,
    day_dir: str | os.PathLike | None = None,
    threads: int = 1,
    iterations: int = 200,
    warmup: int = 10,
    simulate: bool = True,
    progress: bool = True,
    profile_map: str | os.PathLike | None = None,
) -> dict[str, Any]:
    from catuvac.runtime.clusterer import SceneClusterer
    from catuvac.runtime.modelmeta import ort_session
    from catuvac.runtime.scoring import load_scene_profiles, score_run
    from catuvac.runtime.timeline import load_truth

    model = Path(model)
    if not model.exists():
        raise BenchError(f"{model}: model not found; export one with `catuvac-export --checkpoint CKPT --out DIR --int8`")
    if day_dir is None:
        from catuvac.training.scenes import builtin_scenes_dir

        day_dir = builtin_scenes_dir()
    day_dir = Path(day_dir)
    from catuvac.training.scenes import day_files

    day_wav, day_json = day_files(day_dir)
    if not day_wav.exists() or not day_json.exists():
        raise BenchError(f"{day_dir}: no days/day.wav + days/day.json; generate them with `catuvac-scenes --out DIR`")

    def log(msg: str) -> None:
        if progress:
            print(f"[bench] {msg}", file=sys.stderr, flush=True)

    models = _sibling_models(model)
    wins, info = _day_windows(model, day_wav, 64)
    res: dict[str, Any] = {"machine": machine_info(threads), "model": str(model), "window_seconds": info.window_seconds,
                           "window_frames": info.window_frames, "n_clusters": info.n_clusters}

    # ---- decision latency: one decision = one ONNX / torch call on a full window
    lat: dict[str, Any] = {}
    raw_ms: dict[str, list[float]] = {}
    for key in ("fp32", "int8"):
        if key not in models:
            continue
        sess = ort_session(models[key], threads)
        name = sess.get_inputs()[0].name
        log(f"ORT {key}: {iterations} decisions")
        ms = _time_calls(lambda i: sess.run(None, {name: wins[i % len(wins)][None]}), iterations, warmup)
        raw_ms[f"ort_{key}"] = ms
        lat[f"ort_{key}"] = latency_percentiles(ms)
    if checkpoint is not None:
        try:
            import torch

            from catuvac.training.checkpoint import load_checkpoint
        except ImportError:
            log("torch not installed: PyTorch latency skipped")
        else:
            torch.set_num_threads(threads)
            torch.set_flush_denormal(True)
            ck = load_checkpoint(checkpoint, expect_type="cat_uvac")
            if info.checkpoint_sha256 and file_sha256(ck.path) != info.checkpoint_sha256:
                raise BenchError(f"{checkpoint} is not the checkpoint {model} was exported from (SHA-256 differs from the "
                                 "model's metadata); pass the matching --checkpoint, or none")
            m = ck.model.eval()
            tw = torch.from_numpy(wins)
            if tw.shape[-1] != ck.model_config.n_frames:
                log("checkpoint window differs from the model's: PyTorch latency skipped")
            else:
                log(f"PyTorch fp32 eager: {iterations} decisions")
                with torch.no_grad():
                    ms = _time_calls(lambda i: m.logits(tw[i % len(tw)][None]).argmax(1), iterations, warmup)
                raw_ms["torch_fp32"] = ms
                lat["torch_fp32"] = latency_percentiles(ms)
    res["decision_latency_ms"] = lat
    ratios = {}
    if "torch_fp32" in lat:
        for key in ("ort_fp32", "ort_int8"):
            if key in lat:
                ratios[f"{key}_speedup_vs_torch_fp32"] = lat["torch_fp32"]["p50"] / lat[key]["p50"]
    if "ort_fp32" in lat and "ort_int8" in lat:
        ratios["ort_int8_speedup_vs_ort_fp32"] = lat["ort_fp32"]["p50"] / lat["ort_int8"]["p50"]
    res["latency_ratios_p50"] = ratios

    # ---- model size and compute, from the graph
    res["model_bytes"] = {k: os.path.getsize(p) for k, p in models.items()}
    res["model_bytes"]["unit"] = "bytes"
    gs = graph_stats(models.get("fp32", model))
    res["macs_per_decision"] = gs["macs_per_decision"]
    res["params"] = gs["params"]
    res["int8_param_bytes"] = graph_stats(models["int8"])["initializer_bytes"] if "int8" in models else None
    res["graph"] = {k: v for k, v in gs.items() if k not in ("macs_per_decision", "params")}

    # ---- front-end cost per hop
    from catuvac.runtime.audio import load_audio
    from catuvac.runtime.frontend import FrontEnd

    audio = load_audio(day_wav, info.frontend.sample_rate)
    hop = info.frontend.hop_length
    stream = FrontEnd(info.frontend).stream()
    n_hops = min(len(audio) // hop, 4000)
    t0 = time.perf_counter()
    for i in range(n_hops):
        stream.process(audio[i * hop : (i + 1) * hop])
    fe_ms = (time.perf_counter() - t0) * 1e3 / max(n_hops, 1)
    res["frontend_ms_per_hop"] = {"value": fe_ms, "hop_ms": 1e3 * hop / info.frontend.sample_rate, "unit": "ms"}

    # ---- decisions on the day recording vs truth (the model given, default smoothing)
    log("replaying the day recording through the clusterer")
    clf = SceneClusterer(model, num_threads=threads, profile_map=profile_map)
    events = clf.process_file(day_wav)
    # profile figures with a map (what the wearer hears); the cluster-level ones for research either way
    score = score_run([e.time_s for e in events], [e.profile for e in events] if profile_map is not None else None,
                      [e.stable for e in events], load_truth(day_json), load_scene_profiles(),
                      raw=[e.cluster for e in events], duration_s=len(audio) / info.frontend.sample_rate)
    score.pop("switches", None)
    res["day_recording"] = score
    res["day_recording"]["decision_rule"] = clf.decision_rule
    res["decision_interval_s"] = clf.decision_interval_s
    res["macs_per_second_of_audio"] = gs["macs_per_decision"] / clf.decision_interval_s
    res["incremental"] = _incremental_figures(models, clf, events, day_wav, threads, iterations, warmup, profile_map, log)
    for key, v in res["incremental"].pop("latency_ms", {}).items():
        lat[key] = v

    # ---- whole chain: DSP + embedded clusterer
    if simulate:
        import tempfile

        from catuvac.firmware_sim.simulator import simulate as run_sim

        log("firmware simulation of the day recording (DSP + clusterer)")
        with tempfile.TemporaryDirectory() as tmp:
            rep = run_sim(day_wav, Path(tmp) / "out.wav", model_path=model, progress=progress)
        res["dsp_ms_per_block"] = {"p50": rep.get("dsp_ms_per_block_p50"), "p99": rep.get("dsp_ms_per_block_p99"),
                                   "block_ms": rep.get("block_ms"), "unit": "ms"}
        res["real_time_factor"] = rep.get("real_time_factor")
        res["algorithmic_delay_ms"] = rep.get("algorithmic_delay_ms")
        res["classifier_ms_p99"] = rep.get("classifier_ms_p99")
    res["peak_memory_mib"] = {"value": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, "unit": "MiB"}
    res["_raw_latency_ms"] = raw_ms
    return res


def _incremental_figures(models: dict[str, Path], clf: Any, events: list[Any], day_wav: Path, threads: int,
                         iterations: int, warmup: int, profile_map: Any, log: Callable[[str], None]) -> dict[str, Any]:
    """MACs (from the incremental graph), decision latency per incremental call and agreement of
    the day recording's decisions with full-window inference, when the model streams."""
    from catuvac.runtime.audio import load_audio
    from catuvac.runtime.clusterer import SceneClusterer
    from catuvac.runtime.frontend import FrontEnd, normalize_window
    from catuvac.runtime.incremental import IncrementalEncoder, stream_model_path
    from catuvac.runtime.modelmeta import read_model_info

    if not clf.incremental:
        return {"supported": False, "reason": "the model has no incremental graph (its metadata names none)"}
    step = clf.decision_frames
    out: dict[str, Any] = {"supported": True, "decision_frames": step, "latency_ms": {}}
    for key, path in models.items():
        info = read_model_info(path)
        spath = stream_model_path(path, info)
        if spath is None:
            continue
        if "macs_per_decision" not in out:
            stats = graph_stats(spath, {"new_frames": step})
            out.update({k: stats[k] for k in ("macs_per_decision", "macs_by_op", "ops_with_unknown_shape")})
            out["macs_per_second_of_audio"] = out["macs_per_decision"] / clf.decision_interval_s
        feats = normalize_window(FrontEnd(info.frontend).features(load_audio(day_wav, info.frontend.sample_rate)), info.frontend)
        enc = IncrementalEncoder(spath, info, threads)
        ends = list(range(info.window_frames, feats.shape[1] + 1, step))
        if len(ends) < 2:
            raise BenchError(f"{day_wav}: too short for two decisions of the model")
        log(f"ORT {key} incremental: {iterations} decisions")
        ms: list[float] = []
        for i in range(iterations + warmup):
            if i % (len(ends) - 1) == 0:  # a pass over the day starts with a whole window: not timed
                enc.reset()
                enc.decide(ends[0], feats[:, ends[0] - enc.first_frames : ends[0]])
            n = ends[1 + i % (len(ends) - 1)]
            t0 = time.perf_counter()
            enc.decide(n, feats[:, n - step : n])
            ms.append((time.perf_counter() - t0) * 1e3)
        out["latency_ms"][f"ort_{key}_incremental"] = latency_percentiles(ms[warmup:])
    ev_full = SceneClusterer(clf.model_path, num_threads=threads, profile_map=profile_map, incremental=False).process_file(day_wav)
    out["decision_agreement_with_full"] = float(np.mean([a.cluster == b.cluster for a, b in zip(events, ev_full)]))
    out["stable_agreement_with_full"] = float(np.mean([a.stable == b.stable for a, b in zip(events, ev_full)]))
    out["mac_saving"] = None if "macs_per_decision" not in out else graph_stats(clf.model_path)["macs_per_decision"] / out["macs_per_decision"]
    return out


def run_days(
    model: str | os.PathLike,
    n_days: int,
    minutes: float = 30.0,
    seeds: list[int] | None = None,
    profile_map: str | os.PathLike | None = None,
    checkpoint: str | os.PathLike | None = None,
    decision: str | None = None,
    scene_profiles: str | os.PathLike | None = None,
    threads: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Replay ``n_days`` built-in long days through the streaming clusterer (with the map, so
    decisions are pooled per profile) and score each with :mod:`catuvac.runtime.scoring`."""
    from catuvac.runtime.clusterer import SceneClusterer
    from catuvac.runtime.profiles_map import ProfileMap
    from catuvac.runtime.scoring import load_scene_profiles, score_profiles, summarize_days
    from catuvac.runtime.timeline import load_truth
    from catuvac.training.days import cached_day

    if seeds is None:
        seeds = [int(x) for x in np.random.default_rng().integers(1000, 1_000_000, n_days)]
    if len(seeds) != n_days:
        raise SystemExit(f"--day-seeds gives {len(seeds)} seeds for --days {n_days}")
    table = load_scene_profiles(scene_profiles)
    if profile_map is None:
        if checkpoint is None:
            raise SystemExit("--days needs a cluster → profile map: pass --map MAP.json (catuvac-map writes one) "
                             "or --checkpoint CKPT to fit one on its training split")
        from catuvac.training.mapfit import fit_map_from_checkpoint

        pmap: Any = fit_map_from_checkpoint(checkpoint, table, progress=progress)
    else:
        pmap = ProfileMap.load(profile_map)
    clf = SceneClusterer(model, profile_map=pmap, decision=decision, num_threads=threads)
    per_day = []
    for seed in seeds:
        d = cached_day(seed, minutes, progress)
        if progress:
            print(f"[bench] day seed {seed} ({minutes:g} min): replaying {d / 'day.wav'}", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        events = clf.process_file(d / "day.wav")
        wall = time.perf_counter() - t0
        sc = score_profiles([e.time_s for e in events], [e.profile for e in events], load_truth(d / "day.json"),
                            table, duration_s=clf.time_s)
        sc.update(seed=seed, day=str(d), replay_wall_s=wall)
        per_day.append(sc)
    return {
        "what": "profile-level decision quality on built-in long days (catuvac.runtime.scoring)",
        "model": str(model), "decision_rule": clf.decision_rule, "decision_config": vars(clf.decision_config),
        "map": clf.profile_map.as_dict() if clf.profile_map is not None else None,
        "day_minutes": minutes, "day_seeds": seeds,
        "summary": summarize_days(per_day),
        "days": per_day,
        "machine": machine_info(threads),
    }


def plot_latency(raw_ms: dict[str, list[float]], path: str | os.PathLike, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = [k for k in ("torch_fp32", "ort_fp32", "ort_int8") if k in raw_ms]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.violinplot([raw_ms[k] for k in order], showmedians=True)
    ax.boxplot([raw_ms[k] for k in order], widths=0.15, showfliers=False)
    ax.set_xticks(range(1, len(order) + 1), [k.replace("_", " ") for k in order])
    for i, k in enumerate(order, start=1):
        ax.annotate(f"p50 {np.median(raw_ms[k]):.2f} ms", (i, np.median(raw_ms[k])), xytext=(8, 0),
                    textcoords="offset points", fontsize=8)
    ax.set_ylabel("decision latency (ms)")
    ax.set_title(title or "Decision latency per window")
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=120)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="catuvac-bench",
        description="Measure decision latency (PyTorch / ORT fp32 / ORT int8), front-end, DSP and whole-chain cost, "
        "model size and MACs, and profile-switch behaviour on the built-in day recording. Writes JSON (with units).",
    )
    p.add_argument("--model", required=True, help="exported ONNX model (its fp32/int8 sibling in the same folder is measured too)")
    p.add_argument("--checkpoint", help="checkpoint.pt for the PyTorch fp32 eager figure (needs torch); with --days and no "
                   "--map: fit the cluster → profile map on its training split")
    p.add_argument("--json", required=True, help="output JSON file")
    p.add_argument("--days", type=int, help="instead of the latency figures: replay this many built-in long days and report "
                   "each decision-quality figure's mean and spread")
    p.add_argument("--day-minutes", type=float, default=30.0, help="with --days: minutes per day (default 30)")
    p.add_argument("--day-seeds", type=int, nargs="+", help="with --days: the days' seeds (default: drawn, recorded in the JSON)")
    p.add_argument("--map", help="cluster → profile map (catuvac-map): the day recording (or --days) is scored at the "
                   "profile level; without it the short day gets only the research cluster figures")
    p.add_argument("--decision", choices=("hmm", "fixed-lag", "ema"), help="with --days: decision rule (default: the runtime's)")
    p.add_argument("--scene-profiles", help="with --days: scene label → profile table (default: the shipped one)")
    p.add_argument("--plot", help="PNG with the latency distributions side by side")
    p.add_argument("--day", help="corpus folder with days/day.wav and days/day.json (default: the built-in scenes corpus)")
    p.add_argument("--threads", type=int, default=1, help="threads for ORT and torch (default 1, as on a device)")
    p.add_argument("--iterations", type=int, default=200, help="timed decisions per engine (default 200)")
    p.add_argument("--no-sim", action="store_true", help="skip the whole-chain firmware simulation")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    return p


def _days_main(args: argparse.Namespace) -> int:
    from catuvac.firmware_sim.profiles import ProfileError
    from catuvac.runtime.decisions import DecisionError
    from catuvac.runtime.profiles_map import ProfileMapError
    from catuvac.runtime.scoring import ScoringError

    USER_ERRORS = (ProfileMapError, ScoringError, DecisionError, ProfileError, ValueError, OSError)
    if args.days < 1 or not (1.0 <= args.day_minutes <= 180.0):
        print("catuvac-bench: --days must be ≥ 1 and --day-minutes in [1, 180]", file=sys.stderr)
        return 2
    try:
        res = run_days(args.model, args.days, args.day_minutes, args.day_seeds, args.map, args.checkpoint,
                       args.decision, args.scene_profiles, args.threads, progress=not args.quiet)
    except SystemExit as e:
        if isinstance(e.code, str):
            print(f"catuvac-bench: {e.code}", file=sys.stderr)
            return 2
        raise
    except USER_ERRORS as e:
        print(f"catuvac-bench: error: {e}", file=sys.stderr)
        return 2
    from catuvac.runtime.fileio import atomic_write_json

    atomic_write_json(args.json, res)
    s = res["summary"]
    print(f"wrote {args.json}: {s['n_days']} day(s) of {args.day_minutes:g} min (seeds {res['day_seeds']}), "
          f"rule {res['decision_rule']!r}")
    for k in ("profile_accuracy", "switch_delay_median_s", "switch_delay_p90_s", "spurious_switches_per_hour"):
        v = s[k]
        print(f"  {k:28s} mean {v['mean']:.3f}  std {v['std']:.3f}  min {v['min']:.3f}  max {v['max']:.3f}"
              if v["mean"] is not None else f"  {k:28s} –")
    print(f"  missed changes {s['missed_changes_total']}, transient switches {s['transient_switches_total']} (all days)")
    return 0


@cli_entry("catuvac-bench")
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads < 1 or args.iterations < 1:
        print("catuvac-bench: --threads and --iterations must be ≥ 1", file=sys.stderr)
        return 2
    if args.days is not None:
        return _days_main(args)
    try:
        res = run_bench(args.model, args.checkpoint, args.day, args.threads, args.iterations,
                        simulate=not args.no_sim, progress=not args.quiet, profile_map=args.map)
    except SystemExit as e:
        if isinstance(e.code, str):
            print(f"catuvac-bench: {e.code}", file=sys.stderr)
            return 2
        raise
    raw = res.pop("_raw_latency_ms")
    out = atomic_write_json(args.json, res)
    if args.plot:
        plot_latency(raw, args.plot, title=f"Decision latency, {res['window_seconds']:.0f}-s window, "
                     f"{args.threads} thread(s), {res['machine']['cpu'][:40]}")
    lat = res["decision_latency_ms"]
    print(f"wrote {out}")
    for k, v in lat.items():
        print(f"  {k:11s} p50 {v['p50']:.2f} ms  p95 {v['p95']:.2f} ms  p99 {v['p99']:.2f} ms")
    print(f"  MACs/decision {res['macs_per_decision'] / 1e6:.1f} M, params {res['params'] / 1e6:.2f} M")
    inc = res["incremental"]
    if inc["supported"]:
        print(f"  incremental: MACs/decision {inc['macs_per_decision'] / 1e6:.2f} M ({inc['mac_saving']:.2f}x fewer), "
              f"decisions identical to full-window {100 * inc['decision_agreement_with_full']:.1f} %")
    from catuvac.runtime.scoring import describe

    print(f"  day recording: {describe(res['day_recording'])}")
    if "real_time_factor" in res:
        print(f"  real-time factor (DSP + clusterer) {res['real_time_factor']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
