"""catuvac-bench: graph accounting pinned on a hand-built graph, and a real (tiny) end-to-end run."""

import json

import numpy as np
import pytest

from catuvac.bench import graph_stats, latency_percentiles, main


def _runtime_conftest():
    import tests.helpers.scene_models as mod

    return mod


def test_graph_stats_counts_conv_and_matmul_macs(tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 1, 3, 3), np.float32), "w")  # 4 output channels, 3×3
    m = numpy_helper.from_array(np.ones((4 * 8 * 8, 5), np.float32), "m")
    shape = numpy_helper.from_array(np.array([1, -1], np.int64), "shape")
    g = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("Reshape", ["c", "shape"], ["f"]),
            helper.make_node("MatMul", ["f", "m"], ["y"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])],
        [w, m, shape],
    )
    p = tmp_path / "g.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), p)
    s = graph_stats(p)
    conv = 4 * 8 * 8 * 1 * 3 * 3  # output elements × C_in × kernel area
    matmul = 5 * 256  # output elements × inner dimension
    assert s["macs_by_op"] == {"Conv": conv, "MatMul": matmul}
    assert s["macs_per_decision"] == conv + matmul
    assert s["params"] == 36 + 1280  # the int64 shape constant is not a parameter
    assert s["ops_with_unknown_shape"] == []


def test_latency_percentiles():
    r = latency_percentiles(list(range(1, 101)))
    assert r["p50"] == pytest.approx(50.5) and r["p99"] == pytest.approx(99.01) and r["unit"] == "ms"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from catuvac.training.scenes import generate_corpus

    return generate_corpus(tmp_path_factory.mktemp("scenes"), seed=3, clips_per_class=1, day_minutes=3.0, progress=False)


def test_bench_end_to_end_on_a_tiny_model(tmp_path, corpus):
    rt = _runtime_conftest()
    model = rt.build_test_model(tmp_path / "m.onnx", window_seconds=2.0, n_clusters=4)
    out = tmp_path / "b.json"
    assert main(["--model", str(model), "--json", str(out), "--plot", str(tmp_path / "b.png"),
                 "--day", str(corpus), "--iterations", "5", "--quiet"]) == 0
    r = json.loads(out.read_text())
    assert set(r["decision_latency_ms"]) == {"ort_fp32"}  # no int8 sibling, no checkpoint
    for key in ("p50", "p95", "p99"):
        assert r["decision_latency_ms"]["ort_fp32"][key] > 0
    assert r["macs_per_decision"] > 0 and r["params"] > 0
    assert r["macs_per_second_of_audio"] == pytest.approx(r["macs_per_decision"] / r["decision_interval_s"])
    assert r["int8_param_bytes"] is None and r["incremental"]["supported"] is False  # fp32 only, no incremental graph
    assert r["model_bytes"]["fp32"] == model.stat().st_size
    day = r["day_recording"]  # no --map: the research cluster figures only
    assert day["profile_accuracy"] is None and "--map" in day["note"]
    assert day["research_clusters"]["n_decisions"] == int((180 - 2) / 0.99) + 1
    assert 0 < r["real_time_factor"] < 1
    assert r["algorithmic_delay_ms"] < 10
    assert r["machine"]["cores"] >= 1 and r["machine"]["onnxruntime"]
    assert (tmp_path / "b.png").stat().st_size > 10_000


def test_bench_reports_incremental_figures_of_a_streaming_model(tmp_path, corpus, device_export):
    out = tmp_path / "d.json"
    assert main(["--model", device_export["files"]["fp32"], "--json", str(out), "--day", str(corpus), "--iterations", "5",
                 "--no-sim", "--quiet"]) == 0
    r = json.loads(out.read_text())
    inc = r["incremental"]
    assert inc["supported"] and inc["decision_agreement_with_full"] == 1.0  # fp32: the same function of the same frames
    assert 0 < inc["macs_per_decision"] < r["macs_per_decision"] and inc["mac_saving"] > 1
    # every multiply-accumulate is counted: the GRU's Gemms too, whose row counts follow the new frames
    assert inc["ops_with_unknown_shape"] == [] and r["graph"]["ops_with_unknown_shape"] == []
    assert inc["macs_by_op"]["Gemm"] > 0 and inc["macs_by_op"]["Conv"] < r["graph"]["macs_by_op"]["Conv"]
    assert inc["macs_per_second_of_audio"] == pytest.approx(inc["macs_per_decision"] / r["decision_interval_s"])
    assert 0 < r["int8_param_bytes"] < r["model_bytes"]["int8"]
    assert {"ort_fp32_incremental", "ort_int8_incremental"} <= set(r["decision_latency_ms"])


def test_bench_missing_model_is_a_clear_error(tmp_path, capsys):
    assert main(["--model", str(tmp_path / "nope.onnx"), "--json", str(tmp_path / "o.json"), "--quiet"]) == 2
    assert "catuvac-export" in capsys.readouterr().err


def test_bench_days_replays_and_summarizes(tmp_path, capsys):
    rt = _runtime_conftest()
    model = rt.build_test_model(tmp_path / "m.onnx", window_seconds=2.0, n_clusters=4)
    pmap = tmp_path / "map.json"
    pmap.write_text(json.dumps({"0": "quiet", "1": "music", "2": "wind", "3": "speech-in-noise"}))
    out = tmp_path / "days.json"
    assert main(["--model", str(model), "--json", str(out), "--days", "2", "--day-minutes", "1", "--day-seeds", "4", "5",
                 "--map", str(pmap), "--quiet"]) == 0
    r = json.loads(out.read_text())
    assert r["day_seeds"] == [4, 5] and r["decision_rule"] == "hmm" and len(r["days"]) == 2
    s = r["summary"]
    assert s["n_days"] == 2 and s["hours"] == pytest.approx(2 / 60, abs=1e-3)
    assert s["profile_accuracy"]["mean"] == pytest.approx(np.mean([d["profile_accuracy"] for d in r["days"]]))
    assert s["missed_changes_total"] == sum(d["missed_changes"] for d in r["days"])
    assert "profile_accuracy" in capsys.readouterr().out
    # the days were generated once into the cache: a second run with the EMA rule reuses them
    assert main(["--model", str(model), "--json", str(out), "--days", "1", "--day-minutes", "1", "--day-seeds", "4",
                 "--map", str(pmap), "--decision", "ema", "--quiet"]) == 0
    assert json.loads(out.read_text())["decision_rule"] == "ema"
    # no map and no checkpoint: a clear error
    assert main(["--model", str(model), "--json", str(out), "--days", "1", "--day-minutes", "1", "--quiet"]) == 2
    assert "--map" in capsys.readouterr().err
