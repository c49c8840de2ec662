from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from catuvac.runtime.clusterer import SceneClusterer
from catuvac.runtime.profiles_map import DEFAULT_PROFILE, ProfileMap, ProfileMapError


def test_dict_and_default() -> None:
    m = ProfileMap({"0": "quiet", 1: "speech-in-noise"}, n_clusters=4)
    assert m.profile_for(0) == "quiet" and m.profile_for(1) == "speech-in-noise"
    assert m.profile_for(3) == DEFAULT_PROFILE == "default"
    assert m.as_dict() == {"0": "quiet", "1": "speech-in-noise"} and m.get(3) is None and m.missing(4) == [2, 3]
    m2 = ProfileMap({"0": "quiet", "default": "general", "_fitted": "a comment"})
    assert m2.profile_for(2) == "general"
    assert m2.as_dict() == {"0": "quiet", "default": "general"}
    assert m.profiles == ["quiet", "speech-in-noise", "default"]


@pytest.mark.parametrize(
    "mapping, msg",
    [
        ({"a": "quiet"}, "not a cluster id"),
        ({"-1": "quiet"}, "not a cluster id"),
        ({"0": ""}, "non-empty string"),
        ({"0": 3}, "non-empty string"),
        ({"0": "a", 0: "b"}, "listed twice"),
        ({"7": "x"}, r"ids \[7\] do not exist in a model with 4 clusters"),
        ({}, "empty"),
        ({"_note": "only a comment"}, "empty"),
        ({" 1": "x"}, "not a cluster id"),
        ({True: "x"}, "not a cluster id"),
    ],
)
def test_validation_errors(mapping: dict, msg: str) -> None:
    with pytest.raises(ProfileMapError, match=msg):
        ProfileMap(mapping, n_clusters=4)


def test_not_a_mapping() -> None:
    with pytest.raises(ProfileMapError, match="expected a JSON object"):
        ProfileMap(["quiet"])  # type: ignore[arg-type]


def test_file(tmp_path: Path, small_model: Path) -> None:
    p = tmp_path / "map.json"
    p.write_text(json.dumps({"0": "quiet", "3": "noisy"}))
    assert ProfileMap.from_file(p, n_clusters=4).profile_for(3) == "noisy"
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ProfileMapError, match="not valid JSON"):
        ProfileMap.from_file(bad)
    with pytest.raises(ProfileMapError, match="not found"):
        ProfileMap.from_file(tmp_path / "missing.json")
    # the clusterer validates against its K
    c = SceneClusterer(small_model, profile_map=str(p))
    assert c.profile_map is not None and c.profile_map.profile_for(0) == "quiet"
    with pytest.raises(ProfileMapError, match="out of range"):
        SceneClusterer(small_model, profile_map={"4": "x"})


def test_one_map_for_runtime_and_simulator() -> None:
    from catuvac.firmware_sim.profiles import ClusterMap, ProfileError, ProfileSet, load_cluster_map

    assert ClusterMap is ProfileMap
    ps = ProfileSet.default()
    doc = {"_fitted": "x", "0": "quiet", "2": "music", "default": "wind"}
    rt, fw = ProfileMap(doc, n_clusters=3), load_cluster_map(doc, ps, n_clusters=3)
    assert [rt.profile_for(k) for k in range(3)] == [fw.get(k) for k in range(3)] == ["quiet", "wind", "music"]
    with pytest.raises(ProfileError, match="not a profile"):
        load_cluster_map({"0": "default"}, ps)
    with pytest.raises(ProfileError, match=r"ids \[1\] have no profile"):
        load_cluster_map({"0": "quiet"}, ps, n_clusters=2)


def test_evidence_rows() -> None:
    doc = {"0": "quiet", "1": "music", "evidence": {"0": {"quiet": 3, "music": 1}, "1": {"music": 1.0}}}
    m = ProfileMap(doc, n_clusters=3)
    assert m.has_evidence and m.evidence_for(0) == {"quiet": 0.75, "music": 0.25}
    assert m.evidence_for(2) == {DEFAULT_PROFILE: 1.0}  # no row: all of it on the cluster's profile
    assert ProfileMap(m.as_dict()).as_dict() == m.as_dict() and m.as_dict()["evidence"]["0"] == {"quiet": 0.75, "music": 0.25}
    assert not ProfileMap({"0": "quiet"}).has_evidence and "evidence" not in ProfileMap({"0": "quiet"}).as_dict()
    assert ProfileMap({"0": "quiet", "evidence": {"0": {"wind": 1}}}).profiles == ["quiet", "default", "wind"]


@pytest.mark.parametrize(
    "evidence, msg",
    [
        (["quiet"], "must map cluster ids"),
        ({"x": {"quiet": 1}}, "not a cluster id"),
        ({"0": {}}, "non-empty"),
        ({"0": {"quiet": -1}}, "finite number ≥ 0"),
        ({"0": {"quiet": float("nan")}}, "finite number ≥ 0"),
        ({"0": {"quiet": True}}, "finite number ≥ 0"),
        ({"0": {"quiet": 0, "music": 0}}, "all zero"),
        ({"0": {"": 1}}, "non-empty string"),
        ({"9": {"quiet": 1}}, r"ids \[9\] do not exist"),
    ],
)
def test_evidence_validation(evidence: object, msg: str) -> None:
    with pytest.raises(ProfileMapError, match=msg):
        ProfileMap({"0": "quiet", "evidence": evidence}, n_clusters=4)


def test_simulator_checks_evidence_profiles_and_the_clusterer_pools_with_them(small_model: Path) -> None:
    from catuvac.firmware_sim.profiles import ProfileError, ProfileSet, load_cluster_map

    with pytest.raises(ProfileError, match="not a profile"):
        load_cluster_map({"0": "quiet", "evidence": {"0": {"nope": 1}}}, ProfileSet.default())
    c = SceneClusterer(small_model)
    K = c.n_clusters
    doc = {"default": "quiet", "evidence": {str(k): {"quiet": 1, "music": 1} for k in range(K)}}
    flat = SceneClusterer(small_model, profile_map=doc)
    assert flat.profile_map is not None and flat.profile_map.has_evidence
    # every cluster half quiet, half music: the pooled evidence is flat whatever the window
    x = np.random.default_rng(0).standard_normal(flat.sample_rate * 6).astype(np.float32) * 0.1
    ev = flat.process(x, flat.sample_rate)
    assert ev and all(e.profile == ev[0].profile for e in ev)


def test_level_model_roundtrip_and_validation() -> None:
    level = {"bandwidth_db": 2.0, "grid_db": [-60, -40, -20], "likelihood": {"quiet": [0.04, 0.02, 0.002], "music": [0, 0.01, 0.05]}}
    m = ProfileMap({"0": "quiet", "1": "music", "level": level}, n_clusters=2)
    grid, rows = m.level  # type: ignore[misc]
    assert grid == (-60.0, -40.0, -20.0) and rows["music"] == (0.0, 0.01, 0.05)
    assert ProfileMap(m.as_dict()).as_dict() == m.as_dict() and m.as_dict()["level"]["bandwidth_db"] == 2.0
    assert ProfileMap({"0": "quiet"}).level is None and "level" not in ProfileMap({"0": "quiet"}).as_dict()
    two = ProfileMap({"0": "quiet", "level": level, "level_spread": {**level, "grid_db": [1, 5, 20]}})
    assert set(two.features) == {"level", "level_spread"} and two.features["level_spread"][0] == (1.0, 5.0, 20.0)
    assert ProfileMap(two.as_dict()).as_dict() == two.as_dict()
    with pytest.raises(ProfileMapError, match="level_spread grid_db"):
        ProfileMap({"0": "quiet", "level_spread": {"grid_db": [5, 1], "likelihood": {"quiet": [1, 1]}}})
    bad = [
        ([1, 2], "must hold \"grid_db\" and \"likelihood\""),
        ({"grid_db": [-60], "likelihood": {"quiet": [1]}}, "≥ 2 strictly increasing"),
        ({"grid_db": [-40, -60], "likelihood": {"quiet": [1, 1]}}, "≥ 2 strictly increasing"),
        ({"grid_db": [-60, float("inf")], "likelihood": {"quiet": [1, 1]}}, "finite numbers"),
        ({"grid_db": "-60", "likelihood": {"quiet": [1, 1]}}, "list of numbers"),
        ({"grid_db": [-60, -40], "likelihood": {"quiet": [1, 1, 1]}}, "3 values for a grid of 2"),
        ({"grid_db": [-60, -40], "likelihood": {"quiet": [-1, 1]}}, "≥ 0 and not all 0"),
        ({"grid_db": [-60, -40], "likelihood": {"quiet": [0, 0]}}, "≥ 0 and not all 0"),
        ({"grid_db": [-60, -40], "likelihood": {}}, "must map profiles"),
    ]
    for value, msg in bad:
        with pytest.raises(ProfileMapError, match=msg):
            ProfileMap({"0": "quiet", "level": value})
    with pytest.raises(ProfileMapError, match="not a profile"):
        ProfileMap({"0": "quiet", "level": {"grid_db": [0, 1], "likelihood": {"loud": [1, 1]}}}, known_profiles=["quiet"])
