"""Trainer library: schedules, presets, a tiny run's outputs, exact --resume, bad input.

Tiny configs: the paper's architecture on 32 × 32 inputs (32 "mel" bins, 1-s window), a few
dozen synthetic windows, 1–3 epochs — seconds, not minutes.
"""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch

from catuvac.training.checkpoint import load_checkpoint, save_checkpoint
from catuvac.training.model import ModelConfig, build_model
from catuvac.training.presets import PRESETS
from catuvac.training.train import TrainError, TrainHooks, lr_at, make_config, tau_at, train
from tests.helpers.tiny_training import FE, tiny_cfg, tiny_data


# --------------------------------------------------------------------------- schedules / presets
def test_lr_schedule_exponential_and_exact_end():
    cfg = tiny_cfg(epochs=500)
    assert lr_at(cfg, 0) == pytest.approx(5e-4, rel=1e-12)
    assert lr_at(cfg, 499) == pytest.approx(5e-5, rel=1e-12)
    lrs = [lr_at(cfg, e) for e in range(500)]
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    ratios = np.array(lrs[1:]) / np.array(lrs[:-1])  # constant factor = exponential decay
    assert np.allclose(ratios, (0.1) ** (1 / 499), rtol=1e-12)
    assert lr_at(tiny_cfg(epochs=1), 0) == 5e-4


@pytest.mark.parametrize("schedule", ["exponential", "linear"])
def test_tau_schedule_monotone_from_start_to_end(schedule):
    cfg = tiny_cfg(epochs=50, tau_schedule=schedule)
    taus = [tau_at(cfg, e) for e in range(50)]
    assert taus[0] == pytest.approx(1.0) and taus[-1] == pytest.approx(0.5)
    assert all(a > b for a, b in zip(taus, taus[1:]))
    mid = tau_at(cfg, 24.5)  # half-way
    assert mid == pytest.approx(math.sqrt(0.5) if schedule == "exponential" else 0.75, rel=1e-9)


def test_presets_hold_the_paper_settings():
    assert set(PRESETS) == {"paper-audiomnist", "paper-us8k", "paper-tau2019", "quick", "device"}
    for name in ("paper-audiomnist", "paper-us8k", "paper-tau2019"):
        c = make_config(name, data="builtin:scenes")
        assert (c.epochs, c.lr_start, c.lr_end, c.tau_start, c.tau_end) == (500, 5e-4, 5e-5, 1.0, 0.5)
        assert c.n_clusters == 10 and c.preset == name
    assert make_config("paper-audiomnist").lam == 0.5
    assert make_config("paper-us8k").lam == 2.0 and make_config("paper-us8k").window_seconds == 4.0
    assert make_config("paper-tau2019").lam == 2.0 and make_config("paper-tau2019").window_seconds == 10.0
    q = make_config("quick")
    assert q.data == "builtin:scenes?s=8" and q.n_clusters == 14 and q.epochs <= 100 and q.temporal_weight > 0
    assert all(make_config(n).arch == "paper" and make_config(n).n_mels is None for n in PRESETS if n != "device")


def test_device_preset_is_quick_on_the_streaming_network():
    d, q = make_config("device"), make_config("quick")
    assert (d.arch, d.n_mels, d.normalization, d.n_clusters) == ("device", 64, "global", 7)  # K = 7: see presets.py
    own = ("arch", "n_mels", "normalization", "n_clusters", "preset", "data", "epochs", "temporal_weight",
           "cluster_features", "neighbour_weight")
    # quick as it was when measured
    assert (d.data, d.epochs, d.temporal_weight, d.cluster_features, d.neighbour_weight) == ("builtin:scenes", 80, 0.0, "input", 0.0)
    assert {k: v for k, v in d.to_dict().items() if k not in own} == {k: v for k, v in q.to_dict().items() if k not in own}
    with pytest.raises(TrainError, match="--arch"):
        make_config("quick", arch="tiny")


def test_device_arch_trains_and_its_checkpoint_rebuilds_it(tmp_path):
    from catuvac.runtime.frontend import FrontEndConfig
    from catuvac.training.train import PreparedData

    fe = FrontEndConfig(n_mels=32, window_seconds=2.0)  # 65 frames: the device arch needs ≥ 62
    rng = np.random.default_rng(0)
    xs = {s: rng.random((n, 32, fe.window_frames)).astype(np.float32) for s, n in (("train", 8), ("val", 2), ("test", 3))}
    data = PreparedData.from_arrays(fe, xs, labels={s: np.arange(len(x)) % 2 for s, x in xs.items()}, source="rand")
    res = train(tiny_cfg(arch="device", n_clusters=2, epochs=1), tmp_path, data=data, progress=False, plots=False)
    ck = load_checkpoint(res.checkpoint)
    assert ck.model_config.arch == "device" and ck.model_config.streamable and ck.model_config.conv_channels != (16, 32, 64, 128)
    assert math.isfinite(res.history[-1]["loss"])
    x = torch.from_numpy(xs["test"][:, None])
    assert torch.allclose(ck.model.eval().logits(x), res.model.eval().logits(x), atol=1e-5)  # channels_last: other rounding


def test_window_level_inputs_give_h_the_level_and_the_checkpoint_keeps_it(tmp_path):
    import dataclasses

    from catuvac.runtime.frontend import NormStats
    from catuvac.training.model import level_feature
    from catuvac.training.train import PreparedData

    base = tiny_data()
    fe = dataclasses.replace(FE, normalization="window_level", stats=NormStats((0.0,) * 32, (1.0,) * 32, -3.0, 3.0))
    rng = np.random.default_rng(0)
    levels = {s: rng.random(base.n(s)) for s in ("train", "val", "test")}
    xs = {s: (0.7 * base.x[s][:, 0].numpy() + 0.3 * levels[s][:, None, None]).astype(np.float32) for s in levels}
    data = PreparedData.from_arrays(fe, xs, labels={s: np.arange(len(xs[s])) % 3 for s in levels}, label_names=["low", "mid", "high"])
    res = train(tiny_cfg(normalization="window_level", epochs=1), tmp_path, data=data, progress=False, plots=False)
    ck = load_checkpoint(res.checkpoint)
    model, mcfg, fe2 = ck.model, ck.model_config, ck.frontend
    assert mcfg.level_input == 0.3 and fe2.normalization == "window_level" and model.h_out.in_features == mcfg.gru_hidden + 1
    x = torch.from_numpy(xs["test"][:, None])
    # min(x) / a recovers ℓ exactly when the window map reaches 0 (the tiny windows come close)
    np.testing.assert_allclose(level_feature(x, 0.3)[:, 0].numpy() / 4 + 0.5, levels["test"], atol=0.05)
    with pytest.raises(TrainError, match="window_level"):  # a deviation from the paper
        tiny_cfg(normalization="window_level", paper_exact=True)
    # the logits follow the level: the same window at another level gets other logits
    with torch.no_grad():
        assert not torch.allclose(model.logits(x), model.logits(x + 0.1))


def test_overrides_and_bad_settings():
    c = make_config("paper-us8k", epochs=7, lam=1.5, tau_end=0.3, n_clusters=5, data=None)
    assert (c.epochs, c.lam, c.tau_end, c.n_clusters) == (7, 1.5, 0.3, 5)
    with pytest.raises(TrainError, match="unknown preset"):
        make_config("paper-imagenet")
    with pytest.raises(TrainError, match="--epochs"):
        make_config("quick", epochs=0)
    with pytest.raises(TrainError, match="--clusters"):
        make_config("quick", n_clusters=1)
    with pytest.raises(TrainError, match="--tau-schedule"):
        make_config("quick", tau_schedule="cosine")
    with pytest.raises(TrainError, match="--data"):
        train(make_config("paper-us8k", device="cpu"), "/nonexistent/never/written")
    with pytest.raises(TrainError, match="--folds must be 0"):
        make_config("quick", folds=1)
    with pytest.raises(TrainError, match=r"--fold must be in 0 … 2 for --folds 3"):
        make_config("quick", folds=3, fold=3)
    with pytest.raises(TrainError, match="--fold must be in 0 … 0"):
        make_config("quick", fold=1)  # a fold without cross-validation


def test_prepare_data_takes_the_configured_fold(tmp_path):
    from catuvac.training.datasets import load_dataset
    from catuvac.training.train import prepare_data, resolve_frontend

    spec = "builtin:scenes?n=4&s=4"
    for fold in range(2):
        cfg = make_config("quick", data=spec, folds=2, fold=fold, n_clusters=2)
        prepared = prepare_data(cfg, progress=False, cache_dir=tmp_path)
        fs = load_dataset(spec, frontend=resolve_frontend(cfg), cache_dir=tmp_path, progress=False, folds=2, fold=fold)
        assert prepared.n("test") == int((fs.split == "test").sum()) == 14  # 2 of the 4 clips of each of 7 classes
        assert prepared.n("train") + prepared.n("val") == 14


# --------------------------------------------------------------------------- a tiny run
def test_tiny_run_writes_every_output(tmp_path):
    out = tmp_path / "run"
    res = train(tiny_cfg(), out, data=tiny_data(), progress=False)
    for name in ("checkpoint.pt", "metrics.json", "train_log.csv", "loss_curves.png", "latent_space.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name

    ck = load_checkpoint(out / "checkpoint.pt", expect_type="cat_uvac")  # weights_only=True inside
    assert ck.epoch == 3
    assert ck.model_config == ModelConfig(n_clusters=3, n_features=32, n_frames=32)
    assert ck.frontend == FE
    assert ck.train_config["lam"] == 2.0 and ck.train_config["epochs"] == 3
    assert len(ck.raw["train_state"]["history"]) == 3
    for k, v in res.model.state_dict().items():
        assert torch.equal(v.cpu(), ck.model.state_dict()[k]), k

    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"cat_uvac", "kmeans", "labels"}
    assert set(metrics["cat_uvac"]["spaces"]) == {"q_y", "z_mean"}
    assert metrics["labels"]["accuracy"] == 1.0
    assert metrics["kmeans"]["accuracy"] == pytest.approx(1.0)  # the bands are trivially separable

    rows = list(csv.DictReader(open(out / "train_log.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert list(rows[0]) == [
        "epoch", "loss", "recon", "kl_z", "kl_y", "usage", "y_entropy", "temporal", "augment", "neighbour", "self_label", "val_loss",
        "clusters_used", "q_entropy", "marginal_entropy", "y_swap_gain", "tau", "lr", "lam", "seconds",
    ]
    assert rows[0]["usage"] == "" and rows[0]["temporal"] == "" and rows[0]["augment"] == "" and rows[0]["self_label"] == ""  # eq. 7 alone: no extra terms
    for r in rows:  # the cluster report: counts of 3 clusters, entropies within [0, log 3]
        assert 1 <= int(r["clusters_used"]) <= 3
        assert 0.0 <= float(r["q_entropy"]) <= float(r["marginal_entropy"]) + 1e-9 <= math.log(3) + 1e-9
        assert r["y_swap_gain"] != ""
    assert float(rows[0]["lr"]) == pytest.approx(5e-4) and float(rows[-1]["lr"]) == pytest.approx(5e-5)
    assert float(rows[0]["tau"]) == pytest.approx(1.0) and float(rows[-1]["tau"]) == pytest.approx(0.5)
    for r in rows:  # eq. 7: loss = recon + λ (kl_z + kl_y), averaged over the epoch's windows
        assert float(r["loss"]) == pytest.approx(float(r["recon"]) + 2.0 * (float(r["kl_z"]) + float(r["kl_y"])), rel=1e-5)
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])  # it learns


def test_same_seed_same_weights_and_other_seed_differs(tmp_path):
    a = train(tiny_cfg(epochs=1), tmp_path / "a", data=tiny_data(), progress=False, evaluate=False, plots=False)
    b = train(tiny_cfg(epochs=1), tmp_path / "b", data=tiny_data(), progress=False, evaluate=False, plots=False)
    c = train(tiny_cfg(epochs=1, seed=4), tmp_path / "c", data=tiny_data(), progress=False, evaluate=False, plots=False)
    sa, sb, sc = (r.model.state_dict() for r in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


# --------------------------------------------------------------------------- resume
class _Killed(RuntimeError):
    pass


def _kill_at(epoch: int, step: int) -> TrainHooks:
    def on_batch(e: int, s: int) -> None:
        if (e, s) == (epoch, step):
            raise _Killed(f"killed in epoch {e} step {s}")

    return TrainHooks(on_batch=on_batch)


def test_killed_run_resumes_to_bitwise_identical_weights(tmp_path):
    data = tiny_data()
    full = train(tiny_cfg(), tmp_path / "full", data=data, progress=False, evaluate=False, plots=False)

    out = tmp_path / "killed"
    with pytest.raises(_Killed):  # dies in the middle of the second epoch
        train(tiny_cfg(), out, data=data, progress=False, evaluate=False, plots=False, hooks=_kill_at(1, 1))
    ck = load_checkpoint(out / "checkpoint.pt")
    assert ck.epoch == 1  # the last complete epoch survived, atomically
    assert not list(out.glob("*.tmp"))

    resumed = train(tiny_cfg(), out, data=data, resume=True, progress=False, evaluate=False, plots=False)
    sf, sr = full.model.state_dict(), resumed.model.state_dict()
    assert sf.keys() == sr.keys()
    for k in sf:
        assert torch.equal(sf[k], sr[k]), k
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
    for a, b in zip(full.history, resumed.history):
        assert a["loss"] == b["loss"] and a["val_loss"] == b["val_loss"]
    # optimizer state matches as well
    of = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)["train_state"]["optimizer"]
    orr = torch.load(out / "checkpoint.pt", weights_only=True)["train_state"]["optimizer"]
    for pid, st in of["state"].items():
        assert torch.equal(st["exp_avg"], orr["state"][pid]["exp_avg"])
        assert torch.equal(st["exp_avg_sq"], orr["state"][pid]["exp_avg_sq"])


def test_resume_guards(tmp_path):
    data = tiny_data()
    out = tmp_path / "run"
    train(tiny_cfg(epochs=1), out, data=data, progress=False, evaluate=False, plots=False)
    with pytest.raises(TrainError, match="already exists.*--resume"):
        train(tiny_cfg(epochs=1), out, data=data, progress=False)
    with pytest.raises(TrainError, match=r"settings differ.*lam"):
        train(tiny_cfg(epochs=1, lam=0.5), out, data=data, resume=True, progress=False)
    with pytest.raises(TrainError, match="no checkpoint"):
        train(tiny_cfg(epochs=1), tmp_path / "empty", data=data, resume=True, progress=False)

    # a checkpoint from another model type
    other = tmp_path / "uvac"
    mcfg = ModelConfig(model_type="uvac", n_clusters=3, n_features=32, n_frames=32)
    save_checkpoint(other / "checkpoint.pt", build_model(mcfg), mcfg, FE, tiny_cfg(model_type="uvac").to_dict(), 1, {})
    with pytest.raises(TrainError, match="'uvac' checkpoint but a 'cat_uvac' one is needed"):
        train(tiny_cfg(), other, data=data, resume=True, progress=False)


# --------------------------------------------------------------------------- bad input
def test_more_clusters_than_training_windows(tmp_path):
    with pytest.raises(TrainError, match="--clusters 30 is larger than the 24 training windows"):
        train(tiny_cfg(n_clusters=30), tmp_path / "k", data=tiny_data(), progress=False)


def test_empty_training_split(tmp_path):
    data = tiny_data(n_train=0)
    with pytest.raises(TrainError, match="training split is empty"):
        train(tiny_cfg(), tmp_path / "e", data=data, progress=False)


def test_uvac_baseline_trains_through_the_same_loop(tmp_path):
    res = train(tiny_cfg(model_type="uvac", epochs=1), tmp_path / "u", data=tiny_data(), progress=False, plots=False)
    assert set(res.metrics) == {"uvac", "kmeans", "labels"}
    assert "kl_y" in res.history[0]  # UVAC's kl_c is logged in the kl_y column
    assert load_checkpoint(tmp_path / "u", expect_type="uvac").epoch == 1
