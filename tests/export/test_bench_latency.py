"""The latency benchmark: structure of its report (the speed figures themselves are measured
on a quiet machine, not asserted in tests)."""

from __future__ import annotations

import json

from catuvac.export.bench_latency import cpu_flags, main


def test_cpu_flags():
    f = cpu_flags()
    assert isinstance(f["vnni"], bool) and f["vnni"] == (f["avx512_vnni"] or f["avx_vnni"])
    assert f["logical_cpus"] >= 1


def test_bench_latency_report(tmp_path, checkpoint, capsys):
    out = tmp_path / "bench.json"
    rc = main(["--checkpoint", str(checkpoint), "--json", str(out), "--windows", "4", "--repeats", "10", "--warmup", "2", "--quiet"])
    assert rc == 0
    rep = json.loads(out.read_text())
    w = rep["windows"]["4s"]
    assert w["window_frames"] == 132
    for engine in ("torch_fp32", "ort_fp32", "ort_int8"):
        s = w[engine]
        assert s["n"] == 10 and 0 < s["min_ms"] <= s["p50_ms"] <= s["p95_ms"] <= s["p99_ms"]
    assert w["speedup_int8_vs_torch"] == w["torch_fp32"]["p50_ms"] / w["ort_int8"]["p50_ms"]
    assert w["int8_bytes"] / w["fp32_bytes"] <= 0.30
    d = w["decision_on_bench_input"]
    assert d["torch_reference"] == d["torch_fp32"] == d["ort_fp32"]
    assert rep["threads"]["torch_intra_op"] == 1 and rep["threads"]["ort_intra_op"] == 1
    assert "vnni" in rep["machine"]
    assert "4s" in capsys.readouterr().out
