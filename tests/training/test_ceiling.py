"""The supervised-ceiling diagnostic runs end to end on a tiny labelled corpus and reports sane figures."""

import json
import shutil

import pytest

from catuvac.training import ceiling


@pytest.mark.slow
def test_ceiling_end_to_end(tmp_path):
    from catuvac.training.scenes import generate_corpus

    corpus = generate_corpus(tmp_path / "scenes", seed=3, clips_per_class=3, day_minutes=3.0, progress=False)
    labelled = tmp_path / "labelled"  # class sub-folders only (day.wav at the root is no training clip)
    for d in corpus.iterdir():
        if d.is_dir():
            shutil.copytree(d, labelled / d.name)
    out = tmp_path / "ceiling.json"
    assert ceiling.main(["--data", f"folder:{labelled}", "--day", str(corpus), "--epochs", "1", "--json", str(out), "--quiet"]) == 0
    rep = json.loads(out.read_text())
    assert rep["epochs"] == 1 and len(rep["train_loss"]) == 1 and rep["train_loss"][0] > 0
    assert 0.0 <= rep["test_accuracy"] <= 1.0
    assert set(rep["intervals"]) == {"1s", "0.5s"}
    for entry in rep["intervals"].values():
        d = entry["default_smoothing"]
        assert 0.0 <= d["raw_agreement"] <= 1.0 and d["spurious_switches"] >= 0
        best = entry["best_on_day_with_at_most_1_spurious_per_hour"]
        if best is not None:  # a grid point qualifies only with ≤ 1 spurious switch / h and none missed
            assert best["score"]["spurious_switches_per_hour"] <= 1.0 and best["score"]["switch_delay_s"]["missed"] == 0


def test_ceiling_help_and_bad_epochs(capsys):
    with pytest.raises(SystemExit) as e:
        ceiling.main(["--help"])
    assert e.value.code == 0 and "WITH the scene labels" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        ceiling.main(["--epochs", "0", "--json", "x.json"])
