"""The HTTP seam towards the developer's own services (``msg-proxy-pass``, ``redirect-url``).

* :meth:`Upstream.post_json` POSTs a forwarded push (official-account.md §6.4) and returns the
  answer's body. Like go-wx-gateway the HTTP status is not what decides (§6.6: a JSON body is
  used whatever the status; a non-2xx is logged, defect D30); unlike it the timeout is
  explicit, and the answer is capped in size.
* :meth:`Upstream.relay` is the reverse proxy of the OAuth redirect (§6.8): a POST with the
  browser's headers and cookies, whose status, headers (every ``Set-Cookie``) and body go back
  to the browser unchanged. It has a timeout (go-wx-gateway had none, defect D26).

Failures are kept apart as everywhere (:mod:`weixin_gateway.errors`): the network
(:class:`~weixin_gateway.errors.NetworkError`, :class:`~weixin_gateway.errors.RequestTimeoutError`)
and an answer too large to read (:class:`~weixin_gateway.errors.DecodeError`). Error messages name
the upstream by scheme, host and path only (never a query string or credentials in the URL).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import aiohttp

from weixin_gateway._bodies import read_capped
from weixin_gateway.errors import NetworkError, RequestTimeoutError

__all__ = [
    "DEFAULT_MAX_ANSWER_BYTES",
    "HOP_BY_HOP",
    "RelayAnswer",
    "Upstream",
    "UpstreamAnswer",
    "describe_url",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_ANSWER_BYTES: Final = 1024 * 1024
USER_AGENT: Final = "weixin-gateway"
JSON_CONTENT_TYPE: Final = "application/json; charset=UTF-8"

HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
"""Headers that belong to one connection and are never forwarded (RFC 9110 §7.6.1)."""

Headers = Sequence[tuple[str, str]]


def describe_url(url: str) -> str:
    """``scheme://host[:port]/path`` of ``url``: no user info, query or fragment (for logs)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    return f"{parts.scheme}://{host}{port}{parts.path}"


@dataclass(frozen=True, slots=True)
class UpstreamAnswer:
    """What the upstream answered a forwarded push with."""

    status: int
    body: bytes


@dataclass(frozen=True, slots=True)
class RelayAnswer:
    """An answer relayed to a browser: status, headers as sent (duplicates kept), body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


class Upstream:
    """POSTs to the developer's services over one borrowed aiohttp session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        timeout_s: float,
        connect_timeout_s: float = 5.0,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
    ) -> None:
        if not 0 < timeout_s < float("inf") or not 0 < connect_timeout_s < float("inf"):
            raise ValueError("timeouts must be positive and finite")
        self._session = session
        self.timeout_s = timeout_s
        self.max_answer_bytes = max_answer_bytes
        self._timeout = aiohttp.ClientTimeout(
            total=timeout_s, connect=min(connect_timeout_s, timeout_s)
        )
        self._json_headers = {"Content-Type": JSON_CONTENT_TYPE, "User-Agent": USER_AGENT}

    def __repr__(self) -> str:
        return f"Upstream(timeout_s={self.timeout_s:g})"

    async def post_json(self, url: str, body: bytes) -> UpstreamAnswer:
        """POST ``body`` (JSON) to ``url``; the answer whatever its status."""
        try:
            async with self._session.post(
                url,
                data=body,
                headers=self._json_headers,
                timeout=self._timeout,
                allow_redirects=False,
            ) as resp:
                data = await read_capped(describe_url(url), resp, self.max_answer_bytes)
                return UpstreamAnswer(resp.status, data)
        except TimeoutError as exc:
            raise RequestTimeoutError(
                f"{describe_url(url)} did not answer within {self.timeout_s:g} s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"{describe_url(url)}: {type(exc).__name__}") from None

    async def relay(self, url: str, body: bytes, headers: Headers) -> RelayAnswer:
        """POST ``body`` to ``url`` with ``headers`` as given; the answer to relay back."""
        try:
            async with self._session.post(
                url,
                data=body,
                headers=list(headers),
                timeout=self._timeout,
                allow_redirects=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding"),
            ) as resp:
                data = await read_capped(describe_url(url), resp, self.max_answer_bytes)
                return RelayAnswer(resp.status, relayed_headers(resp.raw_headers), data)
        except TimeoutError as exc:
            raise RequestTimeoutError(
                f"{describe_url(url)} did not answer within {self.timeout_s:g} s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"{describe_url(url)}: {type(exc).__name__}") from None


def connection_headers(headers: Iterable[tuple[str, str]]) -> frozenset[str]:
    """Hop-by-hop headers: the fixed set plus every header named in ``Connection``."""
    named = {
        token.strip().lower()
        for name, value in headers
        if name.lower() == "connection"
        for token in value.split(",")
    }
    return HOP_BY_HOP | named


# aiohttp decodes a compressed body and frames the answer itself, so these are recomputed
_RELAY_DROP: Final = frozenset({"content-length", "content-encoding"})


def relayed_headers(raw: Iterable[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    """The upstream's answer headers that go back to the browser (duplicates kept, in order)."""
    pairs = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in raw]
    drop = connection_headers(pairs) | _RELAY_DROP
    return tuple((name, value) for name, value in pairs if name.lower() not in drop)
