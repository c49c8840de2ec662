"""The export-only form of h: BatchNorm folded into the convolutions, the GRU written out.

Why a separate module instead of exporting :class:`~catuvac.training.model.CatUVAC` as is:

- **int8 for the GRU.** ONNX Runtime has no int8 kernel for the ONNX ``GRU`` op (and the
  dynamo exporter's GRU translation has been reported to drop ``linear_before_reset``). Here
  the recurrence is plain ``Gemm`` + ``Sigmoid``/``Tanh``/``Mul``/``Add``: the input
  projection of all time steps is one ``Gemm`` (``x_seq @ W_ihᵀ + b_ih``), then one small
  ``Gemm`` per step for the recurrent term. Static QDQ quantization stores every one of
  those weight matrices as int8, like the convolutions.
- **Conv/BatchNorm fused.** Each ``BatchNorm2d`` (eval mode: running statistics) is folded
  into the preceding convolution's weights and bias, so the graph is Conv → Relu only.
- **Fixed window.** The input shape is fixed per exported model ([1, 1, F, T]); the number
  of GRU steps T' follows from T, so the recurrence is unrolled (no ``Loop``/``Scan``).

The equations are exactly PyTorch's ``nn.GRU`` (gate order r, z, n; ``linear_before_reset``
semantics: the reset gate multiplies ``W_hn h + b_hn``)::

    r = σ(W_ir x + b_ir + W_hr h + b_hr)
    z = σ(W_iz x + b_iz + W_hz h + b_hz)
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
    h' = (1 − z) ⊙ n + z ⊙ h

The read-out is the last output of the top layer, as in :class:`ConvGRUEncoder`.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import nn

from catuvac.training.model import level_feature

__all__ = ["fold_conv_bn", "ExplicitGRU", "HEncoderExport"]


def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A new Conv2d equal to ``bn(conv(x))`` with ``bn`` in eval mode (running statistics)."""
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.groups,
        bias=True,
    )
    with torch.no_grad():
        w = conv.weight.detach().double()
        b = conv.bias.detach().double() if conv.bias is not None else torch.zeros(conv.out_channels, dtype=torch.float64)
        scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.detach().double() + bn.eps)
        fused.weight.copy_((w * scale[:, None, None, None]).float())
        fused.bias.copy_(((b - bn.running_mean.detach().double()) * scale + bn.bias.detach().double()).float())
    return fused


class ExplicitGRU(nn.Module):
    """A multi-layer, batch-first, unidirectional ``nn.GRU`` as Gemm + elementwise ops.

    ``forward(seq)`` with ``seq`` (B, T, I) returns the top layer's last output (B, H).
    The weights are copied (pre-transposed) from ``gru``.
    """

    def __init__(self, gru: nn.GRU) -> None:
        super().__init__()
        if not gru.batch_first or gru.bidirectional or gru.proj_size:
            raise ValueError("ExplicitGRU supports batch_first, unidirectional GRUs without projection only")
        if not gru.bias:
            raise ValueError("ExplicitGRU needs a GRU with biases")
        self.hidden = gru.hidden_size
        self.layers = gru.num_layers
        for k in range(gru.num_layers):
            w_ih = getattr(gru, f"weight_ih_l{k}").detach()
            w_hh = getattr(gru, f"weight_hh_l{k}").detach()
            # (in, 3H) layout: the Gemm's B input; per-output-channel quantization then runs over 3H.
            self.register_parameter(f"w_ih{k}", nn.Parameter(w_ih.t().contiguous().clone(), requires_grad=False))
            self.register_parameter(f"w_hh{k}", nn.Parameter(w_hh.t().contiguous().clone(), requires_grad=False))
            b_ih = getattr(gru, f"bias_ih_l{k}").detach().clone()
            b_hh = getattr(gru, f"bias_hh_l{k}").detach().clone()
            h = gru.hidden_size
            # r and z see b_ih + b_hh as one sum: fold b_hr, b_hz into the input projection's bias.
            # b_hn must stay inside r ⊙ (W_hn h + b_hn); it is a separate float Add, so the
            # recurrent product is a bias-free MatMul: no per-step int32 bias in the int8 graph
            # (each step's would differ, as its input scale does: ~1.5 KB per step otherwise).
            b_x = b_ih.clone()
            b_x[: 2 * h] += b_hh[: 2 * h]
            self.register_parameter(f"b_x{k}", nn.Parameter(b_x, requires_grad=False))
            self.register_parameter(f"b_hn{k}", nn.Parameter(b_hh[2 * h :].clone(), requires_grad=False))

    def project(self, inp: torch.Tensor, k: int = 0) -> torch.Tensor:
        """Layer ``k``'s input projection of every step: (B, T, I) → (B, T, 3H), biases folded in.
        Each step's projection depends on that step's input alone, so a stream can cache it."""
        b, t, _ = inp.shape
        xp = torch.addmm(getattr(self, f"b_x{k}"), inp.reshape(b * t, inp.shape[-1]), getattr(self, f"w_ih{k}"))
        return xp.reshape(b, t, 3 * self.hidden)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        return self.forward_projected(self.project(seq, 0))

    def forward_projected(self, xp: torch.Tensor) -> torch.Tensor:
        """The top layer's last output from layer 0's input projections ``xp`` (B, T, 3H)."""
        # Written for a small ONNX graph (few nodes per step: ORT's per-node overhead, not the
        # arithmetic, dominates a 128-unit GRU): one Gemm for the input projection of all steps,
        # one Split that cuts it into per-step r/z and n parts, then per step one MatMul + Split
        # for the recurrent term and 9 elementwise nodes.
        b, t, _ = xp.shape
        hd = self.hidden
        h: torch.Tensor | None = None
        outs: list[torch.Tensor] = []
        for k in range(self.layers):
            if k:
                xp = self.project(torch.cat(outs, dim=1).reshape(b, t, hd), k)
            w_hh, b_hn = getattr(self, f"w_hh{k}"), getattr(self, f"b_hn{k}")
            parts = torch.split(xp.reshape(b, t * 3 * hd), [2 * hd, hd] * t, dim=1)  # rz_0, n_0, rz_1, n_1, …
            outs = []
            h = None
            for s in range(t):
                i_rz, i_n = parts[2 * s], parts[2 * s + 1]
                if h is None:
                    # h0 = 0: W_hh·h0 = 0, no recurrent product on the first step
                    r, z = torch.split(torch.sigmoid(i_rz), [hd, hd], dim=1)
                    n = torch.tanh(i_n + r * b_hn)
                    h = n - z * n  # (1 − z)·n + z·0
                else:
                    g_rz, g_n = torch.split(torch.mm(h, w_hh), [2 * hd, hd], dim=1)
                    r, z = torch.split(torch.sigmoid(i_rz + g_rz), [hd, hd], dim=1)
                    n = torch.tanh(i_n + r * (g_n + b_hn))
                    h = n + z * (h - n)  # (1 − z)·n + z·h
                outs.append(h)
        assert h is not None
        return h


class HEncoderExport(nn.Module):
    """h of a :class:`CatUVAC` for deployment: (1, 1, F, T) window → (cluster_id, probs).

    ``cluster_id`` is int64 (B,) = argmax of the logits (τ → 0); ``probs`` (B, K) = softmax of
    the logits = q(y|x). :meth:`logits` gives the logits alone (for the equivalence tests).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        body = model.h_body
        mods = list(body.conv)
        convs: list[nn.Module] = []
        i = 0
        while i < len(mods):
            m = mods[i]
            if isinstance(m, nn.Conv2d):
                if i + 1 < len(mods) and isinstance(mods[i + 1], nn.BatchNorm2d):
                    convs.append(fold_conv_bn(m, mods[i + 1]))
                    i += 2
                    continue
                convs.append(_copy_conv(m))
            elif isinstance(m, nn.ReLU):
                convs.append(nn.ReLU())
            else:
                raise ValueError(f"unexpected layer {type(m).__name__} in the conv stack")
            i += 1
        self.conv = nn.Sequential(*convs)
        self.gru = ExplicitGRU(body.gru)
        self.frames_used = model.cfg.frames_used if model.cfg.streamable else None
        self.level_input = float(model.cfg.level_input)
        out = model.h_out
        self.out = nn.Linear(out.in_features, out.out_features)
        with torch.no_grad():
            self.out.weight.copy_(out.weight)
            self.out.bias.copy_(out.bias)
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        x_in = x
        if self.frames_used is not None:  # streaming-built arch: the window's last frames (model.streaming_crop)
            with warnings.catch_warnings():  # the window length is fixed per exported graph: a constant is right
                warnings.simplefilter("ignore", torch.jit.TracerWarning)
                x = x[..., x.shape[-1] - self.frames_used(int(x.shape[-1])) :]
        h = self.conv(x)
        b, c, f, t = h.shape
        seq = h.permute(0, 3, 1, 2).reshape(b, t, c * f)
        code = self.gru(seq)
        if self.level_input:  # "window_level" inputs: the level beside the code (model.level_feature)
            code = torch.cat([code, level_feature(x_in, self.level_input)], dim=1)
        return self.out(code)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.logits(x)
        return logits.argmax(dim=1), F.softmax(logits, dim=1)


def _copy_conv(conv: nn.Conv2d) -> nn.Conv2d:
    new = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups, bias=conv.bias is not None)
    new.load_state_dict(conv.state_dict())
    return new
