"""The gateway's token store: a database URL (argument, config, env), else files, else memory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import inspect

from weixin_gateway.gateway.mp_gateway import DATABASE_URL_ENV, MpGateway, resolve_database_url
from weixin_gateway.mp.config import MpConfig, parse_config
from weixin_gateway.mp.tokens import ACCESS_TOKEN, CachedToken, FileTokenStore, MemoryTokenStore
from weixin_gateway.store import SqlTokenStore


def _config(**top: str) -> MpConfig:
    conf = {
        "services": [
            {
                "name": "s",
                "wx-params": {"token": "t", "app-id": "wx1", "app-secret": "x"},
                "listen-endpoints": {"service-path": "/wx"},
            }
        ],
        **top,
    }
    config, _ = parse_config(json.dumps(conf))
    return config


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)


async def test_database_url_picks_the_sql_store(tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    config = _config(**{"database-url": f"sqlite:///{db}", "token-cache-dir": str(tmp_path)})
    async with MpGateway(config) as gateway:
        store = gateway.token_store
        assert isinstance(store, SqlTokenStore)  # database-url wins over token-cache-dir
        await store.put("wx1", ACCESS_TOKEN, CachedToken("v", 1e10))
        async with store.engine.connect() as connection:
            tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
        assert {"credentials", "leases", "alembic_version"} <= set(tables)
    # the engine was disposed; a new gateway on the same file sees the stored token
    async with MpGateway(config) as gateway:
        store = gateway.token_store
        assert isinstance(store, SqlTokenStore)
        assert await store.get("wx1", ACCESS_TOKEN) == CachedToken("v", 1e10)


async def test_environment_variable_is_the_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DATABASE_URL_ENV, str(tmp_path / "env.db"))
    async with MpGateway(_config()) as gateway:
        assert isinstance(gateway.token_store, SqlTokenStore)
    assert (tmp_path / "env.db").exists()


async def test_without_a_database_files_or_memory(tmp_path: Path) -> None:
    async with MpGateway(_config(**{"token-cache-dir": str(tmp_path)})) as gateway:
        assert isinstance(gateway.token_store, FileTokenStore)
    async with MpGateway(_config()) as gateway:
        assert isinstance(gateway.token_store, MemoryTokenStore)


def test_resolution_order() -> None:
    config = _config(**{"database-url": "sqlite:///c.db"})
    env = {DATABASE_URL_ENV: "sqlite:///e.db"}
    assert resolve_database_url(config, "sqlite:///a.db", env) == "sqlite:///a.db"
    assert resolve_database_url(config, None, env) == "sqlite:///c.db"
    assert resolve_database_url(_config(), None, env) == "sqlite:///e.db"
    assert resolve_database_url(_config(), None, {}) == ""


async def test_bad_database_url_fails_start_and_closes_sessions() -> None:
    gateway = MpGateway(_config(**{"database-url": "mysql://root:pw@127.0.0.1/x"}))
    with pytest.raises(ValueError, match="'mysql'"):
        await gateway.start()
    await gateway.close()
