"""``catuvac-scenes``: write the built-in synthetic acoustic-scene corpus to a folder.

Thin entry point over :func:`catuvac.training.scenes.generate_corpus` (no torch import).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Sequence

from catuvac.runtime.cli_wrapper import cli_entry

from . import scenes


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="catuvac-scenes",
        description=(
            "Generate the built-in synthetic acoustic-scene corpus: "
            f"{len(scenes.SCENE_CLASSES)} classes ({', '.join(scenes.SCENE_CLASSES)}) as 4-s clips in "
            "DIR/<class>/<class>_<nnn>.wav, a long test recording DIR/days/day.wav moving through the scenes with its "
            "ground-truth timeline DIR/days/day.json (outside the class layout: --data folder:DIR does not train on it), "
            "and DIR/manifest.json. 16 kHz mono 32-bit float WAV; "
            "deterministic from --seed. With --day-seed S only a test day is written: DIR/day.wav of --day-minutes "
            "with scene stretches of 20 s – 5 min, 1–3-s cross-fades and transients (door slam, cough, dishes, passing "
            "car, horn, laughter) listed in DIR/day.json, plus DIR/scene_profiles.json."
        ),
    )
    p.add_argument("--out", required=True, type=Path, help="output folder: new, empty, or a corpus this command wrote (its clips are replaced)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives bit-identical files (default 0)")
    p.add_argument("--clips-per-class", type=int, default=scenes.DEFAULT_CLIPS_PER_CLASS,
                   help=f"clips per class (default {scenes.DEFAULT_CLIPS_PER_CLASS}: {len(scenes.SCENE_CLASSES) * scenes.DEFAULT_CLIPS_PER_CLASS} clips of 4 s)")
    p.add_argument("--clip-seconds", type=float, default=4.0, help="clip length in s (default 4: the model's context window)")
    p.add_argument("--day-minutes", type=float, default=4.0, help="length of day.wav in minutes (default 4; ≥ 3 with the corpus, ≥ 1 with --day-seed)")
    p.add_argument("--day-seed", type=int, default=None,
                   help="write only a long test day from this seed (no clips): stretches of 20 s – 5 min with transients")
    p.add_argument("--sample-rate", type=int, default=scenes.DEFAULT_SAMPLE_RATE, help="Hz (default 16000, the front-end rate)")
    p.add_argument("--plot", type=Path, default=None, metavar="PNG", help="also save a spectrogram grid (one clip per class + the day)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


@cli_entry("catuvac-scenes")
def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    t0 = time.perf_counter()
    if args.day_seed is not None:
        from .days import write_day

        try:
            out = write_day(args.out, args.day_minutes, args.day_seed, args.sample_rate, progress=not args.quiet)
        except (ValueError, OSError) as e:
            print(f"catuvac-scenes: error: {e}", file=sys.stderr)
            return 2
        info = json.loads((out / "day_info.json").read_text())
        print(f"catuvac-scenes: wrote {out.resolve()}/day.wav ({info['seconds'] / 60:.1f} min, {info['stretches']} stretches: "
              + ", ".join(f"{k}={v}" for k, v in info["stretches_per_class"].items()) + ")")
        print("  transients: " + ", ".join(f"{k}={v}" for k, v in info["transients"].items())
              + f"; truth in day.json; seed {args.day_seed}; generated in {time.perf_counter() - t0:.1f} s")
        return 0
    try:
        out = scenes.generate_corpus(
            args.out,
            seed=args.seed,
            clips_per_class=args.clips_per_class,
            clip_seconds=args.clip_seconds,
            day_minutes=args.day_minutes,
            sample_rate=args.sample_rate,
            progress=not args.quiet,
        )
    except (ValueError, OSError) as e:
        print(f"catuvac-scenes: error: {e}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - t0
    info = json.loads((out / "manifest.json").read_text())
    n_clips = sum(info["counts"].values())
    clip_min = n_clips * info["clip_seconds"] / 60.0
    print(f"catuvac-scenes: wrote {out.resolve()}")
    print(f"  classes ({len(info['classes'])}): " + ", ".join(f"{c}={info['counts'][c]}" for c in info["classes"]))
    print(f"  clips: {n_clips} × {info['clip_seconds']:g} s = {clip_min:.1f} min at {info['sample_rate']} Hz ({info['wav_subtype']} WAV)")
    print(f"  days/day.wav: {info['day_seconds'] / 60.0:.2f} min in {info['day_segments']} segments (timeline in days/day.json)")
    print(f"  total audio: {clip_min + info['day_seconds'] / 60.0:.1f} min, seed {info['seed']}, generated in {elapsed:.1f} s")
    if args.plot is not None:
        png = scenes.plot_scene_grid(out, args.plot)
        print(f"  spectrogram grid: {png}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
