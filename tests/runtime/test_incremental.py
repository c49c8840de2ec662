"""The clusterer's incremental path: identical decisions to full-window inference, chunk-size invariant."""

from pathlib import Path

import numpy as np
import pytest

from catuvac.runtime.clusterer import ClustererError, SceneClusterer
from catuvac.runtime.incremental import IncrementalError
from catuvac.training.scenes import SCENE_CLASSES, synthesize_scene


@pytest.fixture(scope="module")
def stream_audio() -> np.ndarray:
    rng = np.random.default_rng(11)
    return np.concatenate([synthesize_scene(c, 3.0, rng) for c in SCENE_CLASSES[:4]]).astype(np.float32)


def _events(model: Path, audio: np.ndarray, chunk: int, **kw):
    clf = SceneClusterer(model, **kw)
    ev = []
    for i in range(0, len(audio), chunk):
        ev += clf.process(audio[i : i + chunk], 16000)
    return clf, ev


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_incremental_decisions_equal_full_window_and_do_not_depend_on_chunking(device_export, stream_audio, precision):
    model = Path(device_export["files"][precision])
    inc, a = _events(model, stream_audio, 16000)
    full, b = _events(model, stream_audio, 16000, incremental=False)
    _, c = _events(model, stream_audio, 777)
    assert inc.incremental and not full.incremental
    assert inc.decision_frames == full.decision_frames == 32  # 1 s rounded to the model's 16-frame stride
    assert len(a) == len(b) == len(c) > 5
    if precision == "fp32":  # the same function of the same frames
        assert all(x.same_decision(y, atol=1e-5) for x, y in zip(a, b))
    else:  # int8: the incremental graph has its own activation calibration — close, not identical
        assert max(float(np.abs(x.probs - y.probs).max()) for x, y in zip(a, b)) < 0.05
    assert all(x.same_decision(y) for x, y in zip(a, c))
    assert len({e.cluster for e in a}) > 1  # decisions vary: the comparison is not vacuous


def test_long_decision_interval_restarts_the_stream(device_export, stream_audio):
    model = Path(device_export["files"]["fp32"])
    _, a = _events(model, stream_audio, 4000, decision_interval=3.0)
    _, b = _events(model, stream_audio, 4000, decision_interval=3.0, incremental=False)
    assert len(a) > 2 and all(x.same_decision(y, atol=1e-5) for x, y in zip(a, b))


def test_partial_decisions_use_the_full_window_graph_and_reset_clears_state(device_export, stream_audio):
    model = Path(device_export["files"]["fp32"])
    clf, a = _events(model, stream_audio, 16000, allow_partial=True)
    assert any(e.partial for e in a) and not all(e.partial for e in a)
    clf.reset()
    again = []
    for i in range(0, len(stream_audio), 16000):
        again += clf.process(stream_audio[i : i + 16000], 16000)
    assert all(x.same_decision(y) for x, y in zip(a, again))


def test_incremental_required_without_a_stream_graph_is_an_error(small_model):
    with pytest.raises(ClustererError, match="no incremental graph"):
        SceneClusterer(small_model, incremental=True)


def test_off_grid_call_is_refused(device_export):
    from catuvac.runtime.incremental import IncrementalEncoder, stream_model_path
    from catuvac.runtime.modelmeta import read_model_info

    path = device_export["files"]["fp32"]
    info = read_model_info(path)
    enc = IncrementalEncoder(stream_model_path(path, info), info)
    with pytest.raises(IncrementalError):
        enc.frames_needed(info.window_frames + 3)
