"""The PulseAudio test device that `make test` sets up (tools/audio_device.sh), checked before use.

A daemon that died since the set-up (seen once in CI: "Connection refused" on every client) is
started again by rerunning the idempotent set-up script once; only when that fails too do the
tests skip, with the reason the script recorded.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

PULSE_DIR = Path(os.environ.get("CATUVAC_PULSE_DIR", "/tmp/catuvac-pulse"))
SETUP = Path(__file__).parents[2] / "tools" / "audio_device.sh"
LIVE_SINKS = ("catuvac_live_in", "catuvac_live_out")
SINKS = ("catuvac_sink",) + LIVE_SINKS


def server_address() -> str:
    return f"unix:{PULSE_DIR / 'pulse' / 'native'}"


def _problem() -> str | None:
    """None when the daemon answers and every test sink exists; else what is wrong."""
    env = dict(os.environ, PULSE_SERVER=server_address())
    try:
        r = subprocess.run(["pactl", "list", "short", "sinks"], capture_output=True, text=True, env=env, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"pactl failed ({e})"
    if r.returncode != 0:
        return f"PulseAudio at {server_address()} does not answer ({r.stderr.strip()})"
    names = {line.split("\t")[1] for line in r.stdout.splitlines() if "\t" in line}
    missing = [s for s in SINKS if s not in names]
    return f"PulseAudio sinks missing: {missing}" if missing else None


def _status() -> str:
    status = PULSE_DIR / "status"
    text = status.read_text().strip() if status.exists() else ""
    return text.splitlines()[0].strip() if text else f"{status} missing or empty"


def ensure_pulse() -> str | None:
    """Make sure the test device runs (restarting it once if needed); None = ready, else why not.

    Sets ``PULSE_SERVER`` for this process (libpulse reads it when a stream opens).
    """
    if not (PULSE_DIR / "status").exists():
        return f"audio test device not set up ({PULSE_DIR / 'status'} missing): run `make audio-device`"
    if _status() != "ok":
        return f"audio test device unavailable: {_status()}"
    os.environ["PULSE_SERVER"] = server_address()
    problem = _problem()
    if problem is None:
        return None
    subprocess.run(["bash", str(SETUP)], capture_output=True, text=True, timeout=300)
    if _status() != "ok":
        return f"{problem}; restarting it failed: {_status()}"
    again = _problem()
    return None if again is None else f"{problem}; still after rerunning {SETUP.name}: {again}"
