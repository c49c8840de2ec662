"""The streaming scene clusterer: audio chunks in, scene events out.

:class:`SceneClusterer` is the object a device simulator owns (silero-vad / openWakeWord
style): constructed from an exported ONNX model, fed with ``process(chunk, sample_rate)``,
cleared with ``reset()``. It starts no thread and does no I/O; its state is explicit and
bounded:

- a :class:`~catuvac.runtime.frontend.StreamingFrontEnd` (< n_fft pending samples),
- a preallocated ring buffer of raw log-mel frames (n_features × window_frames, float32),
- the acoustic change detector's ring of band levels (:mod:`catuvac.runtime.changepoint`,
  16 × 12 s of frames), whose score at each decision drives the HMM rules' transition prior,
- frame and sample counters,
- one :class:`~catuvac.runtime.audio.StreamResampler` per input rate that differs from the
  model's (created on first use),
- the decision layer (:mod:`catuvac.runtime.decisions`): with a cluster → profile map, q(y|x)
  is pooled per profile and the rule decides over profiles; its state is a few S-vectors
  (S = profiles, or clusters without a map) and scalars.

Frames are computed once per hop as samples arrive (never by recomputing the window).
Decisions sit on the stream's frame grid: one when the window first fills (``window_frames``
frames) and then one every ``decision_frames = max(1, round(decision_interval / hop_seconds))``
new frames — so the events do not depend on how the audio was chunked. With
``allow_partial=True`` decisions also run every ``decision_frames`` before the window is full,
on the frames seen so far tiled cyclically to the window length (the normalization statistics
of the tiled window equal those of the frames seen), flagged ``partial=True``.

Incremental models (metadata ``catuvac.stream_model``, :mod:`catuvac.runtime.incremental`):
decisions fall on multiples of the model's ``time_stride`` frames (``decision_frames`` is
rounded to one), and each full-window decision feeds only the frames new since the previous
one to the incremental graph — the same decisions as full-window inference, fewer MACs.
``incremental=False`` forces full-window inference (same decision grid).
"""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np

from .audio import AudioError, StreamResampler, to_mono_float
from .changepoint import ChangeDetector, ChangeDetectorConfig
from .decisions import DEFAULT_RULE, DecisionRule, HmmConfig, ProfilePooling, make_decider
from .defaults import DECISION_INTERVAL_S
from .errors import CatuvacError, CatuvacWarning
from .frontend import FrontEnd, FrontEndError, normalize_window, window_level_stats_db
from .incremental import IncrementalEncoder, stream_model_path
from .modelmeta import INPUT_NAME, OUTPUT_ID, OUTPUT_PROBS, ModelInfo, ModelMetadataError, ort_session
from .profiles_map import ProfileMap
from .smoothing import SmoothingConfig

__all__ = ["SceneClusterer", "SceneEvent", "SmoothingConfig", "ClustererError"]

# Input rates accepted by process(): 4 kHz (telephone-band recorders) … 384 kHz (studio
# converters). Outside it, the rate is a mistake (kHz passed as Hz: 48 instead of 48000).
MIN_RATE_HZ = 4000
MAX_RATE_HZ = 384000


class ClustererError(CatuvacError, ValueError):
    """A clusterer argument that cannot be used; the message says what to do."""


@dataclass(frozen=True, eq=False)
class SceneEvent:
    """One decision of the clusterer."""

    time_s: float  # end of the analysed window, seconds of model-rate audio since start/reset
    cluster: int  # raw argmax id of this window (the model's cluster_id)
    probs: np.ndarray  # q(y|x) of this window, (K,) float32
    smoothed: np.ndarray  # the decision rule's belief over its states (S,) float64: profiles with a map, else clusters
    stable: int  # the decided cluster (with a map: the most probable cluster of the decided profile, kept while it holds)
    changed: bool  # the decision differs from the previous event's (True on the first event)
    profile: str | None  # the decided profile (None without a profile map)
    partial: bool  # decided on a window that was not yet full
    inference_ms: float  # normalization + ONNX Runtime call, milliseconds
    change_score: float = 0.0  # acoustic change at this decision, dB (changepoint.py); fed to the rule
    level_db: float = 0.0  # the window's level, dB re the front-end's unit (frontend.window_level_db)
    level_spread_db: float = 0.0  # how much the level moves inside the window, dB (frontend.window_level_spread_db)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (probabilities rounded to 6 decimals)."""
        return {
            "time_s": round(float(self.time_s), 6),
            "cluster": int(self.cluster),
            "probs": [round(float(p), 6) for p in self.probs],
            "smoothed": [round(float(p), 6) for p in self.smoothed],
            "stable": int(self.stable),
            "changed": bool(self.changed),
            "profile": self.profile,
            "partial": bool(self.partial),
            "inference_ms": round(float(self.inference_ms), 4),
            "change_score": round(float(self.change_score), 4),
            "level_db": round(float(self.level_db), 4),
            "level_spread_db": round(float(self.level_spread_db), 4),
        }

    def same_decision(self, other: "SceneEvent", atol: float = 0.0) -> bool:
        """Equal apart from ``inference_ms`` (probabilities within ``atol``)."""
        return (
            self.time_s == other.time_s
            and self.cluster == other.cluster
            and self.stable == other.stable
            and self.changed == other.changed
            and self.profile == other.profile
            and self.partial == other.partial
            and math.isclose(self.change_score, other.change_score, rel_tol=0, abs_tol=max(atol, 1e-9))
            and math.isclose(self.level_db, other.level_db, rel_tol=0, abs_tol=max(atol, 1e-6))
            and math.isclose(self.level_spread_db, other.level_spread_db, rel_tol=0, abs_tol=max(atol, 1e-6))
            and np.allclose(self.probs, other.probs, rtol=0, atol=atol)
            and np.allclose(self.smoothed, other.smoothed, rtol=0, atol=atol)
        )


class SceneClusterer:
    """Streaming acoustic-scene clusterer around an exported catuvac ONNX model.

    Parameters
    ----------
    model_path:
        An ONNX file written by ``catuvac-export`` (its metadata carries the front-end config,
        window and K; a model without it is refused with :class:`ModelMetadataError`).
    decision_interval:
        Seconds between decisions once the window is full (rounded to whole hops).
    smoothing:
        Parameters of the ``"ema"`` rule (passing them selects that rule unless ``decision`` is given).
    profile_map:
        Cluster→profile map (:class:`ProfileMap`, dict or JSON path); ``None`` = no profiles.
        With a map, q(y|x) is pooled per profile before deciding.
    decision:
        Decision rule: ``"hmm"`` (default), ``"fixed-lag"`` or ``"ema"`` (see
        :mod:`catuvac.runtime.decisions`).
    decision_config:
        The rule's parameters (:class:`HmmConfig` or :class:`SmoothingConfig`); ``None`` = its defaults.
    strict_sample_rate:
        Reject input at another rate than the model's instead of resampling it.
    allow_partial:
        Also decide before the window is full (events flagged ``partial``).
    num_threads:
        ONNX Runtime intra-op threads (1 = deterministic and predictable on a device).
    incremental:
        ``None`` (default): run the model's incremental graph when its metadata names one;
        ``False``: always full-window inference; ``True``: require the incremental graph.
    change_detector:
        What the acoustic change detector compares (:class:`ChangeDetectorConfig`); its score
        drives the HMM rules' transition prior (``HmmConfig.change_dwell_s``; 0 turns that off).
    use_level:
        Weigh the pooled evidence by the map's level model, p(window level | profile), when the
        map has one (``catuvac-map`` fits it; README "Decision quality"). ``False`` ignores it —
        for input whose level is not calibrated like the training audio (an uncalibrated
        microphone); the map's level-spread model, which does not depend on the gain, stays in
        use. Every event reports its window's level and level spread either way.
    """

    def __init__(
        self,
        model_path: str | os.PathLike,
        decision_interval: float = DECISION_INTERVAL_S,
        smoothing: SmoothingConfig | None = None,
        profile_map: ProfileMap | Mapping[Any, Any] | str | os.PathLike | None = None,
        strict_sample_rate: bool = False,
        allow_partial: bool = False,
        num_threads: int = 1,  # one core, as on a hearing-aid DSP; avoids thread-pool jitter
        decision: str | None = None,
        decision_config: HmmConfig | SmoothingConfig | None = None,
        incremental: bool | None = None,
        change_detector: ChangeDetectorConfig | None = None,
        use_level: bool = True,
    ) -> None:

        path = os.fspath(model_path)
        if not os.path.isfile(path):
            raise ModelMetadataError(f"{path}: model file not found; export one with `catuvac-export`")
        if not (isinstance(decision_interval, (int, float)) and math.isfinite(decision_interval) and decision_interval > 0):
            raise ClustererError(f"decision_interval must be a positive number of seconds, got {decision_interval!r}")
        if int(num_threads) < 1:
            raise ClustererError(f"num_threads must be ≥ 1, got {num_threads}")
        self._sess = ort_session(path, threads=int(num_threads))
        info = ModelInfo.from_props(self._sess.get_modelmeta().custom_metadata_map, source=path)
        self.model_path = path
        self._info = info
        cfg = info.frontend
        try:
            cfg.require_stats()
        except FrontEndError as e:
            raise ModelMetadataError(f"{path}: {e}") from e
        self._check_graph(path, cfg.n_features, info.window_frames, info.n_clusters)

        self._cfg = cfg
        self._fe = FrontEnd(cfg)
        self._stream = self._fe.stream()
        self._W = int(info.window_frames)
        self._F = int(cfg.n_features)
        self._K = int(info.n_clusters)
        self.decision_frames = max(1, int(round(decision_interval / cfg.hop_seconds)))
        self._inc = self._incremental_encoder(incremental, int(num_threads))
        self.strict_sample_rate = bool(strict_sample_rate)
        self.allow_partial = bool(allow_partial)
        self.profile_map = ProfileMap.load(profile_map, n_clusters=self._K) if profile_map is not None else None
        self.decision_rule = decision if decision is not None else ("ema" if smoothing is not None else DEFAULT_RULE)
        if decision_config is None and self.decision_rule == "ema":
            decision_config = smoothing
        self._pool = ProfilePooling.from_map(self.profile_map, self._K, use_level) if self.profile_map else None
        n_states = self._pool.n_states if self._pool is not None else self._K
        self._smoother: DecisionRule = make_decider(self.decision_rule, n_states, decision_config, self.decision_interval_s)
        self.decision_config = getattr(self._smoother, "config")
        self.smoothing = self.decision_config if isinstance(self.decision_config, SmoothingConfig) else None
        self._stable: int | None = None

        # ---- explicit, preallocated state
        self._ring = np.zeros((self._F, self._W), dtype=np.float32)
        self._change = ChangeDetector(self._F, cfg.hop_seconds, cfg.power, change_detector)
        self._window = np.zeros((self._F, self._W), dtype=np.float32)  # chronological copy at decision time
        self._input = np.zeros((1, 1, self._F, self._W), dtype=np.float32)
        self._resamplers: dict[int, StreamResampler] = {}
        self.frames_total = 0  # frames pushed into the ring since start/reset
        self.samples_in = 0  # model-rate samples fed to the front-end since start/reset
        self.decisions = 0

    def _incremental_encoder(self, wanted: bool | None, threads: int) -> IncrementalEncoder | None:
        """The incremental graph when the model has one (``wanted`` None: use it; False: do not;
        True: required); decisions of such a model fall on multiples of its time stride."""
        stride = self._info.time_stride
        if stride > 0:
            self.decision_frames = stride * max(1, int(round(self.decision_frames / stride)))
        path = stream_model_path(self.model_path, self._info)
        if path is None:
            if wanted:
                raise ClustererError(f"{self.model_path}: incremental=True but the model has no incremental graph "
                                     "(export a streaming-built model, e.g. the device preset)")
            return None
        return IncrementalEncoder(path, self._info, threads) if wanted is not False else None

    # ------------------------------------------------------------------ properties
    @property
    def incremental(self) -> bool:
        """True when full-window decisions run the incremental graph."""
        return self._inc is not None

    @property
    def info(self) -> ModelInfo:
        return self._info

    @property
    def n_clusters(self) -> int:
        return self._K

    @property
    def sample_rate(self) -> int:
        return int(self._cfg.sample_rate)

    @property
    def window_frames(self) -> int:
        return self._W

    @property
    def hop_seconds(self) -> float:
        return self._cfg.hop_seconds

    @property
    def decision_interval_s(self) -> float:
        """The actual interval between decisions (``decision_interval`` rounded to whole hops)."""
        return self.decision_frames * self._cfg.hop_seconds

    @property
    def stable(self) -> int | None:
        """The current stable decision (None before the first decision)."""
        return self._stable

    @property
    def states(self) -> tuple[str, ...] | None:
        """The profiles the decision runs over (with a map), else ``None`` (it runs over clusters)."""
        return self._pool.states if self._pool is not None else None

    @property
    def switches(self) -> int:
        """Stable-decision changes since start/reset, not counting the first decision."""
        return self._smoother.switches

    @property
    def time_s(self) -> float:
        """Model-rate audio fed since start/reset, in seconds."""
        return self.samples_in / self._cfg.sample_rate

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget everything: the next ``process`` call starts a new stream at time 0."""
        self._stream.reset()
        self._ring[:] = 0.0
        self._change.reset()
        if self._inc is not None:
            self._inc.reset()
        self._smoother.reset()
        self._stable = None
        for r in self._resamplers.values():
            r.reset()
        self.frames_total = 0
        self.samples_in = 0
        self.decisions = 0

    # ------------------------------------------------------------------ streaming
    def process(self, chunk: np.ndarray, sample_rate: int) -> list[SceneEvent]:
        """Feed any number of samples; return the events they complete (often none).

        ``chunk``: (frames,) or (frames, channels) of int16 / int32 / uint8 / float32 /
        float64 (multichannel is averaged to mono). ``sample_rate``: the chunk's rate in Hz
        (required). The chunk is validated before any state changes: a NaN/Inf sample raises
        :class:`AudioError` and leaves the clusterer exactly as it was.
        """
        sr = self._check_rate(sample_rate)
        self._check_layout(chunk)
        x = to_mono_float(chunk, name="process() chunk")
        if x.shape[0] == 0:
            return []
        if sr != self._cfg.sample_rate:
            if self.strict_sample_rate:
                raise AudioError(
                    f"process() chunk: sample rate {sr} Hz but the model expects {self._cfg.sample_rate} Hz "
                    "(strict_sample_rate=True); resample the input or create the clusterer with "
                    "strict_sample_rate=False to resample in the stream"
                )
            res = self._resamplers.get(sr)
            if res is None:
                res = self._resamplers[sr] = StreamResampler(sr, self._cfg.sample_rate)
                if sr < self._cfg.sample_rate:  # once per input rate
                    warnings.warn(
                        f"input at {sr} Hz holds nothing above {sr // 2} Hz; the model hears up to "
                        f"{self._cfg.sample_rate // 2} Hz, so its decisions may be less reliable",
                        CatuvacWarning, stacklevel=2)
            x = res.process(x)
            if x.shape[0] == 0:
                return []
        self.samples_in += int(x.shape[0])
        frames = self._stream.process(x)
        return self._push_frames(frames)

    def process_file(self, path: str | os.PathLike, chunk_size: int = 16000, reset: bool = True) -> list[SceneEvent]:
        """Replay a file through :meth:`process` (faster than real time); return all events.

        ``reset=True`` starts from a clean state so the events' times are the file's times.
        """
        from .sources import FileSource

        if reset:
            self.reset()
        events: list[SceneEvent] = []
        for block, sr in FileSource(path, chunk_size=chunk_size):
            events.extend(self.process(block, sr))
        return events

    def iter_file(self, path: str | os.PathLike, chunk_size: int = 16000) -> Iterator[SceneEvent]:
        """Like :meth:`process_file` but yields events as they come (constant memory)."""
        from .sources import FileSource

        self.reset()
        for block, sr in FileSource(path, chunk_size=chunk_size):
            yield from self.process(block, sr)

    # ------------------------------------------------------------------ internals
    def _check_rate(self, sample_rate: Any) -> int:
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer, float, np.floating)):
            raise AudioError(
                f"process(): sample_rate must be the chunk's rate in Hz as an int, got {sample_rate!r}"
            )
        if isinstance(sample_rate, (float, np.floating)):
            if not (math.isfinite(sample_rate) and float(sample_rate).is_integer()):
                raise AudioError(f"process(): sample_rate must be a whole number of Hz, got {sample_rate!r}")
        sr = int(sample_rate)
        if not MIN_RATE_HZ <= sr <= MAX_RATE_HZ:
            hint = f" (did you mean {sr * 1000} Hz? pass the rate in Hz, not kHz)" if 0 < sr <= 384 else ""
            raise AudioError(f"process(): sample_rate {sr} Hz is outside {MIN_RATE_HZ}–{MAX_RATE_HZ} Hz{hint}")
        return sr

    @staticmethod
    def _check_layout(chunk: Any) -> None:
        """Refuse a (channels, frames) array: read as frames × channels it would be a few samples of many channels."""
        shape: tuple[int, ...] = tuple(getattr(chunk, "shape", ()))
        if len(shape) == 2 and shape[0] <= 8 < shape[1] and shape[1] >= 4 * shape[0]:
            raise AudioError(
                f"process() chunk: shape {tuple(shape)} looks like (channels, frames); pass (frames, channels), "
                "e.g. chunk.T (soundfile's and sounddevice's layout)"
            )

    def _next_decision_at(self) -> int:
        """Frame count (total) at which the next decision falls."""
        n, W, E = self.frames_total, self._W, self.decision_frames
        if n < W:
            if self.allow_partial:
                nxt = (n // E + 1) * E
                return min(nxt, W)
            return W
        return W + ((n - W) // E + 1) * E

    def _write(self, frames: np.ndarray) -> None:
        m = frames.shape[1]
        W = self._W
        if m >= W:
            frames = frames[:, m - W :]
            start = (self.frames_total + m - W) % W
            first = W - start
            self._ring[:, start:] = frames[:, :first]
            self._ring[:, :start] = frames[:, first:]
        else:
            start = self.frames_total % W
            end = start + m
            if end <= W:
                self._ring[:, start:end] = frames
            else:
                first = W - start
                self._ring[:, start:] = frames[:, :first]
                self._ring[:, : m - first] = frames[:, first:]
        self.frames_total += m

    def _push_frames(self, frames: np.ndarray) -> list[SceneEvent]:
        events: list[SceneEvent] = []
        n = frames.shape[1]
        i = 0
        while i < n:
            nd = self._next_decision_at()
            m = min(n - i, nd - self.frames_total)
            self._write(frames[:, i : i + m])
            self._change.push(frames[:, i : i + m])
            i += m
            if self.frames_total == nd:
                events.append(self._decide())
        return events

    def _decide(self) -> SceneEvent:
        t0 = time.perf_counter()
        n, W = self.frames_total, self._W
        partial = n < W
        if partial:
            np.take(self._ring[:, :n], np.arange(W) % n, axis=1, out=self._window)
        elif self._inc is not None:  # only the frames new since the previous decision
            new = np.take(self._ring, np.arange(n - self._inc.frames_needed(n), n) % W, axis=1)
            cluster_id, probs = self._inc.decide(n, normalize_window(new, self._cfg))
        else:
            start = n % W
            self._window[:, : W - start] = self._ring[:, start:]
            self._window[:, W - start :] = self._ring[:, :start]
        if partial or self._inc is None:
            self._input[0, 0] = normalize_window(self._window, self._cfg)
            cluster_id, probs = self._sess.run([OUTPUT_ID, OUTPUT_PROBS], {INPUT_NAME: self._input})
        inference_ms = (time.perf_counter() - t0) * 1e3
        q = np.array(probs, dtype=np.float32).reshape(-1)
        hop, sr = self._cfg.hop_length, self._cfg.sample_rate
        t = ((n - 1) * hop + self._cfg.n_fft) / sr
        change = self._change.score()
        # the ring holds exactly the window's frames, in some order; neither statistic cares
        level, spread = (float(v) for v in window_level_stats_db(self._ring[:, : min(n, W)], self._cfg.power))
        if self._pool is not None:
            belief, state, changed = self._smoother.update(self._pool.pool(q, level, spread), t, change)
            if changed or self._stable is None:
                self._stable = self._pool.representative(q, state)
            profile: str | None = self._pool.states[state]
        else:
            belief, state, changed = self._smoother.update(q, t, change)
            self._stable = state
            profile = None
        self.decisions += 1
        return SceneEvent(
            time_s=t,
            cluster=int(np.asarray(cluster_id).reshape(-1)[0]),
            probs=q,
            smoothed=np.array(belief, dtype=np.float64),
            stable=self._stable,
            changed=changed,
            profile=profile,
            partial=partial,
            inference_ms=inference_ms,
            change_score=change,
            level_db=level,
            level_spread_db=spread,
        )

    def _check_graph(self, path: str, n_features: int, window_frames: int, n_clusters: int) -> None:
        inputs = {i.name: i for i in self._sess.get_inputs()}
        outputs = {o.name: o for o in self._sess.get_outputs()}
        if INPUT_NAME not in inputs or len(inputs) != 1:
            raise ModelMetadataError(
                f"{path}: expected one input named {INPUT_NAME!r}, found {sorted(inputs)}; re-export the model"
            )
        missing = [o for o in (OUTPUT_ID, OUTPUT_PROBS) if o not in outputs]
        if missing:
            raise ModelMetadataError(f"{path}: outputs {missing} missing (found {sorted(outputs)}); re-export the model")
        shape = list(inputs[INPUT_NAME].shape)
        want = [1, 1, n_features, window_frames]
        if len(shape) != 4 or any(isinstance(s, int) and s != w for s, w in zip(shape, want)):
            raise ModelMetadataError(
                f"{path}: input {INPUT_NAME!r} has shape {shape} but the metadata implies {want}; re-export the model"
            )
        pshape = list(outputs[OUTPUT_PROBS].shape)
        if pshape and isinstance(pshape[-1], int) and pshape[-1] != n_clusters:
            raise ModelMetadataError(
                f"{path}: output {OUTPUT_PROBS!r} has {pshape[-1]} clusters but the metadata says {n_clusters}"
            )
