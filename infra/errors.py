"""Errors that mean bad input, not a bug: the command lines print their one-line message as
`error: ...` and exit 2. Every other exception keeps its traceback and exits 1.

Each kind of bad input has a class of its own, all subclasses of InputError:
UsageError (flags, settings, suite files), LockError (infra.locks), CheckpointError
(infra.checkpoint_files), DatasetError (datasets) and ConfigError (a config's own checks)."""


class InputError(Exception):
    """Bad input, reported in one line that names the flag, field or file at fault."""


class UsageError(InputError):
    """A flag, setting, suite file or run folder that cannot be used."""


class ConfigError(InputError, ValueError):
    """A config dataclass refusing a value: the message names the field and what it allows.
    A ValueError too, so that code constructing configs may catch either."""
