"""Access tokens and JS-SDK tickets: where they are kept, and how exactly one holder refreshes them.

WeChat's credentials are shared state. A classic ``/cgi-bin/token`` call kills the previous token
five minutes later; a ``stable_token`` call with ``force_refresh`` kills it at once
(official-account.md §5.1, §5.2). Two refreshes racing each other therefore make callers fail
(wechatpy's lesson, go-wx-gateway defect D16). This module makes a refresh a single-holder
operation at two levels:

* **Within a process** one :class:`TokenManager` per (app, kind) serialises refreshes with an
  :class:`asyncio.Lock` and re-checks under it, so fifty concurrent callers that all find the
  token stale share one refresh (the holder fetches; the rest find its result).
* **Across processes** the :class:`TokenStore` is shared and its :meth:`TokenStore.lock` names the
  single holder. The holder re-reads the store *after* taking the lock, so a process that waited
  finds the token its neighbour just stored instead of fetching another one.

Stores:

* :class:`MemoryTokenStore` — one process (the default).
* :class:`FileTokenStore` — go-wx-gateway's ``token-cache-dir`` layout (§6.10):
  ``<dir>/<appid>`` holds ``{"expire":<unix>,"token":"…"}`` and ``<dir>/<appid>.ticket`` holds
  ``{"expire":<unix>,"ticket":"…"}`` (plus a ``fetched_at`` key, which Go's decoder ignores);
  files are written atomically (temporary file + rename) and the lock is an ``fcntl.flock`` on
  ``<dir>/.<file>.lock``.
* A database store implements the same three methods (``get`` / ``put`` / ``lock``); its lock can
  be a row lock or an advisory lock held for the duration of the ``async with``.

``expire`` follows go-wx-gateway: fetch time + ``expires_in`` − 10 s. A token is refreshed when
fewer than :attr:`TokenPolicy.refresh_margin_s` (280 s by that count, 290 s by WeChat's)
remain. Token values never appear in a ``repr``, a log line or an exception message.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import re
import tempfile
from collections.abc import AsyncIterator, Awaitable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol

from weixin_gateway._clock import Clock, SystemClock

__all__ = [
    "ACCESS_TOKEN",
    "EXPIRY_SKEW_S",
    "JSAPI_TICKET",
    "CachedToken",
    "FileTokenStore",
    "MemoryTokenStore",
    "TokenFetcher",
    "TokenManager",
    "TokenPolicy",
    "TokenStore",
    "redact",
]

log = logging.getLogger(__name__)

ACCESS_TOKEN: Final = "access_token"  # noqa: S105 - a kind name, not a secret
"""The kind of the global access_token (file ``<dir>/<appid>``)."""
JSAPI_TICKET: Final = "jsapi_ticket"
"""The kind of the JS-SDK ticket (file ``<dir>/<appid>.ticket``)."""
EXPIRY_SKEW_S: Final = 10
"""Seconds taken off ``expires_in`` when a token is stored, as go-wx-gateway does."""

_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")


def redact(value: str | None) -> str:
    """A credential shown safely: its length only."""
    if not value:
        return "<none>"
    return f"<{len(value)} chars>"


@dataclass(frozen=True, slots=True)
class CachedToken:
    """A credential and the Unix time after which it must not be used.

    ``expires_at`` is already reduced by :data:`EXPIRY_SKEW_S`; it is the ``expire`` of
    go-wx-gateway's files.
    """

    value: str = field(repr=False)
    expires_at: float
    #: Unix time WeChat handed it out, when known (go-wx-gateway's files do not say).
    fetched_at: float | None = None

    def __repr__(self) -> str:
        return f"CachedToken(value={redact(self.value)}, expires_at={self.expires_at:.0f})"

    def remaining(self, now: float) -> float:
        """Seconds of validity left at ``now`` (negative once expired)."""
        return self.expires_at - now

    @classmethod
    def issued(cls, value: str, expires_in: float, *, now: float) -> CachedToken:
        """A token WeChat just issued with ``expires_in`` seconds of life."""
        return cls(value=value, expires_at=now + expires_in - EXPIRY_SKEW_S, fetched_at=now)


class TokenStore(Protocol):
    """Where tokens are shared, and who may refresh them.

    ``kind`` is :data:`ACCESS_TOKEN`, :data:`JSAPI_TICKET` or another short name
    (``[A-Za-z0-9_-]``). ``lock`` must exclude every other holder of the same (app, kind) —
    in this process *and* in any other process sharing the store — until the ``async with`` ends;
    it must be safe to cancel while waiting. ``get`` after ``lock`` must see every ``put`` that
    an earlier holder made.
    """

    async def get(self, app_id: str, kind: str) -> CachedToken | None:
        """The stored token, or ``None`` when there is none (or it cannot be read)."""
        ...

    async def put(self, app_id: str, kind: str, token: CachedToken) -> None:
        """Store ``token``, replacing any previous one."""
        ...

    def lock(self, app_id: str, kind: str) -> AbstractAsyncContextManager[None]:
        """Hold the single-refresher lock for (app, kind) for the ``async with`` block."""
        ...


class MemoryTokenStore:
    """Tokens kept in this process only; the lock is an :class:`asyncio.Lock` per (app, kind)."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], CachedToken] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"MemoryTokenStore(entries={len(self._tokens)})"

    async def get(self, app_id: str, kind: str) -> CachedToken | None:
        return self._tokens.get((app_id, kind))

    async def put(self, app_id: str, kind: str, token: CachedToken) -> None:
        self._tokens[(app_id, kind)] = token

    @contextlib.asynccontextmanager
    async def lock(self, app_id: str, kind: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault((app_id, kind), asyncio.Lock())
        async with lock:
            yield


class FileTokenStore:
    """go-wx-gateway's ``token-cache-dir``, shared safely by several processes.

    * ``<dir>/<appid>``: ``{"expire":<unix seconds>,"token":"<access_token>"}``
    * ``<dir>/<appid>.ticket``: ``{"expire":<unix seconds>,"ticket":"<jsapi_ticket>"}``
    * any other kind ``k``: ``<dir>/<appid>.<k>`` with ``{"expire":…,"token":…}``

    A ``fetched_at`` key (Unix seconds) is added when known; go-wx-gateway ignores it, and files
    without it (written by go-wx-gateway) are read as well.

    Writes go to a temporary file in the same directory that is then renamed over the target, so
    a reader (this gateway or go-wx-gateway, which re-reads the file on every call) never sees a
    half-written file. A file that cannot be parsed counts as absent.

    :meth:`lock` takes an exclusive ``fcntl.flock`` on ``<dir>/.<file>.lock``. It polls with
    ``LOCK_NB`` so that waiting never blocks the event loop and can be cancelled; the kernel drops
    the lock when its holder dies. After ``lock_timeout_s`` without the lock the caller proceeds
    anyway (with a warning): a second refresh is less harmful than an outage.

    ``file_mode`` defaults to 0o600 (go-wx-gateway used 0o644; pass that when another user's
    process must read the files). A missing directory is created with mode 0o700.
    """

    def __init__(
        self,
        token_cache_dir: str | os.PathLike[str],
        *,
        file_mode: int = 0o600,
        lock_timeout_s: float = 30.0,
        lock_poll_s: float = 0.01,
    ) -> None:
        if lock_timeout_s <= 0 or lock_poll_s <= 0:
            raise ValueError("lock_timeout_s and lock_poll_s must be positive")
        self.directory = Path(token_cache_dir)
        self.file_mode = file_mode
        self.lock_timeout_s = lock_timeout_s
        self.lock_poll_s = lock_poll_s

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.directory)!r})"

    # --- layout -------------------------------------------------------------------------------

    @staticmethod
    def file_name(app_id: str, kind: str) -> str:
        """The file of (app, kind): ``<appid>``, ``<appid>.ticket`` or ``<appid>.<kind>``."""
        if not _SAFE_NAME.fullmatch(app_id):
            raise ValueError("app_id must be 1-128 characters of [A-Za-z0-9_-]")
        if kind == ACCESS_TOKEN:
            return app_id
        if kind == JSAPI_TICKET:
            return f"{app_id}.ticket"
        if not _SAFE_NAME.fullmatch(kind):
            raise ValueError("kind must be 1-128 characters of [A-Za-z0-9_-]")
        return f"{app_id}.{kind}"

    @staticmethod
    def _value_key(kind: str) -> str:
        return "ticket" if kind == JSAPI_TICKET else "token"

    def path(self, app_id: str, kind: str) -> Path:
        """The token file of (app, kind)."""
        return self.directory / self.file_name(app_id, kind)

    # --- TokenStore ---------------------------------------------------------------------------

    async def get(self, app_id: str, kind: str) -> CachedToken | None:
        return await asyncio.to_thread(self._read, self.path(app_id, kind), self._value_key(kind))

    async def put(self, app_id: str, kind: str, token: CachedToken) -> None:
        payload: dict[str, object] = {
            "expire": int(token.expires_at),
            self._value_key(kind): token.value,
        }
        if token.fetched_at is not None:
            payload["fetched_at"] = int(token.fetched_at)
        await asyncio.to_thread(self._write, self.path(app_id, kind), payload)

    @contextlib.asynccontextmanager
    async def lock(self, app_id: str, kind: str) -> AsyncIterator[None]:
        lock_path = self.directory / f".{self.file_name(app_id, kind)}.lock"
        fd = self._open_lock_file(lock_path)  # two quick syscalls; no thread to orphan
        try:
            locked = await self._acquire(fd, lock_path)
            try:
                yield
            finally:
                if locked:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # --- helpers ------------------------------------------------------------------------------

    async def _acquire(self, fd: int, lock_path: Path) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lock_timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if loop.time() >= deadline:
                    log.warning(
                        "token lock %s still held after %.0f s; refreshing without it",
                        lock_path.name,
                        self.lock_timeout_s,
                    )
                    return False
                await asyncio.sleep(self.lock_poll_s)
            else:
                return True

    def _ensure_dir(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _open_lock_file(self, lock_path: Path) -> int:
        self._ensure_dir()
        return os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    @staticmethod
    def _read(path: Path, value_key: str) -> CachedToken | None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("cannot read token file %s: %s", path.name, exc.strerror)
            return None
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, ValueError):
            log.warning("token file %s is not JSON; ignoring it", path.name)
            return None
        if not isinstance(data, dict):
            return None
        value, expire = data.get(value_key), data.get("expire")
        if not isinstance(value, str) or not value:
            return None
        if isinstance(expire, bool) or not isinstance(expire, int | float):
            return None
        fetched = data.get("fetched_at")
        fetched_at = (
            float(fetched)
            if isinstance(fetched, int | float) and not isinstance(fetched, bool)
            else None
        )
        return CachedToken(value=value, expires_at=float(expire), fetched_at=fetched_at)

    def _write(self, path: Path, payload: dict[str, object]) -> None:
        self._ensure_dir()
        data = json.dumps(payload, separators=(",", ":")).encode()
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, self.file_mode)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


class TokenFetcher(Protocol):
    """Fetches a new credential from WeChat and returns ``(value, expires_in)``.

    ``force`` asks for a credential different from the current one (``force_refresh`` of
    ``stable_token``); see :class:`TokenManager` for when it is set.
    """

    def __call__(self, *, force: bool) -> Awaitable[tuple[str, float]]: ...


@dataclass(frozen=True, slots=True)
class TokenPolicy:
    """When a cached credential is refreshed.

    * ``refresh_margin_s``: refresh once fewer than this many seconds remain by our count
      (``expires_at`` already has :data:`EXPIRY_SKEW_S` taken off). The default, 280 s, is
      290 s by WeChat's count: just after a stable token rolls over (5 minutes before its
      expiry, §5.2), so the first refresh attempt already gets the new token.
    * ``min_refetch_interval_s``: a token fetched (by anyone sharing the store) less than this
      long ago is used as long as WeChat still counts it valid, even inside the margin. A server
      that hands the same credential back with a short ``expires_in`` (a jsapi_ticket is renewed
      only once it has expired) therefore costs one call per interval, not one per caller.
    """

    refresh_margin_s: float = 280.0
    min_refetch_interval_s: float = 30.0

    def __post_init__(self) -> None:
        if self.refresh_margin_s < 0 or self.min_refetch_interval_s < 0:
            raise ValueError("refresh_margin_s and min_refetch_interval_s must not be negative")


class TokenManager:
    """One credential (app, kind): cached in memory, shared through a :class:`TokenStore`.

    :meth:`get` returns a token with more than the margin left, refreshing when needed; callers
    that queued while another caller refreshed take that refresh's result (single flight).
    :meth:`get` with ``rejected=<token>`` is what a caller does after WeChat refused that token
    (40001 / 40014 / 42001): if the store already holds another token, that one is used;
    otherwise a new one is fetched. ``fetch(force=...)`` is called with ``force=True`` only when
    an ordinary fetch handed back the very token WeChat had just rejected (for ``stable_token``
    this means ``force_refresh``, which kills the token for everyone — so it is the last resort).
    """

    def __init__(
        self,
        app_id: str,
        kind: str,
        fetch: TokenFetcher,
        *,
        store: TokenStore,
        clock: Clock | None = None,
        policy: TokenPolicy | None = None,
    ) -> None:
        self.app_id = app_id
        self.kind = kind
        self._fetch = fetch
        self._store = store
        self._clock: Clock = clock or SystemClock()
        self._policy = policy or TokenPolicy()
        self._current: CachedToken | None = None
        self._generation = 0  # bumped whenever _current is replaced
        self._lock = asyncio.Lock()
        self.fetch_count = 0
        """How many times this manager called WeChat for a new credential."""

    def __repr__(self) -> str:
        return (
            f"TokenManager(app_id={self.app_id!r}, kind={self.kind!r}, "
            f"current={self._current!r}, store={self._store!r})"
        )

    @property
    def current(self) -> CachedToken | None:
        """The token held in memory (possibly stale); for diagnostics."""
        return self._current

    def _usable(self, token: CachedToken | None, rejected: str | None) -> bool:
        if token is None or token.value == rejected:
            return False
        now = self._clock.time()
        remaining = token.remaining(now)
        if remaining > self._policy.refresh_margin_s:
            return True
        fetched_at = token.fetched_at
        return (
            fetched_at is not None
            and now - fetched_at < self._policy.min_refetch_interval_s
            and remaining + EXPIRY_SKEW_S > 0
        )

    async def get(self, *, rejected: str | None = None) -> str:
        """A usable token; ``rejected`` is a token WeChat just refused (it is never returned)."""
        current = self._current
        if self._usable(current, rejected):
            assert current is not None
            return current.value
        generation = self._generation
        async with self._lock:
            current = self._current
            # Single flight: whoever held the lock before us refreshed; take its result.
            if (
                self._generation != generation and current is not None and current.value != rejected
            ) or self._usable(current, rejected):
                assert current is not None
                return current.value
            token = await self._load_or_fetch(rejected)
            self._current = token
            self._generation += 1
            return token.value

    async def invalidate(self) -> None:
        """Forget the in-memory token (the store keeps its copy)."""
        async with self._lock:
            self._current = None
            self._generation += 1

    async def _load_or_fetch(self, rejected: str | None) -> CachedToken:
        stored = await self._store.get(self.app_id, self.kind)
        if self._usable(stored, rejected):
            assert stored is not None
            return stored
        async with self._store.lock(self.app_id, self.kind):
            # Re-read under the lock: another process may have refreshed while we waited.
            stored = await self._store.get(self.app_id, self.kind)
            if self._usable(stored, rejected):
                assert stored is not None
                log.debug("%s of %s refreshed by another holder", self.kind, self.app_id)
                return stored
            token = await self._fetch_new(rejected)
            await self._store.put(self.app_id, self.kind, token)
            return token

    async def _fetch_new(self, rejected: str | None) -> CachedToken:
        value, expires_in = await self._call_fetch(force=False)
        if rejected is not None and value == rejected:
            log.warning(
                "%s of %s: WeChat handed back the token it had just rejected; forcing a refresh",
                self.kind,
                self.app_id,
            )
            value, expires_in = await self._call_fetch(force=True)
        token = CachedToken.issued(value, expires_in, now=self._clock.time())
        log.info(
            "%s of %s refreshed (expires_in=%d s%s)",
            self.kind,
            self.app_id,
            int(expires_in),
            ", after a rejection" if rejected is not None else "",
        )
        return token

    async def _call_fetch(self, *, force: bool) -> tuple[str, float]:
        self.fetch_count += 1
        return await self._fetch(force=force)
