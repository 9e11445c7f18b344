"""Writing a file so that readers see the old content or the new, never half of it."""

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def replaced_on_success(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` for the block to write; on success it is renamed over
    `path` (and the rename made durable), on an exception removed, `path` left as it was."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, 0o644)  # mkstemp creates 0600; run folders and caches are shared
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # make the rename itself durable
    finally:
        os.close(directory)


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside `path`; on success fsync it and rename it over `path`.
    On an exception the temporary file is removed and `path` is left as it was."""
    with replaced_on_success(path) as temporary, open(temporary, mode) as file:
        yield file
        file.flush()
        os.fsync(file.fileno())


def write_json(path: str | Path, payload) -> None:
    """`payload` as indented JSON, written atomically."""
    with atomic_write(path, "w") as file:
        json.dump(payload, file, indent=2)
        file.write("\n")
