"""make demo's driver end to end (1 training epoch instead of 40, 30 clips per class instead of 40), and that a
second run reuses its outputs."""

import json

import pytest

from catuvac.demo import SCENE_TO_PROFILE, run_demo

CLIPS = 30  # clips per class: 210 clips, not the preset's 280 (the corpus took most of this test's time); the
# test split then has 3 windows per class, 21 > K = 14, so the K-means row is scored (kmeans_applies)


@pytest.mark.slow
def test_demo_end_to_end_and_reuse(tmp_path, capsys):
    out = tmp_path / "demo"
    s = run_demo(out, epochs=1, progress=False, clips_per_class=CLIPS)
    for rel in ("train/checkpoint.pt", "train/metrics.json", "train/loss_curves.png", "model/encoder.onnx",
                "model/encoder.int8.onnx", "model/export_report.json", "sim/day_processed.wav", "sim/report.json",
                "sim/simulation.png", "day_timeline.png", "day_events.jsonl", "profile_map.json", "summary.json"):
        assert (out / rel).exists(), rel
    assert s["clusters"] == 14 and json.loads((out / "summary.json").read_text())["corpus"].endswith(f"-n{CLIPS}-s8")
    assert set(s["metrics_test_split"]) >= {"cat_uvac", "kmeans", "labels"}
    assert s["export"]["int8_bytes"] / s["export"]["fp32_bytes"] <= 0.30
    # the summary's day figures are the one scoring module's, recomputed from the written events
    from catuvac.runtime.scoring import score_profiles
    from catuvac.runtime.timeline import load_truth
    from catuvac.training.scenes import day_files

    ev = [json.loads(line) for line in (out / "day_events.jsonl").read_text().splitlines()]
    again = score_profiles([e["time_s"] for e in ev], [e["profile"] for e in ev], load_truth(day_files(s["corpus"])[1]),
                           SCENE_TO_PROFILE)
    assert s["day"]["profile_accuracy"] == again["profile_accuracy"] and s["decision_rule"] == "hmm"
    assert s["simulation"]["algorithmic_delay_ms"] < 10
    pmap = json.loads((out / "profile_map.json").read_text())
    assert {v for k, v in pmap.items() if k.isdigit()} <= set(SCENE_TO_PROFILE.values())
    assert set(pmap["evidence"]) == {str(k) for k in range(14)}  # the fitted map carries p(profile | cluster)
    text = capsys.readouterr().out
    assert "catuvac demo" in text and str(out.resolve()) in text
    # second run: nothing is retrained or re-exported
    mtimes = {p: (out / p).stat().st_mtime_ns for p in ("train/checkpoint.pt", "model/encoder.int8.onnx")}
    run_demo(out, epochs=1, progress=False, simulate=False, clips_per_class=CLIPS)
    assert {p: (out / p).stat().st_mtime_ns for p in mtimes} == mtimes
    # settings changed (as after an upgrade of the preset): the old run is kept aside, not reused
    s3 = run_demo(out, epochs=2, progress=False, simulate=False, clips_per_class=CLIPS)
    assert (out / "train.previous" / "checkpoint.pt").exists()
    from catuvac.training.checkpoint import load_checkpoint

    ck = load_checkpoint(out / "train" / "checkpoint.pt")
    assert ck.epoch == 2 and ck.train_config["epochs"] == 2
    assert load_checkpoint(out / "train.previous" / "checkpoint.pt").epoch == 1
    assert s3["clusters"] == 14


def test_demo_goes_on_with_fp32_when_the_int8_gate_refuses(tmp_path, monkeypatch, capsys):
    import catuvac.export.exporter as exporter
    from catuvac.demo import _deployed_model, _export

    calls = []

    def fake_export(ckpt, out, int8=False, progress=False):
        calls.append(int8)
        if int8:
            raise exporter.AgreementError("agreement_int8 = 0.9880 < --min-agreement 0.99", {})
        (out / "encoder.onnx").write_bytes(b"onnx")
        return {"fp32_bytes": 4}

    monkeypatch.setattr(exporter, "export_model", fake_export)
    ckpt = tmp_path / "checkpoint.pt"
    ckpt.write_bytes(b"ck")
    out = tmp_path / "model"
    out.mkdir()
    rep = _export(ckpt, out, progress=False)
    assert calls == [True, False] and "0.9880" in rep["int8_refused"] and rep["fp32_bytes"] == 4
    assert _deployed_model(out) == out / "encoder.onnx"  # no int8 file: the fp32 model is deployed
    assert "the demo runs the fp32 model" in capsys.readouterr().err
    (out / "encoder.int8.onnx").write_bytes(b"int8")
    assert _deployed_model(out) == out / "encoder.int8.onnx"
