"""K-means and spectral warm starts of h, and the bf16 training option."""


import numpy as np
import pytest
import torch

from catuvac.training.model import CatUVAC, ModelConfig
from catuvac.training.train import TrainError, train
from catuvac.training.warmstart import kmeans_pseudo_labels, pseudo_labels, spectral_pseudo_labels, warm_start_h
from tests.helpers.tiny_training import tiny_cfg, tiny_data


def _blobs(n=30, seed=0):
    rng = np.random.default_rng(seed)
    lab = np.arange(n) % 3
    x = 0.2 * rng.random((n, 1, 32, 32))
    for i, c in enumerate(lab):
        x[i, 0, 10 * c : 10 * c + 8] += 0.7
    return torch.from_numpy(np.clip(x, 0, 1).astype(np.float32)), lab


def test_pseudo_labels_recover_separated_blobs():
    x, lab = _blobs()
    p = kmeans_pseudo_labels(x.reshape(len(x), -1).numpy(), 3, seed=0).numpy()
    # a perfect clustering up to renaming: every class maps to exactly one pseudo-label
    assert all(len(set(p[lab == c])) == 1 for c in range(3)) and len(set(p)) == 3


def _rings(n=200, seed=0):
    """Two concentric noisy rings: neighbourhoods follow each ring, K-means' halves cut both."""
    rng = np.random.default_rng(seed)
    lab = np.arange(n) % 2
    ang = rng.uniform(0, 2 * np.pi, n)
    r = np.where(lab == 0, 1.0, 3.0) + 0.1 * rng.standard_normal(n)
    return np.stack([r * np.cos(ang), r * np.sin(ang)], axis=1), lab


def _agreement(lab, p):
    return max(np.mean(p == lab), np.mean(p != lab))


def test_spectral_pseudo_labels_follow_neighbourhoods_where_kmeans_cannot():
    x, lab = _rings()
    spectral = spectral_pseudo_labels(x, 2).numpy()
    kmeans = kmeans_pseudo_labels(x, 2, seed=0).numpy()
    assert _agreement(lab, spectral) == 1.0
    assert _agreement(lab, kmeans) < 0.75
    # deterministic: no seed, no restarts
    assert np.array_equal(spectral, spectral_pseudo_labels(x, 2).numpy())
    assert np.array_equal(pseudo_labels(x, 2, seed=5, method="spectral").numpy(), spectral)


def test_pseudo_labels_reject_an_unknown_method():
    with pytest.raises(ValueError, match="kmeans, spectral"):
        pseudo_labels(np.zeros((4, 2)), 2, seed=0, method="dbscan")


def test_trainer_runs_with_spectral_init(tmp_path):
    cfg = tiny_cfg(h_init="spectral", h_init_epochs=1, epochs=1)
    res = train(cfg, tmp_path / "run", data=tiny_data(), progress=False, plots=False, evaluate=False)
    from catuvac.training.checkpoint import load_checkpoint

    assert load_checkpoint(res.checkpoint).train_config["h_init"] == "spectral"


def test_warm_start_makes_h_follow_kmeans():
    torch.manual_seed(0)
    x, lab = _blobs()
    m = CatUVAC(ModelConfig(n_clusters=3, n_features=32, n_frames=32))
    rep = warm_start_h(m, x, 3, seed=0, epochs=8, batch_size=8)
    assert rep["pseudo_label_clusters"] == 3
    assert rep["fit_to_pseudo_labels"] >= 0.9
    with torch.no_grad():
        m.eval()
        pred = m.logits(x).argmax(1).numpy()
    assert len(set(pred)) == 3
    # only h moved: f and g keep their initial weights
    torch.manual_seed(0)
    fresh = CatUVAC(ModelConfig(n_clusters=3, n_features=32, n_frames=32))
    for (n, p), (_, q) in zip(m.named_parameters(), fresh.named_parameters()):
        if n.startswith(("f_", "g.")):
            assert torch.equal(p, q), n


def test_kmeans_init_is_ignored_for_uvac(tmp_path):
    cfg = tiny_cfg(h_init="kmeans", model_type="uvac", epochs=1)
    res = train(cfg, tmp_path / "uvac", data=tiny_data(), progress=False, plots=False, evaluate=False)
    assert res.model_config.model_type == "uvac"


def test_trainer_runs_with_kmeans_init_and_bf16(tmp_path):
    cfg = tiny_cfg(h_init="kmeans", h_init_epochs=2, precision="bf16", epochs=1)
    res = train(cfg, tmp_path / "run", data=tiny_data(), progress=False, plots=False)
    assert res.checkpoint.exists()
    assert np.isfinite(res.history[-1]["loss"])
    assert res.model_config.n_clusters == 3


def test_bad_options_are_clear():
    with pytest.raises(TrainError, match="h-init"):
        tiny_cfg(h_init="magic")
    with pytest.raises(TrainError, match="precision"):
        tiny_cfg(precision="fp8")
