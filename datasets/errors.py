"""The one error type of the datasets package."""

from infra.errors import InputError


class DatasetError(InputError):
    """A dataset, recipe or policy file that cannot be used; the message is one line that names
    the file, episode or option at fault. Command lines print it as `error: ...` and exit 2."""


class BuildWorkerDied(Exception):
    """A worker process building a dataset died (killed from outside, or out of memory): not
    bad input, but still one line; command lines exit 1 with it."""
