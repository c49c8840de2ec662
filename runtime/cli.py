"""``catuvac-listen``: live scene clustering from a microphone or a file.

    catuvac-listen --model encoder.int8.onnx                     # default microphone, live view
    catuvac-listen --model M --device 3 --map map.json
    catuvac-listen --model M --file day.wav --truth day.json --map map.json --report score.json
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
from typing import Any, Iterable, Sequence, TextIO

import numpy as np

from .audio import AudioError
from .cli_wrapper import cli_entry
from .clusterer import ClustererError, SceneClusterer, SceneEvent
from .decisions import DECISION_RULES, DEFAULT_RULE, DecisionError, decision_config
from .defaults import DECISION_INTERVAL_S, MIC_BLOCK_SIZE
from .fileio import check_output_path
from .frontend import FrontEndError
from .modelmeta import ModelMetadataError
from .profiles_map import ProfileMap, ProfileMapError
from .scoring import ScoringError
from .smoothing import SmootherError, SmoothingConfig
from .sources import NO_DEVICE_HINT, AudioDeviceError, FileSource, MicrophoneSource, import_sounddevice, list_input_devices
from .timeline import TimelineError

PROG = "catuvac-listen"
USER_ERRORS = (
    ModelMetadataError,
    AudioError,
    ProfileMapError,
    AudioDeviceError,
    ClustererError,
    SmootherError,
    FrontEndError,
    DecisionError,
    ScoringError,
    TimelineError,
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
    # --profiles was this flag's old name; in catuvac-sim it names the profile *set*, so it is kept only hidden
    p.add_argument("--profiles", dest="map", help=argparse.SUPPRESS)
    p.add_argument("--map", dest="map", metavar="MAP.json",
                   help='cluster→profile map, JSON like {"0": "quiet", "1": "speech-in-noise", "default": "quiet"} '
                   "(catuvac-map writes one); q(y|x) is then pooled per profile before deciding")
    p.add_argument("--no-level", action="store_true",
                   help="ignore the map's level model, p(window level | profile) — for input not calibrated like the "
                        "training audio (e.g. a laptop microphone)")
    p.add_argument("--list-devices", action="store_true", help="list audio input devices and exit")
    p.add_argument("--decision-interval", type=float, default=DECISION_INTERVAL_S, help=f"seconds between decisions (default {DECISION_INTERVAL_S})")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds of audio")
    p.add_argument("--realtime", action="store_true", help="pace --file playback at real time (default: as fast as possible)")
    p.add_argument("--allow-partial", action="store_true", help="also decide before the first window is full (flagged partial)")
    p.add_argument("--strict-rate", action="store_true", help="refuse input at another rate than the model's instead of resampling")
    p.add_argument("--truth", help="ground-truth timeline JSON (e.g. a built-in day.json): score the decided profiles after "
                   "the run (profile accuracy, switch delay, missed changes, spurious and transient switches; needs --map) "
                   "and the research cluster figures")
    p.add_argument("--scene-profiles", metavar="TABLE.json",
                   help="with --truth: scene label → profile table (default: the shipped one for the built-in scenes)")
    p.add_argument("--report", help="with --truth: also write the score as JSON here")
    p.add_argument("--decision", choices=DECISION_RULES, default=None,
                   help=f"decision rule (default {DEFAULT_RULE}; see catuvac.runtime.decisions)")
    hmm: Any = decision_config("hmm")
    lag: Any = decision_config("fixed-lag")
    ema: Any = decision_config("ema")
    p.add_argument("--hmm-dwell", type=float, default=None, help=f"hmm/fixed-lag: expected dwell in a scene, s (default {hmm.dwell_s:g})")
    p.add_argument("--temperature", type=float, default=None, help=f"hmm/fixed-lag: emission temperature (default {hmm.temperature:g})")
    p.add_argument("--switch-prob", type=float, default=None, help=f"hmm/fixed-lag: belief needed to switch (default {hmm.switch_prob:g})")
    p.add_argument("--floor", type=float, default=None, help=f"hmm/fixed-lag: probability floor mixed into q (default {hmm.floor:g})")
    p.add_argument("--hold-prob", type=float, default=None,
                   help=f"hmm/fixed-lag: leave the current program once its belief falls below this (default {hmm.hold_prob:g}; 0 = never)")
    p.add_argument("--lag", type=float, default=None, help=f"fixed-lag: decide this many seconds late (default {lag.lag_s:g})")
    p.add_argument("--change-dwell", type=float, default=None,
                   help=f"hmm/fixed-lag: expected dwell while the sound has just changed, s (default {hmm.change_dwell_s:g}; "
                        "0 = ignore the acoustic change detector)")
    p.add_argument("--change-threshold", type=float, default=None,
                   help=f"hmm/fixed-lag: acoustic change score that counts as a change, dB (default {hmm.change_threshold_db:g})")
    p.add_argument("--change-hold", type=float, default=None,
                   help=f"hmm/fixed-lag: how long after a change the short dwell applies, s (default {hmm.change_hold_s:g})")
    p.add_argument("--change-temperature", type=float, default=None,
                   help=f"hmm/fixed-lag: emission temperature while the sound has just changed (default "
                        f"{hmm.change_temperature:g}; 0 = --temperature throughout)")
    p.add_argument("--block-size", type=int, default=MIC_BLOCK_SIZE, help=f"microphone block size in samples (default {MIC_BLOCK_SIZE})")
    p.add_argument("--ema", type=float, default=None, help=f"ema rule: EMA time constant, s (default {ema.ema_seconds})")
    p.add_argument("--hysteresis", type=float, default=None, help=f"switch margin on smoothed q (default {ema.hysteresis})")
    p.add_argument("--confirm", type=float, default=None, help=f"candidate must lead this long, s (default {ema.confirm_seconds})")
    p.add_argument("--dwell", type=float, default=None, help=f"minimum time between switches, s (default {ema.min_dwell_seconds})")
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
        states = self.c.states
        if states is not None:  # pooled: the rule's belief is per profile
            lines[2] += "   belief " + " ".join(f"{n} {b:.2f}" for n, b in zip(states, ev.smoothed))
        for k, p in enumerate(ev.probs):
            n = int(round(float(p) * self.BAR))
            mark = "◀ stable" if k == ev.stable else ""
            prof = self.c.profile_map.profile_for(k) if self.c.profile_map is not None else ""
            avg = f" (avg {ev.smoothed[k]:4.2f})" if states is None else ""
            lines.append(f" {k:2d} {'█' * n}{'·' * (self.BAR - n)} {p:5.2f}{avg} {prof:<16} {mark}")
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
    d = decision_config("ema")
    assert isinstance(d, SmoothingConfig)
    return SmoothingConfig(
        ema_seconds=d.ema_seconds if args.ema is None else args.ema,
        hysteresis=d.hysteresis if args.hysteresis is None else args.hysteresis,
        confirm_seconds=d.confirm_seconds if args.confirm is None else args.confirm,
        min_dwell_seconds=d.min_dwell_seconds if args.dwell is None else args.dwell,
    )


def _decision(args: argparse.Namespace) -> tuple[str, object]:
    ema_flags = any(v is not None for v in (args.ema, args.hysteresis, args.confirm, args.dwell))
    rule = args.decision or ("ema" if ema_flags else DEFAULT_RULE)
    if rule == "ema":
        return rule, _smoothing(args)
    if ema_flags:
        raise DecisionError(f"--ema/--hysteresis/--confirm/--dwell belong to the ema rule, not --decision {rule}")
    return rule, decision_config(rule, dwell_s=args.hmm_dwell, temperature=args.temperature,
                                 switch_prob=args.switch_prob, floor=args.floor, lag_s=args.lag, hold_prob=args.hold_prob,
                                 change_dwell_s=args.change_dwell, change_threshold_db=args.change_threshold,
                                 change_hold_s=args.change_hold, change_temperature=args.change_temperature)


def run(args: argparse.Namespace, out: TextIO) -> int:
    if args.list_devices:
        return _list_devices(out)
    if not args.model:
        raise ClustererError("--model MODEL is required (an ONNX file from catuvac-export); see --help")
    if args.duration is not None and not (math.isfinite(args.duration) and args.duration > 0):
        raise ClustererError(f"--duration must be a positive number of seconds, got {args.duration}")
    if args.block_size < 1:
        raise ClustererError(f"--block-size must be ≥ 1 sample, got {args.block_size}")
    rule, rule_cfg = _decision(args)
    clusterer = SceneClusterer(
        args.model,
        decision_interval=args.decision_interval,
        decision=rule,
        decision_config=rule_cfg,  # type: ignore[arg-type]
        profile_map=ProfileMap.load(args.map) if args.map else None,
        strict_sample_rate=args.strict_rate,
        allow_partial=args.allow_partial,
        use_level=not args.no_level,
    )
    if args.report and not args.truth:
        raise ClustererError("--report writes the score against --truth; give --truth TIMELINE.json too (or drop --report)")
    if args.report:
        check_output_path(args.report, "--report", (".json",), ClustererError, inputs={"--truth": args.truth, "--file": args.file, "--model": args.model})
    truth = table = None
    if args.truth:
        from .scoring import load_scene_profiles
        from .timeline import load_truth

        truth = load_truth(args.truth)
        table = load_scene_profiles(args.scene_profiles)
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
    profiles: list[str | None] = []
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
                    profiles.append(ev.profile)
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
        from .fileio import atomic_write_json
        from .scoring import describe, score_run

        score = score_run(times, profiles if clusterer.profile_map is not None else None, stables, truth, table,
                          raw=raws, duration_s=n_audio)
        score["decision_rule"] = clusterer.decision_rule
        score["decision_config"] = vars(clusterer.decision_config)
        print(f"{PROG}: vs {args.truth}: {describe(score)}", file=sys.stderr)
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
