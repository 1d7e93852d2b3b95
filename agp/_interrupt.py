"""Ctrl-C during a governed run: say at once what is being cleaned up, then let the run tear down.

The first SIGINT prints one line naming what happens next and raises KeyboardInterrupt where the
main thread is (the run's ``finally`` blocks stop the sandbox and write the bundle). A second one
while that happens only says it is still cleaning up: cutting the teardown short would leave a
sandbox behind (the next run would reap it, but the bundle would be lost).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ("announce_interrupt",)


def _say(text: str) -> None:
    with contextlib.suppress(OSError):
        os.write(2, ("\n" + text + "\n").encode())  # async-signal-safe; no console lock taken


@contextmanager
def announce_interrupt(cleanup: str) -> Iterator[None]:
    """Within the block, Ctrl-C prints ``agp: interrupted: <cleanup>`` and raises KeyboardInterrupt once."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    state = {"seen": False}

    def handler(signum, frame):
        if state["seen"]:
            _say(f"agp: still cleaning up ({cleanup}); it ends on its own")
            return
        state["seen"] = True
        _say(f"agp: interrupted: {cleanup}")
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
