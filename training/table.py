"""Table I of the paper (library behind ``catuvac-table``).

``catuvac-table --data SPEC --clusters 10 5 --runs N`` does, for every K and every run
``r = 0 … N−1`` (seed ``seed0 + r``):

1. trains UVAC and Cat. UVAC with :func:`catuvac.training.train.train` (the data set's preset,
   ``model_type`` "uvac" / "cat_uvac", ``n_clusters`` K, ``seed`` = the run's seed; the split
   seed stays fixed so every run is scored on the same test split — or, with ``--folds F``,
   run r is trained without fold r mod F of a grouped cross-validation and scored on it);
2. scores both on the test split, runs K-means (same K, run's seed) on the normalized input
   features, and the "None (labels)" row;
3. aggregates mean ± std (sample standard deviation, ddof = 1; none for a single run) over
   the runs, per K, method, metric and representation.

``--methods … supervised`` adds a ceiling row: the same h trained with cross-entropy on the
training split's labels (the epoch with the best validation accuracy kept), scored on the same
test windows, at K = the number of classes only. It says how much of a gap is the clusterer's
and how much the data's: a network that cannot tell the classes apart on held-out recordings
even with their labels bounds what clustering can reach there.

Outputs in ``out_dir``: ``table.json`` (settings, every run's metrics in the shared shape of
:mod:`catuvac.training.metrics`, the aggregates), ``table.md`` (printed too) and one folder
per trained model ``K<k>/run<r>/<model_type>/`` with its checkpoint. A finished checkpoint
there is reused and an interrupted one resumed, so an aborted table run can be restarted
with the same command.

Representations. Main table (the paper's layout): the geometry columns are computed on
``input`` (normalized features) for the labels and K-means rows, ``z_mean`` for UVAC and
``q_y`` for Cat. UVAC (footnote in the markdown). A second table lists every representation
(Cat. UVAC on ``z_mean`` too, and the labels on each model's spaces). In a run's metrics the
labels row names the model spaces ``<model>:<rep>`` (``cat_uvac:q_y``, ``uvac:z_mean`` …)
because two models share a run.

The labels row on ``input`` does not depend on the run (same test split, same labels), so it
is computed once and repeated in every run's record. Accuracy / NMI are shown as "–" when K
differs from the number of classes, as in the paper.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from catuvac.runtime.cli_wrapper import cli_entry
from catuvac.runtime.errors import CatuvacError
from catuvac.runtime.fileio import atomic_write_text, check_output_dir

from .baselines import INPUT_SPACE, kmeans_train_baseline
from .evaluate import METHOD_TITLES, build_metrics, model_outputs, model_spaces
from .metrics import GEOMETRY_KEYS, to_jsonable, write_json_atomic
from .readers import data_spec_help, parse_data_spec, reader_for

if TYPE_CHECKING:
    from torch import nn

__all__ = [
    "TableError",
    "ALL_METHODS",
    "PRIMARY_SPACE",
    "default_preset",
    "aggregate_runs",
    "paired_vs_kmeans",
    "format_table_markdown",
    "run_table",
    "add_table_args",
    "table_from_args",
    "main",
]

ALL_METHODS = ("labels", "kmeans", "kmeans_train", "uvac", "cat_uvac_exact", "cat_uvac", "supervised")
# rows computed only when asked for (--methods): the supervised row reads the labels a clusterer never sees
OPT_IN_METHODS = ("supervised",)
# trained rows: method → (model_type, settings on top of the preset)
MODEL_METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "uvac": ("uvac", {}),
    "cat_uvac_exact": ("cat_uvac", {"paper_exact": True}),  # every deviation from the paper off
    "cat_uvac": ("cat_uvac", {}),  # the preset as it is (its defaults, fixes included)
}
# representation of the main table's geometry columns (paper layout, one row per method)
PRIMARY_SPACE = {"labels": INPUT_SPACE, "kmeans": INPUT_SPACE, "kmeans_train": INPUT_SPACE, "uvac": "z_mean", "cat_uvac_exact": "q_y",
                 "cat_uvac": "q_y", "supervised": "q_y"}
TITLES = {**METHOD_TITLES, "kmeans_train": "K-means (fit on train)", "cat_uvac_exact": "Cat. UVAC --paper-exact", "cat_uvac": "Cat. UVAC",
          "supervised": "Supervised h (labels; ceiling)"}
# spaces of the side-by-side geometry table (the same partition measured in each space)
SIDE_BY_SIDE = (INPUT_SPACE, "z_mean", "q_y")
_RUN_ONLY = ("device", "eval_batch_size", "channels_last")  # train settings that do not change a model


class TableError(CatuvacError, ValueError):
    """Settings that cannot produce a table; the message says what to change."""


def paper_exact_supported() -> bool:
    """Whether this version's TrainConfig has ``paper_exact`` (the ``--paper-exact`` switch)."""
    import dataclasses

    from .train import TrainConfig

    return "paper_exact" in {f.name for f in dataclasses.fields(TrainConfig)}


def default_methods() -> tuple[str, ...]:
    """The rows computed unless ``--methods`` says otherwise: every row this version can compute (the
    ``--paper-exact`` row needs TrainConfig.paper_exact) but the opt-in ones."""
    return tuple(m for m in ALL_METHODS if m not in OPT_IN_METHODS and (m != "cat_uvac_exact" or paper_exact_supported()))


def default_preset(data: str) -> str:
    """The training preset the data set's reader names: the paper's for the paper's data sets,
    ``quick`` for everything else."""
    return reader_for(data).preset


def _dataset_title(data: str) -> str:
    """The data set's name in the table: its reader's title, else the folder's name."""
    spec = parse_data_spec(data)
    title = reader_for(spec).title
    if title is not None:
        return title
    return spec.path.name if spec.path is not None else str(spec)


# --------------------------------------------------------------------------- aggregation
def _stat(values: Iterable[Any]) -> dict[str, Any]:
    """mean, sample std (ddof=1; None for fewer than 2 values) and count of the non-null values."""
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    if not v:
        return {"mean": None, "std": None, "n": 0}
    a = np.asarray(v, dtype=np.float64)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if a.size >= 2 else None, "n": int(a.size)}


def aggregate_runs(run_metrics: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per method: ``{"accuracy": stat, "nmi": stat, "spaces": {rep: {metric: stat}}}``,
    stat = ``{"mean", "std", "n"}`` over the runs (null values — collapsed clusterings,
    unlabeled data — are left out and ``n`` says how many counted)."""
    methods: list[str] = []
    for m in run_metrics:
        methods += [k for k in m if k not in methods]
    out: dict[str, Any] = {}
    for method in methods:
        entries = [m[method] for m in run_metrics if method in m]
        reps: list[str] = []
        for e in entries:
            reps += [r for r in e["spaces"] if r not in reps]
        out[method] = {
            "accuracy": _stat(e.get("accuracy") for e in entries),
            "nmi": _stat(e.get("nmi") for e in entries),
            "n_clusters_used": _stat(e.get("n_clusters_used") for e in entries),
            "smallest_cluster_share": _stat(e.get("smallest_cluster_share") for e in entries),
            "spaces": {
                rep: {k: _stat(e["spaces"].get(rep, {}).get(k) for e in entries) for k in GEOMETRY_KEYS}
                for rep in reps
            },
        }
    return out


def paired_vs_kmeans(run_metrics: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per method (K-means and the labels row aside): its accuracy and NMI minus the K-means row's,
    run by run (``{"accuracy": stat, "nmi": stat, "runs_at_least": {"accuracy": n, "nmi": n}}``).

    Both rows of a run see the same test windows, so the spread of the differences is the honest
    yardstick for "above K-means": a mean gap smaller than it is inside the runs' noise."""
    out: dict[str, Any] = {}
    methods = [m for m in ALL_METHODS if m not in ("labels", "kmeans") and any(m in r for r in run_metrics)]
    for method in methods:
        diffs: dict[str, list[float]] = {"accuracy": [], "nmi": []}
        for r in run_metrics:
            if method not in r or "kmeans" not in r:
                continue
            for key in diffs:
                a, b = r[method].get(key), r["kmeans"].get(key)
                if a is not None and b is not None:
                    diffs[key].append(float(a) - float(b))
        if diffs["accuracy"] or diffs["nmi"]:
            out[method] = {**{k: _stat(v) for k, v in diffs.items()},
                           "runs_at_least": {k: sum(d >= 0 for d in v) for k, v in diffs.items()}}
    return out


# --------------------------------------------------------------------------- markdown
def _decimals(v: float, digits: int) -> int:
    """``digits`` decimals like the paper; more (3 significant digits) where that would print 0.00."""
    if v != 0 and abs(v) < 0.5 * 10**-digits:
        return 2 - math.floor(math.log10(abs(v)))
    return digits


def _pm(stat: Mapping[str, Any] | None, scale: float = 1.0, digits: int = 2) -> str:
    if stat is None or stat.get("mean") is None:
        return "–"
    m = stat["mean"] * scale
    d = _decimals(m, digits)  # the std is printed to the mean's precision
    s = f"{m:.{d}f}"
    if stat.get("std") is not None:
        s += f" ± {stat['std'] * scale:.{d}f}"
    return s


def _row(dataset: str, k: int, title: str, space: str | None, agg: Mapping[str, Any], rep: str, show_acc: bool) -> str:
    g = agg["spaces"].get(rep, {})
    acc = _pm(agg["accuracy"], 100.0) if show_acc else "–"
    nmi = _pm(agg["nmi"]) if show_acc else "–"
    cells = [dataset, str(k), title] + ([space] if space is not None else [])
    cells += [acc, nmi, _pm(g.get("silhouette")), _pm(g.get("dbi")), _pm(g.get("chi"), 1e-3)]
    return "| " + " | ".join(cells) + " |"


def _method_title(method: str, lam: float | None) -> str:
    t = TITLES.get(method, method)
    if method.startswith("cat_uvac") and lam is not None:
        t += f" (λ = {lam:.1f})" if round(lam, 1) == lam else f" (λ = {lam:g})"  # the paper writes λ = 2.0
    return t


def _method_rows(table: Mapping[str, Any], all_spaces: bool) -> list[str]:
    """The rows of Table I (each method in its primary space, the labels row once) or, with
    ``all_spaces``, of the table over every representation."""
    dataset, n_classes, lam = table["dataset"], table.get("n_classes"), table.get("lambda")
    rows = []
    for i, group in enumerate(table["groups"]):
        k = int(group["clusters"])
        agg = group["aggregate"]
        show_acc = n_classes is not None and k == n_classes
        for method in (m for m in ALL_METHODS if m in agg):
            spaces: list[tuple[str | None, str]]  # (Space column or None, representation)
            if all_spaces:
                spaces = [(f"`{rep}`", rep) for rep in agg[method]["spaces"]]
            elif method == "labels" and i > 0:
                continue  # labels as clusters do not depend on K: shown once, like the paper
            else:
                spaces = [(None, PRIMARY_SPACE[method])]
            title = _method_title(method, lam)
            rows += [_row(dataset, k, title, space, agg[method], rep, show_acc or method == "labels") for space, rep in spaces]
    return rows


_SIDE_NOTE = (
    "**Geometry side by side** — each method's partition of the test windows measured in three spaces: "
    "the normalized input features, z (its mean) and q(y|x). The labels row uses the Cat. UVAC model's "
    "z and q(y|x). A silhouette near 1 on q(y|x) says only that the posterior is sharp: any near-one-hot "
    "q(y|x) puts each window at a corner of the simplex, far from the other clusters, whether or not the "
    "clusters mean anything — compare the input-space columns and accuracy / NMI instead."
)


_SUPERVISED_NOTE = (
    "Supervised h — the same network trained on the training split's labels (the epoch with the best "
    "validation accuracy kept), scored like the clusterings (best one-to-one matching), on q(y|x): a "
    "ceiling, not a clusterer. "
)


def _side_space(method: str, rep: str) -> str:
    if method == "labels" and rep != INPUT_SPACE:
        return f"cat_uvac:{rep}"
    return rep


def _side_by_side(table: Mapping[str, Any]) -> list[str]:
    lines = [
        "| Dataset | Clusters | Method | Clusters used | Smallest (%) | Sil. input | Sil. z | Sil. q(y\\|x) | DBI input | DBI z | DBI q(y\\|x) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for group in table["groups"]:
        agg = group["aggregate"]
        for method in ALL_METHODS:
            if method not in agg:
                continue
            sp = agg[method]["spaces"]
            cells = [table["dataset"], str(group["clusters"]), TITLES.get(method, method),
                     _pm(agg[method].get("n_clusters_used"), digits=1), _pm(agg[method].get("smallest_cluster_share"), 100.0, digits=1)]
            for key in ("silhouette", "dbi"):
                cells += [_pm(sp.get(_side_space(method, rep), {}).get(key)) for rep in SIDE_BY_SIDE]
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def format_table_markdown(table: Mapping[str, Any]) -> str:
    """Table I (paper layout) + a table over every representation + footnotes."""
    dataset = table["dataset"]
    n_classes = table.get("n_classes")
    runs = table["runs"]
    head = "| Dataset | Clusters | Method | Accuracy (%) ↑ | NMI ↑ | Silhouette ↑ | DBI ↓ | CHI ×10³ ↑ |"
    folds = int(table.get("folds") or 0)
    where = (f"the held-out fold of {dataset} ({folds}-fold cross-validation by recording: run r is trained "
             f"without fold r mod {folds} and scored on it, {table.get('n_test')} test windows over the folds run)"
             if folds else f"the test split of {dataset}")
    lines = [
        f"**Table I** — clustering metrics on {where}, mean ± std over {runs} run(s).",
        "",
        head,
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    lines += _method_rows(table, all_spaces=False)
    lines += [
        "",
        "Geometry columns (silhouette, DBI, CHI) are computed on: None (labels) and K-means — the "
        "normalized input features (`input`); K-means is fitted on the test windows themselves (the "
        "paper's baseline), K-means (fit on train) on the training split like the trained models, "
        "which then assign the test windows; UVAC — the mean of z (`z_mean`); Cat. UVAC — q(y|x) "
        "(`q_y`). Accuracy and NMI are shown only when the number of clusters equals the number "
        f"of classes ({n_classes if n_classes is not None else 'no labels'}), as in the paper. "
        f"{_SUPERVISED_NOTE if any('supervised' in g['aggregate'] for g in table['groups']) else ''}"
        "Mean ± sample standard deviation over the runs; a value averaged over fewer runs (a "
        "collapsed clustering has no geometry) is marked in table.json (`n`).",
        "",
        "**All representations**",
        "",
        "| Dataset | Clusters | Method | Space | Accuracy (%) ↑ | NMI ↑ | Silhouette ↑ | DBI ↓ | CHI ×10³ ↑ |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    lines += _method_rows(table, all_spaces=True)
    lines += ["", _SIDE_NOTE, "", *_side_by_side(table)]
    paired = _paired_lines(table)
    if paired:
        lines += ["", _PAIRED_NOTE, "", *paired]
    return "\n".join(lines)


_PAIRED_NOTE = (
    "**Paired against K-means** — per run, each method's accuracy and NMI minus those of the K-means row "
    "(the paper's baseline, fitted on the same test windows): mean ± std of the differences and the runs "
    "at or above K-means. A mean difference smaller than its std is inside the runs' noise."
)


def _paired_lines(table: Mapping[str, Any]) -> list[str]:
    """Rows of the paired comparison, for the groups whose K equals the number of classes."""
    n_classes = table.get("n_classes")
    lines: list[str] = []
    for group in table["groups"]:
        paired = group.get("vs_kmeans") or {}
        if n_classes is None or int(group["clusters"]) != n_classes or not paired:
            continue
        for method in (m for m in ALL_METHODS if m in paired):
            d = paired[method]
            n = d["accuracy"]["n"]
            at_least = d["runs_at_least"]
            lines.append(f"| {table['dataset']} | {group['clusters']} | {TITLES.get(method, method)} | "
                         f"{_pm(d['accuracy'], 100.0)} | {at_least['accuracy']} of {n} | {_pm(d['nmi'])} | "
                         f"{at_least['nmi']} of {d['nmi']['n']} |")
    if not lines:
        return []
    return ["| Dataset | Clusters | Method | Δ accuracy (points) | runs ≥ K-means | Δ NMI | runs ≥ K-means |",
            "|---|---:|---|---:|---:|---:|---:|", *lines]


# --------------------------------------------------------------------------- training glue
def _train_one(cfg: Any, run_dir: Path, data: Any, progress: bool) -> nn.Module:
    """Train one model (or reuse / resume the checkpoint in ``run_dir``); returns it in eval mode.

    Module-level so that tests can monkeypatch a fast fake trainer.
    """
    from .checkpoint import load_checkpoint
    from .train import CHECKPOINT_NAME, train

    ckpt = run_dir / CHECKPOINT_NAME
    if ckpt.exists():
        ck = load_checkpoint(ckpt, expect_type=cfg.model_type)
        want = {k: v for k, v in cfg.to_dict().items() if k not in _RUN_ONLY}
        stored = {**type(cfg)().to_dict(), **ck.train_config}  # settings added since it was written: their defaults
        have = {k: stored.get(k) for k in want}
        if have != want:
            diff = "; ".join(f"{k}: {have[k]!r} vs {want[k]!r}" for k in want if have[k] != want[k])
            raise TableError(f"{ckpt} was trained with other settings ({diff}): use another --out folder")
        if ck.epoch >= cfg.epochs:
            return ck.model  # finished earlier: reuse
        res = train(cfg, run_dir, resume=True, progress=progress, data=data, evaluate=False, plots=False)
    else:
        res = train(cfg, run_dir, progress=progress, data=data, evaluate=False, plots=False)
    res.model.eval()
    return res.model



def _train_supervised(cfg: Any, prepared: Any, n_classes: int) -> nn.Module:
    """The ceiling row: Cat. UVAC's h (the preset's network and front-end) trained with cross-entropy
    on the training split's labels for the table's epochs, keeping the epoch with the best
    validation accuracy (ceiling.train_supervised). Not checkpointed (about a minute a run on the
    real scenes): a restarted table trains it again."""
    import torch

    from .ceiling import train_supervised
    from .model import build_model
    from .train import model_config

    torch.manual_seed(cfg.seed)
    model = build_model(model_config(cfg, prepared, n_clusters=n_classes))
    train_supervised(model, prepared.x["train"], prepared.labels["train"], cfg.epochs, cfg.seed, cfg.batch_size,
                     prepared.x["val"], prepared.labels.get("val"))
    return model


@dataclass
class _Split:
    """One split's windows as the table scores them."""

    prepared: Any  # train.PreparedData
    x_train: np.ndarray
    x_test: np.ndarray
    labels: np.ndarray | None


def _prepare_split(cfg: Any, data: str, max_k: int, progress: bool) -> _Split:
    from .train import prepare_data

    prepared = prepare_data(cfg, progress=progress)
    where = f"fold {cfg.fold} of {cfg.folds}" if cfg.folds else "the test split"
    n_test = prepared.n("test")
    if n_test < max_k + 1:
        raise TableError(
            f"{data}: {where} has {n_test} windows, too few to score {max_k} clusters; "
            "use more data (e.g. a larger builtin:scenes?n=…), fewer --folds or fewer clusters"
        )
    return _Split(prepared, prepared.x["train"][:, 0].numpy(), prepared.x["test"][:, 0].numpy(), prepared.labels.get("test"))


def run_table(
    data: str,
    clusters: Sequence[int] = (10, 5),
    runs: int = 10,
    preset: str | None = None,
    epochs: int | None = None,
    out_dir: "str | Path" = "table_out",
    seed0: int = 0,
    methods: Sequence[str] | None = None,
    lam: float | None = None,
    window_seconds: float | None = None,
    max_files: int | None = None,
    split_seed: int | None = None,
    device: str | None = None,
    progress: bool = True,
    quiet: bool = False,
    title: str | None = None,
    folds: int = 0,
) -> dict[str, Any]:
    """Train / evaluate every method for every K and run, aggregate, write table.json and table.md.

    ``folds`` = F ≥ 2: grouped cross-validation — run r trains without fold r mod F and is scored
    on it (K-means rows too), so over F runs every window is a test window once (0 = off: every
    run is scored on the one fixed test split).

    ``preset``: training preset (default: :func:`default_preset` of ``data``); ``epochs``,
    ``lam``, ``window_seconds``, ``max_files``, ``split_seed``, ``device``: override the
    preset (``None`` = keep). Returns the table dict written to ``table.json``.
    """
    from .train import TrainError, make_config

    clusters = [int(k) for k in clusters]
    if not clusters or any(k < 2 for k in clusters):
        raise TableError(f"--clusters needs one or more integers ≥ 2, got {clusters}")
    if runs < 1:
        raise TableError(f"--runs must be ≥ 1, got {runs}")
    methods = default_methods() if methods is None else tuple(methods)
    bad = [m for m in methods if m not in ALL_METHODS]
    if bad or not methods:
        raise TableError(f"unknown method(s) {bad}; choose from {', '.join(ALL_METHODS)}")
    if "cat_uvac_exact" in methods and not paper_exact_supported():
        raise TableError("this version has no --paper-exact switch (TrainConfig.paper_exact): leave out "
                         "the cat_uvac_exact row")
    methods = [m for m in ALL_METHODS if m in methods]
    preset = preset or default_preset(data)
    out = check_output_dir(out_dir, "--out", TableError)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()

    def config(model_type: str, k: int, seed: int, **extra: Any) -> Any:
        try:
            return make_config(
                preset, data=data, model_type=model_type, n_clusters=k, seed=seed, epochs=epochs, lam=lam,
                window_seconds=window_seconds, max_files=max_files, split_seed=split_seed, device=device, **extra,
            )
        except TrainError as e:
            raise TableError(str(e)) from e

    fold_of = (lambda r: r % folds) if folds else (lambda r: 0)
    split: dict[int, _Split] = {}  # the current fold's windows only (a data set's folds may not fit in memory at once)
    n_test_of: dict[int, int] = {}

    def split_for(r: int) -> _Split:
        """The run's train / test windows (one fold of the cross-validation, or the fixed split)."""
        f = fold_of(r)
        if f not in split:
            split.clear()
            split[f] = _prepare_split(config("cat_uvac", clusters[0], seed0, folds=folds, fold=f), data, max(clusters),
                                      progress and not quiet)
            n_test_of[f] = int(split[f].x_test.shape[0])
        return split[f]

    base = config("cat_uvac", clusters[0], seed0, folds=folds)
    first = split_for(0)  # fails early on a fold too small to score
    label_names, has_labels = first.prepared.label_names, first.labels is not None
    del first
    n_classes = len(label_names) if label_names is not None and has_labels else None
    if "supervised" in methods and (n_classes is None or n_classes not in clusters):
        raise TableError(f"the supervised row needs labels and a --clusters value equal to the number of classes "
                         f"({n_classes if n_classes is not None else 'unlabelled data'}); leave 'supervised' out of --methods")
    records: list[dict[str, Any]] = []
    groups: list[dict[str, Any]] = []
    bar = None
    if progress and not quiet:
        from tqdm import tqdm

        bar = tqdm(total=len(clusters) * runs, desc="table runs", unit="run", file=sys.stderr, dynamic_ncols=True)
    for k in clusters:
        run_metrics: list[dict[str, Any]] = []
        for r in range(runs):
            seed, sp = seed0 + r, split_for(r)
            t0 = time.perf_counter()
            models: dict[str, Any] = {}
            for method, (model_type, extra) in MODEL_METHODS.items():
                if method not in methods:
                    continue
                cfg = config(model_type, k, seed, folds=folds, fold=fold_of(r), **extra)
                model = _train_one(cfg, out / f"K{k}" / f"run{r}" / method, sp.prepared, False)
                models[method] = model_spaces(model, model_outputs(model, sp.x_test, batch_size=cfg.eval_batch_size, device="cpu"))
            if "supervised" in methods and k == n_classes:
                cfg = config("cat_uvac", k, seed, folds=folds, fold=fold_of(r))
                model = _train_supervised(cfg, sp.prepared, k)
                pred, spaces = model_spaces(model, model_outputs(model, sp.x_test, batch_size=cfg.eval_batch_size, device="cpu"))
                models["supervised"] = (pred, {"q_y": spaces["q_y"]})  # its z head is never trained
            metrics = build_metrics(models, sp.x_test, sp.labels, k, seed, kmeans="kmeans" in methods, labels_row_="labels" in methods,
                                    qualify=True, input_in_rows=True)
            if "kmeans_train" in methods:
                metrics["kmeans_train"] = to_jsonable(kmeans_train_baseline(sp.x_train, sp.x_test, sp.labels, k, seed=seed))
            run_metrics.append(metrics)
            records.append({"clusters": k, "run": r, "seed": seed, "fold": fold_of(r) if folds else None,
                            "n_test": int(sp.x_test.shape[0]), "seconds": time.perf_counter() - t0, "metrics": metrics})
            if bar is not None:
                bar.update(1)
        groups.append({"clusters": k, "aggregate": aggregate_runs(run_metrics), "vs_kmeans": paired_vs_kmeans(run_metrics)})
    if bar is not None:
        bar.close()
    n_test = sum(n_test_of.values())

    table: dict[str, Any] = {
        "dataset": title or _dataset_title(data),
        "data": data,
        "preset": preset,
        "epochs": base.epochs,
        "lambda": base.lam,
        "clusters": clusters,
        "runs": runs,
        "seed0": seed0,
        "split_seed": base.split_seed,
        "folds": folds,  # 0: one fixed test split; F: run r tests on fold r mod F (n_test: all folds run)
        "methods": methods,
        "n_test": n_test,
        "n_classes": n_classes,
        "label_names": label_names,
        "primary_space": {m: PRIMARY_SPACE[m] for m in methods},
        "seconds": time.perf_counter() - t_start,
        "groups": groups,
        "per_run": records,
    }
    table = to_jsonable(table)
    md = format_table_markdown(table)
    write_json_atomic(out / "table.json", table)
    atomic_write_text(out / "table.md", md + "\n")
    if not quiet:
        print(md)
        print(f"\nwritten: {out / 'table.md'}, {out / 'table.json'}")
    return table


# --------------------------------------------------------------------------- CLI glue
def add_table_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--data", required=True, help=f"dataset spec: {data_spec_help()}")
    parser.add_argument("--clusters", type=int, nargs="+", default=[10, 5], help="numbers of clusters K (default: 10 5, the paper)")
    parser.add_argument("--runs", type=int, default=10, help="independent runs (seeds) per K (default 10, the paper)")
    parser.add_argument("--preset", default=None, help="training preset (default: paper-* for the paper's data sets, else quick)")
    parser.add_argument("--epochs", type=int, default=None, help="override the preset's epochs (keep it short)")
    parser.add_argument("--lambda", dest="lam", type=float, default=None, help="override λ of eq. 7")
    parser.add_argument("--window-seconds", type=float, default=None, help="override the context window")
    parser.add_argument("--max-files", type=int, default=None, help="seeded subset of the files (quick runs)")
    parser.add_argument("--split-seed", type=int, default=None, help="train/val/test split seed (fixed across runs)")
    parser.add_argument("--folds", type=int, default=0,
                        help="grouped F-fold cross-validation: run r is trained without fold r mod F and scored on it "
                        "(use --runs F to test every window once; US8K's official folds with --folds 10); "
                        "default 0: every run on the one fixed test split")
    parser.add_argument("--seed0", type=int, default=0, help="seed of the first run; run r uses seed0 + r")
    parser.add_argument("--methods", nargs="+", default=None, choices=ALL_METHODS,
                        help="rows to compute (default: all but supervised; kmeans = K-means fitted on the test windows, the paper's "
                        "baseline; kmeans_train = K-means fitted on the training split, then applied to the test "
                        "windows, as the trained rows are; cat_uvac_exact = Cat. UVAC --paper-exact, needs a "
                        "version with that switch; supervised = the same h trained on the labels, a ceiling for the clustering "
                        "rows, only at K = the number of classes and only when named)")
    parser.add_argument("--device", default=None, help="cpu, cuda or auto (default: the preset's)")
    parser.add_argument("--out", dest="out_dir", default="table_out", help="output folder (table.json, table.md, checkpoints)")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    parser.add_argument("--title", default=None,
                        help="data set name in the table (default: from the spec, e.g. AudioMNIST for audiomnist:PATH)")
    return parser


def table_from_args(args: argparse.Namespace) -> int:
    from catuvac.runtime.frontend import FrontEndError

    from .checkpoint import CheckpointError
    from .datasets import DatasetError
    from .metrics import MetricsError
    from .train import TrainError

    try:
        run_table(
            args.data, clusters=args.clusters, runs=args.runs, preset=args.preset, epochs=args.epochs,
            out_dir=args.out_dir, seed0=args.seed0, methods=args.methods, lam=args.lam,
            window_seconds=args.window_seconds, max_files=args.max_files, split_seed=args.split_seed,
            folds=args.folds, device=args.device, progress=args.progress, title=args.title,
        )
    except (TableError, TrainError, CheckpointError, DatasetError, MetricsError, FrontEndError) as e:
        print(f"catuvac-table: error: {e}", file=sys.stderr)
        return 2
    return 0


@cli_entry("catuvac-table")
def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="catuvac-table",
        description="Table I: labels / K-means / UVAC / Cat. UVAC over several seeds, mean ± std (markdown + JSON).",
    )
    add_table_args(p)
    return table_from_args(p.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
