"""The cluster feature space: cepstral kinds, their invariances, and neighbour mining."""

import numpy as np
import pytest
import torch
from scipy.fft import idct

from catuvac.training.clusterspace import CLUSTER_FEATURES, N_CEPSTRA, cluster_features, lifter_weights, nearest_neighbours


def _envelope_windows(n=12, f=64, t=20, seed=0):
    """Windows built from a known cepstrum: a class-specific envelope (c1, c2) per frame."""
    rng = np.random.default_rng(seed)
    c = np.zeros((n, f, t))
    c[:, 0] = rng.normal(size=(n, 1)) * 3  # level: varies freely, must not matter
    lab = np.arange(n) % 2
    c[lab == 0, 1] = 1.0
    c[lab == 1, 2] = 1.0
    c[:, 40] = rng.normal(size=(n, 1)) * 2  # a "harmonic comb" at a high quefrency: must not matter
    return idct(c, type=2, axis=1, norm="ortho"), lab


def test_input_kind_is_the_flattened_window_as_kmeans_sees_it():
    x = np.random.default_rng(0).random((5, 1, 8, 6)).astype(np.float32)
    np.testing.assert_array_equal(cluster_features(x, None, "input"), x.reshape(5, -1))
    np.testing.assert_array_equal(cluster_features(torch.from_numpy(x), None, "input"), x.reshape(5, -1))


def test_cepstral_kinds_do_not_depend_on_the_chunking(monkeypatch):
    import catuvac.training.clusterspace as cs

    x, _ = _envelope_windows(n=12)
    x = x + 0.1 * np.random.default_rng(2).random(x.shape)
    mask = (np.random.default_rng(3).random((12, 20)) > 0.3).astype(np.float32)
    whole = {k: cluster_features(x, mask, k) for k in ("cepstral", "cepstral_stats")}
    monkeypatch.setattr(cs, "_CHUNK", 5)  # 5 + 5 + 2 windows
    for k, v in whole.items():
        np.testing.assert_allclose(cluster_features(torch.from_numpy(x), torch.from_numpy(mask), k), v, atol=1e-12)


def test_cepstral_kind_keeps_the_envelope_and_drops_level_and_harmonics():
    x, lab = _envelope_windows()
    f = cluster_features(x, None, "cepstral")
    assert f.shape == (12, (N_CEPSTRA - 1) * 20)
    # constant over time, so after the mean normalization nothing is left: the sequence view
    # sees only changes of the envelope, never the level (c0) or the comb (c40)
    assert np.abs(f).max() < 1e-9
    x[:, :, 10:] += idct(np.eye(64)[3], norm="ortho")[None, :, None]  # the envelope changes half-way
    g = cluster_features(x, None, "cepstral").reshape(12, N_CEPSTRA - 1, 20)
    w3 = 1 + 11 * np.sin(3 * np.pi / 22)  # HTK's lifter (L = 22) on c3 = index 2 (c1 first)
    assert g[:, 2, 10:] == pytest.approx(0.5 * w3) and g[:, 2, :10] == pytest.approx(-0.5 * w3)


def test_lifter_is_htks_sinusoid():
    w = lifter_weights()
    assert w.shape == (N_CEPSTRA - 1,)
    np.testing.assert_allclose(w[[0, 10]], [1 + 11 * np.sin(np.pi / 22), 12.0])  # c1, and c11 at the crest
    assert np.all(w >= 1.0)


def test_cepstral_stats_separates_envelopes_and_weights_frames_by_the_mask():
    x, lab = _envelope_windows()
    f = cluster_features(x, None, "cepstral_stats")
    assert f.shape == (12, 2 * (N_CEPSTRA - 1))
    mean = f[:, : N_CEPSTRA - 1]
    np.testing.assert_allclose(mean[lab == 0, 0], 1.0, atol=1e-9)
    np.testing.assert_allclose(mean[lab == 1, 1], 1.0, atol=1e-9)
    np.testing.assert_allclose(f[:, N_CEPSTRA - 1 :], 0.0, atol=1e-9)  # no change over time: std 0
    # masked frames (padding) do not count: garbage there leaves the statistics alone
    mask = np.ones((12, 20))
    mask[:, 15:] = 0
    y = x.copy()
    y[:, :, 15:] = np.random.default_rng(1).random((12, 64, 5))
    np.testing.assert_allclose(cluster_features(y, mask, "cepstral_stats"), f, atol=1e-9)


def test_unknown_kind_is_refused():
    assert CLUSTER_FEATURES == ("input", "cepstral", "cepstral_stats")
    with pytest.raises(ValueError, match="cluster features must be one of"):
        cluster_features(np.zeros((2, 4, 4)), None, "mfcc")


def test_nearest_neighbours_exclude_self_and_come_nearest_first():
    pts = np.array([[0.0], [1.0], [3.0], [7.0], [7.0]])
    nn = nearest_neighbours(pts, 2)
    assert nn.shape == (5, 2) and nn.dtype == np.int64
    assert nn[0].tolist() == [1, 2] and nn[2].tolist() == [1, 0]
    assert nn[3].tolist() == [4, 2] and nn[4].tolist() == [3, 2]  # duplicates: the twin, never itself
    assert nearest_neighbours(pts[:2], 10).shape == (2, 1)  # k capped at N − 1
    with pytest.raises(ValueError, match="at least 2"):
        nearest_neighbours(pts[:1], 3)
