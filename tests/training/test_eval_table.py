"""catuvac-eval (run_eval) and catuvac-table (run_table): JSON shape, pinned values, aggregation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from sklearn.metrics import silhouette_score

from catuvac.runtime.frontend import FrontEndConfig
from catuvac.training import table as table_mod
from catuvac.training.checkpoint import CheckpointError, save_checkpoint
from catuvac.training.datasets import load_dataset
from catuvac.training.evaluate import EvalError, evaluate_model, normalize_features, run_eval
from catuvac.training.evaluate import main as eval_main
from catuvac.training.metrics import validate_metrics
from catuvac.training.model import ModelConfig, build_model
from catuvac.training.table import aggregate_runs, format_table_markdown, paired_vs_kmeans, run_table

SR = 16000
WINDOW_S = 0.6  # 19 frames at hop 480: the smallest window the 4 stride-2 convolutions accept comfortably


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("CATUVAC_CACHE", str(tmp_path / "cache"))
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 shared cores: intra-op threads only oversubscribe tiny models
    yield
    torch.set_num_threads(n)


def make_folder(root: Path, per_class: int = 12, seconds: float = 2.4) -> Path:
    """Two well-separated classes: low-pass noise vs high-pass noise (4 windows per clip)."""
    rng = np.random.default_rng(0)
    n = int(seconds * SR)
    freqs = np.fft.rfftfreq(n, 1 / SR)
    for name, band in (("low", (50, 600)), ("high", (4000, 7000))):
        d = root / name
        d.mkdir(parents=True)
        for i in range(per_class):
            spec = np.fft.rfft(rng.normal(size=n))
            spec[(freqs < band[0]) | (freqs > band[1])] = 0
            y = np.fft.irfft(spec, n)
            y = 0.3 * y / np.max(np.abs(y))
            sf.write(d / f"{name}_{i}.wav", y.astype(np.float32), SR, subtype="FLOAT")
    return root


def tiny_checkpoint(path: Path, model_type: str = "cat_uvac", n_mels: int = 32, split: dict | None = None) -> tuple[Path, FrontEndConfig]:
    fe = FrontEndConfig(n_mels=n_mels, window_seconds=WINDOW_S)
    assert fe.window_frames == 19
    cfg = ModelConfig(
        model_type=model_type, n_clusters=2, n_features=n_mels, n_frames=19, latent_dim=4,
        conv_channels=(4, 8, 8, 16), gru_hidden=16, decoder_channels=(8, 8, 4, 1),
    )
    torch.manual_seed(0)
    m = build_model(cfg)
    m.eval()
    return save_checkpoint(path, m, cfg, fe, split or {"split_seed": 0, "seed": 0}, epoch=1), fe


def _check_entry(e: dict) -> None:
    assert set(e) >= {"accuracy", "nmi", "spaces"}
    if e["accuracy"] is not None:
        assert 0.0 <= e["accuracy"] <= 1.0
        assert 0.0 <= e["nmi"] <= 1.0 + 1e-12
    assert e["spaces"]
    for g in e["spaces"].values():
        assert set(g) >= {"silhouette", "dbi", "chi"}


def _leaves(obj, path=""):
    """Flatten nested dicts / lists to {path: number}; nulls become NaN-free markers."""
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_leaves(v, f"{path}/{k}"))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.update(_leaves(v, f"{path}/{i}"))
    else:
        out[path] = -12345.0 if obj is None else obj
    return out


# --------------------------------------------------------------------------- eval
def test_run_eval_json_shape_and_pins(tmp_path, capsys):
    data = make_folder(tmp_path / "data")
    ckpt, fe = tiny_checkpoint(tmp_path / "ck" / "checkpoint.pt", "uvac")
    out = tmp_path / "m.json"
    metrics = run_eval(ckpt.parent, f"folder:{data}", out, progress=False)
    assert json.loads(out.read_text()) == metrics
    assert set(metrics) == {"labels", "kmeans", "uvac"}
    validate_metrics(metrics)
    for e in metrics.values():
        _check_entry(e)
    assert set(metrics["uvac"]["spaces"]) == {"z_mean"}
    assert set(metrics["kmeans"]["spaces"]) == {"input"}
    assert set(metrics["labels"]["spaces"]) == {"z_mean", "input"}
    assert metrics["labels"]["accuracy"] == 1.0 and metrics["labels"]["nmi"] == 1.0
    # the two noise bands are trivially separable in the normalized features: K-means finds them
    assert metrics["kmeans"]["accuracy"] == 1.0
    # labels row geometry on the input == sklearn on the same features (computed independently)
    ds = load_dataset(f"folder:{data}", frontend=fe, seed=0, progress=False).subset("test")
    x = normalize_features(ds.x, fe).reshape(len(ds), -1)
    assert metrics["labels"]["spaces"]["input"]["silhouette"] == pytest.approx(silhouette_score(x, ds.labels), abs=1e-6)
    assert len(ds) >= 8
    printed = capsys.readouterr().out
    assert "| UVAC | z_mean |" in printed and "| K-means | input | 100.00 |" in printed


def test_run_eval_scores_the_checkpoints_fold(tmp_path):
    data = make_folder(tmp_path / "data", per_class=6)  # 12 clips of 4 windows
    for fold in range(3):
        ckpt, fe = tiny_checkpoint(tmp_path / f"ck{fold}.pt", "uvac", split={"split_seed": 2, "seed": 0, "folds": 3, "fold": fold})
        metrics = run_eval(ckpt, f"folder:{data}", progress=False, quiet=True)
        want = load_dataset(f"folder:{data}", frontend=fe, seed=2, progress=False, folds=3, fold=fold).subset("test")
        x = normalize_features(want.x, fe).reshape(len(want), -1)
        assert len(want) == 16  # 2 low and 2 high clips: the held-out fold, not the fixed split's test
        assert metrics["labels"]["spaces"]["input"]["silhouette"] == pytest.approx(silhouette_score(x, want.labels), abs=1e-6)


def test_run_eval_cat_uvac_cli_and_errors(tmp_path, capsys):
    data = make_folder(tmp_path / "data", per_class=6)
    ckpt, _ = tiny_checkpoint(tmp_path / "ck.pt", "cat_uvac")
    out = tmp_path / "sub" / "m.json"
    rc = eval_main(["--checkpoint", str(ckpt), "--data", f"folder:{data}", "--json", str(out), "--no-kmeans", "--no-progress", "--split", "train"])
    assert rc == 0
    m = json.loads(out.read_text())
    assert set(m) == {"labels", "cat_uvac"}
    assert set(m["cat_uvac"]["spaces"]) == {"q_y", "z_mean"}
    assert set(m["labels"]["spaces"]) == {"q_y", "z_mean", "input"}
    validate_metrics(m)
    # errors: missing checkpoint, bad data spec → exit status 2 and a message
    assert eval_main(["--checkpoint", str(tmp_path / "nope.pt"), "--data", f"folder:{data}", "--no-progress"]) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert eval_main(["--checkpoint", str(ckpt), "--data", "nonsense", "--no-progress"]) == 2
    assert "dataset spec" in capsys.readouterr().err
    with pytest.raises(SystemExit) as ex:
        eval_main(["--help"])
    assert ex.value.code == 0
    with pytest.raises(CheckpointError):
        run_eval(tmp_path / "nope.pt", f"folder:{data}")


def test_evaluate_model_rejects_mismatched_features():
    cfg = ModelConfig(model_type="uvac", n_clusters=2, n_features=32, n_frames=19, latent_dim=4,
                      conv_channels=(4, 8, 8, 16), gru_hidden=16, decoder_channels=(8, 8, 4, 1))
    m = build_model(cfg)
    with pytest.raises(EvalError, match="32×19"):
        evaluate_model(m, np.zeros((4, 32, 20), np.float32), None, None)
    res = evaluate_model(m, np.random.default_rng(0).uniform(size=(6, 32, 19)).astype(np.float32), None, None)
    assert set(res) == {"uvac"} and res["uvac"]["accuracy"] is None


# --------------------------------------------------------------------------- table aggregation
def _entry(acc, nmi, sil, dbi, chi, rep="input"):
    return {"accuracy": acc, "nmi": nmi, "spaces": {rep: {"silhouette": sil, "dbi": dbi, "chi": chi}}}


def test_aggregate_runs_mean_std_pinned():
    runs = [
        {"kmeans": _entry(0.2, 0.1, 0.10, 3.0, 100.0), "cat_uvac": _entry(0.3, 0.2, 0.7, 0.3, 5000.0, "q_y")},
        {"kmeans": _entry(0.4, 0.3, 0.20, 2.0, 300.0), "cat_uvac": _entry(0.5, 0.4, None, None, None, "q_y")},
        {"kmeans": _entry(0.6, 0.5, 0.30, 1.0, 200.0), "cat_uvac": _entry(0.7, 0.6, 0.9, 0.1, 7000.0, "q_y")},
    ]
    agg = aggregate_runs(runs)
    km = agg["kmeans"]
    assert km["accuracy"]["mean"] == pytest.approx(0.4, abs=1e-12)
    assert km["accuracy"]["std"] == pytest.approx(0.2, abs=1e-12)  # sample std of .2, .4, .6
    assert km["accuracy"]["n"] == 3
    assert km["spaces"]["input"]["chi"]["mean"] == pytest.approx(200.0, abs=1e-9)
    assert km["spaces"]["input"]["chi"]["std"] == pytest.approx(100.0, abs=1e-9)
    assert km["spaces"]["input"]["dbi"]["std"] == pytest.approx(1.0, abs=1e-12)
    cu = agg["cat_uvac"]["spaces"]["q_y"]
    assert cu["silhouette"]["mean"] == pytest.approx(0.8, abs=1e-12)  # the null run is left out
    assert cu["silhouette"]["std"] == pytest.approx(math.sqrt(0.02), abs=1e-12)
    assert cu["silhouette"]["n"] == 2
    one = aggregate_runs(runs[:1])
    assert one["kmeans"]["accuracy"] == {"mean": 0.2, "std": None, "n": 1}


def test_paired_vs_kmeans_pinned():
    runs = [
        {"labels": _entry(1.0, 1.0, 0.0, 1.0, 1.0), "kmeans": _entry(0.50, 0.60, 0.1, 1.0, 1.0), "cat_uvac": _entry(0.60, 0.55, 0.8, 0.2, 9.0, "q_y")},
        {"labels": _entry(1.0, 1.0, 0.0, 1.0, 1.0), "kmeans": _entry(0.40, 0.50, 0.1, 1.0, 1.0), "cat_uvac": _entry(0.40, 0.56, 0.8, 0.2, 9.0, "q_y")},
        {"labels": _entry(1.0, 1.0, 0.0, 1.0, 1.0), "kmeans": _entry(0.70, 0.70, 0.1, 1.0, 1.0), "cat_uvac": _entry(0.55, 0.64, 0.8, 0.2, 9.0, "q_y")},
    ]
    d = paired_vs_kmeans(runs)
    assert set(d) == {"cat_uvac"}  # neither the labels row nor K-means against itself
    acc, nmi = d["cat_uvac"]["accuracy"], d["cat_uvac"]["nmi"]
    assert acc["mean"] == pytest.approx(-0.05 / 3, abs=1e-12) and acc["n"] == 3  # +0.10, 0.00, −0.15
    assert acc["std"] == pytest.approx(np.std([0.10, 0.0, -0.15], ddof=1), abs=1e-12)
    assert nmi["mean"] == pytest.approx((-0.05 + 0.06 - 0.06) / 3, abs=1e-12)
    assert d["cat_uvac"]["runs_at_least"] == {"accuracy": 2, "nmi": 1}
    t = {"dataset": "D", "n_classes": 2, "runs": 3, "lambda": 2.0,
         "groups": [{"clusters": 2, "aggregate": aggregate_runs(runs), "vs_kmeans": d},
                    {"clusters": 3, "aggregate": aggregate_runs(runs), "vs_kmeans": d}]}
    md = format_table_markdown(t)
    assert "**Paired against K-means**" in md
    assert "| D | 2 | Cat. UVAC | -1.67 ± 12.58 | 2 of 3 | -0.02 ± 0.07 | 1 of 3 |" in md
    assert "| D | 3 | Cat. UVAC |" not in md.split("**Paired against K-means**")[1]  # K ≠ classes: no accuracy to pair


def test_format_table_markdown_layout():
    agg10 = aggregate_runs([
        {"labels": _entry(1.0, 1.0, -0.05, 9.0, 110.0), "kmeans": _entry(0.25, 0.19, 0.03, 3.48, 280.0),
         "cat_uvac": _entry(0.2363, 0.15, 0.77, 0.33, 6970.0, "q_y")},
        {"labels": _entry(1.0, 1.0, -0.05, 9.0, 110.0), "kmeans": _entry(0.27, 0.21, 0.05, 3.52, 300.0),
         "cat_uvac": _entry(0.2363, 0.15, 0.77, 0.33, 6970.0, "q_y")},
    ])
    agg5 = aggregate_runs([{"labels": _entry(1.0, 1.0, -0.05, 9.0, 110.0), "kmeans": _entry(0.3, 0.2, 0.06, 3.12, 530.0)},
                           {"labels": _entry(1.0, 1.0, -0.05, 9.0, 110.0), "kmeans": _entry(0.3, 0.2, 0.06, 3.12, 534.0)}])
    t = {"dataset": "TAU2019", "n_classes": 10, "runs": 2, "lambda": 2.0,
         "groups": [{"clusters": 10, "aggregate": agg10}, {"clusters": 5, "aggregate": agg5}]}
    md = format_table_markdown(t)
    assert "| TAU2019 | 10 | None (labels) | 100.00 ± 0.00 | 1.00 ± 0.00 | -0.05 ± 0.00 | 9.00 ± 0.00 | 0.11 ± 0.00 |" in md
    assert "| TAU2019 | 10 | K-means | 26.00 ± 1.41 | 0.20 ± 0.01 | 0.04 ± 0.01 | 3.50 ± 0.03 | 0.29 ± 0.01 |" in md
    assert "| TAU2019 | 10 | Cat. UVAC (λ = 2.0) | 23.63 ± 0.00 | 0.15 ± 0.00 | 0.77 ± 0.00 | 0.33 ± 0.00 | 6.97 ± 0.00 |" in md
    assert "| TAU2019 | 5 | K-means | – | – | 0.06 ± 0.00 | 3.12 ± 0.00 | 0.53 ± 0.00 |" in md
    tiny = format_table_markdown({**t, "groups": [{"clusters": 10, "aggregate": aggregate_runs(
        [{"kmeans": _entry(0.2, 0.1, 0.1, 1.0, 4.27)}, {"kmeans": _entry(0.2, 0.1, 0.1, 1.0, 4.33)}])}]})
    assert "| 0.00430 ± 0.00004 |" in tiny  # CHI 4.3 → ×10³ would print 0.00: 3 significant digits
    main_table = md.split("**All representations**")[0]
    assert "| TAU2019 | 5 | None (labels) |" not in main_table  # labels shown once per data set, as in the paper
    assert "(`q_y`)" in md and "| TAU2019 | 10 | Cat. UVAC (λ = 2.0) | `q_y` |" in md


# --------------------------------------------------------------------------- run_table
def test_run_table_with_fake_trainer(tmp_path, monkeypatch):
    data = make_folder(tmp_path / "data", per_class=10)
    calls = []

    def fake_train(cfg, run_dir, prepared, progress):
        calls.append((cfg.model_type, cfg.n_clusters, cfg.seed, cfg.epochs))
        torch.manual_seed(cfg.seed)
        mc = ModelConfig(model_type=cfg.model_type, n_clusters=cfg.n_clusters, n_features=128, n_frames=19, latent_dim=4,
                         conv_channels=(4, 8, 8, 16), gru_hidden=16, decoder_channels=(8, 8, 4, 1))
        return build_model(mc).eval()

    monkeypatch.setattr(table_mod, "_train_one", fake_train)
    t = run_table(f"folder:{data}", clusters=[2, 3], runs=3, epochs=7, out_dir=tmp_path / "tab",
                  window_seconds=WINDOW_S, progress=False, quiet=True)
    trained = [m for m in table_mod.MODEL_METHODS if m in table_mod.default_methods()]
    types = [table_mod.MODEL_METHODS[m][0] for m in trained]
    assert sorted(calls) == sorted((m, k, s, 7) for m in types for k in (2, 3) for s in (0, 1, 2))
    assert len(t["per_run"]) == 6 and t["n_classes"] == 2 and t["runs"] == 3
    on_disk = json.loads((tmp_path / "tab" / "table.json").read_text())
    assert on_disk["groups"] == t["groups"]
    for rec in t["per_run"]:
        validate_metrics(rec["metrics"])
        assert set(rec["metrics"]) == {"labels", "kmeans", "kmeans_train", *trained}
        assert set(rec["metrics"]["kmeans_train"]["spaces"]) == {"input"}
        want = {"input", "uvac:z_mean"} | {f"{m}:{r}" for m in trained if m != "uvac" for r in ("q_y", "z_mean")}
        assert set(rec["metrics"]["labels"]["spaces"]) == want
        assert set(rec["metrics"]["cat_uvac"]["spaces"]) == {"input", "q_y", "z_mean"}  # side by side
    # aggregates are exactly the mean / sample std of the per-run values
    g2 = t["groups"][0]
    assert g2["clusters"] == 2
    accs = [r["metrics"]["kmeans"]["accuracy"] for r in t["per_run"] if r["clusters"] == 2]
    assert g2["aggregate"]["kmeans"]["accuracy"]["mean"] == pytest.approx(np.mean(accs), abs=1e-12)
    assert g2["aggregate"]["kmeans"]["accuracy"]["std"] == pytest.approx(np.std(accs, ddof=1), abs=1e-12)
    assert g2["aggregate"]["labels"]["accuracy"]["mean"] == 1.0
    md = (tmp_path / "tab" / "table.md").read_text()
    assert "| data | 3 | K-means | – | – |" in md  # K ≠ 2 classes: no accuracy, like the paper
    assert "**Geometry side by side**" in md and "near-one-hot" in md
    side = md.split("**Geometry side by side**")[1]
    km = g2["aggregate"]["kmeans"]
    assert f"| data | 2 | K-means | {table_mod._pm(km['n_clusters_used'], digits=1)} | " \
        f"{table_mod._pm(km['smallest_cluster_share'], 100.0, digits=1)} | " \
        f"{table_mod._pm(km['spaces']['input']['silhouette'])} | – | – |" in side  # K-means has no z, no q(y|x)
    shares = [r["metrics"]["kmeans"]["smallest_cluster_share"] for r in t["per_run"] if r["clusters"] == 2]
    assert km["smallest_cluster_share"]["mean"] == pytest.approx(np.mean(shares), abs=1e-12) and 0 < min(shares) <= 0.5
    assert "| data | 2 | Cat. UVAC | " in side


def test_run_table_cross_validation_tests_every_window_once(tmp_path, monkeypatch):
    data = make_folder(tmp_path / "data", per_class=6)
    seen: dict[int, list[bytes]] = {}

    def fake_train(cfg, run_dir, prepared, progress):
        assert (cfg.folds, cfg.fold) == (3, cfg.seed % 3)  # run r is trained on the split of fold r mod 3
        seen[cfg.seed] = [w.tobytes() for w in prepared.x["test"].numpy()]
        torch.manual_seed(cfg.seed)
        mc = ModelConfig(model_type=cfg.model_type, n_clusters=cfg.n_clusters, n_features=128, n_frames=19, latent_dim=4,
                         conv_channels=(4, 8, 8, 16), gru_hidden=16, decoder_channels=(8, 8, 4, 1))
        return build_model(mc).eval()

    monkeypatch.setattr(table_mod, "_train_one", fake_train)
    t = run_table(f"folder:{data}", clusters=[2], runs=3, epochs=1, out_dir=tmp_path / "tab", folds=3,
                  methods=["kmeans", "kmeans_train", "cat_uvac"], window_seconds=WINDOW_S, progress=False, quiet=True)
    assert [r["fold"] for r in t["per_run"]] == [0, 1, 2] and t["folds"] == 3
    # 12 clips × 4 windows: 2 low and 2 high clips per fold, every window tested once
    assert [r["n_test"] for r in t["per_run"]] == [16, 16, 16] and t["n_test"] == 48
    assert len({w for ws in seen.values() for w in ws}) == 48  # no window is in two folds' test splits
    md = (tmp_path / "tab" / "table.md").read_text()
    assert "3-fold cross-validation by recording" in md and "48 test windows" in md
    with pytest.raises(table_mod.TableError, match="fold 0 of 12 has 4 windows.*fewer --folds"):
        run_table(f"folder:{data}", clusters=[4], runs=1, epochs=1, out_dir=tmp_path / "tab2", folds=12, methods=["kmeans"],
                  window_seconds=WINDOW_S, progress=False, quiet=True)


def test_run_table_bad_settings(tmp_path):
    with pytest.raises(table_mod.TableError, match="--runs"):
        run_table("builtin:scenes", runs=0, out_dir=tmp_path)
    with pytest.raises(table_mod.TableError, match="--clusters"):
        run_table("builtin:scenes", clusters=[1], out_dir=tmp_path)
    with pytest.raises(table_mod.TableError, match="unknown method"):
        run_table("builtin:scenes", methods=["gmm"], out_dir=tmp_path)


def test_run_table_real_end_to_end(tmp_path, capsys):
    """The real trainer, 1 run, 1 epoch, tiny data; then a second call reuses the checkpoints."""
    data = make_folder(tmp_path / "data", per_class=10)
    rc = table_mod.main([
        "--data", f"folder:{data}", "--clusters", "2", "--runs", "1", "--epochs", "1",
        "--window-seconds", str(WINDOW_S), "--out", str(tmp_path / "tab"), "--no-progress", "--device", "cpu",
    ])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "Table I" in printed and "| data | 2 | Cat. UVAC (λ = 2.0) |" in printed and "| data | 2 | UVAC |" in printed
    t = json.loads((tmp_path / "tab" / "table.json").read_text())
    assert t["preset"] == "quick" and t["epochs"] == 1 and t["clusters"] == [2]
    rec = t["per_run"][0]["metrics"]
    validate_metrics(rec)
    for e in rec.values():
        _check_entry(e)
    assert set(rec["cat_uvac"]["spaces"]) == {"input", "q_y", "z_mean"} and set(rec["uvac"]["spaces"]) == {"input", "z_mean"}
    assert (tmp_path / "tab" / "K2" / "run0" / "uvac" / "checkpoint.pt").exists()
    assert (tmp_path / "tab" / "K2" / "run0" / "cat_uvac" / "checkpoint.pt").exists()
    # restart with the same command: finished checkpoints are reused, same numbers
    t2 = run_table(f"folder:{data}", clusters=[2], runs=1, epochs=1, window_seconds=WINDOW_S,
                   out_dir=tmp_path / "tab", progress=False, quiet=True, device="cpu")
    # float32 layout noise only; DBI/CHI on a near-one-hot q(y|x) divide by a within-cluster scatter
    # near zero, so their rounding noise is amplified (measured up to 8e-4 relative on an AVX2 Zen host)
    a, b = _leaves(t2["groups"]), _leaves(t["groups"])
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-2 if ":q_y/" in k else 1e-4, abs=1e-6), k
    # other settings into the same folder: a clear error instead of silently mixing runs
    with pytest.raises(table_mod.TableError, match="other settings"):
        run_table(f"folder:{data}", clusters=[2], runs=1, epochs=1, lam=0.5, window_seconds=WINDOW_S,
                  out_dir=tmp_path / "tab", progress=False, quiet=True, device="cpu")


def test_paper_exact_row(tmp_path, monkeypatch):
    """The `Cat. UVAC --paper-exact` row trains with paper_exact=True beside the preset's default."""
    if not table_mod.paper_exact_supported():  # before TrainConfig.paper_exact exists: a clear error
        with pytest.raises(table_mod.TableError, match="paper-exact"):
            run_table("builtin:scenes", methods=["kmeans", "cat_uvac_exact"], out_dir=tmp_path)
        assert "cat_uvac_exact" not in table_mod.default_methods()
        return
    data = make_folder(tmp_path / "data", per_class=10)
    seen = {}

    def fake_train(cfg, run_dir, prepared, progress):
        seen[run_dir.name] = cfg.paper_exact
        mc = ModelConfig(model_type=cfg.model_type, n_clusters=cfg.n_clusters, n_features=128, n_frames=19, latent_dim=4,
                         conv_channels=(4, 8, 8, 16), gru_hidden=16, decoder_channels=(8, 8, 4, 1))
        return build_model(mc).eval()

    monkeypatch.setattr(table_mod, "_train_one", fake_train)
    t = run_table(f"folder:{data}", clusters=[2], runs=1, epochs=1, out_dir=tmp_path / "tab", window_seconds=WINDOW_S,
                  methods=["kmeans", "cat_uvac_exact", "cat_uvac"], title="tiny", progress=False, quiet=True)
    assert seen == {"cat_uvac_exact": True, "cat_uvac": False}
    md = (tmp_path / "tab" / "table.md").read_text()
    assert "| tiny | 2 | Cat. UVAC --paper-exact" in md and t["dataset"] == "tiny"


def test_supervised_row_is_opt_in_and_scores_the_labels(tmp_path):
    """The ceiling row: h trained on the labels, only at K = classes, only when named."""
    assert "supervised" not in table_mod.default_methods()
    data = make_folder(tmp_path / "data", per_class=10)
    t = run_table(f"folder:{data}", clusters=[2, 3], runs=2, epochs=3, out_dir=tmp_path / "tab", methods=["kmeans", "supervised"],
                  window_seconds=WINDOW_S, progress=False, quiet=True, device="cpu")
    for rec in t["per_run"]:
        if rec["clusters"] == 2:
            sup = rec["metrics"]["supervised"]
            assert sup["accuracy"] == 1.0 and set(sup["spaces"]) == {"input", "q_y"}  # low vs high noise: learnt
        else:
            assert "supervised" not in rec["metrics"]  # K ≠ classes: no ceiling row
    md = (tmp_path / "tab" / "table.md").read_text()
    assert "| data | 2 | Supervised h (labels; ceiling) | 100.00" in md
    assert "Supervised h — the same network trained on the training split's labels" in md
    assert not any((tmp_path / "tab").rglob("supervised"))  # not checkpointed
    with pytest.raises(table_mod.TableError, match="supervised row needs labels and a --clusters value equal"):
        run_table(f"folder:{data}", clusters=[3], runs=1, epochs=1, out_dir=tmp_path / "tab2", methods=["supervised"],
                  window_seconds=WINDOW_S, progress=False, quiet=True)
