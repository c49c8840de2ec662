"""Layers point one way: the device side (runtime, firmware_sim) never pulls in torch or the training code."""

import subprocess
import sys

DEVICE_MODULES = [
    "catuvac.runtime.frontend", "catuvac.runtime.audio", "catuvac.runtime.modelmeta", "catuvac.runtime.clusterer",
    "catuvac.runtime.smoothing", "catuvac.runtime.sources", "catuvac.runtime.cli", "catuvac.runtime.timeline",
    "catuvac.runtime.soak", "catuvac.runtime.scoring", "catuvac.runtime.decisions", "catuvac.runtime.tradeoff", "catuvac.firmware_sim.simulator", "catuvac.firmware_sim.cli", "catuvac.firmware_sim.dsp",
    "catuvac.firmware_sim.profiles", "catuvac.firmware_sim.nalr",
    "catuvac.firmware_sim.live", "catuvac.firmware_sim.live_cli",
]


def test_device_side_imports_no_torch_no_training():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in DEVICE_MODULES)
        + "bad = sorted(m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'sklearn', 'catuvac.training', 'catuvac.export')))\n"
        + "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"device-side modules imported: {out.stdout.strip()}"


def test_every_console_script_answers_help():
    import shutil
    from pathlib import Path

    bindir = Path(sys.executable).parent
    for name in ["catuvac-train", "catuvac-eval", "catuvac-table", "catuvac-export", "catuvac-listen",
                 "catuvac-sim", "catuvac-bench", "catuvac-scenes", "catuvac-map", "catuvac-clusters"]:
        exe = bindir / name
        if not exe.exists():
            exe = shutil.which(name)
        assert exe, f"{name} is not installed"
        r = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"{name} --help failed: {r.stderr[-500:]}"
        assert "usage" in r.stdout.lower()
