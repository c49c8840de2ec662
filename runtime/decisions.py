"""The decision layer: per-window q(y|x) → the program the wearer gets.

Two steps, both numpy-only, with explicit bounded state and no threads:

1. **Pooling** (:class:`ProfilePooling`): with a cluster → profile map, q(y|x) is summed over
   the clusters mapped to each profile, so the decision runs over *profiles*: two clusters of
   one profile never switch the program, and over-clustering (K larger than the number of
   profiles) costs nothing at decision time. With a fitted map's evidence, each cluster's q is
   spread over the profiles in proportion to p(profile | cluster) from the training split.
   Without a map the states are the clusters.

2. **A decision rule** over those S states, fed once per decision (``update(q, t)``):

   ``"hmm"`` — an online HMM forward filter (:class:`HmmDecider`). The hidden state is the
   scene's profile; it stays with probability ``a = exp(−Δt / dwell_s)`` per step (an expected
   dwell of ``dwell_s``) and otherwise moves to any other state uniformly. The emission of a
   window is its pooled posterior, floored and tempered: ``e = ((1−ε)·q + ε/S)^(1/T)``. The
   temperature T > 1 accounts for overlapping windows (a 4-s window every second shares 3/4 of
   its audio with the previous one, so consecutive posteriors are not independent evidence);
   the floor ε keeps one confident wrong window from ruling a state out. The program switches
   to the filtered argmax once its belief reaches ``switch_prob``, or once the current
   program's own belief has fallen below ``hold_prob`` (no program is kept that the filter
   itself finds implausible just because the evidence splits between two successors).

   The transition prior is driven by the sound itself: while an acoustic change detector
   (:mod:`catuvac.runtime.changepoint`, fed the front-end's frames) reports that the spectral
   envelope has just moved, the expected dwell drops to ``change_dwell_s``, so the filter
   follows a real scene change within a few windows; a misreading of a steady sound finds the
   filter sticky and does not switch the program.

   ``"fixed-lag"`` — the same model, but each decision is the smoothed posterior of the state
   ``lag_s`` seconds ago, p(s_{t−L} | e_{1..t}) (forward messages kept for the last L s, one
   backward pass over them per decision): the program follows the evidence L s late, with
   the benefit of L s of hindsight.

   ``"ema"`` — the original rule (:mod:`catuvac.runtime.smoothing`): EMA of q, hysteresis,
   confirmation and minimum dwell.

All rules answer ``update(q, t, change_score=0.0) -> (belief, decision, changed)`` and
``reset()``; ``decision`` is the current state index, ``switches`` the number of changes after
the first decision. The outputs depend only on the sequence of (q, t, change score), so the
clusterer stays chunk-invariant.
The default rule and its parameters were chosen by measurement on long built-in days whose
seeds are kept for tuning (``python -m catuvac.runtime.tradeoff``; README "Decision quality").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence

import numpy as np

from .params import bounded, check_bounds
from .profiles_map import FEATURE_BLOCKS
from .smoothing import Smoother, SmootherError, SmoothingConfig

if TYPE_CHECKING:
    from .profiles_map import ProfileMap

__all__ = [
    "DECISION_RULES",
    "DEFAULT_RULE",
    "DecisionError",
    "DecisionRule",
    "HmmConfig",
    "HmmDecider",
    "ProfilePooling",
    "as_pooling",
    "make_decider",
    "can_switch",
    "saturation_belief",
    "decision_config",
    "replay",
]

DECISION_RULES = ("hmm", "fixed-lag", "ema")


class DecisionError(SmootherError):
    """A decision-rule name or parameter that cannot be used; the message says what to pass."""


@dataclass(frozen=True)
class HmmConfig:
    """Parameters of the HMM filter (``lag_s = 0``) and its fixed-lag variant (``lag_s > 0``)."""

    # Values: the best setting on the six tuning days (seeds 100–105, 30 min), objective averaged
    # over the `quick` models of seeds 0–2 with their fitted maps (evidence rows), `python -m
    # catuvac.runtime.tradeoff --tune`'s grid (dwell 5–200 s, temperature 2–8, switch 0.8–0.98,
    # floor 0.02/0.1, hold 0/0.02/0.05), among settings that switch on q = 0.8 evidence
    # (can_switch); 2026-12-06. Before: floor 0.1, no hold rule (plain maps, one model); until
    # 2026-12-06: dwell 30 s, temperature 8, floor 0.02, switch 0.8. 2026-12-07, with the change
    # detector and the maps' level model: dwell 60 → 200 s and temperature 2 → 2.5 (objective
    # 0.921 → 0.944 over the three models: spurious switches 3.7 → 2.1 / h, transient switches
    # 7 → 2, median delay 4.9 → 5.5 s; temperature 3: 0.934, 6.2 s).
    #
    # Expected dwell of the hidden state (self-transition exp(−Δt/dwell_s)). Long: the sticky
    # prior, together with a high switch threshold, holds a program through short misreadings;
    # the built-in scenes last 20 s – 5 min. Real changes are followed through the change
    # regime below, so the dwell outside it can be long.
    dwell_s: float = bounded(200.0, gt=0)
    # Emission tempering: e = q^(1/T). Consecutive 4-s windows every second share 3/4 of their
    # audio, so one posterior is worth a fraction of an independent observation; 2.5 with the
    # floor below lets a new scene's evidence accumulate within seconds.
    temperature: float = bounded(2.5, gt=0)
    # Probability floor mixed into q before tempering: no state is ever ruled out by one window.
    # 0.02 since the maps carry evidence rows (a mixed cluster's windows are soft already; 0.1
    # before, with plain maps).
    floor: float = bounded(0.02, ge=0, lt=1)
    # Switch the program only when the candidate's belief reaches this: the switching cost of
    # a Bayes decision.
    switch_prob: float = bounded(0.95, ge=0, le=1)
    # Hold the current program only while its own belief is at least this; below it the program
    # moves to the most probable state even if no state has reached ``switch_prob`` — when the
    # evidence splits between two other profiles (speech read half as quiet, half as speech in
    # noise), a program that is plainly wrong is not kept for lack of one clear successor.
    # 0 = hold until a successor reaches switch_prob (the rule before 2026-12-06); 0.05: the
    # tuning grid's best (README "Decision quality").
    hold_prob: float = bounded(0.05, ge=0, lt=1)
    # Fixed-lag smoothing: decide about the state this many seconds ago (0 = pure filter).
    lag_s: float = bounded(0.0, ge=0, le=60, unit="s")
    # Acoustic change (:mod:`catuvac.runtime.changepoint`): while the sound has just changed —
    # a change score ≥ ``change_threshold_db`` within the last ``change_hold_s`` — the expected
    # dwell is ``change_dwell_s`` instead of ``dwell_s``: the filter forgets the old scene and
    # follows the new evidence within a few windows; elsewhere it stays sticky, so misread
    # windows of a steady sound do not move it. A short dwell also caps the belief a state can
    # reach (the chain leaks every step), so during a change only sharp evidence switches; 3 s
    # with 6 dB is the setting that helped sharp *and* soft models on the tuning days
    # (seeds 100–105, 2026-12-07; `quick` seeds 0–2: median delay 6.2 → 4.9 s, objective 0.816
    # → 0.829; four older, softer models: 0.643 → 0.650; K = 21: 0.689 → 0.723). 2 s with
    # 2.5 dB was better still for the sharp models (4.6 s, 2.8 spurious / h) but left soft
    # models unable to switch for whole scenes (missed changes 2 → 8–13): not the default.
    change_dwell_s: float = bounded(3.0, ge=0, unit="s", note="0 = no change detector: dwell_s throughout")
    # 6 dB: 95 % of the tuning days' profile changes score at least this within 4 s of their
    # cross-fade; a steady scene (transients included) reaches it 13 % of the time.
    change_threshold_db: float = bounded(6.0, gt=0, unit="dB")
    # The window's 4 s plus a few decisions: the new scene fills the window and the filter
    # settles before the stickiness returns.
    change_hold_s: float = bounded(8.0, ge=0, unit="s")
    # Emission tempering while the sound has just changed (the change regime above): a lower
    # temperature there lets a new scene's evidence reach ``switch_prob`` in fewer windows, while
    # steady sound keeps ``temperature``'s caution. 0 = ``temperature`` throughout. 2.25: the
    # tuning grid's choice (2026-12-07, tuning days, `quick` seeds 0–2; the grid picks the best
    # objective among settings meeting every acceptance target, tradeoff.TARGETS): median delay
    # 5.11 → 4.78 s (the only target the old defaults missed there), spurious 0.56 / h either way,
    # accuracy 0.983 → 0.986; 2.0: 4.48 s but 1.2 / h; 1.5: 4.0 s but 3 transient switches.
    change_temperature: float = bounded(2.25, ge=0, note="0 = temperature throughout")

    def __post_init__(self) -> None:
        check_bounds(self, DecisionError)


# Defaults of each rule: the best setting of each on the tuning days (seeds 100–105, 30 min),
# averaged over the `quick` models of seeds 0, 1, 2 with their fitted maps (evidence rows), the
# grids of `python -m catuvac.runtime.tradeoff --tune` (objective in that module), 2026-12-06.
_DEFAULTS: dict[str, Any] = {
    "hmm": HmmConfig(),
    # the change detector off: with it the fixed-lag rule scored 0.773 against 0.800 on the tuning days
    # (2026-12-07; its lag already buys the hindsight the change regime would)
    "fixed-lag": HmmConfig(dwell_s=30.0, temperature=2.0, floor=0.1, switch_prob=0.9, lag_s=2.0, hold_prob=0.02,
                           change_dwell_s=0.0),
    # the EMA rule's own defaults (SmoothingConfig) with the tuning days' averaging, hysteresis, confirmation and dwell
    "ema": SmoothingConfig(ema_seconds=3.0, hysteresis=0.3, confirm_seconds=1.0, min_dwell_seconds=20.0),
}
# The rule with the best objective on the tuning days (2026-12-07 with the change detector: hmm
# 0.829, fixed-lag 0.800; 2026-12-06, three quick models with
# evidence maps: hmm 0.711, fixed-lag 0.679, ema 0.677; K = 14 plain maps, one model: hmm
# 0.521, fixed-lag 0.507, ema 0.463; K = 7 in 2026-11: hmm 0.134, fixed-lag 0.123, ema 0.099).
DEFAULT_RULE = "hmm"


class DecisionRule(Protocol):
    @property
    def n_states(self) -> int: ...

    @property
    def decision(self) -> int | None: ...

    switches: int

    def reset(self) -> None: ...

    def update(self, probs: np.ndarray, t: float, change_score: float = 0.0) -> tuple[np.ndarray, int, bool]: ...


def decision_config(rule: str, **overrides: Any) -> HmmConfig | SmoothingConfig:
    """The default config of ``rule`` with ``overrides`` (field names of its config class)."""
    if rule not in _DEFAULTS:
        raise DecisionError(f"unknown decision rule {rule!r}; choose one of {', '.join(DECISION_RULES)}")
    base = _DEFAULTS[rule]
    names = {f.name for f in fields(base)}
    bad = sorted(set(overrides) - names)
    if bad:
        raise DecisionError(f"decision rule {rule!r} has no parameter(s) {bad}; it has {sorted(names)}")
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})


class HmmDecider:
    """Forward filter (``lag_s = 0``) or fixed-lag smoother over ``n_states`` sticky states.

    State: the current forward message (S), and for the fixed-lag variant ring buffers of the
    last ``n_lag + 1`` forward messages, emissions and self-transition probabilities —
    ``n_lag = round(lag_s / decision_interval)`` is fixed at construction, so memory is bounded.
    """

    def __init__(self, n_states: int, config: HmmConfig | None = None, decision_interval: float = 1.0) -> None:
        if n_states < 1:
            raise DecisionError(f"n_states must be ≥ 1, got {n_states}")
        if not (math.isfinite(decision_interval) and decision_interval > 0):
            raise DecisionError(f"decision_interval must be positive, got {decision_interval!r}")
        self.n_states = int(n_states)
        self.config = config if config is not None else HmmConfig()
        self.n_lag = int(round(self.config.lag_s / decision_interval))
        n, S = self.n_lag + 1, self.n_states
        self._alpha = np.zeros((n, S))
        self._emit = np.zeros((n, S))
        self._stay = np.zeros(n)
        self._e = np.zeros(S)
        self._beta = np.zeros(S)
        self._tmp = np.zeros(S)
        self.reset()

    def reset(self) -> None:
        self._alpha[:] = 0.0
        self._count = 0
        self._last_t = 0.0
        self._change_t = -math.inf  # time of the last acoustic change score ≥ the threshold
        self.decision: int | None = None
        self.switches = 0

    def _stay_prob(self, dt: float, t: float) -> float:
        c = self.config
        return math.exp(-max(dt, 0.0) / (c.change_dwell_s if self._in_change(t) else c.dwell_s))

    def _in_change(self, t: float) -> bool:
        """Whether stream time ``t`` falls in the change regime (a change seen within change_hold_s)."""
        c = self.config
        return c.change_dwell_s > 0 and t - self._change_t <= c.change_hold_s

    @property
    def changing(self) -> bool:
        """Whether the last update fell in an acoustic change (the short dwell applied)."""
        return self._in_change(self._last_t)

    def _transition(self, v: np.ndarray, stay: float, out: np.ndarray) -> np.ndarray:
        """out = Aᵀv for the sticky matrix (A symmetric): stay·v + (1−stay)/(S−1)·(Σv − v)."""
        S = self.n_states
        if S == 1:
            np.copyto(out, v)
            return out
        move = (1.0 - stay) / (S - 1)
        total = float(v.sum())  # before ``out`` (which may be ``v``) is overwritten
        np.multiply(v, stay - move, out=out)
        out += move * total
        return out

    def update(self, probs: np.ndarray, t: float, change_score: float = 0.0) -> tuple[np.ndarray, int, bool]:
        """Feed the (pooled) posterior at stream time ``t`` and the acoustic change score there
        (dB, :class:`~catuvac.runtime.changepoint.ChangeDetector`; 0 = no change seen)."""
        q = np.asarray(probs, dtype=np.float64).reshape(-1)
        S = self.n_states
        if q.shape[0] != S:
            raise DecisionError(f"expected {S} probabilities, got {q.shape[0]}")
        c = self.config
        if change_score >= c.change_threshold_db:
            self._change_t = t
        e = self._e
        np.multiply(q, 1.0 - c.floor, out=e)
        e += c.floor / S
        np.maximum(e, 1e-300, out=e)
        temperature = c.change_temperature if c.change_temperature > 0 and self._in_change(t) else c.temperature
        np.power(e, 1.0 / temperature, out=e)
        n = self.n_lag + 1
        i = self._count % n
        prev = self._alpha[(self._count - 1) % n]
        if self._count == 0:
            stay = 1.0
            a = self._alpha[i]
            np.copyto(a, e)  # uniform prior
        else:
            stay = self._stay_prob(t - self._last_t, t)
            a = self._transition(prev, stay, self._alpha[i])
            a *= e
        a /= a.sum()
        self._emit[i] = e
        self._stay[i] = stay
        self._count += 1
        self._last_t = t
        belief = self._lagged() if self.n_lag else a.copy()
        return self._decide(belief)

    def _lagged(self) -> np.ndarray:
        """p(s_{t−L} | e_1..t): the oldest kept forward message times a backward pass."""
        n = self.n_lag + 1
        k = min(self._count, n)  # messages available
        newest = (self._count - 1) % n
        beta = self._beta
        beta[:] = 1.0
        for j in range(k - 1):  # from the newest step back to the one after the oldest
            idx = (newest - j) % n
            np.multiply(self._emit[idx], beta, out=self._tmp)
            self._transition(self._tmp, float(self._stay[idx]), beta)
            beta /= beta.sum()
        oldest = (newest - (k - 1)) % n
        post = self._alpha[oldest] * beta
        post /= post.sum()
        return post

    def _decide(self, belief: np.ndarray) -> tuple[np.ndarray, int, bool]:
        cand = int(np.argmax(belief))
        if self.decision is None:
            self.decision = cand
            return belief, cand, True
        if cand != self.decision and (belief[cand] >= self.config.switch_prob
                                      or belief[self.decision] < self.config.hold_prob):
            self.decision = cand
            self.switches += 1
            return belief, cand, True
        return belief, self.decision, False


def saturation_belief(config: HmmConfig, n_states: int, p: float = 0.95, steps: int = 60) -> float:
    """The belief a state reaches after ``steps`` decisions of steady evidence q = p for it.

    With a short dwell, strong tempering and a floor, the filter leaks belief to the other
    states every step, so it saturates below 1; a ``switch_prob`` above that level could never
    be reached and the program would never switch. Tuning keeps only settings where this stays
    above ``switch_prob`` (see :func:`can_switch`).
    """
    d = HmmDecider(n_states, replace(config, lag_s=0.0))
    q = np.full(n_states, (1.0 - p) / max(n_states - 1, 1))
    q[0] = p
    b = np.zeros(n_states)
    for i in range(steps):
        b = d.update(q, float(i))[0]
    return float(b[0])


# Steady evidence a setting must be able to switch on. 0.8, not 0.95: the K = 14 `quick` model is
# near one-hot, but the device model and models on real audio give softer posteriors, and a
# setting tuned on a sharp model's days (dwell 5 s, temperature 4: belief saturates at 0.71–0.83
# for q = 0.8) then never switches at all (the K = 14 device model on the long days, 2026-12-06).
SWITCH_EVIDENCE = 0.8


def can_switch(config: HmmConfig, max_states: int = 8, margin: float = 0.03, p: float = SWITCH_EVIDENCE) -> bool:
    """Whether steady evidence q = ``p`` for one state lifts its belief ``margin`` above
    ``switch_prob`` for every number of states from 2 to ``max_states``."""
    return all(saturation_belief(config, s, p=p) >= config.switch_prob + margin for s in range(2, max_states + 1))


class _EmaDecider(Smoother):
    """The EMA / hysteresis / confirmation / dwell rule under the common interface."""

    @property
    def n_states(self) -> int:
        return self.n_clusters

    @property
    def decision(self) -> int | None:
        return self.stable

    def update(self, probs: np.ndarray, t: float, change_score: float = 0.0) -> tuple[np.ndarray, int, bool]:
        """As :meth:`Smoother.update`; the EMA rule does not use the acoustic change score."""
        return super().update(probs, t)


def make_decider(
    rule: str, n_states: int, config: HmmConfig | SmoothingConfig | None = None, decision_interval: float = 1.0
) -> DecisionRule:
    """A fresh decision rule ``rule`` (one of :data:`DECISION_RULES`) over ``n_states`` states."""
    if rule not in DECISION_RULES:
        raise DecisionError(f"unknown decision rule {rule!r}; choose one of {', '.join(DECISION_RULES)}")
    cfg = config if config is not None else _DEFAULTS[rule]
    if rule == "ema":
        if not isinstance(cfg, SmoothingConfig):
            raise DecisionError(f"the 'ema' rule takes a SmoothingConfig, got {type(cfg).__name__}")
        return _EmaDecider(n_states, cfg)
    if not isinstance(cfg, HmmConfig):
        raise DecisionError(f"the {rule!r} rule takes an HmmConfig, got {type(cfg).__name__}")
    if rule == "hmm" and cfg.lag_s:
        raise DecisionError("the 'hmm' rule is the pure filter (lag_s = 0); use 'fixed-lag' for lag_s > 0")
    if rule == "fixed-lag" and not cfg.lag_s:
        raise DecisionError("the 'fixed-lag' rule needs lag_s > 0")
    return HmmDecider(n_states, cfg, decision_interval)


class ProfilePooling:
    """Pool q(y|x) per profile: ``pooled[s] = Σ_k q[k] · W[k, s]``.

    With a plain map ``W[k, s]`` is 1 where ``s`` is cluster ``k``'s profile (the sum of q over
    each profile's clusters); with a map's evidence rows (``catuvac-map``) row ``k`` is
    p(profile | cluster k) from the training split, so a cluster the training split saw mixed
    gives mixed evidence. ``states`` are the distinct profiles of clusters ``0..K−1`` in
    cluster order, then any profile named only in evidence rows; ``index[k]`` is the state of
    cluster ``k``'s own profile. :meth:`representative` picks the cluster reported as
    ``stable`` for a profile decision (the cluster giving that state the most evidence in the
    current window).

    With a map's **window-feature** models (``features``: ``{"level": (grid, {profile: row}),
    "level_spread": …}``, :data:`~catuvac.runtime.profiles_map.FEATURE_BLOCKS`)
    ``pool(q, level_db, level_spread_db)`` also multiplies each state by the likelihood of the
    window's value of each feature (linear interpolation; a value outside the grid counts as
    the nearest end) and renormalizes: p(profile | x) ∝ Σ_k q[k] · W[k, s] · Π_f p(f | s) — the
    level is the cue the per-window normalization removes (a quiet room and vehicle rumble share
    a spectral shape), the level's spread over the window tells one talker from a crowd. A state
    a feature model does not cover gets a flat likelihood for it.
    """

    def __init__(self, cluster_profiles: Sequence[str], evidence: Sequence[Mapping[str, float]] | None = None,
                 features: Mapping[str, tuple[Sequence[float], Mapping[str, Sequence[float]]]] | None = None) -> None:
        if not cluster_profiles:
            raise DecisionError("pooling needs at least one cluster")
        if evidence is not None and len(evidence) != len(cluster_profiles):
            raise DecisionError(f"{len(evidence)} evidence rows for {len(cluster_profiles)} clusters")
        states: list[str] = []
        for p in [*cluster_profiles, *(n for row in evidence or () for n in row)]:
            if p not in states:
                states.append(p)
        self.states = tuple(states)
        self.cluster_profiles = tuple(cluster_profiles)
        self.index = np.array([states.index(p) for p in cluster_profiles], dtype=np.intp)
        self.weights = np.zeros((len(cluster_profiles), len(states)))
        if evidence is None:
            self.weights[np.arange(len(cluster_profiles)), self.index] = 1.0
        else:
            for k, row in enumerate(evidence):
                for name, w in row.items():
                    self.weights[k, states.index(name)] = w
            self.weights /= self.weights.sum(axis=1, keepdims=True)
        self._pooled = np.zeros(len(states))
        feats = dict(features or {})
        unknown = sorted(set(feats) - set(FEATURE_BLOCKS))
        if unknown:
            raise DecisionError(f"unknown window feature(s) {unknown}; known: {list(FEATURE_BLOCKS)}")
        # (block, grid (G,), likelihood (S, G)) per window feature, in FEATURE_BLOCKS order
        self.features = [(b, *self._likelihood_table(*feats[b])) for b in FEATURE_BLOCKS if b in feats]

    def _likelihood_table(self, grid: Sequence[float], rows: Mapping[str, Sequence[float]]) -> tuple[np.ndarray, np.ndarray]:
        g = np.asarray(grid, dtype=np.float64)
        lik = np.full((len(self.states), g.size), np.nan)
        for i, name in enumerate(self.states):
            if name in rows:
                lik[i] = np.asarray(rows[name], dtype=np.float64)
        covered = ~np.isnan(lik).any(axis=1)
        flat = float(np.mean(lik[covered])) if covered.any() else 1.0
        return g, np.where(np.isnan(lik), flat, lik)

    @classmethod
    def from_map(cls, profile_map: ProfileMap, n_clusters: int, use_level: bool = True) -> "ProfilePooling":
        """Pooling for a model of ``n_clusters`` with a map's profiles (and evidence and window-
        feature models, if it has them; ``use_level=False`` ignores the level model — the one
        that needs calibrated input — and keeps the others)."""
        evidence = [profile_map.evidence_for(k) for k in range(n_clusters)] if profile_map.has_evidence else None
        feats = {k: v for k, v in profile_map.features.items() if use_level or k != "level"}
        return cls([profile_map.profile_for(k) for k in range(n_clusters)], evidence, feats)

    @property
    def uses_level(self) -> bool:
        return any(b == "level" for b, _, _ in self.features)

    @property
    def feature_blocks(self) -> tuple[str, ...]:
        return tuple(b for b, _, _ in self.features)

    @property
    def n_states(self) -> int:
        return len(self.states)

    def pool(self, q: np.ndarray, level_db: float | None = None, level_spread_db: float | None = None) -> np.ndarray:
        """p(state | x): q pooled through the evidence rows, times the likelihood of each window
        feature the pooling has a model for and is given a value of."""
        out = self._pooled
        np.dot(np.asarray(q, dtype=np.float64).reshape(-1), self.weights, out=out)
        values = {"level": level_db, "level_spread": level_spread_db}
        weighed = False
        for block, grid, lik in self.features:
            v = values[block]
            if v is None:
                continue
            weighed = True
            for i in range(out.size):  # S ≤ a handful of profiles: scalar interpolation, no allocation
                out[i] *= np.interp(v, grid, lik[i])
        if weighed:
            total = out.sum()
            if not total > 0:  # every likelihood 0 here (a map fitted without a floor): ignore the features
                np.dot(np.asarray(q, dtype=np.float64).reshape(-1), self.weights, out=out)
            else:
                out /= total
        return out

    def representative(self, q: np.ndarray, state: int) -> int:
        return int(np.argmax(np.asarray(q).reshape(-1) * self.weights[:, state]))


def as_pooling(pooling: Sequence[str] | ProfilePooling) -> ProfilePooling:
    """``pooling`` itself, or the plain pooling of one profile name per cluster."""
    return pooling if isinstance(pooling, ProfilePooling) else ProfilePooling(pooling)


def _per_window(values: Sequence[float] | np.ndarray | None, n: int, what: str) -> list[float | None]:
    if values is None:
        return [None] * n
    out: list[float | None] = [float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1)]
    if len(out) != n:
        raise DecisionError(f"expected one {what} per window ({n}), got {len(out)}")
    return out


def replay(
    rule: str,
    probs: np.ndarray,
    times: Sequence[float] | np.ndarray,
    cluster_profiles: Sequence[str] | ProfilePooling | None = None,
    config: HmmConfig | SmoothingConfig | None = None,
    decision_interval: float = 1.0,
    change_scores: Sequence[float] | np.ndarray | None = None,
    levels_db: Sequence[float] | np.ndarray | None = None,
    level_spreads_db: Sequence[float] | np.ndarray | None = None,
) -> list[Any]:
    """Offline replay of a rule over recorded per-window q(y|x) (N × K) at ``times``
    (with the acoustic change score of each window, if recorded; ``None`` = no change seen;
    and each window's level and level spread, dB, for a pooling with window-feature models;
    ``None`` = that feature unused).

    Returns the decision per window: profile names when ``cluster_profiles`` (one per
    cluster, or a :class:`ProfilePooling` with a map's evidence) is given — pooled exactly as
    the streaming clusterer does — else state indices.
    The same code path as :class:`~catuvac.runtime.clusterer.SceneClusterer`, so replaying a
    recorded day equals streaming it.
    """
    p = np.asarray(probs, dtype=np.float64)
    pool = as_pooling(cluster_profiles) if cluster_profiles is not None else None
    dec = make_decider(rule, pool.n_states if pool else p.shape[1], config, decision_interval)
    scores = np.zeros(len(p)) if change_scores is None else np.asarray(change_scores, dtype=np.float64)
    if scores.shape != (len(p),):
        raise DecisionError(f"expected one change score per window ({len(p)}), got shape {scores.shape}")
    levels, spreads = (_per_window(v, len(p), what) for v, what in ((levels_db, "level"), (level_spreads_db, "level spread")))
    out: list[Any] = []
    for q, t, c, lv, sp in zip(p, times, scores, levels, spreads):
        _, d, _ = dec.update(pool.pool(q, lv, sp) if pool else q, float(t), float(c))
        out.append(pool.states[d] if pool else d)
    return out
