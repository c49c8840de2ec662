"""UVAC (Gaussian-mixture baseline): shapes, the VaDE loss, and that it learns two blobs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from catuvac.runtime.frontend import FrontEndConfig
from catuvac.training.checkpoint import load_checkpoint, save_checkpoint
from catuvac.training.metrics import unsupervised_accuracy
from catuvac.training.model import ModelConfig, ModelConfigError, build_model
from catuvac.training.uvac import UVAC, uvac_loss


@pytest.fixture(autouse=True)
def _one_thread():
    # 2-core box shared with other work: intra-op threads oversubscribe and slow tiny models ~50x
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny_cfg(k: int = 2, **kw) -> ModelConfig:
    base = dict(
        model_type="uvac", n_clusters=k, n_features=32, n_frames=32, latent_dim=4,
        conv_channels=(4, 8, 8, 16), gru_hidden=16, decoder_channels=(8, 8, 4, 1),
    )
    base.update(kw)
    return ModelConfig(**base)


def blobs(n: int = 64, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    rng = np.random.default_rng(seed)
    lab = np.arange(n) % 2
    x = rng.uniform(0, 0.2, (n, 1, 32, 32)).astype(np.float32)
    x[lab == 0, :, :16, :] += 0.7  # class 0: energy in the low bins
    x[lab == 1, :, 16:, :] += 0.7  # class 1: energy in the high bins
    return torch.from_numpy(x), lab


def test_shapes_protocol_and_config_guard():
    torch.manual_seed(0)
    cfg = tiny_cfg(k=3)
    m = build_model(cfg)
    assert isinstance(m, UVAC) and m.representations == ("z_mean",)
    x = torch.rand(5, 1, 32, 32)
    out = m(x)
    assert out["x_hat"].shape == (5, 1, 32, 32)
    assert out["mu"].shape == out["logvar"].shape == out["z"].shape == (5, 4)
    assert out["log_gamma"].shape == (5, 3)
    torch.testing.assert_close(out["log_gamma"].exp().sum(1), torch.ones(5))
    losses = m.step_loss(x, torch.ones(5, 32), lam=1.0, tau=0.7)
    assert set(losses) == {"loss", "recon", "kl_z", "kl_c"}
    assert all(v.ndim == 0 and torch.isfinite(v) for v in losses.values())
    m.eval()
    inf = m.infer(x)
    assert set(inf) == {"cluster", "z_mean"}
    assert inf["cluster"].dtype == torch.long and inf["cluster"].shape == (5,)
    assert inf["z_mean"].shape == (5, 4)
    torch.testing.assert_close(inf["cluster"], m.logits(x).argmax(1))
    with pytest.raises(ModelConfigError, match="uvac"):
        UVAC(ModelConfig(model_type="cat_uvac", n_features=32, n_frames=32))


def test_tau_is_ignored_and_mask_zeroes_recon():
    torch.manual_seed(1)
    m = build_model(tiny_cfg())
    m.eval()  # z = μ: deterministic
    x = torch.rand(4, 1, 32, 32)
    a = m.step_loss(x, None, 1.0, tau=1.0)
    b = m.step_loss(x, None, 1.0, tau=0.1)
    torch.testing.assert_close(a["loss"], b["loss"])
    with torch.no_grad():
        z = m.step_loss(x, torch.zeros(4, 32), 1.0)
    assert float(z["recon"]) == 0.0
    half = torch.zeros(4, 32)
    half[:, :16] = 1
    with torch.no_grad():
        h = m.step_loss(x, half, 1.0)
    assert 0 < float(h["recon"]) < float(a["recon"].detach())


def test_kl_reduces_to_standard_normal_kl_for_one_unit_component():
    """K components all at N(0, I): KL(q(z,c|x) ‖ p(z,c)) = KL(N(μ,σ²) ‖ N(0, I)) + KL(γ ‖ π) = KL_z + 0."""
    torch.manual_seed(2)
    m = build_model(tiny_cfg(k=3))
    with torch.no_grad():
        m.prior_mu.zero_()
        m.prior_logvar.zero_()
        m.prior_logits.zero_()
    mu = torch.randn(6, 4)
    logvar = torch.randn(6, 4) * 0.3
    with torch.no_grad():
        log_gamma = m.log_joint(mu).log_softmax(1)
        out = {"mu": mu, "logvar": logvar, "log_gamma": log_gamma, "x_hat": torch.full((6, 1, 32, 32), 0.5)}
        x = torch.full((6, 1, 32, 32), 0.5)
        losses = uvac_loss(out, x, None, lam=2.0, model=m)
    kl_ref = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()
    torch.testing.assert_close(losses["kl_z"], kl_ref)
    assert float(losses["kl_c"]) == pytest.approx(0.0, abs=1e-6)  # γ = π = uniform
    torch.testing.assert_close(losses["recon"], torch.tensor(32 * 32 * math.log(2.0)))
    torch.testing.assert_close(losses["loss"], losses["recon"] + 2.0 * kl_ref)


def test_kl_matches_monte_carlo_estimate():
    """Closed-form KL(q(z)·γ ‖ p(z, c)) for a given γ vs a Monte-Carlo estimate over z ~ q(z|x)."""
    torch.manual_seed(3)
    m = build_model(tiny_cfg(k=3))
    with torch.no_grad():
        m.prior_logvar.normal_(0, 0.3)
        m.prior_logits.normal_(0, 0.5)
    mu = torch.randn(1, 4)
    logvar = torch.full((1, 4), -0.5)
    log_gamma = m.log_joint(mu).log_softmax(1)  # q(c|x) held fixed over z (VaDE's γ)
    n = 400_000
    z = mu + (0.5 * logvar).exp() * torch.randn(n, 4)
    lj = m.log_joint(z)  # (n, K): log π_c + log N(z; μ_c, σ²_c)
    log_q_z = torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(z).sum(1)
    mc = (log_gamma.exp() * (log_q_z[:, None] + log_gamma - lj)).sum(1).mean()
    out = {"mu": mu, "logvar": logvar, "log_gamma": log_gamma, "x_hat": torch.full((1, 1, 1, 1), 0.5)}
    with torch.no_grad():
        losses = uvac_loss(out, torch.full((1, 1, 1, 1), 0.5), None, lam=1.0, model=m)
    closed = float(losses["kl_z"] + losses["kl_c"])
    assert closed == pytest.approx(float(mc.detach()), abs=0.02)
    assert closed > 0.1  # a non-trivial case


def test_learns_two_separated_blobs():
    torch.manual_seed(0)
    m = build_model(tiny_cfg())
    x, lab = blobs()
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    first = last = None
    for step in range(60):
        m.train()
        idx = torch.randperm(x.shape[0], generator=g)[:32]
        loss = m.step_loss(x[idx], None, 1.0)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step == 0:
            first = loss.item()
        last = loss.item()
    m.eval()
    with torch.no_grad():
        full = float(m.step_loss(x, None, 1.0)["loss"])
    assert last < 0.8 * first, (first, last)
    assert full < 0.8 * first
    pred = m.infer(x)["cluster"].numpy()
    assert unsupervised_accuracy(lab, pred) >= 0.95


def test_checkpoint_roundtrip(tmp_path):
    torch.manual_seed(4)
    cfg = tiny_cfg()
    m = build_model(cfg)
    m.eval()
    fe = FrontEndConfig(n_mels=32, window_seconds=(960 + 31 * 480) / 16000)
    assert fe.window_frames == 32
    p = save_checkpoint(tmp_path / "c.pt", m, cfg, fe, {"seed": 4}, epoch=1)
    ck = load_checkpoint(p, expect_type="uvac")
    x = torch.rand(3, 1, 32, 32)
    torch.testing.assert_close(ck.model.infer(x)["z_mean"], m.infer(x)["z_mean"])
    torch.testing.assert_close(ck.model.prior_mu, m.prior_mu)
