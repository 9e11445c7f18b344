"""Errors reported in one line: the first line of an exception's message, which for torch, h5py
and Ray can run over paragraphs."""


def first_line(text: str) -> str:
    """The first non-blank line of `text`, stripped; "" when there is none."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def error_line(error: BaseException) -> str:
    """The first line of the error's message, or its type's name when the message is empty."""
    return first_line(str(error)) or type(error).__name__
