"""Errors of a training run that end it with a one-line message."""


class UsageError(Exception):
    """Bad input from the command line or a run folder that cannot be used (exit status 2)."""


class NonFiniteLoss(Exception):
    """The loss became NaN or infinite: the run stops at the last good checkpoint."""


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived: the current step was finished and a checkpoint written."""

    def __init__(self, step: int, run_dir, signal_number: int):
        super().__init__(
            f"interrupted at step {step}; continue with: python train.py --resume {run_dir}"
        )
        self.step, self.run_dir, self.signal_number = step, run_dir, signal_number
