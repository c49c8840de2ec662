"""A fake ``sounddevice`` module: devices, default input, and an InputStream that delivers blocks synchronously."""

from __future__ import annotations

import types
from typing import Any

import numpy as np


class FakeStatus:
    def __init__(self, overflow: bool) -> None:
        self.input_overflow = overflow

    def __bool__(self) -> bool:
        return self.input_overflow


def make_fake_sd(devices: list[dict[str, Any]], default_in: int = -1, blocks: int = 6, overflow_at: tuple[int, ...] = ()) -> types.ModuleType:
    sd = types.ModuleType("sounddevice")
    sd.query_devices = lambda *a, **k: devices  # type: ignore[attr-defined]
    sd.query_hostapis = lambda *a, **k: [{"name": "ALSA"}]  # type: ignore[attr-defined]
    sd.default = types.SimpleNamespace(device=[default_in, -1])  # type: ignore[attr-defined]
    sd.check_input_settings = lambda **k: None  # type: ignore[attr-defined]

    class InputStream:
        def __init__(self, device, samplerate, blocksize, channels, dtype, callback) -> None:
            self.cb, self.n, self.ch, self.sr = callback, blocksize, channels, samplerate
            sd.opened = dict(device=device, samplerate=samplerate, blocksize=blocksize, channels=channels)  # type: ignore[attr-defined]

        def start(self) -> None:  # deliver the blocks synchronously (the real one uses PortAudio's thread)
            t = np.arange(self.n * blocks) / self.sr
            x = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32).reshape(blocks, self.n)
            for i in range(blocks):
                self.cb(np.repeat(x[i][:, None], self.ch, 1), self.n, None, FakeStatus(i in overflow_at))

        def stop(self) -> None:
            pass

        def close(self) -> None:
            pass

    sd.InputStream = InputStream  # type: ignore[attr-defined]
    return sd


MIC = {"index": 0, "name": "Fake Mic", "hostapi": 0, "max_input_channels": 2, "max_output_channels": 0, "default_samplerate": 48000.0}
SPK = {"index": 1, "name": "Fake Speaker", "hostapi": 0, "max_input_channels": 0, "max_output_channels": 2, "default_samplerate": 48000.0}
