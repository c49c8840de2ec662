"""The supervised-ceiling diagnostic runs end to end on a tiny labelled corpus and reports sane figures."""

import json
import shutil

import pytest

from catuvac.training import ceiling


@pytest.mark.slow
def test_ceiling_end_to_end(tmp_path):
    from catuvac.training.days import write_day
    from catuvac.training.scenes import generate_corpus

    corpus = generate_corpus(tmp_path / "scenes", seed=3, clips_per_class=3, day_minutes=3.0, progress=False)
    labelled = tmp_path / "labelled"  # class sub-folders only (days/day.wav is no training clip)
    for d in corpus.iterdir():
        if d.is_dir() and d.name != "days":
            shutil.copytree(d, labelled / d.name)
    day = write_day(tmp_path / "day", 1.0, seed=4, progress=False)
    out = tmp_path / "ceiling.json"
    assert ceiling.main(["--data", f"folder:{labelled}", "--day", str(day), "--epochs", "1", "--json", str(out), "--quiet"]) == 0
    rep = json.loads(out.read_text())
    assert rep["epochs"] == 1 and len(rep["train_loss"]) == 1 and rep["train_loss"][0] > 0
    assert set(rep["rules"]) == {"hmm", "fixed-lag", "ema"}
    for entry in rep["rules"].values():
        (d,) = entry["days"]
        assert entry["summary"]["profile_accuracy"]["mean"] == d["profile_accuracy"]
        assert entry["summary"]["missed_changes_total"] == d["missed_changes"]


def test_ceiling_help_and_bad_epochs(capsys):
    with pytest.raises(SystemExit) as e:
        ceiling.main(["--help"])
    assert e.value.code == 0 and "WITH the scene labels" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        ceiling.main(["--epochs", "0", "--json", "x.json"])
