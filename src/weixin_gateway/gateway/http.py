"""Outbound HTTP sessions of the gateway services: one place that decides pools, TLS and timeouts.

The gateway opens two aiohttp sessions and owns them for its lifetime: one for WeChat's API and
one for the developer's own services (``msg-proxy-pass``, ``redirect-url``), so that a slow
upstream holding many connections can never starve token refreshes or customer-service sends
(the lesson of python-telegram-bot's separate long-poll pool, STYLE.md).

TLS certificates are always verified (go-wx-gateway turned verification off, defect D15);
``ca_file`` adds a CA bundle (e.g. for a test double behind a private CA). Every request passes
its own finite timeout; the session default is only a safety net.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import aiohttp

__all__ = ["HttpClientConfig", "open_session"]


@dataclass(frozen=True, slots=True)
class HttpClientConfig:
    """One outbound connection pool.

    * ``limit``: connections in all (0 = no limit; concurrency is then bounded elsewhere).
    * ``ca_file``: an extra PEM CA bundle trusted besides the system's.
    * ``default_timeout_s``: the safety-net timeout of a request that names none.
    """

    limit: int = 100
    ca_file: str = ""
    dns_cache_ttl_s: int = 300
    default_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if self.limit < 0:
            raise ValueError("limit must not be negative")
        if not 0 < self.default_timeout_s < float("inf"):
            raise ValueError("default_timeout_s must be positive and finite")


def _ssl_context(ca_file: str) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def open_session(config: HttpClientConfig | None = None) -> aiohttp.ClientSession:
    """A new session for ``config``; the caller owns it and must close it."""
    config = config or HttpClientConfig()
    connector = aiohttp.TCPConnector(
        limit=config.limit,
        ttl_dns_cache=config.dns_cache_ttl_s,
        ssl=_ssl_context(config.ca_file),
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=config.default_timeout_s),
        trust_env=False,
        # one session serves every user and account: a cookie one answer sets must never ride
        # along with another user's request (an OAuth relay, a forwarded push)
        cookie_jar=aiohttp.DummyCookieJar(),
    )
