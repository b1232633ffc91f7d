"""The Official Account gateway at run time: every configured service, their clients and sessions.

::

    async with MpGateway(config) as gateway:
        service = gateway.service("my-account")
        answer = await service.handle_push(query, body)

:class:`MpGateway` owns what lives as long as the process (unless passed in, then borrowed):
the aiohttp session for WeChat's API, the one for the developer's upstreams
(:mod:`weixin_gateway.gateway.http`), the token store, one
:class:`~weixin_gateway.mp.client.MpApiClient` per AppID, and one
:class:`~weixin_gateway.gateway.mp_service.OfficialAccountService` per configured service.

The token store is, in order: the one passed in; :class:`~weixin_gateway.store.SqlTokenStore`
when a database URL is known (the ``database_url`` argument, else the config's ``database-url``,
else the environment variable ``WEIXIN_GATEWAY_DATABASE_URL``) — its schema is migrated at start
and its engine disposed at close; go-wx-gateway's files when ``token-cache-dir`` is set; else
memory.

``api-base-url`` points every WeChat host at one base (the simulator serves the API,
``mp.weixin.qq.com`` and ``open.weixin.qq.com`` from one origin); left at its default the real
hosts are used.

On close, running jobs get ``drain_timeout_s`` to finish (so late replies still go out), then
they are cancelled and the sessions closed.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp
from sqlalchemy.ext.asyncio import AsyncEngine

from weixin_gateway._clock import Clock, SystemClock
from weixin_gateway._resource import Service
from weixin_gateway.gateway.http import HttpClientConfig, open_session
from weixin_gateway.gateway.mp_service import OfficialAccountService, ServiceTuning
from weixin_gateway.gateway.upstream import Upstream
from weixin_gateway.mp.client import (
    DEFAULT_MP_BASE_URL,
    MpApiClient,
    MpClientConfig,
    MpTimeouts,
)
from weixin_gateway.mp.config import DEFAULT_API_BASE_URL, MpConfig, ServiceConfig
from weixin_gateway.mp.oauth import DEFAULT_OPEN_BASE_URL
from weixin_gateway.mp.tokens import FileTokenStore, MemoryTokenStore, TokenStore
from weixin_gateway.store import (
    SqlTokenStore,
    create_engine,
    dispose_engine,
    redact_url,
    upgrade,
)

__all__ = ["DATABASE_URL_ENV", "MpGateway", "MpGatewayConfig", "resolve_database_url"]

DATABASE_URL_ENV = "WEIXIN_GATEWAY_DATABASE_URL"

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MpGatewayConfig:
    """Run-time settings that go-wx-gateway's configuration file has no key for.

    * ``upstream_timeout_s``: a whole POST to ``msg-proxy-pass`` (go-wx-gateway: a fixed 5 s).
      A reply arriving after the reply budget is delivered late (or dropped), so this may be
      longer than the budget.
    * ``oauth_timeout_s``: the POST to ``redirect-url`` (go-wx-gateway: none, defect D26).
    * ``drain_timeout_s``: at shutdown, how long running jobs may still finish.
    * ``api_timeouts``: the WeChat API client's timeouts.
    * ``dedupe_ttl_s``, ``max_backlog_per_worker``, ``user_info_ttl_s``: see
      :class:`~weixin_gateway.gateway.mp_service.ServiceTuning`.
    """

    upstream_timeout_s: float = 30.0
    oauth_timeout_s: float = 30.0
    drain_timeout_s: float = 5.0
    dedupe_ttl_s: float = 60.0
    max_backlog_per_worker: int = 100
    user_info_ttl_s: float = 60.0
    api_timeouts: MpTimeouts = field(default_factory=MpTimeouts)
    upstream_pool: HttpClientConfig = field(default_factory=lambda: HttpClientConfig(limit=1000))

    def __post_init__(self) -> None:
        for name in ("upstream_timeout_s", "oauth_timeout_s"):
            if not 0 < getattr(self, name) < float("inf"):
                raise ValueError(f"{name} must be positive and finite")
        if self.drain_timeout_s < 0:
            raise ValueError("drain_timeout_s must not be negative")


def resolve_database_url(
    config: MpConfig, explicit: str | None = None, environ: Mapping[str, str] | None = None
) -> str:
    """The database URL for tokens: ``explicit``, else ``database-url``, else the environment.

    ``""`` when none is set (then ``token-cache-dir`` or memory is used).
    """
    if explicit:
        return explicit
    if config.database_url:
        return config.database_url
    env = os.environ if environ is None else environ
    return env.get(DATABASE_URL_ENV, "").strip()


class MpGateway(Service):
    """Every service of one :class:`~weixin_gateway.mp.config.MpConfig` (see module docstring).

    ``api_session`` / ``upstream_session`` / ``token_store`` are borrowed when given;
    ``database_url`` overrides the config's ``database-url`` (see the module docstring).
    """

    def __init__(
        self,
        config: MpConfig,
        *,
        settings: MpGatewayConfig | None = None,
        api_session: aiohttp.ClientSession | None = None,
        upstream_session: aiohttp.ClientSession | None = None,
        token_store: TokenStore | None = None,
        database_url: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        self.settings = settings or MpGatewayConfig()
        self.clock: Clock = clock or SystemClock()
        self._api_session = api_session
        self._upstream_session = upstream_session
        self._owned: list[aiohttp.ClientSession] = []
        self._token_store = token_store
        self._database_url = database_url
        self._engine: AsyncEngine | None = None
        self._clients: dict[str, MpApiClient] = {}
        self._services: dict[str, OfficialAccountService] = {}
        self._started = False

    def __repr__(self) -> str:
        return (
            f"MpGateway(services={list(self._services) or [s.name for s in self.config.services]})"
        )

    # ------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the sessions and build the clients and services."""
        if self._started:
            raise RuntimeError("gateway already started")
        self._started = True
        config = self.config
        try:
            if self._api_session is None:
                self._api_session = open_session(HttpClientConfig(ca_file=config.api_ca_file))
                self._owned.append(self._api_session)
            if self._upstream_session is None:
                self._upstream_session = open_session(self.settings.upstream_pool)
                self._owned.append(self._upstream_session)
            if self._token_store is None:
                self._token_store = await self._open_token_store()
        except BaseException:
            await self._close_engine()
            await self._close_sessions()
            raise
        settings = self.settings
        upstream = Upstream(self._upstream_session, timeout_s=settings.upstream_timeout_s)
        oauth_upstream = Upstream(self._upstream_session, timeout_s=settings.oauth_timeout_s)
        for service in config.services:
            self._services[service.name] = OfficialAccountService(
                service,
                client=self._client_for(service),
                upstream=upstream,
                oauth_upstream=oauth_upstream,
                tuning=ServiceTuning(
                    reply_budget_s=config.reply_budget_ms / 1000,
                    dedupe_ttl_s=settings.dedupe_ttl_s,
                    max_backlog_per_worker=settings.max_backlog_per_worker,
                    user_info_ttl_s=settings.user_info_ttl_s,
                    max_body_bytes=config.max_body_bytes,
                    append_user_info=not config.dont_append_userinfo,
                ),
                clock=self.clock,
            )

    async def _open_token_store(self) -> TokenStore:
        config = self.config
        url = resolve_database_url(config, self._database_url)
        if url:
            self._engine = create_engine(url)
            await upgrade(self._engine)
            log.info("tokens are kept in the database %s", redact_url(url))
            return SqlTokenStore(self._engine, clock=self.clock)
        if config.token_cache_dir:
            return FileTokenStore(config.token_cache_dir)
        return MemoryTokenStore()

    @property
    def token_store(self) -> TokenStore | None:
        """The token store in use (``None`` before :meth:`start`)."""
        return self._token_store

    def _client_for(self, service: ServiceConfig) -> MpApiClient | None:
        wx = service.wx_params
        if not wx.app_id:
            return None
        client = self._clients.get(wx.app_id)
        if client is not None:  # services sharing an AppID share its client and tokens
            return client
        api_base = self.config.api_base_url
        custom = api_base.rstrip("/") != DEFAULT_API_BASE_URL
        client = MpApiClient(
            wx.app_id,
            wx.app_secret,
            api_base_url=api_base,
            mp_base_url=api_base if custom else DEFAULT_MP_BASE_URL,
            open_base_url=api_base if custom else DEFAULT_OPEN_BASE_URL,
            session=self._api_session,
            token_store=self._token_store,
            clock=self.clock,
            config=MpClientConfig(timeouts=self.settings.api_timeouts),
        )
        self._clients[wx.app_id] = client
        return client

    async def close(self) -> None:
        """Drain the services' jobs, then close the clients and the owned sessions."""
        services = list(self._services.values())
        if services:
            await asyncio.gather(
                *(s.drain(self.settings.drain_timeout_s) for s in services),
                return_exceptions=True,
            )
        for client in self._clients.values():
            await client.close()
        await self._close_engine()
        await self._close_sessions()

    async def _close_engine(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            await dispose_engine(engine)

    async def _close_sessions(self) -> None:
        owned, self._owned = self._owned, []
        for session in owned:
            await session.close()

    # ------------------------------------------------------------------------- lookups

    @property
    def services(self) -> tuple[OfficialAccountService, ...]:
        """The services, in configuration order (empty before :meth:`start`)."""
        return tuple(self._services.values())

    def service(self, name: str) -> OfficialAccountService | None:
        """The service called ``name`` (the ``s`` parameter of the common endpoints)."""
        return self._services.get(name)
