"""Profile files, cluster maps and the parameter cross-fade."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest

from catuvac.firmware_sim import ProfileError, ProfileSet, ProfileSwitcher, StreamSpec, default_chain, default_cluster_map, load_cluster_map

SR, B = 16000, 32


def _doc():
    return ProfileSet.default().to_dict()


def test_default_profiles_ship_and_resolve():
    ps = ProfileSet.default()
    assert ps.names == ("quiet", "speech-in-noise", "noisy-transport", "music", "wind")
    chain = default_chain()
    chain.prepare(StreamSpec())
    prepared = ps.prepare(chain.band_layout.centres_hz)
    wind = prepared["wind"].values
    # {"250": -12, "500": -8, "1000": -2, "2000": 0} interpolated to band centres 250, 707, 1414, …
    np.testing.assert_allclose(wind[("gain", "offset_db")][[0, 5]], [-12.0, 0.0])
    assert -8 < wind[("gain", "offset_db")][1] < -2
    assert wind[("nr", "strength")].tolist() == [0.7]
    assert wind[("wdrc", "ratio")].tolist() == [2.0] * 6
    # round trip through the dict form
    assert ProfileSet.from_dict(ps.to_dict()).profiles == ps.profiles


def test_profiles_are_immutable():
    ps = ProfileSet.default()
    with pytest.raises(dataclasses.FrozenInstanceError):
        ps["quiet"].noise_reduction = 1.0  # type: ignore[misc]
    prepared = ps.prepare([250, 1000, 4000])
    with pytest.raises(ValueError):
        prepared["quiet"].values[("wdrc", "ratio")][0] = 3.0
    with pytest.raises(TypeError):
        prepared["quiet"].values[("wdrc", "ratio")] = np.ones(3)  # type: ignore[index]


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: d["profiles"]["music"]["compression"].__setitem__("ratio", 12), r"profile 'music', field 'compression\.ratio': 12.*\[1, 10\]"),
        (lambda d: d["profiles"]["wind"].__setitem__("noise_reduction", 1.5), r"profile 'wind', field 'noise_reduction'"),
        (lambda d: d["profiles"]["quiet"].__setitem__("gain_ofset_db", 1), r"profile 'quiet': unknown field.*gain_ofset_db"),
        (lambda d: d["profiles"]["quiet"]["compression"].__setitem__("knee", 1), r"'compression': unknown key.*knee"),
        (lambda d: d["profiles"]["quiet"].__setitem__("gain_offset_db", {"1k": 3}), r"key '1k' is not a frequency"),
        (lambda d: d["profiles"]["quiet"].__setitem__("gain_offset_db", {"1000": 30}), r"\[1000 Hz\]: 30"),
        (lambda d: d["profiles"]["quiet"]["compression"].__setitem__("attack_ms", [5, 5, 0]), r"attack_ms'\[2\]: 0"),
        (lambda d: d["profiles"]["quiet"].__setitem__("gain_offset_db", "loud"), r"expected a number, a list"),
        (lambda d: d.__setitem__("schema_version", 2), r"schema_version must be 1"),
        (lambda d: d.__setitem__("profiles", {}), r"non-empty"),
        (lambda d: d["profiles"].__setitem__("bad name!", {}), r"letters, digits"),
    ],
)
def test_profile_validation_names_profile_and_field(edit, match):
    d = copy.deepcopy(_doc())
    edit(d)
    with pytest.raises(ProfileError, match=match):
        ProfileSet.from_dict(d, "test.json")


def test_per_band_list_must_match_band_count():
    d = _doc()
    d["profiles"]["quiet"]["gain_offset_db"] = [0, 1, 2]
    ps = ProfileSet.from_dict(d)
    with pytest.raises(ProfileError, match=r"profile 'quiet'.*3 values given but the filterbank has 6 bands"):
        ps.prepare([250, 700, 1400, 2400, 3700, 6000])


def test_profile_file_errors(tmp_path):
    p = tmp_path / "p.json"
    p.write_text(json.dumps(_doc()))
    assert ProfileSet.load(p).names == ProfileSet.default().names
    p.write_text("{")
    with pytest.raises(ProfileError, match="not valid JSON"):
        ProfileSet.load(p)
    with pytest.raises(ProfileError, match="not found"):
        ProfileSet.load(tmp_path / "nope.json")


def test_cluster_map_validation(tmp_path):
    ps = ProfileSet.default()
    m = load_cluster_map({"0": "quiet", "1": "wind", "_comment": "x"}, ps, n_clusters=2)
    assert dict(m.mapping) == {0: "quiet", 1: "wind"}
    with pytest.raises(ProfileError, match=r"'traffic', which is not a profile; available"):
        load_cluster_map({"0": "traffic"}, ps)
    with pytest.raises(ProfileError, match="not a cluster id"):
        load_cluster_map({"zero": "quiet"}, ps)
    with pytest.raises(ProfileError, match="not a cluster id"):
        load_cluster_map({"-1": "quiet"}, ps)
    with pytest.raises(ProfileError, match=r"ids \[2\] have no profile"):
        load_cluster_map({"0": "quiet", "1": "wind"}, ps, n_clusters=3)
    with pytest.raises(ProfileError, match=r"ids \[5\] do not exist"):
        load_cluster_map({"0": "quiet", "1": "quiet", "2": "quiet", "5": "wind"}, ps, n_clusters=3)
    # "default" covers unlisted ids (same format as catuvac.runtime.profiles_map)
    m = load_cluster_map({"0": "music", "default": "quiet"}, ps, n_clusters=4)
    assert [m.get(k) for k in range(4)] == ["music", "quiet", "quiet", "quiet"]
    f = tmp_path / "map.json"
    f.write_text(json.dumps({"0": "wind", "1": "music"}))
    assert load_cluster_map(f, ps).get(1) == "music"
    f.write_text("[1, 2]")
    with pytest.raises(ProfileError, match="expected a JSON object"):
        load_cluster_map(f, ps)


def test_default_cluster_map_cycles_profiles():
    ps = ProfileSet.default()
    m = default_cluster_map(7, ps)
    assert [m.get(k) for k in range(7)] == list(ps.names) + list(ps.names[:2])


# ------------------------------------------------------------------ cross-fade of parameters


def _switcher(crossfade_s=1.5):
    chain = default_chain(10.0)
    chain.prepare(StreamSpec(SR, B))
    return chain, ProfileSwitcher(chain, ProfileSet.default(), "quiet", crossfade_s=crossfade_s)


def test_parameters_ramp_linearly_over_crossfade_time():
    chain, sw = _switcher(1.5)
    a = {k: v.copy() for k, v in sw.current_values().items()}
    b = sw.prepared["noisy-transport"].values
    assert sw.request("noisy-transport")
    n_fade = int(np.ceil(1.5 * SR / B))  # 750 blocks
    offs, ratios, nr = [], [], []
    for _ in range(n_fade + 5):
        sw.step()
        offs.append(chain["gain"].offset_db.copy())
        ratios.append(chain["wdrc"].ratio.copy())
        nr.append(chain["nr"].strength)
    offs, ratios, nr = np.array(offs), np.array(ratios), np.array(nr)
    alpha = np.minimum(np.arange(1, n_fade + 6) * B / (1.5 * SR), 1.0)
    np.testing.assert_allclose(offs, a[("gain", "offset_db")] + alpha[:, None] * (b[("gain", "offset_db")] - a[("gain", "offset_db")]), atol=1e-9)
    np.testing.assert_allclose(ratios[:, 0], 2.0 + alpha * 0.5, atol=1e-9)
    np.testing.assert_allclose(nr, 0.9 * alpha, atol=1e-9)
    # done after exactly crossfade_s, and then exactly at the target (no residue)
    assert not sw.fading and sw.alpha == 1.0
    np.testing.assert_array_equal(offs[n_fade - 1], b[("gain", "offset_db")])
    assert not np.array_equal(offs[n_fade - 2], b[("gain", "offset_db")])
    # per-block steps are small: the largest offset step is |Δ| / 750 blocks
    assert np.max(np.abs(np.diff(offs, axis=0))) <= np.max(np.abs(b[("gain", "offset_db")])) / 750 + 1e-9
    # the plugins' derived coefficients follow the parameters
    np.testing.assert_allclose(chain["gain"].total_db, chain["gain"].gain_db + b[("gain", "offset_db")])


def test_request_during_fade_continues_from_current_values():
    chain, sw = _switcher(1.0)
    sw.request("wind")
    for _ in range(100):
        sw.step()
    mid = chain["gain"].offset_db.copy()
    assert sw.request("music")
    sw.step()
    step1 = chain["gain"].offset_db
    # no jump: the new fade starts where the old one was
    assert np.max(np.abs(step1 - mid)) < 0.05
    assert not sw.request("music")  # already heading there
    for _ in range(600):
        sw.step()
    np.testing.assert_array_equal(chain["gain"].offset_db, sw.prepared["music"].values[("gain", "offset_db")])


def test_zero_crossfade_is_immediate_and_bad_values_rejected():
    chain, sw = _switcher(0.0)
    sw.request("wind")
    sw.step()
    np.testing.assert_array_equal(chain["gain"].offset_db, sw.prepared["wind"].values[("gain", "offset_db")])
    with pytest.raises(ProfileError, match="crossfade_s"):
        ProfileSwitcher(chain, ProfileSet.default(), crossfade_s=-1)
    with pytest.raises(ProfileError, match="no profile named 'loud'"):
        sw.request("loud")
