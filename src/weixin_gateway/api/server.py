"""Running an ASGI app of ours: logging set-up, credential redaction, uvicorn on a socket.

Shared by every HTTP service of weixin-gateway (``weixin-gateway mp`` now, the iLink gateway
service later):

* :func:`configure_logging` — one stderr handler with a plain format, uvicorn's loggers routed
  through it, and :class:`RedactingFilter` on the access log;
* :class:`AppServer` — uvicorn serving an app on a host/port (``port=0`` picks a free one) as
  an ``async with`` block; the app's lifespan (sessions, clients) runs inside it;
* :func:`serve` — the same until SIGINT or SIGTERM, for a command line.

The access log never shows a credential: values of ``code``, ``access_token``, ``secret``,
``refresh_token`` and ``ticket`` query parameters are replaced by ``***`` (an OAuth ``code``
arrives on the redirect path's query string).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import sys
from collections.abc import Coroutine
from typing import Any, Final, TypeVar

import uvicorn
from starlette.types import ASGIApp

from weixin_gateway._resource import Service

__all__ = [
    "AppServer",
    "JsonFormatter",
    "RedactingFilter",
    "configure_logging",
    "run_event_loop",
    "scrub_credentials",
    "serve",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


def run_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run a server's ``main`` to the end: ``asyncio.run`` on uvloop when it is installed (it
    comes with ``uvicorn[standard]``). Measured with ``benchmarks/`` (inbound throughput,
    callback mode): the iLink gateway used about a quarter less CPU per message on uvloop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard] on POSIX
        factory = None
    else:
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_CREDENTIAL = re.compile(
    r"(?<![A-Za-z0-9_])((?:access_token|secret|refresh_token|code|ticket)=)[^&\s'\"#]+"
)


def scrub_credentials(text: str) -> str:
    """``text`` with the values of credential-bearing query parameters replaced by ``***``."""
    return _CREDENTIAL.sub(r"\1***", text)


class RedactingFilter(logging.Filter):
    """Scrubs credentials from a record's message and string arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = scrub_credentials(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                scrub_credentials(a) if isinstance(a, str) else a for a in record.args
            )
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message`` (+ ``exc``)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "info", *, json_lines: bool = False) -> None:
    """Log to stderr at ``level`` (``debug`` … ``critical``); uvicorn's loggers included.

    ``json_lines``: one JSON object per line (for log collectors) instead of plain text.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(LOG_FORMAT))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
        logger.setLevel(numeric)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactingFilter) for f in access.filters):
        access.addFilter(RedactingFilter())


def _bind(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class AppServer(Service):
    """uvicorn serving ``app`` while the ``async with`` block runs.

    ``host=""`` binds every interface (go-wx-gateway's ``listen-host`` default). ``port=0``
    picks a free port; :attr:`port` and :attr:`base_url` tell which. Entering raises
    :class:`RuntimeError` when the app's lifespan start-up failed.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        access_log: bool = False,
        log_level: str = "warning",
    ) -> None:
        self.app = app
        self.host = host
        self._port = port
        self._config = uvicorn.Config(
            app,
            host=host or "0.0.0.0",  # noqa: S104 - "" means every interface, as in Go
            port=port,
            lifespan="on",
            log_config=None,
            log_level=log_level,
            access_log=access_log,
            server_header=False,
            ws="none",
            timeout_graceful_shutdown=10,
        )
        self._server = uvicorn.Server(self._config)
        self._socket: socket.socket | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        host = self.host if self.host not in ("", "0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self._port}"

    async def start(self) -> None:
        """Bind, run the lifespan start-up, and begin serving."""
        self._socket = _bind(self.host, self._port)
        self._port = int(self._socket.getsockname()[1])
        self._task = asyncio.get_running_loop().create_task(
            self._serve(self._socket), name="uvicorn"
        )
        while not self._server.started:
            if self._task.done():
                self._socket.close()
                raise RuntimeError("the server failed to start (see the log)")
            await asyncio.sleep(0.01)

    async def _serve(self, sock: socket.socket) -> None:
        # uvicorn turns SIGINT/SIGTERM into a graceful shutdown while it serves
        try:
            await self._server.serve(sockets=[sock])
        except SystemExit:  # uvicorn exits like this when the lifespan start-up fails
            log.error("server start-up failed")

    async def wait(self) -> None:
        """Until the server stops (:meth:`stop`, or a fatal error)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def close(self) -> None:
        await self.stop()

    async def stop(self) -> None:
        """Stop accepting, let running requests finish, run the lifespan shutdown."""
        task = self._task
        if task is None:
            return
        self._server.should_exit = True
        try:
            await task
        finally:
            self._task = None
            if self._socket is not None:
                self._socket.close()


async def serve(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    log_level: str = "info",
    access_log: bool = True,
) -> None:
    """Serve ``app`` until SIGINT or SIGTERM, then shut down gracefully.

    Raises :class:`RuntimeError` when the app's start-up failed.
    """
    server = AppServer(app, host=host, port=port, access_log=access_log, log_level=log_level)
    await server.start()
    log.info("listening on %s:%d", host or "0.0.0.0", server.port)  # noqa: S104
    try:
        await server.wait()
    finally:
        await server.stop()
