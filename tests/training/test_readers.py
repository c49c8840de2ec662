"""The dataset reader registry: one registered entry is all spec parsing, load_dataset, the
``--data`` help and catuvac-table need to know about a data set."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from catuvac.runtime.frontend import FrontEndConfig
from catuvac.training import readers, table
from catuvac.training.datasets import default_frontend, load_dataset
from catuvac.training.readers import ClipEntry, ClipListing, DatasetError, DatasetReader, DataSpec, SplitPolicy, kinds, parse_data_spec, register_reader

TOY_LAYOUT = "PATH/<label>-<n>.wav (toy layout: the label before the dash)"
TOY_FRONTEND = FrontEndConfig.scenes(window_seconds=1.0)


def _list_toy(spec: DataSpec) -> ClipListing:
    assert spec.path is not None
    files = sorted(spec.path.glob("*.wav"))
    names = sorted({p.stem.split("-")[0] for p in files})
    entries = [ClipEntry(p, p.name, names.index(p.stem.split("-")[0]), p.name) for p in files]
    return ClipListing(entries, names, [], spec.path)


TOY = DatasetReader(kind="toy", layout=TOY_LAYOUT, list_clips=_list_toy, frontend=lambda: TOY_FRONTEND,
                    vad_db=30.0, split=SplitPolicy(stratify=False), title="Toy Set", preset="toy-preset")


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The toy reader registered (for this test only) and a folder in its layout: 2 labels × 5 clips of 1 s."""
    monkeypatch.setattr(readers, "_READERS", dict(readers._READERS))
    register_reader(TOY)
    rng = np.random.default_rng(0)
    for label in ("hum", "hiss"):
        for i in range(5):
            sf.write(tmp_path / f"{label}-{i}.wav", (0.1 * rng.standard_normal(16000)).astype(np.float32), 16000)
    return tmp_path


def test_the_built_in_readers_are_registered() -> None:
    assert kinds() == ("audiomnist", "us8k", "tau2019", "folder", "builtin")


def test_spec_parsing_and_help_pick_up_a_registered_reader(toy: Path) -> None:
    spec = parse_data_spec(f"toy:{toy}")
    assert (spec.kind, spec.path) == ("toy", toy)
    with pytest.raises(DatasetError, match=r"use one of .*builtin:scenes, toy:PATH$"):
        parse_data_spec("nope:/x")
    with pytest.raises(DatasetError, match=r"needs a path: toy:PATH \(PATH/<label>-<n>\.wav"):
        parse_data_spec("toy:")
    assert f"toy:PATH = {TOY_LAYOUT}" in readers.data_spec_help()
    parser = table.add_table_args(argparse.ArgumentParser(prog="catuvac-table"))
    data_help = next(a.help for a in parser._actions if a.dest == "data")
    assert data_help is not None and TOY_LAYOUT in data_help


def test_load_dataset_uses_the_readers_front_end_mask_rule_and_split_policy(toy: Path, tmp_path: Path) -> None:
    assert default_frontend(f"toy:{toy}") == TOY_FRONTEND
    fs = load_dataset(f"toy:{toy}", cache_dir=tmp_path / "cache", progress=False)
    assert fs.frontend == TOY_FRONTEND and fs.label_names == ["hiss", "hum"] and len(fs) == 10
    assert fs.split_counts() == {"train": 8, "val": 1, "test": 1}  # 80/10/10 of the 10 files, unstratified
    # vad_db="auto" is the reader's 30 dB: the same windows with that threshold given explicitly
    again = load_dataset(f"toy:{toy}", cache_dir=tmp_path / "cache", progress=False, vad_db=30.0)
    assert again.cache_hits == 10 and np.array_equal(again.mask, fs.mask)
    with pytest.raises(DatasetError, match=f"no audio files found in {tmp_path / 'cache'}; expected PATH/<label>"):
        load_dataset(f"toy:{tmp_path / 'cache'}", progress=False, use_cache=False)


def test_table_takes_title_and_preset_from_the_reader(toy: Path) -> None:
    assert table.default_preset(f"toy:{toy}") == "toy-preset"
    assert table._dataset_title(f"toy:{toy}") == "Toy Set"
    assert table.default_preset("folder:/x") == "quick" and table._dataset_title("folder:/data/mine") == "mine"
    assert table.default_preset("us8k:/x") == "paper-us8k" and table._dataset_title("us8k:/x") == "UrbanSound8K"
    assert table._dataset_title("builtin:scenes?n=5") == "builtin:scenes"
