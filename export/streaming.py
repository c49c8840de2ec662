"""Incremental inference: the streaming ONNX graph of a streaming-built h, and what the same
trick gives the paper model.

**Exact form (``arch="device"``).** The encoder's convolutions are unpadded along time and
read the window's last :func:`~catuvac.training.model.streaming_crop` frames, so the GRU input
sequence of a window is the last ``T'`` vectors of one stream of convolution outputs that never
needs recomputing (google-research ``kws_streaming``'s "external state" mode). The streaming
graph (:class:`StreamingHEncoder`, silero-vad style) takes

- ``frames`` (1, 1, F, n): the normalized frames new since the previous call, ``n`` a
  multiple of the total time stride S (dynamic axis);
- ``state0 … state{L−1}``: each convolution's last ``kernel − stride`` input frames;
- ``sequence`` (1, T', 3H): the first GRU layer's input projections (W_ih·x + b) of the
  previous call's window — each step's depends on that step's input alone, so only new steps
  are projected;

and returns ``cluster_id``, ``probs`` (as the full-window graph) and the updated states
(``*_out``). Each layer computes only its new outputs (``Concat(state, x) → Conv → Slice``);
the GRU's recurrence re-runs over the cached projections (its state of a sliding window cannot
be carried), the input projection only for the new steps.
A stream starts at frame ``W mod S`` (W = window frames) with zero states: the first call
feeds ``W − W mod S`` frames, later calls the frames since the previous one; the result is the
full-window graph's to float rounding (verified by the exporter).

**Approximate form (``arch="paper"``)**: :func:`approximate_incremental` measures, with
PyTorch, what caching gives a model with symmetric time padding and per-window
normalization: per decision the convolutions run on a chunk of the window's last frames
(fresh outputs plus left context) and the older GRU inputs come from earlier decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from catuvac.runtime.modelmeta import INPUT_NAME, OUTPUT_ID, OUTPUT_PROBS, STREAM_SEQUENCE, stream_state_name

from .graph import HEncoderExport

__all__ = ["StreamingHEncoder", "StreamLayout", "stream_layout", "export_stream_onnx", "stream_feed",
           "approximate_incremental"]


@dataclass(frozen=True)
class StreamLayout:
    """Shapes of the streaming graph of one model and window."""

    window_frames: int
    time_stride: int  # S: frames per GRU step (total conv stride along time)
    skip_frames: int  # W mod S: a stream starts at this frame of the first window
    steps: int  # T': GRU steps per window
    state_shapes: tuple[tuple[int, ...], ...]  # per conv layer (1, C_in, F_in, kernel − stride)
    sequence_shape: tuple[int, int, int]  # (1, T', 3H): cached input projections of the first GRU layer

    @property
    def first_frames(self) -> int:
        """Frames of the first call (and of a call after a reset)."""
        return self.window_frames - self.skip_frames


def stream_layout(mcfg: Any, window_frames: int) -> StreamLayout:
    """The streaming graph's layout for a streamable ``ModelConfig`` and a window of ``window_frames``."""
    from catuvac.training.model import conv_out

    if not mcfg.streamable:
        raise ValueError(f"arch {mcfg.arch!r} pads the time axis: no exact streaming graph")
    keep = mcfg.kernel - mcfg.stride
    shapes = []
    c_in, f_in = 1, mcfg.n_features
    for c_out in mcfg.conv_channels:
        shapes.append((1, c_in, f_in, keep))
        c_in, f_in = c_out, conv_out(f_in, mcfg.kernel, mcfg.stride, mcfg.padding, 1)
    s = mcfg.time_stride
    steps = conv_out(mcfg.frames_used(window_frames), mcfg.kernel, mcfg.stride, 0, len(mcfg.conv_channels))
    return StreamLayout(window_frames, s, window_frames % s, steps, tuple(shapes), (1, steps, 3 * mcfg.gru_hidden))


class StreamingHEncoder(nn.Module):
    """h of a streamable CatUVAC as one step of a stream (see the module docstring)."""

    def __init__(self, model: nn.Module, window_frames: int) -> None:
        super().__init__()
        mcfg = model.cfg
        self.layout = stream_layout(mcfg, window_frames)
        full = HEncoderExport(model)
        self.convs = nn.ModuleList(m for m in full.conv if isinstance(m, nn.Conv2d))
        self.gru, self.out = full.gru, full.out
        self.keep = mcfg.kernel - mcfg.stride
        self.eval()

    def forward(self, frames: torch.Tensor, *states_and_sequence: torch.Tensor) -> tuple[torch.Tensor, ...]:
        *states, sequence = states_and_sequence
        x = frames
        new_states = []
        for conv, state in zip(self.convs, states):
            z = torch.cat([state, x], dim=3)
            new_states.append(z[:, :, :, -self.keep :])
            x = F.relu(conv(z))
        _, c, f, _ = x.shape
        new = self.gru.project(x.permute(0, 3, 1, 2).reshape(1, -1, c * f), 0)
        lay = self.layout
        proj = torch.cat([sequence, new], dim=1)[:, -lay.steps :].reshape(lay.sequence_shape)
        logits = self.out(self.gru.forward_projected(proj))
        return (logits.argmax(dim=1), F.softmax(logits, dim=1), *new_states, proj)

    def zero_state(self) -> list[torch.Tensor]:
        return [torch.zeros(s) for s in self.layout.state_shapes] + [torch.zeros(self.layout.sequence_shape)]


def _io_names(n_layers: int) -> tuple[list[str], list[str]]:
    states = [stream_state_name(i) for i in range(n_layers)] + [STREAM_SEQUENCE]
    return [INPUT_NAME, *states], [OUTPUT_ID, OUTPUT_PROBS, *(s + "_out" for s in states)]


def export_stream_onnx(module: StreamingHEncoder, path: Any, props: dict[str, str]) -> None:
    """The streaming graph as ONNX (TorchScript exporter, dynamic ``frames`` length), checked, with metadata."""
    import os
    import warnings

    import onnx

    from .exporter import OPSET, set_metadata

    lay = module.layout
    inputs, outputs = _io_names(len(lay.state_shapes))
    dummy = (torch.zeros(1, 1, lay.state_shapes[0][2], lay.first_frames), *module.zero_state())
    raw = os.fspath(path) + ".raw"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # deprecation of the TorchScript exporter; tracer notes on fixed T'
        torch.onnx.export(module, dummy, raw, dynamo=False, opset_version=OPSET, input_names=inputs,
                          output_names=outputs, dynamic_axes={INPUT_NAME: {3: "new_frames"}}, do_constant_folding=True)
    model = onnx.load(raw)
    os.unlink(raw)
    model.producer_name = "catuvac"
    model.doc_string = "catuvac h-encoder, incremental: new log-mel frames + cached conv state -> cluster_id, probs, state"
    set_metadata(model, props)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, os.fspath(path))


def stream_feed(layout: StreamLayout, window: np.ndarray, split: int = 0) -> list[np.ndarray]:
    """The calls that stream one normalized window (F, W) from zero state: the frames a stream
    would feed, cut after ``split`` strides (0 = one call). Each is (1, 1, F, n) float32."""
    x = np.ascontiguousarray(window[None, None, :, layout.skip_frames :], dtype=np.float32)
    cut = split * layout.time_stride
    return [x] if not 0 < cut < x.shape[-1] else [x[..., :cut], x[..., cut:]]


class StreamReader:
    """CalibrationDataReader for the streaming graph: each window streamed from zero state in one call."""

    def __init__(self, layout: StreamLayout, windows: np.ndarray) -> None:
        self.layout, self.windows, self.i = layout, windows, 0
        self.names = _io_names(len(layout.state_shapes))[0]

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.i >= len(self.windows):
            return None
        w = self.windows[self.i]
        self.i += 1
        zeros = [np.zeros(s, np.float32) for s in (*self.layout.state_shapes, self.layout.sequence_shape)]
        return dict(zip(self.names, [stream_feed(self.layout, w)[0], *zeros]))

    def rewind(self) -> None:
        self.i = 0


def run_stream_windows(session: Any, layout: StreamLayout, windows: np.ndarray, split: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each window streamed from zero state (cut in two calls after ``split`` strides): ids (N,), probs (N, K)."""
    names = _io_names(len(layout.state_shapes))[0]
    ids, probs = [], []
    for w in windows:
        state = [np.zeros(s, np.float32) for s in (*layout.state_shapes, layout.sequence_shape)]
        for part in stream_feed(layout, w, split):
            out = session.run(None, dict(zip(names, [part, *state])))
            state = list(out[2:])
        ids.append(int(np.asarray(out[0]).reshape(-1)[0]))
        probs.append(np.asarray(out[1]).reshape(-1))
    return np.asarray(ids, np.int64), np.stack(probs).astype(np.float32)


# --------------------------------------------------------------------------- the paper model, approximately
def _conv_macs(module: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of the Conv2d layers of ``module`` on ``x`` (forward hooks)."""
    total = [0]

    def hook(m: nn.Conv2d, _: Any, out: torch.Tensor) -> None:
        total[0] += int(out.numel()) * (m.in_channels // m.groups) * int(np.prod(m.kernel_size))

    hs = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, nn.Conv2d)]
    try:
        module(x)
    finally:
        for h in hs:
            h.remove()
    return total[0]


@torch.no_grad()
def approximate_incremental(model: nn.Module, windows: np.ndarray, decision_frames: int, recompute: int = 0,
                            context: int = 3, gate: float = 0.0) -> dict[str, Any]:
    """Cached-conv inference of a padded (paper) h over consecutive windows, against full-window.

    ``windows`` (N, F, W): the normalized windows of consecutive decisions, ``decision_frames``
    apart (a multiple of the time stride S, so the conv grids of consecutive windows align).
    Per decision the convolutions run on the window's last ``S·(new + recompute + context) +
    W mod S`` frames, ``new = decision_frames / S``; the last ``new + recompute`` GRU inputs are
    replaced, the others come from earlier decisions. ``gate`` > 0: when the cached decision's
    top-two probability margin is below ``gate`` the window is recomputed in full (and the cache
    refreshed from it), at the cost of both. Returns the agreement of the argmax with full-window
    inference and mean MACs per decision (conv by hooks; GRU and read-out from the shapes).
    """
    body: Any = model.h_body
    cfg: Any = model.cfg
    s = int(cfg.time_stride)
    if decision_frames % s:
        raise ValueError(f"decision_frames {decision_frames} must be a multiple of the time stride {s}")
    w = windows.shape[-1]
    steps = int(cfg.encoder_steps)
    fresh = min(steps, decision_frames // s + recompute)
    chunk = min(w, s * (fresh + context) + w % s)
    seq: torch.Tensor | None = None
    agree, fallbacks = [], 0
    conv_full = _conv_macs(body.conv, torch.zeros(1, 1, windows.shape[1], w))
    conv_chunk = _conv_macs(body.conv, torch.zeros(1, 1, windows.shape[1], chunk))
    for win in windows:
        x = torch.from_numpy(np.ascontiguousarray(win[None, None], dtype=np.float32))
        full_seq = body.sequence(x)
        exact = model.h_out(body.gru(full_seq)[0][:, -1]).argmax(1)
        if seq is None:
            seq = full_seq
            continue
        part = body.sequence(x[..., w - chunk :])[:, -fresh:]
        new = decision_frames // s  # the cached sequence moves on by `new` steps; the last `fresh` are replaced
        seq = torch.cat([seq[:, new : steps - (fresh - new)], part], 1)
        top2 = torch.softmax(model.h_out(body.gru(seq)[0][:, -1]), 1).topk(2, dim=1)
        approx = top2.indices[:, 0]
        if float(top2.values[0, 0] - top2.values[0, 1]) < gate:
            fallbacks += 1
            seq, approx = full_seq, exact
        agree.append(bool(approx == exact))
    g = body.gru
    gru_macs = steps * sum(3 * g.hidden_size * ((g.input_size if k == 0 else g.hidden_size) + g.hidden_size)
                           for k in range(g.num_layers)) + g.hidden_size * cfg.n_clusters
    n = max(len(agree), 1)
    full = conv_full + gru_macs
    inc = conv_chunk + gru_macs + (fallbacks / n) * full
    return {"recompute_steps": recompute, "context_steps": context, "gate": gate, "chunk_frames": chunk,
            "decisions": len(agree), "full_recompute_fraction": fallbacks / n,
            "decision_agreement_with_full": float(np.mean(agree)) if agree else None,
            "macs_per_decision_full": full, "macs_per_decision_incremental": inc, "mac_saving": full / inc}


# --------------------------------------------------------------------------- the exporter's step
STREAM_NAMES = {"fp32": "encoder.stream.onnx", "int8": "encoder.stream.int8.onnx"}
SPLIT_STRIDES = 2  # verification streams each window in two calls (first cut after this many strides)


def unsupported_reason(mcfg: Any, fe: Any) -> str | None:
    """Why a model gets no incremental graph, or None when it does."""
    if not mcfg.streamable:
        return (f"arch {mcfg.arch!r} pads the time axis symmetrically: cached convolution outputs differ from "
                "full-window ones (see approximate_incremental)")
    if fe.normalization != "global" or fe.dynamic_range_db is not None:
        return "per-window normalization (or a dynamic-range clamp) changes every frame with each window; train with global normalization"
    return None


def stream_target(run: Any) -> None:
    """Exporter step: the incremental graph of each full-window model that passed (fp32, int8),
    verified against that full-window model on the held-out windows (each streamed in two calls);
    a verified one is named in its full-window model's metadata (``catuvac.stream_model``)."""
    import dataclasses

    import onnx

    from .exporter import FP32_NAME, FP32_PROB_TOLERANCE, INT8_NAME, _agreement, ort_session, quantize_int8, run_onnx, set_metadata

    mcfg, fe, data = run.ck.model_config, run.fe, run.data
    reason = unsupported_reason(mcfg, fe)
    if reason is not None:
        run.report["incremental"] = {"supported": False, "reason": reason}
        return
    module = StreamingHEncoder(run.ck.model.eval(), fe.window_frames)
    lay = module.layout
    section: dict[str, Any] = {"supported": True, "time_stride": lay.time_stride, "gru_steps": lay.steps,
                               "skip_frames": lay.skip_frames, "first_call_frames": lay.first_frames}
    passed = {name: good for name, _, good in run.files}
    for precision, full_name in (("fp32", FP32_NAME), ("int8", INT8_NAME)):
        if not passed.get(full_name):
            continue
        name, path = STREAM_NAMES[precision], run.tmpdir / STREAM_NAMES[precision]
        props = dataclasses.replace(run.info, precision=precision, graph="stream", time_stride=lay.time_stride).to_props()
        if precision == "fp32":
            export_stream_onnx(module, path, props)
        else:
            q = run.report.get("quantization", {})
            quantize_int8(run.tmpdir / STREAM_NAMES["fp32"], path, StreamReader(lay, data.calibration),
                          run.report.get("calibration_method", "minmax"), props,
                          float_first_conv=not q.get("fully_int8", False), reduce_range=not run.opts.full_range_weights)
        ids, probs = run_stream_windows(ort_session(path), lay, data.verification, split=SPLIT_STRIDES)
        ref_ids, ref_probs = run_onnx(ort_session(run.tmpdir / full_name), data.verification)
        agree, diff = _agreement(ref_ids, ref_probs, ids, probs)
        ok = agree == 1.0 and diff <= FP32_PROB_TOLERANCE if precision == "fp32" else agree >= run.opts.min_agreement
        section[precision] = {"file": name, "agreement_with_full": agree, "max_abs_prob_diff_with_full": diff, "passed": ok}
        if not ok:
            run.failures.append(f"incremental {precision} graph disagrees with the full-window one (agreement {agree:.4f}, "
                                f"max |Δprob| {diff:.2g}); it was not written")
        else:
            full = onnx.load(str(run.tmpdir / full_name))
            info = dataclasses.replace(run.info, precision=precision, stream_model=name, time_stride=lay.time_stride)
            set_metadata(full, info.to_props())
            onnx.save(full, str(run.tmpdir / full_name))
        run.files.append((name, path, ok))
    run.report["incremental"] = section


# --------------------------------------------------------------------------- command line
def day_windows(fe: Any, decision_frames: int, day_dir: Any = None) -> np.ndarray:
    """Normalized windows of the built-in day recording, one per decision (``decision_frames`` apart)."""
    from catuvac.runtime.audio import load_audio
    from catuvac.runtime.frontend import FrontEnd, normalize_window
    from catuvac.training.scenes import builtin_scenes_dir, day_files

    wav, _ = day_files(builtin_scenes_dir() if day_dir is None else day_dir)
    feats = FrontEnd(fe).features(load_audio(wav, fe.sample_rate))
    w = fe.window_frames
    return np.stack([normalize_window(feats[:, n - w : n], fe) for n in range(w, feats.shape[1] + 1, decision_frames)])


def main(argv: list[str] | None = None) -> int:
    """``python -m catuvac.export.streaming --checkpoint CKPT --json OUT``: cached-conv inference of a
    checkpoint on the built-in day recording against full-window inference, for a grid of
    recompute / context margins (the paper model's figures of issue 13)."""
    import argparse

    from catuvac.runtime.cli_wrapper import cli_entry
    from catuvac.runtime.fileio import atomic_write_json

    @cli_entry("catuvac-stream-measure")
    def run(argv: list[str] | None) -> int:
        p = argparse.ArgumentParser(prog="python -m catuvac.export.streaming", description=main.__doc__)
        p.add_argument("--checkpoint", required=True)
        p.add_argument("--json", required=True)
        p.add_argument("--decision-frames", type=int, default=32, help="frames between decisions (a multiple of 16)")
        p.add_argument("--max-decisions", type=int, default=400)
        p.add_argument("--gates", type=float, nargs="*", default=[0.2, 0.4, 0.6, 0.8, 0.9, 0.95],
                       help="margins below which a decision is recomputed in full (context 1, recompute 0)")
        args = p.parse_args(argv)
        from catuvac.training.checkpoint import load_checkpoint

        torch.set_num_threads(1)
        ck = load_checkpoint(args.checkpoint, expect_type="cat_uvac")
        model = ck.model.eval()
        wins = day_windows(ck.frontend, args.decision_frames)[: args.max_decisions]
        grid = [approximate_incremental(model, wins, args.decision_frames, r, c) for c in (1, 2, 3) for r in (0, 1, 2)]
        grid += [approximate_incremental(model, wins, args.decision_frames, 0, 1, g) for g in args.gates]
        res = {"checkpoint": str(ck.path), "arch": ck.model_config.arch, "decision_frames": args.decision_frames,
               "normalization": ck.frontend.normalization, "grid": grid}
        atomic_write_json(args.json, res)
        for g in grid:
            print(f"context {g['context_steps']} recompute {g['recompute_steps']} gate {g['gate']:.2f}: agreement "
                  f"{g['decision_agreement_with_full']:.3f}, full recompute {g['full_recompute_fraction']:.0%}, "
                  f"MAC saving {g['mac_saving']:.2f}x")
        return 0

    return int(run(argv))


if __name__ == "__main__":
    raise SystemExit(main())
