"""``python -m catuvac.training`` = ``catuvac-train``; under ``torchrun --nproc_per_node N -m
catuvac.training ...`` every process runs this and the trainer joins the process group."""

import sys

from .cli import train_main

if __name__ == "__main__":
    sys.exit(train_main(prog="python -m catuvac.training"))
