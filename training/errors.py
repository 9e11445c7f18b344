"""Errors that end a training run: a diverged loss, or a signal that stopped it."""


class NonFiniteLoss(Exception):
    """The loss became NaN or infinite: the run stops at the last good checkpoint."""


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived: the current step was finished and a checkpoint written."""

    def __init__(self, step: int, run_dir, signal_number: int):
        super().__init__(
            f"interrupted at step {step}; continue with: python train.py --resume {run_dir}"
        )
        self.step, self.run_dir, self.signal_number = step, run_dir, signal_number
