"""The one error type of the datasets package."""

from infra.errors import InputError


class DatasetError(InputError):
    """A dataset, recipe or policy file that cannot be used; the message is one line that names
    the file, episode or option at fault. Command lines print it as `error: ...` and exit 2."""
