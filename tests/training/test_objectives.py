"""Loss terms pinned against hand computations; the extra terms; --paper-exact; neighbours."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from catuvac.runtime.frontend import FrontEndConfig
from catuvac.training.checkpoint import load_checkpoint
from catuvac.training.model import CatUVAC, ModelConfig, cat_uvac_loss
from catuvac.training.objectives import TERMS, Objective, augment, neighbour, posterior_stats, self_label, temporal, usage
from catuvac.training.train import PAPER_EXACT, PreparedData, TrainConfig, TrainError, lam_at, make_config, neighbour_index, train


def _bce(x: float, xh: float) -> float:
    return -(x * math.log(xh) + (1 - x) * math.log(1 - xh))


def _tiny_batch() -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """Two windows of 1 bin × 3 frames, d_z = 1, K = 2; the second window's last frame masked."""
    x = torch.tensor([[[[0.0, 1.0, 0.5]]], [[[1.0, 0.25, 0.0]]]])
    x_hat = torch.tensor([[[[0.2, 0.9, 0.5]]], [[[0.6, 0.5, 0.7]]]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    pi = torch.tensor([[0.75, 0.25], [0.5, 0.5]])
    out = {
        "x_hat": x_hat,
        "mu": torch.tensor([[1.0], [0.0]]),
        "logvar": torch.tensor([[0.0], [math.log(2.0)]]),
        "log_pi": pi.log(),
    }
    return out, x, mask


def test_cat_uvac_loss_matches_a_hand_computation():
    out, x, mask = _tiny_batch()
    lam = 1.5
    # reconstruction: BCE summed over the unmasked bins of each window, then the batch mean
    r1 = _bce(0.0, 0.2) + _bce(1.0, 0.9) + _bce(0.5, 0.5)
    r2 = _bce(1.0, 0.6) + _bce(0.25, 0.5)  # frame 3 masked out
    # KL(N(μ, σ²) ‖ N(0, 1)) = ½ (σ² + μ² − 1 − log σ²)
    kz1 = 0.5 * (1 + 1 - 1 - 0)
    kz2 = 0.5 * (2 + 0 - 1 - math.log(2))
    # KL(π ‖ uniform(2)) = Σ π log(2π)
    ky1 = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    ky2 = 0.0
    got = cat_uvac_loss(out, x, mask, lam)
    exp = {"recon": (r1 + r2) / 2, "kl_z": (kz1 + kz2) / 2, "kl_y": (ky1 + ky2) / 2}
    exp["loss"] = exp["recon"] + lam * (exp["kl_z"] + exp["kl_y"])
    assert set(got) == set(exp)
    for k, v in exp.items():
        assert float(got[k]) == pytest.approx(v, rel=1e-6), k
    # no mask: the masked bin counts again
    nomask = cat_uvac_loss(out, x, None, lam)
    assert float(nomask["recon"]) == pytest.approx((r1 + r2 + _bce(0.0, 0.7)) / 2, rel=1e-6)


def test_usage_term_is_the_marginal_kl_and_differs_from_kl_y():
    sharp_spread = torch.tensor([[0.98, 0.01, 0.01], [0.01, 0.98, 0.01], [0.01, 0.01, 0.98]]).log()
    sharp_collapsed = torch.tensor([[0.98, 0.01, 0.01]] * 3).log()
    assert float(usage({"log_pi": sharp_spread})) == pytest.approx(0.0, abs=1e-6)  # every cluster used
    mean = np.array([0.98, 0.01, 0.01])
    assert float(usage({"log_pi": sharp_collapsed})) == pytest.approx(float((mean * np.log(3 * mean)).sum()), rel=1e-5)
    # eq. 7's per-window KL cannot tell the two apart: both are equally sharp
    kl_y = TERMS["kl_y"][0]
    assert torch.allclose(kl_y({"log_pi": sharp_spread}), kl_y({"log_pi": sharp_collapsed}))


def test_temporal_term_symmetric_kl_and_pair_mask():
    p = torch.tensor([[0.9, 0.1], [0.5, 0.5]])
    q = torch.tensor([[0.3, 0.7], [0.5, 0.5]])
    b = {"log_pi": p.log(), "logits_pair": q.log()}
    sym = 0.9 * math.log(0.9 / 0.3) + 0.1 * math.log(0.1 / 0.7) + 0.3 * math.log(0.3 / 0.9) + 0.7 * math.log(0.7 / 0.1)
    assert temporal(b).tolist() == pytest.approx([sym, 0.0], rel=1e-6)
    assert temporal({**b, "pair_valid": torch.tensor([0.0, 1.0])}).tolist() == pytest.approx([0.0, 0.0], abs=1e-7)
    # the view-consistency term is the same divergence against the view's logits
    assert augment({"log_pi": p.log(), "logits_view": q.log()}).tolist() == pytest.approx([sym, 0.0], rel=1e-6)


def test_neighbour_term_is_scans_negative_log_dot_product():
    p = torch.tensor([[0.9, 0.1], [0.5, 0.5], [0.9, 0.1]])
    q = torch.tensor([[0.9, 0.1], [0.5, 0.5], [0.1, 0.9]])
    got = neighbour({"log_pi": p.log(), "logits_nn": q.log()}).tolist()
    assert got == pytest.approx([-math.log(0.82), -math.log(0.5), -math.log(0.18)], rel=1e-6)
    # unlike the symmetric KL, two equal but vague posteriors are not a perfect score
    assert got[1] > got[0] and temporal({"log_pi": p.log(), "logits_pair": q.log()})[1] == pytest.approx(0.0, abs=1e-7)


def test_self_label_term_is_class_balanced_cross_entropy_on_confident_windows():
    p = torch.tensor([[0.995, 0.005], [0.995, 0.005], [0.3, 0.7], [0.001, 0.999]])
    view = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, 3.0], [1.0, 1.0]])
    got = self_label({"log_pi": p.log(), "logits_view": view}).tolist()
    ce = lambda logits, k: math.log(sum(math.exp(v) for v in logits)) - logits[k]  # noqa: E731
    # confident: windows 0, 1 (label 0) and 3 (label 1); 3 targets over 2 labels: 3 / (2 · count)
    want = [0.75 * ce([2.0, 0.0], 0), 0.75 * ce([0.0, 1.0], 0), 0.0, 1.5 * ce([1.0, 1.0], 1)]
    assert got == pytest.approx(want, rel=1e-6)
    # no confident window: zero, still part of the graph
    vague = self_label({"log_pi": torch.full((2, 2), 0.5).log(), "logits_view": view[:2].requires_grad_()})
    assert vague.tolist() == [0.0, 0.0] and vague.requires_grad


def test_self_label_term_runs_h_on_a_view_and_starts_late():
    obj = Objective(lam=1.0, self_label_weight=2.0)
    assert obj.weights()["self_label"] == 2.0 and obj.needs_view
    _extra_term_through_the_model(obj, "self_label")
    c = make_config("paper-audiomnist", self_label_weight=2.0, self_label_start=0.5, epochs=10)
    assert [c.objective(e).self_label_weight for e in (0, 4, 5, 9)] == [0.0, 0.0, 2.0, 2.0]
    assert c.objective().self_label_weight == 2.0
    with pytest.raises(TrainError, match="--self-label-start"):
        make_config("quick", self_label_start=1.0)


def _extra_term_through_the_model(obj: Objective, name: str, **inputs: torch.Tensor) -> dict[str, torch.Tensor]:
    """step_loss with one extra term on a tiny model: the loss is eq. 7 plus the weighted term, and
    the term's gradient reaches h's output layer."""
    torch.manual_seed(0)
    m = CatUVAC(ModelConfig(n_clusters=3, n_features=32, n_frames=32, latent_dim=2))
    x = torch.rand(4, 1, 32, 32)
    parts = m.step_loss(x, None, 1.0, 1.0, obj, **inputs)
    total = parts["recon"] + parts["kl_z"] + parts["kl_y"] + obj.weights()[name] * parts[name]
    assert float(parts["loss"].detach()) == pytest.approx(float(total.detach()), rel=1e-6)
    parts["loss"].backward()
    assert m.h_out.weight.grad is not None and float(m.h_out.weight.grad.abs().sum()) > 0
    return parts


def test_neighbour_term_runs_h_on_the_neighbours_through_the_model():
    obj = Objective(lam=1.0, neighbour_weight=3.0)
    assert obj.weights()["neighbour"] == 3.0 and obj.needs_neighbours and not obj.needs_view
    m = CatUVAC(ModelConfig(n_clusters=3, n_features=32, n_frames=32, latent_dim=2))
    with pytest.raises(ValueError, match="x_nn"):
        m.step_loss(torch.rand(4, 1, 32, 32), None, 1.0, 1.0, obj)
    _extra_term_through_the_model(obj, "neighbour", x_nn=torch.rand(4, 1, 32, 32))


def test_augment_term_runs_h_on_a_view_through_the_model():
    obj = Objective(lam=1.0, augment_weight=2.0)
    assert obj.weights()["augment"] == 2.0 and obj.needs_view and not obj.needs_pairs
    parts = _extra_term_through_the_model(obj, "augment")
    assert float(parts["augment"].detach()) > 0  # a view differs from its window, so h's posteriors do


def test_objective_weights_and_extra_terms_through_the_model():
    torch.manual_seed(0)
    m = CatUVAC(ModelConfig(n_clusters=3, n_features=32, n_frames=32, latent_dim=2))
    x = torch.rand(4, 1, 32, 32)
    assert Objective(lam=2.0).weights() == {"recon": 1.0, "kl_z": 2.0, "kl_y": 2.0}
    obj = Objective(lam=9.0, usage_weight=3.0, y_entropy_weight=0.25, temporal_weight=0.5)  # λ replaced by step_loss's lam
    torch.manual_seed(1)
    parts = m.step_loss(x, None, 2.0, 1.0, obj, x_pair=x.flip(0), with_posterior=True)
    assert set(parts) == {"loss", "recon", "kl_z", "kl_y", "usage", "y_entropy", "temporal", "log_pi"}
    assert parts["log_pi"].shape == (4, 3) and not parts["log_pi"].requires_grad
    total = parts["recon"] + 2.0 * (parts["kl_z"] + parts["kl_y"]) + 3.0 * parts["usage"] + 0.25 * parts["y_entropy"] + 0.5 * parts["temporal"]
    # kl_y + y_entropy = log K per window: the sharpness term is exactly the opposite of eq. 7's
    assert float((parts["kl_y"] + parts["y_entropy"]).detach()) == pytest.approx(math.log(3), rel=1e-5)
    assert float(parts["loss"].detach()) == pytest.approx(float(total.detach()), rel=1e-6)
    with pytest.raises(ValueError, match="x_pair"):
        m.step_loss(x, None, 2.0, 1.0, obj)


def test_posterior_stats_sums():
    lp = torch.tensor([[0.7, 0.2, 0.1], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]]).log()
    s = posterior_stats(lp)
    assert s["count"].tolist() == [2, 0, 1]
    assert s["q_sum"].tolist() == pytest.approx([1.4, 0.6, 1.0])
    h = lambda p: -sum(v * math.log(v) for v in p)  # noqa: E731
    assert float(s["entropy_sum"]) == pytest.approx(h([0.7, 0.2, 0.1]) + h([0.6, 0.3, 0.1]) + h([0.1, 0.1, 0.8]), rel=1e-6)


def test_paper_exact_turns_every_deviation_off():
    for preset in ("quick", "paper-us8k", "paper-audiomnist", "paper-tau2019"):
        c = make_config(preset, paper_exact=True)
        assert c.paper_exact
        assert {k: getattr(c, k) for k in PAPER_EXACT} == PAPER_EXACT
        assert c.objective().weights() == {"recon": 1.0, "kl_z": c.lam, "kl_y": c.lam}  # eq. 7 alone
        assert all(lam_at(c, e) == c.lam for e in range(3))
    with pytest.raises(TrainError, match="--paper-exact.*usage_weight"):
        make_config("quick", paper_exact=True, usage_weight=1.0)
    with pytest.raises(TrainError, match="--usage-weight"):
        make_config("quick", usage_weight=-1.0)


def test_kl_warmup_ramps_lambda():
    c = make_config("quick", lam=2.0, kl_warmup_epochs=4, paper_exact=False, epochs=10)
    assert [lam_at(c, e) for e in range(6)] == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.0, 2.0])


def test_neighbour_index():
    clips = np.array(["a", "a", "b", "a", "c", "c"])
    win = np.array([0, 1, 0, 2, 1, 0])
    assert neighbour_index(clips, win).tolist() == [1, 3, -1, 1, 5, 4]


def _clip_data(windows_per_clip: int) -> PreparedData:
    """Two classes, 8 clips per split of ``windows_per_clip`` windows (32 × 32 inputs)."""
    fe = FrontEndConfig(n_mels=32, window_seconds=1.0)
    rng = np.random.default_rng(0)
    xs, ls, cs = {}, {}, {}
    for split in ("train", "val", "test"):
        n = 8 * windows_per_clip
        lab = (np.arange(n) // windows_per_clip) % 2
        x = 0.3 * rng.random((n, fe.n_features, fe.window_frames))
        x[lab == 1, 20:28] += 0.6
        xs[split], ls[split] = np.clip(x, 0, 1).astype(np.float32), lab
        cs[split] = (np.repeat([f"{split}{i}" for i in range(8)], windows_per_clip), np.tile(np.arange(windows_per_clip), 8))
    return PreparedData.from_arrays(fe, xs, None, ls, ["a", "b"], source="clips", clips=cs)


def test_extra_terms_train_and_are_logged_and_recorded(tmp_path):
    cfg = TrainConfig(preset="test", data="clips", n_clusters=2, epochs=2, batch_size=8, device="cpu",
                      usage_weight=1.0, temporal_weight=0.5, augment_weight=0.25, neighbour_weight=0.75,
                      cluster_features="cepstral_stats", kl_warmup_epochs=2, self_label_weight=0.5, self_label_start=0.5)
    res = train(cfg, tmp_path / "r", data=_clip_data(2), progress=False, plots=False)
    row = res.history[-1]
    assert "self_label" not in res.history[0] and row["self_label"] >= 0  # the second epoch of two starts it
    assert row["usage"] >= 0 and row["temporal"] >= 0 and row["augment"] >= 0 and [r["lam"] for r in res.history] == [1.0, 2.0]
    assert row["neighbour"] > 0  # −log of a dot product of two posteriors: positive unless both are one-hot and equal
    extras = row["usage"] + 0.5 * row["temporal"] + 0.25 * row["augment"] + 0.75 * row["neighbour"] + 0.5 * row["self_label"]
    assert abs(row["loss"] - (row["recon"] + 2.0 * (row["kl_z"] + row["kl_y"]) + extras)) < 1e-3 * row["loss"]
    ck = load_checkpoint(tmp_path / "r" / "checkpoint.pt")
    tc = ck.train_config
    assert (tc["usage_weight"], tc["temporal_weight"], tc["augment_weight"], tc["kl_warmup_epochs"]) == (1.0, 0.5, 0.25, 2)
    assert (tc["neighbour_weight"], tc["neighbour_k"], tc["cluster_features"]) == (0.75, 10, "cepstral_stats")
    assert (tc["self_label_weight"], tc["self_label_start"]) == (0.5, 0.5)
    with pytest.raises(TrainError, match="--temporal-weight needs recordings longer than the window"):
        train(TrainConfig(preset="test", data="clips", n_clusters=2, epochs=1, device="cpu", temporal_weight=0.5),
              tmp_path / "one", data=_clip_data(1), progress=False)


def test_the_quick_presets_temporal_term_is_off_on_one_window_clips(tmp_path, capsys):
    # quick's term is made for its 8-s built-in clips; on a user's 4-s clips it is switched off
    # (said, and recorded as 0), while a weight the user asked for is still an error (above)
    cfg = make_config("quick", data="clips", n_clusters=2, epochs=1, batch_size=8, device="cpu", h_init="random")
    assert cfg.temporal_weight > 0
    res = train(cfg, tmp_path / "q", data=_clip_data(1), progress=True, plots=False, evaluate=False)
    assert load_checkpoint(res.checkpoint).train_config["temporal_weight"] == 0.0
    assert "temporal term" in capsys.readouterr().err and "temporal" not in res.history[-1]  # no such term this run
    with pytest.raises(TrainError, match="--temporal-weight needs"):
        train(make_config("quick", data="clips", n_clusters=2, epochs=1, device="cpu", temporal_weight=2.0),
              tmp_path / "q2", data=_clip_data(1), progress=False)


def test_cli_flags_for_the_extras_and_paper_exact(tmp_path, capsys):
    from catuvac.training.cli import build_train_parser, config_from_args, train_main

    args = build_train_parser().parse_args(["--out", "o", "--usage-weight", "3", "--y-entropy-weight", "1",
                                            "--temporal-weight", "0.5", "--augment-weight", "2", "--kl-warmup-epochs", "4",
                                            "--neighbour-weight", "1.5", "--neighbour-k", "5", "--cluster-features", "cepstral",
                                            "--self-label-weight", "2", "--self-label-start", "0.6"])
    c = config_from_args(args)
    assert (c.usage_weight, c.y_entropy_weight, c.temporal_weight, c.augment_weight, c.kl_warmup_epochs, c.paper_exact) == (3.0, 1.0, 0.5, 2.0, 4, False)
    assert (c.neighbour_weight, c.neighbour_k, c.cluster_features) == (1.5, 5, "cepstral")
    assert (c.self_label_weight, c.self_label_start) == (2.0, 0.6)
    c = config_from_args(build_train_parser().parse_args(["--out", "o", "--paper-exact"]))
    assert c.paper_exact and c.h_init == "random" and c.usage_weight == 0.0  # quick's warm start and usage term off
    assert train_main(["--out", str(tmp_path / "x"), "--paper-exact", "--usage-weight", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--paper-exact" in err[0] and "usage_weight" in err[0]
    help_text = build_train_parser().format_help()
    for flag in ("--paper-exact", "--usage-weight", "--y-entropy-weight", "--temporal-weight", "--augment-weight", "--kl-warmup-epochs",
                 "--neighbour-weight", "--neighbour-k", "--cluster-features", "--self-label-weight", "--self-label-start"):
        assert flag in help_text


def test_sweep_parses_sets_and_scores_all_windows(tmp_path, capsys):
    from catuvac.training.sweep import parse_sets, score_all_windows

    assert parse_sets(["usage_weight=10", "paper_exact=true", "data=folder:/x"]) == {
        "usage_weight": 10, "paper_exact": True, "data": "folder:/x"}
    with pytest.raises(ValueError, match="FIELD=VALUE"):
        parse_sets(["usage_weight"])
    data = _clip_data(2)
    torch.manual_seed(0)
    m = CatUVAC(ModelConfig(n_clusters=2, n_features=32, n_frames=32))
    s = score_all_windows(m, data)
    assert s["windows"] == 48 and 1 <= s["clusters_used"] <= 2
    assert 0.5 <= s["accuracy"] <= s["purity"] + 1e-9 <= 1.0 + 1e-9  # Hungarian ≤ many-to-one; ≥ 0.5 with 2 balanced classes


def test_cluster_purity_pinned_and_presets_fight_collapse():
    from catuvac.training.metrics import cluster_purity

    assert cluster_purity([0, 0, 1, 1, 2], [0, 0, 0, 1, 1]) == pytest.approx(3 / 5)
    assert cluster_purity([0, 0, 1, 1], [0, 1, 2, 3]) == 1.0  # over-segmentation is pure
    for preset in ("quick", "paper-us8k", "paper-audiomnist", "paper-tau2019"):
        c = make_config(preset)
        # words start h from the spectral clusters of their neighbour graph; the others from K-means
        assert c.usage_weight > 0 and c.h_init == ("spectral" if preset == "paper-audiomnist" else "kmeans")
        assert not c.paper_exact and make_config(preset, paper_exact=True).h_init == "random"
        # words: warm start and neighbour term on the cepstral envelope sequence; the scene
        # presets on its statistics, quick with the term, the real-scene ones without it and with
        # a longer warm start (measured, presets.py)
        want = {"paper-audiomnist": ("cepstral", True, 10), "quick": ("cepstral_stats", True, 10)}.get(
            preset, ("cepstral_stats", False, 30))
        assert (c.cluster_features, c.neighbour_weight > 0, c.h_init_epochs) == want
        assert make_config(preset, paper_exact=True).cluster_features == "input"


def test_resume_with_extra_terms_is_bitwise(tmp_path):
    from catuvac.training.train import TrainHooks

    class Killed(RuntimeError):
        pass

    def kill(e: int, s: int) -> None:
        if (e, s) == (1, 0):
            raise Killed

    cfg = TrainConfig(preset="test", data="clips", n_clusters=2, epochs=2, batch_size=8, device="cpu",
                      usage_weight=1.0, y_entropy_weight=0.5, temporal_weight=0.5, kl_warmup_epochs=2,
                      neighbour_weight=0.5, cluster_features="cepstral")
    data = _clip_data(2)
    full = train(cfg, tmp_path / "full", data=data, progress=False, evaluate=False, plots=False)
    with pytest.raises(Killed):
        train(cfg, tmp_path / "k", data=data, progress=False, evaluate=False, plots=False, hooks=TrainHooks(on_batch=kill))
    resumed = train(cfg, tmp_path / "k", data=data, resume=True, progress=False, evaluate=False, plots=False)
    for k, v in full.model.state_dict().items():
        assert torch.equal(v, resumed.model.state_dict()[k]), k
    assert [r["clusters_used"] for r in full.history] == [r["clusters_used"] for r in resumed.history]


def test_warning_names_the_clusters_that_empty(capsys):
    from catuvac.training.train import TrainHooks, _Dist, _Run, _warn_empty_clusters

    run = _Run(TrainConfig(), Path("."), torch.device("cpu"), _Dist(), True, TrainHooks())
    _warn_empty_clusters(run, [], {"epoch": 1, "cluster_counts": [5, 3, 2], "clusters_used": 3})
    _warn_empty_clusters(run, [{"cluster_counts": [5, 3, 2]}], {"epoch": 2, "cluster_counts": [8, 0, 2], "clusters_used": 2})
    _warn_empty_clusters(run, [{"cluster_counts": [8, 0, 2]}], {"epoch": 3, "cluster_counts": [9, 0, 1], "clusters_used": 2})
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "warning: epoch 2: cluster(s) 1 got no training window (2/3 in use); if y keeps collapsing, see --usage-weight / --h-init"
    ]  # once, when it empties; not again while it stays empty
