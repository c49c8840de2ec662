"""Initialization of h from K-means pseudo-labels (an initialization choice the paper leaves open).

Why: trained from a random start with eq. (7) alone, the continuous latent z learns the
scene structure first and the decoder learns to ignore y. Clusters that h stops using then
get no gradient and stay dead, so several scene classes merge into one cluster (measured
on the built-in scenes: 2–5 of 7 clusters used). Deep-clustering VAEs meet the same
problem and start from a classical clustering: VaDE initializes its mixture with a GMM
fitted on pretrained codes, DEC initializes with K-means. Here h is fitted for a few epochs
(cross-entropy) to the K-means clusters of the training inputs. Then the model trains with
eq. (7) exactly as before, so the warm start decides only where training begins. No labels
are used.

``TrainConfig.h_init = "kmeans"`` turns it on, ``h_init_epochs`` sets how long, and
``cluster_features`` chooses the space K-means reads (:mod:`catuvac.training.clusterspace`: the
flattened input by default, the cepstral envelope for words, where the input's K-means finds
talkers rather than digits). The paper
presets keep ``"random"`` (the paper describes no initialization).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["kmeans_pseudo_labels", "warm_start_h"]


def kmeans_pseudo_labels(features: np.ndarray, n_clusters: int, seed: int) -> torch.Tensor:
    """K-means (scikit-learn, 10 restarts) on (N, D) features of the training windows
    (:func:`catuvac.training.clusterspace.cluster_features`)."""
    from sklearn.cluster import KMeans

    labels = KMeans(n_clusters=n_clusters, n_init=10, random_state=seed).fit_predict(np.asarray(features))
    return torch.from_numpy(labels).long()


def warm_start_h(
    model: nn.Module,
    x_train: torch.Tensor,
    n_clusters: int,
    seed: int,
    epochs: int = 3,
    batch_size: int = 16,
    lr: float = 1e-3,
    device: torch.device | None = None,
    features: np.ndarray | None = None,
) -> dict[str, float]:
    """Fit h (conv + GRU + linear) to the K-means clusters of ``features`` (default: the
    flattened inputs); returns a small report."""
    device = device or torch.device("cpu")
    feats = x_train.reshape(len(x_train), -1).float().cpu().numpy() if features is None else features
    labels = kmeans_pseudo_labels(feats, n_clusters, seed)
    params = [p for n, p in model.named_parameters() if n.startswith(("h_body.", "h_out."))]
    if not params:
        raise ValueError("warm start needs a Cat. UVAC model (with an h encoder)")
    opt = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    loss = torch.zeros(())
    for _ in range(epochs):
        perm = torch.randperm(len(x_train), generator=gen)
        for i in range(0, len(perm), batch_size):
            b = perm[i : i + batch_size]
            logits = model.logits(x_train[b].to(device))
            loss = F.cross_entropy(logits, labels[b].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    with torch.no_grad():
        model.eval()
        pred = torch.cat([model.logits(x_train[i : i + 64].to(device)).argmax(1).cpu() for i in range(0, len(x_train), 64)])
        model.train()
    return {
        "pseudo_label_clusters": int(labels.unique().numel()),
        "fit_to_pseudo_labels": float((pred == labels).float().mean()),
        "final_loss": float(loss.detach()),
    }
