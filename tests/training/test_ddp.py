"""DistributedDataParallel: two CPU processes (gloo) under torchrun on a tiny folder corpus."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from catuvac.training.checkpoint import load_checkpoint

SR = 16000


def _write_corpus(root: Path) -> Path:
    rng = np.random.default_rng(7)
    t = np.arange(SR) / SR
    for ci, name in enumerate(("low", "high")):
        (root / name).mkdir(parents=True)
        for i in range(5):
            f0 = (150 if ci == 0 else 2500) + 20 * i
            x = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.01 * rng.standard_normal(t.size)
            sf.write(root / name / f"{name}{i}.wav", x.astype(np.float32), SR, subtype="FLOAT")
    return root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(120)
def test_torchrun_two_cpu_processes(tmp_path):
    data = _write_corpus(tmp_path / "corpus")
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", CATUVAC_CACHE=str(tmp_path / "cache"))
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
        "-m", "catuvac.training",
        "--data", f"folder:{data}", "--window-seconds", "1", "--clusters", "2", "--epochs", "2",
        "--batch-size", "2", "--device", "cpu", "--no-progress", "--no-plots", "--out", str(out),
    ]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=110)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]

    ck = load_checkpoint(out / "checkpoint.pt", expect_type="cat_uvac")  # weights_only=True
    assert ck.epoch == 2
    assert ck.model_config.n_clusters == 2 and ck.model_config.n_frames == 32
    for v in ck.model.state_dict().values():
        if v.is_floating_point():
            assert torch.isfinite(v).all()
    rows = list(csv.DictReader(open(out / "train_log.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]  # rank 0 alone writes the log: no duplicates
    assert set(json.loads((out / "metrics.json").read_text())) >= {"cat_uvac"}
    assert not list(out.glob("*.tmp"))
