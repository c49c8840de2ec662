"""Audio sources for the clusterer: a file replayed in chunks and a live microphone.

Both yield ``(chunk, sample_rate)`` pairs that go straight into
:meth:`SceneClusterer.process`, so a file and a microphone take the same code path.

``sounddevice`` is imported lazily (only by the microphone functions): on Linux its wheel does
not bundle PortAudio, and file mode must work without it. A missing PortAudio becomes an
:class:`AudioDeviceError` saying what to install.

The microphone callback runs on PortAudio's real-time thread; it only copies ``indata`` into a
bounded queue and counts problems (``status.input_overflow`` and blocks dropped because the
queue was full) — the counts are reported, never ignored.
"""

from __future__ import annotations

import os
import queue
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator, Protocol

import numpy as np

from .audio import AudioError, probe_audio
from .defaults import MIC_BLOCK_SIZE
from .errors import CatuvacError

__all__ = [
    "AudioDeviceError",
    "NoInputDeviceError",
    "FileSource",
    "MicrophoneSource",
    "close_stream",
    "import_sounddevice",
    "list_input_devices",
    "resolve_input_device",
    "PORTAUDIO_HINT",
]

PORTAUDIO_HINT = (
    "PortAudio library not found: install the system library (Debian/Ubuntu: `apt-get install "
    "libportaudio2`; Fedora: `dnf install portaudio`; macOS: `brew install portaudio`) or read a "
    "recording with --file PATH"
)
NO_DEVICE_HINT = (
    "no audio input device found: connect a microphone (or start PulseAudio/PipeWire), list the "
    "devices with --list-devices and pick one with --device ID, or read a recording with --file PATH"
)


class AudioDeviceError(CatuvacError, RuntimeError):
    """The audio device layer (PortAudio / sounddevice) cannot be used; the message says why."""


class NoInputDeviceError(AudioDeviceError):
    """There is no (usable) input device."""


# --------------------------------------------------------------------------- file
class FileSource:
    """Replay an audio file in chunks, at its own rate and channel count (no pacing).

    Anything libsndfile reads (WAV, FLAC, OGG, MP3 …), any rate; chunks are float32
    ``(frames, channels)``. Iterating twice replays the file twice.
    """

    def __init__(self, path: str | os.PathLike, chunk_size: int = 4096, max_seconds: float | None = None) -> None:

        # 4096 samples ≈ 0.1–0.25 s: large enough for numpy to be efficient, small enough to stream
        if int(chunk_size) < 1:
            raise AudioError(f"chunk_size must be ≥ 1 sample, got {chunk_size}")
        p = Path(path)
        info = probe_audio(p)
        self.path = p
        self.chunk_size = int(chunk_size)
        self.sample_rate = int(info.samplerate)
        self.channels = int(info.channels)
        self.frames = int(info.frames)
        self.max_frames = self.frames if max_seconds is None else min(self.frames, int(round(max_seconds * self.sample_rate)))

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        import soundfile as sf

        left = self.max_frames
        with sf.SoundFile(str(self.path)) as f:
            while left > 0:
                block = f.read(min(self.chunk_size, left), dtype="float32", always_2d=True)
                if block.shape[0] == 0:
                    break
                left -= block.shape[0]
                yield block, self.sample_rate


# --------------------------------------------------------------------------- microphone
def import_sounddevice() -> ModuleType:
    """Import ``sounddevice``, turning a missing PortAudio into :class:`AudioDeviceError`."""
    try:
        import sounddevice as sd
    except OSError as e:  # "PortAudio library not found"
        raise AudioDeviceError(f"{PORTAUDIO_HINT} ({e})") from e
    except ImportError as e:
        raise AudioDeviceError(f"the sounddevice package is missing ({e}); `pip install sounddevice`") from e
    return sd


def list_input_devices(sd: ModuleType | None = None) -> list[dict[str, Any]]:
    """Input-capable devices: index, name, host API, input channels, default sample rate, default flag."""
    sd = sd or import_sounddevice()
    devices = sd.query_devices()
    try:
        default_in = sd.default.device[0]
    except Exception:
        default_in = -1
    try:
        apis = [h["name"] for h in sd.query_hostapis()]
    except Exception:
        apis = []
    out = []
    for i, d in enumerate(devices):
        if int(d.get("max_input_channels", 0)) > 0:
            api = d.get("hostapi", -1)
            out.append(
                {
                    "index": int(d.get("index", i)),
                    "name": str(d["name"]),
                    "hostapi": apis[api] if isinstance(api, int) and 0 <= api < len(apis) else str(api),
                    "channels": int(d["max_input_channels"]),
                    "default_samplerate": float(d.get("default_samplerate", 0.0)),
                    "default": int(d.get("index", i)) == default_in,
                }
            )
    return out


def resolve_input_device(device: int | str | None, sd: ModuleType | None = None) -> dict[str, Any]:
    """The input device to open: ``device`` (index or name substring) or the default one.

    Raises :class:`NoInputDeviceError` when there is none, saying how to choose.
    """
    sd = sd or import_sounddevice()
    inputs = list_input_devices(sd)
    if not inputs:
        raise NoInputDeviceError(NO_DEVICE_HINT)
    if device is None:
        for d in inputs:
            if d["default"]:
                return d
        return inputs[0]  # no default input set: take the first one that can record
    if isinstance(device, str) and device.strip().lstrip("-").isdigit():
        device = int(device)
    if isinstance(device, int):
        for d in inputs:
            if d["index"] == device:
                return d
        raise NoInputDeviceError(
            f"device {device} is not an input device; inputs are "
            + ", ".join(f"{d['index']} ({d['name']})" for d in inputs)
            + " — see --list-devices"
        )
    matches = [d for d in inputs if str(device).lower() in d["name"].lower()]
    if not matches:
        raise NoInputDeviceError(
            f"no input device matches {device!r}; inputs are "
            + ", ".join(f"{d['index']} ({d['name']})" for d in inputs)
            + " — see --list-devices"
        )
    return matches[0]


class AudioStream(Protocol):
    """What :func:`close_stream` needs of a PortAudio stream (``sounddevice`` streams have it)."""

    def stop(self) -> None: ...

    def close(self) -> None: ...


def close_stream(stream: AudioStream) -> None:
    """Stop a PortAudio stream and close it (closed even when stopping fails)."""
    try:
        stream.stop()
    finally:
        stream.close()


class MicrophoneSource:
    """Live capture with ``sounddevice.InputStream``; a context manager and an iterator.

    >>> with MicrophoneSource(sample_rate=16000) as mic:       # doctest: +SKIP
    ...     for chunk, sr in mic:
    ...         events = clusterer.process(chunk, sr)

    ``sample_rate=None`` uses the device's default rate (the clusterer resamples).
    Iteration stops after ``max_seconds`` of audio (if given) or when :meth:`close` is called;
    it raises :class:`AudioDeviceError` if the device delivers nothing for ``timeout`` seconds.
    """

    def __init__(
        self,
        device: int | str | None = None,
        sample_rate: int | None = None,
        block_size: int = MIC_BLOCK_SIZE,
        channels: int = 1,  # the clusterer mixes down anyway; 1 channel halves the copy
        max_queue_blocks: int = 256,  # bounded memory: ~16 s at 16 kHz/1024 before blocks are dropped (and counted)
        timeout: float = 5.0,  # a live device delivers a block every ~0.06 s; 5 s of nothing = dead
        max_seconds: float | None = None,
    ) -> None:
        self.device = device
        self.requested_rate = sample_rate
        self.block_size = int(block_size)
        self.channels = int(channels)
        self.timeout = float(timeout)
        self.max_seconds = max_seconds
        self._q: queue.Queue[np.ndarray] = queue.Queue(maxsize=int(max_queue_blocks))
        self._stream: Any = None
        self.sample_rate: int | None = None
        self.device_info: dict[str, Any] | None = None
        self.input_overflows = 0  # callbacks flagged status.input_overflow by PortAudio
        self.dropped_blocks = 0  # blocks lost because the consumer fell behind (queue full)
        self.frames_read = 0
        self._closed = False

    @property
    def overflows(self) -> int:
        """Every loss of input: PortAudio input overflows plus blocks dropped on a full queue."""
        return self.input_overflows + self.dropped_blocks

    # the PortAudio thread runs this: copy and count, nothing else
    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        if status and getattr(status, "input_overflow", False):
            self.input_overflows += 1
        try:
            self._q.put_nowait(indata.copy())
        except queue.Full:
            self.dropped_blocks += 1

    def open(self) -> "MicrophoneSource":
        sd = import_sounddevice()
        dev = resolve_input_device(self.device, sd)
        rate = self.requested_rate or int(round(dev["default_samplerate"])) or 16000
        if self.requested_rate is not None:
            try:
                sd.check_input_settings(device=dev["index"], samplerate=rate, channels=self.channels, dtype="float32")
            except Exception:
                rate = int(round(dev["default_samplerate"]))  # device cannot do it: use its rate, the clusterer resamples
        self.device_info = dev
        self.sample_rate = int(rate)
        try:
            self._stream = sd.InputStream(
                device=dev["index"],
                samplerate=self.sample_rate,
                blocksize=self.block_size,
                channels=min(self.channels, dev["channels"]),
                dtype="float32",
                callback=self._callback,
            )
            self._stream.start()
        except Exception as e:
            self._stream = None
            raise AudioDeviceError(
                f"cannot open input device {dev['index']} ({dev['name']}) at {self.sample_rate} Hz: {e}; "
                "pick another with --device ID (see --list-devices) or use --file PATH"
            ) from e
        self._closed = False
        return self

    def close(self) -> None:
        self._closed = True
        stream, self._stream = self._stream, None
        if stream is not None:
            close_stream(stream)

    def __enter__(self) -> "MicrophoneSource":
        return self.open()

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def read(self, timeout: float | None = None) -> np.ndarray:
        """The next captured block, (frames, channels) float32."""
        if self._stream is None and self._q.empty():
            raise AudioDeviceError("the microphone is not open; use `with MicrophoneSource(...) as mic:`")
        try:
            block = self._q.get(timeout=self.timeout if timeout is None else timeout)
        except queue.Empty:
            raise AudioDeviceError(
                f"no audio from input device {self.device_info and self.device_info['name']!r} for "
                f"{self.timeout:.0f} s; is it muted, unplugged or in use? Try --device ID or --file PATH"
            ) from None
        self.frames_read += block.shape[0]
        return block

    def __iter__(self) -> Iterator[tuple[np.ndarray, int]]:
        if self._stream is None:
            self.open()
        assert self.sample_rate is not None
        limit = None if self.max_seconds is None else int(round(self.max_seconds * self.sample_rate))
        while not self._closed:
            block = self.read()
            if limit is not None and self.frames_read >= limit:
                extra = self.frames_read - limit
                if extra:
                    block = block[: block.shape[0] - extra]
                    self.frames_read = limit
                if block.shape[0]:
                    yield block, self.sample_rate
                return
            yield block, self.sample_rate
