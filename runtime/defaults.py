"""Defaults shared by the library, the CLIs and the simulator: one place each, with the reason.

Torch-free (the device side imports it). A CLI's ``--help`` and a function's keyword default
both read these, so the two cannot drift apart.
"""

from __future__ import annotations

#: Seconds between clusterer decisions: well inside the ≤ 4-s reaction target, one model call a second.
DECISION_INTERVAL_S = 1.0
#: Microphone block in samples: ~64 ms at 16 kHz, a low callback rate far below the decision cadence.
MIC_BLOCK_SIZE = 1024
#: DSP block in samples: 2 ms at 16 kHz, a device's audio fragment (Tympan: 32 samples).
DSP_BLOCK_SIZE = 32
#: Seconds a profile change cross-fades over (ReSound: settings change within ~1.5 s).
CROSSFADE_S = 1.5
#: Export: fraction of held-out windows whose int8 cluster id must match PyTorch's.
MIN_AGREEMENT = 0.99
#: Export: calibration windows used at most (enough for stable min/max ranges; calibration time grows linearly).
MAX_CALIBRATION = 128
#: Export: held-out windows verified at most (bounds export time on big data sets).
MAX_VERIFY = 256
