"""``catuvac-sim --live``: the hearing aid on the microphone, heard on the output device.

The flags are added to ``catuvac-sim``'s parser by :func:`add_live_arguments`; :func:`run_live`
builds the simulator exactly as the offline command does (profiles, map, audiogram, block
size, cross-fade), starts :class:`~catuvac.firmware_sim.live.LiveSimulator`, draws the
terminal view until Ctrl-C (or ``--seconds``) and prints the summary. ``--record`` /
``--record-input`` are written atomically when the run stops.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from typing import Any

__all__ = ["add_live_arguments", "run_live"]


def add_live_arguments(p: argparse.ArgumentParser) -> None:
    from .live import LiveConfig

    g = p.add_argument_group("live (microphone → hearing aid → output device)")
    g.add_argument("--live", action="store_true",
                   help="process the microphone in real time and play the result (no --input/--output)")
    g.add_argument("--input-device", help="input device index or name substring (default: the system default)")
    g.add_argument("--output-device", help="output device index or name substring (default: the system default)")
    g.add_argument("--list-devices", action="store_true", help="list the audio devices and exit")
    g.add_argument("--record", help="also write the processed output to this WAV when the run stops")
    g.add_argument("--record-input", help="also write the captured input to this WAV (to rerun it offline)")
    g.add_argument("--seconds", type=float, help="stop after this many seconds (default: run until Ctrl-C)")
    g.add_argument("--blocks-per-callback", type=int, default=LiveConfig.blocks_per_callback,
                   help="DSP blocks per audio callback (default 16 = 32 ms at 2-ms blocks: no underflows through "
                        "PulseAudio on a loaded 2-core machine; 1–4 on a dedicated sound card)")
    g.add_argument("--latency", default="high",
                   help="PortAudio suggested latency: low, high or seconds (default high; the granted figure is reported)")


def _latency(v: str) -> str | float:
    if v in ("low", "high"):
        return v
    try:
        return float(v)
    except ValueError:
        raise SystemExit(f"catuvac-sim: error: --latency must be low, high or seconds, got {v!r}") from None


def _list_devices() -> int:
    from catuvac.runtime.sources import AudioDeviceError, import_sounddevice

    try:
        sd = import_sounddevice()
    except AudioDeviceError as e:
        print(f"catuvac-sim: error: {e}", file=sys.stderr)
        return 2
    print(sd.query_devices())
    return 0


def _build(args: argparse.Namespace) -> tuple[Any, Any]:
    from .nalr import Audiogram
    from .profiles import ProfileSet
    from .simulator import HearingAidSimulator, make_classifier

    clusterer = make_classifier(args.model, decision_interval=args.decision_interval)
    sim = HearingAidSimulator(
        profiles=ProfileSet.load(args.profiles) if args.profiles else None,
        cluster_map=args.map, classifier=clusterer,
        audiogram=Audiogram.load(args.audiogram) if args.audiogram else None,
        block_size=args.block_size, crossfade_s=args.crossfade, initial_profile=args.initial_profile,
    )
    return sim, clusterer


def _view(live: Any, seconds: float | None) -> None:
    """Redraw the status line 4× a second until Ctrl-C or ``seconds``; a log line a second when piped."""
    from .live import format_status

    tty = sys.stdout.isatty()
    centres = live.sim.chain.band_layout.centres_hz
    t_end = None if seconds is None else time.monotonic() + seconds
    last_log = 0.0
    while t_end is None or time.monotonic() < t_end:
        time.sleep(0.25)
        line = format_status(live.status(), centres)
        if tty:  # one line, cut to the terminal's width (a wrapped line could not be redrawn in place)
            width = shutil.get_terminal_size().columns
            print("\r\x1b[2K" + line[: max(width - 1, 20)], end="", flush=True)
        elif time.monotonic() - last_log >= 1.0:
            print(line, flush=True)
            last_log = time.monotonic()
    if tty:
        print()


def _write_wav(path: str, y: Any, sr: int) -> None:
    import numpy as np
    import soundfile as sf

    from catuvac.runtime.fileio import atomic_write

    atomic_write(path, lambda f: sf.write(f, np.clip(y, -1.0, 1.0), sr, format="WAV", subtype="PCM_16"))


def run_live(args: argparse.Namespace) -> int:
    """The ``--live`` mode of ``catuvac-sim``; returns the exit status."""
    if args.list_devices:
        return _list_devices()
    from .live import LiveConfig, LiveError, LiveSimulator

    if args.model is None:
        print("catuvac-sim: error: --live needs --model (an exported encoder .onnx)", file=sys.stderr)
        return 2
    if args.seconds is not None and not args.seconds > 0:
        print(f"catuvac-sim: error: --seconds must be > 0, got {args.seconds}", file=sys.stderr)
        return 2
    try:
        cfg = LiveConfig(blocks_per_callback=args.blocks_per_callback, latency=_latency(args.latency))
        sim, clusterer = _build(args)
        live = LiveSimulator(sim, clusterer, cfg, input_device=args.input_device, output_device=args.output_device,
                             record=bool(args.record), record_input=bool(args.record_input))
        live.start()
    except LiveError as e:
        print(f"catuvac-sim: error: {e}", file=sys.stderr)
        return 2
    lat = live.latency()
    print(f"live: {live.devices['input']} → {live.devices['output']} at {live.sample_rate} Hz, "
          f"{cfg.blocks_per_callback} × {live.block}-sample blocks per callback; input-to-output latency "
          f"{lat['total_ms']:.1f} ms (stream {lat['stream_input_ms']:.1f} + {lat['stream_output_ms']:.1f}, "
          f"algorithmic {lat['algorithmic_ms']:.1f}); Ctrl-C stops", flush=True)
    try:
        _view(live, args.seconds)
    except KeyboardInterrupt:
        print()
    finally:
        summary = live.stop()
    if args.record:
        _write_wav(args.record, live.recorded_output(), live.sample_rate)
        summary["record"] = args.record
    if args.record_input:
        _write_wav(args.record_input, live.recorded_input(), live.sample_rate)
        summary["record_input"] = args.record_input
    if args.report:
        from catuvac.runtime.fileio import atomic_write_json

        atomic_write_json(args.report, summary)
    print(json.dumps(summary, indent=2))
    lat = summary["latency"]
    print(f"{summary['duration_s']:.1f} s processed; input-to-output latency {lat['total_ms']} ms (stream + algorithmic), "
          f"{lat['measured_total_ms']} ms measured by PortAudio's timestamps; overflows {summary['input_overflows']}, "
          f"underflows {summary['output_underflows']}, stream restarts {summary['stream_restarts']}")
    if lat["measured_total_ms"] is not None and lat["measured_total_ms"] > 2 * lat["total_ms"]:
        print("note: the measured latency is over twice the stream's nominal figure: the audio server queued input "
              "while the stream started (PulseAudio's ALSA bridge does) and a duplex stream never drains it; a "
              "hardware device (see --list-devices) avoids the bridge", flush=True)
    return 0
