"""Fixtures for the gate over its real Unix socket: a real journal, real keys, the real policy engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.gate.helpers import GateEnv


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def env(tmp_path: Path) -> GateEnv:
    return GateEnv(tmp_path)
