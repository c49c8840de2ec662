"""``catuvac-corpus``: build the real-audio benchmark corpus from Debian packages.

Thin entry point over :func:`catuvac.training.corpus.build_corpus` (no torch import). The
packages are installed by ``tools/real_corpus_packages.sh`` (``make real-corpus`` runs both).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from catuvac.runtime.cli_wrapper import cli_entry

from . import corpus


def _parser() -> argparse.ArgumentParser:
    d = corpus.CorpusConfig()
    p = argparse.ArgumentParser(
        prog="catuvac-corpus",
        description=(
            "Build the real-audio benchmark corpus, deterministically from --seed, from installed Debian "
            "packages (tools/real_corpus_packages.sh installs them): DIR/digits (spoken digits, espeak-ng voices "
            "× rates × pitches, part mixed with real background at 20-40 dB SNR, AudioMNIST layout: "
            "--data audiomnist:DIR/digits), DIR/scenes/clips (real recordings in 4-s clips, one folder per "
            "class, groups.csv names each clip's source: --data folder:DIR/scenes/clips), DIR/scenes/day.wav + "
            "day.json (a long recording through the scenes and its truth timeline) and DIR/manifest.json "
            "(settings, package versions and licences, every source file). Built once: a finished build "
            "with the same settings is reused."
        ),
    )
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default $CATUVAC_CACHE/real/seed<S>, i.e. ~/.cache/catuvac/real/seed<S>)")
    p.add_argument("--seed", type=int, default=d.seed, help="random seed (default 0)")
    p.add_argument("--speakers", type=int, default=d.speakers, help=f"digit speakers, espeak-ng accent+variant pairs (default {d.speakers})")
    p.add_argument("--repetitions", type=int, default=d.repetitions,
                   help=f"repetitions of each digit per speaker (default {d.repetitions}: {d.speakers * 10 * d.repetitions} files)")
    p.add_argument("--clips-per-class", type=int, default=d.clips_per_class, help=f"cap on scene clips per class (default {d.clips_per_class})")
    p.add_argument("--source-root", type=Path, default=Path("/"), help="where the packages' files are (default /)")
    p.add_argument("--espeak", default="espeak-ng", help="synthesizer command (default espeak-ng)")
    p.add_argument("--force", action="store_true", help="rebuild even if a finished build with these settings exists")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


@cli_entry("catuvac-corpus")
def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.seed < 0 or args.speakers < 1 or args.repetitions < 1 or args.clips_per_class < 1:
        print("catuvac-corpus: error: --seed must be ≥ 0 and --speakers, --repetitions, --clips-per-class ≥ 1",
              file=sys.stderr)
        return 2
    cfg = replace(corpus.CorpusConfig(), seed=args.seed, speakers=args.speakers, repetitions=args.repetitions,
                  clips_per_class=args.clips_per_class)
    t0 = time.perf_counter()
    try:
        out = corpus.build_corpus(args.out, cfg, source_root=args.source_root, synth=corpus.espeak_synth(args.espeak),
                                  force=args.force, progress=not args.quiet)
    except (corpus.CorpusError, OSError, ValueError) as e:
        print(f"catuvac-corpus: error: {e}", file=sys.stderr)
        return 2
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    print(f"catuvac-corpus: {out.resolve()} ({time.perf_counter() - t0:.0f} s)")
    print(f"  digits: {m['digits']['files']} files, {len(m['digits']['speakers'])} speakers, "
          f"{m['digits']['noisy_files']} with real background  --data {m['data_specs']['digits']}")
    per = ", ".join(f"{k}={v}" for k, v in m["scenes"]["clips_per_class"].items())
    print(f"  scenes: {m['scenes']['clips']} clips ({per})  --data {m['data_specs']['scenes']}")
    print(f"  day: {m['day']['seconds']:.0f} s in {m['day']['segments']} segments  {m['day']['audio']} / {m['day']['timeline']}")
    print("  packages: " + ", ".join(f"{k} {v['version']}" for k, v in m["packages"].items()))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
