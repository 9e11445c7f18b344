"""A lock held by another process, for tests of what waits for it or refuses to."""

import subprocess
import sys
from pathlib import Path

from tests.helpers.paths import REPOSITORY


def hold_in_another_process(path: Path, what: str = "x") -> subprocess.Popen:
    """A process that takes the lock, says so on stdout, then sleeps until killed."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from infra.locks import hold_lock\n"
            f"with hold_lock({str(path)!r}, {what!r}):\n"
            "    print('held', flush=True)\n"
            "    time.sleep(600)\n",
        ],
        cwd=REPOSITORY,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    return holder
