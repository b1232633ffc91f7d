"""Reading an HTTP reply body without trusting its size."""

from __future__ import annotations

import aiohttp

from weixin_gateway.errors import DecodeError

__all__ = ["read_capped"]


async def read_capped(label: str, resp: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole body of ``resp``; :class:`DecodeError` past ``limit`` bytes (runaway or hostile).

    ``label`` names the exchange in the error and must not contain credentials.
    """
    if resp.content_length is not None and resp.content_length > limit:
        raise DecodeError(f"{label}: reply of {resp.content_length} bytes is over {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise DecodeError(f"{label}: reply is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
