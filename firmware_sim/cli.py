"""``catuvac-sim``: run a recording through the simulated hearing aid with the scene clusterer embedded."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from catuvac.runtime.cli_wrapper import cli_entry
from catuvac.runtime.defaults import CROSSFADE_S, DECISION_INTERVAL_S, DSP_BLOCK_SIZE

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="catuvac-sim",
        description=(
            "Process a recording as a hearing aid would: block DSP (filterbank, NAL-R gain, WDRC, noise "
            "reduction, limiter) every 2 ms, the scene clusterer beside it at its own cadence, and a "
            "cross-fade to the mapped profile whenever its stable decision changes. Writes the processed "
            "audio, a JSON report and (optionally) a plot. With --live: the same chain on the microphone in real "
            "time, played on the output device (see the live options below)."
        ),
    )
    p.add_argument("--model", help="exported clusterer model (.onnx) for the runtime (required)")
    p.add_argument("--input", help="input recording (any rate / channels; resampled to 16 kHz mono); not with --live")
    p.add_argument("--output", help="processed audio (WAV, 16-bit); not with --live")
    p.add_argument("--audiogram", help="audiogram JSON {frequencies_hz, thresholds_db_hl}; default: mild sloping loss")
    p.add_argument("--profiles", help="profile set JSON (schema: catuvac.firmware_sim.profiles); default: shipped set")
    p.add_argument("--map", help='cluster→profile JSON {"0": "quiet", ...}; default: cluster k → k-th profile (cycled)')
    p.add_argument("--report", help="JSON report path (required without --live; with it: the live summary)")
    p.add_argument("--plot", help="PNG: spectrogram, cluster ids / profile, band gains")
    p.add_argument("--block-size", type=int, default=DSP_BLOCK_SIZE, help=f"DSP block in samples at 16 kHz (default {DSP_BLOCK_SIZE} = {DSP_BLOCK_SIZE / 16:g} ms)")
    p.add_argument("--crossfade", type=float, default=CROSSFADE_S, help=f"profile cross-fade time in s (default {CROSSFADE_S})")
    p.add_argument("--decision-interval", type=float, default=DECISION_INTERVAL_S, help=f"clusterer decision interval in s (default {DECISION_INTERVAL_S})")
    p.add_argument("--decision", choices=("hmm", "fixed-lag", "ema"), default=None,
                   help="the runtime's decision rule (default: the runtime's default, see catuvac.runtime.decisions)")
    p.add_argument("--truth", help="ground-truth timeline JSON of the input: score the decided profiles into the report")
    p.add_argument("--scene-profiles", help="with --truth: scene label → profile table (default: the shipped one)")
    p.add_argument("--initial-profile", help="profile before the first stable decision (default: first in the set)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    from .live_cli import add_live_arguments

    add_live_arguments(p)
    return p


@cli_entry("catuvac-sim")
def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not (args.live or args.list_devices):
        missing = [f"--{k}" for k in ("model", "input", "output", "report") if getattr(args, k) is None]
        if missing:
            parser.error(f"the following arguments are required: {', '.join(missing)} (or use --live)")
    from .nalr import AudiogramError
    from .plugins import ParamError, PrepareError
    from .profiles import ProfileError
    from .simulator import ClassifierUnavailable, simulate

    try:
        if args.live or args.list_devices:
            from .live_cli import run_live

            return run_live(args)
        rep = simulate(
            args.input, args.output, args.model,
            audiogram=args.audiogram, profiles=args.profiles, cluster_map=args.map,
            report_path=args.report, plot_path=args.plot,
            block_size=args.block_size, crossfade_s=args.crossfade,
            decision_interval=args.decision_interval, initial_profile=args.initial_profile,
            progress=not args.no_progress, decision=args.decision,
            truth=args.truth, scene_profiles=args.scene_profiles,
        )
    except ClassifierUnavailable as e:
        print(f"catuvac-sim: error: {e}", file=sys.stderr)
        return 2
    except (ProfileError, AudiogramError, ParamError, PrepareError, ValueError, FileNotFoundError) as e:
        print(f"catuvac-sim: error: {e}", file=sys.stderr)
        return 2
    keys = ["algorithmic_delay_ms", "blocks", "n_profile_switches", "dsp_ms_per_block_p50", "dsp_ms_per_block_p99",
            "classifier_ms_p99", "real_time_factor"]
    print(json.dumps({k: rep.get(k) for k in keys}, indent=2))
    for s in rep["profile_switches"]:
        print(f"  {s['time_s']:8.2f} s  {s['from']} → {s['to']}  (cluster {s['cluster']})")
    if "score" in rep:
        from catuvac.runtime.scoring import describe

        print(f"vs {args.truth}: {describe(rep['score'])}")
    print(f"wrote {args.output}, {args.report}" + (f", {args.plot}" if args.plot else ""))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
