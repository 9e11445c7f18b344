"""A local Ray instance that leaves nothing behind: its processes (GCS, raylet, agents,
workers) end with the suite, even after a kill -9 of the suite's main process, and its session
folders, in a folder of its own, are removed when it ends.

    with local_ray_instance():
        ray = connect(None, environment)     # ray.init starts the instance inside the block
        ...
"""

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from infra.environment import environment_variables
from infra.process_reaper import processes_end_with_this_one


@contextlib.contextmanager
def local_ray_instance() -> Iterator[Path]:
    """Yields the instance's folder (RAY_TMPDIR inside the block): made under the RAY_TMPDIR
    given, else the system's temporary folder, with a short name (Ray's Unix sockets allow
    about 107 characters in a path)."""
    folder = Path(tempfile.mkdtemp(prefix="ray-suite-", dir=os.environ.get("RAY_TMPDIR")))
    with processes_end_with_this_one(folder), environment_variables({"RAY_TMPDIR": str(folder)}):
        yield folder
