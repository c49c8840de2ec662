"""Loss terms of the categorical UVAC, composable: a batch dict in, named terms out.

Eq. (7) of the paper is three named terms, each a function of one batch dict (the model's
outputs plus the input ``x`` and its activity ``mask``):

- ``recon``  −log p(x|y,z): Bernoulli (BCE) summed over the time-frequency bins inside the
  activity mask, per window;
- ``kl_z``   KL(q(z|x,y) ‖ N(0, I)) per window;
- ``kl_y``   KL(q(y|x) ‖ uniform(K)) per window;

and ``loss = recon + λ·(kl_z + kl_y)``, averaged over the batch.

Extra objectives (opt-in; none is in the paper) are one function each, registered in
:data:`TERMS` with their weight field of :class:`Objective`:

- ``usage``     KL(q̄(y) ‖ uniform(K)) of the **batch-mean** posterior q̄(y) = mean_b q(y|x_b),
  i.e. log K − H(q̄): zero when the batch spreads over all K clusters, log K when every window
  goes to one cluster. Eq. 7's per-window ``kl_y`` pushes each q(y|x) towards uniform (vague
  posteriors); this term pushes the *marginal* towards uniform (all clusters used) and leaves
  each window free to be sharp. It is the cluster-balance term of IMSAT / "mutual information"
  clustering (Hu et al. 2017) and of SCAN (Van Gansbeke et al. 2020).
- ``y_entropy`` mean H(q(y|x)) per window: with a positive weight it asks each window's posterior
  to be sharp, opposing eq. 7's ``kl_y`` (= log K − H). ``usage`` + ``y_entropy`` with one
  weight w add w·(log K − I(x; y)): the mutual-information clustering objective of IMSAT, and
  the same push as JointVAE's capacity on the discrete KL (kl_y towards log K).
- ``temporal``  symmetric KL between q(y|x) of two windows of one recording (``logits_pair``:
  h's logits of each window's neighbour in its clip): a scene does not change between
  neighbouring windows, so neither should the cluster posterior.
- ``augment``   the same symmetric KL between q(y|x) and q(y|x') of a random view x' of the same
  window (``logits_view``; :mod:`catuvac.training.augment`: frequency warp, time stretch and
  shift, masks): the cluster of a spoken digit should not depend on the talker's vocal tract or
  pace. With ``usage`` it is the self-augmented mutual-information clustering of IMSAT
  (Hu et al. 2017) and the consistency of IIC / SCAN.
- ``neighbour`` −log Σ_k q(k|x) q(k|x') for x' one of the window's nearest neighbours in the
  cluster feature space (``logits_nn``; :mod:`catuvac.training.clusterspace`, mined once before
  training): SCAN's consistency loss (Van Gansbeke et al. 2020). Unlike a divergence it is
  small only when both posteriors are sharp *and* agree, so it cannot be met by two vague ones.
- ``self_label`` SCAN's self-labelling step: the cross-entropy of a random view's q(y|x') (as
  ``augment``) against the window's own argmax, for windows whose q(y|x) is confident
  (max ≥ :data:`SELF_LABEL_CONFIDENCE`), each pseudo-label weighted by the inverse of its count
  among the batch's confident windows (so a large cluster cannot swallow the others). It turns
  the confident core of each cluster into targets that the rest of the cluster is pulled to.

Terms return a per-window tensor (B,) or a batch scalar; :meth:`Objective.__call__` averages,
weights and sums them. A new objective is a new function plus a weight field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping

import torch
import torch.nn.functional as F

__all__ = ["Batch", "TermFn", "TERMS", "Objective", "recon", "kl_z", "kl_y", "usage", "y_entropy", "temporal", "augment", "neighbour",
           "posterior_stats"]

Batch = Mapping[str, torch.Tensor]
TermFn = Callable[[Batch], torch.Tensor]


def recon(b: Batch) -> torch.Tensor:
    """−log p(x|y,z) per window: BCE summed over (masked) bins. float32 even under bf16 autocast."""
    bce = F.binary_cross_entropy(b["x_hat"].float(), b["x"].float(), reduction="none")  # (B, 1, F, T)
    mask = b.get("mask")
    if mask is not None:
        bce = bce * mask.float()[:, None, None, :]
    return bce.flatten(1).sum(1)


def kl_z(b: Batch) -> torch.Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) per window, summed over the d_z dimensions."""
    mu, logvar = b["mu"].float(), b["logvar"].float()
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)


def kl_y(b: Batch) -> torch.Tensor:
    """KL(q(y|x) ‖ uniform(K)) per window = log K − H(q(y|x))."""
    log_pi = b["log_pi"].float()
    return (log_pi.exp() * (log_pi + math.log(log_pi.shape[1]))).sum(1)


def usage(b: Batch) -> torch.Tensor:
    """KL(q̄ ‖ uniform(K)) of the batch-mean posterior q̄ = mean_b q(y|x_b) (a batch scalar)."""
    log_pi = b["log_pi"].float()
    k = log_pi.shape[1]
    log_mean = torch.logsumexp(log_pi, dim=0) - math.log(log_pi.shape[0])  # log q̄, stable
    return (log_mean.exp() * (log_mean + math.log(k))).sum()


def y_entropy(b: Batch) -> torch.Tensor:
    """H(q(y|x)) per window, in nats (0: one-hot, log K: uniform)."""
    log_pi = b["log_pi"].float()
    return -(log_pi.exp() * log_pi).sum(1)


def _sym_kl(log_p: torch.Tensor, logits_q: torch.Tensor) -> torch.Tensor:
    """KL(p‖q) + KL(q‖p) per row, p given as log-probabilities, q as logits."""
    lq = F.log_softmax(logits_q.float(), dim=1)
    return ((log_p.exp() - lq.exp()) * (log_p - lq)).sum(1)


def temporal(b: Batch) -> torch.Tensor:
    """Symmetric KL between q(y|x) of each window and of its neighbour (``logits_pair``), per pair.

    Windows without a neighbour (``pair_valid`` 0) contribute 0; the mean is over all windows
    of the batch, so the term's scale does not depend on how many have a neighbour.
    """
    sym = _sym_kl(b["log_pi"].float(), b["logits_pair"])
    valid = b.get("pair_valid")
    return sym if valid is None else sym * valid.float()


def augment(b: Batch) -> torch.Tensor:
    """Symmetric KL between q(y|x) of each window and of a random view of it (``logits_view``)."""
    return _sym_kl(b["log_pi"].float(), b["logits_view"])


# SCAN's threshold: only near-certain windows give a target.
SELF_LABEL_CONFIDENCE = 0.99


def self_label(b: Batch) -> torch.Tensor:
    """Class-balanced cross-entropy of q(y|x') (``logits_view``) against confident argmax q(y|x)."""
    p = b["log_pi"].detach().float().exp()
    conf, target = p.max(1)
    keep = conf >= SELF_LABEL_CONFIDENCE
    if not bool(keep.any()):
        return b["logits_view"].float().sum(1) * 0.0  # no target in this batch: zero, gradient-connected
    counts = torch.bincount(target[keep], minlength=p.shape[1]).float()
    present = (counts > 0).sum()
    w = keep.float() * keep.sum() / (present * counts.clamp_min(1.0)[target])  # Σ w = number of confident windows
    ce = F.cross_entropy(b["logits_view"].float(), target, reduction="none")
    return w * ce


def neighbour(b: Batch) -> torch.Tensor:
    """−log ⟨q(y|x), q(y|x')⟩ per window, x' a mined nearest neighbour (``logits_nn``)."""
    p = b["log_pi"].float().exp()
    q = F.softmax(b["logits_nn"].float(), dim=1)
    return -torch.log((p * q).sum(1).clamp_min(1e-12))


# name → (function, the Objective field holding its weight; None = weighted by λ or 1 as in eq. 7)
TERMS: dict[str, tuple[TermFn, str | None]] = {
    "recon": (recon, None),
    "kl_z": (kl_z, None),
    "kl_y": (kl_y, None),
    "usage": (usage, "usage_weight"),
    "y_entropy": (y_entropy, "y_entropy_weight"),
    "temporal": (temporal, "temporal_weight"),
    "augment": (augment, "augment_weight"),
    "neighbour": (neighbour, "neighbour_weight"),
    "self_label": (self_label, "self_label_weight"),
}


@dataclass(frozen=True)
class Objective:
    """The weights of one training loss: eq. 7's λ plus the weight of each extra term (0 = off)."""

    lam: float = 2.0  # λ of eq. 7 on both KL terms
    usage_weight: float = 0.0  # weight of ``usage`` (batch-level cluster balance); 0 = paper
    y_entropy_weight: float = 0.0  # weight of ``y_entropy`` (sharp posteriors per window); 0 = paper
    temporal_weight: float = 0.0  # weight of ``temporal`` (neighbouring windows agree); 0 = paper
    augment_weight: float = 0.0  # weight of ``augment`` (a window and a random view of it agree); 0 = paper
    neighbour_weight: float = 0.0  # weight of ``neighbour`` (a window and a mined neighbour agree); 0 = paper
    self_label_weight: float = 0.0  # weight of ``self_label`` (a view follows the window's confident argmax); 0 = paper

    def weights(self) -> dict[str, float]:
        """Weight of every active term (extras with weight 0 are not computed)."""
        w = {"recon": 1.0, "kl_z": self.lam, "kl_y": self.lam}
        for name, (_, field_name) in TERMS.items():
            if field_name is not None and getattr(self, field_name) != 0:
                w[name] = float(getattr(self, field_name))
        return w

    @property
    def needs_pairs(self) -> bool:
        return self.temporal_weight != 0

    @property
    def needs_view(self) -> bool:
        return self.augment_weight != 0 or self.self_label_weight != 0

    @property
    def needs_neighbours(self) -> bool:
        return self.neighbour_weight != 0

    def __call__(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Named batch-mean terms plus ``loss`` = their weighted sum."""
        out: dict[str, torch.Tensor] = {}
        loss = torch.zeros((), device=batch["x"].device)
        for name, w in self.weights().items():
            out[name] = TERMS[name][0](batch).mean()
            loss = loss + w * out[name]
        return {"loss": loss, **out}


@torch.no_grad()
def posterior_stats(log_pi: torch.Tensor) -> dict[str, torch.Tensor]:
    """Sums over a batch for the per-epoch cluster report (summable across batches and ranks):
    ``count`` (K,) windows whose argmax is each cluster, ``q_sum`` (K,) Σ q(y|x),
    ``entropy_sum`` () Σ H(q(y|x)) in nats."""
    lp = log_pi.detach().float()
    k = lp.shape[1]
    p = lp.exp()
    return {
        "count": torch.bincount(lp.argmax(1), minlength=k).double(),
        "q_sum": p.sum(0).double(),
        "entropy_sum": (-(p * lp).sum()).double().reshape(()),
    }
