"""Console entry points: ``catuvac-train`` (here), ``catuvac-eval`` and ``catuvac-table``
(thin wrappers around :mod:`catuvac.training.evaluate` and :mod:`catuvac.training.table`).

Errors a user can fix (bad data spec, empty data set, K larger than the data, a window longer
than every clip, a checkpoint of another model type on ``--resume`` …) print one line
``catuvac-train: error: …`` and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from catuvac.runtime.cli_wrapper import cli_entry
from catuvac.runtime.frontend import NORMALIZATIONS

from .clusterspace import CLUSTER_FEATURES

__all__ = ["build_train_parser", "train_main", "eval_main", "table_main", "config_from_args"]


def add_model_source(p: argparse.ArgumentParser, checkpoint_help: str, model_help: str) -> None:
    """``--checkpoint`` or ``--model`` (exactly one): the trained model a command reads, as a
    training checkpoint or as an exported encoder."""
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help=checkpoint_help)
    src.add_argument("--model", help=model_help)


def build_train_parser(prog: str = "catuvac-train") -> argparse.ArgumentParser:
    from .presets import PRESET_NOTES
    from .readers import data_spec_help

    presets = "; ".join(f"{k}: {v}" for k, v in PRESET_NOTES.items())
    p = argparse.ArgumentParser(
        prog=prog,
        description=(
            "Train the categorical UVAC (Fiorio et al.) and write DIR/checkpoint.pt, DIR/metrics.json, "
            "DIR/train_log.csv, DIR/loss_curves.png and DIR/latent_space.png. Under torchrun "
            "(torchrun --nproc_per_node N -m catuvac.training ...) it trains with DistributedDataParallel."
        ),
        epilog=f"presets — {presets}. Flags override the preset's values.",
    )
    p.add_argument("--data", default=None, help=f"dataset spec (default: the preset's): {data_spec_help()}")
    p.add_argument("--preset", default="quick", help="paper-audiomnist, paper-us8k, paper-tau2019, quick or device (default: quick)")
    p.add_argument("--clusters", type=int, default=None, dest="n_clusters", help="number of clusters K (default: the preset's)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--epochs", type=int, default=None, help="number of epochs")
    p.add_argument("--batch-size", type=int, default=None, help="training batch size")
    p.add_argument("--lambda", type=float, default=None, dest="lam", help="λ: weight of both KL terms (eq. 7)")
    p.add_argument("--lr-start", type=float, default=None, help="initial Adam learning rate (paper 5e-4)")
    p.add_argument("--lr-end", type=float, default=None, help="learning rate at the last epoch (paper 5e-5)")
    p.add_argument("--tau-start", type=float, default=None, help="Gumbel-Softmax τ at the first epoch (paper 1.0)")
    p.add_argument("--tau-end", type=float, default=None, help="τ at the last epoch (paper 0.5)")
    p.add_argument("--tau-schedule", choices=("exponential", "linear"), default=None, help="τ annealing shape (per epoch)")
    p.add_argument("--latent-dim", type=int, default=None, help="d_z (default 16)")
    p.add_argument("--arch", choices=("paper", "device"), default=None,
                   help="network shape: paper (default) or device (≤ 128 KB int8, streams exactly; see the device preset)")
    p.add_argument("--n-mels", type=int, default=None, help="mel bands of the front-end (default: the data set's, 128 for scenes)")
    p.add_argument("--model-type", choices=("cat_uvac", "uvac"), default=None, help="cat_uvac (default) or the uvac baseline")
    p.add_argument("--seed", type=int, default=None, help="initialisation / noise / data-order seed (default 0)")
    p.add_argument("--split-seed", type=int, default=None, help="train/val/test split seed (default 0)")
    p.add_argument("--folds", type=int, default=None,
                   help="grouped F-fold cross-validation: deal the recordings into F folds and test on --fold "
                   "(default 0 = off, the fixed 80/10/10 split; US8K's official folds with --folds 10)")
    p.add_argument("--fold", type=int, default=None, help="the test fold of --folds, 0 … F−1 (default 0)")
    p.add_argument("--window-seconds", type=float, default=None, help="context window (default: the data set's)")
    p.add_argument("--normalization", choices=NORMALIZATIONS, default=None,
                   help="input normalization (default window, the paper's; global: training-set statistics; "
                   "window_level: the window map with the window's absolute level beside it, issue 11)")
    p.add_argument("--max-files", type=int, default=None, help="use a seeded subset of the files")
    p.add_argument("--device", default=None, help="auto (default: cuda if available), cpu or cuda")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_const", const=False, default=None, help="plain NCHW convolutions on CPU")
    p.add_argument("--cache-dir", default=None, help="feature cache folder (default $CATUVAC_CACHE/features)")
    p.add_argument("--h-init", choices=("random", "kmeans", "spectral"), default=None,
                   help="initialization of h: random, or fitted first to the K-means or the k-nearest-neighbour-graph spectral "
                        "clusters of the training windows in --cluster-features space (default: the preset's)")
    p.add_argument("--h-init-epochs", type=int, default=None, help="epochs of the warm start of h (default: the preset's, else 3)")
    p.add_argument("--cluster-features", choices=CLUSTER_FEATURES, default=None,
                   help="space of the warm start's K-means and of the neighbour mining: input (flattened window), cepstral "
                   "(envelope sequence, words) or cepstral_stats (envelope statistics, scenes); default: the preset's")
    p.add_argument("--precision", choices=("fp32", "bf16"), default=None, help="fp32 (default) or bf16 autocast (faster on CPUs with AMX/AVX512-BF16)")
    g = p.add_argument_group(
        "beyond the paper's eq. 7 (Cat. UVAC; recorded in the checkpoint)",
        "Options the paper does not have. A preset may turn some on (see its notes); --paper-exact turns all of them off.",
    )
    g.add_argument("--usage-weight", type=float, default=None, help="weight of the batch-level cluster-usage term KL(mean q(y|x) ‖ uniform); 0 = off (default: the preset's)")
    g.add_argument("--y-entropy-weight", type=float, default=None, help="weight of the mean entropy H(q(y|x)) (sharp posteriors; with --usage-weight equal: mutual-information clustering); 0 = off")
    g.add_argument("--temporal-weight", type=float, default=None, help="weight of the symmetric KL between q(y|x) of neighbouring windows of one recording (needs clips longer than the window); 0 = off")
    g.add_argument("--augment-weight", type=float, default=None, help="weight of the symmetric KL between q(y|x) of a window and of a random view of it (frequency warp, time stretch and shift, masks); 0 = off (default: the preset's)")
    g.add_argument("--neighbour-weight", type=float, default=None, help="weight of SCAN's consistency −log ⟨q(y|x), q(y|x')⟩ with x' one of the window's nearest training windows in the --cluster-features space; 0 = off (default: the preset's)")
    g.add_argument("--neighbour-k", type=int, default=None, help="nearest neighbours per window for --neighbour-weight and the graph of --h-init spectral (default 10)")
    g.add_argument("--self-label-weight", type=float, default=None, help="weight of SCAN's self-labelling: class-balanced cross-entropy of a random view against the window's confident (≥ 0.99) argmax; 0 = off (default: the preset's)")
    g.add_argument("--self-label-start", type=float, default=None, help="epoch fraction at which --self-label-weight starts (default 0.5)")
    g.add_argument("--kl-warmup-epochs", type=int, default=None, help="ramp λ linearly up over this many epochs; 0 = off (default: the preset's)")
    g.add_argument("--paper-exact", action="store_const", const=True, default=None, help="reproduce the paper literally: random init of h, no extra terms, no KL warm-up, fp32")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last complete epoch")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.add_argument("--no-plots", dest="plots", action="store_false", help="skip the PNGs")
    return p


_OVERRIDES = (
    "data", "n_clusters", "epochs", "batch_size", "lam", "lr_start", "lr_end", "tau_start", "tau_end", "tau_schedule",
    "latent_dim", "arch", "n_mels", "model_type", "seed", "split_seed", "folds", "fold", "window_seconds", "normalization", "max_files", "device", "channels_last", "h_init", "h_init_epochs", "precision",
    "cluster_features", "usage_weight", "y_entropy_weight", "temporal_weight", "augment_weight", "neighbour_weight", "neighbour_k",
    "self_label_weight", "self_label_start",
    "kl_warmup_epochs", "paper_exact",
)


def config_from_args(args: argparse.Namespace):  # -> TrainConfig
    from .train import make_config

    return make_config(args.preset, **{k: getattr(args, k) for k in _OVERRIDES})


def _user_errors() -> tuple[type[BaseException], ...]:
    from catuvac.runtime.frontend import FrontEndError

    from .checkpoint import CheckpointError
    from .datasets import DatasetError
    from .metrics import MetricsError
    from .model import ModelConfigError
    from .train import TrainError

    errs: list[type[BaseException]] = [TrainError, DatasetError, CheckpointError, FrontEndError, ModelConfigError, MetricsError]
    try:
        from catuvac.runtime.audio import AudioError

        errs.append(AudioError)
    except ImportError:  # pragma: no cover
        pass
    return tuple(errs)


@cli_entry("catuvac-train")
def train_main(argv: Sequence[str] | None = None, prog: str = "catuvac-train") -> int:
    """``catuvac-train``: parse, train, exit 0; user errors → one line on stderr, exit 2."""
    args = build_train_parser(prog).parse_args(argv)
    from .train import train

    try:
        cfg = config_from_args(args)
        train(cfg, args.out, resume=args.resume, progress=args.progress, cache_dir=args.cache_dir, plots=args.plots)
    except _user_errors() as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; continue with the same command plus --resume", file=sys.stderr)
        return 130
    return 0


@cli_entry("catuvac-eval")
def eval_main(argv: Sequence[str] | None = None) -> int:
    """``catuvac-eval``: see :func:`catuvac.training.evaluate.run_eval`."""
    from .evaluate import main

    return main(argv)


@cli_entry("catuvac-table")
def table_main(argv: Sequence[str] | None = None) -> int:
    """``catuvac-table``: see :func:`catuvac.training.table.run_table`."""
    from .table import main

    return main(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(train_main())
