"""Live hearing-aid simulation: microphone → firmware chain → output device, in real time.

One ``sounddevice`` duplex stream carries the audio. Its callback (PortAudio's real-time
thread) does only the device's block work: it applies a pending profile request, runs the DSP
chain over the callback's frames in the chain's own blocks (``blocks_per_callback`` × 2 ms),
copies the result out and pushes input and output into two preallocated sample rings. It
allocates no array memory (every buffer and view is made in :meth:`LiveSimulator.start`).

The scene clusterer runs off the audio thread, in a worker thread woken every
``worker_period_s`` (the offline simulator's classifier hop, 32 ms): it reads the new input
from the ring, calls ``clusterer.process(chunk, sr)`` and, when the stable decision changes,
publishes a :class:`Decision` by one reference assignment (a lock-free single slot); the
callback picks it up at its next block boundary and starts the cross-fade. Nothing blocks
the audio thread: no locks, no queues, no waits.

Figures kept for the terminal view and the summary: input/output overflow and underflow
counts from PortAudio's status flags, samples the clusterer lost because it fell a whole
ring behind, callback time per call against its budget, decision latency (from the end of
the audio a decision was made on to the block where its cross-fade starts) and the
input-to-output latency (PortAudio's stream latency + the chain's algorithmic delay, and
the per-callback ADC→DAC time PortAudio reports). When PortAudio ends the stream on its own
(ALSA's PulseAudio bridge does when a capture poll times out on a loaded machine), the worker
reopens it and counts the restart; the view and the summary show the count.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np

from catuvac.runtime.errors import CatuvacError
from catuvac.runtime.sources import close_stream

from .simulator import HearingAidSimulator

__all__ = ["LiveConfig", "Decision", "SampleRing", "LiveSimulator", "LiveError", "open_devices", "replay"]


class LiveError(CatuvacError, RuntimeError):
    """The live simulation cannot run (device, rate, configuration); the message says what to do."""


@dataclass(frozen=True)
class LiveConfig:
    """Real-time settings of the live simulation."""

    blocks_per_callback: int = 16
    # 16 × 2 ms = 32-ms callbacks: PulseAudio's ALSA bridge cannot feed 2-ms (or, measured, 16-ms)
    # callbacks on a loaded 2-core machine without underflows; the DSP still runs in 2-ms blocks
    # inside each callback. A dedicated sound card (ALSA hw, JACK) runs 1–4.
    latency: str | float = "high"
    # PortAudio's suggested latency ("low", "high" or seconds): "high" keeps a loaded desktop
    # free of underflows; the figure actually granted is measured and reported.
    ring_seconds: float = 8.0
    # audio buffered between the callback and the clusterer: 8 s survives a long stall of the
    # worker (a slow model load, a swap) before input is lost (and counted).
    worker_period_s: float = 0.032
    # the clusterer's cadence: the offline simulator feeds it every 16 blocks = 32 ms.
    timing_history: int = 1 << 15
    # callbacks whose duration is kept for percentiles (≈ 9 min of 16-ms callbacks).

    def __post_init__(self) -> None:
        if not (isinstance(self.blocks_per_callback, int) and 1 <= self.blocks_per_callback <= 64):
            raise LiveError(f"blocks_per_callback must be an integer in [1, 64], got {self.blocks_per_callback!r}")
        if isinstance(self.latency, str) and self.latency not in ("low", "high"):
            raise LiveError(f"latency must be 'low', 'high' or seconds, got {self.latency!r}")
        if not isinstance(self.latency, str) and not (0 < float(self.latency) <= 2):
            raise LiveError(f"latency in seconds must be in (0, 2], got {self.latency!r}")
        if not (0.5 <= self.ring_seconds <= 600):
            raise LiveError(f"ring_seconds must be in [0.5, 600], got {self.ring_seconds!r}")
        if not (0.001 <= self.worker_period_s <= 1.0):
            raise LiveError(f"worker_period_s must be in [0.001, 1], got {self.worker_period_s!r}")


@dataclass(frozen=True)
class Decision:
    """A stable-decision change handed from the clusterer thread to the audio callback."""

    profile: str
    cluster: int
    end_frame: int  # input frames (since start) at the end of the audio the decision was made on
    inference_ms: float


class SampleRing:
    """Single-producer / single-consumer ring of mono samples, written in whole callback blocks.

    The capacity is a whole number of blocks, so a block never wraps: :meth:`push` is one
    ``np.copyto`` into a preallocated slot view, then the publish of ``written``. The reader
    (another thread) copies ``[start, stop)`` out with :meth:`read`; it must keep within one
    capacity (less the block being written) of ``written`` (:meth:`clamp` says how much it lost
    if it fell behind).
    """

    def __init__(self, block: int, n_blocks: int) -> None:
        self.block = int(block)
        self.capacity = int(block) * int(n_blocks)
        self._buf = np.zeros((int(n_blocks), int(block), 1), dtype=np.float32)
        self._flat = self._buf.reshape(-1)
        self._slots = [self._buf[j] for j in range(int(n_blocks))]
        self._n_blocks = int(n_blocks)
        self._k = 0
        self.written = 0

    def push(self, block: np.ndarray) -> None:
        """Copy one (block, 1) block in (the callback's only ring work)."""
        np.copyto(self._slots[self._k], block, casting="same_kind")
        self._k = (self._k + 1) % self._n_blocks
        self.written += self.block  # publish after the copy

    def clamp(self, start: int, stop: int) -> tuple[int, int]:
        """``(start', lost)``: the oldest position ≥ ``start`` still safe to read while ``written`` is
        ``stop``, and the samples lost before it. The block after ``stop`` may be being written
        (its slot holds the oldest block), so that block does not count as readable."""
        oldest = stop - self.capacity + self.block
        if start < oldest:
            return oldest, oldest - start
        return start, 0

    def read(self, start: int, stop: int) -> np.ndarray:
        """A copy of samples ``[start, stop)`` (absolute positions, within one capacity of ``written``)."""
        n = stop - start
        out = np.empty(n, dtype=np.float32)
        i = start % self.capacity
        k = min(n, self.capacity - i)
        out[:k] = self._flat[i : i + k]
        if k < n:
            out[k:] = self._flat[: n - k]
        return out


def _db(x: np.ndarray) -> float:
    """RMS level in dB FS (−120 for silence)."""
    if x.size == 0:
        return float("nan")
    return 10.0 * math.log10(max(float(np.mean(np.square(x, dtype=np.float64))), 1e-12))


def open_devices(input_device: int | str | None, output_device: int | str | None, sd: ModuleType) -> tuple[dict, dict]:
    """Resolve the input and output devices (index or name substring; ``None`` = the default)."""
    from catuvac.runtime.sources import NoInputDeviceError, resolve_input_device

    try:
        din = resolve_input_device(input_device, sd)
    except NoInputDeviceError as e:
        raise LiveError(str(e).replace("--device", "--input-device")) from e
    dev: Any = output_device
    if isinstance(dev, str) and dev.strip().lstrip("-").isdigit():
        dev = int(dev)
    try:
        dout = dict(sd.query_devices(dev, "output"))
    except (ValueError, sd.PortAudioError) as e:
        outs = [f"{i} ({d['name']})" for i, d in enumerate(sd.query_devices()) if d["max_output_channels"] > 0]
        raise LiveError(
            f"no usable output device {output_device!r} ({e}); outputs are {', '.join(outs) or 'none'} — "
            "pick one with --output-device ID"
        ) from e
    return din, dout


class LiveSimulator:
    """Run a :class:`HearingAidSimulator`'s chain on a live duplex stream with its clusterer beside it.

    >>> live = LiveSimulator(sim, clusterer)                     # doctest: +SKIP
    >>> live.start(); time.sleep(10); summary = live.stop()      # doctest: +SKIP

    ``sim`` provides the prepared chain, profile switcher and cluster map (its own classifier is
    not used: ``clusterer`` is run here, off the audio thread). ``record``/``record_input`` keep
    the processed output / the captured input for :meth:`stop` to return (and the CLI to write).
    """

    def __init__(
        self,
        sim: HearingAidSimulator,
        clusterer: Any | None,
        config: LiveConfig | None = None,
        *,
        input_device: int | str | None = None,
        output_device: int | str | None = None,
        record: bool = False,
        record_input: bool = False,
    ) -> None:
        self.sim = sim
        self.clusterer = clusterer
        self.config = config or LiveConfig()
        self.input_device = input_device
        self.output_device = output_device
        self.record = record
        self.record_input = record_input
        self.sample_rate = sim.spec.sample_rate
        self.block = sim.spec.block_size
        self.frames_per_callback = self.block * self.config.blocks_per_callback
        self._stream: Any = None
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        self._stream_lock = threading.Lock()  # start/stop/revive (never taken by the audio callback)
        self._alloc_buffers()

    # ------------------------------------------------------------------ set-up
    def _alloc_buffers(self) -> None:
        """Every buffer and view the callback touches (so the callback allocates no arrays)."""
        n, B, nb = self.frames_per_callback, self.block, self.config.blocks_per_callback
        self._in = np.zeros(n)  # float64, as the offline simulator feeds the chain
        self._out = np.zeros(n)
        self._in2d = self._in.reshape(n, 1)
        self._out2d = self._out.reshape(n, 1)
        self._in_views = [self._in[j * B : (j + 1) * B] for j in range(nb)]
        self._out_views = [self._out[j * B : (j + 1) * B] for j in range(nb)]
        ring_blocks = max(2, math.ceil(self.config.ring_seconds * self.sample_rate / n))
        self.in_ring = SampleRing(n, ring_blocks)
        self.out_ring = SampleRing(n, ring_blocks)
        L = int(self.config.timing_history)
        self._cb_ns = np.zeros(L, dtype=np.int64)
        self._io_s = np.zeros(L, dtype=np.float64)  # PortAudio's ADC→DAC time per callback
        self._reset_counters()

    def _reset_counters(self) -> None:
        self.callbacks = 0
        self.frames = 0  # input frames processed by the callback
        self.input_overflows = 0
        self.input_underflows = 0
        self.output_overflows = 0
        self.output_underflows = 0
        self.stream_restarts = 0  # times PortAudio ended the stream on its own and it was reopened
        self.frame_mismatches = 0  # callbacks with another frame count than asked (zero-filled)
        self.clusterer_lost = 0  # input samples the clusterer never saw (it fell a ring behind)
        self._request: Decision | None = None
        self._applied: Decision | None = None
        self._applied_frame = 0
        self.decisions: list[dict] = []
        self.switches: list[dict] = []
        self.last_event: Any = None
        self.level_in_db = float("nan")
        self.level_out_db = float("nan")
        self._read_in = 0
        self._read_out = 0
        self._rec_in: list[np.ndarray] = []
        self._rec_out: list[np.ndarray] = []
        self.errors: list[str] = []

    # ------------------------------------------------------------------ the real-time callback
    def _callback(self, indata: np.ndarray, outdata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        t0 = time.perf_counter_ns()
        if status:
            self._count(status)
        req = self._request
        if req is not self._applied:  # a new decision from the clusterer thread: fade from this block
            self._applied = req
            self._applied_frame = self.frames
            if req is not None:
                self.sim.switcher.request(req.profile)
        if frames != self.frames_per_callback:  # PortAudio honours a fixed blocksize; never expected
            self.frame_mismatches += 1
            outdata.fill(0.0)
            return
        np.copyto(self._in2d, indata)
        step, proc, outs = self.sim.switcher.step, self.sim.chain.process, self._out_views
        for j, xb in enumerate(self._in_views):
            step()
            np.copyto(outs[j], proc(xb))
        np.copyto(outdata, self._out2d, casting="same_kind")
        self.in_ring.push(indata)
        self.out_ring.push(outdata)
        i = self.callbacks % self._cb_ns.shape[0]
        if time_info is not None:
            self._io_s[i] = time_info.outputBufferDacTime - time_info.inputBufferAdcTime
        self.frames += frames
        self.callbacks += 1
        self._cb_ns[i] = time.perf_counter_ns() - t0

    def _count(self, status: Any) -> None:
        self.input_overflows += bool(status.input_overflow)
        self.input_underflows += bool(status.input_underflow)
        self.output_overflows += bool(status.output_overflow)
        self.output_underflows += bool(status.output_underflow)

    # ------------------------------------------------------------------ the clusterer thread
    def _work(self) -> None:
        while not self._stop.wait(self.config.worker_period_s):
            try:
                self.poll()
                if self._stream is not None and not self._stream.active:
                    self._revive()
            except Exception as e:  # keep the audio running; the view and summary show it
                self.errors.append(f"{type(e).__name__}: {e}")
                if len(self.errors) > 20:
                    return

    def poll(self) -> None:
        """Drain the rings once: feed the clusterer, publish a changed decision, levels, recording.

        Runs on the worker thread (and once more at :meth:`stop`); never on the audio thread.
        """
        w = self.in_ring.written
        start, lost = self.in_ring.clamp(self._read_in, w)
        self.clusterer_lost += lost
        if w > start:
            x = self.in_ring.read(start, w)
            self._read_in = w
            self.level_in_db = _db(x[-min(x.size, 4096):])
            if self.record_input:
                self._rec_in.append(x)
            if self.clusterer is not None:
                self._on_events(self.clusterer.process(x, self.sample_rate))
        wo = self.out_ring.written
        start, _ = self.out_ring.clamp(self._read_out, wo)
        if wo > start:
            y = self.out_ring.read(start, wo)
            self._read_out = wo
            self.level_out_db = _db(y[-min(y.size, 4096):])
            if self.record:
                self._rec_out.append(y)
        self._note_applied()

    def _on_events(self, events: list) -> None:
        for ev in events:
            self.last_event = ev
            st = None if ev.stable is None else int(ev.stable)
            self.decisions.append({"time_s": float(ev.time_s), "cluster": int(ev.cluster), "stable": st,
                                   "inference_ms": float(getattr(ev, "inference_ms", float("nan")))})
            if st is None:
                continue
            name = self.sim.cluster_map.get(st) or getattr(ev, "profile", None)
            cur = self._request.profile if self._request is not None else self.sim.switcher.active
            if name and name != cur:
                self._request = Decision(name, st, int(round(ev.time_s * self.sample_rate)), float(ev.inference_ms))

    def _note_applied(self) -> None:
        d = self._applied
        if d is None or (self.switches and self.switches[-1]["_decision"] is d):
            return
        self.switches.append({
            "_decision": d,
            "time_s": round(self._applied_frame / self.sample_rate, 4),
            "to": d.profile,
            "cluster": d.cluster,
            "decision_latency_ms": round(1000 * (self._applied_frame - d.end_frame) / self.sample_rate, 2),
            "inference_ms": round(d.inference_ms, 3),
        })

    # ------------------------------------------------------------------ start / stop
    def start(self) -> "LiveSimulator":
        from catuvac.runtime.sources import AudioDeviceError, import_sounddevice

        try:
            sd = import_sounddevice()
        except AudioDeviceError as e:
            raise LiveError(str(e)) from e
        din, dout = open_devices(self.input_device, self.output_device, sd)
        self.devices = {"input": din["name"], "output": dout["name"]}
        sr = self.sample_rate
        try:
            sd.check_input_settings(device=din["index"], samplerate=sr, channels=1, dtype="float32")
            sd.check_output_settings(device=dout["index"], samplerate=sr, channels=1, dtype="float32")
        except Exception as e:
            raise LiveError(
                f"the devices cannot run mono float32 at {sr} Hz, the chain's rate ({e}); pick devices that "
                "resample (e.g. 'pulse' or 'default', see --list-devices) with --input-device/--output-device"
            ) from e
        self.sim.reset()
        if self.clusterer is not None and hasattr(self.clusterer, "reset"):
            self.clusterer.reset()
        self._reset_counters()
        self._stop.clear()
        self._sd, self._devs = sd, (din, dout)
        self._open_stream()
        self.stream_latency_s = tuple(float(v) for v in self._stream.latency)
        self._worker = threading.Thread(target=self._work, name="catuvac-live-clusterer", daemon=True)
        self._worker.start()
        self._t_start = time.monotonic()
        return self

    def _open_stream(self) -> None:
        din, dout = self._devs
        sr = self.sample_rate
        try:
            stream = self._sd.Stream(
                device=(din["index"], dout["index"]), samplerate=sr, blocksize=self.frames_per_callback,
                channels=(1, 1), dtype="float32", latency=self.config.latency, callback=self._callback,
                prime_output_buffers_using_stream_callback=False,
            )
            stream.start()
        except Exception as e:
            raise LiveError(
                f"cannot open the duplex stream {din['name']!r} → {dout['name']!r} at {sr} Hz: {e}; "
                "pick other devices with --input-device/--output-device (see --list-devices)"
            ) from e
        self._stream = stream

    def _revive(self) -> None:
        """PortAudio ended the stream on its own (e.g. ALSA's pulse bridge timed out): reopen it, counted."""
        with self._stream_lock:
            st = self._stream
            if st is None or st.active or self._stop.is_set():
                return
            try:
                st.close()
            except Exception:
                pass
            self.stream_restarts += 1
            self._stream = None
            self._open_stream()

    def stop(self) -> dict:
        """Stop the stream and the worker, drain what is left and return the summary."""
        self._stop.set()
        with self._stream_lock:
            stream, self._stream = self._stream, None
            if stream is not None:
                close_stream(stream)
        if self._worker is not None:
            self._worker.join(timeout=5.0)
            self._worker = None
        self.poll()
        self.wall_s = time.monotonic() - getattr(self, "_t_start", time.monotonic())
        return self.summary()

    @property
    def running(self) -> bool:
        return self._stream is not None

    # ------------------------------------------------------------------ figures
    def recorded_output(self) -> np.ndarray:
        return np.concatenate(self._rec_out) if self._rec_out else np.zeros(0, dtype=np.float32)

    def recorded_input(self) -> np.ndarray:
        return np.concatenate(self._rec_in) if self._rec_in else np.zeros(0, dtype=np.float32)

    def latency(self) -> dict:
        """Input-to-output latency in ms: ``total_ms`` = the stream latency PortAudio granted (input +
        output) + the chain's algorithmic delay; ``measured_total_ms`` = the median over callbacks of
        PortAudio's own timestamps (output DAC time − input ADC time of the same callback) + the
        algorithmic delay."""
        sr = self.sample_rate
        alg_ms = 1000 * self.sim.delay_samples / sr
        lin, lout = getattr(self, "stream_latency_s", (float("nan"), float("nan")))
        n = min(self.callbacks, self._io_s.shape[0])
        io = self._io_s[:n]
        io = io[io > 0]
        io_ms = float(np.median(io) * 1000) if io.size else None
        return {
            "stream_input_ms": round(1000 * lin, 2),
            "stream_output_ms": round(1000 * lout, 2),
            "algorithmic_ms": round(alg_ms, 3),
            "total_ms": round(1000 * (lin + lout) + alg_ms, 2),
            "callback_adc_to_dac_ms_median": None if io_ms is None else round(io_ms, 2),
            "measured_total_ms": None if io_ms is None else round(io_ms + alg_ms, 2),
            "callback_ms": round(1000 * self.frames_per_callback / sr, 3),
        }

    def status(self) -> dict:
        """What the terminal view shows (read from the worker's and the callback's counters)."""
        ev = self.last_event
        sw = self.sim.switcher
        frame = self.sim.chain.band_frame
        return {
            "time_s": self.frames / self.sample_rate,
            "cluster": None if ev is None else int(ev.cluster),
            "stable": None if ev is None or ev.stable is None else int(ev.stable),
            "profile": sw.active,
            "fade": float(sw.alpha),
            "gains_db": [float(g) for g in frame.gain_db] if frame is not None else [],
            "in_db": self.level_in_db,
            "out_db": self.level_out_db,
            "decision_latency_ms": self.switches[-1]["decision_latency_ms"] if self.switches else None,
            "inference_ms": None if ev is None else float(ev.inference_ms),
            "input_overflows": self.input_overflows,
            "output_underflows": self.output_underflows,
            "clusterer_lost": self.clusterer_lost,
            "stream_restarts": self.stream_restarts,
        }

    def summary(self) -> dict:
        n = min(self.callbacks, self._cb_ns.shape[0])
        cb_ms = self._cb_ns[:n] / 1e6
        inf = [d["inference_ms"] for d in self.decisions if np.isfinite(d["inference_ms"])]
        lat = [s["decision_latency_ms"] for s in self.switches]
        return {
            "duration_s": round(self.frames / self.sample_rate, 3),
            "wall_s": round(getattr(self, "wall_s", float("nan")), 3),
            "devices": getattr(self, "devices", None),
            "sample_rate_hz": self.sample_rate,
            "block_size_samples": self.block,
            "blocks_per_callback": self.config.blocks_per_callback,
            "callbacks": self.callbacks,
            "latency": self.latency(),
            "input_overflows": self.input_overflows,
            "input_underflows": self.input_underflows,
            "output_overflows": self.output_overflows,
            "output_underflows": self.output_underflows,
            "frame_mismatches": self.frame_mismatches,
            "stream_restarts": self.stream_restarts,
            "clusterer_lost_samples": self.clusterer_lost,
            "callback_ms_p50": round(float(np.percentile(cb_ms, 50)), 4) if n else None,
            "callback_ms_p99": round(float(np.percentile(cb_ms, 99)), 4) if n else None,
            "callback_ms_max": round(float(cb_ms.max()), 4) if n else None,
            "callback_budget_ms": round(1000 * self.frames_per_callback / self.sample_rate, 3),
            "decisions": len(self.decisions),
            "inference_ms_p50": round(float(np.percentile(inf, 50)), 3) if inf else None,
            "decision_latency_ms_median": round(float(np.median(lat)), 2) if lat else None,
            "profile_switches": [{k: v for k, v in s.items() if not k.startswith("_")} for s in self.switches],
            "final_profile": self.sim.switcher.active,
            "worker_errors": list(self.errors),
        }


def replay(sim: HearingAidSimulator, x: np.ndarray, switches: list[dict]) -> np.ndarray:
    """The offline chain on a live run's input with its profile switches at the same blocks.

    ``x``: the captured input (``--record-input``); ``switches``: the summary's
    ``profile_switches``. Equal to the live output sample for sample: the check that the live
    run was the simulator's chain and nothing else.
    """
    B, sr = sim.spec.block_size, sim.spec.sample_rate
    sim.reset()
    at = {int(round(s["time_s"] * sr)): s["to"] for s in switches}
    xx = np.asarray(x, dtype=np.float64)
    y = np.zeros(len(xx) // B * B)
    for s in range(0, len(y), B):
        if s in at:
            sim.switcher.request(at[s])
        sim.switcher.step()
        y[s : s + B] = sim.chain.process(xx[s : s + B])
    return y


def format_status(s: dict, band_centres_hz: tuple[float, ...]) -> str:
    """One terminal line of :meth:`LiveSimulator.status` (xrun counts always shown)."""
    def f(v: float | None, fmt: str) -> str:
        return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)

    fade = "" if s["fade"] >= 1.0 else f" (fade {100 * s['fade']:3.0f}%)"
    gains = " ".join(f"{g:+5.1f}" for g in s["gains_db"])
    return (  # the counts first: a narrow terminal cuts the end of the line, never them
        f"{s['time_s']:7.1f} s | overflow {s['input_overflows']} underflow {s['output_underflows']}"
        f" lost {s['clusterer_lost']} restarts {s['stream_restarts']}"
        f" | cluster {f(s['cluster'], 'd')} stable {f(s['stable'], 'd')} → {s['profile']}{fade}"
        f" | in {f(s['in_db'], '6.1f')} out {f(s['out_db'], '6.1f')} dBFS"
        f" | decision {f(s['decision_latency_ms'], '.0f')} ms (model {f(s['inference_ms'], '.2f')} ms)"
        f" | gains dB [{gains}] ({band_centres_hz[0]:.0f}…{band_centres_hz[-1]:.0f} Hz)"
    )

