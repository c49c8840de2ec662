"""catuvac-export --c: the int8 encoder as C99, compiled with the system compiler (warnings are
errors), run on > 1 000 real windows of a tiny model and checked against ONNX Runtime int8 and the
numpy integer reference; the C front-end against the Python one; the example program; bad input."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
import soundfile as sf

from catuvac.export.c_codegen import generate_sources
from catuvac.export.c_plan import CExportError, plan_from_onnx
from catuvac.export.c_reference import run_reference
from catuvac.export.c_target import CFLAGS, MIN_ID_AGREEMENT, PROB_TOLERANCE, find_compiler
from catuvac.export.cli import build_parser
from catuvac.export.exporter import INT8_NAME, ExportError, WindowData, export_model, ort_session, quantize_int8, run_onnx
from catuvac.runtime.frontend import FrontEnd, FrontEndConfig, NormStats, fit_global_stats, normalize_window
from catuvac.training.checkpoint import save_checkpoint
from catuvac.training.model import ModelConfig, conv_out

pytestmark = pytest.mark.skipif(
    find_compiler() is None, reason="no C compiler (cc/gcc/clang): `make test` installs gcc via tools/c_compiler.sh"
)

K = 4
STEP = 2  # window hop in frames when slicing the clips: 28 clips × 51 windows = 1 428 real windows


@pytest.fixture(scope="module")
def tiny_fe() -> FrontEndConfig:
    return dataclasses.replace(FrontEndConfig.scenes(window_seconds=1.0), n_mels=32)


@pytest.fixture(scope="module")
def tiny_windows(scene_audio, tiny_fe) -> tuple[np.ndarray, np.ndarray]:
    """(N, 32, 32) normalized windows sliced from the synthesized clips, and each window's class."""
    fe = FrontEnd(tiny_fe)
    t = tiny_fe.window_frames
    wins, labels = [], []
    for i, (_, audio) in enumerate(scene_audio):
        f = fe.features(audio)
        for s in range(0, f.shape[1] - t + 1, STEP):
            wins.append(f[:, s : s + t])
            labels.append(i // 4)
    return normalize_window(np.stack(wins), tiny_fe), np.asarray(labels)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory, tiny_windows, tiny_fe, model_factory) -> Path:
    cfg = ModelConfig(n_clusters=K, n_features=32, n_frames=tiny_fe.window_frames, latent_dim=4,
                      conv_channels=(4, 8, 8, 16), gru_hidden=16, decoder_channels=(8, 8, 4, 1))
    x, y = tiny_windows
    model = model_factory(x, cfg=cfg, labels=y)
    path = tmp_path_factory.mktemp("tiny") / "checkpoint.pt"
    save_checkpoint(path, model, model.cfg, tiny_fe, {"preset": "test", "seed": 0, "split_seed": 0}, epoch=1)
    return path


@pytest.fixture(scope="module")
def c_export(tmp_path_factory, tiny_checkpoint, tiny_windows):
    """One export with --c for the module: (out dir, C dir, report, windows)."""
    x, _ = tiny_windows
    root = tmp_path_factory.mktemp("cexp")
    data = WindowData(calibration=x[0::4], verification=np.concatenate([x[1::4], x[2::4], x[3::4]]), source="tiny windows")
    # min_agreement 0.95: the tiny model's fully int8 form agrees with PyTorch on ~97 % (a 4-channel
    # first conv in int8); the C target's own checks are against ORT int8, unchanged
    report = export_model(tiny_checkpoint, root / "model", calibration=data, progress=False, c_dir=root / "c", min_agreement=0.95)
    return root / "model", root / "c", report, np.concatenate([data.calibration, data.verification])


@pytest.fixture(scope="module")
def verify_bin(c_export) -> Path:
    """The harness built by the generated Makefile with the strict flags (compiled once per module)."""
    _, cdir, _, _ = c_export
    subprocess.run(["make", "-s", "catuvac_verify", f"CFLAGS={' '.join(CFLAGS)}"], cwd=cdir, check=True, capture_output=True)
    return cdir / "catuvac_verify"


def _run_windows(verify_bin: Path, windows: np.ndarray, tmp: Path) -> np.ndarray:
    np.ascontiguousarray(windows, dtype=np.float32).tofile(tmp / "w.f32")
    subprocess.run([str(verify_bin), "windows", str(tmp / "w.f32"), str(tmp / "o.i32")], check=True)
    return np.fromfile(tmp / "o.i32", dtype=np.int32).reshape(len(windows), 1 + 2 * K).astype(np.int64)


def _pcm(audio: np.ndarray) -> np.ndarray:
    return np.clip(np.round(audio * 32768.0), -32768, 32767).astype(np.int16)


# --------------------------------------------------------------------------- the network
def test_c_matches_ort_int8_and_the_integer_reference(c_export, verify_bin, tmp_path):
    out, _, _, windows = c_export
    assert len(windows) >= 1000
    rec = _run_windows(verify_bin, windows, tmp_path)
    ids, q15, logits = rec[:, 0], rec[:, 1 : 1 + K], rec[:, 1 + K :]
    ort_ids, ort_probs = run_onnx(ort_session(out / INT8_NAME), windows)
    assert len(np.unique(ort_ids)) >= 3  # decisions vary: agreement is not trivially 1
    assert np.mean(ids == ort_ids) >= MIN_ID_AGREEMENT
    assert np.max(np.abs(q15 / 32768.0 - ort_probs)) <= PROB_TOLERANCE
    ref = run_reference(plan_from_onnx(out / INT8_NAME), windows)
    np.testing.assert_array_equal(logits, ref.logits_q16)
    np.testing.assert_array_equal(q15, ref.q15)
    np.testing.assert_array_equal(ids, ref.ids)
    assert np.all(np.abs(q15.sum(axis=1) - 32768) <= K)  # a distribution, up to rounding


def test_report_c_section(c_export, verify_bin, tiny_fe):
    out, cdir, report, windows = c_export
    c = report["c"]
    on_disk = json.loads((out / "export_report.json").read_text())["c"]
    assert on_disk == c
    assert c["n_windows"] == len(windows) and c["bit_exact_with_reference"] is True and c["passed"] is True
    assert c["id_agreement_with_ort_int8"] >= MIN_ID_AGREEMENT
    assert report["quantization"]["fully_int8"] is True  # --c implies --fully-int8
    # MACs from the architecture, counted independently of the graph walk
    f, t, ci, macs = 32, tiny_fe.window_frames, 1, 0
    for co in (4, 8, 8, 16):
        fo, to = conv_out(f, layers=1), conv_out(t, layers=1)
        macs += co * fo * to * ci * 64
        f, t, ci = fo, to, co
    gin, h = ci * f, 16
    macs += t * 3 * h * gin + (t - 1) * 3 * h * h + t * 3 * h * h + (t - 1) * 3 * h * h + K * h
    assert c["macs_per_decision"] == macs
    weights = 64 * (4 + 4 * 8 + 8 * 8 + 8 * 16) + 3 * h * (gin + h + h + h) + K * h
    assert c["weight_bytes"] == weights
    assert c["const_bytes"] >= weights and c["code_bytes"] > 0
    # RAM: at least the two activation buffers and the frame ring, and far from the weights' float copy
    assert c["ram_bytes"] >= 4 * 32 * tiny_fe.window_frames + 4 * 16 * 16
    sizes = json.loads(subprocess.run([str(verify_bin), "sizes"], capture_output=True, text=True, check=True).stdout)
    assert c["state_bytes"] == sizes["state_bytes"] >= 4 * 32 * tiny_fe.window_frames  # holds the frame ring
    readme = (cdir / "README.md").read_text()
    assert f"{c['macs_per_decision']:,}" in readme and f"{c['const_bytes']:,}" in readme


def test_generated_code_links_nothing_but_libm(c_export):
    """No malloc, threads or I/O: the model object's only external symbols are the front-end's libm calls."""
    import shutil

    _, cdir, _, _ = c_export
    if shutil.which("nm") is None:
        pytest.skip("nm (binutils) not installed")
    subprocess.run(["make", "-s", "catuvac_model.o"], cwd=cdir, check=True, capture_output=True)
    r = subprocess.run(["nm", "-u", str(cdir / "catuvac_model.o")], capture_output=True, text=True, check=True)
    undefined = {line.split()[-1] for line in r.stdout.splitlines() if line.strip()}
    # memset / memcpy: what every C compiler may emit for a zeroing or copy loop, even freestanding
    assert undefined and undefined <= {"logf", "sqrtf", "sqrt", "memset", "memcpy", "memmove", "_GLOBAL_OFFSET_TABLE_"}
    assert "static const int8_t CONV0_W[" in (cdir / "catuvac_model.c").read_text()


# --------------------------------------------------------------------------- front-end and API
def _stream(verify_bin: Path, pcm: np.ndarray, chunk: int, every: int, tmp: Path, f: int, t: int) -> tuple[np.ndarray, np.ndarray]:
    pcm.astype("<i2").tofile(tmp / "a.s16")
    subprocess.run([str(verify_bin), "stream", str(tmp / "a.s16"), str(chunk), str(every), str(tmp / "s.f32")], check=True)
    rec = np.fromfile(tmp / "s.f32", dtype=np.float32).reshape(-1, f * t + K)
    return rec[:, : f * t].reshape(-1, f, t), rec[:, f * t :]


def test_c_front_end_matches_python_and_is_chunk_invariant(c_export, verify_bin, scene_audio, tiny_fe, tmp_path):
    out, _, _, _ = c_export
    pcm = _pcm(np.concatenate([scene_audio[0][1], scene_audio[9][1]]))  # quiet room, then babble
    every = 4800
    win_a, q_a = _stream(verify_bin, pcm, 160, every, tmp_path, 32, tiny_fe.window_frames)
    win_b, q_b = _stream(verify_bin, pcm, 2400, every, tmp_path, 32, tiny_fe.window_frames)
    np.testing.assert_array_equal(win_a, win_b)  # the stream does not depend on the chunking
    np.testing.assert_array_equal(q_a, q_b)
    # decide() (quantizing in place) computes what classify_window() does on catuvac_window()'s output
    rec = _run_windows(verify_bin, win_a, tmp_path)
    np.testing.assert_array_equal(rec[:, 1 : 1 + K].astype(np.float32) / np.float32(32768.0), q_a)
    feats = FrontEnd(tiny_fe).features(pcm.astype(np.float32) / 32768.0)
    ends = [e for e in range(every, len(pcm) + 1, every) if tiny_fe.frames_for_samples(e) >= tiny_fe.window_frames]
    assert len(ends) == len(win_a) > 10
    py = np.stack([normalize_window(feats[:, n - tiny_fe.window_frames : n], tiny_fe)
                   for n in (tiny_fe.frames_for_samples(e) for e in ends)])
    assert np.max(np.abs(win_a - py)) <= 1e-4
    ort_ids, ort_probs = run_onnx(ort_session(out / INT8_NAME), py)
    assert np.mean(np.argmax(q_a, axis=1) == ort_ids) >= 0.95
    assert np.max(np.abs(q_a - ort_probs)) <= PROB_TOLERANCE


def test_c_front_end_global_normalization_and_dynamic_range(c_export, tiny_windows, scene_audio, tiny_fe, tmp_path):
    out, _, _, _ = c_export
    fe0 = FrontEnd(tiny_fe)
    raw = [fe0.features(a) for _, a in scene_audio[:8]]
    fe = dataclasses.replace(tiny_fe, normalization="global", dynamic_range_db=60.0)
    fe = fe.with_stats(fit_global_stats(raw, fe))
    assert isinstance(fe.stats, NormStats)
    cdir = tmp_path / "c"
    generate_sources(plan_from_onnx(out / INT8_NAME), fe, cdir)
    subprocess.run(["make", "-s", "catuvac_verify"], cwd=cdir, check=True, capture_output=True)
    pcm = _pcm(scene_audio[20][1])
    win, _ = _stream(cdir / "catuvac_verify", pcm, 480, 4800, tmp_path, 32, fe.window_frames)
    feats = FrontEnd(fe).features(pcm.astype(np.float32) / 32768.0)
    ends = [e for e in range(4800, len(pcm) + 1, 4800) if fe.frames_for_samples(e) >= fe.window_frames]
    py = np.stack([normalize_window(feats[:, n - fe.window_frames : n], fe) for n in (fe.frames_for_samples(e) for e in ends)])
    assert np.max(np.abs(win - py)) <= 1e-4


def test_example_program_builds_and_prints_one_decision_per_interval(c_export, scene_audio, tiny_fe, tmp_path):
    out, cdir, _, _ = c_export
    subprocess.run(["make", "-s"], cwd=cdir, check=True, capture_output=True)
    audio = np.concatenate([scene_audio[4][1], scene_audio[16][1]])  # 8 s
    sf.write(tmp_path / "rec.wav", np.stack([audio, audio], axis=1), 16000, subtype="PCM_16")  # stereo: mixed to mono
    r = subprocess.run([str(cdir / "catuvac_example"), str(tmp_path / "rec.wav"), "0.5"], capture_output=True, text=True, check=True)
    rows = [line.split() for line in r.stdout.splitlines() if not line.startswith("#")]
    first = (tiny_fe.window_frames - 1) * tiny_fe.hop_length + tiny_fe.n_fft
    assert len(rows) == (len(audio) - first) // 8000 + 1
    times = [float(t) for t, _, _ in rows]
    assert times[0] == pytest.approx(first / 16000, abs=1e-3) and np.allclose(np.diff(times), 0.5)
    # the same decisions as the Python front-end + ORT int8 on the same samples
    pcm = sf.read(tmp_path / "rec.wav", dtype="int16")[0].mean(axis=1).astype(np.int16)
    feats = FrontEnd(tiny_fe).features(pcm.astype(np.float32) / 32768.0)
    ends = [first + 8000 * i for i in range(len(rows))]
    py = np.stack([normalize_window(feats[:, n - tiny_fe.window_frames : n], tiny_fe) for n in (tiny_fe.frames_for_samples(e) for e in ends)])
    ort_ids, _ = run_onnx(ort_session(out / INT8_NAME), py)
    assert np.mean(np.array([int(c) for _, c, _ in rows]) == ort_ids) >= 0.9
    bad = subprocess.run([str(cdir / "catuvac_example"), str(tmp_path / "missing.wav")], capture_output=True, text=True)
    assert bad.returncode == 2 and "missing.wav" in bad.stderr


# --------------------------------------------------------------------------- bad input
def test_unsupported_op_is_named(c_export, tmp_path):
    out, _, _, _ = c_export
    model = onnx.load(out / INT8_NAME)
    node = next(n for n in model.graph.node if n.op_type == "Tanh")
    node.op_type = "HardSigmoid"
    onnx.save(model, tmp_path / "bad.onnx")
    with pytest.raises(CExportError, match=rf"node '{node.name}': op HardSigmoid is not supported by the C target"):
        plan_from_onnx(tmp_path / "bad.onnx")


def test_float_first_conv_is_refused_naming_the_node(c_export, tiny_windows, tmp_path):
    out, _, _, _ = c_export
    x, _ = tiny_windows
    quantize_int8(out / "encoder.onnx", tmp_path / "m.onnx", x[:32], float_first_conv=True)
    with pytest.raises(CExportError, match=r"\(Conv\) reads float weights .*--fully-int8"):
        plan_from_onnx(tmp_path / "m.onnx")


def test_c_dir_is_checked_before_the_work(tmp_path, tiny_checkpoint, tiny_windows):
    x, _ = tiny_windows
    data = WindowData(calibration=x[:8], verification=x[8:16])
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="holds other files"):
        export_model(tiny_checkpoint, tmp_path / "m", calibration=data, progress=False, c_dir=busy)
    assert (busy / "notes.txt").read_text() == "mine" and not (tmp_path / "m").exists()
    with pytest.raises(ExportError, match="not the --out folder"):
        export_model(tiny_checkpoint, tmp_path / "m", calibration=data, progress=False, c_dir=tmp_path / "m")


def test_c_failure_keeps_the_onnx_models_and_writes_no_c(tmp_path, tiny_checkpoint, tiny_windows, monkeypatch):
    from catuvac.export import c_target

    x, _ = tiny_windows
    monkeypatch.setattr(c_target, "MIN_ID_AGREEMENT", 1.01)  # no C build can pass this
    data = WindowData(calibration=x[0::8], verification=x[1::8])
    with pytest.raises(ExportError, match="C target: C cluster ids agree with ORT int8") as e:
        export_model(tiny_checkpoint, tmp_path / "m", calibration=data, progress=False, c_dir=tmp_path / "c", min_agreement=0.9)
    assert e.value.exit_code == 3
    assert not (tmp_path / "c").exists()
    assert (tmp_path / "m" / INT8_NAME).exists() and (tmp_path / "m" / "encoder.onnx").exists()
    report = json.loads((tmp_path / "m" / "export_report.json").read_text())
    assert report["passed"] is False and report["c"]["passed"] is False and report["files"]["c"] is None


def test_cli_help_mentions_the_c_target():
    text = build_parser().format_help()
    assert "--c DIR" in text and "C99" in text


def test_cli_c_into_an_occupied_folder_exits_2(tmp_path, tiny_checkpoint, capsys):
    from catuvac.export.cli import main

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "firmware.c").write_text("/* someone else's */")
    rc = main(["--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "m"), "--c", str(busy), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "--c" in err and "holds other files" in err
    assert (busy / "firmware.c").exists() and not (tmp_path / "m").exists()


# --------------------------------------------------------------------------- fixed-point helpers
def test_quantize_multiplier_and_requantize_round_half_up():
    from catuvac.export.c_plan import Requant, quantize_multiplier
    from catuvac.export.c_reference import requantize

    rng = np.random.default_rng(0)
    for real in np.concatenate([10.0 ** rng.uniform(-9, 3, 200), [0.5, 1.0, 2.0**-20]]):
        m, s = quantize_multiplier(float(real))
        assert 2**30 <= m < 2**31 and 1 <= s <= 62
        assert abs(m * 2.0**-s - real) <= real * 2.0**-30
    assert quantize_multiplier(0.0) == (0, 1) and quantize_multiplier(1e-30) == (0, 1)
    with pytest.raises(CExportError):
        quantize_multiplier(-1.0)
    # 0.5 exactly: x · 0.5 rounds half up (−3 → −1, −1 → 0, 1 → 1, 3 → 2)
    rq = Requant.of(0.5)
    np.testing.assert_array_equal(requantize(np.array([-3, -1, 1, 3, 4]), rq), [-1, 0, 1, 2, 2])
    acc = rng.integers(-2**24, 2**24, 1000)
    np.testing.assert_allclose(requantize(acc, Requant.of(0.0123)), acc * 0.0123, atol=0.5 + 1e-6)


def test_cli_writes_the_c_folder_from_audio_files(tmp_path, tiny_checkpoint, audio_folder, capsys):
    from catuvac.export.cli import main

    rc = main(["--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "m"), "--c", str(tmp_path / "c"),
               "--calibration", f"folder:{audio_folder}", "--min-agreement", "0.5", "--quiet"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["c"]["bit_exact_with_reference"] is True and out["c"]["dir"] == str(tmp_path / "c")
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        "Makefile", "README.md", "catuvac_example.c", "catuvac_model.c", "catuvac_model.h", "catuvac_verify.c"]
    assert not list(tmp_path.glob(".catuvac-c.*"))  # no temporary folder left next to it
    # a second export replaces the folder it wrote (its own files only)
    assert main(["--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "m"), "--c", str(tmp_path / "c"),
                 "--calibration", f"folder:{audio_folder}", "--min-agreement", "0.5", "--quiet"]) == 0
