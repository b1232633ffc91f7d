"""The simulated CDN under ``/c2c``: encrypted uploads checked against ``getuploadurl``, downloads.

``POST /c2c/upload?encrypted_query_param=…&filekey=…`` streams the body to disk while checking
its length against ``filesize``, decrypting it with the ``aeskey`` given to ``getuploadurl`` and
checking ``rawsize`` and ``rawfilemd5``. Success is HTTP 200 with ``x-encrypted-param: <download
param>``; a refusal is HTTP 400 with the reason in ``x-error-message``.
``GET /c2c/download?encrypted_query_param=…`` serves the stored bytes unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from weixin_gateway.errors import MediaError
from weixin_gateway.ilink.protocol import Paths

from ._http import cdn_error

if TYPE_CHECKING:
    from .server import Simulator

__all__ = ["CDN_PREFIX", "CdnRoutes"]

#: Where the CDN lives on the simulator: ``cdn_base_url = base_url + CDN_PREFIX``.
CDN_PREFIX = "/c2c"
_CHUNK = 1 << 16


class CdnRoutes:
    """Handlers for ``/c2c/upload`` and ``/c2c/download``."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim

    def register(self, router: web.UrlDispatcher) -> None:
        router.add_resource(f"{CDN_PREFIX}/{Paths.CDN_UPLOAD}", name="cdn_upload").add_route(
            "POST", self.upload
        )
        router.add_resource(f"{CDN_PREFIX}/{Paths.CDN_DOWNLOAD}", name="cdn_download").add_route(
            "GET", self.download
        )

    def bot_of(self, request: web.Request) -> str | None:
        """The bot that owns the upload or blob a CDN request names (for fault plans)."""
        param = request.query.get("encrypted_query_param", "")
        store = self._sim.blob_store
        pending = store.pending(param)
        if pending is not None:
            return pending.bot_id
        blob = store.blob(param)
        return blob.bot_id if blob is not None else None

    async def upload(self, request: web.Request) -> web.StreamResponse:
        param = request.query.get("encrypted_query_param")
        if not param:
            return cdn_error(400, "missing encrypted_query_param")
        pending = self._sim.blob_store.pending(param)
        if pending is None:
            return cdn_error(400, "invalid encrypted_query_param")
        if request.query.get("filekey") != pending.filekey:
            return cdn_error(400, "invalid filekey")
        spool = self._sim.blob_store.begin_upload(pending)
        try:
            async for chunk in request.content.iter_chunked(_CHUNK):
                spool.update(chunk)
            blob = spool.finish()
        except MediaError as exc:
            spool.abort()
            return cdn_error(400, str(exc))
        except BaseException:
            spool.abort()
            raise
        return web.Response(status=200, headers={"x-encrypted-param": blob.param})

    async def download(self, request: web.Request) -> web.StreamResponse:
        param = request.query.get("encrypted_query_param")
        if not param:
            return cdn_error(400, "missing encrypted_query_param")
        blob = self._sim.blob_store.blob(param)
        if blob is None:
            return cdn_error(404, "unknown encrypted_query_param")
        return web.FileResponse(blob.path, headers={"Content-Type": "application/octet-stream"})
