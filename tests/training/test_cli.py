"""catuvac-train command line: --help, an end-to-end tiny run through the real data path,
and the bad-input errors (one line on stderr, exit status 2, no traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from catuvac.training.checkpoint import load_checkpoint
from catuvac.training.cli import build_train_parser, config_from_args, eval_main, train_main

SR = 16000


def write_folder(root: Path, seconds: float = 1.0, per_class: int = 4, classes=("hum", "hiss", "beep")) -> Path:
    """A tiny labelled folder corpus: one sub-folder per class, distinct spectra."""
    rng = np.random.default_rng(1)
    t = np.arange(int(seconds * SR)) / SR
    for ci, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            if ci == 0:
                x = 0.3 * np.sin(2 * np.pi * (100 + 10 * i) * t)
            elif ci == 1:
                x = 0.1 * rng.standard_normal(t.size)
            else:
                x = 0.3 * np.sin(2 * np.pi * (3000 + 50 * i) * t) * (np.sin(2 * np.pi * 4 * t) > 0)
            x = x + 0.001 * rng.standard_normal(t.size)
            sf.write(root / name / f"{name}_{i}.wav", x.astype(np.float32), SR, subtype="FLOAT")
    return root


def run_cli(argv, capsys):
    code = train_main([str(a) for a in argv])
    err = capsys.readouterr().err
    return code, err


def test_help_lists_the_flags():
    r = subprocess.run([sys.executable, "-m", "catuvac.training", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    for flag in ("--data", "--preset", "--clusters", "--out", "--epochs", "--lambda", "--tau-start", "--tau-end", "--seed", "--resume"):
        assert flag in r.stdout


def test_flags_override_the_preset():
    args = build_train_parser().parse_args(
        ["--preset", "paper-tau2019", "--data", "tau2019:/x", "--out", "o", "--epochs", "3", "--lambda", "0.7", "--tau-start", "2", "--tau-end", "0.2", "--clusters", "5", "--seed", "9"]
    )
    c = config_from_args(args)
    assert (c.preset, c.epochs, c.lam, c.tau_start, c.tau_end, c.n_clusters, c.seed) == ("paper-tau2019", 3, 0.7, 2.0, 0.2, 5, 9)
    assert c.window_seconds == 10.0 and c.lr_end == 5e-5  # untouched preset values


def test_cli_end_to_end_on_a_folder(tmp_path, capsys):
    data = write_folder(tmp_path / "corpus")
    out = tmp_path / "run"
    common = ["--data", f"folder:{data}", "--window-seconds", "1", "--clusters", "3", "--batch-size", "4",
              "--device", "cpu", "--cache-dir", tmp_path / "cache", "--no-progress", "--out", out]
    code, err = run_cli([*common, "--epochs", "1"], capsys)
    assert code == 0, err
    ck = load_checkpoint(out / "checkpoint.pt")
    assert (ck.model_config.n_features, ck.model_config.n_frames, ck.epoch) == (128, 32, 1)
    m = json.loads((out / "metrics.json").read_text())
    assert set(m) == {"cat_uvac", "kmeans", "labels"}
    assert (out / "latent_space.png").stat().st_size > 1000

    # same command again: refuses to overwrite; with --resume and more epochs: settings differ
    code, err = run_cli([*common, "--epochs", "1"], capsys)
    assert code == 2 and "already exists" in err and "Traceback" not in err
    code, err = run_cli([*common, "--epochs", "2", "--resume"], capsys)
    assert code == 2 and "epochs" in err and "Traceback" not in err
    # a finished run resumed with the same flags just re-evaluates
    code, err = run_cli([*common, "--epochs", "1", "--resume"], capsys)
    assert code == 0, err

    # catuvac-eval wrapper on the same checkpoint
    assert eval_main(["--checkpoint", str(out), "--data", f"folder:{data}", "--json", str(tmp_path / "e.json"), "--split", "train", "--no-progress"]) == 0
    assert "cat_uvac" in json.loads((tmp_path / "e.json").read_text())


def _one_error_line(err: str) -> str:
    lines = [l for l in err.strip().splitlines() if l.strip()]  # noqa: E741
    assert "Traceback" not in err
    assert lines and lines[-1].startswith("catuvac-train: error: ")
    return lines[-1]


def test_empty_dataset_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, err = run_cli(["--data", f"folder:{tmp_path / 'empty'}", "--out", tmp_path / "o", "--no-progress", "--device", "cpu"], capsys)
    assert code == 2
    assert "no audio files" in _one_error_line(err)


def test_more_clusters_than_clips_is_a_clear_error(tmp_path, capsys):
    data = write_folder(tmp_path / "c", per_class=2)
    code, err = run_cli(["--data", f"folder:{data}", "--window-seconds", "1", "--clusters", "9", "--out", tmp_path / "o",
                         "--no-progress", "--device", "cpu", "--cache-dir", tmp_path / "cache"], capsys)
    assert code == 2
    assert "--clusters 9 is larger than" in _one_error_line(err)


def test_window_longer_than_every_clip_is_a_clear_error(tmp_path, capsys):
    data = write_folder(tmp_path / "c", seconds=0.5, per_class=1)
    code, err = run_cli(["--data", f"folder:{data}", "--window-seconds", "4", "--clusters", "2", "--out", tmp_path / "o",
                         "--no-progress", "--device", "cpu", "--cache-dir", tmp_path / "cache"], capsys)
    assert code == 2
    line = _one_error_line(err)
    assert "shorter than" in line and "--window-seconds" in line


def test_resume_from_another_model_type_is_a_clear_error(tmp_path, capsys):
    data = write_folder(tmp_path / "c", per_class=2)
    common = ["--data", f"folder:{data}", "--window-seconds", "1", "--clusters", "2", "--out", tmp_path / "o", "--epochs", "1",
              "--no-progress", "--device", "cpu", "--cache-dir", tmp_path / "cache", "--no-plots"]
    assert run_cli([*common, "--model-type", "uvac"], capsys)[0] == 0
    code, err = run_cli([*common, "--resume"], capsys)
    assert code == 2
    assert "'uvac' checkpoint but a 'cat_uvac' one is needed" in _one_error_line(err)


def test_unknown_preset_and_bad_spec(tmp_path, capsys):
    code, err = run_cli(["--preset", "nope", "--out", tmp_path / "o"], capsys)
    assert code == 2 and "unknown preset" in _one_error_line(err)
    code, err = run_cli(["--data", "mp3s:/x", "--out", tmp_path / "o"], capsys)
    assert code == 2 and "unknown dataset kind" in _one_error_line(err)


def test_out_that_is_a_file_is_one_line_before_work(tmp_path, capsys):
    from catuvac.training.cli import table_main, train_main

    f = tmp_path / "notes.txt"
    f.write_text("keep me")
    assert train_main(["--out", str(f), "--data", "folder:/nonexistent", "--no-progress"]) == 2
    assert table_main(["--data", "folder:/nonexistent", "--out", str(f), "--no-progress"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all("is a file" in line for line in err), err
    assert f.read_text() == "keep me"
