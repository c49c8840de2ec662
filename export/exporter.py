"""``catuvac-export``: h-encoder + argmax of a CatUVAC checkpoint → ONNX fp32, int8 and C99.

:func:`export_model` (options in :class:`ExportOptions`) runs :func:`run_export`, a list of steps:

1. Load the checkpoint (``weights_only``) and refuse anything but a categorical UVAC model;
   resolve the window (:func:`_export_frontend`): the trained one by default, or a shorter
   ``window_seconds`` (warning); a longer window is refused (the GRU never saw that many steps).
   Output folders are checked before any work.
2. :func:`_windows`: calibration windows from the training split and verification windows from
   the held-out split (val + test) of the checkpoint's data spec (``train_config["data"]``) or
   ``calibration`` (a data spec such as ``folder:PATH``), through the checkpoint's front-end
   and :func:`normalize_window` — exactly what the runtime feeds the model.
3. :func:`_reference`: PyTorch's decisions on the verification windows, and
   :class:`~catuvac.export.graph.HEncoderExport` (BN folded, GRU written out) checked against
   ``model.logits``.
4. Targets, each of which builds, verifies against its reference and reports:

   - :func:`_fp32_target`: the TorchScript exporter (``dynamo=False``, opset 17; no ``GRU`` op
     in the graph, so the dynamo exporter's reported GRU bug cannot apply either way), the
     catuvac metadata (``ModelInfo.to_props``), ``onnx.checker``; ORT (1 thread) vs PyTorch.
   - :func:`_int8_target` (``--int8``): ``quant_pre_process`` then ``quantize_static`` (QDQ,
     signed int8 activations and weights, per-channel weights) of every Conv / Gemm / MatMul,
     calibrated on the calibration windows; ORT int8 vs PyTorch.
   - :func:`_c_target` (``--c DIR``): the int8 model as C99 (:mod:`catuvac.export.c_target`),
     compiled with the system compiler, checked against ORT int8 and a numpy integer
     reference; the report's ``c`` section.
5. :func:`_publish`: files are written into a temporary folder inside ``out_dir`` (the C folder
   next to its destination) and moved into place with ``os.replace``, the report last; on any
   error the temporary folders are removed.

Agreement failure (``agreement_int8 < min_agreement``, or a C check): the report (with
``"passed": false``) and the models that passed their own check are published, the failed one
is **not** (a stale ``encoder.int8.onnx`` from an earlier run is removed so it cannot be
mistaken for this run's), and :class:`AgreementError` is raised (CLI exit code 3).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from catuvac.runtime.defaults import MAX_CALIBRATION, MAX_VERIFY, MIN_AGREEMENT
from catuvac.runtime.errors import CatuvacError, CatuvacWarning
from catuvac.runtime.fileio import TEMP_SUFFIX, remove_stale_temps

__all__ = [
    "ExportError",
    "AgreementError",
    "WindowData",
    "export_model",
    "export_onnx",
    "quantize_int8",
    "set_metadata",
    "int8_weight_summary",
    "ort_session",
    "run_onnx",
    "resolve_window",
    "load_windows",
    "FP32_NAME",
    "INT8_NAME",
    "REPORT_NAME",
    "OPSET",
]

FP32_NAME = "encoder.onnx"
INT8_NAME = "encoder.int8.onnx"
REPORT_NAME = "export_report.json"
OPSET = 17  # well supported by ORT ≥ 1.14 and by the TorchScript exporter; QDQ per-channel needs ≥ 13
EXPORTER = "torch.onnx.export(dynamo=False) (TorchScript)"
DEFAULT_MAX_CALIBRATION = MAX_CALIBRATION  # see catuvac.runtime.defaults
DEFAULT_MAX_VERIFY = MAX_VERIFY
# The weight-carrying ops (+ Relu, so a Conv→Relu pair shares one output scale and ORT fuses it);
# the GRU's elementwise gate arithmetic stays float.
QUANT_OP_TYPES = ("Conv", "Gemm", "MatMul", "Relu")
FP32_PROB_TOLERANCE = 1e-3  # fp32 ONNX vs PyTorch: measured ~5e-7; more means a wrong translation


class ExportError(CatuvacError, RuntimeError):
    """An export that cannot be done; the message says what was wrong and what to do."""

    exit_code = 2


class AgreementError(ExportError):
    """The int8 (or fp32) model disagrees with PyTorch on too many held-out windows."""

    exit_code = 3

    def __init__(self, message: str, report: dict[str, Any]) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class WindowData:
    """Normalized network inputs (N, F, T) float32 in [0, 1]: calibration and verification sets."""

    calibration: np.ndarray
    verification: np.ndarray
    source: str = "arrays"
    verification_split: str = "held-out"

    def __post_init__(self) -> None:
        for name in ("calibration", "verification"):
            a = np.asarray(getattr(self, name), dtype=np.float32)
            if a.ndim == 4 and a.shape[1] == 1:
                a = a[:, 0]
            if a.ndim != 3 or a.shape[0] == 0:
                raise ExportError(f"{name} windows must be a non-empty (N, F, T) array, got shape {a.shape}")
            if not np.all(np.isfinite(a)):
                raise ExportError(f"{name} windows contain NaN or Inf")
            setattr(self, name, a)


def _log(progress: bool, msg: str) -> None:
    if progress:
        print(f"catuvac-export: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- ONNX Runtime
from catuvac.runtime.modelmeta import ort_session  # noqa: E402  (one session set-up for every caller)


def run_onnx(session: Any, windows: np.ndarray, progress: bool = False, desc: str = "onnx") -> tuple[np.ndarray, np.ndarray]:
    """Run one window at a time (the graph has batch 1): ids (N,) int64 and probs (N, K)."""
    from catuvac.runtime.modelmeta import INPUT_NAME, OUTPUT_ID, OUTPUT_PROBS

    ids, probs = [], []
    it: Iterable[np.ndarray] = windows
    if progress:
        from tqdm import tqdm

        it = tqdm(windows, desc=desc, unit="win", file=sys.stderr, leave=False, dynamic_ncols=True)
    for w in it:
        cid, p = session.run([OUTPUT_ID, OUTPUT_PROBS], {INPUT_NAME: w[None, None].astype(np.float32)})
        ids.append(int(cid.reshape(-1)[0]))
        probs.append(p.reshape(-1))
    return np.asarray(ids, dtype=np.int64), np.stack(probs).astype(np.float32)


# --------------------------------------------------------------------------- windows
def resolve_window(frontend: Any, n_frames_trained: int, window_seconds: float | None) -> tuple[Any, bool]:
    """The front-end config for the exported window and whether it is shorter than trained.

    Raises :class:`ExportError` for a window longer than the trained one, or too short for
    the four stride-2 convolutions.
    """
    from catuvac.runtime.frontend import FrontEndError

    trained_s = float(frontend.window_seconds)
    if window_seconds is None:
        return frontend, False
    s = float(window_seconds)
    if not (math.isfinite(s) and s > 0):
        raise ExportError(f"--window-seconds must be a positive number, got {window_seconds!r}")
    try:
        fe = dataclasses.replace(frontend, window_seconds=s)
    except FrontEndError as e:
        raise ExportError(f"--window-seconds {s:g}: {e}") from e
    if fe.window_frames > n_frames_trained:
        raise ExportError(
            f"--window-seconds {s:g} ({fe.window_frames} frames) is longer than the window the model was trained for "
            f"({trained_s:g} s, {n_frames_trained} frames); export with --window-seconds ≤ {trained_s:g} "
            "or train a model on longer windows"
        )
    from catuvac.training.model import conv_out

    if conv_out(fe.window_frames) < 1:
        raise ExportError(
            f"--window-seconds {s:g} gives {fe.window_frames} frames, too few for the four stride-2 convolutions "
            "(need at least 16 frames); use a longer window"
        )
    return fe, fe.window_frames < n_frames_trained


def _subsample(x: np.ndarray, n: int, seed: int) -> np.ndarray:
    if len(x) <= n:
        return x
    idx = np.sort(np.random.default_rng(seed).choice(len(x), size=n, replace=False))
    return x[idx]


def load_windows(
    spec: str,
    frontend: Any,
    seed: int = 0,
    max_calibration: int = DEFAULT_MAX_CALIBRATION,
    max_verify: int = DEFAULT_MAX_VERIFY,
    progress: bool = True,
    split_sizes: Sequence[float] | None = None,
    max_files: int | None = None,
    folds: int = 0,
    fold: int = 0,
) -> WindowData:
    """Normalized calibration (train split) and verification (val + test) windows of ``spec``
    (``folds`` ≥ 2: of fold ``fold`` of the grouped cross-validation, as ``load_dataset``)."""
    from catuvac.runtime.frontend import FrontEndError, normalize_window
    from catuvac.training.datasets import DatasetError, load_dataset

    try:
        fs = load_dataset(spec, frontend=frontend, seed=seed, progress=progress, split_sizes=split_sizes, max_files=max_files,
                          folds=folds, fold=fold)
    except (DatasetError, FrontEndError, OSError) as e:
        raise ExportError(f"calibration data {spec!r}: {e}") from e
    if len(fs) == 0:
        raise ExportError(f"calibration data {spec!r}: no windows")
    x = normalize_window(fs.x, frontend)
    train = x[fs.split == "train"]
    held = x[np.isin(fs.split, ["val", "test"])]
    vsplit = "val+test"
    if len(held) == 0:
        warnings.warn(f"{spec}: no held-out windows; verifying on the calibration (train) windows", stacklevel=2)
        held, vsplit = train, "train"
    if len(train) == 0:
        train = held
    return WindowData(
        calibration=_subsample(train, max_calibration, seed),
        verification=_subsample(held, max_verify, seed + 1),
        source=str(spec),
        verification_split=vsplit,
    )


# --------------------------------------------------------------------------- ONNX building blocks
def set_metadata(model: Any, props: dict[str, str]) -> None:
    """Replace the model's catuvac metadata_props by ``props`` (other keys are kept)."""
    keep = [(p.key, p.value) for p in model.metadata_props if p.key not in props and not p.key.startswith("catuvac.")]
    del model.metadata_props[:]
    for k, v in keep + sorted(props.items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v


def export_onnx(module: Any, n_features: int, n_frames: int, path: str | os.PathLike, props: dict[str, str] | None = None) -> None:
    """Export ``module`` (an :class:`HEncoderExport`) with a fixed [1, 1, F, T] input, set the
    metadata, run ``onnx.checker`` and save to ``path``."""
    import onnx
    import torch

    from catuvac.runtime.modelmeta import INPUT_NAME, OUTPUT_ID, OUTPUT_PROBS

    dummy = torch.zeros(1, 1, n_features, n_frames)
    tmp = Path(os.fspath(path) + ".raw")
    with warnings.catch_warnings():
        # the TorchScript exporter is deprecated in favour of dynamo but still correct and supported in 2.13
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", FutureWarning)
        torch.onnx.export(
            module,
            (dummy,),
            os.fspath(tmp),
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_ID, OUTPUT_PROBS],
            do_constant_folding=True,
        )
    model = onnx.load(os.fspath(tmp))
    tmp.unlink()
    model.producer_name = "catuvac"
    model.doc_string = "catuvac h-encoder: log-mel window -> cluster_id (argmax), probs (softmax) = q(y|x)"
    if props:
        set_metadata(model, props)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, os.fspath(path))


class _Reader:
    """CalibrationDataReader over normalized windows, one [1, 1, F, T] input at a time."""

    def __init__(self, windows: np.ndarray) -> None:
        from catuvac.runtime.modelmeta import INPUT_NAME

        self._name = INPUT_NAME
        self._windows = windows
        self._i = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._i >= len(self._windows):
            return None
        w = self._windows[self._i]
        self._i += 1
        return {self._name: w[None, None].astype(np.float32)}

    def rewind(self) -> None:
        self._i = 0


def quantize_int8(
    fp32_path: str | os.PathLike,
    int8_path: str | os.PathLike,
    calibration: "np.ndarray | Any",
    method: str = "minmax",
    props: dict[str, str] | None = None,
    float_first_conv: bool = True,
    reduce_range: bool = True,
) -> list[str]:
    """Static QDQ int8 (S8S8, per-channel weights) of Conv/Gemm/MatMul, calibrated on ``calibration``.

    ``reduce_range`` (default): weights use 7 bits (symmetric, |w| ≤ 64). x86 CPUs without VNNI (AVX2 and
    AVX-512 without VNNI, e.g. AMD Zen 2/3) multiply u8 × s8 pairs with ``vpmaddubsw``, whose
    int16 sums saturate with full-range weights (255·127·2 > 32 767): measured on a Zen AVX2
    host, int8 agreement with PyTorch fell to 0.58. With 7-bit weights the pair sum fits
    (255·64·2 = 32 640) on every CPU; turn it off only for VNNI or ARM targets.

    ``float_first_conv``: keep the first convolution (1 input channel, 16 × 8 × 8 = 1 024
    weights, ~4 KB, ~4 % of the MACs) in float. Measured: quantizing its weights alone costs
    more accuracy than all other layers together (max |Δprob| 0.026 vs 0.0075 on the scenes
    data), flipping near-tie decisions. Returns the names of the nodes left in float.

    ``calibration``: normalized windows (N, F, T), or a ready CalibrationDataReader (the
    incremental graph's inputs, :class:`~catuvac.export.streaming.StreamReader`).
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile, "entropy": CalibrationMethod.Entropy}
    if method not in methods:
        raise ExportError(f"calibration method must be one of {sorted(methods)}, got {method!r}")
    int8_path = Path(int8_path)
    pre = int8_path.with_name(int8_path.name + ".pre.onnx")
    extra: dict[str, Any] = {
        "ActivationSymmetric": False,  # activations (Relu outputs, inputs in [0, 1]) are one-sided: use the full range
        "WeightSymmetric": True,  # symmetric int8 weights: zero point 0, the form int8 kernels expect
        # Gemm outputs feed float gate arithmetic (Add/Sigmoid/Tanh): let QGemm write float
        # directly instead of a Quantize→Dequantize pair per step (faster and more accurate).
        "OpTypesToExcludeOutputQuantization": ["Gemm", "MatMul"],
        "DedicatedQDQPair": True,
    }
    if method == "percentile":
        extra["CalibPercentile"] = 99.999  # clip only the rarest outliers
    try:
        quant_pre_process(os.fspath(fp32_path), os.fspath(pre), skip_symbolic_shape=True)
        excluded: list[str] = []
        if float_first_conv:
            g = onnx.load(os.fspath(pre)).graph  # nodes in topological order: the first Conv reads the input
            excluded = [n.name for n in g.node if n.op_type == "Conv"][:1]
        # the calibrator prints its progress to stdout: keep stdout for the command's own output
        with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
            warnings.simplefilter("ignore")
            quantize_static(
                os.fspath(pre),
                os.fspath(int8_path),
                calibration if hasattr(calibration, "get_next") else _Reader(calibration),
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=list(QUANT_OP_TYPES),
                per_channel=True,
                reduce_range=reduce_range,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=methods[method],
                nodes_to_exclude=excluded,
                extra_options=extra,
            )
    finally:
        if pre.exists():
            pre.unlink()
    model = onnx.load(os.fspath(int8_path))
    _float_consumers_read_float(model)
    model.producer_name = "catuvac"
    if props:
        set_metadata(model, props)  # quantization drops metadata_props: re-apply
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, os.fspath(int8_path))
    return excluded


def _float_consumers_read_float(model: Any) -> int:
    """Rewire float ops that read a dequantized activation (``X → Q → DQ → Add``) to read ``X``.

    ``quantize_static`` routes *every* consumer of a quantized tensor through its DQ output,
    so the GRU's hidden state would be rounded to 8 bits on its float path (``h' = n + z·(h −
    n)``) at every step; only the int8 matmuls need the quantized copy. Returns the number of
    inputs rewired; DQ / Q nodes left without consumers are removed.
    """
    g = model.graph
    producer = {o: n for n in g.node for o in n.output}
    quantized_ops = set(QUANT_OP_TYPES)
    consumers: dict[str, list[Any]] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    outputs = {o.name for o in g.output}
    rewired = 0
    for dq in [n for n in g.node if n.op_type == "DequantizeLinear"]:
        q = producer.get(dq.input[0])
        if q is None or q.op_type != "QuantizeLinear":
            continue  # a weight (initializer) DQ
        original = q.input[0]
        for c in consumers.get(dq.output[0], []):
            if c.op_type in quantized_ops:
                continue
            for j, name in enumerate(c.input):
                if name == dq.output[0]:
                    c.input[j] = original
                    rewired += 1
    # drop nodes whose outputs nobody reads any more (DQ first, then their Q)
    for op in ("DequantizeLinear", "QuantizeLinear"):
        used = {i for n in g.node for i in n.input} | outputs
        dead = [n for n in g.node if n.op_type == op and not any(o in used for o in n.output)]
        for n in dead:
            g.node.remove(n)
    used = {i for n in g.node for i in n.input}
    for init in [i for i in g.initializer if i.name not in used]:
        g.initializer.remove(init)  # scales / zero points of the removed pairs
    return rewired


def int8_weight_summary(path: str | os.PathLike) -> dict[str, Any]:
    """Which weight-carrying nodes read int8 weights, and the share of initializer bytes in int8."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(os.fspath(path))
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    total = 0
    int8_bytes = 0
    for init in g.initializer:
        nbytes = numpy_helper.to_array(init).nbytes
        total += nbytes
        if init.data_type == onnx.TensorProto.INT8:
            int8_bytes += nbytes
    per_node: dict[str, str] = {}
    counts: dict[str, dict[str, int]] = {}
    for n in g.node:
        if n.op_type not in ("Conv", "Gemm", "MatMul") or len(n.input) < 2:
            continue
        w = n.input[1]
        dtype = "float32"
        src = producer.get(w)
        if src is not None and src.op_type == "DequantizeLinear" and src.input[0] in inits:
            dtype = onnx.helper.tensor_dtype_to_np_dtype(inits[src.input[0]].data_type).name
        elif w in inits:
            dtype = onnx.helper.tensor_dtype_to_np_dtype(inits[w].data_type).name
        else:
            dtype = "activation"
        per_node[n.name or w] = dtype
        c = counts.setdefault(n.op_type, {})
        c[dtype] = c.get(dtype, 0) + 1
    return {
        "int8_fraction_of_weight_bytes": int8_bytes / total if total else 0.0,
        "initializer_bytes": total,
        "int8_initializer_bytes": int8_bytes,
        "weight_dtype_by_op": counts,
        "weight_dtype_by_node": per_node,
    }


# --------------------------------------------------------------------------- the export
def _checkpoint(checkpoint: str | os.PathLike) -> Any:
    from catuvac.training.checkpoint import CheckpointError, load_checkpoint

    try:
        ck = load_checkpoint(checkpoint, expect_type="cat_uvac")
    except CheckpointError as e:
        msg = str(e)
        if "'uvac' checkpoint" in msg:
            msg += (
                ". catuvac-export deploys categorical UVAC models only: the Gaussian-mixture UVAC baseline "
                "assigns clusters with a GMM on z, not with h's argmax; train with the default model type (cat_uvac)"
            )
        raise ExportError(msg) from e
    except Exception as e:  # noqa: BLE001 - anything else while rebuilding is a bad checkpoint too
        raise ExportError(f"{checkpoint}: cannot load checkpoint ({type(e).__name__}: {e})") from e
    return ck


def _prepare_out_dir(out_dir: Path) -> bool:
    """Create / check the output folder; True if this call created it."""
    created = not out_dir.exists()
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"--out {out_dir}: exists and is not a folder; choose another output folder")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".catuvac-write-test.", dir=out_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ExportError(f"--out {out_dir}: cannot write there ({e.strerror or e}); choose a writable folder") from e
    return created


def _versions() -> dict[str, str]:
    import onnx
    import onnxruntime
    import torch

    return {
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": onnxruntime.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


# A verification window whose reference posterior has its top two clusters within this much
# probability is a near-tie: which of the two wins is rounding, in any precision (with K = 14,
# two clusters of one scene often tie). Its cluster id is not compared; |Δprob| still is.
TIE_MARGIN = 0.02


def decisive(ref_probs: np.ndarray) -> np.ndarray:
    """Mask of the windows whose reference top-two probability gap exceeds :data:`TIE_MARGIN`."""
    top2 = np.sort(np.asarray(ref_probs), axis=1)[:, -2:]
    return (top2[:, 1] - top2[:, 0]) > TIE_MARGIN


def _agreement(ref_ids: np.ndarray, ref_probs: np.ndarray, ids: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
    """(cluster-id agreement on the decisive windows — all windows if none is —, max |Δprob| over all)."""
    keep = decisive(ref_probs)
    keep = keep if keep.any() else np.ones(len(ref_ids), bool)
    return float(np.mean(ids[keep] == ref_ids[keep])), float(np.max(np.abs(probs - ref_probs)))


@dataclass(frozen=True)
class ExportOptions:
    """What :func:`export_model` builds and how strictly it verifies (the CLI's flags)."""

    int8: bool = False
    calibration: "str | WindowData | None" = None  # None = the checkpoint's training data spec
    window_seconds: float | None = None  # None = the trained window
    min_agreement: float = 0.99  # int8 vs PyTorch cluster ids on held-out windows
    calibration_method: str = "auto"  # MinMax, then Percentile if MinMax misses min_agreement
    max_calibration: int = DEFAULT_MAX_CALIBRATION
    max_verify: int = DEFAULT_MAX_VERIFY
    seed: int | None = None  # None = the trainer's split seed
    progress: bool = True
    fully_int8: bool = False  # quantize the first conv too
    full_range_weights: bool = False  # 8-bit weights: exact only on VNNI/ARM CPUs (see quantize_int8)
    c_dir: "str | os.PathLike[str] | None" = None  # also write the C99 target there (implies int8, fully_int8)

    def validate(self) -> "ExportOptions":
        if not 0.0 <= float(self.min_agreement) <= 1.0:
            raise ExportError(f"--min-agreement must be in [0, 1], got {self.min_agreement}")
        if self.calibration_method not in ("auto", "minmax", "percentile", "entropy"):
            raise ExportError(f"calibration method must be auto, minmax, percentile or entropy, got {self.calibration_method!r}")
        if self.c_dir is not None:
            # the C target runs int8 weights only: every conv quantized (see c_plan)
            return dataclasses.replace(self, int8=True, fully_int8=True)
        return self


@dataclass
class _Run:
    """The state the export steps share: inputs, the reference, the report and the files to publish."""

    ck: Any
    fe: Any
    out: Path
    opts: ExportOptions
    split: dict[str, int]  # load_dataset's split arguments: the checkpoint's split seed (and fold)
    t_start: float
    tmpdir: Path = Path()
    data: WindowData | None = None
    module: Any = None
    ref_ids: np.ndarray | None = None
    ref_probs: np.ndarray | None = None
    info: Any = None
    report: dict[str, Any] = dataclasses.field(default_factory=dict)
    failures: list[str] = dataclasses.field(default_factory=list)
    # (name in out_dir, temporary file, publish?) — files of this run, published last
    files: list[tuple[str, Path, bool]] = dataclasses.field(default_factory=list)
    c_tmp: Path | None = None  # the C folder, built next to its destination


def export_model(
    checkpoint: str | os.PathLike,
    out_dir: str | os.PathLike,
    int8: bool = False,
    calibration: "str | WindowData | None" = None,
    window_seconds: float | None = None,
    min_agreement: float = MIN_AGREEMENT,
    calibration_method: str = "auto",
    max_calibration: int = DEFAULT_MAX_CALIBRATION,
    max_verify: int = DEFAULT_MAX_VERIFY,
    seed: int | None = None,
    progress: bool = True,
    fully_int8: bool = False,
    c_dir: str | os.PathLike | None = None,
    full_range_weights: bool = False,
) -> dict[str, Any]:
    """Export h + argmax of a CatUVAC checkpoint; return the report (also written to
    ``out_dir/export_report.json``).

    ``calibration``: ``None`` = the checkpoint's training data spec (``train_config["data"]``);
    a data spec string (``builtin:scenes``, ``folder:PATH``, …); or :class:`WindowData`
    (already normalized windows). ``calibration_method``: ``"minmax"``, ``"percentile"``,
    ``"entropy"`` or ``"auto"`` (MinMax, then Percentile if MinMax misses ``min_agreement``;
    the better one is kept). ``c_dir``: also write the int8 encoder as C99 into that folder
    (implies ``int8`` and ``fully_int8``; see :mod:`catuvac.export.c_target`). Raises
    :class:`ExportError` (bad input) or :class:`AgreementError` (verification failed; the
    report is still written).
    """
    opts = ExportOptions(
        int8=int8, calibration=calibration, window_seconds=window_seconds, min_agreement=min_agreement,
        calibration_method=calibration_method, max_calibration=max_calibration, max_verify=max_verify,
        seed=seed, progress=progress, fully_int8=fully_int8, c_dir=c_dir, full_range_weights=full_range_weights,
    ).validate()
    return run_export(checkpoint, out_dir, opts)


def run_export(checkpoint: str | os.PathLike, out_dir: str | os.PathLike, opts: ExportOptions) -> dict[str, Any]:
    """The export as a list of steps: check inputs and outputs, windows, reference, targets, publish."""
    t_start = time.perf_counter()
    ck = _checkpoint(checkpoint)
    fe = _export_frontend(ck, opts.window_seconds)
    out = Path(out_dir)
    c_dir = _check_c_dir(Path(opts.c_dir), out) if opts.c_dir is not None else None
    if c_dir is not None and ck.model_config.arch != "paper":
        raise ExportError(f"--c: the C target runs the paper architecture only, not arch {ck.model_config.arch!r}; "
                          "export this model without --c (ONNX fp32 / int8)")
    created = _prepare_out_dir(out)
    run = _Run(ck=ck, fe=fe, out=out, opts=opts, split=_checkpoint_split(ck, opts.seed), t_start=t_start)
    try:
        _log(opts.progress, f"checkpoint {ck.path} (K={ck.model_config.n_clusters}, {fe.window_seconds:g} s = {fe.window_frames} frames)")
        run.data = _windows(run)
        _reference(run)
        run.report = _base_report(run)
        remove_stale_temps(out, ".catuvac-export")  # a run killed with -9 left its folder behind
        run.tmpdir = Path(tempfile.mkdtemp(prefix=f".catuvac-export.{os.getpid()}.", suffix=TEMP_SUFFIX, dir=out))
        try:
            _fp32_target(run)
            if opts.int8:
                _int8_target(run)
            from .streaming import stream_target  # incremental graphs of a streaming-built model (issue 13)

            stream_target(run)
            if c_dir is not None:
                _c_target(run, c_dir)
            _publish(run, c_dir)
        except ExportError:
            raise
        except OSError as e:
            raise ExportError(f"export failed ({e}); the temporary files in {out} were removed") from e
        finally:
            shutil.rmtree(run.tmpdir, ignore_errors=True)
            if run.c_tmp is not None:
                shutil.rmtree(run.c_tmp, ignore_errors=True)
    except BaseException:
        if created:  # a folder this call made and left empty goes too
            try:
                out.rmdir()
            except OSError:
                pass
        raise
    if run.failures:
        raise AgreementError("; ".join(run.failures), run.report)
    _log(opts.progress, f"done in {run.report['seconds']:.1f} s → {out}")
    return run.report


# --------------------------------------------------------------------------- steps
def _export_frontend(ck: Any, window_seconds: float | None) -> Any:
    """The exported window's front-end config (a shorter window warns); global statistics required."""
    mcfg = ck.model_config
    fe, shorter = resolve_window(ck.frontend, mcfg.n_frames, window_seconds)
    if shorter:
        warnings.warn(
            f"exporting a {fe.window_seconds:g}-s window ({fe.window_frames} frames) from a model trained on "
            f"{ck.frontend.window_seconds:g} s ({mcfg.n_frames} frames): decisions may be less reliable",
            stacklevel=3,
        )
    try:
        fe.require_stats()
    except ValueError as e:
        raise ExportError(f"{ck.path}: {e}") from e
    return fe


def _checkpoint_split(ck: Any, seed: int | None) -> dict[str, int]:
    """The trainer's split (its seed, and its fold under cross-validation) by default: calibration
    reads the windows the model trained on, verification the ones it did not; ``seed`` replaces
    only the split seed."""
    from catuvac.training.datasets import split_args

    return split_args(ck.train_config, seed)


def _windows(run: _Run) -> WindowData:
    """Calibration and verification windows, checked against the exported input shape."""
    opts, ck, fe = run.opts, run.ck, run.fe
    if isinstance(opts.calibration, WindowData):
        data = opts.calibration
    else:
        spec = opts.calibration if opts.calibration is not None else ck.train_config.get("data")
        if not spec:
            raise ExportError(
                f"{ck.path}: the checkpoint does not record its training data; pass --calibration SPEC "
                "(e.g. builtin:scenes or folder:PATH with audio files)"
            )
        _log(opts.progress, f"loading calibration / verification windows from {spec}")
        data = load_windows(
            str(spec), fe, max_calibration=opts.max_calibration, max_verify=opts.max_verify, progress=opts.progress,
            max_files=ck.train_config.get("max_files") if opts.calibration is None else None,
            # the checkpoint's own data: its split and fold; other data: the split seed only
            **(run.split if opts.calibration is None else {"seed": run.split["seed"]}),
        )
    for name, arr in (("calibration", data.calibration), ("verification", data.verification)):
        if arr.shape[1:] != (fe.n_features, fe.window_frames):
            raise ExportError(
                f"{name} windows are {arr.shape[1]}×{arr.shape[2]} but the exported model takes "
                f"{fe.n_features}×{fe.window_frames}"
            )
    return data


def _reference(run: _Run) -> None:
    """PyTorch's ids / probabilities on the verification windows and the export module (checked against it)."""
    import torch

    from .graph import HEncoderExport

    assert run.data is not None
    model = run.ck.model.eval()
    with torch.no_grad():
        xv = torch.from_numpy(run.data.verification[:, None])
        ref_logits = torch.cat([model.logits(xv[i : i + 64]) for i in range(0, len(xv), 64)])
        run.ref_probs = torch.softmax(ref_logits, dim=1).numpy()
        run.ref_ids = ref_logits.argmax(dim=1).numpy()
        run.module = HEncoderExport(model)
        chk = xv[: min(16, len(xv))]
        run.report["torch_explicit_gru_max_abs_logit_diff"] = float((run.module.logits(chk) - model.logits(chk)).abs().max())
        run.report["gru_steps"] = int(run.module.conv(torch.zeros(1, 1, run.fe.n_features, run.fe.window_frames)).shape[-1])
    if not run.report["torch_explicit_gru_max_abs_logit_diff"] <= 1e-4:
        raise ExportError(
            f"internal error: the export module differs from the model by "
            f"{run.report['torch_explicit_gru_max_abs_logit_diff']:.3g} in the logits"
        )


def _base_report(run: _Run) -> dict[str, Any]:
    from catuvac.runtime.modelmeta import ModelInfo
    from catuvac.training.checkpoint import file_sha256

    ck, fe, data, mcfg = run.ck, run.fe, run.data, run.ck.model_config
    assert data is not None
    sha = file_sha256(ck.path)
    run.info = ModelInfo(
        frontend=fe, window_seconds=fe.window_seconds, window_frames=fe.window_frames,
        n_clusters=mcfg.n_clusters, model_type=mcfg.model_type, checkpoint_sha256=sha, arch=mcfg.arch,
    )
    return {
        "checkpoint": str(ck.path),
        "checkpoint_sha256": sha,
        "model_type": mcfg.model_type,
        "arch": mcfg.arch,
        "n_clusters": mcfg.n_clusters,
        "input_shape": [1, 1, fe.n_features, fe.window_frames],
        "window_seconds": fe.window_seconds,
        "window_frames": fe.window_frames,
        "trained_window_seconds": ck.frontend.window_seconds,
        "trained_window_frames": mcfg.n_frames,
        "gru_steps": run.report["gru_steps"],
        "exporter": EXPORTER,
        "opset": OPSET,
        "data_source": data.source,
        "verification_split": data.verification_split,
        "n_windows": int(len(data.verification)),
        "n_calibration_windows": int(len(data.calibration)),
        "torch_explicit_gru_max_abs_logit_diff": run.report["torch_explicit_gru_max_abs_logit_diff"],
        "fp32_bytes": None,
        "int8_bytes": None,
        "int8_to_fp32_size_ratio": None,
        "agreement_fp32": None,
        "agreement_int8": None,
        "max_abs_prob_diff_fp32": None,
        "max_abs_prob_diff_int8": None,
        "min_agreement": float(run.opts.min_agreement),
        "versions": _versions(),
    }


def _fp32_target(run: _Run) -> None:
    """Build the fp32 ONNX model, verify it against PyTorch, report."""
    assert run.data is not None and run.ref_ids is not None and run.ref_probs is not None
    t0 = time.perf_counter()
    path = run.tmpdir / FP32_NAME
    export_onnx(run.module, run.fe.n_features, run.fe.window_frames, path, dataclasses.replace(run.info, precision="fp32").to_props())
    _log(run.opts.progress, f"fp32 model exported ({path.stat().st_size / 1e6:.2f} MB, {time.perf_counter() - t0:.1f} s); verifying")
    ids32, probs32 = run_onnx(ort_session(path), run.data.verification, run.opts.progress, "verify fp32")
    agree32, diff32 = _agreement(run.ref_ids, run.ref_probs, ids32, probs32)
    run.report.update(fp32_bytes=path.stat().st_size, agreement_fp32=agree32, max_abs_prob_diff_fp32=diff32)
    run.report["seconds_fp32"] = round(time.perf_counter() - t0, 3)
    ok = agree32 >= run.opts.min_agreement and diff32 <= FP32_PROB_TOLERANCE
    if not ok:
        run.failures.append(
            f"fp32 model disagrees with PyTorch (agreement_fp32 = {agree32:.4f}, max |Δprob| = {diff32:.2g}): "
            "an exporter problem, please report it; nothing but the report was written"
        )
    run.files.append((FP32_NAME, path, ok))


def _int8_target(run: _Run) -> None:
    """Quantize (trying the calibration candidates in order), verify against PyTorch, report."""
    assert run.data is not None and run.ref_ids is not None and run.ref_probs is not None
    opts, data = run.opts, run.data
    t0 = time.perf_counter()
    props8 = dataclasses.replace(run.info, precision="int8").to_props()
    methods = ["minmax", "percentile"] if opts.calibration_method == "auto" else [opts.calibration_method]
    # Default: the first conv (1 input channel, 4 KB) stays float — measured faster (int8 vs
    # PyTorch 3.8×/2.9× at 4/10 s, against 3.1×/2.4× fully int8) and more accurate.
    # fully_int8: every Conv/Gemm in int8; the first-conv-float form is the fallback when
    # that misses --min-agreement. The report says which was written.
    # (with --c there is no fallback: the C target runs int8 convolutions only)
    candidates = [(m, False) for m in methods] if opts.fully_int8 else []
    if opts.c_dir is None or not opts.fully_int8:
        candidates += [(m, True) for m in methods]
    tried: dict[str, dict[str, float]] = {}
    nodes_by_key: dict[str, list[str]] = {}
    best: tuple[float, float, str] | None = None
    for method, keep_first in candidates:
        key = method + ("" if keep_first else "+fully_int8")
        _log(opts.progress, f"int8 quantization ({key} calibration on {len(data.calibration)} windows)")
        cand = run.tmpdir / f"int8.{key}.onnx"
        nodes_by_key[key] = quantize_int8(run.tmpdir / FP32_NAME, cand, data.calibration, method, props8, float_first_conv=keep_first,
                                         reduce_range=not opts.full_range_weights)
        ids8, probs8 = run_onnx(ort_session(cand), data.verification, opts.progress, f"verify int8 ({key})")
        a8, d8 = _agreement(run.ref_ids, run.ref_probs, ids8, probs8)
        tried[key] = {"agreement_int8": a8, "max_abs_prob_diff_int8": d8}
        _log(opts.progress, f"  {key}: agreement {a8:.4f}, max |Δprob| {d8:.4f}")
        if best is None or a8 > best[0] or (a8 == best[0] and d8 < best[1]):
            best = (a8, d8, key)
        if a8 >= opts.min_agreement:
            break
    assert best is not None
    a8, d8, best_key = best
    float_nodes = nodes_by_key[best_key]
    path = run.tmpdir / INT8_NAME
    os.replace(run.tmpdir / f"int8.{best_key}.onnx", path)
    for m in tried:
        (run.tmpdir / f"int8.{m}.onnx").unlink(missing_ok=True)
    summary = int8_weight_summary(path)
    run.report.update(
        int8_bytes=path.stat().st_size,
        agreement_int8=a8,
        near_tie_windows=int((~decisive(run.ref_probs)).sum()),  # not compared by cluster id (TIE_MARGIN)
        max_abs_prob_diff_int8=d8,
        calibration_method=best_key.split("+")[0],
        calibration_methods_tried=tried,
        quantization={
            "format": "QDQ",
            "activations": "int8 (asymmetric, per-tensor)",
            "weights": "int8 (symmetric, per-channel)",
            "weight_bits": 8 if opts.full_range_weights else 7,  # 7: no u8×s8 saturation on non-VNNI x86
            "op_types": list(QUANT_OP_TYPES),
            "weight_dtype_by_op": summary["weight_dtype_by_op"],
            "float_nodes": float_nodes,  # empty = fully int8; else the first conv (see quantize_int8)
            "fully_int8": not float_nodes,
        },
        int8_fraction_of_weight_bytes=summary["int8_fraction_of_weight_bytes"],
    )
    run.report["int8_to_fp32_size_ratio"] = run.report["int8_bytes"] / run.report["fp32_bytes"]
    run.report["seconds_int8"] = round(time.perf_counter() - t0, 3)
    if a8 < opts.min_agreement:
        run.failures.append(
            f"agreement_int8 = {a8:.4f} < --min-agreement {opts.min_agreement} on {len(data.verification)} held-out windows "
            f"(calibration tried: {', '.join(tried)}); the int8 model was not written. Try more calibration data "
            "(--calibration SPEC), another --calibration-method, or deploy the fp32 model"
        )
    run.files.append((INT8_NAME, path, a8 >= opts.min_agreement))


def _check_c_dir(c_dir: Path, out: Path) -> Path:
    """The C folder: new, empty, or one an earlier --c wrote (only its files); checked before any work."""
    from .c_codegen import C_FILES

    if c_dir.resolve() == out.resolve():
        raise ExportError(f"--c {c_dir}: use a folder of its own, not the --out folder")
    if c_dir.exists():
        if not c_dir.is_dir():
            raise ExportError(f"--c {c_dir}: exists and is not a folder; choose another folder")
        foreign = sorted(p.name for p in c_dir.iterdir() if p.name not in (*C_FILES, "README.md", "catuvac_example", "catuvac_verify", "catuvac_model.o"))
        if foreign:
            raise ExportError(f"--c {c_dir}: holds other files ({', '.join(foreign[:3])}…); choose an empty or new folder")
    try:
        c_dir.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".catuvac-write-test.", dir=c_dir.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ExportError(f"--c {c_dir}: cannot write there ({e.strerror or e}); choose a writable folder") from e
    return c_dir


def _c_target(run: _Run, c_dir: Path) -> None:
    """Generate the C99 encoder from the int8 model, build it, verify it against ORT int8 and the integer reference."""
    from .c_plan import CExportError
    from .c_target import build_c_target

    assert run.data is not None
    t0 = time.perf_counter()
    int8_path = run.tmpdir / INT8_NAME
    if not run.report.get("quantization", {}).get("fully_int8"):
        raise ExportError(
            "--c: the int8 model keeps its first conv in float, which the C target does not run; export with --fully-int8"
        )
    # every real window at hand: calibration + held-out (C vs ORT int8 is a rounding check, not generalization)
    windows = np.concatenate([run.data.calibration, run.data.verification])
    _log(run.opts.progress, f"C target: generating, compiling and verifying on {len(windows)} windows")
    ids8, probs8 = run_onnx(ort_session(int8_path), windows, run.opts.progress, "ORT int8 for C")
    run.c_tmp = Path(tempfile.mkdtemp(prefix=".catuvac-c.", dir=c_dir.parent))
    try:
        section = build_c_target(int8_path, run.fe, run.c_tmp, run.tmpdir / "c_build", windows, ids8, probs8,
                                 source_note=f"checkpoint sha256 {run.report['checkpoint_sha256'][:12]}")
    except CExportError as e:
        raise ExportError(f"--c: {e}") from e
    section["dir"] = str(c_dir)
    section["seconds"] = round(time.perf_counter() - t0, 3)
    run.report["c"] = section
    run.failures += [f"C target: {err}; the C folder was not written" for err in section["errors"]]
    _log(run.opts.progress, f"  C: ids vs ORT int8 {section['id_agreement_with_ort_int8']:.4f}, bit-exact {section['bit_exact_with_reference']}")


def _publish(run: _Run, c_dir: Path | None) -> None:
    """Models first, report last (a report always describes files that exist); a model of an
    earlier run that this run does not replace is removed, so it cannot be mistaken for this run's."""
    out, report = run.out, run.report
    report["passed"] = not run.failures
    report["errors"] = run.failures
    report["seconds"] = round(time.perf_counter() - run.t_start, 3)
    ok = {name: good for name, _, good in run.files}
    if not ok.get(FP32_NAME):  # the int8 model is only as good as the fp32 graph it was made from
        ok[INT8_NAME] = False
    report["files"] = {"fp32": str(out / FP32_NAME) if ok.get(FP32_NAME) else None,
                       "int8": str(out / INT8_NAME) if ok.get(INT8_NAME) else None}
    from .streaming import STREAM_NAMES

    for precision, full in (("fp32", FP32_NAME), ("int8", INT8_NAME)):  # an incremental graph goes with its full-window model
        if STREAM_NAMES[precision] not in ok:
            continue
        ok[STREAM_NAMES[precision]] = bool(ok.get(full) and ok[STREAM_NAMES[precision]])
        report["files"][f"stream_{precision}"] = str(out / STREAM_NAMES[precision]) if ok[STREAM_NAMES[precision]] else None
    for name, src, _ in run.files:
        if ok[name]:
            os.replace(src, out / name)
    for name in (FP32_NAME, INT8_NAME, *STREAM_NAMES.values()):
        if not ok.get(name) and (out / name).exists():
            (out / name).unlink()
            warnings.warn(f"removed {out / name} of an earlier export: it was not made from this checkpoint"
                          + (" (add --int8 to write a new one)" if name == INT8_NAME and not run.opts.int8 else ""),
                          CatuvacWarning, stacklevel=3)
    if c_dir is not None and run.c_tmp is not None:
        report["files"]["c"] = str(c_dir) if not run.failures else None
        if not run.failures:
            _replace_dir(run.c_tmp, c_dir)
            run.c_tmp = None
    rep_tmp = run.tmpdir / REPORT_NAME
    rep_tmp.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    os.replace(rep_tmp, out / REPORT_NAME)


def _replace_dir(src: Path, dst: Path) -> None:
    """Move the folder ``src`` to ``dst``; an earlier ``dst`` (checked to hold only C-target files) goes."""
    old = None
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old.{os.getpid()}")
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
