"""The decision layer on synthetic posteriors (no model): pooling, HMM filter, fixed lag, the EMA rule."""

import math
from dataclasses import replace

import numpy as np
import pytest

from catuvac.runtime.decisions import (
    DECISION_RULES,
    DecisionError,
    HmmConfig,
    HmmDecider,
    ProfilePooling,
    can_switch,
    decision_config,
    make_decider,
    replay,
    saturation_belief,
)
from catuvac.runtime.smoothing import SmoothingConfig

# A responsive setting for the mechanism tests (the tuned defaults are measured in the README).
CFG = HmmConfig(dwell_s=60.0, temperature=4.0, floor=0.02, switch_prob=0.5)


def onehot(seq, k=3, p=0.9):
    out = np.full((len(seq), k), (1 - p) / (k - 1))
    out[np.arange(len(seq)), seq] = p
    return out


def test_pooling_sums_clusters_of_a_profile():
    pool = ProfilePooling(["quiet", "music", "quiet", "wind"])
    assert pool.states == ("quiet", "music", "wind")
    np.testing.assert_allclose(pool.pool([0.1, 0.2, 0.3, 0.4]), [0.4, 0.2, 0.4])
    assert pool.representative(np.array([0.1, 0.2, 0.3, 0.4]), 0) == 2


def test_pooling_with_evidence_spreads_each_cluster():
    ev = [{"quiet": 0.5, "music": 0.5}, {"music": 1.0}, {"quiet": 0.75, "wind": 0.25}]
    pool = ProfilePooling(["quiet", "music", "quiet"], ev)
    assert pool.states == ("quiet", "music", "wind")  # "wind" only in an evidence row: still a state
    q = np.array([0.2, 0.3, 0.5])
    np.testing.assert_allclose(pool.pool(q), [0.2 * 0.5 + 0.5 * 0.75, 0.2 * 0.5 + 0.3, 0.5 * 0.25])
    assert pool.pool(q).sum() == pytest.approx(1.0)
    assert pool.representative(q, 1) == 1 and pool.representative(q, 0) == 2
    # rows are normalized; a plain pooling is the one-hot special case
    np.testing.assert_allclose(ProfilePooling(["a", "b"], [{"a": 2.0}, {"a": 1.0, "b": 3.0}]).pool([0.5, 0.5]), [0.625, 0.375])
    np.testing.assert_allclose(ProfilePooling(["a", "b", "a"], [{"a": 1}, {"b": 1}, {"a": 1}]).pool([0.1, 0.2, 0.7]),
                               ProfilePooling(["a", "b", "a"]).pool([0.1, 0.2, 0.7]))
    with pytest.raises(DecisionError, match="2 evidence rows for 3 clusters"):
        ProfilePooling(["a", "b", "a"], [{"a": 1}, {"b": 1}])


def test_a_mixed_cluster_does_not_switch_the_program():
    # cluster 2 held both quiet and transport scenes on the training split: its windows inside a
    # transport stretch switch a plain map's program to quiet, not an evidence map's
    seq = [1] * 40 + [2, 2, 2, 2, 2, 2, 2, 2] + [1] * 20
    probs = onehot(seq, k=3, p=0.97)
    plain = ["quiet", "transport", "quiet"]
    ev = [{"quiet": 0.95, "transport": 0.05}, {"quiet": 0.05, "transport": 0.95}, {"quiet": 0.5, "transport": 0.5}]
    t = np.arange(len(seq), dtype=float)
    out_plain = replay("hmm", probs, t, plain, CFG)
    out_ev = replay("hmm", probs, t, ProfilePooling(plain, ev), CFG)
    assert "quiet" in out_plain[40:]
    assert set(out_ev) == {"transport"}


def test_pooling_with_a_level_model_weighs_each_state_by_its_level_likelihood():
    grid = [-60.0, -40.0, -20.0]
    level = (grid, {"quiet": [0.04, 0.02, 0.002], "music": [0.001, 0.01, 0.05]})  # "wind": not covered
    pool = ProfilePooling(["quiet", "music", "wind"], None, {"level": level})
    assert pool.uses_level and not ProfilePooling(["quiet", "music"]).uses_level
    q = np.array([0.5, 0.3, 0.2])
    flat = np.mean([0.04, 0.02, 0.002, 0.001, 0.01, 0.05])  # an uncovered state: the mean likelihood, no information
    # hand computation at -50 dB (halfway between the first two grid points)
    lik = np.array([0.03, 0.0055, flat])
    np.testing.assert_allclose(pool.pool(q, -50.0), q * lik / (q * lik).sum())
    np.testing.assert_allclose(pool.pool(q, -100.0), pool.pool(q, -60.0))  # outside the grid: the nearest end
    np.testing.assert_allclose(pool.pool(q, 0.0), pool.pool(q, -20.0))
    np.testing.assert_allclose(pool.pool(q), q)  # no level given: evidence alone
    np.testing.assert_allclose(ProfilePooling(["quiet", "music", "wind"]).pool(q, -50.0), q)  # no level model
    zero = ProfilePooling(["a", "b"], None, {"level": ([0.0, 1.0], {"a": [0.0, 0.0], "b": [0.0, 0.0]})})
    np.testing.assert_allclose(zero.pool([0.3, 0.7], 0.5), [0.3, 0.7])  # all likelihoods 0: the level is ignored
    with pytest.raises(DecisionError, match="one level per window"):
        replay("hmm", onehot([0, 1]), [0.0, 1.0], pool, CFG, 1.0, None, [-50.0])
    with pytest.raises(DecisionError, match="unknown window feature"):
        ProfilePooling(["a"], None, {"loudness": ([0.0, 1.0], {"a": [1.0, 1.0]})})
    # a second feature multiplies in: the level spread (one talker pauses, a crowd does not)
    spread = ([2.0, 12.0], {"quiet": [0.01, 0.09], "music": [0.09, 0.01]})
    both = ProfilePooling(["quiet", "music", "wind"], None, {"level": level, "level_spread": spread})
    assert both.feature_blocks == ("level", "level_spread") and both.uses_level
    ls = np.array([0.05, 0.05, np.mean([0.01, 0.09, 0.09, 0.01])])
    np.testing.assert_allclose(both.pool(q, -50.0, 7.0), q * lik * ls / (q * lik * ls).sum())
    np.testing.assert_allclose(both.pool(q, None, 7.0), q * ls / (q * ls).sum())  # only the spread given
    out = replay("hmm", onehot([0, 0]), [0.0, 1.0], both, CFG, 1.0, None, [-50.0, -50.0], [12.0, 12.0])
    assert out == ["quiet", "quiet"]
    with pytest.raises(DecisionError, match="one level spread per window"):
        replay("hmm", onehot([0, 1]), [0.0, 1.0], both, CFG, 1.0, None, None, [1.0, 2.0, 3.0])


def test_a_plainly_wrong_program_is_left_when_the_evidence_splits():
    # state 0 for 30 s, then windows split evenly between states 1 and 2: neither reaches the
    # switch threshold, but state 0 is no longer plausible
    probs = np.array([[0.96, 0.02, 0.02]] * 30 + [[0.02, 0.49, 0.49]] * 40)
    t = np.arange(len(probs), dtype=float)
    cfg = replace(CFG, switch_prob=0.95)
    held = replay("hmm", probs, t, None, replace(cfg, hold_prob=0.0))
    moved = replay("hmm", probs, t, None, replace(cfg, hold_prob=0.02))
    assert set(held) == {0}  # the rule before hold_prob: kept for lack of one clear successor
    assert moved[-1] in (1, 2) and moved.index(moved[-1]) < 45
    # a steady program is never left by the hold rule alone
    assert set(replay("hmm", probs[:30], t[:30], None, replace(cfg, hold_prob=0.2))) == {0}


def test_two_clusters_of_one_profile_never_switch():
    # K = 4, clusters 0 and 2 are both "quiet": alternating between them is one profile
    seq = [0, 2] * 20 + [1] * 20
    probs = onehot(seq, k=4, p=0.95)
    for rule in DECISION_RULES:
        out = replay(rule, probs, np.arange(len(seq), dtype=float), ["quiet", "music", "quiet", "wind"])
        changes = sum(a != b for a, b in zip(out, out[1:]))
        assert changes == 1, rule
        assert out[0] == "quiet" and out[-1] == "music"


def test_hmm_filter_forward_recursion_by_hand():
    cfg = HmmConfig(dwell_s=10.0, temperature=2.0, floor=0.0)
    d = HmmDecider(2, cfg)
    b1, s1, ch1 = d.update(np.array([0.8, 0.2]), 0.0)
    e1 = np.sqrt([0.8, 0.2])
    np.testing.assert_allclose(b1, e1 / e1.sum())
    assert s1 == 0 and ch1
    b2, s2, _ = d.update(np.array([0.1, 0.9]), 1.0)
    a = math.exp(-0.1)
    pred = np.array([a * b1[0] + (1 - a) * b1[1], a * b1[1] + (1 - a) * b1[0]])
    post = pred * np.sqrt([0.1, 0.9])
    np.testing.assert_allclose(b2, post / post.sum())
    assert s2 == int(np.argmax(b2)) or b2.max() < cfg.switch_prob


def test_hmm_ignores_a_short_burst_and_follows_a_real_change():
    seq = [0] * 20 + [1] * 2 + [0] * 20 + [2] * 20
    out = replay("hmm", onehot(seq, p=0.9), np.arange(len(seq), dtype=float), config=CFG)
    assert set(out[:42]) == {0}
    first = out.index(2)
    assert 42 <= first <= 48 and set(out[first:]) == {2}  # within 6 decisions


def test_stickier_filter_switches_later():
    seq = [0] * 30 + [1] * 30
    probs = onehot(seq, p=0.7)
    t = np.arange(len(seq), dtype=float)
    fast = replay("hmm", probs, t, config=replace(CFG, dwell_s=5.0)).index(1)
    slow = replay("hmm", probs, t, config=replace(CFG, dwell_s=500.0)).index(1)
    assert fast < slow


def test_fixed_lag_equals_offline_smoothing():
    """The lagged posterior equals forward–backward over the same steps, computed densely."""
    rng = np.random.default_rng(0)
    q = rng.dirichlet(np.ones(3), size=12)
    cfg = HmmConfig(dwell_s=8.0, temperature=1.5, floor=0.1, lag_s=4.0)
    d = HmmDecider(3, cfg)
    beliefs = [d.update(qq, float(i))[0].copy() for i, qq in enumerate(q)]
    e = ((1 - 0.1) * q + 0.1 / 3) ** (1 / 1.5)
    a = math.exp(-1 / 8.0)
    A = np.full((3, 3), (1 - a) / 2) + np.eye(3) * (a - (1 - a) / 2)
    alpha = [e[0] / e[0].sum()]
    for i in range(1, 12):
        v = (A.T @ alpha[-1]) * e[i]
        alpha.append(v / v.sum())
    t = 11  # last step: the decision is about step 7
    beta = np.ones(3)
    for j in range(t, 7, -1):
        beta = A @ (e[j] * beta)
    post = alpha[7] * beta
    np.testing.assert_allclose(beliefs[t], post / post.sum(), rtol=1e-9)


def test_fixed_lag_is_later_than_the_filter_and_steadier():
    rng = np.random.default_rng(1)
    seq = [0] * 40 + [1] * 40
    probs = onehot(seq, p=0.75)
    flips = rng.random(len(seq)) < 0.2  # 20 % of windows point at the wrong scene
    probs[flips] = probs[flips][:, ::-1]
    t = np.arange(len(seq), dtype=float)
    filt = replay("hmm", probs, t, config=replace(CFG, dwell_s=20.0))
    lag = replay("fixed-lag", probs, t, config=replace(CFG, dwell_s=20.0, lag_s=5.0))
    n = lambda o: sum(a != b for a, b in zip(o, o[1:]))  # noqa: E731
    assert n(lag) <= n(filt)
    assert lag.index(1) >= filt.index(1)


def test_state_is_bounded_and_reset_restores_it():
    d = make_decider("fixed-lag", 3, HmmConfig(lag_s=3.0))
    sizes = {k: v.nbytes for k, v in vars(d).items() if isinstance(v, np.ndarray)}
    q = onehot([0, 1, 2] * 50)
    first = [d.update(qq, float(i))[1] for i, qq in enumerate(q)]
    assert {k: v.nbytes for k, v in vars(d).items() if isinstance(v, np.ndarray)} == sizes
    d.reset()
    assert d.decision is None and d.switches == 0
    assert [d.update(qq, float(i))[1] for i, qq in enumerate(q)] == first


def test_ema_rule_is_the_smoother():
    seq = [0] * 10 + [1] * 10
    out = replay("ema", onehot(seq), np.arange(20, dtype=float), config=SmoothingConfig())
    from catuvac.runtime.smoothing import Smoother

    sm = Smoother(3, SmoothingConfig())
    assert out == [sm.update(q, float(i))[1] for i, q in enumerate(onehot(seq))]


def test_bad_rules_and_configs():
    with pytest.raises(DecisionError, match="unknown decision rule 'median'"):
        make_decider("median", 3)
    with pytest.raises(DecisionError, match="no parameter"):
        decision_config("hmm", hysteresis=0.1)
    with pytest.raises(DecisionError, match="positive"):
        HmmConfig(dwell_s=0)
    with pytest.raises(DecisionError, match="lag_s > 0"):
        make_decider("fixed-lag", 3, HmmConfig())
    with pytest.raises(DecisionError, match="SmoothingConfig"):
        make_decider("ema", 3, HmmConfig())
    assert decision_config("ema", min_dwell_seconds=3.0).min_dwell_seconds == 3.0


def test_saturation_and_can_switch():
    """A leaky chain (short dwell, strong tempering, a floor) cannot lift a belief to 0.99."""
    leaky = HmmConfig(dwell_s=2.0, temperature=8.0, floor=0.1, switch_prob=0.9)
    assert saturation_belief(leaky, 3) < 0.9 and not can_switch(leaky)
    assert can_switch(decision_config("hmm")) and can_switch(decision_config("fixed-lag"))
    # tuned for a near-one-hot model, this one switches on q = 0.95 but never on q = 0.8
    sharp_only = HmmConfig(dwell_s=5.0, temperature=4.0, floor=0.02, switch_prob=0.8)
    assert can_switch(sharp_only, p=0.95) and not can_switch(sharp_only)
    # with that setting a steady change of scene never switches the program
    seq = [0] * 10 + [1] * 60
    assert set(replay("hmm", onehot(seq, p=0.95), np.arange(70.0), config=leaky)) == {0}


def test_change_score_shortens_the_dwell_by_hand():
    """While a change score ≥ the threshold is within change_hold_s, the transition uses change_dwell_s."""
    cfg = HmmConfig(dwell_s=50.0, temperature=1.0, floor=0.0, change_dwell_s=2.0, change_threshold_db=3.0, change_hold_s=2.0,
                    change_temperature=0.0)  # the dwell alone (the change regime's temperature: the next test)
    q0, q1 = np.array([0.9, 0.1]), np.array([0.3, 0.7])

    def step(prev, q, dwell):
        a = math.exp(-1.0 / dwell)
        v = np.array([a * prev[0] + (1 - a) * prev[1], a * prev[1] + (1 - a) * prev[0]]) * q
        return v / v.sum()

    d = HmmDecider(2, cfg)
    b = d.update(q0, 0.0, change_score=0.0)[0]
    expect = b.copy()
    for t, score, dwell in [(1.0, 2.9, 50.0), (2.0, 3.0, 2.0), (3.0, 0.0, 2.0), (4.0, 0.0, 2.0), (5.0, 0.0, 50.0)]:
        b = d.update(q1, t, change_score=score)[0]
        expect = step(expect, q1, dwell)
        np.testing.assert_allclose(b, expect, rtol=1e-12)
    d.reset()
    assert not d.changing  # reset forgets the last change


def test_change_temperature_tempers_only_the_change_regime_by_hand():
    """Emissions are q^(1/change_temperature) while the change regime holds, q^(1/temperature) elsewhere."""
    cfg = HmmConfig(dwell_s=50.0, temperature=4.0, change_temperature=1.5, floor=0.0, change_dwell_s=2.0,
                    change_threshold_db=3.0, change_hold_s=1.0)
    q = np.array([0.3, 0.7])

    def step(prev, dwell, temp):
        a = math.exp(-1.0 / dwell)
        v = np.array([a * prev[0] + (1 - a) * prev[1], a * prev[1] + (1 - a) * prev[0]]) * q ** (1 / temp)
        return v / v.sum()

    d = HmmDecider(2, cfg)
    expect = d.update(np.array([0.9, 0.1]), 0.0)[0]
    np.testing.assert_allclose(expect, np.array([0.9, 0.1]) ** 0.25 / (np.array([0.9, 0.1]) ** 0.25).sum())
    for t, score, dwell, temp in [(1.0, 0.0, 50.0, 4.0), (2.0, 5.0, 2.0, 1.5), (3.0, 0.0, 2.0, 1.5), (4.0, 0.0, 50.0, 4.0)]:
        b = d.update(q, t, change_score=score)[0]
        expect = step(expect, dwell, temp)
        np.testing.assert_allclose(b, expect, rtol=1e-12)
    # 0 (the default) keeps `temperature` in the change regime too
    plain = HmmDecider(2, replace(cfg, change_temperature=0.0))
    first = plain.update(np.array([0.9, 0.1]), 0.0)[0]
    np.testing.assert_allclose(plain.update(q, 1.0, change_score=5.0)[0], step(first, 2.0, 4.0), rtol=1e-12)


def test_a_detected_change_is_followed_sooner_and_a_steady_misreading_is_not():
    seq = [0] * 40 + [1] * 30
    probs = onehot(seq, p=0.99)
    probs[15:18] = onehot([2] * 3, p=0.99)  # a misreading of steady sound: no change score
    t = np.arange(len(seq), dtype=float)
    scores = np.zeros(len(seq))
    scores[40:43] = 8.0  # the sound changed with the scene
    sticky = HmmConfig(dwell_s=200.0, temperature=2.0, switch_prob=0.95, change_dwell_s=3.0, change_threshold_db=6.0)
    with_change = replay("hmm", probs, t, config=sticky, change_scores=scores)
    without = replay("hmm", probs, t, config=replace(sticky, change_dwell_s=0.0), change_scores=scores)
    assert set(with_change[:40]) == {0}  # the misreading did not switch
    loud = scores.copy()
    loud[15] = 8.0  # had the sound changed with the misreading, the filter would have followed it
    assert 2 in replay("hmm", probs, t, config=sticky, change_scores=loud)[:40]
    assert with_change.index(1) < without.index(1)
    # change_dwell_s = 0 ignores the scores: the same as no scores at all
    assert without == replay("hmm", probs, t, config=replace(sticky, change_dwell_s=0.0))
    with pytest.raises(DecisionError, match="one change score per window"):
        replay("hmm", probs, t, config=sticky, change_scores=scores[:-1])
    # soft evidence cannot lift a leaky chain to switch_prob during the change; the program still
    # follows once the hold is over
    soft = onehot(seq, p=0.8)
    late = replay("hmm", soft, t, config=sticky, change_scores=scores)
    assert set(late[:40]) == {0} and 1 in late and set(late[late.index(1):]) == {1}
    # the EMA rule takes the score and ignores it
    assert replay("ema", probs, t, change_scores=scores) == replay("ema", probs, t)
