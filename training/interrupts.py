"""Stopping a run cleanly: SIGINT (Ctrl-C) or SIGTERM asks the loop to stop after its current
step, so that it can write a checkpoint instead of losing the steps since the last one."""

import signal
import threading

from infra.stop_signals import STOP_SIGNALS


class StopRequests:
    """While entered, the first SIGINT/SIGTERM is recorded in `signal_number` instead of
    killing the process; the handlers in place before are restored at once, so a second signal
    acts as it normally would (Ctrl-C twice stops at once). Outside the main thread (where
    Python cannot install handlers) nothing is installed."""

    def __init__(self):
        self.signal_number: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "StopRequests":
        if threading.current_thread() is threading.main_thread():
            self._previous = {number: signal.getsignal(number) for number in STOP_SIGNALS}
            for number in STOP_SIGNALS:
                signal.signal(number, self._record)
        return self

    def _record(self, number: int, frame) -> None:
        self.signal_number = number
        self._restore()

    def _restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous = {}

    def __exit__(self, *exc_info) -> None:
        self._restore()
