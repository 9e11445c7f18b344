"""The error a command line reports in one line with exit status 2."""


class UsageError(Exception):
    """Bad input from the command line or a run folder that cannot be used."""
