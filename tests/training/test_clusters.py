"""catuvac-clusters: the audition folder (excerpts, montages, page, map template) on a tiny model and data set.

The model is the runtime tests' nearest-prototype ONNX model (K = 4, 1-s window): band noise
centred at its k-th centre frequency lands in cluster k, so what each cluster must hold is known.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from catuvac.firmware_sim.profiles import ProfileSet, load_cluster_map
from catuvac.runtime.profiles_map import ProfileMap
from catuvac.training.clusters import audition, main
from tests.helpers.scene_models import band_noise_model_and_folder

SR = 16000


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(model, folder data set): 3 clips of 2 s per label; 'low' = cluster 0, 'high' = cluster 3."""
    return band_noise_model_and_folder(tmp_path_factory.mktemp("clusters"))


@pytest.fixture(scope="module")
def result(tiny: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory):
    model, data = tiny
    out = tmp_path_factory.mktemp("audition")
    return audition(model, f"folder:{data}", out, n_examples=3, progress=False), out


def test_clusters_hold_what_the_model_assigns(result) -> None:
    res, out = result
    by_k = {c.cluster: c for c in res.clusters}
    assert res.n_windows == 12 and res.n_clusters == 4
    assert sum(c.share for c in res.clusters) == pytest.approx(1.0, abs=1e-3)
    assert by_k[0].label_mix == {"low": 1.0} and by_k[3].label_mix == {"high": 1.0}
    assert by_k[0].n_windows == by_k[3].n_windows == 6
    assert by_k[1].examples == [] and by_k[1].montage is None and by_k[1].level_dbfs_median is None
    for k in (0, 3):
        qs = [x["q"] for x in by_k[k].examples]
        assert len(qs) == 3 and qs == sorted(qs, reverse=True)  # the most typical first
        assert by_k[k].level_dbfs_median == pytest.approx(-20.0, abs=0.5)  # scene_audio has RMS 0.1
        assert (out / by_k[k].montage).is_file()
    # the mean spectra differ where the band noises do: low mel bins for cluster 0
    s0, s3 = np.array(by_k[0].mean_spectrum), np.array(by_k[3].mean_spectrum)
    assert s0[:20].mean() > s3[:20].mean() and s3[-40:].mean() > s0[-40:].mean()


def test_excerpts_are_the_windows_of_the_source_files(result) -> None:
    res, out = result
    for c in res.clusters:
        for x in c.examples:
            y, sr = sf.read(out / x["wav"])
            src, _ = sf.read(x["file"])
            s = int(round(x["start_s"] * sr))
            assert sr == SR and len(y) == SR  # one 1-s window
            np.testing.assert_allclose(y, src[s : s + SR], atol=1 / 32768 + 1e-6)  # 16-bit WAV


def test_map_template_loads_in_the_runtime_and_the_simulator(result) -> None:
    res, out = result
    raw = json.loads((out / "map_template.json").read_text())
    assert set(raw) == {"0", "1", "2", "3", "default"}
    ProfileMap.from_file(out / "map_template.json", n_clusters=4)
    cmap = load_cluster_map(out / "map_template.json", ProfileSet.default(), 4)
    assert cmap.to_dict() == raw


def test_page_links_only_local_files_that_exist(result) -> None:
    import re

    res, out = result
    page = (out / "index.html").read_text()
    links = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sum(link.endswith(".wav") for link in links) == 6 and "spectra.png" in links
    for link in links:
        assert not re.match(r"^(https?:)?//", link) and (out / link).is_file(), link


def test_cli_writes_the_folder_and_refuses_bad_input(tiny, tmp_path: Path, capsys) -> None:
    model, data = tiny
    assert main(["--model", str(model), "--data", f"folder:{data}", "--out", str(tmp_path / "o"), "--examples", "2",
                 "--quiet"]) == 0
    assert (tmp_path / "o" / "index.html").is_file() and "cluster 0:" in capsys.readouterr().out
    assert main(["--model", str(model), "--data", f"folder:{tmp_path / 'nope'}", "--out", str(tmp_path / "p"),
                 "--quiet"]) == 2
    assert "catuvac-clusters: error:" in capsys.readouterr().err
    assert main(["--model", str(tmp_path / "missing.onnx"), "--data", f"folder:{data}", "--out", str(tmp_path / "q"),
                 "--quiet"]) == 2


def test_without_labels_there_is_no_label_mix(tiny, tmp_path: Path) -> None:
    model, data = tiny
    flat = tmp_path / "flat"
    flat.mkdir()
    for f in sorted(data.glob("*/*.wav")):
        (flat / f.name).write_bytes(f.read_bytes())
    res = audition(model, f"folder:{flat}", tmp_path / "o", n_examples=1, progress=False)
    assert all(c.label_mix is None for c in res.clusters)
    assert all(x["label"] is None for c in res.clusters for x in c.examples)
    assert "<table>" not in (tmp_path / "o" / "index.html").read_text()
    assert sorted(c.n_windows for c in res.clusters) == [0, 0, 6, 6]
