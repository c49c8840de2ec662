"""The integer program of the C target, read from the int8 QDQ ONNX graph.

:func:`plan_from_onnx` walks the graph that :func:`catuvac.export.exporter.quantize_int8` wrote
(Conv stack → Transpose/Reshape → GRU written out as Gemm + elementwise ops → Gemm read-out →
ArgMax/Softmax) and turns every quantized tensor into integers: int8 weights, int32 biases,
activation zero points, and each real scale ratio as a fixed-point multiplier + shift. The same
:class:`CPlan` drives the C generator (:mod:`catuvac.export.c_codegen`) and the numpy integer
reference (:mod:`catuvac.export.c_reference`), so both compute one arithmetic.

The arithmetic (all of it integer once the window is quantized):

- activations int8 with the graph's per-tensor scale / zero point; weights int8 symmetric
  per output channel; ``int8 × int8 → int32`` accumulation with the graph's int32 bias;
- requantization ``y = (acc · m + 2^(s−1)) >> s`` with ``m ∈ [2^30, 2^31)`` (round half up),
  to int8 (+ zero point, saturating: a ReLU whose zero point sits at −128 is that saturation,
  as in the QDQ graph where ORT removed the ReLU) or to Q16 (GRU pre-activations, logits);
- GRU gates: sigmoid / tanh of a Q16 value from a 1 025-entry Q15 table over [−8, 8) with
  linear interpolation; products Q15 · Q16 → Q16 and Q15 · Q15 → Q15 rounded half up;
  the hidden state in Q15, requantized to the graph's per-step int8 scale before each
  recurrent product (exactly where the QDQ graph quantizes it);
- q(y|x): softmax in Q15 from a 2^−x table (Q30, 257 entries, interpolated).

Right shifts of negative values are arithmetic (true for every C compiler we know of; C99
leaves it implementation-defined, so the generated code checks it once in ``catuvac_init``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from catuvac.runtime.errors import CatuvacError

__all__ = [
    "CExportError",
    "ConvLayer",
    "GruLayer",
    "Requant",
    "CPlan",
    "SUPPORTED_OPS",
    "plan_from_onnx",
    "quantize_multiplier",
    "sigmoid_table",
    "tanh_table",
    "exp2_table",
    "PRE_FRAC",
    "LUT_FRAC_BITS",
    "LUT_RANGE",
]

PRE_FRAC = 16  # GRU pre-activations and logits in Q16: ±32 768 range, 1.5e-5 resolution
LUT_RANGE = 8 << PRE_FRAC  # sigmoid / tanh tables cover [−8, 8): saturated outside (error < 3.4e-4 for sigmoid)
LUT_FRAC_BITS = 10  # table step 2^−6 in Q16 units: interpolation error < 1 Q15 LSB for tanh
SUPPORTED_OPS = (
    "QuantizeLinear", "DequantizeLinear", "Conv", "Relu", "Transpose", "Reshape", "Gemm", "MatMul",
    "Split", "Sigmoid", "Tanh", "Add", "Sub", "Mul", "Concat", "Softmax", "ArgMax",
)


class CExportError(CatuvacError, ValueError):
    """A model the C target cannot express; the message names the node and its op."""


@dataclass(frozen=True)
class Requant:
    """A real multiplier as ``m · 2^−s`` (``m`` int32 in [2^30, 2^31), 1 ≤ s ≤ 62), per channel or scalar."""

    mult: np.ndarray  # int64 array (C: int32)
    shift: np.ndarray  # int64 array (C: int8)

    @classmethod
    def of(cls, real: Any) -> "Requant":
        r = np.atleast_1d(np.asarray(real, dtype=np.float64))
        pairs = [quantize_multiplier(float(v)) for v in r]
        return cls(np.array([p[0] for p in pairs], dtype=np.int64), np.array([p[1] for p in pairs], dtype=np.int64))


@dataclass
class ConvLayer:
    w: np.ndarray  # int8 (Co, Ci, kh, kw)
    bias: np.ndarray  # int32 (Co,) in the scale s_x · s_w[c]
    stride: tuple[int, int]
    pads: tuple[int, int, int, int]  # top, left, bottom, right
    in_shape: tuple[int, int, int]  # (Ci, H, W)
    out_shape: tuple[int, int, int]  # (Co, H', W')
    in_zp: int
    out_zp: int
    requant: Requant  # s_x · s_w[c] / s_y per output channel
    relu: bool

    @property
    def macs(self) -> int:
        return int(np.prod(self.out_shape) * np.prod(self.w.shape[1:]))


@dataclass
class GruLayer:
    """One GRU layer: input projection of every step, then ``steps`` recurrent cells."""

    w_ih: np.ndarray  # int8 (3H, I) (row j = output unit j)
    b_x: np.ndarray  # int32 (3H,) in the scale s_x · s_w_ih[j]
    x_zp: int
    x_to_q16: Requant  # s_x · s_w_ih[j] · 2^16, per j
    w_hh: np.ndarray  # int8 (3H, H)
    h_zp: np.ndarray  # int (steps − 1,): zero point of h before step t = 1 … steps − 1
    h_to_int8: Requant  # 2^−15 / s_h[t], per step
    h_to_q16: Requant  # s_h[t] · s_w_hh[j] · 2^16, flattened (steps − 1) × 3H
    b_hn: np.ndarray  # int32 (H,) Q16
    steps: int

    @property
    def hidden(self) -> int:
        return int(self.w_hh.shape[1])

    @property
    def macs(self) -> int:
        return int(self.steps * self.w_ih.size + (self.steps - 1) * self.w_hh.size)


@dataclass
class CPlan:
    """Everything the generated C and the numpy reference compute, as integers (+ the input scale)."""

    n_features: int
    n_frames: int
    in_scale: float  # the window's int8 scale (the one float step: quantizing the normalized window)
    in_zp: int
    convs: list[ConvLayer]
    grus: list[GruLayer]
    seq_zp: list[int]  # int8 zero point of each GRU layer's input sequence (layer 0: the conv output's)
    seq_to_int8: list[Requant]  # Q15 → int8 of layer k's input (k ≥ 1) and of the read-out input (last entry)
    w_out: np.ndarray  # int8 (K, H)
    b_out: np.ndarray  # int32 (K,)
    out_in_zp: int
    out_to_q16: Requant  # s_in · s_w[k] · 2^16
    notes: list[str] = field(default_factory=list)

    @property
    def n_clusters(self) -> int:
        return int(self.w_out.shape[0])

    @property
    def macs(self) -> int:
        return sum(c.macs for c in self.convs) + sum(g.macs for g in self.grus) + int(self.w_out.size)

    @property
    def seq_shape(self) -> tuple[int, int]:
        c, f, t = self.convs[-1].out_shape
        return t, c * f

    def weight_bytes(self) -> int:
        arrays = [c.w for c in self.convs] + [g.w_ih for g in self.grus] + [g.w_hh for g in self.grus] + [self.w_out]
        return int(sum(a.size for a in arrays))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """``real ≈ m · 2^−s``, m int32 in [2^30, 2^31), 1 ≤ s ≤ 62; (0, 1) for 0 or a value below 2^−31."""
    if not math.isfinite(real) or real < 0:
        raise CExportError(f"a requantization scale must be finite and ≥ 0, got {real}")
    if real == 0.0:
        return 0, 1
    f, e = math.frexp(real)  # real = f · 2^e, f in [0.5, 1)
    m = int(round(f * (1 << 31)))
    if m == 1 << 31:
        m //= 2
        e += 1
    s = 31 - e
    if s > 62:
        return 0, 1
    if s < 1:
        raise CExportError(f"requantization multiplier {real:g} is too large for the int32 arithmetic")
    return m, s


def _grid() -> np.ndarray:
    step = 1 << LUT_FRAC_BITS
    return (np.arange(2 * LUT_RANGE // step + 1) * step - LUT_RANGE) / float(1 << PRE_FRAC)


def sigmoid_table() -> np.ndarray:
    """Q15 sigmoid on [−8, 8] in steps of 2^−6 (1 025 entries, int16)."""
    v = 1.0 / (1.0 + np.exp(-_grid()))
    return np.clip(np.round(v * 32768), 0, 32767).astype(np.int64)


def tanh_table() -> np.ndarray:
    """Q15 tanh on [−8, 8] in steps of 2^−6 (1 025 entries, int16)."""
    return np.clip(np.round(np.tanh(_grid()) * 32768), -32767, 32767).astype(np.int64)


def exp2_table() -> np.ndarray:
    """Q30 2^(−i/256), i = 0 … 256 (int32): the fraction part of the softmax's exponential."""
    return np.round(2.0 ** (-np.arange(257) / 256.0) * (1 << 30)).astype(np.int64)


# --------------------------------------------------------------------------- the graph walk
class _Graph:
    def __init__(self, model: Any) -> None:
        from onnx import numpy_helper

        self.g = model.graph
        self.inits = {i.name: numpy_helper.to_array(i) for i in self.g.initializer}
        self.producer = {o: n for n in self.g.node for o in n.output}
        self.consumers: dict[str, list[Any]] = {}
        for n in self.g.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)

    def const(self, name: str) -> np.ndarray:
        if name in self.inits:
            return self.inits[name]
        p = self.producer.get(name)
        if p is not None and p.op_type == "Constant":
            from onnx import numpy_helper

            return numpy_helper.to_array(p.attribute[0].t)
        raise CExportError(f"{name!r} is not a constant")

    def weight(self, node: Any, idx: int) -> tuple[np.ndarray, np.ndarray, int]:
        """int8 weight, float64 per-channel scale and axis behind input ``idx`` of ``node``."""
        name = node.input[idx]
        dq = self.producer.get(name)
        if dq is None or dq.op_type != "DequantizeLinear" or dq.input[0] not in self.inits:
            raise CExportError(
                f"node {node.name!r} ({node.op_type}) reads float weights {name!r}: the C target runs int8 weights only; "
                "export with --fully-int8 so every Conv/Gemm/MatMul is quantized"
            )
        q = self.inits[dq.input[0]]
        if q.dtype != np.int8:
            raise CExportError(f"node {node.name!r} ({node.op_type}): weights {name!r} are {q.dtype}, the C target needs int8")
        zp = self.inits.get(dq.input[2]) if len(dq.input) > 2 else None
        if zp is not None and np.any(zp != 0):
            raise CExportError(f"node {node.name!r} ({node.op_type}): weights {name!r} are not symmetric (zero point ≠ 0)")
        axis = next((a.i for a in dq.attribute if a.name == "axis"), 1)
        return q, np.asarray(self.inits[dq.input[1]], dtype=np.float64), int(axis)

    def float_bias(self, node: Any, idx: int) -> np.ndarray | None:
        if len(node.input) <= idx or not node.input[idx]:
            return None
        name = node.input[idx]
        dq = self.producer.get(name)
        if dq is not None and dq.op_type == "DequantizeLinear":
            q = self.inits[dq.input[0]].astype(np.float64)
            s = np.asarray(self.inits[dq.input[1]], dtype=np.float64)
            z = self.inits[dq.input[2]].astype(np.float64) if len(dq.input) > 2 else 0.0
            return (q - z) * s
        return np.asarray(self.const(name), dtype=np.float64)

    def act_quant(self, node: Any, idx: int = 0) -> tuple[float, int]:
        """(scale, zero point) of the int8 activation that input ``idx`` of ``node`` dequantizes."""
        name = node.input[idx]
        dq = self.producer.get(name)
        q = self.producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
        if q is None or q.op_type != "QuantizeLinear":
            raise CExportError(
                f"node {node.name!r} ({node.op_type}) reads a float activation {name!r}: the C target needs its input "
                "quantized (an int8 QDQ model from catuvac-export --int8 --fully-int8)"
            )
        return self._qparams(q)

    def _qparams(self, q: Any) -> tuple[float, int]:
        scale = float(np.asarray(self.inits[q.input[1]]).reshape(-1)[0])
        zp = self.inits[q.input[2]] if len(q.input) > 2 else np.zeros(1, np.int8)
        if zp.dtype != np.int8:
            raise CExportError(f"node {q.name!r} (QuantizeLinear) quantizes to {zp.dtype}, the C target needs int8")
        return scale, int(np.asarray(zp).reshape(-1)[0])

    def output_quant(self, node: Any) -> tuple[float, int, bool]:
        """Follow ``node``'s output through Relu / Transpose / Reshape to its QuantizeLinear."""
        name, relu = node.output[0], False
        while True:
            nxt = self.consumers.get(name, [])
            if len(nxt) != 1:
                raise CExportError(f"node {node.name!r} ({node.op_type}): output {name!r} is not requantized to int8 once")
            n = nxt[0]
            if n.op_type == "QuantizeLinear":
                s, z = self._qparams(n)
                return s, z, relu
            if n.op_type not in ("Relu", "Transpose", "Reshape"):
                raise CExportError(f"node {n.name!r}: op {n.op_type} between a Conv and its requantization is not supported by the C target")
            relu |= n.op_type == "Relu"
            name = n.output[0]


def _attr(node: Any, name: str, default: Any) -> Any:
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


def plan_from_onnx(path: str | os.PathLike) -> CPlan:
    """Read the int8 QDQ model at ``path`` into a :class:`CPlan`; :class:`CExportError` names any op it cannot express."""
    import onnx

    model = onnx.load(os.fspath(path))
    for n in model.graph.node:
        if n.op_type not in SUPPORTED_OPS:
            raise CExportError(
                f"node {n.name!r}: op {n.op_type} is not supported by the C target "
                f"(supported: {', '.join(SUPPORTED_OPS)})"
            )
    g = _Graph(model)
    inp = model.graph.input[0]
    dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    if len(dims) != 4 or dims[0] != 1 or dims[1] != 1 or min(dims) < 1:
        raise CExportError(f"input {inp.name!r} must have a fixed shape [1, 1, F, T], got {dims}")
    _, _, n_feat, n_frames = dims
    convs = _convs(g, (1, n_feat, n_frames))
    gemms = [n for n in model.graph.node if n.op_type in ("Gemm", "MatMul")]
    grus, seq_zp, seq_q, out = _grus(g, gemms, convs[-1].out_shape if convs else None)
    w_out, b_out, out_zp, out_q16 = out
    n_sig = sum(n.op_type == "Sigmoid" for n in model.graph.node)
    n_tanh = sum(n.op_type == "Tanh" for n in model.graph.node)
    steps = sum(gl.steps for gl in grus)
    if n_sig != steps or n_tanh != steps:
        raise CExportError(
            f"GRU cell structure not recognised ({n_sig} Sigmoid / {n_tanh} Tanh nodes for {steps} steps): "
            "the C target expects the GRU of catuvac.export.graph.ExplicitGRU"
        )
    s_in, z_in = g.act_quant(next(n for n in model.graph.node if n.op_type == "Conv"))
    return CPlan(n_feat, n_frames, s_in, z_in, convs, grus, seq_zp, seq_q, w_out, b_out, out_zp, out_q16)


def _convs(g: _Graph, shape: tuple[int, int, int]) -> list[ConvLayer]:
    out: list[ConvLayer] = []
    for n in [n for n in g.g.node if n.op_type == "Conv"]:
        if _attr(n, "group", 1) != 1 or any(d != 1 for d in _attr(n, "dilations", [1, 1])):
            raise CExportError(f"node {n.name!r} (Conv): grouped or dilated convolutions are not supported by the C target")
        if _attr(n, "auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise CExportError(f"node {n.name!r} (Conv): auto_pad is not supported by the C target; export explicit pads")
        w, sw, axis = g.weight(n, 1)
        if axis != 0 or w.ndim != 4:
            raise CExportError(f"node {n.name!r} (Conv): weights must be quantized per output channel (axis 0)")
        sx, zx = g.act_quant(n, 0)
        sy, zy, relu = g.output_quant(n)
        bias = g.float_bias(n, 2)
        acc_scale = sx * sw
        b = np.zeros(w.shape[0]) if bias is None else bias
        b_int = np.round(b / acc_scale)
        if np.any(np.abs(b_int) >= 2**31):
            raise CExportError(f"node {n.name!r} (Conv): bias does not fit int32 at the accumulator scale")
        ci, h, wd = shape
        if w.shape[1] != ci:
            raise CExportError(f"node {n.name!r} (Conv): expects {w.shape[1]} input channels, gets {ci}")
        kh, kw = w.shape[2:]
        st = tuple(_attr(n, "strides", [1, 1]))
        pads = tuple(_attr(n, "pads", [0, 0, 0, 0]))  # ONNX: top, left, bottom, right
        oh = (h + pads[0] + pads[2] - kh) // st[0] + 1
        ow = (wd + pads[1] + pads[3] - kw) // st[1] + 1
        layer = ConvLayer(
            w=w.astype(np.int8), bias=b_int.astype(np.int64), stride=(int(st[0]), int(st[1])),
            pads=(int(pads[0]), int(pads[1]), int(pads[2]), int(pads[3])), in_shape=(ci, h, wd),
            out_shape=(int(w.shape[0]), int(oh), int(ow)), in_zp=zx, out_zp=zy,
            requant=Requant.of(acc_scale / sy), relu=relu,
        )
        out.append(layer)
        shape = layer.out_shape
    if not out:
        raise CExportError("the model has no Conv node: the C target expects catuvac's conv + GRU encoder")
    return out


def _gemm_weight(g: _Graph, n: Any) -> tuple[np.ndarray, np.ndarray]:
    """(int8 weight as (out, in), per-output scale) of a Gemm/MatMul."""
    w, s, axis = g.weight(n, 1)
    trans_b = _attr(n, "transB", 0) if n.op_type == "Gemm" else 0
    if _attr(n, "transA", 0) or float(_attr(n, "alpha", 1.0)) != 1.0:
        raise CExportError(f"node {n.name!r} ({n.op_type}): transA / alpha ≠ 1 are not supported by the C target")
    out_axis = 0 if trans_b else 1
    if w.ndim != 2 or axis != out_axis or s.size != w.shape[out_axis]:
        raise CExportError(f"node {n.name!r} ({n.op_type}): weights must be 2-D and quantized per output column")
    return (w if trans_b else w.T).astype(np.int8), s


def _grus(g: _Graph, gemms: list[Any], conv_shape: tuple[int, int, int] | None) -> tuple[Any, ...]:
    """Group the Gemm/MatMul nodes (graph order) into GRU layers and the read-out."""
    if not gemms:
        raise CExportError("the model has no Gemm/MatMul node: the C target expects catuvac's conv + GRU encoder")
    *body, last = gemms
    layers: list[dict[str, Any]] = []
    for n in body:
        has_bias = len(n.input) > 2 and bool(n.input[2])
        w, s = _gemm_weight(g, n)
        sx, zx = g.act_quant(n, 0)
        if has_bias:  # input projection: a new layer
            layers.append({"w_ih": w, "s_ih": s, "sx": sx, "zx": zx, "b": g.float_bias(n, 2), "rec": []})
        elif layers:
            layers[-1]["rec"].append((w, s, sx, zx))
        else:
            raise CExportError(f"node {n.name!r} ({n.op_type}): a recurrent product before any input projection")
    if not layers:
        raise CExportError("no GRU layer found: the C target expects catuvac's conv + GRU encoder")
    assert conv_shape is not None
    c, f, t = conv_shape
    b_hn = _b_hn(g, len(layers))
    grus: list[GruLayer] = []
    seq_zp: list[int] = []
    seq_q: list[Requant] = []
    for k, L in enumerate(layers):
        h3 = L["w_ih"].shape[0]
        hd = h3 // 3
        steps = len(L["rec"]) + 1
        if h3 % 3 or steps != t or (k == 0 and L["w_ih"].shape[1] != c * f) or (k > 0 and L["w_ih"].shape[1] != grus[-1].hidden):
            raise CExportError(f"GRU layer {k}: shapes do not match the conv output ({c}×{f}×{t}) and an unrolled GRU")
        acc = L["sx"] * L["s_ih"]
        if k > 0:
            seq_q.append(Requant.of(2.0**-15 / L["sx"]))
        seq_zp.append(L["zx"])
        rec = L["rec"]
        w_hh = rec[0][0] if rec else np.zeros((h3, hd), np.int8)
        s_hh = rec[0][1] if rec else np.ones(h3)
        if any(not np.array_equal(r[0], w_hh) for r in rec):
            raise CExportError(f"GRU layer {k}: the recurrent weights differ between steps")
        h_scales = np.array([r[2] for r in rec], dtype=np.float64)
        grus.append(GruLayer(
            w_ih=L["w_ih"], b_x=np.round(L["b"] / acc).astype(np.int64), x_zp=L["zx"],
            x_to_q16=Requant.of(acc * 2.0**PRE_FRAC), w_hh=w_hh,
            h_zp=np.array([r[3] for r in rec], dtype=np.int64), h_to_int8=Requant.of(2.0**-15 / h_scales),
            h_to_q16=Requant.of((h_scales[:, None] * s_hh[None, :] * 2.0**PRE_FRAC).reshape(-1)),
            b_hn=np.round(b_hn[k] * 2.0**PRE_FRAC).astype(np.int64), steps=steps,
        ))
    w_out, s_out = _gemm_weight(g, last)
    so, zo = g.act_quant(last, 0)
    bias = g.float_bias(last, 2)
    b_out = np.zeros(w_out.shape[0]) if bias is None else bias
    seq_q.append(Requant.of(2.0**-15 / so))
    out = (w_out, np.round(b_out / (so * s_out)).astype(np.int64), zo, Requant.of(so * s_out * 2.0**PRE_FRAC))
    return grus, seq_zp, seq_q, out


def _b_hn(g: _Graph, n_layers: int) -> list[np.ndarray]:
    """The float b_hn vectors (one per layer, in graph order): the float constants of the cells' Mul/Add."""
    seen: list[str] = []
    for n in g.g.node:
        if n.op_type in ("Mul", "Add"):
            for i in n.input:
                if i in g.inits and g.inits[i].dtype == np.float32 and g.inits[i].ndim == 1 and i not in seen:
                    seen.append(i)
    if len(seen) != n_layers:
        raise CExportError(f"GRU cell structure not recognised: {len(seen)} float gate biases for {n_layers} layers")
    return [g.inits[i].astype(np.float64) for i in seen]
