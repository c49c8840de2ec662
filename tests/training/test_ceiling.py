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


def test_train_supervised_keeps_the_best_validation_epoch():
    """Training is the same with or without a validation split; with one, the kept weights are those
    of the epoch that scored best on it (here: labels flipped, so the most wrong epoch wins)."""
    import numpy as np
    import torch

    from catuvac.training.model import ModelConfig, build_model

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 16)
    x = rng.normal(size=(32, 1, 16, 19))
    x[y == 1, :, 8:] += 3.0  # class 1: energy in the upper bands
    x = torch.from_numpy(x.astype(np.float32))
    mc = ModelConfig(n_clusters=2, n_features=16, n_frames=19, latent_dim=4, conv_channels=(4, 8, 8, 16),
                     gru_hidden=16, decoder_channels=(8, 8, 4, 1))

    def trained(**val):
        torch.manual_seed(0)
        m = build_model(mc)
        return m, ceiling.train_supervised(m, x, y, 8, seed=0, batch_size=8, **val)

    final, h_final = trained()
    flipped = 1 - y
    chosen, h_chosen = trained(x_val=x, y_val=flipped)
    assert h_chosen == pytest.approx(h_final, rel=1e-6)  # the validation pass does not change training
    acc = ceiling._accuracy
    assert acc(final, x, y, 8) == 1.0  # separable: the last epoch has learnt it
    assert acc(chosen, x, flipped, 8) >= acc(final, x, flipped, 8)
    assert acc(chosen, x, flipped, 8) > 0.0  # an earlier, less trained epoch was kept
