"""``catuvac-clusters``: listen to what each cluster holds before mapping clusters to programs.

For every cluster of a model, on a data set: its share of the windows, the N most typical
windows (highest q(y=k|x) among the windows assigned to k) as WAV excerpts, a spectrogram
montage of them, the cluster's mean spectrum and level and, when the data has labels, its
label mix. Everything lands in one folder with a self-contained page ``DIR/index.html``
(no network: relative links to the WAV / PNG files next to it) and ``DIR/map_template.json``,
a cluster → profile map in the runtime's and simulator's format, filled with the default
assignment so that it loads as is.

Why the exported ONNX model and the runtime front-end (and not the PyTorch model): what an
engineer auditions should be what the device will decide — the same features, normalization
and (int8) network. So ``--model`` runs torch-free; ``--checkpoint`` first exports the
checkpoint's encoder to a temporary fp32 ONNX file with :mod:`catuvac.export` (which needs
torch) and then takes the same path.
"""

from __future__ import annotations

import argparse
import html
import io
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from catuvac.runtime.cli_wrapper import cli_entry
from catuvac.runtime.errors import CatuvacError

from .cli import add_model_source

__all__ = ["ClusterSummary", "AuditionResult", "audition", "write_page", "build_parser", "main"]


@dataclass
class ClusterSummary:
    cluster: int
    n_windows: int
    share: float
    level_dbfs_median: float | None
    mean_spectrum: list[float]  # mean raw log feature per bin (the front-end's units)
    label_mix: dict[str, float] | None
    examples: list[dict[str, Any]] = field(default_factory=list)  # file, start_s, q, wav, label
    montage: str | None = None


@dataclass
class AuditionResult:
    model: str
    data: str
    n_windows: int
    n_clusters: int
    window_seconds: float
    sample_rate: int
    clusters: list[ClusterSummary]
    profile_names: list[str]
    map_template: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model, "data": self.data, "n_windows": self.n_windows, "n_clusters": self.n_clusters,
            "window_seconds": self.window_seconds, "sample_rate_hz": self.sample_rate,
            "profiles": self.profile_names, "map_template": self.map_template,
            "clusters": [c.__dict__ for c in self.clusters],
        }


class ClustersError(CatuvacError, ValueError):
    """Bad input to catuvac-clusters; the message says what to do."""


# --------------------------------------------------------------------------- scoring
def cluster_probs(model_path: str | os.PathLike, data: str, *, max_files: int | None = None,
                  progress: bool = True) -> tuple[Any, np.ndarray, Any]:
    """(feature set, q(y|x) of every window (N, K), model info) — the runtime's front-end and model."""
    from catuvac.export.exporter import run_onnx
    from catuvac.runtime.frontend import normalize_window
    from catuvac.runtime.modelmeta import ort_session, read_model_info

    from .datasets import load_dataset

    info = read_model_info(model_path)
    fs = load_dataset(data, frontend=info.frontend, max_files=max_files, progress=progress)
    x = normalize_window(fs.x, info.frontend)
    _, probs = run_onnx(ort_session(model_path), x, progress=progress, desc="q(y|x)")
    return fs, probs, info


def _window_audio(fs: Any, i: int, cache: dict[str, np.ndarray]) -> np.ndarray:
    """The samples of window ``i`` (as the front-end cut it: zero-padded at a clip's end)."""
    from catuvac.runtime.audio import load_audio

    cfg = fs.frontend
    f = fs.files[i]
    if f not in cache:
        cache.clear()  # windows come grouped by file: keep one decoded file
        cache[f] = load_audio(f, cfg.sample_rate)
    W = cfg.window_samples
    s = int(fs.window_index[i]) * W
    seg = cache[f][s : s + W]
    return np.pad(seg, (0, W - len(seg))) if len(seg) < W else seg


def _level_dbfs(x: np.ndarray) -> float:
    return 10.0 * float(np.log10(max(float(np.mean(np.square(x, dtype=np.float64))), 1e-12)))


# --------------------------------------------------------------------------- audition
def audition(
    model_path: str | os.PathLike, data: str, out_dir: str | os.PathLike, *, n_examples: int = 6,
    max_files: int | None = None, profiles: str | os.PathLike | None = None, progress: bool = True,
    model_label: str | None = None,
) -> AuditionResult:
    """Score ``data`` with the model and write excerpts, montages and the map template into ``out_dir``."""
    from catuvac.firmware_sim.profiles import ProfileSet, default_cluster_map
    from catuvac.runtime.fileio import atomic_write_json

    if not 1 <= n_examples <= 50:
        raise ClustersError(f"--examples must be in [1, 50], got {n_examples}")
    fs, probs, info = cluster_probs(model_path, data, max_files=max_files, progress=progress)
    pset = ProfileSet.load(profiles) if profiles else ProfileSet.default()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    K = probs.shape[1]
    ids = probs.argmax(axis=1)
    levels = _levels(fs, progress)
    clusters = []
    for k in range(K):
        members = np.flatnonzero(ids == k)
        top = members[np.argsort(-probs[members, k], kind="stable")][:n_examples]
        c = ClusterSummary(
            cluster=k, n_windows=int(members.size), share=round(float(members.size) / len(fs), 4),
            level_dbfs_median=round(float(np.median(levels[members])), 2) if members.size else None,
            mean_spectrum=[round(float(v), 3) for v in fs.x[members].mean(axis=(0, 2))] if members.size else [],
            label_mix=_label_mix(fs, members),
        )
        c.examples = _write_examples(fs, top, probs[:, k], out, k)
        if top.size:
            c.montage = _montage(fs, top, probs[:, k], out / f"cluster_{k}" / "montage.png", k)
        clusters.append(c)
    _spectra_plot(clusters, fs.frontend, out / "spectra.png")
    cmap = default_cluster_map(K, pset).to_dict()
    cmap["default"] = pset.names[0]
    atomic_write_json(out / "map_template.json", cmap)
    res = AuditionResult(
        model=model_label or str(model_path), data=str(data), n_windows=len(fs), n_clusters=K,
        window_seconds=float(fs.frontend.window_seconds), sample_rate=int(fs.frontend.sample_rate),
        clusters=clusters, profile_names=list(pset.names), map_template=cmap,
    )
    atomic_write_json(out / "clusters.json", res.to_dict())
    write_page(res, out / "index.html")
    return res


def _levels(fs: Any, progress: bool) -> np.ndarray:
    from tqdm import tqdm

    cache: dict[str, np.ndarray] = {}
    return np.array([_level_dbfs(_window_audio(fs, i, cache))
                     for i in tqdm(range(len(fs)), desc="levels", unit="win", disable=not progress, file=sys.stderr)])


def _label_mix(fs: Any, members: np.ndarray) -> dict[str, float] | None:
    if fs.labels is None or fs.label_names is None or members.size == 0:
        return None
    counts = np.bincount(fs.labels[members], minlength=len(fs.label_names))
    order = np.argsort(-counts, kind="stable")
    return {fs.label_names[j]: round(float(counts[j]) / members.size, 4) for j in order if counts[j]}


def _write_examples(fs: Any, top: np.ndarray, qk: np.ndarray, out: Path, k: int) -> list[dict[str, Any]]:
    import soundfile as sf

    from catuvac.runtime.fileio import atomic_write

    cfg = fs.frontend
    cache: dict[str, np.ndarray] = {}
    rows = []
    for r, i in enumerate(top.tolist()):
        seg = np.clip(_window_audio(fs, i, cache), -1.0, 1.0)
        rel = f"cluster_{k}/example_{r + 1:02d}.wav"
        atomic_write(out / rel, lambda f, seg=seg: sf.write(f, seg, cfg.sample_rate, format="WAV", subtype="PCM_16"))
        rows.append({
            "wav": rel, "file": fs.files[i], "start_s": round(int(fs.window_index[i]) * cfg.window_seconds, 3),
            "q": round(float(qk[i]), 4),
            "label": None if fs.labels is None else fs.label_names[int(fs.labels[i])],
        })
    return rows


def _savefig(fig: Any, path: Path) -> None:
    from catuvac.runtime.fileio import atomic_write

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72)
    atomic_write(path, lambda f: f.write(buf.getvalue()))


def _montage(fs: Any, top: np.ndarray, qk: np.ndarray, path: Path, k: int) -> str:
    """The cluster's most typical windows side by side (raw log features, one colour scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    feats = fs.x[top]
    lo, hi = np.percentile(feats, [2, 99.5])
    fig, axes = plt.subplots(1, len(top), figsize=(1.6 * len(top) + 0.4, 2.0), squeeze=False)
    for ax, i, f in zip(axes[0], top.tolist(), feats):
        ax.imshow(f, origin="lower", aspect="auto", cmap="magma", vmin=lo, vmax=hi)
        ax.set_title(f"q={qk[i]:.2f}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"cluster {k}: most typical windows (mel bins ↑, time →)", fontsize=9)
    fig.tight_layout()
    _savefig(fig, path)
    plt.close(fig)
    return str(path.relative_to(path.parents[1]))


def _spectra_plot(clusters: Sequence[ClusterSummary], cfg: Any, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    for c in clusters:
        if c.mean_spectrum:
            ax.plot(c.mean_spectrum, label=f"{c.cluster} ({100 * c.share:.0f} %)")
    ax.set_xlabel("mel bin" if cfg.kind == "logmel" else "frequency bin")
    ax.set_ylabel("mean log power")
    ax.set_title("mean spectrum per cluster")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    _savefig(fig, path)
    plt.close(fig)


# --------------------------------------------------------------------------- page
_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;max-width:1100px;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin:0 0 .3em}
section{border:1px solid #ccc;border-radius:6px;padding:.8em 1em;margin:1em 0}
.meta{color:#555;font-size:.9em}.exs{display:flex;flex-wrap:wrap;gap:.3em 1em}.ex{font-size:.8em}
.ex audio{display:block;width:230px}table{border-collapse:collapse;font-size:.85em}
td,th{padding:.1em .6em;text-align:left}img{display:block;max-width:100%;margin:.4em 0}pre{background:#f4f4f4;padding:.6em}
.bar{display:inline-block;height:.7em;background:#4a7}
"""

_JS = """
function updateMap(){const m={};document.querySelectorAll('select[data-cluster]').forEach(s=>{m[s.dataset.cluster]=s.value});
m['default']=document.getElementById('default').value;document.getElementById('map').textContent=JSON.stringify(m,null,2);}
document.querySelectorAll('select').forEach(s=>s.addEventListener('change',updateMap));updateMap();
"""


def _options(names: Sequence[str], chosen: str) -> str:
    return "".join(f'<option{" selected" if n == chosen else ""}>{html.escape(n)}</option>' for n in names)


def _section(c: ClusterSummary, res: AuditionResult) -> str:
    e = html.escape
    lvl = "—" if c.level_dbfs_median is None else f"{c.level_dbfs_median:.1f} dB FS"
    parts = [f'<section id="cluster-{c.cluster}"><h2>Cluster {c.cluster}</h2>',
             f'<p class="meta">{100 * c.share:.1f} % of the windows ({c.n_windows}); median level {lvl}. '
             f'Profile: <select data-cluster="{c.cluster}">{_options(res.profile_names, res.map_template[str(c.cluster)])}'
             "</select></p>"]
    if c.label_mix:
        rows = "".join(f'<tr><td>{e(k)}</td><td>{100 * v:.0f} %</td><td><span class="bar" style="width:{int(150 * v)}px">'
                       "</span></td></tr>" for k, v in c.label_mix.items())
        parts.append(f"<table><tr><th>label</th><th colspan=2>share of the cluster</th></tr>{rows}</table>")
    if c.montage:
        parts.append(f'<img src="{e(c.montage)}" alt="spectrograms of cluster {c.cluster}">')
    parts.append('<div class="exs">')
    for x in c.examples:
        lab = f" · {e(x['label'])}" if x["label"] else ""
        parts.append(f'<div class="ex"><audio controls preload="metadata" src="{e(x["wav"])}"></audio>'
                     f'{e(Path(x["file"]).name)} @ {x["start_s"]:g} s · q={x["q"]:.2f}{lab}</div>')
    parts.append("</div>")
    if not c.examples:
        parts.append('<p class="meta">no window of the data is assigned to this cluster.</p>')
    parts.append("</section>")
    return "".join(parts)


def write_page(res: AuditionResult, path: str | os.PathLike) -> None:
    """The self-contained audition page (relative links only; nothing from the network)."""
    from catuvac.runtime.fileio import atomic_write_text

    e = html.escape
    body = "".join(_section(c, res) for c in res.clusters)
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>catuvac clusters — {e(Path(res.model).name)}</title><style>{_CSS}</style></head><body>
<h1>Clusters of {e(Path(res.model).name)}</h1>
<p class="meta">{res.n_clusters} clusters, {res.n_windows} windows of {res.window_seconds:g} s from <code>{e(res.data)}</code>.
Excerpts are the windows with the highest q(y=k|x) among those the model assigns to k.</p>
<img src="spectra.png" alt="mean spectrum per cluster">
{body}
<section><h2>Cluster → profile map</h2>
<p class="meta">Choose a profile per cluster above; default for unlisted clusters:
<select id="default">{_options(res.profile_names, res.map_template["default"])}</select>.
Save this as a map file (<code>map_template.json</code> next to this page holds the starting assignment) and pass it
with <code>--map</code> to <code>catuvac-sim</code> or <code>catuvac-listen</code>.</p>
<pre id="map">{e(json.dumps(res.map_template, indent=2))}</pre></section>
<script>{_JS}</script></body></html>
"""
    atomic_write_text(path, page)


# --------------------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="catuvac-clusters",
        description="Audition a model's clusters: share, most typical windows as WAV, spectrogram montage, mean "
                    "spectrum and level, label mix; one self-contained page DIR/index.html and DIR/map_template.json.",
    )
    add_model_source(p, checkpoint_help="training checkpoint: exported to a temporary fp32 ONNX model first (needs torch)",
                     model_help="exported encoder (.onnx from catuvac-export): scored as the device would")
    p.add_argument("--data", required=True, help="data spec (builtin:scenes, folder:PATH, us8k:PATH, …)")
    p.add_argument("--out", required=True, help="output folder (index.html, map_template.json, cluster_K/)")
    p.add_argument("--examples", type=int, default=6, help="typical windows per cluster (default 6: a minute of listening)")
    p.add_argument("--max-files", type=int, help="use a seeded subset of this many files (large data sets)")
    p.add_argument("--profiles", help="profile set JSON whose names the map template uses (default: the shipped set)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    return p


def _export_tmp(checkpoint: str, tmp: str, data: str, progress: bool) -> str:
    """fp32 export of the checkpoint's encoder (verified against PyTorch on ``data``'s windows)."""
    from catuvac.export.exporter import export_model

    export_model(checkpoint, tmp, int8=False, calibration=data, progress=progress)
    return str(Path(tmp) / "encoder.onnx")


@cli_entry("catuvac-clusters")
def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from catuvac.export.exporter import ExportError
    from catuvac.firmware_sim.profiles import ProfileError
    from catuvac.runtime.modelmeta import ModelMetadataError

    from .datasets import DatasetError

    try:
        with tempfile.TemporaryDirectory(prefix="catuvac-clusters-") as tmp:
            model = args.model or _export_tmp(args.checkpoint, os.path.join(tmp, "model"), args.data, not args.quiet)
            res = audition(model, args.data, args.out, n_examples=args.examples, max_files=args.max_files,
                           profiles=args.profiles, progress=not args.quiet, model_label=args.model or args.checkpoint)
    except (ClustersError, DatasetError, ExportError, ModelMetadataError, ProfileError, FileNotFoundError) as e:
        print(f"catuvac-clusters: error: {e}", file=sys.stderr)
        return 2
    for c in res.clusters:
        mix = ", ".join(f"{k} {100 * v:.0f}%" for k, v in list((c.label_mix or {}).items())[:3])
        print(f"cluster {c.cluster}: {100 * c.share:5.1f} %  level {c.level_dbfs_median} dBFS  {mix}")
    print(f"wrote {Path(args.out) / 'index.html'} and {Path(args.out) / 'map_template.json'}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
