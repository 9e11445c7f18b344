"""Train a decision model with any registered backbone on one offline dataset.

    python train.py backbone:min-gru --dataset replica/hopper/mini-v0 --steps 2000
    python train.py --resume runs/RUN                   # continue a run exactly where it stopped

Defaults follow Decision Transformer's published settings (Chen et al. 2021). Logs go to
TensorBoard (losses/, charts/, eval/) in the run folder, beside config.json and checkpoint.pt.
"""

import sys

from agents.checkpoint import CheckpointError
from datasets import DatasetError
from training import UsageError, parse_args, train


def main(argv: list[str] | None = None) -> int:
    try:
        run_dir = train(parse_args(argv))
    except (UsageError, DatasetError, CheckpointError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"run folder: {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
