"""Profile-level scoring pinned on hand-built decision sequences, and the research cluster figures."""

import pytest

from catuvac.runtime.scoring import ScoringError, load_scene_profiles, profile_segments, score_clusters, score_profiles, summarize_days
from catuvac.runtime.timeline import Segment, Transient, Truth

# quiet_room and speech_quiet share the profile "quiet": only 2 true *profile* changes (at 60 and 90 s)
SCENES = Truth(
    (Segment(0, 30, "quiet_room"), Segment(30, 60, "speech_quiet"), Segment(60, 90, "street_traffic"),
     Segment(90, 120, "music")),
    (Transient(40.0, "door_slam"), Transient(100.0, "horn")),
)
TABLE = {"quiet_room": "quiet", "speech_quiet": "quiet", "street_traffic": "noisy-transport", "music": "music"}
TIMES = [float(t) for t in range(4, 120)]  # one decision a second from the end of the first 4-s window


def decide(spec):
    """profiles per decision from [(until_s, profile), ...]"""
    out = []
    for t in TIMES:
        out.append(next(p for until, p in spec if t < until))
    return out


def test_profile_segments_merge_scenes_of_one_profile():
    ps = profile_segments(SCENES, TABLE)
    assert ps == [Segment(0, 60, "quiet"), Segment(60, 90, "noisy-transport"), Segment(90, 120, "music")]
    with pytest.raises(ScoringError, match="street_traffic"):
        profile_segments(SCENES, {"quiet_room": "quiet"})


def test_perfect_follower_three_seconds_late():
    prof = decide([(63, "quiet"), (93, "noisy-transport"), (999, "music")])
    r = score_profiles(TIMES, prof, SCENES, TABLE)
    assert r["n_true_changes"] == 2
    assert r["switch_delay_s"]["median"] == pytest.approx(3.0) and r["switch_delay_s"]["max"] == pytest.approx(3.0)
    assert r["missed_changes"] == 0 and r["spurious_switches"] == 0 and r["transient_switches"] == 0
    # scored time: 4..120 s minus the two 5-s grace periods = 106 s, all of it right (3 s < grace)
    assert r["scored_s"] == pytest.approx(106.0)
    assert r["profile_accuracy"] == pytest.approx(1.0)


def test_late_switch_costs_accuracy_after_the_grace_period():
    prof = decide([(68, "quiet"), (93, "noisy-transport"), (999, "music")])  # 8 s late: 3 s wrong after grace
    r = score_profiles(TIMES, prof, SCENES, TABLE)
    assert r["profile_accuracy"] == pytest.approx(1 - 3 / 106)
    assert r["switch_delay_s"]["values"] == [8.0, 3.0]
    assert r["switch_delay_s"]["median"] == pytest.approx(5.5)
    assert r["switch_delay_s"]["p90"] == pytest.approx(3.0 + 0.9 * 5.0)


def test_spurious_transient_and_missed():
    # a 2-s flap to music 3 s after the door slam at 40 s; never reaches "music" at 90 s
    prof = decide([(43, "quiet"), (45, "music"), (62, "quiet"), (999, "noisy-transport")])
    r = score_profiles(TIMES, prof, SCENES, TABLE, duration_s=3600.0)
    assert r["missed_changes"] == 1
    assert r["spurious_switches"] == 2 and r["transient_switches"] == 2  # to music and back, both ≤ 10 s after 40 s
    assert r["spurious_switches_per_hour"] == pytest.approx(2.0)
    assert [s["kind"] for s in r["switches"]] == ["spurious_after_transient", "spurious_after_transient", "response"]
    # wrong: 43–45 (2 s) + 95–120 after the music grace (25 s) + 3600-120 s of "noisy-transport" after the truth ends
    # (the truth's last profile continues to the given duration)
    scored = (3600 - 4) - 10
    assert r["profile_accuracy"] == pytest.approx(1 - (2 + 25 + 3480) / scored)


def test_early_switch_in_the_crossfade_and_already_right():
    # switch to noisy-transport 1 s before the boundary (inside the lead), music already chosen before 90 s
    prof = decide([(59, "quiet"), (80, "noisy-transport"), (999, "music")])
    r = score_profiles(TIMES, prof, SCENES, TABLE)
    assert r["switch_delay_s"]["values"] == [-1.0, 0.0]
    assert r["changes_already_right"] == 1 and r["missed_changes"] == 0
    assert r["spurious_switches"] == 1  # the switch to music at 80 s answered no change


def test_bad_decisions_are_refused():
    with pytest.raises(ScoringError, match="no decisions"):
        score_profiles([], [], SCENES, TABLE)
    with pytest.raises(ScoringError, match="increasing"):
        score_profiles([5.0, 4.0], ["quiet", "quiet"], SCENES, TABLE)
    with pytest.raises(ScoringError, match="map"):
        score_profiles([5.0], [None], SCENES, TABLE)


def test_shipped_table_covers_the_builtin_scenes():
    from catuvac.firmware_sim.profiles import ProfileSet
    from catuvac.training.scenes import SCENE_CLASSES

    t = load_scene_profiles()
    assert set(t) == set(SCENE_CLASSES)
    assert set(t.values()) <= set(ProfileSet.default().names)


def test_summarize_days():
    good = score_profiles(TIMES, decide([(63, "quiet"), (93, "noisy-transport"), (999, "music")]), SCENES, TABLE)
    bad = score_profiles(TIMES, decide([(43, "quiet"), (45, "music"), (62, "quiet"), (999, "noisy-transport")]),
                         SCENES, TABLE)
    s = summarize_days([good, bad])
    assert s["n_days"] == 2 and s["missed_changes_total"] == 1 and s["transient_switches_total"] == 2
    assert s["spurious_switches_per_hour"]["mean"] == pytest.approx(0.5 * 2 / (120 / 3600))
    assert s["switch_delay_s_all_days"]["median"] == pytest.approx(3.0)  # pooled delays 3, 3, 2
    assert s["switch_delay_median_s"]["min"] == pytest.approx(2.0) and s["switch_delay_median_s"]["max"] == pytest.approx(3.0)


# ---- research figures on cluster ids (Hungarian-matched)
TRUTH = [Segment(0, 30, "quiet"), Segment(30, 60, "street"), Segment(60, 90, "music")]


def test_cluster_figures_perfect_follower_with_delay():
    times = [float(t) for t in range(4, 90)]
    stable = [5 if t < 33 else 2 if t < 63 else 0 for t in times]
    r = score_clusters(times, stable, TRUTH)
    assert r["cluster_to_label"] == {"5": "quiet", "2": "street", "0": "music"}
    assert r["switch_delay_s"]["median"] == pytest.approx(3.0)
    assert r["spurious_switches"] == 0 and r["n_switches"] == 2
    assert r["agreement"] == pytest.approx(1 - 6 / 86)


def test_cluster_figures_flapping_and_missed_change():
    times = [float(t) for t in range(4, 90)]
    stable = [1 if t < 33 else 2 for t in times]
    stable[10] = 2
    r = score_clusters(times, stable, TRUTH, raw=stable, duration_s=3600.0)
    assert r["spurious_switches"] == 2 and r["spurious_switches_per_hour"] == pytest.approx(2.0)
    assert r["switch_delay_s"]["missed"] == 1
    assert r["raw_agreement"] == pytest.approx(r["agreement"])
