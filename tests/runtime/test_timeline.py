"""The one timeline reader: both JSON forms, the validation rules, label lookup."""

import json

import pytest

from catuvac.runtime.timeline import Segment, TimelineError, Truth, label_at, load_timeline, load_truth, parse_truth


def test_list_form_and_label_at(tmp_path):
    p = tmp_path / "day.json"
    p.write_text(json.dumps([{"start_s": 0, "end_s": 10, "label": "a"}, {"start_s": 10, "end_s": 20, "label": "b"}]))
    tl = load_timeline(p)
    assert tl == [Segment(0.0, 10.0, "a"), Segment(10.0, 20.0, "b")]
    assert label_at(tl, 9.99) == "a" and label_at(tl, 10.0) == "b" and label_at(tl, 25) == "b"
    assert label_at(tl, -1) is None
    assert load_truth(p).transients == ()


def test_object_form_with_transients_round_trips(tmp_path):
    data = {"segments": [{"start_s": 0, "end_s": 30, "label": "a"}, {"start_s": 30, "end_s": 60, "label": "b"}],
            "transients": [{"t_s": 40.5, "kind": "cough"}, {"t_s": 12.0, "kind": "door_slam"}]}
    tr = parse_truth(data)
    assert [e.kind for e in tr.transients] == ["door_slam", "cough"]  # sorted by time
    assert tr.start_s == 0.0 and tr.end_s == 60.0
    assert parse_truth(tr.to_json()) == tr
    assert isinstance(Truth(tr.segments).to_json(), list)  # no transients: the short-day list form


@pytest.mark.parametrize("data, msg", [
    ([{"oops": 1}], "start_s, end_s and label"),
    ([], "non-empty"),
    ([{"start_s": 5, "end_s": 2, "label": "a"}], "end_s must be after start_s"),
    ([{"start_s": 0, "end_s": 10, "label": "a"}, {"start_s": 8, "end_s": 20, "label": "b"}], "overlaps"),
    ([{"start_s": 0, "end_s": 10, "label": "a"}, {"start_s": 11, "end_s": 20, "label": "b"}], "gap"),
    ([{"start_s": 0, "end_s": float("inf"), "label": "a"}], "finite"),
    ([{"start_s": 0, "end_s": 1, "label": ""}], "label"),
    ({"segments": [{"start_s": 0, "end_s": 1, "label": "a"}], "transients": [{"t_s": 5, "kind": "x"}]}, "outside"),
    ({"stretches": []}, "segments"),
])
def test_invalid_timelines_are_refused(data, msg):
    with pytest.raises(TimelineError, match=msg):
        parse_truth(data)


def test_file_errors(tmp_path):
    with pytest.raises(TimelineError, match="not found"):
        load_truth(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(TimelineError, match="not valid JSON"):
        load_truth(tmp_path / "bad.json")


@pytest.mark.parametrize("segs, msg", [
    ([{"start_s": 10, "end_s": 5, "label": "a"}], "end_s must be after"),
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
