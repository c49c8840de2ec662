"""A device-side install (no ``[train]`` extra): every command answers ``--help``; a training-side
command otherwise says in one line which extra to install.

The install without the extra is simulated in a subprocess whose import system refuses torch,
scikit-learn and onnx (as a venv without them would), which takes a second instead of a venv build.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

BLOCK = """
import sys
class _NoTrainExtra:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "sklearn", "onnx"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _NoTrainExtra())
"""

ENTRY_POINTS = {  # [project.scripts] of pyproject.toml
    "catuvac-train": "catuvac.training.cli:train_main",
    "catuvac-eval": "catuvac.training.cli:eval_main",
    "catuvac-table": "catuvac.training.cli:table_main",
    "catuvac-scenes": "catuvac.training.scenes_cli:main",
    "catuvac-export": "catuvac.export.cli:main",
    "catuvac-listen": "catuvac.runtime.cli:main",
    "catuvac-sim": "catuvac.firmware_sim.cli:main",
    "catuvac-bench": "catuvac.bench:main",
    "catuvac-corpus": "catuvac.training.corpus_cli:main",
    "catuvac-map": "catuvac.training.mapfit:main",
    "catuvac-clusters": "catuvac.training.clusters:main",
}


def _run(entry: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    mod, fn = entry.split(":")
    code = BLOCK + f"import importlib\nsys.exit(getattr(importlib.import_module({mod!r}), {fn!r})({argv!r}))\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_entry_points_match_pyproject():
    tomllib = pytest.importorskip("tomllib")
    from pathlib import Path

    scripts = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == ENTRY_POINTS


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_help_without_the_train_extra(name):
    r = _run(ENTRY_POINTS[name], ["--help"])
    assert r.returncode == 0, r.stderr[-800:]
    assert "usage" in r.stdout.lower()


@pytest.mark.parametrize("name, argv", [
    ("catuvac-train", ["--out", "OUT"]),
    ("catuvac-eval", ["--checkpoint", "c.pt", "--data", "builtin:scenes"]),
    ("catuvac-table", ["--data", "builtin:scenes"]),
    ("catuvac-export", ["--checkpoint", "c.pt", "--out", "OUT"]),
])
def test_training_side_says_which_extra(name, argv, tmp_path):
    argv = [str(tmp_path / a) if a in ("OUT",) else a for a in argv]
    r = _run(ENTRY_POINTS[name], argv)
    assert r.returncode == 2, r.stderr[-800:]
    assert r.stderr.count("\n") == 1 and "pip install 'catuvac[train]'" in r.stderr, r.stderr
