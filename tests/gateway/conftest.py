"""Fixtures: the shared simulator, bot and client (``tests/sim_fixtures.py``)."""

from __future__ import annotations

from tests.sim_fixtures import RELAXED, bot, client, sim

__all__ = ["RELAXED", "bot", "client", "sim"]
