"""``catuvac-listen``: live scene clustering from a microphone or a file.

    catuvac-listen --model encoder.int8.onnx                     # default microphone, live view
    catuvac-listen --model M --device 3 --profiles profiles.json
    catuvac-listen --model M --file day.wav --json > events.jsonl
    catuvac-listen --list-devices

The terminal view (redrawn in place when stdout is a terminal, plain lines otherwise) shows
the raw and stable cluster, the profile, one bar per cluster probability q(y|x), the decision
latency and the overflow count. ``--json`` prints one event per line instead (plus an
``overflows`` field); the run summary goes to stderr. Exit status: 0 ok, 2 user error.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import deque
from typing import Iterable, Sequence, TextIO

import numpy as np

from .audio import AudioError
from .cli_wrapper import cli_entry
from .clusterer import ClustererError, SceneClusterer, SceneEvent
from .defaults import DECISION_INTERVAL_S, MIC_BLOCK_SIZE
from .fileio import atomic_write_json, check_output_path
from .frontend import FrontEndError
from .modelmeta import ModelMetadataError
from .profiles_map import ProfileMap, ProfileMapError
from .smoothing import SmootherError, SmoothingConfig
from .sources import NO_DEVICE_HINT, AudioDeviceError, FileSource, MicrophoneSource, import_sounddevice, list_input_devices

PROG = "catuvac-listen"
USER_ERRORS = (
    ModelMetadataError,
    AudioError,
    ProfileMapError,
    AudioDeviceError,
    ClustererError,
    SmootherError,
    FrontEndError,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Cluster the acoustic scene live (microphone) or from a file with an exported catuvac ONNX model.",
    )
    p.add_argument("--model", help="exported ONNX model (catuvac-export output)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--device", help="input device index or name substring (default: the system's default input)")
    src.add_argument("--file", help="replay an audio file (any format/rate soundfile reads) instead of the microphone")
    p.add_argument("--json", action="store_true", help="print one JSON event per line instead of the live view")
    p.add_argument("--profiles", help='cluster→profile map, JSON like {"0": "quiet", "1": "speech-in-noise"}')
    p.add_argument("--list-devices", action="store_true", help="list audio input devices and exit")
    p.add_argument("--decision-interval", type=float, default=DECISION_INTERVAL_S, help=f"seconds between decisions (default {DECISION_INTERVAL_S})")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds of audio")
    p.add_argument("--realtime", action="store_true", help="pace --file playback at real time (default: as fast as possible)")
    p.add_argument("--allow-partial", action="store_true", help="also decide before the first window is full (flagged partial)")
    p.add_argument("--strict-rate", action="store_true", help="refuse input at another rate than the model's instead of resampling")
    p.add_argument("--truth", help="ground-truth timeline JSON ([{start_s, end_s, label}], e.g. the built-in day.json): "
                   "score the stable decisions after the run (Hungarian-matched agreement, switch delay, switches per hour)")
    p.add_argument("--report", help="with --truth: also write the score as JSON here")
    p.add_argument("--block-size", type=int, default=MIC_BLOCK_SIZE, help=f"microphone block size in samples (default {MIC_BLOCK_SIZE})")
    p.add_argument("--ema", type=float, default=None, help=f"EMA time constant, s (default {SmoothingConfig.ema_seconds})")
    p.add_argument("--hysteresis", type=float, default=None, help=f"switch margin on smoothed q (default {SmoothingConfig.hysteresis})")
    p.add_argument("--confirm", type=float, default=None, help=f"candidate must lead this long, s (default {SmoothingConfig.confirm_seconds})")
    p.add_argument("--dwell", type=float, default=None, help=f"minimum time between switches, s (default {SmoothingConfig.min_dwell_seconds})")
    return p


# --------------------------------------------------------------------------- views
class LiveView:
    """Human view: redraws a block in place on a TTY (ANSI), one line per event otherwise."""

    BAR = 32

    def __init__(self, clusterer: SceneClusterer, source_desc: str, out: TextIO, tty: bool) -> None:
        self.c = clusterer
        self.source_desc = source_desc
        self.out = out
        self.tty = tty
        self._lines = 0
        self._lat: deque[float] = deque(maxlen=600)

    def show(self, ev: SceneEvent, overflows: int) -> None:
        self._lat.append(ev.inference_ms)
        if not self.tty:
            probs = " ".join(f"{p:.2f}" for p in ev.probs)
            prof = f" profile={ev.profile}" if ev.profile is not None else ""
            flag = " (partial)" if ev.partial else ""
            chg = " CHANGED" if ev.changed else ""
            print(
                f"t={ev.time_s:8.2f}s cluster={ev.cluster} stable={ev.stable}{prof}{chg}{flag} "
                f"q=[{probs}] latency={ev.inference_ms:.2f}ms overflows={overflows}",
                file=self.out,
                flush=True,
            )
            return
        p50 = float(np.median(self._lat))
        lines = [
            f"catuvac-listen  {self.source_desc}",
            f"model K={self.c.n_clusters}  window {self.c.info.window_seconds:g} s  decision every {self.c.decision_interval_s:.2f} s",
            f"t = {ev.time_s:8.1f} s   cluster {ev.cluster}   stable {ev.stable}"
            + (f"  →  profile \x1b[1m{ev.profile}\x1b[0m" if ev.profile is not None else "")
            + ("   (partial window)" if ev.partial else ""),
            f"latency {ev.inference_ms:6.2f} ms (p50 {p50:.2f})   overflows {overflows}   switches {self.c.switches}",
        ]
        for k, (p, s) in enumerate(zip(ev.probs, ev.smoothed)):
            n = int(round(float(p) * self.BAR))
            mark = "◀ stable" if k == ev.stable else ""
            prof = self.c.profile_map.profile_for(k) if self.c.profile_map is not None else ""
            lines.append(f" {k:2d} {'█' * n}{'·' * (self.BAR - n)} {p:5.2f} (avg {s:4.2f}) {prof:<16} {mark}")
        buf = ""
        if self._lines:
            buf += f"\x1b[{self._lines}F"  # cursor up to the first line of the previous block
        buf += "".join("\x1b[2K" + line + "\n" for line in lines)
        self.out.write(buf)
        self.out.flush()
        self._lines = len(lines)


def _json_line(ev: SceneEvent, overflows: int) -> str:
    d = ev.to_dict()
    d["overflows"] = int(overflows)
    return json.dumps(d)


# --------------------------------------------------------------------------- main
def _list_devices(out: TextIO) -> int:
    sd = import_sounddevice()
    devs = list_input_devices(sd)
    if not devs:
        print(NO_DEVICE_HINT, file=sys.stderr)
        return 0
    print(f"{'id':>3}  {'name':<40} {'host API':<18} {'ch':>3} {'rate':>7}", file=out)
    for d in devs:
        star = "*" if d["default"] else " "
        print(f"{d['index']:>3}{star} {d['name'][:40]:<40} {d['hostapi'][:18]:<18} {d['channels']:>3} {d['default_samplerate']:>7.0f}", file=out)
    print("(* = default input; choose one with --device ID)", file=out)
    return 0


def _smoothing(args: argparse.Namespace) -> SmoothingConfig:
    d = SmoothingConfig()
    return SmoothingConfig(
        ema_seconds=d.ema_seconds if args.ema is None else args.ema,
        hysteresis=d.hysteresis if args.hysteresis is None else args.hysteresis,
        confirm_seconds=d.confirm_seconds if args.confirm is None else args.confirm,
        min_dwell_seconds=d.min_dwell_seconds if args.dwell is None else args.dwell,
    )


def run(args: argparse.Namespace, out: TextIO) -> int:
    if args.list_devices:
        return _list_devices(out)
    if not args.model:
        raise ClustererError("--model MODEL is required (an ONNX file from catuvac-export); see --help")
    if args.duration is not None and not (math.isfinite(args.duration) and args.duration > 0):
        raise ClustererError(f"--duration must be a positive number of seconds, got {args.duration}")
    if args.block_size < 1:
        raise ClustererError(f"--block-size must be ≥ 1 sample, got {args.block_size}")
    clusterer = SceneClusterer(
        args.model,
        decision_interval=args.decision_interval,
        smoothing=_smoothing(args),
        profile_map=ProfileMap.load(args.profiles) if args.profiles else None,
        strict_sample_rate=args.strict_rate,
        allow_partial=args.allow_partial,
    )
    if args.report and not args.truth:
        raise ClustererError("--report writes the score against --truth; give --truth TIMELINE.json too (or drop --report)")
    if args.report:
        check_output_path(args.report, "--report", (".json",), ClustererError, inputs={"--truth": args.truth, "--file": args.file, "--model": args.model})
    truth = None
    if args.truth:
        from .timeline import load_timeline

        try:
            truth = load_timeline(args.truth)
        except FileNotFoundError:
            raise AudioError(f"{args.truth}: timeline file not found") from None
        except ValueError as e:
            raise AudioError(str(e)) from None
    mic: MicrophoneSource | None = None
    if args.file:
        fsrc = FileSource(args.file, max_seconds=args.duration)
        source: Iterable[tuple[np.ndarray, int]] = fsrc
        desc = f"file {args.file} ({fsrc.sample_rate} Hz, {fsrc.channels} ch, {fsrc.duration_s:.1f} s)"
    else:
        mic = MicrophoneSource(args.device, sample_rate=clusterer.sample_rate, block_size=args.block_size, max_seconds=args.duration)
        mic.open()
        source = mic
        assert mic.device_info is not None
        desc = f"device {mic.device_info['index']} {mic.device_info['name']!r} ({mic.sample_rate} Hz)"
    tty = bool(getattr(out, "isatty", lambda: False)()) and not args.json
    view = None if args.json else LiveView(clusterer, desc, out, tty)
    if not args.json:
        if not tty:
            print(f"# {desc}", file=out, flush=True)
        elif mic is not None:
            print(f"listening on {desc}; Ctrl-C to stop", file=sys.stderr)

    lat: deque[float] = deque(maxlen=100_000)  # bounded: a day of live listening is ~86 400 decisions
    n_dec = 0
    times: list[float] = []
    stables: list[int] = []
    raws: list[int] = []
    n_audio = 0.0
    t_proc = 0.0
    t_start = time.perf_counter()
    try:
        for chunk, sr in source:
            t0 = time.perf_counter()
            events = clusterer.process(chunk, sr)
            t_proc += time.perf_counter() - t0
            n_audio += chunk.shape[0] / sr
            overflows = mic.overflows if mic is not None else 0
            for ev in events:
                lat.append(ev.inference_ms)
                n_dec += 1
                if truth is not None:
                    times.append(ev.time_s)
                    stables.append(ev.stable)
                    raws.append(ev.cluster)
                if args.json:
                    print(_json_line(ev, overflows), file=out, flush=True)
                else:
                    assert view is not None
                    view.show(ev, overflows)
            if args.realtime and mic is None:
                ahead = n_audio - (time.perf_counter() - t_start)
                if ahead > 0:
                    time.sleep(ahead)
    except KeyboardInterrupt:
        pass
    finally:
        if mic is not None:
            mic.close()
    wall = time.perf_counter() - t_start
    overflows = mic.overflows if mic is not None else 0
    if not lat:
        print(
            f"{PROG}: no decision: {n_audio:.2f} s of audio ends before the first partial decision at "
            f"{clusterer.decision_interval_s:g} s" if args.allow_partial else
            f"{PROG}: no decision: {n_audio:.2f} s of audio is shorter than the model's "
            f"{clusterer.info.window_seconds:g}-s window (use --allow-partial for early decisions)",
            file=sys.stderr,
        )
    else:
        print(
            f"{PROG}: {n_dec} decisions on {n_audio:.1f} s of audio in {wall:.2f} s "
            f"(processing {t_proc:.2f} s, real-time factor {t_proc / max(n_audio, 1e-9):.4f}); stable changes {clusterer.switches}; "
            f"latency p50 {np.percentile(lat, 50):.2f} ms, p99 {np.percentile(lat, 99):.2f} ms; overflows {overflows}",
            file=sys.stderr,
        )
    if truth is not None and lat:
        from .timeline import evaluate_decisions

        score = evaluate_decisions(times, stables, truth, raw=raws, duration_s=n_audio)
        d = score["switch_delay_s"]
        print(
            f"{PROG}: vs {args.truth}: agreement {score['agreement']:.3f} (raw {score['raw_agreement']:.3f}, "
            f"Hungarian-matched), {score['n_switches']} stable changes = {score['switches_per_hour']:.1f}/h, "
            f"spurious {score['spurious_switches']} = {score['spurious_switches_per_hour']:.1f}/h, switch delay median "
            f"{d['median']:.2f} s (missed {d['missed']} of {score['n_true_changes']})"
            if d.get("median") is not None
            else f"{PROG}: vs {args.truth}: agreement {score['agreement']:.3f}, {score['n_switches']} stable changes, no true change followed",
            file=sys.stderr,
        )
        if args.report:
            atomic_write_json(args.report, score)
    if mic is not None and overflows:
        print(
            f"{PROG}: warning: {overflows} input overflow(s) ({mic.input_overflows} from PortAudio, "
            f"{mic.dropped_blocks} dropped blocks): audio was lost; try a larger --block-size",
            file=sys.stderr,
        )
    return 0


@cli_entry("catuvac-listen")
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args, sys.stdout)
    except USER_ERRORS as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `catuvac-listen --json ... | head`
        return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
