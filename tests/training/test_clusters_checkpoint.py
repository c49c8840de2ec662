"""catuvac-clusters --checkpoint: the checkpoint's encoder is exported (fp32) and scored like --model."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

_spec = importlib.util.spec_from_file_location("export_fixtures_clusters", Path(__file__).parents[1] / "export" / "conftest.py")
_ex = importlib.util.module_from_spec(_spec)
assert _spec.loader is not None
_spec.loader.exec_module(_ex)
scene_audio, frontend, raw_windows, windows = _ex.scene_audio, _ex.frontend, _ex.raw_windows, _ex.windows
model, checkpoint, audio_folder = _ex.model, _ex.checkpoint, _ex.audio_folder

from catuvac.training.clusters import main  # noqa: E402


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
