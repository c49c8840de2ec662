"""catuvac-listen: --json on a file, the live view, --list-devices, no-device and error messages."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import tests.helpers.fake_sounddevice as st
import tests.helpers.scene_models as fx
from catuvac.runtime.cli import LiveView, main
from catuvac.runtime.clusterer import SceneClusterer
from catuvac.runtime.decisions import HmmConfig

_here = Path(__file__).parent


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    x = np.concatenate([fx.scene_audio(8.0, 0, 4, 16000, seed=21), fx.scene_audio(8.0, 3, 4, 16000, seed=22)])
    p = tmp_path_factory.mktemp("cli") / "lh.wav"
    sf.write(p, x, 16000)
    return p


def test_json_on_file(small_model: Path, wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prof = tmp_path / "p.json"
    prof.write_text(json.dumps({"0": "quiet", "3": "noisy"}))
    hmm = ["--decision", "hmm", "--hmm-dwell", "20", "--temperature", "2", "--switch-prob", "0.6", "--floor", "0.05",
           "--change-dwell", "2", "--change-threshold", "4", "--change-hold", "5", "--change-temperature", "1.5"]
    assert main(["--model", str(small_model), "--file", str(wav), "--json", "--profiles", str(prof), *hmm]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 15  # (16 s − 2 s window) / 0.99 s + 1
    for d in lines:
        assert {"time_s", "cluster", "probs", "smoothed", "stable", "changed", "profile", "partial", "inference_ms", "overflows"} <= set(d)
        assert len(d["probs"]) == 4 and d["overflows"] == 0
    assert lines[0]["profile"] == "quiet" and lines[-1]["profile"] == "noisy"
    assert [d["changed"] for d in lines].count(True) == 2
    cfg = HmmConfig(20.0, 2.0, floor=0.05, switch_prob=0.6, change_dwell_s=2.0, change_threshold_db=4.0, change_hold_s=5.0,
                    change_temperature=1.5)
    ref = SceneClusterer(small_model, profile_map=str(prof), decision_config=cfg).process_file(wav)
    assert [d["stable"] for d in lines] == [e.stable for e in ref]
    assert [d["smoothed"] for d in lines] == [[round(float(b), 6) for b in e.smoothed] for e in ref]
    assert "15 decisions" in err and "stable changes 1" in err
    # a map's level model that says "every level is noisy": followed, unless --no-level
    lev = tmp_path / "lev.json"
    lev.write_text(json.dumps({"0": "quiet", "3": "noisy", "default": "quiet", "level": {"grid_db": [-200, 100],
                                                                      "likelihood": {"quiet": [1e-4, 1e-4], "noisy": [1, 1]}}}))
    for flags, first in (([], "noisy"), (["--no-level"], "quiet")):
        assert main(["--model", str(small_model), "--file", str(wav), "--json", "--map", str(lev), *hmm, *flags]) == 0
        assert json.loads(capsys.readouterr().out.splitlines()[0])["profile"] == first


def test_duration_and_plain_lines(small_model: Path, wav: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--model", str(small_model), "--file", str(wav), "--duration", "5"]) == 0
    out, _ = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].startswith("# file")
    ev = [line for line in lines if line.startswith("t=")]
    assert len(ev) == 4 and "\x1b[" not in out and "latency=" in ev[0] and "overflows=0" in ev[0]


def test_short_file_says_why(small_model: Path, wav: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--model", str(small_model), "--file", str(wav), "--json", "--duration", "1"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and "shorter than the model's 2-s window" in err


def test_live_view_redraws_in_place(small_model: Path) -> None:
    c = SceneClusterer(small_model, profile_map={"0": "quiet"})
    ev = c.process(fx.scene_audio(4.0, 0, 4, 16000), 16000)
    buf = io.StringIO()
    view = LiveView(c, "test source", buf, tty=True)
    view.show(ev[0], overflows=0)
    view.show(ev[1], overflows=3)
    s = buf.getvalue()
    assert s.count("\x1b[8F") == 1  # cursor back up over the 4 + K lines of the first block
    assert "profile \x1b[1mquiet" in s and "overflows 3" in s and "█" in s and "latency" in s


@pytest.mark.parametrize(
    "argv, msg",
    [
        (["--file", "x.wav"], "--model MODEL is required"),
        (["--model", "/nonexistent.onnx", "--file", "x.wav"], "model file not found"),
    ],
)
def test_user_errors_exit_2(argv: list[str], msg: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_missing_file_and_bad_profiles(small_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--model", str(small_model), "--file", str(tmp_path / "no.wav")]) == 2
    assert "file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"9": "x"}')
    assert main(["--model", str(small_model), "--file", "x.wav", "--profiles", str(bad)]) == 2
    assert "out of range" in capsys.readouterr().err


def test_list_devices(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", st.make_fake_sd([st.MIC, st.SPK], default_in=0))
    assert main(["--list-devices"]) == 0
    out = capsys.readouterr().out
    assert "Fake Mic" in out and "Fake Speaker" not in out and "--device ID" in out


def test_no_input_device_message(small_model: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", st.make_fake_sd([st.SPK]))
    assert main(["--list-devices"]) == 0
    assert "no audio input device" in capsys.readouterr().err
    assert main(["--model", str(small_model)]) == 2
    err = capsys.readouterr().err
    assert "no audio input device" in err and "--device ID" in err and "--file PATH" in err


def test_microphone_json_with_fake_device(small_model: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # 40 blocks of 1600 samples = 4 s at 16 kHz, one overflow flagged by the fake PortAudio
    monkeypatch.setitem(sys.modules, "sounddevice", st.make_fake_sd([st.MIC], default_in=0, blocks=40, overflow_at=(5,)))
    assert main(["--model", str(small_model), "--json", "--block-size", "1600", "--duration", "4"]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(x) for x in out.splitlines()]
    assert len(lines) == 3 and all(d["overflows"] == 1 for d in lines)
    assert "1 input overflow(s)" in err


def test_console_script_help() -> None:
    r = subprocess.run([sys.executable, "-m", "catuvac.runtime.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--list-devices" in r.stdout and "--json" in r.stdout


def test_truth_scoring(small_model: Path, wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truth = tmp_path / "truth.json"
    truth.write_text(json.dumps([{"start_s": 0, "end_s": 8, "label": "low"}, {"start_s": 8, "end_s": 16, "label": "high"}]))
    table = tmp_path / "scene_profiles.json"
    table.write_text(json.dumps({"_comment": "test scenes", "low": "quiet", "high": "noisy"}))
    pmap = tmp_path / "map.json"
    pmap.write_text(json.dumps({"0": "quiet", "3": "noisy", "default": "quiet"}))
    rep = tmp_path / "score.json"
    args = ["--model", str(small_model), "--file", str(wav), "--json", "--truth", str(truth), "--report", str(rep),
            "--hmm-dwell", "20", "--temperature", "2", "--switch-prob", "0.6"]
    assert main(args + ["--map", str(pmap), "--scene-profiles", str(table)]) == 0
    err = capsys.readouterr().err
    r = json.loads(rep.read_text())
    assert r["n_true_changes"] == 1 and r["missed_changes"] == 0 and r["spurious_switches"] == 0
    assert 2.0 < r["switch_delay_s"]["median"] <= 8.0
    assert r["profile_accuracy"] >= 0.8 and r["decision_rule"] == "hmm"
    c = r["research_clusters"]
    assert c["cluster_to_label"]["0"] == "low" and c["n_switches"] == 1
    assert "profile accuracy" in err and "switch delay median" in err
    # without a map only the research figures; a truth label missing from the table is a clear error
    assert main(args[:-6] + ["--decision", "ema", "--confirm", "1", "--dwell", "6"]) == 0
    r = json.loads(rep.read_text())
    assert r["profile_accuracy"] is None and r["research_clusters"]["spurious_switches"] == 0
    assert r["research_clusters"]["cluster_to_label"] == {"0": "low", "3": "high"}
    capsys.readouterr()
    assert main(args + ["--map", str(pmap)]) == 2
    assert "no profile in the scene" in capsys.readouterr().err
    assert main(["--model", str(small_model), "--file", str(wav), "--truth", str(tmp_path / "none.json")]) == 2
    assert main(["--model", str(small_model), "--file", str(wav), "--report", str(rep)]) == 2
    assert "--truth" in capsys.readouterr().err


def test_report_without_truth_is_refused(small_model: Path, wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--model", str(small_model), "--file", str(wav), "--report", str(tmp_path / "r.json")]) == 2
    assert "--truth" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("flags, msg", [(["--duration", "inf"], "--duration"), (["--block-size", "-5"], "--block-size")])
def test_bad_numbers_are_one_line(small_model: Path, wav: Path, flags: list[str], msg: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--model", str(small_model), "--file", str(wav), *flags]) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1


def test_short_file_with_allow_partial_does_not_advise_it(small_model: Path, wav: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--model", str(small_model), "--file", str(wav), "--json", "--duration", "0.1", "--allow-partial"]) == 0
    err = capsys.readouterr().err
    assert "no decision" in err and "use --allow-partial" not in err
