"""The classical baseline of section III-C: K-means on the normalized log-mel features.

Each window (F × T, normalized to [0, 1] exactly as the networks see it) is flattened to one
F·T vector; ``sklearn.cluster.KMeans`` (k-means++ init, Lloyd iterations) clusters them. The
geometry metrics are computed on the same flattened vectors (representation ``input``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .metrics import MetricsError, method_entry

__all__ = ["flatten_features", "kmeans_predict", "kmeans_baseline", "kmeans_fit_apply", "kmeans_train_baseline"]

INPUT_SPACE = "input"


def flatten_features(x_norm: ArrayLike) -> np.ndarray:
    """(N, F, T) or (N, 1, F, T) or (N, D) → (N, D) float32."""
    x = np.asarray(x_norm, dtype=np.float32)
    if x.ndim < 2:
        raise MetricsError(f"features must be (N, F, T) or (N, D), got shape {x.shape}")
    return x.reshape(x.shape[0], -1)


def kmeans_predict(x_norm: ArrayLike, n_clusters: int, seed: int = 0, n_init: int = 10) -> np.ndarray:
    """Cluster index per sample (N,) from K-means on the flattened features."""
    return kmeans_fit_apply(x_norm, x_norm, n_clusters, seed=seed, n_init=n_init)


def kmeans_fit_apply(x_fit: ArrayLike, x_apply: ArrayLike, n_clusters: int, seed: int = 0, n_init: int = 10) -> np.ndarray:
    """K-means fitted on ``x_fit``; the nearest centroid's index for each row of ``x_apply`` (N,)."""
    x = flatten_features(x_fit)
    if n_clusters < 2:
        raise MetricsError(f"K-means needs at least 2 clusters, got {n_clusters}")
    if x.shape[0] < n_clusters:
        raise MetricsError(
            f"K-means with {n_clusters} clusters needs at least {n_clusters} samples, got {x.shape[0]}: "
            "use a larger split or fewer clusters"
        )
    from sklearn.cluster import KMeans  # here, not at import: `--help` works without the [train] extra

    km = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed).fit(x.astype(np.float64))
    return km.predict(flatten_features(x_apply).astype(np.float64)).astype(np.int64)


def kmeans_baseline(
    x_norm: Any, labels: Any | None, n_clusters: int, seed: int = 0, n_init: int = 10
) -> dict[str, Any]:
    """K-means metrics entry (accuracy / NMI vs ``labels``, geometry on ``input``).

    ``n_init=10``: scikit-learn's classic default — ten k-means++ restarts, best inertia kept,
    so one unlucky start does not decide the baseline.
    """
    return kmeans_train_baseline(x_norm, x_norm, labels, n_clusters, seed=seed, n_init=n_init)


def kmeans_train_baseline(
    x_train: Any, x_test: Any, labels: Any | None, n_clusters: int, seed: int = 0, n_init: int = 10
) -> dict[str, Any]:
    """K-means fitted on the training split and applied to the test windows (nearest centroid).

    The trained models see only the training split and are scored on the test split; this row
    does the same. The ``kmeans`` row (the paper's baseline) is fitted on the test windows
    themselves, which on a small test split made of few recordings is an easier task: a handful
    of tight groups of clips cut from one recording each.
    """
    x = flatten_features(x_test)
    pred = kmeans_fit_apply(x_train, x, n_clusters, seed=seed, n_init=n_init)
    return method_entry(pred, labels, {INPUT_SPACE: x}, seed=seed)
