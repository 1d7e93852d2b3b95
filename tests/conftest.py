"""Suite-wide test settings.

Hypothesis runs derandomized under CI (``CI`` set, as the CI runner does) so a
clean-clone run cannot fail at random: the examples tried are a function of the
test alone, and every example that ever failed is pinned with ``@example`` next
to its test. Locally, the default profile explores new examples on each run;
``AGP_HYPOTHESIS_PROFILE=ci`` reproduces CI's choice exactly.

Each pytest process gets its own base temp directory, /tmp/agp-pytest-XXXXXXXX, unless
``--basetemp`` names one: shorter than pytest's default (whose counter grows a digit now and
then), so the tests' own clients of a run's Unix sockets stay under the 107 bytes a socket
address holds (agp itself binds and connects through the socket directory's descriptor, and
tests/unit/test_unix_sockets.py runs it far deeper), and private to the process, so suites run
side by side do not remove each other's files. It is removed when the session passes, and kept
for a look when anything failed. ``AGP_PYTEST_TMP_PARENT`` names another (short) parent for it:
bench/mutation.py gives its sessions, most of which fail on purpose, one it removes afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile(os.environ.get("AGP_HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if not config.option.basetemp and not hasattr(config, "workerinput"):
        parent = os.environ.get("AGP_PYTEST_TMP_PARENT") or "/tmp"
        config.option.basetemp = tempfile.mkdtemp(prefix="agp-pytest-", dir=parent)
        config._agp_own_basetemp = config.option.basetemp  # type: ignore[attr-defined]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    own = getattr(session.config, "_agp_own_basetemp", None)
    if own and exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        shutil.rmtree(own, ignore_errors=True)
