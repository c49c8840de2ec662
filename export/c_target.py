"""The C export target: generate, build with the system compiler, verify, measure, document.

:func:`build_c_target` is one export step (:mod:`catuvac.export.exporter` calls it after the int8
model is built): it reads the int8 QDQ model into a :class:`~catuvac.export.c_plan.CPlan`,
writes the C folder, compiles it with ``cc -std=c99 -Wall -Wextra -Werror -O2``, runs the
compiled network on real windows and compares

- with the numpy integer reference (:mod:`catuvac.export.c_reference`): bit for bit;
- with ONNX Runtime int8: cluster ids (≥ :data:`MIN_ID_AGREEMENT`) and q(y|x) within
  :data:`PROB_TOLERANCE`.

It reports code / const / RAM bytes (``size -A`` of the compiled object + ``sizeof(catuvac_state)``)
and MACs per decision, and writes the folder's README with those figures.

Why our own kernels and not an existing generator — measured on this project's fully int8 QDQ
graph (the tiny test model), ``emx-onnx-cgen`` 1.4.0 (PyPI): it compiles the graph warning-free
with ``-Werror``, without malloc (``--large-temp-threshold 0``), and its ``verify`` matches ORT
exactly (max abs diff 0) — because it runs the QDQ graph *literally*: every
``DequantizeLinear`` of a weight turns the int8 array into a float array on the stack at each
call, and Conv / Gemm then run in float with float scales. No int8 × int8 → int32 arithmetic,
no fixed-point requantization, and a stack of 4 bytes per parameter (≈ 4.9 MB for the
paper-size encoder's 1.23 M weights). The few kernels this graph needs (Conv, Gemm, the GRU
cell, softmax) are written here instead, generated from the same graph walk.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from catuvac.runtime.frontend import FrontEndConfig

from .c_codegen import generate_sources
from .c_plan import CExportError, CPlan, plan_from_onnx
from .c_reference import run_reference

__all__ = ["CFLAGS", "MIN_ID_AGREEMENT", "PROB_TOLERANCE", "find_compiler", "build_c_target", "compile_c", "object_sizes", "run_c_windows"]

CFLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-O2")
MIN_ID_AGREEMENT = 0.995  # C vs ORT int8 cluster ids: they differ only by rounding (fixed-point vs float requantization)
# C vs ORT int8 q(y|x), largest difference over the windows. Both run the same int8 weights and
# activation scales, but ORT requantizes in float (round half to even) and computes the GRU gates
# in float, the C in fixed point with tables: a value near a rounding boundary lands one LSB
# apart, and the recurrence amplifies that. Measured on the tiny test model (1 428 windows):
# median 1e-5, 99th percentile 9e-3, max 0.031; a wrong kernel is off by ≥ 0.1 on most windows.
PROB_TOLERANCE = 0.05


class CBuildError(CExportError):
    """The generated C did not compile or run."""


def find_compiler() -> str | None:
    """``$CC`` if set, else the first of cc, gcc, clang on PATH."""
    cc = os.environ.get("CC")
    if cc:
        return shutil.which(cc) or cc
    for name in ("cc", "gcc", "clang"):
        path = shutil.which(name)
        if path:
            return path
    return None


def compile_c(src_dir: Path, build_dir: Path, cc: str) -> dict[str, Path]:
    """Compile the verify harness and the model object with :data:`CFLAGS`; warnings are errors."""
    build_dir.mkdir(parents=True, exist_ok=True)
    outs = {"verify": build_dir / "catuvac_verify", "object": build_dir / "catuvac_model.o"}
    cmds = [
        [cc, *CFLAGS, "-c", "-o", str(outs["object"]), str(src_dir / "catuvac_model.c")],
        [cc, *CFLAGS, "-o", str(outs["verify"]), str(src_dir / "catuvac_verify.c"), str(src_dir / "catuvac_model.c"), "-lm"],
    ]
    for cmd in cmds:
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise CBuildError(f"the generated C does not compile ({' '.join(cmd[:1] + list(CFLAGS))}):\n{r.stderr.strip()[:2000]}")
    return outs


def object_sizes(obj: Path) -> dict[str, int]:
    """Section bytes of a compiled object from ``size -A``: code (.text), const (.rodata*), data, bss."""
    size = shutil.which("size")
    if size is None:
        raise CBuildError("the `size` tool (binutils) is missing: install binutils to measure the C code")
    r = subprocess.run([size, "-A", str(obj)], capture_output=True, text=True, check=True)
    out = {"code_bytes": 0, "const_bytes": 0, "data_bytes": 0, "bss_bytes": 0}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) < 2 or not parts[1].isdigit():
            continue
        name, n = parts[0], int(parts[1])
        if name == ".text" or name.startswith(".text."):
            out["code_bytes"] += n
        elif name.startswith(".rodata") or name.startswith(".data.rel.ro"):  # const (pointer tables relocated once under PIE)
            out["const_bytes"] += n
        elif name == ".data" or name.startswith(".data."):
            out["data_bytes"] += n
        elif name == ".bss" or name.startswith(".bss."):
            out["bss_bytes"] += n
    return out


def _struct_sizes(verify_bin: Path) -> dict[str, int]:
    """sizeof(catuvac_state) and sizeof(catuvac_decision) as compiled (``catuvac_verify sizes``)."""
    import json

    r = subprocess.run([str(verify_bin), "sizes"], capture_output=True, text=True)
    if r.returncode != 0:
        raise CBuildError(f"the compiled C harness failed (exit {r.returncode}): {r.stderr.strip()[:500]}")
    return {k: int(v) for k, v in json.loads(r.stdout).items()}


def run_c_windows(verify_bin: Path, windows: np.ndarray, n_clusters: int, work: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the compiled network on normalized windows (N, F, T): ids, Q15 q(y|x), Q16 logits."""
    inp, out = work / "windows.f32", work / "c_out.i32"
    np.ascontiguousarray(windows, dtype=np.float32).tofile(inp)
    r = subprocess.run([str(verify_bin), "windows", str(inp), str(out)], capture_output=True, text=True)
    if r.returncode != 0:
        raise CBuildError(f"the compiled C harness failed (exit {r.returncode}): {r.stderr.strip()[:500]}")
    rec = np.fromfile(out, dtype=np.int32).reshape(-1, 1 + 2 * n_clusters).astype(np.int64)
    if len(rec) != len(windows):
        raise CBuildError(f"the compiled C harness returned {len(rec)} decisions for {len(windows)} windows")
    return rec[:, 0], rec[:, 1 : 1 + n_clusters], rec[:, 1 + n_clusters :]


def _compiler_version(cc: str) -> str:
    r = subprocess.run([cc, "--version"], capture_output=True, text=True)
    return (r.stdout.splitlines() or ["unknown"])[0].strip()


def build_c_target(
    int8_path: str | os.PathLike,
    frontend: Any,
    src_dir: Path,
    build_dir: Path,
    windows: np.ndarray,
    ort_ids: np.ndarray,
    ort_probs: np.ndarray,
    source_note: str = "",
) -> dict[str, Any]:
    """Generate the C folder into ``src_dir``, build it in ``build_dir``, verify and measure it.

    Returns the report's ``c`` section (``passed`` false + ``errors`` when a check fails).
    Raises :class:`CExportError` for a model the C target cannot express and :class:`CBuildError`
    when no compiler is found or the code does not build.
    """
    if frontend.normalization == "window_level":
        raise CExportError("the C target has no 'window_level' inputs (h's level read-out is not a conv + GRU op): "
                           "export this model to ONNX only, or train with --normalization window or global")
    plan = plan_from_onnx(int8_path)
    generate_sources(plan, frontend, src_dir, source_note)
    cc = find_compiler()
    if cc is None:
        raise CBuildError("no C compiler found (cc, gcc or clang on PATH, or $CC): install one (Debian: apt-get install gcc)")
    bins = compile_c(src_dir, build_dir, cc)
    ids, q15, logits = run_c_windows(bins["verify"], windows, plan.n_clusters, build_dir)
    ref = run_reference(plan, windows)
    bit_exact = bool(np.array_equal(ids, ref.ids) and np.array_equal(q15, ref.q15) and np.array_equal(logits, ref.logits_q16))
    agreement = float(np.mean(ids == ort_ids))
    max_dq = float(np.max(np.abs(q15 / 32768.0 - ort_probs)))
    sizes = object_sizes(bins["object"])
    state = _struct_sizes(bins["verify"])["state_bytes"]
    section: dict[str, Any] = {
        "n_windows": int(len(windows)),
        "id_agreement_with_ort_int8": agreement,
        "max_abs_prob_diff_ort_int8": max_dq,
        "p99_abs_prob_diff_ort_int8": float(np.quantile(np.max(np.abs(q15 / 32768.0 - ort_probs), axis=1), 0.99)),
        "prob_tolerance": PROB_TOLERANCE,
        "min_id_agreement": MIN_ID_AGREEMENT,
        "bit_exact_with_reference": bit_exact,
        "n_mismatched_with_reference": int(np.sum(np.any(q15 != ref.q15, axis=1) | (ids != ref.ids))),
        **sizes,
        "state_bytes": state,
        "ram_bytes": sizes["bss_bytes"] + sizes["data_bytes"] + state,
        "weight_bytes": plan.weight_bytes(),
        "macs_per_decision": plan.macs,
        "compiler": _compiler_version(cc),
        "cflags": " ".join(CFLAGS),
        "machine": platform.machine(),
        "files": sorted(p.name for p in src_dir.iterdir()),
    }
    errors = []
    if not bit_exact:
        errors.append(f"C output differs from the numpy integer reference on {section['n_mismatched_with_reference']} windows")
    if agreement < MIN_ID_AGREEMENT:
        errors.append(f"C cluster ids agree with ORT int8 on {agreement:.4f} < {MIN_ID_AGREEMENT} of {len(windows)} windows")
    if max_dq > PROB_TOLERANCE:
        errors.append(f"C q(y|x) differs from ORT int8 by {max_dq:.4f} > {PROB_TOLERANCE}")
    section["passed"] = not errors
    section["errors"] = errors
    (src_dir / "README.md").write_text(readme(plan, frontend, section))
    section["files"] = sorted(p.name for p in src_dir.iterdir())
    return section


def readme(plan: CPlan, fe: FrontEndConfig, c: dict[str, Any]) -> str:
    """The C folder's README: API, build, memory / MAC figures and the verification result."""
    layers = "\n".join(
        f"| conv {i} | {c_.in_shape} → {c_.out_shape} | {c_.w.size:,} | {c_.macs:,} |" for i, c_ in enumerate(plan.convs)
    ) + "\n" + "\n".join(
        f"| GRU {i} ({g.steps} steps, H = {g.hidden}) | {g.w_ih.shape[1]} → {g.hidden} | {g.w_ih.size + g.w_hh.size:,} | {g.macs:,} |"
        for i, g in enumerate(plan.grus)
    ) + f"\n| read-out | {plan.w_out.shape[1]} → {plan.n_clusters} | {plan.w_out.size:,} | {plan.w_out.size:,} |"
    return f"""# catuvac h-encoder in C99 (generated by `catuvac-export --c`)

Scene clusterer for a hearing-aid DSP: 16-kHz mono int16 PCM in, one cluster id and q(y|x) in
Q15 out per decision. Plain C99, no malloc, no threads, no I/O in the model code; every buffer
is static and sized here at export.

## API (`catuvac_model.h`)

```c
static catuvac_state st;            /* one per audio stream */
catuvac_decision d;
catuvac_init(&st);                  /* 0 = ok */
catuvac_push(&st, pcm, n);          /* any chunk size */
if (catuvac_decide(&st, &d) == 0)   /* 1 = fewer than {fe.window_frames} frames so far */
    use(d.cluster, d.q15[d.cluster]);   /* q15: 32767 = 1.0 */
```

`catuvac_classify_window(window, &d)` runs the network alone on a normalized window
({fe.n_features} × {fe.window_frames} floats, feature-major, values in [0, 1]).

## Build

```sh
make                     # catuvac_example with $(CC) (default cc): {c['cflags']} -lm
./catuvac_example recording.wav 1.0     # 16-kHz 16-bit WAV (or .raw int16): one decision per second
make catuvac_verify      # the harness catuvac-export verified this code with
```

## Figures (measured at export: {c['compiler']}, {c['machine']}, `{c['cflags']}`)

| figure | value |
|---|---|
| code (.text of catuvac_model.o) | {c['code_bytes']:,} bytes |
| const data (.rodata: weights, multipliers, tables, front-end constants) | {c['const_bytes']:,} bytes |
| int8 weights alone | {c['weight_bytes']:,} bytes |
| static RAM (.bss + .data of the model) | {c['bss_bytes'] + c['data_bytes']:,} bytes |
| per-stream state (`sizeof(catuvac_state)`) | {c['state_bytes']:,} bytes |
| RAM total | {c['ram_bytes']:,} bytes |
| MACs per decision (int8 × int8) | {c['macs_per_decision']:,} |

| layer | shape | int8 weights | MACs |
|---|---|---|---|
{layers}

## Verification (at export, on {c['n_windows']:,} real windows)

- bit-exact with the numpy integer reference (`catuvac.export.c_reference`): **{c['bit_exact_with_reference']}**
- cluster ids identical to ONNX Runtime int8: **{c['id_agreement_with_ort_int8']:.4f}** (required ≥ {c['min_id_agreement']})
- largest |q(y|x) C − ORT int8|: **{c['max_abs_prob_diff_ort_int8']:.4f}** (tolerance {c['prob_tolerance']}; 99th percentile
  over windows {c['p99_abs_prob_diff_ort_int8']:.4f}). Both run the same int8 weights and scales; ORT requantizes in
  float, rounding half to even, and runs the GRU gates in float, so a value next to a rounding boundary can land
  one LSB apart, which the recurrence carries on.

## Arithmetic

- **Network, integer.** The normalized window is quantized once (the input's int8 scale
  {plan.in_scale:.6g}, zero point {plan.in_zp}); every convolution and matrix product is int8 × int8 →
  int32 with the int8 model's own weights, biases, scales and zero points; requantization is a
  per-channel int32 multiplier + right shift, rounding half up (ONNX Runtime rounds float
  products half to even: the source of the rare 1-LSB differences). ReLU is the saturation at the
  output zero point, as in the QDQ graph.
- **GRU, fixed point.** Pre-activations in Q16, gates and hidden state in Q15; sigmoid and tanh
  from 1 025-entry Q15 tables over [−8, 8) with linear interpolation; h is requantized to the
  int8 model's per-step scale before each recurrent product, exactly where the QDQ graph does.
- **q(y|x).** Softmax in Q15 from a Q30 table of 2^−x; the id is the argmax of the Q16 logits.
- **Front-end, float32 (FFT, mel, log, window normalization).** A log needs either float or a
  second set of fixed-point approximations whose error would add to the network's; hearing-aid
  DSPs have single-precision FPUs, and the front-end (one {fe.n_fft}-point mixed-radix FFT and
  {fe.n_features} sparse bands per {fe.hop_length}-sample hop) is small next to the network. It matches the Python front-end to ~1e-6.
- Right shifts of negative values must be arithmetic (C99 leaves it implementation-defined;
  `catuvac_init` returns −1 otherwise).
"""

