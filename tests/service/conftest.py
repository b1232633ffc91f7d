"""Fixtures of the gateway service's tests: a harness on SQLite and on PostgreSQL.

``harness`` is parametrized over both backends (``backend`` fixture from the store suite);
``harness_inbox`` runs the inbox mode. Tests that need other settings build their own
``GatewayHarness(tmp_path, database_url=database_url, ...)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.service.harness import GatewayHarness
from tests.store.conftest import _backend_url, backend, database_url, pg_database_url

__all__ = ["_backend_url", "backend", "database_url", "pg_database_url"]


@pytest.fixture
async def harness(tmp_path: Path, database_url: str) -> AsyncIterator[GatewayHarness]:
    async with GatewayHarness(tmp_path / "data", database_url=database_url) as h:
        yield h


@pytest.fixture
async def harness_inbox(tmp_path: Path, database_url: str) -> AsyncIterator[GatewayHarness]:
    async with GatewayHarness(tmp_path / "data", database_url=database_url, mode="inbox") as h:
        yield h
