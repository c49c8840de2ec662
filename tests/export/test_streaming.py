"""The incremental (streaming) graph of a streaming-built model: export, equality with the
full-window graph, metadata, refusals, and the paper model's approximate measurement."""

from pathlib import Path

import numpy as np
import pytest

from catuvac.export.exporter import ExportError, WindowData, export_model, ort_session, run_onnx
from catuvac.export.streaming import STREAM_NAMES, StreamingHEncoder, approximate_incremental, run_stream_windows
from catuvac.runtime.modelmeta import read_model_info
from catuvac.training.checkpoint import save_checkpoint
from tests.helpers.device_model import device_model, device_windows


def test_export_writes_verified_incremental_graphs_and_names_them_in_the_metadata(device_export):
    rep = device_export
    inc = rep["incremental"]
    assert rep["passed"] and rep["arch"] == "device" and inc["supported"]
    assert inc["fp32"]["agreement_with_full"] == 1.0 and inc["fp32"]["max_abs_prob_diff_with_full"] <= 1e-5
    assert inc["int8"]["passed"]
    for precision, full in (("fp32", rep["files"]["fp32"]), ("int8", rep["files"]["int8"])):
        info = read_model_info(full)
        assert (info.arch, info.stream_model, info.time_stride, info.graph) == ("device", STREAM_NAMES[precision], 16, "full")
        stream = read_model_info(Path(full).parent / info.stream_model)
        assert (stream.graph, stream.precision, stream.checkpoint_sha256) == ("stream", precision, info.checkpoint_sha256)


def test_streamed_windows_equal_full_window_for_any_cut_but_not_off_the_grid(device_export):
    out = Path(device_export["files"]["fp32"]).parent
    w = device_export["windows"]
    ids, probs = run_onnx(ort_session(out / "encoder.onnx"), w)
    sess = ort_session(out / STREAM_NAMES["fp32"])
    from catuvac.export.streaming import stream_layout
    from catuvac.training.checkpoint import load_checkpoint

    lay = stream_layout(load_checkpoint(out.parent / "checkpoint.pt").model_config, w.shape[-1])
    for split in (0, 1, 3):
        sids, sprobs = run_stream_windows(sess, lay, w, split=split)
        np.testing.assert_array_equal(sids, ids)
        np.testing.assert_allclose(sprobs, probs, atol=1e-5)
    shifted = np.roll(w, 2, axis=-1)  # the same frames two frames off the stride grid differ
    _, off = run_stream_windows(sess, lay, shifted)
    assert np.abs(off - probs).max() > 1e-3


def test_paper_model_gets_no_incremental_graph_and_device_refuses_c(tmp_path, checkpoint, windows, device_export):
    rep = export_model(checkpoint, tmp_path / "p", calibration=WindowData(windows[:4], windows[:4]), progress=False)
    assert rep["incremental"]["supported"] is False and "pads the time axis" in rep["incremental"]["reason"]
    assert read_model_info(tmp_path / "p" / "encoder.onnx").stream_model == ""
    with pytest.raises(ExportError, match="paper architecture only"):
        export_model(Path(device_export["files"]["fp32"]).parent.parent / "checkpoint.pt", tmp_path / "d", c_dir=tmp_path / "c",
                     progress=False)


def _stream_of_windows(w: np.ndarray, n: int, step: int) -> np.ndarray:
    """``n`` windows of one long random feature stream, ``step`` frames apart (normalized per frame already)."""
    rng = np.random.default_rng(0)
    long = np.concatenate([w[i % len(w)] for i in rng.permutation(n)], axis=-1)
    width = w.shape[-1]
    return np.stack([long[:, s : s + width] for s in range(0, long.shape[-1] - width + 1, step)])


def test_cached_conv_inference_is_exact_for_the_device_arch_and_approximate_for_the_paper_arch():
    _, w = device_windows()
    wins = _stream_of_windows(w, 6, 16)
    dev = approximate_incremental(device_model(w), wins, 16, recompute=0, context=2)
    assert dev["decision_agreement_with_full"] == 1.0 and dev["mac_saving"] > 1.0
    paper = device_model(w, arch="paper")
    approx = approximate_incremental(paper, wins, 16, recompute=0, context=0)
    full = approximate_incremental(paper, wins, 16, recompute=paper.cfg.encoder_steps, context=0)
    assert full["decision_agreement_with_full"] == 1.0 and full["mac_saving"] == pytest.approx(1.0)
    assert approx["mac_saving"] > 1.0 and approx["chunk_frames"] < wins.shape[-1]
    # a gate above any margin recomputes every decision: exact, and dearer than full-window alone
    gated = approximate_incremental(paper, wins, 16, recompute=0, context=0, gate=1.01)
    assert gated["full_recompute_fraction"] == 1.0 and gated["decision_agreement_with_full"] == 1.0
    assert gated["mac_saving"] < 1.0
    half = approximate_incremental(paper, wins, 16, recompute=0, context=0, gate=0.3)
    assert approx["decision_agreement_with_full"] <= half["decision_agreement_with_full"] <= 1.0
    assert gated["mac_saving"] <= half["mac_saving"] <= approx["mac_saving"]


def test_streaming_module_matches_the_torch_model(device_export):
    import torch

    _, w = device_windows()
    model = device_model(w)
    module = StreamingHEncoder(model, w.shape[-1])
    state = module.zero_state()
    x = torch.from_numpy(w[:1, None, :, module.layout.skip_frames :])
    _, probs, *_ = module(x, *state)
    ref = torch.softmax(model.logits(torch.from_numpy(w[:1, None])), 1)
    assert torch.allclose(probs, ref, atol=1e-5)


def test_checkpoint_of_a_device_model_records_its_arch(tmp_path):
    from catuvac.training.checkpoint import load_checkpoint

    fe, w = device_windows()
    m = device_model(w)
    save_checkpoint(tmp_path / "c.pt", m, m.cfg, fe, {"preset": "test"}, epoch=1)
    ck = load_checkpoint(tmp_path / "c.pt")
    assert ck.model_config.arch == "device" and ck.model_config.streamable and ck.model_config.to_dict()["arch"] == "device"
