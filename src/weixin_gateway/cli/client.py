"""The blocking HTTP client behind the remote CLI commands (``cli/remote.py``).

::

    client = GatewayClient("http://127.0.0.1:8787", token="s3cret")
    status, answer = client.call("GET", "/inbox/messages", params={"limit": 5})
    answer = client.request("POST", "/poll/start")        # raises GatewayError on 4xx/5xx

Each call runs one aiohttp request inside :func:`asyncio.run`, so a command stays a plain
function. The gateway's URL is ``--gateway-url`` / ``WEIXIN_GATEWAY_URL``, else
``http://127.0.0.1:$PORT`` (``PORT`` as ``weixin-gateway serve`` reads it, default 8787); the
token, ``--api-token`` / ``WEIXIN_GATEWAY_API_TOKEN``, goes out as ``Authorization: Bearer``.

Failures are :class:`click.ClickException` subclasses, so click prints them on stderr as
``Error: <message>`` and exits with status 1: :class:`GatewayUnreachable` when nothing answers at
the URL, :class:`GatewayError` when the gateway refused (its JSON ``error``) or the request broke.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import click

__all__ = [
    "DEFAULT_PORT",
    "TOKEN_ENV",
    "URL_ENV",
    "GatewayClient",
    "GatewayError",
    "GatewayUnreachable",
    "default_base_url",
    "normalize_base_url",
]

DEFAULT_PORT = 8787
URL_ENV = "WEIXIN_GATEWAY_URL"
TOKEN_ENV = "WEIXIN_GATEWAY_API_TOKEN"  # noqa: S105 - a variable name, not a secret
PORT_ENV = "PORT"

#: Seconds a request may take unless the caller says otherwise (long polls add their wait).
DEFAULT_TIMEOUT_S = 30.0
_CONNECT_TIMEOUT_S = 10.0


class GatewayError(click.ClickException):
    """The gateway refused a request (``status`` >= 400) or the request failed on the way."""

    def __init__(self, message: str, status: int | None = None, answer: object = None) -> None:
        super().__init__(message)
        self.status = status
        self.answer = answer

    @classmethod
    def from_answer(cls, status: int, answer: object) -> GatewayError:
        """The error of a 4xx/5xx answer: its JSON ``error``, else the HTTP status."""
        error = answer.get("error") if isinstance(answer, dict) else None
        message = str(error) if error else f"the gateway answered HTTP {status}"
        return cls(message, status, answer)


class GatewayUnreachable(GatewayError):
    """Nothing accepted the connection at the gateway's URL."""

    def __init__(self, base_url: str) -> None:
        super().__init__(
            f"cannot reach the gateway at {base_url}: is 'weixin-gateway serve' running?"
        )
        self.base_url = base_url


def default_base_url(environ: Mapping[str, str] | None = None) -> str:
    """``http://127.0.0.1:<PORT>``, ``PORT`` defaulting to 8787 (unset or empty)."""
    env = os.environ if environ is None else environ
    port = env.get(PORT_ENV, "").strip() or str(DEFAULT_PORT)
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise click.UsageError(f"{PORT_ENV}: must be between 1 and 65535, got {port!r}")
    return f"http://127.0.0.1:{int(port)}"


def normalize_base_url(value: str) -> str:
    """``value`` without a trailing ``/``; :class:`click.BadParameter` unless http(s)://host."""
    text = value.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(f"must be an http:// or https:// URL, got {value!r}")
    return text


def _query(params: Mapping[str, object] | None) -> dict[str, str]:
    """Query parameters as strings, ``None`` values left out."""
    return {key: str(value) for key, value in (params or {}).items() if value is not None}


class GatewayClient:
    """Blocking calls to the gateway's REST API (one event loop and session per call)."""

    def __init__(
        self, base_url: str, token: str = "", *, timeout: float = DEFAULT_TIMEOUT_S
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def __repr__(self) -> str:  # never show the token
        return f"GatewayClient({self.base_url!r})"

    def call(
        self,
        method: str,
        path: str,
        body: object = None,
        params: Mapping[str, object] | None = None,
        *,
        timeout: float | None = None,
    ) -> tuple[int, Any]:
        """``(HTTP status, decoded JSON)`` (the text when the answer is not JSON).

        Raises :class:`GatewayUnreachable` when the connection is refused and
        :class:`GatewayError` when the request fails otherwise (timeout, dropped connection).
        """
        return asyncio.run(self._call(method, path, body, params, timeout or self.timeout))

    def request(
        self,
        method: str,
        path: str,
        body: object = None,
        params: Mapping[str, object] | None = None,
        *,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """The JSON object of a successful answer; :class:`GatewayError` for anything else."""
        status, answer = self.call(method, path, body, params, timeout=timeout)
        if status >= 400:
            raise GatewayError.from_answer(status, answer)
        if not isinstance(answer, dict):
            raise GatewayError(
                f"{self.base_url} did not answer with a JSON object (HTTP {status}): "
                "is it a weixin-gateway?",
                status,
                answer,
            )
        return answer

    async def _call(
        self,
        method: str,
        path: str,
        body: object,
        params: Mapping[str, object] | None,
        timeout: float,
    ) -> tuple[int, Any]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        limits = aiohttp.ClientTimeout(total=timeout, sock_connect=_CONNECT_TIMEOUT_S)
        url = self.base_url + path
        try:
            async with (
                aiohttp.ClientSession(timeout=limits) as session,
                session.request(
                    method,
                    url,
                    json=body,
                    params=_query(params),
                    headers=headers,
                ) as response,
            ):
                status = response.status
                raw = await response.read()
        except aiohttp.ClientConnectorError as exc:
            raise GatewayUnreachable(self.base_url) from exc
        except TimeoutError as exc:
            raise GatewayError(
                f"the gateway at {self.base_url} did not answer {method} {path} "
                f"within {timeout:g} s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise GatewayError(
                f"{method} {path} to the gateway at {self.base_url} failed: {exc}"
            ) from exc
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode("utf-8", "replace")
