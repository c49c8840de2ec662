"""The feature space where training looks for structure before h exists: the K-means warm start
of h (:mod:`catuvac.training.warmstart`) and the nearest neighbours of the ``neighbour`` term
(:mod:`catuvac.training.objectives`). The network's input is never changed by it.

Kinds (``TrainConfig.cluster_features``):

- ``input``: the flattened normalized window, as the K-means baseline sees it (section III-C);
- ``cepstral``: per frame, the DCT over frequency of the normalized window, coefficients
  1 … 19 (the spectral envelope: formants, timbre), each minus its mean over the window
  (cepstral mean normalization) and liftered (:data:`CEPSTRAL_LIFTER`), flattened in time
  order — for words, whose identity is a sequence of envelopes;
- ``cepstral_stats``: the same 19 coefficients summarized over the (active) frames by their mean
  and standard deviation — for scenes, which are textures rather than sequences.

Why (measured 2026-12-07 on the training splits of the project's corpora; agreement = share of
each window's 10 nearest neighbours with its label, K-means accuracy / NMI with K = classes):

    real digits (1,920 windows)     input 0.33, K-means 0.17 / 0.07
                                    cepstral 0.85, K-means 0.47 / 0.43
    real scenes (401 windows)       input 0.66, K-means 0.54 / 0.53
                                    cepstral_stats 0.86, K-means 0.59 / 0.56
    built-in scenes (448 windows)   input 0.64, K-means 0.65 / 0.59
                                    cepstral_stats 0.93, K-means 0.70 / 0.74

On the AudioMNIST spectrogram (linear frequency, 0–4 kHz) the harmonics of the voice's pitch
dominate distances between flattened windows, so K-means on the input finds talkers and pitches,
not digits, and a warm start from those clusters teaches h the wrong partition. Coefficient 0
(the frame's level) and the high quefrencies (the harmonic comb) are what the cepstral kinds
drop; the mean normalization removes a talker's fixed spectral tilt.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["CLUSTER_FEATURES", "N_CEPSTRA", "CEPSTRAL_LIFTER", "cluster_features", "lifter_weights", "nearest_neighbours"]

CLUSTER_FEATURES = ("input", "cepstral", "cepstral_stats")
# c1 … c19: the envelope of a 128-bin spectrum; coefficient 20 and above follow the pitch
# harmonics (measured: 13 / 20 / 30 coefficients give neighbour agreement 0.84 / 0.85 / 0.85 on
# the digits, K-means 0.42 / 0.47 / 0.43 — 20 is the middle of a flat optimum).
N_CEPSTRA = 20


# The sequence kind's lifter: HTK's sinusoidal lifter (CEPLIFTER = 22), w_n = 1 + (L/2)·sin(πn/L).
# The DCT's higher coefficients (the finer envelope detail that tells one phoneme from the next)
# are small beside c1–c3 (overall tilt, the talker's voice), so unweighted distances are mostly
# about the talker; the lifter evens their weight out, as MFCC front-ends have long done. Measured
# on the real digits' training split (spectral clustering of the 10-neighbour graph, K = 10,
# accuracy / NMI): none 0.672 / 0.672, √n 0.807 / 0.770, n^0.75 0.767 / 0.756, n 0.644 / 0.686,
# HTK L = 22 0.812 / 0.770; neighbour agreement 0.85 → 0.86.
CEPSTRAL_LIFTER = 22


def _cepstra(x: np.ndarray) -> np.ndarray:
    """(N, F, T) normalized windows → (N, N_CEPSTRA − 1, T): DCT-II over frequency, c1 … c19."""
    from scipy.fft import dct

    return dct(x, type=2, axis=1, norm="ortho")[:, 1:N_CEPSTRA]


def lifter_weights(n_cepstra: int = N_CEPSTRA, lifter: int = CEPSTRAL_LIFTER) -> np.ndarray:
    """(n_cepstra − 1,) weights of c1 … c_{n−1}: 1 + (L/2)·sin(πn/L)."""
    n = np.arange(1, n_cepstra, dtype=np.float64)
    return 1.0 + 0.5 * lifter * np.sin(np.pi * n / lifter)


def _numpy(a: Any, dtype: Any = np.float64) -> np.ndarray:
    """A torch tensor or array-like → numpy (no torch import: the CLI's --help stays light)."""
    return np.asarray(a.detach().cpu().numpy() if hasattr(a, "detach") else a, dtype=dtype)


# windows per chunk of the cepstral kinds: float64 temporaries stay ≈ 100 MB for 4-s windows
_CHUNK = 512


def cluster_features(x: Any, mask: Any, kind: str) -> np.ndarray:
    """(N, 1, F, T) or (N, F, T) normalized windows (+ (N, T) activity mask or None) → (N, D).

    Arrays or torch tensors. ``input`` keeps the windows' float32 (no copy for a numpy input);
    the cepstral kinds are computed in float64, a chunk of windows at a time."""
    if kind not in CLUSTER_FEATURES:
        raise ValueError(f"cluster features must be one of {', '.join(CLUSTER_FEATURES)}, got {kind!r}")
    n = int(x.shape[0])
    if kind == "input":
        return _numpy(x, np.float32).reshape(n, -1)
    m = None if mask is None else _numpy(mask)
    parts = [_cepstral_chunk(_numpy(x[i : i + _CHUNK]), None if m is None else m[i : i + _CHUNK], kind)
             for i in range(0, n, _CHUNK)]
    return np.concatenate(parts) if parts else np.zeros((0, 0))


def _cepstral_chunk(a: np.ndarray, m: np.ndarray | None, kind: str) -> np.ndarray:
    a = a.reshape(a.shape[0], a.shape[-2], a.shape[-1])
    c = _cepstra(a)
    if kind == "cepstral":
        c = (c - c.mean(axis=2, keepdims=True)) * lifter_weights()[None, :, None]
        return c.reshape(len(c), -1)
    m = np.ones(a.shape[::2], np.float64) if m is None else m
    w = m / np.maximum(m.sum(axis=1, keepdims=True), 1.0)  # frame weights (a window without activity: zeros)
    mean = np.einsum("nct,nt->nc", c, w)
    var = np.einsum("nct,nt->nc", (c - mean[:, :, None]) ** 2, w)
    return np.concatenate([mean, np.sqrt(var)], axis=1)


def nearest_neighbours(features: np.ndarray, k: int) -> np.ndarray:
    """(N, k) int64: each row's k nearest other rows (Euclidean), nearest first."""
    from sklearn.neighbors import NearestNeighbors

    n = len(features)
    if n < 2:
        raise ValueError(f"nearest neighbours need at least 2 windows, got {n}")
    k = min(k, n - 1)
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(features).kneighbors(features)
    # each point is normally its own first neighbour; with duplicates it may not be: drop self wherever it is
    out = np.empty((n, k), np.int64)
    for i, row in enumerate(idx):
        row = row[row != i]
        out[i] = row[:k]
    return out
