"""Setting environment variables for the duration of a block."""

import contextlib
import os
from collections.abc import Iterator


@contextlib.contextmanager
def environment_variables(values: dict[str, str]) -> Iterator[None]:
    """os.environ with `values` set inside the block, as it was after it (a variable absent
    before is removed again). Child processes started inside the block inherit `values`."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
