"""A test that spins fails instead of hanging: a ceiling on the CPU time (user and system) it may use.

The journal verifier and the policy engine loop over input that comes from outside (proof sizes,
a command's words); a loop of theirs that never ends would hang `agp verify` or the gate rather
than refuse the input. Used as an autouse fixture by the tests of those loops::

    _cpu_ceiling = cpu_ceiling_fixture(5.0)
"""

from __future__ import annotations

import signal

import pytest


class Spinning(BaseException):
    """Not an Exception: hypothesis must not catch it and replay the spin while shrinking."""


def cpu_ceiling_fixture(seconds: float):
    @pytest.fixture(autouse=True)
    def _cpu_ceiling():
        def _stop(_sig, _frame):
            raise Spinning(f"still running after {seconds:g} s of CPU time: a loop that does not end")

        old = signal.signal(signal.SIGPROF, _stop)
        signal.setitimer(signal.ITIMER_PROF, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.signal(signal.SIGPROF, old)

    return _cpu_ceiling
