"""catuvac-clusters --checkpoint: the checkpoint's encoder is exported (fp32) and scored like --model
(``checkpoint`` and ``audio_folder``: the export tests' fixtures, see tests/training/conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

from catuvac.training.clusters import main


def test_checkpoint_is_audited_through_its_exported_encoder(checkpoint: Path, audio_folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert main(["--checkpoint", str(checkpoint), "--data", f"folder:{audio_folder}", "--out", str(out),
                 "--examples", "2", "--quiet"]) == 0
    res = json.loads((out / "clusters.json").read_text())
    assert res["model"] == str(checkpoint) and res["n_clusters"] == 7 and res["n_windows"] == 28
    # the test model's read-out separates the 7 scene classes: most clusters are nearly pure
    mixes = [c["label_mix"] for c in res["clusters"] if c["label_mix"]]
    assert sum(max(m.values()) >= 0.75 for m in mixes) >= len(mixes) - 2
    assert len(json.loads((out / "map_template.json").read_text())) == 8
