"""Scoring decisions against a truth timeline: mapping, agreement, switch delay, spurious switches."""

import json

import pytest

from catuvac.runtime.timeline import Segment, evaluate_decisions, label_at, load_timeline

TRUTH = [Segment(0, 30, "quiet"), Segment(30, 60, "street"), Segment(60, 90, "music")]


def test_perfect_follower_with_delay():
    times = [float(t) for t in range(4, 90)]
    # cluster ids are arbitrary: 5=quiet, 2=street, 0=music, each switch 3 s after the change
    stable = [5 if t < 33 else 2 if t < 63 else 0 for t in times]
    r = evaluate_decisions(times, stable, TRUTH)
    assert r["cluster_to_label"] == {"5": "quiet", "2": "street", "0": "music"}
    assert r["switch_delay_s"]["median"] == pytest.approx(3.0)
    assert r["switch_delay_s"]["max"] == pytest.approx(3.0)
    assert r["spurious_switches"] == 0 and r["n_switches"] == 2
    assert r["agreement"] == pytest.approx(1 - 6 / 86)


def test_flapping_counts_as_spurious_and_missed_change():
    times = [float(t) for t in range(4, 90)]
    stable = [1 if t < 33 else 2 for t in times]  # never reaches "music"
    stable[10] = 2  # one-decision flap inside the quiet scene: two spurious switches
    r = evaluate_decisions(times, stable, TRUTH, raw=stable, duration_s=3600.0)
    assert r["spurious_switches"] == 2
    assert r["spurious_switches_per_hour"] == pytest.approx(2.0)
    assert r["switch_delay_s"]["missed"] == 1
    assert "raw_agreement" in r


def test_load_timeline_and_label_at(tmp_path):
    p = tmp_path / "day.json"
    p.write_text(json.dumps([{"start_s": 0, "end_s": 10, "label": "a"}, {"start_s": 10, "end_s": 20, "label": "b"}]))
    tl = load_timeline(p)
    assert label_at(tl, 9.99) == "a" and label_at(tl, 10.0) == "b" and label_at(tl, 25) == "b"
    p.write_text("[{\"oops\": 1}]")
    with pytest.raises(ValueError, match="timeline"):
        load_timeline(p)


def test_no_decisions_is_a_clear_error():
    with pytest.raises(ValueError, match="no decisions"):
        evaluate_decisions([], [], TRUTH)


@pytest.mark.parametrize("segs, msg", [
    ([{"start_s": 10, "end_s": 5, "label": "a"}], "ends"),
    ([{"start_s": 0, "end_s": 10, "label": "a"}, {"start_s": 5, "end_s": 20, "label": "b"}], "overlap"),
    ([], "non-empty"),
    ([{"start_s": 0, "end_s": 1e999, "label": "a"}], "too large"),
])
def test_bad_timelines_are_refused(tmp_path, segs, msg):
    """A timeline with end < start or overlaps used to score "agreement 1.000"."""
    from catuvac.runtime.errors import CatuvacError

    p = tmp_path / "t.json"
    p.write_text(json.dumps(segs).replace("Infinity", "1e999"))
    with pytest.raises(CatuvacError, match=msg):
        load_timeline(p)
