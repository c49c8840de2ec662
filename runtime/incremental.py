"""Incremental inference: run a model's streaming graph on the frames new since the last decision.

A model exported from a streaming-built checkpoint (``arch="device"``) names its incremental
graph in its metadata (``catuvac.stream_model``, see :mod:`catuvac.runtime.modelmeta`). That
graph takes the new normalized frames plus the cached state of every convolution and the
cached input projections of the first GRU layer, and returns the decision and the updated
state: each decision computes only the convolution outputs and GRU input projections of new
frames (the GRU's recurrence re-runs over the cached projections).

:class:`IncrementalEncoder` owns the session and the state (preallocated, bounded: a few
small arrays). Its stream is anchored at frame ``W mod S`` of the stream (W = window frames,
S = ``time_stride``): :meth:`decide` is called with the frame count and the chronological
frames new since the previous call, and the count must be ``≡ W (mod S)`` — true for every
decision of :class:`~catuvac.runtime.clusterer.SceneClusterer` (its decisions fall on
multiples of S after the window fills). When more frames arrived than the window holds the
state restarts from zero on the window's last ``W − W mod S`` frames, exactly as the first
decision does. Numpy and ONNX Runtime only.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .errors import CatuvacError
from .modelmeta import INPUT_NAME, OUTPUT_ID, OUTPUT_PROBS, STREAM_SEQUENCE, ModelInfo, ModelMetadataError, ort_session

__all__ = ["IncrementalEncoder", "IncrementalError", "stream_model_path"]


class IncrementalError(CatuvacError, ValueError):
    """A call that does not fit the incremental graph's frame grid (a caller bug)."""


def stream_model_path(model_path: str | os.PathLike, info: ModelInfo) -> str | None:
    """The incremental graph next to ``model_path`` that its metadata names, or None."""
    if not info.stream_model:
        return None
    return os.path.join(os.path.dirname(os.fspath(model_path)), info.stream_model)


class IncrementalEncoder:
    """The incremental graph of one model with its cached state."""

    def __init__(self, path: str | os.PathLike, info: ModelInfo, threads: int = 1) -> None:
        self.path = os.fspath(path)
        self._sess = ort_session(self.path, threads=threads)
        meta = ModelInfo.from_props(self._sess.get_modelmeta().custom_metadata_map, source=self.path)
        if meta.graph != "stream" or meta.checkpoint_sha256 != info.checkpoint_sha256 or meta.time_stride != info.time_stride:
            raise ModelMetadataError(f"{self.path}: not the incremental graph of this model (graph {meta.graph!r}, "
                                     f"checkpoint {meta.checkpoint_sha256[:12]}); re-export the model")
        self.window_frames = int(info.window_frames)
        self.time_stride = int(info.time_stride)
        self.skip_frames = self.window_frames % self.time_stride
        inputs = self._sess.get_inputs()
        self._state_names = [i.name for i in inputs if i.name != INPUT_NAME]
        if STREAM_SEQUENCE not in self._state_names:
            raise ModelMetadataError(f"{self.path}: no {STREAM_SEQUENCE!r} input; re-export the model")
        self._shapes = {i.name: [int(d) for d in i.shape] for i in inputs if i.name != INPUT_NAME}
        self._state: dict[str, np.ndarray] = {}
        self.frames_done = 0  # stream frame count the state has consumed up to (0 = fresh)
        self.reset()

    @property
    def first_frames(self) -> int:
        """Frames the first call (and a restart) feeds: the window less ``W mod S``."""
        return self.window_frames - self.skip_frames

    def reset(self) -> None:
        for name, shape in self._shapes.items():
            self._state[name] = np.zeros(shape, dtype=np.float32)
        self.frames_done = 0

    def frames_needed(self, frames_total: int) -> int:
        """How many of the newest frames :meth:`decide` needs at stream frame count ``frames_total``."""
        if frames_total < self.window_frames or (frames_total - self.window_frames) % self.time_stride:
            raise IncrementalError(f"frame count {frames_total} is off the incremental grid (window {self.window_frames}, "
                                   f"stride {self.time_stride})")
        new = frames_total - self.frames_done
        return self.first_frames if self.frames_done == 0 or new > self.first_frames else new

    def decide(self, frames_total: int, frames: np.ndarray) -> tuple[int, np.ndarray]:
        """Feed the ``frames_needed(frames_total)`` newest normalized frames (F, n); return (cluster id, probs)."""
        n = self.frames_needed(frames_total)
        if frames.shape[-1] != n:
            raise IncrementalError(f"decide() needs the {n} newest frames, got {frames.shape[-1]}")
        if n == self.first_frames:
            self.reset()
        x = np.ascontiguousarray(frames[None, None], dtype=np.float32)
        out: list[Any] = self._sess.run(None, {INPUT_NAME: x, **self._state})
        outputs = [o.name for o in self._sess.get_outputs()]
        for name in self._state_names:
            self._state[name] = out[outputs.index(name + "_out")]
        self.frames_done = frames_total
        cid = int(np.asarray(out[outputs.index(OUTPUT_ID)]).reshape(-1)[0])
        return cid, np.asarray(out[outputs.index(OUTPUT_PROBS)], dtype=np.float32).reshape(-1)
