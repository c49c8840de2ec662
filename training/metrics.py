"""Clustering metrics of section III-B and the metrics-JSON shape shared by every command.

Metrics (all from scikit-learn / scipy):

- **accuracy** — unsupervised accuracy: the clusters are matched one-to-one to the classes by the
  Hungarian algorithm (``scipy.optimize.linear_sum_assignment``) on the contingency matrix,
  maximizing the number of agreeing samples; accuracy = matched samples / N, a fraction in
  [0, 1]. The matrix may be rectangular (K clusters ≠ C classes): with K > C the surplus
  clusters stay unmatched and their samples count as errors; with K < C the surplus classes
  do. (The paper only reports accuracy when K = C; the table prints "–" otherwise.)
- **nmi** — ``sklearn.metrics.normalized_mutual_info_score`` (arithmetic normalization, the
  scikit-learn default).
- **silhouette**, **dbi** (Davies-Bouldin), **chi** (Calinski-Harabasz) — computed on a named
  *representation* (space) of the data with the predicted clusters as labels: for Cat. UVAC
  ``q_y`` (q(y|x)) and ``z_mean`` (mean of q(z|x,y)), for UVAC ``z_mean``, for K-means the
  (flattened, normalized) ``input`` features. The "None (labels)" row uses the true labels
  as clusters on the same spaces.

Silhouette is O(N²·D): up to :data:`SILHOUETTE_FULL_MAX` samples it uses every sample,
beyond that a seeded random subset of that size (``sample_size`` / ``random_state`` of
scikit-learn) — a standard error well below the 0.01 the table prints. DBI and CHI are
O(N·D) and always use every sample.

All three geometry metrics need 2 ≤ (distinct clusters) ≤ N − 1. When that does not hold (a
model that collapsed onto one cluster, say) the values are ``None`` (JSON ``null``) and the
entry carries a ``"note"`` saying why, rather than crashing a long run.

Metrics JSON shape (``catuvac-eval``, ``catuvac-table``)::

    {"<method>": {"accuracy": float|null, "nmi": float|null, "n_clusters_used": int,
                  "smallest_cluster_share": float,
                  "spaces": {"<representation>": {"silhouette": float|null,
                                                  "dbi": float|null, "chi": float|null}}}}

Methods: ``cat_uvac``, ``uvac``, ``kmeans``, ``labels``. ``accuracy`` / ``nmi`` are ``null``
when the data set has no labels. ``n_clusters_used`` is the number of distinct clusters the
method actually assigned (K or fewer — a sign of collapse); ``smallest_cluster_share`` the
fraction of the windows in the smallest of those (a cluster holding a handful of windows is
used in name only; issue 12 asks for every cluster to hold ≥ 2 % of the test windows).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment

from catuvac.runtime.errors import CatuvacError
from catuvac.runtime.fileio import atomic_write_json

__all__ = [
    "MetricsError",
    "SILHOUETTE_FULL_MAX",
    "GEOMETRY_KEYS",
    "contingency",
    "unsupervised_accuracy",
    "cluster_purity",
    "nmi",
    "geometry",
    "method_entry",
    "labels_row",
    "to_jsonable",
    "write_json_atomic",
    "validate_metrics",
]

SILHOUETTE_FULL_MAX = 5000  # exact silhouette up to here; above, a seeded subset this size (O(N²) cost)
GEOMETRY_KEYS = ("silhouette", "dbi", "chi")


class MetricsError(CatuvacError, ValueError):
    """Inputs that cannot be scored (shape mismatch, empty); the message says what was wrong."""


def _as_labels(a: Any, name: str) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 1:
        raise MetricsError(f"{name} must be a 1-D array of integer labels, got shape {arr.shape}")
    if arr.size == 0:
        raise MetricsError(f"{name} is empty: nothing to score")
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.equal(np.mod(arr, 1), 0)):
            arr = arr.astype(np.int64)
        else:
            raise MetricsError(f"{name} must hold integer labels, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _pair(labels: Any, pred: Any) -> tuple[np.ndarray, np.ndarray]:
    y = _as_labels(labels, "labels")
    p = _as_labels(pred, "pred")
    if y.shape != p.shape:
        raise MetricsError(f"labels ({y.shape[0]}) and pred ({p.shape[0]}) differ in length")
    return y, p


def contingency(labels: ArrayLike, pred: ArrayLike) -> np.ndarray:
    """(n_clusters, n_classes) counts over the distinct values present (sorted)."""
    y, p = _pair(labels, pred)
    _, yi = np.unique(y, return_inverse=True)
    _, pi = np.unique(p, return_inverse=True)
    m = np.zeros((pi.max() + 1, yi.max() + 1), dtype=np.int64)
    np.add.at(m, (pi, yi), 1)
    return m


def unsupervised_accuracy(labels: ArrayLike, pred: ArrayLike) -> float:
    """Best one-to-one cluster→class matching (Hungarian), as a fraction in [0, 1]."""
    m = contingency(labels, pred)
    rows, cols = linear_sum_assignment(m, maximize=True)
    return float(m[rows, cols].sum() / m.sum())


def nmi(labels: ArrayLike, pred: ArrayLike) -> float:
    """Normalized mutual information (scikit-learn, arithmetic mean normalization)."""
    from sklearn.metrics import normalized_mutual_info_score

    y, p = _pair(labels, pred)
    return float(normalized_mutual_info_score(y, p))


def _space(space: Any, n: int, name: str = "space") -> np.ndarray:
    s = np.asarray(space, dtype=np.float64)
    if s.ndim == 1:
        s = s[:, None]
    elif s.ndim > 2:
        s = s.reshape(s.shape[0], -1)  # (N, F, T) features → (N, F·T)
    if s.shape[0] != n:
        raise MetricsError(f"{name} has {s.shape[0]} rows but there are {n} cluster assignments")
    if not np.all(np.isfinite(s)):
        raise MetricsError(f"{name} contains NaN or infinite values: the model or features are broken")
    return s


def geometry(space: ArrayLike, pred: ArrayLike, seed: int = 0, silhouette_max: int = SILHOUETTE_FULL_MAX) -> dict[str, Any]:
    """Silhouette, Davies-Bouldin and Calinski-Harabasz of ``pred`` on ``space`` (N, D).

    Returns ``{"silhouette", "dbi", "chi"}`` as floats, or ``None`` values plus a ``"note"``
    when fewer than 2 (or more than N − 1) distinct clusters are present.
    """
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

    p = _as_labels(pred, "pred")
    s = _space(space, p.shape[0])
    k = int(np.unique(p).size)
    n = p.shape[0]
    if k < 2 or k > n - 1:
        return {
            "silhouette": None,
            "dbi": None,
            "chi": None,
            "note": f"{k} distinct cluster(s) in {n} samples: the geometry metrics need 2 ≤ clusters ≤ N−1",
        }
    sample = silhouette_max if n > silhouette_max else None
    try:
        sil = float(silhouette_score(s, p, sample_size=sample, random_state=seed))
    except ValueError:  # the random subset happened to hold one cluster only
        sil = None
    return {
        "silhouette": sil,
        "dbi": float(davies_bouldin_score(s, p)),
        "chi": float(calinski_harabasz_score(s, p)),
    }


def cluster_purity(labels: ArrayLike, pred: ArrayLike) -> float:
    """Many-to-one accuracy: each cluster votes for its most frequent label (several clusters
    may map to one label — the right score when K exceeds the number of classes and the
    clusters are pooled per profile afterwards). 1.0 for any over-segmentation of the labels."""
    y, p = _as_labels(labels, "labels"), _as_labels(pred, "pred")
    if y.shape != p.shape or y.size == 0:
        raise MetricsError(f"labels and pred must be non-empty and of one length, got {y.shape} and {p.shape}")
    hits = sum(int(np.bincount(y[p == c]).max()) for c in np.unique(p))
    return hits / y.size


def method_entry(
    pred: Any, labels: Any | None, spaces: Mapping[str, Any], seed: int = 0
) -> dict[str, Any]:
    """One method's metrics: accuracy / NMI against ``labels`` (``None`` if unlabeled) and
    the geometry of ``pred`` on each named representation in ``spaces``."""
    p = _as_labels(pred, "pred")
    if labels is not None:
        acc: float | None = unsupervised_accuracy(labels, p)
        mi: float | None = nmi(labels, p)
    else:
        acc = mi = None
    _, counts = np.unique(p, return_counts=True)
    return {
        "accuracy": acc,
        "nmi": mi,
        "n_clusters_used": int(counts.size),
        "smallest_cluster_share": float(counts.min() / p.size),
        "spaces": {name: geometry(sp, p, seed=seed) for name, sp in spaces.items()},
    }


def labels_row(labels: ArrayLike, spaces: Mapping[str, ArrayLike], seed: int = 0) -> dict[str, Any]:
    """The "None (labels)" row: the true labels taken as the clusters (accuracy = NMI = 1)."""
    y = _as_labels(labels, "labels")
    e = method_entry(y, None, spaces, seed=seed)
    e["accuracy"] = 1.0
    e["nmi"] = 1.0
    return e


# --------------------------------------------------------------------------- JSON
def to_jsonable(obj: Any) -> Any:
    """Plain-Python copy with NaN/inf → ``None`` and numpy scalars/arrays → Python values."""
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v) for v in obj.tolist()]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json_atomic(path: "str | os.PathLike[str]", obj: Any) -> Path:
    """Write strictly valid JSON (no NaN) via a temporary file + ``os.replace``."""
    return atomic_write_json(path, to_jsonable(obj), allow_nan=False)


def validate_metrics(metrics: Mapping[str, Any]) -> None:
    """Check the shared metrics-JSON shape; raise :class:`MetricsError` naming the bad field."""
    for method, e in metrics.items():
        if not isinstance(e, Mapping):
            raise MetricsError(f"{method}: entry must be an object")
        for key in ("accuracy", "nmi", "spaces"):
            if key not in e:
                raise MetricsError(f"{method}: missing {key!r}")
        for key in ("accuracy", "nmi"):
            v = e[key]
            if v is not None and not (isinstance(v, (int, float)) and 0.0 <= float(v) <= 1.0):
                raise MetricsError(f"{method}.{key} = {v!r} is not a fraction in [0, 1] or null")
        if not isinstance(e["spaces"], Mapping) or not e["spaces"]:
            raise MetricsError(f"{method}.spaces must be a non-empty object")
        for rep, g in e["spaces"].items():
            for key in GEOMETRY_KEYS:
                if key not in g:
                    raise MetricsError(f"{method}.spaces.{rep}: missing {key!r}")
                v = g[key]
                if v is not None and not (isinstance(v, (int, float)) and math.isfinite(float(v))):
                    raise MetricsError(f"{method}.spaces.{rep}.{key} = {v!r} is not a finite number or null")
