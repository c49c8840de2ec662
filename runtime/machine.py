"""What machine a benchmark ran on: CPU model and the instruction-set extensions that matter here."""

from __future__ import annotations

import os
import platform
from typing import Any

__all__ = ["cpu_info"]


def cpu_info() -> dict[str, Any]:
    """CPU model, logical CPUs and SIMD / int8 dot-product / bf16 extensions (from /proc/cpuinfo on Linux)."""
    model, flags = "", set[str]()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and not model:
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {
        "cpu": model or platform.processor() or platform.machine() or "unknown",
        "logical_cpus": os.cpu_count(),
        "avx2": "avx2" in flags,
        "avx512f": "avx512f" in flags,
        "avx512_vnni": "avx512_vnni" in flags,
        "avx_vnni": "avx_vnni" in flags,
        "vnni": bool({"avx512_vnni", "avx_vnni"} & flags),
        "amx_bf16": "amx_bf16" in flags,
    }
