"""The numpy integer reference of the C target: the arithmetic of :mod:`catuvac.export.c_plan`,
written once more, vectorized over windows, to check the generated C bit for bit.

Every step is integer (int64 numpy arrays) except the quantization of the normalized window,
which is ``round_half_even(x / scale)`` in float64 exactly as the C code does it. Convolutions
and matrix products use float64 BLAS on integer-valued arrays: every partial sum is an integer
far below 2^53, so the result is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .c_plan import LUT_FRAC_BITS, LUT_RANGE, PRE_FRAC, ConvLayer, CPlan, GruLayer, Requant, exp2_table, sigmoid_table, tanh_table

__all__ = ["ReferenceOutput", "run_reference", "requantize", "quantize_input"]

_SIG = sigmoid_table()
_TANH = tanh_table()
_EXP2 = exp2_table()
_LOG2E_Q16 = int(round((1 << PRE_FRAC) / np.log(2.0)))


@dataclass
class ReferenceOutput:
    ids: np.ndarray  # (N,) int64
    q15: np.ndarray  # (N, K) int64: q(y|x) in Q15
    logits_q16: np.ndarray  # (N, K) int64


def requantize(acc: np.ndarray, rq: Requant, channel_axis: int = -1) -> np.ndarray:
    """``(acc · m + 2^(s−1)) >> s`` with (m, s) broadcast along ``channel_axis``."""
    acc = np.asarray(acc, dtype=np.int64)
    shape = [1] * acc.ndim
    if rq.mult.size > 1:
        shape[channel_axis] = rq.mult.size
    m = rq.mult.reshape(shape)
    s = rq.shift.reshape(shape)
    return (acc * m + (np.int64(1) << (s - 1))) >> s


def _sat8(v: np.ndarray) -> np.ndarray:
    return np.clip(v, -128, 127)


def quantize_input(windows: np.ndarray, scale: float, zp: int) -> np.ndarray:
    """Normalized float windows → int8 values (as int64): round half to even of x / scale, + zp, saturated."""
    return _sat8(np.rint(np.asarray(windows, dtype=np.float32).astype(np.float64) / float(scale)).astype(np.int64) + zp)


def _conv(x: np.ndarray, c: ConvLayer) -> np.ndarray:
    """x: (N, Ci, H, W) int8 values → (N, Co, H', W') int8 values."""
    n = x.shape[0]
    pt, pl, pb, pr = c.pads
    xz = np.pad((x - c.in_zp).astype(np.float64), ((0, 0), (0, 0), (pt, pb), (pl, pr)))  # zero = the real zero
    co, ci, kh, kw = c.w.shape
    _, oh, ow = c.out_shape
    win = np.lib.stride_tricks.sliding_window_view(xz, (kh, kw), axis=(2, 3))[:, :, :: c.stride[0], :: c.stride[1]][:, :, :oh, :ow]
    cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, ci * kh * kw)
    acc = (cols @ c.w.reshape(co, -1).astype(np.float64).T).astype(np.int64) + c.bias[None, :]
    acc = acc.reshape(n, oh, ow, co).transpose(0, 3, 1, 2)
    y = requantize(acc, c.requant, channel_axis=1) + c.out_zp
    y = _sat8(y)
    return np.maximum(y, c.out_zp) if c.relu else y


def _matmul(q: np.ndarray, zp: int | np.ndarray, w: np.ndarray) -> np.ndarray:
    """(q − zp) @ wᵀ, exactly, as int64: q (..., I), w (O, I)."""
    return ((q - zp).astype(np.float64) @ w.astype(np.float64).T).astype(np.int64)


def _lut(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    u = np.clip(x, -LUT_RANGE, LUT_RANGE - 1) + LUT_RANGE
    i = u >> LUT_FRAC_BITS
    f = u & ((1 << LUT_FRAC_BITS) - 1)
    t0 = table[i]
    return t0 + (((table[i + 1] - t0) * f + (1 << (LUT_FRAC_BITS - 1))) >> LUT_FRAC_BITS)


def _rmul15(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(a · b + 2^14) >> 15: a Q15 factor times a Q-anything value, rounded half up."""
    return (a * b + (1 << 14)) >> 15


def _gru(seq_q: np.ndarray, layer: GruLayer) -> np.ndarray:
    """seq_q: (N, T, I) int8 values → the layer's outputs (N, T, H) in Q15."""
    n, t, _ = seq_q.shape
    hd = layer.hidden
    ix = requantize(_matmul(seq_q, layer.x_zp, layer.w_ih) + layer.b_x, layer.x_to_q16)  # (N, T, 3H) Q16
    h = np.zeros((n, hd), dtype=np.int64)
    outs = []
    for s in range(t):
        if s == 0:
            gh = np.zeros((n, 3 * hd), dtype=np.int64)
        else:
            rq = Requant(layer.h_to_int8.mult[s - 1 : s], layer.h_to_int8.shift[s - 1 : s])
            hq = _sat8(requantize(h, rq) + layer.h_zp[s - 1])
            sl = slice((s - 1) * 3 * hd, s * 3 * hd)
            gh = requantize(_matmul(hq, layer.h_zp[s - 1], layer.w_hh), Requant(layer.h_to_q16.mult[sl], layer.h_to_q16.shift[sl]))
        x = ix[:, s]
        r = _lut(x[:, :hd] + gh[:, :hd], _SIG)
        z = _lut(x[:, hd : 2 * hd] + gh[:, hd : 2 * hd], _SIG)
        nn = _lut(x[:, 2 * hd :] + _rmul15(r, gh[:, 2 * hd :] + layer.b_hn[None, :]), _TANH)
        h = nn + _rmul15(z, h - nn)
        outs.append(h)
    return np.stack(outs, axis=1)


def _softmax_q15(logits: np.ndarray) -> np.ndarray:
    d = logits - logits.max(axis=1, keepdims=True)  # ≤ 0, Q16
    y = -((d * _LOG2E_Q16 + (1 << 15)) >> 16)  # −d / ln 2, Q16, ≥ 0
    ip, fp = y >> 16, y & 0xFFFF
    i, fr = fp >> 8, fp & 0xFF
    v = _EXP2[i] - (((_EXP2[i] - _EXP2[i + 1]) * fr + 128) >> 8)  # Q30
    e = np.where(ip >= 31, 0, v >> np.minimum(ip, 62))
    tot = e.sum(axis=1, keepdims=True)
    return np.minimum((e * 32768 + tot // 2) // tot, 32767)


def run_reference(plan: CPlan, windows: np.ndarray, batch: int = 64) -> ReferenceOutput:
    """Cluster ids, Q15 q(y|x) and Q16 logits of normalized windows (N, F, T), as the C code computes them."""
    windows = np.asarray(windows)
    if windows.ndim == 4:
        windows = windows[:, 0]
    outs = [_run(plan, windows[i : i + batch]) for i in range(0, len(windows), batch)]
    logits = np.concatenate(outs)
    return ReferenceOutput(ids=np.argmax(logits, axis=1).astype(np.int64), q15=_softmax_q15(logits), logits_q16=logits)


def _run(plan: CPlan, windows: np.ndarray) -> np.ndarray:
    x = quantize_input(windows, plan.in_scale, plan.in_zp)[:, None]
    for c in plan.convs:
        x = _conv(x, c)
    n, ch, f, t = x.shape
    seq = x.transpose(0, 3, 1, 2).reshape(n, t, ch * f)  # (N, T', C·F'): the graph's Transpose + Reshape
    h_seq = np.zeros((n, t, 0), dtype=np.int64)
    for k, layer in enumerate(plan.grus):
        if k > 0:  # the previous layer's outputs (Q15), quantized as this layer's input
            seq = _sat8(requantize(h_seq, plan.seq_to_int8[k - 1]) + plan.seq_zp[k])
        h_seq = _gru(seq, layer)
    hq = _sat8(requantize(h_seq[:, -1], plan.seq_to_int8[-1]) + plan.out_in_zp)
    return requantize(_matmul(hq, plan.out_in_zp, plan.w_out) + plan.b_out[None, :], plan.out_to_q16)
