"""Ctrl-C and SIGTERM as an exception of the main loop, so that a command can stop its workers,
clean up and say in one line how to continue, instead of dying with a traceback."""

import contextlib
import signal
from collections.abc import Callable, Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopped(Exception):
    """SIGINT or SIGTERM arrived; the exit status is 128 + signal_number (130 or 143)."""

    def __init__(self, signal_number: int):
        super().__init__(signal.Signals(signal_number).name)
        self.signal_number = signal_number


@contextlib.contextmanager
def stop_signals_raise() -> Iterator[None]:
    """Inside the block, the first SIGINT or SIGTERM raises Stopped in the main thread; later
    ones are ignored, so that they cannot cut the clean-up short. The previous handlers come
    back after the block."""

    def handler(signal_number, frame):
        for number in STOP_SIGNALS:
            signal.signal(number, signal.SIG_IGN)
        raise Stopped(signal_number)

    previous = {number: signal.signal(number, handler) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, action in previous.items():
            signal.signal(number, action)


@contextlib.contextmanager
def stop_signals_recorded() -> Iterator[Callable[[], None]]:
    """As stop_signals_raise, but the first SIGINT or SIGTERM is only recorded: the block calls
    the function it is given between calls into extension code (e.g. ray.wait), which raises
    Stopped then. Raised inside such a call, the handler's exception would come out as a
    SystemError."""
    received: list[int] = []

    def handler(signal_number, frame):
        for number in STOP_SIGNALS:
            signal.signal(number, signal.SIG_IGN)
        received.append(signal_number)

    def raise_if_stopped() -> None:
        if received:
            raise Stopped(received[0])

    previous = {number: signal.signal(number, handler) for number in STOP_SIGNALS}
    try:
        yield raise_if_stopped
    finally:
        for number, action in previous.items():
            signal.signal(number, action)
