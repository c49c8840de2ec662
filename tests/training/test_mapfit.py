"""catuvac-map: majority scene of each cluster's training windows → its profile; unused → gentlest."""

import json

import numpy as np
import pytest

from catuvac.training.mapfit import FLOOR_CHOICES, cluster_evidence, feature_model, fit_profile_map, gentlest_profile, held_out_floor, main

from .test_cli import run_cli, write_folder


def test_majority_scene_and_unused_cluster():
    ids = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    labels = np.array([0, 0, 1, 2, 2, 1, 1, 0])
    names = ["quiet_room", "babble", "wind"]
    table = {"quiet_room": "quiet", "babble": "speech-in-noise", "wind": "wind"}
    m = fit_profile_map(ids, labels, names, 4, table, "quiet", evidence_prior=None)
    assert m == {"0": "quiet", "1": "wind", "2": "speech-in-noise", "3": "quiet", "default": "quiet"}
    assert fit_profile_map(ids, labels, names, 4, table, "quiet", evidence_prior=1.0)["evidence"] == cluster_evidence(
        ids, labels, names, 4, table, 1.0)
    with pytest.raises(ValueError, match="no profile"):
        fit_profile_map(ids, labels, names, 4, {"quiet_room": "quiet"}, "quiet")


def test_evidence_is_the_smoothed_share_of_each_profile():
    ids = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    labels = np.array([0, 0, 1, 2, 2, 1, 1, 0])
    names = ["quiet_room", "babble", "wind", "speech_quiet"]
    # two scenes share the quiet profile: their windows count together
    table = {"quiet_room": "quiet", "babble": "speech-in-noise", "wind": "wind", "speech_quiet": "quiet"}
    ev = cluster_evidence(ids, labels, names, 4, table, prior=0.5)
    assert ev["0"] == pytest.approx({"quiet": 2.5 / 4.5, "speech-in-noise": 1.5 / 4.5, "wind": 0.5 / 4.5}, abs=1e-4)
    assert ev["1"] == pytest.approx({"quiet": 0.5 / 3.5, "speech-in-noise": 0.5 / 3.5, "wind": 2.5 / 3.5}, abs=1e-4)
    assert ev["3"] == pytest.approx({"quiet": 1 / 3, "speech-in-noise": 1 / 3, "wind": 1 / 3}, abs=1e-4)  # unused: no evidence
    # a smaller prior trusts the windows more
    assert cluster_evidence(ids, labels, names, 4, table, prior=0.1)["1"]["wind"] > ev["1"]["wind"]
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="evidence-prior"):
            cluster_evidence(ids, labels, names, 4, table, prior=bad)


def test_level_model_is_a_floored_kernel_density_per_profile():
    names = ["quiet_room", "babble", "wind", "speech_quiet"]
    table = {"quiet_room": "quiet", "babble": "speech-in-noise", "wind": "wind", "speech_quiet": "quiet"}
    levels = np.array([-40.0, -38.0, -10.0, -8.0, -12.0, -9.0])
    labels = np.array([0, 0, 1, 1, 3, 3])  # no wind window
    m = feature_model(levels, labels, names, table, bandwidth_db=2.0, floor=0.1)
    grid = np.array(m["grid_db"])
    assert grid[0] == -40.0 and grid[-1] == -8.0 and np.all(np.diff(grid) > 0)
    span = 32.0
    q = np.array(m["likelihood"]["quiet"])
    # hand computation at the grid's first point (-40 dB): four quiet windows (two quiet rooms, two speech in quiet)
    kde = sum(np.exp(-0.5 * ((-40.0 - v) / 2.0) ** 2) for v in (-40.0, -38.0, -12.0, -9.0)) / (4 * 2.0 * np.sqrt(2 * np.pi))
    assert q[0] == pytest.approx(0.9 * kde + 0.1 / span, rel=1e-5)
    # the floor keeps every level possible for every profile
    for row in m["likelihood"].values():
        assert min(row) >= 0.1 / span * (1 - 1e-5)
    assert m["likelihood"]["wind"] == pytest.approx([1 / span] * len(grid))  # no windows: flat, no information
    sin = np.array(m["likelihood"]["speech-in-noise"])
    assert sin[0] < q[0] / 10 and sin[-1] > q[-1]  # a very quiet window says quiet, a loud one rather babble
    for bad in ({"bandwidth_db": 0.0}, {"floor": 0.0}, {"floor": 1.5}):
        with pytest.raises(ValueError, match="level"):
            feature_model(levels, labels, names, table, **bad)
    with pytest.raises(ValueError, match="finite"):
        feature_model(np.array([-np.inf, -10.0]), np.array([0, 1]), names, table)


def test_held_out_floor_grows_with_the_model_misfit():
    names = ["a", "b"]
    table = {"a": "quiet", "b": "music"}
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 50)
    train = np.where(labels == 0, -40.0, -10.0) + rng.normal(0, 1.0, 100)

    def model_at(f):
        return feature_model(train, labels, names, table, bandwidth_db=1.0, floor=f)

    # held-out windows like the training ones: the smallest floor fits them best
    like = np.where(labels == 0, -40.0, -10.0) + rng.normal(0, 1.0, 100)
    best, scores = held_out_floor(model_at, like, labels, names, table)
    assert best == min(FLOOR_CHOICES) and set(scores) == {f"{f:g}" for f in FLOOR_CHOICES}
    # a fifth of them far from their profile's training values: a larger floor
    odd = like.copy()
    odd[::5] = np.where(labels[::5] == 0, -10.0, -40.0)
    best_odd, scores_odd = held_out_floor(model_at, odd, labels, names, table)
    assert best_odd > best and scores_odd[f"{best_odd:g}"] == max(scores_odd.values())
    # the score is the mean log of the runtime's lookup (hand computation for one floor)
    m = model_at(0.1)
    want = np.mean([np.log(np.interp(v, m["grid_db"], m["likelihood"][table[names[i]]])) for v, i in zip(odd, labels)])
    assert scores_odd["0.1"] == pytest.approx(want)
    with pytest.raises(ValueError, match="held-out"):
        held_out_floor(model_at, np.zeros(0), np.zeros(0, int), names, table)


def test_auto_floor_per_block_and_the_fallback_without_validation_windows():
    from catuvac.training.mapfit import TrainingWindows, window_feature_models

    names, table = ["a", "b"], {"a": "quiet", "b": "music"}
    labels = np.repeat([0, 1], 20)
    level = np.where(labels == 0, -40.0, -10.0) + np.linspace(-1, 1, 40)
    spread = np.where(labels == 0, 2.0, 9.0) + np.linspace(-0.5, 0.5, 40)
    val_labels = np.array([0, 1, 0, 1])
    tw = TrainingWindows(np.zeros(40, int), labels, names, 2, "test", level, spread,
                         val_labels, np.array([-40.0, -10.0, -39.0, -11.0]), np.array([9.0, 2.0, 9.5, 2.5]))
    out = window_feature_models(tw, table)
    assert out["level"]["floor"] == min(FLOOR_CHOICES)  # the held-out levels sit where training put them
    assert out["level_spread"]["floor"] > out["level"]["floor"]  # their spreads are the other profile's
    assert out["level"]["floor_fit"]["held_out_windows"] == 4
    bare = window_feature_models(tw._replace(val_labels=np.zeros(0, int), val_levels_db=np.zeros(0),
                                             val_level_spreads_db=np.zeros(0)), table)
    assert bare["level"]["floor"] == bare["level_spread"]["floor"] == 0.1 and isinstance(bare["level"]["floor_fit"], str)
    assert window_feature_models(tw, table, floor=0.2)["level_spread"]["floor"] == 0.2


def test_gentlest_shipped_profile_is_quiet():
    assert gentlest_profile() == "quiet"


def test_cli_on_a_trained_checkpoint(tmp_path, capsys):
    data = write_folder(tmp_path / "corpus")
    run = tmp_path / "run"
    code, err = run_cli(["--data", f"folder:{data}", "--window-seconds", "1", "--clusters", "3", "--batch-size", "4",
                         "--device", "cpu", "--cache-dir", tmp_path / "cache", "--no-progress", "--epochs", "1",
                         "--out", run], capsys)
    assert code == 0, err
    table = tmp_path / "table.json"
    table.write_text(json.dumps({"hum": "quiet", "hiss": "wind", "beep": "music"}))
    out = tmp_path / "map.json"
    assert main(["--checkpoint", str(run / "checkpoint.pt"), "--out", str(out), "--scene-profiles", str(table), "--quiet"]) == 0
    m = json.loads(out.read_text())
    assert m["default"] == "quiet" and set(m) == {"_fitted", "0", "1", "2", "default", "evidence", "level", "level_spread"}
    assert set(v for k, v in m.items() if k.isdigit()) <= {"quiet", "wind", "music"}
    assert set(m["evidence"]) == {"0", "1", "2"} and all(abs(sum(r.values()) - 1) < 1e-3 for r in m["evidence"].values())
    from catuvac.runtime.profiles_map import ProfileMap

    pm = ProfileMap.from_file(out, n_clusters=3)
    assert pm.profile_for(0) == m["0"] and pm.has_evidence
    assert pm.level is not None and set(pm.level[1]) == {"quiet", "wind", "music"}
    assert set(pm.features["level_spread"][1]) == {"quiet", "wind", "music"}
    # the floors were fitted on the validation windows (a tiny corpus may have none: the fallback)
    for block in ("level", "level_spread"):
        fit = m[block]["floor_fit"]
        assert m[block]["floor"] in FLOOR_CHOICES if isinstance(fit, dict) else m[block]["floor"] == 0.1
    fixed = tmp_path / "fixed.json"
    assert main(["--checkpoint", str(run / "checkpoint.pt"), "--out", str(fixed), "--scene-profiles", str(table), "--quiet",
                 "--level-floor", "0.3"]) == 0
    doc = json.loads(fixed.read_text())
    assert doc["level"]["floor"] == 0.3 and "floor_fit" not in doc["level"]
    with pytest.raises(SystemExit):
        main(["--checkpoint", str(run / "checkpoint.pt"), "--out", str(fixed), "--level-floor", "some"])
    # each cluster's own profile carries the most evidence (its majority; an unused cluster's row is flat)
    assert all(m["evidence"][k][m[k]] == max(m["evidence"][k].values()) for k in ("0", "1", "2"))
    plain = tmp_path / "plain.json"
    assert main(["--checkpoint", str(run / "checkpoint.pt"), "--out", str(plain), "--scene-profiles", str(table), "--quiet",
                 "--no-evidence"]) == 0
    assert "evidence" not in json.loads(plain.read_text())
    nolevel = tmp_path / "nolevel.json"
    assert main(["--checkpoint", str(run / "checkpoint.pt"), "--out", str(nolevel), "--scene-profiles", str(table),
                 "--quiet", "--no-level"]) == 0
    doc = json.loads(nolevel.read_text())
    assert "level" not in doc and "level_spread" in doc and "evidence" in doc
    assert main(["--checkpoint", str(run / "checkpoint.pt"), "--out", str(nolevel), "--scene-profiles", str(table),
                 "--quiet", "--no-level", "--no-level-spread"]) == 0
    assert not {"level", "level_spread"} & set(json.loads(nolevel.read_text()))
    capsys.readouterr()
    assert main(["--checkpoint", str(run / "checkpoint.pt"), "--out", str(tmp_path / "bad.json"), "--scene-profiles",
                 str(table), "--quiet", "--evidence-prior", "0"]) == 2
    assert "evidence-prior" in capsys.readouterr().err and not (tmp_path / "bad.json").exists()
    # the shipped table does not know these labels: a clear error, nothing written
    out2 = tmp_path / "map2.json"
    capsys.readouterr()
    assert main(["--checkpoint", str(run / "checkpoint.pt"), "--out", str(out2), "--quiet"]) == 2
    assert "no profile" in capsys.readouterr().err and not out2.exists()
    assert main(["--checkpoint", str(run / "checkpoint.pt"), "--out", str(tmp_path / "map.txt")]) == 2
    # the exported model gives the same map on the same split (same windows, same argmax)
    from catuvac.export.exporter import export_model

    export_model(run / "checkpoint.pt", tmp_path / "model", progress=False)
    out3 = tmp_path / "map3.json"
    assert main(["--model", str(tmp_path / "model" / "encoder.onnx"), "--data", f"folder:{data}", "--out", str(out3),
                 "--scene-profiles", str(table), "--quiet"]) == 0
    m3 = json.loads(out3.read_text())
    assert {k: v for k, v in m3.items() if k != "_fitted"} == {k: v for k, v in m.items() if k != "_fitted"}
