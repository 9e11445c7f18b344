"""Train a decision model with any registered backbone on one offline dataset.

    python train.py backbone:min-gru --dataset replica/hopper/mini-v0 --steps 2000
    python train.py --resume runs/RUN                   # continue a run exactly where it stopped

Defaults follow Decision Transformer's published settings (Chen et al. 2021). Logs go to
TensorBoard (losses/, charts/, eval/) in the run folder, beside config.json and checkpoint.pt.
Ctrl-C (or SIGTERM) finishes the current step and writes a checkpoint before stopping.
A run moves between CPU and CUDA on --resume: the windows come from a CPU generator whose state
the checkpoint holds, and the optimiser takes the new device's flags; only dropout's random
stream is per device, so a moved run goes on correctly but not bit for bit.
"""

import sys

from infra.errors import InputError
from training import parse_args, train
from training.errors import Interrupted, NonFiniteLoss


def main(argv: list[str] | None = None) -> int:
    """Exit status: 0 done, 1 the loss diverged (or a bug: its traceback), 2 bad input,
    128 + N stopped by signal N."""
    try:
        run_dir = train(parse_args(argv))
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except NonFiniteLoss as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Interrupted as interruption:
        print(interruption, file=sys.stderr)
        return 128 + interruption.signal_number
    print(f"run folder: {run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
