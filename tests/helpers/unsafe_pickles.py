"""What a malicious checkpoint holds, for the tests that it is refused wherever one is read."""

import os


class RunsAShellCommand:
    """Unpickling it would call os.system."""

    def __reduce__(self):
        return os.system, ("echo this ran",)
