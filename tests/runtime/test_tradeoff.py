"""The trade-off benchmark on synthetic posteriors (and one tiny end-to-end run)."""

import json

import numpy as np
import pytest

from catuvac.runtime.decisions import HmmConfig, decision_config
from catuvac.runtime.timeline import Segment, Transient, Truth
from catuvac.runtime.tradeoff import DayPosteriors, _brief, main, meets_targets, objective, plot_tradeoff, score_rule, sweep, tune

TABLE = {"a": "quiet", "b": "music", "c": "wind"}


def synthetic_day(seed: int) -> DayPosteriors:
    """120 s: scene a, b, c, 40 s each; q points at the right cluster 80 % of the time."""
    rng = np.random.default_rng(seed)
    t = np.arange(4.0, 120.0)
    truth_idx = (t // 40).astype(int)
    noisy = np.where(rng.random(t.size) < 0.8, truth_idx, rng.integers(0, 3, t.size))
    p = np.full((t.size, 3), 0.1)
    p[np.arange(t.size), noisy] = 0.8
    truth = Truth((Segment(0, 40, "a"), Segment(40, 80, "b"), Segment(80, 120, "c")), (Transient(20.0, "cough"),))
    return DayPosteriors(f"s{seed}", t, p, truth, 120.0)


DAYS = [synthetic_day(s) for s in (0, 1)]
PROFILES = ["quiet", "music", "wind"]
# An HMM that switches on these days' moderate evidence (q = 0.8, right 80 % of the time).
HMM = HmmConfig(dwell_s=30.0, temperature=8.0, floor=0.02, switch_prob=0.8)


def test_score_rule_and_objective():
    per_day, s = score_rule(DAYS, "hmm", HMM, PROFILES, TABLE)
    assert s["missed_changes_total"] == 0
    assert len(per_day) == 2 and s["n_days"] == 2
    o = objective(s)
    assert o == pytest.approx(s["profile_accuracy"]["mean"] - 0.01 * s["spurious_switches_per_hour"]["mean"]
                              - 0.01 * max(0.0, s["switch_delay_median_s"]["mean"] - 5.0) - 0.05 * s["missed_changes_total"]
                              - 0.01 * s["transient_switches_total"])
    # raw argmax (EMA with everything off) flaps on the 20 % wrong windows: many more spurious switches
    _, raw = score_rule(DAYS, "ema", decision_config("ema", ema_seconds=0.0, hysteresis=0.0, confirm_seconds=0.0,
                                                     min_dwell_seconds=0.0), PROFILES, TABLE)
    assert raw["spurious_switches_total"] > s["spurious_switches_total"]
    # two clusters of one profile: without pooling, alternating between them is a switch the scorer sees
    # as none (same profile) — pooling and not pooling give the same profiles when each profile has one cluster
    _, nopool = score_rule(DAYS, "hmm", HMM, PROFILES, TABLE, pool=False)
    assert nopool["profile_accuracy"]["mean"] == pytest.approx(s["profile_accuracy"]["mean"])


def _summary(acc, delay, sph, missed=0, transient=0):
    return {"profile_accuracy": {"mean": acc}, "switch_delay_median_s": {"mean": delay},
            "spurious_switches_per_hour": {"mean": sph}, "missed_changes_total": missed, "transient_switches_total": transient}


def test_meets_targets_at_the_boundaries():
    assert meets_targets(_brief(_summary(0.90, 5.0, 6.0, 0, 1)))
    for bad in (_summary(0.899, 5.0, 6.0), _summary(0.95, 5.01, 1.0), _summary(0.95, 4.0, 6.1),
                _summary(0.95, 4.0, 1.0, missed=1), _summary(0.95, 4.0, 1.0, transient=2), _summary(0.95, None, 1.0)):
        assert not meets_targets(_brief(bad))
    # the transient target is ≤ 1 per three days: 4 over twelve days meet it, 5 do not
    assert meets_targets(_brief({**_summary(0.95, 4.0, 1.0, transient=4), "n_days": 12}))
    assert not meets_targets(_brief({**_summary(0.95, 4.0, 1.0, transient=5), "n_days": 12}))


def test_tune_prefers_a_setting_that_meets_the_targets(monkeypatch):
    from catuvac.runtime import tradeoff

    # slow and accurate (objective 0.99, delay 5.5 s) against fast (objective 0.95, every target met)
    fake = {2.0: _summary(0.95, 4.5, 0.0), 3.0: _summary(0.995, 5.5, 0.0)}
    monkeypatch.setitem(tradeoff.GRIDS, "hmm", {"temperature": (3.0, 2.0)})
    monkeypatch.setattr(tradeoff, "score_rule", lambda days, rule, cfg, *a, **k: ([], fake[cfg.temperature]))
    best = tune([], PROFILES, TABLE, rules=("hmm",), progress=False)["hmm"]
    assert best["config"]["temperature"] == 2.0 and best["meets_targets"]
    assert objective(fake[3.0]) > best["objective"]
    # when no setting meets them all, the objective alone decides
    fake[2.0] = _summary(0.95, 5.2, 0.0)
    assert tune([], PROFILES, TABLE, rules=("hmm",), progress=False)["hmm"]["config"]["temperature"] == 3.0


def test_sweep_tune_and_plot(tmp_path):
    base = {"fixed-lag": HmmConfig(dwell_s=20.0, temperature=2.0, switch_prob=0.5, lag_s=1.0)}
    res = sweep(DAYS, PROFILES, TABLE, base=base)
    assert set(res) == {"hmm", "fixed-lag", "ema", "hmm, no change detector"}
    assert res["hmm, no change detector"]["config"]["change_dwell_s"] == 0.0
    lag = res["fixed-lag"]["points"]
    assert [p["lag_s"] for p in lag] == sorted(p["lag_s"] for p in lag)
    # deciding later never makes the median delay shorter on these days
    med = [p["switch_delay_median_s"] for p in lag]
    assert med[-1] >= med[0]
    best = tune(DAYS, PROFILES, TABLE, rules=("hmm",), progress=False)
    _, default = score_rule(DAYS, "hmm", HMM, PROFILES, TABLE)  # a point of the grid
    rank = (meets_targets(_brief(default)), objective(default))
    assert (best["hmm"]["meets_targets"], best["hmm"]["objective"]) >= rank
    assert set(best["hmm"]["config"]) == {"dwell_s", "temperature", "floor", "switch_prob", "lag_s", "hold_prob",
                                          "change_dwell_s", "change_threshold_db", "change_hold_s", "change_temperature"}
    plot_tradeoff(res, tmp_path / "t.png")
    assert (tmp_path / "t.png").stat().st_size > 5000


def test_cli_on_a_tiny_model_and_day(tmp_path):
    from catuvac.training.days import write_day

    from .conftest import build_test_model

    model = build_test_model(tmp_path / "m.onnx", window_seconds=2.0, n_clusters=4)
    day = write_day(tmp_path / "day", 1.0, seed=9, progress=False)
    pmap = tmp_path / "map.json"
    pmap.write_text(json.dumps({"0": "quiet", "1": "music", "2": "wind", "default": "speech-in-noise"}))
    out = tmp_path / "t.json"
    assert main(["--model", str(model), "--map", str(pmap), "--days", str(day), "--json", str(out),
                 "--plot", str(tmp_path / "t.png"), "--quiet"]) == 0
    r = json.loads(out.read_text())
    assert set(r["sweeps"]) == {"hmm", "fixed-lag", "ema", "hmm, no change detector"}
    assert set(r["default_scores"]) == {"hmm", "fixed-lag", "ema", "hmm (no pooling)", "fixed-lag (no pooling)", "ema (no pooling)"}
