"""The contract between an exported ONNX model and the runtime: what its metadata holds.

Every exported model carries, in ONNX ``metadata_props`` (string → string):

==============================  ==========================================================
key                             value
==============================  ==========================================================
``catuvac.format_version``      ``"1"``
``catuvac.model_type``          ``"cat_uvac"`` (only the categorical model is deployable)
``catuvac.precision``           ``"fp32"`` or ``"int8"``
``catuvac.frontend``            :meth:`FrontEndConfig.to_json` (sample rate, STFT, mel,
                                normalization mode and statistics, window seconds)
``catuvac.window_seconds``      context window in seconds, e.g. ``"4.0"``
``catuvac.window_frames``       frames in that window, e.g. ``"132"``
``catuvac.n_clusters``          K
``catuvac.checkpoint_sha256``   SHA-256 of the checkpoint file it was exported from
``catuvac.arch``                optional: ``"paper"`` (default when absent) or ``"device"``
``catuvac.stream_model``        optional: file name (same folder) of the incremental graph of
                                this model; absent or ``""``: full-window inference only
``catuvac.time_stride``         optional: frames per GRU step of an incremental model (its
                                decisions fall on multiples of it); ``"0"`` or absent: none
``catuvac.graph``               optional: ``"full"`` (default) or ``"stream"`` (the
                                incremental graph itself, see below)
==============================  ==========================================================

Graph interface: input ``logmel`` float32 ``[1, 1, n_features, window_frames]`` (normalized to
[0, 1] by the front-end); outputs ``cluster_id`` int64 ``[1]`` (argmax of the logits, τ → 0)
and ``probs`` float32 ``[1, K]`` (softmax of the logits, q(y|x)).

Incremental graph (``catuvac.graph = "stream"``, :mod:`catuvac.export.streaming`): input
``logmel`` ``[1, 1, n_features, n]`` (the n new normalized frames, n a multiple of
``time_stride``), ``state0 … state{L−1}`` (each conv layer's cached input frames) and
``sequence`` (the cached GRU input sequence); outputs ``cluster_id``, ``probs`` and each
state as ``<name>_out``, fed back on the next call (:mod:`catuvac.runtime.incremental`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

from .errors import CatuvacError
from .frontend import FrontEndConfig, FrontEndError

__all__ = ["ModelInfo", "ModelMetadataError", "FORMAT_VERSION", "KEYS", "read_model_info", "ort_session", "INPUT_NAME", "OUTPUT_ID",
           "OUTPUT_PROBS", "STREAM_SEQUENCE", "stream_state_name"]

FORMAT_VERSION = "1"
PREFIX = "catuvac."
INPUT_NAME = "logmel"
OUTPUT_ID = "cluster_id"
OUTPUT_PROBS = "probs"
STREAM_SEQUENCE = "gru_projection"  # incremental graph: the cached input projections of the first GRU layer


def stream_state_name(layer: int) -> str:
    """Input name of conv layer ``layer``'s cached frames in the incremental graph."""
    return f"state{layer}"

KEYS = (
    "format_version",
    "model_type",
    "precision",
    "frontend",
    "window_seconds",
    "window_frames",
    "n_clusters",
    "checkpoint_sha256",
)


class ModelMetadataError(CatuvacError, ValueError):
    """An ONNX model that does not carry (valid) catuvac metadata."""


@dataclass(frozen=True)
class ModelInfo:
    frontend: FrontEndConfig
    window_seconds: float
    window_frames: int
    n_clusters: int
    model_type: str = "cat_uvac"
    precision: str = "fp32"
    checkpoint_sha256: str = ""
    format_version: str = FORMAT_VERSION
    arch: str = "paper"
    stream_model: str = ""  # sibling file of the incremental graph ("" = none)
    time_stride: int = 0  # frames per GRU step of an incremental model (0 = not incremental)
    graph: str = "full"  # "full" (window in, decision out) or "stream" (the incremental graph)

    def to_props(self) -> dict[str, str]:
        """Metadata as the string map written into the ONNX file."""
        return {
            PREFIX + "format_version": self.format_version,
            PREFIX + "model_type": self.model_type,
            PREFIX + "precision": self.precision,
            PREFIX + "frontend": self.frontend.to_json(),
            PREFIX + "window_seconds": repr(float(self.window_seconds)),
            PREFIX + "window_frames": str(int(self.window_frames)),
            PREFIX + "n_clusters": str(int(self.n_clusters)),
            PREFIX + "checkpoint_sha256": self.checkpoint_sha256,
            PREFIX + "arch": self.arch,
            PREFIX + "stream_model": self.stream_model,
            PREFIX + "time_stride": str(int(self.time_stride)),
            PREFIX + "graph": self.graph,
        }

    @classmethod
    def from_props(cls, props: Mapping[str, str], source: str = "model") -> "ModelInfo":
        missing = [k for k in KEYS if PREFIX + k not in props]
        if missing:
            raise ModelMetadataError(
                f"{source}: not a catuvac model (metadata keys missing: {', '.join(PREFIX + k for k in missing)}); "
                "export it with `catuvac-export --checkpoint CKPT --out DIR`"
            )
        version = props[PREFIX + "format_version"]
        if version != FORMAT_VERSION:
            raise ModelMetadataError(
                f"{source}: model format version {version}, this runtime reads {FORMAT_VERSION}; "
                "re-export the model with this catuvac version"
            )
        try:
            fe = FrontEndConfig.from_json(props[PREFIX + "frontend"])
        except (FrontEndError, ValueError, TypeError, KeyError) as e:
            raise ModelMetadataError(f"{source}: invalid front-end config in metadata: {e}") from e
        try:
            info = cls(
                frontend=fe,
                window_seconds=float(props[PREFIX + "window_seconds"]),
                window_frames=int(props[PREFIX + "window_frames"]),
                n_clusters=int(props[PREFIX + "n_clusters"]),
                model_type=props[PREFIX + "model_type"],
                precision=props[PREFIX + "precision"],
                checkpoint_sha256=props[PREFIX + "checkpoint_sha256"],
                format_version=version,
                arch=props.get(PREFIX + "arch", "paper"),
                stream_model=props.get(PREFIX + "stream_model", ""),
                time_stride=int(props.get(PREFIX + "time_stride", "0")),
                graph=props.get(PREFIX + "graph", "full"),
            )
        except (ValueError, TypeError, OverflowError) as e:
            raise ModelMetadataError(f"{source}: invalid value in the model metadata ({e}); re-export the model") from e
        if not (math.isfinite(info.window_seconds) and info.window_seconds > 0):
            raise ModelMetadataError(f"{source}: window_seconds={info.window_seconds} in the metadata; re-export the model")
        if info.model_type != "cat_uvac":
            raise ModelMetadataError(
                f"{source}: model type {info.model_type!r} cannot be deployed; only 'cat_uvac' models are"
            )
        expected = fe.frames_for_samples(int(round(info.window_seconds * fe.sample_rate)))
        if expected != info.window_frames:
            raise ModelMetadataError(
                f"{source}: metadata says {info.window_frames} frames for {info.window_seconds} s but the "
                f"front-end config gives {expected}: the model and its feature config do not match; re-export"
            )
        if info.stream_model and (info.time_stride < 1 or os.path.basename(info.stream_model) != info.stream_model):
            raise ModelMetadataError(f"{source}: invalid incremental-graph entry ({info.stream_model!r}, time stride "
                                     f"{info.time_stride}) in the metadata; re-export the model")
        if info.n_clusters < 2:
            raise ModelMetadataError(f"{source}: n_clusters={info.n_clusters}, need at least 2")
        return info


def ort_session(path: str | os.PathLike, threads: int = 1) -> InferenceSession:
    """A CPU ONNX Runtime session: ``threads`` intra-op threads, 1 inter-op, sequential.

    One thread is the device setting: deterministic, no thread-pool jitter, no contention
    with the audio path. Raises :class:`ModelMetadataError` for a missing or invalid file.
    """
    import onnxruntime as ort

    p = os.fspath(path)
    if not os.path.isfile(p):
        raise ModelMetadataError(f"{p}: model file not found; export one with `catuvac-export`")
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads)
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    try:
        return ort.InferenceSession(p, so, providers=["CPUExecutionProvider"])
    except Exception as e:
        raise ModelMetadataError(f"{p}: not a valid ONNX model ({e})") from e


def read_model_info(path: str | os.PathLike) -> ModelInfo:
    """Read the catuvac metadata of an ONNX file with onnxruntime (no onnx/torch needed)."""
    p = os.fspath(path)
    sess = ort_session(p)
    return ModelInfo.from_props(sess.get_modelmeta().custom_metadata_map, source=p)
