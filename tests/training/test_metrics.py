"""Pins for the clustering metrics (section III-B) and the metrics-JSON helpers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, normalized_mutual_info_score, silhouette_score

from catuvac.training.baselines import kmeans_baseline, kmeans_fit_apply, kmeans_predict, kmeans_train_baseline
from catuvac.training.metrics import (
    MetricsError,
    contingency,
    geometry,
    labels_row,
    method_entry,
    nmi,
    to_jsonable,
    unsupervised_accuracy,
    validate_metrics,
    write_json_atomic,
)


def test_accuracy_of_a_permuted_labelling_is_one():
    y = np.array([0, 0, 1, 1, 2, 2, 3])
    perm = np.array([2, 0, 3, 1])
    assert unsupervised_accuracy(y, perm[y]) == 1.0
    assert nmi(y, perm[y]) == pytest.approx(1.0, abs=1e-12)


def test_accuracy_known_contingency():
    y = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    p = np.array([0, 0, 1, 1, 1, 1, 2, 2, 0])
    # pred 0 -> {0: 2, 2: 1}; pred 1 -> {0: 1, 1: 3}; pred 2 -> {2: 2}: best match 2 + 3 + 2 = 7
    np.testing.assert_array_equal(contingency(y, p), [[2, 0, 1], [1, 3, 0], [0, 0, 2]])
    assert unsupervised_accuracy(y, p) == pytest.approx(7 / 9, abs=1e-12)


def test_accuracy_rectangular_more_clusters_than_classes():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    p = np.array([0, 0, 1, 1, 2, 2, 2, 2])  # surplus cluster stays unmatched: 2 + 4 correct
    assert unsupervised_accuracy(y, p) == pytest.approx(0.75, abs=1e-12)


def test_accuracy_rectangular_fewer_clusters_than_classes():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([0, 0, 0, 0, 1, 1])  # one class has no cluster left: 2 + 2 correct
    assert unsupervised_accuracy(y, p) == pytest.approx(4 / 6, abs=1e-12)


def test_accuracy_label_values_need_not_be_contiguous():
    y = np.array([10, 10, 42, 42])
    p = np.array([7, 7, 3, 3])
    assert unsupervised_accuracy(y, p) == 1.0


def test_nmi_matches_sklearn_and_is_zero_for_one_cluster():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 200)
    p = rng.integers(0, 3, 200)
    assert nmi(y, p) == pytest.approx(normalized_mutual_info_score(y, p), abs=1e-12)
    assert nmi([0, 0, 1, 1], [0, 0, 0, 0]) == pytest.approx(0.0, abs=1e-12)


def test_metric_input_errors_are_clear():
    with pytest.raises(MetricsError, match="differ in length"):
        unsupervised_accuracy([0, 1], [0, 1, 1])
    with pytest.raises(MetricsError, match="empty"):
        unsupervised_accuracy([], [])
    with pytest.raises(MetricsError, match="integer"):
        nmi([0.5, 1.0], [0, 1])


def test_geometry_hand_computed_1d():
    space = np.array([[0.0], [1.0], [10.0], [11.0]])
    pred = np.array([0, 0, 1, 1])
    g = geometry(space, pred)
    # silhouette: ((1 - 1/10.5) + (1 - 1/9.5)) / 2; DBI: (0.5 + 0.5) / 10; CHI: (100 / 1) / (1 / 2)
    assert g["silhouette"] == pytest.approx(((1 - 1 / 10.5) + (1 - 1 / 9.5)) / 2, abs=1e-9)
    assert g["dbi"] == pytest.approx(0.1, abs=1e-9)
    assert g["chi"] == pytest.approx(200.0, abs=1e-6)


def test_geometry_matches_sklearn_and_flattens():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(120, 3, 4))
    p = rng.integers(0, 3, 120)
    flat = x.reshape(120, -1)
    g = geometry(x, p)
    assert g["silhouette"] == pytest.approx(silhouette_score(flat, p), abs=1e-12)
    assert g["dbi"] == pytest.approx(davies_bouldin_score(flat, p), abs=1e-12)
    assert g["chi"] == pytest.approx(calinski_harabasz_score(flat, p), abs=1e-9)


def test_geometry_silhouette_subsample_is_seeded():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(300, 2))
    p = rng.integers(0, 2, 300)
    g = geometry(x, p, seed=5, silhouette_max=100)
    assert g["silhouette"] == pytest.approx(silhouette_score(x, p, sample_size=100, random_state=5), abs=1e-12)
    assert g["silhouette"] != pytest.approx(silhouette_score(x, p), abs=1e-6)
    assert g["dbi"] == pytest.approx(davies_bouldin_score(x, p), abs=1e-12)  # always on every sample


def test_geometry_collapsed_clustering_gives_nulls_with_note():
    g = geometry(np.random.default_rng(0).normal(size=(10, 2)), np.zeros(10, dtype=int))
    assert g["silhouette"] is None and g["dbi"] is None and g["chi"] is None
    assert "1 distinct cluster" in g["note"]
    with pytest.raises(MetricsError, match="rows"):
        geometry(np.zeros((5, 2)), np.array([0, 1, 0, 1]))
    with pytest.raises(MetricsError, match="NaN"):
        geometry(np.array([[0.0], [np.nan], [1.0]]), np.array([0, 1, 1]))


def test_method_entry_and_labels_row():
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 20)
    space = np.concatenate([rng.normal(0, 1, (20, 2)), rng.normal(8, 1, (20, 2))])
    p = y.copy()
    p[:2] = 1
    e = method_entry(p, y, {"z_mean": space})
    assert e["accuracy"] == pytest.approx(38 / 40, abs=1e-12)
    assert e["nmi"] == pytest.approx(normalized_mutual_info_score(y, p), abs=1e-12)
    assert e["n_clusters_used"] == 2
    assert e["smallest_cluster_share"] == pytest.approx(18 / 40)  # cluster 0 lost two windows to cluster 1
    assert e["spaces"]["z_mean"]["silhouette"] == pytest.approx(silhouette_score(space, p), abs=1e-12)
    u = method_entry(p, None, {"z_mean": space})
    assert u["accuracy"] is None and u["nmi"] is None
    lr = labels_row(y, {"z_mean": space, "input": space * 2})
    assert lr["accuracy"] == 1.0 and lr["nmi"] == 1.0
    assert set(lr["spaces"]) == {"z_mean", "input"}
    assert lr["spaces"]["input"]["dbi"] == pytest.approx(davies_bouldin_score(space * 2, y), abs=1e-12)
    validate_metrics({"uvac": e, "labels": lr, "x": u})


def test_json_helpers(tmp_path):
    obj = {"m": {"a": float("nan"), "b": np.float32(0.5), "c": np.int64(3), "d": [np.inf, 1.0]}}
    assert to_jsonable(obj) == {"m": {"a": None, "b": 0.5, "c": 3, "d": [None, 1.0]}}
    p = write_json_atomic(tmp_path / "sub" / "m.json", obj)
    assert json.loads(p.read_text()) == to_jsonable(obj)
    assert list((tmp_path / "sub").iterdir()) == [p]  # no temporary left behind


def test_validate_metrics_rejects_bad_shapes():
    good = {"accuracy": 0.5, "nmi": 0.1, "spaces": {"input": {"silhouette": 0.1, "dbi": 1.0, "chi": 2.0}}}
    validate_metrics({"kmeans": good})
    with pytest.raises(MetricsError, match="accuracy"):
        validate_metrics({"kmeans": {**good, "accuracy": 1.5}})
    with pytest.raises(MetricsError, match="dbi"):
        validate_metrics({"kmeans": {**good, "spaces": {"input": {"silhouette": 0.1, "chi": 2.0}}}})


def test_kmeans_baseline_on_separated_blobs():
    rng = np.random.default_rng(4)
    y = np.repeat([0, 1, 2], 15)
    centers = rng.uniform(0, 1, (3, 4, 5))
    x = centers[y] + rng.normal(0, 0.02, (45, 4, 5))
    e = kmeans_baseline(x, y, n_clusters=3, seed=0)
    assert e["accuracy"] == 1.0
    assert e["nmi"] == pytest.approx(1.0, abs=1e-12)
    assert set(e["spaces"]) == {"input"}
    assert e["spaces"]["input"]["silhouette"] == pytest.approx(silhouette_score(x.reshape(45, -1), y), abs=1e-9)
    np.testing.assert_array_equal(kmeans_predict(x, 3, seed=0), kmeans_predict(x, 3, seed=0))
    with pytest.raises(MetricsError, match="at least 3 samples"):
        kmeans_predict(x[:2], 3)
    assert math.isfinite(e["spaces"]["input"]["chi"])


def test_kmeans_fitted_on_train_assigns_test_to_the_nearest_train_centroid():
    # train: two tight groups at 0 and 10; test: four points all nearer 0 than 10
    x_train = np.array([[-0.1], [0.0], [0.1], [9.9], [10.0], [10.1]])
    x_test = np.array([[1.0], [2.0], [3.0], [4.0]])
    y_test = np.array([0, 0, 1, 1])
    pred = kmeans_fit_apply(x_train, x_test, 2, seed=0)
    assert len(set(pred.tolist())) == 1  # both land in the train cluster at 0
    near0 = kmeans_fit_apply(x_train, np.array([[0.0]]), 2, seed=0)[0]
    assert pred[0] == near0
    # fitted on the test windows themselves (the paper's baseline) K-means splits them
    assert kmeans_baseline(x_test, y_test, 2, seed=0)["accuracy"] == 1.0
    e = kmeans_train_baseline(x_train, x_test, y_test, 2, seed=0)
    assert e["accuracy"] == 0.5 and e["n_clusters_used"] == 1
    np.testing.assert_array_equal(kmeans_predict(x_test, 2, seed=0), kmeans_fit_apply(x_test, x_test, 2, seed=0))


# --------------------------------------------------------------------------- the one metrics builder
def test_build_metrics_one_rule_for_kmeans_and_labels():
    """train / eval / table share build_metrics: K-means only when N > K; labels row only when labelled."""
    from catuvac.training.evaluate import build_metrics

    rng = np.random.default_rng(0)
    k = 3
    for n, expect_kmeans in ((k, False), (k + 5, True)):
        x = rng.random((n, 4, 5)).astype(np.float32)
        pred = np.arange(n) % k
        labels = (np.arange(n) + 1) % k
        m = build_metrics({"cat_uvac": (pred, {"q_y": rng.random((n, k))})}, x, labels, k, seed=0)
        assert ("kmeans" in m) is expect_kmeans, n
        assert list(m)[0] == "labels" and set(m["labels"]["spaces"]) == {"input", "q_y"}
        assert m["cat_uvac"]["accuracy"] == pytest.approx(1.0)  # pred is a relabelling of labels
    m = build_metrics({"cat_uvac": (pred, {"q_y": rng.random((n, k))})}, x, None, k, seed=0)
    assert "labels" not in m and m["cat_uvac"]["accuracy"] is None
    two = {"uvac": (pred, {"z_mean": rng.random((n, 2))}), "cat_uvac": (pred, {"q_y": rng.random((n, k))})}
    m = build_metrics(two, x, labels, k, seed=0, kmeans=False)
    assert set(m["labels"]["spaces"]) == {"input", "uvac:z_mean", "cat_uvac:q_y"} and "kmeans" not in m


def test_split_of_checkpoint():
    from catuvac.training.datasets import split_args

    assert split_args({"split_seed": 7, "seed": 3}) == {"seed": 7}
    assert split_args({"seed": 3}) == {"seed": 0}  # the training seed is not the split seed
    assert split_args({"split_seed": 7}, seed=2) == {"seed": 2}
    assert split_args({"split_seed": 1, "folds": 5, "fold": 3}) == {"seed": 1, "folds": 5, "fold": 3}
    assert split_args({"split_seed": 1, "folds": 0, "fold": 0}) == {"seed": 1}  # cross-validation off
