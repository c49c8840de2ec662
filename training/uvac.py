"""UVAC — the Gaussian-mixture baseline (Fiorio et al., "Unsupervised Variational Acoustic
Clustering", 2025), a VaDE-style model (Jiang et al. 2017) on the same convolutional-recurrent
networks as the categorical UVAC.

Generative model: c ~ Cat(π), z | c ~ N(μ_c, diag σ²_c), x | z ~ Bernoulli(g(z)).
Inference: q(z|x) = N(μ(x), diag σ²(x)) from :class:`~catuvac.training.model.ConvGRUEncoder`
(four Conv2d+BN+ReLU, two GRU layers of 128) and a linear layer to (μ, log σ²);
q(c|x) ≈ p(c|z) — the responsibilities γ of the mixture at the sampled z (VaDE's
mean-field trick). The decoder is :class:`~catuvac.training.model.Decoder` on z alone.

Loss (per example, averaged over the batch; −ELBO with the paper's λ on the KL)::

    recon = Σ_bins BCE(x̂, x) over the activity mask         (exactly as cat_uvac_loss)
    kl_z  = ½ Σ_c γ_c Σ_d [log σ²_cd + (σ²_d + (μ_d − μ_cd)²) / σ²_cd] − ½ Σ_d (1 + log σ²_d)
    kl_c  = Σ_c γ_c (log γ_c − log π_c)
    loss  = recon + λ·(kl_z + kl_c)          [kl_z + kl_c = KL(q(z,c|x) ‖ p(z,c))]

(the log 2π terms cancel). γ is computed from the sampled z and gradients flow through it, as
in VaDE. τ is accepted by :meth:`UVAC.step_loss` for the shared protocol and ignored.

Cluster at inference: ``argmax_c γ_c(z = μ(x))``; the representation for the geometry metrics is
``z_mean`` = μ(x).

Choices where the references leave room (and why):

- *GMM initialization*: mixture logits 0 (uniform π), means ~ N(0, 1) drawn from torch's
  global RNG (so the trainer's ``torch.manual_seed`` fixes them), log-variances 0 (unit
  variances). Unit-scale means match the N(0, I)-like scale of a freshly initialized encoder,
  so every component starts with some responsibility. VaDE's pretraining (autoencoder +
  GMM fit) is *not* done: the paper trains both models the same way from scratch.
- *Numerical guards*: the component log-variances are clamped to [−8, 8] inside the loss and
  the responsibilities (e^{±8} keeps 1/σ² finite in float32); mixture weights are a softmax of
  free logits (always a valid simplex).
"""

from __future__ import annotations

import math
from typing import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .model import ConvGRUEncoder, Decoder, ModelConfig, ModelConfigError

__all__ = ["UVAC", "uvac_loss"]

_LOGVAR_CLAMP = 8.0  # |log σ²_c| ≤ 8: variances in [3e-4, 3e3], finite 1/σ² in float32


class UVAC(nn.Module):
    """Gaussian-mixture VAE baseline: encoder → (μ, log σ²) of z, decoder g(z), learnable GMM prior."""

    representations = ("z_mean",)

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        if cfg.model_type != "uvac":
            raise ModelConfigError(f"UVAC needs model_type='uvac', got {cfg.model_type!r}")
        self.cfg = cfg
        k, d = cfg.n_clusters, cfg.latent_dim
        self.enc_body = ConvGRUEncoder(1, cfg)
        self.enc_out = nn.Linear(cfg.gru_hidden, 2 * d)
        self.g = Decoder(d, cfg)
        self.prior_logits = nn.Parameter(torch.zeros(k))  # uniform π at start
        self.prior_mu = nn.Parameter(torch.randn(k, d))  # means ~ N(0, 1)
        self.prior_logvar = nn.Parameter(torch.zeros(k, d))  # unit variances

    # ----------------------------------------------------------------- pieces
    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 1, F, T) in [0, 1] → μ, log σ² of q(z|x), each (B, d_z)."""
        mu, logvar = self.enc_out(self.enc_body(x)).chunk(2, dim=1)
        return mu, logvar

    def log_joint(self, z: torch.Tensor) -> torch.Tensor:
        """log π_c + log N(z; μ_c, σ²_c) for every component: (B, K)."""
        logvar_c = self.prior_logvar.clamp(-_LOGVAR_CLAMP, _LOGVAR_CLAMP)
        diff = z[:, None, :] - self.prior_mu[None]  # (B, K, d)
        log_n = -0.5 * (math.log(2 * math.pi) + logvar_c[None] + diff.pow(2) / logvar_c.exp()[None]).sum(-1)
        return F.log_softmax(self.prior_logits, dim=0)[None] + log_n

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Cluster scores at z = μ(x) (log of unnormalized responsibilities), (B, K); argmax = cluster."""
        mu, _ = self.encode(x)
        return self.log_joint(mu)

    def forward(self, x: torch.Tensor, tau: float = 1.0) -> dict[str, torch.Tensor]:
        """Training: z ~ q(z|x); eval: z = μ. ``tau`` is ignored (shared signature)."""
        mu, logvar = self.encode(x)
        if self.training:
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        else:
            z = mu
        log_gamma = F.log_softmax(self.log_joint(z), dim=1)
        return {"mu": mu, "logvar": logvar, "z": z, "log_gamma": log_gamma, "x_hat": self.g(z)}

    # ----------------------------------------------------------------- shared protocol
    def step_loss(
        self, x: torch.Tensor, mask: torch.Tensor | None, lam: float, tau: float | None = None, objective: object = None,
        with_posterior: bool = False, **_: object,
    ) -> dict[str, torch.Tensor]:
        """−ELBO of the module docstring (τ ignored; the extra terms of an ``objective`` are
        Cat. UVAC's — they act on q(y|x) — and are ignored here, like ``h_init``).
        ``with_posterior``: also return ``log_pi`` = log γ (B, K) detached, the cluster posterior."""
        out = self(x)
        terms = uvac_loss(out, x, mask, lam, self)
        if with_posterior:
            terms["log_pi"] = out["log_gamma"].detach()
        return terms

    @torch.no_grad()
    def infer(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        mu, _ = self.encode(x)
        cluster = self.log_joint(mu).argmax(dim=1)
        return {"cluster": cluster, "z_mean": mu}


def uvac_loss(
    out: Mapping[str, torch.Tensor], x: torch.Tensor, mask: torch.Tensor | None, lam: float, model: UVAC
) -> dict[str, torch.Tensor]:
    """VaDE negative ELBO, per example, batch mean: recon + λ·(kl_z + kl_c)."""
    x_hat = out["x_hat"]
    bce = F.binary_cross_entropy(x_hat, x, reduction="none")  # (B, 1, F, T)
    if mask is not None:
        bce = bce * mask[:, None, None, :]
    recon = bce.flatten(1).sum(1)

    mu, logvar = out["mu"], out["logvar"]  # (B, d)
    log_gamma = out["log_gamma"]  # (B, K)
    gamma = log_gamma.exp()
    logvar_c = model.prior_logvar.clamp(-_LOGVAR_CLAMP, _LOGVAR_CLAMP)  # (K, d)
    var_c = logvar_c.exp()
    term = logvar_c[None] + (logvar.exp()[:, None, :] + (mu[:, None, :] - model.prior_mu[None]).pow(2)) / var_c[None]
    kl_z = 0.5 * (gamma * term.sum(-1)).sum(1) - 0.5 * (1 + logvar).sum(1)
    log_pi = F.log_softmax(model.prior_logits, dim=0)
    kl_c = (gamma * (log_gamma - log_pi[None])).sum(1)
    loss = recon + lam * (kl_z + kl_c)
    return {"loss": loss.mean(), "recon": recon.mean(), "kl_z": kl_z.mean(), "kl_c": kl_c.mean()}
