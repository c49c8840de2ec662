"""The embedded runtime: the DSP chain runs every block; the scene clusterer runs beside it.

As on a device, the audio core processes every block (default 32 samples = 2 ms at
16 kHz) and hands the same input to the scene classifier, which runs at its own, slower
cadence (it is fed every ``classifier_hop_blocks`` blocks, default 16 = 32 ms, and decides
once per its decision interval). Whenever the classifier's *stable* decision changes, its
cluster id is looked up in the cluster→profile map and the :class:`ProfileSwitcher` starts a
cross-fade at the next block boundary.

The classifier is any object with ``process(chunk: np.ndarray, sample_rate: int) -> list[SceneEvent]``
(events with attributes ``time_s``, ``cluster``, ``probs``, ``stable`` (int or None),
``profile`` (str or None) and ``inference_ms``) and ``reset()`` — e.g.
``catuvac.runtime.clusterer.SceneClusterer``. Without a classifier the initial profile stays.

Timing: the DSP time of every block (``perf_counter_ns``), the wall time of every classifier
call and the classifier's own ``inference_ms`` are recorded; the real-time factor is the wall
time of the whole simulation loop (DSP + classifier + bookkeeping) over the audio duration.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence

import numpy as np

from catuvac.runtime.defaults import CROSSFADE_S, DECISION_INTERVAL_S, DSP_BLOCK_SIZE
from catuvac.runtime.errors import CatuvacError
from catuvac.runtime.fileio import atomic_write, atomic_write_json, check_output_path

from .dsp import default_chain, measure_delay_samples
from .nalr import DEFAULT_AUDIOGRAM, Audiogram, nalr_band_gains
from .plugins import Chain, StreamSpec
from .profiles import ClusterMap, ProfileError, ProfileSet, ProfileSwitcher, default_cluster_map, load_cluster_map

__all__ = [
    "Classifier",
    "ClassifierUnavailable",
    "ProfileSwitch",
    "SimulationResult",
    "HearingAidSimulator",
    "make_classifier",
    "simulate",
]


if TYPE_CHECKING:
    from catuvac.runtime.clusterer import SceneEvent


class Classifier(Protocol):
    """What the simulator needs of a scene classifier (:class:`~catuvac.runtime.clusterer.SceneClusterer` is one)."""

    def process(self, chunk: np.ndarray, sample_rate: int) -> list[SceneEvent]: ...

    def reset(self) -> None: ...


class ClassifierUnavailable(CatuvacError, RuntimeError):
    """The scene clusterer could not be imported or constructed."""


@dataclass(frozen=True)
class ProfileSwitch:
    time_s: float  # block boundary where the cross-fade starts
    from_profile: str
    to_profile: str
    cluster: int | None
    decision_time_s: float | None  # the classifier event's own timestamp
    crossfade_end_s: float

    def to_dict(self) -> dict:
        return {
            "time_s": round(self.time_s, 4),
            "from": self.from_profile,
            "to": self.to_profile,
            "cluster": self.cluster,
            "decision_time_s": None if self.decision_time_s is None else round(self.decision_time_s, 4),
            "crossfade_end_s": round(self.crossfade_end_s, 4),
        }


@dataclass
class SimulationResult:
    """Everything one run produced: audio, traces and timings."""

    output: np.ndarray
    sample_rate: int
    block_size: int
    n_blocks: int
    duration_s: float
    wall_s: float
    dsp_ns: np.ndarray
    classifier_call_ns: np.ndarray
    events: list[dict]
    switches: list[ProfileSwitch]
    gains_db: np.ndarray  # (n_blocks, n_bands) total gain per band per block
    profile_index: np.ndarray  # (n_blocks,) index into profile_names of the active (target) profile
    profile_names: tuple[str, ...]
    initial_profile: str
    band_centres_hz: tuple[float, ...]
    insertion_gain_db: np.ndarray
    delay_samples_measured: int
    delay_samples_nominal: int
    cluster_map: ClusterMap
    cluster_map_origin: str
    crossfade_s: float
    limiter_ceiling_dbfs: float
    meta: dict = field(default_factory=dict)

    def report(self) -> dict:
        """The JSON report (units in the key names)."""
        dsp_ms = self.dsp_ns / 1e6
        inf = [e["inference_ms"] for e in self.events if e.get("inference_ms") is not None]
        call_ms = self.classifier_call_ns / 1e6
        block_s = self.block_size / self.sample_rate
        time_in: dict[str, float] = {n: 0.0 for n in self.profile_names}
        if self.n_blocks:
            counts = np.bincount(self.profile_index, minlength=len(self.profile_names))
            time_in = {n: round(float(c) * block_s, 3) for n, c in zip(self.profile_names, counts)}
        peak = float(np.max(np.abs(self.output))) if self.output.size else 0.0
        rep = {
            "sample_rate_hz": self.sample_rate,
            "block_size_samples": self.block_size,
            "block_ms": round(1000 * block_s, 4),
            "blocks": self.n_blocks,
            "duration_s": round(self.duration_s, 4),
            "algorithmic_delay_ms": round(1000 * self.delay_samples_measured / self.sample_rate, 4),
            "algorithmic_delay_samples": self.delay_samples_measured,
            "algorithmic_delay_nominal_samples": self.delay_samples_nominal,
            "dsp_ms_per_block_p50": float(np.percentile(dsp_ms, 50)) if dsp_ms.size else None,
            "dsp_ms_per_block_p99": float(np.percentile(dsp_ms, 99)) if dsp_ms.size else None,
            "dsp_ms_per_block_max": float(dsp_ms.max()) if dsp_ms.size else None,
            "dsp_budget_ms_per_block": round(1000 * block_s, 4),
            "classifier_ms_p99": float(np.percentile(inf, 99)) if inf else None,
            "classifier_ms_p50": float(np.percentile(inf, 50)) if inf else None,
            "classifier_call_ms_p99": float(np.percentile(call_ms, 99)) if call_ms.size else None,
            "classifier_calls": int(call_ms.size),
            "classifier_events": len(self.events),
            "real_time_factor": round(self.wall_s / self.duration_s, 6) if self.duration_s > 0 else None,
            "real_time_factor_dsp": round(float(self.dsp_ns.sum()) / 1e9 / self.duration_s, 6)
            if self.duration_s > 0 else None,
            "real_time_factor_classifier": round(float(self.classifier_call_ns.sum()) / 1e9 / self.duration_s, 6)
            if self.duration_s > 0 else None,
            "wall_s": round(self.wall_s, 4),
            "initial_profile": self.initial_profile,
            "profile_switches": [s.to_dict() for s in self.switches],
            "n_profile_switches": len(self.switches),
            "time_in_profile_s": time_in,
            "crossfade_s": self.crossfade_s,
            "cluster_map": self.cluster_map.to_dict(),
            "cluster_map_origin": self.cluster_map_origin,
            "band_centres_hz": [round(c, 1) for c in self.band_centres_hz],
            "insertion_gain_db": [round(float(g), 3) for g in self.insertion_gain_db],
            "output_peak_dbfs": round(20 * np.log10(max(peak, 1e-12)), 3),
            "limiter_ceiling_dbfs": self.limiter_ceiling_dbfs,
        }
        rep.update(self.meta)
        return rep


def make_classifier(model_path: str | os.PathLike, decision_interval: float = DECISION_INTERVAL_S, **kwargs: Any) -> Classifier:
    """Build ``catuvac.runtime.clusterer.SceneClusterer`` (imported lazily)."""
    try:
        from catuvac.runtime.clusterer import SceneClusterer  # type: ignore[import-not-found]
    except ImportError as e:
        raise ClassifierUnavailable(
            f"cannot import catuvac.runtime.clusterer.SceneClusterer ({e}); the streaming clusterer "
            "is part of catuvac.runtime — install the package (pip install -e .) or update the checkout"
        ) from e
    if not Path(model_path).is_file():
        raise ClassifierUnavailable(f"{model_path}: model file not found; export one with catuvac-export")
    return SceneClusterer(str(model_path), decision_interval=decision_interval, **kwargs)


class HearingAidSimulator:
    """The device: a prepared chain, a profile switcher, the cluster map and (optionally) a classifier."""

    def __init__(
        self,
        chain: Chain | None = None,
        profiles: ProfileSet | None = None,
        cluster_map: ClusterMap | Mapping[int | str, str] | str | os.PathLike | None = None,
        classifier: Classifier | None = None,
        *,
        audiogram: Audiogram | None = None,
        sample_rate: int = 16000,  # the classifier's and the DSP's rate: one input stream
        block_size: int = DSP_BLOCK_SIZE,
        crossfade_s: float = CROSSFADE_S,
        initial_profile: str | None = None,
        classifier_hop_blocks: int = 16,  # feed the classifier every 32 ms (its own cadence, not every block)
    ) -> None:
        self.profiles = profiles if profiles is not None else ProfileSet.default()
        if initial_profile is not None and initial_profile not in self.profiles:
            raise ProfileError(f"initial profile {initial_profile!r} is not in {list(self.profiles.names)}")
        if chain is None:
            chain = default_chain()
        if not chain.prepared:
            chain.prepare(StreamSpec(sample_rate, block_size))
        self.chain = chain
        self.spec = chain.spec
        layout = chain.band_layout
        if layout is None:
            raise ProfileError("the chain has no filterbank; profiles need band gains")
        self.audiogram = audiogram if audiogram is not None else DEFAULT_AUDIOGRAM
        try:
            gain_plugin = chain["gain"]
        except KeyError:
            gain_plugin = None
        if gain_plugin is not None:  # fitting: NAL-R prescription per band
            gain_plugin.set_param("gain_db", nalr_band_gains(self.audiogram, layout.centres_hz))
        self.insertion_gain_db = (
            np.asarray(gain_plugin.get_params()["gain_db"]) if gain_plugin is not None else np.zeros(layout.n_bands)
        )
        self.crossfade_s = float(crossfade_s)
        self.initial_profile = initial_profile or self.profiles.names[0]
        self.switcher = ProfileSwitcher(chain, self.profiles, self.initial_profile, crossfade_s)
        n_clusters = getattr(classifier, "n_clusters", None)
        n_clusters = int(n_clusters) if isinstance(n_clusters, (int, np.integer)) else None
        self.cluster_map = load_cluster_map(cluster_map, self.profiles, n_clusters)
        self.cluster_map_origin = "given" if cluster_map is not None else ("default" if self.cluster_map else "pending")
        self.classifier = classifier
        if classifier_hop_blocks < 1:
            raise ValueError(f"classifier_hop_blocks must be ≥ 1, got {classifier_hop_blocks}")
        self.classifier_hop_blocks = int(classifier_hop_blocks)
        self.delay_samples = measure_delay_samples(chain)
        self.reset()

    def reset(self) -> None:
        """Back to the power-on state (initial profile, cleared DSP state)."""
        self.chain.reset()
        self.switcher.reset(self.initial_profile)
        self._stable: int | None = None
        if self.classifier is not None:
            self.classifier.reset()

    # ------------------------------------------------------------------
    def _on_events(self, events: Sequence[SceneEvent], t_next: float, log: list, switches: list) -> None:
        for ev in events:
            probs = ev.probs
            rec = {
                "time_s": float(ev.time_s),
                "cluster": int(ev.cluster),
                "stable": None if ev.stable is None else int(ev.stable),
                "profile": ev.profile,
                "inference_ms": float(ev.inference_ms),
            }
            log.append(rec)
            if probs is not None and self.cluster_map_origin in ("pending", "given"):
                k = len(probs)
                if self.cluster_map_origin == "pending":
                    self.cluster_map = default_cluster_map(k, self.profiles)
                    self.cluster_map_origin = "default"
                else:
                    missing = self.cluster_map.missing(k)
                    if missing:
                        raise ProfileError(
                            f"the classifier has {k} clusters but the cluster map gives no profile for ids {missing}"
                        )
                    self.cluster_map_origin = "given (checked)"
            st = rec["stable"]
            if st is None:
                continue
            # a classifier that decides profiles itself (the runtime with the map: pooled decisions) is
            # followed as it is; otherwise its stable cluster is looked up in the map
            name = rec["profile"] or self.cluster_map.get(st)
            if not name or (st == self._stable and name == self.switcher.active):
                continue
            self._stable = st
            before = self.switcher.active
            if self.switcher.request(name):
                switches.append(
                    ProfileSwitch(t_next, before, name, st, rec["time_s"], t_next + self.crossfade_s)
                )

    def process(self, signal: np.ndarray, *, progress: bool = False) -> SimulationResult:
        """Run a whole mono float signal (at the chain's sample rate) block by block.

        Every call is a fresh run from power-on (:meth:`reset` first), so equal input gives
        equal output."""
        x = np.asarray(signal)
        if x.ndim != 1:
            raise ValueError(f"expected a mono signal shaped (samples,), got shape {x.shape}")
        if x.size == 0:
            raise ValueError("the input signal is empty")
        if not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"expected float samples in [-1, 1], got dtype {x.dtype}")
        finite = np.isfinite(x)
        if not finite.all():
            i = int(np.argmin(finite))
            raise ValueError(
                f"input contains {int(np.count_nonzero(~finite))} NaN/Inf sample(s), the first at sample {i} "
                f"({i / self.spec.sample_rate:.3f} s); the DSP cannot process them — fix the source"
            )
        from tqdm import tqdm

        self.reset()
        sr, B = self.spec.sample_rate, self.spec.block_size
        n = x.size
        n_blocks = -(-n // B)
        xin = np.zeros(n_blocks * B)
        xin[:n] = x
        xcls = np.ascontiguousarray(x, dtype=np.float32)
        xcls.setflags(write=False)
        out = np.zeros(n_blocks * B)
        nb = self.chain.band_layout.n_bands
        gains = np.zeros((n_blocks, nb), dtype=np.float32)
        prof_idx = np.zeros(n_blocks, dtype=np.int16)
        dsp_ns = np.zeros(n_blocks, dtype=np.int64)
        call_ns: list[int] = []
        events: list[dict] = []
        switches: list[ProfileSwitch] = []
        names = self.profiles.names
        name_to_idx = {nm: i for i, nm in enumerate(names)}
        frame = self.chain.band_frame
        step = self.switcher.step
        proc = self.chain.process
        clf = self.classifier
        hop = self.classifier_hop_blocks
        fed = 0
        pc = time.perf_counter_ns
        cur_idx = name_to_idx[self.switcher.active]
        bar = tqdm(total=n_blocks, unit="block", desc="simulate", disable=not progress, mininterval=0.5)
        t_start = pc()
        for b in range(n_blocks):
            s = b * B
            t0 = pc()
            step()
            out[s : s + B] = proc(xin[s : s + B])
            dsp_ns[b] = pc() - t0
            gains[b] = frame.gain_db
            prof_idx[b] = cur_idx
            if clf is not None and ((b + 1) % hop == 0 or b == n_blocks - 1):
                end = min(s + B, n)
                if end > fed:
                    tc = pc()
                    evs = clf.process(xcls[fed:end], sr)
                    call_ns.append(pc() - tc)
                    fed = end
                    if evs:
                        self._on_events(evs, (b + 1) * B / sr, events, switches)
                        cur_idx = name_to_idx[self.switcher.active]
            if (b & 511) == 511:
                bar.update(512)
        wall_ns = pc() - t_start
        bar.update(n_blocks - bar.n)
        bar.close()
        limiter: Any = next((p for p in self.chain.plugins if type(p).__name__ == "Limiter"), None)
        return SimulationResult(
            output=out[:n],
            sample_rate=sr,
            block_size=B,
            n_blocks=n_blocks,
            duration_s=n / sr,
            wall_s=wall_ns / 1e9,
            dsp_ns=dsp_ns,
            classifier_call_ns=np.asarray(call_ns, dtype=np.int64),
            events=events,
            switches=switches,
            gains_db=gains,
            profile_index=prof_idx.astype(np.int64),
            profile_names=names,
            initial_profile=self.initial_profile,
            band_centres_hz=self.chain.band_layout.centres_hz,
            insertion_gain_db=self.insertion_gain_db,
            delay_samples_measured=self.delay_samples,
            delay_samples_nominal=self.chain.algorithmic_delay_samples,
            cluster_map=self.cluster_map,
            cluster_map_origin=self.cluster_map_origin,
            crossfade_s=self.crossfade_s,
            limiter_ceiling_dbfs=float(limiter.ceiling_dbfs) if limiter is not None else float("nan"),
        )

    def process_file(
        self, input_path: str | os.PathLike, output_path: str | os.PathLike | None = None, *, progress: bool = False
    ) -> SimulationResult:
        """Read a recording (any rate / channels; resampled to the chain's rate), run it, write the output."""
        from catuvac.runtime.audio import load_audio

        x = load_audio(input_path, self.spec.sample_rate)
        res = self.process(x, progress=progress)
        if output_path is not None:
            write_wav(output_path, res.output, res.sample_rate)
        return res


def write_wav(path: str | os.PathLike, y: np.ndarray, sample_rate: int) -> None:
    import soundfile as sf

    y16 = np.clip(y, -1.0, 1.0).astype(np.float32)
    atomic_write(path, lambda f: sf.write(f, y16, sample_rate, subtype="PCM_16", format="WAV"))


def _check_outputs(input_path: Any, output_path: Any, model_path: Any, report_path: Any, plot_path: Any, *inputs: Any) -> None:
    """Before any work: output names and folders usable, and no output overwrites an input or another output."""
    ins = {"--input": input_path, "--model": model_path}
    ins.update({f"input {i}": p for i, p in enumerate(inputs) if isinstance(p, (str, os.PathLike))})
    check_output_path(output_path, "--output", (".wav",), inputs=ins)
    if report_path is not None:
        check_output_path(report_path, "--report", (".json",), inputs={**ins, "--output": output_path})
    if plot_path is not None:
        check_output_path(plot_path, "--plot", (".png", ".svg", ".pdf"), inputs={**ins, "--output": output_path, "--report": report_path})


def simulate(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    model_path: str | os.PathLike | None = None,
    audiogram: Audiogram | str | os.PathLike | None = None,
    profiles: ProfileSet | str | os.PathLike | None = None,
    cluster_map: Mapping | str | os.PathLike | None = None,
    report_path: str | os.PathLike | None = None,
    plot_path: str | os.PathLike | None = None,
    *,
    classifier: Classifier | None = None,
    block_size: int = DSP_BLOCK_SIZE,
    crossfade_s: float = CROSSFADE_S,
    decision_interval: float = DECISION_INTERVAL_S,
    initial_profile: str | None = None,
    progress: bool = True,
    decision: str | None = None,
    decision_config: Any = None,
    truth: str | os.PathLike | None = None,
    scene_profiles: str | os.PathLike | None = None,
) -> dict:
    """Process a recording as the device would; write audio, JSON report and plot; return the report.

    ``classifier`` overrides ``model_path`` (any object with the clusterer's ``process``);
    with neither, the initial profile stays for the whole recording. The model's clusterer gets
    the cluster map, so it pools q(y|x) per profile and decides with ``decision`` (a rule of
    :mod:`catuvac.runtime.decisions`). With ``truth`` (a timeline JSON) the report carries the
    profile-level score of the run (:func:`catuvac.runtime.scoring.score_run`) under ``score``.
    """
    from catuvac.runtime.audio import load_audio

    _check_outputs(input_path, output_path, model_path, report_path, plot_path, audiogram, profiles, cluster_map)
    if audiogram is not None and not isinstance(audiogram, Audiogram):
        audiogram = Audiogram.load(audiogram)
    if profiles is not None and not isinstance(profiles, ProfileSet):
        profiles = ProfileSet.load(profiles)
    truth_tl = table = None
    if truth is not None:  # read before the (long) run: a bad file fails fast
        from catuvac.runtime.scoring import load_scene_profiles
        from catuvac.runtime.timeline import load_truth

        truth_tl, table = load_truth(truth), load_scene_profiles(scene_profiles)
    if classifier is None and model_path is not None:
        kw: dict[str, Any] = {k: v for k, v in (("decision", decision), ("decision_config", decision_config)) if v is not None}
        if cluster_map is not None:
            kw["profile_map"] = load_cluster_map(cluster_map, profiles or ProfileSet.default()).to_dict()
        classifier = make_classifier(model_path, decision_interval=decision_interval, **kw)
    sim = HearingAidSimulator(
        profiles=profiles, cluster_map=cluster_map, classifier=classifier, audiogram=audiogram,
        block_size=block_size, crossfade_s=crossfade_s, initial_profile=initial_profile,
    )
    x = load_audio(input_path, sim.spec.sample_rate)
    res = sim.process(x, progress=progress)
    write_wav(output_path, res.output, res.sample_rate)
    res.meta.update({
        "input": str(input_path),
        "output": str(output_path),
        "model": None if model_path is None else str(model_path),
        "audiogram": sim.audiogram.to_dict(),
        "profiles_source": sim.profiles.source,
    })
    rep = res.report()
    if truth_tl is not None:
        from catuvac.runtime.scoring import score_run

        ev = res.events
        # the profile the device applied for each decision: the classifier's own (pooled) one, else the map's
        applied = [e["profile"] or (sim.cluster_map.get(e["stable"]) if e["stable"] is not None else None) for e in ev]
        rep["score"] = score_run([e["time_s"] for e in ev], applied if cluster_map is not None else None,
                                 [e["stable"] for e in ev], truth_tl, table, raw=[e["cluster"] for e in ev],
                                 duration_s=res.duration_s)
    if plot_path is not None:
        from .plot import plot_simulation

        plot_simulation(x, res, plot_path)
        rep["plot"] = str(plot_path)
    if report_path is not None:
        atomic_write_json(report_path, rep)
    return rep
