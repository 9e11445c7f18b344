"""Training a decision model on one offline dataset: the settings, the run folder, the loop.

train.py is the command line over this package; the benchmark suite calls it directly."""

from training.config import Args, args_from_dict, args_to_dict, parse_args, validate
from training.loop import train

__all__ = [
    "Args",
    "args_from_dict",
    "args_to_dict",
    "parse_args",
    "train",
    "validate",
]
