"""Picture of a simulation: input spectrogram, cluster ids + active profile, per-band gains."""

from __future__ import annotations

import os

import numpy as np

from catuvac.runtime.fileio import atomic_savefig

from .simulator import SimulationResult

__all__ = ["plot_simulation"]


def plot_simulation(signal: np.ndarray, res: SimulationResult, path: str | os.PathLike, title: str | None = None) -> None:
    """Write a PNG: spectrogram (top), cluster ids and active profile (middle), band gains (bottom)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from scipy import signal as sps

    sr = res.sample_rate
    x = np.asarray(signal, dtype=np.float64)
    dur = x.size / sr
    fig = Figure(figsize=(13, 9), constrained_layout=True)
    FigureCanvasAgg(fig)
    ax1, ax2, ax3 = fig.subplots(3, 1, sharex=True, gridspec_kw={"height_ratios": [1.3, 1.0, 1.1]})

    # 1. input spectrogram (32 ms frames, hop limited so long files stay light)
    nper = 512
    hop = max(256, int(np.ceil(x.size / 4000)))
    f, t, S = sps.spectrogram(x, fs=sr, nperseg=min(nper, x.size), noverlap=max(0, min(nper, x.size) - hop),
                              mode="psd")
    SdB = 10 * np.log10(S + 1e-12)
    vmax = float(np.percentile(SdB, 99.5)) if SdB.size else 0.0
    ax1.pcolormesh(t, f / 1000, SdB, shading="auto", cmap="magma", vmin=vmax - 80, vmax=vmax, rasterized=True)
    ax1.set_ylabel("frequency (kHz)")
    ax1.set_title(title or "input spectrogram")

    # 2. cluster ids (raw: dots, stable: line) over the active-profile background
    names = res.profile_names
    cmap = ["#cfe8ff", "#ffd9b3", "#d5f5d0", "#f3d0f5", "#fff3b0", "#e0e0e0", "#c8f0ee", "#f8c8c8"]
    block_s = res.block_size / sr
    idx = res.profile_index
    if idx.size:
        change = np.flatnonzero(np.diff(idx)) + 1
        starts = np.concatenate([[0], change])
        ends = np.concatenate([change, [idx.size]])
        seen = set()
        for s0, e0 in zip(starts, ends):
            k = int(idx[s0])
            ax2.axvspan(s0 * block_s, e0 * block_s, color=cmap[k % len(cmap)], alpha=0.9, lw=0,
                        label=f"profile: {names[k]}" if k not in seen else None)
            seen.add(k)
    for sw in res.switches:
        ax2.axvspan(sw.time_s, min(sw.crossfade_end_s, dur), color="k", alpha=0.08, lw=0)
    if res.events:
        te = np.array([e["time_s"] for e in res.events])
        ce = np.array([e["cluster"] for e in res.events])
        ax2.plot(te, ce, "o", ms=3, color="0.35", label="cluster (raw)")
        st = np.array([np.nan if e["stable"] is None else e["stable"] for e in res.events], dtype=float)
        ax2.step(te, st, where="post", color="C3", lw=2, label="cluster (stable)")
        kmax = int(max(np.nanmax(ce), np.nanmax(st) if np.isfinite(st).any() else 0))
        ax2.set_ylim(-0.5, kmax + 0.5)
        ax2.set_yticks(range(kmax + 1))
    else:
        ax2.text(0.5, 0.5, "no classifier events", transform=ax2.transAxes, ha="center", va="center")
        ax2.set_yticks([])
    ax2.set_ylabel("cluster id")
    ax2.set_title("scene clusters and active profile (shaded: cross-fade)")
    ax2.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)

    # 3. per-band gains (insertion + profile offset + compression + noise reduction)
    g = res.gains_db
    step = max(1, g.shape[0] // 3000)
    tg = (np.arange(0, g.shape[0], step) + 0.5) * block_s
    for j, c in enumerate(res.band_centres_hz):
        ax3.plot(tg, g[::step, j], lw=1, label=f"{c / 1000:.2g} kHz" if c >= 1000 else f"{c:.0f} Hz")
    ax3.set_ylabel("band gain (dB)")
    ax3.set_xlabel("time (s)")
    ax3.set_title("per-band gain applied by the DSP")
    ax3.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False, title="band")
    ax3.set_xlim(0, dur)
    ax3.grid(alpha=0.3)
    atomic_savefig(fig, path, dpi=100)
