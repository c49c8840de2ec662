"""``catuvac-export`` command line (thin wrapper around :func:`catuvac.export.exporter.export_model`).

Exit codes: 0 ok; 2 bad input (checkpoint, window, output folder, calibration data);
3 verification failed (agreement below ``--min-agreement``; the report is still written).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import Sequence

from catuvac.runtime.cli_wrapper import cli_entry
from catuvac.runtime.defaults import MAX_CALIBRATION, MAX_VERIFY, MIN_AGREEMENT

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="catuvac-export",
        description=(
            "Export the h-encoder + argmax of a categorical UVAC checkpoint to ONNX: DIR/encoder.onnx (fp32), "
            "with --int8 also DIR/encoder.int8.onnx (static QDQ int8, GRU included), with --c CDIR the int8 encoder as C99, and DIR/export_report.json "
            "(sizes, agreement with PyTorch on held-out windows). The front-end config, window, K and the "
            "checkpoint hash travel in the ONNX metadata."
        ),
    )
    p.add_argument("--checkpoint", required=True, help="checkpoint file (or a training output folder holding checkpoint.pt)")
    p.add_argument("--out", required=True, help="output folder (created if needed)")
    p.add_argument("--int8", action="store_true", help="also write the int8 model DIR/encoder.int8.onnx")
    p.add_argument(
        "--calibration",
        metavar="SPEC",
        default=None,
        help="data for int8 calibration (train split) and verification (val+test split), e.g. builtin:scenes or "
        "folder:PATH (audio files); default: the checkpoint's training data",
    )
    p.add_argument(
        "--window-seconds",
        type=float,
        default=None,
        metavar="S",
        help="context window of the exported model; default = the trained window (shorter is allowed with a "
        "warning, longer is refused)",
    )
    p.add_argument(
        "--min-agreement",
        type=float,
        default=MIN_AGREEMENT,
        help=f"fail (exit 3) if the int8 model's cluster ids agree with PyTorch on fewer held-out windows (default {MIN_AGREEMENT})",
    )
    p.add_argument(
        "--calibration-method",
        choices=("auto", "minmax", "percentile", "entropy"),
        default="auto",
        help="activation range calibration; auto = MinMax, then Percentile if MinMax misses --min-agreement (default auto)",
    )
    p.add_argument("--fully-int8", action="store_true",
                   help="quantize every conv, the first one too (default: the first conv, 4 KB, stays float: faster and "
                        "more accurate); falls back to the default if --min-agreement is missed")
    p.add_argument("--full-range-weights", action="store_true",
                   help="8-bit int8 weights instead of the default 7-bit ones; exact only on CPUs with VNNI "
                        "(AVX512-VNNI/AVX-VNNI) or ARM: x86 AVX2 kernels saturate with them (default: 7-bit)")
    p.add_argument(
        "--c",
        metavar="DIR",
        default=None,
        help="also write the int8 encoder as plain C99 into DIR (const int8 weights, integer kernels, static RAM, "
        "front-end, catuvac_init/push/decide API, example program, Makefile, README); implies --int8 --fully-int8. "
        "It is compiled with the system C compiler and verified against ONNX Runtime int8 and a numpy integer "
        "reference; the figures go to the report's \"c\" section",
    )
    p.add_argument("--max-calibration", type=int, default=MAX_CALIBRATION, help=f"calibration windows used at most (default {MAX_CALIBRATION})")
    p.add_argument("--max-verify", type=int, default=MAX_VERIFY, help=f"held-out windows verified at most (default {MAX_VERIFY})")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    return p


def _show_warning(message: Warning | str, category: type, filename: str, lineno: int, file=None, line=None) -> None:  # noqa: ANN001
    print(f"catuvac-export: warning: {message}", file=sys.stderr)


@cli_entry("catuvac-export")
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .exporter import AgreementError, export_model

    if args.max_calibration < 1 or args.max_verify < 1:
        print("catuvac-export: error: --max-calibration and --max-verify must be ≥ 1", file=sys.stderr)
        return 2
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = _show_warning  # restored by catch_warnings
        try:
            report = export_model(
                args.checkpoint,
                args.out,
                int8=args.int8,
                calibration=args.calibration,
                window_seconds=args.window_seconds,
                min_agreement=args.min_agreement,
                calibration_method=args.calibration_method,
                max_calibration=args.max_calibration,
                max_verify=args.max_verify,
                progress=not args.quiet,
                fully_int8=args.fully_int8,
                full_range_weights=args.full_range_weights,
                c_dir=args.c,
            )
        except AgreementError as e:
            print(f"catuvac-export: error: {e}", file=sys.stderr)
            print(f"catuvac-export: the report is in {args.out}/export_report.json", file=sys.stderr)
            return e.exit_code
    summary = {
        k: report.get(k)
        for k in (
            "fp32_bytes",
            "int8_bytes",
            "int8_to_fp32_size_ratio",
            "agreement_fp32",
            "agreement_int8",
            "max_abs_prob_diff_fp32",
            "max_abs_prob_diff_int8",
            "n_windows",
            "calibration_method",
            "incremental",
            "seconds",
        )
    }
    if "c" in report:
        summary["c"] = {k: report["c"][k] for k in ("dir", "n_windows", "id_agreement_with_ort_int8", "bit_exact_with_reference",
                                                     "code_bytes", "const_bytes", "ram_bytes", "macs_per_decision")}
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
