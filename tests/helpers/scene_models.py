"""Fixtures for the runtime tests: small but meaningful ONNX "scene" models built with onnx.helper.

The model follows the export contract (input ``logmel`` [1, 1, F, W]; outputs ``cluster_id``
int64 [1] and ``probs`` float32 [1, K]; catuvac metadata) and is a nearest-prototype classifier
on the time-averaged normalized spectrum:

    logits_k = s · (2·m·p_k − |p_k|²)   (= −s·|m − p_k|² + const),   m = mean over time

with prototypes ``p_k`` computed through the real front-end from band noises (a one-octave-wide
bump on a weak white floor) centred at ``centers(K)`` — geometrically spaced from 150 Hz to
6 kHz. So low-frequency noise and high-frequency noise land in different clusters: cluster k
is "the noise whose energy sits near centers(K)[k]".

``build_test_model`` and the signal helpers are plain functions other tests import from here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from catuvac.runtime.frontend import FrontEnd, FrontEndConfig
from catuvac.runtime.modelmeta import ModelInfo

CENTER_RANGE_HZ = (150.0, 6000.0)


def colored_noise(seconds: float, beta: float, sample_rate: int = 16000, seed: int = 0, level: float = 0.1) -> np.ndarray:
    """Gaussian noise with power spectrum ∝ f^beta (beta<0: low-frequency, >0: high-frequency), float32."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sample_rate)
    f[0] = f[1] if n > 1 else 1.0
    spec *= f ** (beta / 2.0)
    x = np.fft.irfft(spec, n)
    x = x / (np.std(x) + 1e-12) * level
    return x.astype(np.float32)


def centers(n_clusters: int) -> np.ndarray:
    return np.geomspace(CENTER_RANGE_HZ[0], CENTER_RANGE_HZ[1], n_clusters)


def band_noise(seconds: float, center_hz: float, sample_rate: int = 16000, seed: int = 0, level: float = 0.1) -> np.ndarray:
    """Noise with a one-octave (σ = ½ octave) bump at ``center_hz`` on a −30 dB white floor, float32."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n, 1.0 / sample_rate), 1.0)
    spec *= 0.03 + np.exp(-0.5 * (np.log2(f / center_hz) / 0.5) ** 2)
    x = np.fft.irfft(spec, n)
    return (x / (np.std(x) + 1e-12) * level).astype(np.float32)


def scene_audio(seconds: float, cluster: int, n_clusters: int, sample_rate: int = 16000, seed: int = 0) -> np.ndarray:
    """Audio the test models put in ``cluster`` (band noise at ``centers(n_clusters)[cluster]``)."""
    return band_noise(seconds, float(centers(n_clusters)[cluster]), sample_rate, seed)


def build_test_model(
    path: str | Path,
    window_seconds: float = 2.0,
    n_clusters: int = 4,
    n_mels: int = 128,
    scale: float = 4.0,
    normalization: str = "window",
    with_metadata: bool = True,
    input_name: str = "logmel",
) -> Path:
    """Write a prototype-classifier ONNX model (see module docstring); return its path."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    cfg = FrontEndConfig(n_mels=n_mels, window_seconds=window_seconds, normalization=normalization)
    fe = FrontEnd(cfg)
    F, W, K = cfg.n_features, cfg.window_frames, n_clusters
    protos = []
    for k in range(K):
        x = scene_audio(max(window_seconds, 1.0) * 3, k, K, cfg.sample_rate, seed=1000 + k)
        feats = fe.features(x)[:, :W]
        protos.append(fe.normalize(feats).mean(axis=1))
    P = np.stack(protos, axis=1).astype(np.float64)  # (F, K)
    # scale so that logits differences are O(scale) whatever F is
    s = scale / max(float(np.mean(np.sum(np.diff(P, axis=1) ** 2, axis=0))), 1e-9)
    Wm = (2.0 * s * P).astype(np.float32)
    bias = (-s * np.sum(P**2, axis=0)).astype(np.float32)

    nodes = [
        helper.make_node("ReduceMean", ["logmel_in"], ["m3"], axes=[3], keepdims=0),
        helper.make_node("Reshape", ["m3", "shape2"], ["m"]),
        helper.make_node("MatMul", ["m", "W"], ["mw"]),
        helper.make_node("Add", ["mw", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=-1),
        helper.make_node("ArgMax", ["logits"], ["cluster_id"], axis=1, keepdims=0),
    ]
    nodes.insert(0, helper.make_node("Identity", [input_name], ["logmel_in"]))
    graph = helper.make_graph(
        nodes,
        "catuvac_test_prototypes",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 1, F, W])],
        [
            helper.make_tensor_value_info("cluster_id", TensorProto.INT64, [1]),
            helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, K]),
        ],
        initializer=[
            numpy_helper.from_array(np.array([1, F], dtype=np.int64), "shape2"),
            numpy_helper.from_array(Wm, "W"),
            numpy_helper.from_array(bias, "b"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if with_metadata:
        info = ModelInfo(frontend=cfg, window_seconds=window_seconds, window_frames=W, n_clusters=K, checkpoint_sha256="0" * 64)
        helper.set_model_props(model, info.to_props())
    onnx.checker.check_model(model)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(p))
    return p


def band_noise_model_and_folder(root: Path, sample_rate: int = 16000) -> tuple[Path, Path]:
    """A K = 4, 1-s window test model and a ``folder:`` data set for it under ``root``: 3 clips of
    2 s per label, 'low' = cluster 0, 'high' = cluster 3."""
    import soundfile as sf

    model = build_test_model(root / "m.onnx", window_seconds=1.0, n_clusters=4)
    data = root / "data"
    for label, k in (("low", 0), ("high", 3)):
        (data / label).mkdir(parents=True)
        for i in range(3):
            audio = scene_audio(2.0, k, 4, sample_rate, seed=10 * k + i)
            sf.write(data / label / f"{label}_{i}.wav", audio, sample_rate, subtype="FLOAT")
    return model, data
